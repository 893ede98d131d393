/* ops/layout.c — layout ops: pad (constant / reflect / replicate / circular), repeat, tile, tril,
 * triu, flip, roll and diagonal (einsum lives in einsum.c).
 *
 * flip, roll, repeat and the non-constant pads are all "index-map copies": output element
 * (i0, ..., ik) is input element (m0(i0), ..., mk(ik)) for one map per dim. They share one gather
 * kernel that reads the input through per-dim tables of element offsets (map times stride), so any
 * input layout (transposed, stepped, expanded) is read in place; the last dim is split into runs that
 * are one memcpy (unit steps up), a reversed copy (unit steps down) or a table lookup per element.
 * Constant pad copies the surviving box once and fills only the border. Their gradients are the inverse
 * maps (flip, roll), sums over the repeats (repeat), or a scatter-add registered as its own op
 * (pad_backward) whose gradient is the forward pad again, so every order of derivative exists. */
#include "op.h"
#include "../kernels/cpu/kernels.h"

#include <string.h>

/* ---- the gather kernel ---------------------------------------------------------------------------- */

/* Per-dim offset tables for an output of shape (nd, shape): t[d][i] is the element offset (in the
 * source) that output index i along dim d reads. One block holds them all. */
typedef struct gtables {
    int64_t *data;
    size_t cap;
    int nd;
    int64_t shape[NB_MAX_DIMS];
    int64_t *t[NB_MAX_DIMS];
} gtables;

static int gtables_alloc(const char *fn, gtables *tb, int nd, const int64_t *shape) {
    int64_t total = 1;
    for (int d = 0; d < nd; d++) total += shape[d];
    tb->data = nbc_block_alloc((size_t)total * sizeof(int64_t), &tb->cap);
    if (!tb->data) return nbc_oom(fn);
    tb->nd = nd;
    int64_t off = 0;
    for (int d = 0; d < nd; d++) {
        tb->shape[d] = shape[d];
        tb->t[d] = tb->data + off;
        off += shape[d];
    }
    return 0;
}

static void gtables_free(gtables *tb) {
    if (tb->data) nbc_block_free(tb->data, tb->cap);
    tb->data = NULL;
}

/* The last dim's table split into runs: ascending unit steps (one memcpy), descending unit steps (a
 * reversed copy: flips, reflections), or anything else (a table lookup per element). */
enum { RUN_ASC, RUN_DESC, RUN_GATHER };
typedef struct grun {
    int64_t start, len;
    int kind;
} grun;
#define RUN_MIN 8 /* shorter unit-step stretches are not worth a run of their own */

static int64_t step_len(const int64_t *t, int64_t i, int64_t n, int64_t step) {
    int64_t k = i + 1;
    while (k < n && t[k] == t[k - 1] + step) k++;
    return k - i;
}

static int64_t build_runs(const int64_t *t, int64_t n, grun *runs) {
    int64_t nr = 0;
    for (int64_t i = 0; i < n;) {
        int64_t la = step_len(t, i, n, 1), ld = la >= RUN_MIN ? 0 : step_len(t, i, n, -1);
        if (la >= RUN_MIN || ld >= RUN_MIN) {
            runs[nr++] = (grun){i, la >= RUN_MIN ? la : ld, la >= RUN_MIN ? RUN_ASC : RUN_DESC};
            i += la >= RUN_MIN ? la : ld;
        } else {
            if (nr && runs[nr - 1].kind == RUN_GATHER) runs[nr - 1].len++;
            else runs[nr++] = (grun){i, 1, RUN_GATHER};
            i++;
        }
    }
    return nr;
}

typedef struct gather_job {
    char *dst;
    const char *src;
    size_t z;
    const gtables *tb;
    const grun *runs;
    int64_t inner, nruns;
} gather_job;

#define GATHER_RUN(T)                                                                                   \
    do {                                                                                                \
        T *d = (T *)drow + r0;                                                                          \
        const T *sp = (const T *)s;                                                                     \
        if (ru->kind == RUN_DESC) {                                                                     \
            const T *q = sp + tl[r0];                                                                   \
            for (int64_t i = 0; i < ru->len; i++) d[i] = q[-i];                                         \
        } else {                                                                                        \
            const int64_t *tt = tl + r0;                                                                \
            for (int64_t i = 0; i < ru->len; i++) d[i] = sp[tt[i]];                                     \
        }                                                                                               \
    } while (0)

static void gather_rows(void *ctx, int64_t begin, int64_t end) {
    const gather_job *j = ctx;
    const gtables *tb = j->tb;
    int last = tb->nd - 1;
    const int64_t *tl = tb->t[last];
    size_t z = j->z;
    for (int64_t r = begin; r < end; r++) {
        int64_t rem = r, off = 0;
        for (int d = last - 1; d >= 0; d--) {
            off += tb->t[d][rem % tb->shape[d]];
            rem /= tb->shape[d];
        }
        char *drow = j->dst + (size_t)(r * j->inner) * z;
        const char *s = j->src + (size_t)off * z;
        for (int64_t k = 0; k < j->nruns; k++) {
            const grun *ru = &j->runs[k];
            int64_t r0 = ru->start;
            if (ru->kind == RUN_ASC) {
                memcpy(drow + (size_t)r0 * z, s + (size_t)tl[r0] * z, (size_t)ru->len * z);
                continue;
            }
            switch (z) {
            case 1: GATHER_RUN(uint8_t); break;
            case 2: GATHER_RUN(uint16_t); break;
            case 4: GATHER_RUN(uint32_t); break;
            default: GATHER_RUN(uint64_t); break;
            }
        }
    }
}

