/* tests/test_nn.c — modules: Linear against the functional ops, PyTorch-compatible parameter names,
 * initialisation bounds, Sequential composition, Dropout in train and eval mode, freezing, printing,
 * and the failure rules of constructors. */
#include "harness.h"

static nb_tensor *param_named(nb_module *m, const char *name) {
    nb_params *p = nb_module_parameters(m);
    nb_tensor *t = NULL;
    for (int i = 0; i < nb_params_count(p); i++)
        if (strcmp(nb_params_name(p, i), name) == 0) t = nb_params_get(p, i);
    nb_params_free(p); /* the module still owns t */
    return t;
}

static void test_linear_matches_functional(void) {
    nb_manual_seed(3);
    nb_module *lin = nb_linear_layer(7, 17);
    CHECK(lin != NULL);
    nb_tensor *w = param_named(lin, "weight"), *b = param_named(lin, "bias");
    CHECK(w && b);
    CHECK(nb_ndim(w) == 2 && nb_shape(w)[0] == 17 && nb_shape(w)[1] == 7);
    CHECK(nb_ndim(b) == 1 && nb_shape(b)[0] == 17);
    nb_tensor *x = nb_randn(NB_SHAPE(5, 7), NB_F32);
    nb_tensor *y = nb_module_forward(lin, x);
    nb_tensor *ref = nb_add(nb_matmul(x, nb_transpose(w, 0, 1)), b);
    CHECK(h_max_abs_diff(y, ref) < 1e-5);
    /* batched input (2, 5, 7) broadcasts like torch.nn.Linear */
    nb_tensor *x3 = nb_randn(NB_SHAPE(2, 5, 7), NB_F32);
    nb_tensor *y3 = nb_module_forward(lin, x3);
    CHECK(y3 && nb_ndim(y3) == 3 && nb_shape(y3)[2] == 17);
    /* gradients reach both parameters */
    CHECK(nb_backward(nb_sum(y, NULL)) == 0);
    nb_tensor *gb = nb_grad(b);
    CHECK(gb && fabs(h_get(gb, NB_LIST(0)) - 5.0) < 1e-6); /* d sum / d b = batch size */
    CHECK_NULL_WITH(nb_module_forward(lin, nb_randn(NB_SHAPE(5, 6), NB_F32)), "Linear", "in_features=7");
    nb_module_free(lin);
}

static void test_linear_init_bounds(void) {
    nb_manual_seed(4);
    nb_module *lin = nb_linear_layer(100, 300);
    nb_tensor *w = param_named(lin, "weight");
    double bound = 1.0 / sqrt(100.0);
    double mx = nb_item(nb_max(w, NULL)), mn = nb_item(nb_min(w, NULL));
    CHECK(mx <= bound && mn >= -bound);
    CHECK(mx > 0.9 * bound && mn < -0.9 * bound); /* uniform fills the range */
    double var = nb_item(nb_mean(nb_mul(w, w), NULL));
    CHECK_NEAR(var, bound * bound / 3.0, 0.1 * bound * bound / 3.0); /* variance of U(-b, b) */
    CHECK(nb_requires_grad(w));
    nb_module_free(lin);
}

static void test_sequential_names_and_forward(void) {
    nb_module *net = nb_sequential(nb_flatten_layer(), nb_linear_layer(12, 8), nb_relu_layer(), nb_linear_layer(8, 3),
                                   nb_linear_layer_nobias(3, 2), NULL);
    CHECK(net != NULL);
    nb_params *p = nb_module_parameters(net);
    const char *want[] = {"1.weight", "1.bias", "3.weight", "3.bias", "4.weight"};
    CHECK(nb_params_count(p) == 5);
    for (int i = 0; i < 5 && i < nb_params_count(p); i++) CHECK(strcmp(nb_params_name(p, i), want[i]) == 0);
    CHECK(nb_params_numel(p) == 12 * 8 + 8 + 8 * 3 + 3 + 3 * 2);
    nb_params_free(p);
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3, 4), NB_F32);
    nb_tensor *y = nb_module_forward(net, x);
    CHECK(y && nb_ndim(y) == 2 && nb_shape(y)[0] == 4 && nb_shape(y)[1] == 2);
    /* the same computed by hand */
    nb_tensor *h = nb_flatten(x, 1, -1);
    nb_tensor *w1 = param_named(net, "1.weight"), *b1 = param_named(net, "1.bias");
    nb_tensor *w3 = param_named(net, "3.weight"), *b3 = param_named(net, "3.bias"), *w4 = param_named(net, "4.weight");
    h = nb_relu(nb_add(nb_matmul(h, nb_transpose(w1, 0, 1)), b1));
    h = nb_add(nb_matmul(h, nb_transpose(w3, 0, 1)), b3);
    h = nb_matmul(h, nb_transpose(w4, 0, 1));
    CHECK(h_max_abs_diff(y, h) < 1e-5);
    CHECK(strcmp(nb_module_type(net), "Sequential") == 0);
    nb_module_free(net);
}

