/* tests/test_autograd.c — engine behaviour: .grad accumulation, zero_grad, very long chains,
 * retain_graph, no-grad mode, detach, introspection and printing, hooks, nb_autograd_grad, version
 * counters, argument errors, double backward, dtype of gradients, diamonds, and integer outputs. */
#include "harness.h"

static nb_tensor *f64(int nd, const int64_t *shape, const double *v) { return nb_from_data(v, nd, shape, NB_F64); }

/* max |t - expected| over t's elements (expected given in C order) */
static double max_err(const nb_tensor *t, const double *expected, int64_t n) {
    if (!t || nb_numel(t) != n) return INFINITY;
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1)), m = 0;
    nb_copy_to(t, v, sizeof(double) * (size_t)n, NB_F64);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(v[i] - expected[i]);
        if (!(d <= m)) m = d;
    }
    free(v);
    return m;
}

/* ---- .grad accumulation and zero_grad ------------------------------------------------------ */

static void test_grad_accumulates(void) {
    static const double wv[] = {1, -2, 3};
    nb_tensor *w = nb_param(f64(NB_SHAPE(3), wv));
    CHECK(nb_grad(w) == NULL && nb_last_status() == NB_OK);
    CHECK(nb_backward(nb_sum(nb_mul(w, w), NULL)) == 0);
    double g1[] = {2, -4, 6}, g2[] = {4, -8, 12}, g3[] = {3, 3, 3};
    CHECK(max_err(nb_grad(w), g1, 3) == 0);
    /* a second, separate graph adds into the same .grad */
    CHECK(nb_backward(nb_sum(nb_mul(w, w), NULL)) == 0);
    CHECK(max_err(nb_grad(w), g2, 3) == 0);
    nb_tensor *g = nb_grad(w);
    CHECK(nb_dtype_of(g) == NB_F64 && nb_ndim(g) == 1 && nb_size(g, 0) == 3);
    CHECK(!nb_requires_grad(g));
    nb_zero_grad(w);
    CHECK(nb_grad(w) == NULL && nb_last_status() == NB_OK);
    CHECK(nb_backward(nb_sum(nb_mul_scalar(w, 3), NULL)) == 0);
    CHECK(max_err(nb_grad(w), g3, 3) == 0);
    nb_zero_grad(w);
    nb_zero_grad(w); /* twice is fine */
    nb_zero_grad(NULL);
    CHECK(nb_grad(w) == NULL);
    /* nb_grad of NULL is an error */
    CHECK_NULL_WITH(nb_grad(NULL), "nb_grad");
}

/* The .grad a caller got from a first backward must not change when a later backward accumulates. */
static void test_grad_snapshot_not_aliased_by_stolen_buffer(void) {
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(2), NB_F64));
    nb_tensor *g = nb_mul_scalar(nb_ones(NB_SHAPE(2), NB_F64), 5); /* grad_output owned by us */
    nb_backward_opts o = {.grad_output = g};
    CHECK(nb_backward_ex(nb_mul_scalar(w, 1), &o) == 0);
    CHECK_NEAR(h_get(nb_grad(w), NB_LIST(0)), 5, 0);
    CHECK(nb_backward_ex(nb_mul_scalar(w, 1), &o) == 0);
    CHECK_NEAR(h_get(nb_grad(w), NB_LIST(0)), 10, 0);
    /* our grad_output was not modified by the in-place accumulation */
    CHECK_NEAR(h_get(g, NB_LIST(0)), 5, 0);
    CHECK_NEAR(h_get(g, NB_LIST(1)), 5, 0);
}

/* ---- very long chains ----------------------------------------------------------------------- */

#define CHAIN 100000

static void test_long_chain(void) {
    nb_tensor *x = nb_param(nb_full(NB_SHAPE(2), 0.5, NB_F64));
    int64_t live0 = nb_live_tensors();
    nb_tensor *y = nb_retain(x);
    for (int i = 0; i < CHAIN; i++) {
        nb_tensor *t = (i & 1) ? nb_add_scalar(y, 1e-6) : nb_mul_scalar(y, 1.00001);
        nb_free(y); /* only the graph keeps the chain alive */
        y = t;
        if (!y) break;
    }
    CHECK(y != NULL);
    CHECK(nb_grad_fn_name(y) && strcmp(nb_grad_fn_name(y), "AddBackward") == 0);
    double scale = pow(1.00001, CHAIN / 2), value = 0.5;
    for (int i = 0; i < CHAIN; i++) value = (i & 1) ? value + 1e-6 : value * 1.00001;
    CHECK_NEAR(h_get(y, NB_LIST(0)), value, 1e-9);
    nb_tensor *loss = nb_sum(y, NULL);
    CHECK(nb_backward(loss) == 0);
    CHECK_NEAR(h_get(nb_grad(x), NB_LIST(0)), scale, 1e-9 * scale);
    CHECK_NEAR(h_get(nb_grad(x), NB_LIST(1)), scale, 1e-9 * scale);
    nb_free(loss);
    nb_free(y); /* frees 100,000 nodes: must not recurse */
    CHECK(nb_live_tensors() == live0 + 1); /* x and its .grad */
}

/* A long chain that is never differentiated, freed from its end; and one freed via a scope. */
static void test_long_chain_free_without_backward(void) {
    int64_t live0 = nb_live_tensors();
    nb_tensor *x = nb_param(nb_ones(NB_SHAPE(1), NB_F32));
    nb_tensor *y = nb_retain(x);
    for (int i = 0; i < CHAIN && y; i++) {
        nb_tensor *n = nb_neg(y);
        nb_tensor *t = nb_exp(n); /* saves its output: an alias pointing back at its node */
        nb_free(n);
        nb_free(y);
        y = t;
    }
    CHECK(y != NULL);
    nb_free(y);
    nb_free(x);
    CHECK(nb_live_tensors() == live0);
    /* a chain of autograd_grad(create_graph) gradients over a long graph */
    nb_scope_begin();
    nb_tensor *a = nb_param(nb_full(NB_SHAPE(1), 0.3, NB_F64));
    nb_tensor *b = a;
    for (int i = 0; i < CHAIN / 10; i++) b = nb_mul_scalar(b, 1.0);
    nb_tensor *g;
    nb_autograd_opts o = {.create_graph = true};
    nb_tensor *s = nb_sum(nb_mul(b, b), NULL);
    CHECK(nb_autograd_grad(&s, 1, &a, 1, &o, &g) == 0);
    CHECK_NEAR(nb_item(g), 0.6, 1e-12);
    nb_scope_end();
    CHECK(nb_live_tensors() == live0);
}

