/* common.c - helpers every API group shares: error answers, the user view, the audit
 * entry of an action, and the /v1 error shape. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/roles.h"
#include "billing/billing.h"
#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "ops/audit.h"
#include "ops/notify.h"

void api_generation_busy(struct req *r)
{
    http_header(r, "Retry-After", "5");
    http_error(r, 503, "GENERATION_BUSY",
               "Every generation slot is busy and the queue is full; retry shortly");
}

void api_invalid(struct req *r, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_json(r, 422,
              json_pack("{s:s, s:s, s:s, s:s}", "detail", msg, "code", "VALIDATION_ERROR", "field",
                        field, "request_id", req_id(r)));
}

json_t *api_user_json(const struct user *u)
{
    json_error_t je;
    json_t *prefs = json_loads(u->preferences ? u->preferences : "{}", 0, &je);
    json_t *j = json_pack(
        "{s:s, s:s, s:o, s:b, s:b, s:b, s:s, s:o, s:o, s:s, s:o, s:o}", "id", u->id, "email",
        u->email, "username", u->username[0] ? json_string(u->username) : json_null(), "is_active",
        u->is_active, "is_verified", u->is_verified, "is_superuser", u->is_superuser,
        "subscription_plan", u->subscription_plan, "organization_id",
        u->organization_id[0] ? json_string(u->organization_id) : json_null(), "preferences",
        prefs ? prefs : json_object(), "created_at", u->created_at, "updated_at",
        u->updated_at[0] ? json_string(u->updated_at) : json_null(), "last_login_at",
        u->last_login_at[0] ? json_string(u->last_login_at) : json_null());
    json_object_set_new(j, "role", json_string(u->role[0] ? u->role : "user"));
    return j;
}

json_t *api_user_permissions_json(const struct user *u)
{
    const char *perms[32];
    size_t n = roles_permissions(u->role, perms, 32);
    json_t *a = json_array();
    for (size_t i = 0; i < n && i < 32; i++)
        json_array_append_new(a, json_string(perms[i]));
    return a;
}

json_t *api_quota_json(const struct billing_quota *q)
{
    char ps[32], pe[32];
    return json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:s, s:b, s:s, s:s}", "resource_type",
                     q->resource, "has_quota", q->has_quota, "current_usage",
                     (json_int_t)q->current_usage, "reserved", (json_int_t)q->reserved,
                     "max_allowed", (json_int_t)q->max_allowed, "remaining",
                     (json_int_t)q->remaining, "plan_type", q->plan_type, "limits_bypassed",
                     q->limits_bypassed, "period_start", time_iso(q->period_start_ms, ps),
                     "period_end", time_iso(q->period_end_ms, pe));
}

void api_audit_entry(struct req *r, const char *action, const char *target_type,
                     const char *target_id, json_t *details, struct audit_entry *e)
{
    api_audit_entry_as(r, api_user(r), action, target_type, target_id, details, e);
}

void api_audit_entry_as(struct req *r, const struct user *actor, const char *action,
                        const char *target_type, const char *target_id, json_t *details,
                        struct audit_entry *e)
{
    *e = (struct audit_entry){
        .actor_id = actor ? actor->id : NULL,
        .actor_email = actor ? actor->email : NULL,
        .action = action,
        .target_type = target_type,
        .target_id = target_id,
        .details = details,
        .request_id = req_id(r),
        .ip = req_ip(r),
        .user_agent = req_header(r, "User-Agent"),
    };
}

void api_audit_as(struct req *r, const struct user *actor, const char *action,
                  const char *target_type, const char *target_id, json_t *details)
{
    struct audit_entry e;
    api_audit_entry_as(r, actor, action, target_type, target_id, details, &e);
    int rc = store_audit_add(&e);
    if (rc)
        log_json(LOG_ERROR, "audit write failed",
                 json_pack("{s:s, s:s, s:i}", "action", action, "request_id", req_id(r), "rc", rc));
    audit_maybe_prune();
}

void api_audit(struct req *r, const char *action, const char *target_type, const char *target_id,
               json_t *details)
{
    api_audit_as(r, api_user(r), action, target_type, target_id, details);
}

void api_audit_login(struct req *r, int rc, const struct auth_refusal *ref, const char *email,
                     const struct user *u)
{
    if (!rc) {
        api_audit_as(r, u, "auth.login", "user", u->id, NULL);
        return;
    }
    if (rc != RAGD_EPERM) return; /* the store failed: nothing was decided */
    const char *why = ref->why == AUTH_FAIL_LOCKED     ? "locked"
                      : ref->why == AUTH_FAIL_INACTIVE ? "inactive"
                                                       : "bad_credentials";
    const char *uid = ref->user_id[0] ? ref->user_id : NULL;
    /* The address tried is not kept: an unknown one may be a password typed into the wrong
     * field, or the address of an account erased since (which must leave no trace). */
    (void)email;
    json_t *d = json_pack("{s:s, s:b}", "reason", why, "known_account", uid != NULL);
    api_audit_as(r, NULL, "auth.login_failed", uid ? "user" : NULL, uid, d);
    json_decref(d);
    if (ref->locked_ms > 0 && uid) {
        d = json_pack("{s:I, s:s}", "lock_ms", (json_int_t)ref->locked_ms, "ip", req_ip(r));
        api_audit_as(r, NULL, "auth.lockout", "user", uid, d);
        notify_emit(NULL, NOTIFY_SECURITY,
                    json_pack("{s:s, s:s, s:I}", "event", "account_locked", "user_id", uid,
                              "lock_ms", (json_int_t)ref->locked_ms));
        json_decref(d);
    }
}

void api_openai_error_shape(struct req *r, int status, json_t *body)
{
    if (status < 400 || strncmp(req_path(r), "/v1/", 4) || !json_is_object(body) ||
        json_object_get(body, "error"))
        return;
    json_t *detail = json_object_get(body, "detail");
    const char *code = json_string_value(json_object_get(body, "code"));
    char *msg = json_is_string(detail) ? strdup(json_string_value(detail))
                                       : json_dumps(detail, JSON_COMPACT);
    const char *type = status == 401   ? "authentication_error"
                       : status == 403 ? "permission_error"
                       : status == 404 ? "not_found_error"
                       : status == 429 ? "rate_limit_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    json_t *field = json_object_get(body, "field");
    json_object_set_new(body, "error",
                        json_pack("{s:s, s:s, s:s?, s:O?}", "message", msg ? msg : "error", "type",
                                  type, "code", code, "param",
                                  json_is_string(field) ? field : NULL));
    free(msg);
}
