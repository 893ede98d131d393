/* ops/sort.c — ops along one dim that return values and their i64 indices: max_dim / min_dim
 * (torch.max(x, dim)), sort, topk, kthvalue, median; the composites argmin and argsort; and the
 * internal pair that carries their gradients: index_scatter (the output gradient added into zeros of
 * the input's shape at the recorded indices) and index_gather (its gradient, and vice versa), so every
 * one of them is differentiable to any order.
 *
 * Ties: the index of the first occurrence (max_dim, min_dim, argmin), or the order of a stable sort
 * (sort, topk, kthvalue, median: equal values keep their index order). PyTorch leaves the index among
 * ties implementation-defined. NaN: the largest value for sorting and selection; max_dim / min_dim and
 * median return the first NaN of a row that has one.
 *
 * Attributes: ints[0] = dim (0 for a 0-d input), ints[1] = k (topk, kthvalue), ints[2] = descending /
 * largest, flag = keepdim. index_scatter: ints[0] = dim, ints[1] = ndim, ints[2..] = the input shape. */
#include "reductions.h"
#include "../kernels/cpu/sort.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { A_DIM, A_K, A_DESC };

static void geom(int ndim, const int64_t *shape, int d, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = *n = *inner = 1;
    for (int i = 0; i < ndim; i++) {
        if (i < d) *outer *= shape[i];
        else if (i == d) *n = shape[i];
        else *inner *= shape[i];
    }
}

/* x's shape with dim d set to k (keep) or removed (!keep); a 0-d x stays 0-d. */
static void dim_shape(const nb_tensor *x, int d, int64_t k, bool keep, int *nd, int64_t *shape) {
    *nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != d) shape[(*nd)++] = x->shape[i];
        else if (keep) shape[(*nd)++] = k;
    }
}

/* x as contiguous rows (outer * inner rows of n) in compute type c: dim d moved last. */
static int rows_along(const char *fn, const nb_tensor *x, int d, nb_dtype c, nbo_buffer *b) {
    if (x->ndim == 0 || d == x->ndim - 1) return nbo_buffer_get(fn, x, c, b);
    int64_t ps[NB_MAX_DIMS], pst[NB_MAX_DIMS], ds[NB_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d) ps[k] = x->shape[i], pst[k++] = x->strides[i];
    ps[k] = x->shape[d], pst[k] = x->strides[d];
    nbc_contiguous_strides(x->ndim, ps, ds);
    b->data = nbc_block_alloc((size_t)nbc_numel(x->ndim, ps) * nb_dtype_size(c), &b->capacity);
    if (!b->data) return nbc_oom(fn);
    nbk_copy(b->data, c, ds, nbc_ptr(x), x->dtype, pst, x->ndim, ps);
    return 0;
}

/* Rows of k results (outer, inner, k) of dtype sd into the contiguous output (outer, k, inner). */
static void rows_store(nb_tensor *y, const void *src, nb_dtype sd, int64_t outer, int64_t k, int64_t inner) {
    int64_t shape[3] = {outer, k, inner}, ss[3] = {inner * k, 1, k}, ds[3] = {k * inner, inner, 1};
    nbk_copy(nbc_ptr(y), y->dtype, ds, src, sd, ss, 3, shape);
}

/* ---- the gradient: index_scatter / index_gather ---------------------------------------------------- */

static int same_but_dim(const char *fn, const nb_tensor *a, int nd, const int64_t *shape, int d, const char *what) {
    bool ok = a->ndim == nd;
    for (int i = 0; i < nd && ok; i++) ok = i == d || a->shape[i] == shape[i];
    if (!ok)
        return nbc_error(NB_ERR_ARG, "%s: %s %s does not match shape %s outside dim %d", fn, what, nbc_desc(a),
                         nbc_shape_str(nd, shape), d);
    return 0;
}

