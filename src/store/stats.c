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
