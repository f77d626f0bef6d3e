/* ttlcache.c - direct-mapped TTL cache (see ttlcache.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/ttlcache.h"
#include "core/util.h"

struct entry {
    char key[TTLCACHE_KEY_MAX + 1];
    int64_t expires_ms;
    long generation;
    void *value; /* NULL: empty slot */
};

struct ttlcache {
    pthread_mutex_t lock;
    struct entry *slots;
    size_t n;
    void (*free_value)(void *value);
    atomic_llong hits, misses;
};

ttlcache_t *ttlcache_create(size_t slots, void (*free_value)(void *value))
{
    RAGD_ASSERT(slots > 0);
    ttlcache_t *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->slots = xcalloc(slots, sizeof *c->slots);
    c->n = slots;
    c->free_value = free_value;
    return c;
}

static void release(ttlcache_t *c, void *value)
{
    if (value && c->free_value) c->free_value(value);
}

static void drop(ttlcache_t *c, struct entry *e)
{
    release(c, e->value);
    e->value = NULL;
    e->key[0] = '\0';
}

/* FNV-1a over the key. */
static struct entry *slot_of(ttlcache_t *c, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return &c->slots[h % c->n];
}

void ttlcache_free(ttlcache_t *c)
{
    if (!c) return;
    ttlcache_clear(c);
    free(c->slots);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int ttlcache_get(ttlcache_t *c, const char *key, long generation,
                 void (*copy)(const void *value, void *ud), void *ud)
{
    RAGD_ASSERT(strlen(key) <= TTLCACHE_KEY_MAX);
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    struct entry *e = slot_of(c, key);
    if (e->value && !strcmp(e->key, key)) {
        if (e->expires_ms <= time_now_ms() || e->generation != generation) {
            drop(c, e);
        } else {
            copy(e->value, ud);
            hit = 1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
    return hit;
}

void ttlcache_put(ttlcache_t *c, const char *key, long generation, int64_t ttl_ms, void *value)
{
    RAGD_ASSERT(strlen(key) <= TTLCACHE_KEY_MAX);
    if (ttl_ms <= 0) {
        release(c, value);
        return;
    }
    pthread_mutex_lock(&c->lock);
    struct entry *e = slot_of(c, key);
    drop(c, e);
    memcpy(e->key, key, strlen(key) + 1);
    e->expires_ms = time_now_ms() + ttl_ms;
    e->generation = generation;
    e->value = value;
    pthread_mutex_unlock(&c->lock);
}

void ttlcache_clear(ttlcache_t *c)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        drop(c, &c->slots[i]);
    pthread_mutex_unlock(&c->lock);
}

void ttlcache_stats(ttlcache_t *c, int64_t *hits, int64_t *misses)
{
    *hits = (int64_t)atomic_load(&c->hits);
    *misses = (int64_t)atomic_load(&c->misses);
}
