/* tests/test_ops_layout.c — pad (every mode, 1-D / 2-D / 3-D pads of 3-D / 4-D / 5-D inputs, reflect
 * at size - 1, negative constant pads), repeat, tile, tril, triu, flip, roll, diagonal and einsum
 * against plain f64 references computed here by index arithmetic (einsum: a loop over every label
 * assignment). Inputs come contiguous, transposed, stepped and expanded, in every dtype the op takes
 * (data movement is exact, so every dtype compares exactly); the gradients of pad and diagonal
 * (pad_backward, diagonal_backward) are checked against reference scatter-adds; every error path is
 * checked for a message naming the function and the offending shapes. */
#include "ref.h"

/* ---- reference helpers ---------------------------------------------------------------------------- */

static void unravel(int64_t i, int nd, const int64_t *shape, int64_t *idx) {
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = shape[d] ? i % shape[d] : 0;
        i = shape[d] ? i / shape[d] : 0;
    }
}
static int64_t ravel(int nd, const int64_t *shape, const int64_t *idx) {
    int64_t k = 0;
    for (int d = 0; d < nd; d++) k = k * shape[d] + idx[d];
    return k;
}

/* out[o] = x[map(o)] (or fill when map returns false) for every output element. */
typedef bool (*index_map)(const void *ctx, const int64_t *oidx, int64_t *iidx);
static double *ref_map(const double *x, int nd, const int64_t *shape, int ond, const int64_t *oshape, index_map f,
                       const void *ctx, double fill) {
    int64_t n = ref_numel(ond, oshape);
    double *o = ref_darray(n);
    int64_t oi[NB_MAX_DIMS], ii[NB_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(i, ond, oshape, oi);
        o[i] = f(ctx, oi, ii) ? x[ravel(nd, shape, ii)] : fill;
    }
    return o;
}

/* The layouts every data-movement op is checked on: the four of ref.h plus an expanded input (a
 * [1, ...] tensor broadcast along dim 0; its values repeat accordingly). */
enum { L_EXPANDED = REF_LAYOUTS, L_COUNT };
static const char *layout_name(int l) { return l == L_EXPANDED ? "expanded" : ref_layout_name[l]; }

/* A tensor of values vals (C order over shape) in layout l. For L_EXPANDED, vals are rewritten so each
 * slice along dim 0 equals the first. */
static nb_tensor *make_input(double *vals, int nd, const int64_t *shape, nb_dtype dt, int l) {
    if (l != L_EXPANDED || nd == 0 || ref_numel(nd, shape) == 0) return ref_tensor(vals, nd, shape, dt, l == L_EXPANDED ? REF_CONTIG : (ref_layout)l);
    int64_t n = ref_numel(nd, shape), inner = shape[0] ? n / shape[0] : 0, one[NB_MAX_DIMS];
    for (int64_t i = inner; i < n; i++) vals[i] = vals[i % inner];
    memcpy(one, shape, sizeof(int64_t) * (size_t)nd);
    one[0] = 1;
    nb_tensor *b = ref_contig(vals, nd, one, dt);
    nb_tensor *t = nb_expand(b, nd, shape);
    nb_free(b);
    return t;
}

/* Exact values for dtype dt (non-negative for u8). */
static double *vals_for(int64_t n, nb_dtype dt) { return ref_values(n, dt, dt == NB_U8 ? 0 : -9, 9); }

static const nb_dtype k_move_dtypes[] = {NB_F32, NB_F64, NB_F16, NB_BF16, NB_I8, NB_U8, NB_I32, NB_I64, NB_BOOL};

/* ---- flip ------------------------------------------------------------------------------------------ */

typedef struct flip_ctx {
    int nd;
    const int64_t *shape;
    bool flip[NB_MAX_DIMS];
} flip_ctx;
static bool flip_map(const void *c, const int64_t *o, int64_t *i) {
    const flip_ctx *f = c;
    for (int d = 0; d < f->nd; d++) i[d] = f->flip[d] ? f->shape[d] - 1 - o[d] : o[d];
    return true;
}

static void test_flip(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 1, 1}, {7, 17, 1}, {3, 7, 5}, {2, 129, 1}};
    static const int nds[] = {1, 1, 2, 3, 2};
    for (int s = 0; s < REF_COUNT(nds); s++) {
        int nd = nds[s];
        const int64_t *shape = shapes[s];
        for (int mask = 0; mask < (1 << nd); mask++) {
            flip_ctx c = {nd, shape, {false}};
            int64_t dims[3];
            int n = 0;
            for (int d = 0; d < nd; d++)
                if (mask >> d & 1) {
                    c.flip[d] = true;
                    dims[n] = (n % 2) ? d - nd : d; /* negative dims too */
                    n++;
                }
            for (int t = 0; t < REF_COUNT(k_move_dtypes); t++)
                for (int l = 0; l < L_COUNT; l++) {
                    nb_dtype dt = k_move_dtypes[t];
                    double *v = vals_for(ref_numel(nd, shape), dt);
                    nb_tensor *x = make_input(v, nd, shape, dt, l);
                    double *e = ref_map(v, nd, shape, nd, shape, flip_map, &c, 0);
                    ref_set_ctx("flip %s mask %d %s %s", ref_shape_str(nd, shape), mask, nb_dtype_name(dt), layout_name(l));
                    CHECK_REF(nb_flip(x, n, dims), dt, nd, shape, e, 0, 0);
                }
        }
    }
    /* 0-d and empty */
    ref_set_ctx("flip 0-d / empty");
    CHECK_REF(nb_flip(nb_scalar(3, NB_F32), NB_LIST(0)), NB_F32, NB_SCALAR, ((const double[]){3}), 0, 0);
    CHECK_REF(nb_flip(nb_zeros(NB_SHAPE(0, 3), NB_F32), NB_LIST(0, 1)), NB_F32, NB_SHAPE(0, 3), NULL, 0, 0);
    CHECK_REF(nb_flip(nb_zeros(NB_SHAPE(2, 3), NB_F32), 0, NULL), NB_F32, NB_SHAPE(2, 3), ((const double[6]){0}), 0, 0);
    /* errors */
    nb_tensor *x = nb_zeros(NB_SHAPE(2, 3), NB_F32);
    CHECK_NULL_WITH(nb_flip(x, NB_LIST(0, -2)), "nb_flip", "multiple times");
    CHECK_NULL_WITH(nb_flip(x, NB_LIST(2)), "nb_flip", "2");
    CHECK_NULL_WITH(nb_flip(NULL, NB_LIST(0)), "nb_flip", "NULL");
}

/* ---- roll ------------------------------------------------------------------------------------------ */

typedef struct roll_ctx {
    int nd;
    const int64_t *shape;
    int64_t shift[NB_MAX_DIMS]; /* total per dim */
} roll_ctx;
static bool roll_map(const void *c, const int64_t *o, int64_t *i) {
    const roll_ctx *r = c;
    for (int d = 0; d < r->nd; d++) {
        int64_t s = r->shape[d];
        i[d] = (((o[d] - r->shift[d]) % s) + s) % s;
    }
    return true;
}

