#include "billing/billing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "billing/period.h"
#include "billing/plans.h"
#include "cache/cache.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/chat.h"
#include "store/orgs.h"
#include "store/store_billing.h"

static int enabled = 1, enforce = 1;
static int64_t hold_ttl_ms = 15 * 60 * 1000;

/* ---- caches (seed 001: subscription:{user_id} 1800 s, quota:{user_id}:{resource} 300 s) ----
 * Entries are checked on the way out (the right user, the current period, the current
 * plan), and dropped when what they show changes: plan changes forget the user
 * (billing_forget), committed or released quota forgets the resources it touched. */

static int sub_ttl_s = 1800, quota_ttl_s = 300;

static void quota_key(char key[128], const char *user_id, const char *resource)
{
    snprintf(key, 128, "quota:%.36s:%s", user_id, resource);
}

static void quota_forget(const char *user_id, const char *resource)
{
    char key[128];
    quota_key(key, user_id, resource);
    cache_del(key);
}

void billing_forget(const char *user_id)
{
    char key[64];
    snprintf(key, sizeof key, "subscription:%.36s", user_id);
    cache_del(key);
    store_user_forget(user_id); /* the session shows the plan */
    for (int i = 0; i < RES_COUNT; i++)
        quota_forget(user_id, plan_resource_name((enum plan_resource)i));
}

int billing_enabled(void)
{
    return enabled;
}

int billing_init(const char *data_dir, char *err, size_t errcap)
{
    sub_ttl_s = (int)config_int("CACHE_SUBSCRIPTION_TTL_SECONDS", 1800, 0, 86400 * 7);
    quota_ttl_s = (int)config_int("CACHE_QUOTA_TTL_SECONDS", 300, 0, 86400);
    enabled = config_bool("ENABLE_BILLING", 1);
    enforce = config_bool("ENABLE_QUOTA_ENFORCEMENT", 1);
    hold_ttl_ms = config_int("QUOTA_HOLD_TTL_SECONDS", 900, 1, 86400) * 1000;
    const char *path = config_str("PLANS_FILE", NULL);
    char *def = NULL;
    struct stat st;
    if (!path && data_dir) {
        def = xasprintf("%s/plans.json", data_dir);
        if (!stat(def, &st)) path = def;
    }
    int rc = plan_load(path, err, errcap);
    free(def);
    if (rc) return rc;
    if (enabled) {
        /* Holds left by a process that died mid-request: they no longer count anyway. */
        int prc = store_hold_purge(NULL, time_now_ms());
        if (prc)
            log_json(LOG_WARN, "expired quota holds not purged",
                     json_pack("{s:s}", "error", ragd_strerror(prc)));
    }
    return 0;
}

/* Ends a transaction: commits when rc is 0, otherwise (or when the commit fails) rolls
 * back, so the thread's connection is never left inside a transaction. */
static int end_tx(db_conn_t *c, int rc)
{
    if (!rc && !(rc = db_commit(c))) return 0;
    db_rollback(c);
    return rc;
}

/* ---- subscriptions ---- */

static void iso(int64_t ms, char out[32])
{
    time_iso(ms, out);
}

/* The subscription as the caller sees it now (its current period). */
static void sub_view(const struct subscription *s, struct billing_subscription *out)
{
    const struct plan *p = plan_for(s->plan_type);
    enum billing_cycle cyc = CYCLE_MONTHLY;
    period_cycle_parse(s->billing_cycle, &cyc);
    int64_t anchor = 0;
    time_parse_iso(s->period_anchor, &anchor);
    struct period per;
    period_cycle(anchor, cyc, time_now_ms(), &per);
    memset(out, 0, sizeof *out);
#define COPY(dst, src) snprintf(out->dst, sizeof out->dst, "%s", src)
    COPY(id, s->id);
    COPY(user_id, s->user_id);
    COPY(plan_type, s->plan_type);
    COPY(plan_name, p->name);
    COPY(status, s->status);
    COPY(billing_cycle, s->billing_cycle);
    COPY(currency, s->currency);
    COPY(started_at, s->started_at);
    COPY(created_at, s->created_at);
    COPY(updated_at, s->updated_at);
    iso(per.start_ms, out->current_period_start);
    iso(per.end_ms, out->current_period_end);
    COPY(ends_at, s->ends_at[0] ? s->ends_at : out->current_period_end);
    out->auto_renew = s->auto_renew;
    out->amount_cents = s->amount_cents;
}

/* The subscription cache's encoding: the view's fields as a JSON object. */
static json_t *view_to_cache(const struct billing_subscription *v)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b,"
                     " s:I}",
                     "id", v->id, "user_id", v->user_id, "plan_type", v->plan_type, "plan_name",
                     v->plan_name, "status", v->status, "billing_cycle", v->billing_cycle,
                     "currency", v->currency, "started_at", v->started_at, "current_period_start",
                     v->current_period_start, "current_period_end", v->current_period_end,
                     "ends_at", v->ends_at, "created_at", v->created_at, "updated_at",
                     v->updated_at, "auto_renew", v->auto_renew, "amount_cents",
                     (json_int_t)v->amount_cents);
}

