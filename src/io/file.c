/* io/file.c — the io layer's plumbing: atomic file writing (temporary file in the target's folder,
 * fsync, rename, fsync of the folder), mapping whole files for reading (privately, copy-on-write,
 * shared by every tensor that views them and unmapped by the last one), CRC-32, UTF-8 validation and
 * the public metadata map. No format knowledge lives here (safetensors.c, npy.c).
 */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef NABLA_HAVE_ZLIB
#include <zlib.h>
#endif

#include "../data/data_internal.h"

/* ---- atomic writing ----------------------------------------------------------------------------- */

static _Atomic int64_t g_fail_left = -1;
static atomic_int g_fail_mode;

void nbio_test_fail_after(int64_t bytes, int mode) {
    atomic_store(&g_fail_mode, mode);
    atomic_store(&g_fail_left, bytes);
}

int nbio_wopen(nbio_writer *w, const char *fn, const char *path) {
    memset(w, 0, sizeof *w);
    w->fn = fn;
    w->path = path;
    w->fd = -1;
    if (!path || !*path) return w->err = nbc_error(NB_ERR_ARG, "%s: path is %s", fn, path ? "empty" : "NULL");
    /* "<dir>/.<base>.tmp-XXXXXX": same folder, so rename is atomic. */
    size_t len = strlen(path);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    w->tmp_cap = len + 16;
    w->tmp = nbc_raw_alloc(w->tmp_cap);
    if (!w->tmp) return w->err = nbc_oom(fn);
    memcpy(w->tmp, path, dirlen);
    snprintf(w->tmp + dirlen, w->tmp_cap - dirlen, ".%s.tmp-XXXXXX", path + dirlen);
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        int e = errno;
        nbc_raw_free(w->tmp, w->tmp_cap);
        w->tmp = NULL;
        return w->err = nbc_error(NB_ERR_IO, "%s: cannot create a temporary file next to %s: %s", fn, path, strerror(e));
    }
    /* mkstemp makes the file 0600; give it the mode of the file it replaces, or 0644. */
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
    if (fchmod(w->fd, mode) != 0) { /* not fatal: the data is what matters */
    }
    return 0;
}

int nbio_write(nbio_writer *w, const void *p, size_t n) {
    if (w->err) return w->err;
    const char *s = p;
    int64_t left = atomic_load(&g_fail_left);
    if (left >= 0) {
        size_t k = (uint64_t)left < n ? (size_t)left : n;
        atomic_store(&g_fail_left, left - (int64_t)k);
        if (k < n) {
            if (k && write(w->fd, s, k) < 0) { /* the partial write is the point; its result is not */
            }
            if (atomic_load(&g_fail_mode) == 1) {
                fsync(w->fd);
                raise(SIGKILL);
            }
            atomic_store(&g_fail_left, -1);
            return w->err = nbc_error(NB_ERR_IO, "%s: cannot write %s: %s", w->fn, w->path, strerror(ENOSPC));
        }
    }
    while (n) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t r = write(w->fd, s, chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            return w->err = nbc_error(NB_ERR_IO, "%s: cannot write %s: %s", w->fn, w->path, strerror(e));
        }
        s += r;
        n -= (size_t)r;
        w->written += (uint64_t)r;
    }
    return 0;
}

void nbio_wabort(nbio_writer *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    if (w->tmp) {
        unlink(w->tmp);
        nbc_raw_free(w->tmp, w->tmp_cap);
        w->tmp = NULL;
    }
}

int nbio_wcommit(nbio_writer *w) {
    int rc = w->err;
    if (!rc && fsync(w->fd) != 0) {
        int e = errno;
        rc = nbc_error(NB_ERR_IO, "%s: cannot flush %s to disk: %s", w->fn, w->path, strerror(e));
    }
    if (!rc) {
        int fd = w->fd;
        w->fd = -1;
        if (close(fd) != 0) {
            int e = errno;
            rc = nbc_error(NB_ERR_IO, "%s: cannot write %s: %s", w->fn, w->path, strerror(e));
        }
    }
    if (!rc && rename(w->tmp, w->path) != 0) {
        int e = errno;
        rc = nbc_error(NB_ERR_IO, "%s: cannot rename the temporary file to %s: %s", w->fn, w->path, strerror(e));
    }
    if (rc) {
        nbio_wabort(w);
        return rc;
    }
    /* Make the rename itself durable: fsync the folder. */
    const char *slash = strrchr(w->path, '/');
    char *dir = NULL;
    size_t dcap = 0;
    if (slash) {
        dcap = (size_t)(slash - w->path) + 2;
        dir = nbc_raw_alloc(dcap);
        if (dir) {
            memcpy(dir, w->path, dcap - 2);
            dir[dcap - 2] = 0;
            if (!dir[0]) dir[0] = '/', dir[1] = 0;
        }
    }
    int dfd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) {
            int e = errno;
            rc = nbc_error(NB_ERR_IO, "%s: wrote %s but cannot sync its folder: %s", w->fn, w->path, strerror(e));
        }
        close(dfd);
    }
    if (dir) nbc_raw_free(dir, dcap);
    nbc_raw_free(w->tmp, w->tmp_cap);
    w->tmp = NULL;
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------------ */

