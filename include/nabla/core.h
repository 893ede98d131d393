/* nabla/core.h — tensors, dtypes, memory, errors, random numbers, threads.
 *
 * Worked example:
 *
 *     nb_scope_begin();                                  // everything created below is freed at scope end
 *     nb_tensor *a = nb_arange(0, 6, 1, NB_F32);         // tensor([0., 1., 2., 3., 4., 5.])
 *     nb_tensor *b = nb_reshape(a, NB_SHAPE(2, 3));      // a view: shares a's storage
 *     if (!b) { fprintf(stderr, "%s\n", nb_last_error()); return 1; }
 *     nb_print(nb_transpose(b, 0, 1));                   // tensor([[0., 3.], [1., 4.], [2., 5.]], ...)
 *     nb_scope_end();
 *
 * Ownership: every function that returns an `nb_tensor *` returns a NEW reference owned by the caller,
 * unless its comment says otherwise. Drop it with nb_free(), or let the innermost open scope drop it.
 * Failure: functions returning a pointer return NULL and set the thread-local error (nb_last_error());
 * functions returning int return 0 on success and a negative nb_status on failure. Passing a NULL tensor
 * to any function fails without overwriting the error already set, so chains can be checked once.
 */
#ifndef NABLA_CORE_H
#define NABLA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* NB_API marks every exported symbol; everything else in the library is hidden. */
#if defined(_WIN32) && defined(NABLA_SHARED_BUILD)
#define NB_API __declspec(dllexport)
#elif defined(__GNUC__)
#define NB_API __attribute__((visibility("default")))
#else
#define NB_API
#endif

#define NB_MAX_DIMS 8

/* ---------------------------------------------------------------------------------------------- */
/* Data types                                                                                      */

typedef enum nb_dtype {
    NB_F32 = 0, /* default floating type */
    NB_F64,
    NB_F16,  /* IEEE half: storage; arithmetic runs in f32 and rounds on output */
    NB_BF16, /* bfloat16: storage; arithmetic runs in f32 and rounds on output */
    NB_I8,
    NB_U8,
    NB_I32,
    NB_I64,
    NB_BOOL,
    NB_DTYPE_COUNT
} nb_dtype;

/* Name of a dtype ("f32", "i64", ...); "?" for an invalid value. Never NULL. */
NB_API const char *nb_dtype_name(nb_dtype dtype);
/* Size in bytes of one element; 0 for an invalid value. */
NB_API size_t nb_dtype_size(nb_dtype dtype);
/* True for f32, f64, f16, bf16. */
NB_API bool nb_dtype_is_float(nb_dtype dtype);
/* The dtype two operands promote to, following PyTorch (bool < integers < floats; wider wins;
 * f16 with bf16 gives f32; i8 with u8 gives i32 since nabla has no i16). */
NB_API nb_dtype nb_promote_types(nb_dtype a, nb_dtype b);

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                          */

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_ARG = -1,      /* invalid argument: shapes, dtypes, dims, NULL, ranges */
    NB_ERR_NOMEM = -2,    /* allocation failed */
    NB_ERR_STATE = -3,    /* operation invalid in the current state (e.g. backward twice) */
    NB_ERR_IO = -4,       /* file or stream failure */
    NB_ERR_FORMAT = -5,   /* malformed outside data */
    NB_ERR_UNSUPPORTED = -6 /* feature not available in this build or not implemented */
} nb_status;

/* The message of the last error on this thread ("" if none). The pointer stays valid until the next
 * error on this thread. Messages name the function, the argument, the shapes and the dtypes. */
NB_API const char *nb_last_error(void);
/* The code of the last error on this thread (NB_OK if none). */
NB_API nb_status nb_last_status(void);
/* Forget the last error on this thread. Errors are sticky until cleared or replaced by a new one. */
NB_API void nb_clear_error(void);
/* Called (on the failing thread) with every new error, for logging. NULL removes the handler. */
typedef void (*nb_error_handler)(nb_status status, const char *message, void *user_data);
NB_API void nb_set_error_handler(nb_error_handler handler, void *user_data);
/* Setting the environment variable NABLA_ABORT_ON_ERROR=1 makes the first error print its message to
 * stderr and abort(), so a debugger stops where the mistake happened. */

/* ---------------------------------------------------------------------------------------------- */
/* Memory                                                                                          */

/* One allocation function serves the whole library, as in Lua: called with (ud, NULL, 0, n) to
 * allocate, (ud, p, old, 0) to free (must return NULL), (ud, p, old, n) to reallocate. Returning NULL
 * for a non-zero request means out of memory; nabla then fails cleanly with NB_ERR_NOMEM. */