static void view_from_cache(json_t *j, struct billing_subscription *v)
{
    memset(v, 0, sizeof *v);
#define FIELD(f) snprintf(v->f, sizeof v->f, "%s", json_string_value(json_object_get(j, #f)) ?: "")
    FIELD(id);
    FIELD(user_id);
    FIELD(plan_type);
    FIELD(plan_name);
    FIELD(status);
    FIELD(billing_cycle);
    FIELD(currency);
    FIELD(started_at);
    FIELD(current_period_start);
    FIELD(current_period_end);
    FIELD(ends_at);
    FIELD(created_at);
    FIELD(updated_at);
#undef FIELD
    v->auto_renew = json_is_true(json_object_get(j, "auto_renew"));
    v->amount_cents = json_integer_value(json_object_get(j, "amount_cents"));
}

static char *limits_text(const struct plan *p)
{
    json_t *l = plan_limits_json(p);
    char *s = json_dumps(l, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(l);
    if (!s) panic("json_dumps failed");
    return s;
}

/* Creates the active subscription from the user's plan; inside a transaction. */
static int sub_create(const char *user_id, const char *plan_type, struct subscription *s)
{
    const struct plan *p = plan_get(plan_type);
    if (!p) {
        log_json(LOG_WARN, "user has an unknown plan; subscribing to free",
                 json_pack("{s:s, s:s}", "user_id", user_id, "plan", plan_type));
        p = plan_get("free");
    }
    int64_t now = time_now_ms();
    memset(s, 0, sizeof *s);
    snprintf(s->user_id, sizeof s->user_id, "%s", user_id);
    snprintf(s->plan_type, sizeof s->plan_type, "%s", p->type);
    snprintf(s->status, sizeof s->status, "active");
    snprintf(s->billing_cycle, sizeof s->billing_cycle, "monthly");
    iso(now, s->started_at);
    iso(period_add_months(now, 0), s->period_anchor);
    s->auto_renew = 1;
    s->amount_cents = plan_price(p, 0);
    char *lim = limits_text(p);
    int rc = store_sub_insert(s, lim);
    free(lim);
    if (rc) return rc;
    char desc[160];
    snprintf(desc, sizeof desc, "%s subscription created from the account's plan", p->name);
    json_t *meta = json_pack("{s:s, s:s}", "plan_type", p->type, "billing_cycle", "monthly");
    struct history_event e = {user_id, s->id, "subscription_created", s->amount_cents, "USD",
                              desc,    meta};
    rc = store_history_add(&e);
    json_decref(meta);
    return rc;
}

/* A request refused by a plan quota; resource: the quota's name (from the plans). */
static void count_quota_refusal(const char *resource)
{
    char v[64], labels[96];
    metrics_label_value(v, sizeof v, resource);
    snprintf(labels, sizeof labels, "resource=\"%s\"", v);
    metrics_count_labeled("ragd_quota_refusals_total", labels,
                          "Requests refused by a plan quota, by resource", 1);
}

/* A plan change: kind upgrade, downgrade or cycle_change; source who made it (fixed names). */
static void count_plan_change(const char *kind, const char *source)
{
    char src[48], labels[128];
    metrics_label_value(src, sizeof src, source ? source : "unknown");
    snprintf(labels, sizeof labels, "change=\"%s\",source=\"%s\"", kind, src);
    metrics_count_labeled("ragd_plan_changes_total", labels,
                          "Subscription plan changes, by kind and by who made them", 1);
}

/* Changes s to plan/cycle with proration; inside a transaction. *pro gets the figures. */
static int sub_change(struct subscription *s, const struct plan *np, enum billing_cycle ncyc,
                      const char *actor_id, const char *source, struct proration *pro)
{
    const struct plan *op = plan_for(s->plan_type);
    enum billing_cycle ocyc = CYCLE_MONTHLY;
    period_cycle_parse(s->billing_cycle, &ocyc);
    int64_t anchor = 0;
    time_parse_iso(s->period_anchor, &anchor);
    int64_t now = time_now_ms();
    int rc = period_prorate(now, anchor, ocyc, s->amount_cents, ncyc,
                            plan_price(np, ncyc == CYCLE_YEARLY), pro);
    if (rc) return rc;
    char old_plan[32], old_cycle[16];
    snprintf(old_plan, sizeof old_plan, "%s", s->plan_type);
    snprintf(old_cycle, sizeof old_cycle, "%s", s->billing_cycle);
    snprintf(s->plan_type, sizeof s->plan_type, "%s", np->type);
    snprintf(s->billing_cycle, sizeof s->billing_cycle, "%s", period_cycle_name(ncyc));
    iso(pro->new_anchor_ms, s->period_anchor);
    s->amount_cents = plan_price(np, ncyc == CYCLE_YEARLY);
    char *lim = limits_text(np);
    rc = store_sub_update(s, lim);
    free(lim);
    if (!rc) rc = store_user_plan_set(s->user_id, np->type);
    if (rc) return rc;
    int oi = 0, ni = 0;
    for (int i = 0; i < plan_count(); i++) {
        if (!strcmp(plan_at(i)->type, op->type)) oi = i;
        if (!strcmp(plan_at(i)->type, np->type)) ni = i;
    }
    const char *kind = ni > oi ? "upgrade" : ni < oi ? "downgrade" : "cycle_change";
    char desc[256], ops[32], ope[32], nps[32], npe[32];
    snprintf(desc, sizeof desc, "%s from %s (%s) to %s (%s): charge %lld, credit %lld cents", kind,
             old_plan, old_cycle, np->type, s->billing_cycle, (long long)pro->charge_cents,
             (long long)pro->credit_cents);
    json_t *meta =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:s, s:s, s:s, s:s, s:s?}",
                  "change", kind, "source", source, "old_plan", old_plan, "new_plan", np->type,
                  "old_cycle", old_cycle, "new_cycle", s->billing_cycle, "credit_cents",
                  (json_int_t)pro->credit_cents, "charge_cents", (json_int_t)pro->charge_cents,
                  "net_cents", (json_int_t)pro->net_cents, "unused_fraction", pro->unused_fraction,
                  "old_period_start", time_iso(pro->old_period.start_ms, ops), "old_period_end",
                  time_iso(pro->old_period.end_ms, ope), "new_period_start",
                  time_iso(pro->new_period.start_ms, nps), "new_period_end",
                  time_iso(pro->new_period.end_ms, npe), "changed_by", actor_id);
    struct history_event e = {s->user_id, s->id, "subscription_updated", pro->net_cents, "USD",
                              desc,       meta};
    rc = store_history_add(&e);
    json_decref(meta);
    if (!rc)
        log_json(LOG_INFO, "billing_event",
                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "event_type", "subscription_updated",
                           "user_id", s->user_id, "old_plan", old_plan, "new_plan", np->type,
                           "source", source, "net_cents", (json_int_t)pro->net_cents));
    if (!rc) count_plan_change(kind, source);
    return rc;
}

