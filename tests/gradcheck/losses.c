/* tests/gradcheck/losses.c — gradient-check cases for the ops in src/ops/losses.def (linked into
 * test_gradcheck; see tests/gradcheck.h). Targets get gradients where PyTorch gives them (mse, l1,
 * smooth_l1, huber, BCE, BCE with logits, kl_div, probability targets of cross_entropy). Kinks are kept
 * away from eps with lattices (an even and an odd lattice differ by at least 0.01). */
#include "../gradcheck.h"

typedef enum lk {
    LK_CE, LK_NLL, LK_MSE, LK_L1, LK_SMOOTH_L1, LK_HUBER, LK_BCE, LK_BCEL, LK_KL, LK_RANK, LK_COS, LK_TRIPLET, LK_HINGE,
    LK_SOFT_MARGIN, LK_POISSON, LK_GAUSSIAN
} lk;

/* One checked loss call: args[i] is the index into the inputs of argument i (-1: NULL); view is applied
 * to argument 0 (see view_of). */
typedef struct loss_case {
    lk kind;
    nb_reduction r;
    int args[4];
    int view;
    double a, b, c; /* beta / delta / margin; triplet: margin, p, eps */
    bool flag;      /* kl_div log_target; triplet swap */
    nb_cross_entropy_opts ce;
} loss_case;

static tp arg(tp const *in, const loss_case *l, int i) { return l->args[i] >= 0 ? in[l->args[i]] : NULL; }

static tp f_loss_case(tp const *in, void *ud) {
    const loss_case *l = ud;
    tp x = view_of(arg(in, l, 0), l->view), t = arg(in, l, 1), w = arg(in, l, 2), pw = arg(in, l, 3);
    switch (l->kind) {
    case LK_CE: return nb_cross_entropy(x, t, &l->ce);
    case LK_NLL: return nb_nll_loss(x, t, &l->ce);
    case LK_MSE: return nb_mse_loss(x, t, l->r);
    case LK_L1: return nb_l1_loss(x, t, l->r);
    case LK_SMOOTH_L1: return nb_smooth_l1_loss(x, t, l->r, l->a);
    case LK_HUBER: return nb_huber_loss(x, t, l->r, l->a);
    case LK_BCE: return nb_binary_cross_entropy(x, t, w, l->r);
    case LK_BCEL: return nb_binary_cross_entropy_with_logits(x, t, w, pw, l->r);
    case LK_KL: return nb_kl_div(x, t, l->r, l->flag);
    case LK_RANK: return nb_margin_ranking_loss(x, t, w, l->a, l->r);
    case LK_COS: return nb_cosine_embedding_loss(x, t, w, l->a, l->r);
    case LK_TRIPLET: return nb_triplet_margin_loss(x, t, w, l->a, l->b, l->c, l->flag, l->r);
    case LK_HINGE: return nb_hinge_embedding_loss(x, t, l->a, l->r);
    case LK_SOFT_MARGIN: return nb_soft_margin_loss(x, t, l->r);
    case LK_POISSON: return nb_poisson_nll_loss(x, t, l->flag, l->a != 0, 1e-8, l->r);
    case LK_GAUSSIAN: return nb_gaussian_nll_loss(x, t, w, l->flag, 1e-6, l->r);
    }
    return NULL;
}

static const nb_reduction k_reds[] = {NB_REDUCTION_MEAN, NB_REDUCTION_SUM, NB_REDUCTION_NONE};
static const char *const k_red_names[] = {"mean", "sum", "none"};

/* Inputs in (0.1, 0.9): BCE probabilities away from the clamps. */
static tp Pprob(int nd, const int64_t *shape) {
    return nb_param(nb_add_scalar(nb_mul_scalar(nb_rand(nd, shape, NB_F64), 0.8), 0.1));
}
static tp C(tp t) { return nb_detach(t); } /* a constant (no gradient) */
static tp Pm1(int nd, const int64_t *shape, int salt) { /* +-1 constants */
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = ((i * 7 + salt) % 3) ? 1.0 : -1.0;
    tp t = nb_from_data(v, nd, shape, NB_F64);
    free(v);
    return t;
}

#define WHAT(...) snprintf(what, sizeof what, __VA_ARGS__)

/* ---- cross_entropy (and weighted nll_loss, whose registry case lives in test_gradcheck.c) ---------- */

