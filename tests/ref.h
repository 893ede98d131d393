/* tests/ref.h — shared helpers for the op reference tests (test_ops_*.c, test_create.c,
 * test_inplace.c): deterministic input values, the same values in several memory layouts
 * (contiguous, transposed, stepped slices), broadcast indexing, and one-CHECK comparison of a tensor
 * against a plain f64 reference.
 *
 * Memory from ref_alloc() lives until the end of the current REF_RUN, so reference arrays need no
 * explicit free. Tensors are made inside RUN's scope and need none either.
 */
#ifndef NABLA_TEST_REF_H
#define NABLA_TEST_REF_H

#include "harness.h"

#include <stdarg.h>
#include <stdint.h>

/* ---- arena ------------------------------------------------------------------------------------- */

static void **ref_blocks;
static size_t ref_nblocks, ref_capblocks;

static inline void *ref_alloc(size_t bytes) {
    if (ref_nblocks == ref_capblocks) {
        ref_capblocks = ref_capblocks ? 2 * ref_capblocks : 64;
        ref_blocks = realloc(ref_blocks, ref_capblocks * sizeof *ref_blocks);
        if (!ref_blocks) abort();
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) abort();
    ref_blocks[ref_nblocks++] = p;
    return p;
}
static inline double *ref_darray(int64_t n) { return ref_alloc(sizeof(double) * (size_t)(n > 0 ? n : 1)); }

static inline void ref_arena_free(void) {
    for (size_t i = 0; i < ref_nblocks; i++) free(ref_blocks[i]);
    free(ref_blocks);
    ref_blocks = NULL;
    ref_nblocks = ref_capblocks = 0;
}

/* RUN (scope + leak check), then drop the arena. */
#define REF_RUN(fn)                                                                                \
    do {                                                                                           \
        RUN(fn);                                                                                   \
        ref_arena_free();                                                                          \
    } while (0)

/* ---- context for messages ------------------------------------------------------------------------ */

static char ref_ctx[256];
static char ref_msg[512];

static inline void ref_set_ctx(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ref_ctx, sizeof ref_ctx, fmt, ap);
    va_end(ap);
}

/* ---- dtypes, shapes ------------------------------------------------------------------------------ */

static const nb_dtype ref_all_dtypes[] = {NB_F32, NB_F64, NB_F16, NB_BF16, NB_I8, NB_U8, NB_I32, NB_I64, NB_BOOL};
static const nb_dtype ref_float_dtypes[] = {NB_F32, NB_F64, NB_F16, NB_BF16};
static const nb_dtype ref_int_dtypes[] = {NB_I8, NB_U8, NB_I32, NB_I64};
#define REF_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static inline bool ref_is_int(nb_dtype d) { return d == NB_I8 || d == NB_U8 || d == NB_I32 || d == NB_I64; }

static inline int64_t ref_numel(int nd, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    return n;
}

static inline const char *ref_shape_str(int nd, const int64_t *shape) {
    static char buf[4][96];
    static int k;
    char *b = buf[k++ & 3];
    int o = snprintf(b, 96, "[");
    for (int i = 0; i < nd && o < 90; i++) o += snprintf(b + o, (size_t)(96 - o), i ? ", %lld" : "%lld", (long long)shape[i]);
    snprintf(b + o, (size_t)(96 - o), "]");
    return b;
}

/* Flat C-order index into a tensor of shape (nd, shape) that broadcasts to (ond, oshape), for the
 * element at flat index i of the broadcast result. */
static inline int64_t ref_bidx(int64_t i, int ond, const int64_t *oshape, int nd, const int64_t *shape) {
    int64_t idx = 0, mul = 1;
    for (int d = ond - 1; d >= 0; d--) {
        int64_t c = i % oshape[d];
        i /= oshape[d];
        int k = nd - ond + d;
        if (k >= 0) {
            if (shape[k] != 1) idx += c * mul;
            mul *= shape[k];
        }
    }
    return idx;
}

/* Broadcast shape of two shapes (assumed compatible). */
static inline int ref_bshape(int na, const int64_t *sa, int nb, const int64_t *sb, int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
        out[i] = a == 1 ? b : a;
    }
    return n;
}

/* ---- values -------------------------------------------------------------------------------------- */

static uint64_t ref_rng = 0x9E3779B97F4A7C15ull;
static inline void ref_seed(uint64_t s) { ref_rng = s * 0x9E3779B97F4A7C15ull + 1; }
static inline uint64_t ref_next(void) { /* xorshift64* */
    ref_rng ^= ref_rng >> 12;
    ref_rng ^= ref_rng << 25;
    ref_rng ^= ref_rng >> 27;
    return ref_rng * 0x2545F4914F6CDD1Dull;
}
static inline double ref_uniform(void) { return (double)(ref_next() >> 11) * (1.0 / 9007199254740992.0); }

