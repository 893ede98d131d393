/* tests/gradcheck/indexing.c — gradient-check cases for the ops in src/ops/indexing.def (linked into
 * test_gradcheck; see tests/gradcheck.h): stacking / splitting views, index_select / index_add,
 * gather / scatter family (duplicate indices where the op defines them, src larger than the index),
 * masks. The ops linear in their float inputs also get a second derivative. */
#include "../gradcheck.h"

/* An index tensor of dtype dt from values. */
static tp IDX(nb_dtype dt, int nd, const int64_t *shape, const int64_t *v) {
    tp t = I64(nd, shape, v);
    return dt == NB_I64 ? t : nb_to(t, dt);
}

/* ud for ops taking (x, dim, index[, src]): view 1 transposes in[0] (dims 0, 1), view 2 takes every
 * other row of it. */
typedef struct idx_ud {
    int dim;
    tp index;
    int view;
    double alpha;
    const char *reduce;
    bool include_self;
} idx_ud;

static idx_ud U(int dim, tp index, int view, double alpha) {
    return (idx_ud){.dim = dim, .index = index, .view = view, .alpha = alpha};
}
static idx_ud UR(int dim, tp index, int view, const char *reduce, bool include_self) {
    return (idx_ud){.dim = dim, .index = index, .view = view, .reduce = reduce, .include_self = include_self};
}

static tp view_in(tp x, int view) {
    if (view == 1) return nb_transpose(x, 0, 1);
    if (view == 2) return nb_slice(x, 0, 0, INT64_MAX, 2);
    return nb_retain(x);
}

/* ---- index_select / index_add ------------------------------------------------------------------ */

static tp f_index_select(tp const *in, void *ud) {
    idx_ud *u = ud;
    return nb_index_select(view_in(in[0], u->view), u->dim, u->index);
}
static void case_index_select(void) {
    idx_ud d0 = U(0, IDX(NB_I64, NB_SHAPE(6), (const int64_t[]){3, 0, 3, 6, 1, 3}), 0, 0);
    idx_ud d1 = U(1, IDX(NB_I32, NB_SHAPE(3), (const int64_t[]){4, 4, 0}), 1, 0);
    idx_ud d2 = U(-1, IDX(NB_I64, NB_SHAPE(1), (const int64_t[]){2}), 2, 0);
    idx_ud e = U(0, IDX(NB_I64, NB_SHAPE(0), NULL), 0, 0);
    idx_ud s = U(0, IDX(NB_I64, NB_SCALAR, (const int64_t[]){0}), 0, 0);
    GC("index_select [7, 5] dim 0, repeated indices", f_index_select, &d0, P(NB_SHAPE(7, 5)));
    GC("index_select transpose([7, 5]) dim 1, i32, repeated", f_index_select, &d1, P(NB_SHAPE(7, 5)));
    GC("index_select every other row of [17, 3, 4] dim -1", f_index_select, &d2, P(NB_SHAPE(17, 3, 4)));
    GC("index_select empty index", f_index_select, &e, P(NB_SHAPE(7, 3)));
    GC("index_select 0-d self", f_index_select, &s, P(NB_SCALAR));
    double_ud dd = {f_index_select, &d0, 1};
    GC("index_select second derivative", f_double, &dd, P(NB_SHAPE(7, 5)), V(6, 5));
}

static tp f_index_add(tp const *in, void *ud) {
    idx_ud *u = ud;
    return nb_index_add(view_in(in[0], u->view), u->dim, u->index, in[1], u->alpha);
}
static void case_index_add(void) {
    idx_ud d0 = U(0, IDX(NB_I64, NB_SHAPE(4), (const int64_t[]){2, 0, 2, 6}), 0, 1.0);
    idx_ud d1 = U(1, IDX(NB_I32, NB_SHAPE(5), (const int64_t[]){1, 1, 1, 0, 4}), 1, -2.5);
    GC("index_add [7, 3] dim 0, repeated", f_index_add, &d0, P(NB_SHAPE(7, 3)), P(NB_SHAPE(4, 3)));
    GC("index_add transpose([5, 7]) dim 1, alpha -2.5, i32", f_index_add, &d1, P(NB_SHAPE(5, 7)), P(NB_SHAPE(7, 5)));
    GC("index_add with a constant self", f_index_add, &d0, nb_randn(NB_SHAPE(7, 3), NB_F64), P(NB_SHAPE(4, 3)));
    double_ud dd = {f_index_add, &d1, 2};
    GC("index_add second derivative", f_double, &dd, P(NB_SHAPE(5, 7)), P(NB_SHAPE(7, 5)), V(7, 5));
}

