/* data/csv.c — the numeric CSV reader: one row per line (\n or \r\n), fields separated by one
 * delimiter character, spaces and tabs around fields ignored, blank lines skipped, an optional header
 * line skipped, a UTF-8 byte-order mark ignored. Every field must be a number (strtod syntax, so nan
 * and inf are accepted) and every row must have as many fields as the first one; anything else is an
 * error naming file:line:column. It is not a general CSV reader: quoted fields, strings, missing
 * values and type inference are out of scope (a quote is reported as such, not misparsed).
 */
#include "data_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char FN[] = "nb_csv_read";

#define NBD_CSV_MAX_FIELD 256

/* Check that v fits dtype (integral and in range for integer dtypes). */
static bool fits(double v, nb_dtype dt) {
    if (nb_dtype_is_float(dt)) return true;
    if (!isfinite(v) || v != floor(v)) return false;
    switch (dt) {
    case NB_I8: return v >= -128 && v <= 127;
    case NB_U8: return v >= 0 && v <= 255;
    case NB_I32: return v >= -2147483648.0 && v <= 2147483647.0;
    case NB_I64: return v >= -9223372036854775808.0 && v < 9223372036854775808.0;
    case NB_BOOL: return v == 0 || v == 1;
    default: return false;
    }
}

nb_tensor *nbd_csv_parse(const void *buf, size_t n, const char *name, const nb_csv_opts *opts) {
    nb_csv_opts o = opts ? *opts : (nb_csv_opts){0};
    char delim = o.delimiter ? o.delimiter : ',';
    if (!name) name = "<memory>";
    if (!buf && n) {
        nbc_error(NB_ERR_ARG, "%s: buffer is NULL", FN);
        return NULL;
    }
    if ((unsigned)o.dtype >= NB_DTYPE_COUNT) {
        nbc_error(NB_ERR_ARG, "%s: invalid dtype %d", FN, (int)o.dtype);
        return NULL;
    }
    if (delim == '\n' || delim == '\r' || delim == '"' || delim == '.' || delim == '+' || delim == '-' ||
        (delim >= '0' && delim <= '9') || (delim >= 'a' && delim <= 'z') || (delim >= 'A' && delim <= 'Z')) {
        nbc_error(NB_ERR_ARG, "%s: delimiter '%c' (0x%02x) cannot separate numbers", FN, delim, (unsigned char)delim);
        return NULL;
    }
    const char *p = buf, *end = p + n;
    if (n >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;

    double *vals = NULL;
    size_t nv = 0, cap = 0;
    int64_t rows = 0, cols = -1, first_line = 0;
    nb_tensor *t = NULL;
    for (int64_t line = 1; p < end; line++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        if (!eol) eol = end;
        const char *lend = eol;
        if (lend > p && lend[-1] == '\r') lend--;
        const char *line_start = p;
        p = next;
        if (line == 1 && o.has_header) continue;
        const char *q = line_start;
        while (q < lend && (*q == ' ' || *q == '\t') && *q != delim) q++;
        if (q == lend) continue; /* blank line */
        int64_t field = 0;
        for (const char *f = line_start;; field++) {
            /* one field: [f, fe) up to the delimiter or the line end, trimmed */
            const char *fe = f;
            while (fe < lend && *fe != delim) fe++;
            const char *a = f, *b = fe;
            while (a < b && (*a == ' ' || *a == '\t') && *a != delim) a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t') && b[-1] != delim) b--;
            long col = (long)(a - line_start) + 1;
            if (cols >= 0 && field >= cols) {
                nbc_error(NB_ERR_FORMAT, "%s: %s:%lld:%ld: too many fields: expected %lld (as on line %lld)", FN, name,
                          (long long)line, col, (long long)cols, (long long)first_line);
                goto fail;
            }
            const char *quote = memchr(f, '"', (size_t)(fe - f));
            if (quote) {
                nbc_error(NB_ERR_FORMAT, "%s: %s:%lld:%ld: quoted fields are not supported (numbers only)", FN, name,
                          (long long)line, (long)(quote - line_start) + 1);
                goto fail;
            }
            if (a == b) {
                nbc_error(NB_ERR_FORMAT, "%s: %s:%lld:%ld: field %lld is empty (expected a number)", FN, name,
                          (long long)line, col, (long long)field + 1);
                goto fail;
            }
            size_t len = (size_t)(b - a);
            if (len >= NBD_CSV_MAX_FIELD) {
                nbc_error(NB_ERR_FORMAT, "%s: %s:%lld:%ld: field %lld is %zu characters long; not a number", FN, name,
                          (long long)line, col, (long long)field + 1, len);
                goto fail;
            }
            char tmp[NBD_CSV_MAX_FIELD];
            memcpy(tmp, a, len);
            tmp[len] = 0;
            char *stop = NULL;
            errno = 0;
            double v = strtod(tmp, &stop);
            if (stop != tmp + len) {
                /* Print the field safely: stop at the first unprintable byte. */
                size_t k = 0;
                while (k < len && k < 40 && (unsigned char)tmp[k] >= 0x20 && (unsigned char)tmp[k] < 0x7f) k++;
                nbc_error(NB_ERR_FORMAT, "%s: %s:%lld:%ld: field %lld is not a number: \"%.*s%s\"", FN, name,
                          (long long)line, col, (long long)field + 1, (int)k, tmp, k < len ? "..." : "");
                goto fail;
            }
            if (!fits(v, o.dtype)) {
                nbc_error(NB_ERR_FORMAT, "%s: %s:%lld:%ld: field %lld (%s) does not fit dtype %s", FN, name,
                          (long long)line, col, (long long)field + 1, tmp, nb_dtype_name(o.dtype));
                goto fail;
            }
            if (nv == cap) {
                size_t nc = cap ? cap * 2 : 1024;
                if (nc > SIZE_MAX / sizeof(double)) {
                    nbc_oom(FN);
                    goto fail;
                }
                double *nvals = nbc_raw_realloc(vals, cap * sizeof(double), nc * sizeof(double));
                if (!nvals) {
                    nbc_oom(FN);
                    goto fail;
                }
                vals = nvals;
                cap = nc;
            }
            vals[nv++] = v;
            if (fe == lend) break;
            f = fe + 1;
        }
        if (cols < 0) {
            cols = field + 1;
            first_line = line;
        } else if (field + 1 < cols) {
            nbc_error(NB_ERR_FORMAT, "%s: %s:%lld:%ld: too few fields: found %lld, expected %lld (as on line %lld)", FN,
                      name, (long long)line, (long)(lend - line_start) + 1, (long long)field + 1, (long long)cols,
                      (long long)first_line);
            goto fail;
        }
        rows++;
    }
    if (rows == 0) {
        nbc_error(NB_ERR_FORMAT, "%s: %s: no data rows%s", FN, name, o.has_header ? " after the header" : "");
        goto fail;
    }
    t = nbc_tensor_new(FN, o.dtype, 2, (const int64_t[]){rows, cols});
    if (!t) goto fail;
    void *data = t->storage->data;
    if (o.dtype == NB_F64)
        memcpy(data, vals, nv * sizeof(double));
    else
        for (size_t i = 0; i < nv; i++) nbc_store(data, o.dtype, (int64_t)i, vals[i]);
    nbc_raw_free(vals, cap * sizeof(double));
    return t;
fail:
    if (vals) nbc_raw_free(vals, cap * sizeof(double));
    return NULL;
}

nb_tensor *nb_csv_read(const char *path, const nb_csv_opts *opts) {
    uint8_t *buf;
    size_t n, cap;
    if (nbd_read_file(FN, path, &buf, &n, &cap)) return NULL;
    nb_tensor *t = nbd_csv_parse(buf, n, path, opts);
    nbc_raw_free(buf, cap);
    return nbc_track(t);
}
