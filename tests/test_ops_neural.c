/* tests/test_ops_neural.c — the neural-network functions (src/ops/neural.def) against plain f64
 * loops: layer / group / instance / rms norm, dropout and dropout2d, embedding and embedding_bag,
 * scaled dot-product attention, linear, bilinear, cosine similarity and pairwise distance. Awkward
 * sizes, contiguous / transposed / stepped inputs, f32 / f64 / f16 / bf16, gradients against the
 * reference formulas, and every error path. Gradient checks (f64, all orders) are in
 * tests/gradcheck/neural.c. */
#include "harness.h"
#include "ref.h"

#include <float.h>
#include <stdint.h>

typedef nb_tensor *tp;

static const nb_dtype k_float_types[] = {NB_F64, NB_F32, NB_F16, NB_BF16};

/* tolerance for outputs of normalisations of values ~ 1: a few ulps of the output type */
static double tol_of(nb_dtype d) { return d == NB_F64 ? 1e-10 : d == NB_F32 ? 2e-5 : d == NB_F16 ? 4e-3 : 3e-2; }

/* gradients of y for grad_output gy with respect to n inputs (NULL where none) */
static void grads(tp y, tp gy, int n, tp const *in, tp *g) {
    nb_autograd_opts o = {.grad_outputs = &gy};
    if (!y || nb_autograd_grad(&y, 1, in, n, &o, g) != 0)
        for (int i = 0; i < n; i++) g[i] = NULL;
}

/* ---- layer_norm ------------------------------------------------------------------------------------ */

/* rows of d: y, and for grad_output gy: gx, gw, gb (w / b NULL = 1 / 0) */
static void ref_ln(int64_t rows, int64_t d, const double *x, const double *w, const double *b, const double *gy,
                   double eps, double *y, double *gx, double *gw, double *gb) {
    for (int64_t j = 0; j < d; j++) gw[j] = gb[j] = 0;
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + r * d, *gr = gy + r * d;
        double mu = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mu += xr[j];
        mu /= (double)d;
        for (int64_t j = 0; j < d; j++) var += (xr[j] - mu) * (xr[j] - mu);
        var /= (double)d;
        double rs = 1 / sqrt(var + eps), A = 0, B = 0;
        for (int64_t j = 0; j < d; j++) {
            double xh = (xr[j] - mu) * rs, h = gr[j] * (w ? w[j] : 1);
            y[r * d + j] = xh * (w ? w[j] : 1) + (b ? b[j] : 0);
            A += h / (double)d;
            B += h * xh / (double)d;
            gw[j] += gr[j] * xh;
            gb[j] += gr[j];
        }
        for (int64_t j = 0; j < d; j++) {
            double xh = (xr[j] - mu) * rs;
            gx[r * d + j] = rs * (gr[j] * (w ? w[j] : 1) - A - xh * B);
        }
    }
}

static void test_layer_norm_forward_backward(void) {
    static const int64_t rows_list[] = {1, 7, 17, 129}, feats[] = {1, 7, 129};
    for (int ti = 0; ti < REF_COUNT(k_float_types); ti++)
        for (int ri = 0; ri < REF_COUNT(rows_list); ri++)
            for (int fi = 0; fi < REF_COUNT(feats); fi++)
                for (int affine = 0; affine < 2; affine++) {
                    nb_dtype dt = k_float_types[ti];
                    int64_t rows = rows_list[ri], d = feats[fi], n = rows * d;
                    ref_layout lay = (ref_layout)((ri + fi + affine) % REF_LAYOUTS);
                    if (dt != NB_F64 && dt != NB_F32 && (ri == 3 || fi == 2) && affine) continue; /* keep it short */
                    ref_set_ctx("layer_norm %s [%lld, %lld] affine %d %s", nb_dtype_name(dt), (long long)rows, (long long)d,
                                affine, ref_layout_name[lay]);
                    nb_scope_begin();
                    double *xv = ref_values(n, dt, -4, 4), *wv = ref_values(d, dt, -2, 2), *bv = ref_values(d, dt, -2, 2);
                    double *gv = ref_values(n, dt, -2, 2);
                    double *y = ref_darray(n), *gx = ref_darray(n), *gw = ref_darray(d), *gb = ref_darray(d);
                    ref_ln(rows, d, xv, affine ? wv : NULL, affine ? bv : NULL, gv, 1e-5, y, gx, gw, gb);
                    tp x = nb_param(ref_tensor(xv, NB_SHAPE(rows, d), dt, lay));
                    tp w = affine ? nb_param(ref_contig(wv, NB_SHAPE(d), dt)) : NULL;
                    tp b = affine ? nb_param(ref_contig(bv, NB_SHAPE(d), dt)) : NULL;
                    tp out = nb_layer_norm(x, 1, &d, w, b, 1e-5);
                    double tol = tol_of(dt);
                    CHECK_REF(out, dt, NB_SHAPE(rows, d), y, tol, tol * 4);
                    if (dt == NB_F64 || dt == NB_F32) {
                        tp g[3];
                        grads(out, ref_contig(gv, NB_SHAPE(rows, d), dt), affine ? 3 : 1, (tp[]){x, w, b}, g);
                        /* gx of one feature is exactly 0 up to rounding; scale-aware tolerance */
                        CHECK_REF(g[0], dt, NB_SHAPE(rows, d), gx, tol * 10, tol * 10 * (d > 1 ? 1 : 1e3));
                        if (affine) {
                            CHECK_REF(g[1], dt, NB_SHAPE(d), gw, tol * 10, tol * 10 * (double)rows);
                            CHECK_REF(g[2], dt, NB_SHAPE(d), gb, tol * 10, tol * 10 * (double)rows);
                        }
                    }
                    nb_scope_end();
                }
}

