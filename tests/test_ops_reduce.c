/* tests/test_ops_reduce.c — sum, mean, max, min (amax/amin) and argmax against f64 references over
 * every dim subset (positive and negative dims, keepdim), 0-d and empty tensors, contiguous and
 * strided inputs, every dtype (result dtypes: sum of integers/bool is i64, mean needs floats,
 * argmax gives i64), NaN propagation, first-maximum ties, long sums and thread-count independence. */
#include "ref.h"

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_ARGMAX };
static const char *const k_names[] = {"sum", "mean", "max", "min", "argmax"};

/* Reference reduction of x (shape nd/shape) over the dims flagged in red[]. out gets the values in
 * C order of the kept dims; argmax gives the flat index within the reduced dims (C order). */
static void ref_reduce(int op, const double *x, int nd, const int64_t *shape, const bool *red, double *out) {
    int64_t n = ref_numel(nd, shape), m = 1, r = 1;
    for (int d = 0; d < nd; d++) {
        if (red[d]) r *= shape[d];
        else m *= shape[d];
    }
    double *best = ref_darray(m);
    bool *seen = ref_alloc((size_t)(m ? m : 1));
    for (int64_t j = 0; j < m; j++) out[j] = op == R_SUM || op == R_MEAN ? 0 : NAN;
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, o = 0, om = 1, ri = 0, rm = 1;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t c = rem % shape[d];
            rem /= shape[d];
            if (red[d]) ri += c * rm, rm *= shape[d];
            else o += c * om, om *= shape[d];
        }
        double v = x[i];
        if (op == R_SUM || op == R_MEAN) {
            out[o] += v;
        } else if (!seen[o] || (!isnan(best[o]) && (isnan(v) || (op == R_MIN ? v < best[o] : v > best[o])))) {
            /* the first NaN wins and stays; otherwise the strictly better value (first of ties) */
            best[o] = v;
            out[o] = op == R_ARGMAX ? (double)ri : v;
            seen[o] = true;
        }
    }
    /* ri must count in C order of the reduced dims; the loop above visits i in C order, so the first
     * occurrence along the reduced box is the first in C order too. */
    if (op == R_MEAN)
        for (int64_t j = 0; j < m; j++) out[j] = r ? out[j] / (double)r : NAN;
}

static nb_tensor *apply(int op, nb_tensor *x, const nb_reduce_opts *o) {
    switch (op) {
    case R_SUM: return nb_sum(x, o);
    case R_MEAN: return nb_mean(x, o);
    case R_MAX: return nb_max(x, o);
    case R_MIN: return nb_min(x, o);
    default: return NULL;
    }
}

static nb_dtype out_dtype(int op, nb_dtype dt) {
    if (op == R_ARGMAX) return NB_I64;
    if (op == R_SUM && !nb_dtype_is_float(dt)) return NB_I64;
    return dt;
}

typedef struct shape_case {
    int nd;
    int64_t s[4];
} shape_case;

static const shape_case k_shapes[] = {
    {0, {0}}, {1, {1}}, {1, {7}}, {2, {17, 7}}, {3, {7, 1, 17}}, {2, {129, 17}}, {3, {3, 0, 5}}, {1, {0}}, {4, {2, 7, 3, 5}},
};