/* n values exact in dtype dt: 0/1 for bool; integers in [lo, hi] for integer dtypes; multiples of
 * 1/8 in [lo, hi] for floats (exact even in bf16 while |v| < 32). */
static inline double *ref_values(int64_t n, nb_dtype dt, double lo, double hi) {
    double *v = ref_darray(n);
    for (int64_t i = 0; i < n; i++) {
        if (dt == NB_BOOL) {
            v[i] = (double)(ref_next() >> 63);
        } else if (!nb_dtype_is_float(dt)) {
            int64_t span = (int64_t)(hi - lo) + 1;
            v[i] = lo + (double)(int64_t)(ref_next() % (uint64_t)span);
        } else {
            int64_t span = (int64_t)((hi - lo) * 8) + 1;
            v[i] = lo + (double)(int64_t)(ref_next() % (uint64_t)span) / 8.0;
        }
    }
    return v;
}

/* The value an integer-valued result v becomes when stored as dt by an integer kernel: integers
 * wrap, bool is "non-zero", floats keep it. */
static inline double ref_wrap(double v, nb_dtype dt) {
    int64_t x = (int64_t)v;
    switch (dt) {
    case NB_I8: return (int8_t)(uint8_t)x;
    case NB_U8: return (uint8_t)x;
    case NB_I32: return (int32_t)(uint32_t)x;
    case NB_I64: return (double)x;
    case NB_BOOL: return v != 0;
    default: return v;
    }
}

/* ---- layouts ------------------------------------------------------------------------------------- */

typedef enum ref_layout { REF_CONTIG, REF_TRANSPOSED, REF_STEPPED, REF_TRANS_STEPPED, REF_LAYOUTS } ref_layout;
static const char *const ref_layout_name[] = {"contiguous", "transposed", "stepped", "transposed+stepped"};

#define REF_FILLER 99.0 /* what sits in the gaps of stepped views: reading it is a bug */

static inline nb_tensor *ref_contig(const double *vals, int nd, const int64_t *shape, nb_dtype dt) {
    nb_tensor *f = nb_from_data(vals, nd, shape, NB_F64);
    nb_tensor *t = nb_to(f, dt);
    nb_free(f);
    return t;
}

/* A tensor of dtype dt whose logical values (C order) are vals, laid out as `layout`. Layouts that
 * need more dims than the tensor has fall back to one that fits (0-d is always contiguous). */
static inline nb_tensor *ref_tensor(const double *vals, int nd, const int64_t *shape, nb_dtype dt, ref_layout layout) {
    if (nd == 0 || layout == REF_CONTIG) return ref_contig(vals, nd, shape, dt);
    if (nd < 2 && layout != REF_STEPPED) layout = REF_STEPPED;
    int64_t n = ref_numel(nd, shape);
    if (layout == REF_TRANSPOSED) { /* physical shape reversed, then permuted back */
        int64_t ps[NB_MAX_DIMS], perm[NB_MAX_DIMS];
        for (int d = 0; d < nd; d++) {
            ps[d] = shape[nd - 1 - d];
            perm[d] = nd - 1 - d;
        }
        double *p = ref_darray(n);
        for (int64_t i = 0; i < n; i++) {
            int64_t rem = i, pi = 0;
            for (int d = nd - 1; d >= 0; d--) { /* logical dim d is physical dim nd-1-d */
                int64_t c = rem % shape[d], stride = 1;
                rem /= shape[d];
                for (int e = nd - d; e < nd; e++) stride *= ps[e];
                pi += c * stride;
            }
            p[pi] = vals[i];
        }
        nb_tensor *base = ref_contig(p, nd, ps, dt);
        nb_tensor *t = nb_permute(base, nd, perm);
        nb_free(base);
        return t;
    }
    if (layout == REF_STEPPED) { /* last dim: elements 1, 4, 7, ... of a dim of size 3s + 2 */
        int64_t s = shape[nd - 1], bs[NB_MAX_DIMS];
        for (int d = 0; d < nd && d < NB_MAX_DIMS; d++) bs[d] = shape[d];
        bs[nd - 1] = 3 * s + 2;
        int64_t bn = ref_numel(nd, bs);
        double *p = ref_darray(bn);
        for (int64_t i = 0; i < bn; i++) p[i] = REF_FILLER;
        for (int64_t i = 0; i < n; i++) p[(i / s) * bs[nd - 1] + 1 + 3 * (i % s)] = vals[i];
        nb_tensor *base = ref_contig(p, nd, bs, dt);
        nb_tensor *t = nb_slice(base, -1, -(3 * s + 1), 3 * s, 3); /* start -(3s+1) is 1 */
        nb_free(base);
        return t;
    }
    /* REF_TRANS_STEPPED: odd rows (dim 0) of a transposed tensor with 2 s0 + 1 rows */
    int64_t s0 = shape[0], bs[NB_MAX_DIMS];
    for (int d = 0; d < nd && d < NB_MAX_DIMS; d++) bs[d] = shape[d];
    bs[0] = 2 * s0 + 1;
    int64_t inner = s0 ? n / s0 : 0, bn = ref_numel(nd, bs);
    double *p = ref_darray(bn);
    for (int64_t i = 0; i < bn; i++) p[i] = REF_FILLER;
    for (int64_t i = 0; i < n; i++) p[(2 * (i / inner) + 1) * inner + i % inner] = vals[i];
    nb_tensor *base = ref_tensor(p, nd, bs, dt, REF_TRANSPOSED);
    nb_tensor *t = nb_slice(base, 0, 1, 2 * s0 + 1, 2);
    nb_free(base);
    return t;
}

