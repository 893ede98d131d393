/* tests/test_create.c — creation functions (zeros, ones, full, scalar, arange, linspace, eye, rand,
 * randn, randint, from_data, from_buffer) and element access (nb_get, nb_set, nb_item, nb_copy_to):
 * values for every dtype including conversions on write, 0-d and empty shapes, random ranges and
 * rough moments, seeding, and the argument errors. */
#include "ref.h"

typedef struct shape_case {
    int nd;
    int64_t s[3];
} shape_case;

static const shape_case k_shapes[] = {{0, {0}}, {1, {0}}, {1, {1}}, {2, {7, 17}}, {3, {3, 0, 5}}, {3, {129, 1, 7}}};

/* The value v becomes when written to dtype dt (nb_set, nb_full): floats round, integers
 * truncate toward zero and saturate, NaN gives 0, bool is "non-zero". */
static double stored(double v, nb_dtype dt) {
    double lo = 0, hi = 0;
    switch (dt) {
    case NB_F64: return v;
    case NB_F32: return (float)v;
    case NB_F16: return nb_item(nb_to(nb_scalar(v, NB_F32), NB_F16)); /* rounding is checked in test_ops_shape */
    case NB_BF16: return nb_item(nb_to(nb_scalar(v, NB_F32), NB_BF16));
    case NB_BOOL: return v != 0;
    case NB_I8: lo = -128, hi = 127; break;
    case NB_U8: lo = 0, hi = 255; break;
    case NB_I32: lo = -2147483648.0, hi = 2147483647.0; break;
    default: lo = -9223372036854775808.0, hi = 9223372036854775807.0; break;
    }
    return isnan(v) ? 0 : v <= lo ? lo : v >= hi ? hi : trunc(v);
}

static void test_constants(void) {
    static const double fills[] = {0, 1, -1.5, 0.1, 300.7, -1e10, NAN, 2.5e38};
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
        for (int s = 0; s < REF_COUNT(k_shapes); s++) {
            nb_dtype dt = ref_all_dtypes[d];
            const shape_case *sh = &k_shapes[s];
            int64_t n = ref_numel(sh->nd, sh->s);
            double *e = ref_darray(n);
            ref_set_ctx("zeros %s %s", nb_dtype_name(dt), ref_shape_str(sh->nd, sh->s));
            nb_tensor *z = nb_zeros(sh->nd, sh->s, dt);
            CHECK_REF(z, dt, sh->nd, sh->s, e, 0, 0);
            CHECK(z && nb_is_contiguous(z) && (n == 0) == (nb_data(z) == NULL));
            for (int64_t i = 0; i < n; i++) e[i] = 1;
            ref_set_ctx("ones %s %s", nb_dtype_name(dt), ref_shape_str(sh->nd, sh->s));
            CHECK_REF(nb_ones(sh->nd, sh->s, dt), dt, sh->nd, sh->s, e, 0, 0);
            for (int f = 0; f < REF_COUNT(fills); f++) {
                for (int64_t i = 0; i < n; i++) e[i] = stored(fills[f], dt);
                ref_set_ctx("full(%g) %s %s", fills[f], nb_dtype_name(dt), ref_shape_str(sh->nd, sh->s));
                CHECK_REF(nb_full(sh->nd, sh->s, fills[f], dt), dt, sh->nd, sh->s, e, 0, 0);
            }
            nb_tensor *em = nb_empty(sh->nd, sh->s, dt);
            CHECK(em && nb_dtype_of(em) == dt && nb_numel(em) == n && nb_is_contiguous(em));
        }
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++) {
        nb_dtype dt = ref_all_dtypes[d];
        nb_tensor *s = nb_scalar(-2.75, dt);
        CHECK(s && nb_ndim(s) == 0 && nb_numel(s) == 1 && nb_dtype_of(s) == dt);
        CHECK_MSG(nb_item(s) == stored(-2.75, dt), "scalar %s: %g", nb_dtype_name(dt), nb_item(s));
    }
    /* f16 / bf16 hold the nearest value: 0.1 is not exact */
    CHECK(nb_item(nb_scalar(0.1, NB_F16)) == 0.0999755859375);
    CHECK(nb_item(nb_scalar(0.1, NB_BF16)) == 0.10009765625);
    CHECK(isinf(nb_item(nb_scalar(70000, NB_F16))));
    CHECK_NULL_WITH(nb_zeros(NB_SHAPE(2, -1), NB_F32), "nb_zeros", "negative");
    CHECK_NULL_WITH(nb_ones(NB_SHAPE(2), (nb_dtype)17), "nb_ones", "dtype");
    CHECK_NULL_WITH(nb_full(3, NULL, 1, NB_F32), "nb_full", "NULL");
    CHECK_NULL_WITH(nb_empty(9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, NB_F32), "nb_empty", "9 dims");
}

