/* chat.c (api) - /chat: messages (JSON or Server-Sent Events), history, sessions, feedback,
 * hourly analytics; and the knowledge base's admin seeding and health hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/kb_routes.h"
#include "billing/billing.h"
#include "chat/chat.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge.h"
#include "llm/provider.h"
#include "llm/router.h"
#include "store/chat.h"

static const char *const routes[] = {"auto",     "vector",  "exact", "hybrid",
                                     "semantic", "keyword", NULL};

static const struct jv_field message_fields[] = {
    {"message", JV_STRING, 1, 1, 10000, 0, NULL,
     "The question, or a slash command: /flashcard, /mcq, /highyield, /explain, /map <topic>"},
    {"session_id", JV_STRING, 0, 0, 64, 1, NULL, "Conversation to continue (UUID); new if absent"},
    {"enable_rag", JV_BOOL, 0, 0, 0, 1, NULL,
     "Retrieve context from the knowledge base (default true)"},
    {"use_rag", JV_BOOL, 0, 0, 0, 1, NULL, "Same as enable_rag"},
    {"top_k", JV_INT, 0, 1, 20, 1, NULL, "Passages to retrieve (default 5)"},
    {"route", JV_STRING, 0, 0, 0, 1, routes,
     "Retrieval route: auto (default), vector, exact, hybrid"},
    {"filters", JV_OBJECT, 0, 0, 0, 1, NULL, "Retrieval filters as for /search/semantic"},
    {"debug_mode", JV_BOOL, 0, 0, 0, 1, NULL, "Include debug_info (prompt, provider, timings)"},
    {"stream", JV_BOOL, 0, 0, 0, 1, NULL,
     "Answer as Server-Sent Events: token events, then a 'done' event with the response"},
    {NULL},
};
static const struct jv_schema message_schema = {message_fields, 0};

static const struct jv_field feedback_fields[] = {
    {"message_id", JV_STRING, 1, 36, 36, 0, NULL, "An assistant message of the caller"},
    {"score", JV_INT, 1, -1, 5, 0, NULL, "-1 (bad), 0, 1 (good), or a 1..5 rating"},
    {NULL},
};
static const struct jv_schema feedback_schema = {feedback_fields, 0};

/* The request as the worker needs it. */
struct job {
    struct chat_opts o;
    struct kb_filters filters; /* o.filters points here; strings in the request body */
    struct chat_command cmd;
    struct billing_refusal refusal; /* o.refusal points here */
    int stream;
    struct req *r;
    int gone; /* a stream write failed: the client went away */
    int open; /* the event stream has started */
};

static void job_free(void *p)
{
    free(p);
}

/* ---- SSE ---- */

/* The stream's 200 goes out with the first piece of the answer, so that a request refused
 * before generation starts (generator busy, session gone) still gets its HTTP error. */
static void stream_open(struct job *j)
{
    if (!j->open) {
        http_stream_begin(j->r, "text/event-stream");
        j->open = 1;
    }
}

static int on_token(void *ud, const char *text, size_t len)
{
    struct job *j = ud;
    if (j->gone) return -1;
    stream_open(j);
    if (http_stream_event(j->r, json_pack("{s:s, s:s%}", "type", "token", "content", text, len)))
        j->gone = 1;
    return j->gone ? -1 : 0;
}

/* ---- billing ---- */

/* ChatResponse.usage_info from the caller's messages quota (q->resource empty: null). */
static json_t *usage_info(const struct billing_quota *q)
{
    if (!q->resource[0]) return json_null();
    json_t *j = api_quota_json(q);
    json_t *out = json_pack(
        "{s:O, s:O, s:O, s:O, s:O, s:O}", "messages_used", json_object_get(j, "current_usage"),
        "messages_limit", json_object_get(j, "max_allowed"), "messages_remaining",
        json_object_get(j, "remaining"), "period_start", json_object_get(j, "period_start"),
        "period_end", json_object_get(j, "period_end"), "limits_bypassed",
        json_object_get(j, "limits_bypassed"));
    json_decref(j);
    return out;
}

/* Hands the usage records of this request their extra_data (seed 001's usage_records) and
 * records them now, so that the usage_info returned (the caller's messages this month as
 * billing counts them, read with the commit) counts this message. A failed commit is logged;
 * the hold then stays until it expires, so the quota is not overspent. With billing off
 * nothing was reserved and nothing is recorded. */
