/* ops/conv.c — 2-D convolution (NCHW, cross-correlation as in PyTorch) by GEMM, with stride,
 * padding (including "same"), dilation and groups, and its two gradients as ops of their own:
 *   conv2d(x, w)                    y  = x (*) w
 *   conv2d_input_grad(gy, w)        gx = the adjoint of conv2d in x
 *   conv2d_weight_grad(x, gy)       gw = the adjoint of conv2d in w
 * Each of the three is linear in each argument and the derivatives of each are the other two, so
 * gradients of any order come out of the registry.
 *
 * Layout: tensors are NCHW throughout (PyTorch's); no op converts a user tensor to another layout.
 * Which route runs (all give bitwise the same result on any thread count; the routes differ from each
 * other in rounding only):
 *   f32, groups = 1, AVX-512 kernels present (kernels/cpu/conv_fwd.c, conv_wgrad*.c):
 *     forward      implicit GEMM: B~ panels gathered from the NCHW image, C tiles are the output
 *                  planes (>= 32 filter elements, and every 16-pixel chunk reading within 32
 *                  consecutive floats: stride 1, or stride 2 with rows of 16 outputs; else the route below)
 *     input grad   stride 1 and at most 10% more outputs than inputs ("same" convolutions): the
 *                  implicit-GEMM forward of gy with flipped, transposed filters; else the route below
 *     weight grad  filters of <= 32 elements (first layers): direct loops; longer: a GEMM over pixels
 *                  whose B~ comes from each sample transposed to channels-last (H * W, C), a copy
 *                  kh * kw times smaller than its column matrix
 *   depthwise (groups = C_in = C_out): direct loops (kernels/cpu/depthwise.c)
 *   everything else (f64, other groups, the AVX2 and scalar levels): im2col + GEMM as follows.
 *
 * Work is split into blocks of FS samples (FS = 1 for images of >= 512 outputs; more for small ones,
 * so one GEMM of ~512 columns runs per block and packing is paid once per block); the block's column
 * matrix, cols (C/g * kh * kw, FS * OH * OW), the windows of its samples side by side, stays in cache
 * between im2col and its GEMM. Per block and group:
 *   forward     Y_b,g (Og, FS * P) = W_g (Og, K) cols_b (K, FS * P), written in place into y when FS = 1,
 *               else into a block matrix copied out to the samples' planes
 *   input grad  cols_b = W_g^T GY_b,g (W^T transposed once per call; GY gathered into a block matrix
 *               when FS > 1), then col2im into gx sample by sample
 *   weight grad GW_g^T (K, Og) = cols_b GY_b,g^T over blocks b of S samples (S * P >= ~1024 columns),
 *               transposed and summed into a fixed number of partial sums, which are added in order at the end
 * 1x1 convolutions with stride 1 and no padding skip im2col (x already is the column matrix) and
 * col2im. S, the partial sums and every GEMM shape depend on the shapes alone, and each GEMM is itself
 * thread-count independent, so results are bitwise identical for any number of threads: many blocks
 * run in parallel (one block per task, its GEMMs on its thread), few run in turn with parallel GEMMs.
 * Attributes: ints = {sh, sw, ph, pw, dh, dw, groups} and, for the gradients, the shape of the
 * operand they produce: {..., d0, d1, d2, d3}.
 */
#include "op.h"
#include "../kernels/cpu/conv.h"
#include "../kernels/cpu/conv_fwd.h"
#include "../kernels/cpu/conv_wgrad.h"
#include "../kernels/cpu/depthwise.h"

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

/* Everything the per-sample tasks of the three ops share. */
typedef struct conv_job {
    nb_dtype c;
    size_t z;
    nbk_conv_geom g;
    int64_t G, O, Og, Cg, K, P;
    bool direct;          /* 1x1, stride 1, no padding: x is its own column matrix */
    const char *a, *b;    /* the op's inputs in compute type */
    const char *bias;     /* forward: (O) or NULL, added to each output plane as it is stored */
    char *out;            /* the result in compute type */
    /* forward and input gradient: blocks of FS samples whose columns lie side by side in one GEMM */
    int64_t FS;
    const char *wt;       /* input gradient: W_g^T (K, Og) per group, contiguous */
    size_t wtcap;
    /* weight gradient: blocks of S samples, partial sums over ranges of blocks */
    int64_t S, NB, NQ;
    char *partials;       /* NQ * O * K when NQ > 1 */
    atomic_bool oom;
} conv_job;

/* Columns per GEMM aimed at by the forward and input-gradient blocks. */
#define FS_COLUMNS 512

