#include "billing/payments.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "billing/billing.h"
#include "billing/payprov.h"
#include "billing/plans.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/util.h"
#include "ops/notify.h"

static int enabled;
static int64_t grace_ms = 3 * 86400000LL, tolerance_s = 300, check_s = 60;
static char currency[8] = "USD";

enum { DAY_MS = 86400000 };

int payments_init(char *err, size_t errcap)
{
    enabled = config_bool("ENABLE_PAYMENTS", 0);
    grace_ms = config_int("PAYMENT_GRACE_DAYS", 3, 0, 365) * DAY_MS;
    tolerance_s = config_int("PAYMENT_SIGNATURE_TOLERANCE_SECONDS", 300, 1, 86400);
    check_s = config_int("PAYMENT_CHECK_SECONDS", 60, 1, 86400);
    const char *cur = config_str("PAYMENTS_CURRENCY", "USD");
    if (strlen(cur) != 3)
        return ragd_errf(err, errcap, RAGD_EINVAL, "PAYMENTS_CURRENCY must be a 3-letter code");
    for (int i = 0; i < 3; i++)
        currency[i] = (char)(cur[i] >= 'a' && cur[i] <= 'z' ? cur[i] - 32 : cur[i]);
    currency[3] = 0;
    return 0;
}

int payments_enabled(void)
{
    return enabled;
}

