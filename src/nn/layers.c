/* nn/layers.c — the layers: Linear, the activations, Flatten, Dropout and Sequential. Each is a
 * vtable (forward, describe) plus a constructor that registers its parameters; forward passes are
 * compositions of public ops, so their gradients come from the op registry. */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

/* ---- Linear --------------------------------------------------------------------------------------- */

static nb_tensor *linear_forward(nb_module *m, nb_tensor *x) {
    nb_tensor *w = m->params[0], *b = m->n_params > 1 ? m->params[1] : NULL;
    if (x->ndim == 0 || x->shape[x->ndim - 1] != w->shape[1])
        return nbc_error(NB_ERR_ARG, "Linear(in_features=%lld): input has %s; expected its last dim to be %lld",
                         (long long)w->shape[1], nbc_desc(x), (long long)w->shape[1]), NULL;
    return nb_linear(x, w, b); /* one GEMM with the bias fused into its store */
}

static void linear_describe(const nb_module *m, char *buf, size_t size) {
    snprintf(buf, size, "in_features=%lld, out_features=%lld, bias=%s", (long long)m->params[0]->shape[1],
             (long long)m->params[0]->shape[0], m->n_params > 1 ? "True" : "False");
}

static const nbn_module_vt k_linear = {"Linear", linear_forward, linear_describe, NULL};

static nb_module *make_linear(const char *fn, int64_t in, int64_t out, bool bias) {
    if (in <= 0 || out <= 0)
        return nbc_error(NB_ERR_ARG, "%s: in_features = %lld and out_features = %lld must be positive", fn,
                         (long long)in, (long long)out), NULL;
    nb_module *m = nbn_module_new(fn, &k_linear);
    if (!m) return NULL;
    double bound = 1.0 / sqrt((double)in);
    int rc = nbn_module_add_param(m, "weight", nbn_uniform(NB_SHAPE(out, in), bound));
    if (!rc && bias) rc = nbn_module_add_param(m, "bias", nbn_uniform(NB_SHAPE(out), bound));
    if (rc) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_module *nb_linear_layer(int64_t in, int64_t out) { return nbn_constructed(make_linear("nb_linear_layer", in, out, true)); }
nb_module *nb_linear_layer_nobias(int64_t in, int64_t out) {
    return nbn_constructed(make_linear("nb_linear_layer_nobias", in, out, false));
}

/* ---- activations and Flatten ----------------------------------------------------------------------- */

static nb_tensor *relu_forward(nb_module *m, nb_tensor *x) { (void)m; return nb_relu(x); }
static nb_tensor *tanh_forward(nb_module *m, nb_tensor *x) { (void)m; return nb_tanh(x); }
static nb_tensor *sigmoid_forward(nb_module *m, nb_tensor *x) { (void)m; return nb_sigmoid(x); }
static nb_tensor *flatten_forward(nb_module *m, nb_tensor *x) {
    (void)m;
    if (x->ndim < 2) return nb_retain(x);
    return nb_flatten(x, 1, -1);
}
static void flatten_describe(const nb_module *m, char *buf, size_t size) {
    (void)m;
    snprintf(buf, size, "start_dim=1, end_dim=-1");
}

static const nbn_module_vt k_relu = {"ReLU", relu_forward, NULL, NULL};
static const nbn_module_vt k_tanh = {"Tanh", tanh_forward, NULL, NULL};
static const nbn_module_vt k_sigmoid = {"Sigmoid", sigmoid_forward, NULL, NULL};
static const nbn_module_vt k_flatten = {"Flatten", flatten_forward, flatten_describe, NULL};

nb_module *nb_relu_layer(void) { return nbn_constructed(nbn_module_new("nb_relu_layer", &k_relu)); }
nb_module *nb_tanh_layer(void) { return nbn_constructed(nbn_module_new("nb_tanh_layer", &k_tanh)); }
nb_module *nb_sigmoid_layer(void) { return nbn_constructed(nbn_module_new("nb_sigmoid_layer", &k_sigmoid)); }
nb_module *nb_flatten_layer(void) { return nbn_constructed(nbn_module_new("nb_flatten_layer", &k_flatten)); }

/* ---- Dropout ------------------------------------------------------------------------------------------ */

static nb_tensor *dropout_forward(nb_module *m, nb_tensor *x) { return nb_dropout(x, m->f0, m->training); }

static void dropout_describe(const nb_module *m, char *buf, size_t size) {
    snprintf(buf, size, "p=%g, inplace=False", m->f0);
}

static const nbn_module_vt k_dropout = {"Dropout", dropout_forward, dropout_describe, NULL};

nb_module *nb_dropout_layer(double p) {
    if (!(p >= 0 && p <= 1)) return nbc_error(NB_ERR_ARG, "nb_dropout_layer: p = %g must be in [0, 1]", p), nbn_constructed(NULL);
    nb_module *m = nbn_module_new("nb_dropout_layer", &k_dropout);
    if (m) m->f0 = p;
    return nbn_constructed(m);
}
