/* tests/test_vmath.c — the f32 vector math (exp, log, tanh, sigmoid, erf) and the SIMD elementwise,
 * reduction and softmax kernels, called below the op layer (kernels/cpu/kernels.h).
 *
 * - Maximum error of each function against a double-precision reference, in ULP of the f32 result,
 *   over every 64th f32 bit pattern (all signs and exponents, 2^26 inputs; every 512th in the
 *   children below) plus special values
 *   (+-0, denormals, +-inf, NaN, overflow and underflow boundaries), checked against the bounds
 *   documented in kernels.h; special values checked exactly (like libm).
 * - Binary ops (add, sub, mul, div, max, min, comparisons) in the three SIMD stride patterns and a
 *   strided one, every length 0..70 (tails), against plain C, bitwise, with NaN, +-0 and inf inputs.
 * - Unary ops (neg, abs, relu, sign, sqrt) bitwise against plain C; exp/log/tanh/sigmoid through
 *   nbk_unary_run equal nbk_vmath_f32.
 * - Row sums, max/min, column reductions and softmax/log-softmax rows against double references,
 *   and bitwise identical with 1 and 2 threads.
 * - Every dispatch level: the program runs at the best level, then re-executes itself with
 *   NABLA_CPU_MAX=avx2 and =scalar (NABLA_VMATH_TEST_CHILD marks the children) and passes them a
 *   checksum of all its results; each child must reproduce it bit for bit (kernels.h promises the
 *   same bits at every level). */
#include "harness.h"
#include "respawn.h"

#include <float.h>
#include <stdint.h>

#include "kernels/cpu/kernels.h"


/* Documented bounds (kernels.h). */
static const double BOUND[NBK_VFN_COUNT] = {1.0, 1.0, 1.5, 2.5, 1.5};
static const char *FN_NAME[NBK_VFN_COUNT] = {"exp", "log", "tanh", "sigmoid", "erf"};

static uint64_t g_hash = 1469598103934665603ull; /* FNV-1a over every result, for the cross-level check */
static void hash_bytes(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) g_hash = (g_hash ^ b[i]) * 1099511628211ull;
}

static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static double ref(nbk_vfn f, double x) {
    switch (f) {
    case NBK_VEXP: return exp(x);
    case NBK_VLOG: return log(x);
    case NBK_VTANH: return tanh(x);
    case NBK_VSIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
    default: return erf(x);
    }
}

/* Error of y in ULP of the f32 result the reference rounds to; -1 when a special result is wrong. */
static double ulp_error(float y, double r) {
    float rf = (float)r;
    if (isnan(r)) return isnan(y) ? 0 : -1;
    if (isinf(rf)) return (y == rf) ? 0 : -1; /* overflow: must be inf (or the reference is at FLT_MAX) */
    if (isnan(y) || isinf(y)) return -1;
    double a = fabs(r);
    int e;
    frexp(a, &e); /* a = m 2^e, m in [0.5, 1) */
    double ulp = a < FLT_MIN ? 0x1p-149 : ldexp(1.0, e - 24);
    return fabs((double)y - r) / ulp;
}

#define BATCH 65536

/* The sweep: input u + (u >> 26) % 64 for every u that is a multiple of g_step (64 in the parent; 512
 * in the children, which only have to reproduce the parent's bits). The checksum covers the inputs
 * with u a multiple of 512, which both sweeps contain. */
static uint64_t g_step = 64;

