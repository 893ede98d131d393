/* ops/conv.c — 2-D convolution (NCHW, cross-correlation as in PyTorch) by im2col + GEMM, with stride,
 * padding (including "same"), dilation and groups, and its two gradients as ops of their own:
 *   conv2d(x, w)                    y  = x (*) w
 *   conv2d_input_grad(gy, w)        gx = the adjoint of conv2d in x
 *   conv2d_weight_grad(x, gy)       gw = the adjoint of conv2d in w
 * Each of the three is linear in each argument and the derivatives of each are the other two, so
 * gradients of any order come out of the registry.
 *
 * Internal layout: per group, the columns of all samples side by side, cols (C/g * kh * kw, N * OH * OW),
 * so each direction is ONE large GEMM per group (deterministic: the summation order of every output
 * never depends on the thread count).
 * Attributes: ints = {sh, sw, ph, pw, dh, dw, groups} and, for the gradients, the shape of the
 * operand they produce: {..., d0, d1, d2, d3}.
 */
#include "op.h"
#include "../kernels/cpu/conv.h"

#include <string.h>

enum { A_SH, A_SW, A_PH, A_PW, A_DH, A_DW, A_GROUPS, A_SHAPE };

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

/* Geometry from input shape (N, C, H, W), weight shape (O, C/g, kh, kw) and attributes. */
static nbk_conv_geom geom_of(const int64_t *xs, const int64_t *ws, const nb_attrs *a) {
    nbk_conv_geom g = {.n = xs[0], .c = xs[1], .h = xs[2], .w = xs[3], .kh = ws[2], .kw = ws[3],
                       .sh = a->ints[A_SH], .sw = a->ints[A_SW], .ph = a->ints[A_PH], .pw = a->ints[A_PW],
                       .dh = a->ints[A_DH], .dw = a->ints[A_DW]};
    g.oh = out_size(g.h, g.kh, g.sh, g.ph, g.dh);
    g.ow = out_size(g.w, g.kw, g.sw, g.pw, g.dw);
    return g;
}

/* Validate x (N, C, H, W) against w (O, C/g, kh, kw); fn names the public function. */
static int check_conv(const char *fn, const int64_t *xs, int xnd, nb_dtype xd, const int64_t *ws, int wnd, nb_dtype wd,
                      const nb_attrs *a) {
    if (!nb_dtype_is_float(xd) || !nb_dtype_is_float(wd))
        return nbc_error(NB_ERR_ARG, "%s: input and weight must have floating dtypes; got %s and %s", fn,
                         nb_dtype_name(xd), nb_dtype_name(wd));
    if (xnd != 4 || wnd != 4)
        return nbc_error(NB_ERR_ARG, "%s: expected input (N, C, H, W) and weight (O, C/groups, kH, kW); got %s and %s",
                         fn, nbc_shape_str(xnd, xs), nbc_shape_str(wnd, ws));
    int64_t groups = a->ints[A_GROUPS];
    if (xs[1] != ws[1] * groups || ws[0] % groups != 0)
        return nbc_error(NB_ERR_ARG, "%s: input %s has %lld channels; weight %s with groups=%lld expects %lld "
                         "(and out channels divisible by groups)", fn, nbc_shape_str(xnd, xs), (long long)xs[1],
                         nbc_shape_str(wnd, ws), (long long)groups, (long long)(ws[1] * groups));
    nbk_conv_geom g = geom_of(xs, ws, a);
    if (g.oh <= 0 || g.ow <= 0)
        return nbc_error(NB_ERR_ARG, "%s: kernel %lldx%lld (dilation %lld, %lld) is larger than the padded input %s",
                         fn, (long long)g.kh, (long long)g.kw, (long long)g.dh, (long long)g.dw, nbc_shape_str(xnd, xs));
    return 0;
}

/* Buffers in compute type for the operands (converted once if needed). */
static int get2(const char *fn, nb_tensor *a, nb_tensor *b, nb_dtype c, nbo_buffer *ba, nbo_buffer *bb) {
    if (nbo_buffer_get(fn, a, c, ba)) return NB_ERR_NOMEM;
    if (nbo_buffer_get(fn, b, c, bb)) {
        nbo_buffer_release(ba);
        return NB_ERR_NOMEM;
    }
    return 0;
}

/* Copy between a group's (Og, N, P) block of an NCHW-like tensor (N, O, P) and a dense (Og, N*P)
 * matrix. to_dense: tensor -> matrix. */
