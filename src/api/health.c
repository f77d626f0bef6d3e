/* health.c - /health, /health/detailed, /ready, /metrics and the /openapi.json route (its
 * document is built in openapi.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/roles.h"
#include "cache/cache.h"
#include "core/metrics.h"
#include "core/util.h"
#include "core/version.h"
#include "knowledge/knowledge.h"
#include "limits/limiter.h"
#include "store/db.h"

enum { MAX_CHECKS = 16 };
static struct {
    const char *name;
    json_t *(*check)(void);
} checks[MAX_CHECKS];
static int nchecks;
static int64_t started_ms;

void api_add_health_check(const char *name, json_t *(*check)(void))
{
    if (nchecks < MAX_CHECKS) checks[nchecks++] = (typeof(checks[0])){name, check};
}

static void health(struct req *r)
{
    http_json(r, 200, json_pack("{s:s, s:s}", "status", "healthy", "version", RAGD_VERSION));
}

static json_t *database_check(void)
{
    int64_t t0 = time_mono_ns();
    int rc = db_ping(db_conn());
    double ms = (double)(time_mono_ns() - t0) / 1e6;
    return json_pack("{s:s, s:s, s:f}", "status", rc ? "unhealthy" : "healthy", "backend",
                     db_backend(), "latency_ms", ms);
}

/* Figures that describe the knowledge base's size or use: only staff who read statistics
 * (stats.read: admins, ops, support, viewers) see them. Anyone else would learn from them
 * whether other tenants' documents contain a term (the counts move when a private upload is
 * indexed). */
static void redact_for_public(struct req *r, json_t *services)
{
    const struct user *u = api_user(r);
    if (u && roles_allows(u->role, "stats.read")) return;
    static const char *const corpus[] = {"chunks",       "chunks_stored",   "bm25_terms", "vectors",
                                         "search_cache", "embedding_cache", NULL};
    json_t *ix = json_object_get(services, "indexes");
    for (int i = 0; ix && corpus[i]; i++)
        json_object_del(ix, corpus[i]);
}

/* The "indexes" section of /health/detailed (corpus figures are removed for non-admins). */
json_t *api_indexes_health(void)
{
    struct kn_stats st;
    knowledge_stats(&st);
    if (!st.ready) return json_pack("{s:s}", "status", "not_configured");
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:b, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:s, s:s?}}", "status",
        "healthy", "chunks", (json_int_t)st.chunks, "chunks_stored", (json_int_t)st.chunks_stored,
        "bm25_terms", (json_int_t)st.bm25_terms, "vectors", (json_int_t)st.vectors, "vector_search",
        st.vector_search, "documents_queued", (json_int_t)st.documents_queued, "search_cache",
        "hits", (json_int_t)st.search_cache_hits, "misses", (json_int_t)st.search_cache_misses,
        "embedding_cache", "hits", (json_int_t)st.embedding_cache_hits, "misses",
        (json_int_t)st.embedding_cache_misses, "index_files", "lexical",
        st.lexical_origin ? st.lexical_origin : "unknown", "vector", st.vector_origin);
}

static void health_detailed(struct req *r)
{
    if (!started_ms) started_ms = time_now_ms();
    json_t *services = json_object();
    int unhealthy = 0, degraded = 0;
    json_t *db = database_check();
    json_object_set_new(services, "database", db);
    struct cache_status cs;
    cache_status(&cs); /* probes now, so the report is current even on an idle node */
    if (!cs.up)
        json_object_set_new(services, "cache",
                            json_pack("{s:s, s:s, s:s}", "status",
                                      cs.fallback ? "degraded" : "unhealthy", "backend", cs.backend,
                                      "detail",
                                      cs.fallback ? "redis unreachable; using in-memory fallback"
                                                  : "redis unreachable"));
    else if (cache_shared())
        json_object_set_new(services, "cache",
                            json_pack("{s:s, s:s, s:s}", "status", "healthy", "backend", cs.backend,
                                      "detail", "connected"));
    else
        json_object_set_new(services, "cache",
                            json_pack("{s:s, s:s}", "status", "healthy", "backend", cs.backend));
    for (int i = 0; i < nchecks; i++)
        json_object_set_new(services, checks[i].name, checks[i].check());
    const char *k;
    json_t *v;
    json_object_foreach(services, k, v)
    {
        const char *s = json_string_value(json_object_get(v, "status"));
        if (s && !strcmp(s, "unhealthy"))
            unhealthy = 1;
        else if (s && !strcmp(s, "degraded"))
            degraded = 1;
    }
    redact_for_public(r, services);
    if (!json_object_get(services, "models"))
        json_object_set_new(services, "models",
                            json_pack("{s:s, s:s}", "status", "not_configured", "detail",
                                      "no local models configured"));
    http_json(r, unhealthy ? 503 : 200,
              json_pack("{s:s, s:s, s:I, s:o}", "status",
                        unhealthy  ? "unhealthy"
                        : degraded ? "degraded"
                                   : "healthy",
                        "version", RAGD_VERSION, "uptime_s",
                        (json_int_t)(time_now_ms() - started_ms) / 1000, "services", services));
}

static void ready(struct req *r)
{
    int rc = db_ping(db_conn());
    if (rc) {
        http_header(r, "Retry-After", "1");
        http_error(r, 503, "NOT_READY", "Database unavailable");
        return;
    }
    http_json(r, 200, json_pack("{s:s}", "status", "ready"));
}

static void metrics(struct req *r)
{
    api_metrics(r); /* api/metrics.c */
}

/* /health/detailed's body, 200 or 503: every service reports at least its status. */
#define HEALTH_DETAILED                                                                            \
    "{status: 'healthy'|'degraded'|'unhealthy', version: string, uptime_s: int, services: {*: "    \
    "{status: 'healthy'|'degraded'|'unhealthy'|'not_configured', ...}}}"

const struct route health_routes[] = {
    {.method = "GET",
     .pattern = "/health",
     .handler = health,
     .access = ACCESS_PUBLIC,
     .tag = "health",
     .summary = "Liveness",
     .response_doc = "The status and version",
     .response = "{status: 'healthy', version: string}"},
    {.method = "GET",
     .pattern = "/health/detailed",
     .handler = health_detailed,
     .access = ACCESS_PUBLIC,
     .tag = "health",
     .summary = "Health of every subsystem; 503 when one is unhealthy",
     .response_doc = "Every subsystem's status",
     .response = HEALTH_DETAILED "; 503 " HEALTH_DETAILED},
    {.method = "GET",
     .pattern = "/ready",
     .handler = ready,
     .access = ACCESS_PUBLIC,
     .tag = "health",
     .summary = "Readiness for traffic; 503 while the database is unreachable",
     .response_doc = "Ready",
     .response = "{status: 'ready'}"},
    {.method = "GET",
     .pattern = "/metrics",
     .handler = metrics,
     .access = ACCESS_PUBLIC,
     .tag = "health",
     .summary = "Prometheus metrics",
     .response_doc = "Prometheus text exposition format",
     .response = "text/plain"},
    {.method = "GET",
     .pattern = "/openapi.json",
     .handler = api_openapi,
     .access = ACCESS_PUBLIC,
     .tag = "health",
     .summary = "This API described in OpenAPI 3.1",
     .response_doc = "The OpenAPI document",
     .response = "{openapi: string, info: object, paths: object, ...}"},
    {NULL},
};
