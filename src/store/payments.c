#include "store/payments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

/* ---- migrations ---- */

static const struct store_migration payments_migrations[] = {
    {380, "payments: provider events, payments, accounts, checkouts, provider plans",
     "CREATE TABLE payment_events ("
     " provider TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL,"
     " user_id TEXT REFERENCES users(id) ON DELETE SET NULL,"
     " occurred_ms INTEGER NOT NULL, outcome TEXT NOT NULL,"
     " created_at TEXT NOT NULL, PRIMARY KEY (provider, event_id));"
     "CREATE TABLE payments ("
     " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " provider TEXT NOT NULL, provider_ref TEXT NOT NULL, event_id TEXT NOT NULL,"
     " plan_type TEXT NOT NULL, billing_cycle TEXT NOT NULL, amount_cents INTEGER NOT NULL,"
     " currency TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,"
     " refunded_at TEXT, refunded_by TEXT);"
     "CREATE UNIQUE INDEX payments_provider_ref ON payments(provider, provider_ref);"
     "CREATE INDEX payments_user ON payments(user_id, created_at);"
     "CREATE TABLE payment_accounts ("
     " user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
     " provider TEXT NOT NULL, customer_id TEXT NOT NULL DEFAULT '',"
     " subscription_id TEXT NOT NULL DEFAULT '', plan_type TEXT NOT NULL,"
     " billing_cycle TEXT NOT NULL, status TEXT NOT NULL, paid_through_ms INTEGER NOT NULL,"
     " grace_until_ms INTEGER NOT NULL, pending_plan TEXT NOT NULL DEFAULT '',"
     " pending_cycle TEXT NOT NULL DEFAULT '', pending_at_ms INTEGER NOT NULL,"
     " state_event_ms INTEGER NOT NULL, cancel_at_period_end INTEGER NOT NULL,"
     " updated_at TEXT NOT NULL);"
     "CREATE INDEX payment_accounts_sub ON payment_accounts(provider, subscription_id);"
     "CREATE TABLE payment_checkouts ("
     " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " provider TEXT NOT NULL, provider_ref TEXT NOT NULL, plan_type TEXT NOT NULL,"
     " billing_cycle TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,"
     " created_at TEXT NOT NULL);"
     "CREATE INDEX payment_checkouts_ref ON payment_checkouts(provider, provider_ref);"
     "CREATE TABLE payment_provider_plans ("
     " provider TEXT NOT NULL, plan_type TEXT NOT NULL, billing_cycle TEXT NOT NULL,"
     " amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, plan_id TEXT NOT NULL,"
     " created_at TEXT NOT NULL,"
     " PRIMARY KEY (provider, plan_type, billing_cycle, amount_cents, currency));"
     "CREATE INDEX payment_provider_plans_id ON payment_provider_plans(provider, plan_id);"},
};