static void group_block(nb_dtype c, void *dense, void *t, int64_t n, int64_t o, int64_t og, int64_t g, int64_t p,
                        bool to_dense) {
    size_t z = nb_dtype_size(c);
    int64_t shape[3] = {og, n, p}, ds[3] = {n * p, p, 1}, ts[3] = {p, o * p, 1};
    char *tp = (char *)t + (size_t)(g * og * p) * z;
    if (to_dense) nbk_copy(dense, c, ds, tp, c, ts, 3, shape);
    else nbk_copy(tp, c, ts, dense, c, ds, 3, shape);
}

typedef struct conv_bufs {
    size_t cap_cols, cap_mat;
    void *cols, *mat;
} conv_bufs;

static int alloc_bufs(const char *fn, nb_dtype c, int64_t cols_elems, int64_t mat_elems, conv_bufs *b) {
    size_t z = nb_dtype_size(c);
    b->cols = nbc_block_alloc((size_t)(cols_elems ? cols_elems : 1) * z, &b->cap_cols);
    b->mat = nbc_block_alloc((size_t)(mat_elems ? mat_elems : 1) * z, &b->cap_mat);
    if (!b->cols || !b->mat) {
        nbc_block_free(b->cols, b->cap_cols);
        nbc_block_free(b->mat, b->cap_mat);
        return nbc_oom(fn);
    }
    return 0;
}

static void free_bufs(conv_bufs *b) {
    nbc_block_free(b->cols, b->cap_cols);
    nbc_block_free(b->mat, b->cap_mat);
}

/* Results are computed in compute type c into `res` (contiguous) and converted to out if needed. */
static int finish(const char *fn, nb_tensor *out, nb_dtype c, void *res, size_t cap) {
    (void)fn;
    if (res != nbc_ptr(out)) {
        nbk_convert(nbc_ptr(out), out->dtype, res, c, nbc_numel(out->ndim, out->shape));
        nbc_block_free(res, cap);
    }
    return 0;
}

static void *result_buffer(const char *fn, nb_tensor *out, nb_dtype c, size_t *cap) {
    *cap = 0;
    if (out->dtype == c) return nbc_ptr(out);
    void *p = nbc_block_alloc((size_t)nbc_numel(out->ndim, out->shape) * nb_dtype_size(c), cap);
    if (!p) nbc_oom(fn);
    return p;
}

/* ---- conv2d -------------------------------------------------------------------------------------- */

static int conv2d_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0], *w = in[1];
    int rc = check_conv("nb_conv2d", x->shape, x->ndim, x->dtype, w->shape, w->ndim, w->dtype, a);
    if (rc) return rc;
    nbk_conv_geom g = geom_of(x->shape, w->shape, a);
    int64_t shape[4] = {g.n, w->shape[0], g.oh, g.ow};
    nbo_meta_set(out, nb_promote_types(x->dtype, w->dtype), 4, shape);
    return 0;
}

static int conv2d_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_conv2d";
    nb_tensor *y = out[0];
    nb_dtype c = nbk_compute_type(y->dtype);
    nbk_conv_geom g = geom_of(in[0]->shape, in[1]->shape, a);
    int64_t G = a->ints[A_GROUPS], O = in[1]->shape[0], Og = O / G, Cg = g.c / G, K = Cg * g.kh * g.kw, P = g.oh * g.ow;
    nbo_buffer bx, bw;
    if (get2(fn, in[0], in[1], c, &bx, &bw)) return NB_ERR_NOMEM;
    conv_bufs b;
    size_t rcap;
    void *res = result_buffer(fn, y, c, &rcap);
    int rc = res ? alloc_bufs(fn, c, K * g.n * P, Og * g.n * P, &b) : NB_ERR_NOMEM;
    if (!rc) {
        size_t z = nb_dtype_size(c);
        for (int64_t gi = 0; gi < G; gi++) {
            nbk_im2col(c, &g, bx.data, gi * Cg, Cg, b.cols, g.n * P);
            nbk_gemm(c, Og, g.n * P, K, (char *)bw.data + (size_t)(gi * Og * K) * z, K, 1, b.cols, g.n * P, 1, b.mat,
                     g.n * P);
            group_block(c, b.mat, res, g.n, O, Og, gi, P, false);
        }
        free_bufs(&b);
        finish(fn, y, c, res, rcap);
    } else if (res && res != nbc_ptr(y)) {
        nbc_block_free(res, rcap);
    }
    nbo_buffer_release(&bx);
    nbo_buffer_release(&bw);
    return rc;
}