/* ---- retain_graph --------------------------------------------------------------------------- */

static void test_retain_graph(void) {
    static const double xv[] = {0.5, -1, 2};
    nb_tensor *x = nb_param(f64(NB_SHAPE(3), xv));
    nb_tensor *loss = nb_sum(nb_exp(x), NULL); /* ExpBackward saves its output */
    CHECK(nb_backward(loss) == 0);
    CHECK_FAILS_WITH(nb_backward(loss) == 0, "retain_graph", "second time");
    /* after a failed second backward, .grad still holds the first result */
    CHECK_NEAR(h_get(nb_grad(x), NB_LIST(2)), exp(2.0), 1e-12);

    nb_zero_grad(x);
    nb_tensor *loss2 = nb_sum(nb_mul(nb_exp(x), x), NULL);
    nb_backward_opts keep = {.retain_graph = true};
    CHECK(nb_backward_ex(loss2, &keep) == 0);
    CHECK(nb_backward_ex(loss2, &keep) == 0);
    CHECK(nb_backward(loss2) == 0); /* the last one may free */
    for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(nb_grad(x), NB_LIST(i)), 3 * exp(xv[i]) * (1 + xv[i]), 1e-12);
    int rc = nb_backward(loss2);
    CHECK(rc == NB_ERR_STATE);
    CHECK(strstr(nb_last_error(), "retain_graph") != NULL);
    nb_clear_error();

    /* a graph of ops that save nothing also refuses a second walk without retain_graph */
    nb_tensor *loss3 = nb_sum(nb_add(x, x), NULL);
    CHECK(nb_backward(loss3) == 0);
    CHECK_RC_WITH(nb_backward(loss3), "retain_graph");

    /* nb_autograd_grad: retain_graph false then again */
    nb_tensor *loss4 = nb_sum(nb_tanh(x), NULL), *g;
    CHECK(nb_autograd_grad(&loss4, 1, &x, 1, NULL, &g) == 0);
    CHECK_RC_WITH(nb_autograd_grad(&loss4, 1, &x, 1, NULL, &g), "retain_graph");
    CHECK(g == NULL);
}

/* ---- grad mode, detach, introspection ------------------------------------------------------- */

static void test_no_grad(void) {
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(2, 3), NB_F32));
    CHECK(nb_is_grad_enabled());
    nb_no_grad_begin();
    CHECK(!nb_is_grad_enabled());
    nb_tensor *y = nb_mul_scalar(x, 2);
    CHECK(y && !nb_requires_grad(y) && nb_is_leaf(y) && nb_grad_fn_name(y) == NULL);
    nb_no_grad_begin(); /* nesting */
    nb_tensor *z = nb_matmul(x, nb_transpose(x, 0, 1));
    CHECK(z && !nb_requires_grad(z));
    nb_no_grad_end();
    CHECK(!nb_is_grad_enabled()); /* still inside the outer no-grad */
    nb_tensor *w = nb_exp(x);
    CHECK(w && !nb_requires_grad(w));
    nb_no_grad_end();
    CHECK(nb_is_grad_enabled());
    nb_no_grad_end(); /* unbalanced end is harmless */
    CHECK(nb_is_grad_enabled());
    nb_tensor *v = nb_mul_scalar(x, 2);
    CHECK(nb_requires_grad(v) && !nb_is_leaf(v));
    CHECK_RC_WITH(nb_backward(nb_sum(y, NULL)), "does not require grad");
    /* x still requires grad: the no-grad block did not change it */
    CHECK(nb_requires_grad(x) && nb_is_leaf(x));
}

static void test_detach(void) {
    static const double xv[] = {1, 2, 3};
    nb_tensor *x = nb_param(f64(NB_SHAPE(3), xv));
    nb_tensor *h = nb_mul_scalar(x, 2);
    nb_tensor *d = nb_detach(h);
    CHECK(d && !nb_requires_grad(d) && nb_is_leaf(d) && nb_grad_fn_name(d) == NULL);
    CHECK(nb_data(d) == nb_data(h)); /* shares storage */
    CHECK(nb_version(d) == nb_version(h));
    nb_tensor *loss = nb_sum(nb_mul(d, x), NULL);
    CHECK(nb_backward(loss) == 0);
    double expect[] = {2, 4, 6}; /* d treated as a constant: d(d * x)/dx = d */
    CHECK(max_err(nb_grad(x), expect, 3) == 0);
    /* detach of a leaf that requires grad */
    nb_tensor *dx = nb_detach(x);
    CHECK(dx && !nb_requires_grad(dx));
    CHECK(nb_param(dx) == dx); /* a detached tensor is a leaf and may become a parameter */
    CHECK(nb_requires_grad(dx) && !nb_requires_grad(nb_detach(dx)));
    CHECK_NULL_WITH(nb_detach(NULL), "nb_detach");
}

