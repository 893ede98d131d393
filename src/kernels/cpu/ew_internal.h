/* kernels/cpu/ew_internal.h — what the elementwise, reduction and softmax drivers (elementwise.c,
 * reduce.c, vmath.c) share with their per-ISA kernels (ew_avx2.c, ew_avx512.c). Each ISA file fills
 * one nbk_ew_arch whose functions are compiled with a per-function target attribute; the table is
 * chosen once from nb_cpu_features() (which honours NABLA_CPU_MAX). The scalar level has no table:
 * the drivers run their portable loops, which compute the same values in the same order. */
#ifndef NABLA_EW_INTERNAL_H
#define NABLA_EW_INTERNAL_H

#include "kernels.h"

/* Sums run 64 lanes: element i of a chunk goes to lane i % 64, the lanes are combined by the halving
 * tree lane[k] += lane[k + h] for h = 32, 16, ..., 1. Every level uses this order. */
#define NBK_SUM_LANES 64
/* Fixed chunk of long row sums (partial sums added in order). */
#define NBK_SUM_CHUNK 4096

typedef struct nbk_ew_arch {
    const char *name;
    /* y = f(x) on n contiguous floats (f: nbk_vfn) */
    void (*vmath)(nbk_vfn f, const float *x, float *y, int64_t n);
    /* y = op(x) on n contiguous floats; returns false if op is not handled */
    bool (*unary)(nbk_unary op, const float *x, float *y, int64_t n);
    /* one inner run of a binary op (strides as, bs in elements); false if the op or stride pattern is
     * not handled */
    bool (*binary)(nbk_binary op, void *o, const float *a, int64_t as, const float *b, int64_t bs, int64_t n);
    /* sum of n <= NBK_SUM_CHUNK floats in the 64-lane order */
    float (*sum_run)(const float *x, int64_t n);
    /* max / min of n >= 1 floats; a NaN anywhere gives the last NaN (like the portable loop) */
    float (*max_run)(const float *x, int64_t n);
    float (*min_run)(const float *x, int64_t n);
    /* column reduction (sum/max/min) of x (r, n) for columns [b, e), rows added in order */
    void (*cols)(nbk_reduce op, const float *x, float *o, int64_t r, int64_t n, int64_t b, int64_t e);
    /* softmax / log-softmax of one row of r >= 1 floats */
    void (*softmax_row)(const float *x, float *y, int64_t r, bool log);
} nbk_ew_arch;

/* The table for this CPU, or NULL for the portable loops. */
const nbk_ew_arch *nbk_ew_get(void);

/* Scalar versions of the vector functions (the same operations as every SIMD level). */
float nbk_vexpf(float x);
float nbk_vlogf(float x);
float nbk_vtanhf(float x);
float nbk_vsigmoidf(float x);
float nbk_verff(float x);

#if defined(__x86_64__)
extern const nbk_ew_arch nbk_ew_avx512;
extern const nbk_ew_arch nbk_ew_avx2;
#endif


/* The plain contiguous loop behind the portable kernels (elementwise.c, ew_pointwise.c):
 * y[i] = EXPR with v = x[i], over n elements of the x and y in scope. */
#define MAP_LOOP(TIN, TOUT, EXPR)                                                                  \
    do {                                                                                           \
        const TIN *restrict X = x;                                                                 \
        TOUT *restrict Y = y;                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                          \
            TIN v = X[i];                                                                          \
            Y[i] = (EXPR);                                                                         \
        }                                                                                          \
    } while (0)
#define UNARY_LOOP(T, EXPR) MAP_LOOP(T, T, EXPR)       /* same type in and out */
#define BOOL_LOOP(T, EXPR) MAP_LOOP(T, uint8_t, EXPR)  /* a predicate: bool (u8) out */

#endif
