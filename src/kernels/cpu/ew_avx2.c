/* kernels/cpu/ew_avx2.c — AVX2 (8-lane) elementwise, reduction and softmax kernels and the f32 vector
 * math: the shared sources vmath.inc and ew_simd.inc instantiated on __m256 with a per-function
 * target attribute, so this file builds for baseline x86-64 and runs only when the CPU has AVX2+FMA
 * (FMA is required for the dispatch level, not used: results equal the scalar level bit for bit). */
#include "ew_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ATTR __attribute__((target("avx2,fma")))
#define W 8
typedef __m256 V;
typedef __m256i VI;
typedef __m256 VM;
#define VNAME(x) avx2_##x
#define EWN(x) avx2_ew_##x
#define VF(c) _mm256_set1_ps(c)
#define VI1(c) _mm256_set1_epi32(c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VDIV(a, b) _mm256_div_ps(a, b)
#define VSQRT(a) _mm256_sqrt_ps(a)
#define VMAXX(a, b) _mm256_max_ps(a, b)
#define VMINX(a, b) _mm256_min_ps(a, b)
#define VNEG(a) _mm256_xor_ps(a, VF(-0.0f))
#define VABS(a) _mm256_andnot_ps(VF(-0.0f), a)
#define VORSIGN(v, s) _mm256_or_ps(v, _mm256_and_ps(s, VF(-0.0f)))
#define VLT(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define VLE(a, b) _mm256_cmp_ps(a, b, _CMP_LE_OQ)
#define VGT(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define VGE(a, b) _mm256_cmp_ps(a, b, _CMP_GE_OQ)
#define VEQ(a, b) _mm256_cmp_ps(a, b, _CMP_EQ_OQ)
#define VNE(a, b) _mm256_cmp_ps(a, b, _CMP_NEQ_UQ)
#define VUNORD(a) _mm256_cmp_ps(a, a, _CMP_UNORD_Q)
#define VMOR(a, b) _mm256_or_ps(a, b)
#define VSEL(m, a, b) _mm256_blendv_ps(b, a, m)
#define VBITS(v) _mm256_castps_si256(v)
#define VFLOAT(i) _mm256_castsi256_ps(i)
#define VCVT(i) _mm256_cvtepi32_ps(i)
#define VIADD(a, b) _mm256_add_epi32(a, b)
#define VISUB(a, b) _mm256_sub_epi32(a, b)
#define VISRA(a, k) _mm256_srai_epi32(a, k)
#define VISLL(a, k) _mm256_slli_epi32(a, k)
#define VIAND(a, b) _mm256_and_si256(a, b)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
static const int32_t avx2_tail[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define TAILM(n) _mm256_loadu_si256((const __m256i *)(avx2_tail + 8 - (n)))
#define VLOADN(p, n) _mm256_maskload_ps(p, TAILM(n))
#define VSTOREN(p, v, n) _mm256_maskstore_ps(p, TAILM(n), v)
#define VMASKLANES(v, n) _mm256_and_ps(v, _mm256_castsi256_ps(TAILM(n)))
#define VANY(m) (_mm256_movemask_ps(m) != 0)
#define VHSUM(v) avx2_hsum(v)
#define VHMAX(v) avx2_hmax(v)
#define VHMIN(v) avx2_hmin(v)
#define VMASKBYTES(o, m, n) avx2_maskbytes(o, m, n)

/* lanes k += k + 4, k += k + 2, k += k + 1 */
ATTR static inline float avx2_hsum(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}
ATTR static inline float avx2_hmax(__m256 v) {
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}
ATTR static inline float avx2_hmin(__m256 v) {
    __m128 a = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_min_ps(a, _mm_movehl_ps(a, a));
    a = _mm_min_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}
/* 8 lane masks -> bytes 0/1: spread bit k into byte k, then turn each non-zero byte into 1 */
ATTR static inline void avx2_maskbytes(uint8_t *o, __m256 m, int64_t n) {
    uint64_t b = (uint64_t)(unsigned)_mm256_movemask_ps(m);
    uint64_t x = (b * 0x0101010101010101ull) & 0x8040201008040201ull;
    x = ((x + 0x7f7f7f7f7f7f7f7full) >> 7) & 0x0101010101010101ull;
    memcpy(o, &x, (size_t)n); /* little-endian: byte k is lane k */
}

#include "vmath.inc"
#include "ew_simd.inc"

const nbk_ew_arch nbk_ew_avx2 = EW_ARCH_INIT("avx2");

#endif
