/* data/dataset.c — datasets: in-memory tensor datasets (rows of x and y), user datasets behind a
 * vtable, index views (subset, split) that keep their parent alive through a refcount, and the
 * image/label IDX pair as a ready-to-train tensor dataset. A dataset only answers "how many" and
 * "give me sample i"; batching, shuffling, augmentation and prefetching are the loader's (loader.c).
 * Tensors held by datasets are internal references: they are never registered in a user's scope.
 */
#include "data_internal.h"

#include <math.h>
#include <string.h>

static nb_dataset *ds_alloc(const char *fn, nbd_kind kind) {
    nb_dataset *d = nbc_calloc(fn, sizeof *d);
    if (!d) return NULL;
    atomic_init(&d->refcount, 1);
    d->kind = kind;
    return d;
}

static void ds_decref(nb_dataset *d) {
    while (d && atomic_fetch_sub(&d->refcount, 1) == 1) {
        nb_dataset *parent = NULL;
        switch (d->kind) {
        case NBD_TENSOR:
            nbc_decref(d->x);
            nbc_decref(d->y);
            break;
        case NBD_USER:
            if (d->vt.free) d->vt.free(d->self);
            break;
        case NBD_INDEX:
            if (d->idx) nbc_raw_free(d->idx, (size_t)d->n * sizeof(int64_t));
            parent = d->parent;
            break;
        }
        nbc_raw_free(d, sizeof *d);
        d = parent; /* iterative: a long chain of subsets does not recurse */
    }
}

void nb_dataset_free(nb_dataset *d) { ds_decref(d); }

nb_dataset *nb_dataset_new(const nb_dataset_vtable *vt, void *self) {
    static const char fn[] = "nb_dataset_new";
    if (!vt || !vt->len || !vt->get) {
        nbc_error(NB_ERR_ARG, "%s: the vtable%s is NULL (len and get are required)", fn,
                  !vt        ? ""
                  : !vt->len ? "'s len"
                             : "'s get");
        return NULL;
    }
    nb_dataset *d = ds_alloc(fn, NBD_USER);
    if (!d) return NULL;
    d->vt = *vt;
    d->self = self;
    return d;
}

/* A contiguous owned reference to t: t itself (retained) or a C-order copy. */
static nb_tensor *contiguous_ref(const char *fn, nb_tensor *t) {
    if (nbc_is_contiguous(t)) {
        nbc_incref(t);
        return t;
    }
    nb_tensor *c = nbc_tensor_new(fn, t->dtype, t->ndim, t->shape);
    if (c) nbd_copy_contiguous(t, c->storage->data);
    return c;
}

nb_dataset *nb_tensor_dataset(nb_tensor *x, nb_tensor *y) {
    static const char fn[] = "nb_tensor_dataset";
    if (!x) {
        nbc_null_arg(fn, 1);
        return NULL;
    }
    if (x->ndim < 1 || (y && y->ndim < 1)) {
        nbc_error(NB_ERR_ARG, "%s: argument #%d has shape %s; samples are rows along dim 0, so it needs >= 1 dim", fn,
                  x->ndim < 1 ? 1 : 2,
                  nbc_shape_str(x->ndim < 1 ? x->ndim : y->ndim, x->ndim < 1 ? x->shape : y->shape));
        return NULL;
    }
    if (y && y->shape[0] != x->shape[0]) {
        nbc_error(NB_ERR_ARG, "%s: x has %lld samples (shape %s) but y has %lld (shape %s)", fn, (long long)x->shape[0],
                  nbc_shape_str(x->ndim, x->shape), (long long)y->shape[0], nbc_shape_str(y->ndim, y->shape));
        return NULL;
    }
    nb_dataset *d = ds_alloc(fn, NBD_TENSOR);
    if (!d) return NULL;
    d->n = x->shape[0];
    d->x = contiguous_ref(fn, x);
    if (!d->x) goto fail;
    if (y) {
        d->y = contiguous_ref(fn, y);
        if (!d->y) goto fail;
    }
    return d;
fail:
    ds_decref(d);
    return NULL;
}

