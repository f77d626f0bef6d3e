/* ttlcache.h - a small in-process cache of values with a time to live.
 *
 * Direct-mapped: a key hashes to one slot, and an insert into an occupied slot replaces the
 * older entry, so the cache never grows beyond the slot count given at creation and never
 * needs an eviction pass. Each entry also carries a generation number: a lookup with another
 * generation treats the entry as stale and drops it, which lets the owner forget every entry
 * at once by bumping its own counter (the knowledge base does so on every document change).
 *
 * Values are opaque; the cache owns them once stored and releases them with the free
 * function given at creation. Lookups copy the value out under the cache's lock through a
 * caller-supplied function, so no caller ever holds a pointer into the cache.
 *
 * Thread-safe: one mutex per cache. */
#ifndef RAGD_CORE_TTLCACHE_H
#define RAGD_CORE_TTLCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ttlcache ttlcache_t;

enum { TTLCACHE_KEY_MAX = 64 }; /* longest key in bytes (a hex SHA-256 fits) */

/* Creates a cache of slots entries (>= 1) whose values are released with free_value (NULL:
 * values are not freed). Cannot fail (aborts on out-of-memory); free with ttlcache_free. */
ttlcache_t *ttlcache_create(size_t slots, void (*free_value)(void *value));
/* Releases every value and the cache. NULL is a no-op. */
void ttlcache_free(ttlcache_t *c);

/* Looks key up. On a live entry of this generation, calls copy(value, ud) under the lock
 * (it must copy what it needs and not keep value) and returns 1; otherwise returns 0 (an
 * expired or stale entry is dropped). Counts a hit or a miss. key: at most
 * TTLCACHE_KEY_MAX bytes. */
int ttlcache_get(ttlcache_t *c, const char *key, long generation,
                 void (*copy)(const void *value, void *ud), void *ud);

/* Stores value under key for ttl_ms milliseconds, tagged with generation, replacing what the
 * slot held. Takes ownership of value in every case: with ttl_ms <= 0 it is released at once. */
void ttlcache_put(ttlcache_t *c, const char *key, long generation, int64_t ttl_ms, void *value);

/* Drops every entry. */
void ttlcache_clear(ttlcache_t *c);

/* Lookups answered from the cache and lookups that missed since creation. */
void ttlcache_stats(ttlcache_t *c, int64_t *hits, int64_t *misses);

#endif