/* Loads the active subscription, creating it or syncing it with users.subscription_plan
 * when needed (under the write lock). */
static int sub_ensure(const char *user_id, struct subscription *s)
{
    char plan[32];
    int rc = store_user_plan_get(user_id, plan);
    if (rc) return rc;
    rc = store_sub_active(user_id, s);
    if (!rc && (!strcmp(s->plan_type, plan) || !plan_get(plan)))
        return 0; /* in line, or a plan name billing cannot follow (logged at creation) */
    if (rc && rc != RAGD_ENOTFOUND) return rc;
    db_conn_t *c = db_conn();
    if ((rc = db_begin_for(c, user_id))) return rc;
    rc = store_user_plan_get(user_id, plan); /* again, now that we hold the lock */
    if (!rc) {
        rc = store_sub_active(user_id, s);
        if (rc == RAGD_ENOTFOUND) {
            rc = sub_create(user_id, plan, s);
        } else if (!rc && strcmp(s->plan_type, plan) && plan_get(plan)) {
            enum billing_cycle cyc = CYCLE_MONTHLY;
            period_cycle_parse(s->billing_cycle, &cyc);
            struct proration pro;
            rc = sub_change(s, plan_get(plan), cyc, NULL, "sync", &pro);
        }
    }
    rc = end_tx(c, rc);
    if (!rc) billing_forget(user_id);
    return rc;
}

/* The subscription of user_id into *out, from the cache when it is current and on plan (the
 * user's plan now, as the caller read it). */
static int subscription_of(const char *user_id, const char *plan, struct billing_subscription *out)
{
    char key[64], now[32];
    snprintf(key, sizeof key, "subscription:%.36s", user_id);
    iso(time_now_ms(), now);
    json_t *j = cache_get_json(key);
    const char *uid = json_string_value(json_object_get(j, "user_id"));
    const char *end = json_string_value(json_object_get(j, "current_period_end"));
    const char *cached_plan = json_string_value(json_object_get(j, "plan_type"));
    /* A plan changed outside billing (the CLI, an admin update) shows here first. */
    if (uid && end && cached_plan && !strcmp(uid, user_id) && strcmp(end, now) > 0 &&
        !strcmp(plan, cached_plan)) {
        view_from_cache(j, out);
        json_decref(j);
        return 0;
    }
    json_decref(j);
    struct subscription s;
    int rc = sub_ensure(user_id, &s);
    if (!rc) {
        sub_view(&s, out);
        j = view_to_cache(out);
        cache_set_json(key, j, sub_ttl_s);
        json_decref(j);
    }
    return rc;
}

int billing_subscription(const char *user_id, struct billing_subscription *out)
{
    struct user u;
    int rc = store_user_get(user_id, &u);
    if (rc) return rc;
    rc = subscription_of(user_id, u.subscription_plan, out);
    store_user_clear(&u);
    return rc;
}

int billing_subscription_of(const struct user *u, struct billing_subscription *out)
{
    return subscription_of(u->id, u->subscription_plan, out);
}

int billing_change_plan(const char *user_id, const char *plan, const char *cycle,
                        const char *actor_id, const char *source, struct billing_change *out)
{
    const struct plan *np = plan_get(plan);
    enum billing_cycle ncyc = CYCLE_MONTHLY;
    if (!np || (cycle && period_cycle_parse(cycle, &ncyc))) return RAGD_EINVAL;
    struct subscription s;
    int rc = sub_ensure(user_id, &s);
    if (rc) return rc;
    db_conn_t *c = db_conn();
    if ((rc = db_begin_for(c, user_id))) return rc;
    /* Re-read under the lock: another change may have landed since sub_ensure. */
    rc = store_sub_active(user_id, &s);
    int changed = 0;
    struct proration pro;
    memset(&pro, 0, sizeof pro);
    if (!rc) {
        if (!cycle) period_cycle_parse(s.billing_cycle, &ncyc);
        if (strcmp(s.plan_type, np->type) || strcmp(s.billing_cycle, period_cycle_name(ncyc))) {
            rc = sub_change(&s, np, ncyc, actor_id, source, &pro);
            changed = 1;
        }
    }
    if ((rc = end_tx(c, rc))) return rc;
    if (changed) billing_forget(user_id);
    memset(out, 0, sizeof *out);
    out->changed = changed;
    out->proration = pro;
    sub_view(&s, &out->subscription);
    return 0;
}

