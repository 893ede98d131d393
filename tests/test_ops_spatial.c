/* tests/test_ops_spatial.c — the spatial family (src/ops/spatial.def) against plain f64 loops:
 * conv1d, conv_transpose2d, max_pool1d, avg_pool2d / avg_pool1d, adaptive_avg_pool2d,
 * adaptive_max_pool2d, interpolate (nearest, bilinear), pixel_shuffle / pixel_unshuffle, conv2d's
 * "same" padding with even kernels; awkward sizes, transposed and stepped inputs, f32 / f64 / f16 /
 * bf16, unbatched and empty inputs, and the error paths. */
#include "ref.h"

static const ref_layout layouts[] = {REF_CONTIG, REF_TRANSPOSED, REF_STEPPED, REF_TRANS_STEPPED};

static double tol_r(nb_dtype d) { return d == NB_F64 ? 1e-11 : d == NB_F32 ? 1e-5 : d == NB_F16 ? 2e-3 : 1e-2; }
static double tol_a(nb_dtype d) { return d == NB_F64 ? 1e-11 : d == NB_F32 ? 1e-4 : d == NB_F16 ? 2e-2 : 1e-1; }

/* ---- conv1d -------------------------------------------------------------------------------------- */

static double *ref_conv1d(const double *x, const double *w, const double *b, int64_t N, int64_t C, int64_t L, int64_t O,
                          int64_t k, int64_t s, int64_t pl, int64_t d, int64_t g, int64_t OL) {
    double *y = ref_darray(N * O * OL);
    int64_t Cg = C / g, Og = O / g;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t ol = 0; ol < OL; ol++) {
                double acc = b ? b[o] : 0;
                for (int64_t c = 0; c < Cg; c++)
                    for (int64_t j = 0; j < k; j++) {
                        int64_t il = ol * s - pl + j * d;
                        if (il >= 0 && il < L) acc += x[(n * C + (o / Og) * Cg + c) * L + il] * w[(o * Cg + c) * k + j];
                    }
                y[(n * O + o) * OL + ol] = acc;
            }
    return y;
}

static void test_conv1d_reference(void) {
    /* N, C, L, O, k, s, p, d, groups, bias, same */
    const int64_t cases[][11] = {
        {1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0}, {2, 3, 17, 4, 3, 1, 1, 1, 1, 1, 0}, {1, 2, 7, 2, 5, 2, 2, 1, 2, 1, 0},
        {2, 3, 17, 3, 3, 3, 0, 2, 3, 0, 0}, {1, 4, 7, 6, 2, 1, 0, 1, 2, 1, 1}, {2, 1, 17, 2, 5, 1, 0, 2, 1, 0, 1},
        {1, 3, 129, 2, 3, 2, 1, 1, 1, 1, 0},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t *c = cases[ci];
        int64_t N = c[0], C = c[1], L = c[2], O = c[3], k = c[4], s = c[5], p = c[6], d = c[7], g = c[8];
        bool same = c[10];
        int64_t pl = same ? d * (k - 1) / 2 : p, OL = same ? L : (L + 2 * p - d * (k - 1) - 1) / s + 1;
        for (int di = 0; di < REF_COUNT(ref_float_dtypes); di++)
            for (int li = 0; li < 3; li++) {
                nb_dtype dt = ref_float_dtypes[di];
                nb_scope_begin();
                double *xv = ref_values(N * C * L, dt, -2, 2), *wv = ref_values(O * C / g * k, dt, -2, 2);
                double *bv = c[9] ? ref_values(O, dt, -1, 1) : NULL;
                nb_tensor *x = ref_tensor(xv, NB_SHAPE(N, C, L), dt, layouts[li]);
                nb_tensor *w = ref_contig(wv, NB_SHAPE(O, C / g, k), dt);
                nb_tensor *b = bv ? ref_contig(bv, NB_SHAPE(O), dt) : NULL;
                nb_conv_opts o = {.stride = {s}, .padding = {p}, .dilation = {d}, .groups = g, .same = same};
                ref_set_ctx("conv1d case %zu %s %s", ci, nb_dtype_name(dt), ref_layout_name[li]);
                CHECK_REF(nb_conv1d(x, w, b, &o), dt, NB_SHAPE(N, O, OL),
                          ref_conv1d(xv, wv, bv, N, C, L, O, k, s, pl, d, g, OL), tol_r(dt), tol_a(dt));
                nb_scope_end();
            }
    }
    /* unbatched (C, L) */
    double *xv = ref_values(3 * 7, NB_F64, -2, 2), *wv = ref_values(2 * 3 * 3, NB_F64, -2, 2);
    ref_set_ctx("conv1d unbatched");
    CHECK_REF(nb_conv1d(ref_contig(xv, NB_SHAPE(3, 7), NB_F64), ref_contig(wv, NB_SHAPE(2, 3, 3), NB_F64), NULL, NULL),
              NB_F64, NB_SHAPE(2, 5), ref_conv1d(xv, wv, NULL, 1, 3, 7, 2, 3, 1, 0, 1, 1, 5), 1e-12, 1e-12);
}

