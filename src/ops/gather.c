/* ops/gather.c — indexing along one dim with an integer index tensor: index_select / index_add (one
 * 1-D index for a whole dim) and gather / scatter / scatter_add / scatter_reduce (an index tensor
 * with one entry per element). Their gradients are each other: index_select <-> index_add,
 * gather <-> scatter_add, so every backward is made of registry ops and differentiable again.
 *
 * Indices may be i64 or i32. Every index is range-checked before anything is written: negative or
 * out-of-range values fail with the function, the dim and the value (never an out-of-bounds access).
 * Data-movement kernels copy raw elements by size (any dtype, bool included); accumulating kernels
 * run in the compute type (f32 for f32/f16/bf16, f64, i64 for integers and bool, stored back with
 * integer wrap-around / bool "non-zero"). Scatters write in C order of the index tensor, so with
 * duplicate indices the last write wins and every run gives the same bits.
 * Attributes: ints[0] = dim (wrapped); scatter_reduce: ints[1] = reduction, flag = include_self;
 * index_add: f0 = alpha. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- shared checks ------------------------------------------------------------------------------- */

static int check_index_dtype(const char *fn, const nb_tensor *idx, int argno) {
    if (idx->dtype != NB_I64 && idx->dtype != NB_I32)
        return nbc_error(NB_ERR_ARG, "%s: argument #%d (index, %s) must have dtype i64 or i32", fn, argno, nbc_desc(idx));
    return 0;
}

static int check_same_dtype(const char *fn, const nb_tensor *x, const nb_tensor *src, const char *what) {
    if (x->dtype != src->dtype)
        return nbc_error(NB_ERR_ARG, "%s: %s (%s) must have the dtype of self (%s)", fn, what, nbc_desc(src), nbc_desc(x));
    return 0;
}

/* The index as a contiguous i64 buffer, every value checked to lie in [0, size) (size = self's extent
 * along dim). */
static int read_index(const char *fn, const nb_tensor *idx, int dim, int64_t size, const nb_tensor *self,
                      nbo_buffer *b) {
    int64_t n = nbc_numel(idx->ndim, idx->shape);
    if (idx->dtype == NB_I32) { /* widen in one typed loop (the generic conversion goes element by element) */
        nbo_buffer b32;
        if (nbo_buffer_get(fn, idx, NB_I32, &b32)) return NB_ERR_NOMEM;
        b->data = nbc_block_alloc((size_t)n * sizeof(int64_t) + 8, &b->capacity);
        if (!b->data) {
            nbo_buffer_release(&b32);
            return nbc_oom(fn);
        }
        const int32_t *s = b32.data;
        int64_t *d = b->data;
        for (int64_t i = 0; i < n; i++) d[i] = s[i];
        nbo_buffer_release(&b32);
    } else if (nbo_buffer_get(fn, idx, NB_I64, b)) {
        return NB_ERR_NOMEM;
    }
    const int64_t *v = b->data;
    for (int64_t i = 0; i < n; i++)
        if ((uint64_t)v[i] >= (uint64_t)size) {
            long long bad = (long long)v[i];
            nbo_buffer_release(b);
            return nbc_error(NB_ERR_ARG, "%s: index %lld is out of range for dim %d of size %lld (self %s)", fn, bad, dim,
                             (long long)size, nbc_desc(self));
        }
    return 0;
}

/* Size / stride along d, with 0-d tensors seen as shape [1] (as PyTorch's gather and scatter do). */
static int64_t size_at(const nb_tensor *t, int d) { return t->ndim ? t->shape[d] : 1; }

/* ---- accumulation in the compute type -------------------------------------------------------------- */

/* A compute-type copy of x that the caller may modify: x's result tensor `out` itself when it already
 * has the compute type, else a temporary buffer (written back by acc_finish). */
typedef struct acc_buf {
    nb_dtype ct;
    void *data;
    size_t capacity;
} acc_buf;

static int acc_begin(const char *fn, nb_tensor *self, nb_tensor *out, acc_buf *a) {
    a->ct = nbk_compute_type(out->dtype);
    a->capacity = 0;
    if (a->ct == out->dtype) {
        a->data = nbc_ptr(out);
    } else {
        a->data = nbc_block_alloc((size_t)nbc_numel(out->ndim, out->shape) * nb_dtype_size(a->ct) + 1, &a->capacity);
        if (!a->data) return nbc_oom(fn);
    }
    int64_t cs[NB_MAX_DIMS];
    nbc_contiguous_strides(out->ndim, out->shape, cs);
    nbk_copy(a->data, a->ct, cs, nbc_ptr(self), self->dtype, self->strides, self->ndim, self->shape);
    return 0;
}

static void acc_finish(acc_buf *a, nb_tensor *out) {
    if (!a->capacity) return;
    nbk_convert(nbc_ptr(out), out->dtype, a->data, a->ct, nbc_numel(out->ndim, out->shape));
    nbc_block_free(a->data, a->capacity);
    a->capacity = 0;
}

/* src in the compute type: its own memory and strides when it already has that type, else a
 * contiguous temporary copy. */
typedef struct src_view {
    const void *data;
    int64_t strides[NB_MAX_DIMS];
    nbo_buffer buf;
} src_view;

static int src_get(const char *fn, const nb_tensor *src, nb_dtype ct, src_view *s) {
    s->buf.capacity = 0;
    if (src->dtype == ct) {
        s->data = nbc_ptr(src);
        memcpy(s->strides, src->strides, sizeof s->strides);
        return 0;
    }
    if (nbo_buffer_get(fn, src, ct, &s->buf)) return NB_ERR_NOMEM;
    s->data = s->buf.data;
    nbc_contiguous_strides(src->ndim, src->shape, s->strides);
    return 0;
}

