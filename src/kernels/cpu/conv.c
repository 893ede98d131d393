/* kernels/cpu/conv.c — im2col and col2im for convolution by GEMM. For every window offset (ki, kj)
 * the valid output columns are computed once, so the inner loops have no bounds tests and the
 * stride-1 case is a straight copy. */
#include "conv.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CONV_AVX512 __attribute__((target("avx512f")))
static bool have_avx512(void) {
    static _Atomic int cached = -1;
    int c = atomic_load_explicit(&cached, memory_order_relaxed);
    if (c < 0) {
        c = (nb_cpu_features() & NB_CPU_AVX512F) != 0;
        atomic_store_explicit(&cached, c, memory_order_relaxed);
    }
    return c;
}
/* lanes i of [0, 16) with lo <= i < hi */
static __mmask16 mask_range(int64_t lo, int64_t hi) { return (__mmask16)(nbk_lanes16(hi) & ~nbk_lanes16(lo)); }
#endif

typedef struct conv_job {
    nb_dtype t;
    const nbk_conv_geom *g;
    const char *src;
    char *dst;
    int64_t c0, cc, ld;
} conv_job;

/* Output columns ox with 0 <= ox * sw + off < W, as [lo, hi). */
static void valid_range(int64_t off, int64_t stride, int64_t size, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t b = size - off <= 0 ? 0 : (size - off + stride - 1) / stride;
    *lo = a < out ? a : out;
    *hi = b < out ? b : out;
    if (*hi < *lo) *hi = *lo;
}

/* One sample: im2col writes the columns [0, oh * ow) of every row of d; col2im adds them back.
 * Stride 1 (the common case) has its own unit-stride loops, which the compiler vectorises (short
 * rows of a few dozen elements were dominated by memcpy calls). */
#define DEF_IM2COL(T, SUF)                                                                         \
    static void im2col_##SUF(const nbk_conv_geom *g, const T *x, int64_t cc, T *dst, int64_t ld) { \
        for (int64_t c = 0; c < cc; c++)                                                           \
            for (int64_t ki = 0; ki < g->kh; ki++)                                                 \
                for (int64_t kj = 0; kj < g->kw; kj++) {                                           \
                    T *d = dst + ((c * g->kh + ki) * g->kw + kj) * ld;                             \
                    int64_t xo = kj * g->dw - g->pw, lo, hi;                                       \
                    valid_range(xo, g->sw, g->w, g->ow, &lo, &hi);                                 \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                                       \
                        int64_t iy = oy * g->sh - g->ph + ki * g->dh;                              \
                        T *restrict row = d + oy * g->ow;                                          \
                        if (iy < 0 || iy >= g->h) {                                                \
                            for (int64_t ox = 0; ox < g->ow; ox++) row[ox] = 0;                    \
                            continue;                                                              \
                        }                                                                          \
                        const T *restrict xr = x + (c * g->h + iy) * g->w + xo;                    \
                        for (int64_t ox = 0; ox < lo; ox++) row[ox] = 0;                           \
                        if (g->sw == 1)                                                            \
                            for (int64_t ox = lo; ox < hi; ox++) row[ox] = xr[ox];                 \
                        else                                                                       \
                            for (int64_t ox = lo; ox < hi; ox++) row[ox] = xr[ox * g->sw];         \
                        for (int64_t ox = hi; ox < g->ow; ox++) row[ox] = 0;                       \
                    }                                                                              \
                }                                                                                  \
    }                                                                                              \
    static void col2im_##SUF(const nbk_conv_geom *g, const T *src, int64_t ld, int64_t cc, T *x) { \
        for (int64_t c = 0; c < cc; c++)                                                           \
            for (int64_t ki = 0; ki < g->kh; ki++)                                                 \
                for (int64_t kj = 0; kj < g->kw; kj++) {                                           \
                    const T *d = src + ((c * g->kh + ki) * g->kw + kj) * ld;                       \
                    int64_t xo = kj * g->dw - g->pw, lo, hi;                                       \
                    valid_range(xo, g->sw, g->w, g->ow, &lo, &hi);                                 \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                                       \
                        int64_t iy = oy * g->sh - g->ph + ki * g->dh;                              \
                        if (iy < 0 || iy >= g->h) continue;                                        \
                        const T *restrict row = d + oy * g->ow;                                    \
                        T *restrict xr = x + (c * g->h + iy) * g->w + xo;                          \
                        if (g->sw == 1)                                                            \
                            for (int64_t ox = lo; ox < hi; ox++) xr[ox] += row[ox];                \
                        else                                                                       \
                            for (int64_t ox = lo; ox < hi; ox++) xr[ox * g->sw] += row[ox];        \
                    }                                                                              \
                }                                                                                  \
    }
