/* ops/registry.c — the table of op descriptors built from ops.def, and the public read-only view
 * of it (nabla/registry.h). */
#include "op.h"

#include <pthread.h>
#include <string.h>

static const nbo_desc *const k_table[NBO_COUNT] = {
#define NB_OP(name) [NBO_##name] = &nbo_desc_##name,
#include "ops.def"
#undef NB_OP
};

const nbo_desc *nbo_get(int op) { return (op >= 0 && op < NBO_COUNT) ? k_table[op] : NULL; }

/* "nb_<name>" for messages, built once so the dispatcher never formats on the hot path. */
static char g_fn_names[NBO_COUNT][48];
static pthread_once_t g_fn_once = PTHREAD_ONCE_INIT;
static void build_fn_names(void) {
    for (int i = 0; i < NBO_COUNT; i++) snprintf(g_fn_names[i], sizeof g_fn_names[i], "nb_%s", k_table[i]->name);
}
const char *nbo_fn_name(int op) {
    pthread_once(&g_fn_once, build_fn_names);
    return g_fn_names[op];
}

int nb_op_count(void) { return NBO_COUNT; }

int nb_op_get_info(int i, nb_op_info *info) {
    const nbo_desc *d = nbo_get(i);
    if (!d || !info) return nbc_error(NB_ERR_ARG, "nb_op_get_info: op index %d is out of range 0..%d", i, NBO_COUNT - 1);
    info->name = d->name;
    info->n_inputs = d->n_in;
    info->n_outputs = d->n_out;
    info->differentiable = d->backward != NULL;
    info->is_view = (d->flags & NBO_VIEW) != 0;
    info->nograd_inputs = d->nograd_inputs;
    info->attrs = d->attrs ? d->attrs : "";
    info->torch = d->torch ? d->torch : "";
    info->summary = d->summary ? d->summary : "";
    return 0;
}

int nb_op_find(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < NBO_COUNT; i++)
        if (strcmp(k_table[i]->name, name) == 0) return i;
    return -1;
}

/* ---- composite functions (NB_FUNC lines) ------------------------------------------------------- */

static const nb_func_info k_funcs[] = {
#define NB_FUNC(name_, diff_, torch_, summary_) {.name = #name_, .differentiable = diff_, .torch = torch_, .summary = summary_},
#include "ops.def"
#undef NB_FUNC
    {NULL, false, NULL, NULL},
};
#define N_FUNCS ((int)(sizeof k_funcs / sizeof k_funcs[0]) - 1)

int nb_func_count(void) { return N_FUNCS; }

int nb_func_get_info(int i, nb_func_info *info) {
    if (i < 0 || i >= N_FUNCS || !info)
        return nbc_error(NB_ERR_ARG, "nb_func_get_info: function index %d is out of range 0..%d", i, N_FUNCS - 1);
    *info = k_funcs[i];
    return 0;
}