static void test_arange_linspace_eye(void) {
    static const struct {
        double start, end, step;
        int64_t n;
    } ar[] = {{0, 5, 1, 5},     {0, 1, 0.1, 10},  {0, 0.3, 0.1, 3}, {5, 0, -1, 5},   {5, 0, 1, 0},
              {-3, 3, 2.5, 3},  {0, 0, 1, 0},     {1, 2, 5, 1},     {0, 129, 1, 129}, {-1, -2, -0.25, 4}};
    for (int c = 0; c < REF_COUNT(ar); c++)
        for (int d = 0; d < 2; d++) {
            nb_dtype dt = d ? NB_F32 : NB_F64;
            double e[129];
            for (int64_t i = 0; i < ar[c].n; i++) e[i] = ar[c].start + (double)i * ar[c].step;
            ref_set_ctx("arange(%g, %g, %g) %s", ar[c].start, ar[c].end, ar[c].step, nb_dtype_name(dt));
            CHECK_REF_DT(nb_arange(ar[c].start, ar[c].end, ar[c].step, dt), dt, NB_SHAPE(ar[c].n), e);
        }
    ref_set_ctx("integer arange");
    CHECK_REF(nb_arange(0, 10, 3, NB_I32), NB_I32, NB_SHAPE(4), ((const double[]){0, 3, 6, 9}), 0, 0);
    CHECK_REF(nb_arange(-2, 2, 1, NB_I8), NB_I8, NB_SHAPE(4), ((const double[]){-2, -1, 0, 1}), 0, 0);
    CHECK_REF(nb_arange(0, 4, 1, NB_F16), NB_F16, NB_SHAPE(4), ((const double[]){0, 1, 2, 3}), 0, 0);
    CHECK_NULL_WITH(nb_arange(0, 1, 0, NB_F32), "nb_arange", "step=0");
    CHECK_NULL_WITH(nb_arange(0, NAN, 1, NB_F32), "nb_arange");
    CHECK_NULL_WITH(nb_arange(0, INFINITY, 1, NB_F32), "nb_arange");

    double e[129];
    for (int i = 0; i < 129; i++) e[i] = i / 128.0;
    ref_set_ctx("linspace(0, 1, 129)");
    nb_tensor *l = nb_linspace(0, 1, 129, NB_F64);
    CHECK_REF(l, NB_F64, NB_SHAPE(129), e, 0, 1e-15);
    CHECK(h_get(l, NB_LIST(128)) == 1.0); /* exactly the end */
    for (int i = 0; i < 7; i++) e[i] = -1 + i / 3.0;
    ref_set_ctx("linspace(-1, 1, 7)");
    nb_tensor *l7 = nb_linspace(-1, 1, 7, NB_F32);
    CHECK_REF(l7, NB_F32, NB_SHAPE(7), e, 1e-7, 1e-7);
    CHECK(h_get(l7, NB_LIST(0)) == -1 && h_get(l7, NB_LIST(6)) == 1);
    CHECK_REF(nb_linspace(3, 10, 1, NB_F32), NB_F32, NB_SHAPE(1), ((const double[]){3}), 0, 0);
    CHECK_REF(nb_linspace(3, 10, 0, NB_F32), NB_F32, NB_SHAPE(0), e, 0, 0);
    CHECK_REF(nb_linspace(10, 0, 5, NB_F64), NB_F64, NB_SHAPE(5), ((const double[]){10, 7.5, 5, 2.5, 0}), 0, 0);
    CHECK_REF(nb_linspace(0, 10, 5, NB_I64), NB_I64, NB_SHAPE(5), ((const double[]){0, 2, 5, 7, 10}), 0, 0);
    CHECK_NULL_WITH(nb_linspace(0, 1, -1, NB_F32), "nb_linspace", "steps");

    static const int64_t eyes[][2] = {{3, -1}, {2, 5}, {5, 2}, {0, -1}, {1, 1}, {17, 7}};
    for (int c = 0; c < REF_COUNT(eyes); c++)
        for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++) {
            int64_t n = eyes[c][0], m = eyes[c][1] < 0 ? n : eyes[c][1];
            double *ev = ref_darray(n * m);
            for (int64_t i = 0; i < n && i < m; i++) ev[i * m + i] = 1;
            ref_set_ctx("eye(%lld, %lld) %s", (long long)eyes[c][0], (long long)eyes[c][1], nb_dtype_name(ref_all_dtypes[d]));
            CHECK_REF(nb_eye(eyes[c][0], eyes[c][1], ref_all_dtypes[d]), ref_all_dtypes[d], NB_SHAPE(n, m), ev, 0, 0);
        }
    CHECK_NULL_WITH(nb_eye(-1, 2, NB_F32), "nb_eye");
}