static void test_introspection_and_printing(void) {
    nb_tensor *w = nb_param(nb_randn(NB_SHAPE(3, 2), NB_F32));
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3), NB_F32);
    CHECK(nb_is_leaf(w) && nb_requires_grad(w) && nb_grad_fn_name(w) == NULL);
    CHECK(nb_is_leaf(x) && !nb_requires_grad(x));
    nb_tensor *h = nb_matmul(x, w);
    CHECK(!nb_is_leaf(h) && nb_requires_grad(h));
    CHECK(nb_grad_fn_name(h) && strcmp(nb_grad_fn_name(h), "MatmulBackward") == 0);
    struct {
        nb_tensor *t;
        const char *name;
    } cases[] = {
        {nb_mul(w, w), "MulBackward"},
        {nb_exp(w), "ExpBackward"},
        {nb_sum(w, NULL), "SumBackward"},
        {nb_transpose(w, 0, 1), "PermuteBackward"},
        {nb_softmax(w, 0), "SoftmaxBackward"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *n = nb_grad_fn_name(cases[i].t);
        CHECK_MSG(n && strcmp(n, cases[i].name) == 0, "got %s, expected %s", n ? n : "(null)", cases[i].name);
    }
    char buf[2048];
    CHECK(nb_format(h, buf, sizeof buf) > 0);
    CHECK_MSG(strstr(buf, "grad_fn=<MatmulBackward>") != NULL, "printed: %s", buf);
    CHECK(nb_format(w, buf, sizeof buf) > 0);
    CHECK_MSG(strstr(buf, "requires_grad=True") != NULL && !strstr(buf, "grad_fn"), "printed: %s", buf);
    CHECK(nb_format(x, buf, sizeof buf) > 0);
    CHECK_MSG(!strstr(buf, "grad"), "printed: %s", buf);
    /* printing to a stream works as well */
    FILE *f = tmpfile();
    if (f) {
        CHECK(nb_fprint(f, nb_exp(w)) == 0);
        rewind(f);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        CHECK_MSG(strstr(buf, "grad_fn=<ExpBackward>") != NULL, "printed: %s", buf);
        fclose(f);
    }
    CHECK(!nb_is_leaf(NULL) && !nb_requires_grad(NULL) && nb_grad_fn_name(NULL) == NULL);
    /* nb_set_requires_grad clears and sets on leaves */
    CHECK(nb_set_requires_grad(w, false) == 0 && !nb_requires_grad(w));
    CHECK(nb_set_requires_grad(w, true) == 0 && nb_requires_grad(w));
    CHECK_RC_WITH(nb_set_requires_grad(h, false), "not a leaf");
}

/* ---- hooks ---------------------------------------------------------------------------------- */

typedef struct hook_log {
    int calls;
    double sum;     /* sum of the elements of the last gradient seen */
    double scale;   /* replace: grad * scale (0: observe only) */
    int fail_with;  /* non-zero: abort with this */
} hook_log;

static int hook_fn(nb_tensor *grad, nb_tensor **replacement, void *ud) {
    hook_log *l = ud;
    l->calls++;
    l->sum = nb_item(nb_sum(grad, NULL));
    if (l->fail_with) return l->fail_with;
    if (l->scale != 0) *replacement = nb_mul_scalar(grad, l->scale);
    return 0;
}

static void test_hooks_on_leaves(void) {
    static const double xv[] = {1, 2, 3};
    nb_tensor *x = nb_param(f64(NB_SHAPE(3), xv));
    hook_log obs = {0}, rep = {.scale = 10};
    CHECK(nb_register_hook(x, hook_fn, &obs) == 0);
    CHECK(nb_backward(nb_sum(nb_mul_scalar(x, 2), NULL)) == 0);
    CHECK(obs.calls == 1 && obs.sum == 6);
    double e1[] = {2, 2, 2};
    CHECK(max_err(nb_grad(x), e1, 3) == 0);
    /* a second hook replaces the gradient; hooks run in registration order */
    CHECK(nb_register_hook(x, hook_fn, &rep) == 0);
    nb_zero_grad(x);
    CHECK(nb_backward(nb_sum(nb_mul_scalar(x, 2), NULL)) == 0);
    CHECK(obs.calls == 2 && obs.sum == 6);
    CHECK(rep.calls == 1 && rep.sum == 6);
    double e2[] = {20, 20, 20};
    CHECK(max_err(nb_grad(x), e2, 3) == 0);
    /* a hook that fails aborts the backward pass with its code */
    hook_log bad = {.fail_with = NB_ERR_UNSUPPORTED};
    CHECK(nb_register_hook(x, hook_fn, &bad) == 0);
    nb_zero_grad(x);
    int rc = nb_backward(nb_sum(nb_mul_scalar(x, 2), NULL));
    CHECK(rc == NB_ERR_UNSUPPORTED);
    CHECK(bad.calls == 1);
    CHECK(nb_grad(x) == NULL); /* nothing was accumulated */
    nb_clear_error();
    /* a positive return is reported as an error naming the hook */
    nb_tensor *y = nb_param(f64(NB_SHAPE(3), xv));
    hook_log pos = {.fail_with = 7};
    CHECK(nb_register_hook(y, hook_fn, &pos) == 0);
    CHECK_RC_WITH(nb_backward(nb_sum(y, NULL)), "hook", "7");
    /* hooks on tensors that do not require grad are refused */
    CHECK_RC_WITH(nb_register_hook(nb_ones(NB_SHAPE(2), NB_F32), hook_fn, &obs), "does not require grad");
    CHECK_RC_WITH(nb_register_hook(y, NULL, NULL), "hook");
}

/* nb_autograd_grad also runs leaf hooks (the captured gradient is the hooked one) */
static void test_hooks_with_autograd_grad(void) {
    nb_tensor *x = nb_param(nb_ones(NB_SHAPE(2), NB_F64));
    hook_log rep = {.scale = 3};
    CHECK(nb_register_hook(x, hook_fn, &rep) == 0);
    nb_tensor *s = nb_sum(nb_mul_scalar(x, 2), NULL), *g;
    CHECK(nb_autograd_grad(&s, 1, &x, 1, NULL, &g) == 0);
    CHECK(rep.calls == 1);
    CHECK_NEAR(h_get(g, NB_LIST(0)), 6, 0);
    CHECK(nb_grad(x) == NULL);
}