/* ==== index_select / index_add ======================================================================= */

/* (outer, size, inner) of x around dim; 0-d counts as [1]. */
static void split3(const int64_t *shape, int nd, int dim, int64_t *outer, int64_t *size, int64_t *inner) {
    *outer = 1, *inner = 1, *size = nd ? shape[dim] : 1;
    for (int d = 0; d < dim && d < nd; d++) *outer *= shape[d];
    for (int d = dim + 1; d < nd; d++) *inner *= shape[d];
}

static int check_index_1d(const char *fn, const nb_tensor *idx, int argno) {
    int rc = check_index_dtype(fn, idx, argno);
    if (rc) return rc;
    if (idx->ndim > 1)
        return nbc_error(NB_ERR_ARG, "%s: argument #%d (index, %s) must be 0-d or 1-D", fn, argno, nbc_desc(idx));
    return 0;
}

static int index_select_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_index_select";
    nb_tensor *x = in[0], *idx = in[1];
    int rc = check_index_1d(fn, idx, 3);
    if (rc) return rc;
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    if (x->ndim) shape[a->ints[0]] = nbc_numel(idx->ndim, idx->shape);
    else if (nbc_numel(idx->ndim, idx->shape) != 1)
        return nbc_error(NB_ERR_ARG, "%s: a 0-d self takes exactly one index, got index %s", fn, nbc_desc(idx));
    nbo_meta_set(out, x->dtype, x->ndim, shape);
    return 0;
}

typedef struct isel_job {
    const char *x;
    char *y;
    const int64_t *ix;
    int64_t n, size, inner;
    size_t es;
} isel_job;

/* Unit of work: one (outer, k) block of `inner` elements. */
static void isel_chunk(void *ctx, int64_t begin, int64_t end) {
    const isel_job *j = ctx;
    size_t bytes = (size_t)j->inner * j->es;
    for (int64_t u = begin; u < end; u++) {
        int64_t o = u / j->n, k = u % j->n;
        const char *s = j->x + (size_t)((o * j->size + j->ix[k]) * j->inner) * j->es;
        char *d = j->y + (size_t)u * bytes;
        switch (j->inner == 1 ? j->es : 0) {
        case 1: *(uint8_t *)d = *(const uint8_t *)s; break;
        case 2: *(uint16_t *)d = *(const uint16_t *)s; break;
        case 4: *(uint32_t *)d = *(const uint32_t *)s; break;
        case 8: *(uint64_t *)d = *(const uint64_t *)s; break;
        default: memcpy(d, s, bytes);
        }
    }
}

static int index_select_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_index_select";
    nb_tensor *x = in[0], *y = out[0];
    int dim = (int)a->ints[0];
    int64_t outer, size, inner;
    split3(x->shape, x->ndim, dim, &outer, &size, &inner);
    nbo_buffer bi, bx;
    int rc = read_index(fn, in[1], dim, size, x, &bi);
    if (rc) return rc;
    if (nbo_buffer_get(fn, x, x->dtype, &bx)) {
        nbo_buffer_release(&bi);
        return NB_ERR_NOMEM;
    }
    isel_job j = {.x = bx.data, .y = nbc_ptr(y), .ix = bi.data, .n = nbc_numel(in[1]->ndim, in[1]->shape),
                  .size = size, .inner = inner, .es = nb_dtype_size(x->dtype)};
    int64_t units = outer * j.n;
    if (units > 0 && inner > 0) nbc_parallel_for(units, 1 + 16384 / inner, isel_chunk, &j);
    nbo_buffer_release(&bx);
    nbo_buffer_release(&bi);
    return 0;
}

static int index_select_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    const nbc_meta *m = &c->in_meta[0];
    nb_tensor *z = nb_zeros(m->ndim, m->shape, g[0]->dtype);
    gin[0] = nb_index_add(z, (int)c->attrs->ints[0], c->in[1], g[0], 1.0);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_index_select = {
    .name = "index_select", .bw_name = "IndexSelectBackward", .n_in = 2, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .unsaved_inputs = 1u << 0, .attrs = "ints=[dim]", .torch = "torch.index_select",
    .summary = "the slices of x along dim at a 1-D (or 0-d) i64/i32 index, repeats allowed",
    .infer = index_select_infer, .forward = index_select_forward, .backward = index_select_bw};

nb_tensor *nb_index_select(nb_tensor *x, int dim, nb_tensor *index) {
    static const char fn[] = "nb_index_select";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!index) return nbc_null_arg(fn, 3), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim ? x->ndim : 1);
    if (d < 0) return NULL;
    nb_attrs a = {.n_ints = 1, .ints = {d}};
    return nbo_apply1(NBO_index_select, (nb_tensor *[]){x, index}, 2, &a);
}

/* ---- index_add(self, index, source): self with alpha * source's slices added at index ----------------- */

static int index_add_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_index_add";
    nb_tensor *x = in[0], *idx = in[1], *src = in[2];
    int dim = (int)a->ints[0];
    int rc = check_index_1d(fn, idx, 3);
    if (!rc) rc = check_same_dtype(fn, x, src, "source");
    if (rc) return rc;
    int64_t k = nbc_numel(idx->ndim, idx->shape);
    bool ok = (src->ndim ? src->ndim : 1) == (x->ndim ? x->ndim : 1) && size_at(src, dim) == k;
    for (int d = 0; ok && d < x->ndim; d++) ok = d == dim || src->shape[d] == x->shape[d];
    if (!ok)
        return nbc_error(NB_ERR_ARG, "%s: source has shape %s; expected self's shape %s with dim %d of size %lld (the "
                         "index length)", fn, nbc_shape_str(src->ndim, src->shape), nbc_shape_str(x->ndim, x->shape),
                         dim, (long long)k);
    if (!nb_dtype_is_float(x->dtype) && a->f0 != floor(a->f0))
        return nbc_error(NB_ERR_ARG, "%s: alpha %g must be an integer for self of %s", fn, a->f0, nbc_desc(x));
    nbo_meta_set(out, x->dtype, x->ndim, x->shape);
    return 0;
}

