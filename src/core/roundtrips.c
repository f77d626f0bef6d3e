#include "core/roundtrips.h"

#include <stdio.h>

#include "core/metrics.h"

static _Thread_local uint64_t counts[ROUNDTRIPS_N];

void roundtrips_add(enum roundtrips_backend b)
{
    counts[b]++;
}

void roundtrips_mark(struct roundtrips_mark *m)
{
    for (int i = 0; i < ROUNDTRIPS_N; i++)
        m->n[i] = counts[i];
}

void roundtrips_record(const char *route, const struct roundtrips_mark *m)
{
    static const char *const names[ROUNDTRIPS_N] = {"postgresql", "redis"};
    char r[256], labels[320];
    for (int i = 0; i < ROUNDTRIPS_N; i++) {
        uint64_t d = counts[i] - m->n[i];
        if (!d) continue;
        metrics_label_value(r, sizeof r, route);
        snprintf(labels, sizeof labels, "route=\"%s\",backend=\"%s\"", r, names[i]);
        metrics_count_labeled("ragd_route_round_trips_total", labels,
                              "Round trips to PostgreSQL or Redis made while serving a route",
                              (double)d);
    }
}
