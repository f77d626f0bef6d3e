/* cache.c - the cache (cache.h): Redis when configured, else a small in-process table. */
#include "cache/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/redis.h"
#include "core/config.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/util.h"

/* Keys this module writes all start with one of these (the flush after an outage). */
static const char *const prefixes[] = {"session:", "subscription:", "quota:", NULL};

static int enabled = 1, memory_ttl_s = 5;
static atomic_int flush_pending;

/* ---- in-process table: open hashing, a mutex, expired entries dropped on the way ---- */

enum { SLOTS = 4096, PER_SLOT = 8 };

/* A delete leaves an empty value (a tombstone) for this long, and cache_set never replaces
 * a live key: a reader that fetched the old value from the store just before a change cannot
 * put it back after the change's delete. */
enum { TOMBSTONE_S = 3 };

struct entry {
    char *key, *val;
    size_t len;
    int64_t expires_ms;
};

static struct slot {
    struct entry e[PER_SLOT];
} table[SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static struct slot *slot_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return &table[h % SLOTS];
}

static void entry_clear(struct entry *e)
{
    free(e->key);
    free(e->val);
    memset(e, 0, sizeof *e);
}

static char *mem_get(const char *key, size_t *len)
{
    char *out = NULL;
    int64_t now = time_mono_ns() / 1000000;
    pthread_mutex_lock(&table_lock);
    struct slot *s = slot_of(key);
    for (int i = 0; i < PER_SLOT; i++) {
        struct entry *e = &s->e[i];
        if (e->key && e->expires_ms <= now)
            entry_clear(e);
        else if (e->key && !strcmp(e->key, key) && e->len) {
            out = xmalloc(e->len + 1);
            memcpy(out, e->val, e->len);
            out[e->len] = 0;
            *len = e->len;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return out;
}

/* Stores key unless a live entry (a value or a tombstone) holds it, or always when
 * overwrite is set. */
static void mem_set(const char *key, const char *val, size_t len, int ttl_s, int overwrite)
{
    int64_t now = time_mono_ns() / 1000000;
    pthread_mutex_lock(&table_lock);
    struct slot *s = slot_of(key);
    struct entry *use = NULL, *oldest = &s->e[0];
    for (int i = 0; i < PER_SLOT && !use; i++) {
        struct entry *e = &s->e[i];
        if (e->key && !strcmp(e->key, key) && !overwrite && e->expires_ms > now) {
            pthread_mutex_unlock(&table_lock);
            return;
        }
        if (e->key && !strcmp(e->key, key))
            use = e;
        else if (!e->key || e->expires_ms <= now)
            use = e;
        else if (e->expires_ms < oldest->expires_ms)
            oldest = e;
    }
    if (!use) use = oldest; /* the slot is full: the entry closest to expiry goes */
    entry_clear(use);
    use->key = xstrdup(key);
    use->val = xmalloc(len + 1);
    memcpy(use->val, val, len);
    use->len = len;
    use->expires_ms = now + (int64_t)ttl_s * 1000;
    pthread_mutex_unlock(&table_lock);
}

static void mem_flush(void)
{
    pthread_mutex_lock(&table_lock);
    for (int i = 0; i < SLOTS; i++)
        for (int j = 0; j < PER_SLOT; j++)
            if (table[i].e[j].key) entry_clear(&table[i].e[j]);
    pthread_mutex_unlock(&table_lock);
}

/* ---- Redis ---- */

/* Deletes every key under our prefixes. 0, or -1 when Redis could not be reached. */
static int redis_flush(void)
{
    for (int p = 0; prefixes[p]; p++) {
        char cursor[32] = "0";
        do {
            char *pattern = xasprintf("%s*", prefixes[p]);
            redisReply *r = redis_cmd("SCAN %s MATCH %s COUNT 1000", cursor, pattern);
            free(pattern);
            if (!r) return -1;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                r->element[0]->type == REDIS_REPLY_STRING) {
                snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
                redisReply *keys = r->element[1];
                for (size_t i = 0; i < keys->elements; i++)
                    if (keys->element[i]->type == REDIS_REPLY_STRING)
                        freeReplyObject(redis_cmd("UNLINK %s", keys->element[i]->str));
            } else {
                snprintf(cursor, sizeof cursor, "0");
            }
            freeReplyObject(r);
        } while (strcmp(cursor, "0"));
    }
    return 0;
}

/* Retries the flush every second until Redis takes it, so that other nodes do not read an
 * entry this node could not delete for longer than that after Redis is back. */
static atomic_int flusher_running;

static void *flusher_main(void *arg)
{
    (void)arg;
    while (atomic_load(&flush_pending)) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        if (atomic_load(&flush_pending) && !redis_flush()) atomic_store(&flush_pending, 0);
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

/* Before using Redis after a delete that did not reach it: flush. 0 when Redis may be used. */
static int redis_ready(void)
{
    if (!atomic_load(&flush_pending)) return 0;
    if (redis_flush()) return -1;
    atomic_store(&flush_pending, 0);
    return 0;
}

/* ---- interface ---- */

void cache_init(void)
{
    enabled = config_bool("CACHE_ENABLED", 1);
    memory_ttl_s = (int)config_int("CACHE_MEMORY_TTL_SECONDS", 5, 0, 86400);
}

char *cache_get(const char *key, size_t *len)
{
    char *out = NULL;
    if (!enabled) return NULL;
    if (!redis_enabled()) {
        out = memory_ttl_s ? mem_get(key, len) : NULL;
    } else if (!redis_ready()) {
        redisReply *r = redis_cmd("GET %s", key);
        if (r && r->type == REDIS_REPLY_STRING && r->len) {
            out = xmalloc(r->len + 1);
            memcpy(out, r->str, r->len);
            out[r->len] = 0;
            *len = r->len;
        }
        freeReplyObject(r);
    }
    metrics_count(out ? "ragd_cache_hits_total" : "ragd_cache_misses_total",
                  out ? "Cache reads answered from the cache" : "Cache reads that missed", 1);
    return out;
}

void cache_set(const char *key, const char *val, size_t len, int ttl_s)
{
    if (!enabled || ttl_s <= 0) return;
    if (!redis_enabled()) {
        if (memory_ttl_s) mem_set(key, val, len, ttl_s < memory_ttl_s ? ttl_s : memory_ttl_s, 0);
    } else if (!redis_ready()) {
        freeReplyObject(redis_cmd("SET %s %b EX %d NX", key, val, len, ttl_s));
    }
}

void cache_del(const char *key)
{
    if (!enabled) return;
    if (!redis_enabled()) {
        mem_set(key, "", 0, TOMBSTONE_S, 1);
        return;
    }
    redisReply *r =
        redis_ready() ? NULL : redis_cmd("SET %s %b EX %d", key, "", (size_t)0, TOMBSTONE_S);
    if (!r) flush_later();
    freeReplyObject(r);
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
    if (v)
        cache_set(key, v, strlen(v), ttl_s);
    free(v);
}

void cache_flush(void)
{
    mem_flush();
    if (redis_enabled() && redis_flush()) flush_later();
}