/* Work unit u: one outer slice and one run of at most IADD_COLS columns, over every index entry in
 * order. Targets of different units never overlap and each target sees its additions in index order,
 * so any split over threads gives the serial bits. */
#define IADD_COLS 512
typedef struct iadd_job {
    nb_dtype ct;
    void *o;
    const void *s;
    const int64_t *ix;
    int64_t n, size, inner, col_runs;
    double alpha;
} iadd_job;

#define IADD_LOOP(T, A)                                                                            \
    do {                                                                                           \
        T *o = j->o, al = (T)(A);                                                                  \
        const T *s = j->s;                                                                         \
        for (int64_t k = 0; k < j->n; k++) {                                                       \
            T *dr = o + (oi * j->size + j->ix[k]) * j->inner;                                      \
            const T *sr = s + (oi * j->n + k) * j->inner;                                          \
            for (int64_t t = t0; t < t1; t++) dr[t] += al * sr[t];                                 \
        }                                                                                          \
    } while (0)

static void iadd_chunk(void *ctx, int64_t begin, int64_t end) {
    const iadd_job *j = ctx;
    for (int64_t u = begin; u < end; u++) {
        int64_t oi = u / j->col_runs, t0 = (u % j->col_runs) * IADD_COLS;
        int64_t t1 = t0 + IADD_COLS < j->inner ? t0 + IADD_COLS : j->inner;
        if (j->ct == NB_F32) IADD_LOOP(float, j->alpha);
        else if (j->ct == NB_F64) IADD_LOOP(double, j->alpha);
        else IADD_LOOP(int64_t, (int64_t)j->alpha);
    }
}

static int index_add_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_index_add";
    nb_tensor *x = in[0], *src = in[2], *y = out[0];
    int dim = (int)a->ints[0];
    int64_t outer, size, inner, n = nbc_numel(in[1]->ndim, in[1]->shape);
    split3(x->shape, x->ndim, dim, &outer, &size, &inner);
    nbo_buffer bi, sb;
    acc_buf acc;
    int rc = read_index(fn, in[1], dim, size, x, &bi);
    if (rc) return rc;
    if ((rc = acc_begin(fn, x, y, &acc)) != 0) {
        nbo_buffer_release(&bi);
        return rc;
    }
    if (nbo_buffer_get(fn, src, acc.ct, &sb)) {
        acc_finish(&acc, y);
        nbo_buffer_release(&bi);
        return NB_ERR_NOMEM;
    }
    iadd_job j = {.ct = acc.ct, .o = acc.data, .s = sb.data, .ix = bi.data, .n = n, .size = size, .inner = inner,
                  .col_runs = (inner + IADD_COLS - 1) / IADD_COLS, .alpha = a->f0};
    int64_t units = outer * j.col_runs, per_unit = n * (inner < IADD_COLS ? inner : IADD_COLS);
    if (units > 0 && n > 0) nbc_parallel_for(units, 1 + 32768 / (per_unit ? per_unit : 1), iadd_chunk, &j);
    acc_finish(&acc, y);
    nbo_buffer_release(&sb);
    nbo_buffer_release(&bi);
    return 0;
}

static int index_add_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    int dim = (int)c->attrs->ints[0];
    if (c->needs_grad[0] && !(gin[0] = nb_retain(g[0]))) return nb_last_status();
    if (c->needs_grad[2]) {
        nb_tensor *s = nb_index_select(g[0], dim, c->in[1]);
        if (c->attrs->f0 != 1.0) s = nb_mul_scalar(s, c->attrs->f0);
        /* a 0-d source with a one-element index: index_select keeps self's 0-d shape */
        if (!(gin[2] = s ? nb_reshape(s, c->in_meta[2].ndim, c->in_meta[2].shape) : NULL)) return nb_last_status();
    }
    return 0;
}

const nbo_desc nbo_desc_index_add = {
    .name = "index_add", .bw_name = "IndexAddBackward", .n_in = 3, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .unsaved_inputs = (1u << 0) | (1u << 2), .attrs = "ints=[dim] f0=alpha",
    .torch = "torch.index_add", .summary = "self + alpha * source's slices added at a 1-D index along dim (repeats accumulate)",
    .infer = index_add_infer, .forward = index_add_forward, .backward = index_add_bw};

nb_tensor *nb_index_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *source, double alpha) {
    static const char fn[] = "nb_index_add";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!index) return nbc_null_arg(fn, 3), NULL;
    if (!source) return nbc_null_arg(fn, 4), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim ? x->ndim : 1);
    if (d < 0) return NULL;
    nb_attrs a = {.n_ints = 1, .ints = {d}, .f0 = alpha};
    return nbo_apply1(NBO_index_add, (nb_tensor *[]){x, index, source}, 3, &a);
}

/* ==== gather / scatter family ======================================================================== */

/* Walking the index tensor: C order, one row of the last dim at a time. For an index element at
 * coordinates c, the element of `x` it addresses is c with c[dim] replaced by the index value, and
 * the element of `y` (gather's output, scatter's src) is c itself. 0-d tensors are seen as [1]. */
typedef struct walk {
    int nd, dim;
    int64_t shape[NB_MAX_DIMS]; /* the index's shape */
    int64_t xs[NB_MAX_DIMS], ys[NB_MAX_DIMS];
    int64_t rows, len;          /* rows of the last dim, and its length */
    int64_t xl, yl, xd;         /* x's stride along the last dim (0 when that is dim), y's, x's along dim */
} walk;

