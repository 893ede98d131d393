/* io/io_internal.h — private API of the io layer (prefix nbio_): atomic file writing, read-only file
 * mapping shared by the tensors that view it, CRC-32, UTF-8 checks, the metadata map and the
 * in-memory parsers the fuzz targets call. io sits above core, ops, nn, optim and data (checkpoints
 * reach into the optimiser and the loader). Nothing public includes this.
 */
#ifndef NABLA_IO_INTERNAL_H
#define NABLA_IO_INTERNAL_H

#include "../optim/optim_internal.h"

#include <nabla/io.h>

/* ---- atomic writing ----------------------------------------------------------------------------- */

/* A file being written under a temporary name in the target's folder. */
typedef struct nbio_writer {
    const char *fn, *path;
    char *tmp;          /* temporary path (nbc_raw_alloc, tmp_cap bytes) */
    size_t tmp_cap;
    int fd;
    uint64_t written;
    int err;            /* first error (nb_status), sticky */
} nbio_writer;

/* Create the temporary file. Returns 0 or a negative nb_status (error names fn and path). */
int nbio_wopen(nbio_writer *w, const char *fn, const char *path);
/* Append n bytes (no-op after an error). Returns 0 or the sticky error. */
int nbio_write(nbio_writer *w, const void *p, size_t n);
/* fsync, close, rename over path, fsync the folder. On any earlier or new error the temporary file is
 * removed and the target is untouched. Returns 0 or a negative nb_status. Always releases w. */
int nbio_wcommit(nbio_writer *w);
/* Give up: close and remove the temporary file. */
void nbio_wabort(nbio_writer *w);

/* Test hook (tests declare it themselves): after `bytes` more bytes have been written by atomic
 * writers in this process, mode 1 kills the process with SIGKILL, mode 2 fails the write with ENOSPC.
 * bytes < 0 disarms. */
void nbio_test_fail_after(int64_t bytes, int mode);

/* ---- reading ------------------------------------------------------------------------------------ */

/* A whole file in memory: mapped privately (copy-on-write) or read into a buffer. Refcounted: each
 * tensor viewing it holds one reference; nbio_map_decref by the last holder unmaps / frees it. */
typedef struct nbio_map {
    atomic_int refs;
    uint8_t *data;
    size_t size;
    bool mapped;
    size_t cap;  /* buffer capacity when read (not mapped) */
} nbio_map;
/* Map path (fn names the caller in errors). Returns a map with one reference, or NULL. */
nbio_map *nbio_map_file(const char *fn, const char *path);
void nbio_map_decref(nbio_map *m);
/* The nb_release_fn for tensors viewing a map (user_data is the map). */
void nbio_map_release(void *data, void *user_data);

/* ---- helpers ------------------------------------------------------------------------------------ */

uint32_t nbio_crc32(uint32_t crc, const void *p, size_t n);
/* Whether s[0..n) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool nbio_utf8_valid(const uint8_t *s, size_t n);
/* Byte size of ndim/shape of dtype with overflow checks: false on overflow. */
bool nbio_nbytes(int ndim, const int64_t *shape, nb_dtype dtype, uint64_t *out);

/* ---- metadata ----------------------------------------------------------------------------------- */

struct nb_metadata {
    int n, cap;
    char **keys, **values;
};
/* nb_metadata_set without the UTF-8 check and with fn in errors. */
int nbio_meta_set(const char *fn, nb_metadata *m, const char *key, const char *value);

/* ---- parsers (also the fuzz targets' entry points) ----------------------------------------------- */

/* Parse a safetensors file of n bytes at buf. If map is not NULL (buf == map->data), aligned tensors
 * view the map (each taking a reference); otherwise everything is copied. Returns a new list, or NULL
 * with the error set (naming fn and name). *metadata (if metadata) receives a new map. */
nb_params *nbio_st_parse(const char *fn, const uint8_t *buf, size_t n, const char *name, nbio_map *map,
                         nb_metadata **metadata);
nb_tensor *nbio_npy_parse(const char *fn, const uint8_t *buf, size_t n, const char *name);
nb_params *nbio_npz_parse(const char *fn, const uint8_t *buf, size_t n, const char *name);

/* Write safetensors to an open writer (for checkpoints). */
int nbio_st_write(const char *fn, const char *path, const nb_params *tensors, const nb_metadata *metadata);

/* ---- state_dict matching (state_dict.c; checkpoint.c reuses it) ---------------------------------- */

/* A new empty report, or NULL with NB_ERR_NOMEM. */
nb_load_report *nbio_report_new(const char *fn);
/* Match the module state_dict sd against state, looking sd's names up as prefix + name: map[i]
 * receives the index in state of sd's entry i, or -1 when missing or mismatched. Fills r's lists and
 * text. Returns 0 or NB_ERR_NOMEM. */
int nbio_match(const char *fn, const nb_params *sd, const nb_params *state, const char *prefix, nb_load_report *r,
               int *map);
/* Copy src into dst (same shape and dtype) bit for bit, outside autograd, bumping dst's version. */
int nbio_copy_exact(const char *fn, nb_tensor *dst, nb_tensor *src);

/* The safetensors name of a dtype ("F32"), and back (-1 when unknown). */
const char *nbio_st_dtype_name(nb_dtype d);

#endif
