/* tests/test_ops_conv.c — conv2d and max_pool2d against plain f64 loops: stride, padding ("same"
 * too), dilation, groups, bias, ceil_mode, indices, awkward sizes, strided input views, f32 and f64,
 * and the error messages for bad shapes. */
#include "harness.h"
#include "respawn.h"

/* Plain reference convolution on f64 copies. x (N, C, H, W), w (O, C/g, kh, kw). */
static nb_tensor *ref_conv(nb_tensor *x, nb_tensor *w, nb_tensor *b, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                           int64_t dh, int64_t dw, int64_t groups) {
    const int64_t *xs = nb_shape(x), *ws = nb_shape(w);
    int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], Cg = ws[1], kh = ws[2], kw = ws[3];
    int64_t OH = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1, OW = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    double *xv = malloc(sizeof(double) * (size_t)(N * C * H * W)), *wv = malloc(sizeof(double) * (size_t)(O * Cg * kh * kw));
    double *yv = calloc((size_t)(N * O * OH * OW), sizeof(double)), *bv = malloc(sizeof(double) * (size_t)O);
    nb_copy_to(x, xv, sizeof(double) * (size_t)(N * C * H * W), NB_F64);
    nb_copy_to(w, wv, sizeof(double) * (size_t)(O * Cg * kh * kw), NB_F64);
    for (int64_t o = 0; o < O; o++) bv[o] = 0;
    if (b) nb_copy_to(b, bv, sizeof(double) * (size_t)O, NB_F64);
    int64_t Og = O / groups;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double s = bv[o];
                    int64_t g = o / Og;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t i = 0; i < kh; i++)
                            for (int64_t j = 0; j < kw; j++) {
                                int64_t iy = oy * sh - ph + i * dh, ix = ox * sw - pw + j * dw;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                s += xv[((n * C + g * Cg + c) * H + iy) * W + ix] * wv[((o * Cg + c) * kh + i) * kw + j];
                            }
                    yv[((n * O + o) * OH + oy) * OW + ox] = s;
                }
    nb_tensor *y = nb_from_data(yv, NB_SHAPE(N, O, OH, OW), NB_F64);
    free(xv), free(wv), free(yv), free(bv);
    return y;
}

typedef struct conv_case {
    int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups;
    bool bias;
} conv_case;

static void test_conv2d_reference(void) {
    const conv_case cases[] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, false},       {2, 3, 7, 17, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, true},
        {1, 2, 17, 7, 5, 3, 2, 2, 1, 1, 0, 1, 1, 1, true},       {3, 4, 9, 9, 6, 3, 3, 2, 2, 1, 1, 2, 2, 2, false},
        {1, 6, 7, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6, true},        {2, 1, 28, 28, 8, 3, 3, 1, 1, 0, 0, 1, 1, 1, true},
        {1, 8, 13, 13, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},    {1, 3, 129, 5, 2, 5, 1, 3, 1, 2, 0, 1, 1, 1, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const conv_case *c = &cases[k];
        for (int dt = 0; dt < 2; dt++) {
            nb_dtype d = dt ? NB_F64 : NB_F32;
            nb_scope_begin();
            nb_tensor *x = nb_randn(NB_SHAPE(c->n, c->c, c->h, c->w), d);
            nb_tensor *w = nb_randn(NB_SHAPE(c->o, c->c / c->groups, c->kh, c->kw), d);
            nb_tensor *b = c->bias ? nb_randn(NB_SHAPE(c->o), d) : NULL;
            nb_conv_opts o = {.stride = {c->sh, c->sw}, .padding = {c->ph, c->pw ? c->pw : -1},
                              .dilation = {c->dh, c->dw}, .groups = c->groups};
            nb_tensor *y = nb_conv2d(x, w, b, &o);
            nb_tensor *r = ref_conv(x, w, b, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw, c->groups);
            double tol = dt ? 1e-10 : 1e-4;
            CHECK_MSG(y && h_max_abs_diff(y, r) < tol, "case %zu dtype %s: diff %g", k, nb_dtype_name(d),
                      y ? h_max_abs_diff(y, r) : -1.0);
            CHECK(y && nb_dtype_of(y) == d);
            nb_scope_end();
        }
    }
}

