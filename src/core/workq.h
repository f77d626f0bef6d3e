/* workq.h - a fixed pool of worker threads for slow work (bcrypt, ingestion, generation),
 * so network threads never block on it. */
#ifndef RAGD_WORKQ_H
#define RAGD_WORKQ_H

#include <stddef.h>

typedef struct workq workq_t;

/* Starts nthreads workers with a queue of at most max_queue pending jobs. */
workq_t *workq_create(int nthreads, size_t max_queue, const char *name);
/* Queues fn(arg). Returns 0, or RAGD_ELIMIT when the queue is full (caller answers 503). */
int workq_submit(workq_t *p, void (*fn)(void *), void *arg);
/* Runs every queued job, then joins the workers and frees the pool. NULL is a no-op. */
void workq_destroy(workq_t *p);

#endif
