/* nabla/ops.h — tensor operations (eager; recorded for autograd when an input requires grad).
 *
 * Worked example:
 *
 *     nb_tensor *x = nb_randn(NB_SHAPE(4, 3), NB_F32);
 *     nb_tensor *w = nb_param(nb_randn(NB_SHAPE(3, 2), NB_F32));
 *     nb_tensor *y = nb_sum(nb_relu(nb_matmul(x, w)), NULL);    // NULL: reduce all dims
 *     if (!y) fprintf(stderr, "%s\n", nb_last_error());
 *
 * Every op returns a new tensor reference owned by the caller (registered in the current scope), or
 * NULL with the error set. Semantics, broadcasting and dimension order follow PyTorch where the names
 * match; docs/ops.md lists each op with its PyTorch equivalent. Dims may be negative (counted from
 * the end). Binary ops broadcast like NumPy and promote dtypes like PyTorch (nb_promote_types).
 */
#ifndef NABLA_OPS_H
#define NABLA_OPS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- unary (float inputs; integer inputs are computed in f32 where PyTorch would) ------------- */
NB_API nb_tensor *nb_neg(nb_tensor *x);
NB_API nb_tensor *nb_abs(nb_tensor *x);
NB_API nb_tensor *nb_exp(nb_tensor *x);
NB_API nb_tensor *nb_log(nb_tensor *x);
NB_API nb_tensor *nb_sqrt(nb_tensor *x);
NB_API nb_tensor *nb_tanh(nb_tensor *x);
NB_API nb_tensor *nb_sigmoid(nb_tensor *x);
NB_API nb_tensor *nb_relu(nb_tensor *x);
/* -1, 0 or 1 by sign (not differentiable: its gradient is zero almost everywhere). */
NB_API nb_tensor *nb_sign(nb_tensor *x);

