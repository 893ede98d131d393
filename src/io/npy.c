/* io/npy.c — NumPy's .npy and .npz formats. .npy: the magic, a v1 (u16), v2 or v3 (u32) header
 * length, and a Python dict literal header {'descr', 'fortran_order', 'shape'} read by a small strict
 * parser (any key order, single or double quotes, trailing commas, Python 2 'L' suffixes); data in C
 * or Fortran order, little- or big-endian, converted to a C-order native tensor. .npz: a zip archive
 * of .npy members, read from the central directory (ZIP64 records understood) with every record,
 * name, offset and size checked against the file, member ranges checked for overlap, deflated
 * members inflated with zlib into exactly their declared size (which must be plausible for deflate)
 * and CRCs checked. Writers produce v1.0 .npy files (C order, little-endian) and stored or deflated
 * zips, atomically. It is not safetensors (safetensors.c).
 */
#include "io_internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef NABLA_HAVE_ZLIB
#include <zlib.h>
#endif

#define NPY_MAX_HEADER (1u << 20)

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, v), wr16(p + 2, v >> 16); }

/* ---- .npy header --------------------------------------------------------------------------------- */

typedef struct npy_hdr {
    char descr[16];
    bool fortran, have_descr, have_fortran, have_shape;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
} npy_hdr;

typedef struct hp {
    const char *fn, *name;
    const uint8_t *s;
    size_t n, i;
} hp;

static int hperr(hp *p, const char *what) {
    return nbc_error(NB_ERR_FORMAT, "%s: %s: invalid .npy header at byte %zu of the dict: %s", p->fn, p->name, p->i, what);
}
static void hws(hp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}
static bool hch(hp *p, char c) {
    hws(p);
    if (p->i < p->n && p->s[p->i] == (uint8_t)c) {
        p->i++;
        return true;
    }
    return false;
}
/* A quoted string without escapes into out (cap bytes). */
static int hstr(hp *p, char *out, size_t cap) {
    hws(p);
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"')) return hperr(p, "expected a quoted string");
    uint8_t q = p->s[p->i++];
    size_t k = 0;
    while (p->i < p->n && p->s[p->i] != q) {
        uint8_t c = p->s[p->i];
        if (c == '\\' || c < 0x20 || c >= 0x7F) return hperr(p, "unsupported character in a string");
        if (k + 1 >= cap) return hperr(p, "string too long (structured dtypes are not supported)");
        out[k++] = (char)c;
        p->i++;
    }
    if (p->i >= p->n) return hperr(p, "unterminated string");
    p->i++;
    out[k] = 0;
    return 0;
}

static int parse_npy_header(hp *p, npy_hdr *h) {
    memset(h, 0, sizeof *h);
    if (!hch(p, '{')) return hperr(p, "expected '{'");
    for (;;) {
        if (hch(p, '}')) break;
        char key[32];
        int rc = hstr(p, key, sizeof key);
        if (rc) return rc;
        if (!hch(p, ':')) return hperr(p, "expected ':'");
        hws(p);
        if (!strcmp(key, "descr")) {
            if (h->have_descr) return hperr(p, "duplicate key 'descr'");
            h->have_descr = true;
            if (p->i < p->n && p->s[p->i] == '[')
                return nbc_error(NB_ERR_FORMAT, "%s: %s: structured (record) arrays are not supported", p->fn, p->name);
            if ((rc = hstr(p, h->descr, sizeof h->descr))) return rc;
        } else if (!strcmp(key, "fortran_order")) {
            if (h->have_fortran) return hperr(p, "duplicate key 'fortran_order'");
            h->have_fortran = true;
            if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "True", 4)) h->fortran = true, p->i += 4;
            else if (p->n - p->i >= 5 && !memcmp(p->s + p->i, "False", 5)) h->fortran = false, p->i += 5;
            else return hperr(p, "fortran_order must be True or False");
        } else if (!strcmp(key, "shape")) {
            if (h->have_shape) return hperr(p, "duplicate key 'shape'");
            h->have_shape = true;
            if (!hch(p, '(')) return hperr(p, "shape must be a tuple");
            bool comma = false;
            while (!hch(p, ')')) {
                hws(p);
                if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return hperr(p, "expected a dimension");
                uint64_t v = 0;
                while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
                    unsigned d = p->s[p->i++] - '0';
                    if (v > ((uint64_t)INT64_MAX - d) / 10) return hperr(p, "dimension too large");
                    v = v * 10 + d;
                }
                if (p->i < p->n && p->s[p->i] == 'L') p->i++;
                if (h->ndim == NB_MAX_DIMS) return hperr(p, "more than 8 dims (nabla's limit)");
                h->shape[h->ndim++] = (int64_t)v;
                comma = hch(p, ',');
                if (!comma) {
                    if (!hch(p, ')')) return hperr(p, "expected ',' or ')' in the shape");
                    break;
                }
            }
            if (h->ndim == 1 && !comma) return hperr(p, "a 1-element shape needs a trailing comma: (n,)");
        } else {
            return hperr(p, "unknown key (expected 'descr', 'fortran_order', 'shape')");
        }
        if (hch(p, ',')) continue;
        if (!hch(p, '}')) return hperr(p, "expected ',' or '}'");
        break;
    }
    hws(p);
    if (p->i != p->n) return hperr(p, "unexpected text after the dict");
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: the .npy header lacks '%s'", p->fn, p->name,
                         !h->have_descr ? "descr" : !h->have_fortran ? "fortran_order" : "shape");
    return 0;
}

