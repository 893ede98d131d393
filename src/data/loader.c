/* data/loader.c — the batching data loader: per-epoch shuffling, batching, drop_last, augmentation
 * of (N, C, H, W) image batches, and a background thread that prepares the next batch while the
 * caller trains on the current one. Batch (epoch e, index p) is a pure function of (dataset, options,
 * e, p): the permutation comes from Philox keyed by (seed, e), the augmentation of the k-th sample of
 * the epoch from Philox counter k keyed by (seed, e), so prefetching, seeking and thread counts never
 * change what a batch holds. In-memory datasets (tensor datasets and subsets/splits of them) are
 * gathered row by row with memcpy straight into the batch tensor; other datasets are read sample by
 * sample and stacked. The loader does not own the dataset and does not decode files (dataset.c and
 * the readers do). Batches are internal references: never registered in the caller's scopes, which
 * are thread-local and would not be visible from the prefetch thread anyway.
 */
#include "data_internal.h"

#include <pthread.h>
#include <string.h>

static const char FN_NEXT[] = "nb_loader_next";

struct nb_loader {
    nb_dataset *d;
    nb_loader_opts o;
    int64_t n, nbatches;
    /* In-memory fast path: the tensor dataset at the root and the row of it for each sample of d
     * (map NULL: sample i is row i). root NULL: read samples through the dataset. */
    const nb_dataset *root;
    int64_t *map;
    /* Producer state: used by one thread at a time (the worker, or the caller when it is idle). */
    int64_t perm_epoch;
    int64_t *perm;
    /* Consumer state. */
    int64_t epoch, pos;
    nb_tensor *cur_x, *cur_y;
    /* Prefetch. */
    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool busy, has_result, quit;
    int64_t job_e, job_p;
    nb_tensor *res_x, *res_y;
    nb_status res_status;
    char res_msg[1024];
};

/* ---- producing one batch ----------------------------------------------------------------------- */

static int64_t sample_of(nb_loader *l, int64_t e, int64_t k) {
    if (!l->o.shuffle) return k;
    if (l->perm_epoch != e) {
        nbd_permutation(l->n, nbd_key(l->o.seed, (uint64_t)e, NBD_STREAM_SHUFFLE), l->perm);
        l->perm_epoch = e;
    }
    return l->perm[k];
}

static int gather_rows(nb_loader *l, int64_t e, int64_t start, int64_t count, nb_tensor **bx, nb_tensor **by) {
    const nb_dataset *r = l->root;
    const nb_tensor *src[2] = {r->x, r->y};
    nb_tensor *out[2] = {NULL, NULL};
    for (int t = 0; t < 2; t++) {
        if (!src[t]) continue;
        int64_t shape[NB_MAX_DIMS];
        memcpy(shape, src[t]->shape, sizeof shape);
        shape[0] = count;
        out[t] = nbc_tensor_new(FN_NEXT, src[t]->dtype, src[t]->ndim, shape);
        if (!out[t]) {
            nbc_decref(out[0]);
            return nb_last_status();
        }
    }
    for (int t = 0; t < 2; t++) {
        if (!src[t]) continue;
        size_t row = (size_t)nbc_numel(src[t]->ndim - 1, src[t]->shape + 1) * nb_dtype_size(src[t]->dtype);
        const char *s = nbc_ptr(src[t]);
        char *dst = out[t]->storage->data;
        for (int64_t j = 0; j < count; j++) {
            int64_t i = sample_of(l, e, start + j);
            if (l->map) i = l->map[i];
            if (row) memcpy(dst + (size_t)j * row, s + (size_t)i * row, row);
        }
    }
    *bx = out[0];
    *by = out[1];
    return 0;
}

