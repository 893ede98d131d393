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
/* x ^ s; for float x the exponents 2, 0.5, -1, -0.5 run nb_square / nb_sqrt / nb_reciprocal / nb_rsqrt
 * (grad_fn SquareBackward, ...), as PyTorch's pow does internally. The gradient for s = 0 is 0. */
NB_API nb_tensor *nb_pow_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_maximum_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_minimum_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_eq_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_ne_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_lt_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_le_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_gt_scalar(nb_tensor *x, double s);
NB_API nb_tensor *nb_ge_scalar(nb_tensor *x, double s);
/* ---- more unary math (integer and bool inputs give f32 unless noted) ------------------------- */
NB_API nb_tensor *nb_log1p(nb_tensor *x);      /* log(1 + x), accurate for small x */
NB_API nb_tensor *nb_expm1(nb_tensor *x);      /* e^x - 1, accurate for small x */
NB_API nb_tensor *nb_square(nb_tensor *x);     /* x * x; integers keep their dtype, bool gives i64 */
NB_API nb_tensor *nb_reciprocal(nb_tensor *x); /* 1 / x */
NB_API nb_tensor *nb_rsqrt(nb_tensor *x);      /* 1 / sqrt(x) */
NB_API nb_tensor *nb_sin(nb_tensor *x);
NB_API nb_tensor *nb_cos(nb_tensor *x);
NB_API nb_tensor *nb_erf(nb_tensor *x);

/* ---- activations (torch.nn.functional; floating-point inputs only) -------------------------- */
NB_API nb_tensor *nb_leaky_relu(nb_tensor *x, double negative_slope); /* PyTorch's default slope: 0.01 */
/* x > 0 ? x : alpha (e^x - 1) (PyTorch's default alpha: 1). */
NB_API nb_tensor *nb_elu(nb_tensor *x, double alpha);
/* scale * elu(x, alpha) with PyTorch's SELU constants (alpha 1.6733, scale 1.0507). */
NB_API nb_tensor *nb_selu(nb_tensor *x);
/* max(0, x) + min(0, alpha (e^(x / alpha) - 1)); alpha != 0. */
NB_API nb_tensor *nb_celu(nb_tensor *x, double alpha);
/* GELU: NB_GELU_NONE is x Phi(x) with the exact normal CDF (approximate="none"), NB_GELU_TANH is
 * PyTorch's approximate="tanh" formula 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
typedef enum nb_gelu_approximate { NB_GELU_NONE = 0, NB_GELU_TANH = 1 } nb_gelu_approximate;
NB_API nb_tensor *nb_gelu(nb_tensor *x, nb_gelu_approximate approximate);
NB_API nb_tensor *nb_silu(nb_tensor *x); /* x sigmoid(x) (swish) */
NB_API nb_tensor *nb_mish(nb_tensor *x); /* x tanh(softplus(x)) */
/* log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's defaults: 1, 20). */
NB_API nb_tensor *nb_softplus(nb_tensor *x, double beta, double threshold);
/* Clamp to [min_val, max_val] (min_val <= max_val); the gradient is 0 at the ends, as PyTorch. */
NB_API nb_tensor *nb_hardtanh(nb_tensor *x, double min_val, double max_val);
NB_API nb_tensor *nb_relu6(nb_tensor *x); /* hardtanh(x, 0, 6) */
NB_API nb_tensor *nb_hardswish(nb_tensor *x);   /* x relu6(x + 3) / 6 */
NB_API nb_tensor *nb_hardsigmoid(nb_tensor *x); /* relu6(x + 3) / 6 */

/* ---- rounding, clamping, special values ----------------------------------------------------- */
/* floor / ceil / round (half to even, as torch.round) / trunc. Integer inputs are returned unchanged
 * in their dtype; bool is refused. Not differentiable (PyTorch's gradient is zero everywhere, so
 * these simply do not pass gradients; a model that needs the zero gradient can multiply by 0). */
NB_API nb_tensor *nb_floor(nb_tensor *x);
NB_API nb_tensor *nb_ceil(nb_tensor *x);
NB_API nb_tensor *nb_round(nb_tensor *x);
NB_API nb_tensor *nb_trunc(nb_tensor *x);
/* torch.clamp(x, min, max) with scalar bounds: a NaN bound is absent (PyTorch's None; at least one
 * must be given); min > max gives max everywhere, as PyTorch. Integer tensors keep their dtype unless
 * a bound has a fraction (then f32). The gradient passes where min <= x <= max. */
NB_API nb_tensor *nb_clamp(nb_tensor *x, double min, double max);
/* Replace NaN by nan, +inf by posinf and -inf by neginf; a NaN posinf / neginf means PyTorch's default
 * (the largest / lowest finite value of x's dtype). Integer and bool tensors are returned unchanged. */
NB_API nb_tensor *nb_nan_to_num(nb_tensor *x, double nan, double posinf, double neginf);
/* Bool results (integers and bool are finite); not differentiable. */
NB_API nb_tensor *nb_isnan(nb_tensor *x);
NB_API nb_tensor *nb_isinf(nb_tensor *x);
NB_API nb_tensor *nb_isfinite(nb_tensor *x);

/* ---- more binary and ternary ops (broadcasting) -------------------------------------------- */
NB_API nb_tensor *nb_atan2(nb_tensor *a, nb_tensor *b); /* angle of the point (b, a); integers give f32 */
/* Remainders of a / b: fmod takes the sign of a (C fmod, torch.fmod), remainder the sign of b
 * (Python's %, torch.remainder). Integer division by zero is an error (NB_ERR_ARG), as in PyTorch. */
NB_API nb_tensor *nb_fmod(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_remainder(nb_tensor *a, nb_tensor *b);
/* Truth-value ops: any dtypes (nonzero and NaN are true), bool result, not differentiable. */
NB_API nb_tensor *nb_logical_and(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_logical_or(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_logical_xor(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_logical_not(nb_tensor *x);
/* Bitwise ops on integer and bool tensors (promoted like nb_add); floating-point inputs are refused. */
NB_API nb_tensor *nb_bitwise_and(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_bitwise_or(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_bitwise_xor(nb_tensor *a, nb_tensor *b);
NB_API nb_tensor *nb_bitwise_not(nb_tensor *x);
/* start + weight (end - start) (torch.lerp; computed from the nearer end, so weight 1 gives end
 * exactly). start, end and a tensor weight must share one floating-point dtype; all broadcast. */
NB_API nb_tensor *nb_lerp(nb_tensor *start, nb_tensor *end, nb_tensor *weight);
NB_API nb_tensor *nb_lerp_scalar(nb_tensor *start, nb_tensor *end, double weight);
/* input + value * t1 * t2 (torch.addcmul; dtypes promote; value must be whole for integer tensors). */
NB_API nb_tensor *nb_addcmul(nb_tensor *input, nb_tensor *t1, nb_tensor *t2, double value);
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
