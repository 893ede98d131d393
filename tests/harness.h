/* tests/harness.h — the tiny test harness every test program uses. A check that fails prints where
 * and why and the program goes on; main returns non-zero if anything failed or leaked.
 *
 *     static void test_add(void) { CHECK(nb_item(x) == 3); }
 *     int main(void) { RUN(test_add); return harness_finish(); }
 *
 * RUN wraps each test in a scope and checks that no tensor outlives it (leak check per test).
 */
#ifndef NABLA_TEST_HARNESS_H
#define NABLA_TEST_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fmemopen, mkstemp, fork: include harness.h first */
#endif

#include <math.h>
#include <nabla/nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One program per file, so the counters are file-local, except in a program built from several files
 * (test_gradcheck and its tests/gradcheck/ tables): those define HARNESS_SHARED_COUNTERS everywhere and
 * HARNESS_DEFINE_COUNTERS in exactly one file, so every file's CHECKs count. */
#if defined(HARNESS_SHARED_COUNTERS) && !defined(HARNESS_DEFINE_COUNTERS)
extern int harness_failures;
extern int harness_checks;
extern const char *harness_current;
#elif defined(HARNESS_SHARED_COUNTERS)
int harness_failures;
int harness_checks;
const char *harness_current = "";
#else
static int harness_failures;
static int harness_checks;
static const char *harness_current = "";
#endif

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        harness_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            harness_failures++;                                                                    \
            fprintf(stderr, "%s:%d: [%s] CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, \
                    harness_current, #cond, nb_last_error());                                      \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        harness_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            harness_failures++;                                                                    \
            fprintf(stderr, "%s:%d: [%s] CHECK failed: %s: ", __FILE__, __LINE__, harness_current, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double ha_ = (double)(a), hb_ = (double)(b);                                               \
        CHECK_MSG(fabs(ha_ - hb_) <= (tol) || (isnan(ha_) && isnan(hb_)), "%.10g vs %.10g (tol %g)", ha_, hb_, \
                  (double)(tol));                                                                  \
    } while (0)

/* expr must fail (NULL or negative) and the error message must contain every given substring. */
#define CHECK_FAILS_WITH(ok_, ...)                                                                 \
    do {                                                                                           \
        const char *subs_[] = {__VA_ARGS__};                                                       \
        harness_checks++;                                                                          \
        if (ok_) {                                                                                 \
            harness_failures++;                                                                    \
            fprintf(stderr, "%s:%d: [%s] expected a failure from %s\n", __FILE__, __LINE__, harness_current, #ok_); \
        } else {                                                                                   \
            for (size_t i_ = 0; i_ < sizeof subs_ / sizeof subs_[0]; i_++)                         \
                if (!strstr(nb_last_error(), subs_[i_])) {                                         \
                    harness_failures++;                                                            \
                    fprintf(stderr, "%s:%d: [%s] error message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, \
                            harness_current, nb_last_error(), subs_[i_]);                          \
                }                                                                                  \
        }                                                                                          \
        nb_clear_error();                                                                          \
    } while (0)
/* For functions returning a tensor: CHECK_NULL_WITH(nb_add(a, b), "nb_add", "[2, 3]") */
#define CHECK_NULL_WITH(expr, ...) CHECK_FAILS_WITH((expr) != NULL, __VA_ARGS__)
/* For functions returning int status */
#define CHECK_RC_WITH(expr, ...) CHECK_FAILS_WITH((expr) == 0, __VA_ARGS__)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        harness_current = #fn;                                                                     \
        int64_t live0_ = nb_live_tensors();                                                        \
        nb_clear_error();                                                                          \
        nb_scope_begin();                                                                          \
        fn();                                                                                      \
        nb_scope_end();                                                                            \
        CHECK_MSG(nb_live_tensors() == live0_, "%lld tensors leaked", (long long)(nb_live_tensors() - live0_)); \
    } while (0)

static inline int harness_finish(void) {
    nb_empty_cache();
    fprintf(stderr, "%d checks, %d failures\n", harness_checks, harness_failures);
    return harness_failures ? 1 : 0;
}

/* Helpers for reference tests. */
static inline double h_get(const nb_tensor *t, int n, const int64_t *idx) {
    double v = NAN;
    nb_get(t, n, idx, &v);
    return v;
}

/* Max |a - b| over all elements of two tensors of the same shape (any dtypes), via f64 copies. */
static inline double h_max_abs_diff(const nb_tensor *a, const nb_tensor *b) {
    int64_t n = nb_numel(a);
    if (n != nb_numel(b) || nb_ndim(a) != nb_ndim(b)) return INFINITY;
    for (int d = 0; d < nb_ndim(a); d++)
        if (nb_shape(a)[d] != nb_shape(b)[d]) return INFINITY;
    double *x = malloc(sizeof(double) * (size_t)(n ? n : 1)), *y = malloc(sizeof(double) * (size_t)(n ? n : 1));
    nb_copy_to(a, x, sizeof(double) * (size_t)n, NB_F64);
    nb_copy_to(b, y, sizeof(double) * (size_t)n, NB_F64);
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(x[i] - y[i]);
        if (isnan(x[i]) != isnan(y[i])) d = INFINITY;
        if (!isnan(d) && d > m) m = d;
    }
    free(x);
    free(y);
    return m;
}

#endif
