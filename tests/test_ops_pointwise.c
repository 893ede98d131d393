/* tests/test_ops_pointwise.c — the pointwise family (src/ops/pointwise.def) against plain f64
 * references: every float dtype (f16 / bf16 computed in f32 and rounded), integer and bool inputs per
 * op kind, 0-d / empty / awkward shapes (1, 7, 17, 129), contiguous, transposed, stepped and expanded
 * inputs, broadcasting for the binaries and ternaries, special values (inf, NaN, -0, ties), the
 * gradient masks at the ends of clamp / hardtanh / nan_to_num, and every error path. */
#include "ref.h"

#include <float.h>

#define PW_PI 3.14159265358979323846

typedef nb_tensor *(*unary_fn)(nb_tensor *);
typedef nb_tensor *(*binary_fn)(nb_tensor *, nb_tensor *);

#define F32 NB_F32
#define F64 NB_F64
#define F16 NB_F16
#define BF16 NB_BF16
#define I8 NB_I8
#define U8 NB_U8
#define I32 NB_I32
#define I64 NB_I64
#define BOOL NB_BOOL

/* PyTorch's promotion (as tests/test_ops_binary.c; i8 with u8 gives i32: nabla has no i16). */
static const nb_dtype k_promote[9][9] = {
    /*          f32  f64  f16   bf16  i8    u8    i32   i64   bool */
    /* f32  */ {F32, F64, F32, F32, F32, F32, F32, F32, F32},
    /* f64  */ {F64, F64, F64, F64, F64, F64, F64, F64, F64},
    /* f16  */ {F32, F64, F16, F32, F16, F16, F16, F16, F16},
    /* bf16 */ {F32, F64, F32, BF16, BF16, BF16, BF16, BF16, BF16},
    /* i8   */ {F32, F64, F16, BF16, I8, I32, I32, I64, I8},
    /* u8   */ {F32, F64, F16, BF16, I32, U8, I32, I64, U8},
    /* i32  */ {F32, F64, F16, BF16, I32, I32, I32, I64, I32},
    /* i64  */ {F32, F64, F16, BF16, I64, I64, I64, I64, I64},
    /* bool */ {F32, F64, F16, BF16, I8, U8, I32, I64, BOOL},
};

/* ==== unary ====================================================================================== */

#define SELU_A 1.6732632423543772848170429916717
#define SELU_S 1.0507009873554804934193349852946

static double r_square(double x) { return x * x; }
static double r_recip(double x) { return 1 / x; }
static double r_rsqrt(double x) { return 1 / sqrt(x); }
static double r_leaky(double x) { return x > 0 ? x : 0.2 * x; }
static double r_elu(double x) { return x > 0 ? x : 0.7 * (exp(x) - 1); }
static double r_selu(double x) { return SELU_S * (x > 0 ? x : SELU_A * (exp(x) - 1)); }
static double r_celu(double x) { return fmax(0, x) + fmin(0, 1.5 * (exp(x / 1.5) - 1)); }
static double r_gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double r_gelu_tanh(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / PW_PI) * (x + 0.044715 * x * x * x))); }
static double r_silu(double x) { return x / (1 + exp(-x)); }
static double r_mish(double x) { return x * tanh(log1p(exp(x))); }
static double r_softplus(double x) { return 2 * x > 5 ? x : log1p(exp(2 * x)) / 2; }
static double r_hardtanh(double x) { return x < -1.5 ? -1.5 : x > 2 ? 2 : x; }
static double r_relu6(double x) { return x < 0 ? 0 : x > 6 ? 6 : x; }
static double r_hardswish(double x) { return x <= -3 ? 0 : x >= 3 ? x : x * (x + 3) / 6; }
static double r_hardsigmoid(double x) { return x <= -3 ? 0 : x >= 3 ? 1 : x / 6 + 0.5; }
static double r_clamp(double x) { return x < -1.25 ? -1.25 : x > 2.5 ? 2.5 : x; }
static double r_clamp_int(double x) { return x < -3 ? -3 : x > 5 ? 5 : x; }
static double r_clamp_min(double x) { return x < 0.5 ? 0.5 : x; }
static double r_clamp_max(double x) { return x > -2 ? -2 : x; }
static double r_round(double x) { return nearbyint(x); }
static double r_ident(double x) { return x; }
static double r_false(double x) { return (void)x, 0; }
static double r_true(double x) { return (void)x, 1; }

static nb_tensor *leaky(nb_tensor *x) { return nb_leaky_relu(x, 0.2); }
static nb_tensor *elu07(nb_tensor *x) { return nb_elu(x, 0.7); }
static nb_tensor *celu15(nb_tensor *x) { return nb_celu(x, 1.5); }
static nb_tensor *gelu_n(nb_tensor *x) { return nb_gelu(x, NB_GELU_NONE); }
static nb_tensor *gelu_t(nb_tensor *x) { return nb_gelu(x, NB_GELU_TANH); }
static nb_tensor *softplus25(nb_tensor *x) { return nb_softplus(x, 2, 5); }
static nb_tensor *hardtanh152(nb_tensor *x) { return nb_hardtanh(x, -1.5, 2); }
static nb_tensor *clamp_frac(nb_tensor *x) { return nb_clamp(x, -1.25, 2.5); }
static nb_tensor *clamp_int(nb_tensor *x) { return nb_clamp(x, -3, 5); }
static nb_tensor *clamp_min(nb_tensor *x) { return nb_clamp(x, 0.5, NAN); }
static nb_tensor *clamp_max(nb_tensor *x) { return nb_clamp(x, NAN, -2); }
static nb_tensor *nan_to_num0(nb_tensor *x) { return nb_nan_to_num(x, 0, NAN, NAN); }

/* How integer / bool inputs behave (mirrors src/ops/pointwise.c). */
enum { K_MATH, K_ACT, K_ROUND, K_SQUARE, K_CLAMP_F, K_CLAMP_I, K_PRED, K_NAN };

typedef struct unary_case {
    const char *name;  /* registry name (for messages: nb_<name>) */
    unary_fn fn;
    double (*ref)(double);
    int kind;
    double lo, hi;     /* input range */
} unary_case;

static const unary_case k_unary[] = {
    {"log1p", nb_log1p, log1p, K_MATH, -0.875, 20},
    {"expm1", nb_expm1, expm1, K_MATH, -10, 10},
    {"square", nb_square, r_square, K_SQUARE, -20, 20},
    {"reciprocal", nb_reciprocal, r_recip, K_MATH, -8, 8},
    {"rsqrt", nb_rsqrt, r_rsqrt, K_MATH, 0.125, 30},
    {"sin", nb_sin, sin, K_MATH, -10, 10},
    {"cos", nb_cos, cos, K_MATH, -10, 10},
    {"erf", nb_erf, erf, K_MATH, -4, 4},
    {"leaky_relu", leaky, r_leaky, K_ACT, -10, 10},
    {"elu", elu07, r_elu, K_ACT, -10, 10},
    {"selu", nb_selu, r_selu, K_ACT, -10, 10},
    {"celu", celu15, r_celu, K_ACT, -10, 10},
    {"gelu", gelu_n, r_gelu, K_ACT, -10, 10},
    {"gelu", gelu_t, r_gelu_tanh, K_ACT, -10, 10},
    {"silu", nb_silu, r_silu, K_ACT, -20, 20},
    {"mish", nb_mish, r_mish, K_ACT, -20, 20},
    {"softplus", softplus25, r_softplus, K_ACT, -20, 20},
    {"hardtanh", hardtanh152, r_hardtanh, K_ACT, -4, 4},
    {"relu6", nb_relu6, r_relu6, K_ACT, -4, 10},
    {"hardswish", nb_hardswish, r_hardswish, K_ACT, -5, 5},
    {"hardsigmoid", nb_hardsigmoid, r_hardsigmoid, K_ACT, -5, 5},
    {"floor", nb_floor, floor, K_ROUND, -10, 10},
    {"ceil", nb_ceil, ceil, K_ROUND, -10, 10},
    {"round", nb_round, r_round, K_ROUND, -10, 10},
    {"trunc", nb_trunc, trunc, K_ROUND, -10, 10},
    {"clamp", clamp_frac, r_clamp, K_CLAMP_F, -5, 5},
    {"clamp", clamp_int, r_clamp_int, K_CLAMP_I, -10, 10},
    {"clamp", clamp_min, r_clamp_min, K_CLAMP_F, -5, 5},
    {"clamp", clamp_max, r_clamp_max, K_CLAMP_I, -5, 5},
    {"nan_to_num", nan_to_num0, r_ident, K_NAN, -10, 10},
    {"isnan", nb_isnan, r_false, K_PRED, -10, 10},
    {"isinf", nb_isinf, r_false, K_PRED, -10, 10},
    {"isfinite", nb_isfinite, r_true, K_PRED, -10, 10},
};

