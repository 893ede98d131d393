/* autograd/engine.c — the backward pass. It collects the nodes reachable from the roots with an
 * explicit stack, counts dependencies, and runs nodes whose gradients are complete (Kahn's order),
 * so no recursion is involved however long the graph is. Each node's backward formula runs inside a
 * scope; the engine keeps the input gradients it passes on and everything else is freed right away.
 *
 * Two modes share the walk: accumulate into leaves' .grad (nb_backward) or capture the gradients of
 * chosen tensors (nb_autograd_grad). With create_graph the walk runs in grad mode, so the gradients
 * it builds are recorded and can be differentiated again.
 */
#include "../ops/op.h"

#include <string.h>

typedef struct capture {
    nb_tensor *target; /* the tensor whose gradient is wanted */
    nb_tensor *grad;   /* accumulated result (owned) */
} capture;

typedef struct engine {
    const char *fn;
    bool create_graph, retain_graph;
    capture *caps; /* NULL: accumulate into leaves */
    int n_caps;
    /* graph */
    nbc_node **nodes;
    int64_t n_nodes, cap_nodes;
    nb_tensor **grads; /* per node output, at node->slot + j (owned) */
    int64_t n_grads;
    /* gradients that reached leaves, summed over the pass and delivered once at its end, so a leaf
     * used twice sees its hooks run once on the total (as PyTorch's AccumulateGrad) */
    struct leaf_sum {
        nb_tensor *leaf, *grad; /* owned references */
    } *leaves;
    int n_leaves, cap_leaves;
} engine;

static atomic_uint_fast64_t g_stamp_source;

static int push_node(engine *e, nbc_node *n) {
    if (e->n_nodes == e->cap_nodes) {
        int64_t nc = e->cap_nodes ? e->cap_nodes * 2 : 64;
        nbc_node **p = nbc_raw_realloc(e->nodes, (size_t)e->cap_nodes * sizeof *p, (size_t)nc * sizeof *p);
        if (!p) return nbc_oom(e->fn);
        e->nodes = p;
        e->cap_nodes = nc;
    }
    e->nodes[e->n_nodes++] = n;
    return 0;
}

/* Visit every node reachable from the roots once; count incoming edges into deps. Node slots index
 * the grads array. A node's `deps` and `slot` are scratch; the stamp says "seen in this pass". */
static int collect(engine *e, nb_tensor *const *roots, int n_roots, uint64_t stamp) {
    int64_t stack_cap = 64, sp = 0;
    nbc_node **stack = nbc_raw_alloc((size_t)stack_cap * sizeof *stack);
    if (!stack) return nbc_oom(e->fn);
    int64_t slot = 0;
#define VISIT(nd)                                                                                  \
    do {                                                                                           \
        nbc_node *v_ = (nd);                                                                       \
        if (v_->stamp != stamp) {                                                                  \
            v_->stamp = stamp;                                                                     \
            v_->deps = 0;                                                                          \
            v_->queued = false;                                                                    \
            v_->slot = slot;                                                                       \
            slot += v_->n_out;                                                                     \
            if (push_node(e, v_)) goto fail;                                                       \
            if (sp == stack_cap) {                                                                 \
                nbc_node **ns = nbc_raw_realloc(stack, (size_t)stack_cap * sizeof *ns, (size_t)stack_cap * 2 * sizeof *ns); \
                if (!ns) {                                                                         \
                    nbc_oom(e->fn);                                                                \
                    goto fail;                                                                     \
                }                                                                                  \
                stack = ns;                                                                        \
                stack_cap *= 2;                                                                    \
            }                                                                                      \
            stack[sp++] = v_;                                                                      \
        }                                                                                          \
    } while (0)
    for (int r = 0; r < n_roots; r++)
        if (roots[r]->grad_fn) VISIT(roots[r]->grad_fn);
    while (sp > 0) {
        nbc_node *n = stack[--sp];
        for (int i = 0; i < n->n_in; i++) {
            nbc_node *next = n->edges[i].node;
            if (!next) continue;
            VISIT(next);
            next->deps++;
        }
    }
#undef VISIT
    nbc_raw_free(stack, (size_t)stack_cap * sizeof *stack);
    e->grads = nbc_calloc(e->fn, (size_t)(slot ? slot : 1) * sizeof(nb_tensor *));
    e->n_grads = slot;
    return e->grads ? 0 : NB_ERR_NOMEM;
fail:
    nbc_raw_free(stack, (size_t)stack_cap * sizeof *stack);
    return nb_last_status() ? nb_last_status() : NB_ERR_NOMEM;
}

