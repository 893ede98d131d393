/* ops/norm.c — batch normalisation as two fused registry ops:
 *   batch_norm(x, w, b [, running_mean, running_var])  -> y, mean, invstd, var
 *   batch_norm_backward(g, x, mean, invstd, w)          -> gx, gw, gb
 * x is (N, C, ...); the others are per channel (C). Attributes: flag = training, f0 = eps.
 * Training normalises by the batch statistics, computed in the same kernel (two passes per channel,
 * then one for y) and returned as outputs (mean, 1/sqrt(var + eps), the biased var) so the backward
 * never recomputes them; evaluation normalises by the running statistics (inputs #4 and #5, which
 * never get gradients) in one affine pass. batch_norm_backward is one or two fused passes; its own
 * backward is a closed form built from primitive ops (mean and invstd taken as independent inputs,
 * their gradients flowing back into batch_norm's outputs), so batch norm is differentiable to any
 * order. nb_batch_norm wraps them and updates the running statistics in place, without recording,
 * exactly as PyTorch does. */
#include "op.h"
#include "../kernels/cpu/norm.h"

#include <math.h>
#include <string.h>

/* (C) -> (1, C, 1, ...) to broadcast over x of ndim dims. */
static nb_tensor *channel_view(nb_tensor *v, int ndim) {
    int64_t shape[NB_MAX_DIMS];
    for (int d = 0; d < ndim; d++) shape[d] = d == 1 ? -1 : 1;
    return nb_reshape(v, ndim, shape);
}

/* Sum over every dim but 1: (N, C, ...) -> (C). */
static nb_tensor *channel_sum(nb_tensor *t) {
    nb_reduce_opts dims = {.keepdim = false};
    for (int d = 0; d < t->ndim; d++)
        if (d != 1) dims.dims[dims.n++] = d;
    return nb_sum(t, &dims);
}

static int64_t per_channel(int ndim, const int64_t *shape) {
    int64_t m = shape[0];
    for (int d = 2; d < ndim; d++) m *= shape[d];
    return m;
}

static int check_param(const char *fn, const char *what, const nb_tensor *p, int64_t c) {
    if (p && (p->ndim != 1 || p->shape[0] != c))
        return nbc_error(NB_ERR_ARG, "%s: %s has %s; expected [%lld] (one per channel)", fn, what, nbc_desc(p), (long long)c);
    if (p && !nb_dtype_is_float(p->dtype))
        return nbc_error(NB_ERR_ARG, "%s: %s must be floating; got %s", fn, what, nbc_desc(p));
    return 0;
}

/* ---- batch_norm ---------------------------------------------------------------------------------- */

static int bn_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    static const char fn[] = "nb_batch_norm";
    static const char *const names[] = {"input", "weight", "bias", "running_mean", "running_var"};
    bool training = a->flag;
    if (n != (training ? 3 : 5))
        return nbc_error(NB_ERR_ARG, "%s: expected %d inputs (%s) in %s mode; got %d", fn, training ? 3 : 5,
                         training ? "x, weight, bias" : "x, weight, bias, running_mean, running_var",
                         training ? "training" : "evaluation", n);
    nb_tensor *x = in[0];
    if (x->ndim < 2 || !nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: expected a floating input (N, C, ...); got %s", fn, nbc_desc(x));
    int64_t c = x->shape[1];
    nb_dtype d = x->dtype;
    for (int i = 1; i < n; i++) {
        int rc = check_param(fn, names[i], in[i], c);
        if (rc) return rc;
        d = nb_promote_types(d, in[i]->dtype);
    }
    if (training && per_channel(x->ndim, x->shape) <= 1)
        return nbc_error(NB_ERR_ARG, "%s: expected more than 1 value per channel when training; got %s", fn,
                         nbc_desc(x));
    nb_dtype ct = nbk_compute_type(d);
    nbo_meta_set(&out[0], d, x->ndim, x->shape);
    for (int j = 1; j < 4; j++) nbo_meta_set(&out[j], ct, 1, &c);
    return 0;
}

