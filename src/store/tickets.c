/* tickets.c (store) - tickets and the sentiment trail (store/tickets.h). */
#include "store/tickets.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/analytics.h"
#include "store/store.h"
#include "store/store_int.h"

/* Version 410 is the schema the escalation, ticket and analytics code share:
 * - each widget message carries its sentiment (visitor messages), and the tokens and
 *   response time of an answer (assistant messages);
 * - each conversation carries its sentiment summary (the latest label and the mean score);
 * - a ticket is one escalation of one conversation, with its SLA timestamps. */
static const struct store_migration migrations[] = {
    {410, "support: message sentiment, answer cost, tickets",
     "ALTER TABLE widget_messages ADD COLUMN sentiment_label TEXT;"
     "ALTER TABLE widget_messages ADD COLUMN sentiment_score REAL;"
     "ALTER TABLE widget_messages ADD COLUMN sentiment_priority TEXT;"
     "ALTER TABLE widget_messages ADD COLUMN tokens INTEGER;"
     "ALTER TABLE widget_messages ADD COLUMN latency_ms INTEGER;"
     "ALTER TABLE widget_conversations ADD COLUMN sentiment_label TEXT;"
     "ALTER TABLE widget_conversations ADD COLUMN sentiment_score REAL;"
     "ALTER TABLE widget_conversations ADD COLUMN visitor_messages INTEGER NOT NULL DEFAULT 0;"
     "CREATE INDEX widget_messages_org_role ON widget_messages(org_id, role, created_at);"
     "CREATE INDEX widget_conversations_org_created ON widget_conversations(org_id, created_at);"
     "CREATE TABLE tickets ("
     " id TEXT PRIMARY KEY,"
     " conversation_id TEXT NOT NULL REFERENCES widget_conversations(id) ON DELETE CASCADE,"
     " organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
     " category TEXT NOT NULL,"
     " status TEXT NOT NULL DEFAULT 'open'"
     "  CHECK (status IN ('open', 'pending', 'resolved', 'closed')),"
     " priority TEXT NOT NULL CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),"
     " assigned_to TEXT REFERENCES users(id) ON DELETE SET NULL,"
     " subject TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',"
     " created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
     " first_response_at TEXT, resolved_at TEXT, closed_at TEXT);"
     "CREATE INDEX tickets_org_status ON tickets(organization_id, status, created_at);"
     "CREATE INDEX tickets_org_created ON tickets(organization_id, created_at);"
     "CREATE INDEX tickets_assignee ON tickets(assigned_to, status);"
     "CREATE INDEX tickets_conversation ON tickets(conversation_id);"},
    /* The escalation rules' bookkeeping, the signed polarity next to the score, the ticket
     * history and the round-robin cursor. */
    {411, "support: escalation bookkeeping, ticket events, round-robin cursor",
     "ALTER TABLE widget_messages ADD COLUMN sentiment_polarity REAL;"
     "ALTER TABLE widget_conversations ADD COLUMN sentiment_polarity REAL;"
     "ALTER TABLE widget_conversations ADD COLUMN escalated_seq INTEGER NOT NULL DEFAULT 0;"
     "CREATE TABLE ticket_events ("
     " id TEXT PRIMARY KEY,"
     " ticket_id TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,"
     " kind TEXT NOT NULL, actor_id TEXT REFERENCES users(id) ON DELETE SET NULL,"
     " from_value TEXT, to_value TEXT, detail TEXT, created_at TEXT NOT NULL,"
     " seq INTEGER NOT NULL);"
     "CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id, seq);"
     "CREATE TABLE ticket_assignment ("
     " organization_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,"
     " last_user_id TEXT, updated_at TEXT NOT NULL);"},
};

void store_tickets_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

/* ---- helpers ---- */

static int prio_rank(const char *p)
{
    static const char *const names[] = {"LOW", "MEDIUM", "HIGH", "URGENT"};
    for (int i = 0; p && i < 4; i++)
        if (!strcmp(p, names[i])) return i;
    return -1;
}

