/* ops/losses.c — the losses of torch.nn.functional beyond nll_loss / cross_entropy (loss.c).
 *
 * Three are fused ops because they sit in training hot paths and their compositions would allocate
 * several full-size temporaries: mse_loss, binary_cross_entropy and binary_cross_entropy_with_logits.
 * Their forward is one pass over contiguous buffers in the compute type (f32 for f32 / f16 / bf16,
 * f64 for f64) summing in f64 per fixed chunk (so results do not depend on the thread count); their
 * backward is built from registry ops (so it is differentiable again).
 *
 * The others are NB_FUNC compositions of registry ops (l1, smooth_l1, huber, kl_div, margin_ranking,
 * cosine_embedding, triplet_margin, hinge_embedding): they are not hot paths, and the composition
 * gives every higher derivative for free.
 *
 * Fused-op attributes: ints = {reduction, has_weight, has_pos_weight}; inputs (input, target[, weight]
 * [, pos_weight]), all broadcast to the output shape (the public wrappers apply PyTorch's stricter
 * shape rules). */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>
#include <string.h>

/* ---- shared checks and reductions ------------------------------------------------------------- */

static int check_reduction(const char *fn, nb_reduction r, bool batchmean_ok) {
    if (r == NB_REDUCTION_BATCHMEAN && !batchmean_ok)
        return nbc_error(NB_ERR_ARG, "%s: reduction batchmean is only for nb_kl_div; expected mean, sum or none", fn);
    if (r < NB_REDUCTION_MEAN || r > NB_REDUCTION_BATCHMEAN)
        return nbc_error(NB_ERR_ARG, "%s: invalid reduction %d (mean, sum, none%s)", fn, (int)r,
                         batchmean_ok ? " or batchmean" : "");
    return 0;
}

static int check_float(const char *fn, int argno, const char *what, const nb_tensor *t) {
    if (!nb_dtype_is_float(t->dtype))
        return nbc_error(NB_ERR_ARG, "%s: argument #%d (%s, %s) must have a floating dtype", fn, argno, what, nbc_desc(t));
    return 0;
}

/* a and b have the same shape (what PyTorch requires of input and target for the BCE losses). */
static int check_same_shape(const char *fn, const char *wa, const nb_tensor *a, const char *wb, const nb_tensor *b) {
    if (a->ndim == b->ndim && memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0) return 0;
    return nbc_error(NB_ERR_ARG, "%s: %s has shape %s but %s has shape %s; expected the same shape", fn, wb,
                     nbc_shape_str(b->ndim, b->shape), wa, nbc_shape_str(a->ndim, a->shape));
}

/* w must broadcast to x's shape without growing it (weights of the BCE losses). */
static int check_broadcasts_to(const char *fn, const char *what, const nb_tensor *w, const nb_tensor *x) {
    bool ok = w->ndim <= x->ndim;
    for (int i = 0; ok && i < w->ndim; i++) {
        int64_t ws = w->shape[w->ndim - 1 - i], xs = x->shape[x->ndim - 1 - i];
        ok = ws == xs || ws == 1;
    }
    if (!ok)
        return nbc_error(NB_ERR_ARG, "%s: %s (%s) cannot be broadcast to the input's shape %s", fn, what, nbc_desc(w),
                         nbc_shape_str(x->ndim, x->shape));
    return check_float(fn, 3, what, w);
}

/* Apply a reduction to per-element losses v (composite functions). */
static nb_tensor *reduce_loss(nb_tensor *v, nb_reduction r) {
    if (!v || r == NB_REDUCTION_NONE) return v;
    if (r == NB_REDUCTION_SUM) return nb_sum(v, NULL);
    return nb_mean(v, NULL);
}

/* Run a composite inside its own scope so that only the result escapes. */
#define COMPOSITE(expr)                                                                                \
    do {                                                                                               \
        nb_scope_begin();                                                                              \
        nb_tensor *r_ = (expr);                                                                        \
        nb_keep(r_);                                                                                   \
        nb_scope_end();                                                                                \
        return r_;                                                                                     \
    } while (0)

/* ---- fused elementwise losses: mse_loss, binary_cross_entropy, binary_cross_entropy_with_logits -- */

typedef enum ew_kind { EW_MSE, EW_BCE, EW_BCE_LOGITS } ew_kind;

static ew_kind kind_of(int op) {
    return op == NBO_mse_loss ? EW_MSE : op == NBO_binary_cross_entropy ? EW_BCE : EW_BCE_LOGITS;
}

/* Index of the weight / pos_weight input, or -1. */
static int weight_index(const nb_attrs *a) { return a->ints[1] ? 2 : -1; }
static int pos_weight_index(const nb_attrs *a) { return a->ints[2] ? (a->ints[1] ? 3 : 2) : -1; }

static int ew_infer_op(int op, nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    const char *fn = nbo_fn_name(op);
    static const char *const what[] = {"input", "target", "weight", "pos_weight"};
    int64_t shape[NB_MAX_DIMS];
    int nd = in[0]->ndim;
    memcpy(shape, in[0]->shape, sizeof(int64_t) * (size_t)nd);
    nb_dtype dt = in[0]->dtype;
    for (int i = 0; i < n; i++) {
        if (check_float(fn, i + 1, what[i < 2 ? i : (i == pos_weight_index(a) ? 3 : 2)], in[i])) return NB_ERR_ARG;
        if (i && nbo_broadcast_shapes(fn, nd, shape, in[i]->ndim, in[i]->shape, &nd, shape)) return NB_ERR_ARG;
        dt = nb_promote_types(dt, in[i]->dtype);
    }
    if (a->ints[0] == NB_REDUCTION_NONE) nbo_meta_set(out, dt, nd, shape);
    else nbo_meta_set(out, dt, 0, NULL);
    return 0;
}

