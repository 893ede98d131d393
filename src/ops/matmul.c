/* ops/matmul.c — matrix multiply with batch broadcasting (torch.matmul). The registry op takes two
 * operands of at least 2 dims; the public wrapper adds and removes the dims of 1-D operands, so their
 * gradients come from the view ops for free. Operands are read through their strides (a transposed
 * view costs no copy here; the GEMM packs what it needs). */
#include "op.h"
#include "../kernels/cpu/kernels.h"

static int matmul_infer(nb_tensor *const *in, int n, const nb_attrs *at, nbc_meta *out) {
    (void)n, (void)at;
    static const char fn[] = "nb_matmul";
    nb_tensor *a = in[0], *b = in[1];
    if (!nb_dtype_is_float(a->dtype) || !nb_dtype_is_float(b->dtype))
        return nbc_error(NB_ERR_ARG, "%s: arguments must have floating dtypes; got %s and %s", fn, nbc_desc(a),
                         nbc_desc(b));
    if (a->ndim < 2 || b->ndim < 2)
        return nbc_error(NB_ERR_ARG, "%s: arguments need at least 2 dims here; got %s and %s", fn, nbc_desc(a), nbc_desc(b));
    int64_t k = a->shape[a->ndim - 1];
    if (b->shape[b->ndim - 2] != k)
        return nbc_error(NB_ERR_ARG, "%s: argument #2 has shape %s; expected [%lld, *] in its last two dims to match "
                         "argument #1 %s", fn, nbc_shape_str(b->ndim, b->shape), (long long)k,
                         nbc_shape_str(a->ndim, a->shape));
    int nd;
    int64_t shape[NB_MAX_DIMS];
    if (nbo_broadcast_shapes(fn, a->ndim - 2, a->shape, b->ndim - 2, b->shape, &nd, shape)) return NB_ERR_ARG;
    shape[nd] = a->shape[a->ndim - 2];
    shape[nd + 1] = b->shape[b->ndim - 1];
    nbo_meta_set(out, nb_promote_types(a->dtype, b->dtype), nd + 2, shape);
    return 0;
}

typedef struct batch_job {
    nb_dtype c;
    int nbatch_dims;
    const int64_t *bshape;
    int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS]; /* batch strides, broadcast */
    const char *a, *b;
    char *o;
    int64_t m, n, k, rsa, csa, rsb, csb;
} batch_job;

static void batch_chunk(void *ctx, int64_t begin, int64_t end) {
    const batch_job *j = ctx;
    size_t z = nb_dtype_size(j->c);
    for (int64_t bi = begin; bi < end; bi++) {
        int64_t rem = bi, oa = 0, ob = 0;
        for (int d = j->nbatch_dims - 1; d >= 0; d--) {
            int64_t idx = rem % j->bshape[d];
            rem /= j->bshape[d];
            oa += idx * j->sa[d];
            ob += idx * j->sb[d];
        }
        nbk_gemm(j->c, j->m, j->n, j->k, j->a + (size_t)oa * z, j->rsa, j->csa, j->b + (size_t)ob * z, j->rsb, j->csb,
                 j->o + (size_t)(bi * j->m * j->n) * z, j->n);
    }
}

static int matmul_forward(nb_tensor *const *in, int n_in, const nb_attrs *at, nb_tensor *const *out) {
    (void)n_in, (void)at;
    static const char fn[] = "nb_matmul";
    nb_tensor *o = out[0];
    nb_dtype c = nbk_compute_type(o->dtype);
    /* Operands not already in the compute type are converted once (keeping their own shape). */
    nb_tensor *ops[2] = {in[0], in[1]};
    nb_tensor views[2];
    nbo_buffer bufs[2] = {{0}, {0}};
    for (int i = 0; i < 2; i++) {
        if (ops[i]->dtype == c) continue;
        if (nbo_buffer_get(fn, ops[i], c, &bufs[i])) {
            nbo_buffer_release(&bufs[0]);
            return NB_ERR_NOMEM;
        }
        views[i] = *ops[i];
        nbc_contiguous_strides(views[i].ndim, views[i].shape, views[i].strides);
        ops[i] = &views[i];
    }
    const nb_tensor *a = ops[0], *b = ops[1];
    const char *pa = bufs[0].data ? bufs[0].data : nbc_ptr(a);
    const char *pb = bufs[1].data ? bufs[1].data : nbc_ptr(b);
    int nbd = o->ndim - 2;
    batch_job j = {.c = c, .nbatch_dims = nbd, .bshape = o->shape, .a = pa, .b = pb, .k = a->shape[a->ndim - 1],
                   .m = o->shape[nbd], .n = o->shape[nbd + 1], .rsa = a->strides[a->ndim - 2],
                   .csa = a->strides[a->ndim - 1], .rsb = b->strides[b->ndim - 2], .csb = b->strides[b->ndim - 1]};
    /* batch strides of a and b broadcast to the output's batch shape */
    for (int d = 0; d < nbd; d++) {
        int da = a->ndim - 2 - nbd + d, db = b->ndim - 2 - nbd + d;
        j.sa[d] = (da >= 0 && a->shape[da] != 1) ? a->strides[da] : 0;
        j.sb[d] = (db >= 0 && b->shape[db] != 1) ? b->strides[db] : 0;
    }
    size_t ocap = 0;
    void *obuf = nbc_ptr(o);
    int64_t numel = nbc_numel(o->ndim, o->shape);
    if (c != o->dtype) {
        obuf = nbc_block_alloc((size_t)numel * nb_dtype_size(c), &ocap);
        if (!obuf) {
            nbo_buffer_release(&bufs[0]);
            nbo_buffer_release(&bufs[1]);
            return nbc_oom(fn);
        }
    }
    j.o = obuf;
    int64_t batches = nbc_numel(nbd, o->shape);
    int64_t flops = 2 * j.m * j.n * (j.k ? j.k : 1);
    if (flops < 1) flops = 1; /* m or n is 0: nothing to compute, but no division by zero either */
    /* Many small products: one per thread; few large ones: the GEMM splits rows itself. */
    nbc_parallel_for(batches, flops >= 1000000 ? 1 : 1000000 / flops, batch_chunk, &j);
    if (c != o->dtype) {
        nbk_convert(nbc_ptr(o), o->dtype, obuf, c, numel);
        nbc_block_free(obuf, ocap);
    }
    nbo_buffer_release(&bufs[0]);
    nbo_buffer_release(&bufs[1]);
    return 0;
}