static int bn_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    static const char fn[] = "nb_batch_norm";
    nb_tensor *x = in[0], *y = out[0];
    nb_dtype ct = out[1]->dtype;
    nbk_bn_geom g = {.n = x->shape[0], .c = x->shape[1], .s = 1};
    for (int d = 2; d < x->ndim; d++) g.s *= x->shape[d];
    nbo_buffer b[3];
    if (nbo_buffers_get(fn, in, 3, ct, b)) return NB_ERR_NOMEM;
    void *mean = nbc_ptr(out[1]), *invstd = nbc_ptr(out[2]), *var = nbc_ptr(out[3]);
    if (!a->flag) { /* the running statistics, in compute type */
        nbk_copy(mean, ct, (const int64_t[]){1}, nbc_ptr(in[3]), in[3]->dtype, in[3]->strides, 1, &g.c);
        nbk_copy(var, ct, (const int64_t[]){1}, nbc_ptr(in[4]), in[4]->dtype, in[4]->strides, 1, &g.c);
        for (int64_t k = 0; k < g.c; k++)
            nbc_store(invstd, ct, k, 1.0 / sqrt(nbc_load(var, ct, k) + a->f0));
    }
    nbo_result r;
    int rc = nbo_result_get(fn, y, ct, &r);
    if (!rc) nbk_bn_forward(ct, &g, a->flag, a->f0, b[0].data, b[1].data, b[2].data, mean, invstd, var, r.data);
    if (!rc) nbo_result_finish(y, ct, &r, true);
    nbo_buffers_release(b, 3);
    (void)n;
    return rc;
}

/* gout: y, mean, invstd, var. The statistics depend on x in training:
 *   d mean / dx = 1/M,  d var / dx = 2 (x - mean) / M,  d invstd / dx = -invstd^3 (x - mean) / M. */
static int bn_backward(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *w = c->in[1], *mean = c->out[1], *invstd = c->out[2];
    nb_attrs a = {.flag = c->attrs->flag};
    nb_tensor *r[3];
    int rc = nbo_apply(NBO_batch_norm_backward, (nb_tensor *[]){gout[0], x, mean, invstd, w}, 5, &a, r);
    if (rc) return rc;
    nb_tensor *gx = r[0];
    if (c->needs_grad[0] && c->attrs->flag) {
        bool dm = !nbo_is_zero_grad(gout[1]), di = !nbo_is_zero_grad(gout[2]), dv = !nbo_is_zero_grad(gout[3]);
        double inv_m = 1.0 / (double)per_channel(x->ndim, x->shape);
        if (dm) gx = nb_add(gx, channel_view(nb_mul_scalar(gout[1], inv_m), x->ndim));
        if (di || dv) {
            /* coefficient of (x - mean): (2 gvar - ginvstd invstd^3) / M */
            nb_tensor *coef = nb_mul_scalar(gout[3], 2.0);
            if (di) coef = nb_sub(coef, nb_mul(gout[2], nb_pow_scalar(invstd, 3.0)));
            coef = nb_mul_scalar(coef, inv_m);
            nb_tensor *xc = nb_sub(x, channel_view(mean, x->ndim));
            gx = nb_add(gx, nb_mul(xc, channel_view(coef, x->ndim)));
        }
        if (!gx) return nb_last_status();
    }
    gin[0] = gx;
    gin[1] = r[1];
    gin[2] = r[2];
    return 0;
}

const nbo_desc nbo_desc_batch_norm = {
    .name = "batch_norm", .bw_name = "NativeBatchNormBackward", .n_in = -1, .n_out = 4,
    .flags = NBO_SAVE_INPUTS | NBO_SAVE_AUX_OUTPUTS, .nograd_inputs = (1u << 3) | (1u << 4),
    .unsaved_inputs = (1u << 2) | (1u << 3) | (1u << 4), /* bias and the running statistics */
    .attrs = "flag=training f0=eps",
    .torch = "torch.native_batch_norm",
    .summary = "fused batch normalisation over dim 1: y, and the batch (or running) mean, 1/sqrt(var + eps), var",
    .infer = bn_infer, .forward = bn_forward, .backward = bn_backward};

/* ---- batch_norm_backward(g, x, mean, invstd, w) -> gx, gw, gb ---------------------------------- */

static int bnb_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_batch_norm_backward";
    static const char *const names[] = {"grad", "input", "mean", "invstd", "weight"};
    nb_tensor *g = in[0], *x = in[1];
    if (x->ndim < 2 || !nb_dtype_is_float(x->dtype) || !nb_dtype_is_float(g->dtype) || g->ndim != x->ndim ||
        memcmp(g->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim) != 0)
        return nbc_error(NB_ERR_ARG, "%s: expected a floating input (N, C, ...) and a gradient of its shape; got %s and %s",
                         fn, nbc_desc(x), nbc_desc(g));
    int64_t c = x->shape[1];
    for (int i = 2; i < 5; i++) {
        int rc = check_param(fn, names[i], in[i], c);
        if (rc) return rc;
    }
    nb_dtype d = nb_promote_types(nb_promote_types(g->dtype, x->dtype), in[4]->dtype);
    nbo_meta_set(&out[0], d, x->ndim, x->shape);
    nbo_meta_set(&out[1], d, 1, &c);
    nbo_meta_set(&out[2], d, 1, &c);
    return 0;
}

