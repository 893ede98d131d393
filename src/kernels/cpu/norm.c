/* kernels/cpu/norm.c — fused batch normalisation (see norm.h).
 *
 * Two layouts: when a (sample, channel) run is long (s >= ROWS_BELOW, e.g. the H*W plane of a conv
 * activation) each channel is walked run by run, all its passes back to back while its data is still
 * in cache; when runs are short ((N, C) or (N, C, small L)) a block of channels is walked sample by
 * sample so the reads stay contiguous. Either way a channel's sums are taken in an order that depends
 * only on (n, s), never on how the channels were split between threads.
 */
#include "norm.h"

#include <math.h>

#define CHUNK 4096    /* run pieces summed with 8 accumulators of the compute type */
#define ROWS_BELOW 32 /* runs shorter than this use the row layout */
#define RB 128        /* channels per block in the row layout */

typedef struct bn_job {
    const nbk_bn_geom *g;
    bool flag; /* forward: compute the statistics; backward: training */
    double eps;
    const void *x, *gy, *w, *b;
    void *mean, *invstd, *var; /* const in backward */
    void *y, *gw, *gb;         /* y is gx in backward */
} bn_job;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

#define ACC8_FOLD(a) (double)((((a)[0] + (a)[4]) + ((a)[1] + (a)[5])) + (((a)[2] + (a)[6]) + ((a)[3] + (a)[7])))

