/* cache.c - the cache's policy (cache.h) over one backend (cache_int.h): CACHE_ENABLED, the
 * in-process TTL cap, delete tombstones, the flush after an outage, and metrics. */
#include "cache/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache_int.h"
#include "cache/redis.h"
#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/metrics.h"

/* Keys the key/value cache writes all start with one of these (the flush after an outage). */
static const char *const prefixes[] = {
    "session:", "subscription:", "quota:", "revocation:", "org:", NULL};

/* A delete leaves an empty value (a tombstone) for this long, and cache_set never replaces
 * a live key: a reader that fetched the old value from the store just before a change cannot
 * put it back after the change's delete. */
enum { TOMBSTONE_S = 3 };

static const struct cache_ops *ops = &cache_memory_ops;
static int enabled = 1, memory_ttl_s = 5, fallback = 1;
static atomic_int flush_pending;

int cache_open(const char *url, int fallback_to_memory, char *err, size_t errcap)
{
    fallback = fallback_to_memory;
    if (url) {
        int rc = redis_init(url, fallback_to_memory, err, errcap);
        if (rc) return rc;
        ops = &cache_redis_ops;
    }
    enabled = config_bool("CACHE_ENABLED", 1);
    memory_ttl_s = (int)config_int("CACHE_MEMORY_TTL_SECONDS", 5, 0, 86400);
    return 0;
}

int cache_shared(void)
{
    return ops->shared;
}

/* ---- the flush after a delete that did not reach a shared backend ---- */

/* Retries the flush every second until the backend takes it, so that other nodes do not read
 * an entry this node could not delete for longer than that after the backend is back. */
static atomic_int flusher_running;

static void *flusher_main(void *arg)
{
    (void)arg;
    while (atomic_load(&flush_pending)) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        if (atomic_load(&flush_pending) && !ops->flush(prefixes)) atomic_store(&flush_pending, 0);
    }
    atomic_store(&flusher_running, 0);
    return NULL;
}

static void flush_later(void)
{
    atomic_store(&flush_pending, 1);
    if (atomic_exchange(&flusher_running, 1)) return;
    pthread_t t;
    if (pthread_create(&t, NULL, flusher_main, NULL) == 0)
        pthread_detach(t);
    else
        atomic_store(&flusher_running, 0); /* the next cache call flushes instead */
}

/* Before using the backend after a delete that did not reach it: flush. 0 when it may be
 * used. */
static int backend_ready(void)
{
    if (!atomic_load(&flush_pending)) return 0;
    if (ops->flush(prefixes)) return -1;
    atomic_store(&flush_pending, 0);
    return 0;
}

/* ---- key/value ---- */

static void count_read(const char *out)
{
    metrics_count(out ? "ragd_cache_hits_total" : "ragd_cache_misses_total",
                  out ? "Cache reads answered from the cache" : "Cache reads that missed", 1);
}

char *cache_get(const char *key, size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    if (!enabled) return NULL;
    if ((ops->shared || memory_ttl_s) && !backend_ready() && !ops->get(key, &out, &n)) *len = n;
    count_read(out);
    return out;
}

uint64_t cache_get_start(const char *key)
{
    if (!enabled || !ops->get_start || backend_ready()) return 0;
    return ops->get_start(key);
}

char *cache_get_finish(uint64_t ticket, size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    if (!ticket) return NULL;
    if (!ops->get_finish(ticket, &out, &n)) *len = n;
    count_read(out);
    return out;
}

void cache_get_cancel(uint64_t ticket)
{
    if (ticket && ops->get_cancel) ops->get_cancel(ticket);
}

void cache_set(const char *key, const char *val, size_t len, int ttl_s)
{
    if (!enabled || ttl_s <= 0 || !len) return;
    if (!ops->shared) {
        if (!memory_ttl_s) return;
        if (ttl_s > memory_ttl_s) ttl_s = memory_ttl_s;
    }
    if (!backend_ready()) ops->set(key, val, len, ttl_s, CACHE_SET_NX);
}

void cache_del(const char *key)
{
    if (!enabled) return;
    if (backend_ready() || ops->set(key, "", 0, TOMBSTONE_S, 0)) flush_later();
}

static void lost_delete(void *arg)
{
    (void)arg;
    flush_later();
}

void cache_del_nowait(const char *key)
{
    if (!enabled) return;
    if (!ops->set_nowait) {
        cache_del(key);
        return;
    }
    if (backend_ready() || ops->set_nowait(key, "", 0, TOMBSTONE_S, 0, lost_delete, NULL))
        flush_later();
}

json_t *cache_get_json(const char *key)
{
    size_t len = 0;
    char *v = cache_get(key, &len);
    json_error_t je;
    json_t *j = v ? json_loadb(v, len, 0, &je) : NULL;
    free(v);
    return j;
}

void cache_set_json(const char *key, const json_t *val, int ttl_s)
{
    char *v = val ? json_dumps(val, JSON_COMPACT) : NULL;
    if (v) cache_set(key, v, strlen(v), ttl_s);
    free(v);
}

void cache_flush(void)
{
    if (ops->flush(prefixes)) flush_later();
}

/* ---- queues and health ---- */

int cache_queue_push(const char *queue, const char *val, int64_t *len)
{
    int64_t n;
    return ops->push(queue, val, len ? len : &n);
}

int cache_queue_pop(const char *queue, int timeout_ms, char **val)
{
    return ops->pop(queue, timeout_ms, val);
}

int cache_queue_len(const char *queue, int64_t *len)
{
    return ops->len(queue, len);
}

void cache_status(struct cache_status *st)
{
    st->backend = ops->name;
    st->up = ops->ping() == 0;
    st->fallback = fallback;
}