/* One reduction of values x over opts, checked for dtype, shape and values. */
static void check_reduce(int op, nb_dtype dt, const shape_case *sh, const double *x, ref_layout layout,
                         const nb_reduce_opts *o) {
    bool red[NB_MAX_DIMS] = {false};
    int nd = sh->nd;
    if (!o || o->n == 0)
        for (int d = 0; d < nd; d++) red[d] = true;
    else
        for (int i = 0; i < o->n; i++) red[o->dims[i] < 0 ? o->dims[i] + (nd ? nd : 1) : o->dims[i]] = nd > 0;
    bool keep = o && o->keepdim;
    int ond = 0;
    int64_t os[NB_MAX_DIMS], r = 1;
    for (int d = 0; d < nd; d++) {
        if (red[d]) r *= sh->s[d];
        if (!red[d]) os[ond++] = sh->s[d];
        else if (keep) os[ond++] = 1;
    }
    nb_tensor *t = ref_tensor(x, nd, sh->s, dt, layout);
    char dims[64] = "all";
    if (o && o->n) {
        int k = 0;
        for (int i = 0; i < o->n; i++) k += snprintf(dims + k, sizeof dims - (size_t)k, "%s%lld", i ? "," : "", (long long)o->dims[i]);
    }
    ref_set_ctx("nb_%s %s %s dims=%s%s %s", k_names[op], nb_dtype_name(dt), ref_shape_str(nd, sh->s), dims,
                keep ? " keepdim" : "", ref_layout_name[layout]);
    nb_tensor *y = apply(op, t, o);
    if (op == R_MEAN && !nb_dtype_is_float(dt)) {
        CHECK_MSG(!y && strstr(nb_last_error(), "nb_mean") && strstr(nb_last_error(), "floating"), "%s: expected failure", ref_ctx);
        nb_clear_error();
    } else if ((op == R_MAX || op == R_MIN) && r == 0) {
        CHECK_MSG(!y && strstr(nb_last_error(), "empty"), "%s: expected failure for an empty reduction", ref_ctx);
        nb_clear_error();
    } else {
        double *e = ref_darray(ref_numel(ond, os));
        ref_reduce(op, x, nd, sh->s, red, e);
        nb_dtype od = out_dtype(op, dt);
        if (dt == NB_BOOL && (op == R_MAX || op == R_MIN))
            for (int64_t i = 0; i < ref_numel(ond, os); i++) e[i] = e[i] != 0;
        /* f16/bf16 sums round once on output; their inputs are exact */
        CHECK_REF(y, od, ond, os, e, ref_rtol(od), ref_rtol(od) * (op == R_SUM ? 4 : 1));
    }
    nb_free(y);
    nb_free(t);
}

/* Every dim subset of up to two dims (written positive and negative), with and without keepdim. */
static void sweep(int op, nb_dtype dt, const shape_case *sh, ref_layout layout) {
    double lo = nb_dtype_is_float(dt) ? -2 : -3, hi = nb_dtype_is_float(dt) ? 2 : 3;
    if (dt == NB_U8) lo = 0, hi = 200;
    double *x = ref_values(ref_numel(sh->nd, sh->s), dt, lo, hi);
    for (int keep = 0; keep < 2; keep++) {
        nb_reduce_opts o = {.n = 0, .keepdim = keep};
        check_reduce(op, dt, sh, x, layout, keep ? &o : NULL);
        for (int a = 0; a < sh->nd; a++) {
            nb_reduce_opts one = {.n = 1, .dims = {a % 2 ? a - sh->nd : a}, .keepdim = keep};
            check_reduce(op, dt, sh, x, layout, &one);
            for (int b = a + 1; b < sh->nd; b++) {
                nb_reduce_opts two = {.n = 2, .dims = {b - sh->nd, a}, .keepdim = keep}; /* unsorted, mixed signs */
                check_reduce(op, dt, sh, x, layout, &two);
            }
        }
        if (sh->nd == 0) { /* a 0-d tensor accepts dim 0 and -1 */
            nb_reduce_opts z = {.n = 1, .dims = {-1}, .keepdim = keep};
            check_reduce(op, dt, sh, x, layout, &z);
        }
        if (sh->nd == 4) {
            nb_reduce_opts three = {.n = 3, .dims = {0, 3, -2}, .keepdim = keep};
            check_reduce(op, dt, sh, x, layout, &three);
        }
    }
}

static void test_reduce_float(void) {
    ref_seed(20);
    for (int op = R_SUM; op <= R_MIN; op++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < REF_LAYOUTS; l++) sweep(op, ref_float_dtypes[d], &k_shapes[s], l);
}

static void test_reduce_int_bool(void) {
    ref_seed(21);
    static const nb_dtype dts[] = {NB_I8, NB_U8, NB_I32, NB_I64, NB_BOOL};
    for (int op = R_SUM; op <= R_MIN; op++)
        for (int d = 0; d < REF_COUNT(dts); d++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < REF_LAYOUTS; l += 3) sweep(op, dts[d], &k_shapes[s], l);
}