/* t seen at (nd, shape) as a contiguous buffer of dtype c: t's own memory when it already is, else an
 * expanded copy. */
static int expanded_get(const char *fn, const nb_tensor *t, nb_dtype c, int nd, const int64_t *shape, nbo_buffer *b) {
    b->capacity = 0;
    bool same = t->ndim == nd && memcmp(t->shape, shape, sizeof(int64_t) * (size_t)nd) == 0;
    if (same && t->dtype == c && nbc_is_contiguous(t)) {
        b->data = nbc_ptr(t);
        return 0;
    }
    int64_t n = nbc_numel(nd, shape), ss[NB_MAX_DIMS], ds[NB_MAX_DIMS];
    b->data = nbc_block_alloc((size_t)(n ? n : 1) * nb_dtype_size(c), &b->capacity);
    if (!b->data) return nbc_oom(fn);
    nbo_broadcast_strides(t, nd, shape, ss);
    nbc_contiguous_strides(nd, shape, ds);
    nbk_copy(b->data, c, ds, nbc_ptr(t), t->dtype, ss, nd, shape);
    return 0;
}

/* One chunk of per-element losses: writes them to out (when not NULL) and returns their sum. The
 * formulas follow PyTorch's CPU kernels: BCE clamps log(x) and log1p(-x) at -100; BCE with logits uses
 * the stable form (1 - t) x + lw (log1p(exp(-|x|)) + max(-x, 0)) with lw = 1 + (pos_weight - 1) t. f64
 * runs this with libm; f32 runs ew_chunk_f32_vec below. */
#define EW_CHUNK_FN(NAME, T, LOG, LOG1P, EXP, FABS)                                                      \
    static double NAME(ew_kind k, const T *x, const T *t, const T *w, const T *pw, T *out, int64_t n) {  \
        double s = 0;                                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                                \
            T v;                                                                                         \
            if (k == EW_MSE) {                                                                           \
                T d = x[i] - t[i];                                                                       \
                v = d * d;                                                                               \
            } else if (k == EW_BCE) {                                                                    \
                T lx = LOG(x[i]), l1 = LOG1P(-x[i]);                                                     \
                lx = lx > (T)-100 ? lx : (T)-100;                                                        \
                l1 = l1 > (T)-100 ? l1 : (T)-100;                                                        \
                v = -(t[i] * lx + ((T)1 - t[i]) * l1);                                                   \
            } else {                                                                                     \
                T lw = pw ? (T)1 + (pw[i] - (T)1) * t[i] : (T)1;                                         \
                T sp = LOG1P(EXP(-FABS(x[i]))) + (x[i] < 0 ? -x[i] : (T)0); /* softplus(-x) */           \
                v = ((T)1 - t[i]) * x[i] + lw * sp;                                                      \
            }                                                                                            \
            if (w) v *= w[i];                                                                            \
            if (out) out[i] = v;                                                                         \
            s += (double)v;                                                                              \
        }                                                                                                \
        return s;                                                                                        \
    }
EW_CHUNK_FN(ew_chunk_f32, float, logf, log1pf, expf, fabsf)
EW_CHUNK_FN(ew_chunk_f64, double, log, log1p, exp, fabs)

enum { EW_CHUNK = 16384 }; /* fixed chunks: partial sums do not depend on the thread count */

/* log1p(v) for n floats from u = 1 + v (rounded) and lu = log(u): Goldberg's correction
 * log(u) * v / (u - 1) is accurate to a few ulp even where 1 + v rounds (and v itself where u is 1).
 * Written as selects of non-trapping values so that the loop vectorises. */
static void log1p_fix_f32(const float *v, const float *u, float *lu, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        bool one = u[i] == 1.0f;
        float den = one ? 1.0f : u[i] - 1.0f, r = lu[i] * (v[i] / den);
        lu[i] = one ? v[i] : r;
    }
}