/* ---- gather / scatter family ----------------------------------------------------------------------- */

static tp f_gather(tp const *in, void *ud) {
    idx_ud *u = ud;
    return nb_gather(view_in(in[0], u->view), u->dim, u->index);
}
/* n values in [0, hi) (with repeats) */
static tp rand_idx(nb_dtype dt, int nd, const int64_t *shape, int64_t hi, int salt) {
    int64_t n = 1, v[512];
    for (int d = 0; d < nd; d++) n *= shape[d];
    for (int64_t i = 0; i < n && i < 512; i++) v[i] = ((i + salt) * 7919 + salt * 31) % hi;
    return IDX(dt, nd, shape, v);
}
static void case_gather(void) {
    idx_ud d0 = U(0, rand_idx(NB_I64, NB_SHAPE(9, 4, 3), 7, 1), 0, 0);
    idx_ud d1 = U(1, rand_idx(NB_I32, NB_SHAPE(3, 6, 2), 5, 2), 0, 0);
    idx_ud d2 = U(-1, rand_idx(NB_I64, NB_SHAPE(7, 5, 1), 3, 3), 0, 0);
    idx_ud t = U(1, rand_idx(NB_I64, NB_SHAPE(5, 17), 7, 4), 1, 0);
    idx_ud s = U(0, IDX(NB_I64, NB_SHAPE(3), (const int64_t[]){0, 0, 0}), 0, 0);
    GC("gather [7, 5, 3] dim 0, repeats", f_gather, &d0, P(NB_SHAPE(7, 5, 3)));
    GC("gather [7, 5, 3] dim 1, smaller index, i32", f_gather, &d1, P(NB_SHAPE(7, 5, 3)));
    GC("gather [7, 5, 3] dim -1", f_gather, &d2, P(NB_SHAPE(7, 5, 3)));
    GC("gather transpose([17, 7]) dim 1", f_gather, &t, P(NB_SHAPE(17, 7)));
    GC("gather 0-d self with a [3] index", f_gather, &s, P(NB_SCALAR));
    double_ud dd = {f_gather, &d0, 1};
    GC("gather second derivative", f_double, &dd, P(NB_SHAPE(7, 5, 3)), V(9, 4, 3));
}

static tp f_scatter(tp const *in, void *ud) {
    idx_ud *u = ud;
    return nb_scatter(view_in(in[0], u->view), u->dim, u->index, in[1]);
}
static tp f_scatter_value(tp const *in, void *ud) {
    idx_ud *u = ud;
    return nb_scatter_value(view_in(in[0], u->view), u->dim, u->index, u->alpha);
}
/* per column distinct rows: the scatter is a permutation-like write without collisions */
static const int64_t k_perm_idx[8] = {0, 1, 2, 3, 4, 3, 1, 0};
static void case_scatter(void) {
    idx_ud d0 = U(0, IDX(NB_I64, NB_SHAPE(2, 4), k_perm_idx), 0, 0);
    idx_ud d1 = U(1, IDX(NB_I32, NB_SHAPE(4, 2), k_perm_idx), 1, 0);
    GC("scatter [5, 4] dim 0 from a larger src [3, 5]", f_scatter, &d0, P(NB_SHAPE(5, 4)), P(NB_SHAPE(3, 5)));
    GC("scatter transpose([5, 4]) dim 1, i32", f_scatter, &d1, P(NB_SHAPE(5, 4)), P(NB_SHAPE(4, 2)));
    GC("scatter with a constant src", f_scatter, &d0, P(NB_SHAPE(5, 4)), nb_randn(NB_SHAPE(2, 4), NB_F64));
    double_ud dd = {f_scatter, &d0, 2};
    GC("scatter second derivative", f_double, &dd, P(NB_SHAPE(5, 4)), P(NB_SHAPE(2, 4)), V(5, 4));
}
static void case_scatter_value(void) {
    idx_ud d0 = U(0, IDX(NB_I64, NB_SHAPE(3, 4), (const int64_t[]){0, 1, 0, 3, 0, 1, 2, 3, 4, 1, 0, 0}), 0, 2.5);
    idx_ud d1 = U(-1, IDX(NB_I64, NB_SHAPE(4, 1), (const int64_t[]){2, 0, 4, 4}), 1, -1);
    GC("scatter_value [5, 4] dim 0, repeats", f_scatter_value, &d0, P(NB_SHAPE(5, 4)));
    GC("scatter_value transpose([5, 4]) dim -1", f_scatter_value, &d1, P(NB_SHAPE(5, 4)));
}

