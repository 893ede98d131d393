/* tests/test_ops_shape.c — reshape / view (and nb_view failing on layouts that need a copy),
 * flatten, permute, transpose, slice (negative, clamped, stepped), expand, squeeze / unsqueeze, cat
 * with mixed dtypes, clone, contiguous, and nb_to between every pair of dtypes (f16 / bf16 round to
 * nearest even, float to integer truncates and saturates, integer narrowing wraps). Values are
 * checked against references computed here; views are checked to share storage. */
#include "ref.h"

/* A contiguous tensor holding 0, 1, 2, ... in C order. */
static nb_tensor *iota(int nd, const int64_t *shape, nb_dtype dt) {
    int64_t n = ref_numel(nd, shape);
    double *v = ref_darray(n);
    for (int64_t i = 0; i < n; i++) v[i] = (double)i;
    return ref_contig(v, nd, shape, dt);
}

static double *iota_vals(int64_t n) {
    double *v = ref_darray(n);
    for (int64_t i = 0; i < n; i++) v[i] = (double)i;
    return v;
}

/* True when a and b are views of one storage: a write through a shows in b (and bumps b's version). */
static bool shares_storage(nb_tensor *a, nb_tensor *b) {
    if (!a || !b || nb_numel(a) == 0 || nb_numel(b) == 0) return false;
    int64_t zero[NB_MAX_DIMS] = {0};
    double old = h_get(a, nb_ndim(a), zero), *before = ref_read(b), *after;
    uint64_t v0 = nb_version(b);
    nb_set(a, nb_ndim(a), zero, old == 1 ? 0 : 1);
    after = ref_read(b);
    nb_set(a, nb_ndim(a), zero, old);
    int64_t changed = 0;
    for (int64_t i = 0; i < nb_numel(b); i++) changed += before[i] != after[i] && !(isnan(before[i]) && isnan(after[i]));
    return changed > 0 && nb_version(b) == v0 + 2;
}

/* ---- reshape / view ----------------------------------------------------------------------------- */

