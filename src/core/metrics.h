/* metrics.h - counters, gauges and histograms, rendered in Prometheus text format (0.0.4).
 *
 * A metric is a family: one name, one type, one help text, and series told apart by labels.
 * The first call that names a family fixes its type, help and (for a histogram) its buckets;
 * a later call of another type on that name is ignored. Every rendered line is valid
 * exposition text whatever the callers pass: a label text that is not well formed is replaced
 * by labels_invalid="true", help text and label values are escaped, NaN and infinities are
 * written as Prometheus spells them. All functions are thread-safe and cannot fail. */
#ifndef RAGD_METRICS_H
#define RAGD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/* Bucket sets of the latency histograms (upper bounds in seconds). */
enum metrics_scale {
    METRICS_FAST, /* 0.5 ms to 10 s: HTTP requests, embeddings, provider calls */
    METRICS_SLOW, /* 5 ms to 10 min: generations, first tokens, queue waits, ingestion */
};

/* One finished HTTP request: route is the pattern ("/users/{id}") or "unmatched". Label values
 * stay bounded whatever the client sends: a method outside GET, HEAD, POST, PUT, PATCH, DELETE,
 * OPTIONS, TRACE and CONNECT is counted as "other". */
void metrics_request(const char *method, const char *route, int status, int64_t duration_ns);
/* A request refused before its handler: reason such as "rate_limit", "quota", "auth",
 * "body_too_large", "validation", "overloaded". */
void metrics_reject(const char *reason);
/* A named gauge (absolute value) or counter (added; a negative delta is ignored). help may be
 * NULL after the first call. A counter's name ends in _total. */
void metrics_gauge(const char *name, const char *help, double value);
void metrics_count(const char *name, const char *help, double delta);
/* The same for one labelled series of name: labels is the Prometheus label text without
 * braces (`channel="email",outcome="delivered"`; NULL or "" for none), built only from fixed
 * sets of values (the number of series is bounded; beyond it new ones fold into
 * overflow="true"). Build a label from a value that is not a constant with
 * metrics_label_value. */
void metrics_count_labeled(const char *name, const char *labels, const char *help, double delta);
void metrics_gauge_labeled(const char *name, const char *labels, const char *help, double value);
/* One observation of a histogram in seconds, labels as above: metrics_observe uses the
 * METRICS_FAST buckets, metrics_observe_scaled the given set. */
void metrics_observe(const char *name, const char *labels, const char *help, double seconds);
void metrics_observe_scaled(const char *name, const char *labels, const char *help, double seconds,
                            enum metrics_scale scale);
/* Writes value into out (cap bytes, always terminated) escaped as a label value: backslash,
 * double quote and newline get a backslash; a value too long is cut at a character boundary. */
void metrics_label_value(char *out, size_t cap, const char *value);
/* Appends every metric to b: the registered families, then process_* figures of this process
 * (CPU, memory, descriptors, start time) and ragd_build_info. */
void metrics_render(struct sbuf *b);

#endif
