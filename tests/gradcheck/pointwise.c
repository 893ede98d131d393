/* tests/gradcheck/pointwise.c — gradient-check cases for the ops in src/ops/pointwise.def (linked into
 * test_gradcheck; see tests/gradcheck.h). Every case runs sizes 1 / 7 / 17, a strided view inside
 * the checked function, broadcasting for the binaries, and a second derivative for the smooth ops. */
#include "../gradcheck.h"

/* Distinct values in [-5.04, 5.04] at odd multiples of 0.005: never within eps of an integer or a
 * half-integer, so the kinks of hardtanh / hardswish / hardsigmoid / clamp (at +-3, +-1, 0.5, ...)
 * are never straddled. */
static tp Pkinkfree(int nd, const int64_t *shape) {
    static int salt = 0;
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    salt += 17;
    for (int64_t i = 0; i < n; i++) v[i] = (double)((((i + salt) * 331) % 1009) - 504) * 0.01 + 0.005;
    tp t = nb_param(nb_from_data(v, nd, shape, NB_F64));
    free(v);
    return t;
}

static void case_log1p(void) { unary_cases("log1p", nb_log1p, Ppos, true); }
static void case_expm1(void) { unary_cases("expm1", nb_expm1, P, true); }
static void case_square(void) { unary_cases("square", nb_square, P, true); }
static void case_reciprocal(void) { unary_cases("reciprocal", nb_reciprocal, Ppos, true); }
static void case_rsqrt(void) { unary_cases("rsqrt", nb_rsqrt, Ppos, true); }
static void case_sin(void) { unary_cases("sin", nb_sin, P, true); }
static void case_cos(void) { unary_cases("cos", nb_cos, P, true); }
static void case_erf(void) { unary_cases("erf", nb_erf, P, true); }

static tp leaky(tp x) { return nb_leaky_relu(x, 0.1); }
static tp leaky_neg(tp x) { return nb_leaky_relu(x, -0.5); }
static void case_leaky_relu(void) {
    unary_cases("leaky_relu(0.1)", leaky, Paway, false);
    unary_ud u = {leaky_neg, 2};
    GC("leaky_relu(-0.5) slice", f_unary, &u, Paway(NB_SHAPE(3, 17)));
}
static tp elu1(tp x) { return nb_elu(x, 1.0); }
static tp elu_half(tp x) { return nb_elu(x, 0.5); }
static void case_elu(void) {
    unary_cases("elu(1)", elu1, Paway, true);
    unary_cases("elu(0.5)", elu_half, Paway, true);
}
static void case_selu(void) { unary_cases("selu", nb_selu, Paway, true); }
static tp celu2(tp x) { return nb_celu(x, 2.0); }
static void case_celu(void) { unary_cases("celu(2)", celu2, Paway, true); }
static tp gelu_none(tp x) { return nb_gelu(x, NB_GELU_NONE); }
static tp gelu_tanh(tp x) { return nb_gelu(x, NB_GELU_TANH); }
static void case_gelu(void) {
    unary_cases("gelu", gelu_none, P, true);
    unary_cases("gelu tanh", gelu_tanh, P, true);
}
static void case_silu(void) { unary_cases("silu", nb_silu, P, true); }
static void case_mish(void) { unary_cases("mish", nb_mish, P, true); }
static tp softplus_default(tp x) { return nb_softplus(x, 1, 20); }
static tp softplus_b2(tp x) { return nb_softplus(x, 2, 3); } /* x > 1.5 is linear */
static void case_softplus(void) {
    unary_cases("softplus", softplus_default, P, true);
    unary_cases("softplus(beta 2, threshold 3)", softplus_b2, Pkinkfree, true);
}
static tp hardtanh_wide(tp x) { return nb_hardtanh(x, -2, 2.5); }
static void case_hardtanh(void) {
    unary_cases("hardtanh(-2, 2.5)", hardtanh_wide, Pkinkfree, false);
    unary_ud u = {nb_relu6, 0};
    GC("hardtanh via relu6 [17]", f_unary, &u, Pkinkfree(NB_SHAPE(17)));
}
static void case_relu6(void) { unary_cases("relu6", nb_relu6, Pkinkfree, false); }
static void case_hardswish(void) { unary_cases("hardswish", nb_hardswish, Pkinkfree, true); }
static void case_hardsigmoid(void) { unary_cases("hardsigmoid", nb_hardsigmoid, Pkinkfree, false); }
static tp clamp_both(tp x) { return nb_clamp(x, -0.5, 1.25); }
static tp clamp_min(tp x) { return nb_clamp(x, 0.25, NAN); }
static tp clamp_max(tp x) { return nb_clamp(x, NAN, -1.5); }
static tp clamp_crossed(tp x) { return nb_clamp(x, 1, -1); } /* min > max: constant, zero gradient */
static void case_clamp(void) {
    unary_cases("clamp(-0.5, 1.25)", clamp_both, Pkinkfree, false);
    unary_cases("clamp(min 0.25)", clamp_min, Pkinkfree, false);
    unary_cases("clamp(max -1.5)", clamp_max, Pkinkfree, false);
    unary_ud u = {clamp_crossed, 0};
    GC("clamp(1, -1) [17]", f_unary, &u, Pkinkfree(NB_SHAPE(17)));
}
static tp nan_to_num0(tp x) { return nb_nan_to_num(x, 0, NAN, NAN); }
static void case_nan_to_num(void) { unary_cases("nan_to_num", nan_to_num0, P, false); }

