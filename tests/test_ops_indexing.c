/* tests/test_ops_indexing.c — the indexing family against plain f64 references computed here:
 * gather / scatter / scatter_value / scatter_add / scatter_reduce along every dim of 3-D inputs,
 * index_select / index_add, masked_fill / masked_select / nonzero, and the view functions stack,
 * unflatten, narrow, split, split_sizes, chunk (checked to share storage). Inputs and indices come in
 * every layout of ref.h (contiguous, transposed, stepped, both), inputs in every dtype (the data
 * movement ops copy bool and integers too), indices in i64 and i32; sizes 1, 7, 17, 129, empty
 * indices and 0-d tensors; then every error path (index dtype, dims, shapes, out-of-range and negative
 * indices naming the function, dim and value). */
#include "ref.h"

/* ---- helpers ------------------------------------------------------------------------------------------ */

/* Values of dtype dt that every op here keeps exact: small integers (u8 non-negative), 0/1 for bool,
 * multiples of 1/8 for floats. */
static double *vals_for(int64_t n, nb_dtype dt) {
    if (dt == NB_U8) return ref_values(n, dt, 0, 40);
    if (dt == NB_I8) return ref_values(n, dt, -20, 20);
    return ref_values(n, dt, -20, 20);
}

static void coords_of(int64_t i, int nd, const int64_t *shape, int64_t *c) {
    for (int d = nd - 1; d >= 0; d--) {
        c[d] = i % shape[d];
        i /= shape[d];
    }
}
static int64_t flat_of(int nd, const int64_t *shape, const int64_t *c) {
    int64_t f = 0;
    for (int d = 0; d < nd; d++) f = f * shape[d] + c[d];
    return f;
}

/* Index values in [0, hi) with repeats (hi > 0). */
static double *idx_vals(int64_t n, int64_t hi) {
    double *v = ref_darray(n);
    for (int64_t i = 0; i < n; i++) v[i] = (double)(ref_next() % (uint64_t)hi);
    return v;
}

static const nb_dtype k_idx_dtypes[2] = {NB_I64, NB_I32};

/* Round a reference value the way storing it in dt does (floats to nearest, integers wrap). */
static double as_dtype(double v, nb_dtype dt) {
    nb_tensor *t = nb_scalar(v, NB_F64), *c = nb_to(t, dt);
    double r = nb_item(c);
    nb_free(c);
    nb_free(t);
    return r;
}

/* 3-D shapes whose dims take the awkward sizes. */
static const int64_t k_shapes[][3] = {{1, 7, 17}, {17, 1, 7}, {7, 17, 3}, {3, 129, 2}, {2, 3, 1}};

/* ---- gather --------------------------------------------------------------------------------------------- */

static void test_gather(void) {
    int counter = 0;
    for (int s = 0; s < REF_COUNT(k_shapes); s++)
        for (int dim = -3; dim < 3; dim++) {
            const int64_t *xs = k_shapes[s];
            int d = dim < 0 ? dim + 3 : dim;
            if ((dim < 0) != (s % 2 == 0)) continue; /* negative dims for half the shapes */
            int64_t is[3];
            for (int k = 0; k < 3; k++) is[k] = k == d ? xs[k] + 2 : (xs[k] + 1) / 2; /* smaller elsewhere */
            int64_t xn = ref_numel(3, xs), in = ref_numel(3, is);
            double *iv = idx_vals(in, xs[d]);
            for (int t = 0; t < REF_COUNT(ref_all_dtypes); t++) {
                nb_dtype dt = ref_all_dtypes[t];
                double *xv = vals_for(xn, dt), *e = ref_darray(in);
                for (int64_t i = 0; i < in; i++) {
                    int64_t c[3];
                    coords_of(i, 3, is, c);
                    c[d] = (int64_t)iv[i];
                    e[i] = xv[flat_of(3, xs, c)];
                }
                for (int l = 0; l < REF_LAYOUTS; l++) {
                    nb_dtype it = k_idx_dtypes[counter & 1];
                    ref_layout il = (ref_layout)((counter++ / 2) % REF_LAYOUTS);
                    nb_tensor *x = ref_tensor(xv, 3, xs, dt, (ref_layout)l), *idx = ref_tensor(iv, 3, is, it, il);
                    ref_set_ctx("gather %s %s dim %d, x %s %s, index %s %s %s", nb_dtype_name(dt), ref_shape_str(3, xs), dim,
                                ref_layout_name[l], ref_shape_str(3, is), nb_dtype_name(it), ref_layout_name[il], "");
                    CHECK_REF_DT(nb_gather(x, dim, idx), dt, 3, is, e);
                }
            }
        }
    /* an expanded (stride 0) input and index */
    nb_tensor *x = nb_expand(nb_reshape(nb_arange(0, 5, 1, NB_F32), NB_SHAPE(5, 1)), NB_SHAPE(5, 7));
    nb_tensor *idx = nb_expand(nb_from_data((const int64_t[]){4, 0, 2}, NB_SHAPE(3, 1), NB_I64), NB_SHAPE(3, 7));
    double e[21];
    for (int i = 0; i < 21; i++) e[i] = (double)((const int[]){4, 0, 2})[i / 7];
    ref_set_ctx("gather of expanded tensors");
    CHECK_REF(nb_gather(x, 0, idx), NB_F32, NB_SHAPE(3, 7), e, 0, 0);
    /* empty index, 0-d */
    ref_set_ctx("gather empty / 0-d");
    CHECK_REF(nb_gather(x, 1, nb_zeros(NB_SHAPE(5, 0), NB_I64)), NB_F32, NB_SHAPE(5, 0), NULL, 0, 0);
    CHECK_REF(nb_gather(x, 0, nb_zeros(NB_SHAPE(0, 7), NB_I32)), NB_F32, NB_SHAPE(0, 7), NULL, 0, 0);
    CHECK_REF(nb_gather(nb_scalar(2.5, NB_F64), 0, nb_scalar(0, NB_I64)), NB_F64, NB_SCALAR, ((const double[]){2.5}), 0, 0);
    CHECK_REF(nb_gather(nb_scalar(2.5, NB_F64), -1, nb_zeros(NB_SHAPE(3), NB_I64)), NB_F64, NB_SHAPE(3),
              ((const double[]){2.5, 2.5, 2.5}), 0, 0);
    /* a large gather (split over threads): x [129, 129] along dim 1 */
    nb_tensor *big = nb_reshape(nb_arange(0, 129 * 129, 1, NB_F64), NB_SHAPE(129, 129));
    double *bi = idx_vals(129 * 200, 129), *be = ref_darray(129 * 200);
    for (int64_t i = 0; i < 129 * 200; i++) be[i] = (double)((i / 200) * 129 + (int64_t)bi[i]);
    ref_set_ctx("gather [129, 129] dim 1 with [129, 200] indices");
    CHECK_REF(nb_gather(big, 1, ref_tensor(bi, NB_SHAPE(129, 200), NB_I64, REF_CONTIG)), NB_F64, NB_SHAPE(129, 200), be, 0, 0);
}

/* ---- scatter, scatter_value, scatter_add, scatter_reduce ----------------------------------------------------- */

