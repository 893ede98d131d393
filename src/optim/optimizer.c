/* optim/optimizer.c — the optimiser object shared by every kind: parameter groups (each with its own
 * resolved options, learning rate and per-parameter state tensors), the step loop, zero_grad, lr
 * access and freeing. It validates parameters (leaf f32/f64 tensors, each in at most one group),
 * prepares each gradient (contiguous, in the parameter's dtype) and then hands one parameter at a
 * time to the kind's update kernel, which writes the parameter's data directly, outside autograd,
 * after which the parameter's version counter is bumped. It is not the update arithmetic (sgd.c,
 * adam.c, rmsprop.c, adagrad.c) nor learning-rate scheduling (scheduler.c).
 */
#include "optim_internal.h"

#include <math.h>
#include <string.h>

/* ---- option helpers ----------------------------------------------------------------------------- */

double nbopt_default(double v, double def) {
    if (v != 0) return v;
    return signbit(v) ? 0.0 : def;
}

int nbopt_check_nonneg(const char *fn, const char *field, double v) {
    if (!(v >= 0) || isinf(v))
        return nbc_error(NB_ERR_ARG, "%s: %s must be a finite number >= 0; got %g", fn, field, v);
    return 0;
}

int nbopt_check_beta(const char *fn, const char *field, double v) {
    if (!(v >= 0 && v < 1)) return nbc_error(NB_ERR_ARG, "%s: %s must be in [0, 1); got %g", fn, field, v);
    return 0;
}

/* ---- state -------------------------------------------------------------------------------------- */

static void state_clear(nbopt_pstate *s) {
    for (int k = 0; k < NBOPT_MAX_STATE; k++) {
        nbc_decref(s->buf[k]);
        s->buf[k] = NULL;
    }
    s->created = false;
}

static int state_create(const char *fn, const nbopt_kind *kind, const nbopt_opts *o, nb_tensor *p, nbopt_pstate *s) {
    if (s->created) return 0;
    for (int k = 0; k < NBOPT_MAX_STATE; k++) {
        double fill = 0;
        if (!kind->state_names[k] || !kind->slot(o, k, &fill)) continue;
        nb_tensor *b = nbc_tensor_new(fn, p->dtype, p->ndim, p->shape);
        if (!b) {
            state_clear(s);
            return nb_last_status();
        }
        int64_t n = nbc_numel(b->ndim, b->shape);
        if (p->dtype == NB_F64) {
            double *d = nbc_ptr(b);
            for (int64_t i = 0; i < n; i++) d[i] = fill;
        } else {
            float *d = nbc_ptr(b);
            for (int64_t i = 0; i < n; i++) d[i] = (float)fill;
        }
        s->buf[k] = b;
    }
    s->created = true;
    return 0;
}

bool nbopt_has_state(const nb_optimizer *opt, int g, int i) {
    if (!opt || g < 0 || g >= opt->n_groups || i < 0 || i >= opt->groups[g].params->n) return false;
    const nbopt_pstate *s = &opt->groups[g].state[i];
    return s->step > 0 || (opt->kind->eager_state && s->created);
}

int nbopt_state_ensure(nb_optimizer *opt, int g, int i) {
    static const char fn[] = "nbopt_state_ensure";
    if (!opt) return nbc_error(NB_ERR_ARG, "%s: optimiser is NULL", fn);
    if (g < 0 || g >= opt->n_groups) return nbc_error(NB_ERR_ARG, "%s: group %d out of range [0, %d)", fn, g, opt->n_groups);
    nbopt_group *gr = &opt->groups[g];
    if (i < 0 || i >= gr->params->n)
        return nbc_error(NB_ERR_ARG, "%s: parameter %d out of range [0, %d)", fn, i, gr->params->n);
    return state_create(fn, opt->kind, &gr->opts, gr->params->tensors[i], &gr->state[i]);
}

/* ---- groups ------------------------------------------------------------------------------------- */

