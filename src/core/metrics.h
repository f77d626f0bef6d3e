/* metrics.h - counters, gauges and latency histograms, rendered in Prometheus text format.
 * All functions are thread-safe and cannot fail. */
#ifndef RAGD_METRICS_H
#define RAGD_METRICS_H

#include <stdint.h>

#include "core/util.h"

/* One finished HTTP request: route is the pattern ("/users/{id}") or "unmatched". Label values
 * stay bounded whatever the client sends: a method outside GET, HEAD, POST, PUT, PATCH, DELETE,
 * OPTIONS, TRACE and CONNECT is counted as "other". */
void metrics_request(const char *method, const char *route, int status, int64_t duration_ns);
/* A request refused before its handler: reason such as "rate_limit", "quota", "auth",
 * "body_too_large", "validation", "overloaded". */
void metrics_reject(const char *reason);
/* A named gauge (absolute value) or counter (added), with an optional help text. */
void metrics_gauge(const char *name, const char *help, double value);
void metrics_count(const char *name, const char *help, double delta);
/* The same for one labelled series of name: labels is the Prometheus label text without
 * braces (`channel="email",outcome="delivered"`), built only from fixed sets of values (the
 * number of series is bounded; beyond it new ones fold into overflow="true"). */
void metrics_count_labeled(const char *name, const char *labels, const char *help, double delta);
void metrics_gauge_labeled(const char *name, const char *labels, const char *help, double value);
/* One observation of a latency histogram with labels (the HTTP latency buckets). */
void metrics_observe(const char *name, const char *labels, const char *help, double seconds);
/* Appends every metric to b. */
void metrics_render(struct sbuf *b);

#endif
