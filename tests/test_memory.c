/* tests/test_memory.c — ownership and memory: scopes (nesting, nb_keep, nb_free inside a scope,
 * nb_retain), nb_live_tensors, the caching allocator's accounting, nb_from_buffer's release callback,
 * views keeping storage alive, graphs keeping saved tensors alive, iterative destruction of long
 * chains, and nb_set_allocator's refusal while tensors live. */
#include "harness.h"

/* Some tests need to run with no scope open at all: RUN opened one (still empty when the test starts);
 * close it first and open it again before returning. */
static void leave_run_scope(void) { CHECK(nb_scope_end() == 0); }
static void reenter_run_scope(void) { CHECK(nb_scope_begin() == 0); }

static float f_at(const nb_tensor *t, int n, const int64_t *idx) { return (float)h_get(t, n, idx); }

/* ---- scopes ---------------------------------------------------------------------------------------- */

static void test_nested_scopes_and_keep(void) {
    int64_t base = nb_live_tensors();
    nb_scope_begin(); /* outer */
    nb_tensor *a = nb_ones(NB_SHAPE(2), NB_F32);
    nb_scope_begin(); /* inner */
    nb_tensor *b = nb_ones(NB_SHAPE(3), NB_F32);
    nb_tensor *c = nb_zeros(NB_SHAPE(3), NB_F32);
    CHECK(nb_live_tensors() == base + 3);
    CHECK(nb_keep(b) == b); /* returns t itself */
    nb_scope_end();         /* frees c only */
    CHECK(nb_live_tensors() == base + 2);
    CHECK(nb_numel(b) == 3 && h_get(b, NB_LIST(2)) == 1); /* b is still usable */
    CHECK(nb_numel(a) == 2);
    (void)c;
    nb_scope_end(); /* frees a and b */
    CHECK(nb_live_tensors() == base);

    /* keep through three levels, one level per call */
    nb_scope_begin();
    nb_scope_begin();
    nb_scope_begin();
    nb_tensor *d = nb_arange(0, 4, 1, NB_F32);
    nb_keep(nb_keep(d)); /* now in the outermost of the three */
    nb_scope_end();
    nb_scope_end();
    CHECK(nb_live_tensors() == base + 1 && h_get(d, NB_LIST(3)) == 3);
    nb_scope_end();
    CHECK(nb_live_tensors() == base);

    /* keeping a tensor of an outer scope from inside an inner scope moves it one level up from where it is */
    nb_scope_begin();
    nb_tensor *e = nb_ones(NB_SHAPE(1), NB_F32);
    nb_scope_begin();
    nb_tensor *f = nb_ones(NB_SHAPE(1), NB_F32);
    nb_keep(e); /* e goes to RUN's scope */
    nb_scope_end();
    (void)f;
    nb_scope_end();
    CHECK(nb_live_tensors() == base + 1 && nb_numel(e) == 1);
    nb_free(e); /* RUN's scope forgets it: no double free at RUN's end */
    CHECK(nb_live_tensors() == base);
}

static void test_keep_outermost_hands_ownership(void) {
    leave_run_scope();
    int64_t base = nb_live_tensors();
    /* created with no scope open: owned by the caller from the start */
    nb_tensor *free_standing = nb_ones(NB_SHAPE(2), NB_F32);
    CHECK(nb_live_tensors() == base + 1);
    CHECK(nb_scope_begin() == 0);
    nb_tensor *t = nb_full(NB_SHAPE(2, 2), 7, NB_F32);
    nb_tensor *u = nb_full(NB_SHAPE(2, 2), 8, NB_F32);
    CHECK(nb_keep(t) == t); /* out of the outermost scope: the caller owns it now */
    (void)u;
    CHECK(nb_scope_end() == 0);
    CHECK(nb_live_tensors() == base + 2);
    CHECK(h_get(t, NB_LIST(1, 1)) == 7);
    CHECK(nb_keep(t) == t); /* keeping an untracked tensor changes nothing */
    nb_free(t);
    nb_free(free_standing);
    CHECK(nb_live_tensors() == base);
    reenter_run_scope();
}

