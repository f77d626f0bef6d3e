/* guards.c - the guard stages every request passes before its handler: who is calling
 * (auth), how often (rate) and what their plan allows (quota). Each turns a service's
 * verdict into the response; the services themselves know nothing of HTTP. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "auth/roles.h"
#include "billing/billing.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/util.h"
#include "limits/limiter.h"
#include "limits/limits.h"
#include "ops/notify.h"
#include "store/chat.h"
#include "support/orgs.h"
#include "support/widget.h"

static void header_int(struct req *r, const char *name, int64_t v);

/* ---- auth ---- */

static void identity_free(void *p)
{
    struct auth_identity *id = p;
    auth_identity_clear(id);
    free(id);
}

void api_unauthorized(struct req *r, const char *code, const char *detail)
{
    metrics_reject("auth");
    http_header(r, "WWW-Authenticate", "Bearer");
    http_error(r, 401, code, "%s", detail);
}

static void refuse_credential(struct req *r, const struct auth_refusal *ref)
{
    switch (ref->why) {
    case AUTH_FAIL_TOKEN_EXPIRED:
        api_unauthorized(r, "TOKEN_EXPIRED", "Token has expired");
        break;
    case AUTH_FAIL_TOKEN_REVOKED:
        api_unauthorized(r, "INVALID_TOKEN", "Token has been revoked");
        break;
    case AUTH_FAIL_USER_GONE:
        api_unauthorized(r, "INVALID_TOKEN", "User no longer exists");
        break;
    case AUTH_FAIL_INVALID_API_KEY:
        api_unauthorized(r, "INVALID_API_KEY", "Invalid or revoked API key");
        break;
    default:
        api_unauthorized(r, "INVALID_TOKEN", "Invalid authentication token");
        break;
    }
}

/* The bearer credential of r: Authorization: Bearer X, else X-API-Key: X; NULL if none. */
static const char *credential(struct req *r)
{
    const char *h = req_header(r, "Authorization");
    const char *token = NULL;
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        token = h + 7;
        while (*token == ' ')
            token++;
    }
    if ((!token || !*token) && (h = req_header(r, "X-API-Key")) && *h) token = h;
    return token && *token ? token : NULL;
}

/* 403 for an authenticated caller whose role lacks the route's permission, audited as a
 * refused admin access. A plain user is told the route is for admins (ADMIN_REQUIRED); a
 * staff role that lacks this permission gets INSUFFICIENT_PERMISSIONS naming it. */
static void refuse_admin(struct req *r, const struct route *rt, const struct user *u)
{
    const char *perm = rt->perm ? rt->perm : "admin";
    metrics_reject("forbidden");
    log_json(LOG_WARN, "admin access denied",
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", u->id, "role", u->role, "path",
                       req_path(r), "permission", perm, "request_id", req_id(r)));
    json_t *details = json_pack("{s:s, s:s, s:s, s:s}", "method", rt->method, "path", req_path(r),
                                "permission", perm, "role", u->role);
    api_audit(r, "auth.admin_access_refused", "route", rt->pattern, details);
    json_decref(details);
    if (!roles_is_staff(u->role)) {
        http_error(r, 403, "ADMIN_REQUIRED", "Admin access required");
        return;
    }
    http_error_json(r, 403, "INSUFFICIENT_PERMISSIONS",
                    json_pack("{s:s, s:s, s:s}", "message",
                              "Your role does not have the permission this route needs",
                              "required_permission", perm, "role", u->role));
}

struct perm_scan {
    int rc;
    char *err;
    size_t errcap;
};

static void check_route_perm(const struct route *rt, void *arg)
{
    struct perm_scan *s = arg;
    if (s->rc) return;
    if (rt->perm && rt->access != ACCESS_ADMIN) {
        snprintf(s->err, s->errcap, "route %s %s names permission '%s' but is not an admin route",
                 rt->method, rt->pattern, rt->perm);
        s->rc = RAGD_EINVAL;
    } else if (rt->perm && !roles_perm_known(rt->perm)) {
        snprintf(s->err, s->errcap, "route %s %s needs unknown permission '%s'", rt->method,
                 rt->pattern, rt->perm);
        s->rc = RAGD_EINVAL;
    }
}

int api_check_permissions(char *err, size_t errcap)
{
    struct perm_scan s = {0, err, errcap};
    http_foreach_route(check_route_perm, &s);
    return s.rc;
}

