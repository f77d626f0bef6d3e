/* cache_int.h - the cache's backend table (for cache/ only; callers use cache.h).
 *
 * A backend stores bytes under keys with an expiry and keeps FIFO queues of strings. It
 * implements the mechanism only: the policy (CACHE_ENABLED, the in-process TTL cap, delete
 * tombstones, the flush after an outage, metrics) lives in cache.c above it. */
#ifndef RAGD_CACHE_INT_H
#define RAGD_CACHE_INT_H

#include <stddef.h>
#include <stdint.h>

enum { CACHE_SET_NX = 1 }; /* set: keep a live value (or tombstone) that holds the key */

struct cache_ops {
    const char *name; /* "memory", "redis" */
    int shared;       /* 1 when every node sees the same entries */
    /* 0 with *val (NUL-terminated copy, caller frees) and *len; RAGD_ENOTFOUND on a miss
     * or an empty value (a tombstone); RAGD_EUNAVAIL when the backend cannot be reached. */
    int (*get)(const char *key, char **val, size_t *len);
    /* get in two steps, the read riding on the thread's next exchange with the backend:
     * get_start queues it (a ticket > 0, or 0 when it cannot be queued), get_finish answers
     * it as get does. NULL: not offered. */
    uint64_t (*get_start)(const char *key);
    int (*get_finish)(uint64_t ticket, char **val, size_t *len);
    /* Takes a get_start ticket back unanswered: dropped if it has not gone out yet. */
    void (*get_cancel)(uint64_t ticket);
    /* Stores val[0..len) (len 0: a tombstone) for ttl_s seconds. 0 or RAGD_EUNAVAIL. */
    int (*set)(const char *key, const char *val, size_t len, int ttl_s, int flags);
    /* As set, without waiting: the command goes out now and its answer is read with the
     * thread's next exchange with the backend; lost(arg) runs then if it failed. 0, or
     * RAGD_EUNAVAIL when it could not be sent (lost is not called). NULL: set is used. */
    int (*set_nowait)(const char *key, const char *val, size_t len, int ttl_s, int flags,
                      void (*lost)(void *arg), void *arg);
    /* Appends val to the queue's tail: 0 with the new length in *len, or RAGD_EUNAVAIL. */
    int (*push)(const char *queue, const char *val, int64_t *len);
    /* Takes the queue's head, waiting up to timeout_ms (0: no wait). 0 with *val (caller
     * frees), RAGD_ENOTFOUND when nothing came, RAGD_EUNAVAIL when unreachable. */
    int (*pop)(const char *queue, int timeout_ms, char **val);
    /* The number of values waiting: 0 with *len, or RAGD_EUNAVAIL. */
    int (*len)(const char *queue, int64_t *len);
    /* 0 when the backend answers now, RAGD_EUNAVAIL otherwise. */
    int (*ping)(void);
    /* Deletes every key that starts with one of prefixes (NULL-terminated). 0 or
     * RAGD_EUNAVAIL. */
    int (*flush)(const char *const *prefixes);
};

extern const struct cache_ops cache_memory_ops;
extern const struct cache_ops cache_redis_ops;

#endif
