/* users.c - /users: the caller's own profile, and admin user management. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "billing/plans.h"
#include "auth/roles.h"
#include "billing/billing.h"
#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "erasure/erasure.h"
#include "store/store.h"

static int username_ok(struct req *r, json_t *b)
{
    json_t *v = json_object_get(b, "username");
    if (!json_is_string(v)) return 1;
    for (const char *p = json_string_value(v); *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            api_invalid(r, "username", "field 'username' contains control characters");
            return 0;
        }
    return 1;
}

static void reply_user(struct req *r, const char *id)
{
    struct user u;
    int rc = store_user_get(id, &u);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, api_user_json(&u));
    store_user_clear(&u);
}

static void me_get(struct req *r)
{
    json_t *j = api_user_json(api_user(r));
    json_object_set_new(j, "permissions", api_user_permissions_json(api_user(r)));
    http_json(r, 200, j);
}

static void me_patch(struct req *r)
{
    json_t *b = req_json(r);
    if (!username_ok(r, b)) return;
    json_t *patch = json_object();
    json_t *v;
    if ((v = json_object_get(b, "username"))) json_object_set(patch, "username", v);
    if ((v = json_object_get(b, "preferences"))) {
        char *s = json_dumps(v, JSON_COMPACT);
        size_t n = s ? strlen(s) : 0;
        free(s);
        if (n > 16384) {
            json_decref(patch);
            api_invalid(r, "preferences", "field 'preferences' must be at most 16 KiB of JSON");
            return;
        }
        json_object_set(patch, "preferences", v);
    }
    const char *id = api_user(r)->id;
    int rc = store_user_update(id, patch);
    json_decref(patch);
    if (rc == RAGD_EEXIST) {
        http_error(r, 409, "USERNAME_TAKEN", "Username already taken");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    reply_user(r, id);
}

/* {period_start, period_end, monthly: {resource: used}, date, daily: {counter: used}}: what a
 * user used this calendar month (and today). */
static json_t *usage_json(const struct billing_usage *bu)
{
    char ps[32], pe[32];
    json_t *monthly = json_object(), *daily = json_object();
    for (int i = 0; i < RES_COUNT; i++)
        json_object_set_new(monthly, bu->monthly[i].name, json_integer(bu->monthly[i].used));
    for (int i = 0; i < bu->ndaily; i++)
        json_object_set_new(daily, bu->daily[i].name, json_integer(bu->daily[i].used));
    return json_pack("{s:s, s:s, s:o, s:s, s:o}", "period_start", time_iso(bu->period_start_ms, ps),
                     "period_end", time_iso(bu->period_end_ms, pe), "monthly", monthly, "date",
                     bu->date, "daily", daily);
}

