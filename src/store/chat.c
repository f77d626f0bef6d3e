/* chat.c (store) - conversation history, sessions and usage analytics in SQL. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/chat.h"
#include "store/store.h"

static const struct store_migration migrations[] = {
    {220, "chat: conversation history, sessions, usage analytics",
     "CREATE TABLE chat_sessions ("
     " session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, title TEXT,"
     " started_at TEXT NOT NULL, last_activity TEXT NOT NULL,"
     " message_count INTEGER NOT NULL DEFAULT 0, subscription_plan TEXT);"
     "CREATE INDEX chat_sessions_user ON chat_sessions(user_id, last_activity);"
     "CREATE TABLE conversation_history ("
     " seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,"
     " session_id TEXT NOT NULL, timestamp TEXT NOT NULL, user_id TEXT NOT NULL,"
     " actor TEXT NOT NULL CHECK (actor IN ('user', 'assistant')), message TEXT NOT NULL,"
     " embedding_used INTEGER NOT NULL DEFAULT 0, tokens_used INTEGER NOT NULL DEFAULT 0,"
     " response_time_ms INTEGER NOT NULL DEFAULT 0, model_used TEXT, confidence REAL,"
     " feedback_score INTEGER, metadata TEXT NOT NULL DEFAULT '{}');"
     "CREATE INDEX conversation_session ON conversation_history(session_id, seq);"
     "CREATE INDEX conversation_user ON conversation_history(user_id, seq);"
     "CREATE INDEX conversation_feedback ON conversation_history(feedback_score);"
     "CREATE TABLE usage_analytics ("
     " user_id TEXT NOT NULL, date TEXT NOT NULL, hour INTEGER NOT NULL,"
     " resource_type TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0,"
     " PRIMARY KEY (user_id, date, hour, resource_type));"},
    {221, "chat: the text a user message went into the prompt as",
     "ALTER TABLE conversation_history ADD COLUMN prompt TEXT;"},
};

void store_chat_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

/* The row's metadata map as JSON text (caller frees). */
static char *row_meta(const struct chat_row *m)
{
    json_t *o = json_object();
    if (m->response_type) json_object_set_new(o, "response_type", json_string(m->response_type));
    if (m->retrieval_route)
        json_object_set_new(o, "retrieval_route", json_string(m->retrieval_route));
    if (m->command) json_object_set_new(o, "command", json_string(m->command));
    if (m->fallback_applied) json_object_set_new(o, "fallback_applied", json_string("true"));
    if (m->sources) json_object_set_new(o, "sources", json_string(m->sources));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* A message row's columns, and the condition it is written on: the session is the user's. */
#define MSG_INSERT(cols, vals)                                                                     \
    "INSERT INTO conversation_history (message_id, session_id, timestamp, user_id, actor,"         \
    " message, embedding_used, tokens_used, response_time_ms, model_used, " cols ")"               \
    " SELECT ?,?,?,?,?,?,?,?,?,?," vals " WHERE EXISTS (SELECT 1 FROM chat_sessions"               \
    " WHERE session_id = ? AND user_id = ?)"

int store_chat_append(const char *session_id, const char *user_id, const char *title,
                      const char *plan, struct chat_row *rows, int n)
{
    db_conn_t *c = db_conn();
    char ts[32];
    int64_t now = time_now_ms();
    time_iso(now, ts);
    /* Keyed by the owner, as the session's deletion and the user's erasure are. Nothing
     * needs an answer before the COMMIT: on PostgreSQL the transaction is one round trip. The
     * session is created, or updated if it is the user's; another user's session of the id
     * takes nothing: the messages are written only into a session of the user, and the read
     * with the COMMIT finds none of them. */
    int rc = db_begin_batch(c, user_id);
    if (rc) return rc;
    rc = db_exec(c, NULL,
                 "INSERT INTO chat_sessions (session_id, user_id, title, started_at,"
                 " last_activity, message_count, subscription_plan) VALUES (?,?,?,?,?,?,?)"
                 " ON CONFLICT (session_id) DO UPDATE SET last_activity = excluded.last_activity,"
                 " message_count = chat_sessions.message_count + excluded.message_count"
                 " WHERE chat_sessions.user_id = excluded.user_id",
                 "sssssis", session_id, user_id, title, ts, ts, (int64_t)n, plan);
    for (int i = 0; !rc && i < n; i++) {
        struct chat_row *m = &rows[i];
        if (!m->message_id[0]) uuid4(m->message_id);
        char *meta = row_meta(m);
        if (m->confidence >= 0)
            rc = db_exec(c, NULL, MSG_INSERT("confidence, metadata, prompt", "?,?,?"),
                         "ssssssbiisdssss", m->message_id, session_id, ts, user_id, m->actor,
                         m->message, m->embedding_used, m->tokens_used, m->response_time_ms,
                         m->model_used, m->confidence, meta ? meta : "{}", m->prompt, session_id,
                         user_id);
        else
            rc = db_exec(c, NULL, MSG_INSERT("metadata, prompt", "?,?"), "ssssssbiisssss",
                         m->message_id, session_id, ts, user_id, m->actor, m->message,
                         m->embedding_used, m->tokens_used, m->response_time_ms, m->model_used,
                         meta ? meta : "{}", m->prompt, session_id, user_id);
        free(meta);
    }
    if (!rc && n) {
        db_rows_t *r;
        rc = db_commit_query(c, &r,
                             "SELECT count(*) FROM conversation_history WHERE"
                             " message_id = ?",
                             "s", rows[n - 1].message_id);
        if (!rc) {
            int64_t stored = db_rows_next(r) == 1 ? db_col_int(r, 0) : 0;
            db_rows_free(r);
            return stored ? 0 : RAGD_EPERM; /* committed; nothing of it was written */
        }
    } else if (!rc && !(rc = db_commit(c))) {
        return 0;
    }
    db_rollback(c);
    return rc;
}
#undef MSG_INSERT

int store_chat_recent(const char *session_id, const char *user_id, int n, struct chat_turn **turns,
                      size_t *nturns, size_t *before)
{
    *turns = NULL;
    *nturns = 0;
    *before = 0;
    db_rows_t *r;
    /* One row at least: the session's owner (NULL when there is no session yet) and its
     * message count beside each of its last n messages, or beside NULLs when it has none. The
     * count is the session's own (kept with every exchange in the same transaction), so only
     * the last n messages are read however long the session is. */
    int rc = db_query(db_conn(), &r,
                      "SELECT s.user_id, h.actor, COALESCE(h.prompt, h.message), s.message_count"
                      " FROM (SELECT 1 AS one) AS k"
                      " LEFT JOIN chat_sessions s ON s.session_id = ?"
                      " LEFT JOIN (SELECT seq, actor, message, prompt"
                      " FROM conversation_history WHERE session_id = ? ORDER BY seq DESC LIMIT ?)"
                      " AS h ON 1 = 1 ORDER BY h.seq",
                      "ssi", session_id, session_id, (int64_t)n);
    if (rc) return rc;
    size_t cap = 0;
    int64_t total = 0;
    while ((rc = db_rows_next(r)) == 1) {
        const char *owner = db_col_text(r, 0), *actor = db_col_text(r, 1);
        if (owner && strcmp(owner, user_id)) {
            rc = RAGD_ENOTFOUND; /* another user's session: as if there were none */
            break;
        }
        if (!actor) continue;
        if (*nturns == cap) {
            cap = cap ? 2 * cap : 16;
            *turns = xrealloc(*turns, cap * sizeof **turns);
        }
        const char *msg = db_col_text(r, 2);
        total = db_col_int(r, 3);
        (*turns)[(*nturns)++] =
            (struct chat_turn){!strcmp(actor, "assistant"), xstrdup(msg ? msg : "")};
    }
    db_rows_free(r);
    if (rc < 0) {
        store_chat_turns_free(*turns, *nturns);
        *turns = NULL;
        *nturns = 0;
        return rc;
    }
    if (total > (int64_t)*nturns) *before = (size_t)total - *nturns;
    return 0;
}

void store_chat_turns_free(struct chat_turn *turns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(turns[i].message);
    free(turns);
}

#define MSG_COLS                                                                                   \
    "message_id, session_id, timestamp, user_id, actor, message, embedding_used, tokens_used,"     \
    " response_time_ms, model_used, confidence, feedback_score, metadata"

static char *dup_or(const char *s, const char *def)
{
    return s ? xstrdup(s) : def ? xstrdup(def) : NULL;
}

static void msg_from_row(db_rows_t *r, struct chat_msg *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->message_id, sizeof m->message_id, "%s", db_col_text(r, 0));
    snprintf(m->session_id, sizeof m->session_id, "%s", db_col_text(r, 1));
    m->timestamp = dup_or(db_col_text(r, 2), "");
    snprintf(m->user_id, sizeof m->user_id, "%s", db_col_text(r, 3));
    m->actor = dup_or(db_col_text(r, 4), "");
    m->message = dup_or(db_col_text(r, 5), "");
    m->embedding_used = db_col_int(r, 6) != 0;
    m->tokens_used = db_col_int(r, 7);
    m->response_time_ms = db_col_int(r, 8);
    m->model_used = dup_or(db_col_text(r, 9), NULL);
    m->has_confidence = !db_col_null(r, 10);
    m->confidence = m->has_confidence ? db_col_double(r, 10) : 0;
    m->has_feedback = !db_col_null(r, 11);
    m->feedback_score = m->has_feedback ? db_col_int(r, 11) : 0;
    m->metadata = dup_or(db_col_text(r, 12), "{}");
}