int billing_change_plan_locked(const char *user_id, const char *plan, const char *cycle,
                               const char *actor_id, const char *source, int *changed)
{
    const struct plan *np = plan_get(plan);
    enum billing_cycle ncyc = CYCLE_MONTHLY;
    if (!np || (cycle && period_cycle_parse(cycle, &ncyc))) return RAGD_EINVAL;
    if (changed) *changed = 0;
    char current[32];
    int rc = store_user_plan_get(user_id, current);
    if (rc) return rc;
    struct subscription s;
    rc = store_sub_active(user_id, &s);
    if (rc == RAGD_ENOTFOUND) rc = sub_create(user_id, current, &s);
    if (rc) return rc;
    enum billing_cycle cyc = CYCLE_MONTHLY;
    period_cycle_parse(s.billing_cycle, &cyc);
    if (!cycle) ncyc = cyc;
    struct proration pro;
    if (strcmp(s.plan_type, current) && plan_get(current) && strcmp(current, np->type)) {
        /* users.subscription_plan was changed behind billing's back: follow it first. */
        if ((rc = sub_change(&s, plan_get(current), cyc, NULL, "sync", &pro))) return rc;
    }
    if (strcmp(s.plan_type, np->type) || strcmp(s.billing_cycle, period_cycle_name(ncyc))) {
        rc = sub_change(&s, np, ncyc, actor_id, source, &pro);
        if (!rc && changed) *changed = 1;
    } else if (strcmp(current, np->type)) {
        rc = store_user_plan_set(user_id, np->type);
    }
    if (!rc) billing_forget(user_id);
    return rc;
}

int billing_plan_change_locked(const char *user_id, const char *plan, const char *actor_id)
{
    return billing_change_plan_locked(user_id, plan, NULL, actor_id, "admin", NULL);
}

int billing_history(const struct user *u, int64_t limit, int64_t offset, struct history_row **rows,
                    int *n, int64_t *total)
{
    /* The subscription as billing_subscription keeps it (cached; created, or synced with a
     * plan changed outside billing, when needed), so that its events are listed. */
    struct billing_subscription s;
    int rc = billing_subscription_of(u, &s);
    return rc ? rc : store_history_list(u->id, limit, offset, rows, n, total);
}

/* ---- usage ---- */

static int64_t remaining(int64_t limit, int64_t used)
{
    return limit < 0 ? -1 : limit > used ? limit - used : 0;
}

/* The quantity of counter name of period among c[0..n) (0 when it has none). */
static int64_t counter_of(const struct store_counter *c, size_t n, const char *name,
                          const char *period)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(c[i].name, name) && !strcmp(c[i].period, period)) return c[i].quantity;
    return 0;
}

static int daily_listed(const struct plan *p, const char *name)
{
    for (int i = 0; i < p->ndaily; i++)
        if (!strcmp(p->daily[i].name, name)) return 1;
    return 0;
}

static void counter_set(struct billing_counter *c, const char *name, int64_t used, int64_t limit)
{
    snprintf(c->name, sizeof c->name, "%s", name);
    c->used = used;
    c->limit = limit;
    c->remaining = remaining(limit, used);
}

void billing_usage_periods(int64_t now, char month[8], char day[11])
{
    period_month_key(now, month);
    period_day_key(now, day);
}

void billing_usage_from(const struct user *u, int64_t now, const struct store_counter *c, size_t n,
                        struct billing_usage *out)
{
    const struct plan *p = plan_for(u->subscription_plan);
    struct period month, day;
    period_month(now, &month);
    period_day(now, &day);
    char mkey[8];
    memset(out, 0, sizeof *out);
    billing_usage_periods(now, mkey, out->date);
    snprintf(out->plan_type, sizeof out->plan_type, "%s", p->type);
    out->limits_bypassed = u->is_superuser || !enforce;
    out->period_start_ms = month.start_ms;
    out->period_end_ms = month.end_ms - 1;
    out->day_reset_ms = day.end_ms;
    for (int i = 0; i < RES_COUNT; i++) {
        const char *name = plan_resource_name((enum plan_resource)i);
        counter_set(&out->monthly[i], name, counter_of(c, n, name, mkey), p->limits[i]);
    }
    for (int i = 0; i < p->ndaily && out->ndaily < BILLING_COUNTERS_MAX; i++)
        counter_set(&out->daily[out->ndaily++], p->daily[i].name,
                    counter_of(c, n, p->daily[i].name, out->date), p->daily[i].limit);
    for (size_t i = 0; i < n; i++) { /* counted features the plan does not limit */
        if (!strcmp(c[i].period, out->date) && !daily_listed(p, c[i].name) &&
            out->ndaily < BILLING_COUNTERS_MAX)
            counter_set(&out->daily[out->ndaily++], c[i].name, c[i].quantity, -1);
    }
}

int billing_usage_summary(const struct user *u, struct billing_usage *out)
{
    int64_t now = time_now_ms();
    char mkey[8], dkey[11];
    billing_usage_periods(now, mkey, dkey);
    struct store_counter *c;
    size_t n;
    int rc = store_counters(u->id, mkey, dkey, &c, &n);
    if (rc) return rc;
    billing_usage_from(u, now, c, n, out);
    free(c);
    return 0;
}

