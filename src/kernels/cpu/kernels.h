/* kernels/cpu/kernels.h — CPU compute loops, below the op layer. They see raw pointers, element
 * strides and dtypes; no tensors, no errors, no autograd. These are the plain reference loops the
 * compiler vectorises; hand-tuned SIMD variants plug in behind the same functions.
 *
 * Compute types: floats are computed in f32 (f32, f16, bf16) or f64; integers and bool in i64.
 */
#ifndef NABLA_KERNELS_H
#define NABLA_KERNELS_H

#include "../../core/internal.h"

/* The first n (clamped to [0, 16]) of 16 lanes as a bit mask: the masked loads and stores of the
 * 16-float SIMD kernels (an __mmask16). */
static inline uint16_t nbk_lanes16(int64_t n) {
    return n >= 16 ? (uint16_t)0xffff : n <= 0 ? (uint16_t)0 : (uint16_t)((1u << n) - 1);
}

/* Strided copy with dtype conversion over an n-d box: dst[idx] = (dd) src[idx]. Strides in elements;
 * a source stride of 0 broadcasts. Parallel for large boxes. */
void nbk_copy(void *dst, nb_dtype dd, const int64_t *dst_strides, const void *src, nb_dtype sd,
              const int64_t *src_strides, int ndim, const int64_t *shape);
/* Contiguous conversion of n elements. */
void nbk_convert(void *dst, nb_dtype dd, const void *src, nb_dtype sd, int64_t n);
/* Fill n contiguous elements of dtype with value. */
void nbk_fill(void *dst, nb_dtype dd, double value, int64_t n);

/* The type arithmetic runs in for a dtype: NB_F32, NB_F64 or NB_I64. */
nb_dtype nbk_compute_type(nb_dtype d);

/* ---- elementwise ------------------------------------------------------------------------------- */

typedef enum nbk_unary {
    NBK_NEG, NBK_ABS, NBK_EXP, NBK_LOG, NBK_SQRT, NBK_TANH, NBK_SIGMOID, NBK_RELU, NBK_SIGN, NBK_UNARY_COUNT
} nbk_unary;
/* y[i] = f(x[i]) on n contiguous elements of compute type t (f32, f64; i64 for neg/abs/relu/sign). */
void nbk_unary_run(nbk_unary op, nb_dtype t, const void *x, void *y, int64_t n);

typedef enum nbk_binary {
    NBK_ADD, NBK_SUB, NBK_MUL, NBK_DIV, NBK_POW, NBK_MAX, NBK_MIN,
    NBK_EQ, NBK_NE, NBK_LT, NBK_LE, NBK_GT, NBK_GE, /* these write bool (u8) */
    NBK_BINARY_COUNT
} nbk_binary;
/* out = a op b over an n-d box with element strides per operand (0 = broadcast). a and b are of
 * compute type t; out is of type t, or bool for comparisons; out is contiguous. */
void nbk_binary_run(nbk_binary op, nb_dtype t, void *out, const void *a, const int64_t *sa, const void *b,
                    const int64_t *sb, int ndim, const int64_t *shape);
/* out = cond ? a : b; cond is bool, a/b/out of type t (any dtype of size 1, 2, 4 or 8 bytes). */
void nbk_where_run(nb_dtype t, void *out, const uint8_t *cond, const int64_t *sc, const void *a, const int64_t *sa,
                   const void *b, const int64_t *sb, int ndim, const int64_t *shape);

/* The long tail of elementwise functions (ops/pointwise.c). Parameters p[0..2] per op:
 *   LEAKY_RELU slope; ELU alpha, scale, input_scale; SOFTPLUS beta, threshold; HARDTANH and CLAMP
 *   lo, hi (CLAMP: x < lo gives lo, then > hi gives hi, so lo > hi gives hi, as torch.clamp);
 *   NAN_TO_NUM nan, posinf, neginf. ISNAN / ISINF / ISFINITE write bool (u8). */
typedef enum nbk_pw1 {
    NBK_LOG1P, NBK_EXPM1, NBK_SQUARE, NBK_RECIPROCAL, NBK_RSQRT, NBK_SIN, NBK_COS, NBK_ERF,
    NBK_LEAKY_RELU, NBK_ELU, NBK_GELU, NBK_GELU_TANH, NBK_SILU, NBK_MISH, NBK_SOFTPLUS, NBK_HARDTANH,
    NBK_HARDSWISH, NBK_HARDSIGMOID, NBK_FLOOR, NBK_CEIL, NBK_ROUND, NBK_TRUNC, NBK_CLAMP, NBK_NAN_TO_NUM,
    NBK_ISNAN, NBK_ISINF, NBK_ISFINITE,
    NBK_RELU_GRAD, /* nbk_pw1_grad_run only: g where x > 0, else 0 (x: relu's output) */
    NBK_PW1_COUNT
} nbk_pw1;
/* y[i] = f(x[i]; p) on n contiguous elements of compute type t (f32 or f64; i64 for SQUARE and
 * CLAMP). Parallel in fixed chunks. */
