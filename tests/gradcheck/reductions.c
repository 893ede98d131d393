/* tests/gradcheck/reductions.c — gradient-check cases for the ops in src/ops/reductions.def (linked into
 * test_gradcheck; see tests/gradcheck.h). Index-returning ops (max_dim, min_dim, sort, topk, kthvalue,
 * median) run on lattice inputs (distinct values: no tie within eps); their second derivatives reach the
 * internal index_scatter / index_gather pair. */
#include "../gradcheck.h"

/* ---- reductions over dims, with a parameter (correction, p) -------------------------------------- */

enum { G_PROD, G_VAR, G_STD, G_NORM, G_LSE };
typedef struct red_ud {
    int op;
    const nb_reduce_opts *o;
    double param;
    int view; /* 0: as is, 1: transpose(0, 1), 2: slice(-1, 1, end, 2) */
} red_ud;

static tp f_red(tp const *in, void *ud) {
    red_ud *u = ud;
    tp x = view_of(in[0], u->view);
    switch (u->op) {
    case G_PROD: return nb_prod(x, u->o);
    case G_VAR: return nb_var(x, u->o, u->param);
    case G_STD: return nb_std(x, u->o, u->param);
    case G_NORM: return nb_norm(x, u->param, u->o);
    default: return nb_logsumexp(x, u->o);
    }
}

/* The standard set: all dims, one dim (keepdim), two dims, a transposed and a stepped view, a
 * second derivative. make builds the inputs. */
static void red_cases(const char *name, int op, double param, tp (*make)(int, const int64_t *), bool dbl) {
    char what[128];
    red_ud all = {op, NULL, param, 0}, d1 = {op, NB_DIMS_KEEP(1), param, 0}, d02 = {op, NB_DIMS(0, -1), param, 0},
           tr = {op, NB_DIMS(-1), param, 1}, st = {op, NB_DIMS(1), param, 2}, neg = {op, NB_DIMS(-2), param, 0};
    snprintf(what, sizeof what, "%s(p=%g) all dims [7]", name, param);
    GC(what, f_red, &all, make(NB_SHAPE(7)));
    if (!((op == G_VAR && param >= 1) || op == G_STD)) { /* var of one element: 0 / 0 */
        snprintf(what, sizeof what, "%s(p=%g) all dims [1]", name, param);
        GC(what, f_red, &all, make(NB_SHAPE(1)));
    }
    snprintf(what, sizeof what, "%s(p=%g) dim 1 keepdim [3, 17]", name, param);
    GC(what, f_red, &d1, make(NB_SHAPE(3, 17)));
    snprintf(what, sizeof what, "%s(p=%g) dims (0, -1) [4, 3, 5]", name, param);
    GC(what, f_red, &d02, make(NB_SHAPE(4, 3, 5)));
    snprintf(what, sizeof what, "%s(p=%g) dim -2 [2, 7, 3]", name, param);
    GC(what, f_red, &neg, make(NB_SHAPE(2, 7, 3)));
    snprintf(what, sizeof what, "%s(p=%g) dim -1 of transpose([7, 3])", name, param);
    GC(what, f_red, &tr, make(NB_SHAPE(7, 3)));
    snprintf(what, sizeof what, "%s(p=%g) dim 1 of a stepped slice [3, 17]", name, param);
    GC(what, f_red, &st, make(NB_SHAPE(3, 17)));
    if (dbl) {
        double_ud dd = {f_red, &d1, 1}, dt = {f_red, &tr, 1};
        snprintf(what, sizeof what, "%s(p=%g) second derivative dim 1 [3, 5]", name, param);
        GC(what, f_double, &dd, make(NB_SHAPE(3, 5)), V(3, 1));
        snprintf(what, sizeof what, "%s(p=%g) second derivative of a transposed input", name, param);
        GC(what, f_double, &dt, make(NB_SHAPE(4, 3)), V(3));
    }
}

