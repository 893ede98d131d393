/* kernels/cpu/gemm.c — matrix multiply C = A * B (+ epilogue) for row-major C and any strides of A and B.
 *
 * f32 on x86-64 with AVX2+FMA or AVX-512 runs a Goto/BLIS-style GEMM: A and B are packed into
 * zero-padded micro-panels (the packing absorbs transposes and strides), and a register-tiled
 * micro-kernel from gemm_avx512.c (12x32) or gemm_avx2.c (6x16) computes each MR x NR tile of C.
 * The kernel is chosen once from nb_cpu_features() (which honours NABLA_CPU_MAX).
 *
 * Loop nest (the vector dimension is N, so the roles of BLIS's A and B are swapped):
 *   ic3 over M by MC_MAX     A~ (mc x kc) is packed once per k-block, shared by all threads (L3)
 *   pc  over K by kc         kc depends on K only, so the summation order never depends on threads
 *   tasks: rectangles of the block (columns by <= NC_MAX, and rows when columns are too few), run
 *          through nbc_parallel_for; each task packs its B~ (kc x nc, in its core's L2) and runs
 *     ic over rows by MC_L2  this strip of A~ (MC_L2 x kc) stays in L1/L2
 *       jr over cols by NR   the B~ micro-panel (kc x NR) stays in L1
 *         ir over rows by MR micro-kernel: C tile (+)= A~ panel * B~ panel, epilogue on the last pc
 *                            (in a kernel-only loop, streaming the small A~ panels past a B~ panel
 *                            held in L1 beat streaming the 32-wide B~ panels by ~8%; in the whole
 *                            GEMM MC_L2 = 12, i.e. the row-by-row order, measured close to 48)
 * Each C element belongs to exactly one task, and its k-blocks are added in order (C = t0, then
 * C = C + t1, ...), so 1 and N threads give bitwise identical results.
 *
 * Small products (M*N*K <= 128^3) and skinny ones (M <= 8) skip packing: an unpacked 6x64 kernel
 * (fewer rows for the last strip) reads A in place and B from its rows (B with strided rows is first
 * copied row-major), over the whole k range; large skinny ones split the column strips over threads.
 * The path is chosen from the shape alone, never from the thread count.
 *
 * The portable loops below (f64, scalar dispatch level, non-x86 builds, out-of-memory fallback):
 * B is packed into contiguous rows when its rows are not contiguous, then each block of four C rows
 * streams over B's rows so every loaded B element feeds four FMAs. */
#include "gemm_internal.h"

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

