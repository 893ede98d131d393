/* tests/test_optim.c — optimisers, schedulers and gradient clipping. Every optimiser scenario runs
 * REF_STEPS steps on two f64 parameters w1 (2, 3) and w2 (4,) with the loss
 * sum(c*w) + 0.5*sum(d*w*w) (so grad = c + d*w, exact and changing as w moves) and a third parameter
 * w3 that gets no gradient; the parameters after each step are compared (1) with the update formula
 * written out here and (2) with PyTorch's numbers recorded in optim_ref.h by tests/ref/optim_ref.py.
 * Schedulers and clipping are compared with PyTorch's numbers too. */
#include "harness.h"
#include "optim_ref.h"

#define NP 10 /* elements of w1 and w2 together */

static const double W1[6] = {0.5, -1.25, 2.0, 0.75, -0.3, 1.1};
static const double C1[6] = {0.2, -0.7, 1.3, 0.05, -1.1, 0.4};
static const double D1[6] = {1.5, 0.8, 2.2, 0.3, 1.0, 0.6};
static const double W2[4] = {-0.9, 0.35, 1.7, -2.4};
static const double C2[4] = {0.9, -0.25, 0.6, -1.8};
static const double D2[4] = {0.4, 1.9, 0.7, 1.2};
static const double W3[2] = {3.0, -4.0};

/* ---- helpers ------------------------------------------------------------------------------------ */

static nb_tensor *make(const double *v, int ndim, const int64_t *shape, nb_dtype dt) {
    nb_tensor *t = nb_from_data(v, ndim, shape, NB_F64);
    if (dt != NB_F64) t = nb_to(t, dt);
    return t;
}

typedef struct fixture {
    nb_tensor *w1, *w2, *w3;
} fixture;

static fixture fixture_new(nb_dtype dt) {
    fixture f;
    f.w1 = nb_param(make(W1, NB_SHAPE(2, 3), dt));
    f.w2 = nb_param(make(W2, NB_SHAPE(4), dt));
    f.w3 = nb_param(make(W3, NB_SHAPE(2), dt));
    return f;
}

static nb_params *params_of(nb_tensor *a, nb_tensor *b, nb_tensor *c) {
    nb_params *p = nb_params_new();
    if (a) nb_params_add(p, "w1", a);
    if (b) nb_params_add(p, "w2", b);
    if (c) nb_params_add(p, "w3", c);
    return p;
}

/* loss = (w1*c1).sum() + (w1*w1*d1).sum()*0.5 + (w2*c2).sum() + (w2*w2*d2).sum()*0.5, as in torch. */
static int backward_loss(nb_tensor *w1, nb_tensor *w2) {
    nb_scope_begin();
    nb_dtype dt = nb_dtype_of(w1);
    nb_tensor *c1 = make(C1, NB_SHAPE(2, 3), dt), *d1 = make(D1, NB_SHAPE(2, 3), dt);
    nb_tensor *c2 = make(C2, NB_SHAPE(4), dt), *d2 = make(D2, NB_SHAPE(4), dt);
    nb_tensor *l = nb_sum(nb_mul(w1, c1), NULL);
    l = nb_add(l, nb_mul_scalar(nb_sum(nb_mul(nb_mul(w1, w1), d1), NULL), 0.5));
    l = nb_add(l, nb_sum(nb_mul(w2, c2), NULL));
    l = nb_add(l, nb_mul_scalar(nb_sum(nb_mul(nb_mul(w2, w2), d2), NULL), 0.5));
    int rc = l ? nb_backward(l) : -1;
    nb_scope_end();
    return rc;
}

static void read_w(const fixture *f, double out[NP]) {
    double a[6], b[4];
    nb_copy_to(f->w1, a, sizeof a, NB_F64);
    nb_copy_to(f->w2, b, sizeof b, NB_F64);
    memcpy(out, a, sizeof a);
    memcpy(out + 6, b, sizeof b);
}

/* Run REF_STEPS steps of opt on f, recording w1 ++ w2 after each step. */
static void run_steps(nb_optimizer *opt, fixture *f, double out[REF_STEPS][NP]) {
    CHECK(opt != NULL);
    if (!opt) return;
    for (int s = 0; s < REF_STEPS; s++) {
        nb_optimizer_zero_grad(opt);
        CHECK(backward_loss(f->w1, f->w2) == 0);
        CHECK(nb_optimizer_step(opt) == 0);
        read_w(f, out[s]);
    }
    CHECK(nb_optimizer_steps(opt) == REF_STEPS);
}

/* Max relative difference |a - b| / max(|b|, 1e-3) over all steps; reported and checked. */
static double max_rel(const double a[REF_STEPS][NP], const double b[REF_STEPS][NP]) {
    double m = 0;
    for (int s = 0; s < REF_STEPS; s++)
        for (int i = 0; i < NP; i++) {
            double d = fabs(a[s][i] - b[s][i]) / fmax(fabs(b[s][i]), 1e-3);
            if (!(d <= m)) m = d;
        }
    return m;
}

static double g_worst_torch; /* over every optimiser scenario, for the summary line */

