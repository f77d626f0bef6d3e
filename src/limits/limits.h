/* limits.h - rate limits on routes: the GUARD_RATE stage.
 *
 * A route's `rate` names a resource with a budget of calls per period: chat 30/60 s,
 * search 60/60 s, api 100/60 s, billing 20/60 s (seed 000), each overridable with
 * RATE_LIMIT_<RESOURCE>="calls/seconds" (e.g. RATE_LIMIT_CHAT=30/60). A resource used by a
 * route but not listed takes RATE_LIMIT_<NAME> or else the api budget. Authenticated callers
 * are limited per user and resource; anonymous callers of a public route with a `rate` are
 * limited per client IP and resource. Superusers are not limited.
 *
 * Every limited response carries X-RateLimit-Limit, X-RateLimit-Remaining and
 * X-RateLimit-Reset (seconds until the allowance is full again); a refusal is 429
 * RATE_LIMIT_EXCEEDED "Rate limit exceeded. Max N calls per P seconds" with Retry-After.
 * The counting is GCRA (limiter.h), so there is no burst at window edges; a refused request
 * consumes nothing. ENABLE_RATE_LIMITING=false turns the stage off. */
#ifndef RAGD_LIMITS_H
#define RAGD_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Reads ENABLE_RATE_LIMITING and the RATE_LIMIT_* budgets, resolves the resources of every
 * route registered so far (call after http_add_routes) and installs the guard. Returns 0 or
 * RAGD_EINVAL with a message in err for a malformed budget. */
int limits_init(char *err, size_t errcap);
int limits_enabled(void);

/* The budget of a rate resource. Returns 0, or RAGD_ENOTFOUND for an unknown resource. */
int limits_rate_of(const char *resource, int64_t *calls, int64_t *period_s);

/* The guard for GUARD_RATE. */
int limits_rate_guard(struct req *r, const struct route *rt);

/* Forgets every resource (tests). */
void limits_reset(void);

#endif