/* xs / ys: strides of x and y (ignored for 0-d tensors, which count as [1]). */
static void walk_init(walk *w, const nb_tensor *idx, int dim, int xnd, const int64_t *xs, int ynd, const int64_t *ys) {
    w->nd = idx->ndim ? idx->ndim : 1;
    w->dim = dim;
    for (int d = 0; d < w->nd; d++) {
        w->shape[d] = idx->ndim ? idx->shape[d] : 1;
        w->xs[d] = xnd ? xs[d] : 0;
        w->ys[d] = ynd ? ys[d] : 0;
    }
    w->len = w->shape[w->nd - 1];
    w->rows = w->len ? nbc_numel(w->nd, w->shape) / w->len : 0;
    w->xd = w->xs[dim];
    w->xl = dim == w->nd - 1 ? 0 : w->xs[w->nd - 1];
    w->yl = w->ys[w->nd - 1];
}

/* Offsets of row r's first element in x (without the dim term) and y. */
static inline void walk_row(const walk *w, int64_t r, int64_t *xo, int64_t *yo) {
    int64_t x = 0, y = 0;
    for (int d = w->nd - 2; d >= 0; d--) {
        int64_t c = r % w->shape[d];
        r /= w->shape[d];
        if (d != w->dim) x += c * w->xs[d];
        y += c * w->ys[d];
    }
    *xo = x;
    *yo = y;
}

/* Shape checks shared by gather and the scatters: same number of dims (0-d as 1), and
 * index.size(d) <= x.size(d) for d != dim (and <= src.size(d) for every d when src is given). */
static int check_gs_shapes(const char *fn, const nb_tensor *x, const nb_tensor *idx, const nb_tensor *src, int dim) {
    int nx = x->ndim ? x->ndim : 1, ni = idx->ndim ? idx->ndim : 1;
    if (nx != ni || (src && (src->ndim ? src->ndim : 1) != ni))
        return nbc_error(NB_ERR_ARG, "%s: index %s must have as many dims as self %s%s%s", fn, nbc_desc(idx), nbc_desc(x),
                         src ? " and src " : "", src ? nbc_shape_str(src->ndim, src->shape) : "");
    for (int d = 0; d < ni; d++) {
        if (d != dim && size_at(idx, d) > size_at(x, d))
            return nbc_error(NB_ERR_ARG, "%s: index %s is larger than self %s in dim %d", fn,
                             nbc_shape_str(idx->ndim, idx->shape), nbc_shape_str(x->ndim, x->shape), d);
        if (src && size_at(idx, d) > size_at(src, d))
            return nbc_error(NB_ERR_ARG, "%s: index %s is larger than src %s in dim %d", fn,
                             nbc_shape_str(idx->ndim, idx->shape), nbc_shape_str(src->ndim, src->shape), d);
    }
    return 0;
}

/* ---- gather ------------------------------------------------------------------------------------------ */

static int gather_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    static const char fn[] = "nb_gather";
    int rc = check_index_dtype(fn, in[1], 3);
    if (!rc) rc = check_gs_shapes(fn, in[0], in[1], NULL, (int)a->ints[0]);
    if (rc) return rc;
    nbo_meta_set(out, in[0]->dtype, in[1]->ndim, in[1]->shape);
    return 0;
}

typedef struct gather_job {
    const walk *w;
    const char *x;
    char *y;
    const int64_t *ix;
    size_t es;
} gather_job;

#define GATHER_ROW(T)                                                                              \
    for (int64_t k = 0; k < w->len; k++) ((T *)j->y)[yo + k] = ((const T *)j->x)[xo + k * w->xl + ir[k] * w->xd]

static void gather_chunk(void *ctx, int64_t begin, int64_t end) {
    const gather_job *j = ctx;
    const walk *w = j->w;
    for (int64_t r = begin; r < end; r++) {
        int64_t xo, yo;
        walk_row(w, r, &xo, &yo);
        const int64_t *ir = j->ix + r * w->len;
        yo = r * w->len; /* the output is contiguous */
        switch (j->es) {
        case 1: GATHER_ROW(uint8_t); break;
        case 2: GATHER_ROW(uint16_t); break;
        case 4: GATHER_ROW(uint32_t); break;
        default: GATHER_ROW(uint64_t); break;
        }
    }
}

static int gather_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_gather";
    nb_tensor *x = in[0], *idx = in[1];
    int dim = (int)a->ints[0];
    nbo_buffer bi;
    int rc = read_index(fn, idx, dim, size_at(x, dim), x, &bi);
    if (rc) return rc;
    walk w;
    int64_t cs[NB_MAX_DIMS];
    nbc_contiguous_strides(idx->ndim, idx->shape, cs);
    walk_init(&w, idx, dim, x->ndim, x->strides, idx->ndim, cs);
    gather_job j = {.w = &w, .x = nbc_ptr(x), .y = nbc_ptr(out[0]), .ix = bi.data, .es = nb_dtype_size(x->dtype)};
    if (w.rows > 0) nbc_parallel_for(w.rows, 1 + 16384 / (w.len ? w.len : 1), gather_chunk, &j);
    nbo_buffer_release(&bi);
    return 0;
}

static int gather_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    const nbc_meta *m = &c->in_meta[0];
    nb_tensor *z = nb_zeros(m->ndim, m->shape, g[0]->dtype);
    gin[0] = nb_scatter_add(z, (int)c->attrs->ints[0], c->in[1], g[0]);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_gather = {
    .name = "gather", .bw_name = "GatherBackward", .n_in = 2, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .unsaved_inputs = 1u << 0, .attrs = "ints=[dim]", .torch = "torch.gather",
    .summary = "out[i][j][k] = x[index[i][j][k]][j][k] (for dim 0); the output has the index's shape",
    .infer = gather_infer, .forward = gather_forward, .backward = gather_bw};

