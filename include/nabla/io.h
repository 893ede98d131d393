/* nabla/io.h — weights and checkpoints: safetensors, NumPy .npy / .npz, module state_dicts and exact
 * training resume.
 *
 *     // Save a model's weights (PyTorch's state_dict names) and load them back, or into torch:
 *     nb_module_save_state_dict(net, "mlp.safetensors");               // safetensors.torch.load_file()
 *     nb_load_report *rep = NULL;
 *     if (nb_module_load_state_dict(net, "mlp.safetensors", true, &rep)) puts(nb_last_error());
 *     nb_load_report_free(rep);
 *
 *     // Resume training exactly where it stopped (weights, optimiser, scheduler, RNG, loader position):
 *     nb_checkpoint ck = {.model = net, .optimizer = opt, .scheduler = sched, .loader = loader,
 *                         .epoch = epoch, .step = step};
 *     nb_checkpoint_save("run.ckpt", &ck);    // atomic: a crash mid-save leaves the old file intact
 *     ...                                     // later, with freshly built net/opt/sched/loader:
 *     nb_checkpoint_load("run.ckpt", &ck);    // ck.epoch and ck.step now hold the saved counters
 *
 * Formats. safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length, a JSON header, then the raw little-endian C-order data; every nabla dtype maps to one
 * safetensors dtype (F32, F64, F16, BF16, I8, U8, I32, I64, BOOL). .npy: NumPy's format (v1, v2 and v3
 * headers, C or Fortran order, little- or big-endian; written as v1, C order, little-endian). .npz: a
 * zip of .npy members, stored or deflated (deflate needs zlib), with ZIP64 records understood.
 *
 * Safety. Readers never execute anything and check every length, offset, dtype and shape against the
 * real size of the file before use: wrong magic, truncated files, absurd header sizes, invalid JSON or
 * UTF-8, unknown dtypes, overlapping, gapped or out-of-range tensor data, bad zip records and CRCs are
 * NB_ERR_FORMAT errors whose message names the function and the file; a missing file is NB_ERR_IO.
 * Writers write a temporary file in the same folder, fsync it, rename it over the target and fsync
 * the folder, so a crash or a full disk mid-write never leaves a half-written file behind the name.
 *
 * Tensor lists use nb_params (nn.h): (name, tensor) pairs in order. Lists returned here are new (free
 * them with nb_params_free) and hold the only references to their tensors.
 */
#ifndef NABLA_IO_H
#define NABLA_IO_H

#include "core.h"
#include "nn.h"
#include "optim.h"
#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- metadata: an ordered string -> string map (safetensors' "__metadata__") ------------------- */

typedef struct nb_metadata nb_metadata;
/* A new empty map (free with nb_metadata_free), or NULL on out-of-memory. */
NB_API nb_metadata *nb_metadata_new(void);
/* Set key to value (both copied; an existing key is replaced). Keys and values must be valid UTF-8.
 * Returns 0 or a negative nb_status. */
NB_API int nb_metadata_set(nb_metadata *m, const char *key, const char *value);
/* The value of key (borrowed: valid until the map changes), or NULL when absent (no error set). */
NB_API const char *nb_metadata_get(const nb_metadata *m, const char *key);
NB_API int nb_metadata_count(const nb_metadata *m);
/* Key / value of entry i (borrowed), NULL when i is out of range. */
NB_API const char *nb_metadata_key(const nb_metadata *m, int i);
NB_API const char *nb_metadata_value(const nb_metadata *m, int i);
NB_API void nb_metadata_free(nb_metadata *m);

/* ---- safetensors --------------------------------------------------------------------------------- */

/* Write tensors (any layout; data is written in C order) and optional metadata to path, atomically.
 * Names must be unique, non-empty, valid UTF-8 and not "__metadata__". Data is laid out by
 * decreasing element size so that every tensor is aligned in the file (and can be mapped without a
 * copy). Returns 0 or a negative nb_status (NB_ERR_IO naming the path on write failures). */
NB_API int nb_safetensors_save(const char *path, const nb_params *tensors, const nb_metadata *metadata);
/* Read a safetensors file: a new list in the header's order. The file is memory-mapped privately
 * (copy-on-write: writing into a tensor never changes the file) and every tensor whose data is
 * aligned for its dtype is a view of the mapping, without a copy; the mapping is unmapped when the
 * last such tensor dies. Other tensors (misaligned, bool data with bytes other than 0/1) are copied.
 * If metadata is not NULL it receives a new map (empty when the file has none; free it). NULL on
 * failure. */
NB_API nb_params *nb_safetensors_load(const char *path, nb_metadata **metadata);
/* The same from n bytes in memory (always copies; buf may be freed afterwards). name is used in
 * error messages only. */
NB_API nb_params *nb_safetensors_parse(const void *buf, size_t n, const char *name, nb_metadata **metadata);

/* ---- NumPy .npy / .npz --------------------------------------------------------------------------- */

/* Read one array. dtypes: f2 f4 f8 i1 u1 i4 i8 b1 as the nabla dtype of the same kind; i2 and u2 are
 * widened to i32, u4 to i64. u8 (uint64), complex, object, structured and string arrays are refused.
 * New tensor (C order, native endianness) or NULL. */
