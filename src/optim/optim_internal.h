/* optim/optim_internal.h — private structures of the optimiser layer: the optimiser object, its
 * parameter groups, the per-parameter state, and the table each optimiser kind (SGD, Adam, ...)
 * fills in. optimizer.c owns the object's life cycle and the step loop; sgd.c, adam.c, rmsprop.c and
 * adagrad.c each provide one nbopt_kind (option defaults, validation, state layout, update kernel);
 * scheduler.c reads and writes group learning rates through this header. Checkpoint code may read the
 * state through it too: every state buffer is a tensor, named like PyTorch's optimizer state_dict.
 * Prefix: nbopt_.
 */
#ifndef NABLA_OPTIM_INTERNAL_H
#define NABLA_OPTIM_INTERNAL_H

#include "../nn/nn_internal.h"

#define NBOPT_MAX_STATE 3

/* The resolved options of one group (defaults applied, validated). */
typedef union nbopt_opts {
    nb_sgd_opts sgd;
    nb_adam_opts adam;
    nb_rmsprop_opts rmsprop;
    nb_adagrad_opts adagrad;
} nbopt_opts;

/* State of one parameter. `step` counts the updates applied to this parameter (PyTorch's
 * state["step"]; SGD keeps it too, though PyTorch's SGD does not export it). buf[k] is the state
 * tensor named kind->state_names[k]: contiguous, with the parameter's dtype and shape, owned by the
 * optimiser, NULL when these options do not use slot k or before the parameter's first update.
 * A parameter "has state" (an entry in PyTorch's state_dict) iff nbopt_has_state() says so. */
typedef struct nbopt_pstate {
    int64_t step;
    bool created; /* buffers allocated (lazily at the first update, or at add time for Adagrad) */
    nb_tensor *buf[NBOPT_MAX_STATE];
} nbopt_pstate;

typedef struct nbopt_group {
    nb_params *params;    /* owned */
    nbopt_opts opts;      /* resolved; opts.*.lr is NOT used after construction: see lr */
    double lr;            /* the current learning rate (schedulers change it) */
    double initial_lr;    /* PyTorch's group["initial_lr"], set by the first scheduler */
    bool has_initial_lr;
    nbopt_pstate *state;  /* [params->n] */
} nbopt_group;

/* Update job handed to a kind's kernel: one parameter, all pointers to contiguous data of `dtype`. */
typedef struct nbopt_job {
    const nbopt_opts *opts;
    double lr;
    int64_t step;  /* this parameter's step count, already incremented for this update (1 = first) */
    nb_dtype dtype; /* NB_F32 or NB_F64 */
    int64_t n;
    void *p;
    const void *g;
    void *buf[NBOPT_MAX_STATE];
} nbopt_job;

typedef struct nbopt_kind {
    const char *fn;   /* constructor name for messages: "nb_adam" */
    const char *type; /* PyTorch class name: "Adam" */
    /* Fill *out from in (NULL: all defaults), applying defaults and validating. 0 or nb_status; the
     * error names fn and the offending value. */
    int (*resolve)(const char *fn, const void *in, nbopt_opts *out);
    /* PyTorch state_dict key of each buffer slot, in PyTorch's order ("exp_avg", ...). */
    const char *state_names[NBOPT_MAX_STATE];
    /* Whether slot k is used with these options; *fill receives its initial value. */
    bool (*slot)(const nbopt_opts *o, int k, double *fill);
    /* Create state when the parameter joins the optimiser (Adagrad) rather than at its first update. */
    bool eager_state;
    /* Apply one update (parallel inside as it sees fit). Cannot fail. */
    void (*update)(const nbopt_job *job);
} nbopt_kind;

extern const nbopt_kind nbopt_sgd_kind, nbopt_adam_kind, nbopt_adamw_kind, nbopt_rmsprop_kind, nbopt_adagrad_kind;

struct nb_optimizer {
    const nbopt_kind *kind;
    nbopt_opts defaults; /* the constructor's options: PyTorch's optimizer.defaults */
    int n_groups, cap;
    nbopt_group *groups;
    int64_t steps;       /* completed nb_optimizer_step calls */
};

/* Build an optimiser of the given kind with one group. Takes ownership of params. */
nb_optimizer *nbopt_new(const nbopt_kind *kind, nb_params *params, const void *opts);
/* Whether parameter i of group g has an entry in PyTorch's state_dict (it has been updated at least
 * once, or its optimiser creates state eagerly). */
bool nbopt_has_state(const nb_optimizer *opt, int g, int i);
/* Allocate parameter i of group g's buffers (initial values) if not yet done: for restoring a
 * checkpoint into a fresh optimiser. Returns 0 or a negative nb_status. */
int nbopt_state_ensure(nb_optimizer *opt, int g, int i);

/* Scheduler state for checkpoints (scheduler.c): what changes as the scheduler steps. base_lrs has
 * n_groups entries (the scheduler's own array). */
typedef struct nbopt_sched_state {
    const char *type;     /* PyTorch class name: "StepLR", "OneCycleLR", ... */
    const nb_optimizer *opt;
    int n_groups;
    int64_t last_epoch, step_count;
    double last_lr, best;
    int num_bad;
    const double *base_lrs;
} nbopt_sched_state;
/* Read s's state (pointers borrowed from s). */
void nbopt_sched_get(const nb_scheduler *s, nbopt_sched_state *st);
/* Restore the stepping state (type, opt and n_groups are not changed: the caller checks them). */
void nbopt_sched_set(nb_scheduler *s, const nbopt_sched_state *st);

/* opts field helpers: a field left +0.0 takes def; NB_OPT_ZERO (-0.0) asks for a literal zero. */
double nbopt_default(double v, double def);
/* Range checks that set an error naming fn, the field and the value. */
int nbopt_check_nonneg(const char *fn, const char *field, double v);
int nbopt_check_beta(const char *fn, const char *field, double v);

/* A contiguous parameter-sized float loop split over the thread pool: elementwise work only (no
 * cross-element dependence), so results do not depend on the thread count. */
#define NBOPT_GRAIN 32768

#endif
