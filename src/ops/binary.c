/* ops/binary.c — elementwise ops of two tensors with NumPy broadcasting and PyTorch type promotion
 * (add, sub, mul, div, pow, maximum, minimum, comparisons) plus where and the scalar variants.
 * Operands already in the compute type are read in place through their (broadcast) strides; others
 * are converted once into a contiguous buffer. */
#include "pointwise.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>

int nbo_operand_get(const char *fn, const nb_tensor *t, nb_dtype c, int ndim, const int64_t *shape, nbo_operand *o) {
    o->buf.capacity = 0;
    if (t->dtype == c) {
        o->ptr = nbc_ptr(t);
        nbo_broadcast_strides(t, ndim, shape, o->strides);
        return 0;
    }
    if (nbo_buffer_get(fn, t, c, &o->buf)) return NB_ERR_NOMEM;
    o->ptr = o->buf.data;
    /* the buffer is contiguous in t's own shape: broadcast that layout */
    nb_tensor view = *t;
    nbc_contiguous_strides(t->ndim, t->shape, view.strides);
    nbo_broadcast_strides(&view, ndim, shape, o->strides);
    return 0;
}

static nb_dtype result_dtype(int op, nb_dtype promoted) {
    if (op >= NBO_eq && op <= NBO_ge) return NB_BOOL;
    if (op == NBO_div && !nb_dtype_is_float(promoted)) return NB_F32; /* true division */
    return promoted;
}

static int binary_infer_op(int op, nb_tensor *const *in, nbc_meta *out) {
    const char *fn = nbo_fn_name(op);
    nb_tensor *a = in[0], *b = in[1];
    int64_t shape[NB_MAX_DIMS];
    int nd;
    if (nbo_broadcast_shapes(fn, a->ndim, a->shape, b->ndim, b->shape, &nd, shape)) return NB_ERR_ARG;
    nb_dtype p = nb_promote_types(a->dtype, b->dtype);
    if (p == NB_BOOL && (op == NBO_sub || op == NBO_pow))
        return nbc_error(NB_ERR_ARG, "%s: both arguments are bool (%s and %s); use integers or floats", fn,
                         nbc_desc(a), nbc_desc(b));
    nbo_meta_set(out, result_dtype(op, p), nd, shape);
    return 0;
}

static const nbk_binary k_kernel[] = {
    [NBO_add] = NBK_ADD, [NBO_sub] = NBK_SUB, [NBO_mul] = NBK_MUL, [NBO_div] = NBK_DIV,
    [NBO_pow] = NBK_POW, [NBO_maximum] = NBK_MAX, [NBO_minimum] = NBK_MIN, [NBO_eq] = NBK_EQ,
    [NBO_ne] = NBK_NE, [NBO_lt] = NBK_LT, [NBO_le] = NBK_LE, [NBO_gt] = NBK_GT, [NBO_ge] = NBK_GE,
};

static int binary_forward_op(int op, nb_tensor *const *in, nb_tensor *out) {
    const char *fn = nbo_fn_name(op);
    nb_dtype p = nb_promote_types(in[0]->dtype, in[1]->dtype);
    if (op == NBO_div && !nb_dtype_is_float(p)) p = NB_F32;
    nb_dtype c = nbk_compute_type(p);
    nb_dtype kout = op >= NBO_eq && op <= NBO_ge ? NB_BOOL : c; /* what the kernel writes */
    int64_t n = nbc_numel(out->ndim, out->shape);
    nbo_operand a, b;
    nbo_buffer tmp = {nbc_ptr(out), 0};
    int rc = nbo_operand_get(fn, in[0], c, out->ndim, out->shape, &a);
    if (rc) return rc;
    if ((rc = nbo_operand_get(fn, in[1], c, out->ndim, out->shape, &b)) != 0) goto done_a;
    if (kout != out->dtype) {
        tmp.data = nbc_block_alloc((size_t)n * nb_dtype_size(kout), &tmp.capacity);
        if (!tmp.data) {
            rc = nbc_oom(fn);
            goto done_b;
        }
    }
    nbk_binary_run(k_kernel[op], c, tmp.data, a.ptr, a.strides, b.ptr, b.strides, out->ndim, out->shape);
    if (kout != out->dtype) nbk_convert(nbc_ptr(out), out->dtype, tmp.data, kout, n);
    nbo_buffer_release(&tmp);
done_b:
    nbo_buffer_release(&b.buf);
done_a:
    nbo_buffer_release(&a.buf);
    return rc;
}

