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

/* How a loss reduces its per-element values: mean (the default, 0), sum, none (the unreduced tensor), and
 * batchmean (nb_kl_div only: the sum divided by the batch size, input dim 0). */
typedef enum nb_reduction { NB_REDUCTION_MEAN = 0, NB_REDUCTION_SUM, NB_REDUCTION_NONE, NB_REDUCTION_BATCHMEAN } nb_reduction;
/* Options of nb_cross_entropy and nb_nll_loss; zero-initialised = PyTorch's defaults except that no
 * target is ignored unless use_ignore_index is set (PyTorch ignores -100 by default). */
typedef struct nb_cross_entropy_opts {
    nb_reduction reduction;   /* default (0) mean; weighted: divided by the sum of the targets' weights */
    bool use_ignore_index;    /* default false: unlike PyTorch, -100 is not ignored unless asked */
    int64_t ignore_index;
    nb_tensor *weight;        /* (C) class weights of the input's dtype, or NULL (all 1); never gets a gradient */
    double label_smoothing;   /* cross_entropy only, in [0, 1]: target mixed with the uniform distribution */
} nb_cross_entropy_opts;
/* torch.nn.functional.cross_entropy on logits (N, C), (N, C, d1, ...) or (C). The target is either
 * class indices of an integer dtype, (N), (N, d1, ...) or (), or class probabilities of a floating
 * dtype with the input's shape (then an ignore_index >= 0 is an error as in PyTorch, the mean divides
 * by the number of samples N * d1 * ..., and the target gets a gradient). Class indices give
 * nll_loss(log_softmax(logits, 1), target); with label smoothing e the loss is
 * (1 - e) * nll + e / C * (weighted sum of -log_softmax over classes, ignored targets zeroed, reduced
 * by the same denominator), exactly as PyTorch. A mean over no (or zero-weight) targets is NaN, as in
 * PyTorch. (N, C) / (C) logits with class indices and no smoothing run as one fused op (forward and
 * gradient); the other forms as compositions of registry ops. opts NULL = defaults. */
NB_API nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *target, const nb_cross_entropy_opts *opts);
/* torch.nn.functional.nll_loss: -weight[t] * logp[n, t, ...] at integer targets t; mean divides by the
 * sum of weight[t] over non-ignored targets (NaN when there are none). label_smoothing must be 0. */
NB_API nb_tensor *nb_nll_loss(nb_tensor *logp, nb_tensor *target, const nb_cross_entropy_opts *opts);
/* One-hot encoding of integer indices in [0, num_classes) as dtype; shape (..., num_classes). */
NB_API nb_tensor *nb_one_hot(nb_tensor *indices, int64_t num_classes, nb_dtype dtype);
/* Elementwise and embedding losses (torch.nn.functional names). Every one takes the reduction last
 * (NB_REDUCTION_MEAN, _SUM or _NONE; _BATCHMEAN only for nb_kl_div); a mean over no elements is NaN as
 * in PyTorch. Inputs must be floating; numeric options are plain arguments with PyTorch's meaning (its
 * defaults are given in brackets). Input and target broadcast unless said otherwise. */
/* (input - target)^2. A fused op; gradients for input and target. */
NB_API nb_tensor *nb_mse_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction);
/* |input - target|. */
NB_API nb_tensor *nb_l1_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction);
/* d = input - target: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta [1.0] >= 0, and 0
 * gives the L1 loss. */
NB_API nb_tensor *nb_smooth_l1_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction, double beta);
/* 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); delta [1.0] > 0. */
NB_API nb_tensor *nb_huber_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction, double delta);
/* -weight (t log(x) + (1 - t) log(1 - x)) with each log clamped at -100 as PyTorch. input values must
 * lie in [0, 1] (checked, naming the first bad value and its flat index); target has input's shape;
 * weight (or NULL) broadcasts to it and gets no gradient; target gets one. A fused op. */