/* argmax along each dim (negative too), over all dims, keepdim, every dtype and layout. */
static void test_argmax(void) {
    ref_seed(22);
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
        for (int s = 0; s < REF_COUNT(k_shapes); s++)
            for (int l = 0; l < REF_LAYOUTS; l++) {
                nb_dtype dt = ref_all_dtypes[d];
                const shape_case *sh = &k_shapes[s];
                int64_t n = ref_numel(sh->nd, sh->s);
                double *x = ref_values(n, dt, dt == NB_U8 ? 0 : -2, 2);
                nb_tensor *t = ref_tensor(x, sh->nd, sh->s, dt, l);
                for (int keep = 0; keep < 2; keep++)
                    for (int dim = -1; dim < (sh->nd ? sh->nd : 1); dim++) {
                        bool all = dim == -1;
                        int use = all ? NB_DIM_ALL : (dim % 2 ? dim - sh->nd : dim);
                        ref_set_ctx("nb_argmax %s %s dim=%d%s %s", nb_dtype_name(dt), ref_shape_str(sh->nd, sh->s), use,
                                    keep ? " keepdim" : "", ref_layout_name[l]);
                        nb_tensor *y = nb_argmax(t, use, keep);
                        bool red[NB_MAX_DIMS] = {false};
                        int64_t os[NB_MAX_DIMS];
                        int ond = 0;
                        for (int k = 0; k < sh->nd; k++) {
                            red[k] = all || k == dim;
                            if (!red[k]) os[ond++] = sh->s[k];
                            else if (keep) os[ond++] = 1;
                        }
                        if (n == 0) {
                            CHECK_MSG(!y && strstr(nb_last_error(), "empty"), "%s: expected failure", ref_ctx);
                            nb_clear_error();
                        } else {
                            double *e = ref_darray(ref_numel(ond, os));
                            ref_reduce(R_ARGMAX, x, sh->nd, sh->s, red, e);
                            CHECK_REF(y, NB_I64, ond, os, e, 0, 0);
                        }
                        nb_free(y);
                    }
                nb_free(t);
            }
}

static void test_special_values(void) {
    const double nan = NAN, inf = INFINITY;
    for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++) {
        nb_dtype dt = ref_float_dtypes[d];
        /* rows: NaN in the middle, ties, -inf only, +inf */
        const double v[] = {1, nan, 3, nan, 3, 1, 3, -1, -inf, -inf, -inf, -inf, 2, inf, -5, inf};
        nb_tensor *t = ref_contig(v, NB_SHAPE(4, 4), dt);
        ref_set_ctx("special %s", nb_dtype_name(dt));
        CHECK_REF(nb_max(t, NB_DIMS(1)), dt, NB_SHAPE(4), ((const double[]){nan, 3, -inf, inf}), 0, 0);
        CHECK_REF(nb_min(t, NB_DIMS(1)), dt, NB_SHAPE(4), ((const double[]){nan, -1, -inf, -5}), 0, 0);
        CHECK_REF(nb_argmax(t, 1, false), NB_I64, NB_SHAPE(4), ((const double[]){1, 0, 0, 1}), 0, 0);
        CHECK_REF(nb_sum(t, NB_DIMS(-1)), dt, NB_SHAPE(4), ((const double[]){nan, 6, -inf, inf}), 0, 0);
        /* the column (leading-dim) kernels propagate NaN as well */
        CHECK_REF(nb_max(t, NB_DIMS(0)), dt, NB_SHAPE(4), ((const double[]){3, nan, 3, nan}), 0, 0);
        CHECK_REF(nb_min(t, NB_DIMS(0)), dt, NB_SHAPE(4), ((const double[]){-inf, nan, -inf, nan}), 0, 0);
        CHECK_REF(nb_argmax(t, 0, false), NB_I64, NB_SHAPE(4), ((const double[]){1, 0, 0, 0}), 0, 0);
        CHECK_REF(nb_argmax(nb_transpose(t, 0, 1), 1, false), NB_I64, NB_SHAPE(4), ((const double[]){1, 0, 0, 0}), 0, 0);
        CHECK(nb_item(nb_argmax(t, NB_DIM_ALL, false)) == 1);
        /* empty reductions: the sum is 0, the mean NaN */
        nb_tensor *e = nb_zeros(NB_SHAPE(3, 0), dt);
        CHECK_REF(nb_sum(e, NB_DIMS(1)), dt, NB_SHAPE(3), ((const double[]){0, 0, 0}), 0, 0);
        CHECK_REF(nb_mean(e, NB_DIMS(1)), dt, NB_SHAPE(3), ((const double[]){nan, nan, nan}), 0, 0);
        CHECK_REF(nb_sum(e, NULL), dt, NB_SCALAR, ((const double[]){0}), 0, 0);
    }
    /* i64 extremes stay exact (no trip through doubles) */
    int64_t big[3] = {(INT64_C(1) << 53) + 1, INT64_C(1) << 53, -(INT64_C(1) << 60)}, got;
    nb_tensor *b = nb_from_data(big, NB_SHAPE(3), NB_I64);
    CHECK(nb_copy_to(nb_max(b, NULL), &got, sizeof got, NB_I64) == 0 && got == (INT64_C(1) << 53) + 1);
    CHECK(nb_copy_to(nb_sum(nb_slice(b, 0, 0, 2, 1), NULL), &got, sizeof got, NB_I64) == 0 && got == (INT64_C(1) << 54) + 1);
    CHECK(nb_item(nb_argmax(b, 0, false)) == 0);
    /* argmax keepdim over all dims keeps every dim as 1 */
    nb_tensor *k = nb_argmax(nb_ones(NB_SHAPE(2, 3, 4), NB_F32), NB_DIM_ALL, true);
    CHECK(k && nb_ndim(k) == 3 && nb_numel(k) == 1 && nb_item(k) == 0);
    CHECK(nb_ndim(nb_argmax(nb_scalar(5, NB_F32), 0, false)) == 0);
}

