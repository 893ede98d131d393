/* kernels/cpu/gemm_avx512.c — AVX-512 SGEMM micro-kernels and packing. The register tile is 12 rows x
 * 32 columns of row-major C (the transpose of BLIS's 32x12): per k step four zmm loads of B~ (even and
 * odd columns duplicated), six 64-bit broadcasts of A~ row pairs and 24 FMAs into 24 named zmm
 * accumulators (no spills: checked with objdump; see avx512_tile).
 * Edge tiles are written with masked loads and stores. Packing of row-major A and column-major B
 * uses 16x16 in-register transposes. Small and skinny products use unpacked 6/4/2/1 x 64 kernels
 * that read A and B in place. Compiled with a per-function
 * target attribute so the rest of the binary stays baseline x86-64. */
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define MR 12 /* 14 measured the same; 12 keeps A~ panels 48-byte aligned per k */
#define NR 32
#define KU 4  /* k-loop unroll of the packed kernel */

#define PACK_ATTR AVX512_ATTR
#define PACK_MR MR
#define PACK_NR NR
#define PACK_NAME(x) avx512_generic_##x
#include "gemm_pack.inc"

/* In-register transpose of 16 rows of 16 floats: afterwards r[q] holds column q. */
AVX512_ATTR static inline void tr16x16(__m512 *r) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}

/* Transpose `rows` (<= 16) source rows (row i at src + i * ld, contiguous along k) over k-values
 * [0, kc) into dst: dst[p * dld + i] for i < width (width <= 16; lanes past rows are zero). */
AVX512_ATTR static void tr_rows(float *restrict dst, int64_t dld, const float *restrict src, int64_t ld, int rows,
                                int width, int64_t kc) {
    __mmask16 wm = (__mmask16)((1u << width) - 1);
    for (int64_t p = 0; p < kc; p += 16) {
        int64_t pr = kc - p < 16 ? kc - p : 16;
        __mmask16 lm = (__mmask16)((1u << pr) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(lm, src + i * ld + p) : _mm512_setzero_ps();
        tr16x16(r);
        for (int q = 0; q < pr; q++) _mm512_mask_storeu_ps(dst + (p + q) * dld, wm, r[q]);
    }
}

/* A~ from row-major A (rows contiguous along k) by 16x16 transposes; other layouts: generic. */
AVX512_ATTR static void avx512_pack_a(float *restrict dst, const float *restrict a, int64_t rs, int64_t cs,
                                      int64_t rows, int64_t kc) {
    if (cs != 1 || rs == 1) {
        avx512_generic_pack_a(dst, a, rs, cs, rows, kc);
        return;
    }
    for (int64_t i0 = 0; i0 < rows; i0 += MR, dst += MR * kc) {
        int mr = (int)(rows - i0 < MR ? rows - i0 : MR);
        tr_rows(dst, MR, a + i0 * rs, rs, mr, MR, kc);
    }
}

/* B~ from row-major B: row by row across all panels (sequential reads); from column-major B by
 * transposes; anything else: generic. */
AVX512_ATTR static void avx512_pack_b(float *restrict dst, const float *restrict b, int64_t rs, int64_t cs,
                                      int64_t kc, int64_t cols) {
    int64_t full = cols / NR, rem = cols - full * NR;
    if (cs == 1) {
        __mmask16 m0 = rem >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rem) - 1);
        __mmask16 m1 = rem <= 16 ? (__mmask16)0 : (__mmask16)((1u << (rem - 16)) - 1);
        for (int64_t p = 0; p < kc; p++) {
            const float *src = b + p * rs;
            float *d = dst + p * NR;
            for (int64_t q = 0; q < full; q++, src += NR, d += NR * kc) {
                _mm512_store_ps(d, _mm512_loadu_ps(src));
                _mm512_store_ps(d + 16, _mm512_loadu_ps(src + 16));
            }
            if (rem) {
                _mm512_store_ps(d, _mm512_maskz_loadu_ps(m0, src));
                _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(m1, src + 16));
            }
        }
    } else if (rs == 1) {
        for (int64_t j0 = 0; j0 < cols; j0 += NR, dst += NR * kc) {
            int nr = (int)(cols - j0 < NR ? cols - j0 : NR);
            tr_rows(dst, NR, b + j0 * cs, cs, nr < 16 ? nr : 16, 16, kc);
            tr_rows(dst + 16, NR, b + (j0 + 16) * cs, cs, nr > 16 ? nr - 16 : 0, 16, kc);
        }
    } else {
        avx512_generic_pack_b(dst, b, rs, cs, kc, cols);
    }
}

