/* kernels/cpu/reduce.c — row and column reductions, softmax rows. The op layer permutes any set of
 * reduced dims into one of the two shapes handled here: (m rows, r reduced) or (r reduced, n columns).
 * f32 sums, max/min and softmax rows run the AVX-512 / AVX2 kernels (ew_simd.inc) when the CPU has
 * them; the loops here are the portable fallback and compute the same bits.
 *
 * Determinism: a long sum is cut into fixed 4096-element chunks whose partial sums are added in
 * order; each chunk uses running accumulators (64 lanes for f32, 8 for f64) combined in a fixed tree.
 * Nothing depends on how many threads ran, so results are bitwise identical for any thread count.
 */
#include "ew_internal.h"

#include <math.h>
#include <string.h>

#define CHUNK NBK_SUM_CHUNK

/* f32: 64 lanes, element i to lane i % 64, halving tree (the order of every SIMD level). */
static float sum_run_f(const float *restrict x, int64_t n) {
    const nbk_ew_arch *ar = nbk_ew_get();
    if (ar) return ar->sum_run(x, n);
    float acc[NBK_SUM_LANES] = {0};
    int64_t i = 0;
    for (; i + NBK_SUM_LANES <= n; i += NBK_SUM_LANES)
        for (int k = 0; k < NBK_SUM_LANES; k++) acc[k] += x[i + k];
    for (; i < n; i++) acc[i & (NBK_SUM_LANES - 1)] += x[i];
    for (int h = NBK_SUM_LANES / 2; h >= 1; h /= 2)
        for (int k = 0; k < h; k++) acc[k] += acc[k + h];
    return acc[0];
}

/* f64: 8 accumulators (vectorisable without -ffast-math). */
static double sum_run_d(const double *restrict x, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    for (; i < n; i++) acc[i & 7] += x[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

#define DEF_SUM(T, SUF)                                                                            \
    static T sum_##SUF(const T *x, int64_t n) {                                                    \
        if (n <= CHUNK) return sum_run_##SUF(x, n);                                                \
        T s = 0;                                                                                   \
        for (int64_t i = 0; i < n; i += CHUNK) s += sum_run_##SUF(x + i, n - i < CHUNK ? n - i : CHUNK); \
        return s;                                                                                  \
    }
DEF_SUM(float, f)
DEF_SUM(double, d)

static int64_t sum_i64(const int64_t *x, int64_t n) {
    uint64_t s = 0;
    for (int64_t i = 0; i < n; i++) s += (uint64_t)x[i];
    return (int64_t)s;
}

/* max/min propagate NaN like PyTorch; argmax returns the first maximum (a NaN counts as maximal). */
#define DEF_EXT(T, SUF)                                                                            \
    static T max_##SUF(const T *x, int64_t n) {                                                    \
        T m = x[0];                                                                                \
        for (int64_t i = 1; i < n; i++)                                                            \
            if (x[i] > m || x[i] != x[i]) m = x[i];                                                \
        return m;                                                                                  \
    }                                                                                              \
    static T min_##SUF(const T *x, int64_t n) {                                                    \
        T m = x[0];                                                                                \
        for (int64_t i = 1; i < n; i++)                                                            \
            if (x[i] < m || x[i] != x[i]) m = x[i];                                                \
        return m;                                                                                  \
    }                                                                                              \
    static int64_t argmax_##SUF(const T *x, int64_t n) {                                           \
        int64_t best = 0;                                                                          \
        for (int64_t i = 1; i < n; i++) {                                                          \
            if (x[best] != x[best]) break;                                                         \
            if (x[i] > x[best] || x[i] != x[i]) best = i;                                          \
        }                                                                                          \
        return best;                                                                               \
    }
DEF_EXT(float, f)
DEF_EXT(double, d)
DEF_EXT(int64_t, i)

typedef struct red_job {
    nbk_reduce op;
    nb_dtype t;
    const char *x;
    char *out;
    int64_t r, n;
} red_job;