typedef void *(*nb_alloc_fn)(void *user_data, void *ptr, size_t old_size, size_t new_size);
/* Install an allocator (NULL restores the default, malloc-based one). Call only when no tensor is
 * alive and no scope is open: it empties the cache and everything allocated before must be freed by
 * the old allocator. Returns 0, or NB_ERR_STATE if tensors are alive or a scope is open. */
NB_API int nb_set_allocator(nb_alloc_fn fn, void *user_data);
/* Return every cached block to the allocator. Storage is cached by size class so that eager code does
 * not pay for malloc on every op; this releases it. */
NB_API void nb_empty_cache(void);
/* Turn the storage cache on (default) or off. Off: every block goes straight back to the allocator. */
NB_API void nb_set_cache_enabled(bool enabled);
/* Bytes currently held by live storage and by the cache. */
NB_API size_t nb_memory_in_use(void);
NB_API size_t nb_memory_cached(void);

/* ---------------------------------------------------------------------------------------------- */
/* Tensors                                                                                         */

/* A tensor is a refcounted view (dtype, shape, strides, offset) on refcounted storage. Opaque. */
typedef struct nb_tensor nb_tensor;

/* NB_SHAPE(2, 3) expands to the two arguments `2, (const int64_t[]){2, 3}` that every function taking a
 * shape (or a list of dims, or an index) expects: `int ndim, const int64_t *shape`. NB_LIST is the same
 * for lists that are not shapes. A 0-d shape is `0, NULL` (NB_SCALAR). */
#define NB_LIST(...)                                                                               \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}
#define NB_SHAPE(...) NB_LIST(__VA_ARGS__)
#define NB_SCALAR 0, NULL

/* Drop one reference. NULL is ignored. If the tensor was registered in an open scope, the scope
 * forgets it, so freeing by hand inside a scope is safe. */
NB_API void nb_free(nb_tensor *t);
/* Number of tensor objects alive in this process (for leak hunting and tests). */
NB_API int64_t nb_live_tensors(void);

/* Scopes, like TensorFlow.js's tidy: nb_scope_end() frees every tensor reference returned to the
 * caller since the matching nb_scope_begin() on this thread, except those passed to nb_keep().
 * Scopes nest. Returns 0, or NB_ERR_STATE for an end without a begin. */
NB_API int nb_scope_begin(void);
NB_API int nb_scope_end(void);
/* Move t's reference out of the innermost scope holding it into the enclosing scope (or out of all
 * scopes when there is none, so the caller must nb_free it). Returns t (not a new reference). */
NB_API nb_tensor *nb_keep(nb_tensor *t);
/* A new reference to the same tensor object (registered in the current scope). */
NB_API nb_tensor *nb_retain(nb_tensor *t);

/* Introspection. On a NULL tensor these return 0 / NULL / NB_F32 and set the error. */
NB_API int nb_ndim(const nb_tensor *t);
NB_API const int64_t *nb_shape(const nb_tensor *t);    /* borrowed: valid while t lives */
NB_API const int64_t *nb_strides(const nb_tensor *t);  /* in elements */
NB_API int64_t nb_size(const nb_tensor *t, int dim);   /* dim may be negative; -1 on error */
NB_API int64_t nb_numel(const nb_tensor *t);
NB_API nb_dtype nb_dtype_of(const nb_tensor *t);
NB_API bool nb_is_contiguous(const nb_tensor *t);
/* Pointer to element [0,...,0] (storage + offset). Borrowed; NULL for an empty tensor. */
NB_API void *nb_data(const nb_tensor *t);
/* The in-place version counter shared by every view of the same storage. */
NB_API uint64_t nb_version(const nb_tensor *t);

/* ---------------------------------------------------------------------------------------------- */
/* Creation. All return new contiguous tensors.                                                    */

NB_API nb_tensor *nb_empty(int ndim, const int64_t *shape, nb_dtype dtype);
NB_API nb_tensor *nb_zeros(int ndim, const int64_t *shape, nb_dtype dtype);
NB_API nb_tensor *nb_ones(int ndim, const int64_t *shape, nb_dtype dtype);
NB_API nb_tensor *nb_full(int ndim, const int64_t *shape, double value, nb_dtype dtype);
/* A 0-d tensor holding value. */
NB_API nb_tensor *nb_scalar(double value, nb_dtype dtype);
/* [start, end) by step, like torch.arange. */
NB_API nb_tensor *nb_arange(double start, double end, double step, nb_dtype dtype);
/* steps evenly spaced values from start to end inclusive, like torch.linspace. */
NB_API nb_tensor *nb_linspace(double start, double end, int64_t steps, nb_dtype dtype);
/* n x m identity (m = n when m < 0). */
NB_API nb_tensor *nb_eye(int64_t n, int64_t m, nb_dtype dtype);
/* Uniform on [0, 1), standard normal, and integers uniform on [low, high). Drawn from the global
 * counter-based generator: the same seed gives the same numbers for any thread count. */