/* Mean and standard deviation of a tensor's values. */
static void moments(nb_tensor *t, double *mean, double *sd, double *lo, double *hi) {
    double *v = ref_read(t), s = 0, q = 0;
    int64_t n = nb_numel(t);
    *lo = INFINITY, *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += v[i];
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = sqrt(q / (double)n);
}

static void test_random(void) {
    double mean, sd, lo, hi;
    nb_manual_seed(1234);
    for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++) {
        nb_dtype dt = ref_float_dtypes[d];
        /* 2^18 draws: f16 rounds ~1/4096 of them, bf16 ~1/512, up toward 1.0 unless kept below */
        nb_tensor *u = nb_rand(NB_SHAPE(512, 512), dt);
        moments(u, &mean, &sd, &lo, &hi);
        CHECK_MSG(u && nb_dtype_of(u) == dt && lo >= 0 && hi < 1, "rand %s: range [%g, %g]", nb_dtype_name(dt), lo, hi);
        CHECK_MSG(fabs(mean - 0.5) < 0.01 && fabs(sd - sqrt(1 / 12.0)) < 0.01, "rand %s: mean %g sd %g", nb_dtype_name(dt),
                  mean, sd);
        nb_tensor *g = nb_randn(NB_SHAPE(512, 512), dt);
        moments(g, &mean, &sd, &lo, &hi);
        CHECK_MSG(g && fabs(mean) < 0.01 && fabs(sd - 1) < 0.01 && lo < -3.5 && hi > 3.5, "randn %s: mean %g sd %g [%g, %g]",
                  nb_dtype_name(dt), mean, sd, lo, hi);
    }
    /* randint: [low, high), every value drawn */
    static const struct {
        int64_t lo, hi;
        nb_dtype dt;
    } ri[] = {{-3, 4, NB_I64}, {-128, 128, NB_I8}, {0, 256, NB_U8}, {5, 6, NB_I32}, {-7, 10, NB_F32}, {0, 2, NB_BOOL}};
    for (int c = 0; c < REF_COUNT(ri); c++) {
        nb_tensor *t = nb_randint(ri[c].lo, ri[c].hi, NB_SHAPE(129, 129), ri[c].dt);
        double *v = ref_read(t);
        int64_t span = ri[c].hi - ri[c].lo, bad = 0;
        int *hits = ref_alloc(sizeof(int) * (size_t)span), missing = 0;
        for (int64_t i = 0; i < 129 * 129; i++) {
            if (v[i] < (double)ri[c].lo || v[i] >= (double)ri[c].hi || v[i] != floor(v[i])) bad++;
            else hits[(int64_t)v[i] - ri[c].lo]++;
        }
        for (int64_t k = 0; k < span; k++) missing += hits[k] == 0;
        CHECK_MSG(t && nb_dtype_of(t) == ri[c].dt && bad == 0 && missing == 0, "randint [%lld, %lld) %s: %lld out of range, %d missing",
                  (long long)ri[c].lo, (long long)ri[c].hi, nb_dtype_name(ri[c].dt), (long long)bad, missing);
    }
    /* seeding: same seed, same numbers; a saved state resumes exactly */
    nb_manual_seed(7);
    nb_tensor *a = nb_randn(NB_SHAPE(7, 17), NB_F64);
    uint64_t seed, counter;
    nb_rng_get_state(&seed, &counter);
    nb_tensor *b = nb_rand(NB_SHAPE(129), NB_F32);
    nb_manual_seed(7);
    nb_tensor *a2 = nb_randn(NB_SHAPE(7, 17), NB_F64);
    nb_manual_seed(8);
    nb_tensor *a3 = nb_randn(NB_SHAPE(7, 17), NB_F64);
    nb_rng_set_state(seed, counter);
    nb_tensor *b2 = nb_rand(NB_SHAPE(129), NB_F32);
    CHECK(seed == 7);
    CHECK(h_max_abs_diff(a, a2) == 0 && h_max_abs_diff(b, b2) == 0);
    CHECK(h_max_abs_diff(a, a3) > 0.1);
    /* the same numbers for any thread count */
    int threads = nb_get_num_threads();
    nb_set_num_threads(1);
    nb_manual_seed(99);
    nb_tensor *s1 = nb_randn(NB_SHAPE(300, 300), NB_F32);
    nb_set_num_threads(4);
    nb_manual_seed(99);
    nb_tensor *s4 = nb_randn(NB_SHAPE(300, 300), NB_F32);
    nb_set_num_threads(threads);
    CHECK(h_max_abs_diff(s1, s4) == 0);
    /* 0-d and empty draws */
    CHECK(nb_ndim(nb_rand(NB_SCALAR, NB_F32)) == 0 && nb_numel(nb_randn(NB_SHAPE(0, 3), NB_F32)) == 0);
    CHECK_NULL_WITH(nb_rand(NB_SHAPE(2), NB_I32), "nb_rand", "i32");
    CHECK_NULL_WITH(nb_randn(NB_SHAPE(2), NB_BOOL), "nb_randn", "bool");
    CHECK_NULL_WITH(nb_randint(3, 3, NB_SHAPE(2), NB_I64), "nb_randint", "[3, 3)");
}