#define COMPARE(name, got, formula, torch_ref)                                                     \
    do {                                                                                           \
        double ef_ = max_rel(got, formula), et_ = max_rel(got, torch_ref);                         \
        CHECK_MSG(ef_ <= 1e-12, "%s: max rel diff vs formula %.3g", name, ef_);                    \
        CHECK_MSG(et_ <= 1e-12, "%s: max rel diff vs PyTorch %.3g", name, et_);                    \
        fprintf(stderr, "  %-32s vs formula %.2e   vs PyTorch %.2e\n", name, ef_, et_);            \
        if (et_ > g_worst_torch) g_worst_torch = et_;                                              \
    } while (0)

/* ---- the formulas, written out (torch/optim/<name>.py, single-tensor loops) -------------------------- */

static void grads_at(const double w[NP], double g[NP]) {
    for (int i = 0; i < 6; i++) g[i] = C1[i] + D1[i] * w[i];
    for (int i = 0; i < 4; i++) g[6 + i] = C2[i] + D2[i] * w[6 + i];
}

static void init_w(double w[NP]) {
    memcpy(w, W1, sizeof W1);
    memcpy(w + 6, W2, sizeof W2);
}

static void formula_sgd(double lr, double mom, double damp, double wd, bool nesterov, double out[REF_STEPS][NP]) {
    double w[NP], g[NP], buf[NP] = {0};
    init_w(w);
    for (int s = 0; s < REF_STEPS; s++) {
        grads_at(w, g);
        for (int i = 0; i < NP; i++) {
            double d = g[i] + wd * w[i];
            if (mom != 0) {
                buf[i] = s == 0 ? d : buf[i] * mom + (1 - damp) * d;
                d = nesterov ? d + mom * buf[i] : buf[i];
            }
            w[i] -= lr * d;
        }
        memcpy(out[s], w, sizeof w);
    }
}

static void formula_adam(double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool decoupled,
                         double out[REF_STEPS][NP]) {
    double w[NP], g[NP], m[NP] = {0}, v[NP] = {0}, vmax[NP] = {0};
    init_w(w);
    for (int s = 0; s < REF_STEPS; s++) {
        grads_at(w, g);
        int t = s + 1;
        double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        for (int i = 0; i < NP; i++) {
            double d = g[i];
            if (decoupled)
                w[i] *= 1 - lr * wd;
            else
                d += wd * w[i];
            m[i] = b1 * m[i] + (1 - b1) * d;
            v[i] = b2 * v[i] + (1 - b2) * d * d;
            vmax[i] = fmax(vmax[i], v[i]);
            double denom = sqrt(amsgrad ? vmax[i] : v[i]) / sqrt(bc2) + eps;
            w[i] -= lr / bc1 * m[i] / denom;
        }
        memcpy(out[s], w, sizeof w);
    }
}

static void formula_rmsprop(double lr, double alpha, double eps, double wd, double mom, bool centered,
                            double out[REF_STEPS][NP]) {
    double w[NP], g[NP], sq[NP] = {0}, ga[NP] = {0}, buf[NP] = {0};
    init_w(w);
    for (int s = 0; s < REF_STEPS; s++) {
        grads_at(w, g);
        for (int i = 0; i < NP; i++) {
            double d = g[i] + wd * w[i];
            sq[i] = alpha * sq[i] + (1 - alpha) * d * d;
            double avg;
            if (centered) {
                ga[i] = alpha * ga[i] + (1 - alpha) * d;
                avg = sqrt(sq[i] - ga[i] * ga[i]) + eps;
            } else {
                avg = sqrt(sq[i]) + eps;
            }
            if (mom > 0) {
                buf[i] = mom * buf[i] + d / avg;
                w[i] -= lr * buf[i];
            } else {
                w[i] -= lr * d / avg;
            }
        }
        memcpy(out[s], w, sizeof w);
    }
}

static void formula_adagrad(double lr, double lr_decay, double wd, double init, double eps, double out[REF_STEPS][NP]) {
    double w[NP], g[NP], sum[NP];
    init_w(w);
    for (int i = 0; i < NP; i++) sum[i] = init;
    for (int s = 0; s < REF_STEPS; s++) {
        grads_at(w, g);
        double clr = lr / (1 + s * lr_decay);
        for (int i = 0; i < NP; i++) {
            double d = g[i] + wd * w[i];
            sum[i] += d * d;
            w[i] -= clr * d / (sqrt(sum[i]) + eps);
        }
        memcpy(out[s], w, sizeof w);
    }
}

/* ---- optimiser scenarios ------------------------------------------------------------------------ */

static void check_w3_untouched(const fixture *f, uint64_t ver0) {
    double v[2];
    nb_copy_to(f->w3, v, sizeof v, NB_F64);
    CHECK(v[0] == W3[0] && v[1] == W3[1]);
    CHECK(nb_version(f->w3) == ver0);
    nb_tensor *g = nb_grad(f->w3);
    CHECK(g == NULL && nb_last_status() == NB_OK);
}