void store_chat_msgs_free(struct chat_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].timestamp);
        free(m[i].actor);
        free(m[i].message);
        free(m[i].model_used);
        free(m[i].metadata);
    }
    free(m);
}

int store_chat_history(const char *user_id, const char *session_id, int64_t limit, int64_t offset,
                       struct chat_msg **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    db_conn_t *c = db_conn();
    db_rows_t *r = NULL;
    /* the page and, with each row, the count of all (column 13, a subquery evaluated once) */
    int rc = db_query(c, &r,
                      "SELECT " MSG_COLS ", (SELECT count(*) FROM conversation_history"
                      " WHERE user_id = ? AND (? IS NULL OR session_id = ?))"
                      " FROM conversation_history WHERE user_id = ? AND"
                      " (? IS NULL OR session_id = ?) ORDER BY seq DESC LIMIT ? OFFSET ?",
                      "ssssssii", user_id, session_id, session_id, user_id, session_id, session_id,
                      limit, offset);
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = db_rows_next(r)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *items = xrealloc(*items, cap * sizeof **items);
        }
        msg_from_row(r, &(*items)[(*n)++]);
        *total = db_col_int(r, 13);
    }
    db_rows_free(r);
    if (rc == 0 && *n == 0 && offset > 0) /* a page past the end: the count alone */
        rc = db_query_int(c, total,
                          "SELECT count(*) FROM conversation_history WHERE user_id = ? AND"
                          " (? IS NULL OR session_id = ?)",
                          "sss", user_id, session_id, session_id);
    if (rc < 0) {
        store_chat_msgs_free(*items, *n);
        *items = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

void store_chat_sessions_free(struct chat_session *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].title);
        free(s[i].started_at);
        free(s[i].last_activity);
        free(s[i].subscription_plan);
    }
    free(s);
}

