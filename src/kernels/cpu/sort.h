/* kernels/cpu/sort.h — kernels of the reductions family beyond sum/mean/max/min: row reductions
 * (prod, var, norm, logsumexp, any, all), scans (cumsum, cumprod), extrema with indices along one dim,
 * stable sorting and selection, and the scatter / gather pair along one dim that carries the gradients
 * of the index-returning ops. Compute types as in kernels.h: NB_F32 (f32, f16, bf16), NB_F64, NB_I64
 * (integers and bool). Everything is deterministic and independent of the thread count: each output
 * element is computed by one thread in a fixed order. */
#ifndef NABLA_KERNELS_SORT_H
#define NABLA_KERNELS_SORT_H

#include "kernels.h"

/* ---- row reductions: m rows of r contiguous elements of compute type t, one result per row ------- */
typedef enum nbk_rowred {
    NBK_RPROD,   /* product; out of type t */
    NBK_RVAR,    /* sum((x - mean)^2) / max(0, r - param): param is the correction; out of type t (float) */
    NBK_RNORM,   /* vector p-norm, p = param (inf, -inf, 0 = count of non-zeros, any p > 0); out of type t */
    NBK_RLSE,    /* log(sum(exp(x))), stable (shifted by the row maximum); out of type t (float) */
    NBK_RANY,    /* any element non-zero (NaN counts); out bool */
    NBK_RALL,    /* every element non-zero; out bool */
} nbk_rowred;
void nbk_rowred_run(nbk_rowred op, nb_dtype t, const void *x, void *out, int64_t m, int64_t r, double param);

/* ---- along one dim of a contiguous (outer, n, inner) box ----------------------------------------- */
/* Inclusive scans along n (reverse: from the end); y has x's layout. */
typedef enum nbk_scan { NBK_CUMSUM, NBK_CUMPROD } nbk_scan;
void nbk_scan_run(nbk_scan op, nb_dtype t, const void *x, void *y, int64_t outer, int64_t n, int64_t inner, bool reverse);
/* Extremum along n with the index of its first occurrence: vals / idx are (outer, inner). NaN counts as
 * the extremum (the first NaN wins), as torch.max(dim). n >= 1. */
void nbk_extremum_dim(nb_dtype t, bool is_max, const void *x, void *vals, int64_t *idx, int64_t outer, int64_t n,
                      int64_t inner);
/* out (outer, n, inner) += g (outer, k, inner) at out[o, idx[o, j, i], i] (out is zeroed by the caller).
 * Returns false (and writes nothing further) on the first index outside [0, n). */
bool nbk_scatter_dim(nb_dtype t, const void *g, const int64_t *idx, void *out, int64_t outer, int64_t k, int64_t n,
                     int64_t inner);
/* y (outer, k, inner) = src (outer, n, inner) at src[o, idx[o, j, i], i]; false on a bad index. Any
 * element size (1, 2, 4, 8 bytes): a gather copies bits. */
bool nbk_gather_dim(size_t elem, const void *src, const int64_t *idx, void *y, int64_t outer, int64_t k, int64_t n,
                    int64_t inner);

/* ---- sorting: m contiguous rows of n elements of compute type t ---------------------------------- */
/* What to write per row after a stable sort (ascending, or descending: equal elements keep their
 * order either way; NaN sorts as the largest value, NaNs among themselves in index order):
 *   NBK_SORT_FIRST: the first k sorted values and their indices (sort k = n, topk);
 *   NBK_SORT_KTH: only the k-th (1-based) value of the ascending order and its index (kthvalue);
 *   NBK_SORT_MEDIAN: the lower median (k-th with k = (n + 1) / 2), or the first NaN when the row has
 *   any (torch.median propagates NaN). */
typedef enum nbk_sort_mode { NBK_SORT_FIRST, NBK_SORT_KTH, NBK_SORT_MEDIAN } nbk_sort_mode;
/* vals (t) and idx get k values per row for NBK_SORT_FIRST, one otherwise. Returns false on out of
 * memory (scratch of 4 n elements per running chunk). */
bool nbk_sort_rows(nb_dtype t, nbk_sort_mode mode, const void *x, void *vals, int64_t *idx, int64_t m, int64_t n,
                   int64_t k, bool descending);

#endif