/* One scenario: build the optimiser over w1, w2, w3, run, check w3, compare. */
#define SCENARIO(name, ctor_call, formula_call, torch_ref)                                        \
    do {                                                                                           \
        fixture f = fixture_new(NB_F64);                                                           \
        uint64_t v3_ = nb_version(f.w3), v1_ = nb_version(f.w1);                                   \
        nb_params *ps = params_of(f.w1, f.w2, f.w3);                                               \
        nb_optimizer *opt = ctor_call;                                                             \
        double got[REF_STEPS][NP], want[REF_STEPS][NP];                                            \
        run_steps(opt, &f, got);                                                                   \
        formula_call;                                                                              \
        COMPARE(name, got, want, torch_ref);                                                       \
        check_w3_untouched(&f, v3_);                                                               \
        CHECK(nb_version(f.w1) >= v1_ + REF_STEPS);                                                \
        nb_optimizer_free(opt);                                                                    \
    } while (0)

static void test_sgd(void) {
    SCENARIO("sgd", nb_sgd(ps, &(nb_sgd_opts){.lr = 0.1}), formula_sgd(0.1, 0, 0, 0, false, want), ref_sgd_plain);
    SCENARIO("sgd momentum+dampening+wd",
             nb_sgd(ps, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01}),
             formula_sgd(0.05, 0.9, 0.1, 0.01, false, want), ref_sgd_momentum);
    SCENARIO("sgd nesterov+wd",
             nb_sgd(ps, &(nb_sgd_opts){.lr = 0.05, .momentum = 0.8, .nesterov = true, .weight_decay = 0.05}),
             formula_sgd(0.05, 0.8, 0, 0.05, true, want), ref_sgd_nesterov);
}

static void test_adam(void) {
    SCENARIO("adam", nb_adam(ps, &(nb_adam_opts){.lr = 0.05}), formula_adam(0.05, 0.9, 0.999, 1e-8, 0, false, false, want),
             ref_adam);
    SCENARIO("adam wd+amsgrad",
             nb_adam(ps, &(nb_adam_opts){.lr = 0.1, .beta1 = 0.8, .beta2 = 0.9, .weight_decay = 0.1, .amsgrad = true}),
             formula_adam(0.1, 0.8, 0.9, 1e-8, 0.1, true, false, want), ref_adam_wd_amsgrad);
    SCENARIO("adam beta1=NB_OPT_ZERO",
             nb_adam(ps, &(nb_adam_opts){.lr = 0.05, .beta1 = NB_OPT_ZERO, .beta2 = 0.99}),
             formula_adam(0.05, 0, 0.99, 1e-8, 0, false, false, want), ref_adam_beta1_zero);
    SCENARIO("adamw", nb_adamw(ps, &(nb_adam_opts){.lr = 0.05}),
             formula_adam(0.05, 0.9, 0.999, 1e-8, 1e-2, false, true, want), ref_adamw);
    SCENARIO("adamw amsgrad",
             nb_adamw(ps, &(nb_adam_opts){.lr = 0.1, .beta1 = 0.8, .beta2 = 0.9, .weight_decay = 0.3, .eps = 1e-6,
                                          .amsgrad = true}),
             formula_adam(0.1, 0.8, 0.9, 1e-6, 0.3, true, true, want), ref_adamw_amsgrad);
}

static void test_rmsprop(void) {
    SCENARIO("rmsprop", nb_rmsprop(ps, &(nb_rmsprop_opts){.lr = 0.01}),
             formula_rmsprop(0.01, 0.99, 1e-8, 0, 0, false, want), ref_rmsprop);
    SCENARIO("rmsprop centered+momentum+wd",
             nb_rmsprop(ps, &(nb_rmsprop_opts){.lr = 0.01, .alpha = 0.9, .momentum = 0.5, .centered = true,
                                               .weight_decay = 0.1}),
             formula_rmsprop(0.01, 0.9, 1e-8, 0.1, 0.5, true, want), ref_rmsprop_centered_momentum);
}

static void test_adagrad(void) {
    SCENARIO("adagrad", nb_adagrad(ps, &(nb_adagrad_opts){.lr = 0.1}), formula_adagrad(0.1, 0, 0, 0, 1e-10, want),
             ref_adagrad);
    SCENARIO("adagrad lr_decay+wd+init",
             nb_adagrad(ps, &(nb_adagrad_opts){.lr = 0.1, .lr_decay = 0.05, .weight_decay = 0.1,
                                               .initial_accumulator_value = 0.5, .eps = 1e-8}),
             formula_adagrad(0.1, 0.05, 0.1, 0.5, 1e-8, want), ref_adagrad_full);
}

/* Two groups with different lrs and momentum: w1 at the constructor's options, w2 and w3 in a
 * second group. */