static void test_free_inside_scope(void) {
    int64_t base = nb_live_tensors();
    nb_scope_begin();
    nb_tensor *a = nb_ones(NB_SHAPE(4), NB_F32);
    nb_tensor *b = nb_add(a, a);
    nb_free(a); /* the scope forgets a: its end must not free it again */
    CHECK(nb_live_tensors() == base + 1);
    nb_free(b);
    CHECK(nb_live_tensors() == base);
    nb_tensor *c = nb_ones(NB_SHAPE(4), NB_F32);
    (void)c;
    nb_scope_end();
    CHECK(nb_live_tensors() == base);
    /* a tensor from an outer scope freed inside an inner one */
    nb_tensor *outer = nb_ones(NB_SHAPE(2), NB_F32);
    nb_scope_begin();
    nb_free(outer);
    CHECK(nb_live_tensors() == base);
    nb_scope_end();
    CHECK(nb_live_tensors() == base);
}

static void test_retain(void) {
    int64_t base = nb_live_tensors();
    nb_scope_begin();
    nb_tensor *t = nb_arange(0, 3, 1, NB_F32);
    nb_tensor *r = nb_retain(t);
    CHECK(r == t);                     /* the same object */
    CHECK(nb_live_tensors() == base + 1); /* one object, two references */
    nb_free(t);                        /* drop one reference */
    CHECK(nb_live_tensors() == base + 1);
    CHECK(h_get(r, NB_LIST(2)) == 2);
    nb_free(r);
    CHECK(nb_live_tensors() == base);
    /* both references registered in the scope: its end drops both */
    nb_tensor *u = nb_ones(NB_SHAPE(1), NB_F32);
    nb_retain(u);
    nb_retain(u);
    nb_scope_end();
    CHECK(nb_live_tensors() == base);

    /* a retain inside an inner scope dies with that scope; the object lives on */
    nb_tensor *v = nb_ones(NB_SHAPE(1), NB_F32);
    nb_scope_begin();
    nb_tensor *rv = nb_retain(v);
    CHECK(rv == v);
    nb_scope_end();
    CHECK(nb_live_tensors() == base + 1 && nb_numel(v) == 1);
    /* retain + keep: one reference moves out, the other dies with the scope */
    nb_scope_begin();
    nb_tensor *w = nb_ones(NB_SHAPE(1), NB_F32);
    nb_retain(w);
    nb_keep(w);
    nb_scope_end();
    CHECK(nb_live_tensors() == base + 2 && h_get(w, NB_LIST(0)) == 1);
}

static void test_live_tensors_counts_objects(void) {
    int64_t base = nb_live_tensors();
    nb_tensor *x = nb_zeros(NB_SHAPE(2, 3), NB_F32);
    nb_tensor *v1 = nb_transpose(x, 0, 1), *v2 = nb_reshape(x, NB_SHAPE(6)), *v3 = nb_slice(x, 1, 0, 2, 1);
    CHECK(nb_live_tensors() == base + 4); /* views are tensor objects too */
    nb_free(v1);
    nb_free(v2);
    nb_free(v3);
    nb_free(x);
    CHECK(nb_live_tensors() == base);
    /* autograd: the saved output alias of exp is an internal tensor that goes with the graph */
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(2), NB_F32));
    nb_tensor *y = nb_sum(nb_exp(w), NULL);
    CHECK(nb_backward(y) == 0);
    nb_tensor *g = nb_grad(w);
    CHECK(g && fabs(h_get(g, NB_LIST(0)) - exp(1.0)) < 1e-5);
}

/* ---- caching allocator --------------------------------------------------------------------------- */

