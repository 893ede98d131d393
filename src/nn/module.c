/* nn/module.c — the module object: registration of parameters, buffers and children, forward
 * dispatch, train/eval mode, parameter lists with PyTorch's dotted names, freezing and printing.
 * Concrete layers live in layers.c. */
#include "nn_internal.h"

#include <string.h>

/* The error serial of the last failed constructor (0: none). A failure counts while its error is
 * still the latest one on this thread and not cleared. */
static _Thread_local uint64_t tl_ctor_failure;

nb_module *nbn_constructed(nb_module *m) {
    if (!m) tl_ctor_failure = nbc_error_serial();
    return m;
}

bool nbn_take_ctor_failure(void) {
    bool f = tl_ctor_failure != 0 && tl_ctor_failure == nbc_error_serial() && nb_last_status() != NB_OK;
    tl_ctor_failure = 0;
    return f;
}

nb_module *nbn_module_new(const char *fn, const nbn_module_vt *vt) {
    nb_module *m = nbc_calloc(fn, sizeof *m);
    if (!m) return NULL;
    m->vt = vt;
    m->training = true;
    return m;
}

static int add_tensor(nb_module *m, const char *name, nb_tensor *t, bool param) {
    int *n = param ? &m->n_params : &m->n_buffers;
    char **names = param ? m->param_names : m->buffer_names;
    nb_tensor **slots = param ? m->params : m->buffers;
    if (!t) return nb_last_status() ? nb_last_status() : NB_ERR_NOMEM;
    /* the caller's reference may sit in a scope: make it the module's own */
    nbc_incref(t);
    nb_free(t);
    if (*n == 8) {
        nbc_decref(t);
        return nbc_error(NB_ERR_STATE, "%s: too many tensors registered on one module", m->vt->type);
    }
    char *d = nbc_strdup(m->vt->type, name);
    if (!d) {
        nbc_decref(t);
        return NB_ERR_NOMEM;
    }
    if (param) t->requires_grad = true;
    names[*n] = d;
    slots[(*n)++] = t;
    return 0;
}

void *nbn_module_state(nb_module *m, size_t size) {
    m->state = nbc_calloc(m->vt->type, size);
    m->state_size = m->state ? size : 0;
    return m->state;
}

nb_tensor *nbn_uniform(int nd, const int64_t *shape, double bound) {
    nb_tensor *u = nb_rand(nd, shape, NB_F32);
    if (!u) return NULL;
    nb_no_grad_begin();
    nb_tensor *s = nb_mul_scalar(u, 2 * bound);
    nb_tensor *r = nb_add_scalar(s, -bound);
    nb_no_grad_end();
    nb_free(s);
    nb_free(u);
    return r;
}

int nbn_module_add_param(nb_module *m, const char *name, nb_tensor *t) { return add_tensor(m, name, t, true); }
int nbn_module_add_buffer(nb_module *m, const char *name, nb_tensor *t) { return add_tensor(m, name, t, false); }

int nbn_module_add_child(nb_module *m, const char *name, nb_module *child) {
    if (!child) return nb_last_status() ? nb_last_status() : NB_ERR_NOMEM;
    size_t old = (size_t)m->n_children, nw = old + 1;
    nb_module **c = nbc_raw_realloc(m->children, old * sizeof *c, nw * sizeof *c);
    if (!c) {
        nb_module_free(child);
        return nbc_oom(m->vt->type);
    }
    m->children = c;
    char **names = nbc_raw_realloc(m->child_names, old * sizeof *names, nw * sizeof *names);
    if (!names) {
        nb_module_free(child);
        return nbc_oom(m->vt->type);
    }
    m->child_names = names;
    char *d = nbc_strdup(m->vt->type, name);
    if (!d) {
        nb_module_free(child);
        return NB_ERR_NOMEM;
    }
    m->children[m->n_children] = child;
    m->child_names[m->n_children++] = d;
    return 0;
}

