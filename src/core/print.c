/* core/print.c — PyTorch-style text for tensors: aligned values, 4 decimals (or scientific notation
 * when magnitudes differ widely), "..." summaries past 1000 elements, then shape, dtype and grad_fn.
 * Reads elements one at a time through nbc_load; it is for people, not for speed. */
#include "internal.h"

#include <math.h>
#include <string.h>

#define SUMMARY_THRESHOLD 1000
#define EDGE 3
#define LINE_WIDTH 80

typedef struct builder {
    char *buf;
    size_t cap, len; /* len counts everything, even what did not fit */
} builder;

static void put(builder *b, const char *s, size_t n) {
    if (b->len < b->cap) {
        size_t room = b->cap - b->len;
        memcpy(b->buf + b->len, s, n < room ? n : room);
    }
    b->len += n;
}
static void puts_(builder *b, const char *s) { put(b, s, strlen(s)); }
static void putf(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(builder *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

typedef struct style {
    nb_dtype dtype;
    bool summarize, sci, int_mode; /* int_mode: floats that are all whole numbers print as "3." */
    int width;
} style;

static bool shown(const nb_tensor *t, int d, int64_t i, bool summarize) {
    return !summarize || t->shape[d] <= 2 * EDGE || i < EDGE || i >= t->shape[d] - EDGE;
}

static int fmt_value(char *out, size_t n, const style *s, double v) {
    if (s->dtype == NB_BOOL) return snprintf(out, n, "%s", v != 0 ? "True" : "False");
    if (!nb_dtype_is_float(s->dtype)) return snprintf(out, n, "%lld", (long long)v);
    if (isnan(v)) return snprintf(out, n, "nan");
    if (isinf(v)) return snprintf(out, n, v > 0 ? "inf" : "-inf");
    if (s->sci) return snprintf(out, n, "%.4e", v);
    if (s->int_mode) return snprintf(out, n, "%.0f.", v);
    return snprintf(out, n, "%.4f", v);
}

/* Visit every displayed element (to choose the style). */
static void scan(const nb_tensor *t, int d, int64_t off, bool summarize, double *mn, double *mx, bool *all_int,
                 bool *any_finite) {
    if (d == t->ndim) {
        double v = nbc_load(t->storage->data, t->dtype, off);
        if (isfinite(v)) {
            double a = fabs(v);
            if (!*any_finite || a > *mx) *mx = a;
            if (a != 0 && (*mn == 0 || a < *mn)) *mn = a;
            if (v != floor(v)) *all_int = false;
            *any_finite = true;
        }
        return;
    }
    for (int64_t i = 0; i < t->shape[d]; i++)
        if (shown(t, d, i, summarize)) scan(t, d + 1, off + i * t->strides[d], summarize, mn, mx, all_int, any_finite);
}

static void width_scan(const nb_tensor *t, int d, int64_t off, style *s) {
    if (d == t->ndim) {
        char tmp[64];
        double v = nbc_load(t->storage->data, t->dtype, off);
        if (nb_dtype_is_float(s->dtype) && !isfinite(v)) return; /* as PyTorch: nan/inf do not widen */
        int n = fmt_value(tmp, sizeof tmp, s, v);
        if (n > s->width) s->width = n;
        return;
    }
    for (int64_t i = 0; i < t->shape[d]; i++)
        if (shown(t, d, i, s->summarize)) width_scan(t, d + 1, off + i * t->strides[d], s);
}

static void emit(builder *b, const nb_tensor *t, int d, int64_t off, const style *s, int indent) {
    if (d == t->ndim) {
        char tmp[64];
        int n = fmt_value(tmp, sizeof tmp, s, nbc_load(t->storage->data, t->dtype, off));
        for (int k = n; k < s->width; k++) put(b, " ", 1);
        puts_(b, tmp);
        return;
    }
    put(b, "[", 1);
    bool last_dim = d == t->ndim - 1;
    int per_line = (LINE_WIDTH - indent) / (s->width + 2); /* PyTorch: (linewidth - indent) // (width + 2) */
    if (per_line < 1) per_line = 1;
    int on_line = 0;
    bool first = true;
    for (int64_t i = 0; i < t->shape[d]; i++) {
        /* The gap of a summary is one more element, as in PyTorch: " ..." in a row (so it is joined
         * as ",  ..." and counts towards the line width), "..." between sub-tensors. */
        bool gap = !shown(t, d, i, s->summarize);
        if (gap && i != EDGE) continue;
        if (!first) {
            if (last_dim) {
                if (on_line >= per_line) {
                    puts_(b, ",\n");
                    for (int k = 0; k < indent + 1; k++) put(b, " ", 1);
                    on_line = 0;
                } else {
                    puts_(b, ", ");
                }
            } else {
                put(b, ",", 1);
                for (int k = 0; k < t->ndim - d - 1; k++) put(b, "\n", 1);
                for (int k = 0; k < indent + 1; k++) put(b, " ", 1);
            }
        }
        if (gap) puts_(b, last_dim ? " ..." : "...");
        else emit(b, t, d + 1, off + i * t->strides[d], s, indent + 1);
        on_line++;
        first = false;
    }
    put(b, "]", 1);
}

int nb_format(const nb_tensor *t, char *buf, size_t size) {
    if (!t) return nbc_null_arg("nb_format", 1);
    builder b = {buf, size ? size - 1 : 0, 0};
    style s = {.dtype = t->dtype, .width = 1};
    int64_t n = nbc_numel(t->ndim, t->shape);
    s.summarize = n > SUMMARY_THRESHOLD;
    puts_(&b, "tensor(");
    if (n == 0) {
        puts_(&b, "[]");
    } else {
        if (nb_dtype_is_float(t->dtype)) {
            double mn = 0, mx = 0;
            bool all_int = true, any = false;
            scan(t, 0, t->offset, s.summarize, &mn, &mx, &all_int, &any);
            if (any) { /* PyTorch's _Formatter: a wide range goes scientific, whole numbers or not */
                bool wide = mx > 1e8 || (mn > 0 && mx / mn > 1000.0);
                s.int_mode = all_int && !wide;
                s.sci = wide || (!all_int && mn > 0 && mn < 1e-4);
            }
        }
        width_scan(t, 0, t->offset, &s);
        emit(&b, t, 0, t->offset, &s, 7);
    }
    putf(&b, ", shape=%s, dtype=%s", nbc_shape_str(t->ndim, t->shape), nb_dtype_name(t->dtype));
    if (t->grad_fn && t->grad_fn->name) putf(&b, ", grad_fn=<%s>", t->grad_fn->name);
    else if (t->requires_grad) puts_(&b, ", requires_grad=True");
    put(&b, ")", 1);
    if (size) buf[b.len < size - 1 ? b.len : size - 1] = 0;
    return b.len > (size_t)INT32_MAX ? INT32_MAX : (int)b.len;
}

int nb_fprint(FILE *f, const nb_tensor *t) {
    if (!t) return nbc_null_arg("nb_print", 1);
    char small[4096];
    int n = nb_format(t, small, sizeof small);
    if (n < 0) return n;
    if ((size_t)n < sizeof small) {
        fprintf(f, "%s\n", small);
        return 0;
    }
    char *big = nbc_raw_alloc((size_t)n + 1);
    if (!big) return nbc_oom("nb_print");
    nb_format(t, big, (size_t)n + 1);
    fprintf(f, "%s\n", big);
    nbc_raw_free(big, (size_t)n + 1);
    return 0;
}

int nb_print(const nb_tensor *t) { return nb_fprint(stdout, t); }
