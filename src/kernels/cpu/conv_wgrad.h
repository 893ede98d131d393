/* kernels/cpu/conv_wgrad.h — weight gradients of dense f32 convolutions without an im2col matrix:
 * direct loops for short filters (conv_wgrad.c) and a GEMM over pixels (conv_wgrad_gemm.c). */
#ifndef NABLA_KERNELS_CONV_WGRAD_H
#define NABLA_KERNELS_CONV_WGRAD_H

#include "conv.h"

/* Filters with at most this many elements (C_in * kh * kw) take the direct path. */
#define NBK_WGRAD_MAX_K 32

/* gw (O, C, kh, kw) = the adjoint of a dense (groups = 1) f32 conv2d in its weight, for x
 * (N, C, H, W) and gy (N, O, oh, ow), both contiguous. Returns false, with nothing written, when the
 * direct path does not apply (no AVX-512, horizontal stride other than 1, kw > 7, long filters, output
 * rows over 256 columns); the caller then takes the GEMM path. Thread-count independent. */
bool nbk_conv2d_weight_grad_direct(const nbk_conv_geom *g, int64_t O, const float *x, const float *gy, float *gw);

/* The same for any dense f32 conv2d, as a GEMM over pixels with operands packed from x (transposed to
 * channels-last per sample) and gy directly (conv_wgrad_gemm.c). Returns false, with gw unspecified,
 * when there is no packed GEMM kernel at this dispatch level, the work splits into fewer than two
 * partial sums (one k-block of samples, or a layer whose O * C * kh * kw leaves room for only one
 * within 16 MB), or memory ran out; the caller then takes the im2col path, which overwrites gw.
 * Thread-count independent (the choice depends on the shapes alone). */
bool nbk_conv2d_weight_grad_gemm(const nbk_conv_geom *g, int64_t O, const float *x, const float *gy, float *gw);

#endif
