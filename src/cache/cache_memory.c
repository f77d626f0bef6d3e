/* cache_memory.c - the in-process cache backend: a fixed hash table of entries with expiry
 * under one mutex, and FIFO queues under a condition variable. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache_int.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

/* ---- entries: open hashing, expired entries dropped on the way ---- */

enum { SLOTS = 4096, PER_SLOT = 8 };

struct entry {
    char *key, *val;
    size_t len; /* 0: a tombstone */
    int64_t expires_ms;
};

static struct slot {
    struct entry e[PER_SLOT];
} table[SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ms(void)
{
    return time_mono_ns() / 1000000;
}

static struct slot *slot_of(const char *key)
{
    return &table[fnv1a(FNV1A_START, key, strlen(key)) % SLOTS];
}

static void entry_clear(struct entry *e)
{
    free(e->key);
    free(e->val);
    memset(e, 0, sizeof *e);
}

static int mem_get(const char *key, char **val, size_t *len)
{
    int rc = RAGD_ENOTFOUND;
    int64_t now = now_ms();
    pthread_mutex_lock(&table_lock);
    struct slot *s = slot_of(key);
    for (int i = 0; i < PER_SLOT; i++) {
        struct entry *e = &s->e[i];
        if (e->key && e->expires_ms <= now) {
            entry_clear(e);
        } else if (e->key && !strcmp(e->key, key) && e->len) {
            *val = xmalloc(e->len + 1);
            memcpy(*val, e->val, e->len);
            (*val)[e->len] = 0;
            *len = e->len;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return rc;
}

static int mem_set(const char *key, const char *val, size_t len, int ttl_s, int flags)
{
    int64_t now = now_ms();
    pthread_mutex_lock(&table_lock);
    struct slot *s = slot_of(key);
    struct entry *use = NULL, *oldest = &s->e[0];
    for (int i = 0; i < PER_SLOT && !use; i++) {
        struct entry *e = &s->e[i];
        int same = e->key && !strcmp(e->key, key);
        if (same && (flags & CACHE_SET_NX) && e->expires_ms > now) {
            pthread_mutex_unlock(&table_lock);
            return 0;
        }
        if (same || !e->key || e->expires_ms <= now)
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
    return 0;
}

static int mem_flush(const char *const *prefixes)
{
    pthread_mutex_lock(&table_lock);
    for (int i = 0; i < SLOTS; i++)
        for (int j = 0; j < PER_SLOT; j++) {
            struct entry *e = &table[i].e[j];
            for (int p = 0; e->key && prefixes[p]; p++)
                if (!strncmp(e->key, prefixes[p], strlen(prefixes[p]))) entry_clear(e);
        }
    pthread_mutex_unlock(&table_lock);
    return 0;
}

/* ---- queues: a short list of named FIFOs ---- */

struct item {
    char *val;
    struct item *next;
};

struct queue {
    char *name;
    struct item *head, *tail;
    int64_t n;
    struct queue *next;
};

static struct queue *queues;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;

/* The named queue, created on first use. Call with queue_lock held. */
static struct queue *queue_of(const char *name)
{
    for (struct queue *q = queues; q; q = q->next)
        if (!strcmp(q->name, name)) return q;
    struct queue *q = xcalloc(1, sizeof *q);
    q->name = xstrdup(name);
    q->next = queues;
    queues = q;
    return q;
}

static int mem_push(const char *queue, const char *val, int64_t *len)
{
    struct item *it = xmalloc(sizeof *it);
    it->val = xstrdup(val);
    it->next = NULL;
    pthread_mutex_lock(&queue_lock);
    struct queue *q = queue_of(queue);
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    *len = ++q->n;
    pthread_cond_broadcast(&queue_cond);
    pthread_mutex_unlock(&queue_lock);
    return 0;
}

static int mem_pop(const char *queue, int timeout_ms, char **val)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&queue_lock);
    struct queue *q = queue_of(queue);
    while (!q->head && timeout_ms > 0)
        if (pthread_cond_timedwait(&queue_cond, &queue_lock, &until)) break;
    struct item *it = q->head;
    if (it) {
        q->head = it->next;
        if (!q->head) q->tail = NULL;
        q->n--;
    }
    pthread_mutex_unlock(&queue_lock);
    if (!it) return RAGD_ENOTFOUND;
    *val = it->val;
    free(it);
    return 0;
}

static int mem_len(const char *queue, int64_t *len)
{
    pthread_mutex_lock(&queue_lock);
    *len = queue_of(queue)->n;
    pthread_mutex_unlock(&queue_lock);
    return 0;
}

static int mem_ping(void)
{
    return 0;
}

const struct cache_ops cache_memory_ops = {
    .name = "memory",
    .shared = 0,
    .get = mem_get,
    .set = mem_set,
    .push = mem_push,
    .pop = mem_pop,
    .len = mem_len,
    .ping = mem_ping,
    .flush = mem_flush,
};