enum { S_SCATTER, S_VALUE, S_ADD, S_SUM, S_MEAN, S_AMAX, S_AMIN, S_KINDS };
static const char *const k_kind_name[S_KINDS] = {"scatter", "scatter_value", "scatter_add", "sum", "mean", "amax", "amin"};

/* f64 reference of every scatter kind: out over xs, src over ss (at least the index's size). */
static double *scatter_ref(int kind, bool include_self, const double *xv, const int64_t *xs, const double *sv,
                           const int64_t *ss, const double *iv, const int64_t *is, int d, double value, nb_dtype dt) {
    int64_t xn = ref_numel(3, xs), in = ref_numel(3, is);
    double *o = ref_darray(xn), *cnt = ref_darray(xn);
    bool *seen = ref_alloc((size_t)xn);
    for (int64_t p = 0; p < xn; p++) {
        o[p] = xv[p];
        cnt[p] = include_self ? 1 : 0;
    }
    bool is_int = !nb_dtype_is_float(dt);
    for (int64_t i = 0; i < in; i++) {
        int64_t c[3];
        coords_of(i, 3, is, c);
        double v = kind == S_VALUE ? value : sv[flat_of(3, ss, c)];
        c[d] = (int64_t)iv[i];
        int64_t p = flat_of(3, xs, c);
        if (kind == S_SCATTER || kind == S_VALUE) {
            o[p] = v;
            continue;
        }
        if (kind >= S_SUM && !include_self && !seen[p]) {
            o[p] = v;
        } else if (kind == S_AMAX) {
            o[p] = (isnan(o[p]) || v <= o[p]) && !isnan(v) ? o[p] : v;
        } else if (kind == S_AMIN) {
            o[p] = (isnan(o[p]) || v >= o[p]) && !isnan(v) ? o[p] : v;
        } else {
            o[p] += v;
        }
        seen[p] = true;
        cnt[p]++;
    }
    for (int64_t p = 0; p < xn; p++) {
        if (kind == S_MEAN && cnt[p] > 1) o[p] = is_int ? floor(o[p] / cnt[p]) : o[p] / cnt[p];
        if (is_int) o[p] = ref_wrap(o[p], dt);
    }
    return o;
}

static nb_tensor *run_scatter(int kind, bool include_self, nb_tensor *x, int dim, nb_tensor *idx, nb_tensor *src,
                              double value) {
    switch (kind) {
    case S_SCATTER: return nb_scatter(x, dim, idx, src);
    case S_VALUE: return nb_scatter_value(x, dim, idx, value);
    case S_ADD: return nb_scatter_add(x, dim, idx, src);
    default: return nb_scatter_reduce(x, dim, idx, src, k_kind_name[kind], include_self);
    }
}

static void test_scatter_family(void) {
    int counter = 0;
    for (int s = 0; s < REF_COUNT(k_shapes); s++)
        for (int d = 0; d < 3; d++) {
            const int64_t *xs = k_shapes[s];
            int dim = (s + d) % 2 ? d - 3 : d;
            int64_t is[3], ss[3];
            for (int k = 0; k < 3; k++) {
                is[k] = k == d ? 2 * xs[k] + 1 : (xs[k] + 1) / 2; /* collisions along dim */
                ss[k] = is[k] + (k == (d + 1) % 3);               /* src larger than the index in one dim */
            }
            int64_t xn = ref_numel(3, xs), sn = ref_numel(3, ss), in = ref_numel(3, is);
            double *iv = idx_vals(in, xs[d]);
            for (int t = 0; t < REF_COUNT(ref_all_dtypes); t++) {
                nb_dtype dt = ref_all_dtypes[t];
                double *xv = vals_for(xn, dt), *sv = vals_for(sn, dt);
                double value = dt == NB_BOOL ? 1 : dt == NB_U8 ? 7 : -2.5;
                if (!nb_dtype_is_float(dt) && dt != NB_BOOL && dt != NB_U8) value = -3;
                for (int kind = 0; kind < S_KINDS; kind++)
                    for (int inc = kind >= S_SUM ? 0 : 1; inc < 2; inc++) {
                        if (dt == NB_BOOL && kind >= S_SUM) continue; /* reductions of bool: see below */
                        double *e = scatter_ref(kind, inc, xv, xs, sv, ss, iv, is, d, value, dt);
                        ref_layout xl = (ref_layout)(counter % REF_LAYOUTS), sl = (ref_layout)((counter / 2) % REF_LAYOUTS);
                        ref_layout il = (ref_layout)((counter / 3) % REF_LAYOUTS);
                        nb_dtype it = k_idx_dtypes[counter++ & 1];
                        nb_tensor *x = ref_tensor(xv, 3, xs, dt, xl), *src = ref_tensor(sv, 3, ss, dt, sl);
                        nb_tensor *idx = ref_tensor(iv, 3, is, it, il);
                        ref_set_ctx("%s include_self=%d %s x %s (%s) dim %d, index %s %s (%s), src %s (%s)",
                                    k_kind_name[kind], inc, nb_dtype_name(dt), ref_shape_str(3, xs), ref_layout_name[xl],
                                    dim, ref_shape_str(3, is), nb_dtype_name(it), ref_layout_name[il],
                                    ref_shape_str(3, ss), ref_layout_name[sl]);
                        CHECK_REF_DT(run_scatter(kind, inc, x, dim, idx, src, value), dt, 3, xs, e);
                    }
            }
        }
    /* last write wins in the index's C order */
    nb_tensor *z = nb_zeros(NB_SHAPE(3), NB_F32);
    nb_tensor *i3 = nb_from_data((const int64_t[]){1, 1, 1, 0}, NB_SHAPE(4), NB_I64);
    nb_tensor *s4 = nb_from_data((const float[]){5, 6, 7, 8}, NB_SHAPE(4), NB_F32);
    ref_set_ctx("scatter duplicates");
    CHECK_REF(nb_scatter(z, 0, i3, s4), NB_F32, NB_SHAPE(3), ((const double[]){8, 7, 0}), 0, 0);
    /* bool sums are "any" */
    nb_tensor *bx = nb_from_data((const bool[]){false, true, false}, NB_SHAPE(3), NB_BOOL);
    nb_tensor *bs = nb_from_data((const bool[]){true, false, false, false}, NB_SHAPE(4), NB_BOOL);
    CHECK_REF(nb_scatter_add(bx, 0, i3, bs), NB_BOOL, NB_SHAPE(3), ((const double[]){0, 1, 0}), 0, 0);
    CHECK_REF(nb_scatter_reduce(bx, 0, i3, bs, "amax", true), NB_BOOL, NB_SHAPE(3), ((const double[]){0, 1, 0}), 0, 0);
    /* empty index: x unchanged; expanded src */
    nb_tensor *x = nb_reshape(nb_arange(0, 6, 1, NB_F64), NB_SHAPE(2, 3));
    ref_set_ctx("scatter with an empty index");
    const double x6[6] = {0, 1, 2, 3, 4, 5};
    CHECK_REF(nb_scatter(x, 0, nb_zeros(NB_SHAPE(0, 3), NB_I64), nb_zeros(NB_SHAPE(0, 3), NB_F64)), NB_F64, NB_SHAPE(2, 3),
              x6, 0, 0);
    CHECK_REF(nb_scatter_add(x, 1, nb_zeros(NB_SHAPE(2, 0), NB_I32), nb_zeros(NB_SHAPE(2, 0), NB_F64)), NB_F64,
              NB_SHAPE(2, 3), x6, 0, 0);
    CHECK_REF(nb_scatter_reduce(x, 1, nb_zeros(NB_SHAPE(2, 0), NB_I32), nb_zeros(NB_SHAPE(2, 0), NB_F64), "mean", false),
              NB_F64, NB_SHAPE(2, 3), x6, 0, 0);
    nb_tensor *ex = nb_expand(nb_scalar(10, NB_F64), NB_SHAPE(2, 3));
    nb_tensor *ei = nb_from_data((const int64_t[]){2, 2, 0, 1, 0, 1}, NB_SHAPE(2, 3), NB_I64);
    ref_set_ctx("scatter_add of an expanded src");
    CHECK_REF(nb_scatter_add(x, 1, ei, ex), NB_F64, NB_SHAPE(2, 3), ((const double[]){10, 1, 22, 13, 24, 5}), 0, 0);
    /* 0-d */
    ref_set_ctx("scatter 0-d");
    CHECK_REF(nb_scatter_add(nb_scalar(1, NB_F32), 0, nb_scalar(0, NB_I64), nb_scalar(2, NB_F32)), NB_F32, NB_SCALAR,
              ((const double[]){3}), 0, 0);
    /* NaN propagates through amax / amin */
    nb_tensor *nx = nb_from_data((const double[]){1, NAN, 3}, NB_SHAPE(3), NB_F64);
    nb_tensor *ns = nb_from_data((const double[]){NAN, 9, 0, 5}, NB_SHAPE(4), NB_F64);
    nb_tensor *ni = nb_from_data((const int64_t[]){0, 1, 2, 2}, NB_SHAPE(4), NB_I64);
    ref_set_ctx("scatter_reduce NaN");
    CHECK_REF(nb_scatter_reduce(nx, 0, ni, ns, "amax", true), NB_F64, NB_SHAPE(3), ((const double[]){NAN, NAN, 5}), 0, 0);
    CHECK_REF(nb_scatter_reduce(nx, 0, ni, ns, "amin", false), NB_F64, NB_SHAPE(3), ((const double[]){NAN, 9, 0}), 0, 0);
    /* integer mean floors */
    nb_tensor *mi = nb_from_data((const int32_t[]){-7, 7}, NB_SHAPE(2), NB_I32);
    nb_tensor *ms = nb_from_data((const int32_t[]){0, 2, 0}, NB_SHAPE(3), NB_I32);
    nb_tensor *mx = nb_from_data((const int64_t[]){0, 1, 1}, NB_SHAPE(3), NB_I64);
    ref_set_ctx("scatter_reduce integer mean");
    CHECK_REF(nb_scatter_reduce(mi, 0, mx, ms, "mean", true), NB_I32, NB_SHAPE(2), ((const double[]){-4, 3}), 0, 0);
}