static conv_job job_of(nb_dtype c, const nbk_conv_geom *g, int64_t G, int64_t O, const void *a, const void *b, void *out) {
    conv_job j = {.c = c, .z = nb_dtype_size(c), .g = *g, .G = G, .O = O, .Og = O / G, .Cg = g->c / G,
                  .a = a, .b = b, .out = out};
    j.K = j.Cg * g->kh * g->kw;
    j.P = g->oh * g->ow;
    j.direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
    /* small images: several samples per GEMM, so packing is paid once per block and the GEMM is wide
     * enough for its kernel (a function of the shapes alone) */
    j.FS = j.direct || j.P >= FS_COLUMNS ? 1 : FS_COLUMNS / j.P;
    if (j.FS > g->n) j.FS = g->n;
    if (j.FS < 1) j.FS = 1;
    atomic_init(&j.oom, false);
    return j;
}

/* One filter per channel (groups == C_in == C_out, e.g. MobileNet's 3x3): direct loops instead of a
 * one-row GEMM per channel and sample. */
static bool is_depthwise(const conv_job *j) { return j->Cg == 1 && j->Og == 1 && j->G > 1; }

/* Run fn over [0, n) tasks: in parallel when there are enough tasks to share (each task's GEMMs then
 * run on its thread), else in turn with the GEMMs parallel inside. The results are the same. */
static void run_tasks(int64_t n, nbc_range_fn fn, conv_job *j) {
    if (n >= 2 * (int64_t)nb_get_num_threads()) nbc_parallel_for(n, 1, fn, j);
    else fn(j, 0, n);
}

static void *scratch(conv_job *j, int64_t elems, size_t *cap) {
    void *p = nbc_block_alloc((size_t)(elems > 0 ? elems : 1) * j->z, cap);
    if (!p) atomic_store(&j->oom, true);
    return p;
}

/* Rows o of the block matrix M (Og, ns * P) back into (or out of) the samples' planes of a tensor with
 * O channels: sample s's channel o0 + o is columns [s * P, (s + 1) * P) of row o. */
static void unblock(const conv_job *j, char *t, const char *m, int64_t n0, int64_t ns, int64_t o0) {
    size_t z = j->z, row = (size_t)j->P * z;
    for (int64_t o = 0; o < j->Og; o++)
        for (int64_t s = 0; s < ns; s++)
            memcpy(t + (size_t)(((n0 + s) * j->O + o0 + o) * j->P) * z, m + (size_t)(o * ns + s) * row, row);
}
/* y[r, :] += bias[r] over rows of length len (one pass while the rows are still in cache) */
static void add_row_bias(nb_dtype c, void *y, const void *bias, int64_t rows, int64_t len) {
    for (int64_t r = 0; r < rows; r++)
        if (c == NB_F32) {
            float *restrict d = (float *)y + r * len, b = ((const float *)bias)[r];
            for (int64_t i = 0; i < len; i++) d[i] += b;
        } else {
            double *restrict d = (double *)y + r * len, b = ((const double *)bias)[r];
            for (int64_t i = 0; i < len; i++) d[i] += b;
        }
}
static void block(const conv_job *j, char *m, const char *t, int64_t n0, int64_t ns, int64_t o0) {
    size_t z = j->z, row = (size_t)j->P * z;
    for (int64_t o = 0; o < j->Og; o++)
        for (int64_t s = 0; s < ns; s++)
            memcpy(m + (size_t)(o * ns + s) * row, t + (size_t)(((n0 + s) * j->O + o0 + o) * j->P) * z, row);
}

/* ---- forward: Y_block,g = W_g cols_block, blocks of FS samples ---- */
static void fwd_chunk(void *ctx, int64_t b, int64_t e) {
    conv_job *j = ctx;
    size_t cap = 0, ycap = 0, z = j->z;
    int64_t L = j->FS * j->P;
    char *cols = j->direct ? NULL : scratch(j, j->K * L, &cap);
    char *yb = j->FS > 1 ? scratch(j, j->Og * L, &ycap) : NULL;
    if ((j->direct || cols) && (j->FS == 1 || yb)) {
        const nbk_conv_geom *g = &j->g;
        for (int64_t blk = b; blk < e; blk++) {
            int64_t n0 = blk * j->FS, ns = g->n - n0 < j->FS ? g->n - n0 : j->FS, l = ns * j->P;
            for (int64_t gi = 0; gi < j->G; gi++) {
                const char *B = cols;
                if (j->direct) B = j->a + (size_t)((n0 * g->c + gi * j->Cg) * j->P) * z; /* FS == 1 */
                else
                    for (int64_t s = 0; s < ns; s++)
                        nbk_im2col_sample(j->c, g, j->a, n0 + s, gi * j->Cg, j->Cg, cols + (size_t)(s * j->P) * z, l);
                /* one sample: straight into y; several: into the block matrix, then out to y */
                char *C = ns == 1 ? j->out + (size_t)((n0 * j->O + gi * j->Og) * j->P) * z : yb;
                nbk_gemm(j->c, j->Og, l, j->K, j->b + (size_t)(gi * j->Og * j->K) * z, j->K, 1, B, l, 1, C, l);
                if (j->bias) add_row_bias(j->c, C, j->bias + (size_t)(gi * j->Og) * z, j->Og, l);
                if (ns > 1) unblock(j, j->out, yb, n0, ns, gi * j->Og);
            }
        }
    }
    if (cols) nbc_block_free(cols, cap);
    if (yb) nbc_block_free(yb, ycap);
}

