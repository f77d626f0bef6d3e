/* health.c - /health, /health/detailed, /ready, /metrics and /openapi.json. */
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

/* ---- OpenAPI ---- */

/* A response document of the form "{a, b, c}" names the fields of a JSON object: turn it
 * into an object schema listing them (types are described in the text). NULL otherwise. */
static json_t *response_schema(const char *doc)
{
    if (!doc || doc[0] != '{' || !strchr(doc, '}')) return NULL;
    json_t *props = json_object();
    const char *p = doc + 1, *end = strchr(doc, '}');
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *q = p;
        while (q < end && *q != ',' && *q != ' ' && *q != '[' && *q != ':')
            q++;
        if (q > p) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(q - p), p);
            json_object_set_new(props, name, json_object());
        }
        while (q < end && *q != ',')
            q++; /* skip any annotation up to the next field */
        p = q;
    }
    return json_pack("{s:s, s:o}", "type", "object", "properties", props);
}

static void add_route(const struct route *rt, void *arg)
{
    json_t *paths = arg;
    json_t *item = json_object_get(paths, rt->pattern);
    if (!item) {
        item = json_object();
        json_object_set_new(paths, rt->pattern, item);
    }
    char method[16];
    size_t i;
    for (i = 0; rt->method[i] && i < sizeof method - 1; i++)
        method[i] = (char)(rt->method[i] | 0x20);
    method[i] = '\0';
    int ok = rt->ok_status ? rt->ok_status : 200;
    char code[8];
    snprintf(code, sizeof code, "%d", ok);
    json_t *responses = json_object();
    json_t *ok_resp =
        json_pack("{s:s}", "description", rt->response_doc ? rt->response_doc : "Success");
    json_t *schema = response_schema(rt->response_doc);
    if (schema)
        json_object_set_new(ok_resp, "content",
                            json_pack("{s:{s:o}}", "application/json", "schema", schema));
    json_object_set_new(responses, code, ok_resp);
    json_t *err = json_pack("{s:{s:{s:{s:s}}}}", "content", "application/json", "schema", "$ref",
                            "#/components/schemas/Error");
    json_object_set_new(err, "description", json_string("Error"));
    json_object_set_new(responses, "4XX", err);
    json_t *op = json_pack("{s:[s], s:s, s:o}", "tags", rt->tag ? rt->tag : "misc", "summary",
                           rt->summary ? rt->summary : "", "responses", responses);
    if (rt->access != ACCESS_PUBLIC)
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
    if (rt->access == ACCESS_ADMIN) {
        json_object_set_new(op, "x-admin-only", json_true());
        /* The permission the route needs (auth/roles.h); "admin": a full admin. */
        json_object_set_new(op, "x-ragd-permission", json_string(rt->perm ? rt->perm : "admin"));
    }
    if (rt->rate) json_object_set_new(op, "x-rate-limit-resource", json_string(rt->rate));
    if (rt->quota) json_object_set_new(op, "x-quota-resource", json_string(rt->quota));
    if (rt->body)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content",
                                      "application/json", "schema", jv_schema_json(rt->body)));
    json_t *params = json_array();
    for (const char *p = rt->pattern; (p = strchr(p, '{')); p++) {
        const char *e = strchr(p, '}');
        json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1,
                                                (size_t)(e - p - 1), "in", "path", "required", 1,
                                                "schema", "type", "string"));
    }
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    json_object_set_new(item, method, op);
}

static void openapi(struct req *r)
{
    json_t *paths = json_object();
    http_foreach_route(add_route, paths);
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s, s:s}}, s:{s:{s:s, s:{s:{s:[s,s]}, "
        "s:{s:s}, s:{s:s}}}}}}",
        "openapi", "3.0.3", "info", "title", "ragd API", "version", RAGD_VERSION, "description",
        "Self-hosted retrieval-augmented chatbot platform", "paths", paths, "components",
        "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer", "bearerFormat", "JWT",
        "schemas", "Error", "type", "object", "properties", "detail", "oneOf", "string", "object",
        "code", "type", "string", "request_id", "type", "string");
    /* jansson cannot express oneOf of types directly: fix the detail schema up. */
    json_t *detail = json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                            "Error"),
            "properties"),
        "detail");
    json_object_set_new(detail, "oneOf",
                        json_pack("[{s:s},{s:s}]", "type", "string", "type", "object"));
    http_json(r, 200, doc);
}

const struct route health_routes[] = {
    {"GET", "/health", health, ACCESS_PUBLIC, NULL, NULL, NULL, "health", "Liveness", 200,
     "{status, version}"},
    {"GET", "/health/detailed", health_detailed, ACCESS_PUBLIC, NULL, NULL, NULL, "health",
     "Health of every subsystem; 503 when one is unhealthy", 200, "{status, version, services}"},
    {"GET", "/ready", ready, ACCESS_PUBLIC, NULL, NULL, NULL, "health",
     "Readiness for traffic; 503 while the database is unreachable", 200, "{status}"},
    {"GET", "/metrics", metrics, ACCESS_PUBLIC, NULL, NULL, NULL, "health", "Prometheus metrics",
     200, "text/plain exposition format"},
    {"GET", "/openapi.json", openapi, ACCESS_PUBLIC, NULL, NULL, NULL, "health",
     "This API described in OpenAPI 3", 200, "OpenAPI document"},
    {NULL},
};
