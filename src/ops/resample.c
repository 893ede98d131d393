/* ops/resample.c — the separable linear maps of image planes as ops: avg_pool2d,
 * adaptive_avg_pool2d and interpolate (nearest, bilinear), all sharing one kernel (kernels/cpu/
 * resample.h: Y = A_h X A_w^T per plane with banded A_h, A_w) and one internal gradient op,
 * resample2d_backward (the adjoint, A_h^T G A_w), whose own gradient is the forward op again: every
 * one of them is linear, so they are differentiable to any order. adaptive_max_pool2d returns values
 * and flat indices like max_pool2d and reuses its gradient op (max_pool2d_backward).
 *
 * Attributes (ints): {which, OH, OW, kH, kW, sH, sW, pH, pW, ceil_mode, count_include_pad,
 * divisor_override, mode, N, C, H, W}; f0, f1 = scale factors (H, W) given to interpolate, or 0;
 * flag = align_corners. OH, OW are given for the adaptive pools and interpolate and computed for
 * avg_pool2d; N..W (the input shape) are filled in for the gradient op. */
#include "op.h"
#include "../kernels/cpu/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { R_WHICH, R_OH, R_OW, R_KH, R_KW, R_SH, R_SW, R_PH, R_PW, R_CEIL, R_CIP, R_DIV, R_MODE, R_N, R_C, R_H, R_W, R_COUNT };
enum { RS_AVG, RS_ADAPTIVE, RS_INTERP };
enum { RS_NEAREST, RS_BILINEAR };

static const char *rs_fn(const nb_attrs *a) {
    static const char *const names[] = {"nb_avg_pool2d", "nb_adaptive_avg_pool2d", "nb_interpolate"};
    return names[a->ints[R_WHICH]];
}

/* Output size of a pooling window walk (PyTorch's pooling_output_shape). */
static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
    int64_t span = in + 2 * p - k;
    if (span < 0) return 0;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + p) out--; /* the last window must start inside the input or left pad */
    return out;
}

/* Output size along dim d (0: H, 1: W) for an input of size in. */
static int64_t rs_out(const nb_attrs *a, int d, int64_t in) {
    const int64_t *v = a->ints;
    if (v[R_WHICH] == RS_AVG) return pool_out(in, v[R_KH + d], v[R_SH + d], v[R_PH + d], v[R_CEIL]);
    return v[R_OH + d];
}

/* PyTorch's nearest_idx (upsample_nearest: the legacy floor(dst * scale) index, in f32). */
static int64_t nearest_idx(int64_t o, int64_t in, int64_t out, double scale_factor) {
    if (out == in) return o;
    if (out == 2 * in) return o >> 1;
    float scale = scale_factor > 0 ? (float)(1.0 / scale_factor) : (float)in / (float)out;
    int64_t i = (int64_t)floorf((float)o * scale);
    return i < in - 1 ? i : in - 1;
}

