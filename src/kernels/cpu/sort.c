/* kernels/cpu/sort.c — stable row sorting and selection (sort, argsort, topk, kthvalue, median).
 *
 * Each row's values become unsigned keys whose order is the sort order (32-bit for f32, 64-bit for f64
 * and i64; inverted for descending), and the (key, index) pairs are sorted by a stable LSD radix sort
 * — O(n) per digit, digits that are equal for the whole row skipped, so small integers take one or two
 * passes — or, for short rows, a stable insertion sort. Stability keeps equal values (and NaNs, which
 * get the largest key: NaN sorts as the largest value, like torch.sort) in index order, ascending and
 * descending. topk with a small k scans once with a k-slot buffer instead, and kthvalue / median
 * select their one element by quickselect on (key, index) pairs (the same element a stable sort puts
 * there). The values written are
 * read back from the row at the sorted indices, so they are bit-exact (-0 stays -0, NaN payloads stay).
 * Rows are spread over threads; every row is handled by one thread. */
#include "sort.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* Sortable keys: the value's bits mapped so that unsigned order is the sort order. Floats: NaN -> all
 * ones (the largest; every NaN the same key, so NaNs keep their index order), -0 -> +0 (equal, as
 * PyTorch compares them), negative values bit-inverted, positive ones with the sign bit set. Integers:
 * the sign bit flipped. Descending inverts the keys. */
/* Branch-free (vectorisable) key fills; true when the row holds a NaN. x + 0 turns -0 into +0. */
static bool keys_f(const float *x, int64_t n, uint32_t flip, uint32_t *k) {
    uint32_t nan_acc = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] + 0.0f;
        uint32_t u;
        memcpy(&u, &v, 4);
        uint32_t isn = v != v ? UINT32_MAX : 0;
        nan_acc |= isn;
        k[i] = ((u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u)) | isn) ^ flip;
    }
    return nan_acc != 0;
}
static bool keys_d(const double *x, int64_t n, uint64_t flip, uint64_t *k) {
    uint64_t nan_acc = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i] + 0.0;
        uint64_t u;
        memcpy(&u, &v, 8);
        uint64_t isn = v != v ? UINT64_MAX : 0;
        nan_acc |= isn;
        k[i] = ((u ^ ((uint64_t)((int64_t)u >> 63) | (UINT64_C(1) << 63))) | isn) ^ flip;
    }
    return nan_acc != 0;
}
static bool keys_i(const int64_t *x, int64_t n, uint64_t flip, uint64_t *k) {
    for (int64_t i = 0; i < n; i++) k[i] = ((uint64_t)x[i] ^ (UINT64_C(1) << 63)) ^ flip;
    return false;
}

#define SMALL 48  /* rows up to this long are insertion-sorted */
#define SELECT 32 /* topk with k up to this (and k small against n) scans with a k-slot buffer */

/* KT keys: stable insertion sort; stable LSD radix sort (8-bit digits, all histograms in one pass,
 * passes whose digit is the same for every key skipped); and the k smallest keys by one scan. */