static int event(db_conn_t *c, const char *ticket_id, const char *kind, const char *actor_id,
                 const char *from, const char *to, const char *detail, const char *ts)
{
    char id[37];
    uuid4(id);
    return db_exec(
        c, NULL,
        "INSERT INTO ticket_events (id, ticket_id, kind, actor_id, from_value, to_value,"
        " detail, created_at, seq) SELECT ?, ?, ?, ?, ?, ?, ?, ?, coalesce(max(seq), 0) + 1"
        " FROM ticket_events WHERE ticket_id = ?",
        "sssssssss", id, ticket_id, kind, actor_id && *actor_id ? actor_id : NULL, from, to, detail,
        ts, ticket_id);
}

/* ---- escalation ---- */

int store_esc_signals(const char *conv_id, struct store_esc_signals *out)
{
    memset(out, 0, sizeof *out);
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    /* One query, in parts: 0 the latest visitor messages since the escalation (seq, polarity,
     * priority), 1 the latest answers (seq, confidence), 2 the count of answers marked not
     * helpful, 3 the conversation itself (absent: not found). */
    db_rows_t *r;
#define SINCE " AND seq > (SELECT since FROM k)"
    int rc = db_query(
        c, &r,
        "WITH k AS (SELECT coalesce(escalated_seq, 0) AS since FROM widget_conversations"
        " WHERE id = ?)"
        " SELECT 0 AS part, seq AS n, sentiment_polarity AS x, sentiment_priority AS y FROM"
        " (SELECT seq, sentiment_polarity, sentiment_priority FROM widget_messages"
        " WHERE conversation_id = ? AND role = 'visitor'" SINCE " ORDER BY seq DESC LIMIT 16) v"
        " UNION ALL SELECT 1, seq, confidence, NULL FROM (SELECT seq, confidence FROM"
        " widget_messages WHERE conversation_id = ? AND role = 'assistant'" SINCE
        " ORDER BY seq DESC LIMIT 16) a"
        " UNION ALL SELECT 2, count(*), NULL, NULL FROM widget_messages"
        " WHERE conversation_id = ? AND role = 'assistant' AND feedback = -1" SINCE
        " UNION ALL SELECT 3, 0, NULL, NULL FROM k ORDER BY part, n DESC",
        "ssss", conv_id, conv_id, conv_id, conv_id);
#undef SINCE
    if (rc) return rc;
    int more, found = 0;
    while ((more = db_rows_next(r)) == 1) {
        int64_t part = db_col_int(r, 0);
        if (part == 0 && out->nvisitor < STORE_ESC_RECENT) {
            int i = out->nvisitor++;
            out->polarity[i] = db_col_null(r, 2) ? NAN : db_col_double(r, 2);
            cp(out->priority[i], sizeof out->priority[i], db_col_text(r, 3));
        } else if (part == 1 && out->nanswer < STORE_ESC_RECENT) {
            int i = out->nanswer++;
            out->confidence[i] = db_col_null(r, 2) ? -1 : db_col_double(r, 2);
        } else if (part == 2) {
            out->not_helpful = db_col_int(r, 1);
        } else if (part == 3) {
            found = 1;
        }
    }
    db_rows_free(r);
    if (more < 0) return RAGD_EDB;
    return found ? 0 : RAGD_ENOTFOUND;
}

/* The next assignee after the organization's cursor: its active agents, or its admins and
 * owners when it has no agent, in user id order. "" when there is nobody. */
