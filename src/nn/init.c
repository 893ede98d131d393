/* nn/init.c — torch.nn.init in C: uniform, normal, constant, Xavier (Glorot), Kaiming (He) and
 * orthogonal initialisation of a tensor in place, with PyTorch's fan and gain rules. Values are drawn
 * from the global generator and written without recording (as PyTorch's no_grad initialisers). */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

/* Write src into t in place, outside autograd; frees src. */
static int fill_from(const char *fn, nb_tensor *t, nb_tensor *src) {
    if (!src) return nb_last_status();
    nb_no_grad_begin();
    int rc = nb_copy_(t, src);
    nb_no_grad_end();
    nb_free(src);
    if (rc && nb_last_status() == NB_OK) rc = nbc_error(NB_ERR_STATE, "%s: could not write the values", fn);
    return rc;
}

static int check_target(const char *fn, const nb_tensor *t) {
    if (!t) return nbc_null_arg(fn, 1);
    if (!nb_dtype_is_float(t->dtype))
        return nbc_error(NB_ERR_ARG, "%s: the tensor (%s) must have a floating dtype", fn, nbc_desc(t));
    return 0;
}

/* PyTorch's _calculate_fan_in_and_fan_out. */
static int fans(const char *fn, const nb_tensor *t, double *fan_in, double *fan_out) {
    if (t->ndim < 2)
        return nbc_error(NB_ERR_ARG, "%s: fan in and fan out need at least 2 dims; got %s", fn, nbc_desc(t));
    double receptive = 1;
    for (int d = 2; d < t->ndim; d++) receptive *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * receptive;
    *fan_out = (double)t->shape[0] * receptive;
    return 0;
}

int nb_init_uniform(nb_tensor *t, double low, double high) {
    static const char fn[] = "nb_init_uniform";
    int rc = check_target(fn, t);
    if (rc) return rc;
    if (!(low <= high)) return nbc_error(NB_ERR_ARG, "%s: low %g is above high %g", fn, low, high);
    nb_tensor *u = nb_rand(t->ndim, t->shape, NB_F64);
    nb_tensor *s = nb_mul_scalar(u, high - low);
    nb_free(u);
    nb_tensor *r = nb_add_scalar(s, low);
    nb_free(s);
    return fill_from(fn, t, r);
}

int nb_init_normal(nb_tensor *t, double mean, double std) {
    static const char fn[] = "nb_init_normal";
    int rc = check_target(fn, t);
    if (rc) return rc;
    if (!(std >= 0)) return nbc_error(NB_ERR_ARG, "%s: std %g must be non-negative", fn, std);
    nb_tensor *z = nb_randn(t->ndim, t->shape, NB_F64);
    nb_tensor *s = nb_mul_scalar(z, std);
    nb_free(z);
    nb_tensor *r = nb_add_scalar(s, mean);
    nb_free(s);
    return fill_from(fn, t, r);
}

int nb_init_constant(nb_tensor *t, double value) {
    int rc = check_target("nb_init_constant", t);
    if (rc) return rc;
    return fill_from("nb_init_constant", t, nb_scalar(value, t->dtype));
}

int nb_init_zeros(nb_tensor *t) { return nb_init_constant(t, 0); }
int nb_init_ones(nb_tensor *t) { return nb_init_constant(t, 1); }

double nb_init_gain(const char *nl, double param) {
    if (!nl) return nbc_error(NB_ERR_ARG, "nb_init_gain: nonlinearity is NULL"), NAN;
    if (!strcmp(nl, "linear") || !strcmp(nl, "conv1d") || !strcmp(nl, "conv2d") || !strcmp(nl, "conv3d") ||
        !strcmp(nl, "sigmoid"))
        return 1;
    if (!strcmp(nl, "tanh")) return 5.0 / 3.0;
    if (!strcmp(nl, "relu")) return sqrt(2.0);
    if (!strcmp(nl, "leaky_relu")) {
        double slope = param < 0 ? 0.01 : param;
        return sqrt(2.0 / (1 + slope * slope));
    }
    if (!strcmp(nl, "selu")) return 0.75;
    return nbc_error(NB_ERR_ARG, "nb_init_gain: unknown nonlinearity \"%s\"", nl), NAN;
}

int nb_init_xavier_uniform(nb_tensor *t, double gain) {
    static const char fn[] = "nb_init_xavier_uniform";
    double fi = 0, fo = 0;
    int rc = check_target(fn, t);
    if (rc || (rc = fans(fn, t, &fi, &fo))) return rc;
    double a = gain * sqrt(6.0 / (fi + fo));
    return nb_init_uniform(t, -a, a);
}

int nb_init_xavier_normal(nb_tensor *t, double gain) {
    static const char fn[] = "nb_init_xavier_normal";
    double fi = 0, fo = 0;
    int rc = check_target(fn, t);
    if (rc || (rc = fans(fn, t, &fi, &fo))) return rc;
    return nb_init_normal(t, 0, gain * sqrt(2.0 / (fi + fo)));
}