static float sum8_f32(const float *v, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += v[i + l];
    for (; i < n; i++) acc[0] += v[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* The f32 BCE losses with the vector exp / log (libm's scalar expf / log1pf would dominate), in
 * branch-free passes that vectorise: a, b, c are scratch arrays of n floats; out (or a) gets the
 * per-element losses. MSE needs no transcendentals and takes the plain loop. */
static double ew_chunk_f32_vec(ew_kind k, const float *x, const float *t, const float *w, const float *pw, float *out,
                               int64_t n, float *a, float *b, float *c) {
    float *v = out ? out : b; /* b is only the result (BCE) or unused (BCE with logits) */
    if (k == EW_BCE) {
        nbk_vmath_f32(NBK_VLOG, x, a, n); /* log x */
        for (int64_t i = 0; i < n; i++) c[i] = 1.0f - x[i];
        nbk_vmath_f32(NBK_VLOG, c, v, n);
        for (int64_t i = 0; i < n; i++) { /* v = log1p(-x), as log1p_fix_f32 with v = -x */
            bool one = c[i] == 1.0f;
            float den = one ? 1.0f : c[i] - 1.0f, r = v[i] * (-x[i] / den);
            v[i] = one ? -x[i] : r;
        }
        for (int64_t i = 0; i < n; i++) {
            float lx = a[i] > -100.0f ? a[i] : -100.0f, l1 = v[i] > -100.0f ? v[i] : -100.0f;
            v[i] = -(t[i] * lx + (1.0f - t[i]) * l1);
        }
    } else {
        for (int64_t i = 0; i < n; i++) a[i] = -fabsf(x[i]);
        nbk_vmath_f32(NBK_VEXP, a, a, n); /* e = exp(-|x|) */
        for (int64_t i = 0; i < n; i++) c[i] = 1.0f + a[i];
        nbk_vmath_f32(NBK_VLOG, c, v, n);
        log1p_fix_f32(a, c, v, n); /* v = log1p(e) */
        if (pw)
            for (int64_t i = 0; i < n; i++) {
                float sp = v[i] + (x[i] < 0 ? -x[i] : 0.0f);
                v[i] = (1.0f - t[i]) * x[i] + (1.0f + (pw[i] - 1.0f) * t[i]) * sp;
            }
        else
            for (int64_t i = 0; i < n; i++) v[i] = (1.0f - t[i]) * x[i] + v[i] + (x[i] < 0 ? -x[i] : 0.0f);
    }
    if (w)
        for (int64_t i = 0; i < n; i++) v[i] *= w[i];
    return (double)sum8_f32(v, n);
}

typedef struct ew_job {
    ew_kind kind;
    nb_dtype c;
    const void *x, *t, *w, *pw;
    void *out;
    int64_t n;
    double *partial;
    int rc;
} ew_job;

static void ew_range(void *ctx, int64_t begin, int64_t end) {
    ew_job *j = ctx;
    size_t es = nb_dtype_size(j->c), cap = 0;
    float *scratch = NULL; /* three chunks for the f32 vector path */
    if (j->c == NB_F32 && j->kind != EW_MSE &&
        !(scratch = nbc_block_alloc(3 * sizeof(float) * EW_CHUNK, &cap))) {
        j->rc = NB_ERR_NOMEM;
        return;
    }
#define AT(p, i) ((p) ? (const char *)(p) + (size_t)(i) * es : NULL)
    for (int64_t ch = begin; ch < end; ch++) {
        int64_t i0 = ch * EW_CHUNK, m = j->n - i0 < EW_CHUNK ? j->n - i0 : EW_CHUNK;
        void *o = j->out ? (char *)j->out + (size_t)i0 * es : NULL;
        if (j->c == NB_F64)
            j->partial[ch] = ew_chunk_f64(j->kind, (const double *)AT(j->x, i0), (const double *)AT(j->t, i0),
                                          (const double *)AT(j->w, i0), (const double *)AT(j->pw, i0), o, m);
        else if (scratch)
            j->partial[ch] = ew_chunk_f32_vec(j->kind, (const float *)AT(j->x, i0), (const float *)AT(j->t, i0),
                                              (const float *)AT(j->w, i0), (const float *)AT(j->pw, i0), o, m, scratch,
                                              scratch + EW_CHUNK, scratch + 2 * EW_CHUNK);
        else
            j->partial[ch] = ew_chunk_f32(j->kind, (const float *)AT(j->x, i0), (const float *)AT(j->t, i0),
                                          (const float *)AT(j->w, i0), (const float *)AT(j->pw, i0), o, m);
    }
    if (scratch) nbc_block_free(scratch, cap);
#undef AT
}

static int ew_forward_op(int op, nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *out) {
    const char *fn = nbo_fn_name(op);
    nb_dtype c = nbk_compute_type(out->dtype);
    int nd = in[0]->ndim;
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, in[0]->shape, sizeof(int64_t) * (size_t)nd);
    for (int i = 1; i < n_in; i++) nbo_broadcast_shapes(fn, nd, shape, in[i]->ndim, in[i]->shape, &nd, shape);
    int64_t n = nbc_numel(nd, shape), nch = (n + EW_CHUNK - 1) / EW_CHUNK;
    nbo_buffer b[4] = {{0}}, ob = {0}, pb = {0};
    int rc = 0, got = 0;
    for (; got < n_in && rc == 0; got++) rc = expanded_get(fn, in[got], c, nd, shape, &b[got]);
    bool none = a->ints[0] == NB_REDUCTION_NONE;
    if (rc == 0 && none) { /* write straight into the output when it is of the compute type */
        ob.data = nbc_ptr(out);
        if (out->dtype != c && !(ob.data = nbc_block_alloc((size_t)(n ? n : 1) * nb_dtype_size(c), &ob.capacity)))
            rc = nbc_oom(fn);
    }
    if (rc == 0 && !(pb.data = nbc_block_alloc(sizeof(double) * (size_t)(nch ? nch : 1), &pb.capacity))) rc = nbc_oom(fn);
    if (rc == 0) {
        int wi = weight_index(a), pi = pos_weight_index(a);
        ew_job j = {kind_of(op), c, b[0].data, b[1].data, wi >= 0 ? b[wi].data : NULL, pi >= 0 ? b[pi].data : NULL,
                    none ? ob.data : NULL, n, pb.data, 0};
        nbc_parallel_for(nch, 1, ew_range, &j);
        if (j.rc) rc = nbc_oom(fn);
    }
    if (rc == 0) {
        const double *partial = pb.data;
        double s = 0;
        for (int64_t ch = 0; ch < nch; ch++) s += partial[ch];
        if (none && out->dtype != c) nbk_convert(nbc_ptr(out), out->dtype, ob.data, c, n);
        if (a->ints[0] == NB_REDUCTION_SUM) nbc_store(nbc_ptr(out), out->dtype, 0, s);
        if (a->ints[0] == NB_REDUCTION_MEAN) nbc_store(nbc_ptr(out), out->dtype, 0, n ? s / (double)n : NAN);
    }
    nbo_buffer_release(&pb);
    nbo_buffer_release(&ob);
    for (int i = 0; i < got; i++) nbo_buffer_release(&b[i]);
    return rc;
}

/* The output gradient as a factor on per-element terms: g / numel for mean (g is 0-d and broadcasts). */
static nb_tensor *grad_factor(const nbo_ctx *c, nb_tensor *g) {
    if (c->attrs->ints[0] != NB_REDUCTION_MEAN) return nb_retain(g);
    int nd = c->in_meta[0].ndim;
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, c->in_meta[0].shape, sizeof(int64_t) * (size_t)nd);
    for (int i = 1; i < c->n_in; i++)
        nbo_broadcast_shapes("grad_factor", nd, shape, c->in_meta[i].ndim, c->in_meta[i].shape, &nd, shape);
    return nb_div_scalar(g, (double)nbc_numel(nd, shape));
}

/* times weight, when there is one */
static nb_tensor *weighted(const nbo_ctx *c, nb_tensor *v) {
    int wi = weight_index(c->attrs);
    return wi >= 0 ? nb_mul(v, c->in[wi]) : v;
}

#define IN_SHAPE(i) c->in_meta[i].ndim, c->in_meta[i].shape
#define EW_DONE() return (c->needs_grad[0] && !gin[0]) || (c->needs_grad[1] && !gin[1]) ? nb_last_status() : 0

/* d/dx = 2 (x - t), d/dt = -2 (x - t) */
static int mse_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *gd = nb_mul(nb_mul_scalar(nb_sub(c->in[0], c->in[1]), 2.0), grad_factor(c, g[0]));
    if (c->needs_grad[0]) gin[0] = nbo_sum_to(gd, IN_SHAPE(0));
    if (c->needs_grad[1]) gin[1] = nbo_sum_to(nb_neg(gd), IN_SHAPE(1));
    EW_DONE();
}