int store_chat_sessions(const char *user_id, int64_t limit, int64_t offset,
                        struct chat_session **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    db_conn_t *c = db_conn();
    db_rows_t *r = NULL;
    /* the page and, with each row, the count of all (column 6) in one query */
    int rc = db_query(c, &r,
                      "SELECT session_id, title, started_at, last_activity, message_count,"
                      " subscription_plan, count(*) OVER () FROM chat_sessions WHERE user_id = ?"
                      " ORDER BY last_activity DESC, session_id LIMIT ? OFFSET ?",
                      "sii", user_id, limit, offset);
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = db_rows_next(r)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *items = xrealloc(*items, cap * sizeof **items);
        }
        struct chat_session *s = &(*items)[(*n)++];
        memset(s, 0, sizeof *s);
        snprintf(s->session_id, sizeof s->session_id, "%s", db_col_text(r, 0));
        s->title = dup_or(db_col_text(r, 1), NULL);
        s->started_at = dup_or(db_col_text(r, 2), "");
        s->last_activity = dup_or(db_col_text(r, 3), "");
        s->message_count = db_col_int(r, 4);
        s->subscription_plan = dup_or(db_col_text(r, 5), NULL);
        *total = db_col_int(r, 6);
    }
    db_rows_free(r);
    if (rc == 0 && *n == 0 && offset > 0) /* a page past the end: the count alone */
        rc = db_query_int(c, total, "SELECT count(*) FROM chat_sessions WHERE user_id = ?", "s",
                          user_id);
    if (rc < 0) {
        store_chat_sessions_free(*items, *n);
        *items = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

int store_chat_session_delete(const char *session_id, const char *user_id, int64_t *deleted)
{
    db_conn_t *c = db_conn();
    int rc = db_begin_for(c, user_id); /* excludes the owner's appends (store_chat_append) */
    if (rc) return rc;
    int64_t ch = 0;
    rc = db_exec(c, &ch, "DELETE FROM chat_sessions WHERE session_id = ? AND user_id = ?", "ss",
                 session_id, user_id);
    if (!rc && !ch) rc = RAGD_ENOTFOUND;
    if (!rc)
        rc = db_exec(c, deleted,
                     "DELETE FROM conversation_history WHERE session_id = ? AND user_id = ?", "ss",
                     session_id, user_id);
    if (!rc) return db_commit(c);
    db_rollback(c);
    return rc;
}

int store_chat_session_rename(const char *session_id, const char *user_id, const char *title)
{
    int64_t ch = 0;
    int rc = db_exec(db_conn(), &ch,
                     "UPDATE chat_sessions SET title = ? WHERE session_id = ? AND user_id = ?",
                     "sss", title, session_id, user_id);
    return rc ? rc : ch ? 0 : RAGD_ENOTFOUND;
}

int store_chat_feedback(const char *message_id, const char *user_id, int score)
{
    int64_t ch = 0;
    int rc = db_exec(db_conn(), &ch,
                     "UPDATE conversation_history SET feedback_score = ? WHERE message_id = ?"
                     " AND user_id = ? AND actor = 'assistant'",
                     "iss", (int64_t)score, message_id, user_id);
    return rc ? rc : ch ? 0 : RAGD_ENOTFOUND;
}

int store_usage_hit(const char *user_id, const char *resource, int64_t n)
{
    char ts[32];
    time_iso(time_now_ms(), ts);
    char date[11];
    memcpy(date, ts, 10);
    date[10] = '\0';
    int64_t hour = (ts[11] - '0') * 10 + (ts[12] - '0');
    return db_exec(db_conn(), NULL,
                   "INSERT INTO usage_analytics (user_id, date, hour, resource_type, count)"
                   " VALUES (?,?,?,?,?) ON CONFLICT (user_id, date, hour, resource_type)"
                   " DO UPDATE SET count = usage_analytics.count + excluded.count",
                   "ssisi", user_id, date, hour, resource, n);
}

int store_usage_analytics(const char *user_id, int days, struct usage_count **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    char since[32];
    time_iso(time_now_ms() - (int64_t)days * 86400000, since);
    since[10] = '\0';
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT date, hour, resource_type, count FROM usage_analytics"
                      " WHERE user_id = ? AND date >= ? ORDER BY date DESC, hour DESC,"
                      " resource_type",
                      "ss", user_id, since);
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = db_rows_next(r)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *items = xrealloc(*items, cap * sizeof **items);
        }
        struct usage_count *u = &(*items)[(*n)++];
        memset(u, 0, sizeof *u);
        snprintf(u->date, sizeof u->date, "%s", db_col_text(r, 0) ? db_col_text(r, 0) : "");
        u->hour = (int)db_col_int(r, 1);
        snprintf(u->resource_type, sizeof u->resource_type, "%s",
                 db_col_text(r, 2) ? db_col_text(r, 2) : "");
        u->count = db_col_int(r, 3);
    }
    db_rows_free(r);
    if (rc < 0) {
        free(*items);
        *items = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}
