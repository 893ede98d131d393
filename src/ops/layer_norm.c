/* ops/layer_norm.c — layer normalisation as two fused registry ops, and the normalisations built on it:
 *   layer_norm(x, w, b)                          -> y, mean, rstd
 *   layer_norm_backward(g, x, mean, rstd, w)     -> gx, gw, gb
 * over the last k dims of x (attribute ints[0] = k, f0 = eps); w and b have those k dims (the wrapper
 * passes ones / zeros when they are absent). mean and rstd = 1/sqrt(var + eps) have x's leading dims
 * followed by k ones, in the compute type (f32 for f16 / bf16), as torch.native_layer_norm.
 * layer_norm_backward's own backward is a closed form of primitive ops (mean and rstd taken as
 * independent inputs whose gradients flow back into layer_norm's outputs), so layer norm is
 * differentiable to any order, like batch_norm in norm.c.
 *
 * group_norm reshapes (N, C, *) to (N, G, C/G * prod(*)) and runs layer_norm over the last dim, then
 * applies the per-channel affine; instance_norm is batch_norm over (1, N*C, *) as in PyTorch. rms_norm
 * is a fused forward op (y, rstd) whose backward is built from primitive ops. */
#include "op.h"
#include "../kernels/cpu/norm.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------------- */

/* x's last k dims equal (k, shape)? */
static bool tail_matches(const nb_tensor *x, int k, const int64_t *shape) {
    return k <= x->ndim && (k == 0 || memcmp(x->shape + x->ndim - k, shape, sizeof(int64_t) * (size_t)k) == 0);
}

/* rows and features of x normalised over its last k dims */
static void rows_feats(const nb_tensor *x, int k, int64_t *rows, int64_t *d) {
    *d = nbc_numel(k, x->shape + x->ndim - k);
    *rows = nbc_numel(x->ndim - k, x->shape);
}

/* ---- layer_norm(x, w, b) -> y, mean, rstd ------------------------------------------------------ */

static int ln_check(const char *fn, nb_tensor *x, int k, nb_tensor *w, nb_tensor *b) {
    if (!nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: expected a floating input; got %s", fn, nbc_desc(x));
    if (k < 1 || k > x->ndim)
        return nbc_error(NB_ERR_ARG, "%s: normalized_shape has %d dims; expected 1 to %d for input %s", fn, k, x->ndim,
                         nbc_desc(x));
    nb_tensor *p[2] = {w, b};
    static const char *const names[2] = {"weight", "bias"};
    for (int i = 0; i < 2; i++)
        if (p[i] && (!nb_dtype_is_float(p[i]->dtype) || !(p[i]->ndim == k && tail_matches(x, k, p[i]->shape))))
            return nbc_error(NB_ERR_ARG, "%s: %s has %s; expected a floating tensor of the normalized shape %s", fn,
                             names[i], nbc_desc(p[i]), nbc_shape_str(k, x->shape + x->ndim - k));
    return 0;
}

/* mean / rstd shape: x's leading dims, then k ones */
static void stat_shape(const nb_tensor *x, int k, int64_t *shape) {
    for (int i = 0; i < x->ndim; i++) shape[i] = i < x->ndim - k ? x->shape[i] : 1;
}

static int ln_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    int k = (int)a->ints[0];
    int rc = ln_check("nb_layer_norm", in[0], k, in[1], in[2]);
    if (rc) return rc;
    nb_dtype d = nb_promote_types(nb_promote_types(in[0]->dtype, in[1]->dtype), in[2]->dtype);
    nb_dtype ct = nbk_compute_type(d);
    int64_t ss[NB_MAX_DIMS];
    stat_shape(in[0], k, ss);
    nbo_meta_set(&out[0], d, in[0]->ndim, in[0]->shape);
    nbo_meta_set(&out[1], ct, in[0]->ndim, ss);
    nbo_meta_set(&out[2], ct, in[0]->ndim, ss);
    return 0;
}

static int ln_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_layer_norm";
    nb_dtype ct = out[1]->dtype;
    int64_t rows, d;
    rows_feats(in[0], (int)a->ints[0], &rows, &d);
    nbo_buffer b[3];
    if (nbo_buffers_get(fn, in, 3, ct, b)) return NB_ERR_NOMEM;
    nbo_result r;
    int rc = nbo_result_get(fn, out[0], ct, &r);
    if (!rc) {
        nbk_ln_forward(ct, rows, d, a->f0, b[0].data, b[1].data, b[2].data, nbc_ptr(out[1]), nbc_ptr(out[2]), r.data);
        nbo_result_finish(out[0], ct, &r, true);
    }
    nbo_buffers_release(b, 3);
    return rc;
}