/* 1 when rt is one of the widget's routes (api/widget.c), which take widget credentials. */
static int widget_route(const struct route *rt)
{
    return !strncmp(rt->pattern, "/widget/", 8);
}

/* 1 when feature (one of the route's toggles, a space-separated list) names word. */
static int names(const char *feature, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = feature; p && *p; p += strcspn(p, " "), p += *p == ' ') {
        if (!strncmp(p, word, n) && (p[n] == ' ' || !p[n])) return 1;
    }
    return 0;
}

/* The request's organization: read once per request and kept in its SLOT_ORG. Its cached
 * entry's read is started with the session's (org_early) and taken back unread at the end of
 * the auth guard when no gate needed it (org_early_done), on the request's own thread. */
struct org_slot {
    struct store_org o;
    struct store_org_fetch f;
    int read; /* o and rc are the read's */
    int rc;
};

static void org_slot_free(void *p)
{
    struct org_slot *s = p;
    if (s->read && !s->rc) store_org_clear(&s->o);
    free(s);
}

static struct org_slot *org_slot(struct req *r)
{
    struct org_slot *s = req_slot(r, SLOT_ORG);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        req_set_slot(r, SLOT_ORG, s, org_slot_free);
    }
    return s;
}

const struct store_org *api_org(struct req *r)
{
    const struct user *u = api_user(r);
    if (!u || !u->organization_id[0]) return NULL;
    struct org_slot *s = org_slot(r);
    if (!s->read) {
        s->rc = store_org_fetch_finish(&s->f, u->id, u->organization_id, &s->o);
        s->read = 1;
    }
    return s->rc ? NULL : &s->o;
}

static void org_early(struct req *r, const struct route *rt, const char *user_id)
{
    if (!rt->feature && !rt->quota) return;
    struct store_org_fetch f;
    store_org_fetch_start(user_id, &f);
    if (f.ticket) org_slot(r)->f = f; /* a member this node has seen */
}

static void org_early_done(struct req *r)
{
    struct org_slot *s = req_slot(r, SLOT_ORG);
    if (s && !s->read) store_org_fetch_cancel(&s->f);
}

/* An organization's features_enabled (support/orgs.h) refuses its members the routes of a
 * feature it leaves out: chat and search. Answers 403 ORG_FEATURE_DISABLED and returns 1. An
 * organization that cannot be read refuses nothing (the route's own checks still apply). */
static int org_feature_refused(struct req *r, const struct route *rt, const struct user *u)
{
    static const char *const gated[] = {"chat", "search"};
    if (!u->organization_id[0] || !rt->feature || u->is_superuser) return 0;
    for (size_t i = 0; i < sizeof gated / sizeof gated[0]; i++) {
        if (!names(rt->feature, gated[i])) continue;
        const struct store_org *o = api_org(r);
        if (o && !orgs_feature_on(o, gated[i])) {
            http_error(r, 403, "ORG_FEATURE_DISABLED",
                       "Your organization has turned off the feature '%s'", gated[i]);
            return 1;
        }
    }
    return 0;
}

static void org_usage_on_reply(struct req *r, int status, void *arg)
{
    const struct user *u = api_user(r);
    if (status < 400 && u && u->organization_id[0])
        orgs_quota_record(u->organization_id, u->id, arg);
}

/* A member's request to a metered route also counts for their organization (support/orgs.h):
 * answers 429 ORG_RATE_LIMITED or ORG_QUOTA_EXCEEDED and returns 1, or arranges the count. */
static int org_quota_refused(struct req *r, const struct route *rt, const struct user *u)
{
    if (!u->organization_id[0] || !rt->quota || u->is_superuser) return 0;
    struct orgs_refusal ref;
    const struct store_org *o = api_org(r);
    if (o && orgs_quota_check(o, rt->quota, &ref)) {
        metrics_reject("rate_limit");
        header_int(r, "Retry-After", ref.retry_after_s);
        http_error(r, 429, ref.code, "%s", ref.detail);
        return 1;
    }
    /* Counted with the request's usage when it has a reservation (status < 400 commits it,
     * so the same replies count), else once the reply is decided. */
    struct billing_hold *h = api_quota_hold(r);
    if (!h || billing_hold_org(h, u->organization_id, rt->quota))
        req_on_reply(r, org_usage_on_reply, (void *)rt->quota);
    return 0;
}

