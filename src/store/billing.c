#include "store/store_billing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

/* ---- migrations ---- */

static const struct store_migration billing_migrations[] = {
    {100, "billing: subscriptions, usage records, history, counters, holds",
     "CREATE TABLE subscriptions ("
     " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " plan_type TEXT NOT NULL, status TEXT NOT NULL, billing_cycle TEXT NOT NULL,"
     " started_at TEXT NOT NULL, period_anchor TEXT NOT NULL, ends_at TEXT,"
     " auto_renew INTEGER NOT NULL DEFAULT 1, limits TEXT NOT NULL DEFAULT '{}',"
     " amount_cents INTEGER NOT NULL, currency TEXT NOT NULL DEFAULT 'USD',"
     " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
     /* one active subscription per user, enforced by the schema */
     "CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions(user_id)"
     " WHERE status = 'active';"
     "CREATE INDEX subscriptions_user ON subscriptions(user_id);"
     "CREATE INDEX subscriptions_status ON subscriptions(status);"
     "CREATE TABLE usage_records ("
     " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " resource_type TEXT NOT NULL, quantity INTEGER NOT NULL,"
     " billing_period_start TEXT NOT NULL, billing_period_end TEXT NOT NULL,"
     " extra_data TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL,"
     " updated_at TEXT NOT NULL);"
     "CREATE INDEX usage_records_user_resource ON usage_records(user_id, resource_type);"
     "CREATE INDEX usage_records_period ON usage_records(billing_period_start,"
     " billing_period_end);"
     "CREATE TABLE billing_history ("
     " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " subscription_id TEXT REFERENCES subscriptions(id) ON DELETE SET NULL,"
     " seq INTEGER NOT NULL, event_type TEXT NOT NULL, amount_cents INTEGER, currency TEXT,"
     " description TEXT, metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL);"
     "CREATE UNIQUE INDEX billing_history_user ON billing_history(user_id, seq);"
     "CREATE TABLE usage_counters ("
     " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, name TEXT NOT NULL,"
     " period TEXT NOT NULL, quantity INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,"
     " PRIMARY KEY (user_id, name, period));"
     "CREATE TABLE quota_holds ("
     " hold_id TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " name TEXT NOT NULL, period TEXT NOT NULL, quantity INTEGER NOT NULL,"
     " expires_ms INTEGER NOT NULL, PRIMARY KEY (hold_id, name));"
     "CREATE INDEX quota_holds_user ON quota_holds(user_id, name, period);"},
    /* A user's counters of a month and a day are read together (store_counters, the user
     * list): without the first index they were found among every counter the user ever had,
     * one more per counted feature and day. The dashboard's top users read one counter of one
     * month for every user (store_stats_usage): without the second, a scan of every counter
     * of every user and day. */
    {101, "billing: usage counters by user and period, and by period",
     "CREATE INDEX usage_counters_user_period ON usage_counters(user_id, period);"
     "CREATE INDEX usage_counters_period ON usage_counters(period, name);"},
};

void store_billing_register(void)
{
    store_register_migrations(billing_migrations,
                              (int)(sizeof billing_migrations / sizeof billing_migrations[0]));
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- subscriptions ---- */

#define SUB_COLS                                                                                   \
    "id, user_id, plan_type, status, billing_cycle, currency, started_at, period_anchor,"          \
    " ends_at, created_at, updated_at, auto_renew, amount_cents"

int store_sub_active(const char *user_id, struct subscription *out)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT " SUB_COLS " FROM subscriptions WHERE user_id = ?"
                      " AND status = 'active'",
                      "s", user_id);
    if (rc) return rc;
    if (db_rows_next(r) != 1) {
        db_rows_free(r);
        return RAGD_ENOTFOUND;
    }
    memset(out, 0, sizeof *out);
    copy(out->id, sizeof out->id, db_col_text(r, 0));
    copy(out->user_id, sizeof out->user_id, db_col_text(r, 1));
    copy(out->plan_type, sizeof out->plan_type, db_col_text(r, 2));
    copy(out->status, sizeof out->status, db_col_text(r, 3));
    copy(out->billing_cycle, sizeof out->billing_cycle, db_col_text(r, 4));
    copy(out->currency, sizeof out->currency, db_col_text(r, 5));
    copy(out->started_at, sizeof out->started_at, db_col_text(r, 6));
    copy(out->period_anchor, sizeof out->period_anchor, db_col_text(r, 7));
    copy(out->ends_at, sizeof out->ends_at, db_col_text(r, 8));
    copy(out->created_at, sizeof out->created_at, db_col_text(r, 9));
    copy(out->updated_at, sizeof out->updated_at, db_col_text(r, 10));
    out->auto_renew = (int)db_col_int(r, 11);
    out->amount_cents = db_col_int(r, 12);
    db_rows_free(r);
    return 0;
}

