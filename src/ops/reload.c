/* reload.c - SIGHUP (ops/reload.h). */
#include "ops/reload.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "billing/plans.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http.h"
#include "ops/planedit.h"

const char *const ops_reload_vars[] = {"LOG_LEVEL", "CORS_ORIGINS", "PLANS_FILE", NULL};

struct changes {
    json_t *applied, *restart, *refused;
};

static void report(const char *name, enum config_change what, const char *why, void *ctx)
{
    struct changes *c = ctx;
    if (what == CONFIG_APPLIED)
        json_array_append_new(c->applied, json_string(name));
    else if (what == CONFIG_NEEDS_RESTART)
        json_array_append_new(c->restart, json_string(name));
    else
        json_array_append_new(c->refused, json_pack("{s:s, s:s}", "variable", name, "error", why));
}

/* The plans file as billing_init picks it: PLANS_FILE, else DATA/plans.json when it exists. */
static int reload_plans(const char *data_dir, char *err, size_t errcap)
{
    const char *path = config_str("PLANS_FILE", NULL);
    char *def = NULL;
    struct stat st;
    if (!path && data_dir) {
        def = xasprintf("%s/plans.json", data_dir);
        if (!stat(def, &st)) path = def;
    }
    int rc = plan_load(path, err, errcap);
    free(def);
    if (rc) return rc;
    /* plan_load published the file's plans alone: the stored edits go back on top. */
    rc = planedit_reload();
    if (rc) snprintf(err, errcap, "plan edits: %s", ragd_strerror(rc));
    return rc;
}

int ops_reload(const char *data_dir)
{
    int failed = 0;
    char err[512] = "";
    if (log_reopen(err, sizeof err)) {
        failed++;
        log_json(LOG_ERROR, "reload: log file not reopened", json_pack("{s:s}", "error", err));
    }
    struct changes c = {json_array(), json_array(), json_array()};
    if (config_reload(".env", ops_reload_vars, report, &c, err, sizeof err)) {
        failed++;
        log_json(LOG_ERROR, "reload: .env not read; nothing in it changed",
                 json_pack("{s:s}", "error", err));
    }
    enum log_level lvl;
    if (!log_parse_level(config_str("LOG_LEVEL", "info"), &lvl)) log_set_level(lvl);
    http_set_cors(config_str("CORS_ORIGINS", HTTP_CORS_DEFAULT));
    if (reload_plans(data_dir, err, sizeof err)) {
        failed++;
        log_json(LOG_ERROR, "reload: plans not reloaded; the previous ones stay",
                 json_pack("{s:s}", "error", err));
    }
    if (json_array_size(c.restart))
        log_json(LOG_WARN, "reload: changed in .env but only applied at the next start",
                 json_pack("{s:O}", "variables", c.restart));
    if (json_array_size(c.refused))
        log_json(LOG_ERROR, "reload: invalid new values refused; the old ones stay",
                 json_pack("{s:O}", "variables", c.refused));
    log_json(failed ? LOG_WARN : LOG_INFO, "configuration reloaded",
             json_pack("{s:O, s:s, s:i}", "applied", c.applied, "log_level",
                       config_str("LOG_LEVEL", "info"), "failed", failed));
    json_decref(c.applied);
    json_decref(c.restart);
    json_decref(c.refused);
    return failed;
}