static int scatter_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_index_scatter";
    nb_tensor *g = in[0], *idx = in[1];
    int d = (int)a->ints[0], nd = (int)a->ints[1];
    if (!nb_dtype_is_float(g->dtype)) return nbc_error(NB_ERR_ARG, "%s: gradient %s must be floating", fn, nbc_desc(g));
    if (idx->dtype != NB_I64 || idx->ndim != g->ndim || memcmp(idx->shape, g->shape, sizeof(int64_t) * (size_t)g->ndim))
        return nbc_error(NB_ERR_ARG, "%s: indices %s do not match the gradient %s", fn, nbc_desc(idx), nbc_desc(g));
    int rc = same_but_dim(fn, g, nd, a->ints + 2, d, "gradient");
    if (rc) return rc;
    nbo_meta_set(out, g->dtype, nd, a->ints + 2);
    return 0;
}

static int scatter_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_index_scatter";
    nb_tensor *g = in[0], *y = out[0];
    nb_dtype c = nbk_compute_type(g->dtype);
    int64_t outer, k, inner, nn, numel = nbc_numel(y->ndim, y->shape);
    geom(g->ndim, g->shape, (int)a->ints[0], &outer, &k, &inner);
    geom(y->ndim, y->shape, (int)a->ints[0], &outer, &nn, &inner);
    nbo_buffer bg = {0}, bi = {0};
    size_t cap = 0;
    void *dst = y->dtype == c ? nbc_ptr(y) : nbc_block_alloc((size_t)(numel ? numel : 1) * nb_dtype_size(c), &cap);
    int rc = !dst ? nbc_oom(fn) : 0;
    if (!rc) rc = nbo_buffer_get(fn, g, c, &bg);
    if (!rc) rc = nbo_buffer_get(fn, in[1], NB_I64, &bi);
    if (!rc) {
        nbk_fill(dst, c, 0, numel);
        if (!nbk_scatter_dim(c, bg.data, bi.data, dst, outer, k, nn, inner))
            rc = nbc_error(NB_ERR_ARG, "%s: an index in %s is out of range for a dim of size %lld", fn, nbc_desc(in[1]),
                           (long long)nn);
        else if (dst != nbc_ptr(y))
            nbk_convert(nbc_ptr(y), y->dtype, dst, c, numel);
    }
    nbo_buffer_release(&bi);
    nbo_buffer_release(&bg);
    if (cap) nbc_block_free(dst, cap);
    return rc;
}

static int scatter_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs a = {.n_ints = 1};
    a.ints[0] = c->attrs->ints[0];
    gin[0] = nbo_apply1(NBO_index_gather, (nb_tensor *[]){g[0], c->in[1]}, 2, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_index_scatter = {
    .name = "index_scatter", .bw_name = "IndexScatterBackward", .n_in = 2, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .attrs = "ints=[dim, ndim, shape...]",
    .torch = "torch.zeros(shape).scatter_add(dim, indices, grad)",
    .summary = "zeros with the gradient added at indices along a dim (internal: gradient of sort, topk, ...)",
    .infer = scatter_infer, .forward = scatter_forward, .backward = scatter_bw};

static int gather_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_index_gather";
    nb_tensor *t = in[0], *idx = in[1];
    if (idx->dtype != NB_I64) return nbc_error(NB_ERR_ARG, "%s: indices %s must be i64", fn, nbc_desc(idx));
    int rc = same_but_dim(fn, idx, t->ndim, t->shape, (int)a->ints[0], "indices");
    if (rc) return rc;
    nbo_meta_set(out, t->dtype, idx->ndim, idx->shape);
    return 0;
}

static int gather_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_index_gather";
    nb_tensor *t = in[0], *y = out[0];
    int64_t outer, k, inner, nn;
    geom(y->ndim, y->shape, (int)a->ints[0], &outer, &k, &inner);
    geom(t->ndim, t->shape, (int)a->ints[0], &outer, &nn, &inner);
    nbo_buffer bt = {0}, bi = {0};
    int rc = nbo_buffer_get(fn, t, t->dtype, &bt);
    if (!rc) rc = nbo_buffer_get(fn, in[1], NB_I64, &bi);
    if (!rc && !nbk_gather_dim(nb_dtype_size(t->dtype), bt.data, bi.data, nbc_ptr(y), outer, k, nn, inner))
        rc = nbc_error(NB_ERR_ARG, "%s: an index in %s is out of range for a dim of size %lld", fn, nbc_desc(in[1]),
                       (long long)nn);
    nbo_buffer_release(&bi);
    nbo_buffer_release(&bt);
    return rc;
}