static void test_dropout_modes(void) {
    nb_manual_seed(5);
    nb_module *d = nb_dropout_layer(0.25);
    nb_tensor *x = nb_ones(NB_SHAPE(100, 100), NB_F32);
    nb_tensor *y = nb_module_forward(d, x);
    double zeros = nb_item(nb_sum(nb_eq_scalar(y, 0), NULL));
    CHECK(zeros > 2200 && zeros < 2800);                          /* about p of the elements */
    double kept = nb_item(nb_max(y, NULL));
    CHECK_NEAR(kept, 1.0 / 0.75, 1e-6);                           /* survivors scaled by 1/(1-p) */
    nb_module_train(d, false);
    CHECK(!nb_module_is_training(d));
    CHECK(h_max_abs_diff(nb_module_forward(d, x), x) == 0);       /* identity in eval mode */
    CHECK_NULL_WITH(nb_dropout_layer(1.5), "nb_dropout_layer", "1.5");
    nb_module_free(d);
}

static void test_train_eval_propagates(void) {
    nb_module *net = nb_sequential(nb_linear_layer(2, 2), nb_dropout_layer(0.5), NULL);
    nb_module_train(net, false);
    CHECK(!nb_module_is_training(net));
    nb_module_free(net);
}

static void test_freeze(void) {
    nb_module *net = nb_sequential(nb_linear_layer(3, 2), NULL);
    nb_module_freeze(net, true);
    nb_tensor *y = nb_module_forward(net, nb_randn(NB_SHAPE(1, 3), NB_F32));
    CHECK(y && !nb_requires_grad(y));
    nb_module_freeze(net, false);
    nb_tensor *y2 = nb_module_forward(net, nb_randn(NB_SHAPE(1, 3), NB_F32));
    CHECK(y2 && nb_requires_grad(y2));
    nb_module_free(net);
}

static void test_print(void) {
    nb_module *net = nb_sequential(nb_flatten_layer(), nb_linear_layer(4, 3), nb_relu_layer(), NULL);
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    nb_module_print(net, f);
    fclose(f);
    CHECK(strcmp(buf, "Sequential(\n  (0): Flatten(start_dim=1, end_dim=-1)\n  (1): Linear(in_features=4, "
                      "out_features=3, bias=True)\n  (2): ReLU()\n)\n") == 0);
    nb_module_free(net);
}

static void test_constructor_failures(void) {
    CHECK_NULL_WITH(nb_linear_layer(0, 3), "nb_linear_layer", "must be positive");
    /* A failed layer inside nb_sequential's list makes the whole model fail, not silently shorten. */
    nb_module *net = nb_sequential(nb_linear_layer(2, 2), nb_linear_layer(-1, 2), nb_relu_layer(), NULL);
    CHECK(net == NULL);
    CHECK(strstr(nb_last_error(), "child #2 is NULL") != NULL);
    nb_clear_error();
    /* a failed last layer before the NULL terminator, and without one */
    CHECK_NULL_WITH(nb_sequential(nb_relu_layer(), nb_linear_layer(3, -3), NULL), "nb_sequential", "child #2",
                    "must be positive");
    CHECK_NULL_WITH(nb_sequential(nb_relu_layer(), nb_linear_layer(3, -3)), "nb_sequential", "last layer",
                    "must be positive");
    nb_module *plain = nb_sequential(nb_relu_layer(), nb_tanh_layer()); /* no terminator needed */
    CHECK(plain != NULL);
    nb_module_free(plain);
    nb_module *ok = nb_sequential(nb_linear_layer(2, 2), NULL); /* the failure was consumed */
    CHECK(ok != NULL);
    nb_module_free(ok);
    CHECK_NULL_WITH(nb_module_forward(NULL, NULL), "nb_module_forward");
}

