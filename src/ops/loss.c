/* ops/loss.c — classification losses over class indices: nll_loss (primitive, optional class weights
 * as a third input that never gets a gradient), cross_entropy (a fused log_softmax + nll_loss op for
 * (N, C) / (C) logits with its fused gradient op cross_entropy_backward; K-dim inputs, label smoothing
 * and class-probability targets run as compositions, as PyTorch defines them), and one_hot. The
 * gradient of nll_loss is a product with a constant weight tensor (-weight[t]/denominator at each
 * target, 0 elsewhere) built by the internal op nll_loss_weight, so nll_loss's backward is itself
 * differentiable. Attributes: ints = {reduction, use_ignore_index, ignore_index, classes}. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>
#include <string.h>

/* logp: (N, C, d1, ...) or (C); target: (N, d1, ...) or (); weight: (C) of logp's dtype, or NULL. */
static int check_nll(const char *fn, const nb_tensor *logp, const nb_tensor *t, const nb_tensor *w) {
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
    int64_t classes = logp->shape[logp->ndim == 1 ? 0 : 1];
    if (w && (w->ndim != 1 || w->shape[0] != classes || w->dtype != logp->dtype))
        return nbc_error(NB_ERR_ARG, "%s: weight (%s) must be 1-D with %lld entries (one per class) of the input's dtype %s",
                         fn, nbc_desc(w), (long long)classes, nb_dtype_name(logp->dtype));
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

/* Class weights as f64 (NULL tensor: all 1). */
typedef struct class_weights {
    nbo_buffer buf;
    const double *w; /* NULL: unweighted */
} class_weights;

static int weights_get(const char *fn, const nb_tensor *w, class_weights *cw) {
    cw->w = NULL;
    cw->buf.capacity = 0;
    if (!w) return 0;
    if (nbo_buffer_get(fn, w, NB_F64, &cw->buf)) return NB_ERR_NOMEM;
    cw->w = cw->buf.data;
    return 0;
}

/* Sum of the targets' weights over non-ignored targets: the denominator of a (weighted) mean. */
static double weight_total(const int64_t *tv, int64_t n, const nb_attrs *a, const double *w) {
    double s = 0;
    for (int64_t k = 0; k < n; k++)
        if (!(a->ints[1] && tv[k] == a->ints[2])) s += w ? w[tv[k]] : 1.0;
    return s;
}

/* Element offset of logp at (sample i, class c, inner position s), from its strides. */
static int64_t nll_offset(const nb_tensor *x, int64_t i, int64_t c, int64_t s) {
    if (x->ndim == 1) return c * x->strides[0];
    int64_t off = i * x->strides[0] + c * x->strides[1];
    for (int d = x->ndim - 1; d >= 2; d--) {
        off += (s % x->shape[d]) * x->strides[d];
        s /= x->shape[d];
    }
    return off;
}

static int nll_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    if (n != 2 && n != 3) return nbc_error(NB_ERR_ARG, "nb_nll_loss: expected 2 or 3 inputs, got %d", n);
    int rc = check_nll("nb_nll_loss", in[0], in[1], n == 3 ? in[2] : NULL);
    if (rc) return rc;
    if (a->ints[0] == NB_REDUCTION_NONE) nbo_meta_set(out, in[0]->dtype, in[1]->ndim, in[1]->shape);
    else nbo_meta_set(out, in[0]->dtype, 0, NULL);
    return 0;
}