static void rows_chunk(void *ctx, int64_t b, int64_t e) {
    const red_job *j = ctx;
    const nbk_ew_arch *ar = nbk_ew_get();
    for (int64_t row = b; row < e; row++) {
        switch (j->t) {
        case NB_F32: {
            const float *x = (const float *)j->x + row * j->r;
            if (j->op == NBK_RARGMAX) ((int64_t *)j->out)[row] = argmax_f(x, j->r);
            else if (j->op == NBK_RSUM) ((float *)j->out)[row] = sum_f(x, j->r);
            else if (ar) ((float *)j->out)[row] = j->op == NBK_RMAX ? ar->max_run(x, j->r) : ar->min_run(x, j->r);
            else ((float *)j->out)[row] = j->op == NBK_RMAX ? max_f(x, j->r) : min_f(x, j->r);
            break;
        }
        case NB_F64: {
            const double *x = (const double *)j->x + row * j->r;
            if (j->op == NBK_RARGMAX) ((int64_t *)j->out)[row] = argmax_d(x, j->r);
            else ((double *)j->out)[row] = j->op == NBK_RSUM ? sum_d(x, j->r) : j->op == NBK_RMAX ? max_d(x, j->r) : min_d(x, j->r);
            break;
        }
        default: {
            const int64_t *x = (const int64_t *)j->x + row * j->r;
            if (j->op == NBK_RARGMAX) ((int64_t *)j->out)[row] = argmax_i(x, j->r);
            else ((int64_t *)j->out)[row] = j->op == NBK_RSUM ? sum_i64(x, j->r) : j->op == NBK_RMAX ? max_i(x, j->r) : min_i(x, j->r);
            break;
        }
        }
    }
}

/* One long sum split over threads by its fixed chunks: partials[c] = sum of chunk c, then added in
 * order exactly as sum_f / sum_d do on one thread. */
typedef struct chunk_job {
    nb_dtype t;
    const char *x;
    int64_t r;
    double *partials; /* f32 partials are stored as (exact) doubles */
} chunk_job;

static void chunks_chunk(void *ctx, int64_t b, int64_t e) {
    const chunk_job *j = ctx;
    for (int64_t c = b; c < e; c++) {
        int64_t i = c * CHUNK, len = j->r - i < CHUNK ? j->r - i : CHUNK;
        j->partials[c] = j->t == NB_F32 ? (double)sum_run_f((const float *)j->x + i, len)
                                        : sum_run_d((const double *)j->x + i, len);
    }
}

static bool sum_long_row(nb_dtype t, const void *x, void *out, int64_t r) {
    int64_t nc = (r + CHUNK - 1) / CHUNK;
    size_t cap;
    double *partials = nbc_block_alloc((size_t)nc * sizeof(double), &cap);
    if (!partials) return false;
    chunk_job j = {t, x, r, partials};
    nbc_parallel_for(nc, 8, chunks_chunk, &j);
    if (t == NB_F32) {
        float s = 0;
        for (int64_t c = 0; c < nc; c++) s += (float)partials[c];
        *(float *)out = s;
    } else {
        double s = 0;
        for (int64_t c = 0; c < nc; c++) s += partials[c];
        *(double *)out = s;
    }
    nbc_block_free(partials, cap);
    return true;
}

void nbk_reduce_rows(nbk_reduce op, nb_dtype t, const void *x, void *out, int64_t m, int64_t r) {
    if (op == NBK_RSUM && m == 1 && r >= 16 * CHUNK && (t == NB_F32 || t == NB_F64) && sum_long_row(t, x, out, r))
        return;
    red_job j = {op, t, x, out, r, 0};
    int64_t grain = r >= 32768 ? 1 : 32768 / (r ? r : 1);
    nbc_parallel_for(m, grain, rows_chunk, &j);
}

/* ---- sums of strided rows (nbk_sum_rows_strided) ----------------------------------------------- */

typedef struct srow_job {
    nb_dtype t;
    const char *x;
    char *out;
    int ndim, nk;
    const int64_t *shape, *strides; /* in elements */
    int64_t r;
} srow_job;

/* Copy reduced elements [i0, i0 + len) of the row at x (row-major order over the reduced dims
 * [nk, ndim)) into buf: runs along the last dim, which are contiguous in the common case. */
static void gather_reduced(const srow_job *j, const char *x, int64_t i0, int64_t len, char *buf) {
    size_t es = j->t == NB_F32 ? 4 : 8;
    int last = j->ndim - 1;
    int64_t inner = j->shape[last], st = j->strides[last];
    for (int64_t k = 0; k < len;) {
        int64_t i = i0 + k, off = 0, rem = i;
        int64_t pos = rem % inner; /* position in the last dim */
        rem /= inner;
        for (int d = last - 1; d >= j->nk; d--) {
            off += (rem % j->shape[d]) * j->strides[d];
            rem /= j->shape[d];
        }
        int64_t run = inner - pos < len - k ? inner - pos : len - k;
        const char *src = x + (size_t)(off + pos * st) * es;
        if (st == 1) {
            memcpy(buf + (size_t)k * es, src, (size_t)run * es);
        } else if (es == 4) {
            for (int64_t q = 0; q < run; q++) ((float *)buf)[k + q] = ((const float *)src)[q * st];
        } else {
            for (int64_t q = 0; q < run; q++) ((double *)buf)[k + q] = ((const double *)src)[q * st];
        }
        k += run;
    }
}