static void group_free(nbopt_group *g) {
    if (g->state)
        for (int i = 0; i < g->params->n; i++) state_clear(&g->state[i]);
    if (g->state) nbc_raw_free(g->state, (size_t)(g->params->n ? g->params->n : 1) * sizeof *g->state);
    nb_params_free(g->params);
    memset(g, 0, sizeof *g);
}

/* Check every parameter of ps: a float leaf, not a broadcast view, not already in opt (or earlier in
 * ps). */
static int check_params(const char *fn, const nb_optimizer *opt, const nb_params *ps) {
    for (int i = 0; i < ps->n; i++) {
        const nb_tensor *t = ps->tensors[i];
        const char *name = ps->names[i];
        if (t->dtype != NB_F32 && t->dtype != NB_F64)
            return nbc_error(NB_ERR_ARG, "%s: parameter #%d '%s' (%s) is not f32 or f64; optimisers update f32 and f64 tensors",
                             fn, i, name, nbc_desc(t));
        if (t->grad_fn)
            return nbc_error(NB_ERR_ARG, "%s: parameter #%d '%s' (%s) is not a leaf (it was produced by %s); "
                             "optimisers update leaf tensors", fn, i, name, nbc_desc(t), t->grad_fn->name);
        for (int d = 0; d < t->ndim; d++)
            if (t->strides[d] == 0 && t->shape[d] > 1)
                return nbc_error(NB_ERR_ARG, "%s: parameter #%d '%s' (%s) is a broadcast view (stride 0 in dim %d)",
                                 fn, i, name, nbc_desc(t), d);
        for (int j = 0; j < i; j++)
            if (ps->tensors[j] == t)
                return nbc_error(NB_ERR_ARG, "%s: parameter '%s' appears twice in the list (#%d '%s' and #%d)", fn,
                                 name, j, ps->names[j], i);
        for (int g = 0; opt && g < opt->n_groups; g++)
            for (int j = 0; j < opt->groups[g].params->n; j++)
                if (opt->groups[g].params->tensors[j] == t)
                    return nbc_error(NB_ERR_ARG, "%s: parameter #%d '%s' is already in parameter group %d (as '%s'); "
                                     "a parameter may belong to one group only", fn, i, name, g,
                                     opt->groups[g].params->names[j]);
    }
    return 0;
}

/* Append a group (takes ownership of params, also on failure). o is already resolved. */
static int group_add(const char *fn, nb_optimizer *opt, nb_params *params, const nbopt_opts *o, double lr) {
    int rc = check_params(fn, opt, params);
    if (rc) {
        nb_params_free(params);
        return rc;
    }
    if (opt->n_groups == opt->cap) {
        int nc = opt->cap ? opt->cap * 2 : 4;
        nbopt_group *ng = nbc_raw_realloc(opt->groups, (size_t)opt->cap * sizeof *ng, (size_t)nc * sizeof *ng);
        if (!ng) {
            nb_params_free(params);
            return nbc_oom(fn);
        }
        memset(ng + opt->cap, 0, (size_t)(nc - opt->cap) * sizeof *ng);
        opt->groups = ng;
        opt->cap = nc;
    }
    nbopt_group *g = &opt->groups[opt->n_groups];
    memset(g, 0, sizeof *g);
    g->params = params;
    g->opts = *o;
    g->lr = lr;
    g->state = nbc_calloc(fn, (size_t)(params->n ? params->n : 1) * sizeof *g->state);
    if (!g->state) {
        nb_params_free(params);
        memset(g, 0, sizeof *g);
        return NB_ERR_NOMEM;
    }
    if (opt->kind->eager_state)
        for (int i = 0; i < params->n; i++)
            if ((rc = state_create(fn, opt->kind, o, params->tensors[i], &g->state[i])) != 0) {
                group_free(g);
                return rc;
            }
    /* A group added after a scheduler was made makes that scheduler's next step fail, as in PyTorch
     * (scheduler.c checks the group count). */
    opt->n_groups++;
    return 0;
}

static double opts_lr(const nbopt_kind *kind, const nbopt_opts *o) {
    if (kind == &nbopt_sgd_kind) return o->sgd.lr;
    if (kind == &nbopt_adam_kind || kind == &nbopt_adamw_kind) return o->adam.lr;
    if (kind == &nbopt_rmsprop_kind) return o->rmsprop.lr;
    return o->adagrad.lr;
}

