/* data/util.c — small helpers shared by the data layer: reading a whole file into memory, deriving
 * Philox keys, the counter-based permutation used for shuffling and splitting, and a strided copy into
 * C order. No format knowledge lives here (that is idx.c and csv.c), and nothing here is public.
 */
#include "data_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int nbd_read_file(const char *fn, const char *path, uint8_t **buf, size_t *n, size_t *cap) {
    *buf = NULL;
    *n = *cap = 0;
    if (!path) return nbc_error(NB_ERR_ARG, "%s: path is NULL", fn);
    FILE *f = fopen(path, "rb");
    if (!f) return nbc_error(NB_ERR_IO, "%s: cannot open %s: %s", fn, path, strerror(errno));
    struct stat st;
    size_t c = 1 << 16;
    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(f);
            return nbc_error(NB_ERR_IO, "%s: %s is a directory, not a file", fn, path);
        }
        if (S_ISREG(st.st_mode) && st.st_size >= 0 && (uint64_t)st.st_size < SIZE_MAX - 1)
            c = (size_t)st.st_size + 1; /* +1: reaching EOF needs no second allocation */
    }
    uint8_t *b = nbc_raw_alloc(c);
    if (!b) {
        fclose(f);
        return nbc_oom(fn);
    }
    size_t len = 0;
    for (;;) {
        if (len == c) {
            size_t nc = c < SIZE_MAX / 2 ? c * 2 : SIZE_MAX;
            if (nc == c) {
                nbc_raw_free(b, c);
                fclose(f);
                return nbc_error(NB_ERR_IO, "%s: %s is too large", fn, path);
            }
            uint8_t *nb_ = nbc_raw_realloc(b, c, nc);
            if (!nb_) {
                nbc_raw_free(b, c);
                fclose(f);
                return nbc_oom(fn);
            }
            b = nb_;
            c = nc;
        }
        size_t got = fread(b + len, 1, c - len, f);
        len += got;
        if (got == 0 || len < c) {
            if (ferror(f)) {
                int e = errno;
                nbc_raw_free(b, c);
                fclose(f);
                return nbc_error(NB_ERR_IO, "%s: error reading %s: %s", fn, path, strerror(e));
            }
            if (feof(f)) break;
        }
    }
    fclose(f);
    *buf = b;
    *n = len;
    *cap = c;
    return 0;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

uint64_t nbd_key(uint64_t seed, uint64_t a, uint64_t stream) {
    return splitmix64(splitmix64(seed) ^ splitmix64(a * 0x2545F4914F6CDD1DULL + stream));
}

void nbd_permutation(int64_t n, uint64_t key, int64_t *out) {
    for (int64_t i = 0; i < n; i++) out[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        nbc_philox((uint64_t)i, key, r);
        uint64_t u = ((uint64_t)r[0] << 32) | r[1];
        int64_t j = (int64_t)(u % (uint64_t)(i + 1)); /* bias below (n / 2^64): negligible */
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

void nbd_copy_contiguous(const nb_tensor *t, void *dst) {
    size_t es = nb_dtype_size(t->dtype);
    int64_t n = nbc_numel(t->ndim, t->shape);
    if (n == 0) return;
    const char *src = nbc_ptr(t);
    if (nbc_is_contiguous(t)) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    /* Walk the outer indices with an odometer; copy the last dim as a run. */
    int nd = t->ndim;
    int64_t inner = t->shape[nd - 1], istride = t->strides[nd - 1];
    int64_t idx[NB_MAX_DIMS] = {0};
    char *d = dst;
    for (int64_t done = 0; done < n; done += inner) {
        int64_t off = 0;
        for (int k = 0; k < nd - 1; k++) off += idx[k] * t->strides[k];
        if (istride == 1) {
            memcpy(d, src + off * (ptrdiff_t)es, (size_t)inner * es);
            d += (size_t)inner * es;
        } else {
            for (int64_t j = 0; j < inner; j++, d += es) memcpy(d, src + (off + j * istride) * (ptrdiff_t)es, es);
        }
        for (int k = nd - 2; k >= 0; k--) {
            if (++idx[k] < t->shape[k]) break;
            idx[k] = 0;
        }
    }
}
