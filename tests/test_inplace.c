/* tests/test_inplace.c — nb_copy_, nb_fill_, nb_add_, nb_mul_scalar_: values against references on
 * contiguous and strided destinations (the gaps of a stepped view stay untouched), broadcasting and
 * dtype conversion of the source, overlapping source and destination, version counters, and the
 * refusal on tensors that require grad while grad mode is on. */
#include "ref.h"

/* A [7, 3*17+2] f64 base filled with REF_FILLER and the [7, 17] view of its columns 1, 4, 7, ...
 * (as dtype dt); the test writes through the view and then checks the base. */
typedef struct stepped {
    nb_tensor *base, *view;
} stepped;

static stepped make_stepped(nb_dtype dt) {
    stepped s;
    s.base = nb_full(NB_SHAPE(7, 53), REF_FILLER, dt);
    s.view = nb_slice(s.base, 1, 1, 52, 3);
    return s;
}

/* What a small exact value becomes in dtype `to` (bool: non-zero; integers: truncated). */
static double conv(double v, nb_dtype to) { return to == NB_BOOL ? v != 0 : ref_is_int(to) ? trunc(v) : v; }

/* The base holds e (C order of the view) at the view's positions and REF_FILLER elsewhere. */
static bool stepped_holds(const stepped *s, const double *e) {
    double *b = ref_read(s->base), filler = conv(REF_FILLER, nb_dtype_of(s->base));
    for (int r = 0; r < 7; r++)
        for (int c = 0; c < 53; c++) {
            bool in = c % 3 == 1 && c < 52;
            double want = in ? e[r * 17 + c / 3] : filler;
            if (!(b[r * 53 + c] == want || (isnan(want) && isnan(b[r * 53 + c])))) {
                snprintf(ref_msg, sizeof ref_msg, "base[%d][%d] = %g, expected %g", r, c, b[r * 53 + c], want);
                return false;
            }
        }
    return true;
}


static void test_copy(void) {
    ref_seed(70);
    static const nb_dtype pairs[][2] = {{NB_F32, NB_F32}, {NB_F64, NB_F16}, {NB_BF16, NB_F32}, {NB_I32, NB_I8},
                                        {NB_U8, NB_I64},  {NB_BOOL, NB_F32}, {NB_F32, NB_BOOL}, {NB_I64, NB_F64}};
    for (int p = 0; p < REF_COUNT(pairs); p++)
        for (int l = 0; l < REF_LAYOUTS; l++) {
            nb_dtype dd = pairs[p][0], sd = pairs[p][1];
            double *sv = ref_values(7 * 17, sd, sd == NB_U8 || dd == NB_U8 ? 0 : -8, 8), *e = ref_darray(7 * 17);
            for (int i = 0; i < 7 * 17; i++) e[i] = conv(sv[i], dd);
            ref_set_ctx("nb_copy_ %s <- %s (%s)", nb_dtype_name(dd), nb_dtype_name(sd), ref_layout_name[l]);
            /* into every layout of destination */
            for (int ld = 0; ld < REF_LAYOUTS; ld++) {
                nb_tensor *dst = ref_tensor(ref_values(7 * 17, dd, 0, 1), NB_SHAPE(7, 17), dd, ld);
                nb_tensor *src = ref_tensor(sv, NB_SHAPE(7, 17), sd, l);
                uint64_t v0 = nb_version(dst), vs = nb_version(src);
                CHECK(nb_copy_(dst, src) == 0);
                CHECK_REF(dst, dd, NB_SHAPE(7, 17), e, 0, 0);
                CHECK(nb_version(dst) == v0 + 1 && nb_version(src) == vs);
            }
            /* into a stepped view: the gaps stay as they were */
            stepped s = make_stepped(dd);
            CHECK(nb_copy_(s.view, ref_tensor(sv, NB_SHAPE(7, 17), sd, l)) == 0);
            CHECK_MSG(stepped_holds(&s, e), "%s: %s", ref_ctx, ref_msg);
            /* broadcast sources: a row, a column, a 0-d tensor */
            nb_tensor *row = ref_tensor(sv, NB_SHAPE(17), sd, l), *colv = ref_tensor(sv, NB_SHAPE(7, 1), sd, l);
            for (int i = 0; i < 7 * 17; i++) e[i] = conv(sv[i % 17], dd);
            CHECK(nb_copy_(s.view, row) == 0);
            CHECK_MSG(stepped_holds(&s, e), "%s row: %s", ref_ctx, ref_msg);
            for (int i = 0; i < 7 * 17; i++) e[i] = conv(sv[i / 17], dd);
            CHECK(nb_copy_(s.view, colv) == 0);
            CHECK_MSG(stepped_holds(&s, e), "%s column: %s", ref_ctx, ref_msg);
            for (int i = 0; i < 7 * 17; i++) e[i] = conv(sv[5], dd);
            CHECK(nb_copy_(s.view, ref_contig(sv + 5, NB_SCALAR, sd)) == 0);
            CHECK_MSG(stepped_holds(&s, e), "%s 0-d: %s", ref_ctx, ref_msg);
        }
    /* conversions on copy follow nb_to: f16 rounding, float to int truncation and saturation */
    nb_tensor *d = nb_zeros(NB_SHAPE(4), NB_U8), *d16 = nb_zeros(NB_SHAPE(4), NB_F16);
    nb_tensor *src = nb_from_data((const double[]){-3.5, 2.9, 300, 0.1}, NB_SHAPE(4), NB_F64);
    ref_set_ctx("copy_ conversions");
    CHECK(nb_copy_(d, src) == 0 && nb_copy_(d16, src) == 0);
    CHECK_REF(d, NB_U8, NB_SHAPE(4), ((const double[]){0, 2, 255, 0}), 0, 0);
    CHECK_REF(d16, NB_F16, NB_SHAPE(4), ((const double[]){-3.5, 2.900390625, 300, 0.0999755859375}), 0, 0);
    /* 0-d into 0-d; empty into empty */
    nb_tensor *z = nb_scalar(0, NB_F32);
    CHECK(nb_copy_(z, nb_scalar(4, NB_I64)) == 0 && nb_item(z) == 4);
    CHECK(nb_copy_(nb_zeros(NB_SHAPE(0, 3), NB_F32), nb_ones(NB_SHAPE(3), NB_F32)) == 0);
}