void store_payments_register(void)
{
    store_register_migrations(payments_migrations,
                              (int)(sizeof payments_migrations / sizeof payments_migrations[0]));
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- webhook events ---- */

int store_payevent_insert(const char *provider, const char *event_id, const char *event_type,
                          const char *user_id, int64_t occurred_ms, const char *outcome)
{
    char now[32];
    return db_exec(db_conn(), NULL,
                   "INSERT INTO payment_events (provider, event_id, event_type, user_id,"
                   " occurred_ms, outcome, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   "ssssiss", provider, event_id, event_type, user_id, occurred_ms, outcome,
                   time_iso(time_now_ms(), now));
}

int store_payevent_outcome(const char *provider, const char *event_id, const char *outcome)
{
    return db_exec(db_conn(), NULL,
                   "UPDATE payment_events SET outcome = ? WHERE provider = ? AND event_id = ?",
                   "sss", outcome, provider, event_id);
}

int store_payevent_count(const char *provider, int64_t *n)
{
    return db_query_int(db_conn(), n, "SELECT count(*) FROM payment_events WHERE provider = ?", "s",
                        provider);
}

/* ---- accounts ---- */

#define ACCT_COLS                                                                                  \
    "user_id, provider, customer_id, subscription_id, plan_type, billing_cycle, status,"           \
    " paid_through_ms, grace_until_ms, pending_plan, pending_cycle, pending_at_ms,"                \
    " state_event_ms, cancel_at_period_end"

int store_payacct_get(const char *user_id, struct pay_account *out)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r, "SELECT " ACCT_COLS " FROM payment_accounts WHERE user_id = ?",
                      "s", user_id);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more != 1) {
        db_rows_free(r);
        return more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
    }
    memset(out, 0, sizeof *out);
    copy(out->user_id, sizeof out->user_id, db_col_text(r, 0));
    copy(out->provider, sizeof out->provider, db_col_text(r, 1));
    copy(out->customer_id, sizeof out->customer_id, db_col_text(r, 2));
    copy(out->subscription_id, sizeof out->subscription_id, db_col_text(r, 3));
    copy(out->plan_type, sizeof out->plan_type, db_col_text(r, 4));
    copy(out->billing_cycle, sizeof out->billing_cycle, db_col_text(r, 5));
    copy(out->status, sizeof out->status, db_col_text(r, 6));
    out->paid_through_ms = db_col_int(r, 7);
    out->grace_until_ms = db_col_int(r, 8);
    copy(out->pending_plan, sizeof out->pending_plan, db_col_text(r, 9));
    copy(out->pending_cycle, sizeof out->pending_cycle, db_col_text(r, 10));
    out->pending_at_ms = db_col_int(r, 11);
    out->state_event_ms = db_col_int(r, 12);
    out->cancel_at_period_end = (int)db_col_int(r, 13);
    db_rows_free(r);
    return 0;
}

int store_payacct_put(const struct pay_account *a)
{
    char now[32];
    return db_exec(db_conn(), NULL,
                   "INSERT INTO payment_accounts (" ACCT_COLS ", updated_at) VALUES (?, ?, ?, ?,"
                   " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
                   " provider = excluded.provider, customer_id = excluded.customer_id,"
                   " subscription_id = excluded.subscription_id,"
                   " plan_type = excluded.plan_type, billing_cycle = excluded.billing_cycle,"
                   " status = excluded.status, paid_through_ms = excluded.paid_through_ms,"
                   " grace_until_ms = excluded.grace_until_ms,"
                   " pending_plan = excluded.pending_plan,"
                   " pending_cycle = excluded.pending_cycle,"
                   " pending_at_ms = excluded.pending_at_ms,"
                   " state_event_ms = excluded.state_event_ms,"
                   " cancel_at_period_end = excluded.cancel_at_period_end,"
                   " updated_at = excluded.updated_at",
                   "sssssssiissiibs", a->user_id, a->provider, a->customer_id, a->subscription_id,
                   a->plan_type, a->billing_cycle, a->status, a->paid_through_ms, a->grace_until_ms,
                   a->pending_plan, a->pending_cycle, a->pending_at_ms, a->state_event_ms,
                   a->cancel_at_period_end, time_iso(time_now_ms(), now));
}

int store_payacct_user_by_sub(const char *provider, const char *subscription_id, char user_id[37])
{
    char *u = NULL;
    int rc = db_query_text(db_conn(), &u,
                           "SELECT user_id FROM payment_accounts WHERE provider = ? AND"
                           " subscription_id = ? UNION ALL SELECT user_id FROM"
                           " payment_checkouts WHERE provider = ? AND provider_ref = ?",
                           "ssss", provider, subscription_id, provider, subscription_id);
    if (!rc) copy(user_id, 37, u);
    free(u);
    return rc;
}

