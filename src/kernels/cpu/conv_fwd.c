/* kernels/cpu/conv_fwd.c — conv2d forward as an implicit GEMM: the B~ micro-panels (K filter
 * elements x 32 output pixels) are gathered straight from the NCHW image into a buffer that stays in
 * L1, and the micro-kernel's C tiles are the output planes themselves. The im2col route wrote the
 * whole column matrix, copied it again into B~, and (for small images, several samples per GEMM)
 * copied the output block out to the planes; here none of the three passes exists.
 *
 * Each 16-pixel chunk of an output plane reads, for every window tap, elements of the input plane
 * that lie within 32 consecutive floats (horizontal stride 1 or 2, rows wide enough): two masked loads
 * and one permute produce the chunk, the masks selecting the elements inside the image (padding reads
 * nothing). The index vector and masks depend on the chunk and tap only and are computed once per
 * call. A~ (the weights) is packed once per call. Tasks are (sample, group of pixel panels); every
 * output element is computed by one micro-kernel call sequence whose order depends on the shapes
 * alone, so the result does not depend on the thread count. */
#include "conv_fwd.h"
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdatomic.h>

#define CF_ATTR __attribute__((target("avx512f"))) /* what the runtime check tests */
#define CF_KC 256       /* filter elements per k-block: gemm.c's KC_MAX */
#define CF_PANELS 8     /* 32-pixel panels per task */
#define CF_MIN_K 32     /* shorter filters (a first layer's 1 x 3 x 3) take the im2col path */
#define CF_MAX_TABLE (1 << 16) /* chunk x tap entries */

typedef struct cf_chunk_tap {
    __mmask16 lo, hi, out; /* load masks of the two 16-float halves; lanes inside the image */
    __mmask16 direct;      /* nonzero: lane i reads float i (a "same" convolution's rows run on without
                              a gap), so one load does, unmasked when every lane is inside */
} cf_chunk_tap;

typedef struct cf_job {
    const nbk_conv_geom *g;
    const nbk_sgemm_arch *ar;
    int64_t O, K, P, nt, taps, nkb, kcb, opad, panels, groups;
    const float *x, *w, *bias;
    float *y, *pa;
    const int32_t *idx;      /* nt x 16 lane offsets from the chunk's first source element */
    const int64_t *f0;       /* nt: the chunk's first source element (offset in the plane, without the tap) */
    const int64_t *tapoff;   /* taps: offset of tap (ki, kj) */
    const cf_chunk_tap *tab; /* nt x taps */
    atomic_bool oom;
} cf_job;

/* B~ rows [p0, p0 + kc) (filter elements r = (c, ki, kj)) of the 32-pixel panel jp of sample s. */
CF_ATTR static void cf_fill(const cf_job *j, int64_t s, int64_t jp, int64_t p0, int64_t kc, float *pb) {
    const nbk_conv_geom *g = j->g;
    int64_t HW = g->h * g->w, taps = j->taps;
    int64_t c = p0 / taps, kk = p0 - c * taps;
    const float *plane = j->x + (s * g->c + c) * HW;
    for (int64_t r = 0; r < kc; r++) {
        for (int h = 0; h < 2; h++) {
            int64_t t = 2 * jp + h;
            __m512 v = _mm512_setzero_ps();
            if (t < j->nt) {
                const cf_chunk_tap *e = &j->tab[t * taps + kk];
                const float *q = plane + j->f0[t] + j->tapoff[kk];
                if (e->direct) {
                    v = e->out == 0xffff ? _mm512_loadu_ps(q) : _mm512_maskz_loadu_ps(e->out, q);
                } else {
                    __m512i ix = _mm512_loadu_si512(j->idx + 16 * t);
                    v = _mm512_maskz_permutex2var_ps(e->out, _mm512_maskz_loadu_ps(e->lo, q), ix,
                                                     _mm512_maskz_loadu_ps(e->hi, q + 16));
                }
            }
            _mm512_store_ps(pb + r * 32 + 16 * h, v);
        }
        if (++kk == taps) kk = 0, c++, plane += HW;
    }
}

CF_ATTR static void cf_task(void *ctx, int64_t b, int64_t e) {
    cf_job *j = ctx;
    const nbk_sgemm_arch *ar = j->ar;
    int64_t mr = ar->mr, O = j->O, P = j->P;
    size_t cap;
    float *pb = nbc_block_alloc((size_t)(j->kcb * 32) * sizeof(float), &cap);
    if (!pb) {
        atomic_store(&j->oom, true);
        return;
    }
    for (int64_t t = b; t < e; t++) {
        int64_t s = t / j->groups, jp0 = (t % j->groups) * CF_PANELS;
        int64_t jp1 = jp0 + CF_PANELS < j->panels ? jp0 + CF_PANELS : j->panels;
        for (int64_t jp = jp0; jp < jp1; jp++) {
            int nrem = (int)(P - 32 * jp < 32 ? P - 32 * jp : 32);
            float *yc = j->y + s * O * P + 32 * jp;
            for (int64_t q = 0; q < j->nkb; q++) {
                int64_t p0 = q * j->kcb, kc = j->K - p0 < j->kcb ? j->K - p0 : j->kcb;
                cf_fill(j, s, jp, p0, kc, pb);
                const float *pa = j->pa + q * j->opad * j->kcb;
                for (int64_t i0 = 0; i0 < O; i0 += mr)
                    ar->tile(kc, pa + i0 * kc, pb, yc + i0 * P, P, (int)(O - i0 < mr ? O - i0 : mr), nrem,
                             q > 0 ? NBK_TILE_ACC : 0, NULL);
            }
            if (j->bias) /* per output channel: a row of the tile, added while it is in L1 */
                for (int64_t o = 0; o < O; o++) {
                    __m512 bv = _mm512_set1_ps(j->bias[o]);
                    float *row = yc + o * P;
                    for (int h = 0; h < 2; h++) {
                        __mmask16 m = nbk_lanes16(nrem - 16 * h);
                        _mm512_mask_storeu_ps(row + 16 * h, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, row + 16 * h), bv));
                    }
                }
        }
    }
    nbc_block_free(pb, cap);
}