/* Source and destination share memory: the result is as if the source were read first. */
static void test_copy_overlap(void) {
    for (int n = 1; n <= 17; n += 8) {
        nb_tensor *x = nb_reshape(nb_arange(0, (double)(n * n), 1, NB_F32), NB_SHAPE(n, n));
        double *e = ref_darray(n * n);
        for (int i = 0; i < n * n; i++) e[i] = (double)((i % n) * n + i / n);
        ref_set_ctx("copy_ x <- x^T (%d x %d)", n, n);
        CHECK(nb_copy_(x, nb_transpose(x, 0, 1)) == 0);
        CHECK_REF(x, NB_F32, NB_SHAPE(n, n), e, 0, 0);
    }
    /* shift right and left by one within one vector */
    nb_tensor *v = nb_arange(0, 10, 1, NB_I64);
    ref_set_ctx("copy_ shifted");
    CHECK(nb_copy_(nb_slice(v, 0, 1, 10, 1), nb_slice(v, 0, 0, 9, 1)) == 0);
    CHECK_REF(v, NB_I64, NB_SHAPE(10), ((const double[]){0, 0, 1, 2, 3, 4, 5, 6, 7, 8}), 0, 0);
    CHECK(nb_copy_(nb_slice(v, 0, 0, 9, 1), nb_slice(v, 0, 1, 10, 1)) == 0);
    CHECK_REF(v, NB_I64, NB_SHAPE(10), ((const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 8}), 0, 0);
    /* reversed pairs through steps: even elements <- odd elements, with a dtype change */
    nb_tensor *w = nb_arange(0, 10, 1, NB_F64);
    CHECK(nb_copy_(nb_slice(w, 0, 0, 10, 2), nb_slice(w, 0, 1, 10, 2)) == 0);
    CHECK_REF(w, NB_F64, NB_SHAPE(10), ((const double[]){1, 1, 3, 3, 5, 5, 7, 7, 9, 9}), 0, 0);
    /* broadcasting a row of x over all of x */
    nb_tensor *x = nb_reshape(nb_arange(0, 12, 1, NB_F32), NB_SHAPE(3, 4));
    CHECK(nb_copy_(x, nb_slice(x, 0, 2, 3, 1)) == 0);
    CHECK_REF(x, NB_F32, NB_SHAPE(3, 4), ((const double[]){8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11}), 0, 0);
}

