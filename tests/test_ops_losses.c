/* tests/test_ops_losses.c — the losses of src/ops/losses.def and the extended cross_entropy / nll_loss
 * (class weights, label smoothing, probability targets, K-dim inputs) against plain f64 references:
 * N = 1, 7, 17, 129 with C = 1, 3, 10, every reduction, contiguous / transposed / stepped inputs,
 * f32, f64, f16 and bf16 (computed in f32, rounded on output), ignore_index ignoring every target
 * (NaN for the mean, as PyTorch), and the argument errors. */
#include "ref.h"

static const nb_reduction k_reds[] = {NB_REDUCTION_MEAN, NB_REDUCTION_SUM, NB_REDUCTION_NONE};
static const char *const k_red_names[] = {"mean", "sum", "none", "batchmean"};

/* Reduce per-element values as a loss does; writes the output rank (0 or nd) and returns the values. */
static double *ref_reduce(double *per, int64_t n, nb_reduction red, double mean_den, int *ond) {
    if (red == NB_REDUCTION_NONE) return per;
    *ond = 0;
    double s = 0, *r = ref_darray(1);
    for (int64_t i = 0; i < n; i++) s += per[i];
    r[0] = red == NB_REDUCTION_SUM ? s : s / mean_den; /* 0 / 0: NaN */
    return r;
}

/* Tolerances: composite losses round every intermediate to f16 / bf16, so allow a few roundings. */
static double tol(nb_dtype dt) { return dt == NB_F16 || dt == NB_BF16 ? 4 * ref_rtol(dt) : 8 * ref_rtol(dt); }

/* ---- cross_entropy / nll_loss --------------------------------------------------------------------- */

typedef struct ce_ref_opts {
    bool ce, probs;
    const double *w; /* NULL: unweighted */
    double ls;
    bool use_ig;
    int64_t ig;
    nb_reduction red;
} ce_ref_opts;

/* Loss of scores x (class axis 1, or 0 for 1-D) against class indices or probabilities t, exactly as
 * PyTorch's cross_entropy / nll_loss define it. */
static double *ref_ce(const double *x, int nd, const int64_t *shape, const double *t, const ce_ref_opts *o, int *ond,
                      int64_t *os) {
    int64_t N = nd == 1 ? 1 : shape[0], C = shape[nd == 1 ? 0 : 1], inner = 1;
    for (int d = 2; d < nd; d++) inner *= shape[d];
    double *per = ref_darray(N * inner), *lp = ref_darray(C), den = 0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t s = 0; s < inner; s++) {
            int64_t k = i * inner + s;
            double m = -INFINITY, sum = 0, lse = 0;
            if (o->ce) {
                for (int64_t j = 0; j < C; j++) m = fmax(m, x[(i * C + j) * inner + s]);
                for (int64_t j = 0; j < C; j++) sum += exp(x[(i * C + j) * inner + s] - m);
                lse = m + log(sum);
            }
            for (int64_t j = 0; j < C; j++) lp[j] = x[(i * C + j) * inner + s] - lse;
            if (o->probs) {
                double v = 0;
                for (int64_t j = 0; j < C; j++) {
                    double tj = t[(i * C + j) * inner + s] * (1 - o->ls) + o->ls / (double)C;
                    v -= (o->w ? o->w[j] : 1.0) * tj * lp[j];
                }
                per[k] = v;
                continue;
            }
            int64_t c = (int64_t)t[k];
            if (o->use_ig && c == o->ig) {
                per[k] = 0;
                continue;
            }
            double smooth = 0;
            for (int64_t j = 0; j < C; j++) smooth -= (o->w ? o->w[j] : 1.0) * lp[j];
            per[k] = (1 - o->ls) * -(o->w ? o->w[c] : 1.0) * lp[c] + o->ls / (double)C * smooth;
            den += o->w ? o->w[c] : 1.0;
        }
    *ond = nd - 1;
    if (o->probs) {
        *ond = nd - 1;
        den = (double)(N * inner);
        if (N * inner == 0) den = NAN;
    }
    if (nd > 1) os[0] = shape[0];
    for (int d = 2; d < nd; d++) os[d - 1] = shape[d];
    return ref_reduce(per, N * inner, o->red, den, ond);
}

typedef struct ce_shape {
    int nd;
    int64_t s[4];
} ce_shape;

/* One comparison of nb_cross_entropy / nb_nll_loss against ref_ce for the given values. */
static void ce_check(const double *x, int nd, const int64_t *shape, const double *t, const ce_ref_opts *ro,
                     nb_dtype dt, ref_layout layout, nb_dtype tdt) {
    int64_t C = shape[nd == 1 ? 0 : 1];
    nb_tensor *tx = ref_tensor(x, nd, shape, dt, layout), *tt;
    if (ro->probs) {
        tt = ref_tensor(t, nd, shape, dt, (ref_layout)((layout + 1) % REF_LAYOUTS));
    } else { /* (N, d1, ...) or 0-d */
        int64_t ts[4] = {shape[0]};
        for (int d = 2; d < nd; d++) ts[d - 1] = shape[d];
        tt = ref_tensor(t, nd - 1, ts, tdt, nd == 2 && layout == REF_STEPPED ? REF_STEPPED : REF_CONTIG);
    }
    nb_cross_entropy_opts o = {.reduction = ro->red, .use_ignore_index = ro->use_ig, .ignore_index = ro->ig,
                               .label_smoothing = ro->ls};
    if (ro->w) o.weight = ref_contig(ro->w, NB_SHAPE(C), dt);
    /* the reference sees the values the tensors hold (rounded to dt) */
    double *xr = ref_read(tx), *wr = ro->w ? ref_read(o.weight) : NULL, *trd = ro->probs ? ref_read(tt) : (double *)t;
    ce_ref_opts r2 = *ro;
    r2.w = wr;
    int ond;
    int64_t os[4];
    double *e = ref_ce(xr, nd, shape, trd, &r2, &ond, os);
    ref_set_ctx("nb_%s %s %s %s red=%s w=%d ls=%g ignore=%d probs=%d", ro->ce ? "cross_entropy" : "nll_loss",
                nb_dtype_name(dt), ref_shape_str(nd, shape), ref_layout_name[layout], k_red_names[ro->red], ro->w != NULL,
                ro->ls, ro->use_ig, ro->probs);
    nb_tensor *y = ro->ce ? nb_cross_entropy(tx, tt, &o) : nb_nll_loss(tx, tt, &o);
    /* losses are sums of terms up to ~10: an absolute tolerance on that scale */
    CHECK_REF(y, dt, ond, os, e, tol(dt), tol(dt) * 10);
}

