/* tests/test_nn_spatial.c — the spatial layers (Conv1d, ConvTranspose2d, AvgPool2d,
 * AdaptiveAvgPool2d, MaxPool1d): forward equals the functional op, state_dict names and shapes as in
 * PyTorch, default initialisation bounds, type names and constructor errors. */
#include "harness.h"

/* state_dict entry i has this name and shape */
static bool sd_entry(nb_module *m, int i, const char *name, int nd, const int64_t *shape) {
    nb_params *sd = nb_module_state_dict(m);
    bool ok = sd && i < nb_params_count(sd) && strcmp(nb_params_name(sd, i), name) == 0;
    nb_tensor *t = ok ? nb_params_get(sd, i) : NULL;
    ok = ok && nb_ndim(t) == nd && memcmp(nb_shape(t), shape, sizeof(int64_t) * (size_t)nd) == 0;
    nb_params_free(sd);
    return ok;
}

static int sd_count(nb_module *m) {
    nb_params *sd = nb_module_state_dict(m);
    int n = nb_params_count(sd);
    nb_params_free(sd);
    return n;
}

static nb_tensor *sd_get(nb_module *m, int i) {
    nb_params *sd = nb_module_state_dict(m);
    nb_tensor *t = nb_params_get(sd, i);
    nb_params_free(sd); /* the module still owns t */
    return t;
}

/* max |t| <= bound, and the values spread over most of the range (not all tiny) */
static bool within(nb_tensor *t, double bound) {
    double m = nb_item(nb_max(nb_abs(t), NULL));
    return m <= bound && m > 0.5 * bound;
}

static void test_conv1d_layer(void) {
    nb_conv_opts o = {.stride = {2}, .padding = {1}, .groups = 2};
    nb_module *m = nb_conv1d_layer(4, 6, 3, &o);
    CHECK(m && strcmp(nb_module_type(m), "Conv1d") == 0);
    CHECK(sd_count(m) == 2);
    CHECK(sd_entry(m, 0, "weight", NB_SHAPE(6, 2, 3)) && sd_entry(m, 1, "bias", NB_SHAPE(6)));
    nb_tensor *w = sd_get(m, 0), *b = sd_get(m, 1);
    CHECK(within(w, 1 / sqrt(6.0)) && within(b, 1 / sqrt(6.0)));
    CHECK(nb_requires_grad(w) && nb_requires_grad(b));
    nb_tensor *x = nb_randn(NB_SHAPE(2, 4, 17), NB_F32);
    nb_tensor *y = nb_module_forward(m, x);
    CHECK(y && h_max_abs_diff(y, nb_conv1d(x, w, b, &o)) == 0);
    nb_module_free(m);
    CHECK_NULL_WITH(nb_conv1d_layer(3, 4, 3, &(nb_conv_opts){.groups = 2}), "nb_conv1d_layer", "groups 2");
    CHECK_NULL_WITH(nb_conv1d_layer(3, 4, 0, NULL), "nb_conv1d_layer", "kernel 0");
}

static void test_conv_transpose2d_layer(void) {
    nb_conv_transpose_opts o = {.stride = {2}, .padding = {1}, .output_padding = {1}, .groups = 2};
    nb_module *m = nb_conv_transpose2d_layer(4, 6, 3, &o);
    CHECK(m && strcmp(nb_module_type(m), "ConvTranspose2d") == 0);
    CHECK(sd_count(m) == 2);
    CHECK(sd_entry(m, 0, "weight", NB_SHAPE(4, 3, 3, 3)) && sd_entry(m, 1, "bias", NB_SHAPE(6)));
    /* torch: fan_in = weight.size(1) * k * k = 3 * 9 */
    nb_tensor *w = sd_get(m, 0), *b = sd_get(m, 1);
    CHECK(within(w, 1 / sqrt(27.0)) && within(b, 1 / sqrt(27.0)));
    nb_tensor *x = nb_randn(NB_SHAPE(2, 4, 5, 7), NB_F32);
    nb_tensor *y = nb_module_forward(m, x);
    CHECK(y && nb_shape(y)[1] == 6 && nb_shape(y)[2] == 10 && nb_shape(y)[3] == 14);
    CHECK(y && h_max_abs_diff(y, nb_conv_transpose2d(x, w, b, &o)) == 0);
    /* unbatched input */
    nb_tensor *y3 = nb_module_forward(m, nb_squeeze(nb_slice(x, 0, 1, 2, 1), 0));
    CHECK(y3 && nb_ndim(y3) == 3 && h_max_abs_diff(y3, nb_squeeze(nb_slice(y, 0, 1, 2, 1), 0)) < 1e-6);
    nb_module_free(m);
    CHECK_NULL_WITH(nb_conv_transpose2d_layer(4, 3, 3, &(nb_conv_transpose_opts){.groups = 2}), "nb_conv_transpose2d_layer",
                    "groups 2");
}