/* pow with a scalar exponent: 0 (zero gradient even at x = 0), 1, 2, 0.5, -1, 3 */
static tp f_pow0_at_zero(tp const *in, void *ud) {
    (void)ud;
    return nb_pow_scalar(nb_mul_scalar(in[0], 0.0), 0.0); /* base exactly 0: 0^0 = 1, gradient 0 */
}
static void case_pow_scalar(void) {
    static const double ex[] = {0, 1, 2, 0.5, -1, 3};
    char what[96];
    for (int i = 0; i < 6; i++) {
        scalar_ud s = {nb_pow_scalar, ex[i]};
        bool pos = ex[i] == 0.5 || ex[i] == -1;
        tp (*mk)(int, const int64_t *) = pos ? Ppos : P;
        snprintf(what, sizeof what, "pow_scalar x^%g [1]", ex[i]);
        GC(what, f_scalar, &s, mk(NB_SHAPE(1)));
        snprintf(what, sizeof what, "pow_scalar x^%g [7]", ex[i]);
        GC(what, f_scalar, &s, mk(NB_SHAPE(7)));
        snprintf(what, sizeof what, "pow_scalar x^%g [17, 3]", ex[i]);
        GC(what, f_scalar, &s, mk(NB_SHAPE(17, 3)));
        double_ud d = {f_scalar, &s, 1};
        snprintf(what, sizeof what, "pow_scalar x^%g second derivative", ex[i]);
        GC(what, f_double, &d, mk(NB_SHAPE(7)), V(7));
    }
    GC("pow_scalar 0^0", f_pow0_at_zero, NULL, P(NB_SHAPE(7)));
    scalar_ud sq = {nb_pow_scalar, 2};
    GC("pow_scalar x^2 at x = 0", f_scalar, &sq, nb_param(nb_zeros(NB_SHAPE(3), NB_F64)));
}

static void case_atan2(void) { binary_cases("atan2", nb_atan2, mk_normal, mk_normal, true); }
static tp mk_away(int nd, const int64_t *s, int k) { return (void)k, Paway(nd, s); }
static void case_fmod(void) { binary_cases("fmod", nb_fmod, mk_normal, mk_away, false); }
static void case_remainder(void) { binary_cases("remainder", nb_remainder, mk_normal, mk_away, false); }

/* ---- ternary ------------------------------------------------------------------------------------- */