static void test_cross_entropy_ref(void) {
    ref_seed(70);
    static const int64_t Ns[] = {1, 7, 17, 129}, Cs[] = {1, 3, 10};
    for (int ni = 0; ni < 4; ni++)
        for (int ci = 0; ci < 3; ci++)
            for (int variant = 0; variant < 12; variant++) {
                int64_t N = Ns[ni], C = Cs[ci], shape[2] = {N, C};
                bool weighted = variant & 1, probs = (variant >> 1) & 1, smooth = variant >= 4, ig = variant >= 8 && !probs;
                double *x = ref_values(N * C, NB_F64, -4, 4), *w = ref_values(C, NB_F64, 0.25, 2);
                double *t = probs ? ref_values(N * C, NB_F64, 0, 1) : ref_values(N, NB_I64, 0, (double)C - 1);
                for (int red = 0; red < 3; red++)
                    for (int l = 0; l < REF_LAYOUTS; l++) {
                        nb_dtype dt = (l + red + variant) % 3 == 0 ? NB_F64 : NB_F32;
                        ce_ref_opts o = {.ce = true, .probs = probs, .w = weighted ? w : NULL, .ls = smooth ? 0.15 : 0,
                                         .use_ig = ig, .ig = C > 1 ? 1 : 0, .red = k_reds[red]};
                        ce_check(x, 2, shape, t, &o, dt, (ref_layout)l, (l & 1) ? NB_I32 : NB_I64);
                        if (!probs && !smooth) { /* nll_loss on the same scores */
                            o.ce = false;
                            ce_check(x, 2, shape, t, &o, dt, (ref_layout)l, NB_I64);
                        }
                    }
            }
}