static int next_assignee(db_conn_t *c, const char *org_id, char out[37], char email[256])
{
    out[0] = email[0] = '\0';
    char *last = NULL;
    int rc = db_query_text(c, &last,
                           "SELECT last_user_id FROM ticket_assignment WHERE organization_id = ?",
                           "s", org_id);
    if (rc && rc != RAGD_ENOTFOUND) return rc;
    db_rows_t *r;
    rc = db_query(c, &r,
                  "SELECT m.user_id, u.email,"
                  " CASE WHEN m.role = 'agent' THEN 0 ELSE 1 END AS tier"
                  " FROM org_members m JOIN users u ON u.id = m.user_id"
                  " AND u.organization_id = m.org_id AND u.is_active = 1"
                  " WHERE m.org_id = ? AND m.role IN ('agent', 'admin', 'owner')"
                  " ORDER BY tier, m.user_id",
                  "s", org_id);
    if (rc) {
        free(last);
        return rc;
    }
    char first[37] = "", first_email[256] = "";
    int64_t tier = -1;
    int more;
    while ((more = db_rows_next(r)) == 1) {
        int64_t t = db_col_int(r, 2);
        if (tier >= 0 && t != tier) break; /* agents only, when there are agents */
        tier = t;
        const char *id = db_col_text(r, 0);
        if (!first[0]) {
            cp(first, sizeof first, id);
            cp(first_email, sizeof first_email, db_col_text(r, 1));
        }
        if (!out[0] && last && strcmp(id, last) > 0) {
            cp(out, 37, id);
            cp(email, 256, db_col_text(r, 1));
        }
    }
    db_rows_free(r);
    free(last);
    if (more < 0) return RAGD_EDB;
    if (!out[0]) {
        cp(out, 37, first);
        cp(email, 256, first_email);
    }
    return 0;
}

