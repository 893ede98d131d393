/* kernels/cpu/scan.c — row reductions (prod, var, norm, logsumexp, any, all), scans (cumsum,
 * cumprod), extrema with indices along one dim, and the scatter / gather pair along one dim.
 *
 * Float rows accumulate in double (f32 inputs too: var, norms and products of long f32 rows keep their
 * accuracy, and the conversions vectorise); each row is reduced by one thread in index order, so the
 * results do not depend on the thread count. The along-dim kernels walk a contiguous
 * (outer, n, inner) box with the inner index innermost, so the loops over `inner` are unit-stride. */
#include "sort.h"

#include <math.h>
#include <string.h>

/* ---- row reductions ------------------------------------------------------------------------------ */

typedef struct rr_job {
    nbk_rowred op;
    nb_dtype t;
    const char *x;
    char *out;
    int64_t r;
    double param;
} rr_job;

#define BLK 256

/* Elements [i0, i0 + len) of a float row as doubles. */
static void load_blk(nb_dtype t, const void *x, int64_t i0, int64_t len, double *tmp) {
    if (t == NB_F32)
        for (int64_t i = 0; i < len; i++) tmp[i] = ((const float *)x)[i0 + i];
    else
        memcpy(tmp, (const double *)x + i0, (size_t)len * sizeof(double));
}

static double norm_row(nb_dtype t, const void *x, int64_t r, double p) {
    double tmp[BLK], s = p == INFINITY ? 0 : p == -INFINITY ? INFINITY : 0;
    for (int64_t i0 = 0; i0 < r; i0 += BLK) {
        int64_t len = r - i0 < BLK ? r - i0 : BLK;
        load_blk(t, x, i0, len, tmp);
        if (p == INFINITY)
            for (int64_t i = 0; i < len; i++) s = (fabs(tmp[i]) > s || tmp[i] != tmp[i]) && s == s ? fabs(tmp[i]) : s;
        else if (p == -INFINITY)
            for (int64_t i = 0; i < len; i++) s = (fabs(tmp[i]) < s || tmp[i] != tmp[i]) && s == s ? fabs(tmp[i]) : s;
        else if (p == 0)
            for (int64_t i = 0; i < len; i++) s += tmp[i] != 0;
        else if (p == 1)
            for (int64_t i = 0; i < len; i++) s += fabs(tmp[i]);
        else if (p == 2)
            for (int64_t i = 0; i < len; i++) s += tmp[i] * tmp[i];
        else
            for (int64_t i = 0; i < len; i++) s += pow(fabs(tmp[i]), p);
    }
    if (p == 2) return sqrt(s);
    if (p == 0 || p == 1 || isinf(p)) return s;
    return pow(s, 1.0 / p);
}

static double var_row(nb_dtype t, const void *x, int64_t r, double correction) {
    double tmp[BLK], mean = 0, s = 0;
    for (int64_t i0 = 0; i0 < r; i0 += BLK) {
        int64_t len = r - i0 < BLK ? r - i0 : BLK;
        load_blk(t, x, i0, len, tmp);
        for (int64_t i = 0; i < len; i++) mean += tmp[i];
    }
    mean /= (double)r; /* r == 0: NaN, as PyTorch */
    for (int64_t i0 = 0; i0 < r; i0 += BLK) {
        int64_t len = r - i0 < BLK ? r - i0 : BLK;
        load_blk(t, x, i0, len, tmp);
        for (int64_t i = 0; i < len; i++) s += (tmp[i] - mean) * (tmp[i] - mean);
    }
    double den = (double)r - correction;
    return s / (den > 0 ? den : 0);
}

static double prod_row(nb_dtype t, const void *x, int64_t r) {
    double tmp[BLK], p = 1;
    for (int64_t i0 = 0; i0 < r; i0 += BLK) {
        int64_t len = r - i0 < BLK ? r - i0 : BLK;
        load_blk(t, x, i0, len, tmp);
        for (int64_t i = 0; i < len; i++) p *= tmp[i];
    }
    return p;
}

/* Shift by the row maximum (NaN: NaN; +inf: +inf; all -inf or empty: -inf). f32 rows take the vector
 * exp on blocks and sum in double. */
static double lse_row(nb_dtype t, const void *x, int64_t r) {
    if (r == 0) return -INFINITY;
    const float *xf = x;
    const double *xd = x;
    double m = t == NB_F32 ? xf[0] : xd[0];
    for (int64_t i = 1; i < r; i++) {
        double v = t == NB_F32 ? xf[i] : xd[i];
        if (v > m || v != v) m = v;
        if (m != m) return m;
    }
    if (isinf(m)) return m;
    double s = 0;
    if (t == NB_F32) {
        float buf[BLK], mf = (float)m;
        for (int64_t i0 = 0; i0 < r; i0 += BLK) {
            int64_t len = r - i0 < BLK ? r - i0 : BLK;
            for (int64_t i = 0; i < len; i++) buf[i] = xf[i0 + i] - mf;
            nbk_vmath_f32(NBK_VEXP, buf, buf, len);
            for (int64_t i = 0; i < len; i++) s += buf[i];
        }
    } else {
        for (int64_t i = 0; i < r; i++) s += exp(xd[i] - m);
    }
    return m + log(s);
}