static void test_cache_accounting(void) {
    nb_set_cache_enabled(true);
    nb_empty_cache();
    CHECK(nb_memory_cached() == 0);
    size_t used0 = nb_memory_in_use();
    nb_tensor *t = nb_empty(NB_SHAPE(1000), NB_F32); /* 4000 bytes */
    size_t used1 = nb_memory_in_use();
    CHECK_MSG(used1 - used0 >= 4000 && used1 - used0 <= 5000 + 64, "in use grew by %zu", used1 - used0);
    size_t cap = used1 - used0;
    void *data = nb_data(t);
    CHECK(((uintptr_t)data & 63) == 0); /* 64-byte aligned */
    nb_free(t);
    CHECK(nb_memory_in_use() == used0);
    CHECK(nb_memory_cached() == cap);
    /* the same size class comes back from the cache */
    nb_tensor *t2 = nb_empty(NB_SHAPE(990), NB_F32);
    CHECK(nb_memory_cached() == 0);
    CHECK(nb_memory_in_use() == used1);
    CHECK(nb_data(t2) == data);
    nb_tensor *t3 = nb_empty(NB_SHAPE(1000), NB_F32); /* the cache is empty: a fresh block */
    CHECK(nb_data(t3) != data);
    CHECK(nb_memory_in_use() == used0 + 2 * cap);
    nb_free(t2);
    nb_free(t3);
    CHECK(nb_memory_cached() == 2 * cap);
    CHECK(nb_memory_in_use() == used0);
    nb_empty_cache();
    CHECK(nb_memory_cached() == 0);
    CHECK(nb_memory_in_use() == used0);

    /* disabled: blocks go straight back */
    nb_set_cache_enabled(false);
    nb_tensor *u = nb_ones(NB_SHAPE(256), NB_F64);
    CHECK(nb_memory_in_use() >= used0 + 2048);
    nb_free(u);
    CHECK(nb_memory_cached() == 0);
    CHECK(nb_memory_in_use() == used0);
    nb_set_cache_enabled(true);
    /* disabling empties what was cached */
    nb_free(nb_ones(NB_SHAPE(256), NB_F64));
    CHECK(nb_memory_cached() > 0);
    nb_set_cache_enabled(false);
    CHECK(nb_memory_cached() == 0);
    nb_set_cache_enabled(true);

    /* views share storage: no new bytes */
    nb_tensor *x = nb_zeros(NB_SHAPE(64, 64), NB_F32);
    size_t with_x = nb_memory_in_use();
    nb_tensor *xt = nb_transpose(x, 0, 1);
    nb_tensor *xs = nb_slice(x, 0, 0, 32, 2);
    CHECK(nb_memory_in_use() == with_x);
    nb_free(xt);
    nb_free(xs);
    nb_free(x);
    CHECK(nb_memory_in_use() == used0);
    /* 0-d and empty tensors still work */
    nb_tensor *e = nb_zeros(NB_SHAPE(0, 5), NB_F32);
    CHECK(e && nb_numel(e) == 0 && nb_data(e) == NULL);
    nb_free(e);
    CHECK(nb_memory_in_use() == used0);
    nb_empty_cache();
}

/* ---- user buffers ---------------------------------------------------------------------------------- */

typedef struct release_log {
    int calls;
    void *data;
} release_log;

static void on_release(void *data, void *ud) {
    release_log *l = ud;
    l->calls++;
    l->data = data;
}