DEF_IM2COL(float, f)
DEF_IM2COL(double, d)

#if defined(__x86_64__)
/* f32, horizontal stride 1: each output row is one masked load per 16 columns (the mask selects the
 * columns inside the image; the rest load as zeros without touching memory) and one store. Rows of a
 * dozen columns were dominated by loop overhead in the scalar version. The element of x at offset
 * `off` from the plane may lie before it (xo < 0); the masked-off lanes are never accessed. */
#define COL2IM_MAX_MASKS 64  /* (kj, 16-column chunk) masks of col2im kept in a table */
#define IM2COL_MAX_CHUNKS 32 /* rows up to 512 columns; longer rows take the scalar loops */
CONV_AVX512 static void im2col_s1_avx512(const nbk_conv_geom *g, const float *x, int64_t cc, float *dst, int64_t ld) {
    int64_t ow = g->ow, oh = g->oh, H = g->h, W = g->w, nch = (ow + 15) / 16;
    if (nch > IM2COL_MAX_CHUNKS) {
        im2col_f(g, x, cc, dst, ld);
        return;
    }
    __mmask16 mv[IM2COL_MAX_CHUNKS];
    __mmask16 mlast = nbk_lanes16(ow - (nch - 1) * 16);
    for (int64_t c = 0; c < cc; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *d = dst + ((c * g->kh + ki) * g->kw + kj) * ld;
                int64_t xo = kj * g->dw - g->pw, lo, hi;
                valid_range(xo, 1, W, ow, &lo, &hi);
                /* the load masks depend on kj alone: the columns inside the image */
                for (int64_t k = 0; k < nch; k++) mv[k] = mask_range(lo - 16 * k, hi - 16 * k);
                for (int64_t oy = 0; oy < oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                    float *row = d + oy * ow;
                    /* a full store of the last chunk may run into the next row, which is written after
                     * it, but never past this sample's oh * ow columns (masked stores are slower) */
                    bool spill = oy * ow + 16 * nch <= oh * ow;
                    if (iy < 0 || iy >= H) {
                        for (int64_t k = 0; k + 1 < nch; k++) _mm512_storeu_ps(row + 16 * k, _mm512_setzero_ps());
                        _mm512_mask_storeu_ps(row + 16 * (nch - 1), spill ? (__mmask16)0xffff : mlast, _mm512_setzero_ps());
                        continue;
                    }
                    const float *xr = x + ((c * H + iy) * W + xo);
                    for (int64_t k = 0; k + 1 < nch; k++)
                        _mm512_storeu_ps(row + 16 * k, _mm512_maskz_loadu_ps(mv[k], xr + 16 * k));
                    __m512 v = _mm512_maskz_loadu_ps(mv[nch - 1], xr + 16 * (nch - 1));
                    if (spill) _mm512_storeu_ps(row + 16 * (nch - 1), v);
                    else _mm512_mask_storeu_ps(row + 16 * (nch - 1), mlast, v);
                }
            }
}

