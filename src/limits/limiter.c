#include "limits/limiter.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

static const struct limiter_ops *backend = &limiter_memory_ops;

int limiter_take(const char *key, int64_t limit, int64_t window_ms, int64_t cost, int peek,
                 struct limit_result *res)
{
    return backend->take(key, limit, window_ms, cost, peek, time_now_ms(), res);
}

void limiter_reset(void)
{
    backend->reset();
}

int limiter_take_begin(const char *key, int64_t limit, int64_t window_ms, int64_t cost,
                       struct limiter_ticket *t)
{
    memset(t, 0, sizeof *t);
    if (!backend->begin || strlen(key) >= sizeof t->key) return RAGD_ENOTSUP;
    snprintf(t->key, sizeof t->key, "%s", key);
    t->limit = limit;
    t->window_ms = window_ms;
    t->cost = cost;
    t->now_ms = time_now_ms();
    return backend->begin(t);
}

int limiter_take_end(struct limiter_ticket *t, struct limit_result *res)
{
    int rc = backend->end(t, res);
    t->id = 0;
    return rc;
}

void limiter_take_cancel(struct limiter_ticket *t)
{
    if (t->id) backend->cancel(t);
    t->id = 0;
}

void limiter_open(int shared)
{
    backend = shared ? &limiter_redis_ops : &limiter_memory_ops;
}

const char *limiter_backend(void)
{
    return backend->name;
}

/* ---- memory backend: striped hash tables of key -> theoretical arrival time (TAT) ---- */

enum { STRIPES = 64 };

struct entry {
    char *key;
    int64_t tat;
    struct entry *next;
};

static struct stripe {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets, count;
} stripes[STRIPES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_stripes(void)
{
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&stripes[i].lock, NULL);
        stripes[i].nbuckets = 64;
        stripes[i].buckets = xcalloc(64, sizeof(struct entry *));
    }
}

static uint64_t hash(const char *s)
{
    return fnv1a(FNV1A_START, s, strlen(s));
}

/* Drops entries whose TAT has passed: they are equivalent to absent. */
static void sweep(struct stripe *st, int64_t now)
{
    for (size_t b = 0; b < st->nbuckets; b++) {
        struct entry **pp = &st->buckets[b];
        while (*pp) {
            if ((*pp)->tat <= now) {
                struct entry *e = *pp;
                *pp = e->next;
                free(e->key);
                free(e);
                st->count--;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

static void grow(struct stripe *st)
{
    size_t nb = st->nbuckets * 2;
    struct entry **nbk = xcalloc(nb, sizeof *nbk);
    for (size_t b = 0; b < st->nbuckets; b++) {
        for (struct entry *e = st->buckets[b], *next; e; e = next) {
            next = e->next;
            size_t i = (hash(e->key) / STRIPES) % nb;
            e->next = nbk[i];
            nbk[i] = e;
        }
    }
    free(st->buckets);
    st->buckets = nbk;
    st->nbuckets = nb;
}

/* The GCRA decision, shared by every backend that stores a TAT. */
static void gcra(int64_t *tat, int64_t limit, int64_t window_ms, int64_t cost, int peek,
                 int64_t now, struct limit_result *res)
{
    int64_t interval = window_ms / (limit > 0 ? limit : 1);
    if (interval < 1) interval = 1;
    int64_t tolerance = window_ms - interval; /* burst allowance */
    int64_t base = *tat > now ? *tat : now;
    int64_t new_tat = base + interval * cost;
    int64_t allow_at = new_tat - interval - tolerance;
    res->limit = limit;
    if (limit <= 0 || allow_at > now) {
        res->allowed = 0;
        res->retry_after_ms = limit <= 0 ? window_ms : allow_at - now;
        res->reset_ms = base - now;
        res->remaining = 0;
        return;
    }
    res->allowed = 1;
    res->retry_after_ms = 0;
    int64_t after = peek ? base : new_tat;
    if (!peek) *tat = new_tat;
    res->reset_ms = after - now;
    /* How many more would pass now: the room left under the tolerance, in intervals. */
    int64_t room = now + tolerance + interval - after;
    res->remaining = room > 0 ? room / interval : 0;
    if (res->remaining > limit) res->remaining = limit;
}

static int mem_take(const char *key, int64_t limit, int64_t window_ms, int64_t cost, int peek,
                    int64_t now, struct limit_result *res)
{
    pthread_once(&once, init_stripes);
    uint64_t h = hash(key);
    struct stripe *st = &stripes[h % STRIPES];
    pthread_mutex_lock(&st->lock);
    size_t b = (h / STRIPES) % st->nbuckets;
    struct entry *e = st->buckets[b];
    while (e && strcmp(e->key, key))
        e = e->next;
    int64_t tat = e ? e->tat : now;
    gcra(&tat, limit, window_ms, cost, peek, now, res);
    if (!peek && res->allowed) {
        if (!e) {
            if (st->count >= st->nbuckets * 2) {
                sweep(st, now);
                if (st->count >= st->nbuckets) grow(st);
                b = (h / STRIPES) % st->nbuckets;
            }
            e = xmalloc(sizeof *e);
            e->key = xstrdup(key);
            e->next = st->buckets[b];
            st->buckets[b] = e;
            st->count++;
        }
        e->tat = tat;
    }
    pthread_mutex_unlock(&st->lock);
    return 0;
}

static void mem_reset(void)
{
    pthread_once(&once, init_stripes);
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&stripes[i].lock);
        sweep(&stripes[i], INT64_MAX);
        pthread_mutex_unlock(&stripes[i].lock);
    }
}

const struct limiter_ops limiter_memory_ops = {
    .name = "memory",
    .take = mem_take,
    .reset = mem_reset,
};
