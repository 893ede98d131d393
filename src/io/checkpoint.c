/* io/checkpoint.c — training checkpoints in one safetensors file: the model's state_dict as
 * "model.<name>", each parameter's optimiser state as "optimizer.state.<i>.<name>" plus its step as
 * an i64 scalar "optimizer.state.<i>.step" (i counts parameters across groups, as PyTorch's optimizer
 * state_dict), and in "__metadata__" (strings) everything else: caller counters, the global RNG
 * (seed, counter), the loader's (epoch, position), every group's lr, initial_lr and options, the
 * scheduler's stepping state. Doubles are written with 17 significant digits, which strtod reads back
 * to the same bits, so a resumed run is bitwise identical. Loading validates everything before it
 * changes anything. It is not the file format (safetensors.c) or the key matching (state_dict.c).
 */
#include "io_internal.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CK_FORMAT "1"

/* ---- optimiser options as named numbers ---------------------------------------------------------- */

typedef struct ofield {
    const char *name;
    size_t off;
    bool is_bool;
} ofield;

static const ofield F_SGD[] = {{"momentum", offsetof(nbopt_opts, sgd.momentum), false},
                               {"dampening", offsetof(nbopt_opts, sgd.dampening), false},
                               {"weight_decay", offsetof(nbopt_opts, sgd.weight_decay), false},
                               {"nesterov", offsetof(nbopt_opts, sgd.nesterov), true},
                               {NULL, 0, false}};
static const ofield F_ADAM[] = {{"beta1", offsetof(nbopt_opts, adam.beta1), false},
                                {"beta2", offsetof(nbopt_opts, adam.beta2), false},
                                {"eps", offsetof(nbopt_opts, adam.eps), false},
                                {"weight_decay", offsetof(nbopt_opts, adam.weight_decay), false},
                                {"amsgrad", offsetof(nbopt_opts, adam.amsgrad), true},
                                {NULL, 0, false}};
static const ofield F_RMSPROP[] = {{"alpha", offsetof(nbopt_opts, rmsprop.alpha), false},
                                   {"eps", offsetof(nbopt_opts, rmsprop.eps), false},
                                   {"weight_decay", offsetof(nbopt_opts, rmsprop.weight_decay), false},
                                   {"momentum", offsetof(nbopt_opts, rmsprop.momentum), false},
                                   {"centered", offsetof(nbopt_opts, rmsprop.centered), true},
                                   {NULL, 0, false}};
static const ofield F_ADAGRAD[] = {{"lr_decay", offsetof(nbopt_opts, adagrad.lr_decay), false},
                                   {"weight_decay", offsetof(nbopt_opts, adagrad.weight_decay), false},
                                   {"initial_accumulator_value", offsetof(nbopt_opts, adagrad.initial_accumulator_value), false},
                                   {"eps", offsetof(nbopt_opts, adagrad.eps), false},
                                   {NULL, 0, false}};

static const ofield *fields_of(const nbopt_kind *k) {
    if (k == &nbopt_sgd_kind) return F_SGD;
    if (k == &nbopt_adam_kind || k == &nbopt_adamw_kind) return F_ADAM;
    if (k == &nbopt_rmsprop_kind) return F_RMSPROP;
    return F_ADAGRAD;
}

/* ---- metadata helpers ---------------------------------------------------------------------------- */

typedef struct mw {
    const char *fn;
    nb_metadata *m;
    int rc;
} mw;

static void put_s(mw *w, const char *key, const char *v) {
    if (!w->rc) w->rc = nbio_meta_set(w->fn, w->m, key, v);
}
static void put_i(mw *w, const char *key, long long v) {
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    put_s(w, key, b);
}
static void put_u(mw *w, const char *key, unsigned long long v) {
    char b[32];
    snprintf(b, sizeof b, "%llu", v);
    put_s(w, key, b);
}
static void put_d(mw *w, const char *key, double v) {
    char b[40];
    snprintf(b, sizeof b, "%.17g", v);
    put_s(w, key, b);
}