static void test_fill(void) {
    static const double vals[] = {0, 1, -2.5, 0.1, 300, NAN};
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
        for (int k = 0; k < REF_COUNT(vals); k++) {
            nb_dtype dt = ref_all_dtypes[d];
            double want = h_get(nb_full(NB_SHAPE(1), vals[k], dt), NB_LIST(0)), e[7 * 17];
            for (int i = 0; i < 7 * 17; i++) e[i] = want;
            ref_set_ctx("nb_fill_(%g) %s", vals[k], nb_dtype_name(dt));
            stepped s = make_stepped(dt);
            uint64_t v0 = nb_version(s.base);
            CHECK(nb_fill_(s.view, vals[k]) == 0 && nb_version(s.base) == v0 + 1);
            CHECK_MSG(stepped_holds(&s, e), "%s: %s", ref_ctx, ref_msg);
            nb_tensor *t = nb_transpose(nb_zeros(NB_SHAPE(17, 7), dt), 0, 1);
            CHECK(nb_fill_(t, vals[k]) == 0);
            CHECK_REF(t, dt, NB_SHAPE(7, 17), e, 0, 0);
        }
    /* the value converts like nb_full: f16 rounding, u8 saturation */
    CHECK(nb_item(nb_full(NB_SHAPE(1), 0.1, NB_F16)) == 0.0999755859375);
    CHECK(nb_item(nb_full(NB_SHAPE(1), 300, NB_U8)) == 255);
    nb_tensor *z = nb_scalar(1, NB_I32);
    CHECK(nb_fill_(z, -7.9) == 0 && nb_item(z) == -7);
    CHECK(nb_fill_(nb_zeros(NB_SHAPE(0), NB_F32), 1) == 0);
}

static void test_add_mul(void) {
    ref_seed(71);
    static const double alphas[] = {1, 2.5, -1, 0};
    static const nb_dtype pairs[][2] = {{NB_F32, NB_F32}, {NB_F64, NB_F32}, {NB_F16, NB_F16}, {NB_BF16, NB_F64},
                                        {NB_F32, NB_I32}};
    for (int p = 0; p < REF_COUNT(pairs); p++)
        for (int a = 0; a < REF_COUNT(alphas); a++)
            for (int l = 0; l < REF_LAYOUTS; l++) {
                nb_dtype dt = pairs[p][0], od = pairs[p][1];
                double *tv = ref_values(7 * 17, dt, -8, 8), *ov = ref_values(17, od, -8, 8), e[7 * 17];
                nb_tensor *t = ref_tensor(tv, NB_SHAPE(7, 17), dt, l);
                nb_tensor *o = ref_tensor(ov, NB_SHAPE(17), od, (l + 1) % REF_LAYOUTS); /* broadcast row */
                for (int i = 0; i < 7 * 17; i++) e[i] = tv[i] + alphas[a] * ov[i % 17];
                ref_set_ctx("nb_add_ %s += %g * %s row (%s)", nb_dtype_name(dt), alphas[a], nb_dtype_name(od), ref_layout_name[l]);
                uint64_t v0 = nb_version(t);
                CHECK(nb_add_(t, o, alphas[a]) == 0 && nb_version(t) > v0);
                CHECK_REF_DT(t, dt, NB_SHAPE(7, 17), e);
                for (int i = 0; i < 7 * 17; i++) e[i] *= alphas[a];
                ref_set_ctx("nb_mul_scalar_ %s * %g (%s)", nb_dtype_name(dt), alphas[a], ref_layout_name[l]);
                CHECK(nb_mul_scalar_(t, alphas[a]) == 0);
                CHECK_REF(t, dt, NB_SHAPE(7, 17), e, ref_rtol(dt) * 2, ref_rtol(dt) * 40);
            }
    /* into a stepped view; integers keep wrapping like the out-of-place ops */
    stepped s = make_stepped(NB_I32);
    double e[7 * 17];
    for (int i = 0; i < 7 * 17; i++) e[i] = REF_FILLER + 2 * (i % 17);
    ref_set_ctx("nb_add_ into a stepped view");
    CHECK(nb_add_(s.view, nb_arange(0, 17, 1, NB_I64), 2) == 0);
    CHECK_MSG(stepped_holds(&s, e), "%s: %s", ref_ctx, ref_msg);
    nb_tensor *u = nb_full(NB_SHAPE(3), 100, NB_U8);
    CHECK(nb_mul_scalar_(u, 3) == 0 && nb_item(nb_sum(u, NULL)) == 3 * 44);
    /* aliasing: x += x and x += x^T read all of x before writing */
    nb_tensor *x = nb_reshape(nb_arange(0, 25, 1, NB_F32), NB_SHAPE(5, 5));
    CHECK(nb_add_(x, x, 1) == 0);
    double ex[25];
    for (int i = 0; i < 25; i++) ex[i] = 2.0 * i;
    ref_set_ctx("nb_add_ aliased");
    CHECK_REF(x, NB_F32, NB_SHAPE(5, 5), ex, 0, 0);
    CHECK(nb_add_(x, nb_transpose(x, 0, 1), -0.5) == 0);
    for (int i = 0; i < 25; i++) ex[i] = 2.0 * i - 0.5 * 2.0 * ((i % 5) * 5 + i / 5);
    CHECK_REF(x, NB_F32, NB_SHAPE(5, 5), ex, 0, 0);
    nb_tensor *z = nb_scalar(2, NB_F64);
    CHECK(nb_add_(z, nb_scalar(3, NB_F32), 2) == 0 && nb_item(z) == 8);
    CHECK(nb_mul_scalar_(z, -0.5) == 0 && nb_item(z) == -4);
}

