/* analytics.c (api) - GET /analytics: an organization's support-desk analytics over a range
 * of days (support/analytics.h has the definitions of every figure).
 *
 * Access: the caller's own organization, for its owners and admins (organization
 * permission analytics.read); other members get 403 ORG_PERMISSION_DENIED. A platform admin
 * with stats.read may name any organization with ?organization_id=; anyone else naming an
 * organization not their own gets 404 ORGANIZATION_NOT_FOUND (its existence is not
 * revealed). An organization whose features_enabled leaves out "analytics" answers its
 * members 403 ORG_FEATURE_DISABLED. The report is computed on a worker thread; each caller's
 * reports count against the "api" rate limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/analytics_routes.h"
#include "api/api.h"
#include "auth/roles.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "support/analytics.h"
#include "support/orgs.h"

/* What the worker needs, kept in the request's SLOT_APP. */
struct job {
    char org_id[37];
    struct analytics_range range;
    double threshold;
};

static json_t *rate(int64_t part, int64_t whole)
{
    return whole > 0 ? json_real((double)part / (double)whole) : json_null();
}

static json_t *sentiment_json(const int64_t *by_label)
{
    return json_pack("{s:I, s:I, s:I}", "POSITIVE", (json_int_t)by_label[ANALYTICS_POSITIVE],
                     "NEUTRAL", (json_int_t)by_label[ANALYTICS_NEUTRAL], "NEGATIVE",
                     (json_int_t)by_label[ANALYTICS_NEGATIVE]);
}

static json_t *mean_or_null(double sum, int64_t n)
{
    return n > 0 ? json_real(sum / (double)n) : json_null();
}

