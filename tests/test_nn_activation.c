/* tests/test_nn_activation.c — the activation modules of src/nn/activation_layers.c: each forward
 * equals the functional op bit for bit (values and gradients), each prints PyTorch's type name and
 * options, and constructors refuse bad options. */
#include "harness.h"

#include <nabla/nabla.h>

typedef struct act_case {
    nb_module *(*make)(void);
    nb_tensor *(*fn)(nb_tensor *);
    const char *type;
    const char *printed;
} act_case;

static nb_module *m_leaky(void) { return nb_leaky_relu_layer(0.01); }
static nb_tensor *f_leaky(nb_tensor *x) { return nb_leaky_relu(x, 0.01); }
static nb_module *m_elu(void) { return nb_elu_layer(1.0); }
static nb_tensor *f_elu(nb_tensor *x) { return nb_elu(x, 1.0); }
static nb_module *m_celu(void) { return nb_celu_layer(0.5); }
static nb_tensor *f_celu(nb_tensor *x) { return nb_celu(x, 0.5); }
static nb_module *m_gelu(void) { return nb_gelu_layer(NB_GELU_NONE); }
static nb_tensor *f_gelu(nb_tensor *x) { return nb_gelu(x, NB_GELU_NONE); }
static nb_module *m_gelu_tanh(void) { return nb_gelu_layer(NB_GELU_TANH); }
static nb_tensor *f_gelu_tanh(nb_tensor *x) { return nb_gelu(x, NB_GELU_TANH); }
static nb_module *m_softplus(void) { return nb_softplus_layer(1, 20); }
static nb_tensor *f_softplus(nb_tensor *x) { return nb_softplus(x, 1, 20); }
static nb_module *m_softplus2(void) { return nb_softplus_layer(2.5, 7); }
static nb_tensor *f_softplus2(nb_tensor *x) { return nb_softplus(x, 2.5, 7); }
static nb_module *m_hardtanh(void) { return nb_hardtanh_layer(-1, 1); }
static nb_tensor *f_hardtanh(nb_tensor *x) { return nb_hardtanh(x, -1, 1); }
static nb_module *m_hardtanh2(void) { return nb_hardtanh_layer(-0.25, 2); }
static nb_tensor *f_hardtanh2(nb_tensor *x) { return nb_hardtanh(x, -0.25, 2); }

static const act_case k_cases[] = {
    {m_leaky, f_leaky, "LeakyReLU", "LeakyReLU(negative_slope=0.01)\n"},
    {m_elu, f_elu, "ELU", "ELU(alpha=1.0)\n"},
    {m_celu, f_celu, "CELU", "CELU(alpha=0.5)\n"},
    {nb_selu_layer, nb_selu, "SELU", "SELU()\n"},
    {m_gelu, f_gelu, "GELU", "GELU(approximate='none')\n"},
    {m_gelu_tanh, f_gelu_tanh, "GELU", "GELU(approximate='tanh')\n"},
    {nb_silu_layer, nb_silu, "SiLU", "SiLU()\n"},
    {nb_mish_layer, nb_mish, "Mish", "Mish()\n"},
    {m_softplus, f_softplus, "Softplus", "Softplus(beta=1.0, threshold=20.0)\n"},
    {m_softplus2, f_softplus2, "Softplus", "Softplus(beta=2.5, threshold=7.0)\n"},
    {m_hardtanh, f_hardtanh, "Hardtanh", "Hardtanh(min_val=-1.0, max_val=1.0)\n"},
    {m_hardtanh2, f_hardtanh2, "Hardtanh", "Hardtanh(min_val=-0.25, max_val=2.0)\n"},
    {nb_relu6_layer, nb_relu6, "ReLU6", "ReLU6()\n"},
    {nb_hardswish_layer, nb_hardswish, "Hardswish", "Hardswish()\n"},
    {nb_hardsigmoid_layer, nb_hardsigmoid, "Hardsigmoid", "Hardsigmoid()\n"},
};
#define N_CASES (int)(sizeof k_cases / sizeof k_cases[0])

