/* tests/test_alloc_fail.c — out-of-memory robustness. A counting allocator (installed with
 * nb_set_allocator) fails its N-th request, for N = 1, 2, 3, ... until a small forward + backward pass
 * runs to the end without reaching N. Every run must either succeed with the right numbers or fail
 * cleanly with NB_ERR_NOMEM ("out of memory"); never crash, and leave no tensor and no allocator
 * block behind. A second mode keeps failing every request from the N-th on, so cleanup paths that
 * allocate are caught too. Both run with 2 threads and with 1. */
#include "harness.h"

#include <stdatomic.h>

/* ---- the counting allocator -------------------------------------------------------------------- */

#define HDR 64 /* keeps the caller's pointer 16-byte (in fact 64-byte) aligned; holds the size */

typedef struct counting {
    atomic_long calls;      /* allocation and reallocation requests so far */
    atomic_long live;       /* blocks handed out and not yet freed */
    atomic_long bad_sizes;  /* frees / reallocs whose old_size disagrees with the block */
    atomic_bool hit;        /* the failure point was reached */
    long fail_at;           /* fail request number fail_at (1-based); 0: never */
    bool sticky;            /* keep failing every request after fail_at */
} counting;

static void *counting_alloc(void *ud, void *ptr, size_t old_size, size_t new_size) {
    counting *c = ud;
    char *base = ptr ? (char *)ptr - HDR : NULL;
    if (base && *(size_t *)base != old_size) atomic_fetch_add(&c->bad_sizes, 1);
    if (new_size == 0) {
        if (base) {
            atomic_fetch_sub(&c->live, 1);
            free(base);
        }
        return NULL;
    }
    long k = atomic_fetch_add(&c->calls, 1) + 1;
    if (c->fail_at > 0 && (k == c->fail_at || (c->sticky && k > c->fail_at))) {
        atomic_store(&c->hit, true);
        return NULL; /* the old block (if any) stays valid, as with realloc */
    }
    char *q = realloc(base, new_size + HDR);
    if (!q) return NULL;
    *(size_t *)q = new_size;
    if (!base) atomic_fetch_add(&c->live, 1);
    return q + HDR;
}

/* ---- the workload -------------------------------------------------------------------------------- */

#define MAX_VALUES 32
typedef struct outcome {
    bool ok;                  /* every step succeeded */
    int n;
    double v[MAX_VALUES];     /* the numbers the pass produced, compared with the reference run */
} outcome;

typedef void (*pass_fn)(outcome *o);

static FILE *g_devnull;

/* Append the values of t (converted to f64) to o; false when t is NULL or does not fit. */
static bool record(outcome *o, const nb_tensor *t) {
    if (!t) return false;
    int64_t n = nb_numel(t);
    if (o->n + n > MAX_VALUES) return false;
    if (nb_copy_to(t, o->v + o->n, sizeof(double) * (size_t)n, NB_F64) != 0) return false;
    o->n += (int)n;
    return true;
}

/* A small training step: matmul, relu, cross entropy, a softmax over a concatenation, backward,
 * the gradient, a batched (threaded) matmul with a transposed operand, and printing. */
static void pass_basic(outcome *o) {
    nb_tensor *w = nb_param(nb_randn(NB_SHAPE(3, 2), NB_F32)); /* no scope open: the caller owns w */
    if (nb_scope_begin() != 0) {
        nb_free(w);
        return;
    }
    bool ok = w != NULL;
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3), NB_F32);
    nb_tensor *h = nb_matmul(x, w);
    nb_tensor *s = nb_sum(nb_relu(h), NULL);
    const int64_t tg[4] = {0, 1, 1, 0};
    nb_tensor *t = nb_from_data(tg, NB_SHAPE(4), NB_I64);
    nb_tensor *ce = nb_cross_entropy(nb_mul_scalar(h, 0.5), t, NULL);
    /* softmax over a concatenation (non-contiguous dim: the softmax copies) */
    nb_tensor *cat = nb_cat((nb_tensor *[]){h, x}, 2, 1); /* [4, 5] */
    nb_tensor *sm = nb_softmax(nb_transpose(cat, 0, 1), 0);
    nb_tensor *cw = nb_arange(0, 5, 1, NB_F32);
    nb_tensor *sml = nb_mean(nb_mul(nb_transpose(sm, 0, 1), cw), NULL);
    nb_tensor *loss = nb_add(nb_add(s, ce), sml);
    ok = nb_backward(loss) == 0 && ok;
    nb_tensor *g = nb_grad(w);
    /* a batched matmul with a transposed operand: the GEMM packs (allocates). With threads, 8 products
     * of 40^3 are enough work to be spread over the pool, so the packing happens on worker threads. */
    int64_t z = nb_get_num_threads() > 1 ? 40 : 8;
    nb_tensor *a = nb_randn(NB_SHAPE(8, z, z), NB_F32);
    nb_tensor *bt = nb_transpose(nb_randn(NB_SHAPE(8, z, z), NB_F32), 1, 2);
    nb_tensor *big = nb_slice(nb_sum(nb_matmul(a, bt), NB_DIMS(0, 1)), 0, 0, 4, 1);
    /* printing: a small tensor, and one whose text exceeds the stack buffer (heap path) */
    ok = nb_fprint(g_devnull, g) == 0 && ok;
    ok = nb_fprint(g_devnull, nb_randn(NB_SHAPE(30, 30), NB_F32)) == 0 && ok;
    ok = nb_fprint(g_devnull, cat) == 0 && ok;
    ok = ok && record(o, loss) && record(o, g) && record(o, big);
    o->ok = ok;
    nb_scope_end();
    nb_free(w);
}