static void case_cross_entropy(void) {
    char what[160];
    static const int64_t t5[] = {0, 3, 2, 1, 3}, t5i[] = {0, 3, 2, 2, 1}, t32[] = {3, 0, 1, 2, 2, 0};
    tp target = I64(NB_SHAPE(5), t5), target_ig = I64(NB_SHAPE(5), t5i), target3 = I64(NB_SHAPE(3, 2), t32);
    tp w = nb_from_data((const double[]){0.5, 2.0, 1.0, 1.5}, NB_SHAPE(4), NB_F64);
    for (int r = 0; r < 3; r++) {
        nb_reduction red = k_reds[r];
        loss_case l = {.kind = LK_CE, .args = {0, 1, -1, -1}, .ce = {.reduction = red, .weight = w}};
        WHAT("cross_entropy [5, 4] weighted %s", k_red_names[r]);
        GC(what, f_loss_case, &l, P(NB_SHAPE(5, 4)), target);
        l.kind = LK_NLL;
        WHAT("nll_loss [5, 4] weighted %s", k_red_names[r]);
        GC(what, f_loss_case, &l, P(NB_SHAPE(5, 4)), target);
        loss_case ls = {.kind = LK_CE, .args = {0, 1, -1, -1},
                        .ce = {.reduction = red, .label_smoothing = 0.2, .use_ignore_index = true, .ignore_index = 2}};
        WHAT("cross_entropy [5, 4] label_smoothing ignore_index %s", k_red_names[r]);
        GC(what, f_loss_case, &ls, P(NB_SHAPE(5, 4)), target_ig);
        ls.ce.weight = w;
        WHAT("cross_entropy [5, 4] label_smoothing weight ignore_index %s", k_red_names[r]);
        GC(what, f_loss_case, &ls, P(NB_SHAPE(5, 4)), target_ig);
        WHAT("cross_entropy transpose([4, 3, 2]) (N, C, d) label_smoothing weight %s", k_red_names[r]);
        loss_case lkd = ls;
        lkd.view = 1;
        GC(what, f_loss_case, &lkd, P(NB_SHAPE(4, 3, 2)), target3);
        /* probability targets: gradients for both */
        loss_case lp = {.kind = LK_CE, .args = {0, 1, -1, -1}, .ce = {.reduction = red}};
        WHAT("cross_entropy [7, 3] probability target %s", k_red_names[r]);
        GC(what, f_loss_case, &lp, P(NB_SHAPE(7, 3)), Ppos(NB_SHAPE(7, 3)));
        lp.ce.weight = nb_from_data((const double[]){0.5, 2.0, 1.0}, NB_SHAPE(3), NB_F64);
        lp.ce.label_smoothing = 0.3;
        lp.view = 2;
        WHAT("cross_entropy slice([3, 3, 5], step 2) probability target weight smoothing %s", k_red_names[r]);
        GC(what, f_loss_case, &lp, P(NB_SHAPE(3, 3, 5)), Ppos(NB_SHAPE(3, 3, 2)));
    }
    loss_case l1 = {.kind = LK_CE, .args = {0, 1, -1, -1}, .ce = {.label_smoothing = 0.1}};
    GC("cross_entropy [3] 0-d target smoothing", f_loss_case, &l1, P(NB_SHAPE(3)), nb_scalar(2, NB_I64));
    /* second derivatives: inputs (x[, t], v, constants) */
    loss_case d1 = {.kind = LK_CE, .args = {0, 2, -1, -1},
                    .ce = {.label_smoothing = 0.2, .weight = w, .use_ignore_index = true, .ignore_index = 2}};
    double_ud dd1 = {f_loss_case, &d1, 1};
    GC("cross_entropy second derivative smoothing weight", f_double, &dd1, P(NB_SHAPE(5, 4)), V0, target_ig);
    loss_case d2 = {.kind = LK_CE, .args = {0, 1, -1, -1}, .ce = {.reduction = NB_REDUCTION_NONE, .label_smoothing = 0.1}};
    double_ud dd2 = {f_loss_case, &d2, 2};
    GC("cross_entropy second derivative probability target", f_double, &dd2, P(NB_SHAPE(5, 4)), Ppos(NB_SHAPE(5, 4)),
       V(5));
}

/* Inputs (x, v1, v2, constants): the gradient of <d loss/dx (grad_output v1), v2> with respect to x, so
 * that checking it checks the third derivative. */
