/* kernels/cpu/gemm_avx2.c — AVX2+FMA SGEMM micro-kernel and packing. Register tile 6 rows x 16
 * columns of row-major C: per k step two ymm loads of B~, six broadcasts of A~, 12 FMAs into 12
 * named ymm accumulators (15 of the 16 registers). Edge tiles go through a temporary tile. */
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_ATTR __attribute__((target("avx2,fma")))
#define MR 6
#define NR 16

#define PACK_ATTR AVX2_ATTR
#define PACK_MR MR
#define PACK_NR NR
#define PACK_NAME(x) avx2_##x
#include "gemm_pack.inc"

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

AVX2_ATTR NBK_KERNEL static void avx2_tile(int64_t kc, const float *restrict pa,
                                                                  const float *restrict pb, float *restrict c,
                                                                  int64_t ldc, int mr, int nr, int flags,
                                                                  const float *restrict bias) {
#define DECL(r) __m256 c##r##a = _mm256_setzero_ps(), c##r##b = _mm256_setzero_ps();
    ROWS(DECL)
#undef DECL
    /* pull the C tile towards L1 while the k-loop runs: the driver walks down C's rows (a tile's rows
     * are ldc apart), where the hardware prefetchers do not follow */
#define PF(r) if (r < mr) { _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0); _mm_prefetch((const char *)(c + r * ldc + NR - 1), _MM_HINT_T0); }
    if (flags & NBK_TILE_ACC) { ROWS(PF) }
#undef PF
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8);
#define STEP(r)                                                                                    \
    {                                                                                              \
        __m256 av = _mm256_broadcast_ss(pa + r);                                                   \
        c##r##a = _mm256_fmadd_ps(av, b0, c##r##a);                                                \
        c##r##b = _mm256_fmadd_ps(av, b1, c##r##b);                                                \
    }
        ROWS(STEP)
#undef STEP
        pa += MR;
        pb += NR;
    }
    int acc = flags & NBK_TILE_ACC, relu = flags & NBK_TILE_RELU;
    if (mr == MR && nr == NR) {
        __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps(), zero = _mm256_setzero_ps();
        if (bias) {
            bias0 = _mm256_loadu_ps(bias);
            bias1 = _mm256_loadu_ps(bias + 8);
        }
#define STORE(r)                                                                                   \
    {                                                                                              \
        float *cr = c + (int64_t)r * ldc;                                                          \
        __m256 x0 = c##r##a, x1 = c##r##b;                                                         \
        if (acc) {                                                                                 \
            x0 = _mm256_add_ps(_mm256_loadu_ps(cr), x0);                                           \
            x1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), x1);                                       \
        }                                                                                          \
        if (bias) {                                                                                \
            x0 = _mm256_add_ps(x0, bias0);                                                         \
            x1 = _mm256_add_ps(x1, bias1);                                                         \
        }                                                                                          \
        if (relu) {                                                                                \
            x0 = _mm256_max_ps(zero, x0);                                                          \
            x1 = _mm256_max_ps(zero, x1);                                                          \
        }                                                                                          \
        _mm256_storeu_ps(cr, x0);                                                                  \
        _mm256_storeu_ps(cr + 8, x1);                                                              \
    }
        ROWS(STORE)
#undef STORE
        return;
    }
    /* edge tile: spill to a temporary and finish in scalar code (same arithmetic order) */
    float t[MR * NR];
#define SPILL(r) _mm256_storeu_ps(t + r * NR, c##r##a); _mm256_storeu_ps(t + r * NR + 8, c##r##b);
    ROWS(SPILL)
#undef SPILL
    for (int r = 0; r < mr; r++) {
        float *cr = c + (int64_t)r * ldc;
        for (int j = 0; j < nr; j++) {
            float x = t[r * NR + j];
            if (acc) x = cr[j] + x;
            if (bias) x = x + bias[j];
            if (relu) x = x < 0.0f ? 0.0f : x; /* NaN stays NaN */
            cr[j] = x;
        }
    }
}

const nbk_sgemm_arch nbk_sgemm_avx2 = {"avx2", MR, NR, avx2_pack_a, avx2_pack_b, avx2_tile, 0, 0, NULL, 0};

#endif