typedef struct mr {
    const char *fn, *path;
    const nb_metadata *m;
} mr;

static const char *get_s(const mr *r, const char *key, int *rc) {
    const char *v = nb_metadata_get(r->m, key);
    if (!v && !*rc)
        *rc = nbc_error(NB_ERR_FORMAT, "%s: %s: checkpoint metadata lacks '%s'", r->fn, r->path, key);
    return v;
}
static int bad_num(const mr *r, const char *key, const char *v) {
    return nbc_error(NB_ERR_FORMAT, "%s: %s: checkpoint metadata '%s' is \"%.60s\", not a valid number", r->fn, r->path,
                     key, v);
}
static int64_t get_i(const mr *r, const char *key, int *rc) {
    const char *v = get_s(r, key, rc);
    if (!v || *rc) return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno) *rc = bad_num(r, key, v);
    return x;
}
static uint64_t get_u(const mr *r, const char *key, int *rc) {
    const char *v = get_s(r, key, rc);
    if (!v || *rc) return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *v == '-' || *end || errno) *rc = bad_num(r, key, v);
    return x;
}
static double get_d(const mr *r, const char *key, int *rc) {
    const char *v = get_s(r, key, rc);
    if (!v || *rc) return 0;
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end) *rc = bad_num(r, key, v);
    return x;
}

/* ---- save ---------------------------------------------------------------------------------------- */

static int check_ck(const char *fn, const nb_checkpoint *ck) {
    if (!ck) return nbc_error(NB_ERR_ARG, "%s: checkpoint description is NULL", fn);
    if (!ck->model) return nbc_error(NB_ERR_ARG, "%s: ck->model is NULL (a checkpoint needs the model)", fn);
    if (ck->scheduler) {
        nbopt_sched_state st;
        nbopt_sched_get(ck->scheduler, &st);
        if (st.opt != ck->optimizer)
            return nbc_error(NB_ERR_ARG, "%s: ck->scheduler belongs to %s optimiser than ck->optimizer", fn,
                             ck->optimizer ? "another" : "an");
    }
    return 0;
}

