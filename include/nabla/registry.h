/* nabla/registry.h — read-only view of the op registry (for docs, tools and tests).
 *
 *     for (int i = 0; i < nb_op_count(); i++) {
 *         nb_op_info info;
 *         nb_op_get_info(i, &info);
 *         printf("%s -> %s\n", info.name, info.torch);
 *     }
 *
 * Every nabla op is one registry entry; public functions such as nb_add are thin wrappers that
 * dispatch to it.
 */
#ifndef NABLA_REGISTRY_H
#define NABLA_REGISTRY_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_op_info {
    const char *name;      /* registry name, e.g. "matmul" */
    int n_inputs;          /* -1 for a variable number (cat) */
    int n_outputs;
    bool differentiable;   /* has a backward formula */
    bool is_view;          /* output shares storage with input #1 */
    unsigned nograd_inputs;/* bit i set: input i never receives a gradient (indices, masks) */
    const char *attrs;     /* attribute schema, e.g. "dims:ints keepdim:bool" ("" if none) */
    const char *torch;     /* PyTorch equivalent, e.g. "torch.matmul" */
    const char *summary;   /* one line */
} nb_op_info;

/* Number of registered ops. */
NB_API int nb_op_count(void);
/* Fill *info for op index i in [0, nb_op_count()). Returns 0 or NB_ERR_ARG. */
NB_API int nb_op_get_info(int i, nb_op_info *info);
/* Index of the op called name, or -1. */
NB_API int nb_op_find(const char *name);

/* Public functions that are compositions of registry ops rather than ops of their own (nb_conv1d
 * through nb_conv2d, ...): listed so docs and coverage tests see them. */
typedef struct nb_func_info {
    const char *name;      /* the function is nb_<name> */
    bool differentiable;   /* gradients flow through its float inputs */
    const char *torch;     /* PyTorch equivalent */
    const char *summary;
} nb_func_info;
/* Number of composite functions. */
NB_API int nb_func_count(void);
/* Fill *info for function index i in [0, nb_func_count()). Returns 0 or NB_ERR_ARG. */
NB_API int nb_func_get_info(int i, nb_func_info *info);

#ifdef __cplusplus
}
#endif
#endif
