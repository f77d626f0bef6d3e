/* users.c - /users: the caller's own profile, and admin user management. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "billing/plans.h"
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
    http_json(r, 200, api_user_json(api_user(r)));
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
    int n;
    int64_t total;
    int rc = store_user_list(&f, limit, offset, &users, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, api_user_json(&users[i]));
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
    };
    int rc = auth_user_admin_update(api_user(r)->id, id, &p);
    if (rc == RAGD_EPERM) {
        http_error(r, 409, "SELF_MODIFICATION",
                   "Admins cannot deactivate or demote themselves; ask another admin");
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
    reply_user(r, id);
}

static void delete_user(struct req *r)
{
    const char *id = req_param(r, "id");
    if (!valid_id(r, id)) return;
    if (!strcmp(api_user(r)->id, id)) {
        http_error(r, 409, "SELF_MODIFICATION", "Admins cannot delete themselves");
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
    {NULL},
};
static const struct jv_schema admin_schema = {admin_fields, 0};

const struct route users_routes[] = {
    {"GET", "/users/me", me_get, ACCESS_USER, NULL, NULL, NULL, "users", "The current user", 200,
     "user object"},
    {"PATCH", "/users/me", me_patch, ACCESS_USER, NULL, NULL, &me_schema, "users",
     "Update the current user's username or preferences", 200, "user object"},
    {"GET", "/users", list_users, ACCESS_ADMIN, NULL, NULL, NULL, "users",
     "List users (admin); query: limit, offset, email, plan, is_active", 200,
     "{total, items, limit, offset}"},
    {"GET", "/users/{id}", get_user, ACCESS_ADMIN, NULL, NULL, NULL, "users", "Get a user (admin)",
     200, "user object"},
    {"PATCH", "/users/{id}", patch_user, ACCESS_ADMIN, NULL, NULL, &admin_schema, "users",
     "Change a user's plan, status or role (admin)", 200, "user object"},
    {"DELETE", "/users/{id}", delete_user, ACCESS_ADMIN, NULL, NULL, NULL, "users",
     "Erase a user and everything they own: documents (and their index entries), chats,"
     " history, analytics, keys, sessions, usage and billing records (admin); the audit log"
     " keeps the id only",
     204, "empty"},
    {NULL},
};