static json_t *charge(struct req *r, const struct job *j, const struct chat_reply *a)
{
    api_quota_extra(r, json_pack("{s:s, s:s, s:I, s:I, s:b, s:s?}", "session_id", a->session_id,
                                 "message_id", a->message_id, "tokens_used",
                                 (json_int_t)(a->prompt_tokens + a->completion_tokens),
                                 "processing_time_ms", (json_int_t)a->response_time_ms,
                                 "rag_enabled", j->o.enable_rag, "command", j->cmd.name));
    if (!billing_enabled()) return json_pack("{s:b}", "billing_enabled", 0);
    struct billing_quota q;
    int rc = api_quota_commit_quota(r, "messages", &q);
    if (rc)
        log_json(LOG_ERROR, "chat usage not recorded",
                 json_pack("{s:s, s:s}", "error", ragd_strerror(rc), "request_id", req_id(r)));
    return usage_info(&q);
}

/* ---- rendering ---- */

enum { TOP_SOURCES = 3 }; /* seed 000's sources: the top 3; more_sources has the rest */

/* The reply's sources [from, to) as SourceDocument objects. */
static json_t *sources_json(const struct chat_reply *a, size_t from, size_t to)
{
    json_t *out = json_array();
    for (size_t i = from; i < to && i < a->nsources; i++) {
        const struct chat_source *s = &a->sources[i];
        json_array_append_new(out,
                              json_pack("{s:s, s:I, s:s, s:s, s:f, s:s}", "document_id",
                                        s->document_id, "chunk_id", (json_int_t)s->chunk_id,
                                        "title", s->title, "excerpt", s->excerpt, "relevance_score",
                                        s->relevance_score, "source_type", s->source_type));
    }
    return out;
}

static json_t *debug_json(const struct chat_reply *a, const struct user *u)
{
    json_t *prompt = json_array();
    for (size_t i = 0; i < a->nprompt; i++)
        json_array_append_new(prompt, json_pack("{s:s, s:s}", "role", a->prompt[i].role, "content",
                                                a->prompt[i].content));
    json_t *methods = json_array();
    if (a->search_methods & KN_METHOD_VECTOR) json_array_append_new(methods, json_string("vector"));
    if (a->search_methods & KN_METHOD_KEYWORD)
        json_array_append_new(methods, json_string("keyword"));
    return json_pack("{s:s, s:s, s:s, s:b, s:i, s:i, s:I, s:b, s:o, s:o, s:s}", "user_id", u->id,
                     "model_used", a->model, "provider", a->provider, "fallback_applied",
                     a->fallback, "prompt_tokens", a->prompt_tokens, "completion_tokens",
                     a->completion_tokens, "passages_retrieved", (json_int_t)a->passages_retrieved,
                     "search_cached", a->search_cached, "methods_used", methods, "prompt", prompt,
                     "generation_error", a->generation_error ? a->generation_error : "");
}

/* Seed 000's ChatResponse; usage_info is null (the caller reports the quota it charged). */
static json_t *reply_json(const struct chat_reply *a, const struct user *u, int debug)
{
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:f, s:s, s:b, s:o, s:o, s:f, s:i, s:s, s:n}", "session_id", a->session_id,
        "message_id", a->message_id, "answer", a->answer, "confidence", a->confidence,
        "response_type", a->context_used ? "rag_enhanced" : "generation_only", "context_used",
        a->context_used, "sources", sources_json(a, 0, TOP_SOURCES), "retrieval_route",
        a->retrieval_route ? json_string(a->retrieval_route) : json_null(), "response_time_ms",
        a->response_time_ms, "tokens_used", a->prompt_tokens + a->completion_tokens,
        "subscription_plan", u->subscription_plan, "usage_info");
    /* The passages cited as [4], [5] ... beyond the top 3, in the same shape. */
    json_object_set_new(r, "more_sources", sources_json(a, TOP_SOURCES, a->nsources));
    if (a->command) {
        json_object_set_new(r, "command", json_string(a->command));
        json_object_set_new(r, "command_output",
                            a->command_output ? json_incref(a->command_output) : json_null());
    }
    json_object_set_new(r, "model_used", json_string(a->model));
    /* An answer not written by a model says so, whatever debug_mode is. */
    json_object_set_new(r, "answer_source",
                        json_string(!strcmp(a->provider, "extractive") ? "extractive" : "model"));
    json_object_set_new(r, "debug_info", debug ? debug_json(a, u) : json_null());
    return r;
}

