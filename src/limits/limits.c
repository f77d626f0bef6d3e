#include "limits/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "limits/limiter.h"

enum { MAX_RESOURCES = 32, NAME_MAX_LEN = 32 };

struct budget {
    char name[NAME_MAX_LEN];
    int64_t calls, period_s;
};

static struct budget budgets[MAX_RESOURCES];
static int nbudgets, enabled = 1;

static const struct budget defaults[] = {
    {"chat", 30, 60}, {"search", 60, 60}, {"api", 100, 60}, {"billing", 20, 60}};

int limits_enabled(void)
{
    return enabled;
}

static struct budget *find(const char *name)
{
    for (int i = 0; i < nbudgets; i++)
        if (!strcmp(budgets[i].name, name)) return &budgets[i];
    return NULL;
}

int limits_parse(const char *s, int64_t *calls, int64_t *period)
{
    char *end;
    long long c = strtoll(s, &end, 10);
    long long p = 60;
    if (end == s || c < 0 || c > 1000000000) return RAGD_EINVAL;
    if (*end == '/') {
        const char *q = end + 1;
        p = strtoll(q, &end, 10);
        if (end == q || p < 1 || p > 31 * 86400) return RAGD_EINVAL;
    }
    if (*end) return RAGD_EINVAL;
    *calls = c;
    *period = p;
    return 0;
}

/* Adds (or overrides from RATE_LIMIT_<NAME>) the budget for name, starting from def. */
static int define(const char *name, const struct budget *def, char *err, size_t errcap)
{
    if (strlen(name) >= NAME_MAX_LEN || nbudgets == MAX_RESOURCES) {
        snprintf(err, errcap, "rate-limit resource '%s': name too long or too many resources",
                 name);
        return RAGD_EINVAL;
    }
    struct budget b = *def;
    snprintf(b.name, sizeof b.name, "%s", name);
    char var[NAME_MAX_LEN + 16];
    int n = snprintf(var, sizeof var, "%s", CONFIG_NAME("RATE_LIMIT_")); /* RATE_LIMIT_* */
    for (const char *p = name; *p && n + 1 < (int)sizeof var; p++) {
        char ch = *p;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 32);
        else if (!(ch >= 'A' && ch <= 'Z') && !(ch >= '0' && ch <= '9'))
            ch = '_';
        var[n++] = ch;
    }
    var[n] = '\0';
    const char *v = config_str(var, NULL);
    if (v && limits_parse(v, &b.calls, &b.period_s)) {
        snprintf(err, errcap, "%s must be CALLS/SECONDS (e.g. 30/60), got '%s'", var, v);
        return RAGD_EINVAL;
    }
    budgets[nbudgets++] = b;
    return 0;
}

int limits_define(const char *resource, char *err, size_t errcap)
{
    if (find(resource)) return 0;
    const struct budget *api = find("api");
    int rc = define(resource, api ? api : &defaults[2], err, errcap);
    if (!rc)
        log_json(LOG_INFO, "rate-limit resource without a default budget",
                 json_pack("{s:s, s:I, s:I}", "resource", resource, "calls",
                           (json_int_t)find(resource)->calls, "period_s",
                           (json_int_t)find(resource)->period_s));
    return rc;
}

int limits_init(char *err, size_t errcap)
{
    nbudgets = 0;
    enabled = config_bool("ENABLE_RATE_LIMITING", 1);
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        int rc = define(defaults[i].name, &defaults[i], err, errcap);
        if (rc) return rc;
    }
    return 0;
}

int limits_rate_of(const char *resource, int64_t *calls, int64_t *period_s)
{
    const struct budget *b = resource ? find(resource) : NULL;
    if (!b) return RAGD_ENOTFOUND;
    *calls = b->calls;
    *period_s = b->period_s;
    return 0;
}

/* The budget of resource (the api budget for one defined after start), or NULL. */
static const struct budget *budget_of(const char *resource)
{
    const struct budget *b = find(resource);
    return b ? b : find("api");
}

static void take_key(char key[160], const char *resource, const char *subject)
{
    snprintf(key, 160, "rl:%s:%s", subject, resource);
}

static void verdict(const struct budget *b, const struct limit_result *res,
                    struct limits_verdict *v)
{
    v->allowed = res->allowed;
    v->calls = b->calls;
    v->period_s = b->period_s;
    v->remaining = res->remaining;
    v->reset_s = (res->reset_ms + 999) / 1000;
    int64_t retry = (res->retry_after_ms + 999) / 1000;
    v->retry_after_s = res->allowed ? 0 : retry < 1 ? 1 : retry;
}

int limits_take(const char *resource, const char *subject, struct limits_verdict *v)
{
    const struct budget *b = budget_of(resource);
    if (!b) return RAGD_ENOTFOUND;
    char key[160];
    take_key(key, resource, subject);
    struct limit_result res;
    int rc = limiter_take(key, b->calls, b->period_s * 1000, 1, 0, &res);
    if (rc) return rc;
    verdict(b, &res, v);
    return 0;
}

int limits_take_early(const char *resource, const char *subject, struct limits_early *e)
{
    memset(e, 0, sizeof *e);
    const struct budget *b = budget_of(resource);
    if (!b) return RAGD_ENOTFOUND;
    char key[160];
    take_key(key, resource, subject);
    e->calls = b->calls;
    e->period_s = b->period_s;
    return limiter_take_begin(key, b->calls, b->period_s * 1000, 1, &e->t);
}

int limits_take_finish(struct limits_early *e, struct limits_verdict *v)
{
    struct limit_result res;
    int rc = limiter_take_end(&e->t, &res);
    if (rc) return rc;
    struct budget b = {.calls = e->calls, .period_s = e->period_s};
    verdict(&b, &res, v);
    return 0;
}

void limits_take_cancel(struct limits_early *e)
{
    limiter_take_cancel(&e->t);
}
