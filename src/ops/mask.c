/* ops/mask.c — boolean-mask ops: masked_fill, masked_select (and its gradient, the internal
 * masked_select_backward that writes a 1-D tensor back into the mask's positions), and nonzero.
 * self and mask broadcast together as in PyTorch's out-of-place forms. masked_select and nonzero
 * have data-dependent output shapes, so their infer reads the mask / input to count.
 * Attributes: masked_fill: f0 = value; masked_select_backward: ints = output shape. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <string.h>

static int check_mask(const char *fn, const nb_tensor *mask) {
    if (mask->dtype != NB_BOOL)
        return nbc_error(NB_ERR_ARG, "%s: argument #2 (mask, %s) must have dtype bool", fn, nbc_desc(mask));
    return 0;
}

/* t broadcast to (nd, shape), materialised as a contiguous buffer of t's dtype (t's own memory when it
 * already is exactly that). */
static int broadcast_buffer(const char *fn, const nb_tensor *t, int nd, const int64_t *shape, nbo_buffer *b) {
    b->capacity = 0;
    bool same = t->ndim == nd && memcmp(t->shape, shape, sizeof(int64_t) * (size_t)nd) == 0;
    if (same && nbc_is_contiguous(t)) {
        b->data = nbc_ptr(t);
        return 0;
    }
    int64_t n = nbc_numel(nd, shape), st[NB_MAX_DIMS], cs[NB_MAX_DIMS];
    b->data = nbc_block_alloc((size_t)n * nb_dtype_size(t->dtype) + 1, &b->capacity);
    if (!b->data) return nbc_oom(fn);
    nbo_broadcast_strides(t, nd, shape, st);
    nbc_contiguous_strides(nd, shape, cs);
    nbk_copy(b->data, t->dtype, cs, nbc_ptr(t), t->dtype, st, nd, shape);
    return 0;
}

/* Number of true elements of the mask broadcast to (nd, shape), or -1 (error set). */
static int64_t count_mask(const char *fn, const nb_tensor *mask, int nd, const int64_t *shape) {
    nbo_buffer m;
    if (broadcast_buffer(fn, mask, nd, shape, &m)) return -1;
    const uint8_t *p = m.data;
    int64_t n = nbc_numel(nd, shape), c = 0;
    for (int64_t i = 0; i < n; i++) c += p[i] != 0;
    nbo_buffer_release(&m);
    return c;
}

/* ---- masked_fill ---------------------------------------------------------------------------------- */

static int masked_fill_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_masked_fill";
    int rc = check_mask(fn, in[1]), nd;
    int64_t shape[NB_MAX_DIMS];
    if (!rc) rc = nbo_broadcast_shapes(fn, in[0]->ndim, in[0]->shape, in[1]->ndim, in[1]->shape, &nd, shape);
    if (rc) return rc;
    nbo_meta_set(out, in[0]->dtype, nd, shape);
    return 0;
}

/* y = m ? v : x over blocks of mn contiguous elements, the mask repeating for every block. */
#define FILL_BLOCKS(T)                                                                             \
    do {                                                                                           \
        T v;                                                                                       \
        memcpy(&v, &value, sizeof v);                                                              \
        const T *xp = nbc_ptr(x);                                                                  \
        T *yp = nbc_ptr(y);                                                                        \
        for (int64_t b = 0; b < n; b += mn)                                                        \
            for (int64_t j = 0; j < mn; j++) { /* a bit mask, not a branch: masks are random */    \
                T k = (T)0 - (T)(m[j] != 0);                                                       \
                yp[b + j] = (T)((v & k) | (xp[b + j] & (T)~k));                                    \
            }                                                                                      \
    } while (0)

/* The mask is contiguous and its shape is the trailing part of y's (leading 1s aside), so it repeats
 * with period numel(mask) over a contiguous y: the common attention-mask case. */
static bool mask_repeats(const nb_tensor *mask, const nb_tensor *y) {
    if (!nbc_is_contiguous(mask) || mask->ndim > y->ndim) return false;
    for (int d = 0; d < mask->ndim; d++) {
        int k = y->ndim - mask->ndim + d;
        bool leading_one = true;
        for (int e = 0; e < d; e++) leading_one = leading_one && mask->shape[e] == 1;
        if (mask->shape[d] != y->shape[k] && !(leading_one && mask->shape[d] == 1)) return false;
    }
    return true;
}

