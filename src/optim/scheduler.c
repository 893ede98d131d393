/* optim/scheduler.c — learning-rate schedulers that follow torch.optim.lr_scheduler step for step:
 * StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR (all in PyTorch's recursive
 * get_lr form, which reads each group's current lr, so values agree with PyTorch to the last bit or
 * so), OneCycleLR (cosine annealing, learning rate only) and ReduceLROnPlateau (mode min, relative
 * threshold 1e-4, no cooldown). Construction performs PyTorch's initial step (last_epoch 0) and
 * records each group's initial_lr the way PyTorch's setdefault does. It is not an optimiser: it only
 * writes nbopt_group.lr.
 */
#include "optim_internal.h"

#include <math.h>
#include <string.h>

typedef enum { S_STEP, S_MULTISTEP, S_EXP, S_COSINE, S_ONECYCLE, S_LINEAR, S_PLATEAU } skind;

struct nb_scheduler {
    skind kind;
    nb_optimizer *opt; /* borrowed */
    int n_groups;      /* groups the scheduler was made for (PyTorch zips with strict=True) */
    double *base_lrs;  /* [n_groups] initial lrs */
    int64_t last_epoch;
    int64_t step_count;
    bool initial;      /* inside the constructor's initial step (PyTorch's _is_initial) */
    double last_lr;    /* group 0 after the last step */
    /* parameters */
    int step_size;
    double gamma, eta_min, start_factor, end_factor;
    int t_max, total;
    int *milestones;
    int n_milestones;
    double *max_lrs, *min_lrs; /* one-cycle, per group */
    /* reduce-on-plateau */
    double factor, min_lr, best;
    int patience, num_bad;
};

static const char *kind_fn(skind k) {
    static const char *names[] = {"nb_step_lr", "nb_multistep_lr", "nb_exponential_lr", "nb_cosine_annealing_lr",
                                  "nb_one_cycle_lr", "nb_linear_lr", "nb_reduce_lr_on_plateau"};
    return names[k];
}

void nb_scheduler_free(nb_scheduler *s) {
    if (!s) return;
    size_t ng = (size_t)(s->n_groups ? s->n_groups : 1);
    nbc_raw_free(s->base_lrs, ng * sizeof(double));
    nbc_raw_free(s->max_lrs, s->max_lrs ? ng * sizeof(double) : 0);
    nbc_raw_free(s->min_lrs, s->min_lrs ? ng * sizeof(double) : 0);
    nbc_raw_free(s->milestones, s->milestones ? (size_t)(s->n_milestones ? s->n_milestones : 1) * sizeof(int) : 0);
    nbc_raw_free(s, sizeof *s);
}

