/* limits.h - rate limits on routes: the GUARD_RATE stage.
 *
 * A route's `rate` names a resource with a budget of calls per period: chat 30/60 s,
 * search 60/60 s, api 100/60 s, billing 20/60 s (seed 000), each overridable with
 * RATE_LIMIT_<RESOURCE>="calls/seconds" (e.g. RATE_LIMIT_CHAT=30/60). A resource used by a
 * route but not listed takes RATE_LIMIT_<NAME> or else the api budget. Authenticated callers
 * are limited per user and resource; anonymous callers of a public route with a `rate` are
 * limited per client IP and resource. Superusers are not limited.
 *
 * api/guards.c turns a verdict into X-RateLimit-Limit, X-RateLimit-Remaining and
 * X-RateLimit-Reset (seconds until the allowance is full again), and a refusal into 429
 * RATE_LIMIT_EXCEEDED "Rate limit exceeded. Max N calls per P seconds" with Retry-After.
 * The counting is GCRA (limiter.h), so there is no burst at window edges; a refused request
 * consumes nothing. ENABLE_RATE_LIMITING=false turns the stage off. */
#ifndef RAGD_LIMITS_H
#define RAGD_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "limits/limiter.h"

/* Reads ENABLE_RATE_LIMITING and the RATE_LIMIT_* budgets of the default resources. Returns 0
 * or RAGD_EINVAL with a message in err for a malformed budget. */
int limits_init(char *err, size_t errcap);
int limits_enabled(void);

/* Parses a budget "calls/seconds" (or "calls", per 60 s). 0 or RAGD_EINVAL. */
int limits_parse(const char *s, int64_t *calls, int64_t *period_s);

/* Adds resource (a route's `rate`) unless known: RATE_LIMIT_<NAME>, else the api budget.
 * Returns 0, or RAGD_EINVAL with a message in err. */
int limits_define(const char *resource, char *err, size_t errcap);

/* What one call found. */
struct limits_verdict {
    int allowed;
    int64_t calls, period_s; /* the budget */
    int64_t remaining;       /* calls that would pass right now after this one */
    int64_t reset_s;         /* until the allowance is full again, rounded up */
    int64_t retry_after_s;   /* when refused: until the next call can pass (>= 1); else 0 */
};

/* Takes one call of resource for subject (a user id or "ip:<address>"); an unknown
 * resource takes the api budget. Returns 0 with *v, RAGD_ENOTFOUND when there is no budget
 * at all, or the limiter backend's error (the caller decides to fail open). */
int limits_take(const char *resource, const char *subject, struct limits_verdict *v);

/* limits_take in two halves, so that with the shared (Redis) limiter the take goes out with
 * the request's first exchange with Redis (its session read) instead of a round trip of its
 * own. limits_take_early starts it: 0 with *e, RAGD_ENOTSUP when the limiter takes calls
 * one at a time (call limits_take then), RAGD_ENOTFOUND as limits_take. limits_take_finish
 * gives limits_take's result; limits_take_cancel withdraws a take not finished (it never
 * runs, or its call is given back). One of them must follow, on the same thread, once. */
struct limits_early {
    struct limiter_ticket t;
    int64_t calls, period_s;
};
int limits_take_early(const char *resource, const char *subject, struct limits_early *e);
int limits_take_finish(struct limits_early *e, struct limits_verdict *v);
void limits_take_cancel(struct limits_early *e);

/* The budget of a rate resource. Returns 0, or RAGD_ENOTFOUND for an unknown resource. */
int limits_rate_of(const char *resource, int64_t *calls, int64_t *period_s);

#endif