static void test_conv2d_views_and_same(void) {
    /* a (H, W)-transposed input view and a channel-sliced input give the same as their copies */
    nb_tensor *x = nb_randn(NB_SHAPE(2, 6, 9, 7), NB_F32), *w = nb_randn(NB_SHAPE(4, 3, 3, 3), NB_F32);
    nb_tensor *xv = nb_slice(nb_transpose(x, 2, 3), 1, 0, 6, 2); /* (2, 3, 7, 9), strided */
    nb_tensor *y = nb_conv2d(xv, w, NULL, &(nb_conv_opts){.padding = {1}});
    nb_tensor *r = ref_conv(xv, w, NULL, 1, 1, 1, 1, 1, 1, 1);
    CHECK(y && h_max_abs_diff(y, r) < 1e-4);
    /* "same" keeps the spatial size for odd kernels (with dilation too) */
    nb_tensor *w5 = nb_randn(NB_SHAPE(2, 3, 5, 3), NB_F32);
    nb_tensor *ys = nb_conv2d(xv, w5, NULL, &(nb_conv_opts){.same = true, .dilation = {1, 2}});
    CHECK(ys && nb_shape(ys)[2] == 7 && nb_shape(ys)[3] == 9);
    CHECK(ys && h_max_abs_diff(ys, ref_conv(xv, w5, NULL, 1, 1, 2, 2, 1, 2, 1)) < 1e-4);
    /* f16 input: computed in f32, rounded on output */
    nb_tensor *yh = nb_conv2d(nb_to(xv, NB_F16), nb_to(w, NB_F16), NULL, &(nb_conv_opts){.padding = {1}});
    CHECK(yh && nb_dtype_of(yh) == NB_F16 && h_max_abs_diff(yh, r) < 0.1);
}

static void test_conv2d_errors(void) {
    nb_tensor *x = nb_randn(NB_SHAPE(1, 3, 5, 5), NB_F32);
    CHECK_NULL_WITH(nb_conv2d(x, nb_randn(NB_SHAPE(2, 4, 3, 3), NB_F32), NULL, NULL), "nb_conv2d", "[1, 3, 5, 5]",
                    "[2, 4, 3, 3]");
    CHECK_NULL_WITH(nb_conv2d(x, nb_randn(NB_SHAPE(2, 3, 7, 7), NB_F32), NULL, NULL), "nb_conv2d", "larger");
    CHECK_NULL_WITH(nb_conv2d(nb_randn(NB_SHAPE(3, 5, 5), NB_F32), nb_randn(NB_SHAPE(2, 3, 3, 3), NB_F32), NULL, NULL),
                    "nb_conv2d", "(N, C, H, W)");
    CHECK_NULL_WITH(nb_conv2d(x, nb_randn(NB_SHAPE(2, 3, 3, 3), NB_F32), nb_randn(NB_SHAPE(3), NB_F32), NULL),
                    "nb_conv2d", "bias");
    CHECK_NULL_WITH(nb_conv2d(x, nb_randn(NB_SHAPE(4, 1, 3, 3), NB_F32), NULL, &(nb_conv_opts){.groups = 2}),
                    "nb_conv2d", "groups=2");
    CHECK_NULL_WITH(nb_conv2d(x, nb_randn(NB_SHAPE(2, 3, 3, 3), NB_F32), NULL, &(nb_conv_opts){.stride = {2}, .same = true}),
                    "nb_conv2d", "same");
    CHECK_NULL_WITH(nb_conv2d(nb_ones(NB_SHAPE(1, 3, 5, 5), NB_I64), nb_randn(NB_SHAPE(2, 3, 3, 3), NB_F32), NULL, NULL),
                    "nb_conv2d", "floating");
    CHECK_NULL_WITH(nb_conv2d(NULL, x, NULL, NULL), "nb_conv2d", "argument #1 is NULL");
}

