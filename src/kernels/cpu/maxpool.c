/* kernels/cpu/maxpool.c — the scatter that is max pooling's gradient, with a one-pass path for
 * non-overlapping 2x2 stride-2 windows (see maxpool.h). Each plane is done by one thread in a fixed
 * order, so results do not depend on the thread count. */
#include "maxpool.h"
#include "../../core/internal.h"

#include <stdatomic.h>
#include <string.h>

typedef struct scat_job {
    nb_dtype t;
    int64_t h, w, oh, ow;
    const char *g;
    const int64_t *idx;
    char *gx;
    atomic_bool bad;
} scat_job;

#define DEF_SCATTER(T, SUF)                                                                        \
    /* The general plane: zeros, then g added at idx in order; false on an index out of range. */  \
    static bool plane_generic_##SUF(const T *g, const int64_t *ix, T *gx, int64_t in_size, int64_t out_size) { \
        bool ok = true;                                                                            \
        for (int64_t k = 0; k < in_size; k++) gx[k] = 0;                                           \
        for (int64_t k = 0; k < out_size; k++) {                                                   \
            int64_t i = ix[k];                                                                     \
            if ((uint64_t)i < (uint64_t)in_size) gx[i] += g[k];                                    \
            else ok = false;                                                                       \
        }                                                                                          \
        return ok;                                                                                 \
    }                                                                                              \
    /* 2x2 windows: each pair of input rows is zeroed while it is in L1, then g + 0 is stored at \
     * the index (no read-modify-write, no separate pass over the plane, no data-dependent branch); \
     * false as soon as an index is not in its own window (the caller then redoes the plane). */  \
    static bool plane_2x2_##SUF(const scat_job *j, const T *g, const int64_t *ix, T *gx) {         \
        int64_t W = j->w, ow = j->ow;                                                              \
        for (int64_t oy = 0; oy < j->oh; oy++) {                                                   \
            T *r0 = gx + 2 * oy * W;                                                               \
            const T *gr = g + oy * ow;                                                             \
            const int64_t *ir = ix + oy * ow;                                                      \
            int64_t top = 2 * oy * W;                                                              \
            memset(r0, 0, (size_t)(2 * W) * sizeof(T));                                            \
            for (int64_t ox = 0; ox < ow; ox++) {                                                  \
                int64_t d = ir[ox] - top - 2 * ox; /* 0, 1, W or W + 1 inside the window */        \
                int64_t col = d >= W ? d - W : d;                                                  \
                if (d < 0 || col > 1) return false;                                                \
                r0[2 * ox + d] = gr[ox] + (T)0;                                                    \
            }                                                                                      \
        }                                                                                          \
        int64_t done = 2 * j->oh * W; /* odd height: the last row */                               \
        memset(gx + done, 0, (size_t)(j->h * W - done) * sizeof(T));                               \
        return true;                                                                               \
    }                                                                                              \
    static bool plane_##SUF(const scat_job *j, int64_t p) {                                        \
        int64_t in_size = j->h * j->w, out_size = j->oh * j->ow;                                   \
        const T *g = (const T *)j->g + p * out_size;                                               \
        const int64_t *ix = j->idx + p * out_size;                                                 \
        T *gx = (T *)j->gx + p * in_size;                                                          \
        if (2 * j->oh <= j->h && 2 * j->ow <= j->w && plane_2x2_##SUF(j, g, ix, gx)) return true; \
        return plane_generic_##SUF(g, ix, gx, in_size, out_size);                                 \
    }
DEF_SCATTER(float, f)
DEF_SCATTER(double, d)

static void scat_chunk(void *ctx, int64_t b, int64_t e) {
    scat_job *j = ctx;
    bool ok = true;
    for (int64_t p = b; p < e; p++) ok &= j->t == NB_F32 ? plane_f(j, p) : plane_d(j, p);
    if (!ok) atomic_store(&j->bad, true);
}

bool nbk_maxpool_scatter(nb_dtype t, int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const void *g,
                         const int64_t *idx, void *gx) {
    scat_job j = {.t = t, .h = h, .w = w, .oh = oh, .ow = ow, .g = g, .idx = idx, .gx = gx};
    atomic_init(&j.bad, false);
    int64_t work = h * w + oh * ow;
    nbc_parallel_for(planes, work >= 16384 ? 1 : 16384 / (work ? work : 1), scat_chunk, &j);
    return !atomic_load(&j.bad);
}