static int masked_fill_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    nb_tensor *x = in[0], *mask = in[1], *y = out[0];
    uint64_t value = 0; /* the fill value in x's dtype, read through a zero stride */
    nbc_store(&value, y->dtype, 0, a->f0);
    int64_t n = nbc_numel(y->ndim, y->shape), mn = nbc_numel(mask->ndim, mask->shape);
    bool x_full = x->ndim == y->ndim && memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)y->ndim) == 0;
    if (n > 0 && mn > 0 && x_full && nbc_is_contiguous(x) && mask_repeats(mask, y)) {
        const uint8_t *m = nbc_ptr(mask);
        switch (nb_dtype_size(y->dtype)) {
        case 1: FILL_BLOCKS(uint8_t); break;
        case 2: FILL_BLOCKS(uint16_t); break;
        case 4: FILL_BLOCKS(uint32_t); break;
        default: FILL_BLOCKS(uint64_t); break;
        }
        return 0;
    }
    int64_t sx[NB_MAX_DIMS], sm[NB_MAX_DIMS], zero[NB_MAX_DIMS] = {0};
    nbo_broadcast_strides(x, y->ndim, y->shape, sx);
    nbo_broadcast_strides(mask, y->ndim, y->shape, sm);
    nbk_where_run(y->dtype, nbc_ptr(y), nbc_ptr(mask), sm, &value, zero, nbc_ptr(x), sx, y->ndim, y->shape);
    return 0;
}

static int masked_fill_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *z = nb_masked_fill(g[0], c->in[1], 0);
    gin[0] = nbo_sum_to(z, c->in_meta[0].ndim, c->in_meta[0].shape);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_masked_fill = {
    .name = "masked_fill", .bw_name = "MaskedFillBackward", .n_in = 2, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .unsaved_inputs = 1u << 0, .attrs = "f0=value", .torch = "torch.masked_fill",
    .summary = "value where the bool mask is true, x elsewhere (x and mask broadcast; value cast to x's dtype)",
    .infer = masked_fill_infer, .forward = masked_fill_forward, .backward = masked_fill_bw};

nb_tensor *nb_masked_fill(nb_tensor *x, nb_tensor *mask, double value) {
    nb_attrs a = {.f0 = value};
    return nbo_apply1(NBO_masked_fill, (nb_tensor *[]){x, mask}, 2, &a);
}

/* ---- masked_select ----------------------------------------------------------------------------------- */

static int masked_select_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    static const char fn[] = "nb_masked_select";
    int rc = check_mask(fn, in[1]), nd;
    int64_t shape[NB_MAX_DIMS];
    if (!rc) rc = nbo_broadcast_shapes(fn, in[0]->ndim, in[0]->shape, in[1]->ndim, in[1]->shape, &nd, shape);
    if (rc) return rc;
    int64_t count = count_mask(fn, in[1], nd, shape);
    if (count < 0) return nb_last_status();
    nbo_meta_set(out, in[0]->dtype, 1, &count);
    return 0;
}

/* branch-free: every element is written at k, which only advances past the selected ones (k < count
 * keeps the write inside y) */
#define COMPACT(T)                                                                                 \
    for (int64_t i = 0, k = 0; i < n && k < count; i++) {                                         \
        ((T *)y)[k] = ((const T *)x)[i];                                                           \
        k += m[i] != 0;                                                                            \
    }
#define EXPAND(T)                                                                                  \
    for (int64_t i = 0, k = 0; i < n; i++)                                                         \
        if (m[i]) ((T *)y)[i] = ((const T *)x)[k++]

static int masked_select_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in, (void)a;
    static const char fn[] = "nb_masked_select";
    int nd;
    int64_t shape[NB_MAX_DIMS];
    nbo_broadcast_shapes(fn, in[0]->ndim, in[0]->shape, in[1]->ndim, in[1]->shape, &nd, shape);
    nbo_buffer bx, bm;
    if (broadcast_buffer(fn, in[0], nd, shape, &bx)) return NB_ERR_NOMEM;
    if (broadcast_buffer(fn, in[1], nd, shape, &bm)) {
        nbo_buffer_release(&bx);
        return NB_ERR_NOMEM;
    }
    const uint8_t *m = bm.data;
    const char *x = bx.data;
    char *y = nbc_ptr(out[0]);
    int64_t n = nbc_numel(nd, shape), count = out[0]->shape[0];
    switch (nb_dtype_size(in[0]->dtype)) {
    case 1: COMPACT(uint8_t); break;
    case 2: COMPACT(uint16_t); break;
    case 4: COMPACT(uint32_t); break;
    default: COMPACT(uint64_t); break;
    }
    nbo_buffer_release(&bm);
    nbo_buffer_release(&bx);
    return 0;
}

