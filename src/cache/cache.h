/* cache.h - a key/value cache with expiry and shared queues, for values that the store can
 * always rebuild (seed 001's session:{user_id}, subscription:{user_id},
 * quota:{user_id}:{resource_type}, embedding:{hash}; the token revocation epoch,
 * revocation:epoch) and for work queues
 * (task_queue:{name}).
 *
 * The backend is chosen once by cache_open (struct cache_ops in cache_int.h): with REDIS_URL
 * the cache lives in Redis and is shared by every node, so a change made through one node
 * (and its invalidation) is seen by all. Without Redis it is in-process, and entries live at
 * most CACHE_MEMORY_TTL_SECONDS (5): nodes that share a database without Redis cannot tell
 * each other about changes, so their caches must forget quickly. While Redis is unreachable
 * the cache is bypassed (every read misses, writes are dropped); a delete that could not
 * reach Redis makes this node flush the cache's keys once Redis is back, so no entry outlives
 * a change it missed. CACHE_ENABLED=false turns caching off (queues keep working).
 *
 * Every function is thread-safe. The key/value functions cannot fail: a cache that
 * misbehaves only costs speed. */
#ifndef RAGD_CACHE_H
#define RAGD_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Chooses the backend: Redis at url (redis://[:password@]host:port[/db]) or, with url NULL,
 * the in-process one; fallback_to_memory says whether a node may go on (limits in memory,
 * cache bypassed) while Redis is down. Then reads CACHE_ENABLED and
 * CACHE_MEMORY_TTL_SECONDS. Returns 0, or RAGD_EINVAL for a malformed url (message in err).
 * Call once at start, before any other cache_ function. */
int cache_open(const char *url, int fallback_to_memory, char *err, size_t errcap);
/* 1 when the cache (and its queues) are shared by every node, i.e. Redis is configured. */
int cache_shared(void);

/* Returns the value of key (NUL-terminated, caller frees) and its length, or NULL. */
char *cache_get(const char *key, size_t *len);
/* cache_get in two steps, so that the read rides on the thread's next exchange with a shared
 * backend (one round trip with whatever that exchange sends): cache_get_start queues the read
 * of key and returns its ticket, or 0 when it cannot be queued (caching off, the in-process
 * backend, the backend down or owed a flush); cache_get_finish returns the ticket's value as
 * cache_get would (NULL for ticket 0). Every ticket is finished once, on its own thread. */
uint64_t cache_get_start(const char *key);
char *cache_get_finish(uint64_t ticket, size_t *len);
/* Takes a ticket back instead of finishing it: a read that has not gone out yet never does. */
void cache_get_cancel(uint64_t ticket);
/* Stores val[0..len) (len > 0) under key for ttl_s seconds (capped as above), unless the key
 * is already held: by a value, or for a few seconds after cache_del (so that a value read
 * from the store before a change cannot overwrite the change's invalidation). */
void cache_set(const char *key, const char *val, size_t len, int ttl_s);
/* Forgets key (call after the store has changed what it caches). */
void cache_del(const char *key);
/* cache_del without waiting for the backend's answer: the delete goes out now, ahead of
 * anything the caller answers, and its answer is read with the thread's next exchange with
 * the backend; a failure found then flushes as cache_del's does. For the hot paths that
 * forget after every write (usage). */
void cache_del_nowait(const char *key);
/* The same for JSON values: the parsed value (new reference) or NULL; a value that is not
 * JSON counts as a miss. */
json_t *cache_get_json(const char *key);
void cache_set_json(const char *key, const json_t *val, int ttl_s);
/* Drops every entry (tests, and after a Redis outage). */
void cache_flush(void);

/* Queues: FIFO lists of strings. cache_queue_push appends val: 0 with the queue's new length
 * in *len (may be NULL), or RAGD_EUNAVAIL when the backend cannot be reached (the caller
 * keeps the work elsewhere). cache_queue_pop takes the oldest value, waiting up to
 * timeout_ms (0: not at all): 0 with *val (caller frees), RAGD_ENOTFOUND when nothing came
 * in time, RAGD_EUNAVAIL when the backend cannot be reached. cache_queue_len: 0 with the
 * number of values waiting, or RAGD_EUNAVAIL. */
int cache_queue_push(const char *queue, const char *val, int64_t *len);
int cache_queue_pop(const char *queue, int timeout_ms, char **val);
int cache_queue_len(const char *queue, int64_t *len);

/* The backend's state for health reports; probes the backend now. */
struct cache_status {
    const char *backend; /* "memory" or "redis" (static) */
    int up;              /* the backend answered */
    int fallback;        /* while down, nodes go on with in-memory limits and no cache */
};
void cache_status(struct cache_status *st);

#endif
