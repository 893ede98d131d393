/* ops/pointwise.c — the long tail of elementwise functions of one tensor: math functions (log1p,
 * expm1, square, reciprocal, rsqrt, sin, cos, erf), activations (leaky_relu, elu and its selu / celu
 * forms, gelu, silu, mish, softplus, hardtanh / relu6, hardswish, hardsigmoid), rounding (floor, ceil,
 * round, trunc), clamp, nan_to_num and the float predicates (isnan, isinf, isfinite).
 *
 * One fused kernel per op (kernels/cpu/ew_pointwise.c, nbk_pw1_run) computes in f32 for f32 / f16 /
 * bf16 and f64 for f64. Backward formulas are built from nabla ops, so every gradient is
 * differentiable again; a plain backward of an activation (no graph to build) runs the fused
 * internal op activation_backward instead, one pass instead of five to fifteen. */
#include "pointwise.h"
#include "../kernels/cpu/kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* How an op treats integer and bool inputs. */
typedef enum pw_kind {
    K_MATH,   /* integers and bool compute in f32 and give f32 (torch.sin(int) is float) */
    K_ACT,    /* floating-point inputs only (PyTorch has no integer kernels for these) */
    K_ROUND,  /* integers are returned unchanged in their dtype; bool is refused */
    K_SQUARE, /* integers keep their dtype (wrapping); bool gives i64 (as torch.square) */
    K_CLAMP,  /* integers keep their dtype unless a bound has a fraction (then f32); bool is refused */
    K_PRED,   /* bool result; integers and bool are always finite */
    K_NAN,    /* nan_to_num: integers and bool are returned unchanged */
} pw_kind;

static int pw1_check_op(int op, const char *fn, const nb_attrs *a) {
    if (op == NBO_gelu && a->ints[0] != NB_GELU_NONE && a->ints[0] != NB_GELU_TANH)
        return nbc_error(NB_ERR_ARG, "%s: approximate = %lld must be NB_GELU_NONE (0) or NB_GELU_TANH (1)", fn,
                         (long long)a->ints[0]);
    if (op == NBO_hardtanh && !(a->f0 <= a->f1))
        return nbc_error(NB_ERR_ARG, "%s: min_val = %g must not be greater than max_val = %g (nor NaN)", fn, a->f0, a->f1);
    if (op == NBO_clamp && (a->ints[0] & 3) == 0)
        return nbc_error(NB_ERR_ARG, "%s: at least one of min and max must be given (both are NaN, i.e. None)", fn);
    return 0;
}

static bool has_fraction(double v) { return isfinite(v) && v != floor(v); }

static int pw1_infer(int op, pw_kind kind, nb_tensor *x, const nb_attrs *a, nbc_meta *out) {
    const char *fn = nbo_fn_name(op);
    int rc = pw1_check_op(op, fn, a);
    if (rc) return rc;
    nb_dtype d = x->dtype;
    if (!nb_dtype_is_float(d)) {
        switch (kind) {
        case K_MATH: d = NB_F32; break;
        case K_ACT:
            return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must be a floating-point tensor", fn, nbc_desc(x));
        case K_ROUND:
        case K_CLAMP:
            if (d == NB_BOOL)
                return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) is bool; this op needs a number type", fn,
                                 nbc_desc(x));
            if (kind == K_CLAMP && (((a->ints[0] & 1) && has_fraction(a->f0)) || ((a->ints[0] & 2) && has_fraction(a->f1))))
                d = NB_F32;
            break;
        case K_SQUARE:
            if (d == NB_BOOL) d = NB_I64;
            break;
        case K_PRED:
        case K_NAN: break;
        }
    }
    if (kind == K_PRED) d = NB_BOOL;
    nbo_meta_set(out, d, x->ndim, x->shape);
    return 0;
}

static bool is_rounding(nbk_pw1 k) { return k == NBK_FLOOR || k == NBK_CEIL || k == NBK_ROUND || k == NBK_TRUNC; }
static bool is_pred(nbk_pw1 k) { return k == NBK_ISNAN || k == NBK_ISINF || k == NBK_ISFINITE; }