/* descr -> (nabla dtype, item size in the file, big-endian, is-unsigned-16/32 widening) */
static int map_descr(const char *fn, const char *name, const char *d, nb_dtype *out, int *isz, bool *big) {
    char bo = d[0];
    const char *k = d;
    if (bo == '<' || bo == '>' || bo == '|' || bo == '=') k++;
    else bo = '=';
    *big = bo == '>';
    static const struct { const char *k; nb_dtype t; int size; } tab[] = {
        {"f2", NB_F16, 2}, {"f4", NB_F32, 4}, {"f8", NB_F64, 8}, {"i1", NB_I8, 1}, {"u1", NB_U8, 1},
        {"b1", NB_BOOL, 1}, {"i4", NB_I32, 4}, {"i8", NB_I64, 8}, {"i2", NB_I32, 2}, {"u2", NB_I32, 2},
        {"u4", NB_I64, 4}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(k, tab[i].k)) {
            if (bo == '|' && tab[i].size > 1)
                return nbc_error(NB_ERR_FORMAT, "%s: %s: dtype '%s' has no byte order for a %d-byte type", fn, name, d,
                                 tab[i].size);
            *out = tab[i].t;
            *isz = tab[i].size;
            return 0;
        }
    const char *why = k[0] == 'O' ? " (object arrays hold pickles; nabla never unpickles)"
                      : k[0] == 'c' ? " (complex numbers are not supported)"
                      : !strcmp(k, "u8") ? " (uint64 does not fit nabla's i64; convert in NumPy)" : "";
    return nbc_error(NB_ERR_FORMAT, "%s: %s: unsupported NumPy dtype '%s'%s; nabla reads f2 f4 f8 i1 u1 b1 i2 u2 i4 u4 i8",
                     fn, name, d, why);
}