#define TILE_NAME avx512_tile12
#define PAIRS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#include "gemm_avx512_tile.inc"
#undef TILE_NAME
#undef PAIRS
#define TILE_NAME avx512_tile8
#define PAIRS(X) X(0) X(1) X(2) X(3)
#include "gemm_avx512_tile.inc"
#undef TILE_NAME
#undef PAIRS
#define TILE_NAME avx512_tile4
#define PAIRS(X) X(0) X(1)
#include "gemm_avx512_tile.inc"
#undef TILE_NAME
#undef PAIRS
#define TILE_NAME avx512_tile2
#define PAIRS(X) X(0)
#include "gemm_avx512_tile.inc"
#undef TILE_NAME
#undef PAIRS

/* The tile for mr rows: the variant with the fewest row pairs that covers them (A~ keeps its 12-row
 * panels; the smaller variants read the first rows of each k step). */
AVX512_ATTR static void avx512_tile(int64_t kc, const float *pa, const float *pb, float *c, int64_t ldc, int mr,
                                    int nr, int flags, const float *bias) {
    nbk_sgemm_tile_fn f = mr > 8 ? avx512_tile12 : mr > 4 ? avx512_tile8 : mr > 2 ? avx512_tile4 : avx512_tile2;
    f(kc, pa, pb, c, ldc, mr, nr, flags, bias);
}

/* Unpacked 6 x 64 kernel for small and skinny products: A read in place (any strides, six row
 * pointers), B read in place from rows (row stride ldb, unit column stride) with masked loads, the
 * whole k range in one pass. Rows past mr repeat row 0 (computed, never stored). */
/* k-loops of the unpacked kernels unrolled by 4: fewer pointer updates and branches per FMA */
#if defined(__clang__)
#define NBK_UNROLL4 _Pragma("clang loop unroll_count(4)")
#else
#define NBK_UNROLL4 _Pragma("GCC unroll 4")
#endif
#define SROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define SROWS4(X) X(0) X(1) X(2) X(3)
#define SROWS2(X) X(0) X(1)
#define SROWS1(X) X(0)
#define SDECL(r)                                                                                   \
    const float *a##r = a + (r < mr ? r : 0) * rsa;                                                \
    __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps(), c##r##2 = _mm512_setzero_ps(), \
           c##r##3 = _mm512_setzero_ps();
