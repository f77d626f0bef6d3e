#include "billing/plans.h"

#include <pthread.h>
#include <stdatomic.h>
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

/* ---- tables ----
 *
 * A table is never changed once published: an edit builds a new one and swaps the pointer.
 * Replaced tables are kept (on the retired list) until plan_reset, so that a plan pointer a
 * caller holds stays valid however long its request runs. Edits are rare administrator
 * actions, so what is kept stays small. */

struct plan_table {
    int n;
    struct plan plans[PLAN_MAX];
    struct plan_table *retired_next;
};

static struct plan_table *_Atomic current;
static struct plan_table *base_table; /* defaults + plans file + variables: what edits apply to */
static struct plan_table *retired;
static pthread_mutex_t swap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void table_free(struct plan_table *t)
{
    for (int i = 0; t && i < t->n; i++)
        json_decref(t->plans[i].features);
    free(t);
}

static struct plan_table *table_copy(const struct plan_table *t)
{
    struct plan_table *c = xmalloc(sizeof *c);
    memcpy(c, t, sizeof *c);
    c->retired_next = NULL;
    for (int i = 0; i < c->n; i++)
        c->plans[i].features = json_deep_copy(t->plans[i].features);
    return c;
}

static void build_defaults(struct plan_table *tab)
{
    memset(tab, 0, sizeof *tab);
    tab->n = NPLANS;
    for (int i = 0; i < NPLANS; i++) {
        const struct plan_default *d = &defaults[i];
        struct plan *p = &tab->plans[i];
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

/* Orders the plans by monthly price (the upgrade path), keeping the order of equals. */
static void table_sort(struct plan_table *t)
{
    for (int i = 1; i < t->n; i++) {
        struct plan x = t->plans[i];
        int j = i;
        for (; j > 0 && t->plans[j - 1].price_monthly > x.price_monthly; j--)
            t->plans[j] = t->plans[j - 1];
        t->plans[j] = x;
    }
}

/* Makes t the current table (taking it); the one it replaces is retired. */
static void publish(struct plan_table *t)
{
    pthread_mutex_lock(&swap_lock);
    struct plan_table *old = atomic_exchange(&current, t);
    if (old) {
        old->retired_next = retired;
        retired = old;
    }
    pthread_mutex_unlock(&swap_lock);
}

static void init_once(void)
{
    base_table = xmalloc(sizeof *base_table);
    build_defaults(base_table);
    publish(table_copy(base_table));
}

static const struct plan_table *tab(void)
{
    pthread_once(&once, init_once);
    return atomic_load(&current);
}

/* ---- the plans file and edits ---- */

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

/* Applies one plan's definition o to p. On error: RAGD_EINVAL, the offending field's path
 * ("limits.messages") in field and a message in err. */
static int apply_plan(struct plan *p, json_t *o, char field[PLAN_FIELD_MAX], char *err,
                      size_t errcap)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        snprintf(field, PLAN_FIELD_MAX, "%.60s", key);
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
                snprintf(field, PLAN_FIELD_MAX, "limits.%.60s", rk);
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
                snprintf(field, PLAN_FIELD_MAX, "daily_limits.%.60s", dk);
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
            if (!json_is_array(v) || json_array_size(v) > 64) goto bad;
            for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *f = json_array_get(v, i);
                if (!json_is_string(f) || !json_string_length(f) || json_string_length(f) > 100)
                    goto bad;
            }
            json_decref(p->features);
            p->features = json_deep_copy(v);
        } else if (!strcmp(key, "pricing")) {
            if (!json_is_object(v)) goto bad;
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv)
            {
                snprintf(field, PLAN_FIELD_MAX, "pricing.%.60s", pk);
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

static struct plan *table_find(struct plan_table *t, const char *type)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->plans[i].type, type)) return &t->plans[i];
    return NULL;
}

/* Applies one edit to t: onto the plan called type, or as a new plan, which must then name
 * itself, all its monthly limits and its monthly price. */
static int apply_edit(struct plan_table *t, const char *type, json_t *def,
                      char field[PLAN_FIELD_MAX], char *err, size_t errcap)
{
    snprintf(field, PLAN_FIELD_MAX, "plan");
    if (!name_ok(type) || strlen(type) >= sizeof t->plans[0].type) {
        snprintf(err, errcap, "a plan name is 1-15 characters of [a-z0-9_]");
        return RAGD_EINVAL;
    }
    if (!json_is_object(def)) {
        snprintf(field, PLAN_FIELD_MAX, "body");
        snprintf(err, errcap, "a plan definition is a JSON object");
        return RAGD_EINVAL;
    }
    struct plan *p = table_find(t, type);
    if (p) return apply_plan(p, def, field, err, errcap);
    if (t->n == PLAN_MAX) {
        snprintf(err, errcap, "at most %d plans", PLAN_MAX);
        return RAGD_EINVAL;
    }
    p = &t->plans[t->n];
    memset(p, 0, sizeof *p);
    snprintf(p->type, sizeof p->type, "%s", type);
    for (int i = 0; i < RES_COUNT; i++)
        p->limits[i] = -2; /* not given yet */
    p->price_monthly = -1;
    p->features = json_array();
    t->n++; /* counted now so that the caller's table_free releases the features */
    int rc = apply_plan(p, def, field, err, errcap);
    if (rc) return rc;
    if (!p->name[0]) {
        snprintf(field, PLAN_FIELD_MAX, "name");
        snprintf(err, errcap, "a new plan needs a name");
        return RAGD_EINVAL;
    }
    for (int i = 0; i < RES_COUNT; i++) {
        if (p->limits[i] != -2) continue;
        snprintf(field, PLAN_FIELD_MAX, "limits.%s", resource_names[i]);
        snprintf(err, errcap, "a new plan needs limits.%s (-1 for unlimited)", resource_names[i]);
        return RAGD_EINVAL;
    }
    if (p->price_monthly < 0) {
        snprintf(field, PLAN_FIELD_MAX, "pricing.monthly");
        snprintf(err, errcap, "a new plan needs pricing.monthly (cents)");
        return RAGD_EINVAL;
    }
    if (!p->price_yearly) p->price_yearly = p->price_monthly * 10;
    return 0;
}

