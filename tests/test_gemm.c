/* tests/test_gemm.c — the GEMM behind nb_matmul, through the public API only: f32 and f64 against a
 * double-precision reference over many sizes (edge tiles in every direction), all transpose
 * combinations (nb_transpose views), strided operands (nb_slice with step 2), batch broadcasting, and
 * bitwise-identical results for 1 and 2 threads.
 *
 * Every dispatch level the CPU has is exercised: the program runs the tests itself (best level), then
 * re-executes /proc/self/exe with NABLA_CPU_MAX=avx2 and =scalar (NABLA_GEMM_TEST_CHILD marks the
 * children), and fails if any child fails. */
#include "harness.h"
#include "respawn.h"



static const int64_t SIZES[] = {1, 2, 7, 17, 31, 33, 64, 129, 257};
#define NSIZES ((int)(sizeof SIZES / sizeof SIZES[0]))

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A logical (rows x cols) operand built so its layout is: trans = a transposed view of a (cols x rows)
 * tensor; stride = a step-2 slice (along rows when !trans, along the inner dim otherwise). */
static nb_tensor *make_operand(int64_t rows, int64_t cols, bool trans, bool stride, nb_dtype dt) {
    int64_t r = trans ? cols : rows, c = trans ? rows : cols;
    nb_tensor *x;
    if (stride) {
        int dim = (rng_next() & 1) ? 0 : 1;
        nb_tensor *big = nb_randn(NB_SHAPE(dim == 0 ? 2 * r : r, dim == 1 ? 2 * c : c), dt);
        x = nb_slice(big, dim, 1, dim == 0 ? 2 * r : 2 * c, 2);
    } else {
        x = nb_randn(NB_SHAPE(r, c), dt);
    }
    return trans ? nb_transpose(x, 0, 1) : x;
}

/* Max over elements of |C - ref| / bound, bound = (K + 2) eps sum_p |a_ip b_pj| + tiny: <= 1 passes. */
static double gemm_error(const nb_tensor *a, const nb_tensor *b, const nb_tensor *c) {
    int64_t m = nb_shape(a)[0], k = nb_shape(a)[1], n = nb_shape(b)[1];
    double *A = malloc(sizeof(double) * (size_t)(m * k + 1)), *B = malloc(sizeof(double) * (size_t)(k * n + 1));
    double *C = malloc(sizeof(double) * (size_t)(m * n + 1));
    nb_copy_to(a, A, sizeof(double) * (size_t)(m * k), NB_F64);
    nb_copy_to(b, B, sizeof(double) * (size_t)(k * n), NB_F64);
    nb_copy_to(c, C, sizeof(double) * (size_t)(m * n), NB_F64);
    double eps = nb_dtype_of(c) == NB_F32 ? 0x1p-24 : 0x1p-53, worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, sa = 0;
            for (int64_t p = 0; p < k; p++) {
                s += A[i * k + p] * B[p * n + j];
                sa += fabs(A[i * k + p] * B[p * n + j]);
            }
            double e = fabs(C[i * n + j] - s) / ((double)(k + 2) * eps * sa + 1e-300);
            if (!(e <= worst)) worst = e; /* NaN propagates */
        }
    free(A);
    free(B);
    free(C);
    return worst;
}

static void check_one(int64_t m, int64_t k, int64_t n, int ta, int tb, int sa, int sb, nb_dtype dt) {
    nb_scope_begin();
    nb_tensor *a = make_operand(m, k, ta, sa, dt), *b = make_operand(k, n, tb, sb, dt);
    nb_tensor *c = nb_matmul(a, b);
    CHECK(c != NULL);
    if (c) {
        CHECK(nb_shape(c)[0] == m && nb_shape(c)[1] == n);
        double e = gemm_error(a, b, c);
        CHECK_MSG(e <= 1.0, "%s m=%lld k=%lld n=%lld ta=%d tb=%d sa=%d sb=%d: error %.3g of bound",
                  dt == NB_F32 ? "f32" : "f64", (long long)m, (long long)k, (long long)n, ta, tb, sa, sb, e);
    }
    nb_scope_end();
}

/* Every (m, n) pair of SIZES with k cycling through SIZES, layouts cycling through the 16 transpose and
 * stride combinations. */
static void test_sizes_f32(void) {
    nb_manual_seed(1);
    int idx = 0;
    for (int i = 0; i < NSIZES; i++)
        for (int j = 0; j < NSIZES; j++, idx++) {
            int64_t k = SIZES[(i * 4 + j * 7) % NSIZES];
            int l = idx % 16;
            check_one(SIZES[i], k, SIZES[j], l & 1, (l >> 1) & 1, (l >> 2) & 1, (l >> 3) & 1, NB_F32);
        }
}