static int masked_select_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    const nbc_meta *xm = &c->in_meta[0], *mm = &c->in_meta[1];
    nb_attrs a = {0};
    int nd;
    if (nbo_broadcast_shapes("nb_masked_select", xm->ndim, xm->shape, mm->ndim, mm->shape, &nd, a.ints))
        return nb_last_status();
    a.n_ints = nd;
    nb_tensor *full = nbo_apply1(NBO_masked_select_backward, (nb_tensor *[]){g[0], c->in[1]}, 2, &a);
    gin[0] = nbo_sum_to(full, xm->ndim, xm->shape);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_masked_select = {
    .name = "masked_select", .bw_name = "MaskedSelectBackward", .n_in = 2, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .unsaved_inputs = 1u << 0, .attrs = "", .torch = "torch.masked_select",
    .summary = "the elements of x where the bool mask is true, as a 1-D tensor in C order (x and mask broadcast)",
    .infer = masked_select_infer, .forward = masked_select_forward, .backward = masked_select_bw};

nb_tensor *nb_masked_select(nb_tensor *x, nb_tensor *mask) { return nbo_apply1(NBO_masked_select, (nb_tensor *[]){x, mask}, 2, NULL); }

/* ---- masked_select_backward(src 1-D, mask): zeros of a shape with src written at the mask's true
 * positions in C order (PyTorch's masked_scatter into zeros) -------------------------------------------- */

static int msb_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_masked_select_backward";
    int rc = check_mask(fn, in[1]), nd;
    int64_t shape[NB_MAX_DIMS];
    if (!rc) rc = nbo_broadcast_shapes(fn, a->n_ints, a->ints, in[1]->ndim, in[1]->shape, &nd, shape);
    if (rc) return rc;
    if (nd != a->n_ints || memcmp(shape, a->ints, sizeof(int64_t) * (size_t)nd) != 0)
        return nbc_error(NB_ERR_ARG, "%s: mask %s does not broadcast to the output shape %s", fn, nbc_desc(in[1]),
                         nbc_shape_str(a->n_ints, a->ints));
    int64_t count = count_mask(fn, in[1], nd, shape);
    if (count < 0) return nb_last_status();
    if (in[0]->ndim != 1 || in[0]->shape[0] != count)
        return nbc_error(NB_ERR_ARG, "%s: src %s must be 1-D with one element per true mask element (%lld)", fn,
                         nbc_desc(in[0]), (long long)count);
    nbo_meta_set(out, in[0]->dtype, nd, shape);
    return 0;
}

static int msb_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_masked_select_backward";
    nb_tensor *y0 = out[0];
    nbo_buffer bx, bm;
    if (broadcast_buffer(fn, in[1], a->n_ints, a->ints, &bm)) return NB_ERR_NOMEM;
    if (nbo_buffer_get(fn, in[0], in[0]->dtype, &bx)) {
        nbo_buffer_release(&bm);
        return NB_ERR_NOMEM;
    }
    const uint8_t *m = bm.data;
    const char *x = bx.data;
    char *y = nbc_ptr(y0);
    int64_t n = nbc_numel(y0->ndim, y0->shape);
    memset(y, 0, (size_t)n * nb_dtype_size(y0->dtype));
    switch (nb_dtype_size(y0->dtype)) {
    case 1: EXPAND(uint8_t); break;
    case 2: EXPAND(uint16_t); break;
    case 4: EXPAND(uint32_t); break;
    default: EXPAND(uint64_t); break;
    }
    nbo_buffer_release(&bx);
    nbo_buffer_release(&bm);
    return 0;
}

