/* nn/conv_layers.c — the image layers: Conv2d, MaxPool2d and BatchNorm1d/2d, thin modules over the
 * functional ops nb_conv2d, nb_max_pool2d and nb_batch_norm with PyTorch's parameter names, buffers
 * and default initialisation. */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

/* ---- Conv2d -------------------------------------------------------------------------------------- */

typedef struct conv_state {
    nb_conv_opts opts;
} conv_state;

static nb_tensor *conv_forward(nb_module *m, nb_tensor *x) {
    conv_state *s = m->state;
    return nb_conv2d(x, m->params[0], m->n_params > 1 ? m->params[1] : NULL, &s->opts);
}

static void conv_describe(const nb_module *m, char *buf, size_t size) {
    const conv_state *s = m->state;
    const int64_t *w = m->params[0]->shape;
    int64_t groups = s->opts.groups ? s->opts.groups : 1;
    int64_t st = s->opts.stride[0] ? s->opts.stride[0] : 1;
    int n = snprintf(buf, size, "%lld, %lld, kernel_size=(%lld, %lld), stride=(%lld, %lld)", (long long)(w[1] * groups),
                     (long long)w[0], (long long)w[2], (long long)w[3], (long long)st,
                     (long long)(s->opts.stride[1] ? s->opts.stride[1] : st));
    if (n > 0 && (size_t)n < size && (s->opts.padding[0] > 0 || s->opts.same))
        n += snprintf(buf + n, size - (size_t)n, s->opts.same ? ", padding=same" : ", padding=(%lld, %lld)",
                      (long long)s->opts.padding[0], (long long)(s->opts.padding[1] ? s->opts.padding[1] : s->opts.padding[0]));
    if (n > 0 && (size_t)n < size && groups > 1) snprintf(buf + n, size - (size_t)n, ", groups=%lld", (long long)groups);
}

static const nbn_module_vt k_conv = {"Conv2d", conv_forward, conv_describe, NULL};

nb_module *nb_conv2d_layer(int64_t in, int64_t out, int64_t kernel, const nb_conv_opts *opts) {
    static const char fn[] = "nb_conv2d_layer";
    int64_t groups = opts && opts->groups ? opts->groups : 1;
    if (in <= 0 || out <= 0 || kernel <= 0 || groups <= 0 || in % groups || out % groups)
        return nbc_error(NB_ERR_ARG, "%s: in_channels %lld, out_channels %lld and kernel %lld must be positive and "
                         "the channels divisible by groups %lld", fn, (long long)in, (long long)out, (long long)kernel,
                         (long long)groups), nbn_constructed(NULL);
    nb_module *m = nbn_module_new(fn, &k_conv);
    if (!m) return nbn_constructed(NULL);
    conv_state *s = nbn_module_state(m, sizeof *s);
    int rc = s ? 0 : NB_ERR_NOMEM;
    if (s && opts) s->opts = *opts;
    double bound = 1.0 / sqrt((double)(in / groups * kernel * kernel)); /* kaiming_uniform(a=sqrt(5)) */
    if (!rc) rc = nbn_module_add_param(m, "weight", nbn_uniform(NB_SHAPE(out, in / groups, kernel, kernel), bound));
    if (!rc) rc = nbn_module_add_param(m, "bias", nbn_uniform(NB_SHAPE(out), bound));
    if (rc) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    return m;
}

/* ---- MaxPool2d ----------------------------------------------------------------------------------- */

typedef struct pool_state {
    nb_pool_opts opts;
} pool_state;

static nb_tensor *pool_forward(nb_module *m, nb_tensor *x) {
    pool_state *s = m->state;
    return nb_max_pool2d(x, &s->opts);
}

static void pool_describe(const nb_module *m, char *buf, size_t size) {
    const pool_state *s = m->state;
    snprintf(buf, size, "kernel_size=%lld, stride=%lld, padding=%lld, dilation=%lld, ceil_mode=%s",
             (long long)s->opts.kernel[0], (long long)(s->opts.stride[0] ? s->opts.stride[0] : s->opts.kernel[0]),
             (long long)(s->opts.padding[0] > 0 ? s->opts.padding[0] : 0),
             (long long)(s->opts.dilation[0] ? s->opts.dilation[0] : 1), s->opts.ceil_mode ? "True" : "False");
}

