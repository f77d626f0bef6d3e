/* stats.c (api) - GET /admin/stats: what the admin dashboard draws, in one JSON document.
 *
 * Activity per day (messages and searches, from the hourly usage_analytics counters), users
 * and this month's messages per plan with the quota burn (messages used against what the
 * plan's users may send, next to the share of the month gone), the top users of the month,
 * and this node's own figures: requests and p95 latency per API route since start, requests
 * in flight, and the local generator's queue depth and speed. The node's figures are read
 * from the metrics registry's Prometheus rendering, the same numbers /metrics shows.
 *
 * Over the same window of STATS_DAYS days (from the first day's midnight, UTC), from the
 * store so that every node shows the same:
 * - per_user: requests (chat messages, searches and /v1 chat completions) and tokens (chat
 *   answers' and /v1 completions'), averaged over every account and over the active ones
 *   (those that made such a request in the window);
 * - feature_popularity: uses of each feature, most used first: chat (messages answered),
 *   search (searches), documents (uploads), v1 (chat completions, as metered by billing),
 *   widget (widget answers of every organization);
 * - conversion: of the accounts that existed at the window's start on the free plan, those
 *   that moved to a paid plan (a price above 0) within it, from the billing history (the
 *   plan at the start is the old plan of the first change after it, or the plan now when
 *   there was none). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "billing/period.h"
#include "billing/plans.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/stats.h"

#include <jansson.h>

enum { STATS_DAYS = 30, STATS_TOP_USERS = 10, STATS_TOP_ROUTES = 10 };

/* ---- activity per day ---- */

static int daily_json(int64_t now, json_t **out)
{
    struct stats_day *msgs = NULL, *srch = NULL;
    size_t nm = 0, ns = 0;
    char since[11];
    period_day_key(now - (int64_t)(STATS_DAYS - 1) * 86400000, since);
    int rc = store_stats_daily("messages", since, &msgs, &nm);
    if (!rc) rc = store_stats_daily("searches", since, &srch, &ns);
    if (rc) {
        free(msgs);
        free(srch);
        return rc;
    }
    json_t *days = json_array();
    size_t im = 0, is = 0;
    for (int i = STATS_DAYS - 1; i >= 0; i--) {
        char key[11];
        period_day_key(now - (int64_t)i * 86400000, key);
        int64_t m = 0, s = 0;
        while (im < nm && strcmp(msgs[im].date, key) < 0)
            im++;
        if (im < nm && !strcmp(msgs[im].date, key)) m = msgs[im].count;
        while (is < ns && strcmp(srch[is].date, key) < 0)
            is++;
        if (is < ns && !strcmp(srch[is].date, key)) s = srch[is].count;
        json_array_append_new(days, json_pack("{s:s, s:I, s:I}", "date", key, "messages",
                                              (json_int_t)m, "searches", (json_int_t)s));
    }
    free(msgs);
    free(srch);
    *out = days;
    return 0;
}

/* ---- plans, top users, quota burn ---- */

static json_t *ratio_or_null(int64_t used, int64_t allowed)
{
    return allowed > 0 ? json_real((double)used / (double)allowed) : json_null();
}

static int64_t message_limit(const char *plan)
{
    const struct plan *p = plan_get(plan);
    return p ? p->limits[RES_MESSAGES] : -1;
}