static void test_reshape_view(void) {
    nb_tensor *x = iota(NB_SHAPE(7, 17), NB_F32);
    double *v = iota_vals(119);
    static const struct {
        int nd;
        int64_t in[4], out[4];
    } cases[] = {{2, {17, 7}, {17, 7}}, {1, {-1}, {119}}, {4, {1, 7, 1, 17}, {1, 7, 1, 17}}, {2, {7, -1}, {7, 17}},
                 {3, {-1, 1, 17}, {7, 1, 17}}};
    for (int c = 0; c < REF_COUNT(cases); c++) {
        ref_set_ctx("reshape/view [7, 17] -> %s", ref_shape_str(cases[c].nd, cases[c].in));
        nb_tensor *r = nb_reshape(x, cases[c].nd, cases[c].in), *w = nb_view(x, cases[c].nd, cases[c].in);
        CHECK_REF(r, NB_F32, cases[c].nd, cases[c].out, v, 0, 0);
        CHECK_REF(w, NB_F32, cases[c].nd, cases[c].out, v, 0, 0);
        CHECK(shares_storage(r, x) && shares_storage(x, w));
    }
    /* 0-d and one-element tensors */
    nb_tensor *s = nb_scalar(5, NB_F64);
    ref_set_ctx("reshape 0-d");
    CHECK_REF(nb_reshape(s, NB_SHAPE(1, 1)), NB_F64, NB_SHAPE(1, 1), ((const double[]){5}), 0, 0);
    CHECK_REF(nb_view(nb_reshape(s, NB_SHAPE(1)), NB_SCALAR), NB_F64, NB_SCALAR, ((const double[]){5}), 0, 0);
    CHECK_REF(nb_reshape(s, NB_SHAPE(-1)), NB_F64, NB_SHAPE(1), ((const double[]){5}), 0, 0);
    /* empty tensors */
    nb_tensor *e = nb_zeros(NB_SHAPE(0, 5), NB_F32);
    CHECK_REF(nb_reshape(e, NB_SHAPE(5, 0, 3)), NB_F32, NB_SHAPE(5, 0, 3), NULL, 0, 0);
    CHECK_REF(nb_view(e, NB_SHAPE(-1, 5)), NB_F32, NB_SHAPE(0, 5), NULL, 0, 0);
    CHECK_NULL_WITH(nb_reshape(e, NB_SHAPE(0, -1)), "nb_reshape", "[0, -1]");
    /* a transposed tensor: reshape copies (in the transposed order), view refuses */
    nb_tensor *t = nb_transpose(x, 0, 1);
    double *tv = ref_darray(119);
    for (int i = 0; i < 119; i++) tv[i] = (double)((i % 7) * 17 + i / 7);
    ref_set_ctx("reshape of a transpose");
    nb_tensor *rt = nb_reshape(t, NB_SHAPE(119));
    CHECK_REF(rt, NB_F32, NB_SHAPE(119), tv, 0, 0);
    CHECK(!shares_storage(rt, x));
    CHECK_NULL_WITH(nb_view(t, NB_SHAPE(119)), "nb_view", "nb_reshape", "[17, 7]");
    /* transposed, but the new shape only splits dims: view works */
    nb_tensor *tw = nb_view(nb_unsqueeze(t, 1), NB_SHAPE(17, 1, 7, 1));
    CHECK_REF(tw, NB_F32, NB_SHAPE(17, 1, 7, 1), tv, 0, 0);
    CHECK(shares_storage(tw, x));
    /* a stepped slice [6, 4] of a [6, 10] tensor (strides 10, 2): dims can be split, not merged */
    nb_tensor *b = iota(NB_SHAPE(6, 10), NB_I32), *st = nb_slice(b, 1, 0, 8, 2);
    double sv[24];
    for (int i = 0; i < 24; i++) sv[i] = (double)((i / 4) * 10 + (i % 4) * 2);
    ref_set_ctx("view of a stepped slice");
    nb_tensor *v1 = nb_view(st, NB_SHAPE(3, 2, 4)), *v2 = nb_view(st, NB_SHAPE(6, 2, 2));
    CHECK_REF(v1, NB_I32, NB_SHAPE(3, 2, 4), sv, 0, 0);
    CHECK_REF(v2, NB_I32, NB_SHAPE(6, 2, 2), sv, 0, 0);
    CHECK(shares_storage(v1, b) && shares_storage(v2, b));
    CHECK_NULL_WITH(nb_view(st, NB_SHAPE(24)), "nb_view");
    CHECK_NULL_WITH(nb_view(st, NB_SHAPE(12, 2)), "nb_view");
    CHECK_REF(nb_reshape(st, NB_SHAPE(12, 2)), NB_I32, NB_SHAPE(12, 2), sv, 0, 0);
    /* with a [6, 8] base the step-2 elements are evenly spaced, so even merging is a view */
    nb_tensor *b8 = iota(NB_SHAPE(6, 8), NB_I32), *m8 = nb_view(nb_slice(b8, 1, 0, 8, 2), NB_SHAPE(24));
    double mv[24];
    for (int i = 0; i < 24; i++) mv[i] = 2.0 * i;
    CHECK_REF(m8, NB_I32, NB_SHAPE(24), mv, 0, 0);
    CHECK(shares_storage(m8, b8));
    /* an expanded tensor: adding size-1 dims is a view, flattening is not */
    nb_tensor *ex = nb_expand(iota(NB_SHAPE(7, 1), NB_F32), NB_SHAPE(7, 5));
    CHECK(nb_view(ex, NB_SHAPE(7, 5, 1)) != NULL);
    CHECK_NULL_WITH(nb_view(ex, NB_SHAPE(35)), "nb_view");
    double exv[35];
    for (int i = 0; i < 35; i++) exv[i] = (double)(i / 5);
    ref_set_ctx("reshape of an expand");
    CHECK_REF(nb_reshape(ex, NB_SHAPE(35)), NB_F32, NB_SHAPE(35), exv, 0, 0);
    /* argument errors */
    CHECK_NULL_WITH(nb_reshape(x, NB_SHAPE(5, 20)), "nb_reshape", "[5, 20]", "invalid");
    CHECK_NULL_WITH(nb_view(x, NB_SHAPE(-1, -1)), "nb_view", "only one");
    CHECK_NULL_WITH(nb_reshape(x, NB_SHAPE(-2, -119)), "nb_reshape", "invalid size");
    CHECK_NULL_WITH(nb_reshape(x, NB_SHAPE(10, -1)), "nb_reshape", "[10, -1]");
    CHECK_NULL_WITH(nb_reshape(NULL, NB_SHAPE(1)), "nb_reshape");
}

static void test_flatten(void) {
    double *v = iota_vals(120);
    nb_tensor *x = iota(NB_SHAPE(2, 3, 4, 5), NB_I64);
    ref_set_ctx("flatten");
    CHECK_REF(nb_flatten(x, 1, 2), NB_I64, NB_SHAPE(2, 12, 5), v, 0, 0);
    CHECK_REF(nb_flatten(x, 0, -1), NB_I64, NB_SHAPE(120), v, 0, 0);
    CHECK_REF(nb_flatten(x, -2, -1), NB_I64, NB_SHAPE(2, 3, 20), v, 0, 0);
    CHECK_REF(nb_flatten(x, 2, 2), NB_I64, NB_SHAPE(2, 3, 4, 5), v, 0, 0);
    CHECK_REF(nb_flatten(nb_scalar(3, NB_F32), 0, -1), NB_F32, NB_SHAPE(1), ((const double[]){3}), 0, 0);
    /* of a permuted tensor: values in the permuted order */
    nb_tensor *p = nb_permute(x, NB_LIST(3, 0, 1, 2)); /* [5, 2, 3, 4] */
    double *pv = ref_darray(120);
    for (int i = 0; i < 120; i++) pv[i] = (double)((i % 24) * 5 + i / 24);
    CHECK_REF(nb_flatten(p, 1, 3), NB_I64, NB_SHAPE(5, 24), pv, 0, 0);
    CHECK_NULL_WITH(nb_flatten(x, 2, 1), "nb_flatten", "start_dim");
    CHECK_NULL_WITH(nb_flatten(x, 0, 4), "nb_flatten", "out of range");
}

/* ---- permute / transpose ------------------------------------------------------------------------ */

