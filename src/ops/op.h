/* ops/op.h — the op descriptor, the op list and the dispatcher: what a family file (unary.c,
 * binary.c, ...) needs to define ops. To add an op: add one line to ops.def, define its descriptor
 * `nbo_desc_<name>` in its family file with infer / forward / backward, write its public wrapper
 * there, and add its reference and gradient-check cases to the tests.
 *
 * The contract of a descriptor:
 *  - infer validates inputs and attributes (all user-facing checks live here, with messages naming
 *    nb_<name>, the argument, the shapes and the dtypes) and fills each output's nbc_meta; for view
 *    ops it also fills strides and offset into input #0's storage.
 *  - forward computes into freshly allocated contiguous outputs (not called for view ops).
 *  - backward builds input gradients out of nabla ops (so they are differentiable again) from the
 *    output gradients; it may read saved inputs/outputs per the descriptor's SAVE flags.
 */
#ifndef NABLA_OPS_OP_H
#define NABLA_OPS_OP_H

#include "../core/internal.h"

/* The op list: one line per op, in one place, so the enum, the table and the count agree. */
enum {
#define NB_OP(name) NBO_##name,
#include "ops.def"
#undef NB_OP
    NBO_COUNT
};

enum {
    NBO_VIEW = 1 << 0,         /* output is a view of input #0 */
    NBO_SAVE_INPUTS = 1 << 1,  /* backward reads ctx->in */
    NBO_SAVE_OUTPUTS = 1 << 2, /* backward reads ctx->out */
    NBO_ELEMENTWISE = 1 << 3,
    NBO_REDUCTION = 1 << 4,
    NBO_SAVE_AUX_OUTPUTS = 1 << 5, /* backward reads ctx->out[j] for j >= 1 only: output #0 is not saved, so
                                      it may be modified in place afterwards (batch_norm's y) */
};

/* What backward sees. in[i] / out[i] are NULL unless saved; meta describes every input. */
typedef struct nbo_ctx {
    const nb_attrs *attrs;
    int n_in, n_out;
    nb_tensor *const *in;
    nb_tensor *const *out;
    const nbc_meta *in_meta;
    const bool *needs_grad; /* [n_in]: whether input i wants a gradient */
} nbo_ctx;

typedef int (*nbo_infer_fn)(nb_tensor *const *in, int n_in, const nb_attrs *a, nbc_meta *out);
typedef int (*nbo_forward_fn)(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out);
/* gout[j]: gradient of output j (never NULL: zeros when nothing flowed). Set gin[i] to a new
 * reference (or leave NULL: no gradient) for each i with needs_grad[i]. Return 0 or nb_status. */
typedef int (*nbo_backward_fn)(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin);

typedef struct nbo_desc {
    const char *name;     /* registry name; public function is nb_<name> */
    const char *bw_name;  /* grad_fn name shown when printing, e.g. "MatmulBackward" */
    int n_in;             /* -1: variadic */
    int n_out;
    unsigned flags;
    unsigned nograd_inputs; /* bit i: input i never gets a gradient */
    unsigned unsaved_inputs; /* with NBO_SAVE_INPUTS, bit i: input i is not saved (backward never reads it, so
                                it may be modified in place before backward) */
    const char *attrs;    /* attribute schema for docs, e.g. "ints=dims flag=keepdim" */
    const char *torch;    /* PyTorch equivalent */
    const char *summary;
    nbo_infer_fn infer;
    nbo_forward_fn forward;
    nbo_backward_fn backward; /* NULL: not differentiable */
} nbo_desc;

#define NB_OP(name) extern const nbo_desc nbo_desc_##name;
#include "ops.def"
#undef NB_OP

const nbo_desc *nbo_get(int op);
/* "nb_<name>" of an op, for messages. */
const char *nbo_fn_name(int op);

/* The dispatcher: validate, allocate, compute, record for autograd, track in the scope. Outputs are
 * new references registered in the current scope. Returns 0 or a negative nb_status; on failure
 * every out[j] is NULL and nothing leaked. */
int nbo_apply(int op, nb_tensor *const *in, int n_in, const nb_attrs *attrs, nb_tensor **out);
/* Single-output convenience: the output or NULL. attrs may be NULL. */
nb_tensor *nbo_apply1(int op, nb_tensor *const *in, int n_in, const nb_attrs *attrs);

/* ---- helpers shared by family files ------------------------------------------------------------ */

/* Broadcast two shapes (NumPy rules) into out; -1 with an error naming fn and both operands. */
int nbo_broadcast_shapes(const char *fn, int na, const int64_t *sa, int nb, const int64_t *sb, int *nout,
                         int64_t *out);
/* Element strides of t viewed at broadcast shape (ndim, shape): 0 where t is broadcast. */
void nbo_broadcast_strides(const nb_tensor *t, int ndim, const int64_t *shape, int64_t *strides);
/* t's data as a contiguous buffer of dtype `as`: either t's own memory (when it already is) or a
 * temporary copy. Release with nbo_buffer_release. NULL on out of memory (error set, naming fn). */
typedef struct nbo_buffer {
    void *data;
    size_t capacity; /* nonzero when owned */
} nbo_buffer;
int nbo_buffer_get(const char *fn, const nb_tensor *t, nb_dtype as, nbo_buffer *b);
void nbo_buffer_release(nbo_buffer *b);
/* nbo_buffer_get for n tensors at once; on failure the ones obtained are released. */
int nbo_buffers_get(const char *fn, nb_tensor *const *t, int n, nb_dtype as, nbo_buffer *b);
void nbo_buffers_release(nbo_buffer *b, int n);
/* Where a kernel writes output `out` in compute type ct: out's own memory when its dtype is ct,
 * otherwise a scratch block that nbo_result_finish converts into out (when ok) and frees. */
typedef struct nbo_result {
    void *data;
    size_t cap; /* nonzero when a scratch block */
} nbo_result;
int nbo_result_get(const char *fn, nb_tensor *out, nb_dtype ct, nbo_result *r);
void nbo_result_finish(nb_tensor *out, nb_dtype ct, nbo_result *r, bool ok);
/* Whether a gradient handed to backward carries nothing: engine-made zeros (contiguous, no graph, every
 * value 0), so the terms it feeds can be skipped. */
bool nbo_is_zero_grad(const nb_tensor *t);
/* Reduce g (new reference) by summation to shape (ndim, shape): the gradient of a broadcast. Returns a
 * new reference (g itself, retained, when shapes already match) or NULL. */
nb_tensor *nbo_sum_to(nb_tensor *g, int ndim, const int64_t *shape);
/* A 0-d tensor with value v and dtype (for scalar operands inside backward formulas). */
nb_tensor *nbo_const(double v, nb_dtype dtype);
/* Fill meta for a contiguous output. */
void nbo_meta_set(nbc_meta *m, nb_dtype dtype, int ndim, const int64_t *shape);
/* Public op name for messages: "nb_add". */
#define NBO_FN(desc_name) "nb_" desc_name

#endif