static void test_conv_pool_layers(void) {
    nb_manual_seed(6);
    nb_module *conv = nb_conv2d_layer(3, 4, 3, &(nb_conv_opts){.padding = {1}});
    CHECK(conv != NULL);
    nb_tensor *w = param_named(conv, "weight"), *b = param_named(conv, "bias");
    CHECK(w && nb_ndim(w) == 4 && nb_shape(w)[0] == 4 && nb_shape(w)[1] == 3 && nb_shape(w)[3] == 3);
    double bound = 1.0 / sqrt(27.0);
    CHECK(nb_item(nb_max(nb_abs(w), NULL)) <= bound);
    nb_tensor *x = nb_randn(NB_SHAPE(2, 3, 7, 7), NB_F32);
    nb_tensor *y = nb_module_forward(conv, x);
    CHECK(y && h_max_abs_diff(y, nb_conv2d(x, w, b, &(nb_conv_opts){.padding = {1}})) == 0);
    nb_module *pool = nb_maxpool2d_layer(&(nb_pool_opts){.kernel = {2}});
    nb_tensor *p = nb_module_forward(pool, y);
    CHECK(p && nb_shape(p)[2] == 3 && nb_shape(p)[3] == 3);
    CHECK_NULL_WITH(nb_maxpool2d_layer(NULL), "nb_maxpool2d_layer", "kernel");
    nb_clear_error();
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    nb_module_print(conv, f);
    nb_module_print(pool, f);
    fclose(f);
    CHECK(strcmp(buf, "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
                      "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n") == 0);
    nb_module_free(pool);
    nb_module_free(conv);
}

static void test_batchnorm(void) {
    nb_module *bn = nb_batchnorm2d_layer(3);
    nb_params *p = nb_module_parameters(bn);
    CHECK(nb_params_count(p) == 2 && strcmp(nb_params_name(p, 0), "weight") == 0);
    nb_params_free(p);
    nb_tensor *x = nb_add_scalar(nb_mul_scalar(nb_randn(NB_SHAPE(4, 3, 5, 5), NB_F32), 2.0), 1.0);
    nb_tensor *y = nb_module_forward(bn, x);
    /* training: per-channel mean 0 and (biased) variance 1 */
    nb_tensor *m = nb_mean(y, NB_DIMS(0, 2, 3));
    nb_tensor *v = nb_mean(nb_mul(y, y), NB_DIMS(0, 2, 3));
    for (int c = 0; c < 3; c++) {
        CHECK_NEAR(h_get(m, NB_LIST(c)), 0, 1e-5);
        CHECK_NEAR(h_get(v, NB_LIST(c)), 1, 1e-3);
    }
    /* running stats: 0.9 * init + 0.1 * batch stat (unbiased variance) */
    nb_tensor *bm = nb_mean(x, NB_DIMS(0, 2, 3));
    nb_tensor *xc = nb_sub(x, nb_reshape(bm, NB_SHAPE(1, 3, 1, 1)));
    nb_tensor *bv = nb_div_scalar(nb_sum(nb_mul(xc, xc), NB_DIMS(0, 2, 3)), 99.0);
    /* buffers are not parameters: check them through a forward in eval mode */
    nb_module_train(bn, false);
    nb_tensor *ye = nb_module_forward(bn, x);
    for (int c = 0; c < 3; c++) {
        double mean = 0.1 * h_get(bm, NB_LIST(c)), var = 0.9 + 0.1 * h_get(bv, NB_LIST(c));
        double want = (h_get(x, NB_LIST(1, c, 2, 3)) - mean) / sqrt(var + 1e-5);
        CHECK_NEAR(h_get(ye, NB_LIST(1, c, 2, 3)), want, 1e-4);
    }
    CHECK_NULL_WITH(nb_module_forward(bn, nb_randn(NB_SHAPE(4, 3), NB_F32)), "BatchNorm2d", "(N, C, H, W)");
    nb_module_free(bn);
}