/* Stride 1 in both directions without padding, many rows (the middle layers of small CNNs): the
 * column row of window tap (c, ki, kj) is the plane of x shifted by (ki * dh, kj * dw) with the last
 * W - ow columns of each image row skipped, the same gather pattern for every tap. Each 16-column
 * chunk of it comes from at most 32 consecutive elements of x: two masked loads and one permute with
 * an index vector computed once per call, then one store (rows shorter than 16 took a masked load
 * and a store per output row). False, with nothing written, when a chunk spans 32 elements or more. */
#define IM2COL_PERM_CHUNKS 64
CONV_AVX512 static bool im2col_s11_perm_avx512(const nbk_conv_geom *g, const float *x, int64_t cc, float *dst,
                                              int64_t ld) {
    int64_t ow = g->ow, H = g->h, W = g->w, P = g->oh * ow, nt = (P + 15) / 16;
    if (nt > IM2COL_PERM_CHUNKS) return false;
    __m512i idx[IM2COL_PERM_CHUNKS];
    int64_t f0[IM2COL_PERM_CHUNKS];
    __mmask16 mlo[IM2COL_PERM_CHUNKS], mhi[IM2COL_PERM_CHUNKS];
    for (int64_t t = 0; t < nt; t++) {
        int32_t lane[16];
        int64_t p0 = 16 * t, dmax = 0;
        f0[t] = p0 / ow * W + p0 % ow;
        for (int64_t i = 0; i < 16; i++) {
            int64_t q = p0 + i, d = q < P ? q / ow * W + q % ow - f0[t] : 0; /* lanes past P are not stored */
            if (d >= 32) return false;
            if (d > dmax) dmax = d;
            lane[i] = (int32_t)d;
        }
        idx[t] = _mm512_loadu_si512(lane);
        mlo[t] = nbk_lanes16(dmax + 1); /* only elements up to the last one used are read */
        mhi[t] = nbk_lanes16(dmax + 1 - 16);
    }
    __mmask16 mlast = nbk_lanes16(P - 16 * (nt - 1));
    for (int64_t c = 0; c < cc; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *d = dst + ((c * g->kh + ki) * g->kw + kj) * ld;
                const float *src = x + (c * H + ki * g->dh) * W + kj * g->dw;
                for (int64_t t = 0; t < nt; t++) {
                    const float *q = src + f0[t];
                    __m512 v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(mlo[t], q), idx[t],
                                                      _mm512_maskz_loadu_ps(mhi[t], q + 16));
                    if (t + 1 < nt) _mm512_storeu_ps(d + 16 * t, v);
                    else _mm512_mask_storeu_ps(d + 16 * t, mlast, v);
                }
            }
    return true;
}

/* Stride 1 in both directions: each row of x is read once, the contributions of all (ki, kj) added in
 * registers in the scalar order (ki, then kj), and stored once (adding row by row into x, as the
 * scalar version does, re-reads each element right after its masked store). */
CONV_AVX512 static void col2im_s11_avx512(const nbk_conv_geom *g, const float *src, int64_t ld, int64_t cc, float *x) {
    int64_t ow = g->ow, oh = g->oh, H = g->h, W = g->w, kw = g->kw, nt = (W + 15) / 16;
    /* the load masks depend on (kj, chunk) alone: computed once (column t + lane came from
     * ox = t + lane - xo, valid for 0 <= ox < ow) */
    __mmask16 mt[COL2IM_MAX_MASKS];
    bool table = kw * nt <= COL2IM_MAX_MASKS;
    for (int64_t kj = 0; table && kj < kw; kj++)
        for (int64_t q = 0; q < nt; q++) {
            int64_t xo = kj * g->dw - g->pw, t = 16 * q;
            mt[kj * nt + q] = (__mmask16)(nbk_lanes16(W - t) & mask_range(xo - t, ow + xo - t));
        }
    for (int64_t c = 0; c < cc; c++)
        for (int64_t iy = 0; iy < H; iy++) {
            float *xr = x + (c * H + iy) * W;
            for (int64_t q = 0; q < nt; q++) {
                int64_t t = 16 * q;
                __mmask16 mw = nbk_lanes16(W - t);
                __m512 acc = _mm512_maskz_loadu_ps(mw, xr + t);
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    int64_t oy = iy + g->ph - ki * g->dh; /* the output row that read x row iy at tap ki */
                    if (oy < 0 || oy >= oh) continue;
                    const float *rows = src + (c * g->kh + ki) * kw * ld + oy * ow + t;
                    for (int64_t kj = 0; kj < kw; kj++) {
                        int64_t xo = kj * g->dw - g->pw;
                        __mmask16 m = table ? mt[kj * nt + q] : (__mmask16)(mw & mask_range(xo - t, ow + xo - t));
                        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, rows + kj * ld - xo));
                    }
                }
                _mm512_mask_storeu_ps(xr + t, mw, acc);
            }
        }
}