/* conv2d "same" with even effective kernels: t = d (k - 1), t/2 before, the rest after */
static void test_conv2d_same_even(void) {
    for (int64_t kh = 1; kh <= 4; kh++) {
        int64_t kw = 6 - kh, N = 2, C = 2, H = 7, W = 6, O = 3;
        nb_scope_begin();
        double *xv = ref_values(N * C * H * W, NB_F64, -2, 2), *wv = ref_values(O * C * kh * kw, NB_F64, -2, 2);
        double *y = ref_darray(N * O * H * W);
        int64_t th = kh - 1, tw = kw - 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < O; o++)
                for (int64_t oy = 0; oy < H; oy++)
                    for (int64_t ox = 0; ox < W; ox++) {
                        double acc = 0;
                        for (int64_t c = 0; c < C; c++)
                            for (int64_t i = 0; i < kh; i++)
                                for (int64_t j = 0; j < kw; j++) {
                                    int64_t iy = oy - th / 2 + i, ix = ox - tw / 2 + j;
                                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                        acc += xv[((n * C + c) * H + iy) * W + ix] * wv[((o * C + c) * kh + i) * kw + j];
                                }
                        y[((n * O + o) * H + oy) * W + ox] = acc;
                    }
        ref_set_ctx("conv2d same %lldx%lld", (long long)kh, (long long)kw);
        CHECK_REF(nb_conv2d(ref_contig(xv, NB_SHAPE(N, C, H, W), NB_F64), ref_contig(wv, NB_SHAPE(O, C, kh, kw), NB_F64),
                            NULL, &(nb_conv_opts){.same = true}),
                  NB_F64, NB_SHAPE(N, O, H, W), y, 1e-12, 1e-12);
        nb_scope_end();
    }
}

/* ---- conv_transpose2d ---------------------------------------------------------------------------- */

typedef struct ct_case {
    int64_t n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, g;
    bool bias;
} ct_case;

static double *ref_conv_t(const ct_case *c, const double *x, const double *w, const double *b, int64_t OH, int64_t OW) {
    double *y = ref_darray(c->n * c->cout * OH * OW);
    int64_t Cig = c->cin / c->g, Cog = c->cout / c->g;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->cout; o++)
            for (int64_t i = 0; i < OH * OW; i++) y[(n * c->cout + o) * OH * OW + i] = b ? b[o] : 0;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t ci = 0; ci < c->cin; ci++)
            for (int64_t iy = 0; iy < c->h; iy++)
                for (int64_t ix = 0; ix < c->w; ix++)
                    for (int64_t co = 0; co < Cog; co++)
                        for (int64_t ky = 0; ky < c->kh; ky++)
                            for (int64_t kx = 0; kx < c->kw; kx++) {
                                int64_t oy = iy * c->sh - c->ph + ky * c->dh, ox = ix * c->sw - c->pw + kx * c->dw;
                                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                                int64_t o = (ci / Cig) * Cog + co;
                                y[((n * c->cout + o) * OH + oy) * OW + ox] +=
                                    x[((n * c->cin + ci) * c->h + iy) * c->w + ix] * w[((ci * Cog + co) * c->kh + ky) * c->kw + kx];
                            }
    return y;
}

static void test_conv_transpose2d_reference(void) {
    const ct_case cases[] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, false}, {2, 3, 7, 5, 2, 3, 3, 2, 2, 1, 1, 1, 0, 1, 1, 1, true},
        {1, 2, 5, 7, 4, 2, 3, 3, 1, 0, 1, 2, 0, 1, 1, 2, true},  {2, 4, 6, 6, 2, 3, 2, 1, 2, 1, 0, 0, 1, 2, 1, 2, false},
        {1, 3, 7, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, true},  {2, 2, 17, 1, 3, 5, 1, 1, 1, 2, 0, 0, 0, 2, 1, 1, false},
        {1, 2, 4, 4, 2, 1, 1, 3, 3, 0, 0, 2, 2, 1, 1, 1, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const ct_case *c = &cases[k];
        int64_t OH = (c->h - 1) * c->sh - 2 * c->ph + c->dh * (c->kh - 1) + c->oph + 1;
        int64_t OW = (c->w - 1) * c->sw - 2 * c->pw + c->dw * (c->kw - 1) + c->opw + 1;
        for (int di = 0; di < REF_COUNT(ref_float_dtypes); di++)
            for (int li = 0; li < REF_COUNT(layouts); li++) {
                nb_dtype dt = ref_float_dtypes[di];
                if (dt != NB_F32 && li) continue;
                nb_scope_begin();
                double *xv = ref_values(c->n * c->cin * c->h * c->w, dt, -2, 2);
                double *wv = ref_values(c->cin * c->cout / c->g * c->kh * c->kw, dt, -2, 2);
                double *bv = c->bias ? ref_values(c->cout, dt, -1, 1) : NULL;
                nb_tensor *x = ref_tensor(xv, NB_SHAPE(c->n, c->cin, c->h, c->w), dt, layouts[li]);
                nb_tensor *w = ref_tensor(wv, NB_SHAPE(c->cin, c->cout / c->g, c->kh, c->kw), dt, li == 1 ? REF_TRANSPOSED : REF_CONTIG);
                nb_tensor *b = bv ? ref_contig(bv, NB_SHAPE(c->cout), dt) : NULL;
                nb_conv_transpose_opts o = {.stride = {c->sh, c->sw}, .padding = {c->ph, c->pw ? c->pw : -1},
                                            .output_padding = {c->oph, c->opw ? c->opw : -1}, .dilation = {c->dh, c->dw},
                                            .groups = c->g};
                ref_set_ctx("conv_transpose2d case %zu %s %s", k, nb_dtype_name(dt), ref_layout_name[li]);
                CHECK_REF(nb_conv_transpose2d(x, w, b, &o), dt, NB_SHAPE(c->n, c->cout, OH, OW),
                          ref_conv_t(c, xv, wv, bv, OH, OW), tol_r(dt), tol_a(dt));
                nb_scope_end();
            }
    }
    /* unbatched (C, H, W) */
    const ct_case *c = &cases[1];
    double *xv = ref_values(3 * 7 * 5, NB_F64, -2, 2), *wv = ref_values(3 * 2 * 9, NB_F64, -2, 2);
    ct_case c1 = *c;
    c1.n = 1;
    nb_conv_transpose_opts o = {.stride = {2}, .padding = {1}, .output_padding = {1, -1}};
    ref_set_ctx("conv_transpose2d unbatched");
    CHECK_REF(nb_conv_transpose2d(ref_contig(xv, NB_SHAPE(3, 7, 5), NB_F64), ref_contig(wv, NB_SHAPE(3, 2, 3, 3), NB_F64),
                                  NULL, &o),
              NB_F64, NB_SHAPE(2, 14, 9), ref_conv_t(&c1, xv, wv, NULL, 14, 9), 1e-12, 1e-12);
}

