/* openapi.c - the OpenAPI 3.1 document of every registered route (GET /openapi.json).
 *
 * Each route row declares its own request and response bodies (struct route's body, request
 * and response, see http.h); this file only assembles them: operation ids from method and
 * path, the security schemes, path parameters, the error responses every route shares (4XX,
 * 429 with its rate-limit headers, 503 with Retry-After, 502 for routes that call a model
 * provider, 5XX) and the component schemas used by several routes. The document is built once,
 * when api_openapi_check runs at start (after every route table is registered), so a shape
 * that does not parse stops ragd instead of serving a wrong document. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/shape.h"
#include "core/version.h"

#define LICENSE_NAME "MIT"

/* ---- component schemas: shapes several routes share ---- */

#define SENTIMENT_LABEL "'NEGATIVE'|'NEUTRAL'|'POSITIVE'"
#define PRIORITY "'LOW'|'MEDIUM'|'HIGH'|'URGENT'"
#define CONVERSATION_STATUS "'open'|'handoff_requested'|'escalated'|'closed'"

/* A support ticket as api/tickets.c renders it (Ticket: lists; TicketDetail adds the
 * transcript, sentiment trail and history of GET and PATCH /tickets/{id}). */
#define TICKET_MEMBERS                                                                             \
    "id: string, conversation_id: string, organization_id: string, category: string, status: "     \
    "'open'|'pending'|'resolved'|'closed', priority: " PRIORITY ", assigned_to: string|null, "     \
    "assignee_email: string|null, subject: string, reason: string, created_at: string, "           \
    "updated_at: string, first_response_at: string|null, resolved_at: string|null, closed_at: "    \
    "string|null, conversation: {id: string, status: " CONVERSATION_STATUS ", contact_email: "     \
    "string|null, visitor_id: string, sentiment: {label: " SENTIMENT_LABEL ", score: number, "     \
    "polarity: number, visitor_messages: int}|null}, sla: {first_response_due_at: string, "        \
    "resolution_due_at: string, first_response_breached: bool, resolution_breached: bool}"
#define TICKET_SENTIMENT                                                                           \
    "{label: " SENTIMENT_LABEL ", score: number, polarity: number, priority: " PRIORITY            \
    ", message_id: string, created_at: string}"