static void test_roll(void) {
    static const int64_t shape3[] = {3, 7, 5}, shape2[] = {7, 17}, shape1[] = {129};
    static const struct {
        int nd;
        const int64_t *shape;
        int n;
        int64_t shifts[3], dims[3];
    } cases[] = {
        {1, shape1, 1, {1}, {0}},          {1, shape1, 1, {-130}, {0}},        {1, shape1, 1, {258}, {-1}},
        {2, shape2, 1, {3}, {1}},           {2, shape2, 2, {-2, 20}, {0, 1}},   {2, shape2, 2, {3, 4}, {1, 1}},
        {3, shape3, 3, {1, -8, 12}, {0, 1, 2}}, {3, shape3, 2, {2, 0}, {-1, 0}}, {3, shape3, 1, {0}, {1}},
    };
    for (int k = 0; k < REF_COUNT(cases); k++) {
        int nd = cases[k].nd;
        const int64_t *shape = cases[k].shape;
        roll_ctx c = {nd, shape, {0}};
        for (int i = 0; i < cases[k].n; i++) {
            int64_t d = cases[k].dims[i] < 0 ? cases[k].dims[i] + nd : cases[k].dims[i];
            c.shift[d] += cases[k].shifts[i];
        }
        for (int t = 0; t < REF_COUNT(k_move_dtypes); t++)
            for (int l = 0; l < L_COUNT; l++) {
                nb_dtype dt = k_move_dtypes[t];
                double *v = vals_for(ref_numel(nd, shape), dt);
                nb_tensor *x = make_input(v, nd, shape, dt, l);
                double *e = ref_map(v, nd, shape, nd, shape, roll_map, &c, 0);
                ref_set_ctx("roll case %d %s %s", k, nb_dtype_name(dt), layout_name(l));
                CHECK_REF(nb_roll(x, cases[k].n, cases[k].shifts, cases[k].dims), dt, nd, shape, e, 0, 0);
            }
    }
    /* flattened form: roll the C-order sequence */
    for (int l = 0; l < L_COUNT; l++)
        for (int64_t sh = -9; sh <= 40; sh += 7) {
            int64_t n = 35;
            double *v = ref_values(n, NB_F64, -9, 9);
            nb_tensor *x = make_input(v, NB_SHAPE(5, 7), NB_F64, l);
            double *e = ref_darray(n);
            for (int64_t i = 0; i < n; i++) e[i] = v[(((i - sh) % n) + n) % n];
            ref_set_ctx("roll flattened shift %lld %s", (long long)sh, layout_name(l));
            CHECK_REF(nb_roll(x, 1, &sh, NULL), NB_F64, NB_SHAPE(5, 7), e, 0, 0);
        }
    ref_set_ctx("roll 0-d / empty");
    CHECK_REF(nb_roll(nb_scalar(2, NB_I32), 1, (const int64_t[]){3}, NULL), NB_I32, NB_SCALAR, ((const double[]){2}), 0, 0);
    CHECK_REF(nb_roll(nb_zeros(NB_SHAPE(0, 3), NB_F32), 2, (const int64_t[]){1, 1}, (const int64_t[]){0, 1}), NB_F32,
              NB_SHAPE(0, 3), NULL, 0, 0);
    nb_tensor *x = nb_zeros(NB_SHAPE(2, 3), NB_F32);
    CHECK_NULL_WITH(nb_roll(x, 2, (const int64_t[]){1, 2}, NULL), "nb_roll", "without dims");
    CHECK_NULL_WITH(nb_roll(x, 1, (const int64_t[]){1}, (const int64_t[]){2}), "nb_roll", "2");
    CHECK_NULL_WITH(nb_roll(x, 0, NULL, NULL), "nb_roll", "at least one shift");
    CHECK_NULL_WITH(nb_roll(NULL, 1, (const int64_t[]){1}, NULL), "nb_roll", "NULL");
}

/* ---- repeat / tile --------------------------------------------------------------------------------- */

typedef struct rep_ctx {
    int nd, ond;
    const int64_t *shape;
} rep_ctx;
static bool rep_map(const void *c, const int64_t *o, int64_t *i) {
    const rep_ctx *r = c;
    for (int d = 0; d < r->nd; d++) i[d] = o[r->ond - r->nd + d] % r->shape[d];
    return true;
}

static void check_repeat(bool tile, int nd, const int64_t *shape, int n, const int64_t *reps) {
    int k = tile && n < nd ? nd : n;
    int64_t full[NB_MAX_DIMS], oshape[NB_MAX_DIMS];
    for (int i = 0; i < k; i++) full[i] = i < k - n ? 1 : reps[i - (k - n)];
    for (int i = 0; i < k; i++) oshape[i] = full[i] * (i >= k - nd ? shape[i - (k - nd)] : 1);
    rep_ctx c = {nd, k, shape};
    for (int t = 0; t < REF_COUNT(k_move_dtypes); t++)
        for (int l = 0; l < L_COUNT; l++) {
            nb_dtype dt = k_move_dtypes[t];
            double *v = vals_for(ref_numel(nd, shape), dt);
            nb_tensor *x = make_input(v, nd, shape, dt, l);
            double *e = ref_map(v, nd, shape, k, oshape, rep_map, &c, 0);
            ref_set_ctx("%s %s by %s %s %s", tile ? "tile" : "repeat", ref_shape_str(nd, shape), ref_shape_str(n, reps),
                        nb_dtype_name(dt), layout_name(l));
            CHECK_REF(tile ? nb_tile(x, n, reps) : nb_repeat(x, n, reps), dt, k, oshape, e, 0, 0);
        }
}

static void test_repeat_tile(void) {
    check_repeat(false, NB_SHAPE(7), NB_LIST(3));
    check_repeat(false, NB_SHAPE(7), NB_LIST(2, 1, 3));
    check_repeat(false, NB_SHAPE(1), NB_LIST(129));
    check_repeat(false, NB_SHAPE(7, 17), NB_LIST(1, 1));
    check_repeat(false, NB_SHAPE(7, 17), NB_LIST(2, 3));
    check_repeat(false, NB_SHAPE(3, 1, 5), NB_LIST(2, 1, 7, 1));
    check_repeat(false, NB_SHAPE(3, 4), NB_LIST(0, 2));
    check_repeat(true, NB_SHAPE(3, 4, 5), NB_LIST(2));
    check_repeat(true, NB_SHAPE(7, 17), NB_LIST(3, 1, 2));
    check_repeat(true, NB_SHAPE(7, 3), NB_LIST(2, 2));
    ref_set_ctx("repeat 0-d");
    CHECK_REF(nb_repeat(nb_scalar(5, NB_I64), NB_LIST(2, 3)), NB_I64, NB_SHAPE(2, 3), ((const double[]){5, 5, 5, 5, 5, 5}), 0, 0);
    CHECK_REF(nb_repeat(nb_scalar(5, NB_I64), 0, NULL), NB_I64, NB_SCALAR, ((const double[]){5}), 0, 0);
    CHECK_REF(nb_tile(nb_scalar(5, NB_I64), 0, NULL), NB_I64, NB_SCALAR, ((const double[]){5}), 0, 0);
    nb_tensor *x = nb_zeros(NB_SHAPE(2, 3), NB_F32);
    CHECK_NULL_WITH(nb_repeat(x, NB_LIST(2)), "nb_repeat", "[2, 3]", "can not be smaller");
    CHECK_NULL_WITH(nb_repeat(x, NB_LIST(2, -1)), "nb_repeat", "[2, -1]", "non-negative");
    CHECK_NULL_WITH(nb_tile(x, NB_LIST(1, 1, 1, 1, 1, 1, 1, 1, 1)), "nb_tile", "maximum");
    CHECK_NULL_WITH(nb_repeat(NULL, NB_LIST(2)), "nb_repeat", "NULL");
}