static void test_permute_transpose(void) {
    const int64_t shape[4] = {2, 7, 1, 3};
    double *v = iota_vals(42);
    static const int64_t perms[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {-1, 0, -2, 1}};
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
        for (int p = 0; p < REF_COUNT(perms); p++) {
            nb_dtype dt = ref_all_dtypes[d];
            nb_tensor *x = ref_contig(dt == NB_BOOL ? ref_values(42, NB_BOOL, 0, 1) : v, 4, shape, dt);
            double *xv = ref_read(x);
            int64_t perm[4], os[4];
            for (int k = 0; k < 4; k++) perm[k] = perms[p][k] < 0 ? perms[p][k] + 4 : perms[p][k];
            for (int k = 0; k < 4; k++) os[k] = shape[perm[k]];
            double *e = ref_darray(42);
            for (int64_t i = 0; i < 42; i++) { /* output index -> input index */
                int64_t rem = i, idx[4], in = 0;
                for (int k = 3; k >= 0; k--) idx[k] = rem % os[k], rem /= os[k];
                int64_t src[4];
                for (int k = 0; k < 4; k++) src[perm[k]] = idx[k];
                for (int k = 0; k < 4; k++) in = in * shape[k] + src[k];
                e[i] = xv[in];
            }
            ref_set_ctx("permute %s #%d", nb_dtype_name(dt), p);
            nb_tensor *y = nb_permute(x, 4, perms[p]);
            CHECK_REF(y, dt, 4, os, e, 0, 0);
            CHECK(shares_storage(y, x));
            /* permuting back restores the original layout */
            int64_t inv[4];
            for (int k = 0; k < 4; k++) inv[perm[k]] = k;
            nb_tensor *back = nb_permute(y, 4, inv);
            CHECK(back && nb_is_contiguous(back) && nb_data(back) == nb_data(x));
        }
    nb_tensor *x = iota(NB_SHAPE(7, 17), NB_F64);
    double *t = ref_darray(119);
    for (int i = 0; i < 119; i++) t[i] = (double)((i % 7) * 17 + i / 7);
    ref_set_ctx("transpose");
    CHECK_REF(nb_transpose(x, 0, 1), NB_F64, NB_SHAPE(17, 7), t, 0, 0);
    CHECK_REF(nb_transpose(x, -1, -2), NB_F64, NB_SHAPE(17, 7), t, 0, 0);
    CHECK_REF(nb_transpose(x, 1, 1), NB_F64, NB_SHAPE(7, 17), iota_vals(119), 0, 0);
    CHECK_REF(nb_transpose(nb_transpose(x, 0, 1), 1, 0), NB_F64, NB_SHAPE(7, 17), iota_vals(119), 0, 0);
    CHECK_REF(nb_transpose(nb_scalar(2, NB_F32), 0, 0), NB_F32, NB_SCALAR, ((const double[]){2}), 0, 0);
    CHECK(!nb_is_contiguous(nb_transpose(x, 0, 1)));
    CHECK_NULL_WITH(nb_transpose(x, 0, 2), "nb_transpose", "out of range");
    CHECK_NULL_WITH(nb_permute(x, NB_LIST(0, 0)), "nb_permute", "twice");
    CHECK_NULL_WITH(nb_permute(x, NB_LIST(0)), "nb_permute", "1 dims");
    CHECK_NULL_WITH(nb_permute(x, NB_LIST(0, 2)), "nb_permute", "out of range");
}

/* ---- slice -------------------------------------------------------------------------------------- */

static void test_slice(void) {
    static const int64_t cases[][3] = {
        {0, 17, 1}, {2, 9, 3},    {-5, 17, 2}, {-100, 100, 4}, {10, 3, 1}, {17, 20, 1}, {-1, -1, 1},
        {-3, -1, 1}, {5, 6, 129}, {0, -1, 16}, {-17, 1, 1},    {16, 17, 1}, {0, 0, 1},   {3, INT64_MAX, 7},
    };
    nb_tensor *x = iota(NB_SHAPE(17), NB_F32), *m = iota(NB_SHAPE(3, 17), NB_I32);
    for (int c = 0; c < REF_COUNT(cases); c++) {
        int64_t st = cases[c][0], en = cases[c][1], step = cases[c][2], n = 17;
        /* Python slice semantics for a positive step */
        int64_t s = st < 0 ? st + n : st, e = en < 0 ? en + n : en;
        s = s < 0 ? 0 : s > n ? n : s;
        e = e < 0 ? 0 : e > n ? n : e;
        double ev[17], mv[51];
        int64_t k = 0;
        for (int64_t i = s; i < e; i += step) ev[k++] = (double)i;
        for (int r = 0; r < 3; r++)
            for (int64_t j = 0; j < k; j++) mv[r * k + j] = ev[j] + 17 * r;
        ref_set_ctx("slice(%lld, %lld, %lld)", (long long)st, (long long)en, (long long)step);
        nb_tensor *y = nb_slice(x, 0, st, en, step);
        CHECK_REF(y, NB_F32, NB_SHAPE(k), ev, 0, 0);
        if (k) CHECK(shares_storage(y, x));
        CHECK_REF(nb_slice(m, -1, st, en, step), NB_I32, NB_SHAPE(3, k), mv, 0, 0);
        /* along dim 0 of the transpose: the same elements */
        CHECK_REF(nb_transpose(nb_slice(nb_transpose(m, 0, 1), 0, st, en, step), 0, 1), NB_I32, NB_SHAPE(3, k),
                  mv, 0, 0);
    }
    /* slices of slices compose their offsets and steps: x[1::2][2:7:3] = x[5], x[11] */
    ref_set_ctx("slice of slice");
    CHECK_REF(nb_slice(nb_slice(x, 0, 1, 17, 2), -1, 2, 7, 3), NB_F32, NB_SHAPE(2), ((const double[]){5, 11}), 0, 0);
    nb_tensor *mm = nb_slice(nb_slice(m, 0, 1, 3, 1), 1, -4, 17, 2); /* rows 1..2, columns 13, 15 */
    CHECK_REF(mm, NB_I32, NB_SHAPE(2, 2), ((const double[]){30, 32, 47, 49}), 0, 0);
    CHECK_REF(nb_contiguous(mm), NB_I32, NB_SHAPE(2, 2), ((const double[]){30, 32, 47, 49}), 0, 0);
    CHECK_NULL_WITH(nb_slice(x, 0, 0, 5, 0), "nb_slice", "step");
    CHECK_NULL_WITH(nb_slice(x, 0, 5, 0, -1), "nb_slice", "step");
    CHECK_NULL_WITH(nb_slice(nb_scalar(1, NB_F32), 0, 0, 1, 1), "nb_slice", "0-d");
    CHECK_NULL_WITH(nb_slice(x, 1, 0, 1, 1), "nb_slice", "out of range");
}

