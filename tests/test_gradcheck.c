/* tests/test_gradcheck.c — registry-driven gradient checks.
 *
 * The case tables (gc_cases_core below, one per family in tests/gradcheck/) map registry op names (nabla/registry.h) to a function running nb_gradcheck (f64,
 * central differences) on that op through its public wrapper: awkward sizes (1, 7, 17), broadcasting,
 * strided views made inside the checked function, every reduction / keepdim form, 1-D and batched
 * matmul, softmax along non-last dims, each loss reduction with ignore_index, and second derivatives
 * (nb_autograd_grad with create_graph inside the checked function).
 *
 * test_registry_coverage walks every registered op and FAILS for a differentiable op with no entry
 * in any table: adding a differentiable op without a gradient check breaks this test.
 */
#define HARNESS_DEFINE_COUNTERS
#include "gradcheck.h"

int g_gradchecks;

/* ---- unary ---------------------------------------------------------------------------------- */

static void case_neg(void) { unary_cases("neg", nb_neg, P, true); }
static void case_abs(void) { unary_cases("abs", nb_abs, Paway, true); }
static void case_exp(void) { unary_cases("exp", nb_exp, P, true); }
static void case_log(void) { unary_cases("log", nb_log, Ppos, true); }
static void case_sqrt(void) { unary_cases("sqrt", nb_sqrt, Ppos, true); }
static void case_tanh(void) { unary_cases("tanh", nb_tanh, P, true); }
static void case_sigmoid(void) { unary_cases("sigmoid", nb_sigmoid, P, true); }
static void case_relu(void) { unary_cases("relu", nb_relu, Paway, true); }


static void case_add(void) {
    binary_cases("add", nb_add, mk_normal, mk_normal, false);
    binary_ud b = {nb_add, false};
    GC("add x + x", f_self, &b, P(NB_SHAPE(7)));
    scalar_ud s = {nb_add_scalar, 1.5};
    GC("add_scalar", f_scalar, &s, P(NB_SHAPE(17)));
}
static void case_sub(void) {
    binary_cases("sub", nb_sub, mk_normal, mk_normal, false);
    scalar_ud s = {nb_sub_scalar, 1.5}, r = {nb_rsub_scalar, 1.5};
    GC("sub_scalar", f_scalar, &s, P(NB_SHAPE(7)));
    GC("rsub_scalar", f_scalar, &r, P(NB_SHAPE(7)));
}
static void case_mul(void) {
    binary_cases("mul", nb_mul, mk_normal, mk_normal, true);
    binary_ud b = {nb_mul, false};
    GC("mul x * x", f_self, &b, P(NB_SHAPE(7)));
    double_ud d = {f_self, &b, 1};
    GC("mul x * x second derivative", f_double, &d, P(NB_SHAPE(7)), V(7));
    scalar_ud s = {nb_mul_scalar, -2.5};
    GC("mul_scalar", f_scalar, &s, P(NB_SHAPE(1, 7)));
}
static void case_div(void) {
    binary_cases("div", nb_div, mk_normal, mk_pos, true);
    scalar_ud s = {nb_div_scalar, -2.5}, r = {nb_rdiv_scalar, 3.0};
    GC("div_scalar", f_scalar, &s, P(NB_SHAPE(7)));
    GC("rdiv_scalar", f_scalar, &r, Ppos(NB_SHAPE(7)));
}
static void case_pow(void) {
    binary_cases("pow", nb_pow, mk_pos, mk_normal, true);
    scalar_ud s = {nb_pow_scalar, 3.0}, h = {nb_pow_scalar, 0.5};
    GC("pow_scalar x^3 (negative bases too)", f_scalar, &s, P(NB_SHAPE(17)));
    GC("pow_scalar x^0.5", f_scalar, &h, Ppos(NB_SHAPE(7)));
    double_ud d = {f_scalar, &s, 1};
    GC("pow_scalar x^3 second derivative", f_double, &d, P(NB_SHAPE(7)), V(7));
}
static void case_maximum(void) {
    binary_cases("maximum", nb_maximum, mk_even, mk_odd, false);
    scalar_ud s = {nb_maximum_scalar, 0.005};
    GC("maximum_scalar", f_scalar, &s, Plattice(NB_SHAPE(17), 1, false));
}
static void case_minimum(void) {
    binary_cases("minimum", nb_minimum, mk_even, mk_odd, false);
    scalar_ud s = {nb_minimum_scalar, 0.005};
    GC("minimum_scalar", f_scalar, &s, Plattice(NB_SHAPE(17), 2, false));
}

static tp f_where(tp const *in, void *ud) { return (void)ud, nb_where(in[0], in[1], in[2]); }
static tp f_where_t(tp const *in, void *ud) { return (void)ud, nb_where(in[0], nb_transpose(in[1], 0, 1), in[2]); }
static tp f_where_sq(tp const *in, void *ud) { return nb_where((tp)ud, nb_mul(in[0], in[0]), nb_exp(in[1])); }
static void case_where(void) {
    tp cond = nb_gt_scalar(nb_randn(NB_SHAPE(7, 17), NB_F64), 0);
    tp cond1 = nb_lt_scalar(nb_randn(NB_SHAPE(17), NB_F64), 0.3);
    GC("where [7, 17] ? [7, 1] : [1, 17]", f_where, NULL, cond, P(NB_SHAPE(7, 1)), P(NB_SHAPE(1, 17)));
    GC("where [17] ? [7, 17] : 0-d", f_where, NULL, cond1, P(NB_SHAPE(7, 17)), P(NB_SCALAR));
    GC("where [7, 17] ? transpose([17, 7]) : constant", f_where_t, NULL, cond, P(NB_SHAPE(17, 7)),
       nb_randn(NB_SHAPE(7, 17), NB_F64));
    double_ud d = {f_where_sq, cond, 2};
    GC("where second derivative", f_double, &d, P(NB_SHAPE(7, 1)), P(NB_SHAPE(17)), V(7, 17));
}

/* ---- reductions ----------------------------------------------------------------------------- */