/* ---- forward 2x2 stride 2 (f32, AVX-512) ----------------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MP_AVX512 __attribute__((target("avx512f")))

typedef struct fwd_job {
    int64_t h, w, oh, ow;
    const float *x;
    float *y;
    int64_t *idx;
} fwd_job;

/* The running maximum b takes v where v is larger, or where v is NaN and b is not (POOL_TAKE). */
MP_AVX512 static inline __mmask16 take(__m512 v, __m512 b) {
    return (__mmask16)(_mm512_cmp_ps_mask(v, b, _CMP_GT_OQ) |
                       (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(b, b, _CMP_ORD_Q)));
}

/* One plane, 16 outputs at a time: each input row's 32 floats are split into the even and odd columns
 * (the window's left and right taps) by two permutes. */
MP_AVX512 static void fwd_plane(const fwd_job *j, int64_t p) {
    int64_t W = j->w, ow = j->ow;
    const float *x = j->x + p * j->h * W;
    float *y = j->y + p * j->oh * ow;
    int64_t *ix = j->idx + p * j->oh * ow;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_add_epi32(lane, lane), odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i o1 = _mm512_set1_epi32(1), oW = _mm512_set1_epi32((int)W), oW1 = _mm512_set1_epi32((int)W + 1);
    for (int64_t oy = 0; oy < j->oh; oy++) {
        const float *q0 = x + 2 * oy * W, *q1 = q0 + W;
        float *yr = y + oy * ow;
        int64_t *ir = ix + oy * ow;
        for (int64_t ox = 0; ox < ow; ox += 16) {
            int64_t n = ow - ox < 16 ? ow - ox : 16;
            __mmask16 m = nbk_lanes16(n), lo = nbk_lanes16(2 * n), hi = nbk_lanes16(2 * n - 16);
            __m512 a0 = _mm512_maskz_loadu_ps(lo, q0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(hi, q0 + 2 * ox + 16);
            __m512 c0 = _mm512_maskz_loadu_ps(lo, q1 + 2 * ox), c1 = _mm512_maskz_loadu_ps(hi, q1 + 2 * ox + 16);
            __m512 b = _mm512_permutex2var_ps(a0, even, a1);
            __m512i off = _mm512_setzero_si512();
            __m512 v = _mm512_permutex2var_ps(a0, odd, a1);
            __mmask16 tk = take(v, b);
            b = _mm512_mask_mov_ps(b, tk, v);
            off = _mm512_mask_mov_epi32(off, tk, o1);
            v = _mm512_permutex2var_ps(c0, even, c1);
            tk = take(v, b);
            b = _mm512_mask_mov_ps(b, tk, v);
            off = _mm512_mask_mov_epi32(off, tk, oW);
            v = _mm512_permutex2var_ps(c0, odd, c1);
            tk = take(v, b);
            b = _mm512_mask_mov_ps(b, tk, v);
            off = _mm512_mask_mov_epi32(off, tk, oW1);
            _mm512_mask_storeu_ps(yr + ox, m, b);
            /* flat index: the window's top-left (2 oy W + 2 (ox + lane)) plus the tap's offset */
            __m512i rel = _mm512_add_epi32(_mm512_add_epi32(off, even), _mm512_set1_epi32((int)(2 * oy * W + 2 * ox)));
            _mm512_mask_storeu_epi64(ir + ox, (__mmask8)(m & 0xff), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(rel)));
            _mm512_mask_storeu_epi64(ir + ox + 8, (__mmask8)(m >> 8),
                                     _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(rel, 1)));
        }
    }
}

static void fwd_chunk(void *ctx, int64_t b, int64_t e) {
    for (int64_t p = b; p < e; p++) fwd_plane(ctx, p);
}

bool nbk_maxpool2x2_f32(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const float *x, float *y,
                        int64_t *idx) {
    /* flat indices are formed in int32 lanes */
    if (!(nb_cpu_features() & NB_CPU_AVX512F) || h * w >= ((int64_t)1 << 30) || 2 * oh > h || 2 * ow > w) return false;
    fwd_job j = {h, w, oh, ow, x, y, idx};
    int64_t work = 4 * oh * ow;
    nbc_parallel_for(planes, work >= 16384 ? 1 : 16384 / (work ? work : 1), fwd_chunk, &j);
    return true;
}
#else
bool nbk_maxpool2x2_f32(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const float *x, float *y,
                        int64_t *idx) {
    (void)planes, (void)h, (void)w, (void)oh, (void)ow, (void)x, (void)y, (void)idx;
    return false;
}
#endif
