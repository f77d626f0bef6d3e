/* redis.h - the shared Redis connection used by the Redis backends (rate limiter, caches,
 * notifications), selected by REDIS_URL.
 *
 * Each thread has its own connection. When Redis cannot be reached, calls return NULL at once
 * (no waiting on every request) and a reconnect is tried at most once per second; callers then
 * fall back to their in-memory implementation when REDIS_FALLBACK_TO_MEMORY is true. */
#ifndef RAGD_REDIS_H
#define RAGD_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

/* Parses url (redis://[:password@]host:port[/db]) and checks it can connect. Returns 0, or
 * RAGD_EINVAL for a malformed url; an unreachable server is not an error here when
 * fallback is allowed (the caller decides). */
int redis_init(const char *url, int fallback_to_memory, char *err, size_t errcap);
int redis_fallback_allowed(void);

/* Runs a command (argv form). Returns the reply (caller frees with freeReplyObject) or
 * NULL when Redis is unreachable. A Redis error reply is returned as such. */
redisReply *redis_argv(int argc, const char **argv, const size_t *lens);
/* printf-style convenience (hiredis format: %s, %b, %lld). */
redisReply *redis_cmd(const char *fmt, ...);

/* Runs a Lua script by its SHA, loading it on NOSCRIPT. nkeys keys then args. */
redisReply *redis_eval(const char *script, int nkeys, int nargs, const char **args);

#endif
