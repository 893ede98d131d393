/* tests/test_ops_softmax_loss.c — softmax, log_softmax, nll_loss, cross_entropy and one_hot against
 * f64 references: every dim of awkward shapes (0-d and empty too), strided inputs, float dtypes,
 * stability for large / infinite logits, all three reductions with and without ignore_index, the
 * (C), (N, C) and (N, C, d1, ...) forms, integer target dtypes, and the argument errors. */
#include "ref.h"

/* ---- softmax ---------------------------------------------------------------------------------- */

static void ref_softmax(const double *x, int nd, const int64_t *shape, int dim, bool lg, double *y) {
    int64_t n = ref_numel(nd, shape), r = nd ? shape[dim] : 1, inner = 1;
    for (int d = dim + 1; d < nd; d++) inner *= shape[d];
    if (n == 0) return;
    for (int64_t o = 0; o < n / r / inner; o++)
        for (int64_t in = 0; in < inner; in++) {
            const double *xs = x + o * r * inner + in;
            double *ys = y + o * r * inner + in;
            double m = -INFINITY, s = 0;
            for (int64_t i = 0; i < r; i++) m = xs[i * inner] > m ? xs[i * inner] : m;
            if (m == -INFINITY) m = 0;
            for (int64_t i = 0; i < r; i++) s += exp(xs[i * inner] - m);
            for (int64_t i = 0; i < r; i++)
                ys[i * inner] = lg ? xs[i * inner] - m - log(s) : exp(xs[i * inner] - m) / s;
        }
}

typedef struct shape_case {
    int nd;
    int64_t s[4];
} shape_case;

static const shape_case k_shapes[] = {
    {0, {0}}, {1, {1}}, {1, {7}}, {2, {17, 7}}, {3, {7, 1, 17}}, {2, {129, 17}}, {2, {2, 129}}, {3, {3, 0, 5}}, {4, {2, 7, 3, 5}},
};

static void test_softmax(void) {
    ref_seed(40);
    for (int lg = 0; lg < 2; lg++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < REF_LAYOUTS; l++) {
                    nb_dtype dt = ref_float_dtypes[d];
                    const shape_case *sh = &k_shapes[s];
                    int64_t n = ref_numel(sh->nd, sh->s);
                    double *x = ref_values(n, dt, -8, 8), *e = ref_darray(n);
                    nb_tensor *t = ref_tensor(x, sh->nd, sh->s, dt, l);
                    for (int dim = 0; dim < (sh->nd ? sh->nd : 1); dim++) {
                        int use = dim % 2 ? dim - (sh->nd ? sh->nd : 1) : dim; /* odd dims written negative */
                        ref_softmax(x, sh->nd, sh->s, dim, lg, e);
                        ref_set_ctx("nb_%s %s %s dim=%d %s", lg ? "log_softmax" : "softmax", nb_dtype_name(dt),
                                    ref_shape_str(sh->nd, sh->s), use, ref_layout_name[l]);
                        nb_tensor *y = lg ? nb_log_softmax(t, use) : nb_softmax(t, use);
                        /* log_softmax values reach -16: an absolute tolerance scaled to that */
                        CHECK_REF(y, dt, sh->nd, sh->s, e, ref_rtol(dt), ref_rtol(dt) * (lg ? 4 : 1));
                        nb_free(y);
                    }
                    nb_free(t);
                }
}

