/* cache_redis.c - the Redis cache backend (REDIS_URL), over the shared connection in redis.c.
 * Entries are plain Redis strings with EX; queues are Redis lists (LPUSH at the tail, BRPOP
 * from the head), so every node's consumers share them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_int.h"
#include "cache/redis.h"
#include "core/error.h"
#include "core/mem.h"

static char *copy_reply(const redisReply *r, size_t *len)
{
    char *out = xmalloc(r->len + 1);
    memcpy(out, r->str, r->len);
    out[r->len] = 0;
    if (len) *len = r->len;
    return out;
}

/* A GET's reply (freed here) as get answers. */
static int get_reply(redisReply *r, char **val, size_t *len)
{
    if (!r) return RAGD_EUNAVAIL;
    int rc = RAGD_ENOTFOUND;
    if (r->type == REDIS_REPLY_STRING && r->len) {
        *val = copy_reply(r, len);
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

static int r_get(const char *key, char **val, size_t *len)
{
    return get_reply(redis_cmd("GET %s", key), val, len);
}

static uint64_t r_get_start(const char *key)
{
    const char *argv[2] = {"GET", key};
    return redis_queue(2, argv, NULL);
}

static int r_get_finish(uint64_t ticket, char **val, size_t *len)
{
    return get_reply(redis_collect(ticket), val, len);
}

static void r_get_cancel(uint64_t ticket)
{
    freeReplyObject(redis_withdraw(ticket));
}

static int r_set(const char *key, const char *val, size_t len, int ttl_s, int flags)
{
    redisReply *r = (flags & CACHE_SET_NX) ? redis_cmd("SET %s %b EX %d NX", key, val, len, ttl_s)
                                           : redis_cmd("SET %s %b EX %d", key, val, len, ttl_s);
    if (!r) return RAGD_EUNAVAIL;
    freeReplyObject(r);
    return 0;
}

static int r_set_nowait(const char *key, const char *val, size_t len, int ttl_s, int flags,
                        void (*lost)(void *arg), void *arg)
{
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", ttl_s);
    const char *argv[] = {"SET", key, val, "EX", ttl, "NX"};
    size_t lens[] = {3, strlen(key), len, 2, strlen(ttl), 2};
    return redis_send_nowait((flags & CACHE_SET_NX) ? 6 : 5, argv, lens, lost, arg);
}

static int r_push(const char *queue, const char *val, int64_t *len)
{
    redisReply *r = redis_cmd("LPUSH %s %s", queue, val);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (ok) *len = r->integer;
    freeReplyObject(r);
    return ok ? 0 : RAGD_EUNAVAIL;
}

static int r_len(const char *queue, int64_t *len)
{
    redisReply *r = redis_cmd("LLEN %s", queue);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (ok) *len = r->integer;
    freeReplyObject(r);
    return ok ? 0 : RAGD_EUNAVAIL;
}

static int r_pop(const char *queue, int timeout_ms, char **val)
{
    /* BRPOP's timeout 0 would wait for ever: no wait is a plain RPOP. */
    char secs[32];
    snprintf(secs, sizeof secs, "%d.%03d", timeout_ms / 1000, timeout_ms % 1000);
    redisReply *r =
        timeout_ms > 0 ? redis_cmd("BRPOP %s %s", queue, secs) : redis_cmd("RPOP %s", queue);
    if (!r) return RAGD_EUNAVAIL;
    int rc = RAGD_ENOTFOUND;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        *val = copy_reply(r->element[1], NULL);
        rc = 0;
    } else if (r->type == REDIS_REPLY_STRING) {
        *val = copy_reply(r, NULL);
        rc = 0;
    } else if (r->type == REDIS_REPLY_ERROR) {
        rc = RAGD_EUNAVAIL;
    }
    freeReplyObject(r);
    return rc;
}

static int r_ping(void)
{
    redisReply *r = redis_cmd("PING");
    int up = r && r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    return up ? 0 : RAGD_EUNAVAIL;
}

static int r_flush(const char *const *prefixes)
{
    for (int p = 0; prefixes[p]; p++) {
        char cursor[32] = "0";
        do {
            char *pattern = xasprintf("%s*", prefixes[p]);
            redisReply *r = redis_cmd("SCAN %s MATCH %s COUNT 1000", cursor, pattern);
            free(pattern);
            if (!r) return RAGD_EUNAVAIL;
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

const struct cache_ops cache_redis_ops = {
    .name = "redis",
    .shared = 1,
    .get = r_get,
    .get_start = r_get_start,
    .get_finish = r_get_finish,
    .get_cancel = r_get_cancel,
    .set = r_set,
    .set_nowait = r_set_nowait,
    .push = r_push,
    .pop = r_pop,
    .len = r_len,
    .ping = r_ping,
    .flush = r_flush,
};
