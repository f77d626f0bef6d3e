/* cache.h - a key/value cache with expiry, for values that the store can always rebuild
 * (seed 001's session:{user_id}, subscription:{user_id}, quota:{user_id}:{resource_type}).
 *
 * With REDIS_URL the cache lives in Redis and is shared by every node, so a change made
 * through one node (and its invalidation) is seen by all. Without Redis it is in-process,
 * and entries live at most CACHE_MEMORY_TTL_SECONDS (5): nodes that share a database without
 * Redis cannot tell each other about changes, so their caches must forget quickly. While
 * Redis is unreachable the cache is bypassed (every read misses, writes are dropped); a
 * delete that could not reach Redis makes this node flush the cache's keys once Redis is
 * back, so no entry outlives a change it missed. CACHE_ENABLED=false turns caching off.
 *
 * Every function is thread-safe and cannot fail: a cache that misbehaves only costs speed. */
#ifndef RAGD_CACHE_H
#define RAGD_CACHE_H

#include <jansson.h>
#include <stddef.h>

/* Reads the settings (after redis_init). */
void cache_init(void);
/* Returns the value of key (NUL-terminated, caller frees) and its length, or NULL. */
char *cache_get(const char *key, size_t *len);
/* Stores val[0..len) (len > 0) under key for ttl_s seconds (capped as above), unless the key
 * is already held: by a value, or for a few seconds after cache_del (so that a value read
 * from the store before a change cannot overwrite the change's invalidation). */
void cache_set(const char *key, const char *val, size_t len, int ttl_s);
/* Forgets key (call after the store has changed what it caches). */
void cache_del(const char *key);
/* The same for JSON values: the parsed value (new reference) or NULL; a value that is not
 * JSON counts as a miss. */
json_t *cache_get_json(const char *key);
void cache_set_json(const char *key, const json_t *val, int ttl_s);
/* Drops every entry (tests, and after a Redis outage). */
void cache_flush(void);

#endif