static nb_attrs grad_attrs(const nb_attrs *a, const int64_t *shape) {
    nb_attrs r = *a;
    r.n_ints = A_SHAPE + 4;
    memcpy(&r.ints[A_SHAPE], shape, 4 * sizeof(int64_t));
    return r;
}

static int conv2d_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *w = c->in[1];
    if (c->needs_grad[0]) {
        nb_attrs a = grad_attrs(c->attrs, c->in_meta[0].shape);
        gin[0] = nbo_apply1(NBO_conv2d_input_grad, (nb_tensor *[]){g[0], w}, 2, &a);
        if (!gin[0]) return nb_last_status();
    }
    if (c->needs_grad[1]) {
        nb_attrs a = grad_attrs(c->attrs, c->in_meta[1].shape);
        gin[1] = nbo_apply1(NBO_conv2d_weight_grad, (nb_tensor *[]){x, g[0]}, 2, &a);
        if (!gin[1]) return nb_last_status();
    }
    return 0;
}

const nbo_desc nbo_desc_conv2d = {.name = "conv2d", .bw_name = "ConvolutionBackward", .n_in = 2, .n_out = 1,
                                  .flags = NBO_SAVE_INPUTS, .attrs = "ints=[sh, sw, ph, pw, dh, dw, groups]",
                                  .torch = "torch.nn.functional.conv2d",
                                  .summary = "2-D cross-correlation, NCHW (bias is added by the wrapper)",
                                  .infer = conv2d_infer, .forward = conv2d_forward, .backward = conv2d_bw};

/* ---- conv2d_input_grad(gy, w) -> gx --------------------------------------------------------------- */

static int input_grad_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *gy = in[0], *w = in[1];
    const int64_t *xs = &a->ints[A_SHAPE];
    int rc = check_conv("nb_conv2d_input_grad", xs, 4, gy->dtype, w->shape, w->ndim, w->dtype, a);
    if (rc) return rc;
    nbk_conv_geom g = geom_of(xs, w->shape, a);
    if (gy->ndim != 4 || gy->shape[0] != g.n || gy->shape[1] != w->shape[0] || gy->shape[2] != g.oh || gy->shape[3] != g.ow)
        return nbc_error(NB_ERR_ARG, "nb_conv2d_input_grad: gradient has %s; expected [%lld, %lld, %lld, %lld]",
                         nbc_desc(gy), (long long)g.n, (long long)w->shape[0], (long long)g.oh, (long long)g.ow);
    nbo_meta_set(out, nb_promote_types(gy->dtype, w->dtype), 4, xs);
    return 0;
}

static int input_grad_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_conv2d_input_grad";
    nb_tensor *gx = out[0];
    nb_dtype c = nbk_compute_type(gx->dtype);
    nbk_conv_geom g = geom_of(&a->ints[A_SHAPE], in[1]->shape, a);
    int64_t G = a->ints[A_GROUPS], O = in[1]->shape[0], Og = O / G, Cg = g.c / G, K = Cg * g.kh * g.kw, P = g.oh * g.ow;
    nbo_buffer bgy, bw;
    if (get2(fn, in[0], in[1], c, &bgy, &bw)) return NB_ERR_NOMEM;
    conv_bufs b;
    size_t rcap;
    void *res = result_buffer(fn, gx, c, &rcap);
    int rc = res ? alloc_bufs(fn, c, K * g.n * P, Og * g.n * P, &b) : NB_ERR_NOMEM;
    if (!rc) {
        size_t z = nb_dtype_size(c);
        memset(res, 0, (size_t)nbc_numel(4, gx->shape) * z);
        for (int64_t gi = 0; gi < G; gi++) {
            group_block(c, b.mat, bgy.data, g.n, O, Og, gi, P, true);
            /* cols (K, N*P) = W_g^T (K, Og) . GY_g (Og, N*P) */
            nbk_gemm(c, K, g.n * P, Og, (char *)bw.data + (size_t)(gi * Og * K) * z, 1, K, b.mat, g.n * P, 1, b.cols,
                     g.n * P);
            nbk_col2im(c, &g, b.cols, g.n * P, gi * Cg, Cg, res);
        }
        free_bufs(&b);
        finish(fn, gx, c, res, rcap);
    } else if (res && res != nbc_ptr(gx)) {
        nbc_block_free(res, rcap);
    }
    nbo_buffer_release(&bgy);
    nbo_buffer_release(&bw);
    return rc;
}

