/* ops/pointwise_binary.c — the long tail of broadcasting elementwise ops of two and three tensors:
 * atan2, fmod, remainder, the logical ops (any dtype in, bool out), the bitwise ops (integers and
 * bool), lerp and addcmul. Operands already in the compute type are read in place through their
 * broadcast strides (nbo_operand_get); kernels are in kernels/cpu/elementwise.c (nbk_pw2_run,
 * nbk_pw3_run). */
#include "pointwise.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>

/* ---- two operands ----------------------------------------------------------------------------- */

typedef enum pw2_kind {
    B_FLOAT,   /* atan2: integers and bool compute in f32 */
    B_NUMBER,  /* fmod, remainder: floats and integers, not bool */
    B_BITWISE, /* integers and bool only */
    B_LOGICAL, /* any dtype in, bool out */
} pw2_kind;

static int pw2_infer(int op, pw2_kind kind, nb_tensor *a, nb_tensor *b, nbc_meta *out) {
    const char *fn = nbo_fn_name(op);
    int64_t shape[NB_MAX_DIMS];
    int nd;
    if (nbo_broadcast_shapes(fn, a->ndim, a->shape, b->ndim, b->shape, &nd, shape)) return NB_ERR_ARG;
    nb_dtype p = nb_promote_types(a->dtype, b->dtype);
    switch (kind) {
    case B_FLOAT:
        if (!nb_dtype_is_float(p)) p = NB_F32;
        break;
    case B_NUMBER:
        if (p == NB_BOOL)
            return nbc_error(NB_ERR_ARG, "%s: both arguments are bool (%s and %s); use integers or floats", fn,
                             nbc_desc(a), nbc_desc(b));
        break;
    case B_BITWISE:
        if (nb_dtype_is_float(a->dtype) || nb_dtype_is_float(b->dtype))
            return nbc_error(NB_ERR_ARG, "%s: arguments %s and %s must be integer or bool tensors (not floating point)",
                             fn, nbc_desc(a), nbc_desc(b));
        break;
    case B_LOGICAL: p = NB_BOOL; break;
    }
    nbo_meta_set(out, p, nd, shape);
    return 0;
}

/* The compute type of a two-operand op with output dtype d: logical ops of two f32 (or two f64)
 * operands read them in place, others go through bool. */
static nb_dtype pw2_compute(pw2_kind kind, nb_dtype d, nb_tensor *const *in) {
    if (kind == B_LOGICAL && in[0]->dtype == in[1]->dtype && (in[0]->dtype == NB_F32 || in[0]->dtype == NB_F64))
        return in[0]->dtype;
    return kind == B_LOGICAL || d == NB_BOOL ? NB_BOOL : nbk_compute_type(d);
}

static int pw2_forward(int op, nbk_pw2 k, nb_dtype c, nb_tensor *const *in, nb_tensor *out) {
    const char *fn = nbo_fn_name(op);
    int64_t n = nbc_numel(out->ndim, out->shape);
    nbo_operand a, b;
    nbo_buffer tmp = {nbc_ptr(out), 0};
    int rc = nbo_operand_get(fn, in[0], c, out->ndim, out->shape, &a);
    if (rc) return rc;
    if ((rc = nbo_operand_get(fn, in[1], c, out->ndim, out->shape, &b)) != 0) goto done_a;
    nb_dtype kout = out->dtype == NB_BOOL ? NB_BOOL : c; /* what the kernel writes */
    if (kout != out->dtype) {
        tmp.data = nbc_block_alloc((size_t)n * nb_dtype_size(c), &tmp.capacity);
        if (!tmp.data) {
            rc = nbc_oom(fn);
            goto done_b;
        }
    }
    if (nbk_pw2_run(k, c, tmp.data, a.ptr, a.strides, b.ptr, b.strides, out->ndim, out->shape))
        rc = nbc_error(NB_ERR_ARG, "%s: integer division by zero (argument #2, %s, has a zero)", fn, nbc_desc(in[1]));
    else if (kout != out->dtype)
        nbk_convert(nbc_ptr(out), out->dtype, tmp.data, c, n);
    nbo_buffer_release(&tmp);
done_b:
    nbo_buffer_release(&b.buf);
done_a:
    nbo_buffer_release(&a.buf);
    return rc;
}

#define A_SHAPE c->in_meta[0].ndim, c->in_meta[0].shape
#define B_SHAPE c->in_meta[1].ndim, c->in_meta[1].shape
#define DONE() return (c->needs_grad[0] && !gin[0]) || (c->needs_grad[1] && !gin[1]) ? nb_last_status() : 0