/* reference max pool: value and flat index, -inf padding, first maximum wins */
static void test_max_pool2d_reference(void) {
    const int64_t cfg[][10] = {
        /* H, W, kh, kw, sh, sw, ph, pw, dh, ceil */
        {7, 17, 2, 2, 2, 2, 0, 0, 1, 0}, {7, 7, 3, 3, 2, 2, 1, 1, 1, 1}, {17, 9, 3, 2, 1, 2, 1, 0, 2, 0},
        {1, 1, 1, 1, 1, 1, 0, 0, 1, 0},  {8, 8, 3, 3, 3, 3, 1, 1, 1, 1}, {28, 28, 2, 2, 2, 2, 0, 0, 1, 0},
    };
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        const int64_t *c = cfg[k];
        nb_scope_begin();
        int64_t H = c[0], W = c[1];
        nb_tensor *x = nb_randn(NB_SHAPE(2, 3, H, W), NB_F32);
        nb_pool_opts o = {.kernel = {c[2], c[3]}, .stride = {c[4], c[5]}, .padding = {c[6], c[7] ? c[7] : -1},
                          .dilation = {c[8], c[8] == 1 ? 0 : 1}, .ceil_mode = c[9]};
        nb_tensor *idx = NULL;
        nb_tensor *y = nb_max_pool2d_with_indices(x, &o, &idx);
        CHECK(y && idx && nb_dtype_of(idx) == NB_I64);
        if (!y || !idx) {
            nb_scope_end();
            continue;
        }
        int64_t OH = nb_shape(y)[2], OW = nb_shape(y)[3];
        /* expected output size (PyTorch's formula) */
        int64_t span_h = H + 2 * c[6] - c[8] * (c[2] - 1) - 1, span_w = W + 2 * c[7] - (c[3] - 1) - 1;
        int64_t eh = (c[9] ? (span_h + c[4] - 1) / c[4] : span_h / c[4]) + 1;
        int64_t ew = (c[9] ? (span_w + c[5] - 1) / c[5] : span_w / c[5]) + 1;
        if (c[9] && (eh - 1) * c[4] >= H + c[6]) eh--;
        if (c[9] && (ew - 1) * c[5] >= W + c[7]) ew--;
        CHECK_MSG(OH == eh && OW == ew, "case %zu: %lldx%lld vs %lldx%lld", k, (long long)OH, (long long)OW,
                  (long long)eh, (long long)ew);
        int bad = 0;
        for (int64_t n = 0; n < 2; n++)
            for (int64_t ch = 0; ch < 3; ch++)
                for (int64_t oy = 0; oy < OH; oy++)
                    for (int64_t ox = 0; ox < OW; ox++) {
                        double best = -INFINITY;
                        int64_t bi = -1;
                        for (int64_t i = 0; i < c[2]; i++)
                            for (int64_t j = 0; j < c[3]; j++) {
                                int64_t iy = oy * c[4] - c[6] + i * c[8], ix = ox * c[5] - c[7] + j;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                double v = h_get(x, NB_LIST(n, ch, iy, ix));
                                if (bi < 0 || v > best) best = v, bi = iy * W + ix;
                            }
                        if (h_get(y, NB_LIST(n, ch, oy, ox)) != best || h_get(idx, NB_LIST(n, ch, oy, ox)) != (double)bi)
                            bad++;
                    }
        CHECK_MSG(bad == 0, "case %zu: %d mismatches", k, bad);
        nb_scope_end();
    }
}

static void test_max_pool2d_gradient_and_errors(void) {
    /* the gradient lands on the maxima only; overlapping windows add up */
    double v[] = {1, 5, 2, 0, 3, 4, 9, 8, 7};
    nb_tensor *x = nb_param(nb_from_data(v, NB_SHAPE(1, 1, 3, 3), NB_F64));
    nb_tensor *y = nb_max_pool2d(x, &(nb_pool_opts){.kernel = {2}, .stride = {1}});
    CHECK(nb_backward(nb_sum(y, NULL)) == 0);
    nb_tensor *g = nb_grad(x);
    /* windows: [1,5,0,3] -> 5 @1; [5,2,3,4] -> 5 @1; [0,3,9,8] -> 9 @6; [3,4,8,7] -> 8 @7 */
    double exp_g[] = {0, 2, 0, 0, 0, 0, 1, 1, 0};
    for (int i = 0; i < 9; i++) CHECK_NEAR(h_get(g, NB_LIST(0, 0, i / 3, i % 3)), exp_g[i], 0);
    /* (C, H, W) input keeps its rank */
    nb_tensor *y3 = nb_max_pool2d(nb_randn(NB_SHAPE(2, 4, 4), NB_F32), &(nb_pool_opts){.kernel = {2}});
    CHECK(y3 && nb_ndim(y3) == 3 && nb_shape(y3)[1] == 2);
    CHECK_NULL_WITH(nb_max_pool2d(x, NULL), "nb_max_pool2d", "kernel");
    CHECK_NULL_WITH(nb_max_pool2d(x, &(nb_pool_opts){.kernel = {2}, .padding = {2}}), "nb_max_pool2d", "half");
    CHECK_NULL_WITH(nb_max_pool2d(x, &(nb_pool_opts){.kernel = {5}}), "nb_max_pool2d", "larger");
    CHECK_NULL_WITH(nb_max_pool2d(nb_randn(NB_SHAPE(3, 3), NB_F32), &(nb_pool_opts){.kernel = {2}}), "nb_max_pool2d",
                    "(N, C, H, W)");
}