int billing_usage_reset_daily(const char *user_id, int64_t *cleared)
{
    char day[11];
    period_day_key(time_now_ms(), day);
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin_for(c, user_id); /* excludes the user's reservations meanwhile */
    if (rc) return rc;
    char plan[32];
    rc = store_user_plan_get(user_id, plan);
    if (!rc) rc = store_counters_clear(user_id, day, cleared);
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    billing_forget(user_id);
    return 0;
}

/* The figures of *out that come from u's plan and the month of now; the counts are the
 * caller's. */
static int quota_start(const struct user *u, const char *resource, int64_t now,
                       struct billing_quota *out)
{
    int ri = plan_resource_index(resource);
    if (ri < 0) return RAGD_EINVAL;
    const struct plan *p = plan_for(u->subscription_plan);
    struct period month;
    period_month(now, &month);
    memset(out, 0, sizeof *out);
    snprintf(out->resource, sizeof out->resource, "%s", resource);
    snprintf(out->plan_type, sizeof out->plan_type, "%s", p->type);
    out->max_allowed = p->limits[ri];
    out->limits_bypassed = u->is_superuser || !enforce;
    out->period_start_ms = month.start_ms;
    out->period_end_ms = month.end_ms - 1;
    return 0;
}

/* The figures of *out that follow from its counts. */
static void quota_end(struct billing_quota *out)
{
    int64_t limit = out->max_allowed, have = out->current_usage + out->reserved;
    out->has_quota = out->limits_bypassed || limit < 0 || have < limit;
    out->remaining = remaining(limit, have);
}

int billing_quota(const struct user *u, const char *resource, struct billing_quota *out)
{
    int64_t now = time_now_ms();
    int rc = quota_start(u, resource, now, out);
    if (rc) return rc;
    char key[128], ps0[32];
    snprintf(key, sizeof key, "quota:%.36s:%s", u->id, resource);
    time_iso(out->period_start_ms, ps0);
    /* The cache keeps the counts; it is used while plan, period, bypass and limit agree. */
    json_t *c = cache_get_json(key);
    const char *cp = json_string_value(json_object_get(c, "plan_type"));
    const char *cs = json_string_value(json_object_get(c, "period_start"));
    if (cp && cs && !strcmp(cp, out->plan_type) && !strcmp(cs, ps0) &&
        json_is_true(json_object_get(c, "limits_bypassed")) == out->limits_bypassed &&
        json_integer_value(json_object_get(c, "max_allowed")) == out->max_allowed) {
        out->current_usage = json_integer_value(json_object_get(c, "current_usage"));
        out->reserved = json_integer_value(json_object_get(c, "reserved"));
    } else {
        char mkey[8];
        period_month_key(now, mkey);
        rc = store_quota_taken(u->id, resource, mkey, now, &out->current_usage, &out->reserved);
        json_decref(c);
        if (rc) return rc;
        c = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I}", "plan_type", out->plan_type, "period_start",
                      ps0, "limits_bypassed", out->limits_bypassed, "max_allowed",
                      (json_int_t)out->max_allowed, "current_usage", (json_int_t)out->current_usage,
                      "reserved", (json_int_t)out->reserved);
        cache_set_json(key, c, quota_ttl_s);
    }
    json_decref(c);
    quota_end(out);
    return 0;
}

int billing_record_usage(const char *user_id, const char *resource, int64_t quantity, json_t *extra)
{
    if (!enabled) return 0;
    if (quantity < 1 || plan_resource_index(resource) < 0) return RAGD_EINVAL;
    int64_t now = time_now_ms();
    struct period month;
    period_month(now, &month);
    char mkey[8], ps[32], pe[32];
    period_month_key(now, mkey);
    char *x = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    db_conn_t *c = db_conn();
    int rc = db_begin_for(c, user_id);
    if (!rc) {
        rc = store_counter_add(user_id, resource, mkey, quantity);
        if (!rc)
            rc = store_usage_add(user_id, resource, quantity, time_iso(month.start_ms, ps),
                                 time_iso(month.end_ms - 1, pe), x);
        rc = end_tx(c, rc);
    }
    free(x);
    return rc;
}

/* ---- holds ---- */

enum { MAX_ITEMS = 8 };

struct hold_item {
    char name[PLAN_NAME_MAX];
    char period[11];
    int64_t qty;
    int monthly;              /* a plan resource: a usage record is written on commit */
    int metered;              /* daily_tokens held by billing_tokens_reserve: commits what
                                 tokens_used says was used, not what was held */
    int64_t start_ms, end_ms; /* its period */
};

enum { MAX_COUNTS = 4 };

struct billing_hold {
    char id[37], user_id[37];
    struct hold_item items[MAX_ITEMS];
    int n;
    int written; /* some of its items are rows of quota_holds (a limit was checked) */
    struct {
        char resource[PLAN_NAME_MAX];
        int64_t n;
    } counts[MAX_COUNTS]; /* activity counts written with the usage (billing_hold_count) */
    int ncounts;
    char org_id[37], org_resource[PLAN_NAME_MAX]; /* billing_hold_org; org_id "" if none */
    json_t *extra;
    int done;
};

/* What one reservation asks for. With min > 0 the want is a range: up to qty, cut to what
 * the limit leaves when that is at least min (reserve() writes the quantity held to qty). */
struct want {
    const char *name;
    int64_t qty, limit;
    int monthly;
    int64_t min;
};

struct billing_hold *billing_hold_new(const char *user_id)
{
    RAGD_ASSERT(user_id != NULL);
    struct billing_hold *h = xcalloc(1, sizeof *h);
    uuid4(h->id);
    snprintf(h->user_id, sizeof h->user_id, "%s", user_id);
    return h;
}

