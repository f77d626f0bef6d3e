/* analytics.c (store) - the support desk's analytics reads (store/analytics.h). */
#include "store/analytics.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "store/db.h"
#include "store/store.h"

/* Version 430 adds what the analytics reads need beyond the tickets schema's indexes:
 * - every figure a message contributes (an answer's confidence, feedback, tokens and
 *   latency, a visitor message's sentiment) next to (organization, role, time), so that the
 *   sums of a day are read from the index alone (it also serves every read by organization,
 *   role and time that widget_messages_org_role serves);
 * - messages by conversation and role: "was this conversation answered" is one index probe;
 * - tickets by creation time with their status (the resolution rate, index only).
 * Version 431 serves the platform dashboard (GET /admin/stats): the hourly usage counters
 * by resource and day, usage records (metered requests) by resource and time, documents by
 * upload time, and the billing history by event. */
static const struct store_migration migrations[] = {
    {430, "analytics: answers and tickets by organization and time",
     "CREATE INDEX widget_messages_analytics ON widget_messages(org_id, role, created_at,"
     " confidence, feedback, tokens, latency_ms, sentiment_label, sentiment_score);"
     "CREATE INDEX widget_messages_conv_role ON widget_messages(conversation_id, role);"
     "CREATE INDEX tickets_org_created_status ON tickets(organization_id, created_at, status);"},
    {431, "analytics: the admin dashboard's usage, documents and plan changes by time",
     "CREATE INDEX usage_analytics_resource ON usage_analytics"
     "(resource_type, date, user_id, count);"
     "CREATE INDEX usage_records_created ON usage_records(resource_type, created_at);"
     "CREATE INDEX documents_created ON documents(created_at);"
     "CREATE INDEX billing_history_event ON billing_history(event_type, created_at);"},
    {432, "analytics: one organization's day, summarised",
     "CREATE TABLE analytics_days ("
     " org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE, day TEXT NOT NULL,"
     " version INTEGER NOT NULL DEFAULT 1, built INTEGER NOT NULL DEFAULT 0,"
     " threshold REAL, summary TEXT, PRIMARY KEY (org_id, day));"},
};

void store_analytics_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

/* ---- day summaries ---- */

/* The version bump of one (organization, day) row: a new row starts at version 1, unbuilt. */
#define TOUCH_UPSERT " ON CONFLICT (org_id, day) DO UPDATE SET version = analytics_days.version + 1"

int store_analytics_touch(db_conn_t *c, const char *org_id, const char *at)
{
    if (!org_id || !at || strlen(at) < 10) return 0;
    return db_exec(
        c, NULL,
        "INSERT INTO analytics_days (org_id, day) VALUES (?, substr(?, 1, 10))" TOUCH_UPSERT, "ss",
        org_id, at);
}

int store_analytics_touch_conv(db_conn_t *c, const char *conv_id)
{
    return db_exec(c, NULL,
                   "INSERT INTO analytics_days (org_id, day) SELECT org_id, substr(created_at, 1,"
                   " 10) FROM widget_conversations WHERE id = ?" TOUCH_UPSERT,
                   "s", conv_id);
}

int store_analytics_touch_msg(db_conn_t *c, const char *msg_id)
{
    int rc = db_exec(c, NULL,
                     "INSERT INTO analytics_days (org_id, day) SELECT org_id, substr(created_at,"
                     " 1, 10) FROM widget_messages WHERE id = ?" TOUCH_UPSERT,
                     "s", msg_id);
    if (rc) return rc;
    return db_exec(
        c, NULL,
        "INSERT INTO analytics_days (org_id, day) SELECT c.org_id,"
        " substr(c.created_at, 1, 10) FROM widget_messages m"
        " JOIN widget_conversations c ON c.id = m.conversation_id WHERE m.id = ?" TOUCH_UPSERT,
        "s", msg_id);
}

int store_analytics_touch_ticket(db_conn_t *c, const char *ticket_id)
{
    int rc = db_exec(c, NULL,
                     "INSERT INTO analytics_days (org_id, day) SELECT organization_id,"
                     " substr(created_at, 1, 10) FROM tickets WHERE id = ?" TOUCH_UPSERT,
                     "s", ticket_id);
    if (rc) return rc;
    return db_exec(
        c, NULL,
        "INSERT INTO analytics_days (org_id, day) SELECT c.org_id,"
        " substr(c.created_at, 1, 10) FROM tickets t"
        " JOIN widget_conversations c ON c.id = t.conversation_id WHERE t.id = ?" TOUCH_UPSERT,
        "s", ticket_id);
}

/* Ends a walk: the callback's stop value, RAGD_EDB for a failed step, else 0. */
static int walk_end(db_rows_t *r, int more, int stop)
{
    db_rows_free(r);
    if (stop) return stop;
    return more < 0 ? RAGD_EDB : 0;
}

