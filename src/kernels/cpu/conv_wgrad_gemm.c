/* kernels/cpu/conv_wgrad_gemm.c — the weight gradient of a dense f32 conv2d as a GEMM over pixels
 * whose operands are packed straight from the tensors (see conv_wgrad.h).
 *
 *   GW (O, K) = sum over samples s and output pixels p of gy[s, :, p] (column) x cols[s, p, :] (row)
 *
 * In NCHW both operands are pixel-contiguous while the GEMM's micro-panels want them pixel-major, so
 * the im2col + GEMM route transposed the whole column matrix (C * kh * kw rows of N * oh * ow) on its
 * way into A~ and copied the gradient into a block matrix first. Here each sample's image is
 * transposed once to (H * W, C) — kh * kw times smaller than its column matrix — and the B~ panels
 * (pixel-major runs of NR filter elements, ordered (ki, kj, c)) are filled from it with contiguous
 * copies of C channels; A~ is packed from gy in place. The micro-kernel is gemm.c's.
 *
 * The reduction runs over k-blocks of whole samples (or pixel ranges of one sample for large
 * images); NQ partial sums each own a fixed range of k-blocks, and are added in order at the end
 * while the (ki, kj, c) order is permuted back to (c, ki, kj). Every choice depends on the shapes
 * alone, so results do not depend on the thread count. */
#include "conv_wgrad.h"
#include "gemm_internal.h"

#include <stdatomic.h>
#include <string.h>

#define WG_KC 256          /* pixels per k-block: as gemm.c's KC_MAX */
#define WG_MAX_PARTIALS 8  /* partial sums (tasks) */
#define WG_PARTIAL_ELEMS ((int64_t)1 << 22) /* at most this many floats of partial sums (16 MB) */

typedef struct wgg_job {
    const nbk_conv_geom *g;
    const nbk_sgemm_arch *ar;
    int64_t O, K, P, Kpad;
    int64_t sb, pieces, pn; /* samples per k-block, or pieces per sample of pn pixels */
    int64_t nblk, nq, kcap;
    const float *x, *gy;
    float *partials; /* nq * O * K */
    float *gw;
    atomic_bool oom;
} wgg_job;

/* k-block b: samples [*s0, *s0 + *ns), pixels [*p0, *p0 + *pn) of each */
static void block_of(const wgg_job *j, int64_t b, int64_t *s0, int64_t *ns, int64_t *p0, int64_t *pn) {
    if (j->pieces == 1) {
        *s0 = b * j->sb;
        *ns = j->g->n - *s0 < j->sb ? j->g->n - *s0 : j->sb;
        *p0 = 0;
        *pn = j->P;
    } else {
        *s0 = b / j->pieces;
        *ns = 1;
        *p0 = (b % j->pieces) * j->pn;
        *pn = j->P - *p0 < j->pn ? j->P - *p0 : j->pn;
    }
}

/* Rows [k0, k0 + pn) of B~ (kc rows, NR-column panels) from sample image xt (H * W, C): row k0 + i
 * is pixel p0 + i's filter window, column (ki * kw + kj) * C + c. Each panel's columns are cut once
 * into runs of one window tap (a run of channels, contiguous in xt); pixels then take one copy (or
 * zero fill, outside the image) per run. */
static void fill_b(const wgg_job *j, const float *xt, float *pb, int64_t kc, int64_t k0, int64_t p0, int64_t pn) {
    const nbk_conv_geom *g = j->g;
    int64_t C = g->c, nr = j->ar->nr, K = j->K;
    enum { MAX_RUNS = 64 };
    int64_t roff[MAX_RUNS], rlen[MAX_RUNS], rdy[MAX_RUNS], rdx[MAX_RUNS], rsrc[MAX_RUNS];
    for (int64_t jb = 0; jb < j->Kpad; jb += nr) {
        float *panel = pb + jb * kc;
        int64_t end = jb + nr < K ? jb + nr : K, nrun = 0;
        for (int64_t r = jb; r < end && nrun < MAX_RUNS; nrun++) {
            int64_t kk = r / C, c = r - kk * C, ki = kk / g->kw, kj = kk - ki * g->kw;
            roff[nrun] = r - jb;
            rlen[nrun] = (kk + 1) * C < end ? (kk + 1) * C - r : end - r;
            rdy[nrun] = ki * g->dh - g->ph;
            rdx[nrun] = kj * g->dw - g->pw;
            rsrc[nrun] = c;
            r += rlen[nrun];
        }
        int64_t oy = p0 / g->ow, ox = p0 % g->ow;
        for (int64_t i = 0; i < pn; i++) {
            float *restrict d = panel + (k0 + i) * nr;
            for (int64_t u = 0; u < nrun; u++) {
                int64_t iy = oy * g->sh + rdy[u], ix = ox * g->sw + rdx[u], len = rlen[u];
                float *restrict dr = d + roff[u];
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                    for (int64_t t = 0; t < len; t++) dr[t] = 0.0f;
                else {
                    const float *restrict sr = xt + (iy * g->w + ix) * C + rsrc[u];
                    for (int64_t t = 0; t < len; t++) dr[t] = sr[t];
                }
            }
            for (int64_t t = end - jb; t < nr; t++) d[t] = 0.0f; /* past K in the last panel */
            if (++ox == g->ow) ox = 0, oy++;
        }
    }
}

