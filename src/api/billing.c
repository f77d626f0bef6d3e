/* billing.c - /billing: plans, the caller's subscription, usage, quotas and history; and the
 * routes that exist only in test mode (RAGD_TEST_MODE=1) to move the clock and consume quota
 * the way chat, search and uploads do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "billing/billing.h"
#include "billing/payments.h"
#include "billing/payprov.h"
#include "billing/plans.h"
#include "core/error.h"
#include "core/util.h"
#include "limits/limiter.h"

/* The plans, and whether upgrades go through a payment (ENABLE_PAYMENTS) with which of the
 * configured providers, so that a client knows to start a checkout. */
static void plans_list(struct req *r)
{
    json_t *a = json_array();
    for (int i = 0; i < plan_count(); i++)
        json_array_append_new(a, plan_json(plan_at(i)));
    json_t *prov = json_array();
    if (payments_enabled()) {
        if (stripe_configured()) json_array_append_new(prov, json_string("stripe"));
        if (razorpay_configured()) json_array_append_new(prov, json_string("razorpay"));
    }
    http_json(r, 200,
              json_pack("{s:o, s:b, s:o}", "plans", a, "payments_enabled", payments_enabled(),
                        "payment_providers", prov));
}

static json_t *subscription_json(const struct billing_subscription *s)
{
    json_t *pj = plan_json(plan_for(s->plan_type));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:s, s:O, s:O, s:O, s:O,"
        " s:s, s:s}",
        "id", s->id, "user_id", s->user_id, "plan_type", s->plan_type, "plan_name", s->plan_name,
        "status", s->status, "billing_cycle", s->billing_cycle, "started_at", s->started_at,
        "current_period_start", s->current_period_start, "current_period_end",
        s->current_period_end, "ends_at", s->ends_at, "auto_renew", s->auto_renew, "amount_cents",
        (json_int_t)s->amount_cents, "currency", s->currency, "limits",
        json_object_get(pj, "limits"), "daily_limits", json_object_get(pj, "daily_limits"),
        "features", json_object_get(pj, "features"), "pricing", json_object_get(pj, "pricing"),
        "created_at", s->created_at, "updated_at", s->updated_at);
    json_decref(pj);
    return o;
}

static json_t *proration_json(const struct proration *p)
{
    char a[32], b[32], c[32], d[32];
    return json_pack("{s:I, s:I, s:I, s:f, s:s, s:s, s:s, s:s}", "credit_cents",
                     (json_int_t)p->credit_cents, "charge_cents", (json_int_t)p->charge_cents,
                     "net_cents", (json_int_t)p->net_cents, "unused_fraction", p->unused_fraction,
                     "old_period_start", time_iso(p->old_period.start_ms, a), "old_period_end",
                     time_iso(p->old_period.end_ms, b), "new_period_start",
                     time_iso(p->new_period.start_ms, c), "new_period_end",
                     time_iso(p->new_period.end_ms, d));
}

static void subscription_get(struct req *r)
{
    struct billing_subscription sub;
    int rc = billing_subscription_of(api_user(r), &sub);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, subscription_json(&sub));
}

static void subscription_put(struct req *r)
{
    json_t *b = req_json(r);
    const struct user *u = api_user(r);
    if (!plan_get(jv_str(b, "plan_type", ""))) { /* plans may be added at run time */
        api_invalid(r, "plan_type", "field 'plan_type' must name a plan from GET /billing/plans");
        return;
    }
    if (payments_enabled() && api_payments_plan_put(r)) return; /* upgrades need a payment */
    struct billing_change ch;
    int rc = billing_change_plan(u->id, jv_str(b, "plan_type", NULL),
                                 jv_str(b, "billing_cycle", NULL), u->id, "user", &ch);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *pro = ch.changed ? proration_json(&ch.proration) : json_null();
    if (ch.changed) {
        json_t *d =
            json_pack("{s:O, s:O}", "plan_type", json_object_get(b, "plan_type"), "proration", pro);
        api_audit(r, "billing.subscription_update", "user", u->id, d);
        json_decref(d);
    }
    http_json(r, 200,
              json_pack("{s:b, s:o, s:o, s:s}", "changed", ch.changed, "subscription",
                        subscription_json(&ch.subscription), "proration", pro, "message",
                        ch.changed ? "Subscription updated" : "Subscription unchanged"));
}