typedef struct ternary_ud {
    int which; /* 0 lerp, 1 lerp_scalar (weight = w), 2 addcmul (value = w) */
    double w;
    bool transpose; /* operand #1 transposed (dims 0, 1) */
} ternary_ud;
static tp f_ternary(tp const *in, void *ud) {
    ternary_ud *t = ud;
    tp a = t->transpose ? nb_transpose(in[0], 0, 1) : in[0];
    if (t->which == 0) return nb_lerp(a, in[1], in[2]);
    if (t->which == 1) return nb_lerp_scalar(a, in[1], t->w);
    return nb_addcmul(a, in[1], in[2], t->w);
}

static void ternary_cases(const char *name, int which, double w) {
    char what[96];
    ternary_ud u = {which, w, false}, ut = {which, w, true};
    bool three = which != 1;
#define T3(desc, ud, a, b, c)                                                                      \
    do {                                                                                           \
        snprintf(what, sizeof what, "%s %s", name, desc);                                          \
        if (three) GC(what, f_ternary, ud, a, b, c);                                               \
        else GC(what, f_ternary, ud, a, b);                                                        \
    } while (0)
    T3("[1]", &u, P(NB_SHAPE(1)), P(NB_SHAPE(1)), P(NB_SHAPE(1)));
    T3("[7]", &u, P(NB_SHAPE(7)), P(NB_SHAPE(7)), P(NB_SHAPE(7)));
    T3("[17, 1] [1, 7] [7] (broadcast)", &u, P(NB_SHAPE(17, 1)), P(NB_SHAPE(1, 7)), P(NB_SHAPE(7)));
    T3("0-d [3, 1] [1, 17] (broadcast)", &u, P(NB_SCALAR), P(NB_SHAPE(3, 1)), P(NB_SHAPE(1, 17)));
    T3("transpose([7, 3]) [3, 7] [3, 1]", &ut, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3, 7)), P(NB_SHAPE(3, 1)));
    T3("constant middle operand", &u, P(NB_SHAPE(7)), nb_randn(NB_SHAPE(3, 7), NB_F64), P(NB_SHAPE(7)));
#undef T3
    int nx = three ? 3 : 2;
    double_ud d = {f_ternary, &u, nx};
    snprintf(what, sizeof what, "%s second derivative", name);
    if (three) GC(what, f_double, &d, P(NB_SHAPE(7, 1)), P(NB_SHAPE(1, 3)), P(NB_SHAPE(3)), V(7, 3));
    else GC(what, f_double, &d, P(NB_SHAPE(7, 1)), P(NB_SHAPE(1, 3)), V(7, 3));
}
static void case_lerp(void) { ternary_cases("lerp", 0, 0); }
static void case_lerp_scalar(void) {
    ternary_cases("lerp_scalar(0.3)", 1, 0.3);
    ternary_cases("lerp_scalar(0.8)", 1, 0.8);
}
static void case_addcmul(void) {
    ternary_cases("addcmul(0.5)", 2, 0.5);
    ternary_cases("addcmul(-2)", 2, -2);
}

const grad_case gc_cases_pointwise[] = {
    {"log1p", case_log1p},
    {"expm1", case_expm1},
    {"square", case_square},
    {"reciprocal", case_reciprocal},
    {"rsqrt", case_rsqrt},
    {"sin", case_sin},
    {"cos", case_cos},
    {"erf", case_erf},
    {"leaky_relu", case_leaky_relu},
    {"elu", case_elu},
    {"selu", case_selu},
    {"celu", case_celu},
    {"gelu", case_gelu},
    {"silu", case_silu},
    {"mish", case_mish},
    {"softplus", case_softplus},
    {"hardtanh", case_hardtanh},
    {"relu6", case_relu6},
    {"hardswish", case_hardswish},
    {"hardsigmoid", case_hardsigmoid},
    {"clamp", case_clamp},
    {"nan_to_num", case_nan_to_num},
    {"pow_scalar", case_pow_scalar},
    {"atan2", case_atan2},
    {"fmod", case_fmod},
    {"remainder", case_remainder},
    {"lerp", case_lerp},
    {"lerp_scalar", case_lerp_scalar},
    {"addcmul", case_addcmul},
    {NULL, NULL},
};