NB_API nb_tensor *nb_binary_cross_entropy(nb_tensor *input, nb_tensor *target, nb_tensor *weight,
                                          nb_reduction reduction);
/* BCE of sigmoid(input), computed in the stable form (1 - t) x + lw log(1 + exp(-x)) with
 * lw = 1 + (pos_weight - 1) t. target has input's shape; weight and pos_weight (each NULL or
 * broadcasting to the input, pos_weight typically (C) for the last dim) get no gradient. A fused op. */
NB_API nb_tensor *nb_binary_cross_entropy_with_logits(nb_tensor *input, nb_tensor *target, nb_tensor *weight,
                                                      nb_tensor *pos_weight, nb_reduction reduction);
/* Kullback-Leibler divergence with input holding log-probabilities: target (log(target) - input),
 * 0 where target is 0; log_target [false]: target holds log-probabilities, exp(t) (t - input).
 * NB_REDUCTION_BATCHMEAN divides the sum by input's dim 0 (the mathematically correct KL). */
NB_API nb_tensor *nb_kl_div(nb_tensor *input, nb_tensor *target, nb_reduction reduction, bool log_target);
/* max(0, -target (x1 - x2) + margin [0]); x1, x2 and target (usually +-1) have the same number of
 * dims and broadcast. */
NB_API nb_tensor *nb_margin_ranking_loss(nb_tensor *x1, nb_tensor *x2, nb_tensor *target, double margin,
                                         nb_reduction reduction);
/* x1, x2 (N, D) or (D); target (N) or 0-d of +-1 (any dtype): 1 - cos(x1, x2) where target is 1,
 * max(0, cos - margin [0]) where it is -1, 0 elsewhere (cos guarded by 1e-12 on the squared norms, as
 * PyTorch; f16 / bf16 computed in f32, where PyTorch's guard underflows). */
NB_API nb_tensor *nb_cosine_embedding_loss(nb_tensor *x1, nb_tensor *x2, nb_tensor *target, double margin,
                                           nb_reduction reduction);
/* anchor, positive, negative all (N, D) or all (D): max(0, d(a, p) - d(a, n) + margin [1.0]) with
 * d(x, y) = ||x - y + eps||_p over the last dim (p [2] > 0, eps [1e-6] >= 0); swap [false] uses
 * min(d(a, n), d(p, n)) for the negative distance. */
NB_API nb_tensor *nb_triplet_margin_loss(nb_tensor *anchor, nb_tensor *positive, nb_tensor *negative, double margin,
                                         double p, double eps, bool swap, nb_reduction reduction);
/* input where target is 1, max(0, margin [1.0] - input) where it is -1 (both terms elsewhere, as
 * PyTorch); target floating. */
NB_API nb_tensor *nb_hinge_embedding_loss(nb_tensor *input, nb_tensor *target, double margin, nb_reduction reduction);
/* log(1 + exp(-target input)), computed stably (PyTorch's log1p(exp(.)) overflows to inf once -target
 * input passes ~88 in f32); target usually +-1. */
NB_API nb_tensor *nb_soft_margin_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction);
/* Poisson negative log likelihood: exp(input) - target input with log_input [true], else
 * input - target log(input + eps) (eps [1e-8] >= 0); full [false] adds Stirling's approximation
 * t log t - t + 0.5 log(2 pi t) where target > 1. */
NB_API nb_tensor *nb_poisson_nll_loss(nb_tensor *input, nb_tensor *target, bool log_input, bool full, double eps,
                                      nb_reduction reduction);
/* Gaussian negative log likelihood 0.5 (log v + (input - target)^2 / v) with v = max(var, eps) (eps
 * [1e-6]; the clamp passes gradients through as PyTorch's no_grad clamp does); full [false] adds
 * 0.5 log(2 pi). var has input's shape, or it without the last dim, or with a last dim of 1; negative
 * entries are an error (naming the first). var gets a gradient. */
