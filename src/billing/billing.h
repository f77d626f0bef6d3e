/* billing.h - the billing service: subscriptions and plan changes (with proration and
 * billing history), usage records and summaries, quota reservations, daily limits, and the
 * quota guard.
 *
 * Quotas cannot be overspent. A request that consumes a resource first reserves it: in one
 * store transaction (BEGIN IMMEDIATE, so atomic across threads and processes) the committed
 * usage of the calendar month plus every live hold is compared with the plan's limit and a
 * hold is written. When the response is decided the hold is committed (status < 400: the
 * counter grows and a usage record is written, before the response leaves) or released
 * (status >= 400). A hold left behind by a crash expires after QUOTA_HOLD_TTL_SECONDS.
 *
 * Billing holds no HTTP: a request's reservations are a struct billing_hold, and a refusal
 * is a struct billing_refusal that api/ turns into the 429. api/guards.c reserves 1 unit of
 * a route's `quota` resource before the handler runs. Reserving "messages" also takes one
 * daily request (daily_requests) and checks that some of the daily token allowance
 * (daily_tokens) is left; reserving "api_calls" also takes one daily request. A generation
 * then holds its tokens before it starts (billing_tokens_reserve: the prompt plus the
 * longest answer, cut to what the allowance leaves) and commits what it used, so the
 * allowance cannot be overspent either. Daily counters reset at 00:00 UTC, monthly usage on
 * the 1st at 00:00 UTC. Superusers are never refused, but what they use is still recorded.
 * A reservation with no limit to check (a superuser, enforcement off, resources the plan
 * leaves unlimited) writes no hold: it stays in the request's memory, and the commit is the
 * request's only billing transaction.
 * ENABLE_BILLING=false turns the whole service off (nothing is reserved or recorded);
 * ENABLE_QUOTA_ENFORCEMENT=false keeps recording but never refuses. */
#ifndef RAGD_BILLING_H
#define RAGD_BILLING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "billing/period.h"
#include "billing/plans.h"
#include "store/store.h"
#include "store/store_billing.h"

/* Reads ENABLE_BILLING, ENABLE_QUOTA_ENFORCEMENT, QUOTA_HOLD_TTL_SECONDS and PLANS_FILE
 * (default <data_dir>/plans.json when that file exists) and loads the plans. main.c then
 * registers the /billing routes, the quota guard and the plan-change hook when
 * billing_enabled(). Returns 0, or a RAGD_E* code with a message in err. */
int billing_init(const char *data_dir, char *err, size_t errcap);
int billing_enabled(void);

/* ---- subscriptions ---- */

/* A user's active subscription as of now. */
struct billing_subscription {
    char id[37], user_id[37];
    char plan_type[32], plan_name[64], status[16], billing_cycle[16], currency[4];
    char started_at[32];
    char current_period_start[32], current_period_end[32]; /* the period now running */
    char ends_at[32];                                      /* the period's end unless set */
    char created_at[32], updated_at[32];
    int auto_renew;
    int64_t amount_cents;
};

/* The user's active subscription into *out. It is created on first access from
 * users.subscription_plan (never silently "free"), and brought back in line (through
 * billing_change_plan) when that field was changed behind billing's back. Returns 0,
 * RAGD_ENOTFOUND for an unknown user, or a store error. */
int billing_subscription(const char *user_id, struct billing_subscription *out);
/* billing_subscription for the user as the caller read it (the request's user): its plan is
 * not read again. */
int billing_subscription_of(const struct user *u, struct billing_subscription *out);

/* What a plan change did. */
struct billing_change {
    int changed;                              /* 0: already on that plan and cycle */
    struct billing_subscription subscription; /* after the change */
    struct proration proration;               /* when changed */
};

/* Moves the user to plan (and cycle, "monthly"/"yearly"; NULL keeps the current one) in one
 * transaction: the subscription, users.subscription_plan and a "subscription_updated"
 * billing_history event with the proration (credit for the unused part of the old period,
 * charge for the rest of the new one). actor_id (may be NULL) and source ("user", "admin",
 * "sync") go into the event. Returns 0 with *out, RAGD_EINVAL for an unknown plan or cycle,
 * RAGD_ENOTFOUND for an unknown user, or a store error. Changing to the current plan and
 * cycle changes nothing. */
int billing_change_plan(const char *user_id, const char *plan, const char *cycle,
                        const char *actor_id, const char *source, struct billing_change *out);