/* o (contiguous, same dtype as x, shape tb->shape) = x gathered through the tables. A 0-d output
 * is one element at offset 0. */
static int gather_exec(const char *fn, const nb_tensor *x, nb_tensor *o, const gtables *tb) {
    size_t z = nb_dtype_size(x->dtype);
    int64_t numel = nbc_numel(tb->nd, tb->shape);
    if (numel == 0) return 0;
    if (tb->nd == 0) {
        memcpy(nbc_ptr(o), nbc_ptr(x), z);
        return 0;
    }
    int last = tb->nd - 1;
    size_t cap = 0;
    grun *runs = nbc_block_alloc(sizeof(grun) * (size_t)tb->shape[last], &cap);
    if (!runs) return nbc_oom(fn);
    gather_job j = {.dst = nbc_ptr(o), .src = nbc_ptr(x), .z = z, .tb = tb, .runs = runs, .inner = tb->shape[last]};
    j.nruns = build_runs(tb->t[last], j.inner, runs);
    int64_t rows = numel / j.inner, grain = j.inner >= 32768 ? 1 : 32768 / j.inner;
    nbc_parallel_for(rows, grain, gather_rows, &j);
    nbc_block_free(runs, cap);
    return 0;
}

/* ---- flip ------------------------------------------------------------------------------------------ */

/* attrs: ints[d] = 1 when dim d is flipped (n_ints = ndim). */
static int same_shape_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    nbo_meta_set(out, in[0]->dtype, in[0]->ndim, in[0]->shape);
    return 0;
}

static int flip_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    nb_tensor *x = in[0];
    gtables tb;
    if (gtables_alloc("nb_flip", &tb, x->ndim, x->shape)) return NB_ERR_NOMEM;
    for (int d = 0; d < x->ndim; d++)
        for (int64_t i = 0; i < x->shape[d]; i++) tb.t[d][i] = (a->ints[d] ? x->shape[d] - 1 - i : i) * x->strides[d];
    int rc = gather_exec("nb_flip", x, out[0], &tb);
    gtables_free(&tb);
    return rc;
}

/* flip is its own inverse */
static int flip_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nbo_apply1(NBO_flip, &g[0], 1, c->attrs);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_flip = {.name = "flip", .bw_name = "FlipBackward", .n_in = 1, .n_out = 1,
                                .attrs = "ints=[flipped? per dim]", .torch = "torch.flip",
                                .summary = "reverse the order of elements along the given dims (a copy, as in PyTorch)",
                                .infer = same_shape_infer, .forward = flip_forward, .backward = flip_bw};

nb_tensor *nb_flip(nb_tensor *x, int n, const int64_t *dims) {
    static const char fn[] = "nb_flip";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (n < 0 || (n > 0 && !dims)) return nbc_error(NB_ERR_ARG, "%s: invalid dims list (n = %d)", fn, n), NULL;
    nb_attrs a = {.n_ints = x->ndim};
    for (int i = 0; i < n; i++) {
        int d = nbc_wrap_dim(fn, dims[i], x->ndim ? x->ndim : 1);
        if (d < 0) return NULL;
        if (a.ints[d]) return nbc_error(NB_ERR_ARG, "%s: dim %d appears multiple times in the list of dims %s", fn, d,
                                        nbc_shape_str(n, dims)), NULL;
        if (x->ndim) a.ints[d] = 1;
    }
    return nbo_apply1(NBO_flip, &x, 1, &a);
}

/* ---- roll ------------------------------------------------------------------------------------------ */

/* attrs: ints[d] = shift of dim d, normalised into [0, size) (n_ints = ndim). */
static int roll_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    nb_tensor *x = in[0];
    gtables tb;
    if (gtables_alloc("nb_roll", &tb, x->ndim, x->shape)) return NB_ERR_NOMEM;
    for (int d = 0; d < x->ndim; d++) {
        int64_t s = x->shape[d], k = a->ints[d];
        for (int64_t i = 0; i < s; i++) tb.t[d][i] = (i >= k ? i - k : i - k + s) * x->strides[d];
    }
    int rc = gather_exec("nb_roll", x, out[0], &tb);
    gtables_free(&tb);
    return rc;
}