static const nbn_module_vt k_pool = {"MaxPool2d", pool_forward, pool_describe, NULL};

nb_module *nb_maxpool2d_layer(const nb_pool_opts *opts) {
    static const char fn[] = "nb_maxpool2d_layer";
    if (!opts || opts->kernel[0] <= 0)
        return nbc_error(NB_ERR_ARG, "%s: opts.kernel is required", fn), nbn_constructed(NULL);
    nb_module *m = nbn_module_new(fn, &k_pool);
    if (!m) return nbn_constructed(NULL);
    pool_state *s = nbn_module_state(m, sizeof *s);
    if (!s) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    s->opts = *opts;
    return m;
}

/* ---- BatchNorm ----------------------------------------------------------------------------------- */

static nb_tensor *bn_run(nb_module *m, nb_tensor *x) {
    nb_tensor *y = nb_batch_norm(x, m->buffers[0], m->buffers[1], m->params[0], m->params[1], m->training, 0.1, 1e-5);
    if (y && m->training) { /* num_batches_tracked += 1 */
        nb_tensor *n = m->buffers[2];
        nbc_store(nbc_ptr(n), n->dtype, 0, nbc_load(nbc_ptr(n), n->dtype, 0) + 1);
        nbc_bump_version(n);
    }
    return y;
}

static nb_tensor *bn2d_forward(nb_module *m, nb_tensor *x) {
    if (x->ndim != 4) return nbc_error(NB_ERR_ARG, "BatchNorm2d: expected input (N, C, H, W); got %s", nbc_desc(x)), NULL;
    return bn_run(m, x);
}

static nb_tensor *bn1d_forward(nb_module *m, nb_tensor *x) {
    if (x->ndim != 2 && x->ndim != 3)
        return nbc_error(NB_ERR_ARG, "BatchNorm1d: expected input (N, C) or (N, C, L); got %s", nbc_desc(x)), NULL;
    return bn_run(m, x);
}

static void bn_describe(const nb_module *m, char *buf, size_t size) {
    snprintf(buf, size, "%lld, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True",
             (long long)m->params[0]->shape[0]);
}

static const nbn_module_vt k_bn2d = {"BatchNorm2d", bn2d_forward, bn_describe, NULL};
static const nbn_module_vt k_bn1d = {"BatchNorm1d", bn1d_forward, bn_describe, NULL};

static nb_module *make_bn(const char *fn, const nbn_module_vt *vt, int64_t c) {
    if (c <= 0) return nbc_error(NB_ERR_ARG, "%s: num_features = %lld must be positive", fn, (long long)c), NULL;
    nb_module *m = nbn_module_new(fn, vt);
    if (!m) return NULL;
    int rc = nbn_module_add_param(m, "weight", nb_ones(NB_SHAPE(c), NB_F32));
    if (!rc) rc = nbn_module_add_param(m, "bias", nb_zeros(NB_SHAPE(c), NB_F32));
    if (!rc) rc = nbn_module_add_buffer(m, "running_mean", nb_zeros(NB_SHAPE(c), NB_F32));
    if (!rc) rc = nbn_module_add_buffer(m, "running_var", nb_ones(NB_SHAPE(c), NB_F32));
    if (!rc) rc = nbn_module_add_buffer(m, "num_batches_tracked", nb_zeros(NB_SCALAR, NB_I64));
    if (rc) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_module *nb_batchnorm2d_layer(int64_t c) { return nbn_constructed(make_bn("nb_batchnorm2d_layer", &k_bn2d, c)); }
nb_module *nb_batchnorm1d_layer(int64_t c) { return nbn_constructed(make_bn("nb_batchnorm1d_layer", &k_bn1d, c)); }