/* Answers a chat_answer failure that happened before any output. */
static void answer_error(struct req *r, const struct job *j, int rc)
{
    if (rc == RAGD_EPERM) {
        api_quota_refused(r, RAGD_ELIMIT, &j->refusal); /* 429 TOKEN_LIMIT_EXCEEDED */
    } else if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "SESSION_NOT_FOUND", "Session not found");
    } else if (rc == RAGD_ELIMIT) {
        api_generation_busy(r);
    } else if (rc == RAGD_ENOPROVIDER) {
        /* Every provider key of this feature failed; other features go on. */
        http_header(r, "Retry-After", "30");
        http_error(r, 503, "FEATURE_UNAVAILABLE", "%s",
                   router_unavailable_message(router_task_feature(j->cmd.task)));
    } else if (rc == RAGD_EUNAVAIL || rc == RAGD_ENOSPC) {
        http_store_error(r, rc); /* 503 with Retry-After while a backend is down; 507 */
    } else {
        http_error(r, 500, "CHAT_FAILED", "Failed to process chat message");
    }
}

static void answer_work(struct req *r)
{
    struct job *j = req_slot(r, SLOT_APP);
    const struct user *u = api_user(r);
    char err[512] = "";
    struct chat_reply a;
    j->o.hold = api_quota_hold(r);
    j->o.refusal = &j->refusal;
    if (!j->stream) {
        int rc = chat_answer(u, &j->o, NULL, NULL, &a, err, sizeof err);
        if (rc) {
            answer_error(r, j, rc);
        } else {
            json_t *usage = charge(r, j, &a);
            json_t *resp = reply_json(&a, u, j->o.debug);
            json_object_set_new(resp, "usage_info", usage);
            chat_reply_free(&a);
            http_json(r, 200, resp);
        }
        return;
    }
    /* The 200 goes out before the answer is complete: the reservation is settled here,
     * committed once the answer is complete, released if generation fails or the client goes
     * away. */
    api_quota_manual(r);
    j->r = r;
    int rc = chat_answer(u, &j->o, on_token, j, &a, err, sizeof err);
    if (rc && !j->open) {
        api_quota_release(r);
        answer_error(r, j, rc);
        return;
    }
    if (rc) {
        api_quota_release(r);
        if (rc != RAGD_EIO || !j->gone)
            http_stream_event(r,
                              json_pack("{s:s, s:s, s:s}", "type", "error", "code", "CHAT_FAILED",
                                        "detail", "Failed to process chat message"));
    } else {
        stream_open(j);
        json_t *usage = charge(r, j, &a);
        json_t *resp = reply_json(&a, u, j->o.debug);
        chat_reply_free(&a);
        json_object_set_new(resp, "usage_info", usage);
        json_object_set_new(resp, "type", json_string("done"));
        http_stream_event(r, resp);
        http_stream_write(r, "data: [DONE]\n\n", 14);
    }
    http_stream_end(r);
}

static void message(struct req *r)
{
    json_t *b = req_json(r);
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        http_error(r, 503, "OVERLOADED", "Server is busy; try again shortly");
        return;
    }
    req_set_slot(r, SLOT_APP, j, job_free);
    j->o.message = jv_str(b, "message", "");
    const char *sid = jv_str(b, "session_id", NULL);
    if (sid && !uuid_valid(sid)) {
        api_invalid(r, "session_id", "field 'session_id' must be a UUID");
        return;
    }
    j->o.session_id = sid;
    j->o.enable_rag = jv_bool(b, "enable_rag", jv_bool(b, "use_rag", 1));
    j->o.top_k = (size_t)jv_int(b, "top_k", 5);
    knowledge_route_parse(jv_str(b, "route", "auto"), &j->o.route);
    const char *field;
    char err[512];
    if (kb_filters_parse(json_object_get(b, "filters"), &j->filters, &j->o.filters, &field, err,
                         sizeof err)) {
        api_invalid(r, field, "%s", err);
        return;
    }
    j->o.debug = jv_bool(b, "debug_mode", 0);
    j->stream = jv_bool(b, "stream", 0);
    if (chat_parse_command(j->o.message, &j->cmd, err, sizeof err)) {
        api_invalid(r, "message", "%s", err);
        return;
    }
    j->o.command = &j->cmd;
    if (j->cmd.name && api_gate_command(r, j->cmd.name)) return; /* its feature toggle */
    /* Another user's session is refused (404) by the answer, which reads the session's owner
     * with its history. Slash commands take their daily feature counter with the message; a refusal
     * (429 <FEATURE>_LIMIT_EXCEEDED) releases the message reserved by the route as well. */
    if (j->cmd.daily && api_quota_daily(r, j->cmd.daily, 1)) return;
    http_defer(r, answer_work);
}

/* ---- history ---- */

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A stored message with every column; an answer's sources (kept in its metadata as JSON
 * text) become the array "sources", every one the answer numbered. */