/* K-dim inputs (N, C, d1, d2), the 1-D form (C), and f16 / bf16. */
static void test_cross_entropy_kdim_and_half(void) {
    ref_seed(71);
    /* (3, 1500): the fused op's long-row path */
    static const ce_shape shapes[] = {{3, {7, 3, 5}}, {4, {2, 10, 3, 4}}, {1, {10}}, {4, {1, 3, 1, 17}}, {2, {3, 1500}}};
    for (int s = 0; s < REF_COUNT(shapes); s++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
            for (int variant = 0; variant < 4; variant++)
                for (int red = 0; red < 3; red++) {
                    const ce_shape *sh = &shapes[s];
                    nb_dtype dt = ref_float_dtypes[d];
                    int64_t C = sh->s[sh->nd == 1 ? 0 : 1], n = ref_numel(sh->nd, sh->s);
                    bool probs = variant & 1, weighted = variant & 2;
                    double *x = ref_values(n, NB_F64, -4, 4), *w = ref_values(C, NB_F64, 0.25, 2);
                    double *t = probs ? ref_values(n, NB_F64, 0, 1) : ref_values(n / C, NB_I64, 0, (double)C - 1);
                    ce_ref_opts o = {.ce = true, .probs = probs, .w = weighted ? w : NULL, .ls = 0.1,
                                     .use_ig = !probs, .ig = 2, .red = k_reds[red]};
                    ce_check(x, sh->nd, sh->s, t, &o, dt, (ref_layout)((s + red) % REF_LAYOUTS), NB_I64);
                    if (!probs) { /* nll_loss with the same options, no smoothing */
                        o.ce = false;
                        o.ls = 0;
                        ce_check(x, sh->nd, sh->s, t, &o, dt, (ref_layout)((s + red + 1) % REF_LAYOUTS), NB_I32);
                    }
                }
}

/* Every target ignored: mean is NaN (0 / 0, as PyTorch), sum 0, none zeros — with weights and label
 * smoothing too. Zero-weight targets count nothing in the weighted mean's denominator. */
static void test_cross_entropy_all_ignored(void) {
    const double x[] = {0.5, -1, 2, 0, 3, -2}; /* (2, 3) */
    nb_tensor *lx = ref_contig(x, NB_SHAPE(2, 3), NB_F64), *t = ref_contig((const double[]){1, 1}, NB_SHAPE(2), NB_I64);
    nb_tensor *w = ref_contig((const double[]){1, 2, 3}, NB_SHAPE(3), NB_F64);
    for (int sm = 0; sm < 2; sm++)
        for (int wi = 0; wi < 2; wi++) {
            nb_cross_entropy_opts o = {.use_ignore_index = true, .ignore_index = 1, .weight = wi ? w : NULL,
                                       .label_smoothing = sm ? 0.2 : 0};
            ref_set_ctx("all ignored smoothing=%d weight=%d", sm, wi);
            CHECK_REF(nb_cross_entropy(lx, t, &o), NB_F64, NB_SCALAR, ((const double[]){NAN}), 0, 0);
            if (!sm) CHECK_REF(nb_nll_loss(lx, t, &o), NB_F64, NB_SCALAR, ((const double[]){NAN}), 0, 0);
            o.reduction = NB_REDUCTION_SUM;
            CHECK_REF(nb_cross_entropy(lx, t, &o), NB_F64, NB_SCALAR, ((const double[]){0}), 0, 0);
            o.reduction = NB_REDUCTION_NONE;
            CHECK_REF(nb_cross_entropy(lx, t, &o), NB_F64, NB_SHAPE(2), ((const double[]){0, 0}), 0, 0);
        }
    /* weighted mean: sum(w[t] * nll) / sum(w[t]) */
    nb_tensor *t2 = ref_contig((const double[]){2, 0}, NB_SHAPE(2), NB_I64);
    nb_cross_entropy_opts ow = {.weight = w};
    ref_set_ctx("weighted nll mean");
    CHECK_REF(nb_nll_loss(lx, t2, &ow), NB_F64, NB_SCALAR, ((const double[]){-(3 * 2 + 1 * 0) / 4.0}), 1e-15, 0);
    /* an empty batch: NaN mean for probability targets too */
    nb_tensor *e = nb_zeros(NB_SHAPE(0, 3), NB_F32);
    ref_set_ctx("empty batch");
    CHECK_REF(nb_cross_entropy(e, e, NULL), NB_F32, NB_SCALAR, ((const double[]){NAN}), 0, 0);
    CHECK_REF(nb_cross_entropy(e, nb_zeros(NB_SHAPE(0), NB_I64), NULL), NB_F32, NB_SCALAR, ((const double[]){NAN}), 0, 0);
}

/* Gradients through the weighted / smoothed paths match their closed forms. */
static void test_cross_entropy_gradient(void) {
    const double x[] = {0.5, -1, 2, 0, 3, -2}, w[] = {1, 2, 3};
    nb_tensor *lx = nb_param(ref_contig(x, NB_SHAPE(2, 3), NB_F64));
    nb_tensor *t = ref_contig((const double[]){2, 0}, NB_SHAPE(2), NB_I64);
    nb_cross_entropy_opts o = {.weight = ref_contig(w, NB_SHAPE(3), NB_F64), .label_smoothing = 0.3};
    nb_tensor *loss = nb_cross_entropy(lx, t, &o);
    CHECK(nb_backward(loss) == 0);
    /* d/dx_j = sum over samples of [ (1-e) w_t (p_j - [j==t]) + e/C (W p_j - w_j) ] / den, W = sum w */
    double g[6], den = w[2] + w[0];
    const int64_t tv[2] = {2, 0};
    for (int i = 0; i < 2; i++) {
        double m = fmax(fmax(x[3 * i], x[3 * i + 1]), x[3 * i + 2]), s = 0;
        for (int j = 0; j < 3; j++) s += exp(x[3 * i + j] - m);
        for (int j = 0; j < 3; j++) {
            double p = exp(x[3 * i + j] - m) / s;
            g[3 * i + j] = (0.7 * w[tv[i]] * (p - (j == tv[i])) + 0.1 * (6 * p - w[j])) / den;
        }
    }
    ref_set_ctx("cross_entropy gradient weight + smoothing");
    CHECK_REF(nb_grad(lx), NB_F64, NB_SHAPE(2, 3), g, 1e-12, 1e-14);
}

/* The fused op (2-D / 1-D class indices) against the composition log_softmax + nll_loss, gradient
 * included, for short and long rows, every reduction, weights and ignore_index, and each float dtype. */
static void test_cross_entropy_fused_vs_composite(void) {
    ref_seed(76);
    static const int64_t Cs[] = {3, 1500};
    for (int ci = 0; ci < 2; ci++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
            for (int red = 0; red < 3; red++)
                for (int variant = 0; variant < 2; variant++) {
                    nb_dtype dt = ref_float_dtypes[d];
                    int64_t N = 17, C = Cs[ci];
                    double *x = ref_values(N * C, NB_F64, -4, 4), *t = ref_values(N, NB_I64, 0, 2), *w = ref_values(C, NB_F64, 0.25, 2);
                    nb_tensor *tt = ref_contig(t, NB_SHAPE(N), NB_I64);
                    nb_cross_entropy_opts o = {.reduction = k_reds[red], .use_ignore_index = variant, .ignore_index = 1,
                                               .weight = variant ? ref_contig(w, NB_SHAPE(C), dt) : NULL};
                    nb_tensor *x1 = nb_param(ref_tensor(x, NB_SHAPE(N, C), dt, (ref_layout)(red % 2)));
                    nb_tensor *x2 = nb_param(ref_contig(x, NB_SHAPE(N, C), dt));
                    nb_tensor *l1 = nb_cross_entropy(x1, tt, &o), *l2 = nb_nll_loss(nb_log_softmax(x2, 1), tt, &o);
                    ref_set_ctx("fused vs composite %s C=%lld red=%s variant=%d", nb_dtype_name(dt), (long long)C,
                                k_red_names[red], variant);
                    CHECK_MSG(l1 && strcmp(nb_grad_fn_name(l1), "CrossEntropyBackward") == 0, "%s", ref_ctx);
                    CHECK_REF(l1, dt, nb_ndim(l2), nb_shape(l2), ref_read(l2), tol(dt), tol(dt) * 10);
                    nb_tensor *s1 = nb_sum(nb_mul(l1, l1), NULL), *s2 = nb_sum(nb_mul(l2, l2), NULL);
                    CHECK(nb_backward(s1) == 0 && nb_backward(s2) == 0);
                    CHECK_REF(nb_grad(x1), dt, NB_SHAPE(N, C), ref_read(nb_grad(x2)), tol(dt) * 4, tol(dt) * 4);
                }
    /* special values: -inf logits are fine, an all -inf row or a NaN gives NaN, as PyTorch */
    const double inf = INFINITY;
    for (int d = 0; d < 2; d++) {
        nb_dtype dt = d ? NB_F64 : NB_F32;
        nb_tensor *x = ref_contig((const double[]){0, -inf, 0, -inf, -inf, -inf, 1, NAN, 2, 1000, 1000, -1000}, NB_SHAPE(4, 3), dt);
        nb_tensor *t = ref_contig((const double[]){0, 1, 0, 1}, NB_SHAPE(4), NB_I64);
        ref_set_ctx("cross_entropy special values %s", nb_dtype_name(dt));
        CHECK_REF(nb_cross_entropy(x, t, &(nb_cross_entropy_opts){.reduction = NB_REDUCTION_NONE}), dt, NB_SHAPE(4),
                  ((const double[]){log(2.0), NAN, NAN, log(2.0)}), tol(dt), tol(dt));
    }
}

/* ---- elementwise losses --------------------------------------------------------------------------- */

typedef enum ew {
    EW_MSE, EW_L1, EW_SMOOTH_L1, EW_HUBER, EW_BCE, EW_BCEL, EW_KL, EW_HINGE, EW_SOFT_MARGIN, EW_POISSON, EW_GAUSSIAN, EW_COUNT
} ew;
static const char *const k_ew_names[] = {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                                         "binary_cross_entropy_with_logits", "kl_div", "hinge_embedding_loss",
                                         "soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss"};

static double ref_ew(ew k, double x, double t, double w, double pw, double a, bool flag) {
    double d = x - t, ad = fabs(d);
    switch (k) {
    case EW_MSE: return d * d;
    case EW_L1: return ad;
    case EW_SMOOTH_L1: return a == 0 ? ad : ad < a ? 0.5 * d * d / a : ad - 0.5 * a;
    case EW_HUBER: return ad < a ? 0.5 * d * d : a * (ad - 0.5 * a);
    case EW_BCE: return -w * (t * fmax(log(x), -100) + (1 - t) * fmax(log(1 - x), -100));
    case EW_BCEL: {
        double lw = 1 + (pw - 1) * t, sp = log1p(exp(-fabs(x))) + fmax(-x, 0);
        return w * ((1 - t) * x + lw * sp);
    }
    case EW_KL: return flag ? exp(t) * (t - x) : t > 0 ? t * (log(t) - x) : 0;
    case EW_HINGE: return (t != 1 ? fmax(a - x, 0) : 0) + (t != -1 ? x : 0);
    case EW_SOFT_MARGIN: return log1p(exp(-t * x));
    case EW_POISSON: { /* flag: log_input; w: full (1) */
        double v = flag ? exp(x) - t * x : x - t * log(x + 1e-8);
        if (w > 0 && t > 1) v += t * log(t) - t + 0.5 * log(2 * 3.141592653589793 * t);
        return v;
    }
    case EW_GAUSSIAN: { /* pw: the variance; w: full (1) */
        double v = fmax(pw, 1e-6);
        return 0.5 * (log(v) + d * d / v) + (w > 0 ? 0.5 * log(2 * 3.141592653589793) : 0);
    }
    default: return NAN;
    }
}

static nb_tensor *call_ew(ew k, nb_tensor *x, nb_tensor *t, nb_tensor *w, nb_tensor *pw, double a, bool flag,
                          nb_reduction r) {
    switch (k) {
    case EW_MSE: return nb_mse_loss(x, t, r);
    case EW_L1: return nb_l1_loss(x, t, r);
    case EW_SMOOTH_L1: return nb_smooth_l1_loss(x, t, r, a);
    case EW_HUBER: return nb_huber_loss(x, t, r, a);
    case EW_BCE: return nb_binary_cross_entropy(x, t, w, r);
    case EW_BCEL: return nb_binary_cross_entropy_with_logits(x, t, w, pw, r);
    case EW_KL: return nb_kl_div(x, t, r, flag);
    case EW_HINGE: return nb_hinge_embedding_loss(x, t, a, r);
    case EW_SOFT_MARGIN: return nb_soft_margin_loss(x, t, r);
    case EW_POISSON: return nb_poisson_nll_loss(x, t, flag, w != NULL, 1e-8, r);
    case EW_GAUSSIAN: return nb_gaussian_nll_loss(x, t, pw, w != NULL, 1e-6, r);
    default: return NULL;
    }
}

/* Values of input and target for each loss: BCE inputs in [0, 1] (0 and 1 exercise the -100 clamp),
 * KL targets in [0, 1] (zeros exercise xlogy), hinge targets +-1 (and 0). */
static void ew_values(ew k, int64_t n, bool flag, double **x, double **t) {
    *x = ref_values(n, NB_F64, k == EW_BCE ? 0 : -4, k == EW_BCE ? 1 : 4);
    *t = ref_values(n, NB_F64, k == EW_KL && flag ? -3 : k == EW_MSE || k == EW_L1 || k == EW_SMOOTH_L1 || k == EW_HUBER ? -4 : 0,
                    k == EW_KL && flag ? 0 : k == EW_BCE || k == EW_BCEL || k == EW_KL ? 1 : 4);
    if (k == EW_HINGE || k == EW_SOFT_MARGIN)
        for (int64_t i = 0; i < n; i++) (*t)[i] = (double)(i % 5 == 4 && k == EW_HINGE ? 0 : i % 2 ? 1 : -1);
    if (k == EW_POISSON) { /* counts; positive rates when not log_input */
        *t = ref_values(n, NB_F64, 0, 6);
        for (int64_t i = 0; i < n; i++) (*t)[i] = floor((*t)[i]);
        if (!flag) *x = ref_values(n, NB_F64, 0.125, 4);
    }
}

static void test_elementwise_ref(void) {
    ref_seed(72);
    static const ce_shape shapes[] = {{1, {1}}, {1, {7}}, {2, {17, 3}}, {2, {129, 10}}, {0, {0}}, {2, {3, 0}}};
    for (int k = 0; k < EW_COUNT; k++)
        for (int s = 0; s < REF_COUNT(shapes); s++)
            for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
                for (int variant = 0; variant < 2; variant++)
                    for (int red = 0; red < 3; red++) {
                        const ce_shape *sh = &shapes[s];
                        nb_dtype dt = ref_float_dtypes[d];
                        ref_layout lx = (ref_layout)((s + d + red) % REF_LAYOUTS), lt = (ref_layout)((s + red + 1) % REF_LAYOUTS);
                        int64_t n = ref_numel(sh->nd, sh->s), last = sh->nd ? sh->s[sh->nd - 1] : 1;
                        bool flag = variant; /* kl_div log_target */
                        double a = k == EW_HINGE ? (variant ? 0.5 : 1.0) : variant ? 0.0 : 0.75; /* beta 0 = L1 */
                        if (k == EW_HUBER) a = variant ? 2.0 : 0.75;
                        double *x, *t;
                        ew_values((ew)k, n, flag, &x, &t);
                        nb_tensor *tx = ref_tensor(x, sh->nd, sh->s, dt, lx), *tt = ref_tensor(t, sh->nd, sh->s, dt, lt);
                        /* weights: a (last) row broadcast; pos_weight per last-dim column */
                        nb_tensor *w = NULL, *pw = NULL;
                        double *wv = ref_values(last, NB_F64, 0.25, 2), *pv = ref_values(last, NB_F64, 0.5, 3);
                        if ((k == EW_BCE || k == EW_BCEL) && variant && sh->nd) {
                            w = ref_contig(wv, 1, &last, dt);
                            if (k == EW_BCEL) pw = ref_contig(pv, 1, &last, dt);
                        }
                        if (k == EW_POISSON && red != 1) w = nb_scalar(1, dt); /* full (the value is unused) */
                        if (k == EW_GAUSSIAN) { /* variances with input's shape; full on variant 1, zeros clamp */
                            /* zeros clamp to eps; not in f16 / bf16, where d^2 / 1e-6 overflows (as in PyTorch) */
                            double *vv = ref_values(n, NB_F64, dt == NB_F16 || dt == NB_BF16 ? 0.25 : 0, 3);
                            pw = ref_tensor(vv, sh->nd, sh->s, dt, (ref_layout)((lx + 2) % REF_LAYOUTS));
                            if (variant) w = nb_scalar(1, dt);
                        }
                        double *xr = ref_read(tx), *tr = ref_read(tt), *wr = w && nb_ndim(w) ? ref_read(w) : NULL,
                               *pr = pw ? ref_read(pw) : NULL;
                        double *per = ref_darray(n);
                        for (int64_t i = 0; i < n; i++) {
                            if (k == EW_POISSON || k == EW_GAUSSIAN) /* w: the "full" flag; pw: the variance */
                                per[i] = ref_ew((ew)k, xr[i], tr[i], w ? 1 : 0, pr ? pr[i] : 1, a, flag);
                            else
                                per[i] = ref_ew((ew)k, xr[i], tr[i], wr ? wr[i % last] : 1, pr ? pr[i % last] : 1, a, flag);
                        }
                        int ond = sh->nd;
                        double *e = ref_reduce(per, n, k_reds[red], (double)n, &ond);
                        ref_set_ctx("nb_%s %s %s x %s t %s red=%s a=%g variant=%d", k_ew_names[k], nb_dtype_name(dt),
                                    ref_shape_str(sh->nd, sh->s), ref_layout_name[lx], ref_layout_name[lt], k_red_names[red],
                                    a, variant);
                        nb_tensor *y = call_ew((ew)k, tx, tt, w, pw, a, flag, k_reds[red]);
                        CHECK_REF(y, dt, ond, sh->s, e, tol(dt), tol(dt) * 4);
                    }
}

/* kl_div batchmean divides the sum by dim 0; mse / l1 broadcast input and target. */
static void test_kl_batchmean_and_broadcast(void) {
    ref_seed(73);
    double *x = ref_values(21, NB_F64, -3, 0), *t = ref_values(21, NB_F64, 0, 1);
    for (int lt = 0; lt < 2; lt++) {
        double s = 0;
        for (int i = 0; i < 21; i++) s += ref_ew(EW_KL, x[i], lt ? -t[i] : t[i], 1, 1, 0, lt);
        double *tn = ref_darray(21);
        for (int i = 0; i < 21; i++) tn[i] = lt ? -t[i] : t[i];
        ref_set_ctx("kl_div batchmean log_target=%d", lt);
        CHECK_REF(nb_kl_div(ref_tensor(x, NB_SHAPE(7, 3), NB_F64, REF_TRANSPOSED), ref_contig(tn, NB_SHAPE(7, 3), NB_F64),
                            NB_REDUCTION_BATCHMEAN, lt),
                  NB_F64, NB_SCALAR, ((const double[]){s / 7}), 1e-12, 1e-14);
        CHECK_REF(nb_kl_div(ref_contig(x, NB_SHAPE(21), NB_F32), ref_contig(tn, NB_SHAPE(21), NB_F32),
                            NB_REDUCTION_BATCHMEAN, lt),
                  NB_F32, NB_SCALAR, ((const double[]){s / 21}), 1e-5, 1e-6);
    }
    /* broadcast: input (7, 1) against target (3) gives (7, 3) */
    double *a = ref_values(7, NB_F64, -2, 2), *b = ref_values(3, NB_F64, -2, 2), *e = ref_darray(21), *e1 = ref_darray(21);
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 3; j++) {
            e[i * 3 + j] = (a[i] - b[j]) * (a[i] - b[j]);
            e1[i * 3 + j] = fabs(a[i] - b[j]);
        }
    nb_tensor *ta = ref_contig(a, NB_SHAPE(7, 1), NB_F32), *tb = ref_tensor(b, NB_SHAPE(3), NB_F32, REF_STEPPED);
    ref_set_ctx("mse_loss broadcast");
    CHECK_REF(nb_mse_loss(ta, tb, NB_REDUCTION_NONE), NB_F32, NB_SHAPE(7, 3), e, 1e-6, 1e-6);
    CHECK_REF(nb_l1_loss(ta, tb, NB_REDUCTION_NONE), NB_F32, NB_SHAPE(7, 3), e1, 1e-6, 1e-6);
    /* expanded (stride 0) input */
    nb_tensor *ex = nb_expand(ref_contig(a, NB_SHAPE(7, 1), NB_F64), NB_SHAPE(7, 3));
    double s = 0;
    for (int i = 0; i < 21; i++) s += e[i];
    ref_set_ctx("mse_loss expanded input");
    CHECK_REF(nb_mse_loss(ex, ref_contig(b, NB_SHAPE(3), NB_F64), NB_REDUCTION_SUM), NB_F64, NB_SCALAR,
              ((const double[]){s}), 1e-13, 0);
    /* mixed dtypes promote */
    CHECK(nb_dtype_of(nb_mse_loss(ta, ref_contig(b, NB_SHAPE(3), NB_F64), NB_REDUCTION_MEAN)) == NB_F64);
    /* BCE with logits: large logits stay finite and exact */
    nb_tensor *big = ref_contig((const double[]){-200, 200, 0}, NB_SHAPE(3), NB_F32);
    nb_tensor *tb3 = ref_contig((const double[]){1, 0, 0.5}, NB_SHAPE(3), NB_F32);
    ref_set_ctx("bce_with_logits large logits");
    CHECK_REF(nb_binary_cross_entropy_with_logits(big, tb3, NULL, NULL, NB_REDUCTION_NONE), NB_F32, NB_SHAPE(3),
              ((const double[]){200, 200, log(2.0)}), 1e-6, 0);
    /* tiny losses keep their relative accuracy (log1p, not log(1 + e)) in f32 and f64 */
    for (int d = 0; d < 2; d++) {
        nb_dtype dt = d ? NB_F64 : NB_F32;
        ref_set_ctx("BCE tiny losses %s", nb_dtype_name(dt));
        CHECK_REF(nb_binary_cross_entropy_with_logits(ref_contig((const double[]){20, 5, 30}, NB_SHAPE(3), dt),
                                                      ref_contig((const double[]){1, 1, 1}, NB_SHAPE(3), dt), NULL, NULL,
                                                      NB_REDUCTION_NONE),
                  dt, NB_SHAPE(3), ((const double[]){log1p(exp(-20.0)), log1p(exp(-5.0)), log1p(exp(-30.0))}), 1e-6, 0);
        CHECK_REF(nb_binary_cross_entropy(ref_contig((const double[]){1e-6, 0.75}, NB_SHAPE(2), dt),
                                          ref_contig((const double[]){0, 1}, NB_SHAPE(2), dt), NULL, NB_REDUCTION_NONE),
                  dt, NB_SHAPE(2), ((const double[]){-log1p(-(double)(float)1e-6), -log(0.75)}), 1e-6, 0);
    }
    /* BCE at 0 and 1: each log clamped at -100 */
    nb_tensor *p01 = ref_contig((const double[]){0, 1, 0, 1}, NB_SHAPE(4), NB_F64);
    nb_tensor *t01 = ref_contig((const double[]){1, 0, 0, 1}, NB_SHAPE(4), NB_F64);
    ref_set_ctx("bce clamp");
    CHECK_REF(nb_binary_cross_entropy(p01, t01, NULL, NB_REDUCTION_NONE), NB_F64, NB_SHAPE(4),
              ((const double[]){100, 100, 0, 0}), 0, 0);
    /* and its gradient at the clamp is finite, as PyTorch's (x - t) / max(x (1 - x), 1e-12) */
    nb_tensor *pp = nb_param(ref_contig((const double[]){0, 0.5}, NB_SHAPE(2), NB_F64));
    CHECK(nb_backward(nb_binary_cross_entropy(pp, ref_contig((const double[]){0, 1}, NB_SHAPE(2), NB_F64), NULL,
                                              NB_REDUCTION_SUM)) == 0);
    CHECK_REF(nb_grad(pp), NB_F64, NB_SHAPE(2), ((const double[]){0, -2}), 1e-15, 0);
}

/* gaussian_nll_loss: one variance per sample, (N) or (N, 1) against input (N, D). */
static void test_gaussian_var_shapes(void) {
    ref_seed(77);
    double *x = ref_values(21, NB_F64, -2, 2), *t = ref_values(21, NB_F64, -2, 2), *v = ref_values(7, NB_F64, 0.5, 2), s = 0;
    for (int i = 0; i < 21; i++) s += ref_ew(EW_GAUSSIAN, x[i], t[i], 0, v[i / 3], 0, false);
    nb_tensor *tx = ref_contig(x, NB_SHAPE(7, 3), NB_F64), *tt = ref_contig(t, NB_SHAPE(7, 3), NB_F64);
    ref_set_ctx("gaussian_nll_loss per-sample variance");
    CHECK_REF(nb_gaussian_nll_loss(tx, tt, ref_contig(v, NB_SHAPE(7), NB_F64), false, 1e-6, NB_REDUCTION_SUM), NB_F64,
              NB_SCALAR, ((const double[]){s}), 1e-12, 0);
    CHECK_REF(nb_gaussian_nll_loss(tx, tt, ref_contig(v, NB_SHAPE(7, 1), NB_F64), false, 1e-6, NB_REDUCTION_MEAN), NB_F64,
              NB_SCALAR, ((const double[]){s / 21}), 1e-12, 0);
    /* soft_margin_loss is stable for large margins */
    ref_set_ctx("soft_margin_loss large");
    CHECK_REF(nb_soft_margin_loss(ref_contig((const double[]){-200, 200}, NB_SHAPE(2), NB_F32),
                                  ref_contig((const double[]){1, 1}, NB_SHAPE(2), NB_F32), NB_REDUCTION_NONE),
              NB_F32, NB_SHAPE(2), ((const double[]){200, 0}), 1e-6, 1e-30);
}

/* mse / bce-with-logits fused ops: results do not depend on the thread count (fixed chunks). */
static void test_large_sums(void) {
    ref_seed(74);
    int64_t n = 100003;
    double *x = ref_values(n, NB_F64, -4, 4), *t = ref_values(n, NB_F64, 0, 1), s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (x[i] - t[i]) * (x[i] - t[i]);
        s2 += ref_ew(EW_BCEL, x[i], t[i], 1, 1, 0, false);
    }
    nb_tensor *tx = ref_contig(x, NB_SHAPE(n), NB_F32), *tt = ref_contig(t, NB_SHAPE(n), NB_F32);
    ref_set_ctx("large mse / bce_with_logits");
    CHECK_REF(nb_mse_loss(tx, tt, NB_REDUCTION_MEAN), NB_F32, NB_SCALAR, ((const double[]){s / (double)n}), 1e-6, 0);
    CHECK_REF(nb_binary_cross_entropy_with_logits(tx, tt, NULL, NULL, NB_REDUCTION_SUM), NB_F32, NB_SCALAR,
              ((const double[]){s2}), 1e-5, 0);
}