int store_ticket_escalate(const struct store_escalation *e, struct store_escalated *out)
{
    memset(out, 0, sizeof *out);
    RAGD_ASSERT(prio_rank(e->priority) >= 0);
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    now_iso(ts);
    int rc = db_begin_for(c, e->org_id);
    if (rc) return rc;
    int64_t n = 0;
    rc =
        db_query_int(c, &n, "SELECT count(*) FROM widget_conversations WHERE id = ? AND org_id = ?",
                     "ss", e->conv_id, e->org_id);
    if (!rc && n != 1) rc = RAGD_ENOTFOUND;
    db_rows_t *r = NULL;
    if (!rc)
        rc = db_query(c, &r,
                      "SELECT t.id, t.priority, t.category, coalesce(t.assigned_to, ''),"
                      " coalesce(u.email, '') FROM tickets t LEFT JOIN users u"
                      " ON u.id = t.assigned_to WHERE t.conversation_id = ?"
                      " AND t.status IN ('open', 'pending') ORDER BY t.created_at DESC LIMIT 1",
                      "s", e->conv_id);
    if (!rc) {
        int more = db_rows_next(r);
        if (more == 1) {
            out->found = 1;
            cp(out->ticket_id, sizeof out->ticket_id, db_col_text(r, 0));
            cp(out->priority, sizeof out->priority, db_col_text(r, 1));
            cp(out->category, sizeof out->category, db_col_text(r, 2));
            cp(out->assigned_to, sizeof out->assigned_to, db_col_text(r, 3));
            cp(out->assignee_email, sizeof out->assignee_email, db_col_text(r, 4));
        }
        db_rows_free(r);
        if (more < 0) rc = RAGD_EDB;
    }
    const char *conv_priority = e->priority;
    if (!rc && out->found) {
        char *detail = xasprintf("%s: %s", e->category, e->reason ? e->reason : "");
        if (prio_rank(e->priority) > prio_rank(out->priority)) {
            rc = db_exec(c, NULL, "UPDATE tickets SET priority = ?, updated_at = ? WHERE id = ?",
                         "sss", e->priority, ts, out->ticket_id);
            if (!rc)
                rc = event(c, out->ticket_id, "priority", NULL, out->priority, e->priority, detail,
                           ts);
            cp(out->priority, sizeof out->priority, e->priority);
            out->raised = 1;
        } else {
            rc = event(c, out->ticket_id, "trigger", NULL, NULL, NULL, detail, ts);
        }
        free(detail);
        conv_priority = out->priority;
    } else if (!rc && e->create) {
        if (e->round_robin) rc = next_assignee(c, e->org_id, out->assigned_to, out->assignee_email);
        uuid4(out->ticket_id);
        cp(out->priority, sizeof out->priority, e->priority);
        cp(out->category, sizeof out->category, e->category);
        if (!rc)
            rc = db_exec(c, NULL,
                         "INSERT INTO tickets (id, conversation_id, organization_id, category,"
                         " status, priority, assigned_to, subject, reason, created_at, updated_at)"
                         " VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                         "ssssssssss", out->ticket_id, e->conv_id, e->org_id, e->category,
                         e->priority, out->assigned_to[0] ? out->assigned_to : NULL,
                         e->subject ? e->subject : "", e->reason ? e->reason : "", ts, ts);
        if (!rc) rc = event(c, out->ticket_id, "created", NULL, NULL, e->priority, e->reason, ts);
        if (!rc) rc = store_analytics_touch_ticket(c, out->ticket_id); /* analytics: a ticket */
        if (!rc && out->assigned_to[0]) {
            rc = event(c, out->ticket_id, "assigned", NULL, NULL, out->assigned_to, "round robin",
                       ts);
            if (!rc)
                rc = db_exec(c, NULL,
                             "INSERT INTO ticket_assignment (organization_id, last_user_id,"
                             " updated_at) VALUES (?, ?, ?) ON CONFLICT (organization_id)"
                             " DO UPDATE SET last_user_id = excluded.last_user_id,"
                             " updated_at = excluded.updated_at",
                             "sss", e->org_id, out->assigned_to, ts);
        }
        out->created = out->found = 1;
    }
    if (!rc)
        rc = db_exec(c, NULL,
                     "UPDATE widget_conversations SET status = ?, priority = ?, updated_at = ?,"
                     " escalated_seq = (SELECT coalesce(max(seq), 0) FROM widget_messages"
                     "  WHERE conversation_id = ?) WHERE id = ?",
                     "sssss", e->conv_status, conv_priority, ts, e->conv_id, e->conv_id);
    rc = finish(c, rc);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

/* ---- tickets ---- */

void store_ticket_clear(struct store_ticket *t)
{
    free(t->subject);
    free(t->reason);
    t->subject = t->reason = NULL;
}

void store_tickets_free(struct store_ticket *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_ticket_clear(&t[i]);
    free(t);
}

static void tickets_free_v(void *arr, size_t n)
{
    store_tickets_free(arr, n);
}

#define TICKET_FIELDS                                                                              \
    "t.id, t.conversation_id, t.organization_id, t.category, t.status, t.priority,"                \
    " coalesce(t.assigned_to, ''), coalesce(u.email, ''), t.subject, t.reason, t.created_at,"      \
    " t.updated_at, t.first_response_at, t.resolved_at, t.closed_at, c.status,"                    \
    " c.contact_email, c.visitor_id, c.sentiment_label, c.sentiment_score,"                        \
    " c.sentiment_polarity, c.visitor_messages"
#define TICKET_FROM                                                                                \
    " FROM tickets t JOIN widget_conversations c ON c.id = t.conversation_id"                      \
    " LEFT JOIN users u ON u.id = t.assigned_to"
#define TICKET_COLS "SELECT " TICKET_FIELDS TICKET_FROM

static void ticket_row(db_rows_t *r, void *p)
{
    struct store_ticket *t = p;
    memset(t, 0, sizeof *t);
    cp(t->id, sizeof t->id, db_col_text(r, 0));
    cp(t->conversation_id, sizeof t->conversation_id, db_col_text(r, 1));
    cp(t->organization_id, sizeof t->organization_id, db_col_text(r, 2));
    cp(t->category, sizeof t->category, db_col_text(r, 3));
    cp(t->status, sizeof t->status, db_col_text(r, 4));
    cp(t->priority, sizeof t->priority, db_col_text(r, 5));
    cp(t->assigned_to, sizeof t->assigned_to, db_col_text(r, 6));
    cp(t->assignee_email, sizeof t->assignee_email, db_col_text(r, 7));
    t->subject = dup0(db_col_text(r, 8));
    t->reason = dup0(db_col_text(r, 9));
    cp(t->created_at, sizeof t->created_at, db_col_text(r, 10));
    cp(t->updated_at, sizeof t->updated_at, db_col_text(r, 11));
    cp(t->first_response_at, sizeof t->first_response_at, db_col_text(r, 12));
    cp(t->resolved_at, sizeof t->resolved_at, db_col_text(r, 13));
    cp(t->closed_at, sizeof t->closed_at, db_col_text(r, 14));
    cp(t->conv_status, sizeof t->conv_status, db_col_text(r, 15));
    cp(t->contact_email, sizeof t->contact_email, db_col_text(r, 16));
    cp(t->visitor_id, sizeof t->visitor_id, db_col_text(r, 17));
    cp(t->sentiment_label, sizeof t->sentiment_label, db_col_text(r, 18));
    t->sentiment_score = db_col_null(r, 19) ? 0 : db_col_double(r, 19);
    t->sentiment_polarity = db_col_null(r, 20) ? 0 : db_col_double(r, 20);
    t->visitor_messages = db_col_int(r, 21);
}

#define TICKET_WHERE                                                                               \
    " WHERE (? IS NULL OR t.organization_id = ?) AND (? IS NULL OR t.status = ?)"                  \
    " AND (? IS NULL OR t.priority = ?) AND (? IS NULL OR t.assigned_to = ?)"                      \
    " AND (? = 0 OR t.assigned_to IS NULL)"                                                        \
    " AND (? IS NULL OR t.category = ? OR t.category LIKE ?)"                                      \
    " AND (? IS NULL OR lower(t.subject || ' ' || t.reason) LIKE lower(?) ESCAPE '\\'"             \
    "  OR EXISTS (SELECT 1 FROM widget_messages m WHERE m.conversation_id = t.conversation_id"     \
    "  AND lower(m.body) LIKE lower(?) ESCAPE '\\'))"
#define TICKET_TYPES "ssssssssissssss"
#define TICKET_ARGS(f, catlike, q)                                                                 \
    f->org_id, f->org_id, f->status, f->status, f->priority, f->priority, f->assignee,             \
        f->assignee, (int64_t)(f->unassigned != 0), f->category, f->category, catlike, q, q, q

int store_tickets_list(const struct store_ticket_filter *f, struct store_ticket **out, size_t *n,
                       int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    const char *catlike = f->category && !strcmp(f->category, "keyword") ? "keyword:%" : NULL;
    char *q = f->q && *f->q ? store_like_pattern(f->q, "%", "%") : NULL;
    /* the page and, with each row, the count of all (column 22, a subquery evaluated once) */
    db_rows_t *r = NULL;
    int rc =
        db_query(c, &r,
                 "SELECT " TICKET_FIELDS ", (SELECT count(*) FROM tickets t" TICKET_WHERE
                 ")" TICKET_FROM TICKET_WHERE " ORDER BY t.created_at DESC, t.id LIMIT ? OFFSET ?",
                 TICKET_TYPES TICKET_TYPES "ii", TICKET_ARGS(f, catlike, q),
                 TICKET_ARGS(f, catlike, q), f->limit, f->offset);
    void *arr = NULL;
    if (!rc)
        rc = store_page_collect(r, sizeof **out, ticket_row, tickets_free_v, 22, total, &arr, n);
    *out = arr;
    if (!rc && *n == 0 && f->offset > 0) /* a page past the end: the count alone */
        rc = db_query_int(c, total, "SELECT count(*) FROM tickets t" TICKET_WHERE, TICKET_TYPES,
                          TICKET_ARGS(f, catlike, q));
    free(q);
    return rc;
}

int store_ticket_get(const char *id, struct store_ticket *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r, TICKET_COLS " WHERE t.id = ?", "s", id);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) ticket_row(r, out);
    db_rows_free(r);
    return more == 1 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
}

