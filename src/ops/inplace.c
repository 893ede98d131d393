/* ops/inplace.c — in-place updates: copy_, fill_, add_, mul_scalar_. They are not recorded for
 * autograd; instead they bump the storage's version counter, so a backward pass that saved the old
 * values fails with a clear message rather than computing wrong gradients. As in PyTorch, they are
 * refused on tensors that require grad unless grad mode is off (which is how optimisers update). */
#include "op.h"
#include "../kernels/cpu/kernels.h"

static int check_target(const char *fn, const nb_tensor *t) {
    if (!t) return nbc_null_arg(fn, 1);
    if (t->requires_grad && nbc_grad_enabled())
        return nbc_error(NB_ERR_STATE, "%s: argument #1 (%s) requires grad; in-place updates of it are only allowed "
                         "inside nb_no_grad_begin/end", fn, nbc_desc(t));
    for (int d = 0; d < t->ndim; d++)
        if (t->strides[d] == 0 && t->shape[d] > 1)
            return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) is a broadcast view (stride 0 in dim %d): several "
                             "elements share one memory location", fn, nbc_desc(t), d);
    return 0;
}

static int copy_into(const char *fn, nb_tensor *dst, nb_tensor *src) {
    int64_t shape[NB_MAX_DIMS];
    int nd;
    if (nbo_broadcast_shapes(fn, dst->ndim, dst->shape, src->ndim, src->shape, &nd, shape)) return NB_ERR_ARG;
    if (nd != dst->ndim || nbc_numel(nd, shape) != nbc_numel(dst->ndim, dst->shape))
        return nbc_error(NB_ERR_ARG, "%s: source %s does not broadcast to destination %s", fn,
                         nbc_shape_str(src->ndim, src->shape), nbc_shape_str(dst->ndim, dst->shape));
    nbo_buffer tmp = {0};
    const void *sp = nbc_ptr(src);
    int64_t ss[NB_MAX_DIMS];
    nbo_broadcast_strides(src, dst->ndim, dst->shape, ss);
    if (src->storage == dst->storage) { /* overlapping memory: read everything before writing */
        nb_tensor c = *src;
        nbc_contiguous_strides(c.ndim, c.shape, c.strides);
        size_t bytes = (size_t)nbc_numel(c.ndim, c.shape) * nb_dtype_size(c.dtype);
        tmp.data = nbc_block_alloc(bytes, &tmp.capacity);
        if (!tmp.data) return nbc_oom(fn);
        nbk_copy(tmp.data, c.dtype, c.strides, sp, src->dtype, src->strides, src->ndim, src->shape);
        nbo_broadcast_strides(&c, dst->ndim, dst->shape, ss);
        sp = tmp.data;
    }
    nbk_copy(nbc_ptr(dst), dst->dtype, dst->strides, sp, src->dtype, ss, dst->ndim, dst->shape);
    nbo_buffer_release(&tmp);
    nbc_bump_version(dst);
    return 0;
}

int nb_copy_(nb_tensor *dst, nb_tensor *src) {
    int rc = check_target("nb_copy_", dst);
    if (rc) return rc;
    if (!src) return nbc_null_arg("nb_copy_", 2);
    return copy_into("nb_copy_", dst, src);
}

int nb_fill_(nb_tensor *t, double value) {
    int rc = check_target("nb_fill_", t);
    if (rc) return rc;
    nb_tensor *v = nb_scalar(value, t->dtype);
    if (!v) return nb_last_status();
    rc = copy_into("nb_fill_", t, v);
    nb_free(v);
    return rc;
}

/* Out-of-place compute, then one copy back: simple and correct for any layout. The optimiser issue
 * brings fused in-place kernels where it matters. */
static int update_with(const char *fn, nb_tensor *t, nb_tensor *r) {
    if (!r) return nb_last_status();
    int rc = copy_into(fn, t, r);
    nb_free(r);
    return rc;
}

int nb_add_(nb_tensor *t, nb_tensor *other, double alpha) {
    int rc = check_target("nb_add_", t);
    if (rc) return rc;
    if (!other) return nbc_null_arg("nb_add_", 2);
    nb_no_grad_begin();
    nb_tensor *scaled = alpha == 1.0 ? nb_retain(other) : nb_mul_scalar(other, alpha);
    nb_tensor *r = nb_add(t, scaled);
    nb_free(scaled);
    nb_no_grad_end();
    return update_with("nb_add_", t, r);
}

int nb_mul_scalar_(nb_tensor *t, double s) {
    int rc = check_target("nb_mul_scalar_", t);
    if (rc) return rc;
    nb_no_grad_begin();
    nb_tensor *r = nb_mul_scalar(t, s);
    nb_no_grad_end();
    return update_with("nb_mul_scalar_", t, r);
}
