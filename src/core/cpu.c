/* core/cpu.c — CPU feature detection (cpuid + xgetbv so that AVX state is enabled by the OS).
 * Kernels use nb_cpu_features() to pick a variant at run time; NABLA_CPU_MAX (scalar, avx2, avx512)
 * caps what is reported so tests can force every dispatch level on one machine. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static unsigned detect(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (c & (1u << 20)) f |= NB_CPU_SSE42;
    bool osxsave = c & (1u << 27);
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (ymm && (c & (1u << 28))) f |= NB_CPU_AVX;
    if (ymm && (c & (1u << 12))) f |= NB_CPU_FMA;
    if (ymm && (c & (1u << 29))) f |= NB_CPU_F16C;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (ymm && (b & (1u << 5))) f |= NB_CPU_AVX2;
        if (zmm && (b & (1u << 16))) f |= NB_CPU_AVX512F;
        if (zmm && (b & (1u << 17))) f |= NB_CPU_AVX512DQ;
        if (zmm && (b & (1u << 30))) f |= NB_CPU_AVX512BW;
        if (zmm && (b & (1u << 31))) f |= NB_CPU_AVX512VL;
        if (zmm && (c & (1u << 11))) f |= NB_CPU_AVX512VNNI;
        __cpuid_count(7, 1, a, b, c, d);
        if (zmm && (a & (1u << 5))) f |= NB_CPU_AVX512BF16;
    }
    return f;
}
#else
static unsigned detect(void) { return 0; }
#endif

static unsigned cap(unsigned f) {
    const char *lim = getenv("NABLA_CPU_MAX");
    if (!lim) return f;
    unsigned avx512 = NB_CPU_AVX512F | NB_CPU_AVX512BW | NB_CPU_AVX512VL | NB_CPU_AVX512DQ | NB_CPU_AVX512VNNI |
                      NB_CPU_AVX512BF16;
    if (strcmp(lim, "avx2") == 0) return f & ~avx512;
    if (strcmp(lim, "scalar") == 0) return 0;
    return f;
}

unsigned nb_cpu_features(void) {
    static int done;
    static unsigned f;
    if (!done) {
        f = cap(detect());
        done = 1;
    }
    return f;
}

const char *nb_cpu_features_string(void) {
    static char buf[160];
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{NB_CPU_SSE42, "sse4.2"},       {NB_CPU_AVX, "avx"},           {NB_CPU_AVX2, "avx2"},
                 {NB_CPU_FMA, "fma"},            {NB_CPU_F16C, "f16c"},         {NB_CPU_AVX512F, "avx512f"},
                 {NB_CPU_AVX512BW, "avx512bw"},  {NB_CPU_AVX512VL, "avx512vl"}, {NB_CPU_AVX512DQ, "avx512dq"},
                 {NB_CPU_AVX512VNNI, "avx512vnni"}, {NB_CPU_AVX512BF16, "avx512bf16"}};
    unsigned f = nb_cpu_features();
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(f & names[i].bit)) continue;
        if (buf[0]) strcat(buf, " ");
        strcat(buf, names[i].name);
    }
    return buf;
}