/* The band of A along dim d: which inputs each output reads, with which weights. */
static int rs_band(const char *fn, const nb_attrs *a, int d, int64_t in, int64_t out, nbk_band *b) {
    const int64_t *v = a->ints;
    int64_t which = v[R_WHICH], maxlen = 2;
    if (which == RS_AVG) maxlen = v[R_KH + d];
    else if (which == RS_ADAPTIVE) maxlen = in / out + 2; /* ceil((o+1)in/out) - floor(o in/out) <= in/out + 2 */
    if (maxlen > in) maxlen = in;
    if (maxlen < 1) maxlen = 1;
    *b = (nbk_band){.in = in, .out = out, .maxlen = maxlen};
    size_t n = (size_t)(out > 0 ? out : 1);
    b->start = malloc(n * sizeof(int64_t));
    b->len = malloc(n * sizeof(int64_t));
    b->w = calloc(n * (size_t)maxlen, sizeof(double));
    if (!b->start || !b->len || !b->w) return nbc_oom(fn);
    for (int64_t o = 0; o < out; o++) {
        double *w = b->w + o * maxlen;
        int64_t s = 0, e = 1;
        if (which == RS_AVG) {
            int64_t k = v[R_KH + d], st = v[R_SH + d], p = v[R_PH + d];
            s = o * st - p;
            e = s + k < in + p ? s + k : in + p;
            int64_t pool = e - s;
            s = s < 0 ? 0 : s;
            e = e > in ? in : e;
            double div = v[R_DIV] ? 1.0 : (double)(v[R_CIP] ? pool : e - s);
            for (int64_t j = 0; j < e - s; j++) w[j] = 1.0 / div;
        } else if (which == RS_ADAPTIVE) {
            s = (o * in) / out;
            e = ((o + 1) * in + out - 1) / out;
            for (int64_t j = 0; j < e - s; j++) w[j] = 1.0 / (double)(e - s);
        } else if (v[R_MODE] == RS_NEAREST) {
            s = nearest_idx(o, in, out, d ? a->f1 : a->f0);
            e = s + 1;
            w[0] = 1;
        } else { /* bilinear: PyTorch's area_pixel_compute_source_index */
            double sf = d ? a->f1 : a->f0, scale, src;
            if (a->flag) scale = out > 1 ? (double)(in - 1) / (double)(out - 1) : 0.0;
            else scale = sf > 0 ? 1.0 / sf : (double)in / (double)out;
            src = a->flag ? scale * (double)o : scale * ((double)o + 0.5) - 0.5;
            if (src < 0) src = 0;
            s = (int64_t)src;
            if (s > in - 1) s = in - 1;
            double l1 = src - (double)s;
            if (s < in - 1) {
                e = s + 2;
                w[0] = 1.0 - l1;
                w[1] = l1;
            } else {
                e = s + 1;
                w[0] = (1.0 - l1) + l1;
            }
        }
        b->start[o] = s;
        b->len[o] = e - s;
    }
    if (which == RS_AVG && v[R_DIV] && d == 0) /* the divisor once, folded into the H band */
        for (int64_t i = 0; i < out * maxlen; i++) b->w[i] /= (double)v[R_DIV];
    return 0;
}

static void band_free(nbk_band *b) {
    free(b->start);
    free(b->len);
    free(b->w);
}

/* y = A_h x A_w^T (adjoint false; x is the input) or y = A_h^T x A_w (adjoint; x is the gradient). */
static int rs_run(const nb_attrs *a, nb_tensor *x, nb_tensor *y, bool adjoint) {
    const char *fn = adjoint ? "nb_resample2d_backward" : rs_fn(a);
    const nb_tensor *big = adjoint ? y : x, *small = adjoint ? x : y;
    nbk_band bh = {0}, bw = {0};
    int rc = rs_band(fn, a, 0, big->shape[2], small->shape[2], &bh);
    if (!rc) rc = rs_band(fn, a, 1, big->shape[3], small->shape[3], &bw);
    nb_dtype c = nbk_compute_type(y->dtype);
    nbo_buffer bx = {0};
    if (!rc && nbo_buffer_get(fn, x, c, &bx)) rc = NB_ERR_NOMEM;
    nbo_result r = {0};
    bool have_r = !rc && !(rc = nbo_result_get(fn, y, c, &r));
    if (!rc && !nbk_resample2d(c, y->shape[0] * y->shape[1], &bh, &bw, bx.data, r.data, adjoint)) rc = nbc_oom(fn);
    if (have_r) nbo_result_finish(y, c, &r, !rc);
    if (bx.data) nbo_buffer_release(&bx);
    band_free(&bh);
    band_free(&bw);
    return rc;
}

/* ---- avg_pool2d, adaptive_avg_pool2d, interpolate --------------------------------------------------- */

