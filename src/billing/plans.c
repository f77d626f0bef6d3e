#include "billing/plans.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"

static const char *const resource_names[RES_COUNT] = {"messages", "background_tasks", "api_calls",
                                                      "storage_mb"};

const char *plan_resource_name(enum plan_resource r)
{
    return (unsigned)r < RES_COUNT ? resource_names[r] : "?";
}

int plan_resource_index(const char *name)
{
    for (int i = 0; name && i < RES_COUNT; i++)
        if (!strcmp(name, resource_names[i])) return i;
    return -1;
}

/* ---- defaults ---- */

enum { NPLANS = 3 };

struct plan_default {
    const char *type, *name;
    int64_t limits[RES_COUNT];
    int64_t daily[6]; /* in the order of daily_names; -2 = not set (unlimited) */
    const char *features[8];
    int64_t monthly, yearly;
};

static const char *const daily_names[6] = {"daily_tokens", "daily_requests", "pdf_uploads",
                                           "mcqs_per_day", "images_per_day", "flashcards_per_day"};

static const struct plan_default defaults[NPLANS] = {
    {"free",
     "Free Plan",
     {10, 5, 20, 100},
     {10000, 20, 0, 5, 0, 10},
     {"basic_chat", "text_search", "community_support"},
     0,
     0},
    {"pro",
     "Pro Plan",
     {100, 50, 500, 1000},
     {200000, 500, 50, 200, 50, 500},
     {"advanced_chat", "vector_search", "semantic_search", "api_access", "email_support",
      "custom_integrations"},
     2900,
     29000},
    {"enterprise",
     "Enterprise Plan",
     {10000, 1000, 50000, 10000},
     {-2, -2, -2, -2, -2, -2},
     {"unlimited_features", "custom_models", "dedicated_support", "sla_guarantee", "white_label",
      "admin_access"},
     9900,
     99000},
};

static struct plan table[NPLANS];
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_table(struct plan *t)
{
    for (int i = 0; i < NPLANS; i++) {
        json_decref(t[i].features);
        t[i].features = NULL;
    }
}

static void build_defaults(struct plan *t)
{
    memset(t, 0, sizeof(struct plan) * NPLANS);
    for (int i = 0; i < NPLANS; i++) {
        const struct plan_default *d = &defaults[i];
        struct plan *p = &t[i];
        snprintf(p->type, sizeof p->type, "%s", d->type);
        snprintf(p->name, sizeof p->name, "%s", d->name);
        memcpy(p->limits, d->limits, sizeof p->limits);
        for (int k = 0; k < 6; k++) {
            if (d->daily[k] == -2) continue;
            snprintf(p->daily[p->ndaily].name, PLAN_NAME_MAX, "%s", daily_names[k]);
            p->daily[p->ndaily++].limit = d->daily[k];
        }
        p->features = json_array();
        for (int k = 0; k < 8 && d->features[k]; k++)
            json_array_append_new(p->features, json_string(d->features[k]));
        p->price_monthly = d->monthly;
        p->price_yearly = d->yearly;
    }
}

static void init_once(void)
{
    if (!loaded) {
        build_defaults(table);
        loaded = 1;
    }
}

/* ---- the plans file ---- */

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n >= PLAN_NAME_MAX) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

static int limit_value(json_t *v, int64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < -1 ||
        json_integer_value(v) > (json_int_t)1 << 50)
        return 0;
    *out = json_integer_value(v);
    return 1;
}

static int apply_plan(struct plan *p, json_t *o, char *err, size_t errcap)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (!strcmp(key, "name")) {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                json_string_length(v) >= sizeof p->name)
                goto bad;
            snprintf(p->name, sizeof p->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "limits")) {
            if (!json_is_object(v)) goto bad;
            const char *rk;
            json_t *rv;
            json_object_foreach(v, rk, rv)
            {
                int i = plan_resource_index(rk);
                if (i < 0) {
                    snprintf(err, errcap, "plans: %s.limits: unknown resource '%s'", p->type, rk);
                    return RAGD_EINVAL;
                }
                if (!limit_value(rv, &p->limits[i])) {
                    snprintf(err, errcap, "plans: %s.limits.%s must be an integer >= -1", p->type,
                             rk);
                    return RAGD_EINVAL;
                }
            }
        } else if (!strcmp(key, "daily_limits")) {
            if (!json_is_object(v)) goto bad;
            const char *dk;
            json_t *dv;
            json_object_foreach(v, dk, dv)
            {
                int64_t lim;
                if (!name_ok(dk) || !limit_value(dv, &lim)) {
                    snprintf(err, errcap,
                             "plans: %s.daily_limits.%s: names are [a-z0-9_] and values integers"
                             " >= -1",
                             p->type, dk);
                    return RAGD_EINVAL;
                }
                int i = 0;
                while (i < p->ndaily && strcmp(p->daily[i].name, dk))
                    i++;
                if (i == p->ndaily) {
                    if (p->ndaily == PLAN_MAX_DAILY) {
                        snprintf(err, errcap, "plans: %s: too many daily limits", p->type);
                        return RAGD_EINVAL;
                    }
                    snprintf(p->daily[p->ndaily++].name, PLAN_NAME_MAX, "%s", dk);
                }
                p->daily[i].limit = lim;
            }
        } else if (!strcmp(key, "features")) {
            if (!json_is_array(v)) goto bad;
            for (size_t i = 0; i < json_array_size(v); i++)
                if (!json_is_string(json_array_get(v, i))) goto bad;
            json_decref(p->features);
            p->features = json_deep_copy(v);
        } else if (!strcmp(key, "pricing")) {
            if (!json_is_object(v)) goto bad;
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv)
            {
                int64_t cents;
                if (!limit_value(pv, &cents) || cents < 0 ||
                    (strcmp(pk, "monthly") && strcmp(pk, "yearly"))) {
                    snprintf(err, errcap, "plans: %s.pricing: keys monthly/yearly with cents >= 0",
                             p->type);
                    return RAGD_EINVAL;
                }
                *(!strcmp(pk, "monthly") ? &p->price_monthly : &p->price_yearly) = cents;
            }
        } else {
            snprintf(err, errcap, "plans: %s: unknown key '%s'", p->type, key);
            return RAGD_EINVAL;
        }
        continue;
    bad:
        snprintf(err, errcap, "plans: %s.%s has the wrong type", p->type, key);
        return RAGD_EINVAL;
    }
    return 0;
}

