/* analytics.c (store) - the support desk's analytics reads (store/analytics.h). */
#include "store/analytics.h"

#include <string.h>

#include "core/error.h"
#include "store/db.h"
#include "store/store.h"

/* Version 430 adds what the analytics reads need beyond the tickets schema's indexes:
 * - answers: every figure an answer contributes next to (organization, role, time), so the
 *   answers of a range are read from the index alone (it also serves every read by
 *   organization, role and time that widget_messages_org_role serves);
 * - messages by conversation and role: "was this conversation answered" is one index probe;
 * - tickets by creation time with their status (the resolution rate, index only).
 * Version 431 serves the platform dashboard (GET /admin/stats): the hourly usage counters
 * by resource and day, usage records (metered requests) by resource and time, documents by
 * upload time, and the billing history by event. */
static const struct store_migration migrations[] = {
    {430, "analytics: answers and tickets by organization and time",
     "CREATE INDEX widget_messages_answers ON widget_messages"
     "(org_id, role, created_at, confidence, feedback, tokens, latency_ms);"
     "CREATE INDEX widget_messages_conv_role ON widget_messages(conversation_id, role);"
     "CREATE INDEX tickets_org_created_status ON tickets(organization_id, created_at, status);"},
    {431, "analytics: the admin dashboard's usage, documents and plan changes by time",
     "CREATE INDEX usage_analytics_resource ON usage_analytics"
     "(resource_type, date, user_id, count);"
     "CREATE INDEX usage_records_created ON usage_records(resource_type, created_at);"
     "CREATE INDEX documents_created ON documents(created_at);"
     "CREATE INDEX billing_history_event ON billing_history(event_type, created_at);"},
};

void store_analytics_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

/* Ends a walk: the callback's stop value, RAGD_EDB for a failed step, else 0. */
static int walk_end(db_rows_t *r, int more, int stop)
{
    db_rows_free(r);
    if (stop) return stop;
    return more < 0 ? RAGD_EDB : 0;
}

int store_analytics_visits(const char *org_id, const char *from, const char *to, store_avisit_fn fn,
                           void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT created_at, body, sentiment_label, sentiment_score"
                      " FROM widget_messages WHERE org_id = ? AND role = 'visitor'"
                      " AND created_at >= ? AND created_at < ? ORDER BY created_at",
                      "sss", org_id, from, to);
    if (rc) return rc;
    int more, stop = 0;
    while (!stop && (more = db_rows_next(r)) == 1) {
        struct store_avisit m = {db_col_text(r, 0), db_col_text(r, 1), db_col_text(r, 2), 0};
        if (!m.body) m.body = "";
        if (m.label) m.score = db_col_null(r, 3) ? 0 : db_col_double(r, 3);
        stop = fn(ud, &m);
    }
    return walk_end(r, stop ? 0 : more, stop);
}

int store_analytics_answers(const char *org_id, const char *from, const char *to,
                            store_aanswer_fn fn, void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT created_at, confidence, feedback, tokens, latency_ms"
                      " FROM widget_messages WHERE org_id = ? AND role = 'assistant'"
                      " AND created_at >= ? AND created_at < ? ORDER BY created_at",
                      "sss", org_id, from, to);
    if (rc) return rc;
    int more, stop = 0;
    while (!stop && (more = db_rows_next(r)) == 1) {
        struct store_aanswer m = {.created_at = db_col_text(r, 0)};
        m.has_confidence = !db_col_null(r, 1);
        m.confidence = m.has_confidence ? db_col_double(r, 1) : 0;
        m.feedback = db_col_null(r, 2) ? 0 : (int)db_col_int(r, 2);
        m.has_tokens = !db_col_null(r, 3);
        m.tokens = m.has_tokens ? db_col_int(r, 3) : 0;
        m.has_latency = !db_col_null(r, 4);
        m.latency_ms = m.has_latency ? db_col_int(r, 4) : 0;
        stop = fn(ud, &m);
    }
    return walk_end(r, stop ? 0 : more, stop);
}