int64_t nb_dataset_len(const nb_dataset *d) {
    if (!d) return nbc_error(NB_ERR_ARG, "nb_dataset_len: dataset is NULL");
    if (d->kind == NBD_USER) {
        int64_t n = d->vt.len(d->self);
        if (n < 0) return nbc_error(NB_ERR_ARG, "nb_dataset_len: the dataset's len() returned %lld", (long long)n);
        return n;
    }
    return d->n;
}

/* Row i of t as a view (dim 0 removed), not tracked. */
static nb_tensor *row_view(const char *fn, nb_tensor *t, int64_t i) {
    return nbc_tensor_view(fn, t, t->dtype, t->ndim - 1, t->shape + 1, t->strides + 1, t->offset + i * t->strides[0]);
}

/* Sample i with untracked references in x/y (for internal callers); user datasets' results are
 * passed through as they come. */
static int ds_get(const char *fn, const nb_dataset *d, int64_t i, nb_tensor **x, nb_tensor **y) {
    *x = *y = NULL;
    while (d->kind == NBD_INDEX) {
        i = d->idx ? d->idx[i] : d->start + i;
        d = d->parent;
    }
    if (d->kind == NBD_TENSOR) {
        *x = row_view(fn, d->x, i);
        if (!*x) return nb_last_status();
        if (d->y) {
            *y = row_view(fn, d->y, i);
            if (!*y) {
                nbc_decref(*x);
                *x = NULL;
                return nb_last_status();
            }
        }
        *x = nbc_track(*x);
        if (!*x) {
            nbc_decref(*y);
            *y = NULL;
            return NB_ERR_NOMEM;
        }
        if (*y) {
            *y = nbc_track(*y);
            if (!*y) {
                nb_free(*x);
                *x = NULL;
                return NB_ERR_NOMEM;
            }
        }
        return 0;
    }
    int rc = d->vt.get(d->self, i, x, y);
    if (rc < 0) {
        nb_free(*x);
        nb_free(*y);
        *x = *y = NULL;
        if (nb_last_status() == NB_OK)
            nbc_error((nb_status)rc, "%s: the dataset's get(%lld) failed with status %d", fn, (long long)i, rc);
        return rc;
    }
    if (!*x) {
        nb_free(*y);
        *y = NULL;
        return nbc_error(NB_ERR_STATE, "%s: the dataset's get(%lld) returned 0 but no input tensor", fn, (long long)i);
    }
    return 0;
}

int nb_dataset_get(const nb_dataset *d, int64_t i, nb_tensor **x, nb_tensor **y) {
    static const char fn[] = "nb_dataset_get";
    if (!x || !y) return nbc_error(NB_ERR_ARG, "%s: output pointer %s is NULL", fn, !x ? "x" : "y");
    *x = *y = NULL;
    if (!d) return nbc_error(NB_ERR_ARG, "%s: dataset is NULL", fn);
    int64_t n = nb_dataset_len(d);
    if (n < 0) return nb_last_status();
    if (i < 0 || i >= n)
        return nbc_error(NB_ERR_ARG, "%s: index %lld is out of range for a dataset of %lld samples", fn, (long long)i,
                         (long long)n);
    return ds_get(fn, d, i, x, y);
}

int nbd_dataset_get_unchecked(const nb_dataset *d, int64_t i, nb_tensor **x, nb_tensor **y) {
    return ds_get("nb_loader_next", d, i, x, y);
}

nb_tensor *nb_dataset_inputs(const nb_dataset *d) { return d && d->kind == NBD_TENSOR ? d->x : NULL; }
nb_tensor *nb_dataset_targets(const nb_dataset *d) { return d && d->kind == NBD_TENSOR ? d->y : NULL; }

/* Rows [start, start + count) of t as an owned view (contiguous when t is). */
static nb_tensor *narrow_rows(const char *fn, nb_tensor *t, int64_t start, int64_t count) {
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = count;
    return nbc_tensor_view(fn, t, t->dtype, t->ndim, shape, t->strides, t->offset + start * t->strides[0]);
}