static tp f_scatter_add(tp const *in, void *ud) {
    idx_ud *u = ud;
    return nb_scatter_add(view_in(in[0], u->view), u->dim, u->index, in[1]);
}
static void case_scatter_add(void) {
    idx_ud d0 = U(0, IDX(NB_I64, NB_SHAPE(3, 4), (const int64_t[]){0, 1, 0, 3, 0, 1, 2, 3, 4, 1, 0, 0}), 0, 0);
    idx_ud d1 = U(1, rand_idx(NB_I32, NB_SHAPE(7, 9), 5, 5), 1, 0);
    idx_ud d2 = U(2, rand_idx(NB_I64, NB_SHAPE(2, 3, 7), 4, 6), 0, 0);
    GC("scatter_add [5, 4] dim 0, collisions", f_scatter_add, &d0, P(NB_SHAPE(5, 4)), P(NB_SHAPE(3, 4)));
    GC("scatter_add transpose([5, 7]) dim 1, i32, collisions", f_scatter_add, &d1, P(NB_SHAPE(5, 7)), P(NB_SHAPE(7, 9)));
    GC("scatter_add [2, 3, 4] dim 2, src larger [3, 3, 8]", f_scatter_add, &d2, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(3, 3, 8)));
    double_ud dd = {f_scatter_add, &d0, 2};
    GC("scatter_add second derivative", f_double, &dd, P(NB_SHAPE(5, 4)), P(NB_SHAPE(3, 4)), V(5, 4));
}

static tp f_scatter_reduce(tp const *in, void *ud) {
    idx_ud *u = ud;
    return nb_scatter_reduce(view_in(in[0], u->view), u->dim, u->index, in[1], u->reduce, u->include_self);
}
static void case_scatter_reduce(void) {
    static const char *const modes[] = {"sum", "mean", "amax", "amin"};
    tp i0 = IDX(NB_I64, NB_SHAPE(3, 4), (const int64_t[]){0, 1, 0, 3, 0, 1, 2, 3, 4, 1, 0, 0});
    tp i1 = rand_idx(NB_I32, NB_SHAPE(7, 9), 5, 7);
    char what[128];
    for (int m = 0; m < 4; m++)
        for (int inc = 0; inc < 2; inc++) {
            bool lattice = m >= 2; /* amax / amin: no ties within eps */
            idx_ud d0 = UR(0, i0, 0, modes[m], inc), d1 = UR(1, i1, 1, modes[m], inc);
            snprintf(what, sizeof what, "scatter_reduce %s include_self=%d [5, 4] dim 0, collisions", modes[m], inc);
            GC(what, f_scatter_reduce, &d0, lattice ? Plattice(NB_SHAPE(5, 4), m, false) : P(NB_SHAPE(5, 4)),
               lattice ? Plattice(NB_SHAPE(3, 5), m, true) : P(NB_SHAPE(3, 5)));
            snprintf(what, sizeof what, "scatter_reduce %s include_self=%d transpose([5, 7]) dim 1, i32", modes[m], inc);
            GC(what, f_scatter_reduce, &d1, lattice ? Plattice(NB_SHAPE(5, 7), m + 5, false) : P(NB_SHAPE(5, 7)),
               lattice ? Plattice(NB_SHAPE(7, 9), m + 9, true) : P(NB_SHAPE(7, 9)));
        }
    idx_ud ds = UR(0, i0, 0, "mean", false);
    double_ud dd = {f_scatter_reduce, &ds, 2};
    GC("scatter_reduce mean second derivative", f_double, &dd, P(NB_SHAPE(5, 4)), P(NB_SHAPE(3, 4)), V(5, 4));
}

/* ---- masks ---------------------------------------------------------------------------------------------- */

