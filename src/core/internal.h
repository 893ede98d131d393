/* core/internal.h — private data structures of the core layer: tensor, storage, autograd node,
 * allocation, error and scope helpers. Everything in src/ may include this; nothing public does.
 *
 * The autograd node lives here (not in autograd/) because it is data the tensor points to: the
 * dispatcher (ops/) writes nodes and the engine (autograd/) walks them; both call down to core.
 * Prefixes: nbc_ core, nbk_ kernels, nbo_ ops, nba_ autograd.
 */
#ifndef NABLA_CORE_INTERNAL_H
#define NABLA_CORE_INTERNAL_H

#include <nabla/nabla.h>
#include <stdatomic.h>
#include <stdarg.h>

#define NBC_ALIGN 64

/* ---- storage and tensor ------------------------------------------------------------------------ */

typedef struct nbc_storage {
    atomic_int refcount;
    void *data;
    size_t nbytes;         /* usable bytes */
    size_t capacity;       /* bytes obtained from the allocator (0 for a user buffer) */
    nb_release_fn release; /* user buffer: called on free */
    void *release_ud;
    atomic_uint_fast64_t version;
} nbc_storage;

typedef struct nbc_hook {
    nb_grad_hook fn;
    void *user_data;
    struct nbc_hook *next;
} nbc_hook;

struct nbc_node;

struct nb_tensor {
    atomic_int refcount;
    nb_dtype dtype;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t strides[NB_MAX_DIMS]; /* in elements; 0 for broadcast dims */
    int64_t offset;               /* in elements */
    nbc_storage *storage;
    bool requires_grad;
    bool grad_fn_weak;            /* a node's saved alias of its own output: grad_fn not owned */
    int out_index;                /* which output of grad_fn this is */
    struct nbc_node *grad_fn;     /* NULL for leaves */
    nb_tensor *grad;              /* accumulated gradient of a leaf */
    nbc_hook *hooks;              /* leaf hooks (non-leaf hooks live on the node's output slot) */
    atomic_int scope_refs;        /* how many scope entries hold this object */
};

/* ---- op attributes ----------------------------------------------------------------------------- */

#define NBC_MAX_INTS 24
/* Attributes of one op application, a plain value so nodes can copy it. The meaning of each field is
 * per op and documented by the op descriptor's attrs schema. */
typedef struct nb_attrs {
    int n_ints;
    int64_t ints[NBC_MAX_INTS];
    double f0, f1, f2, f3; /* scalar attributes (f1..f3 for ops with several: clamp, elu, huber, ...) */
    nb_dtype dtype;
    bool flag;
} nb_attrs;

/* Shape/dtype/layout of a tensor without data: what infer produces, what nodes remember. */
typedef struct nbc_meta {
    nb_dtype dtype;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t strides[NB_MAX_DIMS]; /* only for view ops */
    int64_t offset;               /* only for view ops */
} nbc_meta;

/* ---- autograd node ----------------------------------------------------------------------------- */

/* Where the gradient of one input goes: to output slot `index` of another node, to a leaf's .grad,
 * or nowhere (both NULL). */
typedef struct nbc_edge {
    struct nbc_node *node; /* owned reference */
    int index;
    nb_tensor *leaf;       /* owned reference */
} nbc_edge;

typedef struct nbc_node {
    atomic_int refcount;
    int op;
    const char *name;        /* "MatmulBackward", set by the dispatcher from the op registry */
    int n_in, n_out;
    nb_attrs attrs;
    uint64_t seq;            /* creation order: later nodes run first in backward */
    bool released;           /* saved tensors dropped after a backward without retain_graph */
    nbc_edge *edges;         /* [n_in] */
    nbc_meta *in_meta;       /* [n_in] */
    nbc_meta *out_meta;      /* [n_out] */
    nb_tensor **saved_in;    /* [n_in], entries NULL when not saved */
    nb_tensor **saved_out;   /* [n_out], aliases whose grad_fn is this node (weak) */
    uint64_t *saved_ver;     /* [n_in + n_out] storage versions at save time */
    nbc_hook **out_hooks;    /* [n_out] */
    struct nbc_node *free_next; /* intrusive list for iterative destruction */
    /* engine scratch, valid during one backward pass (owned by the engine) */
    uint64_t stamp;          /* which pass last visited this node */
    int deps;                /* incoming edges not yet delivered */
    int64_t slot;            /* first index of this node's outputs in the pass's gradient array */
    bool queued;
} nbc_node;

/* ---- allocation -------------------------------------------------------------------------------- */

