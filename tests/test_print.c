/* tests/test_print.c — nb_format follows PyTorch's printing (torch/_tensor_str.py, default options:
 * precision 4, linewidth 80, threshold 1000, edgeitems 3) for the values, followed by nabla's
 * "shape=[...], dtype=..." suffix and grad_fn / requires_grad. The expected strings are what
 * PyTorch prints for the same values, with the suffix changed. */
#include "harness.h"

/* nb_format into a buffer and compare with the expected text. */
#define CHECK_FORMAT(t, expected)                                                                  \
    do {                                                                                           \
        char buf_[8192];                                                                           \
        const nb_tensor *t_ = (t);                                                                 \
        int n_ = nb_format(t_, buf_, sizeof buf_);                                                 \
        CHECK_MSG(t_ != NULL && n_ == (int)strlen(expected) && strcmp(buf_, expected) == 0,        \
                  "\n--- got (%d chars):\n%s\n--- expected (%d chars):\n%s", n_, buf_, (int)strlen(expected), \
                  expected);                                                                       \
    } while (0)

static nb_tensor *f32s(int ndim, const int64_t *shape, const float *v) { return nb_from_data(v, ndim, shape, NB_F32); }
static nb_tensor *f64s(int ndim, const int64_t *shape, const double *v) { return nb_from_data(v, ndim, shape, NB_F64); }

static void test_basic_float(void) {
    CHECK_FORMAT(f32s(NB_SHAPE(2, 2), (const float[]){1.5f, -2, 3, 4}),
                 "tensor([[ 1.5000, -2.0000],\n        [ 3.0000,  4.0000]], shape=[2, 2], dtype=f32)");
    CHECK_FORMAT(f64s(NB_SHAPE(3), (const double[]){0.1, 0.25, 12.34567}),
                 "tensor([ 0.1000,  0.2500, 12.3457], shape=[3], dtype=f64)");
    CHECK_FORMAT(f32s(NB_SHAPE(1, 3), (const float[]){-0.5f, 0.0f, 0.75f}),
                 "tensor([[-0.5000,  0.0000,  0.7500]], shape=[1, 3], dtype=f32)");
}

static void test_integer_valued_floats(void) {
    CHECK_FORMAT(f32s(NB_SHAPE(3), (const float[]){1, 2, 3}), "tensor([1., 2., 3.], shape=[3], dtype=f32)");
    CHECK_FORMAT(f32s(NB_SHAPE(2, 2), (const float[]){-1, 10, 0, 100}),
                 "tensor([[ -1.,  10.],\n        [  0., 100.]], shape=[2, 2], dtype=f32)");
    CHECK_FORMAT(nb_zeros(NB_SHAPE(2), NB_F32), "tensor([0., 0.], shape=[2], dtype=f32)");
    CHECK_FORMAT(f64s(NB_SHAPE(1), (const double[]){1e8}), "tensor([100000000.], shape=[1], dtype=f64)");
    /* whole numbers over a wide range switch to scientific notation, like any other floats */
    CHECK_FORMAT(f32s(NB_SHAPE(2), (const float[]){1, 2000}), "tensor([1.0000e+00, 2.0000e+03], shape=[2], dtype=f32)");
    CHECK_FORMAT(f64s(NB_SHAPE(2), (const double[]){3e9, 5}), "tensor([3.0000e+09, 5.0000e+00], shape=[2], dtype=f64)");
}

static void test_scientific(void) {
    CHECK_FORMAT(f32s(NB_SHAPE(2), (const float[]){1.5f, 1e9f}), "tensor([1.5000e+00, 1.0000e+09], shape=[2], dtype=f32)");
    CHECK_FORMAT(f64s(NB_SHAPE(2), (const double[]){1e-5, 1.0}), "tensor([1.0000e-05, 1.0000e+00], shape=[2], dtype=f64)");
    CHECK_FORMAT(f64s(NB_SHAPE(2), (const double[]){-1.5e9, 2.0}),
                 "tensor([-1.5000e+09,  2.0000e+00], shape=[2], dtype=f64)");
    CHECK_FORMAT(f64s(NB_SHAPE(1), (const double[]){0.00005}), "tensor([5.0000e-05], shape=[1], dtype=f64)");
    CHECK_FORMAT(f64s(NB_SHAPE(2), (const double[]){0.001, 0.5}), "tensor([0.0010, 0.5000], shape=[2], dtype=f64)");
    CHECK_FORMAT(f64s(NB_SHAPE(2), (const double[]){1e-300, 1e300}),
                 "tensor([1.0000e-300, 1.0000e+300], shape=[2], dtype=f64)");
}

