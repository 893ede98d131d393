/* kernels/cpu/sort.c — stable row sorting and selection (sort, argsort, topk, kthvalue, median).
 *
 * Each row is sorted on its own by a bottom-up merge sort of (value, index) pairs: insertion-sorted
 * runs of 16, then merge passes that ping-pong between two buffers, skipping merges whose halves are
 * already in order (so sorted input costs one comparison per run). Taking the right element only when
 * it is strictly before the left one keeps equal elements in index order, ascending and descending.
 * NaNs are set aside in the first pass (their indices, in order, at the tail of the index buffer) and
 * placed after the sorted values (ascending) or before them (descending): NaN sorts as the largest
 * value, like torch.sort. Rows are spread over threads; every row is sorted by one thread. */
#include "sort.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#define RUN 16

#define ISNAN_F(v) ((v) != (v))
#define ISNAN_I(v) 0
#define ASC(a, b) ((a) < (b))
#define DESC(a, b) ((a) > (b))

/* Sort a[0, cnt) (indices ai) by BEFORE using b / bi as scratch; returns the buffers holding the result. */
#define DEF_MERGESORT(T, SUF, DIR, BEFORE)                                                                   \
    static void msort_##SUF##_##DIR(T *a, int64_t *ai, T *b, int64_t *bi, int64_t cnt, T **rv, int64_t **ri) {  \
        for (int64_t s = 0; s < cnt; s += RUN) {                                                             \
            int64_t e = s + RUN < cnt ? s + RUN : cnt;                                                       \
            for (int64_t i = s + 1; i < e; i++) {                                                            \
                T v = a[i];                                                                                  \
                int64_t vi = ai[i], j = i;                                                                   \
                for (; j > s && BEFORE(v, a[j - 1]); j--) {                                                  \
                    a[j] = a[j - 1];                                                                         \
                    ai[j] = ai[j - 1];                                                                       \
                }                                                                                            \
                a[j] = v;                                                                                    \
                ai[j] = vi;                                                                                  \
            }                                                                                                \
        }                                                                                                    \
        T *src = a, *dst = b;                                                                                \
        int64_t *si = ai, *di = bi;                                                                          \
        for (int64_t w = RUN; w < cnt; w *= 2) {                                                             \
            for (int64_t lo = 0; lo < cnt; lo += 2 * w) {                                                    \
                int64_t mid = lo + w < cnt ? lo + w : cnt, hi = lo + 2 * w < cnt ? lo + 2 * w : cnt;         \
                if (mid >= hi || !BEFORE(src[mid], src[mid - 1])) { /* already in order */                 \
                    memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(T));                               \
                    memcpy(di + lo, si + lo, (size_t)(hi - lo) * sizeof(int64_t));                           \
                    continue;                                                                                \
                }                                                                                            \
                int64_t i = lo, j = mid, o = lo;                                                             \
                while (i < mid && j < hi) {                                                                  \
                    if (BEFORE(src[j], src[i])) {                                                            \
                        dst[o] = src[j];                                                                     \
                        di[o++] = si[j++];                                                                   \
                    } else {                                                                                 \
                        dst[o] = src[i];                                                                     \
                        di[o++] = si[i++];                                                                   \
                    }                                                                                        \
                }                                                                                            \
                for (; i < mid; i++, o++) dst[o] = src[i], di[o] = si[i];                                    \
                for (; j < hi; j++, o++) dst[o] = src[j], di[o] = si[j];                                     \
            }                                                                                                \
            T *tv = src;                                                                                     \
            src = dst;                                                                                       \
            dst = tv;                                                                                        \
            int64_t *ti = si;                                                                                \
            si = di;                                                                                         \
            di = ti;                                                                                         \
        }                                                                                                    \
        *rv = src;                                                                                           \
        *ri = si;                                                                                            \
    }