/* The internal op slice_backward is slice's gradient: zeros with the output gradient in the slice. */
static void test_slice_gradient(void) {
    nb_tensor *x = nb_param(nb_reshape(nb_arange(0, 30, 1, NB_F64), NB_SHAPE(3, 10)));
    nb_tensor *s = nb_slice(nb_transpose(x, 0, 1), 0, -9, 9, 3); /* rows 1, 4, 7 of x^T: [3, 3] */
    nb_tensor *w = nb_reshape(nb_arange(1, 10, 1, NB_F64), NB_SHAPE(3, 3));
    CHECK(nb_backward(nb_sum(nb_mul(s, w), NULL)) == 0);
    double e[30] = {0};
    for (int i = 0; i < 3; i++)     /* s[i][j] = x[j][1 + 3 i] */
        for (int j = 0; j < 3; j++) e[j * 10 + 1 + 3 * i] = 1 + i * 3 + j;
    ref_set_ctx("slice gradient");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(3, 10), e, 0, 0);
    /* an empty slice gives a zero gradient */
    nb_zero_grad(x);
    CHECK(nb_backward(nb_sum(nb_slice(x, 1, 5, 5, 1), NULL)) == 0);
    double z[30] = {0};
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(3, 10), z, 0, 0);
}

/* Every op in the registry has reference tests in tests/test_ops_*.c (internal ops through the
 * public op whose gradient they are). Add new ops here together with their tests. */
static void test_registry_covered(void) {
    static const char *const covered[] = {
        "neg", "abs", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sign",                  /* unary */
        "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
        "where",                                                                                  /* binary */
        "sum", "mean", "max", "min", "argmax",                                                    /* reduce */
        "matmul", "softmax", "log_softmax", "nll_loss", "nll_loss_weight", "one_hot",             /* ... */
        "reshape", "permute", "slice", "slice_backward", "expand", "cat", "clone", "to",          /* shape */
        "conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d", "max_pool2d_backward",
        "pool_gather", /* test_ops_conv.c */
        "batch_norm", "batch_norm_backward", /* test_ops_norm.c */
#include "covered/pointwise.inc"
#include "covered/reductions.inc"
#include "covered/indexing.inc"
#include "covered/layout.inc"
#include "covered/spatial.inc"
#include "covered/neural.inc"
#include "covered/losses.inc"
    };
    for (int i = 0; i < nb_op_count(); i++) {
        nb_op_info info;
        CHECK(nb_op_get_info(i, &info) == 0);
        bool found = false;
        for (int k = 0; k < REF_COUNT(covered) && !found; k++) found = strcmp(covered[k], info.name) == 0;
        CHECK_MSG(found, "op \"%s\" has no reference test listed in tests/test_ops_shape.c or tests/covered/", info.name);
    }
    for (int i = 0; i < nb_func_count(); i++) {
        nb_func_info f;
        CHECK(nb_func_get_info(i, &f) == 0);
        bool found = false;
        for (int k = 0; k < REF_COUNT(covered) && !found; k++) found = strcmp(covered[k], f.name) == 0;
        CHECK_MSG(found, "function nb_%s has no reference test listed in tests/covered/", f.name);
    }
}

/* ---- expand, squeeze, unsqueeze ----------------------------------------------------------------- */

