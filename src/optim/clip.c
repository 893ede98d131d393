/* optim/clip.c — gradient clipping as torch.nn.utils.clip_grad_norm_ and clip_grad_value_: read
 * every parameter's .grad (parameters without one are skipped), compute a total norm or clamp, and
 * rewrite the gradients in place (bumping their version counters). Contiguous f32/f64 gradients are
 * handled by direct loops; any other layout or float dtype goes through a slower element-wise path.
 * It does not touch parameters and records nothing for autograd.
 */
#include "optim_internal.h"

#include <math.h>

/* Offset (in elements, from nbc_ptr) of the element with C-order linear index i. */
static int64_t elem_offset(const nb_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->strides[d];
        i /= t->shape[d];
    }
    return off;
}

static inline double get(const nb_tensor *t, const void *base, bool fast, int64_t i) {
    if (fast) return t->dtype == NB_F64 ? ((const double *)base)[i] : ((const float *)base)[i];
    return nbc_load(base, t->dtype, elem_offset(t, i));
}

static inline void put(const nb_tensor *t, void *base, bool fast, int64_t i, double v) {
    if (!fast) {
        nbc_store(base, t->dtype, elem_offset(t, i), v);
    } else if (t->dtype == NB_F64) {
        ((double *)base)[i] = v;
    } else {
        ((float *)base)[i] = (float)v;
    }
}

static bool is_fast(const nb_tensor *g) { return nbc_is_contiguous(g) && (g->dtype == NB_F32 || g->dtype == NB_F64); }

static int check_grads(const char *fn, const nb_params *params) {
    if (!params) return nbc_error(NB_ERR_ARG, "%s: parameter list is NULL", fn);
    for (int k = 0; k < params->n; k++) {
        const nb_tensor *g = params->tensors[k]->grad;
        if (!g) continue;
        if (!nb_dtype_is_float(g->dtype))
            return nbc_error(NB_ERR_ARG, "%s: the gradient of parameter '%s' has dtype %s", fn, params->names[k],
                             nb_dtype_name(g->dtype));
        for (int d = 0; d < g->ndim; d++)
            if (g->strides[d] == 0 && g->shape[d] > 1)
                return nbc_error(NB_ERR_ARG, "%s: the gradient of parameter '%s' (%s) is a broadcast view (stride 0 in "
                                 "dim %d) and cannot be modified in place", fn, params->names[k], nbc_desc(g), d);
    }
    return 0;
}

int nb_clip_grad_norm(nb_params *params, double max_norm, double norm_type, double *total_norm) {
    static const char fn[] = "nb_clip_grad_norm";
    int rc = check_grads(fn, params);
    if (rc) return rc;
    if (!(max_norm >= 0)) return nbc_error(NB_ERR_ARG, "%s: max_norm must be >= 0; got %g", fn, max_norm);
    bool inf = isinf(norm_type) && norm_type > 0;
    if (!inf && !(norm_type > 0 && isfinite(norm_type)))
        return nbc_error(NB_ERR_ARG, "%s: norm_type must be > 0 or INFINITY; got %g", fn, norm_type);
    /* As PyTorch: the norm of each gradient, then the norm of those norms. */
    double total = 0;
    for (int k = 0; k < params->n; k++) {
        const nb_tensor *g = params->tensors[k]->grad;
        if (!g) continue;
        bool fast = is_fast(g);
        const void *base = nbc_ptr(g);
        int64_t n = nbc_numel(g->ndim, g->shape);
        double acc = 0;
        for (int64_t i = 0; i < n; i++) {
            double a = fabs(get(g, base, fast, i));
            if (inf)
                acc = (a > acc || isnan(a)) ? a : acc;
            else if (norm_type == 2)
                acc += a * a;
            else if (norm_type == 1)
                acc += a;
            else
                acc += pow(a, norm_type);
        }
        if (inf) {
            total = (acc > total || isnan(acc)) ? acc : total;
        } else {
            double nk = norm_type == 2 ? sqrt(acc) : norm_type == 1 ? acc : pow(acc, 1 / norm_type);
            total += norm_type == 2 ? nk * nk : norm_type == 1 ? nk : pow(nk, norm_type);
        }
    }
    if (!inf) total = norm_type == 2 ? sqrt(total) : norm_type == 1 ? total : pow(total, 1 / norm_type);
    if (total_norm) *total_norm = total;
    double coef = max_norm / (total + 1e-6);
    if (!(coef < 1) && !isnan(coef)) return 0; /* PyTorch multiplies by clamp(coef, max=1): a no-op */
    for (int k = 0; k < params->n; k++) {
        nb_tensor *g = params->tensors[k]->grad;
        if (!g) continue;
        bool fast = is_fast(g);
        void *base = nbc_ptr(g);
        int64_t n = nbc_numel(g->ndim, g->shape);
        for (int64_t i = 0; i < n; i++) put(g, base, fast, i, get(g, base, fast, i) * coef);
        nbc_bump_version(g);
    }
    return 0;
}

int nb_clip_grad_value(nb_params *params, double clip) {
    static const char fn[] = "nb_clip_grad_value";
    int rc = check_grads(fn, params);
    if (rc) return rc;
    if (!(clip >= 0)) return nbc_error(NB_ERR_ARG, "%s: clip must be >= 0; got %g", fn, clip);
    for (int k = 0; k < params->n; k++) {
        nb_tensor *g = params->tensors[k]->grad;
        if (!g) continue;
        bool fast = is_fast(g);
        void *base = nbc_ptr(g);
        int64_t n = nbc_numel(g->ndim, g->shape);
        for (int64_t i = 0; i < n; i++) {
            double v = get(g, base, fast, i);
            if (v < -clip) put(g, base, fast, i, -clip);
            else if (v > clip) put(g, base, fast, i, clip);
        }
        nbc_bump_version(g);
    }
    return 0;
}
