/* ops/split.c — composite shape functions over registry ops: stack (unsqueeze + cat), unflatten
 * (reshape), narrow / split / split_sizes / chunk (slice views sharing x's storage, as in PyTorch).
 * Their gradients come from the ops they are made of (cat, reshape, slice). */
#include "op.h"

#include <string.h>

nb_tensor *nb_stack(nb_tensor *const *xs, int n, int dim) {
    static const char fn[] = "nb_stack";
    if (!xs || n < 1) return nbc_error(NB_ERR_ARG, "%s: expected at least one tensor", fn), NULL;
    for (int i = 0; i < n; i++)
        if (!xs[i]) return nbc_null_arg(fn, i + 1), NULL;
    const nb_tensor *x0 = xs[0];
    for (int i = 1; i < n; i++)
        if (xs[i]->ndim != x0->ndim || memcmp(xs[i]->shape, x0->shape, sizeof(int64_t) * (size_t)x0->ndim) != 0)
            return nbc_error(NB_ERR_ARG, "%s: stack expects each tensor to be equal size, but got %s at entry 0 and %s at "
                             "entry %d", fn, nbc_shape_str(x0->ndim, x0->shape), nbc_shape_str(xs[i]->ndim, xs[i]->shape),
                             i), NULL;
    if (x0->ndim >= NB_MAX_DIMS)
        return nbc_error(NB_ERR_ARG, "%s: %s already has the maximum of %d dims", fn, nbc_desc(x0), NB_MAX_DIMS), NULL;
    int d = nbc_wrap_dim(fn, dim, x0->ndim + 1);
    if (d < 0) return NULL;
    nb_tensor **u = nbc_calloc(fn, sizeof(nb_tensor *) * (size_t)n);
    if (!u) return NULL;
    nb_tensor *r = NULL;
    int k = 0;
    for (; k < n; k++)
        if (!(u[k] = nb_unsqueeze(xs[k], d))) break;
    if (k == n) r = nb_cat(u, n, d);
    for (int i = 0; i < k; i++) nb_free(u[i]);
    nbc_raw_free(u, sizeof(nb_tensor *) * (size_t)n);
    return r;
}

nb_tensor *nb_unflatten(nb_tensor *x, int dim, int n, const int64_t *sizes) {
    static const char fn[] = "nb_unflatten";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim == 0) return nbc_error(NB_ERR_ARG, "%s: cannot unflatten a 0-d tensor", fn), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim);
    if (d < 0) return NULL;
    if (n < 1 || !sizes) return nbc_error(NB_ERR_ARG, "%s: sizes must be non-empty (got %d sizes)", fn, n), NULL;
    if (x->ndim - 1 + n > NB_MAX_DIMS)
        return nbc_error(NB_ERR_ARG, "%s: unflattening %s into %d dims gives more than %d dims", fn, nbc_desc(x), n,
                         NB_MAX_DIMS), NULL;
    int64_t known = 1;
    int infer = -1;
    for (int i = 0; i < n; i++) {
        if (sizes[i] == -1 && infer < 0) infer = i;
        else if (sizes[i] < 0)
            return nbc_error(NB_ERR_ARG, "%s: invalid sizes %s (at most one -1, the rest >= 0)", fn,
                             nbc_shape_str(n, sizes)), NULL;
        else known *= sizes[i];
    }
    int64_t size = x->shape[d], shape[NB_MAX_DIMS];
    bool ok = infer >= 0 ? (known > 0 && size % known == 0) || (known == 0 && size == 0) : known == size;
    if (!ok)
        return nbc_error(NB_ERR_ARG, "%s: sizes %s don't multiply up to the size of dim %d (%lld) of %s", fn,
                         nbc_shape_str(n, sizes), d, (long long)size, nbc_desc(x)), NULL;
    if (infer >= 0 && known == 0)
        return nbc_error(NB_ERR_ARG, "%s: the -1 in sizes %s is ambiguous for dim %d of size 0", fn, nbc_shape_str(n, sizes), d),
               NULL;
    int k = 0;
    for (int i = 0; i < d; i++) shape[k++] = x->shape[i];
    for (int i = 0; i < n; i++) shape[k++] = i == infer ? size / known : sizes[i];
    for (int i = d + 1; i < x->ndim; i++) shape[k++] = x->shape[i];
    return nb_reshape(x, k, shape);
}

/* Validated dim of x for narrow / split / chunk (x must have at least one dim); -1 on error. */
static int split_dim(const char *fn, const nb_tensor *x, int dim) {
    if (!x) return nbc_null_arg(fn, 1), -1;
    if (x->ndim == 0) return nbc_error(NB_ERR_ARG, "%s: %s is 0-d; it needs at least one dim", fn, nbc_desc(x)), -1;
    return nbc_wrap_dim(fn, dim, x->ndim);
}