nb_tensor *nb_gather(nb_tensor *x, int dim, nb_tensor *index) {
    static const char fn[] = "nb_gather";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!index) return nbc_null_arg(fn, 3), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim ? x->ndim : 1);
    if (d < 0) return NULL;
    nb_attrs a = {.n_ints = 1, .ints = {d}};
    return nbo_apply1(NBO_gather, (nb_tensor *[]){x, index}, 2, &a);
}

/* ---- scatter family: shared infer and backward pieces --------------------------------------------------- */

static int scatter_infer_common(const char *fn, nb_tensor *const *in, const nb_attrs *a, nbc_meta *out) {
    int rc = check_index_dtype(fn, in[1], 3);
    if (!rc) rc = check_same_dtype(fn, in[0], in[2], "src");
    if (!rc) rc = check_gs_shapes(fn, in[0], in[1], in[2], (int)a->ints[0]);
    if (rc) return rc;
    nbo_meta_set(out, in[0]->dtype, in[0]->ndim, in[0]->shape);
    return 0;
}

/* t (index-shaped) zero-padded at the end of each dim to shape m: the gradient of the part of a larger
 * src that the index does not reach is zero. */
static nb_tensor *pad_to(nb_tensor *t, const nbc_meta *m) {
    nb_tensor *cur = nb_retain(t);
    for (int d = 0; cur && d < m->ndim; d++) {
        if (cur->shape[d] == m->shape[d]) continue;
        nb_attrs a = {.n_ints = 4 + m->ndim, .ints = {d, 0, cur->shape[d], 1}};
        memcpy(&a.ints[4], cur->shape, sizeof(int64_t) * (size_t)m->ndim);
        a.ints[4 + d] = m->shape[d];
        nb_tensor *next = nbo_apply1(NBO_slice_backward, &cur, 1, &a);
        nb_free(cur);
        cur = next;
    }
    return cur;
}

/* The part of src the index reaches (a view). */
static nb_tensor *src_part(nb_tensor *src, const nb_tensor *idx) {
    nb_tensor *cur = nb_retain(src);
    for (int d = 0; cur && d < src->ndim; d++) {
        if (cur->shape[d] == idx->shape[d]) continue;
        nb_tensor *next = nb_slice(cur, d, 0, idx->shape[d], 1);
        nb_free(cur);
        cur = next;
    }
    return cur;
}

/* Gradient for src: g gathered at the index, padded to src's shape. */
static nb_tensor *grad_src(nb_tensor *g, int dim, nb_tensor *idx, const nbc_meta *src_meta) {
    nb_tensor *t = nb_gather(g, dim, idx);
    return t ? pad_to(t, src_meta) : NULL;
}

/* bool mask over self's shape: true where some index element writes. */
static nb_tensor *scattered_mask(const nbc_meta *m, int dim, nb_tensor *idx) {
    nb_tensor *z = nb_zeros(m->ndim, m->shape, NB_U8);
    nb_tensor *s = nb_scatter_value(z, dim, idx, 1);
    return nb_ne_scalar(s, 0);
}

enum { RED_SUM, RED_MEAN, RED_AMAX, RED_AMIN, RED_COUNT };
static const char *const k_red_names[RED_COUNT] = {"sum", "mean", "amax", "amin"};

static int scatter_reduce_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    return scatter_infer_common("nb_scatter_reduce", in, a, out);
}

/* One reduction step; max / min propagate NaN (x != x only for NaN, never for integers). */
#define RED_FN(T, isnan_)                                                                          \
    static inline T red_##T(int mode, T cur, T v) {                                                \
        /* select first (branch-free max / min), then the rare NaN: cur + v is NaN when either is */ \
        if (mode == RED_AMAX) return isnan_(v) || isnan_(cur) ? (T)(cur + v) : v > cur ? v : cur;   \
        if (mode == RED_AMIN) return isnan_(v) || isnan_(cur) ? (T)(cur + v) : v < cur ? v : cur;   \
        return (T)(cur + v);                                                                       \
    }
static inline bool never_nan(int64_t v) { return (void)v, false; }
RED_FN(float, isnan)
RED_FN(double, isnan)
RED_FN(int64_t, never_nan)

/* ---- the scatter kernel, shared by scatter / scatter_add / scatter_reduce ------------------------------------ */

enum { SK_COPY, SK_ADD, SK_REDUCE };

typedef struct scatter_job {
    const walk *w;
    int kind, mode;          /* mode: RED_* for SK_REDUCE */
    nb_dtype ct;             /* SK_ADD / SK_REDUCE: the compute type (f32, f64, i64) */
    size_t es;               /* SK_COPY: element size */
    char *o;                 /* the output (or its compute-type copy), contiguous */
    const char *s;           /* src, walked with w->ys */
    const int64_t *ix;       /* the index, contiguous */
    uint8_t *seen;           /* SK_REDUCE without include_self: p already holds a src value */
    int64_t *cnt;            /* SK_REDUCE mean: values reduced into p */
} scatter_job;

/* The body (the macro's argument) runs for every index element of rows [r0, r1) and columns [k0, k1), with p its target in o and
 * q its source in s, in the index's C order. */