/* Sums long enough for the chunked accumulation, and the same bits for any thread count. */
static void test_long_sums(void) {
    ref_seed(23);
    const int64_t m = 5, r = 9001;
    double *x = ref_darray(m * r);
    for (int64_t i = 0; i < m * r; i++) x[i] = ref_uniform();
    for (int d = 0; d < 2; d++) {
        nb_dtype dt = d ? NB_F64 : NB_F32;
        double *xr = ref_darray(m * r); /* the inputs as the tensor holds them */
        for (int64_t i = 0; i < m * r; i++) xr[i] = dt == NB_F32 ? (double)(float)x[i] : x[i];
        for (int l = 0; l < REF_LAYOUTS; l++) {
            nb_tensor *t = ref_tensor(xr, NB_SHAPE(5, 9001), dt, l);
            double e[5] = {0}, ec[1] = {0};
            for (int64_t i = 0; i < m * r; i++) e[i / r] += xr[i], ec[0] += xr[i];
            ref_set_ctx("long sum %s %s", nb_dtype_name(dt), ref_layout_name[l]);
            double tol = dt == NB_F32 ? 1e-5 : 1e-12;
            CHECK_REF(nb_sum(t, NB_DIMS(1)), dt, NB_SHAPE(5), e, tol, 0);
            CHECK_REF(nb_sum(t, NULL), dt, NB_SCALAR, ec, tol, 0);
            for (int i = 0; i < 5; i++) e[i] /= (double)r;
            CHECK_REF(nb_mean(t, NB_DIMS(-1)), dt, NB_SHAPE(5), e, tol, 0);
            double *ecol = ref_darray(r);
            for (int64_t i = 0; i < m * r; i++) ecol[i % r] += xr[i];
            CHECK_REF(nb_sum(t, NB_DIMS(0)), dt, NB_SHAPE(9001), ecol, tol, 0);
        }
    }
    int threads = nb_get_num_threads();
    nb_tensor *big = nb_rand(NB_SHAPE(64, 40000), NB_F32);
    float s1[64], c1[40000], s4[64], c4[40000];
    nb_set_num_threads(1);
    nb_copy_to(nb_sum(big, NB_DIMS(1)), s1, sizeof s1, NB_F32);
    nb_copy_to(nb_sum(big, NB_DIMS(0)), c1, sizeof c1, NB_F32);
    nb_set_num_threads(4);
    nb_copy_to(nb_sum(big, NB_DIMS(1)), s4, sizeof s4, NB_F32);
    nb_copy_to(nb_sum(big, NB_DIMS(0)), c4, sizeof c4, NB_F32);
    nb_set_num_threads(threads);
    CHECK(memcmp(s1, s4, sizeof s1) == 0);
    CHECK(memcmp(c1, c4, sizeof c1) == 0);
}

/* Sums whose reduced dims are not the trailing ones read the input in place (nbk_sum_rows_strided):
 * the bits must be those of the permuted copy summed row by row, at any thread count, for the bias
 * gradient shape (N, C, H, W) over (N, H, W) at awkward sizes (rows of one chunk, of several, empty),
 * strided views and both float dtypes. */