static json_t *msg_json(const struct chat_msg *m)
{
    json_error_t je;
    json_t *meta = json_loads(m->metadata ? m->metadata : "{}", 0, &je);
    json_t *sources = NULL;
    const char *st = json_string_value(json_object_get(meta, "sources"));
    if (st) {
        sources = json_loads(st, 0, &je);
        json_object_del(meta, "sources");
    }
    if (!json_is_array(sources)) {
        json_decref(sources);
        sources = json_array();
    }
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:o, s:o, s:o, s:o}", "message_id",
                  m->message_id, "session_id", m->session_id, "timestamp", m->timestamp, "user_id",
                  m->user_id, "actor", m->actor, "message", m->message, "embedding_used",
                  m->embedding_used, "tokens_used", (json_int_t)m->tokens_used, "response_time_ms",
                  (json_int_t)m->response_time_ms, "model_used", text_or_null(m->model_used),
                  "confidence", m->has_confidence ? json_real(m->confidence) : json_null(),
                  "feedback_score", m->has_feedback ? json_integer(m->feedback_score) : json_null(),
                  "metadata", meta ? meta : json_object());
    json_object_set_new(out, "sources", sources);
    return out;
}

static void history(struct req *r)
{
    long long limit, offset;
    if (req_query_int(r, "limit", 50, 1, 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    const char *sid = req_query(r, "session_id");
    if (sid && !uuid_valid(sid)) {
        api_invalid(r, "session_id", "query parameter 'session_id' must be a UUID");
        return;
    }
    struct chat_msg *msgs;
    size_t n;
    int64_t total;
    int rc = store_chat_history(api_user(r)->id, sid, limit, offset, &msgs, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, msg_json(&msgs[i]));
    store_chat_msgs_free(msgs, n);
    http_json(r, 200,
              json_pack("{s:o, s:I, s:I, s:I}", "conversations", items, "total", (json_int_t)total,
                        "limit", (json_int_t)limit, "offset", (json_int_t)offset));
}

static void sessions(struct req *r)
{
    long long limit, offset;
    if (req_query_int(r, "limit", 50, 1, 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    struct chat_session *ss;
    size_t n;
    int64_t total;
    int rc = store_chat_sessions(api_user(r)->id, limit, offset, &ss, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, json_pack("{s:s, s:o, s:s, s:s, s:I, s:o}", "session_id",
                                               ss[i].session_id, "title", text_or_null(ss[i].title),
                                               "started_at", ss[i].started_at, "last_activity",
                                               ss[i].last_activity, "message_count",
                                               (json_int_t)ss[i].message_count, "subscription_plan",
                                               text_or_null(ss[i].subscription_plan)));
    store_chat_sessions_free(ss, n);
    http_json(r, 200, json_pack("{s:o, s:I}", "sessions", items, "total", (json_int_t)total));
}

static void session_delete(struct req *r)
{
    const char *sid = req_param(r, "session_id");
    int64_t n = 0;
    int rc = uuid_valid(sid) ? store_chat_session_delete(sid, api_user(r)->id, &n) : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND)
        http_error(r, 404, "SESSION_NOT_FOUND", "Session not found");
    else if (rc)
        http_store_error(r, rc);
    else
        http_json(r, 200,
                  json_pack("{s:s, s:s, s:I}", "status", "deleted", "session_id", sid,
                            "messages_deleted", (json_int_t)n));
}

static void session_rename(struct req *r)
{
    const char *sid = req_param(r, "session_id");
    const char *title = jv_str(req_json(r), "title", "");
    while (*title == ' ' || *title == '\t')
        title++;
    size_t n = strlen(title);
    while (n && (title[n - 1] == ' ' || title[n - 1] == '\t'))
        n--;
    if (!n) {
        api_invalid(r, "title", "field 'title' must not be empty");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)title[i] < 0x20 || title[i] == 0x7f) {
            api_invalid(r, "title", "field 'title' contains control characters");
            return;
        }
    char *t = xstrndup(title, n);
    int rc = uuid_valid(sid) ? store_chat_session_rename(sid, api_user(r)->id, t) : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND)
        http_error(r, 404, "SESSION_NOT_FOUND", "Session not found");
    else if (rc)
        http_store_error(r, rc);
    else
        http_json(r, 200, json_pack("{s:s, s:s}", "session_id", sid, "title", t));
    free(t);
}

static void feedback(struct req *r)
{
    json_t *b = req_json(r);
    const char *mid = jv_str(b, "message_id", "");
    if (!uuid_valid(mid)) {
        api_invalid(r, "message_id", "field 'message_id' must be a UUID");
        return;
    }
    int score = (int)jv_int(b, "score", 0);
    int rc = store_chat_feedback(mid, api_user(r)->id, score);
    if (rc == RAGD_ENOTFOUND)
        http_error(r, 404, "MESSAGE_NOT_FOUND", "No assistant message of yours has that id");
    else if (rc)
        http_store_error(r, rc);
    else
        http_json(
            r, 200,
            json_pack("{s:s, s:s, s:i}", "status", "recorded", "message_id", mid, "score", score));
}

static void analytics(struct req *r)
{
    long long days;
    if (req_query_int(r, "days", 7, 1, 366, &days)) return;
    struct usage_count *uc;
    size_t n;
    int rc = store_usage_analytics(api_user(r)->id, (int)days, &uc, &n);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, json_pack("{s:s, s:i, s:s, s:I}", "date", uc[i].date, "hour",
                                               uc[i].hour, "resource_type", uc[i].resource_type,
                                               "count", (json_int_t)uc[i].count));
    free(uc);
    http_json(r, 200, json_pack("{s:o, s:I}", "usage_analytics", items, "days", (json_int_t)days));
}