static int count_hook(nb_tensor *grad, nb_tensor **replacement, void *ud) {
    (void)grad, (void)replacement;
    ++*(int *)ud;
    return 0;
}

/* Replaces the gradient by a new tensor (which itself may fail to allocate). */
static int replace_hook(nb_tensor *grad, nb_tensor **replacement, void *ud) {
    ++*(int *)ud;
    *replacement = nb_mul_scalar(grad, 1.0);
    return *replacement ? 0 : (int)nb_last_status();
}

/* Many op families at once, a gradient hook, a double backward (create_graph) and an in-place
 * optimiser step. */
static void pass_wide(outcome *o) {
    nb_tensor *w = nb_param(nb_randn(NB_SHAPE(3, 2), NB_F32));
    if (nb_scope_begin() != 0) {
        nb_free(w);
        return;
    }
    int hook_calls = 0;
    bool ok = w != NULL && nb_register_hook(w, count_hook, &hook_calls) == 0;
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3), NB_F32);
    nb_tensor *h = nb_matmul(x, w); /* [4, 2] */
    int replace_calls = 0;
    ok = nb_register_hook(h, replace_hook, &replace_calls) == 0 && ok;
    nb_tensor *a1 = nb_tanh(h), *a2 = nb_sigmoid(h), *a3 = nb_exp(nb_neg(nb_abs(h)));
    nb_tensor *a4 = nb_sqrt(nb_add_scalar(nb_mul(h, h), 1));
    nb_tensor *a5 = nb_log(a4), *a6 = nb_pow_scalar(a4, 1.5), *a7 = nb_div(a1, a4);
    nb_tensor *a8 = nb_maximum(a2, a3), *a9 = nb_minimum(a2, a3);
    nb_tensor *a10 = nb_where(nb_gt_scalar(h, 0), a5, a6);
    nb_tensor *m1 = nb_max(a10, NB_DIMS(1));                                            /* [4] */
    nb_tensor *sl = nb_slice(nb_reshape(nb_transpose(a7, 0, 1), NB_SHAPE(8)), 0, 1, 7, 2); /* copy, then view */
    nb_tensor *e = nb_expand(nb_unsqueeze(m1, 0), NB_SHAPE(3, 4));
    nb_tensor *lsm = nb_log_softmax(nb_cat((nb_tensor *[]){a8, a9}, 2, 1), 1); /* [4, 4] */
    const int64_t tg[4] = {0, 3, 1, 2};
    nb_tensor *t = nb_from_data(tg, NB_SHAPE(4), NB_I64);
    nb_tensor *nll = nb_nll_loss(lsm, t, &(nb_cross_entropy_opts){.reduction = NB_REDUCTION_SUM});
    nb_tensor *dotp = nb_sum(nb_mul(lsm, nb_one_hot(t, 4, NB_F32)), NULL);
    nb_tensor *f64 = nb_to(nb_sum(nb_to(nb_squeeze(nb_unsqueeze(h, 1), 1), NB_F64), NB_DIMS_KEEP(0)), NB_F32);
    nb_tensor *terms[] = {nb_mean(e, NULL), nb_sum(sl, NULL), nll, dotp, nb_mean(f64, NULL),
                          nb_mean(nb_sub(a10, nb_rsub_scalar(nb_clone(a7), 2)), NULL)};
    nb_tensor *loss = terms[0];
    for (int i = 1; i < 6; i++) loss = nb_add(loss, terms[i]);
    /* first-order gradient with a graph, then the gradient of its squared norm */
    nb_tensor *g = NULL;
    ok = nb_autograd_grad((nb_tensor *[]){loss}, 1, (nb_tensor *[]){w}, 1,
                          &(nb_autograd_opts){.create_graph = true}, &g) == 0 && ok;
    nb_tensor *gg = nb_sum(nb_mul(g, g), NULL);
    ok = nb_backward(gg) == 0 && ok;
    nb_tensor *g2 = nb_grad(w);
    /* an optimiser step on w */
    nb_no_grad_begin();
    ok = g2 && nb_add_(w, g2, -0.1) == 0 && ok;
    ok = nb_mul_scalar_(w, 0.5) == 0 && ok;
    nb_no_grad_end();
    nb_tensor *wd = nb_contiguous(nb_detach(w));
    ok = nb_fprint(g_devnull, g) == 0 && ok;
    ok = ok && hook_calls == 2 && replace_calls >= 1 && record(o, loss) && record(o, g) && record(o, g2) && record(o, wd);
    if (ok && o->n < MAX_VALUES) o->v[o->n++] = replace_calls;
    o->ok = ok;
    nb_scope_end();
    nb_free(w);
}