void nbk_pw1_run(nbk_pw1 op, nb_dtype t, const void *x, void *y, int64_t n, const double *p);

/* out[i] = g[i] * f'(x[i]) for the activations f among nbk_pw1 (LEAKY_RELU, ELU, GELU, GELU_TANH,
 * SILU, MISH, SOFTPLUS, HARDTANH, HARDSWISH, HARDSIGMOID, RELU_GRAD; parameters as nbk_pw1_run), on n
 * contiguous elements of type t (f32 or f64): PyTorch's *_backward kernels in one pass. Where the
 * gradient is masked to zero (outside hardtanh's open interval, hardswish below -3, hardsigmoid
 * outside (-3, 3)) out is 0 whatever g holds, as a select (torch.where) gives. */
void nbk_pw1_grad_run(nbk_pw1 op, nb_dtype t, const void *g, const void *x, void *out, int64_t n, const double *p);

/* Binary long tail. ATAN2 on floats; FMOD (sign of a, as C fmod) and REMAINDER (sign of b, as
 * Python's %) on floats and i64; the bitwise ops on i64 and bool; the logical ops on bool (u8 0/1),
 * f32 or f64 (nonzero and NaN are true). out is of type t, bool for the logical ops. Returns 1 if an integer FMOD / REMAINDER met a zero divisor (those elements get 0), else 0. */
typedef enum nbk_pw2 {
    NBK_ATAN2, NBK_FMOD, NBK_REMAINDER, NBK_BAND, NBK_BOR, NBK_BXOR, NBK_LAND, NBK_LOR, NBK_LXOR, NBK_PW2_COUNT
} nbk_pw2;
int nbk_pw2_run(nbk_pw2 op, nb_dtype t, void *out, const void *a, const int64_t *sa, const void *b,
                const int64_t *sb, int ndim, const int64_t *shape);
/* Ternary: LERP out = a + c (b - a) (PyTorch's two-sided formula: b - (b - a)(1 - c) when |c| >= 0.5);
 * ADDCMUL out = a + p * b * c (t: f32, f64 or i64). */
typedef enum nbk_pw3 { NBK_LERP, NBK_ADDCMUL, NBK_PW3_COUNT } nbk_pw3;
void nbk_pw3_run(nbk_pw3 op, nb_dtype t, void *out, const void *a, const int64_t *sa, const void *b,
                 const int64_t *sb, const void *c, const int64_t *sc, double p, int ndim, const int64_t *shape);

/* f32 vector math: y[i] = f(x[i]) on n contiguous floats, single-threaded, at the dispatch level of
 * this CPU (AVX-512, AVX2, scalar; NABLA_CPU_MAX caps it). nbk_unary_run uses the same functions for
 * f32 exp, log, tanh and sigmoid (f64 calls libm), and so do the f32 softmax rows.
 *
 * Every level runs the same sequence of IEEE f32 operations (fused multiply-adds in the polynomials,
 * fmaf at the scalar level; no approximate reciprocals), so the results are bitwise identical across
 * levels, and the scalar level is portable C. Maximum error
 * against a double-precision reference, in ULP of the f32 result, measured by tests/test_vmath.c
 * over every 64th f32 bit pattern (2^26 inputs, all signs and exponents), every float in windows
 * around the range switches and boundaries, and special values; all three levels give the same
 * numbers. The test fails above the bound in brackets.
 *   exp      0.97 ULP [1.0]  (denormal results included; 0 below -103.97, inf above 88.7228)
 *   log      0.80 ULP [1.0]  (denormal inputs included; log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf)
 *   tanh     1.30 ULP [1.5]  (tanh(-0) = -0; +-1 for |x| >= 9.01)
 *   sigmoid  2.29 ULP [2.5]  (denormal results for x < -87.3, 0 below -103.97, 1 above 16.7)
 *   erf      1.36 ULP [1.5]  (erf(-0) = -0; +-1 for |x| >= 3.92)
 * NaN in gives NaN out for all five. libm's expf/logf/tanhf are within 1 ULP; the difference is
 * that these run 8 or 16 lanes at a time (see docs/benchmarks.md). */
