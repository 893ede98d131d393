/* io/safetensors.c — the safetensors format (Hugging Face): reading from a mapped file (aligned
 * tensors view the mapping without a copy) or from memory, and writing atomically. The header is
 * parsed by a small strict JSON parser that knows the schema (an object of tensor entries
 * {"dtype", "shape", "data_offsets"} plus an optional "__metadata__" object of strings), after the
 * whole header was checked to be UTF-8. Every length, offset and shape is checked against the file
 * size before use, as the reference Rust reader does: header at most 100 MB, offsets contiguous from
 * 0 with no gap or overlap, each tensor's byte size = numel x element size, and the data buffer fully
 * covered. It is not the module / checkpoint logic (state_dict.c, checkpoint.c).
 */
#include "io_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER 100000000ull

static const char *const ST_NAMES[NB_DTYPE_COUNT] = {
    [NB_F32] = "F32", [NB_F64] = "F64", [NB_F16] = "F16", [NB_BF16] = "BF16", [NB_I8] = "I8",
    [NB_U8] = "U8",   [NB_I32] = "I32", [NB_I64] = "I64", [NB_BOOL] = "BOOL"};
/* Types other libraries write that nabla has no dtype for: named in the error. */
static const char *const ST_FOREIGN[] = {"I16", "U16", "U32", "U64", "C64", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                                         "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2"};

const char *nbio_st_dtype_name(nb_dtype d) { return (unsigned)d < NB_DTYPE_COUNT ? ST_NAMES[d] : "?"; }

/* ---- a growable string --------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = nbc_raw_realloc(b->p, b->cap, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_fmt(sbuf *b, const char *fmt, long long v) {
    char t[32];
    int k = snprintf(t, sizeof t, fmt, v);
    sb_put(b, t, (size_t)k);
}
/* A JSON string literal. */
static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            sb_put(b, e, 2);
        } else if (*c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", *c);
            sb_put(b, e, 6);
        } else {
            sb_put(b, c, 1);
        }
    }
    sb_put(b, "\"", 1);
}
static void sb_free(sbuf *b) {
    if (b->p) nbc_raw_free(b->p, b->cap);
    memset(b, 0, sizeof *b);
}

/* ---- the header parser --------------------------------------------------------------------------- */

typedef struct entry {
    char *name;
    nb_dtype dtype;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    uint64_t begin, end;
} entry;

typedef struct parser {
    const char *fn, *name;
    const uint8_t *s;
    size_t n, i;
    entry *e;
    int ne, cap;
    nb_metadata *meta;
} parser;

static int perr(parser *p, const char *what) {
    return nbc_error(NB_ERR_FORMAT, "%s: %s: invalid safetensors header at byte %zu of the JSON: %s", p->fn, p->name,
                     p->i, what);
}

