/* kernels/cpu/ew_avx512.c — AVX-512 (16-lane) elementwise, reduction and softmax kernels and the f32
 * vector math: the shared sources vmath.inc and ew_simd.inc instantiated on __m512 with a
 * per-function target attribute, so this file builds for baseline x86-64 and runs only when the CPU
 * has AVX-512 F, BW, VL and DQ (no FMA is used: results equal the scalar level bit for bit). */
#include "ew_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define W 16
typedef __m512 V;
typedef __m512i VI;
typedef __mmask16 VM;
#define VNAME(x) avx512_##x
#define EWN(x) avx512_ew_##x
#define VF(c) _mm512_set1_ps(c)
#define VI1(c) _mm512_set1_epi32(c)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VDIV(a, b) _mm512_div_ps(a, b)
#define VSQRT(a) _mm512_sqrt_ps(a)
#define VMAXX(a, b) _mm512_max_ps(a, b)
#define VMINX(a, b) _mm512_min_ps(a, b)
#define VNEG(a) _mm512_xor_ps(a, VF(-0.0f))
#define VABS(a) _mm512_andnot_ps(VF(-0.0f), a)
#define VORSIGN(v, s) _mm512_or_ps(v, _mm512_and_ps(s, VF(-0.0f)))
#define VLT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define VLE(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ)
#define VGT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define VGE(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)
#define VEQ(a, b) _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)
#define VNE(a, b) _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ)
#define VUNORD(a) _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q)
#define VMOR(a, b) ((__mmask16)((a) | (b)))
#define VSEL(m, a, b) _mm512_mask_blend_ps(m, b, a)
#define VBITS(v) _mm512_castps_si512(v)
#define VFLOAT(i) _mm512_castsi512_ps(i)
#define VCVT(i) _mm512_cvtepi32_ps(i)
#define VIADD(a, b) _mm512_add_epi32(a, b)
#define VISUB(a, b) _mm512_sub_epi32(a, b)
#define VISRA(a, k) _mm512_srai_epi32(a, k)
#define VISLL(a, k) _mm512_slli_epi32(a, k)
#define VIAND(a, b) _mm512_and_si512(a, b)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define TAILK(n) ((__mmask16)((1u << (n)) - 1))
#define VLOADN(p, n) _mm512_maskz_loadu_ps(TAILK(n), p)
#define VSTOREN(p, v, n) _mm512_mask_storeu_ps(p, TAILK(n), v)
#define VMASKLANES(v, n) _mm512_maskz_mov_ps(TAILK(n), v)
#define VANY(m) ((m) != 0)
#define VHSUM(v) avx512_hsum(v)
#define VHMAX(v) avx512_hmax(v)
#define VHMIN(v) avx512_hmin(v)
#define VMASKBYTES(o, m, n) avx512_maskbytes(o, m, n)

/* lanes k += k + 8, k + 4, k + 2, k + 1 */
ATTR static inline float avx512_hsum(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}
ATTR static inline float avx512_hmax(__m512 v) {
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}
ATTR static inline float avx512_hmin(__m512 v) {
    __m256 h = _mm256_min_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 a = _mm_min_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    a = _mm_min_ps(a, _mm_movehl_ps(a, a));
    a = _mm_min_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}
ATTR static inline void avx512_maskbytes(uint8_t *o, __mmask16 m, int64_t n) {
    __m128i v = _mm_maskz_set1_epi8(m, 1);
    if (n == 16) _mm_storeu_si128((__m128i *)o, v);
    else _mm_mask_storeu_epi8(o, TAILK(n), v);
}

#include "vmath.inc"
#include "ew_simd.inc"

const nbk_ew_arch nbk_ew_avx512 = EW_ARCH_INIT("avx512");

#endif