/* Gradients of conv2d against plain loops: gx = sum_o,ky,kx v * w, gw = sum_n,oy,ox v * x. Cases hit
 * and miss the fast paths: 1x1 stride 1 without padding (no im2col/col2im), 1x1 strided or padded,
 * 3x3 stride 1 with and without padding (vector im2col/col2im), stride 2, groups, batches of 1, 7 and
 * 17 (one or many samples per task, one or many weight-gradient blocks and partial sums), rows wider
 * than 16. Results must also be bitwise equal for 1 and 2 threads. */
static void ref_conv_grads(nb_tensor *x, nb_tensor *w, nb_tensor *v, const conv_case *c, double *gx, double *gw) {
    const int64_t *xs = nb_shape(x), *ws = nb_shape(w), *vs = nb_shape(v);
    int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ws[0], Cg = ws[1], kh = ws[2], kw = ws[3];
    int64_t OH = vs[2], OW = vs[3], Og = O / c->groups;
    double *xv = malloc(sizeof(double) * (size_t)(N * C * H * W)), *wv = malloc(sizeof(double) * (size_t)(O * Cg * kh * kw));
    double *vv = malloc(sizeof(double) * (size_t)(N * O * OH * OW));
    nb_copy_to(x, xv, sizeof(double) * (size_t)(N * C * H * W), NB_F64);
    nb_copy_to(w, wv, sizeof(double) * (size_t)(O * Cg * kh * kw), NB_F64);
    nb_copy_to(v, vv, sizeof(double) * (size_t)(N * O * OH * OW), NB_F64);
    memset(gx, 0, sizeof(double) * (size_t)(N * C * H * W));
    memset(gw, 0, sizeof(double) * (size_t)(O * Cg * kh * kw));
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double g = vv[((n * O + o) * OH + oy) * OW + ox];
                    for (int64_t cc = 0; cc < Cg; cc++)
                        for (int64_t i = 0; i < kh; i++)
                            for (int64_t j = 0; j < kw; j++) {
                                int64_t iy = oy * c->sh - c->ph + i * c->dh, ix = ox * c->sw - c->pw + j * c->dw;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                int64_t xi = ((n * C + (o / Og) * Cg + cc) * H + iy) * W + ix, wi = ((o * Cg + cc) * kh + i) * kw + j;
                                gx[xi] += g * wv[wi];
                                gw[wi] += g * xv[xi];
                            }
                }
    free(xv), free(wv), free(vv);
}

