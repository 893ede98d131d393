/* ops/create.c — tensors with data: constants, ranges, identity, random draws, copies of user
 * arrays, and element access. None of these record autograd history (they have no inputs). */
#include "../core/internal.h"
#include "../kernels/cpu/kernels.h"

#include <math.h>
#include <string.h>

static bool check_shape_arg(const char *fn, int ndim, const int64_t *shape) {
    if (ndim > 0 && !shape) {
        nbc_error(NB_ERR_ARG, "%s: shape is NULL for %d dims", fn, ndim);
        return false;
    }
    return true;
}

static nb_tensor *filled(const char *fn, int ndim, const int64_t *shape, double v, nb_dtype dtype) {
    if (!check_shape_arg(fn, ndim, shape)) return NULL;
    nb_tensor *t = nbc_tensor_new(fn, dtype, ndim, shape);
    if (!t) return NULL;
    nbk_fill(nbc_ptr(t), dtype, v, nbc_numel(ndim, shape));
    return nbc_track(t);
}

nb_tensor *nb_empty(int ndim, const int64_t *shape, nb_dtype dtype) {
    if (!check_shape_arg("nb_empty", ndim, shape)) return NULL;
    return nbc_track(nbc_tensor_new("nb_empty", dtype, ndim, shape));
}
nb_tensor *nb_zeros(int ndim, const int64_t *shape, nb_dtype dtype) {
    if (!check_shape_arg("nb_zeros", ndim, shape)) return NULL;
    nb_tensor *t = nbc_tensor_new("nb_zeros", dtype, ndim, shape);
    if (!t) return NULL;
    memset(nbc_ptr(t), 0, t->storage->nbytes);
    return nbc_track(t);
}
nb_tensor *nb_ones(int ndim, const int64_t *shape, nb_dtype dtype) { return filled("nb_ones", ndim, shape, 1, dtype); }
nb_tensor *nb_full(int ndim, const int64_t *shape, double v, nb_dtype dtype) {
    return filled("nb_full", ndim, shape, v, dtype);
}
nb_tensor *nb_scalar(double v, nb_dtype dtype) { return filled("nb_scalar", 0, NULL, v, dtype); }

nb_tensor *nb_arange(double start, double end, double step, nb_dtype dtype) {
    static const char fn[] = "nb_arange";
    if (step == 0 || step != step || start != start || end != end || isinf(start) || isinf(end))
        return nbc_error(NB_ERR_ARG, "%s: invalid range start=%g end=%g step=%g", fn, start, end, step), NULL;
    double count = ceil((end - start) / step);
    if (count < 0) count = 0;
    if (count > 1e12) return nbc_error(NB_ERR_ARG, "%s: range of %.0f elements is too large", fn, count), NULL;
    int64_t n = (int64_t)count;
    nb_tensor *t = nbc_tensor_new(fn, dtype, 1, &n);
    if (!t) return NULL;
    void *p = nbc_ptr(t);
    for (int64_t i = 0; i < n; i++) nbc_store(p, dtype, i, start + (double)i * step);
    return nbc_track(t);
}

nb_tensor *nb_linspace(double start, double end, int64_t steps, nb_dtype dtype) {
    static const char fn[] = "nb_linspace";
    if (steps < 0) return nbc_error(NB_ERR_ARG, "%s: steps = %lld; expected >= 0", fn, (long long)steps), NULL;
    nb_tensor *t = nbc_tensor_new(fn, dtype, 1, &steps);
    if (!t) return NULL;
    void *p = nbc_ptr(t);
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
    /* Fill from both ends like PyTorch so the last value is exactly `end`. */
    for (int64_t i = 0; i < steps; i++)
        nbc_store(p, dtype, i, steps == 1 ? start /* as PyTorch */
                               : i < steps / 2 ? start + step * (double)i : end - step * (double)(steps - 1 - i));
    return nbc_track(t);
}