/* ---- tril / triu ----------------------------------------------------------------------------------- */

static void test_tril_triu(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 17, 1}, {17, 7, 1}, {3, 7, 5}, {2, 1, 129}};
    static const int nds[] = {2, 2, 2, 3, 3};
    static const int64_t diags[] = {0, 1, -1, 3, -5, 20, -20};
    for (int s = 0; s < REF_COUNT(nds); s++)
        for (int k = 0; k < REF_COUNT(diags); k++)
            for (int up = 0; up < 2; up++)
                for (int t = 0; t < REF_COUNT(k_move_dtypes); t++)
                    for (int l = 0; l < L_COUNT; l++) {
                        int nd = nds[s];
                        const int64_t *shape = shapes[s];
                        nb_dtype dt = k_move_dtypes[t];
                        int64_t n = ref_numel(nd, shape), idx[NB_MAX_DIMS];
                        double *v = vals_for(n, dt);
                        nb_tensor *x = make_input(v, nd, shape, dt, l);
                        double *e = ref_darray(n);
                        for (int64_t i = 0; i < n; i++) {
                            unravel(i, nd, shape, idx);
                            int64_t dj = idx[nd - 1] - idx[nd - 2];
                            e[i] = (up ? dj >= diags[k] : dj <= diags[k]) ? v[i] : 0;
                        }
                        ref_set_ctx("%s %s diagonal %lld %s %s", up ? "triu" : "tril", ref_shape_str(nd, shape),
                                    (long long)diags[k], nb_dtype_name(dt), layout_name(l));
                        CHECK_REF(up ? nb_triu(x, diags[k]) : nb_tril(x, diags[k]), dt, nd, shape, e, 0, 0);
                    }
    ref_set_ctx("tril empty");
    CHECK_REF(nb_tril(nb_zeros(NB_SHAPE(0, 3), NB_F32), 0), NB_F32, NB_SHAPE(0, 3), NULL, 0, 0);
    CHECK_REF(nb_triu(nb_zeros(NB_SHAPE(2, 0), NB_F32), 0), NB_F32, NB_SHAPE(2, 0), NULL, 0, 0);
    CHECK_NULL_WITH(nb_tril(nb_zeros(NB_SHAPE(3), NB_F32), 0), "nb_tril", "at least 2 dims", "[3]");
    CHECK_NULL_WITH(nb_triu(nb_scalar(1, NB_F32), 0), "nb_triu", "at least 2 dims");
    CHECK_NULL_WITH(nb_tril(NULL, 0), "nb_tril", "NULL");
}

/* ---- diagonal ------------------------------------------------------------------------------------- */

static bool shares_storage(nb_tensor *a, nb_tensor *b) {
    if (!a || !b || nb_numel(a) == 0 || nb_numel(b) == 0) return false;
    int64_t zero[NB_MAX_DIMS] = {0};
    double old = h_get(b, nb_ndim(b), zero), *before = ref_read(a), *after;
    nb_set(b, nb_ndim(b), zero, old == 1 ? 0 : 1);
    after = ref_read(a);
    nb_set(b, nb_ndim(b), zero, old);
    int64_t changed = 0;
    for (int64_t i = 0; i < nb_numel(a); i++) changed += before[i] != after[i];
    return changed == 1;
}

/* The reference diagonal of x (nd, shape) and its shape. */
static double *ref_diagonal(const double *x, int nd, const int64_t *shape, int64_t off, int d1, int d2, int *ond,
                            int64_t *oshape) {
    int64_t len = off >= 0 ? (shape[d2] - off < shape[d1] ? shape[d2] - off : shape[d1])
                           : (shape[d1] + off < shape[d2] ? shape[d1] + off : shape[d2]);
    if (len < 0) len = 0;
    int k = 0;
    for (int d = 0; d < nd; d++)
        if (d != d1 && d != d2) oshape[k++] = shape[d];
    oshape[k++] = len;
    *ond = k;
    int64_t n = ref_numel(k, oshape), oi[NB_MAX_DIMS], ii[NB_MAX_DIMS];
    double *o = ref_darray(n);
    for (int64_t i = 0; i < n; i++) {
        unravel(i, k, oshape, oi);
        for (int d = 0, j = 0; d < nd; d++)
            if (d != d1 && d != d2) ii[d] = oi[j++];
        int64_t t = oi[k - 1];
        ii[d1] = off >= 0 ? t : t - off;
        ii[d2] = off >= 0 ? t + off : t;
        o[i] = x[ravel(nd, shape, ii)];
    }
    return o;
}

static void test_diagonal(void) {
    static const int64_t shapes[][3] = {{7, 7, 1}, {7, 17, 1}, {17, 7, 1}, {7, 3, 17}, {1, 129, 1}};
    static const int nds[] = {2, 2, 2, 3, 2};
    static const int64_t offs[] = {0, 1, -1, 5, -6, 16, -17, 40};
    static const int dimpairs[][2] = {{0, 1}, {1, 0}, {-1, 0}, {0, 2}, {2, 1}};
    for (int s = 0; s < REF_COUNT(nds); s++)
        for (int p = 0; p < REF_COUNT(dimpairs); p++)
            for (int k = 0; k < REF_COUNT(offs); k++)
                for (int t = 0; t < REF_COUNT(k_move_dtypes); t++)
                    for (int l = 0; l < L_COUNT; l++) {
                        int nd = nds[s], a = dimpairs[p][0], b = dimpairs[p][1];
                        if (a >= nd || b >= nd) continue;
                        const int64_t *shape = shapes[s];
                        nb_dtype dt = k_move_dtypes[t];
                        double *v = vals_for(ref_numel(nd, shape), dt);
                        nb_tensor *x = make_input(v, nd, shape, dt, l);
                        int ond;
                        int64_t oshape[NB_MAX_DIMS];
                        double *e = ref_diagonal(v, nd, shape, offs[k], a < 0 ? a + nd : a, b < 0 ? b + nd : b, &ond, oshape);
                        ref_set_ctx("diagonal %s offset %lld dims (%d, %d) %s %s", ref_shape_str(nd, shape),
                                    (long long)offs[k], a, b, nb_dtype_name(dt), layout_name(l));
                        nb_tensor *y = nb_diagonal(x, offs[k], a, b);
                        CHECK_REF(y, dt, ond, oshape, e, 0, 0);
                        if (l == REF_CONTIG && dt == NB_F32 && y && nb_numel(y) > 0)
                            CHECK_MSG(shares_storage(x, y), "%s: not a view", ref_ctx);
                    }
    nb_tensor *x = nb_zeros(NB_SHAPE(2, 3), NB_F32);
    CHECK_NULL_WITH(nb_diagonal(x, 0, 1, -1), "nb_diagonal", "identical");
    CHECK_NULL_WITH(nb_diagonal(x, 0, 0, 2), "nb_diagonal", "2");
    CHECK_NULL_WITH(nb_diagonal(nb_zeros(NB_SHAPE(3), NB_F32), 0, 0, 1), "nb_diagonal", "at least 2 dims", "[3]");
    CHECK_NULL_WITH(nb_diagonal(NULL, 0, 0, 1), "nb_diagonal", "NULL");
}

