/* widget.c (api) - /widget/...: the embeddable widget's routes (support/widget.h).
 *
 * These routes take no user credential: /widget/session takes a widget key, the others a
 * widget session token (Authorization: Bearer wst_...). The auth guard lets widget
 * credentials through here and refuses them everywhere else. CORS: a response carries
 * Access-Control-Allow-Origin only for the origin the key or session is bound to (preflights
 * are answered for origins on some live publishable key, see widget_api_preflight). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "support/widget.h"

/* ---- helpers ---- */

static void allow_origin(struct req *r, const char *origin)
{
    http_header(r, "Access-Control-Allow-Origin", origin);
    http_header(r, "Vary", "Origin");
}

static void refused(struct req *r, const struct widget_refusal *ref)
{
    if (ref->retry_after_s > 0) {
        char b[24];
        snprintf(b, sizeof b, "%lld", (long long)ref->retry_after_s);
        http_header(r, "Retry-After", b);
    }
    if (ref->status == 401) http_header(r, "WWW-Authenticate", "Bearer");
    http_error(r, ref->status, ref->code, "%s", ref->detail);
}

static const char *bearer(struct req *r)
{
    const char *h = req_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

/* The request's session, or an answer. The slot owns it. */
static struct widget_session *session_of(struct req *r)
{
    const char *origin = req_header(r, "Origin");
    struct widget_session *s = xcalloc(1, sizeof *s);
    req_set_slot(r, SLOT_APP, s, free);
    struct widget_refusal ref;
    const char *tok = bearer(r);
    int rc = widget_session_check(tok ? tok : "", origin, s, &ref);
    if (widget_cors_ok(s, origin)) allow_origin(r, origin);
    if (rc == RAGD_EPERM) {
        refused(r, &ref);
        return NULL;
    }
    if (rc) {
        http_store_error(r, rc);
        return NULL;
    }
    return s;
}

static char *iso(int64_t ms, char buf[32])
{
    return time_iso(ms, buf);
}

/* ---- session ---- */

static const struct jv_field session_fields[] = {
    {"key", JV_STRING, 1, 4, 80, 0, NULL, "A publishable (pk_) or secret (sk_) widget key"},
    {"visitor_id", JV_STRING, 0, 8, 64, 1, NULL,
     "The visitor's id kept by the page ([A-Za-z0-9_-]); one is made if absent"},
    {NULL},
};
static const struct jv_schema session_schema = {session_fields, 0};

static void session(struct req *r)
{
    json_t *b = req_json(r);
    const char *origin = req_header(r, "Origin");
    struct widget_session s;
    struct widget_refusal ref;
    int rc = widget_session_start(jv_str(b, "key", ""), origin, jv_str(b, "visitor_id", NULL),
                                  req_ip(r), &s, &ref);
    if (rc == RAGD_EPERM) {
        refused(r, &ref);
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    if (origin) allow_origin(r, origin); /* a publishable key from one of its origins */
    char exp[32];
    int64_t in = (s.s.expires_ms - time_now_ms()) / 1000;
    json_t *out = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "session_token", s.token,
                            "expires_at", iso(s.s.expires_ms, exp), "expires_in", (json_int_t)in,
                            "conversation_id", s.s.conversation_id, "visitor_id", s.s.visitor_id,
                            "theme", s.theme ? s.theme : json_object());
    memset(s.token, 0, sizeof s.token);
    http_json(r, 201, out);
}

/* ---- message ---- */

static const struct jv_field message_fields[] = {
    {"message", JV_STRING, 1, 1, 4000, 0, NULL, "The visitor's question"},
    {"stream", JV_BOOL, 0, 0, 0, 1, NULL,
     "Answer as Server-Sent Events: token events, then a 'done' event"},
    {NULL},
};
static const struct jv_schema message_schema = {message_fields, 0};

struct job {
    struct widget_session s;
    char *message;
    int stream, open, gone;
    struct req *r;
};

static void job_free(void *p)
{
    struct job *j = p;
    free(j->message);
    free(j);
}

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

/* What an escalation did, for the visitor's side: null when no rule fired. */
static json_t *escalation_json(const struct tickets_escalation *e)
{
    if (!e->escalated) return json_null();
    return json_pack("{s:s, s:o, s:o, s:b}", "category", e->category, "ticket_id",
                     e->t.found ? json_string(e->t.ticket_id) : json_null(), "priority",
                     e->t.found ? json_string(e->t.priority) : json_null(), "new_ticket",
                     e->t.created);
}

static json_t *reply_json(const struct job *j, const struct widget_reply *a)
{
    json_t *src = json_array();
    for (size_t i = 0; i < a->nsources; i++)
        json_array_append_new(src, json_pack("{s:s, s:s, s:s, s:f}", "document_id",
                                             a->sources[i].document_id, "title",
                                             a->sources[i].title, "excerpt", a->sources[i].excerpt,
                                             "relevance_score", a->sources[i].score));
    json_t *actions = json_array();
    for (size_t i = 0; i < a->nactions; i++)
        json_array_append_new(actions, json_string(a->actions[i]));
    const struct sentiment *st = &a->sentiment;
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:f, s:o, s:o, s:o, s:o}", "conversation_id", j->s.s.conversation_id,
        "message_id", a->message_id, "visitor_message_id", a->visitor_message_id, "answer",
        a->answer, "confidence", a->confidence, "sources", src, "sentiment",
        a->has_sentiment
            ? json_pack("{s:s, s:f, s:s}", "label", sentiment_label_name(st->label), "score",
                        st->score, "priority", sentiment_priority_name(st->priority))
            : json_null(),
        "suggested_actions", actions, "escalation", escalation_json(&a->escalation));
}

