/* tests/gradcheck.h — what every gradient-check case file shares: input makers, the GC / EXPECT_FN
 * runners, generic checked functions (unary, binary, scalar, reduce, softmax, second derivative) and
 * the case-table type. test_gradcheck.c walks the registry and fails for any differentiable op with no
 * case in one of the family tables (tests/gradcheck/<family>.c, declared at the bottom of this file).
 */
#ifndef NABLA_TESTS_GRADCHECK_H
#define NABLA_TESTS_GRADCHECK_H
#define HARNESS_SHARED_COUNTERS /* the case tables in tests/gradcheck/ count into test_gradcheck's totals */
#include "harness.h"

typedef nb_tensor *tp;

extern int g_gradchecks; /* nb_gradcheck calls made (defined in test_gradcheck.c) */

/* ---- inputs ------------------------------------------------------------------------------------ */

/* Standard normal f64 leaf that requires grad. */
static inline tp P(int nd, const int64_t *shape) { return nb_param(nb_randn(nd, shape, NB_F64)); }
/* Values in [0.5, 1.5): bases for log / sqrt / pow, denominators. */
static inline tp Ppos(int nd, const int64_t *shape) { return nb_param(nb_add_scalar(nb_rand(nd, shape, NB_F64), 0.5)); }
/* Normal values pushed at least 0.2 away from 0 (abs, relu: no kink within eps). */
static inline tp Paway(int nd, const int64_t *shape) {
    tp x = nb_randn(nd, shape, NB_F64);
    return nb_param(nb_add(x, nb_mul_scalar(nb_sign(x), 0.2)));
}
/* Distinct values on a lattice of spacing 0.02 (odd: shifted by 0.01, so an even and an odd lattice
 * never tie): max / min / maximum / minimum have no tie within eps. */
static inline tp Plattice(int nd, const int64_t *shape, int salt, bool odd) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = (double)((((i + salt) * 331) % 1009) - 504) * 0.02 + (odd ? 0.01 : 0.0);
    tp t = nb_param(nb_from_data(v, nd, shape, NB_F64));
    free(v);
    return t;
}
static inline tp I64(int nd, const int64_t *shape, const int64_t *v) { return nb_from_data(v, nd, shape, NB_I64); }

/* ---- running a check ------------------------------------------------------------------------- */

static inline void gc_run(const char *what, nb_gradcheck_fn fn, void *ud, int n, tp const *in, const nb_gradcheck_opts *o) {
    g_gradchecks++;
    for (int i = 0; i < n; i++)
        if (!in[i]) {
            CHECK_MSG(false, "%s: input #%d could not be built: %s", what, i + 1, nb_last_error());
            nb_clear_error();
            return;
        }
    int rc = nb_gradcheck(fn, in, n, ud, o);
    CHECK_MSG(rc == 0, "%s: %s", what, nb_last_error());
    nb_clear_error();
}
#define NARGS(...) (int)(sizeof((tp[]){__VA_ARGS__}) / sizeof(tp))
#define GC(what, fn, ud, ...) gc_run(what, fn, ud, NARGS(__VA_ARGS__), (tp[]){__VA_ARGS__}, NULL)
#define GC_OPTS(what, opts, fn, ud, ...) gc_run(what, fn, ud, NARGS(__VA_ARGS__), (tp[]){__VA_ARGS__}, opts)

/* fn(inputs) must be recorded as grad_fn name (so a case really reaches the op it is filed under). */
static inline void expect_grad_fn(const char *what, nb_gradcheck_fn fn, void *ud, int n, tp const *in, const char *name) {
    nb_scope_begin();
    tp y = fn(in, ud);
    const char *got = nb_grad_fn_name(y);
    CHECK_MSG(y && got && strcmp(got, name) == 0, "%s: grad_fn is %s, expected %s (%s)", what, got ? got : "(none)",
              name, nb_last_error());
    nb_clear_error();
    nb_scope_end();
    (void)n;
}
#define EXPECT_FN(what, name, fn, ud, ...) expect_grad_fn(what, fn, ud, NARGS(__VA_ARGS__), (tp[]){__VA_ARGS__}, name)

