/* kernels/cpu/maxpool.c — the scatter that is max pooling's gradient, with a one-pass path for
 * non-overlapping 2x2 stride-2 windows (see maxpool.h). Each plane is done by one thread in a fixed
 * order, so results do not depend on the thread count. */
#include "maxpool.h"
#include "../../core/internal.h"

#include <stdatomic.h>
#include <string.h>

typedef struct scat_job {
    nb_dtype t;
    int64_t h, w, oh, ow;
    const char *g;
    const int64_t *idx;
    char *gx;
    atomic_bool bad;
} scat_job;

#define DEF_SCATTER(T, SUF)                                                                        \
    /* The general plane: zeros, then g added at idx in order; false on an index out of range. */  \
    static bool plane_generic_##SUF(const T *g, const int64_t *ix, T *gx, int64_t in_size, int64_t out_size) { \
        bool ok = true;                                                                            \
        for (int64_t k = 0; k < in_size; k++) gx[k] = 0;                                           \
        for (int64_t k = 0; k < out_size; k++) {                                                   \
            int64_t i = ix[k];                                                                     \
            if ((uint64_t)i < (uint64_t)in_size) gx[i] += g[k];                                    \
            else ok = false;                                                                       \
        }                                                                                          \
        return ok;                                                                                 \
    }                                                                                              \
    /* 2x2 windows: each pair of input rows is zeroed while it is in L1, then g + 0 is stored at \
     * the index (no read-modify-write, no separate pass over the plane, no data-dependent branch); \
     * false as soon as an index is not in its own window (the caller then redoes the plane). */  \
    static bool plane_2x2_##SUF(const scat_job *j, const T *g, const int64_t *ix, T *gx) {         \
        int64_t W = j->w, ow = j->ow;                                                              \
        for (int64_t oy = 0; oy < j->oh; oy++) {                                                   \
            T *r0 = gx + 2 * oy * W;                                                               \
            const T *gr = g + oy * ow;                                                             \
            const int64_t *ir = ix + oy * ow;                                                      \
            int64_t top = 2 * oy * W;                                                              \
            memset(r0, 0, (size_t)(2 * W) * sizeof(T));                                            \
            for (int64_t ox = 0; ox < ow; ox++) {                                                  \
                int64_t d = ir[ox] - top - 2 * ox; /* 0, 1, W or W + 1 inside the window */        \
                int64_t col = d >= W ? d - W : d;                                                  \
                if (d < 0 || col > 1) return false;                                                \
                r0[2 * ox + d] = gr[ox] + (T)0;                                                    \
            }                                                                                      \
        }                                                                                          \
        int64_t done = 2 * j->oh * W; /* odd height: the last row */                               \
        memset(gx + done, 0, (size_t)(j->h * W - done) * sizeof(T));                               \
        return true;                                                                               \
    }                                                                                              \
    static bool plane_##SUF(const scat_job *j, int64_t p) {                                        \
        int64_t in_size = j->h * j->w, out_size = j->oh * j->ow;                                   \
        const T *g = (const T *)j->g + p * out_size;                                               \
        const int64_t *ix = j->idx + p * out_size;                                                 \
        T *gx = (T *)j->gx + p * in_size;                                                          \
        if (2 * j->oh <= j->h && 2 * j->ow <= j->w && plane_2x2_##SUF(j, g, ix, gx)) return true; \
        return plane_generic_##SUF(g, ix, gx, in_size, out_size);                                 \
    }
DEF_SCATTER(float, f)
DEF_SCATTER(double, d)

static void scat_chunk(void *ctx, int64_t b, int64_t e) {
    scat_job *j = ctx;
    bool ok = true;
    for (int64_t p = b; p < e; p++) ok &= j->t == NB_F32 ? plane_f(j, p) : plane_d(j, p);
    if (!ok) atomic_store(&j->bad, true);
}

bool nbk_maxpool_scatter(nb_dtype t, int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow, const void *g,
                         const int64_t *idx, void *gx) {
    scat_job j = {.t = t, .h = h, .w = w, .oh = oh, .ow = ow, .g = g, .idx = idx, .gx = gx};
    atomic_init(&j.bad, false);
    int64_t work = h * w + oh * ow;
    nbc_parallel_for(planes, work >= 16384 ? 1 : 16384 / (work ? work : 1), scat_chunk, &j);
    return !atomic_load(&j.bad);
}