static void reduce_cases(const char *name, tp (*f)(tp, const nb_reduce_opts *), tp (*make)(int, const int64_t *),
                         bool dbl) {
    char what[96];
    const nb_reduce_opts *opts[] = {NULL, NB_DIMS(0, 2), NB_DIMS_KEEP(1), NB_DIMS(-1), NB_DIMS_KEEP(0, 1, 2),
                                    NB_DIMS(2, 0, 1), NB_DIMS_KEEP(-3, -1)};
    const char *names[] = {"all dims", "dims (0, 2)", "dim 1 keepdim", "dim -1", "all dims keepdim",
                           "dims (2, 0, 1)", "dims (-3, -1) keepdim"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        reduce_ud r = {f, opts[i], false};
        snprintf(what, sizeof what, "%s [3, 7, 2] %s", name, names[i]);
        GC(what, f_reduce, &r, make(NB_SHAPE(3, 7, 2)));
    }
    reduce_ud rt = {f, NB_DIMS(0), true}, rk = {f, NB_DIMS_KEEP(1), true}, r1 = {f, NB_DIMS(0), false},
              r0 = {f, NULL, false};
    snprintf(what, sizeof what, "%s transpose([17, 3]) dim 0", name);
    GC(what, f_reduce, &rt, make(NB_SHAPE(17, 3)));
    snprintf(what, sizeof what, "%s transpose([17, 3]) dim 1 keepdim", name);
    GC(what, f_reduce, &rk, make(NB_SHAPE(17, 3)));
    snprintf(what, sizeof what, "%s [1, 17] dim 0 (size-1 dim)", name);
    GC(what, f_reduce, &r1, make(NB_SHAPE(1, 17)));
    snprintf(what, sizeof what, "%s 0-d", name);
    GC(what, f_reduce, &r0, make(NB_SCALAR));
    if (dbl) {
        reduce_ud rd = {f, NB_DIMS(0, 2), false}, ra = {f, NULL, false};
        double_ud d = {f_reduce, &rd, 1}, da = {f_reduce, &ra, 1};
        snprintf(what, sizeof what, "%s second derivative dims (0, 2)", name);
        GC(what, f_double, &d, make(NB_SHAPE(3, 7, 2)), V(7));
        snprintf(what, sizeof what, "%s second derivative all dims", name);
        GC(what, f_double, &da, make(NB_SHAPE(3, 7)), V0);
    }
}
static tp lattice_any(int nd, const int64_t *s) { return Plattice(nd, s, 5, false); }

static void case_sum(void) { reduce_cases("sum", nb_sum, P, true); }
static void case_mean(void) { reduce_cases("mean", nb_mean, P, true); }
static void case_max(void) { reduce_cases("max", nb_max, lattice_any, true); }
static void case_min(void) { reduce_cases("min", nb_min, lattice_any, false); }

/* ---- matmul --------------------------------------------------------------------------------- */

static tp f_matmul_tt(tp const *in, void *ud) {
    (void)ud;
    return nb_matmul(nb_transpose(in[0], -1, -2), nb_transpose(in[1], -1, -2));
}
static void case_matmul(void) {
    binary_ud m = {nb_matmul, false};
    GC("matmul [7, 3] [3, 5]", f_binary, &m, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3, 5)));
    GC("matmul [1, 1] [1, 17]", f_binary, &m, P(NB_SHAPE(1, 1)), P(NB_SHAPE(1, 17)));
    GC("matmul [2, 1, 3, 4] [5, 4, 2] (batch broadcast)", f_binary, &m, P(NB_SHAPE(2, 1, 3, 4)), P(NB_SHAPE(5, 4, 2)));
    GC("matmul [3, 4] [2, 4, 3] (batch broadcast of a matrix)", f_binary, &m, P(NB_SHAPE(3, 4)), P(NB_SHAPE(2, 4, 3)));
    GC("matmul [3] [3, 5] (1-D left)", f_binary, &m, P(NB_SHAPE(3)), P(NB_SHAPE(3, 5)));
    GC("matmul [7, 3] [3] (1-D right)", f_binary, &m, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3)));
    GC("matmul [7] [7] (dot)", f_binary, &m, P(NB_SHAPE(7)), P(NB_SHAPE(7)));
    GC("matmul [4] [2, 4, 3] (1-D with batch)", f_binary, &m, P(NB_SHAPE(4)), P(NB_SHAPE(2, 4, 3)));
    GC("matmul [2, 3, 4] [4] (batch with 1-D)", f_binary, &m, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(4)));
    GC("matmul transpose([3, 7]) transpose([5, 3])", f_matmul_tt, NULL, P(NB_SHAPE(3, 7)), P(NB_SHAPE(5, 3)));
    GC("matmul with a constant operand", f_binary, &m, P(NB_SHAPE(7, 3)), nb_randn(NB_SHAPE(3, 2), NB_F64));
    double_ud d = {f_binary, &m, 2}, dtt = {f_matmul_tt, NULL, 2};
    GC("matmul second derivative [2, 3, 4] [4, 5]", f_double, &d, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(4, 5)), V(2, 3, 5));
    GC("matmul second derivative transposed", f_double, &dtt, P(NB_SHAPE(3, 7)), P(NB_SHAPE(2, 3)), V(7, 2));
}

/* ---- softmax ------------------------------------------------------------------------------- */

static void softmax_cases(const char *name, tp (*f)(tp, int)) {
    char what[96];
    softmax_ud s0 = {f, 0, false}, s1 = {f, 1, false}, sl = {f, -1, false}, st = {f, -1, true}, sz = {f, 0, false};
    snprintf(what, sizeof what, "%s [5, 3] dim 0", name);
    GC(what, f_softmax, &s0, P(NB_SHAPE(5, 3)));
    snprintf(what, sizeof what, "%s [2, 7, 3] dim 1", name);
    GC(what, f_softmax, &s1, P(NB_SHAPE(2, 7, 3)));
    snprintf(what, sizeof what, "%s [3, 17] dim -1", name);
    GC(what, f_softmax, &sl, P(NB_SHAPE(3, 17)));
    snprintf(what, sizeof what, "%s transpose([7, 3]) dim -1", name);
    GC(what, f_softmax, &st, P(NB_SHAPE(7, 3)));
    snprintf(what, sizeof what, "%s [1] dim 0", name);
    GC(what, f_softmax, &sz, P(NB_SHAPE(1)));
    double_ud d0 = {f_softmax, &s0, 1}, d1 = {f_softmax, &s1, 1};
    snprintf(what, sizeof what, "%s second derivative dim 0", name);
    GC(what, f_double, &d0, P(NB_SHAPE(5, 3)), V(5, 3));
    snprintf(what, sizeof what, "%s second derivative [2, 7, 3] dim 1", name);
    GC(what, f_double, &d1, P(NB_SHAPE(2, 7, 3)), V(2, 7, 3));
}
static void case_softmax(void) { softmax_cases("softmax", nb_softmax); }
static void case_log_softmax(void) { softmax_cases("log_softmax", nb_log_softmax); }

/* ---- losses --------------------------------------------------------------------------------- */

