/* tests/test_determinism.c — reproducibility. The random generator is counter-based: the same seed
 * gives the same numbers, the state can be saved and restored, draws are splittable (two draws equal
 * one long draw), and no value depends on the thread count. Ops are bitwise identical with 1 and 2
 * threads (reductions, matmul, softmax, broadcasting binary ops, a whole MLP forward + backward).
 *
 * The Philox block function is internal, but the first block of seed 0 is visible through nb_rand /
 * nb_randint: test_philox_known_answer checks it against the Random123 known-answer vector for
 * philox4x32-10 (counter 0, key 0), so the stream cannot change silently between versions. */
#include "harness.h"

#define BIG (1 << 20)

/* Bitwise equality of two tensors' values (same dtype and shape), through contiguous copies. */
static bool bits_equal(nb_tensor *a, nb_tensor *b) {
    if (!a || !b || nb_dtype_of(a) != nb_dtype_of(b) || nb_ndim(a) != nb_ndim(b)) return false;
    for (int d = 0; d < nb_ndim(a); d++)
        if (nb_shape(a)[d] != nb_shape(b)[d]) return false;
    size_t bytes = (size_t)nb_numel(a) * nb_dtype_size(nb_dtype_of(a));
    if (bytes == 0) return true;
    void *x = malloc(bytes), *y = malloc(bytes);
    bool eq = x && y && nb_copy_to(a, x, bytes, nb_dtype_of(a)) == 0 && nb_copy_to(b, y, bytes, nb_dtype_of(b)) == 0 &&
              memcmp(x, y, bytes) == 0;
    free(x);
    free(y);
    return eq;
}

static int g_threads0;

/* ---- the generator ------------------------------------------------------------------------------- */

static void test_same_seed_same_numbers(void) {
    nb_manual_seed(42);
    nb_tensor *a = nb_randn(NB_SHAPE(1000), NB_F32);
    nb_tensor *a2 = nb_rand(NB_SHAPE(7, 3), NB_F64);
    nb_tensor *a3 = nb_randint(-5, 5, NB_SHAPE(100), NB_I64);
    nb_manual_seed(42);
    nb_tensor *b = nb_randn(NB_SHAPE(1000), NB_F32);
    nb_tensor *b2 = nb_rand(NB_SHAPE(7, 3), NB_F64);
    nb_tensor *b3 = nb_randint(-5, 5, NB_SHAPE(100), NB_I64);
    CHECK(bits_equal(a, b));
    CHECK(bits_equal(a2, b2));
    CHECK(bits_equal(a3, b3));
    /* the next draw continues the stream: different numbers */
    nb_tensor *c = nb_randn(NB_SHAPE(1000), NB_F32);
    CHECK(!bits_equal(a, c));
    /* different seeds, different streams (including seeds differing only in the high word) */
    const uint64_t seeds[] = {0, 1, 2, 43, (uint64_t)1 << 32, ((uint64_t)1 << 32) | 42, UINT64_MAX};
    nb_tensor *draws[7];
    for (int i = 0; i < 7; i++) {
        nb_manual_seed(seeds[i]);
        draws[i] = nb_rand(NB_SHAPE(64), NB_F64);
    }
    for (int i = 0; i < 7; i++) {
        CHECK_MSG(!bits_equal(draws[i], a2), "seed %llu", (unsigned long long)seeds[i]);
        for (int j = i + 1; j < 7; j++)
            CHECK_MSG(!bits_equal(draws[i], draws[j]), "seeds %llu and %llu gave the same numbers",
                      (unsigned long long)seeds[i], (unsigned long long)seeds[j]);
    }
    /* nb_manual_seed resets the counter */
    nb_manual_seed(9);
    uint64_t s, ctr;
    nb_rng_get_state(&s, &ctr);
    CHECK(s == 9 && ctr == 0);
}

/* Random123 kat_vectors: philox4x32-10, counter {0, 0, 0, 0}, key {0, 0} ->
 * {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}. nabla's element i uses the block at
 * (seed, counter + i): a uniform f64 takes 53 bits from words 0 and 1, an integer draw takes words 0
 * and 1 as one 64-bit number modulo the range. */