static void check_fn(nbk_vfn f, double *worst_out, float *worst_x) {
    float *x = malloc(BATCH * sizeof(float)), *y = malloc(BATCH * sizeof(float));
    double worst = 0;
    float wx = 0;
    int bad = 0;
    uint64_t total = 1ull << 32;
    for (uint64_t base = 0; base < total; base += (uint64_t)BATCH * g_step) {
        int n = 0;
        for (uint64_t u = base; u < total && n < BATCH; u += g_step) x[n++] = bits_f((uint32_t)(u + (u >> 26) % 64));
        nbk_vmath_f32(f, x, y, n);
        for (int i = 0; i < n; i += (int)(512 / g_step)) hash_bytes(&y[i], sizeof(float));
        for (int i = 0; i < n; i++) {
            double e = ulp_error(y[i], ref(f, (double)x[i]));
            if (e < 0) {
                if (bad++ < 5)
                    fprintf(stderr, "  %s(%a) = %a, expected %a\n", FN_NAME[f], (double)x[i], (double)y[i],
                            ref(f, (double)x[i]));
                continue;
            }
            if (e > worst) {
                worst = e;
                wx = x[i];
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: %d wrong special results", FN_NAME[f], bad);
    *worst_out = worst;
    *worst_x = wx;
    free(x);
    free(y);
}

static void test_ulp(void) {
    for (int f = 0; f < NBK_VFN_COUNT; f++) {
        double worst;
        float wx;
        check_fn((nbk_vfn)f, &worst, &wx);
        fprintf(stderr, "  %-8s max error %.3f ULP (at x = %a) [%s]\n", FN_NAME[f], worst, (double)wx, nbk_ew_isa());
        CHECK_MSG(worst <= BOUND[f], "%s: %.3f ULP > %.1f", FN_NAME[f], worst, BOUND[f]);
    }
}

/* Denser near the places where approximations switch or lose accuracy: every float in small windows. */
static void test_dense_windows(void) {
    static const struct {
        nbk_vfn f;
        float lo, hi;
    } win[] = {{NBK_VEXP, 0.25f, 0.36f},     {NBK_VEXP, -0.36f, -0.25f},      {NBK_VEXP, 88.0f, 89.0f},
               {NBK_VEXP, -104.0f, -86.0f},  {NBK_VLOG, 0.7f, 1.45f},         {NBK_VLOG, 1e-39f, 2e-38f},
               {NBK_VTANH, 0.55f, 0.7f},     {NBK_VTANH, -0.7f, -0.55f},      {NBK_VTANH, 8.9f, 9.2f},
               {NBK_VSIGMOID, -90.0f, -85.0f}, {NBK_VSIGMOID, -2.0f, -1.0f}, {NBK_VSIGMOID, 0.5f, 1.0f},
               {NBK_VERF, 0.85f, 1.0f},      {NBK_VERF, 3.8f, 4.1f},          {NBK_VERF, 1e-3f, 1.1e-3f}};
    float *x = malloc(BATCH * sizeof(float)), *y = malloc(BATCH * sizeof(float));
    for (size_t w = 0; w < sizeof win / sizeof win[0]; w++) {
        double worst = 0;
        int bad = 0;
        float v = win[w].lo;
        while (v < win[w].hi) {
            int n = 0;
            for (; n < BATCH && v < win[w].hi; n++, v = nextafterf(v, INFINITY)) x[n] = v;
            nbk_vmath_f32(win[w].f, x, y, n);
            for (int i = 0; i < n; i++) {
                double e = ulp_error(y[i], ref(win[w].f, (double)x[i]));
                if (e < 0) bad++;
                else if (e > worst) worst = e;
            }
        }
        CHECK_MSG(bad == 0 && worst <= BOUND[win[w].f], "%s on [%g, %g]: %.3f ULP, %d bad", FN_NAME[win[w].f],
                  (double)win[w].lo, (double)win[w].hi, worst, bad);
    }
    free(x);
    free(y);
}

static bool same(float a, float b) { return f_bits(a) == f_bits(b) || (isnan(a) && isnan(b)); }

static void test_special(void) {
    static const struct {
        nbk_vfn f;
        float x, want;
    } cases[] = {
        {NBK_VEXP, 0.0f, 1.0f}, {NBK_VEXP, -0.0f, 1.0f}, {NBK_VEXP, INFINITY, INFINITY}, {NBK_VEXP, -INFINITY, 0.0f},
        {NBK_VEXP, NAN, NAN}, {NBK_VEXP, 89.0f, INFINITY}, {NBK_VEXP, 1e10f, INFINITY}, {NBK_VEXP, -104.0f, 0.0f},
        {NBK_VEXP, -1e10f, 0.0f}, {NBK_VEXP, 1.0f, 2.71828183f},
        {NBK_VLOG, 0.0f, -INFINITY}, {NBK_VLOG, -0.0f, -INFINITY}, {NBK_VLOG, -1.0f, NAN},
        {NBK_VLOG, -INFINITY, NAN}, {NBK_VLOG, INFINITY, INFINITY}, {NBK_VLOG, NAN, NAN}, {NBK_VLOG, 1.0f, 0.0f},
        {NBK_VLOG, -0x1p-149f, NAN},
        {NBK_VTANH, 0.0f, 0.0f}, {NBK_VTANH, -0.0f, -0.0f}, {NBK_VTANH, INFINITY, 1.0f},
        {NBK_VTANH, -INFINITY, -1.0f}, {NBK_VTANH, NAN, NAN}, {NBK_VTANH, 20.0f, 1.0f}, {NBK_VTANH, -20.0f, -1.0f},
        {NBK_VTANH, 0x1p-149f, 0x1p-149f}, {NBK_VTANH, -0x1p-140f, -0x1p-140f},
        {NBK_VSIGMOID, 0.0f, 0.5f}, {NBK_VSIGMOID, -0.0f, 0.5f}, {NBK_VSIGMOID, INFINITY, 1.0f},
        {NBK_VSIGMOID, -INFINITY, 0.0f}, {NBK_VSIGMOID, NAN, NAN}, {NBK_VSIGMOID, 50.0f, 1.0f},
        {NBK_VSIGMOID, -200.0f, 0.0f},
        {NBK_VERF, 0.0f, 0.0f}, {NBK_VERF, -0.0f, -0.0f}, {NBK_VERF, INFINITY, 1.0f}, {NBK_VERF, -INFINITY, -1.0f},
        {NBK_VERF, NAN, NAN}, {NBK_VERF, 5.0f, 1.0f}, {NBK_VERF, -5.0f, -1.0f},
    };
    size_t nc = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < nc; i++) {
        float y;
        nbk_vmath_f32(cases[i].f, &cases[i].x, &y, 1);
        CHECK_MSG(same(y, cases[i].want), "%s(%a) = %a, want %a", FN_NAME[cases[i].f], (double)cases[i].x, (double)y,
                  (double)cases[i].want);
    }
    /* denormal results and inputs */
    float x = -100.0f, y;
    nbk_vmath_f32(NBK_VEXP, &x, &y, 1);
    CHECK(y > 0 && y < FLT_MIN && ulp_error(y, exp(-100.0)) <= 0.5001);
    nbk_vmath_f32(NBK_VSIGMOID, &x, &y, 1);
    CHECK(y > 0 && y < FLT_MIN && ulp_error(y, exp(-100.0)) <= 0.5001);
    x = 0x1p-149f;
    nbk_vmath_f32(NBK_VLOG, &x, &y, 1);
    CHECK(ulp_error(y, log(0x1p-149)) <= BOUND[NBK_VLOG]);
    x = 0x1p-130f;
    nbk_vmath_f32(NBK_VERF, &x, &y, 1);
    CHECK(ulp_error(y, erf(0x1p-130)) <= 1);
    /* the overflow boundary: the largest x with a finite exp */
    x = 88.72283f;
    nbk_vmath_f32(NBK_VEXP, &x, &y, 1);
    CHECK(isfinite(y) && ulp_error(y, exp((double)x)) <= BOUND[NBK_VEXP]);
    x = nextafterf(88.7228391f, INFINITY);
    nbk_vmath_f32(NBK_VEXP, &x, &y, 1);
    CHECK(isinf(y));
}

/* ---- elementwise kernels ---------------------------------------------------------------------- */

static float randf(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((double)(*s >> 11) * 0x1p-53 * 8.0 - 4.0);
}

/* Inputs with special values sprinkled in. */
static void fill(float *p, int64_t n, uint64_t *s) {
    static const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f, 0x1p-149f};
    for (int64_t i = 0; i < n; i++) p[i] = (*s % 7 == 0) ? sp[(*s >> 8) % 8] : randf(s);
}

static float bin_ref(nbk_binary op, float x, float y) {
    switch (op) {
    case NBK_ADD: return x + y;
    case NBK_SUB: return x - y;
    case NBK_MUL: return x * y;
    case NBK_DIV: return x / y;
    case NBK_MAX: return (x != x || x > y) ? x : y;
    case NBK_MIN: return (x != x || x < y) ? x : y;
    case NBK_EQ: return x == y;
    case NBK_NE: return x != y;
    case NBK_LT: return x < y;
    case NBK_LE: return x <= y;
    case NBK_GT: return x > y;
    default: return x >= y;
    }
}

static void test_binary(void) {
    uint64_t s = 42;
    float a[160], b[160], o[80];
    static const nbk_binary ops[] = {NBK_ADD, NBK_SUB, NBK_MUL, NBK_DIV, NBK_MAX, NBK_MIN,
                                     NBK_EQ,  NBK_NE,  NBK_LT,  NBK_LE,  NBK_GT,  NBK_GE};
    int bad = 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        bool cmp = ops[k] >= NBK_EQ;
        for (int64_t n = 0; n <= 70; n++) {
            for (int pat = 0; pat < 4; pat++) {
                fill(a, 160, &s);
                fill(b, 160, &s);
                int64_t sa = pat == 2 ? 0 : pat == 3 ? 2 : 1, sb = pat == 1 ? 0 : pat == 3 ? 2 : 1;
                int64_t shape[1] = {n}, st_a[1] = {sa}, st_b[1] = {sb};
                memset(o, 0x55, sizeof o);
                nbk_binary_run(ops[k], NB_F32, o, a, st_a, b, st_b, 1, shape);
                hash_bytes(o, sizeof o);
                for (int64_t i = 0; i < n; i++) {
                    float want = bin_ref(ops[k], a[i * sa], b[i * sb]);
                    bool ok = cmp ? ((const uint8_t *)o)[i] == (uint8_t)want : same(o[i], want);
                    if (!ok && bad++ < 5) fprintf(stderr, "  binary op %d n=%lld pattern %d at %lld\n", (int)ops[k], (long long)n, pat, (long long)i);
                }
                /* nothing written past the end */
                const uint8_t *ob = (const uint8_t *)o;
                size_t end = (size_t)n * (cmp ? 1 : 4);
                for (size_t i = end; i < sizeof o; i++)
                    if (ob[i] != 0x55 && bad++ < 5) fprintf(stderr, "  binary op %d n=%lld wrote past the end\n", (int)ops[k], (long long)n);
            }
        }
    }
    CHECK_MSG(bad == 0, "%d binary mismatches", bad);
}