/* Ends a transaction: commits when rc is 0, otherwise rolls back. */
static int end_tx(db_conn_t *c, int rc)
{
    if (!rc && !(rc = db_commit(c))) return 0;
    db_rollback(c);
    return rc;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* t_ms plus one billing cycle, the same day of the month (clamped to the month's end). */
static int64_t add_cycle(int64_t t_ms, int yearly)
{
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int months = yearly ? 12 : 1;
    int mday = tm.tm_mday;
    tm.tm_mday = 1;
    tm.tm_mon += months;
    time_t first = timegm(&tm);
    struct tm f;
    gmtime_r(&first, &f);
    int dim = period_days_in_month(f.tm_year + 1900, f.tm_mon + 1);
    return ((int64_t)first + (int64_t)((mday < dim ? mday : dim) - 1) * 86400) * 1000 + t_ms % 1000;
}

/* Index of a plan in price order (the upgrade path); -1 when unknown. */
static int plan_rank(const char *type)
{
    for (int i = 0; i < plan_count(); i++)
        if (!strcmp(plan_at(i)->type, type)) return i;
    return -1;
}

static void acct_init(struct pay_account *a, const char *user_id, const char *provider)
{
    memset(a, 0, sizeof *a);
    copy(a->user_id, sizeof a->user_id, user_id);
    copy(a->provider, sizeof a->provider, provider);
    copy(a->status, sizeof a->status, "none");
    copy(a->plan_type, sizeof a->plan_type, "free");
    copy(a->billing_cycle, sizeof a->billing_cycle, "monthly");
}

/* ---- checkout, portal, cancel ---- */

/* Where providers send the user back: PAYMENTS_RETURN_URL, else PUBLIC_BASE_URL. */
static const char *return_url(void)
{
    return config_str("PAYMENTS_RETURN_URL",
                      config_str("PUBLIC_BASE_URL", "http://localhost:8000/"));
}

static int provider_check(const char *provider, char *err, size_t errcap)
{
    if (!strcmp(provider, "stripe")) {
        if (!stripe_configured())
            return ragd_errf(err, errcap, RAGD_ENOTSUP, "Stripe payments are not configured");
        return 0;
    }
    if (!strcmp(provider, "razorpay")) {
        if (!razorpay_configured())
            return ragd_errf(err, errcap, RAGD_ENOTSUP, "Razorpay payments are not configured");
        return 0;
    }
    return ragd_errf(err, errcap, RAGD_EINVAL, "provider must be stripe or razorpay");
}

int payments_checkout(const struct user *u, const char *plan, const char *cycle,
                      const char *provider, struct payments_checkout *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    const struct plan *p = plan_get(plan);
    if (!p) return ragd_errf(err, errcap, RAGD_EINVAL, "unknown plan");
    enum billing_cycle cyc = CYCLE_MONTHLY;
    if (cycle && period_cycle_parse(cycle, &cyc))
        return ragd_errf(err, errcap, RAGD_EINVAL, "billing_cycle must be monthly or yearly");
    int64_t price = plan_price(p, cyc == CYCLE_YEARLY);
    if (price <= 0)
        return ragd_errf(err, errcap, RAGD_EINVAL, "the %s plan has no price to pay", p->type);
    int rc = provider_check(provider, err, errcap);
    if (rc) return rc;
    struct pay_account a;
    rc = store_payacct_get(u->id, &a);
    if (rc && rc != RAGD_ENOTFOUND) return rc;
    if (!rc && !strcmp(a.status, "active") && !strcmp(a.plan_type, p->type) &&
        !strcmp(a.billing_cycle, period_cycle_name(cyc)) && !a.cancel_at_period_end)
        return ragd_errf(err, errcap, RAGD_ECONFLICT, "already paying for this plan and cycle");
    char ret_ok[512], ret_cancel[512];
    const char *ret = return_url();
    snprintf(ret_ok, sizeof ret_ok, "%s%s", ret,
             strchr(ret, '?') ? "&checkout=success" : "?checkout=success");
    snprintf(ret_cancel, sizeof ret_cancel, "%s%s", ret,
             strchr(ret, '?') ? "&checkout=cancelled" : "?checkout=cancelled");
    struct payprov_checkout co = {
        .user_id = u->id,
        .email = u->email,
        .plan_type = p->type,
        .plan_name = p->name,
        .cycle = period_cycle_name(cyc),
        .amount_cents = price,
        .currency = currency,
        .customer_id = !rc && !strcmp(a.provider, provider) ? a.customer_id : NULL,
        .success_url = ret_ok,
        .cancel_url = ret_cancel,
    };
    char plan_id[128] = "";
    if (!strcmp(provider, "stripe")) {
        rc = stripe_checkout_create(&co, out->checkout_id, &out->url, err, errcap);
    } else {
        rc = store_provplan_get("razorpay", p->type, co.cycle, price, currency, plan_id);
        if (rc == RAGD_ENOTFOUND) {
            rc = razorpay_plan_create(&co, plan_id, err, errcap);
            if (!rc)
                rc = store_provplan_put("razorpay", p->type, co.cycle, price, currency, plan_id);
        }
        co.provider_plan = plan_id;
        if (!rc) rc = razorpay_subscription_create(&co, out->checkout_id, &out->url, err, errcap);
    }
    if (!rc)
        rc = store_checkout_add(u->id, provider, out->checkout_id, p->type, co.cycle, price,
                                currency);
    if (rc) {
        free(out->url);
        out->url = NULL;
        if (rc == RAGD_EINVAL) rc = RAGD_EUNAVAIL; /* the provider refused our request */
        log_json(
            LOG_WARN, "payment checkout failed",
            json_pack("{s:s, s:s, s:s}", "provider", provider, "user_id", u->id, "error", err));
        return rc;
    }
    copy(out->provider, sizeof out->provider, provider);
    copy(out->plan_type, sizeof out->plan_type, p->type);
    copy(out->billing_cycle, sizeof out->billing_cycle, co.cycle);
    copy(out->currency, sizeof out->currency, currency);
    out->amount_cents = price;
    return 0;
}

int payments_portal(const char *user_id, char **url, char *err, size_t errcap)
{
    *url = NULL;
    struct pay_account a;
    int rc = store_payacct_get(user_id, &a);
    if (rc == RAGD_ENOTFOUND || (!rc && (strcmp(a.provider, "stripe") || !a.customer_id[0])))
        return ragd_errf(err, errcap, RAGD_ENOTFOUND, "no Stripe customer for this account");
    if (rc) return rc;
    if ((rc = provider_check("stripe", err, errcap))) return rc;
    rc = stripe_portal_create(a.customer_id, return_url(), url, err, errcap);
    return rc == RAGD_EINVAL ? RAGD_EUNAVAIL : rc;
}

/* Tells the provider to end a's subscription at period end. */
static int provider_cancel(const struct pay_account *a, char *err, size_t errcap)
{
    int rc = provider_check(a->provider, err, errcap);
    if (rc) return rc;
    rc = !strcmp(a->provider, "stripe") ? stripe_cancel(a->subscription_id, err, errcap)
                                        : razorpay_cancel(a->subscription_id, err, errcap);
    return rc == RAGD_EINVAL ? RAGD_EUNAVAIL : rc;
}

/* Marks the account cancelled at period end (to pending_plan) under the user's lock. */
static int schedule(const char *user_id, const char *plan, const char *cycle, int cancel,
                    int64_t at_ms, int64_t *effective_ms)
{
    db_conn_t *c = db_conn();
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    struct pay_account a;
    rc = store_payacct_get(user_id, &a);
    if (rc == RAGD_ENOTFOUND) {
        acct_init(&a, user_id, "none");
        rc = 0;
    }
    if (!rc) {
        if (cancel) {
            a.cancel_at_period_end = 1;
            at_ms = a.paid_through_ms > time_now_ms() ? a.paid_through_ms : time_now_ms();
        }
        copy(a.pending_plan, sizeof a.pending_plan, plan);
        copy(a.pending_cycle, sizeof a.pending_cycle, cycle);
        a.pending_at_ms = at_ms;
        *effective_ms = at_ms;
        rc = store_payacct_put(&a);
    }
    return end_tx(c, rc);
}

int payments_cancel(const char *user_id, int64_t *effective_ms, char *err, size_t errcap)
{
    struct pay_account a;
    int rc = store_payacct_get(user_id, &a);
    if (rc == RAGD_ENOTFOUND ||
        (!rc && (strcmp(a.status, "active") && strcmp(a.status, "past_due"))) ||
        (!rc && !a.subscription_id[0]))
        return ragd_errf(err, errcap, RAGD_ENOTFOUND, "no active paid subscription");
    if (rc) return rc;
    if (a.cancel_at_period_end)
        return ragd_errf(err, errcap, RAGD_ECONFLICT, "the subscription is already cancelled");
    if ((rc = provider_cancel(&a, err, errcap))) return rc;
    return schedule(user_id, "free", "monthly", 1, 0, effective_ms);
}

int payments_plan_request(const char *user_id, const char *plan, const char *cycle,
                          struct payments_plan_request *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    const struct plan *np = plan_get(plan);
    enum billing_cycle ncyc = CYCLE_MONTHLY;
    if (!np || (cycle && period_cycle_parse(cycle, &ncyc)))
        return ragd_errf(err, errcap, RAGD_EINVAL, "unknown plan or cycle");
    struct billing_subscription sub;
    int rc = billing_subscription(user_id, &sub);
    if (rc) return rc;
    if (!cycle) period_cycle_parse(sub.billing_cycle, &ncyc);
    const char *ncycle = period_cycle_name(ncyc);
    if (!strcmp(sub.plan_type, np->type) && !strcmp(sub.billing_cycle, ncycle)) return 0;
    int orank = plan_rank(sub.plan_type), nrank = plan_rank(np->type);
    int upgrade = nrank > orank ||
                  (nrank == orank && ncyc == CYCLE_YEARLY && strcmp(sub.billing_cycle, "yearly"));
    if (upgrade)
        return ragd_errf(err, errcap, RAGD_EPERM,
                         "an upgrade needs a payment: start one with POST /billing/checkout");
    struct pay_account a;
    rc = store_payacct_get(user_id, &a);
    if (rc && rc != RAGD_ENOTFOUND) return rc;
    int provider_sub = !rc && a.subscription_id[0] &&
                       (!strcmp(a.status, "active") || !strcmp(a.status, "past_due"));
    out->changed = 1;
    if (provider_sub) {
        if (plan_price(np, 0) > 0)
            return ragd_errf(err, errcap, RAGD_ENOTSUP,
                             "a paid subscription changes plan through the provider: use GET "
                             "/billing/portal, or POST /billing/cancel and check out again");
        if (a.cancel_at_period_end) {
            out->effective_ms = a.pending_at_ms;
            return 0;
        }
        if ((rc = provider_cancel(&a, err, errcap))) return rc;
        return schedule(user_id, "free", "monthly", 1, 0, &out->effective_ms);
    }
    int64_t end = 0;
    time_parse_iso(sub.current_period_end, &end);
    return schedule(user_id, np->type, ncycle, 0, end, &out->effective_ms);
}

/* ---- webhooks: events in one shape ---- */

enum ev_kind { EV_ACTIVATED, EV_PAID, EV_FAILED, EV_ENDED, EV_OTHER };

struct ev {
    char id[128], type[64];
    enum ev_kind kind;
    int64_t t_ms;
    char user_id[37], plan_type[32], cycle[16];
    char customer[128], subscription[128], payment_ref[128], provider_plan[128];
    int has_amount;
    int64_t amount;
    char currency[8];
    int64_t period_end_ms; /* 0: unknown */
};

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A string field or the "id" of an expanded object. */
static const char *jref(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_object(v) ? jstr(v, "id") : json_string_value(v);
}

static void meta_take(struct ev *e, json_t *meta)
{
    if (!json_is_object(meta)) return;
    if (!e->user_id[0] && jstr(meta, "user_id"))
        copy(e->user_id, sizeof e->user_id, jstr(meta, "user_id"));
    if (!e->plan_type[0] && jstr(meta, "plan_type"))
        copy(e->plan_type, sizeof e->plan_type, jstr(meta, "plan_type"));
    if (!e->cycle[0] && jstr(meta, "billing_cycle"))
        copy(e->cycle, sizeof e->cycle, jstr(meta, "billing_cycle"));
}

static int stripe_event(json_t *root, struct ev *e)
{
    json_t *obj = json_object_get(json_object_get(root, "data"), "object");
    if (!jstr(root, "id") || !jstr(root, "type") ||
        !json_is_integer(json_object_get(root, "created")) || !json_is_object(obj))
        return RAGD_EFORMAT;
    copy(e->id, sizeof e->id, jstr(root, "id"));
    copy(e->type, sizeof e->type, jstr(root, "type"));
    e->t_ms = json_integer_value(json_object_get(root, "created")) * 1000;
    const char *t = e->type;
    copy(e->customer, sizeof e->customer, jref(obj, "customer"));
    if (!strcmp(t, "checkout.session.completed")) {
        if (strcmp(jstr(obj, "mode") ?: "subscription", "subscription") ||
            strcmp(jstr(obj, "payment_status") ?: "paid", "paid"))
            return 0; /* EV_OTHER: nothing paid yet */
        e->kind = EV_ACTIVATED;
        copy(e->user_id, sizeof e->user_id, jstr(obj, "client_reference_id"));
        meta_take(e, json_object_get(obj, "metadata"));
        copy(e->subscription, sizeof e->subscription, jref(obj, "subscription"));
        /* the first invoice is the same money as the session: one payment row for both */
        copy(e->payment_ref, sizeof e->payment_ref, jref(obj, "invoice") ?: jstr(obj, "id"));
        if (json_is_integer(json_object_get(obj, "amount_total"))) {
            e->has_amount = 1;
            e->amount = json_integer_value(json_object_get(obj, "amount_total"));
            copy(e->currency, sizeof e->currency, jstr(obj, "currency"));
        }
    } else if (!strcmp(t, "invoice.paid") || !strcmp(t, "invoice.payment_succeeded") ||
               !strcmp(t, "invoice.payment_failed")) {
        e->kind = !strcmp(t, "invoice.payment_failed") ? EV_FAILED : EV_PAID;
        copy(e->payment_ref, sizeof e->payment_ref, jstr(obj, "id"));
        const char *sub = jref(obj, "subscription");
        json_t *parent_sd = json_object_get(json_object_get(obj, "parent"), "subscription_details");
        if (!sub) sub = jref(parent_sd, "subscription");
        copy(e->subscription, sizeof e->subscription, sub);
        meta_take(e, json_object_get(json_object_get(obj, "subscription_details"), "metadata"));
        meta_take(e, json_object_get(parent_sd, "metadata"));
        json_t *line = json_array_get(json_object_get(json_object_get(obj, "lines"), "data"), 0);
        meta_take(e, json_object_get(line, "metadata"));
        json_t *end = json_object_get(json_object_get(line, "period"), "end");
        if (json_is_integer(end)) e->period_end_ms = json_integer_value(end) * 1000;
        const char *amount_key = e->kind == EV_PAID ? "amount_paid" : "amount_due";
        if (json_is_integer(json_object_get(obj, amount_key))) {
            e->has_amount = e->kind == EV_PAID;
            e->amount = json_integer_value(json_object_get(obj, amount_key));
            copy(e->currency, sizeof e->currency, jstr(obj, "currency"));
        }
    } else if (!strcmp(t, "customer.subscription.deleted")) {
        e->kind = EV_ENDED;
        copy(e->subscription, sizeof e->subscription, jstr(obj, "id"));
        meta_take(e, json_object_get(obj, "metadata"));
        json_t *end = json_object_get(obj, "current_period_end");
        if (!json_is_integer(end))
            end = json_object_get(
                json_array_get(json_object_get(json_object_get(obj, "items"), "data"), 0),
                "current_period_end");
        if (json_is_integer(end)) e->period_end_ms = json_integer_value(end) * 1000;
    } else {
        e->kind = EV_OTHER;
    }
    return 0;
}

static int razorpay_event(json_t *root, const char *event_id, const char *body, size_t len,
                          struct ev *e)
{
    json_t *payload = json_object_get(root, "payload");
    if (!jstr(root, "event") || !json_is_integer(json_object_get(root, "created_at")) ||
        !json_is_object(payload))
        return RAGD_EFORMAT;
    if (event_id && *event_id) {
        copy(e->id, sizeof e->id, event_id);
    } else { /* without the header, the delivery's content names it */
        char h[65];
        sha256_hex(body, len, h);
        snprintf(e->id, sizeof e->id, "body:%s", h);
    }
    copy(e->type, sizeof e->type, jstr(root, "event"));
    e->t_ms = json_integer_value(json_object_get(root, "created_at")) * 1000;
    json_t *sub = json_object_get(json_object_get(payload, "subscription"), "entity");
    json_t *pay = json_object_get(json_object_get(payload, "payment"), "entity");
    if (json_is_object(sub)) {
        copy(e->subscription, sizeof e->subscription, jstr(sub, "id"));
        copy(e->customer, sizeof e->customer, jstr(sub, "customer_id"));
        copy(e->provider_plan, sizeof e->provider_plan, jstr(sub, "plan_id"));
        meta_take(e, json_object_get(sub, "notes"));
        json_t *end = json_object_get(sub, "current_end");
        if (json_is_integer(end)) e->period_end_ms = json_integer_value(end) * 1000;
    }
    if (json_is_object(pay)) {
        meta_take(e, json_object_get(pay, "notes"));
        if (!e->subscription[0])
            copy(e->subscription, sizeof e->subscription, jstr(pay, "subscription_id"));
    }
    const char *t = e->type;
    if (!strcmp(t, "subscription.activated")) {
        e->kind = EV_ACTIVATED;
    } else if (!strcmp(t, "subscription.charged")) {
        e->kind = EV_PAID;
        if (!json_is_object(pay) || !jstr(pay, "id")) return RAGD_EFORMAT;
        copy(e->payment_ref, sizeof e->payment_ref, jstr(pay, "id"));
        if (json_is_integer(json_object_get(pay, "amount"))) {
            e->has_amount = 1;
            e->amount = json_integer_value(json_object_get(pay, "amount"));
            copy(e->currency, sizeof e->currency, jstr(pay, "currency"));
        }
    } else if (!strcmp(t, "payment.failed") || !strcmp(t, "subscription.pending") ||
               !strcmp(t, "subscription.halted")) {
        e->kind = EV_FAILED;
    } else if (!strcmp(t, "subscription.cancelled") || !strcmp(t, "subscription.completed")) {
        e->kind = EV_ENDED;
    } else {
        e->kind = EV_OTHER;
    }
    return 0;
}

/* ---- webhooks: applying ---- */

/* The receipt and alert events' details (no secrets). */
static json_t *ev_details(const char *provider, const struct ev *e, const char *plan,
                          const char *cycle)
{
    struct user u;
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "provider", provider, "event_id", e->id,
                          "event_type", e->type, "user_id", e->user_id, "plan_type", plan,
                          "billing_cycle", cycle);
    if (e->has_amount) {
        json_object_set_new(d, "amount_cents", json_integer(e->amount));
        json_object_set_new(d, "currency", json_string(e->currency));
    }
    if (!store_user_get(e->user_id, &u)) {
        json_object_set_new(d, "email", json_string(u.email));
        store_user_clear(&u);
    }
    return d;
}

/* Whether the event's money is the plan's price now; for a Razorpay activation (no amount)
 * the Razorpay plan it names must be the one created for this plan, cycle and price. */
static int amount_ok(const char *provider, const struct ev *e, const struct plan *p,
                     const char *cycle, int64_t *expected)
{
    *expected = plan_price(p, !strcmp(cycle, "yearly"));
    if (e->has_amount) return e->amount == *expected && !strcasecmp(e->currency, currency);
    if (!strcmp(provider, "razorpay") && e->kind == EV_ACTIVATED) {
        char pt[32], cy[16], cur[8];
        int64_t amt;
        if (!e->provider_plan[0] ||
            store_provplan_find(provider, e->provider_plan, pt, cy, &amt, cur))
            return 0;
        return !strcmp(pt, p->type) && !strcmp(cy, cycle) && amt == *expected &&
               !strcasecmp(cur, currency);
    }
    return 1; /* Stripe activations carry their amount; a missing one is checked by invoice */
}

/* Applies e for user e->user_id inside the transaction on c (holding the user's lock). The
 * event row is already written; *outcome gets its final outcome. Returns 0 or an error
 * (RAGD_ECONFLICT: refused for its amount, to be committed with the alert). */
static int apply(db_conn_t *c, const char *provider, struct ev *e, const char **outcome)
{
    struct pay_account a;
    int rc = store_payacct_get(e->user_id, &a);
    int fresh = rc == RAGD_ENOTFOUND;
    if (fresh)
        acct_init(&a, e->user_id, provider);
    else if (rc)
        return rc;
    int stale = !fresh && e->t_ms < a.state_event_ms;
    int64_t now = time_now_ms();
    if (e->kind == EV_ACTIVATED || e->kind == EV_PAID) {
        const char *plan = e->plan_type[0] ? e->plan_type : a.plan_type;
        const char *cycle = e->cycle[0] ? e->cycle : a.billing_cycle;
        const struct plan *p = plan_get(plan);
        enum billing_cycle cyc;
        if (!p || period_cycle_parse(cycle, &cyc)) {
            *outcome = "ignored";
            return 0;
        }
        int64_t expected;
        if (!amount_ok(provider, e, p, cycle, &expected)) {
            json_t *d = ev_details(provider, e, p->type, cycle);
            json_object_set_new(d, "expected_amount_cents", json_integer(expected));
            json_object_set_new(d, "expected_currency", json_string(currency));
            rc = notify_emit(c, NOTIFY_PAYMENT_MISMATCH, d);
            *outcome = "refused";
            log_json(LOG_WARN, "payment refused: amount or currency is not the plan's price",
                     json_pack("{s:s, s:s, s:s, s:s}", "provider", provider, "event_id", e->id,
                               "user_id", e->user_id, "plan_type", p->type));
            return rc ? rc : RAGD_ECONFLICT;
        }
        if (e->has_amount && e->payment_ref[0]) {
            struct pay_row pr;
            memset(&pr, 0, sizeof pr);
            copy(pr.user_id, sizeof pr.user_id, e->user_id);
            copy(pr.provider, sizeof pr.provider, provider);
            copy(pr.provider_ref, sizeof pr.provider_ref, e->payment_ref);
            copy(pr.event_id, sizeof pr.event_id, e->id);
            copy(pr.plan_type, sizeof pr.plan_type, p->type);
            copy(pr.billing_cycle, sizeof pr.billing_cycle, cycle);
            copy(pr.currency, sizeof pr.currency, currency);
            pr.amount_cents = e->amount;
            rc = store_payment_add(&pr);
            if (!rc) {
                json_t *d = ev_details(provider, e, p->type, cycle);
                json_object_set_new(d, "payment_id", json_string(pr.id));
                rc = notify_emit(c, NOTIFY_PAYMENT_RECEIPT, d);
            } else if (rc == RAGD_EEXIST) {
                rc = 0; /* the same money seen through another event (session and invoice) */
            }
            if (rc) return rc;
        }
        int64_t end = e->period_end_ms ? e->period_end_ms : add_cycle(e->t_ms, cyc == CYCLE_YEARLY);
        if (end > a.paid_through_ms) a.paid_through_ms = end;
        if (stale) {
            *outcome = "stale";
        } else {
            int changed = 0;
            rc = billing_change_plan_locked(e->user_id, p->type, cycle, NULL, "payments", &changed);
            if (rc) return rc;
            copy(a.provider, sizeof a.provider, provider);
            if (e->customer[0]) copy(a.customer_id, sizeof a.customer_id, e->customer);
            if (e->subscription[0])
                copy(a.subscription_id, sizeof a.subscription_id, e->subscription);
            copy(a.plan_type, sizeof a.plan_type, p->type);
            copy(a.billing_cycle, sizeof a.billing_cycle, cycle);
            copy(a.status, sizeof a.status, "active");
            a.grace_until_ms = 0;
            a.pending_plan[0] = a.pending_cycle[0] = 0;
            a.pending_at_ms = 0;
            a.cancel_at_period_end = 0;
            a.state_event_ms = e->t_ms;
            *outcome = "applied";
        }
    } else if (e->kind == EV_FAILED) {
        if (fresh) {
            *outcome = "ignored";
            return 0;
        }
        if (stale) {
            *outcome = "stale";
            return 0;
        }
        a.state_event_ms = e->t_ms;
        if (!strcmp(a.status, "active")) {
            copy(a.status, sizeof a.status, "past_due");
            a.grace_until_ms = now + grace_ms;
            json_t *d = ev_details(provider, e, a.plan_type, a.billing_cycle);
            char g[32];
            json_object_set_new(d, "grace_until", json_string(time_iso(a.grace_until_ms, g)));
            if ((rc = notify_emit(c, NOTIFY_PAYMENT_FAILED, d))) return rc;
        }
        *outcome = "applied";
    } else if (e->kind == EV_ENDED) {
        if (fresh) {
            *outcome = "ignored";
            return 0;
        }
        if (stale) {
            *outcome = "stale";
            return 0;
        }
        a.state_event_ms = e->t_ms;
        copy(a.status, sizeof a.status, "canceled");
        a.cancel_at_period_end = 1;
        copy(a.pending_plan, sizeof a.pending_plan, "free");
        copy(a.pending_cycle, sizeof a.pending_cycle, "monthly");
        int64_t end = a.paid_through_ms > e->period_end_ms ? a.paid_through_ms : e->period_end_ms;
        a.pending_at_ms = end > now ? end : now;
        *outcome = "applied";
    } else {
        *outcome = "ignored";
        return 0;
    }
    return store_payacct_put(&a);
}

/* A payment the provider reported and ragd applied: outcome "succeeded" or "failed". */
static void count_payment(const char *provider, const char *outcome)
{
    char v[32], labels[96];
    metrics_label_value(v, sizeof v, provider);
    snprintf(labels, sizeof labels, "provider=\"%s\",outcome=\"%s\"", v, outcome);
    metrics_count_labeled("ragd_payments_total", labels,
                          "Payments reported by the payment provider and applied, by outcome", 1);
}

int payments_webhook(const struct payments_webhook *in, struct payments_outcome *out)
{
    memset(out, 0, sizeof *out);
    int stripe = !strcmp(in->provider, "stripe");
    const char *secret = config_str(stripe ? CONFIG_NAME("STRIPE_WEBHOOK_SECRET")
                                           : CONFIG_NAME("RAZORPAY_WEBHOOK_SECRET"),
                                    NULL);
    if (!secret || !*secret) return RAGD_ENOTSUP;
    int rc = stripe ? stripe_sig_verify(secret, in->signature, in->body, in->len,
                                        time_now_ms() / 1000, tolerance_s)
                    : razorpay_sig_verify(secret, in->signature, in->body, in->len);
    if (rc) return rc == RAGD_EINVAL ? RAGD_ENOTSUP : rc;
    /* Only a verified body is parsed. */
    json_error_t je;
    json_t *root = json_loadb(in->body, in->len, 0, &je);
    struct ev e;
    memset(&e, 0, sizeof e);
    e.kind = EV_OTHER;
    rc = !json_is_object(root) ? RAGD_EFORMAT
         : stripe              ? stripe_event(root, &e)
                               : razorpay_event(root, in->event_id, in->body, in->len, &e);
    json_decref(root);
    if (rc) return rc;
    copy(out->event_id, sizeof out->event_id, e.id);
    copy(out->event_type, sizeof out->event_type, e.type);
    /* Who: the checkout's own naming, or the subscription it created. */
    struct user u;
    if (e.user_id[0] && (!uuid_valid(e.user_id) || store_user_get(e.user_id, &u)))
        e.user_id[0] = 0;
    else if (e.user_id[0])
        store_user_clear(&u);
    if (!e.user_id[0] && e.subscription[0]) {
        rc = store_payacct_user_by_sub(in->provider, e.subscription, e.user_id);
        if (rc && rc != RAGD_ENOTFOUND) return rc;
    }
    db_conn_t *c = db_conn();
    char key[200];
    snprintf(key, sizeof key, "payment-event:%s:%s", in->provider, e.id);
    rc = db_begin_for(c, e.user_id[0] ? e.user_id : key);
    if (rc) return rc;
    const char *outcome = "ignored";
    rc = store_payevent_insert(in->provider, e.id, e.type, e.user_id[0] ? e.user_id : NULL, e.t_ms,
                               "applying");
    if (rc == RAGD_EEXIST) {
        db_rollback(c);
        copy(out->outcome, sizeof out->outcome, "duplicate");
        copy(out->user_id, sizeof out->user_id, e.user_id);
        return 0;
    }
    if (!rc && e.user_id[0]) rc = apply(c, in->provider, &e, &outcome);
    int refused = rc == RAGD_ECONFLICT;
    if (refused) rc = 0; /* the refusal and its alert are recorded */
    if (!rc) rc = store_payevent_outcome(in->provider, e.id, outcome);
    if ((rc = end_tx(c, rc))) {
        if (rc != RAGD_EEXIST) return rc;
        outcome = "duplicate"; /* a concurrent delivery of the same event committed first */
        refused = 0;
    }
    if (e.user_id[0]) billing_forget(e.user_id);
    copy(out->outcome, sizeof out->outcome, outcome);
    copy(out->user_id, sizeof out->user_id, e.user_id);
    log_json(LOG_INFO, "payment event",
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "provider", in->provider, "event_id", e.id,
                       "event_type", e.type, "outcome", outcome, "user_id", e.user_id));
    if (!strcmp(outcome, "applied") && e.kind != EV_ENDED && e.kind != EV_OTHER)
        count_payment(in->provider, e.kind == EV_FAILED ? "failed" : "succeeded");
    return refused ? RAGD_ECONFLICT : 0;
}