static void test_expand(void) {
    nb_tensor *x = iota(NB_SHAPE(7, 1), NB_F32);
    double e[3 * 7 * 5];
    for (int i = 0; i < 105; i++) e[i] = (double)((i / 5) % 7);
    ref_set_ctx("expand");
    nb_tensor *y = nb_expand(x, NB_SHAPE(7, 5));
    CHECK_REF(y, NB_F32, NB_SHAPE(7, 5), e, 0, 0);
    CHECK(y && nb_strides(y)[1] == 0 && shares_storage(x, y));
    CHECK_REF(nb_expand(x, NB_SHAPE(-1, 5)), NB_F32, NB_SHAPE(7, 5), e, 0, 0);
    CHECK_REF(nb_expand(x, NB_SHAPE(3, 7, 5)), NB_F32, NB_SHAPE(3, 7, 5), e, 0, 0);
    CHECK_REF(nb_expand(x, NB_SHAPE(1, -1, 5)), NB_F32, NB_SHAPE(1, 7, 5), e, 0, 0);
    CHECK_REF(nb_expand(x, NB_SHAPE(7, 1)), NB_F32, NB_SHAPE(7, 1), iota_vals(7), 0, 0);
    CHECK_REF(nb_expand(x, NB_SHAPE(7, 0)), NB_F32, NB_SHAPE(7, 0), e, 0, 0);
    CHECK_REF(nb_expand(nb_scalar(4, NB_I8), NB_SHAPE(2, 3)), NB_I8, NB_SHAPE(2, 3), ((const double[]){4, 4, 4, 4, 4, 4}), 0, 0);
    /* expanding a stepped view keeps its strides */
    nb_tensor *s = nb_slice(iota(NB_SHAPE(1, 9), NB_F64), 1, 1, 9, 3); /* [1, 3]: 1, 4, 7 */
    CHECK_REF(nb_expand(s, NB_SHAPE(2, 3)), NB_F64, NB_SHAPE(2, 3), ((const double[]){1, 4, 7, 1, 4, 7}), 0, 0);
    /* expand of an expand, then materialised */
    nb_tensor *ee = nb_contiguous(nb_expand(nb_unsqueeze(y, 0), NB_SHAPE(3, 7, 5)));
    CHECK_REF(ee, NB_F32, NB_SHAPE(3, 7, 5), e, 0, 0);
    CHECK(ee && nb_is_contiguous(ee) && !shares_storage(ee, x));
    CHECK_NULL_WITH(nb_expand(x, NB_SHAPE(7, 2, 1)), "nb_expand", "[7, 2, 1]");
    CHECK_NULL_WITH(nb_expand(x, NB_SHAPE(5)), "nb_expand", "1 dims");
    CHECK_NULL_WITH(nb_expand(x, NB_SHAPE(-1, 7, 5)), "nb_expand", "-1");
    CHECK_NULL_WITH(nb_expand(x, NB_SHAPE(6, 5)), "nb_expand", "dim 0");
}

static void test_squeeze_unsqueeze(void) {
    nb_tensor *x = iota(NB_SHAPE(1, 7, 1, 17), NB_F32);
    double *v = iota_vals(119);
    ref_set_ctx("squeeze");
    CHECK_REF(nb_squeeze(x, NB_DIM_ALL), NB_F32, NB_SHAPE(7, 17), v, 0, 0);
    CHECK_REF(nb_squeeze(x, 2), NB_F32, NB_SHAPE(1, 7, 17), v, 0, 0);
    CHECK_REF(nb_squeeze(x, -4), NB_F32, NB_SHAPE(7, 1, 17), v, 0, 0);
    CHECK_REF(nb_squeeze(x, 1), NB_F32, NB_SHAPE(1, 7, 1, 17), v, 0, 0); /* size 7: unchanged */
    CHECK_REF(nb_squeeze(nb_scalar(3, NB_F32), 0), NB_F32, NB_SCALAR, ((const double[]){3}), 0, 0);
    CHECK_REF(nb_squeeze(nb_zeros(NB_SHAPE(1, 0, 1), NB_F32), NB_DIM_ALL), NB_F32, NB_SHAPE(0), v, 0, 0);
    CHECK(shares_storage(nb_squeeze(x, NB_DIM_ALL), x));
    ref_set_ctx("unsqueeze");
    nb_tensor *y = nb_squeeze(x, NB_DIM_ALL);
    CHECK_REF(nb_unsqueeze(y, 0), NB_F32, NB_SHAPE(1, 7, 17), v, 0, 0);
    CHECK_REF(nb_unsqueeze(y, 1), NB_F32, NB_SHAPE(7, 1, 17), v, 0, 0);
    CHECK_REF(nb_unsqueeze(y, 2), NB_F32, NB_SHAPE(7, 17, 1), v, 0, 0);
    CHECK_REF(nb_unsqueeze(y, -1), NB_F32, NB_SHAPE(7, 17, 1), v, 0, 0);
    CHECK_REF(nb_unsqueeze(y, -3), NB_F32, NB_SHAPE(1, 7, 17), v, 0, 0);
    CHECK_REF(nb_unsqueeze(nb_scalar(2, NB_F32), 0), NB_F32, NB_SHAPE(1), ((const double[]){2}), 0, 0);
    /* on a transposed view: no copy, the values follow the view */
    nb_tensor *t = nb_transpose(y, 0, 1);
    double tv[119];
    for (int i = 0; i < 119; i++) tv[i] = (double)((i % 7) * 17 + i / 7);
    nb_tensor *tu = nb_unsqueeze(t, 1);
    CHECK_REF(tu, NB_F32, NB_SHAPE(17, 1, 7), tv, 0, 0);
    CHECK(shares_storage(tu, x));
    CHECK_REF(nb_squeeze(tu, 1), NB_F32, NB_SHAPE(17, 7), tv, 0, 0);
    CHECK_NULL_WITH(nb_unsqueeze(y, 3), "nb_unsqueeze", "out of range");
    CHECK_NULL_WITH(nb_squeeze(y, 2), "nb_squeeze", "out of range");
    nb_tensor *full = nb_zeros(NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 1), NB_F32);
    CHECK_NULL_WITH(nb_unsqueeze(full, 0), "nb_unsqueeze", "maximum");
}