static void wgg_task(void *ctx, int64_t b, int64_t e) {
    wgg_job *j = ctx;
    const nbk_conv_geom *g = j->g;
    const nbk_sgemm_arch *ar = j->ar;
    int64_t mr = ar->mr, nr = ar->nr, O = j->O, K = j->K, P = j->P, HW = g->h * g->w, C = g->c;
    int64_t opad = (O + mr - 1) / mr * mr;
    size_t ct, cb, ca;
    float *xt = nbc_block_alloc((size_t)(HW * C) * sizeof(float), &ct);
    float *pb = nbc_block_alloc((size_t)(j->kcap * j->Kpad) * sizeof(float), &cb);
    float *pa = nbc_block_alloc((size_t)(j->kcap * opad) * sizeof(float), &ca);
    if (!xt || !pb || !pa) atomic_store(&j->oom, true);
    int64_t have = -1; /* the sample whose image xt holds (blocks of one sample's pixel ranges share it) */
    for (int64_t q = b; q < e && xt && pb && pa; q++) {
        float *cq = j->partials + q * O * K;
        for (int64_t blk = q * j->nblk / j->nq; blk < (q + 1) * j->nblk / j->nq; blk++) {
            int64_t s0, ns, p0, pn;
            block_of(j, blk, &s0, &ns, &p0, &pn);
            int64_t kc = ns * pn;
            for (int64_t s = 0; s < ns; s++) {
                /* the image, channels last: (H * W, C) */
                int64_t shape[2] = {HW, C}, ds[2] = {C, 1}, ss[2] = {1, HW};
                if (have != s0 + s) nbk_copy(xt, NB_F32, ds, j->x + (s0 + s) * C * HW, NB_F32, ss, 2, shape);
                have = s0 + s;
                fill_b(j, xt, pb, kc, s * pn, p0, pn);
                for (int64_t i0 = 0; i0 < O; i0 += mr) /* A~ rows from gy, this sample's k-range */
                    ar->pack_a(pa + i0 * kc + s * pn * mr, j->gy + ((s0 + s) * O + i0) * P + p0, P, 1,
                               O - i0 < mr ? O - i0 : mr, pn);
            }
            int flags = blk == q * j->nblk / j->nq ? 0 : NBK_TILE_ACC;
            for (int64_t jb = 0; jb < K; jb += nr)
                for (int64_t i0 = 0; i0 < O; i0 += mr)
                    ar->tile(kc, pa + i0 * kc, pb + jb * kc, cq + i0 * K + jb, K, (int)(O - i0 < mr ? O - i0 : mr),
                             (int)(K - jb < nr ? K - jb : nr), flags, NULL);
        }
    }
    if (xt) nbc_block_free(xt, ct);
    if (pb) nbc_block_free(pb, cb);
    if (pa) nbc_block_free(pa, ca);
}

/* gw[o, c, ki, kj] = sum over q in order of partial q at [o, (ki * kw + kj) * C + c] */
static void wgg_reduce(void *ctx, int64_t b, int64_t e) {
    const wgg_job *j = ctx;
    const nbk_conv_geom *g = j->g;
    int64_t K = j->K, C = g->c, taps = g->kh * g->kw;
    for (int64_t o = b; o < e; o++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < taps; t++) {
                const float *src = j->partials + o * K + t * C + c;
                float acc = src[0];
                for (int64_t q = 1; q < j->nq; q++) acc += src[q * j->O * K];
                j->gw[(o * C + c) * taps + t] = acc;
            }
}

bool nbk_conv2d_weight_grad_gemm(const nbk_conv_geom *g, int64_t O, const float *x, const float *gy, float *gw) {
    const nbk_sgemm_arch *ar = nbk_sgemm_arch_current();
    if (!ar->tile || g->n < 1 || O < 1) return false;
    wgg_job j = {.g = g, .ar = ar, .O = O, .K = g->c * g->kh * g->kw, .P = g->oh * g->ow, .x = x, .gy = gy, .gw = gw};
    j.Kpad = (j.K + ar->nr - 1) / ar->nr * ar->nr;
    if (j.P <= WG_KC) { /* whole samples per k-block, as many as fit, spread evenly */
        int64_t fit = WG_KC / j.P, nb = (g->n + fit - 1) / fit;
        j.pieces = 1;
        j.sb = (g->n + nb - 1) / nb;
        j.nblk = (g->n + j.sb - 1) / j.sb;
        j.kcap = j.sb * j.P;
    } else { /* large images: pixel ranges of one sample */
        j.pieces = (j.P + WG_KC - 1) / WG_KC;
        j.pn = (j.P + j.pieces - 1) / j.pieces;
        j.sb = 1;
        j.nblk = g->n * j.pieces;
        j.kcap = j.pn;
    }
    j.nq = j.nblk < WG_MAX_PARTIALS ? j.nblk : WG_MAX_PARTIALS;
    /* large layers: fewer partial sums; with fewer than two tasks there is nothing to run in parallel
     * here, and the im2col route (whose GEMMs are parallel inside) does better. Shapes alone decide. */
    if (j.nq * O * j.K > WG_PARTIAL_ELEMS) j.nq = WG_PARTIAL_ELEMS / (O * j.K);
    if (j.nq < 2) return false;
    size_t cap;
    j.partials = nbc_block_alloc((size_t)(j.nq * O * j.K) * sizeof(float), &cap);
    if (!j.partials) return false;
    atomic_init(&j.oom, false);
    nbc_parallel_for(j.nq, 1, wgg_task, &j);
    bool ok = !atomic_load(&j.oom);
    if (ok) nbc_parallel_for(O, 1 + 4096 / (j.K * j.nq), wgg_reduce, &j);
    nbc_block_free(j.partials, cap);
    return ok;
}