static int rs_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    const char *fn = rs_fn(a);
    const int64_t *v = a->ints;
    nb_tensor *x = in[0];
    if (!nb_dtype_is_float(x->dtype)) return nbc_error(NB_ERR_ARG, "%s: input must be floating; got %s", fn, nbc_desc(x));
    if (x->ndim != 4) return nbc_error(NB_ERR_ARG, "%s: expected input (N, C, H, W); got %s", fn, nbc_desc(x));
    if (v[R_WHICH] == RS_AVG) {
        if (v[R_KH] < 1 || v[R_KW] < 1 || v[R_SH] < 1 || v[R_SW] < 1 || v[R_PH] < 0 || v[R_PW] < 0)
            return nbc_error(NB_ERR_ARG, "%s: kernel and stride must be at least 1 and padding at least 0", fn);
        if (v[R_PH] * 2 > v[R_KH] || v[R_PW] * 2 > v[R_KW])
            return nbc_error(NB_ERR_ARG, "%s: padding (%lld, %lld) must be at most half the kernel size (%lld, %lld)", fn,
                             (long long)v[R_PH], (long long)v[R_PW], (long long)v[R_KH], (long long)v[R_KW]);
        if (v[R_DIV] < 0) return nbc_error(NB_ERR_ARG, "%s: divisor_override must be positive", fn);
        if (rs_out(a, 0, x->shape[2]) <= 0 || rs_out(a, 1, x->shape[3]) <= 0)
            return nbc_error(NB_ERR_ARG, "%s: kernel (%lld, %lld) is larger than the padded input %s", fn,
                             (long long)v[R_KH], (long long)v[R_KW], nbc_desc(x));
    } else {
        if (x->shape[2] < 1 || x->shape[3] < 1)
            return nbc_error(NB_ERR_ARG, "%s: input %s has an empty spatial dim", fn, nbc_desc(x));
        if (v[R_OH] < 1 || v[R_OW] < 1)
            return nbc_error(NB_ERR_ARG, "%s: output size (%lld, %lld) must be positive (input %s)", fn,
                             (long long)v[R_OH], (long long)v[R_OW], nbc_desc(x));
    }
    int64_t shape[4] = {x->shape[0], x->shape[1], rs_out(a, 0, x->shape[2]), rs_out(a, 1, x->shape[3])};
    nbo_meta_set(out, x->dtype, 4, shape);
    return 0;
}

static int rs_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    return rs_run(a, in[0], out[0], false);
}

static int rs_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs a = *c->attrs;
    a.n_ints = R_COUNT;
    memcpy(&a.ints[R_N], c->in_meta[0].shape, 4 * sizeof(int64_t));
    gin[0] = nbo_apply1(NBO_resample2d_backward, (nb_tensor *[]){g[0]}, 1, &a);
    return gin[0] ? 0 : nb_last_status();
}

#define RS_ATTRS "ints=[which, OH, OW, kH, kW, sH, sW, pH, pW, ceil_mode, count_include_pad, divisor_override, mode] " \
                 "f0,f1=scale_factor flag=align_corners"

const nbo_desc nbo_desc_avg_pool2d = {
    .name = "avg_pool2d", .bw_name = "AvgPool2DBackward", .n_in = 1, .n_out = 1, .attrs = RS_ATTRS,
    .torch = "torch.nn.functional.avg_pool2d",
    .summary = "window mean with padding, ceil_mode, count_include_pad and divisor_override",
    .infer = rs_infer, .forward = rs_forward, .backward = rs_bw};

const nbo_desc nbo_desc_adaptive_avg_pool2d = {
    .name = "adaptive_avg_pool2d", .bw_name = "AdaptiveAvgPool2DBackward", .n_in = 1, .n_out = 1, .attrs = RS_ATTRS,
    .torch = "torch.nn.functional.adaptive_avg_pool2d",
    .summary = "mean over windows [floor(i*H/oh), ceil((i+1)*H/oh)) for a given output size",
    .infer = rs_infer, .forward = rs_forward, .backward = rs_bw};

const nbo_desc nbo_desc_interpolate = {
    .name = "interpolate", .bw_name = "UpsampleBackward", .n_in = 1, .n_out = 1, .attrs = RS_ATTRS,
    .torch = "torch.nn.functional.interpolate",
    .summary = "nearest (PyTorch's legacy floor index) or bilinear resizing of (N, C, H, W); float dtypes only",
    .infer = rs_infer, .forward = rs_forward, .backward = rs_bw};

/* ---- resample2d_backward(g) -> the adjoint map of g, of the forward op's input shape ---------------- */

static int rsb_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *g = in[0];
    const int64_t *xs = &a->ints[R_N];
    if (!nb_dtype_is_float(g->dtype) || g->ndim != 4 || g->shape[0] != xs[0] || g->shape[1] != xs[1] ||
        g->shape[2] != rs_out(a, 0, xs[2]) || g->shape[3] != rs_out(a, 1, xs[3]))
        return nbc_error(NB_ERR_ARG, "nb_resample2d_backward: gradient %s does not fit the output of %s for input %s",
                         nbc_desc(g), rs_fn(a), nbc_shape_str(4, xs));
    nbo_meta_set(out, g->dtype, 4, xs);
    return 0;
}

static int rsb_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    return rs_run(a, in[0], out[0], true);
}