/* d/dx = w (x - t) / max(x (1 - x), 1e-12) and d/dt = w (max(log(1 - x), -100) - max(log x, -100)), as
 * PyTorch's binary_cross_entropy_backward and _target_backward. */
static int bce_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *t = c->in[1], *gf = weighted(c, grad_factor(c, g[0]));
    if (c->needs_grad[0]) {
        nb_tensor *den = nb_maximum_scalar(nb_mul(x, nb_rsub_scalar(x, 1.0)), 1e-12);
        gin[0] = nbo_sum_to(nb_mul(gf, nb_div(nb_sub(x, t), den)), IN_SHAPE(0));
    }
    if (c->needs_grad[1]) {
        nb_tensor *l1 = nb_maximum_scalar(nb_log(nb_rsub_scalar(x, 1.0)), -100.0);
        nb_tensor *lx = nb_maximum_scalar(nb_log(x), -100.0);
        gin[1] = nbo_sum_to(nb_mul(gf, nb_sub(l1, lx)), IN_SHAPE(1));
    }
    EW_DONE();
}

/* softplus(-x) elementwise, as the op itself with target 1 and no weights (so it is differentiable). */
static nb_tensor *softplus_neg(nb_tensor *x) {
    nb_tensor *one = nbo_const(1.0, x ? x->dtype : NB_F32);
    nb_attrs a = {.n_ints = 3, .ints = {NB_REDUCTION_NONE, 0, 0}};
    return nbo_apply1(NBO_binary_cross_entropy_with_logits, (nb_tensor *[]){x, one}, 2, &a);
}

/* d/dx = w ((1 + (pw - 1) t) sigmoid(x) - pw t); d/dt = w (-x + (pw - 1) softplus(-x)) (pw = 1 when
 * absent), as PyTorch's binary_cross_entropy_with_logits backward. */
static int bcel_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *t = c->in[1], *gf = weighted(c, grad_factor(c, g[0]));
    int pi = pos_weight_index(c->attrs);
    nb_tensor *pw = pi >= 0 ? c->in[pi] : NULL;
    if (c->needs_grad[0]) {
        nb_tensor *d = pw ? nb_sub(nb_mul(nb_add_scalar(nb_mul(nb_sub_scalar(pw, 1.0), t), 1.0), nb_sigmoid(x)),
                                   nb_mul(pw, t))
                          : nb_sub(nb_sigmoid(x), t);
        gin[0] = nbo_sum_to(nb_mul(gf, d), IN_SHAPE(0));
    }
    if (c->needs_grad[1]) {
        nb_tensor *d = nb_neg(x);
        if (pw) d = nb_add(d, nb_mul(nb_sub_scalar(pw, 1.0), softplus_neg(x)));
        gin[1] = nbo_sum_to(nb_mul(gf, d), IN_SHAPE(1));
    }
    EW_DONE();
}

