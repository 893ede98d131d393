/* nn/params.c — named parameter lists (nb_params): what modules hand to optimisers. */
#include "nn_internal.h"

#include <string.h>

nb_params *nbn_params_new(const char *fn) { return nbc_calloc(fn, sizeof(nb_params)); }

int nbn_params_push(nb_params *p, const char *name, nb_tensor *t) {
    if (p->n == p->cap) {
        int nc = p->cap ? p->cap * 2 : 16;
        nb_tensor **nt = nbc_raw_realloc(p->tensors, (size_t)p->cap * sizeof *nt, (size_t)nc * sizeof *nt);
        if (!nt) return nbc_oom("nb_params");
        p->tensors = nt;
        char **nn = nbc_raw_realloc(p->names, (size_t)p->cap * sizeof *nn, (size_t)nc * sizeof *nn);
        if (!nn) return nbc_oom("nb_params");
        p->names = nn;
        p->cap = nc;
    }
    char *d = nbc_strdup("nb_params", name);
    if (!d) return NB_ERR_NOMEM;
    nbc_incref(t);
    p->tensors[p->n] = t;
    p->names[p->n++] = d;
    return 0;
}

nb_params *nb_params_new(void) { return nbn_params_new("nb_params_new"); }

int nb_params_add(nb_params *p, const char *name, nb_tensor *t) {
    if (!p) return nbc_error(NB_ERR_ARG, "nb_params_add: list is NULL");
    if (!t) return nbc_null_arg("nb_params_add", 3);
    return nbn_params_push(p, name ? name : "", t);
}

int nb_params_count(const nb_params *p) { return p ? p->n : 0; }

nb_tensor *nb_params_get(const nb_params *p, int i) { return p && i >= 0 && i < p->n ? p->tensors[i] : NULL; }

const char *nb_params_name(const nb_params *p, int i) { return p && i >= 0 && i < p->n ? p->names[i] : NULL; }

int64_t nb_params_numel(const nb_params *p) {
    int64_t n = 0;
    for (int i = 0; p && i < p->n; i++) n += nb_numel(p->tensors[i]);
    return n;
}

void nb_params_free(nb_params *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        nbc_decref(p->tensors[i]);
        nbc_strfree(p->names[i]);
    }
    nbc_raw_free(p->tensors, (size_t)p->cap * sizeof(nb_tensor *));
    nbc_raw_free(p->names, (size_t)p->cap * sizeof(char *));
    nbc_raw_free(p, sizeof *p);
}
