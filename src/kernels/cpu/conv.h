/* kernels/cpu/conv.h — image <-> column transforms for convolution by GEMM (NCHW layout). */
#ifndef NABLA_KERNELS_CONV_H
#define NABLA_KERNELS_CONV_H

#include "kernels.h"

/* Geometry of one 2-D convolution (or pooling window walk). */
typedef struct nbk_conv_geom {
    int64_t n, c, h, w;       /* input (N, C, H, W) */
    int64_t kh, kw;           /* window */
    int64_t oh, ow;           /* output spatial size */
    int64_t sh, sw, ph, pw, dh, dw;
} nbk_conv_geom;

/* cols (c_count * kh * kw rows, row stride ld) gets, in columns [s * oh * ow, (s + 1) * oh * ow), the
 * windows of sample s for channels [c0, c0 + c_count) of x (contiguous NCHW), for every sample; zero
 * where the window hangs over the padding. t is NB_F32 or NB_F64. Parallel over samples. */
void nbk_im2col(nb_dtype t, const nbk_conv_geom *g, const void *x, int64_t c0, int64_t c_count, void *cols, int64_t ld);
/* The adjoint: gx[s, c0 + c, iy, ix] += every column entry that im2col took from there. gx must be
 * zeroed by the caller beforehand. Parallel over samples (each sample is written by one thread). */
void nbk_col2im(nb_dtype t, const nbk_conv_geom *g, const void *cols, int64_t ld, int64_t c0, int64_t c_count, void *gx);
/* The same for sample s alone, on the calling thread: cols gets (or gives back) that sample's
 * columns in its columns [0, oh * ow). For callers that run one sample per task. */
void nbk_im2col_sample(nb_dtype t, const nbk_conv_geom *g, const void *x, int64_t s, int64_t c0, int64_t c_count,
                       void *cols, int64_t ld);
void nbk_col2im_sample(nb_dtype t, const nbk_conv_geom *g, const void *cols, int64_t ld, int64_t s, int64_t c0,
                       int64_t c_count, void *gx);

/* Max pooling of x (N*C planes of H x W, contiguous) into y and idx (N*C planes of oh x ow):
 * y = the window maximum (NaN wins), idx = its flat index iy * W + ix in the input plane (first one
 * on ties). Windows hanging over the padding ignore it; windows inside the plane take a branch-free
 * path without bounds checks (unrolled for 2x2 stride 2 and 3x3). Parallel over planes. */
void nbk_max_pool2d(nb_dtype t, const nbk_conv_geom *g, const void *x, void *y, int64_t *idx);
/* gx (N*C planes of H*W) = zeros + g added at idx (planes of oh*ow), in order: the adjoint of gather.
 * Each plane is zeroed by the task that fills it. Indices outside [0, H*W) are skipped and make the
 * result false (the caller reports the error). */
bool nbk_plane_scatter_add(nb_dtype t, int64_t planes, int64_t in_size, int64_t out_size, const void *g,
                           const int64_t *idx, void *gx);
/* y[p, j] = x[p, idx[p, j]] over planes. */
void nbk_plane_gather(nb_dtype t, int64_t planes, int64_t in_size, int64_t out_size, const void *x, const int64_t *idx,
                      void *y);

#endif