static void rr_chunk(void *ctx, int64_t b, int64_t e) {
    const rr_job *j = ctx;
    int64_t r = j->r;
    size_t es = nb_dtype_size(j->t);
    for (int64_t row = b; row < e; row++) {
        const void *x = j->x + (size_t)(row * r) * es;
        if (j->op == NBK_RANY || j->op == NBK_RALL) {
            bool any = false, all = true;
            for (int64_t i = 0; i < r; i++) {
                bool nz = j->t == NB_F32 ? ((const float *)x)[i] != 0
                          : j->t == NB_F64 ? ((const double *)x)[i] != 0 : ((const int64_t *)x)[i] != 0;
                any |= nz, all &= nz;
            }
            ((uint8_t *)j->out)[row] = j->op == NBK_RANY ? any : all;
            continue;
        }
        if (j->t == NB_I64) { /* prod only: wraps like PyTorch's integer product */
            uint64_t p = 1;
            for (int64_t i = 0; i < r; i++) p *= (uint64_t)((const int64_t *)x)[i];
            ((int64_t *)j->out)[row] = (int64_t)p;
            continue;
        }
        double res = j->op == NBK_RPROD  ? prod_row(j->t, x, r)
                     : j->op == NBK_RVAR ? var_row(j->t, x, r, j->param)
                     : j->op == NBK_RNORM ? norm_row(j->t, x, r, j->param)
                                          : lse_row(j->t, x, r);
        if (j->t == NB_F32) ((float *)j->out)[row] = (float)res;
        else ((double *)j->out)[row] = res;
    }
}

void nbk_rowred_run(nbk_rowred op, nb_dtype t, const void *x, void *out, int64_t m, int64_t r, double param) {
    rr_job j = {op, t, x, out, r, param};
    int64_t grain = r >= 16384 ? 1 : 16384 / (r ? r : 1);
    nbc_parallel_for(m, grain, rr_chunk, &j);
}

/* ---- scans --------------------------------------------------------------------------------------- */

typedef struct scan_job {
    nbk_scan op;
    nb_dtype t;
    const char *x;
    char *y;
    int64_t n, inner;
    bool reverse;
} scan_job;

/* f32 scans accumulate in f32 like PyTorch's CPU kernel (a running double would differ from torch on
 * long rows in the other direction); f64 and i64 in their own type. */
#define DEF_SCAN(T, SUF, MULT)                                                                              \
    static void scan_##SUF(nbk_scan op, const T *x, T *y, int64_t n, int64_t inner, bool rev) {             \
        for (int64_t s = 0; s < n; s++) {                                                                   \
            int64_t j = rev ? n - 1 - s : s, pj = rev ? j + 1 : j - 1;                                      \
            const T *xr = x + j * inner;                                                                    \
            T *yr = y + j * inner;                                                                          \
            if (s == 0) {                                                                                   \
                memcpy(yr, xr, (size_t)inner * sizeof(T));                                                  \
                continue;                                                                                   \
            }                                                                                               \
            const T *pr = y + pj * inner;                                                                   \
            if (op == NBK_CUMSUM)                                                                           \
                for (int64_t i = 0; i < inner; i++) yr[i] = pr[i] + xr[i];                                  \
            else                                                                                            \
                for (int64_t i = 0; i < inner; i++) yr[i] = MULT(pr[i], xr[i]);                              \
        }                                                                                                   \
    }
#define MUL_PLAIN(a, b) ((a) * (b))
#define MUL_WRAP(a, b) ((int64_t)((uint64_t)(a) * (uint64_t)(b)))
DEF_SCAN(float, f, MUL_PLAIN)
DEF_SCAN(double, d, MUL_PLAIN)

static void scan_i(nbk_scan op, const int64_t *x, int64_t *y, int64_t n, int64_t inner, bool rev) {
    for (int64_t s = 0; s < n; s++) {
        int64_t j = rev ? n - 1 - s : s, pj = rev ? j + 1 : j - 1;
        const int64_t *xr = x + j * inner;
        int64_t *yr = y + j * inner;
        if (s == 0) {
            memcpy(yr, xr, (size_t)inner * sizeof(int64_t));
            continue;
        }
        const int64_t *pr = y + pj * inner;
        if (op == NBK_CUMSUM)
            for (int64_t i = 0; i < inner; i++) yr[i] = (int64_t)((uint64_t)pr[i] + (uint64_t)xr[i]);
        else
            for (int64_t i = 0; i < inner; i++) yr[i] = MUL_WRAP(pr[i], xr[i]);
    }
}

static void scan_chunk(void *ctx, int64_t b, int64_t e) {
    const scan_job *j = ctx;
    size_t es = nb_dtype_size(j->t), blk = (size_t)(j->n * j->inner) * es;
    for (int64_t o = b; o < e; o++) {
        const void *x = j->x + (size_t)o * blk;
        void *y = j->y + (size_t)o * blk;
        if (j->t == NB_F32) scan_f(j->op, x, y, j->n, j->inner, j->reverse);
        else if (j->t == NB_F64) scan_d(j->op, x, y, j->n, j->inner, j->reverse);
        else scan_i(j->op, x, y, j->n, j->inner, j->reverse);
    }
}