int store_sub_insert(struct subscription *s, const char *limits_json)
{
    char now[32];
    time_iso(time_now_ms(), now);
    if (!s->id[0]) uuid4(s->id);
    if (!s->created_at[0]) copy(s->created_at, sizeof s->created_at, now);
    if (!s->updated_at[0]) copy(s->updated_at, sizeof s->updated_at, now);
    if (!s->currency[0]) copy(s->currency, sizeof s->currency, "USD");
    return db_exec(db_conn(), NULL,
                   "INSERT INTO subscriptions (id, user_id, plan_type, status, billing_cycle,"
                   " started_at, period_anchor, ends_at, auto_renew, limits, amount_cents,"
                   " currency, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                   " ?, ?, ?)",
                   "ssssssssbsisss", s->id, s->user_id, s->plan_type, s->status, s->billing_cycle,
                   s->started_at, s->period_anchor, s->ends_at[0] ? s->ends_at : NULL,
                   s->auto_renew, limits_json ? limits_json : "{}", s->amount_cents, s->currency,
                   s->created_at, s->updated_at);
}

int store_sub_update(struct subscription *s, const char *limits_json)
{
    time_iso(time_now_ms(), s->updated_at);
    int64_t n = 0;
    int rc = db_exec(db_conn(), &n,
                     "UPDATE subscriptions SET plan_type = ?, billing_cycle = ?,"
                     " period_anchor = ?, amount_cents = ?, limits = ?, updated_at = ?"
                     " WHERE id = ?",
                     "sssisss", s->plan_type, s->billing_cycle, s->period_anchor, s->amount_cents,
                     limits_json ? limits_json : "{}", s->updated_at, s->id);
    return rc ? rc : n ? 0 : RAGD_ENOTFOUND;
}

int store_user_plan_get(const char *user_id, char plan[32])
{
    char *p = NULL;
    int rc = db_query_text(db_conn(), &p, "SELECT subscription_plan FROM users WHERE id = ?", "s",
                           user_id);
    if (!rc) copy(plan, 32, p);
    free(p);
    return rc;
}

int store_user_plan_set(const char *user_id, const char *plan)
{
    char now[32];
    int64_t n = 0;
    store_user_forget(user_id);
    int rc = db_exec(db_conn(), &n,
                     "UPDATE users SET subscription_plan = ?, updated_at = ? WHERE id = ?", "sss",
                     plan, time_iso(time_now_ms(), now), user_id);
    return rc ? rc : n ? 0 : RAGD_ENOTFOUND;
}

/* ---- billing history ---- */

int store_history_add(const struct history_event *e)
{
    char id[37], now[32];
    uuid4(id);
    char *meta = e->metadata ? json_dumps(e->metadata, JSON_COMPACT) : NULL;
    int rc = db_exec(db_conn(), NULL,
                     "INSERT INTO billing_history (id, user_id, subscription_id, seq, event_type,"
                     " amount_cents, currency, description, metadata, created_at)"
                     " VALUES (?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM billing_history"
                     " WHERE user_id = ?), ?, ?, ?, ?, ?, ?)",
                     "sssssissss", id, e->user_id, e->subscription_id, e->user_id, e->event_type,
                     e->amount_cents, e->currency ? e->currency : "USD", e->description,
                     meta ? meta : "{}", time_iso(time_now_ms(), now));
    free(meta);
    return rc;
}

static char *dup_or_null(const char *t)
{
    return t ? xstrdup(t) : NULL;
}

void store_history_rows_free(struct history_row *rows, int n)
{
    for (int i = 0; i < n; i++) {
        free(rows[i].subscription_id);
        free(rows[i].event_type);
        free(rows[i].currency);
        free(rows[i].description);
        json_decref(rows[i].metadata);
    }
    free(rows);
}