/* the inverse shift */
static int roll_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs a = *c->attrs;
    for (int d = 0; d < a.n_ints; d++)
        if (a.ints[d]) a.ints[d] = c->in_meta[0].shape[d] - a.ints[d];
    gin[0] = nbo_apply1(NBO_roll, &g[0], 1, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_roll = {.name = "roll", .bw_name = "RollBackward", .n_in = 1, .n_out = 1,
                                .attrs = "ints=[shift per dim, in 0..size-1]", .torch = "torch.roll",
                                .summary = "rotate elements along dims; elements shifted past the end re-enter at the start",
                                .infer = same_shape_infer, .forward = roll_forward, .backward = roll_bw};

nb_tensor *nb_roll(nb_tensor *x, int n, const int64_t *shifts, const int64_t *dims) {
    static const char fn[] = "nb_roll";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (n < 1 || !shifts) return nbc_error(NB_ERR_ARG, "%s: expected at least one shift (n = %d)", fn, n), NULL;
    if (!dims) { /* torch.roll(x, shift) without dims: roll the flattened tensor, restore the shape */
        if (n != 1)
            return nbc_error(NB_ERR_ARG, "%s: %d shifts given without dims; the flattened form takes exactly one", fn, n),
                   NULL;
        nb_tensor *flat = nb_reshape(x, NB_SHAPE(-1));
        if (!flat) return NULL;
        nb_tensor *r = nb_roll(flat, 1, shifts, (const int64_t[]){0});
        nb_free(flat);
        if (!r) return NULL;
        nb_tensor *y = nb_reshape(r, x->ndim, x->shape);
        nb_free(r);
        return y;
    }
    if (x->ndim == 0) return nbc_error(NB_ERR_ARG, "%s: dims given for a 0-d tensor", fn), NULL;
    nb_attrs a = {.n_ints = x->ndim};
    for (int i = 0; i < n; i++) {
        int d = nbc_wrap_dim(fn, dims[i], x->ndim);
        if (d < 0) return NULL;
        int64_t s = x->shape[d];
        if (s == 0) continue;
        int64_t k = (a.ints[d] + shifts[i] % s) % s; /* shifts along one dim add up, as in PyTorch */
        a.ints[d] = k < 0 ? k + s : k;
    }
    return nbo_apply1(NBO_roll, &x, 1, &a);
}

/* ---- repeat / tile ----------------------------------------------------------------------------------- */

/* attrs: ints = reps (n_ints >= ndim: the leading ones add dims). */
static int repeat_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    int k = a->n_ints, lead = k - x->ndim;
    int64_t shape[NB_MAX_DIMS];
    for (int i = 0; i < k; i++) shape[i] = a->ints[i] * (i >= lead ? x->shape[i - lead] : 1);
    nbo_meta_set(out, x->dtype, k, shape);
    return 0;
}

static int repeat_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    nb_tensor *x = in[0], *o = out[0];
    gtables tb;
    if (gtables_alloc("nb_repeat", &tb, o->ndim, o->shape)) return NB_ERR_NOMEM;
    int lead = o->ndim - x->ndim;
    for (int d = 0; d < o->ndim; d++) {
        int64_t s = d >= lead ? x->shape[d - lead] : 1, st = d >= lead ? x->strides[d - lead] : 0;
        for (int64_t i = 0, j = 0; i < o->shape[d]; i++, j = j + 1 == s ? 0 : j + 1) tb.t[d][i] = j * st;
    }
    int rc = gather_exec("nb_repeat", x, o, &tb);
    gtables_free(&tb);
    return rc;
}

/* Sum over the repeats, one dim at a time as [before, reps, size, after] so no step needs more than 4
 * dims (the interleaved reshape would need twice the dims). */
static int repeat_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    const nbc_meta *xm = &c->in_meta[0];
    int k = c->attrs->n_ints, lead = k - xm->ndim;
    int64_t cur[NB_MAX_DIMS];
    for (int i = 0; i < k; i++) cur[i] = g[0]->shape[i];
    nb_tensor *t = nb_retain(g[0]);
    for (int i = 0; i < k && t; i++) {
        int64_t r = c->attrs->ints[i];
        if (r == 1) continue;
        int64_t before = nbc_numel(i, cur), after = nbc_numel(k - i - 1, cur + i + 1);
        int64_t size = i >= lead ? xm->shape[i - lead] : 1;
        nb_tensor *v = nb_reshape(t, NB_SHAPE(before, r, size, after));
        nb_tensor *s = v ? nb_sum(v, NB_DIMS(1)) : NULL;
        nb_free(v);
        nb_free(t);
        t = s;
        cur[i] = size;
    }
    if (!t) return nb_last_status();
    gin[0] = nb_reshape(t, xm->ndim, xm->shape);
    nb_free(t);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_repeat = {.name = "repeat", .bw_name = "RepeatBackward", .n_in = 1, .n_out = 1,
                                  .attrs = "ints=reps", .torch = "Tensor.repeat",
                                  .summary = "tile the tensor reps[i] times along each dim (extra reps add leading dims)",
                                  .infer = repeat_infer, .forward = repeat_forward, .backward = repeat_bw};

static nb_tensor *repeat_impl(const char *fn, nb_tensor *x, int n, const int64_t *reps, bool tile) {
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (n < 0 || (n > 0 && !reps)) return nbc_error(NB_ERR_ARG, "%s: invalid reps list (n = %d)", fn, n), NULL;
    int k = tile && n < x->ndim ? x->ndim : n; /* torch.tile pads reps with ones on the left */
    if (k < x->ndim)
        return nbc_error(NB_ERR_ARG, "%s: %d reps given for a tensor of %s; the number of reps can not be smaller than "
                         "the number of dims", fn, n, nbc_desc(x)), NULL;
    if (k > NB_MAX_DIMS) return nbc_error(NB_ERR_ARG, "%s: %d reps exceed the maximum of %d dims", fn, k, NB_MAX_DIMS), NULL;
    nb_attrs a = {.n_ints = k};
    for (int i = 0; i < k; i++) {
        int64_t r = i < k - n ? 1 : reps[i - (k - n)];
        if (r < 0) return nbc_error(NB_ERR_ARG, "%s: reps %s must be non-negative", fn, nbc_shape_str(n, reps)), NULL;
        a.ints[i] = r;
    }
    return nbo_apply1(NBO_repeat, &x, 1, &a);
}