static void test_hooks_on_non_leaves(void) {
    static const double xv[] = {1, -2, 3};
    nb_tensor *x = nb_param(f64(NB_SHAPE(3), xv));
    nb_tensor *h = nb_mul_scalar(x, 3); /* h = 3x */
    hook_log obs = {0};
    CHECK(nb_register_hook(h, hook_fn, &obs) == 0);
    nb_tensor *loss = nb_sum(nb_mul(h, h), NULL); /* dloss/dh = 2h = 6x (sum 12) */
    nb_backward_opts keep = {.retain_graph = true};
    CHECK(nb_backward_ex(loss, &keep) == 0);
    CHECK(obs.calls == 1); /* once, with both uses of h summed */
    CHECK_NEAR(obs.sum, 12, 1e-12);
    double e1[] = {18, -36, 54}; /* 18x */
    CHECK(max_err(nb_grad(x), e1, 3) < 1e-12);
    /* replace the gradient at h: x's gradient scales */
    hook_log rep = {.scale = 0.5};
    CHECK(nb_register_hook(h, hook_fn, &rep) == 0);
    nb_zero_grad(x);
    CHECK(nb_backward_ex(loss, &keep) == 0);
    CHECK(obs.calls == 2 && rep.calls == 1);
    double e2[] = {9, -18, 27};
    CHECK(max_err(nb_grad(x), e2, 3) < 1e-12);
    /* abort from a non-leaf hook */
    hook_log bad = {.fail_with = NB_ERR_ARG};
    CHECK(nb_register_hook(h, hook_fn, &bad) == 0);
    nb_zero_grad(x);
    CHECK(nb_backward_ex(loss, &keep) == NB_ERR_ARG);
    CHECK(nb_grad(x) == NULL);
    nb_clear_error();
    /* a hook on the root itself sees the seed */
    nb_tensor *r = nb_sum(nb_exp(x), NULL);
    hook_log root = {0};
    CHECK(nb_register_hook(r, hook_fn, &root) == 0);
    CHECK(nb_backward(r) == 0);
    CHECK(root.calls == 1 && root.sum == 1);
}

/* A leaf used twice. The engine currently runs a leaf's hooks once per incoming gradient (here twice),
 * while a non-leaf's hooks see the summed gradient once (PyTorch runs leaf hooks once on the sum too).
 * Only a linear hook is checked, whose result is the same either way. */
static void test_hook_on_leaf_used_twice(void) {
    static const double xv[] = {1, 2};
    nb_tensor *x = nb_param(f64(NB_SHAPE(2), xv));
    hook_log rep = {.scale = 2};
    CHECK(nb_register_hook(x, hook_fn, &rep) == 0);
    CHECK(nb_backward(nb_sum(nb_add(nb_mul_scalar(x, 3), nb_mul_scalar(x, 4)), NULL)) == 0);
    CHECK(rep.calls == 1); /* once, on the summed gradient, as PyTorch's AccumulateGrad */
    CHECK_NEAR(h_get(nb_grad(x), NB_LIST(0)), 14, 1e-12); /* (3 + 4) * 2 */
    CHECK_NEAR(rep.sum, 14, 1e-12);                       /* it saw the total 7 + 7, not 3 + 3 then 4 + 4 */
}

/* ---- nb_autograd_grad ----------------------------------------------------------------------- */

static void test_autograd_grad(void) {
    static const double av[] = {1, 2, 3}, bv[] = {-1, 0.5, 2};
    nb_tensor *a = nb_param(f64(NB_SHAPE(3), av)), *b = nb_param(f64(NB_SHAPE(3), bv));
    nb_tensor *c = nb_param(nb_ones(NB_SHAPE(3), NB_F64)); /* unused */
    nb_tensor *y1 = nb_sum(nb_mul(a, b), NULL), *y2 = nb_sum(nb_exp(a), NULL);
    nb_tensor *outs[2] = {y1, y2}, *ins[2] = {a, b}, *g[3] = {NULL, NULL, NULL};
    nb_autograd_opts keep = {.retain_graph = true};
    CHECK(nb_autograd_grad(outs, 2, ins, 2, &keep, g) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(h_get(g[0], NB_LIST(i)), bv[i] + exp(av[i]), 1e-12);
        CHECK_NEAR(h_get(g[1], NB_LIST(i)), av[i], 1e-12);
    }
    CHECK(!nb_requires_grad(g[0]) && !nb_requires_grad(g[1])); /* no create_graph: plain tensors */
    CHECK(nb_grad(a) == NULL && nb_grad(b) == NULL);             /* .grad untouched */
    /* unused input: an error naming allow_unused, or NULL with allow_unused */
    nb_tensor *ins3[3] = {a, c, b};
    CHECK_RC_WITH(nb_autograd_grad(&y1, 1, ins3, 3, &keep, g), "allow_unused", "input #2");
    CHECK(g[0] == NULL && g[1] == NULL && g[2] == NULL);
    nb_autograd_opts unused = {.retain_graph = true, .allow_unused = true};
    CHECK(nb_autograd_grad(&y1, 1, ins3, 3, &unused, g) == 0);
    CHECK(g[0] && g[1] == NULL && g[2]);
    CHECK_NEAR(h_get(g[2], NB_LIST(0)), av[0], 0);
    /* grad_outputs for a non-scalar output, and weights of two outputs */
    nb_tensor *z = nb_mul(a, a); /* dz/da = 2a */
    static const double vv[] = {1, 10, 100};
    nb_tensor *v = f64(NB_SHAPE(3), vv);
    nb_autograd_opts go = {.grad_outputs = &v};
    CHECK(nb_autograd_grad(&z, 1, &a, 1, &go, g) == 0);
    for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(g[0], NB_LIST(i)), 2 * av[i] * vv[i], 1e-12);
    CHECK_RC_WITH(nb_autograd_grad(&z, 1, &a, 1, NULL, g), "more than one element");
    nb_tensor *bad = nb_ones(NB_SHAPE(2), NB_F64);
    nb_autograd_opts gbad = {.grad_outputs = &bad};
    CHECK_RC_WITH(nb_autograd_grad(&z, 1, &a, 1, &gbad, g), "grad_output", "[3]");
    /* non-leaf inputs: the gradient with respect to an intermediate tensor */
    nb_tensor *h = nb_mul_scalar(a, 2);
    nb_tensor *s = nb_sum(nb_mul(h, h), NULL);
    nb_tensor *hs[2] = {h, a};
    CHECK(nb_autograd_grad(&s, 1, hs, 2, NULL, g) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(h_get(g[0], NB_LIST(i)), 4 * av[i], 1e-12); /* 2h */
        CHECK_NEAR(h_get(g[1], NB_LIST(i)), 8 * av[i], 1e-12); /* 8a */
    }
    /* an output as its own input */
    nb_tensor *e = nb_exp(a);
    nb_tensor *se = nb_sum(e, NULL);
    nb_tensor *ee[1] = {e};
    CHECK(nb_autograd_grad(&se, 1, ee, 1, NULL, g) == 0);
    CHECK_NEAR(h_get(g[0], NB_LIST(1)), 1, 0);
    /* a leaf as the output */
    nb_autograd_opts gv = {.grad_outputs = &v};
    CHECK(nb_autograd_grad(&a, 1, &a, 1, &gv, g) == 0);
    CHECK_NEAR(h_get(g[0], NB_LIST(2)), 100, 0);
    /* argument errors */
    nb_tensor *k = nb_ones(NB_SHAPE(3), NB_F64);
    CHECK_RC_WITH(nb_autograd_grad(&y1, 1, &k, 1, &keep, g), "input #1", "does not require grad");
    CHECK_RC_WITH(nb_autograd_grad(&k, 1, &a, 1, &keep, g), "output #1", "does not require grad");
    CHECK_RC_WITH(nb_autograd_grad(&y1, 0, &a, 1, &keep, g), "nb_autograd_grad");
    CHECK_RC_WITH(nb_autograd_grad(&y1, 1, &a, 1, &keep, NULL), "nb_autograd_grad");
}

