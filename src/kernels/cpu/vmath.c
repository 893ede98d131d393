/* kernels/cpu/vmath.c — the scalar instantiation of the f32 vector math in vmath.inc, the dispatch of
 * the elementwise/reduction kernels (nbk_ew_get) and nbk_vmath_f32. This file is compiled for the
 * baseline ISA; it is the portable fallback and the definition every SIMD level reproduces bit for
 * bit. It does not contain the loops over tensors (elementwise.c, reduce.c). */
#include "ew_internal.h"

#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* a fused a*b+c would differ from the SIMD levels */
#endif

static inline int32_t s_bits(float v) {
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return i;
}
static inline float s_float(int32_t i) {
    float v;
    memcpy(&v, &i, sizeof v);
    return v;
}

#define ATTR
typedef float V;
typedef int32_t VI;
typedef int VM;
#define VNAME(x) s_##x
#define VF(c) ((float)(c))
#define VI1(c) ((int32_t)(c))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) fmaf(a, b, c)
#define VDIV(a, b) ((a) / (b))
#define VMAXX(a, b) ((a) > (b) ? (a) : (b))
#define VMINX(a, b) ((a) < (b) ? (a) : (b))
#define VNEG(a) s_float(s_bits(a) ^ INT32_MIN)
#define VABS(a) s_float(s_bits(a) & INT32_MAX)
#define VORSIGN(v, s) s_float(s_bits(v) | (s_bits(s) & INT32_MIN))
#define VLT(a, b) ((a) < (b))
#define VGE(a, b) ((a) >= (b))
#define VEQ(a, b) ((a) == (b))
#define VUNORD(a) ((a) != (a))
#define VMOR(a, b) ((a) | (b))
#define VSEL(m, a, b) ((m) ? (a) : (b))
#define VBITS(v) s_bits(v)
#define VFLOAT(i) s_float(i)
#define VCVT(i) ((float)(i))
#define VIADD(a, b) ((int32_t)((uint32_t)(a) + (uint32_t)(b)))
#define VISUB(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)))
#define VISRA(a, k) ((a) >= 0 ? (a) >> (k) : ~(~(a) >> (k))) /* arithmetic shift, portably */
#define VISLL(a, k) ((int32_t)((uint32_t)(a) << (k)))
#define VIAND(a, b) ((a) & (b))
#include "vmath.inc"

float nbk_vexpf(float x) { return s_exp(x); }
float nbk_vlogf(float x) { return s_log(x); }
float nbk_vtanhf(float x) { return s_tanh(x); }
float nbk_vsigmoidf(float x) { return s_sigmoid(x); }
float nbk_verff(float x) { return s_erf(x); }

static void vmath_scalar(nbk_vfn f, const float *restrict x, float *restrict y, int64_t n) {
    switch (f) {
    case NBK_VEXP: for (int64_t i = 0; i < n; i++) y[i] = s_exp(x[i]); break;
    case NBK_VLOG: for (int64_t i = 0; i < n; i++) y[i] = s_log(x[i]); break;
    case NBK_VTANH: for (int64_t i = 0; i < n; i++) y[i] = s_tanh(x[i]); break;
    case NBK_VSIGMOID: for (int64_t i = 0; i < n; i++) y[i] = s_sigmoid(x[i]); break;
    case NBK_VERF: for (int64_t i = 0; i < n; i++) y[i] = s_erf(x[i]); break;
    default: break;
    }
}

const nbk_ew_arch *nbk_ew_get(void) {
    static const nbk_ew_arch *_Atomic cached;
    static _Atomic int done;
    if (atomic_load_explicit(&done, memory_order_acquire)) return atomic_load_explicit(&cached, memory_order_relaxed);
    const nbk_ew_arch *ar = NULL;
#if defined(__x86_64__)
    unsigned f = nb_cpu_features();
    unsigned need512 = NB_CPU_AVX512F | NB_CPU_AVX512BW | NB_CPU_AVX512VL | NB_CPU_AVX512DQ;
    unsigned need2 = NB_CPU_AVX2 | NB_CPU_FMA;
    if ((f & need512) == need512 && (f & need2) == need2) ar = &nbk_ew_avx512;
    else if ((f & need2) == need2) ar = &nbk_ew_avx2;
#endif
    atomic_store_explicit(&cached, ar, memory_order_relaxed);
    atomic_store_explicit(&done, 1, memory_order_release);
    return ar;
}

const char *nbk_ew_isa(void) {
    const nbk_ew_arch *ar = nbk_ew_get();
    return ar ? ar->name : "scalar";
}

void nbk_vmath_f32(nbk_vfn f, const float *x, float *y, int64_t n) {
    const nbk_ew_arch *ar = nbk_ew_get();
    if (ar) ar->vmath(f, x, y, n);
    else vmath_scalar(f, x, y, n);
}
