/* ops/reduce.c — reductions over any set of dims with keepdim: sum, mean, max, min (amax/amin) and
 * argmax. The input is arranged as (kept dims..., reduced dims...) — in place when the layout already
 * is, by one copy otherwise — and the row or column kernel does the rest.
 * Attributes: ints = the reduced dims (sorted, non-negative), flag = keepdim; argmax: ints[0] = dim,
 * or n_ints = 0 for all dims. */
#include "op.h"
#include "../kernels/cpu/kernels.h"
#include "reductions.h"

#include <string.h>

/* Normalise opts into attrs: wrapped, sorted, without repeats. */
int nbo_reduce_attrs(const char *fn, const nb_tensor *x, const nb_reduce_opts *o, nb_attrs *a) {
    memset(a, 0, sizeof *a);
    a->flag = o && o->keepdim;
    if (!o || o->n == 0) {
        for (int i = 0; i < x->ndim; i++) a->ints[i] = i;
        a->n_ints = x->ndim;
        return 0;
    }
    if (o->n < 0 || o->n > NB_MAX_DIMS) return nbc_error(NB_ERR_ARG, "%s: %d dims given; expected 0..%d", fn, o->n, NB_MAX_DIMS);
    bool seen[NB_MAX_DIMS] = {false};
    for (int i = 0; i < o->n; i++) {
        int d = nbc_wrap_dim(fn, o->dims[i], x->ndim);
        if (d < 0) return NB_ERR_ARG;
        if (x->ndim == 0) continue; /* dim 0 of a 0-d tensor: nothing to reduce */
        if (seen[d]) return nbc_error(NB_ERR_ARG, "%s: dim %d appears more than once in the list", fn, d);
        seen[d] = true;
    }
    for (int d = 0; d < x->ndim; d++)
        if (seen[d]) a->ints[a->n_ints++] = d;
    return 0;
}

bool nbo_is_reduced(const nb_attrs *a, int d) {
    for (int i = 0; i < a->n_ints; i++)
        if (a->ints[i] == d) return true;
    return false;
}

/* Output shape of a reduction: reduced dims dropped (or kept as 1). */
void nbo_reduced_shape(const nb_tensor *x, const nb_attrs *a, int *nd, int64_t *shape) {
    *nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!nbo_is_reduced(a, d)) shape[(*nd)++] = x->shape[d];
        else if (a->flag) shape[(*nd)++] = 1;
    }
}

static int reduce_infer_op(int op, nb_tensor *const *in, const nb_attrs *a, nbc_meta *out) {
    const char *fn = nbo_fn_name(op);
    nb_tensor *x = in[0];
    int64_t r = 1;
    for (int i = 0; i < a->n_ints; i++) r *= x->shape[a->ints[i]];
    nb_dtype d = x->dtype;
    if (op == NBO_sum && !nb_dtype_is_float(d)) d = NB_I64;
    if (op == NBO_mean && !nb_dtype_is_float(d))
        return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must have a floating dtype; convert it with nb_to first",
                         fn, nbc_desc(x));
    if ((op == NBO_max || op == NBO_min) && r == 0)
        return nbc_error(NB_ERR_ARG, "%s: cannot reduce over an empty dim (%s) because the operation has no identity",
                         fn, nbc_desc(x));
    if ((op == NBO_max || op == NBO_min) && d == NB_BOOL) d = NB_BOOL;
    int nd;
    int64_t shape[NB_MAX_DIMS];
    nbo_reduced_shape(x, a, &nd, shape);
    nbo_meta_set(out, d, nd, shape);
    return 0;
}