/* ---- backward formulas ------------------------------------------------------------------------ */

#define A_SHAPE c->in_meta[0].ndim, c->in_meta[0].shape
#define B_SHAPE c->in_meta[1].ndim, c->in_meta[1].shape
#define DONE() return (c->needs_grad[0] && !gin[0]) || (c->needs_grad[1] && !gin[1]) ? nb_last_status() : 0

static int add_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(g[0], A_SHAPE);
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(g[0], B_SHAPE);
    DONE();
}
static int sub_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(g[0], A_SHAPE);
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_neg(g[0]), B_SHAPE);
    DONE();
}
static int mul_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(nb_mul(g[0], c->in[1]), A_SHAPE);
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_mul(g[0], c->in[0]), B_SHAPE);
    DONE();
}
static int div_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* d(a/b) = da/b - a db/b^2 */
    nb_tensor *a = c->in[0], *b = c->in[1];
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(nb_div(g[0], b), A_SHAPE);
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_neg(nb_div(nb_mul(g[0], a), nb_mul(b, b))), B_SHAPE);
    DONE();
}
static int pow_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *a = c->in[0], *b = c->in[1];
    if (c->needs_grad[0]) { /* b * a^(b-1), and 0 where b == 0 (as PyTorch: no 0 * inf at a == 0) */
        nb_tensor *t = nb_mul(b, nb_pow(a, nb_sub_scalar(b, 1)));
        nb_tensor *zero = nbo_const(0, t ? t->dtype : NB_F32);
        gin[0] = nbo_sum_to(nb_mul(g[0], nb_where(nb_eq_scalar(b, 0), zero, t)), A_SHAPE);
        nb_free(zero);
    }
    if (c->needs_grad[1]) { /* a^b * log(a), taken as 0 where a == 0 (as PyTorch does) */
        nb_tensor *t = nb_mul(nb_pow(a, b), nb_log(a));
        nb_tensor *zero = nbo_const(0, t ? t->dtype : NB_F32);
        gin[1] = nbo_sum_to(nb_mul(g[0], nb_where(nb_eq_scalar(a, 0), zero, t)), B_SHAPE);
        nb_free(zero);
    }
    DONE();
}
/* Ties split the gradient evenly, as torch.maximum does. */
static int extremum_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin, bool is_max) {
    nb_tensor *a = c->in[0], *b = c->in[1];
    nb_dtype d = g[0]->dtype;
    nb_tensor *wins = nb_to(is_max ? nb_gt(a, b) : nb_lt(a, b), d);
    nb_tensor *ties = nb_mul_scalar(nb_to(nb_eq(a, b), d), 0.5);
    nb_tensor *wa = nb_add(wins, ties);
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(nb_mul(g[0], wa), A_SHAPE);
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_mul(g[0], nb_rsub_scalar(wa, 1)), B_SHAPE);
    DONE();
}
static int maximum_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { return extremum_bw(c, g, gin, true); }
static int minimum_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { return extremum_bw(c, g, gin, false); }