typedef struct loss_ud {
    nb_cross_entropy_opts o;
    bool ce; /* cross_entropy (on logits) rather than nll_loss */
} loss_ud;
static tp f_loss(tp const *in, void *ud) {
    loss_ud *l = ud;
    return l->ce ? nb_cross_entropy(in[0], in[1], &l->o) : nb_nll_loss(in[0], in[1], &l->o);
}
/* in[0] transposed: logits stored (C, N) */
static tp f_loss_t(tp const *in, void *ud) {
    loss_ud *l = ud;
    tp x = nb_transpose(in[0], 0, 1);
    return l->ce ? nb_cross_entropy(x, in[1], &l->o) : nb_nll_loss(x, in[1], &l->o);
}

static void loss_cases(bool ce) {
    const char *name = ce ? "cross_entropy" : "nll_loss";
    char what[128];
    static const int64_t t5[] = {0, 3, -100, 1, 3}, t5b[] = {2, 1, 1, 0, 3};
    static const int64_t t32[] = {3, 0, 1, -100, 2, 2};
    tp target = I64(NB_SHAPE(5), t5b), target_ig = I64(NB_SHAPE(5), t5);
    tp target3 = nb_to(I64(NB_SHAPE(3, 2), t32), NB_I32);
    tp target0 = nb_scalar(2, NB_I64);
    const nb_reduction reds[] = {NB_REDUCTION_MEAN, NB_REDUCTION_SUM, NB_REDUCTION_NONE};
    const char *rn[] = {"mean", "sum", "none"};
    for (int r = 0; r < 3; r++) {
        loss_ud l = {.o = {.reduction = reds[r]}, .ce = ce};
        loss_ud li = {.o = {.reduction = reds[r], .use_ignore_index = true, .ignore_index = -100}, .ce = ce};
        loss_ud lc = {.o = {.reduction = reds[r], .use_ignore_index = true, .ignore_index = 1}, .ce = ce};
        snprintf(what, sizeof what, "%s [5, 4] reduction %s", name, rn[r]);
        GC(what, f_loss, &l, P(NB_SHAPE(5, 4)), target);
        snprintf(what, sizeof what, "%s [5, 4] reduction %s ignore_index -100", name, rn[r]);
        GC(what, f_loss, &li, P(NB_SHAPE(5, 4)), target_ig);
        snprintf(what, sizeof what, "%s [5, 4] reduction %s ignore_index 1 (a real class)", name, rn[r]);
        GC(what, f_loss, &lc, P(NB_SHAPE(5, 4)), target);
        snprintf(what, sizeof what, "%s [3, 4, 2] (N, C, d) i32 target reduction %s ignore_index", name, rn[r]);
        GC(what, f_loss, &li, P(NB_SHAPE(3, 4, 2)), target3);
        snprintf(what, sizeof what, "%s [7] with a 0-d target reduction %s", name, rn[r]);
        GC(what, f_loss, &l, P(NB_SHAPE(7)), target0);
        snprintf(what, sizeof what, "%s transpose([4, 5]) reduction %s", name, rn[r]);
        GC(what, f_loss_t, &l, P(NB_SHAPE(4, 5)), target);
    }
}

/* Second derivative of a loss: inputs (x, v, target); the gradient wrt x with grad_output v. */
static tp f_loss_double(tp const *in, void *ud) {
    tp args[2] = {in[0], in[2]};
    tp y = f_loss(args, ud);
    if (!y) return NULL;
    tp v = in[1], g;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (nb_autograd_grad(&y, 1, in, 1, &o, &g) != 0) return NULL;
    return nb_retain(g);
}
static void loss_double_cases(bool ce) {
    const char *name = ce ? "cross_entropy" : "nll_loss";
    char what[128];
    static const int64_t t5[] = {0, 3, -100, 1, 3};
    tp target = I64(NB_SHAPE(5), t5);
    const nb_reduction reds[] = {NB_REDUCTION_MEAN, NB_REDUCTION_SUM, NB_REDUCTION_NONE};
    const char *rn[] = {"mean", "sum", "none"};
    for (int r = 0; r < 3; r++) {
        loss_ud l = {.o = {.reduction = reds[r], .use_ignore_index = true, .ignore_index = -100}, .ce = ce};
        snprintf(what, sizeof what, "%s second derivative reduction %s ignore_index", name, rn[r]);
        GC(what, f_loss_double, &l, P(NB_SHAPE(5, 4)), reds[r] == NB_REDUCTION_NONE ? V(5) : V0, target);
    }
}

static void case_nll_loss(void) {
    loss_cases(false);
    loss_cases(true);
    loss_double_cases(false);
    loss_double_cases(true);
}

/* ---- shape ops ------------------------------------------------------------------------------ */

static tp f_reshape_t(tp const *in, void *ud) { /* non-contiguous input: reshape must copy */
    (void)ud;
    return nb_reshape(nb_transpose(in[0], 0, 1), NB_SHAPE(3, -1));
}
static tp f_reshape_view_t(tp const *in, void *ud) { /* non-contiguous input, view possible */
    (void)ud;
    return nb_reshape(nb_transpose(in[0], 0, 1), NB_SHAPE(3, 1, 7, 1));
}
static tp f_view(tp const *in, void *ud) { return (void)ud, nb_view(in[0], NB_SHAPE(17, 1)); }
static tp f_flatten(tp const *in, void *ud) { return (void)ud, nb_flatten(nb_permute(in[0], NB_LIST(2, 0, 1)), 0, 1); }
static tp f_squeeze(tp const *in, void *ud) { return (void)ud, nb_unsqueeze(nb_squeeze(in[0], NB_DIM_ALL), -1); }
static tp f_reshape_slice(tp const *in, void *ud) {
    (void)ud;
    return nb_reshape(nb_slice(in[0], 1, 0, 17, 3), NB_SHAPE(-1));
}
static void case_reshape(void) {
    GC("reshape transpose([7, 3]) to [3, 7] (copy)", f_reshape_t, NULL, P(NB_SHAPE(7, 3)));
    GC("reshape transpose([7, 3]) to [3, 1, 7, 1] (view)", f_reshape_view_t, NULL, P(NB_SHAPE(7, 3)));
    GC("view [17] to [17, 1]", f_view, NULL, P(NB_SHAPE(17)));
    GC("flatten of a permuted [2, 3, 7]", f_flatten, NULL, P(NB_SHAPE(2, 3, 7)));
    GC("squeeze / unsqueeze [1, 7, 1]", f_squeeze, NULL, P(NB_SHAPE(1, 7, 1)));
    GC("reshape of a strided slice", f_reshape_slice, NULL, P(NB_SHAPE(3, 17)));
    EXPECT_FN("reshape records ViewBackward", "ViewBackward", f_view, NULL, P(NB_SHAPE(17)));
}