static const struct {
    const char *name, *shape;
} components[] = {
    {"Error", "{detail: string|object|[any], code: string, request_id?: string, ...}"},
    {"OpenAIError", "{error: {message: string, type: string, code: string|null, param: "
                    "string|null, ...}, ...}"},
    {"Message", "{message: string, ...}"},
    {"StatusId", "{status: string, id: string|int, ...}"},
    {"User",
     "{id: string, email: string, username: string|null, is_active: bool, is_verified: bool, "
     "is_superuser: bool, subscription_plan: string, organization_id: string|null, "
     "preferences: object, created_at: string, updated_at: string|null, last_login_at: "
     "string|null, role: string, permissions?: [string], plan?: string, usage?: "
     "{period_start: string, period_end: string, monthly: object, date: string, daily: "
     "object}}"},
    {"Plan", "{plan_type: string, name: string, limits: {messages: int, background_tasks: "
             "int, api_calls: int, storage_mb: int}, daily_limits: {*: int}, features: "
             "[string], pricing: {monthly: int, yearly: int}, currency: string}"},
    {"Subscription",
     "{id: string, user_id: string, plan_type: string, plan_name: string, status: "
     "string, billing_cycle: 'monthly'|'yearly', started_at: string, "
     "current_period_start: string, current_period_end: string, ends_at: string, "
     "auto_renew: bool, amount_cents: int, currency: string, limits: {messages: int, "
     "background_tasks: int, api_calls: int, storage_mb: int}, daily_limits: {*: "
     "int}, features: [string], pricing: {monthly: int, yearly: int}, created_at: "
     "string, updated_at: string}"},
    {"Document", "{id: string, title: string, category: string|null, tags: [string], source: "
                 "string|null, organization_id: string|null, owner_id: string, shared: bool, "
                 "status: 'pending'|'processing'|'ready'|'failed', error: string|null, sha256: "
                 "string, size_bytes: int, mime_type: string, chunk_count: int, pages: int, "
                 "importance: number, metadata: object, created_at: string, updated_at: string, "
                 "processed_at: string|null, content?: string, filename?: string}"},
    {"SearchResults", "{results: [{document_id: string, chunk_id: int, title: string, content: "
                      "string, score: number, source: string|null, metadata: object, scores?: "
                      "{vector: number|null, keyword: number|null}}], total: int, search_type: "
                      "string, route: string, processing_time_ms: number, methods_used: "
                      "['vector'|'keyword'], cached: bool, fallback: bool, detail?: string}"},
    {"Source", "{document_id: string, chunk_id: int, title: string, excerpt: string, "
               "relevance_score: number, source_type: string, ...}"},
    {"Model", "{id: string, object: 'model', created: int, owned_by: string, kind: "
              "'chat'|'embedding'|'rag'|'alias', alias_of?: string}"},
    {"RagdSources", "{sources: [{index: int, document_id: string, chunk_id: int, title: string, "
                    "excerpt: string, relevance_score: number, source_type: string}]}"},
    {"TokenLogprob", "{token: string, logprob: number, bytes: [int]|null, top_logprobs: "
                     "[{token: string, logprob: number, bytes: [int]|null}]}"},
    {"NotificationSettings",
     "{email: {enabled: bool, min_urgency: string, events: [string]|null, "
     "recipients: [string], smtp_configured: bool}, webhook: {enabled: bool, "
     "min_urgency: string, events: [string]|null, urls: [{id: string, url: string}], "
     "signed: bool}, events: [{name: string, urgency: string, title: string}], "
     "updated_by: string|null, updated_at: string|null, outbox: {unrouted: int, "
     "suppressed_repeats: int, pending: int, retrying: int, delivered: int, "
     "abandoned: int, oldest_pending_at: string|null}}"},
    {"ProviderKey", "{id: string, provider: string, base_url?: string, model: string, feature: "
                    "string, label: string, priority: int, status: string, failure_count?: int, "
                    "success_total?: int, failure_total?: int, last_used_at?: string|null, "
                    "cooldown_until: string|null, last_error?: string|null, created_by?: "
                    "string|null, created_at?: string, key_last4: string, read_only: bool}"},
    {"Organization",
     "{id: string, name: string, domain: string|null, plan: string, settings: "
     "{max_users: int, features_enabled: [string], widget: {title: string, greeting: "
     "string, primary_color: string, text_color: string, position: string, "
     "sessions_per_minute: int}, limits: {requests_per_minute: int, "
     "messages_per_day: int}, ...}, member_count: int, max_users: int, created_at: "
     "string, updated_at: string, your_role: string|null, usage_today: "
     "{widget_messages: int, widget_messages_limit: int, messages: int, "
     "messages_limit: int}}"},
    {"MaintenanceAdmin",
     "{level: 'none'|'soft'|'hard', active: bool, message: string|null, "
     "estimated_restoration: string|null, since: string|null, retry_after_seconds: "
     "int, reason: string|null, set_by: string|null, automatic: bool, "
     "feature_outages: [{feature: string, since: string}], overridden_automatic?: "
     "bool}"},
    {"FeatureFlag",
     "{name: string, description: string, is_enabled: bool, rollout_percentage: int, "
     "updated_by: string|null, updated_at: string|null, unavailable: bool, "
     "unavailable_since: string|null}"},
    {"Ticket", "{" TICKET_MEMBERS "}"},
    {"TicketDetail",
     "{" TICKET_MEMBERS ", transcript: [{id: string, role: string, body: string, internal: bool, "
     "author_id: string|null, created_at: string, sentiment?: " TICKET_SENTIMENT ", confidence?: "
     "number|null, feedback?: 'helpful'|'not_helpful'|null, tokens?: int|null, latency_ms?: "
     "int|null}], sentiment_trail: [" TICKET_SENTIMENT "], events: [{kind: string, actor_id: "
     "string|null, from: string|null, to: string|null, detail: string|null, created_at: "
     "string}]}"},
    {"WidgetEscalation",
     "{category: string, ticket_id: string|null, priority: " PRIORITY "|null, new_ticket: bool}"},
    {"Payment", "{id: string, user_id: string, provider: string, provider_ref: string, "
                "plan_type: string, billing_cycle: string, amount_cents: int, currency: string, "
                "status: string, created_at: string, refunded_at: string|null, refunded_by: "
                "string|null}"},
};