static outcome run_pass(pass_fn fn) {
    outcome o = {.ok = false};
    nb_clear_error();
    nb_manual_seed(1234);
    fn(&o);
    return o;
}

typedef struct loop_stats {
    int points;    /* N values exercised */
    int failures;  /* runs that ended in NB_ERR_NOMEM */
    int recovered; /* runs where the allocator failed but the pass still succeeded */
} loop_stats;

/* Equal up to rounding: a pass that survived an allocation failure may have taken a slower path
 * (the GEMM computes without its packed copy when packing fails). */
static bool same_outcome(const outcome *a, const outcome *r) {
    if (a->n != r->n) return false;
    for (int i = 0; i < r->n; i++)
        if (!(fabs(a->v[i] - r->v[i]) <= 1e-4 * (1 + fabs(r->v[i])))) return false;
    return true;
}

static loop_stats fail_loop(pass_fn fn, bool sticky, const outcome *ref) {
    loop_stats st = {0};
    int64_t live0 = nb_live_tensors();
    for (long n = 1; n < 100000; n++) {
        counting c = {.fail_at = n, .sticky = sticky};
        if (nb_set_allocator(counting_alloc, &c) != 0) {
            CHECK_MSG(0, "nb_set_allocator refused at N = %ld: %s", n, nb_last_error());
            break;
        }
        outcome o = run_pass(fn);
        bool hit = atomic_load(&c.hit);
        nb_status status = nb_last_status();
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nb_last_error());
        /* everything is gone once the scope ended and the parameter was freed */
        int64_t live_t = nb_live_tensors() - live0;
        nb_empty_cache();
        long live_blocks = atomic_load(&c.live);
        size_t in_use = nb_memory_in_use();
        CHECK(nb_set_allocator(NULL, NULL) == 0);
        nb_clear_error();

        st.points++;
        CHECK_MSG(live_t == 0, "N = %ld (%s): %lld tensors leaked", n, sticky ? "sticky" : "once", (long long)live_t);
        CHECK_MSG(live_blocks == 0, "N = %ld (%s): %ld allocator blocks leaked", n, sticky ? "sticky" : "once",
                  live_blocks);
        CHECK_MSG(in_use == 0, "N = %ld (%s): nb_memory_in_use() = %zu after everything was freed", n,
                  sticky ? "sticky" : "once", in_use);
        CHECK_MSG(atomic_load(&c.bad_sizes) == 0, "N = %ld: %ld frees with a wrong old_size", n,
                  atomic_load(&c.bad_sizes));
        if (o.ok) {
            CHECK_MSG(same_outcome(&o, ref), "N = %ld (%s): pass succeeded with wrong numbers (first %.9g vs %.9g)", n,
                      sticky ? "sticky" : "once", o.v[0], ref->v[0]);
            if (hit) st.recovered++;
        } else {
            st.failures++;
            CHECK_MSG(hit, "N = %ld: the pass failed without an allocation failure: %s", n, msg);
            CHECK_MSG(status == NB_ERR_NOMEM && strstr(msg, "out of memory"),
                      "N = %ld (%s): expected a clean NB_ERR_NOMEM, got status %d \"%s\"", n, sticky ? "sticky" : "once",
                      (int)status, msg);
        }
        if (!hit) break; /* the whole pass ran before request N: every failure point was covered */
        if (harness_failures > 20) break; /* enough noise */
    }
    return st;
}

