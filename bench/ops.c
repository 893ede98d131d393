/* bench/ops.c — time of elementwise ops, reductions and softmax through nabla's public API.
 *
 *     ops [--threads N] [--rounds R] [--min-ms MS] [name ...]
 *
 * Ops (f32, contiguous inputs from nb_randn, each call allocates its result, like torch eager):
 *   add, mul       1M elements, nb_add / nb_mul of two (1048576,) tensors
 *   relu, exp, tanh, sigmoid, log   1M elements (log of |x| + 0.5)
 *   sum_rows       (1024, 1000) -> (1024,), nb_sum over dim 1
 *   sum_cols       (1024, 1000) -> (1000,), nb_sum over dim 0
 *   softmax        (1024, 1000), nb_softmax over dim 1
 * Prints one line per op: "name threads microseconds_per_call" (the best of R rounds, each round
 * averaging calls over >= MS ms). bench/run_ops runs it next to bench/ops_torch.py. */
#define _POSIX_C_SOURCE 200809L
#include <nabla/nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/kernels.h" /* nbk_ew_isa: the dispatch level */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static nb_tensor *g_a, *g_b, *g_pos, *g_m;

static nb_tensor *run_op(const char *name) {
    if (!strcmp(name, "add")) return nb_add(g_a, g_b);
    if (!strcmp(name, "mul")) return nb_mul(g_a, g_b);
    if (!strcmp(name, "relu")) return nb_relu(g_a);
    if (!strcmp(name, "exp")) return nb_exp(g_a);
    if (!strcmp(name, "log")) return nb_log(g_pos);
    if (!strcmp(name, "tanh")) return nb_tanh(g_a);
    if (!strcmp(name, "sigmoid")) return nb_sigmoid(g_a);
    if (!strcmp(name, "sum_rows")) return nb_sum(g_m, NB_DIMS(1));
    if (!strcmp(name, "sum_cols")) return nb_sum(g_m, NB_DIMS(0));
    if (!strcmp(name, "softmax")) return nb_softmax(g_m, 1);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = 1, rounds = 5;
    double min_ms = 100;
    const char *names[32];
    int nnames = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = atof(argv[++i]);
        else if (nnames < 32) names[nnames++] = argv[i];
    }
    if (nnames == 0) {
        static const char *all[] = {"add", "mul", "relu", "exp", "log", "tanh", "sigmoid", "sum_rows", "sum_cols", "softmax"};
        nnames = (int)(sizeof all / sizeof all[0]);
        memcpy(names, all, sizeof all);
    }
    nb_set_num_threads(threads);
    nb_no_grad_begin();
    g_a = nb_randn(NB_SHAPE(1048576), NB_F32);
    g_b = nb_randn(NB_SHAPE(1048576), NB_F32);
    g_pos = nb_add_scalar(nb_abs(g_a), 0.5);
    g_m = nb_randn(NB_SHAPE(1024, 1000), NB_F32);
    if (!g_a || !g_b || !g_pos || !g_m) {
        fprintf(stderr, "bench/ops: setup failed: %s\n", nb_last_error());
        return 1;
    }
    fprintf(stderr, "bench/ops: level %s, features %s\n", nbk_ew_isa(), nb_cpu_features_string());
    for (int k = 0; k < nnames; k++) {
        nb_tensor *r = run_op(names[k]);
        if (!r) {
            fprintf(stderr, "bench/ops: %s failed: %s\n", names[k], nb_last_error());
            return 1;
        }
        nb_free(r);
        double best = 1e30;
        for (int q = 0; q < rounds; q++) {
            long calls = 0;
            double t0 = now_s(), t;
            do {
                nb_free(run_op(names[k]));
                calls++;
                t = now_s();
            } while ((t - t0) * 1e3 < min_ms);
            double us = (t - t0) * 1e6 / (double)calls;
            if (us < best) best = us;
        }
        printf("%s %d %.2f\n", names[k], threads, best);
        fflush(stdout);
    }
    nb_no_grad_end();
    return 0;
}
