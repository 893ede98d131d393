/* kernels/cpu/resample.h — separable linear maps of image planes (average pools, adaptive average
 * pools, nearest and bilinear resampling) and adaptive max pooling.
 *
 * Every one of those linear maps is Y = A_h X A_w^T on each (H, W) plane, where A_h (OH, H) and
 * A_w (OW, W) are banded: output o reads the contiguous inputs [start[o], start[o] + len[o]) with
 * weights w[o * maxlen + j]. The forward map does the W pass then the H pass through a scratch plane
 * of H x OW; the adjoint (the gradient) applies the transposes in the reverse order. */
#ifndef NABLA_KERNELS_RESAMPLE_H
#define NABLA_KERNELS_RESAMPLE_H

#include "kernels.h"

typedef struct nbk_band {
    int64_t in, out, maxlen;
    int64_t *start; /* [out] */
    int64_t *len;   /* [out], each in [1, maxlen] */
    double *w;      /* [out * maxlen] */
} nbk_band;

/* adjoint false: y (planes of bh->out x bw->out) = A_h x A_w^T for x (planes of bh->in x bw->in).
 * adjoint true: y (planes of in x in) = A_h^T x A_w for x (planes of out x out).
 * t is NB_F32 or NB_F64; x and y contiguous. Parallel over planes, each plane summed in a fixed
 * order, so results do not depend on the thread count. Returns false when out of memory. */
bool nbk_resample2d(nb_dtype t, int64_t planes, const nbk_band *bh, const nbk_band *bw, const void *x, void *y,
                    bool adjoint);

/* Adaptive max pooling: output (oy, ox) of each plane is the maximum of rows [hs[oy], he[oy]) and
 * columns [ws[ox], we[ox]) (NaN wins, first index on ties); idx gets its flat index iy * W + ix. */
void nbk_adaptive_max_pool2d(nb_dtype t, int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const void *x,
                             void *y, int64_t *idx);

#endif
