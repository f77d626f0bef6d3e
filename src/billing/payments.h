/* payments.h - paid plans through Stripe and Razorpay: checkouts, the customer portal,
 * cancellation at period end, signed webhooks that change plans exactly once, the grace
 * period after a failed payment, and the payment history.
 *
 * Settings: ENABLE_PAYMENTS (off by default: plan changes work as without payments),
 * STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE, RAZORPAY_KEY_ID,
 * RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET, RAZORPAY_API_BASE (payprov.h),
 * PAYMENTS_CURRENCY (USD: the currency of the plan table's prices), PAYMENT_GRACE_DAYS (3),
 * PAYMENT_SIGNATURE_TOLERANCE_SECONDS (300), PAYMENT_CHECK_SECONDS (60: how often the
 * periodic check runs), PAYMENTS_RETURN_URL (where providers send the user back; default
 * PUBLIC_BASE_URL). Secrets are never logged or returned.
 *
 * Prices come from the live plan table (plan_get): a Stripe checkout carries the price inline;
 * a Razorpay checkout uses a Razorpay plan created for (plan, cycle, price, currency) on first
 * use. A checkout names its user and plan: Stripe client_reference_id = user id and metadata
 * {user_id, plan_type, billing_cycle} (also on the subscription); Razorpay notes {user_id,
 * plan_type, billing_cycle}. Webhooks find the user and plan there, or by the subscription.
 *
 * Webhook events, after the signature check over the raw body:
 *   activation (Stripe checkout.session.completed; Razorpay subscription.activated) and
 *   payment (Stripe invoice.paid / invoice.payment_succeeded; Razorpay subscription.charged):
 *     the amount and currency must be the plan's price (otherwise refused, recorded and
 *     alerted as payment_mismatch); the payment is recorded (a receipt event goes to the
 *     notification outbox), the paid period extended, and the plan changed through billing's
 *     plan-change path (proration, subscription, billing_history) in the same transaction.
 *   failure (Stripe invoice.payment_failed; Razorpay payment.failed, subscription.pending,
 *     subscription.halted): the account is past due; PAYMENT_GRACE_DAYS later, unless a
 *     payment came, the periodic check downgrades it to free.
 *   end (Stripe customer.subscription.deleted; Razorpay subscription.cancelled,
 *     subscription.completed): downgrade to free at the end of the paid period.
 * Exactly once: each provider event id is recorded in payment_events in the transaction that
 * applies it (a unique key), so a replay or a concurrent re-delivery changes nothing. Events
 * are ordered by their own timestamps: a state change older than the newest applied one is
 * recorded as stale and not applied (a payment in it is still recorded). */
#ifndef RAGD_PAYMENTS_H
#define RAGD_PAYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "store/payments.h"
#include "store/store.h"

/* Reads the settings. Returns 0, or RAGD_EINVAL with a message in err. */
int payments_init(char *err, size_t errcap);
/* 1 when ENABLE_PAYMENTS is set: upgrades need a completed payment. */
int payments_enabled(void);

/* ---- checkout, portal, cancel ---- */

struct payments_checkout {
    char provider[16], checkout_id[128], plan_type[32], billing_cycle[16], currency[8];
    int64_t amount_cents;
    char *url; /* where to send the user; caller frees */
};

/* Starts a checkout of plan/cycle (cycle NULL: monthly) with provider ("stripe" |
 * "razorpay") for u. Returns 0 with *out, RAGD_EINVAL (unknown plan, cycle or provider, or a
 * plan without a price: message in err), RAGD_ECONFLICT (already paying for that plan and
 * cycle), RAGD_ENOTSUP (the provider is not configured), RAGD_EUNAVAIL (the provider could not
 * be reached or failed), RAGD_EFORMAT (the provider's answer lacked the URL), or a store error. */
int payments_checkout(const struct user *u, const char *plan, const char *cycle,
                      const char *provider, struct payments_checkout *out, char *err,
                      size_t errcap);

/* A Stripe customer-portal link for the user (*url, caller frees). RAGD_ENOTFOUND when the
 * user has no Stripe customer; otherwise as payments_checkout. */
int payments_portal(const char *user_id, char **url, char *err, size_t errcap);

/* Cancels the user's paid subscription at the end of the paid period (the provider is told
 * first). *effective_ms gets when the downgrade to free happens. RAGD_ENOTFOUND when there is
 * no active paid subscription; otherwise as payments_checkout. */
int payments_cancel(const char *user_id, int64_t *effective_ms, char *err, size_t errcap);

/* ---- plan changes without a payment (PUT /billing/subscription with payments on) ---- */

struct payments_plan_request {
    int changed;          /* 0: already on that plan and cycle */
    int64_t effective_ms; /* when the downgrade takes effect (end of the period) */
};
/* A user's own plan change: RAGD_EPERM for an upgrade (it needs a checkout), RAGD_EINVAL for
 * an unknown plan or cycle, RAGD_ENOTSUP for a change to another paid plan while a provider
 * subscription runs (the provider's portal or a cancellation does it); otherwise the
 * downgrade is scheduled for the end of the period (a provider subscription is cancelled at
 * period end) and 0 with *out. */
int payments_plan_request(const char *user_id, const char *plan, const char *cycle,
                          struct payments_plan_request *out, char *err, size_t errcap);

/* ---- webhooks ---- */

struct payments_webhook {
    const char *provider;  /* "stripe" | "razorpay" */
    const char *signature; /* Stripe-Signature / X-Razorpay-Signature (may be NULL) */
    const char *event_id;  /* X-Razorpay-Event-Id (may be NULL; Stripe's is in the body) */
    const char *body;      /* the raw body */
    size_t len;
};

struct payments_outcome {
    char outcome[16]; /* "applied" | "duplicate" | "stale" | "ignored" | "refused" */
    char event_id[128], event_type[64], user_id[37];
};

/* Verifies and applies one delivery. Returns 0 with *out (a replay: outcome "duplicate",
 * nothing changed), RAGD_ENOTSUP (no webhook secret configured for the provider),
 * RAGD_EFORMAT (signature header missing or malformed, or the body is not an event),
 * RAGD_EPERM (no signature matches), RAGD_ERANGE (Stripe timestamp outside the tolerance),
 * RAGD_ECONFLICT (amount or currency is not the plan's price: refused, recorded, alerted),
 * or a store error (nothing recorded: the provider retries). */
int payments_webhook(const struct payments_webhook *in, struct payments_outcome *out);

/* ---- history ---- */

/* A page of payments, newest first: the user's, or everyone's (user_id NULL). *rows: caller
 * frees with free(). */
int payments_list(const char *user_id, int64_t limit, int64_t offset, struct pay_row **rows, int *n,
                  int64_t *total);
/* Marks payment id refunded by actor (the money goes back through the provider's dashboard);
 * *out gets the row after. RAGD_ENOTFOUND, RAGD_ECONFLICT (already marked) or a store error. */
int payments_refund_mark(const char *id, const char *actor, struct pay_row *out);

/* ---- periodic check ---- */

/* Applies what is due at now_ms: downgrades after a grace period, scheduled downgrades, and
 * paid periods that ended PAYMENT_GRACE_DAYS ago without a renewal. *applied (may be NULL)
 * gets how many accounts changed. Returns 0 or a store error. */
int payments_check_due(int64_t now_ms, int *applied);
/* Starts / stops the thread running payments_check_due every PAYMENT_CHECK_SECONDS. */
void payments_start(void);
void payments_stop(void);

#endif