static bool same_meta(const nb_tensor *a, const nb_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* Read count samples through the dataset and stack them into (count, ...) tensors. */
static int stack_samples(nb_loader *l, int64_t e, int64_t start, int64_t count, nb_tensor **bx, nb_tensor **by) {
    nb_tensor *out[2] = {NULL, NULL}, *first[2] = {NULL, NULL};
    int64_t first_i = -1;
    int rc = 0;
    for (int64_t j = 0; j < count; j++) {
        int64_t i = sample_of(l, e, start + j);
        nb_tensor *s[2];
        rc = nbd_dataset_get_unchecked(l->d, i, &s[0], &s[1]);
        if (rc) goto fail;
        if (j == 0) {
            first_i = i;
            for (int t = 0; t < 2; t++) {
                if (!s[t]) continue;
                if (s[t]->ndim >= NB_MAX_DIMS) {
                    rc = nbc_error(NB_ERR_ARG, "%s: sample %lld's %s has %d dims; a batch of it would exceed %d",
                                   FN_NEXT, (long long)i, t ? "target" : "input", s[t]->ndim, NB_MAX_DIMS);
                    break;
                }
                int64_t shape[NB_MAX_DIMS];
                shape[0] = count;
                memcpy(shape + 1, s[t]->shape, (size_t)s[t]->ndim * sizeof(int64_t));
                out[t] = nbc_tensor_new(FN_NEXT, s[t]->dtype, s[t]->ndim + 1, shape);
                if (!out[t]) {
                    rc = nb_last_status();
                    break;
                }
                first[t] = s[t];
                nbc_incref(first[t]);
            }
        } else {
            for (int t = 0; t < 2 && !rc; t++) {
                if (!s[t] != !first[t] || (s[t] && !same_meta(s[t], first[t]))) {
                    rc = nbc_error(NB_ERR_ARG,
                                   "%s: sample %lld's %s (%s) does not match sample %lld's (%s) in the same batch",
                                   FN_NEXT, (long long)i, t ? "target" : "input", s[t] ? nbc_desc(s[t]) : "none",
                                   (long long)first_i, first[t] ? nbc_desc(first[t]) : "none");
                }
            }
        }
        for (int t = 0; t < 2 && !rc; t++) {
            if (!s[t]) continue;
            size_t row = (size_t)nbc_numel(s[t]->ndim, s[t]->shape) * nb_dtype_size(s[t]->dtype);
            nbd_copy_contiguous(s[t], (char *)out[t]->storage->data + (size_t)j * row);
        }
        nb_free(s[0]);
        nb_free(s[1]);
        if (rc) goto fail;
    }
    nbc_decref(first[0]);
    nbc_decref(first[1]);
    *bx = out[0];
    *by = out[1];
    return 0;
fail:
    nbc_decref(first[0]);
    nbc_decref(first[1]);
    nbc_decref(out[0]);
    nbc_decref(out[1]);
    return rc;
}

/* Random crop with zero padding and random horizontal flip, sample by sample, in place. */
static int augment(nb_loader *l, int64_t e, int64_t start, nb_tensor *x) {
    const nb_augment_opts *a = &l->o.augment;
    if (a->random_crop_padding <= 0 && !a->random_hflip) return 0;
    if (x->ndim != 4)
        return nbc_error(NB_ERR_ARG, "%s: augmentation needs (N, C, H, W) image batches; this batch has shape %s",
                         FN_NEXT, nbc_shape_str(x->ndim, x->shape));
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], pad = a->random_crop_padding;
    size_t es = nb_dtype_size(x->dtype), rowb = (size_t)W * es, sample = (size_t)(C * H) * rowb;
    if (sample == 0) return 0;
    char *scratch = NULL;
    if (pad > 0) {
        scratch = nbc_raw_alloc(sample);
        if (!scratch) return nbc_oom(FN_NEXT);
    }
    uint64_t key = nbd_key(l->o.seed, (uint64_t)e, NBD_STREAM_AUGMENT);
    char *base = x->storage->data;
    for (int64_t j = 0; j < N; j++) {
        uint32_t r[4];
        nbc_philox((uint64_t)(start + j), key, r); /* counter: the sample's position in the epoch */
        char *img = base + (size_t)j * sample;
        if (pad > 0) {
            int64_t dy = (int64_t)(r[0] % (uint32_t)(2 * pad + 1)) - pad;
            int64_t dx = (int64_t)(r[1] % (uint32_t)(2 * pad + 1)) - pad;
            memcpy(scratch, img, sample);
            /* out[y][x] = in[y + dy][x + dx], zero outside */
            int64_t x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? W - dx : W;
            if (x1 < x0) x1 = x0;
            for (int64_t c = 0; c < C; c++)
                for (int64_t yy = 0; yy < H; yy++) {
                    char *dst = img + (size_t)(c * H + yy) * rowb;
                    int64_t sy = yy + dy;
                    if (sy < 0 || sy >= H || x1 == x0) {
                        memset(dst, 0, rowb);
                        continue;
                    }
                    const char *srow = scratch + (size_t)(c * H + sy) * rowb;
                    memset(dst, 0, (size_t)x0 * es);
                    memcpy(dst + (size_t)x0 * es, srow + (size_t)(x0 + dx) * es, (size_t)(x1 - x0) * es);
                    memset(dst + (size_t)x1 * es, 0, (size_t)(W - x1) * es);
                }
        }
        if (a->random_hflip && (r[2] & 1)) {
            char tmp[16];
            for (int64_t row = 0; row < C * H; row++) {
                char *p = img + (size_t)row * rowb;
                for (int64_t i = 0, k = W - 1; i < k; i++, k--) {
                    memcpy(tmp, p + (size_t)i * es, es);
                    memcpy(p + (size_t)i * es, p + (size_t)k * es, es);
                    memcpy(p + (size_t)k * es, tmp, es);
                }
            }
        }
    }
    if (scratch) nbc_raw_free(scratch, sample);
    return 0;
}