static void test_layer_norm_shapes(void) {
    /* over the last 2 dims of a 3-D input, mixed dtypes (f32 x, f64 weight: f64 output) */
    int64_t a = 3, b = 4, c = 5, n = a * b * c;
    double *xv = ref_values(n, NB_F32, -3, 3), *wv = ref_values(b * c, NB_F64, -1, 1), *bv = ref_values(b * c, NB_F64, -1, 1);
    double *gv = ref_values(n, NB_F64, 0, 0), *y = ref_darray(n), *gx = ref_darray(n), *gw = ref_darray(b * c),
           *gb = ref_darray(b * c);
    ref_ln(a, b * c, xv, wv, bv, gv, 1e-3, y, gx, gw, gb);
    ref_set_ctx("layer_norm over [4, 5] of [3, 4, 5], f32 x f64 weight");
    tp o = nb_layer_norm(ref_contig(xv, NB_SHAPE(a, b, c), NB_F32), NB_LIST(b, c), ref_contig(wv, NB_SHAPE(b, c), NB_F64),
                         ref_contig(bv, NB_SHAPE(b, c), NB_F64), 1e-3);
    CHECK_REF(o, NB_F64, NB_SHAPE(a, b, c), y, 1e-6, 1e-6);
    /* the input's own shape normalised (one row); an empty batch */
    ref_set_ctx("layer_norm of [3, 4, 5] over all dims");
    tp all = nb_layer_norm(ref_contig(xv, NB_SHAPE(a, b, c), NB_F64), NB_LIST(a, b, c), NULL, NULL, 1e-5);
    double *yall = ref_darray(n), *t1 = ref_darray(n), *t2 = ref_darray(n), *t3 = ref_darray(n);
    ref_ln(1, n, xv, NULL, NULL, gv, 1e-5, yall, t1, t2, t3);
    CHECK_REF(all, NB_F64, NB_SHAPE(a, b, c), yall, 1e-10, 1e-10);
    tp e = nb_layer_norm(nb_zeros(NB_SHAPE(0, 3), NB_F32), NB_LIST(3), NULL, NULL, 1e-5);
    CHECK(e && nb_numel(e) == 0 && nb_ndim(e) == 2);
    /* expanded (broadcast) input: rows share storage */
    tp row = nb_from_data((double[]){1, 2, 4}, NB_SHAPE(1, 3), NB_F64);
    tp ex = nb_layer_norm(nb_expand(row, NB_LIST(5, 3)), NB_LIST(3), NULL, NULL, 0);
    double mu = 7.0 / 3, var = ((1 - mu) * (1 - mu) + (2 - mu) * (2 - mu) + (4 - mu) * (4 - mu)) / 3;
    CHECK_NEAR(h_get(ex, NB_LIST(4, 2)), (4 - mu) / sqrt(var), 1e-12);
    /* bitwise identical with 1 and 2 threads on a big input */
    int th = nb_get_num_threads();
    tp big = nb_randn(NB_SHAPE(257, 300), NB_F32);
    nb_set_num_threads(1);
    tp y1 = nb_layer_norm(big, NB_LIST(300), NULL, NULL, 1e-5);
    nb_set_num_threads(2);
    tp y2 = nb_layer_norm(big, NB_LIST(300), NULL, NULL, 1e-5);
    nb_set_num_threads(th);
    CHECK(h_max_abs_diff(y1, y2) == 0);
    /* a large common offset: the two-pass variance keeps its precision in f32 */
    tp off = nb_layer_norm(nb_add_scalar(nb_from_data((float[]){0, 1, 2, 3}, NB_SHAPE(1, 4), NB_F32), 10000),
                           NB_LIST(4), NULL, NULL, 0);
    CHECK_NEAR(h_get(off, NB_LIST(0, 3)), 1.5 / sqrt(1.25), 1e-5);
}

static void test_layer_norm_errors(void) {
    tp x = nb_zeros(NB_SHAPE(2, 3), NB_F32);
    CHECK_NULL_WITH(nb_layer_norm(x, NB_LIST(4), NULL, NULL, 1e-5), "nb_layer_norm", "normalized_shape [4]", "[2, 3]");
    CHECK_NULL_WITH(nb_layer_norm(x, NB_LIST(1, 2, 3), NULL, NULL, 1e-5), "nb_layer_norm", "normalized_shape");
    CHECK_NULL_WITH(nb_layer_norm(x, NB_LIST(3), nb_zeros(NB_SHAPE(2), NB_F32), NULL, 1e-5), "nb_layer_norm", "weight",
                    "[2]", "[3]");
    CHECK_NULL_WITH(nb_layer_norm(x, NB_LIST(3), NULL, nb_zeros(NB_SHAPE(1, 3), NB_F32), 1e-5), "nb_layer_norm", "bias");
    CHECK_NULL_WITH(nb_layer_norm(nb_zeros(NB_SHAPE(2, 3), NB_I32), NB_LIST(3), NULL, NULL, 1e-5), "nb_layer_norm",
                    "floating", "i32");
    CHECK_NULL_WITH(nb_layer_norm(NULL, NB_LIST(3), NULL, NULL, 1e-5), "nb_layer_norm");
}

/* ---- group_norm, instance_norm, rms_norm ---------------------------------------------------------- */

/* (n, c, s) normalised per (sample, group of c/g channels); affine per channel */
static void ref_gn(int64_t n, int64_t c, int64_t s, int64_t g, const double *x, const double *w, const double *b,
                   double eps, double *y) {
    int64_t cg = c / g, m = cg * s;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < g; k++) {
            const double *p = x + (i * c + k * cg) * s;
            double mu = 0, var = 0;
            for (int64_t e = 0; e < m; e++) mu += p[e] / (double)m;
            for (int64_t e = 0; e < m; e++) var += (p[e] - mu) * (p[e] - mu) / (double)m;
            for (int64_t e = 0; e < m; e++) {
                int64_t ch = k * cg + e / s;
                y[(i * c + k * cg) * s + e] = (p[e] - mu) / sqrt(var + eps) * (w ? w[ch] : 1) + (b ? b[ch] : 0);
            }
        }
}

static void test_group_norm(void) {
    static const int64_t shapes[][4] = {{2, 6, 5, 1}, {1, 4, 3, 3}, {7, 4, 1, 1}, {3, 8, 17, 1}};
    static const int64_t groups[] = {3, 2, 4, 1};
    for (int si = 0; si < 4; si++)
        for (int ti = 0; ti < REF_COUNT(k_float_types); ti++) {
            nb_dtype dt = k_float_types[ti];
            int64_t n = shapes[si][0], c = shapes[si][1], s = shapes[si][2] * shapes[si][3], tot = n * c * s;
            ref_set_ctx("group_norm %s shape %d groups %lld", nb_dtype_name(dt), si, (long long)groups[si]);
            double *xv = ref_values(tot, dt, -3, 3), *wv = ref_values(c, dt, -2, 2), *bv = ref_values(c, dt, -2, 2),
                   *y = ref_darray(tot);
            bool affine = si != 2;
            ref_gn(n, c, s, groups[si], xv, affine ? wv : NULL, affine ? bv : NULL, 1e-5, y);
            int nd = si == 1 ? 4 : si == 2 ? 2 : 3;
            int64_t shape[4] = {n, c, shapes[si][2], shapes[si][3]};
            tp x = ref_tensor(xv, nd, shape, dt, (ref_layout)(si % REF_LAYOUTS));
            tp o = nb_group_norm(x, groups[si], affine ? ref_contig(wv, NB_SHAPE(c), dt) : NULL,
                                 affine ? ref_contig(bv, NB_SHAPE(c), dt) : NULL, 1e-5);
            CHECK_REF(o, dt, nd, shape, y, tol_of(dt), tol_of(dt) * 4);
        }
    tp x = nb_zeros(NB_SHAPE(2, 6, 3), NB_F32);
    CHECK_NULL_WITH(nb_group_norm(x, 4, NULL, NULL, 1e-5), "nb_group_norm", "divisible", "num_groups = 4", "[2, 6, 3]");
    CHECK_NULL_WITH(nb_group_norm(x, 0, NULL, NULL, 1e-5), "nb_group_norm", "num_groups = 0");
    CHECK_NULL_WITH(nb_group_norm(x, 3, nb_zeros(NB_SHAPE(3), NB_F32), NULL, 1e-5), "nb_group_norm", "weight", "[6]");
    CHECK_NULL_WITH(nb_group_norm(nb_zeros(NB_SHAPE(6), NB_F32), 3, NULL, NULL, 1e-5), "nb_group_norm", "(N, C, ...)");
}