static int pw1_forward(int op, nbk_pw1 k, nb_tensor *x, const nb_attrs *a, nb_tensor *y) {
    const char *fn = nbo_fn_name(op);
    int64_t n = nbc_numel(y->ndim, y->shape);
    if (!nb_dtype_is_float(x->dtype) && y->dtype == x->dtype && (is_rounding(k) || k == NBK_NAN_TO_NUM)) {
        int64_t ds[NB_MAX_DIMS]; /* integers are already whole and finite: a copy */
        nbc_contiguous_strides(y->ndim, y->shape, ds);
        nbk_copy(nbc_ptr(y), y->dtype, ds, nbc_ptr(x), x->dtype, x->strides, x->ndim, x->shape);
        return 0;
    }
    if (is_pred(k) && !nb_dtype_is_float(x->dtype)) {
        nbk_fill(nbc_ptr(y), NB_BOOL, k == NBK_ISFINITE, n);
        return 0;
    }
    nb_dtype c = nbk_compute_type(is_pred(k) ? x->dtype : y->dtype);
    nb_dtype kout = is_pred(k) ? NB_BOOL : c; /* what the kernel writes */
    const double p[3] = {a->f0, a->f1, a->f2};
    nbo_buffer in, tmp = {nbc_ptr(y), 0};
    if (nbo_buffer_get(fn, x, c, &in)) return NB_ERR_NOMEM;
    if (kout != y->dtype) {
        tmp.data = nbc_block_alloc((size_t)n * nb_dtype_size(kout), &tmp.capacity);
        if (!tmp.data) {
            nbo_buffer_release(&in);
            return nbc_oom(fn);
        }
    }
    nbk_pw1_run(k, c, in.data, tmp.data, n, p);
    if (kout != y->dtype) nbk_convert(nbc_ptr(y), y->dtype, tmp.data, kout, n);
    nbo_buffer_release(&tmp);
    nbo_buffer_release(&in);
    return 0;
}