/* ---- the rate take started with authentication ----
 *
 * With the shared limiter the route's rate take is queued as soon as the token names its
 * user, so that it goes to Redis together with the session read: one round trip for both.
 * The rate stage then uses its answer. A request refused before that stage (a revoked
 * token, a gate) withdraws it: never sent, or its call given back. Superusers are not
 * limited, so users this node saw to be superusers are remembered (a per-node hint that only
 * decides whether to start early) and their takes are not started. */

struct rate_slot {
    struct limits_early e;
    char subject[48];
    int live; /* started and neither finished nor withdrawn */
};

enum { SUPER_HINTS = 64 };
static _Atomic uint64_t super_hints[SUPER_HINTS];

static uint64_t hint_hash(const char *user_id)
{
    uint64_t h = fnv1a(FNV1A_START, user_id, strlen(user_id));
    return h ? h : 1; /* 0 marks an empty slot */
}

static int super_hinted(const char *user_id)
{
    uint64_t h = hint_hash(user_id);
    return atomic_load(&super_hints[h % SUPER_HINTS]) == h;
}

static void super_hint(const char *user_id, int is_super)
{
    uint64_t h = hint_hash(user_id), cur = h;
    if (is_super)
        atomic_store(&super_hints[h % SUPER_HINTS], h);
    else
        atomic_compare_exchange_strong(&super_hints[h % SUPER_HINTS], &cur, 0);
}

static void rate_withdraw(struct req *r, int status, void *arg)
{
    (void)status, (void)arg;
    struct rate_slot *rs = req_slot(r, SLOT_RATE);
    if (rs && rs->live) limits_take_cancel(&rs->e);
    if (rs) rs->live = 0;
}

struct early_arg {
    struct req *r;
    const struct route *rt;
};

/* Runs once the token names its user, before the session read: what can go to Redis with
 * it is queued (the route's rate take, the organization's cached entry). Superusers this
 * node saw are neither limited nor gated by an organization. */
static void auth_early(const char *user_id, void *arg)
{
    struct early_arg *a = arg;
    if (super_hinted(user_id)) return;
    org_early(a->r, a->rt, user_id);
    if (!a->rt->rate || !limits_enabled()) return;
    struct rate_slot *rs = xcalloc(1, sizeof *rs);
    snprintf(rs->subject, sizeof rs->subject, "u:%s", user_id);
    if (limits_take_early(a->rt->rate, rs->subject, &rs->e)) {
        free(rs);
        return;
    }
    rs->live = 1;
    req_set_slot(a->r, SLOT_RATE, rs, free);
    req_on_reply(a->r, rate_withdraw, NULL);
}

static int auth_guard(struct req *r, const struct route *rt)
{
    const char *token = credential(r);
    if (token && widget_credential(token)) {
        /* Widget keys and session tokens are checked by the widget's handlers, and are
         * worth nothing anywhere else. */
        if (widget_route(rt)) return 0;
        metrics_reject("auth");
        http_error(r, 403, "WIDGET_TOKEN_NOT_ALLOWED",
                   "A widget key or session token is only valid on /widget/ routes");
        return 1;
    }
    if (!token) {
        if (rt->access == ACCESS_PUBLIC) return 0;
        api_unauthorized(r, "NOT_AUTHENTICATED", "Not authenticated");
        return 1;
    }
    struct auth_identity *id = xcalloc(1, sizeof *id);
    struct auth_refusal ref = {AUTH_FAIL_NONE, 0};
    struct early_arg ea = {r, rt};
    int rc = auth_authenticate(token, id, &ref, auth_early, &ea);
    if (rc) {
        free(id);
        if (rc == RAGD_EPERM && rt->access == ACCESS_PUBLIC)
            return 0; /* a bad credential on a public route is ignored, not trusted */
        if (rc == RAGD_EPERM)
            refuse_credential(r, &ref);
        else
            http_store_error(r, rc);
        return 1;
    }
    req_set_slot(r, SLOT_AUTH, id, identity_free);
    req_set_user(r, id->user.id);
    if (id->claims.emergency) { /* accepted once (auth.h): say what it was used for */
        json_t *d = json_pack("{s:s, s:s, s:s}", "jti", id->claims.jti, "method", rt->method,
                              "path", req_path(r));
        api_audit(r, "auth.emergency_token.used", "user", id->user.id, d);
        json_decref(d);
        notify_emit(NULL, NOTIFY_SECURITY,
                    json_pack("{s:s, s:s, s:s, s:s}", "event", "emergency_token_used", "user_id",
                              id->user.id, "jti", id->claims.jti, "path", req_path(r)));
    }
    if (!id->user.is_active && rt->access != ACCESS_PUBLIC) {
        metrics_reject("auth");
        http_error(r, 403, "USER_INACTIVE", "User account is deactivated");
        return 1;
    }
    if (rt->access == ACCESS_ADMIN && !roles_allows(id->user.role, rt->perm)) {
        refuse_admin(r, rt, &id->user);
        return 1;
    }
    return org_feature_refused(r, rt, &id->user) || org_quota_refused(r, rt, &id->user);
}