static void gemm_ref(nb_dtype t, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa,
                     const void *b, int64_t rsb, int64_t csb, void *c, int64_t ldc) {
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

/* The epilogue as a pass over C (portable path). */
static void epilogue_pass(nb_dtype t, int64_t m, int64_t n, void *c, int64_t ldc, const nbk_epilogue *ep) {
    bool relu = ep->activation == NBK_ACT_RELU;
    for (int64_t i = 0; i < m; i++) {
        if (t == NB_F32) {
            float *cr = (float *)c + i * ldc;
            const float *bias = ep->bias;
            for (int64_t j = 0; j < n; j++) {
                float x = cr[j];
                if (bias) x = x + bias[j];
                if (relu) x = x < 0.0f ? 0.0f : x;
                cr[j] = x;
            }
        } else {
            double *cr = (double *)c + i * ldc;
            const double *bias = ep->bias;
            for (int64_t j = 0; j < n; j++) {
                double x = cr[j];
                if (bias) x = x + bias[j];
                if (relu) x = x < 0.0 ? 0.0 : x;
                cr[j] = x;
            }
        }
    }
}

/* ---- packed f32 GEMM ----------------------------------------------------------------------------- */

#define KC_MAX 256   /* k-block: the B~ micro-panel (kc x NR) stays in L1 */
#define NC_MAX 512   /* columns per task: B~ (kc x nc) in L2 */
#define MC_MAX 4096  /* rows of A~ packed at once (shared, L3) */
#define SKINNY_M 192 /* up to this many rows with several k-blocks and 2+ threads: sgemm_skinny */
#define MC_L2 48     /* rows of A~ (MC_L2 x kc) a task streams past each B~ micro-panel (in L1); a
                        multiple of every MR. Measured at 2048^3 on a busy machine: 12..48 ~190
                        GFLOP/s, 72..96 ~187, 120..144 173..183 */
#define PAR_MIN_FLOPS 2000000.0 /* below this, one thread */
#define SMALL_MNK (128.0 * 128 * 128) /* up to this M*N*K, the unpacked small-matrix kernel */
#define SMALL_M 8                     /* and for any product with at most this many rows */

static const nbk_sgemm_arch scalar_arch = {"scalar", 0, 0, NULL, NULL, NULL, 0, 0, NULL, 0};

static const nbk_sgemm_arch *sgemm_arch(void) {
    static const nbk_sgemm_arch *_Atomic cached;
    const nbk_sgemm_arch *ar = atomic_load_explicit(&cached, memory_order_relaxed);
    if (ar) return ar;
    ar = &scalar_arch;
#if defined(__x86_64__)
    unsigned f = nb_cpu_features();
    unsigned need512 = NB_CPU_AVX512F | NB_CPU_AVX512BW | NB_CPU_AVX512VL | NB_CPU_AVX512DQ | NB_CPU_FMA;
    unsigned need2 = NB_CPU_AVX2 | NB_CPU_FMA;
    if ((f & need512) == need512) ar = &nbk_sgemm_avx512;
    else if ((f & need2) == need2) ar = &nbk_sgemm_avx2;
#endif
    atomic_store_explicit(&cached, ar, memory_order_relaxed);
    return ar;
}

const char *nbk_gemm_isa(void) { return sgemm_arch()->name; }
const nbk_sgemm_arch *nbk_sgemm_arch_current(void) { return sgemm_arch(); }

typedef struct sg_job {
    const nbk_sgemm_arch *ar;
    int64_t m, n, k;
    const float *a, *b;
    int64_t rsa, csa, rsb, csb;
    float *c;
    int64_t ldc;
    const float *bias;
    bool relu;
    /* the current (ic3, pc) block */
    int64_t i0, mb, p0, kc;
    int flags;      /* NBK_TILE_* for this k-block */
    bool last;      /* last k-block: apply the epilogue */
    float *pa;      /* A~ of the block */
    /* task grid over the block */
    int64_t mc_t, nc_t, tasks_m, tasks_n;
    atomic_bool oom;
} sg_job;

static void sg_pack_a_chunk(void *ctx, int64_t b, int64_t e) {
    sg_job *g = ctx;
    int64_t mr = g->ar->mr, r0 = b * mr, r1 = e * mr < g->mb ? e * mr : g->mb;
    g->ar->pack_a(g->pa + r0 * g->kc, g->a + (g->i0 + r0) * g->rsa + g->p0 * g->csa, g->rsa, g->csa, r1 - r0, g->kc);
}

static void sg_task_chunk(void *ctx, int64_t b, int64_t e) {
    sg_job *g = ctx;
    const nbk_sgemm_arch *ar = g->ar;
    int64_t mr = ar->mr, nr = ar->nr, kc = g->kc;
    size_t cap;
    float *pb = nbc_block_alloc((size_t)(kc * ((g->nc_t + nr - 1) / nr * nr)) * sizeof(float), &cap);
    if (!pb) {
        atomic_store(&g->oom, true);
        return;
    }
    for (int64_t t = b; t < e; t++) {
        int64_t tm = t / g->tasks_n, tn = t % g->tasks_n;
        int64_t r0 = tm * g->mc_t, r1 = r0 + g->mc_t < g->mb ? r0 + g->mc_t : g->mb;
        int64_t j0 = tn * g->nc_t, j1 = j0 + g->nc_t < g->n ? j0 + g->nc_t : g->n;
        ar->pack_b(pb, g->b + g->p0 * g->rsb + j0 * g->csb, g->rsb, g->csb, kc, j1 - j0);
        for (int64_t ic = r0; ic < r1; ic += MC_L2) {
            int64_t ic1 = ic + MC_L2 < r1 ? ic + MC_L2 : r1;
            for (int64_t jr = j0; jr < j1; jr += nr) {
                int nrem = (int)(j1 - jr < nr ? j1 - jr : nr);
                const float *pbj = pb + (jr - j0) * kc;
                const float *bias = g->last && g->bias ? g->bias + jr : NULL;
                for (int64_t ir = ic; ir < ic1; ir += mr) {
                    int mrem = (int)(r1 - ir < mr ? r1 - ir : mr);
                    /* ir is a multiple of MR */
                    ar->tile(kc, g->pa + ir * kc, pbj, g->c + (g->i0 + ir) * g->ldc + jr, g->ldc, mrem, nrem,
                             g->flags, bias);
                }
            }
        }
    }
    nbc_block_free(pb, cap);
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- few rows, several k-blocks: one parallel pass ----------------------------------------------
 * With M small (a linear layer at batch 64) each k-block's work is only a few microseconds, and the
 * general driver's two parallel sections per k-block (pack A~, then the tasks) cost as much as the
 * work itself on 2 threads. Here A~ is packed once for every k-block, then each task (a column
 * block) walks all k-blocks on its own: one parallel section per call. Each element of C still gets
 * its k-blocks in order with the same micro-kernel calls, so results equal the general driver's. */
typedef struct sk_job {
    const nbk_sgemm_arch *ar;
    int64_t m, n, k, nkb, kcb, mpad; /* mpad: rows of A~ rounded up to MR */
    const float *a, *b;
    int64_t rsa, csa, rsb, csb;
    float *c;
    int64_t ldc;
    const float *bias;
    bool relu;
    float *pa;     /* A~ of k-block q at pa + q * mpad * kcb */
    int64_t nc_t, tasks;
    atomic_bool oom;
} sk_job;

static void sk_pack_a_chunk(void *ctx, int64_t b, int64_t e) {
    sk_job *g = ctx;
    int64_t mr = g->ar->mr, panels = g->mpad / mr;
    for (int64_t u = b; u < e; u++) {
        int64_t q = u / panels, r0 = (u % panels) * mr, r1 = r0 + mr < g->m ? r0 + mr : g->m;
        int64_t p0 = q * g->kcb, kc = g->k - p0 < g->kcb ? g->k - p0 : g->kcb;
        g->ar->pack_a(g->pa + q * g->mpad * g->kcb + r0 * kc, g->a + r0 * g->rsa + p0 * g->csa, g->rsa, g->csa,
                      r1 - r0, kc);
    }
}

static void sk_task_chunk(void *ctx, int64_t b, int64_t e) {
    sk_job *g = ctx;
    const nbk_sgemm_arch *ar = g->ar;
    int64_t mr = ar->mr, nr = ar->nr;
    size_t cap;
    float *pb = nbc_block_alloc((size_t)(g->kcb * ((g->nc_t + nr - 1) / nr * nr)) * sizeof(float), &cap);
    if (!pb) {
        atomic_store(&g->oom, true);
        return;
    }
    for (int64_t t = b; t < e; t++) {
        int64_t j0 = t * g->nc_t, j1 = j0 + g->nc_t < g->n ? j0 + g->nc_t : g->n;
        for (int64_t q = 0; q < g->nkb; q++) {
            int64_t p0 = q * g->kcb, kc = g->k - p0 < g->kcb ? g->k - p0 : g->kcb;
            bool last = q == g->nkb - 1;
            int flags = (q > 0 ? NBK_TILE_ACC : 0) | (last && g->relu ? NBK_TILE_RELU : 0);
            const float *pa = g->pa + q * g->mpad * g->kcb;
            ar->pack_b(pb, g->b + p0 * g->rsb + j0 * g->csb, g->rsb, g->csb, kc, j1 - j0);
            for (int64_t jr = j0; jr < j1; jr += nr) {
                int nrem = (int)(j1 - jr < nr ? j1 - jr : nr);
                const float *bias = last && g->bias ? g->bias + jr : NULL;
                for (int64_t ir = 0; ir < g->m; ir += mr) {
                    int mrem = (int)(g->m - ir < mr ? g->m - ir : mr);
                    ar->tile(kc, pa + ir * kc, pb + (jr - j0) * kc, g->c + ir * g->ldc + jr, g->ldc, mrem, nrem, flags,
                             bias);
                }
            }
        }
    }
    nbc_block_free(pb, cap);
}

/* Returns false when memory ran out (C untouched or partly written; the caller recomputes). */
static bool sgemm_skinny(const nbk_sgemm_arch *ar, int64_t m, int64_t n, int64_t k, int64_t threads, const float *a,
                         int64_t rsa, int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c, int64_t ldc,
                         const float *bias, bool relu) {
    int64_t nkb = ceil_div(k, KC_MAX), kcb = ceil_div(k, nkb), mr = ar->mr, nr = ar->nr;
    sk_job g = {.ar = ar, .m = m, .n = n, .k = k, .nkb = nkb, .kcb = kcb, .mpad = ceil_div(m, mr) * mr, .a = a,
                .b = b, .rsa = rsa, .csa = csa, .rsb = rsb, .csb = csb, .c = c, .ldc = ldc, .bias = bias, .relu = relu};
    atomic_init(&g.oom, false);
    /* column tasks: <= NC_MAX wide, a multiple of the thread count, as the general driver */
    int64_t tn = ceil_div(ceil_div(n, NC_MAX), threads) * threads;
    g.nc_t = ceil_div(ceil_div(n, tn), nr) * nr;
    g.tasks = ceil_div(n, g.nc_t);
    size_t acap;
    g.pa = nbc_block_alloc((size_t)(g.mpad * kcb * nkb) * sizeof(float), &acap);
    if (!g.pa) return false;
    nbc_parallel_for(nkb * (g.mpad / mr), threads == 1 ? nkb * (g.mpad / mr) : 4, sk_pack_a_chunk, &g);
    nbc_parallel_for(g.tasks, 1, sk_task_chunk, &g);
    nbc_block_free(g.pa, acap);
    return !atomic_load(&g.oom);
}

/* ---- small and skinny f32 products: no packing of A, B read in place when its rows are contiguous */

typedef struct sm_job {
    const nbk_sgemm_arch *ar;
    int64_t m, n, k;
    const float *a, *b;
    int64_t rsa, csa, ldb;
    float *c;
    int64_t ldc;
    const float *bias;
    int flags;
} sm_job;

static void sm_chunk(void *ctx, int64_t b, int64_t e) {
    const sm_job *g = ctx;
    int64_t smr = g->ar->small_mr, snr = g->ar->small_nr;
    for (int64_t jb = b; jb < e; jb++) {
        int64_t j0 = jb * snr;
        int nr = (int)(g->n - j0 < snr ? g->n - j0 : snr);
        int64_t step = 2 * nr <= snr && g->ar->small_narrow_mr ? g->ar->small_narrow_mr : smr;
        for (int64_t i0 = 0; i0 < g->m; i0 += step) {
            int mr = (int)(g->m - i0 < step ? g->m - i0 : step);
            g->ar->small(g->k, g->a + i0 * g->rsa, g->rsa, g->csa, g->b + j0, g->ldb, g->c + i0 * g->ldc + j0, g->ldc,
                         mr, nr, g->flags, g->bias ? g->bias + j0 : NULL);
        }
    }
}

static bool sgemm_small(const nbk_sgemm_arch *ar, int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
                        int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c, int64_t ldc,
                        const float *bias, bool relu) {
    sm_job g = {.ar = ar, .m = m, .n = n, .k = k, .a = a, .b = b, .rsa = rsa, .csa = csa, .ldb = rsb, .c = c,
                .ldc = ldc, .bias = bias, .flags = relu ? NBK_TILE_RELU : 0};
    void *buf = NULL;
    size_t cap = 0;
    if (csb != 1) { /* B with strided rows: one row-major copy */
        buf = nbc_block_alloc((size_t)(k * n) * sizeof(float), &cap);
        if (!buf) return false;
        int64_t shape[2] = {k, n}, ds[2] = {n, 1}, ss[2] = {rsb, csb};
        nbk_copy(buf, NB_F32, ds, b, NB_F32, ss, 2, shape);
        g.b = buf;
        g.ldb = n;
    }
    int64_t blocks = ceil_div(n, ar->small_nr);
    double flops = 2.0 * (double)m * (double)n * (double)k;
    nbc_parallel_for(blocks, flops < PAR_MIN_FLOPS ? blocks : 1, sm_chunk, &g);
    if (buf) nbc_block_free(buf, cap);
    return true;
}

/* Returns false (C untouched or partly written) when memory ran out; the caller recomputes. */
static bool sgemm_packed(const nbk_sgemm_arch *ar, int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
                         int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c, int64_t ldc,
                         const float *bias, bool relu) {
    int64_t mr = ar->mr, nr = ar->nr;
    double flops = 2.0 * (double)m * (double)n * (double)k;
    int64_t threads = flops < PAR_MIN_FLOPS ? 1 : nb_get_num_threads();
    /* few rows (one task row, A~ of every k-block a small buffer) and several k-blocks: one pass */
    if (threads > 1 && m <= SKINNY_M && k > KC_MAX && ceil_div(n, NC_MAX) <= threads * 4)
        return sgemm_skinny(ar, m, n, k, threads, a, rsa, csa, b, rsb, csb, c, ldc, bias, relu);
    /* k-blocks: as even as possible, a function of K alone */
    int64_t nkb = ceil_div(k, KC_MAX), kcb = ceil_div(k, nkb);
    sg_job g = {.ar = ar, .m = m, .n = n, .k = k, .a = a, .b = b, .rsa = rsa, .csa = csa, .rsb = rsb, .csb = csb,
                .c = c, .ldc = ldc, .bias = bias, .relu = relu};
    atomic_init(&g.oom, false);
    int64_t mcap = m < MC_MAX ? m : MC_MAX;
    size_t acap;
    g.pa = nbc_block_alloc((size_t)(ceil_div(mcap, mr) * mr * kcb) * sizeof(float), &acap);
    if (!g.pa) return false;
    for (int64_t i0 = 0; i0 < m; i0 += MC_MAX) {
        g.i0 = i0;
        g.mb = m - i0 < MC_MAX ? m - i0 : MC_MAX;
        /* task grid: column blocks of <= NC_MAX, a multiple of the thread count; rows split too when
         * there are fewer column blocks than threads */
        int64_t tn = ceil_div(n, NC_MAX);
        tn = ceil_div(tn, threads) * threads;
        g.nc_t = ceil_div(ceil_div(n, tn), nr) * nr;
        g.tasks_n = ceil_div(n, g.nc_t);
        int64_t tm = g.tasks_n < threads ? ceil_div(threads, g.tasks_n) : 1;
        g.mc_t = ceil_div(ceil_div(g.mb, tm), mr) * mr;
        g.tasks_m = ceil_div(g.mb, g.mc_t);
        int64_t ntasks = g.tasks_m * g.tasks_n, panels = ceil_div(g.mb, mr);
        for (int64_t p0 = 0; p0 < k; p0 += kcb) {
            g.p0 = p0;
            g.kc = k - p0 < kcb ? k - p0 : kcb;
            g.flags = (p0 > 0 ? NBK_TILE_ACC : 0);
            g.last = p0 + g.kc >= k;
            if (g.last && relu) g.flags |= NBK_TILE_RELU;
            nbc_parallel_for(panels, threads == 1 ? panels : 8, sg_pack_a_chunk, &g);
            nbc_parallel_for(ntasks, threads == 1 ? ntasks : 1, sg_task_chunk, &g);
            if (atomic_load(&g.oom)) {
                nbc_block_free(g.pa, acap);
                return false;
            }
        }
    }
    nbc_block_free(g.pa, acap);
    return true;
}

void nbk_gemm_ex(nb_dtype t, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa, const void *b,
                 int64_t rsb, int64_t csb, void *c, int64_t ldc, const nbk_epilogue *ep) {
    if (m <= 0 || n <= 0) return;
    bool has_ep = ep && (ep->bias || ep->activation != NBK_ACT_NONE);
    if (t == NB_F32 && k > 0) {
        const nbk_sgemm_arch *ar = sgemm_arch();
        bool small = (double)m * (double)n * (double)k <= SMALL_MNK || m <= SMALL_M;
        if (ar->small && small && sgemm_small(ar, m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, has_ep ? ep->bias : NULL,
                                              has_ep && ep->activation == NBK_ACT_RELU))
            return;
        if (ar->tile && sgemm_packed(ar, m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, has_ep ? ep->bias : NULL,
                                     has_ep && ep->activation == NBK_ACT_RELU))
            return;
    }
    gemm_ref(t, m, n, k, a, rsa, csa, b, rsb, csb, c, ldc);
    if (has_ep) epilogue_pass(t, m, n, c, ldc, ep);
}

void nbk_gemm(nb_dtype t, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa, const void *b,
              int64_t rsb, int64_t csb, void *c, int64_t ldc) {
    nbk_gemm_ex(t, m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, NULL);
}
