/* kernels/cpu/ew_pointwise.c — the long tail of unary elementwise kernels (nbk_pw1_run) and the
 * fused activation gradients (nbk_pw1_grad_run) of ops/pointwise.c. f64 runs libm; f32 runs the
 * transcendental activations in blocks through the vector math of vmath.c (the same bits at every
 * dispatch level), the rest through libm's float functions, in loops the compiler vectorises. */
#include "ew_internal.h"

#include <math.h>

/* GCC keeps a select on a float comparison as a branch (the comparison might raise a floating-point
 * exception, which nabla never inspects) unless told that exceptions do not matter; values are the
 * same either way. Clang does not trap-model by default. */
#if defined(__GNUC__) && !defined(__clang__)
#define PW_SELECTS __attribute__((optimize("no-trapping-math")))
#else
#define PW_SELECTS
#endif

/* ---- unary long tail (nbk_pw1) ------------------------------------------------------------------ */

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

