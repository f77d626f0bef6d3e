/* plans.h - the subscription plans: free, pro and enterprise (and the plans administrators
 * add at run time) with their monthly limits, daily limits, features and prices.
 *
 * Defaults are seed 000's v3.0 plans (monthly limits) with seed 003's daily limits layered
 * on top (free gets seed 003's free limits, pro its pro limits, enterprise none). An operator
 * may override any value in a JSON plans file (PLANS_FILE):
 *
 *   {"pro": {"name": "Pro Plan", "limits": {"messages": 200}, "daily_limits":
 *            {"mcqs_per_day": 100}, "features": [...], "pricing": {"monthly": 2900}}}
 *
 * and FREE_MESSAGE_LIMIT / PRO_MESSAGE_LIMIT / ENTERPRISE_MESSAGE_LIMIT override the message
 * limits last. Every limit is a count, -1 meaning unlimited.
 *
 * Administrators edit plans at run time (plan_apply_edits: edits in the same shape, applied
 * on top of what plan_load built; an edit may also add a plan). A table is never changed in
 * place: an edit publishes a new one, and a plan pointer returned here stays valid until
 * plan_reset, so readers need no lock (thread-safe). Plans are only ever added, never
 * removed, and are ordered by monthly price (the upgrade path). */
#ifndef RAGD_PLANS_H
#define RAGD_PLANS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The monthly quota resources, in this order. */
enum plan_resource { RES_MESSAGES, RES_BACKGROUND_TASKS, RES_API_CALLS, RES_STORAGE_MB, RES_COUNT };
/* "messages", "background_tasks", "api_calls", "storage_mb". */
const char *plan_resource_name(enum plan_resource r);
/* The index of a resource name, or -1 if it is not one. */
int plan_resource_index(const char *name);

enum { PLAN_MAX_DAILY = 24, PLAN_NAME_MAX = 48, PLAN_MAX = 16, PLAN_FIELD_MAX = 96 };

struct plan_daily {
    char name[PLAN_NAME_MAX]; /* "daily_tokens", "daily_requests", "mcqs_per_day", ... */
    int64_t limit;            /* -1 = unlimited */
};

struct plan {
    char type[16]; /* "free", "pro", "enterprise", or an added plan's name */
    char name[64]; /* "Free Plan" */
    int64_t limits[RES_COUNT];
    struct plan_daily daily[PLAN_MAX_DAILY];
    int ndaily;
    int64_t price_monthly, price_yearly; /* cents */
    json_t *features;                    /* array of strings, owned by the plan table */
};

/* Builds the plan table: defaults, then the file at path (NULL or "" = none), then the
 * *_MESSAGE_LIMIT variables. Returns 0, or RAGD_EIO / RAGD_EFORMAT / RAGD_EINVAL with a
 * message in err (unreadable file, bad JSON, unknown plan or key, limit below -1). On error
 * the previous table stays. Call before threads start. */
int plan_load(const char *path, char *err, size_t errcap);
/* Frees every table (tests, end of process; no other thread may hold a plan). Plans are
 * defaults again. */
void plan_reset(void);

/* Checks def, an edit of the plan called type in the plans-file shape ({name, limits,
 * daily_limits, features, pricing}), against the current table. An edit of a plan that does
 * not exist adds it and must give name, every monthly limit and pricing.monthly (yearly
 * defaults to ten months). Returns 0, or RAGD_EINVAL with the offending field's path
 * ("limits.messages", "pricing.monthly", "plan" for a bad plan name) in field and a message
 * in err. Changes nothing. */
int plan_edit_check(const char *type, json_t *def, char field[PLAN_FIELD_MAX], char *err,
                    size_t errcap);
/* Publishes the table plan_load built with edits applied in order: edits is an object
 * {type: definition} (borrowed). An edit that does not apply is skipped (the others are
 * applied): then RAGD_EINVAL with a message in err; otherwise 0. */
int plan_apply_edits(json_t *edits, char *err, size_t errcap);

/* The plan called type, or NULL. The pointer stays valid until plan_reset. */
const struct plan *plan_get(const char *type);
/* The plan for a user's plan field: an unknown value maps to free (logged by the caller;
 * the routes that set a plan accept only names plan_get knows). Never NULL. */
const struct plan *plan_for(const char *type);
/* Number of plans and the i-th one, by monthly price (free, pro, enterprise by default).
 * The count only grows, so plan_at(i) for i below an earlier plan_count is never NULL. */
int plan_count(void);
const struct plan *plan_at(int i);

/* The plan's daily limit called name, or -1 (unlimited) when the plan does not set it. */
int64_t plan_daily_limit(const struct plan *p, const char *name);
/* Price in cents of one period of the given cycle (0 monthly, 1 yearly). */
int64_t plan_price(const struct plan *p, int yearly);
/* The plan an upgrade leads to: the next one by price (free -> pro -> enterprise ->
 * enterprise by default); the dearest plan for an unknown name. */
const char *plan_upgrade_to(const char *type);

/* The public JSON view {plan_type, name, limits, daily_limits, features, pricing}. New
 * reference. */
json_t *plan_json(const struct plan *p);
/* {messages: n, background_tasks: n, api_calls: n, storage_mb: n}. New reference. */
json_t *plan_limits_json(const struct plan *p);

#endif
