/* roundtrips.h - how many round trips to PostgreSQL and Redis each route costs.
 *
 * The backends call roundtrips_add once per message exchange with their server (a statement
 * sent and its answer read; a pipeline of several commands read back together counts once).
 * The counters are per thread: the HTTP server marks them before it dispatches a request and
 * records the difference after, on that request's route, as the counter
 *   ragd_route_round_trips_total{route="<pattern>",backend="postgresql"|"redis"}
 * which, divided by ragd_http_requests_total of the same route, is the cost per request.
 * A deferred reply's work on the worker pool counts on its route as well (recorded when the
 * work returns, which may be just after the reply went out); work handed to other threads
 * (ingestion, background jobs) is not attributed. */
#ifndef RAGD_ROUNDTRIPS_H
#define RAGD_ROUNDTRIPS_H

#include <stdint.h>

enum roundtrips_backend { ROUNDTRIPS_PG, ROUNDTRIPS_REDIS, ROUNDTRIPS_N };

struct roundtrips_mark {
    uint64_t n[ROUNDTRIPS_N];
};

/* One round trip to backend b on the calling thread. Cheap (a thread-local increment). */
void roundtrips_add(enum roundtrips_backend b);
/* The calling thread's counters now. */
void roundtrips_mark(struct roundtrips_mark *m);
/* Adds what the calling thread spent since m to route's series (route is a route pattern,
 * a bounded set); a backend not used adds no series. */
void roundtrips_record(const char *route, const struct roundtrips_mark *m);

#endif