NB_API nb_tensor *nb_npy_load(const char *path);
NB_API nb_tensor *nb_npy_parse(const void *buf, size_t n, const char *name);
/* Write t as a v1.0 .npy file (C order, little-endian), atomically. bf16 has no NumPy dtype: it is
 * refused (convert with nb_to first). Returns 0 or a negative nb_status. */
NB_API int nb_npy_save(const char *path, const nb_tensor *t);
/* Read every member "<key>.npy" of an .npz archive (np.savez / np.savez_compressed) as (key, array)
 * in archive order. Member CRCs are checked. New list or NULL. */
NB_API nb_params *nb_npz_load(const char *path);
NB_API nb_params *nb_npz_parse(const void *buf, size_t n, const char *name);
/* Write arrays as "<name>.npy" members, stored (compress false, like np.savez) or deflated (like
 * np.savez_compressed; NB_ERR_UNSUPPORTED in a build without zlib). Archives must stay below 4 GiB
 * (no ZIP64 writing). Returns 0 or a negative nb_status. */
NB_API int nb_npz_save(const char *path, const nb_params *arrays, bool compress);

/* ---- module state_dicts -------------------------------------------------------------------------- */

/* Which kind of key problem a load found. */
typedef enum nb_key_issue {
    NB_KEY_MISSING = 0,    /* in the model, not in the file */
    NB_KEY_UNEXPECTED = 1, /* in the file, not in the model */
    NB_KEY_MISMATCHED = 2  /* in both, but the shape or dtype differs */
} nb_key_issue;
typedef struct nb_load_report nb_load_report;
NB_API int nb_load_report_count(const nb_load_report *r, nb_key_issue kind);
/* Name of the i-th key of that kind (borrowed), NULL when out of range. */
NB_API const char *nb_load_report_key(const nb_load_report *r, nb_key_issue kind, int i);
/* A one-line summary: "missing keys: a, b; unexpected keys: c; mismatched: w (file [3, 4] f32, model
 * [4, 3] f32)"; "" when everything matched. Borrowed. */
NB_API const char *nb_load_report_text(const nb_load_report *r);
NB_API void nb_load_report_free(nb_load_report *r);

/* Save nb_module_state_dict(m) (parameters and buffers, PyTorch's names and order) as safetensors
 * with metadata {"format": "pt"}, so safetensors.torch.load_file() + model.load_state_dict() read it.
 * Returns 0 or a negative nb_status. */
NB_API int nb_module_save_state_dict(nb_module *m, const char *path);
/* Copy the tensors of a safetensors file into m's parameters and buffers by name (outside autograd;
 * version counters are bumped). strict (PyTorch's default): any missing key, unexpected key, or shape
 * or dtype mismatch fails with NB_ERR_ARG and a message listing all of them by name, and nothing is
 * loaded. Not strict: every matching tensor is loaded and the others are reported. If report is not
 * NULL it receives a new report in both modes (also on a strict failure; NULL when the file could not
 * be read). Returns 0 or a negative nb_status. */
NB_API int nb_module_load_state_dict(nb_module *m, const char *path, bool strict, nb_load_report **report);
/* The same from an in-memory list (from nb_safetensors_load, nb_npz_load or built by hand). */
NB_API int nb_module_load_params(nb_module *m, const nb_params *state, bool strict, nb_load_report **report);

/* ---- training checkpoints ------------------------------------------------------------------------ */

/* What a checkpoint holds. model is required; optimizer, scheduler and loader may be NULL (then they
 * are neither saved nor restored). The scheduler must belong to the optimizer. */
typedef struct nb_checkpoint {
    nb_module *model;
    nb_optimizer *optimizer;  /* every group's options and lr, per-parameter step and state tensors */
    nb_scheduler *scheduler;  /* its position (last_epoch, step count, plateau statistics) */
    nb_loader *loader;        /* its epoch and batch position (nb_loader_seek on load) */
    int64_t epoch, step;      /* the caller's counters: saved, and set by nb_checkpoint_load */
    nb_metadata *metadata;    /* extra string metadata saved with it; on load, if not NULL, receives
                               * the file's metadata entries */
} nb_checkpoint;
/* Save everything, plus the global RNG state (nb_rng_get_state), in one safetensors file: model
 * tensors as "model.<name>", optimiser state as "optimizer.state.<i>.<name>" (i counts parameters
 * across groups, as PyTorch's optimizer state_dict), the rest as "nabla.*" metadata. Atomic.
 * Returns 0 or a negative nb_status. */
NB_API int nb_checkpoint_save(const char *path, const nb_checkpoint *ck);
/* Restore a checkpoint into freshly built objects of the same architecture and kinds. Everything is
 * checked first (names, shapes, dtypes, optimiser type, group and parameter counts, scheduler type)
 * and nothing is changed on a mismatch. Then the weights, optimiser, scheduler, loader position and
 * the global RNG are restored and ck->epoch / ck->step are set: training continues bit for bit as if
 * it had never stopped. Returns 0 or a negative nb_status. */
NB_API int nb_checkpoint_load(const char *path, nb_checkpoint *ck);

#ifdef __cplusplus
}
#endif
#endif