nb_tensor *nbio_npy_parse(const char *fn, const uint8_t *buf, size_t n, const char *name) {
    if (!buf && n) return nbc_error(NB_ERR_ARG, "%s: buffer is NULL", fn), NULL;
    if (!name) name = "<memory>";
    if (n < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: not a .npy file (%s)", fn, name,
                         n < 10 ? "shorter than the 10-byte preamble" : "wrong magic; expected \\x93NUMPY"), NULL;
    int major = buf[6];
    if (major < 1 || major > 3 || buf[7] != 0)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: unsupported .npy version %d.%d (nabla reads 1.0, 2.0, 3.0)", fn, name,
                         major, buf[7]), NULL;
    size_t pre = major == 1 ? 10 : 12;
    if (n < pre) return nbc_error(NB_ERR_FORMAT, "%s: %s: truncated .npy preamble", fn, name), NULL;
    uint64_t hlen = major == 1 ? rd16(buf + 8) : rd32(buf + 8);
    if (hlen > NPY_MAX_HEADER)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: .npy header length %llu is absurd (limit %u)", fn, name,
                         (unsigned long long)hlen, NPY_MAX_HEADER), NULL;
    if (hlen > n - pre)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: .npy header length %llu runs past the end of the file (%zu bytes)", fn,
                         name, (unsigned long long)hlen, n), NULL;
    if (major == 3 && !nbio_utf8_valid(buf + pre, (size_t)hlen))
        return nbc_error(NB_ERR_FORMAT, "%s: %s: the v3 .npy header is not valid UTF-8", fn, name), NULL;
    hp p = {.fn = fn, .name = name, .s = buf + pre, .n = (size_t)hlen};
    npy_hdr h;
    if (parse_npy_header(&p, &h)) return NULL;
    nb_dtype dt = NB_F32;
    int isz = 1;
    bool big = false;
    if (map_descr(fn, name, h.descr, &dt, &isz, &big)) return NULL;
    uint64_t numel = 1;
    for (int d = 0; d < h.ndim; d++) {
        if (h.shape[d] && numel > UINT64_MAX / (uint64_t)h.shape[d])
            return nbc_error(NB_ERR_FORMAT, "%s: %s: shape %s overflows", fn, name, nbc_shape_str(h.ndim, h.shape)), NULL;
        numel *= (uint64_t)h.shape[d];
    }
    const uint8_t *data = buf + pre + hlen;
    uint64_t avail = n - pre - hlen;
    if (numel > UINT64_MAX / (uint64_t)isz || numel * (uint64_t)isz != avail)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: shape %s of '%s' needs %s%llu data bytes but the file holds %llu (%s)",
                         fn, name, nbc_shape_str(h.ndim, h.shape), h.descr, numel > UINT64_MAX / (uint64_t)isz ? "over " : "",
                         (unsigned long long)(numel > UINT64_MAX / (uint64_t)isz ? UINT64_MAX : numel * (uint64_t)isz),
                         (unsigned long long)avail,
                         numel * (uint64_t)isz > avail ? "truncated" : "trailing bytes"), NULL;
    nb_tensor *t = nbc_tensor_new(fn, dt, h.ndim, h.shape);
    if (!t) return NULL;
    size_t osz = nb_dtype_size(dt);
    uint8_t *out = numel ? nbc_ptr(t) : NULL;
    bool plain = !big && (size_t)isz == osz && (!h.fortran || h.ndim <= 1) && dt != NB_BOOL;
    if (plain) {
        if (numel) memcpy(out, data, (size_t)numel * osz);
    } else if (numel) {
        /* Fortran strides (in elements) of the source, walked in C order of the output. */
        int64_t fst[NB_MAX_DIMS], idx[NB_MAX_DIMS] = {0};
        for (int d = 0; d < h.ndim; d++) fst[d] = d ? fst[d - 1] * h.shape[d - 1] : 1;
        bool unsig = h.descr[strlen(h.descr) - 2] == 'u';
        uint64_t src = 0;
        for (uint64_t i = 0; i < numel; i++) {
            uint64_t s = h.fortran ? src : i;
            const uint8_t *q = data + s * (uint64_t)isz;
            uint8_t b[8];
            for (int k = 0; k < isz; k++) b[k] = big ? q[isz - 1 - k] : q[k];
            uint8_t *o = out + i * osz;
            if ((size_t)isz == osz) {
                memcpy(o, b, osz);
                if (dt == NB_BOOL) o[0] = b[0] != 0;
            } else if (isz == 2) { /* i2/u2 -> i32 */
                uint16_t u = (uint16_t)(b[0] | b[1] << 8);
                int32_t v = unsig ? (int32_t)u : (int32_t)(int16_t)u;
                memcpy(o, &v, 4);
            } else { /* u4 -> i64 */
                uint32_t u;
                memcpy(&u, b, 4);
                int64_t v = u;
                memcpy(o, &v, 8);
            }
            if (h.fortran) { /* advance the C-order index and the Fortran offset */
                for (int d = h.ndim - 1; d >= 0; d--) {
                    if (++idx[d] < h.shape[d]) {
                        src += (uint64_t)fst[d];
                        break;
                    }
                    src -= (uint64_t)(fst[d] * (h.shape[d] - 1));
                    idx[d] = 0;
                }
            }
        }
    }
    return nbc_track(t);
}

nb_tensor *nb_npy_parse(const void *buf, size_t n, const char *name) {
    return nbio_npy_parse("nb_npy_parse", buf, n, name);
}

nb_tensor *nb_npy_load(const char *path) {
    static const char fn[] = "nb_npy_load";
    nbio_map *m = nbio_map_file(fn, path);
    if (!m) return NULL;
    nb_tensor *t = nbio_npy_parse(fn, m->data, m->size, path);
    nbio_map_decref(m);
    return t;
}

/* ---- .npy writing -------------------------------------------------------------------------------- */