static tp f_permute(tp const *in, void *ud) { return (void)ud, nb_permute(in[0], NB_LIST(2, 0, 1)); }
static tp f_transpose(tp const *in, void *ud) { return (void)ud, nb_transpose(in[0], -1, 0); }
static tp f_permute_twice(tp const *in, void *ud) {
    (void)ud;
    return nb_mul(nb_permute(nb_permute(in[0], NB_LIST(1, 2, 0)), NB_LIST(0, 2, 1)), in[1]);
}
static void case_permute(void) {
    GC("permute [2, 3, 7] (2, 0, 1)", f_permute, NULL, P(NB_SHAPE(2, 3, 7)));
    GC("transpose [7, 1, 3] (-1, 0)", f_transpose, NULL, P(NB_SHAPE(7, 1, 3)));
    GC("permute of a permute times a tensor", f_permute_twice, NULL, P(NB_SHAPE(2, 3, 7)), P(NB_SHAPE(3, 2, 7)));
}

typedef struct slice_ud {
    int dim;
    int64_t start, end, step;
    bool transpose;
} slice_ud;
static tp f_slice(tp const *in, void *ud) {
    slice_ud *s = ud;
    tp x = s->transpose ? nb_transpose(in[0], 0, 1) : in[0];
    return nb_slice(x, s->dim, s->start, s->end, s->step);
}
static tp f_slice_slice(tp const *in, void *ud) {
    (void)ud;
    return nb_slice(nb_slice(in[0], 0, 1, 17, 2), 0, -5, INT64_MAX, 3);
}
static tp f_slice_empty(tp const *in, void *ud) {
    (void)ud;
    tp parts[2] = {nb_slice(in[0], 0, 3, 3, 1), nb_slice(in[0], 0, 0, 7, 2)};
    return nb_cat(parts, 2, 0);
}
static void case_slice(void) {
    slice_ud s1 = {0, 1, 17, 3, false}, s2 = {-1, -5, -1, 2, false}, s3 = {1, 2, 100, 1, true}, s4 = {0, 6, 7, 1, false};
    GC("slice [17, 3] dim 0 1:17:3", f_slice, &s1, P(NB_SHAPE(17, 3)));
    GC("slice [3, 17] dim -1 -5:-1:2", f_slice, &s2, P(NB_SHAPE(3, 17)));
    GC("slice transpose([7, 3]) dim 1 2:100", f_slice, &s3, P(NB_SHAPE(7, 3)));
    GC("slice [7] 6:7", f_slice, &s4, P(NB_SHAPE(7)));
    GC("slice of a slice", f_slice_slice, NULL, P(NB_SHAPE(17)));
    GC("empty slice concatenated", f_slice_empty, NULL, P(NB_SHAPE(7, 3)));
    double_ud d = {f_slice, &s1, 1};
    GC("slice second derivative", f_double, &d, P(NB_SHAPE(17, 3)), V(6, 3));
}

/* slice_backward is internal: it is what backward of slice records. Its forward is the gradient of a
 * slice written into zeros; checked here as a function of the output gradient g (in[0]), with the
 * sliced tensor a fresh leaf x created inside. Its own backward (a slice) is what this checks. */
static tp f_slice_backward(tp const *in, void *ud) {
    slice_ud *s = ud;
    tp g = in[0];
    int64_t shape[2] = {s->transpose ? 3 : 17, s->transpose ? 17 : 3};
    tp x = nb_param(nb_zeros(2, shape, NB_F64));
    tp y = nb_slice(x, s->dim, s->start, s->end, s->step);
    nb_autograd_opts o = {.grad_outputs = &g, .create_graph = true};
    tp gx;
    if (nb_autograd_grad(&y, 1, &x, 1, &o, &gx) != 0) return NULL;
    return nb_retain(gx);
}
/* and its second derivative: g -> slice_backward(g) -> d/dg again, through a non-linear function */
static tp f_slice_backward_sq(tp const *in, void *ud) {
    tp gx = f_slice_backward(in, ud);
    return nb_mul(gx, gx);
}
static void case_slice_backward(void) {
    slice_ud s1 = {0, 1, 17, 3, false}, s2 = {1, 3, 17, 2, true}, s3 = {0, 2, 2, 1, false};
    GC("slice_backward of slice [17, 3] dim 0 1:17:3", f_slice_backward, &s1, P(NB_SHAPE(6, 3)));
    GC("slice_backward of slice [3, 17] dim 1 3:17:2", f_slice_backward, &s2, P(NB_SHAPE(3, 7)));
    GC("slice_backward of an empty slice", f_slice_backward_sq, &s3, P(NB_SHAPE(0, 3)));
    GC("slice_backward squared", f_slice_backward_sq, &s1, P(NB_SHAPE(6, 3)));
    EXPECT_FN("the gradient of a slice is slice_backward", "SliceBackwardBackward", f_slice_backward, &s1,
              P(NB_SHAPE(6, 3)));
}

typedef struct expand_ud {
    int nd;
    int64_t shape[4];
    bool transpose;
} expand_ud;
static tp f_expand(tp const *in, void *ud) {
    expand_ud *e = ud;
    return nb_expand(e->transpose ? nb_transpose(in[0], 0, 1) : in[0], e->nd, e->shape);
}
static void case_expand(void) {
    expand_ud e1 = {3, {3, 7, 17}, false}, e2 = {2, {2, 17}, false}, e3 = {2, {-1, 5}, false},
              e4 = {3, {2, 1, 7}, true}, e5 = {1, {1}, false};
    GC("expand [7, 1] to [3, 7, 17]", f_expand, &e1, P(NB_SHAPE(7, 1)));
    GC("expand [17] to [2, 17]", f_expand, &e2, P(NB_SHAPE(17)));
    GC("expand [7, 1] to [-1, 5]", f_expand, &e3, P(NB_SHAPE(7, 1)));
    GC("expand transpose([7, 1]) to [2, 1, 7]", f_expand, &e4, P(NB_SHAPE(7, 1)));
    GC("expand 0-d to [1]", f_expand, &e5, P(NB_SCALAR));
    double_ud d = {f_expand, &e1, 1};
    GC("expand second derivative", f_double, &d, P(NB_SHAPE(7, 1)), V(3, 7, 17));
}