static int produce(nb_loader *l, int64_t e, int64_t p, nb_tensor **bx, nb_tensor **by) {
    *bx = *by = NULL;
    int64_t start = p * l->o.batch_size, count = l->n - start;
    if (count > l->o.batch_size) count = l->o.batch_size;
    int rc = l->root ? gather_rows(l, e, start, count, bx, by) : stack_samples(l, e, start, count, bx, by);
    if (!rc) rc = augment(l, e, start, *bx);
    if (rc) {
        nbc_decref(*bx);
        nbc_decref(*by);
        *bx = *by = NULL;
    }
    return rc;
}

/* ---- the prefetch thread ----------------------------------------------------------------------- */

static void *worker_main(void *arg) {
    nb_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->busy && !l->quit) pthread_cond_wait(&l->cv, &l->mu);
        if (l->quit) break;
        int64_t e = l->job_e, p = l->job_p;
        pthread_mutex_unlock(&l->mu);
        nb_tensor *x, *y;
        nb_clear_error();
        int rc = produce(l, e, p, &x, &y);
        pthread_mutex_lock(&l->mu);
        l->res_x = x;
        l->res_y = y;
        l->res_status = (nb_status)rc;
        l->res_msg[0] = 0;
        if (rc) {
            snprintf(l->res_msg, sizeof l->res_msg, "%s", nb_last_error());
            nb_clear_error();
        }
        l->has_result = true;
        l->busy = false;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void post_job(nb_loader *l, int64_t e, int64_t p) {
    pthread_mutex_lock(&l->mu);
    l->job_e = e;
    l->job_p = p;
    l->busy = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Wait for the worker to be idle; take its result if it is batch (e, p), else drop it. Returns
 * true when the result was taken (*rc then holds its status, with the error re-raised here). */
static bool take_result(nb_loader *l, int64_t e, int64_t p, nb_tensor **x, nb_tensor **y, int *rc) {
    pthread_mutex_lock(&l->mu);
    while (l->busy) pthread_cond_wait(&l->cv, &l->mu);
    bool hit = l->has_result && l->job_e == e && l->job_p == p;
    nb_tensor *rx = l->res_x, *ry = l->res_y;
    nb_status st = l->res_status;
    l->res_x = l->res_y = NULL;
    l->has_result = false;
    pthread_mutex_unlock(&l->mu);
    if (!hit) {
        nbc_decref(rx);
        nbc_decref(ry);
        return false;
    }
    *x = rx;
    *y = ry;
    *rc = st;
    if (st) nbc_error(st, "%s", l->res_msg);
    return true;
}

/* ---- public API -------------------------------------------------------------------------------- */

void nb_loader_free(nb_loader *l) {
    if (!l) return;
    if (l->threaded) {
        pthread_mutex_lock(&l->mu);
        l->quit = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
    }
    nbc_decref(l->res_x);
    nbc_decref(l->res_y);
    nbc_decref(l->cur_x);
    nbc_decref(l->cur_y);
    if (l->map) nbc_raw_free(l->map, (size_t)l->n * sizeof(int64_t));
    if (l->perm) nbc_raw_free(l->perm, (size_t)l->n * sizeof(int64_t));
    nbc_raw_free(l, sizeof *l);
}

nb_loader *nb_loader_new(nb_dataset *d, const nb_loader_opts *opts) {
    static const char fn[] = "nb_loader_new";
    if (!d) {
        nbc_error(NB_ERR_ARG, "%s: dataset is NULL", fn);
        return NULL;
    }
    nb_loader_opts o = opts ? *opts : (nb_loader_opts){0};
    if (o.batch_size < 0) {
        nbc_error(NB_ERR_ARG, "%s: batch_size %lld is negative", fn, (long long)o.batch_size);
        return NULL;
    }
    if (o.batch_size == 0) o.batch_size = 1;
    if (o.augment.random_crop_padding < 0) {
        nbc_error(NB_ERR_ARG, "%s: augment.random_crop_padding %d is negative", fn, o.augment.random_crop_padding);
        return NULL;
    }
    int64_t n = nb_dataset_len(d);
    if (n < 0) return NULL;
    if ((uint64_t)n > SIZE_MAX / sizeof(int64_t)) {
        nbc_oom(fn);
        return NULL;
    }
    nb_loader *l = nbc_calloc(fn, sizeof *l);
    if (!l) return NULL;
    l->d = d;
    l->o = o;
    l->n = n;
    l->nbatches = o.drop_last ? n / o.batch_size : n / o.batch_size + (n % o.batch_size != 0);
    l->perm_epoch = -1;
    /* Find the in-memory root, composing index views into one row map. */
    const nb_dataset *r = d;
    while (r->kind == NBD_INDEX) r = r->parent;
    if (r->kind == NBD_TENSOR) {
        l->root = r;
        if (r != d) {
            l->map = nbc_raw_alloc((size_t)n * sizeof(int64_t));
            if (!l->map) goto oom;
            for (int64_t i = 0; i < n; i++) {
                int64_t k = i;
                for (const nb_dataset *v = d; v->kind == NBD_INDEX; v = v->parent)
                    k = v->idx ? v->idx[k] : v->start + k;
                l->map[i] = k;
            }
        }
        bool aug = o.augment.random_crop_padding > 0 || o.augment.random_hflip;
        if (aug && r->x->ndim != 4) {
            nbc_error(NB_ERR_ARG, "%s: augmentation needs (N, C, H, W) images; the dataset's inputs have shape %s", fn,
                      nbc_shape_str(r->x->ndim, r->x->shape));
            nb_loader_free(l);
            return NULL;
        }
    }
    if (o.shuffle) {
        l->perm = nbc_raw_alloc((size_t)n * sizeof(int64_t));
        if (!l->perm) goto oom;
    }
    if (!o.no_prefetch && l->nbatches > 0) {
        if (pthread_mutex_init(&l->mu, NULL) == 0) {
            if (pthread_cond_init(&l->cv, NULL) == 0) {
                if (pthread_create(&l->thread, NULL, worker_main, l) == 0)
                    l->threaded = true;
                else
                    pthread_cond_destroy(&l->cv);
            }
            if (!l->threaded) pthread_mutex_destroy(&l->mu);
        }
        /* Without a thread the loader still works, synchronously: same batches, no overlap. */
    }
    return l;
oom:
    nb_loader_free(l);
    nbc_oom(fn);
    return NULL;
}

bool nb_loader_next(nb_loader *l, nb_batch *b) {
    if (!l || !b) {
        nbc_error(NB_ERR_ARG, "%s: %s is NULL", FN_NEXT, !l ? "loader" : "batch");
        return false;
    }
    b->x = b->y = NULL;
    nbc_decref(l->cur_x);
    nbc_decref(l->cur_y);
    l->cur_x = l->cur_y = NULL;
    if (l->pos >= l->nbatches) {
        l->epoch++;
        l->pos = 0;
        return false;
    }
    int64_t e = l->epoch, p = l->pos;
    nb_tensor *x = NULL, *y = NULL;
    int rc = 0;
    if (!l->threaded || !take_result(l, e, p, &x, &y, &rc)) rc = produce(l, e, p, &x, &y);
    if (rc) return false;
    l->pos++;
    l->cur_x = b->x = x;
    l->cur_y = b->y = y;
    if (l->threaded) {
        if (p + 1 < l->nbatches)
            post_job(l, e, p + 1);
        else
            post_job(l, e + 1, 0);
    }
    return true;
}

int64_t nb_loader_len(const nb_loader *l) {
    if (!l) return nbc_error(NB_ERR_ARG, "nb_loader_len: loader is NULL");
    return l->nbatches;
}

int64_t nb_loader_epoch(const nb_loader *l) {
    if (!l) return nbc_error(NB_ERR_ARG, "nb_loader_epoch: loader is NULL");
    return l->epoch;
}

int64_t nb_loader_position(const nb_loader *l) {
    if (!l) return nbc_error(NB_ERR_ARG, "nb_loader_position: loader is NULL");
    return l->pos;
}

int nb_loader_seek(nb_loader *l, int64_t epoch, int64_t position) {
    if (!l) return nbc_error(NB_ERR_ARG, "nb_loader_seek: loader is NULL");
    if (epoch < 0 || position < 0 || position > l->nbatches)
        return nbc_error(NB_ERR_ARG,
                         "nb_loader_seek: (epoch %lld, position %lld) is out of range (%lld batches per epoch)",
                         (long long)epoch, (long long)position, (long long)l->nbatches);
    l->epoch = epoch;
    l->pos = position;
    return 0;
}