nb_optimizer *nbopt_new(const nbopt_kind *kind, nb_params *params, const void *opts) {
    const char *fn = kind->fn;
    if (!params) {
        nbc_error(NB_ERR_ARG, "%s: parameter list is NULL", fn);
        return NULL;
    }
    if (params->n == 0) {
        nb_params_free(params);
        nbc_error(NB_ERR_ARG, "%s: the parameter list is empty (nothing to optimise)", fn);
        return NULL;
    }
    nbopt_opts o;
    memset(&o, 0, sizeof o);
    if (kind->resolve(fn, opts, &o) != 0) {
        nb_params_free(params);
        return NULL;
    }
    nb_optimizer *opt = nbc_calloc(fn, sizeof *opt);
    if (!opt) {
        nb_params_free(params);
        return NULL;
    }
    opt->kind = kind;
    opt->defaults = o;
    if (group_add(fn, opt, params, &o, opts_lr(kind, &o)) != 0) {
        nb_optimizer_free(opt);
        return NULL;
    }
    return opt;
}

int nb_optimizer_add_group(nb_optimizer *opt, nb_params *params, const void *opts) {
    static const char fn[] = "nb_optimizer_add_group";
    if (!opt) {
        nb_params_free(params);
        return nbc_error(NB_ERR_ARG, "%s: optimiser is NULL", fn);
    }
    if (!params) return nbc_error(NB_ERR_ARG, "%s: parameter list is NULL", fn);
    nbopt_opts o;
    memset(&o, 0, sizeof o);
    if (opts) {
        int rc = opt->kind->resolve(fn, opts, &o);
        if (rc) {
            nb_params_free(params);
            return rc;
        }
    } else {
        o = opt->defaults;
    }
    return group_add(fn, opt, params, &o, opts_lr(opt->kind, &o));
}

/* ---- step --------------------------------------------------------------------------------------- */

typedef struct work {
    int g, i;
    nb_tensor *grad;  /* owned: contiguous, the parameter's dtype */
    nb_tensor *tmp;   /* owned: contiguous copy of a non-contiguous parameter, or NULL */
} work;

static void work_release(work *w, int n) {
    for (int k = 0; k < n; k++) {
        nb_free(w[k].grad);
        nb_free(w[k].tmp);
    }
}

/* Phase 1 (everything that can fail) for one parameter: check the gradient, create state, prepare
 * contiguous data. Called in no-grad mode. */
static int prepare(const char *fn, nb_optimizer *opt, int g, int i, work *w) {
    nbopt_group *gr = &opt->groups[g];
    nb_tensor *p = gr->params->tensors[i], *grad = p->grad;
    const char *name = gr->params->names[i];
    bool same_shape = grad->ndim == p->ndim;
    for (int d = 0; same_shape && d < p->ndim; d++) same_shape = grad->shape[d] == p->shape[d];
    if (!same_shape)
        return nbc_error(NB_ERR_ARG, "%s: the gradient of parameter '%s' (%s) has shape %s", fn, name, nbc_desc(p),
                         nbc_shape_str(grad->ndim, grad->shape));
    if (!nb_dtype_is_float(grad->dtype))
        return nbc_error(NB_ERR_ARG, "%s: the gradient of parameter '%s' has dtype %s", fn, name,
                         nb_dtype_name(grad->dtype));
    int rc = state_create(fn, opt->kind, &gr->opts, p, &gr->state[i]);
    if (rc) return rc;
    w->g = g;
    w->i = i;
    nb_tensor *gt = nb_to(grad, p->dtype);
    w->grad = gt ? nb_contiguous(gt) : NULL;
    nb_free(gt);
    if (!w->grad) return nb_last_status();
    if (!nbc_is_contiguous(p)) {
        w->tmp = nb_contiguous(p);
        if (!w->tmp) return nb_last_status();
    }
    return 0;
}