static void test_from_buffer_release(void) {
    float buf[6] = {0, 1, 2, 3, 4, 5};
    release_log log = {0};
    size_t used0 = nb_memory_in_use();
    nb_tensor *t = nb_from_buffer(buf, NB_SHAPE(6), NB_F32, on_release, &log);
    CHECK(t != NULL && nb_data(t) == buf);
    CHECK(nb_memory_in_use() == used0); /* the user's memory is not the cache's */
    nb_tensor *v = nb_reshape(t, NB_SHAPE(2, 3));
    nb_tensor *vt = nb_transpose(v, 0, 1);
    nb_tensor *s = nb_slice(vt, 0, 1, 3, 1); /* [[1, 4], [2, 5]] */
    nb_free(vt);
    CHECK(nb_data(v) == buf);
    nb_free(t);
    CHECK(log.calls == 0);
    buf[4] = 40; /* writes through the user buffer are visible: no copy was made */
    CHECK(h_get(s, NB_LIST(0, 1)) == 40);
    nb_free(v);
    CHECK(log.calls == 0);
    CHECK(h_get(s, NB_LIST(1, 0)) == 2);
    /* nb_set through a view writes the user's memory */
    CHECK(nb_set(s, NB_LIST(1, 1), 50) == 0 && buf[5] == 50);
    nb_free(s); /* the last view: release runs, once */
    CHECK(log.calls == 1 && log.data == buf);

    /* released by the scope when the scope owns the last view */
    release_log log2 = {0};
    nb_scope_begin();
    nb_tensor *a = nb_from_buffer(buf, NB_SHAPE(2, 3), NB_F32, on_release, &log2);
    nb_tensor *d = nb_detach(a);
    nb_tensor *sum = nb_sum(d, NULL); /* a new tensor: not a view */
    nb_keep(sum);
    nb_scope_end();
    CHECK(log2.calls == 1);
    nb_free(sum);
    CHECK(log2.calls == 1);

    /* kept alive by an autograd graph that saved it */
    release_log log3 = {0};
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(6), NB_F32));
    nb_tensor *ub = nb_from_buffer(buf, NB_SHAPE(6), NB_F32, on_release, &log3);
    nb_tensor *y = nb_sum(nb_mul(w, ub), NULL); /* MulBackward saves ub */
    nb_free(ub);
    CHECK(log3.calls == 0);
    CHECK(nb_backward(y) == 0); /* the saved tensors are released after backward */
    CHECK(log3.calls == 1);
    nb_tensor *g = nb_grad(w);
    CHECK(g && h_get(g, NB_LIST(5)) == 50);

    /* on failure the callback is NOT called */
    release_log log4 = {0};
    CHECK(nb_from_buffer(buf, NB_SHAPE(6), (nb_dtype)77, on_release, &log4) == NULL);
    CHECK(nb_from_buffer(buf, NB_SHAPE(-1), NB_F32, on_release, &log4) == NULL);
    nb_clear_error();
    CHECK(log4.calls == 0);

    /* a NULL release callback is allowed; an empty tensor may have NULL data */
    nb_tensor *n1 = nb_from_buffer(buf, NB_SHAPE(3), NB_F32, NULL, NULL);
    nb_tensor *n2 = nb_from_buffer(NULL, NB_SHAPE(0), NB_F32, on_release, &log4);
    CHECK(n1 && n2 && nb_numel(n2) == 0);
    nb_free(n1);
    nb_free(n2);
    CHECK(log4.calls == 1);
}

static void test_views_keep_storage_alive(void) {
    size_t used0 = nb_memory_in_use();
    nb_tensor *base = nb_arange(0, 12, 1, NB_F32);
    size_t with_base = nb_memory_in_use();
    nb_tensor *r = nb_reshape(base, NB_SHAPE(3, 4));
    nb_tensor *v = nb_transpose(r, 0, 1); /* [4, 3] */
    nb_tensor *sl = nb_slice(base, 0, 5, 6, 1);
    nb_tensor *e = nb_expand(sl, NB_SHAPE(2, 3, 1));
    nb_free(r);
    nb_free(sl);
    nb_free(base);
    CHECK(nb_memory_in_use() == with_base); /* storage still held by the views */
    CHECK(f_at(v, NB_LIST(3, 2)) == 11);
    CHECK(f_at(v, NB_LIST(1, 0)) == 1);
    CHECK(f_at(e, NB_LIST(1, 2, 0)) == 5);
    nb_tensor *c = nb_contiguous(v);
    CHECK(c && nb_is_contiguous(c) && f_at(c, NB_LIST(2, 1)) == 6);
    nb_free(v);
    CHECK(nb_memory_in_use() > with_base); /* c is a copy */
    nb_free(c);
    CHECK(nb_memory_in_use() == with_base); /* e still holds the storage */
    nb_free(e);
    CHECK(nb_memory_in_use() == used0);
    /* the detached view of a parameter shares its storage */
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(3), NB_F32));
    nb_tensor *d = nb_detach(w);
    nb_free(w);
    CHECK(!nb_requires_grad(d) && h_get(d, NB_LIST(2)) == 1);
    nb_free(d);
    CHECK(nb_memory_in_use() == used0);
}

/* ---- graphs --------------------------------------------------------------------------------------- */

