/* ops/pool.c — max pooling over (N, C, H, W) with stride, padding, dilation and ceil_mode, returning
 * values and flat indices; its gradient is a scatter-add at the indices (max_pool2d_backward), whose
 * own gradient is the matching gather (pool_gather), so pooling is differentiable to any order.
 * Attributes of max_pool2d: ints = {kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode}; of the scatter: the
 * input shape {N, C, H, W}. */
#include "op.h"
#include "../kernels/cpu/conv.h"
#include "../kernels/cpu/maxpool.h"

#include <string.h>

enum { P_KH, P_KW, P_SH, P_SW, P_PH, P_PW, P_DH, P_DW, P_CEIL };

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = in + 2 * p - d * (k - 1) - 1;
    if (span < 0) return 0;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    /* with ceil_mode the last window must start inside the input or the left padding */
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

static nbk_conv_geom pool_geom(const int64_t *xs, const nb_attrs *a) {
    const int64_t *v = a->ints;
    nbk_conv_geom g = {.n = xs[0], .c = xs[1], .h = xs[2], .w = xs[3], .kh = v[P_KH], .kw = v[P_KW], .sh = v[P_SH],
                       .sw = v[P_SW], .ph = v[P_PH], .pw = v[P_PW], .dh = v[P_DH], .dw = v[P_DW]};
    g.oh = pool_out(g.h, g.kh, g.sh, g.ph, g.dh, v[P_CEIL]);
    g.ow = pool_out(g.w, g.kw, g.sw, g.pw, g.dw, v[P_CEIL]);
    return g;
}

static int max_pool2d_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_max_pool2d";
    nb_tensor *x = in[0];
    if (x->ndim != 4) return nbc_error(NB_ERR_ARG, "%s: expected input (N, C, H, W); got %s", fn, nbc_desc(x));
    if (!nb_dtype_is_float(x->dtype)) return nbc_error(NB_ERR_ARG, "%s: input must be floating; got %s", fn, nbc_desc(x));
    nbk_conv_geom g = pool_geom(x->shape, a);
    if (g.ph * 2 > g.dh * (g.kh - 1) + 1 || g.pw * 2 > g.dw * (g.kw - 1) + 1)
        return nbc_error(NB_ERR_ARG, "%s: padding (%lld, %lld) must be at most half the kernel size (%lld, %lld)", fn,
                         (long long)g.ph, (long long)g.pw, (long long)g.kh, (long long)g.kw);
    if (g.oh <= 0 || g.ow <= 0)
        return nbc_error(NB_ERR_ARG, "%s: kernel (%lld, %lld) is larger than the padded input %s", fn, (long long)g.kh,
                         (long long)g.kw, nbc_desc(x));
    int64_t shape[4] = {g.n, g.c, g.oh, g.ow};
    nbo_meta_set(&out[0], x->dtype, 4, shape);
    nbo_meta_set(&out[1], NB_I64, 4, shape);
    return 0;
}

static int max_pool2d_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_max_pool2d";
    nb_tensor *x = in[0], *y = out[0];
    nb_dtype c = nbk_compute_type(x->dtype);
    nbk_conv_geom g = pool_geom(x->shape, a);
    nbo_buffer bx;
    if (nbo_buffer_get(fn, x, c, &bx)) return NB_ERR_NOMEM;
    nbo_result r;
    if (nbo_result_get(fn, y, c, &r)) {
        nbo_buffer_release(&bx);
        return NB_ERR_NOMEM;
    }
    void *res = r.data;
    bool k22 = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1;
    if (!(k22 && c == NB_F32 && nbk_maxpool2x2_f32(g.n * g.c, g.h, g.w, g.oh, g.ow, bx.data, res, nbc_ptr(out[1]))))
        nbk_max_pool2d(c, &g, bx.data, res, nbc_ptr(out[1]));
    nbo_result_finish(y, c, &r, true);
    nbo_buffer_release(&bx);
    return 0;
}