int store_ticket_update(const char *id, const char *expect_status, const char *status,
                        const char *priority, const char *assigned_to, const char *actor_id)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    now_iso(ts);
    int rc = db_begin_for(c, id);
    if (rc) return rc;
    db_rows_t *r;
    char cur_status[12] = "", cur_prio[8] = "", cur_assignee[37] = "", resolved[32] = "";
    rc = db_query(c, &r,
                  "SELECT status, priority, coalesce(assigned_to, ''), resolved_at FROM tickets"
                  " WHERE id = ?",
                  "s", id);
    if (!rc) {
        int more = db_rows_next(r);
        if (more == 1) {
            cp(cur_status, sizeof cur_status, db_col_text(r, 0));
            cp(cur_prio, sizeof cur_prio, db_col_text(r, 1));
            cp(cur_assignee, sizeof cur_assignee, db_col_text(r, 2));
            cp(resolved, sizeof resolved, db_col_text(r, 3));
        }
        db_rows_free(r);
        rc = more == 1 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
    }
    if (!rc && expect_status && strcmp(expect_status, cur_status)) rc = RAGD_ECONFLICT;
    if (!rc && status && strcmp(status, cur_status)) {
        const char *res_at = NULL, *closed_at = NULL;
        if (!strcmp(status, "resolved")) {
            res_at = ts;
        } else if (!strcmp(status, "closed")) {
            res_at = resolved[0] ? resolved : ts;
            closed_at = ts;
        }
        rc = db_exec(c, NULL,
                     "UPDATE tickets SET status = ?, resolved_at = ?, closed_at = ?,"
                     " updated_at = ? WHERE id = ?",
                     "sssss", status, res_at, closed_at, ts, id);
        if (!rc) rc = event(c, id, "status", actor_id, cur_status, status, NULL, ts);
        if (!rc) rc = store_analytics_touch_ticket(c, id); /* analytics: tickets by status */
    }
    if (!rc && priority && strcmp(priority, cur_prio)) {
        rc = db_exec(c, NULL, "UPDATE tickets SET priority = ?, updated_at = ? WHERE id = ?", "sss",
                     priority, ts, id);
        if (!rc) rc = event(c, id, "priority", actor_id, cur_prio, priority, NULL, ts);
    }
    if (!rc && assigned_to && strcmp(assigned_to, cur_assignee)) {
        rc = db_exec(c, NULL, "UPDATE tickets SET assigned_to = ?, updated_at = ? WHERE id = ?",
                     "sss", *assigned_to ? assigned_to : NULL, ts, id);
        if (!rc)
            rc = event(c, id, "assigned", actor_id, cur_assignee[0] ? cur_assignee : NULL,
                       *assigned_to ? assigned_to : NULL, NULL, ts);
    }
    return finish(c, rc);
}