/* Reads only the N * d1 * ... target entries of logp (through its strides), never the whole input. */
static int nll_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    static const char fn[] = "nb_nll_loss";
    nb_tensor *lp = in[0];
    nll_layout l = layout_of(lp->shape, lp->ndim);
    nbo_buffer tb;
    class_weights cw;
    int64_t valid;
    int rc = read_targets(fn, in[1], a, l.c, &tb, &valid);
    if (rc) return rc;
    if (weights_get(fn, n_in == 3 ? in[2] : NULL, &cw)) {
        nbo_buffer_release(&tb);
        return NB_ERR_NOMEM;
    }
    const int64_t *tv = tb.data;
    const void *x = nbc_ptr(lp);
    double total = 0;
    void *o = nbc_ptr(out[0]);
    for (int64_t i = 0; i < l.n; i++)
        for (int64_t s = 0; s < l.inner; s++) {
            int64_t k = i * l.inner + s, t = tv[k];
            double v = 0.0;
            if (!(a->ints[1] && t == a->ints[2]))
                v = -nbc_load(x, lp->dtype, nll_offset(lp, i, t, s)) * (cw.w ? cw.w[t] : 1.0);
            if (a->ints[0] == NB_REDUCTION_NONE) nbc_store(o, out[0]->dtype, k, v);
            else total += v;
        }
    if (a->ints[0] == NB_REDUCTION_SUM) nbc_store(o, out[0]->dtype, 0, total);
    if (a->ints[0] == NB_REDUCTION_MEAN) {
        double den = weight_total(tv, l.n * l.inner, a, cw.w);
        nbc_store(o, out[0]->dtype, 0, valid ? total / den : NAN); /* 0 / 0 is NaN as in PyTorch */
    }
    nbo_buffer_release(&cw.buf);
    nbo_buffer_release(&tb);
    return 0;
}

static int nll_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs wa = *c->attrs;
    wa.dtype = c->in_meta[0].dtype;
    nb_tensor *w = nbo_apply1(NBO_nll_loss_weight, (nb_tensor *[]){c->in[1], c->n_in == 3 ? c->in[2] : NULL},
                              c->n_in - 1, &wa); /* shaped like input */
    nb_tensor *gg = g[0];
    if (c->attrs->ints[0] == NB_REDUCTION_NONE && c->in_meta[0].ndim > 1) gg = nb_unsqueeze(g[0], 1);
    gin[0] = nb_mul(w, gg);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_nll_loss = {.name = "nll_loss", .bw_name = "NllLossBackward", .n_in = -1, .n_out = 1,
                                    .flags = NBO_SAVE_INPUTS, .nograd_inputs = (1u << 1) | (1u << 2),
                                    .attrs = "ints=[reduction, use_ignore_index, ignore_index, classes]; inputs (logp, "
                                             "target[, weight])",
                                    .torch = "torch.nn.functional.nll_loss",
                                    .summary = "negative log likelihood at class indices, optional class weights "
                                               "(no weight gradient)",
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
    static const char fn[] = "nb_nll_loss_weight";
    nb_tensor *o = out[0];
    nll_layout l = layout_of(o->shape, o->ndim);
    nbo_buffer tb;
    class_weights cw;
    int64_t valid;
    int rc = read_targets(fn, in[0], a, l.c, &tb, &valid);
    if (rc) return rc;
    if (weights_get(fn, n_in == 2 ? in[1] : NULL, &cw)) {
        nbo_buffer_release(&tb);
        return NB_ERR_NOMEM;
    }
    const int64_t *tv = tb.data;
    double scale = -1.0;
    if (a->ints[0] == NB_REDUCTION_MEAN) scale = valid ? -1.0 / weight_total(tv, l.n * l.inner, a, cw.w) : NAN;
    void *p = nbc_ptr(o);
    memset(p, 0, o->storage->nbytes);
    for (int64_t i = 0; i < l.n; i++)
        for (int64_t s = 0; s < l.inner; s++) {
            int64_t t = tv[i * l.inner + s];
            if (a->ints[1] && t == a->ints[2]) continue;
            nbc_store(p, o->dtype, (i * l.c + t) * l.inner + s, scale * (cw.w ? cw.w[t] : 1.0));
        }
    nbo_buffer_release(&cw.buf);
    nbo_buffer_release(&tb);
    return 0;
}

const nbo_desc nbo_desc_nll_loss_weight = {
    .name = "nll_loss_weight", .n_in = -1, .n_out = 1,
    .attrs = "ints=[reduction, use_ignore_index, ignore_index, classes] dtype; inputs (target[, weight])",
    .torch = "(internal: gradient weights of nll_loss)",
    .summary = "-weight[t]/denominator at each target class, 0 elsewhere (internal)",
    .infer = nllw_infer, .forward = nllw_forward};