static int usage_json(int64_t now, json_t *doc)
{
    struct stats_plan *plans;
    size_t np;
    int rc = store_stats_plans(&plans, &np);
    if (rc) return rc;
    char mkey[8];
    period_month_key(now, mkey);
    struct stats_usage *us;
    size_t nu;
    rc = store_stats_usage("messages", mkey, -1, &us, &nu);
    if (rc) {
        free(plans);
        return rc;
    }
    struct period month;
    period_month(now, &month);
    double elapsed = (double)(now - month.start_ms) / (double)(month.end_ms - month.start_ms);

    json_t *plan_rows = json_array();
    int64_t used_all = 0, allowed_all = 0, over80 = 0, at_limit = 0;
    for (size_t i = 0; i < np; i++) {
        int64_t limit = message_limit(plans[i].plan), used = 0;
        for (size_t k = 0; k < nu; k++)
            if (!strcmp(us[k].plan, plans[i].plan)) used += us[k].quantity;
        int64_t allowed = limit >= 0 ? limit * plans[i].users : -1;
        if (allowed >= 0) {
            used_all += used;
            allowed_all += allowed;
        }
        const struct plan *p = plan_get(plans[i].plan);
        json_array_append_new(plan_rows,
                              json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "plan",
                                        plans[i].plan, "name", p ? p->name : plans[i].plan, "users",
                                        (json_int_t)plans[i].users, "active_users",
                                        (json_int_t)plans[i].active_users, "messages",
                                        (json_int_t)used, "message_limit", (json_int_t)limit,
                                        "quota_burn", ratio_or_null(used, allowed)));
    }
    json_t *top = json_array();
    for (size_t k = 0; k < nu; k++) {
        int64_t limit = message_limit(us[k].plan);
        if (limit > 0 && us[k].quantity * 10 >= limit * 8) over80++;
        if (limit >= 0 && us[k].quantity >= limit) at_limit++;
        if (k < STATS_TOP_USERS)
            json_array_append_new(top, json_pack("{s:s, s:s, s:s, s:I, s:I}", "user_id",
                                                 us[k].user_id, "email", us[k].email, "plan",
                                                 us[k].plan, "messages", (json_int_t)us[k].quantity,
                                                 "message_limit", (json_int_t)limit));
    }
    char ps[32], pe[32];
    json_object_set_new(doc, "plans", plan_rows);
    json_object_set_new(doc, "top_users", top);
    json_object_set_new(doc, "quota_burn",
                        json_pack("{s:s, s:s, s:s, s:f, s:I, s:I, s:o, s:I, s:I}", "month", mkey,
                                  "period_start", time_iso(month.start_ms, ps), "period_end",
                                  time_iso(month.end_ms - 1, pe), "month_elapsed", elapsed,
                                  "messages_used", (json_int_t)used_all, "messages_allowed",
                                  (json_int_t)allowed_all, "burn",
                                  ratio_or_null(used_all, allowed_all), "users_over_80_percent",
                                  (json_int_t)over80, "users_at_limit", (json_int_t)at_limit));
    free(plans);
    store_stats_usage_free(us, nu);
    return 0;
}

/* ---- per user, features, conversion (the window, from the store) ---- */

struct v1_sum {
    int64_t requests, tokens;
};

static int on_v1(void *ud, const char *user_id, const char *extra)
{
    struct v1_sum *v = ud;
    json_error_t je;
    json_t *x = json_loads(extra, 0, &je);
    json_t *t = json_object_get(x, "tokens_used");
    v->requests++;
    if (json_is_integer(t) && json_integer_value(t) > 0) v->tokens += json_integer_value(t);
    json_decref(x);
    return 0;
}

/* The walk over plan changes: one user at a time (rows come by user). */
struct conversion {
    const char *since;
    char user[37];
    int counted;                       /* the current user was created before since */
    int free_at_start, now_free, paid; /* of the current user */
    int64_t free_users_changed_now_free, free_at_start_changed, converted;
};

static int paid_plan(const char *type)
{
    const struct plan *p = type ? plan_get(type) : NULL;
    return p && plan_price(p, 0) > 0;
}

static void conversion_flush(struct conversion *c)
{
    if (c->user[0] && c->counted) {
        c->free_users_changed_now_free += c->now_free;
        c->free_at_start_changed += c->free_at_start;
        c->converted += c->free_at_start && c->paid;
    }
    c->user[0] = '\0';
}

static int on_change(void *ud, const char *user_id, const char *created_at, const char *plan,
                     const char *meta)
{
    struct conversion *c = ud;
    json_error_t je;
    json_t *m = json_loads(meta, 0, &je);
    const char *old_plan = json_string_value(json_object_get(m, "old_plan"));
    const char *new_plan = json_string_value(json_object_get(m, "new_plan"));
    if (strcmp(c->user, user_id)) {
        conversion_flush(c);
        snprintf(c->user, sizeof c->user, "%s", user_id);
        c->counted = strcmp(created_at, c->since) < 0;
        c->free_at_start = old_plan && !strcmp(old_plan, "free");
        c->now_free = !strcmp(plan, "free");
        c->paid = 0;
    }
    c->paid |= paid_plan(new_plan);
    json_decref(m);
    return 0;
}

static json_t *avg_or_null(int64_t total, int64_t n)
{
    return n > 0 ? json_real((double)total / (double)n) : json_null();
}