static int atan2_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* (b, -a) / (a^2 + b^2) */
    nb_tensor *a = c->in[0], *b = c->in[1];
    nb_tensor *gd = nb_div(g[0], nb_add(nb_square(a), nb_square(b)));
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(nb_mul(gd, b), A_SHAPE);
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_neg(nb_mul(gd, a)), B_SHAPE);
    DONE();
}
/* fmod(a, b) = a - b trunc(a / b); remainder with floor instead of trunc */
static int mod_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin, nb_tensor *(*rnd)(nb_tensor *)) {
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(g[0], A_SHAPE);
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_neg(nb_mul(g[0], rnd(nb_div(c->in[0], c->in[1])))), B_SHAPE);
    DONE();
}
static int fmod_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { return mod_bw(c, g, gin, nb_trunc); }
static int remainder_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { return mod_bw(c, g, gin, nb_floor); }

#define PW2(NAME, KOP, KIND, FLAGS, BWNAME, BACKWARD, TORCH, SUMMARY)                              \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {       \
        (void)n, (void)a;                                                                          \
        return pw2_infer(NBO_##NAME, KIND, in[0], in[1], out);                                     \
    }                                                                                              \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) { \
        (void)n, (void)a;                                                                          \
        return pw2_forward(NBO_##NAME, KOP, pw2_compute(KIND, out[0]->dtype, in), in, out[0]);     \
    }                                                                                              \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = 2, .n_out = 1,     \
                                      .flags = NBO_ELEMENTWISE | (FLAGS), .attrs = "",             \
                                      .torch = TORCH, .summary = SUMMARY, .infer = NAME##_infer,   \
                                      .forward = NAME##_forward, .backward = BACKWARD};            \
    nb_tensor *nb_##NAME(nb_tensor *a, nb_tensor *b) { return nbo_apply1(NBO_##NAME, (nb_tensor *[]){a, b}, 2, NULL); }

PW2(atan2, NBK_ATAN2, B_FLOAT, NBO_SAVE_INPUTS, "Atan2Backward", atan2_bw, "torch.atan2",
    "angle of (b, a) in (-pi, pi]; integers give f32")
PW2(fmod, NBK_FMOD, B_NUMBER, NBO_SAVE_INPUTS, "FmodBackward", fmod_bw, "torch.fmod",
    "a - b trunc(a / b): the sign of a (integer division by zero is an error, as PyTorch)")
PW2(remainder, NBK_REMAINDER, B_NUMBER, NBO_SAVE_INPUTS, "RemainderBackward", remainder_bw, "torch.remainder",
    "a - b floor(a / b): the sign of b, as Python's % (integer division by zero is an error)")
PW2(bitwise_and, NBK_BAND, B_BITWISE, 0, NULL, NULL, "torch.bitwise_and", "a & b on integers and bool")
PW2(bitwise_or, NBK_BOR, B_BITWISE, 0, NULL, NULL, "torch.bitwise_or", "a | b on integers and bool")
PW2(bitwise_xor, NBK_BXOR, B_BITWISE, 0, NULL, NULL, "torch.bitwise_xor", "a ^ b on integers and bool")
PW2(logical_and, NBK_LAND, B_LOGICAL, 0, NULL, NULL, "torch.logical_and", "a && b (nonzero is true; bool result)")
PW2(logical_or, NBK_LOR, B_LOGICAL, 0, NULL, NULL, "torch.logical_or", "a || b (nonzero is true; bool result)")
PW2(logical_xor, NBK_LXOR, B_LOGICAL, 0, NULL, NULL, "torch.logical_xor", "a != b as truth values (bool result)")

/* ---- logical_not, bitwise_not: x xor all-ones ---------------------------------------------------- */

static int not_infer(int op, bool bitwise, nb_tensor *x, nbc_meta *out) {
    if (bitwise && nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must be an integer or bool tensor (not floating point)",
                         nbo_fn_name(op), nbc_desc(x));
    nbo_meta_set(out, bitwise ? x->dtype : NB_BOOL, x->ndim, x->shape);
    return 0;
}

static int not_forward(int op, nb_tensor *x, nb_tensor *y) {
    /* against a broadcast scalar: true for bool and floats (logical xor), ~0 for integers (bits wrap to
     * any width) */
    static const uint8_t one_b = 1;
    static const int64_t ones_i = -1;
    static const float one_f = 1;
    static const double one_d = 1;
    static const int64_t zero_strides[NB_MAX_DIMS] = {0};
    nb_dtype c = y->dtype == NB_BOOL ? NB_BOOL : NB_I64;
    if (op == NBO_logical_not && (x->dtype == NB_F32 || x->dtype == NB_F64)) c = x->dtype; /* read in place */
    const void *ones = c == NB_BOOL ? (const void *)&one_b : c == NB_I64 ? (const void *)&ones_i
                       : c == NB_F32 ? (const void *)&one_f : (const void *)&one_d;
    const char *fn = nbo_fn_name(op);
    int64_t n = nbc_numel(y->ndim, y->shape);
    nbo_operand a;
    nbo_buffer tmp = {nbc_ptr(y), 0};
    int rc = nbo_operand_get(fn, x, c, y->ndim, y->shape, &a);
    if (rc) return rc;
    nb_dtype kout = y->dtype == NB_BOOL ? NB_BOOL : c; /* what the kernel writes */
    if (kout != y->dtype) {
        tmp.data = nbc_block_alloc((size_t)n * nb_dtype_size(c), &tmp.capacity);
        if (!tmp.data) {
            nbo_buffer_release(&a.buf);
            return nbc_oom(fn);
        }
    }
    /* x xor true: !x for bool and floats (written as bool), ~x for integers */
    nbk_pw2_run(kout == NB_BOOL ? NBK_LXOR : NBK_BXOR, c, tmp.data, a.ptr, a.strides, ones, zero_strides, y->ndim,
                y->shape);
    if (kout != y->dtype) nbk_convert(nbc_ptr(y), y->dtype, tmp.data, c, n);
    nbo_buffer_release(&tmp);
    nbo_buffer_release(&a.buf);
    return 0;
}

#define PW_NOT(NAME, BITWISE, TORCH, SUMMARY)                                                      \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {       \
        (void)n, (void)a;                                                                          \
        return not_infer(NBO_##NAME, BITWISE, in[0], out);                                         \
    }                                                                                              \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) { \
        (void)n, (void)a;                                                                          \
        return not_forward(NBO_##NAME, in[0], out[0]);                                             \
    }                                                                                              \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .n_in = 1, .n_out = 1, .flags = NBO_ELEMENTWISE, \
                                      .attrs = "", .torch = TORCH, .summary = SUMMARY,             \
                                      .infer = NAME##_infer, .forward = NAME##_forward};           \
    nb_tensor *nb_##NAME(nb_tensor *x) { return nbo_apply1(NBO_##NAME, &x, 1, NULL); }

PW_NOT(logical_not, false, "torch.logical_not", "!x (zero is false; bool result)")
PW_NOT(bitwise_not, true, "torch.bitwise_not", "~x on integers; !x on bool")

/* ---- three operands: lerp, addcmul --------------------------------------------------------------- */

static int shape3(const char *fn, nb_tensor *const *in, int *nd, int64_t *shape) {
    int64_t s1[NB_MAX_DIMS];
    int n1;
    if (nbo_broadcast_shapes(fn, in[0]->ndim, in[0]->shape, in[1]->ndim, in[1]->shape, &n1, s1)) return NB_ERR_ARG;
    return nbo_broadcast_shapes(fn, n1, s1, in[2]->ndim, in[2]->shape, nd, shape) ? NB_ERR_ARG : 0;
}

static int pw3_forward(int op, nbk_pw3 k, nb_tensor *const *in, double p, nb_tensor *out) {
    const char *fn = nbo_fn_name(op);
    nb_dtype c = nbk_compute_type(out->dtype);
    int64_t n = nbc_numel(out->ndim, out->shape);
    nbo_operand o[3] = {{.buf = {0}}, {.buf = {0}}, {.buf = {0}}};
    nbo_buffer tmp = {nbc_ptr(out), 0};
    int rc = 0, got = 0;
    for (; got < 3 && !rc; got++) rc = nbo_operand_get(fn, in[got], c, out->ndim, out->shape, &o[got]);
    if (!rc && c != out->dtype) {
        tmp.data = nbc_block_alloc((size_t)n * nb_dtype_size(c), &tmp.capacity);
        if (!tmp.data) rc = nbc_oom(fn);
    }
    if (!rc) {
        nbk_pw3_run(k, c, tmp.data, o[0].ptr, o[0].strides, o[1].ptr, o[1].strides, o[2].ptr, o[2].strides, p,
                    out->ndim, out->shape);
        if (c != out->dtype) nbk_convert(nbc_ptr(out), out->dtype, tmp.data, c, n);
    }
    nbo_buffer_release(&tmp);
    for (int i = 0; i < got; i++) nbo_buffer_release(&o[i].buf);
    return rc;
}

static int lerp_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_lerp";
    static const char *const names[3] = {"start", "end", "weight"};
    if (!nb_dtype_is_float(in[0]->dtype))
        return nbc_error(NB_ERR_ARG, "%s: argument #1 (start, %s) must be a floating-point tensor", fn, nbc_desc(in[0]));
    for (int i = 1; i < 3; i++)
        if (in[i]->dtype != in[0]->dtype)
            return nbc_error(NB_ERR_ARG, "%s: argument #%d (%s, %s) must have the dtype of argument #1 (start, %s)", fn,
                             i + 1, names[i], nbc_desc(in[i]), nbc_desc(in[0]));
    int64_t shape[NB_MAX_DIMS];
    int nd;
    if (shape3(fn, in, &nd, shape)) return NB_ERR_ARG;
    nbo_meta_set(out, in[0]->dtype, nd, shape);
    return 0;
}
static int lerp_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n, (void)a;
    return pw3_forward(NBO_lerp, NBK_LERP, in, 0, out[0]);
}
#define IN_SHAPE(i) c->in_meta[i].ndim, c->in_meta[i].shape
#define DONE3()                                                                                    \
    for (int i_ = 0; i_ < 3; i_++)                                                                 \
        if (c->needs_grad[i_] && !gin[i_]) return nb_last_status();                                \
    return 0