/* ---- cat ---------------------------------------------------------------------------------------- */

static void test_cat(void) {
    ref_seed(50);
    static const nb_dtype mixes[][3] = {
        {NB_F32, NB_F32, NB_F32}, {NB_F32, NB_I32, NB_F32}, {NB_I8, NB_U8, NB_I32},   {NB_BOOL, NB_I64, NB_I64},
        {NB_F16, NB_BF16, NB_F32}, {NB_F16, NB_I64, NB_F16}, {NB_BOOL, NB_BOOL, NB_BOOL}, {NB_U8, NB_F64, NB_F64},
    };
    for (int mi = 0; mi < REF_COUNT(mixes); mi++)
        for (int dim = 0; dim < 3; dim++)
            for (int l = 0; l < REF_LAYOUTS; l++) {
                /* three pieces of [7, 1, 17] with sizes 3, 0, 5 along dim (0 = an empty piece) */
                static const int64_t len[3] = {3, 0, 5};
                int64_t base[3] = {7, 1, 17}, shapes[3][3], total = 8;
                nb_tensor *xs[3];
                double *vals[3];
                for (int p = 0; p < 3; p++) {
                    memcpy(shapes[p], base, sizeof base);
                    shapes[p][dim] = len[p];
                    nb_dtype dt = mixes[mi][p == 2 ? 0 : p];
                    vals[p] = ref_values(ref_numel(3, shapes[p]), dt, dt == NB_U8 ? 0 : -4, 4);
                    xs[p] = ref_tensor(vals[p], 3, shapes[p], dt, (l + p) % REF_LAYOUTS);
                }
                int64_t os[3] = {7, 1, 17};
                os[dim] = total;
                int64_t n = ref_numel(3, os);
                double *e = ref_darray(n);
                for (int64_t i = 0; i < n; i++) {
                    int64_t idx[3], rem = i;
                    for (int k = 2; k >= 0; k--) idx[k] = rem % os[k], rem /= os[k];
                    int p = idx[dim] < 3 ? 0 : 2;
                    idx[dim] -= p ? 3 : 0;
                    double v = vals[p][(idx[0] * shapes[p][1] + idx[1]) * shapes[p][2] + idx[2]];
                    e[i] = mixes[mi][2] == NB_BOOL ? v != 0 : v;
                }
                /* the result dtype promotes over all three (piece 2 has the first's dtype) */
                ref_set_ctx("cat %s+%s dim=%d %s", nb_dtype_name(mixes[mi][0]), nb_dtype_name(mixes[mi][1]), dim,
                            ref_layout_name[l]);
                CHECK_REF_DT(nb_cat(xs, 3, dim - 3 * (dim % 2)), mixes[mi][2], 3, os, e);
            }
    nb_tensor *a = nb_ones(NB_SHAPE(2, 3), NB_F32), *b = nb_ones(NB_SHAPE(2, 4), NB_F32);
    ref_set_ctx("cat single");
    CHECK_REF(nb_cat(&a, 1, 0), NB_F32, NB_SHAPE(2, 3), ((const double[]){1, 1, 1, 1, 1, 1}), 0, 0);
    CHECK(!shares_storage(nb_cat(&a, 1, 0), a));
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){a, b}, 2, 0), "nb_cat", "#2", "[2, 4]");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){a, nb_ones(NB_SHAPE(2, 3, 1), NB_F32)}, 2, 0), "nb_cat", "#2");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){a, NULL}, 2, 0), "nb_cat", "#2");
    CHECK_NULL_WITH(nb_cat(&a, 0, 0), "nb_cat", "at least one");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){nb_scalar(1, NB_F32)}, 1, 0), "nb_cat", "0-d");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){a, b}, 2, 2), "nb_cat", "out of range");
}

/* ---- clone, contiguous -------------------------------------------------------------------------- */

static void test_clone_contiguous(void) {
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
        for (int l = 0; l < REF_LAYOUTS; l++) {
            nb_dtype dt = ref_all_dtypes[d];
            double *v = ref_values(7 * 17, dt, dt == NB_U8 ? 0 : -4, 4);
            nb_tensor *x = ref_tensor(v, NB_SHAPE(7, 17), dt, l);
            ref_set_ctx("clone/contiguous %s %s", nb_dtype_name(dt), ref_layout_name[l]);
            nb_tensor *c = nb_clone(x), *k = nb_contiguous(x);
            CHECK_REF(c, dt, NB_SHAPE(7, 17), v, 0, 0);
            CHECK_REF(k, dt, NB_SHAPE(7, 17), v, 0, 0);
            CHECK(c && k && nb_is_contiguous(c) && nb_is_contiguous(k));
            CHECK(c && nb_data(c) != nb_data(x));
            if (l == REF_CONTIG) CHECK(k == x); /* contiguous: x itself */
            else CHECK(k != x && nb_data(k) != nb_data(x));
            /* writing into the clone leaves the source alone */
            if (c) {
                nb_set(c, NB_LIST(0, 0), 1);
                nb_set(c, NB_LIST(6, 16), 0);
            }
            CHECK_REF(x, dt, NB_SHAPE(7, 17), v, 0, 0);
        }
    nb_tensor *s = nb_scalar(2, NB_F32);
    CHECK_REF(nb_clone(s), NB_F32, NB_SCALAR, ((const double[]){2}), 0, 0);
    CHECK_REF(nb_clone(nb_zeros(NB_SHAPE(0, 3), NB_F32)), NB_F32, NB_SHAPE(0, 3), NULL, 0, 0);
    CHECK_NULL_WITH(nb_clone(NULL), "nb_clone");
}

