/* payments.c - paid plans: /billing/checkout, /billing/portal, /billing/cancel,
 * /billing/payments, the providers' webhooks (/payments/stripe/webhook,
 * /payments/razorpay/webhook: no bearer token, the signature over the raw body is the
 * authentication), the administrators' payment list and refund mark, and the PUT
 * /billing/subscription rules when ENABLE_PAYMENTS is on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "billing/payments.h"
#include "billing/plans.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/util.h"

/* Answers a payments service error (message in err, free of secrets). */
static void pay_error(struct req *r, int rc, const char *err)
{
    switch (rc) {
    case RAGD_EINVAL:
        http_error(r, 400, "INVALID_PAYMENT_REQUEST", "%s", err);
        break;
    case RAGD_ENOTFOUND:
        http_error(r, 404, "NO_PAID_SUBSCRIPTION", "%s", err);
        break;
    case RAGD_ECONFLICT:
        http_error(r, 409, "PAYMENT_CONFLICT", "%s", err);
        break;
    case RAGD_ENOTSUP:
        http_error(r, 503, "PAYMENTS_NOT_CONFIGURED", "%s", err);
        break;
    case RAGD_EUNAVAIL:
    case RAGD_EFORMAT:
        http_error(r, 502, "PAYMENT_PROVIDER_ERROR", "The payment provider failed: %s", err);
        break;
    default:
        http_store_error(r, rc);
    }
}

static void checkout(struct req *r)
{
    json_t *b = req_json(r);
    const struct user *u = api_user(r);
    if (!plan_get(jv_str(b, "plan_type", ""))) {
        api_invalid(r, "plan_type", "field 'plan_type' must name a plan from GET /billing/plans");
        return;
    }
    char err[256] = "";
    struct payments_checkout co;
    int rc = payments_checkout(u, jv_str(b, "plan_type", NULL), jv_str(b, "billing_cycle", NULL),
                               jv_str(b, "provider", "stripe"), &co, err, sizeof err);
    if (rc) {
        pay_error(r, rc, err);
        return;
    }
    json_t *d =
        json_pack("{s:s, s:s, s:s, s:s}", "provider", co.provider, "checkout_id", co.checkout_id,
                  "plan_type", co.plan_type, "billing_cycle", co.billing_cycle);
    api_audit(r, "billing.checkout", "user", u->id, d);
    json_decref(d);
    http_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "provider", co.provider,
                        "checkout_id", co.checkout_id, "url", co.url, "plan_type", co.plan_type,
                        "billing_cycle", co.billing_cycle, "amount_cents",
                        (json_int_t)co.amount_cents, "currency", co.currency));
    free(co.url);
}

static void portal(struct req *r)
{
    char err[256] = "", *url;
    int rc = payments_portal(api_user(r)->id, &url, err, sizeof err);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "NO_STRIPE_CUSTOMER", "%s", err);
        return;
    }
    if (rc) {
        pay_error(r, rc, err);
        return;
    }
    http_json(r, 200, json_pack("{s:s}", "url", url));
    free(url);
}

static void cancel(struct req *r)
{
    const struct user *u = api_user(r);
    char err[256] = "", at[32];
    int64_t eff;
    int rc = payments_cancel(u->id, &eff, err, sizeof err);
    if (rc) {
        pay_error(r, rc, err);
        return;
    }
    json_t *d = json_pack("{s:s}", "effective_at", time_iso(eff, at));
    api_audit(r, "billing.cancel", "user", u->id, d);
    json_decref(d);
    http_json(r, 200,
              json_pack("{s:b, s:s, s:s, s:s}", "cancel_at_period_end", 1, "effective_at", at,
                        "plan_type_after", "free", "message",
                        "Subscription cancelled: the plan stays until the paid period ends"));
}

static json_t *pay_json(const struct pay_row *p)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:o}", "id", p->id,
                     "user_id", p->user_id, "provider", p->provider, "provider_ref",
                     p->provider_ref, "plan_type", p->plan_type, "billing_cycle", p->billing_cycle,
                     "amount_cents", (json_int_t)p->amount_cents, "currency", p->currency, "status",
                     p->status, "created_at", p->created_at, "refunded_at",
                     p->refunded_at[0] ? json_string(p->refunded_at) : json_null(), "refunded_by",
                     p->refunded_by[0] ? json_string(p->refunded_by) : json_null());
}

