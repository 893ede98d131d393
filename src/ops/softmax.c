/* ops/softmax.c — softmax and log_softmax along one dim, with max subtraction for stability. The
 * dim is moved last (one permuting copy when it is not already last and contiguous), the row kernel
 * runs, and the result is written back in the input's dim order. Attributes: ints[0] = dim. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

static int softmax_infer_op(int op, nb_tensor *const *in, const nb_attrs *a, nbc_meta *out) {
    nb_tensor *x = in[0];
    if (!nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must have a floating dtype", nbo_fn_name(op), nbc_desc(x));
    (void)a;
    nbo_meta_set(out, x->dtype, x->ndim, x->shape);
    return 0;
}

static int softmax_forward_op(int op, nb_tensor *x, const nb_attrs *a, nb_tensor *y) {
    const char *fn = nbo_fn_name(op);
    int dim = (int)a->ints[0], nd = x->ndim;
    nb_dtype c = nbk_compute_type(x->dtype);
    int64_t n = nbc_numel(nd, x->shape);
    if (n == 0) return 0;
    int64_t r = nd ? x->shape[dim] : 1, m = n / r;
    /* (…, dim last) order */
    int64_t pshape[NB_MAX_DIMS], pxs[NB_MAX_DIMS], pys[NB_MAX_DIMS], cs[NB_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < nd; d++)
        if (d != dim) {
            pshape[k] = x->shape[d];
            pxs[k] = x->strides[d];
            pys[k++] = y->strides[d];
        }
    if (nd) {
        pshape[k] = x->shape[dim];
        pxs[k] = x->strides[dim];
        pys[k] = y->strides[dim];
    }
    bool direct = x->dtype == c && nbc_is_contiguous(x) && (nd == 0 || dim == nd - 1);
    if (direct) {
        nbk_softmax_rows(c, nbc_ptr(x), nbc_ptr(y), m, r, op == NBO_log_softmax);
        return 0;
    }
    size_t cap;
    void *buf = nbc_block_alloc((size_t)n * nb_dtype_size(c) * 2, &cap);
    if (!buf) return nbc_oom(fn);
    void *res = (char *)buf + (size_t)n * nb_dtype_size(c);
    nbc_contiguous_strides(nd, pshape, cs);
    nbk_copy(buf, c, cs, nbc_ptr(x), x->dtype, pxs, nd, pshape);
    nbk_softmax_rows(c, buf, res, m, r, op == NBO_log_softmax);
    nbk_copy(nbc_ptr(y), y->dtype, pys, res, c, cs, nd, pshape);
    nbc_block_free(buf, cap);
    return 0;
}

static nb_reduce_opts keep_dim(const nbo_ctx *c) {
    nb_reduce_opts o = {.n = c->in_meta[0].ndim ? 1 : 0, .keepdim = true};
    o.dims[0] = c->attrs->ints[0];
    return o;
}

/* softmax: dx = y * (g - sum(g * y)) */
static int softmax_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *y = c->out[0];
    nb_reduce_opts o = keep_dim(c);
    gin[0] = nb_mul(y, nb_sub(g[0], nb_sum(nb_mul(g[0], y), &o)));
    return gin[0] ? 0 : nb_last_status();
}
/* log_softmax: dx = g - exp(y) * sum(g) */
static int log_softmax_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *y = c->out[0];
    nb_reduce_opts o = keep_dim(c);
    gin[0] = nb_sub(g[0], nb_mul(nb_exp(y), nb_sum(g[0], &o)));
    return gin[0] ? 0 : nb_last_status();
}

#define SOFTMAX_OP(NAME, BWNAME, BACKWARD, TORCH, SUMMARY)                                         \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {       \
        (void)n;                                                                                   \
        return softmax_infer_op(NBO_##NAME, in, a, out);                                           \
    }                                                                                              \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) { \
        (void)n;                                                                                   \
        return softmax_forward_op(NBO_##NAME, in[0], a, out[0]);                                   \
    }                                                                                              \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = 1, .n_out = 1,     \
                                      .flags = NBO_SAVE_OUTPUTS, .attrs = "ints=[dim]", .torch = TORCH, \
                                      .summary = SUMMARY, .infer = NAME##_infer,                   \
                                      .forward = NAME##_forward, .backward = BACKWARD};            \
    nb_tensor *nb_##NAME(nb_tensor *x, int dim) {                                                  \
        if (!x) return nbc_null_arg("nb_" #NAME, 1), NULL;                                         \
        int d = nbc_wrap_dim("nb_" #NAME, dim, x->ndim);                                           \
        if (d < 0) return NULL;                                                                    \
        nb_attrs a = {.n_ints = 1, .ints = {x->ndim ? d : 0}};                                     \
        return nbo_apply1(NBO_##NAME, &x, 1, &a);                                                  \
    }

SOFTMAX_OP(softmax, "SoftmaxBackward", softmax_bw, "torch.softmax", "exp(x) / sum(exp(x)) along dim")
SOFTMAX_OP(log_softmax, "LogSoftmaxBackward", log_softmax_bw, "torch.log_softmax", "x - logsumexp(x) along dim")