#define BINARY_OP(NAME, FLAGS, BWNAME, BACKWARD, TORCH, SUMMARY)                                   \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {       \
        (void)n, (void)a;                                                                          \
        return binary_infer_op(NBO_##NAME, in, out);                                               \
    }                                                                                              \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) { \
        (void)n, (void)a;                                                                          \
        return binary_forward_op(NBO_##NAME, in, out[0]);                                          \
    }                                                                                              \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = 2, .n_out = 1,     \
                                      .flags = NBO_ELEMENTWISE | (FLAGS), .attrs = "",             \
                                      .torch = TORCH, .summary = SUMMARY, .infer = NAME##_infer,   \
                                      .forward = NAME##_forward, .backward = BACKWARD};            \
    nb_tensor *nb_##NAME(nb_tensor *a, nb_tensor *b) { return nbo_apply1(NBO_##NAME, (nb_tensor *[]){a, b}, 2, NULL); }

BINARY_OP(add, 0, "AddBackward", add_bw, "torch.add", "a + b")
BINARY_OP(sub, 0, "SubBackward", sub_bw, "torch.sub", "a - b")
BINARY_OP(mul, NBO_SAVE_INPUTS, "MulBackward", mul_bw, "torch.mul", "a * b")
BINARY_OP(div, NBO_SAVE_INPUTS, "DivBackward", div_bw, "torch.div", "a / b (true division: integers give f32)")
BINARY_OP(pow, NBO_SAVE_INPUTS, "PowBackward", pow_bw, "torch.pow", "a ^ b")
BINARY_OP(maximum, NBO_SAVE_INPUTS, "MaximumBackward", maximum_bw, "torch.maximum",
          "elementwise max (NaN propagates; ties split the gradient)")
BINARY_OP(minimum, NBO_SAVE_INPUTS, "MinimumBackward", minimum_bw, "torch.minimum",
          "elementwise min (NaN propagates; ties split the gradient)")
BINARY_OP(eq, 0, NULL, NULL, "torch.eq", "a == b (bool)")
BINARY_OP(ne, 0, NULL, NULL, "torch.ne", "a != b (bool)")
BINARY_OP(lt, 0, NULL, NULL, "torch.lt", "a < b (bool)")
BINARY_OP(le, 0, NULL, NULL, "torch.le", "a <= b (bool)")
BINARY_OP(gt, 0, NULL, NULL, "torch.gt", "a > b (bool)")
BINARY_OP(ge, 0, NULL, NULL, "torch.ge", "a >= b (bool)")

/* ---- where ------------------------------------------------------------------------------------ */

static int where_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_where";
    nb_tensor *cond = in[0], *x = in[1], *y = in[2];
    if (cond->dtype != NB_BOOL)
        return nbc_error(NB_ERR_ARG, "%s: argument #1 (condition, %s) must be bool", fn, nbc_desc(cond));
    int64_t s1[NB_MAX_DIMS], s2[NB_MAX_DIMS];
    int n1, n2;
    if (nbo_broadcast_shapes(fn, x->ndim, x->shape, y->ndim, y->shape, &n1, s1)) return NB_ERR_ARG;
    if (nbo_broadcast_shapes(fn, cond->ndim, cond->shape, n1, s1, &n2, s2)) return NB_ERR_ARG;
    nbo_meta_set(out, nb_promote_types(x->dtype, y->dtype), n2, s2);
    return 0;
}

static int where_forward(nb_tensor *const *in, int n, const nb_attrs *at, nb_tensor *const *out) {
    (void)n, (void)at;
    static const char fn[] = "nb_where";
    nb_tensor *o = out[0];
    nbo_operand c, a, b;
    int rc = nbo_operand_get(fn, in[0], NB_BOOL, o->ndim, o->shape, &c);
    if (rc) return rc;
    if ((rc = nbo_operand_get(fn, in[1], o->dtype, o->ndim, o->shape, &a)) != 0) goto done_c;
    if ((rc = nbo_operand_get(fn, in[2], o->dtype, o->ndim, o->shape, &b)) != 0) goto done_a;
    nbk_where_run(o->dtype, nbc_ptr(o), c.ptr, c.strides, a.ptr, a.strides, b.ptr, b.strides, o->ndim, o->shape);
    nbo_buffer_release(&b.buf);
done_a:
    nbo_buffer_release(&a.buf);
done_c:
    nbo_buffer_release(&c.buf);
    return rc;
}

static int where_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *zero = nbo_const(0, g[0]->dtype);
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_where(c->in[0], g[0], zero), c->in_meta[1].ndim, c->in_meta[1].shape);
    if (c->needs_grad[2]) gin[2] = nbo_sum_to(nb_where(c->in[0], zero, g[0]), c->in_meta[2].ndim, c->in_meta[2].shape);
    nb_free(zero);
    return (c->needs_grad[1] && !gin[1]) || (c->needs_grad[2] && !gin[2]) ? nb_last_status() : 0;
}

const nbo_desc nbo_desc_where = {.name = "where", .bw_name = "WhereBackward", .n_in = 3, .n_out = 1,
                                 .flags = NBO_ELEMENTWISE | NBO_SAVE_INPUTS, .nograd_inputs = 1u << 0,
                                 .attrs = "", .torch = "torch.where", .summary = "cond ? a : b",
                                 .infer = where_infer, .forward = where_forward, .backward = where_bw};