#define PW1(NAME, KOP, KIND, FLAGS, ATTRS, BWNAME, BACKWARD, TORCH, SUMMARY)                       \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {       \
        (void)n;                                                                                   \
        return pw1_infer(NBO_##NAME, KIND, in[0], a, out);                                         \
    }                                                                                              \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) { \
        (void)n;                                                                                   \
        nbk_pw1 k = KOP;                                                                           \
        if (k == NBK_GELU && a->ints[0] == NB_GELU_TANH) k = NBK_GELU_TANH;                        \
        return pw1_forward(NBO_##NAME, k, in[0], a, out[0]);                                       \
    }                                                                                              \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = 1, .n_out = 1,     \
                                      .flags = NBO_ELEMENTWISE | (FLAGS), .attrs = ATTRS,          \
                                      .torch = TORCH, .summary = SUMMARY, .infer = NAME##_infer,   \
                                      .forward = NAME##_forward, .backward = BACKWARD};

/* ---- backward formulas (g: output gradient, x: saved input, y: saved output) ----------------- */

#define G (g[0])
#define X (c->in[0])
#define Y (c->out[0])
#define RETURN_GRAD(expr)                                                                          \
    do {                                                                                           \
        gin[0] = (expr);                                                                           \
        return gin[0] ? 0 : nb_last_status();                                                      \
    } while (0)

/* where(mask, g, 0): the gradient passes where mask holds */
static nb_tensor *masked(nb_tensor *mask, nb_tensor *g) {
    nb_tensor *zero = nbo_const(0, g->dtype);
    nb_tensor *r = nb_where(mask, g, zero);
    nb_free(zero);
    return r;
}

/* The fused gradient g * f'(x) of kernel k (x: input #0, or output #0 for relu). */
nb_tensor *nbo_activation_grad(nb_tensor *g, nb_tensor *x, int k, const nb_attrs *attrs) {
    nb_attrs a = {.n_ints = 1, .ints = {k}};
    if (attrs) a.f0 = attrs->f0, a.f1 = attrs->f1, a.f2 = attrs->f2;
    return nbo_apply1(NBO_activation_backward, (nb_tensor *[]){g, x}, 2, &a);
}

/* Without a graph to build (plain backward: grad mode is off), an activation's gradient is one fused
 * pass, the internal op activation_backward; with create_graph it is the composite formula below,
 * which is differentiable again. Both compute the same derivative (test_ops_pointwise compares them). */
static nb_tensor *fused_grad(const nbo_ctx *c, nb_tensor *g, nbk_pw1 k) { return nbo_activation_grad(g, c->in[0], k, c->attrs); }
#define FUSED(k)                                                                                   \
    do {                                                                                           \
        if (!nb_is_grad_enabled()) RETURN_GRAD(fused_grad(c, G, k));                               \
    } while (0)

static int log1p_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { RETURN_GRAD(nb_div(G, nb_add_scalar(X, 1))); }
static int expm1_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { RETURN_GRAD(nb_mul(G, nb_add_scalar(Y, 1))); }
static int square_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    RETURN_GRAD(nb_mul(G, nb_mul_scalar(X, 2)));
}
static int reciprocal_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* -g / x^2 = -g y^2 */
    RETURN_GRAD(nb_mul(nb_neg(G), nb_mul(Y, Y)));
}
static int rsqrt_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* -g y^3 / 2 */
    RETURN_GRAD(nb_mul(G, nb_mul_scalar(nb_mul(Y, nb_mul(Y, Y)), -0.5)));
}
static int sin_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { RETURN_GRAD(nb_mul(G, nb_cos(X))); }
static int cos_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { RETURN_GRAD(nb_mul(G, nb_neg(nb_sin(X)))); }
static int erf_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* 2/sqrt(pi) e^(-x^2) */
    RETURN_GRAD(nb_mul(G, nb_mul_scalar(nb_exp(nb_neg(nb_square(X))), M_2_SQRTPI)));
}
static int leaky_relu_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    FUSED(NBK_LEAKY_RELU);
    RETURN_GRAD(nb_where(nb_gt_scalar(X, 0), G, nb_mul_scalar(G, c->attrs->f0)));
}
static int elu_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    /* x > 0: scale; else scale alpha input_scale e^(x input_scale) */
    double alpha = c->attrs->f0, scale = c->attrs->f1, is = c->attrs->f2;
    FUSED(NBK_ELU);
    nb_tensor *neg = nb_mul_scalar(nb_exp(nb_mul_scalar(X, is)), scale * alpha * is);
    RETURN_GRAD(nb_where(nb_gt_scalar(X, 0), nb_mul_scalar(G, scale), nb_mul(G, neg)));
}
static nb_tensor *gelu_grad(nb_tensor *x, bool tanh_form) {
    if (!tanh_form) { /* Phi(x) + x phi(x) */
        nb_tensor *cdf = nb_mul_scalar(nb_add_scalar(nb_erf(nb_mul_scalar(x, M_SQRT1_2)), 1), 0.5);
        nb_tensor *pdf = nb_mul_scalar(nb_exp(nb_mul_scalar(nb_square(x), -0.5)), 0.5 * M_2_SQRTPI * M_SQRT1_2);
        return nb_add(cdf, nb_mul(x, pdf));
    }
    /* PyTorch's formula: t = tanh(b (x + k x^3)); 0.5 (1 + t) + 0.5 x (1 - t^2) b (1 + 3 k x^2) */
    const double kb = M_SQRT2 * M_2_SQRTPI * 0.5, kk = 0.044715;
    nb_tensor *x2 = nb_square(x);
    nb_tensor *t = nb_tanh(nb_mul_scalar(nb_add(x, nb_mul_scalar(nb_mul(x2, x), kk)), kb));
    nb_tensor *left = nb_mul_scalar(nb_add_scalar(t, 1), 0.5);
    nb_tensor *inner = nb_mul_scalar(nb_add_scalar(nb_mul_scalar(x2, 3 * kk), 1), kb);
    nb_tensor *right = nb_mul(nb_mul(nb_mul_scalar(x, 0.5), nb_rsub_scalar(nb_square(t), 1)), inner);
    return nb_add(left, right);
}
static int gelu_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    FUSED(c->attrs->ints[0] == NB_GELU_TANH ? NBK_GELU_TANH : NBK_GELU);
    RETURN_GRAD(nb_mul(G, gelu_grad(X, c->attrs->ints[0] == NB_GELU_TANH)));
}
static int silu_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* s (1 + x (1 - s)) */
    FUSED(NBK_SILU);
    nb_tensor *s = nb_sigmoid(X);
    RETURN_GRAD(nb_mul(G, nb_mul(s, nb_add_scalar(nb_mul(X, nb_rsub_scalar(s, 1)), 1))));
}
static int mish_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* t + x (1 - t^2) sigmoid(x) */
    FUSED(NBK_MISH);
    nb_tensor *t = nb_tanh(nb_softplus(X, 1, 20));
    nb_tensor *d = nb_add(t, nb_mul(nb_mul(X, nb_rsub_scalar(nb_square(t), 1)), nb_sigmoid(X)));
    RETURN_GRAD(nb_mul(G, d));
}
static int softplus_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    FUSED(NBK_SOFTPLUS);
    /* sigmoid(beta x), or 1 above the threshold where the op is linear */
    nb_tensor *bx = nb_mul_scalar(X, c->attrs->f0);
    RETURN_GRAD(nb_where(nb_gt_scalar(bx, c->attrs->f1), G, nb_mul(G, nb_sigmoid(bx))));
}
static int hardtanh_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* open interval, as torch */
    FUSED(NBK_HARDTANH);
    RETURN_GRAD(masked(nb_logical_and(nb_gt_scalar(X, c->attrs->f0), nb_lt_scalar(X, c->attrs->f1)), G));
}
static int hardswish_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    FUSED(NBK_HARDSWISH);
    /* PyTorch: 0 below -3, x / 3 + 1/2 up to 3 (inclusive), 1 above */
    nb_tensor *mid = nb_mul(G, nb_add_scalar(nb_div_scalar(X, 3), 0.5));
    RETURN_GRAD(masked(nb_ge_scalar(X, -3), nb_where(nb_le_scalar(X, 3), mid, G)));
}
static int hardsigmoid_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    FUSED(NBK_HARDSIGMOID);
    RETURN_GRAD(masked(nb_logical_and(nb_gt_scalar(X, -3), nb_lt_scalar(X, 3)), nb_div_scalar(G, 6)));
}
static int clamp_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* closed interval, as torch */
    const nb_attrs *a = c->attrs;
    nb_tensor *lo = a->ints[0] & 1 ? nb_ge_scalar(X, a->f0) : NULL;
    nb_tensor *hi = a->ints[0] & 2 ? nb_le_scalar(X, a->f1) : NULL;
    RETURN_GRAD(masked(lo && hi ? nb_logical_and(lo, hi) : lo ? lo : hi, G));
}
static int nan_to_num_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    RETURN_GRAD(masked(nb_isfinite(X), G));
}