/* ---- cross_entropy: fused log_softmax + nll_loss for (N, C) or (C) logits and class indices ------
 * The forward runs the softmax row kernel over blocks of rows into a small scratch buffer and picks
 * each row's target (no full-size log-probabilities are kept); the backward is one internal op,
 * cross_entropy_backward, writing s_k (softmax(x_k) - onehot(t_k)) with s_k = g_k w[t_k] / den. That op's
 * own backward is built from registry ops, so every higher derivative exists. Other forms (K-dim,
 * label smoothing, probabilities) take the composition in nb_cross_entropy. */

/* Rows (N) and classes (C) of a 1-D or 2-D logits tensor. */
static void ce_rows(const int64_t *shape, int ndim, int64_t *n, int64_t *c) {
    *n = ndim == 1 ? 1 : shape[0];
    *c = shape[ndim - 1];
}

static int ce_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    if (n != 2 && n != 3) return nbc_error(NB_ERR_ARG, "nb_cross_entropy: expected 2 or 3 inputs, got %d", n);
    if (in[0]->ndim > 2)
        return nbc_error(NB_ERR_ARG, "nb_cross_entropy: the fused op takes (N, C) or (C) logits, not %s", nbc_desc(in[0]));
    int rc = check_nll("nb_cross_entropy", in[0], in[1], n == 3 ? in[2] : NULL);
    if (rc) return rc;
    if (a->ints[0] == NB_REDUCTION_NONE) nbo_meta_set(out, in[0]->dtype, in[1]->ndim, in[1]->shape);
    else nbo_meta_set(out, in[0]->dtype, 0, NULL);
    return 0;
}

/* Row kernels of the fused op. A block of rows is turned into e = exp(x - rowmax) (the vector exp for
 * f32, one call per block), then each row's sum gives its log-sum-exp; the forward keeps only the
 * per-row losses, the backward writes e scaled into the gradient. Sums use 8 lanes (vectorised, and
 * the same for any thread split since rows never straddle threads). */
enum { CE_BLOCK = 1 << 14, CE_ROWS = 256 }; /* elements (and at most rows) per block: stays in L1 / L2 */