#define DEF_KEYSORT(KT, SUF)                                                                                 \
    static void ins_##SUF(KT *k, int64_t *ix, int64_t n) {                                                   \
        for (int64_t i = 1; i < n; i++) {                                                                    \
            KT v = k[i];                                                                                     \
            int64_t vi = ix[i], j = i;                                                                       \
            for (; j > 0 && v < k[j - 1]; j--) k[j] = k[j - 1], ix[j] = ix[j - 1];                          \
            k[j] = v, ix[j] = vi;                                                                            \
        }                                                                                                    \
    }                                                                                                        \
    static void radix_##SUF(KT *k, int64_t *ix, KT *k2, int64_t *ix2, int64_t n, KT **rk, int64_t **ri) {     \
        enum { ND = (int)sizeof(KT) };                                                                       \
        int64_t h[ND][256];                                                                                  \
        memset(h, 0, sizeof h);                                                                              \
        KT mn = k[0]; /* keys relative to the row minimum: small ranges leave high digits all zero */       \
        for (int64_t i = 1; i < n; i++) mn = k[i] < mn ? k[i] : mn;                                          \
        for (int64_t i = 0; i < n; i++) k[i] -= mn;                                                          \
        for (int64_t i = 0; i < n; i++)                                                                      \
            for (int d = 0; d < ND; d++) h[d][(k[i] >> (8 * d)) & 255]++;                                    \
        for (int d = 0; d < ND; d++) {                                                                       \
            int64_t *c = h[d], sum = 0;                                                                      \
            if (c[(k[0] >> (8 * d)) & 255] == n) continue; /* one digit value: nothing moves */              \
            for (int b = 0; b < 256; b++) {                                                                  \
                int64_t t = c[b];                                                                            \
                c[b] = sum;                                                                                  \
                sum += t;                                                                                    \
            }                                                                                                \
            for (int64_t i = 0; i < n; i++) {                                                                \
                int64_t q = c[(k[i] >> (8 * d)) & 255]++;                                                    \
                k2[q] = k[i];                                                                                \
                ix2[q] = ix[i];                                                                              \
            }                                                                                                \
            KT *tk = k;                                                                                      \
            k = k2, k2 = tk;                                                                                 \
            int64_t *ti = ix;                                                                                \
            ix = ix2, ix2 = ti;                                                                              \
        }                                                                                                    \
        *rk = k, *ri = ix;                                                                                   \
    }                                                                                                        \
    /* the kk smallest of k[0, n) in order into bk / bi (a strictly smaller key displaces the last, so  \
     * the earlier index wins among equal keys) */                                                          \
    static void select_##SUF(const KT *k, int64_t n, int64_t kk, KT *bk, int64_t *bi) {                     \
        int64_t cnt = 0;                                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            KT v = k[i];                                                                                     \
            if (cnt == kk && !(v < bk[kk - 1])) continue;                                                    \
            int64_t j = cnt < kk ? cnt++ : kk - 1;                                                           \
            for (; j > 0 && v < bk[j - 1]; j--) bk[j] = bk[j - 1], bi[j] = bi[j - 1];                       \
            bk[j] = v, bi[j] = i;                                                                            \
        }                                                                                                    \
    }
/* The element of rank p among (key, index) pairs ordered by key then index — the p-th of a stable sort —
 * by quickselect (median-of-3 pivots; the pairs are unique, so the scans always stop). Moves it to
 * position p. False after 64 rounds (a pathological input): the caller sorts instead. */
#define DEF_SELECT(KT, SUF)                                                                                  \
    static bool qselect_##SUF(KT *k, int64_t *ix, int64_t n, int64_t p) {                                    \
        int64_t lo = 0, hi = n - 1;                                                                          \
        for (int rounds = 0; hi > lo; rounds++) {                                                            \
            if (rounds == 64) return false;                                                                  \
            int64_t mid = lo + (hi - lo) / 2, c[3] = {lo, mid, hi};                                          \
            for (int a = 0; a < 2; a++) /* sort the three candidates */                                     \
                for (int b = 0; b < 2 - a; b++)                                                              \
                    if (k[c[b + 1]] < k[c[b]] || (k[c[b + 1]] == k[c[b]] && ix[c[b + 1]] < ix[c[b]])) {       \
                        int64_t tmp = c[b];                                                                  \
                        c[b] = c[b + 1], c[b + 1] = tmp;                                                     \
                    }                                                                                        \
            KT pk = k[c[1]];                                                                                 \
            int64_t pi = ix[c[1]], i = lo, j = hi;                                                           \
            while (i <= j) {                                                                                 \
                while (k[i] < pk || (k[i] == pk && ix[i] < pi)) i++;                                         \
                while (pk < k[j] || (pk == k[j] && pi < ix[j])) j--;                                         \
                if (i <= j) {                                                                                \
                    KT tk = k[i];                                                                            \
                    k[i] = k[j], k[j] = tk;                                                                  \
                    int64_t ti = ix[i];                                                                      \
                    ix[i] = ix[j], ix[j] = ti;                                                               \
                    i++, j--;                                                                                \
                }                                                                                            \
            }                                                                                                \
            if (p <= j) hi = j;                                                                              \
            else if (p >= i) lo = i;                                                                         \
            else break;                                                                                      \
        }                                                                                                    \
        return true;                                                                                         \
    }
DEF_KEYSORT(uint32_t, u32)
DEF_KEYSORT(uint64_t, u64)
DEF_SELECT(uint32_t, u32)
DEF_SELECT(uint64_t, u64)

/* vals[p] = x[src[p]] for p < cnt (elements of es bytes) */
static void take(size_t es, const void *x, const int64_t *src, void *vals, int64_t cnt) {
    if (es == 4)
        for (int64_t p = 0; p < cnt; p++) ((uint32_t *)vals)[p] = ((const uint32_t *)x)[src[p]];
    else
        for (int64_t p = 0; p < cnt; p++) ((uint64_t *)vals)[p] = ((const uint64_t *)x)[src[p]];
}