static int window_json(int64_t now, json_t *doc)
{
    char day[11], since[32];
    int64_t start = now - (int64_t)(STATS_DAYS - 1) * 86400000;
    period_day_key(start, day);
    snprintf(since, sizeof since, "%sT00:00:00.000Z", day);
    struct stats_window w;
    struct v1_sum v1 = {0};
    struct conversion conv = {.since = since};
    int64_t free_before = 0;
    int rc = store_stats_window(day, since, &w);
    if (!rc) rc = store_stats_v1(since, on_v1, &v1);
    if (!rc) rc = store_stats_plan_changes(since, on_change, &conv);
    if (!rc) rc = store_stats_users_on("free", since, &free_before);
    if (rc) return rc;
    conversion_flush(&conv);

    int64_t requests = w.chat + w.searches + v1.requests, tokens = w.tokens + v1.tokens;
    json_object_set_new(
        doc, "per_user",
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "since", since, "users",
                  (json_int_t)w.users, "active_users", (json_int_t)w.active_users, "requests",
                  (json_int_t)requests, "tokens", (json_int_t)tokens, "average_requests_per_user",
                  avg_or_null(requests, w.users), "average_tokens_per_user",
                  avg_or_null(tokens, w.users), "average_requests_per_active_user",
                  avg_or_null(requests, w.active_users), "average_tokens_per_active_user",
                  avg_or_null(tokens, w.active_users)));

    struct feature_use {
        const char *name;
        int64_t uses;
    } f[] = {{"chat", w.chat},
             {"search", w.searches},
             {"documents", w.documents},
             {"v1", v1.requests},
             {"widget", w.widget}};
    size_t nf = sizeof f / sizeof f[0];
    int64_t all = 0;
    for (size_t i = 0; i < nf; i++)
        all += f[i].uses;
    for (size_t i = 1; i < nf; i++) /* insertion sort, most used first, stable */
        for (size_t k = i; k > 0 && f[k].uses > f[k - 1].uses; k--) {
            struct feature_use t = f[k];
            f[k] = f[k - 1];
            f[k - 1] = t;
        }
    json_t *pop = json_array();
    for (size_t i = 0; i < nf; i++)
        json_array_append_new(pop, json_pack("{s:s, s:I, s:o}", "feature", f[i].name, "uses",
                                             (json_int_t)f[i].uses, "share",
                                             avg_or_null(f[i].uses, all)));
    json_object_set_new(doc, "feature_popularity", pop);

    int64_t free_at_start =
        free_before - conv.free_users_changed_now_free + conv.free_at_start_changed;
    json_object_set_new(doc, "conversion",
                        json_pack("{s:s, s:I, s:I, s:o}", "since", since, "free_at_start",
                                  (json_int_t)free_at_start, "converted",
                                  (json_int_t)conv.converted, "rate",
                                  avg_or_null(conv.converted, free_at_start)));
    return 0;
}

/* ---- this node's metrics ---- */

/* Copies the value of label name from a Prometheus label list into out ("" when absent). */
static void label(const char *labels, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    char pat[32];
    snprintf(pat, sizeof pat, "%s=\"", name);
    const char *p = strstr(labels, pat);
    if (p && (p == labels || p[-1] == ',' || p[-1] == '{')) {
        p += strlen(pat);
        const char *e = strchr(p, '"');
        if (e && (size_t)(e - p) < cap) {
            memcpy(out, p, (size_t)(e - p));
            out[e - p] = '\0';
        }
    }
}

/* The pages and files of the web UI are not API routes. */
static int api_route(const char *route)
{
    return *route && strcmp(route, "unmatched") && strcmp(route, "other") && strcmp(route, "/") &&
           strcmp(route, "/admin") && strncmp(route, "/static/", 8) &&
           strncmp(route, "/vendor/", 8);
}

struct route_stat {
    char route[128];
    double requests;
    double le[32], cum[32]; /* the histogram's buckets, +Inf as INFINITY */
    int nb;
};

static struct route_stat *route_find(struct route_stat *rs, int *n, int cap, const char *route)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(rs[i].route, route)) return &rs[i];
    if (*n == cap) return NULL;
    struct route_stat *s = &rs[(*n)++];
    memset(s, 0, sizeof *s);
    snprintf(s->route, sizeof s->route, "%s", route);
    return s;
}

/* The upper bound of the bucket that holds the 95th percentile, in ms; -1 past the last. */
static double p95_ms(const struct route_stat *s)
{
    double total = 0;
    for (int i = 0; i < s->nb; i++)
        if (isinf(s->le[i])) total = s->cum[i];
    if (total <= 0) return 0;
    double best = INFINITY;
    for (int i = 0; i < s->nb; i++)
        if (s->cum[i] >= total * 0.95 && s->le[i] < best) best = s->le[i];
    return isinf(best) ? -1 : best * 1000.0;
}

static int by_requests(const void *a, const void *b)
{
    double x = ((const struct route_stat *)a)->requests,
           y = ((const struct route_stat *)b)->requests;
    return x < y   ? 1
           : x > y ? -1
                   : strcmp(((const struct route_stat *)a)->route,
                            ((const struct route_stat *)b)->route);
}

