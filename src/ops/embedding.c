/* ops/embedding.c — embedding lookups as two registry ops:
 *   embedding(weight, indices)              -> weight[indices]        (rows gathered; out (*idx, dim))
 *   embedding_backward(g, indices)          -> (num, dim) scatter-add of g's rows at indices
 * Attributes: ints[0] = number of rows, ints[1] = padding_idx (-1: none; that row gets no gradient).
 * Each is the other's gradient, so embeddings are differentiable to any order. Indices are checked
 * against the table before any row is read (never an out-of-range access). embedding_bag sums (with
 * per-sample weights), averages or takes the maximum of bags of rows, through the same two ops
 * (embedding_backward with bag numbers as indices is a segment sum). */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>
#include <string.h>

static bool is_int_dtype(nb_dtype d) { return d == NB_I8 || d == NB_U8 || d == NB_I32 || d == NB_I64; }

/* Every index of idx in [0, num)? Otherwise an error naming fn and the first bad index. */
static int check_indices(const char *fn, const nb_tensor *idx, int64_t num) {
    if (!is_int_dtype(idx->dtype))
        return nbc_error(NB_ERR_ARG, "%s: indices must have an integer dtype; got %s", fn, nbc_desc(idx));
    nbo_buffer b;
    if (nbo_buffer_get(fn, idx, NB_I64, &b)) return NB_ERR_NOMEM;
    const int64_t *p = b.data;
    int64_t n = nbc_numel(idx->ndim, idx->shape);
    int rc = 0;
    for (int64_t i = 0; i < n && !rc; i++)
        if (p[i] < 0 || p[i] >= num)
            rc = nbc_error(NB_ERR_ARG, "%s: index %lld (at flat position %lld of indices %s) is out of range for a "
                           "table of %lld rows", fn, (long long)p[i], (long long)i, nbc_desc(idx), (long long)num);
    nbo_buffer_release(&b);
    return rc;
}

/* ---- embedding(weight, indices) ---------------------------------------------------------------- */

static int emb_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_embedding";
    nb_tensor *w = in[0], *idx = in[1];
    if (w->ndim != 2 || !nb_dtype_is_float(w->dtype))
        return nbc_error(NB_ERR_ARG, "%s: weight must be a floating (num_embeddings, embedding_dim) table; got %s", fn,
                         nbc_desc(w));
    if (idx->ndim + 1 > NB_MAX_DIMS)
        return nbc_error(NB_ERR_ARG, "%s: indices %s have too many dims", fn, nbc_desc(idx));
    int rc = check_indices(fn, idx, w->shape[0]);
    if (rc) return rc;
    int64_t s[NB_MAX_DIMS];
    memcpy(s, idx->shape, sizeof(int64_t) * (size_t)idx->ndim);
    s[idx->ndim] = w->shape[1];
    nbo_meta_set(out, w->dtype, idx->ndim + 1, s);
    return 0;
}

typedef struct gather_job {
    const int64_t *idx;
    const char *w;
    char *o;
    int64_t d, rs, cs; /* row length, the table's row and column strides (elements) */
    size_t z;
    nb_dtype dt;
} gather_job;

/* rows [b, e) of the output: one memcpy each when the table's rows are contiguous */
static void gather_rows(void *ctx, int64_t b, int64_t e) {
    const gather_job *j = ctx;
    size_t row = (size_t)j->d * j->z;
    const int64_t one = 1;
    for (int64_t i = b; i < e; i++) {
        const char *src = j->w + (size_t)(j->idx[i] * j->rs) * j->z;
        if (j->cs == 1) memcpy(j->o + (size_t)i * row, src, row);
        else nbk_copy(j->o + (size_t)i * row, j->dt, &one, src, j->dt, &j->cs, 1, &j->d);
    }
}