/* ---- pools --------------------------------------------------------------------------------------- */

static int64_t ref_pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = in + 2 * p - d * (k - 1) - 1;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

static void test_max_pool1d_reference(void) {
    /* L, k, s, p, d, ceil */
    const int64_t cases[][6] = {{1, 1, 1, 0, 1, 0}, {17, 2, 2, 0, 1, 0}, {17, 3, 2, 1, 1, 1}, {7, 3, 1, 1, 2, 0},
                                {7, 5, 3, 2, 1, 1}, {129, 3, 3, 0, 1, 1}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t *c = cases[ci];
        int64_t N = 2, C = 3, L = c[0], OL = ref_pool_out(L, c[1], c[2], c[3], c[4], c[5]);
        for (int di = 0; di < REF_COUNT(ref_float_dtypes); di++)
            for (int li = 0; li < 3; li++) {
                nb_dtype dt = ref_float_dtypes[di];
                nb_scope_begin();
                double *xv = ref_values(N * C * L, dt, -4, 4);
                double *yv = ref_darray(N * C * OL), *iv = ref_darray(N * C * OL);
                for (int64_t p = 0; p < N * C; p++)
                    for (int64_t o = 0; o < OL; o++) {
                        double m = -INFINITY;
                        int64_t best = -1;
                        for (int64_t j = 0; j < c[1]; j++) {
                            int64_t i = o * c[2] - c[3] + j * c[4];
                            if (i >= 0 && i < L && xv[p * L + i] > m) m = xv[p * L + i], best = i;
                        }
                        yv[p * OL + o] = m;
                        iv[p * OL + o] = (double)best;
                    }
                nb_tensor *x = ref_tensor(xv, NB_SHAPE(N, C, L), dt, layouts[li]), *idx = NULL;
                nb_pool_opts o = {.kernel = {c[1]}, .stride = {c[2]}, .padding = {c[3]}, .dilation = {c[4]}, .ceil_mode = c[5]};
                ref_set_ctx("max_pool1d case %zu %s %s", ci, nb_dtype_name(dt), ref_layout_name[li]);
                CHECK_REF(nb_max_pool1d_with_indices(x, &o, &idx), dt, NB_SHAPE(N, C, OL), yv, 0, 0);
                CHECK_REF(idx, NB_I64, NB_SHAPE(N, C, OL), iv, 0, 0);
                nb_scope_end();
            }
    }
    double v[] = {1, 3, 2, 5, 4};
    ref_set_ctx("max_pool1d unbatched");
    CHECK_REF(nb_max_pool1d(nb_from_data(v, NB_SHAPE(1, 5), NB_F64), &(nb_pool_opts){.kernel = {2}}), NB_F64,
              NB_SHAPE(1, 2), ((double[]){3, 5}), 0, 0);
}

typedef struct ap_case {
    int64_t h, w, kh, kw, sh, sw, ph, pw;
    bool ceil, exclude;
    int64_t div;
} ap_case;

static double *ref_avg_pool(const ap_case *c, const double *x, int64_t planes, int64_t OH, int64_t OW) {
    double *y = ref_darray(planes * OH * OW);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t hs = oy * c->sh - c->ph, ws = ox * c->sw - c->pw;
                int64_t he = hs + c->kh < c->h + c->ph ? hs + c->kh : c->h + c->ph;
                int64_t we = ws + c->kw < c->w + c->pw ? ws + c->kw : c->w + c->pw;
                int64_t pool = (he - hs) * (we - ws);
                hs = hs < 0 ? 0 : hs, ws = ws < 0 ? 0 : ws;
                he = he > c->h ? c->h : he, we = we > c->w ? c->w : we;
                double s = 0;
                for (int64_t iy = hs; iy < he; iy++)
                    for (int64_t ix = ws; ix < we; ix++) s += x[(p * c->h + iy) * c->w + ix];
                double div = c->div ? (double)c->div : c->exclude ? (double)((he - hs) * (we - ws)) : (double)pool;
                y[(p * OH + oy) * OW + ox] = s / div;
            }
    return y;
}