CONV_AVX512 static void col2im_s1_avx512(const nbk_conv_geom *g, const float *src, int64_t ld, int64_t cc, float *x) {
    int64_t ow = g->ow, H = g->h, W = g->w;
    if (g->sh == 1) {
        col2im_s11_avx512(g, src, ld, cc, x);
        return;
    }
    for (int64_t c = 0; c < cc; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const float *d = src + ((c * g->kh + ki) * g->kw + kj) * ld;
                int64_t xo = kj * g->dw - g->pw, lo, hi;
                valid_range(xo, 1, W, ow, &lo, &hi);
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                    if (iy < 0 || iy >= H) continue;
                    float *xr = x + ((c * H + iy) * W + xo);
                    const float *row = d + oy * ow;
                    for (int64_t o = 0; o < ow; o += 16) {
                        __mmask16 mv = mask_range(lo - o, hi - o);
                        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(mv, xr + o), _mm512_maskz_loadu_ps(mv, row + o));
                        _mm512_mask_storeu_ps(xr + o, mv, v);
                    }
                }
            }
}
#define S1_SIMD(t, g) ((t) == NB_F32 && (g)->sw == 1 && have_avx512())
#else
#define S1_SIMD(t, g) false
#define im2col_s1_avx512 im2col_f
#define im2col_s11_perm_avx512(g, x, cc, d, ld) false
#define col2im_s1_avx512 col2im_f
#endif

void nbk_im2col_sample(nb_dtype t, const nbk_conv_geom *g, const void *x, int64_t s, int64_t c0, int64_t c_count,
                       void *cols, int64_t ld) {
    int64_t off = (s * g->c + c0) * g->h * g->w;
    /* the permuting path pays for its index vectors when there are many rows (not for the first,
     * one-channel layer of a CNN) */
    if (S1_SIMD(t, g) && g->sh == 1 && g->ph == 0 && g->pw == 0 && c_count * g->kh * g->kw >= 64 &&
        im2col_s11_perm_avx512(g, (const float *)x + off, c_count, cols, ld))
        return;
    if (S1_SIMD(t, g)) im2col_s1_avx512(g, (const float *)x + off, c_count, cols, ld);
    else if (t == NB_F32) im2col_f(g, (const float *)x + off, c_count, cols, ld);
    else im2col_d(g, (const double *)x + off, c_count, cols, ld);
}

void nbk_col2im_sample(nb_dtype t, const nbk_conv_geom *g, const void *cols, int64_t ld, int64_t s, int64_t c0,
                       int64_t c_count, void *gx) {
    int64_t off = (s * g->c + c0) * g->h * g->w;
    if (S1_SIMD(t, g)) col2im_s1_avx512(g, cols, ld, c_count, (float *)gx + off);
    else if (t == NB_F32) col2im_f(g, cols, ld, c_count, (float *)gx + off);
    else col2im_d(g, cols, ld, c_count, (double *)gx + off);
}

static void im2col_chunk(void *ctx, int64_t b, int64_t e) {
    const conv_job *j = ctx;
    size_t z = nb_dtype_size(j->t);
    for (int64_t s = b; s < e; s++)
        nbk_im2col_sample(j->t, j->g, j->src, s, j->c0, j->cc, j->dst + (size_t)(s * j->g->oh * j->g->ow) * z, j->ld);
}