static void test_state_dict_names(void) {
    nb_module *net = nb_sequential(nb_conv2d_layer(1, 2, 3, NULL), nb_batchnorm2d_layer(2), nb_relu_layer(),
                                   nb_flatten_layer(), nb_linear_layer(8, 3));
    nb_params *sd = nb_module_state_dict(net);
    const char *want[] = {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                          "1.num_batches_tracked", "4.weight", "4.bias"};
    CHECK(nb_params_count(sd) == 9);
    for (int i = 0; i < 9 && i < nb_params_count(sd); i++)
        CHECK_MSG(strcmp(nb_params_name(sd, i), want[i]) == 0, "#%d is %s", i, nb_params_name(sd, i));
    CHECK(nb_dtype_of(nb_params_get(sd, 6)) == NB_I64 && nb_ndim(nb_params_get(sd, 6)) == 0);
    nb_params_free(sd);
    nb_module_free(net);
}

static void test_containers(void) {
    nb_module *list = nb_module_list(nb_linear_layer(3, 4), nb_relu_layer(), NULL);
    CHECK(list && nb_module_num_children(list) == 2);
    CHECK(strcmp(nb_module_type(nb_module_child(list, 1)), "ReLU") == 0);
    CHECK_NULL_WITH(nb_module_child(list, 2), "nb_module_child", "out of range");
    CHECK_NULL_WITH(nb_module_forward(list, nb_ones(NB_SHAPE(1, 3), NB_F32)), "ModuleList", "no forward");
    nb_params *p = nb_module_parameters(list);
    CHECK(nb_params_count(p) == 2 && strcmp(nb_params_name(p, 0), "0.weight") == 0);
    nb_params_free(p);
    nb_module_free(list);
    /* residual: body(x) + x, and body(x) + shortcut(x) */
    nb_module *lin = nb_linear_layer(4, 4);
    nb_module *res = nb_residual_layer(lin, NULL);
    nb_tensor *x = nb_randn(NB_SHAPE(2, 4), NB_F32);
    nb_tensor *y = nb_module_forward(res, x);
    CHECK(y && h_max_abs_diff(y, nb_add(nb_module_forward(lin, x), x)) < 1e-6);
    nb_module *res2 = nb_residual_layer(nb_linear_layer(4, 3), nb_linear_layer_nobias(4, 3));
    nb_params *p2 = nb_module_parameters(res2);
    CHECK(nb_params_count(p2) == 3 && strcmp(nb_params_name(p2, 2), "shortcut.weight") == 0);
    nb_params_free(p2);
    CHECK(nb_module_forward(res2, x) != NULL);
    CHECK_NULL_WITH(nb_residual_layer(NULL, nb_relu_layer()), "nb_residual_layer", "body");
    nb_module_free(res2);
    nb_module_free(res);
}