/* amax / amin share the gradient evenly among the values equal to the result; mean divides by the
 * count; without include_self, self gets no gradient where something was scattered. */
static void test_scatter_reduce_gradient(void) {
    nb_tensor *x = nb_param(nb_from_data((const double[]){1, 3, 4}, NB_SHAPE(3), NB_F64));
    nb_tensor *s = nb_param(nb_from_data((const double[]){3, 2, 3, 3}, NB_SHAPE(4), NB_F64));
    nb_tensor *i = nb_from_data((const int64_t[]){0, 0, 1, 1}, NB_SHAPE(4), NB_I64);
    CHECK(nb_backward(nb_sum(nb_scatter_reduce(x, 0, i, s, "amax", true), NULL)) == 0);
    ref_set_ctx("amax gradient with ties");
    /* out[0] = max(1, 3, 2) = 3 from s[0]; out[1] = max(3, 3, 3): x[1], s[2], s[3] share; out[2] = x[2] */
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(3), ((const double[]){0, 1.0 / 3, 1}), 1e-12, 0);
    CHECK_REF(nb_grad(s), NB_F64, NB_SHAPE(4), ((const double[]){1, 0, 1.0 / 3, 1.0 / 3}), 1e-12, 0);
    nb_zero_grad(x);
    nb_zero_grad(s);
    CHECK(nb_backward(nb_sum(nb_scatter_reduce(x, 0, i, s, "amin", false), NULL)) == 0);
    ref_set_ctx("amin gradient without include_self");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(3), ((const double[]){0, 0, 1}), 1e-12, 0);
    CHECK_REF(nb_grad(s), NB_F64, NB_SHAPE(4), ((const double[]){0, 1, 0.5, 0.5}), 1e-12, 0);
    nb_zero_grad(x);
    nb_zero_grad(s);
    CHECK(nb_backward(nb_sum(nb_scatter_reduce(x, 0, i, s, "mean", true), NULL)) == 0);
    ref_set_ctx("mean gradient");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(3), ((const double[]){1.0 / 3, 1.0 / 3, 1}), 1e-12, 0);
    CHECK_REF(nb_grad(s), NB_F64, NB_SHAPE(4), ((const double[]){1.0 / 3, 1.0 / 3, 1.0 / 3, 1.0 / 3}), 1e-12, 0);
    /* scatter: self gets zeros where written; src gets the gradient at its targets (gather) */
    nb_zero_grad(x);
    nb_zero_grad(s);
    nb_tensor *w = nb_from_data((const double[]){10, 20, 30}, NB_SHAPE(3), NB_F64);
    nb_tensor *i2 = nb_from_data((const int64_t[]){2, 0}, NB_SHAPE(2), NB_I64);
    CHECK(nb_backward(nb_sum(nb_mul(nb_scatter(x, 0, i2, s), w), NULL)) == 0);
    ref_set_ctx("scatter gradient");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(3), ((const double[]){0, 20, 0}), 0, 0);
    CHECK_REF(nb_grad(s), NB_F64, NB_SHAPE(4), ((const double[]){30, 10, 0, 0}), 0, 0);
}

/* ---- index_select / index_add ------------------------------------------------------------------------------ */

