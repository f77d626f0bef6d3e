/* api.h - the route tables of the API groups, registered by main.c, the guards, and small
 * helpers the handlers share. api/ is the only layer that turns service results into JSON
 * and errors into status codes. */
#ifndef RAGD_API_H
#define RAGD_API_H

#include "auth/auth.h"
#include "http/http.h"
#include "store/orgs.h"

extern const struct route auth_routes[];   /* /auth: register, login, refresh, logout, me */
extern const struct route apikey_routes[]; /* /users/me/api-keys */
extern const struct route users_routes[];
extern const struct route admin_routes[];
extern const struct route stats_routes[]; /* GET /admin/stats: the dashboard's figures */
extern const struct route health_routes[];
extern const struct route billing_routes[];
/* ENABLE_PAYMENTS: checkout, portal, cancel, payments, provider webhooks (api/payments.c). */
extern const struct route payments_routes[];
/* PUT /billing/subscription's rules with payments on: answers an upgrade (402) or schedules a
 * downgrade (202) and returns 1; returns 0 when there is nothing to change. */
int api_payments_plan_put(struct req *r);
extern const struct route openai_routes[];             /* the OpenAI-compatible /v1 routes */
extern const struct route notifications_routes[];      /* /admin/notifications */
extern const struct route notifications_test_routes[]; /* RAGD_TEST_MODE: emit any event */
/* /admin/provider-keys, /admin/providers/health, /users/me/provider-key (providers.c) */
extern const struct route provider_routes[];
/* Notes the start time the /v1/models list reports and reads STRICT_OPENAI and MODEL_ALIASES
 * (call once, before http_start); RAGD_EINVAL with a message naming the variable in
 * err when MODEL_ALIASES is not a comma list of name=target. */
int openai_api_init(char *err, size_t errcap);

/* ---- openapi.c ---- */

/* Builds the OpenAPI document of every route registered so far (call once, after the last
 * route table and before http_start). 0, or RAGD_EINVAL with a message in err naming the
 * route or component whose shape does not parse. */
int api_openapi_check(char *err, size_t errcap);
/* GET /openapi.json: the document api_openapi_check built. */
void api_openapi(struct req *r);

/* ---- guards.c ---- */

/* GUARD_AUTH: authenticates a Bearer token or API key and enforces the route's access: an
 * ACCESS_ADMIN route needs its `perm` (NULL: a full admin) in the caller's role
 * (auth/roles.h), else 403 ADMIN_REQUIRED (a plain user) or INSUFFICIENT_PERMISSIONS (a
 * staff role without it), written to the audit log as auth.admin_access_refused. */
int api_auth_guard(struct req *r, const struct route *rt);
/* Checks every route registered so far: a `perm` must be a known permission on an
 * ACCESS_ADMIN route. 0 or RAGD_EINVAL with a message in err. */
int api_check_permissions(char *err, size_t errcap);
/* GUARD_RATE: the route's rate-limit resource (limits.h), per user or per client IP. */
int api_rate_guard(struct req *r, const struct route *rt);
/* GUARD_QUOTA: reserves 1 unit of the route's quota resource (billing.h). */
int api_quota_guard(struct req *r, const struct route *rt);
/* Defines the rate-limit resource of every route registered so far (limits_define). 0 or
 * RAGD_EINVAL with a message in err. */
int api_rate_resources(char *err, size_t errcap);

/* ---- gate.c ---- */

/* GUARD_GATE: maintenance (hard: 503 MAINTENANCE with Retry-After for everyone but
 * administrators, except health, ready, metrics, /maintenance, /features, login and the web
 * UI's files; soft: 503 MAINTENANCE for the routes marked heavy) and the route's feature
 * toggle (503 FEATURE_DISABLED naming it). Also refreshes the shared state (ops_sync). */
int api_gate_guard(struct req *r, const struct route *rt);
/* The header hook (http_set_header_hook): X-Maintenance: soft | hard while one is in force. */
void api_gate_headers(struct req *r);
/* For a feature that only the handler can tell (a PDF upload): 0 when r's caller may use
 * feature, else answers 503 FEATURE_DISABLED and returns non-zero. */