static int emb_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_embedding";
    nb_tensor *w = in[0], *idx = in[1];
    int64_t m = nbc_numel(idx->ndim, idx->shape);
    nbo_buffer bi;
    if (nbo_buffer_get(fn, idx, NB_I64, &bi)) return NB_ERR_NOMEM;
    gather_job j = {.idx = bi.data, .w = nbc_ptr(w), .o = nbc_ptr(out[0]), .d = w->shape[1], .rs = w->strides[0],
                    .cs = w->strides[1], .z = nb_dtype_size(w->dtype), .dt = w->dtype};
    int64_t grain = 65536 / (j.d > 0 ? j.d : 1);
    nbc_parallel_for(m, grain < 1 ? 1 : grain, gather_rows, &j);
    nbo_buffer_release(&bi);
    return 0;
}

static int emb_backward(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_attrs a = {.n_ints = 2, .ints = {c->in_meta[0].shape[0], c->attrs->ints[1]}};
    gin[0] = nbo_apply1(NBO_embedding_backward, (nb_tensor *[]){gout[0], c->in[1]}, 2, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_embedding = {
    .name = "embedding", .bw_name = "EmbeddingBackward", .n_in = 2, .n_out = 1,
    .flags = NBO_SAVE_INPUTS, .nograd_inputs = 1u << 1, .unsaved_inputs = 1u << 0, /* weight */
    .attrs = "ints=[num, padding_idx]",
    .torch = "torch.nn.functional.embedding",
    .summary = "rows of a (num, dim) table at integer indices of any shape; padding_idx's row gets no gradient",
    .infer = emb_infer, .forward = emb_forward, .backward = emb_backward};

/* ---- embedding_backward(g, indices) -> (num, dim) ----------------------------------------------- */

static int embb_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_embedding_backward";
    nb_tensor *g = in[0], *idx = in[1];
    if (!nb_dtype_is_float(g->dtype) || g->ndim != idx->ndim + 1 ||
        memcmp(g->shape, idx->shape, sizeof(int64_t) * (size_t)idx->ndim) != 0)
        return nbc_error(NB_ERR_ARG, "%s: the gradient has %s; expected a floating (*indices shape, dim) for indices %s", fn,
                         nbc_desc(g), nbc_desc(idx));
    int rc = check_indices(fn, idx, a->ints[0]);
    if (rc) return rc;
    nbo_meta_set(out, g->dtype, 2, (const int64_t[]){a->ints[0], g->shape[g->ndim - 1]});
    return 0;
}

#define SCATTER_COLS 64
typedef struct scatter_job {
    const int64_t *idx;
    const void *g;
    void *o;
    int64_t m, d, pad;
    bool f32;
} scatter_job;

#define SCATTER_LOOP(T)                                                                            \
    do {                                                                                           \
        T *o = j->o;                                                                               \
        const T *g = j->g;                                                                         \
        for (int64_t i = 0; i < j->m; i++)                                                         \
            if (j->idx[i] != j->pad)                                                               \
                for (int64_t c = c0; c < c1; c++) o[j->idx[i] * j->d + c] += g[i * j->d + c];      \
    } while (0)
static void scatter_cols(void *ctx, int64_t b, int64_t e) {
    const scatter_job *j = ctx;
    int64_t c0 = b * SCATTER_COLS, c1 = e * SCATTER_COLS < j->d ? e * SCATTER_COLS : j->d;
    if (j->f32) SCATTER_LOOP(float);
    else SCATTER_LOOP(double);
}
#undef SCATTER_LOOP

static int embb_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_embedding_backward";
    nb_tensor *g = in[0], *idx = in[1];
    nb_dtype ct = nbk_compute_type(g->dtype);
    int64_t num = a->ints[0], pad = a->ints[1], d = g->shape[g->ndim - 1], m = nbc_numel(idx->ndim, idx->shape);
    nbo_buffer bg, bi;
    if (nbo_buffer_get(fn, g, ct, &bg)) return NB_ERR_NOMEM;
    if (nbo_buffer_get(fn, idx, NB_I64, &bi)) return nbo_buffer_release(&bg), NB_ERR_NOMEM;
    size_t cap = 0;
    void *acc = out[0]->dtype == ct ? nbc_ptr(out[0]) : nbc_block_alloc((size_t)(num * d > 0 ? num * d : 1) * nb_dtype_size(ct), &cap);
    if (!acc) {
        nbo_buffer_release(&bg), nbo_buffer_release(&bi);
        return nbc_oom(fn);
    }
    memset(acc, 0, (size_t)(num * d) * nb_dtype_size(ct));
    scatter_job j = {.idx = bi.data, .g = bg.data, .o = acc, .m = m, .d = d, .pad = pad, .f32 = ct == NB_F32};
    /* parallel over column blocks; each block walks the positions in order, so every sum is taken in
     * the same order whatever the thread count */
    int64_t blocks = (d + SCATTER_COLS - 1) / SCATTER_COLS, grain = 65536 / (m * SCATTER_COLS > 0 ? m * SCATTER_COLS : 1);
    nbc_parallel_for(blocks, grain < 1 ? 1 : grain, scatter_cols, &j);
    if (cap) {
        nbk_convert(nbc_ptr(out[0]), out[0]->dtype, acc, ct, num * d);
        nbc_block_free(acc, cap);
    }
    nbo_buffer_release(&bg), nbo_buffer_release(&bi);
    return 0;
}