void nb_module_free(nb_module *m) {
    if (!m) return;
    if (m->vt->free) m->vt->free(m);
    for (int i = 0; i < m->n_params; i++) {
        nbc_decref(m->params[i]);
        nbc_strfree(m->param_names[i]);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        nbc_decref(m->buffers[i]);
        nbc_strfree(m->buffer_names[i]);
    }
    for (int i = 0; i < m->n_children; i++) {
        nb_module_free(m->children[i]);
        nbc_strfree(m->child_names[i]);
    }
    if (m->state) nbc_raw_free(m->state, m->state_size);
    nbc_raw_free(m->children, (size_t)m->n_children * sizeof(nb_module *));
    nbc_raw_free(m->child_names, (size_t)m->n_children * sizeof(char *));
    nbc_raw_free(m, sizeof *m);
}

nb_tensor *nb_module_forward(nb_module *m, nb_tensor *x) {
    if (!m) return nbc_error(NB_ERR_ARG, "nb_module_forward: module is NULL"), NULL;
    if (!x) return nbc_null_arg("nb_module_forward", 2), NULL;
    return m->vt->forward(m, x);
}

void nb_module_train(nb_module *m, bool training) {
    if (!m) return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++) nb_module_train(m->children[i], training);
}

bool nb_module_is_training(const nb_module *m) { return m && m->training; }
const char *nb_module_type(const nb_module *m) { return m ? m->vt->type : NULL; }

/* Depth-first, as PyTorch: a module's parameters, then (for a state dict) its buffers, then its
 * children in registration order. */
static int collect(nb_module *m, const char *prefix, nb_params *p, bool buffers) {
    char name[512];
    for (int i = 0; i < m->n_params; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, m->param_names[i]);
        int rc = nbn_params_push(p, name, m->params[i]);
        if (rc) return rc;
    }
    for (int i = 0; buffers && i < m->n_buffers; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, m->buffer_names[i]);
        int rc = nbn_params_push(p, name, m->buffers[i]);
        if (rc) return rc;
    }
    for (int i = 0; i < m->n_children; i++) {
        snprintf(name, sizeof name, "%s%s.", prefix, m->child_names[i]);
        int rc = collect(m->children[i], name, p, buffers);
        if (rc) return rc;
    }
    return 0;
}

static nb_params *named_list(nb_module *m, const char *fn, bool buffers) {
    if (!m) return nbc_error(NB_ERR_ARG, "%s: module is NULL", fn), NULL;
    nb_params *p = nbn_params_new(fn);
    if (!p) return NULL;
    if (collect(m, "", p, buffers)) {
        nb_params_free(p);
        return NULL;
    }
    return p;
}

nb_params *nb_module_state_dict(nb_module *m) { return named_list(m, "nb_module_state_dict", true); }

nb_params *nb_module_parameters(nb_module *m) { return named_list(m, "nb_module_parameters", false); }

void nb_module_freeze(nb_module *m, bool frozen) {
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) {
        m->params[i]->requires_grad = !frozen;
        if (frozen) nb_zero_grad(m->params[i]);
    }
    for (int i = 0; i < m->n_children; i++) nb_module_freeze(m->children[i], frozen);
}

static void print_tree(const nb_module *m, FILE *f, int indent) {
    char desc[256] = "";
    if (m->vt->describe) m->vt->describe(m, desc, sizeof desc);
    if (m->n_children == 0) {
        fprintf(f, "%s(%s)", m->vt->type, desc);
        return;
    }
    fprintf(f, "%s(\n", m->vt->type);
    for (int i = 0; i < m->n_children; i++) {
        fprintf(f, "%*s(%s): ", indent + 2, "", m->child_names[i]);
        print_tree(m->children[i], f, indent + 2);
        fprintf(f, "\n");
    }
    fprintf(f, "%*s)", indent, "");
}

void nb_module_print(const nb_module *m, FILE *f) {
    if (!m || !f) return;
    print_tree(m, f, 0);
    fprintf(f, "\n");
}