static void cf_pack_a(void *ctx, int64_t b, int64_t e) {
    cf_job *j = ctx;
    for (int64_t q = b; q < e; q++) {
        int64_t p0 = q * j->kcb, kc = j->K - p0 < j->kcb ? j->K - p0 : j->kcb;
        j->ar->pack_a(j->pa + q * j->opad * j->kcb, j->w + p0, j->K, 1, j->O, kc);
    }
}

bool nbk_conv2d_forward_packed(const nbk_conv_geom *g, int64_t O, const float *x, const float *w, const float *bias,
                               float *y) {
    const nbk_sgemm_arch *ar = nbk_sgemm_arch_current();
    int64_t P = g->oh * g->ow, taps = g->kh * g->kw, nt = (P + 15) / 16;
    /* filters shorter than CF_MIN_K: the unpacked small-product kernels behind nbk_gemm do better */
    if (!ar->tile || ar->nr != 32 || g->c * taps < CF_MIN_K || !(nb_cpu_features() & NB_CPU_AVX512F) || g->n < 1 || O < 1 ||
        nt * taps > CF_MAX_TABLE || g->h * g->w >= ((int64_t)1 << 30))
        return false;
    cf_job j = {.g = g, .ar = ar, .O = O, .K = g->c * taps, .P = P, .nt = nt, .taps = taps, .x = x, .w = w, .bias = bias,
                .y = y};
    size_t c1, c2, c3, c4, c5;
    int32_t *idx = nbc_block_alloc((size_t)(nt * 16) * sizeof(int32_t), &c1);
    int64_t *f0 = nbc_block_alloc((size_t)nt * sizeof(int64_t), &c2);
    int64_t *tapoff = nbc_block_alloc((size_t)taps * sizeof(int64_t), &c3);
    cf_chunk_tap *tab = nbc_block_alloc((size_t)(nt * taps) * sizeof(cf_chunk_tap), &c4);
    j.nkb = (j.K + CF_KC - 1) / CF_KC;
    j.kcb = (j.K + j.nkb - 1) / j.nkb;
    j.opad = (O + ar->mr - 1) / ar->mr * ar->mr;
    j.pa = nbc_block_alloc((size_t)(j.nkb * j.opad * j.kcb) * sizeof(float), &c5);
    bool ok = idx && f0 && tapoff && tab && j.pa;
    for (int64_t kk = 0; ok && kk < taps; kk++)
        tapoff[kk] = ((kk / g->kw) * g->dh - g->ph) * g->w + (kk % g->kw) * g->dw - g->pw;
    /* per chunk: lane offsets within 32 floats of the first lane's source (else this path does not
     * apply); per chunk and tap: which lanes fall inside the image and which floats they read */
    for (int64_t t = 0; ok && t < nt; t++) {
        int64_t p = 16 * t, oy0 = p / g->ow, ox0 = p % g->ow;
        f0[t] = oy0 * g->sh * g->w + ox0 * g->sw;
        bool ident = true;
        for (int i = 0; i < 16; i++) {
            int64_t q = p + i, d = q < P ? (q / g->ow) * g->sh * g->w + (q % g->ow) * g->sw - f0[t] : 0;
            if (d < 0 || d >= 32) ok = false;
            if (q < P && d != i) ident = false;
            idx[16 * t + i] = (int32_t)d;
        }
        for (int64_t kk = 0; ok && kk < taps; kk++) {
            cf_chunk_tap *e = &tab[t * taps + kk];
            e->lo = e->hi = e->out = 0;
            e->direct = ident;
            for (int i = 0; i < 16 && p + i < P; i++) {
                int64_t q = p + i, iy = (q / g->ow) * g->sh + (kk / g->kw) * g->dh - g->ph;
                int64_t ix = (q % g->ow) * g->sw + (kk % g->kw) * g->dw - g->pw;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
                int d = idx[16 * t + i];
                e->out |= (__mmask16)(1u << i);
                if (d < 16) e->lo |= (__mmask16)(1u << d);
                else e->hi |= (__mmask16)(1u << (d - 16));
            }
        }
    }
    if (ok) {
        j.idx = idx, j.f0 = f0, j.tapoff = tapoff, j.tab = tab;
        j.panels = (P + 31) / 32;
        j.groups = (j.panels + CF_PANELS - 1) / CF_PANELS;
        atomic_init(&j.oom, false);
        nbc_parallel_for(j.nkb, 1, cf_pack_a, &j);
        nbc_parallel_for(g->n * j.groups, 1, cf_task, &j);
        ok = !atomic_load(&j.oom);
    }
    if (idx) nbc_block_free(idx, c1);
    if (f0) nbc_block_free(f0, c2);
    if (tapoff) nbc_block_free(tapoff, c3);
    if (tab) nbc_block_free(tab, c4);
    if (j.pa) nbc_block_free(j.pa, c5);
    return ok;
}
#else
bool nbk_conv2d_forward_packed(const nbk_conv_geom *g, int64_t O, const float *x, const float *w, const float *bias,
                               float *y) {
    (void)g, (void)O, (void)x, (void)w, (void)bias, (void)y;
    return false;
}
#endif