/* The gradient of diagonal (diagonal_backward): zeros with g on the diagonal. */
static void test_diagonal_backward(void) {
    static const int64_t offs[] = {0, 2, -3, 30};
    for (int k = 0; k < REF_COUNT(offs); k++)
        for (int ft = 0; ft < 2; ft++) {
            nb_dtype dt = ft ? NB_F64 : NB_F32;
            int64_t shape[3] = {7, 3, 17}, n = 7 * 3 * 17;
            nb_tensor *x = nb_param(nb_zeros(3, shape, dt));
            nb_tensor *y = nb_diagonal(x, offs[k], 2, 0);
            int64_t m = nb_numel(y);
            double *gv = ref_values(m, dt, -4, 4);
            nb_tensor *g = ref_contig(gv, nb_ndim(y), nb_shape(y), dt);
            nb_tensor *gx = NULL;
            nb_autograd_opts o = {.grad_outputs = &g};
            CHECK(nb_autograd_grad(&y, 1, &x, 1, &o, &gx) == 0);
            /* reference: scatter g onto the diagonal positions */
            double *idx = ref_darray(n), *e = ref_darray(n);
            for (int64_t i = 0; i < n; i++) idx[i] = (double)i;
            int ond;
            int64_t oshape[NB_MAX_DIMS];
            double *pos = ref_diagonal(idx, 3, shape, offs[k], 2, 0, &ond, oshape);
            for (int64_t i = 0; i < m; i++) e[(int64_t)pos[i]] += gv[i];
            ref_set_ctx("diagonal_backward offset %lld %s", (long long)offs[k], nb_dtype_name(dt));
            CHECK_REF(gx, dt, 3, shape, e, 0, 0);
            CHECK(gx && strcmp(nb_grad_fn_name(y), "DiagonalBackward") == 0);
        }
}

/* ---- pad ------------------------------------------------------------------------------------------- */

static const char *const k_modes[] = {"constant", "reflect", "replicate", "circular"};

typedef struct pad_ctx {
    int nd, mode;
    const int64_t *shape;
    int64_t l[NB_MAX_DIMS], r[NB_MAX_DIMS];
} pad_ctx;
static bool pad_map(const void *c, const int64_t *o, int64_t *i) {
    const pad_ctx *p = c;
    for (int d = 0; d < p->nd; d++) {
        int64_t s = p->shape[d], j = o[d] - p->l[d];
        if (j < 0 || j >= s) {
            switch (p->mode) {
            case NB_PAD_CONSTANT: return false;
            case NB_PAD_REFLECT: j = j < 0 ? -j : 2 * (s - 1) - j; break;
            case NB_PAD_REPLICATE: j = j < 0 ? 0 : s - 1; break;
            default: j = ((j % s) + s) % s; break;
            }
        }
        i[d] = j;
    }
    return true;
}

/* pad_ctx for pads (n values, torch order) of a tensor of shape (nd, shape); output shape in oshape. */
static pad_ctx pad_setup(int mode, int nd, const int64_t *shape, int n, const int64_t *pads, int64_t *oshape) {
    pad_ctx c = {nd, mode, shape, {0}, {0}};
    for (int p = 0; p < n / 2; p++) {
        c.l[nd - 1 - p] = pads[2 * p];
        c.r[nd - 1 - p] = pads[2 * p + 1];
    }
    for (int d = 0; d < nd; d++) oshape[d] = shape[d] + c.l[d] + c.r[d];
    return c;
}

static void check_pad(int mode, int nd, const int64_t *shape, int n, const int64_t *pads) {
    int64_t oshape[NB_MAX_DIMS];
    pad_ctx c = pad_setup(mode, nd, shape, n, pads, oshape);
    for (int t = 0; t < REF_COUNT(k_move_dtypes); t++)
        for (int l = 0; l < L_COUNT; l++) {
            nb_dtype dt = k_move_dtypes[t];
            double fill = mode != NB_PAD_CONSTANT ? 0 : dt == NB_BOOL ? 1 : nb_dtype_is_float(dt) ? 2.5 : 3;
            double *v = vals_for(ref_numel(nd, shape), dt);
            nb_tensor *x = make_input(v, nd, shape, dt, l);
            double *e = ref_map(v, nd, shape, nd, oshape, pad_map, &c, fill);
            ref_set_ctx("pad %s %s pads %s %s %s", k_modes[mode], ref_shape_str(nd, shape), ref_shape_str(n, pads),
                        nb_dtype_name(dt), layout_name(l));
            CHECK_REF(nb_pad(x, n, pads, (nb_pad_mode)mode, fill), dt, nd, oshape, e, 0, 0);
        }
}

/* Random valid pads for k padded dims of shape (nd, shape). */
static void random_pads(int mode, int nd, const int64_t *shape, int k, int64_t *pads) {
    for (int p = 0; p < k; p++) {
        int64_t s = shape[nd - 1 - p];
        for (int side = 0; side < 2; side++) {
            int64_t v;
            switch (mode) {
            case NB_PAD_CONSTANT: v = (int64_t)(ref_next() % 7) - 2; break;
            case NB_PAD_REFLECT: v = (int64_t)(ref_next() % (uint64_t)s); break;
            case NB_PAD_REPLICATE: v = (int64_t)(ref_next() % 6); break;
            default: v = (int64_t)(ref_next() % (uint64_t)(s + 1)); break;
            }
            pads[2 * p + side] = v;
        }
        if (mode == NB_PAD_CONSTANT && s + pads[2 * p] + pads[2 * p + 1] < 0) pads[2 * p] = pads[2 * p + 1] = 0;
    }
}