static int lerp_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *s = c->in[0], *e = c->in[1], *w = c->in[2];
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(nb_mul(g[0], nb_rsub_scalar(w, 1)), IN_SHAPE(0));
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_mul(g[0], w), IN_SHAPE(1));
    if (c->needs_grad[2]) gin[2] = nbo_sum_to(nb_mul(g[0], nb_sub(e, s)), IN_SHAPE(2));
    DONE3();
}
const nbo_desc nbo_desc_lerp = {.name = "lerp", .bw_name = "LerpBackward", .n_in = 3, .n_out = 1,
                                .flags = NBO_ELEMENTWISE | NBO_SAVE_INPUTS, .attrs = "", .torch = "torch.lerp",
                                .summary = "start + weight (end - start), all three of one float dtype, broadcast",
                                .infer = lerp_infer, .forward = lerp_forward, .backward = lerp_bw};

nb_tensor *nb_lerp(nb_tensor *start, nb_tensor *end, nb_tensor *weight) {
    return nbo_apply1(NBO_lerp, (nb_tensor *[]){start, end, weight}, 3, NULL);
}
nb_tensor *nb_lerp_scalar(nb_tensor *start, nb_tensor *end, double weight) {
    if (!start) return nbc_null_arg("nb_lerp_scalar", 1), NULL;
    nb_tensor *w = nbo_const(weight, nb_dtype_is_float(start->dtype) ? start->dtype : NB_F32);
    nb_tensor *r = nb_lerp(start, end, w);
    nb_free(w);
    return r;
}

