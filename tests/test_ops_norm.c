/* tests/test_ops_norm.c — batch normalisation (the fused batch_norm / batch_norm_backward ops behind
 * nb_batch_norm) against plain f64 loops: training and evaluation, with and without weight / bias,
 * (N, C), (N, C, L), (N, C, H, W) and (N, C, D, H, W), short and long runs per channel, f32, f64,
 * f16 and bf16, mixed dtypes, strided inputs, the running-statistics update, input / weight / bias
 * gradients, bitwise identity between 1 and 2 threads, a large mean offset (two-pass variance),
 * the output not being saved (in-place use after), and the error messages. Gradient checks of every
 * order are in test_gradcheck.c. */
#include "harness.h"

#include <stdint.h>

static const double k_eps = 1e-5;

/* Values of t as a malloc'd f64 array. */
static double *vals(const nb_tensor *t) {
    int64_t n = nb_numel(t);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    nb_copy_to(t, v, sizeof(double) * (size_t)n, NB_F64);
    return v;
}

typedef struct geom {
    int64_t n, c, s;
} geom;
static geom geom_of(const nb_tensor *x) {
    geom g = {nb_shape(x)[0], nb_shape(x)[1], 1};
    for (int d = 2; d < nb_ndim(x); d++) g.s *= nb_shape(x)[d];
    return g;
}
#define AT(g, i, ch, k) ((((i) * (g).c) + (ch)) * (g).s + (k))

/* Reference statistics: mean and biased var per channel (training), or the running ones. */
static void ref_stats(geom g, const double *x, bool training, const double *rm, const double *rv, double *mean,
                      double *var) {
    for (int64_t ch = 0; ch < g.c; ch++) {
        if (!training) {
            mean[ch] = rm[ch];
            var[ch] = rv[ch];
            continue;
        }
        double s = 0, q = 0, m = (double)(g.n * g.s);
        for (int64_t i = 0; i < g.n; i++)
            for (int64_t k = 0; k < g.s; k++) s += x[AT(g, i, ch, k)];
        mean[ch] = s / m;
        for (int64_t i = 0; i < g.n; i++)
            for (int64_t k = 0; k < g.s; k++) q += (x[AT(g, i, ch, k)] - mean[ch]) * (x[AT(g, i, ch, k)] - mean[ch]);
        var[ch] = q / m;
    }
}

/* y = (x - mean) / sqrt(var + eps) * w + b, w / b NULL for 1 / 0. */
static void ref_forward(geom g, const double *x, const double *mean, const double *var, const double *w,
                        const double *b, double *y) {
    for (int64_t i = 0; i < g.n; i++)
        for (int64_t ch = 0; ch < g.c; ch++)
            for (int64_t k = 0; k < g.s; k++) {
                double v = (x[AT(g, i, ch, k)] - mean[ch]) / sqrt(var[ch] + k_eps);
                y[AT(g, i, ch, k)] = v * (w ? w[ch] : 1.0) + (b ? b[ch] : 0.0);
            }
}

/* gx, gw, gb for grad_output gy. */
static void ref_backward(geom g, const double *x, const double *gy, const double *mean, const double *var,
                         const double *w, bool training, double *gx, double *gw, double *gb) {
    double m = (double)(g.n * g.s);
    for (int64_t ch = 0; ch < g.c; ch++) {
        double is = 1.0 / sqrt(var[ch] + k_eps), sg = 0, sgx = 0, wc = w ? w[ch] : 1.0;
        for (int64_t i = 0; i < g.n; i++)
            for (int64_t k = 0; k < g.s; k++) {
                sg += gy[AT(g, i, ch, k)];
                sgx += gy[AT(g, i, ch, k)] * (x[AT(g, i, ch, k)] - mean[ch]) * is;
            }
        gw[ch] = sgx;
        gb[ch] = sg;
        for (int64_t i = 0; i < g.n; i++)
            for (int64_t k = 0; k < g.s; k++) {
                double xh = (x[AT(g, i, ch, k)] - mean[ch]) * is, v = gy[AT(g, i, ch, k)];
                gx[AT(g, i, ch, k)] = training ? wc * is * (v - sg / m - xh * sgx / m) : wc * is * v;
            }
    }
}