static void test_nonfinite(void) {
    CHECK_FORMAT(f64s(NB_SHAPE(3), (const double[]){NAN, 1.5, -INFINITY}),
                 "tensor([   nan, 1.5000,   -inf], shape=[3], dtype=f64)");
    /* the width comes from the finite values only */
    CHECK_FORMAT(f32s(NB_SHAPE(2), (const float[]){1, INFINITY}), "tensor([1., inf], shape=[2], dtype=f32)");
    CHECK_FORMAT(f32s(NB_SHAPE(2), (const float[]){NAN, NAN}), "tensor([nan, nan], shape=[2], dtype=f32)");
    CHECK_FORMAT(f32s(NB_SHAPE(2), (const float[]){NAN, 0}), "tensor([nan, 0.], shape=[2], dtype=f32)");
}

static void test_ints_and_bools(void) {
    CHECK_FORMAT(nb_from_data((const int64_t[]){1, -2, 30}, NB_SHAPE(3), NB_I64), "tensor([ 1, -2, 30], shape=[3], dtype=i64)");
    CHECK_FORMAT(nb_from_data((const int32_t[]){0, 1, 2, 3, 4, 5}, NB_SHAPE(2, 3), NB_I32),
                 "tensor([[0, 1, 2],\n        [3, 4, 5]], shape=[2, 3], dtype=i32)");
    CHECK_FORMAT(nb_from_data((const uint8_t[]){255, 0}, NB_SHAPE(2), NB_U8), "tensor([255,   0], shape=[2], dtype=u8)");
    CHECK_FORMAT(nb_from_data((const int8_t[]){-128, 7}, NB_SHAPE(2), NB_I8), "tensor([-128,    7], shape=[2], dtype=i8)");
    CHECK_FORMAT(nb_from_data((const bool[]){true, false, true}, NB_SHAPE(3), NB_BOOL),
                 "tensor([ True, False,  True], shape=[3], dtype=bool)");
    CHECK_FORMAT(nb_gt_scalar(nb_arange(0, 4, 1, NB_F32), 1.5),
                 "tensor([False, False,  True,  True], shape=[4], dtype=bool)");
}

static void test_zero_dim_and_empty(void) {
    CHECK_FORMAT(nb_scalar(3.25, NB_F32), "tensor(3.2500, shape=[], dtype=f32)");
    CHECK_FORMAT(nb_scalar(2, NB_F64), "tensor(2., shape=[], dtype=f64)");
    CHECK_FORMAT(nb_scalar(-7, NB_I64), "tensor(-7, shape=[], dtype=i64)");
    CHECK_FORMAT(nb_scalar(1, NB_BOOL), "tensor(True, shape=[], dtype=bool)");
    CHECK_FORMAT(nb_scalar(12345678.9, NB_F64), "tensor(12345678.9000, shape=[], dtype=f64)");
    CHECK_FORMAT(nb_zeros(NB_SHAPE(0), NB_F32), "tensor([], shape=[0], dtype=f32)");
    CHECK_FORMAT(nb_zeros(NB_SHAPE(2, 0, 3), NB_I64), "tensor([], shape=[2, 0, 3], dtype=i64)");
}

static void test_line_wrapping(void) {
    float v[20];
    for (int i = 0; i < 20; i++) v[i] = (float)(i / 10) + 0.05f + 0.1f * (float)(i % 10);
    CHECK_FORMAT(f32s(NB_SHAPE(2, 10), v),
                 "tensor([[0.0500, 0.1500, 0.2500, 0.3500, 0.4500, 0.5500, 0.6500, 0.7500, 0.8500,\n"
                 "         0.9500],\n"
                 "        [1.0500, 1.1500, 1.2500, 1.3500, 1.4500, 1.5500, 1.6500, 1.7500, 1.8500,\n"
                 "         1.9500]], shape=[2, 10], dtype=f32)");
    CHECK_FORMAT(f32s(NB_SHAPE(10), v),
                 "tensor([0.0500, 0.1500, 0.2500, 0.3500, 0.4500, 0.5500, 0.6500, 0.7500, 0.8500,\n"
                 "        0.9500], shape=[10], dtype=f32)");
    CHECK_FORMAT(nb_arange(0, 20, 1, NB_F32),
                 "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
                 "        14., 15., 16., 17., 18., 19.], shape=[20], dtype=f32)");
    CHECK_FORMAT(nb_reshape(nb_arange(0, 40, 1, NB_F32), NB_SHAPE(2, 20)),
                 "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
                 "         14., 15., 16., 17., 18., 19.],\n"
                 "        [20., 21., 22., 23., 24., 25., 26., 27., 28., 29., 30., 31., 32., 33.,\n"
                 "         34., 35., 36., 37., 38., 39.]], shape=[2, 20], dtype=f32)");
    /* scientific: 12 characters per element, 6 per line in a 2-D tensor */
    double w[8] = {1e-5, 2, 3, 4, 5, 6, 7, 8};
    CHECK_FORMAT(f64s(NB_SHAPE(1, 8), w),
                 "tensor([[1.0000e-05, 2.0000e+00, 3.0000e+00, 4.0000e+00, 5.0000e+00, 6.0000e+00,\n"
                 "         7.0000e+00, 8.0000e+00]], shape=[1, 8], dtype=f64)");
}

