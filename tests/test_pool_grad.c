/* tests/test_pool_grad.c — max_pool2d's 2x2 stride-2 forward (values and indices, ties, NaN) against a
 * plain loop, and its gradient (the scatter at the pooling indices) against a plain
 * loop over the indices, bit for bit: the one-pass 2x2 stride-2 path at odd and even sizes (rows and
 * columns left over), windows that overlap or do not tile (the general path), f32 and f64, -0 and NaN
 * gradients, and 1 vs 2 threads. */
#include "harness.h"
#include "respawn.h"

#include <math.h>
#include <string.h>

/* x.grad of sum(max_pool2d(x) * w), and the expected one: zeros, then w added at the indices in order. */
static void check_case(nb_dtype dt, const int64_t *shape, const nb_pool_opts *o, int special) {
    nb_scope_begin();
    nb_tensor *x = nb_param(nb_randn(4, shape, dt));
    nb_tensor *idx = NULL;
    nb_tensor *y = nb_max_pool2d_with_indices(x, o, &idx);
    CHECK(y && idx);
    if (!y || !idx) {
        nb_scope_end();
        return;
    }
    nb_tensor *w = nb_randn(nb_ndim(y), nb_shape(y), dt);
    int64_t nw = nb_numel(w), nx = nb_numel(x);
    double *wv = malloc((size_t)(nw ? nw : 1) * sizeof(double)), *exp_g = calloc((size_t)nx, sizeof(double));
    int64_t *iv = malloc((size_t)(nw ? nw : 1) * sizeof(int64_t));
    nb_copy_to(nb_to(w, NB_F64), wv, (size_t)nw * sizeof(double), NB_F64);
    nb_copy_to(idx, iv, (size_t)nw * sizeof(int64_t), NB_I64);
    if (special && nw >= 2) { /* a negative zero must come out as +0 (0 + -0), a NaN as NaN */
        wv[0] = -0.0;
        wv[1] = NAN;
        w = nb_from_data(wv, nb_ndim(y), nb_shape(y), NB_F64);
        w = nb_to(w, dt);
    }
    int64_t plane_in = shape[2] * shape[3], plane_out = nb_shape(y)[2] * nb_shape(y)[3];
    for (int64_t k = 0; k < nw; k++) {
        int64_t p = k / plane_out, at = p * plane_in + iv[k];
        exp_g[at] = dt == NB_F32 ? (double)((float)exp_g[at] + (float)wv[k]) : exp_g[at] + wv[k];
    }
    nb_tensor *loss = nb_sum(nb_mul(y, w), NULL);
    int threads = nb_get_num_threads();
    nb_tensor *g[2];
    for (int t = 0; t < 2; t++) {
        nb_set_num_threads(t + 1);
        nb_zero_grad(x);
        CHECK(nb_backward_ex(loss, &(nb_backward_opts){.retain_graph = true}) == 0);
        g[t] = nb_contiguous(nb_to(nb_grad(x), NB_F64));
    }
    nb_set_num_threads(threads);
    CHECK(g[0] && g[1]);
    if (g[0] && g[1]) {
        CHECK(memcmp(nb_data(g[0]), nb_data(g[1]), (size_t)nx * sizeof(double)) == 0);
        CHECK_MSG(memcmp(nb_data(g[0]), exp_g, (size_t)nx * sizeof(double)) == 0, "%s %lldx%lld k%lld s%lld",
                  nb_dtype_name(dt), (long long)shape[2], (long long)shape[3], (long long)o->kernel[0],
                  (long long)o->stride[0]);
    }
    free(wv);
    free(iv);
    free(exp_g);
    nb_scope_end();
}

static void test_scatter_paths(void) {
    static const int64_t shapes[][4] = {{2, 3, 7, 6}, {1, 1, 2, 2}, {1, 2, 1, 1}, {3, 2, 17, 9},
                                        {2, 4, 26, 26}, {1, 1, 129, 7}, {2, 3, 11, 11}};
    const nb_pool_opts opts[] = {{.kernel = {2}}, {.kernel = {2}, .stride = {1}}, {.kernel = {3}, .stride = {2}},
                                 {.kernel = {2}, .ceil_mode = true}, {.kernel = {1}}};
    for (int d = 0; d < 2; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
                if (shapes[s][2] < opts[o].kernel[0] || shapes[s][3] < opts[o].kernel[0]) continue;
                check_case(d ? NB_F64 : NB_F32, shapes[s], &opts[o], (int)(s % 2));
            }
}