int nb_optimizer_step(nb_optimizer *opt) {
    static const char fn[] = "nb_optimizer_step";
    if (!opt) return nbc_error(NB_ERR_ARG, "%s: optimiser is NULL", fn);
    int n = 0;
    for (int g = 0; g < opt->n_groups; g++)
        for (int i = 0; i < opt->groups[g].params->n; i++) n += opt->groups[g].params->tensors[i]->grad != NULL;
    work *ws = nbc_calloc(fn, (size_t)(n ? n : 1) * sizeof *ws);
    if (!ws) return NB_ERR_NOMEM;
    int rc = 0, k = 0;
    nb_no_grad_begin();
    for (int g = 0; g < opt->n_groups && !rc; g++)
        for (int i = 0; i < opt->groups[g].params->n && !rc; i++)
            if (opt->groups[g].params->tensors[i]->grad) rc = prepare(fn, opt, g, i, &ws[k++]);
    /* Phase 2: nothing below can fail (the copy back of a non-contiguous parameter only fails for a
     * broadcast view, which check_params refused). */
    for (int j = 0; j < k && !rc; j++) {
        nbopt_group *gr = &opt->groups[ws[j].g];
        nbopt_pstate *s = &gr->state[ws[j].i];
        nb_tensor *p = gr->params->tensors[ws[j].i];
        nb_tensor *dst = ws[j].tmp ? ws[j].tmp : p;
        nbopt_job job = {.opts = &gr->opts, .lr = gr->lr, .step = ++s->step, .dtype = p->dtype,
                         .n = nbc_numel(p->ndim, p->shape), .p = nbc_ptr(dst), .g = nbc_ptr(ws[j].grad)};
        for (int b = 0; b < NBOPT_MAX_STATE; b++) job.buf[b] = s->buf[b] ? nbc_ptr(s->buf[b]) : NULL;
        if (job.n > 0) opt->kind->update(&job);
        if (ws[j].tmp)
            rc = nb_copy_(p, ws[j].tmp); /* bumps p's version */
        else
            nbc_bump_version(p);
    }
    nb_no_grad_end();
    work_release(ws, k);
    nbc_raw_free(ws, (size_t)(n ? n : 1) * sizeof *ws);
    if (!rc) opt->steps++;
    return rc;
}

/* ---- the rest of the public API ----------------------------------------------------------------- */

void nb_optimizer_zero_grad(nb_optimizer *opt) {
    for (int g = 0; opt && g < opt->n_groups; g++)
        for (int i = 0; i < opt->groups[g].params->n; i++) nb_zero_grad(opt->groups[g].params->tensors[i]);
}

static int check_group(const char *fn, const nb_optimizer *opt, int group) {
    if (!opt) return nbc_error(NB_ERR_ARG, "%s: optimiser is NULL", fn);
    if (group < 0 || group >= opt->n_groups)
        return nbc_error(NB_ERR_ARG, "%s: group %d out of range (the optimiser has %d group%s)", fn, group,
                         opt->n_groups, opt->n_groups == 1 ? "" : "s");
    return 0;
}

double nb_optimizer_get_lr(const nb_optimizer *opt, int group) {
    if (check_group("nb_optimizer_get_lr", opt, group)) return NAN;
    return opt->groups[group].lr;
}

int nb_optimizer_set_lr(nb_optimizer *opt, int group, double lr) {
    static const char fn[] = "nb_optimizer_set_lr";
    int rc = check_group(fn, opt, group);
    if (!rc) rc = nbopt_check_nonneg(fn, "lr", lr);
    if (!rc) opt->groups[group].lr = lr;
    return rc;
}

int nb_optimizer_num_groups(const nb_optimizer *opt) { return opt ? opt->n_groups : 0; }

int64_t nb_optimizer_steps(const nb_optimizer *opt) { return opt ? opt->steps : 0; }

void nb_optimizer_free(nb_optimizer *opt) {
    if (!opt) return;
    for (int g = 0; g < opt->n_groups; g++) group_free(&opt->groups[g]);
    nbc_raw_free(opt->groups, (size_t)opt->cap * sizeof *opt->groups);
    nbc_raw_free(opt, sizeof *opt);
}
