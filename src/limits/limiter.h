/* limiter.h - rate limiting with GCRA (generic cell rate algorithm).
 *
 * A key may pass `limit` requests per `window_ms`; the first `limit` may come at once, after
 * which one more is allowed every window_ms / limit. Unlike fixed windows there is no burst
 * of 2x limit around a window edge. Backends (memory now, Redis later) sit behind
 * limiter_ops; the rest of ragd calls limiter_take. */
#ifndef RAGD_LIMITER_H
#define RAGD_LIMITER_H

#include <stdint.h>

struct limit_result {
    int allowed;
    int64_t limit;
    int64_t remaining;      /* requests that would pass right now after this one */
    int64_t reset_ms;       /* until the key is back to a full allowance */
    int64_t retry_after_ms; /* when refused: until the next request can pass; else 0 */
};

/* A take started early (limiter_take_begin) and finished later on the same thread. */
struct limiter_ticket {
    uint64_t id; /* the backend's; 0 when nothing is in flight */
    char key[200];
    int64_t limit, window_ms, cost, now_ms;
};

struct limiter_ops {
    const char *name;
    int (*take)(const char *key, int64_t limit, int64_t window_ms, int64_t cost, int peek,
                int64_t now_ms, struct limit_result *res);
    void (*reset)(void); /* forget every key (tests, admin) */
    /* Optional (NULL: the backend decides one take at a time). begin queues t's take to go
     * out with the thread's next exchange with the backend (0, or an error: take plainly);
     * end gives its result as take would; cancel takes it back: not run, or given back. */
    int (*begin)(struct limiter_ticket *t);
    int (*end)(struct limiter_ticket *t, struct limit_result *res);
    void (*cancel)(struct limiter_ticket *t);
};

/* Takes cost units for key (peek: only report, consume nothing). A negative cost gives
 * units back (a request counted before its outcome was known that turned out not to count). Returns
 * 0 with *res filled, or a negative RAGD_E* code if the backend failed (callers then fail open or
 * closed as their policy says). */
int limiter_take(const char *key, int64_t limit, int64_t window_ms, int64_t cost, int peek,
                 struct limit_result *res);
void limiter_reset(void);

/* limiter_take (never a peek) in two halves, so that a shared backend can send it with other
 * work of the request: begin fills *t and returns 0, or RAGD_ENOTSUP when the backend takes
 * calls one at a time (call limiter_take then). end returns what limiter_take would have
 * (with the same fallback when the backend fails); cancel withdraws a take not ended: it
 * either never runs or its units are given back. end or cancel must follow on the thread
 * that called begin, once. */
int limiter_take_begin(const char *key, int64_t limit, int64_t window_ms, int64_t cost,
                       struct limiter_ticket *t);
int limiter_take_end(struct limiter_ticket *t, struct limit_result *res);
void limiter_take_cancel(struct limiter_ticket *t);
/* Chooses the backend at start: the Redis one when shared (the cache is shared by every
 * node), else the in-process one. */
void limiter_open(int shared);
const char *limiter_backend(void);

extern const struct limiter_ops limiter_memory_ops;
extern const struct limiter_ops limiter_redis_ops;

#endif
