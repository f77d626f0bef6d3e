/* limiter_redis.c - the GCRA limiter on Redis, shared by every ragd node. The decision runs
 * inside one Lua script, so concurrent requests from any number of nodes see one TAT per
 * key. The clock is the calling node's (time_now_ms, which tests can move); nodes are
 * expected to keep their clocks in sync (NTP), as for token expiry. When Redis cannot
 * be reached and REDIS_FALLBACK_TO_MEMORY is true, the node limits on its own memory until
 * Redis is back. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/redis.h"
#include "core/error.h"
#include "core/util.h"
#include "limits/limiter.h"

static const char gcra_lua[] =
    "local limit = tonumber(ARGV[1])\n"
    "local window = tonumber(ARGV[2])\n"
    "local cost = tonumber(ARGV[3])\n"
    "local peek = ARGV[4] == '1'\n"
    "local now = tonumber(ARGV[5])\n"
    "local interval = math.floor(window / math.max(limit, 1))\n"
    "if interval < 1 then interval = 1 end\n"
    "local tolerance = window - interval\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now)\n"
    "local base = math.max(tat, now)\n"
    "local new_tat = base + interval * cost\n"
    "local allow_at = new_tat - interval - tolerance\n"
    "if limit <= 0 or allow_at > now then\n"
    "  local retry = allow_at - now\n"
    "  if limit <= 0 then retry = window end\n"
    "  return {0, 0, base - now, retry}\n"
    "end\n"
    "local after = base\n"
    "if not peek then\n"
    "  redis.call('SET', KEYS[1], new_tat, 'PX', math.max(new_tat - now, 1))\n"
    "  after = new_tat\n"
    "end\n"
    "local room = now + tolerance + interval - after\n"
    "local remaining = 0\n"
    "if room > 0 then remaining = math.floor(room / interval) end\n"
    "if remaining > limit then remaining = limit end\n"
    "return {1, remaining, after - now, 0}\n";

/* The script's arguments: bufs holds the texts argv points into. */
struct gcra_args {
    char key[300], limit[24], window[24], cost[24], now[24];
    const char *argv[6];
};

static void gcra_args(struct gcra_args *a, const char *key, int64_t limit, int64_t window_ms,
                      int64_t cost, int peek, int64_t now_ms)
{
    snprintf(a->key, sizeof a->key, "rate_limit:%s", key); /* the seed's key pattern */
    snprintf(a->limit, sizeof a->limit, "%lld", (long long)limit);
    snprintf(a->window, sizeof a->window, "%lld", (long long)window_ms);
    snprintf(a->cost, sizeof a->cost, "%lld", (long long)cost);
    snprintf(a->now, sizeof a->now, "%lld", (long long)now_ms);
    const char *argv[] = {a->key, a->limit, a->window, a->cost, peek ? "1" : "0", a->now};
    memcpy(a->argv, argv, sizeof argv);
}

/* Reads the script's answer into *res: 1, or 0 when r is not one (NULL, an error). */
static int gcra_result(const redisReply *r, int64_t limit, struct limit_result *res)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) return 0;
    for (size_t i = 0; i < 4; i++)
        if (r->element[i]->type != REDIS_REPLY_INTEGER) return 0;
    res->allowed = (int)r->element[0]->integer;
    res->remaining = r->element[1]->integer;
    res->reset_ms = r->element[2]->integer;
    res->retry_after_ms = r->element[3]->integer;
    res->limit = limit;
    return 1;
}

static int redis_take(const char *key, int64_t limit, int64_t window_ms, int64_t cost, int peek,
                      int64_t now_ms, struct limit_result *res)
{
    struct gcra_args a;
    gcra_args(&a, key, limit, window_ms, cost, peek, now_ms);
    redisReply *r = redis_eval(gcra_lua, 1, 6, a.argv);
    int ok = gcra_result(r, limit, res);
    freeReplyObject(r);
    if (ok) return 0;
    if (redis_fallback_allowed())
        return limiter_memory_ops.take(key, limit, window_ms, cost, peek, now_ms, res);
    return RAGD_EUNAVAIL;
}

/* ---- takes that ride on the thread's next exchange ---- */

static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static char gcra_sha[41];

static void make_sha(void)
{
    unsigned char d[20];
    EVP_Digest(gcra_lua, strlen(gcra_lua), d, NULL, EVP_sha1(), NULL); /* Redis's script name */
    hex_encode(d, 20, gcra_sha);
}

/* Sends the script by its SHA without waiting (queued, or sent now): ticket or 0. */
static uint64_t evalsha_queue(const struct limiter_ticket *t, int64_t cost, int64_t now_ms,
                              int nowait)
{
    pthread_once(&sha_once, make_sha);
    struct gcra_args a;
    gcra_args(&a, t->key, t->limit, t->window_ms, cost, 0, now_ms);
    const char *argv[9] = {"EVALSHA", gcra_sha, "1"};
    memcpy(argv + 3, a.argv, sizeof a.argv);
    if (nowait) return redis_send_nowait(9, argv, NULL, NULL, NULL) ? 0 : 1;
    return redis_queue(9, argv, NULL);
}

static int redis_begin(struct limiter_ticket *t)
{
    t->id = evalsha_queue(t, t->cost, t->now_ms, 0);
    return t->id ? 0 : RAGD_EUNAVAIL;
}

static int redis_end(struct limiter_ticket *t, struct limit_result *res)
{
    redisReply *r = redis_collect(t->id);
    int ok = gcra_result(r, t->limit, res);
    freeReplyObject(r);
    if (ok) return 0;
    /* Unanswered (the script not loaded after a Redis restart, the link lost): the plain way,
     * with its fallback. A take lost with the link after it ran may then count twice. */
    return redis_take(t->key, t->limit, t->window_ms, t->cost, 0, t->now_ms, res);
}

static void redis_cancel(struct limiter_ticket *t)
{
    redisReply *r = redis_withdraw(t->id);
    struct limit_result res;
    int taken = gcra_result(r, t->limit, &res) && res.allowed;
    freeReplyObject(r);
    /* It ran and counted: give the units back, without waiting for the answer. */
    if (taken) evalsha_queue(t, -t->cost, time_now_ms(), 1);
}

static void redis_reset(void)
{
    /* Only this node's keys in memory; Redis keys expire by themselves. */
    limiter_memory_ops.reset();
}

const struct limiter_ops limiter_redis_ops = {
    .name = "redis",
    .take = redis_take,
    .reset = redis_reset,
    .begin = redis_begin,
    .end = redis_end,
    .cancel = redis_cancel,
};
