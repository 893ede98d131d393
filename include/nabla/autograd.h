/* nabla/autograd.h — define-by-run automatic differentiation.
 *
 * Worked example:
 *
 *     nb_tensor *w = nb_param(nb_randn(NB_SHAPE(3, 2), NB_F32));   // a leaf that requires grad
 *     nb_tensor *loss = nb_sum(nb_mul(w, w), NULL);
 *     if (nb_backward(loss) != 0) fprintf(stderr, "%s\n", nb_last_error());
 *     nb_print(nb_grad(w));                                         // 2 * w
 *
 * Ops record a node when grad mode is on and an input requires grad. nb_backward walks the recorded
 * graph iteratively (a chain of any length is fine) and accumulates into the .grad of leaves.
 * Backward formulas are themselves nabla ops, so gradients can be differentiated again
 * (nb_autograd_grad with create_graph).
 */
#ifndef NABLA_AUTOGRAD_H
#define NABLA_AUTOGRAD_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mark t as requiring grad (only float tensors can) and return t itself, NOT a new reference, so it
 * can wrap a creation call: `nb_param(nb_randn(...))`. Returns NULL (error set) for a NULL or
 * non-float t or a tensor that is not a leaf. */
NB_API nb_tensor *nb_param(nb_tensor *t);
/* Set or clear requires_grad on a leaf. Returns 0 or a negative nb_status. */
NB_API int nb_set_requires_grad(nb_tensor *t, bool requires_grad);
NB_API bool nb_requires_grad(const nb_tensor *t);
/* True when t was not produced by a recorded op. */
NB_API bool nb_is_leaf(const nb_tensor *t);
/* A new reference to t's accumulated gradient, or NULL without an error when there is none yet
 * (check nb_last_status() to tell the two NULLs apart). */
NB_API nb_tensor *nb_grad(nb_tensor *t);
/* Drop t's accumulated gradient (PyTorch's zero_grad(set_to_none=True)). */
NB_API void nb_zero_grad(nb_tensor *t);
/* Name of the op that produced t ("MatmulBackward"), or NULL for a leaf. Static storage. */
NB_API const char *nb_grad_fn_name(const nb_tensor *t);
/* A new tensor sharing t's storage that requires no grad and has no history. */
NB_API nb_tensor *nb_detach(nb_tensor *t);

/* Grad mode, per thread. nb_no_grad_begin/end nest. */
NB_API void nb_no_grad_begin(void);
NB_API void nb_no_grad_end(void);
NB_API bool nb_is_grad_enabled(void);

typedef struct nb_backward_opts {
    nb_tensor *grad_output; /* gradient of the root; NULL means 1 (root must have one element) */
    bool retain_graph;      /* keep saved tensors so the graph can be walked again */
} nb_backward_opts;
/* Accumulate d(root)/d(leaf) into every leaf that requires grad. Returns 0 or a negative nb_status. */
NB_API int nb_backward(nb_tensor *root);
NB_API int nb_backward_ex(nb_tensor *root, const nb_backward_opts *opts);

typedef struct nb_autograd_opts {
    nb_tensor *const *grad_outputs; /* one per output, or NULL for ones (one-element outputs) */
    bool retain_graph;              /* default: same as create_graph */
    bool create_graph;              /* record the backward pass so results can be differentiated */
    bool allow_unused;              /* an input the outputs do not depend on gives NULL, not an error */
} nb_autograd_opts;
/* torch.autograd.grad: gradients of the outputs with respect to the inputs, written to grads[i] (new
 * references, registered in the current scope) without touching any .grad. Returns 0 or a negative
 * nb_status (grads[] are all NULL on failure). */
NB_API int nb_autograd_grad(nb_tensor *const *outputs, int n_outputs, nb_tensor *const *inputs,
                            int n_inputs, const nb_autograd_opts *opts, nb_tensor **grads);

/* A gradient hook runs when the gradient with respect to t is computed, before it is accumulated or
 * passed on. It may set *replacement to a new tensor (ownership passes to nabla) to use instead.
 * Returning non-zero aborts the backward pass with that status. */
typedef int (*nb_grad_hook)(nb_tensor *grad, nb_tensor **replacement, void *user_data);
NB_API int nb_register_hook(nb_tensor *t, nb_grad_hook hook, void *user_data);

/* Gradient check: compares the analytic gradient of sum(fn(inputs) * r) (r fixed random weights) with
 * central differences, in f64. Inputs must be f64 tensors; those that require grad are checked.
 * fn returns a new tensor (or NULL with the error set). Returns 0 when every entry agrees within
 * atol + rtol * |numerical|, NB_ERR_ARG with a message naming the input and index otherwise. */
typedef nb_tensor *(*nb_gradcheck_fn)(nb_tensor *const *inputs, void *user_data);
typedef struct nb_gradcheck_opts {
    double eps;  /* default 1e-6 */
    double atol; /* default 1e-5 */
    double rtol; /* default 1e-3 */
} nb_gradcheck_opts;
NB_API int nb_gradcheck(nb_gradcheck_fn fn, nb_tensor *const *inputs, int n_inputs, void *user_data,
                        const nb_gradcheck_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