static tp f_third(tp const *in, void *ud) {
    tp y = f_loss_case(in, ud), x = in[0], g1, g2;
    if (!y) return NULL;
    nb_autograd_opts o1 = {.grad_outputs = &in[1], .create_graph = true};
    if (nb_autograd_grad(&y, 1, &x, 1, &o1, &g1) != 0) return NULL;
    tp y2 = nb_sum(nb_mul(g1, in[2]), NULL);
    nb_autograd_opts o2 = {.create_graph = true};
    if (nb_autograd_grad(&y2, 1, &x, 1, &o2, &g2) != 0) return NULL;
    return nb_reshape(g2, NB_SHAPE(-1));
}

/* The fused op's gradient, cross_entropy_backward, differentiated again: with respect to the logits and
 * the incoming gradient v (inputs (x, v, target[, weight])). */
static void case_cross_entropy_backward(void) {
    char what[160];
    static const int64_t t7[] = {0, 2, 1, 2, 2, 0, 1};
    tp target = I64(NB_SHAPE(7), t7);
    tp w = nb_from_data((const double[]){0.5, 2.0, 1.5}, NB_SHAPE(3), NB_F64);
    for (int r = 0; r < 3; r++)
        for (int variant = 0; variant < 3; variant++) {
            loss_case l = {.kind = LK_CE, .args = {0, 2, -1, -1}, .ce = {.reduction = k_reds[r]}};
            if (variant >= 1) l.ce.weight = w;
            if (variant == 2) l.ce.use_ignore_index = true, l.ce.ignore_index = 2;
            l.view = variant == 2 ? 1 : 0;
            double_ud d = {f_loss_case, &l, 1};
            EXPECT_FN("cross_entropy fused", "CrossEntropyBackward", f_loss_case, &l,
                      variant == 2 ? P(NB_SHAPE(3, 7)) : P(NB_SHAPE(7, 3)), V(7), target);
            WHAT("cross_entropy_backward [7, 3] %s variant %d", k_red_names[r], variant);
            GC(what, f_double, &d, variant == 2 ? P(NB_SHAPE(3, 7)) : P(NB_SHAPE(7, 3)),
               k_reds[r] == NB_REDUCTION_NONE ? V(7) : V0, target);
        }
    loss_case l1 = {.kind = LK_CE, .args = {0, 2, -1, -1}, .ce = {.reduction = NB_REDUCTION_NONE}};
    double_ud d1 = {f_loss_case, &l1, 1};
    GC("cross_entropy_backward [5] 0-d target none", f_double, &d1, P(NB_SHAPE(5)), V0, nb_scalar(3, NB_I64));
    /* the third derivative goes through the registry ops of cross_entropy_backward's backward */
    loss_case l3 = {.kind = LK_CE, .r = NB_REDUCTION_NONE, .args = {0, 3, -1, -1},
                    .ce = {.weight = w, .reduction = NB_REDUCTION_NONE}};
    GC("cross_entropy third derivative", f_third, &l3, P(NB_SHAPE(4, 3)), V(4), V(4, 3), I64(NB_SHAPE(4), t7));
}

/* ---- elementwise regression losses ---------------------------------------------------------------- */

static void pair_cases(const char *name, lk kind, double a, bool kinked, bool dbl) {
    char what[160];
    for (int r = 0; r < 3; r++) {
        loss_case l = {.kind = kind, .r = k_reds[r], .args = {0, 1, -1, -1}, .a = a};
        tp (*mk)(int, const int64_t *, int, bool) = Plattice;
#define X(nd_shape, salt) (kinked ? mk(nd_shape, salt, false) : P(nd_shape))
#define T(nd_shape, salt) (kinked ? mk(nd_shape, salt, true) : P(nd_shape))
        WHAT("%s [1] %s", name, k_red_names[r]);
        GC(what, f_loss_case, &l, X(NB_SHAPE(1), 1), T(NB_SHAPE(1), 2));
        WHAT("%s [17, 3] %s", name, k_red_names[r]);
        GC(what, f_loss_case, &l, X(NB_SHAPE(17, 3), 3), T(NB_SHAPE(17, 3), 4));
        WHAT("%s [7, 1] [3] broadcast %s", name, k_red_names[r]);
        GC(what, f_loss_case, &l, X(NB_SHAPE(7, 1), 5), T(NB_SHAPE(3), 6));
        loss_case lt = l;
        lt.view = 1;
        WHAT("%s transpose([3, 7]) %s", name, k_red_names[r]);
        GC(what, f_loss_case, &lt, X(NB_SHAPE(3, 7), 7), T(NB_SHAPE(7, 3), 8));
        lt.view = 2;
        WHAT("%s slice([2, 9], step 2) with a constant target %s", name, k_red_names[r]);
        GC(what, f_loss_case, &lt, X(NB_SHAPE(2, 9), 9), C(T(NB_SHAPE(2, 4), 10)));
        if (dbl) {
            double_ud d = {f_loss_case, &l, 2};
            WHAT("%s second derivative %s", name, k_red_names[r]);
            GC(what, f_double, &d, X(NB_SHAPE(7, 3), 11), T(NB_SHAPE(7, 3), 12), k_reds[r] == NB_REDUCTION_NONE ? V(7, 3) : V0);
        }
#undef X
#undef T
    }
}