static int g_released;
static void count_release(void *data, void *user_data) {
    (void)data;
    g_released += *(int *)user_data;
}

static void test_from_data_and_buffer(void) {
    /* every dtype copies its bytes; the source can change afterwards */
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++) {
        nb_dtype dt = ref_all_dtypes[d];
        unsigned char raw[7 * 3 * 8], back[7 * 3 * 8];
        size_t bytes = 21 * nb_dtype_size(dt);
        for (size_t i = 0; i < bytes; i++) raw[i] = (unsigned char)(dt == NB_BOOL ? i & 1 : (i * 37 + 11) & 0x3f);
        nb_tensor *t = nb_from_data(raw, NB_SHAPE(7, 3), dt);
        memset(raw, 0, sizeof raw);
        CHECK(t && nb_copy_to(t, back, bytes, dt) == 0);
        int same = 1;
        for (size_t i = 0; i < bytes; i++) same &= back[i] == (unsigned char)(dt == NB_BOOL ? i & 1 : (i * 37 + 11) & 0x3f);
        CHECK_MSG(same, "from_data %s round trip", nb_dtype_name(dt));
    }
    const int32_t iv[4] = {-5, 0, 7, 2147483647};
    ref_set_ctx("from_data i32");
    CHECK_REF(nb_from_data(iv, NB_SHAPE(2, 2), NB_I32), NB_I32, NB_SHAPE(2, 2), ((const double[]){-5, 0, 7, 2147483647}), 0, 0);
    CHECK(nb_numel(nb_from_data(NULL, NB_SHAPE(0, 4), NB_F32)) == 0);
    CHECK_NULL_WITH(nb_from_data(NULL, NB_SHAPE(2), NB_F32), "nb_from_data", "NULL");

    /* from_buffer: no copy, writes go both ways, release runs once when the last view dies */
    float buf[6] = {0, 1, 2, 3, 4, 5};
    int weight = 1;
    g_released = 0;
    nb_tensor *w = nb_from_buffer(buf, NB_SHAPE(2, 3), NB_F32, count_release, &weight);
    CHECK(w && nb_data(w) == (void *)buf);
    nb_tensor *col = nb_slice(w, 1, 1, 3, 1);
    buf[4] = 40;
    CHECK(h_get(col, NB_LIST(1, 0)) == 40);
    CHECK(nb_set(col, NB_LIST(0, 1), -2) == 0 && buf[2] == -2);
    nb_free(w);
    CHECK(g_released == 0);
    nb_free(col);
    CHECK(g_released == 1);
    nb_tensor *nr = nb_from_buffer(buf, NB_SHAPE(6), NB_F32, NULL, NULL);
    CHECK(nr && h_get(nr, NB_LIST(4)) == 40);
    nb_free(nr);
    CHECK_NULL_WITH(nb_from_buffer(buf, NB_SHAPE(6), (nb_dtype)50, count_release, &weight), "nb_from_buffer", "dtype");
    CHECK_NULL_WITH(nb_from_buffer(NULL, NB_SHAPE(6), NB_F32, count_release, &weight), "nb_from_buffer", "NULL");
    CHECK(g_released == 1); /* not called on failure */
}