/* ---- input gradient: cols_block = W_g^T GY_block,g, then col2im (a = gy, b = w, wt = W^T) ---- */
static void dx_chunk(void *ctx, int64_t b, int64_t e) {
    conv_job *j = ctx;
    size_t cap = 0, ycap = 0, z = j->z;
    int64_t L = j->FS * j->P;
    char *cols = j->direct ? NULL : scratch(j, j->K * L, &cap);
    char *gyb = j->FS > 1 ? scratch(j, j->Og * L, &ycap) : NULL;
    if ((j->direct || cols) && (j->FS == 1 || gyb)) {
        const nbk_conv_geom *g = &j->g;
        int64_t plane = g->h * g->w;
        for (int64_t blk = b; blk < e; blk++) {
            int64_t n0 = blk * j->FS, ns = g->n - n0 < j->FS ? g->n - n0 : j->FS, l = ns * j->P;
            if (!j->direct) memset(j->out + (size_t)(n0 * g->c * plane) * z, 0, (size_t)(ns * g->c * plane) * z);
            for (int64_t gi = 0; gi < j->G; gi++) {
                const char *gy = j->a + (size_t)((n0 * j->O + gi * j->Og) * j->P) * z;
                if (ns > 1) {
                    block(j, gyb, j->a, n0, ns, gi * j->Og);
                    gy = gyb;
                }
                const char *wt = j->wt + (size_t)(gi * j->K * j->Og) * z;
                /* direct (FS == 1): the product is gx's rows for the group's channels (P == H * W) */
                char *dst = j->direct ? j->out + (size_t)((n0 * g->c + gi * j->Cg) * plane) * z : cols;
                nbk_gemm(j->c, j->K, l, j->Og, wt, j->Og, 1, gy, l, 1, dst, l);
                if (!j->direct)
                    for (int64_t s = 0; s < ns; s++)
                        nbk_col2im_sample(j->c, g, cols + (size_t)(s * j->P) * z, l, n0 + s, gi * j->Cg, j->Cg, j->out);
            }
        }
    }
    if (cols) nbc_block_free(cols, cap);
    if (gyb) nbc_block_free(gyb, ycap);
}

/* ---- weight gradient (a = x, b = gy): partial sum q covers blocks [q * NB / NQ, (q + 1) * NB / NQ) ---- */
static void add_to(nb_dtype c, void *dst, const void *src, int64_t n) {
    if (c == NB_F32) {
        float *restrict d = dst;
        const float *restrict s = src;
        for (int64_t i = 0; i < n; i++) d[i] += s[i];
    } else {
        double *restrict d = dst;
        const double *restrict s = src;
        for (int64_t i = 0; i < n; i++) d[i] += s[i];
    }
}

/* dst (m, n) = (or +=) src^T, src (n, m) contiguous */
static void add_transposed(nb_dtype c, void *dst, const void *src, int64_t m, int64_t n, bool assign) {
    for (int64_t i = 0; i < m; i++)
        if (c == NB_F32) {
            float *restrict d = (float *)dst + i * n;
            const float *restrict s = (const float *)src + i;
            if (assign) for (int64_t k = 0; k < n; k++) d[k] = s[k * m];
            else for (int64_t k = 0; k < n; k++) d[k] += s[k * m];
        } else {
            double *restrict d = (double *)dst + i * n;
            const double *restrict s = (const double *)src + i;
            if (assign) for (int64_t k = 0; k < n; k++) d[k] = s[k * m];
            else for (int64_t k = 0; k < n; k++) d[k] += s[k * m];
        }
}