typedef enum nbk_vfn { NBK_VEXP, NBK_VLOG, NBK_VTANH, NBK_VSIGMOID, NBK_VERF, NBK_VFN_COUNT } nbk_vfn;
void nbk_vmath_f32(nbk_vfn f, const float *x, float *y, int64_t n);
/* The level running the elementwise, reduction, softmax and vector-math kernels: "avx512", "avx2" or
 * "scalar". */
const char *nbk_ew_isa(void);

/* ---- reductions -------------------------------------------------------------------------------- */

typedef enum nbk_reduce { NBK_RSUM, NBK_RMAX, NBK_RMIN, NBK_RARGMAX } nbk_reduce;
/* For each of m rows of r contiguous elements of compute type t, reduce to out[row]. argmax writes
 * i64. Sums accumulate in fixed 4096-element chunks whose partial sums are added in order, so the
 * result does not depend on the thread count (a single long row is split over threads by chunks).
 * Within a chunk, f32 sums use 64 lanes (element i to lane i % 64, lanes combined by a halving tree),
 * the same order at every dispatch level, so f32 sums are also identical across levels; f64 sums use
 * 8 lanes. max/min propagate NaN; the sign of a zero maximum (max of -0 and +0) may differ between
 * levels, nothing else does. */
void nbk_reduce_rows(nbk_reduce op, nb_dtype t, const void *x, void *out, int64_t m, int64_t r);
/* The sums of nbk_reduce_rows (same bits) for x of compute type t (f32 or f64) laid out by strides:
 * dims [0, nk) are the m kept ones (row order), dims [nk, ndim) the reduced ones, whose elements are
 * summed in their row-major order. Each 4096-element chunk is gathered into a small buffer that stays
 * in L1 instead of permuting the whole tensor first (a bias gradient: (N, C, H, W) summed over N, H, W). */
void nbk_sum_rows_strided(nb_dtype t, const void *x, void *out, int ndim, const int64_t *shape,
                          const int64_t *strides, int nk);
/* For x of shape (r, n) contiguous, reduce over r: out[j] = reduce_i x[i, j]. */
void nbk_reduce_cols(nbk_reduce op, nb_dtype t, const void *x, void *out, int64_t r, int64_t n);

/* Softmax / log-softmax over rows of r contiguous elements (f32 or f64). f32 rows use the vector exp
 * above and sum in the 64-lane order of the f32 row sums; results are identical for any thread count
 * and any dispatch level. */
void nbk_softmax_rows(nb_dtype t, const void *x, void *y, int64_t m, int64_t r, bool log);

/* ---- matrix multiply --------------------------------------------------------------------------- */

/* C (m x n, row stride ldc, contiguous rows) = A (m x k) * B (k x n), A and B with arbitrary element
 * strides (row stride, column stride). t is NB_F32 or NB_F64. C is overwritten. */
void nbk_gemm(nb_dtype t, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa, const void *b,
              int64_t rsb, int64_t csb, void *c, int64_t ldc);

/* Activation applied by a GEMM epilogue. */
typedef enum nbk_act { NBK_ACT_NONE = 0, NBK_ACT_RELU = 1 } nbk_act;
/* Fused epilogue of nbk_gemm_ex, applied to each C tile as it is stored (after the last k-block):
 * C[i][j] = act(sum_p A[i][p] B[p][j] + bias[j]). bias has n elements of the GEMM's type t (f32 or
 * f64), or is NULL. relu keeps NaN (like torch.relu). */
typedef struct nbk_epilogue {
    const void *bias;
    int activation; /* nbk_act */
} nbk_epilogue;
/* nbk_gemm with an optional epilogue (NULL: none). f32 runs the packed, cache-blocked, register-tiled
 * kernels chosen at run time from nb_cpu_features() (AVX-512, AVX2+FMA, else the portable loops); f64
 * runs the portable loops. Multi-threaded through nbc_parallel_for; every C element is computed by one
 * thread in an order that does not depend on the thread count, so results are bitwise reproducible. */
void nbk_gemm_ex(nb_dtype t, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa, const void *b,
                 int64_t rsb, int64_t csb, void *c, int64_t ldc, const nbk_epilogue *ep);
/* Name of the f32 GEMM kernel in use: "avx512", "avx2" or "scalar" (for benchmarks and logs). */
const char *nbk_gemm_isa(void);

#endif