static void test_higher_dims(void) {
    CHECK_FORMAT(nb_zeros(NB_SHAPE(2, 3, 4), NB_F32),
                 "tensor([[[0., 0., 0., 0.],\n"
                 "         [0., 0., 0., 0.],\n"
                 "         [0., 0., 0., 0.]],\n"
                 "\n"
                 "        [[0., 0., 0., 0.],\n"
                 "         [0., 0., 0., 0.],\n"
                 "         [0., 0., 0., 0.]]], shape=[2, 3, 4], dtype=f32)");
    /* a non-contiguous view prints its logical order */
    CHECK_FORMAT(nb_transpose(nb_reshape(nb_arange(0, 6, 1, NB_I64), NB_SHAPE(2, 3)), 0, 1),
                 "tensor([[0, 3],\n        [1, 4],\n        [2, 5]], shape=[3, 2], dtype=i64)");
    CHECK_FORMAT(nb_expand(nb_scalar(1.5, NB_F32), NB_SHAPE(2)), "tensor([1.5000, 1.5000], shape=[2], dtype=f32)");
}

static void test_summarised(void) {
    CHECK_FORMAT(nb_arange(0, 2000, 1, NB_F32),
                 "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
                 "        1.9990e+03], shape=[2000], dtype=f32)");
    CHECK_FORMAT(nb_arange(0, 1001, 1, NB_I64),
                 "tensor([   0,    1,    2,  ...,  998,  999, 1000], shape=[1001], dtype=i64)");
    CHECK_FORMAT(nb_reshape(nb_arange(0, 4000, 1, NB_F32), NB_SHAPE(2000, 2)),
                 "tensor([[0.0000e+00, 1.0000e+00],\n"
                 "        [2.0000e+00, 3.0000e+00],\n"
                 "        [4.0000e+00, 5.0000e+00],\n"
                 "        ...,\n"
                 "        [3.9940e+03, 3.9950e+03],\n"
                 "        [3.9960e+03, 3.9970e+03],\n"
                 "        [3.9980e+03, 3.9990e+03]], shape=[2000, 2], dtype=f32)");
    CHECK_FORMAT(nb_ones(NB_SHAPE(40, 40), NB_F32),
                 "tensor([[1., 1., 1.,  ..., 1., 1., 1.],\n"
                 "        [1., 1., 1.,  ..., 1., 1., 1.],\n"
                 "        [1., 1., 1.,  ..., 1., 1., 1.],\n"
                 "        ...,\n"
                 "        [1., 1., 1.,  ..., 1., 1., 1.],\n"
                 "        [1., 1., 1.,  ..., 1., 1., 1.],\n"
                 "        [1., 1., 1.,  ..., 1., 1., 1.]], shape=[40, 40], dtype=f32)");
    CHECK_FORMAT(nb_zeros(NB_SHAPE(7, 2, 100), NB_I32),
                 "tensor([[[0, 0, 0,  ..., 0, 0, 0],\n"
                 "         [0, 0, 0,  ..., 0, 0, 0]],\n"
                 "\n"
                 "        [[0, 0, 0,  ..., 0, 0, 0],\n"
                 "         [0, 0, 0,  ..., 0, 0, 0]],\n"
                 "\n"
                 "        [[0, 0, 0,  ..., 0, 0, 0],\n"
                 "         [0, 0, 0,  ..., 0, 0, 0]],\n"
                 "\n"
                 "        ...,\n"
                 "\n"
                 "        [[0, 0, 0,  ..., 0, 0, 0],\n"
                 "         [0, 0, 0,  ..., 0, 0, 0]],\n"
                 "\n"
                 "        [[0, 0, 0,  ..., 0, 0, 0],\n"
                 "         [0, 0, 0,  ..., 0, 0, 0]],\n"
                 "\n"
                 "        [[0, 0, 0,  ..., 0, 0, 0],\n"
                 "         [0, 0, 0,  ..., 0, 0, 0]]], shape=[7, 2, 100], dtype=i32)");
    /* exactly 1000 elements is not summarised */
    static char buf[8192];
    int n = nb_format(nb_zeros(NB_SHAPE(1000), NB_I64), buf, sizeof buf);
    /* 1000 values, 24 per line (42 lines): 958 ", " and 41 ",\n" + 8 spaces */
    CHECK(n == 8 + 1000 + 958 * 2 + 41 * 10 + (int)strlen("], shape=[1000], dtype=i64)"));
    CHECK(strstr(buf, "...") == NULL);
    CHECK(strncmp(buf, "tensor([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n        0, ", 90) == 0);
}

