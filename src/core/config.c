#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config_vars.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"

struct kv {
    char *name, *value;
    struct kv *next;
};

static struct kv *file_vars, *set_vars;
struct retired {
    struct kv *list;
    struct retired *next;
};
static struct retired *retired; /* .env lists replaced by config_reload */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static void kv_free(struct kv **list);
static struct sbuf errors;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static void kv_put(struct kv **list, const char *name, const char *value)
{
    for (struct kv *k = *list; k; k = k->next) {
        if (!strcmp(k->name, name)) {
            free(k->value);
            k->value = xstrdup(value);
            return;
        }
    }
    struct kv *k = xmalloc(sizeof *k);
    k->name = xstrdup(name);
    k->value = xstrdup(value);
    k->next = *list;
    *list = k;
}

static const char *kv_get(struct kv *list, const char *name)
{
    for (; list; list = list->next)
        if (!strcmp(list->name, name)) return list->value;
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Parses the .env file at path into *list (a missing file is an empty list). */
static int parse_file(const char *path, struct kv **list, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        if (!strncmp(s, "export ", 7)) s = trim(s + 7);
        char *eq = strchr(s, '=');
        if (!eq || eq == s) {
            snprintf(err, errcap, "%s:%d: expected NAME=VALUE", path, lineno);
            fclose(f);
            kv_free(list);
            return RAGD_EFORMAT;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && (value[0] == '"' || value[0] == '\'') && value[vl - 1] == value[0]) {
            value[vl - 1] = '\0';
            value++;
        } else {
            /* An unquoted value ends at an inline comment. */
            char *hash = strstr(value, " #");
            if (hash) *hash = '\0';
            value = trim(value);
        }
        kv_put(list, name, value);
    }
    fclose(f);
    return 0;
}

/* The .env list readers walk. A reload publishes a new list and retires the old one (freed
 * by config_reset only), so a reader walking it, or holding a value from it, is never left
 * with freed memory. */
static struct kv *files_now(void)
{
    return __atomic_load_n(&file_vars, __ATOMIC_ACQUIRE);
}

int config_load(const char *path, char *err, size_t errcap)
{
    struct kv *list = NULL;
    int rc = parse_file(path, &list, err, errcap);
    if (rc) return rc;
    for (struct kv *k = list; k; k = k->next)
        kv_put(&file_vars, k->name, k->value);
    kv_free(&list);
    return 0;
}

void config_set(const char *name, const char *value)
{
    kv_put(&set_vars, name, value);
}

static struct kv *unlisted; /* names read that have no row, each reported once */

/* A name read without a row in the table (config_vars.c) is a bug the configuration test
 * names; at run time it is logged once, so a variable added without its row shows up. */
static void check_listed(const char *name)
{
    if (config_var_find(name)) return;
    pthread_mutex_lock(&err_lock);
    int first = !kv_get(unlisted, name);
    if (first) kv_put(&unlisted, name, "");
    pthread_mutex_unlock(&err_lock);
    if (first)
        log_json(LOG_WARN, "configuration variable read without a row in src/core/config_vars.c",
                 json_pack("{s:s}", "variable", name));
}

const char *config_str(const char *name, const char *def)
{
    check_listed(name);
    const char *v = kv_get(set_vars, name);
    if (!v || !*v) v = getenv(name);
    if (!v || !*v) v = kv_get(files_now(), name);
    return v && *v ? v : def;
}

static struct kv *reported; /* names already in errors */

void config_add_error(const char *name, const char *value, const char *why)
{
    pthread_mutex_lock(&err_lock);
    if (!kv_get(reported, name)) {
        kv_put(&reported, name, "");
        if (errors.len) sb_adds(&errors, "; ");
        if (value)
            sb_printf(&errors, "%s=%s: %s", name, value, why);
        else
            sb_printf(&errors, "%s: %s", name, why);
    }
    pthread_mutex_unlock(&err_lock);
}

#define add_error config_add_error

const char *config_source(const char *name)
{
    const char *v = kv_get(set_vars, name);
    if (v && *v) return "flag";
    v = getenv(name);
    if (v && *v) return "env";
    v = kv_get(files_now(), name);
    return v && *v ? ".env" : NULL;
}

extern char **environ;