#define SI NBO_SAVE_INPUTS
#define SO NBO_SAVE_OUTPUTS
PW1(log1p, NBK_LOG1P, K_MATH, SI, "", "Log1PBackward", log1p_bw, "torch.log1p", "log(1 + x), accurate near 0")
PW1(expm1, NBK_EXPM1, K_MATH, SO, "", "Expm1Backward", expm1_bw, "torch.expm1", "e^x - 1, accurate near 0")
PW1(square, NBK_SQUARE, K_SQUARE, SI, "", "SquareBackward", square_bw, "torch.square",
    "x * x (integers keep their dtype, bool gives i64)")
PW1(reciprocal, NBK_RECIPROCAL, K_MATH, SO, "", "ReciprocalBackward", reciprocal_bw, "torch.reciprocal", "1 / x")
PW1(rsqrt, NBK_RSQRT, K_MATH, SO, "", "RsqrtBackward", rsqrt_bw, "torch.rsqrt", "1 / sqrt(x)")
PW1(sin, NBK_SIN, K_MATH, SI, "", "SinBackward", sin_bw, "torch.sin", "sine")
PW1(cos, NBK_COS, K_MATH, SI, "", "CosBackward", cos_bw, "torch.cos", "cosine")
PW1(erf, NBK_ERF, K_MATH, SI, "", "ErfBackward", erf_bw, "torch.erf", "error function")
PW1(leaky_relu, NBK_LEAKY_RELU, K_ACT, SI, "f0=negative_slope", "LeakyReluBackward", leaky_relu_bw,
    "torch.nn.functional.leaky_relu", "x > 0 ? x : negative_slope * x")
