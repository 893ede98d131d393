/* bench/gemm.c — SGEMM throughput of nabla's nbk_gemm (or, built with -DNB_BENCH_OPENBLAS, of
 * OpenBLAS's cblas_sgemm on the same shapes and timing loop). bench/run_gemm drives it.
 *
 *     gemm [--threads N] [--min-ms MS] [--rounds R] [--cpu-time] [--check] [MxKxN ...]
 *
 * C (M x N) = A (M x K) * B (K x N), all row-major and contiguous. For each shape prints one line
 * "M K N threads GFLOP/s", the best of R rounds, each round averaging calls over >= MS milliseconds.
 * --cpu-time times with the process CPU clock (for tuning on a busy machine; 1 thread only).
 * --check verifies the fused epilogue (bias + relu) of nbk_gemm_ex against a separate pass. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/kernels.h"

#ifdef NB_BENCH_OPENBLAS
/* declared here so the bench needs only the library, not a particular cblas.h */
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
char *openblas_get_config(void);
char *openblas_get_corename(void);
#define LIB_NAME "openblas"
static void run_gemm(int64_t m, int64_t k, int64_t n, const float *a, const float *b, float *c) {
    cblas_sgemm(101 /* row-major */, 111, 111, (int)m, (int)n, (int)k, 1.0f, a, (int)k, b, (int)n, 0.0f, c, (int)n);
}
#else
#define LIB_NAME "nabla"
static void run_gemm(int64_t m, int64_t k, int64_t n, const float *a, const float *b, float *c) {
    nbk_gemm(NB_F32, m, n, k, a, k, 1, b, n, 1, c, n);
}
#endif

static clockid_t g_clock = CLOCK_MONOTONIC;
static double now_s(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rand_buf(int64_t n, unsigned *seed) {
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    for (int64_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

static double bench_shape(int64_t m, int64_t k, int64_t n, double min_ms, int rounds) {
    unsigned seed = 12345;
    float *a = rand_buf(m * k, &seed), *b = rand_buf(k * n, &seed), *c = rand_buf(m * n, &seed);
    double flops = 2.0 * (double)m * (double)n * (double)k, best = 0;
    run_gemm(m, k, n, a, b, c); /* warm up: pool, caches, allocator */
    run_gemm(m, k, n, a, b, c);
    for (int r = 0; r < rounds; r++) {
        int64_t calls = 0;
        double t0 = now_s(), t;
        do {
            run_gemm(m, k, n, a, b, c);
            calls++;
            t = now_s() - t0;
        } while (t * 1e3 < min_ms);
        double gf = flops * (double)calls / t / 1e9;
        if (gf > best) best = gf;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

#ifndef NB_BENCH_OPENBLAS
static int check_epilogue(void) {
    static const int64_t shapes[][3] = {{64, 784, 256}, {13, 300, 70}, {1, 5, 3}, {100, 1, 33}, {257, 513, 129}};
    int bad = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        unsigned seed = 7;
        float *a = rand_buf(m * k, &seed), *b = rand_buf(k * n, &seed), *bias = rand_buf(n, &seed);
        float *c1 = rand_buf(m * n, &seed), *c2 = rand_buf(m * n, &seed);
        for (int act = 0; act < 2; act++)
            for (int wb = 0; wb < 2; wb++) {
                nbk_epilogue ep = {wb ? bias : NULL, act};
                nbk_gemm_ex(NB_F32, m, n, k, a, k, 1, b, n, 1, c1, n, &ep);
                nbk_gemm(NB_F32, m, n, k, a, k, 1, b, n, 1, c2, n);
                for (int64_t i = 0; i < m * n; i++) {
                    float x = c2[i];
                    if (wb) x = x + bias[i % n];
                    if (act && x < 0.0f) x = 0.0f;
                    if (memcmp(&x, &c1[i], sizeof x) != 0) {
                        fprintf(stderr, "epilogue mismatch %lldx%lldx%lld act=%d bias=%d at %lld: %g vs %g\n",
                                (long long)m, (long long)k, (long long)n, act, wb, (long long)i, c1[i], x);
                        bad++;
                        break;
                    }
                }
            }
        free(a), free(b), free(bias), free(c1), free(c2);
    }
    fprintf(stderr, "epilogue check: %s\n", bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}
#endif

int main(int argc, char **argv) {
    int threads = 1, rounds = 5;
    double min_ms = 100;
    int first_shape = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cpu-time")) g_clock = CLOCK_PROCESS_CPUTIME_ID; /* tuning on a busy machine */
        else if (!strcmp(argv[i], "--check")) {
#ifndef NB_BENCH_OPENBLAS
            return check_epilogue();
#endif
        } else {
            first_shape = i;
            break;
        }
    }
#ifdef NB_BENCH_OPENBLAS
    fprintf(stderr, "gemm: %s core %s, config %s\n", LIB_NAME, openblas_get_corename(), openblas_get_config());
#else
    nb_set_num_threads(threads);
    fprintf(stderr, "gemm: %s kernel %s, %d threads\n", LIB_NAME, nbk_gemm_isa(), nb_get_num_threads());
#endif
    static const char *defaults[] = {"256x256x256", "1024x1024x1024"};
    int nshapes = first_shape < argc ? argc - first_shape : 2;
    for (int s = 0; s < nshapes; s++) {
        const char *spec = first_shape < argc ? argv[first_shape + s] : defaults[s];
        long long m, k, n;
        if (sscanf(spec, "%lldx%lldx%lld", &m, &k, &n) != 3) {
            fprintf(stderr, "gemm: bad shape '%s' (expected MxKxN)\n", spec);
            return 2;
        }
        double gf = bench_shape(m, k, n, min_ms, rounds);
        printf("%lld %lld %lld %d %.2f\n", m, k, n, threads, gf);
        fflush(stdout);
    }
    return 0;
}
