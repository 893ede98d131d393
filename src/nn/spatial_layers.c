/* nn/spatial_layers.c — Conv1d, ConvTranspose2d, AvgPool2d, AdaptiveAvgPool2d and MaxPool1d: thin
 * modules over the functional ops with PyTorch's parameter names, shapes and default initialisation
 * (kaiming_uniform(a = sqrt(5)) weights and uniform(+-1/sqrt(fan_in)) biases, both bound
 * 1/sqrt(fan_in) with fan_in from weight dims 1.. as torch computes it). */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

/* ---- Conv1d -------------------------------------------------------------------------------------- */

typedef struct conv1d_state {
    nb_conv_opts opts;
} conv1d_state;

static nb_tensor *conv1d_forward(nb_module *m, nb_tensor *x) {
    conv1d_state *s = m->state;
    return nb_conv1d(x, m->params[0], m->params[1], &s->opts);
}

static void conv1d_describe(const nb_module *m, char *buf, size_t size) {
    const conv1d_state *s = m->state;
    const int64_t *w = m->params[0]->shape;
    int64_t g = s->opts.groups ? s->opts.groups : 1;
    int n = snprintf(buf, size, "%lld, %lld, kernel_size=(%lld,), stride=(%lld,)", (long long)(w[1] * g), (long long)w[0],
                     (long long)w[2], (long long)(s->opts.stride[0] ? s->opts.stride[0] : 1));
    if (n > 0 && (size_t)n < size && (s->opts.padding[0] > 0 || s->opts.same))
        n += snprintf(buf + n, size - (size_t)n, s->opts.same ? ", padding=same" : ", padding=(%lld,)",
                      (long long)s->opts.padding[0]);
    if (n > 0 && (size_t)n < size && s->opts.dilation[0] > 1)
        n += snprintf(buf + n, size - (size_t)n, ", dilation=(%lld,)", (long long)s->opts.dilation[0]);
    if (n > 0 && (size_t)n < size && g > 1) snprintf(buf + n, size - (size_t)n, ", groups=%lld", (long long)g);
}

static const nbn_module_vt k_conv1d = {"Conv1d", conv1d_forward, conv1d_describe, NULL};

