/* kernels/cpu/scan.c — row reductions (prod, var, norm, logsumexp, any, all), scans (cumsum,
 * cumprod), extrema with indices along one dim, and the scatter / gather pair along one dim.
 *
 * Float rows accumulate in double (f32 inputs too: var, norms and products of long f32 rows keep their
 * accuracy, and the conversions vectorise) in 8 lanes (element i to lane i % 8, lanes combined in a
 * fixed tree); each row is reduced by one thread, so the results do not depend on the thread count.
 * f32 logsumexp and general-p norms use the vector exp / log of kernels.h. Scans run in the compute
 * type, in order (like PyTorch's CPU kernel). The along-dim kernels walk a contiguous
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
#define LANES 8

/* Elements [i0, i0 + len) of a float row as doubles. */
static void load_blk(nb_dtype t, const void *x, int64_t i0, int64_t len, double *tmp) {
    if (t == NB_F32)
        for (int64_t i = 0; i < len; i++) tmp[i] = ((const float *)x)[i0 + i];
    else
        memcpy(tmp, (const double *)x + i0, (size_t)len * sizeof(double));
}

/* Sum of 8 lanes in a fixed tree. */
static double lanes_sum(const double *a) { return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])); }

/* The loops below keep LANES independent accumulators (element i to lane i % LANES), written as
 * blocks of LANES so they vectorise without reassociating anything: the result is fixed by the row
 * alone. STMT sees the element index i and its lane l. */
#define ACC8(len, STMT)                                                                                      \
    do {                                                                                                     \
        int64_t i_ = 0;                                                                                      \
        for (; i_ + LANES <= (len); i_ += LANES)                                                             \
            for (int l = 0; l < LANES; l++) {                                                                \
                int64_t i = i_ + l;                                                                          \
                STMT;                                                                                        \
            }                                                                                                \
        for (; i_ < (len); i_++) {                                                                           \
            int64_t i = i_;                                                                                  \
            int l = (int)(i_ & (LANES - 1));                                                                 \
            STMT;                                                                                            \
        }                                                                                                    \
    } while (0)
#define FOR_BLOCKS(t, x, r, tmp, len, BODY)                                                                  \
    for (int64_t i0_ = 0; i0_ < (r); i0_ += BLK) {                                                           \
        int64_t len = (r) - i0_ < BLK ? (r) - i0_ : BLK;                                                     \
        load_blk(t, x, i0_, len, tmp);                                                                       \
        BODY                                                                                                 \
    }

static double norm_row(nb_dtype t, const void *x, int64_t r, double p) {
    double tmp[BLK], acc[LANES] = {0};
    if (isinf(p)) {
        double m[LANES], nan[LANES] = {0};
        for (int l = 0; l < LANES; l++) m[l] = p > 0 ? 0 : INFINITY;
        FOR_BLOCKS(t, x, r, tmp, len, {
            if (p > 0) ACC8(len, m[l] = fabs(tmp[i]) > m[l] ? fabs(tmp[i]) : m[l]; nan[l] += tmp[i] != tmp[i]);
            else ACC8(len, m[l] = fabs(tmp[i]) < m[l] ? fabs(tmp[i]) : m[l]; nan[l] += tmp[i] != tmp[i]);
        })
        double s = m[0];
        for (int l = 1; l < LANES; l++) s = p > 0 ? (m[l] > s ? m[l] : s) : (m[l] < s ? m[l] : s);
        return lanes_sum(nan) > 0 ? NAN : s;
    }
    if (p == 0) {
        FOR_BLOCKS(t, x, r, tmp, len, {
            ACC8(len, acc[l] += tmp[i] != 0);
        })
        return lanes_sum(acc);
    }
    if (p == 1) {
        FOR_BLOCKS(t, x, r, tmp, len, {
            ACC8(len, acc[l] += fabs(tmp[i]));
        })
        return lanes_sum(acc);
    }
    if (p == 2) {
        FOR_BLOCKS(t, x, r, tmp, len, {
            ACC8(len, acc[l] += tmp[i] * tmp[i]);
        })
        return sqrt(lanes_sum(acc));
    }
    if (t == NB_F32) { /* |x|^p = exp(p log|x|) with the vector log / exp (log 0 = -inf gives 0) */
        float buf[BLK];
        const float *xf = x;
        float pf = (float)p;
        for (int64_t i0 = 0; i0 < r; i0 += BLK) {
            int64_t len = r - i0 < BLK ? r - i0 : BLK;
            for (int64_t i = 0; i < len; i++) buf[i] = fabsf(xf[i0 + i]);
            nbk_vmath_f32(NBK_VLOG, buf, buf, len);
            for (int64_t i = 0; i < len; i++) buf[i] *= pf;
            nbk_vmath_f32(NBK_VEXP, buf, buf, len);
            ACC8(len, acc[l] += buf[i]);
        }
        return pow(lanes_sum(acc), 1.0 / p);
    }
    FOR_BLOCKS(t, x, r, tmp, len, {
        ACC8(len, acc[l] += pow(fabs(tmp[i]), p));
    })
    return pow(lanes_sum(acc), 1.0 / p);
}

static double var_row(nb_dtype t, const void *x, int64_t r, double correction) {
    double tmp[BLK], acc[LANES] = {0};
    FOR_BLOCKS(t, x, r, tmp, len, {
        ACC8(len, acc[l] += tmp[i]);
    })
    double mean = lanes_sum(acc) / (double)r; /* r == 0: NaN, as PyTorch */
    memset(acc, 0, sizeof acc);
    FOR_BLOCKS(t, x, r, tmp, len, {
        ACC8(len, acc[l] += (tmp[i] - mean) * (tmp[i] - mean));
    })
    double den = (double)r - correction;
    return lanes_sum(acc) / (den > 0 ? den : 0);
}