static void test_avg_pool2d_reference(void) {
    const ap_case cases[] = {
        {1, 1, 1, 1, 1, 1, 0, 0, false, false, 0},  {7, 17, 2, 2, 2, 2, 0, 0, false, false, 0},
        {7, 7, 3, 3, 2, 2, 1, 1, true, false, 0},   {7, 7, 3, 3, 2, 2, 1, 1, true, true, 0},
        {17, 7, 5, 3, 3, 1, 2, 1, false, true, 0},  {17, 7, 5, 3, 3, 2, 2, 0, true, false, 7},
        {8, 9, 2, 3, 1, 3, 1, 1, true, true, 0},    {7, 1, 3, 1, 1, 1, 1, 0, false, false, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const ap_case *c = &cases[k];
        int64_t N = 2, C = 3, OH = ref_pool_out(c->h, c->kh, c->sh, c->ph, 1, c->ceil);
        int64_t OW = ref_pool_out(c->w, c->kw, c->sw, c->pw, 1, c->ceil);
        for (int di = 0; di < REF_COUNT(ref_float_dtypes); di++)
            for (int li = 0; li < REF_COUNT(layouts); li++) {
                nb_dtype dt = ref_float_dtypes[di];
                nb_scope_begin();
                double *xv = ref_values(N * C * c->h * c->w, dt, -2, 2);
                nb_tensor *x = ref_tensor(xv, NB_SHAPE(N, C, c->h, c->w), dt, layouts[li]);
                nb_avg_pool_opts o = {.kernel = {c->kh, c->kw}, .stride = {c->sh, c->sw}, .padding = {c->ph, c->pw ? c->pw : -1},
                                      .ceil_mode = c->ceil, .exclude_pad = c->exclude, .divisor_override = c->div};
                ref_set_ctx("avg_pool2d case %zu %s %s", k, nb_dtype_name(dt), ref_layout_name[li]);
                CHECK_REF(nb_avg_pool2d(x, &o), dt, NB_SHAPE(N, C, OH, OW), ref_avg_pool(c, xv, N * C, OH, OW), tol_r(dt),
                          tol_a(dt) / 10);
                if (c->h == 1 || c->kh == 1 || li > 2) { /* the 1-D pool along W */
                    ap_case c1 = *c;
                    c1.h = 1, c1.kh = 1, c1.sh = 1, c1.ph = 0;
                    nb_tensor *x1 = ref_tensor(xv, NB_SHAPE(N * C, c->h, c->w), dt, layouts[li]);
                    nb_avg_pool_opts o1 = {.kernel = {c->kw}, .stride = {c->sw}, .padding = {c->pw}, .ceil_mode = c->ceil,
                                           .exclude_pad = c->exclude, .divisor_override = c->div};
                    ref_set_ctx("avg_pool1d case %zu %s %s", k, nb_dtype_name(dt), ref_layout_name[li]);
                    CHECK_REF(nb_avg_pool1d(x1, &o1), dt, NB_SHAPE(N * C, c->h, OW), ref_avg_pool(&c1, xv, N * C * c->h, 1, OW),
                              tol_r(dt), tol_a(dt) / 10);
                }
                nb_scope_end();
            }
    }
    /* unbatched and empty batches */
    double *xv = ref_values(3 * 7 * 7, NB_F32, -2, 2);
    ap_case c = cases[2];
    ref_set_ctx("avg_pool2d unbatched");
    CHECK_REF(nb_avg_pool2d(ref_contig(xv, NB_SHAPE(3, 7, 7), NB_F32),
                            &(nb_avg_pool_opts){.kernel = {3}, .stride = {2}, .padding = {1}, .ceil_mode = true}),
              NB_F32, NB_SHAPE(3, 4, 4), ref_avg_pool(&c, xv, 3, 4, 4), 1e-6, 1e-6);
    ref_set_ctx("avg_pool2d empty batch");
    CHECK_REF(nb_avg_pool2d(nb_zeros(NB_SHAPE(0, 3, 7, 7), NB_F32), &(nb_avg_pool_opts){.kernel = {2}}), NB_F32,
              NB_SHAPE(0, 3, 3, 3), NULL, 0, 0);
}

static void test_adaptive_pools_reference(void) {
    const int64_t cases[][4] = {{1, 1, 1, 1}, {7, 17, 3, 5}, {17, 7, 7, 7}, {7, 7, 17, 3}, {5, 9, 1, 2}, {16, 16, 4, 4}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t H = cases[k][0], W = cases[k][1], OH = cases[k][2], OW = cases[k][3], N = 2, C = 3, P = N * C;
        for (int di = 0; di < REF_COUNT(ref_float_dtypes); di++)
            for (int li = 0; li < REF_COUNT(layouts); li++) {
                nb_dtype dt = ref_float_dtypes[di];
                nb_scope_begin();
                double *xv = ref_values(P * H * W, dt, -2, 2);
                double *av = ref_darray(P * OH * OW), *mv = ref_darray(P * OH * OW), *iv = ref_darray(P * OH * OW);
                for (int64_t p = 0; p < P; p++)
                    for (int64_t oy = 0; oy < OH; oy++)
                        for (int64_t ox = 0; ox < OW; ox++) {
                            int64_t hs = oy * H / OH, he = ((oy + 1) * H + OH - 1) / OH;
                            int64_t ws = ox * W / OW, we = ((ox + 1) * W + OW - 1) / OW;
                            double s = 0, m = -INFINITY;
                            int64_t best = 0;
                            for (int64_t iy = hs; iy < he; iy++)
                                for (int64_t ix = ws; ix < we; ix++) {
                                    double v = xv[(p * H + iy) * W + ix];
                                    s += v;
                                    if (v > m) m = v, best = iy * W + ix;
                                }
                            int64_t o = (p * OH + oy) * OW + ox;
                            av[o] = s / (double)((he - hs) * (we - ws));
                            mv[o] = m;
                            iv[o] = (double)best;
                        }
                nb_tensor *x = ref_tensor(xv, NB_SHAPE(N, C, H, W), dt, layouts[li]), *idx = NULL;
                ref_set_ctx("adaptive pools case %zu %s %s", k, nb_dtype_name(dt), ref_layout_name[li]);
                CHECK_REF(nb_adaptive_avg_pool2d(x, OH, OW), dt, NB_SHAPE(N, C, OH, OW), av, tol_r(dt), tol_a(dt) / 10);
                CHECK_REF(nb_adaptive_max_pool2d_with_indices(x, OH, OW, &idx), dt, NB_SHAPE(N, C, OH, OW), mv, 0, 0);
                CHECK_REF(idx, NB_I64, NB_SHAPE(N, C, OH, OW), iv, 0, 0);
                nb_scope_end();
            }
    }
    /* -1 keeps a size, ow = 0 repeats oh, unbatched input */
    nb_tensor *x = nb_randn(NB_SHAPE(3, 7, 5), NB_F32);
    nb_tensor *y = nb_adaptive_avg_pool2d(x, 2, -1), *z = nb_adaptive_max_pool2d(x, 3, 0);
    CHECK(y && nb_ndim(y) == 3 && nb_shape(y)[1] == 2 && nb_shape(y)[2] == 5);
    CHECK(z && nb_ndim(z) == 3 && nb_shape(z)[1] == 3 && nb_shape(z)[2] == 3);
    /* global average pooling is the mean */
    nb_tensor *g = nb_adaptive_avg_pool2d(x, 1, 1);
    CHECK(g && h_max_abs_diff(nb_reshape(g, NB_SHAPE(3)), nb_mean(x, &(nb_reduce_opts){.n = 2, .dims = {1, 2}})) < 1e-6);
}

/* ---- interpolate --------------------------------------------------------------------------------- */

static int64_t ref_nearest(int64_t o, int64_t in, int64_t out, double sf) {
    if (out == in) return o;
    if (out == 2 * in) return o / 2;
    float scale = sf > 0 ? (float)(1.0 / sf) : (float)in / (float)out;
    int64_t i = (int64_t)floorf((float)o * scale);
    return i < in - 1 ? i : in - 1;
}

static void ref_linear(int64_t o, int64_t in, int64_t out, double sf, bool ac, int64_t *i0, int64_t *i1, double *l1) {
    double scale = ac ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0) : sf > 0 ? 1 / sf : (double)in / (double)out;
    double src = ac ? scale * (double)o : scale * ((double)o + 0.5) - 0.5;
    if (src < 0) src = 0;
    *i0 = (int64_t)src;
    *i1 = *i0 < in - 1 ? *i0 + 1 : *i0;
    *l1 = src - (double)*i0;
}

