/* stats.c (store) - the dashboard's aggregate reads (stats.h). */
#include "store/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "store/db.h"

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

int store_stats_daily(const char *resource, const char *since_date, struct stats_day **out,
                      size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT date, sum(count) FROM usage_analytics WHERE resource_type = ?"
                      " AND date >= ? GROUP BY date ORDER BY date",
                      "ss", resource, since_date);
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = db_rows_next(r)) > 0) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        struct stats_day *d = &(*out)[(*n)++];
        copy(d->date, sizeof d->date, db_col_text(r, 0));
        d->count = db_col_int(r, 1);
    }
    db_rows_free(r);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc < 0 ? rc : 0;
}

int store_stats_plans(struct stats_plan **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT subscription_plan, count(*),"
                      " sum(CASE WHEN is_active <> 0 THEN 1 ELSE 0 END)"
                      " FROM users GROUP BY subscription_plan ORDER BY subscription_plan",
                      "");
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = db_rows_next(r)) > 0) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        struct stats_plan *p = &(*out)[(*n)++];
        copy(p->plan, sizeof p->plan, db_col_text(r, 0));
        p->users = db_col_int(r, 1);
        p->active_users = db_col_int(r, 2);
    }
    db_rows_free(r);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc < 0 ? rc : 0;
}

void store_stats_usage_free(struct stats_usage *u, size_t n)
{
    for (size_t i = 0; u && i < n; i++)
        free(u[i].email);
    free(u);
}

int store_stats_usage(const char *name, const char *period, int64_t limit, struct stats_usage **out,
                      size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT c.user_id, u.email, u.subscription_plan, c.quantity"
                      " FROM usage_counters c JOIN users u ON u.id = c.user_id"
                      " WHERE c.name = ? AND c.period = ? AND c.quantity > 0"
                      " ORDER BY c.quantity DESC, u.email LIMIT ?",
                      "ssi", name, period, limit < 0 ? INT64_MAX : limit);
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = db_rows_next(r)) > 0) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        struct stats_usage *u = &(*out)[(*n)++];
        copy(u->user_id, sizeof u->user_id, db_col_text(r, 0));
        u->email = xstrdup(db_col_text(r, 1) ? db_col_text(r, 1) : "");
        copy(u->plan, sizeof u->plan, db_col_text(r, 2));
        u->quantity = db_col_int(r, 3);
    }
    db_rows_free(r);
    if (rc < 0) {
        store_stats_usage_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc < 0 ? rc : 0;
}

int store_stats_window(const char *since_date, const char *since, struct stats_window *out)
{
    memset(out, 0, sizeof *out);
    db_conn_t *c = db_conn();
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT resource_type, sum(count) FROM usage_analytics"
                      " WHERE resource_type IN ('messages', 'searches', 'tokens') AND date >= ?"
                      " GROUP BY resource_type",
                      "s", since_date);
    if (rc) return rc;
    while ((rc = db_rows_next(r)) > 0) {
        const char *name = db_col_text(r, 0);
        int64_t v = db_col_int(r, 1);
        if (!name) continue;
        if (!strcmp(name, "messages"))
            out->chat = v;
        else if (!strcmp(name, "searches"))
            out->searches = v;
        else if (!strcmp(name, "tokens"))
            out->tokens = v;
    }
    db_rows_free(r);
    if (rc < 0) return rc;
    rc = db_query_int(c, &out->users, "SELECT count(*) FROM users", "");
    if (!rc)
        rc = db_query_int(c, &out->active_users,
                          "SELECT count(*) FROM (SELECT user_id FROM usage_analytics"
                          " WHERE resource_type IN ('messages', 'searches') AND date >= ?"
                          " UNION SELECT user_id FROM usage_records WHERE resource_type ="
                          " 'messages' AND created_at >= ? AND extra_data LIKE"
                          " '%\"endpoint\":\"/v1/%') t",
                          "ss", since_date, since);
    if (!rc)
        rc = db_query_int(c, &out->documents,
                          "SELECT count(*) FROM documents WHERE created_at >= ?", "s", since);
    if (!rc)
        rc = db_query_int(c, &out->widget,
                          "SELECT coalesce(sum(count), 0) FROM org_usage"
                          " WHERE resource = 'widget_messages' AND subject = '' AND day >= ?",
                          "s", since_date);
    return rc;
}

int store_stats_v1(const char *since, stats_v1_fn fn, void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT user_id, extra_data FROM usage_records WHERE resource_type ="
                      " 'messages' AND created_at >= ? AND extra_data LIKE"
                      " '%\"endpoint\":\"/v1/%'",
                      "s", since);
    if (rc) return rc;
    int stop = 0;
    while (!stop && (rc = db_rows_next(r)) > 0)
        stop = fn(ud, db_col_text(r, 0) ? db_col_text(r, 0) : "",
                  db_col_text(r, 1) ? db_col_text(r, 1) : "{}");
    db_rows_free(r);
    return stop ? stop : rc < 0 ? rc : 0;
}

int store_stats_plan_changes(const char *since, stats_change_fn fn, void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT h.user_id, u.created_at, u.subscription_plan, h.metadata"
                      " FROM billing_history h"
                      " JOIN users u ON u.id = h.user_id"
                      " WHERE h.event_type = 'subscription_updated' AND h.created_at >= ?"
                      " ORDER BY h.user_id, h.seq",
                      "s", since);
    if (rc) return rc;
    int stop = 0;
    while (!stop && (rc = db_rows_next(r)) > 0)
        stop = fn(ud, db_col_text(r, 0) ? db_col_text(r, 0) : "",
                  db_col_text(r, 1) ? db_col_text(r, 1) : "",
                  db_col_text(r, 2) ? db_col_text(r, 2) : "",
                  db_col_text(r, 3) ? db_col_text(r, 3) : "{}");
    db_rows_free(r);
    return stop ? stop : rc < 0 ? rc : 0;
}

int store_stats_users_on(const char *plan, const char *before, int64_t *n)
{
    return db_query_int(db_conn(), n,
                        "SELECT count(*) FROM users WHERE subscription_plan = ? AND created_at < ?",
                        "ss", plan, before);
}
