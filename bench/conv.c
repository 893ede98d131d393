/* bench/conv.c — convolution and max-pooling times of nabla's internal ops (the ones autograd runs):
 * conv2d forward, conv2d_input_grad and conv2d_weight_grad; max_pool2d forward (values and indices)
 * and max_pool2d_backward (the scatter-add). bench/run_conv drives it and bench/conv_torch.py measures
 * the same in PyTorch.
 *
 *     conv [--threads N] [--min-ms MS] [--rounds R] [--cpu-time] [--check] [case ...]
 *
 * Cases: conv:N,C,H,W,O,k,stride,pad  and  pool:N,C,H,W,k,stride. Without cases, the default set.
 * Prints one line per case: "conv N C H W O k s p threads fwd_ms dx_ms dw_ms" or
 * "pool N C H W k s threads fwd_ms bwd_ms", each the best of R rounds of the mean over >= MS ms.
 * --cpu-time times with the process CPU clock (for tuning on a busy machine; 1 thread only).
 * --check prints a checksum of every result instead (for comparing builds and thread counts). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/op.h"

static clockid_t g_clock = CLOCK_MONOTONIC;
static double now_s(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef nb_tensor *(*run_fn)(void *ctx);

/* Best of `rounds` rounds of the mean time (ms) of fn over >= min_ms. */
static double time_ms(run_fn fn, void *ctx, double min_ms, int rounds) {
    double best = 1e30;
    nb_scope_begin();
    fn(ctx); /* warm up: pool, caches, allocator */
    nb_scope_end();
    for (int r = 0; r < rounds; r++) {
        int64_t calls = 0;
        double t0 = now_s(), t;
        do {
            nb_scope_begin();
            if (!fn(ctx)) {
                fprintf(stderr, "conv: %s\n", nb_last_error());
                exit(1);
            }
            nb_scope_end();
            calls++;
            t = now_s() - t0;
        } while (t * 1e3 < min_ms);
        double ms = t * 1e3 / (double)calls;
        if (ms < best) best = ms;
    }
    return best;
}

typedef struct conv_ctx {
    nb_tensor *x, *w, *gy;
    nb_attrs a, ax, aw;
} conv_ctx;

static nb_tensor *conv_fwd(void *p) {
    conv_ctx *c = p;
    return nbo_apply1(NBO_conv2d, (nb_tensor *[]){c->x, c->w}, 2, &c->a);
}
static nb_tensor *conv_dx(void *p) {
    conv_ctx *c = p;
    return nbo_apply1(NBO_conv2d_input_grad, (nb_tensor *[]){c->gy, c->w}, 2, &c->ax);
}
static nb_tensor *conv_dw(void *p) {
    conv_ctx *c = p;
    return nbo_apply1(NBO_conv2d_weight_grad, (nb_tensor *[]){c->x, c->gy}, 2, &c->aw);
}

typedef struct pool_ctx {
    nb_tensor *x, *gy, *idx;
    nb_pool_opts o;
    nb_attrs ab;
} pool_ctx;

static nb_tensor *pool_fwd(void *p) {
    pool_ctx *c = p;
    nb_tensor *idx = NULL;
    return nb_max_pool2d_with_indices(c->x, &c->o, &idx);
}
static nb_tensor *pool_bwd(void *p) {
    pool_ctx *c = p;
    return nbo_apply1(NBO_max_pool2d_backward, (nb_tensor *[]){c->gy, c->idx}, 2, &c->ab);
}

/* Order-sensitive checksum of a tensor's f64 values (bits of f32 results are compared exactly). */
static double checksum(nb_tensor *t) {
    int64_t n = nb_numel(t);
    double *v = malloc(sizeof(double) * (size_t)n), s = 0;
    nb_copy_to(t, v, sizeof(double) * (size_t)n, NB_F64);
    for (int64_t i = 0; i < n; i++) s = s * 0.9999 + v[i];
    free(v);
    return s;
}