void config_each(void (*fn)(const char *name, int from_env_or_file, void *ctx), void *ctx)
{
    struct kv *seen = NULL;
    char name[256];
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || !eq[1] || (size_t)(eq - *e) >= sizeof name) continue;
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        if (kv_get(seen, name)) continue;
        kv_put(&seen, name, "");
        fn(name, 1, ctx);
    }
    for (struct kv *k = files_now(); k; k = k->next) {
        if (!*k->value || kv_get(seen, k->name)) continue;
        kv_put(&seen, k->name, "");
        fn(k->name, 1, ctx);
    }
    for (struct kv *k = set_vars; k; k = k->next) {
        if (!*k->value || kv_get(seen, k->name)) continue;
        kv_put(&seen, k->name, "");
        fn(k->name, 0, ctx);
    }
    kv_free(&seen);
}

int64_t config_int(const char *name, int64_t def, int64_t min, int64_t max)
{
    const char *v = config_str(name, NULL);
    if (!v) return def;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *trim(end)) {
        add_error(name, v, "not an integer");
        return def;
    }
    if (x < min || x > max) {
        char why[96];
        snprintf(why, sizeof why, "must be between %lld and %lld", (long long)min, (long long)max);
        add_error(name, v, why);
        return def;
    }
    return x;
}

double config_double(const char *name, double def, double min, double max)
{
    const char *v = config_str(name, NULL);
    if (!v) return def;
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || x < min || x > max) {
        add_error(name, v, "not a number in range");
        return def;
    }
    return x;
}

int config_bool(const char *name, int def)
{
    const char *v = config_str(name, NULL);
    if (!v) return def;
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        return 1;
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        return 0;
    add_error(name, v, "not a boolean (true/false)");
    return def;
}

const char *config_errors(void)
{
    return errors.len ? errors.s : NULL;
}

static void kv_free(struct kv **list)
{
    while (*list) {
        struct kv *k = *list;
        *list = k->next;
        free(k->name);
        free(k->value);
        free(k);
    }
}

/* ---- reload ---- */

static int listed(const char *const *names, const char *name)
{
    for (; names && *names; names++)
        if (!strcmp(*names, name)) return 1;
    return 0;
}

static struct kv *kv_copy(struct kv *list)
{
    struct kv *out = NULL;
    for (; list; list = list->next)
        kv_put(&out, list->name, list->value);
    return out;
}

/* One name whose .env value differs between old and fresh. */
static void reload_one(const char *name, struct kv *old, struct kv *fresh, struct kv **next,
                       const char *const *reloadable, config_reload_fn report, void *ctx)
{
    const char *was = kv_get(old, name), *now = kv_get(fresh, name);
    if (!strcmp(was ? was : "", now ? now : "")) return;
    const char *env = getenv(name), *flag = kv_get(set_vars, name);
    if ((env && *env) || (flag && *flag)) return; /* the environment or a flag wins anyway */
    if (!listed(reloadable, name)) {
        report(name, CONFIG_NEEDS_RESTART, NULL, ctx);
        return;
    }
    const struct config_var *v = config_var_find(name);
    char why[256];
    if (now && *now && v && config_var_check(v, now, why, sizeof why)) {
        report(name, CONFIG_INVALID, why, ctx);
        return;
    }
    kv_put(next, name, now ? now : "");
    report(name, CONFIG_APPLIED, NULL, ctx);
}

int config_reload(const char *path, const char *const *reloadable, config_reload_fn report,
                  void *ctx, char *err, size_t errcap)
{
    struct kv *fresh = NULL;
    int rc = parse_file(path, &fresh, err, errcap);
    if (rc) return rc;
    pthread_mutex_lock(&reload_lock);
    struct kv *old = files_now();
    struct kv *next = kv_copy(old);
    for (struct kv *k = old; k; k = k->next)
        reload_one(k->name, old, fresh, &next, reloadable, report, ctx);
    for (struct kv *k = fresh; k; k = k->next)
        if (!kv_get(old, k->name)) reload_one(k->name, old, fresh, &next, reloadable, report, ctx);
    __atomic_store_n(&file_vars, next, __ATOMIC_RELEASE);
    if (old) { /* retired, not freed: see files_now */
        struct retired *r = xmalloc(sizeof *r);
        r->list = old;
        r->next = retired;
        retired = r;
    }
    pthread_mutex_unlock(&reload_lock);
    kv_free(&fresh);
    return 0;
}

void config_reset(void)
{
    while (retired) {
        struct retired *r = retired;
        retired = r->next;
        kv_free(&r->list);
        free(r);
    }
    kv_free(&file_vars);
    kv_free(&set_vars);
    kv_free(&reported);
    kv_free(&unlisted);
    sb_free(&errors);
}