static void case_mse_loss(void) { pair_cases("mse_loss", LK_MSE, 0, false, true); }
static void case_l1_loss(void) { pair_cases("l1_loss", LK_L1, 0, true, false); }
static void case_smooth_l1_loss(void) {
    pair_cases("smooth_l1_loss beta 0.5", LK_SMOOTH_L1, 0.5, true, true);
    pair_cases("smooth_l1_loss beta 0 (L1)", LK_SMOOTH_L1, 0.0, true, false);
}
static void case_huber_loss(void) { pair_cases("huber_loss delta 0.5", LK_HUBER, 0.5, true, true); }

/* ---- binary cross entropy ------------------------------------------------------------------------ */

static void case_binary_cross_entropy(void) {
    char what[160];
    for (int r = 0; r < 3; r++) {
        loss_case l = {.kind = LK_BCE, .r = k_reds[r], .args = {0, 1, -1, -1}};
        WHAT("binary_cross_entropy [7] %s", k_red_names[r]);
        GC(what, f_loss_case, &l, Pprob(NB_SHAPE(7)), Pprob(NB_SHAPE(7)));
        loss_case lw = {.kind = LK_BCE, .r = k_reds[r], .args = {0, 1, 2, -1}, .view = 1};
        WHAT("binary_cross_entropy transpose([3, 17]) weight [3] %s", k_red_names[r]);
        GC(what, f_loss_case, &lw, Pprob(NB_SHAPE(3, 17)), Pprob(NB_SHAPE(17, 3)), C(Ppos(NB_SHAPE(3))));
        double_ud d = {f_loss_case, &l, 2};
        WHAT("binary_cross_entropy second derivative %s", k_red_names[r]);
        GC(what, f_double, &d, Pprob(NB_SHAPE(7)), Pprob(NB_SHAPE(7)), k_reds[r] == NB_REDUCTION_NONE ? V(7) : V0);
    }
}

static void case_binary_cross_entropy_with_logits(void) {
    char what[160];
    for (int r = 0; r < 3; r++) {
        loss_case l = {.kind = LK_BCEL, .r = k_reds[r], .args = {0, 1, -1, -1}};
        WHAT("binary_cross_entropy_with_logits [1] %s", k_red_names[r]);
        GC(what, f_loss_case, &l, P(NB_SHAPE(1)), Pprob(NB_SHAPE(1)));
        WHAT("binary_cross_entropy_with_logits [17, 3] %s", k_red_names[r]);
        GC(what, f_loss_case, &l, P(NB_SHAPE(17, 3)), Pprob(NB_SHAPE(17, 3)));
        loss_case lw = {.kind = LK_BCEL, .r = k_reds[r], .args = {0, 1, 2, 3}, .view = 2};
        WHAT("binary_cross_entropy_with_logits slice([7, 7], step 2) weight [7, 1] pos_weight [3] %s", k_red_names[r]);
        GC(what, f_loss_case, &lw, P(NB_SHAPE(7, 7)), Pprob(NB_SHAPE(7, 3)), C(Ppos(NB_SHAPE(7, 1))),
           C(Ppos(NB_SHAPE(3))));
        loss_case lp = {.kind = LK_BCEL, .r = k_reds[r], .args = {0, 1, -1, 2}};
        WHAT("binary_cross_entropy_with_logits pos_weight only %s", k_red_names[r]);
        GC(what, f_loss_case, &lp, nb_param(nb_mul_scalar(nb_randn(NB_SHAPE(5, 3), NB_F64), 4)), Pprob(NB_SHAPE(5, 3)),
           C(nb_mul_scalar(Ppos(NB_SHAPE(3)), 2)));
        loss_case lw0 = {.kind = LK_BCEL, .r = k_reds[r], .args = {0, 1, 3, 4}}; /* inputs (x, t, v, w, pw) */
        double_ud d = {f_loss_case, &lw0, 2};
        WHAT("binary_cross_entropy_with_logits second derivative weight pos_weight %s", k_red_names[r]);
        GC(what, f_double, &d, P(NB_SHAPE(7, 3)), Pprob(NB_SHAPE(7, 3)), k_reds[r] == NB_REDUCTION_NONE ? V(7, 3) : V0,
           C(Ppos(NB_SHAPE(7, 1))), C(Ppos(NB_SHAPE(3))));
    }
}

