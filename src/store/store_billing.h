/* store_billing.h - persistent billing data: subscriptions, usage records, billing history,
 * usage counters and quota holds.
 *
 * Same conventions as store.h: the calling thread's connection, 0 or a negative RAGD_E*
 * code, ISO-8601 UTC timestamps, UUID ids. None of these functions opens a transaction, so a
 * caller may compose several inside db_begin/db_commit (the billing service does).
 *
 * Counters are (user, name, period) -> quantity: monthly resources use period "YYYY-MM",
 * daily limits "YYYY-MM-DD". A hold is quantity set aside for a request in flight, named by
 * the request's hold id; it counts against the limit until committed, dropped or expired. */
#ifndef RAGD_STORE_BILLING_H
#define RAGD_STORE_BILLING_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"

/* Registers the billing tables (versions 100-199). Call before store_migrate(). */
void store_billing_register(void);

/* ---- subscriptions ---- */

struct subscription {
    char id[37], user_id[37];
    char plan_type[32], status[16], billing_cycle[16], currency[4];
    char started_at[32], period_anchor[32], ends_at[32]; /* ends_at "" when NULL */
    char created_at[32], updated_at[32];
    int auto_renew;
    int64_t amount_cents;
};

/* The user's active subscription, or RAGD_ENOTFOUND. */
int store_sub_active(const char *user_id, struct subscription *out);
/* Inserts s (id, created_at, updated_at filled in when empty) with a JSON snapshot of its
 * limits. RAGD_EEXIST if the user already has an active subscription. */
int store_sub_insert(struct subscription *s, const char *limits_json);
/* Rewrites plan_type, billing_cycle, period_anchor, amount_cents, limits and updated_at of
 * the subscription s->id. RAGD_ENOTFOUND if there is none. */
int store_sub_update(struct subscription *s, const char *limits_json);

/* users.subscription_plan of user_id (RAGD_ENOTFOUND if no such user), and changing it. */
int store_user_plan_get(const char *user_id, char plan[32]);
int store_user_plan_set(const char *user_id, const char *plan);

/* ---- billing history ---- */

struct history_event {
    const char *user_id, *subscription_id; /* subscription_id may be NULL */
    const char *event_type;                /* "subscription_created", "subscription_updated" */
    int64_t amount_cents;
    const char *currency, *description;
    json_t *metadata; /* borrowed; may be NULL */
};
int store_history_add(const struct history_event *e);
/* One stored event. Strings are owned (NULL when the column is NULL). */
struct history_row {
    char id[37], created_at[32];
    char *subscription_id, *event_type, *currency, *description;
    int has_amount;
    int64_t amount_cents;
    json_t *metadata; /* owned reference: the event's free-form details (JSON data) */
};
/* A page of the user's events, newest first, and their total count. The caller frees *rows
 * with store_history_rows_free. */
int store_history_list(const char *user_id, int64_t limit, int64_t offset,
                       struct history_row **rows, int *n, int64_t *total);
void store_history_rows_free(struct history_row *rows, int n);

/* ---- usage records ---- */

/* Appends a usage record; extra_json is a JSON object text (NULL = "{}"). */
int store_usage_add(const char *user_id, const char *resource, int64_t quantity,
                    const char *period_start, const char *period_end, const char *extra_json);
/* Sum of the quantities recorded for resource in [period_start, period_end]. */
int store_usage_sum(const char *user_id, const char *resource, const char *period_start,
                    int64_t *sum);

/* ---- counters ---- */

/* *qty = the counter, 0 when absent. */
int store_counter_get(const char *user_id, const char *name, const char *period, int64_t *qty);
int store_counter_add(const char *user_id, const char *name, const char *period, int64_t qty);
/* store_counter_add for n (1 to 3) counters of distinct (name, period) in one statement. */
int store_counters_add(const char *user_id, int n, const char *const *names,
                       const char *const *periods, const int64_t *qtys);
/* One usage counter: its name, its period's key (a month's or a day's) and its quantity. */
struct store_counter {
    char name[48];
    char period[11];
    int64_t quantity;
};
/* Every counter of the user in the periods month and day (keys), in one query: *out (caller
 * frees with free(); NULL when *n is 0) and their number in *n. */
int store_counters(const char *user_id, const char *month, const char *day,
                   struct store_counter **out, size_t *n);

/* Deletes every counter of the user in period; *n (may be NULL) gets how many. */
int store_counters_clear(const char *user_id, const char *period, int64_t *n);

/* ---- holds ---- */

/* Adds qty to hold hold_id's entry for name (creating it), expiring at expires_ms. */
int store_hold_add(const char *hold_id, const char *user_id, const char *name, const char *period,
                   int64_t qty, int64_t expires_ms);
/* store_hold_add for n (1 to 3) entries of distinct names in one statement. */
int store_holds_add(const char *hold_id, const char *user_id, int n, const char *const *names,
                    const char *const *periods, const int64_t *qtys, int64_t expires_ms);
/* Total held for (user, name, period) by holds that have not expired at now_ms. */
int store_hold_sum(const char *user_id, const char *name, const char *period, int64_t now_ms,
                   int64_t *qty);
/* The counter (0 when absent) in *used and the unexpired holds' total in *held for (user,
 * name, period): store_counter_get and store_hold_sum in one statement. */
int store_quota_taken(const char *user_id, const char *name, const char *period, int64_t now_ms,
                      int64_t *used, int64_t *held);
/* store_quota_taken as the open transaction's last read, then its COMMIT (db_commit_query:
 * in a batch transaction on PostgreSQL, one round trip with everything held back). On a
 * failure the caller rolls back as after db_commit. */
int store_quota_taken_commit(const char *user_id, const char *name, const char *period,
                             int64_t now_ms, int64_t *used, int64_t *held);
/* store_quota_taken for n (1 to 3) distinct (name, period) at once, in one statement:
 * used[i] and held[i] for names[i]. */
int store_quotas_taken(const char *user_id, int n, const char *const *names,
                       const char *const *periods, int64_t now_ms, int64_t *used, int64_t *held);
/* Removes every entry of hold_id. */
int store_hold_drop(const char *hold_id);
/* Removes the user's expired entries (user_id NULL: everyone's). */
int store_hold_purge(const char *user_id, int64_t now_ms);

#endif