#define EW_OP(NAME, BWNAME, BACKWARD, TORCH, SUMMARY)                                                     \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {              \
        return ew_infer_op(NBO_##NAME, in, n, a, out);                                                    \
    }                                                                                                     \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {    \
        return ew_forward_op(NBO_##NAME, in, n, a, out[0]);                                               \
    }                                                                                                     \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = -1, .n_out = 1,           \
                                      .flags = NBO_SAVE_INPUTS, .nograd_inputs = (1u << 2) | (1u << 3),   \
                                      .attrs = "ints=[reduction, has_weight, has_pos_weight]",            \
                                      .torch = TORCH, .summary = SUMMARY, .infer = NAME##_infer,          \
                                      .forward = NAME##_forward, .backward = BACKWARD};

EW_OP(mse_loss, "MseLossBackward", mse_bw, "torch.nn.functional.mse_loss",
      "(input - target)^2, reduced; input and target broadcast (PyTorch warns)")
EW_OP(binary_cross_entropy, "BinaryCrossEntropyBackward", bce_bw, "torch.nn.functional.binary_cross_entropy",
      "-w (t log x + (1 - t) log(1 - x)), each log clamped at -100; weight gets no gradient")
EW_OP(binary_cross_entropy_with_logits, "BinaryCrossEntropyWithLogitsBackward", bcel_bw,
      "torch.nn.functional.binary_cross_entropy_with_logits",
      "BCE on logits in the stable log-sigmoid form, weight and pos_weight (no gradient for either)")

static nb_tensor *ew_apply(int op, nb_tensor *x, nb_tensor *t, nb_tensor *w, nb_tensor *pw, nb_reduction r) {
    nb_attrs a = {.n_ints = 3, .ints = {r, w != NULL, pw != NULL}};
    nb_tensor *in[4] = {x, t};
    int n = 2;
    if (w) in[n++] = w;
    if (pw) in[n++] = pw;
    return nbo_apply1(op, in, n, &a);
}

nb_tensor *nb_mse_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction) {
    static const char fn[] = "nb_mse_loss";
    if (!input) return nbc_null_arg(fn, 1), NULL;
    if (!target) return nbc_null_arg(fn, 2), NULL;
    if (check_reduction(fn, reduction, false)) return NULL;
    return ew_apply(NBO_mse_loss, input, target, NULL, NULL, reduction);
}

/* PyTorch checks that every input lies in [0, 1]; so do we (one read of the input). */
static int check_probabilities(const char *fn, const nb_tensor *x) {
    nbo_buffer b;
    if (nbo_buffer_get(fn, x, NB_F64, &b)) return NB_ERR_NOMEM;
    const double *v = b.data;
    int64_t n = nbc_numel(x->ndim, x->shape);
    for (int64_t i = 0; i < n; i++)
        if (!(v[i] >= 0.0 && v[i] <= 1.0)) {
            double bad = v[i];
            nbo_buffer_release(&b);
            return nbc_error(NB_ERR_ARG, "%s: input value %g at flat index %lld is not in [0, 1]", fn, bad, (long long)i);
        }
    nbo_buffer_release(&b);
    return 0;
}

nb_tensor *nb_binary_cross_entropy(nb_tensor *input, nb_tensor *target, nb_tensor *weight, nb_reduction reduction) {
    static const char fn[] = "nb_binary_cross_entropy";
    if (!input) return nbc_null_arg(fn, 1), NULL;
    if (!target) return nbc_null_arg(fn, 2), NULL;
    if (check_reduction(fn, reduction, false) || check_float(fn, 1, "input", input) ||
        check_float(fn, 2, "target", target) || check_same_shape(fn, "input", input, "target", target) ||
        (weight && check_broadcasts_to(fn, "weight", weight, input)) || check_probabilities(fn, input))
        return NULL;
    return ew_apply(NBO_binary_cross_entropy, input, target, weight, NULL, reduction);
}

nb_tensor *nb_binary_cross_entropy_with_logits(nb_tensor *input, nb_tensor *target, nb_tensor *weight,
                                               nb_tensor *pos_weight, nb_reduction reduction) {
    static const char fn[] = "nb_binary_cross_entropy_with_logits";
    if (!input) return nbc_null_arg(fn, 1), NULL;
    if (!target) return nbc_null_arg(fn, 2), NULL;
    if (check_reduction(fn, reduction, false) || check_float(fn, 1, "input", input) ||
        check_float(fn, 2, "target", target) || check_same_shape(fn, "input", input, "target", target) ||
        (weight && check_broadcasts_to(fn, "weight", weight, input)) ||
        (pos_weight && check_broadcasts_to(fn, "pos_weight", pos_weight, input)))
        return NULL;
    return ew_apply(NBO_binary_cross_entropy_with_logits, input, target, weight, pos_weight, reduction);
}

/* ---- composite regression losses --------------------------------------------------------------- */

static int check_pair(const char *fn, nb_tensor *x, nb_tensor *t, nb_reduction r, bool batchmean_ok) {
    if (!x) return nbc_null_arg(fn, 1);
    if (!t) return nbc_null_arg(fn, 2);
    if (check_reduction(fn, r, batchmean_ok) || check_float(fn, 1, "input", x) || check_float(fn, 2, "target", t))
        return NB_ERR_ARG;
    int64_t shape[NB_MAX_DIMS];
    int nd;
    return nbo_broadcast_shapes(fn, x->ndim, x->shape, t->ndim, t->shape, &nd, shape);
}

nb_tensor *nb_l1_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction) {
    if (check_pair("nb_l1_loss", input, target, reduction, false)) return NULL;
    COMPOSITE(reduce_loss(nb_abs(nb_sub(input, target)), reduction));
}

