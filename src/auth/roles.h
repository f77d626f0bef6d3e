/* roles.h - who may do what: the roles a user can hold, the one table that maps each role to
 * its permissions, and the role changes themselves.
 *
 * Roles (users.role): user (no admin permission at all), viewer (every *.read), support
 * (users.read, usage.reset, stats.read, tickets.manage), ops (providers.*, ops.*,
 * stats.read, audit.read), admin (everything but roles.manage) and super_admin
 * (everything). users.is_superuser is kept true exactly for admin and super_admin, so
 * clients that only know that flag keep working; the store keeps the two columns in step.
 *
 * An ACCESS_ADMIN route names the permission it needs in its `perm` field; NULL means "a
 * full admin" (admin or super_admin). api/guards.c asks roles_allows before the handler.
 *
 * Role changes run in one transaction that serialises every change of role across threads
 * and nodes, so two super_admins demoting each other at once cannot leave none: the last
 * active super_admin can be neither demoted nor deactivated nor deleted. */
#ifndef RAGD_AUTH_ROLES_H
#define RAGD_AUTH_ROLES_H

#include <stddef.h>
#include <stdint.h>

/* The role names, least to most privileged, NULL-terminated (for request schemas). */
extern const char *const roles_names[];

/* 1 if name is one of roles_names, else 0. */
int roles_valid(const char *name);
/* The role's place in roles_names (0 for user ... 5 for super_admin), -1 if unknown. */
int roles_rank(const char *role);
/* 1 for admin and super_admin (the value of is_superuser), else 0. */
int roles_is_superuser(const char *role);
/* 1 when the role holds at least one permission (every role but user), else 0. */
int roles_is_staff(const char *role);

/* 1 if name is a permission of the table ("users.read", "roles.manage", ...), else 0. */
int roles_perm_known(const char *perm);
/* 1 if role may use a route that needs perm (NULL: a full admin), else 0. An unknown role
 * or permission allows nothing. Cannot fail. */
int roles_allows(const char *role, const char *perm);
/* The permissions of role, in table order: up to cap pointers to static strings into out.
 * Returns how many the role has (which may exceed cap). */
size_t roles_permissions(const char *role, const char **out, size_t cap);

/* Changes user_id's role to role on behalf of actor_id (NULL: the operator at the host),
 * keeping is_superuser in step, in one transaction serialised with every other role change.
 * *before gets the previous role (at least 16 bytes). Returns 0 (also when nothing changed),
 * RAGD_EINVAL (unknown role), RAGD_ENOTFOUND, RAGD_EPERM when actor_id == user_id and the
 * change lowers their own role, RAGD_ECONFLICT when it would leave no active super_admin, or
 * a store error. */
int roles_set(const char *actor_id, const char *user_id, const char *role, char before[16]);

/* 0 if user_id may stop being an active super_admin (it is not one, or another active one
 * exists), RAGD_ECONFLICT if it is the last one, or a store error. Call inside the
 * transaction that makes the change, after roles_lock. */
int roles_check_not_last(const char *user_id);
/* Takes the lock that serialises role changes for the rest of the caller's transaction
 * (PostgreSQL: an advisory lock; SQLite has one writer anyway). Returns 0 or a store error. */
int roles_lock(void);

/* Makes the account with e-mail address email a super_admin (SUPER_ADMIN_EMAIL at start).
 * *changed is set to 1 when it was not one already. Returns 0, RAGD_ENOTFOUND when no such
 * account exists, or a store error. The change is written to the audit log. */
int roles_bootstrap(const char *email, int *changed);

/* What an emergency token was issued for. */
struct roles_emergency {
    char *token; /* owned: free() it (and do not keep it: it is a credential) */
    char jti[37];
    char user_id[37], email[256];
    int64_t expires_ms;
};

/* Issues an emergency token (auth_emergency_token) for the account with e-mail address
 * email, or, when email is NULL, the oldest active super_admin (else the oldest active
 * admin), and records the issue in the audit log ("auth.emergency_token.issued", actor
 * none, via "cli") and as a NOTIFY_SECURITY event, in one transaction. Returns 0 with *out,
 * RAGD_ENOTFOUND when there is no such account, or a store error. */
int roles_emergency_token(const char *email, struct roles_emergency *out);

#endif