static void test_index_select_add(void) {
    int counter = 0;
    static const int64_t lens[] = {1, 7, 17, 129, 0};
    for (int s = 0; s < REF_COUNT(k_shapes); s++)
        for (int d = 0; d < 3; d++) {
            const int64_t *xs = k_shapes[s];
            int dim = (s + d) % 2 ? d - 3 : d;
            int64_t n = lens[(s + d) % REF_COUNT(lens)], os[3];
            for (int k = 0; k < 3; k++) os[k] = k == d ? n : xs[k];
            int64_t xn = ref_numel(3, xs), on = ref_numel(3, os);
            double *iv = idx_vals(n, xs[d]);
            for (int t = 0; t < REF_COUNT(ref_all_dtypes); t++) {
                nb_dtype dt = ref_all_dtypes[t];
                double *xv = vals_for(xn, dt), *sv = vals_for(on, dt), *e = ref_darray(on), *ea = ref_darray(xn);
                double alpha = nb_dtype_is_float(dt) ? -1.5 : dt == NB_BOOL || dt == NB_U8 ? 1 : 3;
                for (int64_t p = 0; p < xn; p++) ea[p] = xv[p];
                for (int64_t i = 0; i < on; i++) {
                    int64_t c[3];
                    coords_of(i, 3, os, c);
                    c[d] = (int64_t)iv[c[d]];
                    e[i] = xv[flat_of(3, xs, c)];
                    ea[flat_of(3, xs, c)] += alpha * sv[i];
                }
                for (int64_t p = 0; p < xn; p++) ea[p] = nb_dtype_is_float(dt) ? ea[p] : ref_wrap(ea[p], dt);
                for (int l = 0; l < REF_LAYOUTS; l++) {
                    nb_dtype it = k_idx_dtypes[counter & 1];
                    ref_layout il = (ref_layout)((counter / 2) % 3), sl = (ref_layout)((counter++ / 3) % REF_LAYOUTS);
                    nb_tensor *x = ref_tensor(xv, 3, xs, dt, (ref_layout)l), *idx = ref_tensor(iv, 1, &n, it, il);
                    ref_set_ctx("index_select %s x %s (%s) dim %d, index [%lld] %s (%s)", nb_dtype_name(dt),
                                ref_shape_str(3, xs), ref_layout_name[l], dim, (long long)n, nb_dtype_name(it),
                                ref_layout_name[il]);
                    CHECK_REF_DT(nb_index_select(x, dim, idx), dt, 3, os, e);
                    nb_tensor *src = ref_tensor(sv, 3, os, dt, sl);
                    ref_set_ctx("index_add %s x %s (%s) dim %d, index [%lld] %s (%s), source %s", nb_dtype_name(dt),
                                ref_shape_str(3, xs), ref_layout_name[l], dim, (long long)n, nb_dtype_name(it),
                                ref_layout_name[il], ref_layout_name[sl]);
                    CHECK_REF_DT(nb_index_add(x, dim, idx, src, alpha), dt, 3, xs, ea);
                }
            }
        }
    /* 0-d index and 0-d self */
    nb_tensor *x = nb_reshape(nb_arange(0, 6, 1, NB_I64), NB_SHAPE(2, 3));
    ref_set_ctx("index_select 0-d index");
    CHECK_REF(nb_index_select(x, 1, nb_scalar(2, NB_I32)), NB_I64, NB_SHAPE(2, 1), ((const double[]){2, 5}), 0, 0);
    CHECK_REF(nb_index_select(nb_scalar(4, NB_F32), 0, nb_scalar(0, NB_I64)), NB_F32, NB_SCALAR, ((const double[]){4}), 0, 0);
    CHECK_REF(nb_index_add(nb_scalar(4, NB_F32), 0, nb_scalar(0, NB_I64), nb_scalar(2, NB_F32), 2), NB_F32, NB_SCALAR,
              ((const double[]){8}), 0, 0);
    /* an expanded source */
    nb_tensor *src = nb_expand(nb_scalar(1, NB_I64), NB_SHAPE(2, 4));
    ref_set_ctx("index_add of an expanded source, repeated indices");
    CHECK_REF(nb_index_add(x, 1, nb_from_data((const int64_t[]){0, 2, 0, 0}, NB_SHAPE(4), NB_I64), src, 1), NB_I64,
              NB_SHAPE(2, 3), ((const double[]){3, 1, 3, 6, 4, 6}), 0, 0);
}