NB_API nb_tensor *nb_gaussian_nll_loss(nb_tensor *input, nb_tensor *target, nb_tensor *var, bool full, double eps,
                                       nb_reduction reduction);
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
    bool same;               /* padding "same" (stride 1; t = d (k - 1) split t/2 before, the rest after) */
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
/* torch.nn.functional.conv1d: x (N, C, L) or (C, L), w (O, C/groups, k), bias (O) or NULL; the first
 * entry of each pair in opts is used (stride, padding, dilation), and same / groups as for conv2d.
 * Runs conv2d over (N, C, 1, L). */
NB_API nb_tensor *nb_conv1d(nb_tensor *x, nb_tensor *w, nb_tensor *bias, const nb_conv_opts *opts);
/* Options of nb_conv_transpose2d, pairs as above (zeros: stride 1, padding 0, output_padding 0,
 * dilation 1, groups 1). */
typedef struct nb_conv_transpose_opts {
    int64_t stride[2];
    int64_t padding[2];
    int64_t output_padding[2]; /* must be smaller than the stride (PyTorch also allows < dilation) */
    int64_t dilation[2];
    int64_t groups;
} nb_conv_transpose_opts;
/* torch.nn.functional.conv_transpose2d: x (N, C_in, H, W) or (C_in, H, W), w (C_in, C_out/groups, kH,
 * kW), bias (C_out) or NULL. Output size (H - 1) s - 2 p + d (k - 1) + output_padding + 1. It is the
 * input gradient of conv2d (same kernel); its gradients are conv2d and conv2d's weight gradient. */
NB_API nb_tensor *nb_conv_transpose2d(nb_tensor *x, nb_tensor *w, nb_tensor *bias, const nb_conv_transpose_opts *opts);
/* torch.nn.functional.max_pool1d on (N, C, L) or (C, L): the first entry of each pair in opts. */
NB_API nb_tensor *nb_max_pool1d(nb_tensor *x, const nb_pool_opts *opts);
/* The same with the index (i64, in [0, L)) of every maximum in *indices (a new reference). */
NB_API nb_tensor *nb_max_pool1d_with_indices(nb_tensor *x, const nb_pool_opts *opts, nb_tensor **indices);
/* Options of the average pools; pairs as above. */
typedef struct nb_avg_pool_opts {
    int64_t kernel[2];        /* required */
    int64_t stride[2];        /* default: the kernel size */
    int64_t padding[2];       /* at most half the kernel */
    bool ceil_mode;           /* round the output size up, as PyTorch's ceil_mode */
    bool exclude_pad;         /* count_include_pad=False: divide by the in-bounds count (PyTorch's default,
                                 count_include_pad=True, counts padded positions) */
    int64_t divisor_override; /* divide every window sum by this instead (0: none) */
} nb_avg_pool_opts;
/* torch.nn.functional.avg_pool2d on (N, C, H, W) or (C, H, W). */
NB_API nb_tensor *nb_avg_pool2d(nb_tensor *x, const nb_avg_pool_opts *opts);
/* torch.nn.functional.avg_pool1d on (N, C, L) or (C, L): the first entry of each pair in opts. */
NB_API nb_tensor *nb_avg_pool1d(nb_tensor *x, const nb_avg_pool_opts *opts);
/* torch.nn.functional.adaptive_avg_pool2d to output size (oh, ow) on (N, C, H, W) or (C, H, W): output
 * (i, j) is the mean of rows [floor(i H / oh), ceil((i + 1) H / oh)) and the columns alike. ow = 0
 * repeats oh; -1 keeps the input's size (PyTorch's None). */