static void test_graph_lifetime(void) {
    int64_t base = nb_live_tensors();
    nb_scope_begin();
    nb_tensor *w = nb_param(nb_full(NB_SHAPE(2), 3, NB_F32));
    nb_tensor *x = nb_full(NB_SHAPE(2), 2, NB_F32);
    nb_tensor *y = nb_sum(nb_mul(nb_mul(w, x), x), NULL);
    nb_keep(y);
    nb_keep(w);
    nb_scope_end(); /* x is freed by the scope but saved by the graph */
    CHECK(nb_backward(y) == 0);
    nb_tensor *g = nb_grad(w);
    CHECK(g && h_get(g, NB_LIST(0)) == 4);
    nb_free(g);
    nb_free(y); /* the graph goes with its output */
    CHECK(nb_live_tensors() == base + 2); /* w and its .grad */
    nb_zero_grad(w);
    CHECK(nb_live_tensors() == base + 1);
    nb_free(w);
    CHECK(nb_live_tensors() == base);
}

/* Freeing the output of a very long chain releases the nodes iteratively, and backward walks it
 * iteratively too: neither may recurse (the stack would overflow). */
static void test_long_chain(void) {
    const int n = 100000;
    int64_t base = nb_live_tensors();
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(1), NB_F32));
    nb_tensor *y = nb_retain(w);
    for (int i = 0; i < n && y; i++) {
        nb_tensor *next = nb_neg(y); /* saves nothing: only the nodes stay alive */
        nb_free(y);
        y = next;
    }
    CHECK(y != NULL);
    CHECK(nb_live_tensors() <= base + 3);
    nb_tensor *s = nb_sum(y, NULL);
    CHECK(nb_backward_ex(s, &(nb_backward_opts){.retain_graph = true}) == 0);
    nb_tensor *g = nb_grad(w);
    CHECK(g && h_get(g, NB_LIST(0)) == 1);
    nb_free(g);
    nb_free(s);
    nb_free(y); /* releases 100000 nodes */
    nb_free(w);
    CHECK(nb_live_tensors() == base);
}

/* ---- allocator swap -------------------------------------------------------------------------------- */

typedef struct simple_alloc {
    long allocs, frees;
} simple_alloc;

static void *simple_fn(void *ud, void *p, size_t old, size_t n) {
    simple_alloc *s = ud;
    (void)old;
    if (n == 0) {
        if (p) s->frees++;
        free(p);
        return NULL;
    }
    if (!p) s->allocs++;
    return realloc(p, n);
}

static void test_set_allocator(void) {
    nb_tensor *t = nb_ones(NB_SHAPE(2), NB_F32);
    CHECK_RC_WITH(nb_set_allocator(simple_fn, NULL), "nb_set_allocator", "1 tensors are still alive");
    nb_tensor *v = nb_reshape(t, NB_SHAPE(1, 2));
    CHECK(nb_set_allocator(NULL, NULL) == NB_ERR_STATE);
    nb_clear_error();
    nb_free(t);
    CHECK(nb_set_allocator(simple_fn, NULL) == NB_ERR_STATE); /* the view still lives */
    nb_clear_error();
    nb_free(v);

    /* with nothing alive it is accepted and used; leave RUN's scope so its arrays are not shared */
    leave_run_scope();
    simple_alloc s = {0};
    nb_free(nb_ones(NB_SHAPE(4), NB_F32)); /* leave something in the cache: the swap must return it */
    CHECK(nb_memory_cached() > 0);
    CHECK(nb_set_allocator(simple_fn, &s) == 0);
    CHECK(nb_memory_cached() == 0);
    nb_tensor *u = nb_ones(NB_SHAPE(8), NB_F32);
    CHECK(s.allocs >= 3); /* tensor, storage, block */
    CHECK_RC_WITH(nb_set_allocator(NULL, NULL), "nb_set_allocator");
    nb_free(u);
    nb_empty_cache();
    CHECK(s.allocs == s.frees);
    CHECK(nb_set_allocator(NULL, NULL) == 0);
    reenter_run_scope();
}

int main(void) {
    RUN(test_nested_scopes_and_keep);
    RUN(test_keep_outermost_hands_ownership);
    RUN(test_free_inside_scope);
    RUN(test_retain);
    RUN(test_live_tensors_counts_objects);
    RUN(test_cache_accounting);
    RUN(test_from_buffer_release);
    RUN(test_views_keep_storage_alive);
    RUN(test_graph_lifetime);
    RUN(test_long_chain);
    RUN(test_set_allocator);
    return harness_finish();
}