static tp mk_p(int nd, const int64_t *s) { return P(nd, s); }
static tp mk_ppos(int nd, const int64_t *s) { return Ppos(nd, s); }
static tp mk_away(int nd, const int64_t *s) { return Paway(nd, s); }
/* distinct magnitudes, mixed signs: the inf norms have no tie within eps */
static tp mk_distinct_abs(int nd, const int64_t *s) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= s[d];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (i * 37 + 11) % 1009;
        v[i] = (0.3 + 0.01 * (double)k) * (k % 2 ? -1 : 1);
    }
    tp t = nb_param(nb_from_data(v, nd, s, NB_F64));
    free(v);
    return t;
}

static void case_prod(void) {
    red_cases("prod", G_PROD, 0, mk_ppos, true);
    red_cases("prod of signed values", G_PROD, 0, mk_away, false);
    /* zeros: one in a row (the gradient there is the product of the others), two in a row (zeros) */
    const double v[] = {0.7, 0, 1.3, -0.4, 0, 0, 2.0, 1.1, 0.9, 0.8, 0.5, 1.2};
    red_ud d1 = {G_PROD, NB_DIMS(1), 0, 0}, all = {G_PROD, NULL, 0, 0}, d0 = {G_PROD, NB_DIMS(0), 0, 0};
    GC("prod with zeros along dim 1 [4, 3]", f_red, &d1, nb_param(nb_from_data(v, NB_SHAPE(4, 3), NB_F64)));
    GC("prod with zeros along dim 0 [4, 3]", f_red, &d0, nb_param(nb_from_data(v, NB_SHAPE(4, 3), NB_F64)));
    GC("prod of all, one zero", f_red, &all, nb_param(nb_from_data(v, NB_SHAPE(4), NB_F64)));
    GC("prod of all, two zeros", f_red, &all, nb_param(nb_from_data(v + 1, NB_SHAPE(4), NB_F64)));
    EXPECT_FN("prod records ProdBackward", "ProdBackward", f_red, &d1, Ppos(NB_SHAPE(2, 3)));
}

static void case_var(void) {
    red_cases("var correction", G_VAR, 1, mk_p, true);
    red_cases("var correction", G_VAR, 0, mk_p, true);
    red_cases("var correction", G_VAR, 2.5, mk_p, false);
    red_ud v = {G_VAR, NULL, 1, 0};
    EXPECT_FN("var records VarBackward", "VarBackward", f_red, &v, P(NB_SHAPE(5)));
}

static void case_std(void) {
    red_cases("std correction", G_STD, 1, mk_p, true);
    red_cases("std correction", G_STD, 0, mk_p, false);
}

/* var and mean together: var + 3 mean (both outputs reach the inputs) */
static tp f_var_mean(tp const *in, void *ud) {
    red_ud *u = ud;
    tp m, v = nb_var_mean(view_of(in[0], u->view), u->o, u->param, &m);
    return nb_add(v, nb_mul_scalar(m, 3));
}
static void case_var_mean(void) {
    red_ud d1 = {G_VAR, NB_DIMS_KEEP(1), 1, 0}, tr = {G_VAR, NB_DIMS(-1), 0, 1}, all = {G_VAR, NULL, 1, 2};
    GC("var_mean dim 1 keepdim [3, 7]", f_var_mean, &d1, P(NB_SHAPE(3, 7)));
    GC("var_mean dim -1 of transpose([7, 3]), correction 0", f_var_mean, &tr, P(NB_SHAPE(7, 3)));
    GC("var_mean all dims of a stepped slice [3, 17]", f_var_mean, &all, P(NB_SHAPE(3, 17)));
    double_ud dd = {f_var_mean, &d1, 1};
    GC("var_mean second derivative", f_double, &dd, P(NB_SHAPE(3, 5)), V(3, 1));
}