static void test_interpolate_reference(void) {
    /* H, W, OH, OW (0: from scale), scale h, scale w, mode, align_corners */
    const struct {
        int64_t h, w, oh, ow;
        double sh, sw;
        nb_interp_mode mode;
        bool ac;
    } cases[] = {
        {1, 1, 3, 2, 0, 0, NB_INTERP_NEAREST, false},   {7, 5, 17, 10, 0, 0, NB_INTERP_NEAREST, false},
        {17, 7, 5, 7, 0, 0, NB_INTERP_NEAREST, false},  {7, 7, 0, 0, 2.5, 1.7, NB_INTERP_NEAREST, false},
        {5, 3, 0, 0, 3, 0.7, NB_INTERP_NEAREST, false}, {1, 1, 3, 2, 0, 0, NB_INTERP_BILINEAR, false},
        {7, 5, 17, 10, 0, 0, NB_INTERP_BILINEAR, false}, {7, 5, 17, 10, 0, 0, NB_INTERP_BILINEAR, true},
        {17, 7, 5, 1, 0, 0, NB_INTERP_BILINEAR, true},  {17, 7, 5, 3, 0, 0, NB_INTERP_BILINEAR, false},
        {7, 7, 0, 0, 2.5, 1.7, NB_INTERP_BILINEAR, false}, {6, 4, 0, 0, 0.5, 1.5, NB_INTERP_BILINEAR, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t H = cases[k].h, W = cases[k].w, N = 2, C = 3, P = N * C;
        double sh = cases[k].sh, sw = cases[k].sw;
        bool ac = cases[k].ac, bil = cases[k].mode == NB_INTERP_BILINEAR;
        int64_t OH = cases[k].oh ? cases[k].oh : (int64_t)floor((double)H * sh);
        int64_t OW = cases[k].ow ? cases[k].ow : (int64_t)floor((double)W * sw);
        double ksh = cases[k].oh || ac ? 0 : sh, ksw = cases[k].ow || ac ? 0 : sw; /* the scales the kernel sees */
        for (int di = 0; di < REF_COUNT(ref_float_dtypes); di++)
            for (int li = 0; li < REF_COUNT(layouts); li++) {
                nb_dtype dt = ref_float_dtypes[di];
                nb_scope_begin();
                double *xv = ref_values(P * H * W, dt, -2, 2), *yv = ref_darray(P * OH * OW);
                for (int64_t p = 0; p < P; p++)
                    for (int64_t oy = 0; oy < OH; oy++)
                        for (int64_t ox = 0; ox < OW; ox++) {
                            const double *xp = xv + p * H * W;
                            double v;
                            if (!bil) {
                                v = xp[ref_nearest(oy, H, OH, ksh) * W + ref_nearest(ox, W, OW, ksw)];
                            } else {
                                int64_t y0, y1, x0, x1;
                                double ly, lx;
                                ref_linear(oy, H, OH, ksh, ac, &y0, &y1, &ly);
                                ref_linear(ox, W, OW, ksw, ac, &x0, &x1, &lx);
                                v = (1 - ly) * ((1 - lx) * xp[y0 * W + x0] + lx * xp[y0 * W + x1]) +
                                    ly * ((1 - lx) * xp[y1 * W + x0] + lx * xp[y1 * W + x1]);
                            }
                            yv[(p * OH + oy) * OW + ox] = v;
                        }
                nb_tensor *x = ref_tensor(xv, NB_SHAPE(N, C, H, W), dt, layouts[li]);
                nb_interpolate_opts o = {.mode = cases[k].mode, .align_corners = ac};
                if (cases[k].oh) o.size[0] = OH, o.size[1] = OW;
                else o.scale_factor[0] = sh, o.scale_factor[1] = sw;
                ref_set_ctx("interpolate case %zu %s %s", k, nb_dtype_name(dt), ref_layout_name[li]);
                CHECK_REF(nb_interpolate(x, &o), dt, NB_SHAPE(N, C, OH, OW), yv, bil ? tol_r(dt) : 0, bil ? tol_a(dt) / 10 : 0);
                nb_scope_end();
            }
    }
}

/* ---- pixel_shuffle ------------------------------------------------------------------------------- */

static void test_pixel_shuffle_reference(void) {
    const int64_t cases[][4] = {{1, 1, 1, 1}, {3, 2, 7, 5}, {2, 3, 1, 17}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t C = cases[k][0], r = cases[k][1], H = cases[k][2], W = cases[k][3], N = 2, R = r * r;
        for (int di = 0; di < REF_COUNT(ref_all_dtypes); di++)
            for (int li = 0; li < REF_COUNT(layouts); li++) {
                nb_dtype dt = ref_all_dtypes[di];
                nb_scope_begin();
                double *xv = ref_values(N * C * R * H * W, dt, 0, 8), *yv = ref_darray(N * C * R * H * W);
                for (int64_t n = 0; n < N; n++)
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t i = 0; i < r; i++)
                            for (int64_t j = 0; j < r; j++)
                                for (int64_t h = 0; h < H; h++)
                                    for (int64_t w = 0; w < W; w++)
                                        yv[((n * C + c) * H * r + h * r + i) * W * r + w * r + j] =
                                            xv[(((n * C + c) * R + i * r + j) * H + h) * W + w];
                nb_tensor *x = ref_tensor(xv, NB_SHAPE(N, C * R, H, W), dt, layouts[li]);
                ref_set_ctx("pixel_shuffle case %zu %s %s", k, nb_dtype_name(dt), ref_layout_name[li]);
                CHECK_REF(nb_pixel_shuffle(x, r), dt, NB_SHAPE(N, C, H * r, W * r), yv, 0, 0);
                nb_tensor *y = ref_tensor(yv, NB_SHAPE(N, C, H * r, W * r), dt, layouts[li]);
                ref_set_ctx("pixel_unshuffle case %zu %s %s", k, nb_dtype_name(dt), ref_layout_name[li]);
                CHECK_REF(nb_pixel_unshuffle(y, r), dt, NB_SHAPE(N, C * R, H, W), xv, 0, 0);
                nb_scope_end();
            }
    }
    /* extra leading dims and (C, H, W) inputs */
    nb_tensor *x = nb_randn(NB_SHAPE(2, 3, 8, 2, 3), NB_F32);
    nb_tensor *y = nb_pixel_shuffle(x, 2);
    CHECK(y && nb_ndim(y) == 5 && nb_shape(y)[2] == 2 && nb_shape(y)[3] == 4 && nb_shape(y)[4] == 6);
    CHECK(y && h_max_abs_diff(nb_pixel_unshuffle(y, 2), x) == 0);
    nb_tensor *x3 = nb_randn(NB_SHAPE(4, 2, 3), NB_F32);
    CHECK(h_max_abs_diff(nb_pixel_shuffle(x3, 2), nb_reshape(nb_pixel_shuffle(nb_unsqueeze(x3, 0), 2), NB_SHAPE(1, 4, 6))) == 0);
}