/* Moves the user to plan inside the caller's transaction, which must already hold the
 * user's write lock (db_begin_for(c, user_id)): the subscription (created first if
 * missing), users.subscription_plan and a "subscription_updated" event with source "admin"
 * and actor_id (may be NULL). The plan-change hook of the admin user update
 * (auth_set_plan_hook). Returns 0, RAGD_EINVAL for an unknown plan, RAGD_ENOTFOUND for an
 * unknown user, or a store error (the caller rolls back). */
int billing_plan_change_locked(const char *user_id, const char *plan, const char *actor_id);

/* billing_plan_change_locked with a cycle (NULL keeps the current one) and a source
 * ("payments", ...) for the event: the plan change of a service that owns the transaction
 * (db_begin_for(c, user_id)), such as a verified payment. *changed (may be NULL) is 1 when
 * the plan or cycle changed. Same returns. */
int billing_change_plan_locked(const char *user_id, const char *plan, const char *cycle,
                               const char *actor_id, const char *source, int *changed);

/* Drops every cached view billing keeps of the user (subscription, quotas, and the
 * session, which shows the plan). Cannot fail. */
void billing_forget(const char *user_id);

/* A page of the user's billing history, newest first (store_billing.h struct history_row;
 * the caller frees *rows with store_history_rows_free), and the total count. */
int billing_history(const struct user *u, int64_t limit, int64_t offset, struct history_row **rows,
                    int *n, int64_t *total);

/* ---- usage ---- */

/* One counter: a plan resource this month, or a daily limit today. */
struct billing_counter {
    char name[PLAN_NAME_MAX];
    int64_t used;
    int64_t limit;     /* -1: unlimited */
    int64_t remaining; /* -1: unlimited */
};

enum { BILLING_COUNTERS_MAX = PLAN_MAX_DAILY + 16 };

/* The usage of the current calendar month (UTC) and day for a user. */
struct billing_usage {
    char plan_type[32];
    int limits_bypassed;                                /* superuser, or enforcement off */
    struct billing_counter monthly[RES_COUNT];          /* indexed by enum plan_resource */
    int64_t period_start_ms, period_end_ms;             /* the month's first and last millisecond */
    char date[11];                                      /* today, YYYY-MM-DD (UTC) */
    int64_t day_reset_ms;                               /* when today's counters start again */
    struct billing_counter daily[BILLING_COUNTERS_MAX]; /* the plan's daily limits, then */
    int ndaily;                                         /* counted features it does not limit */
};

/* Fills *out for u (its counters read in one query). Returns 0 or a store error. */
int billing_usage_summary(const struct user *u, struct billing_usage *out);
/* The keys of now's month and day: the periods whose counters billing_usage_from reads. */
void billing_usage_periods(int64_t now, char month[8], char day[11]);
/* Fills *out for u from its counters c[0..n) of now's month and day (others are ignored),
 * read by the caller (store_user_list_usage lists them with their users). */
void billing_usage_from(const struct user *u, int64_t now, const struct store_counter *c, size_t n,
                        struct billing_usage *out);

/* One plan resource's quota for u this calendar month (UTC). */
struct billing_quota {
    char resource[PLAN_NAME_MAX];
    int has_quota;         /* another unit would be allowed now */
    int64_t current_usage; /* committed */
    int64_t reserved;      /* held by requests in flight */
    int64_t max_allowed;   /* -1: unlimited */
    int64_t remaining;     /* -1: unlimited */
    int limits_bypassed;   /* superuser, or enforcement off */
    char plan_type[32];
    int64_t period_start_ms, period_end_ms; /* the month's first and last millisecond */
};

/* Fills *out. RAGD_EINVAL if resource is not one of the plan resources (plans.h), or a
 * store error. */
int billing_quota(const struct user *u, const char *resource, struct billing_quota *out);

/* Records usage outside a request (background work that has no reservation): a usage record
 * and the monthly counter, in one transaction. extra is borrowed (may be NULL). Never
 * refused. Returns 0 or a store error. */
int billing_record_usage(const char *user_id, const char *resource, int64_t quantity,
                         json_t *extra);

/* Zeroes the user's daily counters of today (UTC): every daily limit starts again, as at
 * midnight; monthly usage and the usage records stay. *cleared (may be NULL) gets how many
 * counters had a value. Works with billing off too. Returns 0, RAGD_ENOTFOUND for an
 * unknown user, or a store error. */
int billing_usage_reset_daily(const char *user_id, int64_t *cleared);

/* ---- reservations ---- */

/* The reservations of one request, committed or released together. Owned by the caller:
 * billing_hold_free releases whatever was neither committed nor released. */