int store_analytics_agent_days(const char *org_id, const char *from, const char *to,
                               store_aday_fn fn, void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT substr(created_at, 1, 10), count(*) FROM widget_messages"
                      " WHERE org_id = ? AND role = 'agent' AND internal = 0"
                      " AND created_at >= ? AND created_at < ?"
                      " GROUP BY substr(created_at, 1, 10) ORDER BY 1",
                      "sss", org_id, from, to);
    if (rc) return rc;
    int more, stop = 0;
    while (!stop && (more = db_rows_next(r)) == 1)
        stop = fn(ud, db_col_text(r, 0) ? db_col_text(r, 0) : "", db_col_int(r, 1));
    return walk_end(r, stop ? 0 : more, stop);
}

int store_analytics_conversations(const char *org_id, const char *from, const char *to,
                                  store_aconv_fn fn, void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT c.created_at,"
                      " CASE WHEN EXISTS (SELECT 1 FROM widget_messages m"
                      "  WHERE m.conversation_id = c.id AND m.role = 'assistant')"
                      "  THEN 1 ELSE 0 END,"
                      " CASE WHEN EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = c.id)"
                      "  THEN 1 ELSE 0 END,"
                      " CASE WHEN c.handoff_requested_at IS NULL THEN 0 ELSE 1 END"
                      " FROM widget_conversations c WHERE c.org_id = ?"
                      " AND c.created_at >= ? AND c.created_at < ? ORDER BY c.created_at",
                      "sss", org_id, from, to);
    if (rc) return rc;
    int more, stop = 0;
    while (!stop && (more = db_rows_next(r)) == 1) {
        struct store_aconv c = {db_col_text(r, 0), (int)db_col_int(r, 1), (int)db_col_int(r, 2),
                                (int)db_col_int(r, 3)};
        stop = fn(ud, &c);
    }
    return walk_end(r, stop ? 0 : more, stop);
}

int store_analytics_tickets(const char *org_id, const char *from, const char *to,
                            struct store_atickets *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT status, count(*) FROM tickets WHERE organization_id = ?"
                      " AND created_at >= ? AND created_at < ? GROUP BY status",
                      "sss", org_id, from, to);
    if (rc) return rc;
    int more;
    while ((more = db_rows_next(r)) == 1) {
        const char *s = db_col_text(r, 0);
        int64_t n = db_col_int(r, 1);
        if (!s) continue;
        if (!strcmp(s, "open"))
            out->open = n;
        else if (!strcmp(s, "pending"))
            out->pending = n;
        else if (!strcmp(s, "resolved"))
            out->resolved = n;
        else if (!strcmp(s, "closed"))
            out->closed = n;
    }
    return walk_end(r, more, 0);
}

int store_analytics_gaps(const char *org_id, const char *from, const char *to, double threshold,
                         store_agap_fn fn, void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT a.created_at, a.conversation_id, a.confidence,"
                      " (SELECT v.body FROM widget_messages v WHERE v.conversation_id ="
                      "  a.conversation_id AND v.role = 'visitor' AND v.seq < a.seq"
                      "  ORDER BY v.seq DESC LIMIT 1)"
                      " FROM widget_messages a WHERE a.org_id = ? AND a.role = 'assistant'"
                      " AND a.created_at >= ? AND a.created_at < ? AND a.confidence < ?"
                      " ORDER BY a.created_at",
                      "sssd", org_id, from, to, threshold);
    if (rc) return rc;
    int more, stop = 0;
    while (!stop && (more = db_rows_next(r)) == 1) {
        struct store_agap g = {db_col_text(r, 0), db_col_text(r, 1), db_col_text(r, 3),
                               db_col_double(r, 2)};
        stop = fn(ud, &g);
    }
    return walk_end(r, stop ? 0 : more, stop);
}
