/* optim/adagrad.c — Adagrad with learning-rate decay, L2 weight decay and an initial accumulator
 * value, exactly as torch.optim.Adagrad's single-tensor loop (dense gradients): the option defaults
 * and checks, the state layout ("sum", created when the parameter joins, plus the step) and the
 * update kernel (clr = lr / (1 + (t - 1) * lr_decay)). It is not the step loop or parameter handling
 * (optimizer.c); sparse gradients do not exist in nabla.
 */
#include "optim_internal.h"

#include <math.h>

static int adagrad_resolve(const char *fn, const void *in, nbopt_opts *out) {
    nb_adagrad_opts o = in ? *(const nb_adagrad_opts *)in : (nb_adagrad_opts){0};
    o.lr = nbopt_default(o.lr, 1e-2);
    o.eps = nbopt_default(o.eps, 1e-10);
    int rc;
    if ((rc = nbopt_check_nonneg(fn, "lr", o.lr)) || (rc = nbopt_check_nonneg(fn, "lr_decay", o.lr_decay)) ||
        (rc = nbopt_check_nonneg(fn, "weight_decay", o.weight_decay)) ||
        (rc = nbopt_check_nonneg(fn, "initial_accumulator_value", o.initial_accumulator_value)) ||
        (rc = nbopt_check_nonneg(fn, "eps", o.eps)))
        return rc;
    out->adagrad = o;
    return 0;
}

static bool adagrad_slot(const nbopt_opts *o, int k, double *fill) {
    *fill = o->adagrad.initial_accumulator_value;
    return k == 0;
}

typedef struct adagrad_ctx {
    const nbopt_job *j;
    double nclr;
} adagrad_ctx;

#define ADAGRAD_KERNEL(T, SUF)                                                                     \
    static void adagrad_range_##SUF(void *ctx, int64_t begin, int64_t end) {                       \
        const adagrad_ctx *c = ctx;                                                                \
        const nbopt_job *j = c->j;                                                                 \
        T *p = j->p, *sum = j->buf[0];                                                             \
        const T *g = j->g;                                                                         \
        const double wd = j->opts->adagrad.weight_decay, eps = j->opts->adagrad.eps, nclr = c->nclr; \
        for (int64_t i = begin; i < end; i++) {                                                    \
            double d = g[i];                                                                       \
            if (wd != 0) d = d + wd * (double)p[i];                                                \
            T s = sum[i] = (T)((double)sum[i] + 1.0 * d * d);                                      \
            double std = (double)(T)sqrt((double)s) + eps;                                         \
            p[i] = (T)((double)p[i] + nclr * d / std);                                             \
        }                                                                                          \
    }
ADAGRAD_KERNEL(float, f32)
ADAGRAD_KERNEL(double, f64)

static void adagrad_update(const nbopt_job *j) {
    const nb_adagrad_opts *o = &j->opts->adagrad;
    adagrad_ctx c = {.j = j, .nclr = -(j->lr / (1 + (double)(j->step - 1) * o->lr_decay))};
    nbc_parallel_for(j->n, NBOPT_GRAIN, j->dtype == NB_F64 ? adagrad_range_f64 : adagrad_range_f32, &c);
}

const nbopt_kind nbopt_adagrad_kind = {
    .fn = "nb_adagrad",
    .type = "Adagrad",
    .resolve = adagrad_resolve,
    .state_names = {"sum"},
    .slot = adagrad_slot,
    .eager_state = true,
    .update = adagrad_update,
};

nb_optimizer *nb_adagrad(nb_params *params, const nb_adagrad_opts *opts) {
    return nbopt_new(&nbopt_adagrad_kind, params, opts);
}