static void test_instance_norm(void) {
    int64_t n = 3, c = 2, s = 7, tot = n * c * s;
    double *xv = ref_values(tot, NB_F64, -3, 3), *wv = ref_values(c, NB_F64, -2, 2), *bv = ref_values(c, NB_F64, -2, 2);
    double *y = ref_darray(tot);
    /* instance norm = group norm with one channel per group */
    ref_gn(n, c, s, c, xv, wv, bv, 1e-5, y);
    for (int ti = 0; ti < REF_COUNT(k_float_types); ti++) {
        nb_dtype dt = k_float_types[ti];
        ref_set_ctx("instance_norm %s", nb_dtype_name(dt));
        double *xr = ref_values(tot, dt, -3, 3), *yr = ref_darray(tot);
        ref_gn(n, c, s, c, xr, wv, bv, 1e-5, yr);
        tp o = nb_instance_norm(ref_tensor(xr, NB_SHAPE(n, c, s), dt, REF_TRANSPOSED), NULL, NULL,
                                ref_contig(wv, NB_SHAPE(c), dt), ref_contig(bv, NB_SHAPE(c), dt), true, 0.1, 1e-5);
        CHECK_REF(o, dt, NB_SHAPE(n, c, s), yr, tol_of(dt) * 2, tol_of(dt) * 8);
    }
    /* running statistics: updated with the batch mean of the instance means and unbiased variances */
    tp rm = nb_from_data((double[]){0.5, -1}, NB_SHAPE(2), NB_F64), rv = nb_from_data((double[]){2, 1}, NB_SHAPE(2), NB_F64);
    ref_set_ctx("instance_norm with running statistics");
    tp o = nb_instance_norm(ref_contig(xv, NB_SHAPE(n, c, s), NB_F64), rm, rv, ref_contig(wv, NB_SHAPE(c), NB_F64),
                            ref_contig(bv, NB_SHAPE(c), NB_F64), true, 0.1, 1e-5);
    CHECK_REF(o, NB_F64, NB_SHAPE(n, c, s), y, 1e-10, 1e-10);
    double em[2] = {0.5, -1}, ev[2] = {2, 1};
    for (int64_t ch = 0; ch < c; ch++) {
        double sm = 0, sv = 0;
        for (int64_t i = 0; i < n; i++) {
            const double *p = xv + (i * c + ch) * s;
            double mu = 0, q = 0;
            for (int64_t e = 0; e < s; e++) mu += p[e] / (double)s;
            for (int64_t e = 0; e < s; e++) q += (p[e] - mu) * (p[e] - mu);
            sm += mu / (double)n;
            sv += q / (double)(s - 1) / (double)n;
        }
        em[ch] = 0.9 * em[ch] + 0.1 * sm;
        ev[ch] = 0.9 * ev[ch] + 0.1 * sv;
    }
    CHECK_REF(rm, NB_F64, NB_SHAPE(2), em, 1e-12, 1e-12);
    CHECK_REF(rv, NB_F64, NB_SHAPE(2), ev, 1e-12, 1e-12);
    /* evaluation: normalised by the running statistics */
    ref_set_ctx("instance_norm evaluation");
    tp e = nb_instance_norm(ref_contig(xv, NB_SHAPE(n, c, s), NB_F64), rm, rv, NULL, NULL, false, 0.1, 1e-5);
    double *ye = ref_darray(tot);
    for (int64_t i = 0; i < tot; i++) {
        int64_t ch = (i / s) % c;
        ye[i] = (xv[i] - em[ch]) / sqrt(ev[ch] + 1e-5);
    }
    CHECK_REF(e, NB_F64, NB_SHAPE(n, c, s), ye, 1e-12, 1e-12);
    CHECK_NULL_WITH(nb_instance_norm(nb_zeros(NB_SHAPE(2, 3), NB_F32), NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
                    "nb_instance_norm", "[2, 3]");
    CHECK_NULL_WITH(nb_instance_norm(nb_zeros(NB_SHAPE(2, 3, 4), NB_F32), NULL, NULL, NULL, NULL, false, 0.1, 1e-5),
                    "nb_instance_norm", "running_mean");
    CHECK_NULL_WITH(nb_instance_norm(nb_zeros(NB_SHAPE(2, 3, 4), NB_F32), nb_zeros(NB_SHAPE(2), NB_F32),
                                     nb_ones(NB_SHAPE(2), NB_F32), NULL, NULL, true, 0.1, 1e-5),
                    "nb_instance_norm", "running_mean", "[3]");
}

static void test_rms_norm(void) {
    static const int64_t rows_list[] = {1, 7, 17}, feats[] = {1, 7, 129};
    for (int ti = 0; ti < REF_COUNT(k_float_types); ti++)
        for (int ri = 0; ri < 3; ri++)
            for (int fi = 0; fi < 3; fi++) {
                nb_dtype dt = k_float_types[ti];
                int64_t rows = rows_list[ri], d = feats[fi], n = rows * d;
                bool weight = (ri + fi) % 2;
                ref_layout lay = (ref_layout)((ri * 3 + fi) % REF_LAYOUTS);
                ref_set_ctx("rms_norm %s [%lld, %lld] weight %d %s", nb_dtype_name(dt), (long long)rows, (long long)d,
                            weight, ref_layout_name[lay]);
                double *xv = ref_values(n, dt, -4, 4), *wv = ref_values(d, dt, -2, 2), *y = ref_darray(n);
                /* eps default: machine epsilon of the compute type */
                double eps = dt == NB_F64 ? DBL_EPSILON : FLT_EPSILON; /* of the compute type, as aten */
                for (int64_t r = 0; r < rows; r++) {
                    double q = 0;
                    for (int64_t j = 0; j < d; j++) q += xv[r * d + j] * xv[r * d + j] / (double)d;
                    for (int64_t j = 0; j < d; j++) y[r * d + j] = xv[r * d + j] / sqrt(q + eps) * (weight ? wv[j] : 1);
                }
                tp o = nb_rms_norm(ref_tensor(xv, NB_SHAPE(rows, d), dt, lay), 1, &d,
                                   weight ? ref_contig(wv, NB_SHAPE(d), dt) : NULL, -1);
                CHECK_REF(o, dt, NB_SHAPE(rows, d), y, tol_of(dt), tol_of(dt) * 4);
            }
    ref_set_ctx("rms_norm explicit eps, 2 dims");
    tp x = nb_from_data((double[]){1, 2, 3, 4, 0, 0}, NB_SHAPE(1, 3, 2), NB_F64);
    tp o = nb_rms_norm(x, NB_LIST(3, 2), NULL, 0.5);
    double q = (1 + 4 + 9 + 16) / 6.0 + 0.5;
    CHECK_REF(o, NB_F64, NB_SHAPE(1, 3, 2), ((double[]){1 / sqrt(q), 2 / sqrt(q), 3 / sqrt(q), 4 / sqrt(q), 0, 0}), 1e-12, 1e-12);
    CHECK_NULL_WITH(nb_rms_norm(x, NB_LIST(3), NULL, 1e-5), "nb_rms_norm", "normalized_shape [3]", "[1, 3, 2]");
    CHECK_NULL_WITH(nb_rms_norm(x, NB_LIST(2), nb_ones(NB_SHAPE(3), NB_F64), 1e-5), "nb_rms_norm", "weight");
}

/* ---- dropout -------------------------------------------------------------------------------------- */

static void test_dropout(void) {
    int64_t n = 1 << 20;
    tp x = nb_param(nb_add_scalar(nb_rand(NB_SHAPE(n), NB_F32), 0.5));
    for (int pi = 0; pi < 3; pi++) {
        double p = (double[]){0.1, 0.5, 0.9}[pi];
        nb_manual_seed(42);
        tp y = nb_dropout(x, p, true);
        nb_manual_seed(42);
        tp y2 = nb_dropout(x, p, true);
        CHECK(y && y2 && h_max_abs_diff(y, y2) == 0); /* deterministic under the seed */
        tp y3 = nb_dropout(x, p, true);
        CHECK(h_max_abs_diff(y, y3) > 0); /* the next draw differs */
        float *xv = malloc(sizeof(float) * (size_t)n), *yv = malloc(sizeof(float) * (size_t)n);
        nb_copy_to(x, xv, sizeof(float) * (size_t)n, NB_F32);
        nb_copy_to(y, yv, sizeof(float) * (size_t)n, NB_F32);
        float scale = (float)(1.0 / (1.0 - p));
        int64_t zeros = 0, bad = 0;
        for (int64_t i = 0; i < n; i++) {
            if (yv[i] == 0) zeros++;
            else if (yv[i] != xv[i] * scale) bad++; /* scaling exact */
        }
        CHECK_MSG(bad == 0, "p %g: %lld kept values not scaled exactly by 1/(1-p)", p, (long long)bad);
        double frac = (double)zeros / (double)n;
        CHECK_MSG(fabs(frac - p) < 0.003, "p %g: fraction zeroed %g", p, frac);
        /* backward: the same mask */
        tp g[1];
        grads(y, nb_ones(NB_SHAPE(n), NB_F32), 1, &x, g);
        float *gv = malloc(sizeof(float) * (size_t)n);
        nb_copy_to(g[0], gv, sizeof(float) * (size_t)n, NB_F32);
        for (int64_t i = 0; i < n; i++)
            if (gv[i] != (yv[i] == 0 ? 0.0f : scale)) bad++;
        CHECK_MSG(bad == 0, "p %g: %lld gradient entries differ from the mask", p, (long long)bad);
        free(xv), free(yv), free(gv);
    }
    /* p = 0 and evaluation: x itself; p = 1: zeros with zero gradient */
    tp same = nb_dropout(x, 0, true), ev = nb_dropout(x, 0.5, false);
    CHECK(same == x && ev == x);
    tp z = nb_dropout(x, 1, true);
    CHECK(z && h_max_abs_diff(z, nb_zeros(NB_SHAPE(n), NB_F32)) == 0);
    /* f16 / bf16 / f64 keep their dtype; a transposed input */
    static const nb_dtype dts[] = {NB_F16, NB_BF16, NB_F64};
    for (int i = 0; i < 3; i++) {
        tp t = nb_transpose(nb_ones(NB_SHAPE(64, 33), dts[i]), 0, 1);
        tp d = nb_dropout(t, 0.5, true);
        CHECK(d && nb_dtype_of(d) == dts[i] && nb_shape(d)[0] == 33);
        double mx = h_max_abs_diff(d, nb_zeros(NB_SHAPE(33, 64), dts[i]));
        CHECK_NEAR(mx, 2.0, 0);
    }
    /* an empty tensor */
    tp e = nb_dropout(nb_zeros(NB_SHAPE(0, 3), NB_F32), 0.5, true);
    CHECK(e && nb_numel(e) == 0);
    CHECK_NULL_WITH(nb_dropout(x, 1.5, true), "nb_dropout", "p = 1.5");
    CHECK_NULL_WITH(nb_dropout(x, -0.1, true), "nb_dropout", "p = -0.1");
    CHECK_NULL_WITH(nb_dropout(nb_zeros(NB_SHAPE(3), NB_I64), 0.5, true), "nb_dropout", "floating", "i64");
}

static void test_dropout2d(void) {
    int64_t N = 16, C = 64, H = 3, W = 5;
    tp x = nb_add_scalar(nb_rand(NB_SHAPE(N, C, H, W), NB_F64), 1.0);
    nb_manual_seed(5);
    tp y = nb_dropout2d(x, 0.25, true);
    int64_t zeroed = 0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            int z = 0;
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    double v = h_get(y, NB_LIST(i, c, h, w)), xv = h_get(x, NB_LIST(i, c, h, w));
                    if (v == 0) z++;
                    else CHECK_NEAR(v, xv / 0.75, 1e-15);
                }
            CHECK_MSG(z == 0 || z == H * W, "channel (%lld, %lld) partly zeroed", (long long)i, (long long)c);
            zeroed += z == H * W;
        }
    double frac = (double)zeroed / (double)(N * C);
    CHECK_MSG(fabs(frac - 0.25) < 0.06, "fraction of channels zeroed %g", frac);
    tp y3 = nb_dropout2d(nb_ones(NB_SHAPE(8, 2, 2), NB_F32), 0.5, true);
    CHECK(y3 && nb_ndim(y3) == 3);
    CHECK(nb_dropout2d(x, 0.5, false) == x);
    CHECK_NULL_WITH(nb_dropout2d(nb_ones(NB_SHAPE(3, 4), NB_F32), 0.5, true), "nb_dropout2d", "[3, 4]");
    CHECK_NULL_WITH(nb_dropout2d(x, 2, true), "nb_dropout2d", "p = 2");
}