/* ---- building ---- */

struct build {
    json_t *paths, *tags;
    char *err;
    size_t errcap;
    int failed;
};

static char *doc_text; /* the document, serialised once (api_openapi_check) */

static int shape_or_fail(struct build *b, const struct route *rt, const char *what,
                         const char *text, size_t len, json_t **out)
{
    char e[300];
    if (!shape_schema(text, len, out, e, sizeof e)) return 0;
    if (!b->failed)
        snprintf(b->err, b->errcap, "route %s %s: %s: %s", rt->method, rt->pattern, what, e);
    b->failed = 1;
    return -1;
}

/* "getUsersMeApiKeysByKeyId" for GET /users/me/api-keys/{key_id}. */
static void operation_id(const struct route *rt, char *out, size_t cap)
{
    size_t n = 0;
    int upper = 0;
    for (const char *m = rt->method; *m && n + 1 < cap; m++)
        out[n++] = (char)(*m | 0x20);
    for (const char *p = rt->pattern; *p && n + 3 < cap; p++) {
        if (*p == '{') {
            out[n++] = 'B';
            out[n++] = 'y';
            upper = 1;
        } else if (*p == '/' || *p == '-' || *p == '_' || *p == '.' || *p == '}') {
            upper = 1;
        } else {
            char c = *p;
            if (upper && c >= 'a' && c <= 'z') c = (char)(c - 32);
            out[n++] = c;
            upper = 0;
        }
    }
    out[n] = '\0';
}

/* The description of a response with this status. */
static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No content";
    case 304:
        return "Not modified (the ETag matches)";
    case 402:
        return "Payment required";
    case 503:
        return "Unavailable";
    default:
        return "Response";
    }
}

static json_t *rate_headers(void)
{
    return json_pack("{s:{s:s, s:{s:s}}, s:{s:s, s:{s:s}}, s:{s:s, s:{s:s}}}", "X-RateLimit-Limit",
                     "description", "Calls allowed per period", "schema", "type", "integer",
                     "X-RateLimit-Remaining", "description", "Calls left in this period", "schema",
                     "type", "integer", "X-RateLimit-Reset", "description",
                     "Seconds until the allowance is full again", "schema", "type", "integer");
}

/* Adds the entries of rt->response ("[status] [media] [shape]; ...") to responses. */
static void add_responses(struct build *b, const struct route *rt, json_t *responses)
{
    int ok = rt->ok_status ? rt->ok_status : 200;
    const char *s = rt->response;
    while (s && *s) {
        const char *end = s;
        int depth = 0, quoted = 0;
        for (; *end && (depth || quoted || *end != ';'); end++) {
            if (*end == '\'') quoted = !quoted;
            if (quoted) continue;
            if (*end == '{' || *end == '[') depth++;
            if (*end == '}' || *end == ']') depth--;
        }
        const char *p = s;
        while (p < end && *p == ' ')
            p++;
        int status = ok;
        if (end - p >= 3 && p[0] >= '1' && p[0] <= '5' && (end - p == 3 || p[3] == ' ')) {
            status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
            p += 3;
            while (p < end && *p == ' ')
                p++;
        }
        char media[64] = "";
        const char *q = p;
        while (q < end && *q != ' ' && *q != '{' && *q != '[')
            q++;
        if (memchr(p, '/', (size_t)(q - p)) && q - p < (int)sizeof media) {
            snprintf(media, sizeof media, "%.*s", (int)(q - p), p);
            p = q;
            while (p < end && *p == ' ')
                p++;
        }
        json_t *schema = NULL;
        if (p < end && shape_or_fail(b, rt, "response", p, (size_t)(end - p), &schema)) return;
        if (!media[0] && schema) snprintf(media, sizeof media, "application/json");
        if (media[0] && !schema && strstr(media, "json")) {
            schema = json_object(); /* a JSON file served as it is */
        } else if (media[0] && !schema) {
            schema = json_pack("{s:s}", "type", "string");
            if (!strcmp(media, "text/event-stream"))
                json_object_set_new(schema, "description",
                                    json_string("Server-sent events: lines \"data: <JSON>\" "
                                                "separated by blank lines"));
        }
        char code[8];
        snprintf(code, sizeof code, "%d", status);
        json_t *resp = json_object_get(responses, code);
        if (!resp) {
            const char *desc =
                status == ok && rt->response_doc ? rt->response_doc : status_text(status);
            resp = json_pack("{s:s}", "description", desc);
            if (rt->rate && status < 300) json_object_set_new(resp, "headers", rate_headers());
            json_object_set_new(responses, code, resp);
        }
        if (schema) {
            json_t *content = json_object_get(resp, "content");
            if (!content) {
                content = json_object();
                json_object_set_new(resp, "content", content);
            }
            json_object_set_new(content, media, json_pack("{s:o}", "schema", schema));
        }
        s = *end ? end + 1 : end;
    }
}