static nb_scheduler *sched_alloc(skind kind, nb_optimizer *opt) {
    const char *fn = kind_fn(kind);
    if (!opt) return nbc_error(NB_ERR_ARG, "%s: optimiser is NULL", fn), NULL;
    nb_scheduler *s = nbc_calloc(fn, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->opt = opt;
    s->n_groups = opt->n_groups;
    s->last_epoch = -1;
    s->base_lrs = nbc_calloc(fn, (size_t)(s->n_groups ? s->n_groups : 1) * sizeof(double));
    if (!s->base_lrs) {
        nbc_raw_free(s, sizeof *s);
        return NULL;
    }
    return s;
}

/* The new lr of group g for the current last_epoch (PyTorch's get_lr for one group). */
static double next_lr(const nb_scheduler *s, int g) {
    double lr = s->opt->groups[g].lr, base = s->base_lrs[g];
    int64_t e = s->last_epoch;
    switch (s->kind) {
    case S_STEP:
        if (e == 0 || e % s->step_size != 0) return lr;
        return lr * s->gamma;
    case S_MULTISTEP: {
        int count = 0;
        for (int k = 0; k < s->n_milestones; k++) count += s->milestones[k] == e;
        return count ? lr * pow(s->gamma, count) : lr;
    }
    case S_EXP:
        return s->initial ? lr : lr * s->gamma;
    case S_COSINE: {
        if (s->initial) return lr;
        const double pi = 3.14159265358979323846, T = s->t_max;
        if (s->step_count == 1 && e > 0) return s->eta_min + (base - s->eta_min) * (1 + cos((double)e * pi / T)) / 2;
        int64_t m = 2 * (int64_t)s->t_max, r = ((e - 1 - s->t_max) % m + m) % m;
        if (r == 0) return lr + (base - s->eta_min) * (1 - cos(pi / T)) / 2;
        return (1 + cos(pi * (double)e / T)) / (1 + cos(pi * (double)(e - 1) / T)) * (lr - s->eta_min) + s->eta_min;
    }
    case S_LINEAR:
        if (e == 0) return lr * s->start_factor;
        if (s->initial || e > s->total) return lr;
        return lr * (1.0 + (s->end_factor - s->start_factor) /
                               ((double)s->total * s->start_factor + (double)(e - 1) * (s->end_factor - s->start_factor)));
    case S_ONECYCLE: {
        const double pi = 3.14159265358979323846;
        /* two phases: [0, pct*total - 1] initial -> max, then -> min at total - 1 */
        double end1 = 0.3 * (double)s->total - 1, end2 = (double)s->total - 1, step = (double)e;
        double start, endv, pct;
        if (step <= end1) {
            pct = (step - 0.0) / (end1 - 0.0);
            start = base;
            endv = s->max_lrs[g];
        } else {
            pct = (step - end1) / (end2 - end1);
            start = s->max_lrs[g];
            endv = s->min_lrs[g];
        }
        double cos_out = cos(pi * pct) + 1;
        return endv + (start - endv) / 2.0 * cos_out;
    }
    case S_PLATEAU:
        break;
    }
    return lr;
}

static int check_groups(const char *fn, const nb_scheduler *s) {
    if (s->opt->n_groups != s->n_groups)
        return nbc_error(NB_ERR_STATE, "%s: the optimiser has %d parameter groups but had %d when the scheduler was "
                         "made", fn, s->opt->n_groups, s->n_groups);
    return 0;
}

/* PyTorch's LRScheduler.step() without an epoch argument. */
static int sched_step(nb_scheduler *s, const char *fn) {
    int rc = check_groups(fn, s);
    if (rc) return rc;
    if (s->kind == S_ONECYCLE && s->last_epoch + 1 > s->total)
        return nbc_error(NB_ERR_STATE, "%s: tried to step %lld times; the one-cycle schedule has total_steps %d", fn,
                         (long long)(s->last_epoch + 1), s->total);
    s->step_count++;
    s->last_epoch++;
    double lrs[64], *v = s->n_groups <= 64 ? lrs : nbc_calloc(fn, (size_t)s->n_groups * sizeof(double));
    if (!v) return NB_ERR_NOMEM;
    for (int g = 0; g < s->n_groups; g++) v[g] = next_lr(s, g);
    for (int g = 0; g < s->n_groups; g++) s->opt->groups[g].lr = v[g];
    if (v != lrs) nbc_raw_free(v, (size_t)s->n_groups * sizeof(double));
    s->last_lr = s->n_groups ? s->opt->groups[0].lr : NAN;
    return 0;
}

/* The common end of every constructor except plateau: base_lrs from initial_lr, initial step. */
static nb_scheduler *sched_start(nb_scheduler *s) {
    for (int g = 0; g < s->n_groups; g++) {
        nbopt_group *gr = &s->opt->groups[g];
        if (!gr->has_initial_lr) {
            gr->initial_lr = gr->lr;
            gr->has_initial_lr = true;
        }
        s->base_lrs[g] = gr->initial_lr;
    }
    s->initial = true;
    int rc = sched_step(s, kind_fn(s->kind));
    s->initial = false;
    if (rc) {
        nb_scheduler_free(s);
        return NULL;
    }
    return s;
}

static bool bad_factor(const char *fn, const char *name, double v) {
    if (v >= 0 && isfinite(v)) return false;
    nbc_error(NB_ERR_ARG, "%s: %s must be a finite number >= 0; got %g", fn, name, v);
    return true;
}

nb_scheduler *nb_step_lr(nb_optimizer *opt, int step_size, double gamma) {
    static const char fn[] = "nb_step_lr";
    if (step_size <= 0) return nbc_error(NB_ERR_ARG, "%s: step_size must be > 0; got %d", fn, step_size), NULL;
    if (bad_factor(fn, "gamma", gamma)) return NULL;
    nb_scheduler *s = sched_alloc(S_STEP, opt);
    if (!s) return NULL;
    s->step_size = step_size;
    s->gamma = gamma;
    return sched_start(s);
}

nb_scheduler *nb_multistep_lr(nb_optimizer *opt, const int *milestones, int n_milestones, double gamma) {
    static const char fn[] = "nb_multistep_lr";
    if (n_milestones < 0 || (n_milestones > 0 && !milestones))
        return nbc_error(NB_ERR_ARG, "%s: %d milestones given with a %s array", fn, n_milestones,
                         milestones ? "non-NULL" : "NULL"), NULL;
    if (bad_factor(fn, "gamma", gamma)) return NULL;
    nb_scheduler *s = sched_alloc(S_MULTISTEP, opt);
    if (!s) return NULL;
    s->gamma = gamma;
    s->n_milestones = n_milestones;
    s->milestones = nbc_calloc(fn, (size_t)(n_milestones ? n_milestones : 1) * sizeof(int));
    if (!s->milestones) {
        nb_scheduler_free(s);
        return NULL;
    }
    if (n_milestones) memcpy(s->milestones, milestones, (size_t)n_milestones * sizeof(int));
    return sched_start(s);
}

nb_scheduler *nb_exponential_lr(nb_optimizer *opt, double gamma) {
    if (bad_factor("nb_exponential_lr", "gamma", gamma)) return NULL;
    nb_scheduler *s = sched_alloc(S_EXP, opt);
    if (!s) return NULL;
    s->gamma = gamma;
    return sched_start(s);
}

nb_scheduler *nb_cosine_annealing_lr(nb_optimizer *opt, int t_max, double eta_min) {
    static const char fn[] = "nb_cosine_annealing_lr";
    if (t_max <= 0) return nbc_error(NB_ERR_ARG, "%s: t_max must be > 0; got %d", fn, t_max), NULL;
    if (bad_factor(fn, "eta_min", eta_min)) return NULL;
    nb_scheduler *s = sched_alloc(S_COSINE, opt);
    if (!s) return NULL;
    s->t_max = t_max;
    s->eta_min = eta_min;
    return sched_start(s);
}

nb_scheduler *nb_one_cycle_lr(nb_optimizer *opt, double max_lr, int total_steps) {
    static const char fn[] = "nb_one_cycle_lr";
    if (bad_factor(fn, "max_lr", max_lr)) return NULL;
    if (total_steps <= 0)
        return nbc_error(NB_ERR_ARG, "%s: total_steps must be > 0; got %d", fn, total_steps), NULL;
    nb_scheduler *s = sched_alloc(S_ONECYCLE, opt);
    if (!s) return NULL;
    s->total = total_steps;
    size_t ng = (size_t)(s->n_groups ? s->n_groups : 1);
    s->max_lrs = nbc_calloc(fn, ng * sizeof(double));
    s->min_lrs = s->max_lrs ? nbc_calloc(fn, ng * sizeof(double)) : NULL;
    if (!s->min_lrs) {
        nb_scheduler_free(s);
        return NULL;
    }
    /* PyTorch overwrites initial_lr (div_factor 25, final_div_factor 1e4). */
    for (int g = 0; g < s->n_groups; g++) {
        nbopt_group *gr = &opt->groups[g];
        gr->initial_lr = max_lr / 25.0;
        gr->has_initial_lr = true;
        s->max_lrs[g] = max_lr;
        s->min_lrs[g] = gr->initial_lr / 1e4;
    }
    return sched_start(s);
}

nb_scheduler *nb_linear_lr(nb_optimizer *opt, double start_factor, double end_factor, int total_iters) {
    static const char fn[] = "nb_linear_lr";
    if (!(start_factor > 0 && start_factor <= 1))
        return nbc_error(NB_ERR_ARG, "%s: start_factor must be in (0, 1]; got %g", fn, start_factor), NULL;
    if (!(end_factor >= 0 && end_factor <= 1))
        return nbc_error(NB_ERR_ARG, "%s: end_factor must be in [0, 1]; got %g", fn, end_factor), NULL;
    if (total_iters <= 0) return nbc_error(NB_ERR_ARG, "%s: total_iters must be > 0; got %d", fn, total_iters), NULL;
    nb_scheduler *s = sched_alloc(S_LINEAR, opt);
    if (!s) return NULL;
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total = total_iters;
    return sched_start(s);
}

nb_scheduler *nb_reduce_lr_on_plateau(nb_optimizer *opt, double factor, int patience, double min_lr) {
    static const char fn[] = "nb_reduce_lr_on_plateau";
    if (!(factor >= 0 && factor < 1))
        return nbc_error(NB_ERR_ARG, "%s: factor must be in [0, 1); got %g", fn, factor), NULL;
    if (patience < 0) return nbc_error(NB_ERR_ARG, "%s: patience must be >= 0; got %d", fn, patience), NULL;
    if (bad_factor(fn, "min_lr", min_lr)) return NULL;
    nb_scheduler *s = sched_alloc(S_PLATEAU, opt);
    if (!s) return NULL;
    s->factor = factor;
    s->patience = patience;
    s->min_lr = min_lr;
    s->best = INFINITY;
    s->last_epoch = 0;
    s->last_lr = opt->n_groups ? opt->groups[0].lr : NAN;
    return s;
}

static int plateau_step(nb_scheduler *s, double metric) {
    const double threshold = 1e-4, eps = 1e-8;
    s->last_epoch++;
    if (metric < s->best * (1.0 - threshold)) {
        s->best = metric;
        s->num_bad = 0;
    } else {
        s->num_bad++;
    }
    if (s->num_bad > s->patience) {
        /* a scalar min_lr applies to every group, also ones added since construction */
        for (int g = 0; g < s->opt->n_groups; g++) {
            double old = s->opt->groups[g].lr, nw = fmax(old * s->factor, s->min_lr);
            if (old - nw > eps) s->opt->groups[g].lr = nw;
        }
        s->num_bad = 0;
    }
    s->last_lr = s->opt->n_groups ? s->opt->groups[0].lr : NAN;
    return 0;
}

int nb_scheduler_step(nb_scheduler *s, double metric) {
    static const char fn[] = "nb_scheduler_step";
    if (!s) return nbc_error(NB_ERR_ARG, "%s: scheduler is NULL", fn);
    if (s->kind == S_PLATEAU) return plateau_step(s, metric);
    return sched_step(s, fn);
}

double nb_scheduler_get_lr(const nb_scheduler *s) {
    if (!s) return nbc_error(NB_ERR_ARG, "nb_scheduler_get_lr: scheduler is NULL"), NAN;
    return s->last_lr;
}

/* ---- checkpoint state (optim_internal.h) --------------------------------------------------------- */

void nbopt_sched_get(const nb_scheduler *s, nbopt_sched_state *st) {
    static const char *types[] = {"StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR",
                                  "LinearLR", "ReduceLROnPlateau"};
    st->type = types[s->kind];
    st->opt = s->opt;
    st->n_groups = s->n_groups;
    st->last_epoch = s->last_epoch;
    st->step_count = s->step_count;
    st->last_lr = s->last_lr;
    st->best = s->best;
    st->num_bad = s->num_bad;
    st->base_lrs = s->base_lrs;
}

void nbopt_sched_set(nb_scheduler *s, const nbopt_sched_state *st) {
    s->last_epoch = st->last_epoch;
    s->step_count = st->step_count;
    s->last_lr = st->last_lr;
    s->best = st->best;
    s->num_bad = st->num_bad;
    for (int g = 0; g < s->n_groups && g < st->n_groups; g++) s->base_lrs[g] = st->base_lrs[g];
}
