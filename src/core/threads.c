/* core/threads.c — the one thread pool. Workers are started lazily, spin briefly waiting for work
 * (waking a sleeping thread costs tens of microseconds) and then sleep on a condition variable.
 * parallel_for hands out chunks through an atomic counter; work below the grain runs inline, and a
 * parallel_for called from inside a worker (or while another thread owns the pool) runs inline too,
 * so there is never a pool inside the pool. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ITERS 20000

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    pthread_mutex_t owner; /* held by the thread running a parallel_for */
    pthread_t *threads;
    int n_workers;          /* started workers (threads - 1) */
    int n_threads;          /* configured total, including the caller */
    atomic_uint_fast64_t generation;
    atomic_bool shutdown;
    /* current job */
    nbc_range_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_int_fast64_t next;
    atomic_int active;
} pool;

static pool g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
                      .work_cv = PTHREAD_COND_INITIALIZER,
                      .done_cv = PTHREAD_COND_INITIALIZER,
                      .owner = PTHREAD_MUTEX_INITIALIZER};
static _Thread_local bool tl_in_worker;

static int default_threads(void) {
    const char *env = getenv("NABLA_NUM_THREADS");
    if (env && atoi(env) > 0) return atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void run_chunks(pool *p) {
    for (;;) {
        int64_t b = atomic_fetch_add(&p->next, p->chunk);
        if (b >= p->n) break;
        int64_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
        p->fn(p->ctx, b, e);
    }
}

static void *worker_main(void *arg) {
    pool *p = arg;
    tl_in_worker = true;
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ITERS && atomic_load(&p->generation) == seen && !atomic_load(&p->shutdown); i++)
            CPU_RELAX();
        if (atomic_load(&p->generation) == seen) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->shutdown)) pthread_cond_wait(&p->work_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->shutdown)) return NULL;
        seen = atomic_load(&p->generation);
        run_chunks(p);
        if (atomic_fetch_sub(&p->active, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void stop_workers(pool *p) {
    if (!p->n_workers) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->shutdown, true);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    p->threads = NULL;
    p->n_workers = 0;
    atomic_store(&p->shutdown, false);
    atomic_store(&p->generation, 0);
}

static void stop_at_exit(void) {
    if (pthread_mutex_trylock(&g_pool.owner) == 0) {
        stop_workers(&g_pool);
        pthread_mutex_unlock(&g_pool.owner);
    }
}

/* Start workers up to n_threads - 1; on failure run with fewer (never an error for the caller). */
static void start_workers(pool *p) {
    static bool registered;
    if (!registered) {
        atexit(stop_at_exit);
        registered = true;
    }
    int want = p->n_threads - 1;
    p->threads = calloc((size_t)want, sizeof(pthread_t));
    if (!p->threads) return;
    for (int i = 0; i < want; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) break;
        p->n_workers++;
    }
}

void nbc_parallel_for(int64_t n, int64_t grain, nbc_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    pool *p = &g_pool;
    if (n <= grain || tl_in_worker || p->n_threads == 1 || pthread_mutex_trylock(&p->owner) != 0) {
        fn(ctx, 0, n);
        return;
    }
    if (p->n_threads == 0) p->n_threads = default_threads();
    if (p->n_threads > 1 && p->n_workers == 0) start_workers(p);
    if (p->n_workers == 0) {
        pthread_mutex_unlock(&p->owner);
        fn(ctx, 0, n);
        return;
    }
    int threads = p->n_workers + 1;
    int64_t chunk = (n + threads * 4 - 1) / (threads * 4); /* a few chunks per thread for balance */
    if (chunk < grain) chunk = grain;
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    atomic_store(&p->next, 0);
    atomic_store(&p->active, p->n_workers);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    tl_in_worker = true; /* nested parallel_for from fn runs inline on this thread too */
    run_chunks(p);
    tl_in_worker = false;
    for (int i = 0; i < SPIN_ITERS && atomic_load(&p->active) > 0; i++) CPU_RELAX();
    if (atomic_load(&p->active) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->active) > 0) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->owner);
}

int nb_set_num_threads(int n) {
    if (n < 1) return nbc_error(NB_ERR_ARG, "nb_set_num_threads: n = %d; expected at least 1", n);
    pthread_mutex_lock(&g_pool.owner);
    stop_workers(&g_pool);
    g_pool.n_threads = n;
    pthread_mutex_unlock(&g_pool.owner);
    return 0;
}

int nb_get_num_threads(void) {
    if (g_pool.n_threads == 0) g_pool.n_threads = default_threads();
    return g_pool.n_threads;
}