/* rt->request: non-JSON bodies ("media [shape]; ..."); a media type without a shape takes
 * the route's JSON body schema (an HTML form posting the same fields). */
static json_t *request_body(struct build *b, const struct route *rt)
{
    json_t *content = json_object();
    if (rt->body)
        json_object_set_new(content, "application/json",
                            json_pack("{s:o}", "schema", jv_schema_json(rt->body)));
    for (const char *s = rt->request; s && *s;) {
        const char *end = strchr(s, ';');
        if (!end) end = s + strlen(s);
        while (*s == ' ')
            s++;
        const char *q = s;
        while (q < end && *q != ' ' && *q != '{')
            q++;
        char media[64];
        snprintf(media, sizeof media, "%.*s", (int)(q - s), s);
        while (q < end && *q == ' ')
            q++;
        json_t *schema = NULL;
        if (q < end) {
            if (shape_or_fail(b, rt, "request", q, (size_t)(end - q), &schema)) {
                json_decref(content);
                return NULL;
            }
        } else {
            schema = rt->body ? jv_schema_json(rt->body) : json_pack("{s:s}", "type", "string");
        }
        json_object_set_new(content, media, json_pack("{s:o}", "schema", schema));
        s = *end ? end + 1 : end;
    }
    if (!json_object_size(content)) {
        json_decref(content);
        return NULL;
    }
    return json_pack("{s:b, s:o}", "required", 1, "content", content);
}

/* Routes that call a model provider answer 502 when it fails. */
static int calls_provider(const struct route *rt)
{
    return !strncmp(rt->pattern, "/v1/", 4) || (rt->feature && strstr(rt->feature, "chat")) ||
           (rt->feature && strstr(rt->feature, "search"));
}

/* The widget's routes after /widget/session take its session token instead of a user's
 * credential (api/widget.c). */
static int widget_session(const struct route *rt)
{
    return !strncmp(rt->pattern, "/widget/", 8) && strcmp(rt->pattern, "/widget/session") != 0;
}

/* responses[code] = a reference to the shared response name (V1name for /v1 routes: the
 * OpenAI error shape), unless the route declared that status itself. */
static void shared(json_t *responses, const char *code, int v1, const char *name)
{
    if (json_object_get(responses, code)) return;
    char ref[96];
    snprintf(ref, sizeof ref, "#/components/responses/%s%s", v1 ? "V1" : "", name);
    json_object_set_new(responses, code, json_pack("{s:s}", "$ref", ref));
}

