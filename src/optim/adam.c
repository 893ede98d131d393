/* optim/adam.c — Adam and AdamW (with the amsgrad variant), exactly as torch.optim.Adam / AdamW's
 * single-tensor loop: the option defaults and checks, the state layout ("exp_avg", "exp_avg_sq",
 * "max_exp_avg_sq", plus the per-parameter step) and the update kernel with bias correction
 * (step_size = lr / (1 - beta1^t), denom = sqrt(v) / sqrt(1 - beta2^t) + eps). Adam adds weight decay
 * to the gradient (L2); AdamW first multiplies the parameter by 1 - lr * weight_decay (decoupled).
 * It is not the step loop or parameter handling (optimizer.c).
 */
#include "optim_internal.h"

#include <math.h>

/* clang contracts a * b + c into an FMA by default once a target has one; the levels of the f32 loop
 * below must round alike (gcc in ISO C mode does not contract). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static int resolve(const char *fn, const void *in, nbopt_opts *out, double wd_default) {
    nb_adam_opts o = in ? *(const nb_adam_opts *)in : (nb_adam_opts){0};
    o.lr = nbopt_default(o.lr, 1e-3);
    o.beta1 = nbopt_default(o.beta1, 0.9);
    o.beta2 = nbopt_default(o.beta2, 0.999);
    o.eps = nbopt_default(o.eps, 1e-8);
    o.weight_decay = nbopt_default(o.weight_decay, wd_default);
    int rc;
    if ((rc = nbopt_check_nonneg(fn, "lr", o.lr)) || (rc = nbopt_check_beta(fn, "beta1", o.beta1)) ||
        (rc = nbopt_check_beta(fn, "beta2", o.beta2)) || (rc = nbopt_check_nonneg(fn, "eps", o.eps)) ||
        (rc = nbopt_check_nonneg(fn, "weight_decay", o.weight_decay)))
        return rc;
    out->adam = o;
    return 0;
}
static int adam_resolve(const char *fn, const void *in, nbopt_opts *out) { return resolve(fn, in, out, 0); }
static int adamw_resolve(const char *fn, const void *in, nbopt_opts *out) { return resolve(fn, in, out, 1e-2); }

static bool adam_slot(const nbopt_opts *o, int k, double *fill) {
    *fill = 0;
    return k < 2 || (k == 2 && o->adam.amsgrad);
}

typedef struct adam_ctx {
    const nbopt_job *j;
    bool decoupled;
    double step_size, bc2_sqrt;
} adam_ctx;

/* exp_avg.lerp_(grad, w) as ATen computes it. */
static inline double lerp(double self, double end, double w) {
    return fabs(w) < 0.5 ? self + w * (end - self) : end - (end - self) * (1 - w);
}

#define ADAM_KERNEL(T, SUF)                                                                        \
    static void adam_range_##SUF(void *ctx, int64_t begin, int64_t end) {                          \
        const adam_ctx *c = ctx;                                                                   \
        const nbopt_job *j = c->j;                                                                 \
        const nb_adam_opts *o = &j->opts->adam;                                                    \
        T *p = j->p, *m = j->buf[0], *v = j->buf[1], *vmax = j->buf[2];                            \
        const T *g = j->g;                                                                         \
        const double wd = o->weight_decay, decay = 1 - j->lr * o->weight_decay, w1 = 1 - o->beta1;  \
        const double b2 = o->beta2, w2 = 1 - o->beta2, eps = o->eps, nss = -c->step_size;          \
        const double bc2s = c->bc2_sqrt;                                                           \
        for (int64_t i = begin; i < end; i++) {                                                    \
            double pi = p[i], d = g[i];                                                            \
            if (wd != 0) {                                                                         \
                if (c->decoupled)                                                                  \
                    pi = (T)(pi * decay);                                                          \
                else                                                                               \
                    d = d + wd * pi;                                                               \
            }                                                                                      \
            T mi = m[i] = (T)lerp(m[i], d, w1);                                                    \
            T vi = v[i] = (T)((double)(T)((double)v[i] * b2) + w2 * d * d);                        \
            if (o->amsgrad) vi = vmax[i] = vmax[i] > vi ? vmax[i] : vi;                            \
            double denom = sqrt((double)vi) / bc2s + eps;                                          \
            p[i] = (T)(pi + nss * (double)mi / denom);                                             \
        }                                                                                          \
    }
ADAM_KERNEL(float, f32_exact)
ADAM_KERNEL(double, f64)

/* The f32 update in f32 arithmetic, as PyTorch computes it for f32 parameters (lerp with a weight
 * below 0.5 is self + w * (end - self)), with the option branches hoisted out of the loop so the
 * compiler vectorises it: the optimiser step is a large share of a small model's training time.
 * amsgrad and betas with 1 - beta1 >= 0.5 take the exact loop above. */