static nb_tensor *scatter_to(nb_tensor *g, nb_tensor *idx, int d, const nbc_meta *x) {
    nb_attrs a = {.n_ints = 2 + x->ndim};
    a.ints[0] = d;
    a.ints[1] = x->ndim;
    memcpy(a.ints + 2, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    return nbo_apply1(NBO_index_scatter, (nb_tensor *[]){g, idx}, 2, &a);
}

static int gather_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = scatter_to(g[0], c->in[1], (int)c->attrs->ints[0], &c->in_meta[0]);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_index_gather = {
    .name = "index_gather", .bw_name = "IndexGatherBackward", .n_in = 2, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .attrs = "ints=[dim]", .torch = "torch.gather(t, dim, indices)",
    .summary = "t read at indices along a dim (internal: gradient of index_scatter)", .infer = gather_infer,
    .forward = gather_forward, .backward = gather_bw};

/* The gradient of an op returning (values, indices) along dim: g scattered to the indices. Outputs
 * without the dim (keepdim false) get it back first. */
static int values_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    const nbc_meta *x = &c->in_meta[0];
    int d = (int)c->attrs->ints[A_DIM];
    nb_tensor *gg = g[0], *idx = c->out[1];
    if (x->ndim > 0 && gg->ndim < x->ndim) {
        gg = nb_unsqueeze(gg, d);
        idx = nb_unsqueeze(idx, d);
    }
    gin[0] = scatter_to(gg, idx, d, x);
    return gin[0] ? 0 : nb_last_status();
}

/* ---- max_dim / min_dim --------------------------------------------------------------------------- */

static int ext_infer_op(int op, nb_tensor *const *in, const nb_attrs *a, nbc_meta *out) {
    nb_tensor *x = in[0];
    int d = (int)a->ints[A_DIM];
    if (x->ndim > 0 && x->shape[d] == 0)
        return nbc_error(NB_ERR_ARG, "%s: cannot reduce over dim %d of size 0 (%s): the operation has no identity",
                         nbo_fn_name(op), d, nbc_desc(x));
    int nd;
    int64_t shape[NB_MAX_DIMS];
    dim_shape(x, d, 1, a->flag, &nd, shape);
    nbo_meta_set(&out[0], x->dtype, nd, shape);
    nbo_meta_set(&out[1], NB_I64, nd, shape);
    return 0;
}

static int ext_forward_op(int op, nb_tensor *x, const nb_attrs *a, nb_tensor *const *out) {
    const char *fn = nbo_fn_name(op);
    nb_dtype c = nbk_compute_type(x->dtype);
    int64_t outer, n, inner, m = nbc_numel(out[0]->ndim, out[0]->shape);
    if (m == 0) return 0;
    geom(x->ndim, x->shape, (int)a->ints[A_DIM], &outer, &n, &inner);
    nbo_buffer b;
    if (nbo_buffer_get(fn, x, c, &b)) return NB_ERR_NOMEM;
    size_t cap = 0;
    void *v = out[0]->dtype == c ? nbc_ptr(out[0]) : nbc_block_alloc((size_t)m * nb_dtype_size(c), &cap);
    if (!v) {
        nbo_buffer_release(&b);
        return nbc_oom(fn);
    }
    nbk_extremum_dim(c, op == NBO_max_dim, b.data, v, nbc_ptr(out[1]), outer, n, inner);
    if (cap) {
        nbk_convert(nbc_ptr(out[0]), out[0]->dtype, v, c, m);
        nbc_block_free(v, cap);
    }
    nbo_buffer_release(&b);
    return 0;
}