/* ---- embedding ------------------------------------------------------------------------------------ */

static void test_embedding(void) {
    int64_t num = 17, dim = 7;
    for (int ti = 0; ti < REF_COUNT(k_float_types); ti++) {
        nb_dtype dt = k_float_types[ti];
        double *wv = ref_values(num * dim, dt, -3, 3);
        for (int li = 0; li < 2; li++) {
            ref_set_ctx("embedding %s %s", nb_dtype_name(dt), li ? "transposed table" : "contiguous");
            tp w = li ? ref_tensor(wv, NB_SHAPE(num, dim), dt, REF_TRANSPOSED) : ref_contig(wv, NB_SHAPE(num, dim), dt);
            int32_t iv[6] = {0, 16, 3, 3, 9, 0};
            tp idx = nb_from_data(iv, NB_SHAPE(2, 3), NB_I32);
            double *y = ref_darray(6 * dim);
            for (int i = 0; i < 6; i++)
                for (int64_t j = 0; j < dim; j++) y[i * dim + j] = wv[iv[i] * dim + j];
            CHECK_REF(nb_embedding(w, idx, NULL), dt, NB_SHAPE(2, 3, dim), y, 0, 0);
            /* 0-d index and an empty index tensor */
            CHECK_REF(nb_embedding(w, nb_scalar(9, NB_I64), NULL), dt, NB_SHAPE(dim), wv + 9 * dim, 0, 0);
            CHECK_REF(nb_embedding(w, nb_zeros(NB_SHAPE(0), NB_I64), NULL), dt, NB_SHAPE(0, dim), wv, 0, 0);
            /* stepped indices */
            tp sidx = nb_slice(nb_from_data((int64_t[]){5, 1, 6, 2, 7}, NB_SHAPE(5), NB_I64), 0, 0, 5, 2);
            double *ys = ref_darray(3 * dim);
            for (int i = 0; i < 3; i++)
                for (int64_t j = 0; j < dim; j++) ys[i * dim + j] = wv[(5 + i) * dim + j];
            CHECK_REF(nb_embedding(w, sidx, NULL), dt, NB_SHAPE(3, dim), ys, 0, 0);
        }
    }
    /* gradient: rows summed per index, padding row none */
    ref_set_ctx("embedding gradient");
    tp w = nb_param(nb_randn(NB_SHAPE(5, 3), NB_F64));
    tp idx = nb_from_data((int64_t[]){1, 4, 1, 2, 1, 0}, NB_SHAPE(6), NB_I64);
    for (int pad = 0; pad < 2; pad++) {
        nb_embedding_opts o = {.use_padding_idx = pad, .padding_idx = -4}; /* -4 is row 1 */
        tp y = nb_embedding(w, idx, &o);
        double gv[18], ref[15] = {0};
        for (int i = 0; i < 18; i++) gv[i] = i + 1;
        int64_t iv[6] = {1, 4, 1, 2, 1, 0};
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 3; j++)
                if (!(pad && iv[i] == 1)) ref[iv[i] * 3 + j] += gv[i * 3 + j];
        tp g[1];
        grads(y, nb_from_data(gv, NB_SHAPE(6, 3), NB_F64), 1, &w, g);
        CHECK_REF(g[0], NB_F64, NB_SHAPE(5, 3), ref, 0, 0);
    }
    /* f16 gradients accumulate in f32 */
    tp wh = nb_param(nb_zeros(NB_SHAPE(2, 1), NB_F16));
    int64_t many = 3000;
    tp y = nb_embedding(wh, nb_zeros(NB_SHAPE(many), NB_I64), NULL);
    tp g[1];
    grads(y, nb_full(NB_SHAPE(many, 1), 1, NB_F16), 1, &wh, g);
    CHECK(g[0] && h_get(g[0], NB_LIST(0, 0)) == 3000 && h_get(g[0], NB_LIST(1, 0)) == 0);
    /* a big lookup and its gradient: bitwise identical with 1 and 2 threads */
    int th = nb_get_num_threads();
    tp wb = nb_param(nb_randn(NB_SHAPE(300, 200), NB_F32));
    tp ib = nb_randint(0, 300, NB_SHAPE(40, 50), NB_I64);
    tp gyb = nb_randn(NB_SHAPE(40, 50, 200), NB_F32);
    tp res[2][2];
    for (int t = 0; t < 2; t++) {
        nb_set_num_threads(t + 1);
        res[t][0] = nb_embedding(wb, ib, NULL);
        grads(res[t][0], gyb, 1, &wb, &res[t][1]);
    }
    nb_set_num_threads(th);
    CHECK(h_max_abs_diff(res[0][0], res[1][0]) == 0 && h_max_abs_diff(res[0][1], res[1][1]) == 0);
    CHECK(h_get(res[0][0], NB_LIST(7, 9, 11)) == h_get(wb, NB_LIST((int64_t)h_get(ib, NB_LIST(7, 9)), 11)));
    /* max_norm: looked-up rows renormalised in place, the others untouched */
    tp t = nb_from_data((double[]){3, 4, 0.3, 0.4, 6, 8}, NB_SHAPE(3, 2), NB_F64);
    nb_embedding_opts mo = {.max_norm = 1.0};
    tp r = nb_embedding(t, nb_from_data((int64_t[]){0, 1, 0}, NB_SHAPE(3), NB_I64), &mo);
    double k = 1.0 / (5 + 1e-7);
    ref_set_ctx("embedding max_norm");
    CHECK_REF(t, NB_F64, NB_SHAPE(3, 2), ((double[]){3 * k, 4 * k, 0.3, 0.4, 6, 8}), 1e-15, 0);
    CHECK_REF(r, NB_F64, NB_SHAPE(3, 2), ((double[]){3 * k, 4 * k, 0.3, 0.4, 3 * k, 4 * k}), 1e-15, 0);
    nb_embedding_opts m1 = {.max_norm = 2.0, .norm_type = 1};
    nb_embedding(t, nb_from_data((int64_t[]){2}, NB_SHAPE(1), NB_I64), &m1);
    CHECK_NEAR(h_get(t, NB_LIST(2, 0)), 6 * 2 / (14 + 1e-7), 1e-14);
    /* errors: out of range (never read), bad dtypes, bad table, bad padding_idx */
    tp tab = nb_zeros(NB_SHAPE(4, 2), NB_F32);
    CHECK_NULL_WITH(nb_embedding(tab, nb_from_data((int64_t[]){0, 4}, NB_SHAPE(2), NB_I64), NULL), "nb_embedding",
                    "index 4", "4 rows");
    CHECK_NULL_WITH(nb_embedding(tab, nb_from_data((int64_t[]){-1}, NB_SHAPE(1), NB_I64), NULL), "nb_embedding",
                    "index -1");
    CHECK_NULL_WITH(nb_embedding(tab, nb_from_data((int64_t[]){1 << 30}, NB_SHAPE(1), NB_I64), &mo), "nb_embedding",
                    "out of range");
    CHECK_NULL_WITH(nb_embedding(tab, nb_zeros(NB_SHAPE(2), NB_F32), NULL), "nb_embedding", "integer", "f32");
    CHECK_NULL_WITH(nb_embedding(nb_zeros(NB_SHAPE(4), NB_F32), nb_zeros(NB_SHAPE(2), NB_I64), NULL), "nb_embedding",
                    "weight", "[4]");
    CHECK_NULL_WITH(nb_embedding(nb_zeros(NB_SHAPE(4, 2), NB_I64), nb_zeros(NB_SHAPE(2), NB_I64), NULL), "nb_embedding",
                    "floating");
    nb_embedding_opts bad = {.use_padding_idx = true, .padding_idx = 4};
    CHECK_NULL_WITH(nb_embedding(tab, nb_zeros(NB_SHAPE(2), NB_I64), &bad), "nb_embedding", "padding_idx 4");
}