NB_API nb_tensor *nb_adaptive_avg_pool2d(nb_tensor *x, int64_t oh, int64_t ow);
/* torch.nn.functional.adaptive_max_pool2d: the maximum over the same windows. */
NB_API nb_tensor *nb_adaptive_max_pool2d(nb_tensor *x, int64_t oh, int64_t ow);
/* The same with the flat index (i64, into each H*W plane) of every maximum in *indices. */
NB_API nb_tensor *nb_adaptive_max_pool2d_with_indices(nb_tensor *x, int64_t oh, int64_t ow, nb_tensor **indices);
typedef enum nb_interp_mode { NB_INTERP_NEAREST, NB_INTERP_BILINEAR } nb_interp_mode;
typedef struct nb_interpolate_opts {
    int64_t size[2];         /* output (H, W); second 0 repeats the first */
    double scale_factor[2];  /* or scale factors (output floor(H * s)); second 0 repeats the first */
    nb_interp_mode mode;     /* NB_INTERP_NEAREST (default) or NB_INTERP_BILINEAR */
    bool align_corners;      /* bilinear only */
} nb_interpolate_opts;
/* torch.nn.functional.interpolate of a 4-D input (N, C, H, W), float dtypes: "nearest" picks input
 * floor(dst * scale) (PyTorch's legacy nearest, scale = in / out or 1 / scale_factor), "bilinear"
 * with align_corners true or false. Exactly one of size and scale_factor is given. */
NB_API nb_tensor *nb_interpolate(nb_tensor *x, const nb_interpolate_opts *opts);
/* torch.nn.functional.pixel_shuffle: (*, C r^2, H, W) -> (*, C, H r, W r). */
NB_API nb_tensor *nb_pixel_shuffle(nb_tensor *x, int64_t upscale_factor);
/* torch.nn.functional.pixel_unshuffle: (*, C, H r, W r) -> (*, C r^2, H, W). */
NB_API nb_tensor *nb_pixel_unshuffle(nb_tensor *x, int64_t downscale_factor);
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
/* torch.nn.functional.layer_norm over the last `ndim` dims of x, which must equal normalized_shape;
 * weight / bias (normalized_shape) may be NULL. One fused pass per row for the statistics (computed
 * in f32 for f16 / bf16, f64 for f64) and a fused backward op; differentiable to any order. */
NB_API nb_tensor *nb_layer_norm(nb_tensor *x, int ndim, const int64_t *normalized_shape, nb_tensor *weight,
                                nb_tensor *bias, double eps);
/* torch.nn.functional.group_norm: x (N, C, ...) normalised over each of num_groups groups of C /
 * num_groups channels (and all spatial positions); weight / bias (C) or NULL. */
NB_API nb_tensor *nb_group_norm(nb_tensor *x, int64_t num_groups, nb_tensor *weight, nb_tensor *bias, double eps);
/* torch.nn.functional.instance_norm: x (N, C, L...) normalised per (sample, channel). With
 * use_input_stats the instance statistics are used (and running_mean / running_var (C), if given, are
 * updated in place with momentum, as PyTorch); otherwise the running statistics are used. */
NB_API nb_tensor *nb_instance_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var, nb_tensor *weight,
                                   nb_tensor *bias, bool use_input_stats, double momentum, double eps);
/* torch.nn.functional.rms_norm: x / sqrt(mean(x^2 over the last ndim dims) + eps) * weight (weight may
 * be NULL). eps < 0 (or NaN) takes PyTorch's default for eps=None: the machine epsilon of the compute
 * type (f32 for f16 / bf16, as aten). One fused pass per row forward; computed in f32 for f16 / bf16. */
NB_API nb_tensor *nb_rms_norm(nb_tensor *x, int ndim, const int64_t *normalized_shape, nb_tensor *weight, double eps);

/* torch.nn.functional.dropout: in training, zero each element with probability p and scale the rest
 * by 1 / (1 - p) (p = 1 gives zeros, p = 0 or evaluation returns x itself). The mask is drawn from the
 * global generator (nb_manual_seed) and kept by the multiply, so backward uses the same one. */
NB_API nb_tensor *nb_dropout(nb_tensor *x, double p, bool training);
/* torch.nn.functional.dropout2d: zero whole channels of (N, C, H, W) or (C, H, W) with probability p. */
NB_API nb_tensor *nb_dropout2d(nb_tensor *x, double p, bool training);