static void test_pad(void) {
    static const int64_t s3[] = {2, 3, 7}, s4[] = {2, 3, 5, 7}, s5[] = {1, 2, 3, 4, 5};
    ref_seed(11);
    for (int mode = 0; mode < 4; mode++) {
        /* 1-D pads of a 3-D input, 2-D of 4-D, 3-D of 5-D: the edge cases, then random ones */
        int64_t s_1 = 7;
        check_pad(mode, 3, s3, 2, mode == NB_PAD_REFLECT ? (const int64_t[]){s_1 - 1, s_1 - 1}
                                  : mode == NB_PAD_CIRCULAR ? (const int64_t[]){s_1, 1}
                                  : mode == NB_PAD_CONSTANT ? (const int64_t[]){-2, 3} : (const int64_t[]){5, 9});
        check_pad(mode, 4, s4, 4, mode == NB_PAD_REFLECT ? (const int64_t[]){6, 6, 4, 4}
                                  : mode == NB_PAD_CIRCULAR ? (const int64_t[]){0, 7, 5, 2}
                                  : mode == NB_PAD_CONSTANT ? (const int64_t[]){-7, 0, -1, -4} : (const int64_t[]){1, 0, 0, 3});
        check_pad(mode, 5, s5, 6, mode == NB_PAD_REFLECT ? (const int64_t[]){4, 4, 3, 3, 2, 2}
                                  : mode == NB_PAD_CIRCULAR ? (const int64_t[]){5, 5, 4, 4, 3, 3}
                                  : mode == NB_PAD_CONSTANT ? (const int64_t[]){1, -1, 2, 0, -3, 1} : (const int64_t[]){2, 2, 1, 1, 3, 3});
        for (int rep = 0; rep < 3; rep++) {
            int64_t pads[6];
            random_pads(mode, 3, s3, 1, pads);
            check_pad(mode, 3, s3, 2, pads);
            random_pads(mode, 4, s4, 2, pads);
            check_pad(mode, 4, s4, 4, pads);
            random_pads(mode, 5, s5, 3, pads);
            check_pad(mode, 5, s5, 6, pads);
        }
        /* zero pads, a long row, and (non-constant) a 1-D tensor and a pad of every dim */
        check_pad(mode, 3, s3, 0, NULL);
        check_pad(mode, 2, (const int64_t[]){3, 129}, 2, (const int64_t[]){1, 17});
        check_pad(mode, 1, (const int64_t[]){7}, 2, (const int64_t[]){3, 2});
        check_pad(mode, 2, (const int64_t[]){3, 7}, 4, (const int64_t[]){1, 2, 2, 1});
    }
    /* circular with negative pads (crop before wrapping) and constant to an empty result */
    check_pad(NB_PAD_CIRCULAR, 2, (const int64_t[]){3, 7}, 2, (const int64_t[]){-2, 3});
    check_pad(NB_PAD_CONSTANT, 2, (const int64_t[]){3, 7}, 2, (const int64_t[]){-4, -3});
    check_pad(NB_PAD_CONSTANT, 2, (const int64_t[]){0, 7}, 4, (const int64_t[]){1, 1, 2, 1});
    ref_set_ctx("pad 0-d");
    CHECK_REF(nb_pad(nb_scalar(4, NB_F32), 0, NULL, NB_PAD_CONSTANT, 0), NB_F32, NB_SCALAR, ((const double[]){4}), 0, 0);

    nb_tensor *x = nb_zeros(NB_SHAPE(2, 3, 4), NB_F32);
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(1, 2, 3), NB_PAD_CONSTANT, 0), "nb_pad", "even");
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(1, 1, 1, 1, 1, 1, 1, 1), NB_PAD_CONSTANT, 0), "nb_pad", "too long", "[2, 3, 4]");
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(4, 0), NB_PAD_REFLECT, 0), "nb_pad", "reflect", "less than", "[2, 3, 4]");
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(0, 0, 0, 3), NB_PAD_REFLECT, 0), "nb_pad", "reflect", "(0, 3)", "[2, 3, 4]");
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(5, 0), NB_PAD_CIRCULAR, 0), "nb_pad", "circular", "more than once", "[2, 3, 4]");
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(-3, -1), NB_PAD_REPLICATE, 0), "nb_pad", "replicate", "no element", "[2, 3, 4]");
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(-3, -2), NB_PAD_CONSTANT, 0), "nb_pad", "negative size", "[2, 3, 4]");
    CHECK_NULL_WITH(nb_pad(nb_zeros(NB_SHAPE(2, 0), NB_F32), NB_LIST(1, 1), NB_PAD_REPLICATE, 0), "nb_pad", "non-empty",
                    "[2, 0]");
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(1, 1), NB_PAD_REFLECT, 2.0), "nb_pad", "only allowed in constant");
    CHECK_NULL_WITH(nb_pad(x, NB_LIST(1, 1), (nb_pad_mode)7, 0), "nb_pad", "invalid mode");
    CHECK_NULL_WITH(nb_pad(NULL, NB_LIST(1, 1), NB_PAD_CONSTANT, 0), "nb_pad", "NULL");
}

/* The gradient of every pad mode against a reference scatter-add (pad_backward for the non-constant
 * modes; a pad with the opposite pads for constant). */
static void test_pad_backward(void) {
    static const int64_t s4[] = {2, 3, 5, 7};
    ref_seed(5);
    for (int mode = 0; mode < 4; mode++)
        for (int t = 0; t < REF_COUNT(ref_float_dtypes); t++)
            for (int rep = 0; rep < 3; rep++) {
                nb_dtype dt = ref_float_dtypes[t];
                int64_t pads[4], oshape[4];
                random_pads(mode, 4, s4, 2, pads);
                if (rep == 0 && mode == NB_PAD_REFLECT) pads[0] = pads[1] = 6, pads[2] = pads[3] = 4;
                pad_ctx c = pad_setup(mode, 4, s4, 4, pads, oshape);
                nb_tensor *x = nb_param(nb_zeros(4, s4, dt));
                nb_tensor *y = nb_pad(x, 4, pads, (nb_pad_mode)mode, 0);
                int64_t m = ref_numel(4, oshape), n = ref_numel(4, s4), oi[4], ii[4];
                double *gv = ref_values(m, dt, -4, 4), *e = ref_darray(n);
                for (int64_t i = 0; i < m; i++) {
                    unravel(i, 4, oshape, oi);
                    if (pad_map(&c, oi, ii)) e[ravel(4, s4, ii)] += gv[i];
                }
                nb_tensor *g = ref_contig(gv, 4, oshape, dt), *gx = NULL;
                nb_autograd_opts o = {.grad_outputs = &g};
                CHECK(y && nb_autograd_grad(&y, 1, &x, 1, &o, &gx) == 0);
                ref_set_ctx("gradient of pad %s pads %s %s", k_modes[mode], ref_shape_str(4, pads), nb_dtype_name(dt));
                double *er = ref_darray(n); /* f16 / bf16 round the accumulated sum once */
                for (int64_t i = 0; i < n; i++) er[i] = e[i];
                CHECK_REF(gx, dt, 4, s4, er, ref_rtol(dt), ref_rtol(dt) * 4);
            }
    /* a strided gradient (transposed) reaches pad_backward through its strides */
    nb_tensor *x = nb_param(nb_zeros(NB_SHAPE(3, 4), NB_F64));
    nb_tensor *y = nb_pad(x, NB_LIST(2, 1, 1, 0), NB_PAD_REFLECT, 0); /* [4, 7] */
    nb_tensor *gt = nb_transpose(nb_ones(NB_SHAPE(7, 4), NB_F64), 0, 1), *gx = NULL;
    nb_autograd_opts o = {.grad_outputs = &gt};
    CHECK(nb_autograd_grad(&y, 1, &x, 1, &o, &gx) == 0);
    /* counts of copies of each element: rows (1, 0) reflect -> row 1 twice; cols (2, 1) -> col 1 twice, col 2 three times */
    static const double cnt_r[3] = {1, 2, 1}, cnt_c[4] = {1, 2, 3, 1};
    double e[12];
    for (int i = 0; i < 12; i++) e[i] = cnt_r[i / 4] * cnt_c[i % 4];
    ref_set_ctx("pad_backward of a transposed gradient");
    CHECK_REF(gx, NB_F64, NB_SHAPE(3, 4), e, 0, 0);
}