/* ---- kl_div --------------------------------------------------------------------------------------- */

static void case_kl_div(void) {
    char what[160];
    const nb_reduction reds[] = {NB_REDUCTION_MEAN, NB_REDUCTION_SUM, NB_REDUCTION_NONE, NB_REDUCTION_BATCHMEAN};
    const char *names[] = {"mean", "sum", "none", "batchmean"};
    for (int r = 0; r < 4; r++)
        for (int lt = 0; lt < 2; lt++) {
            loss_case l = {.kind = LK_KL, .r = reds[r], .args = {0, 1, -1, -1}, .flag = lt};
            WHAT("kl_div [7, 3] %s log_target=%d", names[r], lt);
            GC(what, f_loss_case, &l, P(NB_SHAPE(7, 3)), lt ? P(NB_SHAPE(7, 3)) : Ppos(NB_SHAPE(7, 3)));
            loss_case lv = l;
            lv.view = 1;
            WHAT("kl_div transpose([3, 7]) broadcast target [3] %s log_target=%d", names[r], lt);
            GC(what, f_loss_case, &lv, P(NB_SHAPE(3, 7)), lt ? P(NB_SHAPE(3)) : Ppos(NB_SHAPE(3)));
            double_ud d = {f_loss_case, &l, 2};
            WHAT("kl_div second derivative %s log_target=%d", names[r], lt);
            GC(what, f_double, &d, P(NB_SHAPE(5, 3)), lt ? P(NB_SHAPE(5, 3)) : Ppos(NB_SHAPE(5, 3)),
               reds[r] == NB_REDUCTION_NONE ? V(5, 3) : V0);
        }
    /* zeros in the target: finite gradients for the input */
    loss_case l = {.kind = LK_KL, .r = NB_REDUCTION_SUM, .args = {0, 1, -1, -1}};
    GC("kl_div target with zeros", f_loss_case, &l, P(NB_SHAPE(4)),
       nb_from_data((const double[]){0, 0.5, 0, 0.5}, NB_SHAPE(4), NB_F64));
}

/* ---- ranking and embedding losses ---------------------------------------------------------------- */

static void case_margin_ranking_loss(void) {
    char what[160];
    for (int r = 0; r < 3; r++) {
        loss_case l = {.kind = LK_RANK, .r = k_reds[r], .args = {0, 1, 2, -1}, .a = 0.1};
        WHAT("margin_ranking_loss [17] margin 0.1 %s", k_red_names[r]);
        GC(what, f_loss_case, &l, Plattice(NB_SHAPE(17), 1, false), Plattice(NB_SHAPE(17), 2, true), Pm1(NB_SHAPE(17), 0));
        l.a = 0;
        WHAT("margin_ranking_loss [1] margin 0 %s", k_red_names[r]);
        GC(what, f_loss_case, &l, Plattice(NB_SHAPE(1), 3, false), Plattice(NB_SHAPE(1), 4, true), Pm1(NB_SHAPE(1), 1));
    }
}

