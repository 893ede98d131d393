/* ops/shape.c — views and layout ops: reshape/view, permute/transpose, slice, expand,
 * squeeze/unsqueeze, flatten, cat, clone/contiguous, and dtype conversion (to).
 * View ops (reshape, permute, slice, expand) compute strides in infer and share input #0's storage;
 * the dispatcher never calls a kernel for them. squeeze/unsqueeze/flatten/transpose are wrappers over
 * reshape and permute, so they need no gradient of their own. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <string.h>

/* ---- reshape (view) ------------------------------------------------------------------------------ */

/* Strides for viewing x with a new shape without copying, or false (PyTorch's computeStride rule:
 * each run of new dims must fit inside one run of old dims that is contiguous with itself). */
static bool view_strides(const nb_tensor *x, int nd, const int64_t *shape, int64_t *strides) {
    int64_t numel = nbc_numel(x->ndim, x->shape);
    if (numel == 0 || x->ndim == 0) {
        nbc_contiguous_strides(nd, shape, strides);
        return true;
    }
    int view_d = nd - 1;
    int64_t chunk_base = x->ndim ? x->strides[x->ndim - 1] : 1, tensor_numel = 1, view_numel = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        tensor_numel *= x->shape[d];
        if (d == 0 || (x->shape[d - 1] != 1 && x->strides[d - 1] != tensor_numel * chunk_base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                strides[view_d] = view_numel * chunk_base;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (d > 0) {
                chunk_base = x->strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

/* Resolve one -1 and check the element count. */
static int resolve_shape(const char *fn, const nb_tensor *x, int nd, const int64_t *in, int64_t *out) {
    if (nd < 0 || nd > NB_MAX_DIMS) return nbc_error(NB_ERR_ARG, "%s: %d dims requested; nabla supports 0..%d", fn, nd, NB_MAX_DIMS);
    if (nd > 0 && !in) return nbc_error(NB_ERR_ARG, "%s: shape is NULL for %d dims", fn, nd);
    int infer = -1;
    int64_t known = 1, numel = nbc_numel(x->ndim, x->shape);
    for (int i = 0; i < nd; i++) {
        if (in[i] == -1) {
            if (infer >= 0) return nbc_error(NB_ERR_ARG, "%s: only one dim can be -1 in %s", fn, nbc_shape_str(nd, in));
            infer = i;
        } else if (in[i] < 0) {
            return nbc_error(NB_ERR_ARG, "%s: invalid size %lld in shape %s", fn, (long long)in[i], nbc_shape_str(nd, in));
        } else {
            known *= in[i];
        }
        out[i] = in[i];
    }
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            return nbc_error(NB_ERR_ARG, "%s: shape %s is invalid for input of %s", fn, nbc_shape_str(nd, in), nbc_desc(x));
        out[infer] = numel / known;
    } else if (known != numel) {
        return nbc_error(NB_ERR_ARG, "%s: shape %s is invalid for input of %s (%lld elements)", fn, nbc_shape_str(nd, in),
                         nbc_desc(x), (long long)numel);
    }
    return 0;
}

static int reshape_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    out->dtype = x->dtype;
    out->ndim = a->n_ints;
    memcpy(out->shape, a->ints, sizeof(int64_t) * (size_t)a->n_ints);
    out->offset = x->offset;
    if (!view_strides(x, a->n_ints, a->ints, out->strides))
        return nbc_error(NB_ERR_ARG, "nb_view: a tensor of %s with strides %s cannot be viewed as %s without a copy; "
                         "use nb_reshape", nbc_desc(x), nbc_shape_str(x->ndim, x->strides),
                         nbc_shape_str(a->n_ints, a->ints));
    return 0;
}

static int reshape_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nb_reshape(g[0], c->in_meta[0].ndim, c->in_meta[0].shape);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_reshape = {.name = "reshape", .bw_name = "ViewBackward", .n_in = 1, .n_out = 1,
                                   .flags = NBO_VIEW, .attrs = "ints=shape", .torch = "torch.reshape / Tensor.view",
                                   .summary = "same elements, new shape (a view; nb_reshape copies when it must)",
                                   .infer = reshape_infer, .backward = reshape_bw};

static nb_tensor *reshape_impl(const char *fn, nb_tensor *x, int nd, const int64_t *shape, bool may_copy) {
    if (!x) return nbc_null_arg(fn, 1), NULL;
    nb_attrs a = {.n_ints = nd};
    if (resolve_shape(fn, x, nd, shape, a.ints)) return NULL;
    int64_t st[NB_MAX_DIMS];
    if (may_copy && !view_strides(x, nd, a.ints, st)) {
        nb_tensor *c = nb_clone(x);
        nb_tensor *r = nbo_apply1(NBO_reshape, &c, 1, &a);
        nb_free(c);
        return r;
    }
    return nbo_apply1(NBO_reshape, &x, 1, &a);
}

nb_tensor *nb_reshape(nb_tensor *x, int nd, const int64_t *shape) { return reshape_impl("nb_reshape", x, nd, shape, true); }
nb_tensor *nb_view(nb_tensor *x, int nd, const int64_t *shape) { return reshape_impl("nb_view", x, nd, shape, false); }

nb_tensor *nb_flatten(nb_tensor *x, int start_dim, int end_dim) {
    static const char fn[] = "nb_flatten";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    /* a 0-d tensor takes dims 0 and -1, as in PyTorch, and becomes [1] */
    int s = nbc_wrap_dim(fn, start_dim, x->ndim ? x->ndim : 1), e = nbc_wrap_dim(fn, end_dim, x->ndim ? x->ndim : 1);
    if (s < 0 || e < 0) return NULL;
    if (s > e) return nbc_error(NB_ERR_ARG, "%s: start_dim %d comes after end_dim %d", fn, start_dim, end_dim), NULL;
    if (x->ndim == 0) return nb_reshape(x, NB_SHAPE(1));
    int64_t shape[NB_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < s; d++) shape[k++] = x->shape[d];
    shape[k] = 1;
    for (int d = s; d <= e; d++) shape[k] *= x->shape[d];
    k++;
    for (int d = e + 1; d < x->ndim; d++) shape[k++] = x->shape[d];
    return nb_reshape(x, k, shape);
}

nb_tensor *nb_squeeze(nb_tensor *x, int dim) {
    static const char fn[] = "nb_squeeze";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    int64_t shape[NB_MAX_DIMS];
    int k = 0, d0 = -1;
    if (dim != NB_DIM_ALL && (d0 = nbc_wrap_dim(fn, dim, x->ndim)) < 0) return NULL;
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] != 1 || (dim != NB_DIM_ALL && d != d0)) shape[k++] = x->shape[d];
    return nb_reshape(x, k, shape);
}