/* ---- version counters ----------------------------------------------------------------------- */

static void test_version_counter_saved_input(void) {
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(3), NB_F64));
    nb_tensor *w = nb_randn(NB_SHAPE(3), NB_F64); /* no grad: writable in grad mode */
    nb_tensor *y = nb_sum(nb_mul(x, w), NULL);    /* MulBackward saved w */
    uint64_t v0 = nb_version(w);
    CHECK(nb_set(w, NB_LIST(1), 5.0) == 0);
    CHECK(nb_version(w) == v0 + 1);
    CHECK_RC_WITH(nb_backward(y), "MulBackward", "modified in place");
    CHECK(nb_grad(x) == NULL);
    /* the same through nb_copy_ on a view that shares storage with the saved tensor */
    nb_tensor *w2 = nb_randn(NB_SHAPE(2, 3), NB_F64);
    nb_tensor *y2 = nb_sum(nb_mul(x, w2), NULL);
    nb_tensor *row = nb_slice(w2, 0, 1, 2, 1);
    CHECK(nb_copy_(row, nb_zeros(NB_SHAPE(1, 3), NB_F64)) == 0);
    CHECK_RC_WITH(nb_backward(y2), "MulBackward", "modified in place");
    /* no modification: fine */
    nb_tensor *y3 = nb_sum(nb_mul(x, w), NULL);
    CHECK(nb_backward(y3) == 0);
}

static void test_version_counter_saved_output(void) {
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(3), NB_F64));
    nb_tensor *e = nb_exp(x); /* ExpBackward saved its output */
    nb_tensor *loss = nb_sum(e, NULL);
    /* e requires grad: in-place updates are refused in grad mode */
    CHECK_RC_WITH(nb_add_(e, nb_ones(NB_SHAPE(3), NB_F64), 1.0), "requires grad", "nb_no_grad_begin");
    CHECK_RC_WITH(nb_set(e, NB_LIST(0), 1.0), "requires grad");
    nb_no_grad_begin();
    CHECK(nb_add_(e, nb_ones(NB_SHAPE(3), NB_F64), 1.0) == 0);
    nb_no_grad_end();
    CHECK_RC_WITH(nb_backward(loss), "ExpBackward", "modified in place", "output");
    /* a leaf modified in place in no-grad mode after x*x saved it */
    nb_tensor *p = nb_param(nb_randn(NB_SHAPE(2), NB_F64));
    nb_tensor *l2 = nb_sum(nb_mul(p, p), NULL);
    nb_no_grad_begin();
    CHECK(nb_mul_scalar_(p, 2.0) == 0);
    nb_no_grad_end();
    CHECK_RC_WITH(nb_backward(l2), "MulBackward", "modified in place");
    /* modifying a tensor that was NOT saved (add saves nothing) is fine */
    nb_tensor *q = nb_param(nb_randn(NB_SHAPE(2), NB_F64));
    nb_tensor *l3 = nb_sum(nb_add(q, q), NULL);
    nb_no_grad_begin();
    CHECK(nb_fill_(q, 3.0) == 0);
    nb_no_grad_end();
    CHECK(nb_backward(l3) == 0);
    CHECK_NEAR(h_get(nb_grad(q), NB_LIST(0)), 2, 0);
}

/* ---- argument errors ------------------------------------------------------------------------ */