/* The fused ops give bitwise the same losses and gradients on 1 and 2 threads (fixed chunks / rows). */
static void test_thread_determinism(void) {
    ref_seed(78);
    int64_t n = 3 * 16384 + 5, N = 300, C = 100;
    double *x = ref_values(n, NB_F64, -4, 4), *t = ref_values(n, NB_F64, 0, 1), *tc = ref_values(N, NB_I64, 0, 99);
    double got[2][6];
    int before = nb_get_num_threads();
    for (int th = 0; th < 2; th++) {
        nb_set_num_threads(th + 1);
        nb_scope_begin();
        nb_tensor *tx = nb_param(ref_contig(x, NB_SHAPE(n), NB_F32)), *tt = ref_contig(t, NB_SHAPE(n), NB_F32);
        nb_tensor *lx = nb_param(ref_contig(x, NB_SHAPE(N, C), NB_F32)), *lt = ref_contig(tc, NB_SHAPE(N), NB_I64);
        nb_tensor *l[3] = {nb_mse_loss(tx, tt, NB_REDUCTION_SUM),
                           nb_binary_cross_entropy_with_logits(tx, tt, NULL, NULL, NB_REDUCTION_MEAN),
                           nb_cross_entropy(lx, lt, NULL)};
        for (int k = 0; k < 3; k++) got[th][k] = nb_item(l[k]);
        CHECK(nb_backward(nb_add(nb_add(l[0], l[1]), l[2])) == 0);
        got[th][3] = nb_item(nb_sum(nb_mul(nb_grad(tx), nb_grad(tx)), NULL));
        got[th][4] = nb_item(nb_sum(nb_mul(nb_grad(lx), nb_grad(lx)), NULL));
        got[th][5] = nb_item(nb_sum(nb_grad(lx), NULL));
        nb_scope_end();
    }
    nb_set_num_threads(before);
    for (int k = 0; k < 6; k++) CHECK_MSG(got[0][k] == got[1][k], "value %d: %.17g vs %.17g", k, got[0][k], got[1][k]);
}