static void answer_failed(struct req *r, int rc, const struct widget_refusal *ref)
{
    if (rc == RAGD_EPERM)
        refused(r, ref);
    else if (rc == RAGD_ELIMIT)
        api_generation_busy(r);
    else if (rc == RAGD_EUNAVAIL || rc == RAGD_ENOSPC)
        http_store_error(r, rc);
    else
        http_error(r, 500, "WIDGET_ANSWER_FAILED", "The answer could not be made");
}

static void answer_work(struct req *r)
{
    struct job *j = req_slot(r, SLOT_APP);
    j->r = r;
    struct widget_reply a;
    struct widget_refusal ref;
    int rc = widget_answer(&j->s, j->message, j->stream ? on_token : NULL, j, &a, &ref);
    if (!j->stream) {
        if (rc) {
            answer_failed(r, rc, &ref);
            return;
        }
        http_json(r, 200, reply_json(j, &a));
        widget_reply_free(&a);
        return;
    }
    if (rc && !j->open) {
        answer_failed(r, rc, &ref);
        return;
    }
    if (rc) {
        if (!j->gone)
            http_stream_event(r, json_pack("{s:s, s:s, s:s}", "type", "error", "code",
                                           "WIDGET_ANSWER_FAILED", "detail",
                                           "The answer could not be made"));
    } else {
        stream_open(j);
        json_t *done = reply_json(j, &a);
        widget_reply_free(&a);
        json_object_set_new(done, "type", json_string("done"));
        http_stream_event(r, done);
        http_stream_write(r, "data: [DONE]\n\n", 14);
    }
    http_stream_end(r);
}

static void message(struct req *r)
{
    struct widget_session *s = session_of(r);
    if (!s) return;
    json_t *b = req_json(r);
    struct job *j = xcalloc(1, sizeof *j);
    j->s = *s;
    j->message = xstrdup(jv_str(b, "message", ""));
    j->stream = jv_bool(b, "stream", 0);
    req_set_slot(r, SLOT_APP, j, job_free); /* frees the session slot */
    http_defer(r, answer_work);
}

/* ---- conversation, feedback, hand-off ---- */

