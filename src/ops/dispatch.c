/* ops/dispatch.c — nbo_apply, the single path every op takes: NULL propagation, validation (the
 * descriptor's infer), output allocation, the kernel call, recording the autograd node, and handing
 * the outputs to the current scope. Graph tracing, profiling and anomaly checks hook in here too.
 */
#include "op.h"

#include <string.h>

#define MAX_OUT 4

static atomic_uint_fast64_t g_node_seq;

static void free_outputs(nb_tensor **out, int n) {
    for (int j = 0; j < n; j++) {
        nbc_decref(out[j]);
        out[j] = NULL;
    }
}

static void meta_of(const nb_tensor *t, nbc_meta *m) {
    m->dtype = t->dtype;
    m->ndim = t->ndim;
    memcpy(m->shape, t->shape, sizeof m->shape);
    memcpy(m->strides, t->strides, sizeof m->strides);
    m->offset = t->offset;
}

/* Build the node that lets backward reach every input that requires grad. */
static int record_node(int op, const nbo_desc *d, nb_tensor *const *in, int n_in, const nb_attrs *attrs,
                       nb_tensor **out, const char *fn) {
    nbc_node *n = nbc_node_new(fn, n_in, d->n_out);
    if (!n) return NB_ERR_NOMEM;
    n->op = op;
    n->name = d->bw_name;
    n->attrs = *attrs;
    n->seq = atomic_fetch_add(&g_node_seq, 1);
    for (int i = 0; i < n_in; i++) {
        meta_of(in[i], &n->in_meta[i]);
        bool wants = in[i]->requires_grad && !(i < 32 && (d->nograd_inputs >> i) & 1);
        if (wants) {
            if (in[i]->grad_fn) {
                n->edges[i].node = in[i]->grad_fn;
                n->edges[i].index = in[i]->out_index;
                nbc_node_incref(in[i]->grad_fn);
            } else {
                n->edges[i].leaf = in[i];
                nbc_incref(in[i]);
            }
        }
        if ((d->flags & NBO_SAVE_INPUTS) && !(i < 32 && (d->unsaved_inputs >> i) & 1)) {
            n->saved_in[i] = in[i];
            nbc_incref(in[i]);
            n->saved_ver[i] = atomic_load(&in[i]->storage->version);
        }
    }
    for (int j = 0; j < d->n_out; j++) meta_of(out[j], &n->out_meta[j]);
    if (d->flags & (NBO_SAVE_OUTPUTS | NBO_SAVE_AUX_OUTPUTS)) {
        for (int j = (d->flags & NBO_SAVE_OUTPUTS) ? 0 : 1; j < d->n_out; j++) {
            nb_tensor *o = out[j];
            /* An alias of the output that points back at this node without owning it: owning would
             * make a cycle (output -> node -> saved output). */
            nb_tensor *a = nbc_tensor_view(fn, o, o->dtype, o->ndim, o->shape, o->strides, o->offset);
            if (!a) {
                nbc_node_decref(n);
                return NB_ERR_NOMEM;
            }
            a->grad_fn = n;
            a->grad_fn_weak = true;
            a->out_index = j;
            a->requires_grad = nb_dtype_is_float(o->dtype);
            n->saved_out[j] = a;
            n->saved_ver[n_in + j] = atomic_load(&o->storage->version);
        }
    }
    for (int j = 0; j < d->n_out; j++) {
        if (j > 0 && !nb_dtype_is_float(out[j]->dtype)) continue; /* indices carry no gradient */
        if (j > 0) nbc_node_incref(n);
        out[j]->grad_fn = n;
        out[j]->out_index = j;
        out[j]->requires_grad = true;
    }
    return 0;
}

int nbo_apply(int op, nb_tensor *const *in, int n_in, const nb_attrs *attrs, nb_tensor **out) {
    const nbo_desc *d = nbo_get(op);
    static const nb_attrs no_attrs;
    const char *fn = nbo_fn_name(op);
    int rc;
    if (!attrs) attrs = &no_attrs;
    for (int j = 0; j < d->n_out; j++) out[j] = NULL;
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return nbc_null_arg(fn, i + 1);
    nbc_meta meta[MAX_OUT];
    memset(meta, 0, sizeof meta);
    rc = d->infer(in, n_in, attrs, meta);
    if (rc) return rc;
    for (int j = 0; j < d->n_out; j++) {
        if (d->flags & NBO_VIEW)
            out[j] = nbc_tensor_view(fn, in[0], meta[j].dtype, meta[j].ndim, meta[j].shape, meta[j].strides,
                                     meta[j].offset);
        else
            out[j] = nbc_tensor_new(fn, meta[j].dtype, meta[j].ndim, meta[j].shape);
        if (!out[j]) {
            rc = nb_last_status();
            free_outputs(out, j);
            return rc ? rc : NB_ERR_NOMEM;
        }
    }
    if (!(d->flags & NBO_VIEW)) {
        rc = d->forward(in, n_in, attrs, out);
        if (rc) {
            free_outputs(out, d->n_out);
            return rc;
        }
    }
    /* Only floating outputs carry gradients (a cast to int or a comparison ends the graph). */
    if (d->backward && nbc_grad_enabled() && nb_dtype_is_float(out[0]->dtype)) {
        bool record = false;
        for (int i = 0; i < n_in && !record; i++)
            record = in[i]->requires_grad && !(i < 32 && (d->nograd_inputs >> i) & 1);
        if (record && (rc = record_node(op, d, in, n_in, attrs, out, fn)) != 0) {
            free_outputs(out, d->n_out);
            return rc;
        }
    }
    for (int j = 0; j < d->n_out; j++) {
        if (!nbc_track(out[j])) { /* nbc_track freed out[j] */
            out[j] = NULL;
            for (int k = 0; k < j; k++) nb_free(out[k]);
            free_outputs(out + j + 1, d->n_out - j - 1);
            for (int k = 0; k <= j; k++) out[k] = NULL;
            return NB_ERR_NOMEM;
        }
    }
    return 0;
}

nb_tensor *nbo_apply1(int op, nb_tensor *const *in, int n_in, const nb_attrs *attrs) {
    nb_tensor *out[MAX_OUT];
    if (nbo_apply(op, in, n_in, attrs, out) != 0) return NULL;
    return out[0];
}
