/* limiter_redis.c - the GCRA limiter on Redis, shared by every ragd node. The decision runs
 * inside one Lua script, so concurrent requests from any number of nodes see one TAT per
 * key. The clock is the calling node's (time_now_ms, which tests can move); nodes are
 * expected to keep their clocks in sync (NTP), as for token expiry. When Redis cannot
 * be reached and REDIS_FALLBACK_TO_MEMORY is true, the node limits on its own memory until
 * Redis is back. */
#include <stdio.h>
#include <stdlib.h>

#include "cache/redis.h"
#include "core/error.h"
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

static int redis_take(const char *key, int64_t limit, int64_t window_ms, int64_t cost, int peek,
                      int64_t now_ms, struct limit_result *res)
{
    char k[300], a1[24], a2[24], a3[24], a5[24];
    snprintf(k, sizeof k, "rate_limit:%s", key); /* the seed's key pattern */
    snprintf(a1, sizeof a1, "%lld", (long long)limit);
    snprintf(a2, sizeof a2, "%lld", (long long)window_ms);
    snprintf(a3, sizeof a3, "%lld", (long long)cost);
    snprintf(a5, sizeof a5, "%lld", (long long)now_ms);
    const char *args[] = {k, a1, a2, a3, peek ? "1" : "0", a5};
    redisReply *r = redis_eval(gcra_lua, 1, 6, args);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        if (r) freeReplyObject(r);
        if (redis_fallback_allowed())
            return limiter_memory_ops.take(key, limit, window_ms, cost, peek, now_ms, res);
        return RAGD_EUNAVAIL;
    }
    res->allowed = (int)r->element[0]->integer;
    res->remaining = r->element[1]->integer;
    res->reset_ms = r->element[2]->integer;
    res->retry_after_ms = r->element[3]->integer;
    res->limit = limit;
    freeReplyObject(r);
    return 0;
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
};