static void test_param_errors(void) {
    CHECK_NULL_WITH(nb_param(nb_ones(NB_SHAPE(2), NB_I32)), "float");
    CHECK_NULL_WITH(nb_param(nb_ones(NB_SHAPE(2), NB_BOOL)), "float");
    nb_tensor *x = nb_param(nb_ones(NB_SHAPE(2), NB_F32));
    CHECK(x != NULL);
    CHECK(nb_param(x) == x); /* again on a leaf: fine */
    nb_tensor *y = nb_mul_scalar(x, 2);
    CHECK_NULL_WITH(nb_param(y), "not a leaf", "MulBackward");
    nb_clear_error();
    CHECK(nb_param(NULL) == NULL);
    nb_clear_error();
    /* half types can require grad */
    CHECK(nb_param(nb_ones(NB_SHAPE(2), NB_F16)) != NULL);
    CHECK(nb_param(nb_ones(NB_SHAPE(2), NB_BF16)) != NULL);
}

static void test_backward_errors(void) {
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(2, 3), NB_F32));
    nb_tensor *y = nb_mul_scalar(x, 2);
    CHECK_RC_WITH(nb_backward(y), "more than one element", "grad_output", "[2, 3]");
    CHECK(nb_grad(x) == NULL);
    nb_tensor *wrong = nb_ones(NB_SHAPE(3, 2), NB_F32);
    nb_backward_opts o = {.grad_output = wrong};
    CHECK_RC_WITH(nb_backward_ex(y, &o), "grad_output", "[2, 3]");
    /* with a grad_output of the right shape (another dtype converts) */
    nb_tensor *go = nb_full(NB_SHAPE(2, 3), 0.5, NB_F64);
    nb_backward_opts ok = {.grad_output = go};
    CHECK(nb_backward_ex(y, &ok) == 0);
    CHECK(nb_dtype_of(nb_grad(x)) == NB_F32);
    CHECK_NEAR(h_get(nb_grad(x), NB_LIST(1, 2)), 1.0, 0);
    /* roots that do not require grad */
    CHECK_RC_WITH(nb_backward(nb_sum(nb_ones(NB_SHAPE(2), NB_F32), NULL)), "does not require grad");
    nb_no_grad_begin();
    nb_tensor *n = nb_sum(x, NULL);
    nb_no_grad_end();
    CHECK_RC_WITH(nb_backward(n), "does not require grad");
    CHECK_RC_WITH(nb_backward(NULL), "nb_backward");
    /* a one-element non-0-d root is fine */
    nb_tensor *z = nb_param(nb_full(NB_SHAPE(1, 1), 3, NB_F64));
    CHECK(nb_backward(nb_mul(z, z)) == 0);
    CHECK_NEAR(h_get(nb_grad(z), NB_LIST(0, 0)), 6, 0);
    /* backward on a leaf: its gradient is the seed */
    nb_tensor *l = nb_param(nb_full(NB_SCALAR, 2, NB_F64));
    CHECK(nb_backward(l) == 0);
    CHECK_NEAR(nb_item(nb_grad(l)), 1, 0);
}

/* ---- higher order --------------------------------------------------------------------------- */

static void test_double_backward_cube(void) {
    static const double xv[] = {-1.5, 0.5, 2};
    nb_tensor *x = nb_param(f64(NB_SHAPE(3), xv));
    nb_tensor *forms[2] = {nb_mul(nb_mul(x, x), x), nb_pow_scalar(x, 3)};
    for (int f = 0; f < 2; f++) {
        nb_tensor *s = nb_sum(forms[f], NULL), *g1, *g2;
        nb_autograd_opts cg = {.create_graph = true};
        CHECK(nb_autograd_grad(&s, 1, &x, 1, &cg, &g1) == 0);
        CHECK(nb_requires_grad(g1) && !nb_is_leaf(g1));
        for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(g1, NB_LIST(i)), 3 * xv[i] * xv[i], 1e-12);
        nb_tensor *s1 = nb_sum(g1, NULL);
        CHECK(nb_autograd_grad(&s1, 1, &x, 1, &cg, &g2) == 0);
        for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(g2, NB_LIST(i)), 6 * xv[i], 1e-12);
        /* third derivative: 6 */
        nb_tensor *s2 = nb_sum(g2, NULL), *g3;
        nb_autograd_opts keep = {.retain_graph = true}; /* s1's graph is part of s2's: keep it for below */
        CHECK(nb_autograd_grad(&s2, 1, &x, 1, &keep, &g3) == 0);
        for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(g3, NB_LIST(i)), 6, 1e-12);
        /* nb_backward through the first gradient accumulates d2 into .grad */
        nb_zero_grad(x);
        CHECK(nb_backward(s1) == 0);
        for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(nb_grad(x), NB_LIST(i)), 6 * xv[i], 1e-12);
    }
    /* nb_backward with create_graph-like use: .grad of a first backward is not itself recorded */
    nb_zero_grad(x);
    CHECK(nb_backward(nb_sum(nb_pow_scalar(x, 3), NULL)) == 0);
    CHECK(!nb_requires_grad(nb_grad(x)));
}

/* ---- dtypes, diamonds, integer outputs ------------------------------------------------------ */

static void test_f32_params_through_f64(void) {
    static const float wv[] = {1.5f, -2, 0.25f};
    static const double xv[] = {3, 4, -5};
    nb_tensor *w = nb_param(nb_from_data(wv, NB_SHAPE(3), NB_F32));
    nb_tensor *x = f64(NB_SHAPE(3), xv);
    /* explicit conversion */
    nb_tensor *y = nb_sum(nb_mul(nb_to(w, NB_F64), x), NULL);
    CHECK(nb_dtype_of(y) == NB_F64);
    CHECK(nb_backward(y) == 0);
    nb_tensor *g = nb_grad(w);
    CHECK(nb_dtype_of(g) == NB_F32);
    CHECK(max_err(g, xv, 3) == 0);
    /* implicit promotion inside a binary op */
    nb_zero_grad(w);
    nb_tensor *y2 = nb_sum(nb_mul(w, x), NULL);
    CHECK(nb_dtype_of(y2) == NB_F64);
    CHECK(nb_backward(y2) == 0);
    CHECK(nb_dtype_of(nb_grad(w)) == NB_F32);
    CHECK(max_err(nb_grad(w), xv, 3) == 0);
    /* matmul of f32 with f64 */
    nb_zero_grad(w);
    nb_tensor *y3 = nb_matmul(w, x);
    CHECK(nb_backward(y3) == 0);
    CHECK(nb_dtype_of(nb_grad(w)) == NB_F32);
    CHECK(max_err(nb_grad(w), xv, 3) == 0);
    /* an f16 parameter */
    nb_tensor *h = nb_param(nb_full(NB_SHAPE(2), 1.5, NB_F16));
    CHECK(nb_backward(nb_sum(nb_mul(nb_to(h, NB_F64), nb_full(NB_SHAPE(2), 2, NB_F64)), NULL)) == 0);
    CHECK(nb_dtype_of(nb_grad(h)) == NB_F16);
    CHECK_NEAR(h_get(nb_grad(h), NB_LIST(1)), 2, 0);
}