static int rsb_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    static const int ops[] = {NBO_avg_pool2d, NBO_adaptive_avg_pool2d, NBO_interpolate};
    nb_attrs a = *c->attrs;
    a.n_ints = R_N;
    gin[0] = nbo_apply1(ops[a.ints[R_WHICH]], (nb_tensor *[]){g[0]}, 1, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_resample2d_backward = {
    .name = "resample2d_backward", .bw_name = "Resample2DBackwardBackward", .n_in = 1, .n_out = 1,
    .attrs = RS_ATTRS " + ints=[N, C, H, W]",
    .torch = "torch.ops.aten.avg_pool2d_backward / upsample_*2d_backward",
    .summary = "gradient of avg_pool2d, adaptive_avg_pool2d and interpolate: the adjoint map (internal)",
    .infer = rsb_infer, .forward = rsb_forward, .backward = rsb_bw};

/* ---- adaptive_max_pool2d: (values, flat indices); gradient max_pool2d_backward ----------------------- */

static int amp_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_adaptive_max_pool2d";
    nb_tensor *x = in[0];
    if (!nb_dtype_is_float(x->dtype)) return nbc_error(NB_ERR_ARG, "%s: input must be floating; got %s", fn, nbc_desc(x));
    if (x->ndim != 4) return nbc_error(NB_ERR_ARG, "%s: expected input (N, C, H, W); got %s", fn, nbc_desc(x));
    if (x->shape[2] < 1 || x->shape[3] < 1)
        return nbc_error(NB_ERR_ARG, "%s: input %s has an empty spatial dim", fn, nbc_desc(x));
    if (a->ints[0] < 1 || a->ints[1] < 1)
        return nbc_error(NB_ERR_ARG, "%s: output size (%lld, %lld) must be positive (input %s)", fn,
                         (long long)a->ints[0], (long long)a->ints[1], nbc_desc(x));
    int64_t shape[4] = {x->shape[0], x->shape[1], a->ints[0], a->ints[1]};
    nbo_meta_set(&out[0], x->dtype, 4, shape);
    nbo_meta_set(&out[1], NB_I64, 4, shape);
    return 0;
}

static int amp_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_adaptive_max_pool2d";
    nb_tensor *x = in[0], *y = out[0];
    nb_dtype c = nbk_compute_type(x->dtype);
    nbo_buffer bx;
    if (nbo_buffer_get(fn, x, c, &bx)) return NB_ERR_NOMEM;
    nbo_result r;
    if (nbo_result_get(fn, y, c, &r)) {
        nbo_buffer_release(&bx);
        return NB_ERR_NOMEM;
    }
    void *res = r.data;
    nbk_adaptive_max_pool2d(c, x->shape[0] * x->shape[1], x->shape[2], x->shape[3], y->shape[2], y->shape[3], bx.data,
                            res, nbc_ptr(out[1]));
    nbo_result_finish(y, c, &r, true);
    nbo_buffer_release(&bx);
    return 0;
}