typedef struct shape_case {
    int nd;
    int64_t s[4];
} shape_case;

static const shape_case k_shapes[] = {
    {0, {0}},       {1, {1}},    {1, {7}},       {2, {17, 7}},    {3, {7, 1, 17}},
    {2, {129, 17}}, {2, {0, 7}}, {3, {3, 0, 5}}, {2, {129, 129}}, {4, {1, 7, 17, 1}},
};

/* The output dtype for input dtype dt, or -1 when the op refuses dt. */
static int unary_out(const unary_case *c, nb_dtype dt) {
    if (c->kind == K_PRED) return NB_BOOL;
    if (nb_dtype_is_float(dt)) return dt;
    switch (c->kind) {
    case K_MATH: return NB_F32;
    case K_ACT: return -1;
    case K_ROUND:
    case K_CLAMP_I: return dt == NB_BOOL ? -1 : (int)dt;
    case K_CLAMP_F: return dt == NB_BOOL ? -1 : NB_F32;
    case K_SQUARE: return dt == NB_BOOL ? NB_I64 : (int)dt;
    default: return dt; /* K_NAN */
    }
}

static void check_unary(const unary_case *c, nb_dtype dt, const shape_case *sh, ref_layout layout) {
    double lo = c->lo, hi = c->hi;
    if (!nb_dtype_is_float(dt)) {
        lo = ceil(lo), hi = floor(hi);
        if (dt == NB_U8 && lo < 0) lo = 0;
        if (dt == NB_BOOL) lo = 0, hi = 1;
        if (c->fn == nb_log1p && lo < 0) lo = 0;
    }
    int64_t n = ref_numel(sh->nd, sh->s);
    double *x = ref_values(n, dt, lo, hi);
    nb_tensor *t = ref_tensor(x, sh->nd, sh->s, dt, layout);
    ref_set_ctx("nb_%s %s %s %s", c->name, nb_dtype_name(dt), ref_shape_str(sh->nd, sh->s), ref_layout_name[layout]);
    nb_tensor *y = c->fn(t);
    int out = unary_out(c, dt);
    if (out < 0) {
        char fn[40];
        snprintf(fn, sizeof fn, "nb_%s", c->name);
        CHECK_MSG(!y && strstr(nb_last_error(), fn) && strstr(nb_last_error(), nb_dtype_name(dt)),
                  "%s: expected an error naming %s and the dtype, got %s", ref_ctx, fn, y ? "a result" : nb_last_error());
        nb_clear_error();
    } else {
        double *r = ref_darray(n);
        for (int64_t i = 0; i < n; i++) {
            double v = c->ref(x[i]);
            r[i] = nb_dtype_is_float((nb_dtype)out) || out == NB_BOOL ? v : ref_wrap(v, (nb_dtype)out);
        }
        CHECK_REF_DT(y, (nb_dtype)out, sh->nd, sh->s, r);
        CHECK_MSG(y && nb_is_contiguous(y), "%s: output not contiguous", ref_ctx);
        CHECK_REF(t, dt, sh->nd, sh->s, x, 0, 0); /* the input is untouched */
    }
    nb_free(y);
    nb_free(t);
}

static void test_unary_float(void) {
    ref_seed(1);
    for (int k = 0; k < REF_COUNT(k_unary); k++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < REF_LAYOUTS; l++) check_unary(&k_unary[k], ref_float_dtypes[d], &k_shapes[s], l);
}

static void test_unary_int_bool(void) {
    ref_seed(2);
    static const nb_dtype dts[] = {NB_I8, NB_U8, NB_I32, NB_I64, NB_BOOL};
    static const shape_case sh[] = {{0, {0}}, {1, {7}}, {2, {17, 7}}, {2, {0, 3}}, {2, {129, 17}}};
    for (int k = 0; k < REF_COUNT(k_unary); k++)
        for (int d = 0; d < REF_COUNT(dts); d++)
            for (int s = 0; s < REF_COUNT(sh); s++)
                for (int l = 0; l < REF_LAYOUTS; l += 2) check_unary(&k_unary[k], dts[d], &sh[s], l);
}

/* An expanded (stride-0) input: every op reads through the broadcast. */
static void test_unary_expanded(void) {
    nb_tensor *base = nb_from_data(((const double[]){-2.5, 0.375, 1.5}), NB_SHAPE(3, 1), NB_F64);
    nb_tensor *x = nb_expand(base, NB_SHAPE(3, 17));
    for (int k = 0; k < REF_COUNT(k_unary); k++) {
        const unary_case *c = &k_unary[k];
        ref_set_ctx("nb_%s expanded [3, 1] -> [3, 17]", c->name);
        double r[51];
        for (int i = 0; i < 51; i++) r[i] = c->ref(((const double[]){-2.5, 0.375, 1.5})[i / 17]);
        CHECK_REF_DT(c->fn(x), unary_out(c, NB_F64), NB_SHAPE(3, 17), r);
    }
}

