/* optim/rmsprop.c — RMSprop (plain, centered, with momentum, with L2 weight decay), exactly as
 * torch.optim.RMSprop's single-tensor loop: the option defaults and checks, the state layout
 * ("square_avg", "momentum_buffer" when momentum > 0, "grad_avg" when centered, plus the step) and
 * the update kernel. It is not the step loop or parameter handling (optimizer.c).
 */
#include "optim_internal.h"

#include <math.h>

static int rmsprop_resolve(const char *fn, const void *in, nbopt_opts *out) {
    nb_rmsprop_opts o = in ? *(const nb_rmsprop_opts *)in : (nb_rmsprop_opts){0};
    o.lr = nbopt_default(o.lr, 1e-2);
    o.alpha = nbopt_default(o.alpha, 0.99);
    o.eps = nbopt_default(o.eps, 1e-8);
    int rc;
    if ((rc = nbopt_check_nonneg(fn, "lr", o.lr)) || (rc = nbopt_check_nonneg(fn, "alpha", o.alpha)) ||
        (rc = nbopt_check_nonneg(fn, "eps", o.eps)) || (rc = nbopt_check_nonneg(fn, "weight_decay", o.weight_decay)) ||
        (rc = nbopt_check_nonneg(fn, "momentum", o.momentum)))
        return rc;
    out->rmsprop = o;
    return 0;
}

static bool rmsprop_slot(const nbopt_opts *o, int k, double *fill) {
    *fill = 0;
    return k == 0 || (k == 1 && o->rmsprop.momentum > 0) || (k == 2 && o->rmsprop.centered);
}

static inline double lerp(double self, double end, double w) {
    return fabs(w) < 0.5 ? self + w * (end - self) : end - (end - self) * (1 - w);
}

#define RMSPROP_KERNEL(T, SUF)                                                                     \
    static void rmsprop_range_##SUF(void *ctx, int64_t begin, int64_t end) {                       \
        const nbopt_job *j = ctx;                                                                  \
        const nb_rmsprop_opts *o = &j->opts->rmsprop;                                              \
        T *p = j->p, *sq = j->buf[0], *buf = j->buf[1], *ga = j->buf[2];                           \
        const T *g = j->g;                                                                         \
        const double wd = o->weight_decay, alpha = o->alpha, w = 1 - o->alpha, eps = o->eps;       \
        const double mom = o->momentum, nlr = -j->lr;                                              \
        for (int64_t i = begin; i < end; i++) {                                                    \
            double d = g[i];                                                                       \
            if (wd != 0) d = d + wd * (double)p[i];                                                \
            T s = sq[i] = (T)((double)(T)((double)sq[i] * alpha) + w * d * d);                     \
            double avg;                                                                            \
            if (o->centered) {                                                                     \
                T a = ga[i] = (T)lerp(ga[i], d, w);                                                \
                avg = sqrt((double)(T)((double)s + -1.0 * (double)a * (double)a));                 \
            } else {                                                                               \
                avg = sqrt((double)s);                                                             \
            }                                                                                      \
            avg = (double)(T)avg + eps;                                                            \
            if (mom > 0) {                                                                         \
                T b = buf[i] = (T)((double)(T)((double)buf[i] * mom) + d / avg);                   \
                p[i] = (T)((double)p[i] + nlr * (double)b);                                        \
            } else {                                                                               \
                p[i] = (T)((double)p[i] + nlr * d / avg);                                          \
            }                                                                                      \
        }                                                                                          \
    }
RMSPROP_KERNEL(float, f32)
RMSPROP_KERNEL(double, f64)

static void rmsprop_update(const nbopt_job *j) {
    nbc_parallel_for(j->n, NBOPT_GRAIN, j->dtype == NB_F64 ? rmsprop_range_f64 : rmsprop_range_f32, (void *)j);
}

const nbopt_kind nbopt_rmsprop_kind = {
    .fn = "nb_rmsprop",
    .type = "RMSprop",
    .resolve = rmsprop_resolve,
    .state_names = {"square_avg", "momentum_buffer", "grad_avg"},
    .slot = rmsprop_slot,
    .update = rmsprop_update,
};

nb_optimizer *nb_rmsprop(nb_params *params, const nb_rmsprop_opts *opts) {
    return nbopt_new(&nbopt_rmsprop_kind, params, opts);
}