/* ---- einsum ---------------------------------------------------------------------------------------- */

/* Plain reference for an explicit, letters-only equation: loop over every assignment of the labels. */
static double *ref_einsum(const char *eq, int n, double *const *vals, const int *nds, int64_t (*shapes)[NB_MAX_DIMS],
                          int *ond, int64_t *oshape) {
    char terms[8][16], out[16];
    int nt = 0, k = 0;
    const char *p = eq;
    for (;; p++) {
        if (*p == ',' || *p == '-') {
            terms[nt][k] = 0, nt++, k = 0;
            if (*p == '-') break;
        } else {
            terms[nt][k++] = *p;
        }
    }
    snprintf(out, sizeof out, "%s", p + 2);
    (void)n;
    int64_t size[128] = {0};
    char labels[64];
    int nl = 0;
    for (int t = 0; t < nt; t++)
        for (int d = 0; terms[t][d]; d++) {
            int c = terms[t][d];
            if (!size[c]) labels[nl++] = (char)c;
            size[c] = shapes[t][d];
        }
    *ond = (int)strlen(out);
    for (int d = 0; d < *ond; d++) oshape[d] = size[(int)out[d]];
    double *o = ref_darray(ref_numel(*ond, oshape));
    int64_t total = 1, val[128] = {0};
    for (int i = 0; i < nl; i++) total *= size[(int)labels[i]];
    for (int64_t a = 0; a < total; a++) {
        int64_t rem = a;
        for (int i = nl - 1; i >= 0; i--) {
            val[(int)labels[i]] = rem % size[(int)labels[i]];
            rem /= size[(int)labels[i]];
        }
        double prod = 1;
        for (int t = 0; t < nt; t++) {
            int64_t idx = 0;
            for (int d = 0; terms[t][d]; d++) idx = idx * shapes[t][d] + val[(int)terms[t][d]];
            prod *= vals[t][idx];
        }
        int64_t oi = 0;
        for (int d = 0; d < *ond; d++) oi = oi * oshape[d] + val[(int)out[d]];
        o[oi] += prod;
    }
    return o;
}

/* einsum(eq) on operands of the given shapes (layout l for every operand, dtype dt) against ref_eq
 * (the explicit letters-only form of eq). */
static void check_einsum(const char *eq, const char *ref_eq, int n, const int *nds, int64_t (*shapes)[NB_MAX_DIMS],
                         nb_dtype dt, int l) {
    double *vals[8];
    nb_tensor *xs[8];
    for (int k = 0; k < n; k++) {
        vals[k] = ref_values(ref_numel(nds[k], shapes[k]), dt, -2, 2);
        xs[k] = make_input(vals[k], nds[k], shapes[k], dt, l == L_EXPANDED && nds[k] == 0 ? REF_CONTIG : l);
    }
    int ond;
    int64_t oshape[NB_MAX_DIMS];
    double *e = ref_einsum(ref_eq, n, vals, nds, shapes, &ond, oshape);
    double tol = dt == NB_F64 ? 1e-10 : dt == NB_F32 ? 1e-4 : dt == NB_F16 ? 0.05 : 0.3;
    ref_set_ctx("einsum \"%s\" %s %s", eq, nb_dtype_name(dt), layout_name(l));
    CHECK_REF(nb_einsum(eq, xs, n), dt, ond, oshape, e, dt == NB_F64 || dt == NB_F32 ? tol : 2 * ref_rtol(dt), tol);
}

#define SH(...) {__VA_ARGS__}
typedef int64_t shp[NB_MAX_DIMS];

static void test_einsum_equations(void) {
    static const struct {
        const char *eq, *ref;
        int n, nd[3];
        int64_t shape[3][NB_MAX_DIMS];
    } cases[] = {
        {"ij,jk->ik", "ij,jk->ik", 2, {2, 2}, {SH(7, 17), SH(17, 5)}},
        {"ij,jk->ik", "ij,jk->ik", 2, {2, 2}, {SH(129, 7), SH(7, 1)}},
        {"ij,jk->ik", "ij,jk->ik", 2, {2, 2}, {SH(1, 1), SH(1, 1)}},
        {"bij,bjk->bik", "bij,bjk->bik", 2, {3, 3}, {SH(3, 7, 5), SH(3, 5, 17)}},
        {"bhqd,bhkd->bhqk", "bhqd,bhkd->bhqk", 2, {4, 4}, {SH(2, 3, 7, 5), SH(2, 3, 17, 5)}},
        {"bhqk,bhkd->bhqd", "bhqk,bhkd->bhqd", 2, {4, 4}, {SH(2, 3, 7, 17), SH(2, 3, 17, 5)}},
        {"i,i->", "i,i->", 2, {1, 1}, {SH(129), SH(129)}},
        {"ij->ji", "ij->ji", 1, {2}, {SH(7, 17)}},
        {"ii->i", "ii->i", 1, {2}, {SH(7, 7)}},
        {"ij->", "ij->", 1, {2}, {SH(7, 17)}},
        {"bi,bj->bij", "bi,bj->bij", 2, {2, 2}, {SH(3, 7), SH(3, 17)}},
        {"bn,anm,bm->ba", "bn,anm,bm->ba", 3, {2, 3, 2}, {SH(3, 7), SH(5, 7, 4), SH(3, 4)}},
        {"ij,jk", "ij,jk->ik", 2, {2, 2}, {SH(7, 3), SH(3, 5)}},
        {"ba", "ba->ab", 1, {2}, {SH(7, 3)}},
        {"ij,ij", "ij,ij->", 2, {2, 2}, {SH(7, 3), SH(7, 3)}},
        {"i,j", "i,j->ij", 2, {1, 1}, {SH(7), SH(3)}},
        {"ii", "ii->", 1, {2}, {SH(5, 5)}},
        {"iij->ji", "iij->ji", 1, {3}, {SH(3, 3, 7)}},
        {"ij,ij->ij", "ij,ij->ij", 2, {2, 2}, {SH(7, 17), SH(7, 17)}},
        {"ij,kj->ki", "ij,kj->ki", 2, {2, 2}, {SH(7, 5), SH(3, 5)}},
        {"ijk,ikl->jl", "ijk,ikl->jl", 2, {3, 3}, {SH(2, 3, 4), SH(2, 4, 5)}},
        {"abc,cd,de->abe", "abc,cd,de->abe", 3, {3, 2, 2}, {SH(2, 3, 4), SH(4, 5), SH(5, 2)}},
        {" i j , j k -> i k ", "ij,jk->ik", 2, {2, 2}, {SH(2, 3), SH(3, 4)}},
        {"ij,jk->ik", "ij,jk->ik", 2, {2, 2}, {SH(7, 0), SH(0, 5)}},
        {"i->", "i->", 1, {1}, {SH(0)}},
        {"->", "->", 1, {0}, {SH(0)}},
        {",->", ",->", 2, {0, 0}, {SH(0), SH(0)}},
        {"i,->i", "i,->i", 2, {1, 0}, {SH(7), SH(0)}},
        {"Ab,bA->A", "Ab,bA->A", 2, {2, 2}, {SH(3, 4), SH(4, 3)}},
    };
    static const nb_dtype dts[] = {NB_F64, NB_F32, NB_F16, NB_BF16};
    for (int c = 0; c < REF_COUNT(cases); c++)
        for (int t = 0; t < REF_COUNT(dts); t++)
            for (int l = 0; l < L_COUNT; l++) {
                if (t >= 2 && l != REF_CONTIG) continue;
                check_einsum(cases[c].eq, cases[c].ref, cases[c].n, cases[c].nd, (shp *)cases[c].shape, dts[t], l);
            }
}