/* gout: y, mean, rstd. In x: d mean / dx = 1/D, d rstd / dx = -rstd^3 (x - mean) / D. */
static int ln_backward(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *w = c->in[1], *mean = c->out[1], *rstd = c->out[2];
    nb_attrs a = {.ints = {c->attrs->ints[0]}, .n_ints = 1, .flag = c->needs_grad[1] || c->needs_grad[2]};
    nb_tensor *r[3];
    int rc = nbo_apply(NBO_layer_norm_backward, (nb_tensor *[]){gout[0], x, mean, rstd, w}, 5, &a, r);
    if (rc) return rc;
    nb_tensor *gx = r[0];
    if (c->needs_grad[0]) {
        bool dm = !nbo_is_zero_grad(gout[1]), dr = !nbo_is_zero_grad(gout[2]);
        int64_t rows, d;
        rows_feats(x, (int)c->attrs->ints[0], &rows, &d);
        double inv_d = 1.0 / (double)d;
        if (dm) gx = nb_add(gx, nb_mul_scalar(gout[1], inv_d));
        if (dr) {
            nb_tensor *coef = nb_mul_scalar(nb_mul(gout[2], nb_pow_scalar(rstd, 3.0)), -inv_d);
            gx = nb_add(gx, nb_mul(nb_sub(x, mean), coef));
        }
        if (!gx) return nb_last_status();
        gin[0] = gx;
    }
    gin[1] = r[1];
    gin[2] = r[2];
    return 0;
}

const nbo_desc nbo_desc_layer_norm = {
    .name = "layer_norm", .bw_name = "NativeLayerNormBackward", .n_in = 3, .n_out = 3,
    .flags = NBO_SAVE_INPUTS | NBO_SAVE_AUX_OUTPUTS, .unsaved_inputs = 1u << 2, /* bias */
    .attrs = "ints=[k] f0=eps",
    .torch = "torch.native_layer_norm",
    .summary = "fused layer normalisation over the last k dims: y, and the per-row mean and 1/sqrt(var + eps)",
    .infer = ln_infer, .forward = ln_forward, .backward = ln_backward};

/* ---- layer_norm_backward(g, x, mean, rstd, w) -> gx, gw, gb ------------------------------------ */

static int lnb_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_layer_norm_backward";
    nb_tensor *g = in[0], *x = in[1], *w = in[4];
    int k = (int)a->ints[0];
    int rc = ln_check(fn, x, k, w, NULL);
    if (rc) return rc;
    if (!nb_dtype_is_float(g->dtype) || g->ndim != x->ndim ||
        memcmp(g->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim) != 0)
        return nbc_error(NB_ERR_ARG, "%s: the gradient has %s; expected a floating tensor of the input's shape %s", fn,
                         nbc_desc(g), nbc_shape_str(x->ndim, x->shape));
    int64_t ss[NB_MAX_DIMS];
    stat_shape(x, k, ss);
    for (int i = 2; i < 4; i++)
        if (!nb_dtype_is_float(in[i]->dtype) || in[i]->ndim != x->ndim ||
            memcmp(in[i]->shape, ss, sizeof(int64_t) * (size_t)x->ndim) != 0)
            return nbc_error(NB_ERR_ARG, "%s: %s has %s; expected %s", fn, i == 2 ? "mean" : "rstd", nbc_desc(in[i]),
                             nbc_shape_str(x->ndim, ss));
    nb_dtype d = nb_promote_types(nb_promote_types(g->dtype, x->dtype), w->dtype);
    nbo_meta_set(&out[0], d, x->ndim, x->shape);
    nbo_meta_set(&out[1], d, w->ndim, w->shape);
    nbo_meta_set(&out[2], d, w->ndim, w->shape);
    return 0;
}