static void case_norm(void) {
    red_cases("norm", G_NORM, 2, mk_p, true);
    red_cases("norm", G_NORM, 1, mk_away, false);
    red_cases("norm", G_NORM, 3, mk_away, true);
    red_cases("norm", G_NORM, 0.5, mk_away, false);
    red_cases("norm", G_NORM, 1.5, mk_away, true);
    red_cases("norm", G_NORM, INFINITY, mk_distinct_abs, false);
    red_cases("norm", G_NORM, -INFINITY, mk_distinct_abs, false);
    red_cases("norm", G_NORM, 0, mk_away, false);
    red_cases("norm", G_NORM, -1, mk_away, true);
    red_cases("norm", G_NORM, -2.5, mk_away, false);
    /* a row of zeros: the subgradient 0 (the norm is not differentiable there: check the value) */
    tp z = nb_param(nb_zeros(NB_SHAPE(2, 3), NB_F64));
    CHECK(nb_backward(nb_sum(nb_norm(z, 2, NB_DIMS(1)), NULL)) == 0 && nb_item(nb_sum(nb_abs(nb_grad(z)), NULL)) == 0);
}

static void case_logsumexp(void) {
    red_cases("logsumexp", G_LSE, 0, mk_p, true);
    /* large values: the shift keeps it finite */
    red_ud d1 = {G_LSE, NB_DIMS(1), 0, 0};
    GC("logsumexp of values near 700", f_red, &d1, nb_param(nb_add_scalar(nb_randn(NB_SHAPE(3, 4), NB_F64), 700)));
}

/* ---- along one dim --------------------------------------------------------------------------------- */

enum { G_CUMSUM, G_CUMPROD, G_MAXD, G_MIND, G_SORT, G_TOPK, G_KTH, G_MEDIAN, G_MEDIAN_ALL };
typedef struct dim_ud {
    int op, dim;
    bool keep;
    int64_t k;
    bool desc;
    int view;
} dim_ud;

static tp f_dim(tp const *in, void *ud) {
    dim_ud *u = ud;
    tp x = view_of(in[0], u->view);
    switch (u->op) {
    case G_CUMSUM: return nb_cumsum(x, u->dim);
    case G_CUMPROD: return nb_cumprod(x, u->dim);
    case G_MAXD: return nb_max_dim(x, u->dim, u->keep, NULL);
    case G_MIND: return nb_min_dim(x, u->dim, u->keep, NULL);
    case G_SORT: return nb_sort(x, u->dim, u->desc, true, NULL);
    case G_TOPK: return nb_topk(x, u->k, u->dim, u->desc, true, NULL);
    case G_KTH: return nb_kthvalue(x, u->k, u->dim, u->keep, NULL);
    case G_MEDIAN: return nb_median(x, u->dim, u->keep, NULL);
    default: return nb_median(x, NB_DIM_ALL, u->keep, NULL);
    }
}

static tp mk_lat(int nd, const int64_t *s) {
    static int salt;
    salt++;
    return Plattice(nd, s, salt * 13, salt % 2);
}

/* every dim of a [3, 4, 5] input (keepdim both ways), a [1] and a [17], a transposed and a stepped view,
 * and a second derivative (which runs index_scatter's own gradient) */