static float ce_max_f(const float *x, int64_t n) {
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
    for (; i < n; i++) m[0] = x[i] > m[0] ? x[i] : m[0];
    float r = m[0];
    for (int l = 1; l < 8; l++) r = m[l] > r ? m[l] : r;
    return r; /* a NaN in the row is skipped here but reaches the sum through exp(x - max): NaN as PyTorch */
}
static float ce_sum_f(const float *x, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += x[i + l];
    for (; i < n; i++) s[0] += x[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

typedef struct ce_job {
    nb_dtype c;
    const void *x;
    void *dx;        /* backward: the gradient (compute type); forward: NULL */
    double *row_out; /* forward: per-row losses */
    int64_t C;
    const int64_t *tv;
    const double *w, *g; /* class weights or NULL; backward: output gradient (per row, or one value) */
    const nb_attrs *a;
    double scale; /* backward: 1 / den for mean, else 1 */
    int rc;
} ce_job;

/* e = exp(x - max) for rows [r0, r0 + m) into e (compute type); the per-row max goes to mx. */
static void ce_exp_block(const ce_job *j, int64_t r0, int64_t m, void *e, double *mx) {
    int64_t C = j->C;
    if (j->c == NB_F32) {
        const float *x = (const float *)j->x + r0 * C;
        float *y = e;
        for (int64_t k = 0; k < m; k++) {
            float v = ce_max_f(x + k * C, C);
            if (v == -INFINITY) v = 0; /* an all -inf row: log(0) - (-inf) is NaN below, as PyTorch */
            mx[k] = v;
            for (int64_t i = 0; i < C; i++) y[k * C + i] = x[k * C + i] - v;
        }
        nbk_vmath_f32(NBK_VEXP, y, y, m * C);
    } else {
        const double *x = (const double *)j->x + r0 * C;
        double *y = e;
        for (int64_t k = 0; k < m; k++) {
            double v = -INFINITY;
            for (int64_t i = 0; i < C; i++) v = x[k * C + i] > v ? x[k * C + i] : v;
            if (v == -INFINITY) v = 0;
            mx[k] = v;
            for (int64_t i = 0; i < C; i++) y[k * C + i] = exp(x[k * C + i] - v);
        }
    }
}

static double ce_row_sum(const ce_job *j, const void *e, int64_t k) {
    if (j->c == NB_F32) return ce_sum_f((const float *)e + k * j->C, j->C);
    const double *y = (const double *)e + k * j->C;
    double s = 0;
    for (int64_t i = 0; i < j->C; i++) s += y[i];
    return s;
}

static bool ce_ignored(const nb_attrs *a, int64_t t) { return a->ints[1] && t == a->ints[2]; }

static void ce_range(void *ctx, int64_t begin, int64_t end) {
    ce_job *j = ctx;
    int64_t C = j->C, rows = CE_BLOCK / (C ? C : 1);
    if (rows < 1) rows = 1;
    if (rows > CE_ROWS) rows = CE_ROWS;
    size_t es = nb_dtype_size(j->c), cap = 0;
    double mx[CE_ROWS];
    void *scratch = NULL;
    if (!j->dx && !(scratch = nbc_block_alloc((size_t)(rows * C > 0 ? rows * C : 1) * es, &cap))) {
        j->rc = NB_ERR_NOMEM;
        return;
    }
    for (int64_t r0 = begin; r0 < end; r0 += rows) {
        int64_t m = end - r0 < rows ? end - r0 : rows;
        void *e = j->dx ? (char *)j->dx + (size_t)(r0 * C) * es : scratch;
        ce_exp_block(j, r0, m, e, mx);
        for (int64_t k = 0; k < m; k++) {
            int64_t row = r0 + k, t = j->tv[row];
            double sum = ce_row_sum(j, e, k);
            bool ig = ce_ignored(j->a, t);
            double wt = ig ? 0.0 : j->w ? j->w[t] : 1.0;
            if (!j->dx) { /* loss = w (lse - x_t), lse = max + log(sum) */
                double xt = ig ? 0.0 : nbc_load(j->x, j->c, row * C + t);
                j->row_out[row] = ig ? 0.0 : wt * ((mx[k] + log(sum)) - xt);
                continue;
            }
            double sk = ig ? 0.0 : j->g[j->a->ints[0] == NB_REDUCTION_NONE ? row : 0] * j->scale * wt;
            if (j->c == NB_F32) {
                float *y = (float *)e + k * C, f = (float)(sk / sum);
                for (int64_t i = 0; i < C; i++) y[i] *= f;
                if (!ig) y[t] -= (float)sk;
            } else {
                double *y = (double *)e + k * C, f = sk / sum;
                for (int64_t i = 0; i < C; i++) y[i] *= f;
                if (!ig) y[t] -= sk;
            }
        }
    }
    if (scratch) nbc_block_free(scratch, cap);
}

enum { CE_LONG_ROW = 1024 };

/* Per-row losses through nbk_softmax_rows (log) over blocks of rows into a scratch buffer. */
static int ce_forward_long(const char *fn, nb_dtype c, const void *x, int64_t N, int64_t C, const int64_t *tv,
                           const double *w, const nb_attrs *a, double *per) {
    size_t es = nb_dtype_size(c), cap;
    int64_t rows = 8 * CE_BLOCK / C > 2 ? 8 * CE_BLOCK / C : 2;
    if (rows > N) rows = N;
    void *scratch = nbc_block_alloc((size_t)((rows ? rows : 1) * C) * es, &cap);
    if (!scratch) return nbc_oom(fn);
    for (int64_t r0 = 0; r0 < N; r0 += rows) {
        int64_t m = N - r0 < rows ? N - r0 : rows;
        nbk_softmax_rows(c, (const char *)x + (size_t)(r0 * C) * es, scratch, m, C, true);
        for (int64_t k = r0; k < r0 + m; k++) {
            int64_t t = tv[k];
            per[k] = ce_ignored(a, t) ? 0.0 : -nbc_load(scratch, c, (k - r0) * C + t) * (w ? w[t] : 1.0);
        }
    }
    nbc_block_free(scratch, cap);
    return 0;
}

static int ce_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    static const char fn[] = "nb_cross_entropy";
    int64_t N, C;
    ce_rows(in[0]->shape, in[0]->ndim, &N, &C);
    nb_dtype c = nbk_compute_type(in[0]->dtype);
    nbo_buffer tb, xb = {0}, lb = {0};
    class_weights cw = {{0}, NULL};
    int64_t valid;
    int rc = read_targets(fn, in[1], a, C, &tb, &valid);
    if (rc) return rc;
    if ((rc = weights_get(fn, n_in == 3 ? in[2] : NULL, &cw)) != 0 || (rc = nbo_buffer_get(fn, in[0], c, &xb)) != 0)
        goto done;
    if (!(lb.data = nbc_block_alloc(sizeof(double) * (size_t)(N ? N : 1), &lb.capacity))) {
        rc = nbc_oom(fn);
        goto done;
    }
    if (C >= CE_LONG_ROW) { /* long rows: the one-pass softmax row kernel (parallel over rows) wins */
        rc = ce_forward_long(fn, c, xb.data, N, C, tb.data, cw.w, a, lb.data);
    } else {
        ce_job j = {.c = c, .x = xb.data, .row_out = lb.data, .C = C, .tv = tb.data, .w = cw.w, .a = a};
        nbc_parallel_for(N, CE_BLOCK / (C ? C : 1) + 1, ce_range, &j);
        if (j.rc) rc = nbc_oom(fn);
    }
    if (rc) goto done;
    const double *per = lb.data;
    void *o = nbc_ptr(out[0]);
    double total = 0;
    for (int64_t k = 0; k < N; k++) {
        if (a->ints[0] == NB_REDUCTION_NONE) nbc_store(o, out[0]->dtype, k, per[k]);
        else total += per[k];
    }
    if (a->ints[0] == NB_REDUCTION_SUM) nbc_store(o, out[0]->dtype, 0, total);
    if (a->ints[0] == NB_REDUCTION_MEAN)
        nbc_store(o, out[0]->dtype, 0, valid ? total / weight_total(tb.data, N, a, cw.w) : NAN);
done:
    nbo_buffer_release(&lb);
    nbo_buffer_release(&xb);
    nbo_buffer_release(&cw.buf);
    nbo_buffer_release(&tb);
    return rc;
}

static int ce_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *in[4] = {g[0], c->in[0], c->in[1], c->n_in == 3 ? c->in[2] : NULL};
    gin[0] = nbo_apply1(NBO_cross_entropy_backward, in, c->n_in + 1, c->attrs);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_cross_entropy = {
    .name = "cross_entropy", .bw_name = "CrossEntropyBackward", .n_in = -1, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = (1u << 1) | (1u << 2),
    .attrs = "ints=[reduction, use_ignore_index, ignore_index, classes]; inputs (logits, target[, weight])",
    .torch = "torch.nn.functional.cross_entropy",
    .summary = "fused log_softmax + nll_loss; K-dim inputs, label smoothing and probability targets run as "
               "compositions (no ignore_index unless asked, unlike PyTorch)",
    .infer = ce_infer, .forward = ce_forward, .backward = ce_bw};

/* ---- cross_entropy_backward: inputs (g, logits, target[, weight]) -> d loss / d logits ------------- */

static int ceb_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)a;
    if (n != 3 && n != 4)
        return nbc_error(NB_ERR_ARG, "nb_cross_entropy_backward: expected 3 or 4 inputs, got %d", n);
    nbo_meta_set(out, in[1]->dtype, in[1]->ndim, in[1]->shape);
    return 0;
}