static void test_forward_matches_functional(void) {
    nb_manual_seed(3);
    for (int k = 0; k < N_CASES; k++) {
        const act_case *c = &k_cases[k];
        nb_module *m = c->make();
        CHECK_MSG(m != NULL, "%s: %s", c->type, nb_last_error());
        if (!m) continue;
        CHECK_MSG(strcmp(nb_module_type(m), c->type) == 0, "type %s, expected %s", nb_module_type(m), c->type);
        nb_scope_begin();
        nb_tensor *x = nb_mul_scalar(nb_randn(NB_SHAPE(7, 17), NB_F32), 4);
        nb_tensor *y = nb_module_forward(m, x), *r = c->fn(x);
        CHECK_MSG(y && r && h_max_abs_diff(y, r) == 0, "%s forward differs from the functional op", c->type);
        /* f64, a transposed view, and gradients through the module */
        nb_tensor *p = nb_param(nb_randn(NB_SHAPE(17, 7), NB_F64));
        CHECK(nb_backward(nb_sum(nb_module_forward(m, nb_transpose(p, 0, 1)), NULL)) == 0);
        nb_tensor *g1 = nb_clone(nb_grad(p));
        nb_zero_grad(p);
        CHECK(nb_backward(nb_sum(c->fn(nb_transpose(p, 0, 1)), NULL)) == 0);
        CHECK_MSG(g1 && h_max_abs_diff(g1, nb_grad(p)) == 0, "%s gradient differs from the functional op", c->type);
        nb_scope_end();
        char buf[256] = "";
        FILE *f = fmemopen(buf, sizeof buf - 1, "w");
        nb_module_print(m, f);
        fclose(f);
        CHECK_MSG(strcmp(buf, c->printed) == 0, "printed \"%s\", expected \"%s\"", buf, c->printed);
        nb_module_free(m);
    }
}

static void test_in_sequential(void) {
    nb_module *net = nb_sequential(nb_linear_layer(4, 3), nb_gelu_layer(NB_GELU_TANH), nb_linear_layer(3, 2),
                                   nb_leaky_relu_layer(0.2), NULL);
    CHECK(net != NULL);
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    nb_module_print(net, f);
    fclose(f);
    CHECK_MSG(strcmp(buf, "Sequential(\n  (0): Linear(in_features=4, out_features=3, bias=True)\n"
                          "  (1): GELU(approximate='tanh')\n  (2): Linear(in_features=3, out_features=2, bias=True)\n"
                          "  (3): LeakyReLU(negative_slope=0.2)\n)\n") == 0,
              "printed %s", buf);
    nb_tensor *y = nb_module_forward(net, nb_randn(NB_SHAPE(5, 4), NB_F32));
    CHECK(y && nb_ndim(y) == 2 && nb_shape(y)[1] == 2 && nb_requires_grad(y));
    nb_module_free(net);
}

static void test_errors(void) {
    CHECK_NULL_WITH(nb_hardtanh_layer(1, -1), "nb_hardtanh_layer", "max_val");
    CHECK_NULL_WITH(nb_hardtanh_layer(0, 0), "nb_hardtanh_layer", "max_val");
    CHECK_NULL_WITH(nb_gelu_layer((nb_gelu_approximate)7), "nb_gelu_layer", "approximate");
    CHECK_NULL_WITH(nb_celu_layer(0), "nb_celu_layer", "alpha");
    /* a failed activation inside nb_sequential fails the whole model */
    CHECK_NULL_WITH(nb_sequential(nb_relu_layer(), nb_hardtanh_layer(2, 1), NULL), "nb_sequential", "child #2");
    /* forward on an integer tensor reports the functional op */
    nb_module *m = nb_silu_layer();
    CHECK_NULL_WITH(nb_module_forward(m, nb_zeros(NB_SHAPE(3), NB_I64)), "nb_silu", "i64");
    nb_module_free(m);
}

int main(void) {
    RUN(test_forward_matches_functional);
    RUN(test_in_sequential);
    RUN(test_errors);
    return harness_finish();
}