static int max_dim_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    return (void)n, ext_infer_op(NBO_max_dim, in, a, out);
}
static int min_dim_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    return (void)n, ext_infer_op(NBO_min_dim, in, a, out);
}
static int max_dim_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    return (void)n, ext_forward_op(NBO_max_dim, in[0], a, out);
}
static int min_dim_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    return (void)n, ext_forward_op(NBO_min_dim, in[0], a, out);
}

const nbo_desc nbo_desc_max_dim = {
    .name = "max_dim", .bw_name = "MaxBackward", .n_in = 1, .n_out = 2, .flags = NBO_SAVE_AUX_OUTPUTS,
    .attrs = "ints=[dim] flag=keepdim", .torch = "torch.max(x, dim, keepdim)",
    .summary = "maximum along a dim and the index of its first occurrence (NaN wins); the gradient goes to that index",
    .infer = max_dim_infer, .forward = max_dim_forward, .backward = values_bw};
const nbo_desc nbo_desc_min_dim = {
    .name = "min_dim", .bw_name = "MinBackward", .n_in = 1, .n_out = 2, .flags = NBO_SAVE_AUX_OUTPUTS,
    .attrs = "ints=[dim] flag=keepdim", .torch = "torch.min(x, dim, keepdim)",
    .summary = "minimum along a dim and the index of its first occurrence (NaN wins); the gradient goes to that index",
    .infer = min_dim_infer, .forward = min_dim_forward, .backward = values_bw};

/* ---- sort, topk, kthvalue, median -------------------------------------------------------------------- */

static int sel_infer_op(int op, nb_tensor *const *in, const nb_attrs *a, nbc_meta *out) {
    const char *fn = nbo_fn_name(op);
    nb_tensor *x = in[0];
    int d = (int)a->ints[A_DIM];
    int64_t n = x->ndim ? x->shape[d] : 1, k = a->ints[A_K], ko = 1;
    bool keep = a->flag;
    if (op == NBO_sort) ko = n, keep = true;
    if (op == NBO_topk) {
        if (k < 0 || k > n || (x->ndim == 0 && k != 1)) /* a 0-d output holds exactly one value */
            return nbc_error(NB_ERR_ARG, "%s: k = %lld is out of range for dim %d of size %lld (%s)", fn, (long long)k, d,
                             (long long)n, nbc_desc(x));
        ko = k, keep = true;
    }
    if (op == NBO_kthvalue && (k < 1 || k > n))
        return nbc_error(NB_ERR_ARG, "%s: k = %lld is out of range 1..%lld for dim %d (%s)", fn, (long long)k,
                         (long long)n, d, nbc_desc(x));
    if (op == NBO_median && n == 0)
        return nbc_error(NB_ERR_ARG, "%s: cannot take the median over dim %d of size 0 (%s)", fn, d, nbc_desc(x));
    int nd;
    int64_t shape[NB_MAX_DIMS];
    dim_shape(x, d, ko, keep, &nd, shape);
    nbo_meta_set(&out[0], x->dtype, nd, shape);
    nbo_meta_set(&out[1], NB_I64, nd, shape);
    return 0;
}