struct billing_hold;
struct billing_hold *billing_hold_new(const char *user_id);
void billing_hold_free(struct billing_hold *h); /* NULL is a no-op */

/* Why a reservation was refused: what api/ needs to build the 429. */
struct billing_refusal {
    int monthly;              /* 1: a monthly plan quota; 0: a daily counter */
    char name[PLAN_NAME_MAX]; /* the resource or daily counter ("messages", "daily_tokens") */
    int64_t used, limit;      /* committed + held, and the plan's limit */
    int64_t reset_ms;         /* when the counter starts over (end of month or day) */
    char plan_type[32];
    const char *upgrade_to; /* static string: the plan to suggest */
};

/* Reserves quantity (>= 1) of the plan resource for u (whose id is h's user), to be
 * committed or released with the rest of h. Returns 0 when reserved (or billing is off),
 * RAGD_ELIMIT with *ref filled when the plan does not allow it, RAGD_EINVAL for an unknown
 * resource or a quantity < 1 (a caller's bug), RAGD_ECONFLICT when h is already settled,
 * RAGD_ERANGE when h holds too many counters, or a store error. */
int billing_reserve(struct billing_hold *h, const struct user *u, const char *resource,
                    int64_t quantity, struct billing_refusal *ref);

/* Takes quantity of a daily counter (a feature such as "mcqs_per_day", "flashcards_per_day",
 * "pdf_uploads", or "daily_tokens") for u, with the same commit/release and returns as
 * billing_reserve. A limit the plan does not set is unlimited (the use is still counted). */
int billing_daily_take(struct billing_hold *h, const struct user *u, const char *name,
                       int64_t quantity, struct billing_refusal *ref);

/* Holds daily tokens (daily_tokens) for one generation in h: max_qty (the prompt plus the
 * longest answer wanted), or what the plan's daily allowance leaves of it after committed
 * usage and every live hold when that is less but still at least min_qty (the prompt plus
 * the shortest answer worth generating); one transaction, as billing_reserve. *granted gets
 * the tokens held (max_qty when billing is off, the limits are bypassed or the plan sets no
 * daily_tokens): the prompt and the answer together must stay within it. At commit the
 * hold counts the tokens_used that billing_usage_extra gave (prompt + completion) instead
 * of what was held, and the rest goes back; without tokens_used it counts all it held.
 * Returns 0, RAGD_ELIMIT with *ref (name "daily_tokens") when less than min_qty is left,
 * RAGD_EINVAL unless 1 <= min_qty <= max_qty, or as billing_reserve. */
int billing_tokens_reserve(struct billing_hold *h, const struct user *u, int64_t min_qty,
                           int64_t max_qty, int64_t *granted, struct billing_refusal *ref);

/* Extra data for the usage records h commits (session_id, message_id, tokens_used,
 * processing_time_ms, rag_enabled ...): a JSON object (it is stored as JSON), reference
 * stolen; replaces an earlier one. A non-negative integer tokens_used settles the tokens
 * held by billing_tokens_reserve; in a hold without them a positive one grows daily_tokens
 * at commit (usage measured after the fact). */
void billing_usage_extra(struct billing_hold *h, json_t *extra);
/* An hourly activity count (store_usage_hit: the dashboards' searches, messages ...) to be
 * written with h's usage, in its commit's transaction (on PostgreSQL in the same round
 * trip); dropped if h is released. Beyond a few per hold it is written at once. */
void billing_hold_count(struct billing_hold *h, const char *resource, int64_t n);
/* One use of resource by h's user counted for their organization (org_usage, the
 * organization's and the member's counters of the day) with h's usage, in its commit's
 * transaction; dropped if h is released. Returns 0, or RAGD_ERANGE when h cannot take it
 * (settled already, or holding one): the caller then counts it itself. */
int billing_hold_org(struct billing_hold *h, const char *org_id, const char *resource);

/* Commits (counters grow, usage records are written, holds dropped, in one transaction) or
 * releases h now. Idempotent; once either has run the other does nothing. billing_commit
 * returns 0 or a store error (the hold then expires). */
int billing_commit(struct billing_hold *h);
/* billing_commit, then *q as billing_quota(u, resource) gives it (u is h's user), read in the
 * commit's transaction: on PostgreSQL in its round trip. A hold already committed or released
 * commits nothing and reads *q as billing_quota does. Returns the commit's result; q->resource
 * is empty when no figures could be read (a failed commit, a store error, not a resource). */
int billing_commit_quota(struct billing_hold *h, const struct user *u, const char *resource,
                         struct billing_quota *q);
void billing_release(struct billing_hold *h);

#endif
