/* queue.c - the ingestion job queue.
 *
 * Jobs run on this node's worker queue (INGEST_WORKERS threads), taking uploaders in turn.
 * With REDIS_URL (and INGEST_QUEUE=redis, the default then) jobs go through the shared cache's
 * queues (cache.h: Redis lists) that every node's consumers pop, so work spreads over the nodes,
 * again taking uploaders in turn; the upload's bytes are in the database, and store_doc_claim makes
 * sure one node ingests each document. While Redis is down jobs run on the local queue. Whatever
 * the lists lost (Redis restarted without persistence, a node died mid-job) is found by the
 * sweeper: every idle node looks for pending documents older than a few seconds and claims them. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge_int.h"

/* The seed's task_queue:{priority}, per store: nodes of one store share the list, while
 * stores that happen to share a Redis server never take each other's jobs (a job taken by
 * a node of another store would be dropped there and wait for the sweeper). */
static const char *queue_key(void)
{
    return kn()->queue_key;
}

/* ---- the shared lists ----
 * Fair across uploaders as the local queue is: each uploader's documents wait in a list of
 * their own (<key>:u:<owner>), and a ring list (<key>:ring) holds one entry per uploader
 * with documents waiting. A consumer pops an uploader from the ring, takes that uploader's
 * oldest document and, if more are waiting, puts the uploader back at the end of the
 * ring. A push that finds the uploader's list empty gives the uploader a place in the ring.
 * A place lost in a crash between the two steps leaves documents pending, which the
 * sweeper finds; a place given twice is dropped when it finds the list empty. */

static void owner_list(const char *owner, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:u:%s", queue_key(), owner ? owner : "");
}

/* Queues id for owner. 0, or RAGD_EUNAVAIL when Redis did not take it. */
static int shared_push(const char *id, const char *owner)
{
    char list[192], ring[160];
    owner_list(owner, list, sizeof list);
    int64_t len = 0;
    if (cache_queue_push(list, id, &len)) return RAGD_EUNAVAIL;
    snprintf(ring, sizeof ring, "%s:ring", queue_key());
    if (len == 1) /* the uploader had nothing waiting: give it a place in the ring */
        cache_queue_push(ring, owner ? owner : "", NULL);
    return 0;
}

/* Waits up to half a second for an uploader's turn and takes its oldest document: 1 with
 * the id (caller frees) in *out, 0 when nothing came, RAGD_EUNAVAIL when Redis is
 * unreachable. */
static int shared_pop(char **out)
{
    char ring[160], list[192];
    snprintf(ring, sizeof ring, "%s:ring", queue_key());
    char *owner = NULL;
    int rc = cache_queue_pop(ring, 500, &owner);
    if (rc) return rc == RAGD_EUNAVAIL ? rc : 0;
    owner_list(owner, list, sizeof list);
    int got = cache_queue_pop(list, 0, out) == 0;
    int64_t left = 0;
    if (got && !cache_queue_len(list, &left) && left > 0)
        cache_queue_push(ring, owner, NULL); /* more waiting: back to the end of the round */
    free(owner);
    return got;
}

/* ---- local workers, fair across users ----
 * Queued documents wait in one FIFO lane per uploader; a worker takes the next document
 * from the lanes in turn (round-robin), so one user's hundred uploads delay another user's
 * single note by at most one document per worker. The worker queue only carries tokens:
 * each queued document submits one "ingest the next document" job. */

struct kn_lane {
    char owner[37];
    char **ids; /* FIFO: ids[head..n) */
    size_t head, n, cap;
};

static void fair_push(const char *owner, const char *id)
{
    struct kn_state *K = kn();
    pthread_mutex_lock(&K->lane_lock);
    size_t i = 0;
    while (i < K->nlanes && strcmp(K->lanes[i].owner, owner))
        i++;
    if (i == K->nlanes) {
        if (K->nlanes == K->caplanes) {
            K->caplanes = K->caplanes ? 2 * K->caplanes : 8;
            K->lanes = xrealloc(K->lanes, K->caplanes * sizeof *K->lanes);
        }
        K->lanes[i] = (struct kn_lane){0};
        snprintf(K->lanes[i].owner, sizeof K->lanes[i].owner, "%s", owner);
        K->nlanes++;
    }
    struct kn_lane *l = &K->lanes[i];
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = xstrdup(id);
    pthread_mutex_unlock(&K->lane_lock);
}

/* The next document by round-robin over the lanes (caller frees), or NULL when none. An
 * emptied lane is removed. */
static char *fair_pop(void)
{
    struct kn_state *K = kn();
    char *id = NULL;
    pthread_mutex_lock(&K->lane_lock);
    if (K->nlanes) {
        if (K->next_lane >= K->nlanes) K->next_lane = 0;
        struct kn_lane *l = &K->lanes[K->next_lane];
        RAGD_ASSERT(l->head < l->n);
        id = l->ids[l->head++];
        if (l->head == l->n) {
            free(l->ids);
            K->lanes[K->next_lane] = K->lanes[--K->nlanes]; /* the last lane takes its turn */
        } else {
            K->next_lane++;
        }
    }
    pthread_mutex_unlock(&K->lane_lock);
    return id;
}

/* Documents waiting in the lanes (not yet taken by a worker). */
static void fair_clear(void)
{
    struct kn_state *K = kn();
    pthread_mutex_lock(&K->lane_lock);
    for (size_t i = 0; i < K->nlanes; i++) {
        for (size_t j = K->lanes[i].head; j < K->lanes[i].n; j++)
            free(K->lanes[i].ids[j]);
        free(K->lanes[i].ids);
    }
    free(K->lanes);
    K->lanes = NULL;
    K->nlanes = K->caplanes = K->next_lane = 0;
    pthread_mutex_unlock(&K->lane_lock);
}