static void list_payments(struct req *r, const char *user_id)
{
    long long limit, offset;
    if (req_query_int(r, "limit", 50, 1, 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    struct pay_row *rows;
    int n;
    int64_t total;
    int rc = payments_list(user_id, limit, offset, &rows, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, pay_json(&rows[i]));
    free(rows);
    http_json(r, 200,
              json_pack("{s:I, s:o, s:I, s:I}", "total", (json_int_t)total, "items", items, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset));
}

static void my_payments(struct req *r)
{
    list_payments(r, api_user(r)->id);
}

static void all_payments(struct req *r)
{
    const char *uid = req_query(r, "user_id");
    list_payments(r, uid && *uid ? uid : NULL);
}

static void refund_mark(struct req *r)
{
    json_t *b = req_json(r);
    struct pay_row p;
    int rc = payments_refund_mark(req_param(r, "id"), api_user(r)->id, &p);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "PAYMENT_NOT_FOUND", "No payment with that id");
        return;
    }
    if (rc == RAGD_ECONFLICT) {
        http_error(r, 409, "ALREADY_REFUNDED", "The payment is already marked refunded");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s, s:I, s:s, s:s?}", "user_id", p.user_id, "amount_cents",
                          (json_int_t)p.amount_cents, "currency", p.currency, "reason",
                          b ? jv_str(b, "reason", NULL) : NULL);
    api_audit(r, "payments.refund_mark", "payment", p.id, d);
    json_decref(d);
    http_json(r, 200, pay_json(&p));
}

/* ---- webhooks ---- */

static void webhook(struct req *r, const char *provider, const char *sig_header)
{
    size_t len = 0;
    const char *body = req_body(r, &len);
    struct payments_webhook in = {
        .provider = provider,
        .signature = req_header(r, sig_header),
        .event_id = req_header(r, "X-Razorpay-Event-Id"),
        .body = body ? body : "",
        .len = body ? len : 0,
    };
    if (!in.signature) {
        http_error(r, 400, "MISSING_SIGNATURE", "The %s header is required", sig_header);
        return;
    }
    struct payments_outcome out;
    int rc = payments_webhook(&in, &out);
    const char *what = rc == 0                ? out.outcome
                       : rc == RAGD_ENOTSUP   ? "not_configured"
                       : rc == RAGD_EFORMAT   ? "malformed"
                       : rc == RAGD_EPERM     ? "invalid_signature"
                       : rc == RAGD_ERANGE    ? "expired"
                       : rc == RAGD_ECONFLICT ? "refused"
                                              : "error";
    char labels[96];
    snprintf(labels, sizeof labels, "provider=\"%s\",outcome=\"%s\"", provider, what);
    metrics_count_labeled("ragd_payment_webhooks_total", labels,
                          "Payment webhook deliveries by provider and outcome", 1);
    switch (rc) {
    case 0:
        http_json(r, 200,
                  json_pack("{s:b, s:s, s:s, s:s}", "received", 1, "outcome", out.outcome,
                            "event_id", out.event_id, "event_type", out.event_type));
        break;
    case RAGD_ENOTSUP:
        http_error(r, 503, "WEBHOOK_NOT_CONFIGURED", "No webhook secret is configured for %s",
                   provider);
        break;
    case RAGD_EFORMAT:
        http_error(r, 400, "INVALID_WEBHOOK",
                   "The signature header is malformed or the body is not an event");
        break;
    case RAGD_EPERM:
        http_error(r, 400, "INVALID_SIGNATURE", "The signature does not match the body");
        break;
    case RAGD_ERANGE:
        http_error(r, 400, "SIGNATURE_EXPIRED",
                   "The signature's timestamp is outside the tolerance");
        break;
    case RAGD_ECONFLICT:
        http_error(r, 422, "PAYMENT_AMOUNT_MISMATCH",
                   "The amount or currency is not the plan's price: the event was refused");
        break;
    default:
        http_store_error(r, rc);
    }
}

static void stripe_webhook(struct req *r)
{
    webhook(r, "stripe", "Stripe-Signature");
}

static void razorpay_webhook(struct req *r)
{
    webhook(r, "razorpay", "X-Razorpay-Signature");
}

/* ---- PUT /billing/subscription with payments on ---- */

int api_payments_plan_put(struct req *r)
{
    json_t *b = req_json(r);
    const struct user *u = api_user(r);
    struct payments_plan_request pr;
    char err[256] = "";
    int rc = payments_plan_request(u->id, jv_str(b, "plan_type", ""),
                                   jv_str(b, "billing_cycle", NULL), &pr, err, sizeof err);
    if (!rc && !pr.changed) return 0; /* the plain path answers "unchanged" */
    if (rc == RAGD_EPERM) {
        http_error_json(r, 402, "PAYMENT_REQUIRED",
                        json_pack("{s:s, s:s, s:s}", "message", err, "checkout",
                                  "/billing/checkout", "plan_type", jv_str(b, "plan_type", "")));
        return 1;
    }
    if (rc == RAGD_ENOTSUP) {
        http_error(r, 409, "PROVIDER_MANAGED_SUBSCRIPTION", "%s", err);
        return 1;
    }
    if (rc) {
        pay_error(r, rc, err);
        return 1;
    }
    char at[32];
    time_iso(pr.effective_ms, at);
    json_t *d =
        json_pack("{s:s, s:s}", "plan_type", jv_str(b, "plan_type", ""), "effective_at", at);
    api_audit(r, "billing.downgrade_scheduled", "user", u->id, d);
    json_decref(d);
    http_json(r, 202,
              json_pack("{s:b, s:b, s:s, s:s, s:s}", "changed", 0, "scheduled", 1, "plan_type",
                        jv_str(b, "plan_type", ""), "effective_at", at, "message",
                        "Downgrade scheduled for the end of the billing period"));
    return 1;
}

