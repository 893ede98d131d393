/* tests/test_nn_neural.c — the normalisation, embedding and dropout modules: PyTorch's state_dict
 * names, shapes and default initialisation, forward equal to the functional op, training / evaluation
 * behaviour of the dropout modules, and constructor errors. */
#include "harness.h"

#include <stdint.h>

typedef nb_tensor *tp;

/* The state_dict has exactly these names, with these shapes (nd[i] dims each). */
static void check_state(nb_module *m, int n, const char *const *names, const int *nd, const int64_t (*shapes)[4]) {
    nb_params *p = nb_module_state_dict(m);
    CHECK(p && nb_params_count(p) == n);
    for (int i = 0; p && i < n && i < nb_params_count(p); i++) {
        CHECK_MSG(strcmp(nb_params_name(p, i), names[i]) == 0, "entry %d is %s, expected %s", i, nb_params_name(p, i),
                  names[i]);
        tp t = nb_params_get(p, i);
        CHECK(nb_ndim(t) == nd[i] && memcmp(nb_shape(t), shapes[i], sizeof(int64_t) * (size_t)nd[i]) == 0);
    }
    nb_params_free(p);
}

static double mean_of(tp t) {
    tp s = nb_mean(t, NULL);
    double v = h_get(s, NB_SCALAR);
    nb_free(s);
    return v;
}

static void test_layernorm_layer(void) {
    nb_module *m = nb_layernorm_layer(NB_SHAPE(3, 5), 1e-5, true);
    check_state(m, 2, (const char *[]){"weight", "bias"}, (int[]){2, 2}, (const int64_t[][4]){{3, 5}, {3, 5}});
    CHECK(strcmp(nb_module_type(m), "LayerNorm") == 0);
    nb_params *p = nb_module_parameters(m);
    CHECK(mean_of(nb_params_get(p, 0)) == 1 && mean_of(nb_params_get(p, 1)) == 0); /* ones, zeros */
    nb_init_normal(nb_params_get(p, 0), 0, 1);
    nb_init_normal(nb_params_get(p, 1), 0, 1);
    tp x = nb_randn(NB_SHAPE(4, 3, 5), NB_F32);
    tp y = nb_module_forward(m, x), r = nb_layer_norm(x, NB_SHAPE(3, 5), nb_params_get(p, 0), nb_params_get(p, 1), 1e-5);
    CHECK(y && r && h_max_abs_diff(y, r) == 0);
    nb_params_free(p);
    nb_module_free(m);
    nb_module *na = nb_layernorm_layer(NB_SHAPE(5), 1e-6, false);
    check_state(na, 0, NULL, NULL, NULL);
    tp x2 = nb_randn(NB_SHAPE(2, 5), NB_F64);
    tp y2 = nb_module_forward(na, x2), r2 = nb_layer_norm(x2, NB_SHAPE(5), NULL, NULL, 1e-6);
    CHECK(y2 && r2 && h_max_abs_diff(y2, r2) == 0);
    CHECK_NULL_WITH(nb_module_forward(na, nb_zeros(NB_SHAPE(2, 4), NB_F32)), "nb_layer_norm", "[5]", "[2, 4]");
    nb_module_free(na);
    CHECK(nb_layernorm_layer(NB_SHAPE(0), 1e-5, true) == NULL);
    CHECK(strstr(nb_last_error(), "nb_layernorm_layer"));
    nb_clear_error();
}

static void test_groupnorm_layer(void) {
    nb_module *m = nb_groupnorm_layer(2, 6);
    check_state(m, 2, (const char *[]){"weight", "bias"}, (int[]){1, 1}, (const int64_t[][4]){{6}, {6}});
    nb_params *p = nb_module_parameters(m);
    nb_init_normal(nb_params_get(p, 0), 0, 1);
    tp x = nb_randn(NB_SHAPE(3, 6, 4, 2), NB_F32);
    tp y = nb_module_forward(m, x), r = nb_group_norm(x, 2, nb_params_get(p, 0), nb_params_get(p, 1), 1e-5);
    CHECK(y && r && h_max_abs_diff(y, r) == 0);
    nb_params_free(p);
    nb_module_free(m);
    CHECK_NULL_WITH(nb_groupnorm_layer(4, 6), "nb_groupnorm_layer", "num_groups = 4");
}

static void test_rmsnorm_layer(void) {
    nb_module *m = nb_rmsnorm_layer(NB_SHAPE(7), -1);
    check_state(m, 1, (const char *[]){"weight"}, (int[]){1}, (const int64_t[][4]){{7}});
    nb_params *p = nb_module_parameters(m);
    nb_init_normal(nb_params_get(p, 0), 0, 1);
    tp x = nb_randn(NB_SHAPE(3, 7), NB_F32);
    tp y = nb_module_forward(m, x), r = nb_rms_norm(x, NB_SHAPE(7), nb_params_get(p, 0), -1);
    CHECK(y && r && h_max_abs_diff(y, r) == 0);
    nb_params_free(p);
    nb_module_free(m);
}