static const struct jv_field rename_fields[] = {
    {"title", JV_STRING, 1, 1, 200, 0, NULL, "The new title (1 to 200 characters)"},
    {NULL},
};
static const struct jv_schema rename_schema = {rename_fields, 0};

const struct route chat_routes[] = {
    {"POST", "/chat/message", message, ACCESS_USER, "chat", "messages", &message_schema, "chat",
     "Ask a question (RAG answer with sources) or run a slash command; stream: true answers "
     "as Server-Sent Events",
     200,
     "ChatResponse {session_id, message_id, answer, confidence, response_type, context_used,"
     " sources, retrieval_route, response_time_ms, tokens_used, subscription_plan, usage_info,"
     " debug_info}",
     0, NULL, "chat",
     .response = "{session_id: string, message_id: string, answer: string, confidence: number, "
                 "response_type: string, context_used: bool, sources: [$Source], more_sources?: "
                 "[$Source], retrieval_route: string|null, response_time_ms: number, "
                 "tokens_used: int, subscription_plan: string, usage_info: object|null, "
                 "model_used?: string|null, answer_source?: string, debug_info: object|null, "
                 "command?: string, command_output?: object}; text/event-stream"},
    {"GET", "/chat/history", history, ACCESS_USER, "api", NULL, NULL, "chat",
     "The caller's messages, newest first; query: session_id, limit, offset", 200,
     "{conversations, total}",
     .response = "{conversations: [{message_id: string, session_id: string, timestamp: string, "
                 "user_id: string, actor: string, message: string, embedding_used: bool, "
                 "tokens_used: int, response_time_ms: int, model_used: string|null, confidence: "
                 "number|null, feedback_score: int|null, metadata: object, sources: [object]}], "
                 "total: int, limit: int, offset: int}"},
    {"GET", "/chat/sessions", sessions, ACCESS_USER, "api", NULL, NULL, "chat",
     "The caller's conversation sessions, most recent first", 200, "{sessions, total}",
     .response = "{sessions: [{session_id: string, title: string|null, started_at: string, "
                 "last_activity: string, message_count: int, subscription_plan: string|null}], "
                 "total: int}"},
    {"DELETE", "/chat/sessions/{session_id}", session_delete, ACCESS_USER, "api", NULL, NULL,
     "chat", "Delete one of the caller's sessions with its messages", 200,
     "{status, session_id, messages_deleted}",
     .response = "{status: string, session_id: string, messages_deleted: int}"},
    {"PATCH", "/chat/sessions/{session_id}", session_rename, ACCESS_USER, "api", NULL,
     &rename_schema, "chat", "Rename one of the caller's sessions", 200, "{session_id, title}",
     .response = "{session_id: string, title: string}"},
    {"POST", "/chat/feedback", feedback, ACCESS_USER, "api", NULL, &feedback_schema, "chat",
     "Rate an assistant message (feedback_score)", 200, "{status, message_id, score}",
     .response = "{status: string, message_id: string, score: int}"},
    {"GET", "/chat/analytics", analytics, ACCESS_USER, "api", NULL, NULL, "chat",
     "The caller's hourly usage counters (usage_analytics); query: days", 200,
     "{usage_analytics, days}",
     .response = "{usage_analytics: [{date: string, hour: int, resource_type: string, count: "
                 "int}], days: int}"},
    {NULL},
};