/* The v1.0 preamble + header for t into out (at least 256 bytes); returns its length or 0 on error. */
static size_t npy_header(const char *fn, const nb_tensor *t, uint8_t *out) {
    static const char *descr[NB_DTYPE_COUNT] = {[NB_F32] = "<f4", [NB_F64] = "<f8", [NB_F16] = "<f2",
                                                [NB_I8] = "|i1",  [NB_U8] = "|u1",  [NB_I32] = "<i4",
                                                [NB_I64] = "<i8", [NB_BOOL] = "|b1"};
    if ((unsigned)t->dtype >= NB_DTYPE_COUNT || !descr[t->dtype]) {
        nbc_error(NB_ERR_ARG, "%s: NumPy has no %s dtype; convert the tensor first (nb_to(t, NB_F32))", fn,
                  nb_dtype_name(t->dtype));
        return 0;
    }
    char shape[200];
    size_t k = 0;
    k += (size_t)snprintf(shape + k, sizeof shape - k, "(");
    for (int d = 0; d < t->ndim; d++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    snprintf(shape + k, sizeof shape - k, "%s)", t->ndim == 1 ? "," : "");
    char dict[240];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr[t->dtype], shape);
    size_t total = 10 + (size_t)dl + 1;
    total = (total + 63) / 64 * 64;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    wr16(out + 8, (uint32_t)(total - 10));
    memcpy(out + 10, dict, (size_t)dl);
    memset(out + 10 + dl, ' ', total - 10 - (size_t)dl - 1);
    out[total - 1] = '\n';
    return total;
}

/* t's data in C order: a borrowed pointer when contiguous, else a copy in *tmp (free with *tmp_n). */
static const void *c_order_data(const char *fn, const nb_tensor *t, size_t bytes, void **tmp) {
    *tmp = NULL;
    if (!bytes) return "";
    if (nbc_is_contiguous(t)) return nbc_ptr(t);
    *tmp = nbc_raw_alloc(bytes);
    if (!*tmp) return nbc_oom(fn), NULL;
    if (nb_copy_to(t, *tmp, bytes, t->dtype)) {
        nbc_raw_free(*tmp, bytes);
        *tmp = NULL;
        return NULL;
    }
    return *tmp;
}

int nb_npy_save(const char *path, const nb_tensor *t) {
    static const char fn[] = "nb_npy_save";
    if (!t) return nbc_null_arg(fn, 2);
    uint8_t hdr[320];
    size_t hl = npy_header(fn, t, hdr);
    if (!hl) return nb_last_status();
    size_t bytes = (size_t)nbc_numel(t->ndim, t->shape) * nb_dtype_size(t->dtype);
    void *tmp;
    const void *d = c_order_data(fn, t, bytes, &tmp);
    if (!d) return nb_last_status();
    nbio_writer w;
    int rc = nbio_wopen(&w, fn, path);
    if (!rc) {
        nbio_write(&w, hdr, hl);
        nbio_write(&w, d, bytes);
        rc = nbio_wcommit(&w);
    }
    if (tmp) nbc_raw_free(tmp, bytes);
    return rc;
}

/* ---- .npz reading -------------------------------------------------------------------------------- */

typedef struct zent {
    uint64_t off, data, csize, usize, end;
    uint32_t crc;
    int method;
    const uint8_t *name;
    size_t nlen;
} zent;

static int zerr(const char *fn, const char *name, const char *what) {
    return nbc_error(NB_ERR_FORMAT, "%s: %s: invalid .npz (zip) archive: %s", fn, name, what);
}

static int cmp_off(const void *a, const void *b) {
    const zent *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

#ifdef NABLA_HAVE_ZLIB
static int inflate_member(const char *fn, const char *name, const zent *e, const uint8_t *src, uint8_t *dst) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return nbc_oom(fn);
    uint64_t in_left = e->csize, out_left = e->usize;
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.next_out = dst;
    int zr = Z_OK;
    while (zr == Z_OK) {
        uInt ci = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        uInt co = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
        zs.avail_in = ci;
        zs.avail_out = co;
        zr = inflate(&zs, Z_NO_FLUSH);
        in_left -= ci - zs.avail_in;
        out_left -= co - zs.avail_out;
        if (zr == Z_BUF_ERROR && (in_left == 0 || out_left == 0)) break;
    }
    inflateEnd(&zs);
    char what[200];
    if (zr == Z_STREAM_END && out_left == 0 && in_left == 0) return 0;
    if (zr == Z_STREAM_END || zr == Z_OK || zr == Z_BUF_ERROR)
        snprintf(what, sizeof what, "member '%.*s' inflates to a different size than its header's %llu bytes",
                 (int)e->nlen, (const char *)e->name, (unsigned long long)e->usize);
    else
        snprintf(what, sizeof what, "member '%.*s' has corrupt deflate data (%s)", (int)e->nlen, (const char *)e->name,
                 zs.msg ? zs.msg : "inflate failed");
    return zerr(fn, name, what);
}
#endif