/* Run kernel op over x arranged as (m kept) x (r reduced), writing m values of compute type c to dst. */
static int reduce_run(const char *fn, nbk_reduce k, const nb_tensor *x, const nb_attrs *a, nb_dtype c, void *dst) {
    int nk = 0, nr = 0;
    int order[NB_MAX_DIMS];
    int64_t m = 1, r = 1;
    for (int d = 0; d < x->ndim; d++)
        if (!nbo_is_reduced(a, d)) {
            order[nk++] = d;
            m *= x->shape[d];
        }
    for (int d = 0; d < x->ndim; d++)
        if (nbo_is_reduced(a, d)) {
            order[nk + nr++] = d;
            r *= x->shape[d];
        }
    if (m == 0) return 0;
    /* Case 1: reduced dims are the trailing dims of a contiguous tensor in compute type. */
    bool trailing = true, leading = true;
    for (int i = 0; i < nr; i++) {
        if (a->ints[i] != x->ndim - nr + i) trailing = false;
        if (a->ints[i] != i) leading = false;
    }
    if (x->dtype == c && nbc_is_contiguous(x)) {
        if (trailing) {
            nbk_reduce_rows(k, c, nbc_ptr(x), dst, m, r);
            return 0;
        }
        if (leading && r > 0) {
            nbk_reduce_cols(k, c, nbc_ptr(x), dst, r, m);
            return 0;
        }
    }
    int64_t pshape[NB_MAX_DIMS], pstrides[NB_MAX_DIMS], dstr[NB_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        pshape[i] = x->shape[order[i]];
        pstrides[i] = x->strides[order[i]];
    }
    /* Sums over several rows read x in place, chunk by chunk (no copy of the whole tensor). */
    if (k == NBK_RSUM && x->dtype == c && (c == NB_F32 || c == NB_F64) && nr > 0 && m > 1) {
        nbk_sum_rows_strided(c, nbc_ptr(x), dst, x->ndim, pshape, pstrides, nk);
        return 0;
    }
    /* General case: one permuting copy into (kept..., reduced...) order. */
    nbc_contiguous_strides(x->ndim, pshape, dstr);
    size_t cap;
    void *buf = nbc_block_alloc((size_t)(m * r) * nb_dtype_size(c), &cap);
    if (!buf) return nbc_oom(fn);
    nbk_copy(buf, c, dstr, nbc_ptr(x), x->dtype, pstrides, x->ndim, pshape);
    nbk_reduce_rows(k, c, buf, dst, m, r);
    nbc_block_free(buf, cap);
    return 0;
}

static int reduce_forward_op(int op, nb_tensor *x, const nb_attrs *a, nb_tensor *out) {
    const char *fn = nbo_fn_name(op);
    nbk_reduce k = op == NBO_max ? NBK_RMAX : op == NBO_min ? NBK_RMIN : NBK_RSUM;
    nb_dtype c = nbk_compute_type(op == NBO_sum ? out->dtype : x->dtype);
    int64_t m = nbc_numel(out->ndim, out->shape), r = 1;
    for (int i = 0; i < a->n_ints; i++) r *= x->shape[a->ints[i]];
    void *dst = nbc_ptr(out);
    size_t cap = 0;
    if (c != out->dtype) {
        dst = nbc_block_alloc((size_t)m * nb_dtype_size(c), &cap);
        if (!dst) return nbc_oom(fn);
    }
    int rc = reduce_run(fn, k, x, a, c, dst);
    if (!rc && op == NBO_mean) {
        double inv = 1.0 / (double)r; /* r == 0 gives NaN, as in PyTorch */
        for (int64_t i = 0; i < m; i++) {
            if (c == NB_F32) ((float *)dst)[i] = r ? (float)(((float *)dst)[i] * inv) : (float)(0.0 / 0.0);
            else ((double *)dst)[i] = r ? ((double *)dst)[i] * inv : 0.0 / 0.0;
        }
    }
    if (!rc && c != out->dtype) nbk_convert(nbc_ptr(out), out->dtype, dst, c, m);
    if (cap) nbc_block_free(dst, cap);
    return rc;
}

/* g reshaped to keepdim form, expanded back to the input's shape. */
static nb_tensor *expand_back(const nbo_ctx *c, nb_tensor *g) {
    const nbc_meta *x = &c->in_meta[0];
    int64_t keep[NB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) keep[d] = nbo_is_reduced(c->attrs, d) ? 1 : x->shape[d];
    return nb_expand(nb_reshape(g, x->ndim, keep), x->ndim, x->shape);
}

static int sum_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = expand_back(c, g[0]);
    return gin[0] ? 0 : nb_last_status();
}
static int mean_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    int64_t r = 1;
    for (int i = 0; i < c->attrs->n_ints; i++) r *= c->in_meta[0].shape[c->attrs->ints[i]];
    gin[0] = nb_div_scalar(expand_back(c, g[0]), (double)r);
    return gin[0] ? 0 : nb_last_status();
}
/* The gradient goes to every position equal to the extremum, shared evenly among ties. */
static int extremum_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0];
    nb_tensor *mask = nb_to(nb_eq(x, expand_back(c, c->out[0])), g[0]->dtype);
    nb_reduce_opts o = {.n = c->attrs->n_ints, .keepdim = true};
    for (int i = 0; i < o.n; i++) o.dims[i] = c->attrs->ints[i];
    nb_tensor *count = nb_sum(mask, &o);
    gin[0] = nb_div(nb_mul(expand_back(c, g[0]), mask), count);
    return gin[0] ? 0 : nb_last_status();
}