static int ceb_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    static const char fn[] = "nb_cross_entropy_backward";
    nb_tensor *x = in[1], *dx = out[0];
    int64_t N, C;
    ce_rows(x->shape, x->ndim, &N, &C);
    nb_dtype c = nbk_compute_type(x->dtype);
    nbo_buffer tb, xb = {0}, gb = {0}, ob = {0};
    class_weights cw = {{0}, NULL};
    int64_t valid;
    int rc = read_targets(fn, in[2], a, C, &tb, &valid);
    if (rc) return rc;
    if ((rc = weights_get(fn, n_in == 4 ? in[3] : NULL, &cw)) != 0 || (rc = nbo_buffer_get(fn, x, c, &xb)) != 0 ||
        (rc = nbo_buffer_get(fn, in[0], NB_F64, &gb)) != 0)
        goto done;
    ob.data = nbc_ptr(dx);
    if (dx->dtype != c && !(ob.data = nbc_block_alloc((size_t)(N * C > 0 ? N * C : 1) * nb_dtype_size(c), &ob.capacity))) {
        rc = nbc_oom(fn);
        goto done;
    }
    const int64_t *tv = tb.data;
    double scale = a->ints[0] == NB_REDUCTION_MEAN && valid ? 1.0 / weight_total(tv, N, a, cw.w) : 1.0;
    ce_job j = {.c = c, .x = xb.data, .dx = ob.data, .C = C, .tv = tv, .w = cw.w, .g = gb.data, .a = a, .scale = scale};
    nbc_parallel_for(N, CE_BLOCK / (C ? C : 1) + 1, ce_range, &j);
    if (dx->dtype != c) nbk_convert(nbc_ptr(dx), dx->dtype, ob.data, c, N * C);