static void run_conv(const int64_t *v, int threads, double min_ms, int rounds, bool check) {
    int64_t N = v[0], C = v[1], H = v[2], W = v[3], O = v[4], k = v[5], s = v[6], p = v[7];
    int64_t OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
    nb_manual_seed(1);
    conv_ctx c = {.x = nb_randn(NB_SHAPE(N, C, H, W), NB_F32), .w = nb_randn(NB_SHAPE(O, C, k, k), NB_F32),
                  .gy = nb_randn(NB_SHAPE(N, O, OH, OW), NB_F32)};
    int64_t base[7] = {s, s, p, p, 1, 1, 1};
    c.a.n_ints = 7;
    memcpy(c.a.ints, base, sizeof base);
    c.ax = c.a;
    c.ax.n_ints = 11;
    memcpy(&c.ax.ints[7], (int64_t[]){N, C, H, W}, 4 * sizeof(int64_t));
    c.aw = c.a;
    c.aw.n_ints = 11;
    memcpy(&c.aw.ints[7], (int64_t[]){O, C, k, k}, 4 * sizeof(int64_t));
    if (check) {
        nb_scope_begin();
        printf("conv %lld %lld %lld %lld %lld %lld %lld %lld threads %d: %.17g %.17g %.17g\n", (long long)N,
               (long long)C, (long long)H, (long long)W, (long long)O, (long long)k, (long long)s, (long long)p,
               threads, checksum(conv_fwd(&c)), checksum(conv_dx(&c)), checksum(conv_dw(&c)));
        nb_scope_end();
    } else {
        double f = time_ms(conv_fwd, &c, min_ms, rounds), dx = time_ms(conv_dx, &c, min_ms, rounds),
               dw = time_ms(conv_dw, &c, min_ms, rounds);
        printf("conv %lld %lld %lld %lld %lld %lld %lld %lld %d %.4f %.4f %.4f\n", (long long)N, (long long)C,
               (long long)H, (long long)W, (long long)O, (long long)k, (long long)s, (long long)p, threads, f, dx, dw);
    }
    fflush(stdout);
    nb_free(c.x), nb_free(c.w), nb_free(c.gy);
}

static void run_pool(const int64_t *v, int threads, double min_ms, int rounds, bool check) {
    int64_t N = v[0], C = v[1], H = v[2], W = v[3], k = v[4], s = v[5];
    nb_manual_seed(2);
    pool_ctx c = {.x = nb_randn(NB_SHAPE(N, C, H, W), NB_F32), .o = {.kernel = {k}, .stride = {s}}};
    nb_tensor *y = nb_max_pool2d_with_indices(c.x, &c.o, &c.idx);
    c.gy = nb_randn(nb_ndim(y), nb_shape(y), NB_F32);
    c.ab.n_ints = 4;
    memcpy(c.ab.ints, (int64_t[]){N, C, H, W}, 4 * sizeof(int64_t));
    if (check) {
        nb_scope_begin();
        nb_tensor *idx = NULL, *yy = nb_max_pool2d_with_indices(c.x, &c.o, &idx);
        printf("pool %lld %lld %lld %lld %lld %lld threads %d: %.17g %.17g %.17g\n", (long long)N, (long long)C,
               (long long)H, (long long)W, (long long)k, (long long)s, threads, checksum(yy), checksum(idx),
               checksum(pool_bwd(&c)));
        nb_scope_end();
    } else {
        double f = time_ms(pool_fwd, &c, min_ms, rounds), b = time_ms(pool_bwd, &c, min_ms, rounds);
        printf("pool %lld %lld %lld %lld %lld %lld %d %.4f %.4f\n", (long long)N, (long long)C, (long long)H,
               (long long)W, (long long)k, (long long)s, threads, f, b);
    }
    fflush(stdout);
    nb_free(c.x), nb_free(c.gy), nb_free(c.idx), nb_free(y);
}

static const char *const default_cases[] = {
    "conv:64,1,28,28,32,3,1,0", "conv:64,32,13,13,64,3,1,0", "conv:8,64,56,56,64,3,1,1",
    "pool:64,32,26,26,2,2",     "pool:64,64,11,11,2,2",
};

int main(int argc, char **argv) {
    int threads = 1, rounds = 5;
    double min_ms = 200;
    bool check = false;
    const char *cases[64];
    int n_cases = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--check")) check = true;
        else if (!strcmp(argv[i], "--cpu-time")) g_clock = CLOCK_PROCESS_CPUTIME_ID;
        else if (n_cases < 64) cases[n_cases++] = argv[i];
    }
    if (!n_cases)
        for (size_t i = 0; i < sizeof default_cases / sizeof default_cases[0]; i++) cases[n_cases++] = default_cases[i];
    nb_set_num_threads(threads);
    nb_no_grad_begin();
    for (int i = 0; i < n_cases; i++) {
        int64_t v[8] = {0};
        bool conv = !strncmp(cases[i], "conv:", 5), pool = !strncmp(cases[i], "pool:", 5);
        int want = conv ? 8 : 6, got = 0;
        const char *s = cases[i] + 5;
        while ((conv || pool) && got < want && *s) {
            char *end;
            v[got++] = strtoll(s, &end, 10);
            s = *end == ',' ? end + 1 : end;
            if (end == s && *end) break;
        }
        if ((!conv && !pool) || got != want) {
            fprintf(stderr, "conv: bad case '%s' (conv:N,C,H,W,O,k,stride,pad or pool:N,C,H,W,k,stride)\n", cases[i]);
            return 2;
        }
        if (conv) run_conv(v, threads, min_ms, rounds, check);
        else run_pool(v, threads, min_ms, rounds, check);
    }
    return 0;
}