/* Options of nb_embedding (zero = PyTorch's defaults). */
typedef struct nb_embedding_opts {
    bool use_padding_idx;   /* padding_idx given (may be negative: counted from the end) */
    int64_t padding_idx;    /* that row gets no gradient */
    double max_norm;        /* > 0: looked-up rows with a larger norm are rescaled in place (no gradient) */
    double norm_type;       /* p of the max_norm norm; 0 means 2 */
} nb_embedding_opts;
/* torch.nn.functional.embedding: rows of weight (num, dim) at integer indices of any shape, giving
 * (*indices, dim). Out-of-range indices are an error (never read). opts may be NULL. */
NB_API nb_tensor *nb_embedding(nb_tensor *weight, nb_tensor *indices, const nb_embedding_opts *opts);
typedef enum nb_bag_mode { NB_BAG_MEAN = 0, NB_BAG_SUM, NB_BAG_MAX } nb_bag_mode;
/* torch.nn.functional.embedding_bag: input (B, L) (each row a bag; offsets NULL) or 1-D input with
 * offsets (B) (bag b is input[offsets[b] : offsets[b+1]]); sum, mean or max of each bag's rows; empty
 * bags give zeros. per_sample_weights (input's shape, mode sum only) scale the rows. */
NB_API nb_tensor *nb_embedding_bag(nb_tensor *weight, nb_tensor *input, nb_tensor *offsets, nb_bag_mode mode,
                                   nb_tensor *per_sample_weights);

/* torch.nn.functional.scaled_dot_product_attention: softmax(q k^T * scale + mask) v for q (..., L, E),
 * k (..., S, E), v (..., S, Ev), batch dims broadcasting. attn_mask (or NULL) broadcasts to (..., L, S):
 * bool (true = attend) or floating (added). is_causal masks j > i (not with attn_mask). dropout_p
 * applies dropout to the attention weights (draws from the global generator). scale <= 0: 1/sqrt(E). */
NB_API nb_tensor *nb_scaled_dot_product_attention(nb_tensor *q, nb_tensor *k, nb_tensor *v, nb_tensor *attn_mask,
                                                  double dropout_p, bool is_causal, double scale);
/* torch.nn.functional.linear: x (..., in) @ w^T + bias, w (out, in), bias (out) or NULL. The GEMM reads
 * w transposed in place (no copy). */
NB_API nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *bias);
/* torch.nn.functional.bilinear: y[..., o] = x1 W[o] x2^T + b[o], x1 (..., in1), x2 (..., in2),
 * w (out, in1, in2), bias (out) or NULL. */
NB_API nb_tensor *nb_bilinear(nb_tensor *x1, nb_tensor *x2, nb_tensor *w, nb_tensor *bias);
/* torch.nn.functional.cosine_similarity along dim of x1 and x2 (broadcast): (x1 / max(|x1|, eps)) .
 * (x2 / max(|x2|, eps)), each norm clamped as PyTorch does (the clamp itself passes no gradient).
 * Computed in f32 for f16 / bf16 and integer inputs. */
NB_API nb_tensor *nb_cosine_similarity(nb_tensor *x1, nb_tensor *x2, int dim, double eps);
/* torch.nn.functional.pairwise_distance: the p-norm of x1 - x2 + eps over the last dim (p may be
 * INFINITY; p = 0 counts non-zeros and passes no gradient). */
NB_API nb_tensor *nb_pairwise_distance(nb_tensor *x1, nb_tensor *x2, double p, double eps, bool keepdim);
/* (end of the neural-functions section) */

/* ---- shape and views ------------------------------------------------------------------------- */
/* Views share storage with x when the layout allows; nb_reshape copies when it must (like PyTorch),
 * nb_view never copies and fails instead. One entry of shape may be -1 (inferred). */