static json_t *report_json(const char *org_id, const struct analytics_report *a)
{
    json_t *days = json_array();
    for (int i = 0; i < a->range.days; i++) {
        const struct analytics_day *d = &a->days[i];
        json_array_append_new(
            days,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I}", "date",
                      d->date, "conversations", (json_int_t)d->conversations, "messages",
                      (json_int_t)(d->visitor_messages + d->answers + d->agent_messages),
                      "visitor_messages", (json_int_t)d->visitor_messages, "answers",
                      (json_int_t)d->answers, "agent_messages", (json_int_t)d->agent_messages,
                      "sentiment", sentiment_json(d->sentiment), "average_sentiment",
                      mean_or_null(d->score_sum, d->scored), "helpful", (json_int_t)d->helpful,
                      "not_helpful", (json_int_t)d->not_helpful, "low_confidence",
                      (json_int_t)d->low_confidence, "tokens", (json_int_t)d->tokens));
    }
    json_t *top = json_array();
    for (size_t i = 0; i < a->ntop; i++)
        json_array_append_new(top, json_pack("{s:s, s:I, s:o}", "question", a->top[i].example,
                                             "count", (json_int_t)a->top[i].count, "share",
                                             rate(a->top[i].count, a->questions)));
    json_t *gaps = json_array();
    for (size_t i = 0; i < a->ngaps; i++) {
        const struct analytics_cluster *g = &a->gaps[i];
        json_array_append_new(gaps, json_pack("{s:s, s:I, s:f, s:s, s:s}", "question", g->example,
                                              "count", (json_int_t)g->count, "lowest_confidence",
                                              g->lowest_confidence, "last_at", g->last_at,
                                              "conversation_id", g->conversation_id));
    }
    int64_t tickets =
        a->tickets_open + a->tickets_pending + a->tickets_resolved + a->tickets_closed;
    int64_t messages = a->visitor_messages + a->answers + a->agent_messages;
    json_t *doc = json_pack("{s:s, s:s, s:s, s:i}", "organization_id", org_id, "from",
                            a->range.from, "to", a->range.to, "days", a->range.days);
    json_object_set_new(doc, "totals",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "conversations",
                                  (json_int_t)a->conversations, "messages", (json_int_t)messages,
                                  "visitor_messages", (json_int_t)a->visitor_messages, "answers",
                                  (json_int_t)a->answers, "agent_messages",
                                  (json_int_t)a->agent_messages, "tickets", (json_int_t)tickets));
    json_object_set_new(doc, "daily", days);
    json_object_set_new(doc, "escalation",
                        json_pack("{s:o, s:I, s:I}", "rate", rate(a->escalated, a->conversations),
                                  "escalated_conversations", (json_int_t)a->escalated,
                                  "conversations", (json_int_t)a->conversations));
    json_object_set_new(
        doc, "resolution",
        json_pack("{s:o, s:I, s:I, s:{s:I, s:I, s:I, s:I}}", "rate",
                  rate(a->tickets_resolved + a->tickets_closed, tickets), "resolved_tickets",
                  (json_int_t)(a->tickets_resolved + a->tickets_closed), "tickets",
                  (json_int_t)tickets, "by_status", "open", (json_int_t)a->tickets_open, "pending",
                  (json_int_t)a->tickets_pending, "resolved", (json_int_t)a->tickets_resolved,
                  "closed", (json_int_t)a->tickets_closed));
    json_object_set_new(doc, "deflection",
                        json_pack("{s:o, s:I, s:I, s:I, s:I}", "rate",
                                  rate(a->deflected, a->conversations), "deflected_conversations",
                                  (json_int_t)a->deflected, "answered_conversations",
                                  (json_int_t)a->answered, "handoffs", (json_int_t)a->handoffs,
                                  "conversations", (json_int_t)a->conversations));
    json_t *dist = sentiment_json(a->sentiment);
    json_object_set_new(dist, "unscored", json_integer(a->unscored));
    json_object_set_new(doc, "sentiment",
                        json_pack("{s:o, s:o, s:I}", "distribution", dist, "average_score",
                                  mean_or_null(a->score_sum, a->scored), "scored",
                                  (json_int_t)a->scored));
    json_object_set_new(doc, "top_questions", top);
    json_object_set_new(doc, "low_confidence",
                        json_pack("{s:f, s:I, s:o, s:o}", "threshold", a->threshold, "answers",
                                  (json_int_t)a->low_confidence, "rate",
                                  rate(a->low_confidence, a->answers), "questions", gaps));
    json_object_set_new(doc, "feedback",
                        json_pack("{s:I, s:I, s:o}", "helpful", (json_int_t)a->helpful,
                                  "not_helpful", (json_int_t)a->not_helpful, "helpful_rate",
                                  rate(a->helpful, a->helpful + a->not_helpful)));
    json_object_set_new(doc, "response_time_ms",
                        json_pack("{s:o, s:o, s:I}", "p50",
                                  a->timed_answers ? json_integer(a->p50_ms) : json_null(), "p95",
                                  a->timed_answers ? json_integer(a->p95_ms) : json_null(),
                                  "answers", (json_int_t)a->timed_answers));
    json_object_set_new(doc, "tokens",
                        json_pack("{s:I, s:o, s:I}", "total", (json_int_t)a->tokens,
                                  "average_per_answer",
                                  mean_or_null((double)a->tokens, a->tokened_answers), "answers",
                                  (json_int_t)a->tokened_answers));
    return doc;
}

static void work(struct req *r)
{
    struct job *j = req_slot(r, SLOT_APP);
    struct analytics_report a;
    int rc = analytics_report(j->org_id, &j->range, j->threshold, &a);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, report_json(j->org_id, &a));
    analytics_report_free(&a);
}

static void not_found(struct req *r)
{
    http_error(r, 404, "ORGANIZATION_NOT_FOUND", "No such organization of yours");
}