/* Every size in each of m, k, n with the other two fixed, in all four transpose combinations. */
static void test_transposes_f32(void) {
    nb_manual_seed(2);
    for (int i = 0; i < NSIZES; i++)
        for (int l = 0; l < 4; l++) {
            check_one(SIZES[i], 65, 47, l & 1, l >> 1, 0, 0, NB_F32);
            check_one(45, SIZES[i], 70, l & 1, l >> 1, 0, 0, NB_F32);
            check_one(50, 300, SIZES[i], l & 1, l >> 1, 0, 0, NB_F32);
        }
}

static void test_random_sizes(void) {
    nb_manual_seed(3);
    for (int it = 0; it < 24; it++) {
        int64_t m = 1 + (int64_t)(rng_next() % 300), k = 1 + (int64_t)(rng_next() % 600), n = 1 + (int64_t)(rng_next() % 300);
        int l = (int)(rng_next() % 16);
        check_one(m, k, n, l & 1, (l >> 1) & 1, (l >> 2) & 1, (l >> 3) & 1, it % 3 == 2 ? NB_F64 : NB_F32);
    }
    /* long k: several k-blocks, accumulated across blocks */
    check_one(37, 1100, 45, 0, 0, 0, 0, NB_F32);
    check_one(37, 1100, 45, 1, 1, 0, 0, NB_F32);
    check_one(13, 777, 100, 0, 1, 1, 0, NB_F32);
    /* packed path with several row strips of A~ (MC_L2 in gemm.c), a partial last strip and panel,
     * and several k-blocks */
    check_one(301, 530, 75, 0, 0, 0, 0, NB_F32);
    check_one(301, 530, 75, 1, 1, 0, 1, NB_F32);
    /* every row count of the last A~ strip (the packed kernel has 12-, 8-, 4- and 2-row variants) */
    for (int64_t r = 1; r <= 12; r++) check_one(132 + r, 150, 130, r & 1, (r >> 1) & 1, 0, 0, NB_F32);
    /* few rows and several k-blocks on 2 threads: the one-pass path (sgemm_skinny in gemm.c) */
    int saved = nb_get_num_threads();
    nb_set_num_threads(2);
    check_one(7, 900, 33, 0, 0, 0, 0, NB_F32);
    check_one(64, 784, 256, 0, 1, 0, 0, NB_F32);
    check_one(192, 600, 1100, 1, 0, 1, 0, NB_F32);
    check_one(13, 2000, 17, 1, 1, 0, 1, NB_F32);
    nb_set_num_threads(saved);
}

static void test_sizes_f64(void) {
    nb_manual_seed(4);
    int idx = 0;
    for (int i = 0; i < NSIZES; i += 2)
        for (int j = 0; j < NSIZES; j++, idx++) {
            int l = idx % 16;
            check_one(SIZES[i], SIZES[(i + j) % NSIZES], SIZES[j], l & 1, (l >> 1) & 1, (l >> 2) & 1, (l >> 3) & 1,
                      NB_F64);
        }
}

/* (3, 1, m, k) @ (4, k, n) -> (3, 4, m, n): every batch against a 2-D product of its slices. */
static void test_batch_broadcast(void) {
    nb_manual_seed(5);
    nb_dtype dts[2] = {NB_F32, NB_F64};
    for (int d = 0; d < 2; d++) {
        int64_t m = 19, k = 40, n = 35;
        nb_tensor *a = nb_randn(NB_SHAPE(3, 1, m, k), dts[d]);
        nb_tensor *bt = nb_randn(NB_SHAPE(4, n, k), dts[d]);
        nb_tensor *b = nb_transpose(bt, -1, -2); /* a transposed batch operand too */
        nb_tensor *c = nb_matmul(a, b);
        CHECK(c && nb_ndim(c) == 4 && nb_shape(c)[0] == 3 && nb_shape(c)[1] == 4 && nb_shape(c)[2] == m &&
              nb_shape(c)[3] == n);
        if (!c) continue;
        for (int64_t x = 0; x < 3; x++)
            for (int64_t y = 0; y < 4; y++) {
                nb_tensor *ax = nb_reshape(nb_slice(a, 0, x, x + 1, 1), NB_SHAPE(m, k));
                nb_tensor *by = nb_reshape(nb_slice(b, 0, y, y + 1, 1), NB_SHAPE(k, n));
                nb_tensor *cxy = nb_reshape(nb_slice(nb_slice(c, 0, x, x + 1, 1), 1, y, y + 1, 1), NB_SHAPE(m, n));
                double e = gemm_error(ax, by, cxy);
                CHECK_MSG(e <= 1.0, "batch (%lld, %lld) %s: error %.3g of bound", (long long)x, (long long)y,
                          d ? "f64" : "f32", e);
            }
        /* matrix @ vector and vector @ matrix go through the same GEMM */
        nb_tensor *v = nb_randn(NB_SHAPE(k), dts[d]);
        nb_tensor *a2 = nb_randn(NB_SHAPE(m, k), dts[d]);
        nb_tensor *mv = nb_matmul(a2, v);
        CHECK(mv && nb_ndim(mv) == 1 && nb_shape(mv)[0] == m);
        if (mv) CHECK(gemm_error(a2, nb_reshape(v, NB_SHAPE(k, 1)), nb_reshape(mv, NB_SHAPE(m, 1))) <= 1.0);
    }
}