nb_tensor *nb_repeat(nb_tensor *x, int n, const int64_t *reps) { return repeat_impl("nb_repeat", x, n, reps, false); }
nb_tensor *nb_tile(nb_tensor *x, int n, const int64_t *reps) { return repeat_impl("nb_tile", x, n, reps, true); }

/* ---- tril / triu ----------------------------------------------------------------------------------- */

/* attrs: ints[0] = diagonal offset; flag: upper (triu). */
static int tri_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    if (x->ndim < 2)
        return nbc_error(NB_ERR_ARG, "%s: input must have at least 2 dims; got %s", a->flag ? "nb_triu" : "nb_tril",
                         nbc_desc(x));
    nbo_meta_set(out, x->dtype, x->ndim, x->shape);
    return 0;
}

typedef struct tri_job {
    char *o;
    size_t z;
    int64_t rows, cols, k;
    bool upper;
} tri_job;

/* Zero the dropped part of each row (after a full copy): row i keeps columns j <= i + k (tril) or
 * j >= i + k (triu). Units are rows of all matrices. */
static void tri_rows(void *ctx, int64_t begin, int64_t end) {
    const tri_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        int64_t i = r % j->rows, c = i + j->k; /* first dropped column (tril: c + 1) */
        char *row = j->o + (size_t)(r * j->cols) * j->z;
        if (j->upper) {
            int64_t e = c < 0 ? 0 : c > j->cols ? j->cols : c;
            memset(row, 0, (size_t)e * j->z);
        } else {
            int64_t s = c + 1 < 0 ? 0 : c + 1 > j->cols ? j->cols : c + 1;
            memset(row + (size_t)s * j->z, 0, (size_t)(j->cols - s) * j->z);
        }
    }
}

static int tri_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    nb_tensor *x = in[0], *o = out[0];
    nbk_copy(nbc_ptr(o), o->dtype, o->strides, nbc_ptr(x), x->dtype, x->strides, x->ndim, x->shape);
    tri_job j = {.o = nbc_ptr(o), .z = nb_dtype_size(o->dtype), .rows = o->shape[o->ndim - 2],
                 .cols = o->shape[o->ndim - 1], .k = a->ints[0], .upper = a->flag};
    int64_t nrows = nbc_numel(o->ndim - 1, o->shape), grain = j.cols >= 32768 ? 1 : 32768 / (j.cols ? j.cols : 1);
    if (nrows && j.cols) nbc_parallel_for(nrows, grain, tri_rows, &j);
    return 0;
}

/* linear and self-adjoint: the same mask on the gradient */
static int tri_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nbo_apply1(c->attrs->flag ? NBO_triu : NBO_tril, &g[0], 1, c->attrs);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_tril = {.name = "tril", .bw_name = "TrilBackward", .n_in = 1, .n_out = 1,
                                .attrs = "ints=[diagonal]", .torch = "torch.tril",
                                .summary = "keep the lower triangle (j <= i + diagonal) of the last two dims, zero the rest",
                                .infer = tri_infer, .forward = tri_forward, .backward = tri_bw};
const nbo_desc nbo_desc_triu = {.name = "triu", .bw_name = "TriuBackward", .n_in = 1, .n_out = 1,
                                .attrs = "ints=[diagonal] flag=upper", .torch = "torch.triu",
                                .summary = "keep the upper triangle (j >= i + diagonal) of the last two dims, zero the rest",
                                .infer = tri_infer, .forward = tri_forward, .backward = tri_bw};

nb_tensor *nb_tril(nb_tensor *x, int64_t diagonal) {
    nb_attrs a = {.n_ints = 1, .ints = {diagonal}, .flag = false};
    return nbo_apply1(NBO_tril, &x, 1, &a);
}
nb_tensor *nb_triu(nb_tensor *x, int64_t diagonal) {
    nb_attrs a = {.n_ints = 1, .ints = {diagonal}, .flag = true};
    return nbo_apply1(NBO_triu, &x, 1, &a);
}

/* ---- diagonal (view) and its gradient ------------------------------------------------------------- */

/* attrs: ints = {offset, dim1, dim2} (dims normalised, distinct). The layout of the diagonal of a
 * tensor of (shape, strides, offset): the other dims in order, then the diagonal. */
static void diag_layout(const nb_attrs *a, int nd, const int64_t *shape, const int64_t *strides, int64_t base,
                        nbc_meta *out) {
    int64_t off = a->ints[0];
    int d1 = (int)a->ints[1], d2 = (int)a->ints[2];
    int64_t len = off >= 0 ? (shape[d2] - off < shape[d1] ? shape[d2] - off : shape[d1])
                           : (shape[d1] + off < shape[d2] ? shape[d1] + off : shape[d2]);
    if (len < 0) len = 0;
    int k = 0;
    for (int d = 0; d < nd; d++)
        if (d != d1 && d != d2) {
            out->shape[k] = shape[d];
            out->strides[k++] = strides[d];
        }
    out->shape[k] = len;
    out->strides[k++] = strides[d1] + strides[d2];
    out->ndim = k;
    out->offset = base + (len == 0 ? 0 : off >= 0 ? off * strides[d2] : -off * strides[d1]);
}