static void test_embedding_bag(void) {
    int64_t num = 7, dim = 3;
    double *wv = ref_values(num * dim, NB_F64, -3, 3);
    tp w = nb_param(ref_contig(wv, NB_SHAPE(num, dim), NB_F64));
    int64_t iv[8] = {0, 2, 6, 2, 5, 1, 3, 3}, ov[4] = {0, 3, 3, 5};
    double ps[8] = {0.5, 1, 2, -1, 0.25, 3, 1, -2};
    tp idx = nb_from_data(iv, NB_SHAPE(8), NB_I64), off = nb_from_data(ov, NB_SHAPE(4), NB_I64);
    for (int mode = 0; mode < 3; mode++)
        for (int psw = 0; psw < 2; psw++) {
            if (psw && mode != NB_BAG_SUM) continue;
            ref_set_ctx("embedding_bag mode %d psw %d", mode, psw);
            double y[12];
            for (int b = 0; b < 4; b++) {
                int64_t s = ov[b], e = b < 3 ? ov[b + 1] : 8;
                for (int j = 0; j < dim; j++) {
                    double acc = mode == NB_BAG_MAX ? -INFINITY : 0;
                    for (int64_t i = s; i < e; i++) {
                        double v = wv[iv[i] * dim + j] * (psw ? ps[i] : 1);
                        acc = mode == NB_BAG_MAX ? fmax(acc, v) : acc + v;
                    }
                    if (e == s) acc = 0;
                    else if (mode == NB_BAG_MEAN) acc /= (double)(e - s);
                    y[b * dim + j] = acc;
                }
            }
            tp o = nb_embedding_bag(w, idx, off, (nb_bag_mode)mode, psw ? nb_from_data(ps, NB_SHAPE(8), NB_F64) : NULL);
            CHECK_REF(o, NB_F64, NB_SHAPE(4, dim), y, 1e-14, 1e-14);
        }
    /* 2-D input: each row a bag; f32 */
    ref_set_ctx("embedding_bag 2-D");
    tp w32 = ref_contig(wv, NB_SHAPE(num, dim), NB_F32);
    tp o = nb_embedding_bag(w32, nb_from_data(iv, NB_SHAPE(2, 4), NB_I64), NULL, NB_BAG_MEAN, NULL);
    double y2[6];
    for (int b = 0; b < 2; b++)
        for (int j = 0; j < dim; j++) {
            double s = 0;
            for (int i = 0; i < 4; i++) s += wv[iv[b * 4 + i] * dim + j];
            y2[b * dim + j] = s / 4;
        }
    CHECK_REF(o, NB_F32, NB_SHAPE(2, dim), y2, 1e-6, 1e-6);
    CHECK_NULL_WITH(nb_embedding_bag(w, idx, nb_from_data((int64_t[]){1, 3}, NB_SHAPE(2), NB_I64), NB_BAG_SUM, NULL),
                    "nb_embedding_bag", "offsets");
    CHECK_NULL_WITH(nb_embedding_bag(w, idx, nb_from_data((int64_t[]){0, 9}, NB_SHAPE(2), NB_I64), NB_BAG_SUM, NULL),
                    "nb_embedding_bag", "offsets[1] = 9");
    CHECK_NULL_WITH(nb_embedding_bag(w, idx, NULL, NB_BAG_SUM, NULL), "nb_embedding_bag", "offsets", "NULL");
    CHECK_NULL_WITH(nb_embedding_bag(w, idx, off, NB_BAG_MEAN, nb_ones(NB_SHAPE(8), NB_F64)), "nb_embedding_bag",
                    "per_sample_weights", "mode sum");
    CHECK_NULL_WITH(nb_embedding_bag(w, nb_from_data(iv, NB_SHAPE(2, 4), NB_I64), off, NB_BAG_SUM, NULL),
                    "nb_embedding_bag", "offsets must be NULL");
    CHECK_NULL_WITH(nb_embedding_bag(w, nb_from_data((int64_t[]){7}, NB_SHAPE(1, 1), NB_I64), NULL, NB_BAG_SUM, NULL),
                    "nb_embedding", "index 7");
}