static void test_philox_known_answer(void) {
    const uint64_t w0 = 0x6627e8d5u, w1 = 0xe169c58du;
    nb_manual_seed(0);
    nb_tensor *u = nb_rand(NB_SHAPE(1), NB_F64);
    double expect_u = (double)((w0 << 21) ^ (w1 >> 11)) * (1.0 / 9007199254740992.0);
    CHECK_MSG(h_get(u, NB_LIST(0)) == expect_u, "nb_rand(seed 0)[0] = %a, expected %a", h_get(u, NB_LIST(0)), expect_u);
    nb_manual_seed(0);
    nb_tensor *r = nb_randint(0, 1000003, NB_SHAPE(1), NB_I64);
    double expect_r = (double)(((w0 << 32) | w1) % 1000003u);
    CHECK_MSG(h_get(r, NB_LIST(0)) == expect_r, "nb_randint(seed 0)[0] = %g, expected %g", h_get(r, NB_LIST(0)),
              expect_r);
    /* element 1 of the same draw is the next counter, not the next word of the same block */
    nb_manual_seed(0);
    nb_tensor *two = nb_rand(NB_SHAPE(2), NB_F64);
    CHECK(h_get(two, NB_LIST(0)) == expect_u && h_get(two, NB_LIST(1)) != expect_u);
}

static void test_rng_state_roundtrip(void) {
    nb_manual_seed(7);
    nb_tensor *warm = nb_randn(NB_SHAPE(10), NB_F32);
    (void)warm;
    uint64_t seed, counter;
    nb_rng_get_state(&seed, &counter);
    CHECK(seed == 7);
    nb_tensor *x1 = nb_randn(NB_SHAPE(100), NB_F32);
    nb_tensor *x2 = nb_randint(0, 1000, NB_SHAPE(50), NB_I32);
    uint64_t seed_after, counter_after;
    nb_rng_get_state(&seed_after, &counter_after);
    CHECK(seed_after == 7 && counter_after > counter);
    /* disturb the generator, then restore */
    nb_manual_seed(1234);
    nb_rand(NB_SHAPE(33), NB_F32);
    nb_rng_set_state(seed, counter);
    nb_tensor *y1 = nb_randn(NB_SHAPE(100), NB_F32);
    nb_tensor *y2 = nb_randint(0, 1000, NB_SHAPE(50), NB_I32);
    CHECK(bits_equal(x1, y1));
    CHECK(bits_equal(x2, y2));
    uint64_t s3, c3;
    nb_rng_get_state(&s3, &c3);
    CHECK(s3 == seed_after && c3 == counter_after);
    /* NULL pointers are allowed */
    nb_rng_get_state(NULL, &c3);
    nb_rng_get_state(&s3, NULL);
    CHECK(s3 == 7);
}

/* Counter-based: element i depends only on (seed, counter + i), so one long draw equals two short
 * ones back to back, whatever the shape. */
static void test_draws_are_splittable(void) {
    nb_manual_seed(5);
    nb_tensor *whole = nb_rand(NB_SHAPE(30), NB_F64);
    nb_manual_seed(5);
    nb_tensor *p1 = nb_rand(NB_SHAPE(2, 5), NB_F64);
    nb_tensor *p2 = nb_rand(NB_SHAPE(20), NB_F64);
    nb_tensor *joined = nb_cat((nb_tensor *[]){nb_reshape(p1, NB_SHAPE(10)), p2}, 2, 0);
    CHECK(bits_equal(whole, joined));
}

static void test_thread_count_independence(void) {
    struct {
        int kind;
        nb_dtype dtype;
    } cases[] = {{0, NB_F32}, {0, NB_F64}, {1, NB_F32}, {1, NB_F64}, {1, NB_BF16}, {2, NB_I64}, {2, NB_I32}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nb_tensor *r[2];
        for (int ti = 0; ti < 2; ti++) {
            CHECK(nb_set_num_threads(ti + 1) == 0);
            nb_manual_seed(2024);
            nb_rand(NB_SHAPE(3), NB_F32); /* an odd counter offset */
            if (cases[k].kind == 0) r[ti] = nb_rand(NB_SHAPE(BIG), cases[k].dtype);
            else if (cases[k].kind == 1) r[ti] = nb_randn(NB_SHAPE(1024, BIG / 1024), cases[k].dtype);
            else r[ti] = nb_randint(-1000000, 1000000, NB_SHAPE(BIG), cases[k].dtype);
        }
        CHECK_MSG(r[0] && r[1] && memcmp(nb_data(r[0]), nb_data(r[1]), (size_t)BIG * nb_dtype_size(cases[k].dtype)) == 0,
                  "case %zu (kind %d, %s) differs between 1 and 2 threads", k, cases[k].kind,
                  nb_dtype_name(cases[k].dtype));
        nb_free(r[0]);
        nb_free(r[1]);
    }
    nb_set_num_threads(g_threads0);
}