nb_dataset *nb_dataset_subset(nb_dataset *d, int64_t start, int64_t count) {
    static const char fn[] = "nb_dataset_subset";
    if (!d) {
        nbc_error(NB_ERR_ARG, "%s: dataset is NULL", fn);
        return NULL;
    }
    int64_t n = nb_dataset_len(d);
    if (n < 0) return NULL;
    if (start < 0 || count < 0 || start > n || count > n - start) {
        nbc_error(NB_ERR_ARG, "%s: samples [%lld, %lld + %lld) are out of range for a dataset of %lld samples", fn,
                  (long long)start, (long long)start, (long long)count, (long long)n);
        return NULL;
    }
    if (d->kind == NBD_TENSOR) {
        /* Views of the same storage: still a tensor dataset, still gathered with memcpy. */
        nb_dataset *s = ds_alloc(fn, NBD_TENSOR);
        if (!s) return NULL;
        s->n = count;
        s->x = narrow_rows(fn, d->x, start, count);
        if (!s->x) goto fail;
        if (d->y) {
            s->y = narrow_rows(fn, d->y, start, count);
            if (!s->y) goto fail;
        }
        return s;
    fail:
        ds_decref(s);
        return NULL;
    }
    nb_dataset *s = ds_alloc(fn, NBD_INDEX);
    if (!s) return NULL;
    s->n = count;
    s->start = start;
    s->parent = d;
    atomic_fetch_add(&d->refcount, 1);
    return s;
}

static nb_dataset *index_view(const char *fn, nb_dataset *d, const int64_t *idx, int64_t count) {
    nb_dataset *s = ds_alloc(fn, NBD_INDEX);
    if (!s) return NULL;
    s->idx = nbc_raw_alloc((size_t)count * sizeof(int64_t));
    if (!s->idx) {
        nbc_raw_free(s, sizeof *s);
        nbc_oom(fn);
        return NULL;
    }
    if (count) memcpy(s->idx, idx, (size_t)count * sizeof(int64_t));
    s->n = count;
    s->parent = d;
    atomic_fetch_add(&d->refcount, 1);
    return s;
}

int nb_dataset_split(nb_dataset *d, double fraction, uint64_t seed, nb_dataset **first, nb_dataset **rest) {
    static const char fn[] = "nb_dataset_split";
    if (!first || !rest) return nbc_error(NB_ERR_ARG, "%s: output pointer %s is NULL", fn, !first ? "first" : "rest");
    *first = *rest = NULL;
    if (!d) return nbc_error(NB_ERR_ARG, "%s: dataset is NULL", fn);
    if (!(fraction >= 0 && fraction <= 1))
        return nbc_error(NB_ERR_ARG, "%s: fraction %g is outside [0, 1]", fn, fraction);
    int64_t n = nb_dataset_len(d);
    if (n < 0) return nb_last_status();
    if ((uint64_t)n > SIZE_MAX / sizeof(int64_t)) return nbc_oom(fn);
    int64_t *perm = nbc_raw_alloc((size_t)n * sizeof(int64_t));
    if (!perm) return nbc_oom(fn);
    nbd_permutation(n, nbd_key(seed, 0, NBD_STREAM_SPLIT), perm);
    int64_t k = (int64_t)llround(fraction * (double)n);
    if (k > n) k = n;
    *first = index_view(fn, d, perm, k);
    if (*first) *rest = index_view(fn, d, perm + k, n - k);
    nbc_raw_free(perm, (size_t)n * sizeof(int64_t));
    if (!*rest) {
        ds_decref(*first);
        *first = NULL;
        return NB_ERR_NOMEM;
    }
    return 0;
}

/* ---- IDX image/label pairs --------------------------------------------------------------------- */

typedef struct conv_ctx {
    const nb_tensor *src;
    float *dst;
    float scale, shift; /* dst = src * scale + shift */
} conv_ctx;

static void conv_range(void *vctx, int64_t begin, int64_t end) {
    conv_ctx *c = vctx;
    const void *s = nbc_ptr(c->src);
    if (c->src->dtype == NB_U8) {
        const uint8_t *u = s;
        for (int64_t i = begin; i < end; i++) c->dst[i] = (float)u[i] * c->scale + c->shift;
    } else {
        for (int64_t i = begin; i < end; i++) c->dst[i] = (float)nbc_load(s, c->src->dtype, i) * c->scale + c->shift;
    }
}