/* Raw allocation through the user's allocator (small structs). NULL on failure, error NOT set. */
void *nbc_raw_alloc(size_t n);
void *nbc_raw_realloc(void *p, size_t old_n, size_t new_n);
void nbc_raw_free(void *p, size_t n);
/* Zeroed raw allocation that sets NB_ERR_NOMEM (naming fn) on failure. */
void *nbc_calloc(const char *fn, size_t n);
/* A copy of s from the user allocator (NB_ERR_NOMEM naming fn on failure); free with nbc_strfree. */
char *nbc_strdup(const char *fn, const char *s);
void nbc_strfree(char *s);
/* Cached, 64-byte aligned storage blocks. *capacity receives the block's real size. */
void *nbc_block_alloc(size_t nbytes, size_t *capacity);
void nbc_block_free(void *p, size_t capacity);
/* Count of live allocations from the user allocator (tests use it to prove nothing leaked). */
int64_t nbc_raw_live(void);

/* ---- errors ------------------------------------------------------------------------------------ */

/* Set the thread-local error; returns status so callers can `return nbc_error(...)`. */
int nbc_error(nb_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Number of errors raised on this thread so far (tells whether an error is still the latest). */
uint64_t nbc_error_serial(void);
/* Set NB_ERR_NOMEM for fn without allocating. */
int nbc_oom(const char *fn);
/* For an op given NULL input #argno (1-based): keeps an earlier error, else reports the NULL. */
int nbc_null_arg(const char *fn, int argno);
/* "[2, 3]" for a shape; rotating thread-local buffers, valid for the next few calls. */
const char *nbc_shape_str(int ndim, const int64_t *shape);
/* "shape [2, 3], dtype f32" for a tensor. */
const char *nbc_desc(const nb_tensor *t);

/* ---- tensors ----------------------------------------------------------------------------------- */

/* Create a contiguous tensor with fresh storage (not zeroed), NOT registered in a scope. */
nb_tensor *nbc_tensor_new(const char *fn, nb_dtype dtype, int ndim, const int64_t *shape);
/* Create a view on base's storage with the given layout, NOT registered in a scope. */
nb_tensor *nbc_tensor_view(const char *fn, nb_tensor *base, nb_dtype dtype, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t offset);
/* Register a new reference in the current scope (no-op outside scopes). On failure frees t and returns
 * NULL with the error set. Every tensor handed to a user passes through here. */
nb_tensor *nbc_track(nb_tensor *t);
/* Number of scopes open on this thread. */
int nbc_scope_depth(void);
/* Reference counting without scope bookkeeping (for internal owners: nodes, modules). */
void nbc_incref(nb_tensor *t);
void nbc_decref(nb_tensor *t);
/* A zeroed node with refcount 1 and its arrays sized for n_in inputs and n_out outputs. */
nbc_node *nbc_node_new(const char *fn, int n_in, int n_out);
void nbc_node_incref(nbc_node *n);
void nbc_node_decref(nbc_node *n);
/* Free the node's saved tensors (after a backward without retain_graph). */
void nbc_node_release_saved(nbc_node *n);
/* Strides of a contiguous layout. */
void nbc_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
int64_t nbc_numel(int ndim, const int64_t *shape);
bool nbc_is_contiguous(const nb_tensor *t);
/* Wrap a possibly negative dim into [0, ndim); -1 with the error set (naming fn) when out of range. */
int nbc_wrap_dim(const char *fn, int64_t dim, int ndim);
/* Bump the version counter of t's storage (every in-place write does). */
void nbc_bump_version(nb_tensor *t);
static inline void *nbc_ptr(const nb_tensor *t) {
    return (char *)t->storage->data + (size_t)t->offset * nb_dtype_size(t->dtype);
}

/* ---- dtype conversion -------------------------------------------------------------------------- */

float nbc_f16_to_f32(uint16_t h);
uint16_t nbc_f32_to_f16(float f);
float nbc_bf16_to_f32(uint16_t h);
uint16_t nbc_f32_to_bf16(float f);
/* Read / write element i of a typed array as double (slow path for printing and element access). */
double nbc_load(const void *p, nb_dtype dtype, int64_t i);
void nbc_store(void *p, nb_dtype dtype, int64_t i, double v);

/* ---- grad mode, RNG, threads ------------------------------------------------------------------- */

bool nbc_grad_enabled(void);
/* Philox-4x32-10 block for (counter, key). */
void nbc_philox(uint64_t counter, uint64_t key, uint32_t out[4]);
/* Reserve n counter values from the global generator; returns the first, and the key. */
uint64_t nbc_rng_reserve(uint64_t n, uint64_t *key);

/* Run fn(ctx, begin, end) over [0, n) split into chunks; chunks smaller than grain are never split
 * onto other threads, so tiny work runs inline. Results must not depend on how [0, n) is split. */
typedef void (*nbc_range_fn)(void *ctx, int64_t begin, int64_t end);
void nbc_parallel_for(int64_t n, int64_t grain, nbc_range_fn fn, void *ctx);

#endif