/* ---- history ---- */

int payments_list(const char *user_id, int64_t limit, int64_t offset, struct pay_row **rows, int *n,
                  int64_t *total)
{
    return store_payment_list(user_id, limit, offset, rows, n, total);
}

int payments_refund_mark(const char *id, const char *actor, struct pay_row *out)
{
    int rc = store_payment_refund(id, actor);
    return rc ? rc : store_payment_get(id, out);
}

/* ---- periodic check ---- */

/* Applies what is due for one user under the lock. *changed: 1 when something changed. */
static int check_user(const char *user_id, int64_t now, int *changed)
{
    *changed = 0;
    db_conn_t *c = db_conn();
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    struct pay_account a;
    rc = store_payacct_get(user_id, &a);
    const char *to = NULL, *cycle = "monthly", *why = NULL;
    if (!rc) {
        if (!strcmp(a.status, "past_due") && a.grace_until_ms && a.grace_until_ms <= now) {
            to = "free";
            why = "grace period ended";
            copy(a.status, sizeof a.status, "lapsed");
        } else if (a.pending_plan[0] && a.pending_at_ms <= now) {
            to = plan_get(a.pending_plan) ? a.pending_plan : "free";
            cycle = a.pending_cycle[0] ? a.pending_cycle : "monthly";
            why = "scheduled downgrade";
            if (a.subscription_id[0]) copy(a.status, sizeof a.status, "canceled");
        } else if (!strcmp(a.status, "active") && a.paid_through_ms &&
                   a.paid_through_ms + grace_ms <= now) {
            to = "free";
            why = "paid period ended without a renewal";
            copy(a.status, sizeof a.status, "lapsed");
        }
    }
    if (!rc && to) {
        char plan[32], cyc[16];
        copy(plan, sizeof plan, to);
        copy(cyc, sizeof cyc, cycle);
        rc = billing_change_plan_locked(user_id, plan, cyc, NULL, "payments", NULL);
        a.grace_until_ms = 0;
        a.pending_plan[0] = a.pending_cycle[0] = 0;
        a.pending_at_ms = 0;
        copy(a.plan_type, sizeof a.plan_type, plan);
        copy(a.billing_cycle, sizeof a.billing_cycle, cyc);
        if (!rc) rc = store_payacct_put(&a);
        if (!rc) {
            *changed = 1;
            log_json(
                LOG_INFO, "payment account downgraded",
                json_pack("{s:s, s:s, s:s}", "user_id", user_id, "plan_type", plan, "reason", why));
        }
    }
    if (rc == RAGD_ENOTFOUND) rc = 0;
    rc = end_tx(c, rc);
    if (!rc && *changed) billing_forget(user_id);
    return rc;
}