/* The gradient of index_select is index_add into zeros (repeats accumulate), and back. */
static void test_index_gradients(void) {
    nb_tensor *x = nb_param(nb_zeros(NB_SHAPE(4, 2), NB_F64));
    nb_tensor *i = nb_from_data((const int32_t[]){3, 0, 3}, NB_SHAPE(3), NB_I32);
    nb_tensor *w = nb_from_data((const double[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(3, 2), NB_F64);
    CHECK(nb_backward(nb_sum(nb_mul(nb_index_select(x, 0, i), w), NULL)) == 0);
    ref_set_ctx("index_select gradient");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(4, 2), ((const double[]){3, 4, 0, 0, 0, 0, 6, 8}), 0, 0);
    nb_tensor *g = nb_param(nb_zeros(NB_SHAPE(3, 2), NB_F64)), *idx = nb_from_data((const int64_t[]){2, 2, 0}, NB_SHAPE(3, 1), NB_I64);
    nb_tensor *ww = nb_from_data((const double[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(3, 2), NB_F64);
    nb_tensor *big = nb_param(nb_zeros(NB_SHAPE(3, 2), NB_F64));
    CHECK(nb_backward(nb_sum(nb_mul(nb_gather(big, 0, nb_expand(idx, NB_SHAPE(3, 2))), ww), NULL)) == 0);
    ref_set_ctx("gather gradient (scatter_add)");
    CHECK_REF(nb_grad(big), NB_F64, NB_SHAPE(3, 2), ((const double[]){5, 6, 0, 0, 4, 6}), 0, 0);
    (void)g;
}

/* ---- masks ---------------------------------------------------------------------------------------------- */

static void test_masked(void) {
    static const int64_t shapes[][2] = {{1, 1}, {7, 17}, {17, 7}, {129, 3}, {0, 5}};
    int counter = 0;
    for (int s = 0; s < REF_COUNT(shapes); s++)
        for (int b = 0; b < 3; b++) { /* mask: full shape, a broadcast row, or a broadcast column */
            const int64_t *xs = shapes[s];
            int64_t ms[2] = {b == 1 ? 1 : xs[0], b == 2 ? 1 : xs[1]};
            int64_t xn = ref_numel(2, xs), mn = ref_numel(2, ms);
            double *mv = ref_values(mn, NB_BOOL, 0, 1);
            for (int t = 0; t < REF_COUNT(ref_all_dtypes); t++) {
                nb_dtype dt = ref_all_dtypes[t];
                double *xv = vals_for(xn, dt), *ef = ref_darray(xn), *es = ref_darray(xn);
                double value = dt == NB_BOOL ? 1 : dt == NB_U8 ? 200 : nb_dtype_is_float(dt) ? -0.625 : -7.9;
                double stored = as_dtype(value, dt);
                int64_t k = 0;
                for (int64_t i = 0; i < xn; i++) {
                    bool m = mv[ref_bidx(i, 2, xs, 2, ms)] != 0;
                    ef[i] = m ? stored : xv[i];
                    if (m) es[k++] = xv[i];
                }
                for (int l = 0; l < REF_LAYOUTS; l++) {
                    ref_layout ml = (ref_layout)(counter++ % REF_LAYOUTS);
                    nb_tensor *x = ref_tensor(xv, 2, xs, dt, (ref_layout)l), *mask = ref_tensor(mv, 2, ms, NB_BOOL, ml);
                    ref_set_ctx("masked_fill %s x %s (%s), mask %s (%s)", nb_dtype_name(dt), ref_shape_str(2, xs),
                                ref_layout_name[l], ref_shape_str(2, ms), ref_layout_name[ml]);
                    CHECK_REF_DT(nb_masked_fill(x, mask, value), dt, 2, xs, ef);
                    ref_set_ctx("masked_select %s x %s (%s), mask %s (%s)", nb_dtype_name(dt), ref_shape_str(2, xs),
                                ref_layout_name[l], ref_shape_str(2, ms), ref_layout_name[ml]);
                    CHECK_REF_DT(nb_masked_select(x, mask), dt, 1, &k, es);
                    /* the mask larger than x: x broadcasts */
                    if (b == 0 && xs[0] > 1) {
                        nb_tensor *row = nb_slice(x, 0, 0, 1, 1);
                        double *e2 = ref_darray(xn), *e3 = ref_darray(xn);
                        int64_t k2 = 0;
                        for (int64_t i = 0; i < xn; i++) {
                            double xr = xv[i % xs[1]];
                            e2[i] = mv[i] != 0 ? stored : xr;
                            if (mv[i] != 0) e3[k2++] = xr;
                        }
                        ref_set_ctx("masked_fill / select of a broadcast row %s", nb_dtype_name(dt));
                        CHECK_REF_DT(nb_masked_fill(row, mask, value), dt, 2, xs, e2);
                        CHECK_REF_DT(nb_masked_select(row, mask), dt, 1, &k2, e3);
                    }
                }
            }
        }
    /* 0-d */
    ref_set_ctx("masked 0-d");
    nb_tensor *t = nb_scalar(1, NB_BOOL), *f = nb_scalar(0, NB_BOOL), *x = nb_scalar(3, NB_F32);
    CHECK_REF(nb_masked_fill(x, t, 5), NB_F32, NB_SCALAR, ((const double[]){5}), 0, 0);
    CHECK_REF(nb_masked_select(x, t), NB_F32, NB_SHAPE(1), ((const double[]){3}), 0, 0);
    CHECK_REF(nb_masked_select(x, f), NB_F32, NB_SHAPE(0), NULL, 0, 0);
    CHECK_REF(nb_masked_fill(x, nb_from_data((const bool[]){true, false}, NB_SHAPE(2), NB_BOOL), -1), NB_F32, NB_SHAPE(2),
              ((const double[]){-1, 3}), 0, 0);
}

/* masked_select's gradient scatters back into the mask's positions (masked_select_backward), summed
 * over broadcast dims; masked_fill's is zero where filled. */
static void test_masked_gradients(void) {
    nb_tensor *x = nb_param(nb_zeros(NB_SHAPE(3), NB_F64));
    nb_tensor *m = nb_from_data((const bool[]){true, false, true, true, true, false}, NB_SHAPE(2, 3), NB_BOOL);
    nb_tensor *w = nb_from_data((const double[]){1, 2, 3, 4}, NB_SHAPE(4), NB_F64);
    CHECK(nb_backward(nb_sum(nb_mul(nb_masked_select(x, m), w), NULL)) == 0);
    ref_set_ctx("masked_select gradient (broadcast x)");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(3), ((const double[]){1 + 3, 4, 2}), 0, 0);
    nb_zero_grad(x);
    nb_tensor *w6 = nb_from_data((const double[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(2, 3), NB_F64);
    CHECK(nb_backward(nb_sum(nb_mul(nb_masked_fill(x, m, 9), w6), NULL)) == 0);
    ref_set_ctx("masked_fill gradient (broadcast x)");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(3), ((const double[]){0, 2, 0 + 6}), 0, 0);
    /* second order: the gradient of masked_select is itself differentiable (masked_select_backward) */
    nb_tensor *xx = nb_param(nb_from_data((const double[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(2, 3), NB_F64));
    nb_tensor *y = nb_masked_select(xx, m), *v = nb_param(nb_from_data((const double[]){1, 1, 1, 1}, NB_SHAPE(4), NB_F64));
    nb_tensor *g = NULL;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    CHECK(nb_autograd_grad(&y, 1, &xx, 1, &o, &g) == 0);
    CHECK(g && strcmp(nb_grad_fn_name(g), "MaskedSelectBackwardBackward") == 0);
    ref_set_ctx("masked_select_backward");
    CHECK_REF(g, NB_F64, NB_SHAPE(2, 3), ((const double[]){1, 0, 1, 1, 1, 0}), 0, 0);
    CHECK(nb_backward(nb_sum(nb_mul(g, w6), NULL)) == 0);
    CHECK_REF(nb_grad(v), NB_F64, NB_SHAPE(4), ((const double[]){1, 3, 4, 5}), 0, 0);
}

static void test_nonzero(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 1, 17}, {3, 17, 2}, {129, 1, 1}, {2, 0, 3}};
    int counter = 0;
    for (int s = 0; s < REF_COUNT(shapes); s++)
        for (int t = 0; t < REF_COUNT(ref_all_dtypes); t++) {
            nb_dtype dt = ref_all_dtypes[t];
            const int64_t *xs = shapes[s];
            int64_t n = ref_numel(3, xs);
            double *v = ref_values(n, dt, dt == NB_U8 ? 0 : -1, 1);
            double *e = ref_darray(3 * n);
            int64_t k = 0;
            for (int64_t i = 0; i < n; i++)
                if (v[i] != 0) {
                    int64_t c[3];
                    coords_of(i, 3, xs, c);
                    for (int d = 0; d < 3; d++) e[3 * k + d] = (double)c[d];
                    k++;
                }
            nb_tensor *x = ref_tensor(v, 3, xs, dt, (ref_layout)(counter++ % REF_LAYOUTS));
            ref_set_ctx("nonzero %s %s", nb_dtype_name(dt), ref_shape_str(3, xs));
            CHECK_REF(nb_nonzero(x), NB_I64, NB_SHAPE(k, 3), e, 0, 0);
        }
    ref_set_ctx("nonzero special values");
    nb_tensor *sp = nb_from_data((const float[]){0.0f, -0.0f, NAN, 1e-40f, -INFINITY}, NB_SHAPE(5), NB_F32);
    CHECK_REF(nb_nonzero(sp), NB_I64, NB_SHAPE(3, 1), ((const double[]){2, 3, 4}), 0, 0);
    CHECK_REF(nb_nonzero(nb_to(nb_from_data((const float[]){-0.0f, 2, 0}, NB_SHAPE(3), NB_F32), NB_F16)), NB_I64,
              NB_SHAPE(1, 1), ((const double[]){1}), 0, 0);
    CHECK_REF(nb_nonzero(nb_scalar(3, NB_I32)), NB_I64, NB_SHAPE(1, 0), NULL, 0, 0);
    CHECK_REF(nb_nonzero(nb_scalar(0, NB_I32)), NB_I64, NB_SHAPE(0, 0), NULL, 0, 0);
}

/* ---- stack, unflatten, narrow, split, chunk -------------------------------------------------------------- */

static bool same_storage(nb_tensor *a, nb_tensor *b) {
    if (!a || !b || !nb_numel(a)) return false;
    uint64_t v = nb_version(b);
    int64_t zero[NB_MAX_DIMS] = {0};
    double old = h_get(a, nb_ndim(a), zero);
    nb_set(a, nb_ndim(a), zero, old);
    return nb_version(b) == v + 1;
}

static void test_stack(void) {
    for (int t = 0; t < REF_COUNT(ref_all_dtypes); t++)
        for (int dim = -4; dim < 4; dim++) {
            nb_dtype dt = ref_all_dtypes[t];
            const int64_t xs[3] = {7, 1, 17};
            double *v[3];
            nb_tensor *xs3[3];
            for (int k = 0; k < 3; k++) {
                v[k] = vals_for(119, dt);
                xs3[k] = ref_tensor(v[k], 3, xs, dt, (ref_layout)((k + dim + 4) % REF_LAYOUTS));
            }
            int d = dim < 0 ? dim + 4 : dim;
            int64_t os[4];
            for (int k = 0, j = 0; k < 4; k++) os[k] = k == d ? 3 : xs[j++];
            double *e = ref_darray(357);
            for (int64_t i = 0; i < 357; i++) {
                int64_t c[4], ci[3];
                coords_of(i, 4, os, c);
                for (int k = 0, j = 0; k < 4; k++)
                    if (k != d) ci[j++] = c[k];
                e[i] = v[c[d]][flat_of(3, xs, ci)];
            }
            ref_set_ctx("stack 3 x [7, 1, 17] %s dim %d", nb_dtype_name(dt), dim);
            CHECK_REF_DT(nb_stack(xs3, 3, dim), dt, 4, os, e);
        }
    ref_set_ctx("stack 0-d and mixed dtypes");
    nb_tensor *a[2] = {nb_scalar(1, NB_I32), nb_scalar(2.5, NB_F32)};
    CHECK_REF(nb_stack(a, 2, 0), NB_F32, NB_SHAPE(2), ((const double[]){1, 2.5}), 0, 0);
    CHECK_REF(nb_stack(a, 1, -1), NB_I32, NB_SHAPE(1), ((const double[]){1}), 0, 0);
    nb_tensor *e0[2] = {nb_zeros(NB_SHAPE(0, 3), NB_F32), nb_zeros(NB_SHAPE(0, 3), NB_F32)};
    CHECK_REF(nb_stack(e0, 2, 1), NB_F32, NB_SHAPE(0, 2, 3), NULL, 0, 0);
}

static void test_views(void) {
    nb_tensor *x = nb_reshape(nb_arange(0, 7 * 17, 1, NB_F32), NB_SHAPE(7, 17));
    double *v = ref_darray(119);
    for (int i = 0; i < 119; i++) v[i] = i;
    /* unflatten */
    ref_set_ctx("unflatten");
    nb_tensor *u = nb_unflatten(x, 1, NB_SHAPE(1, -1, 1));
    CHECK_REF(u, NB_F32, NB_SHAPE(7, 1, 17, 1), v, 0, 0);
    CHECK(same_storage(u, x));
    CHECK_REF(nb_unflatten(x, -2, NB_SHAPE(7, 1)), NB_F32, NB_SHAPE(7, 1, 17), v, 0, 0);
    nb_tensor *t = nb_transpose(x, 0, 1); /* [17, 7] */
    double *tv = ref_darray(119);
    for (int i = 0; i < 119; i++) tv[i] = (double)((i % 7) * 17 + i / 7);
    nb_tensor *ut = nb_unflatten(t, 1, NB_SHAPE(-1, 7));
    CHECK_REF(ut, NB_F32, NB_SHAPE(17, 1, 7), tv, 0, 0);
    CHECK(same_storage(ut, x));
    CHECK_REF(nb_unflatten(nb_zeros(NB_SHAPE(2, 0), NB_I8), 1, NB_SHAPE(0, 5)), NB_I8, NB_SHAPE(2, 0, 5), NULL, 0, 0);
    /* flatten of 0-d: dims 0 and -1 only */
    ref_set_ctx("flatten 0-d");
    CHECK_REF(nb_flatten(nb_scalar(2, NB_F64), -1, 0), NB_F64, NB_SHAPE(1), ((const double[]){2}), 0, 0);
    CHECK_NULL_WITH(nb_flatten(nb_scalar(2, NB_F64), 0, 1), "nb_flatten", "out of range");
    CHECK_NULL_WITH(nb_flatten(nb_scalar(2, NB_F64), -2, 0), "nb_flatten", "out of range");
    ref_set_ctx("flatten of a transposed tensor, negative dims");
    CHECK_REF(nb_flatten(t, -2, -1), NB_F32, NB_SHAPE(119), tv, 0, 0);
    /* narrow */
    ref_set_ctx("narrow");
    double nv[21];
    for (int i = 0; i < 21; i++) nv[i] = (double)((i / 3) * 17 + 14 + i % 3);
    nb_tensor *n1 = nb_narrow(x, 1, -3, 3);
    CHECK_REF(n1, NB_F32, NB_SHAPE(7, 3), nv, 0, 0);
    CHECK(same_storage(n1, x));
    CHECK_REF(nb_narrow(x, 0, 7, 0), NB_F32, NB_SHAPE(0, 17), NULL, 0, 0);
    CHECK_REF(nb_narrow(t, -1, 2, 1), NB_F32, NB_SHAPE(17, 1), ((const double[]){34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
                                                                                  44, 45, 46, 47, 48, 49, 50}), 0, 0);
    /* split / split_sizes / chunk of the 17 columns */
    static const struct {
        int kind; /* 0 split, 1 chunk */
        int64_t arg;
        int n;
        int64_t sizes[17];
    } cases[] = {{0, 1, 17, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
                 {0, 7, 3, {7, 7, 3}},
                 {0, 17, 1, {17}},
                 {0, 129, 1, {17}},
                 {1, 1, 1, {17}},
                 {1, 3, 3, {6, 6, 5}},
                 {1, 6, 6, {3, 3, 3, 3, 3, 2}},
                 {1, 7, 6, {3, 3, 3, 3, 3, 2}}, /* ceil(17 / 7) = 3: six pieces, not seven */
                 {1, 17, 17, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
                 {1, 20, 17, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}};
    for (int c = 0; c < REF_COUNT(cases); c++)
        for (int tr = 0; tr < 2; tr++) {
            nb_tensor *src = tr ? t : x; /* columns of x = rows of t */
            int dim = tr ? 0 : -1;
            nb_tensor *out[20] = {NULL};
            int n = cases[c].kind ? nb_chunk(src, (int)cases[c].arg, dim, out, 20) : nb_split(src, cases[c].arg, dim, out, 20);
            int q = cases[c].kind ? nb_chunk(src, (int)cases[c].arg, dim, NULL, 0) : nb_split(src, cases[c].arg, dim, NULL, 0);
            ref_set_ctx("%s(%lld) of %s", cases[c].kind ? "chunk" : "split", (long long)cases[c].arg, tr ? "x^T dim 0" : "x dim -1");
            CHECK_MSG(n == cases[c].n && q == n, "%s: %d / %d pieces, expected %d", ref_ctx, n, q, cases[c].n);
            int64_t off = 0;
            for (int k = 0; k < n && k < cases[c].n; k++) {
                int64_t len = cases[c].sizes[k], ps[2] = {tr ? len : 7, tr ? 7 : len};
                double *e = ref_darray(7 * len);
                for (int64_t i = 0; i < 7 * len; i++)
                    e[i] = tr ? (double)((i % 7) * 17 + off + i / 7) : (double)((i / len) * 17 + off + i % len);
                CHECK_REF(out[k], NB_F32, 2, ps, e, 0, 0);
                CHECK(same_storage(out[k], x));
                off += len;
            }
        }
    ref_set_ctx("split_sizes");
    nb_tensor *p[4];
    CHECK(nb_split_sizes(x, NB_SHAPE(0, 5, 12), 1, p, 4) == 3);
    CHECK_REF(p[0], NB_F32, NB_SHAPE(7, 0), NULL, 0, 0);
    CHECK_REF(p[2], NB_F32, NB_SHAPE(7, 12), ((const double[]){5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 22, 23, 24, 25, 26,
                                                                 27, 28, 29, 30, 31, 32, 33, 39, 40, 41, 42, 43, 44, 45, 46, 47,
                                                                 48, 49, 50, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 73,
                                                                 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 90, 91, 92, 93, 94,
                                                                 95, 96, 97, 98, 99, 100, 101, 107, 108, 109, 110, 111, 112, 113,
                                                                 114, 115, 116, 117, 118}), 0, 0);
    CHECK(same_storage(p[1], x));
    /* empty dims: split gives one empty piece, chunk gives `chunks` of them */
    nb_tensor *e = nb_zeros(NB_SHAPE(0, 3), NB_BOOL);
    CHECK(nb_split(e, 0, 0, p, 4) == 1 && nb_numel(p[0]) == 0);
    CHECK(nb_split(e, 5, 0, p, 4) == 1 && nb_shape(p[0])[0] == 0);
    CHECK(nb_chunk(e, 3, 0, p, 4) == 3 && nb_shape(p[2])[0] == 0);
    CHECK(nb_split(e, 2, 1, p, 4) == 2 && nb_shape(p[1])[1] == 1);
}

/* ---- errors --------------------------------------------------------------------------------------------- */

static void test_errors(void) {
    nb_tensor *x = nb_zeros(NB_SHAPE(3, 4), NB_F32), *i64 = nb_zeros(NB_SHAPE(2, 4), NB_I64);
    nb_tensor *fi = nb_zeros(NB_SHAPE(2, 4), NB_F32), *i8 = nb_zeros(NB_SHAPE(2), NB_I8);
    nb_tensor *bad = nb_from_data((const int64_t[]){0, 1, 3, 2, 0, 1, 2, 0}, NB_SHAPE(2, 4), NB_I64);
    nb_tensor *neg = nb_from_data((const int32_t[]){0, -1, 1, 2, 0, 1, 2, 0}, NB_SHAPE(2, 4), NB_I32);
    nb_tensor *src = nb_ones(NB_SHAPE(2, 4), NB_F32);
    /* index dtype */
    CHECK_NULL_WITH(nb_gather(x, 0, fi), "nb_gather", "index", "dtype f32", "i64 or i32");
    CHECK_NULL_WITH(nb_index_select(x, 0, i8), "nb_index_select", "index", "i8");
    CHECK_NULL_WITH(nb_scatter(x, 0, fi, src), "nb_scatter", "index", "f32");
    CHECK_NULL_WITH(nb_scatter_value(x, 0, fi, 1), "nb_scatter_value", "index", "f32");
    CHECK_NULL_WITH(nb_scatter_add(x, 0, i8, src), "nb_scatter_add", "i8");
    CHECK_NULL_WITH(nb_scatter_reduce(x, 0, fi, src, "sum", true), "nb_scatter_reduce", "f32");
    CHECK_NULL_WITH(nb_index_add(x, 0, fi, src, 1), "nb_index_add", "index");
    /* out-of-range and negative indices: the function, the dim and the value */
    CHECK_NULL_WITH(nb_gather(x, 0, bad), "nb_gather", "index 3", "dim 0", "size 3");
    CHECK_NULL_WITH(nb_gather(x, 1, neg), "nb_gather", "index -1", "dim 1");
    CHECK_NULL_WITH(nb_scatter(x, 0, bad, src), "nb_scatter", "index 3", "dim 0");
    CHECK_NULL_WITH(nb_scatter_value(x, -2, neg, 1), "nb_scatter_value: index -1", "dim 0");
    CHECK_NULL_WITH(nb_scatter_add(x, 0, bad, src), "nb_scatter_add", "index 3", "dim 0");
    CHECK_NULL_WITH(nb_scatter_reduce(x, 0, neg, src, "amax", false), "nb_scatter_reduce", "index -1", "dim 0");
    nb_tensor *i1 = nb_from_data((const int64_t[]){0, 4}, NB_SHAPE(2), NB_I64);
    CHECK_NULL_WITH(nb_index_select(x, 1, i1), "nb_index_select", "index 4", "dim 1", "size 4");
    CHECK_NULL_WITH(nb_index_select(x, 0, nb_from_data((const int32_t[]){-3}, NB_SHAPE(1), NB_I32)), "nb_index_select",
                    "index -3", "dim 0");
    CHECK_NULL_WITH(nb_index_add(x, 1, i1, nb_ones(NB_SHAPE(3, 2), NB_F32), 1), "nb_index_add", "index 4", "dim 1");
    /* dims */
    CHECK_NULL_WITH(nb_gather(x, 2, i64), "nb_gather", "out of range");
    CHECK_NULL_WITH(nb_index_select(x, -3, i1), "nb_index_select", "out of range");
    CHECK_NULL_WITH(nb_scatter(x, 5, i64, src), "nb_scatter", "out of range");
    CHECK_NULL_WITH(nb_index_add(x, 2, i1, src, 1), "nb_index_add", "out of range");
    /* shapes */
    CHECK_NULL_WITH(nb_gather(x, 0, nb_zeros(NB_SHAPE(2, 4, 1), NB_I64)), "nb_gather", "dims", "[3, 4]");
    CHECK_NULL_WITH(nb_gather(x, 0, nb_zeros(NB_SHAPE(2, 5), NB_I64)), "nb_gather", "larger", "dim 1");
    CHECK_NULL_WITH(nb_scatter(x, 0, i64, nb_ones(NB_SHAPE(2, 3), NB_F32)), "nb_scatter", "larger than src", "dim 1");
    CHECK_NULL_WITH(nb_scatter_add(x, 1, nb_zeros(NB_SHAPE(4, 1), NB_I64), nb_ones(NB_SHAPE(4, 1), NB_F32)),
                    "nb_scatter_add", "larger than self", "dim 0");
    CHECK_NULL_WITH(nb_index_select(x, 0, i64), "nb_index_select", "0-d or 1-D");
    CHECK_NULL_WITH(nb_index_add(x, 1, i1, nb_ones(NB_SHAPE(3, 3), NB_F32), 1), "nb_index_add", "[3, 3]", "dim 1 of size 2");
    /* dtypes of src / source / mask, reduce names, alpha */
    CHECK_NULL_WITH(nb_scatter(x, 0, i64, nb_ones(NB_SHAPE(2, 4), NB_F64)), "nb_scatter", "src", "f64", "f32");
    CHECK_NULL_WITH(nb_scatter_add(x, 0, i64, nb_ones(NB_SHAPE(2, 4), NB_I32)), "nb_scatter_add", "i32");
    CHECK_NULL_WITH(nb_index_add(x, 1, i1, nb_ones(NB_SHAPE(3, 2), NB_F16), 1), "nb_index_add", "source", "f16");
    CHECK_NULL_WITH(nb_scatter_reduce(x, 0, i64, src, "prod", true), "nb_scatter_reduce", "prod");
    CHECK_NULL_WITH(nb_scatter_reduce(x, 0, i64, src, NULL, true), "nb_scatter_reduce", "(null)");
    CHECK_NULL_WITH(nb_index_add(nb_zeros(NB_SHAPE(3), NB_I32), 0, i1, nb_ones(NB_SHAPE(2), NB_I32), 0.5), "nb_index_add",
                    "alpha", "integer");
    CHECK_NULL_WITH(nb_masked_fill(x, nb_ones(NB_SHAPE(3, 4), NB_U8), 1), "nb_masked_fill", "mask", "u8", "bool");
    CHECK_NULL_WITH(nb_masked_select(x, nb_ones(NB_SHAPE(4), NB_F32)), "nb_masked_select", "mask", "bool");
    CHECK_NULL_WITH(nb_masked_fill(x, nb_ones(NB_SHAPE(2, 4), NB_BOOL), 1), "nb_masked_fill", "[3, 4]", "[2, 4]");
    CHECK_NULL_WITH(nb_masked_select(x, nb_ones(NB_SHAPE(3), NB_BOOL)), "nb_masked_select", "broadcast");
    /* NULL arguments */
    CHECK_NULL_WITH(nb_gather(NULL, 0, i64), "nb_gather");
    CHECK_NULL_WITH(nb_scatter(x, 0, i64, NULL), "nb_scatter", "#4");
    CHECK_NULL_WITH(nb_nonzero(NULL), "nb_nonzero");
    CHECK_NULL_WITH(nb_masked_select(x, NULL), "nb_masked_select");
    /* views */
    nb_tensor *p[4];
    CHECK_RC_WITH(nb_split(x, 0, 1, p, 4), "nb_split", "split_size 0");
    CHECK_RC_WITH(nb_split(x, -1, 1, p, 4), "nb_split", "split_size -1");
    CHECK_RC_WITH(nb_split(x, 1, 1, p, 3), "nb_split", "4 pieces", "max_out");
    CHECK_RC_WITH(nb_split(x, 1, 2, p, 4), "nb_split", "out of range");
    CHECK_RC_WITH(nb_split(nb_scalar(1, NB_F32), 1, 0, p, 4), "nb_split", "0-d");
    CHECK_RC_WITH(nb_split_sizes(x, NB_SHAPE(1, 2), 1, p, 4), "nb_split_sizes", "sum to 3", "size 4");
    CHECK_RC_WITH(nb_split_sizes(x, NB_SHAPE(5, -1), 1, p, 4), "nb_split_sizes", "negative");
    CHECK_RC_WITH(nb_chunk(x, 0, 0, p, 4), "nb_chunk", "chunks 0");
    CHECK_RC_WITH(nb_chunk(x, 2, -3, p, 4), "nb_chunk", "out of range");
    CHECK_NULL_WITH(nb_narrow(x, 1, 2, 3), "nb_narrow", "start 2", "length 3", "size 4");
    CHECK_NULL_WITH(nb_narrow(x, 1, -5, 1), "nb_narrow", "start -5");
    CHECK_NULL_WITH(nb_narrow(x, 1, 0, -1), "nb_narrow", "length -1");
    CHECK_NULL_WITH(nb_narrow(nb_scalar(1, NB_F32), 0, 0, 1), "nb_narrow", "0-d");
    nb_tensor *two[2] = {x, nb_zeros(NB_SHAPE(4, 3), NB_F32)};
    CHECK_NULL_WITH(nb_stack(two, 2, 0), "nb_stack", "[3, 4]", "[4, 3]", "entry 1");
    CHECK_NULL_WITH(nb_stack(two, 1, 3), "nb_stack", "out of range");
    CHECK_NULL_WITH(nb_stack(two, 0, 0), "nb_stack", "at least one");
    CHECK_NULL_WITH(nb_unflatten(x, 1, NB_SHAPE(3, -1)), "nb_unflatten", "[3, -1]", "size of dim 1 (4)");
    CHECK_NULL_WITH(nb_unflatten(x, 1, NB_SHAPE(-1, -1)), "nb_unflatten", "at most one -1");
    CHECK_NULL_WITH(nb_unflatten(x, 2, NB_SHAPE(2, 2)), "nb_unflatten", "out of range");
    CHECK_NULL_WITH(nb_unflatten(nb_scalar(1, NB_F32), 0, NB_SHAPE(1)), "nb_unflatten", "0-d");
    nb_clear_error();
}

/* Big scatters run on several threads; each target still sees its writes in the index's C order, so
 * 1 and 2 threads give the same bits (f32 sums with many collisions, last-write-wins copies). */
static void test_threads_bitwise(void) {
    nb_manual_seed(3);
    nb_tensor *x = nb_randn(NB_SHAPE(300, 257), NB_F32), *src = nb_randn(NB_SHAPE(600, 257), NB_F32);
    nb_tensor *i0 = nb_randint(0, 300, NB_SHAPE(600, 257), NB_I64), *i1 = nb_randint(0, 257, NB_SHAPE(300, 257), NB_I32);
    nb_tensor *s1 = nb_randn(NB_SHAPE(300, 257), NB_F32), *i2 = nb_randint(0, 300, NB_SHAPE(600), NB_I64);
    nb_tensor *i3 = nb_randint(0, 257, NB_SHAPE(500), NB_I32), *s3 = nb_randn(NB_SHAPE(300, 500), NB_F32);
    int before = nb_get_num_threads();
    nb_tensor *r[2][8];
    for (int t = 0; t < 2; t++) {
        nb_set_num_threads(t + 1);
        r[t][0] = nb_scatter_add(x, 0, i0, src);
        r[t][1] = nb_scatter_add(x, 1, i1, s1);
        r[t][2] = nb_scatter(x, 0, i0, src);
        r[t][3] = nb_scatter_reduce(x, 0, i0, src, "mean", false);
        r[t][4] = nb_scatter_reduce(x, 1, i1, s1, "amax", true);
        r[t][5] = nb_gather(src, 1, i1);
        r[t][6] = nb_index_add(x, 0, i2, src, 0.5);
        r[t][7] = nb_index_add(x, 1, i3, s3, -1);
    }
    nb_set_num_threads(before);
    for (int k = 0; k < 8; k++) {
        CHECK_MSG(r[0][k] && r[1][k] && memcmp(nb_data(r[0][k]), nb_data(r[1][k]), (size_t)nb_numel(r[0][k]) * 4) == 0,
                  "result #%d differs between 1 and 2 threads", k);
    }
    /* and the parallel scatter_add matches the f64 reference */
    double *xv = ref_read(x), *sv = ref_read(src), *iv = ref_read(i0);
    for (int64_t i = 0; i < 600 * 257; i++) xv[(int64_t)iv[i] * 257 + i % 257] += sv[i];
    ref_set_ctx("big scatter_add");
    CHECK_REF(r[1][0], NB_F32, NB_SHAPE(300, 257), xv, 1e-5, 1e-5);
}

int main(void) {
    ref_seed(11);
    REF_RUN(test_gather);
    REF_RUN(test_scatter_family);
    REF_RUN(test_scatter_reduce_gradient);
    REF_RUN(test_index_select_add);
    REF_RUN(test_index_gradients);
    REF_RUN(test_masked);
    REF_RUN(test_masked_gradients);
    REF_RUN(test_nonzero);
    REF_RUN(test_stack);
    REF_RUN(test_views);
    REF_RUN(test_threads_bitwise);
    REF_RUN(test_errors);
    return harness_finish();
}