int api_auth_guard(struct req *r, const struct route *rt)
{
    int refused = auth_guard(r, rt);
    org_early_done(r);
    return refused;
}

const struct auth_identity *api_identity(struct req *r)
{
    return req_slot(r, SLOT_AUTH);
}

const struct user *api_user(struct req *r)
{
    const struct auth_identity *id = req_slot(r, SLOT_AUTH);
    return id ? &id->user : NULL;
}

/* ---- rate ---- */

static void header_int(struct req *r, const char *name, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    http_header(r, name, buf);
}

struct scan {
    int rc;
    char *err;
    size_t errcap;
};

static void define_route_resource(const struct route *rt, void *arg)
{
    struct scan *s = arg;
    if (!s->rc && rt->rate) s->rc = limits_define(rt->rate, s->err, s->errcap);
}

int api_rate_resources(char *err, size_t errcap)
{
    struct scan s = {0, err, errcap};
    http_foreach_route(define_route_resource, &s);
    return s.rc;
}

int api_rate_guard(struct req *r, const struct route *rt)
{
    if (!rt->rate) return 0;
    const struct user *u = api_user(r);
    struct rate_slot *rs = req_slot(r, SLOT_RATE);
    if (u) super_hint(u->id, u->is_superuser);
    if (u && u->is_superuser) {
        rate_withdraw(r, 0, NULL);
        return 0;
    }
    char subject[96];
    if (u)
        snprintf(subject, sizeof subject, "u:%s", u->id);
    else
        snprintf(subject, sizeof subject, "ip:%.64s", req_ip(r));
    struct limits_verdict v;
    int rc;
    if (rs && rs->live && !strcmp(rs->subject, subject)) {
        rs->live = 0;
        rc = limits_take_finish(&rs->e, &v);
    } else {
        rate_withdraw(r, 0, NULL);
        rc = limits_take(rt->rate, subject, &v);
    }
    if (rc == RAGD_ENOTFOUND) return 0;
    if (rc) {
        /* Fail open: a broken limiter backend must not take the API down. */
        log_json(LOG_WARN, "rate limiter unavailable; request allowed",
                 json_pack("{s:s, s:s}", "backend", limiter_backend(), "error", ragd_strerror(rc)));
        return 0;
    }
    header_int(r, "X-RateLimit-Limit", v.calls);
    header_int(r, "X-RateLimit-Remaining", v.remaining);
    header_int(r, "X-RateLimit-Reset", v.reset_s);
    if (v.allowed) return 0;
    header_int(r, "Retry-After", v.retry_after_s);
    metrics_reject("rate_limit");
    http_error(r, 429, "RATE_LIMIT_EXCEEDED",
               "Rate limit exceeded. Max %lld calls per %lld seconds", (long long)v.calls,
               (long long)v.period_s);
    return 1;
}

/* ---- quota ---- */

/* A request's reservations and whether the reply settles them. */
struct quota_slot {
    struct billing_hold *hold;
    int manual;
};

static void slot_free(void *p)
{
    struct quota_slot *q = p;
    billing_hold_free(q->hold); /* releases what is neither committed nor released */
    free(q);
}

static void on_reply(struct req *r, int status, void *arg)
{
    (void)arg;
    struct quota_slot *q = req_slot(r, SLOT_QUOTA);
    if (!q || q->manual) return;
    if (status < 400)
        billing_commit(q->hold);
    else
        billing_release(q->hold);
}