static int diagonal_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    out->dtype = x->dtype;
    diag_layout(a, x->ndim, x->shape, x->strides, x->offset, out);
    return 0;
}

static int diagonal_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    const nbc_meta *xm = &c->in_meta[0];
    nb_attrs a = *c->attrs;
    a.n_ints = 3 + xm->ndim; /* append the input's shape */
    memcpy(&a.ints[3], xm->shape, sizeof(int64_t) * (size_t)xm->ndim);
    gin[0] = nbo_apply1(NBO_diagonal_backward, &g[0], 1, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_diagonal = {.name = "diagonal", .bw_name = "DiagonalBackward", .n_in = 1, .n_out = 1,
                                    .flags = NBO_VIEW, .attrs = "ints=[offset, dim1, dim2]", .torch = "torch.diagonal",
                                    .summary = "the diagonal of dims dim1, dim2 as a new last dim (a view)",
                                    .infer = diagonal_infer, .backward = diagonal_bw};

/* diagonal_backward: zeros of the input's shape with g written onto the diagonal. */
static int diagonal_backward_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nbo_meta_set(out, in[0]->dtype, a->n_ints - 3, &a->ints[3]);
    return 0;
}

static int diagonal_backward_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    nb_tensor *g = in[0], *o = out[0];
    memset(nbc_ptr(o), 0, (size_t)nbc_numel(o->ndim, o->shape) * nb_dtype_size(o->dtype));
    nbc_meta v;
    diag_layout(a, o->ndim, o->shape, o->strides, 0, &v);
    char *dst = (char *)nbc_ptr(o) + (size_t)v.offset * nb_dtype_size(o->dtype);
    nbk_copy(dst, o->dtype, v.strides, nbc_ptr(g), g->dtype, g->strides, g->ndim, g->shape);
    return 0;
}

static int diagonal_backward_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_attrs a = *c->attrs;
    a.n_ints = 3;
    gin[0] = nbo_apply1(NBO_diagonal, &g[0], 1, &a);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_diagonal_backward = {
    .name = "diagonal_backward", .bw_name = "DiagonalBackwardBackward", .n_in = 1, .n_out = 1,
    .attrs = "ints=[offset, dim1, dim2, input shape...]", .torch = "torch.ops.aten.diagonal_backward",
    .summary = "zeros with the gradient written onto the diagonal (gradient of diagonal)",
    .infer = diagonal_backward_infer, .forward = diagonal_backward_forward, .backward = diagonal_backward_bw};

nb_tensor *nb_diagonal(nb_tensor *x, int64_t offset, int dim1, int dim2) {
    static const char fn[] = "nb_diagonal";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim < 2) return nbc_error(NB_ERR_ARG, "%s: input must have at least 2 dims; got %s", fn, nbc_desc(x)), NULL;
    int d1 = nbc_wrap_dim(fn, dim1, x->ndim), d2 = nbc_wrap_dim(fn, dim2, x->ndim);
    if (d1 < 0 || d2 < 0) return NULL;
    if (d1 == d2)
        return nbc_error(NB_ERR_ARG, "%s: diagonal dimensions cannot be identical (dim1 %d, dim2 %d) for %s", fn, dim1,
                         dim2, nbc_desc(x)), NULL;
    nb_attrs a = {.n_ints = 3, .ints = {offset, d1, d2}};
    return nbo_apply1(NBO_diagonal, &x, 1, &a);
}

/* ---- pad --------------------------------------------------------------------------------------------- */

/* attrs: ints = {mode, pad_0, ..., pad_{2k-1}} with pads in torch order (last dim first, (left, right)
 * pairs); f0 = fill value (constant mode). Padded dim of pair p is ndim - 1 - p. */
static const char *const k_pad_modes[] = {"constant", "reflect", "replicate", "circular"};

static int64_t pad_left(const nb_attrs *a, int ndim, int d) {
    int p = ndim - 1 - d;
    return 2 * p + 1 < a->n_ints ? a->ints[1 + 2 * p] : 0;
}
static int64_t pad_right(const nb_attrs *a, int ndim, int d) {
    int p = ndim - 1 - d;
    return 2 * p + 2 < a->n_ints ? a->ints[2 + 2 * p] : 0;
}

/* Output index i along a dim of input size s padded by (l, r): the input index it reads (-1: the fill
 * of constant mode). Valid for every pad infer accepts. */
static int64_t pad_map(int mode, int64_t i, int64_t s, int64_t l) {
    int64_t j = i - l;
    if (j >= 0 && j < s) return j;
    switch (mode) {
    case NB_PAD_REFLECT: return j < 0 ? -j : 2 * (s - 1) - j;
    case NB_PAD_REPLICATE: return j < 0 ? 0 : s - 1;
    case NB_PAD_CIRCULAR: return j < 0 ? j + s : j - s;
    default: return -1;
    }
}