static int addcmul_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_addcmul";
    nb_dtype p = nb_promote_types(nb_promote_types(in[0]->dtype, in[1]->dtype), in[2]->dtype);
    if (p == NB_BOOL)
        return nbc_error(NB_ERR_ARG, "%s: arguments %s, %s and %s are all bool; use integers or floats", fn,
                         nbc_desc(in[0]), nbc_desc(in[1]), nbc_desc(in[2]));
    if (!nb_dtype_is_float(p) && a->f0 != floor(a->f0))
        return nbc_error(NB_ERR_ARG, "%s: value = %g must be a whole number for integer tensors (%s)", fn, a->f0,
                         nb_dtype_name(p));
    int64_t shape[NB_MAX_DIMS];
    int nd;
    if (shape3(fn, in, &nd, shape)) return NB_ERR_ARG;
    nbo_meta_set(out, p, nd, shape);
    return 0;
}
static int addcmul_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    return pw3_forward(NBO_addcmul, NBK_ADDCMUL, in, a->f0, out[0]);
}
static int addcmul_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    double v = c->attrs->f0;
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(g[0], IN_SHAPE(0));
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_mul(g[0], nb_mul_scalar(c->in[2], v)), IN_SHAPE(1));
    if (c->needs_grad[2]) gin[2] = nbo_sum_to(nb_mul(g[0], nb_mul_scalar(c->in[1], v)), IN_SHAPE(2));
    DONE3();
}
const nbo_desc nbo_desc_addcmul = {.name = "addcmul", .bw_name = "AddcmulBackward", .n_in = 3, .n_out = 1,
                                   .flags = NBO_ELEMENTWISE | NBO_SAVE_INPUTS, .unsaved_inputs = 1u << 0, .attrs = "f0=value",
                                   .torch = "torch.addcmul", .summary = "input + value * t1 * t2, broadcast",
                                   .infer = addcmul_infer, .forward = addcmul_forward, .backward = addcmul_bw};

nb_tensor *nb_addcmul(nb_tensor *input, nb_tensor *t1, nb_tensor *t2, double value) {
    return nbo_apply1(NBO_addcmul, (nb_tensor *[]){input, t1, t2}, 3, &(nb_attrs){.f0 = value});
}