/* Ellipsis: broadcast batch dims; compared with the letters-only form on expanded operands. */
static void test_einsum_ellipsis(void) {
    ref_seed(3);
    /* "...ij,...jk->...ik": [2, 3, 4, 5] with [3, 5, 6] (the second broadcasts over the leading 2) */
    double *va = ref_values(2 * 3 * 4 * 5, NB_F64, -2, 2), *vb = ref_values(3 * 5 * 6, NB_F64, -2, 2);
    nb_tensor *a = ref_contig(va, NB_SHAPE(2, 3, 4, 5), NB_F64), *b = ref_contig(vb, NB_SHAPE(3, 5, 6), NB_F64);
    double *vbe = ref_darray(2 * 3 * 5 * 6);
    for (int i = 0; i < 2 * 90; i++) vbe[i] = vb[i % 90];
    double *vals[2] = {va, vbe};
    shp sh[2] = {{2, 3, 4, 5}, {2, 3, 5, 6}};
    int ond;
    int64_t oshape[NB_MAX_DIMS];
    double *e = ref_einsum("xyij,xyjk->xyik", 2, vals, (const int[]){4, 4}, sh, &ond, oshape);
    ref_set_ctx("einsum ...ij,...jk->...ik");
    CHECK_REF(nb_einsum("...ij,...jk->...ik", (nb_tensor *[]){a, b}, 2), NB_F64, ond, oshape, e, 1e-12, 1e-12);
    CHECK_REF(nb_einsum("...ij,...jk", (nb_tensor *[]){a, b}, 2), NB_F64, ond, oshape, e, 1e-12, 1e-12);
    /* a size-1 ellipsis dim broadcasting against 3: [2, 1, 4, 5] with [3, 5, 6] */
    nb_tensor *a1 = nb_slice(a, 1, 0, 1, 1);
    double *va1 = ref_darray(2 * 3 * 4 * 5);
    for (int i = 0; i < 120; i++) va1[i] = va[(i / 60) * 60 + (i % 20)];
    vals[0] = va1;
    e = ref_einsum("xyij,xyjk->xyik", 2, vals, (const int[]){4, 4}, sh, &ond, oshape);
    ref_set_ctx("einsum ...ij,...jk->...ik broadcasting a size-1 dim");
    CHECK_REF(nb_einsum("...ij,...jk->...ik", (nb_tensor *[]){a1, b}, 2), NB_F64, ond, oshape, e, 1e-12, 1e-12);
    /* ellipsis in the middle and omitted from the output (summed): "i...j->ij" on [3, 2, 4, 5] */
    double *vc = ref_values(3 * 2 * 4 * 5, NB_F64, -2, 2);
    nb_tensor *cx = ref_contig(vc, NB_SHAPE(3, 2, 4, 5), NB_F64);
    shp shc[1] = {{3, 2, 4, 5}};
    e = ref_einsum("ixyj->ij", 1, &vc, (const int[]){4}, shc, &ond, oshape);
    ref_set_ctx("einsum i...j->ij");
    CHECK_REF(nb_einsum("i...j->ij", &cx, 1), NB_F64, ond, oshape, e, 1e-12, 1e-12);
    e = ref_einsum("ixyj->xyji", 1, &vc, (const int[]){4}, shc, &ond, oshape);
    ref_set_ctx("einsum i...j->...ji and implicit i...j");
    CHECK_REF(nb_einsum("i...j->...ji", &cx, 1), NB_F64, ond, oshape, e, 1e-12, 1e-12);
    e = ref_einsum("ixyj->xyij", 1, &vc, (const int[]){4}, shc, &ond, oshape);
    CHECK_REF(nb_einsum("i...j", &cx, 1), NB_F64, ond, oshape, e, 1e-12, 1e-12);
    /* a contracted broadcast dim: "...i,...i->" where one side has size 1 there */
    nb_tensor *p = ref_contig(ref_values(3 * 4, NB_F64, -2, 2), NB_SHAPE(3, 4), NB_F64);
    nb_tensor *q = ref_contig(ref_values(4, NB_F64, -2, 2), NB_SHAPE(1, 4), NB_F64);
    nb_tensor *want = nb_sum(nb_mul(p, q), NULL);
    ref_set_ctx("einsum ...i,...i-> with a broadcast contraction");
    CHECK_REF(nb_einsum("...i,...i->", (nb_tensor *[]){p, q}, 2), NB_F64, NB_SCALAR, ref_read(want), 1e-12, 1e-12);
    /* seven broadcasting batch dims (too many to keep apart for nb_matmul: expanded and merged) */
    nb_tensor *p7 = ref_contig(ref_values(16 * 3, NB_F64, -2, 2), NB_SHAPE(2, 1, 2, 1, 2, 1, 2, 3), NB_F64);
    nb_tensor *q7 = ref_contig(ref_values(8 * 3, NB_F64, -2, 2), NB_SHAPE(1, 2, 1, 2, 1, 2, 1, 3), NB_F64);
    nb_tensor *w7 = nb_sum(nb_mul(p7, q7), NB_DIMS(-1));
    ref_set_ctx("einsum ...i,...i->... with seven broadcast batch dims");
    CHECK_REF(nb_einsum("...i,...i->...", (nb_tensor *[]){p7, q7}, 2), NB_F64, NB_SHAPE(2, 2, 2, 2, 2, 2, 2), ref_read(w7),
              1e-12, 1e-12);
    /* a permutation stays a view, like PyTorch */
    nb_tensor *m = ref_contig(ref_values(12, NB_F32, -2, 2), NB_SHAPE(3, 4), NB_F32);
    nb_tensor *mt = nb_einsum("ij->ji", &m, 1);
    CHECK(mt && shares_storage(m, mt));
}

