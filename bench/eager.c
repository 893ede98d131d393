/* bench/eager.c — eager-mode overhead of nabla.
 *
 *     eager [threads] [min_ms_per_repeat] [repeats] [only]
 *
 * Measures, after a warm-up:
 *   add_1elem_ns        nb_add of two 1-element f32 tensors, then nb_free of the result (per op, ns)
 *   add_1elem_grad_ns   the same with one input requiring grad (records and frees an autograd node)
 *   mlp_nograd_us       784->256->128->10 MLP forward at batch 1 (matmul + bias add + relu), inside
 *                       nb_no_grad_begin/end, one nb_scope_begin/end per forward (per forward, µs)
 *   mlp_grad_us         the same with grad mode on and the weights requiring grad
 *   matmul_32_ns        nb_matmul of two 32 x 32 f32 matrices, then nb_free (a whole call: dispatch,
 *                       allocation and the product; per call, ns)
 * Every measurement runs `repeats` times; each repeat runs enough iterations to last at least
 * `min_ms_per_repeat` ms, and the median of the per-iteration times is printed, one `name value` line
 * each (machine-readable; lines starting with '#' are comments). `only`, if given, runs just the
 * measurements whose name starts with it (for profiling: `perf record bench/eager 1 2000 1 mlp_nograd`).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#include <nabla/nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REPEATS 101

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what) {
    fprintf(stderr, "bench/eager: %s failed: %s\n", what, nb_last_error());
    exit(1);
}

static const char *only = "";

static bool wanted(const char *name) { return strncmp(name, only, strlen(only)) == 0; }

/* ---- the measured bodies ------------------------------------------------------------------------ */

typedef struct add_ctx {
    nb_tensor *a, *b;
} add_ctx;

static void add_body(void *p, long iters) {
    add_ctx *c = p;
    for (long i = 0; i < iters; i++) {
        nb_tensor *r = nb_add(c->a, c->b);
        if (!r) die("nb_add");
        nb_free(r);
    }
}

static void matmul_body(void *p, long iters) {
    add_ctx *c = p;
    for (long i = 0; i < iters; i++) {
        nb_tensor *r = nb_matmul(c->a, c->b);
        if (!r) die("nb_matmul");
        nb_free(r);
    }
}

typedef struct mlp_ctx {
    nb_tensor *x;
    nb_tensor *w[3], *bias[3];
    bool no_grad;
} mlp_ctx;

static void mlp_body(void *p, long iters) {
    mlp_ctx *c = p;
    for (long i = 0; i < iters; i++) {
        if (c->no_grad) nb_no_grad_begin();
        nb_scope_begin();
        nb_tensor *h = c->x;
        for (int l = 0; l < 3; l++) {
            h = nb_add(nb_matmul(h, c->w[l]), c->bias[l]);
            if (l < 2) h = nb_relu(h);
        }
        if (!h) die("MLP forward");
        nb_scope_end();
        if (c->no_grad) nb_no_grad_end();
    }
}

/* Per-iteration time in ns: the median over `repeats` repeats of at least min_ns each. */
static double measure(void (*body)(void *, long), void *ctx, double min_ns, int repeats) {
    /* Warm up (caches, the storage cache, the thread pool) and calibrate the iteration count. */
    long iters = 1;
    for (;;) {
        double t0 = now_ns();
        body(ctx, iters);
        double dt = now_ns() - t0;
        if (dt >= min_ns / 4) {
            double per = dt / (double)iters;
            iters = (long)(min_ns / per) + 1;
            break;
        }
        iters *= 2;
    }
    double samples[MAX_REPEATS];
    for (int r = 0; r < repeats; r++) {
        double t0 = now_ns();
        body(ctx, iters);
        samples[r] = (now_ns() - t0) / (double)iters;
    }
    qsort(samples, (size_t)repeats, sizeof samples[0], cmp_double);
    return samples[repeats / 2];
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    double min_ms = argc > 2 ? atof(argv[2]) : 40.0;
    int repeats = argc > 3 ? atoi(argv[3]) : 11;
    only = argc > 4 ? argv[4] : "";
    if (threads < 1 || min_ms <= 0 || repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "usage: %s [threads>=1] [min_ms_per_repeat>0] [repeats 1..%d]\n", argv[0], MAX_REPEATS);
        return 2;
    }
    if (nb_set_num_threads(threads) != 0) die("nb_set_num_threads");
    nb_manual_seed(42);
    double min_ns = min_ms * 1e6;

    printf("# nabla %s, cpu: %s\n", nb_version_string(), nb_cpu_features_string());
    printf("threads %d\n", nb_get_num_threads());

    /* (a), (b): 1-element add. */
    add_ctx ac;
    ac.a = nb_full(NB_SHAPE(1), 1.5, NB_F32);
    ac.b = nb_full(NB_SHAPE(1), 2.25, NB_F32);
    if (!ac.a || !ac.b) die("nb_full");
    if (wanted("add_1elem_ns")) printf("add_1elem_ns %.1f\n", measure(add_body, &ac, min_ns, repeats));
    fflush(stdout);
    if (!nb_param(ac.a)) die("nb_param");
    if (wanted("add_1elem_grad_ns")) printf("add_1elem_grad_ns %.1f\n", measure(add_body, &ac, min_ns, repeats));
    fflush(stdout);
    nb_free(ac.a);
    nb_free(ac.b);

    /* 32 x 32 matmul, a whole call */
    add_ctx mm = {nb_randn(NB_SHAPE(32, 32), NB_F32), nb_randn(NB_SHAPE(32, 32), NB_F32)};
    if (!mm.a || !mm.b) die("nb_randn");
    if (wanted("matmul_32_ns")) printf("matmul_32_ns %.1f\n", measure(matmul_body, &mm, min_ns, repeats));
    fflush(stdout);
    nb_free(mm.a);
    nb_free(mm.b);

    /* (c): MLP forward at batch 1. */
    static const int64_t dims[4] = {784, 256, 128, 10};
    mlp_ctx mc;
    memset(&mc, 0, sizeof mc);
    mc.x = nb_randn(NB_SHAPE(1, 784), NB_F32);
    if (!mc.x) die("nb_randn");
    nb_scope_begin(); /* frees the randn temporaries; nb_keep moves the weights out */
    for (int l = 0; l < 3; l++) {
        mc.w[l] = nb_keep(nb_mul_scalar(nb_randn(NB_SHAPE(dims[l], dims[l + 1]), NB_F32), 0.05));
        mc.bias[l] = nb_keep(nb_zeros(NB_SHAPE(dims[l + 1]), NB_F32));
        if (!mc.w[l] || !mc.bias[l]) die("MLP parameters");
    }
    nb_scope_end();
    mc.no_grad = true;
    if (wanted("mlp_nograd_us")) printf("mlp_nograd_us %.3f\n", measure(mlp_body, &mc, min_ns, repeats) / 1e3);
    fflush(stdout);
    for (int l = 0; l < 3; l++)
        if (!nb_param(mc.w[l]) || !nb_param(mc.bias[l])) die("nb_param");
    mc.no_grad = false;
    if (wanted("mlp_grad_us")) printf("mlp_grad_us %.3f\n", measure(mlp_body, &mc, min_ns, repeats) / 1e3);
    fflush(stdout);

    nb_free(mc.x);
    for (int l = 0; l < 3; l++) {
        nb_free(mc.w[l]);
        nb_free(mc.bias[l]);
    }
    if (nb_live_tensors() != 0) {
        fprintf(stderr, "bench/eager: %lld tensors still alive\n", (long long)nb_live_tensors());
        return 1;
    }
    return 0;
}
