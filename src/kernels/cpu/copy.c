/* kernels/cpu/copy.c — strided copies with dtype conversion, conversion of contiguous runs, fills.
 * Every view materialisation (contiguous, reshape of a permuted tensor, dtype casts, broadcasting
 * into a buffer) ends here. Dims are collapsed first so common layouts become one long inner loop. */
#include "kernels.h"

#include <string.h>

nb_dtype nbk_compute_type(nb_dtype d) {
    switch (d) {
    case NB_F64: return NB_F64;
    case NB_F32:
    case NB_F16:
    case NB_BF16: return NB_F32;
    default: return NB_I64;
    }
}

/* Convert a strided run of n elements. Fast paths for same type and the float conversions that
 * models use; everything else goes through double, which is exact for every nabla dtype but i64
 * beyond 2^53 (handled separately for i64 -> i64, which is a same-type copy). */
static void convert_run(char *dst, nb_dtype dd, int64_t ds, const char *src, nb_dtype sd, int64_t ss, int64_t n) {
    size_t dz = nb_dtype_size(dd), sz = nb_dtype_size(sd);
    if (dd == sd) {
        if (ds == 1 && ss == 1) {
            memcpy(dst, src, (size_t)n * dz);
            return;
        }
        switch (dz) {
        case 1: for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i * ds] = ((const uint8_t *)src)[i * ss]; return;
        case 2: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i * ds] = ((const uint16_t *)src)[i * ss]; return;
        case 4: for (int64_t i = 0; i < n; i++) ((uint32_t *)dst)[i * ds] = ((const uint32_t *)src)[i * ss]; return;
        default: for (int64_t i = 0; i < n; i++) ((uint64_t *)dst)[i * ds] = ((const uint64_t *)src)[i * ss]; return;
        }
    }
    if (dd == NB_F32 && sd == NB_F64) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i * ds] = (float)((const double *)src)[i * ss];
        return;
    }
    if (dd == NB_F64 && sd == NB_F32) {
        for (int64_t i = 0; i < n; i++) ((double *)dst)[i * ds] = ((const float *)src)[i * ss];
        return;
    }
    if (dd == NB_F32 && sd == NB_F16) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i * ds] = nbc_f16_to_f32(((const uint16_t *)src)[i * ss]);
        return;
    }
    if (dd == NB_F16 && sd == NB_F32) {
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i * ds] = nbc_f32_to_f16(((const float *)src)[i * ss]);
        return;
    }
    if (dd == NB_F32 && sd == NB_BF16) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i * ds] = nbc_bf16_to_f32(((const uint16_t *)src)[i * ss]);
        return;
    }
    if (dd == NB_BF16 && sd == NB_F32) {
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i * ds] = nbc_f32_to_bf16(((const float *)src)[i * ss]);
        return;
    }
    /* integers and bool to f32 / f64 (masks in backward formulas, labels, images): plain C casts */
#define TO_FLOAT(DT, ST)                                                                           \
    for (int64_t i = 0; i < n; i++) ((DT *)dst)[i * ds] = (DT)((const ST *)src)[i * ss];           \
    return;
    if (dd == NB_F32 || dd == NB_F64) {
        bool f = dd == NB_F32;
        switch (sd) {
        case NB_BOOL:
        case NB_U8:
            if (f) { TO_FLOAT(float, uint8_t) } else { TO_FLOAT(double, uint8_t) }
        case NB_I8:
            if (f) { TO_FLOAT(float, int8_t) } else { TO_FLOAT(double, int8_t) }
        case NB_I32:
            if (f) { TO_FLOAT(float, int32_t) } else { TO_FLOAT(double, int32_t) }
        case NB_I64:
            if (f) { TO_FLOAT(float, int64_t) } else { TO_FLOAT(double, int64_t) }
        default: break;
        }
    }