NB_API nb_tensor *nb_rand(int ndim, const int64_t *shape, nb_dtype dtype);
NB_API nb_tensor *nb_randn(int ndim, const int64_t *shape, nb_dtype dtype);
NB_API nb_tensor *nb_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, nb_dtype dtype);
/* Copy numel(shape) elements of dtype from data (C order). */
NB_API nb_tensor *nb_from_data(const void *data, int ndim, const int64_t *shape, nb_dtype dtype);
/* Wrap a user buffer without copying. release(data, user_data) is called once when the last view of
 * the storage dies (release may be NULL). data must hold numel(shape) elements and stay valid until
 * then. On failure release is NOT called: the caller still owns data. */
typedef void (*nb_release_fn)(void *data, void *user_data);
NB_API nb_tensor *nb_from_buffer(void *data, int ndim, const int64_t *shape, nb_dtype dtype,
                                 nb_release_fn release, void *user_data);

/* ---------------------------------------------------------------------------------------------- */
/* Element access                                                                                  */

/* The value of a tensor with exactly one element, as a double. Returns NAN and sets the error if t is
 * NULL or has more than one element. */
NB_API double nb_item(const nb_tensor *t);
/* Read / write one element at index (ndim entries, negative counts from the end): `nb_get(t,
 * NB_LIST(1, 2), &v)`. Writing converts value to t's dtype and bumps the version counter. Returns 0
 * or a negative nb_status. */
NB_API int nb_get(const nb_tensor *t, int n, const int64_t *index, double *value);
NB_API int nb_set(nb_tensor *t, int n, const int64_t *index, double value);
/* Copy all elements (C order, converted to dtype) into buf of buf_bytes bytes. */
NB_API int nb_copy_to(const nb_tensor *t, void *buf, size_t buf_bytes, nb_dtype dtype);

/* ---------------------------------------------------------------------------------------------- */
/* Printing                                                                                        */

/* Print like PyTorch: values (summarised with "..." past 1000 elements), then shape, dtype and
 * grad_fn, e.g. `tensor([[ 0.1234, -1.0000]], shape=[1, 2], dtype=f32, grad_fn=<MatmulBackward>)`.
 * Returns 0 or a negative nb_status. */
NB_API int nb_print(const nb_tensor *t);
NB_API int nb_fprint(FILE *f, const nb_tensor *t);
/* Format into buf (always NUL-terminated when size > 0). Returns the length the full text needs, like
 * snprintf, or a negative nb_status. */
NB_API int nb_format(const nb_tensor *t, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------------- */
/* Random numbers                                                                                  */

/* Seed the global generator (Philox-4x32-10, counter-based). Resets its counter to 0. */
NB_API void nb_manual_seed(uint64_t seed);
/* Save / restore the generator (seed and counter) for exact resume. */
NB_API void nb_rng_get_state(uint64_t *seed, uint64_t *counter);
NB_API void nb_rng_set_state(uint64_t seed, uint64_t counter);

/* ---------------------------------------------------------------------------------------------- */
/* Threads and CPU                                                                                 */

/* Size of the one thread pool (1 = run everything on the calling thread). Default: the number of
 * online CPUs, or NABLA_NUM_THREADS. Returns 0, or NB_ERR_ARG for n < 1. */
NB_API int nb_set_num_threads(int n);
NB_API int nb_get_num_threads(void);

typedef enum nb_cpu_feature {
    NB_CPU_SSE42 = 1 << 0,
    NB_CPU_AVX = 1 << 1,
    NB_CPU_AVX2 = 1 << 2,
    NB_CPU_FMA = 1 << 3,
    NB_CPU_F16C = 1 << 4,
    NB_CPU_AVX512F = 1 << 5,
    NB_CPU_AVX512BW = 1 << 6,
    NB_CPU_AVX512VL = 1 << 7,
    NB_CPU_AVX512DQ = 1 << 8,
    NB_CPU_AVX512VNNI = 1 << 9,
    NB_CPU_AVX512BF16 = 1 << 10,
} nb_cpu_feature;
/* Bit set of nb_cpu_feature the CPU and OS support (0 on non-x86 builds). */
NB_API unsigned nb_cpu_features(void);
/* The same as a space-separated string ("avx2 fma avx512f ..."). Static storage. */
NB_API const char *nb_cpu_features_string(void);

/* Library version string, e.g. "0.1.0". */
NB_API const char *nb_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