static void col2im_chunk(void *ctx, int64_t b, int64_t e) {
    const conv_job *j = ctx;
    size_t z = nb_dtype_size(j->t);
    for (int64_t s = b; s < e; s++)
        nbk_col2im_sample(j->t, j->g, j->src + (size_t)(s * j->g->oh * j->g->ow) * z, j->ld, s, j->c0, j->cc, j->dst);
}

static int64_t sample_grain(const nbk_conv_geom *g, int64_t cc) {
    int64_t work = cc * g->kh * g->kw * g->oh * g->ow;
    return work >= 16384 ? 1 : 16384 / (work ? work : 1);
}

void nbk_im2col(nb_dtype t, const nbk_conv_geom *g, const void *x, int64_t c0, int64_t c_count, void *cols, int64_t ld) {
    conv_job j = {t, g, x, cols, c0, c_count, ld};
    nbc_parallel_for(g->n, sample_grain(g, c_count), im2col_chunk, &j);
}

void nbk_col2im(nb_dtype t, const nbk_conv_geom *g, const void *cols, int64_t ld, int64_t c0, int64_t c_count, void *gx) {
    conv_job j = {t, g, cols, gx, c0, c_count, ld};
    nbc_parallel_for(g->n, sample_grain(g, c_count), col2im_chunk, &j);
}

/* ---- pooling ---------------------------------------------------------------------------------------- */

typedef struct pool_job {
    nb_dtype t;
    const nbk_conv_geom *g;
    const char *x;
    char *y;
    int64_t *idx;
    const int64_t *cidx;
    int64_t in_size, out_size;
    atomic_bool bad; /* scatter: an index was out of range */
} pool_job;

/* Outputs o in [lo, hi) whose whole window o * s - p + [0, (k - 1) * d] lies inside [0, in). */
static void interior(int64_t p, int64_t s, int64_t k, int64_t d, int64_t in, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t a = (p + s - 1) / s, num = in - 1 - (k - 1) * d + p;
    int64_t b = num < 0 ? 0 : num / s + 1;
    *lo = a < out ? a : out;
    *hi = b < out ? b : out;
    if (*hi < *lo) *hi = *lo;
}

/* The running maximum takes v when v is larger, or when v is the first NaN (NaN wins, and the first of
 * equal values stays): written without branches so random data costs no mispredictions. */
#define POOL_TAKE(v, b) (((v) > (b)) | (((v) != (v)) & ((b) == (b))))
#define POOL_UPD(T, v_, i_)                                                                           \
    {                                                                                              \
        T v = (v_);                                                                                \
        bool tk = POOL_TAKE(v, b);                                                                 \
        b = tk ? v : b;                                                                            \
        bi = tk ? (i_) : bi;                                                                       \
    }

#if defined(__x86_64__)
#define POOL_AVX512 CONV_AVX512
/* f32 interior outputs [ox0, ox1) of one row, 16 at a time (the last group masked, so short rows of
 * 5 or 13 outputs are vectorised too), for horizontal stride 1 or 2: r points at the top-left element
 * of output 0's window (flat index base); taps in the scalar order (rows, then columns) with the take
 * rule of POOL_TAKE, so values and indices are those of the scalar loops. Masked loads never touch
 * memory outside the windows. */