/* Max |got - want| / (1 + |want|) over n values. */
static double rel_err(const nb_tensor *t, const double *want, int64_t n) {
    if (!t || nb_numel(t) != n) return INFINITY;
    double *v = vals(t), e = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(v[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(d <= e)) e = d; /* NaN wins */
    }
    free(v);
    return e;
}

static double tol_of(nb_dtype d) {
    switch (d) {
    case NB_F64: return 1e-10;
    case NB_F32: return 2e-5;
    case NB_F16: return 4e-3;
    default: return 3e-2; /* bf16 */
    }
}

typedef struct shape_case {
    int nd;
    int64_t shape[5];
} shape_case;
static const shape_case k_shapes[] = {
    {2, {5, 3}},          /* BatchNorm1d on (N, C) */
    {3, {4, 3, 7}},       /* (N, C, L) */
    {4, {2, 3, 5, 6}},    /* short runs (30) */
    {4, {2, 3, 6, 6}},    /* long runs (36) */
    {5, {2, 2, 3, 4, 5}}, /* (N, C, D, H, W) */
    {2, {3, 200}},        /* more channels than one row block */
    {3, {2, 130, 3}},
};

static const char *ref_shape(const shape_case *sc) {
    static char buf[64];
    int o = snprintf(buf, sizeof buf, "[");
    for (int d = 0; d < sc->nd; d++) o += snprintf(buf + o, sizeof buf - (size_t)o, d ? ", %lld" : "%lld", (long long)sc->shape[d]);
    snprintf(buf + o, sizeof buf - (size_t)o, "]");
    return buf;
}