typedef struct cat_ud {
    int dim;
} cat_ud;
static tp f_cat3(tp const *in, void *ud) {
    cat_ud *c = ud;
    tp xs[3] = {in[0], c->dim == 1 ? nb_transpose(in[1], 0, 1) : in[1], in[2]};
    return nb_cat(xs, 3, c->dim);
}
static tp f_cat1(tp const *in, void *ud) { return (void)ud, nb_cat(in, 1, -1); }
static void case_cat(void) {
    cat_ud c0 = {0}, c1 = {1};
    GC("cat 3 inputs dim 0 ([1, 3], [7, 3], [2, 3])", f_cat3, &c0, P(NB_SHAPE(1, 3)), P(NB_SHAPE(7, 3)), P(NB_SHAPE(2, 3)));
    GC("cat 3 inputs dim 1 ([3, 2], transpose([7, 3]), [3, 1])", f_cat3, &c1, P(NB_SHAPE(3, 2)), P(NB_SHAPE(7, 3)),
       P(NB_SHAPE(3, 1)));
    GC("cat 3 inputs with a constant in the middle", f_cat3, &c0, P(NB_SHAPE(2, 7)), nb_randn(NB_SHAPE(1, 7), NB_F64),
       P(NB_SHAPE(3, 7)));
    GC("cat 1 input", f_cat1, NULL, P(NB_SHAPE(7)));
    double_ud d = {f_cat3, &c0, 3};
    GC("cat second derivative", f_double, &d, P(NB_SHAPE(1, 3)), P(NB_SHAPE(2, 3)), P(NB_SHAPE(1, 3)), V(4, 3));
}

static tp f_clone_t(tp const *in, void *ud) { return (void)ud, nb_clone(nb_transpose(in[0], 0, 1)); }
static tp f_contiguous_t(tp const *in, void *ud) { return (void)ud, nb_contiguous(nb_slice(in[0], 0, 0, 17, 2)); }
static tp f_clone_mul(tp const *in, void *ud) { return (void)ud, nb_mul(nb_clone(in[0]), in[0]); }
static void case_clone(void) {
    GC("clone of transpose([7, 3])", f_clone_t, NULL, P(NB_SHAPE(7, 3)));
    GC("contiguous of a strided slice", f_contiguous_t, NULL, P(NB_SHAPE(17, 3)));
    GC("clone(x) * x", f_clone_mul, NULL, P(NB_SHAPE(7)));
    EXPECT_FN("clone records CloneBackward", "CloneBackward", f_clone_t, NULL, P(NB_SHAPE(7, 3)));
}

static tp f_to_round_trip(tp const *in, void *ud) { return (void)ud, nb_to(nb_to(in[0], NB_F32), NB_F64); }
static tp f_to_mixed(tp const *in, void *ud) { /* f32 * f64 promotes; the gradient returns through to */
    (void)ud;
    return nb_mul(nb_to(nb_transpose(in[0], 0, 1), NB_F32), in[1]);
}
static void case_to(void) {
    /* f32 in the middle: values round to f32, so use a wide step (the function is linear anyway) */
    nb_gradcheck_opts o = {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-3};
    GC_OPTS("to f64 -> f32 -> f64 [7, 3]", &o, f_to_round_trip, NULL, P(NB_SHAPE(7, 3)));
    GC_OPTS("to f32 of a transpose times f64", &o, f_to_mixed, NULL, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3, 7)));
    EXPECT_FN("to records ToCopyBackward", "ToCopyBackward", f_to_round_trip, NULL, P(NB_SHAPE(7)));
}


/* ---- convolution and pooling ------------------------------------------------------------------- */

typedef struct conv_ud {
    nb_conv_opts o;
    bool bias;      /* in[2] is the bias */
    bool transpose; /* feed x as a (H, W)-transposed view */
} conv_ud;
static tp f_conv(tp const *in, void *ud) {
    conv_ud *c = ud;
    tp x = c->transpose ? nb_transpose(in[0], 2, 3) : in[0];
    return nb_conv2d(x, in[1], c->bias ? in[2] : NULL, &c->o);
}
static void case_conv2d(void) {
    conv_ud plain = {.bias = true}, strided = {.o = {.stride = {2, 1}, .padding = {1, 2}}, .bias = false},
            dil = {.o = {.dilation = {2}, .padding = {2}}, .bias = true},
            grp = {.o = {.groups = 3, .same = true}, .bias = true}, tr = {.o = {.stride = {2}}, .transpose = true};
    GC("conv2d [2,3,7,6] * [4,3,3,2] + bias", f_conv, &plain, P(NB_SHAPE(2, 3, 7, 6)), P(NB_SHAPE(4, 3, 3, 2)),
       P(NB_SHAPE(4)));
    GC("conv2d stride (2,1) padding (1,2)", f_conv, &strided, P(NB_SHAPE(1, 2, 7, 5)), P(NB_SHAPE(3, 2, 3, 3)));
    GC("conv2d dilation 2 padding 2", f_conv, &dil, P(NB_SHAPE(2, 1, 6, 7)), P(NB_SHAPE(2, 1, 3, 3)), P(NB_SHAPE(2)));
    GC("conv2d groups 3 (depthwise x2) same", f_conv, &grp, P(NB_SHAPE(1, 3, 5, 5)), P(NB_SHAPE(6, 1, 3, 3)),
       P(NB_SHAPE(6)));
    GC("conv2d of a transposed input, stride 2", f_conv, &tr, P(NB_SHAPE(1, 2, 6, 7)), P(NB_SHAPE(2, 2, 2, 2)));
}
/* Second derivatives of conv2d differentiate its two gradient ops. */
static void conv_grad_cases(const char *name) {
    char what[96];
    conv_ud plain = {.bias = false}, strided = {.o = {.stride = {2}, .padding = {1}, .groups = 2}};
    double_ud d1 = {f_conv, &plain, 2}, d2 = {f_conv, &strided, 2};
    snprintf(what, sizeof what, "%s: second derivative of conv2d", name);
    GC(what, f_double, &d1, P(NB_SHAPE(2, 2, 5, 4)), P(NB_SHAPE(3, 2, 3, 2)), V(2, 3, 3, 3));
    snprintf(what, sizeof what, "%s: second derivative of a strided grouped conv2d", name);
    GC(what, f_double, &d2, P(NB_SHAPE(1, 4, 6, 5)), P(NB_SHAPE(2, 2, 3, 3)), V(1, 2, 3, 3));
}
static tp f_conv_dx(tp const *in, void *ud) { /* the input gradient itself, as a function of (x, w, v) */
    tp y = f_conv(in, ud), v = in[2], g;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, in, 1, &o, &g) != 0) return NULL;
    return nb_retain(g);
}
static tp f_conv_dw(tp const *in, void *ud) {
    tp y = f_conv(in, ud), v = in[2], g;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, &in[1], 1, &o, &g) != 0) return NULL;
    return nb_retain(g);
}
static void case_conv2d_input_grad(void) {
    conv_grad_cases("conv2d_input_grad");
    conv_ud plain = {.bias = false};
    EXPECT_FN("the input gradient of conv2d is conv2d_input_grad", "ConvolutionBackwardInput", f_conv_dx, &plain,
              P(NB_SHAPE(1, 2, 4, 4)), P(NB_SHAPE(3, 2, 3, 3)), V(1, 3, 2, 2));
}
static void case_conv2d_weight_grad(void) {
    conv_grad_cases("conv2d_weight_grad");
    conv_ud plain = {.bias = false};
    EXPECT_FN("the weight gradient of conv2d is conv2d_weight_grad", "ConvolutionBackwardWeight", f_conv_dw, &plain,
              P(NB_SHAPE(1, 2, 4, 4)), P(NB_SHAPE(3, 2, 3, 3)), V(1, 3, 2, 2));
}

