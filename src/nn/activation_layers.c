/* nn/activation_layers.c — the activations of the pointwise family as modules (torch.nn.LeakyReLU,
 * ELU, CELU, SELU, GELU, SiLU, Mish, Softplus, Hardtanh, ReLU6, Hardswish, Hardsigmoid). Each is a
 * vtable whose forward calls the functional op with the options kept in the module's state, and
 * whose describe prints PyTorch's extra_repr, so printed models read like PyTorch's. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Options of a parametrised activation. */
typedef struct act_opts {
    double a, b; /* negative_slope / alpha / beta / min_val; threshold / max_val */
    int mode;    /* gelu: nb_gelu_approximate */
} act_opts;

static const act_opts *opts_of(const nb_module *m) { return m->state; }

/* A double as Python's repr prints a float: the shortest round-tripping digits, and "1.0" rather
 * than "1" for whole numbers. */
static void py_float(char *buf, size_t size, double v) {
    double a = fabs(v);
    bool fixed = a == 0 || (a >= 1e-4 && a < 1e16); /* where Python does not use an exponent */
    for (int prec = fixed ? 0 : 1; prec <= 17; prec++) {
        snprintf(buf, size, fixed ? "%.*f" : "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (isfinite(v) && !strpbrk(buf, ".en")) strncat(buf, ".0", size - strlen(buf) - 1);
}

static nb_tensor *leaky_relu_fw(nb_module *m, nb_tensor *x) { return nb_leaky_relu(x, opts_of(m)->a); }
static nb_tensor *elu_fw(nb_module *m, nb_tensor *x) { return nb_elu(x, opts_of(m)->a); }
static nb_tensor *celu_fw(nb_module *m, nb_tensor *x) { return nb_celu(x, opts_of(m)->a); }
static nb_tensor *selu_fw(nb_module *m, nb_tensor *x) { return (void)m, nb_selu(x); }
static nb_tensor *gelu_fw(nb_module *m, nb_tensor *x) { return nb_gelu(x, (nb_gelu_approximate)opts_of(m)->mode); }
static nb_tensor *silu_fw(nb_module *m, nb_tensor *x) { return (void)m, nb_silu(x); }
static nb_tensor *mish_fw(nb_module *m, nb_tensor *x) { return (void)m, nb_mish(x); }
static nb_tensor *softplus_fw(nb_module *m, nb_tensor *x) { return nb_softplus(x, opts_of(m)->a, opts_of(m)->b); }
static nb_tensor *hardtanh_fw(nb_module *m, nb_tensor *x) { return nb_hardtanh(x, opts_of(m)->a, opts_of(m)->b); }
static nb_tensor *relu6_fw(nb_module *m, nb_tensor *x) { return (void)m, nb_relu6(x); }
static nb_tensor *hardswish_fw(nb_module *m, nb_tensor *x) { return (void)m, nb_hardswish(x); }
static nb_tensor *hardsigmoid_fw(nb_module *m, nb_tensor *x) { return (void)m, nb_hardsigmoid(x); }

static void one_float(const nb_module *m, char *buf, size_t size, const char *name) {
    char v[40];
    py_float(v, sizeof v, opts_of(m)->a);
    snprintf(buf, size, "%s=%s", name, v);
}
static void leaky_relu_desc(const nb_module *m, char *buf, size_t size) { one_float(m, buf, size, "negative_slope"); }
static void alpha_desc(const nb_module *m, char *buf, size_t size) { one_float(m, buf, size, "alpha"); }
static void gelu_desc(const nb_module *m, char *buf, size_t size) {
    snprintf(buf, size, "approximate='%s'", opts_of(m)->mode == NB_GELU_TANH ? "tanh" : "none");
}
static void two_floats(const nb_module *m, char *buf, size_t size, const char *n1, const char *n2) {
    char v1[40], v2[40];
    py_float(v1, sizeof v1, opts_of(m)->a);
    py_float(v2, sizeof v2, opts_of(m)->b);
    snprintf(buf, size, "%s=%s, %s=%s", n1, v1, n2, v2);
}
static void softplus_desc(const nb_module *m, char *buf, size_t size) { two_floats(m, buf, size, "beta", "threshold"); }
static void hardtanh_desc(const nb_module *m, char *buf, size_t size) { two_floats(m, buf, size, "min_val", "max_val"); }

static const nbn_module_vt k_leaky_relu = {"LeakyReLU", leaky_relu_fw, leaky_relu_desc, NULL};
static const nbn_module_vt k_elu = {"ELU", elu_fw, alpha_desc, NULL};
static const nbn_module_vt k_celu = {"CELU", celu_fw, alpha_desc, NULL};
static const nbn_module_vt k_selu = {"SELU", selu_fw, NULL, NULL};
static const nbn_module_vt k_gelu = {"GELU", gelu_fw, gelu_desc, NULL};
static const nbn_module_vt k_silu = {"SiLU", silu_fw, NULL, NULL};
static const nbn_module_vt k_mish = {"Mish", mish_fw, NULL, NULL};
static const nbn_module_vt k_softplus = {"Softplus", softplus_fw, softplus_desc, NULL};
static const nbn_module_vt k_hardtanh = {"Hardtanh", hardtanh_fw, hardtanh_desc, NULL};
static const nbn_module_vt k_relu6 = {"ReLU6", relu6_fw, NULL, NULL};
static const nbn_module_vt k_hardswish = {"Hardswish", hardswish_fw, NULL, NULL};
static const nbn_module_vt k_hardsigmoid = {"Hardsigmoid", hardsigmoid_fw, NULL, NULL};

/* A module of vtable vt holding opts (NULL: none). */
static nb_module *make(const char *fn, const nbn_module_vt *vt, const act_opts *o) {
    nb_module *m = nbn_module_new(fn, vt);
    if (!m || !o) return nbn_constructed(m);
    act_opts *s = nbn_module_state(m, sizeof *s);
    if (!s) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    *s = *o;
    return nbn_constructed(m);
}
static nb_module *refuse(const char *msg_fn, const char *what, double a, double b) {
    nbc_error(NB_ERR_ARG, "%s: %s (got %g and %g)", msg_fn, what, a, b);
    return nbn_constructed(NULL);
}

nb_module *nb_leaky_relu_layer(double negative_slope) {
    return make("nb_leaky_relu_layer", &k_leaky_relu, &(act_opts){.a = negative_slope});
}
nb_module *nb_elu_layer(double alpha) { return make("nb_elu_layer", &k_elu, &(act_opts){.a = alpha}); }
nb_module *nb_celu_layer(double alpha) {
    if (alpha == 0) return refuse("nb_celu_layer", "alpha must not be 0", alpha, alpha);
    return make("nb_celu_layer", &k_celu, &(act_opts){.a = alpha});
}
nb_module *nb_selu_layer(void) { return make("nb_selu_layer", &k_selu, NULL); }
nb_module *nb_gelu_layer(nb_gelu_approximate approximate) {
    if (approximate != NB_GELU_NONE && approximate != NB_GELU_TANH)
        return refuse("nb_gelu_layer", "approximate must be NB_GELU_NONE or NB_GELU_TANH", approximate, approximate);
    return make("nb_gelu_layer", &k_gelu, &(act_opts){.mode = (int)approximate});
}
nb_module *nb_silu_layer(void) { return make("nb_silu_layer", &k_silu, NULL); }
nb_module *nb_mish_layer(void) { return make("nb_mish_layer", &k_mish, NULL); }
nb_module *nb_softplus_layer(double beta, double threshold) {
    return make("nb_softplus_layer", &k_softplus, &(act_opts){.a = beta, .b = threshold});
}
nb_module *nb_hardtanh_layer(double min_val, double max_val) {
    if (!(min_val < max_val)) /* torch.nn.Hardtanh asserts max_val > min_val */
        return refuse("nb_hardtanh_layer", "max_val must be greater than min_val", min_val, max_val);
    return make("nb_hardtanh_layer", &k_hardtanh, &(act_opts){.a = min_val, .b = max_val});
}
nb_module *nb_relu6_layer(void) { return make("nb_relu6_layer", &k_relu6, NULL); }
nb_module *nb_hardswish_layer(void) { return make("nb_hardswish_layer", &k_hardswish, NULL); }
nb_module *nb_hardsigmoid_layer(void) { return make("nb_hardsigmoid_layer", &k_hardsigmoid, NULL); }