int store_history_list(const char *user_id, int64_t limit, int64_t offset,
                       struct history_row **rows, int *n, int64_t *total)
{
    db_conn_t *c = db_conn();
    db_rows_t *r;
    /* the page and, with each row, the count of all (column 8) in one query */
    int rc = db_query(c, &r,
                      "SELECT id, subscription_id, event_type, amount_cents, currency,"
                      " description, metadata, created_at, count(*) OVER () FROM billing_history"
                      " WHERE user_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
                      "sii", user_id, limit, offset);
    if (rc) return rc;
    int cap = 16;
    *rows = xcalloc((size_t)cap, sizeof **rows);
    *n = 0;
    *total = 0;
    while (db_rows_next(r) == 1) {
        if (*n == cap) {
            cap *= 2;
            *rows = xrealloc(*rows, (size_t)cap * sizeof **rows);
        }
        struct history_row *e = &(*rows)[(*n)++];
        memset(e, 0, sizeof *e);
        snprintf(e->id, sizeof e->id, "%s", db_col_text(r, 0) ? db_col_text(r, 0) : "");
        e->subscription_id = dup_or_null(db_col_text(r, 1));
        e->event_type = dup_or_null(db_col_text(r, 2));
        e->has_amount = !db_col_null(r, 3);
        e->amount_cents = db_col_int(r, 3);
        e->currency = dup_or_null(db_col_text(r, 4));
        e->description = dup_or_null(db_col_text(r, 5));
        json_error_t je;
        const char *meta = db_col_text(r, 6);
        e->metadata = meta ? json_loads(meta, 0, &je) : NULL;
        snprintf(e->created_at, sizeof e->created_at, "%s",
                 db_col_text(r, 7) ? db_col_text(r, 7) : "");
        *total = db_col_int(r, 8);
    }
    db_rows_free(r);
    if (*n == 0 && offset > 0) /* a page past the end: the count alone */
        return db_query_int(c, total, "SELECT count(*) FROM billing_history WHERE user_id = ?", "s",
                            user_id);
    return 0;
}

/* ---- usage records ---- */

int store_usage_add(const char *user_id, const char *resource, int64_t quantity,
                    const char *period_start, const char *period_end, const char *extra_json)
{
    char id[37], now[32];
    uuid4(id);
    time_iso(time_now_ms(), now);
    return db_exec(db_conn(), NULL,
                   "INSERT INTO usage_records (id, user_id, resource_type, quantity,"
                   " billing_period_start, billing_period_end, extra_data, created_at,"
                   " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "sssisssss", id, user_id, resource, quantity, period_start, period_end,
                   extra_json ? extra_json : "{}", now, now);
}

int store_usage_sum(const char *user_id, const char *resource, const char *period_start,
                    int64_t *sum)
{
    return db_query_int(db_conn(), sum,
                        "SELECT coalesce(sum(quantity), 0) FROM usage_records WHERE user_id = ?"
                        " AND resource_type = ? AND billing_period_start = ?",
                        "sss", user_id, resource, period_start);
}

/* ---- counters ---- */

int store_counter_get(const char *user_id, const char *name, const char *period, int64_t *qty)
{
    int rc = db_query_int(db_conn(), qty,
                          "SELECT quantity FROM usage_counters WHERE user_id = ? AND name = ?"
                          " AND period = ?",
                          "sss", user_id, name, period);
    if (rc == RAGD_ENOTFOUND) {
        *qty = 0;
        rc = 0;
    }
    return rc;
}

int store_counter_add(const char *user_id, const char *name, const char *period, int64_t qty)
{
    char now[32];
    return db_exec(db_conn(), NULL,
                   "INSERT INTO usage_counters (user_id, name, period, quantity, updated_at)"
                   " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, name, period) DO UPDATE SET"
                   " quantity = usage_counters.quantity + excluded.quantity,"
                   " updated_at = excluded.updated_at",
                   "sssis", user_id, name, period, qty, time_iso(time_now_ms(), now));
}

int store_counters_add(const char *user_id, int n, const char *const *names,
                       const char *const *periods, const int64_t *qtys)
{
#define COUNTERS_INSERT "INSERT INTO usage_counters (user_id, name, period, quantity, updated_at)"
#define COUNTERS_ROW " (?, ?, ?, ?, ?)"
#define COUNTERS_UPSERT                                                                            \
    " ON CONFLICT (user_id, name, period) DO UPDATE SET quantity = usage_counters.quantity +"      \
    " excluded.quantity, updated_at = excluded.updated_at"
    /* One text per row count: each is prepared once per connection. */
    static const char *const sql[] = {
        COUNTERS_INSERT " VALUES" COUNTERS_ROW COUNTERS_UPSERT,
        COUNTERS_INSERT " VALUES" COUNTERS_ROW "," COUNTERS_ROW COUNTERS_UPSERT,
        COUNTERS_INSERT " VALUES" COUNTERS_ROW "," COUNTERS_ROW "," COUNTERS_ROW COUNTERS_UPSERT,
    };
#undef COUNTERS_INSERT
#undef COUNTERS_ROW
#undef COUNTERS_UPSERT
    RAGD_ASSERT(n >= 1 && n <= 3);
    char now[32];
    const char *u = user_id, *t = time_iso(time_now_ms(), now);
    if (n == 1)
        return db_exec(db_conn(), NULL, sql[0], "sssis", u, names[0], periods[0], qtys[0], t);
    if (n == 2)
        return db_exec(db_conn(), NULL, sql[1], "sssissssis", u, names[0], periods[0], qtys[0], t,
                       u, names[1], periods[1], qtys[1], t);
    return db_exec(db_conn(), NULL, sql[2], "sssissssissssis", u, names[0], periods[0], qtys[0], t,
                   u, names[1], periods[1], qtys[1], t, u, names[2], periods[2], qtys[2], t);
}