nb_tensor *nb_unsqueeze(nb_tensor *x, int dim) {
    static const char fn[] = "nb_unsqueeze";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim == NB_MAX_DIMS) return nbc_error(NB_ERR_ARG, "%s: %s already has the maximum of %d dims", fn, nbc_desc(x), NB_MAX_DIMS), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim + 1);
    if (d < 0) return NULL;
    int64_t shape[NB_MAX_DIMS];
    for (int i = 0, k = 0; i <= x->ndim; i++) shape[i] = i == d ? 1 : x->shape[k++];
    return nb_reshape(x, x->ndim + 1, shape);
}

/* ---- permute (view) ------------------------------------------------------------------------------ */

static int permute_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    out->dtype = x->dtype;
    out->ndim = x->ndim;
    out->offset = x->offset;
    for (int i = 0; i < x->ndim; i++) {
        out->shape[i] = x->shape[a->ints[i]];
        out->strides[i] = x->strides[a->ints[i]];
    }
    return 0;
}

static int permute_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    int64_t inv[NB_MAX_DIMS];
    for (int i = 0; i < c->attrs->n_ints; i++) inv[c->attrs->ints[i]] = i;
    gin[0] = nb_permute(g[0], c->attrs->n_ints, inv);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_permute = {.name = "permute", .bw_name = "PermuteBackward", .n_in = 1, .n_out = 1,
                                   .flags = NBO_VIEW, .attrs = "ints=perm", .torch = "torch.permute",
                                   .summary = "reorder dims (a view)", .infer = permute_infer, .backward = permute_bw};