PW1(elu, NBK_ELU, K_ACT, SI, "f0=alpha f1=scale f2=input_scale", "EluBackward", elu_bw, "torch.nn.functional.elu",
    "x > 0 ? scale x : scale alpha (e^(input_scale x) - 1) (scale = input_scale = 1 for nb_elu)")
PW1(gelu, NBK_GELU, K_ACT, SI, "ints=approximate", "GeluBackward", gelu_bw, "torch.nn.functional.gelu",
    "x Phi(x) (erf form, computed through erfc) or PyTorch's tanh approximation")
PW1(silu, NBK_SILU, K_ACT, SI, "", "SiluBackward", silu_bw, "torch.nn.functional.silu", "x sigmoid(x)")
PW1(mish, NBK_MISH, K_ACT, SI, "", "MishBackward", mish_bw, "torch.nn.functional.mish", "x tanh(softplus(x))")
PW1(softplus, NBK_SOFTPLUS, K_ACT, SI, "f0=beta f1=threshold", "SoftplusBackward", softplus_bw,
    "torch.nn.functional.softplus", "log(1 + e^(beta x)) / beta; x where beta x > threshold")
PW1(hardtanh, NBK_HARDTANH, K_ACT, SI, "f0=min_val f1=max_val", "HardtanhBackward", hardtanh_bw,
    "torch.nn.functional.hardtanh", "clamp to [min_val, max_val]; gradient 0 at and beyond the ends")
PW1(hardswish, NBK_HARDSWISH, K_ACT, SI, "", "HardswishBackward", hardswish_bw, "torch.nn.functional.hardswish",
    "x relu6(x + 3) / 6")
PW1(hardsigmoid, NBK_HARDSIGMOID, K_ACT, SI, "", "HardsigmoidBackward", hardsigmoid_bw,
    "torch.nn.functional.hardsigmoid", "relu6(x + 3) / 6")
PW1(floor, NBK_FLOOR, K_ROUND, 0, "", NULL, NULL, "torch.floor",
    "round down; integers unchanged (not differentiable: PyTorch's gradient is zero)")
PW1(ceil, NBK_CEIL, K_ROUND, 0, "", NULL, NULL, "torch.ceil",
    "round up; integers unchanged (not differentiable: PyTorch's gradient is zero)")
PW1(round, NBK_ROUND, K_ROUND, 0, "", NULL, NULL, "torch.round",
    "round half to even; integers unchanged (not differentiable: PyTorch's gradient is zero)")
PW1(trunc, NBK_TRUNC, K_ROUND, 0, "", NULL, NULL, "torch.trunc",
    "round toward zero; integers unchanged (not differentiable: PyTorch's gradient is zero)")
PW1(clamp, NBK_CLAMP, K_CLAMP, SI, "ints=has_min|has_max f0=min f1=max", "ClampBackward", clamp_bw, "torch.clamp",
    "min(max(x, min), max); a NaN bound means None (PyTorch would give NaN)")
PW1(nan_to_num, NBK_NAN_TO_NUM, K_NAN, SI, "f0=nan f1=posinf f2=neginf", "NanToNumBackward", nan_to_num_bw,
    "torch.nan_to_num", "replace NaN, +inf and -inf (gradient only where x is finite)")
PW1(isnan, NBK_ISNAN, K_PRED, 0, "", NULL, NULL, "torch.isnan", "x is NaN (bool)")
PW1(isinf, NBK_ISINF, K_PRED, 0, "", NULL, NULL, "torch.isinf", "x is +-inf (bool)")
PW1(isfinite, NBK_ISFINITE, K_PRED, 0, "", NULL, NULL, "torch.isfinite", "x is neither NaN nor infinite (bool)")

/* ---- activation_backward: the fused gradient of the activations ------------------------------ */

static bool has_fused_grad(int64_t k) {
    return k == NBK_LEAKY_RELU || k == NBK_ELU || k == NBK_GELU || k == NBK_GELU_TANH || k == NBK_SILU ||
           k == NBK_MISH || k == NBK_SOFTPLUS || k == NBK_HARDTANH || k == NBK_HARDSWISH || k == NBK_HARDSIGMOID ||
           k == NBK_RELU_GRAD;
}