static int lnb_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_layer_norm_backward";
    nb_dtype ct = nbk_compute_type(nb_promote_types(nb_promote_types(out[0]->dtype, in[2]->dtype), in[3]->dtype));
    int64_t rows, d;
    rows_feats(in[1], (int)a->ints[0], &rows, &d);
    nbo_buffer b[5];
    if (nbo_buffers_get(fn, in, 5, ct, b)) return NB_ERR_NOMEM;
    nbo_result r[3];
    int rc = 0, k = 0;
    for (; k < 3 && !rc; k++) rc = nbo_result_get(fn, out[k], ct, &r[k]);
    if (rc) k--;
    if (!rc) {
        /* gw / gb only when asked (flag); otherwise zeros, which nothing reads */
        if (!a->flag) memset(r[1].data, 0, (size_t)d * nb_dtype_size(ct)), memset(r[2].data, 0, (size_t)d * nb_dtype_size(ct));
        if (rows == 0 || d == 0) /* nothing to sum: zero weight / bias gradients */
            memset(r[1].data, 0, (size_t)d * nb_dtype_size(ct)), memset(r[2].data, 0, (size_t)d * nb_dtype_size(ct));
        nbk_ln_backward(ct, rows, d, b[0].data, b[1].data, b[2].data, b[3].data, b[4].data, r[0].data,
                        a->flag && rows ? r[1].data : NULL, a->flag && rows ? r[2].data : NULL);
    }
    while (k--) nbo_result_finish(out[k], ct, &r[k], !rc);
    nbo_buffers_release(b, 5);
    return rc;
}

/* The closed form, rows of D features, from L = <Gx, gx> + <Gw, gw> + <Gb, gb> with mean and rstd
 * independent inputs. Per row: xhat = (x - mean) rstd, h = g w, A = mean(h), B = mean(h xhat),
 * gx = rstd (h - A - xhat B); gw = sum_rows(g xhat), gb = sum_rows(g). With mGx = mean(Gx),
 * C = mean(Gx xhat):
 *   dL/dh    = rstd (Gx - mGx - xhat C)            -> dL/dg = w dL/dh + xhat Gw + Gb, dL/dw = sum_rows(g dL/dh)
 *   dL/dxhat = -rstd (h C + B Gx) + g Gw           -> dL/dx = rstd dL/dxhat, dL/dmean = -rstd sum(dL/dxhat)
 *   dL/drstd = sum((x - mean) dL/dxhat) + D (mean(Gx h) - A mGx - B C). */
static int lnb_backward(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_tensor *x = c->in[1], *mean = c->in[2], *rstd = c->in[3], *w = c->in[4];
    int k = (int)c->attrs->ints[0];
    int64_t rows, D;
    rows_feats(x, k, &rows, &D);
    const int64_t s2[2] = {rows, D}, s1[2] = {rows, 1};
    nb_tensor *g = nb_reshape(c->in[0], 2, s2), *x2 = nb_reshape(x, 2, s2), *Gx = nb_reshape(gout[0], 2, s2);
    nb_tensor *m2 = nb_reshape(mean, 2, s1), *r2 = nb_reshape(rstd, 2, s1), *w1 = nb_reshape(w, 1, &D);
    nb_tensor *Gw = nb_reshape(gout[1], 1, &D), *Gb = nb_reshape(gout[2], 1, &D);
    const nb_reduce_opts *row = NB_DIMS_KEEP(1);
    nb_tensor *xc = nb_sub(x2, m2), *xhat = nb_mul(xc, r2), *h = nb_mul(g, w1);
    nb_tensor *A = nb_mean(h, row), *B = nb_mean(nb_mul(h, xhat), row);
    nb_tensor *mGx = nb_mean(Gx, row), *C = nb_mean(nb_mul(Gx, xhat), row);
    bool need_g = c->needs_grad[0], need_x = c->needs_grad[1], need_m = c->needs_grad[2], need_r = c->needs_grad[3],
         need_w = c->needs_grad[4];
    if (need_g || need_w) {
        nb_tensor *dh = nb_mul(r2, nb_sub(nb_sub(Gx, mGx), nb_mul(xhat, C)));
        if (need_g && !(gin[0] = nb_reshape(nb_add(nb_add(nb_mul(dh, w1), nb_mul(xhat, Gw)), Gb), x->ndim, x->shape)))
            return nb_last_status();
        if (need_w && !(gin[4] = nb_reshape(nb_sum(nb_mul(g, dh), NB_DIMS(0)), w->ndim, w->shape)))
            return nb_last_status();
    }
    if (need_x || need_m || need_r) {
        nb_tensor *dxhat = nb_add(nb_neg(nb_mul(r2, nb_add(nb_mul(h, C), nb_mul(B, Gx)))), nb_mul(g, Gw));
        if (need_x && !(gin[1] = nb_reshape(nb_mul(dxhat, r2), x->ndim, x->shape))) return nb_last_status();
        if (need_m && !(gin[2] = nb_reshape(nb_neg(nb_mul(r2, nb_sum(dxhat, NB_DIMS_KEEP(1)))), mean->ndim, mean->shape)))
            return nb_last_status();
        if (need_r) {
            nb_tensor *direct = nb_mul_scalar(
                nb_sub(nb_sub(nb_mean(nb_mul(Gx, h), row), nb_mul(A, mGx)), nb_mul(B, C)), (double)D);
            nb_tensor *dr = nb_add(nb_sum(nb_mul(dxhat, xc), NB_DIMS_KEEP(1)), direct);
            if (!(gin[3] = nb_reshape(dr, rstd->ndim, rstd->shape))) return nb_last_status();
        }
    }
    return 0;
}