static int bnb_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_batch_norm_backward";
    nb_tensor *x = in[1];
    nb_dtype ct = nbk_compute_type(nb_promote_types(nb_promote_types(out[0]->dtype, in[2]->dtype), in[3]->dtype));
    int64_t s = 1;
    for (int d = 2; d < x->ndim; d++) s *= x->shape[d];
    nbk_bn_geom g = {.n = x->shape[0], .c = x->shape[1], .s = s};
    nbo_buffer b[5];
    if (nbo_buffers_get(fn, in, 5, ct, b)) return NB_ERR_NOMEM;
    nbo_result r[3];
    int rc = 0, k = 0;
    for (; k < 3 && !rc; k++) rc = nbo_result_get(fn, out[k], ct, &r[k]);
    if (rc) k--;
    if (!rc) nbk_bn_backward(ct, &g, a->flag, b[0].data, b[1].data, b[2].data, b[3].data, b[4].data, r[0].data, r[1].data,
                             r[2].data);
    while (k--) nbo_result_finish(out[k], ct, &r[k], !rc);
    nbo_buffers_release(b, 5);
    return rc;
}

/* The closed form, from L = <Gx, gx> + <Gw, gw> + <Gb, gb> with mean and invstd independent inputs.
 * Per channel, sums over the other dims, M values each; xhat = (x - mean) invstd, k = w invstd:
 *   training: gx = k (g - A - xhat B), A = mean(g), B = mean(g xhat); gw = M B; gb = M A
 *     dL/dg    = k (Gx - mean(Gx) - xhat C) + Gw xhat + Gb,          C = mean(Gx xhat)
 *     dL/dxhat = g (Gw - k C) - k B Gx,     dL/dk = sum(Gx g) - M (A mean(Gx) + B C)
 *   evaluation: gx = k g
 *     dL/dg    = k Gx + Gw xhat + Gb,       dL/dxhat = Gw g,          dL/dk = sum(Gx g)
 * and then dL/dx = invstd dL/dxhat, dL/dmean = -invstd sum(dL/dxhat),
 * dL/dinvstd = sum(dL/dxhat (x - mean)) + w dL/dk, dL/dw = invstd dL/dk. */
static int bnb_backward(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_tensor *g = c->in[0], *x = c->in[1], *mean = c->in[2], *invstd = c->in[3], *w = c->in[4];
    nb_tensor *Gx = gout[0], *Gw = gout[1], *Gb = gout[2];
    int nd = x->ndim;
    bool training = c->attrs->flag;
    double m = (double)per_channel(nd, x->shape);
#define CV(t) channel_view((t), nd)
    nb_tensor *k = nb_mul(w, invstd);
    nb_tensor *xc = nb_sub(x, CV(mean));
    nb_tensor *xhat = nb_mul(xc, CV(invstd));
    nb_tensor *A = NULL, *B = NULL, *C = NULL, *mGx = NULL;
    if (training) {
        A = nb_mul_scalar(channel_sum(g), 1.0 / m);
        B = nb_mul_scalar(channel_sum(nb_mul(g, xhat)), 1.0 / m);
        mGx = nb_mul_scalar(channel_sum(Gx), 1.0 / m);
        C = nb_mul_scalar(channel_sum(nb_mul(Gx, xhat)), 1.0 / m);
    }
    if (c->needs_grad[0]) {
        nb_tensor *t = training ? nb_sub(nb_sub(Gx, CV(mGx)), nb_mul(xhat, CV(C))) : Gx;
        gin[0] = nb_add(nb_add(nb_mul(CV(k), t), nb_mul(CV(Gw), xhat)), CV(Gb));
        if (!gin[0]) return nb_last_status();
    }
    bool need_x = c->needs_grad[1], need_m = c->needs_grad[2], need_i = c->needs_grad[3], need_w = c->needs_grad[4];
    nb_tensor *dxhat = NULL, *dk = NULL;
    if (need_x || need_m || need_i)
        dxhat = training ? nb_sub(nb_mul(g, CV(nb_sub(Gw, nb_mul(k, C)))), nb_mul(CV(nb_mul(k, B)), Gx))
                         : nb_mul(CV(Gw), g);
    if (need_i || need_w) {
        dk = channel_sum(nb_mul(Gx, g));
        if (training) dk = nb_sub(dk, nb_mul_scalar(nb_add(nb_mul(A, mGx), nb_mul(B, C)), m));
    }
#undef CV
    if (need_x && !(gin[1] = nb_mul(dxhat, channel_view(invstd, nd)))) return nb_last_status();
    if (need_m && !(gin[2] = nb_neg(nb_mul(invstd, channel_sum(dxhat))))) return nb_last_status();
    if (need_i && !(gin[3] = nb_add(channel_sum(nb_mul(dxhat, xc)), nb_mul(w, dk)))) return nb_last_status();
    if (need_w && !(gin[4] = nb_mul(invstd, dk))) return nb_last_status();
    return 0;
}