static void dw_chunk(void *ctx, int64_t b, int64_t e) {
    conv_job *j = ctx;
    const nbk_conv_geom *g = &j->g;
    size_t z = j->z, ccap, ycap = 0, tcap;
    int64_t L = j->S * j->P, OK = j->O * j->K;
    char *cols = scratch(j, j->K * L, &ccap), *gyd = j->S > 1 ? scratch(j, j->Og * L, &ycap) : NULL;
    char *tmp = scratch(j, j->Og * j->K, &tcap);
    if (cols && tmp && (gyd || j->S == 1)) {
        for (int64_t q = b; q < e; q++) {
            char *dst = j->NQ == 1 ? j->out : j->partials + (size_t)(q * OK) * z;
            for (int64_t blk = q * j->NB / j->NQ; blk < (q + 1) * j->NB / j->NQ; blk++) {
                bool first = blk == q * j->NB / j->NQ;
                int64_t n0 = blk * j->S, ns = g->n - n0 < j->S ? g->n - n0 : j->S, l = ns * j->P;
                for (int64_t gi = 0; gi < j->G; gi++) {
                    for (int64_t s = 0; s < ns; s++)
                        nbk_im2col_sample(j->c, g, j->a, n0 + s, gi * j->Cg, j->Cg, cols + (size_t)(s * j->P) * z, l);
                    const char *A = j->b + (size_t)((n0 * j->O + gi * j->Og) * j->P) * z;
                    if (ns > 1) { /* the block's gradient rows side by side: (Og, ns * P) */
                        for (int64_t o = 0; o < j->Og; o++)
                            for (int64_t s = 0; s < ns; s++)
                                memcpy(gyd + (size_t)(o * l + s * j->P) * z,
                                       A + (size_t)((s * j->O + o) * j->P) * z, (size_t)j->P * z);
                        A = gyd;
                    }
                    char *gw = dst + (size_t)(gi * j->Og * j->K) * z;
                    /* GW_g^T (K, Og) = cols (K, l) . A^T (l, Og): the long operand, cols, is packed
                     * row-major (packing cols^T was a strided gather), then GW_g (+)= tmp^T */
                    nbk_gemm(j->c, j->K, j->Og, l, cols, l, 1, A, 1, ns > 1 ? l : j->P, tmp, j->Og);
                    add_transposed(j->c, gw, tmp, j->Og, j->K, first);
                }
            }
        }
    }
    if (cols) nbc_block_free(cols, ccap);
    if (gyd) nbc_block_free(gyd, ycap);
    if (tmp) nbc_block_free(tmp, tcap);
}

/* out[i] = partial_0[i] + partial_1[i] + ... in that order */
static void sum_partials_chunk(void *ctx, int64_t b, int64_t e) {
    conv_job *j = ctx;
    int64_t OK = j->O * j->K;
    size_t z = j->z;
    memcpy(j->out + (size_t)b * z, j->partials + (size_t)b * z, (size_t)(e - b) * z);
    for (int64_t q = 1; q < j->NQ; q++)
        add_to(j->c, j->out + (size_t)b * z, j->partials + (size_t)(q * OK + b) * z, e - b);
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
    nb_tensor *x = in[0], *w = in[1], *b = n > 2 ? in[2] : NULL;
    if (n < 2 || n > 3) return nbc_error(NB_ERR_ARG, "nb_conv2d: expected 2 or 3 inputs; got %d", n);
    int rc = check_conv("nb_conv2d", x->shape, x->ndim, x->dtype, w->shape, w->ndim, w->dtype, a);
    if (rc) return rc;
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0] || !nb_dtype_is_float(b->dtype)))
        return nbc_error(NB_ERR_ARG, "nb_conv2d: bias has %s; expected a floating [%lld]", nbc_desc(b),
                         (long long)w->shape[0]);
    nbk_conv_geom g = geom_of(x->shape, w->shape, a);
    int64_t shape[4] = {g.n, w->shape[0], g.oh, g.ow};
    nb_dtype d = nb_promote_types(x->dtype, w->dtype);
    nbo_meta_set(out, b ? nb_promote_types(d, b->dtype) : d, 4, shape);
    return 0;
}

static int conv2d_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    static const char fn[] = "nb_conv2d";
    nb_tensor *y = out[0];
    nb_dtype c = nbk_compute_type(y->dtype);
    nbk_conv_geom g = geom_of(in[0]->shape, in[1]->shape, a);
    nbo_buffer bx, bw, bb = {0};
    if (get2(fn, in[0], in[1], c, &bx, &bw)) return NB_ERR_NOMEM;
    size_t rcap;
    void *res = n_in > 2 && nbo_buffer_get(fn, in[2], c, &bb) ? NULL : result_buffer(fn, y, c, &rcap);
    int rc = res ? 0 : NB_ERR_NOMEM;
    if (res) {
        conv_job j = job_of(c, &g, a->ints[A_GROUPS], in[1]->shape[0], bx.data, bw.data, res);
        j.bias = n_in > 2 ? bb.data : NULL;
        if (is_depthwise(&j)) {
            nbk_depthwise_conv2d(c, &g, bx.data, bw.data, res);
            for (int64_t s = 0; j.bias && s < g.n; s++)
                add_row_bias(c, (char *)res + (size_t)(s * j.O * j.P) * j.z, j.bias, j.O, j.P);
        } else if (!(c == NB_F32 && j.G == 1 && !j.direct &&
                     nbk_conv2d_forward_packed(&g, j.O, bx.data, bw.data, (const float *)j.bias, res)))
            run_tasks((g.n + j.FS - 1) / j.FS, fwd_chunk, &j);
        if (atomic_load(&j.oom)) rc = nbc_oom(fn);
        if (!rc) finish(fn, y, c, res, rcap);
        else if (res != nbc_ptr(y)) nbc_block_free(res, rcap);
    }
    nbo_buffer_release(&bx);
    nbo_buffer_release(&bw);
    nbo_buffer_release(&bb);
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
    /* the bias gradient: g summed over each plane (contiguous rows), then over samples (a sum over
     * dims 0, 2, 3 at once copied g into a permuted layout first) */
    if (c->n_in > 2 && c->needs_grad[2] && !(gin[2] = nb_sum(nb_sum(g[0], NB_DIMS(2, 3)), NB_DIMS(0))))
        return nb_last_status();
    return 0;
}