int api_gate_feature(struct req *r, const char *feature);
/* The same for a slash command by name ("mcq", "flashcard" ...); 0 for a name that no flag
 * gates. */
int api_gate_command(struct req *r, const char *command);

/* ---- ops.c ---- */

/* /maintenance, /features, /admin/maintenance, /admin/features, /admin/plans. */
extern const struct route ops_routes[];
/* Test mode only: POST /admin/test/feature-availability (what the provider router reports). */
extern const struct route ops_test_routes[];
/* The "operations" reporter for /health/detailed: degraded while a maintenance level or a
 * feature outage is in force, with both. */
json_t *api_ops_health(void);

/* The authenticated caller of r, or NULL for an anonymous request. Owned by the request. */
const struct user *api_user(struct req *r);
const struct auth_identity *api_identity(struct req *r);
/* The organization of r's caller, read once per request (the guards and the handler share
 * it); NULL for a caller in none, or when it cannot be read. Owned by the request. */
const struct store_org *api_org(struct req *r);

/* Answers 401 with WWW-Authenticate: Bearer. */
void api_unauthorized(struct req *r, const char *code, const char *detail);

/* Reservations for r's user, committed when the reply is a success (< 400) and released
 * otherwise (billing.h explains the rules). api_quota_reserve / api_quota_daily return 0
 * when reserved (or nothing to do: billing off, anonymous request); otherwise they answer
 * the request - 429 QUOTA_EXCEEDED with detail {error: "Quota exceeded", resource,
 * current_usage, limit, upgrade_to, upgrade_url}, 429 <FEATURE>_LIMIT_EXCEEDED
 * (REQUEST_, TOKEN_, MCQ_ ...) with {message, feature, limit, used, reset_at, action,
 * upgrade_url}, 503 if the store is unreachable, 500 for a bad resource name, and 403
 * EMAIL_NOT_VERIFIED for an account that has not verified its e-mail address while
 * REQUIRE_EMAIL_VERIFICATION is on (even with billing off) - and return non-zero. */
int api_quota_reserve(struct req *r, const char *resource, int64_t quantity);
int api_quota_daily(struct req *r, const char *name, int64_t quantity);
/* Holds the daily tokens of one generation (billing_tokens_reserve): prompt_tokens plus up
 * to max_answer answer tokens, at least min_answer (1 <= min_answer <= max_answer). 0 with
 * *answer_cap, the most answer tokens the hold allows (max_answer when nothing is billed);
 * otherwise answers as above (429 TOKEN_LIMIT_EXCEEDED) and returns non-zero. The hold is
 * settled with the request's others: give tokens_used (prompt + completion) in the extra. */
int api_quota_tokens(struct req *r, int prompt_tokens, int min_answer, int max_answer,
                     int *answer_cap);
/* The request's reservations for a service that reserves itself (chat_answer), created on
 * first use; NULL when billing is off or the request is anonymous. Owned by the request. */
struct billing_hold;
struct billing_refusal;
struct billing_quota;
struct billing_hold *api_quota_hold(struct req *r);
/* Answers a reservation a service made and billing refused or could not make: rc and *ref
 * as billing_reserve returned them (429, 503 or 500 as above). */
void api_quota_refused(struct req *r, int rc, const struct billing_refusal *ref);
/* Extra data for the usage records (billing_usage_extra; reference stolen). */
void api_quota_extra(struct req *r, json_t *extra);
/* An hourly activity count for the caller (store_usage_hit): written with the request's
 * usage when it has a reservation (billing_hold_count), else at once. */
void api_quota_count(struct req *r, const char *resource, int64_t n);
/* For handlers whose success is only known after the response has started (streams): the
 * reply no longer settles; the handler calls api_quota_commit or api_quota_release. A hold
 * left unsettled is released when the request ends. */
void api_quota_manual(struct req *r);
int api_quota_commit(struct req *r);
/* api_quota_commit, then *q: the caller's quota of resource as the commit leaves it, read
 * with it (billing_commit_quota); without a reservation as billing_quota reads it.
 * q->resource is empty when no figures could be read. Returns the commit's result. */