const nbo_desc nbo_desc_layer_norm_backward = {
    .name = "layer_norm_backward", .bw_name = "NativeLayerNormBackwardBackward", .n_in = 5, .n_out = 3,
    .flags = NBO_SAVE_INPUTS, .attrs = "ints=[k] flag=weight_and_bias_grads",
    .torch = "torch.ops.aten.native_layer_norm_backward",
    .summary = "gradient of layer_norm: input, weight and bias gradients from the saved mean and rstd (internal)",
    .infer = lnb_infer, .forward = lnb_forward, .backward = lnb_backward};

/* ---- public wrappers ----------------------------------------------------------------------------- */

nb_tensor *nb_layer_norm(nb_tensor *x, int ndim, const int64_t *normalized_shape, nb_tensor *weight, nb_tensor *bias,
                         double eps) {
    static const char fn[] = "nb_layer_norm";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (ndim < 1 || ndim > x->ndim || !normalized_shape || !tail_matches(x, ndim, normalized_shape))
        return nbc_error(NB_ERR_ARG, "%s: normalized_shape %s does not match the last dims of input %s", fn,
                         normalized_shape ? nbc_shape_str(ndim < 0 ? 0 : ndim, normalized_shape) : "NULL", nbc_desc(x)),
               NULL;
    if (ln_check(fn, x, ndim, weight, bias)) return NULL;
    nb_scope_begin();
    nb_tensor *w = weight ? weight : nb_ones(ndim, normalized_shape, x->dtype);
    nb_tensor *b = bias ? bias : nb_zeros(ndim, normalized_shape, x->dtype);
    nb_attrs a = {.n_ints = 1, .ints = {ndim}, .f0 = eps};
    nb_tensor *out[3];
    nb_tensor *y = w && b && !nbo_apply(NBO_layer_norm, (nb_tensor *[]){x, w, b}, 3, &a, out) ? out[0] : NULL;
    nb_keep(y);
    nb_scope_end();
    return y;
}

/* (C) -> (1, C, 1, ...) to broadcast over x of ndim dims. */
static nb_tensor *channel_view(nb_tensor *v, int ndim) {
    int64_t shape[NB_MAX_DIMS];
    for (int d = 0; d < ndim; d++) shape[d] = d == 1 ? -1 : 1;
    return nb_reshape(v, ndim, shape);
}

static int check_channel_param(const char *fn, const char *what, const nb_tensor *p, int64_t c) {
    if (p && (p->ndim != 1 || p->shape[0] != c || !nb_dtype_is_float(p->dtype)))
        return nbc_error(NB_ERR_ARG, "%s: %s has %s; expected a floating [%lld] (one per channel)", fn, what, nbc_desc(p),
                         (long long)c);
    return 0;
}

nb_tensor *nb_group_norm(nb_tensor *x, int64_t num_groups, nb_tensor *weight, nb_tensor *bias, double eps) {
    static const char fn[] = "nb_group_norm";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim < 2 || !nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: expected a floating input (N, C, ...); got %s", fn, nbc_desc(x)), NULL;
    int64_t c = x->shape[1];
    if (num_groups <= 0 || c % num_groups != 0)
        return nbc_error(NB_ERR_ARG, "%s: expected the number of channels of input %s to be divisible by num_groups = %lld",
                         fn, nbc_desc(x), (long long)num_groups), NULL;
    if (check_channel_param(fn, "weight", weight, c) || check_channel_param(fn, "bias", bias, c)) return NULL;
    nb_scope_begin();
    int64_t d = c / num_groups * nbc_numel(x->ndim - 2, x->shape + 2);
    nb_tensor *xg = nb_reshape(x, 3, (const int64_t[]){x->shape[0], num_groups, d});
    nb_tensor *y = nb_reshape(nb_layer_norm(xg, 1, &d, NULL, NULL, eps), x->ndim, x->shape);
    if (weight) y = nb_mul(y, channel_view(weight, x->ndim));
    if (bias) y = nb_add(y, channel_view(bias, x->ndim));
    nb_keep(y);
    nb_scope_end();
    return y;
}