static int apply_file(struct plan *t, const char *path, char *err, size_t errcap)
{
    json_error_t je;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "plans: cannot open %s", path);
        return RAGD_EIO;
    }
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!root || !json_is_object(root)) {
        snprintf(err, errcap, "plans: %s: %s (line %d)", path, root ? "not an object" : je.text,
                 je.line);
        json_decref(root);
        return RAGD_EFORMAT;
    }
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        int i = 0;
        while (i < NPLANS && strcmp(t[i].type, key))
            i++;
        if (i == NPLANS || !json_is_object(v)) {
            snprintf(err, errcap, "plans: %s: '%s' is not a plan (free, pro, enterprise)", path,
                     key);
            rc = RAGD_EINVAL;
            break;
        }
        if ((rc = apply_plan(&t[i], v, err, errcap))) break;
    }
    json_decref(root);
    return rc;
}

int plan_load(const char *path, char *err, size_t errcap)
{
    pthread_once(&once, init_once);
    struct plan t[NPLANS];
    build_defaults(t);
    int rc = 0;
    if (path && *path) rc = apply_file(t, path, err, errcap);
    static const char *const env[NPLANS] = {"FREE_MESSAGE_LIMIT", "PRO_MESSAGE_LIMIT",
                                            "ENTERPRISE_MESSAGE_LIMIT"};
    for (int i = 0; !rc && i < NPLANS; i++) {
        const char *s = config_str(env[i], NULL);
        if (!s) continue;
        char *end;
        long long n = strtoll(s, &end, 10);
        if (*end || end == s || n < -1) {
            snprintf(err, errcap, "%s must be an integer >= -1", env[i]);
            rc = RAGD_EINVAL;
        } else {
            t[i].limits[RES_MESSAGES] = n;
        }
    }
    if (rc) {
        free_table(t);
        return rc;
    }
    free_table(table);
    memcpy(table, t, sizeof table);
    loaded = 1;
    return 0;
}

void plan_reset(void)
{
    pthread_once(&once, init_once);
    free_table(table);
    build_defaults(table);
}

const struct plan *plan_get(const char *type)
{
    pthread_once(&once, init_once);
    for (int i = 0; type && i < NPLANS; i++)
        if (!strcmp(table[i].type, type)) return &table[i];
    return NULL;
}

const struct plan *plan_for(const char *type)
{
    const struct plan *p = plan_get(type);
    return p ? p : plan_get("free");
}

int plan_count(void)
{
    return NPLANS;
}

const struct plan *plan_at(int i)
{
    pthread_once(&once, init_once);
    return i >= 0 && i < NPLANS ? &table[i] : NULL;
}

int64_t plan_daily_limit(const struct plan *p, const char *name)
{
    for (int i = 0; i < p->ndaily; i++)
        if (!strcmp(p->daily[i].name, name)) return p->daily[i].limit;
    return -1;
}

int64_t plan_price(const struct plan *p, int yearly)
{
    return yearly ? p->price_yearly : p->price_monthly;
}

const char *plan_upgrade_to(const char *type)
{
    if (type && !strcmp(type, "free")) return "pro";
    return "enterprise";
}

json_t *plan_limits_json(const struct plan *p)
{
    json_t *o = json_object();
    for (int i = 0; i < RES_COUNT; i++)
        json_object_set_new(o, resource_names[i], json_integer(p->limits[i]));
    return o;
}

json_t *plan_json(const struct plan *p)
{
    json_t *daily = json_object();
    for (int i = 0; i < p->ndaily; i++)
        json_object_set_new(daily, p->daily[i].name, json_integer(p->daily[i].limit));
    return json_pack("{s:s, s:s, s:o, s:o, s:O, s:{s:I, s:I}, s:s}", "plan_type", p->type, "name",
                     p->name, "limits", plan_limits_json(p), "daily_limits", daily, "features",
                     p->features, "pricing", "monthly", (json_int_t)p->price_monthly, "yearly",
                     (json_int_t)p->price_yearly, "currency", "USD");
}