nb_dataset *nb_idx_dataset(const char *images_path, const char *labels_path, const nb_idx_opts *opts) {
    static const char fn[] = "nb_idx_dataset";
    nb_idx_opts o = opts ? *opts : (nb_idx_opts){0};
    if (o.limit < 0) {
        nbc_error(NB_ERR_ARG, "%s: limit %lld is negative (0 keeps every sample)", fn, (long long)o.limit);
        return NULL;
    }
    if (!isfinite(o.mean) || !isfinite(o.std)) {
        nbc_error(NB_ERR_ARG, "%s: mean %g and std %g must be finite", fn, o.mean, o.std);
        return NULL;
    }
    if (!images_path || !labels_path) {
        nbc_error(NB_ERR_ARG, "%s: %s path is NULL", fn, !images_path ? "images" : "labels");
        return NULL;
    }
    nb_dataset *d = NULL;
    nb_tensor *xi = NULL, *yi = NULL, *x = NULL, *y = NULL;
    xi = nbd_idx_read_file(images_path);
    if (!xi) return NULL;
    yi = nbd_idx_read_file(labels_path);
    if (!yi) goto done;
    if (xi->ndim < 2) {
        nbc_error(NB_ERR_FORMAT, "%s: %s has shape %s; images need at least 2 dims (N, ...)", fn, images_path,
                  nbc_shape_str(xi->ndim, xi->shape));
        goto done;
    }
    if (yi->ndim != 1 || nb_dtype_is_float(yi->dtype)) {
        nbc_error(NB_ERR_FORMAT, "%s: %s has shape %s and dtype %s; labels must be 1-d integers", fn, labels_path,
                  nbc_shape_str(yi->ndim, yi->shape), nb_dtype_name(yi->dtype));
        goto done;
    }
    if (xi->shape[0] != yi->shape[0]) {
        nbc_error(NB_ERR_FORMAT, "%s: %s holds %lld images but %s holds %lld labels", fn, images_path,
                  (long long)xi->shape[0], labels_path, (long long)yi->shape[0]);
        goto done;
    }
    int64_t n = xi->shape[0];
    if (o.limit > 0 && o.limit < n) n = o.limit;
    int64_t shape[NB_MAX_DIMS];
    int nd;
    int64_t per = nbc_numel(xi->ndim - 1, xi->shape + 1);
    if (o.flatten) {
        nd = 2;
        shape[0] = n;
        shape[1] = per;
    } else if (xi->ndim == 3) {
        nd = 4; /* (N, H, W) -> (N, 1, H, W) */
        shape[0] = n;
        shape[1] = 1;
        shape[2] = xi->shape[1];
        shape[3] = xi->shape[2];
    } else {
        nd = xi->ndim;
        memcpy(shape, xi->shape, sizeof shape);
        shape[0] = n;
    }
    x = nbc_tensor_new(fn, NB_F32, nd, shape);
    y = nbc_tensor_new(fn, NB_I64, 1, (const int64_t[]){n});
    if (!x || !y) goto done;
    double scale = xi->dtype == NB_U8 ? 1.0 / 255.0 : 1.0, shift = 0;
    if (o.std != 0) {
        shift = -o.mean / o.std;
        scale /= o.std;
    }
    conv_ctx c = {.src = xi, .dst = x->storage->data, .scale = (float)scale, .shift = (float)shift};
    nbc_parallel_for(n * per, 1 << 16, conv_range, &c);
    int64_t *lab = y->storage->data;
    const void *ys = nbc_ptr(yi);
    for (int64_t i = 0; i < n; i++) lab[i] = (int64_t)nbc_load(ys, yi->dtype, i);
    d = ds_alloc(fn, NBD_TENSOR);
    if (!d) goto done;
    d->n = n;
    d->x = x;
    d->y = y;
    x = y = NULL;
done:
    nbc_decref(x);
    nbc_decref(y);
    nbc_decref(xi);
    nbc_decref(yi);
    return d;
}