/* Column i of the current row as text, "" for NULL. */
static const char *text0(db_rows_t *r, int i)
{
    return db_col_text(r, i) ? db_col_text(r, i) : "";
}

int store_analytics_days(const char *org_id, const char *from, const char *to, store_aday_row_fn fn,
                         void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT day, version, built, threshold, summary FROM analytics_days"
                      " WHERE org_id = ? AND day >= ? AND day <= ? ORDER BY day",
                      "sss", org_id, from, to);
    if (rc) return rc;
    int more, stop = 0;
    while (!stop && (more = db_rows_next(r)) == 1) {
        struct store_aday_row d = {text0(r, 0), db_col_int(r, 1), db_col_int(r, 2),
                                   db_col_null(r, 3) ? -1 : db_col_double(r, 3), db_col_text(r, 4)};
        stop = fn(ud, &d);
    }
    return walk_end(r, stop ? 0 : more, stop);
}

int store_analytics_day_version(const char *org_id, const char *day, int64_t *version)
{
    db_conn_t *c = db_conn();
    int rc = db_exec(c, NULL,
                     "INSERT INTO analytics_days (org_id, day) VALUES (?, ?)"
                     " ON CONFLICT (org_id, day) DO NOTHING",
                     "ss", org_id, day);
    if (rc) return rc;
    return db_query_int(c, version,
                        "SELECT version FROM analytics_days WHERE org_id = ? AND day = ?", "ss",
                        org_id, day);
}

int store_analytics_day_save(const char *org_id, const char *day, int64_t version, double threshold,
                             const char *summary)
{
    return db_exec(db_conn(), NULL,
                   "UPDATE analytics_days SET built = ?, threshold = ?, summary = ?"
                   " WHERE org_id = ? AND day = ? AND version = ?",
                   "idsssi", version, threshold, summary, org_id, day, version);
}

/* Reads the one row of an aggregate query into n int64 columns (NULL sums read as 0). */
static int sums(db_rows_t *r, int64_t *const *cols, int n)
{
    int more = db_rows_next(r);
    if (more == 1)
        for (int i = 0; i < n; i++)
            if (cols[i]) *cols[i] = db_col_int(r, i);
    return walk_end(r, more, 0);
}

int store_analytics_visits(const char *org_id, const char *from, const char *to,
                           struct store_avisits *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT count(*),"
                      " sum(CASE WHEN sentiment_label = 'POSITIVE' THEN 1 ELSE 0 END),"
                      " sum(CASE WHEN sentiment_label = 'NEUTRAL' THEN 1 ELSE 0 END),"
                      " sum(CASE WHEN sentiment_label = 'NEGATIVE' THEN 1 ELSE 0 END),"
                      " sum(CASE WHEN sentiment_label IN ('POSITIVE', 'NEUTRAL', 'NEGATIVE')"
                      "  THEN sentiment_score ELSE 0 END)"
                      " FROM widget_messages WHERE org_id = ? AND role = 'visitor'"
                      " AND created_at >= ? AND created_at < ?",
                      "sss", org_id, from, to);
    if (rc) return rc;
    if (db_rows_next(r) == 1) {
        out->messages = db_col_int(r, 0);
        out->positive = db_col_int(r, 1);
        out->neutral = db_col_int(r, 2);
        out->negative = db_col_int(r, 3);
        out->score_sum = db_col_double(r, 4);
    }
    db_rows_free(r);
    return 0;
}

int store_analytics_answers(const char *org_id, const char *from, const char *to, double threshold,
                            struct store_aanswers *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT count(*), sum(CASE WHEN feedback = 1 THEN 1 ELSE 0 END),"
                      " sum(CASE WHEN feedback = -1 THEN 1 ELSE 0 END),"
                      " sum(CASE WHEN confidence < ? THEN 1 ELSE 0 END),"
                      " sum(tokens), count(tokens)"
                      " FROM widget_messages WHERE org_id = ? AND role = 'assistant'"
                      " AND created_at >= ? AND created_at < ?",
                      "dsss", threshold, org_id, from, to);
    if (rc) return rc;
    int64_t *cols[] = {&out->answers,        &out->helpful, &out->not_helpful,
                       &out->low_confidence, &out->tokens,  &out->tokened};
    return sums(r, cols, 6);
}

/* One of the callbacks below, and its user data, for walk_range. */
struct range_walk {
    store_alatency_fn latency; /* rows (latency_ms, count) */
    store_atext_fn text;       /* rows (body, count, first_at) */
    store_aday_fn day;         /* rows (day, count) */
    void *ud;
};

/* Runs sql with (org_id, from, to) and hands each row to w's callback until it returns
 * nonzero (that value is returned). */