/* d/d(gy) is conv2d(ggx, w); d/dw is conv2d_weight_grad(ggx, gy). */
static int input_grad_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *gy = c->in[0], *w = c->in[1];
    nb_attrs a = *c->attrs;
    a.n_ints = A_SHAPE;
    if (c->needs_grad[0] && !(gin[0] = nbo_apply1(NBO_conv2d, (nb_tensor *[]){g[0], w}, 2, &a))) return nb_last_status();
    if (c->needs_grad[1]) {
        nb_attrs wa = grad_attrs(c->attrs, c->in_meta[1].shape);
        if (!(gin[1] = nbo_apply1(NBO_conv2d_weight_grad, (nb_tensor *[]){g[0], gy}, 2, &wa))) return nb_last_status();
    }
    return 0;
}

const nbo_desc nbo_desc_conv2d_input_grad = {
    .name = "conv2d_input_grad", .bw_name = "ConvolutionBackwardInput", .n_in = 2, .n_out = 1,
    .flags = NBO_SAVE_INPUTS, .attrs = "ints=[sh, sw, ph, pw, dh, dw, groups, N, C, H, W]",
    .torch = "torch.nn.grad.conv2d_input", .summary = "gradient of conv2d with respect to its input (internal)",
    .infer = input_grad_infer, .forward = input_grad_forward, .backward = input_grad_bw};

/* ---- conv2d_weight_grad(x, gy) -> gw -------------------------------------------------------------- */

static int weight_grad_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0], *gy = in[1];
    const int64_t *ws = &a->ints[A_SHAPE];
    int rc = check_conv("nb_conv2d_weight_grad", x->shape, x->ndim, x->dtype, ws, 4, gy->dtype, a);
    if (rc) return rc;
    nbk_conv_geom g = geom_of(x->shape, ws, a);
    if (gy->ndim != 4 || gy->shape[0] != g.n || gy->shape[1] != ws[0] || gy->shape[2] != g.oh || gy->shape[3] != g.ow)
        return nbc_error(NB_ERR_ARG, "nb_conv2d_weight_grad: gradient has %s; expected [%lld, %lld, %lld, %lld]",
                         nbc_desc(gy), (long long)g.n, (long long)ws[0], (long long)g.oh, (long long)g.ow);
    nbo_meta_set(out, nb_promote_types(x->dtype, gy->dtype), 4, ws);
    return 0;
}

static int weight_grad_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_conv2d_weight_grad";
    nb_tensor *gw = out[0];
    nb_dtype c = nbk_compute_type(gw->dtype);
    const int64_t *ws = &a->ints[A_SHAPE];
    nbk_conv_geom g = geom_of(in[0]->shape, ws, a);
    int64_t G = a->ints[A_GROUPS], O = ws[0], Og = O / G, Cg = g.c / G, K = Cg * g.kh * g.kw, P = g.oh * g.ow;
    nbo_buffer bx, bgy;
    if (get2(fn, in[0], in[1], c, &bx, &bgy)) return NB_ERR_NOMEM;
    conv_bufs b;
    size_t rcap;
    void *res = result_buffer(fn, gw, c, &rcap);
    int rc = res ? alloc_bufs(fn, c, K * g.n * P, Og * g.n * P, &b) : NB_ERR_NOMEM;
    if (!rc) {
        size_t z = nb_dtype_size(c);
        for (int64_t gi = 0; gi < G; gi++) {
            nbk_im2col(c, &g, bx.data, gi * Cg, Cg, b.cols, g.n * P);
            group_block(c, b.mat, bgy.data, g.n, O, Og, gi, P, true);
            /* GW_g (Og, K) = GY_g (Og, N*P) . cols^T (N*P, K) */
            nbk_gemm(c, Og, K, g.n * P, b.mat, g.n * P, 1, b.cols, 1, g.n * P, (char *)res + (size_t)(gi * Og * K) * z, K);
        }
        free_bufs(&b);
        finish(fn, gw, c, res, rcap);
    } else if (res && res != nbc_ptr(gw)) {
        nbc_block_free(res, rcap);
    }
    nbo_buffer_release(&bx);
    nbo_buffer_release(&bgy);
    return rc;
}

/* d/dx is conv2d_input_grad(gy, ggw); d/d(gy) is conv2d(x, ggw). */
static int weight_grad_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *gy = c->in[1];
    if (c->needs_grad[0]) {
        nb_attrs xa = grad_attrs(c->attrs, c->in_meta[0].shape);
        if (!(gin[0] = nbo_apply1(NBO_conv2d_input_grad, (nb_tensor *[]){gy, g[0]}, 2, &xa))) return nb_last_status();
    }
    nb_attrs a = *c->attrs;
    a.n_ints = A_SHAPE;
    if (c->needs_grad[1] && !(gin[1] = nbo_apply1(NBO_conv2d, (nb_tensor *[]){x, g[0]}, 2, &a))) return nb_last_status();
    return 0;
}