/* Whether t's last two dims are a transposed contiguous matrix (strides (1, rows)), as the weight of
 * a linear layer seen through nb_transpose is. */
static bool is_transposed_matrix(const nb_tensor *t) {
    int d = t->ndim;
    return d >= 2 && t->shape[d - 2] > 1 && t->shape[d - 1] > 1 && t->strides[d - 2] == 1 &&
           t->strides[d - 1] == t->shape[d - 2];
}

/* dA = dC . B^T and dB = A^T . dC, summed over broadcast batch dims. When an operand is a transposed
 * matrix its gradient is computed transposed, (B . dC^T)^T or (dC^T . A)^T, so it arrives with the
 * operand's own layout: the gradient of a linear layer's weight then reaches the leaf contiguous
 * instead of as a view needing a transposing copy (PyTorch's mm backward does the same). */
static int matmul_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *a = c->in[0], *b = c->in[1];
    int nd = g[0]->ndim;
    if (c->needs_grad[0]) {
        if (is_transposed_matrix(a) && a->ndim == nd)
            gin[0] = nb_transpose(nb_matmul(b, nb_transpose(g[0], -1, -2)), -1, -2);
        else
            gin[0] = nb_matmul(g[0], nb_transpose(b, -1, -2));
        gin[0] = nbo_sum_to(gin[0], c->in_meta[0].ndim, c->in_meta[0].shape);
    }
    if (c->needs_grad[1]) {
        if (is_transposed_matrix(b) && b->ndim == nd)
            gin[1] = nb_transpose(nb_matmul(nb_transpose(g[0], -1, -2), a), -1, -2);
        else
            gin[1] = nb_matmul(nb_transpose(a, -1, -2), g[0]);
        gin[1] = nbo_sum_to(gin[1], c->in_meta[1].ndim, c->in_meta[1].shape);
    }
    return (c->needs_grad[0] && !gin[0]) || (c->needs_grad[1] && !gin[1]) ? nb_last_status() : 0;
}

const nbo_desc nbo_desc_matmul = {.name = "matmul", .bw_name = "MatmulBackward", .n_in = 2, .n_out = 1,
                                  .flags = NBO_SAVE_INPUTS, .attrs = "", .torch = "torch.matmul",
                                  .summary = "matrix product with broadcast batch dims",
                                  .infer = matmul_infer, .forward = matmul_forward, .backward = matmul_bw};

nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b) {
    if (!a) return nbc_null_arg("nb_matmul", 1), NULL;
    if (!b) return nbc_null_arg("nb_matmul", 2), NULL;
    if (a->ndim == 0 || b->ndim == 0)
        return nbc_error(NB_ERR_ARG, "nb_matmul: both arguments need at least 1 dim; got %s and %s", nbc_desc(a),
                         nbc_desc(b)), NULL;
    if (a->ndim >= 2 && b->ndim >= 2) return nbo_apply1(NBO_matmul, (nb_tensor *[]){a, b}, 2, NULL);
    /* 1-D operands: a vector becomes (1, k) on the left or (k, 1) on the right, and that dim is
     * removed from the result. */
    nb_tensor *a2 = a->ndim == 1 ? nb_unsqueeze(a, 0) : nb_retain(a);
    nb_tensor *b2 = b->ndim == 1 ? nb_unsqueeze(b, 1) : nb_retain(b);
    nb_tensor *r = nbo_apply1(NBO_matmul, (nb_tensor *[]){a2, b2}, 2, NULL);
    nb_free(a2);
    nb_free(b2);
    if (!r) return NULL;
    nb_tensor *s = r;
    if (b->ndim == 1) s = nb_squeeze(s, -1);
    if (a->ndim == 1) {
        nb_tensor *t = nb_squeeze(s, -1 - (b->ndim == 1 ? 0 : 1));
        if (s != r) nb_free(s);
        s = t;
    }
    nb_free(r);
    return s;
}