nb_params *nbio_npz_parse(const char *fn, const uint8_t *buf, size_t n, const char *name) {
    if (!buf && n) return nbc_error(NB_ERR_ARG, "%s: buffer is NULL", fn), NULL;
    if (!name) name = "<memory>";
    char what[300];
    if (n < 22) return zerr(fn, name, n >= 4 && rd32(buf) == 0x04034b50 ? "truncated" : "too short to be a zip"), NULL;
    /* End of central directory: the last signature whose comment ends exactly at the end of file. */
    size_t eocd = SIZE_MAX;
    size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t i = n - 22 + 1; i-- > lo;)
        if (rd32(buf + i) == 0x06054b50 && i + 22 + rd16(buf + i + 20) == n) {
            eocd = i;
            break;
        }
    if (eocd == SIZE_MAX)
        return zerr(fn, name, rd32(buf) == 0x04034b50 ? "no end-of-central-directory record (truncated?)"
                                                      : "no end-of-central-directory record (not a zip file)"), NULL;
    const uint8_t *E = buf + eocd;
    uint64_t count = rd16(E + 10), cd_size = rd32(E + 12), cd_off = rd32(E + 16);
    uint64_t cd_limit = eocd; /* the central directory must end before this */
    if (rd16(E + 4) != 0 || rd16(E + 6) != 0 || rd16(E + 8) != rd16(E + 10))
        return zerr(fn, name, "multi-disk archives are not supported"), NULL;
    if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {
        if (eocd < 20 || rd32(buf + eocd - 20) != 0x07064b50)
            return zerr(fn, name, "ZIP64 end-of-central-directory locator missing"), NULL;
        uint64_t z = rd64(buf + eocd - 20 + 8);
        if (z > eocd - 20 || eocd - 20 - z < 56 || rd32(buf + z) != 0x06064b50)
            return zerr(fn, name, "bad ZIP64 end-of-central-directory record"), NULL;
        if (rd32(buf + z + 16) != 0 || rd32(buf + z + 20) != 0 || rd64(buf + z + 24) != rd64(buf + z + 32))
            return zerr(fn, name, "multi-disk archives are not supported"), NULL;
        count = rd64(buf + z + 32);
        cd_size = rd64(buf + z + 40);
        cd_off = rd64(buf + z + 48);
        cd_limit = z;
    }
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off) return zerr(fn, name, "central directory out of range"), NULL;
    if (count > cd_size / 46) return zerr(fn, name, "entry count does not fit the central directory"), NULL;
    zent *es = nbc_raw_alloc((size_t)(count ? count : 1) * sizeof *es);
    if (!es) return nbc_oom(fn), NULL;
    nb_params *out = NULL;
    int rc = 0;
    uint64_t at = cd_off, cd_end = cd_off + cd_size;
    for (uint64_t k = 0; k < count && !rc; k++) {
        zent *e = &es[k];
        if (cd_end - at < 46 || rd32(buf + at) != 0x02014b50) {
            rc = zerr(fn, name, "bad central directory entry");
            break;
        }
        const uint8_t *C = buf + at;
        uint16_t flags = rd16(C + 8), nlen = rd16(C + 28), xlen = rd16(C + 30), clen = rd16(C + 32);
        if ((uint64_t)46 + nlen + xlen + clen > cd_end - at) {
            rc = zerr(fn, name, "central directory entry runs past the directory");
            break;
        }
        e->method = rd16(C + 10);
        e->crc = rd32(C + 16);
        e->csize = rd32(C + 20);
        e->usize = rd32(C + 24);
        e->off = rd32(C + 42);
        e->name = C + 46;
        e->nlen = nlen;
        /* ZIP64 extra field: the 64-bit values of the fields that are all ones, in this order. */
        const uint8_t *X = C + 46 + nlen;
        for (size_t x = 0; x + 4 <= xlen;) {
            uint16_t id = rd16(X + x), sz = rd16(X + x + 2);
            if (x + 4 + sz > xlen) {
                rc = zerr(fn, name, "extra field runs past its entry");
                break;
            }
            if (id == 0x0001) {
                size_t q = x + 4, qe = x + 4 + sz;
                uint64_t *f[3] = {&e->usize, &e->csize, &e->off};
                for (int j = 0; j < 3 && !rc; j++) {
                    if (*f[j] != 0xFFFFFFFF) continue;
                    if (qe - q < 8) rc = zerr(fn, name, "ZIP64 extra field too short");
                    else *f[j] = rd64(X + q), q += 8;
                }
            }
            x += 4 + (size_t)sz;
        }
        if (rc) break;
        at += 46 + (uint64_t)nlen + xlen + clen;
        snprintf(what, sizeof what, "member #%llu ('%.*s')", (unsigned long long)k, (int)(nlen > 100 ? 100 : nlen),
                 (const char *)e->name);
        char msg[400];
        if (flags & 1) {
            snprintf(msg, sizeof msg, "%s is encrypted", what);
            rc = zerr(fn, name, msg);
        } else if (e->method != 0 && e->method != 8) {
            snprintf(msg, sizeof msg, "%s uses compression method %d (only stored and deflate are supported)", what, e->method);
            rc = zerr(fn, name, msg);
        } else if (nlen < 5 || memcmp(e->name + nlen - 4, ".npy", 4) != 0 || memchr(e->name, 0, nlen) ||
                   !nbio_utf8_valid(e->name, nlen)) {
            snprintf(msg, sizeof msg, "%s is not named <key>.npy", what);
            rc = zerr(fn, name, msg);
        } else if (e->off > cd_off || cd_off - e->off < 30 || rd32(buf + e->off) != 0x04034b50) {
            snprintf(msg, sizeof msg, "%s has a bad local header offset", what);
            rc = zerr(fn, name, msg);
        } else {
            const uint8_t *L = buf + e->off;
            uint64_t ln = rd16(L + 26), lx = rd16(L + 28);
            e->data = e->off + 30 + ln + lx;
            if (e->data > cd_off || ln != nlen || memcmp(L + 30, e->name, nlen) != 0) {
                snprintf(msg, sizeof msg, "%s: local header does not match the central directory", what);
                rc = zerr(fn, name, msg);
            } else if (e->csize > cd_off - e->data) {
                snprintf(msg, sizeof msg, "%s: data runs past the central directory (truncated?)", what);
                rc = zerr(fn, name, msg);
            } else if (e->method == 0 ? e->csize != e->usize : e->usize > e->csize * 1032 + 1024) {
                snprintf(msg, sizeof msg, "%s: sizes %llu -> %llu are impossible for its method", what,
                         (unsigned long long)e->csize, (unsigned long long)e->usize);
                rc = zerr(fn, name, msg);
            }
            e->end = e->data + e->csize;
        }
    }
    uint64_t ne = count;
    if (!rc && ne) {
        /* Members must not overlap each other (overlapping members are a zip-bomb trick). */
        zent *sorted = nbc_raw_alloc((size_t)ne * sizeof *sorted);
        if (!sorted) {
            rc = nbc_oom(fn);
        } else {
            memcpy(sorted, es, (size_t)ne * sizeof *sorted);
            qsort(sorted, (size_t)ne, sizeof *sorted, cmp_off);
            for (uint64_t k = 1; k < ne && !rc; k++)
                if (sorted[k].off < sorted[k - 1].end) rc = zerr(fn, name, "members overlap");
            nbc_raw_free(sorted, (size_t)ne * sizeof *sorted);
        }
    }
    for (uint64_t k = 0; k < ne && !rc; k++)
        for (uint64_t j = 0; j < k && !rc; j++)
            if (es[j].nlen == es[k].nlen && !memcmp(es[j].name, es[k].name, es[k].nlen)) {
                snprintf(what, sizeof what, "member '%.*s' appears twice", (int)(es[k].nlen > 100 ? 100 : es[k].nlen),
                         (const char *)es[k].name);
                rc = zerr(fn, name, what);
            }
    if (!rc) {
        out = nbn_params_new(fn);
        if (!out) rc = NB_ERR_NOMEM;
    }
    for (uint64_t k = 0; k < ne && !rc; k++) {
        zent *e = &es[k];
        const uint8_t *src = buf + e->data;
        uint8_t *tmp = NULL;
        if (e->method == 8) {
#ifdef NABLA_HAVE_ZLIB
            if (e->usize > SIZE_MAX - 1) {
                rc = nbc_oom(fn);
                break;
            }
            tmp = nbc_raw_alloc((size_t)e->usize + 1);
            if (!tmp) {
                rc = nbc_oom(fn);
                break;
            }
            if ((rc = inflate_member(fn, name, e, src, tmp))) {
                nbc_raw_free(tmp, (size_t)e->usize + 1);
                break;
            }
            src = tmp;
#else
            rc = nbc_error(NB_ERR_UNSUPPORTED, "%s: %s: member '%.*s' is deflated, but nabla was built without zlib "
                           "(rebuild with zlib1g-dev, or save with np.savez instead of savez_compressed)", fn, name,
                           (int)e->nlen, (const char *)e->name);
            break;
#endif
        }
        if (nbio_crc32(0, src, (size_t)e->usize) != e->crc) {
            snprintf(what, sizeof what, "member '%.*s' fails its CRC-32 check (damaged file)",
                     (int)(e->nlen > 100 ? 100 : e->nlen), (const char *)e->name);
            rc = zerr(fn, name, what);
        }
        char key[512], mname[600];
        size_t kl = e->nlen - 4 < sizeof key - 1 ? e->nlen - 4 : sizeof key - 1;
        memcpy(key, e->name, kl);
        key[kl] = 0;
        snprintf(mname, sizeof mname, "%s[%s]", name, key);
        nb_tensor *t = rc ? NULL : nbio_npy_parse(fn, src, (size_t)e->usize, mname);
        if (tmp) nbc_raw_free(tmp, (size_t)e->usize + 1);
        if (!rc && !t) rc = nb_last_status();
        if (!rc) rc = nbn_params_push(out, key, t);
        nb_free(t);
    }
    nbc_raw_free(es, (size_t)(count ? count : 1) * sizeof *es);
    if (rc) {
        nb_params_free(out);
        return NULL;
    }
    return out;
}

