/* kernels/cpu/elementwise.c — unary, binary (broadcasting by strides) and where loops. Inner loops
 * are specialised for the stride patterns that matter (both contiguous, one broadcast scalar); the
 * n-d walk over outer dims is shared. f32 unary ops and the f32 binary ops other than pow run the
 * AVX-512 or AVX2 kernels of ew_avx512.c / ew_avx2.c when the CPU has them (nbk_ew_get); the loops
 * here are the portable fallback and compute the same values (f32 exp, log, tanh and sigmoid through
 * the vector math of vmath.c, not libm). f64 and integers always run these loops. */
#include "ew_internal.h"

#include <math.h>
#include <stdatomic.h>

/* ---- unary ------------------------------------------------------------------------------------- */

#define UNARY_LOOP(T, EXPR)                                                                        \
    do {                                                                                           \
        const T *restrict X = x;                                                                   \
        T *restrict Y = y;                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = X[i];                                                                            \
            Y[i] = (EXPR);                                                                         \
        }                                                                                          \
    } while (0)

#define UNARY_FLOAT(T, SUF)                                                                        \
    static void unary_##SUF(nbk_unary op, const void *x, void *y, int64_t n) {                     \
        switch (op) {                                                                              \
        case NBK_NEG: UNARY_LOOP(T, -v); break;                                                    \
        case NBK_ABS: UNARY_LOOP(T, fabs##SUF(v)); break; /* abs(-0) = +0 */                       \
        case NBK_EXP: TRANSC(SUF, NBK_VEXP, exp##SUF(v)); break;                                   \
        case NBK_LOG: TRANSC(SUF, NBK_VLOG, log##SUF(v)); break;                                   \
        case NBK_SQRT: UNARY_LOOP(T, sqrt##SUF(v)); break;                                         \
        case NBK_TANH: TRANSC(SUF, NBK_VTANH, tanh##SUF(v)); break;                                \
        case NBK_SIGMOID: /* split by sign so exp never overflows */                               \
            TRANSC(SUF, NBK_VSIGMOID, v >= 0 ? (T)1 / ((T)1 + exp##SUF(-v)) : exp##SUF(v) / ((T)1 + exp##SUF(v))); \
            break;                                                                                 \
        case NBK_RELU: UNARY_LOOP(T, (v > 0 || v != v) ? v : (T)0); break; /* NaN propagates */     \
        case NBK_SIGN: UNARY_LOOP(T, (T)((v > 0) - (v < 0))); break;                               \
        default: break;                                                                            \
        }                                                                                          \
    }

/* Transcendentals: f32 through the vector math (the same bits at every dispatch level), f64 libm. */
#define TRANSC(SUF, FN, EXPR) TRANSC_##SUF(FN, EXPR)
#define TRANSC_f(FN, EXPR) nbk_vmath_f32(FN, x, y, n)
#define TRANSC_(FN, EXPR) UNARY_LOOP(double, EXPR)

UNARY_FLOAT(float, f)
UNARY_FLOAT(double, )

static void unary_i64(nbk_unary op, const void *x, void *y, int64_t n) {
    switch (op) {
    case NBK_NEG: UNARY_LOOP(int64_t, (int64_t)(0 - (uint64_t)v)); break;
    case NBK_ABS: UNARY_LOOP(int64_t, v < 0 ? (int64_t)(0 - (uint64_t)v) : v); break;
    case NBK_RELU: UNARY_LOOP(int64_t, v > 0 ? v : 0); break;
    case NBK_SIGN: UNARY_LOOP(int64_t, (int64_t)((v > 0) - (v < 0))); break;
    default: break; /* the op layer never sends other ops on integers */
    }
}

typedef struct unary_job {
    nbk_unary op;
    nb_dtype t;
    const char *x;
    char *y;
} unary_job;

static void unary_chunk(void *ctx, int64_t b, int64_t e) {
    const unary_job *j = ctx;
    size_t z = nb_dtype_size(j->t);
    const void *x = j->x + (size_t)b * z;
    void *y = j->y + (size_t)b * z;
    const nbk_ew_arch *ar;
    if (j->t == NB_F32 && (ar = nbk_ew_get()) && ar->unary(j->op, x, y, e - b)) return;
    if (j->t == NB_F32) unary_f(j->op, x, y, e - b);
    else if (j->t == NB_F64) unary_(j->op, x, y, e - b);
    else unary_i64(j->op, x, y, e - b);
}

void nbk_unary_run(nbk_unary op, nb_dtype t, const void *x, void *y, int64_t n) {
    unary_job j = {op, t, x, y};
    /* transcendental ops cost ~10-20x a simple op: split them sooner */
    int64_t grain = (op == NBK_NEG || op == NBK_ABS || op == NBK_RELU || op == NBK_SIGN) ? 65536 : 8192;
    nbc_parallel_for(n, grain, unary_chunk, &j);
}

/* ---- unary long tail (nbk_pw1) ------------------------------------------------------------------ */

#define BOOL_LOOP(T, EXPR)                                                                         \
    do {                                                                                           \
        const T *restrict X = x;                                                                   \
        uint8_t *restrict Y = y;                                                                   \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = X[i];                                                                            \
            Y[i] = (EXPR);                                                                         \
        }                                                                                          \
    } while (0)

/* Each formula is the one PyTorch's CPU kernels use, except where a more accurate equivalent exists
 * (gelu through erfc: no cancellation in the negative tail; elu through expm1). Comparisons are
 * written so that NaN inputs give NaN (x < lo is false for NaN). */
#define PW1_FLOAT(T, SUF)                                                                          \
    static void pw1_##SUF(nbk_pw1 op, const void *x, void *y, int64_t n, const double *p) {        \
        const T p0 = (T)p[0], p1 = (T)p[1], p2 = (T)p[2];                                          \
        const T kbeta = (T)(M_SQRT2 * M_2_SQRTPI * 0.5), kkappa = (T)0.044715;                     \
        switch (op) {                                                                              \
        case NBK_LOG1P: UNARY_LOOP(T, log1p##SUF(v)); break;                                       \
        case NBK_EXPM1: UNARY_LOOP(T, expm1##SUF(v)); break;                                       \
        case NBK_SQUARE: UNARY_LOOP(T, v * v); break;                                              \
        case NBK_RECIPROCAL: UNARY_LOOP(T, (T)1 / v); break;                                       \
        case NBK_RSQRT: UNARY_LOOP(T, (T)1 / sqrt##SUF(v)); break;                                 \
        case NBK_SIN: UNARY_LOOP(T, sin##SUF(v)); break;                                           \
        case NBK_COS: UNARY_LOOP(T, cos##SUF(v)); break;                                           \
        case NBK_ERF: UNARY_LOOP(T, erf##SUF(v)); break;                                           \
        case NBK_LEAKY_RELU: /* max(v, slope v) for slope <= 1, else min: branch-free, NaN kept */ \
            if (p0 <= 1) UNARY_LOOP(T, max_##SUF(v, v * p0));                                      \
            else UNARY_LOOP(T, min_##SUF(v, v * p0));                                              \
            break;                                                                                 \
        case NBK_ELU: UNARY_LOOP(T, v > 0 ? v * p1 : expm1##SUF(v * p2) * (p0 * p1)); break;       \
        case NBK_GELU: UNARY_LOOP(T, (T)0.5 * v * erfc##SUF(-v * (T)M_SQRT1_2)); break;            \
        case NBK_GELU_TANH:                                                                        \
            UNARY_LOOP(T, (T)0.5 * v * ((T)1 + tanh##SUF(kbeta * (v + kkappa * v * v * v))));      \
            break;                                                                                 \
        case NBK_SILU: UNARY_LOOP(T, v / ((T)1 + exp##SUF(-v))); break;                            \
        case NBK_MISH: UNARY_LOOP(T, v * tanh##SUF(log1p##SUF(exp##SUF(v)))); break;               \
        case NBK_SOFTPLUS: UNARY_LOOP(T, v * p0 > p1 ? v : softplus_##SUF(v * p0) / p0); break;    \
        case NBK_HARDTANH:                                                                         \
        case NBK_CLAMP: UNARY_LOOP(T, clamp_##SUF(v, p0, p1)); break;                              \
        case NBK_HARDSWISH: UNARY_LOOP(T, v * clamp_##SUF(v + (T)3, 0, 6) / (T)6); break;          \
        case NBK_HARDSIGMOID: UNARY_LOOP(T, clamp_##SUF(v + (T)3, 0, 6) / (T)6); break;            \
        case NBK_FLOOR: UNARY_LOOP(T, floor##SUF(v)); break;                                       \
        case NBK_CEIL: UNARY_LOOP(T, ceil##SUF(v)); break;                                         \
        case NBK_ROUND: UNARY_LOOP(T, rint##SUF(v)); break; /* half to even in the default mode */ \
        case NBK_TRUNC: UNARY_LOOP(T, trunc##SUF(v)); break;                                       \
        case NBK_NAN_TO_NUM:                                                                       \
            UNARY_LOOP(T, v != v ? p0 : v == (T)INFINITY ? p1 : v == -(T)INFINITY ? p2 : v);       \
            break;                                                                                 \
        case NBK_ISNAN: BOOL_LOOP(T, v != v); break;                                               \
        case NBK_ISINF: BOOL_LOOP(T, v == (T)INFINITY || v == -(T)INFINITY); break;               \
        case NBK_ISFINITE: BOOL_LOOP(T, v - v == 0); break; /* inf - inf and NaN - NaN are NaN */ \
        default: break;                                                                            \
        }                                                                                          \
    }

/* log(1 + e^z) as max(z, 0) + log1p(e^-|z|): no overflow for large z (a threshold above 88 in f32
 * would otherwise give inf), same accuracy elsewhere. */
static inline float softplus_f(float z) { return (z > 0 ? z : 0) + log1pf(expf(-fabsf(z))); }
static inline double softplus_(double z) { return (z > 0 ? z : 0) + log1p(exp(-fabs(z))); }
static inline float max_f(float v, float w) { return v > w ? v : w; } /* w when unordered */
static inline double max_(double v, double w) { return v > w ? v : w; }
static inline float min_f(float v, float w) { return v < w ? v : w; }
static inline double min_(double v, double w) { return v < w ? v : w; }
static inline float clamp_f(float v, float lo, float hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}
static inline double clamp_(double v, double lo, double hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

PW1_FLOAT(float, f)
PW1_FLOAT(double, )

/* A double bound as an i64 bound (saturating; absent bounds arrive as +-inf). */
static int64_t i64_bound(double v) {
    if (v <= -9223372036854775808.0) return INT64_MIN;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    return (int64_t)v;
}

/* ---- f32 through the vector math -------------------------------------------------------------
 * The transcendental activations in f32 run in blocks: one vector-math pass (exp, log, tanh,
 * sigmoid or erf of vmath.c, the same bits at every dispatch level) into a stack buffer, then a
 * plain loop the compiler vectorises. Formulas are chosen so that nothing cancels:
 *   gelu       x >= -1: x/2 (1 + erf(x/sqrt2)); below, x/2 erfc(-x/sqrt2) with erfc from exp and
 *              the fit of Numerical Recipes' erfcc (relative error < 1.2e-7; see vgelu_block)
 *   gelu tanh  x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): equal to PyTorch's
 *              x/2 (1 + tanh(u)) but without its cancellation for x < 0
 *   silu       x sigmoid(x)
 *   mish       x n (n + 2) / (n (n + 2) + 2), n = e^x (= x tanh(log1p(n))); x itself above 20
 *   softplus   max(z, 0) + log1p(e^-|z|), log1p(u) = log(1 + u) u / ((1 + u) - 1) (Goldberg)
 *   log1p      the same Goldberg form; expm1 (and elu) (e^x - 1) x / log(e^x) (Kahan)
 * tests/test_ops_pointwise.c measures the errors against f64 over dense sweeps. */
#define PW_BLK 256
/* GCC keeps a select on a float comparison as a branch (the comparison might raise a floating-point
 * exception, which nabla never inspects) unless told that exceptions do not matter; values are the
 * same either way. Clang does not trap-model by default. */
#if defined(__GNUC__) && !defined(__clang__)
#define PW_SELECTS __attribute__((optimize("no-trapping-math")))
#else
#define PW_SELECTS
#endif

/* Both written as unconditional arithmetic then selects, so the loops stay branch-free (the compiler
 * does not speculate a conditional float operation that might trap). */
PW_SELECTS static inline float log1p_goldberg(float u, float lw, float w) { /* lw = log(w), w = 1 + u rounded */
    float r = lw * (u / (w - 1.0f));
    r = w == INFINITY ? w : r;
    return w == 1.0f ? u : r;
}
PW_SELECTS static inline float expm1_kahan(float x, float e, float le) { /* e = exp(x), le = log(e) */
    float em = e - 1.0f, r = em * (x / le);
    r = (e == INFINITY || em == -1.0f) ? em : r;
    return e == 1.0f ? x : r;
}

/* gelu in f32, erf form. Below x = -1 the factor 1 + erf(x/sqrt2) would cancel, so the tail uses
 * erfc(z) = tt e^(-z^2) e^(P(tt)) (z = -x/sqrt2, tt = 1 / (1 + z/2), P the erfcc fit) with
 * z^2 = x^2 / 2 split exactly (Veltkamp) into hi + lo, and e^(-hi/2) and e^(P - lo/2) taken
 * separately, so no large exponent argument is rounded. t, u, v: scratch of m floats. */
PW_SELECTS static void vgelu_block(const float *x, float *y, float *t, float *u, float *v, int64_t m) {
    const float r2 = (float)M_SQRT1_2;
    for (int64_t i = 0; i < m; i++) t[i] = x[i] * r2;
    nbk_vmath_f32(NBK_VERF, t, u, m);
    for (int64_t i = 0; i < m; i++) y[i] = 0.5f * x[i] * (1.0f + u[i]);
    for (int64_t i = 0; i < m; i++) {
        float xi = x[i] < -1.0f ? x[i] : -1.0f; /* other lanes: a harmless value, not used */
        float z = -xi * r2, tt = 1.0f / (1.0f + 0.5f * z);
        float pp = 0.17087277f;
        pp = pp * tt - 0.82215223f;
        pp = pp * tt + 1.48851587f;
        pp = pp * tt - 1.13520398f;
        pp = pp * tt + 0.27886807f;
        pp = pp * tt - 0.18628806f;
        pp = pp * tt + 0.09678418f;
        pp = pp * tt + 0.37409196f;
        pp = pp * tt + 1.00002368f;
        pp = pp * tt - 1.26551223f;
        float sp = 4097.0f * xi, xh = sp - (sp - xi), xl = xi - xh; /* xi = xh + xl, 12 bits each */
        float hi = xi * xi, lo = ((xh * xh - hi) + 2.0f * xh * xl) + xl * xl; /* xi^2 = hi + lo exactly */
        t[i] = -0.5f * hi;
        v[i] = pp - 0.5f * lo;
        u[i] = tt;
    }
    nbk_vmath_f32(NBK_VEXP, t, t, m);
    nbk_vmath_f32(NBK_VEXP, v, v, m);
    for (int64_t i = 0; i < m; i++) {
        float tail = 0.5f * x[i] * (u[i] * (v[i] * t[i]));
        y[i] = x[i] < -1.0f ? tail : y[i];
    }
}

/* Returns false for the ops it does not handle (they run the libm loops of pw1_f). */
PW_SELECTS static bool pw1_f_vec(nbk_pw1 op, const float *x, float *y, int64_t n, const double *p) {
    if (op != NBK_ERF && op != NBK_GELU && op != NBK_GELU_TANH && op != NBK_SILU && op != NBK_MISH &&
        op != NBK_SOFTPLUS && op != NBK_LOG1P && op != NBK_EXPM1 && op != NBK_ELU)
        return false;
    if (op == NBK_ERF) {
        nbk_vmath_f32(NBK_VERF, x, y, n);
        return true;
    }
    const float p0 = (float)p[0], p1 = (float)p[1], p2 = (float)p[2];
    const float kb2 = (float)(M_SQRT2 * M_2_SQRTPI), kk = 0.044715f; /* 2 sqrt(2/pi) */
    float t[PW_BLK], u[PW_BLK], v[PW_BLK];
    for (int64_t i0 = 0; i0 < n; i0 += PW_BLK) {
        int64_t m = n - i0 < PW_BLK ? n - i0 : PW_BLK;
        const float *X = x + i0;
        float *Y = y + i0;
        switch (op) {
        case NBK_GELU: vgelu_block(X, Y, t, u, v, m); break;
        case NBK_GELU_TANH:
            for (int64_t i = 0; i < m; i++) t[i] = kb2 * (X[i] + kk * X[i] * X[i] * X[i]);
            nbk_vmath_f32(NBK_VSIGMOID, t, u, m);
            for (int64_t i = 0; i < m; i++) Y[i] = X[i] * u[i];
            break;
        case NBK_SILU:
            nbk_vmath_f32(NBK_VSIGMOID, X, u, m);
            for (int64_t i = 0; i < m; i++) Y[i] = X[i] * u[i];
            break;
        case NBK_MISH:
            nbk_vmath_f32(NBK_VEXP, X, u, m);
            for (int64_t i = 0; i < m; i++) {
                float e = u[i], a = e * (e + 2.0f), r = X[i] * (a / (a + 2.0f));
                Y[i] = X[i] > 20.0f ? X[i] : r;
            }
            break;
        case NBK_SOFTPLUS: /* z = beta x; x itself above the threshold */
            for (int64_t i = 0; i < m; i++) t[i] = -fabsf(X[i] * p0);
            nbk_vmath_f32(NBK_VEXP, t, u, m);
            for (int64_t i = 0; i < m; i++) t[i] = 1.0f + u[i];
            nbk_vmath_f32(NBK_VLOG, t, Y, m);
            for (int64_t i = 0; i < m; i++) {
                float z = X[i] * p0;
                float sp = ((z > 0 ? z : 0.0f) + log1p_goldberg(u[i], Y[i], t[i])) / p0;
                Y[i] = z > p1 ? X[i] : sp;
            }
            break;
        case NBK_LOG1P:
            for (int64_t i = 0; i < m; i++) t[i] = 1.0f + X[i];
            nbk_vmath_f32(NBK_VLOG, t, u, m);
            for (int64_t i = 0; i < m; i++) {
                float r = log1p_goldberg(X[i], u[i], t[i]);
                Y[i] = X[i] != X[i] ? X[i] : r;
            }
            break;
        case NBK_EXPM1:
        case NBK_ELU: {
            const bool elu = op == NBK_ELU;
            for (int64_t i = 0; i < m; i++) {
                float xs = X[i] * p2;
                t[i] = elu ? (X[i] > 0 ? 0.0f : xs) : X[i];
            }
            nbk_vmath_f32(NBK_VEXP, t, u, m);
            nbk_vmath_f32(NBK_VLOG, u, Y, m);
            for (int64_t i = 0; i < m; i++) {
                float em1 = expm1_kahan(t[i], u[i], Y[i]);
                em1 = t[i] != t[i] ? t[i] : em1;
                float pos = X[i] * p1, neg = em1 * (p0 * p1);
                Y[i] = !elu ? em1 : X[i] > 0 ? pos : neg;
            }
            break;
        }
        default: break;
        }
    }
    return true;
}

/* ---- activation gradients (nbk_pw1_grad_run) ----------------------------------------------------- */

#define GRAD_LOOP(T, EXPR)                                                                         \
    do {                                                                                           \
        const T *restrict G = g;                                                                   \
        const T *restrict X = x;                                                                   \
        T *restrict O = o;                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = X[i], gv = G[i];                                                                 \
            O[i] = (EXPR);                                                                         \
        }                                                                                          \
    } while (0)

/* The piecewise ones, and every one in f64 (libm). Each derivative is the one PyTorch's backward
 * kernel uses (gelu: Phi(x) + x phi(x); tanh form: its own formula; mish: t + x (1 - t^2) sigmoid(x)). */
#define PW1_GRAD(T, SUF)                                                                           \
    PW_SELECTS static void pw1_grad_##SUF(nbk_pw1 op, const void *g, const void *x, void *o, int64_t n, const double *p) { \
        const T p0 = (T)p[0], p1 = (T)p[1], p2 = (T)p[2], zero = 0;                                \
        const T kb = (T)(M_SQRT2 * M_2_SQRTPI * 0.5), kk = (T)0.044715;                            \
        const T r2 = (T)M_SQRT1_2, kphi = (T)(M_2_SQRTPI * M_SQRT1_2 * 0.5);                       \
        switch (op) {                                                                              \
        case NBK_LEAKY_RELU: GRAD_LOOP(T, v > 0 ? gv : gv * p0); break;                            \
        case NBK_ELU: GRAD_LOOP(T, v > 0 ? gv * p1 : gv * (p0 * p1 * p2) * exp##SUF(v * p2)); break; \
        case NBK_GELU:                                                                             \
            GRAD_LOOP(T, gv * ((T)0.5 * erfc##SUF(-v * r2) + v * kphi * exp##SUF((T)-0.5 * v * v))); \
            break;                                                                                 \
        case NBK_GELU_TANH:                                                                        \
            GRAD_LOOP(T, gv * gelu_tanh_d_##SUF(v, tanh##SUF(kb * (v + kk * v * v * v)), kb, kk)); \
            break;                                                                                 \
        case NBK_SILU: GRAD_LOOP(T, gv * silu_d_##SUF(v, (T)1 / ((T)1 + exp##SUF(-v)))); break;    \
        case NBK_MISH: GRAD_LOOP(T, gv * mish_d_##SUF(v, tanh##SUF(softplus_##SUF(v)), (T)1 / ((T)1 + exp##SUF(-v)))); \
            break;                                                                                 \
        case NBK_SOFTPLUS: GRAD_LOOP(T, v * p0 > p1 ? gv : gv / ((T)1 + exp##SUF(-v * p0))); break; \
        case NBK_HARDTANH: GRAD_LOOP(T, (v > p0 && v < p1) ? gv : zero); break;                    \
        case NBK_HARDSWISH: GRAD_LOOP(T, v < -3 ? zero : v <= 3 ? gv * (v / 3 + (T)0.5) : gv); break; \
        case NBK_HARDSIGMOID: GRAD_LOOP(T, (v > -3 && v < 3) ? gv / 6 : zero); break;              \
        case NBK_RELU_GRAD: GRAD_LOOP(T, v > 0 ? gv : zero); break;                                \
        default: break;                                                                            \
        }                                                                                          \
    }

static inline float gelu_tanh_d_f(float x, float t, float kb, float kk) {
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kb * (1.0f + 3.0f * kk * x * x);
}
static inline double gelu_tanh_d_(double x, double t, double kb, double kk) {
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kb * (1.0 + 3.0 * kk * x * x);
}
static inline float silu_d_f(float x, float s) { return s * (1.0f + x * (1.0f - s)); }
static inline double silu_d_(double x, double s) { return s * (1.0 + x * (1.0 - s)); }
static inline float mish_d_f(float x, float t, float s) { return t + x * (1.0f - t * t) * s; }
static inline double mish_d_(double x, double t, double s) { return t + x * (1.0 - t * t) * s; }

PW1_GRAD(float, f)
PW1_GRAD(double, )

/* f32 gelu / gelu tanh / silu / mish / softplus / elu gradients through the vector math. */
PW_SELECTS static bool pw1_grad_f_vec(nbk_pw1 op, const float *g, const float *x, float *o, int64_t n, const double *p) {
    if (op != NBK_GELU && op != NBK_GELU_TANH && op != NBK_SILU && op != NBK_MISH && op != NBK_SOFTPLUS && op != NBK_ELU)
        return false;
    const float p0 = (float)p[0], p1 = (float)p[1], p2 = (float)p[2];
    const float kb = (float)(M_SQRT2 * M_2_SQRTPI * 0.5), kk = 0.044715f;
    const float r2 = (float)M_SQRT1_2, kphi = (float)(M_2_SQRTPI * M_SQRT1_2 * 0.5);
    float t[PW_BLK], u[PW_BLK];
    for (int64_t i0 = 0; i0 < n; i0 += PW_BLK) {
        int64_t m = n - i0 < PW_BLK ? n - i0 : PW_BLK;
        const float *X = x + i0, *G = g + i0;
        float *O = o + i0;
        switch (op) {
        case NBK_GELU:
            for (int64_t i = 0; i < m; i++) t[i] = X[i] * r2;
            nbk_vmath_f32(NBK_VERF, t, u, m);
            for (int64_t i = 0; i < m; i++) t[i] = -0.5f * X[i] * X[i];
            nbk_vmath_f32(NBK_VEXP, t, t, m);
            for (int64_t i = 0; i < m; i++) O[i] = G[i] * (0.5f * (1.0f + u[i]) + X[i] * kphi * t[i]);
            break;
        case NBK_GELU_TANH:
            for (int64_t i = 0; i < m; i++) t[i] = kb * (X[i] + kk * X[i] * X[i] * X[i]);
            nbk_vmath_f32(NBK_VTANH, t, u, m);
            for (int64_t i = 0; i < m; i++) O[i] = G[i] * gelu_tanh_d_f(X[i], u[i], kb, kk);
            break;
        case NBK_SILU:
            nbk_vmath_f32(NBK_VSIGMOID, X, u, m);
            for (int64_t i = 0; i < m; i++) O[i] = G[i] * silu_d_f(X[i], u[i]);
            break;
        case NBK_MISH: /* t = tanh(softplus(x)) = e (e + 2) / (e (e + 2) + 2), 1 above x = 20 */
            nbk_vmath_f32(NBK_VEXP, X, t, m);
            nbk_vmath_f32(NBK_VSIGMOID, X, u, m);
            for (int64_t i = 0; i < m; i++) {
                float e = t[i], a = e * (e + 2.0f), th = a / (a + 2.0f);
                th = X[i] > 20.0f ? 1.0f : th;
                O[i] = G[i] * mish_d_f(X[i], th, u[i]);
            }
            break;
        case NBK_SOFTPLUS:
            for (int64_t i = 0; i < m; i++) t[i] = X[i] * p0;
            nbk_vmath_f32(NBK_VSIGMOID, t, u, m);
            for (int64_t i = 0; i < m; i++) {
                float d = G[i] * u[i];
                O[i] = t[i] > p1 ? G[i] : d;
            }
            break;
        case NBK_ELU:
            for (int64_t i = 0; i < m; i++) {
                float xs = X[i] * p2;
                t[i] = X[i] > 0 ? 0.0f : xs;
            }
            nbk_vmath_f32(NBK_VEXP, t, u, m);
            for (int64_t i = 0; i < m; i++) {
                float pos = G[i] * p1, neg = G[i] * (p0 * p1 * p2) * u[i];
                O[i] = X[i] > 0 ? pos : neg;
            }
            break;
        default: break;
        }
    }
    return true;
}

typedef struct grad_job {
    nbk_pw1 op;
    nb_dtype t;
    const char *g, *x;
    char *o;
    const double *p;
} grad_job;

static void grad_chunk(void *ctx, int64_t b, int64_t e) {
    const grad_job *j = ctx;
    size_t z = nb_dtype_size(j->t), off = (size_t)b * z;
    if (j->t == NB_F32) {
        const float *g = (const float *)(j->g + off), *x = (const float *)(j->x + off);
        float *o = (float *)(j->o + off);
        if (!pw1_grad_f_vec(j->op, g, x, o, e - b, j->p)) pw1_grad_f(j->op, g, x, o, e - b, j->p);
    } else {
        pw1_grad_(j->op, j->g + off, j->x + off, j->o + off, e - b, j->p);
    }
}

void nbk_pw1_grad_run(nbk_pw1 op, nb_dtype t, const void *g, const void *x, void *out, int64_t n, const double *p) {
    grad_job j = {op, t, g, x, out, p};
    nbc_parallel_for(n, 8192, grad_chunk, &j);
}

static void pw1_i64(nbk_pw1 op, const void *x, void *y, int64_t n, const double *p) {
    if (op == NBK_SQUARE) {
        UNARY_LOOP(int64_t, (int64_t)((uint64_t)v * (uint64_t)v)); /* wraps, as PyTorch */
    } else if (op == NBK_CLAMP) {
        int64_t lo = i64_bound(p[0]), hi = i64_bound(p[1]);
        UNARY_LOOP(int64_t, (v < lo ? lo : v) > hi ? hi : (v < lo ? lo : v));
    }
}

typedef struct pw1_job {
    nbk_pw1 op;
    nb_dtype t;
    const char *x;
    char *y;
    const double *p;
} pw1_job;

static void pw1_chunk(void *ctx, int64_t b, int64_t e) {
    const pw1_job *j = ctx;
    size_t z = nb_dtype_size(j->t);
    bool to_bool = j->op == NBK_ISNAN || j->op == NBK_ISINF || j->op == NBK_ISFINITE;
    const void *x = j->x + (size_t)b * z;
    void *y = j->y + (size_t)b * (to_bool ? 1 : z);
    if (j->t == NB_F32) {
        if (!pw1_f_vec(j->op, x, y, e - b, j->p)) pw1_f(j->op, x, y, e - b, j->p);
    }
    else if (j->t == NB_F64) pw1_(j->op, x, y, e - b, j->p);
    else pw1_i64(j->op, x, y, e - b, j->p);
}

void nbk_pw1_run(nbk_pw1 op, nb_dtype t, const void *x, void *y, int64_t n, const double *p) {
    static const double none[3] = {0, 0, 0};
    pw1_job j = {op, t, x, y, p ? p : none};
    bool cheap = op == NBK_SQUARE || op == NBK_RECIPROCAL || op == NBK_LEAKY_RELU || op == NBK_HARDTANH ||
                 op == NBK_CLAMP || op == NBK_HARDSWISH || op == NBK_HARDSIGMOID || op == NBK_FLOOR ||
                 op == NBK_CEIL || op == NBK_ROUND || op == NBK_TRUNC || op == NBK_NAN_TO_NUM ||
                 op == NBK_ISNAN || op == NBK_ISINF || op == NBK_ISFINITE;
    nbc_parallel_for(n, cheap ? 65536 : 8192, pw1_chunk, &j);
}

/* ---- binary ------------------------------------------------------------------------------------ */

/* One inner run: out[i] = a[i*as] OP b[i*bs], with the three stride patterns specialised. */
#define BIN_RUN(TI, TO, EXPR)                                                                      \
    do {                                                                                           \
        const TI *restrict A = a;                                                                  \
        const TI *restrict B = b;                                                                  \
        TO *restrict O = o;                                                                        \
        if (as == 1 && bs == 1) {                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TI x = A[i], y = B[i];                                                             \
                O[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (as == 1 && bs == 0) {                                                           \
            TI y = B[0];                                                                           \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TI x = A[i];                                                                       \
                O[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (as == 0 && bs == 1) {                                                           \
            TI x = A[0];                                                                           \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TI y = B[i];                                                                       \
                O[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TI x = A[i * as], y = B[i * bs];                                                   \
                O[i] = (EXPR);                                                                     \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define BIN_FLOAT(T, SUF)                                                                          \
    static void bin_##SUF(nbk_binary op, void *o, const void *a, int64_t as, const void *b, int64_t bs, int64_t n) { \
        switch (op) {                                                                              \
        case NBK_ADD: BIN_RUN(T, T, x + y); break;                                                 \
        case NBK_SUB: BIN_RUN(T, T, x - y); break;                                                 \
        case NBK_MUL: BIN_RUN(T, T, x * y); break;                                                 \
        case NBK_DIV: BIN_RUN(T, T, x / y); break;                                                 \
        case NBK_POW: BIN_RUN(T, T, pow##SUF(x, y)); break;                                        \
        case NBK_MAX: BIN_RUN(T, T, (x != x || x > y) ? x : y); break; /* NaN propagates */        \
        case NBK_MIN: BIN_RUN(T, T, (x != x || x < y) ? x : y); break;                             \
        case NBK_EQ: BIN_RUN(T, uint8_t, x == y); break;                                           \
        case NBK_NE: BIN_RUN(T, uint8_t, x != y); break;                                           \
        case NBK_LT: BIN_RUN(T, uint8_t, x < y); break;                                            \
        case NBK_LE: BIN_RUN(T, uint8_t, x <= y); break;                                           \
        case NBK_GT: BIN_RUN(T, uint8_t, x > y); break;                                            \
        case NBK_GE: BIN_RUN(T, uint8_t, x >= y); break;                                           \
        default: break;                                                                            \
        }                                                                                          \
    }

BIN_FLOAT(float, f)
BIN_FLOAT(double, )

/* Integer power by squaring; negative exponents give 0 except for bases 1 and -1 (as in PyTorch). */
static int64_t ipow(int64_t x, int64_t y) {
    if (y < 0) return x == 1 ? 1 : x == -1 ? (y & 1 ? -1 : 1) : 0;
    uint64_t r = 1, base = (uint64_t)x;
    while (y) {
        if (y & 1) r *= base;
        base *= base;
        y >>= 1;
    }
    return (int64_t)r;
}

static void bin_i64(nbk_binary op, void *o, const void *a, int64_t as, const void *b, int64_t bs, int64_t n) {
    switch (op) {
    case NBK_ADD: BIN_RUN(int64_t, int64_t, (int64_t)((uint64_t)x + (uint64_t)y)); break; /* wraps */
    case NBK_SUB: BIN_RUN(int64_t, int64_t, (int64_t)((uint64_t)x - (uint64_t)y)); break;
    case NBK_MUL: BIN_RUN(int64_t, int64_t, (int64_t)((uint64_t)x * (uint64_t)y)); break;
    case NBK_POW: BIN_RUN(int64_t, int64_t, ipow(x, y)); break;
    case NBK_MAX: BIN_RUN(int64_t, int64_t, x > y ? x : y); break;
    case NBK_MIN: BIN_RUN(int64_t, int64_t, x < y ? x : y); break;
    case NBK_EQ: BIN_RUN(int64_t, uint8_t, x == y); break;
    case NBK_NE: BIN_RUN(int64_t, uint8_t, x != y); break;
    case NBK_LT: BIN_RUN(int64_t, uint8_t, x < y); break;
    case NBK_LE: BIN_RUN(int64_t, uint8_t, x <= y); break;
    case NBK_GT: BIN_RUN(int64_t, uint8_t, x > y); break;
    case NBK_GE: BIN_RUN(int64_t, uint8_t, x >= y); break;
    default: break; /* division of integers is done in floats by the op layer */
    }
}

/* ---- binary and ternary long tail (nbk_pw2, nbk_pw3) --------------------------------------------- */

static inline float rem_f(float x, float y) { /* Python's %: the result takes the divisor's sign */
    float m = fmodf(x, y);
    return (m != 0 && ((y < 0) != (m < 0))) ? m + y : m;
}
static inline double rem_(double x, double y) {
    double m = fmod(x, y);
    return (m != 0 && ((y < 0) != (m < 0))) ? m + y : m;
}
static inline int64_t ifmod(int64_t x, int64_t y) { return y == -1 ? 0 : x % y; } /* INT64_MIN % -1 traps */
static inline int64_t irem(int64_t x, int64_t y) {
    int64_t m = ifmod(x, y);
    return (m != 0 && ((y < 0) != (m < 0))) ? m + y : m;
}

#define PW2_FLOAT(T, SUF)                                                                          \
    static void pw2_##SUF(nbk_pw2 op, void *o, const void *a, int64_t as, const void *b, int64_t bs, int64_t n) { \
        switch (op) {                                                                              \
        case NBK_ATAN2: BIN_RUN(T, T, atan2##SUF(x, y)); break;                                    \
        case NBK_FMOD: BIN_RUN(T, T, fmod##SUF(x, y)); break;                                      \
        case NBK_REMAINDER: BIN_RUN(T, T, rem_##SUF(x, y)); break;                                 \
        default: break;                                                                            \
        }                                                                                          \
    }
PW2_FLOAT(float, f)
PW2_FLOAT(double, )

/* Returns 1 if a zero divisor was met (its elements get 0). */
static int pw2_i64(nbk_pw2 op, void *o, const void *a, int64_t as, const void *b, int64_t bs, int64_t n) {
    int zd = 0;
    switch (op) {
    case NBK_FMOD: BIN_RUN(int64_t, int64_t, y == 0 ? (zd = 1, 0) : ifmod(x, y)); break;
    case NBK_REMAINDER: BIN_RUN(int64_t, int64_t, y == 0 ? (zd = 1, 0) : irem(x, y)); break;
    case NBK_BAND: BIN_RUN(int64_t, int64_t, x & y); break;
    case NBK_BOR: BIN_RUN(int64_t, int64_t, x | y); break;
    case NBK_BXOR: BIN_RUN(int64_t, int64_t, x ^ y); break;
    default: break;
    }
    return zd;
}

static void pw2_bool(nbk_pw2 op, void *o, const void *a, int64_t as, const void *b, int64_t bs, int64_t n) {
    switch (op) { /* operands are 0 / 1: bitwise and logical agree */
    case NBK_LAND:
    case NBK_BAND: BIN_RUN(uint8_t, uint8_t, x & y); break;
    case NBK_LOR:
    case NBK_BOR: BIN_RUN(uint8_t, uint8_t, x | y); break;
    case NBK_LXOR:
    case NBK_BXOR: BIN_RUN(uint8_t, uint8_t, x ^ y); break;
    default: break;
    }
}

#define TER_RUN(T, EXPR)                                                                           \
    do {                                                                                           \
        const T *restrict A = a;                                                                   \
        const T *restrict B = b;                                                                   \
        const T *restrict C = c;                                                                   \
        T *restrict O = o;                                                                         \
        if (as == 1 && bs == 1 && cs == 1) {                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T x = A[i], y = B[i], z = C[i];                                                    \
                O[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T x = A[i * as], y = B[i * bs], z = C[i * cs];                                     \
                O[i] = (EXPR);                                                                     \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* lerp as PyTorch computes it: from the nearer end, so lerp(a, b, 1) is exactly b. */
#define PW3_FLOAT(T, SUF)                                                                          \
    static void pw3_##SUF(nbk_pw3 op, void *o, const void *a, int64_t as, const void *b, int64_t bs, const void *c, \
                          int64_t cs, double p, int64_t n) {                                       \
        const T pv = (T)p;                                                                         \
        if (op == NBK_LERP)                                                                        \
            TER_RUN(T, fabs##SUF(z) < (T)0.5 ? x + z * (y - x) : y - (y - x) * ((T)1 - z));        \
        else                                                                                       \
            TER_RUN(T, x + pv * y * z);                                                            \
    }
PW3_FLOAT(float, f)
PW3_FLOAT(double, )

static void pw3_i64(nbk_pw3 op, void *o, const void *a, int64_t as, const void *b, int64_t bs, const void *c,
                    int64_t cs, double p, int64_t n) {
    const uint64_t pv = (uint64_t)(int64_t)p;
    if (op == NBK_ADDCMUL) TER_RUN(int64_t, (int64_t)((uint64_t)x + pv * (uint64_t)y * (uint64_t)z));
}

/* Collapse dims for up to three operands that share a shape (out is contiguous). */
static int collapse3(int ndim, const int64_t *shape, const int64_t *s0, const int64_t *s1, const int64_t *s2,
                     int64_t *cs, int64_t *c0, int64_t *c1, int64_t *c2) {
    int64_t so[NB_MAX_DIMS];
    nbc_contiguous_strides(ndim, shape, so);
    int k = 0;
    int64_t co[NB_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 1) continue;
        if (k > 0 && co[k - 1] == so[i] * shape[i] && c0[k - 1] == s0[i] * shape[i] &&
            c1[k - 1] == s1[i] * shape[i] && (!s2 || c2[k - 1] == s2[i] * shape[i])) {
            cs[k - 1] *= shape[i];
            co[k - 1] = so[i];
            c0[k - 1] = s0[i];
            c1[k - 1] = s1[i];
            if (s2) c2[k - 1] = s2[i];
        } else {
            cs[k] = shape[i];
            co[k] = so[i];
            c0[k] = s0[i];
            c1[k] = s1[i];
            if (s2) c2[k] = s2[i];
            k++;
        }
    }
    if (k == 0) {
        cs[0] = 1;
        c0[0] = c1[0] = 1;
        if (s2) c2[0] = 1;
        k = 1;
    }
    return k;
}

typedef struct nd_job {
    int kind; /* 0 binary, 1 where, 2 nbk_pw2, 3 nbk_pw3 (third operand in p[2]) */
    nbk_binary op;
    int pw;          /* nbk_pw2 / nbk_pw3 */
    double param;    /* addcmul's value */
    int64_t work;    /* elements per parallel task (0: by op) */
    atomic_int zero_div;
    nb_dtype t;
    char *out;
    const char *p[3];
    size_t psize[3], osize;
    int ndim;
    int64_t shape[NB_MAX_DIMS], st[3][NB_MAX_DIMS];
} nd_job;

static void where_run(size_t z, char *o, const uint8_t *c, int64_t cs, const char *a, int64_t as, const char *b,
                      int64_t bs, int64_t n) {
#define WHERE_T(T)                                                                                 \
    for (int64_t i = 0; i < n; i++) ((T *)o)[i] = c[i * cs] ? ((const T *)a)[i * as] : ((const T *)b)[i * bs]; \
    break;
    switch (z) {
    case 1: WHERE_T(uint8_t)
    case 2: WHERE_T(uint16_t)
    case 4: WHERE_T(uint32_t)
    default: WHERE_T(uint64_t)
    }
#undef WHERE_T
}

static void nd_pw2(nd_job *j, char *o, const char *a, const char *b, int64_t inner) {
    int last = j->ndim - 1;
    int64_t as = j->st[0][last], bs = j->st[1][last];
    if (j->t == NB_F32) pw2_f(j->pw, o, a, as, b, bs, inner);
    else if (j->t == NB_F64) pw2_(j->pw, o, a, as, b, bs, inner);
    else if (j->t == NB_BOOL) pw2_bool(j->pw, o, a, as, b, bs, inner);
    else if (pw2_i64(j->pw, o, a, as, b, bs, inner)) atomic_store_explicit(&j->zero_div, 1, memory_order_relaxed);
}

static void nd_rows(void *ctx, int64_t begin, int64_t end) {
    nd_job *j = ctx;
    int last = j->ndim - 1;
    int64_t inner = j->shape[last];
    for (int64_t r = begin; r < end; r++) {
        int64_t rem = r, off[3] = {0, 0, 0};
        for (int d = last - 1; d >= 0; d--) {
            int64_t idx = rem % j->shape[d];
            rem /= j->shape[d];
            for (int q = 0; q < 3; q++) off[q] += idx * j->st[q][d];
        }
        char *o = j->out + (size_t)(r * inner) * j->osize;
        const char *a = j->p[0] + (size_t)off[0] * j->psize[0];
        const char *b = j->p[1] + (size_t)off[1] * j->psize[1];
        if (j->kind == 1) {
            const char *c = j->p[2] + (size_t)off[2] * j->psize[2];
            where_run(j->osize, o, (const uint8_t *)c, j->st[2][last], a, j->st[0][last], b, j->st[1][last], inner);
        } else if (j->kind == 2) {
            nd_pw2(j, o, a, b, inner);
        } else if (j->kind == 3) {
            const char *c = j->p[2] + (size_t)off[2] * j->psize[2];
            int64_t as = j->st[0][last], bs = j->st[1][last], cs = j->st[2][last];
            if (j->t == NB_F32) pw3_f(j->pw, o, a, as, b, bs, c, cs, j->param, inner);
            else if (j->t == NB_F64) pw3_(j->pw, o, a, as, b, bs, c, cs, j->param, inner);
            else pw3_i64(j->pw, o, a, as, b, bs, c, cs, j->param, inner);
        } else if (j->t == NB_F32) {
            const nbk_ew_arch *ar = nbk_ew_get();
            if (!ar || !ar->binary(j->op, o, (const float *)a, j->st[0][last], (const float *)b, j->st[1][last], inner))
                bin_f(j->op, o, a, j->st[0][last], b, j->st[1][last], inner);
        } else if (j->t == NB_F64) {
            bin_(j->op, o, a, j->st[0][last], b, j->st[1][last], inner);
        } else {
            bin_i64(j->op, o, a, j->st[0][last], b, j->st[1][last], inner);
        }
    }
}

static void nd_launch(nd_job *j, int ndim, const int64_t *shape, const int64_t *s0, const int64_t *s1,
                      const int64_t *s2) {
    if (nbc_numel(ndim, shape) == 0) return;
    j->ndim = collapse3(ndim, shape, s0, s1, s2, j->shape, j->st[0], j->st[1], s2 ? j->st[2] : NULL);
    int64_t rows = 1;
    for (int d = 0; d < j->ndim - 1; d++) rows *= j->shape[d];
    int64_t inner = j->shape[j->ndim - 1];
    int64_t work = j->work ? j->work : j->op == NBK_POW ? 4096 : 32768;
    nbc_parallel_for(rows, inner >= work ? 1 : work / inner, nd_rows, j);
}

void nbk_binary_run(nbk_binary op, nb_dtype t, void *out, const void *a, const int64_t *sa, const void *b,
                    const int64_t *sb, int ndim, const int64_t *shape) {
    nd_job j = {.kind = 0, .op = op, .t = t, .out = out, .p = {a, b, NULL}};
    j.psize[0] = j.psize[1] = nb_dtype_size(t);
    j.osize = op >= NBK_EQ ? 1 : nb_dtype_size(t);
    if (ndim == 0) { /* 0-d: one element */
        static const int64_t one[1] = {1}, zero[1] = {0};
        nd_launch(&j, 1, one, zero, zero, NULL);
        return;
    }
    nd_launch(&j, ndim, shape, sa, sb, NULL);
}

void nbk_where_run(nb_dtype t, void *out, const uint8_t *cond, const int64_t *sc, const void *a, const int64_t *sa,
                   const void *b, const int64_t *sb, int ndim, const int64_t *shape) {
    nd_job j = {.kind = 1, .t = t, .out = out, .p = {a, b, (const char *)cond}};
    j.psize[0] = j.psize[1] = j.osize = nb_dtype_size(t);
    j.psize[2] = 1;
    if (ndim == 0) {
        static const int64_t one[1] = {1}, zero[1] = {0};
        nd_launch(&j, 1, one, zero, zero, zero);
        return;
    }
    nd_launch(&j, ndim, shape, sa, sb, sc);
}

int nbk_pw2_run(nbk_pw2 op, nb_dtype t, void *out, const void *a, const int64_t *sa, const void *b,
                const int64_t *sb, int ndim, const int64_t *shape) {
    nd_job j = {.kind = 2, .pw = op, .t = t, .out = out, .p = {a, b, NULL}};
    atomic_init(&j.zero_div, 0);
    j.psize[0] = j.psize[1] = j.osize = nb_dtype_size(t);
    j.work = op <= NBK_REMAINDER && t != NB_I64 ? 4096 : 32768; /* atan2, fmod: ~20x an add */
    static const int64_t one[1] = {1}, zero[1] = {0};
    if (ndim == 0) nd_launch(&j, 1, one, zero, zero, NULL);
    else nd_launch(&j, ndim, shape, sa, sb, NULL);
    return atomic_load(&j.zero_div);
}

void nbk_pw3_run(nbk_pw3 op, nb_dtype t, void *out, const void *a, const int64_t *sa, const void *b,
                 const int64_t *sb, const void *c, const int64_t *sc, double p, int ndim, const int64_t *shape) {
    nd_job j = {.kind = 3, .pw = op, .t = t, .out = out, .p = {a, b, c}, .param = p};
    j.psize[0] = j.psize[1] = j.psize[2] = j.osize = nb_dtype_size(t);
    static const int64_t one[1] = {1}, zero[1] = {0};
    if (ndim == 0) nd_launch(&j, 1, one, zero, zero, zero);
    else nd_launch(&j, ndim, shape, sa, sb, sc);
}
