/* kernels/cpu/depthwise.c — depthwise convolution by direct loops (see depthwise.h). For each filter
 * tap (i, j) the output columns whose input column is inside the plane are computed once, so the
 * inner loops have no bounds tests. */
#include "depthwise.h"

#include <string.h>

/* Output columns ox with 0 <= ox * stride + off < size, as [lo, hi). */
static void cols_in(int64_t off, int64_t stride, int64_t size, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t b = size - off <= 0 ? 0 : (size - off + stride - 1) / stride;
    *lo = a < out ? a : out;
    *hi = b < out ? b : out;
    if (*hi < *lo) *hi = *lo;
}

typedef struct dw_job {
    const nbk_conv_geom *g;
    const char *a, *b;
    char *out;
} dw_job;

#define DEF_DW(T, SUF)                                                                                         \
    /* y plane (oh, ow) = x plane (H, W) (*) w (kh, kw) */                                                    \
    static void fwd_plane_##SUF(const nbk_conv_geom *g, const T *restrict x, const T *restrict w, T *restrict y) { \
        memset(y, 0, sizeof(T) * (size_t)(g->oh * g->ow));                                                     \
        for (int64_t i = 0; i < g->kh; i++)                                                                    \
            for (int64_t j = 0; j < g->kw; j++) {                                                              \
                T a = w[i * g->kw + j];                                                                        \
                int64_t xo = j * g->dw - g->pw, lo, hi;                                                        \
                cols_in(xo, g->sw, g->w, g->ow, &lo, &hi);                                                     \
                for (int64_t oy = 0; oy < g->oh; oy++) {                                                       \
                    int64_t iy = oy * g->sh - g->ph + i * g->dh;                                               \
                    if (iy < 0 || iy >= g->h) continue;                                                        \
                    const T *xr = x + iy * g->w;                                                               \
                    T *yr = y + oy * g->ow;                                                                    \
                    if (g->sw == 1)                                                                            \
                        for (int64_t ox = lo; ox < hi; ox++) yr[ox] += a * xr[ox + xo];                        \
                    else                                                                                       \
                        for (int64_t ox = lo; ox < hi; ox++) yr[ox] += a * xr[ox * g->sw + xo];                \
                }                                                                                              \
            }                                                                                                  \
    }                                                                                                          \
    /* gx plane (H, W) = adjoint of the above applied to gy plane (oh, ow) */                                 \
    static void dx_plane_##SUF(const nbk_conv_geom *g, const T *restrict gy, const T *restrict w, T *restrict gx) { \
        memset(gx, 0, sizeof(T) * (size_t)(g->h * g->w));                                                      \
        for (int64_t i = 0; i < g->kh; i++)                                                                    \
            for (int64_t j = 0; j < g->kw; j++) {                                                              \
                T a = w[i * g->kw + j];                                                                        \
                int64_t xo = j * g->dw - g->pw, lo, hi;                                                        \
                cols_in(xo, g->sw, g->w, g->ow, &lo, &hi);                                                     \
                for (int64_t oy = 0; oy < g->oh; oy++) {                                                       \
                    int64_t iy = oy * g->sh - g->ph + i * g->dh;                                               \
                    if (iy < 0 || iy >= g->h) continue;                                                        \
                    T *xr = gx + iy * g->w;                                                                    \
                    const T *yr = gy + oy * g->ow;                                                             \
                    if (g->sw == 1)                                                                            \
                        for (int64_t ox = lo; ox < hi; ox++) xr[ox + xo] += a * yr[ox];                        \
                    else                                                                                       \
                        for (int64_t ox = lo; ox < hi; ox++) xr[ox * g->sw + xo] += a * yr[ox];                \
                }                                                                                              \
            }                                                                                                  \
    }                                                                                                          \
    static void fwd_chunk_##SUF(void *ctx, int64_t b, int64_t e) {                                             \
        dw_job *j = ctx;                                                                                       \
        const nbk_conv_geom *g = j->g;                                                                         \
        for (int64_t p = b; p < e; p++)                                                                        \
            fwd_plane_##SUF(g, (const T *)j->a + p * g->h * g->w, (const T *)j->b + (p % g->c) * g->kh * g->kw, \
                            (T *)j->out + p * g->oh * g->ow);                                                  \
    }                                                                                                          \
    static void dx_chunk_##SUF(void *ctx, int64_t b, int64_t e) {                                              \
        dw_job *j = ctx;                                                                                       \
        const nbk_conv_geom *g = j->g;                                                                         \
        for (int64_t p = b; p < e; p++)                                                                        \
            dx_plane_##SUF(g, (const T *)j->a + p * g->oh * g->ow, (const T *)j->b + (p % g->c) * g->kh * g->kw, \
                           (T *)j->out + p * g->h * g->w);                                                     \
    }                                                                                                          \
    /* channels [b, e): gw[c, i, j] = sum over n, oy, ox (in that order) of gy * x; a = x, b = gy */         \
    static void dw_chunk_##SUF(void *ctx, int64_t b, int64_t e) {                                              \
        dw_job *jb = ctx;                                                                                      \
        const nbk_conv_geom *g = jb->g;                                                                        \
        for (int64_t c = b; c < e; c++)                                                                        \
            for (int64_t i = 0; i < g->kh; i++)                                                                \
                for (int64_t j = 0; j < g->kw; j++) {                                                          \
                    int64_t xo = j * g->dw - g->pw, lo, hi;                                                    \
                    cols_in(xo, g->sw, g->w, g->ow, &lo, &hi);                                                 \
                    T acc = 0;                                                                                 \
                    for (int64_t n = 0; n < g->n; n++) {                                                       \
                        const T *x = (const T *)jb->a + (n * g->c + c) * g->h * g->w;                          \
                        const T *gy = (const T *)jb->b + (n * g->c + c) * g->oh * g->ow;                       \
                        for (int64_t oy = 0; oy < g->oh; oy++) {                                               \
                            int64_t iy = oy * g->sh - g->ph + i * g->dh;                                       \
                            if (iy < 0 || iy >= g->h) continue;                                                \
                            const T *xr = x + iy * g->w, *yr = gy + oy * g->ow;                                \
                            T s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* four chains: shorter dependency */            \
                            int64_t ox = lo;                                                                   \
                            for (; ox + 4 <= hi; ox += 4) {                                                    \
                                s0 += yr[ox] * xr[ox * g->sw + xo];                                            \
                                s1 += yr[ox + 1] * xr[(ox + 1) * g->sw + xo];                                  \
                                s2 += yr[ox + 2] * xr[(ox + 2) * g->sw + xo];                                  \
                                s3 += yr[ox + 3] * xr[(ox + 3) * g->sw + xo];                                  \
                            }                                                                                  \
                            for (; ox < hi; ox++) s0 += yr[ox] * xr[ox * g->sw + xo];                          \
                            acc += (s0 + s1) + (s2 + s3);                                                      \
                        }                                                                                      \
                    }                                                                                          \
                    ((T *)jb->out)[(c * g->kh + i) * g->kw + j] = acc;                                         \
                }                                                                                              \
    }