/* inf, NaN, -0, ties and overflow, in every float dtype. */
static void test_unary_special(void) {
    const double inf = INFINITY, nan = NAN;
    const double x[] = {-inf, -1, -0.0, 0, 1, inf, nan};
    enum { N = 7 };
    for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++) {
        nb_dtype dt = ref_float_dtypes[d];
        nb_tensor *t = ref_contig(x, NB_SHAPE(N), dt);
#define SPECIAL(expr, ...)                                                                         \
    do {                                                                                           \
        ref_set_ctx("special values %s %s", nb_dtype_name(dt), #expr);                             \
        CHECK_REF_DT(expr, dt, NB_SHAPE(N), ((const double[]){__VA_ARGS__}));                     \
    } while (0)
        SPECIAL(nb_log1p(t), nan, -inf, 0, 0, log(2), inf, nan);
        SPECIAL(nb_expm1(t), -1, expm1(-1), 0, 0, expm1(1), inf, nan);
        SPECIAL(nb_reciprocal(t), 0, -1, -inf, inf, 1, 0, nan);
        SPECIAL(nb_rsqrt(t), nan, nan, -inf, inf, 1, 0, nan);
        SPECIAL(nb_erf(t), -1, erf(-1), 0, 0, erf(1), 1, nan);
        SPECIAL(nb_leaky_relu(t, 0.5), -inf, -0.5, 0, 0, 1, inf, nan);
        SPECIAL(nb_elu(t, 2), -2, 2 * expm1(-1), 0, 0, 1, inf, nan);
        /* as PyTorch's formulas: -inf * 0 is NaN for gelu, silu, mish, hardswish */
        SPECIAL(nb_gelu(t, NB_GELU_NONE), nan, r_gelu(-1), 0, 0, r_gelu(1), inf, nan);
        SPECIAL(nb_silu(t), nan, r_silu(-1), 0, 0, r_silu(1), inf, nan);
        SPECIAL(nb_mish(t), nan, r_mish(-1), 0, 0, r_mish(1), inf, nan);
        SPECIAL(nb_softplus(t, 1, 20), 0, log1p(exp(-1)), log(2), log(2), log1p(exp(1)), inf, nan);
        SPECIAL(nb_hardtanh(t, -0.5, 0.5), -0.5, -0.5, 0, 0, 0.5, 0.5, nan);
        SPECIAL(nb_hardswish(t), nan, -1.0 / 3, 0, 0, 2.0 / 3, inf, nan);
        SPECIAL(nb_hardsigmoid(t), 0, 1.0 / 3, 0.5, 0.5, 2.0 / 3, 1, nan);
        SPECIAL(nb_floor(t), -inf, -1, 0, 0, 1, inf, nan);
        SPECIAL(nb_round(t), -inf, -1, 0, 0, 1, inf, nan);
        SPECIAL(nb_clamp(t, -0.5, 0.5), -0.5, -0.5, 0, 0, 0.5, 0.5, nan);
        SPECIAL(nb_nan_to_num(t, 7, 100, -200), -200, -1, 0, 0, 1, 100, 7);
#undef SPECIAL
        /* nan_to_num's defaults: the largest finite value of the dtype */
        double big = dt == NB_F64 ? DBL_MAX : dt == NB_F32 ? FLT_MAX : dt == NB_F16 ? 65504.0 : 3.3895313892515355e38;
        ref_set_ctx("nan_to_num defaults %s", nb_dtype_name(dt));
        CHECK_REF(nb_nan_to_num(t, 0, NAN, NAN), dt, NB_SHAPE(N), ((const double[]){-big, -1, 0, 0, 1, big, 0}), 0, 0);
        ref_set_ctx("isnan / isinf / isfinite %s", nb_dtype_name(dt));
        CHECK_REF(nb_isnan(t), NB_BOOL, NB_SHAPE(N), ((const double[]){0, 0, 0, 0, 0, 0, 1}), 0, 0);
        CHECK_REF(nb_isinf(t), NB_BOOL, NB_SHAPE(N), ((const double[]){1, 0, 0, 0, 0, 1, 0}), 0, 0);
        CHECK_REF(nb_isfinite(t), NB_BOOL, NB_SHAPE(N), ((const double[]){0, 1, 1, 1, 1, 0, 0}), 0, 0);
        /* round: half to even, like torch.round */
        nb_tensor *h = ref_contig(((const double[]){0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5}), NB_SHAPE(7), dt);
        ref_set_ctx("round half to even %s", nb_dtype_name(dt));
        CHECK_REF(nb_round(h), dt, NB_SHAPE(7), ((const double[]){0, 2, 2, -0.0, -2, -2, 4}), 0, 0);
        CHECK(signbit(h_get(nb_round(h), NB_LIST(3))));
        CHECK(signbit(h_get(nb_reciprocal(t), NB_LIST(2))) && signbit(h_get(nb_ceil(nb_neg(h)), NB_LIST(0))));
    }
    /* reciprocal / rsqrt of 0 stay exact infinities; the f16 square of 300 overflows to inf */
    nb_tensor *s = nb_full(NB_SHAPE(2), 300, NB_F16);
    ref_set_ctx("f16 square overflow");
    CHECK_REF(nb_square(s), NB_F16, NB_SHAPE(2), ((const double[]){INFINITY, INFINITY}), 0, 0);
    /* accuracy where naive formulas cancel: log1p / expm1 near 0, gelu in the far negative tail */
    nb_tensor *tiny = nb_from_data(((const double[]){1e-10, -3e-9}), NB_SHAPE(2), NB_F64);
    ref_set_ctx("log1p / expm1 near 0 (f64)");
    CHECK_REF(nb_log1p(tiny), NB_F64, NB_SHAPE(2), ((const double[]){log1p(1e-10), log1p(-3e-9)}), 1e-15, 0);
    CHECK_REF(nb_expm1(tiny), NB_F64, NB_SHAPE(2), ((const double[]){expm1(1e-10), expm1(-3e-9)}), 1e-15, 0);
    nb_tensor *tail = nb_from_data(((const double[]){-7, -9}), NB_SHAPE(2), NB_F64);
    ref_set_ctx("gelu negative tail (relative accuracy through erfc)");
    CHECK_REF(nb_gelu(tail, NB_GELU_NONE), NB_F64, NB_SHAPE(2),
              ((const double[]){-3.5 * erfc(7 / sqrt(2.0)), -4.5 * erfc(9 / sqrt(2.0))}), 1e-13, 0);
    nb_tensor *tailf = nb_to(tail, NB_F32);
    CHECK_REF(nb_gelu(tailf, NB_GELU_NONE), NB_F32, NB_SHAPE(2),
              ((const double[]){-3.5 * erfc(7 / sqrt(2.0)), -4.5 * erfc(9 / sqrt(2.0))}), 1e-5, 0);
    ref_set_ctx("softplus large x: no overflow");
    nb_tensor *big = nb_from_data(((const double[]){100, 800}), NB_SHAPE(2), NB_F64);
    CHECK_REF(nb_softplus(big, 1, 1000), NB_F64, NB_SHAPE(2), ((const double[]){100, 800}), 1e-15, 0);
    CHECK_REF(nb_softplus(nb_to(big, NB_F32), 1, 1000), NB_F32, NB_SHAPE(2), ((const double[]){100, 800}), 1e-7, 0);
}

/* f32 accuracy against f64 over a dense sweep (every 1/4096 in [-20, 20]), in ULP of the f32 result
 * (subnormal results: ULP of 2^-149). The f32 kernels run the vector math of vmath.c; the bounds are
 * the measured maxima rounded up. gelu's tanh form is ill-conditioned for x << 0 (its value is
 * x sigmoid(2u) with u ~ x^3: a rounding of u is amplified |2u| times), so its bound grows with |2u|. */
static double ulp_f32(double r) {
    r = fabs(r);
    if (r < FLT_MIN) return ldexp(1, -149);
    int e;
    frexp(r, &e);
    return ldexp(1, e - 24);
}
static double r_gelu_tanh_exact(double x) { return x / (1 + exp(-2 * sqrt(2 / PW_PI) * (x + 0.044715 * x * x * x))); }
static double r_gelu_erfc(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
static double r_softplus1(double x) { return x > 20 ? x : log1p(exp(x)); }
static double r_elu1(double x) { return x > 0 ? x : expm1(x); }
static double r_selu_exact(double x) { return SELU_S * (x > 0 ? x : SELU_A * expm1(x)); }
static nb_tensor *softplus1(nb_tensor *x) { return nb_softplus(x, 1, 20); }
static nb_tensor *elu1(nb_tensor *x) { return nb_elu(x, 1); }

static void test_f32_accuracy(void) {
    enum { N = 40 * 4096 + 1 };
    float *xs = malloc(sizeof(float) * N), *ys = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) xs[i] = -20 + (float)i / 4096.0f;
    nb_tensor *x = nb_from_data(xs, NB_SHAPE(N), NB_F32);
    static const struct {
        const char *name;
        unary_fn fn;
        double (*ref)(double);
        double bound, lo;
    } k[] = {
        {"gelu", gelu_n, r_gelu_erfc, 7.5, -20},   {"gelu tanh", gelu_t, r_gelu_tanh_exact, 3, -20},
        {"silu", nb_silu, r_silu, 3, -20},          {"mish", nb_mish, r_mish, 4.5, -20},
        {"softplus", softplus1, r_softplus1, 3, -20}, {"elu", elu1, r_elu1, 2, -20},
        {"selu", nb_selu, r_selu_exact, 3, -20},    {"erf", nb_erf, erf, 1.5, -20},
        {"log1p", nb_log1p, log1p, 1, -0.99},       {"expm1", nb_expm1, expm1, 2, -20},
    };
    for (int c = 0; c < REF_COUNT(k); c++) {
        nb_tensor *y = k[c].fn(x);
        CHECK(y && nb_copy_to(y, ys, sizeof(float) * N, NB_F32) == 0);
        double worst = 0, at = 0;
        for (int i = 0; i < N; i++) {
            if (xs[i] < k[c].lo) continue;
            double r = k[c].ref(xs[i]), err = fabs(ys[i] - r) / ulp_f32(r), bound = k[c].bound;
            if (k[c].fn == gelu_t) bound += 3 * fabs(2 * sqrt(2 / PW_PI) * (xs[i] + 0.044715 * xs[i] * xs[i] * xs[i]));
            if (err / bound > worst) worst = err / bound, at = xs[i];
        }
        CHECK_MSG(worst <= 1, "f32 %s: error %.2f times its bound at x = %.6g", k[c].name, worst, at);
        nb_free(y);
    }
    nb_free(x);
    free(xs);
    free(ys);
}

