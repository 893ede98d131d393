/* kernels/cpu/gemm_internal.h — what the SGEMM driver (gemm.c) and the per-ISA micro-kernel files
 * (gemm_avx512.c, gemm_avx2.c) share. Each ISA file fills one nbk_sgemm_arch with its register tile
 * (MR rows x NR columns of C), its packing routines and its micro-kernel, all compiled with a
 * per-function target attribute so one binary runs on any x86-64.
 *
 * Packed layouts (zero-padded, so the micro-kernel always computes full tiles):
 *   A~: MR-row micro-panels; panel q holds rows q*MR.. for p = 0..kc-1 as MR consecutive floats.
 *   B~: NR-column micro-panels; panel q holds columns q*NR.. for p = 0..kc-1 as NR consecutive floats.
 */
#ifndef NABLA_GEMM_INTERNAL_H
#define NABLA_GEMM_INTERNAL_H

#include "kernels.h"

/* Micro-kernels are never inlined or cloned: gcc's constprop clones of such kernels have spilled
 * their accumulators (kernels.md). clang has no noclone. */
#if defined(__clang__)
#define NBK_KERNEL __attribute__((noinline))
#else
#define NBK_KERNEL __attribute__((noinline, noclone))
#endif

/* Micro-kernel flags. */
enum {
    NBK_TILE_ACC = 1,  /* C += A~B~ (later k-blocks); otherwise C = A~B~ */
    NBK_TILE_RELU = 2, /* after the bias: max(x, 0) (only with the last k-block) */
};

/* C[0..mr) x [0..nr) (row stride ldc) (+)= A~ panel (MR x kc) * B~ panel (kc x NR), then + bias[j]
 * (bias may be NULL) and the activation in flags. mr <= MR and nr <= NR; only that part is stored. */
typedef void (*nbk_sgemm_tile_fn)(int64_t kc, const float *pa, const float *pb, float *c, int64_t ldc, int mr,
                                  int nr, int flags, const float *bias);
/* Pack rows x cols of a strided matrix (element (i, j) at src[i * rs + j * cs]). pack_a: rows = mc,
 * cols = kc, MR-row panels. pack_b: rows = kc, cols = nc, NR-column panels. */
typedef void (*nbk_pack_fn)(float *dst, const float *src, int64_t rs, int64_t cs, int64_t rows, int64_t cols);

/* Unpacked kernel for small products: C[0..mr) x [0..nr) (+)= A (mr x k, element (i, p) at
 * a[i * rsa + p * csa]) * B (k x nr, element (p, j) at b[p * ldb + j]), then bias and activation. */
typedef void (*nbk_sgemm_small_fn)(int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t ldb,
                                   float *c, int64_t ldc, int mr, int nr, int flags, const float *bias);

typedef struct nbk_sgemm_arch {
    const char *name;
    int mr, nr;
    nbk_pack_fn pack_a, pack_b;
    nbk_sgemm_tile_fn tile;
    int small_mr, small_nr; /* tile of the unpacked kernel (0 when there is none) */
    nbk_sgemm_small_fn small;
    int small_narrow_mr; /* rows the small kernel takes per call for blocks of at most small_nr / 2 columns
                            (0: small_mr) */
} nbk_sgemm_arch;

/* The kernels nbk_gemm uses on this CPU (honouring NABLA_CPU_MAX); its tile is NULL at the scalar
 * level. For drivers outside gemm.c that pack their own operands (convolution). */
const nbk_sgemm_arch *nbk_sgemm_arch_current(void);

#if defined(__x86_64__)
extern const nbk_sgemm_arch nbk_sgemm_avx512;
extern const nbk_sgemm_arch nbk_sgemm_avx2;
#endif

#endif