#define SJ_LOOP(...)                                                                               \
    for (int64_t r = r0; r < r1; r++) {                                                            \
        int64_t xo, yo;                                                                            \
        walk_row(w, r, &xo, &yo);                                                                  \
        const int64_t *ir = j->ix + r * w->len;                                                    \
        for (int64_t k = k0; k < k1; k++) {                                                        \
            int64_t p = xo + k * w->xl + ir[k] * w->xd, q = yo + k * w->yl;                        \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
    }
#define SJ_COPY(T) SJ_LOOP(((T *)j->o)[p] = ((const T *)j->s)[q])
#define SJ_ADD(T) SJ_LOOP(((T *)j->o)[p] += ((const T *)j->s)[q])
#define SJ_REDUCE(T, MODE)                                                                         \
    SJ_LOOP({                                                                                      \
        T *o_ = (T *)j->o, v_ = ((const T *)j->s)[q];                                              \
        if (j->seen && !j->seen[p]) {                                                              \
            o_[p] = v_;                                                                            \
            j->seen[p] = 1;                                                                        \
        } else {                                                                                   \
            o_[p] = red_##T(MODE, o_[p], v_);                                                      \
        }                                                                                          \
        if (j->cnt) j->cnt[p]++;                                                                   \
    })
#define SJ_REDUCE_MODES(T)                                                                         \
    do {                                                                                           \
        if (j->mode == RED_AMAX) SJ_REDUCE(T, RED_AMAX)                                            \
        else if (j->mode == RED_AMIN) SJ_REDUCE(T, RED_AMIN)                                       \
        else SJ_REDUCE(T, RED_SUM)                                                                 \
    } while (0)

static void scatter_block(const scatter_job *j, int64_t r0, int64_t r1, int64_t k0, int64_t k1) {
    const walk *w = j->w;
    if (j->kind == SK_COPY) {
        switch (j->es) {
        case 1: SJ_COPY(uint8_t) break;
        case 2: SJ_COPY(uint16_t) break;
        case 4: SJ_COPY(uint32_t) break;
        default: SJ_COPY(uint64_t) break;
        }
    } else if (j->kind == SK_ADD) {
        if (j->ct == NB_F32) SJ_ADD(float)
        else if (j->ct == NB_F64) SJ_ADD(double)
        else SJ_ADD(int64_t)
    } else {
        if (j->ct == NB_F32) SJ_REDUCE_MODES(float);
        else if (j->ct == NB_F64) SJ_REDUCE_MODES(double);
        else SJ_REDUCE_MODES(int64_t);
    }
}

static void sj_rows(void *ctx, int64_t b, int64_t e) {
    const scatter_job *j = ctx;
    scatter_block(j, b, e, 0, j->w->len);
}
static void sj_cols(void *ctx, int64_t b, int64_t e) {
    const scatter_job *j = ctx;
    scatter_block(j, 0, j->w->rows, b, e);
}

/* Split the work so that no two threads touch one target, keeping each target's writes in the index's
 * C order: the result is the serial one, bit for bit. Scattering along the last dim, different rows
 * differ in a coordinate other than dim, so their targets differ: split rows. Along another dim, the
 * target keeps the column's last coordinate: split columns. */
static void scatter_run(scatter_job *j) {
    const walk *w = j->w;
    if (w->rows == 0 || w->len == 0) return;
    if (w->dim == w->nd - 1) nbc_parallel_for(w->rows, 1 + 32768 / w->len, sj_rows, j);
    else nbc_parallel_for(w->len, 1 + 32768 / w->rows, sj_cols, j);
}

/* ---- scatter (src tensor): last write wins in the index's C order ------------------------------------------- */

static int scatter_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    return scatter_infer_common("nb_scatter", in, a, out);
}

static int scatter_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_scatter";
    nb_tensor *x = in[0], *idx = in[1], *src = in[2], *y = out[0];
    int dim = (int)a->ints[0];
    nbo_buffer bi;
    int rc = read_index(fn, idx, dim, size_at(x, dim), x, &bi);
    if (rc) return rc;
    nbk_copy(nbc_ptr(y), y->dtype, y->strides, nbc_ptr(x), x->dtype, x->strides, x->ndim, x->shape);
    walk w;
    walk_init(&w, idx, dim, y->ndim, y->strides, src->ndim, src->strides);
    scatter_job j = {.w = &w, .kind = SK_COPY, .es = nb_dtype_size(y->dtype), .o = nbc_ptr(y), .s = nbc_ptr(src),
                     .ix = bi.data};
    scatter_run(&j);
    nbo_buffer_release(&bi);
    return 0;
}

static int scatter_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    int dim = (int)c->attrs->ints[0];
    nb_tensor *idx = c->in[1];
    if (c->needs_grad[0] && !(gin[0] = nb_scatter_value(g[0], dim, idx, 0))) return nb_last_status();
    if (c->needs_grad[2] && !(gin[2] = grad_src(g[0], dim, idx, &c->in_meta[2]))) return nb_last_status();
    return 0;
}

const nbo_desc nbo_desc_scatter = {
    .name = "scatter", .bw_name = "ScatterBackward", .n_in = 3, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .unsaved_inputs = (1u << 0) | (1u << 2), .attrs = "ints=[dim]",
    .torch = "torch.scatter (src tensor)",
    .summary = "self with src written at the index along dim; duplicates: the last write in the index's C order wins "
               "(PyTorch leaves it unspecified); src's gradient is gather(g) for every write, as in PyTorch",
    .infer = scatter_infer, .forward = scatter_forward, .backward = scatter_bw};

nb_tensor *nb_scatter(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src) {
    static const char fn[] = "nb_scatter";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!index) return nbc_null_arg(fn, 3), NULL;
    if (!src) return nbc_null_arg(fn, 4), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim ? x->ndim : 1);
    if (d < 0) return NULL;
    nb_attrs a = {.n_ints = 1, .ints = {d}};
    return nbo_apply1(NBO_scatter, (nb_tensor *[]){x, index, src}, 3, &a);
}

/* scatter with a scalar: src is the value as a 0-d tensor of self's dtype expanded to the index's
 * shape (stride 0, nothing materialised). */