static void test_embedding_layer(void) {
    nb_manual_seed(3);
    nb_embedding_opts o = {.use_padding_idx = true, .padding_idx = -2};
    nb_module *m = nb_embedding_layer(1000, 64, &o);
    check_state(m, 1, (const char *[]){"weight"}, (int[]){2}, (const int64_t[][4]){{1000, 64}});
    nb_params *p = nb_module_parameters(m);
    tp w = nb_params_get(p, 0);
    /* normal(0, 1) init; row 998 (padding_idx -2) zeroed */
    double mu = mean_of(w), var = mean_of(nb_mul(w, w)) - mu * mu;
    CHECK_NEAR(mu, 0, 0.01);
    CHECK_NEAR(var, 1, 0.02);
    tp row = nb_slice(w, 0, 998, 999, 1);
    CHECK(h_max_abs_diff(row, nb_zeros(NB_SHAPE(1, 64), NB_F32)) == 0);
    tp idx = nb_from_data((int64_t[]){1, 998, 5, 1}, NB_SHAPE(2, 2), NB_I64);
    tp y = nb_module_forward(m, idx), r = nb_embedding(w, idx, &o);
    CHECK(y && r && h_max_abs_diff(y, r) == 0 && nb_ndim(y) == 3);
    /* the padding row gets no gradient */
    CHECK(nb_backward(nb_sum(y, NULL)) == 0);
    tp g = nb_grad(w);
    CHECK(g && h_get(g, NB_LIST(998, 3)) == 0 && h_get(g, NB_LIST(1, 3)) == 2);
    nb_params_free(p);
    nb_module_free(m);
    CHECK_NULL_WITH(nb_module_forward(m = nb_embedding_layer(3, 2, NULL), nb_from_data((int64_t[]){3}, NB_SHAPE(1), NB_I64)),
                    "nb_embedding", "index 3");
    nb_module_free(m);
    CHECK_NULL_WITH(nb_embedding_layer(3, 2, &(nb_embedding_opts){.use_padding_idx = true, .padding_idx = 3}),
                    "nb_embedding_layer", "padding_idx 3");
    CHECK_NULL_WITH(nb_embedding_layer(0, 2, NULL), "nb_embedding_layer", "num_embeddings = 0");
}

static void test_dropout_layers(void) {
    nb_module *d = nb_dropout_layer(0.3), *d2 = nb_dropout2d_layer(0.5);
    check_state(d, 0, NULL, NULL, NULL);
    tp x = nb_randn(NB_SHAPE(4, 8, 3, 3), NB_F32);
    nb_manual_seed(17);
    tp y = nb_module_forward(d, x);
    nb_manual_seed(17);
    tp r = nb_dropout(x, 0.3, true);
    CHECK(y && r && h_max_abs_diff(y, r) == 0); /* the module is the functional op */
    nb_manual_seed(18);
    tp y2 = nb_module_forward(d2, x);
    nb_manual_seed(18);
    tp r2 = nb_dropout2d(x, 0.5, true);
    CHECK(y2 && r2 && h_max_abs_diff(y2, r2) == 0);
    CHECK(strcmp(nb_module_type(d2), "Dropout2d") == 0);
    nb_module_train(d, false);
    nb_module_train(d2, false);
    tp e = nb_module_forward(d, x), e2 = nb_module_forward(d2, x);
    CHECK(e == x && e2 == x);
    nb_module_free(d);
    nb_module_free(d2);
    CHECK_NULL_WITH(nb_dropout2d_layer(1.5), "nb_dropout2d_layer", "p = 1.5");
}

static void test_print(void) {
    nb_module *net = nb_sequential(nb_layernorm_layer(NB_SHAPE(5), 1e-5, true), nb_groupnorm_layer(2, 6),
                                   nb_rmsnorm_layer(NB_SHAPE(7), -1), nb_embedding_layer(10, 3, &(nb_embedding_opts){
                                                                          .use_padding_idx = true, .padding_idx = -1}),
                                   nb_dropout2d_layer(0.5), nb_layernorm_layer(NB_SHAPE(2, 3), 1e-6, false));
    char buf[1024] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    nb_module_print(net, f);
    fclose(f);
    const char *want = "Sequential(\n  (0): LayerNorm((5,), eps=1e-05, elementwise_affine=True)\n"
                       "  (1): GroupNorm(2, 6, eps=1e-05, affine=True)\n"
                       "  (2): RMSNorm((7,), eps=None, elementwise_affine=True)\n"
                       "  (3): Embedding(10, 3, padding_idx=9)\n"
                       "  (4): Dropout2d(p=0.5, inplace=False)\n"
                       "  (5): LayerNorm((2, 3), eps=1e-06, elementwise_affine=False)\n)\n";
    CHECK_MSG(strcmp(buf, want) == 0, "got\n%s", buf);
    nb_module_free(net);
}

int main(void) {
    RUN(test_layernorm_layer);
    RUN(test_groupnorm_layer);
    RUN(test_rmsnorm_layer);
    RUN(test_embedding_layer);
    RUN(test_dropout_layers);
    RUN(test_print);
    return harness_finish();
}
