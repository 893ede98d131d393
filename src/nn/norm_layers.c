/* nn/norm_layers.c — LayerNorm, GroupNorm, RMSNorm, Embedding and Dropout2d: thin modules over the
 * functional ops of src/ops/neural.def with PyTorch's parameter names and default initialisation
 * (norm weights ones, biases zeros; embedding weights normal(0, 1) with the padding row zeroed). */
#include "nn_internal.h"

#include <string.h>

/* normalized_shape as PyTorch prints it: "(5,)" or "(3, 4)" */
static int shape_tuple(char *buf, size_t size, int nd, const int64_t *s) {
    int n = snprintf(buf, size, "(");
    for (int i = 0; i < nd && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, i ? ", %lld" : "%lld", (long long)s[i]);
    if (n > 0 && (size_t)n < size) n += snprintf(buf + n, size - (size_t)n, nd == 1 ? ",)" : ")");
    return n;
}

static int check_shape(const char *fn, int nd, const int64_t *s) {
    bool ok = nd >= 1 && nd <= NB_MAX_DIMS && s;
    for (int i = 0; ok && i < nd; i++) ok = s[i] > 0;
    return ok ? 0 : nbc_error(NB_ERR_ARG, "%s: normalized_shape must have 1 to %d positive sizes; got %s", fn, NB_MAX_DIMS,
                              s && nd >= 0 && nd <= NB_MAX_DIMS ? nbc_shape_str(nd, s) : "none");
}

/* ---- LayerNorm, RMSNorm --------------------------------------------------------------------------- */

typedef struct norm_state {
    int nd;
    int64_t shape[NB_MAX_DIMS];
    double eps;
    bool affine;
} norm_state;

static nb_tensor *layernorm_forward(nb_module *m, nb_tensor *x) {
    norm_state *s = m->state;
    return nb_layer_norm(x, s->nd, s->shape, s->affine ? m->params[0] : NULL, s->affine ? m->params[1] : NULL, s->eps);
}
static void layernorm_describe(const nb_module *m, char *buf, size_t size) {
    const norm_state *s = m->state;
    int n = shape_tuple(buf, size, s->nd, s->shape);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", eps=%g, elementwise_affine=%s", s->eps, s->affine ? "True" : "False");
}
static nb_tensor *rmsnorm_forward(nb_module *m, nb_tensor *x) {
    norm_state *s = m->state;
    return nb_rms_norm(x, s->nd, s->shape, s->affine ? m->params[0] : NULL, s->eps);
}
static void rmsnorm_describe(const nb_module *m, char *buf, size_t size) {
    const norm_state *s = m->state;
    int n = shape_tuple(buf, size, s->nd, s->shape);
    if (n > 0 && (size_t)n < size) {
        if (s->eps >= 0) n += snprintf(buf + n, size - (size_t)n, ", eps=%g", s->eps);
        else n += snprintf(buf + n, size - (size_t)n, ", eps=None");
    }
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, ", elementwise_affine=%s", s->affine ? "True" : "False");
}

static const nbn_module_vt k_layernorm = {"LayerNorm", layernorm_forward, layernorm_describe, NULL};
static const nbn_module_vt k_rmsnorm = {"RMSNorm", rmsnorm_forward, rmsnorm_describe, NULL};