nb_tensor *nb_permute(nb_tensor *x, int nd, const int64_t *perm) {
    static const char fn[] = "nb_permute";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (nd != x->ndim || (nd > 0 && !perm))
        return nbc_error(NB_ERR_ARG, "%s: %d dims given for a tensor of %s", fn, nd, nbc_desc(x)), NULL;
    nb_attrs a = {.n_ints = nd};
    bool seen[NB_MAX_DIMS] = {false};
    for (int i = 0; i < nd; i++) {
        int d = nbc_wrap_dim(fn, perm[i], nd);
        if (d < 0) return NULL;
        if (seen[d]) return nbc_error(NB_ERR_ARG, "%s: dim %d appears twice in %s", fn, d, nbc_shape_str(nd, perm)), NULL;
        seen[d] = true;
        a.ints[i] = d;
    }
    return nbo_apply1(NBO_permute, &x, 1, &a);
}

nb_tensor *nb_transpose(nb_tensor *x, int dim0, int dim1) {
    static const char fn[] = "nb_transpose";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim == 0) return nb_retain(x);
    int a = nbc_wrap_dim(fn, dim0, x->ndim), b = nbc_wrap_dim(fn, dim1, x->ndim);
    if (a < 0 || b < 0) return NULL;
    int64_t perm[NB_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return nb_permute(x, x->ndim, perm);
}

/* ---- slice (view) and its gradient ---------------------------------------------------------------- */

/* attrs: ints = {dim, start, end, step} already normalised (0 <= start <= end <= size). */
static int64_t slice_len(const nb_attrs *a) { return a->ints[2] > a->ints[1] ? (a->ints[2] - a->ints[1] + a->ints[3] - 1) / a->ints[3] : 0; }

static int slice_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    int d = (int)a->ints[0];
    out->dtype = x->dtype;
    out->ndim = x->ndim;
    memcpy(out->shape, x->shape, sizeof out->shape);
    memcpy(out->strides, x->strides, sizeof out->strides);
    out->shape[d] = slice_len(a);
    out->strides[d] = x->strides[d] * a->ints[3];
    out->offset = x->offset + (out->shape[d] ? a->ints[1] * x->strides[d] : 0);
    return 0;
}

static int slice_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs a = *c->attrs;
    a.n_ints = 4 + c->in_meta[0].ndim; /* append the input's shape */
    memcpy(&a.ints[4], c->in_meta[0].shape, sizeof(int64_t) * (size_t)c->in_meta[0].ndim);
    gin[0] = nbo_apply1(NBO_slice_backward, &g[0], 1, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_slice = {.name = "slice", .bw_name = "SliceBackward", .n_in = 1, .n_out = 1,
                                 .flags = NBO_VIEW, .attrs = "ints=[dim, start, end, step]",
                                 .torch = "x[..., start:end:step, ...] (torch.narrow for step 1)",
                                 .summary = "every step-th element of [start, end) along dim (a view)",
                                 .infer = slice_infer, .backward = slice_bw};

/* slice_backward: zeros of the sliced tensor's shape with g written into the slice. */
static int slice_backward_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nbo_meta_set(out, in[0]->dtype, a->n_ints - 4, &a->ints[4]);
    return 0;
}

static int slice_backward_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    nb_tensor *g = in[0], *o = out[0];
    memset(nbc_ptr(o), 0, o->storage->nbytes);
    int d = (int)a->ints[0];
    int64_t st[NB_MAX_DIMS];
    memcpy(st, o->strides, sizeof st);
    st[d] *= a->ints[3];
    char *dst = (char *)nbc_ptr(o) + (size_t)(slice_len(a) ? a->ints[1] * o->strides[d] : 0) * nb_dtype_size(o->dtype);
    nbk_copy(dst, o->dtype, st, nbc_ptr(g), g->dtype, g->strides, g->ndim, g->shape);
    return 0;
}

static int slice_backward_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    const int64_t *s = c->attrs->ints;
    gin[0] = nb_slice(g[0], (int)s[0], s[1], s[2], s[3]);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_slice_backward = {
    .name = "slice_backward", .bw_name = "SliceBackwardBackward", .n_in = 1, .n_out = 1,
    .attrs = "ints=[dim, start, end, step, input shape...]", .torch = "torch.ops.aten.slice_backward",
    .summary = "zeros with the gradient written into the slice (gradient of slice)",
    .infer = slice_backward_infer, .forward = slice_backward_forward, .backward = slice_backward_bw};