static int amp_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs a = {.n_ints = 4};
    memcpy(a.ints, c->in_meta[0].shape, 4 * sizeof(int64_t));
    gin[0] = nbo_apply1(NBO_max_pool2d_backward, (nb_tensor *[]){g[0], c->out[1]}, 2, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_adaptive_max_pool2d = {
    .name = "adaptive_max_pool2d", .bw_name = "AdaptiveMaxPool2DBackward", .n_in = 1, .n_out = 2,
    .flags = NBO_SAVE_OUTPUTS, .attrs = "ints=[OH, OW]",
    .torch = "torch.nn.functional.adaptive_max_pool2d(return_indices=True)",
    .summary = "maximum over windows [floor(i*H/oh), ceil((i+1)*H/oh)) and its flat index in the H*W plane",
    .infer = amp_infer, .forward = amp_forward, .backward = amp_bw};

/* ---- public wrappers ----------------------------------------------------------------------------------- */

/* Pair option {a, b}: b == 0 repeats a; -1 asks for an explicit 0; 0 gives dflt. */
static int64_t pair_get(const int64_t *v, int i, int64_t dflt) {
    int64_t r = i == 0 ? v[0] : (v[1] == 0 ? v[0] : v[1]);
    if (r == -1) return 0;
    return r == 0 ? dflt : r;
}

/* Apply op to x (N, C, H, W), or to (C, H, W) as a batch of one (PyTorch's unbatched input). The
 * outputs are returned in out[0..n_out). */
static int apply_batched(const char *fn, int op, nb_tensor *x, const nb_attrs *a, int n_out, nb_tensor **out) {
    for (int j = 0; j < n_out; j++) out[j] = NULL;
    if (!x) return nbc_null_arg(fn, 1);
    if (x->ndim != 3 && x->ndim != 4)
        return nbc_error(NB_ERR_ARG, "%s: expected input (N, C, H, W) or (C, H, W); got %s", fn, nbc_desc(x));
    nb_tensor *x4 = x->ndim == 3 ? nb_unsqueeze(x, 0) : nb_retain(x);
    int rc = x4 ? nbo_apply(op, &x4, 1, a, out) : nb_last_status();
    nb_free(x4);
    if (rc || x->ndim == 4) return rc;
    for (int j = 0; j < n_out; j++) {
        nb_tensor *s = nb_squeeze(out[j], 0);
        nb_free(out[j]);
        out[j] = s;
        if (!s) rc = nb_last_status();
    }
    if (rc)
        for (int j = 0; j < n_out; j++) nb_free(out[j]), out[j] = NULL;
    return rc;
}

nb_tensor *nb_avg_pool2d(nb_tensor *x, const nb_avg_pool_opts *opts) {
    static const char fn[] = "nb_avg_pool2d";
    if (!opts || opts->kernel[0] <= 0)
        return nbc_error(NB_ERR_ARG, "%s: the kernel size is required (opts.kernel)", fn), NULL;
    nb_attrs a = {.n_ints = R_N};
    a.ints[R_WHICH] = RS_AVG;
    for (int d = 0; d < 2; d++) {
        a.ints[R_KH + d] = pair_get(opts->kernel, d, 1);
        a.ints[R_SH + d] = pair_get(opts->stride, d, a.ints[R_KH + d]);
    }
    a.ints[R_PH] = opts->padding[0] < 0 ? 0 : opts->padding[0];
    a.ints[R_PW] = opts->padding[1] == 0 ? a.ints[R_PH] : (opts->padding[1] < 0 ? 0 : opts->padding[1]);
    a.ints[R_CEIL] = opts->ceil_mode;
    a.ints[R_CIP] = !opts->exclude_pad;
    a.ints[R_DIV] = opts->divisor_override;
    nb_tensor *y;
    return apply_batched(fn, NBO_avg_pool2d, x, &a, 1, &y) ? NULL : y;
}

nb_tensor *nb_avg_pool1d(nb_tensor *x, const nb_avg_pool_opts *opts) {
    static const char fn[] = "nb_avg_pool1d";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!opts || opts->kernel[0] <= 0)
        return nbc_error(NB_ERR_ARG, "%s: the kernel size is required (opts.kernel)", fn), NULL;
    if (x->ndim != 2 && x->ndim != 3)
        return nbc_error(NB_ERR_ARG, "%s: expected input (N, C, L) or (C, L); got %s", fn, nbc_desc(x)), NULL;
    int64_t k = opts->kernel[0], s = opts->stride[0] ? opts->stride[0] : k, p = opts->padding[0] < 0 ? 0 : opts->padding[0];
    if (p * 2 > k)
        return nbc_error(NB_ERR_ARG, "%s: padding %lld must be at most half the kernel size %lld", fn, (long long)p,
                         (long long)k), NULL;
    if (s >= 1 && pool_out(x->shape[x->ndim - 1], k, s, p, opts->ceil_mode) <= 0)
        return nbc_error(NB_ERR_ARG, "%s: kernel %lld is larger than the padded input %s", fn, (long long)k,
                         nbc_desc(x)), NULL;
    nb_avg_pool_opts o2 = {.kernel = {1, k}, .stride = {1, s}, .padding = {-1, p ? p : -1}, .ceil_mode = opts->ceil_mode,
                           .exclude_pad = opts->exclude_pad, .divisor_override = opts->divisor_override};
    nb_tensor *x4 = nb_unsqueeze(x, -2);
    nb_tensor *y4 = x4 ? nb_avg_pool2d(x4, &o2) : NULL;
    nb_tensor *y = y4 ? nb_squeeze(y4, -2) : NULL;
    nb_free(x4);
    nb_free(y4);
    return y;
}