/* One row: sort, then write what the mode asks. The scratch holds 2 n values and 2 n indices. */
#define DEF_ROW(T, SUF, ISNAN, NANVAL)                                                                       \
    DEF_MERGESORT(T, SUF, asc, ASC)                                                                          \
    DEF_MERGESORT(T, SUF, desc, DESC)                                                                        \
    static void row_##SUF(nbk_sort_mode mode, const T *x, T *vals, int64_t *idx, int64_t n, int64_t k, bool desc, \
                          T *a, int64_t *ai, T *b, int64_t *bi) {                                            \
        int64_t cnt = 0, nn = 0;                                                                             \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            if (ISNAN(x[i])) {                                                                               \
                ai[n - 1 - nn++] = i; /* NaN indices, reversed, at the tail */                               \
            } else {                                                                                         \
                a[cnt] = x[i];                                                                               \
                ai[cnt++] = i;                                                                               \
            }                                                                                                \
        }                                                                                                    \
        if (mode == NBK_SORT_MEDIAN && nn > 0) {                                                             \
            vals[0] = x[ai[n - 1]];                                                                          \
            idx[0] = ai[n - 1];                                                                              \
            return;                                                                                          \
        }                                                                                                    \
        T *rv;                                                                                               \
        int64_t *ri;                                                                                         \
        if (desc) msort_##SUF##_desc(a, ai, b, bi, cnt, &rv, &ri);                                          \
        else msort_##SUF##_asc(a, ai, b, bi, cnt, &rv, &ri);                                                \
        int64_t p0 = 0, p1 = k;                                                                              \
        if (mode == NBK_SORT_KTH) p0 = k - 1, p1 = k;                                                        \
        if (mode == NBK_SORT_MEDIAN) p0 = (n - 1) / 2, p1 = p0 + 1;                                          \
        for (int64_t p = p0; p < p1; p++) {                                                                  \
            int64_t q = desc ? p - nn : p; /* position among the sorted non-NaN values */                   \
            if (q >= 0 && q < cnt) {                                                                         \
                vals[p - p0] = rv[q];                                                                        \
                idx[p - p0] = ri[q];                                                                         \
            } else {                                                                                         \
                int64_t w = desc ? p : p - cnt; /* w-th NaN */                                               \
                vals[p - p0] = NANVAL;                                                                       \
                idx[p - p0] = ai[n - 1 - w];                                                                 \
            }                                                                                                \
        }                                                                                                    \
    }

DEF_ROW(float, f, ISNAN_F, NAN)
DEF_ROW(double, d, ISNAN_F, NAN)
DEF_ROW(int64_t, i, ISNAN_I, 0)

typedef struct sort_job {
    nb_dtype t;
    nbk_sort_mode mode;
    const char *x;
    char *vals;
    int64_t *idx;
    int64_t n, k, per_row; /* outputs per row */
    bool desc;
    atomic_int failed;
} sort_job;

static void sort_chunk(void *ctx, int64_t b, int64_t e) {
    sort_job *j = ctx;
    size_t es = nb_dtype_size(j->t), cap;
    int64_t n = j->n;
    char *scratch = nbc_block_alloc((size_t)(n ? n : 1) * (2 * es + 2 * sizeof(int64_t)), &cap);
    if (!scratch) {
        atomic_store(&j->failed, 1);
        return;
    }
    int64_t *ai = (int64_t *)scratch, *bi = ai + n;
    void *a = bi + n, *bb = (char *)a + (size_t)n * es;
    for (int64_t row = b; row < e; row++) {
        const char *x = j->x + (size_t)(row * n) * es;
        char *v = j->vals + (size_t)(row * j->per_row) * es;
        int64_t *ix = j->idx + row * j->per_row;
        if (j->t == NB_F32) row_f(j->mode, (const float *)x, (float *)v, ix, n, j->k, j->desc, a, ai, bb, bi);
        else if (j->t == NB_F64) row_d(j->mode, (const double *)x, (double *)v, ix, n, j->k, j->desc, a, ai, bb, bi);
        else row_i(j->mode, (const int64_t *)x, (int64_t *)v, ix, n, j->k, j->desc, a, ai, bb, bi);
    }
    nbc_block_free(scratch, cap);
}

bool nbk_sort_rows(nb_dtype t, nbk_sort_mode mode, const void *x, void *vals, int64_t *idx, int64_t m, int64_t n,
                   int64_t k, bool descending) {
    if (m == 0 || n == 0) return true;
    sort_job j = {t, mode, x, vals, idx, n, k, mode == NBK_SORT_FIRST ? k : 1, descending && mode == NBK_SORT_FIRST, 0};
    int64_t grain = n >= 16384 ? 1 : 16384 / n;
    nbc_parallel_for(m, grain, sort_chunk, &j);
    return atomic_load(&j.failed) == 0;
}