static void test_softmax_special(void) {
    const double inf = INFINITY, nan = NAN, l2 = log(2.0);
    for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++) {
        nb_dtype dt = ref_float_dtypes[d];
        /* rows: huge equal logits, a -inf entry, all -inf (NaN like PyTorch), a +inf entry */
        const double v[] = {1000, 1000, -1000, -inf, 0, -inf, -inf, -inf, -inf, 0, 5, 5};
        const double ls = log(1 + 2 * exp(5.0)); /* logsumexp of the last row */
        const double sm[] = {0.5, 0.5, 0, 0, 1, 0, nan, nan, nan, exp(-ls), exp(5 - ls), exp(5 - ls)};
        nb_tensor *t = ref_contig(v, NB_SHAPE(4, 3), dt);
        ref_set_ctx("softmax special %s", nb_dtype_name(dt));
        CHECK_REF_DT(nb_softmax(t, 1), dt, NB_SHAPE(4, 3), sm);
        CHECK_REF_DT(nb_log_softmax(t, -1), dt, NB_SHAPE(4, 3),
                     ((const double[]){-l2, -l2, -2000 - l2, -inf, 0, -inf, nan, nan, nan, -ls, 5 - ls, 5 - ls}));
        /* the same along dim 0 of the transpose */
        CHECK_REF_DT(nb_transpose(nb_softmax(nb_transpose(t, 0, 1), 0), 0, 1), dt, NB_SHAPE(4, 3), sm);
        /* 0-d: softmax is 1, log_softmax 0 */
        nb_tensor *z = nb_scalar(3, dt);
        CHECK_REF(nb_softmax(z, 0), dt, NB_SCALAR, ((const double[]){1}), 0, 0);
        CHECK_REF(nb_log_softmax(z, -1), dt, NB_SCALAR, ((const double[]){0}), 0, 0);
    }
    CHECK_NULL_WITH(nb_softmax(nb_zeros(NB_SHAPE(3), NB_I32), 0), "nb_softmax", "floating");
    CHECK_NULL_WITH(nb_log_softmax(nb_zeros(NB_SHAPE(3), NB_BOOL), 0), "nb_log_softmax", "floating");
    CHECK_NULL_WITH(nb_softmax(nb_zeros(NB_SHAPE(3, 2), NB_F32), 2), "nb_softmax", "out of range");
    CHECK_NULL_WITH(nb_log_softmax(nb_scalar(1, NB_F32), 1), "nb_log_softmax", "out of range");
    CHECK_NULL_WITH(nb_softmax(NULL, 0), "nb_softmax");
}

/* ---- nll_loss and cross_entropy ----------------------------------------------------------------- */

/* Reference loss of scores x (shape nd/shape, class axis 1, or 0 for 1-D) at targets t. With
 * cross_entropy the scores are logits (log_softmax first). Returns the values; writes the shape. */
static double *ref_nll(const double *x, int nd, const int64_t *shape, const double *t, bool ce,
                       const nb_cross_entropy_opts *o, int *ond, int64_t *os) {
    int64_t N = nd == 1 ? 1 : shape[0], C = shape[nd == 1 ? 0 : 1], inner = 1;
    for (int d = 2; d < nd; d++) inner *= shape[d];
    nb_reduction red = o ? o->reduction : NB_REDUCTION_MEAN;
    double *per = ref_darray(N * inner), total = 0;
    int64_t valid = 0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t s = 0; s < inner; s++) {
            int64_t k = i * inner + s, c = (int64_t)t[k];
            if (o && o->use_ignore_index && c == o->ignore_index) {
                per[k] = 0;
                continue;
            }
            double lse = 0;
            if (ce) {
                double m = -INFINITY, sum = 0;
                for (int64_t j = 0; j < C; j++) m = fmax(m, x[(i * C + j) * inner + s]);
                for (int64_t j = 0; j < C; j++) sum += exp(x[(i * C + j) * inner + s] - m);
                lse = m + log(sum);
            }
            per[k] = lse - x[(i * C + c) * inner + s];
            total += per[k];
            valid++;
        }
    if (red == NB_REDUCTION_NONE) {
        *ond = nd - 1;
        if (nd > 1) os[0] = shape[0];
        for (int d = 2; d < nd; d++) os[d - 1] = shape[d];
        return per;
    }
    *ond = 0;
    double *r = ref_darray(1);
    r[0] = red == NB_REDUCTION_SUM ? total : valid ? total / (double)valid : NAN;
    return r;
}