static int max_pool2d_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs a = {.n_ints = 4};
    memcpy(a.ints, c->in_meta[0].shape, 4 * sizeof(int64_t));
    gin[0] = nbo_apply1(NBO_max_pool2d_backward, (nb_tensor *[]){g[0], c->out[1]}, 2, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_max_pool2d = {
    .name = "max_pool2d", .bw_name = "MaxPool2DWithIndicesBackward", .n_in = 1, .n_out = 2,
    .flags = NBO_SAVE_OUTPUTS, .attrs = "ints=[kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode]",
    .torch = "torch.nn.functional.max_pool2d(return_indices=True)",
    .summary = "window maximum and its flat index in the H*W plane",
    .infer = max_pool2d_infer, .forward = max_pool2d_forward, .backward = max_pool2d_bw};

/* ---- max_pool2d_backward(g, idx) -> zeros of the input shape with g added at idx ------------------ */

static int check_idx(const char *fn, const nb_tensor *t, const nb_tensor *idx) {
    if (idx->dtype != NB_I64 || idx->ndim != 4 || t->ndim != 4 || idx->shape[0] != t->shape[0] ||
        idx->shape[1] != t->shape[1])
        return nbc_error(NB_ERR_ARG, "%s: indices %s do not fit %s", fn, nbc_desc(idx), nbc_desc(t));
    return 0;
}

static int scatter_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *g = in[0], *idx = in[1];
    if (idx->ndim != 4 || g->ndim != 4 || memcmp(g->shape, idx->shape, 4 * sizeof(int64_t)) != 0 || idx->dtype != NB_I64 ||
        g->shape[0] != a->ints[0] || g->shape[1] != a->ints[1])
        return nbc_error(NB_ERR_ARG, "nb_max_pool2d_backward: gradient %s and indices %s do not match input %s",
                         nbc_desc(g), nbc_desc(idx), nbc_shape_str(4, a->ints));
    nbo_meta_set(out, g->dtype, 4, a->ints);
    return 0;
}

static int scatter_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_max_pool2d_backward";
    nb_tensor *g = in[0], *gx = out[0];
    nb_dtype c = nbk_compute_type(g->dtype);
    nbo_buffer bg, bi;
    if (nbo_buffer_get(fn, g, c, &bg)) return NB_ERR_NOMEM;
    if (nbo_buffer_get(fn, in[1], NB_I64, &bi)) {
        nbo_buffer_release(&bg);
        return NB_ERR_NOMEM;
    }
    int64_t planes = gx->shape[0] * gx->shape[1], in_size = gx->shape[2] * gx->shape[3];
    int64_t out_size = g->shape[2] * g->shape[3];
    nbo_result r;
    int rc = nbo_result_get(fn, gx, c, &r);
    if (!rc) {
        const int64_t *ix = bi.data;
        /* outside data may flow in here: the kernel checks every index as it goes */
        bool ok = nbk_maxpool_scatter(c, planes, gx->shape[2], gx->shape[3], g->shape[2], g->shape[3], bg.data, ix,
                                      r.data);
        for (int64_t k = 0; !ok && k < planes * out_size && !rc; k++) /* name the first bad one */
            if (ix[k] < 0 || ix[k] >= in_size)
                rc = nbc_error(NB_ERR_ARG, "%s: index %lld is out of range for a plane of %lld", fn, (long long)ix[k],
                               (long long)in_size);
        nbo_result_finish(gx, c, &r, ok);
    }
    nbo_buffer_release(&bi);
    nbo_buffer_release(&bg);
    return rc;
}

static int scatter_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nbo_apply1(NBO_pool_gather, (nb_tensor *[]){g[0], c->in[1]}, 2, NULL);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_max_pool2d_backward = {
    .name = "max_pool2d_backward", .bw_name = "MaxPool2DBackwardBackward", .n_in = 2, .n_out = 1,
    .flags = NBO_SAVE_INPUTS, .nograd_inputs = 1u << 1, .attrs = "ints=[N, C, H, W]",
    .torch = "torch.ops.aten.max_pool2d_with_indices_backward",
    .summary = "zeros with the gradient added at the pooling indices (internal)",
    .infer = scatter_infer, .forward = scatter_forward, .backward = scatter_bw};

/* ---- pool_gather(t, idx): t's planes read at idx --------------------------------------------------- */

static int gather_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    int rc = check_idx("nb_pool_gather", in[0], in[1]);
    if (rc) return rc;
    nbo_meta_set(out, in[0]->dtype, 4, in[1]->shape);
    return 0;
}