#define SSTEP(r)                                                                                   \
    {                                                                                              \
        __m512 av = _mm512_set1_ps(a##r[pa]);                                                      \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                                                \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);                                                \
        c##r##2 = _mm512_fmadd_ps(av, b2, c##r##2);                                                \
        c##r##3 = _mm512_fmadd_ps(av, b3, c##r##3);                                                \
    }
#define SV(r, v)                                                                                   \
    {                                                                                              \
        __m512 x = c##r##v;                                                                        \
        if (acc) x = _mm512_add_ps(_mm512_maskz_loadu_ps(m##v, cr + 16 * v), x);                    \
        if (bias) x = _mm512_add_ps(x, bs##v);                                                     \
        if (relu) x = _mm512_max_ps(zero, x);                                                      \
        _mm512_mask_storeu_ps(cr + 16 * v, m##v, x);                                               \
    }
#define SSTORE(r)                                                                                  \
    if (r < mr) {                                                                                  \
        float *cr = c + (int64_t)r * ldc;                                                          \
        SV(r, 0) SV(r, 1) SV(r, 2) SV(r, 3)                                                        \
    }
/* One variant per row count (RWS lists the rows). */
#define DEF_SMALL(NAME, RWS)                                                                       \
    AVX512_ATTR NBK_KERNEL static void NAME(                               \
        int64_t k, const float *restrict a, int64_t rsa, int64_t csa, const float *restrict b, int64_t ldb, \
        float *restrict c, int64_t ldc, int mr, int nr, int flags, const float *restrict bias) {  \
        __mmask16 m0 = nr >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1);                \
        __mmask16 m1 = nr >= 32 ? (__mmask16)0xffff : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1); \
        __mmask16 m2 = nr >= 48 ? (__mmask16)0xffff : nr <= 32 ? (__mmask16)0 : (__mmask16)((1u << (nr - 32)) - 1); \
        __mmask16 m3 = nr >= 64 ? (__mmask16)0xffff : nr <= 48 ? (__mmask16)0 : (__mmask16)((1u << (nr - 48)) - 1); \
        RWS(SDECL)                                                                                 \
        if (nr == 64) /* full width: plain loads (masked ones cost more here) */                  \
            NBK_UNROLL4 for (int64_t p = 0, pa = 0; p < k; p++, pa += csa) {                      \
                __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);                      \
                __m512 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);                 \
                RWS(SSTEP)                                                                         \
                b += ldb;                                                                          \
            }                                                                                      \
        else                                                                                       \
            NBK_UNROLL4 for (int64_t p = 0, pa = 0; p < k; p++, pa += csa) {                      \
                __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);   \
                __m512 b2 = _mm512_maskz_loadu_ps(m2, b + 32), b3 = _mm512_maskz_loadu_ps(m3, b + 48); \
                RWS(SSTEP)                                                                         \
                b += ldb;                                                                          \
            }                                                                                      \
        __m512 zero = _mm512_setzero_ps(), bs0 = zero, bs1 = zero, bs2 = zero, bs3 = zero;         \
        if (bias) {                                                                                \
            bs0 = _mm512_maskz_loadu_ps(m0, bias);                                                 \
            bs1 = _mm512_maskz_loadu_ps(m1, bias + 16);                                            \
            bs2 = _mm512_maskz_loadu_ps(m2, bias + 32);                                            \
            bs3 = _mm512_maskz_loadu_ps(m3, bias + 48);                                            \
        }                                                                                          \
        int acc = flags & NBK_TILE_ACC, relu = flags & NBK_TILE_RELU;                              \
        RWS(SSTORE)                                                                                \
    }
DEF_SMALL(avx512_small6, SROWS6)
DEF_SMALL(avx512_small4, SROWS4)
DEF_SMALL(avx512_small2, SROWS2)
DEF_SMALL(avx512_small1, SROWS1)

/* Narrow variants for blocks of at most 32 (two vectors) or 16 (one vector) columns: 12 rows, so
 * there are still 24 / 12 independent accumulators, and no FMA is spent on masked-off columns (the
 * 64-column kernel at n = 32 would waste half of them). */
#define SROWS8(X) SROWS6(X) X(6) X(7)
#define SROWS12(X) SROWS8(X) X(8) X(9) X(10) X(11)
#define NDECL1(r)                                                                                  \
    const float *a##r = a + (r < mr ? r : 0) * rsa;                                                \
    __m512 c##r##0 = _mm512_setzero_ps();