static json_t *counter_json(const struct billing_counter *c)
{
    return json_pack("{s:I, s:I, s:I}", "used", (json_int_t)c->used, "limit", (json_int_t)c->limit,
                     "remaining", (json_int_t)c->remaining);
}

static json_t *usage_json(const struct billing_usage *u)
{
    json_t *usage = json_object(), *daily = json_object();
    for (int i = 0; i < RES_COUNT; i++)
        json_object_set_new(usage, u->monthly[i].name, counter_json(&u->monthly[i]));
    for (int i = 0; i < u->ndaily; i++)
        json_object_set_new(daily, u->daily[i].name, counter_json(&u->daily[i]));
    char ps[32], pe[32], reset[32];
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s, s:s, s:s, s:b, s:{s:s, s:s, s:o}}",
        "messages_this_month", (json_int_t)u->monthly[RES_MESSAGES].used,
        "background_tasks_this_month", (json_int_t)u->monthly[RES_BACKGROUND_TASKS].used,
        "api_calls_this_month", (json_int_t)u->monthly[RES_API_CALLS].used, "storage_mb_this_month",
        (json_int_t)u->monthly[RES_STORAGE_MB].used, "quota_remaining",
        (json_int_t)u->monthly[RES_MESSAGES].remaining, "limits",
        plan_limits_json(plan_for(u->plan_type)), "usage", usage, "period_start",
        time_iso(u->period_start_ms, ps), "period_end", time_iso(u->period_end_ms, pe), "plan_type",
        u->plan_type, "limits_bypassed", u->limits_bypassed, "daily", "date", u->date, "reset_at",
        time_iso(u->day_reset_ms, reset), "counters", daily);
}

static void usage_get(struct req *r)
{
    struct billing_usage u;
    int rc = billing_usage_summary(api_user(r), &u);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, usage_json(&u));
}

static void quota_get(struct req *r)
{
    const char *res = req_param(r, "resource_type");
    struct billing_quota q;
    int rc = billing_quota(api_user(r), res, &q);
    if (rc == RAGD_EINVAL) {
        http_error(r, 400, "INVALID_RESOURCE_TYPE",
                   "Invalid resource type. Must be one of: messages, api_calls, "
                   "background_tasks, storage_mb");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, api_quota_json(&q));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *history_json(const struct history_row *e)
{
    return json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "id", e->id, "subscription_id",
        str_or_null(e->subscription_id), "event_type", str_or_null(e->event_type), "amount_cents",
        e->has_amount ? json_integer(e->amount_cents) : json_null(), "currency",
        str_or_null(e->currency), "description", str_or_null(e->description), "metadata",
        e->metadata ? json_incref(e->metadata) : json_object(), "created_at", e->created_at);
}