NB_API nb_tensor *nb_reshape(nb_tensor *x, int ndim, const int64_t *shape);
NB_API nb_tensor *nb_view(nb_tensor *x, int ndim, const int64_t *shape);
/* Merge dims start_dim..end_dim into one (a view when possible); a 0-d tensor becomes [1]. */
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
/* Split dim into n dims of the given sizes (one may be -1, inferred): torch.unflatten. */
NB_API nb_tensor *nb_unflatten(nb_tensor *x, int dim, int n, const int64_t *sizes);
/* Join n tensors of equal shape along a new dim (-(ndim + 1) <= dim <= ndim); dtypes promote. */
NB_API nb_tensor *nb_stack(nb_tensor *const *xs, int n, int dim);
/* length elements of x along dim from start (start may be negative: counted from the end). A view. */
NB_API nb_tensor *nb_narrow(nb_tensor *x, int dim, int64_t start, int64_t length);
/* Split x along dim into views sharing x's storage, as torch.split / torch.chunk. The pieces go to
 * out[0..count) (new references) and the count is returned, or a negative nb_status (nothing left in
 * out). out may be NULL to ask for the count only; otherwise max_out must be at least the count.
 *   nb_split:       pieces of split_size, the last one smaller (one empty piece for an empty dim);
 *   nb_split_sizes: n pieces of the given sizes, which must sum to the size of dim;
 *   nb_chunk:       pieces of ceil(size / chunks), so possibly fewer than chunks (chunks empty pieces
 *                   for an empty dim). */
NB_API int nb_split(nb_tensor *x, int64_t split_size, int dim, nb_tensor **out, int max_out);
NB_API int nb_split_sizes(nb_tensor *x, int n, const int64_t *sizes, int dim, nb_tensor **out, int max_out);
NB_API int nb_chunk(nb_tensor *x, int chunks, int dim, nb_tensor **out, int max_out);

/* Indexing with integer index tensors (dtype i64 or i32). Every index must lie in [0, size of dim):
 * negative or out-of-range values fail with an error naming the function, the dim and the value.
 * Gradients flow to the floating inputs (x, source, src), never to the index. */
/* The slices of x along dim at a 1-D (or 0-d) index, repeats allowed: torch.index_select. */
NB_API nb_tensor *nb_index_select(nb_tensor *x, int dim, nb_tensor *index);
/* x + alpha * source, the slices of source added at index along dim (repeats accumulate):
 * torch.index_add. source has x's shape with dim of the index's length and x's dtype; alpha must be
 * an integer for integer dtypes. */
NB_API nb_tensor *nb_index_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *source, double alpha);
/* out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on): torch.gather. index has x's number of
 * dims and is no larger than x in the other dims; the output has the index's shape. */
NB_API nb_tensor *nb_gather(nb_tensor *x, int dim, nb_tensor *index);
/* x with src[i][j][k] written at [index[i][j][k]][j][k] (dim 0): torch.scatter. src has x's dtype
 * and is at least as large as index in every dim (the part index does not reach is unused). With
 * duplicate indices the last write in the index's C order wins (PyTorch leaves this unspecified);
 * as in PyTorch, src's gradient is gather(grad) for every write, overwritten or not. */
NB_API nb_tensor *nb_scatter(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src);
/* The same with a scalar (cast to x's dtype) in place of src. */
NB_API nb_tensor *nb_scatter_value(nb_tensor *x, int dim, nb_tensor *index, double value);
/* x with src added at the index (duplicates accumulate): torch.scatter_add. */
NB_API nb_tensor *nb_scatter_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src);
/* torch.scatter_reduce with reduce "sum", "mean", "amax" or "amin" ("prod" is not supported).
 * include_self false leaves x's values out of the reduction wherever something is scattered. mean of
 * integers floors; amax / amin propagate NaN and share the gradient evenly among tied values. */
NB_API nb_tensor *nb_scatter_reduce(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src, const char *reduce,
                                    bool include_self);