static void case_cosine_embedding_loss(void) {
    char what[160];
    for (int r = 0; r < 3; r++) {
        loss_case l = {.kind = LK_COS, .r = k_reds[r], .args = {0, 1, 2, -1}, .a = -0.2};
        WHAT("cosine_embedding_loss [7, 5] margin -0.2 %s", k_red_names[r]);
        GC(what, f_loss_case, &l, P(NB_SHAPE(7, 5)), P(NB_SHAPE(7, 5)), Pm1(NB_SHAPE(7), 0));
        loss_case lt = l;
        lt.view = 1;
        lt.a = 0;
        WHAT("cosine_embedding_loss transpose([3, 17]) i64 target %s", k_red_names[r]);
        GC(what, f_loss_case, &lt, P(NB_SHAPE(3, 17)), P(NB_SHAPE(17, 3)), nb_to(Pm1(NB_SHAPE(17), 1), NB_I64));
    }
    loss_case l0 = {.kind = LK_COS, .args = {0, 1, 2, -1}};
    GC("cosine_embedding_loss [4] 0-d target", f_loss_case, &l0, P(NB_SHAPE(4)), P(NB_SHAPE(4)), nb_scalar(1, NB_F64));
    double_ud d = {f_loss_case, &l0, 2};
    loss_case ld = {.kind = LK_COS, .args = {0, 1, 3, -1}};
    d.ud = &ld;
    GC("cosine_embedding_loss second derivative", f_double, &d, P(NB_SHAPE(5, 3)), P(NB_SHAPE(5, 3)), V0,
       Pm1(NB_SHAPE(5), 2));
}

static void case_triplet_margin_loss(void) {
    char what[160];
    const double ps[] = {2, 1, 3};
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 3; k++)
            for (int swap = 0; swap < 2; swap++) {
                loss_case l = {.kind = LK_TRIPLET, .r = k_reds[r], .args = {0, 1, 2, -1}, .a = 1.0, .b = ps[k], .c = 1e-6,
                               .flag = swap};
                WHAT("triplet_margin_loss [7, 4] p=%g swap=%d %s", ps[k], swap, k_red_names[r]);
                GC(what, f_loss_case, &l, P(NB_SHAPE(7, 4)), P(NB_SHAPE(7, 4)), P(NB_SHAPE(7, 4)));
            }
    loss_case l = {.kind = LK_TRIPLET, .args = {0, 1, 2, -1}, .a = 2.0, .b = 2, .c = 1e-6, .view = 1};
    GC("triplet_margin_loss transpose([5, 3]) margin 2", f_loss_case, &l, P(NB_SHAPE(5, 3)), P(NB_SHAPE(3, 5)),
       P(NB_SHAPE(3, 5)));
    loss_case l1 = {.kind = LK_TRIPLET, .args = {0, 1, 2, -1}, .a = 3.0, .b = 2, .c = 1e-6};
    GC("triplet_margin_loss [5] (D) margin 3", f_loss_case, &l1, P(NB_SHAPE(5)), P(NB_SHAPE(5)), P(NB_SHAPE(5)));
    double_ud d = {f_loss_case, &l1, 3};
    GC("triplet_margin_loss second derivative", f_double, &d, P(NB_SHAPE(4, 3)), P(NB_SHAPE(4, 3)), P(NB_SHAPE(4, 3)),
       V0);
}

static void case_hinge_embedding_loss(void) {
    char what[160];
    for (int r = 0; r < 3; r++) {
        loss_case l = {.kind = LK_HINGE, .r = k_reds[r], .args = {0, 1, -1, -1}, .a = 1.0};
        WHAT("hinge_embedding_loss [17] %s", k_red_names[r]);
        GC(what, f_loss_case, &l, Plattice(NB_SHAPE(17), 1, true), Pm1(NB_SHAPE(17), 0));
        l.view = 1;
        WHAT("hinge_embedding_loss transpose([3, 7]) margin 0.5 %s", k_red_names[r]);
        l.a = 0.5;
        GC(what, f_loss_case, &l, Plattice(NB_SHAPE(3, 7), 2, true), Pm1(NB_SHAPE(7, 3), 1));
    }
}

static void case_soft_margin_loss(void) {
    char what[160];
    for (int r = 0; r < 3; r++) {
        loss_case l = {.kind = LK_SOFT_MARGIN, .r = k_reds[r], .args = {0, 1, -1, -1}};
        WHAT("soft_margin_loss [17] %s", k_red_names[r]);
        GC(what, f_loss_case, &l, P(NB_SHAPE(17)), Pm1(NB_SHAPE(17), 0));
        loss_case lt = l;
        lt.view = 1;
        WHAT("soft_margin_loss transpose([3, 7]) real-valued target (gradient) %s", k_red_names[r]);
        GC(what, f_loss_case, &lt, P(NB_SHAPE(3, 7)), P(NB_SHAPE(7, 3)));
        double_ud d = {f_loss_case, &l, 2};
        WHAT("soft_margin_loss second derivative %s", k_red_names[r]);
        GC(what, f_double, &d, P(NB_SHAPE(7)), P(NB_SHAPE(7)), k_reds[r] == NB_REDUCTION_NONE ? V(7) : V0);
    }
}