#define NDECL2(r) NDECL1(r) __m512 c##r##1 = _mm512_setzero_ps();
#define NSTEP2(r)                                                                                  \
    {                                                                                              \
        __m512 av = _mm512_set1_ps(a##r[pa]);                                                      \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                                                \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);                                                \
    }
#define NSTEP1(r) c##r##0 = _mm512_fmadd_ps(_mm512_set1_ps(a##r[pa]), b0, c##r##0);
#define NSTORE2(r)                                                                                 \
    if (r < mr) {                                                                                  \
        float *cr = c + (int64_t)r * ldc;                                                          \
        SV(r, 0) SV(r, 1)                                                                          \
    }
#define NSTORE1(r)                                                                                 \
    if (r < mr) {                                                                                  \
        float *cr = c + (int64_t)r * ldc;                                                          \
        SV(r, 0)                                                                                   \
    }
#define DEF_NARROW(NAME, NCOLS, RWS, DECL, STEP, STORE)                                                       \
    AVX512_ATTR NBK_KERNEL static void NAME(                                                       \
        int64_t k, const float *restrict a, int64_t rsa, int64_t csa, const float *restrict b, int64_t ldb, \
        float *restrict c, int64_t ldc, int mr, int nr, int flags, const float *restrict bias) {  \
        __mmask16 m0 = nr >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1);                \
        __mmask16 m1 = nr >= 32 ? (__mmask16)0xffff : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1); \
        RWS(DECL)                                                                                  \
        /* one running A offset for all rows (base + index addressing), not a pointer per row */   \
        if (nr == NCOLS) /* full width: plain loads */                                             \
            NBK_UNROLL4 for (int64_t p = 0, pa = 0; p < k; p++, pa += csa) {                      \
                __m512 b0 = _mm512_loadu_ps(b), b1 = NCOLS > 16 ? _mm512_loadu_ps(b + 16) : b0;     \
                (void)b1;                                                                          \
                RWS(STEP)                                                                          \
                b += ldb;                                                                          \
            }                                                                                      \
        else                                                                                       \
            NBK_UNROLL4 for (int64_t p = 0, pa = 0; p < k; p++, pa += csa) {                      \
                __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);   \
                (void)b1;                                                                          \
                RWS(STEP)                                                                          \
                b += ldb;                                                                          \
            }                                                                                      \
        __m512 zero = _mm512_setzero_ps(), bs0 = zero, bs1 = zero;                                 \
        if (bias) {                                                                                \
            bs0 = _mm512_maskz_loadu_ps(m0, bias);                                                 \
            bs1 = _mm512_maskz_loadu_ps(m1, bias + 16);                                            \
        }                                                                                          \
        (void)bs1;                                                                                 \
        int acc = flags & NBK_TILE_ACC, relu = flags & NBK_TILE_RELU;                              \
        RWS(STORE)                                                                                 \
    }
DEF_NARROW(avx512_narrow32x12, 32, SROWS12, NDECL2, NSTEP2, NSTORE2)
DEF_NARROW(avx512_narrow32x8, 32, SROWS8, NDECL2, NSTEP2, NSTORE2)
DEF_NARROW(avx512_narrow32x6, 32, SROWS6, NDECL2, NSTEP2, NSTORE2)
DEF_NARROW(avx512_narrow16x12, 16, SROWS12, NDECL1, NSTEP1, NSTORE1)
DEF_NARROW(avx512_narrow16x8, 16, SROWS8, NDECL1, NSTEP1, NSTORE1)
DEF_NARROW(avx512_narrow16x6, 16, SROWS6, NDECL1, NSTEP1, NSTORE1)

/* Picks the variant with the fewest rows and columns that covers mr x nr, so skinny products waste no
 * FMAs. Blocks of at most 32 columns take up to 2 * 6 rows (see sm_chunk in gemm.c). */
AVX512_ATTR static void avx512_small_tile(int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                                          int64_t ldb, float *c, int64_t ldc, int mr, int nr, int flags,
                                          const float *bias) {
    if (nr <= 32 && mr >= 5) {
        nbk_sgemm_small_fn f = nr <= 16 ? (mr > 8 ? avx512_narrow16x12 : mr > 6 ? avx512_narrow16x8 : avx512_narrow16x6)
                                        : (mr > 8 ? avx512_narrow32x12 : mr > 6 ? avx512_narrow32x8 : avx512_narrow32x6);
        f(k, a, rsa, csa, b, ldb, c, ldc, mr, nr, flags, bias);
    } else if (mr >= 5) avx512_small6(k, a, rsa, csa, b, ldb, c, ldc, mr, nr, flags, bias);
    else if (mr >= 3) avx512_small4(k, a, rsa, csa, b, ldb, c, ldc, mr, nr, flags, bias);
    else if (mr == 2) avx512_small2(k, a, rsa, csa, b, ldb, c, ldc, mr, nr, flags, bias);
    else avx512_small1(k, a, rsa, csa, b, ldb, c, ldc, mr, nr, flags, bias);
}

const nbk_sgemm_arch nbk_sgemm_avx512 = {"avx512", MR, NR, avx512_pack_a, avx512_pack_b, avx512_tile,
                                         6, 64, avx512_small_tile, 12};

#endif