static struct quota_slot *slot_of(struct req *r, const struct user *u)
{
    struct quota_slot *q = req_slot(r, SLOT_QUOTA);
    if (!q) {
        q = xcalloc(1, sizeof *q);
        q->hold = billing_hold_new(u->id);
        req_set_slot(r, SLOT_QUOTA, q, slot_free);
        req_on_reply(r, on_reply, NULL);
    }
    return q;
}

/* "mcqs_per_day" -> "MCQ", "pdf_uploads" -> "PDF_UPLOAD", "daily_tokens" -> "TOKEN". */
static void feature_code(const char *name, char *out, size_t cap)
{
    char base[PLAN_NAME_MAX];
    if (!strcmp(name, "daily_tokens"))
        snprintf(base, sizeof base, "token");
    else if (!strcmp(name, "daily_requests"))
        snprintf(base, sizeof base, "request");
    else {
        snprintf(base, sizeof base, "%s", name);
        size_t n = strlen(base);
        if (n > 8 && !strcmp(base + n - 8, "_per_day")) base[n -= 8] = '\0';
        if (n > 1 && base[n - 1] == 's') base[--n] = '\0';
    }
    size_t i = 0;
    for (; base[i] && i + 1 < cap; i++)
        out[i] = (char)(base[i] >= 'a' && base[i] <= 'z' ? base[i] - 32 : base[i]);
    out[i] = '\0';
}

/* "MCQ" -> "MCQ", "PDF_UPLOAD" -> "PDF upload": words of up to three letters are taken for
 * acronyms. */
static void feature_label(const char *code, char *out, size_t cap)
{
    size_t i = 0, word = 0;
    for (; code[i] && i + 1 < cap; i++) {
        if (code[i] == '_') {
            out[i] = ' ';
            word = i + 1;
            continue;
        }
        size_t wl = strcspn(code + word, "_");
        out[i] = (char)(wl <= 3 || code[i] < 'A' || code[i] > 'Z' ? code[i] : code[i] + 32);
    }
    out[i] = '\0';
}

static void set_retry_after(struct req *r, int64_t until_ms)
{
    int64_t s = (until_ms - time_now_ms() + 999) / 1000;
    header_int(r, "Retry-After", s < 1 ? 1 : s);
}

/* The 429 of a refused reservation. */
static void render_refusal(struct req *r, const struct billing_refusal *ref)
{
    char reset[32];
    set_retry_after(r, ref->reset_ms);
    time_iso(ref->reset_ms, reset);
    if (ref->monthly) {
        http_error_json(r, 429, "QUOTA_EXCEEDED",
                        json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "error",
                                  "Quota exceeded", "resource", ref->name, "current_usage",
                                  (json_int_t)ref->used, "limit", (json_int_t)ref->limit,
                                  "upgrade_to", ref->upgrade_to, "upgrade_url", "/billing/plans",
                                  "plan_type", ref->plan_type, "reset_at", reset));
        return;
    }
    char code[PLAN_NAME_MAX + 32], feature[PLAN_NAME_MAX], label[PLAN_NAME_MAX], msg[256];
    feature_code(ref->name, feature, sizeof feature);
    feature_label(feature, label, sizeof label);
    snprintf(code, sizeof code, "%s_LIMIT_EXCEEDED", feature);
    snprintf(msg, sizeof msg, "You've reached your daily %s limit of %lld.", label,
             (long long)ref->limit);
    http_error_json(r, 429, code,
                    json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "error",
                              "Daily limit exceeded", "message", msg, "feature", ref->name, "limit",
                              (json_int_t)ref->limit, "used", (json_int_t)ref->used, "reset_at",
                              reset, "plan_type", ref->plan_type, "action", "upgrade",
                              "upgrade_url", "/billing/plans"));
}

/* Answers a failed reservation: the 429, 503 when the store is down, 500 for a bug. */
static int reservation_failed(struct req *r, int rc, const struct billing_refusal *ref)
{
    if (rc == RAGD_ELIMIT) {
        render_refusal(r, ref);
    } else if (rc == RAGD_EINVAL || rc == RAGD_ECONFLICT || rc == RAGD_ERANGE) {
        log_json(LOG_ERROR, "bad quota reservation",
                 json_pack("{s:s, s:s, s:s}", "error", ragd_strerror(rc), "path", req_path(r),
                           "request_id", req_id(r)));
        http_error(r, 500, "INTERNAL_ERROR", "Internal server error");
    } else {
        http_store_error(r, RAGD_EUNAVAIL);
    }
    return -1;
}

