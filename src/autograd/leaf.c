/* autograd/leaf.c — the user-facing autograd state of a tensor: requires_grad, .grad, grad_fn,
 * detach and hooks. */
#include "../ops/op.h"

nb_tensor *nb_param(nb_tensor *t) {
    return nb_set_requires_grad(t, true) == 0 ? t : NULL;
}

int nb_set_requires_grad(nb_tensor *t, bool requires_grad) {
    static const char fn[] = "nb_set_requires_grad";
    if (!t) return nbc_null_arg(fn, 1);
    if (t->grad_fn)
        return nbc_error(NB_ERR_ARG, "%s: the tensor (%s) was produced by %s, not a leaf; use nb_detach to make a leaf",
                         fn, nbc_desc(t), t->grad_fn->name);
    if (requires_grad && !nb_dtype_is_float(t->dtype))
        return nbc_error(NB_ERR_ARG, "%s: only floating tensors can require grad; got %s", fn, nbc_desc(t));
    t->requires_grad = requires_grad;
    return 0;
}

bool nb_requires_grad(const nb_tensor *t) { return t && t->requires_grad; }
bool nb_is_leaf(const nb_tensor *t) { return t && !t->grad_fn; }

nb_tensor *nb_grad(nb_tensor *t) {
    if (!t) return nbc_null_arg("nb_grad", 1), NULL;
    return t->grad ? nb_retain(t->grad) : NULL;
}

void nb_zero_grad(nb_tensor *t) {
    if (!t || !t->grad) return;
    nbc_decref(t->grad);
    t->grad = NULL;
}

const char *nb_grad_fn_name(const nb_tensor *t) { return t && t->grad_fn ? t->grad_fn->name : NULL; }

nb_tensor *nb_detach(nb_tensor *t) {
    if (!t) return nbc_null_arg("nb_detach", 1), NULL;
    return nbc_track(nbc_tensor_view("nb_detach", t, t->dtype, t->ndim, t->shape, t->strides, t->offset));
}

int nb_register_hook(nb_tensor *t, nb_grad_hook hook, void *user_data) {
    static const char fn[] = "nb_register_hook";
    if (!t) return nbc_null_arg(fn, 1);
    if (!hook) return nbc_error(NB_ERR_ARG, "%s: hook is NULL", fn);
    if (!t->requires_grad)
        return nbc_error(NB_ERR_STATE, "%s: the tensor (%s) does not require grad, so no gradient will reach it", fn,
                         nbc_desc(t));
    nbc_hook *h = nbc_calloc(fn, sizeof *h);
    if (!h) return NB_ERR_NOMEM;
    h->fn = hook;
    h->user_data = user_data;
    /* hooks run in registration order: append */
    nbc_hook **list = (t->grad_fn && !t->grad_fn_weak) ? &t->grad_fn->out_hooks[t->out_index] : &t->hooks;
    while (*list) list = &(*list)->next;
    *list = h;
    return 0;
}