nb_tensor *nb_where(nb_tensor *cond, nb_tensor *a, nb_tensor *b) {
    return nbo_apply1(NBO_where, (nb_tensor *[]){cond, a, b}, 3, NULL);
}

/* ---- scalar variants ---------------------------------------------------------------------------- */

/* The scalar as a 0-d tensor: x's dtype, unless x is integer/bool and s has a fraction (then f32) or
 * x is bool and s is a number (then i64), as PyTorch's wrapped-number rules give. */
static nb_tensor *scalar_for(nb_tensor *x, double s) {
    nb_dtype d = x->dtype;
    if (!nb_dtype_is_float(d)) {
        if (s != floor(s) || !isfinite(s)) d = NB_F32;
        else if (d == NB_BOOL) d = NB_I64;
    }
    return nbo_const(s, d);
}

typedef nb_tensor *(*binary_fn)(nb_tensor *, nb_tensor *);

static nb_tensor *with_scalar(binary_fn f, const char *fn, nb_tensor *x, double s, bool reversed) {
    if (!x) return nbc_null_arg(fn, 1), NULL;
    nb_tensor *c = scalar_for(x, s);
    nb_tensor *r = reversed ? f(c, x) : f(x, c);
    nb_free(c);
    return r;
}

nb_tensor *nb_add_scalar(nb_tensor *x, double s) { return with_scalar(nb_add, "nb_add_scalar", x, s, false); }
nb_tensor *nb_sub_scalar(nb_tensor *x, double s) { return with_scalar(nb_sub, "nb_sub_scalar", x, s, false); }
nb_tensor *nb_rsub_scalar(nb_tensor *x, double s) { return with_scalar(nb_sub, "nb_rsub_scalar", x, s, true); }
nb_tensor *nb_mul_scalar(nb_tensor *x, double s) { return with_scalar(nb_mul, "nb_mul_scalar", x, s, false); }
nb_tensor *nb_div_scalar(nb_tensor *x, double s) { return with_scalar(nb_div, "nb_div_scalar", x, s, false); }
nb_tensor *nb_rdiv_scalar(nb_tensor *x, double s) { return with_scalar(nb_div, "nb_rdiv_scalar", x, s, true); }
/* Exponents 2, 0.5, -1 and -0.5 of a float tensor go to the dedicated kernels (as PyTorch's pow does):
 * the same values as pow (sqrt(-0) is -0 and sqrt(-inf) NaN, as in PyTorch) at a fraction of the cost. */
nb_tensor *nb_pow_scalar(nb_tensor *x, double s) {
    if (x && nb_dtype_is_float(x->dtype)) {
        if (s == 2) return nb_square(x);
        if (s == 0.5) return nb_sqrt(x);
        if (s == -1) return nb_reciprocal(x);
        if (s == -0.5) return nb_rsqrt(x);
    }
    return with_scalar(nb_pow, "nb_pow_scalar", x, s, false);
}
nb_tensor *nb_maximum_scalar(nb_tensor *x, double s) { return with_scalar(nb_maximum, "nb_maximum_scalar", x, s, false); }
nb_tensor *nb_minimum_scalar(nb_tensor *x, double s) { return with_scalar(nb_minimum, "nb_minimum_scalar", x, s, false); }
nb_tensor *nb_eq_scalar(nb_tensor *x, double s) { return with_scalar(nb_eq, "nb_eq_scalar", x, s, false); }
nb_tensor *nb_ne_scalar(nb_tensor *x, double s) { return with_scalar(nb_ne, "nb_ne_scalar", x, s, false); }
nb_tensor *nb_lt_scalar(nb_tensor *x, double s) { return with_scalar(nb_lt, "nb_lt_scalar", x, s, false); }
nb_tensor *nb_le_scalar(nb_tensor *x, double s) { return with_scalar(nb_le, "nb_le_scalar", x, s, false); }
nb_tensor *nb_gt_scalar(nb_tensor *x, double s) { return with_scalar(nb_gt, "nb_gt_scalar", x, s, false); }
nb_tensor *nb_ge_scalar(nb_tensor *x, double s) { return with_scalar(nb_ge, "nb_ge_scalar", x, s, false); }
