#include "core/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
enum { NB = sizeof buckets / sizeof buckets[0] };

struct req_series { /* requests by method, route and status */
    char *method, *route;
    int status;
    uint64_t count;
    struct req_series *next;
};
struct lat_series { /* latency histogram by route */
    char *route;
    uint64_t bucket[NB];
    uint64_t count;
    double sum;
    struct lat_series *next;
};
struct named {
    char *name, *help, *label;
    const char *suffix; /* "" or, for a histogram's series, "_bucket", "_sum", "_count" */
    int is_gauge;       /* 0 counter, 1 gauge, 2 histogram */
    double value;
    struct named *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct req_series *reqs;
static struct lat_series *lats;
static struct named *named;
static int nroutes, nnamed; /* distinct route values and named series */

/* Every label value comes from a fixed set, so no client can add series: a method outside
 * the standard ones is "other", and past MAX_ROUTES distinct routes (callers pass route
 * patterns, so this is only a backstop) or MAX_NAMED named series new ones fold into "other". */
enum { MAX_ROUTES = 512, MAX_NAMED = 1024 };

static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",    "PATCH",
                                        "DELETE", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(method, known[i])) return known[i];
    return "other";
}

/* Called with the lock held: route itself if it already has a series or there is room. */
static const char *route_label(const char *route)
{
    for (struct lat_series *l = lats; l; l = l->next)
        if (!strcmp(l->route, route)) return route;
    return nroutes < MAX_ROUTES ? route : "other";
}

void metrics_request(const char *method, const char *route, int status, int64_t duration_ns)
{
    double secs = (double)duration_ns / 1e9;
    method = method_label(method);
    if (status < 0 || status > 999) status = 0;
    pthread_mutex_lock(&lock);
    route = route_label(route);
    struct req_series *r = reqs;
    while (r && !(r->status == status && !strcmp(r->route, route) && !strcmp(r->method, method)))
        r = r->next;
    if (!r) {
        r = xcalloc(1, sizeof *r);
        r->method = xstrdup(method);
        r->route = xstrdup(route);
        r->status = status;
        r->next = reqs;
        reqs = r;
    }
    r->count++;
    struct lat_series *l = lats;
    while (l && strcmp(l->route, route))
        l = l->next;
    if (!l) {
        l = xcalloc(1, sizeof *l);
        l->route = xstrdup(route);
        l->next = lats;
        lats = l;
        nroutes++;
    }
    for (int i = 0; i < NB; i++)
        if (secs <= buckets[i]) l->bucket[i]++;
    l->count++;
    l->sum += secs;
    pthread_mutex_unlock(&lock);
}

static void named_add_series(const char *name, const char *suffix, const char *label,
                             const char *help, double v, int gauge)
{
    pthread_mutex_lock(&lock);
    struct named *n = named;
    while (n && !(!strcmp(n->name, name) && !strcmp(n->suffix, suffix) &&
                  !strcmp(n->label ? n->label : "", label ? label : "")))
        n = n->next;
    if (!n && label && nnamed >= MAX_NAMED) {
        label = "overflow=\"true\"";
        for (n = named; n && !(!strcmp(n->name, name) && !strcmp(n->suffix, suffix) && n->label &&
                               !strcmp(n->label, label));)
            n = n->next;
    }
    if (!n) {
        nnamed++;
        n = xcalloc(1, sizeof *n);
        n->name = xstrdup(name);
        n->suffix = suffix;
        n->label = label ? xstrdup(label) : NULL;
        n->help = help ? xstrdup(help) : NULL;
        n->is_gauge = gauge;
        n->next = named;
        named = n;
    }
    n->value = gauge == 1 ? v : n->value + v;
    pthread_mutex_unlock(&lock);
}

static void named_add(const char *name, const char *label, const char *help, double v, int gauge)
{
    named_add_series(name, "", label, help, v, gauge);
}

void metrics_reject(const char *reason)
{
    char label[96];
    snprintf(label, sizeof label, "reason=\"%.64s\"", reason);
    named_add("ragd_rejections_total", label, "Requests refused before their handler, by reason", 1,
              0);
}

void metrics_gauge(const char *name, const char *help, double value)
{
    named_add(name, NULL, help, value, 1);
}

void metrics_count(const char *name, const char *help, double delta)
{
    named_add(name, NULL, help, delta, 0);
}

void metrics_count_labeled(const char *name, const char *labels, const char *help, double delta)
{
    named_add(name, labels, help, delta, 0);
}

void metrics_gauge_labeled(const char *name, const char *labels, const char *help, double value)
{
    named_add(name, labels, help, value, 1);
}

void metrics_observe(const char *name, const char *labels, const char *help, double seconds)
{
    char l[320];
    for (int i = 0; i < NB; i++) {
        snprintf(l, sizeof l, "%s,le=\"%g\"", labels, buckets[i]);
        named_add_series(name, "_bucket", l, help, seconds <= buckets[i] ? 1 : 0, 2);
    }
    snprintf(l, sizeof l, "%s,le=\"+Inf\"", labels);
    named_add_series(name, "_bucket", l, help, 1, 2);
    named_add_series(name, "_sum", labels, help, seconds, 2);
    named_add_series(name, "_count", labels, help, 1, 2);
}

void metrics_render(struct sbuf *b)
{
    pthread_mutex_lock(&lock);
    sb_adds(b, "# HELP ragd_http_requests_total HTTP requests by method, route and status\n"
               "# TYPE ragd_http_requests_total counter\n");
    for (struct req_series *r = reqs; r; r = r->next)
        sb_printf(b, "ragd_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                  r->method, r->route, r->status, (unsigned long long)r->count);
    sb_adds(b, "# HELP ragd_http_request_duration_seconds HTTP request latency by route\n"
               "# TYPE ragd_http_request_duration_seconds histogram\n");
    for (struct lat_series *l = lats; l; l = l->next) {
        for (int i = 0; i < NB; i++)
            sb_printf(b, "ragd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                      l->route, buckets[i], (unsigned long long)l->bucket[i]);
        sb_printf(b, "ragd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                  l->route, (unsigned long long)l->count);
        sb_printf(b, "ragd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", l->route,
                  l->sum);
        sb_printf(b, "ragd_http_request_duration_seconds_count{route=\"%s\"} %llu\n", l->route,
                  (unsigned long long)l->count);
    }
    /* Series of one name are printed together under one HELP/TYPE header. */
    for (struct named *n = named; n; n = n->next) {
        struct named *first = named;
        while (strcmp(first->name, n->name))
            first = first->next;
        if (first != n) continue;
        if (n->help) sb_printf(b, "# HELP %s %s\n", n->name, n->help);
        sb_printf(b, "# TYPE %s %s\n", n->name,
                  n->is_gauge == 2   ? "histogram"
                  : n->is_gauge == 1 ? "gauge"
                                     : "counter");
        for (struct named *m = n; m; m = m->next) {
            if (strcmp(m->name, n->name)) continue;
            if (m->label)
                sb_printf(b, "%s%s{%s} %g\n", m->name, m->suffix, m->label, m->value);
            else
                sb_printf(b, "%s%s %g\n", m->name, m->suffix, m->value);
        }
    }
    pthread_mutex_unlock(&lock);
}