/* The shape of pad(x) (or, with inverse, of the input whose pad has shape `shape`), checked. */
static int pad_shape(const char *fn, const nb_attrs *a, int nd, const int64_t *shape, bool inverse, int64_t *out) {
    int mode = (int)a->ints[0];
    int npairs = (a->n_ints - 1) / 2;
    if (npairs > nd)
        return nbc_error(NB_ERR_ARG, "%s: %d pad values (%d dims) given for an input of shape %s", fn, a->n_ints - 1,
                         npairs, nbc_shape_str(nd, shape));
    for (int d = 0; d < nd; d++) {
        int64_t l = pad_left(a, nd, d), r = pad_right(a, nd, d);
        int64_t s = inverse ? shape[d] - l - r : shape[d];
        out[d] = inverse ? s : s + l + r;
        if (d < nd - npairs) continue;
        const char *mname = k_pad_modes[mode];
        if (mode == NB_PAD_CONSTANT) {
            if (s + l + r < 0)
                return nbc_error(NB_ERR_ARG, "%s: padding (%lld, %lld) of dim %d of input shape %s gives a negative size %lld",
                                 fn, (long long)l, (long long)r, d, nbc_shape_str(nd, shape), (long long)(s + l + r));
            continue;
        }
        if (s < 1)
            return nbc_error(NB_ERR_ARG, "%s: %s padding needs a non-empty dim %d; got input shape %s", fn, mname, d,
                             nbc_shape_str(nd, shape));
        if (mode == NB_PAD_REFLECT && (l >= s || r >= s))
            return nbc_error(NB_ERR_ARG, "%s: reflect padding (%lld, %lld) of dim %d must be less than its size %lld "
                             "(input shape %s)", fn, (long long)l, (long long)r, d, (long long)s, nbc_shape_str(nd, shape));
        if (mode == NB_PAD_CIRCULAR && (l > s || r > s || -l > s || -r > s))
            return nbc_error(NB_ERR_ARG, "%s: circular padding (%lld, %lld) of dim %d wraps around more than once "
                             "(size %lld, input shape %s)", fn, (long long)l, (long long)r, d, (long long)s,
                             nbc_shape_str(nd, shape));
        if (s + l + r < 1)
            return nbc_error(NB_ERR_ARG, "%s: %s padding (%lld, %lld) of dim %d of input shape %s leaves no element", fn,
                             mname, (long long)l, (long long)r, d, nbc_shape_str(nd, shape));
    }
    return 0;
}

static int pad_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *x = in[0];
    int64_t shape[NB_MAX_DIMS];
    if (pad_shape("nb_pad", a, x->ndim, x->shape, false, shape)) return NB_ERR_ARG;
    nbo_meta_set(out, x->dtype, x->ndim, shape);
    return 0;
}

/* constant: copy the part of x that survives into place (negative pads crop), and fill only the
 * border around it, by memcpy from one row of fill values, so each output element is written once. */
typedef struct border_job {
    char *o;
    const char *fill; /* W fill values */
    size_t z;
    int nd;
    const int64_t *oshape;
    int64_t lo[NB_MAX_DIMS], hi[NB_MAX_DIMS]; /* the copied box, [lo, hi) per dim */
} border_job;

static void border_rows(void *ctx, int64_t begin, int64_t end) {
    const border_job *j = ctx;
    int L = j->nd - 1;
    int64_t W = j->oshape[L];
    for (int64_t r = begin; r < end; r++) {
        int64_t rem = r;
        bool inner = true;
        for (int d = L - 1; d >= 0 && inner; d--) {
            int64_t i = rem % j->oshape[d];
            rem /= j->oshape[d];
            inner = i >= j->lo[d] && i < j->hi[d];
        }
        char *row = j->o + (size_t)(r * W) * j->z;
        if (!inner) {
            memcpy(row, j->fill, (size_t)W * j->z);
            continue;
        }
        memcpy(row, j->fill, (size_t)j->lo[L] * j->z);
        memcpy(row + (size_t)j->hi[L] * j->z, j->fill, (size_t)(W - j->hi[L]) * j->z);
    }
}

static int pad_constant(const nb_tensor *x, nb_tensor *o, const nb_attrs *a) {
    int nd = x->ndim;
    size_t z = nb_dtype_size(x->dtype);
    int64_t on = nbc_numel(o->ndim, o->shape);
    if (on == 0) return 0;
    if (nd == 0) {
        nbk_copy(nbc_ptr(o), o->dtype, o->strides, nbc_ptr(x), x->dtype, x->strides, 0, x->shape);
        return 0;
    }
    border_job j = {.o = nbc_ptr(o), .z = z, .nd = nd, .oshape = o->shape};
    int64_t box[NB_MAX_DIMS], soff = 0, doff = 0;
    bool empty = false;
    for (int d = 0; d < nd; d++) {
        int64_t l = pad_left(a, nd, d), r = pad_right(a, nd, d);
        int64_t cl = l < 0 ? -l : 0, cr = r < 0 ? -r : 0;
        box[d] = x->shape[d] - cl - cr;
        empty = empty || box[d] <= 0;
        j.lo[d] = l > 0 ? l : 0;
        j.hi[d] = j.lo[d] + (box[d] > 0 ? box[d] : 0);
        soff += cl * x->strides[d];
        doff += j.lo[d] * o->strides[d];
    }
    int64_t W = o->shape[nd - 1];
    if (empty) { /* nothing of x survives: all fill */
        nbk_fill(nbc_ptr(o), o->dtype, a->f0, on);
        return 0;
    }
    size_t cap = 0;
    char *fill = nbc_block_alloc((size_t)W * z, &cap);
    if (!fill) return nbc_oom("nb_pad");
    nbk_fill(fill, o->dtype, a->f0, W);
    j.fill = fill;
    int64_t rows = on / W, grain = W >= 32768 ? 1 : 32768 / W;
    nbc_parallel_for(rows, grain, border_rows, &j);
    nbc_block_free(fill, cap);
    nbk_copy((char *)nbc_ptr(o) + (size_t)doff * z, o->dtype, o->strides, (const char *)nbc_ptr(x) + (size_t)soff * z,
             x->dtype, x->strides, nd, box);
    return 0;
}

