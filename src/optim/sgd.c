/* optim/sgd.c — stochastic gradient descent with momentum, dampening, Nesterov momentum and L2
 * weight decay, exactly as torch.optim.SGD's single-tensor loop: the option defaults and checks, the
 * state layout ("momentum_buffer", created from the first gradient) and the update kernel. It is not
 * the step loop or parameter handling (optimizer.c).
 */
#include "optim_internal.h"

#include <math.h>

static int sgd_resolve(const char *fn, const void *in, nbopt_opts *out) {
    nb_sgd_opts o = in ? *(const nb_sgd_opts *)in : (nb_sgd_opts){0};
    o.lr = nbopt_default(o.lr, 1e-3);
    int rc;
    if ((rc = nbopt_check_nonneg(fn, "lr", o.lr)) || (rc = nbopt_check_nonneg(fn, "momentum", o.momentum)) ||
        (rc = nbopt_check_nonneg(fn, "dampening", o.dampening)) ||
        (rc = nbopt_check_nonneg(fn, "weight_decay", o.weight_decay)))
        return rc;
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
        return nbc_error(NB_ERR_ARG, "%s: nesterov momentum requires momentum > 0 and dampening 0; got momentum %g, "
                         "dampening %g", fn, o.momentum, o.dampening);
    out->sgd = o;
    return 0;
}

static bool sgd_slot(const nbopt_opts *o, int k, double *fill) {
    *fill = 0;
    return k == 0 && o->sgd.momentum != 0;
}

#define SGD_KERNEL(T, SUF)                                                                         \
    static void sgd_range_##SUF(void *ctx, int64_t begin, int64_t end) {                           \
        const nbopt_job *j = ctx;                                                                  \
        const nb_sgd_opts *o = &j->opts->sgd;                                                      \
        T *p = j->p, *buf = j->buf[0];                                                             \
        const T *g = j->g;                                                                         \
        const double wd = o->weight_decay, mom = o->momentum, damp1 = 1 - o->dampening, lr = j->lr; \
        const bool first = j->step == 1;                                                           \
        for (int64_t i = begin; i < end; i++) {                                                    \
            double d = g[i];                                                                       \
            if (wd != 0) d = d + wd * (double)p[i];                                                \
            if (mom != 0) {                                                                        \
                double b = first ? d : (double)buf[i] * mom + damp1 * d;                           \
                buf[i] = (T)b;                                                                     \
                b = buf[i];                                                                        \
                d = o->nesterov ? d + mom * b : b;                                                 \
            }                                                                                      \
            p[i] = (T)((double)p[i] + -lr * d);                                                    \
        }                                                                                          \
    }
SGD_KERNEL(float, f32)
SGD_KERNEL(double, f64)

static void sgd_update(const nbopt_job *j) {
    nbc_parallel_for(j->n, NBOPT_GRAIN, j->dtype == NB_F64 ? sgd_range_f64 : sgd_range_f32, (void *)j);
}

const nbopt_kind nbopt_sgd_kind = {
    .fn = "nb_sgd",
    .type = "SGD",
    .resolve = sgd_resolve,
    .state_names = {"momentum_buffer"},
    .slot = sgd_slot,
    .update = sgd_update,
};

nb_optimizer *nb_sgd(nb_params *params, const nb_sgd_opts *opts) { return nbopt_new(&nbopt_sgd_kind, params, opts); }