/* -1 keeps the input's size (PyTorch's None); a second entry of 0 repeats the first. */
static int adaptive_size(const char *fn, nb_tensor *x, int64_t oh, int64_t ow, nb_attrs *a, int at) {
    if (!x) return nbc_null_arg(fn, 1);
    if (ow == 0) ow = oh;
    if (x->ndim >= 2) {
        if (oh == -1) oh = x->shape[x->ndim - 2];
        if (ow == -1) ow = x->shape[x->ndim - 1];
    }
    a->ints[at] = oh;
    a->ints[at + 1] = ow;
    return 0;
}

nb_tensor *nb_adaptive_avg_pool2d(nb_tensor *x, int64_t oh, int64_t ow) {
    static const char fn[] = "nb_adaptive_avg_pool2d";
    nb_attrs a = {.n_ints = R_N};
    a.ints[R_WHICH] = RS_ADAPTIVE;
    if (adaptive_size(fn, x, oh, ow, &a, R_OH)) return NULL;
    nb_tensor *y;
    return apply_batched(fn, NBO_adaptive_avg_pool2d, x, &a, 1, &y) ? NULL : y;
}

nb_tensor *nb_adaptive_max_pool2d_with_indices(nb_tensor *x, int64_t oh, int64_t ow, nb_tensor **indices) {
    static const char fn[] = "nb_adaptive_max_pool2d";
    if (indices) *indices = NULL;
    nb_attrs a = {.n_ints = 2};
    if (adaptive_size(fn, x, oh, ow, &a, 0)) return NULL;
    nb_tensor *out[2];
    if (apply_batched(fn, NBO_adaptive_max_pool2d, x, &a, 2, out)) return NULL;
    if (indices) *indices = out[1];
    else nb_free(out[1]);
    return out[0];
}

nb_tensor *nb_adaptive_max_pool2d(nb_tensor *x, int64_t oh, int64_t ow) {
    return nb_adaptive_max_pool2d_with_indices(x, oh, ow, NULL);
}

nb_tensor *nb_interpolate(nb_tensor *x, const nb_interpolate_opts *opts) {
    static const char fn[] = "nb_interpolate";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!opts) return nbc_error(NB_ERR_ARG, "%s: opts (size or scale_factor) is required", fn), NULL;
    if (x->ndim != 4)
        return nbc_error(NB_ERR_ARG, "%s: expected a 4-D input (N, C, H, W); got %s", fn, nbc_desc(x)), NULL;
    if (opts->mode != NB_INTERP_NEAREST && opts->mode != NB_INTERP_BILINEAR)
        return nbc_error(NB_ERR_ARG, "%s: unknown mode %d (nearest or bilinear)", fn, (int)opts->mode), NULL;
    if (opts->align_corners && opts->mode == NB_INTERP_NEAREST)
        return nbc_error(NB_ERR_ARG, "%s: align_corners can only be set with mode bilinear", fn), NULL;
    bool has_size = opts->size[0] != 0 || opts->size[1] != 0, has_scale = opts->scale_factor[0] != 0 || opts->scale_factor[1] != 0;
    if (has_size == has_scale)
        return nbc_error(NB_ERR_ARG, "%s: exactly one of size and scale_factor must be given", fn), NULL;
    nb_attrs a = {.n_ints = R_N, .flag = opts->align_corners};
    a.ints[R_WHICH] = RS_INTERP;
    a.ints[R_MODE] = opts->mode == NB_INTERP_BILINEAR ? RS_BILINEAR : RS_NEAREST;
    if (has_size) {
        a.ints[R_OH] = opts->size[0];
        a.ints[R_OW] = opts->size[1] ? opts->size[1] : opts->size[0];
    } else {
        double sh = opts->scale_factor[0], sw = opts->scale_factor[1] ? opts->scale_factor[1] : sh;
        if (!(sh > 0) || !(sw > 0) || !isfinite(sh) || !isfinite(sw))
            return nbc_error(NB_ERR_ARG, "%s: scale_factor (%g, %g) must be positive", fn, sh, sw), NULL;
        a.ints[R_OH] = (int64_t)floor((double)x->shape[2] * sh);
        a.ints[R_OW] = (int64_t)floor((double)x->shape[3] * sw);
        if (!a.flag) { /* PyTorch passes the scale to the kernel (recompute_scale_factor=None) */
            a.f0 = sh;
            a.f1 = sw;
        }
    }
    return nbo_apply1(NBO_interpolate, &x, 1, &a);
}