nb_tensor *nb_slice(nb_tensor *x, int dim, int64_t start, int64_t end, int64_t step) {
    static const char fn[] = "nb_slice";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim == 0) return nbc_error(NB_ERR_ARG, "%s: cannot slice a 0-d tensor", fn), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim);
    if (d < 0) return NULL;
    if (step < 1) return nbc_error(NB_ERR_ARG, "%s: step %lld must be at least 1", fn, (long long)step), NULL;
    int64_t size = x->shape[d];
    /* Python slice clamping */
    if (start < 0) start += size;
    if (end < 0) end += size;
    start = start < 0 ? 0 : start > size ? size : start;
    end = end < start ? start : end > size ? size : end;
    nb_attrs a = {.n_ints = 4, .ints = {d, start, end, step}};
    return nbo_apply1(NBO_slice, &x, 1, &a);
}

/* ---- expand (view) ------------------------------------------------------------------------------- */

static int expand_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    out->dtype = x->dtype;
    out->ndim = a->n_ints;
    out->offset = x->offset;
    memcpy(out->shape, a->ints, sizeof(int64_t) * (size_t)a->n_ints);
    nbo_broadcast_strides(x, a->n_ints, a->ints, out->strides);
    return 0;
}

static int expand_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nbo_sum_to(g[0], c->in_meta[0].ndim, c->in_meta[0].shape);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_expand = {.name = "expand", .bw_name = "ExpandBackward", .n_in = 1, .n_out = 1,
                                  .flags = NBO_VIEW, .attrs = "ints=shape", .torch = "Tensor.expand",
                                  .summary = "broadcast to a larger shape with stride 0 (a view)",
                                  .infer = expand_infer, .backward = expand_bw};

nb_tensor *nb_expand(nb_tensor *x, int nd, const int64_t *shape) {
    static const char fn[] = "nb_expand";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (nd < x->ndim || nd > NB_MAX_DIMS || (nd > 0 && !shape))
        return nbc_error(NB_ERR_ARG, "%s: cannot expand %s to %d dims", fn, nbc_desc(x), nd), NULL;
    nb_attrs a = {.n_ints = nd};
    for (int i = 0; i < nd; i++) {
        int k = x->ndim - nd + i;
        int64_t have = k >= 0 ? x->shape[k] : 1, want = shape[i];
        if (want == -1) {
            if (k < 0) return nbc_error(NB_ERR_ARG, "%s: -1 is not allowed for the new leading dim %d", fn, i), NULL;
            want = have;
        }
        if (want < 0 || (have != want && have != 1))
            return nbc_error(NB_ERR_ARG, "%s: cannot expand %s to %s (dim %d: %lld to %lld)", fn, nbc_desc(x),
                             nbc_shape_str(nd, shape), i, (long long)have, (long long)want), NULL;
        a.ints[i] = want;
    }
    return nbo_apply1(NBO_expand, &x, 1, &a);
}

/* ---- cat ------------------------------------------------------------------------------------------ */

static int cat_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    static const char fn[] = "nb_cat";
    int d = (int)a->ints[0];
    nb_dtype dt = in[0]->dtype;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = in[i];
        bool ok = t->ndim == in[0]->ndim;
        for (int k = 0; ok && k < t->ndim; k++) ok = k == d || t->shape[k] == in[0]->shape[k];
        if (!ok)
            return nbc_error(NB_ERR_ARG, "%s: argument #%d has shape %s; expected %s except in dim %d", fn, i + 1,
                             nbc_shape_str(t->ndim, t->shape), nbc_shape_str(in[0]->ndim, in[0]->shape), d);
        total += t->shape[d];
        dt = nb_promote_types(dt, t->dtype);
    }
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, in[0]->shape, sizeof shape);
    shape[d] = total;
    nbo_meta_set(out, dt, in[0]->ndim, shape);
    return 0;
}

static int cat_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    nb_tensor *o = out[0];
    int d = (int)a->ints[0];
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        char *dst = (char *)nbc_ptr(o) + (size_t)(off * o->strides[d]) * nb_dtype_size(o->dtype);
        nbk_copy(dst, o->dtype, o->strides, nbc_ptr(in[i]), in[i]->dtype, in[i]->strides, in[i]->ndim, in[i]->shape);
        off += in[i]->shape[d];
    }
    return 0;
}