done:
    nbo_buffer_release(&ob);
    nbo_buffer_release(&gb);
    nbo_buffer_release(&xb);
    nbo_buffer_release(&cw.buf);
    nbo_buffer_release(&tb);
    return rc;
}

/* dx = s (p - onehot) with s = g r, r = w[t] / den (= -rowsum of nll_loss_weight), p = softmax(x). For an
 * upstream gg: d/dx = s p (gg - sum(gg p)), d/dg = sum(gg (p r + nll_loss_weight)) per row (or in all for
 * a 0-d g). */
static int ceb_bw(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_tensor *g = c->in[0], *x = c->in[1], *gg = gout[0];
    int cdim = c->in_meta[1].ndim - 1;
    nb_attrs wa = *c->attrs;
    wa.dtype = c->in_meta[1].dtype;
    nb_tensor *nllw = nbo_apply1(NBO_nll_loss_weight, (nb_tensor *[]){c->in[2], c->n_in == 4 ? c->in[3] : NULL},
                                 c->n_in - 2, &wa);
    nb_reduce_opts keep = {.n = 1, .dims = {cdim}, .keepdim = true};
    nb_tensor *r = nb_neg(nb_sum(nllw, &keep));
    nb_tensor *p = nb_softmax(x, cdim);
    if (c->needs_grad[1]) {
        nb_tensor *gcol = c->in_meta[0].ndim ? nb_unsqueeze(g, 1) : nb_retain(g);
        nb_tensor *inner = nb_sum(nb_mul(gg, p), &keep);
        gin[1] = nb_mul(nb_mul(nb_mul(gcol, r), p), nb_sub(gg, inner));
        if (!gin[1]) return nb_last_status();
    }
    if (c->needs_grad[0]) {
        nb_tensor *t = nb_mul(gg, nb_add(nb_mul(p, r), nllw));
        gin[0] = c->in_meta[0].ndim ? nb_sum(t, NB_DIMS(1)) : nb_sum(t, NULL);
        if (!gin[0]) return nb_last_status();
    }
    return 0;
}

const nbo_desc nbo_desc_cross_entropy_backward = {
    .name = "cross_entropy_backward", .bw_name = "CrossEntropyBackwardBackward", .n_in = -1, .n_out = 1,
    .flags = NBO_SAVE_INPUTS, .nograd_inputs = (1u << 2) | (1u << 3),
    .attrs = "ints=[reduction, use_ignore_index, ignore_index, classes]; inputs (grad, logits, target[, weight])",
    .torch = "(internal: gradient of cross_entropy)",
    .summary = "g w[t] / den * (softmax(x) - onehot(t)) in one pass (internal)",
    .infer = ceb_infer, .forward = ceb_forward, .backward = ceb_bw};

/* ---- public wrappers ---------------------------------------------------------------------------- */

static nb_attrs nll_attrs(const nb_cross_entropy_opts *o, int64_t classes) {
    nb_attrs a = {.n_ints = 4};
    a.ints[0] = o ? o->reduction : NB_REDUCTION_MEAN;
    a.ints[1] = o && o->use_ignore_index;
    a.ints[2] = o ? o->ignore_index : 0;
    a.ints[3] = classes;
    return a;
}

