/* tests/oom_sweep.h — the allocation-failure sweep shared by the tests of the parsers and loaders:
 * install an allocator that fails exactly its k-th request, run a workload once for every k, and
 * require a clean outcome each time (no live tensors, no leaked blocks). Include after harness.h. */
#ifndef NABLA_TEST_OOM_SWEEP_H
#define NABLA_TEST_OOM_SWEEP_H

#include <stdatomic.h>

static atomic_long g_oom_allocs, g_oom_live, g_oom_fail_at = -1;

static void *oom_failing_alloc(void *ud, void *p, size_t old, size_t n) {
    (void)ud, (void)old;
    if (n == 0) {
        if (p) atomic_fetch_sub(&g_oom_live, 1);
        free(p);
        return NULL;
    }
    long k = atomic_fetch_add(&g_oom_allocs, 1);
    if (k == atomic_load(&g_oom_fail_at)) return NULL;
    void *q = realloc(p, n);
    if (q && !p) atomic_fetch_add(&g_oom_live, 1);
    return q;
}

/* work(ctx) returns how many of its steps succeeded; a clean run must reach `full`. Returns the number
 * of allocations of a clean run (each was failed once). Installs and removes the allocator itself. */
static long oom_sweep(int (*work)(void *ctx), void *ctx, int full) {
    CHECK(nb_live_tensors() == 0);
    CHECK(nb_set_allocator(oom_failing_alloc, NULL) == 0);
    atomic_store(&g_oom_fail_at, -1);
    atomic_store(&g_oom_allocs, 0);
    int got_full = work(ctx);
    long total = atomic_load(&g_oom_allocs);
    CHECK_MSG(got_full == full, "clean workload: %d of %d steps", got_full, full);
    nb_empty_cache();
    long base = atomic_load(&g_oom_live);
    int failures = 0;
    for (long k = 0; k < total + 5; k++) {
        atomic_store(&g_oom_allocs, 0);
        atomic_store(&g_oom_fail_at, k);
        failures += work(ctx) < full;
        atomic_store(&g_oom_fail_at, -1);
        nb_empty_cache();
        CHECK_MSG(nb_live_tensors() == 0, "failing allocation #%ld: %lld tensors leaked", k, (long long)nb_live_tensors());
        CHECK_MSG(atomic_load(&g_oom_live) <= base, "failing allocation #%ld: %ld blocks leaked", k,
                  atomic_load(&g_oom_live) - base);
    }
    CHECK(failures > 0);
    CHECK(nb_set_allocator(NULL, NULL) == 0);
    return total;
}

#endif