static void test_diamond(void) {
    static const double xv[] = {0.5, -1, 2};
    nb_tensor *x = nb_param(f64(NB_SHAPE(3), xv));
    /* y = sum(exp(x) * x + x): x reaches the sum three ways */
    nb_tensor *y = nb_sum(nb_add(nb_mul(nb_exp(x), x), x), NULL);
    CHECK(nb_backward(y) == 0);
    for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(nb_grad(x), NB_LIST(i)), exp(xv[i]) * (xv[i] + 1) + 1, 1e-12);
    /* an intermediate used twice: h = 2x, y = sum(h * h + h)  =>  dy/dx = (2h + 1) * 2 */
    nb_zero_grad(x);
    nb_tensor *h = nb_mul_scalar(x, 2);
    nb_tensor *y2 = nb_sum(nb_add(nb_mul(h, h), h), NULL);
    CHECK(nb_backward(y2) == 0);
    for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(nb_grad(x), NB_LIST(i)), (4 * xv[i] + 1) * 2, 1e-12);
    /* deep diamond: two long branches from one node joining at the end */
    nb_zero_grad(x);
    nb_tensor *a = nb_exp(x), *b1 = a, *b2 = a;
    for (int i = 0; i < 50; i++) {
        b1 = nb_mul_scalar(b1, 1.0);
        b2 = nb_add_scalar(b2, 0.0);
    }
    CHECK(nb_backward(nb_sum(nb_mul(b1, b2), NULL)) == 0); /* d(e^2x)/dx = 2 e^2x */
    for (int i = 0; i < 3; i++) CHECK_NEAR(h_get(nb_grad(x), NB_LIST(i)), 2 * exp(2 * xv[i]), 1e-9);
    /* views of one leaf in two places: slices that overlap */
    nb_zero_grad(x);
    nb_tensor *s1 = nb_slice(x, 0, 0, 2, 1), *s2 = nb_slice(x, 0, 1, 3, 1);
    CHECK(nb_backward(nb_sum(nb_mul(s1, s2), NULL)) == 0); /* x0 x1 + x1 x2 */
    double e[] = {xv[1], xv[0] + xv[2], xv[1]};
    CHECK(max_err(nb_grad(x), e, 3) < 1e-12);
}

static void test_int_outputs_do_not_record(void) {
    static const double xv[] = {0.5, -1, 2, -0.25};
    nb_tensor *x = nb_param(f64(NB_SHAPE(4), xv));
    nb_tensor *am = nb_argmax(x, 0, false);
    CHECK(am && !nb_requires_grad(am) && nb_grad_fn_name(am) == NULL && nb_dtype_of(am) == NB_I64);
    CHECK(nb_item(am) == 2);
    nb_tensor *mask = nb_gt_scalar(x, 0);
    CHECK(mask && !nb_requires_grad(mask) && nb_dtype_of(mask) == NB_BOOL);
    nb_tensor *cmp = nb_lt(x, nb_neg(x));
    CHECK(cmp && !nb_requires_grad(cmp));
    nb_tensor *xi = nb_to(x, NB_I32);
    CHECK(xi && !nb_requires_grad(xi) && nb_grad_fn_name(xi) == NULL);
    nb_tensor *sg = nb_sign(x); /* float output, but not differentiable: not recorded */
    CHECK(sg && !nb_requires_grad(sg));
    /* using them mid-graph: y = sum(x * float(mask)) + sum(x * float(xi)) */
    nb_tensor *y = nb_add(nb_sum(nb_mul(x, nb_to(mask, NB_F64)), NULL), nb_sum(nb_mul(x, nb_to(xi, NB_F64)), NULL));
    CHECK(nb_backward(y) == 0);
    double e[] = {1 + 0, 0 - 1, 1 + 2, 0 + 0};
    CHECK(max_err(nb_grad(x), e, 4) == 0);
    /* where with a condition computed from x */
    nb_zero_grad(x);
    nb_tensor *w = nb_where(mask, x, nb_mul_scalar(x, 3));
    CHECK(nb_backward(nb_sum(w, NULL)) == 0);
    double e2[] = {1, 3, 1, 3};
    CHECK(max_err(nb_grad(x), e2, 4) == 0);
    /* a sum of bools is i64 and carries no grad */
    nb_tensor *cnt = nb_sum(mask, NULL);
    CHECK(nb_dtype_of(cnt) == NB_I64 && !nb_requires_grad(cnt));
    CHECK_RC_WITH(nb_backward(cnt), "does not require grad");
}