static void test_element_access(void) {
    nb_tensor *x = nb_arange(0, 7 * 17, 1, NB_F64);
    nb_tensor *m = nb_reshape(x, NB_SHAPE(7, 17)), *t = nb_transpose(m, 0, 1); /* t[i][j] = 17 j + i */
    double v;
    CHECK(nb_get(t, NB_LIST(3, 5), &v) == 0 && v == 88);
    CHECK(nb_get(t, NB_LIST(-1, -1), &v) == 0 && v == 118);
    CHECK(nb_get(t, NB_LIST(-17, 0), &v) == 0 && v == 0);
    uint64_t ver = nb_version(x);
    CHECK(nb_set(t, NB_LIST(16, 6), -1) == 0 && h_get(x, NB_LIST(118)) == -1 && nb_version(x) == ver + 1);
    CHECK_RC_WITH(nb_get(t, NB_LIST(17, 0), &v), "nb_get", "17", "dim 0");
    CHECK_RC_WITH(nb_set(t, NB_LIST(0, -8), 1), "nb_set", "-8");
    CHECK_RC_WITH(nb_get(t, NB_LIST(0), &v), "nb_get", "1 indices");
    CHECK_RC_WITH(nb_get(t, NB_LIST(0, 0), NULL), "nb_get", "NULL");
    CHECK_RC_WITH(nb_get(NULL, NB_LIST(0), &v), "nb_get");
    /* writes convert to the tensor's dtype */
    static const double writes[] = {3.7, -3.7, 300, -300, 0.1, NAN, 1e10};
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++) {
        nb_dtype dt = ref_all_dtypes[d];
        nb_tensor *y = nb_zeros(NB_SHAPE(2, 3), dt);
        for (int w = 0; w < REF_COUNT(writes); w++) {
            CHECK(nb_set(y, NB_LIST(1, 2), writes[w]) == 0);
            double got = h_get(y, NB_LIST(1, 2)), want = stored(writes[w], dt);
            CHECK_MSG(got == want || (isnan(got) && isnan(want)), "nb_set(%g) on %s: %g, expected %g", writes[w],
                      nb_dtype_name(dt), got, want);
        }
        CHECK(h_get(y, NB_LIST(0, 0)) == 0);
    }
    /* nb_item: exactly one element, through any offset */
    CHECK(isnan(nb_item(nb_slice(m, 1, 5, 6, 1)))); /* 7 elements */
    nb_clear_error();
    CHECK(nb_item(nb_slice(nb_slice(m, 0, 2, 3, 1), 1, 5, 6, 1)) == 39);
    CHECK(nb_item(nb_scalar(-4, NB_I8)) == -4);
    CHECK(nb_item(nb_full(NB_SHAPE(1, 1, 1), 2.5, NB_BF16)) == 2.5);
    CHECK(isnan(nb_item(m)) && strstr(nb_last_error(), "nb_item") && strstr(nb_last_error(), "119"));
    nb_clear_error();
    CHECK(isnan(nb_item(NULL)) && nb_last_status() == NB_ERR_ARG);
    nb_clear_error();
    CHECK(isnan(nb_item(nb_zeros(NB_SHAPE(0), NB_F32))));
    nb_clear_error();
    /* refused on a tensor that requires grad while grad mode is on */
    nb_tensor *p = nb_param(nb_zeros(NB_SHAPE(3), NB_F32));
    CHECK_RC_WITH(nb_set(p, NB_LIST(0), 1), "nb_set", "requires grad");
    CHECK(nb_last_status() == NB_OK);
    nb_no_grad_begin();
    CHECK(nb_set(p, NB_LIST(0), 1) == 0);
    nb_no_grad_end();
    CHECK(h_get(p, NB_LIST(0)) == 1);
}