static void test_strided_sums(void) {
    static const int64_t shapes[][4] = {{3, 5, 7, 9}, {17, 3, 13, 29}, {1, 7, 1, 129}, {2, 2, 0, 3}, {64, 2, 26, 26}};
    int threads = nb_get_num_threads();
    for (int d = 0; d < 2; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int view = 0; view < 2; view++) {
                nb_dtype dt = d ? NB_F64 : NB_F32;
                const int64_t *sh = shapes[s];
                nb_tensor *x = nb_randn(4, sh, dt);
                if (view) x = nb_transpose(nb_transpose(x, 2, 3), 0, 2); /* (H, C, W... ) strided */
                ref_set_ctx("strided sum %s shape %d view %d", nb_dtype_name(dt), (int)s, view);
                nb_tensor *ref = nb_sum(nb_contiguous(nb_permute(x, NB_SHAPE(1, 0, 2, 3))), NB_DIMS(1, 2, 3));
                nb_set_num_threads(1);
                nb_tensor *a = nb_sum(x, NB_DIMS(0, 2, 3));
                nb_set_num_threads(2);
                nb_tensor *b = nb_sum(x, NB_DIMS(0, 2, 3));
                nb_tensor *c = nb_sum(x, NB_DIMS_KEEP(0, 2, 3));
                nb_set_num_threads(threads);
                CHECK(ref && a && b && c);
                if (!ref || !a || !b || !c) continue;
                size_t bytes = (size_t)nb_numel(ref) * nb_dtype_size(dt);
                CHECK(nb_numel(a) == nb_numel(ref) && nb_numel(c) == nb_numel(ref));
                if (bytes == 0) continue; /* an empty result has no data pointer */
                CHECK(memcmp(nb_data(ref), nb_data(a), bytes) == 0);
                CHECK(memcmp(nb_data(a), nb_data(b), bytes) == 0);
                CHECK(memcmp(nb_data(a), nb_data(nb_contiguous(c)), bytes) == 0);
                /* a kept dim last: each row is a strided walk (no unit-stride run); the contiguous
                 * input takes the column kernel instead, with its own order */
                if (!view) continue;
                nb_tensor *r2 = nb_sum(nb_contiguous(nb_permute(x, NB_SHAPE(3, 0, 1, 2))), NB_DIMS(1, 2, 3));
                nb_tensor *s2 = nb_sum(x, NB_DIMS(0, 1, 2));
                CHECK(r2 && s2 && nb_numel(r2) == nb_numel(s2));
                if (r2 && s2 && nb_numel(r2) > 0) /* an empty result has no data pointer */
                    CHECK(memcmp(nb_data(r2), nb_data(s2), (size_t)nb_numel(r2) * nb_dtype_size(dt)) == 0);
            }
}

static void test_errors(void) {
    nb_tensor *t = nb_zeros(NB_SHAPE(2, 3), NB_F32);
    CHECK_NULL_WITH(nb_sum(t, NB_DIMS(2)), "nb_sum", "out of range");
    CHECK_NULL_WITH(nb_sum(t, NB_DIMS(-3)), "nb_sum", "out of range");
    CHECK_NULL_WITH(nb_max(t, NB_DIMS(1, -1)), "nb_max", "more than once");
    CHECK_NULL_WITH(nb_mean(nb_zeros(NB_SHAPE(2), NB_I32), NULL), "nb_mean", "floating");
    CHECK_NULL_WITH(nb_min(nb_zeros(NB_SHAPE(2, 0), NB_F32), NB_DIMS(1)), "nb_min", "empty");
    CHECK_NULL_WITH(nb_argmax(nb_zeros(NB_SHAPE(0), NB_F32), 0, false), "nb_argmax", "empty");
    CHECK_NULL_WITH(nb_argmax(t, 2, false), "nb_argmax", "out of range");
    CHECK_NULL_WITH(nb_sum(nb_scalar(1, NB_F32), NB_DIMS(1)), "nb_sum", "out of range");
    CHECK_NULL_WITH(nb_sum(NULL, NULL), "nb_sum");
    /* max over a non-empty dim of a tensor that is empty elsewhere is fine */
    nb_tensor *e = nb_max(nb_zeros(NB_SHAPE(0, 3), NB_F32), NB_DIMS(1));
    CHECK(e && nb_ndim(e) == 1 && nb_shape(e)[0] == 0);
}

int main(void) {
    REF_RUN(test_reduce_float);
    REF_RUN(test_reduce_int_bool);
    REF_RUN(test_argmax);
    REF_RUN(test_special_values);
    REF_RUN(test_long_sums);
    REF_RUN(test_strided_sums);
    REF_RUN(test_errors);
    return harness_finish();
}