/* ---- binary, broadcasting ------------------------------------------------------------------- */
NB_API nb_tensor *nb_add(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_div(nb_tensor *a, nb_tensor *b); /* true division: integers give f32 */
NB_API nb_tensor *nb_pow(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_maximum(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_minimum(nb_tensor *a, nb_tensor *b);
/* Comparisons give bool tensors. */
NB_API nb_tensor *nb_eq(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_ne(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_lt(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_le(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_gt(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_ge(nb_tensor *a, nb_tensor *b);
/* cond ? a : b elementwise; cond must be bool; all three broadcast. */
NB_API nb_tensor *nb_where(nb_tensor *cond, nb_tensor *a, nb_tensor *b);

/* Scalar variants: the scalar acts as a 0-d tensor of x's dtype (or f32 when x is an integer tensor
 * and s has a fraction), as in PyTorch. nb_rsub_scalar is s - x, nb_rdiv_scalar is s / x. */
NB_API nb_tensor *nb_add_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_sub_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_rsub_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_mul_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_div_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_rdiv_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_pow_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_maximum_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_minimum_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_eq_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_ne_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_lt_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_le_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_gt_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_ge_scalar(nb_tensor *x, double s);
/* (end of the pointwise section) */

/* ---- in-place (bump the version counter; refused on tensors that require grad while grad mode is
 * on, as in PyTorch). Return 0 or a negative nb_status. ------------------------------------------ */
/* Copy src into dst (src broadcasts to dst's shape; dtype converts). */
NB_API int nb_copy_(nb_tensor *dst, nb_tensor *src);
NB_API int nb_fill_(nb_tensor *t, double value);
/* t = t + alpha * other (other broadcasts to t's shape). */
NB_API int nb_add_(nb_tensor *t, nb_tensor *other, double alpha);
NB_API int nb_mul_scalar_(nb_tensor *t, double s);

/* ---- reductions ------------------------------------------------------------------------------ */
/* Which dims to reduce. NULL (or n = 0) reduces all dims. Build inline with NB_DIMS(1, 2) or
 * NB_DIMS_KEEP(1) (keepdim = true, as in PyTorch). */
typedef struct nb_reduce_opts {
    int n;                   /* number of dims in dims[]; 0 = all dims */
    int64_t dims[NB_MAX_DIMS];
    bool keepdim;            /* keep reduced dims with size 1 */
} nb_reduce_opts;
#define NB_DIMS(...)                                                                               \
    (&(nb_reduce_opts){.n = (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),      \
                       .dims = {__VA_ARGS__}})
#define NB_DIMS_KEEP(...)                                                                          \
    (&(nb_reduce_opts){.n = (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),      \
                       .dims = {__VA_ARGS__},                                                      \
                       .keepdim = true})
/* Sum, mean (float result), max and min (torch.amax / amin: ties share the gradient evenly). Sum of
 * bool or integers gives i64, as in PyTorch. */
NB_API nb_tensor *nb_sum(nb_tensor *x, const nb_reduce_opts *opts);
NB_API nb_tensor *nb_mean(nb_tensor *x, const nb_reduce_opts *opts);
NB_API nb_tensor *nb_max(nb_tensor *x, const nb_reduce_opts *opts);
NB_API nb_tensor *nb_min(nb_tensor *x, const nb_reduce_opts *opts);
/* Index (i64) of the first maximum along dim; NB_DIM_ALL flattens first (torch.argmax(dim=None)). */
#define NB_DIM_ALL INT32_MIN
NB_API nb_tensor *nb_argmax(nb_tensor *x, int dim, bool keepdim);
/* Product over dims (torch.prod; integers and bool give i64). The gradient is exact with zeros in the
 * input (computed as the product of the other elements, never by dividing by zero); second derivatives
 * are exact in rows without zeros. */
NB_API nb_tensor *nb_prod(nb_tensor *x, const nb_reduce_opts *opts);
/* Variance over dims, divided by max(0, N - correction): correction = 1 is PyTorch's default (unbiased),
 * 0 the population variance. Floating inputs only. nb_std is its square root. */
NB_API nb_tensor *nb_var(nb_tensor *x, const nb_reduce_opts *opts, double correction);
NB_API nb_tensor *nb_std(nb_tensor *x, const nb_reduce_opts *opts, double correction);
/* torch.var_mean: the variance (returned) and, in *mean (a new reference, when mean is not NULL), the
 * mean over the same dims. */
NB_API nb_tensor *nb_var_mean(nb_tensor *x, const nb_reduce_opts *opts, double correction, nb_tensor **mean);
/* Vector p-norm (sum |x|^p)^(1/p) over dims (torch.linalg.vector_norm; torch.norm(p='fro') is p = 2):
 * any p (negative too), INFINITY (max |x|), -INFINITY (min |x|), 0 (count of non-zeros). Floating
 * inputs only. The gradient is 0 where the norm is 0 (PyTorch's subgradient) and at x_i = 0 for p < 1
 * (where it is infinite); the inf norms share it evenly among ties. */
NB_API nb_tensor *nb_norm(nb_tensor *x, double p, const nb_reduce_opts *opts);
/* log(sum(exp(x))) over dims, computed stably (shifted by the maximum). Integer inputs give f32. */
NB_API nb_tensor *nb_logsumexp(nb_tensor *x, const nb_reduce_opts *opts);
/* Whether any / every element over dims is non-zero (NaN counts as non-zero). Any dtype in, bool out
 * (PyTorch gives u8 for u8 inputs); empty reductions give false / true. Not differentiable. */
NB_API nb_tensor *nb_any(nb_tensor *x, const nb_reduce_opts *opts);
NB_API nb_tensor *nb_all(nb_tensor *x, const nb_reduce_opts *opts);
/* Inclusive cumulative sum / product along dim (integers and bool give i64, as PyTorch). The gradient
 * of nb_cumprod is exact with zeros in the input (as PyTorch's); its second derivative is exact in rows
 * without zeros. */
NB_API nb_tensor *nb_cumsum(nb_tensor *x, int dim);
NB_API nb_tensor *nb_cumprod(nb_tensor *x, int dim);
/* torch.max(x, dim, keepdim) / torch.min: the extremum along dim and, in *indices (a new i64 reference,
 * when indices is not NULL), the index of its first occurrence. A NaN is the extremum (the first NaN's
 * index). The gradient goes to that one index. */
NB_API nb_tensor *nb_max_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **indices);
NB_API nb_tensor *nb_min_dim(nb_tensor *x, int dim, bool keepdim, nb_tensor **indices);
/* Index (i64) of the first minimum along dim; NB_DIM_ALL flattens first (like nb_argmax). */
NB_API nb_tensor *nb_argmin(nb_tensor *x, int dim, bool keepdim);
/* Sort along dim (ascending, or descending), returning the values and, in *indices, their source indices
 * (i64). Always stable (equal values keep their index order; `stable` is accepted for PyTorch parity).
 * NaN sorts as the largest value. Any dtype. The gradient scatters back to the indices. */
NB_API nb_tensor *nb_sort(nb_tensor *x, int dim, bool descending, bool stable, nb_tensor **indices);
NB_API nb_tensor *nb_argsort(nb_tensor *x, int dim, bool descending, bool stable);
/* The k largest (or smallest) values along dim, in sorted order (also when sorted is false), with
 * their indices; among equal values the lower index comes first. 0 <= k <= size of dim. */
NB_API nb_tensor *nb_topk(nb_tensor *x, int64_t k, int dim, bool largest, bool sorted, nb_tensor **indices);
/* The k-th smallest value along dim (1 <= k <= size) and its index: the k-th element of a stable
 * ascending sort (so among ties, the one whose index ranks there). */
NB_API nb_tensor *nb_kthvalue(nb_tensor *x, int64_t k, int dim, bool keepdim, nb_tensor **indices);
/* The lower median along dim (the ((n + 1) / 2)-th smallest, as torch.median) and its index; a row
 * holding a NaN gives NaN and the first NaN's index. NB_DIM_ALL: the median of all elements (0-d, or
 * all dims kept as 1), *indices then being the flat index; the median of an empty floating tensor is
 * NaN (index -1), as torch.median(). Along an empty dim it is an error. */
NB_API nb_tensor *nb_median(nb_tensor *x, int dim, bool keepdim, nb_tensor **indices);
/* (end of the reductions section) */

/* ---- linear algebra -------------------------------------------------------------------------- */
/* torch.matmul: 1-D x 1-D is a dot product, 1-D operands get a dim added and removed, and leading
 * (batch) dims broadcast. */
NB_API nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b);

/* ---- softmax and losses ---------------------------------------------------------------------- */
NB_API nb_tensor *nb_softmax(nb_tensor *x, int dim);
NB_API nb_tensor *nb_log_softmax(nb_tensor *x, int dim);

typedef enum nb_reduction { NB_REDUCTION_MEAN = 0, NB_REDUCTION_SUM, NB_REDUCTION_NONE } nb_reduction;
typedef struct nb_cross_entropy_opts {
    nb_reduction reduction;   /* default (0) mean over non-ignored targets */
    bool use_ignore_index;    /* default false: unlike PyTorch, -100 is not ignored unless asked */
    int64_t ignore_index;
} nb_cross_entropy_opts;
/* Cross entropy between logits (N, C) or (N, C, d1, ...) and class indices (N) or (N, d1, ...) of an
 * integer dtype; opts NULL = defaults. Equals nll_loss(log_softmax(logits, 1), target). */
NB_API nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *target, const nb_cross_entropy_opts *opts);
/* Negative log likelihood of log-probabilities (N, C[, d...]) at integer targets. */
NB_API nb_tensor *nb_nll_loss(nb_tensor *logp, nb_tensor *target, const nb_cross_entropy_opts *opts);
/* One-hot encoding of integer indices in [0, num_classes) as dtype; shape (..., num_classes). */
NB_API nb_tensor *nb_one_hot(nb_tensor *indices, int64_t num_classes, nb_dtype dtype);
/* (end of the losses section) */

/* ---- convolution and pooling (NCHW) ------------------------------------------------------------- */
/* Pairs {h, w}: a second entry of 0 repeats the first ({3} is 3x3); -1 asks for an explicit 0. Zero
 * options take PyTorch's defaults (stride 1 for convolutions and the kernel size for pooling,
 * dilation 1, padding 0, groups 1). */
typedef struct nb_conv_opts {
    int64_t stride[2];
    int64_t padding[2];
    int64_t dilation[2];
    int64_t groups;
    bool same;               /* padding "same" (stride 1; odd effective kernel sizes) */
} nb_conv_opts;
/* torch.nn.functional.conv2d: x (N, C, H, W), w (O, C/groups, kH, kW), bias (O) or NULL. */
NB_API nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *bias, const nb_conv_opts *opts);

typedef struct nb_pool_opts {
    int64_t kernel[2];       /* required */
    int64_t stride[2];       /* default: the kernel size */
    int64_t padding[2];
    int64_t dilation[2];
    bool ceil_mode;          /* round the output size up, as PyTorch's ceil_mode */
} nb_pool_opts;
/* torch.nn.functional.max_pool2d on (N, C, H, W) or (C, H, W). */
NB_API nb_tensor *nb_max_pool2d(nb_tensor *x, const nb_pool_opts *opts);
/* The same, also giving the flat index (i64, into each H*W plane) of every maximum in *indices
 * (a new reference), as return_indices=True. */
NB_API nb_tensor *nb_max_pool2d_with_indices(nb_tensor *x, const nb_pool_opts *opts, nb_tensor **indices);
/* (end of the spatial section) */

/* ---- normalisation ------------------------------------------------------------------------------- */
/* torch.nn.functional.batch_norm over dim 1 of x (N, C, ...). Training: normalise by the batch's
 * statistics and, when running_mean / running_var are given, update them in place (momentum, unbiased
 * variance, as PyTorch). Evaluation: normalise by the running statistics. weight / bias (C) may be
 * NULL. Fused kernels (statistics and output in one sweep per channel, computed in f32 for f16 / bf16)
 * whose gradients are registry ops, so it is differentiable to any order; the running statistics get
 * gradients only when they require grad in evaluation mode. */
NB_API nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var, nb_tensor *weight,
                                nb_tensor *bias, bool training, double momentum, double eps);
/* (end of the neural-functions section) */

/* ---- shape and views ------------------------------------------------------------------------- */
/* Views share storage with x when the layout allows; nb_reshape copies when it must (like PyTorch),
 * nb_view never copies and fails instead. One entry of shape may be -1 (inferred). */
NB_API nb_tensor *nb_reshape(nb_tensor *x, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_view(nb_tensor *x, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_flatten(nb_tensor *x, int start_dim, int end_dim);
NB_API nb_tensor *nb_permute(nb_tensor *x, int ndim, const int64_t *perm);
NB_API nb_tensor *nb_transpose(nb_tensor *x, int dim0, int dim1);
/* Elements start, start+step, ... < end along dim. start/end are clamped like Python slices and may
 * be negative; step >= 1. */
NB_API nb_tensor *nb_slice(nb_tensor *x, int dim, int64_t start, int64_t end, int64_t step);
/* Broadcast to shape (size-1 dims stretch with stride 0; -1 keeps a size; new dims go in front). */
NB_API nb_tensor *nb_expand(nb_tensor *x, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_squeeze(nb_tensor *x, int dim);  /* NB_DIM_ALL: every size-1 dim */
NB_API nb_tensor *nb_unsqueeze(nb_tensor *x, int dim);
/* Concatenate n tensors along dim (shapes equal except along dim; dtypes promote). */
NB_API nb_tensor *nb_cat(nb_tensor *const *xs, int n, int dim);
/* A contiguous tensor with x's values: x itself (new reference) when already contiguous. */
NB_API nb_tensor *nb_contiguous(nb_tensor *x);
/* A contiguous copy that never shares storage with x. */
NB_API nb_tensor *nb_clone(nb_tensor *x);
/* Convert to dtype (a new reference to x when it already has that dtype). */
NB_API nb_tensor *nb_to(nb_tensor *x, nb_dtype dtype);
/* (end of the shape-and-indexing section) */

/* ---- layout: pad, repeat, tile, triangles, flip, roll, diagonal, einsum ------------------------ */
/* (end of the layout section) */

#ifdef __cplusplus
}
#endif
#endif
