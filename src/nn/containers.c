/* nn/containers.c — modules made of modules: Sequential, ModuleList and the residual connection,
 * and access to a module's children. The argument rules for child lists (a failed child fails the
 * whole call and every child is freed) live in one place, build_container. */
#include "nn_internal.h"

#include <string.h>

/* A container of the given type adopting children[0..n) named "0", "1", ...; a trailing NULL is a
 * terminator unless the latest uncleared error is a failed module constructor. Frees every child on
 * failure. */
static nb_module *build_container(const char *fn, const nbn_module_vt *vt, nb_module *const *children, int n) {
    int count = n, rc = 0;
    if (n < 0 || (n > 0 && !children)) return nbc_error(NB_ERR_ARG, "%s: invalid child list", fn), nbn_constructed(NULL);
    bool trailing_null = count > 0 && !children[count - 1];
    if (trailing_null) count--; /* a terminator, or a failed last child: decided below */
    bool ctor_failed = nbn_take_ctor_failure();
    char cause[256]; /* the constructor's own message (copied: the new error reuses the buffer) */
    snprintf(cause, sizeof cause, "%s", nb_last_status() ? nb_last_error() : "no error recorded");
    for (int i = 0; i < count && !rc; i++)
        if (!children[i]) rc = nbc_error(NB_ERR_ARG, "%s: child #%d is NULL (%s)", fn, i + 1, cause);
    if (!rc && trailing_null && ctor_failed)
        rc = nbc_error(NB_ERR_ARG, "%s: the last layer's constructor failed (%s)", fn, cause);
    nb_module *m = rc ? NULL : nbn_module_new(fn, vt);
    if (!m && !rc) rc = NB_ERR_NOMEM;
    for (int i = 0; i < count; i++) {
        if (rc) { /* keep the ownership promise: free what we were given */
            nb_module_free(children[i]);
            continue;
        }
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        rc = nbn_module_add_child(m, name, children[i]); /* frees the child on failure */
    }
    if (rc) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    return m;
}

/* ---- Sequential ---------------------------------------------------------------------------------- */

static bool is_type(const nb_module *m, const char *type) { return strcmp(m->vt->type, type) == 0; }

/* ReLU followed by MaxPool2d runs as MaxPool2d then ReLU, so both ReLU passes (forward and backward)
 * touch the pooled tensor, a quarter of the elements for 2x2 windows (about 7% of a small CNN's
 * epoch). The two orders agree bit for bit in value and gradient: relu is the identity above zero, so
 * a window whose maximum is positive picks the same (first) maximal element either way, and a window
 * whose maximum is not positive gets a zero gradient either way (relu is flat there, with derivative
 * 0); NaN propagates through both. */
static nb_tensor *sequential_forward(nb_module *m, nb_tensor *x) {
    nb_tensor *h = nb_retain(x);
    for (int i = 0; i < m->n_children && h; i++) {
        nb_module *c = m->children[i];
        bool swap = i + 1 < m->n_children && is_type(c, "ReLU") && is_type(m->children[i + 1], "MaxPool2d");
        nb_tensor *next = nb_module_forward(swap ? m->children[i + 1] : c, h);
        if (swap && next) {
            nb_tensor *r = nb_module_forward(c, next);
            nb_free(next);
            next = r;
            i++;
        }
        nb_free(h);
        h = next;
    }
    return h;
}

static const nbn_module_vt k_sequential = {"Sequential", sequential_forward, NULL, NULL};

nb_module *nb_sequential_array(nb_module *const *children, int n) {
    return build_container("nb_sequential", &k_sequential, children, n);
}

/* ---- ModuleList ---------------------------------------------------------------------------------- */

static nb_tensor *list_forward(nb_module *m, nb_tensor *x) {
    (void)m, (void)x;
    return nbc_error(NB_ERR_STATE, "ModuleList: a module list has no forward; run its children with "
                     "nb_module_child"), NULL;
}

static const nbn_module_vt k_module_list = {"ModuleList", list_forward, NULL, NULL};

nb_module *nb_module_list_array(nb_module *const *children, int n) {
    return build_container("nb_module_list", &k_module_list, children, n);
}

/* ---- residual -------------------------------------------------------------------------------------- */

static nb_tensor *residual_forward(nb_module *m, nb_tensor *x) {
    nb_tensor *y = nb_module_forward(m->children[0], x);
    nb_tensor *s = m->n_children > 1 ? nb_module_forward(m->children[1], x) : nb_retain(x);
    nb_tensor *r = nb_add(y, s);
    nb_free(s);
    nb_free(y);
    return r;
}

static const nbn_module_vt k_residual = {"Residual", residual_forward, NULL, NULL};

nb_module *nb_residual_layer(nb_module *body, nb_module *shortcut) {
    static const char fn[] = "nb_residual_layer";
    nb_module *m = NULL;
    int rc = body ? 0 : nbc_error(NB_ERR_ARG, "%s: body is NULL", fn);
    if (!rc && !(m = nbn_module_new(fn, &k_residual))) rc = NB_ERR_NOMEM;
    if (!rc) {
        rc = nbn_module_add_child(m, "body", body);
        body = NULL; /* adopted (or freed) */
    }
    if (!rc && shortcut) rc = nbn_module_add_child(m, "shortcut", shortcut);
    else if (rc) nb_module_free(shortcut);
    if (rc) {
        nb_module_free(body);
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    return m;
}

/* ---- children ---------------------------------------------------------------------------------------- */

int nb_module_num_children(const nb_module *m) { return m ? m->n_children : 0; }

nb_module *nb_module_child(const nb_module *m, int i) {
    if (!m) return nbc_error(NB_ERR_ARG, "nb_module_child: module is NULL"), NULL;
    if (i < 0 || i >= m->n_children)
        return nbc_error(NB_ERR_ARG, "nb_module_child: index %d is out of range for %s with %d children", i,
                         m->vt->type, m->n_children), NULL;
    return m->children[i];
}