static tp first_sample(tp x) { return nb_squeeze(nb_slice(x, 0, 0, 1, 1), 0); }

typedef struct pool_ud {
    nb_pool_opts o;
    bool unbatched;
} pool_ud;
static tp f_pool(tp const *in, void *ud) {
    pool_ud *p = ud;
    return nb_max_pool2d(p->unbatched ? first_sample(in[0]) : in[0], &p->o);
}
static void case_max_pool2d(void) {
    pool_ud k2 = {.o = {.kernel = {2}}}, k3 = {.o = {.kernel = {3}, .stride = {2}, .padding = {1}, .ceil_mode = true}},
            dil = {.o = {.kernel = {2, 3}, .dilation = {2, 1}}}, un = {.o = {.kernel = {2}}, .unbatched = true};
    GC("max_pool2d 2x2 on [2,3,7,6]", f_pool, &k2, Plattice(NB_SHAPE(2, 3, 7, 6), 1, false));
    GC("max_pool2d 3x3 stride 2 pad 1 ceil", f_pool, &k3, Plattice(NB_SHAPE(1, 2, 7, 7), 2, false));
    GC("max_pool2d (2,3) dilation (2,1)", f_pool, &dil, Plattice(NB_SHAPE(1, 1, 7, 8), 3, false));
    GC("max_pool2d on (C, H, W)", f_pool, &un, Plattice(NB_SHAPE(1, 3, 5, 4), 4, false));
}
/* (x, v1): the pooling gradient scatter(v1), squared so its own gradient (pool_gather) matters */
static tp f_pool_scatter(tp const *in, void *ud) {
    tp y = f_pool(in, ud), v = in[1], g;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, in, 1, &o, &g) != 0) return NULL;
    return nb_mul(g, g);
}
/* (x, v1, v2): the gradient of scatter(v1) in v1 along v2 is pool_gather(v2); squared */
static tp f_pool_gather(tp const *in, void *ud) {
    tp y = f_pool(in, ud), v1 = in[1], v2 = in[2], g1, g2;
    nb_autograd_opts o1 = {.grad_outputs = &v1, .create_graph = true}, o2 = {.grad_outputs = &v2, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, in, 1, &o1, &g1) != 0) return NULL;
    if (nb_autograd_grad(&g1, 1, &in[1], 1, &o2, &g2) != 0) return NULL;
    return nb_mul(g2, g2);
}
static void case_max_pool2d_backward(void) {
    pool_ud k2 = {.o = {.kernel = {2}}}, k3 = {.o = {.kernel = {3}, .stride = {2}, .padding = {1}}};
    GC("max_pool2d_backward: gradient of the 2x2 pooling gradient", f_pool_scatter, &k2,
       Plattice(NB_SHAPE(1, 2, 4, 5), 5, false), V(1, 2, 2, 2));
    GC("max_pool2d_backward: overlapping 3x3 windows", f_pool_scatter, &k3, Plattice(NB_SHAPE(1, 1, 7, 6), 6, false),
       V(1, 1, 4, 3));
}
static void case_pool_gather(void) {
    pool_ud k3 = {.o = {.kernel = {3}, .stride = {2}, .padding = {1}}};
    GC("pool_gather: gradient of the pooling gradient's gradient", f_pool_gather, &k3,
       Plattice(NB_SHAPE(1, 2, 5, 6), 7, false), V(1, 2, 3, 3), V(1, 2, 5, 6));
}

/* ---- batch normalisation ------------------------------------------------------------------------ */

typedef struct bn_ud {
    bool weight, bias, training;
    bool transpose; /* x is given as (C, N, ...) and transposed to (N, C, ...) */
    tp rm, rv;      /* running statistics (constants), or NULL */
} bn_ud;
/* in: x, then weight and bias when present */
static tp f_bn(tp const *in, void *ud) {
    bn_ud *u = ud;
    int i = 1;
    tp w = u->weight ? in[i++] : NULL, b = u->bias ? in[i++] : NULL;
    tp x = u->transpose ? nb_transpose(in[0], 0, 1) : in[0];
    return nb_batch_norm(x, u->rm, u->rv, w, b, u->training, 0.1, 1e-5);
}
/* evaluation with running statistics that require grad: in = x, running_mean, running_var, w, b */
static tp f_bn_rs(tp const *in, void *ud) {
    (void)ud;
    return nb_batch_norm(in[0], in[1], in[2], in[3], in[4], false, 0.1, 1e-5);
}
static tp Pvar(int nd, const int64_t *shape) { return nb_add_scalar(nb_rand(nd, shape, NB_F64), 0.5); }

