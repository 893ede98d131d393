/* kernels/cpu/gemm_avx512.c — AVX-512 SGEMM micro-kernel and packing. The register tile is 12 rows x
 * 32 columns of row-major C (the transpose of BLIS's 32x12): per k step two zmm loads of B~, twelve
 * broadcasts of A~ (folded into the FMAs as {1to16} memory operands) and 24 FMAs into 24 named zmm
 * accumulators. Edge tiles are written with masked loads and stores. Compiled with a per-function
 * target attribute so the rest of the binary stays baseline x86-64. */
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#ifndef NBK_AVX512_MR
#define NBK_AVX512_MR 12
#endif
#define MR NBK_AVX512_MR
#define NR 32

#define PACK_ATTR AVX512_ATTR
#define PACK_MR MR
#define PACK_NR NR
#define PACK_NAME(x) avx512_##x
#include "gemm_pack.inc"

#if MR == 14
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#elif MR == 12
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#elif MR == 8
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#endif

/* noinline + noclone: gcc's constprop clones of such kernels have spilled accumulators (kernels.md). */
AVX512_ATTR __attribute__((noinline, noclone)) static void avx512_tile(int64_t kc, const float *restrict pa,
                                                                      const float *restrict pb, float *restrict c,
                                                                      int64_t ldc, int mr, int nr, int flags,
                                                                      const float *restrict bias) {
#define DECL(r) __m512 c##r##a = _mm512_setzero_ps(), c##r##b = _mm512_setzero_ps();
    ROWS(DECL)
#undef DECL
    /* pull the C tile towards L1 while the k-loop runs */
#define PF(r) if (r < mr) { _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0); _mm_prefetch((const char *)(c + r * ldc + NR - 1), _MM_HINT_T0); }
    if (flags & NBK_TILE_ACC) { ROWS(PF) }
#undef PF
#ifdef NBK_UNROLL
#pragma GCC unroll NBK_UNROLL
#endif
    for (int64_t p = 0; p < kc; p++) {
#ifdef NBK_PFB
        _mm_prefetch((const char *)(pb + NBK_PFB), _MM_HINT_T0);
#endif
        __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#define STEP(r)                                                                                    \
    {                                                                                              \
        __m512 av = _mm512_set1_ps(pa[r]);                                                         \
        c##r##a = _mm512_fmadd_ps(av, b0, c##r##a);                                                \
        c##r##b = _mm512_fmadd_ps(av, b1, c##r##b);                                                \
    }
        ROWS(STEP)
#undef STEP
        pa += MR;
        pb += NR;
    }
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xffff : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps(), zero = _mm512_setzero_ps();
    if (bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
    int acc = flags & NBK_TILE_ACC, relu = flags & NBK_TILE_RELU;
#define STORE(r)                                                                                   \
    if (r < mr) {                                                                                  \
        float *cr = c + (int64_t)r * ldc;                                                          \
        __m512 x0 = c##r##a, x1 = c##r##b;                                                         \
        if (acc) {                                                                                 \
            x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), x0);                                 \
            x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), x1);                            \
        }                                                                                          \
        if (bias) {                                                                                \
            x0 = _mm512_add_ps(x0, bias0);                                                         \
            x1 = _mm512_add_ps(x1, bias1);                                                         \
        }                                                                                          \
        if (relu) {                                                                                \
            x0 = _mm512_max_ps(zero, x0);                                                          \
            x1 = _mm512_max_ps(zero, x1);                                                          \
        }                                                                                          \
        _mm512_mask_storeu_ps(cr, m0, x0);                                                         \
        _mm512_mask_storeu_ps(cr + 16, m1, x1);                                                    \
    }
    ROWS(STORE)
#undef STORE
}

const nbk_sgemm_arch nbk_sgemm_avx512 = {"avx512", MR, NR, avx512_pack_a, avx512_pack_b, avx512_tile};

#endif