/* Repeat v (C) n times: (n * C). */
static nb_tensor *repeat_n(nb_tensor *v, int64_t n) {
    int64_t c = v->shape[0];
    return nb_reshape(nb_expand(nb_unsqueeze(v, 0), 2, (const int64_t[]){n, c}), 1, (const int64_t[]){n * c});
}

nb_tensor *nb_instance_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var, nb_tensor *weight,
                            nb_tensor *bias, bool use_input_stats, double momentum, double eps) {
    static const char fn[] = "nb_instance_norm";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim < 3 || !nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: expected a floating input (N, C, L, ...) with at least 3 dims; got %s", fn,
                         nbc_desc(x)), NULL;
    int64_t n = x->shape[0], c = x->shape[1];
    if (check_channel_param(fn, "weight", weight, c) || check_channel_param(fn, "bias", bias, c) ||
        check_channel_param(fn, "running_mean", running_mean, c) || check_channel_param(fn, "running_var", running_var, c))
        return NULL;
    if (!!running_mean != !!running_var)
        return nbc_error(NB_ERR_ARG, "%s: running_mean and running_var must be given together", fn), NULL;
    if (!use_input_stats && !running_mean)
        return nbc_error(NB_ERR_ARG, "%s: expected running_mean and running_var when use_input_stats is false", fn), NULL;
    nb_scope_begin();
    /* as PyTorch: batch_norm of (1, N*C, *) with the per-channel tensors repeated N times */
    int64_t shape[NB_MAX_DIMS];
    shape[0] = 1;
    shape[1] = n * c;
    for (int d = 2; d < x->ndim; d++) shape[d] = x->shape[d];
    nb_tensor *rm = NULL, *rv = NULL;
    if (running_mean) {
        nb_no_grad_begin();
        rm = nb_clone(repeat_n(running_mean, n));
        rv = nb_clone(repeat_n(running_var, n));
        nb_no_grad_end();
    }
    nb_tensor *y = nb_batch_norm(nb_reshape(x, x->ndim, shape), rm, rv, weight ? repeat_n(weight, n) : NULL,
                                 bias ? repeat_n(bias, n) : NULL, use_input_stats, momentum, eps);
    y = nb_reshape(y, x->ndim, x->shape);
    if (y && running_mean && use_input_stats) {
        /* the running statistics become the mean over the batch of the updated copies */
        nb_no_grad_begin();
        const int64_t nc[2] = {n, c};
        int rc = nb_copy_(running_mean, nb_mean(nb_reshape(rm, 2, nc), NB_DIMS(0)));
        if (!rc) rc = nb_copy_(running_var, nb_mean(nb_reshape(rv, 2, nc), NB_DIMS(0)));
        nb_no_grad_end();
        if (rc) y = NULL;
    }
    nb_keep(y);
    nb_scope_end();
    return y;
}

/* PyTorch's eps=None for rms_norm: the machine epsilon of the compute type (f32 for f16 / bf16, as
 * aten's rms_norm takes numeric_limits of the op-math type). */
static double nbo_finfo_eps(nb_dtype d) { return d == NB_F64 ? DBL_EPSILON : FLT_EPSILON; }

/* ---- rms_norm(x, w) -> y, rstd ----------------------------------------------------------------- */

static int rms_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    int k = (int)a->ints[0];
    int rc = ln_check("nb_rms_norm", in[0], k, in[1], NULL);
    if (rc) return rc;
    nb_dtype d = nb_promote_types(in[0]->dtype, in[1]->dtype);
    int64_t ss[NB_MAX_DIMS];
    stat_shape(in[0], k, ss);
    nbo_meta_set(&out[0], d, in[0]->ndim, in[0]->shape);
    nbo_meta_set(&out[1], nbk_compute_type(d), in[0]->ndim, ss);
    return 0;
}