static void test_errors_and_grad_mode(void) {
    nb_tensor *t = nb_zeros(NB_SHAPE(7, 17), NB_F32);
    CHECK_RC_WITH(nb_copy_(t, nb_zeros(NB_SHAPE(7, 16), NB_F32)), "nb_copy_", "[7, 16]");
    CHECK_RC_WITH(nb_copy_(t, nb_zeros(NB_SHAPE(2, 7, 17), NB_F32)), "nb_copy_", "[2, 7, 17]");
    CHECK_RC_WITH(nb_add_(t, nb_zeros(NB_SHAPE(7, 1, 17), NB_F32), 1), "nb_add_");
    CHECK_RC_WITH(nb_copy_(t, NULL), "nb_copy_", "#2");
    CHECK_RC_WITH(nb_add_(t, NULL, 1), "nb_add_", "#2");
    CHECK_RC_WITH(nb_fill_(NULL, 1), "nb_fill_");
    nb_tensor *ex = nb_expand(nb_zeros(NB_SHAPE(7, 1), NB_F32), NB_SHAPE(7, 17));
    CHECK_RC_WITH(nb_fill_(ex, 1), "nb_fill_", "broadcast");
    CHECK_RC_WITH(nb_copy_(ex, t), "nb_copy_", "broadcast");
    CHECK_RC_WITH(nb_mul_scalar_(ex, 2), "nb_mul_scalar_", "broadcast");
    CHECK(nb_fill_(nb_expand(nb_zeros(NB_SHAPE(7, 1), NB_F32), NB_SHAPE(7, 1)), 1) == 0); /* size-1 dims are fine */

    /* refused on tensors that require grad (and on views of them) while grad mode is on */
    nb_tensor *p = nb_param(nb_ones(NB_SHAPE(3, 4), NB_F32));
    nb_tensor *pv = nb_slice(p, 1, 0, 4, 2);
    uint64_t v0 = nb_version(p);
    CHECK_RC_WITH(nb_fill_(p, 0), "nb_fill_", "requires grad");
    CHECK_RC_WITH(nb_copy_(p, t), "nb_copy_", "requires grad");
    CHECK_RC_WITH(nb_add_(p, p, 1), "nb_add_", "requires grad");
    CHECK_RC_WITH(nb_mul_scalar_(p, 2), "nb_mul_scalar_", "requires grad");
    CHECK_RC_WITH(nb_fill_(pv, 0), "nb_fill_", "requires grad");
    CHECK(nb_version(p) == v0 && nb_item(nb_sum(p, NULL)) == 12);
    nb_no_grad_begin();
    CHECK(nb_mul_scalar_(p, 3) == 0);
    CHECK(nb_add_(p, nb_ones(NB_SHAPE(4), NB_F32), -1) == 0);
    CHECK(nb_fill_(nb_slice(p, 0, 0, 1, 1), 0) == 0);
    nb_no_grad_end();
    CHECK(nb_requires_grad(p) && nb_is_leaf(p) && nb_version(p) == v0 + 3);
    ref_set_ctx("updates under no_grad");
    CHECK_REF(p, NB_F32, NB_SHAPE(3, 4), ((const double[]){0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2}), 0, 0);
    /* tensors that do not require grad can be changed, but then a backward that saved them fails */
    nb_tensor *w = nb_ones(NB_SHAPE(4), NB_F32), *y = nb_sum(nb_mul(p, w), NULL);
    CHECK(nb_mul_scalar_(w, 2) == 0);
    CHECK_RC_WITH(nb_backward(y), "modified in place");
}

int main(void) {
    REF_RUN(test_copy);
    REF_RUN(test_copy_overlap);
    REF_RUN(test_fill);
    REF_RUN(test_add_mul);
    REF_RUN(test_errors_and_grad_mode);
    return harness_finish();
}