static nb_module *make_norm(const char *fn, const nbn_module_vt *vt, int nd, const int64_t *shape, double eps, bool affine,
                            bool bias) {
    if (check_shape(fn, nd, shape)) return NULL;
    nb_module *m = nbn_module_new(fn, vt);
    if (!m) return NULL;
    norm_state *s = nbn_module_state(m, sizeof *s);
    int rc = s ? 0 : NB_ERR_NOMEM;
    if (s) {
        s->nd = nd;
        memcpy(s->shape, shape, sizeof(int64_t) * (size_t)nd);
        s->eps = eps;
        s->affine = affine;
    }
    if (!rc && affine) rc = nbn_module_add_param(m, "weight", nb_ones(nd, shape, NB_F32));
    if (!rc && affine && bias) rc = nbn_module_add_param(m, "bias", nb_zeros(nd, shape, NB_F32));
    if (rc) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

nb_module *nb_layernorm_layer(int ndim, const int64_t *normalized_shape, double eps, bool elementwise_affine) {
    return nbn_constructed(make_norm("nb_layernorm_layer", &k_layernorm, ndim, normalized_shape, eps, elementwise_affine, true));
}
nb_module *nb_rmsnorm_layer(int ndim, const int64_t *normalized_shape, double eps) {
    return nbn_constructed(make_norm("nb_rmsnorm_layer", &k_rmsnorm, ndim, normalized_shape, eps, true, false));
}

/* ---- GroupNorm ------------------------------------------------------------------------------------ */

static nb_tensor *groupnorm_forward(nb_module *m, nb_tensor *x) {
    return nb_group_norm(x, (int64_t)m->f0, m->params[0], m->params[1], 1e-5);
}
static void groupnorm_describe(const nb_module *m, char *buf, size_t size) {
    snprintf(buf, size, "%lld, %lld, eps=1e-05, affine=True", (long long)m->f0, (long long)m->params[0]->shape[0]);
}
static const nbn_module_vt k_groupnorm = {"GroupNorm", groupnorm_forward, groupnorm_describe, NULL};

nb_module *nb_groupnorm_layer(int64_t num_groups, int64_t num_channels) {
    static const char fn[] = "nb_groupnorm_layer";
    if (num_groups <= 0 || num_channels <= 0 || num_channels % num_groups)
        return nbc_error(NB_ERR_ARG, "%s: num_channels = %lld must be a positive multiple of num_groups = %lld", fn,
                         (long long)num_channels, (long long)num_groups), nbn_constructed(NULL);
    nb_module *m = nbn_module_new(fn, &k_groupnorm);
    if (!m) return nbn_constructed(NULL);
    m->f0 = (double)num_groups;
    int rc = nbn_module_add_param(m, "weight", nb_ones(NB_SHAPE(num_channels), NB_F32));
    if (!rc) rc = nbn_module_add_param(m, "bias", nb_zeros(NB_SHAPE(num_channels), NB_F32));
    if (rc) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    return m;
}

/* ---- Embedding ------------------------------------------------------------------------------------ */

typedef struct emb_state {
    nb_embedding_opts opts;
} emb_state;

static nb_tensor *embedding_forward(nb_module *m, nb_tensor *x) {
    emb_state *s = m->state;
    return nb_embedding(m->params[0], x, &s->opts);
}
static void embedding_describe(const nb_module *m, char *buf, size_t size) {
    const emb_state *s = m->state;
    int n = snprintf(buf, size, "%lld, %lld", (long long)m->params[0]->shape[0], (long long)m->params[0]->shape[1]);
    if (n > 0 && (size_t)n < size && s->opts.use_padding_idx)
        n += snprintf(buf + n, size - (size_t)n, ", padding_idx=%lld", (long long)s->opts.padding_idx);
    if (n > 0 && (size_t)n < size && s->opts.max_norm > 0) snprintf(buf + n, size - (size_t)n, ", max_norm=%g", s->opts.max_norm);
}
static const nbn_module_vt k_embedding = {"Embedding", embedding_forward, embedding_describe, NULL};

nb_module *nb_embedding_layer(int64_t num_embeddings, int64_t embedding_dim, const nb_embedding_opts *opts) {
    static const char fn[] = "nb_embedding_layer";
    if (num_embeddings <= 0 || embedding_dim <= 0)
        return nbc_error(NB_ERR_ARG, "%s: num_embeddings = %lld and embedding_dim = %lld must be positive", fn,
                         (long long)num_embeddings, (long long)embedding_dim), nbn_constructed(NULL);
    nb_embedding_opts o = opts ? *opts : (nb_embedding_opts){0};
    if (o.use_padding_idx) {
        if (o.padding_idx < -num_embeddings || o.padding_idx >= num_embeddings)
            return nbc_error(NB_ERR_ARG, "%s: padding_idx %lld is out of range for %lld embeddings", fn,
                             (long long)o.padding_idx, (long long)num_embeddings), nbn_constructed(NULL);
        if (o.padding_idx < 0) o.padding_idx += num_embeddings; /* as torch stores it */
    }
    nb_module *m = nbn_module_new(fn, &k_embedding);
    if (!m) return nbn_constructed(NULL);
    emb_state *s = nbn_module_state(m, sizeof *s);
    nb_tensor *w = s ? nb_randn(NB_SHAPE(num_embeddings, embedding_dim), NB_F32) : NULL;
    if (w && o.use_padding_idx) /* torch zeroes the padding row at construction */
        memset((float *)nbc_ptr(w) + o.padding_idx * embedding_dim, 0, sizeof(float) * (size_t)embedding_dim);
    if (s) s->opts = o;
    int rc = w ? nbn_module_add_param(m, "weight", w) : NB_ERR_NOMEM;
    if (rc) {
        nb_module_free(m);
        return nbn_constructed(NULL);
    }
    return m;
}

/* ---- Dropout2d ------------------------------------------------------------------------------------ */

static nb_tensor *dropout2d_forward(nb_module *m, nb_tensor *x) { return nb_dropout2d(x, m->f0, m->training); }
static void dropout2d_describe(const nb_module *m, char *buf, size_t size) { snprintf(buf, size, "p=%g, inplace=False", m->f0); }
static const nbn_module_vt k_dropout2d = {"Dropout2d", dropout2d_forward, dropout2d_describe, NULL};

nb_module *nb_dropout2d_layer(double p) {
    if (!(p >= 0 && p <= 1))
        return nbc_error(NB_ERR_ARG, "nb_dropout2d_layer: p = %g must be in [0, 1]", p), nbn_constructed(NULL);
    nb_module *m = nbn_module_new("nb_dropout2d_layer", &k_dropout2d);
    if (m) m->f0 = p;
    return nbn_constructed(m);
}
