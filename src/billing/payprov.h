/* payprov.h - the payment providers' wire formats: webhook signature checks and the HTTP
 * calls that create checkouts, portal sessions and cancellations (Stripe, Razorpay).
 *
 * Signatures
 *   Stripe:   header Stripe-Signature "t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]";
 *             each v1 is hex HMAC-SHA256(key = endpoint secret, message = t "." raw body).
 *             Valid when some v1 matches (constant-time compare) and |now - t| <= tolerance.
 *   Razorpay: header X-Razorpay-Signature = hex HMAC-SHA256(key = webhook secret, raw body).
 *
 * HTTP calls go to a configurable base URL (STRIPE_API_BASE, default https://api.stripe.com;
 * RAZORPAY_API_BASE, default https://api.razorpay.com) with libcurl: 5 s to connect, 20 s in
 * all, no redirects. Stripe takes form-encoded bodies and Bearer STRIPE_API_KEY; Razorpay JSON
 * bodies and Basic RAZORPAY_KEY_ID:RAZORPAY_KEY_SECRET. No secret is logged or put in an
 * error message. */
#ifndef RAGD_PAYPROV_H
#define RAGD_PAYPROV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum { PAYSIG_MAX_V1 = 8 };

/* A parsed Stripe-Signature header. */
struct stripe_sig {
    int64_t t; /* the timestamp, -1 when absent */
    int nv1;   /* number of v1 signatures kept (at most PAYSIG_MAX_V1) */
    unsigned char v1[PAYSIG_MAX_V1][32];
};

/* Parses header (NUL-terminated) into *out. Unknown keys (v0, ...) and malformed v1 values
 * (not 64 hex digits) are skipped. Returns 0 when a timestamp and at least one v1 were
 * found, RAGD_EFORMAT otherwise. Cannot crash on any input. */
int stripe_sig_parse(const char *header, struct stripe_sig *out);

/* Verifies a Stripe webhook: header against body[0..len) with secret, at now_s, accepting a
 * timestamp at most tolerance_s away. Returns 0, RAGD_EFORMAT (header malformed), RAGD_EPERM
 * (no signature matches), RAGD_ERANGE (timestamp outside the tolerance) or RAGD_EINVAL
 * (empty secret). */
int stripe_sig_verify(const char *secret, const char *header, const char *body, size_t len,
                      int64_t now_s, int64_t tolerance_s);

/* Verifies a Razorpay webhook: header is 64 hex digits (case-insensitive). Returns 0,
 * RAGD_EFORMAT (not 64 hex digits), RAGD_EPERM (mismatch) or RAGD_EINVAL (empty secret). */
int razorpay_sig_verify(const char *secret, const char *header, const char *body, size_t len);

/* Decodes exactly 64 hex digits into out. 0 or RAGD_EFORMAT. */
int payprov_hex32(const char *s, size_t n, unsigned char out[32]);

/* ---- HTTP ---- */

/* One call's outcome: the HTTP status and the parsed JSON answer (new reference, NULL when
 * the body was not JSON). */
struct payprov_reply {
    long status;
    json_t *body;
};

/* Performs method on base+path with body (may be NULL) of content_type, authorising with
 * "Authorization: <auth>". 0 with *out filled (any HTTP status), or RAGD_EUNAVAIL when the
 * provider could not be reached (reason in err, without secrets). */
int payprov_http(const char *method, const char *base, const char *path, const char *auth,
                 const char *content_type, const char *body, struct payprov_reply *out, char *err,
                 size_t errcap);

/* Appends "&key=value" (the first without '&') to *form, both percent-encoded. */
struct sbuf;
void payprov_form_add(struct sbuf *form, const char *key, const char *value);

/* What a checkout needs from the service. */
struct payprov_checkout {
    const char *user_id, *email, *plan_type, *plan_name, *cycle; /* cycle "monthly"|"yearly" */
    int64_t amount_cents;
    const char *currency;      /* "USD" */
    const char *customer_id;   /* the provider's customer, when known (may be NULL) */
    const char *provider_plan; /* Razorpay: the plan id (plan_...) */
    const char *success_url, *cancel_url;
};

/* Stripe: POST /v1/checkout/sessions (mode=subscription, inline price_data from the plan
 * table, client_reference_id = user id, metadata and subscription_data[metadata] =
 * {user_id, plan_type, billing_cycle}). *session_id (37+ chars) and *url (malloc'd, caller
 * frees) on success. Returns 0, RAGD_EUNAVAIL (unreachable or 5xx), RAGD_EINVAL (4xx: the
 * provider's message in err), RAGD_EFORMAT (an answer without id or url). */
int stripe_checkout_create(const struct payprov_checkout *co, char session_id[128], char **url,
                           char *err, size_t errcap);
/* Stripe: POST /v1/billing_portal/sessions for customer; *url malloc'd. Returns as above. */
int stripe_portal_create(const char *customer_id, const char *return_url, char **url, char *err,
                         size_t errcap);
/* Stripe: POST /v1/subscriptions/{id} cancel_at_period_end=true. Returns as above. */
int stripe_cancel(const char *subscription_id, char *err, size_t errcap);

/* Razorpay: POST /v1/plans {period, interval 1, item {name, amount, currency}}; *plan_id. */
int razorpay_plan_create(const struct payprov_checkout *co, char plan_id[128], char *err,
                         size_t errcap);
/* Razorpay: POST /v1/subscriptions {plan_id, total_count, customer_notify 1, notes {user_id,
 * plan_type, billing_cycle}}; *subscription_id and *url (short_url, malloc'd). */
int razorpay_subscription_create(const struct payprov_checkout *co, char subscription_id[128],
                                 char **url, char *err, size_t errcap);
/* Razorpay: POST /v1/subscriptions/{id}/cancel {cancel_at_cycle_end: 1}. */
int razorpay_cancel(const char *subscription_id, char *err, size_t errcap);

/* 1 when the provider's API credentials are configured. */
int stripe_configured(void);
int razorpay_configured(void);

#endif