static void test_unary(void) {
    uint64_t s = 7;
    float x[80], y[80], v[80];
    int bad = 0;
    for (int64_t n = 0; n <= 70; n++) {
        fill(x, n, &s);
        static const nbk_unary simple[] = {NBK_NEG, NBK_ABS, NBK_RELU, NBK_SIGN, NBK_SQRT};
        for (size_t k = 0; k < 5; k++) {
            nbk_unary_run(simple[k], NB_F32, x, y, n);
            hash_bytes(y, (size_t)n * 4);
            for (int64_t i = 0; i < n; i++) {
                float t = x[i], want;
                switch (simple[k]) {
                case NBK_NEG: want = -t; break;
                case NBK_ABS: want = fabsf(t); break;
                case NBK_RELU: want = (t > 0 || t != t) ? t : 0.0f; break;
                case NBK_SIGN: want = (float)((t > 0) - (t < 0)); break;
                default: want = sqrtf(t); break;
                }
                if (!same(y[i], want) && bad++ < 5) fprintf(stderr, "  unary %d(%a) = %a\n", (int)simple[k], (double)t, (double)y[i]);
            }
        }
        static const nbk_unary tr[] = {NBK_EXP, NBK_LOG, NBK_TANH, NBK_SIGMOID};
        static const nbk_vfn vf[] = {NBK_VEXP, NBK_VLOG, NBK_VTANH, NBK_VSIGMOID};
        for (int k = 0; k < 4; k++) {
            nbk_unary_run(tr[k], NB_F32, x, y, n);
            nbk_vmath_f32(vf[k], x, v, n);
            if (n && memcmp(y, v, (size_t)n * 4) != 0 && bad++ < 5) fprintf(stderr, "  unary %d differs from vmath\n", (int)tr[k]);
        }
    }
    CHECK_MSG(bad == 0, "%d unary mismatches", bad);
}