/* Integer limits: square wraps, clamp saturates huge bounds, rounding keeps every integer. */
static void test_unary_int_limits(void) {
    const int64_t big[] = {INT64_MIN, -(INT64_C(1) << 62) - 3, INT64_MAX, 3037000500};
    nb_tensor *b = nb_from_data(big, NB_SHAPE(4), NB_I64);
    int64_t got[4];
    CHECK(nb_copy_to(nb_round(b), got, sizeof got, NB_I64) == 0 && memcmp(got, big, sizeof got) == 0);
    CHECK(nb_copy_to(nb_floor(b), got, sizeof got, NB_I64) == 0 && memcmp(got, big, sizeof got) == 0);
    CHECK(nb_copy_to(nb_nan_to_num(b, 0, NAN, NAN), got, sizeof got, NB_I64) == 0 && memcmp(got, big, sizeof got) == 0);
    CHECK(nb_copy_to(nb_square(b), got, sizeof got, NB_I64) == 0);
    CHECK(got[0] == 0 && got[3] == (int64_t)((uint64_t)3037000500 * 3037000500u));
    CHECK(nb_copy_to(nb_clamp(b, -1e300, 7), got, sizeof got, NB_I64) == 0);
    CHECK(got[0] == INT64_MIN && got[2] == 7 && got[3] == 7);
    nb_tensor *i8 = ref_contig(((const double[]){-128, 127, 12}), NB_SHAPE(3), NB_I8);
    ref_set_ctx("i8 square wraps");
    CHECK_REF(nb_square(i8), NB_I8, NB_SHAPE(3), ((const double[]){0, 1, -112}), 0, 0);
    ref_set_ctx("bool square is i64; clamp of u8");
    CHECK_REF(nb_square(nb_ones(NB_SHAPE(2), NB_BOOL)), NB_I64, NB_SHAPE(2), ((const double[]){1, 1}), 0, 0);
    nb_tensor *u8 = ref_contig(((const double[]){0, 100, 255}), NB_SHAPE(3), NB_U8);
    CHECK_REF(nb_clamp(u8, 10, 200), NB_U8, NB_SHAPE(3), ((const double[]){10, 100, 200}), 0, 0);
    CHECK_REF(nb_clamp(u8, 10.5, NAN), NB_F32, NB_SHAPE(3), ((const double[]){10.5, 100, 255}), 0, 0);
    /* min > max gives max everywhere, as torch.clamp */
    CHECK_REF(nb_clamp(u8, 50, 20), NB_U8, NB_SHAPE(3), ((const double[]){20, 20, 20}), 0, 0);
    nb_tensor *f = ref_contig(((const double[]){-3, 0, 30}), NB_SHAPE(3), NB_F32);
    CHECK_REF(nb_clamp(f, 5, 1), NB_F32, NB_SHAPE(3), ((const double[]){1, 1, 1}), 0, 0);
}

/* The op forms: which ops record gradients, their grad_fn names, and the gradient masks at the ends
 * of clamp (closed) and hardtanh (open), and nan_to_num (finite entries only). */
static void test_unary_grad_masks(void) {
    nb_tensor *x = nb_param(nb_from_data(((const double[]){-1, -0.5, 0, 1, 2}), NB_SHAPE(5), NB_F64));
    CHECK(nb_backward(nb_sum(nb_clamp(x, -0.5, 1), NULL)) == 0);
    ref_set_ctx("clamp gradient (closed interval)");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(5), ((const double[]){0, 1, 1, 1, 0}), 0, 0);
    nb_zero_grad(x);
    CHECK(nb_backward(nb_sum(nb_hardtanh(x, -0.5, 1), NULL)) == 0);
    ref_set_ctx("hardtanh gradient (open interval)");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(5), ((const double[]){0, 0, 1, 0, 0}), 0, 0);
    nb_zero_grad(x);
    CHECK(nb_backward(nb_sum(nb_hardswish(nb_mul_scalar(x, 3)), NULL)) == 0);
    ref_set_ctx("hardswish gradient at -3 and 3 (PyTorch: 0 below -3, x/3 + 1/2 through 3)");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(5), ((const double[]){3 * (-1 + 0.5), 3 * 0, 3 * 0.5, 3 * 1.5, 3}), 1e-15, 0);
    nb_tensor *s = nb_param(nb_from_data(((const double[]){1, INFINITY, NAN, -INFINITY}), NB_SHAPE(4), NB_F64));
    CHECK(nb_backward(nb_sum(nb_nan_to_num(s, 0, 1, -1), NULL)) == 0);
    ref_set_ctx("nan_to_num gradient");
    CHECK_REF(nb_grad(s), NB_F64, NB_SHAPE(4), ((const double[]){1, 0, 0, 0}), 0, 0);
    /* rounding and predicates are not differentiable: their results do not require grad */
    CHECK(!nb_requires_grad(nb_floor(x)) && !nb_requires_grad(nb_round(x)) && !nb_requires_grad(nb_isnan(x)));
    CHECK(nb_requires_grad(nb_gelu(x, NB_GELU_TANH)) && strcmp(nb_grad_fn_name(nb_gelu(x, NB_GELU_TANH)), "GeluBackward") == 0);
    CHECK(strcmp(nb_grad_fn_name(nb_selu(x)), "EluBackward") == 0);
    CHECK(strcmp(nb_grad_fn_name(nb_relu6(x)), "HardtanhBackward") == 0);
    /* pow_scalar with exponent 0: gradient 0 even at x = 0 (PyTorch), not 0 * inf */
    nb_tensor *z = nb_param(nb_zeros(NB_SHAPE(3), NB_F64));
    CHECK(nb_backward(nb_sum(nb_pow_scalar(z, 0), NULL)) == 0);
    ref_set_ctx("pow_scalar(x, 0) gradient at 0");
    CHECK_REF(nb_grad(z), NB_F64, NB_SHAPE(3), ((const double[]){0, 0, 0}), 0, 0);
}

/* activation_backward: the fused gradient a plain backward uses, against the composite formula that
 * create_graph uses, evaluated in f64 on the same values; every float dtype and layout. */