int store_counters_clear(const char *user_id, const char *period, int64_t *n)
{
    int64_t k = 0;
    int rc = db_exec(db_conn(), &k, "DELETE FROM usage_counters WHERE user_id = ? AND period = ?",
                     "ss", user_id, period);
    if (n) *n = k;
    return rc;
}

int store_counters(const char *user_id, const char *month, const char *day,
                   struct store_counter **out, size_t *n)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT name, period, quantity FROM usage_counters WHERE user_id = ?"
                      " AND period IN (?, ?)",
                      "sss", user_id, month, day);
    if (rc) return rc;
    struct store_counter *a = NULL;
    size_t cap = 0, k = 0;
    int more;
    while ((more = db_rows_next(r)) == 1) {
        if (k == cap) a = xrealloc(a, (cap = cap ? 2 * cap : 8) * sizeof *a);
        snprintf(a[k].name, sizeof a[k].name, "%s", db_col_text(r, 0));
        snprintf(a[k].period, sizeof a[k].period, "%s", db_col_text(r, 1));
        a[k++].quantity = db_col_int(r, 2);
    }
    db_rows_free(r);
    if (more < 0) {
        free(a);
        return RAGD_EDB;
    }
    *out = a;
    *n = k;
    return 0;
}

/* ---- holds ---- */

int store_hold_add(const char *hold_id, const char *user_id, const char *name, const char *period,
                   int64_t qty, int64_t expires_ms)
{
    return db_exec(db_conn(), NULL,
                   "INSERT INTO quota_holds (hold_id, user_id, name, period, quantity,"
                   " expires_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hold_id, name) DO"
                   " UPDATE SET quantity = quota_holds.quantity + excluded.quantity,"
                   " expires_ms = excluded.expires_ms",
                   "ssssii", hold_id, user_id, name, period, qty, expires_ms);
}

int store_holds_add(const char *hold_id, const char *user_id, int n, const char *const *names,
                    const char *const *periods, const int64_t *qtys, int64_t expires_ms)
{
#define HOLDS_INSERT                                                                               \
    "INSERT INTO quota_holds (hold_id, user_id, name, period, quantity, expires_ms)"
#define HOLDS_ROW " (?, ?, ?, ?, ?, ?)"
#define HOLDS_UPSERT                                                                               \
    " ON CONFLICT (hold_id, name) DO UPDATE SET quantity = quota_holds.quantity +"                 \
    " excluded.quantity, expires_ms = excluded.expires_ms"
    /* One text per row count: each is prepared once per connection. */
    static const char *const sql[] = {
        HOLDS_INSERT " VALUES" HOLDS_ROW HOLDS_UPSERT,
        HOLDS_INSERT " VALUES" HOLDS_ROW "," HOLDS_ROW HOLDS_UPSERT,
        HOLDS_INSERT " VALUES" HOLDS_ROW "," HOLDS_ROW "," HOLDS_ROW HOLDS_UPSERT,
    };
#undef HOLDS_INSERT
#undef HOLDS_ROW
#undef HOLDS_UPSERT
    RAGD_ASSERT(n >= 1 && n <= 3);
    const char *u = user_id, *id = hold_id;
    const int64_t e = expires_ms;
    if (n == 1)
        return db_exec(db_conn(), NULL, sql[0], "ssssii", id, u, names[0], periods[0], qtys[0], e);
    if (n == 2)
        return db_exec(db_conn(), NULL, sql[1], "ssssiissssii", id, u, names[0], periods[0],
                       qtys[0], e, id, u, names[1], periods[1], qtys[1], e);
    return db_exec(db_conn(), NULL, sql[2], "ssssiissssiissssii", id, u, names[0], periods[0],
                   qtys[0], e, id, u, names[1], periods[1], qtys[1], e, id, u, names[2], periods[2],
                   qtys[2], e);
}

