/* kernels/cpu/norm.h — fused batch-normalisation loops over x viewed as (n, c, s): n samples, c
 * channels, s contiguous elements per (sample, channel) (the product of the spatial dims; 1 for
 * BatchNorm1d on (N, C)). Data and per-channel vectors are contiguous, of compute type t (NB_F32 or
 * NB_F64).
 *
 * Parallel over channels: every channel is reduced and written by one thread, its sums taken in a
 * fixed order (runs of at most 4096 elements with 8 accumulators, partial sums added in order in
 * double), so results are bitwise identical for any thread count.
 */
#ifndef NABLA_KERNELS_NORM_H
#define NABLA_KERNELS_NORM_H

#include "kernels.h"

typedef struct nbk_bn_geom {
    int64_t n, c, s;
} nbk_bn_geom;

/* Batch-norm forward. With stats: mean[c], var[c] (biased) and invstd[c] = 1 / sqrt(var + eps) are
 * computed from x (two passes: the mean, then the centred squares). Without: mean and invstd are
 * read (var untouched, may be NULL). Then y = (x - mean) * (invstd * w) + b in one pass. */
void nbk_bn_forward(nb_dtype t, const nbk_bn_geom *g, bool stats, double eps, const void *x, const void *w,
                    const void *b, void *mean, void *invstd, void *var, void *y);

/* Batch-norm backward from gy, x and the forward's mean / invstd:
 *   gb = sum(gy), gw = sum(gy * xhat), xhat = (x - mean) * invstd (sums over n and s, per channel);
 *   training: gx = w * invstd * (gy - gb / M - xhat * gw / M), M = n * s;
 *   otherwise (statistics are constants): gx = w * invstd * gy.
 * Two passes over (gy, x) in training, one otherwise. */
void nbk_bn_backward(nb_dtype t, const nbk_bn_geom *g, bool training, const void *gy, const void *x,
                     const void *mean, const void *invstd, const void *w, void *gx, void *gw, void *gb);

/* Layer-norm over rows: x is (rows, d) contiguous, w and b are (d). Per row, mean and
 * rstd = 1 / sqrt(biased var + eps) (two passes over the row, which stays in cache), then
 * y = (x - mean) * rstd * w + b. Parallel over rows; bitwise identical for any thread count. */
void nbk_ln_forward(nb_dtype t, int64_t rows, int64_t d, double eps, const void *x, const void *w, const void *b,
                    void *mean, void *rstd, void *y);
/* Layer-norm backward from gy, x and the forward's mean / rstd (per row):
 *   gx = rstd (h - mean(h) - xhat mean(h xhat)), h = gy w, xhat = (x - mean) rstd (means over the row);
 *   gw = sum over rows of gy xhat, gb = sum over rows of gy (column blocks, rows in order).
 * gx may be NULL (not computed); gw and gb are both computed or both NULL. */
void nbk_ln_backward(nb_dtype t, int64_t rows, int64_t d, const void *gy, const void *x, const void *mean,
                     const void *rstd, const void *w, void *gx, void *gw, void *gb);

/* RMS-norm over rows: rstd = 1 / sqrt(mean(x^2) + eps) per row (one pass, the row then stays in
 * cache), y = x * rstd * w. Parallel over rows; bitwise identical for any thread count. */
void nbk_rms_forward(nb_dtype t, int64_t rows, int64_t d, double eps, const void *x, const void *w, void *rstd, void *y);

#endif