/* ---- generic checked functions -------------------------------------------------------------- */

typedef struct unary_ud {
    tp (*f)(tp);
    int view; /* 0: as is, 1: transpose(0, 1), 2: slice(-1, 1, end, 2) */
} unary_ud;
static inline tp view_of(tp x, int view) {
    if (view == 1) return nb_transpose(x, 0, 1);
    if (view == 2) return nb_slice(x, -1, 1, INT64_MAX, 2);
    return nb_retain(x);
}
static inline tp f_unary(tp const *in, void *ud) {
    unary_ud *u = ud;
    return u->f(view_of(in[0], u->view));
}

typedef struct binary_ud {
    tp (*f)(tp, tp);
    bool transpose_a; /* a is passed transposed (dims 0, 1) */
} binary_ud;
static inline tp f_binary(tp const *in, void *ud) {
    binary_ud *b = ud;
    return b->f(b->transpose_a ? nb_transpose(in[0], 0, 1) : in[0], in[1]);
}

typedef struct scalar_ud {
    tp (*f)(tp, double);
    double s;
} scalar_ud;
static inline tp f_scalar(tp const *in, void *ud) {
    scalar_ud *s = ud;
    return s->f(in[0], s->s);
}

typedef struct reduce_ud {
    tp (*f)(tp, const nb_reduce_opts *);
    const nb_reduce_opts *o;
    bool transpose; /* reduce transpose(x, 0, 1) */
} reduce_ud;
static inline tp f_reduce(tp const *in, void *ud) {
    reduce_ud *r = ud;
    return r->f(r->transpose ? nb_transpose(in[0], 0, 1) : in[0], r->o);
}

typedef struct softmax_ud {
    tp (*f)(tp, int);
    int dim;
    bool transpose;
} softmax_ud;
static inline tp f_softmax(tp const *in, void *ud) {
    softmax_ud *s = ud;
    return s->f(s->transpose ? nb_transpose(in[0], 0, 1) : in[0], s->dim);
}

/* Second derivatives: the checked function is the gradient of f1 (inputs 0..n_x-1) contracted with
 * the grad_output v = inputs[n_x], built with create_graph, flattened and concatenated. */
typedef struct double_ud {
    nb_gradcheck_fn f1;
    void *ud;
    int n_x;
} double_ud;
static inline tp f_double(tp const *in, void *ud) {
    double_ud *d = ud;
    tp y = d->f1(in, d->ud);
    if (!y) return NULL;
    tp v = in[d->n_x];
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    tp g[4], flat[4];
    if (nb_autograd_grad(&y, 1, in, d->n_x, &o, g) != 0) return NULL;
    for (int i = 0; i < d->n_x; i++) flat[i] = nb_reshape(g[i], NB_SHAPE(-1));
    return d->n_x == 1 ? nb_retain(flat[0]) : nb_cat(flat, d->n_x, 0);
}
/* v for an output of shape (nd, shape) */
#define V(...) P(NB_SHAPE(__VA_ARGS__))
#define V0 P(NB_SCALAR)

/* ---- unary ---------------------------------------------------------------------------------- */

static inline void unary_cases(const char *name, tp (*f)(tp), tp (*make)(int, const int64_t *), bool dbl) {
    char what[96];
    unary_ud u0 = {f, 0}, u1 = {f, 1}, u2 = {f, 2};
    snprintf(what, sizeof what, "%s [1]", name);
    GC(what, f_unary, &u0, make(NB_SHAPE(1)));
    snprintf(what, sizeof what, "%s [7]", name);
    GC(what, f_unary, &u0, make(NB_SHAPE(7)));
    snprintf(what, sizeof what, "%s 0-d", name);
    GC(what, f_unary, &u0, make(NB_SCALAR));
    snprintf(what, sizeof what, "%s transpose([17, 3])", name);
    GC(what, f_unary, &u1, make(NB_SHAPE(17, 3)));
    snprintf(what, sizeof what, "%s slice([3, 17], step 2)", name);
    GC(what, f_unary, &u2, make(NB_SHAPE(3, 17)));
    if (dbl) {
        double_ud d = {f_unary, &u1, 1};
        snprintf(what, sizeof what, "%s second derivative", name);
        GC(what, f_double, &d, make(NB_SHAPE(7, 3)), V(3, 7));
    }
}