/* Random equations (1-3 operands, labels a-f, some repeated, random outputs) against the loop. */
static void test_einsum_random(void) {
    ref_seed(77);
    for (int it = 0; it < 150; it++) {
        int n = 1 + (int)(ref_next() % 3);
        int64_t size[6];
        for (int i = 0; i < 6; i++) size[i] = 1 + (int64_t)(ref_next() % 4);
        char eq[64];
        int k = 0, nds[3];
        shp shapes[3];
        bool used[6] = {false};
        for (int o = 0; o < n; o++) {
            nds[o] = (int)(ref_next() % 4);
            for (int d = 0; d < nds[o]; d++) {
                int c = (int)(ref_next() % 6);
                used[c] = true;
                eq[k++] = (char)('a' + c);
                shapes[o][d] = size[c];
            }
            eq[k++] = o + 1 < n ? ',' : '-';
        }
        eq[k++] = '>';
        for (int c = 0; c < 6; c++)
            if (used[c] && ref_next() % 2) eq[k++] = (char)('a' + c);
        eq[k] = 0;
        /* occasionally reverse the output order */
        if (it % 3 == 0) {
            char *o = strchr(eq, '>') + 1;
            size_t len = strlen(o);
            for (size_t i = 0; i < len / 2; i++) {
                char t = o[i];
                o[i] = o[len - 1 - i];
                o[len - 1 - i] = t;
            }
        }
        check_einsum(eq, eq, n, nds, shapes, it % 2 ? NB_F64 : NB_F32, (int)(it % L_COUNT));
    }
}

static void test_einsum_errors(void) {
    nb_tensor *a = nb_zeros(NB_SHAPE(2, 3), NB_F32), *b = nb_zeros(NB_SHAPE(4, 5), NB_F32);
    nb_tensor *ab[2] = {a, b};
    CHECK_NULL_WITH(nb_einsum("ij,jk->ik", ab, 2), "nb_einsum", "ij,jk->ik", "'j'", "[2, 3]", "[4, 5]");
    CHECK_NULL_WITH(nb_einsum("ij,jk->ik", ab, 1), "nb_einsum", "2 operand terms", "1 tensor", "[2, 3]");
    CHECK_NULL_WITH(nb_einsum("ij->ij", ab, 2), "nb_einsum", "1 operand term", "2 tensors", "[2, 3], [4, 5]");
    CHECK_NULL_WITH(nb_einsum("ijk->i", &a, 1), "nb_einsum", "operand #1 has 2 dims", "[2, 3]", "name 3");
    CHECK_NULL_WITH(nb_einsum("i->i", &a, 1), "nb_einsum", "operand #1 has 2 dims");
    CHECK_NULL_WITH(nb_einsum("i2->i", &a, 1), "nb_einsum", "invalid character '2'");
    CHECK_NULL_WITH(nb_einsum("ij->ii", &a, 1), "nb_einsum", "'i' appears more than once");
    CHECK_NULL_WITH(nb_einsum("ij->k", &a, 1), "nb_einsum", "'k' does not appear");
    CHECK_NULL_WITH(nb_einsum("ij->i->j", &a, 1), "nb_einsum", "more than one \"->\"");
    CHECK_NULL_WITH(nb_einsum("i-j", &a, 1), "nb_einsum", "stray '-'");
    CHECK_NULL_WITH(nb_einsum("i..j", &a, 1), "nb_einsum", "ellipsis");
    CHECK_NULL_WITH(nb_einsum("......", &a, 1), "nb_einsum", "ellipsis");
    CHECK_NULL_WITH(nb_einsum("ii->i", &a, 1), "nb_einsum", "'i' has size 3", "but 2"); /* diagonal of [2, 3] */
    nb_tensor *c = nb_zeros(NB_SHAPE(3, 4, 5), NB_F32), *d = nb_zeros(NB_SHAPE(2, 5, 6), NB_F32);
    CHECK_NULL_WITH(nb_einsum("...ij,...jk->...ik", (nb_tensor *[]){c, d}, 2), "nb_einsum", "do not broadcast", "[3, 4, 5]",
                    "[2, 5, 6]");
    nb_tensor *ints = nb_zeros(NB_SHAPE(2, 2), NB_I64);
    CHECK_NULL_WITH(nb_einsum("ij->ji", &ints, 1), "nb_einsum", "floating", "i64");
    CHECK_NULL_WITH(nb_einsum(NULL, &a, 1), "nb_einsum", "NULL");
    CHECK_NULL_WITH(nb_einsum("ij", (nb_tensor *[]){NULL}, 1), "nb_einsum", "operand #1 is NULL");
    CHECK_NULL_WITH(nb_einsum("ij", &a, 0), "nb_einsum", "operands");
}

/* Results do not depend on the thread count (bitwise), for the gather, the border fill and the
 * scatter-adds of pad_backward, on inputs big enough to be split. */
static nb_tensor *pad_grad(nb_tensor *x, nb_tensor *g, nb_pad_mode mode) {
    nb_tensor *y = nb_pad(x, NB_LIST(3, 2, 1, 2), mode, 0), *gx = NULL;
    nb_autograd_opts o = {.grad_outputs = &g};
    return y && nb_autograd_grad(&y, 1, &x, 1, &o, &gx) == 0 ? gx : NULL;
}
static void test_thread_independence(void) {
    int saved = nb_get_num_threads();
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(8, 16, 40, 60), NB_F32));
    nb_tensor *g = nb_randn(NB_SHAPE(8, 16, 43, 65), NB_F32);
    nb_tensor *r[2][6];
    for (int t = 0; t < 2; t++) {
        nb_set_num_threads(t + 1);
        r[t][0] = pad_grad(x, g, NB_PAD_REFLECT);
        r[t][1] = pad_grad(x, g, NB_PAD_CIRCULAR);
        r[t][2] = nb_pad(x, NB_LIST(3, 2, 1, 2), NB_PAD_CONSTANT, 1.5);
        r[t][3] = nb_flip(x, NB_LIST(1, 3));
        r[t][4] = nb_einsum("bchw,bdhw->bcd", (nb_tensor *[]){x, x}, 2);
        r[t][5] = nb_tril(x, 3);
    }
    nb_set_num_threads(saved);
    for (int k = 0; k < 6; k++) CHECK_MSG(r[0][k] && h_max_abs_diff(r[0][k], r[1][k]) == 0, "result %d differs", k);
}

int main(void) {
    REF_RUN(test_flip);
    REF_RUN(test_roll);
    REF_RUN(test_repeat_tile);
    REF_RUN(test_tril_triu);
    REF_RUN(test_diagonal);
    REF_RUN(test_diagonal_backward);
    REF_RUN(test_pad);
    REF_RUN(test_pad_backward);
    REF_RUN(test_einsum_equations);
    REF_RUN(test_einsum_ellipsis);
    REF_RUN(test_einsum_random);
    REF_RUN(test_einsum_errors);
    REF_RUN(test_thread_independence);
    return harness_finish();
}