static int rms_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_rms_norm";
    nb_dtype ct = out[1]->dtype;
    int64_t rows, d;
    rows_feats(in[0], (int)a->ints[0], &rows, &d);
    nbo_buffer b[2];
    if (nbo_buffers_get(fn, in, 2, ct, b)) return NB_ERR_NOMEM;
    nbo_result r;
    int rc = nbo_result_get(fn, out[0], ct, &r);
    if (!rc) {
        nbk_rms_forward(ct, rows, d, a->f0, b[0].data, b[1].data, nbc_ptr(out[1]), r.data);
        nbo_result_finish(out[0], ct, &r, true);
    }
    nbo_buffers_release(b, 2);
    return rc;
}

/* From primitive ops (so differentiable again; rstd is this op's own output, its gradient flows
 * back here as gout[1]). Rows of D: xhat = x rstd, h = g w:
 *   gx = rstd (h - xhat mean(h xhat)) - grstd rstd^3 x / D,   gw = sum_rows(g xhat). */
static int rms_backward(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *w = c->in[1], *rstd = c->out[1];
    int64_t rows, D;
    rows_feats(x, (int)c->attrs->ints[0], &rows, &D);
    const int64_t s2[2] = {rows, D}, s1[2] = {rows, 1};
    nb_tensor *g = nb_reshape(gout[0], 2, s2), *x2 = nb_reshape(x, 2, s2), *r2 = nb_reshape(rstd, 2, s1);
    nb_tensor *w1 = nb_reshape(w, 1, &D), *xhat = nb_mul(x2, r2);
    if (c->needs_grad[0]) {
        nb_tensor *h = nb_mul(g, w1);
        nb_tensor *gx = nb_mul(r2, nb_sub(h, nb_mul(xhat, nb_mean(nb_mul(h, xhat), NB_DIMS_KEEP(1)))));
        if (!nbo_is_zero_grad(gout[1])) {
            nb_tensor *coef = nb_mul_scalar(nb_mul(nb_reshape(gout[1], 2, s1), nb_pow_scalar(r2, 3.0)), -1.0 / (double)D);
            gx = nb_add(gx, nb_mul(x2, coef));
        }
        if (!(gin[0] = nb_to(nb_reshape(gx, x->ndim, x->shape), x->dtype))) return nb_last_status();
    }
    if (c->needs_grad[1] && !(gin[1] = nb_to(nb_reshape(nb_sum(nb_mul(g, xhat), NB_DIMS(0)), w->ndim, w->shape), w->dtype)))
        return nb_last_status();
    return 0;
}

const nbo_desc nbo_desc_rms_norm = {
    .name = "rms_norm", .bw_name = "RmsNormBackward", .n_in = 2, .n_out = 2,
    .flags = NBO_SAVE_INPUTS | NBO_SAVE_AUX_OUTPUTS,
    .attrs = "ints=[k] f0=eps",
    .torch = "torch.nn.functional.rms_norm",
    .summary = "fused RMS normalisation over the last k dims: y and the per-row 1/sqrt(mean(x^2) + eps)",
    .infer = rms_infer, .forward = rms_forward, .backward = rms_backward};

nb_tensor *nb_rms_norm(nb_tensor *x, int ndim, const int64_t *normalized_shape, nb_tensor *weight, double eps) {
    static const char fn[] = "nb_rms_norm";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (ndim < 1 || ndim > x->ndim || !normalized_shape || !tail_matches(x, ndim, normalized_shape))
        return nbc_error(NB_ERR_ARG, "%s: normalized_shape %s does not match the last dims of input %s", fn,
                         normalized_shape ? nbc_shape_str(ndim < 0 ? 0 : ndim, normalized_shape) : "NULL", nbc_desc(x)),
               NULL;
    if (ln_check(fn, x, ndim, weight, NULL)) return NULL;
    if (!(eps >= 0)) eps = nbo_finfo_eps(x->dtype); /* torch: eps=None */
    nb_scope_begin();
    nb_tensor *w = weight ? weight : nb_ones(ndim, normalized_shape, x->dtype);
    nb_attrs a = {.n_ints = 1, .ints = {ndim}, .f0 = eps};
    nb_tensor *out[2];
    nb_tensor *y = w && !nbo_apply(NBO_rms_norm, (nb_tensor *[]){x, w}, 2, &a, out) ? out[0] : NULL;
    nb_keep(y);
    nb_scope_end();
    return y;
}