int store_payacct_due(int64_t now_ms, int64_t grace_ms, int max, char (**ids)[37], int *n)
{
    db_rows_t *r;
    *ids = NULL;
    *n = 0;
    int rc = db_query(db_conn(), &r,
                      "SELECT user_id FROM payment_accounts WHERE"
                      " (status = 'past_due' AND grace_until_ms > 0 AND grace_until_ms <= ?)"
                      " OR (pending_plan <> '' AND pending_at_ms <= ?)"
                      " OR (status = 'active' AND paid_through_ms > 0"
                      " AND paid_through_ms + ? <= ?) LIMIT ?",
                      "iiiii", now_ms, now_ms, grace_ms, now_ms, (int64_t)max);
    if (rc) return rc;
    int more;
    while ((more = db_rows_next(r)) == 1) {
        *ids = xrealloc(*ids, (size_t)(*n + 1) * sizeof **ids);
        copy((*ids)[(*n)++], 37, db_col_text(r, 0));
    }
    db_rows_free(r);
    return more < 0 ? RAGD_EDB : 0;
}

/* ---- payments ---- */

#define PAY_COLS                                                                                   \
    "id, user_id, provider, provider_ref, event_id, plan_type, billing_cycle, currency, status,"   \
    " amount_cents, created_at, refunded_at, refunded_by"
enum { PAY_NCOLS = 13 }; /* the columns of PAY_COLS */

static void pay_from_row(db_rows_t *r, struct pay_row *p)
{
    memset(p, 0, sizeof *p);
    copy(p->id, sizeof p->id, db_col_text(r, 0));
    copy(p->user_id, sizeof p->user_id, db_col_text(r, 1));
    copy(p->provider, sizeof p->provider, db_col_text(r, 2));
    copy(p->provider_ref, sizeof p->provider_ref, db_col_text(r, 3));
    copy(p->event_id, sizeof p->event_id, db_col_text(r, 4));
    copy(p->plan_type, sizeof p->plan_type, db_col_text(r, 5));
    copy(p->billing_cycle, sizeof p->billing_cycle, db_col_text(r, 6));
    copy(p->currency, sizeof p->currency, db_col_text(r, 7));
    copy(p->status, sizeof p->status, db_col_text(r, 8));
    p->amount_cents = db_col_int(r, 9);
    copy(p->created_at, sizeof p->created_at, db_col_text(r, 10));
    copy(p->refunded_at, sizeof p->refunded_at, db_col_text(r, 11));
    copy(p->refunded_by, sizeof p->refunded_by, db_col_text(r, 12));
}

int store_payment_add(struct pay_row *p)
{
    uuid4(p->id);
    time_iso(time_now_ms(), p->created_at);
    if (!p->status[0]) copy(p->status, sizeof p->status, "paid");
    return db_exec(db_conn(), NULL,
                   "INSERT INTO payments (id, user_id, provider, provider_ref, event_id,"
                   " plan_type, billing_cycle, amount_cents, currency, status, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "sssssssisss", p->id, p->user_id, p->provider, p->provider_ref, p->event_id,
                   p->plan_type, p->billing_cycle, p->amount_cents, p->currency, p->status,
                   p->created_at);
}

int store_payment_list(const char *user_id, int64_t limit, int64_t offset, struct pay_row **rows,
                       int *n, int64_t *total)
{
    db_conn_t *c = db_conn();
    *rows = NULL;
    *n = 0;
    *total = 0;
    /* the page and, with each row, the count of all (after PAY_COLS, a subquery evaluated
     * once) */
    db_rows_t *r;
    int rc =
        db_query(c, &r,
                 "SELECT " PAY_COLS ", (SELECT count(*) FROM payments"
                 " WHERE ? IS NULL OR user_id = ?) FROM payments WHERE ? IS NULL OR user_id = ?"
                 " ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                 "ssssii", user_id, user_id, user_id, user_id, limit, offset);
    if (rc) return rc;
    int more;
    while ((more = db_rows_next(r)) == 1) {
        *rows = xrealloc(*rows, (size_t)(*n + 1) * sizeof **rows);
        pay_from_row(r, &(*rows)[(*n)++]);
        *total = db_col_int(r, PAY_NCOLS);
    }
    db_rows_free(r);
    if (more == 0 && *n == 0 && offset > 0) /* a page past the end: the count alone */
        more =
            db_query_int(c, total, "SELECT count(*) FROM payments WHERE ? IS NULL OR user_id = ?",
                         "ss", user_id, user_id);
    if (more < 0) {
        free(*rows);
        *rows = NULL;
        *n = 0;
        return RAGD_EDB;
    }
    return 0;
}

int store_payment_get(const char *id, struct pay_row *out)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r, "SELECT " PAY_COLS " FROM payments WHERE id = ?", "s", id);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) pay_from_row(r, out);
    db_rows_free(r);
    return more == 1 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
}