/* The bias is an optional third input, added as the output is stored (a separate broadcast add was a
 * pass over y forward and a copy of the gradient backward). */
const nbo_desc nbo_desc_conv2d = {.name = "conv2d", .bw_name = "ConvolutionBackward", .n_in = -1, .n_out = 1,
                                  .flags = NBO_SAVE_INPUTS, .unsaved_inputs = 1u << 2, /* bias */
                                  .attrs = "ints=[sh, sw, ph, pw, dh, dw, groups]",
                                  .torch = "torch.nn.functional.conv2d",
                                  .summary = "2-D cross-correlation, NCHW, with an optional bias",
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

/* W^T per group, (K, Og) contiguous, so the input-gradient GEMM packs a row-major A (packing the
 * transposed view was a strided gather per sample). False (and j->oom) when out of memory. */
static bool transpose_weight(conv_job *j) {
    void *wt = scratch(j, j->G * j->K * j->Og, &j->wtcap);
    if (!wt) return false;
    int64_t shape[3] = {j->G, j->K, j->Og}, ds[3] = {j->K * j->Og, j->Og, 1}, ss[3] = {j->Og * j->K, 1, j->K};
    nbk_copy(wt, j->c, ds, j->b, j->c, ss, 3, shape);
    j->wt = wt;
    return true;
}

/* Stride 1: the input gradient is itself a convolution, of gy padded by d * (k - 1) - p with the
 * flipped filters transposed to (C, O, kh, kw), and takes the implicit-GEMM forward when that computes
 * few products of padding (for "same" convolutions none: no column matrix and no col2im pass; a
 * valid 3x3 convolution of a 13x13 image would do 40% more multiplies than the GEMM route). False
 * when it does not apply (the caller takes the GEMM route). */
static bool dx_as_forward(const conv_job *j, const float *gy, const float *w, float *gx) {
    const nbk_conv_geom *g = &j->g;
    int64_t ph = g->dh * (g->kh - 1) - g->ph, pw = g->dw * (g->kw - 1) - g->pw, taps = g->kh * g->kw;
    if (j->c != NB_F32 || j->G != 1 || g->sh != 1 || g->sw != 1 || ph < 0 || pw < 0 ||
        (double)(g->h * g->w) > 1.1 * (double)j->P)
        return false;
    nbk_conv_geom t = {.n = g->n, .c = j->O, .h = g->oh, .w = g->ow, .kh = g->kh, .kw = g->kw, .oh = g->h,
                       .ow = g->w, .sh = 1, .sw = 1, .ph = ph, .pw = pw, .dh = g->dh, .dw = g->dw};
    size_t cap;
    float *wt = nbc_block_alloc((size_t)(j->O * g->c * taps) * sizeof(float), &cap);
    if (!wt) return false;
    for (int64_t o = 0; o < j->O; o++) /* wt[c, o, kh-1-ki, kw-1-kj] = w[o, c, ki, kj] */
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t k = 0; k < taps; k++)
                wt[(c * j->O + o) * taps + taps - 1 - k] = w[(o * g->c + c) * taps + k];
    bool ok = nbk_conv2d_forward_packed(&t, g->c, gy, wt, NULL, gx);
    nbc_block_free(wt, cap);
    return ok;
}