static void test_initialisers(void) {
    nb_manual_seed(9);
    nb_tensor *w = nb_param(nb_zeros(NB_SHAPE(200, 100, 3, 3), NB_F32)); /* fan_in 900, fan_out 1800 */
    CHECK(nb_init_xavier_uniform(w, 1.0) == 0);
    double a = sqrt(6.0 / 2700.0);
    CHECK(nb_item(nb_max(nb_abs(w), NULL)) <= a && nb_item(nb_max(w, NULL)) > 0.95 * a);
    CHECK(nb_init_kaiming_normal(w, 0, NB_FAN_IN, "relu") == 0);
    double std = sqrt(nb_item(nb_mean(nb_mul(w, w), NULL)));
    CHECK_NEAR(std, sqrt(2.0 / 900.0), 0.02 * sqrt(2.0 / 900.0));
    CHECK(nb_init_kaiming_uniform(w, sqrt(5.0), NB_FAN_IN, "leaky_relu") == 0); /* PyTorch's Linear/Conv default */
    CHECK(nb_item(nb_max(nb_abs(w), NULL)) <= 1.0 / sqrt(900.0) + 1e-7);
    CHECK(nb_init_xavier_normal(w, 2.0) == 0);
    CHECK(nb_init_normal(w, 3, 0) == 0 && nb_item(nb_min(w, NULL)) == 3 && nb_item(nb_max(w, NULL)) == 3);
    CHECK(nb_init_uniform(w, -1, 2) == 0 && nb_item(nb_min(w, NULL)) >= -1 && nb_item(nb_max(w, NULL)) < 2);
    CHECK(nb_init_zeros(w) == 0 && nb_item(nb_sum(nb_abs(w), NULL)) == 0);
    CHECK(nb_init_ones(w) == 0 && nb_item(nb_mean(w, NULL)) == 1);
    CHECK_NEAR(nb_init_gain("tanh", 0), 5.0 / 3.0, 1e-15);
    CHECK_NEAR(nb_init_gain("leaky_relu", -1), sqrt(2.0 / (1 + 1e-4)), 1e-15);
    CHECK(isnan(nb_init_gain("swish", 0)));
    nb_clear_error();
    CHECK_RC_WITH(nb_init_xavier_uniform(nb_zeros(NB_SHAPE(5), NB_F32), 1), "nb_init_xavier_uniform", "2 dims");
    CHECK_RC_WITH(nb_init_zeros(nb_zeros(NB_SHAPE(5), NB_I64)), "nb_init_constant", "floating");
    /* orthogonal: W W^T = I for a wide matrix, W^T W = I for a tall one, times gain */
    for (int tall = 0; tall < 2; tall++) {
        nb_tensor *q = tall ? nb_zeros(NB_SHAPE(17, 7), NB_F64) : nb_zeros(NB_SHAPE(7, 17), NB_F64);
        CHECK(nb_init_orthogonal(q, 2.0) == 0);
        nb_tensor *g = tall ? nb_matmul(nb_transpose(q, 0, 1), q) : nb_matmul(q, nb_transpose(q, 0, 1));
        CHECK(h_max_abs_diff(g, nb_mul_scalar(nb_eye(7, -1, NB_F64), 4.0)) < 1e-12);
    }
    nb_tensor *conv = nb_zeros(NB_SHAPE(4, 2, 3, 3), NB_F32); /* flattened to (4, 18) */
    CHECK(nb_init_orthogonal(conv, 1.0) == 0);
    nb_tensor *f = nb_reshape(conv, NB_SHAPE(4, 18));
    CHECK(h_max_abs_diff(nb_matmul(f, nb_transpose(f, 0, 1)), nb_eye(4, -1, NB_F32)) < 1e-5);
}

static nb_tensor *f_bn(nb_tensor *const *in, void *ud) {
    (void)ud;
    return nb_batch_norm(in[0], NULL, NULL, in[1], in[2], true, 0.1, 1e-5);
}

static void test_batch_norm_gradcheck(void) {
    nb_tensor *in[3] = {nb_param(nb_randn(NB_SHAPE(3, 2, 4), NB_F64)), nb_param(nb_randn(NB_SHAPE(2), NB_F64)),
                        nb_param(nb_randn(NB_SHAPE(2), NB_F64))};
    CHECK(nb_gradcheck(f_bn, in, 3, NULL, NULL) == 0);
    CHECK_NULL_WITH(nb_batch_norm(in[0], NULL, NULL, nb_ones(NB_SHAPE(3), NB_F64), NULL, true, 0.1, 1e-5),
                    "nb_batch_norm", "weight", "[2]");
    CHECK_NULL_WITH(nb_batch_norm(in[0], NULL, NULL, NULL, NULL, false, 0.1, 1e-5), "nb_batch_norm", "running");
}

int main(void) {
    RUN(test_linear_matches_functional);
    RUN(test_linear_init_bounds);
    RUN(test_sequential_names_and_forward);
    RUN(test_dropout_modes);
    RUN(test_train_eval_propagates);
    RUN(test_freeze);
    RUN(test_print);
    RUN(test_constructor_failures);
    RUN(test_conv_pool_layers);
    RUN(test_batchnorm);
    RUN(test_batch_norm_gradcheck);
    RUN(test_state_dict_names);
    RUN(test_containers);
    RUN(test_initialisers);
    return harness_finish();
}
