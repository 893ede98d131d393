/* nn/nn_internal.h — private structures of the nn layer: the module object and parameter lists.
 * optim/ reads nb_params through this header (it sits above nn in the layering). */
#ifndef NABLA_NN_INTERNAL_H
#define NABLA_NN_INTERNAL_H

#include "../core/internal.h"

/* A list of named parameters: owned references to tensors and owned copies of the names. */
struct nb_params {
    int n, cap;
    nb_tensor **tensors;
    char **names;
};

/* Append (takes a new reference to t and copies name). Returns 0 or NB_ERR_NOMEM. */
int nbn_params_push(nb_params *p, const char *name, nb_tensor *t);
nb_params *nbn_params_new(const char *fn);

typedef struct nbn_module_vt {
    const char *type; /* "Linear" */
    nb_tensor *(*forward)(nb_module *m, nb_tensor *x);
    void (*describe)(const nb_module *m, char *buf, size_t size); /* "in_features=784, ..." */
    void (*free)(nb_module *m);                                    /* extra state; may be NULL */
} nbn_module_vt;

#define NBN_MAX_CHILDREN 256
struct nb_module {
    const nbn_module_vt *vt;
    bool training;
    int n_params;
    char *param_names[8];
    nb_tensor *params[8];   /* owned; NULL entries for optional ones (bias=False) are skipped */
    int n_buffers;
    char *buffer_names[8];
    nb_tensor *buffers[8];  /* owned */
    int n_children;
    char **child_names;     /* owned */
    nb_module **children;   /* owned */
    double f0;              /* per-layer scalar (dropout p, ...) */
    void *state;            /* per-layer options, freed with the module */
    size_t state_size;
};

/* Every public module constructor returns through this: a NULL result is remembered (per thread) so
 * that nb_sequential, whose argument list ends at the first NULL, can tell a failed child from the
 * end of the list. */
nb_module *nbn_constructed(nb_module *m);
/* True (and forgotten) if a module constructor failed on this thread and its error is still the
 * latest, uncleared error. */
bool nbn_take_ctor_failure(void);
/* A new f32 tensor uniform on [-bound, bound) from the global generator: PyTorch's default
 * initialisation (kaiming_uniform with a = sqrt(5) gives bound = 1/sqrt(fan_in), as does the bias). */
nb_tensor *nbn_uniform(int nd, const int64_t *shape, double bound);
/* Zeroed per-layer state of size bytes, owned by the module (NULL with the error set on failure). */
void *nbn_module_state(nb_module *m, size_t size);
/* A module with the given vtable and no parameters. */
nb_module *nbn_module_new(const char *fn, const nbn_module_vt *vt);
/* Register a parameter (requires grad) or buffer under name. Takes ownership of the new reference t
 * (scope-tracked or not), also on failure. Returns 0 or a negative nb_status. */
int nbn_module_add_param(nb_module *m, const char *name, nb_tensor *t);
int nbn_module_add_buffer(nb_module *m, const char *name, nb_tensor *t);
int nbn_module_add_child(nb_module *m, const char *name, nb_module *child);

#endif