static int gather_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_pool_gather";
    nb_tensor *t = in[0], *y = out[0];
    nbo_buffer bt, bi;
    if (nbo_buffer_get(fn, t, t->dtype, &bt)) return NB_ERR_NOMEM;
    if (nbo_buffer_get(fn, in[1], NB_I64, &bi)) {
        nbo_buffer_release(&bt);
        return NB_ERR_NOMEM;
    }
    int64_t planes = t->shape[0] * t->shape[1], in_size = t->shape[2] * t->shape[3];
    int64_t out_size = y->shape[2] * y->shape[3];
    const int64_t *ix = bi.data;
    int rc = 0;
    for (int64_t k = 0; k < planes * out_size; k++)
        if (ix[k] < 0 || ix[k] >= in_size) {
            rc = nbc_error(NB_ERR_ARG, "%s: index %lld is out of range for a plane of %lld", fn, (long long)ix[k],
                           (long long)in_size);
            break;
        }
    if (!rc) {
        nb_dtype c = nbk_compute_type(t->dtype);
        if (c == t->dtype) {
            nbk_plane_gather(c, planes, in_size, out_size, bt.data, ix, nbc_ptr(y));
        } else { /* f16/bf16: gather is exact, do it element by element */
            for (int64_t p = 0; p < planes; p++)
                for (int64_t k = 0; k < out_size; k++)
                    nbc_store(nbc_ptr(y), y->dtype, p * out_size + k,
                              nbc_load(bt.data, t->dtype, p * in_size + ix[p * out_size + k]));
        }
    }
    nbo_buffer_release(&bi);
    nbo_buffer_release(&bt);
    return rc;
}

static int gather_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs a = {.n_ints = 4};
    memcpy(a.ints, c->in_meta[0].shape, 4 * sizeof(int64_t));
    gin[0] = nbo_apply1(NBO_max_pool2d_backward, (nb_tensor *[]){g[0], c->in[1]}, 2, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_pool_gather = {
    .name = "pool_gather", .bw_name = "PoolGatherBackward", .n_in = 2, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .attrs = "", .torch = "torch.gather on flattened H*W planes",
    .summary = "read each (N, C) plane at flat indices (internal: gradient of max_pool2d_backward)",
    .infer = gather_infer, .forward = gather_forward, .backward = gather_bw};

/* ---- public wrappers -------------------------------------------------------------------------------- */

static int64_t pair_get(const int64_t *v, int i, int64_t dflt) {
    int64_t r = i == 0 ? v[0] : (v[1] == 0 ? v[0] : v[1]);
    if (r == -1) return 0;
    return r == 0 ? dflt : r;
}

nb_tensor *nb_max_pool2d_with_indices(nb_tensor *x, const nb_pool_opts *opts, nb_tensor **indices) {
    static const char fn[] = "nb_max_pool2d";
    if (indices) *indices = NULL;
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!opts || opts->kernel[0] <= 0)
        return nbc_error(NB_ERR_ARG, "%s: the kernel size is required (opts.kernel)", fn), NULL;
    nb_attrs a = {.n_ints = 9};
    a.ints[P_KH] = pair_get(opts->kernel, 0, 1);
    a.ints[P_KW] = pair_get(opts->kernel, 1, 1);
    a.ints[P_SH] = pair_get(opts->stride, 0, a.ints[P_KH]);
    a.ints[P_SW] = pair_get(opts->stride, 1, a.ints[P_KW]);
    a.ints[P_PH] = opts->padding[0] < 0 ? 0 : opts->padding[0];
    a.ints[P_PW] = opts->padding[1] == 0 ? a.ints[P_PH] : (opts->padding[1] < 0 ? 0 : opts->padding[1]);
    a.ints[P_DH] = pair_get(opts->dilation, 0, 1);
    a.ints[P_DW] = pair_get(opts->dilation, 1, 1);
    a.ints[P_CEIL] = opts->ceil_mode;
    for (int i = 0; i < P_CEIL; i++)
        if (a.ints[i] < (i == P_PH || i == P_PW ? 0 : 1))
            return nbc_error(NB_ERR_ARG, "%s: kernel, stride and dilation must be at least 1", fn), NULL;
    bool batched = x->ndim == 4;
    nb_tensor *x4 = x->ndim == 3 ? nb_unsqueeze(x, 0) : nb_retain(x);
    nb_tensor *out[2];
    int rc = x4 ? nbo_apply(NBO_max_pool2d, &x4, 1, &a, out) : nb_last_status();
    nb_free(x4);
    if (rc) return NULL;
    if (!batched) { /* (C, H, W) in, (C, OH, OW) out */
        for (int j = 0; j < 2; j++) {
            nb_tensor *s = nb_squeeze(out[j], 0);
            nb_free(out[j]);
            out[j] = s;
        }
        if (!out[0] || !out[1]) {
            nb_free(out[0]);
            nb_free(out[1]);
            return NULL;
        }
    }
    if (indices) *indices = out[1];
    else nb_free(out[1]);
    return out[0];
}

nb_tensor *nb_max_pool2d(nb_tensor *x, const nb_pool_opts *opts) { return nb_max_pool2d_with_indices(x, opts, NULL); }