/* ---- attention ------------------------------------------------------------------------------------ */

/* one head: q (L, E), k (S, E), v (S, Ev), mask (L, S) additive (may hold -inf) or NULL */
static void ref_attn(int64_t L, int64_t S, int64_t E, int64_t Ev, const double *q, const double *k, const double *v,
                     const double *mask, bool causal, double scale, double *y) {
    double *s = ref_darray(S);
    for (int64_t i = 0; i < L; i++) {
        double mx = -INFINITY, tot = 0;
        for (int64_t j = 0; j < S; j++) {
            double d = 0;
            for (int64_t e = 0; e < E; e++) d += q[i * E + e] * k[j * E + e];
            s[j] = d * scale + (mask ? mask[i * S + j] : 0) + (causal && j > i ? -INFINITY : 0);
            mx = fmax(mx, s[j]);
        }
        for (int64_t j = 0; j < S; j++) tot += s[j] = exp(s[j] - mx);
        for (int64_t e = 0; e < Ev; e++) {
            double acc = 0;
            for (int64_t j = 0; j < S; j++) acc += s[j] / tot * v[j * Ev + e];
            y[i * Ev + e] = acc;
        }
    }
}

static void test_sdpa(void) {
    static const int64_t dims[][4] = {{1, 1, 1, 1}, {7, 17, 3, 5}, {17, 7, 8, 1}, {5, 5, 4, 4}};
    for (int di = 0; di < 4; di++)
        for (int ti = 0; ti < REF_COUNT(k_float_types); ti++)
            for (int kind = 0; kind < 4; kind++) { /* none, causal, bool mask, float mask */
                nb_dtype dt = k_float_types[ti];
                int64_t B = 2, L = dims[di][0], S = dims[di][1], E = dims[di][2], Ev = dims[di][3];
                ref_set_ctx("sdpa %s L %lld S %lld E %lld Ev %lld kind %d", nb_dtype_name(dt), (long long)L, (long long)S,
                            (long long)E, (long long)Ev, kind);
                double *q = ref_values(B * L * E, dt, -1, 1), *k = ref_values(B * S * E, dt, -1, 1),
                       *v = ref_values(B * S * Ev, dt, -2, 2), *y = ref_darray(B * L * Ev), *mask = ref_darray(L * S);
                bool *mb = ref_alloc((size_t)(L * S));
                for (int64_t i = 0; i < L * S; i++) {
                    mb[i] = (i % 3 != 1) || (i % S == 0); /* every row keeps column 0 */
                    mask[i] = kind == 2 ? (mb[i] ? 0 : -INFINITY) : kind == 3 ? (double)(i % 5) * 0.25 : 0;
                }
                double sc = 1 / sqrt((double)E);
                for (int64_t b = 0; b < B; b++)
                    ref_attn(L, S, E, Ev, q + b * L * E, k + b * S * E, v + b * S * Ev, kind >= 2 ? mask : NULL, kind == 1,
                             sc, y + b * L * Ev);
                tp m = kind == 2 ? nb_from_data(mb, NB_SHAPE(L, S), NB_BOOL)
                       : kind == 3 ? ref_contig(mask, NB_SHAPE(1, L, S), dt) : NULL;
                tp o = nb_scaled_dot_product_attention(ref_tensor(q, NB_SHAPE(B, L, E), dt, (ref_layout)(di % REF_LAYOUTS)),
                                                       ref_tensor(k, NB_SHAPE(B, S, E), dt, REF_TRANSPOSED),
                                                       ref_contig(v, NB_SHAPE(B, S, Ev), dt), m, 0, kind == 1, 0);
                double tol = dt == NB_F64 ? 1e-12 : dt == NB_F32 ? 1e-5 : dt == NB_F16 ? 1e-2 : 6e-2;
                CHECK_REF(o, dt, NB_SHAPE(B, L, Ev), y, tol, tol);
            }
    /* explicit scale; broadcast of k / v over q's batch */
    ref_set_ctx("sdpa scale 0.3, broadcast");
    double *q = ref_values(2 * 3 * 2, NB_F64, -1, 1), *k = ref_values(4 * 2, NB_F64, -1, 1), *v = ref_values(4 * 2, NB_F64, -1, 1);
    double y[12];
    for (int b = 0; b < 2; b++) ref_attn(3, 4, 2, 2, q + b * 6, k, v, NULL, false, 0.3, y + b * 6);
    tp o = nb_scaled_dot_product_attention(ref_contig(q, NB_SHAPE(2, 3, 2), NB_F64), ref_contig(k, NB_SHAPE(4, 2), NB_F64),
                                           ref_contig(v, NB_SHAPE(4, 2), NB_F64), NULL, 0, false, 0.3);
    CHECK_REF(o, NB_F64, NB_SHAPE(2, 3, 2), y, 1e-12, 1e-12);
    /* dropout on the weights: deterministic under the seed, and the mean of many draws is close */
    tp qq = nb_ones(NB_SHAPE(4, 2), NB_F32);
    nb_manual_seed(3);
    tp d1 = nb_scaled_dot_product_attention(qq, qq, qq, NULL, 0.5, false, 0);
    nb_manual_seed(3);
    tp d2 = nb_scaled_dot_product_attention(qq, qq, qq, NULL, 0.5, false, 0);
    CHECK(d1 && d2 && h_max_abs_diff(d1, d2) == 0);
    tp x = nb_zeros(NB_SHAPE(2, 3, 4), NB_F32);
    CHECK_NULL_WITH(nb_scaled_dot_product_attention(x, x, x, nb_zeros(NB_SHAPE(3, 5), NB_BOOL), 0, false, 0),
                    "nb_scaled_dot_product_attention", "attn_mask", "[3, 5]", "[2, 3, 3]");
    CHECK_NULL_WITH(nb_scaled_dot_product_attention(x, x, x, nb_zeros(NB_SHAPE(3, 3), NB_I32), 0, false, 0),
                    "nb_scaled_dot_product_attention", "attn_mask", "i32");
    CHECK_NULL_WITH(nb_scaled_dot_product_attention(x, x, x, nb_zeros(NB_SHAPE(3, 3), NB_BOOL), 0, true, 0),
                    "nb_scaled_dot_product_attention", "is_causal");
    CHECK_NULL_WITH(nb_scaled_dot_product_attention(x, nb_zeros(NB_SHAPE(2, 3, 5), NB_F32), x, NULL, 0, false, 0),
                    "nb_scaled_dot_product_attention", "[2, 3, 5]");
    CHECK_NULL_WITH(nb_scaled_dot_product_attention(x, x, nb_zeros(NB_SHAPE(2, 2, 4), NB_F32), NULL, 0, false, 0),
                    "nb_scaled_dot_product_attention", "value");
    CHECK_NULL_WITH(nb_scaled_dot_product_attention(x, x, x, NULL, 1.5, false, 0), "nb_scaled_dot_product_attention",
                    "dropout_p");
}

