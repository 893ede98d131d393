/* ops/neural.c — neural-network functions composed of registry ops: dropout / dropout2d (a mask
 * drawn in one pass from the global Philox generator, then one multiply that saves it for backward),
 * linear (a registry op: one GEMM with the bias fused, the weight read transposed in place) and
 * bilinear, cosine
 * similarity, pairwise distance and scaled dot-product attention (matmul, softmax, matmul, with the
 * causal mask written directly as an additive buffer). Their gradients come from the ops they use. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>
#include <string.h>

/* ---- dropout --------------------------------------------------------------------------------------- */

typedef struct mask_job {
    nb_dtype dtype;
    void *out;
    uint64_t first, key, thr; /* keep when a 32-bit draw is >= thr = p 2^32 */
    double scale;
} mask_job;

/* Blocks of 4 elements share one Philox call; element i of block b uses word i % 4, so the mask
 * depends only on (seed, counter), never on the thread split. Typed stores for f32 / f64 (no
 * per-element dispatch); f16 / bf16 go through the generic store. */
#define MASK_LOOP(STORE)                                                                           \
    for (int64_t b = b0; b < b1; b++) {                                                            \
        uint32_t r[4];                                                                             \
        nbc_philox(j->first + (uint64_t)b, j->key, r);                                             \
        for (int k = 0; k < 4 && b * 4 + k < n; k++) {                                             \
            int64_t i = b * 4 + k;                                                                 \
            bool keep = (uint64_t)r[k] >= j->thr;                                                  \
            STORE;                                                                                 \
        }                                                                                          \
    }
static void mask_chunk(const mask_job *j, int64_t b0, int64_t b1, int64_t n) {
    if (j->dtype == NB_F32) {
        float *o = j->out, s = (float)j->scale;
        MASK_LOOP(o[i] = keep ? s : 0.0f)
    } else if (j->dtype == NB_F64) {
        double *o = j->out;
        MASK_LOOP(o[i] = keep ? j->scale : 0.0)
    } else {
        MASK_LOOP(nbc_store(j->out, j->dtype, i, keep ? j->scale : 0.0))
    }
}
#undef MASK_LOOP
typedef struct mask_ctx {
    mask_job j;
    int64_t n;
} mask_ctx;
static void mask_range(void *ctx, int64_t b0, int64_t b1) {
    mask_ctx *c = ctx;
    mask_chunk(&c->j, b0, b1, c->n);
}

/* A tensor of `shape` holding 0 (probability p) or 1/(1-p), dtype dt: the dropout mask. */
static nb_tensor *dropout_mask(const char *fn, int ndim, const int64_t *shape, double p, nb_dtype dt) {
    nb_tensor *m = nbc_tensor_new(fn, dt, ndim, shape);
    if (!m) return NULL;
    int64_t n = nbc_numel(ndim, shape), blocks = (n + 3) / 4;
    mask_ctx c = {.j = {.dtype = dt, .out = nbc_ptr(m), .thr = (uint64_t)ldexp(p, 32), .scale = 1.0 / (1.0 - p)}, .n = n};
    c.j.first = nbc_rng_reserve((uint64_t)blocks, &c.j.key);
    nbc_parallel_for(blocks, 4096, mask_range, &c);
    return nbc_track(m);
}

static int check_p(const char *fn, nb_tensor *x, double p) {
    if (!x) return nbc_null_arg(fn, 1);
    if (!(p >= 0 && p <= 1)) return nbc_error(NB_ERR_ARG, "%s: dropout probability p = %g must be in [0, 1]", fn, p);
    if (!nb_dtype_is_float(x->dtype)) return nbc_error(NB_ERR_ARG, "%s: expected a floating input; got %s", fn, nbc_desc(x));
    return 0;
}

/* x * mask with mask of shape mshape (broadcasting over x); p = 1 gives x * 0 (zeros, gradient 0). */
static nb_tensor *apply_mask(const char *fn, nb_tensor *x, int nd, const int64_t *mshape, double p) {
    if (p >= 1) return nb_mul_scalar(x, 0.0);
    nb_tensor *m = dropout_mask(fn, nd, mshape, p, x->dtype);
    nb_tensor *y = nb_mul(x, m);
    nb_free(m);
    return y;
}

nb_tensor *nb_dropout(nb_tensor *x, double p, bool training) {
    static const char fn[] = "nb_dropout";
    if (check_p(fn, x, p)) return NULL;
    if (!training || p == 0) return nb_retain(x);
    return apply_mask(fn, x, x->ndim, x->shape, p);
}