static int sel_forward_op(int op, nb_tensor *x, const nb_attrs *a, nb_tensor *const *out) {
    const char *fn = nbo_fn_name(op);
    nb_dtype c = nbk_compute_type(x->dtype);
    int d = (int)a->ints[A_DIM];
    int64_t outer, n, inner, k = op == NBO_sort ? (x->ndim ? x->shape[d] : 1) : op == NBO_topk ? a->ints[A_K] : 1;
    geom(x->ndim, x->shape, d, &outer, &n, &inner);
    int64_t m = outer * inner;
    if (m == 0 || k == 0) return 0;
    nbk_sort_mode mode = op == NBO_kthvalue ? NBK_SORT_KTH : op == NBO_median ? NBK_SORT_MEDIAN : NBK_SORT_FIRST;
    nb_tensor *y = out[0], *yi = out[1];
    /* results go straight to the outputs when no transposition or conversion is needed */
    bool direct_v = inner == 1 && y->dtype == c, direct_i = inner == 1;
    size_t cv = 0, ci = 0, es = nb_dtype_size(c);
    void *vals = direct_v ? nbc_ptr(y) : nbc_block_alloc((size_t)(m * k) * es, &cv);
    int64_t *idx = direct_i ? nbc_ptr(yi) : nbc_block_alloc((size_t)(m * k) * sizeof(int64_t), &ci);
    nbo_buffer b = {0};
    int rc = !vals || !idx ? nbc_oom(fn) : rows_along(fn, x, d, c, &b);
    if (!rc && !nbk_sort_rows(c, mode, b.data, vals, idx, m, n, op == NBO_kthvalue ? a->ints[A_K] : k,
                              a->ints[A_DESC] != 0))
        rc = nbc_oom(fn);
    if (!rc && !direct_v) rows_store(y, vals, c, outer, k, inner);
    if (!rc && !direct_i) rows_store(yi, idx, NB_I64, outer, k, inner);
    nbo_buffer_release(&b);
    if (cv) nbc_block_free(vals, cv);
    if (ci) nbc_block_free(idx, ci);
    return rc;
}

#define SEL_OP(NAME, BWNAME, ATTRS, TORCH, SUMMARY)                                                         \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {                \
        return (void)n, sel_infer_op(NBO_##NAME, in, a, out);                                               \
    }                                                                                                       \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {      \
        return (void)n, sel_forward_op(NBO_##NAME, in[0], a, out);                                          \
    }                                                                                                       \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = 1, .n_out = 2,              \
                                      .flags = NBO_SAVE_AUX_OUTPUTS, .attrs = ATTRS, .torch = TORCH,        \
                                      .summary = SUMMARY, .infer = NAME##_infer, .forward = NAME##_forward, \
                                      .backward = values_bw};

SEL_OP(sort, "SortBackward", "ints=[dim, -, descending]", "torch.sort(x, dim, descending, stable=True)",
       "stable sort along a dim with the i64 source indices; NaN sorts as the largest value")
SEL_OP(topk, "TopkBackward", "ints=[dim, k, largest]", "torch.topk(x, k, dim, largest, sorted=True)",
       "k largest (or smallest) along a dim, sorted, with indices; ties keep index order; NaN is the largest")
SEL_OP(kthvalue, "KthvalueBackward", "ints=[dim, k] flag=keepdim", "torch.kthvalue",
       "k-th smallest along a dim with its index (the k-th of a stable ascending sort; NaN is the largest)")
SEL_OP(median, "MedianBackward", "ints=[dim] flag=keepdim", "torch.median(x, dim, keepdim)",
       "lower median along a dim with its index (a stable sort's; the first NaN if the row has one)")

/* ---- public wrappers ---------------------------------------------------------------------------------- */

/* Apply a (values, indices) op; *indices gets the indices (or they are dropped when indices is NULL). */
static nb_tensor *apply2(int op, nb_tensor *x, int dim, const nb_attrs *base, nb_tensor **indices) {
    const char *fn = nbo_fn_name(op);
    if (indices) *indices = NULL;
    if (!x) return nbc_null_arg(fn, 1), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim);
    if (d < 0) return NULL;
    nb_attrs a = *base;
    a.n_ints = 3;
    a.ints[A_DIM] = x->ndim ? d : 0;
    nb_tensor *out[2];
    if (nbo_apply(op, &x, 1, &a, out)) return NULL;
    if (indices) *indices = out[1];
    else nb_free(out[1]);
    return out[0];
}

nb_tensor *nb_max_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **indices) {
    return apply2(NBO_max_dim, x, dim, &(nb_attrs){.flag = keepdim}, indices);
}
nb_tensor *nb_min_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **indices) {
    return apply2(NBO_min_dim, x, dim, &(nb_attrs){.flag = keepdim}, indices);
}