static void srows_chunk(void *ctx, int64_t b, int64_t e) {
    const srow_job *j = ctx;
    size_t es = j->t == NB_F32 ? 4 : 8;
    double buf[CHUNK]; /* CHUNK f64 or f32 elements */
    for (int64_t row = b; row < e; row++) {
        int64_t off = 0, rem = row;
        for (int d = j->nk - 1; d >= 0; d--) {
            off += (rem % j->shape[d]) * j->strides[d];
            rem /= j->shape[d];
        }
        const char *x = j->x + (size_t)off * es;
        /* the chunking of sum_f / sum_d: one chunk alone, or partials added in order from zero */
        float sf = 0;
        double sd = 0;
        for (int64_t i = 0; i < j->r || i == 0; i += CHUNK) {
            int64_t len = j->r - i < CHUNK ? j->r - i : CHUNK;
            gather_reduced(j, x, i, len, (char *)buf);
            if (j->t == NB_F32) {
                float v = sum_run_f((const float *)buf, len);
                sf = j->r <= CHUNK ? v : sf + v;
            } else {
                double v = sum_run_d(buf, len);
                sd = j->r <= CHUNK ? v : sd + v;
            }
            if (len == 0) break;
        }
        if (j->t == NB_F32) ((float *)j->out)[row] = sf;
        else ((double *)j->out)[row] = sd;
    }
}

void nbk_sum_rows_strided(nb_dtype t, const void *x, void *out, int ndim, const int64_t *shape,
                          const int64_t *strides, int nk) {
    /* merge neighbouring dims of one group that are laid out as one (H, W -> H*W): longer runs */
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    int nd = 0, nkm = 0;
    for (int d = 0; d < ndim; d++) {
        bool same_group = nd > 0 && (d < nk) == (nd <= nkm);
        if (same_group && st[nd - 1] == shape[d] * strides[d]) {
            sh[nd - 1] *= shape[d];
            st[nd - 1] = strides[d];
        } else {
            sh[nd] = shape[d];
            st[nd++] = strides[d];
            if (d < nk) nkm = nd;
        }
    }
    int64_t m = 1, r = 1;
    for (int d = 0; d < nkm; d++) m *= sh[d];
    for (int d = nkm; d < nd; d++) r *= sh[d];
    srow_job j = {t, x, out, nd, nkm, sh, st, r};
    int64_t grain = r >= 32768 ? 1 : 32768 / (r ? r : 1);
    nbc_parallel_for(m, grain, srows_chunk, &j);
}

/* Column reduction: each thread owns a range of columns and walks all rows, so each output is
 * computed by one thread in a fixed order. */
#define DEF_COLS(T, SUF)                                                                           \
    static void cols_##SUF(nbk_reduce op, const T *x, T *o, int64_t r, int64_t n, int64_t b, int64_t e) { \
        for (int64_t j = b; j < e; j++) o[j] = x[j];                                               \
        for (int64_t i = 1; i < r; i++) {                                                          \
            const T *row = x + i * n;                                                              \
            if (op == NBK_RSUM)                                                                    \
                for (int64_t j = b; j < e; j++) o[j] += row[j];                                    \
            else if (op == NBK_RMAX)                                                               \
                for (int64_t j = b; j < e; j++) o[j] = (row[j] > o[j] || row[j] != row[j]) ? row[j] : o[j]; \
            else                                                                                   \
                for (int64_t j = b; j < e; j++) o[j] = (row[j] < o[j] || row[j] != row[j]) ? row[j] : o[j]; \
        }                                                                                          \
    }
DEF_COLS(float, f)
DEF_COLS(double, d)

static void cols_i(nbk_reduce op, const int64_t *x, int64_t *o, int64_t r, int64_t n, int64_t b, int64_t e) {
    for (int64_t j = b; j < e; j++) o[j] = x[j];
    for (int64_t i = 1; i < r; i++) {
        const int64_t *row = x + i * n;
        for (int64_t j = b; j < e; j++) {
            if (op == NBK_RSUM) o[j] = (int64_t)((uint64_t)o[j] + (uint64_t)row[j]);
            else if (op == NBK_RMAX) o[j] = row[j] > o[j] ? row[j] : o[j];
            else o[j] = row[j] < o[j] ? row[j] : o[j];
        }
    }
}

static void cols_argmax(nb_dtype t, const char *x, int64_t *o, int64_t r, int64_t n, int64_t b, int64_t e) {
    for (int64_t j = b; j < e; j++) {
        int64_t best = 0;
        double bv = nbc_load(x, t, j);
        for (int64_t i = 1; i < r && bv == bv; i++) {
            double v = nbc_load(x, t, i * n + j);
            if (v > bv || v != v) {
                best = i;
                bv = v;
            }
        }
        o[j] = best;
    }
}

