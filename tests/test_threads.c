/* tests/test_threads.c — the thread pool (core/threads.c) under stress: many back-to-back parallel
 * loops of varying sizes, each with its context on the caller's stack (dead as soon as the call
 * returns), while a third thread keeps a core busy so that workers get preempted in the middle of
 * claiming chunks. Every loop must run each index exactly once, with its own function and context.
 * A worker holding a stale ticket once ran a chunk of the next loop under the old generation (or the
 * old loop's function on a dead context): this test caught it in most runs of a few seconds. */
#include "harness.h"
#include "core/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MAX_N 96

typedef struct loop_ctx {
    uint64_t magic; /* the loop's number: a chunk run with another loop's context sees a different one */
    uint64_t expect;
    int64_t n;
    atomic_int hits[MAX_N];
    atomic_int wrong;
} loop_ctx;

static void mark(void *ctx, int64_t b, int64_t e) {
    loop_ctx *c = ctx;
    if (c->magic != c->expect || b < 0 || e > c->n || b >= e) {
        atomic_fetch_add(&c->wrong, 1);
        return;
    }
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}

/* a second function, so that a chunk run with the wrong function is seen too */
static void mark_twice(void *ctx, int64_t b, int64_t e) {
    loop_ctx *c = ctx;
    if (c->magic != c->expect + 1000000007u || b < 0 || e > c->n || b >= e) {
        atomic_fetch_add(&c->wrong, 1);
        return;
    }
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 2);
}

static atomic_bool g_stop;
static void *busy(void *arg) {
    (void)arg;
    volatile uint64_t x = 0;
    while (!atomic_load(&g_stop)) x++;
    return NULL;
}

/* one loop in a fresh stack frame; the frame is reused by the next call */
static __attribute__((noinline)) int one_loop(uint64_t k, int64_t n) {
    loop_ctx c = {.magic = k, .expect = k, .n = n};
    bool second = k % 3 == 0;
    if (second) c.magic = k + 1000000007u, c.expect = k;
    for (int64_t i = 0; i < n; i++) atomic_init(&c.hits[i], 0);
    atomic_init(&c.wrong, 0);
    nbc_parallel_for(n, 1, second ? mark_twice : mark, &c);
    int bad = atomic_load(&c.wrong);
    for (int64_t i = 0; i < n; i++) bad += atomic_load(&c.hits[i]) != (second ? 2 : 1);
    return bad;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_back_to_back_loops(void) {
    int saved = nb_get_num_threads();
    CHECK(nb_set_num_threads(2) == 0);
    pthread_t th;
    atomic_store(&g_stop, false);
    bool started = pthread_create(&th, NULL, busy, NULL) == 0;
    uint64_t rng = 88172645463325252ull, k = 0;
    int bad = 0;
    double t0 = now_s();
    for (; now_s() - t0 < 2.0 && bad == 0; k++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        /* sizes alternate small and large, so a late worker's old count differs from the new one */
        int64_t n = k % 2 ? 1 + (int64_t)(rng % 8) : 40 + (int64_t)(rng % (MAX_N - 40));
        bad += one_loop(k, n);
    }
    atomic_store(&g_stop, true);
    if (started) pthread_join(th, NULL);
    CHECK_MSG(bad == 0, "%d wrong chunk runs or index counts in %llu loops", bad, (unsigned long long)k);
    CHECK(k > 1000);
    nb_set_num_threads(saved);
}

int main(void) {
    RUN(test_back_to_back_loops);
    return harness_finish();
}