/* ---- reductions and softmax ------------------------------------------------------------------- */

static void test_reductions(void) {
    uint64_t s = 99;
    static const int64_t lens[] = {1, 3, 15, 16, 17, 63, 64, 65, 100, 1000, 4095, 4096, 4097, 10000, 70000};
    int bad = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t r = lens[li], m = 3;
        float *x = malloc(sizeof(float) * (size_t)(m * r)), out[3], out2[3], y[3];
        for (int64_t i = 0; i < m * r; i++) x[i] = randf(&s);
        nbk_reduce_rows(NBK_RSUM, NB_F32, x, out, m, r);
        hash_bytes(out, sizeof out);
        for (int64_t q = 0; q < m; q++) {
            double ref = 0, abs = 0;
            for (int64_t i = 0; i < r; i++) {
                ref += x[q * r + i];
                abs += fabs(x[q * r + i]);
            }
            if (fabs(out[q] - ref) > 1e-6 * abs + 1e-30 && bad++ < 5) fprintf(stderr, "  sum r=%lld: %g vs %g\n", (long long)r, out[q], ref);
        }
        /* one long row (split over threads by chunks when large) equals the row loop */
        nbk_reduce_rows(NBK_RSUM, NB_F32, x, &y[0], 1, r);
        if (!same(y[0], out[0]) && bad++ < 5) fprintf(stderr, "  single-row sum differs r=%lld\n", (long long)r);
        nbk_reduce_rows(NBK_RMAX, NB_F32, x, out, m, r);
        nbk_reduce_rows(NBK_RMIN, NB_F32, x, out2, m, r);
        hash_bytes(out, sizeof out);
        hash_bytes(out2, sizeof out2);
        for (int64_t q = 0; q < m; q++) {
            float mx = x[q * r], mn = x[q * r];
            for (int64_t i = 1; i < r; i++) {
                mx = x[q * r + i] > mx ? x[q * r + i] : mx;
                mn = x[q * r + i] < mn ? x[q * r + i] : mn;
            }
            if ((mx != out[q] || mn != out2[q]) && bad++ < 5) fprintf(stderr, "  max/min r=%lld\n", (long long)r);
        }
        /* a NaN anywhere gives NaN */
        x[r / 2] = NAN;
        nbk_reduce_rows(NBK_RMAX, NB_F32, x, out, 1, r);
        nbk_reduce_rows(NBK_RMIN, NB_F32, x, out2, 1, r);
        if ((!isnan(out[0]) || !isnan(out2[0])) && bad++ < 5) fprintf(stderr, "  max/min NaN r=%lld\n", (long long)r);
        free(x);
    }
    /* columns: (r, n) -> n, every n up to 70 and a wide one */
    for (int64_t n = 1; n <= 200; n += (n < 70 ? 1 : 65)) {
        int64_t r = 37;
        float *x = malloc(sizeof(float) * (size_t)(r * n)), *o = malloc(sizeof(float) * (size_t)n);
        fill(x, r * n, &s);
        for (int op = 0; op < 3; op++) {
            nbk_reduce_cols((nbk_reduce)op, NB_F32, x, o, r, n);
            hash_bytes(o, sizeof(float) * (size_t)n);
            for (int64_t j = 0; j < n; j++) {
                float acc = x[j];
                for (int64_t i = 1; i < r; i++) {
                    float v = x[i * n + j];
                    acc = op == NBK_RSUM ? acc + v : op == NBK_RMAX ? ((v > acc || v != v) ? v : acc) : ((v < acc || v != v) ? v : acc);
                }
                if (!same(o[j], acc) && bad++ < 5) fprintf(stderr, "  cols op %d n=%lld j=%lld\n", op, (long long)n, (long long)j);
            }
        }
        free(x);
        free(o);
    }
    CHECK_MSG(bad == 0, "%d reduction mismatches", bad);
}