static void test_param_groups(void) {
    fixture f = fixture_new(NB_F64);
    nb_optimizer *opt = nb_sgd(params_of(f.w1, NULL, NULL), &(nb_sgd_opts){.lr = 0.05});
    CHECK(nb_optimizer_add_group(opt, params_of(NULL, f.w2, f.w3), &(nb_sgd_opts){.lr = 0.2, .momentum = 0.5}) == 0);
    CHECK(nb_optimizer_num_groups(opt) == 2);
    CHECK(nb_optimizer_get_lr(opt, 0) == 0.05);
    CHECK(nb_optimizer_get_lr(opt, 1) == 0.2);
    double got[REF_STEPS][NP], a[REF_STEPS][NP], b[REF_STEPS][NP], want[REF_STEPS][NP];
    run_steps(opt, &f, got);
    formula_sgd(0.05, 0, 0, 0, false, a);
    formula_sgd(0.2, 0.5, 0, 0, false, b);
    for (int s = 0; s < REF_STEPS; s++)
        for (int i = 0; i < NP; i++) want[s][i] = i < 6 ? a[s][i] : b[s][i];
    COMPARE("sgd two groups", got, want, ref_groups);

    /* a parameter may be in one group only; the list is consumed either way */
    CHECK_RC_WITH(nb_optimizer_add_group(opt, params_of(f.w1, NULL, NULL), NULL), "nb_optimizer_add_group", "'w1'",
                  "group 0");
    nb_params *dup = params_of(NULL, NULL, NULL);
    nb_tensor *w4 = nb_param(nb_zeros(NB_SHAPE(3), NB_F64));
    nb_params_add(dup, "a", w4);
    nb_params_add(dup, "b", w4);
    CHECK_RC_WITH(nb_optimizer_add_group(opt, dup, NULL), "nb_optimizer_add_group", "appears twice");
    CHECK_RC_WITH(nb_optimizer_add_group(opt, params_of(NULL, NULL, NULL), &(nb_sgd_opts){.lr = -1}),
                  "nb_optimizer_add_group", "lr", "-1");
    /* NULL options: the constructor's; a group with no parameters is allowed */
    CHECK(nb_optimizer_add_group(opt, params_of(NULL, NULL, NULL), NULL) == 0);
    CHECK(nb_optimizer_get_lr(opt, 2) == 0.05);
    CHECK(nb_optimizer_set_lr(opt, 1, 0.3) == 0);
    CHECK(nb_optimizer_get_lr(opt, 1) == 0.3);
    CHECK_RC_WITH(nb_optimizer_set_lr(opt, 1, -0.1), "nb_optimizer_set_lr", "-0.1");
    CHECK_RC_WITH(nb_optimizer_set_lr(opt, 7, 0.1), "nb_optimizer_set_lr", "group 7");
    CHECK(isnan(nb_optimizer_get_lr(opt, -1)));
    CHECK(strstr(nb_last_error(), "nb_optimizer_get_lr") != NULL);
    nb_clear_error();
    nb_optimizer_free(opt);
}

static void test_zero_grad_and_skip(void) {
    fixture f = fixture_new(NB_F64);
    nb_optimizer *opt = nb_adam(params_of(f.w1, f.w2, f.w3), NULL);
    CHECK(backward_loss(f.w1, f.w2) == 0);
    nb_tensor *g = nb_grad(f.w1);
    CHECK(g != NULL);
    nb_free(g);
    nb_optimizer_zero_grad(opt);
    CHECK(nb_grad(f.w1) == NULL && nb_grad(f.w2) == NULL && nb_last_status() == NB_OK);
    /* a step with no gradients anywhere changes nothing but still counts */
    uint64_t v1 = nb_version(f.w1);
    CHECK(nb_optimizer_step(opt) == 0);
    CHECK(nb_version(f.w1) == v1);
    CHECK(nb_optimizer_steps(opt) == 1);
    double w[NP], w0[NP];
    read_w(&f, w);
    init_w(w0);
    CHECK(memcmp(w, w0, sizeof w) == 0);
    /* only w2 gets a gradient: w1 stays */
    nb_tensor *l = nb_sum(f.w2, NULL);
    CHECK(nb_backward(l) == 0);
    CHECK(nb_optimizer_step(opt) == 0);
    read_w(&f, w);
    CHECK(memcmp(w, w0, 6 * sizeof(double)) == 0);
    /* w2's first update (its own step 1, though the optimiser's step 2): grad 1 gives
     * m_hat / (sqrt(v_hat) + eps) = 1 / (1 + eps) */
    for (int i = 0; i < 4; i++) CHECK_NEAR(w[6 + i], W2[i] - 1e-3 / (1 + 1e-8), 1e-15);
    nb_optimizer_free(opt);
}

/* f32 parameters: nabla computes in f64 and rounds once per stored value; PyTorch computes in f32. */
static void test_f32(void) {
    fixture f = fixture_new(NB_F32);
    nb_optimizer *opt = nb_adam(params_of(f.w1, f.w2, f.w3), &(nb_adam_opts){.lr = 0.05});
    double got[REF_STEPS][NP];
    run_steps(opt, &f, got);
    double m = 0;
    for (int s = 0; s < REF_STEPS; s++)
        for (int i = 0; i < NP; i++) m = fmax(m, fabs(got[s][i] - ref_adam_f32[s][i]));
    CHECK_MSG(m < 1e-5, "adam f32 max abs diff %g", m);
    fprintf(stderr, "  %-32s vs PyTorch f32 %.2e (abs)\n", "adam f32", m);
    CHECK(nb_dtype_of(f.w1) == NB_F32);
    nb_optimizer_free(opt);
}

