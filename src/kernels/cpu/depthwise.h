/* kernels/cpu/depthwise.h — depthwise 2-D convolution (groups == C_in == C_out: one kH x kW filter per
 * channel) by direct loops, and its two gradients. im2col + GEMM would run one GEMM with a single
 * output row per channel; here each filter tap is a shifted multiply-add over whole output rows, which
 * vectorises for stride 1. Planes (forward, input gradient) or channels (weight gradient) run in
 * parallel, each summed in a fixed order, so results do not depend on the thread count. */
#ifndef NABLA_KERNELS_DEPTHWISE_H
#define NABLA_KERNELS_DEPTHWISE_H

#include "conv.h"

/* y (N, C, oh, ow) = x (N, C, H, W) (*) w (C, 1, kh, kw), geometry g (g->c == C). t: NB_F32 / NB_F64. */
void nbk_depthwise_conv2d(nb_dtype t, const nbk_conv_geom *g, const void *x, const void *w, void *y);
/* gx (N, C, H, W) = the adjoint in x applied to gy (N, C, oh, ow). */
void nbk_depthwise_conv2d_input_grad(nb_dtype t, const nbk_conv_geom *g, const void *gy, const void *w, void *gx);
/* gw (C, 1, kh, kw) = the adjoint in w: sum over samples and output positions of gy * x. */
void nbk_depthwise_conv2d_weight_grad(nb_dtype t, const nbk_conv_geom *g, const void *x, const void *gy, void *gw);

#endif