int nb_checkpoint_save(const char *path, const nb_checkpoint *ck) {
    static const char fn[] = "nb_checkpoint_save";
    int rc = check_ck(fn, ck);
    if (rc) return rc;
    for (int i = 0; ck->metadata && i < ck->metadata->n; i++)
        if (!strncmp(ck->metadata->keys[i], "nabla.", 6))
            return nbc_error(NB_ERR_ARG, "%s: user metadata key '%s' uses the reserved prefix \"nabla.\"", fn,
                             ck->metadata->keys[i]);
    nb_params *sd = nb_module_state_dict(ck->model);
    nb_params *all = sd ? nbn_params_new(fn) : NULL;
    nb_metadata *meta = all ? nb_metadata_new() : NULL;
    mw w = {fn, meta, meta ? 0 : nb_last_status() ? nb_last_status() : NB_ERR_NOMEM};
    char key[600];
    for (int i = 0; !w.rc && i < sd->n; i++) {
        snprintf(key, sizeof key, "model.%s", sd->names[i]);
        w.rc = nbn_params_push(all, key, sd->tensors[i]);
    }
    for (int i = 0; !w.rc && ck->metadata && i < ck->metadata->n; i++)
        put_s(&w, ck->metadata->keys[i], ck->metadata->values[i]);
    put_s(&w, "nabla.checkpoint", CK_FORMAT);
    put_i(&w, "nabla.epoch", ck->epoch);
    put_i(&w, "nabla.step", ck->step);
    uint64_t seed, counter;
    nb_rng_get_state(&seed, &counter);
    put_u(&w, "nabla.rng.seed", seed);
    put_u(&w, "nabla.rng.counter", counter);
    if (ck->loader) {
        put_i(&w, "nabla.loader.epoch", nb_loader_epoch(ck->loader));
        put_i(&w, "nabla.loader.position", nb_loader_position(ck->loader));
    }
    const nb_optimizer *opt = ck->optimizer;
    if (opt) {
        put_s(&w, "nabla.optimizer.type", opt->kind->type);
        put_i(&w, "nabla.optimizer.steps", opt->steps);
        put_i(&w, "nabla.optimizer.groups", opt->n_groups);
        const ofield *fl = fields_of(opt->kind);
        int idx = 0;
        for (int g = 0; !w.rc && g < opt->n_groups; g++) {
            const nbopt_group *gr = &opt->groups[g];
            snprintf(key, sizeof key, "nabla.optimizer.group.%d.params", g), put_i(&w, key, gr->params->n);
            snprintf(key, sizeof key, "nabla.optimizer.group.%d.lr", g), put_d(&w, key, gr->lr);
            if (gr->has_initial_lr)
                snprintf(key, sizeof key, "nabla.optimizer.group.%d.initial_lr", g), put_d(&w, key, gr->initial_lr);
            for (const ofield *f = fl; f->name; f++) {
                snprintf(key, sizeof key, "nabla.optimizer.group.%d.%s", g, f->name);
                const char *p = (const char *)&gr->opts + f->off;
                if (f->is_bool)
                    put_i(&w, key, *(const bool *)p);
                else
                    put_d(&w, key, *(const double *)p);
            }
            for (int i = 0; !w.rc && i < gr->params->n; i++, idx++) {
                if (!nbopt_has_state(opt, g, i)) continue;
                const nbopt_pstate *s = &gr->state[i];
                nb_tensor *step = nbc_tensor_new(fn, NB_I64, 0, NULL);
                if (!step) {
                    w.rc = nb_last_status();
                    break;
                }
                *(int64_t *)nbc_ptr(step) = s->step;
                snprintf(key, sizeof key, "optimizer.state.%d.step", idx);
                w.rc = nbn_params_push(all, key, step);
                nbc_decref(step);
                for (int k = 0; !w.rc && k < NBOPT_MAX_STATE; k++) {
                    if (!s->buf[k]) continue;
                    snprintf(key, sizeof key, "optimizer.state.%d.%s", idx, opt->kind->state_names[k]);
                    w.rc = nbn_params_push(all, key, s->buf[k]);
                }
            }
        }
    }
    if (ck->scheduler) {
        nbopt_sched_state st;
        nbopt_sched_get(ck->scheduler, &st);
        put_s(&w, "nabla.scheduler.type", st.type);
        put_i(&w, "nabla.scheduler.groups", st.n_groups);
        put_i(&w, "nabla.scheduler.last_epoch", st.last_epoch);
        put_i(&w, "nabla.scheduler.step_count", st.step_count);
        put_d(&w, "nabla.scheduler.last_lr", st.last_lr);
        put_d(&w, "nabla.scheduler.best", st.best);
        put_i(&w, "nabla.scheduler.num_bad", st.num_bad);
        for (int g = 0; g < st.n_groups; g++) {
            snprintf(key, sizeof key, "nabla.scheduler.base_lr.%d", g);
            put_d(&w, key, st.base_lrs[g]);
        }
    }
    if (!w.rc) w.rc = nbio_st_write(fn, path, all, meta);
    nb_metadata_free(meta);
    nb_params_free(all);
    nb_params_free(sd);
    return w.rc;
}

/* ---- load ---------------------------------------------------------------------------------------- */

typedef struct pplan {  /* what to restore into one parameter's optimiser state */
    int64_t step;
    bool has;
    int src[NBOPT_MAX_STATE]; /* index in the file list, or -1 */
} pplan;

static int find_name(const nb_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->names[i], name)) return i;
    return -1;
}

