/* core/tensor.c — tensor and storage lifetime, autograd-node lifetime, scopes and introspection.
 *
 * Destruction is iterative: freeing the last handle of a 100,000-op chain releases nodes through an
 * intrusive work list, never by recursion, so the stack depth stays constant. Creation of tensors with
 * data lives in create.c; ops live in ops/.
 */
#include "internal.h"

#include <string.h>

static atomic_int_fast64_t g_live_tensors;

int64_t nb_live_tensors(void) { return atomic_load(&g_live_tensors); }

int64_t nbc_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void nbc_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 1 ? shape[i] : 1;
    }
}

bool nbc_is_contiguous(const nb_tensor *t) {
    if (nbc_numel(t->ndim, t->shape) == 0) return true; /* empty: any strides, as in PyTorch */
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (t->strides[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

int nbc_wrap_dim(const char *fn, int64_t dim, int ndim) {
    int64_t n = ndim > 0 ? ndim : 1; /* a 0-d tensor accepts dim 0 and -1, as in PyTorch */
    if (dim < -n || dim >= n) {
        nbc_error(NB_ERR_ARG, "%s: dim %lld is out of range for a tensor with %d dims (expected %lld..%lld)", fn,
                  (long long)dim, ndim, (long long)-n, (long long)(n - 1));
        return -1;
    }
    return (int)(dim < 0 ? dim + n : dim);
}

void nbc_bump_version(nb_tensor *t) { atomic_fetch_add(&t->storage->version, 1); }

/* ---- creation of tensor objects --------------------------------------------------------------- */

static nb_tensor *tensor_alloc(const char *fn, nb_dtype dtype, int ndim, const int64_t *shape) {
    if ((unsigned)dtype >= NB_DTYPE_COUNT) {
        nbc_error(NB_ERR_ARG, "%s: invalid dtype %d", fn, (int)dtype);
        return NULL;
    }
    if (ndim < 0 || ndim > NB_MAX_DIMS) {
        nbc_error(NB_ERR_ARG, "%s: %d dims requested; nabla supports 0..%d", fn, ndim, NB_MAX_DIMS);
        return NULL;
    }
    int64_t nonzero = 1; /* strides multiply the non-zero sizes: they must fit even when numel is 0 */
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            nbc_error(NB_ERR_ARG, "%s: shape %s has a negative size", fn, nbc_shape_str(ndim, shape));
            return NULL;
        }
        if (shape[i] > 1 && nonzero > ((int64_t)1 << 62) / shape[i]) {
            nbc_error(NB_ERR_ARG, "%s: shape %s is too large", fn, nbc_shape_str(ndim, shape));
            return NULL;
        }
        if (shape[i] > 1) nonzero *= shape[i];
    }
    nb_tensor *t = nbc_raw_alloc(sizeof *t);
    if (!t) {
        nbc_oom(fn);
        return NULL;
    }
    memset(t, 0, sizeof *t);
    atomic_init(&t->refcount, 1);
    atomic_init(&t->scope_refs, 0);
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    atomic_fetch_add(&g_live_tensors, 1);
    return t;
}

/* Undo tensor_alloc for a tensor that never got storage. */
static void tensor_discard(nb_tensor *t) {
    atomic_fetch_sub(&g_live_tensors, 1);
    nbc_raw_free(t, sizeof *t);
}

/* A contiguous tensor of the given shape on new storage: a block from the cache, or (user) the
 * caller's buffer at data, released by release. NOT registered in a scope. */
static nb_tensor *tensor_with_storage(const char *fn, nb_dtype dtype, int ndim, const int64_t *shape, bool user,
                                      void *data, nb_release_fn release, void *release_ud) {
    nb_tensor *t = tensor_alloc(fn, dtype, ndim, shape);
    if (!t) return NULL;
    nbc_contiguous_strides(ndim, shape, t->strides);
    int64_t n = nbc_numel(ndim, shape);
    if (n > (int64_t)((SIZE_MAX / 4) / nb_dtype_size(dtype))) {
        nbc_error(NB_ERR_ARG, "%s: shape %s is too large", fn, nbc_shape_str(ndim, shape));
        tensor_discard(t);
        return NULL;
    }
    nbc_storage *s = nbc_raw_alloc(sizeof *s);
    if (s) {
        memset(s, 0, sizeof *s);
        atomic_init(&s->refcount, 1);
        atomic_init(&s->version, 0);
        s->nbytes = (size_t)n * nb_dtype_size(dtype);
        s->data = user ? data : nbc_block_alloc(s->nbytes, &s->capacity);
        s->release = release;
        s->release_ud = release_ud;
        if (!user && !s->data) {
            nbc_raw_free(s, sizeof *s);
            s = NULL;
        }
    }
    if (!s) {
        nbc_oom(fn);
        tensor_discard(t);
        return NULL;
    }
    t->storage = s;
    return t;
}

nb_tensor *nbc_tensor_new(const char *fn, nb_dtype dtype, int ndim, const int64_t *shape) {
    return tensor_with_storage(fn, dtype, ndim, shape, false, NULL, NULL, NULL);
}

nb_tensor *nbc_tensor_view(const char *fn, nb_tensor *base, nb_dtype dtype, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t offset) {
    nb_tensor *t = tensor_alloc(fn, dtype, ndim, shape);
    if (!t) return NULL;
    if (ndim) memcpy(t->strides, strides, (size_t)ndim * sizeof(int64_t));
    t->offset = offset;
    t->storage = base->storage;
    atomic_fetch_add(&base->storage->refcount, 1);
    return t;
}

nb_tensor *nb_from_buffer(void *data, int ndim, const int64_t *shape, nb_dtype dtype, nb_release_fn release,
                          void *user_data) {
    static const char fn[] = "nb_from_buffer";
    if (!data && (ndim < 0 || ndim > NB_MAX_DIMS || nbc_numel(ndim, shape) > 0)) {
        nbc_error(NB_ERR_ARG, "%s: data is NULL", fn);
        return NULL;
    }
    if (ndim > 0 && !shape) {
        nbc_error(NB_ERR_ARG, "%s: shape is NULL for %d dims", fn, ndim);
        return NULL;
    }
    nb_tensor *t = tensor_with_storage(fn, dtype, ndim, shape, true, data, release, user_data);
    if (!t) return NULL;
    return nbc_track(t);
}

/* ---- destruction ------------------------------------------------------------------------------ */

static void storage_decref(nbc_storage *s) {
    if (!s || atomic_fetch_sub(&s->refcount, 1) != 1) return;
    if (s->capacity) {
        nbc_block_free(s->data, s->capacity);
    } else if (s->release) {
        s->release(s->data, s->release_ud);
    }
    nbc_raw_free(s, sizeof *s);
}

static void hooks_free(nbc_hook *h) {
    while (h) {
        nbc_hook *next = h->next;
        nbc_raw_free(h, sizeof *h);
        h = next;
    }
}

/* Nodes whose refcount reached zero, waiting to be destroyed by the drain loop of this thread. */
static _Thread_local nbc_node *tl_dead_nodes;
static _Thread_local bool tl_draining;

static void node_destroy(nbc_node *n);
static size_t node_bytes(int n_in, int n_out);

static void drain_dead_nodes(void) {
    if (tl_draining) return;
    tl_draining = true;
    while (tl_dead_nodes) {
        nbc_node *n = tl_dead_nodes;
        tl_dead_nodes = n->free_next;
        node_destroy(n);
    }
    tl_draining = false;
}

void nbc_node_incref(nbc_node *n) {
    if (n) atomic_fetch_add(&n->refcount, 1);
}

void nbc_node_decref(nbc_node *n) {
    if (!n || atomic_fetch_sub(&n->refcount, 1) != 1) return;
    n->free_next = tl_dead_nodes;
    tl_dead_nodes = n;
    drain_dead_nodes();
}

static void tensor_destroy(nb_tensor *t) {
    if (t->grad_fn && !t->grad_fn_weak) nbc_node_decref(t->grad_fn);
    if (t->grad) nbc_decref(t->grad);
    hooks_free(t->hooks);
    storage_decref(t->storage);
    atomic_fetch_sub(&g_live_tensors, 1);
    nbc_raw_free(t, sizeof *t);
}

void nbc_incref(nb_tensor *t) {
    if (t) atomic_fetch_add(&t->refcount, 1);
}

void nbc_decref(nb_tensor *t) {
    if (t && atomic_fetch_sub(&t->refcount, 1) == 1) tensor_destroy(t);
}

static void drop_saved(nbc_node *n) {
    for (int i = 0; i < n->n_in; i++) {
        nbc_decref(n->saved_in[i]);
        n->saved_in[i] = NULL;
    }
    for (int i = 0; i < n->n_out; i++) {
        nb_tensor *a = n->saved_out[i];
        if (!a) continue;
        /* Someone else may still hold the alias (a higher-order node): cut its weak link first so it
         * can never point at a dead node. */
        if (atomic_load(&a->refcount) > 1) a->grad_fn = NULL;
        nbc_decref(a);
        n->saved_out[i] = NULL;
    }
}

void nbc_node_release_saved(nbc_node *n) {
    drop_saved(n);
    n->released = true;
}

static void node_destroy(nbc_node *n) {
    drop_saved(n);
    for (int i = 0; i < n->n_in; i++) {
        nbc_node_decref(n->edges[i].node); /* only queues: we are inside the drain loop */
        nbc_decref(n->edges[i].leaf);
    }
    for (int i = 0; i < n->n_out; i++) {
        hooks_free(n->out_hooks[i]);
    }
    nbc_raw_free(n, node_bytes(n->n_in, n->n_out));
}

/* A node and all its arrays are one zeroed allocation. */
static size_t node_bytes(int n_in, int n_out) {
    size_t in = (size_t)n_in, out = (size_t)n_out;
    return sizeof(nbc_node) + in * sizeof(nbc_edge) + (in + out) * sizeof(nbc_meta) +
           (in + out) * sizeof(nb_tensor *) + (in + out) * sizeof(uint64_t) + out * sizeof(nbc_hook *);
}

nbc_node *nbc_node_new(const char *fn, int n_in, int n_out) {
    size_t bytes = node_bytes(n_in, n_out);
    char *p = nbc_calloc(fn, bytes);
    if (!p) return NULL;
    nbc_node *n = (nbc_node *)p;
    p += sizeof(nbc_node);
    n->edges = (nbc_edge *)p;
    p += (size_t)n_in * sizeof(nbc_edge);
    n->in_meta = (nbc_meta *)p;
    p += (size_t)n_in * sizeof(nbc_meta);
    n->out_meta = (nbc_meta *)p;
    p += (size_t)n_out * sizeof(nbc_meta);
    n->saved_in = (nb_tensor **)p;
    p += (size_t)n_in * sizeof(nb_tensor *);
    n->saved_out = (nb_tensor **)p;
    p += (size_t)n_out * sizeof(nb_tensor *);
    n->saved_ver = (uint64_t *)p;
    p += (size_t)(n_in + n_out) * sizeof(uint64_t);
    n->out_hooks = (nbc_hook **)p;
    atomic_init(&n->refcount, 1);
    n->n_in = n_in;
    n->n_out = n_out;
    return n;
}

/* ---- scopes ----------------------------------------------------------------------------------- */

typedef struct scope_stack {
    nb_tensor **items; /* tracked references; NULL entries were freed or kept */
    int64_t n, cap;
    int64_t *marks;    /* start index of each open scope */
    int depth, marks_cap;
} scope_stack;

static _Thread_local scope_stack tl_scope;

static void scope_release_arrays(void) {
    nbc_raw_free(tl_scope.items, (size_t)tl_scope.cap * sizeof(nb_tensor *));
    nbc_raw_free(tl_scope.marks, (size_t)tl_scope.marks_cap * sizeof(int64_t));
    memset(&tl_scope, 0, sizeof tl_scope);
}

int nbc_scope_depth(void) { return tl_scope.depth; }

int nb_scope_begin(void) {
    scope_stack *s = &tl_scope;
    if (s->depth == s->marks_cap) {
        int nc = s->marks_cap ? s->marks_cap * 2 : 16;
        int64_t *m = nbc_raw_realloc(s->marks, (size_t)s->marks_cap * sizeof(int64_t), (size_t)nc * sizeof(int64_t));
        if (!m) return nbc_oom("nb_scope_begin");
        s->marks = m;
        s->marks_cap = nc;
    }
    s->marks[s->depth++] = s->n;
    return 0;
}

int nb_scope_end(void) {
    scope_stack *s = &tl_scope;
    if (s->depth == 0) return nbc_error(NB_ERR_STATE, "nb_scope_end: no scope is open (missing nb_scope_begin)");
    int64_t start = s->marks[--s->depth];
    /* Free newest first: later tensors tend to depend on earlier ones. */
    for (int64_t i = s->n - 1; i >= start; i--) {
        nb_tensor *t = s->items[i];
        if (!t) continue;
        atomic_fetch_sub(&t->scope_refs, 1);
        nbc_decref(t);
    }
    s->n = start;
    if (s->depth == 0) scope_release_arrays(); /* nothing cached per thread between outer scopes */
    return 0;
}

nb_tensor *nbc_track(nb_tensor *t) {
    scope_stack *s = &tl_scope;
    if (!t || s->depth == 0) return t;
    if (s->n == s->cap) {
        int64_t nc = s->cap ? s->cap * 2 : 256;
        nb_tensor **items =
            nbc_raw_realloc(s->items, (size_t)s->cap * sizeof(nb_tensor *), (size_t)nc * sizeof(nb_tensor *));
        if (!items) {
            nbc_decref(t);
            nbc_oom("nb_scope (tracking a new tensor)");
            return NULL;
        }
        s->items = items;
        s->cap = nc;
    }
    s->items[s->n++] = t;
    atomic_fetch_add(&t->scope_refs, 1);
    return t;
}

/* Remove one scope entry for t, searching from the newest; returns the scope depth it was in
 * (1-based) or 0 when t was not tracked. */
static int scope_untrack(nb_tensor *t) {
    scope_stack *s = &tl_scope;
    if (atomic_load(&t->scope_refs) == 0) return 0;
    int d = s->depth;
    for (int64_t i = s->n - 1; i >= 0; i--) {
        while (d > 0 && i < s->marks[d - 1]) d--;
        if (s->items[i] == t) {
            s->items[i] = NULL;
            atomic_fetch_sub(&t->scope_refs, 1);
            /* trim freed entries at the top so a long loop freeing as it goes does not grow the scope */
            int64_t floor = s->depth ? s->marks[s->depth - 1] : 0;
            while (s->n > floor && !s->items[s->n - 1]) s->n--;
            return d;
        }
    }
    return 0; /* tracked by another thread's scope: leave it */
}

void nb_free(nb_tensor *t) {
    if (!t) return;
    scope_untrack(t);
    nbc_decref(t);
}

nb_tensor *nb_keep(nb_tensor *t) {
    if (!t) return NULL;
    int d = scope_untrack(t);
    if (d <= 1) return t; /* untracked, or kept out of the outermost scope: the caller owns it */
    /* Re-register in the enclosing scope: insert at that scope's end (before the inner scopes'
     * entries) so the outer scope_end frees it. Appending is equivalent for freeing purposes because
     * inner scopes only free entries at or after their mark; so shift the inner marks instead. */
    scope_stack *s = &tl_scope;
    if (s->n == s->cap) {
        int64_t nc = s->cap * 2;
        nb_tensor **items = nbc_raw_realloc(s->items, (size_t)s->cap * sizeof(nb_tensor *), (size_t)nc * sizeof(nb_tensor *));
        if (!items) {
            /* Could not re-register: leave it untracked (owned by the caller) rather than fail. */
            return t;
        }
        s->items = items;
        s->cap = nc;
    }
    int64_t pos = s->marks[d - 1]; /* first slot of the scope it was in == end of the enclosing one */
    memmove(&s->items[pos + 1], &s->items[pos], (size_t)(s->n - pos) * sizeof(nb_tensor *));
    s->items[pos] = t;
    s->n++;
    for (int k = d - 1; k < s->depth; k++) s->marks[k]++;
    atomic_fetch_add(&t->scope_refs, 1);
    return t;
}

nb_tensor *nb_retain(nb_tensor *t) {
    if (!t) {
        nbc_null_arg("nb_retain", 1);
        return NULL;
    }
    nbc_incref(t);
    return nbc_track(t);
}

/* ---- introspection ---------------------------------------------------------------------------- */

#define CHECK_T(fn, ret)                                                                           \
    do {                                                                                           \
        if (!t) {                                                                                  \
            nbc_null_arg(fn, 1);                                                                   \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

int nb_ndim(const nb_tensor *t) {
    CHECK_T("nb_ndim", 0);
    return t->ndim;
}
const int64_t *nb_shape(const nb_tensor *t) {
    CHECK_T("nb_shape", NULL);
    return t->shape;
}
const int64_t *nb_strides(const nb_tensor *t) {
    CHECK_T("nb_strides", NULL);
    return t->strides;
}
int64_t nb_size(const nb_tensor *t, int dim) {
    CHECK_T("nb_size", -1);
    int d = nbc_wrap_dim("nb_size", dim, t->ndim);
    if (d < 0) return -1;
    return t->ndim ? t->shape[d] : 1;
}
int64_t nb_numel(const nb_tensor *t) {
    CHECK_T("nb_numel", 0);
    return nbc_numel(t->ndim, t->shape);
}
nb_dtype nb_dtype_of(const nb_tensor *t) {
    CHECK_T("nb_dtype_of", NB_F32);
    return t->dtype;
}
bool nb_is_contiguous(const nb_tensor *t) {
    CHECK_T("nb_is_contiguous", false);
    return nbc_is_contiguous(t);
}
void *nb_data(const nb_tensor *t) {
    CHECK_T("nb_data", NULL);
    if (nbc_numel(t->ndim, t->shape) == 0) return NULL;
    return nbc_ptr(t);
}
uint64_t nb_version(const nb_tensor *t) {
    CHECK_T("nb_version", 0);
    return atomic_load(&t->storage->version);
}

const char *nb_version_string(void) { return "0.1.0"; }
