/* ops/util.c — helpers shared by the op families: broadcasting, contiguous typed buffers, and the
 * reductions of broadcast gradients that every binary backward needs. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <string.h>

int nbo_broadcast_shapes(const char *fn, int na, const int64_t *sa, int nb, const int64_t *sb, int *nout,
                         int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
        if (a != b && a != 1 && b != 1)
            return nbc_error(NB_ERR_ARG, "%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", fn,
                             nbc_shape_str(na, sa), nbc_shape_str(nb, sb), i, (long long)a, (long long)b);
        out[i] = a == 1 ? b : a;
    }
    *nout = n;
    return 0;
}

void nbo_broadcast_strides(const nb_tensor *t, int ndim, const int64_t *shape, int64_t *strides) {
    for (int i = 0; i < ndim; i++) {
        int k = t->ndim - ndim + i;
        strides[i] = (k >= 0 && t->shape[k] == shape[i] && t->shape[k] != 1) ? t->strides[k] : 0;
    }
}

int nbo_buffer_get(const char *fn, const nb_tensor *t, nb_dtype as, nbo_buffer *b) {
    b->capacity = 0;
    if (t->dtype == as && nbc_is_contiguous(t)) {
        b->data = nbc_ptr(t);
        return 0;
    }
    int64_t n = nbc_numel(t->ndim, t->shape);
    b->data = nbc_block_alloc((size_t)n * nb_dtype_size(as), &b->capacity);
    if (!b->data) return nbc_oom(fn);
    int64_t ds[NB_MAX_DIMS];
    nbc_contiguous_strides(t->ndim, t->shape, ds);
    nbk_copy(b->data, as, ds, nbc_ptr(t), t->dtype, t->strides, t->ndim, t->shape);
    return 0;
}

void nbo_buffer_release(nbo_buffer *b) {
    if (b->capacity) nbc_block_free(b->data, b->capacity);
    b->data = NULL;
    b->capacity = 0;
}

nb_tensor *nbo_sum_to(nb_tensor *g, int ndim, const int64_t *shape) {
    if (!g) return NULL;
    if (g->ndim == ndim && memcmp(g->shape, shape, (size_t)ndim * sizeof(int64_t)) == 0) return nb_retain(g);
    /* Sum the leading dims g has in excess, and the dims where shape has 1 (keepdim), then reshape. */
    nb_reduce_opts o = {.n = 0, .keepdim = false};
    int lead = g->ndim - ndim;
    for (int i = 0; i < g->ndim; i++) {
        int k = i - lead;
        if (k < 0 || (shape[k] == 1 && g->shape[i] != 1)) o.dims[o.n++] = i;
    }
    if (o.n == 0) return nb_reshape(g, ndim, shape);
    nb_tensor *s = nb_sum(g, &o);
    nb_tensor *r = nb_reshape(s, ndim, shape);
    nb_free(s);
    return r;
}

nb_tensor *nbo_const(double v, nb_dtype dtype) { return nb_scalar(v, dtype); }

void nbo_meta_set(nbc_meta *m, nb_dtype dtype, int ndim, const int64_t *shape) {
    m->dtype = dtype;
    m->ndim = ndim;
    if (ndim) memcpy(m->shape, shape, (size_t)ndim * sizeof(int64_t));
    nbc_contiguous_strides(ndim, shape, m->strides);
    m->offset = 0;
}

int nbo_buffers_get(const char *fn, nb_tensor *const *t, int n, nb_dtype as, nbo_buffer *b) {
    for (int i = 0; i < n; i++)
        if (nbo_buffer_get(fn, t[i], as, &b[i])) {
            while (i--) nbo_buffer_release(&b[i]);
            return NB_ERR_NOMEM;
        }
    return 0;
}

void nbo_buffers_release(nbo_buffer *b, int n) {
    for (int i = 0; i < n; i++) nbo_buffer_release(&b[i]);
}

int nbo_result_get(const char *fn, nb_tensor *out, nb_dtype ct, nbo_result *r) {
    r->cap = 0;
    if (out->dtype == ct) {
        r->data = nbc_ptr(out);
        return 0;
    }
    int64_t n = nbc_numel(out->ndim, out->shape);
    r->data = nbc_block_alloc((size_t)(n ? n : 1) * nb_dtype_size(ct), &r->cap);
    return r->data ? 0 : nbc_oom(fn);
}

void nbo_result_finish(nb_tensor *out, nb_dtype ct, nbo_result *r, bool ok) {
    if (!r->cap) return;
    if (ok) nbk_convert(nbc_ptr(out), out->dtype, r->data, ct, nbc_numel(out->ndim, out->shape));
    nbc_block_free(r->data, r->cap);
}

bool nbo_is_zero_grad(const nb_tensor *t) {
    if (t->requires_grad || !nbc_is_contiguous(t)) return false;
    int64_t n = nbc_numel(t->ndim, t->shape);
    const void *p = nbc_ptr(t);
    for (int64_t i = 0; i < n; i++)
        if (nbc_load(p, t->dtype, i) != 0) return false;
    return true;
}