static int kaiming_std(const char *fn, nb_tensor *t, double a, nb_fan_mode mode, const char *nl, double *std) {
    double fi = 0, fo = 0;
    int rc = check_target(fn, t);
    if (rc || (rc = fans(fn, t, &fi, &fo))) return rc;
    double gain = nb_init_gain(nl ? nl : "leaky_relu", a);
    if (isnan(gain)) return nb_last_status();
    double fan = mode == NB_FAN_OUT ? fo : fi;
    if (fan <= 0) return nbc_error(NB_ERR_ARG, "%s: the tensor (%s) has a zero fan", fn, nbc_desc(t));
    *std = gain / sqrt(fan);
    return 0;
}

int nb_init_kaiming_uniform(nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity) {
    double std = 0;
    int rc = kaiming_std("nb_init_kaiming_uniform", t, a, mode, nonlinearity, &std);
    if (rc) return rc;
    return nb_init_uniform(t, -sqrt(3.0) * std, sqrt(3.0) * std);
}

int nb_init_kaiming_normal(nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity) {
    double std = 0;
    int rc = kaiming_std("nb_init_kaiming_normal", t, a, mode, nonlinearity, &std);
    if (rc) return rc;
    return nb_init_normal(t, 0, std);
}

/* Householder QR of a (m x n, m >= n, row-major): a is overwritten, q (m x n) gets the thin Q with
 * the signs of R's diagonal folded in (so Q is unique, as torch's orthogonal_ makes it). */
static void thin_q(double *a, int64_t m, int64_t n, double *q, double *v) {
    double *rdiag_sign = v + m; /* n entries after the m-long reflector */
    /* reflectors are stored below the diagonal of a, their first elements in rdiag_sign's scratch */
    double *beta = rdiag_sign + n, *v0 = beta + n;
    for (int64_t k = 0; k < n; k++) {
        double norm = 0;
        for (int64_t i = k; i < m; i++) norm += a[i * n + k] * a[i * n + k];
        norm = sqrt(norm);
        double alpha = a[k * n + k] > 0 ? -norm : norm; /* R[k][k] = alpha */
        rdiag_sign[k] = alpha < 0 ? -1.0 : 1.0;
        double vk = a[k * n + k] - alpha, vnorm2 = vk * vk;
        for (int64_t i = k + 1; i < m; i++) vnorm2 += a[i * n + k] * a[i * n + k];
        v0[k] = vk;
        beta[k] = vnorm2 > 0 ? 2.0 / vnorm2 : 0.0;
        for (int64_t j = k + 1; j < n; j++) { /* apply H_k to the remaining columns */
            double s = vk * a[k * n + j];
            for (int64_t i = k + 1; i < m; i++) s += a[i * n + k] * a[i * n + j];
            s *= beta[k];
            a[k * n + j] -= s * vk;
            for (int64_t i = k + 1; i < m; i++) a[i * n + j] -= s * a[i * n + k];
        }
    }
    /* Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity, backwards */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) q[i * n + j] = i == j ? 1.0 : 0.0;
    for (int64_t k = n - 1; k >= 0; k--) {
        for (int64_t j = 0; j < n; j++) {
            double s = v0[k] * q[k * n + j];
            for (int64_t i = k + 1; i < m; i++) s += a[i * n + k] * q[i * n + j];
            s *= beta[k];
            q[k * n + j] -= s * v0[k];
            for (int64_t i = k + 1; i < m; i++) q[i * n + j] -= s * a[i * n + k];
        }
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) q[i * n + j] *= rdiag_sign[j];
}

int nb_init_orthogonal(nb_tensor *t, double gain) {
    static const char fn[] = "nb_init_orthogonal";
    int rc = check_target(fn, t);
    if (rc) return rc;
    if (t->ndim < 2) return nbc_error(NB_ERR_ARG, "%s: only tensors with 2 or more dims are supported; got %s", fn, nbc_desc(t));
    int64_t rows = t->shape[0], cols = nbc_numel(t->ndim, t->shape) / (rows ? rows : 1);
    if (rows == 0 || cols == 0) return 0;
    bool transposed = rows < cols;
    int64_t m = transposed ? cols : rows, n = transposed ? rows : cols;
    nb_tensor *z = nb_randn(NB_SHAPE(rows, cols), NB_F64);
    if (!z) return nb_last_status();
    size_t bytes = sizeof(double) * (size_t)(2 * m * n + m + 3 * n);
    double *a = nbc_raw_alloc(bytes);
    if (!a) {
        nb_free(z);
        return nbc_oom(fn);
    }
    double *q = a + m * n, *scratch = q + m * n;
    const double *zv = nbc_ptr(z);
    for (int64_t i = 0; i < rows; i++) /* a = z, or z^T when the matrix is wide */
        for (int64_t j = 0; j < cols; j++) a[transposed ? j * n + i : i * n + j] = zv[i * cols + j];
    nb_free(z);
    thin_q(a, m, n, q, scratch);
    nb_tensor *r = nb_empty(NB_SHAPE(rows, cols), NB_F64);
    if (r) {
        double *rv = nbc_ptr(r);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) rv[i * cols + j] = gain * q[transposed ? j * n + i : i * n + j];
    }
    nbc_raw_free(a, bytes);
    nb_tensor *shaped = r ? nb_reshape(r, t->ndim, t->shape) : NULL;
    nb_free(r);
    return fill_from(fn, t, shaped);
}