POOL_AVX512 static void maxpool_row_avx512(const nbk_conv_geom *g, const float *r, int64_t base, float *y,
                                           int64_t *ix, int64_t ox0, int64_t ox1) {
    int64_t W = g->w, sw = g->sw;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_add_epi32(lane, lane), lanesw = sw == 2 ? even : lane;
    for (int64_t ox = ox0; ox < ox1; ox += 16) {
        int64_t n = ox1 - ox < 16 ? ox1 - ox : 16;
        __mmask16 m = nbk_lanes16(n), m0 = sw == 1 ? m : nbk_lanes16(2 * n), m1 = nbk_lanes16(2 * n - 16 < 15 ? 2 * n - 16 : 15);
        __m512 b = _mm512_setzero_ps();
        __m512i off = _mm512_setzero_si512();
        bool first = true;
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                int64_t o = ki * g->dh * W + kj * g->dw;
                const float *q = r + ox * sw + o;
                __m512 v = _mm512_maskz_loadu_ps(m0, q);
                if (sw == 2) v = _mm512_permutex2var_ps(v, even, _mm512_maskz_loadu_ps(m1, q + 16));
                __mmask16 tk = first ? (__mmask16)0xffff
                                     : (__mmask16)(_mm512_cmp_ps_mask(v, b, _CMP_GT_OQ) |
                                                   (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) &
                                                    _mm512_cmp_ps_mask(b, b, _CMP_ORD_Q)));
                b = _mm512_mask_mov_ps(b, tk, v);
                off = _mm512_mask_mov_epi32(off, tk, _mm512_set1_epi32((int)o));
                first = false;
            }
        _mm512_mask_storeu_ps(y + ox, m, b);
        __m512i rel = _mm512_add_epi32(off, lanesw); /* offset from element ox * sw of the row */
        __m512i b64 = _mm512_set1_epi64(base + ox * sw);
        _mm512_mask_storeu_epi64(ix + ox, (__mmask8)(m & 0xff),
                                 _mm512_add_epi64(b64, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(rel))));
        _mm512_mask_storeu_epi64(ix + ox + 8, (__mmask8)(m >> 8),
                                 _mm512_add_epi64(b64, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(rel, 1))));
    }
}

static bool pool_avx512(void) { return have_avx512(); }
#endif