static void conversation(struct req *r)
{
    struct widget_session *s = session_of(r);
    if (!s) return;
    long long limit;
    if (req_query_int(r, "limit", 200, 1, 500, &limit)) return;
    struct store_wconv c;
    struct store_wmsg *ms;
    size_t n;
    int rc = store_wconv_get(s->s.org_id, s->s.conversation_id, &c);
    if (!rc) rc = store_wmsgs(s->s.conversation_id, limit, &ms, &n);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        json_t *src = ms[i].sources ? json_loads(ms[i].sources, 0, &je) : NULL;
        json_t *m = json_pack("{s:s, s:s, s:s, s:s}", "id", ms[i].id, "role", ms[i].role, "body",
                              ms[i].body, "created_at", ms[i].created_at);
        if (!strcmp(ms[i].role, "assistant")) {
            json_object_set_new(m, "sources", src ? src : json_array());
            src = NULL;
            json_object_set_new(m, "confidence",
                                ms[i].has_confidence ? json_real(ms[i].confidence) : json_null());
            json_object_set_new(m, "feedback",
                                ms[i].feedback > 0   ? json_string("helpful")
                                : ms[i].feedback < 0 ? json_string("not_helpful")
                                                     : json_null());
        }
        json_decref(src);
        json_array_append_new(a, m);
    }
    store_wmsgs_free(ms, n);
    char exp[32];
    http_json(r, 200,
              json_pack("{s:s, s:s, s:o, s:s, s:o, s:s}", "conversation_id", c.id, "status",
                        c.status, "contact_email",
                        c.contact_email[0] ? json_string(c.contact_email) : json_null(),
                        "created_at", c.created_at, "messages", a, "session_expires_at",
                        iso(s->s.expires_ms, exp)));
}

static const struct jv_field feedback_fields[] = {
    {"message_id", JV_STRING, 1, 36, 36, 0, NULL, "An answer in this conversation"},
    {"helpful", JV_BOOL, 1, 0, 0, 0, NULL, "true: helpful; false: not helpful"},
    {NULL},
};
static const struct jv_schema feedback_schema = {feedback_fields, 0};

static void feedback(struct req *r)
{
    struct widget_session *s = session_of(r);
    if (!s) return;
    json_t *b = req_json(r);
    const char *mid = jv_str(b, "message_id", "");
    int helpful = jv_bool(b, "helpful", 0);
    int rc = uuid_valid(mid) ? store_wmsg_feedback(s->s.conversation_id, mid, helpful ? 1 : -1)
                             : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "MESSAGE_NOT_FOUND", "No answer in this conversation has that id");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    struct tickets_escalation esc = {0};
    if (!helpful && (rc = tickets_after_feedback(s->s.org_id, s->s.conversation_id, &esc)))
        log_json(LOG_WARN, "widget escalation check failed",
                 json_pack("{s:s}", "error", ragd_strerror(rc)));
    http_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:o}", "status", "recorded", "message_id", mid, "feedback",
                        helpful ? "helpful" : "not_helpful", "escalation", escalation_json(&esc)));
}

static const struct jv_field handoff_fields[] = {
    {"email", JV_STRING, 0, 3, 254, 1, NULL, "Where a person may answer (optional)"},
    {"message", JV_STRING, 0, 0, 1000, 1, NULL, "What the visitor wants help with (optional)"},
    {NULL},
};
static const struct jv_schema handoff_schema = {handoff_fields, 0};

static void handoff(struct req *r)
{
    struct widget_session *s = session_of(r);
    if (!s) return;
    json_t *b = req_json(r);
    const char *email = jv_str(b, "email", NULL), *msg = jv_str(b, "message", NULL);
    if (email && !email_valid(email)) {
        api_invalid(r, "email", "field 'email' must be an e-mail address");
        return;
    }
    char *note =
        xasprintf("The visitor asked to talk to a person.%s%s", msg ? " " : "", msg ? msg : "");
    int rc = store_wconv_handoff(s->s.conversation_id, email, note);
    free(note);
    struct tickets_escalation esc = {0};
    if (!rc) {
        int erc = tickets_after_handoff(s->s.org_id, s->s.conversation_id, msg, &esc);
        if (erc)
            log_json(LOG_WARN, "widget escalation check failed",
                     json_pack("{s:s}", "error", ragd_strerror(erc)));
    }
    struct store_wconv c;
    if (!rc) rc = store_wconv_get(s->s.org_id, s->s.conversation_id, &c);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:o, s:o}", "status", "requested", "conversation_id", c.id,
                        "conversation_status", c.status, "contact_email",
                        c.contact_email[0] ? json_string(c.contact_email) : json_null(),
                        "escalation", escalation_json(&esc)));
}