nb_tensor *nb_eye(int64_t n, int64_t m, nb_dtype dtype) {
    if (m < 0) m = n;
    if (n < 0) return nbc_error(NB_ERR_ARG, "nb_eye: n = %lld; expected >= 0", (long long)n), NULL;
    int64_t shape[2] = {n, m};
    nb_tensor *t = nb_zeros(2, shape, dtype);
    if (!t) return NULL;
    void *p = nbc_ptr(t);
    for (int64_t i = 0; i < n && i < m; i++) nbc_store(p, dtype, i * m + i, 1);
    return t;
}

/* ---- random ------------------------------------------------------------------------------------- */

typedef struct rand_job {
    int kind; /* 0 uniform, 1 normal, 2 integer */
    nb_dtype dtype;
    void *out;
    uint64_t first, key;
    int64_t low;
    uint64_t range;
} rand_job;

static double u01_53(uint32_t a, uint32_t b) { /* [0, 1) with 53 random bits */
    return (double)(((uint64_t)a << 21) ^ (b >> 11)) * (1.0 / 9007199254740992.0);
}

static void rand_chunk(void *ctx, int64_t b, int64_t e) {
    const rand_job *j = ctx;
    for (int64_t i = b; i < e; i++) {
        uint32_t r[4];
        nbc_philox(j->first + (uint64_t)i, j->key, r);
        double v;
        if (j->kind == 0) {
            v = u01_53(r[0], r[1]);
            if (j->dtype == NB_F32 && (float)v >= 1.0f) v = 0x1.fffffep-1; /* rounding must not reach 1 */
            if (j->dtype == NB_F16 && v > 0x1.ffcp-1) v = 0x1.ffcp-1;     /* nor in f16 (largest below 1) */
            if (j->dtype == NB_BF16 && v > 0x1.fep-1) v = 0x1.fep-1;      /* nor in bf16 */
        } else if (j->kind == 1) { /* Box-Muller from two uniforms in (0, 1] and [0, 1) */
            double u1 = 1.0 - u01_53(r[0], r[1]), u2 = u01_53(r[2], r[3]);
            v = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        } else {
            uint64_t x = ((uint64_t)r[0] << 32) | r[1];
            v = (double)(j->low + (int64_t)(x % j->range)); /* bias < range / 2^64: negligible */
        }
        nbc_store(j->out, j->dtype, i, v);
    }
}

static nb_tensor *random_tensor(const char *fn, int kind, int ndim, const int64_t *shape, nb_dtype dtype, int64_t low,
                                int64_t high) {
    if (!check_shape_arg(fn, ndim, shape)) return NULL;
    if (kind < 2 && !nb_dtype_is_float(dtype))
        return nbc_error(NB_ERR_ARG, "%s: dtype %s is not a floating type", fn, nb_dtype_name(dtype)), NULL;
    if (kind == 2 && high <= low)
        return nbc_error(NB_ERR_ARG, "%s: empty range [%lld, %lld)", fn, (long long)low, (long long)high), NULL;
    nb_tensor *t = nbc_tensor_new(fn, dtype, ndim, shape);
    if (!t) return NULL;
    int64_t n = nbc_numel(ndim, shape);
    rand_job j = {.kind = kind, .dtype = dtype, .out = nbc_ptr(t), .low = low, .range = (uint64_t)(high - low)};
    j.first = nbc_rng_reserve((uint64_t)n, &j.key);
    nbc_parallel_for(n, 16384, rand_chunk, &j);
    return nbc_track(t);
}

nb_tensor *nb_rand(int ndim, const int64_t *shape, nb_dtype dtype) {
    return random_tensor("nb_rand", 0, ndim, shape, dtype, 0, 0);
}
nb_tensor *nb_randn(int ndim, const int64_t *shape, nb_dtype dtype) {
    return random_tensor("nb_randn", 1, ndim, shape, dtype, 0, 0);
}
nb_tensor *nb_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, nb_dtype dtype) {
    return random_tensor("nb_randint", 2, ndim, shape, dtype, low, high);
}