DEF_DW(float, f32)
DEF_DW(double, f64)

static int64_t grain_of(int64_t work) { return 32768 / (work > 0 ? work : 1) + 1; }

void nbk_depthwise_conv2d(nb_dtype t, const nbk_conv_geom *g, const void *x, const void *w, void *y) {
    dw_job j = {g, x, w, y};
    nbc_parallel_for(g->n * g->c, grain_of(g->oh * g->ow * g->kh * g->kw), t == NB_F32 ? fwd_chunk_f32 : fwd_chunk_f64, &j);
}

void nbk_depthwise_conv2d_input_grad(nb_dtype t, const nbk_conv_geom *g, const void *gy, const void *w, void *gx) {
    dw_job j = {g, gy, w, gx};
    nbc_parallel_for(g->n * g->c, grain_of(g->oh * g->ow * g->kh * g->kw), t == NB_F32 ? dx_chunk_f32 : dx_chunk_f64, &j);
}

void nbk_depthwise_conv2d_weight_grad(nb_dtype t, const nbk_conv_geom *g, const void *x, const void *gy, void *gw) {
    dw_job j = {g, x, gy, gw};
    nbc_parallel_for(g->c, grain_of(g->n * g->oh * g->ow * g->kh * g->kw), t == NB_F32 ? dw_chunk_f32 : dw_chunk_f64, &j);
}