#define DEF_BN(T, SUF)                                                                             \
    /* sum of x[0..n) */                                                                           \
    static double sum_##SUF(const T *restrict x, int64_t n) {                                      \
        double total = 0;                                                                          \
        for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {                                                \
            const T *p = x + i0;                                                                   \
            int64_t m = min64(n - i0, CHUNK), i = 0;                                               \
            T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                   \
            for (; i + 8 <= m; i += 8)                                                             \
                for (int k = 0; k < 8; k++) acc[k] += p[i + k];                                    \
            for (; i < m; i++) acc[i & 7] += p[i];                                                 \
            total += ACC8_FOLD(acc);                                                               \
        }                                                                                          \
        return total;                                                                              \
    }                                                                                              \
    /* sum of (x - mu)^2 */                                                                        \
    static double sqdev_##SUF(const T *restrict x, int64_t n, T mu) {                              \
        double total = 0;                                                                          \
        for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {                                                \
            const T *p = x + i0;                                                                   \
            int64_t m = min64(n - i0, CHUNK), i = 0;                                               \
            T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                   \
            for (; i + 8 <= m; i += 8)                                                             \
                for (int k = 0; k < 8; k++) {                                                      \
                    T d = p[i + k] - mu;                                                           \
                    acc[k] += d * d;                                                               \
                }                                                                                  \
            for (; i < m; i++) {                                                                   \
                T d = p[i] - mu;                                                                   \
                acc[i & 7] += d * d;                                                               \
            }                                                                                      \
            total += ACC8_FOLD(acc);                                                               \
        }                                                                                          \
        return total;                                                                              \
    }                                                                                              \
    /* *sg += sum of g, *sgx += sum of g * (x - mu) */                                             \
    static void dot2_##SUF(const T *restrict g, const T *restrict x, int64_t n, T mu, double *sg, double *sgx) { \
        for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {                                                \
            const T *pg = g + i0, *px = x + i0;                                                    \
            int64_t m = min64(n - i0, CHUNK), i = 0;                                               \
            T a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};                   \
            for (; i + 8 <= m; i += 8)                                                             \
                for (int k = 0; k < 8; k++) {                                                      \
                    a[k] += pg[i + k];                                                             \
                    b[k] += pg[i + k] * (px[i + k] - mu);                                          \
                }                                                                                  \
            for (; i < m; i++) {                                                                   \
                a[i & 7] += pg[i];                                                                 \
                b[i & 7] += pg[i] * (px[i] - mu);                                                  \
            }                                                                                      \
            *sg += ACC8_FOLD(a);                                                                   \
            *sgx += ACC8_FOLD(b);                                                                  \
        }                                                                                          \
    }                                                                                              \
    /* ---- long runs: one channel at a time ---- */                                               \
    static void fwd_plane_##SUF(const bn_job *j, int64_t ch) {                                     \
        int64_t n = j->g->n, c = j->g->c, s = j->g->s;                                             \
        const T *x = j->x, *w = j->w, *b = j->b;                                                   \
        T *mean = j->mean, *invstd = j->invstd, *var = j->var, *y = j->y;                          \
        if (j->flag) {                                                                             \
            double m = (double)(n * s), s1 = 0, s2 = 0;                                            \
            for (int64_t i = 0; i < n; i++) s1 += sum_##SUF(x + (i * c + ch) * s, s);              \
            T mu = (T)(s1 / m);                                                                    \
            for (int64_t i = 0; i < n; i++) s2 += sqdev_##SUF(x + (i * c + ch) * s, s, mu);        \
            mean[ch] = mu;                                                                         \
            var[ch] = (T)(s2 / m);                                                                 \
            invstd[ch] = (T)(1.0 / sqrt(s2 / m + j->eps));                                         \
        }                                                                                          \
        T mu = mean[ch], sc = invstd[ch] * w[ch], sh = b[ch];                                      \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T *restrict xr = x + (i * c + ch) * s;                                           \
            T *restrict yr = y + (i * c + ch) * s;                                                 \
            for (int64_t k = 0; k < s; k++) yr[k] = (xr[k] - mu) * sc + sh;                        \
        }                                                                                          \
    }                                                                                              \
    static void bwd_plane_##SUF(const bn_job *j, int64_t ch) {                                     \
        int64_t n = j->g->n, c = j->g->c, s = j->g->s;                                             \
        const T *x = j->x, *gy = j->gy, *w = j->w, *mean = j->mean, *invstd = j->invstd;           \
        T *gx = j->y, *gw = j->gw, *gb = j->gb;                                                    \
        T mu = mean[ch], is = invstd[ch], k1 = w[ch] * is;                                         \
        double sg = 0, sgx = 0;                                                                    \
        if (j->flag) {                                                                             \
            for (int64_t i = 0; i < n; i++)                                                        \
                dot2_##SUF(gy + (i * c + ch) * s, x + (i * c + ch) * s, s, mu, &sg, &sgx);         \
            double m = (double)(n * s);                                                            \
            T c2 = (T)(-(double)k1 * is * (sgx * is) / m), c3 = (T)(-(double)k1 * sg / m);         \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const T *restrict gr = gy + (i * c + ch) * s, *restrict xr = x + (i * c + ch) * s;  \
                T *restrict out = gx + (i * c + ch) * s;                                           \
                for (int64_t k = 0; k < s; k++) out[k] = k1 * gr[k] + c2 * (xr[k] - mu) + c3;      \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const T *restrict gr = gy + (i * c + ch) * s, *restrict xr = x + (i * c + ch) * s;  \
                T *restrict out = gx + (i * c + ch) * s;                                           \
                dot2_##SUF(gr, xr, s, mu, &sg, &sgx);                                              \
                for (int64_t k = 0; k < s; k++) out[k] = k1 * gr[k];                               \
            }                                                                                      \
        }                                                                                          \
        gw[ch] = (T)(sgx * is);                                                                    \
        gb[ch] = (T)sg;                                                                            \
    }                                                                                              \
    /* ---- short runs: a block of channels [c0, c0 + nb), sample by sample ---- */                \
    static void fwd_rows_##SUF(const bn_job *j, int64_t c0, int64_t nb) {                          \
        int64_t n = j->g->n, c = j->g->c, s = j->g->s;                                             \
        const T *x = j->x, *w = j->w, *b = j->b;                                                   \
        T *mean = j->mean, *invstd = j->invstd, *var = j->var, *y = j->y;                          \
        if (j->flag) {                                                                             \
            double s1[RB], s2[RB], m = (double)(n * s);                                            \
            T mu[RB];                                                                              \
            for (int64_t q = 0; q < nb; q++) s1[q] = s2[q] = 0;                                    \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const T *xr = x + (i * c + c0) * s;                                                \
                for (int64_t q = 0; q < nb; q++)                                                   \
                    for (int64_t k = 0; k < s; k++) s1[q] += (double)xr[q * s + k];                \
            }                                                                                      \
            for (int64_t q = 0; q < nb; q++) mu[q] = (T)(s1[q] / m);                               \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const T *xr = x + (i * c + c0) * s;                                                \
                for (int64_t q = 0; q < nb; q++)                                                   \
                    for (int64_t k = 0; k < s; k++) {                                              \
                        T d = xr[q * s + k] - mu[q];                                               \
                        s2[q] += (double)(d * d);                                                  \
                    }                                                                              \
            }                                                                                      \
            for (int64_t q = 0; q < nb; q++) {                                                     \
                mean[c0 + q] = mu[q];                                                              \
                var[c0 + q] = (T)(s2[q] / m);                                                      \
                invstd[c0 + q] = (T)(1.0 / sqrt(s2[q] / m + j->eps));                              \
            }                                                                                      \
        }                                                                                          \
        T sc[RB];                                                                                  \
        for (int64_t q = 0; q < nb; q++) sc[q] = invstd[c0 + q] * w[c0 + q];                       \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T *xr = x + (i * c + c0) * s;                                                    \
            T *yr = y + (i * c + c0) * s;                                                          \
            for (int64_t q = 0; q < nb; q++)                                                       \
                for (int64_t k = 0; k < s; k++)                                                    \
                    yr[q * s + k] = (xr[q * s + k] - mean[c0 + q]) * sc[q] + b[c0 + q];            \
        }                                                                                          \
    }                                                                                              \
    static void bwd_rows_##SUF(const bn_job *j, int64_t c0, int64_t nb) {                          \
        int64_t n = j->g->n, c = j->g->c, s = j->g->s;                                             \
        const T *x = j->x, *gy = j->gy, *w = j->w, *mean = j->mean, *invstd = j->invstd;           \
        T *gx = j->y, *gw = j->gw, *gb = j->gb;                                                    \
        double sg[RB], sgx[RB], m = (double)(n * s);                                               \
        T k1[RB], c2[RB], c3[RB];                                                                  \
        for (int64_t q = 0; q < nb; q++) {                                                         \
            sg[q] = sgx[q] = 0;                                                                    \
            k1[q] = w[c0 + q] * invstd[c0 + q];                                                    \
        }                                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T *xr = x + (i * c + c0) * s, *gr = gy + (i * c + c0) * s;                       \
            for (int64_t q = 0; q < nb; q++)                                                       \
                for (int64_t k = 0; k < s; k++) {                                                  \
                    T gv = gr[q * s + k];                                                          \
                    sg[q] += (double)gv;                                                           \
                    sgx[q] += (double)(gv * (xr[q * s + k] - mean[c0 + q]));                       \
                }                                                                                  \
        }                                                                                          \
        for (int64_t q = 0; q < nb; q++) {                                                         \
            double is = invstd[c0 + q];                                                            \
            c2[q] = j->flag ? (T)(-(double)k1[q] * is * (sgx[q] * is) / m) : 0;                    \
            c3[q] = j->flag ? (T)(-(double)k1[q] * sg[q] / m) : 0;                                 \
            gw[c0 + q] = (T)(sgx[q] * is);                                                         \
            gb[c0 + q] = (T)sg[q];                                                                 \
        }                                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T *xr = x + (i * c + c0) * s, *gr = gy + (i * c + c0) * s;                       \
            T *out = gx + (i * c + c0) * s;                                                        \
            for (int64_t q = 0; q < nb; q++)                                                       \
                for (int64_t k = 0; k < s; k++)                                                    \
                    out[q * s + k] = k1[q] * gr[q * s + k] + c2[q] * (xr[q * s + k] - mean[c0 + q]) + c3[q]; \
        }                                                                                          \
    }