int store_ticket_assignable(const char *org_id, const char *user_id)
{
    int64_t n = 0;
    int rc = db_query_int(db_conn(), &n,
                          "SELECT count(*) FROM org_members m JOIN users u ON u.id = m.user_id"
                          " AND u.organization_id = m.org_id AND u.is_active = 1"
                          " WHERE m.org_id = ? AND m.user_id = ?"
                          " AND m.role IN ('owner', 'admin', 'agent')",
                          "ss", org_id, user_id);
    return !rc && n == 1;
}

int store_ticket_reply(const char *ticket_id, const char *author_id, const char *body, int internal,
                       char id_out[37])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32], conv[37] = "", org[37] = "";
    now_iso(ts);
    uuid4(id_out);
    int rc = db_begin_for(c, ticket_id);
    if (rc) return rc;
    db_rows_t *r;
    rc = db_query(c, &r, "SELECT conversation_id, organization_id FROM tickets WHERE id = ?", "s",
                  ticket_id);
    if (!rc) {
        int more = db_rows_next(r);
        if (more == 1) {
            cp(conv, sizeof conv, db_col_text(r, 0));
            cp(org, sizeof org, db_col_text(r, 1));
        }
        db_rows_free(r);
        rc = more == 1 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
    }
    int64_t seq = 0;
    if (!rc)
        rc = db_query_int(c, &seq,
                          "SELECT coalesce(max(seq), 0) + 1 FROM widget_messages"
                          " WHERE conversation_id = ?",
                          "s", conv);
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO widget_messages (id, conversation_id, org_id, role, body,"
                     " author_id, internal, created_at, seq) VALUES (?, ?, ?, 'agent', ?, ?, ?,"
                     " ?, ?)",
                     "sssssisi", id_out, conv, org, body, author_id, (int64_t)(internal != 0), ts,
                     seq);
    if (!rc)
        rc = db_exec(c, NULL, "UPDATE widget_conversations SET updated_at = ? WHERE id = ?", "ss",
                     ts, conv);
    if (!rc && !internal)
        rc = db_exec(c, NULL,
                     "UPDATE tickets SET first_response_at = coalesce(first_response_at, ?),"
                     " updated_at = ? WHERE id = ?",
                     "sss", ts, ts, ticket_id);
    if (!rc && internal)
        rc =
            db_exec(c, NULL, "UPDATE tickets SET updated_at = ? WHERE id = ?", "ss", ts, ticket_id);
    if (!rc)
        rc = event(c, ticket_id, internal ? "note" : "reply", author_id, NULL, id_out, NULL, ts);
    if (!rc) rc = store_analytics_touch(c, org, ts); /* analytics: an agent's reply */
    return finish(c, rc);
}