/* One forward and backward of nb_batch_norm against the loops. affine: 0 none, 1 weight, 2 bias, 3 both. */
static void check_case(const shape_case *sc, nb_dtype dt, nb_dtype pdt, bool training, int affine, bool strided) {
    char what[160];
    snprintf(what, sizeof what, "%s %s x, %s params, %s, affine %d%s", ref_shape(sc), nb_dtype_name(dt),
             nb_dtype_name(pdt), training ? "training" : "evaluation", affine, strided ? ", strided" : "");
    nb_scope_begin();
    int64_t c = sc->shape[1];
    nb_tensor *x;
    if (strided) { /* a transposed view of a (C, N, ...) tensor */
        int64_t sh[5];
        memcpy(sh, sc->shape, sizeof sh);
        sh[0] = sc->shape[1], sh[1] = sc->shape[0];
        x = nb_transpose(nb_to(nb_add_scalar(nb_mul_scalar(nb_randn(sc->nd, sh, NB_F64), 2.0), 0.5), dt), 0, 1);
    } else {
        x = nb_to(nb_add_scalar(nb_mul_scalar(nb_randn(sc->nd, sc->shape, NB_F64), 2.0), 0.5), dt);
    }
    nb_param(x);
    nb_tensor *w = affine & 1 ? nb_param(nb_to(nb_add_scalar(nb_rand(1, &c, NB_F64), 0.5), pdt)) : NULL;
    nb_tensor *b = affine & 2 ? nb_param(nb_to(nb_randn(1, &c, NB_F64), pdt)) : NULL;
    nb_tensor *rm = nb_to(nb_randn(1, &c, NB_F64), NB_F32), *rv = nb_to(nb_add_scalar(nb_rand(1, &c, NB_F64), 0.5), NB_F32);
    geom g = geom_of(x);
    int64_t n = nb_numel(x);
    double *xv = vals(x), *wv = w ? vals(w) : NULL, *bv = b ? vals(b) : NULL, *rmv = vals(rm), *rvv = vals(rv);
    double *mean = malloc(sizeof(double) * (size_t)c), *var = malloc(sizeof(double) * (size_t)c);
    double *y = malloc(sizeof(double) * (size_t)n);
    ref_stats(g, xv, training, rmv, rvv, mean, var);
    ref_forward(g, xv, mean, var, wv, bv, y);

    nb_tensor *out = nb_batch_norm(x, rm, rv, w, b, training, 0.1, k_eps);
    nb_dtype want_dt = dt;
    if (w) want_dt = nb_promote_types(want_dt, pdt);
    if (b) want_dt = nb_promote_types(want_dt, pdt);
    if (!training) want_dt = nb_promote_types(want_dt, NB_F32);
    CHECK_MSG(out && nb_dtype_of(out) == want_dt, "%s: dtype %s, expected %s", what, out ? nb_dtype_name(nb_dtype_of(out)) : "-",
              nb_dtype_name(want_dt));
    double e = rel_err(out, y, n);
    CHECK_MSG(e <= tol_of(want_dt), "%s: y differs by %g", what, e);
    if (training) { /* running statistics: 0.9 old + 0.1 batch, unbiased variance */
        double m = (double)(g.n * g.s), *want_m = malloc(sizeof(double) * (size_t)c), *want_v = malloc(sizeof(double) * (size_t)c);
        for (int64_t ch = 0; ch < c; ch++) {
            want_m[ch] = 0.9 * rmv[ch] + 0.1 * mean[ch];
            want_v[ch] = 0.9 * rvv[ch] + 0.1 * var[ch] * m / (m - 1);
        }
        CHECK_MSG(rel_err(rm, want_m, c) < 1e-5, "%s: running_mean", what);
        CHECK_MSG(rel_err(rv, want_v, c) < 1e-5, "%s: running_var", what);
        free(want_m), free(want_v);
    }
    /* gradients with a random grad_output */
    nb_tensor *gy = nb_to(nb_randn(sc->nd, sc->shape, NB_F64), want_dt);
    double *gyv = vals(gy), *gx = malloc(sizeof(double) * (size_t)n), *gw = malloc(sizeof(double) * (size_t)c),
           *gb = malloc(sizeof(double) * (size_t)c);
    ref_backward(g, xv, gyv, mean, var, wv, training, gx, gw, gb);
    nb_tensor *ins[3] = {x, w, b}, *grads[3] = {NULL, NULL, NULL};
    int nin = 1;
    if (w) ins[nin++] = w;
    if (b) ins[nin++] = b;
    nb_autograd_opts o = {.grad_outputs = &gy};
    CHECK_MSG(out && nb_autograd_grad(&out, 1, ins, nin, &o, grads) == 0, "%s: backward: %s", what, nb_last_error());
    nb_clear_error();
    /* gradients are summed over up to ~200 values in the compute type: scale the tolerance */
    double gtol = fmax(fmax(tol_of(dt), tol_of(pdt)), tol_of(want_dt));
    gtol = 20 * fmax(gtol, want_dt == NB_F64 ? 0 : tol_of(NB_F32));
    CHECK_MSG(grads[0] && nb_dtype_of(grads[0]) == dt, "%s: gx dtype", what);
    e = rel_err(grads[0], gx, n);
    CHECK_MSG(e <= gtol, "%s: gx differs by %g", what, e);
    int k = 1;
    if (w) {
        e = rel_err(grads[k++], gw, c);
        CHECK_MSG(e <= gtol, "%s: gw differs by %g", what, e);
    }
    if (b) {
        e = rel_err(grads[k++], gb, c);
        CHECK_MSG(e <= gtol, "%s: gb differs by %g", what, e);
    }
    free(xv), free(wv), free(bv), free(rmv), free(rvv), free(mean), free(var), free(y), free(gyv), free(gx), free(gw), free(gb);
    nb_scope_end();
}

