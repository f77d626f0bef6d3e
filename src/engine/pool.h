/* pool.h - a small pthread pool for data-parallel loops in the engine.
 *
 * pool_run runs fn(arg, ith, nth) on the caller (ith 0) and on every worker that picks the
 * job up before the caller has finished its own call, and returns when all of those calls have
 * returned. So fn must hand work out dynamically (an atomic counter in arg): the caller alone
 * may end up doing all of it when workers are descheduled, as on a busy machine. Workers spin
 * briefly between jobs (a forward pass issues hundreds of short jobs per token), then sleep.
 * One job at a time: pool_run must not be called concurrently on the same pool. */
#ifndef RAGD_POOL_H
#define RAGD_POOL_H

typedef struct pool pool_t;
typedef void (*pool_fn)(void *arg, int ith, int nth);

/* Creates a pool of n_threads threads in all (0 means the number of online CPUs).
 * Returns 0 with *out (free with pool_free), RAGD_EINVAL for n_threads < 0 or > 1024,
 * or RAGD_EUNAVAIL if threads cannot be started. */
int pool_create(int n_threads, pool_t **out);
void pool_free(pool_t *p); /* joins the workers; NULL is a no-op */
int pool_size(const pool_t *p);
void pool_run(pool_t *p, pool_fn fn, void *arg);

/* Number of online CPUs (at least 1). */
int pool_default_threads(void);

#endif