static void list_users(struct req *r)
{
    long long limit, offset, active = -1;
    if (req_query_int(r, "limit", 50, 1, 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    const char *a = req_query(r, "is_active");
    if (a) {
        if (!strcmp(a, "true") || !strcmp(a, "1"))
            active = 1;
        else if (!strcmp(a, "false") || !strcmp(a, "0"))
            active = 0;
        else {
            api_invalid(r, "is_active", "query parameter 'is_active' must be true or false");
            return;
        }
    }
    struct user_filter f = {req_query(r, "email"), req_query(r, "plan"), (int)active};
    struct user *users;
    struct user_counters *counters;
    int n;
    int64_t total, now = time_now_ms();
    char month[8], day[11];
    billing_usage_periods(now, month, day);
    /* the page with every listed user's counters: one query */
    int rc = store_user_list_usage(&f, limit, offset, month, day, &users, &counters, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++) {
        json_t *j = api_user_json(&users[i]);
        json_object_set_new(j, "plan", json_string(users[i].subscription_plan));
        struct billing_usage bu;
        billing_usage_from(&users[i], now, counters[i].c, counters[i].n, &bu);
        json_object_set_new(j, "usage", usage_json(&bu));
        json_array_append_new(items, j);
    }
    store_user_counters_free(counters, n);
    store_user_list_free(users, n);
    http_json(r, 200,
              json_pack("{s:I, s:o, s:I, s:I}", "total", (json_int_t)total, "items", items, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset));
}

static int valid_id(struct req *r, const char *id)
{
    if (uuid_valid(id)) return 1;
    http_error(r, 404, "NOT_FOUND", "User not found");
    return 0;
}

static void get_user(struct req *r)
{
    const char *id = req_param(r, "id");
    if (valid_id(r, id)) reply_user(r, id);
}

static int tristate(json_t *b, const char *key)
{
    json_t *v = json_object_get(b, key);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* 403 INSUFFICIENT_PERMISSIONS for a handler-level check (a field that needs more than the
 * route), audited like the guard's refusals. */
static void refuse_perm(struct req *r, const char *method, const char *perm, const char *what)
{
    const struct user *u = api_user(r);
    json_t *details = json_pack("{s:s, s:s, s:s, s:s}", "method", method, "path", req_path(r),
                                "permission", perm, "role", u->role);
    api_audit(r, "auth.admin_access_refused", "route", "/users/{id}", details);
    json_decref(details);
    http_error_json(r, 403, "INSUFFICIENT_PERMISSIONS",
                    json_pack("{s:s, s:s, s:s}", "message", what, "required_permission", perm,
                              "role", u->role));
}

static void last_super_admin(struct req *r)
{
    http_error(r, 409, "LAST_SUPER_ADMIN",
               "This is the last active super_admin: make another account super_admin first");
}

/* A super_admin's account is changed or erased only by someone who may manage roles: an
 * admin cannot take the accounts above them out. Answers 403 and returns 1 when refused. */
static int outranked(struct req *r, const char *method, const char *target_role)
{
    if (strcmp(target_role, "super_admin") || roles_allows(api_user(r)->role, "roles.manage"))
        return 0;
    refuse_perm(r, method, "roles.manage", "Only a super_admin may change a super_admin's account");
    return 1;
}

/* Audits a role change of id from before to the user's role now (nothing when it stayed). */
static void audit_role_change(struct req *r, const char *id, const char *before)
{
    struct user u;
    if (store_user_get(id, &u)) return;
    if (strcmp(before, u.role)) {
        json_t *d = json_pack("{s:s, s:s}", "from", before, "to", u.role);
        api_audit(r, "role.change", "user", id, d);
        json_decref(d);
    }
    store_user_clear(&u);
}

/* The role the user has now into before ("" when unknown). */
static void role_now(const char *id, char before[16])
{
    struct user u;
    before[0] = '\0';
    if (!store_user_get(id, &u)) {
        snprintf(before, 16, "%s", u.role);
        store_user_clear(&u);
    }
}

static void patch_user(struct req *r)
{
    const char *id = req_param(r, "id");
    json_t *b = req_json(r);
    if (!valid_id(r, id) || !username_ok(r, b)) return;
    const char *plan = jv_str(b, "subscription_plan", NULL);
    if (plan && !plan_get(plan)) { /* plans may be added at run time */
        api_invalid(r, "subscription_plan",
                    "field 'subscription_plan' must name a plan from GET /billing/plans");
        return;
    }
    struct auth_user_patch p = {
        .username = jv_str(b, "username", NULL),
        .plan = jv_str(b, "subscription_plan", NULL),
        .is_active = tristate(b, "is_active"),
        .is_superuser = tristate(b, "is_superuser"),
        .is_verified = tristate(b, "is_verified"),
        .role = jv_str(b, "role", NULL),
    };
    int role_change = p.role || p.is_superuser >= 0;
    if (role_change && !roles_allows(api_user(r)->role, "roles.manage")) {
        refuse_perm(r, "PATCH", "roles.manage",
                    "Changing a role (role, is_superuser) needs roles.manage");
        return;
    }
    char before[16];
    role_now(id, before);
    if (outranked(r, "PATCH", before)) return;
    int rc = auth_user_admin_update(api_user(r)->id, id, &p);
    if (rc == RAGD_EPERM) {
        http_error(r, 409, "SELF_MODIFICATION",
                   "Admins cannot deactivate or demote themselves; ask another admin");
        return;
    }
    if (rc == RAGD_ECONFLICT) {
        last_super_admin(r);
        return;
    }
    if (rc == RAGD_EEXIST) {
        http_error(r, 409, "USERNAME_TAKEN", "Username already taken");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    api_audit(r, "user.update", "user", id, b);
    if (role_change && before[0]) audit_role_change(r, id, before);
    reply_user(r, id);
}

static void put_role(struct req *r)
{
    const char *id = req_param(r, "id");
    if (!valid_id(r, id)) return;
    const char *role = jv_str(req_json(r), "role", "");
    char before[16];
    int rc = roles_set(api_user(r)->id, id, role, before);
    if (rc == RAGD_EPERM) {
        http_error(r, 409, "SELF_MODIFICATION",
                   "You cannot lower your own role; ask another super_admin");
        return;
    }
    if (rc == RAGD_ECONFLICT) {
        last_super_admin(r);
        return;
    }
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "NOT_FOUND", "User not found");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    if (strcmp(before, role)) {
        json_t *d = json_pack("{s:s, s:s}", "from", before, "to", role);
        api_audit(r, "role.change", "user", id, d);
        json_decref(d);
    }
    reply_user(r, id);
}

static void reset_usage(struct req *r)
{
    const char *id = req_param(r, "id");
    if (!valid_id(r, id)) return;
    int64_t cleared = 0;
    int rc = billing_usage_reset_daily(id, &cleared);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "NOT_FOUND", "User not found");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s, s:I}", "scope", "daily", "counters_cleared", (json_int_t)cleared);
    api_audit(r, "usage.reset", "user", id, d);
    json_decref(d);
    http_json(r, 200,
              json_pack("{s:s, s:s, s:I, s:s}", "user_id", id, "scope", "daily", "counters_cleared",
                        (json_int_t)cleared, "message", "Today's usage counters were reset"));
}

static void delete_user(struct req *r)
{
    const char *id = req_param(r, "id");
    if (!valid_id(r, id)) return;
    if (!strcmp(api_user(r)->id, id)) {
        http_error(r, 409, "SELF_MODIFICATION", "Admins cannot delete themselves");
        return;
    }
    char role[16];
    role_now(id, role);
    if (outranked(r, "DELETE", role)) return;
    int last = roles_check_not_last(id);
    if (last == RAGD_ECONFLICT) {
        last_super_admin(r);
        return;
    }
    if (last && last != RAGD_ENOTFOUND) {
        http_store_error(r, last);
        return;
    }
    /* Recorded first, with the audit entry (ids only), and the account is refused from then
     * on; then carried out. If a step fails the erasure stays recorded and is finished
     * later (erasure.h). */
    struct audit_entry audit;
    api_audit_entry(r, "user.delete", "user", id, NULL, &audit);
    int rc = erasure_user(id, &audit, NULL);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_raw(r, 204, "application/json", "", 0);
}

static const struct jv_field me_fields[] = {
    {"username", JV_STRING, 0, 1, 100, 1, NULL, "Unique display name"},
    {"preferences", JV_OBJECT, 0, 0, 0, 0, NULL, "Free-form settings object (16 KiB max)"},
    {NULL},
};
static const struct jv_schema me_schema = {me_fields, 0};

static const struct jv_field admin_fields[] = {
    {"username", JV_STRING, 0, 1, 100, 1, NULL, NULL},
    {"subscription_plan", JV_STRING, 0, 1, 15, 0, NULL, "A plan from GET /billing/plans"},
    {"is_active", JV_BOOL, 0, 0, 0, 0, NULL, NULL},
    {"is_superuser", JV_BOOL, 0, 0, 0, 0, NULL, NULL},
    {"is_verified", JV_BOOL, 0, 0, 0, 0, NULL, NULL},
    {"role", JV_STRING, 0, 0, 0, 0, roles_names, "needs roles.manage, as is_superuser does"},
    {NULL},
};
static const struct jv_schema admin_schema = {admin_fields, 0};

static const struct jv_field role_fields[] = {
    {"role", JV_STRING, 1, 0, 0, 0, roles_names, NULL},
    {NULL},
};
static const struct jv_schema role_schema = {role_fields, 0};

const struct route users_routes[] = {
    {"GET", "/users/me", me_get, ACCESS_USER, NULL, NULL, NULL, "users", "The current user", 200,
     "user object", .response = "$User"},
    {"PATCH", "/users/me", me_patch, ACCESS_USER, NULL, NULL, &me_schema, "users",
     "Update the current user's username or preferences", 200, "user object", .response = "$User"},
    {.method = "GET",
     .pattern = "/users",
     .handler = list_users,
     .access = ACCESS_ADMIN,
     .tag = "users",
     .summary = "List users with their plan and this month's usage (admin); query: limit,"
                " offset, email, plan, is_active",
     .response_doc = "{total, items, limit, offset}",
     .perm = "users.read",
     .response = "{total: int, items: [$User], limit: int, offset: int}"},
    {.method = "GET",
     .pattern = "/users/{id}",
     .handler = get_user,
     .access = ACCESS_ADMIN,
     .tag = "users",
     .summary = "Get a user (admin)",
     .response_doc = "user object",
     .perm = "users.read",
     .response = "$User"},
    {.method = "PATCH",
     .pattern = "/users/{id}",
     .handler = patch_user,
     .access = ACCESS_ADMIN,
     .body = &admin_schema,
     .tag = "users",
     .summary = "Change a user's plan, status or role (admin; the role needs roles.manage)",
     .response_doc = "user object",
     .perm = "users.manage",
     .response = "$User"},
    {.method = "PUT",
     .pattern = "/users/{id}/role",
     .handler = put_role,
     .access = ACCESS_ADMIN,
     .body = &role_schema,
     .tag = "users",
     .summary = "Set a user's role (super_admin); the last active super_admin cannot be"
                " demoted",
     .response_doc = "user object",
     .perm = "roles.manage",
     .response = "$User"},
    {.method = "POST",
     .pattern = "/users/{id}/reset-usage",
     .handler = reset_usage,
     .access = ACCESS_ADMIN,
     .tag = "users",
     .summary = "Zero a user's daily usage counters for today",
     .response_doc = "{user_id, scope, counters_cleared, message}",
     .perm = "usage.reset",
     .response = "{user_id: string, scope: string, counters_cleared: int, message: string}"},
    {.method = "DELETE",
     .pattern = "/users/{id}",
     .handler = delete_user,
     .access = ACCESS_ADMIN,
     .tag = "users",
     .summary = "Erase a user and everything they own: documents (and their index entries),"
                " chats, history, analytics, keys, sessions, usage and billing records (admin);"
                " the audit log keeps the id only",
     .ok_status = 204,
     .response_doc = "empty",
     .perm = "users.manage",
     .response = "204"},
    {NULL},
};