static void analytics(struct req *r)
{
    const struct user *u = api_user(r);
    const char *named = req_query(r, "organization_id");
    int platform = roles_allows(u->role, "stats.read");
    const char *org_id = named && *named ? named : u->organization_id;
    if (!*org_id) {
        http_error(r, 404, "NOT_IN_ORGANIZATION",
                   platform ? "Name the organization with ?organization_id="
                            : "You belong to no organization");
        return;
    }
    int own = !strcmp(org_id, u->organization_id);
    if (!uuid_valid(org_id) || (!own && !platform)) {
        not_found(r);
        return;
    }
    char role[16] = "";
    int rc = own ? store_org_member_role(org_id, u->id, role) : 0;
    if (rc && rc != RAGD_ENOTFOUND) {
        http_store_error(r, rc);
        return;
    }
    int as_admin = !own || (!orgs_role_allows(role, "analytics.read") && platform);
    if (!as_admin && !orgs_role_allows(role, "analytics.read")) {
        http_error_json(r, 403, "ORG_PERMISSION_DENIED",
                        json_pack("{s:s, s:s, s:s}", "message",
                                  "Your organization role does not allow this", "required",
                                  "analytics.read", "role", role[0] ? role : "member"));
        return;
    }
    struct store_org o;
    rc = store_org_read(org_id, &o);
    if (rc == RAGD_ENOTFOUND) {
        not_found(r);
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    if (!as_admin && !orgs_feature_on(&o, "analytics")) {
        store_org_clear(&o);
        http_error(r, 403, "ORG_FEATURE_DISABLED",
                   "Your organization has turned off the feature 'analytics'");
        return;
    }
    struct job *j = xcalloc(1, sizeof *j);
    req_set_slot(r, SLOT_APP, j, free);
    snprintf(j->org_id, sizeof j->org_id, "%s", org_id);
    j->threshold = analytics_threshold(&o);
    store_org_clear(&o);
    struct analytics_refusal ref;
    if (analytics_range_parse(req_query(r, "from"), req_query(r, "to"), time_now_ms(), &j->range,
                              &ref)) {
        http_error(r, 422, ref.code, "%s", ref.message);
        return;
    }
    http_defer(r, work);
}

const struct route analytics_routes[] = {
    {.method = "GET",
     .pattern = "/analytics",
     .handler = analytics,
     .access = ACCESS_USER,
     .rate = "api", /* a report over many days is costly: the api budget bounds each caller */
     .tag = "support",
     .summary = "An organization's support-desk analytics over whole UTC days (query: from, to "
                "as YYYY-MM-DD, at most 366 days, default the last 30; organization_id for "
                "platform admins with stats.read): conversations and messages per day, "
                "escalation, resolution and deflection rates, sentiment distribution and trend, "
                "top questions grouped by similarity, questions answered with low confidence, "
                "helpful rate, response time p50/p95 and tokens. For the organization's owners "
                "and admins",
     .response_doc = "{organization_id, from, to, days, totals, daily, escalation, resolution, "
                     "deflection, sentiment, top_questions, low_confidence, feedback, "
                     "response_time_ms, tokens}",
     .response =
         "{organization_id: string, from: string, to: string, days: int, totals: {conversations: "
         "int, messages: int, visitor_messages: int, answers: int, agent_messages: int, tickets: "
         "int}, daily: [{date: string, conversations: int, messages: int, visitor_messages: int, "
         "answers: int, agent_messages: int, sentiment: {POSITIVE: int, NEUTRAL: int, NEGATIVE: "
         "int}, average_sentiment: number|null, helpful: int, not_helpful: int, low_confidence: "
         "int, tokens: int}], escalation: {rate: number|null, escalated_conversations: int, "
         "conversations: int}, resolution: {rate: number|null, resolved_tickets: int, tickets: "
         "int, by_status: {open: int, pending: int, resolved: int, closed: int}}, deflection: "
         "{rate: number|null, deflected_conversations: int, answered_conversations: int, "
         "handoffs: int, conversations: int}, sentiment: {distribution: {POSITIVE: int, NEUTRAL: "
         "int, NEGATIVE: int, unscored: int}, average_score: number|null, scored: int}, "
         "top_questions: [{question: string, count: int, share: number|null}], low_confidence: "
         "{threshold: number, answers: int, rate: number|null, questions: [{question: string, "
         "count: int, lowest_confidence: number, last_at: string, conversation_id: string}]}, "
         "feedback: {helpful: int, not_helpful: int, helpful_rate: number|null}, "
         "response_time_ms: {p50: int|null, p95: int|null, answers: int}, tokens: {total: int, "
         "average_per_answer: number|null, answers: int}}"},
    {NULL},
};