static void test_copy_to(void) {
    ref_seed(60);
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
        for (int l = 0; l < REF_LAYOUTS; l++) {
            nb_dtype dt = ref_all_dtypes[d];
            double *v = ref_values(7 * 17, dt, dt == NB_U8 ? 0 : -30, 30);
            nb_tensor *t = ref_tensor(v, NB_SHAPE(7, 17), dt, l);
            double out[7 * 17];
            int32_t out32[7 * 17];
            int ok = nb_copy_to(t, out, sizeof out, NB_F64) == 0 && nb_copy_to(t, out32, sizeof out32, NB_I32) == 0;
            int same = ok;
            for (int i = 0; i < 7 * 17; i++) same &= out[i] == v[i] && out32[i] == (int32_t)trunc(v[i]);
            CHECK_MSG(same, "nb_copy_to from %s %s", nb_dtype_name(dt), ref_layout_name[l]);
        }
    nb_tensor *t = nb_ones(NB_SHAPE(3), NB_F32);
    float small[2];
    CHECK_RC_WITH(nb_copy_to(t, small, sizeof small, NB_F32), "nb_copy_to", "too small");
    CHECK_RC_WITH(nb_copy_to(t, NULL, 12, NB_F32), "nb_copy_to");
    CHECK_RC_WITH(nb_copy_to(t, small, sizeof small, (nb_dtype)20), "nb_copy_to", "dtype");
    CHECK(nb_copy_to(nb_zeros(NB_SHAPE(0), NB_F32), NULL, 0, NB_F64) == 0);
    CHECK_RC_WITH(nb_copy_to(NULL, small, sizeof small, NB_F32), "nb_copy_to");
}

int main(void) {
    REF_RUN(test_constants);
    REF_RUN(test_arange_linspace_eye);
    REF_RUN(test_random);
    REF_RUN(test_from_data_and_buffer);
    REF_RUN(test_element_access);
    REF_RUN(test_copy_to);
    return harness_finish();
}