static void test_pool_layers(void) {
    nb_avg_pool_opts ao = {.kernel = {3}, .stride = {2}, .padding = {1}, .ceil_mode = true, .exclude_pad = true};
    nb_module *a = nb_avgpool2d_layer(&ao);
    CHECK(a && strcmp(nb_module_type(a), "AvgPool2d") == 0 && sd_count(a) == 0);
    nb_tensor *x = nb_randn(NB_SHAPE(2, 3, 7, 9), NB_F32);
    nb_tensor *y = nb_module_forward(a, x);
    CHECK(y && h_max_abs_diff(y, nb_avg_pool2d(x, &ao)) == 0);
    nb_module_free(a);
    nb_module *ad = nb_adaptive_avgpool2d_layer(1, 0);
    CHECK(ad && strcmp(nb_module_type(ad), "AdaptiveAvgPool2d") == 0 && sd_count(ad) == 0);
    nb_tensor *g = nb_module_forward(ad, x);
    CHECK(g && nb_shape(g)[2] == 1 && nb_shape(g)[3] == 1 && h_max_abs_diff(g, nb_adaptive_avg_pool2d(x, 1, 1)) == 0);
    nb_module_free(ad);
    nb_pool_opts mo = {.kernel = {3}, .stride = {2}, .padding = {1}};
    nb_module *mp = nb_maxpool1d_layer(&mo);
    CHECK(mp && strcmp(nb_module_type(mp), "MaxPool1d") == 0 && sd_count(mp) == 0);
    nb_tensor *x1 = nb_randn(NB_SHAPE(2, 3, 17), NB_F32);
    nb_tensor *y1 = nb_module_forward(mp, x1);
    CHECK(y1 && h_max_abs_diff(y1, nb_max_pool1d(x1, &mo)) == 0);
    nb_module_free(mp);
    CHECK_NULL_WITH(nb_avgpool2d_layer(NULL), "nb_avgpool2d_layer", "kernel");
    CHECK_NULL_WITH(nb_maxpool1d_layer(&(nb_pool_opts){0}), "nb_maxpool1d_layer", "kernel");
    CHECK_NULL_WITH(nb_adaptive_avgpool2d_layer(0, 3), "nb_adaptive_avgpool2d_layer", "positive");
}

/* a small 1-D / upsampling model trains end to end through the new layers */
static void test_sequential_state_dict(void) {
    nb_module *net = nb_sequential(nb_conv1d_layer(2, 4, 3, &(nb_conv_opts){.same = true}), nb_maxpool1d_layer(&(nb_pool_opts){.kernel = {2}}),
                                   nb_conv1d_layer(4, 4, 2, NULL));
    CHECK(net && sd_count(net) == 4);
    CHECK(sd_entry(net, 0, "0.weight", NB_SHAPE(4, 2, 3)) && sd_entry(net, 3, "2.bias", NB_SHAPE(4)));
    nb_tensor *y = nb_module_forward(net, nb_randn(NB_SHAPE(3, 2, 16), NB_F32));
    CHECK(y && nb_shape(y)[2] == 7);
    CHECK(y && nb_backward(nb_sum(y, NULL)) == 0);
    CHECK(nb_grad(sd_get(net, 0)) != NULL);
    nb_module_free(net);
}

/* Sequential runs ReLU then MaxPool2d as pooling first: values and gradients must be bit-for-bit those
 * of the modules in their written order, including windows that are all negative, windows with tied
 * maxima (values rounded to halves) and overlapping, padded windows. */
static void test_relu_pool_order(void) {
    nb_pool_opts po[2] = {{.kernel = {2}}, {.kernel = {3}, .stride = {2}, .padding = {1}}};
    for (int v = 0; v < 2; v++) {
        nb_tensor *x0 = nb_round(nb_mul_scalar(nb_randn(NB_SHAPE(2, 3, 9, 11), NB_F32), 2.0));
        nb_tensor *xa = nb_param(nb_mul_scalar(x0, 0.5)), *xb = nb_param(nb_mul_scalar(x0, 0.5));
        nb_tensor *w = nb_randn(NB_SHAPE(2, 3, v ? 5 : 4, v ? 6 : 5), NB_F32);
        nb_module *net = nb_sequential(nb_relu_layer(), nb_maxpool2d_layer(&po[v]));
        nb_tensor *ya = nb_module_forward(net, xa), *yb = nb_max_pool2d(nb_relu(xb), &po[v]);
        CHECK(ya && yb && h_max_abs_diff(ya, yb) == 0);
        CHECK(nb_backward(nb_sum(nb_mul(ya, w), NULL)) == 0 && nb_backward(nb_sum(nb_mul(yb, w), NULL)) == 0);
        CHECK(nb_grad(xa) && nb_grad(xb) && h_max_abs_diff(nb_grad(xa), nb_grad(xb)) == 0);
        /* the gradient is not trivially zero or dense: some windows pass it, some do not */
        double gsum = nb_item(nb_sum(nb_abs(nb_grad(xa)), NULL));
        CHECK(gsum > 0);
        nb_module_free(net);
    }
}

/* the printed tree reads like PyTorch's repr */
static void test_describe(void) {
    nb_module *net = nb_sequential(nb_conv1d_layer(4, 6, 3, &(nb_conv_opts){.stride = {2}, .padding = {1}, .groups = 2}),
                                   nb_conv_transpose2d_layer(4, 6, 3, &(nb_conv_transpose_opts){.stride = {2}, .padding = {1}, .output_padding = {1}}),
                                   nb_avgpool2d_layer(&(nb_avg_pool_opts){.kernel = {3}, .stride = {2}, .padding = {1}}),
                                   nb_adaptive_avgpool2d_layer(1, 0), nb_maxpool1d_layer(&(nb_pool_opts){.kernel = {3}, .stride = {2}}));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    nb_module_print(net, f);
    fclose(f);
    const char *want[] = {"Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), groups=2)",
                          "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))",
                          "AvgPool2d(kernel_size=3, stride=2, padding=1)", "AdaptiveAvgPool2d(output_size=(1, 1))",
                          "MaxPool1d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)"};
    for (int i = 0; i < 5; i++) CHECK_MSG(buf && strstr(buf, want[i]), "\"%s\" not in:\n%s", want[i], buf ? buf : "");
    free(buf);
    nb_module_free(net);
}

int main(void) {
    nb_manual_seed(3);
    RUN(test_conv1d_layer);
    RUN(test_conv_transpose2d_layer);
    RUN(test_pool_layers);
    RUN(test_sequential_state_dict);
    RUN(test_relu_pool_order);
    RUN(test_describe);
    return harness_finish();
}