static int pad_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    nb_tensor *x = in[0], *o = out[0];
    int mode = (int)a->ints[0];
    if (mode == NB_PAD_CONSTANT) return pad_constant(x, o, a);
    gtables tb;
    if (gtables_alloc("nb_pad", &tb, o->ndim, o->shape)) return NB_ERR_NOMEM;
    for (int d = 0; d < o->ndim; d++) {
        int64_t l = pad_left(a, o->ndim, d);
        for (int64_t i = 0; i < o->shape[d]; i++) tb.t[d][i] = pad_map(mode, i, x->shape[d], l) * x->strides[d];
    }
    int rc = gather_exec("nb_pad", x, o, &tb);
    gtables_free(&tb);
    return rc;
}

static int pad_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    const nb_attrs *a = c->attrs;
    if (a->ints[0] == NB_PAD_CONSTANT) { /* the opposite pad with zeros: crops what was added, restores what was cropped */
        int64_t neg[NBC_MAX_INTS];
        for (int i = 1; i < a->n_ints; i++) neg[i - 1] = -a->ints[i];
        gin[0] = nb_pad(g[0], a->n_ints - 1, neg, NB_PAD_CONSTANT, 0.0);
    } else {
        gin[0] = nbo_apply1(NBO_pad_backward, &g[0], 1, a);
    }
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_pad = {
    .name = "pad", .bw_name = "PadBackward", .n_in = 1, .n_out = 1, .attrs = "ints=[mode, pads...] f0=value",
    .torch = "torch.nn.functional.pad",
    .summary = "pad the last dims (pads last dim first, (left, right) pairs): constant (negative pads crop), reflect, "
               "replicate or circular; non-constant modes accept any number of leading dims",
    .infer = pad_infer, .forward = pad_forward, .backward = pad_bw};

/* pad_backward (reflect / replicate / circular): input g has the padded shape; the output (the input's
 * shape) accumulates every element of g onto the input element it was copied from. */
static int pad_backward_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n;
    nb_tensor *g = in[0];
    if (!nb_dtype_is_float(g->dtype))
        return nbc_error(NB_ERR_ARG, "nb_pad_backward: the gradient must have a floating dtype; got %s", nbc_desc(g));
    int64_t shape[NB_MAX_DIMS];
    if (pad_shape("nb_pad_backward", a, g->ndim, g->shape, true, shape)) return NB_ERR_ARG;
    nbo_meta_set(out, g->dtype, g->ndim, shape);
    return 0;
}

/* The border pass: every element of g outside the interior box adds onto the input element it was
 * copied from. Units are blocks of the unpadded leading dims, which own disjoint parts of acc, and each
 * block sums in a fixed order, so the result does not depend on the thread count. */
typedef struct padbw_job {
    bool f64;
    const char *g;  /* contiguous, compute type, padded shape */
    char *acc;      /* contiguous, compute type, input shape */
    int np;         /* plane dims (the padded tail) */
    int64_t oshape[NB_MAX_DIMS], lo[NB_MAX_DIMS], hi[NB_MAX_DIMS]; /* interior [lo, hi) in output coords */
    const int64_t *tab[NB_MAX_DIMS]; /* output index -> offset in the input plane */
    int64_t oplane, iplane;
} padbw_job;

#define PADBW_ROW(T)                                                                                    \
    do {                                                                                                \
        const T *gr = (const T *)j->g + b * j->oplane + r * W;                                          \
        T *ap = (T *)j->acc + b * j->iplane + base;                                                     \
        if (inner) {                                                                                    \
            for (int64_t i = 0; i < j->lo[L]; i++) ap[tl[i]] += gr[i];                                  \
            for (int64_t i = j->hi[L]; i < W; i++) ap[tl[i]] += gr[i];                                  \
        } else {                                                                                        \
            for (int64_t i = 0; i < W; i++) ap[tl[i]] += gr[i];                                         \
        }                                                                                               \
    } while (0)

static void padbw_chunk(void *ctx, int64_t begin, int64_t end) {
    const padbw_job *j = ctx;
    int L = j->np - 1;
    int64_t W = j->oshape[L], rows = j->oplane / W;
    const int64_t *tl = j->tab[L];
    for (int64_t b = begin; b < end; b++)
        for (int64_t r = 0; r < rows; r++) {
            int64_t rem = r, base = 0;
            bool inner = true;
            for (int d = L - 1; d >= 0; d--) {
                int64_t i = rem % j->oshape[d];
                rem /= j->oshape[d];
                base += j->tab[d][i];
                inner = inner && i >= j->lo[d] && i < j->hi[d];
            }
            if (j->f64) PADBW_ROW(double);
            else PADBW_ROW(float);
        }
}