static int msb_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nb_masked_select(g[0], c->in[1]);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_masked_select_backward = {
    .name = "masked_select_backward", .bw_name = "MaskedSelectBackwardBackward", .n_in = 2, .n_out = 1,
    .flags = NBO_SAVE_INPUTS, .nograd_inputs = 1u << 1, .unsaved_inputs = 1u << 0, .attrs = "ints=shape",
    .torch = "torch.zeros(shape).masked_scatter(mask, src)",
    .summary = "zeros with a 1-D src written at the mask's true positions (internal: gradient of masked_select)",
    .infer = msb_infer, .forward = msb_forward, .backward = msb_bw};

/* ---- nonzero ------------------------------------------------------------------------------------------- */

/* flags[i] = x's element i (C order) is non-zero; NaN counts as non-zero, -0.0 does not. */
#define NZ_FLAGS(T, test)                                                                          \
    for (int64_t i = 0; i < n; i++) {                                                              \
        T v = ((const T *)p)[i];                                                                   \
        f[i] = (test);                                                                             \
    }

static int nonzero_flags(const char *fn, const nb_tensor *x, nbo_buffer *flags, int64_t *count) {
    int64_t n = nbc_numel(x->ndim, x->shape);
    nbo_buffer b;
    if (nbo_buffer_get(fn, x, x->dtype, &b)) return NB_ERR_NOMEM;
    flags->data = nbc_block_alloc((size_t)n + 1, &flags->capacity);
    if (!flags->data) {
        nbo_buffer_release(&b);
        return nbc_oom(fn);
    }
    const void *p = b.data;
    uint8_t *f = flags->data;
    switch (x->dtype) {
    case NB_F32: NZ_FLAGS(float, v != 0) break;
    case NB_F64: NZ_FLAGS(double, v != 0) break;
    case NB_F16:
    case NB_BF16: NZ_FLAGS(uint16_t, (v & 0x7fff) != 0) break; /* any bit but the sign */
    case NB_I32: NZ_FLAGS(int32_t, v != 0) break;
    case NB_I64: NZ_FLAGS(int64_t, v != 0) break;
    default: NZ_FLAGS(uint8_t, v != 0) break; /* i8, u8, bool */
    }
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += f[i];
    *count = c;
    nbo_buffer_release(&b);
    return 0;
}

static int nonzero_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    nbo_buffer f;
    int64_t count, shape[2] = {0, in[0]->ndim};
    int rc = nonzero_flags("nb_nonzero", in[0], &f, &count);
    if (rc) return rc;
    nbo_buffer_release(&f);
    shape[0] = count;
    nbo_meta_set(out, NB_I64, 2, shape);
    return 0;
}

static int nonzero_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in, (void)a;
    nb_tensor *x = in[0];
    nbo_buffer f;
    int64_t count;
    int rc = nonzero_flags("nb_nonzero", x, &f, &count);
    if (rc) return rc;
    const uint8_t *fl = f.data;
    int64_t *y = nbc_ptr(out[0]), n = nbc_numel(x->ndim, x->shape), k = 0;
    int nd = x->ndim;
    if (nd == 0) {
        nbo_buffer_release(&f);
        return 0; /* (count, 0): nothing to write */
    }
    int64_t len = x->shape[nd - 1], c[NB_MAX_DIMS] = {0};
    for (int64_t r = 0; n > 0 && r < n / len && k < count; r++) {
        int64_t rem = r;
        for (int d = nd - 2; d >= 0; d--) {
            c[d] = rem % x->shape[d];
            rem /= x->shape[d];
        }
        const uint8_t *fr = fl + r * len;
        /* branch-free: write every candidate row, advance only past the non-zero ones */
        for (int64_t j = 0; j < len && k < count; j++) {
            int64_t *row = y + k * nd;
            for (int d = 0; d < nd - 1; d++) row[d] = c[d];
            row[nd - 1] = j;
            k += fr[j];
        }
    }
    nbo_buffer_release(&f);
    return 0;
}

const nbo_desc nbo_desc_nonzero = {.name = "nonzero", .n_in = 1, .n_out = 1, .attrs = "", .torch = "torch.nonzero",
                                   .summary = "i64 (n, ndim) coordinates of the non-zero elements in C order (NaN "
                                              "counts as non-zero; no as_tuple form)",
                                   .infer = nonzero_infer, .forward = nonzero_forward};

nb_tensor *nb_nonzero(nb_tensor *x) { return nbo_apply1(NBO_nonzero, &x, 1, NULL); }