typedef struct mask_ud {
    tp mask;
    bool transpose;
} mask_ud;
static tp f_masked_fill(tp const *in, void *ud) {
    mask_ud *u = ud;
    return nb_masked_fill(u->transpose ? nb_transpose(in[0], 0, 1) : in[0], u->mask, -3.5);
}
static tp f_masked_select(tp const *in, void *ud) {
    mask_ud *u = ud;
    return nb_masked_select(u->transpose ? nb_transpose(in[0], 0, 1) : in[0], u->mask);
}
static void case_masked_fill(void) {
    mask_ud m0 = {.mask = nb_gt_scalar(nb_randn(NB_SHAPE(7, 5), NB_F64), 0)}, m1 = {.mask = nb_lt_scalar(nb_randn(NB_SHAPE(5), NB_F64), 0)};
    mask_ud mt = {.mask = m0.mask, .transpose = true};
    GC("masked_fill [7, 5] mask [7, 5]", f_masked_fill, &m0, P(NB_SHAPE(7, 5)));
    GC("masked_fill [7, 5] mask [5] (broadcast mask)", f_masked_fill, &m1, P(NB_SHAPE(7, 5)));
    GC("masked_fill [1, 5] mask [7, 5] (broadcast self)", f_masked_fill, &m0, P(NB_SHAPE(1, 5)));
    GC("masked_fill transpose([5, 7])", f_masked_fill, &mt, P(NB_SHAPE(5, 7)));
    double_ud dd = {f_masked_fill, &m0, 1};
    GC("masked_fill second derivative", f_double, &dd, P(NB_SHAPE(5)), V(7, 5));
}
static void case_masked_select(void) {
    mask_ud m0 = {.mask = nb_gt_scalar(nb_randn(NB_SHAPE(7, 5), NB_F64), 0)}, m1 = {.mask = nb_lt_scalar(nb_randn(NB_SHAPE(5), NB_F64), 0)};
    mask_ud mt = {.mask = m0.mask, .transpose = true}, none = {.mask = nb_zeros(NB_SHAPE(7, 5), NB_BOOL)};
    GC("masked_select [7, 5] mask [7, 5]", f_masked_select, &m0, P(NB_SHAPE(7, 5)));
    GC("masked_select [7, 5] mask [5]", f_masked_select, &m1, P(NB_SHAPE(7, 5)));
    GC("masked_select [5] mask [7, 5] (broadcast self)", f_masked_select, &m0, P(NB_SHAPE(5)));
    GC("masked_select transpose([5, 7])", f_masked_select, &mt, P(NB_SHAPE(5, 7)));
    GC("masked_select nothing selected", f_masked_select, &none, P(NB_SHAPE(7, 5)));
}
/* the gradient of masked_select (x shaped like the mask) is masked_select_backward(v, mask) itself */
static tp f_msb(tp const *in, void *ud) {
    mask_ud *u = ud;
    tp x = in[0], v = in[1], y = nb_masked_select(x, u->mask), g = NULL;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, &x, 1, &o, &g) != 0) return NULL;
    return nb_mul(g, x); /* depends on x too, so both inputs are checked */
}
static void case_masked_select_backward_fn(void);
static void case_masked_select_backward(void) {
    case_masked_select_backward_fn();
    mask_ud m0 = {.mask = nb_gt_scalar(nb_randn(NB_SHAPE(7, 5), NB_F64), 0)};
    int64_t k = (int64_t)nb_item(nb_sum(m0.mask, NULL));
    GC("masked_select_backward (through masked_select's gradient)", f_msb, &m0, P(NB_SHAPE(7, 5)), P(NB_SHAPE(k)));
    double_ud dd = {f_masked_select, &m0, 1};
    GC("masked_select second derivative, broadcast self", f_double, &dd, P(NB_SHAPE(5)), P(NB_SHAPE(k)));
}
static tp f_msb_raw(tp const *in, void *ud) {
    mask_ud *u = ud;
    tp x = in[0], v = in[1], y = nb_masked_select(x, u->mask), g = NULL;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, &x, 1, &o, &g) != 0) return NULL;
    return g;
}
static void case_masked_select_backward_fn(void) {
    mask_ud m0 = {.mask = nb_gt_scalar(nb_randn(NB_SHAPE(7, 5), NB_F64), 0)};
    int64_t k = (int64_t)nb_item(nb_sum(m0.mask, NULL));
    EXPECT_FN("masked_select's gradient is masked_select_backward", "MaskedSelectBackwardBackward", f_msb_raw, &m0,
              P(NB_SHAPE(7, 5)), P(NB_SHAPE(k)));
}

/* ---- stack, unflatten, narrow, split, chunk --------------------------------------------------------------- */