/* All elements of t in C order as f64 (arena memory). */
static inline double *ref_read(const nb_tensor *t) {
    int64_t n = nb_numel(t);
    double *v = ref_darray(n);
    if (t && nb_copy_to(t, v, sizeof(double) * (size_t)n, NB_F64) != 0) v[0] = NAN;
    return v;
}

/* ---- comparison ---------------------------------------------------------------------------------- */

static inline double ref_rtol(nb_dtype d) {
    switch (d) {
    case NB_F64: return 1e-12;
    case NB_F32: return 2e-6;
    case NB_F16: return 2e-3;
    case NB_BF16: return 1e-2;
    default: return 0;
    }
}

/* True when t is non-NULL with dtype dt, shape (nd, shape) and every element within
 * atol + rtol * |ref| of ref (NaN matches NaN, infinities must match exactly). Otherwise fills
 * ref_msg with the first mismatch. */
static inline bool ref_match(const nb_tensor *t, nb_dtype dt, int nd, const int64_t *shape, const double *ref,
                             double rtol, double atol) {
    if (!t) {
        snprintf(ref_msg, sizeof ref_msg, "got NULL (%s)", nb_last_error());
        return false;
    }
    if (nb_dtype_of(t) != dt) {
        snprintf(ref_msg, sizeof ref_msg, "dtype %s, expected %s", nb_dtype_name(nb_dtype_of(t)), nb_dtype_name(dt));
        return false;
    }
    if (nb_ndim(t) != nd || (nd && memcmp(nb_shape(t), shape, sizeof(int64_t) * (size_t)nd) != 0)) {
        snprintf(ref_msg, sizeof ref_msg, "shape %s, expected %s", ref_shape_str(nb_ndim(t), nb_shape(t)),
                 ref_shape_str(nd, shape));
        return false;
    }
    int64_t n = ref_numel(nd, shape);
    double *got = ref_read(t);
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        bool ok;
        if (isnan(r) || isnan(g)) ok = isnan(r) && isnan(g);
        else if (isinf(r) || isinf(g)) ok = g == r;
        else ok = fabs(g - r) <= atol + rtol * fabs(r);
        if (!ok) {
            snprintf(ref_msg, sizeof ref_msg, "element %lld of %s: got %.10g, expected %.10g", (long long)i,
                     ref_shape_str(nd, shape), g, r);
            return false;
        }
    }
    return true;
}

/* One CHECK: t matches the reference: CHECK_REF(t, dtype, nd, shape, ref, rtol, atol), where
 * `nd, shape` may be written NB_SHAPE(...). CHECK_REF_DT takes the tolerance from the dtype (exact
 * for integers and bool): CHECK_REF_DT(t, dtype, nd, shape, ref). */
#define CHECK_REF(t, dt, ...) CHECK_MSG(ref_match((t), (dt), __VA_ARGS__), "%s: %s", ref_ctx, ref_msg)
#define CHECK_REF_DT(t, dt, ...)                                                                   \
    CHECK_MSG(ref_match((t), (dt), __VA_ARGS__, ref_rtol(dt), ref_rtol(dt)), "%s: %s", ref_ctx, ref_msg)

#endif