#undef TO_FLOAT
    /* f32 / f64 to bool: non-zero (NaN is true, as in PyTorch) */
    if (dd == NB_BOOL && sd == NB_F32) {
        for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i * ds] = ((const float *)src)[i * ss] != 0;
        return;
    }
    if (dd == NB_BOOL && sd == NB_F64) {
        for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i * ds] = ((const double *)src)[i * ss] != 0;
        return;
    }
    if (dd == NB_I64 && sd == NB_I32) { /* index tensors */
        for (int64_t i = 0; i < n; i++) ((int64_t *)dst)[i * ds] = ((const int32_t *)src)[i * ss];
        return;
    }
    if (dd == NB_I64 && (sd == NB_U8 || sd == NB_BOOL)) {
        for (int64_t i = 0; i < n; i++) ((int64_t *)dst)[i * ds] = ((const uint8_t *)src)[i * ss];
        return;
    }
    if (dd == NB_I64 && sd == NB_I8) {
        for (int64_t i = 0; i < n; i++) ((int64_t *)dst)[i * ds] = ((const int8_t *)src)[i * ss];
        return;
    }
    if (!nb_dtype_is_float(sd) && (dd == NB_I32 || dd == NB_I8 || dd == NB_U8 || dd == NB_BOOL)) {
        /* integer narrowing wraps, as in PyTorch (from any integer type, not just i64); bool is "non-zero" */
        for (int64_t i = 0; i < n; i++) {
            int64_t v = sd == NB_I64 ? ((const int64_t *)src)[i * ss] : (int64_t)nbc_load(src, sd, i * ss);
            if (dd == NB_I32) ((int32_t *)dst)[i * ds] = (int32_t)(uint32_t)v;
            else if (dd == NB_I8) ((int8_t *)dst)[i * ds] = (int8_t)(uint8_t)v;
            else if (dd == NB_U8) ((uint8_t *)dst)[i * ds] = (uint8_t)v;
            else ((uint8_t *)dst)[i * ds] = v != 0;
        }
        return;
    }
    (void)sz;
    for (int64_t i = 0; i < n; i++) nbc_store(dst, dd, i * ds, nbc_load(src, sd, i * ss));
}

void nbk_convert(void *dst, nb_dtype dd, const void *src, nb_dtype sd, int64_t n) {
    convert_run(dst, dd, 1, src, sd, 1, n);
}

void nbk_fill(void *dst, nb_dtype dd, double value, int64_t n) {
    if (n <= 0) return;
    nbc_store(dst, dd, 0, value);
    size_t z = nb_dtype_size(dd);
    /* doubling copies: log2(n) memcpy calls */
    int64_t done = 1;
    while (done < n) {
        int64_t k = done < n - done ? done : n - done;
        memcpy((char *)dst + (size_t)done * z, dst, (size_t)k * z);
        done += k;
    }
}

/* Merge adjacent dims that are contiguous with each other in both operands; drop size-1 dims. */
static int collapse2(int ndim, const int64_t *shape, const int64_t *s1, const int64_t *s2, int64_t *cs, int64_t *c1,
                     int64_t *c2) {
    int k = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 1) continue;
        if (k > 0 && c1[k - 1] == s1[i] * shape[i] && c2[k - 1] == s2[i] * shape[i]) {
            cs[k - 1] *= shape[i];
            c1[k - 1] = s1[i];
            c2[k - 1] = s2[i];
        } else {
            cs[k] = shape[i];
            c1[k] = s1[i];
            c2[k] = s2[i];
            k++;
        }
    }
    if (k == 0) {
        cs[0] = 1;
        c1[0] = c2[0] = 1;
        k = 1;
    }
    return k;
}

typedef struct copy_job {
    char *dst;
    const char *src;
    nb_dtype dd, sd;
    int ndim; /* collapsed */
    int64_t shape[NB_MAX_DIMS], ds[NB_MAX_DIMS], ss[NB_MAX_DIMS];
} copy_job;