static void test_matches_loops(void) {
    nb_manual_seed(11);
    const nb_dtype dts[] = {NB_F32, NB_F64, NB_F16, NB_BF16};
    for (size_t s = 0; s < sizeof k_shapes / sizeof k_shapes[0]; s++)
        for (int d = 0; d < 4; d++)
            for (int training = 0; training < 2; training++)
                for (int affine = 0; affine < 4; affine++) check_case(&k_shapes[s], dts[d], dts[d], training, affine, false);
}

static void test_mixed_dtypes_and_strides(void) {
    nb_manual_seed(12);
    for (int training = 0; training < 2; training++) {
        check_case(&k_shapes[3], NB_F16, NB_F32, training, 3, false); /* f16 activations, f32 parameters */
        check_case(&k_shapes[1], NB_BF16, NB_F32, training, 1, false);
        check_case(&k_shapes[0], NB_F32, NB_F64, training, 3, false);
        check_case(&k_shapes[3], NB_F32, NB_F32, training, 3, true); /* transposed input */
        check_case(&k_shapes[0], NB_F64, NB_F64, training, 2, true);
    }
}

/* Forward and backward with the given thread count; results copied into bufs. */
static void run_threads(int threads, const shape_case *sc, bool training, float **bufs) {
    nb_set_num_threads(threads);
    nb_scope_begin();
    nb_manual_seed(21);
    int64_t c = sc->shape[1];
    nb_tensor *x = nb_param(nb_add_scalar(nb_randn(sc->nd, sc->shape, NB_F32), 3.0));
    nb_tensor *w = nb_param(nb_rand(1, &c, NB_F32)), *b = nb_param(nb_randn(1, &c, NB_F32));
    nb_tensor *rm = nb_randn(1, &c, NB_F32), *rv = nb_add_scalar(nb_rand(1, &c, NB_F32), 0.5);
    nb_tensor *gy = nb_randn(sc->nd, sc->shape, NB_F32);
    nb_tensor *y = nb_batch_norm(x, rm, rv, w, b, training, 0.1, k_eps);
    nb_tensor *ins[3] = {x, w, b}, *g[3] = {NULL, NULL, NULL};
    nb_autograd_opts o = {.grad_outputs = &gy};
    CHECK(y && nb_autograd_grad(&y, 1, ins, 3, &o, g) == 0);
    nb_tensor *res[6] = {y, g[0], g[1], g[2], rm, rv};
    for (int k = 0; k < 6; k++) {
        int64_t n = res[k] ? nb_numel(res[k]) : 0;
        bufs[k] = calloc((size_t)(n ? n : 1), sizeof(float));
        if (res[k]) nb_copy_to(res[k], bufs[k], sizeof(float) * (size_t)n, NB_F32);
    }
    nb_scope_end();
}

static void test_thread_count_bitwise(void) {
    static const shape_case cases[] = {{4, {8, 16, 30, 30}}, {2, {4096, 256}}, {3, {64, 40, 5}}, {4, {3, 64, 20, 20}}};
    int before = nb_get_num_threads();
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++)
        for (int training = 0; training < 2; training++) {
            float *one[6], *two[6];
            run_threads(1, &cases[s], training, one);
            run_threads(2, &cases[s], training, two);
            int64_t numel = 1;
            for (int d = 0; d < cases[s].nd; d++) numel *= cases[s].shape[d];
            int64_t sizes[6] = {numel, numel, cases[s].shape[1], cases[s].shape[1], cases[s].shape[1], cases[s].shape[1]};
            for (int k = 0; k < 6; k++) {
                CHECK_MSG(memcmp(one[k], two[k], sizeof(float) * (size_t)sizes[k]) == 0,
                          "case %zu %s: result #%d differs between 1 and 2 threads", s, training ? "training" : "eval", k);
                free(one[k]);
                free(two[k]);
            }
        }
    nb_set_num_threads(before);
}