static void ws(parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static int expect(parser *p, char c) {
    ws(p);
    if (p->i >= p->n || p->s[p->i] != (uint8_t)c) {
        char msg[40];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        return perr(p, msg);
    }
    p->i++;
    return 0;
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex4(parser *p, uint32_t *v) {
    if (p->n - p->i < 4) return perr(p, "truncated \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0) return perr(p, "bad hex digit in a \\u escape");
        *v = *v << 4 | (uint32_t)h;
    }
    p->i += 4;
    return 0;
}

/* A JSON string, decoded into a new NUL-terminated buffer (*out, *cap for freeing). */
static int pstring(parser *p, char **out) {
    *out = NULL;
    ws(p);
    if (p->i >= p->n || p->s[p->i] != '"') return perr(p, "expected a string");
    p->i++;
    sbuf b = {0};
    int rc = 0;
    for (;;) {
        if (p->i >= p->n) {
            rc = perr(p, "unterminated string");
            break;
        }
        uint8_t c = p->s[p->i++];
        if (c == '"') break;
        if (c < 0x20) {
            rc = perr(p, "control character inside a string");
            break;
        }
        if (c != '\\') {
            sb_put(&b, &c, 1);
            continue;
        }
        if (p->i >= p->n) {
            rc = perr(p, "unterminated escape");
            break;
        }
        uint8_t e = p->s[p->i++];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            sb_put(&b, &map[simple - "\"\\/bfnrt"], 1);
            continue;
        }
        if (e != 'u') {
            rc = perr(p, "invalid escape in a string");
            break;
        }
        uint32_t cp;
        if ((rc = hex4(p, &cp))) break;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            rc = perr(p, "lone low surrogate in a \\u escape");
            break;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                rc = perr(p, "lone high surrogate in a \\u escape");
                break;
            }
            p->i += 2;
            if ((rc = hex4(p, &lo))) break;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                rc = perr(p, "bad surrogate pair in a \\u escape");
                break;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0) {
            rc = perr(p, "\\u0000 inside a string");
            break;
        }
        uint8_t u[4];
        size_t k;
        if (cp < 0x80) u[0] = (uint8_t)cp, k = 1;
        else if (cp < 0x800) u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F)), k = 2;
        else if (cp < 0x10000)
            u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), u[2] = (uint8_t)(0x80 | (cp & 0x3F)), k = 3;
        else
            u[0] = (uint8_t)(0xF0 | cp >> 18), u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F)),
            u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), u[3] = (uint8_t)(0x80 | (cp & 0x3F)), k = 4;
        sb_put(&b, u, k);
    }
    if (!rc) sb_put(&b, "", 0);
    if (!rc && b.oom) rc = nbc_oom(p->fn);
    if (rc) {
        sb_free(&b);
        return rc;
    }
    /* Shrink into an exact-size copy so nbc_strfree can free it. */
    *out = nbc_strdup(p->fn, b.p);
    sb_free(&b);
    return *out ? 0 : NB_ERR_NOMEM;
}

/* A non-negative JSON integer (no sign, fraction or exponent) up to max. */
static int puint(parser *p, uint64_t max, uint64_t *v) {
    ws(p);
    if (p->i >= p->n) return perr(p, "expected a number");
    if (p->s[p->i] == '-') return perr(p, "negative number where a size or offset is expected");
    if (p->s[p->i] < '0' || p->s[p->i] > '9') return perr(p, "expected a non-negative integer");
    if (p->s[p->i] == '0' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9')
        return perr(p, "number with a leading zero");
    uint64_t x = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        unsigned d = p->s[p->i] - '0';
        if (x > (max - d) / 10) return perr(p, "integer too large");
        x = x * 10 + d;
        p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E'))
        return perr(p, "expected an integer, found a fraction or exponent");
    *v = x;
    return 0;
}

static int plit(parser *p, const char *lit) {
    size_t k = strlen(lit);
    if (p->n - p->i < k || memcmp(p->s + p->i, lit, k) != 0) return 0;
    p->i += k;
    return 1;
}

static int pmetadata(parser *p) {
    ws(p);
    if (plit(p, "null")) return 0;
    int rc = expect(p, '{');
    if (rc) return rc;
    ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return 0;
    }
    for (;;) {
        char *k = NULL, *v = NULL;
        if ((rc = pstring(p, &k))) return rc;
        if (nb_metadata_get(p->meta, k)) {
            nbc_strfree(k);
            return perr(p, "duplicate key in __metadata__");
        }
        if ((rc = expect(p, ':'))) {
            nbc_strfree(k);
            return rc;
        }
        ws(p);
        if (p->i < p->n && p->s[p->i] != '"') {
            nbc_strfree(k);
            return perr(p, "__metadata__ values must be strings");
        }
        if ((rc = pstring(p, &v))) {
            nbc_strfree(k);
            return rc;
        }
        rc = nbio_meta_set(p->fn, p->meta, k, v);
        nbc_strfree(k);
        nbc_strfree(v);
        if (rc) return rc;
        ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        return expect(p, '}');
    }
}