static void history_get(struct req *r)
{
    long long limit, offset;
    if (req_query_int(r, "limit", 50, 1, 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    struct history_row *rows;
    int n;
    int64_t total;
    int rc = billing_history(api_user(r), limit, offset, &rows, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, history_json(&rows[i]));
    store_history_rows_free(rows, n);
    http_json(r, 200,
              json_pack("{s:I, s:o, s:I, s:I}", "total", (json_int_t)total, "items", items, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset));
}

static const char *const cycles[] = {"monthly", "yearly", NULL};

static const struct jv_field sub_fields[] = {
    {"plan_type", JV_STRING, 1, 1, 15, 0, NULL, "A plan from GET /billing/plans"},
    {"billing_cycle", JV_STRING, 0, 0, 0, 0, cycles, "monthly (default: unchanged) or yearly"},
    {NULL},
};
static const struct jv_schema sub_schema = {sub_fields, 0};

const struct route billing_routes[] = {
    {"GET", "/billing/plans", plans_list, ACCESS_PUBLIC, "api", NULL, NULL, "billing",
     "Available subscription plans with limits, daily limits, features and prices (cents)", 200,
     "{plans: [{plan_type, name, limits, daily_limits, features, pricing}], payments_enabled, "
     "payment_providers: [stripe | razorpay]}",
     .response =
         "{plans: [$Plan], payments_enabled: bool, payment_providers: ['stripe'|'razorpay']}"},
    {"GET", "/billing/subscription", subscription_get, ACCESS_USER, "billing", NULL, NULL,
     "billing", "The caller's active subscription (created from the account's plan)", 200,
     "{id, plan_type, status, billing_cycle, current_period_start, current_period_end, "
     "ends_at, limits, features, pricing, ...}",
     .response = "$Subscription"},
    {"PUT", "/billing/subscription", subscription_put, ACCESS_USER, "billing", NULL, &sub_schema,
     "billing", "Change plan and/or billing cycle, with proration and a billing-history event", 200,
     "{changed, subscription, proration, message}",
     .response = "{changed: bool, subscription: $Subscription, proration: {credit_cents: int, "
                 "charge_cents: int, net_cents: int, unused_fraction: number, old_period_start: "
                 "string, old_period_end: string, new_period_start: string, new_period_end: "
                 "string}|null, message: string}; 202 {changed: bool, scheduled: bool, "
                 "plan_type: string, effective_at: string, message: string}"},
    {"GET", "/billing/usage", usage_get, ACCESS_USER, "billing", NULL, NULL, "billing",
     "Usage of the current calendar month (UTC) and day", 200,
     "{messages_this_month, background_tasks_this_month, api_calls_this_month, "
     "storage_mb_this_month, quota_remaining, limits, usage, period_start, period_end, "
     "plan_type, daily}",
     .response = "{messages_this_month: int, background_tasks_this_month: int, "
                 "api_calls_this_month: int, storage_mb_this_month: int, quota_remaining: int, "
                 "limits: {messages: int, background_tasks: int, api_calls: int, storage_mb: "
                 "int}, usage: {*: {used: int, limit: int, remaining: int}}, period_start: "
                 "string, period_end: string, plan_type: string, limits_bypassed: bool, daily: "
                 "{date: string, reset_at: string, counters: {*: {used: int, limit: int, "
                 "remaining: int}}}}"},
    {"GET", "/billing/quota/{resource_type}", quota_get, ACCESS_USER, "api", NULL, NULL, "billing",
     "Quota of one resource: messages, api_calls, background_tasks or storage_mb", 200,
     "{resource_type, has_quota, current_usage, reserved, max_allowed, remaining, "
     "plan_type}",
     .response = "{resource_type: string, has_quota: bool, current_usage: int, reserved: int, "
                 "max_allowed: int, remaining: int, plan_type: string, limits_bypassed: bool, "
                 "period_start: string, period_end: string}"},
    {"GET", "/billing/history", history_get, ACCESS_USER, "billing", NULL, NULL, "billing",
     "Billing history, newest first; query: limit (1-500), offset", 200, "{total, items}",
     .response = "{total: int, items: [{id: string, subscription_id: string|null, event_type: "
                 "string, amount_cents: int, currency: string, description: string|null, "
                 "metadata: object|null, created_at: string}], limit: int, offset: int}"},
    {NULL},
};

/* ---- test mode ---- */

static void clock_set(struct req *r)
{
    json_t *b = req_json(r);
    int64_t offset = time_offset_ms();
    const char *at = jv_str(b, "now", NULL);
    if (at) {
        int64_t target;
        if (time_parse_iso(at, &target)) {
            api_invalid(r, "now", "field 'now' must be an ISO-8601 UTC time");
            return;
        }
        offset = target - (time_now_ms() - time_offset_ms());
    } else if (json_object_get(b, "offset_ms")) {
        offset = jv_int(b, "offset_ms", 0);
    }
    /* Rate-limit state lives on the clock's time line: going back in time would leave every
     * key owing years of requests, so it is forgotten. Going forward is natural. */
    if (offset < time_offset_ms()) limiter_reset();
    time_set_offset_ms(offset);
    char now[32];
    http_json(r, 200,
              json_pack("{s:s, s:I}", "now", time_iso(time_now_ms(), now), "offset_ms",
                        (json_int_t)offset));
}

static void consume_answer(struct req *r)
{
    json_t *b = req_json(r);
    long long hold_ms = b ? jv_int(b, "hold_ms", 0) : 0;
    if (hold_ms > 0) usleep((useconds_t)hold_ms * 1000);
    if (b && jv_bool(b, "fail", 0)) {
        http_error(r, 500, "TEST_FAILURE", "Failure requested by the test");
        return;
    }
    char msg_id[37];
    uuid4(msg_id);
    const char *sid = b ? jv_str(b, "session_id", NULL) : NULL;
    api_quota_extra(r,
                    json_pack("{s:s?, s:s, s:I, s:I, s:b}", "session_id", sid, "message_id", msg_id,
                              "tokens_used", (json_int_t)(b ? jv_int(b, "tokens_used", 0) : 0),
                              "processing_time_ms", (json_int_t)hold_ms, "rag_enabled", 0));
    http_json(r, 200, json_pack("{s:b, s:s}", "ok", 1, "message_id", msg_id));
}

static void consume(struct req *r)
{
    json_t *b = req_json(r);
    const char *res = b ? jv_str(b, "resource", NULL) : NULL;
    if (res && api_quota_reserve(r, res, b ? jv_int(b, "quantity", 1) : 1)) return;
    const char *feature = b ? jv_str(b, "feature", NULL) : NULL;
    if (feature && api_quota_daily(r, feature, 1)) return;
    if (b && jv_int(b, "hold_ms", 0) > 0)
        http_defer(r, consume_answer);
    else
        consume_answer(r);
}

static const struct jv_field clock_fields[] = {
    {"offset_ms", JV_INT, 0, -3e12, 3e12, 0, NULL, "Shift of the server clock in ms"},
    {"now", JV_STRING, 0, 0, 40, 0, NULL, "Set the server clock to this ISO-8601 UTC time"},
    {NULL},
};
static const struct jv_schema clock_schema = {clock_fields, 0};

static const char *const resources[] = {"messages", "api_calls", "background_tasks", "storage_mb",
                                        NULL};
static const struct jv_field consume_fields[] = {
    {"hold_ms", JV_INT, 0, 0, 5000, 0, NULL, "Work time before answering"},
    {"fail", JV_BOOL, 0, 0, 0, 0, NULL, "Answer 500 (the reservation is released)"},
    {"tokens_used", JV_INT, 0, 0, 1e9, 0, NULL, NULL},
    {"session_id", JV_STRING, 0, 0, 64, 0, NULL, NULL},
    {"resource", JV_STRING, 0, 0, 0, 0, resources, "Reserve this resource in the handler"},
    {"quantity", JV_INT, 0, 1, 1e9, 0, NULL, NULL},
    {"feature", JV_STRING, 0, 1, 40, 0, NULL, "Take one of this daily counter"},
    {NULL},
};
static const struct jv_schema consume_schema = {consume_fields, 0};

const struct route billing_test_routes[] = {
    {"POST", "/admin/test/clock", clock_set, ACCESS_ADMIN, NULL, NULL, &clock_schema, "test",
     "Test mode only: move the server clock", 200, "{now, offset_ms}",
     .response = "{now: string, offset_ms: int}"},
    {"POST", "/test/chat", consume, ACCESS_USER, "chat", "messages", &consume_schema, "test",
     "Test mode only: consumes like a chat message", 200, "{ok, message_id}",
     .response = "{ok: bool, message_id: string}"},
    {"POST", "/test/search", consume, ACCESS_USER, "search", "api_calls", &consume_schema, "test",
     "Test mode only: consumes like a search", 200, "{ok, message_id}",
     .response = "{ok: bool, message_id: string}"},
    {"POST", "/test/consume", consume, ACCESS_USER, "api", NULL, &consume_schema, "test",
     "Test mode only: reserves from the handler", 200, "{ok, message_id}",
     .response = "{ok: bool, message_id: string}"},
    {NULL},
};
