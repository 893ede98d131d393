/* ops/pointwise.h — what the elementwise family files (binary.c, pointwise.c, pointwise_binary.c)
 * share beyond op.h: operands read in place through broadcast strides. */
#ifndef NABLA_OPS_POINTWISE_H
#define NABLA_OPS_POINTWISE_H

#include "op.h"

/* One operand seen at an output's broadcast shape, in compute type c: t's own memory read through
 * broadcast strides when t already has dtype c, else a contiguous converted copy (release buf). */
typedef struct nbo_operand {
    nbo_buffer buf;
    const void *ptr;
    int64_t strides[NB_MAX_DIMS];
} nbo_operand;
int nbo_operand_get(const char *fn, const nb_tensor *t, nb_dtype c, int ndim, const int64_t *shape, nbo_operand *o);

/* g * f'(x) in one pass for an activation kernel k (an nbk_pw1 with a fused gradient; attrs: its
 * parameters, or NULL): the internal op activation_backward (pointwise.c). Not differentiable: for
 * backward passes that build no graph. */
nb_tensor *nbo_activation_grad(nb_tensor *g, nb_tensor *x, int k, const nb_attrs *attrs);

#endif