static void add_route(const struct route *rt, void *arg)
{
    struct build *b = arg;
    if (b->failed) return;
    json_t *item = json_object_get(b->paths, rt->pattern);
    if (!item) {
        item = json_object();
        json_object_set_new(b->paths, rt->pattern, item);
    }
    char method[16], opid[160];
    size_t i;
    for (i = 0; rt->method[i] && i < sizeof method - 1; i++)
        method[i] = (char)(rt->method[i] | 0x20);
    method[i] = '\0';
    operation_id(rt, opid, sizeof opid);

    json_t *responses = json_object();
    int v1 = !strncmp(rt->pattern, "/v1/", 4);
    if (rt->response) {
        add_responses(b, rt, responses);
    } else {
        /* No declared shape: test_openapi.py names every such route. */
        char code[8];
        snprintf(code, sizeof code, "%d", rt->ok_status ? rt->ok_status : 200);
        json_object_set_new(
            responses, code,
            json_pack("{s:s}", "description", rt->response_doc ? rt->response_doc : "Success"));
    }
    /* The answers every route may give, unless the route declared its own for the status. */
    shared(responses, "4XX", v1, "Error");
    shared(responses, "429", v1, "TooManyRequests");
    if (calls_provider(rt)) shared(responses, "502", v1, "BadGateway");
    shared(responses, "503", v1, "ServiceUnavailable");
    shared(responses, "5XX", v1, "ServerError");

    const char *tag = rt->tag ? rt->tag : "misc";
    json_t *op =
        json_pack("{s:[s], s:s, s:s, s:o}", "tags", tag, "summary", rt->summary ? rt->summary : "",
                  "operationId", opid, "responses", responses);
    json_object_set_new(b->tags, tag, json_true());
    if (!rt->response) json_object_set_new(op, "x-ragd-undeclared-response", json_true());
    if (widget_session(rt)) {
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "widgetSession"));
    } else if (rt->access == ACCESS_PUBLIC) {
        json_object_set_new(op, "security", json_array()); /* no credential needed */
    } else {
        json_object_set_new(
            op, "security",
            json_pack("[{s:[]}, {s:[]}, {s:[]}]", "bearerAuth", "apiKeyBearer", "apiKeyHeader"));
    }
    if (rt->access == ACCESS_ADMIN) {
        json_object_set_new(op, "x-admin-only", json_true());
        /* The permission the route needs (auth/roles.h); "admin": a full admin. */
        json_object_set_new(op, "x-ragd-permission", json_string(rt->perm ? rt->perm : "admin"));
    }
    if (rt->rate) json_object_set_new(op, "x-rate-limit-resource", json_string(rt->rate));
    if (rt->quota) json_object_set_new(op, "x-quota-resource", json_string(rt->quota));
    if (rt->feature) json_object_set_new(op, "x-ragd-feature", json_string(rt->feature));
    json_t *body = request_body(b, rt);
    if (body) json_object_set_new(op, "requestBody", body);
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

/* An error response: its description, body schema and headers. */
static json_t *error_response(const char *desc, const char *schema, json_t *headers)
{
    char ref[64];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", schema);
    json_t *r = json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", desc, "content",
                          "application/json", "schema", "$ref", ref);
    if (headers) json_object_set_new(r, "headers", headers);
    return r;
}

static json_t *retry_after(void)
{
    return json_pack("{s:s, s:{s:s}}", "description", "Seconds to wait before trying again",
                     "schema", "type", "integer");
}

static json_t *component_responses(void)
{
    json_t *out = json_object();
    for (int v1 = 0; v1 < 2; v1++) {
        const char *schema = v1 ? "OpenAIError" : "Error";
        char name[48];
#define ADD(base, resp)                                                                            \
    snprintf(name, sizeof name, "%s%s", v1 ? "V1" : "", base);                                     \
    json_object_set_new(out, name, resp)
        ADD("Error", error_response("A refused request: the code says why (401 no or bad "
                                    "credential, 403 not allowed, 404, 409, 413, 422 invalid "
                                    "input, ...)",
                                    schema, NULL));
        json_t *h = rate_headers();
        json_object_set_new(h, "Retry-After", retry_after());
        ADD("TooManyRequests",
            error_response("Rate limit, quota or login throttling: try again after Retry-After",
                           schema, h));
        ADD("BadGateway", error_response("The model provider failed", schema, NULL));
        json_t *m = json_pack("{s:o, s:{s:s, s:{s:s, s:[s,s]}}}", "Retry-After", retry_after(),
                              "X-Maintenance", "description",
                              "soft or hard while maintenance "
                              "is in force",
                              "schema", "type", "string", "enum", "soft", "hard");
        ADD("ServiceUnavailable",
            error_response("Maintenance, a disabled feature, a busy generator or an unreachable "
                           "backend",
                           schema, m));
        ADD("ServerError", error_response("Internal error", schema, NULL));
#undef ADD
    }
    return out;
}

