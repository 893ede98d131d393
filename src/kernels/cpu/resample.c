/* kernels/cpu/resample.c — separable banded maps of image planes (see resample.h) and adaptive max
 * pooling. Weights come in as f64 and are converted once per call to the compute type, so the inner
 * loops are plain multiply-adds over contiguous rows with no per-element dispatch. */
#include "resample.h"

#include <stdlib.h>
#include <string.h>

typedef struct rs_job {
    const nbk_band *bh, *bw;
    const void *wh, *ww; /* the band weights in compute type */
    const char *x;
    char *y;
    bool adjoint;
    atomic_bool oom;
} rs_job;

#define DEF_RESAMPLE(T, SUF)                                                                                   \
    /* forward: tmp (H, OW) = X A_w^T, then Y (OH, OW) = A_h tmp */                                          \
    static void fwd_plane_##SUF(const rs_job *j, const T *restrict x, T *restrict y, T *restrict tmp) {      \
        const nbk_band *bh = j->bh, *bw = j->bw;                                                               \
        const T *wh = j->wh, *ww = j->ww;                                                                      \
        int64_t H = bh->in, W = bw->in, OH = bh->out, OW = bw->out, mw = bw->maxlen, mh = bh->maxlen;          \
        for (int64_t h = 0; h < H; h++) {                                                                      \
            const T *xr = x + h * W;                                                                           \
            T *tr = tmp + h * OW;                                                                              \
            for (int64_t o = 0; o < OW; o++) {                                                                 \
                const T *xs = xr + bw->start[o], *wo = ww + o * mw;                                            \
                T s = 0;                                                                                       \
                for (int64_t k = 0; k < bw->len[o]; k++) s += wo[k] * xs[k];                                   \
                tr[o] = s;                                                                                     \
            }                                                                                                  \
        }                                                                                                      \
        for (int64_t o = 0; o < OH; o++) {                                                                     \
            T *yr = y + o * OW;                                                                                \
            const T *wo = wh + o * mh;                                                                         \
            const T *t0 = tmp + bh->start[o] * OW;                                                             \
            T a0 = wo[0];                                                                                      \
            for (int64_t c = 0; c < OW; c++) yr[c] = a0 * t0[c];                                               \
            for (int64_t k = 1; k < bh->len[o]; k++) {                                                         \
                const T *tk = t0 + k * OW;                                                                     \
                T a = wo[k];                                                                                   \
                for (int64_t c = 0; c < OW; c++) yr[c] += a * tk[c];                                           \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    /* adjoint: tmp (H, OW) = A_h^T G, then GX (H, W) = tmp A_w */                                            \
    static void adj_plane_##SUF(const rs_job *j, const T *restrict g, T *restrict gx, T *restrict tmp) {     \
        const nbk_band *bh = j->bh, *bw = j->bw;                                                               \
        const T *wh = j->wh, *ww = j->ww;                                                                      \
        int64_t H = bh->in, W = bw->in, OH = bh->out, OW = bw->out, mw = bw->maxlen, mh = bh->maxlen;          \
        memset(tmp, 0, sizeof(T) * (size_t)(H * OW));                                                          \
        for (int64_t o = 0; o < OH; o++) {                                                                     \
            const T *gr = g + o * OW, *wo = wh + o * mh;                                                       \
            for (int64_t k = 0; k < bh->len[o]; k++) {                                                         \
                T *tr = tmp + (bh->start[o] + k) * OW;                                                         \
                T a = wo[k];                                                                                   \
                for (int64_t c = 0; c < OW; c++) tr[c] += a * gr[c];                                           \
            }                                                                                                  \
        }                                                                                                      \
        for (int64_t h = 0; h < H; h++) {                                                                      \
            T *gr = gx + h * W;                                                                                \
            const T *tr = tmp + h * OW;                                                                        \
            memset(gr, 0, sizeof(T) * (size_t)W);                                                              \
            for (int64_t o = 0; o < OW; o++) {                                                                 \
                T *gs = gr + bw->start[o], v = tr[o];                                                          \
                const T *wo = ww + o * mw;                                                                     \
                for (int64_t k = 0; k < bw->len[o]; k++) gs[k] += wo[k] * v;                                   \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    static void chunk_##SUF(void *ctx, int64_t b, int64_t e) {                                                 \
        rs_job *j = ctx;                                                                                       \
        int64_t H = j->bh->in, W = j->bw->in, OH = j->bh->out, OW = j->bw->out;                                \
        T *tmp = malloc(sizeof(T) * (size_t)(H * OW > 0 ? H * OW : 1));                                        \
        if (!tmp) {                                                                                            \
            atomic_store(&j->oom, true);                                                                       \
            return;                                                                                            \
        }                                                                                                      \
        const T *x = (const T *)j->x;                                                                          \
        T *y = (T *)j->y;                                                                                      \
        for (int64_t p = b; p < e; p++) {                                                                      \
            if (j->adjoint) adj_plane_##SUF(j, x + p * OH * OW, y + p * H * W, tmp);                           \
            else fwd_plane_##SUF(j, x + p * H * W, y + p * OH * OW, tmp);                                      \
        }                                                                                                      \
        free(tmp);                                                                                             \
    }

DEF_RESAMPLE(float, f32)
DEF_RESAMPLE(double, f64)

static void *weights_as(nb_dtype t, const nbk_band *b) {
    int64_t n = b->out * b->maxlen;
    void *p = malloc((t == NB_F32 ? sizeof(float) : sizeof(double)) * (size_t)(n > 0 ? n : 1));
    if (!p) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (t == NB_F32) ((float *)p)[i] = (float)b->w[i];
        else ((double *)p)[i] = b->w[i];
    }
    return p;
}

bool nbk_resample2d(nb_dtype t, int64_t planes, const nbk_band *bh, const nbk_band *bw, const void *x, void *y,
                    bool adjoint) {
    rs_job j = {.bh = bh, .bw = bw, .x = x, .y = y, .adjoint = adjoint};
    atomic_init(&j.oom, false);
    void *wh = weights_as(t, bh), *ww = weights_as(t, bw);
    if (wh && ww) {
        j.wh = wh;
        j.ww = ww;
        /* about 64k multiply-adds per task: planes are independent, so any split gives the same bits */
        int64_t work = bh->in * bw->out * bw->maxlen + bh->out * bw->out * bh->maxlen + 1;
        int64_t grain = 65536 / work > 1 ? 65536 / work : 1;
        nbc_parallel_for(planes, grain, t == NB_F32 ? chunk_f32 : chunk_f64, &j);
    }
    bool ok = wh && ww && !atomic_load(&j.oom);
    free(wh);
    free(ww);
    return ok;
}

/* ---- adaptive max pooling ----------------------------------------------------------------------- */

typedef struct amp_job {
    int64_t h, w, oh, ow;
    const char *x;
    char *y;
    int64_t *idx;
} amp_job;

static int64_t a_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
static int64_t a_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

#define DEF_AMP(T, SUF)                                                                                        \
    static void amp_chunk_##SUF(void *ctx, int64_t b, int64_t e) {                                             \
        amp_job *j = ctx;                                                                                      \
        for (int64_t p = b; p < e; p++) {                                                                      \
            const T *x = (const T *)j->x + p * j->h * j->w;                                                    \
            T *y = (T *)j->y + p * j->oh * j->ow;                                                              \
            int64_t *ix = j->idx + p * j->oh * j->ow;                                                          \
            for (int64_t oy = 0; oy < j->oh; oy++) {                                                           \
                int64_t hs = a_start(oy, j->h, j->oh), he = a_end(oy, j->h, j->oh);                            \
                for (int64_t ox = 0; ox < j->ow; ox++) {                                                       \
                    int64_t ws = a_start(ox, j->w, j->ow), we = a_end(ox, j->w, j->ow);                        \
                    int64_t best = hs * j->w + ws;                                                             \
                    T m = x[best];                                                                             \
                    for (int64_t iy = hs; iy < he && m == m; iy++)                                             \
                        for (int64_t iv = ws; iv < we; iv++) {                                                 \
                            T v = x[iy * j->w + iv];                                                           \
                            if (v > m || v != v) {                                                             \
                                m = v;                                                                         \
                                best = iy * j->w + iv;                                                         \
                                if (v != v) break;                                                             \
                            }                                                                                  \
                        }                                                                                      \
                    y[oy * j->ow + ox] = m;                                                                    \
                    ix[oy * j->ow + ox] = best;                                                                \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }

DEF_AMP(float, f32)
DEF_AMP(double, f64)

void nbk_adaptive_max_pool2d(nb_dtype t, int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const void *x,
                             void *y, int64_t *idx) {
    amp_job j = {.h = h, .w = w, .oh = oh, .ow = ow, .x = x, .y = y, .idx = idx};
    int64_t grain = 65536 / (h * w + 1) > 1 ? 65536 / (h * w + 1) : 1;
    nbc_parallel_for(planes, grain, t == NB_F32 ? amp_chunk_f32 : amp_chunk_f64, &j);
}
