/* core/alloc.c — the one injectable allocator (Lua-style realloc function) and the caching block
 * allocator for tensor storage on top of it: size-class free lists, 64-byte alignment, a cap on what
 * is cached. It is not a general-purpose malloc: small structs go straight to the user allocator. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *ud, void *p, size_t old, size_t n) {
    (void)ud;
    (void)old;
    if (n == 0) {
        free(p);
        return NULL;
    }
    return realloc(p, n);
}

static nb_alloc_fn g_alloc = default_alloc;
static void *g_alloc_ud;
static atomic_int_fast64_t g_raw_live;

void *nbc_raw_alloc(size_t n) {
    void *p = g_alloc(g_alloc_ud, NULL, 0, n ? n : 1);
    if (p) atomic_fetch_add(&g_raw_live, 1);
    return p;
}

void *nbc_raw_realloc(void *p, size_t old_n, size_t new_n) {
    if (!p) return nbc_raw_alloc(new_n);
    return g_alloc(g_alloc_ud, p, old_n, new_n ? new_n : 1);
}

void nbc_raw_free(void *p, size_t n) {
    if (!p) return;
    atomic_fetch_sub(&g_raw_live, 1);
    g_alloc(g_alloc_ud, p, n ? n : 1, 0);
}

int64_t nbc_raw_live(void) { return atomic_load(&g_raw_live); }

void *nbc_calloc(const char *fn, size_t n) {
    void *p = nbc_raw_alloc(n);
    if (!p) {
        nbc_oom(fn);
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

char *nbc_strdup(const char *fn, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = nbc_raw_alloc(n);
    if (!d) {
        nbc_oom(fn);
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

void nbc_strfree(char *s) {
    if (s) nbc_raw_free(s, strlen(s) + 1);
}

/* ---- caching block allocator ------------------------------------------------------------------ */

/* Size classes: 64 B and up in quarter-power-of-two steps (64, 80, 96, 112, 128, 160, ...), so a block
 * wastes at most 25%. Blocks above 2^31 bytes are never cached. */
#define N_CLASSES 120
#define CACHE_LIMIT ((size_t)1 << 30)

typedef struct block_header { /* kept just before the aligned pointer */
    void *raw;                 /* what the user allocator returned */
    size_t raw_size;
} block_header;

typedef struct free_block {
    struct free_block *next;
} free_block;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static free_block *g_free[N_CLASSES];
static size_t g_cached_bytes, g_used_bytes;
static bool g_cache_enabled = true;

static int size_class(size_t n, size_t *cls_size) {
    if (n <= 64) {
        *cls_size = 64;
        return 0;
    }
    int e = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^e < n <= 2^(e+1) */
    size_t base = (size_t)1 << e, quarter = base / 4;
    size_t q = (n - base + quarter - 1) / quarter;             /* 1..4 */
    *cls_size = base + q * quarter;
    int cls = (e - 6) * 4 + (int)q;
    return cls < N_CLASSES ? cls : -1;
}

static void *fresh_block(size_t size) {
    size_t raw_size = size + NBC_ALIGN + sizeof(block_header);
    void *raw = nbc_raw_alloc(raw_size);
    if (!raw) return NULL;
    uintptr_t a = ((uintptr_t)raw + sizeof(block_header) + NBC_ALIGN - 1) & ~(uintptr_t)(NBC_ALIGN - 1);
    block_header *h = (block_header *)a - 1;
    h->raw = raw;
    h->raw_size = raw_size;
    return (void *)a;
}

static void release_block(void *p) {
    block_header *h = (block_header *)p - 1;
    nbc_raw_free(h->raw, h->raw_size);
}

void *nbc_block_alloc(size_t nbytes, size_t *capacity) {
    size_t size;
    int cls = size_class(nbytes, &size);
    if (cls < 0) size = nbytes;
    *capacity = size;
    pthread_mutex_lock(&g_lock);
    if (cls >= 0 && g_free[cls]) {
        free_block *b = g_free[cls];
        g_free[cls] = b->next;
        g_cached_bytes -= size;
        g_used_bytes += size;
        pthread_mutex_unlock(&g_lock);
        return b;
    }
    pthread_mutex_unlock(&g_lock);
    void *p = fresh_block(size);
    if (p) {
        pthread_mutex_lock(&g_lock);
        g_used_bytes += size;
        pthread_mutex_unlock(&g_lock);
    }
    return p;
}

void nbc_block_free(void *p, size_t capacity) {
    if (!p) return;
    size_t size;
    int cls = size_class(capacity, &size);
    pthread_mutex_lock(&g_lock);
    g_used_bytes -= capacity;
    if (g_cache_enabled && cls >= 0 && size == capacity && g_cached_bytes + size <= CACHE_LIMIT) {
        free_block *b = p;
        b->next = g_free[cls];
        g_free[cls] = b;
        g_cached_bytes += size;
        p = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    if (p) release_block(p);
}

void nb_empty_cache(void) {
    pthread_mutex_lock(&g_lock);
    for (int c = 0; c < N_CLASSES; c++) {
        while (g_free[c]) {
            free_block *b = g_free[c];
            g_free[c] = b->next;
            release_block(b);
        }
    }
    g_cached_bytes = 0;
    pthread_mutex_unlock(&g_lock);
}

void nb_set_cache_enabled(bool enabled) {
    g_cache_enabled = enabled;
    if (!enabled) nb_empty_cache();
}

size_t nb_memory_in_use(void) {
    pthread_mutex_lock(&g_lock);
    size_t n = g_used_bytes;
    pthread_mutex_unlock(&g_lock);
    return n;
}

size_t nb_memory_cached(void) {
    pthread_mutex_lock(&g_lock);
    size_t n = g_cached_bytes;
    pthread_mutex_unlock(&g_lock);
    return n;
}

int nb_set_allocator(nb_alloc_fn fn, void *user_data) {
    if (nb_live_tensors() != 0)
        return nbc_error(NB_ERR_STATE, "nb_set_allocator: %lld tensors are still alive; free them first",
                         (long long)nb_live_tensors());
    if (nbc_scope_depth() != 0) /* the scope's own arrays came from the current allocator */
        return nbc_error(NB_ERR_STATE, "nb_set_allocator: %d scopes are open on this thread; close them first",
                         nbc_scope_depth());
    nb_empty_cache();
    g_alloc = fn ? fn : default_alloc;
    g_alloc_ud = fn ? user_data : NULL;
    return 0;
}