int nb_checkpoint_load(const char *path, nb_checkpoint *ck) {
    static const char fn[] = "nb_checkpoint_load";
    int rc = check_ck(fn, ck);
    if (rc) return rc;
    nbio_map *mp = nbio_map_file(fn, path);
    if (!mp) return nb_last_status();
    nb_metadata *meta = NULL;
    nb_params *file = nbio_st_parse(fn, mp->data, mp->size, path, mp, &meta);
    nbio_map_decref(mp);
    if (!file) return nb_last_status();
    mr r = {fn, path, meta};
    nb_params *sd = NULL;
    nb_load_report *rep = NULL;
    int *map = NULL;
    bool *used = NULL;
    pplan *plan = NULL;
    nbopt_opts *gopts = NULL;
    double *glr = NULL, *ginit = NULL, *base = NULL;
    bool *ghas = NULL;
    int nparams = 0, ngroups = 0, nbase = 0;
    char key[600];
    nbopt_sched_state sst;
    memset(&sst, 0, sizeof sst);

    const char *fmt = nb_metadata_get(meta, "nabla.checkpoint");
    if (!fmt) {
        rc = nbc_error(NB_ERR_FORMAT, "%s: %s is a safetensors file but not a nabla checkpoint (no nabla.checkpoint "
                       "metadata); use nb_module_load_state_dict for plain weights", fn, path);
        goto done;
    }
    if (strcmp(fmt, CK_FORMAT) != 0) {
        rc = nbc_error(NB_ERR_FORMAT, "%s: %s: checkpoint format version \"%.20s\" is not supported (this nabla reads "
                       "%s)", fn, path, fmt, CK_FORMAT);
        goto done;
    }
    used = nbc_calloc(fn, (size_t)(file->n ? file->n : 1) * sizeof(bool));
    if (!used) {
        rc = NB_ERR_NOMEM;
        goto done;
    }
    /* Model: every key must match (strict). */
    sd = nb_module_state_dict(ck->model);
    rep = sd ? nbio_report_new(fn) : NULL;
    map = rep ? nbc_raw_alloc((size_t)(sd->n ? sd->n : 1) * sizeof(int)) : NULL;
    if (!map) {
        rc = nb_last_status() ? nb_last_status() : nbc_oom(fn);
        goto done;
    }
    if ((rc = nbio_match(fn, sd, file, "model.", rep, map))) goto done;
    if (nb_load_report_text(rep)[0]) {
        rc = nbc_error(NB_ERR_ARG, "%s: %s: the checkpoint's model does not match (nothing was loaded): %s", fn, path,
                       nb_load_report_text(rep));
        goto done;
    }
    for (int i = 0; i < sd->n; i++) used[map[i]] = true;
    int64_t epoch = get_i(&r, "nabla.epoch", &rc), step = get_i(&r, "nabla.step", &rc);
    uint64_t seed = get_u(&r, "nabla.rng.seed", &rc), counter = get_u(&r, "nabla.rng.counter", &rc);
    int64_t lep = 0, lpos = 0;
    if (!rc && ck->loader) {
        if (!nb_metadata_get(meta, "nabla.loader.epoch")) {
            rc = nbc_error(NB_ERR_ARG, "%s: %s: a loader was given but the checkpoint holds no loader position", fn, path);
            goto done;
        }
        lep = get_i(&r, "nabla.loader.epoch", &rc);
        lpos = get_i(&r, "nabla.loader.position", &rc);
        if (!rc && (lep < 0 || lpos < 0 || lpos > nb_loader_len(ck->loader)))
            rc = nbc_error(NB_ERR_ARG, "%s: %s: loader position (epoch %lld, batch %lld) is out of range for this loader "
                           "(%lld batches per epoch)", fn, path, (long long)lep, (long long)lpos,
                           (long long)nb_loader_len(ck->loader));
    }
    if (rc) goto done;
    /* Optimiser. */
    nb_optimizer *opt = ck->optimizer;
    int64_t opt_steps = 0;
    if (opt) {
        const char *type = nb_metadata_get(meta, "nabla.optimizer.type");
        if (!type) {
            rc = nbc_error(NB_ERR_ARG, "%s: %s: an optimiser was given but the checkpoint holds no optimiser state", fn,
                           path);
            goto done;
        }
        if (strcmp(type, opt->kind->type) != 0) {
            rc = nbc_error(NB_ERR_ARG, "%s: %s: the checkpoint's optimiser is %.40s, the given one is %s", fn, path, type,
                           opt->kind->type);
            goto done;
        }
        opt_steps = get_i(&r, "nabla.optimizer.steps", &rc);
        int64_t ng = get_i(&r, "nabla.optimizer.groups", &rc);
        if (!rc && ng != opt->n_groups)
            rc = nbc_error(NB_ERR_ARG, "%s: %s: the checkpoint's optimiser has %lld parameter groups, the given one %d",
                           fn, path, (long long)ng, opt->n_groups);
        if (rc) goto done;
        ngroups = opt->n_groups;
        for (int g = 0; g < ngroups; g++) nparams += opt->groups[g].params->n;
        gopts = nbc_calloc(fn, (size_t)ngroups * sizeof *gopts);
        glr = nbc_calloc(fn, (size_t)ngroups * sizeof *glr);
        ginit = nbc_calloc(fn, (size_t)ngroups * sizeof *ginit);
        ghas = nbc_calloc(fn, (size_t)ngroups * sizeof *ghas);
        plan = nbc_calloc(fn, (size_t)(nparams ? nparams : 1) * sizeof *plan);
        if (!gopts || !glr || !ginit || !ghas || !plan) {
            rc = NB_ERR_NOMEM;
            goto done;
        }
        const ofield *fl = fields_of(opt->kind);
        int idx = 0;
        for (int g = 0; g < ngroups && !rc; g++) {
            nbopt_group *gr = &opt->groups[g];
            snprintf(key, sizeof key, "nabla.optimizer.group.%d.params", g);
            int64_t np = get_i(&r, key, &rc);
            if (!rc && np != gr->params->n)
                rc = nbc_error(NB_ERR_ARG, "%s: %s: parameter group %d has %lld parameters in the checkpoint, %d in the "
                               "given optimiser", fn, path, g, (long long)np, gr->params->n);
            snprintf(key, sizeof key, "nabla.optimizer.group.%d.lr", g);
            glr[g] = get_d(&r, key, &rc);
            snprintf(key, sizeof key, "nabla.optimizer.group.%d.initial_lr", g);
            if ((ghas[g] = nb_metadata_get(meta, key) != NULL)) ginit[g] = get_d(&r, key, &rc);
            gopts[g] = gr->opts;
            for (const ofield *f = fl; f->name && !rc; f++) {
                snprintf(key, sizeof key, "nabla.optimizer.group.%d.%s", g, f->name);
                char *p = (char *)&gopts[g] + f->off;
                if (f->is_bool) {
                    int64_t v = get_i(&r, key, &rc);
                    *(bool *)p = v != 0;
                } else {
                    *(double *)p = get_d(&r, key, &rc);
                }
            }
            for (int i = 0; i < gr->params->n && !rc; i++, idx++) {
                pplan *pl = &plan[idx];
                nb_tensor *param = gr->params->tensors[i];
                for (int k = 0; k < NBOPT_MAX_STATE; k++) pl->src[k] = -1;
                snprintf(key, sizeof key, "optimizer.state.%d.step", idx);
                int j = find_name(file, key);
                pl->has = j >= 0;
                if (j >= 0) {
                    nb_tensor *t = file->tensors[j];
                    used[j] = true;
                    if (t->dtype != NB_I64 || t->ndim != 0) {
                        rc = nbc_error(NB_ERR_FORMAT, "%s: %s: '%s' must be an i64 scalar; it is %s", fn, path, key,
                                       nbc_desc(t));
                        break;
                    }
                    pl->step = *(const int64_t *)nbc_ptr(t);
                }
                const nbopt_pstate *cur = &gr->state[i];
                if (!pl->has && cur->created && !opt->kind->eager_state) {
                    rc = nbc_error(NB_ERR_STATE, "%s: %s: parameter %d ('%s') already has optimiser state but none in "
                                   "the checkpoint: load into a freshly built optimiser", fn, path, idx,
                                   gr->params->names[i]);
                    break;
                }
                for (int k = 0; k < NBOPT_MAX_STATE && !rc; k++) {
                    if (!opt->kind->state_names[k]) continue;
                    double fill;
                    bool want = opt->kind->slot(&gopts[g], k, &fill), have_now = opt->kind->slot(&gr->opts, k, &fill);
                    snprintf(key, sizeof key, "optimizer.state.%d.%s", idx, opt->kind->state_names[k]);
                    int s = find_name(file, key);
                    if (want != have_now)
                        rc = nbc_error(NB_ERR_ARG, "%s: %s: group %d's options in the checkpoint %s '%s' state that the "
                                       "given optimiser %s: build it with the same options (amsgrad, momentum, "
                                       "centered)", fn, path, g, want ? "use" : "do not use", opt->kind->state_names[k],
                                       have_now ? "uses" : "does not use");
                    else if (s >= 0 && (!pl->has || !want))
                        rc = nbc_error(NB_ERR_FORMAT, "%s: %s: unexpected tensor '%s'", fn, path, key);
                    else if (pl->has && want && s < 0)
                        rc = nbc_error(NB_ERR_FORMAT, "%s: %s: the checkpoint lacks '%s'", fn, path, key);
                    else if (s >= 0) {
                        nb_tensor *t = file->tensors[s];
                        used[s] = true;
                        bool ok = t->dtype == param->dtype && t->ndim == param->ndim;
                        for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == param->shape[d];
                        if (!ok) {
                            char pd[200];
                            snprintf(pd, sizeof pd, "%s", nbc_desc(param));
                            rc = nbc_error(NB_ERR_ARG, "%s: %s: '%s' (%s) does not match parameter '%s' (%s)", fn,
                                           path, key, nbc_desc(t), gr->params->names[i], pd);
                        }
                        pl->src[k] = s;
                    }
                }
            }
        }
        if (rc) goto done;
    } else if (nb_metadata_get(meta, "nabla.optimizer.type")) {
        /* optimiser state in the file but no optimiser given: fine, it is skipped */
        for (int j = 0; j < file->n; j++)
            if (!strncmp(file->names[j], "optimizer.", 10)) used[j] = true;
    }
    for (int j = 0; j < file->n && !rc; j++)
        if (!used[j])
            rc = nbc_error(NB_ERR_FORMAT, "%s: %s: unexpected tensor '%s' in the checkpoint", fn, path, file->names[j]);
    if (rc) goto done;
    /* Scheduler. */
    if (ck->scheduler) {
        nbopt_sched_get(ck->scheduler, &sst);
        const char *type = nb_metadata_get(meta, "nabla.scheduler.type");
        if (!type || strcmp(type, sst.type) != 0) {
            rc = nbc_error(NB_ERR_ARG, "%s: %s: the given scheduler is %s but the checkpoint holds %s%.40s", fn, path,
                           sst.type, type ? "" : "no scheduler", type ? type : "");
            goto done;
        }
        int64_t ng = get_i(&r, "nabla.scheduler.groups", &rc);
        if (!rc && ng != sst.n_groups)
            rc = nbc_error(NB_ERR_ARG, "%s: %s: the checkpoint's scheduler covers %lld groups, the given one %d", fn,
                           path, (long long)ng, sst.n_groups);
        sst.last_epoch = get_i(&r, "nabla.scheduler.last_epoch", &rc);
        sst.step_count = get_i(&r, "nabla.scheduler.step_count", &rc);
        sst.last_lr = get_d(&r, "nabla.scheduler.last_lr", &rc);
        sst.best = get_d(&r, "nabla.scheduler.best", &rc);
        sst.num_bad = (int)get_i(&r, "nabla.scheduler.num_bad", &rc);
        if (rc) goto done;
        nbase = sst.n_groups ? sst.n_groups : 1;
        base = nbc_calloc(fn, (size_t)nbase * sizeof(double));
        if (!base) {
            rc = NB_ERR_NOMEM;
            goto done;
        }
        for (int g = 0; g < sst.n_groups && !rc; g++) {
            snprintf(key, sizeof key, "nabla.scheduler.base_lr.%d", g);
            base[g] = get_d(&r, key, &rc);
        }
        sst.base_lrs = base;
        if (rc) goto done;
    }
    /* Allocate optimiser state (the only step that can still fail) before changing anything. */
    for (int g = 0, idx = 0; opt && g < ngroups && !rc; g++)
        for (int i = 0; i < opt->groups[g].params->n && !rc; i++, idx++)
            if (plan[idx].has) rc = nbopt_state_ensure(opt, g, i);
    if (rc) goto done;

    /* ---- apply: nothing below fails (copies of validated, same-shaped tensors) ---- */
    for (int i = 0; i < sd->n && !rc; i++) rc = nbio_copy_exact(fn, sd->tensors[i], file->tensors[map[i]]);
    for (int g = 0, idx = 0; opt && g < ngroups && !rc; g++) {
        nbopt_group *gr = &opt->groups[g];
        gr->opts = gopts[g];
        gr->lr = glr[g];
        gr->has_initial_lr = ghas[g];
        gr->initial_lr = ghas[g] ? ginit[g] : 0;
        for (int i = 0; i < gr->params->n && !rc; i++, idx++) {
            nbopt_pstate *s = &gr->state[i];
            s->step = plan[idx].has ? plan[idx].step : 0;
            for (int k = 0; k < NBOPT_MAX_STATE && !rc; k++)
                if (plan[idx].src[k] >= 0 && s->buf[k]) rc = nbio_copy_exact(fn, s->buf[k], file->tensors[plan[idx].src[k]]);
        }
    }
    if (opt) opt->steps = opt_steps;
    if (ck->scheduler) nbopt_sched_set(ck->scheduler, &sst);
    if (!rc && ck->loader) rc = nb_loader_seek(ck->loader, lep, lpos);
    if (!rc) {
        nb_rng_set_state(seed, counter);
        ck->epoch = epoch;
        ck->step = step;
        for (int i = 0; ck->metadata && i < meta->n && !rc; i++)
            rc = nbio_meta_set(fn, ck->metadata, meta->keys[i], meta->values[i]);
    }
done:
    if (base) nbc_raw_free(base, (size_t)nbase * sizeof(double));
    if (gopts) nbc_raw_free(gopts, (size_t)ngroups * sizeof *gopts);
    if (glr) nbc_raw_free(glr, (size_t)ngroups * sizeof *glr);
    if (ginit) nbc_raw_free(ginit, (size_t)ngroups * sizeof *ginit);
    if (ghas) nbc_raw_free(ghas, (size_t)ngroups * sizeof *ghas);
    if (plan) nbc_raw_free(plan, (size_t)(nparams ? nparams : 1) * sizeof *plan);
    if (used) nbc_raw_free(used, (size_t)(file->n ? file->n : 1) * sizeof(bool));
    if (map) nbc_raw_free(map, (size_t)(sd->n ? sd->n : 1) * sizeof(int));
    nb_load_report_free(rep);
    nb_params_free(sd);
    nb_params_free(file);
    nb_metadata_free(meta);
    return rc;
}
