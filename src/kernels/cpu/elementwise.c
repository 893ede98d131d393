/* kernels/cpu/elementwise.c — unary, binary (broadcasting by strides) and where loops. Inner loops
 * are specialised for the stride patterns that matter (both contiguous, one broadcast scalar); the
 * n-d walk over outer dims is shared. f32 unary ops and the f32 binary ops other than pow run the
 * AVX-512 or AVX2 kernels of ew_avx512.c / ew_avx2.c when the CPU has them (nbk_ew_get); the loops
 * here are the portable fallback and compute the same values (f32 exp, log, tanh and sigmoid through
 * the vector math of vmath.c, not libm). f64 and integers always run these loops. The binary and
 * ternary long tail of ops/pointwise_binary.c (nbk_pw2_run, nbk_pw3_run) shares the n-d walk; its
 * unary long tail lives in ew_pointwise.c. */
#include "ew_internal.h"

#include <math.h>
#include <stdatomic.h>

/* ---- unary ------------------------------------------------------------------------------------- */

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
        case NBK_LAND: BIN_RUN(T, uint8_t, (x != 0) & (y != 0)); break; /* NaN is true */          \
        case NBK_LOR: BIN_RUN(T, uint8_t, (x != 0) | (y != 0)); break;                             \
        case NBK_LXOR: BIN_RUN(T, uint8_t, (x != 0) ^ (y != 0)); break;                            \
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

/* Both ends computed, then a select; GCC makes it a blend rather than a branch on random weights only
 * when told that floating-point exceptions do not matter (values are the same either way). */
#if defined(__GNUC__) && !defined(__clang__)
#define TER_SELECTS __attribute__((optimize("no-trapping-math")))
#else
#define TER_SELECTS
#endif
TER_SELECTS static inline float lerp_f(float a, float b, float w) {
    float d = b - a, lo = a + w * d, hi = b - d * (1.0f - w);
    return fabsf(w) < 0.5f ? lo : hi;
}
TER_SELECTS static inline double lerp_(double a, double b, double w) {
    double d = b - a, lo = a + w * d, hi = b - d * (1.0 - w);
    return fabs(w) < 0.5 ? lo : hi;
}

/* lerp as PyTorch computes it: from the nearer end, so lerp(a, b, 1) is exactly b. */
#define PW3_FLOAT(T, SUF)                                                                          \
    TER_SELECTS static void pw3_##SUF(nbk_pw3 op, void *o, const void *a, int64_t as, const void *b, int64_t bs, const void *c, \
                          int64_t cs, double p, int64_t n) {                                       \
        const T pv = (T)p;                                                                         \
        if (op == NBK_LERP)                                                                        \
            TER_RUN(T, lerp_##SUF(x, y, z));                                                       \
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
    int64_t split, piece; /* each row is cut into `split` pieces of `piece` elements (long rows: 1-D tensors) */
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
    int64_t inner_all = j->shape[last];
    for (int64_t u = begin; u < end; u++) {
        int64_t r = u / j->split, c0 = (u % j->split) * j->piece;
        int64_t inner = inner_all - c0 < j->piece ? inner_all - c0 : j->piece;
        int64_t rem = r, off[3] = {c0 * j->st[0][last], c0 * j->st[1][last], c0 * j->st[2][last]};
        for (int d = last - 1; d >= 0; d--) {
            int64_t idx = rem % j->shape[d];
            rem /= j->shape[d];
            for (int q = 0; q < 3; q++) off[q] += idx * j->st[q][d];
        }
        char *o = j->out + (size_t)(r * inner_all + c0) * j->osize;
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
    /* rows longer than a task's worth of work are cut into pieces, so a long 1-D tensor still spreads
     * over the threads (pieces depend on the shape only: the same split for any thread count) */
    j->split = inner > work ? (inner + work - 1) / work : 1;
    j->piece = (inner + j->split - 1) / j->split;
    nbc_parallel_for(rows * j->split, j->split > 1 ? 1 : work / inner, nd_rows, j);
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
    if (op >= NBK_LAND) j.osize = 1; /* logical ops write bool from any operand type */
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