nb_tensor *nb_dropout2d(nb_tensor *x, double p, bool training) {
    static const char fn[] = "nb_dropout2d";
    if (check_p(fn, x, p)) return NULL;
    if (x->ndim != 3 && x->ndim != 4)
        return nbc_error(NB_ERR_ARG, "%s: expected an input (N, C, H, W) or (C, H, W); got %s", fn, nbc_desc(x)), NULL;
    if (!training || p == 0) return nb_retain(x);
    int64_t ms[4];
    for (int d = 0; d < x->ndim; d++) ms[d] = d < x->ndim - 2 ? x->shape[d] : 1; /* one draw per channel */
    return apply_mask(fn, x, x->ndim, ms, p);
}

/* ---- linear, bilinear ------------------------------------------------------------------------------ */

/* linear(x (M, in), w (out, in) [, bias (out)]) -> (M, out): one GEMM reading w transposed through
 * its strides (no copy), the bias added by the GEMM's epilogue as each tile is stored. */
static int linear_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)a;
    static const char fn[] = "nb_linear";
    nb_tensor *x = in[0], *w = in[1], *b = n > 2 ? in[2] : NULL;
    if (n < 2 || n > 3) return nbc_error(NB_ERR_ARG, "%s: expected 2 or 3 inputs; got %d", fn, n);
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1] || !nb_dtype_is_float(x->dtype) ||
        !nb_dtype_is_float(w->dtype))
        return nbc_error(NB_ERR_ARG, "%s: input %s and weight %s: expected floating (M, in_features) and (out_features, "
                         "in_features)", fn, nbc_desc(x), nbc_desc(w));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0] || !nb_dtype_is_float(b->dtype)))
        return nbc_error(NB_ERR_ARG, "%s: bias has %s; expected a floating [%lld] (out_features)", fn, nbc_desc(b),
                         (long long)w->shape[0]);
    nb_dtype d = nb_promote_types(x->dtype, w->dtype);
    if (b) d = nb_promote_types(d, b->dtype);
    nbo_meta_set(out, d, 2, (const int64_t[]){x->shape[0], w->shape[0]});
    return 0;
}

static int linear_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)a;
    static const char fn[] = "nb_linear";
    nb_tensor *o = out[0];
    nb_dtype ct = nbk_compute_type(o->dtype);
    /* operands of another dtype are converted once (contiguous); the others are read in place */
    nbo_buffer buf[3] = {{0}, {0}, {0}};
    const char *p[2];
    int64_t st[2][2];
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        nb_tensor *t = in[i];
        if (t->dtype == ct) {
            p[i] = nbc_ptr(t);
            st[i][0] = t->strides[0], st[i][1] = t->strides[1];
        } else if (!(rc = nbo_buffer_get(fn, t, ct, &buf[i]))) {
            p[i] = buf[i].data;
            st[i][0] = t->shape[1], st[i][1] = 1;
        }
    }
    if (!rc && n > 2) rc = nbo_buffer_get(fn, in[2], ct, &buf[2]);
    int64_t m = o->shape[0], nn = o->shape[1], k = in[0]->shape[1];
    size_t ocap = 0;
    void *obuf = nbc_ptr(o);
    if (!rc && ct != o->dtype && !(obuf = nbc_block_alloc((size_t)(m * nn > 0 ? m * nn : 1) * nb_dtype_size(ct), &ocap)))
        rc = nbc_oom(fn);
    if (!rc) {
        nbk_epilogue ep = {.bias = n > 2 ? buf[2].data : NULL};
        /* B[p][j] = w[j][p]: w's column stride is B's row stride */
        nbk_gemm_ex(ct, m, nn, k, p[0], st[0][0], st[0][1], p[1], st[1][1], st[1][0], obuf, nn, &ep);
        if (ocap) nbk_convert(nbc_ptr(o), o->dtype, obuf, ct, m * nn);
    }
    if (ocap) nbc_block_free(obuf, ocap);
    for (int i = 0; i < 3; i++) nbo_buffer_release(&buf[i]);
    return rc;
}

/* gx = g w, gw = g^T x, gb = sum of g's rows */
static int linear_backward(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_tensor *g = gout[0], *x = c->in[0], *w = c->in[1];
    if (c->needs_grad[0] && !(gin[0] = nb_matmul(g, w))) return nb_last_status();
    if (c->needs_grad[1] && !(gin[1] = nb_matmul(nb_transpose(g, 0, 1), x))) return nb_last_status();
    if (c->n_in > 2 && c->needs_grad[2] && !(gin[2] = nb_sum(g, NB_DIMS(0)))) return nb_last_status();
    return 0;
}