/* Boolean masks (dtype bool; x and mask broadcast together). */
/* value (cast to x's dtype) where mask is true, x elsewhere: torch.masked_fill. */
NB_API nb_tensor *nb_masked_fill(nb_tensor *x, nb_tensor *mask, double value);
/* The elements of x where mask is true, in C order, as a 1-D tensor: torch.masked_select. */
NB_API nb_tensor *nb_masked_select(nb_tensor *x, nb_tensor *mask);
/* The coordinates of x's non-zero elements (NaN counts) in C order, i64 of shape (count, ndim):
 * torch.nonzero (as_tuple = false). Not differentiable. */
NB_API nb_tensor *nb_nonzero(nb_tensor *x);
/* (end of the shape-and-indexing section) */

/* ---- layout: pad, repeat, tile, triangles, flip, roll, diagonal, einsum ------------------------ */
/* torch.nn.functional.pad: pad holds n_pad values, (left, right) pairs for the last dim first, then
 * the one before, ... (n_pad / 2 <= ndim). Modes: NB_PAD_CONSTANT fills with value (negative pads crop;
 * any dtype), NB_PAD_REFLECT mirrors without repeating the edge (each pad < the dim's size),
 * NB_PAD_REPLICATE repeats the edge, NB_PAD_CIRCULAR wraps around (each pad <= the size). value must
 * be 0 for the non-constant modes. Unlike PyTorch, the non-constant modes take any number of leading
 * (unpadded) dims. Differentiable to any order (the gradient of a non-constant pad sums the copies). */
typedef enum nb_pad_mode { NB_PAD_CONSTANT = 0, NB_PAD_REFLECT, NB_PAD_REPLICATE, NB_PAD_CIRCULAR } nb_pad_mode;
NB_API nb_tensor *nb_pad(nb_tensor *x, int n_pad, const int64_t *pad, nb_pad_mode mode, double value);
/* Tensor.repeat: x tiled reps[i] times along dim i; n >= ndim (extra leading reps add new dims). */
NB_API nb_tensor *nb_repeat(nb_tensor *x, int n, const int64_t *reps);
/* torch.tile: like nb_repeat, but reps shorter than ndim are padded with ones on the left. */
NB_API nb_tensor *nb_tile(nb_tensor *x, int n, const int64_t *reps);
/* torch.tril / torch.triu over the last two dims (batched): keep elements with j - i <= diagonal
 * (tril) or j - i >= diagonal (triu), zero the rest. Any dtype. */
NB_API nb_tensor *nb_tril(nb_tensor *x, int64_t diagonal);
NB_API nb_tensor *nb_triu(nb_tensor *x, int64_t diagonal);
/* torch.flip: reverse the given dims (a copy). Any dtype. */
NB_API nb_tensor *nb_flip(nb_tensor *x, int n, const int64_t *dims);
/* torch.roll: shift elements by shifts[i] along dims[i] (shifts may be negative or exceed the size;
 * repeated dims add up). dims == NULL: roll the flattened tensor by shifts[0] (n must be 1). */
NB_API nb_tensor *nb_roll(nb_tensor *x, int n, const int64_t *shifts, const int64_t *dims);
/* torch.diagonal: the diagonal of dims dim1 and dim2 (offset > 0 above the main diagonal, < 0 below)
 * as a new last dim; the other dims keep their order. A view sharing x's storage. */
NB_API nb_tensor *nb_diagonal(nb_tensor *x, int64_t offset, int dim1, int dim2);
/* torch.einsum over n operands: "ij,jk->ik", "bij,bjk->bik", "ii->i" (repeated labels take the
 * diagonal), "ij->" (sums), implicit output (no "->": labels that appear once, alphabetically, after
 * the ellipsis dims), "..." broadcasting (ellipsis dims omitted from an explicit output are summed).
 * Labels are letters; a label has one size in every operand. Contracts operands left to right with
 * batched matmul, so it is as fast as the equivalent nb_matmul; floating dtypes only. */
NB_API nb_tensor *nb_einsum(const char *equation, nb_tensor *const *xs, int n);
/* (end of the layout section) */

#ifdef __cplusplus
}
#endif
#endif
