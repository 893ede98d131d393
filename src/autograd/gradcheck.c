/* autograd/gradcheck.c — compare analytic gradients with central differences in f64. The scalar
 * checked is sum(fn(inputs) * r) with fixed random weights r, so every output element matters and a
 * wrong gradient cannot hide behind symmetry. */
#include "../ops/op.h"

#include <math.h>

/* Element e (C order) of t, by strides. */
static int64_t element_offset(const nb_tensor *t, int64_t e) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (e % t->shape[d]) * t->strides[d];
        e /= t->shape[d];
    }
    return off;
}

static double weighted_sum(nb_gradcheck_fn fn, nb_tensor *const *inputs, void *ud, nb_tensor *r, int *rc) {
    nb_scope_begin();
    nb_tensor *y = fn(inputs, ud);
    double v = nb_item(nb_sum(nb_mul(nb_to(y, NB_F64), r), NULL));
    if (v != v && nb_last_status() != NB_OK) *rc = nb_last_status();
    nb_scope_end();
    return v;
}

int nb_gradcheck(nb_gradcheck_fn fn, nb_tensor *const *inputs, int n_inputs, void *ud, const nb_gradcheck_opts *opts) {
    static const char name[] = "nb_gradcheck";
    double eps = opts && opts->eps > 0 ? opts->eps : 1e-6;
    double atol = opts && opts->atol > 0 ? opts->atol : 1e-5;
    double rtol = opts && opts->rtol > 0 ? opts->rtol : 1e-3;
    if (!fn || !inputs || n_inputs < 1) return nbc_error(NB_ERR_ARG, "%s: need a function and at least one input", name);
    nb_tensor *wrt[64];
    int idx[64], n_wrt = 0;
    for (int i = 0; i < n_inputs; i++) {
        nb_tensor *t = inputs[i];
        if (!t) return nbc_null_arg(name, i + 1);
        if (!t->requires_grad) continue;
        if (t->dtype != NB_F64)
            return nbc_error(NB_ERR_ARG, "%s: input #%d (%s) must be f64 for a meaningful check", name, i + 1, nbc_desc(t));
        for (int d = 0; d < t->ndim; d++)
            if (t->strides[d] == 0 && t->shape[d] > 1)
                return nbc_error(NB_ERR_ARG, "%s: input #%d (%s) is a broadcast view; pass a tensor whose elements "
                                 "are distinct", name, i + 1, nbc_desc(t));
        if (n_wrt == 64) return nbc_error(NB_ERR_ARG, "%s: at most 64 inputs may require grad", name);
        wrt[n_wrt] = t;
        idx[n_wrt++] = i;
    }
    if (n_wrt == 0) return nbc_error(NB_ERR_ARG, "%s: no input requires grad", name);

    int rc = 0;
    uint64_t seed, counter;
    nb_rng_get_state(&seed, &counter);
    nb_scope_begin();
    nb_tensor *y = fn(inputs, ud);
    if (!y) {
        rc = nb_last_status() ? nb_last_status() : nbc_error(NB_ERR_ARG, "%s: the function returned NULL", name);
        goto done;
    }
    nb_manual_seed(0x6772616463686b); /* weights independent of the caller's random state */
    nb_tensor *r = nb_randn(y->ndim, y->shape, NB_F64);
    nb_rng_set_state(seed, counter);
    nb_tensor *loss = nb_sum(nb_mul(nb_to(y, NB_F64), r), NULL);
    nb_tensor *grads[64];
    nb_autograd_opts ao = {.allow_unused = true};
    if (!loss || !loss->requires_grad) {
        rc = loss ? nbc_error(NB_ERR_ARG, "%s: the output does not depend on any input that requires grad", name)
                  : nb_last_status();
        goto done;
    }
    if ((rc = nb_autograd_grad(&loss, 1, wrt, n_wrt, &ao, grads)) != 0) goto done;

    /* The numerical passes run in the caller's grad mode, not under no-grad: fn may itself take
     * gradients (nb_autograd_grad with create_graph), which is how second derivatives are checked. */
    for (int k = 0; k < n_wrt && !rc; k++) {
        nb_tensor *t = wrt[k];
        int64_t n = nbc_numel(t->ndim, t->shape);
        nb_tensor *g = grads[k] ? nb_to(grads[k], NB_F64) : NULL;
        for (int64_t e = 0; e < n && !rc; e++) {
            int64_t off = element_offset(t, e);
            double *p = (double *)t->storage->data + off;
            double orig = *p;
            *p = orig + eps;
            double fp = weighted_sum(fn, inputs, ud, r, &rc);
            *p = orig - eps;
            double fm = weighted_sum(fn, inputs, ud, r, &rc);
            *p = orig;
            if (rc) break;
            double num = (fp - fm) / (2 * eps);
            double ana = g ? nbc_load(g->storage->data, NB_F64, element_offset(g, e)) : 0.0;
            if (!(fabs(ana - num) <= atol + rtol * fabs(num))) {
                int64_t rem = e, coord[NB_MAX_DIMS];
                for (int d = t->ndim - 1; d >= 0; d--) {
                    coord[d] = rem % t->shape[d];
                    rem /= t->shape[d];
                }
                rc = nbc_error(NB_ERR_ARG, "%s: gradient of input #%d (%s) at index %s: analytic %.10g, numerical %.10g",
                               name, idx[k] + 1, nbc_desc(t), nbc_shape_str(t->ndim, coord), ana, num);
            }
        }
    }
done:
    nb_scope_end();
    return rc;
}
