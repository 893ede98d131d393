/* kernels/cpu/gemm.c — the reference matrix multiply: C = A * B for row-major C, any strides for A
 * and B. B is packed into contiguous rows when its rows are not contiguous, then each block of four C
 * rows streams over B's rows so every loaded B element feeds four FMAs. The packed, register-tiled
 * SIMD GEMM replaces this behind the same function; this one stays as the portable fallback. */
#include "kernels.h"

#include <string.h>

typedef struct gemm_job {
    nb_dtype t;
    int64_t m, n, k;
    const char *a;
    int64_t rsa, csa;
    const char *b; /* row-contiguous: element (p, j) at b[p * ldb + j] */
    int64_t ldb;
    char *c;
    int64_t ldc;
} gemm_job;

#define DEF_GEMM_ROWS(T, SUF)                                                                      \
    static void rows_##SUF(const gemm_job *g, int64_t i0, int64_t i1) {                            \
        const T *A = (const T *)g->a, *B = (const T *)g->b;                                        \
        int64_t n = g->n, k = g->k;                                                                \
        for (int64_t i = i0; i < i1; i += 4) {                                                     \
            int64_t rows = i1 - i < 4 ? i1 - i : 4;                                                \
            T *C0 = (T *)g->c + i * g->ldc;                                                        \
            for (int64_t r = 0; r < rows; r++) memset(C0 + r * g->ldc, 0, (size_t)n * sizeof(T));  \
            for (int64_t p = 0; p < k; p++) {                                                      \
                const T *restrict Bp = B + p * g->ldb;                                             \
                if (rows == 4) {                                                                   \
                    T a0 = A[i * g->rsa + p * g->csa], a1 = A[(i + 1) * g->rsa + p * g->csa];      \
                    T a2 = A[(i + 2) * g->rsa + p * g->csa], a3 = A[(i + 3) * g->rsa + p * g->csa]; \
                    T *restrict c0 = C0, *restrict c1 = C0 + g->ldc;                               \
                    T *restrict c2 = C0 + 2 * g->ldc, *restrict c3 = C0 + 3 * g->ldc;              \
                    for (int64_t j = 0; j < n; j++) {                                              \
                        T bv = Bp[j];                                                              \
                        c0[j] += a0 * bv;                                                          \
                        c1[j] += a1 * bv;                                                          \
                        c2[j] += a2 * bv;                                                          \
                        c3[j] += a3 * bv;                                                          \
                    }                                                                              \
                } else {                                                                           \
                    for (int64_t r = 0; r < rows; r++) {                                           \
                        T av = A[(i + r) * g->rsa + p * g->csa];                                   \
                        T *restrict cr = C0 + r * g->ldc;                                          \
                        for (int64_t j = 0; j < n; j++) cr[j] += av * Bp[j];                       \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
DEF_GEMM_ROWS(float, f)
DEF_GEMM_ROWS(double, d)

static void gemm_chunk(void *ctx, int64_t b, int64_t e) {
    const gemm_job *g = ctx;
    /* chunks are in units of 4 rows so the 4-row blocks never straddle threads */
    int64_t i0 = b * 4, i1 = e * 4 < g->m ? e * 4 : g->m;
    if (g->t == NB_F32) rows_f(g, i0, i1);
    else rows_d(g, i0, i1);
}

void nbk_gemm(nb_dtype t, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa, const void *b,
              int64_t rsb, int64_t csb, void *c, int64_t ldc) {
    if (m == 0 || n == 0) return;
    size_t z = nb_dtype_size(t);
    gemm_job g = {t, m, n, k, a, rsa, csa, b, rsb, c, ldc};
    void *packed = NULL;
    size_t cap = 0;
    if (csb != 1 && k > 0) {
        /* Pack B into row-major so the inner loop is unit-stride. If memory runs out, fall back to
         * computing column by column with strided B (slow but correct). */
        packed = nbc_block_alloc((size_t)(k * n) * z, &cap);
        if (packed) {
            int64_t shape[2] = {k, n}, ds[2] = {n, 1}, ss[2] = {rsb, csb};
            nbk_copy(packed, t, ds, b, t, ss, 2, shape);
            g.b = packed;
            g.ldb = n;
        }
    }
    if (csb != 1 && !packed && k > 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++)
                    s += nbc_load(a, t, i * rsa + p * csa) * nbc_load(b, t, p * rsb + j * csb);
                nbc_store(c, t, i * ldc + j, s);
            }
        return;
    }
    int64_t blocks = (m + 3) / 4;
    int64_t flops_per_block = 8 * n * (k ? k : 1);
    int64_t grain = flops_per_block >= 200000 ? 1 : 200000 / flops_per_block;
    nbc_parallel_for(blocks, grain, gemm_chunk, &g);
    if (packed) nbc_block_free(packed, cap);
}
