/* plans.h - the subscription plans: free, pro and enterprise with their monthly limits,
 * daily limits, features and prices.
 *
 * Defaults are seed 000's v3.0 plans (monthly limits) with seed 003's daily limits layered
 * on top (free gets seed 003's free limits, pro its pro limits, enterprise none). An operator
 * may override any value in a JSON plans file (PLANS_FILE):
 *
 *   {"pro": {"name": "Pro Plan", "limits": {"messages": 200}, "daily_limits":
 *            {"mcqs_per_day": 100}, "features": [...], "pricing": {"monthly": 2900}}}
 *
 * and FREE_MESSAGE_LIMIT / PRO_MESSAGE_LIMIT / ENTERPRISE_MESSAGE_LIMIT override the message
 * limits last. Every limit is a count, -1 meaning unlimited. Plans are loaded once at start
 * and read-only afterwards (thread-safe). */
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

enum { PLAN_MAX_DAILY = 24, PLAN_NAME_MAX = 48 };

struct plan_daily {
    char name[PLAN_NAME_MAX]; /* "daily_tokens", "daily_requests", "mcqs_per_day", ... */
    int64_t limit;            /* -1 = unlimited */
};

struct plan {
    char type[16]; /* "free", "pro", "enterprise" */
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
/* Frees the table (tests, end of process). Plans are defaults again on next use. */
void plan_reset(void);

/* The plan called type, or NULL. The pointer stays valid until plan_load/plan_reset. */
const struct plan *plan_get(const char *type);
/* The plan for a user's plan field: an unknown value maps to free (logged once per call
 * site by the caller; the users table only ever holds the three names). Never NULL. */
const struct plan *plan_for(const char *type);
/* Number of plans and the i-th one, in order free, pro, enterprise. */
int plan_count(void);
const struct plan *plan_at(int i);

/* The plan's daily limit called name, or -1 (unlimited) when the plan does not set it. */
int64_t plan_daily_limit(const struct plan *p, const char *name);
/* Price in cents of one period of the given cycle (0 monthly, 1 yearly). */
int64_t plan_price(const struct plan *p, int yearly);
/* The plan an upgrade leads to: free -> pro -> enterprise -> enterprise. */
const char *plan_upgrade_to(const char *type);

/* The public JSON view {plan_type, name, limits, daily_limits, features, pricing}. New
 * reference. */
json_t *plan_json(const struct plan *p);
/* {messages: n, background_tasks: n, api_calls: n, storage_mb: n}. New reference. */
json_t *plan_limits_json(const struct plan *p);

#endif