/* weight and bias uniform(+-1/sqrt(fan_in)); the module is freed on failure */
static nb_module *add_weight_bias(nb_module *m, int nd, const int64_t *wshape, int64_t nbias, double fan_in) {
    double bound = 1.0 / sqrt(fan_in);
    int rc = nbn_module_add_param(m, "weight", nbn_uniform(nd, wshape, bound));
    if (!rc) rc = nbn_module_add_param(m, "bias", nbn_uniform(NB_SHAPE(nbias), bound));
    if (rc) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

static bool check_channels(const char *fn, int64_t in, int64_t out, int64_t kernel, int64_t groups) {
    if (in > 0 && out > 0 && kernel > 0 && groups > 0 && in % groups == 0 && out % groups == 0) return true;
    nbc_error(NB_ERR_ARG, "%s: in_channels %lld, out_channels %lld and kernel %lld must be positive and the channels "
              "divisible by groups %lld", fn, (long long)in, (long long)out, (long long)kernel, (long long)groups);
    return false;
}

nb_module *nb_conv1d_layer(int64_t in, int64_t out, int64_t kernel, const nb_conv_opts *opts) {
    static const char fn[] = "nb_conv1d_layer";
    int64_t g = opts && opts->groups ? opts->groups : 1;
    if (!check_channels(fn, in, out, kernel, g)) return nbn_constructed(NULL);
    nb_module *m = nbn_module_new(fn, &k_conv1d);
    conv1d_state *s = m ? nbn_module_state(m, sizeof *s) : NULL;
    if (!s) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    if (opts) s->opts = *opts;
    return nbn_constructed(add_weight_bias(m, NB_SHAPE(out, in / g, kernel), out, (double)(in / g * kernel)));
}

/* ---- ConvTranspose2d ----------------------------------------------------------------------------- */

typedef struct convt_state {
    nb_conv_transpose_opts opts;
} convt_state;

static nb_tensor *convt_forward(nb_module *m, nb_tensor *x) {
    convt_state *s = m->state;
    return nb_conv_transpose2d(x, m->params[0], m->params[1], &s->opts);
}

static int64_t second(const int64_t *v) { return v[1] ? v[1] : v[0]; }
static int64_t pos(int64_t v) { return v > 0 ? v : 0; }

static void convt_describe(const nb_module *m, char *buf, size_t size) {
    const convt_state *s = m->state;
    const nb_conv_transpose_opts *o = &s->opts;
    const int64_t *w = m->params[0]->shape;
    int64_t g = o->groups ? o->groups : 1;
    int n = snprintf(buf, size, "%lld, %lld, kernel_size=(%lld, %lld), stride=(%lld, %lld)", (long long)w[0],
                     (long long)(w[1] * g), (long long)w[2], (long long)w[3], (long long)(o->stride[0] ? o->stride[0] : 1),
                     (long long)(second(o->stride) ? second(o->stride) : 1));
    if (n > 0 && (size_t)n < size && (o->padding[0] > 0 || o->padding[1] > 0))
        n += snprintf(buf + n, size - (size_t)n, ", padding=(%lld, %lld)", (long long)pos(o->padding[0]),
                      (long long)pos(second(o->padding)));
    if (n > 0 && (size_t)n < size && (o->output_padding[0] > 0 || o->output_padding[1] > 0))
        n += snprintf(buf + n, size - (size_t)n, ", output_padding=(%lld, %lld)", (long long)pos(o->output_padding[0]),
                      (long long)pos(second(o->output_padding)));
    if (n > 0 && (size_t)n < size && g > 1) snprintf(buf + n, size - (size_t)n, ", groups=%lld", (long long)g);
}

static const nbn_module_vt k_convt = {"ConvTranspose2d", convt_forward, convt_describe, NULL};

nb_module *nb_conv_transpose2d_layer(int64_t in, int64_t out, int64_t kernel, const nb_conv_transpose_opts *opts) {
    static const char fn[] = "nb_conv_transpose2d_layer";
    int64_t g = opts && opts->groups ? opts->groups : 1;
    if (!check_channels(fn, in, out, kernel, g)) return nbn_constructed(NULL);
    nb_module *m = nbn_module_new(fn, &k_convt);
    convt_state *s = m ? nbn_module_state(m, sizeof *s) : NULL;
    if (!s) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    if (opts) s->opts = *opts;
    /* weight (in, out/groups, k, k): torch's fan_in is dim 1 times the kernel, (out/groups) k k */
    return nbn_constructed(add_weight_bias(m, NB_SHAPE(in, out / g, kernel, kernel), out, (double)(out / g * kernel * kernel)));
}

/* ---- AvgPool2d ----------------------------------------------------------------------------------- */

typedef struct avgpool_state {
    nb_avg_pool_opts opts;
} avgpool_state;

static nb_tensor *avgpool_forward(nb_module *m, nb_tensor *x) { return nb_avg_pool2d(x, &((avgpool_state *)m->state)->opts); }

static void avgpool_describe(const nb_module *m, char *buf, size_t size) {
    const nb_avg_pool_opts *o = &((const avgpool_state *)m->state)->opts;
    snprintf(buf, size, "kernel_size=%lld, stride=%lld, padding=%lld", (long long)o->kernel[0],
             (long long)(o->stride[0] ? o->stride[0] : o->kernel[0]), (long long)pos(o->padding[0]));
}

static const nbn_module_vt k_avgpool = {"AvgPool2d", avgpool_forward, avgpool_describe, NULL};

nb_module *nb_avgpool2d_layer(const nb_avg_pool_opts *opts) {
    static const char fn[] = "nb_avgpool2d_layer";
    if (!opts || opts->kernel[0] <= 0) return nbc_error(NB_ERR_ARG, "%s: opts.kernel is required", fn), nbn_constructed(NULL);
    nb_module *m = nbn_module_new(fn, &k_avgpool);
    avgpool_state *s = m ? nbn_module_state(m, sizeof *s) : NULL;
    if (!s) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    s->opts = *opts;
    return nbn_constructed(m);
}

/* ---- AdaptiveAvgPool2d --------------------------------------------------------------------------- */

typedef struct adaptive_state {
    int64_t oh, ow;
} adaptive_state;

static nb_tensor *adaptive_forward(nb_module *m, nb_tensor *x) {
    adaptive_state *s = m->state;
    return nb_adaptive_avg_pool2d(x, s->oh, s->ow);
}

static void adaptive_describe(const nb_module *m, char *buf, size_t size) {
    const adaptive_state *s = m->state;
    snprintf(buf, size, "output_size=(%lld, %lld)", (long long)s->oh, (long long)(s->ow ? s->ow : s->oh));
}

static const nbn_module_vt k_adaptive = {"AdaptiveAvgPool2d", adaptive_forward, adaptive_describe, NULL};

nb_module *nb_adaptive_avgpool2d_layer(int64_t oh, int64_t ow) {
    static const char fn[] = "nb_adaptive_avgpool2d_layer";
    if (oh == 0 || oh < -1 || ow < -1)
        return nbc_error(NB_ERR_ARG, "%s: output size (%lld, %lld) must be positive (or -1: keep)", fn, (long long)oh,
                         (long long)ow), nbn_constructed(NULL);
    nb_module *m = nbn_module_new(fn, &k_adaptive);
    adaptive_state *s = m ? nbn_module_state(m, sizeof *s) : NULL;
    if (!s) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    s->oh = oh;
    s->ow = ow;
    return nbn_constructed(m);
}

/* ---- MaxPool1d ----------------------------------------------------------------------------------- */

typedef struct maxpool1d_state {
    nb_pool_opts opts;
} maxpool1d_state;

static nb_tensor *maxpool1d_forward(nb_module *m, nb_tensor *x) { return nb_max_pool1d(x, &((maxpool1d_state *)m->state)->opts); }

static void maxpool1d_describe(const nb_module *m, char *buf, size_t size) {
    const nb_pool_opts *o = &((const maxpool1d_state *)m->state)->opts;
    snprintf(buf, size, "kernel_size=%lld, stride=%lld, padding=%lld, dilation=%lld, ceil_mode=%s", (long long)o->kernel[0],
             (long long)(o->stride[0] ? o->stride[0] : o->kernel[0]), (long long)pos(o->padding[0]),
             (long long)(o->dilation[0] ? o->dilation[0] : 1), o->ceil_mode ? "True" : "False");
}

static const nbn_module_vt k_maxpool1d = {"MaxPool1d", maxpool1d_forward, maxpool1d_describe, NULL};

nb_module *nb_maxpool1d_layer(const nb_pool_opts *opts) {
    static const char fn[] = "nb_maxpool1d_layer";
    if (!opts || opts->kernel[0] <= 0) return nbc_error(NB_ERR_ARG, "%s: opts.kernel is required", fn), nbn_constructed(NULL);
    nb_module *m = nbn_module_new(fn, &k_maxpool1d);
    maxpool1d_state *s = m ? nbn_module_state(m, sizeof *s) : NULL;
    if (!s) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    s->opts = *opts;
    return nbn_constructed(m);
}