static void test_softmax(void) {
    uint64_t s = 5;
    static const int64_t lens[] = {1, 2, 15, 17, 64, 65, 1000, 4096, 5000};
    int bad = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t r = lens[li], m = 4;
        float *x = malloc(sizeof(float) * (size_t)(m * r)), *y = malloc(sizeof(float) * (size_t)(m * r));
        for (int64_t i = 0; i < m * r; i++) x[i] = randf(&s) * 5;
        x[r] = -INFINITY; /* row 1 has a -inf */
        for (int lg = 0; lg < 2; lg++) {
            nbk_softmax_rows(NB_F32, x, y, m, r, lg);
            hash_bytes(y, sizeof(float) * (size_t)(m * r));
            for (int64_t q = 0; q < m; q++) {
                const float *xr = x + q * r;
                double mx = -INFINITY, sum = 0;
                for (int64_t i = 0; i < r; i++) mx = xr[i] > mx ? xr[i] : mx;
                for (int64_t i = 0; i < r; i++) sum += exp((double)xr[i] - mx);
                for (int64_t i = 0; i < r; i++) {
                    double want = lg ? ((double)xr[i] - mx) - log(sum) : exp((double)xr[i] - mx) / sum;
                    double got = y[q * r + i];
                    /* f32 rounding of x - m (relative 2^-24) scales the error of e^(x - m) by |x - m| */
                    double d = fabs((double)xr[i] - mx);
                    double tol = lg ? 4e-7 * (1 + fabs(want) + fabs(log(sum))) : (1e-6 + 1.2e-7 * d) * fabs(want) + 1e-40;
                    bool ok = (isnan(want) && isnan(got)) || (isinf(want) || want == 0 ? got == want : fabs(got - want) <= tol);
                    if (!ok && bad++ < 5) fprintf(stderr, "  softmax%s r=%lld row %lld i %lld: %g vs %g\n", lg ? "(log)" : "", (long long)r, (long long)q, (long long)i, got, want);
                }
            }
        }
        free(x);
        free(y);
    }
    CHECK_MSG(bad == 0, "%d softmax mismatches", bad);
}