/* Shapes of the route rows below: an answer's source, a conversation's status. */
#define WIDGET_SOURCE                                                                              \
    "{document_id: string, title: string, excerpt: string, relevance_score: number}"
#define WIDGET_CONV_STATUS "'open'|'handoff_requested'|'escalated'|'closed'"

int widget_api_preflight(struct req *r, const char *origin)
{
    return !strncmp(req_path(r), "/widget/", 8) && origin && widget_origin_valid(origin) &&
           store_wkey_origin_known(origin);
}

const struct route widget_routes[] = {
    {.method = "POST",
     .pattern = "/widget/session",
     .handler = session,
     .access = ACCESS_PUBLIC,
     .rate = "widget",
     .body = &session_schema,
     .tag = "widget",
     .summary = "Start a widget session: a publishable key from one of its origins (Origin "
                "header), or a secret key from a server; returns a 15-minute session token "
                "and the widget's theme",
     .ok_status = 201,
     .response_doc = "{session_token, expires_at, expires_in, conversation_id, visitor_id, theme}",
     .response = "{session_token: string, expires_at: string, expires_in: int, conversation_id: "
                 "string, visitor_id: string, theme: {title: string, greeting: string, "
                 "primary_color: string, text_color: string, position: string, "
                 "organization_name: string}}"},
    {.method = "POST",
     .pattern = "/widget/message",
     .handler = message,
     .access = ACCESS_PUBLIC,
     .rate = "widget",
     .body = &message_schema,
     .tag = "widget",
     .summary = "Ask the organization's documents (Bearer session token); stream: true answers "
                "as Server-Sent Events",
     .response_doc = "{conversation_id, message_id, visitor_message_id, answer, confidence, "
                     "sources, sentiment {label, score, priority}, suggested_actions, escalation "
                     "{category, ticket_id, priority, new_ticket} | null}",
     .response = "{conversation_id: string, message_id: string, visitor_message_id: string, "
                 "answer: string, confidence: number, sources: [" WIDGET_SOURCE "], sentiment: "
                 "{label: 'NEGATIVE'|'NEUTRAL'|'POSITIVE', score: number, priority: "
                 "'LOW'|'MEDIUM'|'HIGH'|'URGENT'}|null, suggested_actions: [string], escalation: "
                 "$WidgetEscalation|null}; text/event-stream"},
    {.method = "GET",
     .pattern = "/widget/conversation",
     .handler = conversation,
     .access = ACCESS_PUBLIC,
     .rate = "widget",
     .tag = "widget",
     .summary = "The session's conversation: the visitor's messages, answers and agents' replies",
     .response_doc = "{conversation_id, status, messages}",
     .response = "{conversation_id: string, status: " WIDGET_CONV_STATUS ", contact_email: "
                 "string|null, created_at: string, messages: [{id: string, role: string, body: "
                 "string, created_at: string, sources?: [" WIDGET_SOURCE "], confidence?: "
                 "number|null, feedback?: 'helpful'|'not_helpful'|null}], session_expires_at: "
                 "string}"},
    {.method = "POST",
     .pattern = "/widget/feedback",
     .handler = feedback,
     .access = ACCESS_PUBLIC,
     .rate = "widget",
     .body = &feedback_schema,
     .tag = "widget",
     .summary = "Mark an answer helpful or not helpful",
     .response_doc = "{status, feedback, escalation}",
     .response = "{status: 'recorded', message_id: string, feedback: 'helpful'|'not_helpful', "
                 "escalation: $WidgetEscalation|null}"},
    {.method = "POST",
     .pattern = "/widget/handoff",
     .handler = handoff,
     .access = ACCESS_PUBLIC,
     .rate = "widget",
     .body = &handoff_schema,
     .tag = "widget",
     .summary = "Ask to talk to a person (optional e-mail); the conversation's status becomes "
                "handoff_requested",
     .response_doc = "{status, conversation_status, contact_email, escalation}",
     .response =
         "{status: 'requested', conversation_id: string, conversation_status: " WIDGET_CONV_STATUS
         ", contact_email: string|null, escalation: "
         "$WidgetEscalation|null}"},
    {NULL},
};