static void test_nll_and_cross_entropy(void) {
    ref_seed(41);
    static const shape_case shapes[] = {{1, {7}}, {2, {1, 1}}, {2, {17, 7}}, {2, {129, 5}}, {3, {7, 5, 17}}, {4, {2, 3, 7, 1}},
                                        {2, {0, 5}}};
    static const nb_dtype tdts[] = {NB_I64, NB_I32, NB_U8, NB_I8};
    for (int s = 0; s < REF_COUNT(shapes); s++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
            for (int red = 0; red < 3; red++)
                for (int ig = 0; ig < 3; ig++) { /* no ignore; ignore -100; ignore class 2 */
                    nb_dtype dt = ref_float_dtypes[d], tdt = tdts[(s + red + ig) % REF_COUNT(tdts)];
                    if (ig == 1 && tdt == NB_U8) tdt = NB_I64; /* -100 needs a signed target */
                    const shape_case *sh = &shapes[s];
                    int64_t C = sh->s[sh->nd == 1 ? 0 : 1], nt = ref_numel(sh->nd, sh->s) / (C ? C : 1);
                    int tnd = sh->nd - 1;
                    int64_t ts[NB_MAX_DIMS];
                    if (sh->nd > 1) ts[0] = sh->s[0];
                    for (int k = 2; k < sh->nd; k++) ts[k - 1] = sh->s[k];
                    if (sh->nd > 1 && sh->s[0] == 0) nt = 0;
                    double *x = ref_values(ref_numel(sh->nd, sh->s), dt, -4, 4), *t = ref_values(nt, tdt, 0, (double)C - 1);
                    if (ig == 1)
                        for (int64_t k = 0; k < nt; k += 3) t[k] = -100;
                    nb_cross_entropy_opts o = {.reduction = red, .use_ignore_index = ig > 0, .ignore_index = ig == 1 ? -100 : 2};
                    for (int l = 0; l < REF_LAYOUTS; l += 1) {
                        nb_tensor *tx = ref_tensor(x, sh->nd, sh->s, dt, l);
                        nb_tensor *tt = ref_tensor(t, tnd, ts, tdt, (l + 1) % REF_LAYOUTS);
                        for (int ce = 0; ce < 2; ce++) {
                            int ond;
                            int64_t os[NB_MAX_DIMS];
                            double *e = ref_nll(x, sh->nd, sh->s, t, ce, &o, &ond, os);
                            ref_set_ctx("nb_%s %s%s target %s red=%d ignore=%d %s", ce ? "cross_entropy" : "nll_loss",
                                        nb_dtype_name(dt), ref_shape_str(sh->nd, sh->s), nb_dtype_name(tdt), red, ig,
                                        ref_layout_name[l]);
                            nb_tensor *y = ce ? nb_cross_entropy(tx, tt, &o) : nb_nll_loss(tx, tt, &o);
                            /* a reduced loss sums up to ~600 terms: looser absolute tolerance for halves */
                            double tol = ref_rtol(dt) * (red == NB_REDUCTION_NONE ? 4 : 16);
                            CHECK_REF(y, dt, ond, os, e, ref_rtol(dt) * 4, tol);
                            nb_free(y);
                        }
                        nb_free(tx);
                        nb_free(tt);
                    }
                }
}

static void test_loss_defaults_and_edges(void) {
    const double x[] = {0.5, -1, 2, 0, 3, -2}; /* (2, 3) */
    nb_tensor *lp = ref_contig(x, NB_SHAPE(2, 3), NB_F64);
    nb_tensor *t = ref_contig((const double[]){2, 0}, NB_SHAPE(2), NB_I64);
    /* NULL options: mean over all targets */
    ref_set_ctx("nll_loss defaults");
    CHECK_REF(nb_nll_loss(lp, t, NULL), NB_F64, NB_SCALAR, ((const double[]){-(2 + 0) / 2.0}), 1e-15, 0);
    double lse0 = log(exp(0.5) + exp(-1) + exp(2)), lse1 = log(exp(0) + exp(3) + exp(-2));
    CHECK_REF(nb_cross_entropy(lp, t, NULL), NB_F64, NB_SCALAR, ((const double[]){((lse0 - 2) + (lse1 - 0)) / 2}), 1e-14, 0);
    /* every target ignored: mean is NaN, sum 0, none all zeros */
    nb_tensor *ti = ref_contig((const double[]){1, 1}, NB_SHAPE(2), NB_I32);
    nb_cross_entropy_opts o = {.reduction = NB_REDUCTION_MEAN, .use_ignore_index = true, .ignore_index = 1};
    CHECK(isnan(nb_item(nb_nll_loss(lp, ti, &o))));
    o.reduction = NB_REDUCTION_SUM;
    CHECK(nb_item(nb_cross_entropy(lp, ti, &o)) == 0);
    o.reduction = NB_REDUCTION_NONE;
    CHECK_REF(nb_nll_loss(lp, ti, &o), NB_F64, NB_SHAPE(2), ((const double[]){0, 0}), 0, 0);
    /* unlike PyTorch, -100 is an ordinary (out-of-range) target unless use_ignore_index is set */
    nb_tensor *tm = ref_contig((const double[]){-100, 0}, NB_SHAPE(2), NB_I64);
    CHECK_NULL_WITH(nb_cross_entropy(lp, tm, NULL), "nb_cross_entropy", "-100", "out of range");
    CHECK_NULL_WITH(nb_nll_loss(lp, ref_contig((const double[]){3, 0}, NB_SHAPE(2), NB_I64), NULL), "nb_nll_loss", "out of range");
    /* the ignore value may be any integer, and a target equal to it is skipped even if out of range */
    nb_cross_entropy_opts o7 = {.reduction = NB_REDUCTION_SUM, .use_ignore_index = true, .ignore_index = 7};
    CHECK(nb_item(nb_nll_loss(lp, ref_contig((const double[]){7, 1}, NB_SHAPE(2), NB_I64), &o7)) == -3);
    /* (C) with a 0-d target */
    nb_tensor *v = ref_contig(x, NB_SHAPE(3), NB_F32);
    CHECK(nb_item(nb_nll_loss(v, nb_scalar(1, NB_I64), NULL)) == 1);
    CHECK_NEAR(nb_item(nb_cross_entropy(v, nb_scalar(2, NB_I32), NULL)), lse0 - 2, 1e-6);
    /* argument errors */
    CHECK_NULL_WITH(nb_nll_loss(lp, ref_contig((const double[]){1, 0}, NB_SHAPE(2), NB_F32), NULL), "nb_nll_loss", "integer");
    CHECK_NULL_WITH(nb_cross_entropy(lp, nb_zeros(NB_SHAPE(2), NB_BOOL), NULL), "nb_cross_entropy", "integer");
    CHECK_NULL_WITH(nb_nll_loss(lp, nb_zeros(NB_SHAPE(3), NB_I64), NULL), "nb_nll_loss", "[3]", "[2, 3]");
    CHECK_NULL_WITH(nb_cross_entropy(nb_zeros(NB_SHAPE(2, 3, 4), NB_F32), nb_zeros(NB_SHAPE(2, 3), NB_I64), NULL),
                    "nb_cross_entropy", "[2, 3, 4]");
    CHECK_NULL_WITH(nb_nll_loss(nb_zeros(NB_SHAPE(2, 3), NB_I32), t, NULL), "nb_nll_loss", "floating");
    CHECK_NULL_WITH(nb_nll_loss(nb_scalar(1, NB_F32), nb_scalar(0, NB_I64), NULL), "nb_nll_loss", "1 dim");
    nb_cross_entropy_opts bad = {.reduction = (nb_reduction)7};
    CHECK_NULL_WITH(nb_cross_entropy(lp, t, &bad), "nb_cross_entropy", "reduction");
    CHECK_NULL_WITH(nb_nll_loss(NULL, t, NULL), "nb_nll_loss");
    CHECK_NULL_WITH(nb_cross_entropy(lp, NULL, NULL), "nb_cross_entropy");
}

/* The internal op nll_loss_weight is nll_loss's gradient: -1/denominator at each non-ignored target,
 * 0 elsewhere, times the output gradient. */
static void test_nll_gradient(void) {
    static const double tv[] = {1, 3, 2, 0, 2, 1}; /* (2, 3): spatial targets for logp (2, 4, 3) */
    for (int red = 0; red < 3; red++)
        for (int ig = 0; ig < 2; ig++) {
            nb_tensor *lp = nb_param(nb_randn(NB_SHAPE(2, 4, 3), NB_F64));
            nb_tensor *t = ref_contig(tv, NB_SHAPE(2, 3), NB_I32);
            nb_cross_entropy_opts o = {.reduction = red, .use_ignore_index = ig, .ignore_index = 2};
            nb_tensor *loss = nb_nll_loss(lp, t, &o);
            const double go[] = {1, 2, 3, 4, 5, 6};
            nb_tensor *g = red == NB_REDUCTION_NONE ? ref_contig(go, NB_SHAPE(2, 3), NB_F64) : NULL;
            nb_backward_opts bo = {.grad_output = g};
            CHECK(nb_backward_ex(loss, &bo) == 0);
            double e[24] = {0};
            int valid = ig ? 4 : 6;
            for (int n = 0; n < 2; n++)
                for (int s = 0; s < 3; s++) {
                    int k = n * 3 + s, c = (int)tv[k];
                    if (ig && c == 2) continue;
                    e[(n * 4 + c) * 3 + s] = red == NB_REDUCTION_MEAN ? -1.0 / valid : red == NB_REDUCTION_SUM ? -1 : -go[k];
                }
            ref_set_ctx("nll_loss gradient red=%d ignore=%d", red, ig);
            CHECK_REF(nb_grad(lp), NB_F64, NB_SHAPE(2, 4, 3), e, 1e-15, 0);
        }
}

/* ---- one_hot ------------------------------------------------------------------------------------ */

static void test_one_hot(void) {
    ref_seed(42);
    static const shape_case shapes[] = {{0, {0}}, {1, {1}}, {1, {7}}, {2, {17, 7}}, {3, {7, 1, 3}}, {1, {0}}, {2, {3, 0}}};
    static const nb_dtype outs[] = {NB_F32, NB_F64, NB_F16, NB_BF16, NB_I64, NB_I32, NB_U8, NB_BOOL};
    static const int64_t classes[] = {1, 5, 129};
    for (int s = 0; s < REF_COUNT(shapes); s++)
        for (int i = 0; i < REF_COUNT(ref_int_dtypes); i++)
            for (int c = 0; c < REF_COUNT(classes); c++)
                for (int l = 0; l < REF_LAYOUTS; l++) {
                    const shape_case *sh = &shapes[s];
                    nb_dtype idt = ref_int_dtypes[i], odt = outs[(s + i + c + l) % REF_COUNT(outs)];
                    int64_t C = classes[c], n = ref_numel(sh->nd, sh->s);
                    if (idt == NB_I8 && C > 127) C = 127;
                    double *x = ref_values(n, idt, 0, (double)C - 1), *e = ref_darray(n * C);
                    for (int64_t k = 0; k < n; k++) e[k * C + (int64_t)x[k]] = 1;
                    int64_t os[NB_MAX_DIMS];
                    memcpy(os, sh->s, sizeof(int64_t) * (size_t)sh->nd);
                    os[sh->nd] = C;
                    nb_tensor *t = ref_tensor(x, sh->nd, sh->s, idt, l);
                    ref_set_ctx("nb_one_hot %s%s classes=%lld -> %s %s", nb_dtype_name(idt), ref_shape_str(sh->nd, sh->s),
                                (long long)C, nb_dtype_name(odt), ref_layout_name[l]);
                    CHECK_REF(nb_one_hot(t, C, odt), odt, sh->nd + 1, os, e, 0, 0);
                    nb_free(t);
                }
    nb_tensor *e = nb_zeros(NB_SHAPE(0), NB_I64);
    nb_tensor *z = nb_one_hot(e, 0, NB_F32);
    CHECK(z && nb_ndim(z) == 2 && nb_shape(z)[0] == 0 && nb_shape(z)[1] == 0);
    nb_tensor *t = ref_contig((const double[]){0, 3, 1}, NB_SHAPE(3), NB_I64);
    CHECK_NULL_WITH(nb_one_hot(t, 3, NB_F32), "nb_one_hot", "out of range");
    CHECK_NULL_WITH(nb_one_hot(ref_contig((const double[]){-1}, NB_SHAPE(1), NB_I32), 3, NB_F32), "nb_one_hot", "-1");
    CHECK_NULL_WITH(nb_one_hot(t, -2, NB_F32), "nb_one_hot", "num_classes");
    CHECK_NULL_WITH(nb_one_hot(nb_zeros(NB_SHAPE(2), NB_F32), 3, NB_F32), "nb_one_hot", "integer");
    CHECK_NULL_WITH(nb_one_hot(nb_zeros(NB_SHAPE(2), NB_BOOL), 3, NB_F32), "nb_one_hot", "integer");
    CHECK_NULL_WITH(nb_one_hot(t, 4, (nb_dtype)42), "nb_one_hot", "dtype");
    CHECK_NULL_WITH(nb_one_hot(NULL, 4, NB_F32), "nb_one_hot");
}

int main(void) {
    REF_RUN(test_softmax);
    REF_RUN(test_softmax_special);
    REF_RUN(test_nll_and_cross_entropy);
    REF_RUN(test_loss_defaults_and_edges);
    REF_RUN(test_nll_gradient);
    REF_RUN(test_one_hot);
    return harness_finish();
}
