/* kernels/cpu/conv_fwd.h — conv2d forward as an implicit GEMM on the AVX-512 micro-kernel (see
 * conv_fwd.c). */
#ifndef NABLA_KERNELS_CONV_FWD_H
#define NABLA_KERNELS_CONV_FWD_H

#include "conv.h"

/* y (N, O, oh, ow) = x (N, C, H, W) (*) w (O, C, kh, kw) + bias (O, or NULL), f32, dense (groups = 1),
 * all contiguous. Returns false, with y unspecified, when this path does not apply (no AVX-512 GEMM
 * kernel at this dispatch level, filters of fewer than 32 elements, output rows so short or a vertical
 * strides so large that a 16-pixel chunk reads more than 32 consecutive input floats) or memory ran
 * out; the caller then takes the im2col path, which overwrites y. Thread-count independent. */
bool nbk_conv2d_forward_packed(const nbk_conv_geom *g, int64_t O, const float *x, const float *w, const float *bias,
                               float *y);

#endif