static int check_opts(const char *fn, const nb_cross_entropy_opts *o, bool smoothing_allowed) {
    if (!o) return 0;
    if (o->reduction < NB_REDUCTION_MEAN || o->reduction > NB_REDUCTION_NONE)
        return nbc_error(NB_ERR_ARG, "%s: invalid reduction %d (mean, sum or none)", fn, (int)o->reduction);
    if (!(o->label_smoothing >= 0.0 && o->label_smoothing <= 1.0))
        return nbc_error(NB_ERR_ARG, "%s: label_smoothing = %g; expected a value in [0, 1]", fn, o->label_smoothing);
    if (!smoothing_allowed && o->label_smoothing != 0.0)
        return nbc_error(NB_ERR_ARG, "%s: label_smoothing = %g is a cross_entropy option; expected 0", fn,
                         o->label_smoothing);
    return 0;
}

nb_tensor *nb_nll_loss(nb_tensor *logp, nb_tensor *target, const nb_cross_entropy_opts *opts) {
    if (!logp) return nbc_null_arg("nb_nll_loss", 1), NULL;
    if (!target) return nbc_null_arg("nb_nll_loss", 2), NULL;
    nb_tensor *w = opts ? opts->weight : NULL;
    if (check_opts("nb_nll_loss", opts, false)) return NULL;
    if (check_nll("nb_nll_loss", logp, target, w)) return NULL;
    nb_attrs a = nll_attrs(opts, logp->shape[logp->ndim == 1 ? 0 : 1]);
    return nbo_apply1(NBO_nll_loss, (nb_tensor *[]){logp, target, w}, w ? 3 : 2, &a);
}

/* weight viewed as (1, C, 1, ...) against an input of nd dims (nd >= 2), or itself for nd == 1. */
static nb_tensor *weight_view(nb_tensor *w, int nd) {
    if (nd == 1) return nb_retain(w);
    int64_t shape[NB_MAX_DIMS];
    for (int d = 0; d < nd; d++) shape[d] = d == 1 ? w->shape[0] : 1;
    return nb_reshape(w, nd, shape);
}

/* Probability targets: -sum(w_c * target_c * log_softmax_c), target smoothed towards 1/C; the mean
 * divides by the number of samples (numel / C), as PyTorch. */
static nb_tensor *ce_probs(nb_tensor *lp, nb_tensor *target, const nb_cross_entropy_opts *o, int cdim, int64_t classes) {
    double e = o ? o->label_smoothing : 0.0;
    nb_reduction red = o ? o->reduction : NB_REDUCTION_MEAN;
    nb_tensor *t = e > 0 ? nb_add_scalar(nb_mul_scalar(target, 1.0 - e), e / (double)classes) : nb_retain(target);
    nb_tensor *prod = nb_mul(lp, t);
    if (o && o->weight) prod = nb_mul(prod, weight_view(o->weight, lp->ndim));
    if (red == NB_REDUCTION_NONE) return nb_neg(nb_sum(prod, NB_DIMS(cdim)));
    nb_tensor *s = nb_neg(nb_sum(prod, NULL));
    if (red == NB_REDUCTION_SUM) return s;
    int64_t samples = nbc_numel(lp->ndim, lp->shape) / (classes ? classes : 1);
    return nb_div_scalar(s, samples ? (double)samples : NAN); /* no samples: NaN, as PyTorch */
}

/* The label-smoothing term for class-index targets, reduced like nll_loss (see nb_cross_entropy). */
static nb_tensor *ce_smooth_term(nb_tensor *lp, nb_tensor *target, const nb_cross_entropy_opts *o, int cdim) {
    nb_tensor *s = lp;
    if (o->weight) s = nb_mul(lp, weight_view(o->weight, lp->ndim));
    nb_tensor *smooth = nb_neg(nb_sum(s, NB_DIMS(cdim))); /* target's shape */
    if (o->use_ignore_index) {
        nb_tensor *zero = nbo_const(0, smooth ? smooth->dtype : lp->dtype);
        smooth = nb_where(nb_eq_scalar(target, (double)o->ignore_index), zero, smooth);
    }
    if (o->reduction == NB_REDUCTION_NONE) return smooth;
    nb_tensor *total = nb_sum(smooth, NULL);
    if (o->reduction == NB_REDUCTION_SUM) return total;
    /* the same denominator as the weighted mean of nll_loss (targets already range-checked there) */
    nbo_buffer tb;
    class_weights cw;
    if (nbo_buffer_get("nb_cross_entropy", target, NB_I64, &tb)) return NULL;
    if (weights_get("nb_cross_entropy", o->weight, &cw)) {
        nbo_buffer_release(&tb);
        return NULL;
    }
    nb_attrs a = nll_attrs(o, 0);
    double den = weight_total(tb.data, nbc_numel(target->ndim, target->shape), &a, cw.w);
    nbo_buffer_release(&cw.buf);
    nbo_buffer_release(&tb);
    return nb_div_scalar(total, den);
}