static int input_grad_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_conv2d_input_grad";
    nb_tensor *gx = out[0];
    nb_dtype c = nbk_compute_type(gx->dtype);
    nbk_conv_geom g = geom_of(&a->ints[A_SHAPE], in[1]->shape, a);
    nbo_buffer bgy, bw;
    if (get2(fn, in[0], in[1], c, &bgy, &bw)) return NB_ERR_NOMEM;
    size_t rcap;
    void *res = result_buffer(fn, gx, c, &rcap);
    int rc = res ? 0 : NB_ERR_NOMEM;
    if (res) {
        conv_job j = job_of(c, &g, a->ints[A_GROUPS], in[1]->shape[0], bgy.data, bw.data, res);
        if (is_depthwise(&j)) nbk_depthwise_conv2d_input_grad(c, &g, bgy.data, bw.data, res);
        else if (!dx_as_forward(&j, bgy.data, bw.data, res) && transpose_weight(&j)) {
            run_tasks((g.n + j.FS - 1) / j.FS, dx_chunk, &j);
            nbc_block_free((void *)j.wt, j.wtcap);
        }
        if (atomic_load(&j.oom)) rc = nbc_oom(fn);
        if (!rc) finish(fn, gx, c, res, rcap);
        else if (res != nbc_ptr(gx)) nbc_block_free(res, rcap);
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

/* Samples per block of the weight gradient: about 1024 columns per GEMM, more when Og * K is small
 * (so the block GEMM keeps M * N * K >= 2^21), fewer blocks for very large batches, and at most this
 * many elements of partial sums. Shape-only choices. */
#define DW_COLUMNS 1024
#define DW_SMALL_MNK ((int64_t)1 << 21)
#define DW_MAX_PARTIALS 64
#define DW_PARTIAL_ELEMS ((int64_t)1 << 22)

/* The general weight gradient: blocks of samples, a GEMM per block and group, partial sums. */
static void dw_gemm_path(conv_job *j, size_t *pcap) {
    const nbk_conv_geom *g = &j->g;
    int64_t OK = j->O * j->K;
    int64_t cols = DW_COLUMNS, ogk = j->Og * j->K, small = DW_SMALL_MNK / (ogk > 0 ? ogk : 1); /* longer for small GEMMs */
    if (cols < small) cols = small;
    j->S = (cols + j->P - 1) / j->P;
    if (j->S < (g->n + 255) / 256) j->S = (g->n + 255) / 256;
    if (j->S > g->n) j->S = g->n;
    j->NB = (g->n + j->S - 1) / j->S;
    j->NQ = j->NB < DW_MAX_PARTIALS ? j->NB : DW_MAX_PARTIALS;
    if (j->NQ > 1 && j->NQ * OK > DW_PARTIAL_ELEMS) j->NQ = DW_PARTIAL_ELEMS / OK > 1 ? DW_PARTIAL_ELEMS / OK : 1;
    if (j->NQ > 1 && !(j->partials = nbc_block_alloc((size_t)(j->NQ * OK) * j->z, pcap))) atomic_store(&j->oom, true);
    if (!atomic_load(&j->oom)) run_tasks(j->NQ, dw_chunk, j);
    if (j->NQ > 1 && !atomic_load(&j->oom)) nbc_parallel_for(OK, 16384, sum_partials_chunk, j);
    if (j->partials) nbc_block_free(j->partials, *pcap);
}

static int weight_grad_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_conv2d_weight_grad";
    nb_tensor *gw = out[0];
    nb_dtype c = nbk_compute_type(gw->dtype);
    const int64_t *ws = &a->ints[A_SHAPE];
    nbk_conv_geom g = geom_of(in[0]->shape, ws, a);
    nbo_buffer bx, bgy;
    if (get2(fn, in[0], in[1], c, &bx, &bgy)) return NB_ERR_NOMEM;
    size_t rcap, pcap = 0;
    void *res = result_buffer(fn, gw, c, &rcap);
    int rc = res ? 0 : NB_ERR_NOMEM;
    if (res) {
        conv_job j = job_of(c, &g, a->ints[A_GROUPS], ws[0], bx.data, bgy.data, res);
        if (is_depthwise(&j)) nbk_depthwise_conv2d_weight_grad(c, &g, bx.data, bgy.data, res);
        else if (!(c == NB_F32 && j.G == 1 &&
                   (nbk_conv2d_weight_grad_direct(&g, j.O, bx.data, bgy.data, res) ||
                    nbk_conv2d_weight_grad_gemm(&g, j.O, bx.data, bgy.data, res))))
            dw_gemm_path(&j, &pcap);
        if (atomic_load(&j.oom)) rc = nbc_oom(fn);
        if (!rc) finish(fn, gw, c, res, rcap);
        else if (res != nbc_ptr(gw)) nbc_block_free(res, rcap);
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
    bool crop_h = false, crop_w = false;
    if (opts->same) {
        if (a.ints[A_SH] != 1 || a.ints[A_SW] != 1)
            return nbc_error(NB_ERR_ARG, "%s: padding \"same\" needs stride 1 (as in PyTorch)", fn), NULL;
        if (w->ndim != 4) return nbc_error(NB_ERR_ARG, "%s: weight %s must have 4 dims", fn, nbc_desc(w)), NULL;
        /* total padding t = d (k - 1), t / 2 before and the rest after, as PyTorch. An odd t pads
         * (t + 1) / 2 on both sides and drops the first output row / column, which is the same. */
        int64_t th = a.ints[A_DH] * (w->shape[2] - 1), tw = a.ints[A_DW] * (w->shape[3] - 1);
        a.ints[A_PH] = (th + 1) / 2;
        a.ints[A_PW] = (tw + 1) / 2;
        crop_h = th % 2 != 0;
        crop_w = tw % 2 != 0;
    } else {
        a.ints[A_PH] = opts->padding[0] < 0 ? 0 : opts->padding[0];
        a.ints[A_PW] = opts->padding[1] == 0 ? a.ints[A_PH] : (opts->padding[1] < 0 ? 0 : opts->padding[1]);
    }
    if (bias && (bias->ndim != 1 || w->ndim < 1 || bias->shape[0] != w->shape[0]))
        return nbc_error(NB_ERR_ARG, "%s: bias has %s; expected [%lld]", fn, nbc_desc(bias),
                         (long long)(w->ndim ? w->shape[0] : 0)), NULL;
    nb_tensor *y = nbo_apply1(NBO_conv2d, (nb_tensor *[]){x, w, bias}, bias ? 3 : 2, &a);
    for (int d = 2; d < 4 && y; d++)
        if (d == 2 ? crop_h : crop_w) {
            nb_tensor *c = nb_slice(y, d, 1, INT64_MAX, 1);
            nb_free(y);
            y = c;
        }
    return y;
}

/* ---- conv1d: conv2d over (N, C, 1, L) ------------------------------------------------------------ */

nb_tensor *nb_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *bias, const nb_conv_opts *opts) {
    static const char fn[] = "nb_conv1d";
    static const nb_conv_opts none;
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!w) return nbc_null_arg(fn, 2), NULL;
    if (!opts) opts = &none;
    if (!nb_dtype_is_float(x->dtype) || !nb_dtype_is_float(w->dtype))
        return nbc_error(NB_ERR_ARG, "%s: input and weight must have floating dtypes; got %s and %s", fn,
                         nb_dtype_name(x->dtype), nb_dtype_name(w->dtype)), NULL;
    if ((x->ndim != 2 && x->ndim != 3) || w->ndim != 3)
        return nbc_error(NB_ERR_ARG, "%s: expected input (N, C, L) or (C, L) and weight (O, C/groups, k); got %s and %s",
                         fn, nbc_desc(x), nbc_desc(w)), NULL;
    int64_t s = opts->stride[0] ? opts->stride[0] : 1, d = opts->dilation[0] ? opts->dilation[0] : 1;
    int64_t g = opts->groups ? opts->groups : 1, p = opts->padding[0] < 0 ? 0 : opts->padding[0];
    int64_t C = x->shape[x->ndim - 2], L = x->shape[x->ndim - 1], k = w->shape[2];
    if (s < 1 || d < 1 || g < 1)
        return nbc_error(NB_ERR_ARG, "%s: stride, dilation and groups must be at least 1", fn), NULL;
    if (C != w->shape[1] * g || w->shape[0] % g)
        return nbc_error(NB_ERR_ARG, "%s: input %s has %lld channels; weight %s with groups=%lld expects %lld (and out "
                         "channels divisible by groups)", fn, nbc_desc(x), (long long)C, nbc_desc(w), (long long)g,
                         (long long)(w->shape[1] * g)), NULL;
    if (!opts->same && L + 2 * p - d * (k - 1) - 1 < 0)
        return nbc_error(NB_ERR_ARG, "%s: kernel %lld (dilation %lld) is larger than the padded input %s", fn,
                         (long long)k, (long long)d, nbc_desc(x)), NULL;
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))
        return nbc_error(NB_ERR_ARG, "%s: bias has %s; expected [%lld]", fn, nbc_desc(bias), (long long)w->shape[0]), NULL;
    nb_conv_opts o2 = {.stride = {1, s}, .padding = {-1, p ? p : -1}, .dilation = {1, d}, .groups = g, .same = opts->same};
    if (opts->same && s != 1) return nbc_error(NB_ERR_ARG, "%s: padding \"same\" needs stride 1 (as in PyTorch)", fn), NULL;
    nb_tensor *x3 = x->ndim == 2 ? nb_unsqueeze(x, 0) : nb_retain(x); /* (N, C, L) */
    nb_tensor *x4 = x3 ? nb_unsqueeze(x3, 2) : NULL, *w4 = nb_unsqueeze(w, 2); /* views: (N, C, 1, L), (O, C/g, 1, k) */
    nb_free(x3);
    nb_tensor *y4 = x4 && w4 ? nb_conv2d(x4, w4, bias, &o2) : NULL;
    nb_tensor *y = y4 ? nb_squeeze(y4, 2) : NULL;
    if (y && x->ndim == 2) { /* unbatched (C, L) in, (O, L') out */
        nb_tensor *s1 = nb_squeeze(y, 0);
        nb_free(y);
        y = s1;
    }
    nb_free(x4);
    nb_free(w4);
    nb_free(y4);
    return y;
}