static int activation_backward_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_activation_backward";
    nb_tensor *g = in[0], *x = in[1];
    if (!has_fused_grad(a->ints[0]))
        return nbc_error(NB_ERR_ARG, "%s: kernel %lld is not an activation with a fused gradient", fn,
                         (long long)a->ints[0]);
    if (!nb_dtype_is_float(x->dtype) || !nb_dtype_is_float(g->dtype))
        return nbc_error(NB_ERR_ARG, "%s: gradient %s and input %s must be floating-point tensors", fn, nbc_desc(g),
                         nbc_desc(x));
    if (g->ndim != x->ndim || memcmp(g->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim) != 0)
        return nbc_error(NB_ERR_ARG, "%s: gradient %s and input %s must have one shape", fn, nbc_desc(g), nbc_desc(x));
    nbo_meta_set(out, x->dtype, x->ndim, x->shape);
    return 0;
}

static int activation_backward_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_activation_backward";
    nb_tensor *y = out[0];
    nb_dtype c = nbk_compute_type(y->dtype);
    int64_t cnt = nbc_numel(y->ndim, y->shape);
    const double p[3] = {a->f0, a->f1, a->f2};
    nbo_buffer g, x, tmp = {nbc_ptr(y), 0};
    if (nbo_buffer_get(fn, in[0], c, &g)) return NB_ERR_NOMEM;
    int rc = nbo_buffer_get(fn, in[1], c, &x);
    if (!rc && c != y->dtype) {
        tmp.data = nbc_block_alloc((size_t)cnt * nb_dtype_size(c), &tmp.capacity);
        if (!tmp.data) rc = nbc_oom(fn);
    }
    if (!rc) {
        nbk_pw1_grad_run((nbk_pw1)a->ints[0], c, g.data, x.data, tmp.data, cnt, p);
        if (c != y->dtype) nbk_convert(nbc_ptr(y), y->dtype, tmp.data, c, cnt);
    }
    nbo_buffer_release(&tmp);
    nbo_buffer_release(&x);
    nbo_buffer_release(&g);
    return rc;
}

const nbo_desc nbo_desc_activation_backward = {
    .name = "activation_backward", .n_in = 2, .n_out = 1, .flags = NBO_ELEMENTWISE,
    .attrs = "ints=kernel f0 f1 f2=the activation's parameters",
    .torch = "torch.ops.aten.gelu_backward (silu_backward, elu_backward, ...)",
    .summary = "internal: g * f'(x) of an activation in one pass (its backward when no graph is built)",
    .infer = activation_backward_infer, .forward = activation_backward_forward};

/* ---- public functions ------------------------------------------------------------------------ */

static nb_tensor *apply(int op, nb_tensor *x, const nb_attrs *a) { return nbo_apply1(op, &x, 1, a); }

