/* core/dtype.c — dtype names, sizes, promotion, and scalar conversions (f16/bf16 rounding). Bulk
 * conversion loops live in kernels/; this file has the per-element definitions they build on. */
#include "internal.h"

#include <math.h>
#include <string.h>

static const char *const k_names[NB_DTYPE_COUNT] = {"f32", "f64", "f16", "bf16", "i8", "u8", "i32", "i64", "bool"};
static const size_t k_sizes[NB_DTYPE_COUNT] = {4, 8, 2, 2, 1, 1, 4, 8, 1};

const char *nb_dtype_name(nb_dtype d) { return (unsigned)d < NB_DTYPE_COUNT ? k_names[d] : "?"; }
size_t nb_dtype_size(nb_dtype d) { return (unsigned)d < NB_DTYPE_COUNT ? k_sizes[d] : 0; }
bool nb_dtype_is_float(nb_dtype d) { return d == NB_F32 || d == NB_F64 || d == NB_F16 || d == NB_BF16; }

/* Rank within a category: floats f16/bf16 < f32 < f64; ints i8/u8 < i32 < i64. */
static int category(nb_dtype d) { return d == NB_BOOL ? 0 : nb_dtype_is_float(d) ? 2 : 1; }

nb_dtype nb_promote_types(nb_dtype a, nb_dtype b) {
    if (a == b) return a;
    int ca = category(a), cb = category(b);
    if (ca != cb) return ca > cb ? a : b;
    if (ca == 2) {
        if (a == NB_F64 || b == NB_F64) return NB_F64;
        return NB_F32; /* f32 with anything, or f16 with bf16 */
    }
    if (a == NB_I64 || b == NB_I64) return NB_I64;
    return NB_I32; /* i32 with a narrower int, or i8 with u8 */
}

float nbc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t nbc_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0)); /* inf/nan */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);                                   /* overflow */
    if (ax < 0x38800000u) { /* subnormal or zero in half: round to nearest even at 2^-24 */
        if (ax < 0x33000000u) return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ax + 0xfff + ((ax >> 13) & 1); /* round to nearest even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float nbc_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t nbc_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

double nbc_load(const void *p, nb_dtype d, int64_t i) {
    switch (d) {
    case NB_F32: return ((const float *)p)[i];
    case NB_F64: return ((const double *)p)[i];
    case NB_F16: return nbc_f16_to_f32(((const uint16_t *)p)[i]);
    case NB_BF16: return nbc_bf16_to_f32(((const uint16_t *)p)[i]);
    case NB_I8: return ((const int8_t *)p)[i];
    case NB_U8: return ((const uint8_t *)p)[i];
    case NB_I32: return ((const int32_t *)p)[i];
    case NB_I64: return (double)((const int64_t *)p)[i];
    case NB_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return NAN;
    }
}

/* Float to integer conversion saturates instead of being undefined behaviour. */
static int64_t to_i64(double v, double lo, double hi) {
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

void nbc_store(void *p, nb_dtype d, int64_t i, double v) {
    switch (d) {
    case NB_F32: ((float *)p)[i] = (float)v; break;
    case NB_F64: ((double *)p)[i] = v; break;
    case NB_F16: ((uint16_t *)p)[i] = nbc_f32_to_f16((float)v); break;
    case NB_BF16: ((uint16_t *)p)[i] = nbc_f32_to_bf16((float)v); break;
    case NB_I8: ((int8_t *)p)[i] = (int8_t)to_i64(v, -128, 127); break;
    case NB_U8: ((uint8_t *)p)[i] = (uint8_t)to_i64(v, 0, 255); break;
    case NB_I32: ((int32_t *)p)[i] = (int32_t)to_i64(v, -2147483648.0, 2147483647.0); break;
    case NB_I64: /* 2^63 itself is not an i64: saturate to INT64_MAX there */
        ((int64_t *)p)[i] = v >= 9223372036854775808.0 ? INT64_MAX : to_i64(v, -9223372036854775808.0, 9223372036854774784.0);
        break;
    case NB_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: break;
    }
}