static void case_batch_norm(void) {
    bn_ud wb = {.weight = true, .bias = true, .training = true}, none = {.training = true},
          w_only = {.weight = true, .training = true}, b_only = {.bias = true, .training = true},
          tr = {.weight = true, .bias = true, .training = true, .transpose = true};
    GC("batch_norm (N, C) [5, 3] weight bias training", f_bn, &wb, P(NB_SHAPE(5, 3)), P(NB_SHAPE(3)), P(NB_SHAPE(3)));
    GC("batch_norm [2, 3, 4, 3] weight bias training", f_bn, &wb, P(NB_SHAPE(2, 3, 4, 3)), P(NB_SHAPE(3)),
       P(NB_SHAPE(3)));
    GC("batch_norm [2, 2, 6, 6] (long runs) weight bias training", f_bn, &wb, P(NB_SHAPE(2, 2, 6, 6)), P(NB_SHAPE(2)),
       P(NB_SHAPE(2)));
    GC("batch_norm [3, 2, 5] no weight, no bias, training", f_bn, &none, P(NB_SHAPE(3, 2, 5)));
    GC("batch_norm [2, 2, 2, 2, 3] weight only, training", f_bn, &w_only, P(NB_SHAPE(2, 2, 2, 2, 3)), P(NB_SHAPE(2)));
    GC("batch_norm [7, 2] bias only, training", f_bn, &b_only, P(NB_SHAPE(7, 2)), P(NB_SHAPE(2)));
    GC("batch_norm of a transposed input [3, 4, 5]", f_bn, &tr, P(NB_SHAPE(3, 4, 5)), P(NB_SHAPE(3)), P(NB_SHAPE(3)));
    bn_ud run = {.weight = true, .bias = true, .training = true, .rm = nb_zeros(NB_SHAPE(3), NB_F64),
                 .rv = nb_ones(NB_SHAPE(3), NB_F64)};
    GC("batch_norm training with running statistics updated", f_bn, &run, P(NB_SHAPE(4, 3, 2)), P(NB_SHAPE(3)),
       P(NB_SHAPE(3)));
    bn_ud ev = {.weight = true, .bias = true, .rm = nb_randn(NB_SHAPE(3), NB_F64), .rv = Pvar(NB_SHAPE(3))};
    bn_ud ev0 = {.rm = ev.rm, .rv = ev.rv};
    GC("batch_norm evaluation (N, C) [5, 3] weight bias", f_bn, &ev, P(NB_SHAPE(5, 3)), P(NB_SHAPE(3)), P(NB_SHAPE(3)));
    GC("batch_norm evaluation [2, 3, 4, 3] weight bias", f_bn, &ev, P(NB_SHAPE(2, 3, 4, 3)), P(NB_SHAPE(3)),
       P(NB_SHAPE(3)));
    GC("batch_norm evaluation [1, 3, 6, 6] no weight, no bias", f_bn, &ev0, P(NB_SHAPE(1, 3, 6, 6)));
    GC("batch_norm evaluation with running statistics that require grad", f_bn_rs, NULL, P(NB_SHAPE(3, 2, 4)),
       P(NB_SHAPE(2)), nb_param(Pvar(NB_SHAPE(2))), P(NB_SHAPE(2)), P(NB_SHAPE(2)));
    EXPECT_FN("batch_norm records NativeBatchNormBackward", "NativeBatchNormBackward", f_bn, &wb, P(NB_SHAPE(5, 3)),
              P(NB_SHAPE(3)), P(NB_SHAPE(3)));
}

/* the gradient of batch_norm (in x, weight, bias) with grad_output v = in[n_x]: batch_norm_backward */
static tp f_bn_dx(tp const *in, void *ud) {
    tp y = f_bn(in, ud), v = in[1], g;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, in, 1, &o, &g) != 0) return NULL;
    return nb_retain(g);
}
static void case_batch_norm_backward(void) {
    bn_ud wb = {.weight = true, .bias = true, .training = true}, none = {.training = true},
          w_only = {.weight = true, .training = true}, tr = {.weight = true, .bias = true, .training = true, .transpose = true};
    double_ud d_wb = {f_bn, &wb, 3}, d_none = {f_bn, &none, 1}, d_w = {f_bn, &w_only, 2}, d_tr = {f_bn, &tr, 3};
    GC("batch_norm second derivative (N, C) [5, 3] weight bias training", f_double, &d_wb, P(NB_SHAPE(5, 3)),
       P(NB_SHAPE(3)), P(NB_SHAPE(3)), V(5, 3));
    GC("batch_norm second derivative [2, 3, 3, 2] weight bias training", f_double, &d_wb, P(NB_SHAPE(2, 3, 3, 2)),
       P(NB_SHAPE(3)), P(NB_SHAPE(3)), V(2, 3, 3, 2));
    GC("batch_norm second derivative [2, 2, 6, 6] (long runs) training", f_double, &d_wb, P(NB_SHAPE(2, 2, 6, 6)),
       P(NB_SHAPE(2)), P(NB_SHAPE(2)), V(2, 2, 6, 6));
    GC("batch_norm second derivative [3, 2, 4] no weight, no bias, training", f_double, &d_none, P(NB_SHAPE(3, 2, 4)),
       V(3, 2, 4));
    GC("batch_norm second derivative (N, C) [6, 2] weight only, training", f_double, &d_w, P(NB_SHAPE(6, 2)),
       P(NB_SHAPE(2)), V(6, 2));
    GC("batch_norm second derivative of a transposed input", f_double, &d_tr, P(NB_SHAPE(3, 4, 2)), P(NB_SHAPE(3)),
       P(NB_SHAPE(3)), V(4, 3, 2));
    bn_ud ev = {.weight = true, .bias = true, .rm = nb_randn(NB_SHAPE(3), NB_F64), .rv = Pvar(NB_SHAPE(3))};
    bn_ud ev0 = {.rm = ev.rm, .rv = ev.rv};
    double_ud d_ev = {f_bn, &ev, 3}, d_ev0 = {f_bn, &ev0, 1};
    GC("batch_norm second derivative (N, C) [5, 3] weight bias evaluation", f_double, &d_ev, P(NB_SHAPE(5, 3)),
       P(NB_SHAPE(3)), P(NB_SHAPE(3)), V(5, 3));
    GC("batch_norm second derivative [2, 3, 2, 3] weight bias evaluation", f_double, &d_ev, P(NB_SHAPE(2, 3, 2, 3)),
       P(NB_SHAPE(3)), P(NB_SHAPE(3)), V(2, 3, 2, 3));
    GC("batch_norm second derivative [2, 3, 4] no weight, no bias, evaluation", f_double, &d_ev0, P(NB_SHAPE(2, 3, 4)),
       V(2, 3, 4));
    /* third derivative: the gradient of the double backward (x, w, b, v1; v2) */
    double_ud d3 = {f_double, &d_wb, 4};
    GC("batch_norm third derivative [3, 2, 2] weight bias training", f_double, &d3, P(NB_SHAPE(3, 2, 2)),
       P(NB_SHAPE(2)), P(NB_SHAPE(2)), V(3, 2, 2), V(16));
    bn_ud plain = {.training = true};
    EXPECT_FN("the input gradient of batch_norm is batch_norm_backward", "NativeBatchNormBackwardBackward", f_bn_dx,
              &plain, P(NB_SHAPE(4, 3)), V(4, 3));
}

/* ---- the table ------------------------------------------------------------------------------ */