const nbo_desc nbo_desc_linear = {
    .name = "linear", .bw_name = "LinearBackward", .n_in = -1, .n_out = 1,
    .flags = NBO_SAVE_INPUTS, .unsaved_inputs = 1u << 2, /* bias */
    .attrs = "",
    .torch = "torch.nn.functional.linear",
    .summary = "x @ w^T + bias in one GEMM: w read transposed in place, bias fused into the store (x is 2-D here; the "
               "public function reshapes)",
    .infer = linear_infer, .forward = linear_forward, .backward = linear_backward};

nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *bias) {
    static const char fn[] = "nb_linear";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!w) return nbc_null_arg(fn, 2), NULL;
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return nbc_error(NB_ERR_ARG, "%s: input %s and weight %s: expected weight (out_features, in_features) with "
                         "in_features the input's last dim", fn, nbc_desc(x), nbc_desc(w)), NULL;
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))
        return nbc_error(NB_ERR_ARG, "%s: bias has %s; expected [%lld] (out_features)", fn, nbc_desc(bias),
                         (long long)w->shape[0]), NULL;
    nb_scope_begin();
    /* (..., in) -> (M, in): one GEMM for all leading dims */
    nb_tensor *x2 = x->ndim == 2 ? x : nb_reshape(x, 2, (const int64_t[]){nbc_numel(x->ndim - 1, x->shape), w->shape[1]});
    nb_tensor *y = x2 ? nbo_apply1(NBO_linear, (nb_tensor *[]){x2, w, bias}, bias ? 3 : 2, NULL) : NULL;
    if (x->ndim != 2 && y) {
        int64_t s[NB_MAX_DIMS];
        memcpy(s, x->shape, sizeof(int64_t) * (size_t)x->ndim);
        s[x->ndim - 1] = w->shape[0];
        y = nb_reshape(y, x->ndim, s);
    }
    nb_keep(y);
    nb_scope_end();
    return y;
}

nb_tensor *nb_bilinear(nb_tensor *x1, nb_tensor *x2, nb_tensor *w, nb_tensor *bias) {
    static const char fn[] = "nb_bilinear";
    if (!x1) return nbc_null_arg(fn, 1), NULL;
    if (!x2) return nbc_null_arg(fn, 2), NULL;
    if (!w) return nbc_null_arg(fn, 3), NULL;
    if (w->ndim != 3 || x1->ndim < 1 || x1->ndim != x2->ndim || x1->shape[x1->ndim - 1] != w->shape[1] ||
        x2->shape[x2->ndim - 1] != w->shape[2] ||
        memcmp(x1->shape, x2->shape, sizeof(int64_t) * (size_t)(x1->ndim - 1)) != 0)
        return nbc_error(NB_ERR_ARG, "%s: inputs %s and %s with weight %s: expected weight (out, in1, in2), inputs "
                         "(..., in1) and (..., in2) with the same leading dims", fn, nbc_desc(x1), nbc_desc(x2),
                         nbc_desc(w)), NULL;
    int64_t out = w->shape[0], in1 = w->shape[1], in2 = w->shape[2], m = nbc_numel(x1->ndim - 1, x1->shape);
    if (bias && (bias->ndim != 1 || bias->shape[0] != out))
        return nbc_error(NB_ERR_ARG, "%s: bias has %s; expected [%lld] (out_features)", fn, nbc_desc(bias), (long long)out), NULL;
    nb_scope_begin();
    /* t = x1 (M, in1) @ W as (in1, out * in2); y[m, o] = sum_j t[m, o, j] x2[m, j] */
    nb_tensor *a = nb_reshape(x1, 2, (const int64_t[]){m, in1});
    nb_tensor *b = nb_reshape(x2, 3, (const int64_t[]){m, 1, in2});
    nb_tensor *wt = nb_reshape(nb_permute(w, 3, (const int64_t[]){1, 0, 2}), 2, (const int64_t[]){in1, out * in2});
    nb_tensor *t = nb_reshape(nb_matmul(a, wt), 3, (const int64_t[]){m, out, in2});
    nb_tensor *y = nb_sum(nb_mul(t, b), NB_DIMS(2));
    if (bias) y = nb_add(y, bias);
    int64_t s[NB_MAX_DIMS];
    memcpy(s, x1->shape, sizeof(int64_t) * (size_t)x1->ndim);
    s[x1->ndim - 1] = out;
    y = nb_reshape(y, x1->ndim, s);
    nb_keep(y);
    nb_scope_end();
    return y;
}

/* ---- distances -------------------------------------------------------------------------------------- */