static void test_activation_backward(void) {
    ref_seed(30);
    static const struct {
        const char *name;
        unary_fn fn;
        double lo, hi;
    } k[] = {
        {"leaky_relu", leaky, -5, 5},    {"elu", elu07, -5, 5},          {"selu", nb_selu, -5, 5},
        {"celu", celu15, -5, 5},         {"gelu", gelu_n, -6, 6},        {"gelu tanh", gelu_t, -6, 6},
        {"silu", nb_silu, -12, 12},      {"mish", nb_mish, -12, 25},     {"softplus", softplus25, -6, 6},
        {"hardtanh", hardtanh152, -4, 4}, {"relu6", nb_relu6, -3, 9},    {"hardswish", nb_hardswish, -5, 5},
        {"hardsigmoid", nb_hardsigmoid, -5, 5}, {"relu (unary.c, same fused path)", nb_relu, -5, 5},
    };
    static const shape_case sh[] = {{0, {0}}, {1, {1}}, {2, {17, 7}}, {2, {129, 17}}, {2, {0, 7}}};
    for (int c = 0; c < REF_COUNT(k); c++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
            for (int s = 0; s < REF_COUNT(sh); s++)
                for (int l = 0; l < REF_LAYOUTS; l += 1 + (s == 3)) {
                    nb_dtype dt = ref_float_dtypes[d];
                    int64_t n = ref_numel(sh[s].nd, sh[s].s);
                    double *xv = ref_values(n, dt, k[c].lo, k[c].hi), *wv = ref_values(n, dt, -2, 2);
                    nb_tensor *x = nb_param(ref_tensor(xv, sh[s].nd, sh[s].s, dt, l));
                    nb_tensor *w = ref_contig(wv, sh[s].nd, sh[s].s, dt);
                    ref_set_ctx("activation_backward of %s %s %s %s", k[c].name, nb_dtype_name(dt),
                                ref_shape_str(sh[s].nd, sh[s].s), ref_layout_name[l]);
                    nb_tensor *y = k[c].fn(x);
                    CHECK(nb_backward(nb_sum(nb_mul(y, w), NULL)) == 0);
                    /* the reference: the composite gradient (create_graph) in f64 */
                    nb_tensor *x64 = nb_param(ref_contig(xv, sh[s].nd, sh[s].s, NB_F64));
                    nb_tensor *w64 = ref_contig(wv, sh[s].nd, sh[s].s, NB_F64), *y64 = k[c].fn(x64), *g64 = NULL;
                    nb_autograd_opts o = {.grad_outputs = &w64, .create_graph = true};
                    CHECK(nb_autograd_grad(&y64, 1, &x64, 1, &o, &g64) == 0);
                    bool linear_pieces = k[c].fn == leaky || k[c].fn == hardtanh152 || k[c].fn == nb_relu6 || k[c].fn == nb_hardsigmoid ||
                                         k[c].fn == nb_relu;
                    CHECK_MSG(g64 && (linear_pieces || nb_requires_grad(g64)), "%s: the create_graph gradient is not differentiable",
                              ref_ctx);
                    double tol = dt == NB_F64 ? 1e-13 : dt == NB_F32 ? 2e-5 : dt == NB_F16 ? 4e-3 : 3e-2;
                    CHECK_REF(nb_grad(x), dt, sh[s].nd, sh[s].s, ref_read(g64), tol, tol);
                    nb_free(g64);
                    nb_free(y64);
                    nb_free(w64);
                    nb_free(x64);
                    nb_free(y);
                    nb_free(w);
                    nb_free(x);
                }
}

/* pow with a scalar exponent: the listed exponents, float and integer tensors. */
static void test_pow_scalar(void) {
    ref_seed(7);
    static const double ex[] = {0, 1, 2, 0.5, -1, 3};
    for (int e = 0; e < 6; e++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++) {
            nb_dtype dt = ref_float_dtypes[d];
            double *x = ref_values(17 * 7, dt, 0.125, 4);
            nb_tensor *t = ref_tensor(x, NB_SHAPE(17, 7), dt, REF_TRANSPOSED);
            double *r = ref_darray(17 * 7);
            for (int i = 0; i < 17 * 7; i++) r[i] = pow(x[i], ex[e]);
            ref_set_ctx("nb_pow_scalar %s ^ %g", nb_dtype_name(dt), ex[e]);
            CHECK_REF_DT(nb_pow_scalar(t, ex[e]), dt, NB_SHAPE(17, 7), r);
        }
    nb_tensor *i = ref_contig(((const double[]){-3, 0, 2, 5}), NB_SHAPE(4), NB_I32);
    ref_set_ctx("nb_pow_scalar i32");
    CHECK_REF(nb_pow_scalar(i, 3), NB_I32, NB_SHAPE(4), ((const double[]){-27, 0, 8, 125}), 0, 0);
    CHECK_REF(nb_pow_scalar(i, 0), NB_I32, NB_SHAPE(4), ((const double[]){1, 1, 1, 1}), 0, 0);
    CHECK_REF(nb_pow_scalar(i, 0.5), NB_F32, NB_SHAPE(4), ((const double[]){NAN, 0, sqrt(2.0), sqrt(5.0)}), 2e-6, 0);
}

/* ==== binary ===================================================================================== */

static double r_rem(double a, double b) {
    double m = fmod(a, b);
    return m != 0 && ((b < 0) != (m < 0)) ? m + b : m;
}
static double r_band(double a, double b) { return (double)((int64_t)a & (int64_t)b); }
static double r_bor(double a, double b) { return (double)((int64_t)a | (int64_t)b); }
static double r_bxor(double a, double b) { return (double)((int64_t)a ^ (int64_t)b); }
static double r_land(double a, double b) { return (a != 0) && (b != 0); }
static double r_lor(double a, double b) { return (a != 0) || (b != 0); }
static double r_lxor(double a, double b) { return (a != 0) != (b != 0); }

enum { B_FLOAT, B_NUMBER, B_BITWISE, B_LOGICAL };

typedef struct binary_case {
    const char *name;
    binary_fn fn;
    double (*ref)(double, double);
    int kind;
} binary_case;

static const binary_case k_binary[] = {
    {"atan2", nb_atan2, atan2, B_FLOAT},
    {"fmod", nb_fmod, fmod, B_NUMBER},
    {"remainder", nb_remainder, r_rem, B_NUMBER},
    {"bitwise_and", nb_bitwise_and, r_band, B_BITWISE},
    {"bitwise_or", nb_bitwise_or, r_bor, B_BITWISE},
    {"bitwise_xor", nb_bitwise_xor, r_bxor, B_BITWISE},
    {"logical_and", nb_logical_and, r_land, B_LOGICAL},
    {"logical_or", nb_logical_or, r_lor, B_LOGICAL},
    {"logical_xor", nb_logical_xor, r_lxor, B_LOGICAL},
};

/* Output dtype, or -1 when refused. */
static int binary_out(const binary_case *c, nb_dtype a, nb_dtype b) {
    nb_dtype p = k_promote[a][b];
    switch (c->kind) {
    case B_FLOAT: return nb_dtype_is_float(p) ? (int)p : NB_F32;
    case B_NUMBER: return p == NB_BOOL ? -1 : (int)p;
    case B_BITWISE: return nb_dtype_is_float(a) || nb_dtype_is_float(b) ? -1 : (int)p;
    default: return NB_BOOL;
    }
}

typedef struct shape2 {
    int na, nb;
    int64_t a[4], b[4];
} shape2;

static const shape2 k_shapes2[] = {
    {0, 0, {0}, {0}},          {1, 1, {7}, {7}},       {2, 2, {17, 7}, {17, 7}}, {3, 2, {7, 1, 17}, {5, 17}},
    {1, 1, {1}, {129}},        {0, 2, {0}, {7, 17}},   {2, 2, {17, 1}, {1, 7}},  {2, 2, {0, 17}, {1, 17}},
    {3, 3, {1, 7, 1}, {17, 1, 7}}, {2, 2, {129, 129}, {129, 1}},
};

static void check_binary(const binary_case *c, nb_dtype da, nb_dtype db, const shape2 *s, ref_layout la, ref_layout lb) {
    bool fa = nb_dtype_is_float(da), fb = nb_dtype_is_float(db);
    int64_t na = ref_numel(s->na, s->a), nbn = ref_numel(s->nb, s->b), os[NB_MAX_DIMS];
    double *x = ref_values(na, da, fa ? -6 : da == NB_U8 ? 0 : -20, fa ? 6 : 20);
    double *y = ref_values(nbn, db, fb ? -3 : db == NB_U8 ? 0 : -7, fb ? 3 : 7);
    if (c->kind == B_NUMBER) /* no zero divisors (integer division by zero is an error, tested below) */
        for (int64_t i = 0; i < nbn; i++)
            if (y[i] == 0) y[i] = db == NB_BOOL ? 1 : 3;
    int ond = ref_bshape(s->na, s->a, s->nb, s->b, os);
    int64_t n = ref_numel(ond, os);
    nb_tensor *a = ref_tensor(x, s->na, s->a, da, la), *b = ref_tensor(y, s->nb, s->b, db, lb);
    ref_set_ctx("nb_%s %s%s (%s) with %s%s (%s)", c->name, nb_dtype_name(da), ref_shape_str(s->na, s->a),
                ref_layout_name[la], nb_dtype_name(db), ref_shape_str(s->nb, s->b), ref_layout_name[lb]);
    nb_tensor *r = c->fn(a, b);
    int od = binary_out(c, da, db);
    if (od < 0) {
        char fn[40];
        snprintf(fn, sizeof fn, "nb_%s", c->name);
        CHECK_MSG(!r && strstr(nb_last_error(), fn), "%s: expected an error naming %s", ref_ctx, fn);
        nb_clear_error();
    } else {
        double *e = ref_darray(n);
        for (int64_t i = 0; i < n; i++) {
            double v = c->ref(x[ref_bidx(i, ond, os, s->na, s->a)], y[ref_bidx(i, ond, os, s->nb, s->b)]);
            e[i] = nb_dtype_is_float((nb_dtype)od) ? v : ref_wrap(v, (nb_dtype)od);
        }
        CHECK_REF_DT(r, (nb_dtype)od, ond, os, e);
    }
    nb_free(r);
    nb_free(a);
    nb_free(b);
}

static void test_binary_dtype_pairs(void) {
    ref_seed(10);
    const shape2 s = {3, 2, {7, 1, 17}, {5, 17}};
    for (int k = 0; k < REF_COUNT(k_binary); k++)
        for (int da = 0; da < REF_COUNT(ref_all_dtypes); da++)
            for (int db = 0; db < REF_COUNT(ref_all_dtypes); db++) {
                check_binary(&k_binary[k], ref_all_dtypes[da], ref_all_dtypes[db], &s, REF_CONTIG, REF_CONTIG);
                check_binary(&k_binary[k], ref_all_dtypes[da], ref_all_dtypes[db], &s, REF_STEPPED, REF_TRANSPOSED);
            }
}

static void test_binary_shapes(void) {
    ref_seed(11);
    static const nb_dtype dts[] = {NB_F32, NB_F64, NB_I64, NB_I8, NB_BOOL};
    for (int k = 0; k < REF_COUNT(k_binary); k++)
        for (int d = 0; d < REF_COUNT(dts); d++)
            for (int s = 0; s < REF_COUNT(k_shapes2); s++)
                for (int l = 0; l < REF_LAYOUTS; l++)
                    check_binary(&k_binary[k], dts[d], dts[d], &k_shapes2[s], l, (ref_layout)((l + 1) % REF_LAYOUTS));
}

/* Signs of fmod / remainder, division by zero, expanded operands, logical ops on NaN. */
static void test_binary_special(void) {
    const double a[] = {5, -5, 5, -5, 5.5, -0.0, INFINITY, 1};
    const double b[] = {3, 3, -3, -3, 2, 3, 2, 0};
    nb_tensor *ta = nb_from_data(a, NB_SHAPE(8), NB_F64), *tb = nb_from_data(b, NB_SHAPE(8), NB_F64);
    ref_set_ctx("fmod signs");
    CHECK_REF(nb_fmod(ta, tb), NB_F64, NB_SHAPE(8), ((const double[]){2, -2, 2, -2, 1.5, 0, NAN, NAN}), 0, 0);
    ref_set_ctx("remainder signs (Python)");
    CHECK_REF(nb_remainder(ta, tb), NB_F64, NB_SHAPE(8), ((const double[]){2, 1, -1, -2, 1.5, 0, NAN, NAN}), 0, 0);
    nb_tensor *ia = nb_to(nb_slice(ta, 0, 0, 4, 1), NB_I64), *ib = nb_to(nb_slice(tb, 0, 0, 4, 1), NB_I32);
    ref_set_ctx("integer fmod / remainder signs");
    CHECK_REF(nb_fmod(ia, ib), NB_I64, NB_SHAPE(4), ((const double[]){2, -2, 2, -2}), 0, 0);
    CHECK_REF(nb_remainder(ia, ib), NB_I64, NB_SHAPE(4), ((const double[]){2, 1, -1, -2}), 0, 0);
    const int64_t lim[] = {INT64_MIN, INT64_MIN};
    const int64_t m1[] = {-1, INT64_MAX};
    nb_tensor *tl = nb_from_data(lim, NB_SHAPE(2), NB_I64), *tm = nb_from_data(m1, NB_SHAPE(2), NB_I64);
    int64_t got[2];
    CHECK(nb_copy_to(nb_fmod(tl, tm), got, sizeof got, NB_I64) == 0 && got[0] == 0 && got[1] == -1);
    CHECK(nb_copy_to(nb_remainder(tl, tm), got, sizeof got, NB_I64) == 0 && got[0] == 0 && got[1] == INT64_MAX - 1);
    nb_tensor *iz = nb_to(tb, NB_I64);
    CHECK_NULL_WITH(nb_fmod(nb_to(ta, NB_I64), iz), "nb_fmod", "division by zero");
    CHECK_NULL_WITH(nb_remainder(nb_to(ta, NB_I32), nb_to(iz, NB_U8)), "nb_remainder", "division by zero");
    ref_set_ctx("atan2 quadrants and zeros");
    nb_tensor *q = ref_contig(((const double[]){1, 1, -1, -1, 0, -0.0}), NB_SHAPE(6), NB_F32);
    nb_tensor *p = ref_contig(((const double[]){1, -1, 1, -1, -1, -1}), NB_SHAPE(6), NB_F32);
    CHECK_REF(nb_atan2(nb_to(q, NB_F32), nb_to(p, NB_F32)), NB_F32, NB_SHAPE(6),
              ((const double[]){atan2(1, 1), atan2(1, -1), atan2(-1, 1), atan2(-1, -1), PW_PI, -PW_PI}), 2e-7, 0);
    ref_set_ctx("logical ops: NaN and -0");
    nb_tensor *l = ref_contig(((const double[]){NAN, -0.0, 2, 0}), NB_SHAPE(4), NB_F32);
    nb_tensor *r = ref_contig(((const double[]){1, 1, 0, 0}), NB_SHAPE(4), NB_I8);
    CHECK_REF(nb_logical_and(nb_to(l, NB_F32), nb_to(r, NB_I8)), NB_BOOL, NB_SHAPE(4), ((const double[]){1, 0, 0, 0}), 0, 0);
    CHECK_REF(nb_logical_or(nb_to(l, NB_F32), nb_to(r, NB_I8)), NB_BOOL, NB_SHAPE(4), ((const double[]){1, 1, 1, 0}), 0, 0);
    CHECK_REF(nb_logical_xor(nb_to(l, NB_F32), nb_to(r, NB_I8)), NB_BOOL, NB_SHAPE(4), ((const double[]){0, 1, 1, 0}), 0, 0);
    CHECK_REF(nb_logical_not(nb_to(l, NB_F32)), NB_BOOL, NB_SHAPE(4), ((const double[]){0, 1, 0, 1}), 0, 0);
    ref_set_ctx("bitwise on expanded operands");
    nb_tensor *e = nb_expand(ref_contig(((const double[]){12, -1}), NB_SHAPE(2, 1), NB_I32), NB_SHAPE(2, 3));
    nb_tensor *f = ref_contig(((const double[]){10, 6, 0}), NB_SHAPE(3), NB_U8);
    CHECK_REF(nb_bitwise_and(e, f), NB_I32, NB_SHAPE(2, 3), ((const double[]){8, 4, 0, 10, 6, 0}), 0, 0);
    CHECK_REF(nb_bitwise_xor(e, f), NB_I32, NB_SHAPE(2, 3), ((const double[]){6, 10, 12, -11, -7, -1}), 0, 0);
}

/* logical_not on every dtype, bitwise_not on integers and bool. */
static void test_not(void) {
    ref_seed(12);
    static const shape_case sh[] = {{0, {0}}, {1, {7}}, {2, {17, 7}}, {2, {0, 3}}, {2, {129, 17}}};
    for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
        for (int s = 0; s < REF_COUNT(sh); s++)
            for (int l = 0; l < REF_LAYOUTS; l++) {
                nb_dtype dt = ref_all_dtypes[d];
                int64_t n = ref_numel(sh[s].nd, sh[s].s);
                double *x = ref_values(n, dt, dt == NB_U8 ? 0 : -3, 3);
                nb_tensor *t = ref_tensor(x, sh[s].nd, sh[s].s, dt, l);
                double *e = ref_darray(n), *bn = ref_darray(n);
                for (int64_t i = 0; i < n; i++) {
                    e[i] = x[i] == 0;
                    bn[i] = dt == NB_BOOL ? (x[i] == 0) : ref_wrap((double)~(int64_t)x[i], dt);
                }
                ref_set_ctx("nb_logical_not %s %s %s", nb_dtype_name(dt), ref_shape_str(sh[s].nd, sh[s].s), ref_layout_name[l]);
                CHECK_REF(nb_logical_not(t), NB_BOOL, sh[s].nd, sh[s].s, e, 0, 0);
                ref_set_ctx("nb_bitwise_not %s %s %s", nb_dtype_name(dt), ref_shape_str(sh[s].nd, sh[s].s), ref_layout_name[l]);
                if (nb_dtype_is_float(dt)) CHECK_NULL_WITH(nb_bitwise_not(t), "nb_bitwise_not", nb_dtype_name(dt));
                else CHECK_REF(nb_bitwise_not(t), dt, sh[s].nd, sh[s].s, bn, 0, 0);
                nb_free(t);
            }
}

/* ==== ternary: lerp, addcmul ====================================================================== */

typedef struct shape3 {
    int n[3];
    int64_t s[3][4];
} shape3;

static const shape3 k_shapes3[] = {
    {{0, 0, 0}, {{0}, {0}, {0}}},
    {{1, 1, 1}, {{1}, {1}, {1}}},
    {{1, 1, 1}, {{17}, {17}, {17}}},
    {{2, 2, 2}, {{129, 7}, {129, 7}, {129, 7}}},
    {{3, 2, 1}, {{7, 1, 17}, {5, 17}, {1}}},
    {{2, 2, 0}, {{17, 1}, {1, 7}, {0}}},
    {{1, 2, 3}, {{7}, {17, 1}, {3, 1, 1}}},
    {{2, 2, 2}, {{0, 7}, {1, 7}, {0, 1}}},
};

static int bshape3(const shape3 *s, int64_t *os) {
    int64_t t[NB_MAX_DIMS];
    int n = ref_bshape(s->n[0], s->s[0], s->n[1], s->s[1], t);
    return ref_bshape(n, t, s->n[2], s->s[2], os);
}

static void check_lerp(nb_dtype dt, const shape3 *s, ref_layout l) {
    double *v[3];
    nb_tensor *t[3];
    for (int i = 0; i < 3; i++) {
        int64_t n = ref_numel(s->n[i], s->s[i]);
        v[i] = i < 2 ? ref_values(n, dt, -8, 8) : ref_values(n, dt, -0.5, 1.5); /* weights include 0.5 and 1 */
        t[i] = ref_tensor(v[i], s->n[i], s->s[i], dt, (ref_layout)((l + i) % REF_LAYOUTS));
    }
    int64_t os[NB_MAX_DIMS];
    int ond = bshape3(s, os);
    int64_t n = ref_numel(ond, os);
    double *e = ref_darray(n);
    for (int64_t i = 0; i < n; i++) {
        double a = v[0][ref_bidx(i, ond, os, s->n[0], s->s[0])], b = v[1][ref_bidx(i, ond, os, s->n[1], s->s[1])];
        double w = v[2][ref_bidx(i, ond, os, s->n[2], s->s[2])];
        e[i] = a + w * (b - a);
    }
    ref_set_ctx("nb_lerp %s %s %s %s (%s)", nb_dtype_name(dt), ref_shape_str(s->n[0], s->s[0]), ref_shape_str(s->n[1], s->s[1]),
                ref_shape_str(s->n[2], s->s[2]), ref_layout_name[l]);
    /* f16 / bf16: the result rounds once from f32, but |b - a| may exceed |result| */
    double tol = dt == NB_F64 ? 1e-12 : dt == NB_F32 ? 4e-6 : dt == NB_F16 ? 2e-2 : 2e-1;
    CHECK_REF(nb_lerp(t[0], t[1], t[2]), dt, ond, os, e, ref_rtol(dt), tol);
    for (int i = 0; i < 3; i++) nb_free(t[i]);
}

static void test_lerp(void) {
    ref_seed(20);
    for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
        for (int s = 0; s < REF_COUNT(k_shapes3); s++)
            for (int l = 0; l < REF_LAYOUTS; l++) check_lerp(ref_float_dtypes[d], &k_shapes3[s], l);
    /* weight 1 gives end exactly and weight 0 start exactly (PyTorch's two-sided formula) */
    nb_tensor *a = nb_from_data(((const double[]){0.1, 1e10, -3}), NB_SHAPE(3), NB_F32);
    nb_tensor *b = nb_from_data(((const double[]){0.3, -7e-3, 1e-9}), NB_SHAPE(3), NB_F32);
    nb_tensor *af = nb_to(a, NB_F32), *bf = nb_to(b, NB_F32);
    CHECK(h_max_abs_diff(nb_lerp_scalar(af, bf, 1), bf) == 0 && h_max_abs_diff(nb_lerp_scalar(af, bf, 0), af) == 0);
    static const double ws[] = {0, 0.25, 0.5, 1, 1.75, -0.5};
    for (int k = 0; k < 6; k++) {
        ref_set_ctx("nb_lerp_scalar w = %g", ws[k]);
        nb_tensor *x = nb_from_data(((const double[]){1, 2, 3, 4, 5, 6}), NB_SHAPE(2, 3), NB_F64);
        nb_tensor *y = nb_from_data(((const double[]){-1, 0, 10}), NB_SHAPE(3), NB_F64);
        double e[6];
        for (int i = 0; i < 6; i++) e[i] = (i + 1) + ws[k] * (((const double[]){-1, 0, 10})[i % 3] - (i + 1));
        CHECK_REF(nb_lerp_scalar(nb_transpose(nb_transpose(x, 0, 1), 0, 1), y, ws[k]), NB_F64, NB_SHAPE(2, 3), e, 1e-15, 1e-15);
    }
}

static void test_addcmul(void) {
    ref_seed(21);
    static const nb_dtype dts[] = {NB_F32, NB_F64, NB_F16, NB_BF16, NB_I32, NB_I64, NB_I8};
    for (int d = 0; d < REF_COUNT(dts); d++)
        for (int s = 0; s < REF_COUNT(k_shapes3); s++)
            for (int l = 0; l < REF_LAYOUTS; l += 3) {
                nb_dtype dt = dts[d];
                double value = nb_dtype_is_float(dt) ? 0.75 : -2;
                double *v[3];
                nb_tensor *t[3];
                for (int i = 0; i < 3; i++) {
                    int64_t n = ref_numel(k_shapes3[s].n[i], k_shapes3[s].s[i]);
                    v[i] = ref_values(n, dt, -4, 4);
                    t[i] = ref_tensor(v[i], k_shapes3[s].n[i], k_shapes3[s].s[i], dt, (ref_layout)((l + i) % REF_LAYOUTS));
                }
                int64_t os[NB_MAX_DIMS];
                int ond = bshape3(&k_shapes3[s], os);
                int64_t n = ref_numel(ond, os);
                double *e = ref_darray(n);
                const shape3 *sh = &k_shapes3[s];
                for (int64_t i = 0; i < n; i++) {
                    double r = v[0][ref_bidx(i, ond, os, sh->n[0], sh->s[0])] +
                               value * v[1][ref_bidx(i, ond, os, sh->n[1], sh->s[1])] * v[2][ref_bidx(i, ond, os, sh->n[2], sh->s[2])];
                    e[i] = nb_dtype_is_float(dt) ? r : ref_wrap(r, dt);
                }
                ref_set_ctx("nb_addcmul %s shape case %d layout %s", nb_dtype_name(dt), s, ref_layout_name[l]);
                CHECK_REF(nb_addcmul(t[0], t[1], t[2], value), dt, ond, os, e, ref_rtol(dt), 4 * ref_rtol(dt));
                for (int i = 0; i < 3; i++) nb_free(t[i]);
            }
    /* mixed dtypes promote */
    nb_tensor *a = nb_ones(NB_SHAPE(3), NB_I32), *b = nb_full(NB_SHAPE(3), 2, NB_F16), *c = nb_full(NB_SHAPE(1), 3, NB_F64);
    ref_set_ctx("nb_addcmul i32 + f16 * f64");
    CHECK_REF(nb_addcmul(a, b, c, 0.5), NB_F64, NB_SHAPE(3), ((const double[]){4, 4, 4}), 0, 0);
    CHECK_REF(nb_addcmul(a, b, a, 2), NB_F16, NB_SHAPE(3), ((const double[]){5, 5, 5}), 0, 0);
}

/* ==== errors ====================================================================================== */

static void test_errors(void) {
    nb_tensor *f = nb_zeros(NB_SHAPE(2, 3), NB_F32), *i = nb_zeros(NB_SHAPE(2, 3), NB_I64);
    nb_tensor *bo = nb_zeros(NB_SHAPE(2, 3), NB_BOOL), *g = nb_zeros(NB_SHAPE(4), NB_F32);
    CHECK_NULL_WITH(nb_gelu(f, (nb_gelu_approximate)5), "nb_gelu", "approximate = 5");
    CHECK_NULL_WITH(nb_gelu(i, NB_GELU_NONE), "nb_gelu", "i64", "floating-point");
    CHECK_NULL_WITH(nb_silu(i), "nb_silu", "i64");
    CHECK_NULL_WITH(nb_leaky_relu(bo, 0.1), "nb_leaky_relu", "bool");
    CHECK_NULL_WITH(nb_hardtanh(f, 2, 1), "nb_hardtanh", "min_val = 2", "max_val = 1");
    CHECK_NULL_WITH(nb_hardtanh(f, NAN, 1), "nb_hardtanh", "NaN");
    CHECK_NULL_WITH(nb_clamp(f, NAN, NAN), "nb_clamp", "at least one");
    CHECK_NULL_WITH(nb_clamp(bo, 0, 1), "nb_clamp", "bool");
    CHECK_NULL_WITH(nb_floor(bo), "nb_floor", "bool");
    CHECK_NULL_WITH(nb_celu(f, 0), "nb_celu", "alpha");
    CHECK_NULL_WITH(nb_sin(NULL), "nb_sin");
    CHECK_NULL_WITH(nb_clamp(NULL, 0, 1), "nb_clamp");
    CHECK_NULL_WITH(nb_nan_to_num(NULL, 0, 1, 2), "nb_nan_to_num");
    CHECK_NULL_WITH(nb_atan2(f, g), "nb_atan2", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_fmod(bo, bo), "nb_fmod", "bool");
    CHECK_NULL_WITH(nb_remainder(f, NULL), "nb_remainder");
    CHECK_NULL_WITH(nb_bitwise_and(f, i), "nb_bitwise_and", "f32", "floating point");
    CHECK_NULL_WITH(nb_bitwise_or(i, nb_zeros(NB_SHAPE(3), NB_F64)), "nb_bitwise_or", "f64");
    CHECK_NULL_WITH(nb_bitwise_xor(i, nb_zeros(NB_SHAPE(4), NB_I32)), "nb_bitwise_xor", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_bitwise_not(f), "nb_bitwise_not", "f32");
    CHECK_NULL_WITH(nb_logical_and(f, g), "nb_logical_and", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_logical_not(NULL), "nb_logical_not");
    CHECK_NULL_WITH(nb_lerp(i, i, i), "nb_lerp", "start", "i64", "floating-point");
    CHECK_NULL_WITH(nb_lerp(f, nb_zeros(NB_SHAPE(2, 3), NB_F64), f), "nb_lerp", "end", "f64", "f32");
    CHECK_NULL_WITH(nb_lerp(f, f, nb_zeros(NB_SCALAR, NB_F64)), "nb_lerp", "weight", "f64");
    CHECK_NULL_WITH(nb_lerp(f, f, g), "nb_lerp", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_lerp_scalar(NULL, f, 0.5), "nb_lerp_scalar");
    CHECK_NULL_WITH(nb_lerp_scalar(i, i, 0.5), "nb_lerp", "i64");
    CHECK_NULL_WITH(nb_selu(i), "nb_selu", "i64");
    CHECK_NULL_WITH(nb_relu6(bo), "nb_relu6", "bool");
    CHECK_NULL_WITH(nb_celu(NULL, 1), "nb_celu");
    CHECK_NULL_WITH(nb_addcmul(i, i, i, 0.5), "nb_addcmul", "value = 0.5", "i64");
    CHECK_NULL_WITH(nb_addcmul(bo, bo, bo, 1), "nb_addcmul", "bool");
    CHECK_NULL_WITH(nb_addcmul(f, f, g, 1), "nb_addcmul", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_addcmul(f, NULL, f, 1), "nb_addcmul");
}

int main(void) {
    REF_RUN(test_unary_float);
    REF_RUN(test_unary_int_bool);
    REF_RUN(test_unary_expanded);
    REF_RUN(test_unary_special);
    REF_RUN(test_unary_int_limits);
    REF_RUN(test_f32_accuracy);
    REF_RUN(test_unary_grad_masks);
    REF_RUN(test_activation_backward);
    REF_RUN(test_pow_scalar);
    REF_RUN(test_binary_dtype_pairs);
    REF_RUN(test_binary_shapes);
    REF_RUN(test_binary_special);
    REF_RUN(test_not);
    REF_RUN(test_lerp);
    REF_RUN(test_addcmul);
    REF_RUN(test_errors);
    return harness_finish();
}