DEF_BN(float, f)
DEF_BN(double, d)

typedef struct bn_ctx {
    const bn_job *j;
    bool f64, backward;
} bn_ctx;

static void bn_chunk(void *p, int64_t begin, int64_t end) {
    const bn_ctx *cx = p;
    const bn_job *j = cx->j;
    if (j->g->s >= ROWS_BELOW) {
        for (int64_t ch = begin; ch < end; ch++) {
            if (cx->backward) cx->f64 ? bwd_plane_d(j, ch) : bwd_plane_f(j, ch);
            else cx->f64 ? fwd_plane_d(j, ch) : fwd_plane_f(j, ch);
        }
        return;
    }
    for (int64_t c0 = begin; c0 < end; c0 += RB) {
        int64_t nb = min64(end - c0, RB);
        if (cx->backward) cx->f64 ? bwd_rows_d(j, c0, nb) : bwd_rows_f(j, c0, nb);
        else cx->f64 ? fwd_rows_d(j, c0, nb) : fwd_rows_f(j, c0, nb);
    }
}

static void bn_run(nb_dtype t, const bn_job *j, bool backward) {
    const nbk_bn_geom *g = j->g;
    int64_t per_channel = g->n * g->s;
    int64_t grain = per_channel > 0 ? 32768 / per_channel : g->c;
    bn_ctx cx = {.j = j, .f64 = t == NB_F64, .backward = backward};
    nbc_parallel_for(g->c, grain < 1 ? 1 : grain, bn_chunk, &cx);
}