static int cat_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    int d = (int)c->attrs->ints[0];
    int64_t off = 0;
    for (int i = 0; i < c->n_in; i++) {
        int64_t len = c->in_meta[i].shape[d];
        if (c->needs_grad[i] && !(gin[i] = nb_slice(g[0], d, off, off + len, 1))) return nb_last_status();
        off += len;
    }
    return 0;
}

const nbo_desc nbo_desc_cat = {.name = "cat", .bw_name = "CatBackward", .n_in = -1, .n_out = 1,
                               .attrs = "ints=[dim]", .torch = "torch.cat",
                               .summary = "join tensors along an existing dim",
                               .infer = cat_infer, .forward = cat_forward, .backward = cat_bw};

nb_tensor *nb_cat(nb_tensor *const *xs, int n, int dim) {
    static const char fn[] = "nb_cat";
    if (!xs || n < 1) return nbc_error(NB_ERR_ARG, "%s: expected at least one tensor", fn), NULL;
    for (int i = 0; i < n; i++)
        if (!xs[i]) return nbc_null_arg(fn, i + 1), NULL;
    if (xs[0]->ndim == 0) return nbc_error(NB_ERR_ARG, "%s: 0-d tensors cannot be concatenated", fn), NULL;
    int d = nbc_wrap_dim(fn, dim, xs[0]->ndim);
    if (d < 0) return NULL;
    nb_attrs a = {.n_ints = 1, .ints = {d}};
    return nbo_apply1(NBO_cat, xs, n, &a);
}

/* ---- clone and to -------------------------------------------------------------------------------- */

static int clone_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_dtype d = a->n_ints ? a->dtype : in[0]->dtype; /* `to` passes the target dtype */
    nbo_meta_set(out, d, in[0]->ndim, in[0]->shape);
    return 0;
}

static int clone_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n, (void)a;
    nb_tensor *x = in[0], *o = out[0];
    nbk_copy(nbc_ptr(o), o->dtype, o->strides, nbc_ptr(x), x->dtype, x->strides, x->ndim, x->shape);
    return 0;
}

static int clone_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nb_to(g[0], c->in_meta[0].dtype);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_clone = {.name = "clone", .bw_name = "CloneBackward", .n_in = 1, .n_out = 1,
                                 .flags = NBO_ELEMENTWISE, .attrs = "", .torch = "torch.clone / Tensor.contiguous",
                                 .summary = "contiguous copy", .infer = clone_infer, .forward = clone_forward,
                                 .backward = clone_bw};

static int to_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    nb_attrs t = *a;
    t.n_ints = 1;
    return clone_infer(in, n, &t, out);
}

/* Gradients flow only between floating dtypes. */
static int to_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    if (!nb_dtype_is_float(c->attrs->dtype)) return 0;
    return clone_bw(c, g, gin);
}

const nbo_desc nbo_desc_to = {.name = "to", .bw_name = "ToCopyBackward", .n_in = 1, .n_out = 1,
                              .flags = NBO_ELEMENTWISE, .attrs = "dtype", .torch = "Tensor.to(dtype)",
                              .summary = "convert to another dtype (float to int truncates toward zero, saturating)",
                              .infer = to_infer, .forward = clone_forward, .backward = to_bw};

nb_tensor *nb_clone(nb_tensor *x) { return nbo_apply1(NBO_clone, &x, 1, NULL); }

nb_tensor *nb_contiguous(nb_tensor *x) {
    if (!x) return nbc_null_arg("nb_contiguous", 1), NULL; /* name the function the user called */
    if (nbc_is_contiguous(x)) return nb_retain(x);
    return nbo_apply1(NBO_clone, &x, 1, NULL);
}

nb_tensor *nb_to(nb_tensor *x, nb_dtype dtype) {
    if ((unsigned)dtype >= NB_DTYPE_COUNT) return nbc_error(NB_ERR_ARG, "nb_to: invalid dtype %d", (int)dtype), NULL;
    if (x && x->dtype == dtype) return nb_retain(x);
    nb_attrs a = {.dtype = dtype};
    return nbo_apply1(NBO_to, &x, 1, &a);
}