static const char *const cycles[] = {"monthly", "yearly", NULL};
static const char *const providers[] = {"stripe", "razorpay", NULL};

static const struct jv_field checkout_fields[] = {
    {"plan_type", JV_STRING, 1, 1, 15, 0, NULL, "A paid plan from GET /billing/plans"},
    {"billing_cycle", JV_STRING, 0, 0, 0, 0, cycles, "monthly (default) or yearly"},
    {"provider", JV_STRING, 0, 0, 0, 0, providers, "stripe (default) or razorpay"},
    {NULL},
};
static const struct jv_schema checkout_schema = {checkout_fields, 0};

static const struct jv_field refund_fields[] = {
    {"reason", JV_STRING, 0, 0, 500, 0, NULL, "Why (kept in the audit log)"},
    {NULL},
};
static const struct jv_schema refund_schema = {refund_fields, 0};

const struct route payments_routes[] = {
    {.method = "POST",
     .pattern = "/billing/checkout",
     .handler = checkout,
     .access = ACCESS_USER,
     .rate = "billing",
     .body = &checkout_schema,
     .tag = "billing",
     .summary = "Start a paid checkout (Stripe Checkout Session or Razorpay subscription)",
     .response_doc = "{provider, checkout_id, url, plan_type, billing_cycle, amount_cents, "
                     "currency}",
     .response = "{provider: 'stripe'|'razorpay', checkout_id: string, url: string, plan_type: "
                 "string, billing_cycle: string, amount_cents: int, currency: string}"},
    {.method = "GET",
     .pattern = "/billing/portal",
     .handler = portal,
     .access = ACCESS_USER,
     .rate = "billing",
     .tag = "billing",
     .summary = "A Stripe customer-portal link for the caller",
     .response_doc = "{url}",
     .response = "{url: string}"},
    {.method = "POST",
     .pattern = "/billing/cancel",
     .handler = cancel,
     .access = ACCESS_USER,
     .rate = "billing",
     .tag = "billing",
     .summary = "Cancel the paid subscription at the end of the paid period",
     .response_doc = "{cancel_at_period_end, effective_at, plan_type_after}",
     .response = "{cancel_at_period_end: bool, effective_at: string, plan_type_after: string, "
                 "message: string}"},
    {.method = "GET",
     .pattern = "/billing/payments",
     .handler = my_payments,
     .access = ACCESS_USER,
     .rate = "billing",
     .tag = "billing",
     .summary = "The caller's payments, newest first; query: limit (1-500), offset",
     .response_doc = "{total, items: [{id, provider, amount_cents, currency, status, ...}]}",
     .response = "{total: int, items: [$Payment], limit: int, offset: int}"},
    {.method = "POST",
     .pattern = "/payments/stripe/webhook",
     .handler = stripe_webhook,
     .access = ACCESS_PUBLIC,
     .tag = "payments",
     .summary = "Stripe webhook (Stripe-Signature over the raw body; no bearer token)",
     .response_doc = "{received, outcome, event_id, event_type}",
     .response = "{received: bool, outcome: string, event_id: string, event_type: string}",
     .request = "application/json {id: string, type: string, data: object, ...}"},
    {.method = "POST",
     .pattern = "/payments/razorpay/webhook",
     .handler = razorpay_webhook,
     .access = ACCESS_PUBLIC,
     .tag = "payments",
     .summary = "Razorpay webhook (X-Razorpay-Signature over the raw body; no bearer token)",
     .response_doc = "{received, outcome, event_id, event_type}",
     .response = "{received: bool, outcome: string, event_id: string, event_type: string}",
     .request = "application/json {event: string, payload: object, ...}"},
    {.method = "GET",
     .pattern = "/admin/payments",
     .handler = all_payments,
     .access = ACCESS_ADMIN,
     .tag = "admin",
     .summary = "Every user's payments, newest first; query: user_id, limit, offset",
     .response_doc = "{total, items}",
     .perm = "plans.manage",
     .response = "{total: int, items: [$Payment], limit: int, offset: int}"},
    {.method = "POST",
     .pattern = "/admin/payments/{id}/refund",
     .handler = refund_mark,
     .access = ACCESS_ADMIN,
     .body = &refund_schema,
     .tag = "admin",
     .summary = "Mark a payment refunded (the refund itself is made at the provider)",
     .response_doc = "{id, status: refunded, refunded_at, refunded_by, ...}",
     .perm = "plans.manage",
     .response = "$Payment"},
    {NULL},
};