static void dim_cases(const char *name, int op, int64_t k, tp (*make)(int, const int64_t *)) {
    char what[128];
    for (int d = -1; d < 3; d++)
        for (int keep = 0; keep < 2; keep++) {
            dim_ud u = {op, d, keep, k, keep, 0};
            snprintf(what, sizeof what, "%s dim %d k %lld %s [3, 4, 5]", name, d, (long long)k, keep ? "keep/desc" : "");
            GC(what, f_dim, &u, make(NB_SHAPE(3, 4, 5)));
        }
    dim_ud u0 = {op, 0, false, k > 1 ? 1 : k, false, 0}, u17 = {op, 0, true, k, true, 0};
    snprintf(what, sizeof what, "%s [1]", name);
    GC(what, f_dim, &u0, make(NB_SHAPE(1)));
    snprintf(what, sizeof what, "%s [17]", name);
    GC(what, f_dim, &u17, make(NB_SHAPE(17)));
    dim_ud tr = {op, 1, false, k, true, 1}, st = {op, -1, true, k, false, 2};
    snprintf(what, sizeof what, "%s dim 1 of transpose([7, 3])", name);
    GC(what, f_dim, &tr, make(NB_SHAPE(7, 3)));
    snprintf(what, sizeof what, "%s dim -1 of a stepped slice [3, 17]", name);
    GC(what, f_dim, &st, make(NB_SHAPE(3, 17)));
    dim_ud dd = {op, 0, false, k, false, 1};
    double_ud d2 = {f_dim, &dd, 1};
    tp x = make(NB_SHAPE(5, 4));
    nb_scope_begin();
    tp y = f_dim(&x, &dd);
    int64_t ys[NB_MAX_DIMS];
    int ynd = y ? nb_ndim(y) : 0;
    if (y) memcpy(ys, nb_shape(y), sizeof(int64_t) * (size_t)ynd);
    nb_scope_end();
    snprintf(what, sizeof what, "%s second derivative (transposed input)", name);
    GC(what, f_double, &d2, x, P(ynd, ys));
}

static void case_cumsum(void) {
    dim_cases("cumsum", G_CUMSUM, 0, mk_p);
    dim_ud u = {G_CUMSUM, -1, false, 0, false, 0};
    GC("cumsum 0-d", f_dim, &u, P(NB_SCALAR));
}
static void case_cumprod(void) {
    dim_cases("cumprod", G_CUMPROD, 0, mk_ppos);
    dim_ud u = {G_CUMPROD, 0, false, 0, false, 0};
    GC("cumprod of signed values [7]", f_dim, &u, Paway(NB_SHAPE(7)));
    /* zeros: one, two, at the start and at the end of rows, along either dim */
    const double v[] = {0.7, 0, 1.3, -0.4, 0.9, 0, 0, 2.0, 1.1, 0.5, 1.2, 0, 0.8, -1.5, 0.6, 0, 0.9, 1.1, 0.4, 1.3};
    dim_ud d1 = {G_CUMPROD, 1, false, 0, false, 0}, d0 = {G_CUMPROD, 0, false, 0, false, 0}, tr = {G_CUMPROD, 1, false, 0, false, 1};
    GC("cumprod with zeros along dim 1 [4, 5]", f_dim, &d1, nb_param(nb_from_data(v, NB_SHAPE(4, 5), NB_F64)));
    GC("cumprod with zeros along dim 0 [4, 5]", f_dim, &d0, nb_param(nb_from_data(v, NB_SHAPE(4, 5), NB_F64)));
    GC("cumprod with zeros along dim 1 of transpose([5, 4])", f_dim, &tr, nb_param(nb_from_data(v, NB_SHAPE(5, 4), NB_F64)));
    GC("cumprod of a zero 0-d", f_dim, &u, nb_param(nb_zeros(NB_SCALAR, NB_F64)));
}
static void case_max_dim(void) {
    dim_cases("max_dim", G_MAXD, 0, mk_lat);
    dim_ud u = {G_MAXD, 0, false, 0, false, 0};
    EXPECT_FN("max_dim records MaxBackward", "MaxBackward", f_dim, &u, mk_lat(NB_SHAPE(3, 2)));
}
static void case_min_dim(void) { dim_cases("min_dim", G_MIND, 0, mk_lat); }
static void case_sort(void) {
    dim_cases("sort", G_SORT, 0, mk_lat);
    dim_ud u = {G_SORT, 0, false, 0, false, 0};
    GC("sort 0-d", f_dim, &u, P(NB_SCALAR));
    EXPECT_FN("sort records SortBackward", "SortBackward", f_dim, &u, mk_lat(NB_SHAPE(4)));
}
static void case_topk(void) {
    dim_cases("topk", G_TOPK, 3, mk_lat);
    dim_cases("topk", G_TOPK, 1, mk_lat);
}
static void case_kthvalue(void) {
    dim_cases("kthvalue", G_KTH, 2, mk_lat);
    dim_cases("kthvalue", G_KTH, 1, mk_lat);
}
static void case_median(void) {
    dim_cases("median", G_MEDIAN, 0, mk_lat);
    dim_ud all = {G_MEDIAN_ALL, 0, false, 0, false, 1}, allk = {G_MEDIAN_ALL, 0, true, 0, false, 2};
    GC("median of all elements, transposed", f_dim, &all, mk_lat(NB_SHAPE(4, 5)));
    GC("median of all elements keepdim, stepped", f_dim, &allk, mk_lat(NB_SHAPE(3, 7)));
}

