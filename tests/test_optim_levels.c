/* tests/test_optim_levels.c — the f32 Adam / AdamW update (optim/adam.c) gives the same bits at every
 * dispatch level (AVX-512, AVX2, baseline: the program runs itself again with NABLA_CPU_MAX) and for
 * 1 and 2 threads: each run is compared with the loop below, which does the same f32 operations in
 * the same order, on parameters of awkward sizes (1, 7, 17, 129, 4099). */
#include "harness.h"
#include "respawn.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define STEPS 3

/* The update of optim/adam.c's f32 loop for step t (1-based), in place. mode 0: Adam, 1: Adam with L2
 * weight decay, 2: AdamW. */
static void ref_step(float *p, float *m, float *v, const float *g, int64_t n, int t, int mode, double lr, double wd) {
    const double b1 = 0.9, b2d = 0.999, eps_d = 1e-8;
    double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2d, t);
    const float w1 = (float)(1 - b1), b2 = (float)b2d, w2 = (float)(1 - b2d), eps = (float)eps_d;
    const float ss = (float)(lr / bc1), bc2s = (float)sqrt(bc2), wdf = (float)wd, decay = (float)(1 - lr * wd);
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i], d = g[i];
        if (mode == 1) d += wdf * pi;
        if (mode == 2) pi *= decay;
        float mi = m[i] + w1 * (d - m[i]);
        float vi = v[i] * b2 + w2 * d * d;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - ss * mi / (sqrtf(vi) / bc2s + eps);
    }
}

static void run_case(int64_t n, int mode, int threads) {
    nb_scope_begin();
    const double lr = 1e-2, wd = mode ? 0.05 : 0;
    float *p0 = malloc((size_t)n * sizeof(float)), *g = malloc((size_t)n * sizeof(float));
    float *m = calloc((size_t)n, sizeof(float)), *v = calloc((size_t)n, sizeof(float));
    float *got = malloc((size_t)n * sizeof(float));
    nb_tensor *init = nb_randn(NB_SHAPE(n), NB_F32), *gw = nb_randn(NB_SHAPE(n), NB_F32);
    nb_copy_to(init, p0, (size_t)n * sizeof(float), NB_F32);
    nb_copy_to(gw, g, (size_t)n * sizeof(float), NB_F32);
    nb_tensor *w = nb_param(nb_clone(init));
    nb_params *ps = nb_params_new();
    nb_params_add(ps, "w", w);
    nb_optimizer *opt = mode == 2 ? nb_adamw(ps, &(nb_adam_opts){.lr = lr, .weight_decay = wd})
                                  : nb_adam(ps, &(nb_adam_opts){.lr = lr, .weight_decay = wd});
    CHECK(opt != NULL);
    int saved = nb_get_num_threads();
    nb_set_num_threads(threads);
    for (int t = 1; t <= STEPS && opt; t++) {
        nb_optimizer_zero_grad(opt);
        CHECK(nb_backward(nb_sum(nb_mul(w, gw), NULL)) == 0); /* w's gradient: gw exactly */
        CHECK(nb_optimizer_step(opt) == 0);
        ref_step(p0, m, v, g, n, t, mode, lr, wd);
    }
    nb_set_num_threads(saved);
    nb_copy_to(w, got, (size_t)n * sizeof(float), NB_F32);
    CHECK_MSG(memcmp(got, p0, (size_t)n * sizeof(float)) == 0, "n %lld mode %d threads %d", (long long)n, mode,
              threads);
    if (opt) nb_optimizer_free(opt);
    free(p0), free(g), free(m), free(v), free(got);
    nb_scope_end();
}

static void test_adam_f32_bits(void) {
    static const int64_t sizes[] = {1, 7, 17, 129, 4099};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int mode = 0; mode < 3; mode++)
            for (int th = 1; th <= 2; th++) run_case(sizes[s], mode, th);
}

int main(void) {
    nb_manual_seed(3);
    RUN(test_adam_f32_bits);
    respawn_lower_levels("NABLA_OPTIM_TEST_CHILD");
    return harness_finish();
}