nb_tensor *nb_smooth_l1_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction, double beta) {
    static const char fn[] = "nb_smooth_l1_loss";
    if (check_pair(fn, input, target, reduction, false)) return NULL;
    if (!(beta >= 0)) return nbc_error(NB_ERR_ARG, "%s: beta = %g; expected >= 0", fn, beta), NULL;
    nb_scope_begin();
    nb_tensor *d = nb_sub(input, target), *ad = nb_abs(d), *v;
    if (beta == 0) v = ad; /* PyTorch: beta 0 is the L1 loss */
    else v = nb_where(nb_lt_scalar(ad, beta), nb_mul_scalar(nb_mul(d, d), 0.5 / beta), nb_sub_scalar(ad, 0.5 * beta));
    v = reduce_loss(v, reduction);
    nb_keep(v);
    nb_scope_end();
    return v;
}

nb_tensor *nb_huber_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction, double delta) {
    static const char fn[] = "nb_huber_loss";
    if (check_pair(fn, input, target, reduction, false)) return NULL;
    if (!(delta > 0)) return nbc_error(NB_ERR_ARG, "%s: delta = %g; expected > 0", fn, delta), NULL;
    nb_scope_begin();
    nb_tensor *d = nb_sub(input, target), *ad = nb_abs(d);
    nb_tensor *v = nb_where(nb_lt_scalar(ad, delta), nb_mul_scalar(nb_mul(d, d), 0.5),
                            nb_mul_scalar(nb_sub_scalar(ad, 0.5 * delta), delta));
    v = reduce_loss(v, reduction);
    nb_keep(v);
    nb_scope_end();
    return v;
}

/* target (log(target) - input), 0 where target is 0 (xlogy); log_target: exp(t) (t - input). */
nb_tensor *nb_kl_div(nb_tensor *input, nb_tensor *target, nb_reduction reduction, bool log_target) {
    static const char fn[] = "nb_kl_div";
    if (check_pair(fn, input, target, reduction, true)) return NULL;
    nb_scope_begin();
    nb_tensor *v;
    if (log_target) {
        v = nb_mul(nb_exp(target), nb_sub(target, input));
    } else { /* log of 1 where t == 0: the product is 0 there, and so is its gradient (no 0 * -inf) */
        nb_tensor *one = nbo_const(1.0, target->dtype);
        nb_tensor *safe = nb_where(nb_gt_scalar(target, 0), target, one);
        v = nb_mul(target, nb_sub(nb_log(safe), input));
    }
    if (reduction == NB_REDUCTION_BATCHMEAN) {
        v = nb_sum(v, NULL);
        if (input->ndim) v = nb_div_scalar(v, (double)input->shape[0]);
    } else {
        v = reduce_loss(v, reduction);
    }
    nb_keep(v);
    nb_scope_end();
    return v;
}

/* ---- composite ranking and embedding losses ----------------------------------------------------- */

static int check_triple(const char *fn, nb_tensor *a, nb_tensor *b, nb_tensor *c, nb_reduction r) {
    if (!a) return nbc_null_arg(fn, 1);
    if (!b) return nbc_null_arg(fn, 2);
    if (!c) return nbc_null_arg(fn, 3);
    return check_reduction(fn, r, false);
}

/* max(0, -y (x1 - x2) + margin); the three broadcast. */
nb_tensor *nb_margin_ranking_loss(nb_tensor *x1, nb_tensor *x2, nb_tensor *target, double margin,
                                  nb_reduction reduction) {
    static const char fn[] = "nb_margin_ranking_loss";
    if (check_triple(fn, x1, x2, target, reduction) || check_float(fn, 1, "input1", x1) ||
        check_float(fn, 2, "input2", x2))
        return NULL;
    if (x1->ndim != x2->ndim || x1->ndim != target->ndim)
        return nbc_error(NB_ERR_ARG, "%s: input1 (%s), input2 (%s) and target (%s) must have the same number of dims",
                         fn, nbc_desc(x1), nbc_desc(x2), nbc_desc(target)), NULL;
    int64_t shape[NB_MAX_DIMS];
    int nd;
    if (nbo_broadcast_shapes(fn, x1->ndim, x1->shape, x2->ndim, x2->shape, &nd, shape) ||
        nbo_broadcast_shapes(fn, nd, shape, target->ndim, target->shape, &nd, shape))
        return NULL;
    COMPOSITE(reduce_loss(nb_relu(nb_add_scalar(nb_neg(nb_mul(target, nb_sub(x1, x2))), margin)), reduction));
}

/* y == 1: 1 - cos(x1, x2); y == -1: max(0, cos - margin); other y: 0 (as PyTorch). cos uses
 * sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12)) as denominator, like PyTorch; f16 / bf16 are computed in f32
 * (where PyTorch's guard underflows and a zero row gives NaN). */
