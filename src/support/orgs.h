/* orgs.h - organizations as tenants of the support desk: organization roles and what each
 * may do, plans with their limits, settings (seed 002's max_users and features_enabled, and
 * the widget's theme), members and invitations. No HTTP here: api/orgs.c renders results.
 *
 * Organization roles and permissions (ragd's decision; a platform admin with users.manage
 * acts as an owner of every organization):
 *
 *   permission        owner admin agent member   what it allows
 *   org.read            x     x     x     x      GET the organization and its members
 *   org.settings        x     x                  PATCH name and settings
 *   members.invite      x     x                  add members, invite by e-mail
 *   members.remove      x     x                  remove members (anyone may leave)
 *   members.roles       x     x                  change roles
 *   widget_keys.manage  x     x                  create, list, rotate, revoke widget keys
 *   tickets.read        x     x     x            list, read, answer and update tickets
 *   analytics.read      x     x                  (analytics, later)
 *
 * Owners may give any role and act on anyone; admins manage agents and members only (they
 * may add, remove and change them, giving the roles agent or member). Anyone may leave. The
 * last owner can neither leave, be removed nor be demoted (ownership first goes to someone
 * else). */
#ifndef RAGD_SUPPORT_ORGS_H
#define RAGD_SUPPORT_ORGS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/orgs.h"
#include "store/store.h"

/* 1 when role is owner, admin, agent or member. */
int orgs_role_valid(const char *role);
/* 1 when an organization role grants perm (the table above); unknown names grant nothing. */
int orgs_role_allows(const char *role, const char *perm);
/* 1 when actor (an organization role) may give or take target_role on a member whose
 * current role is current_role (NULL for a new member). */
int orgs_may_assign(const char *actor, const char *current_role, const char *target_role);

/* ---- plans ---- */

struct orgs_plan {
    const char *name;
    int max_users;                  /* members, counting pending invitations */
    int widget_keys;                /* live widget keys */
    int widget_sessions_per_minute; /* new widget sessions, whole organization */
    int widget_messages_per_day;    /* widget answers, whole organization */
    int messages_per_day;           /* members' chat messages, whole organization; 0: no cap */
    int requests_per_minute;        /* members' requests to metered routes, whole organization */
};
/* The plan called name, or NULL. Plans: free, pro, enterprise. */
const struct orgs_plan *orgs_plan(const char *name);

/* ---- settings ---- */

/* The settings a new organization starts with for plan (new reference). */
json_t *orgs_default_settings(const struct orgs_plan *p);
/* Checks a settings object from a PATCH (a full or partial object merged into the current
 * settings by the caller): max_users (1..the plan's), features_enabled (array of known
 * feature names: chat, search, analytics, widget, tickets), widget {title (<= 60 chars),
 * greeting (<= 280), primary_color and text_color ("#rgb" or "#rrggbb"), position
 * ("bottom-right" | "bottom-left"), sessions_per_minute (1..the plan's)}, limits
 * {requests_per_minute, messages_per_day} (1..the plan's), escalation and sla
 * (tickets_settings_check, support/tickets.h). Returns 0 or
 * RAGD_EINVAL with the field in *field (static or thread-local) and a message in err. */
int orgs_settings_check(json_t *settings, const struct orgs_plan *p, const char **field, char *err,
                        size_t errcap);
/* The effective max_users of an organization (settings, capped by the plan). */
int orgs_max_users(const struct store_org *o);
/* 1 when the organization's features_enabled allows feature (absent list: all). */
int orgs_feature_on(const struct store_org *o, const char *feature);

/* ---- quotas of members' requests ---- */

/* A member's request to a route with a quota resource (route.quota: "messages",
 * "api_calls", ...) is metered for the organization as well as for the member (ragd's
 * decision): before the handler, the organization's requests per minute on such routes
 * (settings.limits.requests_per_minute) and, for "messages", its messages today
 * (settings.limits.messages_per_day) are checked, each capped by the plan; once the request
 * succeeded, the organization's daily counter of that resource and the member's own are both
 * incremented (org_usage). An organization made through the API starts with its plan's
 * limits in its settings; one without settings.limits (made by `ragd seed` before
 * organizations had plans) is counted but not capped until a limit is set. PATCH merges
 * limits key by key, so none can be removed, only lowered or raised up to the plan's. */
struct orgs_refusal {
    const char *code, *detail; /* static */
    int64_t retry_after_s;
};
/* The limit in force for o: settings.limits.<name> ("requests_per_minute",
 * "messages_per_day") capped by the plan; 0 when none applies. Cannot fail. */
int64_t orgs_limit(const struct store_org *o, const char *name);
/* For a member's request to resource in organization o (as read for this request): 0 to let
 * it through, RAGD_ELIMIT with *ref. A store or limiter failure lets it through (the
 * member's own plan limits still apply). */
int orgs_quota_check(const struct store_org *o, const char *resource, struct orgs_refusal *ref);
/* Counts one successful request of resource for the organization and the member. Cannot
 * fail (a store failure is logged). */
void orgs_quota_record(const char *org_id, const char *user_id, const char *resource);

/* ---- operations ---- */

/* Creates an organization owned by u. RAGD_ECONFLICT when u belongs to one already,
 * RAGD_EEXIST when domain is taken. */
int orgs_create(const struct user *u, const char *name, const char *domain, char id_out[37]);

/* What adding a member by e-mail did. */
struct orgs_added {
    int invited;            /* 0: an existing account joined; 1: an invitation was made */
    char user_id[37];       /* when joined */
    char invitation_id[37]; /* when invited */
    char token[64];         /* when invited and no mail is configured: shown once */
    int mailed;             /* the invitation was mailed */
    char expires_at[32];
};
enum { ORGS_INVITE_DAYS = 7 };
/* Adds email to org o with role (the caller has checked the permission): an account with
 * that address joins at once; for an unknown address an invitation valid ORGS_INVITE_DAYS
 * is stored (its token hashed) and mailed when mail is configured, else handed back in
 * out->token. RAGD_ECONFLICT (the account belongs to an organization), RAGD_ELIMIT
 * (max_users), store or mail errors. */
int orgs_add_member(const struct store_org *o, const struct user *actor, const char *email,
                    const char *role, struct orgs_added *out);
/* Accepts an invitation token for u. As store_org_invite_accept. */
int orgs_accept(const struct user *u, const char *token, char org_out[37], char role_out[16]);

#endif