nb_tensor *nb_from_data(const void *data, int ndim, const int64_t *shape, nb_dtype dtype) {
    static const char fn[] = "nb_from_data";
    if (!check_shape_arg(fn, ndim, shape)) return NULL;
    nb_tensor *t = nbc_tensor_new(fn, dtype, ndim, shape);
    if (!t) return NULL;
    if (t->storage->nbytes) {
        if (!data) {
            nbc_decref(t);
            return nbc_error(NB_ERR_ARG, "%s: data is NULL", fn), NULL;
        }
        memcpy(nbc_ptr(t), data, t->storage->nbytes);
    }
    return nbc_track(t);
}

/* ---- element access ------------------------------------------------------------------------------ */

static int element_offset(const char *fn, const nb_tensor *t, int n, const int64_t *index, int64_t *off) {
    if (!t) return nbc_null_arg(fn, 1);
    if (n != t->ndim)
        return nbc_error(NB_ERR_ARG, "%s: %d indices given for a tensor of %s", fn, n, nbc_desc(t));
    if (n > 0 && !index) return nbc_error(NB_ERR_ARG, "%s: index is NULL", fn);
    int64_t o = t->offset;
    for (int i = 0; i < n; i++) {
        int64_t k = index[i] < 0 ? index[i] + t->shape[i] : index[i];
        if (k < 0 || k >= t->shape[i])
            return nbc_error(NB_ERR_ARG, "%s: index %lld is out of range for dim %d of size %lld (%s)", fn,
                             (long long)index[i], i, (long long)t->shape[i], nbc_desc(t));
        o += k * t->strides[i];
    }
    *off = o;
    return 0;
}

int nb_get(const nb_tensor *t, int n, const int64_t *index, double *value) {
    int64_t off;
    int rc = element_offset("nb_get", t, n, index, &off);
    if (rc) return rc;
    if (!value) return nbc_error(NB_ERR_ARG, "nb_get: value is NULL");
    *value = nbc_load(t->storage->data, t->dtype, off);
    return 0;
}

int nb_set(nb_tensor *t, int n, const int64_t *index, double value) {
    int64_t off;
    int rc = element_offset("nb_set", t, n, index, &off);
    if (rc) return rc;
    if (t->requires_grad && nbc_grad_enabled())
        return nbc_error(NB_ERR_STATE, "nb_set: the tensor (%s) requires grad; in-place writes to it are only "
                         "allowed inside nb_no_grad_begin/end", nbc_desc(t));
    nbc_store(t->storage->data, t->dtype, off, value);
    nbc_bump_version(t);
    return 0;
}

double nb_item(const nb_tensor *t) {
    if (!t) return nbc_null_arg("nb_item", 1), NAN;
    if (nbc_numel(t->ndim, t->shape) != 1)
        return nbc_error(NB_ERR_ARG, "nb_item: the tensor has %lld elements (%s); expected exactly one",
                         (long long)nbc_numel(t->ndim, t->shape), nbc_desc(t)), NAN;
    return nbc_load(t->storage->data, t->dtype, t->offset);
}

int nb_copy_to(const nb_tensor *t, void *buf, size_t buf_bytes, nb_dtype dtype) {
    if (!t) return nbc_null_arg("nb_copy_to", 1);
    int64_t n = nbc_numel(t->ndim, t->shape);
    size_t need = (size_t)n * nb_dtype_size(dtype);
    if ((unsigned)dtype >= NB_DTYPE_COUNT) return nbc_error(NB_ERR_ARG, "nb_copy_to: invalid dtype %d", (int)dtype);
    if (buf_bytes < need || (!buf && need))
        return nbc_error(NB_ERR_ARG, "nb_copy_to: buffer of %zu bytes is too small for %lld elements of %s (%zu bytes)",
                         buf_bytes, (long long)n, nb_dtype_name(dtype), need);
    int64_t ds[NB_MAX_DIMS];
    nbc_contiguous_strides(t->ndim, t->shape, ds);
    nbk_copy(buf, dtype, ds, nbc_ptr(t), t->dtype, t->strides, t->ndim, t->shape);
    return 0;
}
