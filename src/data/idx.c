/* data/idx.c — the IDX reader (the MNIST / Fashion-MNIST / EMNIST format): a 4-byte magic (0, 0,
 * type code, number of dims), big-endian u32 dims, then the payload in C order, multi-byte elements
 * big-endian. Gzipped files are recognised by their magic bytes and inflated in memory with zlib,
 * straight into the result tensor, so a 47 MB image file costs the compressed bytes plus the tensor.
 * Every header field is checked against the real size before use; truncated payloads and trailing
 * bytes are errors naming the file. This file does not turn images into training data (dataset.c
 * does) and does not write IDX.
 */
#include "data_internal.h"

#include <string.h>

#ifdef NABLA_HAVE_ZLIB
#include <zlib.h>
#endif

static const char FN[] = "nb_idx_read";

/* A byte source: the raw buffer, or a gzip stream inflated on the fly from it. */
typedef struct src {
    const uint8_t *buf;
    size_t n, pos; /* raw: read position; gz: compressed bytes consumed */
    const char *name;
    bool gz;
#ifdef NABLA_HAVE_ZLIB
    z_stream zs;
    bool zinit, zend;
#endif
} src;

static bool is_gzip(const uint8_t *b, size_t n) { return n >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

/* Read up to want bytes into dst; *got receives how many came (fewer only at the end of the data).
 * Returns 0 or a negative status (corrupt compressed data). */
static int src_read(src *s, void *dst, size_t want, size_t *got) {
    *got = 0;
    if (!s->gz) {
        size_t k = s->n - s->pos < want ? s->n - s->pos : want;
        if (k) memcpy(dst, s->buf + s->pos, k);
        s->pos += k;
        *got = k;
        return 0;
    }
#ifdef NABLA_HAVE_ZLIB
    uint8_t *out = dst;
    while (*got < want && !s->zend) {
        /* zlib counts in uInt: feed at most 1 GiB per call. */
        size_t in_left = s->n - s->pos, out_left = want - *got;
        s->zs.next_in = (Bytef *)(s->buf + s->pos);
        s->zs.avail_in = (uInt)(in_left < (1u << 30) ? in_left : (1u << 30));
        s->zs.next_out = out + *got;
        s->zs.avail_out = (uInt)(out_left < (1u << 30) ? out_left : (1u << 30));
        uInt in0 = s->zs.avail_in, out0 = s->zs.avail_out;
        int rc = inflate(&s->zs, Z_NO_FLUSH);
        s->pos += in0 - s->zs.avail_in;
        *got += out0 - s->zs.avail_out;
        if (rc == Z_STREAM_END) {
            /* Another gzip member may follow (files made by concatenation); anything else is junk. */
            if (s->pos == s->n) {
                s->zend = true;
            } else if (is_gzip(s->buf + s->pos, s->n - s->pos)) {
                if (inflateReset(&s->zs) != Z_OK)
                    return nbc_error(NB_ERR_FORMAT, "%s: %s: cannot restart the gzip stream", FN, s->name);
            } else {
                return nbc_error(NB_ERR_FORMAT, "%s: %s: %zu bytes of trailing garbage after the gzip stream", FN,
                                 s->name, s->n - s->pos);
            }
        } else if (rc == Z_MEM_ERROR) {
            return nbc_oom(FN);
        } else if (rc == Z_BUF_ERROR || (rc == Z_OK && in0 - s->zs.avail_in == 0 && out0 == s->zs.avail_out)) {
            /* No progress possible: the compressed input ended before the stream did. */
            return nbc_error(NB_ERR_FORMAT, "%s: %s: truncated gzip stream (ends after %zu compressed bytes)", FN,
                             s->name, s->n);
        } else if (rc != Z_OK) {
            return nbc_error(NB_ERR_FORMAT, "%s: %s: corrupt gzip data (%s)", FN, s->name,
                             s->zs.msg ? s->zs.msg : "inflate failed");
        }
    }
    return 0;
#else
    return nbc_error(NB_ERR_UNSUPPORTED, "%s: %s: gzip stream but nabla was built without zlib", FN, s->name);
#endif
}

static void src_close(src *s) {
#ifdef NABLA_HAVE_ZLIB
    if (s->zinit) inflateEnd(&s->zs);
    s->zinit = false;
#else
    (void)s;
#endif
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static const char *type_name(int code) {
    switch (code) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    default: return "?";
    }
}

/* Convert the big-endian payload (already in place in the tensor's buffer) to native values. For i16
 * the payload sits in the upper half of the i32 buffer and is widened front to back: element i is
 * written to bytes [4i, 4i+4) and read from 2n+2i >= 4i+4 for every later element, so nothing unread
 * is overwritten. */
static void convert_payload(int code, uint8_t *data, size_t count) {
    switch (code) {
    case 0x0B: {
        const uint8_t *in = data + 2 * count;
        int32_t *out = (int32_t *)(void *)data;
        for (size_t i = 0; i < count; i++) out[i] = (int16_t)(uint16_t)(((unsigned)in[2 * i] << 8) | in[2 * i + 1]);
        break;
    }
    case 0x0C:
    case 0x0D:
        for (size_t i = 0; i < count; i++) {
            uint32_t v = be32(data + 4 * i);
            memcpy(data + 4 * i, &v, 4);
        }
        break;
    case 0x0E:
        for (size_t i = 0; i < count; i++) {
            uint64_t v = ((uint64_t)be32(data + 8 * i) << 32) | be32(data + 8 * i + 4);
            memcpy(data + 8 * i, &v, 8);
        }
        break;
    default: break;
    }
}

/* Deflate never expands by more than 1032:1; a header claiming more payload than the compressed
 * bytes left could produce is truncated, and is reported without allocating the claimed size. */
#define NBD_MAX_INFLATE_RATIO 1032u

nb_tensor *nbd_idx_parse(const void *buf, size_t n, const char *name) {
    if (!name) name = "<memory>";
    if (!buf && n) {
        nbc_error(NB_ERR_ARG, "%s: buffer is NULL", FN);
        return NULL;
    }
    src s = {.buf = buf, .n = n, .name = name, .gz = is_gzip(buf, n)};
    nb_tensor *t = NULL;
    if (s.gz) {
#ifdef NABLA_HAVE_ZLIB
        memset(&s.zs, 0, sizeof s.zs);
        int rc = inflateInit2(&s.zs, 16 + MAX_WBITS); /* 16: gzip wrapper only */
        if (rc != Z_OK) {
            if (rc == Z_MEM_ERROR)
                nbc_oom(FN);
            else
                nbc_error(NB_ERR_FORMAT, "%s: %s: cannot start inflating (zlib error %d)", FN, name, rc);
            return NULL;
        }
        s.zinit = true;
#else
        nbc_error(NB_ERR_UNSUPPORTED,
                  "%s: %s is gzip-compressed, but nabla was built without zlib: gunzip it first or rebuild "
                  "with zlib (zlib1g-dev)",
                  FN, name);
        return NULL;
#endif
    }
    uint8_t hdr[4 + 4 * NB_MAX_DIMS];
    size_t got;
    if (src_read(&s, hdr, 4, &got)) goto fail;
    if (got < 4) {
        nbc_error(NB_ERR_FORMAT, "%s: %s: too short for an IDX header (%zu bytes; the header needs at least 4)", FN,
                  name, got);
        goto fail;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        nbc_error(NB_ERR_FORMAT,
                  "%s: %s: not an IDX file (bad magic %02x %02x %02x %02x; IDX files start with 00 00, then "
                  "the type code and the number of dims)",
                  FN, name, hdr[0], hdr[1], hdr[2], hdr[3]);
        goto fail;
    }
    int code = hdr[2], nd = hdr[3];
    nb_dtype dtype;
    size_t file_es; /* element size in the file */
    switch (code) {
    case 0x08: dtype = NB_U8, file_es = 1; break;
    case 0x09: dtype = NB_I8, file_es = 1; break;
    case 0x0B: dtype = NB_I32, file_es = 2; break;
    case 0x0C: dtype = NB_I32, file_es = 4; break;
    case 0x0D: dtype = NB_F32, file_es = 4; break;
    case 0x0E: dtype = NB_F64, file_es = 8; break;
    default:
        nbc_error(NB_ERR_FORMAT,
                  "%s: %s: unknown IDX type code 0x%02x (expected 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32 "
                  "or 0x0e f64)",
                  FN, name, code);
        goto fail;
    }
    if (nd < 1 || nd > NB_MAX_DIMS) {
        nbc_error(NB_ERR_FORMAT, "%s: %s: %d dims in the header; nabla reads IDX files with 1..%d dims", FN, name, nd,
                  NB_MAX_DIMS);
        goto fail;
    }
    if (src_read(&s, hdr + 4, 4 * (size_t)nd, &got)) goto fail;
    if (got < 4 * (size_t)nd) {
        nbc_error(NB_ERR_FORMAT, "%s: %s: truncated header: %d dims need %d bytes, the file has %zu", FN, name, nd,
                  4 + 4 * nd, 4 + got);
        goto fail;
    }
    int64_t shape[NB_MAX_DIMS];
    /* The product of the non-zero dims must stay small even when another dim is 0 (an empty tensor
     * still gets strides, which are products of the dims). */
    uint64_t count = 1;
    bool overflow = false, empty = false;
    for (int i = 0; i < nd; i++) {
        shape[i] = be32(hdr + 4 + 4 * i);
        if (shape[i] == 0)
            empty = true;
        else if (count > (UINT64_MAX / 16) / (uint64_t)shape[i])
            overflow = true;
        else
            count *= (uint64_t)shape[i];
    }
    /* Bytes in the file and in the tensor: both must fit comfortably in size_t and int64. */
    if (overflow || count > (uint64_t)(SIZE_MAX / 16) || count > (uint64_t)(INT64_MAX / 16)) {
        nbc_error(NB_ERR_FORMAT, "%s: %s: absurd dims %s (%s): the product of the dims overflows", FN, name,
                  nbc_shape_str(nd, shape), type_name(code));
        goto fail;
    }
    if (empty) count = 0;
    size_t payload = (size_t)count * file_es, header = 4 + 4 * (size_t)nd;
    if (!s.gz) {
        size_t have = n - header;
        if (have != payload) {
            nbc_error(NB_ERR_FORMAT,
                      "%s: %s: %s: dims %s of %s need %zu payload bytes after the %zu-byte header, the file has %zu",
                      FN, name, have < payload ? "truncated payload" : "trailing bytes after the payload",
                      nbc_shape_str(nd, shape), type_name(code), payload, header, have);
            goto fail;
        }
    } else if (payload / NBD_MAX_INFLATE_RATIO > n - s.pos + 64) {
        nbc_error(NB_ERR_FORMAT,
                  "%s: %s: truncated payload: dims %s of %s need %zu bytes, more than the %zu compressed bytes left "
                  "can hold",
                  FN, name, nbc_shape_str(nd, shape), type_name(code), payload, n - s.pos);
        goto fail;
    }
    t = nbc_tensor_new(FN, dtype, nd, shape);
    if (!t) goto fail;
    uint8_t *data = t->storage->data;
    uint8_t *dst = code == 0x0B ? data + 2 * (size_t)count : data;
    if (src_read(&s, dst, payload, &got)) goto fail;
    if (got < payload) {
        nbc_error(NB_ERR_FORMAT,
                  "%s: %s: truncated payload: dims %s of %s need %zu bytes after the header, the data has %zu", FN,
                  name, nbc_shape_str(nd, shape), type_name(code), payload, got);
        goto fail;
    }
    if (s.gz) {
        uint8_t extra[64];
        if (src_read(&s, extra, sizeof extra, &got)) goto fail;
        if (got) {
            nbc_error(NB_ERR_FORMAT,
                      "%s: %s: trailing bytes after the payload: dims %s of %s need %zu bytes, the data has more", FN,
                      name, nbc_shape_str(nd, shape), type_name(code), payload);
            goto fail;
        }
    }
    convert_payload(code, data, (size_t)count);
    src_close(&s);
    return t;
fail:
    src_close(&s);
    nbc_decref(t);
    return NULL;
}

nb_tensor *nbd_idx_read_file(const char *path) {
    uint8_t *buf;
    size_t n, cap;
    if (nbd_read_file(FN, path, &buf, &n, &cap)) return NULL;
    nb_tensor *t = nbd_idx_parse(buf, n, path);
    nbc_raw_free(buf, cap);
    return t;
}

nb_tensor *nb_idx_read(const char *path) { return nbc_track(nbd_idx_read_file(path)); }
