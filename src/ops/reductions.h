/* ops/reductions.h — helpers shared by the reduction files (reduce.c, reductions.c, sort.c): the
 * dims-and-keepdim attributes of a reduction and its output shape. */
#ifndef NABLA_OPS_REDUCTIONS_H
#define NABLA_OPS_REDUCTIONS_H

#include "op.h"

/* Normalise opts (NULL or n = 0: all dims) into a->ints (wrapped, sorted, without repeats) and
 * a->flag = keepdim; the rest of *a is zeroed. -1 with the error set (naming fn) on a bad dim. */
int nbo_reduce_attrs(const char *fn, const nb_tensor *x, const nb_reduce_opts *o, nb_attrs *a);
/* Whether dim d is among a->ints. */
bool nbo_is_reduced(const nb_attrs *a, int d);
/* Output shape of a reduction of x over a->ints: reduced dims dropped (or kept as 1 with a->flag). */
void nbo_reduced_shape(const nb_tensor *x, const nb_attrs *a, int *nd, int64_t *shape);

#endif