static int pentry(parser *p, entry *e) {
    int rc = expect(p, '{');
    if (rc) return rc;
    bool have[3] = {false, false, false};
    for (;;) {
        char *k = NULL;
        if ((rc = pstring(p, &k))) return rc;
        int which = !strcmp(k, "dtype") ? 0 : !strcmp(k, "shape") ? 1 : !strcmp(k, "data_offsets") ? 2 : -1;
        nbc_strfree(k);
        if (which < 0) return perr(p, "unknown key in a tensor entry (allowed: dtype, shape, data_offsets)");
        if (have[which]) return perr(p, "duplicate key in a tensor entry");
        have[which] = true;
        if ((rc = expect(p, ':'))) return rc;
        if (which == 0) {
            char *d = NULL;
            if ((rc = pstring(p, &d))) return rc;
            int found = -1;
            for (int t = 0; t < NB_DTYPE_COUNT; t++)
                if (!strcmp(d, ST_NAMES[t])) found = t;
            if (found < 0) {
                bool foreign = false;
                for (size_t t = 0; t < sizeof ST_FOREIGN / sizeof ST_FOREIGN[0]; t++) foreign |= !strcmp(d, ST_FOREIGN[t]);
                rc = nbc_error(NB_ERR_FORMAT, "%s: %s: tensor '%s' has dtype \"%.40s\", which %s", p->fn, p->name,
                               e->name, d,
                               foreign ? "nabla does not support (it has F32, F64, F16, BF16, I8, U8, I32, I64, BOOL)"
                                       : "is not a safetensors dtype");
                nbc_strfree(d);
                return rc;
            }
            nbc_strfree(d);
            e->dtype = (nb_dtype)found;
        } else if (which == 1) {
            if ((rc = expect(p, '['))) return rc;
            e->ndim = 0;
            ws(p);
            if (p->i < p->n && p->s[p->i] == ']') {
                p->i++;
            } else {
                for (;;) {
                    uint64_t v;
                    if ((rc = puint(p, INT64_MAX, &v))) return rc;
                    if (e->ndim == NB_MAX_DIMS) return perr(p, "tensor has more than 8 dims (nabla's limit)");
                    e->shape[e->ndim++] = (int64_t)v;
                    ws(p);
                    if (p->i < p->n && p->s[p->i] == ',') {
                        p->i++;
                        continue;
                    }
                    if ((rc = expect(p, ']'))) return rc;
                    break;
                }
            }
        } else {
            if ((rc = expect(p, '['))) return rc;
            if ((rc = puint(p, UINT64_MAX, &e->begin))) return rc;
            if ((rc = expect(p, ','))) return rc;
            if ((rc = puint(p, UINT64_MAX, &e->end))) return rc;
            if ((rc = expect(p, ']'))) return rc;
        }
        ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if ((rc = expect(p, '}'))) return rc;
        break;
    }
    if (!have[0] || !have[1] || !have[2])
        return nbc_error(NB_ERR_FORMAT, "%s: %s: tensor '%s' lacks \"%s\"", p->fn, p->name, e->name,
                         !have[0] ? "dtype" : !have[1] ? "shape" : "data_offsets");
    return 0;
}

static void entries_free(parser *p) {
    for (int i = 0; i < p->ne; i++) nbc_strfree(p->e[i].name);
    if (p->cap) nbc_raw_free(p->e, (size_t)p->cap * sizeof *p->e);
    p->e = NULL;
    p->ne = p->cap = 0;
}