#define REDUCE_OP(NAME, FLAGS, BWNAME, BACKWARD, TORCH, SUMMARY)                                   \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {       \
        (void)n;                                                                                   \
        return reduce_infer_op(NBO_##NAME, in, a, out);                                            \
    }                                                                                              \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) { \
        (void)n;                                                                                   \
        return reduce_forward_op(NBO_##NAME, in[0], a, out[0]);                                    \
    }                                                                                              \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = 1, .n_out = 1,     \
                                      .flags = NBO_REDUCTION | (FLAGS), .attrs = "ints=dims flag=keepdim", \
                                      .torch = TORCH, .summary = SUMMARY, .infer = NAME##_infer,   \
                                      .forward = NAME##_forward, .backward = BACKWARD};            \
    nb_tensor *nb_##NAME(nb_tensor *x, const nb_reduce_opts *opts) {                               \
        if (!x) return nbc_null_arg("nb_" #NAME, 1), NULL;                                         \
        nb_attrs a;                                                                                \
        if (nbo_reduce_attrs("nb_" #NAME, x, opts, &a)) return NULL;                                   \
        return nbo_apply1(NBO_##NAME, &x, 1, &a);                                                  \
    }

REDUCE_OP(sum, 0, "SumBackward", sum_bw, "torch.sum", "sum over dims (integers and bool give i64)")
REDUCE_OP(mean, 0, "MeanBackward", mean_bw, "torch.mean", "mean over dims (floating dtypes)")
REDUCE_OP(max, NBO_SAVE_INPUTS | NBO_SAVE_OUTPUTS, "AmaxBackward", extremum_bw, "torch.amax",
          "maximum over dims (ties share the gradient)")
REDUCE_OP(min, NBO_SAVE_INPUTS | NBO_SAVE_OUTPUTS, "AminBackward", extremum_bw, "torch.amin",
          "minimum over dims (ties share the gradient)")

/* ---- argmax ------------------------------------------------------------------------------------- */

static int argmax_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    if (nbc_numel(x->ndim, x->shape) == 0)
        return nbc_error(NB_ERR_ARG, "nb_argmax: argument #1 (%s) is empty", nbc_desc(x));
    if (a->n_ints == 0) { /* all dims: a 0-d index into the flattened tensor (keepdim: all ones) */
        int64_t ones[NB_MAX_DIMS] = {1, 1, 1, 1, 1, 1, 1, 1};
        nbo_meta_set(out, NB_I64, a->flag ? x->ndim : 0, ones);
        return 0;
    }
    int nd;
    int64_t shape[NB_MAX_DIMS];
    nbo_reduced_shape(x, a, &nd, shape);
    nbo_meta_set(out, NB_I64, nd, shape);
    return 0;
}

static int argmax_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    nb_tensor *x = in[0];
    nb_dtype c = nbk_compute_type(x->dtype);
    if (a->n_ints == 0) { /* flatten: every dim is reduced */
        nb_attrs all = {.n_ints = x->ndim};
        for (int d = 0; d < x->ndim; d++) all.ints[d] = d;
        return reduce_run("nb_argmax", NBK_RARGMAX, x, &all, c, nbc_ptr(out[0]));
    }
    return reduce_run("nb_argmax", NBK_RARGMAX, x, a, c, nbc_ptr(out[0]));
}

const nbo_desc nbo_desc_argmax = {.name = "argmax", .n_in = 1, .n_out = 1, .flags = NBO_REDUCTION,
                                  .attrs = "ints=[dim] (none: all dims) flag=keepdim", .torch = "torch.argmax",
                                  .summary = "index of the first maximum (i64)", .infer = argmax_infer,
                                  .forward = argmax_forward};

nb_tensor *nb_argmax(nb_tensor *x, int dim, bool keepdim) {
    if (!x) return nbc_null_arg("nb_argmax", 1), NULL;
    nb_attrs a = {.flag = keepdim};
    if (dim != NB_DIM_ALL) {
        int d = nbc_wrap_dim("nb_argmax", dim, x->ndim);
        if (d < 0) return NULL;
        if (x->ndim > 0) {
            a.ints[0] = d;
            a.n_ints = 1;
        }
    }
    return nbo_apply1(NBO_argmax, &x, 1, &a);
}