/* ---- transcript and history ---- */

void store_tmsgs_free(struct store_tmsg *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].body);
    free(m);
}

static void tmsgs_free_v(void *arr, size_t n)
{
    store_tmsgs_free(arr, n);
}

static void ticket_transcript_row(db_rows_t *r, void *p)
{
    struct store_tmsg *m = p;
    cp(m->id, sizeof m->id, db_col_text(r, 0));
    cp(m->role, sizeof m->role, db_col_text(r, 1));
    m->body = dup0(db_col_text(r, 2));
    m->internal = db_col_int(r, 3) != 0;
    cp(m->author_id, sizeof m->author_id, db_col_text(r, 4));
    cp(m->sentiment_label, sizeof m->sentiment_label, db_col_text(r, 5));
    cp(m->sentiment_priority, sizeof m->sentiment_priority, db_col_text(r, 6));
    m->sentiment_score = db_col_null(r, 7) ? 0 : db_col_double(r, 7);
    m->sentiment_polarity = db_col_null(r, 8) ? 0 : db_col_double(r, 8);
    m->confidence = db_col_null(r, 9) ? -1 : db_col_double(r, 9);
    m->feedback = db_col_null(r, 10) ? 0 : (int)db_col_int(r, 10);
    m->tokens = db_col_null(r, 11) ? -1 : db_col_int(r, 11);
    m->latency_ms = db_col_null(r, 12) ? -1 : db_col_int(r, 12);
    cp(m->created_at, sizeof m->created_at, db_col_text(r, 13));
}

int store_ticket_transcript(const char *conv_id, struct store_tmsg **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT id, role, body, internal, author_id, sentiment_label,"
                      " sentiment_priority, sentiment_score, sentiment_polarity, confidence,"
                      " feedback, tokens, latency_ms, created_at FROM widget_messages"
                      " WHERE conversation_id = ? ORDER BY seq LIMIT 1000",
                      "s", conv_id);
    if (rc) return rc;
    void *arr;
    rc = store_rows_collect(r, sizeof **out, ticket_transcript_row, tmsgs_free_v, &arr, n);
    *out = arr;
    return rc;
}

void store_tevents_free(struct store_tevent *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].from_value);
        free(e[i].to_value);
        free(e[i].detail);
    }
    free(e);
}

static void tevents_free_v(void *arr, size_t n)
{
    store_tevents_free(arr, n);
}

static void ticket_events_row(db_rows_t *r, void *p)
{
    struct store_tevent *e = p;
    cp(e->kind, sizeof e->kind, db_col_text(r, 0));
    cp(e->actor_id, sizeof e->actor_id, db_col_text(r, 1));
    e->from_value = dup0(db_col_text(r, 2));
    e->to_value = dup0(db_col_text(r, 3));
    e->detail = dup0(db_col_text(r, 4));
    cp(e->created_at, sizeof e->created_at, db_col_text(r, 5));
}

int store_ticket_events(const char *ticket_id, struct store_tevent **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT kind, actor_id, from_value, to_value, detail, created_at"
                      " FROM ticket_events WHERE ticket_id = ? ORDER BY seq LIMIT 1000",
                      "s", ticket_id);
    if (rc) return rc;
    void *arr;
    rc = store_rows_collect(r, sizeof **out, ticket_events_row, tevents_free_v, &arr, n);
    *out = arr;
    return rc;
}