nb_tensor *nb_narrow(nb_tensor *x, int dim, int64_t start, int64_t length) {
    static const char fn[] = "nb_narrow";
    int d = split_dim(fn, x, dim);
    if (d < 0) return NULL;
    int64_t size = x->shape[d];
    if (start < -size || start > size)
        return nbc_error(NB_ERR_ARG, "%s: start %lld is out of range for dim %d of size %lld", fn, (long long)start, d,
                         (long long)size), NULL;
    if (start < 0) start += size;
    if (length < 0 || start + length > size)
        return nbc_error(NB_ERR_ARG, "%s: start %lld + length %lld exceeds dim %d of size %lld", fn, (long long)start,
                         (long long)length, d, (long long)size), NULL;
    return nb_slice(x, d, start, start + length, 1);
}

/* Slice x along d into n pieces of the given sizes (sum = size of d); out[0..n) on success. */
static int split_pieces(const char *fn, nb_tensor *x, int d, int n, const int64_t *sizes, nb_tensor **out, int max_out) {
    if (!out) return n; /* asking for the count */
    if (max_out < n) return nbc_error(NB_ERR_ARG, "%s: %d pieces, but room for only %d (max_out)", fn, n, max_out);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (!(out[i] = nb_slice(x, d, off, off + sizes[i], 1))) {
            int rc = nb_last_status();
            for (int k = 0; k < i; k++) {
                nb_free(out[k]);
                out[k] = NULL;
            }
            return rc ? rc : NB_ERR_ARG;
        }
        off += sizes[i];
    }
    return n;
}

/* Pieces of split_size along d, the last one smaller when size is not a multiple (one empty piece
 * for an empty dim), as torch.split. */
static int split_even(const char *fn, nb_tensor *x, int d, int64_t split_size, nb_tensor **out, int max_out) {
    int64_t size = x->shape[d];
    int64_t n = split_size ? (size + split_size - 1) / split_size : 1;
    if (n < 1) n = 1;
    if (n > 1 << 20) return nbc_error(NB_ERR_ARG, "%s: %lld pieces are too many", fn, (long long)n);
    int64_t stack_sizes[64], *sizes = stack_sizes;
    size_t bytes = sizeof(int64_t) * (size_t)n;
    if (n > 64 && !(sizes = nbc_calloc(fn, bytes))) return NB_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) sizes[i] = i < n - 1 ? split_size : size - split_size * (n - 1);
    int rc = split_pieces(fn, x, d, (int)n, sizes, out, max_out);
    if (sizes != stack_sizes) nbc_raw_free(sizes, bytes);
    return rc;
}

int nb_split(nb_tensor *x, int64_t split_size, int dim, nb_tensor **out, int max_out) {
    static const char fn[] = "nb_split";
    int d = split_dim(fn, x, dim);
    if (d < 0) return nb_last_status();
    if (split_size < 0 || (split_size == 0 && x->shape[d] != 0))
        return nbc_error(NB_ERR_ARG, "%s: split_size %lld must be positive (0 only for an empty dim); dim %d of %s", fn,
                         (long long)split_size, d, nbc_desc(x));
    return split_even(fn, x, d, split_size, out, max_out);
}

int nb_split_sizes(nb_tensor *x, int n, const int64_t *sizes, int dim, nb_tensor **out, int max_out) {
    static const char fn[] = "nb_split_sizes";
    int d = split_dim(fn, x, dim);
    if (d < 0) return nb_last_status();
    if (n < 1 || !sizes) return nbc_error(NB_ERR_ARG, "%s: expected at least one size (got %d)", fn, n);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0) return nbc_error(NB_ERR_ARG, "%s: size %lld at entry %d is negative", fn, (long long)sizes[i], i);
        total += sizes[i];
    }
    if (total != x->shape[d])
        return nbc_error(NB_ERR_ARG, "%s: sizes %s sum to %lld, but dim %d of %s has size %lld", fn, nbc_shape_str(n, sizes),
                         (long long)total, d, nbc_desc(x), (long long)x->shape[d]);
    return split_pieces(fn, x, d, n, sizes, out, max_out);
}

int nb_chunk(nb_tensor *x, int chunks, int dim, nb_tensor **out, int max_out) {
    static const char fn[] = "nb_chunk";
    int d = split_dim(fn, x, dim);
    if (d < 0) return nb_last_status();
    if (chunks < 1) return nbc_error(NB_ERR_ARG, "%s: chunks %d must be at least 1", fn, chunks);
    int64_t size = x->shape[d];
    if (size == 0) { /* torch.chunk: `chunks` empty pieces */
        int64_t stack_sizes[64] = {0}, *sizes = stack_sizes;
        size_t bytes = sizeof(int64_t) * (size_t)chunks;
        if (chunks > 64 && !(sizes = nbc_calloc(fn, bytes))) return NB_ERR_NOMEM;
        int rc = split_pieces(fn, x, d, chunks, sizes, out, max_out);
        if (sizes != stack_sizes) nbc_raw_free(sizes, bytes);
        return rc;
    }
    return split_even(fn, x, d, (size + chunks - 1) / chunks, out, max_out);
}