nb_tensor *nb_log1p(nb_tensor *x) { return apply(NBO_log1p, x, NULL); }
nb_tensor *nb_expm1(nb_tensor *x) { return apply(NBO_expm1, x, NULL); }
nb_tensor *nb_square(nb_tensor *x) { return apply(NBO_square, x, NULL); }
nb_tensor *nb_reciprocal(nb_tensor *x) { return apply(NBO_reciprocal, x, NULL); }
nb_tensor *nb_rsqrt(nb_tensor *x) { return apply(NBO_rsqrt, x, NULL); }
nb_tensor *nb_sin(nb_tensor *x) { return apply(NBO_sin, x, NULL); }
nb_tensor *nb_cos(nb_tensor *x) { return apply(NBO_cos, x, NULL); }
nb_tensor *nb_erf(nb_tensor *x) { return apply(NBO_erf, x, NULL); }
nb_tensor *nb_leaky_relu(nb_tensor *x, double negative_slope) {
    return apply(NBO_leaky_relu, x, &(nb_attrs){.f0 = negative_slope});
}
static nb_tensor *elu_full(nb_tensor *x, double alpha, double scale, double input_scale) {
    return apply(NBO_elu, x, &(nb_attrs){.f0 = alpha, .f1 = scale, .f2 = input_scale});
}
/* Composites check their input themselves so that errors name the function the user called. */
static bool float_arg(const char *fn, nb_tensor *x) {
    if (!x) return nbc_null_arg(fn, 1), false;
    if (!nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must be a floating-point tensor", fn, nbc_desc(x)), false;
    return true;
}
nb_tensor *nb_elu(nb_tensor *x, double alpha) { return elu_full(x, alpha, 1, 1); }
nb_tensor *nb_selu(nb_tensor *x) {
    if (!float_arg("nb_selu", x)) return NULL;
    return elu_full(x, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946, 1);
}
nb_tensor *nb_celu(nb_tensor *x, double alpha) {
    if (!float_arg("nb_celu", x)) return NULL;
    if (alpha == 0) return nbc_error(NB_ERR_ARG, "nb_celu: alpha must not be 0 (it divides x)"), NULL;
    return elu_full(x, alpha, 1, 1 / alpha);
}
nb_tensor *nb_gelu(nb_tensor *x, nb_gelu_approximate approximate) {
    return apply(NBO_gelu, x, &(nb_attrs){.n_ints = 1, .ints = {(int64_t)approximate}});
}
nb_tensor *nb_silu(nb_tensor *x) { return apply(NBO_silu, x, NULL); }
nb_tensor *nb_mish(nb_tensor *x) { return apply(NBO_mish, x, NULL); }
nb_tensor *nb_softplus(nb_tensor *x, double beta, double threshold) {
    return apply(NBO_softplus, x, &(nb_attrs){.f0 = beta, .f1 = threshold});
}
nb_tensor *nb_hardtanh(nb_tensor *x, double min_val, double max_val) {
    return apply(NBO_hardtanh, x, &(nb_attrs){.f0 = min_val, .f1 = max_val});
}
nb_tensor *nb_relu6(nb_tensor *x) { return float_arg("nb_relu6", x) ? nb_hardtanh(x, 0, 6) : NULL; }
nb_tensor *nb_hardswish(nb_tensor *x) { return apply(NBO_hardswish, x, NULL); }
nb_tensor *nb_hardsigmoid(nb_tensor *x) { return apply(NBO_hardsigmoid, x, NULL); }
nb_tensor *nb_floor(nb_tensor *x) { return apply(NBO_floor, x, NULL); }
nb_tensor *nb_ceil(nb_tensor *x) { return apply(NBO_ceil, x, NULL); }
nb_tensor *nb_round(nb_tensor *x) { return apply(NBO_round, x, NULL); }
nb_tensor *nb_trunc(nb_tensor *x) { return apply(NBO_trunc, x, NULL); }
nb_tensor *nb_clamp(nb_tensor *x, double min, double max) {
    nb_attrs a = {.n_ints = 1, .ints = {(isnan(min) ? 0 : 1) | (isnan(max) ? 0 : 2)}};
    a.f0 = isnan(min) ? -INFINITY : min;
    a.f1 = isnan(max) ? INFINITY : max;
    return apply(NBO_clamp, x, &a);
}
/* The largest finite value of a float dtype (PyTorch's default for posinf). */
static double dtype_max(nb_dtype d) {
    switch (d) {
    case NB_F64: return DBL_MAX;
    case NB_F16: return 65504.0;
    case NB_BF16: return 3.3895313892515355e38;
    default: return FLT_MAX;
    }
}
nb_tensor *nb_nan_to_num(nb_tensor *x, double nan, double posinf, double neginf) {
    double big = dtype_max(x ? x->dtype : NB_F32);
    nb_attrs a = {.f0 = nan, .f1 = isnan(posinf) ? big : posinf, .f2 = isnan(neginf) ? -big : neginf};
    return apply(NBO_nan_to_num, x, &a);
}
nb_tensor *nb_isnan(nb_tensor *x) { return apply(NBO_isnan, x, NULL); }
nb_tensor *nb_isinf(nb_tensor *x) { return apply(NBO_isinf, x, NULL); }
nb_tensor *nb_isfinite(nb_tensor *x) { return apply(NBO_isfinite, x, NULL); }