nb_tensor *nb_cross_entropy(nb_tensor *logits, nb_tensor *target, const nb_cross_entropy_opts *opts) {
    static const char fn[] = "nb_cross_entropy";
    if (!logits) return nbc_null_arg(fn, 1), NULL;
    if (!target) return nbc_null_arg(fn, 2), NULL;
    if (check_opts(fn, opts, true)) return NULL;
    nb_tensor *w = opts ? opts->weight : NULL;
    bool probs = logits->ndim == target->ndim && logits->ndim > 0 &&
                 memcmp(logits->shape, target->shape, sizeof(int64_t) * (size_t)logits->ndim) == 0;
    int cdim = logits->ndim == 1 ? 0 : 1;
    if (probs) { /* PyTorch: the same shape means class probabilities */
        if (!nb_dtype_is_float(target->dtype))
            return nbc_error(NB_ERR_ARG, "%s: target (%s) has the input's shape, so it holds class probabilities and "
                             "must have a floating dtype", fn, nbc_desc(target)), NULL;
        if (!nb_dtype_is_float(logits->dtype))
            return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must have a floating dtype", fn, nbc_desc(logits)), NULL;
        if (opts && opts->use_ignore_index && opts->ignore_index >= 0)
            return nbc_error(NB_ERR_ARG, "%s: ignore_index (%lld) is not supported with class-probability targets (%s)",
                             fn, (long long)opts->ignore_index, nbc_desc(target)), NULL;
        if (w && (w->ndim != 1 || w->shape[0] != logits->shape[cdim] || w->dtype != logits->dtype))
            return nbc_error(NB_ERR_ARG, "%s: weight (%s) must be 1-D with %lld entries of the input's dtype %s", fn,
                             nbc_desc(w), (long long)logits->shape[cdim], nb_dtype_name(logits->dtype)), NULL;
    } else if (nb_dtype_is_float(target->dtype)) {
        return nbc_error(NB_ERR_ARG, "%s: target (%s) is floating, so it must hold class probabilities with the input's "
                         "shape %s; class indices need an integer dtype", fn, nbc_desc(target),
                         nbc_shape_str(logits->ndim, logits->shape)), NULL;
    } else if (check_nll(fn, logits, target, w)) {
        return NULL;
    }
    double e = opts ? opts->label_smoothing : 0.0;
    if (!probs && logits->ndim <= 2 && e == 0) { /* the fused op */
        nb_attrs a = nll_attrs(opts, logits->shape[cdim]);
        return nbo_apply1(NBO_cross_entropy, (nb_tensor *[]){logits, target, w}, w ? 3 : 2, &a);
    }
    nb_scope_begin(); /* the intermediates die here; only the loss escapes */
    nb_tensor *lp = nb_log_softmax(logits, cdim), *loss;
    if (probs) {
        loss = ce_probs(lp, target, opts, cdim, logits->shape[cdim]);
    } else {
        nb_cross_entropy_opts no = opts ? *opts : (nb_cross_entropy_opts){0};
        no.label_smoothing = 0;
        loss = nb_nll_loss(lp, target, &no);
        if (loss && e > 0) {
            nb_tensor *smooth = ce_smooth_term(lp, target, opts, cdim);
            loss = nb_add(nb_mul_scalar(loss, 1.0 - e), nb_mul_scalar(smooth, e / (double)logits->shape[cdim]));
        }
    }
    nb_keep(loss);
    nb_scope_end();
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