static void test_conv2d_gradients_reference(void) {
    const conv_case cases[] = {
        /* n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups */
        {7, 6, 5, 9, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, false},   {3, 6, 5, 7, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, false},
        {2, 3, 7, 9, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1, false},   {2, 3, 7, 9, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, false},
        {17, 3, 13, 13, 8, 3, 3, 1, 1, 0, 0, 1, 1, 1, false}, {1, 4, 17, 33, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},
        {7, 4, 9, 19, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, false},  {5, 3, 9, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, false},
        {17, 1, 7, 7, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, false},  {3, 2, 11, 10, 3, 3, 2, 1, 1, 2, 1, 2, 1, 1, false},
        {2, 2, 6, 20, 2, 2, 3, 2, 1, 0, 1, 1, 2, 1, false},  {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, false},
        /* blocks of samples sharing one GEMM (512 / (OH * OW) samples each) whose size does not divide
         * N: 56 + 9, 34 + 31, 5 + 2, 7 + 2 (rows of 35 outputs: three 16-lane chunks), one block of 2 and
         * of 7 (groups) */
        {65, 2, 5, 5, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, false},  {65, 3, 3, 17, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, false},
        {7, 3, 10, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},  {9, 2, 4, 37, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, false},
        {2, 5, 13, 13, 7, 3, 3, 1, 1, 0, 0, 1, 1, 1, false}, {7, 4, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, false},
        /* im2col's permuting path (stride 1, no padding, >= 64 rows per group): 121 and 63 columns,
         * dilation, groups, and a 3x9 window on 10 columns whose chunks span too much (the fallback) */
        {3, 8, 13, 13, 5, 3, 3, 1, 1, 0, 0, 1, 1, 1, false}, {2, 8, 11, 9, 3, 3, 3, 1, 1, 0, 0, 2, 1, 1, false},
        {3, 16, 7, 7, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2, false},  {2, 3, 12, 10, 3, 3, 9, 1, 1, 0, 0, 1, 1, 1, false},
        /* the direct weight gradient (kernels/cpu/conv_wgrad.c: C * kh * kw <= 32, stride 1 across):
         * blocks of 4 (5 wide) and 3 (7 wide) output channels with a partial last block, vertical
         * stride and padding, 1x1, rows of 40 (three chunks) and of 298 columns (too long: the GEMM) */
        {3, 1, 12, 40, 9, 5, 5, 1, 1, 2, 2, 1, 1, 1, false}, {2, 1, 9, 20, 5, 3, 7, 2, 1, 1, 3, 1, 1, 1, false},
        {5, 3, 8, 8, 17, 1, 1, 1, 1, 0, 0, 1, 1, 1, false},  {2, 1, 3, 300, 2, 1, 3, 1, 1, 0, 0, 1, 1, 1, false},
        {33, 1, 28, 28, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, false},
        /* the packed weight gradient (conv_wgrad_gemm.c, longer filters): stride 2 with padding,
         * several A~ and B~ panels (O = 20, K = 144) with several samples per k-block, and images of
         * more than 256 outputs cut into pixel ranges (P = 400: two ranges per sample) */
        {3, 8, 11, 12, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, false}, {5, 16, 7, 7, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},
        {3, 5, 20, 20, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, false}, {2, 6, 9, 9, 13, 3, 2, 1, 1, 1, 0, 2, 2, 1, false},
        /* the implicit-GEMM forward (conv_fwd.c) also takes the cases above with >= 32 filter elements;
         * here two k-blocks (K = 270), vertical stride 3, and a 5x5 window with padding 2 */
        {2, 30, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, false}, {3, 4, 17, 12, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, false},
        {2, 2, 9, 11, 17, 5, 5, 1, 1, 2, 2, 1, 1, 1, false},
        /* ... and horizontal stride 2 where a chunk is one row of 16 outputs (3x3 padded, 1x1) */
        {2, 8, 6, 31, 5, 3, 3, 1, 2, 1, 1, 1, 1, 1, false}, {3, 40, 4, 31, 6, 1, 1, 2, 2, 0, 0, 1, 1, 1, false},
    };
    int saved = nb_get_num_threads();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const conv_case *c = &cases[k];
        for (int dt = 0; dt < 2; dt++) {
            nb_dtype d = dt ? NB_F64 : NB_F32;
            nb_scope_begin();
            nb_tensor *x0 = nb_randn(NB_SHAPE(c->n, c->c, c->h, c->w), d);
            nb_tensor *w0 = nb_randn(NB_SHAPE(c->o, c->c / c->groups, c->kh, c->kw), d);
            nb_tensor *b0 = k % 2 ? nb_randn(NB_SHAPE(c->o), d) : NULL; /* the fused bias on every other case */
            nb_conv_opts o = {.stride = {c->sh, c->sw}, .padding = {c->ph, c->pw ? c->pw : -1},
                              .dilation = {c->dh, c->dw}, .groups = c->groups};
            nb_tensor *res[2][4] = {{NULL}};
            nb_tensor *v = NULL;
            for (int t = 0; t < 2; t++) {
                nb_set_num_threads(t + 1);
                nb_tensor *x = nb_param(nb_clone(x0)), *w = nb_param(nb_clone(w0)), *b = b0 ? nb_param(nb_clone(b0)) : NULL;
                nb_tensor *y = nb_conv2d(x, w, b, &o);
                if (!y) break;
                if (!v) v = nb_randn(nb_ndim(y), nb_shape(y), d);
                CHECK(nb_backward(nb_sum(nb_mul(y, v), NULL)) == 0);
                res[t][0] = y, res[t][1] = nb_grad(x), res[t][2] = nb_grad(w), res[t][3] = b ? nb_grad(b) : NULL;
            }
            nb_set_num_threads(saved);
            CHECK_MSG(res[1][2] != NULL, "case %zu: %s", k, nb_last_error());
            if (!res[1][2]) {
                nb_scope_end();
                continue;
            }
            for (int r = 0; r < (b0 ? 4 : 3); r++)
                CHECK_MSG(h_max_abs_diff(res[0][r], res[1][r]) == 0, "case %zu dtype %s: result %d differs between "
                          "1 and 2 threads", k, nb_dtype_name(d), r);
            int64_t nx = nb_numel(x0), nw = nb_numel(w0);
            double *gx = malloc(sizeof(double) * (size_t)nx), *gw = malloc(sizeof(double) * (size_t)nw);
            ref_conv_grads(x0, w0, v, c, gx, gw);
            nb_tensor *rx = nb_from_data(gx, nb_ndim(x0), nb_shape(x0), NB_F64);
            nb_tensor *rw = nb_from_data(gw, nb_ndim(w0), nb_shape(w0), NB_F64);
            double tol = dt ? 1e-9 : 2e-3;
            CHECK_MSG(h_max_abs_diff(res[0][1], rx) < tol, "case %zu dtype %s: input gradient off by %g", k,
                      nb_dtype_name(d), h_max_abs_diff(res[0][1], rx));
            CHECK_MSG(h_max_abs_diff(res[0][2], rw) < tol, "case %zu dtype %s: weight gradient off by %g", k,
                      nb_dtype_name(d), h_max_abs_diff(res[0][2], rw));
            CHECK(h_max_abs_diff(res[0][0], ref_conv(x0, w0, b0, c->sh, c->sw, c->ph, c->pw, c->dh, c->dw, c->groups)) <
                  (dt ? 1e-10 : 1e-4));
            if (b0) /* the bias gradient: v summed over samples and positions */
                CHECK_MSG(h_max_abs_diff(res[0][3], nb_sum(nb_to(v, NB_F64), NB_DIMS(0, 2, 3))) < (dt ? 1e-9 : 1e-3),
                          "case %zu dtype %s: bias gradient", k, nb_dtype_name(d));
            free(gx), free(gw);
            nb_scope_end();
        }
    }
}

