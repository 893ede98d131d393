/* bench/peak.c — the machine's FP32 FMA throughput: the ceiling GEMM and convolution are measured
 * against. Each thread runs independent chains of fused multiply-adds on registers only (24 AVX-512
 * or 12 AVX2 accumulators: more chains than FMA latency x units, so the FMA pipes never wait), with
 * no memory traffic. Reports GFLOP/s (2 flops per lane per FMA) for 1..max threads, best of rounds.
 *
 *     build-bench/bench/peak [max_threads] [rounds]
 *
 * x86-64 only (AVX-512F or AVX2+FMA, chosen from the CPU at run time); elsewhere it says so. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define ITERS 20000000L /* FMAs per chain per round: about 0.1 s at peak */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The chains are written out (not a loop over an array) so they live in registers at any -O level.
 * Returns a value depending on every accumulator so the compiler keeps all chains. */
#define REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define REP24(X) REP12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
__attribute__((target("avx512f"))) static float fma_avx512(long iters) {
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, x, y);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    REP24(DECL)
    for (long n = 0; n < iters; n++) {
        REP24(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    REP24(SUM)
#undef DECL
#undef STEP
#undef SUM
    return _mm512_reduce_add_ps(s);
}
#define AVX512_FLOPS_PER_ITER (24.0 * 16 * 2)

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters) {
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)i);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, x, y);
#define SUM(i) s = _mm256_add_ps(s, a##i);
    REP12(DECL)
    for (long n = 0; n < iters; n++) {
        REP12(STEP)
    }
    __m256 s = _mm256_setzero_ps();
    REP12(SUM)
#undef DECL
#undef STEP
#undef SUM
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#define AVX2_FLOPS_PER_ITER (12.0 * 8 * 2)

static int g_avx512;
static volatile float g_sink;

static void *worker(void *arg) {
    long iters = *(long *)arg;
    g_sink = g_avx512 ? fma_avx512(iters) : fma_avx2(iters);
    return NULL;
}

/* GFLOP/s of `threads` threads each running `iters` iterations. */
static double run(int threads, long iters) {
    pthread_t tid[64];
    double t0 = now();
    for (int i = 0; i < threads; i++) pthread_create(&tid[i], NULL, worker, &iters);
    for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
    double dt = now() - t0;
    double flops = (g_avx512 ? AVX512_FLOPS_PER_ITER : AVX2_FLOPS_PER_ITER) * (double)iters * threads;
    return flops / dt * 1e-9;
}

int main(int argc, char **argv) {
    __builtin_cpu_init();
    g_avx512 = __builtin_cpu_supports("avx512f");
    if (!g_avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        fprintf(stderr, "peak: this CPU has neither AVX-512F nor AVX2+FMA; nothing to measure\n");
        return 1;
    }
    int max_threads = argc > 1 ? atoi(argv[1]) : 2;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (max_threads < 1 || max_threads > 64 || rounds < 1) {
        fprintf(stderr, "usage: peak [max_threads 1..64] [rounds >= 1]\n");
        return 2;
    }
    long iters = g_avx512 ? ITERS / 4 : ITERS / 2;
    printf("isa %s\n", g_avx512 ? "avx512" : "avx2");
    for (int t = 1; t <= max_threads; t++) {
        double best = 0;
        for (int r = 0; r < rounds; r++) {
            double g = run(t, iters);
            if (g > best) best = g;
        }
        printf("threads %d gflops %.1f\n", t, best);
    }
    return 0;
}
#else
int main(void) {
    fprintf(stderr, "peak: only x86-64 FMA throughput is measured; this build has no x86 SIMD\n");
    return 1;
}
#endif