static void cols_chunk(void *ctx, int64_t b, int64_t e) {
    const red_job *j = ctx;
    if (j->op == NBK_RARGMAX) cols_argmax(j->t, j->x, (int64_t *)j->out, j->r, j->n, b, e);
    else if (j->t == NB_F32 && nbk_ew_get()) nbk_ew_get()->cols(j->op, (const float *)j->x, (float *)j->out, j->r, j->n, b, e);
    else if (j->t == NB_F32) cols_f(j->op, (const float *)j->x, (float *)j->out, j->r, j->n, b, e);
    else if (j->t == NB_F64) cols_d(j->op, (const double *)j->x, (double *)j->out, j->r, j->n, b, e);
    else cols_i(j->op, (const int64_t *)j->x, (int64_t *)j->out, j->r, j->n, b, e);
}

void nbk_reduce_cols(nbk_reduce op, nb_dtype t, const void *x, void *out, int64_t r, int64_t n) {
    red_job j = {op, t, x, out, r, n};
    int64_t grain = r >= 32768 ? 16 : 32768 / (r ? r : 1);
    nbc_parallel_for(n, grain < 16 ? 16 : grain, cols_chunk, &j);
}

/* ---- softmax ------------------------------------------------------------------------------------ */

typedef struct sm_job {
    nb_dtype t;
    const char *x;
    char *y;
    int64_t r;
    bool log;
} sm_job;

/* f32 rows: the vector exp, and the sum in 64 lanes per 4096 chunk, chunks added in order (the
 * order of ew_simd.inc's softmax_row, which runs instead when the CPU has AVX2 or AVX-512). */
static void softmax_row_f(const float *x, float *y, int64_t r, bool lg) {
    const nbk_ew_arch *ar = nbk_ew_get();
    if (ar) {
        ar->softmax_row(x, y, r, lg);
        return;
    }
    float m = max_f(x, r);
    if (m == -INFINITY || m != m) m = 0; /* all -inf rows give NaN like PyTorch via exp(-inf-(-inf)) */
    float s = 0;
    for (int64_t c0 = 0; c0 < r; c0 += CHUNK) {
        int64_t c1 = r - c0 < CHUNK ? r : c0 + CHUNK;
        float acc[NBK_SUM_LANES] = {0};
        for (int64_t i = c0; i < c1; i++) {
            float v = nbk_vexpf(x[i] - m);
            if (!lg) y[i] = v;
            acc[(i - c0) & (NBK_SUM_LANES - 1)] += v;
        }
        for (int h = NBK_SUM_LANES / 2; h >= 1; h /= 2)
            for (int k = 0; k < h; k++) acc[k] += acc[k + h];
        s += acc[0];
    }
    if (lg) {
        float ls = nbk_vlogf(s);
        for (int64_t i = 0; i < r; i++) y[i] = (x[i] - m) - ls;
    } else {
        float inv = 1.0f / s;
        for (int64_t i = 0; i < r; i++) y[i] *= inv;
    }
}

static void softmax_row_d(const double *x, double *y, int64_t r, bool lg) {
    double m = max_d(x, r);
    if (m == -INFINITY || m != m) m = 0;
    for (int64_t i = 0; i < r; i++) y[i] = x[i] - m;
    double s = 0;
    if (lg) {
        for (int64_t i = 0; i < r; i++) s += exp(y[i]);
        double ls = log(s);
        for (int64_t i = 0; i < r; i++) y[i] -= ls;
    } else {
        for (int64_t i = 0; i < r; i++) {
            y[i] = exp(y[i]);
            s += y[i];
        }
        double inv = 1.0 / s;
        for (int64_t i = 0; i < r; i++) y[i] *= inv;
    }
}

static void sm_chunk(void *ctx, int64_t b, int64_t e) {
    const sm_job *j = ctx;
    for (int64_t row = b; row < e; row++) {
        if (j->t == NB_F32) softmax_row_f((const float *)j->x + row * j->r, (float *)j->y + row * j->r, j->r, j->log);
        else softmax_row_d((const double *)j->x + row * j->r, (double *)j->y + row * j->r, j->r, j->log);
    }
}

void nbk_softmax_rows(nb_dtype t, const void *x, void *y, int64_t m, int64_t r, bool log) {
    if (r == 0) return;
    sm_job j = {t, x, y, r, log};
    nbc_parallel_for(m, r >= 4096 ? 1 : 4096 / r, sm_chunk, &j);
}