int store_payment_refund(const char *id, const char *actor)
{
    char now[32];
    int64_t n = 0;
    int rc = db_exec(db_conn(), &n,
                     "UPDATE payments SET status = 'refunded', refunded_at = ?, refunded_by = ?"
                     " WHERE id = ? AND status <> 'refunded'",
                     "sss", time_iso(time_now_ms(), now), actor, id);
    if (rc || n) return rc;
    struct pay_row p;
    rc = store_payment_get(id, &p);
    return rc ? rc : RAGD_ECONFLICT;
}

/* ---- checkouts and provider plans ---- */

int store_checkout_add(const char *user_id, const char *provider, const char *provider_ref,
                       const char *plan_type, const char *cycle, int64_t amount_cents,
                       const char *currency)
{
    char id[37], now[32];
    uuid4(id);
    return db_exec(db_conn(), NULL,
                   "INSERT INTO payment_checkouts (id, user_id, provider, provider_ref, plan_type,"
                   " billing_cycle, amount_cents, currency, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssssssiss", id, user_id, provider, provider_ref, plan_type, cycle, amount_cents,
                   currency, time_iso(time_now_ms(), now));
}

int store_provplan_get(const char *provider, const char *plan_type, const char *cycle,
                       int64_t amount_cents, const char *currency, char plan_id[128])
{
    char *p = NULL;
    int rc = db_query_text(db_conn(), &p,
                           "SELECT plan_id FROM payment_provider_plans WHERE provider = ? AND"
                           " plan_type = ? AND billing_cycle = ? AND amount_cents = ? AND"
                           " currency = ?",
                           "sssis", provider, plan_type, cycle, amount_cents, currency);
    if (!rc) copy(plan_id, 128, p);
    free(p);
    return rc;
}

int store_provplan_put(const char *provider, const char *plan_type, const char *cycle,
                       int64_t amount_cents, const char *currency, const char *plan_id)
{
    char now[32];
    return db_exec(db_conn(), NULL,
                   "INSERT INTO payment_provider_plans (provider, plan_type, billing_cycle,"
                   " amount_cents, currency, plan_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                   " ON CONFLICT (provider, plan_type, billing_cycle, amount_cents, currency)"
                   " DO UPDATE SET plan_id = excluded.plan_id",
                   "sssisss", provider, plan_type, cycle, amount_cents, currency, plan_id,
                   time_iso(time_now_ms(), now));
}

int store_provplan_find(const char *provider, const char *plan_id, char plan_type[32],
                        char cycle[16], int64_t *amount_cents, char currency[8])
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT plan_type, billing_cycle, amount_cents, currency FROM"
                      " payment_provider_plans WHERE provider = ? AND plan_id = ?",
                      "ss", provider, plan_id);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) {
        copy(plan_type, 32, db_col_text(r, 0));
        copy(cycle, 16, db_col_text(r, 1));
        *amount_cents = db_col_int(r, 2);
        copy(currency, 8, db_col_text(r, 3));
    }
    db_rows_free(r);
    return more == 1 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
}