void nbk_scan_run(nbk_scan op, nb_dtype t, const void *x, void *y, int64_t outer, int64_t n, int64_t inner, bool reverse) {
    if (n == 0 || inner == 0) return;
    scan_job j = {op, t, x, y, n, inner, reverse};
    int64_t per = n * inner, grain = per >= 16384 ? 1 : 16384 / per;
    nbc_parallel_for(outer, grain, scan_chunk, &j);
}

/* ---- extremum with index along a dim ------------------------------------------------------------ */

#define DEF_EXT_DIM(T, SUF)                                                                                 \
    static void ext_##SUF(bool mx, const T *x, T *v, int64_t *ix, int64_t n, int64_t inner) {               \
        memcpy(v, x, (size_t)inner * sizeof(T));                                                            \
        for (int64_t i = 0; i < inner; i++) ix[i] = 0;                                                      \
        for (int64_t j = 1; j < n; j++) {                                                                   \
            const T *r = x + j * inner;                                                                     \
            for (int64_t i = 0; i < inner; i++) {                                                           \
                bool take = v[i] == v[i] && (mx ? r[i] > v[i] : r[i] < v[i]);                                \
                take |= v[i] == v[i] && r[i] != r[i]; /* the first NaN wins and stays */                    \
                v[i] = take ? r[i] : v[i];                                                                  \
                ix[i] = take ? j : ix[i];                                                                   \
            }                                                                                               \
        }                                                                                                   \
    }
DEF_EXT_DIM(float, f)
DEF_EXT_DIM(double, d)
DEF_EXT_DIM(int64_t, i)

typedef struct ext_job {
    nb_dtype t;
    bool mx;
    const char *x;
    char *v;
    int64_t *ix;
    int64_t n, inner;
} ext_job;

static void ext_chunk(void *ctx, int64_t b, int64_t e) {
    const ext_job *j = ctx;
    size_t es = nb_dtype_size(j->t);
    for (int64_t o = b; o < e; o++) {
        const void *x = j->x + (size_t)(o * j->n * j->inner) * es;
        void *v = j->v + (size_t)(o * j->inner) * es;
        int64_t *ix = j->ix + o * j->inner;
        if (j->t == NB_F32) ext_f(j->mx, x, v, ix, j->n, j->inner);
        else if (j->t == NB_F64) ext_d(j->mx, x, v, ix, j->n, j->inner);
        else ext_i(j->mx, x, v, ix, j->n, j->inner);
    }
}

void nbk_extremum_dim(nb_dtype t, bool is_max, const void *x, void *vals, int64_t *idx, int64_t outer, int64_t n,
                      int64_t inner) {
    if (inner == 0) return;
    ext_job j = {t, is_max, x, vals, idx, n, inner};
    int64_t per = n * inner, grain = per >= 16384 ? 1 : 16384 / per;
    nbc_parallel_for(outer, grain, ext_chunk, &j);
}

/* ---- scatter / gather along a dim (sequential: outside indices may collide) ----------------------- */

#define DEF_SCATTER(T, SUF)                                                                                 \
    static bool scatter_##SUF(const T *g, const int64_t *idx, T *out, int64_t outer, int64_t k, int64_t n,   \
                              int64_t inner) {                                                              \
        for (int64_t o = 0; o < outer; o++)                                                                 \
            for (int64_t j = 0; j < k; j++) {                                                               \
                const T *gr = g + (o * k + j) * inner;                                                      \
                const int64_t *ir = idx + (o * k + j) * inner;                                              \
                T *ob = out + o * n * inner;                                                                \
                for (int64_t i = 0; i < inner; i++) {                                                       \
                    if (ir[i] < 0 || ir[i] >= n) return false;                                              \
                    ob[ir[i] * inner + i] += gr[i];                                                         \
                }                                                                                           \
            }                                                                                               \
        return true;                                                                                        \
    }
DEF_SCATTER(float, f)
DEF_SCATTER(double, d)

bool nbk_scatter_dim(nb_dtype t, const void *g, const int64_t *idx, void *out, int64_t outer, int64_t k, int64_t n,
                     int64_t inner) {
    return t == NB_F32 ? scatter_f(g, idx, out, outer, k, n, inner) : scatter_d(g, idx, out, outer, k, n, inner);
}

bool nbk_gather_dim(size_t es, const void *src, const int64_t *idx, void *y, int64_t outer, int64_t k, int64_t n,
                    int64_t inner) {
    const char *s = src;
    char *d = y;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < k; j++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t q = idx[(o * k + j) * inner + i];
                if (q < 0 || q >= n) return false;
                memcpy(d + (size_t)((o * k + j) * inner + i) * es, s + (size_t)((o * n + q) * inner + i) * es, es);
            }
    return true;
}