nbio_map *nbio_map_file(const char *fn, const char *path) {
    if (!path) return nbc_error(NB_ERR_ARG, "%s: path is NULL", fn), NULL;
    nbio_map *m = nbc_calloc(fn, sizeof *m);
    if (!m) return NULL;
    atomic_init(&m->refs, 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        nbc_raw_free(m, sizeof *m);
        return nbc_error(NB_ERR_IO, "%s: cannot open %s: %s", fn, path, strerror(e)), NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        nbc_raw_free(m, sizeof *m);
        return nbc_error(NB_ERR_IO, "%s: %s is a directory, not a file", fn, path), NULL;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= SIZE_MAX) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            close(fd);
            m->data = p;
            m->size = (size_t)st.st_size;
            m->mapped = true;
            return m;
        }
    }
    close(fd);
    /* Not mappable (empty, a pipe, ...): read it. */
    if (nbd_read_file(fn, path, &m->data, &m->size, &m->cap) != 0) {
        nbc_raw_free(m, sizeof *m);
        return NULL;
    }
    return m;
}

void nbio_map_decref(nbio_map *m) {
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1) return;
    if (m->mapped)
        munmap(m->data, m->size);
    else if (m->data)
        nbc_raw_free(m->data, m->cap);
    nbc_raw_free(m, sizeof *m);
}

void nbio_map_release(void *data, void *user_data) {
    (void)data;
    nbio_map_decref(user_data);
}

/* ---- helpers ------------------------------------------------------------------------------------ */

uint32_t nbio_crc32(uint32_t crc, const void *p, size_t n) {
#ifdef NABLA_HAVE_ZLIB
    const Bytef *b = p;
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
#else
    static uint32_t table[256];
    static atomic_int ready;
    if (!atomic_load(&ready)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
            table[i] = c;
        }
        atomic_store(&ready, 1);
    }
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ b[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
#endif
}

bool nbio_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return false;
        if (n - i < (size_t)len) return false;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += (size_t)len;
    }
    return true;
}

bool nbio_nbytes(int ndim, const int64_t *shape, nb_dtype dtype, uint64_t *out) {
    uint64_t n = nb_dtype_size(dtype);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return false;
        uint64_t s = (uint64_t)shape[d];
        if (s && n > UINT64_MAX / s) return false;
        n *= s;
    }
    *out = n;
    return true;
}

/* ---- metadata ----------------------------------------------------------------------------------- */

nb_metadata *nb_metadata_new(void) { return nbc_calloc("nb_metadata_new", sizeof(nb_metadata)); }

void nb_metadata_free(nb_metadata *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) {
        nbc_strfree(m->keys[i]);
        nbc_strfree(m->values[i]);
    }
    if (m->cap) {
        nbc_raw_free(m->keys, (size_t)m->cap * sizeof(char *));
        nbc_raw_free(m->values, (size_t)m->cap * sizeof(char *));
    }
    nbc_raw_free(m, sizeof *m);
}

int nbio_meta_set(const char *fn, nb_metadata *m, const char *key, const char *value) {
    char *v = nbc_strdup(fn, value);
    if (!v) return NB_ERR_NOMEM;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) {
            nbc_strfree(m->values[i]);
            m->values[i] = v;
            return 0;
        }
    char *k = nbc_strdup(fn, key);
    if (!k) {
        nbc_strfree(v);
        return NB_ERR_NOMEM;
    }
    if (m->n == m->cap) {
        int nc = m->cap ? 2 * m->cap : 8;
        char **nk = nbc_raw_alloc((size_t)nc * sizeof(char *)), **nv = nbc_raw_alloc((size_t)nc * sizeof(char *));
        if (!nk || !nv) {
            if (nk) nbc_raw_free(nk, (size_t)nc * sizeof(char *));
            if (nv) nbc_raw_free(nv, (size_t)nc * sizeof(char *));
            nbc_strfree(k);
            nbc_strfree(v);
            return nbc_oom(fn);
        }
        if (m->n) {
            memcpy(nk, m->keys, (size_t)m->n * sizeof(char *));
            memcpy(nv, m->values, (size_t)m->n * sizeof(char *));
        }
        if (m->cap) {
            nbc_raw_free(m->keys, (size_t)m->cap * sizeof(char *));
            nbc_raw_free(m->values, (size_t)m->cap * sizeof(char *));
        }
        m->keys = nk;
        m->values = nv;
        m->cap = nc;
    }
    m->keys[m->n] = k;
    m->values[m->n] = v;
    m->n++;
    return 0;
}

int nb_metadata_set(nb_metadata *m, const char *key, const char *value) {
    static const char fn[] = "nb_metadata_set";
    if (!m || !key || !value)
        return nbc_error(NB_ERR_ARG, "%s: %s is NULL", fn, !m ? "map" : !key ? "key" : "value");
    if (!nbio_utf8_valid((const uint8_t *)key, strlen(key)) || !nbio_utf8_valid((const uint8_t *)value, strlen(value)))
        return nbc_error(NB_ERR_ARG, "%s: key or value of '%s' is not valid UTF-8", fn, key);
    return nbio_meta_set(fn, m, key, value);
}

const char *nb_metadata_get(const nb_metadata *m, const char *key) {
    if (!m || !key) return NULL;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) return m->values[i];
    return NULL;
}

int nb_metadata_count(const nb_metadata *m) { return m ? m->n : 0; }
const char *nb_metadata_key(const nb_metadata *m, int i) { return m && i >= 0 && i < m->n ? m->keys[i] : NULL; }
const char *nb_metadata_value(const nb_metadata *m, int i) { return m && i >= 0 && i < m->n ? m->values[i] : NULL; }
