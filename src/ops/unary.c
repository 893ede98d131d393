/* ops/unary.c — elementwise functions of one tensor: neg, abs, exp, log, sqrt, tanh, sigmoid, relu,
 * sign. Each op is one UNARY_OP line (descriptor + public wrapper) plus its backward formula written
 * with nabla ops. Integer and bool inputs give f32 for the transcendental ops, as in PyTorch. */
#include "pointwise.h"
#include "../kernels/cpu/kernels.h"

/* keeps_int: integer inputs keep their dtype (neg, abs, relu, sign) instead of becoming f32. */
static int unary_infer(const char *fn, bool keeps_int, nb_tensor *x, nbc_meta *out) {
    nb_dtype d = x->dtype;
    if (!nb_dtype_is_float(d)) {
        if (!keeps_int) d = NB_F32;
        else if (d == NB_BOOL)
            return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) is bool; this op needs a number type", fn, nbc_desc(x));
    }
    nbo_meta_set(out, d, x->ndim, x->shape);
    return 0;
}

static int unary_forward(const char *fn, nbk_unary k, nb_tensor *x, nb_tensor *y) {
    nb_dtype c = nbk_compute_type(y->dtype);
    int64_t n = nbc_numel(y->ndim, y->shape);
    nbo_buffer in, tmp = {nbc_ptr(y), 0};
    if (nbo_buffer_get(fn, x, c, &in)) return NB_ERR_NOMEM;
    if (c != y->dtype) {
        tmp.data = nbc_block_alloc((size_t)n * nb_dtype_size(c), &tmp.capacity);
        if (!tmp.data) {
            nbo_buffer_release(&in);
            return nbc_oom(fn);
        }
    }
    nbk_unary_run(k, c, in.data, tmp.data, n);
    if (c != y->dtype) nbk_convert(nbc_ptr(y), y->dtype, tmp.data, c, n);
    nbo_buffer_release(&tmp);
    nbo_buffer_release(&in);
    return 0;
}

#define UNARY_OP(NAME, KOP, KEEPS_INT, FLAGS, BWNAME, BACKWARD, TORCH, SUMMARY)                    \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {       \
        (void)n, (void)a;                                                                          \
        return unary_infer("nb_" #NAME, KEEPS_INT, in[0], out);                                    \
    }                                                                                              \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) { \
        (void)n, (void)a;                                                                          \
        return unary_forward("nb_" #NAME, KOP, in[0], out[0]);                                     \
    }                                                                                              \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = 1, .n_out = 1,     \
                                      .flags = NBO_ELEMENTWISE | (FLAGS), .attrs = "",             \
                                      .torch = TORCH, .summary = SUMMARY, .infer = NAME##_infer,   \
                                      .forward = NAME##_forward, .backward = BACKWARD};            \
    nb_tensor *nb_##NAME(nb_tensor *x) { return nbo_apply1(NBO_##NAME, &x, 1, NULL); }

/* Backward formulas: g is the output gradient, x the saved input, y the saved output. */

static int neg_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    (void)c;
    gin[0] = nb_neg(g[0]);
    return gin[0] ? 0 : nb_last_status();
}
static int abs_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nb_mul(g[0], nb_sign(c->in[0]));
    return gin[0] ? 0 : nb_last_status();
}
static int exp_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nb_mul(g[0], c->out[0]);
    return gin[0] ? 0 : nb_last_status();
}
static int log_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nb_div(g[0], c->in[0]);
    return gin[0] ? 0 : nb_last_status();
}
static int sqrt_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nb_div(g[0], nb_mul_scalar(c->out[0], 2));
    return gin[0] ? 0 : nb_last_status();
}
static int tanh_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* g * (1 - y^2) */
    nb_tensor *y = c->out[0];
    gin[0] = nb_mul(g[0], nb_rsub_scalar(nb_mul(y, y), 1));
    return gin[0] ? 0 : nb_last_status();
}
static int sigmoid_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* g * y * (1 - y) */
    nb_tensor *y = c->out[0];
    gin[0] = nb_mul(g[0], nb_mul(y, nb_rsub_scalar(y, 1)));
    return gin[0] ? 0 : nb_last_status();
}
static int relu_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) { /* g * (y > 0) */
    nb_tensor *y = c->out[0];
    if (!nb_is_grad_enabled() && nb_dtype_is_float(y->dtype)) { /* no graph to build: one fused pass */
        gin[0] = nbo_activation_grad(g[0], y, NBK_RELU_GRAD, NULL);
        return gin[0] ? 0 : nb_last_status();
    }
    gin[0] = nb_mul(g[0], nb_to(nb_gt_scalar(y, 0), y->dtype));
    return gin[0] ? 0 : nb_last_status();
}

UNARY_OP(neg, NBK_NEG, true, 0, "NegBackward", neg_bw, "torch.neg", "-x")
UNARY_OP(abs, NBK_ABS, true, NBO_SAVE_INPUTS, "AbsBackward", abs_bw, "torch.abs", "absolute value")
UNARY_OP(exp, NBK_EXP, false, NBO_SAVE_OUTPUTS, "ExpBackward", exp_bw, "torch.exp", "e^x")
UNARY_OP(log, NBK_LOG, false, NBO_SAVE_INPUTS, "LogBackward", log_bw, "torch.log", "natural logarithm")
UNARY_OP(sqrt, NBK_SQRT, false, NBO_SAVE_OUTPUTS, "SqrtBackward", sqrt_bw, "torch.sqrt", "square root")
UNARY_OP(tanh, NBK_TANH, false, NBO_SAVE_OUTPUTS, "TanhBackward", tanh_bw, "torch.tanh", "hyperbolic tangent")
UNARY_OP(sigmoid, NBK_SIGMOID, false, NBO_SAVE_OUTPUTS, "SigmoidBackward", sigmoid_bw, "torch.sigmoid",
         "1 / (1 + e^-x)")
UNARY_OP(relu, NBK_RELU, true, NBO_SAVE_OUTPUTS, "ReluBackward", relu_bw, "torch.relu", "max(x, 0)")
UNARY_OP(sign, NBK_SIGN, true, 0, "SignBackward", NULL, "torch.sign",
         "-1, 0 or 1 (no gradient: zero almost everywhere)")