static int walk_range(const char *sql, const char *org_id, const char *from, const char *to,
                      const struct range_walk *w)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r, sql, "sss", org_id, from, to);
    if (rc) return rc;
    int more, stop = 0;
    while (!stop && (more = db_rows_next(r)) == 1) {
        if (w->latency)
            stop = w->latency(w->ud, db_col_int(r, 0), db_col_int(r, 1));
        else if (w->text)
            stop = w->text(w->ud, text0(r, 0), db_col_int(r, 1), text0(r, 2));
        else
            stop = w->day(w->ud, text0(r, 0), db_col_int(r, 1));
    }
    return walk_end(r, stop ? 0 : more, stop);
}

int store_analytics_latencies(const char *org_id, const char *from, const char *to,
                              store_alatency_fn fn, void *ud)
{
    struct range_walk w = {.latency = fn, .ud = ud};
    return walk_range("SELECT latency_ms, count(*) FROM widget_messages WHERE org_id = ?"
                      " AND role = 'assistant' AND created_at >= ? AND created_at < ?"
                      " AND latency_ms IS NOT NULL GROUP BY latency_ms ORDER BY latency_ms",
                      org_id, from, to, &w);
}

int store_analytics_questions(const char *org_id, const char *from, const char *to,
                              store_atext_fn fn, void *ud)
{
    struct range_walk w = {.text = fn, .ud = ud};
    return walk_range("SELECT body, count(*), min(created_at) FROM widget_messages"
                      " WHERE org_id = ? AND role = 'visitor' AND created_at >= ?"
                      " AND created_at < ? GROUP BY body ORDER BY 3",
                      org_id, from, to, &w);
}

int store_analytics_agent_days(const char *org_id, const char *from, const char *to,
                               store_aday_fn fn, void *ud)
{
    struct range_walk w = {.day = fn, .ud = ud};
    return walk_range("SELECT substr(created_at, 1, 10), count(*) FROM widget_messages"
                      " WHERE org_id = ? AND role = 'agent' AND internal = 0"
                      " AND created_at >= ? AND created_at < ?"
                      " GROUP BY substr(created_at, 1, 10) ORDER BY 1",
                      org_id, from, to, &w);
}

int store_analytics_conversations(const char *org_id, const char *from, const char *to,
                                  struct store_aconvs *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT count(*), sum(a), sum(t), sum(h),"
                      " sum(CASE WHEN a = 1 AND t = 0 AND h = 0 THEN 1 ELSE 0 END) FROM ("
                      " SELECT CASE WHEN EXISTS (SELECT 1 FROM widget_messages m"
                      "  WHERE m.conversation_id = c.id AND m.role = 'assistant')"
                      "  THEN 1 ELSE 0 END AS a,"
                      " CASE WHEN EXISTS (SELECT 1 FROM tickets k WHERE k.conversation_id = c.id)"
                      "  THEN 1 ELSE 0 END AS t,"
                      " CASE WHEN c.handoff_requested_at IS NULL THEN 0 ELSE 1 END AS h"
                      " FROM widget_conversations c WHERE c.org_id = ?"
                      " AND c.created_at >= ? AND c.created_at < ?) x",
                      "sss", org_id, from, to);
    if (rc) return rc;
    int64_t *cols[] = {&out->conversations, &out->answered, &out->escalated, &out->handoffs,
                       &out->deflected};
    return sums(r, cols, 5);
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
    /* created_at is fixed-width text without spaces, so the greatest "created_at id" is the
     * latest answer's time followed by its conversation. */
    int rc = db_query(db_conn(), &r,
                      "SELECT q, count(*), min(conf), max(created_at || ' ' || conversation_id),"
                      " min(created_at) FROM ("
                      " SELECT a.created_at, a.conversation_id, a.confidence AS conf,"
                      " (SELECT v.body FROM widget_messages v WHERE v.conversation_id ="
                      "  a.conversation_id AND v.role = 'visitor' AND v.seq < a.seq"
                      "  ORDER BY v.seq DESC LIMIT 1) AS q"
                      " FROM widget_messages a WHERE a.org_id = ? AND a.role = 'assistant'"
                      " AND a.created_at >= ? AND a.created_at < ? AND a.confidence < ?) x"
                      " GROUP BY q ORDER BY 5",
                      "sssd", org_id, from, to, threshold);
    if (rc) return rc;
    int more, stop = 0;
    while (!stop && (more = db_rows_next(r)) == 1) {
        char last[128];
        snprintf(last, sizeof last, "%s", text0(r, 3));
        char *sp = strchr(last, ' ');
        if (sp) *sp++ = '\0';
        struct store_agap g = {db_col_text(r, 0), db_col_int(r, 1), db_col_double(r, 2), last,
                               sp ? sp : "",      text0(r, 4)};
        stop = fn(ud, &g);
    }
    return walk_end(r, stop ? 0 : more, stop);
}