/* ---- ranking and embedding losses ---------------------------------------------------------------- */

static double ref_norm_p(const double *a, const double *b, int64_t D, double p, double eps) {
    double s = 0;
    for (int64_t j = 0; j < D; j++) s += pow(fabs(a[j] - b[j] + eps), p);
    return pow(s, 1 / p);
}

static void test_ranking_ref(void) {
    ref_seed(75);
    static const int64_t Ns[] = {1, 7, 17, 129}, Ds[] = {1, 3, 10};
    for (int ni = 0; ni < 4; ni++)
        for (int di = 0; di < 3; di++)
            for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
                for (int red = 0; red < 3; red++) {
                    nb_dtype dt = ref_float_dtypes[d];
                    int64_t N = Ns[ni], D = Ds[di], sh[2] = {N, D};
                    ref_layout l = (ref_layout)((ni + di + red) % REF_LAYOUTS);
                    double *a = ref_values(N * D, NB_F64, -2, 2), *p = ref_values(N * D, NB_F64, -2, 2),
                           *q = ref_values(N * D, NB_F64, -2, 2), *y = ref_darray(N);
                    for (int64_t i = 0; i < N; i++) y[i] = i % 3 ? 1 : -1;
                    nb_tensor *ta = ref_tensor(a, 2, sh, dt, l), *tp = ref_tensor(p, 2, sh, dt, REF_CONTIG),
                              *tq = ref_tensor(q, 2, sh, dt, (ref_layout)((l + 1) % REF_LAYOUTS)),
                              *ty = ref_contig(y, 1, &N, dt);
                    double *ar = ref_read(ta), *pr = ref_read(tp), *qr = ref_read(tq);
                    int ond = 1;
                    /* margin_ranking on the first column (N) */
                    double *per = ref_darray(N);
                    nb_tensor *c1 = nb_reshape(nb_slice(ta, 1, 0, 1, 1), 1, &N), *c2 = nb_reshape(nb_slice(tp, 1, 0, 1, 1), 1, &N);
                    for (int64_t i = 0; i < N; i++) per[i] = fmax(0, -y[i] * (ar[i * D] - pr[i * D]) + 0.25);
                    double *e = ref_reduce(per, N, k_reds[red], (double)N, &ond);
                    ref_set_ctx("nb_margin_ranking_loss %s N=%lld red=%s", nb_dtype_name(dt), (long long)N, k_red_names[red]);
                    CHECK_REF(nb_margin_ranking_loss(c1, c2, ty, 0.25, k_reds[red]), dt, ond, &N, e, tol(dt), tol(dt) * 4);
                    /* cosine_embedding (N, D) */
                    per = ref_darray(N);
                    for (int64_t i = 0; i < N; i++) {
                        double pd = 0, m1 = 1e-12, m2 = 1e-12;
                        for (int64_t j = 0; j < D; j++) {
                            pd += ar[i * D + j] * pr[i * D + j];
                            m1 += ar[i * D + j] * ar[i * D + j];
                            m2 += pr[i * D + j] * pr[i * D + j];
                        }
                        double cs = pd / sqrt(m1 * m2);
                        per[i] = y[i] == 1 ? 1 - cs : fmax(0, cs - 0.1);
                    }
                    ond = 1;
                    e = ref_reduce(per, N, k_reds[red], (double)N, &ond);
                    ref_set_ctx("nb_cosine_embedding_loss %s [%lld, %lld] %s red=%s", nb_dtype_name(dt), (long long)N,
                                (long long)D, ref_layout_name[l], k_red_names[red]);
                    CHECK_REF(nb_cosine_embedding_loss(ta, tp, ty, 0.1, k_reds[red]), dt, ond, &N, e, tol(dt), tol(dt) * 4);
                    /* triplet_margin: p = 2 and p = 1 and p = 3, with and without swap */
                    const double ps[] = {2, 1, 3};
                    for (int pi = 0; pi < 3; pi++)
                        for (int swap = 0; swap < 2; swap++) {
                            per = ref_darray(N);
                            for (int64_t i = 0; i < N; i++) {
                                double dp = ref_norm_p(ar + i * D, pr + i * D, D, ps[pi], 1e-6);
                                double dn = ref_norm_p(ar + i * D, qr + i * D, D, ps[pi], 1e-6);
                                if (swap) dn = fmin(dn, ref_norm_p(pr + i * D, qr + i * D, D, ps[pi], 1e-6));
                                per[i] = fmax(dp - dn + 1.0, 0);
                            }
                            ond = 1;
                            e = ref_reduce(per, N, k_reds[red], (double)N, &ond);
                            ref_set_ctx("nb_triplet_margin_loss %s [%lld, %lld] p=%g swap=%d red=%s", nb_dtype_name(dt),
                                        (long long)N, (long long)D, ps[pi], swap, k_red_names[red]);
                            CHECK_REF(nb_triplet_margin_loss(ta, tp, tq, 1.0, ps[pi], 1e-6, swap, k_reds[red]), dt, ond, &N,
                                      e, tol(dt) * 2, tol(dt) * 8);
                        }
                }
    /* (D) forms: 0-d targets and results */
    nb_tensor *u = ref_contig((const double[]){1, 0, 0}, NB_SHAPE(3), NB_F64), *v = ref_contig((const double[]){0, 1, 0}, NB_SHAPE(3), NB_F64);
    ref_set_ctx("1-D forms");
    CHECK_REF(nb_cosine_embedding_loss(u, v, nb_scalar(1, NB_I64), 0, NB_REDUCTION_NONE), NB_F64, NB_SCALAR,
              ((const double[]){1}), 1e-12, 0);
    CHECK_REF(nb_cosine_embedding_loss(u, u, nb_scalar(-1, NB_I64), 0.5, NB_REDUCTION_MEAN), NB_F64, NB_SCALAR,
              ((const double[]){0.5}), 1e-11, 0);
    CHECK_REF(nb_triplet_margin_loss(u, u, v, 2.0, 2, 0, false, NB_REDUCTION_NONE), NB_F64, NB_SCALAR,
              ((const double[]){2 - sqrt(2.0)}), 1e-12, 1e-12);
    CHECK_REF(nb_triplet_margin_loss(u, u, v, 1.0, 2, 0, false, NB_REDUCTION_NONE), NB_F64, NB_SCALAR,
              ((const double[]){0}), 0, 0);
}