/* Turn a new (scope-tracked) reference into an engine-owned one that no scope will free: incref, then let the scope's own reference go. */
static nb_tensor *own(nb_tensor *t) {
    if (!t) return NULL;
    nbc_incref(t);
    nb_free(t);
    return t;
}

/* The gradient of an output nothing used: zeros. An integer output (max pooling's or sort's indices)
 * never has a real gradient and backward functions ignore it, so it gets a stride-0 view of one zero
 * instead of a zero-filled tensor of its full size (max_pool2d's indices: megabytes per step). */
static nb_tensor *missing_grad(const nbc_meta *m) {
    if (nb_dtype_is_float(m->dtype) || m->ndim == 0) return nb_zeros(m->ndim, m->shape, m->dtype);
    nb_tensor *z = nb_zeros(0, NULL, m->dtype);
    nb_tensor *v = z ? nb_expand(z, m->ndim, m->shape) : NULL;
    nb_free(z);
    return v;
}

/* *acc += g, taking ownership of g. Out of place so that a recorded graph stays valid. */
static int accumulate(nb_tensor **acc, nb_tensor *g) {
    if (!*acc) {
        *acc = g;
        return 0;
    }
    nb_tensor *s = own(nb_add(*acc, g));
    nbc_decref(g);
    if (!s) return nb_last_status();
    nbc_decref(*acc);
    *acc = s;
    return 0;
}

static int run_hooks(nbc_hook *h, nb_tensor **g) {
    for (; h; h = h->next) {
        nb_tensor *rep = NULL;
        int rc = h->fn(*g, &rep, h->user_data);
        if (rc) {
            nb_free(rep); /* the hook's new reference may be registered in the caller's scope */
            return rc < 0 ? rc : nbc_error(NB_ERR_STATE, "nb_backward: a gradient hook returned %d", rc);
        }
        if (rep) {
            nbc_decref(*g);
            *g = own(rep); /* ownership passed to us: take it out of any scope so it is not freed twice */
        }
    }
    return 0;
}

static capture *find_capture(engine *e, const nb_tensor *t, const nbc_node *n, int index) {
    for (int k = 0; k < e->n_caps; k++) {
        nb_tensor *c = e->caps[k].target;
        if (t ? c == t : (c->grad_fn == n && c->out_index == index && !c->grad_fn_weak)) return &e->caps[k];
    }
    return NULL;
}

/* The summed gradient of a leaf, at the end of the pass: hooks, then capture it or accumulate it
 * into .grad. Takes ownership of g. */
static int finish_leaf(engine *e, nb_tensor *leaf, nb_tensor *g) {
    int rc = run_hooks(leaf->hooks, &g);
    if (rc) {
        nbc_decref(g);
        return rc;
    }
    if (e->caps) {
        capture *c = find_capture(e, leaf, NULL, 0);
        if (!c) {
            nbc_decref(g);
            return 0;
        }
        return accumulate(&c->grad, g);
    }
    if (!leaf->grad) {
        /* Steal g when nothing else can see its memory; otherwise store a private contiguous copy. */
        bool exclusive = atomic_load(&g->refcount) == 1 && atomic_load(&g->storage->refcount) == 1 &&
                         nbc_is_contiguous(g) && g->offset == 0 && !g->grad_fn;
        if (exclusive || e->create_graph) {
            leaf->grad = g;
            return 0;
        }
        nb_tensor *c = nb_clone(g);
        nbc_decref(g);
        if (!c) return nb_last_status();
        leaf->grad = own(c);
        return 0;
    }
    if (e->create_graph) return accumulate(&leaf->grad, g);
    /* The usual case: add into the existing buffer (a version bump, no new allocation). */
    nb_no_grad_begin();
    bool was = leaf->grad->requires_grad;
    leaf->grad->requires_grad = false;
    rc = nb_add_(leaf->grad, g, 1.0);
    leaf->grad->requires_grad = was;
    nb_no_grad_end();
    nbc_decref(g);
    return rc;
}

/* A gradient reached a leaf: add it to the leaf's pending sum. Takes ownership of g. */
static int deliver_to_leaf(engine *e, nb_tensor *leaf, nb_tensor *g) {
    for (int k = 0; k < e->n_leaves; k++)
        if (e->leaves[k].leaf == leaf) return accumulate(&e->leaves[k].grad, g);
    if (e->n_leaves == e->cap_leaves) {
        int nc = e->cap_leaves ? e->cap_leaves * 2 : 16;
        struct leaf_sum *l = nbc_raw_realloc(e->leaves, (size_t)e->cap_leaves * sizeof *l, (size_t)nc * sizeof *l);
        if (!l) {
            nbc_decref(g);
            return nbc_oom(e->fn);
        }
        e->leaves = l;
        e->cap_leaves = nc;
    }
    nbc_incref(leaf);
    e->leaves[e->n_leaves].leaf = leaf;
    e->leaves[e->n_leaves++].grad = g;
    return 0;
}

