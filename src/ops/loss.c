/* ops/loss.c — classification losses over class indices: nll_loss (primitive), cross_entropy
 * (= nll_loss(log_softmax(x, 1))), and one_hot. The gradient of nll_loss is a product with a constant
 * weight tensor (-1/denominator at each target, 0 elsewhere) built by the internal op
 * nll_loss_weight, so nll_loss's backward is itself differentiable.
 * Attributes: ints = {reduction, use_ignore_index, ignore_index}. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>
#include <string.h>

/* logp: (N, C, d1, ...) or (C); target: (N, d1, ...) or (). */
static int check_nll(const char *fn, const nb_tensor *logp, const nb_tensor *t) {
    if (!nb_dtype_is_float(logp->dtype))
        return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must have a floating dtype", fn, nbc_desc(logp));
    if (nb_dtype_is_float(t->dtype) || t->dtype == NB_BOOL)
        return nbc_error(NB_ERR_ARG, "%s: argument #2 (target, %s) must hold class indices of an integer dtype", fn,
                         nbc_desc(t));
    if (logp->ndim == 0) return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) needs at least 1 dim", fn, nbc_desc(logp));
    bool ok = logp->ndim == 1 ? t->ndim == 0 : t->ndim == logp->ndim - 1 && t->shape[0] == logp->shape[0];
    for (int d = 2; ok && d < logp->ndim; d++) ok = t->shape[d - 1] == logp->shape[d];
    if (!ok)
        return nbc_error(NB_ERR_ARG, "%s: target has shape %s; expected %s to match input %s (N, C, d1, ...)", fn,
                         nbc_shape_str(t->ndim, t->shape), logp->ndim == 1 ? "[]" : "(N, d1, ...)",
                         nbc_shape_str(logp->ndim, logp->shape));
    return 0;
}

/* Walk (n, c, inner) positions: class axis is dim 1 (or the only dim). */
typedef struct nll_layout {
    int64_t n, c, inner;
} nll_layout;

static nll_layout layout_of(const int64_t *shape, int ndim) {
    nll_layout l = {1, shape[ndim == 1 ? 0 : 1], 1};
    if (ndim > 1) l.n = shape[0];
    for (int d = 2; d < ndim; d++) l.inner *= shape[d];
    return l;
}

/* Read targets as i64 and check their range; counts the non-ignored ones. */
static int read_targets(const char *fn, const nb_tensor *t, const nb_attrs *a, int64_t classes, nbo_buffer *buf,
                        int64_t *valid) {
    if (nbo_buffer_get(fn, t, NB_I64, buf)) return NB_ERR_NOMEM;
    const int64_t *tv = buf->data;
    int64_t n = nbc_numel(t->ndim, t->shape);
    *valid = 0;
    for (int64_t i = 0; i < n; i++) {
        if (a->ints[1] && tv[i] == a->ints[2]) continue;
        if (tv[i] < 0 || tv[i] >= classes) {
            long long bad = (long long)tv[i]; /* read before the buffer is released */
            nbo_buffer_release(buf);
            return nbc_error(NB_ERR_ARG, "%s: target value %lld at flat index %lld is out of range for %lld classes", fn,
                             bad, (long long)i, (long long)classes);
        }
        (*valid)++;
    }
    return 0;
}

static int nll_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    int rc = check_nll("nb_nll_loss", in[0], in[1]);
    if (rc) return rc;
    if (a->ints[0] == NB_REDUCTION_NONE) nbo_meta_set(out, in[0]->dtype, in[1]->ndim, in[1]->shape);
    else nbo_meta_set(out, in[0]->dtype, 0, NULL);
    return 0;
}