static json_t *server_json(void)
{
    enum { MAX_RS = 256 };
    struct route_stat *rs = xcalloc(MAX_RS, sizeof *rs);
    int nrs = 0;
    json_t *gen = json_pack("{s:n, s:n, s:n, s:n}", "queue_depth", "active", "tokens_total",
                            "last_tokens_per_second");
    static const struct {
        const char *metric, *key;
    } gauges[] = {
        {"ragd_generation_queue_depth", "queue_depth"},
        {"ragd_generation_active", "active"},
        {"ragd_generation_tokens_total", "tokens_total"},
        {"ragd_generation_last_tokens_per_second", "last_tokens_per_second"},
    };
    struct sbuf b;
    sb_init(&b);
    metrics_render(&b);
    for (char *line = b.s, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (*line == '#') continue;
        char *sp = strrchr(line, ' ');
        if (!sp) continue;
        *sp = '\0';
        double v = strtod(sp + 1, NULL);
        char *brace = strchr(line, '{');
        const char *labels = brace ? brace + 1 : "";
        if (brace) *brace = '\0';
        char route[128], le[32];
        if (!strcmp(line, "ragd_http_requests_total")) {
            label(labels, "route", route, sizeof route);
            struct route_stat *s = api_route(route) ? route_find(rs, &nrs, MAX_RS, route) : NULL;
            if (s) s->requests += v;
        } else if (!strcmp(line, "ragd_http_request_duration_seconds_bucket")) {
            label(labels, "route", route, sizeof route);
            label(labels, "le", le, sizeof le);
            struct route_stat *s = api_route(route) ? route_find(rs, &nrs, MAX_RS, route) : NULL;
            if (s && s->nb < 32) {
                s->le[s->nb] = strcmp(le, "+Inf") ? strtod(le, NULL) : INFINITY;
                s->cum[s->nb++] = v;
            }
        } else {
            for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
                if (!strcmp(line, gauges[i].metric) && !brace)
                    json_object_set_new(gen, gauges[i].key, json_real(v));
        }
    }
    sb_free(&b);
    qsort(rs, (size_t)nrs, sizeof *rs, by_requests);
    json_t *routes = json_array();
    for (int i = 0; i < nrs && i < STATS_TOP_ROUTES; i++) {
        double p = p95_ms(&rs[i]);
        json_array_append_new(routes, json_pack("{s:s, s:I, s:o}", "route", rs[i].route, "requests",
                                                (json_int_t)rs[i].requests, "p95_ms",
                                                p < 0 ? json_null() : json_real(p)));
    }
    free(rs);
    return json_pack("{s:o, s:i, s:o}", "routes", routes, "inflight", http_inflight(), "generation",
                     gen);
}

static void stats(struct req *r)
{
    int64_t now = time_now_ms();
    char at[32];
    json_t *doc = json_pack("{s:s, s:i}", "generated_at", time_iso(now, at), "days", STATS_DAYS);
    json_t *days = NULL;
    int rc = daily_json(now, &days);
    if (!rc) {
        json_object_set_new(doc, "daily", days);
        rc = usage_json(now, doc);
    }
    if (!rc) rc = window_json(now, doc);
    if (rc) {
        json_decref(doc);
        http_store_error(r, rc);
        return;
    }
    json_object_set_new(doc, "server", server_json());
    http_json(r, 200, doc);
}

const struct route stats_routes[] = {
    {.method = "GET",
     .pattern = "/admin/stats",
     .handler = stats,
     .access = ACCESS_ADMIN,
     .perm = "stats.read",
     .tag = "admin",
     .summary = "The admin dashboard's figures: messages and searches per day (30 days), users "
                "and messages by plan, top users, quota burn, average requests and tokens per "
                "user, feature popularity and free-to-paid conversion over the 30 days, and "
                "this node's requests, p95 latency per route and generation queue",
     .response_doc = "{generated_at, days, daily, plans, top_users, quota_burn, per_user, "
                     "feature_popularity, conversion, server}",
     .response =
         "{generated_at: string, days: int, daily: [{date: string, messages: int, searches: "
         "int}], plans: [{plan: string, name: string, users: int, active_users: int, messages: "
         "int, message_limit: int, quota_burn: number|null}], top_users: [{user_id: string, "
         "email: string, plan: string, messages: int, message_limit: int}], quota_burn: {month: "
         "string, period_start: string, period_end: string, month_elapsed: number, "
         "messages_used: int, messages_allowed: int, burn: number|null, users_over_80_percent: "
         "int, users_at_limit: int}, per_user: {since: string, users: int, active_users: int, "
         "requests: int, tokens: int, average_requests_per_user: number|null, "
         "average_tokens_per_user: number|null, average_requests_per_active_user: number|null, "
         "average_tokens_per_active_user: number|null}, feature_popularity: [{feature: "
         "'chat'|'search'|'documents'|'v1'|'widget', uses: int, share: number|null}], "
         "conversion: {since: string, free_at_start: int, converted: int, rate: number|null}, "
         "server: {routes: [{route: string, requests: int, p95_ms: number|null}], inflight: "
         "int, generation: {queue_depth: int|null, active: int|null, tokens_total: int|null, "
         "last_tokens_per_second: number|null}}}"},
    {NULL},
};