const grad_case gc_cases_core[] = {
    {"neg", case_neg},
    {"abs", case_abs},
    {"exp", case_exp},
    {"log", case_log},
    {"sqrt", case_sqrt},
    {"tanh", case_tanh},
    {"sigmoid", case_sigmoid},
    {"relu", case_relu},
    {"add", case_add},
    {"sub", case_sub},
    {"mul", case_mul},
    {"div", case_div},
    {"pow", case_pow},
    {"maximum", case_maximum},
    {"minimum", case_minimum},
    {"where", case_where},
    {"sum", case_sum},
    {"mean", case_mean},
    {"max", case_max},
    {"min", case_min},
    {"matmul", case_matmul},
    {"softmax", case_softmax},
    {"log_softmax", case_log_softmax},
    {"nll_loss", case_nll_loss},
    {"reshape", case_reshape},
    {"permute", case_permute},
    {"slice", case_slice},
    {"slice_backward", case_slice_backward},
    {"expand", case_expand},
    {"cat", case_cat},
    {"clone", case_clone},
    {"to", case_to},
    {"conv2d", case_conv2d},
    {"conv2d_input_grad", case_conv2d_input_grad},
    {"conv2d_weight_grad", case_conv2d_weight_grad},
    {"max_pool2d", case_max_pool2d},
    {"max_pool2d_backward", case_max_pool2d_backward},
    {"pool_gather", case_pool_gather},
    {"batch_norm", case_batch_norm},
    {"batch_norm_backward", case_batch_norm_backward},
    {NULL, NULL},
};

static const grad_case *const k_tables[] = {gc_cases_core,    gc_cases_pointwise, gc_cases_reductions, gc_cases_indexing,
                                            gc_cases_layout,
                                            gc_cases_spatial, gc_cases_neural,    gc_cases_losses};
#define N_TABLES (int)(sizeof k_tables / sizeof k_tables[0])
#define FOR_EACH_CASE(c)                                                                                    \
    for (int t_ = 0; t_ < N_TABLES; t_++)                                                                  \
        for (const grad_case *c = k_tables[t_]; c->op; c++)

static const grad_case *find_case(const char *op) {
    FOR_EACH_CASE(c) if (strcmp(c->op, op) == 0) return c;
    return NULL;
}

static int g_covered, g_differentiable;

/* THE rule: every differentiable registry op has a case; every case names a differentiable op. */
static void test_registry_coverage(void) {
    int n = nb_op_count();
    CHECK(n > 0);
    g_covered = g_differentiable = 0;
    for (int i = 0; i < n; i++) {
        nb_op_info info;
        CHECK(nb_op_get_info(i, &info) == 0);
        if (!info.differentiable) continue;
        g_differentiable++;
        const grad_case *c = find_case(info.name);
        CHECK_MSG(c != NULL,
                  "differentiable op \"%s\" (%s) has no gradient-check case: add one to its family's table in "
                  "tests/gradcheck/",
                  info.name, info.torch);
        if (c) g_covered++;
    }
    /* composite functions (NB_FUNC lines in the .def files of src/ops) that pass gradients need cases too */
    bool func_has_case[256] = {false};
    for (int i = 0; i < nb_func_count() && i < 256; i++) {
        nb_func_info f;
        CHECK(nb_func_get_info(i, &f) == 0);
        CHECK_MSG(nb_op_find(f.name) < 0, "composite function \"%s\" has the name of a registry op", f.name);
        if (!f.differentiable) continue;
        g_differentiable++;
        const grad_case *c = find_case(f.name);
        CHECK_MSG(c != NULL, "differentiable function nb_%s (%s) has no gradient-check case in tests/gradcheck/", f.name,
                  f.torch);
        if (c) g_covered++, func_has_case[i] = true;
    }
    CHECK(nb_func_count() <= 256);
    FOR_EACH_CASE(c) {
        int i = nb_op_find(c->op);
        bool is_func = false;
        for (int k = 0; k < nb_func_count() && k < 256 && !is_func; k++) {
            nb_func_info f;
            is_func = nb_func_get_info(k, &f) == 0 && strcmp(f.name, c->op) == 0 && func_has_case[k];
        }
        CHECK_MSG(i >= 0 || is_func, "a case names \"%s\", which is neither a registered op nor a differentiable function",
                  c->op);
        nb_op_info info;
        if (i >= 0 && nb_op_get_info(i, &info) == 0)
            CHECK_MSG(info.differentiable, "a case names \"%s\", which is not differentiable", c->op);
        CHECK_MSG(find_case(c->op) == c, "\"%s\" has two cases", c->op);
    }
    CHECK(nb_op_find("no such op") == -1);
    nb_op_info bad;
    CHECK(nb_op_get_info(n, &bad) != 0);
    nb_clear_error();
}

/* The checker itself must be able to fail: x * detach(x) has a wrong analytic gradient (x instead
 * of 2x), and a case built on it must be reported with the input and index. */
static tp f_wrong(tp const *in, void *ud) { return (void)ud, nb_mul(in[0], nb_detach(in[0])); }
static tp f_not_f64(tp const *in, void *ud) { return (void)ud, nb_neg(in[0]); }
static void test_gradcheck_detects_errors(void) {
    tp x = nb_param(nb_add_scalar(nb_rand(NB_SHAPE(7), NB_F64), 0.5));
    tp in[1] = {x};
    CHECK_RC_WITH(nb_gradcheck(f_wrong, in, 1, NULL, NULL), "nb_gradcheck", "input #1", "analytic", "numerical");
    tp xf = nb_param(nb_randn(NB_SHAPE(3), NB_F32));
    tp inf[1] = {xf};
    CHECK_RC_WITH(nb_gradcheck(f_not_f64, inf, 1, NULL, NULL), "f64");
    tp c = nb_randn(NB_SHAPE(3), NB_F64);
    tp inc[1] = {c};
    CHECK_RC_WITH(nb_gradcheck(f_not_f64, inc, 1, NULL, NULL), "no input requires grad");
    /* and does not disturb the inputs or the caller's random stream */
    double before = h_get(x, NB_LIST(3));
    nb_manual_seed(5);
    double r1 = nb_item(nb_randn(NB_SCALAR, NB_F64));
    nb_manual_seed(5);
    CHECK(nb_gradcheck(f_not_f64, in, 1, NULL, NULL) == 0);
    CHECK(nb_item(nb_randn(NB_SCALAR, NB_F64)) == r1);
    CHECK(h_get(x, NB_LIST(3)) == before);
}

static const grad_case *g_case;
static void run_case(void) {
    harness_current = g_case->op;
    int before = harness_failures;
    g_case->run();
    if (harness_failures != before) fprintf(stderr, "  (op %s: %d failures)\n", g_case->op, harness_failures - before);
}

int main(void) {
    nb_manual_seed(1234);
    RUN(test_gradcheck_detects_errors);
    RUN(test_registry_coverage);
    FOR_EACH_CASE(c) {
        g_case = c;
        RUN(run_case);
    }
    fprintf(stderr, "gradient coverage: %d of %d differentiable registry ops and functions have cases; %d nb_gradcheck runs\n",
            g_covered, g_differentiable, g_gradchecks);
    return harness_finish();
}