/* ---- to ----------------------------------------------------------------------------------------- */

/* Round to a binary format with `mant` fraction bits, minimum normal exponent emin and largest
 * finite value fmax, to nearest even (overflow gives inf). */
static double round_fmt(double x, int mant, int emin, double fmax) {
    if (isnan(x) || isinf(x) || x == 0) return x;
    int e;
    frexp(x, &e); /* |x| in [2^(e-1), 2^e) */
    int ex = e - 1 < emin ? emin : e - 1;
    double ulp = ldexp(1.0, ex - mant);
    double r = nearbyint(x / ulp) * ulp; /* default rounding mode: to nearest, ties to even */
    if (fabs(r) > fmax) return copysign(INFINITY, x);
    return r == 0 ? copysign(0.0, x) : r;
}

/* What nb_to does with value v (iv: the same value as an exact integer, for integer dtypes) of dtype
 * `from` when converting to dtype `to`. */
static double ref_convert(double v, int64_t iv, nb_dtype from, nb_dtype to) {
    switch (to) {
    case NB_F64: return v;
    case NB_F32: return (float)v;
    case NB_F16: return round_fmt((float)v, 10, -14, 65504);
    case NB_BF16: return round_fmt((float)v, 7, -126, 3.3895313892515355e38);
    case NB_BOOL: return v != 0;
    default: break;
    }
    if (!nb_dtype_is_float(from)) { /* integer narrowing wraps */
        switch (to) {
        case NB_I8: return (int8_t)(uint8_t)iv;
        case NB_U8: return (uint8_t)iv;
        case NB_I32: return (int32_t)(uint32_t)iv;
        default: return (double)iv;
        }
    }
    double lo = to == NB_I8 ? -128 : to == NB_U8 ? 0 : to == NB_I32 ? -2147483648.0 : -9223372036854775808.0;
    double hi = to == NB_I8 ? 127 : to == NB_U8 ? 255 : to == NB_I32 ? 2147483647.0 : 9223372036854775807.0;
    if (isnan(v)) return 0;
    return v <= lo ? lo : v >= hi ? hi : trunc(v); /* float to integer truncates and saturates */
}

static void test_to_all_pairs(void) {
    const double p24 = ldexp(1, -24);
    const double vals[] = {0, -0.0, 1, -1, 0.5, -2.75, 0.1, 1.0 / 3, 127.9, -128.9, 200, 255.5, 256, -129, 300.7, -300.7,
                           2049, 2051, 65504, 65519, 65520, 1e5, 1 + ldexp(1, -11), 1 + 3 * ldexp(1, -11),
                           1 + ldexp(1, -8), 1 + 3 * ldexp(1, -8), p24, p24 / 2, 3 * p24 / 2, 1e-8, 1e-40,
                           2147483647.0, -2147483649.0, 3e9, 1e19, -1e19, 3e38, 1e300, -INFINITY, INFINITY, NAN};
    enum { N = sizeof vals / sizeof vals[0] };
    nb_tensor *f = nb_from_data(vals, NB_SHAPE(N), NB_F64);
    for (int i = 0; i < 9; i++) {
        nb_dtype from = ref_all_dtypes[i];
        /* the source: the values as dtype `from` holds them (checked in the f64 row) */
        nb_tensor *src = nb_to(f, from);
        double *sv = ref_read(src);
        int64_t si[N]; /* exact for i64 beyond 2^53 */
        nb_copy_to(src, si, sizeof si, NB_I64);
        for (int j = 0; j < 9; j++) {
            nb_dtype to = ref_all_dtypes[j];
            double e[N];
            for (int k = 0; k < N; k++) e[k] = ref_convert(sv[k], si[k], from, to);
            ref_set_ctx("nb_to %s -> %s", nb_dtype_name(from), nb_dtype_name(to));
            nb_tensor *r = nb_to(src, to);
            CHECK_REF(r, to, NB_SHAPE(N), e, 0, 0);
            /* the same through a stepped, reversed-stride view */
            nb_tensor *sl = nb_slice(src, 0, 1, N, 2);
            double es[N];
            int64_t ns = 0;
            for (int k = 1; k < N; k += 2) es[ns++] = e[k];
            CHECK_REF(nb_to(sl, to), to, NB_SHAPE(ns), es, 0, 0);
            if (from == to) CHECK(r == src);
            nb_free(r);
        }
        nb_free(src);
    }
}

