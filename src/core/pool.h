/* pool.h - a fixed pool of worker threads for slow work (bcrypt, ingestion, generation),
 * so network threads never block on it. */
#ifndef RAGD_POOL_H
#define RAGD_POOL_H

#include <stddef.h>

typedef struct pool pool_t;

/* Starts nthreads workers with a queue of at most max_queue pending jobs. */
pool_t *pool_create(int nthreads, size_t max_queue, const char *name);
/* Queues fn(arg). Returns 0, or RAGD_ELIMIT when the queue is full (caller answers 503). */
int pool_submit(pool_t *p, void (*fn)(void *), void *arg);
size_t pool_queued(pool_t *p);
/* Runs every queued job, then joins the workers and frees the pool. NULL is a no-op. */
void pool_destroy(pool_t *p);

#endif
