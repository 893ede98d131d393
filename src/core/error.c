/* core/error.c — the thread-local error (code + message), the error handler hook and
 * NABLA_ABORT_ON_ERROR. Formatting a message allocates nothing, so out-of-memory can be reported. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local nb_status tl_status;
static _Thread_local char tl_message[1024];
static _Thread_local uint64_t tl_serial;
static nb_error_handler g_handler;
static void *g_handler_ud;

const char *nb_last_error(void) { return tl_message; }
nb_status nb_last_status(void) { return tl_status; }

void nb_clear_error(void) {
    tl_status = NB_OK;
    tl_message[0] = 0;
}

void nb_set_error_handler(nb_error_handler handler, void *user_data) {
    g_handler = handler;
    g_handler_ud = user_data;
}

static int abort_on_error(void) {
    static int cached = -1;
    if (cached < 0) {
        const char *v = getenv("NABLA_ABORT_ON_ERROR");
        cached = v && v[0] && strcmp(v, "0") != 0;
    }
    return cached;
}

uint64_t nbc_error_serial(void) { return tl_serial; }

static void raise_error(nb_status status) {
    tl_status = status;
    tl_serial++;
    if (g_handler) g_handler(status, tl_message, g_handler_ud);
    if (abort_on_error()) {
        fprintf(stderr, "nabla: %s\n(NABLA_ABORT_ON_ERROR is set: aborting)\n", tl_message);
        abort();
    }
}

int nbc_error(nb_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_message, sizeof tl_message, fmt, ap);
    va_end(ap);
    raise_error(status);
    return status;
}

int nbc_oom(const char *fn) {
    /* Built by copying, never by a formatted print that might allocate. */
    static const char suffix[] = ": out of memory";
    size_t n = strlen(fn);
    if (n > sizeof tl_message - sizeof suffix) n = sizeof tl_message - sizeof suffix;
    memcpy(tl_message, fn, n);
    memcpy(tl_message + n, suffix, sizeof suffix);
    raise_error(NB_ERR_NOMEM);
    return NB_ERR_NOMEM;
}

int nbc_null_arg(const char *fn, int argno) {
    if (tl_status != NB_OK) return tl_status; /* the first error is the useful one: keep it */
    return nbc_error(NB_ERR_ARG, "%s: argument #%d is NULL", fn, argno);
}

const char *nbc_shape_str(int ndim, const int64_t *shape) {
    static _Thread_local char bufs[8][160];
    static _Thread_local int next;
    char *b = bufs[next++ & 7];
    size_t k = 0;
    b[k++] = '[';
    for (int i = 0; i < ndim && k < sizeof bufs[0] - 24; i++)
        k += (size_t)snprintf(b + k, sizeof bufs[0] - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    b[k++] = ']';
    b[k] = 0;
    return b;
}

const char *nbc_desc(const nb_tensor *t) {
    static _Thread_local char bufs[4][200];
    static _Thread_local int next;
    char *b = bufs[next++ & 3];
    if (!t) return "NULL";
    snprintf(b, sizeof bufs[0], "shape %s, dtype %s", nbc_shape_str(t->ndim, t->shape), nb_dtype_name(t->dtype));
    return b;
}