int payments_check_due(int64_t now_ms, int *applied)
{
    char(*ids)[37];
    int n, done = 0, rc;
    if (applied) *applied = 0;
    do {
        rc = store_payacct_due(now_ms, grace_ms, 100, &ids, &n);
        if (rc) return rc;
        int changed_any = 0;
        for (int i = 0; i < n && !rc; i++) {
            int changed;
            rc = check_user(ids[i], now_ms, &changed);
            done += changed;
            changed_any |= changed;
        }
        free(ids);
        if (!changed_any) break; /* nothing more will change at this time */
    } while (!rc && n == 100);
    if (applied) *applied = done;
    return rc;
}

static pthread_t worker;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int running;

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (running) {
        pthread_mutex_unlock(&mu);
        int rc = payments_check_due(time_now_ms(), NULL);
        if (rc)
            log_json(LOG_WARN, "payments periodic check failed",
                     json_pack("{s:s}", "error", ragd_strerror(rc)));
        pthread_mutex_lock(&mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += check_s;
        while (running && pthread_cond_timedwait(&cv, &mu, &ts) == 0) {
        }
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

void payments_start(void)
{
    pthread_mutex_lock(&mu);
    if (!running) {
        running = 1;
        if (pthread_create(&worker, NULL, worker_main, NULL)) {
            running = 0;
            log_msg(LOG_ERROR, "payments: cannot start the periodic check");
        }
    }
    pthread_mutex_unlock(&mu);
}

void payments_stop(void)
{
    pthread_mutex_lock(&mu);
    int was = running;
    running = 0;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (was) pthread_join(worker, NULL);
}