nb_params *nb_npz_parse(const void *buf, size_t n, const char *name) {
    return nbio_npz_parse("nb_npz_parse", buf, n, name);
}

nb_params *nb_npz_load(const char *path) {
    static const char fn[] = "nb_npz_load";
    nbio_map *m = nbio_map_file(fn, path);
    if (!m) return NULL;
    nb_params *p = nbio_npz_parse(fn, m->data, m->size, path);
    nbio_map_decref(m);
    return p;
}

/* ---- .npz writing -------------------------------------------------------------------------------- */

int nb_npz_save(const char *path, const nb_params *arrays, bool compress) {
    static const char fn[] = "nb_npz_save";
    if (!arrays) return nbc_error(NB_ERR_ARG, "%s: array list is NULL", fn);
#ifndef NABLA_HAVE_ZLIB
    if (compress)
        return nbc_error(NB_ERR_UNSUPPORTED, "%s: compressed .npz needs zlib, and nabla was built without it", fn);
#endif
    int n = arrays->n;
    if (n > 65535) return nbc_error(NB_ERR_ARG, "%s: %d arrays; a zip without ZIP64 holds at most 65535", fn, n);
    for (int i = 0; i < n; i++) {
        const char *k = arrays->names[i];
        if (!k[0] || strlen(k) > 60000 || !nbio_utf8_valid((const uint8_t *)k, strlen(k)))
            return nbc_error(NB_ERR_ARG, "%s: array #%d has an empty, too long or non-UTF-8 name", fn, i);
        for (int j = 0; j < i; j++)
            if (!strcmp(arrays->names[j], k))
                return nbc_error(NB_ERR_ARG, "%s: the name '%s' appears twice (arrays #%d and #%d)", fn, k, j, i);
        if ((unsigned)arrays->tensors[i]->dtype >= NB_DTYPE_COUNT || arrays->tensors[i]->dtype == NB_BF16)
            return nbc_error(NB_ERR_ARG, "%s: array '%s': NumPy has no %s dtype; convert it first", fn, k,
                             nb_dtype_name(arrays->tensors[i]->dtype));
    }
    size_t cd_cap = 22;
    for (int i = 0; i < n; i++) cd_cap += 46 + strlen(arrays->names[i]) + 4;
    uint8_t *cd = nbc_raw_alloc(cd_cap);
    if (!cd) return nbc_oom(fn);
    size_t cdn = 0;
    uint64_t off = 0;
    nbio_writer w;
    int rc = nbio_wopen(&w, fn, path);
    for (int i = 0; i < n && !rc; i++) {
        const nb_tensor *t = arrays->tensors[i];
        uint8_t hdr[320];
        size_t hl = npy_header(fn, t, hdr);
        if (!hl) {
            rc = nb_last_status();
            break;
        }
        size_t bytes = (size_t)nbc_numel(t->ndim, t->shape) * nb_dtype_size(t->dtype);
        size_t usize = hl + bytes;
        uint8_t *member = nbc_raw_alloc(usize);
        if (!member) {
            rc = nbc_oom(fn);
            break;
        }
        memcpy(member, hdr, hl);
        if (bytes) {
            if (nbc_is_contiguous(t)) memcpy(member + hl, nbc_ptr(t), bytes);
            else rc = nb_copy_to(t, member + hl, bytes, t->dtype);
        }
        uint32_t crc = nbio_crc32(0, member, usize);
        const uint8_t *payload = member;
        size_t csize = usize, ccap = 0;
        uint8_t *cbuf = NULL;
#ifdef NABLA_HAVE_ZLIB
        if (!rc && compress) {
            z_stream zs;
            memset(&zs, 0, sizeof zs);
            if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                rc = nbc_oom(fn);
            } else {
                ccap = (size_t)deflateBound(&zs, (uLong)usize) + 64;
                cbuf = usize <= 0xFFFFFFFFu ? nbc_raw_alloc(ccap) : NULL;
                if (!cbuf) {
                    rc = usize > 0xFFFFFFFFu ? nbc_error(NB_ERR_ARG, "%s: array '%s' is over 4 GiB (ZIP64 writing is "
                                                         "not supported)", fn, arrays->names[i])
                                             : nbc_oom(fn);
                } else {
                    zs.next_in = member;
                    zs.avail_in = (uInt)usize;
                    zs.next_out = cbuf;
                    zs.avail_out = (uInt)ccap;
                    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) rc = nbc_error(NB_ERR_IO, "%s: deflate failed", fn);
                    csize = (size_t)zs.total_out;
                    payload = cbuf;
                }
                deflateEnd(&zs);
            }
        }