/* ---- errors --------------------------------------------------------------------------------------- */

static void test_errors(void) {
    nb_tensor *x = nb_zeros(NB_SHAPE(2, 3), NB_F32), *t = nb_zeros(NB_SHAPE(2), NB_I64);
    nb_tensor *f = nb_zeros(NB_SHAPE(2, 3), NB_F32), *i = nb_zeros(NB_SHAPE(2, 3), NB_I32);
    /* cross_entropy / nll_loss */
    CHECK_NULL_WITH(nb_cross_entropy(x, ref_contig((const double[]){0, 5}, NB_SHAPE(2), NB_I64), NULL), "target value 5",
                    "flat index 1", "3 classes");
    CHECK_NULL_WITH(nb_cross_entropy(x, nb_zeros(NB_SHAPE(3, 2), NB_F32), NULL), "nb_cross_entropy", "[3, 2]", "[2, 3]",
                    "probabilities");
    CHECK_NULL_WITH(nb_cross_entropy(x, nb_zeros(NB_SHAPE(2), NB_F32), NULL), "nb_cross_entropy", "integer", "f32");
    CHECK_NULL_WITH(nb_cross_entropy(x, i, NULL), "nb_cross_entropy", "i32", "floating");
    CHECK_NULL_WITH(nb_cross_entropy(x, f, &(nb_cross_entropy_opts){.use_ignore_index = true, .ignore_index = 0}),
                    "nb_cross_entropy", "ignore_index", "probability");
    CHECK(nb_cross_entropy(x, f, &(nb_cross_entropy_opts){.use_ignore_index = true, .ignore_index = -100}) != NULL);
    CHECK_NULL_WITH(nb_cross_entropy(x, t, &(nb_cross_entropy_opts){.weight = nb_ones(NB_SHAPE(2), NB_F32)}),
                    "nb_cross_entropy", "weight", "[2]", "3 entries");
    CHECK_NULL_WITH(nb_cross_entropy(x, f, &(nb_cross_entropy_opts){.weight = nb_ones(NB_SHAPE(3), NB_F64)}),
                    "nb_cross_entropy", "weight", "f64", "f32");
    CHECK_NULL_WITH(nb_nll_loss(x, t, &(nb_cross_entropy_opts){.weight = nb_ones(NB_SHAPE(1, 3), NB_F32)}),
                    "nb_nll_loss", "weight", "[1, 3]");
    CHECK_NULL_WITH(nb_cross_entropy(x, t, &(nb_cross_entropy_opts){.label_smoothing = 1.5}), "nb_cross_entropy",
                    "label_smoothing", "1.5");
    CHECK_NULL_WITH(nb_cross_entropy(x, t, &(nb_cross_entropy_opts){.label_smoothing = -0.1}), "label_smoothing");
    CHECK_NULL_WITH(nb_nll_loss(x, t, &(nb_cross_entropy_opts){.label_smoothing = 0.1}), "nb_nll_loss",
                    "label_smoothing");
    CHECK_NULL_WITH(nb_cross_entropy(x, t, &(nb_cross_entropy_opts){.reduction = NB_REDUCTION_BATCHMEAN}),
                    "nb_cross_entropy", "reduction 3");
    /* elementwise */
    nb_tensor *a = nb_zeros(NB_SHAPE(2, 3), NB_F32), *b4 = nb_zeros(NB_SHAPE(4), NB_F32);
    CHECK_NULL_WITH(nb_mse_loss(a, b4, NB_REDUCTION_MEAN), "nb_mse_loss", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_mse_loss(i, a, NB_REDUCTION_MEAN), "nb_mse_loss", "input", "i32", "floating");
    CHECK_NULL_WITH(nb_mse_loss(a, a, NB_REDUCTION_BATCHMEAN), "nb_mse_loss", "batchmean", "kl_div");
    CHECK_NULL_WITH(nb_l1_loss(a, a, (nb_reduction)9), "nb_l1_loss", "invalid reduction 9");
    CHECK_NULL_WITH(nb_l1_loss(a, nb_zeros(NB_SHAPE(2, 3), NB_I64), NB_REDUCTION_SUM), "nb_l1_loss", "target", "i64");
    CHECK_NULL_WITH(nb_smooth_l1_loss(a, a, NB_REDUCTION_MEAN, -1), "nb_smooth_l1_loss", "beta = -1");
    CHECK_NULL_WITH(nb_huber_loss(a, a, NB_REDUCTION_MEAN, 0), "nb_huber_loss", "delta = 0");
    CHECK_NULL_WITH(nb_huber_loss(a, b4, NB_REDUCTION_MEAN, 1), "nb_huber_loss", "[4]");
    CHECK_NULL_WITH(nb_binary_cross_entropy(a, nb_zeros(NB_SHAPE(3), NB_F32), NULL, NB_REDUCTION_MEAN),
                    "nb_binary_cross_entropy", "[3]", "[2, 3]", "same shape");
    CHECK_NULL_WITH(nb_binary_cross_entropy(ref_contig((const double[]){0.5, 1.5, -1}, NB_SHAPE(3), NB_F32),
                                            nb_zeros(NB_SHAPE(3), NB_F32), NULL, NB_REDUCTION_MEAN),
                    "nb_binary_cross_entropy", "1.5", "flat index 1", "[0, 1]");
    CHECK_NULL_WITH(nb_binary_cross_entropy(a, a, nb_ones(NB_SHAPE(2), NB_F32), NB_REDUCTION_MEAN),
                    "nb_binary_cross_entropy", "weight", "[2]", "[2, 3]");
    CHECK_NULL_WITH(nb_binary_cross_entropy_with_logits(a, a, NULL, nb_ones(NB_SHAPE(4), NB_F32), NB_REDUCTION_MEAN),
                    "nb_binary_cross_entropy_with_logits", "pos_weight", "[4]");
    CHECK_NULL_WITH(nb_binary_cross_entropy_with_logits(a, t, NULL, NULL, NB_REDUCTION_MEAN),
                    "nb_binary_cross_entropy_with_logits", "target", "i64");
    CHECK_NULL_WITH(nb_binary_cross_entropy_with_logits(a, a, nb_ones(NB_SHAPE(3), NB_I32), NULL, NB_REDUCTION_MEAN),
                    "nb_binary_cross_entropy_with_logits", "weight", "floating");
    CHECK_NULL_WITH(nb_kl_div(a, b4, NB_REDUCTION_BATCHMEAN, false), "nb_kl_div", "[4]");
    CHECK_NULL_WITH(nb_kl_div(a, a, (nb_reduction)-1, false), "nb_kl_div", "invalid reduction -1");
    CHECK_NULL_WITH(nb_hinge_embedding_loss(a, nb_ones(NB_SHAPE(2, 3), NB_I64), 1, NB_REDUCTION_MEAN),
                    "nb_hinge_embedding_loss", "target", "floating");
    /* ranking and embedding */
    nb_tensor *y2 = nb_ones(NB_SHAPE(2), NB_F32);
    CHECK_NULL_WITH(nb_margin_ranking_loss(a, a, y2, 0, NB_REDUCTION_MEAN), "nb_margin_ranking_loss", "[2, 3]", "[2]",
                    "same number of dims");
    CHECK_NULL_WITH(nb_margin_ranking_loss(y2, nb_ones(NB_SHAPE(3), NB_F32), y2, 0, NB_REDUCTION_MEAN),
                    "nb_margin_ranking_loss", "[2]", "[3]");
    CHECK_NULL_WITH(nb_cosine_embedding_loss(a, nb_zeros(NB_SHAPE(2, 4), NB_F32), y2, 0, NB_REDUCTION_MEAN),
                    "nb_cosine_embedding_loss", "[2, 3]", "[2, 4]");
    CHECK_NULL_WITH(nb_cosine_embedding_loss(a, a, nb_ones(NB_SHAPE(3), NB_F32), 0, NB_REDUCTION_MEAN),
                    "nb_cosine_embedding_loss", "target", "[3]", "(N)");
    CHECK_NULL_WITH(nb_cosine_embedding_loss(nb_zeros(NB_SHAPE(2, 3, 1), NB_F32), nb_zeros(NB_SHAPE(2, 3, 1), NB_F32), y2,
                                             0, NB_REDUCTION_MEAN),
                    "nb_cosine_embedding_loss", "[2, 3, 1]");
    CHECK_NULL_WITH(nb_triplet_margin_loss(a, a, b4, 1, 2, 1e-6, false, NB_REDUCTION_MEAN), "nb_triplet_margin_loss",
                    "[4]", "(N, D)");
    CHECK_NULL_WITH(nb_triplet_margin_loss(a, a, a, 1, 0, 1e-6, false, NB_REDUCTION_MEAN), "nb_triplet_margin_loss",
                    "p = 0");
    CHECK_NULL_WITH(nb_triplet_margin_loss(a, a, a, 1, 2, -1, false, NB_REDUCTION_MEAN), "nb_triplet_margin_loss",
                    "eps = -1");
    CHECK_NULL_WITH(nb_triplet_margin_loss(a, a, nb_zeros(NB_SHAPE(2, 3), NB_I64), 1, 2, 0, false, NB_REDUCTION_MEAN),
                    "nb_triplet_margin_loss", "negative", "i64");
    CHECK_NULL_WITH(nb_poisson_nll_loss(a, a, true, false, -1, NB_REDUCTION_MEAN), "nb_poisson_nll_loss", "eps = -1");
    CHECK_NULL_WITH(nb_gaussian_nll_loss(a, a, nb_ones(NB_SHAPE(3), NB_F32), false, 1e-6, NB_REDUCTION_MEAN),
                    "nb_gaussian_nll_loss", "var", "[3]", "[2, 3]");
    CHECK_NULL_WITH(nb_gaussian_nll_loss(a, a, ref_contig((const double[]){1, -2}, NB_SHAPE(2), NB_F32), false, 1e-6,
                                         NB_REDUCTION_MEAN),
                    "nb_gaussian_nll_loss", "negative", "-2", "flat index 1");
    CHECK_NULL_WITH(nb_gaussian_nll_loss(a, a, NULL, false, 1e-6, NB_REDUCTION_MEAN), "nb_gaussian_nll_loss", "#3");
    CHECK_NULL_WITH(nb_gaussian_nll_loss(a, a, a, false, -1, NB_REDUCTION_MEAN), "nb_gaussian_nll_loss", "eps = -1");
    CHECK_NULL_WITH(nb_soft_margin_loss(a, b4, NB_REDUCTION_MEAN), "nb_soft_margin_loss", "[4]");
    /* NULL arguments */
    CHECK_NULL_WITH(nb_mse_loss(NULL, a, NB_REDUCTION_MEAN), "nb_mse_loss", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_binary_cross_entropy(a, NULL, NULL, NB_REDUCTION_MEAN), "nb_binary_cross_entropy", "#2");
    CHECK_NULL_WITH(nb_binary_cross_entropy_with_logits(NULL, a, NULL, NULL, NB_REDUCTION_MEAN), "#1");
    CHECK_NULL_WITH(nb_kl_div(a, NULL, NB_REDUCTION_MEAN, false), "nb_kl_div", "#2");
    CHECK_NULL_WITH(nb_triplet_margin_loss(a, a, NULL, 1, 2, 0, false, NB_REDUCTION_MEAN), "nb_triplet_margin_loss", "#3");
    CHECK_NULL_WITH(nb_cosine_embedding_loss(a, a, NULL, 0, NB_REDUCTION_MEAN), "#3");
    CHECK_NULL_WITH(nb_margin_ranking_loss(NULL, a, a, 0, NB_REDUCTION_MEAN), "#1");
    CHECK_NULL_WITH(nb_hinge_embedding_loss(a, NULL, 1, NB_REDUCTION_MEAN), "#2");
    CHECK_NULL_WITH(nb_l1_loss(a, NULL, NB_REDUCTION_MEAN), "#2");
    CHECK_NULL_WITH(nb_smooth_l1_loss(NULL, a, NB_REDUCTION_MEAN, 1), "#1");
    CHECK_NULL_WITH(nb_huber_loss(NULL, a, NB_REDUCTION_MEAN, 1), "#1");
}

int main(void) {
    REF_RUN(test_cross_entropy_ref);
    REF_RUN(test_cross_entropy_kdim_and_half);
    REF_RUN(test_cross_entropy_all_ignored);
    REF_RUN(test_cross_entropy_gradient);
    REF_RUN(test_cross_entropy_fused_vs_composite);
    REF_RUN(test_elementwise_ref);
    REF_RUN(test_kl_batchmean_and_broadcast);
    REF_RUN(test_large_sums);
    REF_RUN(test_thread_determinism);
    REF_RUN(test_gaussian_var_shapes);
    REF_RUN(test_ranking_ref);
    REF_RUN(test_errors);
    return harness_finish();
}