/* (x, v): the gradient of f in x along v is index_scatter(v); squared, so the check runs its gradient
 * (index_gather) against the numerical one. */
static tp f_scatter_sq(tp const *in, void *ud) {
    tp y = f_dim(in, ud), v = in[1], g;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, in, 1, &o, &g) != 0) return NULL;
    return nb_mul(g, g);
}
/* (x, v1, v2): the gradient of index_scatter(v1) in v1 along v2 is index_gather(v2); squared */
static tp f_gather_sq(tp const *in, void *ud) {
    tp y = f_dim(in, ud), v1 = in[1], v2 = in[2], g1, g2;
    nb_autograd_opts o1 = {.grad_outputs = &v1, .create_graph = true}, o2 = {.grad_outputs = &v2, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, in, 1, &o1, &g1) != 0) return NULL;
    if (nb_autograd_grad(&g1, 1, &in[1], 1, &o2, &g2) != 0) return NULL;
    return nb_mul(g2, g2);
}

static void case_index_scatter(void) {
    dim_ud s = {G_SORT, 1, false, 0, true, 0}, t = {G_TOPK, 0, false, 2, true, 1}, m = {G_MAXD, -1, false, 0, false, 0};
    GC("index_scatter: gradient of sort's gradient", f_scatter_sq, &s, mk_lat(NB_SHAPE(3, 6)), V(3, 6));
    GC("index_scatter: gradient of topk's gradient (transposed input)", f_scatter_sq, &t, mk_lat(NB_SHAPE(4, 5)), V(2, 4));
    GC("index_scatter: gradient of max_dim's gradient", f_scatter_sq, &m, mk_lat(NB_SHAPE(2, 3, 4)), V(2, 3));
}
static void case_index_gather(void) {
    dim_ud s = {G_SORT, 1, false, 0, true, 0}, k = {G_KTH, 0, true, 2, false, 0}, md = {G_MEDIAN, 1, false, 0, false, 1};
    GC("index_gather: gradient of sort's second derivative", f_gather_sq, &s, mk_lat(NB_SHAPE(3, 4)), V(3, 4), V(3, 4));
    GC("index_gather: gradient of kthvalue's second derivative", f_gather_sq, &k, mk_lat(NB_SHAPE(5, 3)), V(1, 3),
       V(5, 3));
    GC("index_gather: gradient of median's second derivative (transposed)", f_gather_sq, &md, mk_lat(NB_SHAPE(5, 4)),
       V(4), V(5, 4));
}

const grad_case gc_cases_reductions[] = {
    {"prod", case_prod},
    {"var", case_var},
    {"std", case_std},
    {"var_mean", case_var_mean},
    {"norm", case_norm},
    {"logsumexp", case_logsumexp},
    {"cumsum", case_cumsum},
    {"cumprod", case_cumprod},
    {"max_dim", case_max_dim},
    {"min_dim", case_min_dim},
    {"sort", case_sort},
    {"topk", case_topk},
    {"kthvalue", case_kthvalue},
    {"median", case_median},
    {"index_scatter", case_index_scatter},
    {"index_gather", case_index_gather},
    {NULL, NULL},
};
