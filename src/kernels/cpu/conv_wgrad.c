/* kernels/cpu/conv_wgrad.c — the weight gradient of a dense 2-D convolution whose filters are short
 * (C * kh * kw <= NBK_WGRAD_MAX_K, e.g. the first layer of an image CNN: 1 or 3 channels, 3x3) by
 * direct loops. By im2col + GEMM this is a product with only C * kh * kw rows (9 for one channel and
 * a 3x3 window): most of the register tile is wasted and the long gradient operand is copied and
 * transposed on its way into the GEMM; it took 0.49 ms of a Fashion-MNIST CNN's 6.4 ms step.
 *
 * Here one task owns a block of OB output channels and walks every sample in order. For each input
 * row (channel c, tap row ki) and each 16-column chunk of an output row, the kw shifted x vectors are
 * loaded once and each of the OB gradient rows is multiplied into the OB x kw vector accumulators
 * (24 zmm at most; kw + OB + 24 <= 32 registers). The accumulators of each (c, ki) live in a small
 * per-task array between samples, and their 16 lanes are summed at the end in a fixed order. The
 * tasks and every sum depend on the shapes alone, so the result does not depend on the thread count
 * (it differs from the GEMM path's in rounding only). */
#include "conv_wgrad.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define WG_ATTR __attribute__((target("avx512f"))) /* what the runtime check tests */
#define WG_MAX_ACC 24          /* vector accumulators per task: OB * kw */
#define WG_MAX_MEM 8192        /* floats of saved accumulators per task: C * kh * OB * kw * 16 */
#define WG_MAX_CHUNKS 16       /* output rows of up to 256 columns */

typedef struct wg_job {
    const nbk_conv_geom *g;
    int64_t O, ob; /* output channels, per task */
    const float *x, *gy;
    float *gw;
} wg_job;

/* One task's channels [o0, o0 + nob) (nob <= OB; rows past nob repeat row o0 and are not stored). */
#define DEF_WG(KW, OB)                                                                                          \
    WG_ATTR static void wg_task_##KW(const wg_job *j, int64_t o0, int64_t nob) {                                \
        const nbk_conv_geom *g = j->g;                                                                          \
        int64_t ow = g->ow, oh = g->oh, W = g->w, H = g->h, C = g->c, nq = (ow + 15) / 16;                      \
        float mem[WG_MAX_MEM] __attribute__((aligned(64)));                                                     \
        memset(mem, 0, sizeof(float) * (size_t)(C * g->kh * OB * KW * 16));                                     \
        /* x load masks per (chunk, kj): columns inside the output row and the image */                        \
        __mmask16 xm[WG_MAX_CHUNKS][KW], gm[WG_MAX_CHUNKS];                                                     \
        for (int64_t q = 0; q < nq; q++) {                                                                      \
            gm[q] = nbk_lanes16(ow - 16 * q);                                                                     \
            for (int kj = 0; kj < KW; kj++) {                                                                   \
                int64_t xo = kj * g->dw - g->pw, lo = -xo - 16 * q, hi = W - xo - 16 * q;                       \
                xm[q][kj] = (__mmask16)(gm[q] & nbk_lanes16(hi) & ~nbk_lanes16(lo));                                \
            }                                                                                                   \
        }                                                                                                       \
        for (int64_t s = 0; s < g->n; s++) {                                                                    \
            const float *gys[OB];                                                                               \
            for (int o = 0; o < OB; o++) gys[o] = j->gy + ((s * j->O + o0 + (o < nob ? o : 0)) * oh) * ow;      \
            for (int64_t c = 0; c < C; c++)                                                                     \
                for (int64_t ki = 0; ki < g->kh; ki++) {                                                        \
                    float *m = mem + ((c * g->kh + ki) * OB * KW) * 16;                                         \
                    __m512 acc[OB][KW];                                                                         \
                    for (int o = 0; o < OB; o++)                                                                \
                        for (int kj = 0; kj < KW; kj++) acc[o][kj] = _mm512_load_ps(m + (o * KW + kj) * 16);    \
                    for (int64_t oy = 0; oy < oh; oy++) {                                                       \
                        int64_t iy = oy * g->sh - g->ph + ki * g->dh;                                           \
                        if (iy < 0 || iy >= H) continue;                                                        \
                        const float *xr = j->x + ((s * C + c) * H + iy) * W - g->pw;                            \
                        for (int64_t q = 0; q < nq; q++) {                                                      \
                            __m512 xv[KW];                                                                      \
                            for (int kj = 0; kj < KW; kj++)                                                     \
                                xv[kj] = _mm512_maskz_loadu_ps(xm[q][kj], xr + 16 * q + kj * g->dw);            \
                            for (int o = 0; o < OB; o++) {                                                      \
                                __m512 gv = _mm512_maskz_loadu_ps(gm[q], gys[o] + oy * ow + 16 * q);            \
                                for (int kj = 0; kj < KW; kj++) acc[o][kj] = _mm512_fmadd_ps(gv, xv[kj], acc[o][kj]); \
                            }                                                                                   \
                        }                                                                                       \
                    }                                                                                           \
                    for (int o = 0; o < OB; o++)                                                                \
                        for (int kj = 0; kj < KW; kj++) _mm512_store_ps(m + (o * KW + kj) * 16, acc[o][kj]);    \
                }                                                                                               \
        }                                                                                                       \
        for (int64_t o = 0; o < nob; o++)                                                                       \
            for (int64_t c = 0; c < C; c++)                                                                     \
                for (int64_t ki = 0; ki < g->kh; ki++)                                                          \
                    for (int kj = 0; kj < KW; kj++)                                                             \
                        j->gw[(((o0 + o) * C + c) * g->kh + ki) * KW + kj] =                                    \
                            _mm512_reduce_add_ps(_mm512_load_ps(mem + (((c * g->kh + ki) * OB + o) * KW + kj) * 16)); \
    }