/* Max pooling with ties and NaNs against the scalar rule (first maximum wins; a NaN wins over numbers,
 * the first NaN over later ones), on the fast paths (2x2 stride 2, 3x3, any window with stride 1 or 2
 * whose windows stay inside the plane; rows shorter and longer than 16 outputs) and around them
 * (padding, ceil_mode, stride 3, dilation), f32 and f64, 1 and 2 threads bitwise equal. The
 * gradient (the scatter-add) is checked against the indices. */
static void test_max_pool2d_fast_paths(void) {
    const int64_t cfg[][11] = {
        /* N, C, H, W, kh, kw, sh, sw, ph, pw, ceil (dilation 2 when kh == 2 and sh == 1) */
        {2, 3, 26, 26, 2, 2, 2, 2, 0, 0, 0}, {3, 2, 11, 11, 2, 2, 2, 2, 0, 0, 0}, {1, 2, 7, 17, 2, 2, 2, 2, 0, 0, 1},
        {2, 1, 9, 35, 2, 2, 2, 2, 0, 0, 1},  {1, 2, 27, 27, 3, 3, 2, 2, 0, 0, 0}, {1, 2, 17, 40, 3, 3, 2, 2, 1, 1, 1},
        {1, 1, 7, 7, 3, 3, 1, 1, 1, 1, 0},   {1, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0},   {1, 1, 1, 7, 1, 2, 1, 2, 0, 0, 1},
        {2, 2, 17, 7, 2, 3, 1, 2, 1, 1, 0},  {1, 1, 13, 37, 2, 2, 1, 1, 0, 0, 0}, {1, 1, 10, 10, 3, 3, 3, 3, 1, 1, 1},
        {1, 1, 16, 64, 4, 4, 4, 4, 0, 0, 0}, {7, 1, 5, 6, 2, 2, 2, 2, 1, 1, 1},
    };
    int saved = nb_get_num_threads();
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        const int64_t *c = cfg[k];
        int64_t N = c[0], C = c[1], H = c[2], W = c[3], dil = c[4] == 2 && c[6] == 1 ? 2 : 1;
        for (int dt = 0; dt < 2; dt++) {
            nb_dtype d = dt ? NB_F64 : NB_F32;
            nb_scope_begin();
            /* small integers (many ties), some NaNs and infinities */
            int64_t n = N * C * H * W;
            double *xv = malloc(sizeof(double) * (size_t)n);
            for (int64_t i = 0; i < n; i++) {
                uint32_t hsh = (uint32_t)(i * 2654435761u + (uint32_t)k * 40503u);
                xv[i] = (double)((hsh >> 7) % 5) - 2.0;
                if ((hsh >> 3) % 23 == 0) xv[i] = NAN;
                if ((hsh >> 3) % 31 == 1) xv[i] = -INFINITY;
            }
            nb_tensor *x = nb_to(nb_from_data(xv, NB_SHAPE(N, C, H, W), NB_F64), d);
            nb_pool_opts o = {.kernel = {c[4], c[5]}, .stride = {c[6], c[7]}, .padding = {c[8], c[9] ? c[9] : -1},
                              .dilation = {dil, 1}, .ceil_mode = c[10]};
            nb_tensor *y[2], *idx[2], *gx[2];
            nb_tensor *gy = NULL;
            for (int t = 0; t < 2; t++) {
                nb_set_num_threads(t + 1);
                nb_tensor *xp = nb_param(nb_clone(x));
                y[t] = nb_max_pool2d_with_indices(xp, &o, &idx[t]);
                if (!y[t]) break;
                if (!gy) gy = nb_randn(nb_ndim(y[t]), nb_shape(y[t]), d);
                CHECK(nb_backward(nb_sum(nb_mul(y[t], gy), NULL)) == 0); /* d/dy = gy even where y is NaN */
                gx[t] = nb_grad(xp);
            }
            nb_set_num_threads(saved);
            CHECK_MSG(y[0] && y[1], "case %zu: %s", k, nb_last_error());
            if (!y[0] || !y[1]) {
                free(xv);
                nb_scope_end();
                continue;
            }
            CHECK_MSG(h_max_abs_diff(y[0], y[1]) == 0 && h_max_abs_diff(idx[0], idx[1]) == 0 &&
                          h_max_abs_diff(gx[0], gx[1]) == 0,
                      "case %zu: 1 and 2 threads differ", k);
            int64_t OH = nb_shape(y[0])[2], OW = nb_shape(y[0])[3];
            /* the gradient: gy added at the indices, in order */
            double *gref = calloc((size_t)n, sizeof(double)), *gyv = malloc(sizeof(double) * (size_t)(N * C * OH * OW));
            int64_t *iv = malloc(sizeof(int64_t) * (size_t)(N * C * OH * OW));
            nb_copy_to(gy, gyv, sizeof(double) * (size_t)(N * C * OH * OW), NB_F64);
            nb_copy_to(idx[0], iv, sizeof(int64_t) * (size_t)(N * C * OH * OW), NB_I64);
            for (int64_t i = 0; i < N * C * OH * OW; i++) gref[i / (OH * OW) * H * W + iv[i]] += gyv[i];
            nb_tensor *gr = nb_from_data(gref, NB_SHAPE(N, C, H, W), NB_F64);
            CHECK_MSG(h_max_abs_diff(gx[0], gr) < (dt ? 1e-12 : 1e-5), "case %zu: gradient off by %g", k,
                      h_max_abs_diff(gx[0], gr));
            free(gref), free(gyv), free(iv);
            int bad = 0;
            for (int64_t p = 0; p < N * C; p++)
                for (int64_t oy = 0; oy < OH; oy++)
                    for (int64_t ox = 0; ox < OW; ox++) {
                        double best = 0;
                        int64_t bi = -1;
                        for (int64_t i = 0; i < c[4]; i++)
                            for (int64_t j = 0; j < c[5]; j++) {
                                int64_t iy = oy * c[6] - c[8] + i * dil, ix = ox * c[7] - c[9] + j;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                double v = xv[p * H * W + iy * W + ix];
                                if (bi < 0 || v > best || (isnan(v) && !isnan(best))) best = v, bi = iy * W + ix;
                            }
                        int64_t at[4] = {p / C, p % C, oy, ox};
                        double got = h_get(y[0], 4, at);
                        if (h_get(idx[0], 4, at) != (double)bi || !(got == best || (isnan(got) && isnan(best)))) bad++;
                    }
            CHECK_MSG(bad == 0, "case %zu dtype %s: %d mismatches", k, nb_dtype_name(d), bad);
            free(xv);
            nb_scope_end();
        }
    }
}