/* While REQUIRE_EMAIL_VERIFICATION is on, an account consumes no quota before its address
 * is verified: answers 403 EMAIL_NOT_VERIFIED and returns -1, else 0. Admins pass. */
static int unverified(struct req *r, const struct user *u)
{
    if (!u || u->is_verified || u->is_superuser || !auth_verification_required()) return 0;
    metrics_reject("email_not_verified");
    http_error(r, 403, "EMAIL_NOT_VERIFIED",
               "Verify your e-mail address first: send the code from the verification mail to "
               "POST /auth/verify-email (POST /auth/resend-verification sends a new one)");
    return -1;
}

int api_quota_reserve(struct req *r, const char *resource, int64_t quantity)
{
    const struct user *u = api_user(r);
    if (unverified(r, u)) return -1;
    if (!billing_enabled() || !u) return 0;
    struct billing_refusal ref;
    int rc = billing_reserve(slot_of(r, u)->hold, u, resource, quantity, &ref);
    return rc ? reservation_failed(r, rc, &ref) : 0;
}

int api_quota_daily(struct req *r, const char *name, int64_t quantity)
{
    const struct user *u = api_user(r);
    if (unverified(r, u)) return -1;
    if (!billing_enabled() || !u) return 0;
    struct billing_refusal ref;
    int rc = billing_daily_take(slot_of(r, u)->hold, u, name, quantity, &ref);
    return rc ? reservation_failed(r, rc, &ref) : 0;
}

int api_quota_tokens(struct req *r, int prompt_tokens, int min_answer, int max_answer,
                     int *answer_cap)
{
    RAGD_ASSERT(prompt_tokens >= 0 && min_answer >= 1 && min_answer <= max_answer);
    *answer_cap = max_answer;
    const struct user *u = api_user(r);
    if (unverified(r, u)) return -1;
    if (!billing_enabled() || !u) return 0;
    struct billing_refusal ref;
    int64_t granted = 0;
    int rc = billing_tokens_reserve(slot_of(r, u)->hold, u, (int64_t)prompt_tokens + min_answer,
                                    (int64_t)prompt_tokens + max_answer, &granted, &ref);
    if (rc) return reservation_failed(r, rc, &ref);
    *answer_cap = (int)(granted - prompt_tokens);
    return 0;
}

struct billing_hold *api_quota_hold(struct req *r)
{
    const struct user *u = api_user(r);
    return billing_enabled() && u ? slot_of(r, u)->hold : NULL;
}

void api_quota_refused(struct req *r, int rc, const struct billing_refusal *ref)
{
    reservation_failed(r, rc, ref);
}

int api_quota_guard(struct req *r, const struct route *rt)
{
    if (!rt->quota || !api_user(r)) return 0;
    return api_quota_reserve(r, rt->quota, 1);
}

void api_quota_extra(struct req *r, json_t *extra)
{
    struct quota_slot *q = req_slot(r, SLOT_QUOTA);
    if (q)
        billing_usage_extra(q->hold, extra);
    else
        json_decref(extra);
}

void api_quota_count(struct req *r, const char *resource, int64_t n)
{
    struct quota_slot *q = req_slot(r, SLOT_QUOTA);
    const struct user *u = api_user(r);
    if (q)
        billing_hold_count(q->hold, resource, n);
    else if (u)
        store_usage_hit(u->id, resource, n);
}

void api_quota_manual(struct req *r)
{
    struct quota_slot *q = req_slot(r, SLOT_QUOTA);
    if (q) q->manual = 1;
}

int api_quota_commit(struct req *r)
{
    struct quota_slot *q = req_slot(r, SLOT_QUOTA);
    return q ? billing_commit(q->hold) : 0;
}

int api_quota_commit_quota(struct req *r, const char *resource, struct billing_quota *q)
{
    struct quota_slot *qs = req_slot(r, SLOT_QUOTA);
    const struct user *u = api_user(r);
    if (qs) return billing_commit_quota(qs->hold, u, resource, q);
    if (!u || billing_quota(u, resource, q)) memset(q, 0, sizeof *q);
    return 0;
}

void api_quota_release(struct req *r)
{
    struct quota_slot *q = req_slot(r, SLOT_QUOTA);
    if (q) billing_release(q->hold);
}
