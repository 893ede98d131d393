/* kernels/cpu/conv.c — im2col and col2im for convolution by GEMM. For every window offset (ki, kj)
 * the valid output columns are computed once, so the inner loops have no bounds tests and the
 * stride-1 case is a straight copy. */
#include "conv.h"

#include <string.h>

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

#define DEF_IM2COL(T, SUF)                                                                         \
    static void im2col_##SUF(const conv_job *j, int64_t s) {                                       \
        const nbk_conv_geom *g = j->g;                                                             \
        int64_t P = g->oh * g->ow;                                                                 \
        const T *x = (const T *)j->src + (s * g->c + j->c0) * g->h * g->w;                         \
        for (int64_t c = 0; c < j->cc; c++)                                                        \
            for (int64_t ki = 0; ki < g->kh; ki++)                                                 \
                for (int64_t kj = 0; kj < g->kw; kj++) {                                           \
                    T *d = (T *)j->dst + ((c * g->kh + ki) * g->kw + kj) * j->ld + s * P;          \
                    int64_t xo = kj * g->dw - g->pw, lo, hi;                                       \
                    valid_range(xo, g->sw, g->w, g->ow, &lo, &hi);                                 \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                                       \
                        int64_t iy = oy * g->sh - g->ph + ki * g->dh;                              \
                        T *row = d + oy * g->ow;                                                   \
                        if (iy < 0 || iy >= g->h) {                                                \
                            memset(row, 0, sizeof(T) * (size_t)g->ow);                             \
                            continue;                                                              \
                        }                                                                          \
                        const T *xr = x + (c * g->h + iy) * g->w + xo;                             \
                        for (int64_t ox = 0; ox < lo; ox++) row[ox] = 0;                           \
                        if (g->sw == 1) memcpy(row + lo, xr + lo, sizeof(T) * (size_t)(hi - lo));  \
                        else                                                                       \
                            for (int64_t ox = lo; ox < hi; ox++) row[ox] = xr[ox * g->sw];         \
                        for (int64_t ox = hi; ox < g->ow; ox++) row[ox] = 0;                       \
                    }                                                                              \
                }                                                                                  \
    }                                                                                              \
    static void col2im_##SUF(const conv_job *j, int64_t s) {                                       \
        const nbk_conv_geom *g = j->g;                                                             \
        int64_t P = g->oh * g->ow;                                                                 \
        T *x = (T *)j->dst + (s * g->c + j->c0) * g->h * g->w;                                     \
        for (int64_t c = 0; c < j->cc; c++)                                                        \
            for (int64_t ki = 0; ki < g->kh; ki++)                                                 \
                for (int64_t kj = 0; kj < g->kw; kj++) {                                           \
                    const T *d = (const T *)j->src + ((c * g->kh + ki) * g->kw + kj) * j->ld + s * P; \
                    int64_t xo = kj * g->dw - g->pw, lo, hi;                                       \
                    valid_range(xo, g->sw, g->w, g->ow, &lo, &hi);                                 \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                                       \
                        int64_t iy = oy * g->sh - g->ph + ki * g->dh;                              \
                        if (iy < 0 || iy >= g->h) continue;                                        \
                        const T *row = d + oy * g->ow;                                             \
                        T *xr = x + (c * g->h + iy) * g->w + xo;                                   \
                        for (int64_t ox = lo; ox < hi; ox++) xr[ox * g->sw] += row[ox];            \
                    }                                                                              \
                }                                                                                  \
    }
DEF_IM2COL(float, f)
DEF_IM2COL(double, d)

static void im2col_chunk(void *ctx, int64_t b, int64_t e) {
    const conv_job *j = ctx;
    for (int64_t s = b; s < e; s++) {
        if (j->t == NB_F32) im2col_f(j, s);
        else im2col_d(j, s);
    }
}

static void col2im_chunk(void *ctx, int64_t b, int64_t e) {
    const conv_job *j = ctx;
    for (int64_t s = b; s < e; s++) {
        if (j->t == NB_F32) col2im_f(j, s);
        else col2im_d(j, s);
    }
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
} pool_job;