/* 2x2 stride 2 forward at row lengths around the 16-lane groups, odd sizes (a row or column left
 * out), small integer values (ties: the first tap wins) and NaN (the first NaN wins), 1 and 2 threads. */
static void test_forward_2x2(void) {
    static const int64_t shapes[][4] = {{1, 1, 2, 2}, {2, 3, 7, 6}, {1, 2, 17, 33}, {1, 1, 5, 65},
                                        {2, 4, 26, 26}, {3, 2, 11, 11}, {1, 1, 3, 31}, {1, 3, 2, 130}};
    const nb_pool_opts opts[] = {{.kernel = {2}}, {.kernel = {2}, .ceil_mode = true}};
    int threads = nb_get_num_threads();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int variant = 0; variant < 3; variant++)
            for (size_t oi = 0; oi < 2; oi++) {
                nb_scope_begin();
                const int64_t *sh = shapes[s];
                int64_t n = sh[0] * sh[1] * sh[2] * sh[3], H = sh[2], W = sh[3];
                float *xv = malloc((size_t)n * sizeof(float));
                nb_copy_to(nb_randn(4, sh, NB_F32), xv, (size_t)n * sizeof(float), NB_F32);
                for (int64_t i = 0; i < n; i++) {
                    if (variant == 1) xv[i] = (float)((i * 7919) % 3); /* ties */
                    if (variant == 2 && i % 5 == 3) xv[i] = NAN;
                }
                nb_tensor *x = nb_from_data(xv, 4, sh, NB_F32);
                nb_tensor *y[2], *ix[2];
                for (int t = 0; t < 2; t++) {
                    nb_set_num_threads(t + 1);
                    y[t] = nb_max_pool2d_with_indices(x, &opts[oi], &ix[t]);
                }
                nb_set_num_threads(threads);
                CHECK(y[0] && y[1] && ix[0] && ix[1]);
                if (!y[0] || !y[1] || !ix[0] || !ix[1]) {
                    free(xv);
                    nb_scope_end();
                    continue;
                }
                int64_t OH = nb_shape(y[0])[2], OW = nb_shape(y[0])[3], m = nb_numel(y[0]);
                float *ev = malloc((size_t)m * sizeof(float)), *gv = malloc((size_t)m * sizeof(float));
                int64_t *ei = malloc((size_t)m * sizeof(int64_t)), *gi = malloc((size_t)m * sizeof(int64_t));
                for (int64_t p = 0; p < sh[0] * sh[1]; p++)
                    for (int64_t oy = 0; oy < OH; oy++)
                        for (int64_t ox = 0; ox < OW; ox++) {
                            float b = 0;
                            int64_t bi = -1;
                            for (int k = 0; k < 4; k++) {
                                int64_t iy = 2 * oy + k / 2, jx = 2 * ox + k % 2;
                                if (iy >= H || jx >= W) continue; /* ceil mode: a partial window */
                                float v = xv[p * H * W + iy * W + jx];
                                if (bi < 0 || v > b || (v != v && b == b)) b = v, bi = iy * W + jx;
                            }
                            int64_t o = (p * OH + oy) * OW + ox;
                            ev[o] = b;
                            ei[o] = bi;
                        }
                for (int t = 0; t < 2; t++) {
                    nb_copy_to(y[t], gv, (size_t)m * sizeof(float), NB_F32);
                    nb_copy_to(ix[t], gi, (size_t)m * sizeof(int64_t), NB_I64);
                    CHECK_MSG(memcmp(gv, ev, (size_t)m * sizeof(float)) == 0 && memcmp(gi, ei, (size_t)m * sizeof(int64_t)) == 0,
                              "forward %lldx%lld variant %d ceil %d threads %d", (long long)H, (long long)W, variant,
                              (int)oi, t + 1);
                }
                free(xv), free(ev), free(gv), free(ei), free(gi);
                nb_scope_end();
            }
}

int main(void) {
    nb_manual_seed(7);
    RUN(test_forward_2x2);
    RUN(test_scatter_paths);
    respawn_lower_levels("NABLA_POOL_TEST_CHILD");
    return harness_finish();
}