static int pheader(parser *p) {
    ws(p);
    if (p->i >= p->n || p->s[p->i] != '{') return perr(p, "the header must be a JSON object starting with '{'");
    p->i++;
    ws(p);
    bool seen_meta = false;
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
    } else {
        for (;;) {
            char *k = NULL;
            int rc = pstring(p, &k);
            if (rc) return rc;
            if ((rc = expect(p, ':'))) {
                nbc_strfree(k);
                return rc;
            }
            if (!strcmp(k, "__metadata__")) {
                nbc_strfree(k);
                if (seen_meta) return perr(p, "duplicate __metadata__");
                seen_meta = true;
                if ((rc = pmetadata(p))) return rc;
            } else {
                if (p->ne == p->cap) {
                    int nc = p->cap ? 2 * p->cap : 16;
                    entry *ne = nbc_raw_realloc(p->e, (size_t)p->cap * sizeof *ne, (size_t)nc * sizeof *ne);
                    if (!ne) {
                        nbc_strfree(k);
                        return nbc_oom(p->fn);
                    }
                    p->e = ne;
                    p->cap = nc;
                }
                entry *e = &p->e[p->ne++];
                memset(e, 0, sizeof *e);
                e->name = k;
                if (!k[0]) return nbc_error(NB_ERR_FORMAT, "%s: %s: a tensor has an empty name", p->fn, p->name);
                if ((rc = pentry(p, e))) return rc;
            }
            ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if ((rc = expect(p, '}'))) return rc;
            break;
        }
    }
    ws(p);
    if (p->i != p->n) return perr(p, "unexpected data after the header object");
    return 0;
}

/* ---- validation and tensor creation -------------------------------------------------------------- */

