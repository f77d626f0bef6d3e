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
#include <stdint.h>

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

/* ---- pipelining: commands that ride on the calling thread's next exchange ----
 *
 * An exchange (redis_argv, redis_cmd, redis_eval) sends what the thread has pending ahead of
 * its own command and reads every answer back together: one round trip for all of them. */

/* Queues a command (argv form, copied) to go out with the thread's next exchange. Returns its
 * ticket (> 0), or 0 when it cannot be queued (Redis down, too much pending): the caller then
 * runs it plainly. A ticket must be taken back once, by redis_collect or redis_withdraw, on
 * the same thread. */
uint64_t redis_queue(int argc, const char **argv, const size_t *lens);
/* The reply to a queued command, sent now (one round trip) if it has not gone out yet.
 * Returns the reply (caller frees with freeReplyObject; a Redis error reply as such) or NULL
 * when Redis could not be reached or the ticket is not this thread's. */
redisReply *redis_collect(uint64_t ticket);
/* Takes a queued command back without sending it: NULL when it had not gone out (it never
 * will), else its reply as redis_collect gives it (the command has run). */
redisReply *redis_withdraw(uint64_t ticket);
/* Sends a command (argv form) now without waiting for its answer, which is read with the
 * thread's next exchange: on_fail(arg) (may be NULL) runs then, on this thread, if that
 * answer is an error or the connection was lost before it came. Returns 0, or
 * RAGD_EUNAVAIL when the command could not be sent (on_fail is not called). */
int redis_send_nowait(int argc, const char **argv, const size_t *lens, void (*on_fail)(void *arg),
                      void *arg);

#endif
