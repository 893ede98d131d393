/* core/rng.c — the global counter-based generator (Philox-4x32-10, Salmon et al., SC'11). Element i
 * of a random tensor is a pure function of (seed, counter + i), so the values never depend on how
 * many threads fill the tensor; reserving a range of counters is the only shared state. */
#include "internal.h"

#include <pthread.h>

static pthread_mutex_t g_rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_seed = 0x853c49e6748fea9bULL;
static uint64_t g_counter;

void nbc_philox(uint64_t counter, uint64_t key, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

uint64_t nbc_rng_reserve(uint64_t n, uint64_t *key) {
    pthread_mutex_lock(&g_rng_lock);
    uint64_t first = g_counter;
    g_counter += n;
    *key = g_seed;
    pthread_mutex_unlock(&g_rng_lock);
    return first;
}

void nb_manual_seed(uint64_t seed) { nb_rng_set_state(seed, 0); }

void nb_rng_get_state(uint64_t *seed, uint64_t *counter) {
    pthread_mutex_lock(&g_rng_lock);
    if (seed) *seed = g_seed;
    if (counter) *counter = g_counter;
    pthread_mutex_unlock(&g_rng_lock);
}

void nb_rng_set_state(uint64_t seed, uint64_t counter) {
    pthread_mutex_lock(&g_rng_lock);
    g_seed = seed;
    g_counter = counter;
    pthread_mutex_unlock(&g_rng_lock);
}