/* knowledge_set_pause_check: outside struct kn_state, which knowledge_init clears, since it
 * is set before the service starts. */
static int (*_Atomic pause_check)(void);

void knowledge_set_pause_check(int (*paused)(void))
{
    atomic_store(&pause_check, paused);
}

/* Waits while ingestion is paused. 0 to go on, 1 when the service is stopping (the document
 * stays pending in the store; the sweeper takes it up again at the next start). */
static int wait_while_paused(void)
{
    struct kn_state *K = kn();
    int (*paused)(void);
    while ((paused = atomic_load(&pause_check)) && paused()) {
        if (atomic_load(&K->sync_stop)) return 1;
        struct timespec ts = {0, 250000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void ingest_next_job(void *arg)
{
    (void)arg;
    if (wait_while_paused()) {
        free(fair_pop());
        atomic_fetch_sub(&kn()->queued, 1);
        return;
    }
    char *id = fair_pop();
    if (id) kn_ingest_doc(id);
    free(id);
    atomic_fetch_sub(&kn()->queued, 1);
}

int kn_queue_local(const char *id, const char *owner)
{
    struct kn_state *K = kn();
    if (!K->ingest) return RAGD_ELIMIT; /* an API-only node (INGEST_WORKERS=0): others ingest */
    atomic_fetch_add(&K->queued, 1);
    fair_push(owner ? owner : "", id);
    if (workq_submit(K->ingest, ingest_next_job, NULL)) {
        /* No token for it: take one document back out (the queue is full anyway; the
         * sweeper finds what is left pending). */
        free(fair_pop());
        atomic_fetch_sub(&K->queued, 1);
        return RAGD_ELIMIT;
    }
    return 0;
}

int kn_queue_submit(void (*fn)(void *), void *arg)
{
    struct kn_state *K = kn();
    return K->ingest && !workq_submit(K->ingest, fn, arg) ? 0 : RAGD_ELIMIT;
}

void kn_queue_dispatch(const char *id, const char *owner)
{
    struct kn_state *K = kn();
    if (K->shared_queue && !shared_push(id, owner)) return;
    if (kn_queue_local(id, owner) == RAGD_ELIMIT && K->ingest)
        log_json(LOG_WARN, "ingestion queue full; a sweeper will pick the document up",
                 json_pack("{s:s}", "document_id", id));
}

static void *consumer_main(void *arg)
{
    struct kn_state *K = arg;
    while (!atomic_load(&K->sync_stop)) {
        if (wait_while_paused()) break;
        char *id = NULL;
        int rc = shared_pop(&id);
        if (rc < 0) {
            struct timespec ts = {0, 500000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (rc == 1) {
            atomic_fetch_add(&K->queued, 1);
            kn_ingest_doc(id);
            atomic_fetch_sub(&K->queued, 1);
            free(id);
        }
    }
    return NULL;
}

void kn_queue_start(int workers)
{
    struct kn_state *K = kn();
    const char *mode = config_str("INGEST_QUEUE", cache_shared() ? "redis" : "local");
    K->shared_queue = cache_shared() && !strcmp(mode, "redis");
    snprintf(K->queue_key, sizeof K->queue_key, "task_queue:ingest:%s", K->store_id);
    /* INGEST_WORKERS=0 makes an API-only node: it accepts uploads, other nodes ingest them
     * (through the Redis queue, or their sweepers). */
    K->ingest = workers ? workq_create(workers, 100000, "ingest") : NULL;
    K->touch = workq_create(1, 10000, "touch");
    if (!K->shared_queue) return;
    K->nconsumers = workers;
    K->consumers = xcalloc((size_t)(workers ? workers : 1), sizeof *K->consumers);
    for (int i = 0; i < workers; i++)
        if (pthread_create(&K->consumers[i], NULL, consumer_main, K))
            panic("cannot start an ingestion consumer");
}

void kn_queue_stop(void)
{
    struct kn_state *K = kn();
    for (int i = 0; i < K->nconsumers; i++)
        pthread_join(K->consumers[i], NULL);
    free(K->consumers);
    K->consumers = NULL;
    K->nconsumers = 0;
    workq_destroy(K->ingest);
    workq_destroy(K->touch);
    K->ingest = K->touch = NULL;
    fair_clear();
}

/* ---- the sweeper ---- */

void kn_queue_sweep(int own)
{
    struct kn_state *K = kn();
    if (!K->ingest) return;
    char pend[32], stale[32];
    int64_t now = time_now_ms();
    time_iso(own ? now : now - 5000, pend);
    time_iso(now - K->claim_timeout_ms, stale);
    char **ids = NULL;
    size_t n = 0;
    if (store_doc_claimable(own ? K->node : "-", pend, stale, 1000, &ids, &n)) return;
    for (size_t i = 0; i < n; i++) {
        kn_queue_local(ids[i], NULL); /* owner unknown here: one lane for the sweeper */
        free(ids[i]);
    }
    free(ids);
    if (n)
        log_json(LOG_INFO, "queued unclaimed documents",
                 json_pack("{s:I}", "documents", (json_int_t)n));
}

/* ---- public: queue state ---- */

size_t knowledge_queue_length(void)
{
    long q = atomic_load(&kn()->queued);
    return q > 0 ? (size_t)q : 0;
}

int knowledge_wait_idle(int64_t timeout_ms)
{
    int64_t end = time_mono_ns() + timeout_ms * 1000000;
    while (atomic_load(&kn()->queued) > 0) {
        if (time_mono_ns() > end) return RAGD_ETIMEOUT;
        usleep(5000);
    }
    return 0;
}