const nbo_desc nbo_desc_batch_norm_backward = {
    .name = "batch_norm_backward", .bw_name = "NativeBatchNormBackwardBackward", .n_in = 5, .n_out = 3,
    .flags = NBO_SAVE_INPUTS, .attrs = "flag=training",
    .torch = "torch.ops.aten.native_batch_norm_backward",
    .summary = "gradient of batch_norm: input, weight and bias gradients from the saved mean and invstd (internal)",
    .infer = bnb_infer, .forward = bnb_forward, .backward = bnb_backward};

/* ---- public wrapper ------------------------------------------------------------------------------ */

/* Evaluation with running statistics that require grad: they are differentiable inputs here, so take
 * the composition of primitive ops (their gradients come from the primitives). */
static nb_tensor *batch_norm_composite(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var,
                                       nb_tensor *weight, nb_tensor *bias, double eps) {
    nb_scope_begin();
    nb_tensor *y = nb_div(nb_sub(x, channel_view(running_mean, x->ndim)),
                          nb_sqrt(nb_add_scalar(channel_view(running_var, x->ndim), eps)));
    if (weight) y = nb_mul(y, channel_view(weight, x->ndim));
    if (bias) y = nb_add(y, channel_view(bias, x->ndim));
    nb_keep(y);
    nb_scope_end();
    return y;
}

nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var, nb_tensor *weight,
                         nb_tensor *bias, bool training, double momentum, double eps) {
    static const char fn[] = "nb_batch_norm";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim < 2 || !nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: expected a floating input (N, C, ...); got %s", fn, nbc_desc(x)), NULL;
    int64_t c = x->shape[1];
    if (check_param(fn, "running_mean", running_mean, c) || check_param(fn, "running_var", running_var, c) ||
        check_param(fn, "weight", weight, c) || check_param(fn, "bias", bias, c))
        return NULL;
    if (!training && (!running_mean || !running_var))
        return nbc_error(NB_ERR_ARG, "%s: evaluation mode needs running_mean and running_var", fn), NULL;
    int64_t count = per_channel(x->ndim, x->shape);
    if (training && count <= 1)
        return nbc_error(NB_ERR_ARG, "%s: expected more than 1 value per channel when training; got %s", fn,
                         nbc_desc(x)), NULL;
    if (!training && nbc_grad_enabled() && (running_mean->requires_grad || running_var->requires_grad))
        return batch_norm_composite(x, running_mean, running_var, weight, bias, eps);
    nb_scope_begin();
    nb_tensor *w = weight ? weight : nb_ones(1, &c, x->dtype);
    nb_tensor *b = bias ? bias : nb_zeros(1, &c, x->dtype);
    nb_attrs a = {.flag = training, .f0 = eps};
    nb_tensor *out[4];
    int rc = w && b ? nbo_apply(NBO_batch_norm, (nb_tensor *[]){x, w, b, running_mean, running_var}, training ? 3 : 5,
                                &a, out)
                    : nb_last_status();
    nb_tensor *y = rc ? NULL : out[0];
    if (y && training && running_mean && running_var) {
        /* running = (1 - m) running + m stat, with the unbiased variance, outside the graph */
        nb_no_grad_begin();
        nb_tensor *bm = nb_detach(out[1]);
        nb_tensor *bv = nb_mul_scalar(nb_detach(out[3]), (double)count / (double)(count - 1));
        rc = bm && bv ? nb_mul_scalar_(running_mean, 1 - momentum) : nb_last_status();
        if (!rc) rc = nb_add_(running_mean, bm, momentum);
        if (!rc) rc = nb_mul_scalar_(running_var, 1 - momentum);
        if (!rc) rc = nb_add_(running_var, bv, momentum);
        nb_no_grad_end();
        if (rc) y = NULL;
    }
    nb_keep(y);
    nb_scope_end();
    return y;
}