void billing_hold_free(struct billing_hold *h)
{
    if (!h) return;
    billing_release(h);
    json_decref(h->extra);
    free(h);
}

static int held_already(const struct billing_hold *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->items[i].name, name)) return 1;
    return 0;
}

/* Adds qty to the in-memory copy of the hold (what commit will record). */
static void note_item(struct billing_hold *h, const struct want *w, const char *period,
                      const struct period *per)
{
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->items[i].name, w->name)) {
            h->items[i].qty += w->qty;
            h->items[i].metered |= w->min > 0;
            return;
        }
    RAGD_ASSERT(h->n < MAX_ITEMS); /* take() checks before reserving */
    struct hold_item *it = &h->items[h->n++];
    snprintf(it->name, sizeof it->name, "%s", w->name);
    snprintf(it->period, sizeof it->period, "%s", period);
    it->qty = w->qty;
    it->monthly = w->monthly;
    it->metered = w->min > 0;
    it->start_ms = per->start_ms;
    it->end_ms = per->end_ms;
}

/* Checks every want against its limit and writes the holds, all in one transaction (or, with
 * no limit to check, only notes them in h). Returns 0, RAGD_ELIMIT with *index / *used of the want
 * that did not fit, or a store error. */
static int reserve(struct billing_hold *h, struct want *w, int n, int bypass, int *index,
                   int64_t *used_out)
{
    int64_t now = time_now_ms();
    struct period month, day;
    period_month(now, &month);
    period_day(now, &day);
    char mkey[8], dkey[11];
    period_month_key(now, mkey);
    period_day_key(now, dkey);
    db_conn_t *c = db_conn();
    /* On PostgreSQL the purge goes out with the one read of every limited counter, and the
     * holds with the COMMIT: two round trips (none when there is nothing to check). The lock
     * keeps the read-check-write atomic per user. */
    const char *cnames[3], *cperiods[3];
    int64_t cused[3] = {0}, cheld[3] = {0};
    int nc = 0, ci[3];
    RAGD_ASSERT(n <= 3);
    for (int i = 0; i < n; i++)
        if (!bypass && w[i].limit >= 0) {
            ci[i] = nc;
            cnames[nc] = w[i].name;
            cperiods[nc++] = w[i].monthly ? mkey : dkey;
        }
    /* Nothing to check (a superuser, enforcement off, no limit on any of them): the holds
     * would only show other requests a use that no limit counts, so they stay in memory and
     * the request's one transaction is its commit. */
    if (!nc) {
        for (int i = 0; i < n; i++)
            if (w[i].qty > 0)
                note_item(h, &w[i], w[i].monthly ? mkey : dkey, w[i].monthly ? &month : &day);
        return 0;
    }
    int rc = db_begin_batch(c, h->user_id);
    if (rc) return rc;
    rc = store_hold_purge(h->user_id, now);
    if (!rc && nc) rc = store_quotas_taken(h->user_id, nc, cnames, cperiods, now, cused, cheld);
    for (int i = 0; !rc && i < n; i++) {
        if (!bypass && w[i].limit >= 0) {
            int64_t used = cused[ci[i]], held = cheld[ci[i]];
            int64_t have = used + held, left = w[i].limit - have;
            if (w[i].min > 0 && left >= w[i].min && left < w[i].qty)
                w[i].qty = left; /* a range: take what is left */
            if (w[i].qty > left || (w[i].qty == 0 && have >= w[i].limit)) {
                *index = i;
                *used_out = have;
                rc = RAGD_ELIMIT;
                break;
            }
        }
    }
    /* Every want fitted: the holds go in together (the names are distinct, so checking one
     * want never needed the hold of another). */
    const char *names[3], *periods[3];
    int64_t qtys[3];
    int k = 0;
    for (int i = 0; !rc && i < n; i++)
        if (w[i].qty > 0) {
            names[k] = w[i].name;
            periods[k] = w[i].monthly ? mkey : dkey;
            qtys[k++] = w[i].qty;
        }
    if (!rc && k)
        rc = store_holds_add(h->id, h->user_id, k, names, periods, qtys, now + hold_ttl_ms);
    if ((rc = end_tx(c, rc))) return rc;
    h->written |= k > 0;
    for (int i = 0; i < n; i++)
        if (w[i].qty > 0)
            note_item(h, &w[i], w[i].monthly ? mkey : dkey, w[i].monthly ? &month : &day);
    return 0;
}