nb_tensor *nb_cosine_embedding_loss(nb_tensor *x1, nb_tensor *x2, nb_tensor *target, double margin,
                                    nb_reduction reduction) {
    static const char fn[] = "nb_cosine_embedding_loss";
    if (check_triple(fn, x1, x2, target, reduction) || check_float(fn, 1, "input1", x1) ||
        check_float(fn, 2, "input2", x2))
        return NULL;
    if (x1->ndim < 1 || x1->ndim > 2 || x1->ndim != x2->ndim || x1->shape[0] != x2->shape[0] ||
        x1->shape[x1->ndim - 1] != x2->shape[x2->ndim - 1])
        return nbc_error(NB_ERR_ARG, "%s: input1 (%s) and input2 (%s) must both be (N, D) or (D) of the same shape", fn,
                         nbc_desc(x1), nbc_desc(x2)), NULL;
    if (target->ndim != x1->ndim - 1 || (target->ndim == 1 && target->shape[0] != x1->shape[0]))
        return nbc_error(NB_ERR_ARG, "%s: target (%s) must be %s for inputs %s", fn, nbc_desc(target),
                         x1->ndim == 2 ? "(N)" : "0-d", nbc_shape_str(x1->ndim, x1->shape)), NULL;
    int dim = x1->ndim - 1;
    nb_dtype out = nb_promote_types(x1->dtype, x2->dtype);
    nb_scope_begin();
    /* f16 / bf16 in f32: the 1e-12 guard of the squared norms would round to 0 in them (0 / 0 for zero rows) */
    if (out == NB_F16 || out == NB_BF16) {
        x1 = nb_to(x1, NB_F32);
        x2 = nb_to(x2, NB_F32);
    }
    nb_tensor *prod = nb_sum(nb_mul(x1, x2), NB_DIMS(dim));
    nb_tensor *m1 = nb_add_scalar(nb_sum(nb_mul(x1, x1), NB_DIMS(dim)), 1e-12);
    nb_tensor *m2 = nb_add_scalar(nb_sum(nb_mul(x2, x2), NB_DIMS(dim)), 1e-12);
    nb_tensor *cos = nb_div(prod, nb_sqrt(nb_mul(m1, m2)));
    nb_tensor *zero = nbo_const(0.0, cos ? cos->dtype : x1->dtype);
    nb_tensor *pos = nb_where(nb_eq_scalar(target, 1), nb_rsub_scalar(cos, 1.0), zero);
    nb_tensor *neg = nb_where(nb_eq_scalar(target, -1), nb_relu(nb_sub_scalar(cos, margin)), zero);
    nb_tensor *v = reduce_loss(nb_add(pos, neg), reduction);
    if (v && v->dtype != out) v = nb_to(v, out);
    nb_keep(v);
    nb_scope_end();
    return v;
}

/* torch.pairwise_distance: || a - b + eps ||_p over the last dim. */
static nb_tensor *pairwise_distance(nb_tensor *a, nb_tensor *b, double p, double eps) {
    nb_tensor *d = nb_add_scalar(nb_sub(a, b), eps);
    int dim = (a->ndim > b->ndim ? a->ndim : b->ndim) - 1;
    if (p == 2) return nb_sqrt(nb_sum(nb_mul(d, d), NB_DIMS(dim)));
    if (p == 1) return nb_sum(nb_abs(d), NB_DIMS(dim));
    return nb_pow_scalar(nb_sum(nb_pow_scalar(nb_abs(d), p), NB_DIMS(dim)), 1.0 / p);
}

nb_tensor *nb_triplet_margin_loss(nb_tensor *anchor, nb_tensor *positive, nb_tensor *negative, double margin,
                                  double p, double eps, bool swap, nb_reduction reduction) {
    static const char fn[] = "nb_triplet_margin_loss";
    if (check_triple(fn, anchor, positive, negative, reduction) || check_float(fn, 1, "anchor", anchor) ||
        check_float(fn, 2, "positive", positive) || check_float(fn, 3, "negative", negative))
        return NULL;
    if (anchor->ndim < 1 || anchor->ndim > 2 || anchor->ndim != positive->ndim || anchor->ndim != negative->ndim)
        return nbc_error(NB_ERR_ARG, "%s: anchor (%s), positive (%s) and negative (%s) must all be (N, D) or all (D)", fn,
                         nbc_desc(anchor), nbc_desc(positive), nbc_desc(negative)), NULL;
    if (!(p > 0)) return nbc_error(NB_ERR_ARG, "%s: p = %g; expected a norm degree > 0", fn, p), NULL;
    if (!(eps >= 0)) return nbc_error(NB_ERR_ARG, "%s: eps = %g; expected >= 0", fn, eps), NULL;
    nb_scope_begin();
    nb_tensor *dp = pairwise_distance(anchor, positive, p, eps), *dn = pairwise_distance(anchor, negative, p, eps);
    if (swap) dn = nb_minimum(dn, pairwise_distance(positive, negative, p, eps));
    nb_tensor *v = reduce_loss(nb_relu(nb_add_scalar(nb_sub(dp, dn), margin)), reduction);
    nb_keep(v);
    nb_scope_end();
    return v;
}

/* y == 1: x; y == -1: max(0, margin - x); the two terms add as in PyTorch (other y values give both). */
nb_tensor *nb_hinge_embedding_loss(nb_tensor *input, nb_tensor *target, double margin, nb_reduction reduction) {
    static const char fn[] = "nb_hinge_embedding_loss";
    if (check_pair(fn, input, target, reduction, false)) return NULL;
    nb_scope_begin();
    nb_tensor *zero = nbo_const(0.0, input->dtype);
    nb_tensor *om = nb_where(nb_ne_scalar(target, 1), nb_relu(nb_rsub_scalar(input, margin)), zero);
    nb_tensor *os = nb_where(nb_ne_scalar(target, -1), input, zero);
    nb_tensor *v = reduce_loss(nb_add(om, os), reduction);
    nb_keep(v);
    nb_scope_end();
    return v;
}