void nbk_bn_forward(nb_dtype t, const nbk_bn_geom *g, bool stats, double eps, const void *x, const void *w,
                    const void *b, void *mean, void *invstd, void *var, void *y) {
    bn_job j = {.g = g, .flag = stats, .eps = eps, .x = x, .w = w, .b = b, .mean = mean, .invstd = invstd,
                .var = var, .y = y};
    bn_run(t, &j, false);
}

void nbk_bn_backward(nb_dtype t, const nbk_bn_geom *g, bool training, const void *gy, const void *x,
                     const void *mean, const void *invstd, const void *w, void *gx, void *gw, void *gb) {
    bn_job j = {.g = g, .flag = training, .x = x, .gy = gy, .w = w, .mean = (void *)mean,
                .invstd = (void *)invstd, .y = gx, .gw = gw, .gb = gb};
    bn_run(t, &j, true);
}

/* ---- layer normalisation over rows of d contiguous features ------------------------------------- */

typedef struct ln_job {
    int64_t rows, d;
    double eps;
    const void *x, *gy, *w, *b, *mean_in, *rstd_in;
    void *mean, *rstd, *y, *gw, *gb;
} ln_job;

#define LN_COLS 256 /* columns per block of the weight-gradient pass */

#define DEF_LN(T, SUF)                                                                             \
    /* Rows [r0, r1): two passes over the cached row for the statistics, one for y. */              \
    static void ln_fwd_##SUF(const ln_job *j, int64_t r0, int64_t r1) {                            \
        const T *w = j->w, *b = j->b;                                                              \
        int64_t d = j->d;                                                                          \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const T *x = (const T *)j->x + r * d;                                                  \
            T *y = (T *)j->y + r * d;                                                              \
            T mu = (T)(sum_##SUF(x, d) / (double)d);                                               \
            double var = sqdev_##SUF(x, d, mu) / (double)d;                                        \
            T rs = (T)(1.0 / sqrt(var + j->eps));                                                  \
            ((T *)j->mean)[r] = mu;                                                                \
            ((T *)j->rstd)[r] = rs;                                                                \
            for (int64_t i = 0; i < d; i++) y[i] = (x[i] - mu) * rs * w[i] + b[i];                 \
        }                                                                                          \
    }                                                                                              \
    /* gx for rows [r0, r1): h = gy w, gx = rstd (h - mean(h) - xhat mean(h xhat)). */              \
    static void ln_bwd_rows_##SUF(const ln_job *j, int64_t r0, int64_t r1) {                       \
        const T *w = j->w;                                                                         \
        int64_t d = j->d;                                                                          \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const T *x = (const T *)j->x + r * d, *g = (const T *)j->gy + r * d;                   \
            T *gx = (T *)j->y + r * d;                                                             \
            T mu = ((const T *)j->mean_in)[r], rs = ((const T *)j->rstd_in)[r];                    \
            T sa[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sb[8] = {0, 0, 0, 0, 0, 0, 0, 0};                  \
            int64_t i = 0;                                                                         \
            for (; i + 8 <= d; i += 8)                                                             \
                for (int k = 0; k < 8; k++) {                                                      \
                    T h = g[i + k] * w[i + k];                                                     \
                    sa[k] += h;                                                                    \
                    sb[k] += h * (x[i + k] - mu);                                                  \
                }                                                                                  \
            for (; i < d; i++) {                                                                   \
                T h = g[i] * w[i];                                                                 \
                sa[i & 7] += h;                                                                    \
                sb[i & 7] += h * (x[i] - mu);                                                      \
            }                                                                                      \
            T A = (T)(ACC8_FOLD(sa) / (double)d), B = (T)(ACC8_FOLD(sb) * (double)rs / (double)d); \
            for (i = 0; i < d; i++) gx[i] = rs * (g[i] * w[i] - A - (x[i] - mu) * rs * B);         \
        }                                                                                          \
    }                                                                                              \
    /* gw, gb for columns [c0, c1): sums over all rows in row order (independent of threads). */    \
    static void ln_bwd_cols_##SUF(const ln_job *j, int64_t c0, int64_t c1) {                       \
        int64_t d = j->d;                                                                          \
        T *gw = (T *)j->gw, *gb = (T *)j->gb;                                                      \
        for (int64_t c = c0; c < c1; c++) gw[c] = gb[c] = 0;                                       \
        for (int64_t r = 0; r < j->rows; r++) {                                                    \
            const T *x = (const T *)j->x + r * d, *g = (const T *)j->gy + r * d;                   \
            T mu = ((const T *)j->mean_in)[r], rs = ((const T *)j->rstd_in)[r];                    \
            for (int64_t c = c0; c < c1; c++) {                                                    \
                gw[c] += g[c] * (x[c] - mu) * rs;                                                  \
                gb[c] += g[c];                                                                     \
            }                                                                                      \
        }                                                                                          \
    }