/* gin = the interior of g copied into place (one strided copy), then the border pass. */
static int pad_backward_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    static const char fn[] = "nb_pad_backward";
    nb_tensor *g = in[0], *o = out[0];
    int nd = g->ndim, mode = (int)a->ints[0], np = (a->n_ints - 1) / 2;
    nb_dtype ct = nbk_compute_type(g->dtype);
    size_t z = nb_dtype_size(ct);
    int64_t on = nbc_numel(o->ndim, o->shape);
    if (on == 0) return 0;
    if (np == 0) { /* nothing padded: the gradient passes through */
        nbk_copy(nbc_ptr(o), o->dtype, o->strides, nbc_ptr(g), g->dtype, g->strides, nd, g->shape);
        return 0;
    }
    nbo_buffer gb;
    if (nbo_buffer_get(fn, g, ct, &gb)) return NB_ERR_NOMEM;
    size_t acap = 0, tcap = 0;
    void *acc = o->dtype == ct ? nbc_ptr(o) : nbc_block_alloc((size_t)on * z, &acap);
    int64_t ttotal = 1;
    for (int d = nd - np; d < nd; d++) ttotal += g->shape[d];
    int64_t *tabs = nbc_block_alloc(sizeof(int64_t) * (size_t)ttotal, &tcap);
    if (!acc || !tabs) {
        if (acap) nbc_block_free(acc, acap);
        if (tabs) nbc_block_free(tabs, tcap);
        nbo_buffer_release(&gb);
        return nbc_oom(fn);
    }
    padbw_job j = {.f64 = ct == NB_F64, .g = gb.data, .acc = acc, .np = np, .oplane = 1, .iplane = 1};
    int64_t box[NB_MAX_DIMS], gstr[NB_MAX_DIMS], astr[NB_MAX_DIMS], goff = 0, aoff = 0;
    bool crop = false, empty = false;
    nbc_contiguous_strides(nd, g->shape, gstr);
    nbc_contiguous_strides(nd, o->shape, astr);
    int64_t *t = tabs;
    for (int d = 0; d < nd; d++) {
        int64_t l = pad_left(a, nd, d), r = pad_right(a, nd, d), s = o->shape[d], os = g->shape[d];
        int64_t lo = l > 0 ? l : 0, hi = l + s < os ? l + s : os;
        crop = crop || l < 0 || r < 0;
        box[d] = hi - lo;
        empty = empty || box[d] <= 0;
        goff += lo * gstr[d];
        aoff += (lo - l) * astr[d];
        int k = d - (nd - np);
        if (k < 0) continue;
        j.oshape[k] = os, j.lo[k] = lo, j.hi[k] = hi, j.tab[k] = t;
        for (int64_t i = 0; i < os; i++) t[i] = pad_map(mode, i, s, l) * astr[d];
        t += os;
        j.oplane *= os;
        j.iplane *= s;
    }
    if (crop || empty) memset(acc, 0, (size_t)on * z);
    if (!empty)
        nbk_copy((char *)acc + (size_t)aoff * z, ct, astr, (const char *)gb.data + (size_t)goff * z, ct, gstr, nd, box);
    int64_t blocks = on / j.iplane, grain = j.oplane >= 32768 ? 1 : 32768 / j.oplane;
    nbc_parallel_for(blocks, grain, padbw_chunk, &j);
    if (acc != nbc_ptr(o)) nbk_convert(nbc_ptr(o), o->dtype, acc, ct, on);
    if (acap) nbc_block_free(acc, acap);
    nbc_block_free(tabs, tcap);
    nbo_buffer_release(&gb);
    return 0;
}

static int pad_backward_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = nbo_apply1(NBO_pad, &g[0], 1, c->attrs);
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_pad_backward = {
    .name = "pad_backward", .bw_name = "PadBackwardBackward", .n_in = 1, .n_out = 1,
    .attrs = "ints=[mode, pads...]", .torch = "torch.ops.aten.reflection_pad2d_backward (and replication / circular)",
    .summary = "sum the gradient of a reflect / replicate / circular pad back onto the elements it copied (gradient of pad)",
    .infer = pad_backward_infer, .forward = pad_backward_forward, .backward = pad_backward_bw};

nb_tensor *nb_pad(nb_tensor *x, int n_pad, const int64_t *pad, nb_pad_mode mode, double value) {
    static const char fn[] = "nb_pad";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if ((unsigned)mode > NB_PAD_CIRCULAR) return nbc_error(NB_ERR_ARG, "%s: invalid mode %d", fn, (int)mode), NULL;
    if (n_pad < 0 || (n_pad > 0 && !pad) || n_pad % 2 != 0)
        return nbc_error(NB_ERR_ARG, "%s: padding length must be even (pairs (left, right) per dim); got %d values", fn,
                         n_pad), NULL;
    if (n_pad / 2 > x->ndim)
        return nbc_error(NB_ERR_ARG, "%s: padding of %d values (%d dims) is too long for an input of %s", fn, n_pad,
                         n_pad / 2, nbc_desc(x)), NULL;
    if (mode != NB_PAD_CONSTANT && value != 0.0)
        return nbc_error(NB_ERR_ARG, "%s: a fill value (%g) is only allowed in constant mode, not %s", fn, value,
                         k_pad_modes[mode]), NULL;
    nb_attrs a = {.n_ints = 1 + n_pad, .ints = {mode}, .f0 = value};
    for (int i = 0; i < n_pad; i++) a.ints[1 + i] = pad[i];
    return nbo_apply1(NBO_pad, &x, 1, &a);
}