/* Deliver (rc == 0) or drop the pending leaf gradients, and free the list. */
static int flush_leaves(engine *e, int rc) {
    for (int k = 0; k < e->n_leaves; k++) {
        nb_tensor *g = e->leaves[k].grad;
        if (!rc) rc = finish_leaf(e, e->leaves[k].leaf, g);
        else nbc_decref(g);
        nbc_decref(e->leaves[k].leaf);
    }
    nbc_raw_free(e->leaves, (size_t)e->cap_leaves * sizeof *e->leaves);
    e->leaves = NULL;
    e->n_leaves = e->cap_leaves = 0;
    return rc;
}

static int check_saved(engine *e, nbc_node *n) {
    if (n->released)
        return nbc_error(NB_ERR_STATE, "%s: trying to run backward through %s a second time; its saved tensors were "
                         "freed. Pass retain_graph = true the first time if you need to", e->fn, n->name);
    for (int i = 0; i < n->n_in + n->n_out; i++) {
        nb_tensor *t = i < n->n_in ? n->saved_in[i] : n->saved_out[i - n->n_in];
        if (!t) continue;
        uint64_t now = atomic_load(&t->storage->version);
        if (now != n->saved_ver[i])
            return nbc_error(NB_ERR_STATE, "%s: a tensor saved by %s (%s, %s #%d) was modified in place after it "
                             "was saved (version %llu, expected %llu)", e->fn, n->name, nbc_desc(t),
                             i < n->n_in ? "input" : "output", (i < n->n_in ? i : i - n->n_in) + 1,
                             (unsigned long long)now, (unsigned long long)n->saved_ver[i]);
    }
    return 0;
}

/* Run one node: gather its output gradients, call its backward, route the input gradients. */
static int run_node(engine *e, nbc_node *n, nbc_node **ready, int64_t *n_ready) {
    const nbo_desc *d = nbo_get(n->op);
    int rc = check_saved(e, n);
    if (rc) return rc;
    nb_tensor **gout = &e->grads[n->slot];
    for (int j = 0; j < n->n_out; j++) {
        if (!gout[j]) {
            gout[j] = own(missing_grad(&n->out_meta[j]));
            if (!gout[j]) return nb_last_status();
        }
        if ((rc = run_hooks(n->out_hooks[j], &gout[j])) != 0) return rc;
        capture *c = e->caps ? find_capture(e, NULL, n, j) : NULL;
        if (c) {
            nbc_incref(gout[j]);
            if ((rc = accumulate(&c->grad, gout[j])) != 0) return rc;
        }
    }
    bool needs[64];
    bool any = false;
    nb_tensor *gin_small[64], **gin = gin_small;
    bool *need = needs;
    if (n->n_in > 64) {
        gin = nbc_calloc(e->fn, (size_t)n->n_in * (sizeof *gin + sizeof *need));
        if (!gin) return NB_ERR_NOMEM;
        need = (bool *)(gin + n->n_in);
    }
    for (int i = 0; i < n->n_in; i++) {
        need[i] = n->edges[i].node || n->edges[i].leaf;
        any |= need[i];
        gin[i] = NULL;
    }
    if (any) {
        nbo_ctx ctx = {.attrs = &n->attrs, .n_in = n->n_in, .n_out = n->n_out, .in = n->saved_in,
                       .out = n->saved_out, .in_meta = n->in_meta, .needs_grad = need};
        if ((rc = nb_scope_begin()) != 0) goto out;
        rc = d->backward(&ctx, gout, gin);
        for (int i = 0; i < n->n_in; i++) {
            if (rc || !need[i]) gin[i] = NULL;
            else nbc_incref(gin[i]); /* survive the scope */
        }
        nb_scope_end();
        if (rc) goto out;
    }
    /* Our output gradients are consumed. */
    for (int j = 0; j < n->n_out; j++) {
        nbc_decref(gout[j]);
        gout[j] = NULL;
    }
    for (int i = 0; i < n->n_in; i++) {
        nb_tensor *g = gin[i];
        gin[i] = NULL;
        if (!need[i]) continue;
        nbc_edge *ed = &n->edges[i];
        if (!g) {
            rc = nbc_error(NB_ERR_STATE, "%s: internal error: %s produced no gradient for input #%d", e->fn, n->name, i + 1);
            goto out;
        }
        const nbc_meta *m = &n->in_meta[i];
        if (g->ndim != m->ndim || memcmp(g->shape, m->shape, sizeof(int64_t) * (size_t)m->ndim) != 0) {
            rc = nbc_error(NB_ERR_STATE, "%s: internal error: %s gave a gradient of shape %s for input #%d of shape %s",
                           e->fn, n->name, nbc_shape_str(g->ndim, g->shape), i + 1, nbc_shape_str(m->ndim, m->shape));
            nbc_decref(g);
            goto out;
        }
        if (g->dtype != m->dtype) { /* mixed-dtype ops: the gradient takes the input's dtype */
            nb_tensor *c = own(nb_to(g, m->dtype));
            nbc_decref(g);
            if (!c) {
                rc = nb_last_status();
                goto out;
            }
            g = c;
        }
        if (ed->leaf) {
            rc = deliver_to_leaf(e, ed->leaf, g);
        } else {
            rc = accumulate(&e->grads[ed->node->slot + ed->index], g);
            if (!rc && --ed->node->deps == 0) ready[(*n_ready)++] = ed->node;
        }
        if (rc) goto out;
    }
out:
    for (int i = 0; i < n->n_in; i++) nbc_decref(gin[i]);
    if (gin != gin_small) nbc_raw_free(gin, (size_t)n->n_in * (sizeof *gin + sizeof *need));
    return rc;
}