/* ---- conv_transpose2d: the input gradient of conv2d ---------------------------------------------- */

nb_tensor *nb_conv_transpose2d(nb_tensor *x, nb_tensor *w, nb_tensor *bias, const nb_conv_transpose_opts *opts) {
    static const char fn[] = "nb_conv_transpose2d";
    static const nb_conv_transpose_opts none;
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!w) return nbc_null_arg(fn, 2), NULL;
    if (!opts) opts = &none;
    if (!nb_dtype_is_float(x->dtype) || !nb_dtype_is_float(w->dtype))
        return nbc_error(NB_ERR_ARG, "%s: input and weight must have floating dtypes; got %s and %s", fn,
                         nb_dtype_name(x->dtype), nb_dtype_name(w->dtype)), NULL;
    if ((x->ndim != 3 && x->ndim != 4) || w->ndim != 4)
        return nbc_error(NB_ERR_ARG, "%s: expected input (N, C_in, H, W) or (C_in, H, W) and weight (C_in, C_out/groups, "
                         "kH, kW); got %s and %s", fn, nbc_desc(x), nbc_desc(w)), NULL;
    nb_attrs a = {.n_ints = A_SHAPE + 4};
    int64_t op[2];
    for (int i = 0; i < 2; i++) {
        a.ints[A_SH + i] = pair_get(opts->stride, i, 1);
        a.ints[A_DH + i] = pair_get(opts->dilation, i, 1);
        op[i] = pair_get(opts->output_padding, i, 0);
    }
    a.ints[A_PH] = opts->padding[0] < 0 ? 0 : opts->padding[0];
    a.ints[A_PW] = opts->padding[1] == 0 ? a.ints[A_PH] : (opts->padding[1] < 0 ? 0 : opts->padding[1]);
    int64_t g = a.ints[A_GROUPS] = opts->groups ? opts->groups : 1;
    if (a.ints[A_SH] < 1 || a.ints[A_SW] < 1 || a.ints[A_DH] < 1 || a.ints[A_DW] < 1 || g < 1)
        return nbc_error(NB_ERR_ARG, "%s: stride, dilation and groups must be at least 1", fn), NULL;
    if (op[0] < 0 || op[1] < 0 || op[0] >= a.ints[A_SH] || op[1] >= a.ints[A_SW])
        return nbc_error(NB_ERR_ARG, "%s: output_padding (%lld, %lld) must be smaller than the stride (%lld, %lld)", fn,
                         (long long)op[0], (long long)op[1], (long long)a.ints[A_SH], (long long)a.ints[A_SW]), NULL;
    const int64_t *xs = x->shape + x->ndim - 3;
    if (xs[0] != w->shape[0] || w->shape[0] % g)
        return nbc_error(NB_ERR_ARG, "%s: input %s has %lld channels; weight %s expects %lld (divisible by groups=%lld)",
                         fn, nbc_desc(x), (long long)xs[0], nbc_desc(w), (long long)w->shape[0], (long long)g), NULL;
    int64_t shape[4] = {x->ndim == 4 ? x->shape[0] : 1, w->shape[1] * g, 0, 0};
    for (int i = 0; i < 2; i++) {
        shape[2 + i] = (xs[1 + i] - 1) * a.ints[A_SH + i] - 2 * a.ints[A_PH + i] + a.ints[A_DH + i] * (w->shape[2 + i] - 1) +
                       op[i] + 1;
        if (shape[2 + i] <= 0 || xs[1 + i] < 1)
            return nbc_error(NB_ERR_ARG, "%s: input %s with weight %s gives an empty output (%lld x %lld is too small "
                             "for the padding)", fn, nbc_desc(x), nbc_desc(w), (long long)xs[1], (long long)xs[2]), NULL;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != shape[1]))
        return nbc_error(NB_ERR_ARG, "%s: bias has %s; expected [%lld]", fn, nbc_desc(bias), (long long)shape[1]), NULL;
    memcpy(&a.ints[A_SHAPE], shape, sizeof shape);
    nb_tensor *x4 = x->ndim == 3 ? nb_unsqueeze(x, 0) : nb_retain(x);
    nb_tensor *y = x4 ? nbo_apply1(NBO_conv2d_input_grad, (nb_tensor *[]){x4, w}, 2, &a) : NULL;
    nb_free(x4);
    if (y && bias) {
        nb_tensor *b4 = nb_reshape(bias, NB_SHAPE(1, -1, 1, 1));
        nb_tensor *r = b4 ? nb_add(y, b4) : NULL;
        nb_free(b4);
        nb_free(y);
        y = r;
    }
    if (y && x->ndim == 3) {
        nb_tensor *s = nb_squeeze(y, 0);
        nb_free(y);
        y = s;
    }
    return y;
}