int api_quota_commit_quota(struct req *r, const char *resource, struct billing_quota *q);
void api_quota_release(struct req *r);

/* ---- common.c ---- */

/* The public JSON view of a user (never the password hash), with its role and is_superuser
 * (true exactly for admin and super_admin). New reference. */
json_t *api_user_json(const struct user *u);
/* The permissions of u's role as a JSON array of names (auth/roles.h). New reference. */
json_t *api_user_permissions_json(const struct user *u);

/* {resource_type, has_quota, current_usage, reserved, max_allowed, remaining, plan_type,
 * limits_bypassed, period_start, period_end}: GET /billing/quota/{resource}. New reference. */
json_t *api_quota_json(const struct billing_quota *q);

/* Writes an audit entry for an action by r's user, with the request's id, client address
 * and User-Agent. details is borrowed (may be NULL). A failed write is logged. */
void api_audit(struct req *r, const char *action, const char *target_type, const char *target_id,
               json_t *details);
/* The same with another actor (NULL: none): a login names the account it is for. */
void api_audit_as(struct req *r, const struct user *actor, const char *action,
                  const char *target_type, const char *target_id, json_t *details);
/* The audit entry api_audit would write, for a service that writes it inside its own
 * transaction. Its strings are borrowed from r and the arguments. */
void api_audit_entry(struct req *r, const char *action, const char *target_type,
                     const char *target_id, json_t *details, struct audit_entry *e);
void api_audit_entry_as(struct req *r, const struct user *actor, const char *action,
                        const char *target_type, const char *target_id, json_t *details,
                        struct audit_entry *e);

/* Audits a login's outcome (auth_login's rc, *ref and *u): auth.login for the account, or
 * auth.login_failed (the reason, and the account when it exists; never the address tried:
 * email is for the log line only and may be NULL) and, when this attempt locked
 * the account, auth.lockout and a NOTIFY_SECURITY event. Store failures are not audited. */
void api_audit_login(struct req *r, int rc, const struct auth_refusal *ref, const char *email,
                     const struct user *u);

/* The JSON filter for http_set_json_filter: errors of the OpenAI-compatible routes (/v1/...)
 * also carry OpenAI's error object {message, type, code, param}. */
void api_openai_error_shape(struct req *r, int status, json_t *body);
/* Only registered when RAGD_TEST_MODE=1: clock control and quota-consuming test routes. */
extern const struct route billing_test_routes[];

/* Answers 503 GENERATION_BUSY with Retry-After: the local generator's queue is full. */
void api_generation_busy(struct req *r);

/* Answers 422 {detail, code: VALIDATION_ERROR, field} for field. */
void api_invalid(struct req *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* GET /metrics (metrics.c): the Prometheus text; with METRICS_TOKEN set, 401 unless the
 * request carries it as a Bearer token. */
void api_metrics(struct req *r);
/* Subsystem health reporters for /health/detailed: each returns a new JSON object with at
 * least {"status": "healthy" | "degraded" | "unhealthy" | "not_configured"}. */
void api_add_health_check(const char *name, json_t *(*check)(void));
/* The knowledge base's reporter ("indexes"): index sizes, caches, index file origins. */
json_t *api_indexes_health(void);

/* The web UI's routes (/, /admin, /static/..., /vendor/...; see web.c), serving the folder
 * that web_api_init finds: WEB_DIR, else web/ next to the binary or above it, else ./web.
 * web_api_init cannot fail: without that folder the pages answer 404 WEB_UI_NOT_INSTALLED
 * (and it logs a warning). Call it before http_start. */
extern const struct route web_routes[];
void web_api_init(void);

/* Organizations, members, invitations and widget keys (orgs.c); the embeddable widget's
 * routes (widget.c) and its CORS preflight hook (http_set_preflight_hook). */
extern const struct route orgs_routes[];
extern const struct route widget_routes[];
int widget_api_preflight(struct req *r, const char *origin);

/* The data directory ragd serves from (docs, indexes). */
void api_set_data_dir(const char *dir);
const char *api_data_dir(void);

#endif