/* The shared walk. roots/seeds: tensors and their gradients (seeds owned by the caller). */
static int run_backward(engine *e, nb_tensor *const *roots, nb_tensor *const *seeds, int n_roots) {
    uint64_t stamp = atomic_fetch_add(&g_stamp_source, 1) + 1;
    int rc = collect(e, roots, n_roots, stamp);
    nbc_node **ready = NULL;
    int64_t n_ready = 0;
    if (rc) goto done;
    ready = nbc_raw_alloc((size_t)(e->n_nodes ? e->n_nodes : 1) * sizeof *ready);
    if (!ready) {
        rc = nbc_oom(e->fn);
        goto done;
    }
    if (!e->create_graph) nb_no_grad_begin();
    for (int r = 0; r < n_roots && !rc; r++) {
        nb_tensor *root = roots[r], *s = seeds[r];
        nbc_incref(s);
        if (root->grad_fn) rc = accumulate(&e->grads[root->grad_fn->slot + root->out_index], s);
        else rc = deliver_to_leaf(e, root, s);
    }
    for (int r = 0; r < n_roots && !rc; r++) {
        nbc_node *n = roots[r]->grad_fn;
        if (n && n->deps == 0 && !n->queued) {
            n->queued = true;
            ready[n_ready++] = n;
        }
    }
    while (!rc && n_ready > 0) {
        nbc_node *n = ready[--n_ready];
        rc = run_node(e, n, ready, &n_ready);
        if (!rc && !e->retain_graph) nbc_node_release_saved(n);
    }
    rc = flush_leaves(e, rc);
    if (!e->create_graph) nb_no_grad_end();
done:
    /* Drop whatever gradients are still held (all of them, on failure). */
    if (e->grads) {
        for (int64_t i = 0; i < e->n_grads; i++) nbc_decref(e->grads[i]);
        nbc_raw_free(e->grads, (size_t)(e->n_grads ? e->n_grads : 1) * sizeof(nb_tensor *));
    }
    nbc_raw_free(e->nodes, (size_t)e->cap_nodes * sizeof(nbc_node *));
    nbc_raw_free(ready, (size_t)(e->n_nodes ? e->n_nodes : 1) * sizeof *ready);
    return rc;
}

static int check_root(const char *fn, const nb_tensor *root, int k) {
    if (!root) return nbc_null_arg(fn, k + 1);
    if (!root->requires_grad)
        return nbc_error(NB_ERR_STATE, "%s: output #%d (%s) does not require grad and has no grad_fn; did you mark an "
                         "input with nb_param and keep grad mode on?", fn, k + 1, nbc_desc(root));
    return 0;
}

