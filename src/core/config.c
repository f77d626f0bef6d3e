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

int config_load(const char *path, char *err, size_t errcap)
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
        kv_put(&file_vars, name, value);
    }
    fclose(f);
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
    if (!v || !*v) v = kv_get(file_vars, name);
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
    v = kv_get(file_vars, name);
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
    for (struct kv *k = file_vars; k; k = k->next) {
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

void config_reset(void)
{
    kv_free(&file_vars);
    kv_free(&set_vars);
    kv_free(&reported);
    kv_free(&unlisted);
    sb_free(&errors);
}