static int nll_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_nll_loss";
    nb_tensor *lp = in[0];
    nll_layout l = layout_of(lp->shape, lp->ndim);
    nbo_buffer tb, xb;
    int64_t valid;
    int rc = read_targets(fn, in[1], a, l.c, &tb, &valid);
    if (rc) return rc;
    if (nbo_buffer_get(fn, lp, NB_F64, &xb)) {
        nbo_buffer_release(&tb);
        return NB_ERR_NOMEM;
    }
    const int64_t *tv = tb.data;
    const double *x = xb.data;
    double total = 0;
    void *o = nbc_ptr(out[0]);
    for (int64_t i = 0; i < l.n; i++)
        for (int64_t s = 0; s < l.inner; s++) {
            int64_t k = i * l.inner + s, t = tv[k];
            double v = (a->ints[1] && t == a->ints[2]) ? 0.0 : -x[(i * l.c + t) * l.inner + s];
            if (a->ints[0] == NB_REDUCTION_NONE) nbc_store(o, out[0]->dtype, k, v);
            else total += v;
        }
    if (a->ints[0] == NB_REDUCTION_SUM) nbc_store(o, out[0]->dtype, 0, total);
    if (a->ints[0] == NB_REDUCTION_MEAN) nbc_store(o, out[0]->dtype, 0, valid ? total / (double)valid : NAN);
    nbo_buffer_release(&xb);
    nbo_buffer_release(&tb);
    return 0;
}

static int nll_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs wa = *c->attrs;
    wa.dtype = c->in_meta[0].dtype;
    nb_tensor *w = nbo_apply1(NBO_nll_loss_weight, (nb_tensor *[]){c->in[1]}, 1, &wa); /* shaped like input */
    nb_tensor *gg = g[0];
    if (c->attrs->ints[0] == NB_REDUCTION_NONE && c->in_meta[0].ndim > 1) gg = nb_unsqueeze(g[0], 1);
    gin[0] = nb_mul(w, gg);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_nll_loss = {.name = "nll_loss", .bw_name = "NllLossBackward", .n_in = 2, .n_out = 1,
                                    .flags = NBO_SAVE_INPUTS, .nograd_inputs = 1u << 1,
                                    .attrs = "ints=[reduction, use_ignore_index, ignore_index]",
                                    .torch = "torch.nn.functional.nll_loss",
                                    .summary = "negative log likelihood at class indices",
                                    .infer = nll_infer, .forward = nll_forward, .backward = nll_bw};

/* ---- nll_loss_weight: d(nll_loss)/d(logp) per unit output gradient ----------------------------- */

static int nllw_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *t = in[0];
    int64_t classes = a->ints[3];
    if (t->ndim + 1 > NB_MAX_DIMS) return nbc_error(NB_ERR_ARG, "nb_nll_loss_weight: target %s has too many dims", nbc_desc(t));
    int64_t shape[NB_MAX_DIMS];
    if (t->ndim == 0) {
        shape[0] = classes;
    } else {
        shape[0] = t->shape[0];
        shape[1] = classes;
        for (int d = 1; d < t->ndim; d++) shape[d + 1] = t->shape[d];
    }
    nbo_meta_set(out, a->dtype, t->ndim + 1, shape);
    return 0;
}

static int nllw_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_nll_loss_weight";
    nb_tensor *o = out[0];
    nll_layout l = layout_of(o->shape, o->ndim);
    nbo_buffer tb;
    int64_t valid;
    int rc = read_targets(fn, in[0], a, l.c, &tb, &valid);
    if (rc) return rc;
    const int64_t *tv = tb.data;
    double w = a->ints[0] == NB_REDUCTION_MEAN ? (valid ? -1.0 / (double)valid : NAN) : -1.0;
    void *p = nbc_ptr(o);
    memset(p, 0, o->storage->nbytes);
    for (int64_t i = 0; i < l.n; i++)
        for (int64_t s = 0; s < l.inner; s++) {
            int64_t t = tv[i * l.inner + s];
            if (a->ints[1] && t == a->ints[2]) continue;
            nbc_store(p, o->dtype, (i * l.c + t) * l.inner + s, w);
        }
    nbo_buffer_release(&tb);
    return 0;
}

const nbo_desc nbo_desc_nll_loss_weight = {
    .name = "nll_loss_weight", .n_in = 1, .n_out = 1,
    .attrs = "ints=[reduction, use_ignore_index, ignore_index, classes] dtype",
    .torch = "(internal: gradient weights of nll_loss)",
    .summary = "-1/denominator at each target class, 0 elsewhere (internal)",
    .infer = nllw_infer, .forward = nllw_forward};

/* ---- public wrappers ---------------------------------------------------------------------------- */