/* The seed gradient for a root: the given tensor or ones (one-element roots only). New reference. */
static nb_tensor *seed_for(const char *fn, nb_tensor *root, nb_tensor *given) {
    if (given) {
        if (given->ndim != root->ndim || memcmp(given->shape, root->shape, sizeof(int64_t) * (size_t)root->ndim) != 0) {
            nbc_error(NB_ERR_ARG, "%s: grad_output has %s; expected the output's shape %s", fn, nbc_desc(given),
                      nbc_shape_str(root->ndim, root->shape));
            return NULL;
        }
        return own(nb_to(given, root->dtype));
    }
    if (nbc_numel(root->ndim, root->shape) != 1) {
        nbc_error(NB_ERR_ARG, "%s: the output (%s) has more than one element; pass grad_output or reduce it first "
                  "(e.g. nb_sum)", fn, nbc_desc(root));
        return NULL;
    }
    return own(nb_ones(root->ndim, root->shape, root->dtype));
}

int nb_backward_ex(nb_tensor *root, const nb_backward_opts *opts) {
    static const char fn[] = "nb_backward";
    int rc = check_root(fn, root, 0);
    if (rc) return rc;
    nb_tensor *seed = seed_for(fn, root, opts ? opts->grad_output : NULL);
    if (!seed) return nb_last_status();
    engine e = {.fn = fn, .retain_graph = opts && opts->retain_graph};
    rc = run_backward(&e, &root, &seed, 1);
    nbc_decref(seed);
    return rc;
}

int nb_backward(nb_tensor *root) { return nb_backward_ex(root, NULL); }

int nb_autograd_grad(nb_tensor *const *outputs, int n_outputs, nb_tensor *const *inputs, int n_inputs,
                     const nb_autograd_opts *opts, nb_tensor **grads) {
    static const char fn[] = "nb_autograd_grad";
    if (grads)
        for (int k = 0; k < n_inputs; k++) grads[k] = NULL;
    if (!outputs || n_outputs < 1 || !inputs || n_inputs < 1 || !grads)
        return nbc_error(NB_ERR_ARG, "%s: need at least one output, one input and a grads array", fn);
    for (int k = 0; k < n_outputs; k++) {
        int rc = check_root(fn, outputs[k], k);
        if (rc) return rc;
    }
    for (int k = 0; k < n_inputs; k++) {
        if (!inputs[k]) return nbc_null_arg(fn, k + 1);
        if (!inputs[k]->requires_grad)
            return nbc_error(NB_ERR_ARG, "%s: input #%d (%s) does not require grad", fn, k + 1, nbc_desc(inputs[k]));
    }
    bool create = opts && opts->create_graph;
    engine e = {.fn = fn, .create_graph = create, .retain_graph = opts ? (opts->retain_graph || create) : false};
    e.caps = nbc_calloc(fn, (size_t)n_inputs * sizeof(capture));
    nb_tensor **seeds = nbc_calloc(fn, (size_t)n_outputs * sizeof(nb_tensor *));
    int rc = (!e.caps || !seeds) ? NB_ERR_NOMEM : 0;
    e.n_caps = n_inputs;
    for (int k = 0; k < n_inputs && e.caps; k++) e.caps[k].target = inputs[k];
    for (int k = 0; k < n_outputs && !rc; k++) {
        seeds[k] = seed_for(fn, outputs[k], opts && opts->grad_outputs ? opts->grad_outputs[k] : NULL);
        if (!seeds[k]) rc = nb_last_status();
    }
    if (!rc) rc = run_backward(&e, outputs, seeds, n_outputs);
    for (int k = 0; k < n_inputs && e.caps; k++) {
        nb_tensor *g = e.caps[k].grad;
        if (!rc && !g && !(opts && opts->allow_unused))
            rc = nbc_error(NB_ERR_ARG, "%s: input #%d (%s) was not used to compute the outputs; set allow_unused to "
                           "get NULL for it", fn, k + 1, nbc_desc(inputs[k]));
        grads[k] = g;
    }
    for (int k = 0; k < n_inputs; k++) {
        if (rc) {
            nbc_decref(grads[k]);
            grads[k] = NULL;
        } else if (grads[k] && !nbc_track(grads[k])) {
            rc = NB_ERR_NOMEM; /* nbc_track freed it */
            grads[k] = NULL;
            for (int j = 0; j < k; j++) {
                nb_free(grads[j]);
                grads[j] = NULL;
            }
            for (int j = k + 1; j < n_inputs; j++) {
                nbc_decref(grads[j]);
                grads[j] = NULL;
            }
            break;
        }
    }
    for (int k = 0; k < n_outputs && seeds; k++) nbc_decref(seeds[k]);
    nbc_raw_free(seeds, (size_t)n_outputs * sizeof(nb_tensor *));
    nbc_raw_free(e.caps, (size_t)n_inputs * sizeof(capture));
    return rc;
}
