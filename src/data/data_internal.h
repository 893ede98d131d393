/* data/data_internal.h — private API of the data layer (prefix nbd_): the in-memory parsers behind
 * nb_idx_read / nb_csv_read (also the entry points of the fuzz targets, so they need no files), whole
 * file reading, the counter-based permutation shared by nb_dataset_split and the loader, and the
 * dataset structure the loader looks inside to gather rows of in-memory datasets with memcpy.
 * Nothing public includes this.
 */
#ifndef NABLA_DATA_INTERNAL_H
#define NABLA_DATA_INTERNAL_H

#include "../core/internal.h"

/* Parse a whole IDX file held in memory (gzipped or not, detected by the gzip magic bytes). name is
 * used in error messages only. Returns a new, untracked tensor, or NULL with the error set. */
nb_tensor *nbd_idx_parse(const void *buf, size_t n, const char *name);

/* nb_idx_read without registering the result in a scope (for internal owners). */
nb_tensor *nbd_idx_read_file(const char *path);

/* Parse a whole numeric CSV file held in memory (opts may be NULL). name is used in error messages
 * only. Returns a new, untracked (rows, cols) tensor, or NULL with the error set. */
nb_tensor *nbd_csv_parse(const void *buf, size_t n, const char *name, const nb_csv_opts *opts);

/* Read a whole file into a buffer from nbc_raw_alloc (free it with nbc_raw_free(*buf, *cap)). On
 * failure returns a negative nb_status with an error naming fn and the path. */
int nbd_read_file(const char *fn, const char *path, uint8_t **buf, size_t *n, size_t *cap);

/* A key for the Philox generator derived from (seed, a, stream): different streams and different a
 * (an epoch, say) give unrelated keys. */
uint64_t nbd_key(uint64_t seed, uint64_t a, uint64_t stream);
enum { NBD_STREAM_SHUFFLE = 1, NBD_STREAM_AUGMENT = 2, NBD_STREAM_SPLIT = 3 };
/* Fill out[0..n) with a permutation of 0..n-1 drawn from Philox with the given key (Fisher-Yates,
 * draw i from counter i): a pure function of (n, key). */
void nbd_permutation(int64_t n, uint64_t key, int64_t *out);

/* ---- datasets ---------------------------------------------------------------------------------- */

typedef enum nbd_kind { NBD_TENSOR, NBD_USER, NBD_INDEX } nbd_kind;

struct nb_dataset {
    atomic_int refcount; /* 1 for the user's handle, +1 for every dataset (subset/split) built on it */
    nbd_kind kind;
    int64_t n; /* samples (for NBD_USER: asked from vt.len at each nb_dataset_len) */
    /* NBD_TENSOR: contiguous x (n, ...) and optional y (n, ...), owned references */
    nb_tensor *x, *y;
    /* NBD_USER */
    nb_dataset_vtable vt;
    void *self;
    /* NBD_INDEX: sample i is parent's sample idx[i] (or start + i when idx is NULL) */
    nb_dataset *parent;
    int64_t start;
    int64_t *idx;
};

/* Sample i (already range-checked) of d: nb_dataset_get without the checks, for the loader. */
int nbd_dataset_get_unchecked(const nb_dataset *d, int64_t i, nb_tensor **x, nb_tensor **y);

/* Copy the elements of t (any layout) into dst in C order. */
void nbd_copy_contiguous(const nb_tensor *t, void *dst);

#endif
