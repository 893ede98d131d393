/* ops/norm.c — batch normalisation as a composition of registry ops (mean, sub, mul, sqrt, div):
 * no registry entry of its own, so its gradient (of any order) comes from the primitives. The
 * running statistics are updated in place without recording, exactly as PyTorch does. */
#include "op.h"

#include <string.h>

/* (C) -> (1, C, 1, ...) to broadcast over x of ndim dims. */
static nb_tensor *channel_view(nb_tensor *v, int ndim) {
    int64_t shape[NB_MAX_DIMS];
    for (int d = 0; d < ndim; d++) shape[d] = d == 1 ? -1 : 1;
    return nb_reshape(v, ndim, shape);
}

static int check_param(const char *fn, const char *what, const nb_tensor *p, int64_t c) {
    if (p && (p->ndim != 1 || p->shape[0] != c))
        return nbc_error(NB_ERR_ARG, "%s: %s has %s; expected [%lld] (one per channel)", fn, what, nbc_desc(p), (long long)c);
    return 0;
}

nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var, nb_tensor *weight,
                         nb_tensor *bias, bool training, double momentum, double eps) {
    static const char fn[] = "nb_batch_norm";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim < 2 || !nb_dtype_is_float(x->dtype))
        return nbc_error(NB_ERR_ARG, "%s: expected a floating input (N, C, ...); got %s", fn, nbc_desc(x)), NULL;
    int64_t c = x->shape[1];
    if (check_param(fn, "running_mean", running_mean, c) || check_param(fn, "running_var", running_var, c) ||
        check_param(fn, "weight", weight, c) || check_param(fn, "bias", bias, c))
        return NULL;
    if (!training && (!running_mean || !running_var))
        return nbc_error(NB_ERR_ARG, "%s: evaluation mode needs running_mean and running_var", fn), NULL;
    nb_reduce_opts dims = {.keepdim = true};
    for (int d = 0; d < x->ndim; d++)
        if (d != 1) dims.dims[dims.n++] = d;
    int64_t count = nbc_numel(x->ndim, x->shape) / (c ? c : 1);
    if (training && count <= 1)
        return nbc_error(NB_ERR_ARG, "%s: expected more than 1 value per channel when training; got %s", fn,
                         nbc_desc(x)), NULL;
    nb_scope_begin();
    nb_tensor *mean, *var;
    if (training) {
        mean = nb_mean(x, &dims);
        nb_tensor *xc = nb_sub(x, mean);
        var = nb_mean(nb_mul(xc, xc), &dims); /* biased, for normalising */
        if (running_mean && running_var && mean && var) {
            /* running = (1 - m) running + m stat, with the unbiased variance, outside the graph */
            nb_no_grad_begin();
            nb_tensor *bm = nb_reshape(nb_detach(mean), NB_SHAPE(-1));
            nb_tensor *bv = nb_mul_scalar(nb_reshape(nb_detach(var), NB_SHAPE(-1)), (double)count / (double)(count - 1));
            int rc = bm && bv ? nb_mul_scalar_(running_mean, 1 - momentum) : nb_last_status();
            if (!rc) rc = nb_add_(running_mean, bm, momentum);
            if (!rc) rc = nb_mul_scalar_(running_var, 1 - momentum);
            if (!rc) rc = nb_add_(running_var, bv, momentum);
            nb_no_grad_end();
            if (rc) mean = NULL;
        }
    } else {
        mean = channel_view(running_mean, x->ndim);
        var = channel_view(running_var, x->ndim);
    }
    nb_tensor *y = nb_div(nb_sub(x, mean), nb_sqrt(nb_add_scalar(var, eps)));
    if (weight) y = nb_mul(y, channel_view(weight, x->ndim));
    if (bias) y = nb_add(y, channel_view(bias, x->ndim));
    nb_keep(y);
    nb_scope_end();
    return y;
}