nb_tensor *nb_scatter_value(nb_tensor *x, int dim, nb_tensor *index, double value) {
    static const char fn[] = "nb_scatter_value";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!index) return nbc_null_arg(fn, 3), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim ? x->ndim : 1);
    if (d < 0) return NULL;
    if (check_index_dtype(fn, index, 3) || check_gs_shapes(fn, x, index, NULL, d)) return NULL;
    nb_tensor *v = nb_scalar(value, x->dtype);
    nb_tensor *src = nb_expand(v, index->ndim, index->shape);
    nb_free(v);
    nb_tensor *r = nb_scatter(x, d, index, src);
    nb_free(src);
    if (!r && strncmp(nb_last_error(), "nb_scatter:", 11) == 0) { /* name the function the user called */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", nb_last_error() + 10);
        nbc_error(nb_last_status(), "%s%s", fn, msg);
    }
    return r;
}

/* ---- scatter_add ------------------------------------------------------------------------------------------ */

static int scatter_add_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    return scatter_infer_common("nb_scatter_add", in, a, out);
}

static int scatter_add_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_scatter_add";
    nb_tensor *x = in[0], *idx = in[1], *src = in[2], *y = out[0];
    int dim = (int)a->ints[0];
    nbo_buffer bi;
    acc_buf acc;
    src_view sv;
    int rc = read_index(fn, idx, dim, size_at(x, dim), x, &bi);
    if (rc) return rc;
    if ((rc = acc_begin(fn, x, y, &acc)) != 0) {
        nbo_buffer_release(&bi);
        return rc;
    }
    if ((rc = src_get(fn, src, acc.ct, &sv)) != 0) {
        acc_finish(&acc, y);
        nbo_buffer_release(&bi);
        return rc;
    }
    walk w;
    walk_init(&w, idx, dim, y->ndim, y->strides, src->ndim, sv.strides); /* acc has y's contiguous layout */
    scatter_job j = {.w = &w, .kind = SK_ADD, .ct = acc.ct, .o = acc.data, .s = sv.data, .ix = bi.data};
    scatter_run(&j);
    acc_finish(&acc, y);
    nbo_buffer_release(&sv.buf);
    nbo_buffer_release(&bi);
    return 0;
}

static int scatter_add_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    int dim = (int)c->attrs->ints[0];
    if (c->needs_grad[0] && !(gin[0] = nb_retain(g[0]))) return nb_last_status();
    if (c->needs_grad[2] && !(gin[2] = grad_src(g[0], dim, c->in[1], &c->in_meta[2]))) return nb_last_status();
    return 0;
}

const nbo_desc nbo_desc_scatter_add = {
    .name = "scatter_add", .bw_name = "ScatterAddBackward", .n_in = 3, .n_out = 1, .flags = NBO_SAVE_INPUTS,
    .nograd_inputs = 1u << 1, .unsaved_inputs = (1u << 0) | (1u << 2), .attrs = "ints=[dim]",
    .torch = "torch.scatter_add",
    .summary = "self with src added at the index along dim (duplicates accumulate, in the index's C order)",
    .infer = scatter_add_infer, .forward = scatter_add_forward, .backward = scatter_add_bw};

nb_tensor *nb_scatter_add(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src) {
    static const char fn[] = "nb_scatter_add";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!index) return nbc_null_arg(fn, 3), NULL;
    if (!src) return nbc_null_arg(fn, 4), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim ? x->ndim : 1);
    if (d < 0) return NULL;
    nb_attrs a = {.n_ints = 1, .ints = {d}};
    return nbo_apply1(NBO_scatter_add, (nb_tensor *[]){x, index, src}, 3, &a);
}

/* ---- scatter_reduce ---------------------------------------------------------------------------------------- */


static inline float mean_div_float(float v, int64_t n) { return v / (float)n; }
static inline double mean_div_double(double v, int64_t n) { return v / (double)n; }
/* integer mean rounds toward minus infinity, as PyTorch's floor division */
static inline int64_t mean_div_int64_t(int64_t v, int64_t n) {
    int64_t q = v / n;
    return (v % n != 0 && v < 0) ? q - 1 : q;
}

/* Divide every mean by its count (positions with one value or none keep it). */
static void mean_finish(nb_dtype ct, void *o, const int64_t *cnt, int64_t numel) {
    for (int64_t p = 0; p < numel; p++) {
        if (cnt[p] <= 1) continue;
        if (ct == NB_F32) ((float *)o)[p] = mean_div_float(((float *)o)[p], cnt[p]);
        else if (ct == NB_F64) ((double *)o)[p] = mean_div_double(((double *)o)[p], cnt[p]);
        else ((int64_t *)o)[p] = mean_div_int64_t(((int64_t *)o)[p], cnt[p]);
    }
}