/* d/dg: rows of G at the indices, zero where the index is padding_idx. */
static int embb_backward(const nbo_ctx *c, nb_tensor *const *gout, nb_tensor **gin) {
    nb_tensor *idx = c->in[1];
    int64_t pad = c->attrs->ints[1];
    nb_attrs a = {.n_ints = 2, .ints = {c->attrs->ints[0], -1}};
    nb_tensor *e = nbo_apply1(NBO_embedding, (nb_tensor *[]){gout[0], idx}, 2, &a);
    if (e && pad >= 0) {
        nb_tensor *keep = nb_unsqueeze(nb_to(nb_ne_scalar(idx, (double)pad), e->dtype), -1);
        e = nb_mul(e, keep);
    }
    gin[0] = e;
    return e ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_embedding_backward = {
    .name = "embedding_backward", .bw_name = "EmbeddingBackwardBackward", .n_in = 2, .n_out = 1,
    .flags = NBO_SAVE_INPUTS, .nograd_inputs = 1u << 1, .unsaved_inputs = 1u << 0,
    .attrs = "ints=[num, padding_idx]",
    .torch = "torch.ops.aten.embedding_dense_backward",
    .summary = "gradient of embedding: rows of g summed into a (num, dim) table at the indices, skipping padding_idx (internal)",
    .infer = embb_infer, .forward = embb_forward, .backward = embb_backward};

/* ---- public wrappers ----------------------------------------------------------------------------- */

/* torch's embedding_renorm_: each distinct looked-up row whose norm exceeds max_norm is scaled to
 * max_norm / (norm + 1e-7), in place and outside the graph. */
static int renorm_rows(const char *fn, nb_tensor *w, nb_tensor *idx, double max_norm, double norm_type) {
    nbo_buffer bi;
    if (nbo_buffer_get(fn, idx, NB_I64, &bi)) return NB_ERR_NOMEM;
    const int64_t *ip = bi.data;
    int64_t m = nbc_numel(idx->ndim, idx->shape), num = w->shape[0], d = w->shape[1];
    size_t cap = 0;
    unsigned char *seen = nbc_block_alloc((size_t)(num ? num : 1), &cap);
    if (!seen) return nbo_buffer_release(&bi), nbc_oom(fn);
    memset(seen, 0, (size_t)num);
    char *base = nbc_ptr(w);
    size_t z = nb_dtype_size(w->dtype);
    bool changed = false;
    for (int64_t i = 0; i < m; i++) {
        int64_t r = ip[i];
        if (seen[r]) continue;
        seen[r] = 1;
        char *row = base + (size_t)(r * w->strides[0]) * z;
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            double v = fabs(nbc_load(row, w->dtype, j * w->strides[1]));
            s += norm_type == 1 ? v : norm_type == 2 ? v * v : pow(v, norm_type);
        }
        double norm = norm_type == 1 ? s : norm_type == 2 ? sqrt(s) : pow(s, 1.0 / norm_type);
        if (norm > max_norm) {
            double k = max_norm / (norm + 1e-7);
            for (int64_t j = 0; j < d; j++)
                nbc_store(row, w->dtype, j * w->strides[1], nbc_load(row, w->dtype, j * w->strides[1]) * k);
            changed = true;
        }
    }
    if (changed) nbc_bump_version(w);
    nbc_block_free(seen, cap);
    nbo_buffer_release(&bi);
    return 0;
}