const nbo_desc nbo_desc_conv2d_weight_grad = {
    .name = "conv2d_weight_grad", .bw_name = "ConvolutionBackwardWeight", .n_in = 2, .n_out = 1,
    .flags = NBO_SAVE_INPUTS, .attrs = "ints=[sh, sw, ph, pw, dh, dw, groups, O, C/groups, kH, kW]",
    .torch = "torch.nn.grad.conv2d_weight", .summary = "gradient of conv2d with respect to its weight (internal)",
    .infer = weight_grad_infer, .forward = weight_grad_forward, .backward = weight_grad_bw};

/* ---- public wrapper ------------------------------------------------------------------------------ */

/* A pair option: {a, b}; b == 0 means "same as a" (so {3} is 3x3); -1 requests an explicit 0. */
static int64_t pair_get(const int64_t *v, int i, int64_t dflt) {
    int64_t a = v[0], b = v[1];
    int64_t r = i == 0 ? a : (b == 0 ? a : b);
    if (r == -1) return 0;
    return r == 0 ? dflt : r;
}

nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *bias, const nb_conv_opts *opts) {
    static const char fn[] = "nb_conv2d";
    static const nb_conv_opts none;
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!w) return nbc_null_arg(fn, 2), NULL;
    if (!opts) opts = &none;
    nb_attrs a = {.n_ints = A_SHAPE};
    a.ints[A_SH] = pair_get(opts->stride, 0, 1);
    a.ints[A_SW] = pair_get(opts->stride, 1, 1);
    a.ints[A_DH] = pair_get(opts->dilation, 0, 1);
    a.ints[A_DW] = pair_get(opts->dilation, 1, 1);
    a.ints[A_GROUPS] = opts->groups ? opts->groups : 1;
    for (int i = 0; i < A_PH; i++)
        if (a.ints[i] < 1) return nbc_error(NB_ERR_ARG, "%s: stride must be at least 1", fn), NULL;
    if (a.ints[A_DH] < 1 || a.ints[A_DW] < 1 || a.ints[A_GROUPS] < 1)
        return nbc_error(NB_ERR_ARG, "%s: dilation and groups must be at least 1", fn), NULL;
    if (opts->same) {
        if (a.ints[A_SH] != 1 || a.ints[A_SW] != 1)
            return nbc_error(NB_ERR_ARG, "%s: padding \"same\" needs stride 1 (as in PyTorch)", fn), NULL;
        if (w->ndim != 4) return nbc_error(NB_ERR_ARG, "%s: weight %s must have 4 dims", fn, nbc_desc(w)), NULL;
        int64_t th = a.ints[A_DH] * (w->shape[2] - 1), tw = a.ints[A_DW] * (w->shape[3] - 1);
        if (th % 2 || tw % 2) { /* PyTorch pads asymmetrically here; we pad explicitly then convolve */
            int64_t pads[4] = {tw / 2, tw - tw / 2, th / 2, th - th / 2};
            (void)pads;
            return nbc_error(NB_ERR_UNSUPPORTED, "%s: padding \"same\" with an even effective kernel size (%lldx%lld) "
                             "needs asymmetric padding, which is not supported yet", fn, (long long)th + 1,
                             (long long)tw + 1), NULL;
        }
        a.ints[A_PH] = th / 2;
        a.ints[A_PW] = tw / 2;
    } else {
        a.ints[A_PH] = opts->padding[0] < 0 ? 0 : opts->padding[0];
        a.ints[A_PW] = opts->padding[1] == 0 ? a.ints[A_PH] : (opts->padding[1] < 0 ? 0 : opts->padding[1]);
    }
    nb_tensor *y = nbo_apply1(NBO_conv2d, (nb_tensor *[]){x, w}, 2, &a);
    if (!y || !bias) return y;
    if (bias->ndim != 1 || bias->shape[0] != y->shape[1]) {
        nb_free(y);
        return nbc_error(NB_ERR_ARG, "%s: bias has %s; expected [%lld]", fn, nbc_desc(bias), (long long)w->shape[0]), NULL;
    }
    nb_tensor *b4 = nb_reshape(bias, NB_SHAPE(1, -1, 1, 1));
    nb_tensor *r = nb_add(y, b4);
    nb_free(b4);
    nb_free(y);
    return r;
}