/* ---- linear, bilinear, distances ------------------------------------------------------------------- */

static void test_linear(void) {
    static const int64_t ms[] = {1, 7, 129}, ins[] = {1, 17}, outs[] = {1, 7};
    for (int ti = 0; ti < REF_COUNT(k_float_types); ti++)
        for (int mi = 0; mi < 3; mi++)
            for (int ii = 0; ii < 2; ii++)
                for (int oi = 0; oi < 2; oi++) {
                    nb_dtype dt = k_float_types[ti];
                    int64_t m = ms[mi], in = ins[ii], out = outs[oi];
                    bool bias = (mi + oi) % 2 == 0;
                    ref_layout lay = (ref_layout)((mi + ii + oi) % REF_LAYOUTS);
                    ref_set_ctx("linear %s [%lld, %lld] x [%lld, %lld] bias %d %s", nb_dtype_name(dt), (long long)m,
                                (long long)in, (long long)out, (long long)in, bias, ref_layout_name[lay]);
                    double *x = ref_values(m * in, dt, -2, 2), *w = ref_values(out * in, dt, -2, 2),
                           *b = ref_values(out, dt, -2, 2), *y = ref_darray(m * out);
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t o = 0; o < out; o++) {
                            double s = bias ? b[o] : 0;
                            for (int64_t k = 0; k < in; k++) s += x[i * in + k] * w[o * in + k];
                            y[i * out + o] = s;
                        }
                    tp r = nb_linear(ref_tensor(x, NB_SHAPE(m, in), dt, lay), ref_tensor(w, NB_SHAPE(out, in), dt, lay),
                                     bias ? ref_contig(b, NB_SHAPE(out), dt) : NULL);
                    double tol = dt == NB_F64 ? 1e-12 : dt == NB_F32 ? 1e-5 : dt == NB_F16 ? 3e-3 : 2e-2;
                    CHECK_REF(r, dt, NB_SHAPE(m, out), y, tol, tol * (double)in);
                }
    /* batched (2, 3, 4) input and 1-D input */
    ref_set_ctx("linear batched");
    double *x = ref_values(24, NB_F64, -2, 2), *w = ref_values(8, NB_F64, -2, 2), y[12];
    for (int i = 0; i < 6; i++)
        for (int o = 0; o < 2; o++) {
            y[i * 2 + o] = 0;
            for (int k = 0; k < 4; k++) y[i * 2 + o] += x[i * 4 + k] * w[o * 4 + k];
        }
    tp wt = ref_contig(w, NB_SHAPE(2, 4), NB_F64);
    CHECK_REF(nb_linear(ref_contig(x, NB_SHAPE(2, 3, 4), NB_F64), wt, NULL), NB_F64, NB_SHAPE(2, 3, 2), y, 1e-14, 1e-14);
    CHECK_REF(nb_linear(ref_contig(x, NB_SHAPE(4), NB_F64), wt, NULL), NB_F64, NB_SHAPE(2), y, 1e-14, 1e-14);
    /* no input features: the bias alone; no rows; mixed dtypes (f16 input, f32 weight: f32 result) */
    ref_set_ctx("linear edge cases");
    CHECK_REF(nb_linear(nb_zeros(NB_SHAPE(3, 0), NB_F32), nb_zeros(NB_SHAPE(2, 0), NB_F32),
                        nb_from_data((float[]){1, -2}, NB_SHAPE(2), NB_F32)),
              NB_F32, NB_SHAPE(3, 2), ((double[]){1, -2, 1, -2, 1, -2}), 0, 0);
    tp e = nb_linear(nb_zeros(NB_SHAPE(0, 4), NB_F64), wt, NULL);
    CHECK(e && nb_numel(e) == 0 && nb_shape(e)[1] == 2);
    CHECK_REF(nb_linear(ref_contig(x, NB_SHAPE(6, 4), NB_F16), ref_contig(w, NB_SHAPE(2, 4), NB_F32), NULL), NB_F32,
              NB_SHAPE(6, 2), y, 1e-6, 1e-6);
    CHECK_NULL_WITH(nb_linear(nb_zeros(NB_SHAPE(3, 5), NB_F32), wt, NULL), "nb_linear", "[3, 5]", "[2, 4]");
    CHECK_NULL_WITH(nb_linear(nb_zeros(NB_SHAPE(3, 4), NB_F64), wt, nb_zeros(NB_SHAPE(3), NB_F64)), "nb_linear", "bias",
                    "[3]");
    CHECK_NULL_WITH(nb_linear(nb_zeros(NB_SHAPE(3, 4), NB_F64), nb_zeros(NB_SHAPE(4), NB_F64), NULL), "nb_linear", "weight");
}