/* ---- gradients: resample2d_backward is the adjoint (<g, f(x)> = <f^T g, x>), in f32 and f64 alike;
 * adaptive_max_pool2d's gradient lands at the indices ------------------------------------------------ */

typedef nb_tensor *(*lin_fn)(nb_tensor *x, int k);
static nb_tensor *lin_op(nb_tensor *x, int k) {
    switch (k) {
    case 0: return nb_avg_pool2d(x, &(nb_avg_pool_opts){.kernel = {3}, .stride = {2}, .padding = {1}, .ceil_mode = true});
    case 1: return nb_avg_pool2d(x, &(nb_avg_pool_opts){.kernel = {2, 3}, .exclude_pad = true, .padding = {1}});
    case 2: return nb_avg_pool2d(x, &(nb_avg_pool_opts){.kernel = {3}, .stride = {1}, .divisor_override = 4});
    case 3: return nb_adaptive_avg_pool2d(x, 3, 5);
    case 4: return nb_adaptive_avg_pool2d(x, 9, 2);
    case 5: return nb_interpolate(x, &(nb_interpolate_opts){.size = {17, 5}});
    case 6: return nb_interpolate(x, &(nb_interpolate_opts){.scale_factor = {0.5, 2.5}, .mode = NB_INTERP_BILINEAR});
    case 7: return nb_interpolate(x, &(nb_interpolate_opts){.size = {3, 17}, .mode = NB_INTERP_BILINEAR, .align_corners = true});
    default: return NULL;
    }
}

static void test_gradients_reference(void) {
    for (int k = 0; k < 8; k++) {
        nb_scope_begin();
        int64_t H = 7, W = 6;
        nb_tensor *x = nb_param(nb_randn(NB_SHAPE(2, 3, H, W), NB_F64));
        nb_tensor *y = lin_op(x, k);
        nb_tensor *g = y ? nb_randn(nb_ndim(y), nb_shape(y), NB_F64) : NULL;
        CHECK(g && nb_backward(nb_sum(nb_mul(y, g), NULL)) == 0);
        nb_tensor *gx = nb_grad(x);
        double lhs = g ? nb_item(nb_sum(nb_mul(y, g), NULL)) : 0, rhs = gx ? nb_item(nb_sum(nb_mul(gx, x), NULL)) : 1;
        CHECK_MSG(fabs(lhs - rhs) < 1e-10 * (1 + fabs(lhs)), "op %d: <g, f(x)> = %.15g, <f^T g, x> = %.15g", k, lhs, rhs);
        /* the same gradient in f32, and for a transposed input */
        for (int v = 0; v < 2; v++) {
            nb_tensor *xf = nb_param(v ? nb_contiguous(nb_transpose(nb_to(nb_detach(x), NB_F32), 2, 3)) : nb_to(nb_detach(x), NB_F32));
            nb_tensor *xin = v ? nb_transpose(xf, 2, 3) : xf;
            nb_tensor *yf = lin_op(xin, k);
            CHECK(yf && nb_backward(nb_sum(nb_mul(yf, nb_to(g, NB_F32)), NULL)) == 0);
            nb_tensor *gf = nb_grad(xf);
            CHECK_MSG(gf && gx && h_max_abs_diff(v ? nb_transpose(gf, 2, 3) : gf, gx) < 1e-5, "op %d view %d: f32 gradient", k, v);
        }
        nb_scope_end();
    }
    /* adaptive max: the gradient is g scattered (added) at the indices */
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(2, 2, 7, 5), NB_F64)), *idx = NULL;
    nb_tensor *y = nb_adaptive_max_pool2d_with_indices(x, 4, 4, &idx); /* overlapping windows */
    nb_tensor *g = nb_randn(NB_SHAPE(2, 2, 4, 4), NB_F64);
    CHECK(y && nb_backward(nb_sum(nb_mul(y, g), NULL)) == 0);
    double *gv = ref_read(g), *iv = ref_read(idx), *e = ref_darray(2 * 2 * 35);
    for (int64_t p = 0; p < 4; p++)
        for (int64_t o = 0; o < 16; o++) e[p * 35 + (int64_t)iv[p * 16 + o]] += gv[p * 16 + o];
    ref_set_ctx("adaptive_max_pool2d gradient");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(2, 2, 7, 5), e, 1e-12, 1e-12);
    /* conv_transpose2d is the adjoint of conv2d in x */
    nb_tensor *w = nb_randn(NB_SHAPE(3, 2, 3, 3), NB_F64), *xt = nb_randn(NB_SHAPE(2, 3, 4, 5), NB_F64);
    nb_tensor *u = nb_randn(NB_SHAPE(2, 2, 8, 10), NB_F64);
    nb_conv_transpose_opts to = {.stride = {2}, .padding = {1}, .output_padding = {1}};
    double l = nb_item(nb_sum(nb_mul(nb_conv_transpose2d(xt, w, NULL, &to), u), NULL));
    double r = nb_item(nb_sum(nb_mul(nb_conv2d(u, w, NULL, &(nb_conv_opts){.stride = {2}, .padding = {1}}), xt), NULL));
    CHECK_NEAR(l, r, 1e-10 * (1 + fabs(l)));
}