/* ---- soft margin and the likelihood losses (compositions) ---------------------------------------- */

static const double k_two_pi = 6.283185307179586;

/* log(1 + exp(-y x)): softplus(-y x) through the fused BCE-with-logits op (target 1), so it is stable for
 * large |x| and smooth at 0. */
nb_tensor *nb_soft_margin_loss(nb_tensor *input, nb_tensor *target, nb_reduction reduction) {
    static const char fn[] = "nb_soft_margin_loss";
    if (check_pair(fn, input, target, reduction, false)) return NULL;
    nb_scope_begin();
    nb_tensor *z = nb_mul(target, input);
    nb_tensor *v = z ? softplus_neg(z) : NULL;
    v = reduce_loss(v, reduction);
    nb_keep(v);
    nb_scope_end();
    return v;
}

/* log_input: exp(x) - t x; else x - t log(x + eps). full adds Stirling's t log t - t + 0.5 log(2 pi t)
 * where t > 1. */
nb_tensor *nb_poisson_nll_loss(nb_tensor *input, nb_tensor *target, bool log_input, bool full, double eps,
                               nb_reduction reduction) {
    static const char fn[] = "nb_poisson_nll_loss";
    if (check_pair(fn, input, target, reduction, false)) return NULL;
    if (!(eps >= 0)) return nbc_error(NB_ERR_ARG, "%s: eps = %g; expected >= 0", fn, eps), NULL;
    nb_scope_begin();
    nb_tensor *v = log_input ? nb_sub(nb_exp(input), nb_mul(target, input))
                             : nb_sub(input, nb_mul(target, nb_log(nb_add_scalar(input, eps))));
    if (full) { /* the target's term: a constant where target <= 1 */
        nb_tensor *one = nbo_const(1.0, target->dtype), *zero = nbo_const(0.0, target->dtype);
        nb_tensor *big = nb_gt_scalar(target, 1), *ts = nb_where(big, target, one);
        nb_tensor *st = nb_add(nb_sub(nb_mul(ts, nb_log(ts)), ts), nb_mul_scalar(nb_log(nb_mul_scalar(ts, k_two_pi)), 0.5));
        v = nb_add(v, nb_where(big, st, zero));
    }
    v = reduce_loss(v, reduction);
    nb_keep(v);
    nb_scope_end();
    return v;
}

/* 0.5 (log(max(var, eps)) + (x - t)^2 / max(var, eps)) (+ 0.5 log(2 pi) with full). The clamp passes the
 * gradient through unchanged, as PyTorch (which clamps under no_grad). var has the input's shape, or the
 * input's shape without its last dim, or that with a last dim of 1 (one variance per sample). */
nb_tensor *nb_gaussian_nll_loss(nb_tensor *input, nb_tensor *target, nb_tensor *var, bool full, double eps,
                                nb_reduction reduction) {
    static const char fn[] = "nb_gaussian_nll_loss";
    if (check_pair(fn, input, target, reduction, false)) return NULL;
    if (!var) return nbc_null_arg(fn, 3), NULL;
    if (check_float(fn, 3, "var", var)) return NULL;
    if (!(eps >= 0)) return nbc_error(NB_ERR_ARG, "%s: eps = %g; expected >= 0", fn, eps), NULL;
    int nd = input->ndim;
    bool same = var->ndim == nd && memcmp(var->shape, input->shape, sizeof(int64_t) * (size_t)nd) == 0;
    bool drop_last = nd >= 1 && var->ndim == nd - 1 && memcmp(var->shape, input->shape, sizeof(int64_t) * (size_t)(nd - 1)) == 0;
    bool last_one = nd >= 1 && var->ndim == nd && var->shape[nd - 1] == 1 &&
                    memcmp(var->shape, input->shape, sizeof(int64_t) * (size_t)(nd - 1)) == 0;
    if (!same && !drop_last && !last_one)
        return nbc_error(NB_ERR_ARG, "%s: var (%s) must have the input's shape %s, or it without the last dim, or with a "
                         "last dim of 1", fn, nbc_desc(var), nbc_shape_str(nd, input->shape)), NULL;
    nbo_buffer vb;
    if (nbo_buffer_get(fn, var, NB_F64, &vb)) return NULL;
    for (int64_t i = 0; i < nbc_numel(var->ndim, var->shape); i++)
        if (((const double *)vb.data)[i] < 0) {
            double bad = ((const double *)vb.data)[i];
            nbo_buffer_release(&vb);
            return nbc_error(NB_ERR_ARG, "%s: var has a negative entry %g at flat index %lld", fn, bad, (long long)i), NULL;
        }
    nbo_buffer_release(&vb);
    nb_scope_begin();
    nb_tensor *v = drop_last ? nb_unsqueeze(var, -1) : var;
    v = nb_add(v, nb_detach(nb_sub(nb_maximum_scalar(v, eps), v))); /* clamp with an identity gradient */
    nb_tensor *d = nb_sub(input, target);
    nb_tensor *l = nb_mul_scalar(nb_add(nb_log(v), nb_div(nb_mul(d, d), v)), 0.5);
    if (full) l = nb_add_scalar(l, 0.5 * log(k_two_pi));
    l = reduce_loss(l, reduction);
    nb_keep(l);
    nb_scope_end();
    return l;
}