nb_tensor *nb_sort(nb_tensor *x, int dim, bool descending, bool stable, nb_tensor **indices) {
    (void)stable; /* always stable */
    nb_attrs a = {0};
    a.ints[A_DESC] = descending;
    return apply2(NBO_sort, x, dim, &a, indices);
}

nb_tensor *nb_topk(nb_tensor *x, int64_t k, int dim, bool largest, bool sorted, nb_tensor **indices) {
    (void)sorted; /* always sorted */
    nb_attrs a = {0};
    a.ints[A_K] = k;
    a.ints[A_DESC] = largest;
    return apply2(NBO_topk, x, dim, &a, indices);
}

nb_tensor *nb_kthvalue(nb_tensor *x, int64_t k, int dim, bool keepdim, nb_tensor **indices) {
    nb_attrs a = {.flag = keepdim};
    a.ints[A_K] = k;
    return apply2(NBO_kthvalue, x, dim, &a, indices);
}

/* x flattened (for NB_DIM_ALL), and the all-ones keepdim shape to restore afterwards */
static nb_tensor *flat_apply(int op, nb_tensor *x, bool keepdim, nb_tensor **indices) {
    const char *fn = nbo_fn_name(op);
    if (indices) *indices = NULL;
    if (!x) return nbc_null_arg(fn, 1), NULL;
    nb_tensor *f = nb_reshape(x, NB_SHAPE(-1));
    nb_tensor *idx = NULL;
    nb_tensor *v = f ? apply2(op, f, 0, &(nb_attrs){0}, &idx) : NULL;
    nb_free(f);
    if (!v) return NULL;
    int64_t ones[NB_MAX_DIMS] = {1, 1, 1, 1, 1, 1, 1, 1};
    int nd = keepdim ? x->ndim : 0;
    nb_tensor *rv = nb_reshape(v, nd, ones), *ri = indices ? nb_reshape(idx, nd, ones) : NULL;
    nb_free(v);
    nb_free(idx);
    if (indices) *indices = ri;
    return rv;
}

nb_tensor *nb_median(nb_tensor *x, int dim, bool keepdim, nb_tensor **indices) {
    if (dim == NB_DIM_ALL && x && nb_dtype_is_float(x->dtype) && nbc_numel(x->ndim, x->shape) == 0) {
        int64_t ones[NB_MAX_DIMS] = {1, 1, 1, 1, 1, 1, 1, 1}; /* torch.median(empty) is NaN */
        int nd = keepdim ? x->ndim : 0;
        if (indices) *indices = nb_full(nd, ones, -1, NB_I64);
        return nb_full(nd, ones, NAN, x->dtype);
    }
    if (dim == NB_DIM_ALL) return flat_apply(NBO_median, x, keepdim, indices);
    return apply2(NBO_median, x, dim, &(nb_attrs){.flag = keepdim}, indices);
}

nb_tensor *nb_argmin(nb_tensor *x, int dim, bool keepdim) {
    nb_tensor *idx = NULL, *v;
    if (dim == NB_DIM_ALL) v = flat_apply(NBO_min_dim, x, keepdim, &idx);
    else v = nb_min_dim(x, dim, keepdim, &idx);
    if (!v && x && strstr(nb_last_error(), "nb_min_dim")) {
        char msg[512]; /* name the public function */
        snprintf(msg, sizeof msg, "%s", nb_last_error());
        nbc_error(nb_last_status(), "nb_argmin: %s", msg);
    }
    nb_free(v);
    return idx;
}

nb_tensor *nb_argsort(nb_tensor *x, int dim, bool descending, bool stable) {
    nb_tensor *idx = NULL, *v = nb_sort(x, dim, descending, stable, &idx);
    if (!v && x && strstr(nb_last_error(), "nb_sort")) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", nb_last_error());
        nbc_error(nb_last_status(), "nb_argsort: %s", msg);
    }
    nb_free(v);
    return idx;
}