/* The first "$ref" under v that names a component schema missing from schemas, or NULL. */
static const char *dangling_ref(json_t *v, json_t *schemas)
{
    const char *k, *found = NULL;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        const char *prefix = "#/components/schemas/";
        if (ref && !strncmp(ref, prefix, strlen(prefix)) &&
            !json_object_get(schemas, ref + strlen(prefix)))
            return ref;
        json_object_foreach(v, k, x) if (!found) found = dangling_ref(x, schemas);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (!found) found = dangling_ref(x, schemas);
    }
    return found;
}

static int build(json_t **out, char *err, size_t errcap)
{
    struct build b = {.paths = json_object(), .tags = json_object(), .err = err, .errcap = errcap};
    http_foreach_route(add_route, &b);
    json_t *schemas = json_object();
    for (size_t i = 0; !b.failed && i < sizeof components / sizeof components[0]; i++) {
        json_t *s;
        char e[300];
        if (shape_schema(components[i].shape, strlen(components[i].shape), &s, e, sizeof e)) {
            snprintf(err, errcap, "component schema %s: %s", components[i].name, e);
            b.failed = 1;
            break;
        }
        json_object_set_new(schemas, components[i].name, s);
    }
    const char *ref = b.failed ? NULL : dangling_ref(b.paths, schemas);
    if (!ref && !b.failed) ref = dangling_ref(schemas, schemas);
    if (ref) {
        snprintf(err, errcap,
                 "OpenAPI: %s names no component schema (components[] in api/openapi.c)", ref);
        b.failed = 1;
    }
    if (b.failed) {
        json_decref(b.paths);
        json_decref(b.tags);
        json_decref(schemas);
        return RAGD_EINVAL;
    }
    json_t *tags = json_array();
    const char *tag;
    json_t *v;
    json_object_foreach(b.tags, tag, v)
    {
        char d[96];
        snprintf(d, sizeof d, "The %s routes", tag);
        json_array_append_new(tags, json_pack("{s:s, s:s}", "name", tag, "description", d));
    }
    json_decref(b.tags);
    *out = json_pack(
        "{s:s, s:{s:s, s:s, s:s, s:{s:s, s:s}}, s:[{s:s, s:s}], s:o, s:[{s:[]}, {s:[]}, {s:[]}],"
        " s:o, s:{s:o, s:o, s:{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s},"
        " s:{s:s, s:s, s:s, s:s}}}}",
        "openapi", "3.1.0", "info", "title", "ragd API", "version", RAGD_VERSION, "description",
        "Self-hosted retrieval-augmented chatbot platform. Authenticate with a JWT from "
        "/auth/login or a personal API key, in Authorization: Bearer or X-API-Key.",
        "license", "name", LICENSE_NAME, "identifier", LICENSE_NAME, "servers", "url", "/",
        "description", "This server", "tags", tags, "security", "bearerAuth", "apiKeyBearer",
        "apiKeyHeader", "paths", b.paths, "components", "schemas", schemas, "responses",
        component_responses(), "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer",
        "bearerFormat", "JWT", "description", "An access token from /auth/login", "apiKeyBearer",
        "type", "http", "scheme", "bearer", "bearerFormat", "API key", "description",
        "A personal API key (POST /users/me/api-keys) as the bearer token", "apiKeyHeader", "type",
        "apiKey", "in", "header", "name", "X-API-Key", "description",
        "A personal API key (or an access token) in the X-API-Key header");
    json_object_set_new(json_object_get(json_object_get(*out, "components"), "securitySchemes"),
                        "widgetSession",
                        json_pack("{s:s, s:s, s:s, s:s}", "type", "http", "scheme", "bearer",
                                  "bearerFormat", "wst_ session token", "description",
                                  "The support widget's session token from POST /widget/session"));
    return 0;
}

int api_openapi_check(char *err, size_t errcap)
{
    json_t *doc;
    int rc = build(&doc, err, errcap);
    if (rc) return rc;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    RAGD_ASSERT(text != NULL);
    free(doc_text);
    doc_text = text;
    return 0;
}

void api_openapi(struct req *r)
{
    if (!doc_text) { /* api_openapi_check was not run (main.c runs it before serving) */
        http_error(r, 500, "OPENAPI_NOT_BUILT", "The API document was not built");
        return;
    }
    http_raw(r, 200, "application/json", doc_text, strlen(doc_text));
}