static nb_attrs nll_attrs(const nb_cross_entropy_opts *o, int64_t classes) {
    nb_attrs a = {.n_ints = 4};
    a.ints[0] = o ? o->reduction : NB_REDUCTION_MEAN;
    a.ints[1] = o && o->use_ignore_index;
    a.ints[2] = o ? o->ignore_index : 0;
    a.ints[3] = classes;
    return a;
}

static int check_reduction(const char *fn, const nb_cross_entropy_opts *o) {
    if (o && (o->reduction < NB_REDUCTION_MEAN || o->reduction > NB_REDUCTION_NONE))
        return nbc_error(NB_ERR_ARG, "%s: invalid reduction %d", fn, (int)o->reduction);
    return 0;
}

nb_tensor *nb_nll_loss(nb_tensor *logp, nb_tensor *target, const nb_cross_entropy_opts *opts) {
    if (!logp) return nbc_null_arg("nb_nll_loss", 1), NULL;
    if (!target) return nbc_null_arg("nb_nll_loss", 2), NULL;
    if (check_reduction("nb_nll_loss", opts)) return NULL;
    if (check_nll("nb_nll_loss", logp, target)) return NULL;
    nb_attrs a = nll_attrs(opts, logp->shape[logp->ndim == 1 ? 0 : 1]);
    return nbo_apply1(NBO_nll_loss, (nb_tensor *[]){logp, target}, 2, &a);
}

nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *target, const nb_cross_entropy_opts *opts) {
    static const char fn[] = "nb_cross_entropy";
    if (!logits) return nbc_null_arg(fn, 1), NULL;
    if (!target) return nbc_null_arg(fn, 2), NULL;
    if (check_reduction(fn, opts) || check_nll(fn, logits, target)) return NULL;
    nb_tensor *lp = nb_log_softmax(logits, logits->ndim == 1 ? 0 : 1);
    nb_tensor *loss = nb_nll_loss(lp, target, opts);
    nb_free(lp);
    return loss;
}

static int one_hot_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *t = in[0];
    if (nb_dtype_is_float(t->dtype) || t->dtype == NB_BOOL)
        return nbc_error(NB_ERR_ARG, "nb_one_hot: argument #1 (%s) must have an integer dtype", nbc_desc(t));
    if (t->ndim + 1 > NB_MAX_DIMS) return nbc_error(NB_ERR_ARG, "nb_one_hot: argument #1 (%s) has too many dims", nbc_desc(t));
    if (a->ints[0] < 0)
        return nbc_error(NB_ERR_ARG, "nb_one_hot: num_classes = %lld; expected >= 0", (long long)a->ints[0]);
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    shape[t->ndim] = a->ints[0];
    nbo_meta_set(out, a->dtype, t->ndim + 1, shape);
    return 0;
}

static int one_hot_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    nbo_buffer tb;
    nb_attrs check = {.n_ints = 3};
    int64_t valid, classes = a->ints[0];
    int rc = read_targets("nb_one_hot", in[0], &check, classes, &tb, &valid);
    if (rc) return rc;
    nb_tensor *o = out[0];
    memset(nbc_ptr(o), 0, o->storage->nbytes);
    const int64_t *tv = tb.data;
    for (int64_t i = 0; i < valid; i++) nbc_store(nbc_ptr(o), o->dtype, i * classes + tv[i], 1);
    nbo_buffer_release(&tb);
    return 0;
}

const nbo_desc nbo_desc_one_hot = {.name = "one_hot", .n_in = 1, .n_out = 1, .attrs = "ints=[num_classes] dtype",
                                   .torch = "torch.nn.functional.one_hot",
                                   .summary = "indices to one-hot rows (dtype chosen by the caller)",
                                   .infer = one_hot_infer, .forward = one_hot_forward};

nb_tensor *nb_one_hot(nb_tensor *indices, int64_t num_classes, nb_dtype dtype) {
    nb_attrs a = {.n_ints = 1, .ints = {num_classes}, .dtype = dtype};
    if ((unsigned)dtype >= NB_DTYPE_COUNT) return nbc_error(NB_ERR_ARG, "nb_one_hot: invalid dtype %d", (int)dtype), NULL;
    return nbo_apply1(NBO_one_hot, &indices, 1, &a);
}