static int apply_file(struct plan_table *t, const char *path, char *err, size_t errcap)
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
    char field[PLAN_FIELD_MAX];
    json_object_foreach(root, key, v)
    {
        struct plan *p = table_find(t, key);
        if (!p || !json_is_object(v)) {
            snprintf(err, errcap, "plans: %s: '%s' is not a plan (free, pro, enterprise)", path,
                     key);
            rc = RAGD_EINVAL;
            break;
        }
        if ((rc = apply_plan(p, v, field, err, errcap))) break;
    }
    json_decref(root);
    return rc;
}

int plan_load(const char *path, char *err, size_t errcap)
{
    pthread_once(&once, init_once);
    struct plan_table *t = xmalloc(sizeof *t);
    build_defaults(t);
    int rc = 0;
    if (path && *path) rc = apply_file(t, path, err, errcap);
    static const char *const env[NPLANS] = {CONFIG_NAME("FREE_MESSAGE_LIMIT"),
                                            CONFIG_NAME("PRO_MESSAGE_LIMIT"),
                                            CONFIG_NAME("ENTERPRISE_MESSAGE_LIMIT")};
    for (int i = 0; !rc && i < NPLANS; i++) {
        const char *s = config_str(env[i], NULL);
        if (!s) continue;
        char *end;
        long long n = strtoll(s, &end, 10);
        if (*end || end == s || n < -1) {
            snprintf(err, errcap, "%s must be an integer >= -1", env[i]);
            rc = RAGD_EINVAL;
        } else {
            t->plans[i].limits[RES_MESSAGES] = n;
        }
    }
    if (rc) {
        table_free(t);
        return rc;
    }
    table_sort(t);
    pthread_mutex_lock(&swap_lock);
    table_free(base_table);
    base_table = t;
    struct plan_table *c = table_copy(t);
    pthread_mutex_unlock(&swap_lock);
    publish(c);
    return 0;
}

int plan_edit_check(const char *type, json_t *def, char field[PLAN_FIELD_MAX], char *err,
                    size_t errcap)
{
    struct plan_table *t = table_copy(tab());
    int rc = apply_edit(t, type, def, field, err, errcap);
    table_free(t);
    return rc;
}

int plan_apply_edits(json_t *edits, char *err, size_t errcap)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&swap_lock);
    struct plan_table *t = table_copy(base_table);
    pthread_mutex_unlock(&swap_lock);
    const char *type;
    json_t *def;
    char field[PLAN_FIELD_MAX];
    int rc = 0;
    json_object_foreach(edits, type, def)
    {
        /* Each edit on a copy, so that one that fails half-way leaves nothing behind. */
        struct plan_table *next = table_copy(t);
        char why[192];
        if (apply_edit(next, type, def, field, why, sizeof why)) {
            snprintf(err, errcap, "plan '%s' edit skipped: %s (%s)", type, why, field);
            table_free(next);
            rc = RAGD_EINVAL;
            continue;
        }
        table_free(t);
        t = next;
    }
    table_sort(t);
    publish(t);
    return rc;
}

void plan_reset(void)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&swap_lock);
    while (retired) {
        struct plan_table *next = retired->retired_next;
        table_free(retired);
        retired = next;
    }
    for (int i = 0; i < base_table->n; i++)
        json_decref(base_table->plans[i].features);
    build_defaults(base_table);
    pthread_mutex_unlock(&swap_lock);
    table_free(atomic_exchange(&current, NULL));
    publish(table_copy(base_table));
}

const struct plan *plan_get(const char *type)
{
    const struct plan_table *t = tab();
    for (int i = 0; type && i < t->n; i++)
        if (!strcmp(t->plans[i].type, type)) return &t->plans[i];
    return NULL;
}

const struct plan *plan_for(const char *type)
{
    const struct plan *p = plan_get(type);
    return p ? p : plan_get("free");
}

int plan_count(void)
{
    return tab()->n;
}

const struct plan *plan_at(int i)
{
    const struct plan_table *t = tab();
    return i >= 0 && i < t->n ? &t->plans[i] : NULL;
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
    const struct plan_table *t = tab();
    for (int i = 0; type && i + 1 < t->n; i++)
        if (!strcmp(t->plans[i].type, type)) return t->plans[i + 1].type;
    return t->plans[t->n - 1].type;
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