/* A non-contiguous parameter (a transposed view made a leaf) is updated through its view. */
static void test_non_contiguous_param(void) {
    nb_tensor *base = nb_from_data(W1, NB_SHAPE(3, 2), NB_F64); /* base[j][i] */
    nb_tensor *wt = nb_param(nb_transpose(base, 0, 1));          /* (2, 3), strides (1, 2) */
    CHECK(wt && !nb_is_contiguous(wt));
    nb_tensor *c = nb_from_data(C1, NB_SHAPE(2, 3), NB_F64);
    nb_optimizer *opt = nb_sgd(params_of(wt, NULL, NULL), &(nb_sgd_opts){.lr = 0.5, .momentum = 0.9});
    double w[6], want[6], buf[6] = {0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) want[i * 3 + j] = W1[j * 2 + i];
    for (int s = 0; s < 3; s++) {
        nb_optimizer_zero_grad(opt);
        CHECK(nb_backward(nb_sum(nb_mul(wt, c), NULL)) == 0);
        CHECK(nb_optimizer_step(opt) == 0);
        for (int k = 0; k < 6; k++) {
            buf[k] = s == 0 ? C1[k] : 0.9 * buf[k] + C1[k];
            want[k] -= 0.5 * buf[k];
        }
    }
    nb_copy_to(wt, w, sizeof w, NB_F64);
    for (int k = 0; k < 6; k++) CHECK_NEAR(w[k], want[k], 1e-14);
    /* the base storage saw the writes (wt is a view of it) */
    CHECK_NEAR(h_get(base, NB_LIST(2, 1)), want[1 * 3 + 2], 1e-14);
    nb_optimizer_free(opt);
}

/* A hook that hands back the gradient in f32: the f64 parameter's .grad is then f32, and the step
 * reads it converted to f64. */
static int to_f32_hook(nb_tensor *grad, nb_tensor **replacement, void *ud) {
    (void)ud;
    *replacement = nb_keep(nb_to(grad, NB_F32));
    return *replacement ? 0 : -1;
}