#define DEF_POOL(T, SUF)                                                                           \
    static void maxpool_##SUF(const pool_job *j, int64_t p) {                                      \
        const nbk_conv_geom *g = j->g;                                                             \
        const T *x = (const T *)j->x + p * g->h * g->w;                                            \
        T *y = (T *)j->y + p * g->oh * g->ow;                                                      \
        int64_t *ix = j->idx + p * g->oh * g->ow;                                                  \
        for (int64_t oy = 0; oy < g->oh; oy++)                                                     \
            for (int64_t ox = 0; ox < g->ow; ox++) {                                               \
                T best = 0;                                                                        \
                int64_t bi = -1;                                                                   \
                for (int64_t ki = 0; ki < g->kh; ki++) {                                           \
                    int64_t iy = oy * g->sh - g->ph + ki * g->dh;                                  \
                    if (iy < 0 || iy >= g->h) continue;                                            \
                    for (int64_t kj = 0; kj < g->kw; kj++) {                                       \
                        int64_t xx = ox * g->sw - g->pw + kj * g->dw;                              \
                        if (xx < 0 || xx >= g->w) continue;                                        \
                        T v = x[iy * g->w + xx];                                                   \
                        if (bi < 0 || v > best || (v != v && best == best)) {                      \
                            best = v;                                                              \
                            bi = iy * g->w + xx;                                                   \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
                y[oy * g->ow + ox] = best;                                                         \
                ix[oy * g->ow + ox] = bi < 0 ? 0 : bi;                                             \
            }                                                                                      \
    }                                                                                              \
    static void scatter_##SUF(const pool_job *j, int64_t p) {                                      \
        const T *gy = (const T *)j->x + p * j->out_size;                                           \
        const int64_t *ix = j->cidx + p * j->out_size;                                             \
        T *gx = (T *)j->y + p * j->in_size;                                                        \
        for (int64_t k = 0; k < j->out_size; k++) gx[ix[k]] += gy[k];                              \
    }                                                                                              \
    static void gather_##SUF(const pool_job *j, int64_t p) {                                       \
        const T *x = (const T *)j->x + p * j->in_size;                                             \
        const int64_t *ix = j->cidx + p * j->out_size;                                             \
        T *y = (T *)j->y + p * j->out_size;                                                        \
        for (int64_t k = 0; k < j->out_size; k++) y[k] = x[ix[k]];                                 \
    }
DEF_POOL(float, f)
DEF_POOL(double, d)

static void maxpool_chunk(void *ctx, int64_t b, int64_t e) {
    const pool_job *j = ctx;
    for (int64_t p = b; p < e; p++) {
        if (j->t == NB_F32) maxpool_f(j, p);
        else maxpool_d(j, p);
    }
}

static void scatter_chunk(void *ctx, int64_t b, int64_t e) {
    const pool_job *j = ctx;
    for (int64_t p = b; p < e; p++) {
        if (j->t == NB_F32) scatter_f(j, p);
        else scatter_d(j, p);
    }
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

void nbk_plane_scatter_add(nb_dtype t, int64_t planes, int64_t in_size, int64_t out_size, const void *g,
                           const int64_t *idx, void *gx) {
    pool_job j = {.t = t, .x = g, .y = gx, .cidx = idx, .in_size = in_size, .out_size = out_size};
    nbc_parallel_for(planes, out_size >= 16384 ? 1 : 16384 / (out_size ? out_size : 1), scatter_chunk, &j);
}

void nbk_plane_gather(nb_dtype t, int64_t planes, int64_t in_size, int64_t out_size, const void *x, const int64_t *idx,
                      void *y) {
    pool_job j = {.t = t, .x = x, .y = y, .cidx = idx, .in_size = in_size, .out_size = out_size};
    nbc_parallel_for(planes, out_size >= 16384 ? 1 : 16384 / (out_size ? out_size : 1), gather_chunk, &j);
}
