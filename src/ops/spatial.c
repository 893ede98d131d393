/* ops/spatial.c — spatial functions that are thin compositions of registry ops (NB_FUNC lines in
 * spatial.def): max_pool1d (max_pool2d over (N, C, 1, L)), pixel_shuffle and pixel_unshuffle (one
 * reshape, permute, reshape each: a single copy, and differentiable through the shape ops). */
#include "op.h"

/* ---- max_pool1d ------------------------------------------------------------------------------------ */

nb_tensor *nb_max_pool1d_with_indices(nb_tensor *x, const nb_pool_opts *opts, nb_tensor **indices) {
    static const char fn[] = "nb_max_pool1d";
    if (indices) *indices = NULL;
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (!opts || opts->kernel[0] <= 0)
        return nbc_error(NB_ERR_ARG, "%s: the kernel size is required (opts.kernel)", fn), NULL;
    if (x->ndim != 2 && x->ndim != 3)
        return nbc_error(NB_ERR_ARG, "%s: expected input (N, C, L) or (C, L); got %s", fn, nbc_desc(x)), NULL;
    int64_t k = opts->kernel[0], s = opts->stride[0] ? opts->stride[0] : k, p = opts->padding[0] < 0 ? 0 : opts->padding[0];
    int64_t d = opts->dilation[0] ? opts->dilation[0] : 1, L = x->shape[x->ndim - 1];
    if (s < 1 || d < 1)
        return nbc_error(NB_ERR_ARG, "%s: stride %lld and dilation %lld must be at least 1", fn, (long long)s,
                         (long long)d), NULL;
    if (p * 2 > d * (k - 1) + 1)
        return nbc_error(NB_ERR_ARG, "%s: padding %lld must be at most half the kernel size %lld", fn, (long long)p,
                         (long long)k), NULL;
    if (L + 2 * p - d * (k - 1) - 1 < 0)
        return nbc_error(NB_ERR_ARG, "%s: kernel %lld (dilation %lld) is larger than the padded input %s", fn,
                         (long long)k, (long long)d, nbc_desc(x)), NULL;
    nb_pool_opts o2 = {.kernel = {1, k}, .stride = {1, s}, .padding = {-1, p ? p : -1}, .dilation = {1, d},
                       .ceil_mode = opts->ceil_mode};
    nb_tensor *x4 = nb_unsqueeze(x, -2), *i4 = NULL;
    nb_tensor *y4 = x4 ? nb_max_pool2d_with_indices(x4, &o2, &i4) : NULL;
    nb_tensor *y = y4 ? nb_squeeze(y4, -2) : NULL, *ix = y && indices ? nb_squeeze(i4, -2) : NULL;
    nb_free(x4);
    nb_free(y4);
    nb_free(i4);
    if (y && indices && !ix) {
        nb_free(y);
        return NULL;
    }
    if (indices) *indices = ix;
    return y;
}

nb_tensor *nb_max_pool1d(nb_tensor *x, const nb_pool_opts *opts) { return nb_max_pool1d_with_indices(x, opts, NULL); }

/* ---- pixel_shuffle / pixel_unshuffle ------------------------------------------------------------------ */

/* x (*, C, H, W) viewed as (B, c1, a, b, c, d), permuted by perm, reshaped to (*, oc, oh, ow). */
static nb_tensor *shuffle(nb_tensor *x, const int64_t *six, const int64_t *perm, int64_t oc, int64_t oh, int64_t ow) {
    int nd = x->ndim;
    int64_t out[NB_MAX_DIMS];
    for (int i = 0; i < nd - 3; i++) out[i] = x->shape[i];
    out[nd - 3] = oc;
    out[nd - 2] = oh;
    out[nd - 1] = ow;
    nb_tensor *a = nb_reshape(x, 6, six);
    nb_tensor *b = a ? nb_permute(a, 6, perm) : NULL;
    nb_tensor *y = b ? nb_reshape(b, nd, out) : NULL;
    nb_free(a);
    nb_free(b);
    return y;
}

static int64_t batch_of(const nb_tensor *x) {
    int64_t b = 1;
    for (int i = 0; i < x->ndim - 3; i++) b *= x->shape[i];
    return b;
}

nb_tensor *nb_pixel_shuffle(nb_tensor *x, int64_t r) {
    static const char fn[] = "nb_pixel_shuffle";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim < 3) return nbc_error(NB_ERR_ARG, "%s: expected input (*, C, H, W); got %s", fn, nbc_desc(x)), NULL;
    if (r < 1) return nbc_error(NB_ERR_ARG, "%s: upscale_factor %lld must be positive", fn, (long long)r), NULL;
    int nd = x->ndim;
    int64_t C = x->shape[nd - 3], H = x->shape[nd - 2], W = x->shape[nd - 1];
    if (C % (r * r))
        return nbc_error(NB_ERR_ARG, "%s: channels of %s must be divisible by upscale_factor^2 = %lld", fn, nbc_desc(x),
                         (long long)(r * r)), NULL;
    int64_t oc = C / (r * r);
    return shuffle(x, (int64_t[]){batch_of(x), oc, r, r, H, W}, (int64_t[]){0, 1, 4, 2, 5, 3}, oc, H * r, W * r);
}

nb_tensor *nb_pixel_unshuffle(nb_tensor *x, int64_t r) {
    static const char fn[] = "nb_pixel_unshuffle";
    if (!x) return nbc_null_arg(fn, 1), NULL;
    if (x->ndim < 3) return nbc_error(NB_ERR_ARG, "%s: expected input (*, C, H, W); got %s", fn, nbc_desc(x)), NULL;
    if (r < 1) return nbc_error(NB_ERR_ARG, "%s: downscale_factor %lld must be positive", fn, (long long)r), NULL;
    int nd = x->ndim;
    int64_t C = x->shape[nd - 3], H = x->shape[nd - 2], W = x->shape[nd - 1];
    if (H % r || W % r)
        return nbc_error(NB_ERR_ARG, "%s: height and width of %s must be divisible by downscale_factor %lld", fn,
                         nbc_desc(x), (long long)r), NULL;
    return shuffle(x, (int64_t[]){batch_of(x), C, H / r, r, W / r, r}, (int64_t[]){0, 1, 3, 5, 2, 4}, C * r * r, H / r,
                   W / r);
}