static int scatter_reduce_forward(nb_tensor *const *in, int n_in, const nb_attrs *a, nb_tensor *const *out) {
    (void)n_in;
    static const char fn[] = "nb_scatter_reduce";
    nb_tensor *x = in[0], *idx = in[1], *src = in[2], *y = out[0];
    int dim = (int)a->ints[0], mode = (int)a->ints[1];
    int64_t numel = nbc_numel(y->ndim, y->shape);
    nbo_buffer bi;
    acc_buf acc;
    src_view sv;
    int rc = read_index(fn, idx, dim, size_at(x, dim), x, &bi);
    if (rc) return rc;
    if ((rc = acc_begin(fn, x, y, &acc)) != 0) {
        nbo_buffer_release(&bi);
        return rc;
    }
    if ((rc = src_get(fn, src, acc.ct, &sv)) != 0) {
        acc_finish(&acc, y);
        nbo_buffer_release(&bi);
        return rc;
    }
    /* side arrays: counts for mean, first-write flags without include_self */
    size_t cap_cnt = 0, cap_seen = 0;
    int64_t *cnt = NULL;
    uint8_t *seen = NULL;
    if (mode == RED_MEAN && (cnt = nbc_block_alloc((size_t)numel * sizeof(int64_t) + 8, &cap_cnt)) != NULL)
        for (int64_t p = 0; p < numel; p++) cnt[p] = a->flag ? 1 : 0;
    if (!a->flag && (seen = nbc_block_alloc((size_t)numel + 1, &cap_seen)) != NULL) memset(seen, 0, (size_t)numel);
    if ((mode == RED_MEAN && !cnt) || (!a->flag && !seen)) {
        rc = nbc_oom(fn);
    } else {
        walk w;
        walk_init(&w, idx, dim, y->ndim, y->strides, src->ndim, sv.strides);
        scatter_job j = {.w = &w, .kind = SK_REDUCE, .mode = mode, .ct = acc.ct, .o = acc.data, .s = sv.data,
                         .ix = bi.data, .seen = seen, .cnt = cnt};
        scatter_run(&j);
        if (cnt) mean_finish(acc.ct, acc.data, cnt, numel);
    }
    if (cnt) nbc_block_free(cnt, cap_cnt);
    if (seen) nbc_block_free(seen, cap_seen);
    acc_finish(&acc, y);
    nbo_buffer_release(&sv.buf);
    nbo_buffer_release(&bi);
    return rc;
}

/* PyTorch's scatter_reduce_backward, in registry ops. */
static int scatter_reduce_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    int dim = (int)c->attrs->ints[0], mode = (int)c->attrs->ints[1];
    bool include_self = c->attrs->flag;
    const nbc_meta *sm = &c->in_meta[0];
    nb_tensor *self = c->in[0], *idx = c->in[1], *src = c->in[2], *gg = g[0];
    nb_dtype dt = gg->dtype;
    nb_tensor *scattered = include_self ? NULL : scattered_mask(sm, dim, idx);
    if (mode == RED_SUM || mode == RED_MEAN) {
        nb_tensor *gn = nb_retain(gg);
        if (mode == RED_MEAN) { /* divide by how many values were averaged (1 where nothing was scattered) */
            nb_tensor *n0 = nb_full(sm->ndim, sm->shape, include_self ? 1 : 0, dt);
            nb_tensor *ones = nb_ones(idx->ndim, idx->shape, dt);
            nb_tensor *cnt = nb_scatter_add(n0, dim, idx, ones);
            nb_tensor *cnt1 = nb_masked_fill(cnt, nb_eq_scalar(cnt, 0), 1);
            gn = nb_div(gg, cnt1);
        }
        if (c->needs_grad[0] && !(gin[0] = include_self ? nb_retain(gn) : nb_masked_fill(gn, scattered, 0)))
            return nb_last_status();
        if (c->needs_grad[2] && !(gin[2] = grad_src(gn, dim, idx, &c->in_meta[2]))) return nb_last_status();
        return 0;
    }
    /* amax / amin: the gradient is shared evenly among every value equal to the result */
    nb_tensor *res = c->out[0];
    nb_tensor *self_is = nb_eq(self, res);
    if (!include_self) self_is = nb_where(scattered, nb_zeros(sm->ndim, sm->shape, NB_BOOL), self_is);
    nb_tensor *self_f = nb_to(self_is, dt);
    nb_tensor *sp = src_part(src, idx);
    nb_tensor *src_f = nb_to(nb_eq(sp, nb_gather(res, dim, idx)), dt);
    nb_tensor *n = nb_scatter_add(self_f, dim, idx, src_f);
    nb_tensor *gd = nb_div(gg, n);
    if (c->needs_grad[0] && !(gin[0] = nb_mul(self_f, gd))) return nb_last_status();
    if (c->needs_grad[2]) {
        nb_tensor *gs = nb_mul(src_f, nb_gather(gd, dim, idx));
        if (!(gin[2] = gs ? pad_to(gs, &c->in_meta[2]) : NULL)) return nb_last_status();
    }
    return 0;
}

const nbo_desc nbo_desc_scatter_reduce = {
    .name = "scatter_reduce", .bw_name = "ScatterReduceBackward", .n_in = 3, .n_out = 1,
    .flags = NBO_SAVE_INPUTS | NBO_SAVE_OUTPUTS, .nograd_inputs = 1u << 1,
    .attrs = "ints=[dim, reduce (0 sum, 1 mean, 2 amax, 3 amin)] flag=include_self", .torch = "torch.scatter_reduce",
    .summary = "reduce src into self at the index along dim (sum, mean, amax, amin; include_self as PyTorch; "
               "amax / amin share the gradient among ties; integer mean floors; no prod)",
    .infer = scatter_reduce_infer, .forward = scatter_reduce_forward, .backward = scatter_reduce_bw};

nb_tensor *nb_scatter_reduce(nb_tensor *x, int dim, nb_tensor *index, nb_tensor *src, const char *reduce,
                             bool include_self) {
    static const char fn[] = "nb_scatter_reduce";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!index) return nbc_null_arg(fn, 3), NULL;
    if (!src) return nbc_null_arg(fn, 4), NULL;
    int mode = -1;
    for (int i = 0; i < RED_COUNT && reduce; i++)
        if (strcmp(reduce, k_red_names[i]) == 0) mode = i;
    if (mode < 0)
        return nbc_error(NB_ERR_ARG, "%s: reduce \"%s\" is not one of \"sum\", \"mean\", \"amax\", \"amin\"", fn,
                         reduce ? reduce : "(null)"), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim ? x->ndim : 1);
    if (d < 0) return NULL;
    nb_attrs a = {.n_ints = 2, .ints = {d, mode}, .flag = include_self};
    return nbo_apply1(NBO_scatter_reduce, (nb_tensor *[]){x, index, src}, 3, &a);
}