#define ADAM_F32_LOOP(PRE)                                                                         \
    for (int64_t i = begin; i < end; i++) {                                                        \
        float pi = p[i], d = g[i];                                                                 \
        PRE;                                                                                       \
        float mi = m[i] + w1 * (d - m[i]);                                                         \
        float vi = v[i] * b2 + w2 * d * d;                                                         \
        m[i] = mi;                                                                                 \
        v[i] = vi;                                                                                 \
        p[i] = pi - ss * mi / (sqrtf(vi) / bc2s + eps);                                            \
    }

/* One body, compiled for the baseline and (on x86) for AVX2 and AVX-512: the loop is bound by its
 * square root and two divisions, which the baseline build runs 4 lanes wide. Every level runs the same
 * IEEE operations in the same order (no contraction into FMA: see the pragma below), so the bits do
 * not depend on the level. */
#define ADAM_F32_BODY(NAME, ATTR)                                                                  \
    ATTR static void NAME(const adam_ctx *c, int64_t begin, int64_t end) {                         \
        const nbopt_job *j = c->j;                                                                 \
        const nb_adam_opts *o = &j->opts->adam;                                                    \
        float *restrict p = j->p, *restrict m = j->buf[0], *restrict v = j->buf[1];                \
        const float *restrict g = j->g;                                                            \
        const float w1 = (float)(1 - o->beta1), b2 = (float)o->beta2, w2 = (float)(1 - o->beta2);  \
        const float eps = (float)o->eps, ss = (float)c->step_size, bc2s = (float)c->bc2_sqrt;      \
        const float wd = (float)o->weight_decay, decay = (float)(1 - j->lr * o->weight_decay);     \
        if (o->weight_decay == 0) {                                                                \
            ADAM_F32_LOOP((void)0)                                                                 \
        } else if (c->decoupled) {                                                                 \
            ADAM_F32_LOOP(pi *= decay)                                                             \
        } else {                                                                                   \
            ADAM_F32_LOOP(d += wd * pi)                                                            \
        }                                                                                          \
    }
ADAM_F32_BODY(adam_f32_base, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ADAM_X86 1
ADAM_F32_BODY(adam_f32_avx2, __attribute__((target("avx2"))))
ADAM_F32_BODY(adam_f32_avx512, __attribute__((target("avx512f"))))
#endif

static void adam_range_f32(void *ctx, int64_t begin, int64_t end) {
    const adam_ctx *c = ctx;
    const nb_adam_opts *o = &c->j->opts->adam;
    if (o->amsgrad || 1 - o->beta1 >= 0.5) {
        adam_range_f32_exact(ctx, begin, end);
        return;
    }
#ifdef ADAM_X86
    unsigned f = nb_cpu_features();
    if (f & NB_CPU_AVX512F) {
        adam_f32_avx512(c, begin, end);
        return;
    }
    if (f & NB_CPU_AVX2) {
        adam_f32_avx2(c, begin, end);
        return;
    }
#endif
    adam_f32_base(c, begin, end);
}

static void update(const nbopt_job *j, bool decoupled) {
    const nb_adam_opts *o = &j->opts->adam;
    double bc1 = 1 - pow(o->beta1, (double)j->step), bc2 = 1 - pow(o->beta2, (double)j->step);
    adam_ctx c = {.j = j, .decoupled = decoupled, .step_size = j->lr / bc1, .bc2_sqrt = sqrt(bc2)};
    nbc_parallel_for(j->n, NBOPT_GRAIN, j->dtype == NB_F64 ? adam_range_f64 : adam_range_f32, &c);
}
static void adam_update(const nbopt_job *j) { update(j, false); }
static void adamw_update(const nbopt_job *j) { update(j, true); }

const nbopt_kind nbopt_adam_kind = {
    .fn = "nb_adam",
    .type = "Adam",
    .resolve = adam_resolve,
    .state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    .slot = adam_slot,
    .update = adam_update,
};

const nbopt_kind nbopt_adamw_kind = {
    .fn = "nb_adamw",
    .type = "AdamW",
    .resolve = adamw_resolve,
    .state_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    .slot = adam_slot,
    .update = adamw_update,
};

nb_optimizer *nb_adam(nb_params *params, const nb_adam_opts *opts) { return nbopt_new(&nbopt_adam_kind, params, opts); }
nb_optimizer *nb_adamw(nb_params *params, const nb_adam_opts *opts) {
    return nbopt_new(&nbopt_adamw_kind, params, opts);
}