#define DEF_POOL(T, SUF)                                                                           \
    /* Outputs [ox0, ox1) of row oy with bounds checks (windows that may touch the padding). */    \
    static void maxpool_edge_##SUF(const nbk_conv_geom *g, const T *x, T *y, int64_t *ix, int64_t oy, \
                                   int64_t ox0, int64_t ox1) {                                     \
        for (int64_t ox = ox0; ox < ox1; ox++) {                                                   \
            T best = 0;                                                                            \
            int64_t bi = -1;                                                                       \
            for (int64_t ki = 0; ki < g->kh; ki++) {                                               \
                int64_t iy = oy * g->sh - g->ph + ki * g->dh;                                      \
                if (iy < 0 || iy >= g->h) continue;                                                \
                for (int64_t kj = 0; kj < g->kw; kj++) {                                           \
                    int64_t xx = ox * g->sw - g->pw + kj * g->dw;                                  \
                    if (xx < 0 || xx >= g->w) continue;                                            \
                    T v = x[iy * g->w + xx];                                                       \
                    if (bi < 0 || v > best || (v != v && best == best)) {                          \
                        best = v;                                                                  \
                        bi = iy * g->w + xx;                                                       \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            y[oy * g->ow + ox] = best;                                                             \
            ix[oy * g->ow + ox] = bi < 0 ? 0 : bi;                                                 \
        }                                                                                          \
    }                                                                                              \
    static void maxpool_##SUF(const pool_job *j, int64_t p) {                                      \
        const nbk_conv_geom *g = j->g;                                                             \
        const T *x = (const T *)j->x + p * g->h * g->w;                                            \
        T *y = (T *)j->y + p * g->oh * g->ow;                                                      \
        int64_t *ix = j->idx + p * g->oh * g->ow;                                                  \
        int64_t ylo, yhi, xlo, xhi, W = g->w, sw = g->sw, dh = g->dh, dw = g->dw;                  \
        interior(g->ph, g->sh, g->kh, g->dh, g->h, g->oh, &ylo, &yhi);                             \
        interior(g->pw, g->sw, g->kw, g->dw, g->w, g->ow, &xlo, &xhi);                             \
        bool k22 = g->kh == 2 && g->kw == 2 && sw == 2 && dh == 1 && dw == 1;                      \
        bool k33 = g->kh == 3 && g->kw == 3 && dh == 1 && dw == 1;                                 \
        bool simd = IS_F32 && POOL_SIMD_OK(g);                                                     \
        for (int64_t oy = 0; oy < g->oh; oy++) {                                                   \
            if (oy < ylo || oy >= yhi) {                                                           \
                maxpool_edge_##SUF(g, x, y, ix, oy, 0, g->ow);                                     \
                continue;                                                                          \
            }                                                                                      \
            maxpool_edge_##SUF(g, x, y, ix, oy, 0, xlo);                                           \
            maxpool_edge_##SUF(g, x, y, ix, oy, xhi, g->ow);                                       \
            /* interior: every window lies inside the plane; r[o] is the window's top-left element */ \
            int64_t base = (oy * g->sh - g->ph) * W - g->pw;                                       \
            const T *restrict r = x + base;                                                        \
            T *restrict yr = y + oy * g->ow;                                                       \
            int64_t *restrict ir = ix + oy * g->ow;                                                \
            int64_t xs = xlo;                                                                      \
            if (simd) {                                                                            \
                POOL_SIMD_ROW(g, (const float *)r, base, (float *)yr, ir, xlo, xhi);              \
                xs = xhi;                                                                          \
            }                                                                                      \
            if (k22) {                                                                             \
                for (int64_t ox = xs; ox < xhi; ox++) {                                            \
                    int64_t c = 2 * ox;                                                            \
                    T b = r[c];                                                                    \
                    int64_t bi = c;                                                                \
                    POOL_UPD(T, r[c + 1], c + 1)                                                      \
                    POOL_UPD(T, r[W + c], W + c)                                                      \
                    POOL_UPD(T, r[W + c + 1], W + c + 1)                                              \
                    yr[ox] = b;                                                                    \
                    ir[ox] = base + bi;                                                            \
                }                                                                                  \
            } else if (k33) {                                                                      \
                for (int64_t ox = xs; ox < xhi; ox++) {                                            \
                    int64_t c = ox * sw;                                                           \
                    T b = r[c];                                                                    \
                    int64_t bi = c;                                                                \
                    POOL_UPD(T, r[c + 1], c + 1)                                                      \
                    POOL_UPD(T, r[c + 2], c + 2)                                                      \
                    POOL_UPD(T, r[W + c], W + c)                                                      \
                    POOL_UPD(T, r[W + c + 1], W + c + 1)                                              \
                    POOL_UPD(T, r[W + c + 2], W + c + 2)                                              \
                    POOL_UPD(T, r[2 * W + c], 2 * W + c)                                              \
                    POOL_UPD(T, r[2 * W + c + 1], 2 * W + c + 1)                                      \
                    POOL_UPD(T, r[2 * W + c + 2], 2 * W + c + 2)                                      \
                    yr[ox] = b;                                                                    \
                    ir[ox] = base + bi;                                                            \
                }                                                                                  \
            } else {                                                                               \
                for (int64_t ox = xs; ox < xhi; ox++) {                                            \
                    int64_t c = ox * sw;                                                           \
                    T b = r[c];                                                                    \
                    int64_t bi = c;                                                                \
                    for (int64_t ki = 0; ki < g->kh; ki++)                                         \
                        for (int64_t kj = 0; kj < g->kw; kj++) {                                   \
                            int64_t o = ki * dh * W + c + kj * dw;                                 \
                            POOL_UPD(T, r[o], o)                                                      \
                        }                                                                          \
                    yr[ox] = b;                                                                    \
                    ir[ox] = base + bi;                                                            \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* One plane of gx: zeroed, then gy added at the indices in order; false if one is out of range */ \
    static bool scatter_##SUF(const pool_job *j, int64_t p) {                                      \
        const T *gy = (const T *)j->x + p * j->out_size;                                           \
        const int64_t *ix = j->cidx + p * j->out_size;                                             \
        T *gx = (T *)j->y + p * j->in_size;                                                        \
        bool ok = true;                                                                            \
        for (int64_t k = 0; k < j->in_size; k++) gx[k] = 0;                                        \
        for (int64_t k = 0; k < j->out_size; k++) {                                                \
            int64_t i = ix[k];                                                                     \
            if ((uint64_t)i < (uint64_t)j->in_size) gx[i] += gy[k];                                \
            else ok = false;                                                                       \
        }                                                                                          \
        return ok;                                                                                 \
    }                                                                                              \
    static void gather_##SUF(const pool_job *j, int64_t p) {                                       \
        const T *x = (const T *)j->x + p * j->in_size;                                             \
        const int64_t *ix = j->cidx + p * j->out_size;                                             \
        T *y = (T *)j->y + p * j->out_size;                                                        \
        for (int64_t k = 0; k < j->out_size; k++) y[k] = x[ix[k]];                                 \
    }
#if defined(__x86_64__)
/* flat offsets within a window must fit in int32 lanes */
#define POOL_SIMD_OK(g) ((g)->sw <= 2 && (g)->h * (g)->w < ((int64_t)1 << 30) && pool_avx512())
#define POOL_SIMD_ROW maxpool_row_avx512
#else
#define POOL_SIMD_OK(g) false
#define POOL_SIMD_ROW(g, r, base, y, ix, lo, hi) ((void)0)
#endif
#define IS_F32 1
DEF_POOL(float, f)
#undef IS_F32
#define IS_F32 0
DEF_POOL(double, d)
#undef IS_F32

static void maxpool_chunk(void *ctx, int64_t b, int64_t e) {
    const pool_job *j = ctx;
    for (int64_t p = b; p < e; p++) {
        if (j->t == NB_F32) maxpool_f(j, p);
        else maxpool_d(j, p);
    }
}

static void scatter_chunk(void *ctx, int64_t b, int64_t e) {
    pool_job *j = ctx;
    bool ok = true;
    for (int64_t p = b; p < e; p++) ok &= j->t == NB_F32 ? scatter_f(j, p) : scatter_d(j, p);
    if (!ok) atomic_store(&j->bad, true);
}

static void gather_chunk(void *ctx, int64_t b, int64_t e) {
    const pool_job *j = ctx;
    for (int64_t p = b; p < e; p++) {
        if (j->t == NB_F32) gather_f(j, p);
        else gather_d(j, p);
    }
}

void nbk_max_pool2d(nb_dtype t, const nbk_conv_geom *g, const void *x, void *y, int64_t *idx) {
    pool_job j = {.t = t, .g = g, .x = x, .y = y, .idx = idx};
    int64_t work = g->oh * g->ow * g->kh * g->kw;
    nbc_parallel_for(g->n * g->c, work >= 16384 ? 1 : 16384 / (work ? work : 1), maxpool_chunk, &j);
}

bool nbk_plane_scatter_add(nb_dtype t, int64_t planes, int64_t in_size, int64_t out_size, const void *g,
                           const int64_t *idx, void *gx) {
    pool_job j = {.t = t, .x = g, .y = gx, .cidx = idx, .in_size = in_size, .out_size = out_size};
    atomic_init(&j.bad, false);
    int64_t work = in_size + out_size;
    nbc_parallel_for(planes, work >= 16384 ? 1 : 16384 / (work ? work : 1), scatter_chunk, &j);
    return !atomic_load(&j.bad);
}

void nbk_plane_gather(nb_dtype t, int64_t planes, int64_t in_size, int64_t out_size, const void *x, const int64_t *idx,
                      void *y) {
    pool_job j = {.t = t, .x = x, .y = y, .cidx = idx, .in_size = in_size, .out_size = out_size};
    nbc_parallel_for(planes, out_size >= 16384 ? 1 : 16384 / (out_size ? out_size : 1), gather_chunk, &j);
}