static tp f_stack(tp const *in, void *ud) {
    int dim = *(int *)ud;
    tp xs[3] = {in[0], nb_transpose(in[1], 0, 1), in[2]};
    return nb_stack(xs, 3, dim);
}
static void case_stack(void) {
    int d0 = 0, d1 = 1, d2 = -1;
    GC("stack 3 [7, 3] dim 0 (one transposed)", f_stack, &d0, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3, 7)), P(NB_SHAPE(7, 3)));
    GC("stack dim 1", f_stack, &d1, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3, 7)), P(NB_SHAPE(7, 3)));
    GC("stack dim -1 with a constant", f_stack, &d2, P(NB_SHAPE(7, 3)), nb_randn(NB_SHAPE(3, 7), NB_F64), P(NB_SHAPE(7, 3)));
    double_ud dd = {f_stack, &d1, 3};
    GC("stack second derivative", f_double, &dd, P(NB_SHAPE(1, 3)), P(NB_SHAPE(3, 1)), P(NB_SHAPE(1, 3)), V(1, 3, 3));
}

static tp f_unflatten(tp const *in, void *ud) {
    (void)ud;
    return nb_mul(nb_unflatten(nb_transpose(in[0], 0, 1), 0, NB_SHAPE(2, -1, 1)), in[1]);
}
static void case_unflatten(void) {
    GC("unflatten transpose([7, 6]) dim 0 into (2, -1, 1), times y", f_unflatten, NULL, P(NB_SHAPE(7, 6)),
       P(NB_SHAPE(3, 1, 7)));
}

static tp f_narrow(tp const *in, void *ud) {
    (void)ud;
    return nb_mul(nb_narrow(nb_transpose(in[0], 0, 1), 1, -5, 3), nb_narrow(in[0], 0, 2, 3));
}
static void case_narrow(void) { GC("narrow transpose([7, 3]) and [7, 3]", f_narrow, NULL, P(NB_SHAPE(7, 3))); }

/* the pieces, each times (k + 1), concatenated again: every piece's gradient differs */
static tp join_pieces(tp *pieces, int n, int dim) {
    if (n <= 0) return NULL;
    for (int k = 0; k < n; k++) pieces[k] = nb_mul_scalar(pieces[k], k + 1);
    return nb_cat(pieces, n, dim);
}
static tp f_split(tp const *in, void *ud) {
    int64_t size = *(int64_t *)ud;
    tp p[8];
    int n = nb_split(nb_transpose(in[0], 0, 1), size, 1, p, 8);
    return join_pieces(p, n, 1);
}
static tp f_split_sizes(tp const *in, void *ud) {
    (void)ud;
    tp p[8];
    int n = nb_split_sizes(in[0], NB_SHAPE(2, 0, 4, 1), 0, p, 8);
    return join_pieces(p, n, 0);
}
static tp f_chunk(tp const *in, void *ud) {
    int chunks = *(int *)ud;
    tp p[8];
    int n = nb_chunk(in[0], chunks, -1, p, 8);
    return join_pieces(p, n, -1);
}
static void case_split(void) {
    int64_t s3 = 3, s17 = 17;
    GC("split transpose([7, 2]) by 3 along dim 1", f_split, &s3, P(NB_SHAPE(7, 2)));
    GC("split by 17 (one piece)", f_split, &s17, P(NB_SHAPE(7, 2)));
    double_ud dd = {f_split, &s3, 1};
    GC("split second derivative", f_double, &dd, P(NB_SHAPE(7, 2)), V(2, 7));
}
static void case_split_sizes(void) {
    GC("split_sizes [7, 3] into 2, 0, 4, 1", f_split_sizes, NULL, P(NB_SHAPE(7, 3)));
    double_ud dd = {f_split_sizes, NULL, 1};
    GC("split_sizes second derivative", f_double, &dd, P(NB_SHAPE(7, 3)), V(7, 3));
}
static void case_chunk(void) {
    int c3 = 3, c7 = 7;
    GC("chunk [3, 17] into 3", f_chunk, &c3, P(NB_SHAPE(3, 17)));
    GC("chunk [2, 5] into 7 (5 pieces)", f_chunk, &c7, P(NB_SHAPE(2, 5)));
}

const grad_case gc_cases_indexing[] = {
    {"index_select", case_index_select},
    {"index_add", case_index_add},
    {"gather", case_gather},
    {"scatter", case_scatter},
    {"scatter_value", case_scatter_value},
    {"scatter_add", case_scatter_add},
    {"scatter_reduce", case_scatter_reduce},
    {"masked_fill", case_masked_fill},
    {"masked_select", case_masked_select},
    {"masked_select_backward", case_masked_select_backward},
    {"stack", case_stack},
    {"unflatten", case_unflatten},
    {"narrow", case_narrow},
    {"split", case_split},
    {"split_sizes", case_split_sizes},
    {"chunk", case_chunk},
    {NULL, NULL},
};