static void test_grad_dtype_differs(void) {
    nb_tensor *w = nb_param(nb_from_data(W2, NB_SHAPE(4), NB_F64));
    CHECK(nb_register_hook(w, to_f32_hook, NULL) == 0);
    nb_tensor *c = nb_from_data(C2, NB_SHAPE(4), NB_F64);
    CHECK(nb_backward(nb_sum(nb_mul(w, c), NULL)) == 0);
    nb_tensor *g = nb_grad(w);
    CHECK(g && nb_dtype_of(g) == NB_F32);
    nb_optimizer *opt = nb_sgd(params_of(w, NULL, NULL), &(nb_sgd_opts){.lr = 0.5});
    CHECK(nb_optimizer_step(opt) == 0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(h_get(w, NB_LIST(i)), W2[i] - 0.5 * (double)(float)C2[i], 1e-15);
    nb_optimizer_free(opt);
}

/* A parameter large enough to be split over the thread pool: the result is the formula's. */
static void test_large_param(void) {
    enum { N = 200003 };
    double *w0 = malloc(N * sizeof(double)), *c = malloc(N * sizeof(double)), *got = malloc(N * sizeof(double));
    for (int i = 0; i < N; i++) {
        w0[i] = sin(i * 0.37);
        c[i] = cos(i * 0.11) + 0.5;
    }
    nb_tensor *w = nb_param(nb_from_data(w0, NB_SHAPE(N), NB_F64));
    nb_tensor *ct = nb_from_data(c, NB_SHAPE(N), NB_F64);
    nb_optimizer *opt = nb_adam(params_of(w, NULL, NULL), &(nb_adam_opts){.lr = 0.01, .weight_decay = 0.1});
    for (int s = 0; s < 3; s++) {
        nb_optimizer_zero_grad(opt);
        CHECK(nb_backward(nb_sum(nb_mul(w, ct), NULL)) == 0);
        CHECK(nb_optimizer_step(opt) == 0);
    }
    nb_copy_to(w, got, N * sizeof(double), NB_F64);
    double m = 0;
    for (int i = 0; i < N; i++) {
        double x = w0[i], mm = 0, v = 0;
        for (int t = 1; t <= 3; t++) {
            double d = c[i] + 0.1 * x;
            mm = 0.9 * mm + 0.1 * d;
            v = 0.999 * v + 0.001 * d * d;
            x -= 0.01 / (1 - pow(0.9, t)) * mm / (sqrt(v) / sqrt(1 - pow(0.999, t)) + 1e-8);
        }
        m = fmax(m, fabs(got[i] - x));
    }
    CHECK_MSG(m < 1e-13, "max abs diff %g", m);
    nb_optimizer_free(opt);
    free(w0);
    free(c);
    free(got);
}

static void test_validation(void) {
    nb_tensor *w = nb_param(nb_zeros(NB_SHAPE(2), NB_F64));
    CHECK_NULL_WITH(nb_sgd(params_of(w, NULL, NULL), &(nb_sgd_opts){.lr = -0.5}), "nb_sgd", "lr", "-0.5");
    CHECK_NULL_WITH(nb_sgd(params_of(w, NULL, NULL), &(nb_sgd_opts){.nesterov = true}), "nb_sgd", "nesterov",
                    "momentum 0");
    CHECK_NULL_WITH(nb_sgd(params_of(w, NULL, NULL), &(nb_sgd_opts){.nesterov = true, .momentum = 0.9, .dampening = 0.1}),
                    "nb_sgd", "nesterov", "dampening 0.1");
    CHECK_NULL_WITH(nb_sgd(params_of(w, NULL, NULL), &(nb_sgd_opts){.momentum = -0.9}), "nb_sgd", "momentum", "-0.9");
    CHECK_NULL_WITH(nb_adam(params_of(w, NULL, NULL), &(nb_adam_opts){.beta1 = 1.0}), "nb_adam", "beta1", "[0, 1)", "1");
    CHECK_NULL_WITH(nb_adamw(params_of(w, NULL, NULL), &(nb_adam_opts){.beta2 = -0.1}), "nb_adamw", "beta2", "-0.1");
    CHECK_NULL_WITH(nb_adam(params_of(w, NULL, NULL), &(nb_adam_opts){.eps = -1e-8}), "nb_adam", "eps", "-1e-08");
    CHECK_NULL_WITH(nb_adam(params_of(w, NULL, NULL), &(nb_adam_opts){.lr = NAN}), "nb_adam", "lr", "nan");
    CHECK_NULL_WITH(nb_rmsprop(params_of(w, NULL, NULL), &(nb_rmsprop_opts){.alpha = -0.5}), "nb_rmsprop", "alpha");
    CHECK_NULL_WITH(nb_adagrad(params_of(w, NULL, NULL), &(nb_adagrad_opts){.lr_decay = -1}), "nb_adagrad", "lr_decay");
    CHECK_NULL_WITH(nb_adagrad(params_of(w, NULL, NULL), &(nb_adagrad_opts){.initial_accumulator_value = -2}),
                    "nb_adagrad", "initial_accumulator_value", "-2");
    CHECK_NULL_WITH(nb_sgd(params_of(NULL, NULL, NULL), NULL), "nb_sgd", "empty");
    CHECK_NULL_WITH(nb_sgd(NULL, NULL), "nb_sgd", "NULL");
    /* parameters must be f32/f64 leaves */
    nb_params *p = nb_params_new();
    nb_params_add(p, "idx", nb_zeros(NB_SHAPE(2), NB_I32));
    CHECK_NULL_WITH(nb_adam(p, NULL), "nb_adam", "'idx'", "i32");
    p = nb_params_new();
    nb_params_add(p, "h", nb_mul_scalar(w, 2.0));
    CHECK_NULL_WITH(nb_adam(p, NULL), "nb_adam", "'h'", "not a leaf");
    p = nb_params_new();
    nb_params_add(p, "half", nb_zeros(NB_SHAPE(2), NB_F16));
    CHECK_NULL_WITH(nb_rmsprop(p, NULL), "nb_rmsprop", "'half'", "f16");
    CHECK_RC_WITH(nb_optimizer_step(NULL), "nb_optimizer_step");
    /* defaults */
    nb_optimizer *o = nb_sgd(params_of(w, NULL, NULL), NULL);
    CHECK(nb_optimizer_get_lr(o, 0) == 1e-3);
    nb_optimizer_free(o);
    o = nb_rmsprop(params_of(w, NULL, NULL), NULL);
    CHECK(nb_optimizer_get_lr(o, 0) == 1e-2);
    nb_optimizer_free(o);
    o = nb_adamw(params_of(w, NULL, NULL), &(nb_adam_opts){.lr = NB_OPT_ZERO});
    CHECK(o && nb_optimizer_get_lr(o, 0) == 0);
    nb_optimizer_free(o);
    nb_optimizer_free(NULL);
    CHECK(nb_optimizer_num_groups(NULL) == 0);
}

/* ---- schedulers --------------------------------------------------------------------------------- */

typedef nb_scheduler *(*sched_make)(nb_optimizer *opt);

static double sched_check(const char *name, sched_make mk, int n_groups, const double *lrs, const double *ref,
                          const double *metrics) {
    nb_tensor *w[2];
    nb_optimizer *opt = NULL;
    for (int g = 0; g < n_groups; g++) {
        w[g] = nb_param(nb_zeros(NB_SHAPE(1), NB_F64));
        nb_params *p = params_of(w[g], NULL, NULL);
        if (g == 0)
            opt = nb_sgd(p, &(nb_sgd_opts){.lr = lrs[0]});
        else
            CHECK(nb_optimizer_add_group(opt, p, &(nb_sgd_opts){.lr = lrs[g]}) == 0);
    }
    nb_scheduler *s = mk(opt);
    CHECK(s != NULL);
    double m = 0;
    for (int k = 0; s && k <= REF_SCHED_STEPS; k++) {
        if (k > 0) {
            CHECK(nb_optimizer_step(opt) == 0);
            CHECK(nb_scheduler_step(s, metrics ? metrics[k - 1] : 0) == 0);
        }
        for (int g = 0; g < n_groups; g++) {
            double got = nb_optimizer_get_lr(opt, g), want = ref[k * n_groups + g];
            double d = fabs(got - want) / fmax(fabs(want), 1e-300);
            CHECK_MSG(d <= 1e-12, "%s: step %d group %d: lr %.17g, PyTorch %.17g", name, k, g, got, want);
            m = fmax(m, d);
        }
        CHECK(nb_scheduler_get_lr(s) == nb_optimizer_get_lr(opt, 0));
    }
    fprintf(stderr, "  %-32s vs PyTorch %.2e\n", name, m);
    nb_scheduler_free(s);
    nb_optimizer_free(opt);
    return m;
}

static nb_scheduler *mk_step(nb_optimizer *o) { return nb_step_lr(o, 3, 0.5); }
static nb_scheduler *mk_multistep(nb_optimizer *o) { return nb_multistep_lr(o, (const int[]){9, 2, 5, 5}, 4, 0.3); }
static nb_scheduler *mk_exp(nb_optimizer *o) { return nb_exponential_lr(o, 0.9); }
static nb_scheduler *mk_cos(nb_optimizer *o) { return nb_cosine_annealing_lr(o, 7, 0.001); }
static nb_scheduler *mk_one_cycle(nb_optimizer *o) { return nb_one_cycle_lr(o, 0.5, REF_SCHED_STEPS); }
static nb_scheduler *mk_linear(nb_optimizer *o) { return nb_linear_lr(o, 0.25, 1.0, 6); }
static nb_scheduler *mk_linear_down(nb_optimizer *o) { return nb_linear_lr(o, 1.0, 0.5, 4); }
static nb_scheduler *mk_plateau(nb_optimizer *o) { return nb_reduce_lr_on_plateau(o, 0.5, 2, 0.01); }

static void test_schedulers(void) {
    sched_check("StepLR", mk_step, 1, (const double[]){0.1}, &ref_step_lr[0][0], NULL);
    sched_check("MultiStepLR", mk_multistep, 1, (const double[]){0.1}, &ref_multistep_lr[0][0], NULL);
    sched_check("ExponentialLR", mk_exp, 1, (const double[]){0.1}, &ref_exponential_lr[0][0], NULL);
    sched_check("CosineAnnealingLR (2 groups)", mk_cos, 2, (const double[]){0.1, 0.02}, &ref_cosine_lr[0][0], NULL);
    sched_check("OneCycleLR", mk_one_cycle, 1, (const double[]){0.1}, &ref_one_cycle_lr[0][0], NULL);
    sched_check("LinearLR", mk_linear, 1, (const double[]){0.1}, &ref_linear_lr[0][0], NULL);
    sched_check("LinearLR down (2 groups)", mk_linear_down, 2, (const double[]){0.1, 0.3}, &ref_linear_lr_down[0][0], NULL);
    sched_check("ReduceLROnPlateau", mk_plateau, 1, (const double[]){0.1}, &ref_plateau_lr[0][0], ref_plateau_metrics);
}

static void test_scheduler_errors(void) {
    nb_tensor *w = nb_param(nb_zeros(NB_SHAPE(1), NB_F64));
    nb_optimizer *opt = nb_sgd(params_of(w, NULL, NULL), &(nb_sgd_opts){.lr = 0.1});
    CHECK_NULL_WITH(nb_step_lr(opt, 0, 0.5), "nb_step_lr", "step_size", "0");
    CHECK_NULL_WITH(nb_step_lr(opt, 2, -0.5), "nb_step_lr", "gamma", "-0.5");
    CHECK_NULL_WITH(nb_multistep_lr(opt, NULL, 2, 0.5), "nb_multistep_lr", "NULL");
    CHECK_NULL_WITH(nb_cosine_annealing_lr(opt, 0, 0), "nb_cosine_annealing_lr", "t_max");
    CHECK_NULL_WITH(nb_one_cycle_lr(opt, 0.1, 0), "nb_one_cycle_lr", "total_steps");
    CHECK_NULL_WITH(nb_linear_lr(opt, 0, 1, 5), "nb_linear_lr", "start_factor");
    CHECK_NULL_WITH(nb_linear_lr(opt, 0.5, 1.5, 5), "nb_linear_lr", "end_factor", "1.5");
    CHECK_NULL_WITH(nb_reduce_lr_on_plateau(opt, 1.0, 2, 0), "nb_reduce_lr_on_plateau", "factor", "1");
    CHECK_NULL_WITH(nb_exponential_lr(NULL, 0.5), "nb_exponential_lr", "NULL");
    CHECK(nb_optimizer_get_lr(opt, 0) == 0.1); /* failed constructors left the lr alone */
    /* one-cycle refuses to go past total_steps, as PyTorch */
    nb_scheduler *s = nb_one_cycle_lr(opt, 1.0, 10);
    CHECK_NEAR(nb_optimizer_get_lr(opt, 0), 1.0 / 25, 1e-16); /* set at construction */
    nb_scheduler_free(s);
    /* with pct_start * total_steps < 1 the warm-up phase is empty (PyTorch's numbers, torch 2.15) */
    s = nb_one_cycle_lr(opt, 1.0, 3);
    const double lrs[4] = {0.9944154354509117, 0.46263710266697505, 4e-06, 0.4626371026669753};
    CHECK_NEAR(nb_optimizer_get_lr(opt, 0), lrs[0], 1e-15);
    for (int k = 1; k <= 3; k++) {
        CHECK(nb_scheduler_step(s, 0) == 0);
        CHECK_NEAR(nb_optimizer_get_lr(opt, 0), lrs[k], 1e-15);
    }
    CHECK_RC_WITH(nb_scheduler_step(s, 0), "nb_scheduler_step", "4", "total_steps 3");
    nb_scheduler_free(s);
    /* a group added after the scheduler was made */
    s = nb_step_lr(opt, 1, 0.5);
    CHECK(nb_optimizer_add_group(opt, params_of(nb_param(nb_zeros(NB_SHAPE(1), NB_F64)), NULL, NULL), NULL) == 0);
    CHECK_RC_WITH(nb_scheduler_step(s, 0), "nb_scheduler_step", "2 parameter groups", "had 1");
    nb_scheduler_free(s);
    CHECK_RC_WITH(nb_scheduler_step(NULL, 0), "nb_scheduler_step", "NULL");
    nb_scheduler_free(NULL);
    nb_optimizer_free(opt);
}

/* ---- clipping ----------------------------------------------------------------------------------- */

static void clip_check(const char *name, int which, const double *ref) {
    fixture f = fixture_new(NB_F64);
    CHECK(backward_loss(f.w1, f.w2) == 0);
    nb_params *ps = params_of(f.w1, f.w2, f.w3); /* w3 has no gradient: skipped */
    nb_tensor *g1 = nb_grad(f.w1);
    uint64_t v0 = nb_version(g1);
    double total = -1;
    int rc = which == 0   ? nb_clip_grad_norm(ps, 1.0, 2.0, &total)
             : which == 1 ? nb_clip_grad_norm(ps, 0.5, INFINITY, &total)
             : which == 2 ? nb_clip_grad_norm(ps, 1.5, 3.0, &total)
             : which == 3 ? nb_clip_grad_norm(ps, 100.0, 2.0, &total)
                          : (total = 0, nb_clip_grad_value(ps, 0.5));
    CHECK(rc == 0);
    double g[NP];
    nb_tensor *g2 = nb_grad(f.w2);
    nb_copy_to(g1, g, 6 * sizeof(double), NB_F64);
    nb_copy_to(g2, g + 6, 4 * sizeof(double), NB_F64);
    double m = fabs(total - ref[0]) / fmax(fabs(ref[0]), 1e-300);
    for (int i = 0; i < NP; i++) m = fmax(m, fabs(g[i] - ref[1 + i]) / fmax(fabs(ref[1 + i]), 1e-3));
    CHECK_MSG(m <= 1e-12, "%s: max rel diff vs PyTorch %.3g", name, m);
    fprintf(stderr, "  %-32s vs PyTorch %.2e\n", name, m);
    if (which != 3) CHECK(nb_version(g1) > v0);
    nb_params_free(ps);
}

static void test_clip(void) {
    clip_check("clip_grad_norm p=2", 0, ref_clip_norm2);
    clip_check("clip_grad_norm p=inf", 1, ref_clip_norm_inf);
    clip_check("clip_grad_norm p=3", 2, ref_clip_norm3);
    clip_check("clip_grad_norm no-op", 3, ref_clip_norm_noop);
    clip_check("clip_grad_value", 4, ref_clip_value);

    nb_params *ps = params_of(NULL, NULL, NULL);
    double total = -1;
    CHECK(nb_clip_grad_norm(ps, 1.0, 2.0, &total) == 0 && total == 0);
    CHECK_RC_WITH(nb_clip_grad_norm(ps, -1.0, 2.0, NULL), "nb_clip_grad_norm", "max_norm", "-1");
    CHECK_RC_WITH(nb_clip_grad_norm(ps, 1.0, 0.0, NULL), "nb_clip_grad_norm", "norm_type", "0");
    CHECK_RC_WITH(nb_clip_grad_value(ps, -0.5), "nb_clip_grad_value", "clip", "-0.5");
    CHECK_RC_WITH(nb_clip_grad_value(NULL, 0.5), "nb_clip_grad_value", "NULL");
    nb_params_free(ps);
}

int main(void) {
    RUN(test_sgd);
    RUN(test_adam);
    RUN(test_rmsprop);
    RUN(test_adagrad);
    RUN(test_param_groups);
    RUN(test_zero_grad_and_skip);
    RUN(test_f32);
    RUN(test_non_contiguous_param);
    RUN(test_grad_dtype_differs);
    RUN(test_large_param);
    RUN(test_validation);
    RUN(test_schedulers);
    RUN(test_scheduler_errors);
    RUN(test_clip);
    fprintf(stderr, "max relative difference vs PyTorch over optimiser scenarios: %.2e\n", g_worst_torch);
    return harness_finish();
}