static int take(struct billing_hold *h, const struct user *u, struct want *w, int n,
                struct billing_refusal *ref)
{
    RAGD_ASSERT(!strcmp(h->user_id, u->id));
    const struct plan *p = plan_for(u->subscription_plan);
    if (h->done) {
        log_json(LOG_ERROR, "quota reserved after the request's holds were settled",
                 json_pack("{s:s}", "hold_id", h->id));
        return RAGD_ECONFLICT;
    }
    /* A request pays one daily request however many resources it reserves. */
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!(!strcmp(w[i].name, "daily_requests") && held_already(h, "daily_requests")))
            w[m++] = w[i];
    int fresh = 0;
    for (int i = 0; i < m; i++)
        fresh += w[i].qty > 0 && !held_already(h, w[i].name);
    if (h->n + fresh > MAX_ITEMS) {
        log_json(LOG_ERROR, "too many quota counters on one request",
                 json_pack("{s:s, s:i}", "hold_id", h->id, "max", MAX_ITEMS));
        return RAGD_ERANGE;
    }
    int index = 0;
    int64_t used = 0;
    int rc = reserve(h, w, m, u->is_superuser || !enforce, &index, &used);
    if (!rc) return 0;
    if (rc == RAGD_ELIMIT) {
        const struct want *x = &w[index];
        struct period per;
        if (x->monthly)
            period_month(time_now_ms(), &per);
        else
            period_day(time_now_ms(), &per);
        memset(ref, 0, sizeof *ref);
        ref->monthly = x->monthly;
        snprintf(ref->name, sizeof ref->name, "%s", x->name);
        snprintf(ref->plan_type, sizeof ref->plan_type, "%s", p->type);
        ref->upgrade_to = plan_upgrade_to(p->type);
        ref->used = used;
        ref->limit = x->limit;
        ref->reset_ms = per.end_ms;
        metrics_reject("quota");
        count_quota_refusal(x->name);
        log_json(LOG_INFO, "quota refused",
                 json_pack("{s:s, s:s, s:I, s:I}", "user_id", u->id, "name", x->name, "used",
                           (json_int_t)used, "limit", (json_int_t)x->limit));
        return rc;
    }
    log_json(LOG_ERROR, "quota reservation failed",
             json_pack("{s:s, s:s}", "error", ragd_strerror(rc), "hold_id", h->id));
    return rc;
}

int billing_reserve(struct billing_hold *h, const struct user *u, const char *resource,
                    int64_t quantity, struct billing_refusal *ref)
{
    int ri = plan_resource_index(resource);
    if (ri < 0 || quantity < 1) {
        log_json(LOG_ERROR, "bad quota reservation",
                 json_pack("{s:s, s:I}", "resource", resource ? resource : "(null)", "quantity",
                           (json_int_t)quantity));
        return RAGD_EINVAL;
    }
    if (!enabled) return 0;
    const struct plan *p = plan_for(u->subscription_plan);
    struct want w[3];
    int n = 0;
    if (ri == RES_MESSAGES)
        w[n++] = (struct want){"daily_tokens", 0, plan_daily_limit(p, "daily_tokens"), 0, 0};
    if (ri == RES_MESSAGES || ri == RES_API_CALLS)
        w[n++] = (struct want){"daily_requests", 1, plan_daily_limit(p, "daily_requests"), 0, 0};
    w[n++] =
        (struct want){plan_resource_name((enum plan_resource)ri), quantity, p->limits[ri], 1, 0};
    return take(h, u, w, n, ref);
}