/* OB = 24 / kw output channels per task (at most 16 so that small layers still split into tasks) */
#define WG_OB(kw) (24 / (kw) < 16 ? 24 / (kw) : 16)
DEF_WG(1, WG_OB(1))
DEF_WG(2, WG_OB(2))
DEF_WG(3, WG_OB(3))
DEF_WG(4, WG_OB(4))
DEF_WG(5, WG_OB(5))
DEF_WG(6, WG_OB(6))
DEF_WG(7, WG_OB(7))
typedef void (*wg_task_fn)(const wg_job *j, int64_t o0, int64_t nob);
static const wg_task_fn wg_tasks[8] = {NULL, wg_task_1, wg_task_2, wg_task_3, wg_task_4, wg_task_5, wg_task_6, wg_task_7};

static void wg_chunk(void *ctx, int64_t b, int64_t e) {
    const wg_job *j = ctx;
    for (int64_t t = b; t < e; t++) {
        int64_t o0 = t * j->ob, nob = j->O - o0 < j->ob ? j->O - o0 : j->ob;
        wg_tasks[j->g->kw](j, o0, nob);
    }
}

bool nbk_conv2d_weight_grad_direct(const nbk_conv_geom *g, int64_t O, const float *x, const float *gy, float *gw) {
    if (!(nb_cpu_features() & NB_CPU_AVX512F) || g->sw != 1 || g->kw < 1 || g->kw > 7 ||
        g->c * g->kh * g->kw > NBK_WGRAD_MAX_K || g->ow > 16 * WG_MAX_CHUNKS || O < 1)
        return false;
    int64_t ob = WG_OB(g->kw);
    if (g->c * g->kh * ob * g->kw * 16 > WG_MAX_MEM) return false;
    wg_job j = {.g = g, .O = O, .ob = ob, .x = x, .gy = gy, .gw = gw};
    nbc_parallel_for((O + ob - 1) / ob, 1, wg_chunk, &j);
    return true;
}
#else
bool nbk_conv2d_weight_grad_direct(const nbk_conv_geom *g, int64_t O, const float *x, const float *gy, float *gw) {
    (void)g, (void)O, (void)x, (void)gy, (void)gw;
    return false;
}
#endif