/* 1 and 2 threads: the same bits (large enough to be split). */
static void test_threads(void) {
    int64_t m = 300, r = 5000, n = m * r;
    float *x = malloc(sizeof(float) * (size_t)n), *y1 = malloc(sizeof(float) * (size_t)n), *y2 = malloc(sizeof(float) * (size_t)n);
    uint64_t s = 3;
    for (int64_t i = 0; i < n; i++) x[i] = randf(&s);
    int bad = 0;
    for (int what = 0; what < 7; what++) {
        for (int t = 1; t <= 2; t++) {
            float *y = t == 1 ? y1 : y2;
            nb_set_num_threads(t);
            int64_t shape[1] = {n}, one[1] = {1}, zero[1] = {0};
            switch (what) {
            case 0: nbk_unary_run(NBK_TANH, NB_F32, x, y, n); break;
            case 1: nbk_binary_run(NBK_MUL, NB_F32, y, x, one, x, zero, 1, shape); break;
            case 2: nbk_reduce_rows(NBK_RSUM, NB_F32, x, y, m, r); break;
            case 3: nbk_reduce_rows(NBK_RSUM, NB_F32, x, y, 1, n); break;
            case 4: nbk_reduce_cols(NBK_RSUM, NB_F32, x, y, m, r); break;
            case 5: nbk_softmax_rows(NB_F32, x, y, m, r, false); break;
            default: nbk_softmax_rows(NB_F32, x, y, m, r, true); break;
            }
        }
        int64_t cnt = what == 2 ? m : what == 3 ? 1 : what == 4 ? r : n;
        if (memcmp(y1, y2, sizeof(float) * (size_t)cnt) != 0 && bad++ < 5) fprintf(stderr, "  case %d differs for 1 and 2 threads\n", what);
        hash_bytes(y1, sizeof(float) * (size_t)cnt);
    }
    nb_set_num_threads(0);
    CHECK_MSG(bad == 0, "%d thread-count differences", bad);
    free(x);
    free(y1);
    free(y2);
}

int main(void) {
    const char *child = getenv("NABLA_VMATH_TEST_CHILD");
    const char *lim = getenv("NABLA_CPU_MAX");
    if (child) g_step = 512;
    fprintf(stderr, "test_vmath: NABLA_CPU_MAX=%s, level %s, features: %s\n", lim ? lim : "(unset)", nbk_ew_isa(),
            nb_cpu_features_string());
    RUN(test_special);
    RUN(test_ulp);
    RUN(test_dense_windows);
    RUN(test_binary);
    RUN(test_unary);
    RUN(test_reductions);
    RUN(test_softmax);
    RUN(test_threads);
    fprintf(stderr, "test_vmath: checksum %016llx at level %s\n", (unsigned long long)g_hash, nbk_ew_isa());
    if (child) {
        unsigned long long want = strtoull(child, NULL, 10);
        CHECK_MSG(want == g_hash, "results at level %s differ from the parent's (checksum %016llx vs %016llx)",
                  nbk_ew_isa(), (unsigned long long)g_hash, want);
    } else {
        static const char *levels[] = {"avx2", "scalar"};
        for (int i = 0; i < 2; i++) {
            char expect[32];
            snprintf(expect, sizeof expect, "%llu", (unsigned long long)g_hash);
            int rc = respawn_at_level(levels[i], "NABLA_VMATH_TEST_CHILD", expect);
            CHECK_MSG(rc == 0, "child with NABLA_CPU_MAX=%s exited with %d", levels[i], rc);
        }
    }
    return harness_finish();
}