/* nb_linear fuses the bias into the GEMM's last k-block (the micro-kernels' epilogue): it must equal
 * matmul then add bit for bit, at sizes with edge tiles, several k-blocks and row strips. */
static void test_linear_bias_epilogue(void) {
    static const int64_t shapes[][3] = {{150, 300, 70}, {301, 530, 33}, {13, 40, 17}, {257, 129, 100},
                                        {64, 784, 256}, {100, 600, 70}};
    nb_manual_seed(7);
    int saved = nb_get_num_threads();
    for (size_t s = 0; s < 2 * sizeof shapes / sizeof shapes[0]; s++) {
        nb_set_num_threads(s % 2 ? 2 : 1); /* 2 threads: few rows with several k-blocks take the one-pass path */
        nb_scope_begin();
        int64_t m = shapes[s / 2][0], k = shapes[s / 2][1], n = shapes[s / 2][2];
        nb_tensor *x = nb_randn(NB_SHAPE(m, k), NB_F32), *w = nb_randn(NB_SHAPE(n, k), NB_F32);
        nb_tensor *bias = nb_randn(NB_SHAPE(n), NB_F32);
        nb_tensor *fused = nb_linear(x, w, bias), *sep = nb_add(nb_matmul(x, nb_transpose(w, 0, 1)), bias);
        CHECK(fused && sep);
        if (fused && sep)
            CHECK_MSG(h_max_abs_diff(fused, sep) == 0.0, "linear %lldx%lldx%lld: fused bias differs", (long long)m,
                      (long long)k, (long long)n);
        nb_scope_end();
    }
    nb_set_num_threads(saved);
}

/* The same product on 1 and 2 threads must match bit for bit (sizes large enough to go parallel). */
static void test_threads_bitwise(void) {
    static const int64_t shapes[][3] = {{200, 300, 250}, {64, 784, 256}, {64, 256, 784}, {784, 64, 256},
                                        {33, 1000, 17},  {700, 40, 9},   {5, 2000, 600}, {300, 129, 1100},
                                        /* few rows, several k-blocks: the one-pass path on 2 threads */
                                        {7, 900, 33},    {192, 600, 1100}, {13, 2000, 17}, {100, 513, 1025}};
    nb_manual_seed(6);
    int saved = nb_get_num_threads();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int l = 0; l < 4; l++) {
            nb_scope_begin();
            int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
            nb_tensor *a = make_operand(m, k, l & 1, 0, NB_F32), *b = make_operand(k, n, l >> 1, s & 1, NB_F32);
            nb_set_num_threads(1);
            nb_tensor *c1 = nb_matmul(a, b);
            nb_set_num_threads(2);
            nb_tensor *c2 = nb_matmul(a, b);
            CHECK(c1 && c2);
            if (c1 && c2) {
                size_t bytes = sizeof(float) * (size_t)(m * n);
                float *x = malloc(bytes), *y = malloc(bytes);
                nb_copy_to(c1, x, bytes, NB_F32);
                nb_copy_to(c2, y, bytes, NB_F32);
                CHECK_MSG(memcmp(x, y, bytes) == 0, "%lldx%lldx%lld layout %d differs between 1 and 2 threads",
                          (long long)m, (long long)k, (long long)n, l);
                free(x);
                free(y);
            }
            nb_scope_end();
        }
    /* a batched product: batches in parallel (each GEMM inline) vs serial */
    nb_scope_begin();
    nb_tensor *a = nb_randn(NB_SHAPE(6, 70, 90), NB_F32), *b = nb_randn(NB_SHAPE(90, 110), NB_F32);
    nb_set_num_threads(1);
    nb_tensor *c1 = nb_matmul(a, b);
    nb_set_num_threads(2);
    nb_tensor *c2 = nb_matmul(a, b);
    CHECK(c1 && c2 && h_max_abs_diff(c1, c2) == 0.0);
    nb_scope_end();
    nb_set_num_threads(saved);
}

int main(void) {
    const char *lim = getenv("NABLA_CPU_MAX");
    fprintf(stderr, "test_gemm: NABLA_CPU_MAX=%s, features: %s\n", lim ? lim : "(unset)", nb_cpu_features_string());
    RUN(test_sizes_f32);
    RUN(test_transposes_f32);
    RUN(test_random_sizes);
    RUN(test_sizes_f64);
    RUN(test_batch_broadcast);
    RUN(test_linear_bias_epilogue);
    RUN(test_threads_bitwise);
    respawn_lower_levels("NABLA_GEMM_TEST_CHILD");
    return harness_finish();
}