static void test_autograd_suffix(void) {
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(2), NB_F32));
    CHECK_FORMAT(w, "tensor([1., 1.], shape=[2], dtype=f32, requires_grad=True)");
    CHECK_FORMAT(nb_mul(w, w), "tensor([1., 1.], shape=[2], dtype=f32, grad_fn=<MulBackward>)");
    CHECK_FORMAT(nb_sum(nb_mul_scalar(w, 2), NULL), "tensor(4., shape=[], dtype=f32, grad_fn=<SumBackward>)");
    CHECK_FORMAT(nb_matmul(nb_reshape(w, NB_SHAPE(1, 2)), nb_reshape(w, NB_SHAPE(2, 1))),
                 "tensor([[2.]], shape=[1, 1], dtype=f32, grad_fn=<MatmulBackward>)");
    CHECK_FORMAT(nb_detach(w), "tensor([1., 1.], shape=[2], dtype=f32)");
    nb_no_grad_begin();
    CHECK_FORMAT(nb_mul(w, w), "tensor([1., 1.], shape=[2], dtype=f32)");
    nb_no_grad_end();
}

static void test_format_buffer_contract(void) {
    nb_tensor *t = f32s(NB_SHAPE(2), (const float[]){1.5f, 2.5f});
    const char *full = "tensor([1.5000, 2.5000], shape=[2], dtype=f32)";
    int len = (int)strlen(full);
    char buf[64];
    /* too small: truncated, NUL-terminated, and the full length is returned */
    memset(buf, 'x', sizeof buf);
    CHECK(nb_format(t, buf, 10) == len);
    CHECK(strcmp(buf, "tensor([1") == 0);
    CHECK(buf[10] == 'x'); /* nothing written past size */
    memset(buf, 'x', sizeof buf);
    CHECK(nb_format(t, buf, 1) == len && buf[0] == 0 && buf[1] == 'x');
    CHECK(nb_format(t, NULL, 0) == len); /* measuring only */
    CHECK(nb_format(t, buf, (size_t)len) == len && strlen(buf) == (size_t)len - 1);
    CHECK(nb_format(t, buf, (size_t)len + 1) == len && strcmp(buf, full) == 0);
    /* a long text through a small buffer */
    nb_tensor *big = nb_full(NB_SHAPE(30, 30), 1.5, NB_F32);
    int need = nb_format(big, NULL, 0);
    CHECK(need > 4096);
    char *heap = malloc((size_t)need + 1);
    CHECK(heap && nb_format(big, heap, (size_t)need + 1) == need && (int)strlen(heap) == need);
    char small[32];
    CHECK(nb_format(big, small, sizeof small) == need && strlen(small) == sizeof small - 1);
    CHECK(strncmp(small, heap, sizeof small - 1) == 0);
    free(heap);
    /* nb_fprint writes the same text and a newline */
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (f) {
        CHECK(nb_fprint(f, t) == 0);
        CHECK(nb_fprint(f, big) == 0);
        rewind(f);
        char line[128];
        CHECK(fgets(line, sizeof line, f) && strcmp(line, "tensor([1.5000, 2.5000], shape=[2], dtype=f32)\n") == 0);
        long total = 0;
        int c;
        while ((c = fgetc(f)) != EOF) total++;
        CHECK(total == need + 1);
        fclose(f);
    }
}

int main(void) {
    RUN(test_basic_float);
    RUN(test_integer_valued_floats);
    RUN(test_scientific);
    RUN(test_nonfinite);
    RUN(test_ints_and_bools);
    RUN(test_zero_dim_and_empty);
    RUN(test_line_wrapping);
    RUN(test_higher_dims);
    RUN(test_summarised);
    RUN(test_autograd_suffix);
    RUN(test_format_buffer_contract);
    return harness_finish();
}