#define DEF_RMS(T, SUF)                                                                            \
    static void rms_fwd_##SUF(const ln_job *j, int64_t r0, int64_t r1) {                           \
        const T *w = j->w;                                                                         \
        int64_t d = j->d;                                                                          \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const T *x = (const T *)j->x + r * d;                                                  \
            T *y = (T *)j->y + r * d;                                                              \
            T rs = (T)(1.0 / sqrt(sqdev_##SUF(x, d, 0) / (double)d + j->eps));                     \
            ((T *)j->rstd)[r] = rs;                                                                \
            for (int64_t i = 0; i < d; i++) y[i] = x[i] * rs * w[i];                               \
        }                                                                                          \
    }

DEF_LN(float, f)
DEF_LN(double, d)
DEF_RMS(float, f)
DEF_RMS(double, d)

typedef struct ln_ctx {
    nb_dtype t;
    const ln_job *j;
    int pass; /* 0 forward rows, 1 backward rows, 2 backward columns (blocks of LN_COLS), 3 rms forward */
} ln_ctx;

static void ln_chunk(void *p, int64_t begin, int64_t end) {
    const ln_ctx *c = p;
    bool f = c->t == NB_F32;
    if (c->pass == 0) f ? ln_fwd_f(c->j, begin, end) : ln_fwd_d(c->j, begin, end);
    else if (c->pass == 3) f ? rms_fwd_f(c->j, begin, end) : rms_fwd_d(c->j, begin, end);
    else if (c->pass == 1) f ? ln_bwd_rows_f(c->j, begin, end) : ln_bwd_rows_d(c->j, begin, end);
    else {
        int64_t c0 = begin * LN_COLS, c1 = min64(end * LN_COLS, c->j->d);
        f ? ln_bwd_cols_f(c->j, c0, c1) : ln_bwd_cols_d(c->j, c0, c1);
    }
}

static void ln_run(nb_dtype t, const ln_job *j, int pass) {
    ln_ctx c = {t, j, pass};
    int64_t n = pass == 2 ? (j->d + LN_COLS - 1) / LN_COLS : j->rows;
    int64_t work = pass == 2 ? j->rows * LN_COLS : j->d; /* elements per unit */
    int64_t grain = 16384 / (work ? work : 1);
    nbc_parallel_for(n, grain < 1 ? 1 : grain, ln_chunk, &c);
}

void nbk_ln_forward(nb_dtype t, int64_t rows, int64_t d, double eps, const void *x, const void *w, const void *b,
                    void *mean, void *rstd, void *y) {
    ln_job j = {.rows = rows, .d = d, .eps = eps, .x = x, .w = w, .b = b, .mean = mean, .rstd = rstd, .y = y};
    if (d > 0) ln_run(t, &j, 0);
    else /* no features: the statistics of an empty row are NaN, as in PyTorch */
        for (int64_t r = 0; r < rows; r++) nbc_store(mean, t, r, NAN), nbc_store(rstd, t, r, NAN);
}

void nbk_ln_backward(nb_dtype t, int64_t rows, int64_t d, const void *gy, const void *x, const void *mean,
                     const void *rstd, const void *w, void *gx, void *gw, void *gb) {
    ln_job j = {.rows = rows, .d = d, .x = x, .gy = gy, .w = w, .mean_in = mean, .rstd_in = rstd, .y = gx, .gw = gw, .gb = gb};
    if (d == 0) return;
    if (gx) ln_run(t, &j, 1);
    if (gw) ln_run(t, &j, 2);
}

void nbk_rms_forward(nb_dtype t, int64_t rows, int64_t d, double eps, const void *x, const void *w, void *rstd, void *y) {
    ln_job j = {.rows = rows, .d = d, .eps = eps, .x = x, .w = w, .rstd = rstd, .y = y};
    if (d > 0) ln_run(t, &j, 3);
    else
        for (int64_t r = 0; r < rows; r++) nbc_store(rstd, t, r, NAN);
}
