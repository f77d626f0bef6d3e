/* payments.h - persistent payment data: provider webhook events (one row per provider event
 * id, the exactly-once gate), payments received, each user's paying account with a provider,
 * checkouts started, and the provider-side plans created from the plan table.
 *
 * Same conventions as store.h: the calling thread's connection, 0 or a negative RAGD_E*
 * code. No function opens a transaction: the payments service composes them inside
 * db_begin_for(user). Times are milliseconds since the epoch unless named *_at (ISO-8601). */
#ifndef RAGD_STORE_PAYMENTS_H
#define RAGD_STORE_PAYMENTS_H

#include <stdint.h>

#include "store/store.h"

/* Registers the payments tables (versions 380-389). Call before store_migrate(). */
void store_payments_register(void);

/* ---- webhook events ---- */

/* Records provider event event_id. RAGD_EEXIST when it was recorded before (a replay or a
 * concurrent delivery of the same event). user_id may be NULL. */
int store_payevent_insert(const char *provider, const char *event_id, const char *event_type,
                          const char *user_id, int64_t occurred_ms, const char *outcome);
/* Sets the recorded event's outcome ("applied", "stale", "ignored", "refused"). */
int store_payevent_outcome(const char *provider, const char *event_id, const char *outcome);
/* Number of recorded events of provider (tests, metrics). */
int store_payevent_count(const char *provider, int64_t *n);

/* ---- accounts ---- */

struct pay_account {
    char user_id[37];
    char provider[16];     /* "stripe" | "razorpay" */
    char customer_id[128]; /* the provider's customer ("" unknown) */
    char subscription_id[128];
    char plan_type[32], billing_cycle[16];
    char status[16];         /* "active" | "past_due" | "canceled" | "lapsed" */
    int64_t paid_through_ms; /* end of the last paid period; 0 none */
    int64_t grace_until_ms;  /* past_due: downgrade at this time; 0 none */
    char pending_plan[32];   /* a downgrade waiting for pending_at_ms; "" none */
    char pending_cycle[16];
    int64_t pending_at_ms;
    int64_t state_event_ms; /* time of the newest state-changing event applied */
    int cancel_at_period_end;
};

/* The user's account, or RAGD_ENOTFOUND. */
int store_payacct_get(const char *user_id, struct pay_account *out);
/* Inserts or replaces the account of a->user_id. */
int store_payacct_put(const struct pay_account *a);
/* The user whose subscription (or checkout) with provider is subscription_id; RAGD_ENOTFOUND. */
int store_payacct_user_by_sub(const char *provider, const char *subscription_id, char user_id[37]);
/* Users whose account needs the periodic check at now_ms: a grace period ended, a pending
 * downgrade is due, or the paid period ended grace_ms ago without a renewal. *ids (caller
 * frees with free(); NULL when *n is 0), at most max. */
int store_payacct_due(int64_t now_ms, int64_t grace_ms, int max, char (**ids)[37], int *n);

/* ---- payments ---- */

struct pay_row {
    char id[37], user_id[37], provider[16], provider_ref[128], event_id[128];
    char plan_type[32], billing_cycle[16], currency[8], status[16];
    int64_t amount_cents;
    char created_at[32], refunded_at[32], refunded_by[37]; /* "" when not refunded */
};

/* Records a payment (id and created_at filled in). RAGD_EEXIST when (provider, provider_ref)
 * was recorded before. */
int store_payment_add(struct pay_row *p);
/* A page of payments, newest first: the user's, or everyone's when user_id is NULL. The
 * caller frees *rows with free(). */
int store_payment_list(const char *user_id, int64_t limit, int64_t offset, struct pay_row **rows,
                       int *n, int64_t *total);
int store_payment_get(const char *id, struct pay_row *out);
/* Marks payment id refunded by actor. RAGD_ENOTFOUND, or RAGD_ECONFLICT if already marked. */
int store_payment_refund(const char *id, const char *actor);

/* ---- checkouts and provider plans ---- */

int store_checkout_add(const char *user_id, const char *provider, const char *provider_ref,
                       const char *plan_type, const char *cycle, int64_t amount_cents,
                       const char *currency);
/* The provider's plan id for (plan, cycle, amount, currency), or RAGD_ENOTFOUND. */
int store_provplan_get(const char *provider, const char *plan_type, const char *cycle,
                       int64_t amount_cents, const char *currency, char plan_id[128]);
int store_provplan_put(const char *provider, const char *plan_type, const char *cycle,
                       int64_t amount_cents, const char *currency, const char *plan_id);
/* What a provider plan id was created for; RAGD_ENOTFOUND. */
int store_provplan_find(const char *provider, const char *plan_id, char plan_type[32],
                        char cycle[16], int64_t *amount_cents, char currency[8]);

#endif