nb_tensor *nb_embedding(nb_tensor *weight, nb_tensor *indices, const nb_embedding_opts *opts) {
    static const char fn[] = "nb_embedding";
    if (!weight) return nbc_null_arg(fn, 1), NULL;
    if (!indices) return nbc_null_arg(fn, 2), NULL;
    nb_embedding_opts o = opts ? *opts : (nb_embedding_opts){0};
    if (weight->ndim != 2 || !nb_dtype_is_float(weight->dtype))
        return nbc_error(NB_ERR_ARG, "%s: weight must be a floating (num_embeddings, embedding_dim) table; got %s", fn,
                         nbc_desc(weight)), NULL;
    int64_t num = weight->shape[0], pad = -1;
    if (o.use_padding_idx) {
        pad = o.padding_idx < 0 ? o.padding_idx + num : o.padding_idx;
        if (pad < 0 || pad >= num)
            return nbc_error(NB_ERR_ARG, "%s: padding_idx %lld is out of range for a table of %lld rows", fn,
                             (long long)o.padding_idx, (long long)num), NULL;
    }
    if (o.max_norm > 0) {
        double nt = o.norm_type > 0 ? o.norm_type : 2.0;
        if (check_indices(fn, indices, num) || renorm_rows(fn, weight, indices, o.max_norm, nt)) return NULL;
    }
    nb_attrs a = {.n_ints = 2, .ints = {num, pad}};
    return nbo_apply1(NBO_embedding, (nb_tensor *[]){weight, indices}, 2, &a);
}