static void test_distribution_sanity(void) {
    nb_manual_seed(77);
    nb_tensor *n = nb_randn(NB_SHAPE(BIG), NB_F64);
    double mean = nb_item(nb_mean(n, NULL));
    double var = nb_item(nb_mean(nb_mul(nb_sub_scalar(n, mean), nb_sub_scalar(n, mean)), NULL));
    /* standard errors: 1/sqrt(n) ~ 0.001 for the mean, sqrt(2/n) ~ 0.0014 for the variance */
    CHECK_NEAR(mean, 0.0, 0.006);
    CHECK_NEAR(sqrt(var), 1.0, 0.006);
    double mx = nb_item(nb_max(n, NULL)), mn = nb_item(nb_min(n, NULL));
    CHECK(mx > 3.5 && mx < 7 && mn < -3.5 && mn > -7);
    /* tails: P(|z| > 2) = 0.0455 */
    double tail = nb_item(nb_mean(nb_to(nb_gt_scalar(nb_abs(n), 2.0), NB_F64), NULL));
    CHECK_NEAR(tail, 0.0455, 0.002);

    nb_tensor *u = nb_rand(NB_SHAPE(BIG), NB_F32);
    CHECK_NEAR(nb_item(nb_mean(nb_to(u, NB_F64), NULL)), 0.5, 0.003);
    CHECK(nb_item(nb_min(u, NULL)) >= 0.0f);
    CHECK(nb_item(nb_max(u, NULL)) < 1.0f);
    CHECK_NEAR(nb_item(nb_mean(nb_to(nb_lt_scalar(u, 0.25), NB_F64), NULL)), 0.25, 0.003);

    nb_tensor *ri = nb_randint(-3, 4, NB_SHAPE(100000), NB_I64);
    CHECK(nb_item(nb_min(ri, NULL)) == -3);
    CHECK(nb_item(nb_max(ri, NULL)) == 3);
    for (int v = -3; v <= 3; v++) {
        double frac = nb_item(nb_mean(nb_to(nb_eq_scalar(ri, v), NB_F64), NULL));
        CHECK_MSG(fabs(frac - 1.0 / 7) < 0.006, "value %d has frequency %g", v, frac);
    }
    /* consecutive elements are not correlated */
    nb_tensor *a = nb_slice(n, 0, 0, BIG - 1, 1), *b = nb_slice(n, 0, 1, BIG, 1);
    double corr = nb_item(nb_mean(nb_mul(a, b), NULL));
    CHECK_NEAR(corr, 0.0, 0.006);
}

/* ---- ops with 1 vs 2 threads --------------------------------------------------------------------- */

#define N_OUT 24

/* Everything computed by one run; same seed each time. */
static int compute_ops(nb_tensor **out) {
    int k = 0;
    nb_manual_seed(99);
    nb_tensor *x = nb_randn(NB_SHAPE(512, 1024), NB_F32);
    nb_tensor *xd = nb_to(x, NB_F64);
    out[k++] = nb_sum(x, NULL);
    out[k++] = nb_sum(x, NB_DIMS(0));
    out[k++] = nb_sum(x, NB_DIMS(1));
    out[k++] = nb_sum(nb_transpose(x, 0, 1), NB_DIMS_KEEP(1));
    out[k++] = nb_sum(nb_reshape(x, NB_SHAPE(32, 16, 1024)), NB_DIMS(0, 2));
    out[k++] = nb_mean(x, NULL);
    out[k++] = nb_mean(xd, NB_DIMS(0));
    out[k++] = nb_max(x, NB_DIMS(1));
    out[k++] = nb_argmax(x, 0, false);
    nb_tensor *a = nb_randn(NB_SHAPE(257, 129), NB_F32), *b = nb_randn(NB_SHAPE(129, 300), NB_F32);
    out[k++] = nb_matmul(a, b);
    out[k++] = nb_matmul(nb_transpose(b, 0, 1), nb_transpose(a, 0, 1));
    out[k++] = nb_matmul(nb_to(a, NB_F64), nb_to(b, NB_F64));
    out[k++] = nb_matmul(nb_randn(NB_SHAPE(8, 33, 65), NB_F32), nb_randn(NB_SHAPE(65, 47), NB_F32));
    out[k++] = nb_softmax(x, 1);
    out[k++] = nb_softmax(x, 0);
    out[k++] = nb_log_softmax(xd, 1);
    nb_tensor *row = nb_randn(NB_SHAPE(1024), NB_F32), *col = nb_randn(NB_SHAPE(1024, 1), NB_F32);
    out[k++] = nb_add(x, row);
    out[k++] = nb_mul(col, row);
    out[k++] = nb_div(nb_transpose(x, 0, 1), col);
    out[k++] = nb_maximum(x, nb_to(row, NB_F64));
    out[k++] = nb_exp(nb_tanh(x));
    out[k++] = nb_where(nb_gt_scalar(x, 0), x, nb_mul_scalar(x, 0.1));
    out[k++] = nb_contiguous(nb_transpose(x, 0, 1));
    return k;
}