static void test_alloc_failures(void) {
    /* The pass must run outside every scope so that the scope's own arrays are allocated and freed by
     * the counting allocator: leave RUN's (still empty) scope and re-open it at the end. */
    CHECK(nb_scope_end() == 0);
    g_devnull = fopen("/dev/null", "w");
    CHECK(g_devnull != NULL);
    nb_set_cache_enabled(false); /* every storage request reaches the allocator */
    int threads0 = nb_get_num_threads();
    const int thread_counts[2] = {2, 1};
    int total = 0;
    const pass_fn passes[2] = {pass_basic, pass_wide};
    const char *names[2] = {"basic", "wide"};
    for (int pi = 0; pi < 2; pi++) {
        for (int ti = 0; ti < 2 && g_devnull; ti++) {
            CHECK(nb_set_num_threads(thread_counts[ti]) == 0);
            /* reference numbers, with a counting allocator that never fails */
            counting c = {0};
            CHECK(nb_set_allocator(counting_alloc, &c) == 0);
            outcome ref = run_pass(passes[pi]);
            CHECK_MSG(ref.ok, "reference pass %s failed: %s", names[pi], nb_last_error());
            nb_empty_cache();
            CHECK(atomic_load(&c.live) == 0);
            long requests = atomic_load(&c.calls);
            CHECK(nb_set_allocator(NULL, NULL) == 0);
            if (!ref.ok) break;
            for (int sticky = 0; sticky < 2; sticky++) {
                loop_stats st = fail_loop(passes[pi], sticky, &ref);
                fprintf(stderr,
                        "test_alloc_fail: pass %s, %d thread(s), %s failure: %d allocation failure points exercised "
                        "(%ld requests in a full pass; %d clean NB_ERR_NOMEM, %d recovered)\n",
                        names[pi], thread_counts[ti], sticky ? "sticky" : "one-shot", st.points, requests, st.failures,
                        st.recovered);
                CHECK(st.points >= requests); /* one run per request, plus the final clean one */
                total += st.points;
            }
        }
    }
    fprintf(stderr, "test_alloc_fail: %d runs in total\n", total);
    nb_set_num_threads(threads0);
    nb_set_cache_enabled(true);
    if (g_devnull) fclose(g_devnull);
    CHECK(nb_scope_begin() == 0);
}

/* Failing allocations in the simplest entry points. Runs outside every scope, like the loop. */
static void test_creation_oom(void) {
    CHECK(nb_scope_end() == 0); /* leave RUN's empty scope (see test_alloc_failures) */
    counting c = {.fail_at = 1, .sticky = true};
    nb_set_cache_enabled(false);
    CHECK(nb_set_allocator(counting_alloc, &c) == 0);
    CHECK_NULL_WITH(nb_zeros(NB_SHAPE(3), NB_F32), "nb_zeros", "out of memory");
    CHECK_NULL_WITH(nb_randn(NB_SHAPE(3), NB_F32), "nb_randn", "out of memory");
    float buf[3] = {1, 2, 3};
    CHECK_NULL_WITH(nb_from_data(buf, NB_SHAPE(3), NB_F32), "nb_from_data", "out of memory");
    CHECK_NULL_WITH(nb_from_buffer(buf, NB_SHAPE(3), NB_F32, NULL, NULL), "nb_from_buffer", "out of memory");
    CHECK_RC_WITH(nb_scope_begin(), "nb_scope_begin", "out of memory");
    CHECK(nb_live_tensors() == 0 && atomic_load(&c.live) == 0);
    /* fail each of the requests of creating a tensor and reducing it in turn */
    c.sticky = false;
    for (long k = 1; k <= 6; k++) {
        c.fail_at = k;
        atomic_store(&c.calls, 0);
        nb_tensor *t = nb_ones(NB_SHAPE(5), NB_F64);
        nb_tensor *s = nb_sum(t, NULL);
        if (s) {
            CHECK(nb_item(s) == 5);
        } else {
            CHECK(nb_last_status() == NB_ERR_NOMEM);
            CHECK_MSG(strstr(nb_last_error(), t ? "nb_sum: out of memory" : "nb_ones: out of memory"), "k = %ld: %s",
                      k, nb_last_error());
        }
        nb_free(s);
        nb_free(t);
        nb_clear_error();
        CHECK(nb_live_tensors() == 0 && atomic_load(&c.live) == 0);
    }
    CHECK(nb_set_allocator(NULL, NULL) == 0);
    nb_set_cache_enabled(true);
    CHECK(nb_scope_begin() == 0);
}

int main(void) {
    RUN(test_creation_oom);
    RUN(test_alloc_failures);
    return harness_finish();
}
