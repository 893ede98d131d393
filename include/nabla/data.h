/* nabla/data.h — datasets, file readers (IDX, CSV) and the batching data loader.
 *
 *     nb_dataset *train = nb_idx_dataset(FMNIST "/train-images-idx3-ubyte.gz",
 *                                        FMNIST "/train-labels-idx1-ubyte.gz", NULL);
 *     nb_loader *loader = nb_loader_new(train, &(nb_loader_opts){.batch_size = 64, .shuffle = true, .seed = 1});
 *     for (nb_batch b; nb_loader_next(loader, &b);) {   // one epoch; the next call starts the next
 *         ... b.x is (64, 1, 28, 28) f32 in [0, 1], b.y is (64) i64 ...
 *     }
 *     nb_loader_free(loader);
 *     nb_dataset_free(train);
 *
 * A dataset is a length plus a way to get sample i. Tensor datasets (everything in memory) let the
 * loader gather a batch with a few memcpy calls; other datasets are read sample by sample.
 */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- readers ------------------------------------------------------------------------------------- */

/* Read an IDX file (the MNIST format), gzipped (by magic bytes, via zlib) or not, into a tensor of
 * the file's type (u8, i8, i32, f32, f64; 16-bit ints become i32) and shape (1..NB_MAX_DIMS dims).
 * Every header field and length is checked against the real size: a wrong magic or type code, a
 * truncated header or payload, trailing bytes, absurd dims and damaged gzip data are NB_ERR_FORMAT
 * errors naming the file; a missing file is NB_ERR_IO; a gzipped file in a build without zlib is
 * NB_ERR_UNSUPPORTED. New tensor or NULL. */
NB_API nb_tensor *nb_idx_read(const char *path);

typedef struct nb_csv_opts {
    char delimiter;   /* default ','; not a digit, letter, sign, '.', '"' or line break */
    bool has_header;  /* skip the first line */
    nb_dtype dtype;   /* of the result; default (0) f32 */
} nb_csv_opts;
/* Read a numeric CSV file into a (rows, cols) tensor (opts may be NULL). Lines end in \n or \r\n;
 * spaces and tabs around fields, blank lines and a UTF-8 byte-order mark are ignored. Fields are
 * numbers as strtod reads them (nan and inf included); for integer dtypes they must be whole and in
 * range. Quoted fields, text and empty fields are not supported. A bad row (wrong column count, a
 * field that is not a number, a quote) is an NB_ERR_FORMAT error naming file:line:column; a file with
 * no data rows is an error too. New tensor or NULL. */
NB_API nb_tensor *nb_csv_read(const char *path, const nb_csv_opts *opts);

/* ---- datasets ------------------------------------------------------------------------------------ */

typedef struct nb_dataset nb_dataset;

/* A user dataset: get(i) writes new references to sample i's input and target (without the batch
 * dim) to *x and *y (*y may stay NULL: inputs only) and returns 0, or a negative nb_status (setting
 * the error). Every sample must have the same shapes and dtypes for the loader to stack them.
 * A loader with prefetch calls get on its background thread, where no scope is open: get must free
 * its own temporaries by hand, and should not draw from the global generator if batches are to be
 * reproducible. */
typedef struct nb_dataset_vtable {
    int64_t (*len)(void *self);
    int (*get)(void *self, int64_t i, nb_tensor **x, nb_tensor **y);
    void (*free)(void *self); /* may be NULL */
} nb_dataset_vtable;
/* A dataset over user code (vt is copied; len and get are required). vt->free(self) runs when the
 * dataset is freed. New dataset or NULL (on failure self is not freed: the caller still owns it). */
NB_API nb_dataset *nb_dataset_new(const nb_dataset_vtable *vt, void *self);

/* Samples are x[i] and y[i] along the first dim (y may be NULL for inputs only); x and y need >= 1
 * dim and the same first size. Keeps references (a non-contiguous x or y is copied once, so the
 * loader can gather rows with memcpy). New dataset or NULL. */
NB_API nb_dataset *nb_tensor_dataset(nb_tensor *x, nb_tensor *y);

typedef struct nb_idx_opts {
    bool flatten;        /* images as (N, H*W) instead of (N, 1, H, W) */
    double mean, std;    /* after scaling to [0, 1]: (x - mean) / std; std 0 = no normalisation */
    int64_t limit;       /* keep only the first `limit` samples (0 = all) */
} nb_idx_opts;
/* An image/label IDX pair (MNIST, Fashion-MNIST) as an in-memory tensor dataset: images f32 (u8
 * pixels scaled to [0, 1], other types converted as they are; then normalised if asked), (N, H, W)
 * files as (N, 1, H, W); labels (1-d integers) as i64. Checks that the counts agree (an error naming
 * both files otherwise). opts may be NULL. New dataset or NULL. */
NB_API nb_dataset *nb_idx_dataset(const char *images_path, const char *labels_path, const nb_idx_opts *opts);