static double prod_row(nb_dtype t, const void *x, int64_t r) {
    double tmp[BLK], acc[LANES] = {1, 1, 1, 1, 1, 1, 1, 1};
    FOR_BLOCKS(t, x, r, tmp, len, {
        ACC8(len, acc[l] *= tmp[i]);
    })
    return ((acc[0] * acc[4]) * (acc[1] * acc[5])) * ((acc[2] * acc[6]) * (acc[3] * acc[7]));
}

/* Shifted by the row maximum m (NaN anywhere gives NaN through exp; m = +inf gives +inf unless a NaN is
 * there; all -inf, or empty, gives -inf). f32 rows take the vector exp. */
static double lse_row(nb_dtype t, const void *x, int64_t r) {
    if (r == 0) return -INFINITY;
    const float *xf = x;
    const double *xd = x;
    double m = -INFINITY, acc[LANES] = {0};
    if (t == NB_F32) {
        float mf[LANES] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
        ACC8(r, mf[l] = xf[i] > mf[l] ? xf[i] : mf[l]);
        for (int l = 0; l < LANES; l++) m = mf[l] > m ? mf[l] : m;
    } else {
        double md[LANES] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
        ACC8(r, md[l] = xd[i] > md[l] ? xd[i] : md[l]);
        for (int l = 0; l < LANES; l++) m = md[l] > m ? md[l] : m;
    }
    if (m == INFINITY) {
        for (int64_t i = 0; i < r; i++)
            if (t == NB_F32 ? xf[i] != xf[i] : xd[i] != xd[i]) return NAN;
        return m;
    }
    if (m == -INFINITY) m = 0; /* all -inf (or NaN): exp gives 0 (or NaN) */
    if (t == NB_F32) {
        float buf[BLK], mf = (float)m;
        for (int64_t i0 = 0; i0 < r; i0 += BLK) {
            int64_t len = r - i0 < BLK ? r - i0 : BLK;
            for (int64_t i = 0; i < len; i++) buf[i] = xf[i0 + i] - mf;
            nbk_vmath_f32(NBK_VEXP, buf, buf, len);
            ACC8(len, acc[l] += buf[i]);
        }
    } else {
        ACC8(r, acc[l] += exp(xd[i] - m));
    }
    return m + log(lanes_sum(acc));
}

/* any / all with an early exit (NaN counts as non-zero) */
#define DEF_ANYALL(T, SUF)                                                                                   \
    static bool anyall_##SUF(const T *x, int64_t r, bool any) {                                              \
        if (any) {                                                                                           \
            for (int64_t i = 0; i < r; i++)                                                                  \
                if (x[i] != 0) return true;                                                                  \
            return false;                                                                                    \
        }                                                                                                    \
        for (int64_t i = 0; i < r; i++)                                                                      \
            if (x[i] == 0) return false;                                                                     \
        return true;                                                                                         \
    }
DEF_ANYALL(float, f)
DEF_ANYALL(double, d)
DEF_ANYALL(int64_t, i)

static void rr_chunk(void *ctx, int64_t b, int64_t e) {
    const rr_job *j = ctx;
    int64_t r = j->r;
    size_t es = nb_dtype_size(j->t);
    for (int64_t row = b; row < e; row++) {
        const void *x = j->x + (size_t)(row * r) * es;
        if (j->op == NBK_RANY || j->op == NBK_RALL) {
            bool any = j->op == NBK_RANY;
            ((uint8_t *)j->out)[row] = j->t == NB_F32   ? anyall_f(x, r, any)
                                       : j->t == NB_F64 ? anyall_d(x, r, any)
                                                        : anyall_i(x, r, any);
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
        if (inner == 1) { /* one running value */                                                           \
            T acc = x[rev ? n - 1 : 0];                                                                     \
            y[rev ? n - 1 : 0] = acc;                                                                       \
            for (int64_t s = 1; s < n; s++) {                                                               \
                int64_t j = rev ? n - 1 - s : s;                                                            \
                acc = op == NBK_CUMSUM ? acc + x[j] : MULT(acc, x[j]);                                      \
                y[j] = acc;                                                                                 \
            }                                                                                               \
            return;                                                                                         \
        }                                                                                                   \
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
        if (inner == 1) { /* one row: 8 lanes keep their first extremum; then the first NaN, if any */    \
            T m[LANES];                                                                                     \
            int64_t b[LANES], nan = 0;                                                                      \
            for (int l = 0; l < LANES; l++) m[l] = x[0], b[l] = 0;                                          \
            if (mx) ACC8(n, bool tk = x[i] > m[l]; m[l] = tk ? x[i] : m[l]; b[l] = tk ? i : b[l];           \
                         nan += x[i] != x[i]);                                                              \
            else ACC8(n, bool tk = x[i] < m[l]; m[l] = tk ? x[i] : m[l]; b[l] = tk ? i : b[l];              \
                      nan += x[i] != x[i]);                                                                 \
            int best = 0;                                                                                   \
            for (int l = 1; l < LANES; l++)                                                                 \
                if ((mx ? m[l] > m[best] : m[l] < m[best]) || (m[l] == m[best] && b[l] < b[best])) best = l; \
            T bv = m[best];                                                                                 \
            int64_t bi = b[best];                                                                           \
            if (nan)                                                                                        \
                for (int64_t j = 0; j < n; j++)                                                             \
                    if (x[j] != x[j]) {                                                                     \
                        bv = x[j], bi = j;                                                                  \
                        break;                                                                              \
                    }                                                                                       \
            v[0] = bv, ix[0] = bi;                                                                          \
            return;                                                                                         \
        }                                                                                                   \
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