nb_tensor *nb_cosine_similarity(nb_tensor *x1, nb_tensor *x2, int dim, double eps) {
    static const char fn[] = "nb_cosine_similarity";
    if (!x1) return nbc_null_arg(fn, 1), NULL;
    if (!x2) return nbc_null_arg(fn, 2), NULL;
    int nd;
    int64_t shape[NB_MAX_DIMS];
    if (nbo_broadcast_shapes(fn, x1->ndim, x1->shape, x2->ndim, x2->shape, &nd, shape)) return NULL;
    if (dim < -nd || dim >= nd || nd == 0)
        return nbc_error(NB_ERR_ARG, "%s: dim %d out of range for the broadcast shape %s", fn, dim, nbc_shape_str(nd, shape)),
               NULL;
    if (dim < 0) dim += nd;
    nb_scope_begin();
    /* f16 / bf16 computed in f32 (eps would underflow), rounded on output */
    nb_dtype dt = nb_promote_types(x1->dtype, x2->dtype);
    if (!nb_dtype_is_float(dt)) dt = NB_F32; /* integers and bool are accepted, as in PyTorch */
    nb_dtype ct = nbk_compute_type(dt);
    nb_tensor *a = nb_to(nb_expand(x1, nd, shape), ct), *b = nb_to(nb_expand(x2, nd, shape), ct);
    nb_reduce_opts o = {.n = 1, .dims = {dim}, .keepdim = true};
    /* as PyTorch: each norm clamped to eps (outside the graph), then (x1 / |x1|) . (x2 / |x2|) */
    nb_tensor *n1 = nb_sqrt(nb_sum(nb_mul(a, a), &o)), *n2 = nb_sqrt(nb_sum(nb_mul(b, b), &o));
    nb_no_grad_begin();
    nb_tensor *c1 = nb_sub(nb_maximum_scalar(n1, eps), n1), *c2 = nb_sub(nb_maximum_scalar(n2, eps), n2);
    nb_no_grad_end();
    n1 = nb_add(n1, c1);
    n2 = nb_add(n2, c2);
    o.keepdim = false;
    nb_tensor *y = nb_to(nb_sum(nb_mul(nb_div(a, n1), nb_div(b, n2)), &o), dt);
    nb_keep(y);
    nb_scope_end();
    return y;
}

nb_tensor *nb_pairwise_distance(nb_tensor *x1, nb_tensor *x2, double p, double eps, bool keepdim) {
    static const char fn[] = "nb_pairwise_distance";
    if (!x1) return nbc_null_arg(fn, 1), NULL;
    if (!x2) return nbc_null_arg(fn, 2), NULL;
    if (!nb_dtype_is_float(x1->dtype) || !nb_dtype_is_float(x2->dtype))
        return nbc_error(NB_ERR_ARG, "%s: expected floating inputs; got %s and %s", fn, nbc_desc(x1), nbc_desc(x2)), NULL;
    if (!(p >= 0)) return nbc_error(NB_ERR_ARG, "%s: p = %g must be non-negative", fn, p), NULL;
    int nd;
    int64_t shape[NB_MAX_DIMS];
    if (nbo_broadcast_shapes(fn, x1->ndim, x1->shape, x2->ndim, x2->shape, &nd, shape)) return NULL;
    nb_scope_begin();
    nb_tensor *d = nb_add_scalar(nb_sub(x1, x2), eps);
    if (nd == 0) d = nb_reshape(d, 1, (const int64_t[]){1});
    nb_reduce_opts o = {.n = 1, .dims = {-1}, .keepdim = keepdim && nd > 0};
    nb_tensor *y;
    if (isinf(p)) y = nb_max(nb_abs(d), &o);
    else if (p == 0) y = nb_to(nb_sum(nb_ne_scalar(d, 0.0), &o), d->dtype);
    else if (p == 1) y = nb_sum(nb_abs(d), &o);
    else if (p == 2) y = nb_sqrt(nb_sum(nb_mul(d, d), &o));
    else y = nb_pow_scalar(nb_sum(nb_pow_scalar(nb_abs(d), p), &o), 1.0 / p);
    nb_keep(y);
    nb_scope_end();
    return y;
}

/* ---- scaled dot-product attention ---------------------------------------------------------------- */