/* Statistics in two passes: a large offset does not swamp the variance (f32). */
static void test_large_offset(void) {
    nb_manual_seed(13);
    nb_tensor *x = nb_add_scalar(nb_mul_scalar(nb_randn(NB_SHAPE(16, 4, 12, 12), NB_F32), 0.5), 300.0);
    nb_tensor *y = nb_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, k_eps);
    geom g = geom_of(x);
    double *xv = vals(x), mean[4], var[4], *want = malloc(sizeof(double) * (size_t)nb_numel(x));
    ref_stats(g, xv, true, NULL, NULL, mean, var);
    ref_forward(g, xv, mean, var, NULL, NULL, want);
    double e = rel_err(y, want, nb_numel(x));
    CHECK_MSG(e < 2e-3, "normalised values differ by %g", e);
    nb_tensor *v = nb_mean(nb_mul(y, y), NB_DIMS(0, 2, 3));
    for (int c = 0; c < 4; c++) CHECK_NEAR(h_get(v, NB_LIST(c)), 1.0, 1e-3);
    free(xv), free(want);
}

/* y is not saved for backward: updating it in place (outside the graph) leaves the gradients valid. */
static void test_output_not_saved(void) {
    nb_manual_seed(14);
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(4, 3, 5), NB_F32)), *w = nb_param(nb_rand(NB_SHAPE(3), NB_F32));
    nb_tensor *gy = nb_randn(NB_SHAPE(4, 3, 5), NB_F32);
    nb_tensor *g1[2], *g2[2], *ins[2] = {x, w};
    nb_autograd_opts o = {.grad_outputs = &gy};
    nb_tensor *y1 = nb_batch_norm(x, NULL, NULL, w, NULL, true, 0.1, k_eps);
    CHECK(nb_autograd_grad(&y1, 1, ins, 2, &o, g1) == 0);
    nb_tensor *y2 = nb_batch_norm(x, NULL, NULL, w, NULL, true, 0.1, k_eps);
    nb_no_grad_begin();
    CHECK(nb_mul_scalar_(y2, 3.0) == 0);
    nb_no_grad_end();
    CHECK(nb_autograd_grad(&y2, 1, ins, 2, &o, g2) == 0);
    CHECK(h_max_abs_diff(g1[0], g2[0]) == 0 && h_max_abs_diff(g1[1], g2[1]) == 0);
    /* nor are the bias and the running statistics: an optimiser step or a training forward on them
     * between forward and backward is fine */
    nb_tensor *b = nb_param(nb_randn(NB_SHAPE(3), NB_F32)), *rm = nb_zeros(NB_SHAPE(3), NB_F32),
              *rv = nb_ones(NB_SHAPE(3), NB_F32);
    nb_tensor *ye = nb_batch_norm(x, rm, rv, w, b, false, 0.1, k_eps);
    nb_no_grad_begin();
    CHECK(nb_add_(b, b, 1.0) == 0);
    nb_no_grad_end();
    CHECK(nb_batch_norm(nb_randn(NB_SHAPE(4, 3), NB_F32), rm, rv, NULL, NULL, true, 0.1, k_eps) != NULL);
    CHECK(nb_autograd_grad(&ye, 1, ins, 2, &o, g2) == 0);
    /* evaluation: gx = w / sqrt(running_var + eps) * gy with the running values of the forward */
    nb_tensor *want = nb_mul(gy, nb_reshape(nb_div_scalar(w, sqrt(1.0 + k_eps)), NB_SHAPE(1, 3, 1)));
    CHECK(h_max_abs_diff(g2[0], want) < 1e-6);
    /* but x is: modifying it is caught */
    nb_tensor *x2 = nb_randn(NB_SHAPE(4, 3, 5), NB_F32), *w2 = nb_param(nb_rand(NB_SHAPE(3), NB_F32));
    nb_tensor *y3 = nb_batch_norm(x2, NULL, NULL, w2, NULL, true, 0.1, k_eps);
    CHECK(nb_mul_scalar_(x2, 2.0) == 0);
    CHECK_RC_WITH(nb_backward(nb_sum(y3, NULL)), "modified in place");
}