static void test_ops_thread_count_independence(void) {
    nb_tensor *r[3][N_OUT];
    int n[3];
    const int threads[3] = {1, 2, 2}; /* 2 twice: run to run, too */
    for (int ti = 0; ti < 3; ti++) {
        CHECK(nb_set_num_threads(threads[ti]) == 0);
        n[ti] = compute_ops(r[ti]);
    }
    CHECK(n[0] == n[1] && n[1] == n[2] && n[0] <= N_OUT);
    for (int i = 0; i < n[0]; i++) {
        CHECK_MSG(r[0][i] != NULL, "output %d failed: %s", i, nb_last_error());
        CHECK_MSG(bits_equal(r[0][i], r[1][i]), "output %d differs between 1 and 2 threads", i);
        CHECK_MSG(bits_equal(r[1][i], r[2][i]), "output %d differs between two runs with 2 threads", i);
    }
    /* the results are right, not only reproducible: spot-check the matmul against a plain loop */
    nb_manual_seed(3);
    nb_tensor *a = nb_randn(NB_SHAPE(257, 129), NB_F64), *b = nb_randn(NB_SHAPE(129, 300), NB_F64);
    nb_tensor *c = nb_matmul(a, b);
    const double *pa = nb_data(a), *pb = nb_data(b);
    double worst = 0;
    for (int i = 0; i < 257; i += 37)
        for (int j = 0; j < 300; j += 41) {
            double s = 0;
            for (int p = 0; p < 129; p++) s += pa[i * 129 + p] * pb[p * 300 + j];
            double d = fabs(s - h_get(c, NB_LIST(i, j)));
            if (d > worst) worst = d;
        }
    CHECK_MSG(worst < 1e-10, "matmul differs from the reference loop by %g", worst);
    nb_set_num_threads(g_threads0);
}

/* A two-layer MLP: forward, cross entropy, backward; every gradient compared bitwise. */
static int mlp_grads(nb_tensor **grads) {
    nb_manual_seed(11);
    nb_tensor *x = nb_randn(NB_SHAPE(256, 128), NB_F32);
    nb_tensor *t = nb_randint(0, 10, NB_SHAPE(256), NB_I64);
    nb_tensor *w1 = nb_param(nb_mul_scalar(nb_randn(NB_SHAPE(128, 256), NB_F32), 0.1));
    nb_tensor *b1 = nb_param(nb_zeros(NB_SHAPE(256), NB_F32));
    nb_tensor *w2 = nb_param(nb_mul_scalar(nb_randn(NB_SHAPE(256, 10), NB_F32), 0.1));
    nb_tensor *b2 = nb_param(nb_zeros(NB_SHAPE(10), NB_F32));
    nb_tensor *h = nb_relu(nb_add(nb_matmul(x, w1), b1));
    nb_tensor *logits = nb_add(nb_matmul(h, w2), b2);
    nb_tensor *loss = nb_add(nb_cross_entropy(logits, t, NULL), nb_mul_scalar(nb_mean(nb_mul(h, h), NULL), 0.01));
    if (nb_backward(loss) != 0) return 0;
    grads[0] = nb_grad(w1);
    grads[1] = nb_grad(b1);
    grads[2] = nb_grad(w2);
    grads[3] = nb_grad(b2);
    grads[4] = loss;
    return 5;
}

static void test_mlp_backward_bitwise(void) {
    nb_tensor *g[2][5];
    for (int ti = 0; ti < 2; ti++) {
        CHECK(nb_set_num_threads(ti + 1) == 0);
        CHECK(mlp_grads(g[ti]) == 5);
    }
    const char *names[5] = {"w1", "b1", "w2", "b2", "loss"};
    for (int i = 0; i < 5; i++) {
        CHECK_MSG(g[0][i] && g[1][i], "%s missing", names[i]);
        CHECK_MSG(bits_equal(g[0][i], g[1][i]), "grad of %s differs between 1 and 2 threads", names[i]);
    }
    double l = nb_item(g[0][4]);
    CHECK(l > 1.0 && l < 5.0); /* about log(10) for small random weights */
    nb_set_num_threads(g_threads0);
}

int main(void) {
    g_threads0 = nb_get_num_threads();
    RUN(test_same_seed_same_numbers);
    RUN(test_philox_known_answer);
    RUN(test_rng_state_roundtrip);
    RUN(test_draws_are_splittable);
    RUN(test_thread_count_independence);
    RUN(test_distribution_sanity);
    RUN(test_ops_thread_count_independence);
    RUN(test_mlp_backward_bitwise);
    return harness_finish();
}