/* (L, S) additive mask: 0 where j <= i (attend), -inf above the diagonal; written directly. */
static nb_tensor *causal_mask(int64_t l, int64_t s, nb_dtype dt) {
    nb_tensor *m = nbc_tensor_new("nb_scaled_dot_product_attention", dt, 2, (const int64_t[]){l, s});
    if (!m) return NULL;
    void *p = nbc_ptr(m);
    if (dt == NB_F32) {
        float *o = p;
        for (int64_t i = 0; i < l; i++)
            for (int64_t j = 0; j < s; j++) o[i * s + j] = j <= i ? 0.0f : -INFINITY;
    } else if (dt == NB_F64) {
        double *o = p;
        for (int64_t i = 0; i < l; i++)
            for (int64_t j = 0; j < s; j++) o[i * s + j] = j <= i ? 0.0 : -INFINITY;
    } else {
        for (int64_t i = 0; i < l; i++)
            for (int64_t j = 0; j < s; j++) nbc_store(p, dt, i * s + j, j <= i ? 0.0 : -INFINITY);
    }
    return nbc_track(m);
}

nb_tensor *nb_scaled_dot_product_attention(nb_tensor *q, nb_tensor *k, nb_tensor *v, nb_tensor *attn_mask,
                                           double dropout_p, bool is_causal, double scale) {
    static const char fn[] = "nb_scaled_dot_product_attention";
    if (!q) return nbc_null_arg(fn, 1), NULL;
    if (!k) return nbc_null_arg(fn, 2), NULL;
    if (!v) return nbc_null_arg(fn, 3), NULL;
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2 || q->shape[q->ndim - 1] != k->shape[k->ndim - 1] ||
        k->shape[k->ndim - 2] != v->shape[v->ndim - 2])
        return nbc_error(NB_ERR_ARG, "%s: expected query (..., L, E), key (..., S, E) and value (..., S, Ev); got %s, %s "
                         "and %s", fn, nbc_desc(q), nbc_desc(k), nbc_desc(v)), NULL;
    if (!nb_dtype_is_float(q->dtype) || !nb_dtype_is_float(k->dtype) || !nb_dtype_is_float(v->dtype))
        return nbc_error(NB_ERR_ARG, "%s: expected floating query, key and value; got %s, %s and %s", fn, nbc_desc(q),
                         nbc_desc(k), nbc_desc(v)), NULL;
    if (is_causal && attn_mask)
        return nbc_error(NB_ERR_ARG, "%s: attn_mask and is_causal cannot both be set", fn), NULL;
    if (!(dropout_p >= 0 && dropout_p <= 1))
        return nbc_error(NB_ERR_ARG, "%s: dropout_p = %g must be in [0, 1]", fn, dropout_p), NULL;
    int64_t L = q->shape[q->ndim - 2], S = k->shape[k->ndim - 2], E = q->shape[q->ndim - 1];
    int nd;
    int64_t bshape[NB_MAX_DIMS];
    if (nbo_broadcast_shapes(fn, q->ndim - 2, q->shape, k->ndim - 2, k->shape, &nd, bshape)) return NULL;
    bshape[nd] = L;
    bshape[nd + 1] = S;
    if (attn_mask) {
        int mnd;
        int64_t ms[NB_MAX_DIMS];
        bool ok = !nbo_broadcast_shapes(fn, nd + 2, bshape, attn_mask->ndim, attn_mask->shape, &mnd, ms) && mnd == nd + 2 &&
                  memcmp(ms, bshape, sizeof(int64_t) * (size_t)mnd) == 0;
        nb_clear_error();
        if (!ok || !(attn_mask->dtype == NB_BOOL || nb_dtype_is_float(attn_mask->dtype)))
            return nbc_error(NB_ERR_ARG, "%s: attn_mask %s must be bool or floating and broadcast to the attention "
                             "weights' shape %s", fn, nbc_desc(attn_mask), nbc_shape_str(nd + 2, bshape)), NULL;
    }
    double sc = scale > 0 ? scale : 1.0 / sqrt((double)(E ? E : 1)); /* scale <= 0: torch's default 1/sqrt(E) */
    nb_scope_begin();
    /* the scale applied to q (L x E) rather than to the scores (L x S): fewer multiplies when S > E */
    nb_tensor *s = nb_matmul(nb_mul_scalar(q, sc), nb_transpose(k, -2, -1));
    if (is_causal && s) s = nb_add(s, causal_mask(L, S, s->dtype));
    if (attn_mask && s) {
        if (attn_mask->dtype == NB_BOOL)
            s = nb_where(attn_mask, s, nbo_const(-INFINITY, s->dtype));
        else
            s = nb_add(s, nb_to(attn_mask, s->dtype)); /* the mask does not widen the result's dtype */
    }
    nb_tensor *a = nb_softmax(s, -1);
    if (dropout_p > 0) a = nb_dropout(a, dropout_p, true);
    nb_tensor *y = nb_matmul(a, v);
    nb_keep(y);
    nb_scope_end();
    return y;
}
