/* roles.c - the role -> permission table and role changes (auth/roles.h). */
#include "auth/roles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "auth/auth.h"
#include "ops/notify.h"
#include "store/store.h"

enum role { R_USER, R_VIEWER, R_SUPPORT, R_OPS, R_ADMIN, R_SUPER, R_COUNT };

const char *const roles_names[] = {"user",  "viewer",      "support", "ops",
                                   "admin", "super_admin", NULL};

#define V (1u << R_VIEWER)
#define S (1u << R_SUPPORT)
#define O (1u << R_OPS)
#define A (1u << R_ADMIN)
#define SA (1u << R_SUPER)

/* The one table: each permission and the roles that hold it. */
static const struct {
    const char *perm;
    unsigned roles;
} table[] = {
    {"users.read", V | S | A | SA},   {"users.manage", A | SA},
    {"usage.reset", S | A | SA},      {"roles.manage", SA},
    {"audit.read", V | O | A | SA},   {"providers.read", V | O | A | SA},
    {"providers.manage", O | A | SA}, {"ops.read", V | O | A | SA},
    {"ops.manage", O | A | SA},       {"plans.manage", A | SA},
    {"knowledge.manage", A | SA},     {"stats.read", V | S | O | A | SA},
    {"tickets.manage", S | A | SA},
};
/* A NULL perm: a full admin. */
static const unsigned full_admin = A | SA;

#undef V
#undef S
#undef O
#undef A
#undef SA

static int role_index(const char *name)
{
    for (int i = 0; name && roles_names[i]; i++)
        if (!strcmp(roles_names[i], name)) return i;
    return -1;
}

int roles_rank(const char *role)
{
    return role_index(role);
}

int roles_valid(const char *name)
{
    return role_index(name) >= 0;
}

int roles_is_superuser(const char *role)
{
    int i = role_index(role);
    return i == R_ADMIN || i == R_SUPER;
}

int roles_is_staff(const char *role)
{
    return role_index(role) > R_USER;
}

int roles_perm_known(const char *perm)
{
    for (size_t i = 0; perm && i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].perm, perm)) return 1;
    return 0;
}

int roles_allows(const char *role, const char *perm)
{
    int r = role_index(role);
    if (r < 0) return 0;
    if (!perm) return (full_admin >> r) & 1u;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].perm, perm)) return (table[i].roles >> r) & 1u;
    return 0;
}

size_t roles_permissions(const char *role, const char **out, size_t cap)
{
    int r = role_index(role);
    size_t n = 0;
    for (size_t i = 0; r >= 0 && i < sizeof table / sizeof table[0]; i++) {
        if (!((table[i].roles >> r) & 1u)) continue;
        if (n < cap) out[n] = table[i].perm;
        n++;
    }
    return n;
}

/* ---- role changes ---- */

int roles_lock(void)
{
    return store_user_roles_lock();
}

int roles_check_not_last(const char *user_id)
{
    struct user u;
    int rc = store_user_load(user_id, &u);
    if (rc) return rc;
    int is_super = !strcmp(u.role, "super_admin") && u.is_active;
    store_user_clear(&u);
    if (!is_super) return 0;
    int64_t others = 0;
    if ((rc = store_user_count_super_admins(user_id, &others))) return rc;
    return others > 0 ? 0 : RAGD_ECONFLICT;
}

int roles_set(const char *actor_id, const char *user_id, const char *role, char before[16])
{
    before[0] = '\0';
    if (!roles_valid(role)) return RAGD_EINVAL;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    struct user u;
    if (!(rc = roles_lock()) && !(rc = store_user_load(user_id, &u))) {
        snprintf(before, 16, "%s", u.role);
        store_user_clear(&u);
        if (strcmp(before, role)) {
            /* Nobody lowers their own role: another super_admin must (and the last one
             * cannot be lowered at all). */
            if (actor_id && !strcmp(actor_id, user_id) && role_index(role) < role_index(before))
                rc = RAGD_EPERM;
            if (!rc && strcmp(role, "super_admin")) rc = roles_check_not_last(user_id);
            if (!rc) {
                json_t *patch = json_pack("{s:s}", "role", role);
                rc = store_user_update_locked(user_id, patch);
                json_decref(patch);
            }
        }
    }
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    store_user_forget(user_id);
    if (strcmp(before, role))
        log_json(LOG_INFO, "role changed",
                 json_pack("{s:s, s:s?, s:s, s:s}", "user_id", user_id, "actor_id", actor_id,
                           "from", before, "to", role));
    return 0;
}

int roles_bootstrap(const char *email, int *changed)
{
    *changed = 0;
    struct user u;
    int rc = store_user_get_by_email(email, &u);
    if (rc) return rc;
    char id[37], before[16];
    snprintf(id, sizeof id, "%s", u.id);
    int already = !strcmp(u.role, "super_admin");
    store_user_clear(&u);
    if (already) return 0;
    if ((rc = roles_set(NULL, id, "super_admin", before))) return rc;
    *changed = 1;
    json_t *details = json_pack("{s:s, s:s, s:s}", "from", before, "to", "super_admin", "via",
                                "SUPER_ADMIN_EMAIL");
    struct audit_entry e = {
        .action = "role.change",
        .target_type = "user",
        .target_id = id,
        .details = details,
    };
    rc = store_audit_add(&e);
    json_decref(details);
    return rc;
}

/* ---- emergency tokens ---- */

int roles_emergency_token(const char *email, struct roles_emergency *out)
{
    memset(out, 0, sizeof *out);
    struct user u;
    int rc;
    if (email) {
        rc = store_user_get_by_email(email, &u);
    } else {
        char *id = NULL;
        rc = db_query_text(db_conn(), &id,
                           "SELECT id FROM users WHERE is_active = 1"
                           " AND role IN ('super_admin', 'admin')"
                           " ORDER BY CASE WHEN role = 'super_admin' THEN 0 ELSE 1 END,"
                           " created_at, id LIMIT 1",
                           "");
        if (!rc) rc = store_user_get(id, &u);
        free(id);
    }
    if (rc) return rc;
    snprintf(out->user_id, sizeof out->user_id, "%s", u.id);
    snprintf(out->email, sizeof out->email, "%s", u.email);
    store_user_clear(&u);
    if ((rc = auth_emergency_token(out->user_id, &out->token, out->jti, &out->expires_ms)))
        return rc;
    char exp[32];
    time_iso(out->expires_ms, exp);
    db_conn_t *c = db_conn();
    if (!c) rc = RAGD_EUNAVAIL;
    if (!rc) rc = db_begin(c);
    if (!rc) {
        json_t *details = json_pack("{s:s, s:s, s:s, s:i}", "via", "cli", "jti", out->jti,
                                    "expires_at", exp, "valid_minutes", AUTH_EMERGENCY_MINUTES);
        struct audit_entry e = {
            .action = "auth.emergency_token.issued",
            .target_type = "user",
            .target_id = out->user_id,
            .details = details,
        };
        rc = store_audit_add(&e);
        json_decref(details);
        if (!rc)
            rc =
                notify_emit(c, NOTIFY_SECURITY,
                            json_pack("{s:s, s:s, s:s, s:s}", "event", "emergency_token_issued",
                                      "user_id", out->user_id, "jti", out->jti, "expires_at", exp));
        if (!rc) rc = db_commit(c);
        if (rc) db_rollback(c);
    }
    if (rc) {
        /* Not recorded: the token must not be handed out. */
        explicit_bzero(out->token, strlen(out->token));
        free(out->token);
        out->token = NULL;
    }
    return rc;
}