int billing_daily_take(struct billing_hold *h, const struct user *u, const char *name,
                       int64_t quantity, struct billing_refusal *ref)
{
    size_t len = name ? strlen(name) : 0;
    int ok = len > 0 && len < PLAN_NAME_MAX && quantity >= 1 && plan_resource_index(name) < 0;
    for (size_t i = 0; ok && i < len; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
             name[i] == '_';
    if (!ok) {
        log_json(LOG_ERROR, "bad daily limit name",
                 json_pack("{s:s}", "name", name ? name : "(null)"));
        return RAGD_EINVAL;
    }
    if (!enabled) return 0;
    const struct plan *p = plan_for(u->subscription_plan);
    struct want w = {name, quantity, plan_daily_limit(p, name), 0, 0};
    return take(h, u, &w, 1, ref);
}

int billing_tokens_reserve(struct billing_hold *h, const struct user *u, int64_t min_qty,
                           int64_t max_qty, int64_t *granted, struct billing_refusal *ref)
{
    if (min_qty < 1 || max_qty < min_qty) {
        log_json(LOG_ERROR, "bad token reservation",
                 json_pack("{s:I, s:I}", "min", (json_int_t)min_qty, "max", (json_int_t)max_qty));
        return RAGD_EINVAL;
    }
    *granted = max_qty;
    if (!enabled) return 0;
    const struct plan *p = plan_for(u->subscription_plan);
    struct want w = {"daily_tokens", max_qty, plan_daily_limit(p, "daily_tokens"), 0, min_qty};
    int rc = take(h, u, &w, 1, ref);
    if (!rc) *granted = w.qty;
    return rc;
}

void billing_usage_extra(struct billing_hold *h, json_t *extra)
{
    json_decref(h->extra);
    h->extra = extra;
}

void billing_hold_count(struct billing_hold *h, const char *resource, int64_t n)
{
    if (h->done || h->ncounts == MAX_COUNTS || strlen(resource) >= PLAN_NAME_MAX) {
        store_usage_hit(h->user_id, resource, n);
        return;
    }
    snprintf(h->counts[h->ncounts].resource, PLAN_NAME_MAX, "%s", resource);
    h->counts[h->ncounts++].n = n;
}

int billing_hold_org(struct billing_hold *h, const char *org_id, const char *resource)
{
    if (h->done || h->org_id[0] || strlen(org_id) >= sizeof h->org_id ||
        strlen(resource) >= PLAN_NAME_MAX)
        return RAGD_ERANGE;
    snprintf(h->org_id, sizeof h->org_id, "%s", org_id);
    snprintf(h->org_resource, sizeof h->org_resource, "%s", resource);
    return 0;
}

/* Drops the cached quotas of the monthly resources the hold touched. Every request does
 * this, so it does not wait for the cache's answer (cache_del_nowait). */
static void hold_forget(const struct billing_hold *h)
{
    char key[128];
    for (int i = 0; i < h->n; i++)
        if (h->items[i].monthly) {
            quota_key(key, h->user_id, h->items[i].name);
            cache_del_nowait(key);
        }
}

/* The counter additions of one commit, one entry per (name, period): written three to a
 * statement. */
struct counts {
    int n;
    const char *names[MAX_ITEMS + 1], *periods[MAX_ITEMS + 1];
    int64_t qtys[MAX_ITEMS + 1];
};

static void counts_add(struct counts *cs, const char *name, const char *period, int64_t qty)
{
    for (int i = 0; i < cs->n; i++)
        if (!strcmp(cs->names[i], name) && !strcmp(cs->periods[i], period)) {
            cs->qtys[i] += qty;
            return;
        }
    RAGD_ASSERT(cs->n < MAX_ITEMS + 1);
    cs->names[cs->n] = name;
    cs->periods[cs->n] = period;
    cs->qtys[cs->n++] = qty;
}

static int counts_write(const struct counts *cs, const char *user_id)
{
    int rc = 0;
    for (int i = 0; !rc && i < cs->n; i += 3) {
        int k = cs->n - i < 3 ? cs->n - i : 3;
        rc = store_counters_add(user_id, k, cs->names + i, cs->periods + i, cs->qtys + i);
    }
    return rc;
}

/* billing_commit; with q, billing_commit_quota. */
static int commit(struct billing_hold *h, const struct user *u, const char *resource,
                  struct billing_quota *q)
{
    if (h->done) return 0;
    int64_t now = time_now_ms();
    char mkey[8];
    period_month_key(now, mkey);
    if (q && quota_start(u, resource, now, q)) return RAGD_EINVAL;
    char *x = h->extra ? json_dumps(h->extra, JSON_COMPACT) : NULL;
    json_t *tok = h->extra ? json_object_get(h->extra, "tokens_used") : NULL;
    int has_tokens = json_is_integer(tok) && json_integer_value(tok) >= 0;
    int64_t tokens = has_tokens ? json_integer_value(tok) : 0;
    int metered = 0;
    struct counts cs = {0};
    db_conn_t *c = db_conn();
    /* Writes only: on PostgreSQL the whole transaction goes out with its COMMIT. */
    int rc = db_begin_batch(c, h->user_id);
    int began = !rc;
    for (int i = 0; !rc && i < h->n; i++) {
        struct hold_item *it = &h->items[i];
        int64_t qty = it->qty;
        if (it->metered) {
            /* The tokens held covered the prompt and the longest answer allowed; what the
             * generation used is committed and the rest goes back with the hold. */
            metered = 1;
            if (has_tokens) {
                if (tokens > qty)
                    log_json(LOG_WARN, "more tokens used than reserved",
                             json_pack("{s:s, s:I, s:I}", "hold_id", h->id, "reserved",
                                       (json_int_t)qty, "used", (json_int_t)tokens));
                qty = tokens;
            }
        }
        counts_add(&cs, it->name, it->period, qty);
        if (it->monthly) {
            char ps[32], pe[32];
            rc = store_usage_add(h->user_id, it->name, it->qty, time_iso(it->start_ms, ps),
                                 time_iso(it->end_ms - 1, pe), x);
        }
    }
    char dkey[11]; /* outlives cs's use of it */
    if (!rc && tokens > 0 && !metered) {
        period_day_key(time_now_ms(), dkey);
        counts_add(&cs, "daily_tokens", dkey, tokens);
    }
    if (!rc) rc = counts_write(&cs, h->user_id);
    for (int i = 0; !rc && i < h->ncounts; i++)
        rc = store_usage_hit(h->user_id, h->counts[i].resource, h->counts[i].n);
    if (!rc && h->org_id[0])
        rc = store_org_usage_add_both(h->org_id, h->org_resource, h->user_id, 1);
    if (!rc && h->written) rc = store_hold_drop(h->id);
    if (began && !rc && q) {
        /* The quota as this commit leaves it, read with it (no round trip of its own). */
        if ((rc = store_quota_taken_commit(h->user_id, resource, mkey, now, &q->current_usage,
                                           &q->reserved)))
            db_rollback(c);
        else
            quota_end(q);
    } else if (began) {
        rc = end_tx(c, rc);
    }
    free(x);
    if (rc) {
        /* The response is already decided; the hold stays until it expires. */
        log_json(LOG_ERROR, "usage not recorded",
                 json_pack("{s:s, s:s}", "hold_id", h->id, "error", ragd_strerror(rc)));
        return rc;
    }
    h->done = 1;
    hold_forget(h);
    return 0;
}

int billing_commit(struct billing_hold *h)
{
    return commit(h, NULL, NULL, NULL);
}

int billing_commit_quota(struct billing_hold *h, const struct user *u, const char *resource,
                         struct billing_quota *q)
{
    RAGD_ASSERT(!strcmp(u->id, h->user_id));
    int rc, read = 0;
    if (h->done || plan_resource_index(resource) < 0)
        rc = billing_commit(h);
    else
        rc = commit(h, u, resource, q), read = !rc;
    if (!read && (rc || billing_quota(u, resource, q))) memset(q, 0, sizeof *q);
    return rc;
}

void billing_release(struct billing_hold *h)
{
    if (h->done) return;
    h->done = 1;
    if (h->written) { /* else nothing of it reached the store or the cached quotas */
        hold_forget(h);
        int rc = store_hold_drop(h->id);
        if (rc)
            log_json(LOG_WARN, "quota hold not released (it will expire)",
                     json_pack("{s:s, s:s}", "hold_id", h->id, "error", ragd_strerror(rc)));
    }
}
