/* core/threads.c — the one thread pool. Workers are started lazily, spin briefly waiting for work
 * (waking a sleeping thread costs tens of microseconds) and then sleep on a condition variable.
 *
 * A parallel_for is cut into chunks handed out through one atomic ticket that holds the job's
 * generation, its chunk count and the next chunk index, so a worker can only ever claim chunks of the
 * job it saw. (The count used to live in a field of its own, stored before the next job's ticket: a
 * worker still holding the previous ticket could read the new, larger count, claim "chunk k" of the
 * old generation and run the new job's chunk — or the old job's function on a context that no longer
 * existed. Under load that crashed one training run in three.)
 * The caller runs chunks too and then waits only for chunks others have CLAIMED to complete: a worker
 * that wakes late (the other core busy with another process) finds nothing left and delays no one.
 * Work below the grain runs inline, and a parallel_for called from inside a chunk (or while another
 * thread owns the pool) runs inline too, so there is never a pool inside the pool. */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* About 50 microseconds of spinning before a worker sleeps: long enough to catch the next op of an
 * eager training step, short enough not to starve a data-loader thread on a small machine. */
#define SPIN_ITERS 2000
#define TICKET_MASK 0xffffu /* chunk counts and indices: 16 bits each in the ticket */

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    pthread_mutex_t owner; /* held by the thread running a parallel_for */
    pthread_t *threads;
    int n_workers;         /* started workers (threads - 1) */
    int n_threads;         /* configured total, including the caller */
    atomic_bool shutdown;
    atomic_int sleeping;   /* workers blocked on work_cv */
    /* the current job; written by the owner before it publishes a new generation in `ticket` */
    nbc_range_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_uint_fast64_t ticket; /* generation << 32 | chunk count << 16 | next chunk index */
    atomic_int_fast64_t completed;
} pool;

static pool g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .work_cv = PTHREAD_COND_INITIALIZER,
                      .owner = PTHREAD_MUTEX_INITIALIZER};
static _Thread_local bool tl_in_pool;

static int default_threads(void) {
    const char *env = getenv("NABLA_NUM_THREADS");
    if (env && atoi(env) > 0) return atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Claim and run chunks of generation gen until none are left. */
static void run_chunks(pool *p, uint64_t gen) {
    uint64_t t = atomic_load(&p->ticket);
    for (;;) {
        if ((t >> 32) != gen || (t & TICKET_MASK) >= ((t >> 16) & TICKET_MASK)) return;
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1)) continue; /* t reloaded */
        int64_t b = (int64_t)(t & TICKET_MASK) * p->chunk;
        int64_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
        p->fn(p->ctx, b, e);
        atomic_fetch_add(&p->completed, 1);
        t = atomic_load(&p->ticket);
    }
}

static void *worker_main(void *arg) {
    pool *p = arg;
    tl_in_pool = true;
    uint64_t seen = atomic_load(&p->ticket) >> 32;
    for (;;) {
        for (int i = 0; i < SPIN_ITERS && (atomic_load(&p->ticket) >> 32) == seen && !atomic_load(&p->shutdown); i++)
            CPU_RELAX();
        if ((atomic_load(&p->ticket) >> 32) == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            while ((atomic_load(&p->ticket) >> 32) == seen && !atomic_load(&p->shutdown))
                pthread_cond_wait(&p->work_cv, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->shutdown)) return NULL;
        seen = atomic_load(&p->ticket) >> 32;
        run_chunks(p, seen);
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
    if (n <= grain || tl_in_pool || p->n_threads == 1 || pthread_mutex_trylock(&p->owner) != 0) {
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
    if (chunk < (n + TICKET_MASK - 1) / TICKET_MASK) chunk = (n + TICKET_MASK - 1) / TICKET_MASK;
    int64_t n_chunks = (n + chunk - 1) / chunk; /* < 2^16 */
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    atomic_store(&p->completed, 0);
    uint64_t gen = (atomic_load(&p->ticket) >> 32) + 1;
    /* publishes the job (sequentially consistent store) */
    atomic_store(&p->ticket, gen << 32 | (uint64_t)n_chunks << 16);
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->work_cv);
        pthread_mutex_unlock(&p->mu);
    }
    tl_in_pool = true; /* nested parallel_for from fn runs inline on this thread too */
    run_chunks(p, gen);
    tl_in_pool = false;
    /* Wait for chunks other threads claimed. They are running now, so spin; yield if it takes long. */
    for (long i = 0; atomic_load(&p->completed) < n_chunks; i++) {
        if (i < 4096) CPU_RELAX();
        else sched_yield();
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
