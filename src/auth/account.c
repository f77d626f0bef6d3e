/* account.c - the admin user update: one service function, one transaction. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/roles.h"
#include "core/error.h"
#include "core/log.h"

static auth_plan_fn plan_hook;

void auth_set_plan_hook(auth_plan_fn fn)
{
    plan_hook = fn;
}

/* The column changes of p other than the plan and the role, as the store's patch object. */
static json_t *column_patch(const struct auth_user_patch *p)
{
    json_t *patch = json_object();
    if (p->username) json_object_set_new(patch, "username", json_string(p->username));
    if (p->is_active >= 0) json_object_set_new(patch, "is_active", json_boolean(p->is_active));
    if (p->is_verified >= 0)
        json_object_set_new(patch, "is_verified", json_boolean(p->is_verified));
    return patch;
}

/* The role p gives a user whose role is before (before itself when p leaves it alone). */
static const char *new_role(const struct auth_user_patch *p, const char *before)
{
    if (p->role) return p->role;
    if (p->is_superuser == 1 && !roles_is_superuser(before)) return "admin";
    if (p->is_superuser == 0 && roles_is_superuser(before)) return "user";
    return before;
}

/* The role and the active flag p asks for, checked against the rules of auth/roles.h inside
 * the transaction: 0, RAGD_EPERM, RAGD_ECONFLICT, RAGD_EINVAL or a store error. *role gets
 * the role to write, NULL when it stays. */
static int check_role(const char *actor_id, const char *user_id, const struct auth_user_patch *p,
                      const struct user *before, const char **role)
{
    *role = NULL;
    if (p->role && !roles_valid(p->role)) return RAGD_EINVAL;
    const char *to = new_role(p, before->role);
    int demoting = roles_rank(to) < roles_rank(before->role);
    if (!strcmp(actor_id, user_id) && demoting) return RAGD_EPERM;
    if (strcmp(to, before->role)) *role = to;
    if (!*role && p->is_active != 0) return 0;
    /* A change of role, or a deactivation: serialised with every other one. */
    int rc = roles_lock();
    if (!rc && (p->is_active == 0 || strcmp(to, "super_admin"))) rc = roles_check_not_last(user_id);
    return rc;
}

int auth_user_admin_update(const char *actor_id, const char *user_id,
                           const struct auth_user_patch *p)
{
    if (!strcmp(actor_id, user_id) && (p->is_active == 0 || p->is_superuser == 0))
        return RAGD_EPERM;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    struct user before;
    rc = store_user_load(user_id, &before);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    const char *role = NULL;
    rc = check_role(actor_id, user_id, p, &before, &role);
    json_t *patch = column_patch(p);
    if (role) json_object_set_new(patch, "role", json_string(role));
    if (rc) {
        /* refused before anything was written */
    } else if (p->plan && plan_hook) {
        if (strcmp(p->plan, before.subscription_plan)) rc = plan_hook(user_id, p->plan, actor_id);
    } else if (p->plan) {
        json_object_set_new(patch, "subscription_plan", json_string(p->plan));
    }
    if (!rc && json_object_size(patch)) rc = store_user_update_locked(user_id, patch);
    if (!rc && p->is_active == 0 && before.is_active)
        rc = store_refresh_revoke_user(user_id); /* a deactivated user keeps no sessions */
    json_decref(patch);
    store_user_clear(&before);
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    store_user_forget(user_id);
    log_json(LOG_INFO, "user updated by admin",
             json_pack("{s:s, s:s}", "user_id", user_id, "actor_id", actor_id));
    return 0;
}