/* Number of samples, or a negative nb_status (NULL dataset, or a user len() that returned < 0). */
NB_API int64_t nb_dataset_len(const nb_dataset *d);
/* Sample i (new references, registered in the current scope; for tensor datasets, views of row i).
 * *y is NULL for datasets without targets. Returns 0 or a negative nb_status (NB_ERR_ARG for i out of
 * range). */
NB_API int nb_dataset_get(const nb_dataset *d, int64_t i, nb_tensor **x, nb_tensor **y);
/* The in-memory tensors of a tensor dataset (borrowed: valid while d lives), or NULL for other
 * datasets: user datasets and split parts (a subset of a tensor dataset is itself a tensor dataset). */
NB_API nb_tensor *nb_dataset_inputs(const nb_dataset *d);
NB_API nb_tensor *nb_dataset_targets(const nb_dataset *d);
/* Samples [start, start + count) of d as a new dataset (keeps d alive). For a tensor dataset the
 * result is a tensor dataset on views of the same storage (no copy). New dataset or NULL. */
NB_API nb_dataset *nb_dataset_subset(nb_dataset *d, int64_t start, int64_t count);
/* Shuffle (seeded) and split into a first part of round(fraction * len) samples and the rest, as
 * torch.utils.data.random_split. Both are new datasets: index views that keep d alive (no copy; the
 * loader still gathers them with memcpy when d is in memory). The permutation is a pure function of
 * (len, seed). fraction must be in [0, 1]. Returns 0 or a negative nb_status (*first = *rest = NULL). */
NB_API int nb_dataset_split(nb_dataset *d, double fraction, uint64_t seed, nb_dataset **first, nb_dataset **rest);
/* Drop the caller's handle. Datasets built on d (subsets, splits) keep it alive until they are freed
 * too, in any order. NULL is ignored. */
NB_API void nb_dataset_free(nb_dataset *d);

/* ---- transforms (applied by the loader to each training batch of images (N, C, H, W)) ---------- */

/* Random crop then random flip, per sample, drawn from Philox keyed by (seed, epoch) at the sample's
 * position in the epoch: reproducible, and independent of prefetching and thread counts. Any dtype
 * (the padding is zero bytes). Use a loader without augmentation for evaluation. */
typedef struct nb_augment_opts {
    int random_crop_padding; /* pad by this many zeros, then crop back at a random offset (0 = off) */
    bool random_hflip;       /* flip left-right with probability 1/2 */
} nb_augment_opts;

/* ---- loader -------------------------------------------------------------------------------------- */

typedef struct nb_loader nb_loader;

typedef struct nb_loader_opts {
    int64_t batch_size;     /* default (0) 1 */
    bool shuffle;           /* a new permutation each epoch, from seed and the epoch number */
    uint64_t seed;
    bool drop_last;         /* drop the last incomplete batch */
    bool no_prefetch;       /* default: a background thread prepares the next batch (identical
                             * batches either way) */
    nb_augment_opts augment;
} nb_loader_opts;

typedef struct nb_batch {
    nb_tensor *x; /* (B, ...) */
    nb_tensor *y; /* (B, ...) or NULL */
} nb_batch;

/* A loader over d (borrowed: d must outlive the loader; its length is read once, here). opts may be
 * NULL. Errors: batch_size < 0, a negative crop padding, augmentation of in-memory inputs that are
 * not (N, C, H, W). New loader or NULL. */
NB_API nb_loader *nb_loader_new(nb_dataset *d, const nb_loader_opts *opts);
/* The next batch of the current epoch: true and *b filled, or false at the end of the epoch (the
 * following call starts the next epoch). The batch's tensors belong to the loader (not registered in
 * any scope: do not nb_free them) and stay valid until the next call: retain them (nb_retain) to keep
 * them longer. The last batch is smaller unless drop_last. On error returns false with the error set
 * (nb_last_status() != 0) and the position unchanged. */
NB_API bool nb_loader_next(nb_loader *l, nb_batch *b);
/* Batches per epoch (a negative nb_status for a NULL loader). */
NB_API int64_t nb_loader_len(const nb_loader *l);
/* The epoch the next call belongs to (0-based) and the batch index inside it, for exact resume. After
 * the last batch of epoch e they are (e, nb_loader_len) until the call that returns false moves them
 * to (e + 1, 0). */
NB_API int64_t nb_loader_epoch(const nb_loader *l);
NB_API int64_t nb_loader_position(const nb_loader *l);
/* Continue from (epoch, batch index), 0 <= position <= nb_loader_len: the same batches an
 * uninterrupted run would have produced. Returns 0 or NB_ERR_ARG. */
NB_API int nb_loader_seek(nb_loader *l, int64_t epoch, int64_t position);
/* Stop the prefetch thread and free the loader and its batches. NULL is ignored. */
NB_API void nb_loader_free(nb_loader *l);

#ifdef __cplusplus
}
#endif
#endif