/* Exact bit patterns of f16 / bf16 results. */
static void test_half_bits(void) {
    const double v[] = {1, -0.0, 65504, 65520, 1 + ldexp(1, -11), 1 + 3 * ldexp(1, -11), ldexp(1, -24), ldexp(1, -25),
                        3 * ldexp(1, -25), ldexp(1, -14), INFINITY, NAN};
    const uint16_t h[] = {0x3c00, 0x8000, 0x7bff, 0x7c00, 0x3c00, 0x3c02, 0x0001, 0x0000, 0x0002, 0x0400, 0x7c00};
    enum { N = sizeof v / sizeof v[0] };
    uint16_t got[N];
    nb_tensor *x = nb_from_data(v, NB_SHAPE(N), NB_F64);
    CHECK(nb_copy_to(nb_to(x, NB_F16), got, sizeof got, NB_F16) == 0);
    for (int i = 0; i < N - 1; i++) CHECK_MSG(got[i] == h[i], "f16 of %g: 0x%04x, expected 0x%04x", v[i], got[i], h[i]);
    CHECK((got[N - 1] & 0x7c00) == 0x7c00 && (got[N - 1] & 0x3ff) != 0); /* NaN stays NaN */
    const double bv[] = {1, 1 + ldexp(1, -8), 1 + 3 * ldexp(1, -8), -2, 3.4e38, INFINITY, NAN};
    const uint16_t b[] = {0x3f80, 0x3f80, 0x3f82, 0xc000, 0x7f80, 0x7f80};
    enum { NB = sizeof bv / sizeof bv[0] };
    uint16_t gb[NB];
    CHECK(nb_copy_to(nb_from_data(bv, NB_SHAPE(NB), NB_F64), gb, sizeof gb, NB_BF16) == 0);
    for (int i = 0; i < NB - 1; i++) CHECK_MSG(gb[i] == b[i], "bf16 of %g: 0x%04x, expected 0x%04x", bv[i], gb[i], b[i]);
    CHECK((gb[NB - 1] & 0x7f80) == 0x7f80 && (gb[NB - 1] & 0x7f) != 0);
    /* i64 beyond 2^53 converts exactly to i64 and saturates exactly at the ends */
    int64_t big[3] = {(INT64_C(1) << 53) + 1, INT64_MAX, INT64_MIN}, out[3];
    nb_tensor *bi = nb_from_data(big, NB_SHAPE(3), NB_I64);
    CHECK(nb_copy_to(nb_contiguous(nb_slice(bi, 0, 0, 3, 1)), out, sizeof out, NB_I64) == 0 && out[0] == big[0] &&
          out[1] == INT64_MAX && out[2] == INT64_MIN);
    nb_tensor *huge = nb_from_data((const double[]){1e19, -1e19, 9223372036854775807.0}, NB_SHAPE(3), NB_F64);
    CHECK(nb_copy_to(nb_to(huge, NB_I64), out, sizeof out, NB_I64) == 0);
    CHECK_MSG(out[0] == INT64_MAX && out[1] == INT64_MIN && out[2] == INT64_MAX, "%lld %lld %lld", (long long)out[0],
              (long long)out[1], (long long)out[2]);
    CHECK_NULL_WITH(nb_to(x, (nb_dtype)99), "nb_to", "dtype");
    CHECK_NULL_WITH(nb_to(NULL, NB_F32), "nb_to");
}

/* Transposing copies run in 32 x 32 tiles (kernels/cpu/copy.c): sizes around and across the tile, 4-
 * and 8-byte dtypes, batched, and a stepped source (which must not take the tiled path). */
static void test_transpose_copy_tiles(void) {
    static const int64_t sizes[][2] = {{8, 8}, {9, 33}, {33, 9}, {64, 32}, {129, 47}, {31, 65}};
    static const nb_dtype dts[] = {NB_F32, NB_I32, NB_F64, NB_I64};
    for (int d = 0; d < REF_COUNT(dts); d++)
        for (int k = 0; k < REF_COUNT(sizes); k++) {
            int64_t r = sizes[k][0], c = sizes[k][1];
            nb_scope_begin();
            nb_tensor *x = nb_to(nb_reshape(nb_arange(0, (double)(3 * r * c), 1, NB_F64), NB_SHAPE(3, r, c)), dts[d]);
            nb_tensor *t = nb_contiguous(nb_transpose(x, 1, 2)); /* (3, c, r) */
            nb_tensor *s = nb_contiguous(nb_transpose(nb_slice(x, 2, 0, c, 2), 1, 2));
            int64_t cs = (c + 1) / 2;
            bool ok = t && s && nb_is_contiguous(t);
            for (int64_t b = 0; b < 3 && ok; b++)
                for (int64_t i = 0; i < r && ok; i++)
                    for (int64_t j = 0; j < c && ok; j++) {
                        double want = (double)((b * r + i) * c + j);
                        ok = h_get(t, NB_LIST(b, j, i)) == want && (j % 2 || h_get(s, NB_LIST(b, j / 2, i)) == want);
                    }
            CHECK_MSG(ok && nb_shape(s)[1] == cs, "transposed copy of [3, %lld, %lld] %s", (long long)r, (long long)c,
                      nb_dtype_name(dts[d]));
            nb_scope_end();
        }
}

int main(void) {
    REF_RUN(test_reshape_view);
    REF_RUN(test_flatten);
    REF_RUN(test_permute_transpose);
    REF_RUN(test_slice);
    REF_RUN(test_slice_gradient);
    REF_RUN(test_registry_covered);
    REF_RUN(test_expand);
    REF_RUN(test_squeeze_unsqueeze);
    REF_RUN(test_cat);
    REF_RUN(test_clone_contiguous);
    REF_RUN(test_transpose_copy_tiles);
    REF_RUN(test_to_all_pairs);
    REF_RUN(test_half_bits);
    return harness_finish();
}