#endif
        size_t nl = strlen(arrays->names[i]) + 4;
        if (!rc && (off > 0xFFFFFFFEu || usize > 0xFFFFFFFEu || csize > 0xFFFFFFFEu || off + 30 + nl + csize > 0xFFFFFFFEu))
            rc = nbc_error(NB_ERR_ARG, "%s: %s would exceed 4 GiB; ZIP64 writing is not supported (use safetensors)", fn,
                           path);
        if (!rc) {
            uint16_t method = compress ? 8 : 0, ver = compress ? 20 : 10;
            bool utf8 = false;
            for (const char *c = arrays->names[i]; *c; c++) utf8 |= (unsigned char)*c >= 0x80;
            uint8_t L[30] = {0};
            wr32(L, 0x04034b50);
            wr16(L + 4, ver);
            wr16(L + 6, utf8 ? 0x800 : 0);
            wr16(L + 8, method);
            wr16(L + 10, 0);      /* time 00:00 */
            wr16(L + 12, 0x21);   /* date 1980-01-01: deterministic files */
            wr32(L + 14, crc);
            wr32(L + 18, (uint32_t)csize);
            wr32(L + 22, (uint32_t)usize);
            wr16(L + 26, (uint32_t)nl);
            nbio_write(&w, L, 30);
            nbio_write(&w, arrays->names[i], nl - 4);
            nbio_write(&w, ".npy", 4);
            nbio_write(&w, payload, csize);
            uint8_t *C = cd + cdn;
            memset(C, 0, 46);
            wr32(C, 0x02014b50);
            wr16(C + 4, 3 << 8 | 20); /* made by Unix, spec 2.0 */
            memcpy(C + 6, L + 4, 26); /* version needed .. name length, as in the local header */
            wr32(C + 38, 0100644u << 16);
            wr32(C + 42, (uint32_t)off);
            memcpy(C + 46, arrays->names[i], nl - 4);
            memcpy(C + 46 + nl - 4, ".npy", 4);
            cdn += 46 + nl;
            off += 30 + nl + csize;
            rc = w.err;
        }
        if (cbuf) nbc_raw_free(cbuf, ccap);
        nbc_raw_free(member, usize ? usize : 1);
        (void)payload;
    }
    if (!rc && (off > 0xFFFFFFFEu - cdn))
        rc = nbc_error(NB_ERR_ARG, "%s: %s would exceed 4 GiB; ZIP64 writing is not supported", fn, path);
    if (!rc) {
        uint8_t *E = cd + cdn;
        memset(E, 0, 22);
        wr32(E, 0x06054b50);
        wr16(E + 8, (uint32_t)n);
        wr16(E + 10, (uint32_t)n);
        wr32(E + 12, (uint32_t)cdn);
        wr32(E + 16, (uint32_t)off);
        nbio_write(&w, cd, cdn + 22);
        rc = nbio_wcommit(&w);
    } else if (w.tmp) {
        nbio_wabort(&w);
    }
    nbc_raw_free(cd, cd_cap);
    return rc;
}