/* Each unit of parallel work is one inner run (all dims but the last). */
static void copy_rows(void *ctx, int64_t begin, int64_t end) {
    const copy_job *j = ctx;
    int nd = j->ndim, last = nd - 1;
    size_t dz = nb_dtype_size(j->dd), sz = nb_dtype_size(j->sd);
    for (int64_t r = begin; r < end; r++) {
        int64_t rem = r, doff = 0, soff = 0;
        for (int d = last - 1; d >= 0; d--) {
            int64_t idx = rem % j->shape[d];
            rem /= j->shape[d];
            doff += idx * j->ds[d];
            soff += idx * j->ss[d];
        }
        convert_run(j->dst + (size_t)doff * dz, j->dd, j->ds[last], j->src + (size_t)soff * sz, j->sd, j->ss[last],
                    j->shape[last]);
    }
}

/* Transposing copies (the source runs along the destination's second-to-last dim, as contiguous() of
 * a transposed matrix): 32 x 32 tiles, so reads and writes both stay within a few cache lines instead
 * of one of them striding through memory per element. One unit of work is one band of 32 rows. */
#define TR_TILE 32
static void transpose_rows(void *ctx, int64_t begin, int64_t end) {
    const copy_job *j = ctx;
    int l = j->ndim - 1;
    int64_t rows = j->shape[l - 1], cols = j->shape[l], bands = (rows + TR_TILE - 1) / TR_TILE;
    int64_t dr = j->ds[l - 1], sc = j->ss[l];
    size_t z = nb_dtype_size(j->dd);
    for (int64_t u = begin; u < end; u++) {
        int64_t rem = u / bands, r0 = (u % bands) * TR_TILE, doff = 0, soff = 0;
        for (int d = l - 2; d >= 0; d--) {
            int64_t idx = rem % j->shape[d];
            rem /= j->shape[d];
            doff += idx * j->ds[d];
            soff += idx * j->ss[d];
        }
        int64_t r1 = r0 + TR_TILE < rows ? r0 + TR_TILE : rows;
        for (int64_t c0 = 0; c0 < cols; c0 += TR_TILE) {
            int64_t c1 = c0 + TR_TILE < cols ? c0 + TR_TILE : cols;
            if (z == 4) {
                uint32_t *d4 = (uint32_t *)j->dst + doff;
                const uint32_t *s4 = (const uint32_t *)j->src + soff;
                for (int64_t c = c0; c < c1; c++)
                    for (int64_t r = r0; r < r1; r++) d4[r * dr + c] = s4[r + c * sc];
            } else {
                uint64_t *d8 = (uint64_t *)j->dst + doff;
                const uint64_t *s8 = (const uint64_t *)j->src + soff;
                for (int64_t c = c0; c < c1; c++)
                    for (int64_t r = r0; r < r1; r++) d8[r * dr + c] = s8[r + c * sc];
            }
        }
    }
}

void nbk_copy(void *dst, nb_dtype dd, const int64_t *dst_strides, const void *src, nb_dtype sd,
              const int64_t *src_strides, int ndim, const int64_t *shape) {
    if (nbc_numel(ndim, shape) == 0) return;
    copy_job j = {.dst = dst, .src = src, .dd = dd, .sd = sd};
    j.ndim = collapse2(ndim, shape, dst_strides, src_strides, j.shape, j.ds, j.ss);
    int l = j.ndim - 1;
    size_t z = nb_dtype_size(dd);
    if (dd == sd && (z == 4 || z == 8) && j.ndim >= 2 && j.ds[l] == 1 && j.ss[l - 1] == 1 && j.ss[l] != 1 &&
        j.shape[l] >= 8 && j.shape[l - 1] >= 8) {
        int64_t units = (j.shape[l - 1] + TR_TILE - 1) / TR_TILE;
        for (int d = 0; d < l - 1; d++) units *= j.shape[d];
        nbc_parallel_for(units, (int64_t)(32768 / (TR_TILE * j.shape[l])) + 1, transpose_rows, &j);
        return;
    }
    int64_t rows = 1;
    for (int d = 0; d < j.ndim - 1; d++) rows *= j.shape[d];
    int64_t inner = j.shape[j.ndim - 1];
    int64_t grain = inner >= 32768 ? 1 : 32768 / inner;
    nbc_parallel_for(rows, grain, copy_rows, &j);
}