static void test_no_grad_and_edges(void) {
    nb_manual_seed(15);
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(6, 2), NB_F32));
    nb_tensor *rm = nb_zeros(NB_SHAPE(2), NB_F32), *rv = nb_ones(NB_SHAPE(2), NB_F32);
    nb_no_grad_begin();
    nb_tensor *y = nb_batch_norm(x, rm, rv, NULL, NULL, true, 0.5, k_eps);
    nb_no_grad_end();
    CHECK(y && !nb_requires_grad(y));
    CHECK(h_get(rm, NB_LIST(0)) != 0); /* still updated */
    /* evaluation on an empty batch */
    nb_tensor *e = nb_batch_norm(nb_zeros(NB_SHAPE(0, 2, 3), NB_F32), rm, rv, NULL, NULL, false, 0.1, k_eps);
    CHECK(e && nb_numel(e) == 0 && nb_shape(e)[1] == 2);
    /* running stats only updated when both are given */
    nb_tensor *rm1 = nb_zeros(NB_SHAPE(2), NB_F32);
    CHECK(nb_batch_norm(x, rm1, NULL, NULL, NULL, true, 0.1, k_eps) != NULL);
    CHECK(h_get(rm1, NB_LIST(0)) == 0);
    /* the registry entries */
    int i = nb_op_find("batch_norm"), j = nb_op_find("batch_norm_backward");
    nb_op_info a, b;
    CHECK(i >= 0 && j >= 0 && nb_op_get_info(i, &a) == 0 && nb_op_get_info(j, &b) == 0);
    CHECK(a.differentiable && a.n_outputs == 4 && a.nograd_inputs == ((1u << 3) | (1u << 4)));
    CHECK(b.differentiable && b.n_inputs == 5 && b.n_outputs == 3);
}

static void test_errors(void) {
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3, 2), NB_F32);
    CHECK_NULL_WITH(nb_batch_norm(NULL, NULL, NULL, NULL, NULL, true, 0.1, k_eps), "nb_batch_norm");
    CHECK_NULL_WITH(nb_batch_norm(nb_randn(NB_SHAPE(4), NB_F32), NULL, NULL, NULL, NULL, true, 0.1, k_eps),
                    "nb_batch_norm", "(N, C, ...)", "[4]");
    CHECK_NULL_WITH(nb_batch_norm(nb_ones(NB_SHAPE(4, 3), NB_I32), NULL, NULL, NULL, NULL, true, 0.1, k_eps),
                    "nb_batch_norm", "floating");
    CHECK_NULL_WITH(nb_batch_norm(x, NULL, NULL, NULL, nb_zeros(NB_SHAPE(4), NB_F32), true, 0.1, k_eps),
                    "nb_batch_norm", "bias", "[3]");
    CHECK_NULL_WITH(nb_batch_norm(x, nb_zeros(NB_SHAPE(3, 1), NB_F32), NULL, NULL, NULL, true, 0.1, k_eps),
                    "nb_batch_norm", "running_mean");
    CHECK_NULL_WITH(nb_batch_norm(x, NULL, NULL, nb_ones(NB_SHAPE(3), NB_I64), NULL, true, 0.1, k_eps),
                    "nb_batch_norm", "weight", "floating");
    CHECK_NULL_WITH(nb_batch_norm(nb_randn(NB_SHAPE(1, 3), NB_F32), NULL, NULL, NULL, NULL, true, 0.1, k_eps),
                    "nb_batch_norm", "more than 1 value");
    CHECK_NULL_WITH(nb_batch_norm(x, nb_zeros(NB_SHAPE(3), NB_F32), NULL, NULL, NULL, false, 0.1, k_eps),
                    "nb_batch_norm", "running_mean and running_var");
}

int main(void) {
    RUN(test_matches_loops);
    RUN(test_mixed_dtypes_and_strides);
    RUN(test_thread_count_bitwise);
    RUN(test_large_offset);
    RUN(test_output_not_saved);
    RUN(test_no_grad_and_edges);
    RUN(test_errors);
    return harness_finish();
}