static const entry *g_sort_e; /* qsort has no context argument in C11; guarded by a lock */
static int cmp_begin(const void *a, const void *b) {
    const entry *x = &g_sort_e[*(const int *)a], *y = &g_sort_e[*(const int *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}
static int cmp_name(const void *a, const void *b) {
    return strcmp(g_sort_e[*(const int *)a].name, g_sort_e[*(const int *)b].name);
}
static pthread_mutex_t g_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int validate(parser *p, uint64_t data_size) {
    for (int i = 0; i < p->ne; i++) {
        entry *e = &p->e[i];
        uint64_t bytes;
        if (!nbio_nbytes(e->ndim, e->shape, e->dtype, &bytes))
            return nbc_error(NB_ERR_FORMAT, "%s: %s: tensor '%s' has shape %s, whose byte size overflows", p->fn, p->name,
                             e->name, nbc_shape_str(e->ndim, e->shape));
        if (e->end < e->begin)
            return nbc_error(NB_ERR_FORMAT, "%s: %s: tensor '%s' has data_offsets [%llu, %llu] with end before begin",
                             p->fn, p->name, e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        if (e->end > data_size)
            return nbc_error(NB_ERR_FORMAT,
                             "%s: %s: tensor '%s' has data_offsets [%llu, %llu] beyond the data (%llu bytes): the file "
                             "is truncated or the header is wrong",
                             p->fn, p->name, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                             (unsigned long long)data_size);
        if (e->end - e->begin != bytes)
            return nbc_error(NB_ERR_FORMAT,
                             "%s: %s: tensor '%s' (%s, shape %s) needs %llu bytes but data_offsets [%llu, %llu] hold %llu",
                             p->fn, p->name, e->name, ST_NAMES[e->dtype], nbc_shape_str(e->ndim, e->shape),
                             (unsigned long long)bytes, (unsigned long long)e->begin, (unsigned long long)e->end,
                             (unsigned long long)(e->end - e->begin));
    }
    if (p->ne == 0) {
        if (data_size)
            return nbc_error(NB_ERR_FORMAT, "%s: %s: %llu bytes of data follow a header that lists no tensor", p->fn,
                             p->name, (unsigned long long)data_size);
        return 0;
    }
    int *idx = nbc_raw_alloc((size_t)p->ne * sizeof(int));
    if (!idx) return nbc_oom(p->fn);
    for (int i = 0; i < p->ne; i++) idx[i] = i;
    int rc = 0;
    pthread_mutex_lock(&g_sort_lock);
    g_sort_e = p->e;
    qsort(idx, (size_t)p->ne, sizeof(int), cmp_name);
    for (int i = 1; i < p->ne && !rc; i++)
        if (!strcmp(p->e[idx[i]].name, p->e[idx[i - 1]].name))
            rc = nbc_error(NB_ERR_FORMAT, "%s: %s: tensor '%s' appears twice in the header", p->fn, p->name,
                           p->e[idx[i]].name);
    if (!rc) qsort(idx, (size_t)p->ne, sizeof(int), cmp_begin);
    pthread_mutex_unlock(&g_sort_lock);
    uint64_t at = 0;
    for (int k = 0; k < p->ne && !rc; k++) {
        const entry *e = &p->e[idx[k]];
        if (e->begin != at) {
            const char *prev = k ? p->e[idx[k - 1]].name : NULL;
            if (e->begin < at)
                rc = nbc_error(NB_ERR_FORMAT, "%s: %s: the data of tensors '%s' and '%s' overlap (byte %llu)", p->fn,
                               p->name, prev, e->name, (unsigned long long)e->begin);
            else
                rc = nbc_error(NB_ERR_FORMAT, "%s: %s: %llu bytes at data offset %llu before tensor '%s' belong to no "
                               "tensor", p->fn, p->name, (unsigned long long)(e->begin - at), (unsigned long long)at, e->name);
        }
        at = e->end;
    }
    if (!rc && at != data_size)
        rc = nbc_error(NB_ERR_FORMAT, "%s: %s: the tensors cover %llu bytes of data but the file holds %llu after the "
                       "header", p->fn, p->name, (unsigned long long)at, (unsigned long long)data_size);
    nbc_raw_free(idx, (size_t)p->ne * sizeof(int));
    return rc;
}

static nb_tensor *make_tensor(const char *fn, const entry *e, const uint8_t *data, nbio_map *map) {
    size_t es = nb_dtype_size(e->dtype), bytes = (size_t)(e->end - e->begin);
    bool bad_bool = false;
    if (e->dtype == NB_BOOL)
        for (size_t i = 0; i < bytes && !bad_bool; i++) bad_bool = data[i] > 1;
    if (map && bytes && !bad_bool && ((uintptr_t)data % es) == 0) {
        atomic_fetch_add(&map->refs, 1);
        nb_tensor *t = nb_from_buffer((void *)data, e->ndim, e->shape, e->dtype, nbio_map_release, map);
        if (!t) nbio_map_decref(map);
        return t;
    }
    nb_tensor *t = nbc_tensor_new(fn, e->dtype, e->ndim, e->shape);
    if (!t) return NULL;
    if (bytes) memcpy(nbc_ptr(t), data, bytes);
    if (bad_bool) {
        uint8_t *b = nbc_ptr(t);
        for (size_t i = 0; i < bytes; i++) b[i] = b[i] != 0;
    }
    return nbc_track(t);
}

nb_params *nbio_st_parse(const char *fn, const uint8_t *buf, size_t n, const char *name, nbio_map *map,
                         nb_metadata **metadata) {
    if (metadata) *metadata = NULL;
    if (!buf && n) return nbc_error(NB_ERR_ARG, "%s: buffer is NULL", fn), NULL;
    if (!name) name = "<memory>";
    if (n < 8)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: file is %zu bytes; a safetensors file starts with an 8-byte header "
                         "length", fn, name, n), NULL;
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | buf[k];
    if (hlen > ST_MAX_HEADER)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: header length %llu exceeds the 100,000,000-byte limit (not a "
                         "safetensors file?)", fn, name, (unsigned long long)hlen), NULL;
    if (hlen > n - 8)
        return nbc_error(NB_ERR_FORMAT, "%s: %s: header length %llu runs past the end of the file (%zu bytes): "
                         "truncated or not a safetensors file", fn, name, (unsigned long long)hlen, n), NULL;
    if (hlen < 2 || buf[8] != '{')
        return nbc_error(NB_ERR_FORMAT, "%s: %s: the header does not start with '{' (not a safetensors file?)", fn,
                         name), NULL;
    if (!nbio_utf8_valid(buf + 8, (size_t)hlen))
        return nbc_error(NB_ERR_FORMAT, "%s: %s: the header is not valid UTF-8", fn, name), NULL;
    parser p = {.fn = fn, .name = name, .s = buf + 8, .n = (size_t)hlen};
    p.meta = nb_metadata_new();
    if (!p.meta) return NULL;
    nb_params *out = NULL;
    int rc = pheader(&p);
    const uint8_t *data = buf + 8 + hlen;
    if (!rc) rc = validate(&p, (uint64_t)(n - 8 - hlen));
    if (!rc) {
        out = nbn_params_new(fn);
        if (!out) rc = NB_ERR_NOMEM;
    }
    for (int i = 0; !rc && i < p.ne; i++) {
        nb_tensor *t = make_tensor(fn, &p.e[i], data + p.e[i].begin, map);
        if (!t) {
            rc = nb_last_status() ? nb_last_status() : NB_ERR_NOMEM;
            break;
        }
        rc = nbn_params_push(out, p.e[i].name, t);
        nb_free(t);
    }
    entries_free(&p);
    if (rc) {
        nb_params_free(out);
        nb_metadata_free(p.meta);
        return NULL;
    }
    if (metadata)
        *metadata = p.meta;
    else
        nb_metadata_free(p.meta);
    return out;
}

nb_params *nb_safetensors_parse(const void *buf, size_t n, const char *name, nb_metadata **metadata) {
    return nbio_st_parse("nb_safetensors_parse", buf, n, name, NULL, metadata);
}

nb_params *nb_safetensors_load(const char *path, nb_metadata **metadata) {
    static const char fn[] = "nb_safetensors_load";
    if (metadata) *metadata = NULL;
    nbio_map *m = nbio_map_file(fn, path);
    if (!m) return NULL;
    nb_params *p = nbio_st_parse(fn, m->data, m->size, path, m, metadata);
    nbio_map_decref(m); /* tensors that view it hold their own references */
    return p;
}

/* ---- writing ------------------------------------------------------------------------------------- */

static int write_tensor_data(nbio_writer *w, const nb_tensor *t) {
    int64_t n = nbc_numel(t->ndim, t->shape);
    size_t bytes = (size_t)n * nb_dtype_size(t->dtype);
    if (!bytes) return 0;
    if (nbc_is_contiguous(t)) return nbio_write(w, nbc_ptr(t), bytes);
    void *tmp = nbc_raw_alloc(bytes);
    if (!tmp) return w->err = nbc_oom(w->fn);
    int rc = nb_copy_to(t, tmp, bytes, t->dtype);
    if (!rc) rc = nbio_write(w, tmp, bytes);
    nbc_raw_free(tmp, bytes);
    return rc;
}

int nbio_st_write(const char *fn, const char *path, const nb_params *tensors, const nb_metadata *metadata) {
    if (!tensors) return nbc_error(NB_ERR_ARG, "%s: tensor list is NULL", fn);
    int n = tensors->n;
    for (int i = 0; i < n; i++) {
        const char *nm = tensors->names[i];
        const nb_tensor *t = tensors->tensors[i];
        if (!nm[0] || !strcmp(nm, "__metadata__") || !nbio_utf8_valid((const uint8_t *)nm, strlen(nm)))
            return nbc_error(NB_ERR_ARG, "%s: tensor #%d has the name \"%s\", which is empty, reserved or not UTF-8",
                             fn, i, nm);
        if ((unsigned)t->dtype >= NB_DTYPE_COUNT)
            return nbc_error(NB_ERR_ARG, "%s: tensor '%s' has an invalid dtype", fn, nm);
    }
    for (int i = 0; metadata && i < metadata->n; i++)
        if (!nbio_utf8_valid((const uint8_t *)metadata->keys[i], strlen(metadata->keys[i])) ||
            !nbio_utf8_valid((const uint8_t *)metadata->values[i], strlen(metadata->values[i])))
            return nbc_error(NB_ERR_ARG, "%s: metadata entry '%s' is not valid UTF-8", fn, metadata->keys[i]);
    /* Layout: by decreasing element size (stable), so every tensor is aligned in the file. */
    size_t ncap = (size_t)(n ? n : 1);
    int *order = nbc_raw_alloc(ncap * sizeof(int));
    uint64_t *begin = nbc_raw_alloc(ncap * sizeof(uint64_t));
    sbuf h = {0};
    int rc = 0;
    if (!order || !begin) {
        rc = nbc_oom(fn);
        goto done;
    }
    {
        int k = 0;
        for (size_t es = 8; es >= 1; es /= 2)
            for (int i = 0; i < n; i++)
                if (nb_dtype_size(tensors->tensors[i]->dtype) == es) order[k++] = i;
        uint64_t at = 0;
        for (int j = 0; j < n; j++) {
            const nb_tensor *t = tensors->tensors[order[j]];
            begin[order[j]] = at;
            at += (uint64_t)nbc_numel(t->ndim, t->shape) * nb_dtype_size(t->dtype);
        }
    }
    /* Duplicate names (quadratic, but state_dicts hold hundreds of tensors, not millions). */
    for (int i = 1; i < n && !rc; i++)
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(tensors->names[i], tensors->names[j]))
                rc = nbc_error(NB_ERR_ARG, "%s: the name '%s' appears twice (tensors #%d and #%d)", fn, tensors->names[i],
                               j, i);
    if (rc) goto done;
    sb_str(&h, "{");
    bool first = true;
    if (metadata && metadata->n) {
        sb_str(&h, "\"__metadata__\":{");
        for (int i = 0; i < metadata->n; i++) {
            if (i) sb_str(&h, ",");
            sb_json(&h, metadata->keys[i]);
            sb_str(&h, ":");
            sb_json(&h, metadata->values[i]);
        }
        sb_str(&h, "}");
        first = false;
    }
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = tensors->tensors[i];
        if (!first) sb_str(&h, ",");
        first = false;
        sb_json(&h, tensors->names[i]);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, ST_NAMES[t->dtype]);
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) sb_fmt(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        uint64_t b = begin[i], e = b + (uint64_t)nbc_numel(t->ndim, t->shape) * nb_dtype_size(t->dtype);
        sb_fmt(&h, "],\"data_offsets\":[%lld", (long long)b);
        sb_fmt(&h, ",%lld]}", (long long)e);
    }
    sb_str(&h, "}");
    while ((8 + h.n) % 64 && !h.oom) sb_str(&h, " "); /* the data starts 64-byte aligned in the file */
    if (h.oom) {
        rc = nbc_oom(fn);
        goto done;
    }
    {
        nbio_writer w;
        if ((rc = nbio_wopen(&w, fn, path))) goto done;
        uint8_t len[8];
        for (int k = 0; k < 8; k++) len[k] = (uint8_t)((uint64_t)h.n >> (8 * k));
        nbio_write(&w, len, 8);
        nbio_write(&w, h.p, h.n);
        for (int j = 0; j < n && !w.err; j++) write_tensor_data(&w, tensors->tensors[order[j]]);
        rc = nbio_wcommit(&w);
    }
done:
    sb_free(&h);
    if (order) nbc_raw_free(order, ncap * sizeof(int));
    if (begin) nbc_raw_free(begin, ncap * sizeof(uint64_t));
    return rc;
}

int nb_safetensors_save(const char *path, const nb_params *tensors, const nb_metadata *metadata) {
    return nbio_st_write("nb_safetensors_save", path, tensors, metadata);
}