/* Ties in max / min / maximum / minimum share the gradient evenly (values gradcheck cannot probe). */
static void test_tie_gradients(void) {
    static const double xv[] = {1, 3, 3, 2, 3, 0};
    nb_tensor *x = nb_param(f64(NB_SHAPE(2, 3), xv));
    CHECK(nb_backward(nb_max(x, NULL)) == 0); /* three tied maxima */
    double e[] = {0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3, 0};
    CHECK(max_err(nb_grad(x), e, 6) < 1e-15);
    nb_zero_grad(x);
    CHECK(nb_backward(nb_sum(nb_max(x, NB_DIMS(1)), NULL)) == 0);
    double e1[] = {0, 0.5, 0.5, 0, 1, 0};
    CHECK(max_err(nb_grad(x), e1, 6) < 1e-15);
    nb_zero_grad(x);
    CHECK(nb_backward(nb_sum(nb_min(x, NB_DIMS_KEEP(0)), NULL)) == 0);
    double e2[] = {1, 0.5, 0, 0, 0.5, 1};
    CHECK(max_err(nb_grad(x), e2, 6) < 1e-15);
    nb_zero_grad(x);
    nb_tensor *b = nb_param(nb_full(NB_SHAPE(3), 3, NB_F64));
    CHECK(nb_backward(nb_sum(nb_maximum(x, b), NULL)) == 0);
    double ea[] = {0, 0.5, 0.5, 0, 0.5, 0}, eb[] = {1 + 1, 0.5 + 0.5, 0.5 + 1};
    CHECK(max_err(nb_grad(x), ea, 6) < 1e-15);
    CHECK(max_err(nb_grad(b), eb, 3) < 1e-15);
    /* abs and relu at 0: zero gradient (subgradient choice of PyTorch) */
    nb_tensor *z = nb_param(nb_zeros(NB_SHAPE(2), NB_F64));
    CHECK(nb_backward(nb_sum(nb_add(nb_abs(z), nb_relu(z)), NULL)) == 0);
    double ez[] = {0, 0};
    CHECK(max_err(nb_grad(z), ez, 2) == 0);
}

/* Gradients flow into the right leaves when only some inputs require grad, and a tensor that does
 * not require grad gets no .grad. */
static void test_partial_requires_grad(void) {
    nb_tensor *a = nb_param(nb_full(NB_SHAPE(2), 2, NB_F64));
    nb_tensor *b = nb_full(NB_SHAPE(2), 5, NB_F64);
    CHECK(nb_backward(nb_sum(nb_mul(a, b), NULL)) == 0);
    CHECK_NEAR(h_get(nb_grad(a), NB_LIST(0)), 5, 0);
    CHECK(nb_grad(b) == NULL && nb_last_status() == NB_OK);
    /* cross_entropy: the integer target never gets a gradient */
    static const int64_t tv[] = {1, 0};
    nb_tensor *t = nb_from_data(tv, NB_SHAPE(2), NB_I64);
    nb_tensor *logits = nb_param(nb_zeros(NB_SHAPE(2, 2), NB_F64));
    nb_tensor *l = nb_cross_entropy(logits, t, NULL);
    CHECK_NEAR(nb_item(l), log(2.0), 1e-12);
    CHECK(nb_backward(l) == 0);
    double e[] = {0.25, -0.25, -0.25, 0.25};
    CHECK(max_err(nb_grad(logits), e, 4) < 1e-12);
    CHECK(nb_grad(t) == NULL);
}

/* A transposed operand of matmul (a linear layer's weight seen through nb_transpose) gets its gradient
 * computed in its own layout, so the leaf's .grad is contiguous; values equal the plain formula. */
static void test_matmul_transposed_operand_grads(void) {
    nb_tensor *w = nb_param(nb_randn(NB_SHAPE(5, 3), NB_F64)); /* used as w^T: (3, 5) */
    nb_tensor *v = nb_param(nb_randn(NB_SHAPE(3, 4), NB_F64)); /* used as v^T on the left: (4, 3) */
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3), NB_F64), *g = nb_randn(NB_SHAPE(4, 5), NB_F64);
    nb_tensor *y = nb_add(nb_matmul(x, nb_transpose(w, 0, 1)), nb_matmul(nb_transpose(v, 0, 1), nb_transpose(w, 0, 1)));
    CHECK(nb_backward_ex(y, &(nb_backward_opts){.grad_output = g}) == 0);
    CHECK(nb_grad(w) && nb_is_contiguous(nb_grad(w)) && nb_grad(v) && nb_is_contiguous(nb_grad(v)));
    /* dW = g^T (x + v^T), dV = w^T g^T... computed with plain loops */
    double err = 0;
    for (int o = 0; o < 5; o++)
        for (int i = 0; i < 3; i++) {
            double e = 0;
            for (int r = 0; r < 4; r++)
                e += h_get(g, NB_LIST(r, o)) * (h_get(x, NB_LIST(r, i)) + h_get(v, NB_LIST(i, r)));
            double d = fabs(e - h_get(nb_grad(w), NB_LIST(o, i)));
            if (d > err) err = d;
        }
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < 4; r++) {
            double e = 0;
            for (int o = 0; o < 5; o++) e += h_get(w, NB_LIST(o, i)) * h_get(g, NB_LIST(r, o));
            double d = fabs(e - h_get(nb_grad(v), NB_LIST(i, r)));
            if (d > err) err = d;
        }
    CHECK_MSG(err < 1e-12, "max error %g", err);
}

int main(void) {
    nb_manual_seed(42);
    RUN(test_grad_accumulates);
    RUN(test_grad_snapshot_not_aliased_by_stolen_buffer);
    RUN(test_long_chain);
    RUN(test_long_chain_free_without_backward);
    RUN(test_retain_graph);
    RUN(test_no_grad);
    RUN(test_detach);
    RUN(test_introspection_and_printing);
    RUN(test_hooks_on_leaves);
    RUN(test_hooks_with_autograd_grad);
    RUN(test_hooks_on_non_leaves);
    RUN(test_hook_on_leaf_used_twice);
    RUN(test_autograd_grad);
    RUN(test_version_counter_saved_input);
    RUN(test_version_counter_saved_output);
    RUN(test_param_errors);
    RUN(test_backward_errors);
    RUN(test_double_backward_cube);
    RUN(test_f32_params_through_f64);
    RUN(test_diamond);
    RUN(test_int_outputs_do_not_record);
    RUN(test_tie_gradients);
    RUN(test_partial_requires_grad);
    RUN(test_matmul_transposed_operand_grads);
    return harness_finish();
}