int store_hold_sum(const char *user_id, const char *name, const char *period, int64_t now_ms,
                   int64_t *qty)
{
    return db_query_int(db_conn(), qty,
                        "SELECT coalesce(sum(quantity), 0) FROM quota_holds WHERE user_id = ?"
                        " AND name = ? AND period = ? AND expires_ms > ?",
                        "sssi", user_id, name, period, now_ms);
}

/* store_quota_taken's read; with commit, as the open transaction's last statement before
 * its COMMIT (db_commit_query). */
static int quota_taken(int commit, const char *user_id, const char *name, const char *period,
                       int64_t now_ms, int64_t *used, int64_t *held)
{
    static const char sql[] = "SELECT coalesce((SELECT quantity FROM usage_counters WHERE"
                              " user_id = ? AND name = ? AND period = ?), 0), (SELECT"
                              " coalesce(sum(quantity), 0) FROM quota_holds WHERE user_id = ?"
                              " AND name = ? AND period = ? AND expires_ms > ?)";
    db_rows_t *r;
    int rc = commit ? db_commit_query(db_conn(), &r, sql, "ssssssi", user_id, name, period, user_id,
                                      name, period, now_ms)
                    : db_query(db_conn(), &r, sql, "ssssssi", user_id, name, period, user_id, name,
                               period, now_ms);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) {
        *used = db_col_int(r, 0);
        *held = db_col_int(r, 1);
    }
    db_rows_free(r);
    return more == 1 ? 0 : RAGD_EDB;
}

int store_quota_taken(const char *user_id, const char *name, const char *period, int64_t now_ms,
                      int64_t *used, int64_t *held)
{
    return quota_taken(0, user_id, name, period, now_ms, used, held);
}

int store_quota_taken_commit(const char *user_id, const char *name, const char *period,
                             int64_t now_ms, int64_t *used, int64_t *held)
{
    return quota_taken(1, user_id, name, period, now_ms, used, held);
}

#define QUOTA_ROW(i)                                                                               \
    "SELECT " #i ", coalesce((SELECT quantity FROM usage_counters WHERE user_id = ?"               \
    " AND name = ? AND period = ?), 0), (SELECT coalesce(sum(quantity), 0) FROM quota_holds"       \
    " WHERE user_id = ? AND name = ? AND period = ? AND expires_ms > ?)"

int store_quotas_taken(const char *user_id, int n, const char *const *names,
                       const char *const *periods, int64_t now_ms, int64_t *used, int64_t *held)
{
    static const char *const sql[] = {
        QUOTA_ROW(0),
        QUOTA_ROW(0) " UNION ALL " QUOTA_ROW(1),
        QUOTA_ROW(0) " UNION ALL " QUOTA_ROW(1) " UNION ALL " QUOTA_ROW(2),
    };
    RAGD_ASSERT(n >= 1 && n <= 3);
    const char *u = user_id, *const *m = names, *const *p = periods;
    int64_t t = now_ms;
    db_rows_t *r;
    int rc;
    if (n == 1)
        rc = db_query(db_conn(), &r, sql[0], "ssssssi", u, m[0], p[0], u, m[0], p[0], t);
    else if (n == 2)
        rc = db_query(db_conn(), &r, sql[1], "ssssssissssssi", u, m[0], p[0], u, m[0], p[0], t, u,
                      m[1], p[1], u, m[1], p[1], t);
    else
        rc = db_query(db_conn(), &r, sql[2], "ssssssissssssissssssi", u, m[0], p[0], u, m[0], p[0],
                      t, u, m[1], p[1], u, m[1], p[1], t, u, m[2], p[2], u, m[2], p[2], t);
    if (rc) return rc;
    int seen = 0, more;
    while ((more = db_rows_next(r)) == 1) {
        int64_t i = db_col_int(r, 0);
        if (i < 0 || i >= n) continue;
        used[i] = db_col_int(r, 1);
        held[i] = db_col_int(r, 2);
        seen |= 1 << i;
    }
    db_rows_free(r);
    return more == 0 && seen == (1 << n) - 1 ? 0 : RAGD_EDB;
}

int store_hold_drop(const char *hold_id)
{
    return db_exec(db_conn(), NULL, "DELETE FROM quota_holds WHERE hold_id = ?", "s", hold_id);
}

int store_hold_purge(const char *user_id, int64_t now_ms)
{
    return db_exec(db_conn(), NULL,
                   "DELETE FROM quota_holds WHERE (? IS NULL OR user_id = ?) AND expires_ms <= ?",
                   "ssi", user_id, user_id, now_ms);
}
