#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"

/* The only machine-specific line here: a spin-wait hint (the kernels live in quant_x86.c). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Spins this many times waiting for work before sleeping on the condition variable. */
#define SPIN_WORK 20000
/* The caller spins this many times waiting for workers before yielding the CPU. */
#define SPIN_DONE 2000
#define CLOSED ((uint64_t)1 << 31)

struct worker {
    pool_t *pool;
    int ith;
    pthread_t tid;
};

struct pool {
    int nth;
    struct worker *workers;
    pool_fn fn;
    void *arg;
    atomic_uint gen; /* bumped for every job */
    /* Workers join a job before touching it: (job gen << 32) | CLOSED | joined count. The
     * caller closes the job once its own share is done and then waits only for the workers
     * that joined, so a descheduled worker never holds up a job it did not start. */
    _Atomic uint64_t join;
    atomic_int done;     /* joined workers that finished */
    atomic_int sleepers; /* workers blocked (or about to block) on cond */
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cond;
};

int pool_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

static void *worker_main(void *a)
{
    struct worker *w = a;
    pool_t *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_WORK) {
                cpu_relax();
                continue;
            }
            atomic_fetch_add(&p->sleepers, 1);
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cond, &p->mu);
            pthread_mutex_unlock(&p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        uint64_t j = atomic_load(&p->join);
        int joined = 0;
        while ((uint32_t)(j >> 32) == g && !(j & CLOSED)) {
            if (atomic_compare_exchange_weak(&p->join, &j, j + 1)) {
                joined = 1;
                break;
            }
        }
        if (!joined) continue;
        p->fn(p->arg, w->ith, p->nth);
        atomic_fetch_add(&p->done, 1);
    }
}

int pool_create(int n_threads, pool_t **out)
{
    if (n_threads < 0 || n_threads > 1024) return RAGD_EINVAL;
    if (n_threads == 0) n_threads = pool_default_threads();
    pool_t *p = xcalloc(1, sizeof *p);
    p->nth = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->workers = xcalloc((size_t)n_threads, sizeof *p->workers);
    for (int i = 1; i < n_threads; i++) {
        p->workers[i] = (struct worker){.pool = p, .ith = i};
        if (pthread_create(&p->workers[i].tid, NULL, worker_main, &p->workers[i])) {
            p->nth = i; /* join only what started */
            pool_free(p);
            return RAGD_EUNAVAIL;
        }
    }
    *out = p;
    return 0;
}

void pool_free(pool_t *p)
{
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nth; i++)
        pthread_join(p->workers[i].tid, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    free(p->workers);
    free(p);
}

int pool_size(const pool_t *p)
{
    return p->nth;
}

void pool_run(pool_t *p, pool_fn fn, void *arg)
{
    if (p->nth == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->done, 0);
    unsigned g = atomic_load(&p->gen) + 1;
    atomic_store(&p->join, (uint64_t)g << 32);
    atomic_store(&p->gen, g);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->nth);
    int joined = (int)(atomic_fetch_or(&p->join, CLOSED) & 0xffff);
    int spins = 0;
    while (atomic_load(&p->done) < joined) {
        if (++spins < SPIN_DONE)
            cpu_relax();
        else
            sched_yield();
    }
}