static void case_poisson_nll_loss(void) {
    char what[160];
    for (int r = 0; r < 3; r++)
        for (int variant = 0; variant < 3; variant++) { /* log_input; rates; rates with full */
            loss_case l = {.kind = LK_POISSON, .r = k_reds[r], .args = {0, 1, -1, -1}, .flag = variant == 0,
                           .a = variant == 2};
            tp (*mx)(int, const int64_t *) = variant ? Ppos : P;
            WHAT("poisson_nll_loss [17, 3] %s variant %d", k_red_names[r], variant);
            /* targets above 1 (Stirling's term on) for variant 2 */
            GC(what, f_loss_case, &l, mx(NB_SHAPE(17, 3)),
               variant == 2 ? nb_param(nb_add_scalar(nb_detach(Ppos(NB_SHAPE(17, 3))), 1.0)) : Ppos(NB_SHAPE(17, 3)));
            double_ud d = {f_loss_case, &l, 2};
            WHAT("poisson_nll_loss second derivative %s variant %d", k_red_names[r], variant);
            GC(what, f_double, &d, mx(NB_SHAPE(5)),
               variant == 2 ? nb_param(nb_add_scalar(nb_detach(Ppos(NB_SHAPE(5))), 1.0)) : Ppos(NB_SHAPE(5)),
               k_reds[r] == NB_REDUCTION_NONE ? V(5) : V0);
        }
}

static void case_gaussian_nll_loss(void) {
    char what[160];
    for (int r = 0; r < 3; r++)
        for (int full = 0; full < 2; full++) {
            loss_case l = {.kind = LK_GAUSSIAN, .r = k_reds[r], .args = {0, 1, 2, -1}, .flag = full};
            WHAT("gaussian_nll_loss [7, 3] var [7, 3] %s full=%d", k_red_names[r], full);
            GC(what, f_loss_case, &l, P(NB_SHAPE(7, 3)), P(NB_SHAPE(7, 3)), Ppos(NB_SHAPE(7, 3)));
            WHAT("gaussian_nll_loss [7, 3] var [7] %s full=%d", k_red_names[r], full);
            GC(what, f_loss_case, &l, P(NB_SHAPE(7, 3)), P(NB_SHAPE(7, 3)), Ppos(NB_SHAPE(7)));
            loss_case lt = l;
            lt.view = 1;
            WHAT("gaussian_nll_loss transpose([3, 7]) var [7, 1] %s full=%d", k_red_names[r], full);
            GC(what, f_loss_case, &lt, P(NB_SHAPE(3, 7)), P(NB_SHAPE(7, 3)), Ppos(NB_SHAPE(7, 1)));
            loss_case ld = {.kind = LK_GAUSSIAN, .r = k_reds[r], .args = {0, 1, 2, -1}, .flag = full};
            double_ud d = {f_loss_case, &ld, 3};
            WHAT("gaussian_nll_loss second derivative %s full=%d", k_red_names[r], full);
            GC(what, f_double, &d, P(NB_SHAPE(5)), P(NB_SHAPE(5)), Ppos(NB_SHAPE(5)), k_reds[r] == NB_REDUCTION_NONE ? V(5) : V0);
        }
}

const grad_case gc_cases_losses[] = {
    {"cross_entropy", case_cross_entropy},
    {"cross_entropy_backward", case_cross_entropy_backward},
    {"mse_loss", case_mse_loss},
    {"l1_loss", case_l1_loss},
    {"smooth_l1_loss", case_smooth_l1_loss},
    {"huber_loss", case_huber_loss},
    {"binary_cross_entropy", case_binary_cross_entropy},
    {"binary_cross_entropy_with_logits", case_binary_cross_entropy_with_logits},
    {"kl_div", case_kl_div},
    {"margin_ranking_loss", case_margin_ranking_loss},
    {"cosine_embedding_loss", case_cosine_embedding_loss},
    {"triplet_margin_loss", case_triplet_margin_loss},
    {"hinge_embedding_loss", case_hinge_embedding_loss},
    {"soft_margin_loss", case_soft_margin_loss},
    {"poisson_nll_loss", case_poisson_nll_loss},
    {"gaussian_nll_loss", case_gaussian_nll_loss},
    {NULL, NULL},
};