static void test_bilinear(void) {
    int64_t n = 7, i1 = 3, i2 = 5, out = 4;
    for (int ti = 0; ti < 2; ti++) {
        nb_dtype dt = ti ? NB_F32 : NB_F64;
        ref_set_ctx("bilinear %s", nb_dtype_name(dt));
        double *a = ref_values(n * i1, dt, -2, 2), *b = ref_values(n * i2, dt, -2, 2), *w = ref_values(out * i1 * i2, dt, -1, 1),
               *bs = ref_values(out, dt, -1, 1), *y = ref_darray(n * out);
        for (int64_t s = 0; s < n; s++)
            for (int64_t o = 0; o < out; o++) {
                double acc = bs[o];
                for (int64_t p = 0; p < i1; p++)
                    for (int64_t q = 0; q < i2; q++) acc += a[s * i1 + p] * w[(o * i1 + p) * i2 + q] * b[s * i2 + q];
                y[s * out + o] = acc;
            }
        tp r = nb_bilinear(ref_tensor(a, NB_SHAPE(n, i1), dt, REF_TRANSPOSED), ref_tensor(b, NB_SHAPE(n, i2), dt, REF_STEPPED),
                           ref_contig(w, NB_SHAPE(out, i1, i2), dt), ref_contig(bs, NB_SHAPE(out), dt));
        CHECK_REF(r, dt, NB_SHAPE(n, out), y, dt == NB_F64 ? 1e-12 : 1e-5, dt == NB_F64 ? 1e-12 : 1e-4);
    }
    tp w = nb_zeros(NB_SHAPE(4, 3, 5), NB_F32);
    CHECK_NULL_WITH(nb_bilinear(nb_zeros(NB_SHAPE(2, 3), NB_F32), nb_zeros(NB_SHAPE(2, 4), NB_F32), w, NULL), "nb_bilinear",
                    "[2, 4]", "[4, 3, 5]");
    CHECK_NULL_WITH(nb_bilinear(nb_zeros(NB_SHAPE(2, 3), NB_F32), nb_zeros(NB_SHAPE(3, 5), NB_F32), w, NULL), "nb_bilinear",
                    "same leading dims");
    CHECK_NULL_WITH(nb_bilinear(nb_zeros(NB_SHAPE(2, 3), NB_F32), nb_zeros(NB_SHAPE(2, 5), NB_F32), w,
                                nb_zeros(NB_SHAPE(5), NB_F32)), "nb_bilinear", "bias");
}

static void test_cosine_similarity(void) {
    int64_t r = 7, c = 17;
    for (int ti = 0; ti < REF_COUNT(k_float_types); ti++)
        for (int dim = 0; dim < 2; dim++) {
            nb_dtype dt = k_float_types[ti];
            ref_set_ctx("cosine_similarity %s dim %d", nb_dtype_name(dt), dim);
            double *a = ref_values(r * c, dt, -2, 2), *b = ref_values(c, dt, -2, 2);
            for (int64_t j = 0; j < c; j++) a[3 * c + j] = 0; /* a zero row: the clamp gives 0 */
            int64_t no = dim ? r : c;
            double *y = ref_darray(no);
            for (int64_t o = 0; o < no; o++) {
                double d = 0, n1 = 0, n2 = 0;
                int64_t len = dim ? c : r;
                for (int64_t k = 0; k < len; k++) {
                    double u = dim ? a[o * c + k] : a[k * c + o], v = dim ? b[k] : b[o];
                    d += u * v, n1 += u * u, n2 += v * v;
                }
                y[o] = d / (fmax(sqrt(n1), 1e-8) * fmax(sqrt(n2), 1e-8));
            }
            /* b (c) broadcasts against a (r, c) */
            tp o = nb_cosine_similarity(ref_tensor(a, NB_SHAPE(r, c), dt, (ref_layout)(ti % REF_LAYOUTS)),
                                        ref_contig(b, NB_SHAPE(c), dt), dim, 1e-8);
            CHECK_REF(o, dt, NB_SHAPE(no), y, tol_of(dt), tol_of(dt) * 4);
        }
    tp x = nb_zeros(NB_SHAPE(2, 3), NB_F32);
    CHECK_NULL_WITH(nb_cosine_similarity(x, nb_zeros(NB_SHAPE(4), NB_F32), 1, 1e-8), "nb_cosine_similarity", "[2, 3]",
                    "[4]");
    CHECK_NULL_WITH(nb_cosine_similarity(x, x, 2, 1e-8), "nb_cosine_similarity", "dim 2");
    ref_set_ctx("cosine_similarity of integers");
    CHECK_REF(nb_cosine_similarity(nb_from_data((int64_t[]){3, 4, 0, 2}, NB_SHAPE(2, 2), NB_I64),
                                   nb_from_data((int32_t[]){4, 3}, NB_SHAPE(2), NB_I32), 1, 1e-8),
              NB_F32, NB_SHAPE(2), ((double[]){24.0 / 25, 0.6}), 1e-6, 1e-7);
}

static void test_pairwise_distance(void) {
    int64_t r = 7, c = 17;
    static const double ps[] = {1, 2, 3, INFINITY, 0, 0.5};
    for (int ti = 0; ti < 2; ti++)
        for (int pi = 0; pi < REF_COUNT(ps); pi++)
            for (int keep = 0; keep < 2; keep++) {
                nb_dtype dt = ti ? NB_F32 : NB_F64;
                double p = ps[pi], eps = 1e-6;
                ref_set_ctx("pairwise_distance %s p %g keepdim %d", nb_dtype_name(dt), p, keep);
                double *a = ref_values(r * c, dt, -2, 2), *b = ref_values(r * c, dt, -2, 2), *y = ref_darray(r);
                for (int64_t i = 0; i < r; i++) {
                    double s = 0;
                    for (int64_t j = 0; j < c; j++) {
                        double d = fabs(a[i * c + j] - b[i * c + j] + eps);
                        s = isinf(p) ? fmax(s, d) : p == 0 ? s + (d != 0) : s + pow(d, p);
                    }
                    y[i] = isinf(p) || p == 0 ? s : pow(s, 1 / p);
                }
                tp o = nb_pairwise_distance(ref_tensor(a, NB_SHAPE(r, c), dt, REF_TRANSPOSED), ref_contig(b, NB_SHAPE(r, c), dt),
                                            p, eps, keep);
                if (keep) CHECK_REF(o, dt, NB_SHAPE(r, 1), y, dt == NB_F64 ? 1e-12 : 1e-5, 1e-5);
                else CHECK_REF(o, dt, NB_SHAPE(r), y, dt == NB_F64 ? 1e-12 : 1e-5, 1e-5);
            }
    ref_set_ctx("pairwise_distance 1-D");
    tp o = nb_pairwise_distance(nb_from_data((double[]){0, 3}, NB_SHAPE(2), NB_F64),
                                nb_from_data((double[]){4, 0}, NB_SHAPE(2), NB_F64), 2, 0, false);
    CHECK_REF(o, NB_F64, NB_SCALAR, ((double[]){5}), 1e-15, 0);
    CHECK_NULL_WITH(nb_pairwise_distance(nb_zeros(NB_SHAPE(2, 3), NB_F32), nb_zeros(NB_SHAPE(2, 4), NB_F32), 2, 1e-6, false),
                    "nb_pairwise_distance", "[2, 3]", "[2, 4]");
    CHECK_NULL_WITH(nb_pairwise_distance(nb_zeros(NB_SHAPE(2, 3), NB_F32), nb_zeros(NB_SHAPE(2, 3), NB_F32), -1, 1e-6, false),
                    "nb_pairwise_distance", "p = -1");
}

int main(void) {
    nb_manual_seed(1);
    ref_seed(11);
    REF_RUN(test_layer_norm_forward_backward);
    REF_RUN(test_layer_norm_shapes);
    REF_RUN(test_layer_norm_errors);
    REF_RUN(test_group_norm);
    REF_RUN(test_instance_norm);
    REF_RUN(test_rms_norm);
    REF_RUN(test_dropout);
    REF_RUN(test_dropout2d);
    REF_RUN(test_embedding);
    REF_RUN(test_embedding_bag);
    REF_RUN(test_sdpa);
    REF_RUN(test_linear);
    REF_RUN(test_bilinear);
    REF_RUN(test_cosine_similarity);
    REF_RUN(test_pairwise_distance);
    return harness_finish();
}