/* One row of n values of type t: sort (or select), then write what the mode asks. scratch: 2 n keys
 * and 2 n indices. */
#define DEF_ROW(KT, SUF, FILL)                                                                                   \
    static void row_##SUF(nb_dtype t, nbk_sort_mode mode, const void *x, void *vals, int64_t *idx, int64_t n,  \
                          int64_t k, bool desc, KT *ka, KT *kb, int64_t *ia, int64_t *ib) {                  \
        KT flip = desc ? (KT)~(KT)0 : 0;                                                                     \
        bool has_nan = FILL(t, x, n, flip, ka);                                                              \
        size_t es = nb_dtype_size(t);                                                                        \
        if (mode == NBK_SORT_MEDIAN && has_nan) { /* torch.median: the first NaN */                         \
            int64_t i = 0;                                                                                   \
            while (ka[i] != (KT)~(KT)0) i++;                                                                 \
            take(es, x, &i, vals, 1);                                                                        \
            idx[0] = i;                                                                                      \
            return;                                                                                          \
        }                                                                                                    \
        if (mode == NBK_SORT_FIRST && k <= SELECT && k * 16 <= n) {                                         \
            select_##SUF(ka, n, k, kb, idx);                                                                 \
            take(es, x, idx, vals, k);                                                                       \
            return;                                                                                          \
        }                                                                                                    \
        for (int64_t i = 0; i < n; i++) ia[i] = i;                                                           \
        if (mode != NBK_SORT_FIRST && n > SMALL) { /* one element of the order: select it */                \
            int64_t p = mode == NBK_SORT_KTH ? k - 1 : (n - 1) / 2;                                          \
            memcpy(kb, ka, (size_t)n * sizeof(KT)); /* kept for the fallback */                              \
            if (qselect_##SUF(ka, ia, n, p)) {                                                               \
                idx[0] = ia[p];                                                                              \
                take(es, x, idx, vals, 1);                                                                   \
                return;                                                                                      \
            }                                                                                                \
            memcpy(ka, kb, (size_t)n * sizeof(KT));                                                          \
            for (int64_t i = 0; i < n; i++) ia[i] = i;                                                       \
        }                                                                                                    \
        KT *rk = ka;                                                                                         \
        int64_t *ri = ia;                                                                                    \
        if (n <= SMALL) ins_##SUF(ka, ia, n);                                                                \
        else radix_##SUF(ka, ia, kb, ib, n, &rk, &ri);                                                       \
        int64_t p0 = 0, cnt = k;                                                                             \
        if (mode == NBK_SORT_KTH) p0 = k - 1, cnt = 1;                                                       \
        if (mode == NBK_SORT_MEDIAN) p0 = (n - 1) / 2, cnt = 1;                                              \
        memcpy(idx, ri + p0, (size_t)cnt * sizeof(int64_t));                                                 \
        take(es, x, idx, vals, cnt);                                                                         \
    }
#define FILL32(t, x, n, flip, k) keys_f(x, n, flip, k)
#define FILL64(t, x, n, flip, k) ((t) == NB_F64 ? keys_d(x, n, flip, k) : keys_i(x, n, flip, k))
DEF_ROW(uint32_t, u32, FILL32)
DEF_ROW(uint64_t, u64, FILL64)

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
    size_t es = nb_dtype_size(j->t), ks = j->t == NB_F32 ? 4 : 8, cap;
    int64_t n = j->n;
    char *scratch = nbc_block_alloc((size_t)n * (2 * ks + 2 * sizeof(int64_t)), &cap);
    if (!scratch) {
        atomic_store(&j->failed, 1);
        return;
    }
    int64_t *ia = (int64_t *)scratch, *ib = ia + n;
    void *ka = ib + n, *kb = (char *)ka + (size_t)n * ks;
    for (int64_t row = b; row < e; row++) {
        const char *x = j->x + (size_t)(row * n) * es;
        char *v = j->vals + (size_t)(row * j->per_row) * es;
        int64_t *ix = j->idx + row * j->per_row;
        if (ks == 4) row_u32(j->t, j->mode, x, v, ix, n, j->k, j->desc, ka, kb, ia, ib);
        else row_u64(j->t, j->mode, x, v, ix, n, j->k, j->desc, ka, kb, ia, ib);
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