nb_tensor *nb_embedding_bag(nb_tensor *weight, nb_tensor *input, nb_tensor *offsets, nb_bag_mode mode,
                            nb_tensor *per_sample_weights) {
    static const char fn[] = "nb_embedding_bag";
    if (!weight) return nbc_null_arg(fn, 1), NULL;
    if (!input) return nbc_null_arg(fn, 2), NULL;
    if (mode != NB_BAG_SUM && mode != NB_BAG_MEAN && mode != NB_BAG_MAX)
        return nbc_error(NB_ERR_ARG, "%s: unknown mode %d", fn, (int)mode), NULL;
    if (input->ndim == 2 && offsets)
        return nbc_error(NB_ERR_ARG, "%s: offsets must be NULL for a 2-D input %s (each row is a bag)", fn, nbc_desc(input)),
               NULL;
    if (input->ndim == 1 && (!offsets || offsets->ndim != 1 || !is_int_dtype(offsets->dtype)))
        return nbc_error(NB_ERR_ARG, "%s: a 1-D input %s needs 1-D integer offsets; got %s", fn, nbc_desc(input),
                         offsets ? nbc_desc(offsets) : "NULL"), NULL;
    if (input->ndim != 1 && input->ndim != 2)
        return nbc_error(NB_ERR_ARG, "%s: input must be 1-D (with offsets) or 2-D; got %s", fn, nbc_desc(input)), NULL;
    if (per_sample_weights &&
        (mode != NB_BAG_SUM || per_sample_weights->ndim != input->ndim ||
         memcmp(per_sample_weights->shape, input->shape, sizeof(int64_t) * (size_t)input->ndim) != 0))
        return nbc_error(NB_ERR_ARG, "%s: per_sample_weights %s must have the input's shape %s and needs mode sum", fn,
                         nbc_desc(per_sample_weights), nbc_shape_str(input->ndim, input->shape)), NULL;
    nb_scope_begin();
    nb_tensor *e = nb_embedding(weight, input, NULL), *y = NULL;
    if (e && per_sample_weights) e = nb_mul(e, nb_unsqueeze(per_sample_weights, -1));
    if (e && input->ndim == 2) {
        y = mode == NB_BAG_SUM ? nb_sum(e, NB_DIMS(1)) : mode == NB_BAG_MEAN ? nb_mean(e, NB_DIMS(1)) : nb_max(e, NB_DIMS(1));
    } else if (e) {
        /* bag number of every position from the offsets (offsets[0] must be 0, non-decreasing, <= N) */
        int64_t nbag = offsets->shape[0], n = input->shape[0], d = weight->shape[1];
        nbo_buffer bo;
        int rc = nbo_buffer_get(fn, offsets, NB_I64, &bo);
        const int64_t *op = bo.data;
        for (int64_t b = 0; b < nbag && !rc; b++)
            if ((b == 0 && op[0] != 0) || op[b] < (b ? op[b - 1] : 0) || op[b] > n)
                rc = nbc_error(NB_ERR_ARG, "%s: offsets must start at 0 and be non-decreasing up to the input length %lld; "
                               "offsets[%lld] = %lld", fn, (long long)n, (long long)b, (long long)op[b]);
        nb_tensor *bag = rc ? NULL : nb_empty(1, &n, NB_I64), *cnt = rc ? NULL : nb_empty(1, &nbag, e->dtype);
        if (bag && cnt) {
            int64_t *bp = nbc_ptr(bag);
            for (int64_t b = 0; b < nbag; b++) {
                int64_t end = b + 1 < nbag ? op[b + 1] : n;
                for (int64_t i = op[b]; i < end; i++) bp[i] = b;
                nbc_store(nbc_ptr(cnt), cnt->dtype, b, end - op[b] > 0 ? (double)(end - op[b]) : 1.0);
            }
            if (nbag == 0 && n) memset(bp, 0, sizeof(int64_t) * (size_t)n); /* no bags: nothing is summed */
        }
        if (!rc && bag && cnt && mode != NB_BAG_MAX) {
            nb_attrs a = {.n_ints = 2, .ints = {nbag, -1}};
            y = nbag ? nbo_apply1(NBO_embedding_backward, (nb_tensor *[]){e, bag}, 2, &a)
                     : nb_zeros(2, (const int64_t[]){0, d}, e->dtype);
            if (mode == NB_BAG_MEAN) y = nb_div(y, nb_unsqueeze(cnt, -1));
        } else if (!rc && bag && cnt) { /* max: per bag; an empty bag gives zeros, as in PyTorch */
            size_t rcap = 0;
            nb_tensor **rows = nbag ? nbc_block_alloc(sizeof(nb_tensor *) * (size_t)nbag, &rcap) : NULL;
            bool ok = rows || nbag == 0;
            for (int64_t b = 0; b < nbag && ok; b++) {
                int64_t end = b + 1 < nbag ? op[b + 1] : n;
                rows[b] = end > op[b] ? nb_max(nb_slice(e, 0, op[b], end, 1), NB_DIMS_KEEP(0))
                                      : nb_zeros(2, (const int64_t[]){1, d}, e->dtype);
                ok = rows[b] != NULL;
            }
            y = !ok ? NULL : nbag ? nb_cat(rows, (int)nbag, 0) : nb_zeros(2, (const int64_t[]){0, d}, e->dtype);
            if (rows) nbc_block_free(rows, rcap);
        }
        nbo_buffer_release(&bo);
    }
    nb_keep(y);
    nb_scope_end();
    return y;
}