/* Depthwise conv2d (groups == C_in == C_out) takes direct loops; the same convolution with a dense,
 * block-diagonal weight (groups 1) takes im2col + GEMM. Both, with both gradients, must agree. */
static void test_depthwise_vs_general(void) {
    /* C, H, W, k, stride, padding, dilation */
    const int64_t cases[][7] = {{3, 7, 17, 3, 1, 1, 1}, {1, 1, 1, 1, 1, 0, 1}, {4, 17, 7, 3, 2, 1, 1}, {2, 9, 9, 5, 3, 2, 1},
                                {3, 7, 7, 3, 1, 2, 2}, {5, 6, 11, 2, 2, 0, 1}, {2, 28, 28, 3, 1, 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t *c = cases[k];
        int64_t C = c[0], K = c[3];
        for (int dt = 0; dt < 3; dt++) {
            nb_dtype d = dt == 0 ? NB_F32 : dt == 1 ? NB_F64 : NB_F16;
            nb_scope_begin();
            nb_tensor *x = nb_param(nb_to(nb_randn(NB_SHAPE(2, C, c[1], c[2]), NB_F64), d));
            nb_tensor *w = nb_param(nb_to(nb_randn(NB_SHAPE(C, 1, K, K), NB_F64), d));
            nb_tensor *xd = nb_param(nb_detach(x));
            /* dense (C, C, K, K) weight with w on the diagonal blocks */
            double *wv = malloc(sizeof(double) * (size_t)(C * K * K)), *dv = calloc((size_t)(C * C * K * K), sizeof(double));
            nb_copy_to(w, wv, sizeof(double) * (size_t)(C * K * K), NB_F64);
            for (int64_t o = 0; o < C; o++)
                for (int64_t i = 0; i < K * K; i++) dv[(o * C + o) * K * K + i] = wv[o * K * K + i];
            nb_tensor *wd = nb_param(nb_to(nb_from_data(dv, NB_SHAPE(C, C, K, K), NB_F64), d));
            free(wv), free(dv);
            nb_conv_opts o = {.stride = {c[4]}, .padding = {c[5] ? c[5] : -1}, .dilation = {c[6]}, .groups = C};
            nb_conv_opts od = o;
            od.groups = 1;
            nb_tensor *y = nb_conv2d(x, w, NULL, &o), *yd = nb_conv2d(xd, wd, NULL, &od);
            double tol = d == NB_F64 ? 1e-12 : d == NB_F32 ? 1e-4 : 2e-2;
            CHECK_MSG(y && yd && h_max_abs_diff(y, yd) < tol, "depthwise case %zu %s: forward differs by %g", k,
                      nb_dtype_name(d), y && yd ? h_max_abs_diff(y, yd) : -1.0);
            nb_tensor *g = y ? nb_to(nb_randn(nb_ndim(y), nb_shape(y), NB_F64), d) : NULL;
            CHECK(g && nb_backward(nb_sum(nb_mul(y, g), NULL)) == 0 && nb_backward(nb_sum(nb_mul(yd, g), NULL)) == 0);
            nb_tensor *gx = nb_grad(x), *gxd = nb_grad(xd), *gw = nb_grad(w), *gwd = nb_grad(wd);
            CHECK_MSG(gx && gxd && h_max_abs_diff(gx, gxd) < tol, "depthwise case %zu %s: input gradient", k, nb_dtype_name(d));
            /* the diagonal blocks of the dense weight gradient */
            bool ok = gw && gwd;
            double gtol = d == NB_F64 ? 1e-10 : d == NB_F32 ? 1e-3 : 0.5;
            for (int64_t ch = 0; ch < C && ok; ch++) {
                nb_tensor *blk = nb_slice(nb_slice(gwd, 0, ch, ch + 1, 1), 1, ch, ch + 1, 1);
                nb_tensor *mine = nb_slice(gw, 0, ch, ch + 1, 1);
                ok = blk && mine && h_max_abs_diff(blk, mine) < gtol;
            }
            CHECK_MSG(ok, "depthwise case %zu %s: weight gradient", k, nb_dtype_name(d));
            nb_scope_end();
        }
    }
    /* 1 and 2 threads give the same bits */
    nb_scope_begin();
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(4, 8, 17, 19), NB_F32)), *w = nb_param(nb_randn(NB_SHAPE(8, 1, 3, 3), NB_F32));
    nb_conv_opts o = {.padding = {1}, .groups = 8};
    int nt = nb_get_num_threads();
    nb_tensor *r[2][3];
    for (int t = 0; t < 2; t++) {
        nb_set_num_threads(t + 1);
        nb_tensor *y = nb_conv2d(x, w, NULL, &o);
        nb_zero_grad(x), nb_zero_grad(w);
        CHECK(nb_backward(nb_sum(nb_mul(y, y), NULL)) == 0);
        r[t][0] = y, r[t][1] = nb_clone(nb_grad(x)), r[t][2] = nb_clone(nb_grad(w));
    }
    nb_set_num_threads(nt);
    for (int i = 0; i < 3; i++) CHECK(h_max_abs_diff(r[0][i], r[1][i]) == 0);
    nb_scope_end();
}

int main(void) {
    nb_manual_seed(11);
    RUN(test_conv2d_reference);
    RUN(test_conv2d_views_and_same);
    RUN(test_conv2d_errors);
    RUN(test_max_pool2d_reference);
    RUN(test_max_pool2d_gradient_and_errors);
    RUN(test_conv2d_gradients_reference);
    RUN(test_max_pool2d_fast_paths);
    RUN(test_depthwise_vs_general);
    respawn_lower_levels("NABLA_CONV_TEST_CHILD");
    return harness_finish();
}
