/* kernels/cpu/maxpool.h — the gradient of max pooling (ops/pool.c). */
#ifndef NABLA_KERNELS_MAXPOOL_H
#define NABLA_KERNELS_MAXPOOL_H

#include "kernels.h"

/* gx (planes, h, w) = zeros with g (planes, oh, ow) added at the flat plane indices idx, for f32 or
 * f64. Returns false if an index is outside its plane. When every index of a plane lies in its own
 * 2x2 stride-2 window (max_pool2d's common case), the plane is written in one pass, block by block,
 * instead of zero-filled and then scattered into; the values are the same bits (g + 0, as 0 + g). */
bool nbk_maxpool_scatter(nb_dtype t, int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const void *g,
                         const int64_t *idx, void *gx);

/* Forward max pooling with 2x2 windows, stride 2, no padding or dilation, f32 (planes, h, w) ->
 * values (planes, oh, ow) and flat plane indices, with 2 * oh <= h and 2 * ow <= w: the taps in the
 * order (0, 0), (0, 1), (1, 0), (1, 1), a larger value or the first NaN taking over, the values and
 * indices of the general kernel (nbk_max_pool2d). Returns false, doing nothing, when this CPU has no
 * AVX-512 (the caller then runs the general kernel). */
bool nbk_maxpool2x2_f32(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const float *x, float *y,
                        int64_t *idx);

#endif