/* ---- binary --------------------------------------------------------------------------------- */

/* make_a / make_b build the two operands (lattices for max / min, positive for pow bases, ...). */
typedef tp (*maker)(int, const int64_t *, int);
static inline tp mk_normal(int nd, const int64_t *s, int k) { return (void)k, P(nd, s); }
static inline tp mk_pos(int nd, const int64_t *s, int k) { return (void)k, Ppos(nd, s); }
static inline tp mk_even(int nd, const int64_t *s, int k) { return Plattice(nd, s, k, false); }
static inline tp mk_odd(int nd, const int64_t *s, int k) { return Plattice(nd, s, k * 7 + 3, true); }

static inline void binary_cases(const char *name, tp (*f)(tp, tp), maker ma, maker mb, bool dbl) {
    char what[96];
    binary_ud b = {f, false}, bt = {f, true};
    snprintf(what, sizeof what, "%s [7] [7]", name);
    GC(what, f_binary, &b, ma(NB_SHAPE(7), 1), mb(NB_SHAPE(7), 2));
    snprintf(what, sizeof what, "%s [7, 1] [1, 17] (broadcast)", name);
    GC(what, f_binary, &b, ma(NB_SHAPE(7, 1), 3), mb(NB_SHAPE(1, 17), 4));
    snprintf(what, sizeof what, "%s [17] [3, 17] (broadcast)", name);
    GC(what, f_binary, &b, ma(NB_SHAPE(17), 5), mb(NB_SHAPE(3, 17), 6));
    snprintf(what, sizeof what, "%s [3, 1, 7] [7] (broadcast)", name);
    GC(what, f_binary, &b, ma(NB_SHAPE(3, 1, 7), 7), mb(NB_SHAPE(7), 8));
    snprintf(what, sizeof what, "%s 0-d [1, 7]", name);
    GC(what, f_binary, &b, ma(NB_SCALAR, 9), mb(NB_SHAPE(1, 7), 10));
    snprintf(what, sizeof what, "%s transpose([7, 3]) [3, 1]", name);
    GC(what, f_binary, &bt, ma(NB_SHAPE(7, 3), 11), mb(NB_SHAPE(3, 1), 12));
    /* one operand a constant (needs_grad false for it) */
    tp c = nb_detach(mb(NB_SHAPE(3, 7), 13));
    snprintf(what, sizeof what, "%s [7] with a constant [3, 7]", name);
    GC(what, f_binary, &b, ma(NB_SHAPE(7), 14), c);
    if (dbl) {
        double_ud d = {f_binary, &b, 2};
        snprintf(what, sizeof what, "%s second derivative [7, 1] [1, 17]", name);
        GC(what, f_double, &d, ma(NB_SHAPE(7, 1), 15), mb(NB_SHAPE(1, 17), 16), V(7, 17));
    }
}

/* the same tensor as both operands (x * x, x - x, ...): two edges into one leaf */
static inline tp f_self(tp const *in, void *ud) { return ((binary_ud *)ud)->f(in[0], in[0]); }

/* ---- case tables ----------------------------------------------------------------------------- */

typedef struct grad_case {
    const char *op; /* registry name */
    void (*run)(void);
} grad_case;

/* One table per op family, each ended by {NULL, NULL}. */
extern const grad_case gc_cases_core[];       /* test_gradcheck.c */
extern const grad_case gc_cases_pointwise[];  /* gradcheck/pointwise.c */
extern const grad_case gc_cases_reductions[]; /* gradcheck/reductions.c */
extern const grad_case gc_cases_indexing[];   /* gradcheck/indexing.c */
extern const grad_case gc_cases_layout[];     /* gradcheck/layout.c */
extern const grad_case gc_cases_spatial[];    /* gradcheck/spatial.c */
extern const grad_case gc_cases_neural[];     /* gradcheck/neural.c */
extern const grad_case gc_cases_losses[];     /* gradcheck/losses.c */

#endif