/* ---- errors -------------------------------------------------------------------------------------- */

static void test_errors(void) {
    nb_tensor *x3 = nb_randn(NB_SHAPE(2, 4, 7), NB_F32), *x4 = nb_randn(NB_SHAPE(2, 4, 5, 5), NB_F32);
    nb_tensor *xi = nb_ones(NB_SHAPE(2, 4, 5, 5), NB_I64);
    /* conv1d */
    CHECK_NULL_WITH(nb_conv1d(x3, nb_randn(NB_SHAPE(2, 3, 3), NB_F32), NULL, NULL), "nb_conv1d", "[2, 4, 7]", "[2, 3, 3]");
    CHECK_NULL_WITH(nb_conv1d(x3, nb_randn(NB_SHAPE(2, 4, 9), NB_F32), NULL, NULL), "nb_conv1d", "larger");
    CHECK_NULL_WITH(nb_conv1d(x4, nb_randn(NB_SHAPE(2, 4, 3), NB_F32), NULL, NULL), "nb_conv1d", "(N, C, L)");
    CHECK_NULL_WITH(nb_conv1d(x3, nb_randn(NB_SHAPE(3, 2, 3), NB_F32), NULL, &(nb_conv_opts){.groups = 2}), "nb_conv1d",
                    "groups=2");
    CHECK_NULL_WITH(nb_conv1d(x3, nb_randn(NB_SHAPE(2, 4, 3), NB_F32), nb_randn(NB_SHAPE(3), NB_F32), NULL), "nb_conv1d",
                    "bias");
    CHECK_NULL_WITH(nb_conv1d(x3, nb_randn(NB_SHAPE(2, 4, 3), NB_F32), NULL, &(nb_conv_opts){.stride = {2}, .same = true}),
                    "nb_conv1d", "same");
    CHECK_NULL_WITH(nb_conv1d(nb_ones(NB_SHAPE(2, 4, 7), NB_I32), nb_randn(NB_SHAPE(2, 4, 3), NB_F32), NULL, NULL),
                    "nb_conv1d", "floating", "i32");
    CHECK_NULL_WITH(nb_conv1d(NULL, x3, NULL, NULL), "nb_conv1d", "NULL");
    /* conv_transpose2d */
    nb_tensor *wt = nb_randn(NB_SHAPE(4, 2, 3, 3), NB_F32);
    CHECK_NULL_WITH(nb_conv_transpose2d(x4, nb_randn(NB_SHAPE(3, 2, 3, 3), NB_F32), NULL, NULL), "nb_conv_transpose2d",
                    "[2, 4, 5, 5]", "[3, 2, 3, 3]");
    CHECK_NULL_WITH(nb_conv_transpose2d(x4, wt, NULL, &(nb_conv_transpose_opts){.stride = {2}, .output_padding = {2}}),
                    "nb_conv_transpose2d", "output_padding");
    CHECK_NULL_WITH(nb_conv_transpose2d(x4, wt, NULL, &(nb_conv_transpose_opts){.output_padding = {1}}),
                    "nb_conv_transpose2d", "output_padding");
    CHECK_NULL_WITH(nb_conv_transpose2d(x4, wt, NULL, &(nb_conv_transpose_opts){.groups = 3}), "nb_conv_transpose2d",
                    "groups=3");
    CHECK_NULL_WITH(nb_conv_transpose2d(x4, wt, NULL, &(nb_conv_transpose_opts){.padding = {6}}), "nb_conv_transpose2d",
                    "empty output");
    CHECK_NULL_WITH(nb_conv_transpose2d(x4, wt, nb_randn(NB_SHAPE(4), NB_F32), NULL), "nb_conv_transpose2d", "bias", "[2]");
    CHECK_NULL_WITH(nb_conv_transpose2d(xi, wt, NULL, NULL), "nb_conv_transpose2d", "floating");
    CHECK_NULL_WITH(nb_conv_transpose2d(x3, nb_randn(NB_SHAPE(2, 4, 3), NB_F32), NULL, NULL), "nb_conv_transpose2d",
                    "(N, C_in, H, W)");
    /* max_pool1d */
    CHECK_NULL_WITH(nb_max_pool1d(x3, &(nb_pool_opts){.kernel = {9}}), "nb_max_pool1d", "larger", "[2, 4, 7]");
    CHECK_NULL_WITH(nb_max_pool1d(x3, &(nb_pool_opts){.kernel = {2}, .padding = {2}}), "nb_max_pool1d", "half");
    CHECK_NULL_WITH(nb_max_pool1d(x4, &(nb_pool_opts){.kernel = {2}}), "nb_max_pool1d", "(N, C, L)");
    CHECK_NULL_WITH(nb_max_pool1d(x3, NULL), "nb_max_pool1d", "kernel");
    /* avg pools */
    CHECK_NULL_WITH(nb_avg_pool2d(x4, &(nb_avg_pool_opts){.kernel = {6}}), "nb_avg_pool2d", "larger", "[2, 4, 5, 5]");
    CHECK_NULL_WITH(nb_avg_pool2d(x4, &(nb_avg_pool_opts){.kernel = {3}, .padding = {2}}), "nb_avg_pool2d", "half");
    CHECK_NULL_WITH(nb_avg_pool2d(xi, &(nb_avg_pool_opts){.kernel = {3}}), "nb_avg_pool2d", "floating", "i64");
    CHECK_NULL_WITH(nb_avg_pool2d(x4, &(nb_avg_pool_opts){.kernel = {3}, .divisor_override = -1}), "nb_avg_pool2d",
                    "divisor");
    CHECK_NULL_WITH(nb_avg_pool2d(nb_randn(NB_SHAPE(5, 5), NB_F32), &(nb_avg_pool_opts){.kernel = {3}}), "nb_avg_pool2d",
                    "(N, C, H, W)");
    CHECK_NULL_WITH(nb_avg_pool2d(x4, NULL), "nb_avg_pool2d", "kernel");
    CHECK_NULL_WITH(nb_avg_pool1d(x3, &(nb_avg_pool_opts){.kernel = {8}}), "nb_avg_pool1d", "larger");
    CHECK_NULL_WITH(nb_avg_pool1d(x3, &(nb_avg_pool_opts){.kernel = {2}, .padding = {2}}), "nb_avg_pool1d", "half");
    CHECK_NULL_WITH(nb_avg_pool1d(x4, &(nb_avg_pool_opts){.kernel = {2}}), "nb_avg_pool1d", "(N, C, L)");
    /* adaptive */
    CHECK_NULL_WITH(nb_adaptive_avg_pool2d(x4, 0, 3), "nb_adaptive_avg_pool2d", "positive");
    CHECK_NULL_WITH(nb_adaptive_avg_pool2d(nb_randn(NB_SHAPE(2, 3, 0, 4), NB_F32), 2, 2), "nb_adaptive_avg_pool2d", "empty");
    CHECK_NULL_WITH(nb_adaptive_avg_pool2d(xi, 2, 2), "nb_adaptive_avg_pool2d", "floating");
    CHECK_NULL_WITH(nb_adaptive_max_pool2d(x4, -2, 3), "nb_adaptive_max_pool2d", "positive");
    CHECK_NULL_WITH(nb_adaptive_max_pool2d(xi, 2, 2), "nb_adaptive_max_pool2d", "floating");
    CHECK_NULL_WITH(nb_adaptive_max_pool2d(nb_randn(NB_SHAPE(7), NB_F32), 2, 2), "nb_adaptive_max_pool2d", "(C, H, W)");
    /* interpolate */
    CHECK_NULL_WITH(nb_interpolate(x4, &(nb_interpolate_opts){0}), "nb_interpolate", "exactly one");
    CHECK_NULL_WITH(nb_interpolate(x4, &(nb_interpolate_opts){.size = {3}, .scale_factor = {2}}), "nb_interpolate",
                    "exactly one");
    CHECK_NULL_WITH(nb_interpolate(x4, &(nb_interpolate_opts){.size = {3}, .align_corners = true}), "nb_interpolate",
                    "align_corners");
    CHECK_NULL_WITH(nb_interpolate(x3, &(nb_interpolate_opts){.size = {3}}), "nb_interpolate", "4-D", "[2, 4, 7]");
    CHECK_NULL_WITH(nb_interpolate(xi, &(nb_interpolate_opts){.size = {3}}), "nb_interpolate", "floating");
    CHECK_NULL_WITH(nb_interpolate(x4, &(nb_interpolate_opts){.scale_factor = {-1}}), "nb_interpolate", "scale_factor");
    CHECK_NULL_WITH(nb_interpolate(x4, &(nb_interpolate_opts){.scale_factor = {0.1}}), "nb_interpolate", "positive");
    CHECK_NULL_WITH(nb_interpolate(x4, &(nb_interpolate_opts){.size = {3}, .mode = (nb_interp_mode)7}), "nb_interpolate",
                    "mode");
    CHECK_NULL_WITH(nb_interpolate(x4, NULL), "nb_interpolate", "size");
    /* pixel shuffle */
    CHECK_NULL_WITH(nb_pixel_shuffle(x4, 3), "nb_pixel_shuffle", "divisible", "[2, 4, 5, 5]");
    CHECK_NULL_WITH(nb_pixel_shuffle(x4, 0), "nb_pixel_shuffle", "positive");
    CHECK_NULL_WITH(nb_pixel_shuffle(nb_randn(NB_SHAPE(4, 4), NB_F32), 2), "nb_pixel_shuffle", "(*, C, H, W)");
    CHECK_NULL_WITH(nb_pixel_unshuffle(x4, 2), "nb_pixel_unshuffle", "divisible");
    CHECK_NULL_WITH(nb_pixel_unshuffle(x4, -1), "nb_pixel_unshuffle", "positive");
}

int main(void) {
    nb_manual_seed(7);
    REF_RUN(test_conv1d_reference);
    REF_RUN(test_conv2d_same_even);
    REF_RUN(test_conv_transpose2d_reference);
    REF_RUN(test_max_pool1d_reference);
    REF_RUN(test_avg_pool2d_reference);
    REF_RUN(test_adaptive_pools_reference);
    REF_RUN(test_interpolate_reference);
    REF_RUN(test_pixel_shuffle_reference);
    REF_RUN(test_gradients_reference);
    REF_RUN(test_errors);
    return harness_finish();
}
