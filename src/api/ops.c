/* ops.c - maintenance modes, feature toggles and plan edits: /maintenance, /features,
 * /admin/maintenance, /admin/features, /admin/plans. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "billing/plans.h"
#include "core/error.h"
#include "core/util.h"
#include "ops/features.h"
#include "ops/maintenance.h"
#include "ops/planedit.h"

static json_t *text_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* ---- maintenance ---- */

/* The public view: what a client shows (a banner, a lock screen). */
static json_t *maint_public(const struct maint_state *m)
{
    return json_pack("{s:s, s:b, s:o, s:o, s:o, s:i}", "level", maint_level_name(m->level),
                     "active", m->level != MAINT_NONE, "message", text_or_null(m->message),
                     "estimated_restoration", text_or_null(m->estimated_restoration), "since",
                     m->level != MAINT_NONE ? text_or_null(m->since) : json_null(),
                     "retry_after_seconds", m->level != MAINT_NONE ? maint_retry_after_s() : 0);
}

static json_t *maint_admin(const struct maint_state *m)
{
    json_t *o = maint_public(m);
    json_object_set_new(o, "reason", text_or_null(m->reason));
    json_object_set_new(o, "set_by", text_or_null(m->set_by));
    json_object_set_new(o, "automatic", json_boolean(m->automatic));
    json_object_set_new(o, "since", text_or_null(m->since));
    json_t *out = json_array();
    struct feature_view *f;
    int n;
    features_list(&f, &n);
    for (int i = 0; i < n; i++)
        if (f[i].outage)
            json_array_append_new(
                out, json_pack("{s:s, s:s}", "feature", f[i].name, "since", f[i].outage_since));
    free(f);
    json_object_set_new(o, "feature_outages", out);
    return o;
}

static void maintenance_get(struct req *r)
{
    struct maint_state m;
    maint_get(&m);
    http_json(r, 200, maint_public(&m));
}

static void admin_maintenance_get(struct req *r)
{
    struct maint_state m;
    maint_get(&m);
    http_json(r, 200, maint_admin(&m));
}

static void admin_maintenance_put(struct req *r)
{
    json_t *b = req_json(r);
    struct maint_change ch = {
        .reason = jv_str(b, "reason", NULL),
        .message = jv_str(b, "message", NULL),
        .estimated_restoration = jv_str(b, "estimated_restoration", NULL),
    };
    maint_level_parse(jv_str(b, "level", ""), &ch.level); /* the schema allows only levels */
    int64_t est;
    if (ch.estimated_restoration && time_parse_iso(ch.estimated_restoration, &est)) {
        api_invalid(r, "estimated_restoration",
                    "field 'estimated_restoration' must be an ISO-8601 UTC time, like "
                    "2030-01-01T12:00:00Z");
        return;
    }
    struct maint_state before;
    maint_get(&before);
    json_t *details =
        json_pack("{s:s, s:s, s:s, s:o}", "level", maint_level_name(ch.level), "previous_level",
                  maint_level_name(before.level), "reason", ch.reason, "estimated_restoration",
                  text_or_null(ch.estimated_restoration));
    struct audit_entry audit;
    api_audit_entry(r, "maintenance.set", "maintenance", maint_level_name(ch.level), details,
                    &audit);
    int overridden = 0;
    int rc = maint_set(&ch, &audit, &overridden);
    json_decref(details);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    struct maint_state m;
    maint_get(&m);
    json_t *o = maint_admin(&m);
    json_object_set_new(o, "overridden_automatic", json_boolean(overridden));
    http_json(r, 200, o);
}

static const char *const levels[] = {"none", "soft", "hard", NULL};

static const struct jv_field maint_fields[] = {
    {"level", JV_STRING, 1, 0, 0, 0, levels, "none, soft or hard"},
    {"reason", JV_STRING, 1, 1, 255, 0, NULL, "Why (for the operators and the audit log)"},
    {"message", JV_STRING, 0, 0, 500, 1, NULL, "What users see (default: the level's text)"},
    {"estimated_restoration", JV_STRING, 0, 0, 40, 1, NULL,
     "ISO-8601 UTC time the service should be back (sets Retry-After)"},
    {NULL},
};
static const struct jv_schema maint_schema = {maint_fields, 0};

json_t *api_ops_health(void)
{
    struct maint_state m;
    maint_get(&m);
    json_t *out = json_array();
    struct feature_view *f;
    int n;
    features_list(&f, &n);
    for (int i = 0; i < n; i++)
        if (f[i].outage) json_array_append_new(out, json_string(f[i].name));
    free(f);
    int calm = m.level == MAINT_NONE && !json_array_size(out);
    return json_pack("{s:s, s:s, s:b, s:o}", "status", calm ? "healthy" : "degraded", "maintenance",
                     maint_level_name(m.level), "automatic", m.automatic, "feature_outages", out);
}

/* ---- features ---- */

static json_t *flag_admin(const struct feature_view *f)
{
    return json_pack("{s:s, s:s, s:b, s:i, s:o, s:o, s:b, s:o}", "name", f->name, "description",
                     f->description, "is_enabled", f->enabled, "rollout_percentage", f->rollout,
                     "updated_by", text_or_null(f->updated_by), "updated_at",
                     text_or_null(f->updated_at), "unavailable", f->outage, "unavailable_since",
                     text_or_null(f->outage_since));
}

/* Heavy features that soft maintenance pauses (their routes are marked heavy). */
static int heavy_feature(const char *name)
{
    return !strcmp(name, "document_upload") || !strcmp(name, "pdf_upload");
}

static void features_get_public(struct req *r)
{
    const struct user *u = api_user(r);
    enum maint_level level = maint_level_now();
    int staff = u && u->is_superuser;
    struct feature_view *f;
    int n;
    features_list(&f, &n);
    json_t *map = json_object();
    for (int i = 0; i < n; i++) {
        if (!f[i].description[0] && f[i].outage) continue; /* a router feature, not a flag */
        const char *reason = NULL;
        enum features_why why = features_check(f[i].name, u ? u->id : NULL);
        if (why == FEATURE_OFF)
            reason = "disabled";
        else if (why == FEATURE_NOT_IN_ROLLOUT)
            reason = "rollout";
        else if ((level == MAINT_HARD && !staff) ||
                 (level == MAINT_SOFT && heavy_feature(f[i].name)))
            reason = "maintenance";
        else if (f[i].outage)
            reason = "unavailable";
        json_object_set_new(map, f[i].name,
                            json_pack("{s:b, s:s, s:o}", "enabled", reason == NULL, "description",
                                      f[i].description, "reason", text_or_null(reason)));
    }
    free(f);
    http_json(r, 200,
              json_pack("{s:o, s:s}", "features", map, "maintenance", maint_level_name(level)));
}

static void admin_features_get(struct req *r)
{
    struct feature_view *f;
    int n;
    features_list(&f, &n);
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, flag_admin(&f[i]));
    free(f);
    http_json(r, 200, json_pack("{s:o}", "features", items));
}

static void admin_feature_put(struct req *r)
{
    const char *name = req_param(r, "name");
    struct feature_view cur;
    if (features_get(name, &cur)) {
        http_error(r, 404, "FEATURE_NOT_FOUND", "No feature flag called '%.40s'", name);
        return;
    }
    json_t *b = req_json(r);
    if (!json_object_get(b, "enabled") && !json_object_get(b, "rollout_percentage")) {
        api_invalid(r, "body", "give 'enabled' and/or 'rollout_percentage'");
        return;
    }
    int enabled = jv_bool(b, "enabled", cur.enabled);
    int rollout = (int)jv_int(b, "rollout_percentage", cur.rollout);
    json_t *details =
        json_pack("{s:b, s:i, s:b, s:i}", "is_enabled", enabled, "rollout_percentage", rollout,
                  "was_enabled", cur.enabled, "was_rollout_percentage", cur.rollout);
    struct audit_entry audit;
    api_audit_entry(r, "feature.update", "feature", name, details, &audit);
    struct feature_view out;
    int rc = features_set(name, enabled, rollout, &audit, &out);
    json_decref(details);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, flag_admin(&out));
}

static const struct jv_field feature_fields[] = {
    {"enabled", JV_BOOL, 0, 0, 0, 0, NULL, "On or off for everyone"},
    {"rollout_percentage", JV_INT, 0, 0, 100, 0, NULL,
     "Share of users (by a stable hash of the user id) that get the feature when on"},
    {NULL},
};
static const struct jv_schema feature_schema = {feature_fields, 0};

/* ---- plans ---- */

static void admin_plans_get(struct req *r)
{
    json_t *a = json_array();
    for (int i = 0; i < plan_count(); i++)
        json_array_append_new(a, plan_json(plan_at(i)));
    http_json(r, 200, json_pack("{s:o}", "plans", a));
}

static void admin_plan_put(struct req *r)
{
    const char *name = req_param(r, "name");
    json_t *b = req_json(r);
    if (!json_object_size(b)) {
        api_invalid(r, "body",
                    "give at least one of name, limits, daily_limits, features, "
                    "pricing");
        return;
    }
    struct audit_entry audit;
    api_audit_entry(r, "plan.update", "plan", name, b, &audit);
    char field[PLAN_FIELD_MAX] = "body", err[256] = "";
    int created = 0;
    int rc = planedit_put(name, b, &audit, &created, field, err, sizeof err);
    if (rc == RAGD_EINVAL) {
        api_invalid(r, field, "%s", err);
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    const struct plan *p = plan_get(name);
    if (!p) { /* only when the reload after the commit failed; the poll repairs it */
        http_error(r, 503, "SERVICE_UNAVAILABLE", "Plan saved; reload pending");
        return;
    }
    http_json(r, created ? 201 : 200, plan_json(p));
}

static const struct jv_field plan_fields[] = {
    {"name", JV_STRING, 0, 1, 63, 0, NULL, "Display name"},
    {"limits", JV_OBJECT, 0, 0, 0, 0, NULL,
     "Monthly limits {messages, background_tasks, api_calls, storage_mb}; -1 = unlimited"},
    {"daily_limits", JV_OBJECT, 0, 0, 0, 0, NULL,
     "Daily limits {daily_tokens, daily_requests, pdf_uploads, mcqs_per_day, ...}"},
    {"features", JV_ARRAY, 0, 0, 64, 0, NULL, "Feature names shown with the plan"},
    {"pricing", JV_OBJECT, 0, 0, 0, 0, NULL, "{monthly, yearly} in cents"},
    {NULL},
};
static const struct jv_schema plan_schema = {plan_fields, 0};

/* ---- routes ---- */

const struct route ops_routes[] = {
    {.method = "GET",
     .pattern = "/maintenance",
     .handler = maintenance_get,
     .access = ACCESS_PUBLIC,
     .tag = "operations",
     .summary = "The maintenance level in force (none, soft, hard) and its message",
     .response_doc = "{level, active, message, estimated_restoration, since, "
                     "retry_after_seconds}",
     .response = "{level: 'none'|'soft'|'hard', active: bool, message: string|null, "
                 "estimated_restoration: string|null, since: string|null, retry_after_seconds: "
                 "int}"},
    {.method = "GET",
     .pattern = "/features",
     .handler = features_get_public,
     .access = ACCESS_PUBLIC,
     .tag = "operations",
     .summary = "The features the caller may use now, with the reason for those it may not",
     .response_doc = "{features: {name: {enabled, description, reason}}, maintenance}",
     .response = "{features: {*: {enabled: bool, description: string, reason: string|null}}, "
                 "maintenance: 'none'|'soft'|'hard'}"},
    {.method = "GET",
     .pattern = "/admin/maintenance",
     .handler = admin_maintenance_get,
     .access = ACCESS_ADMIN,
     .tag = "operations",
     .summary = "Maintenance state with reason, who set it, and feature outages",
     .response_doc = "{level, message, reason, set_by, automatic, since, feature_outages, ...}",
     .perm = "ops.read",
     .response = "$MaintenanceAdmin"},
    {.method = "PUT",
     .pattern = "/admin/maintenance",
     .handler = admin_maintenance_put,
     .access = ACCESS_ADMIN,
     .body = &maint_schema,
     .tag = "operations",
     .summary = "Set the maintenance level (overrides an automatic one); audited and notified",
     .response_doc = "the admin view, with overridden_automatic",
     .perm = "ops.manage",
     .response = "$MaintenanceAdmin"},
    {.method = "GET",
     .pattern = "/admin/features",
     .handler = admin_features_get,
     .access = ACCESS_ADMIN,
     .tag = "operations",
     .summary = "Every feature flag with its rollout and provider outage",
     .response_doc = "{features: [{name, description, is_enabled, rollout_percentage, "
                     "updated_by, updated_at, unavailable, unavailable_since}]}",
     .perm = "ops.read",
     .response = "{features: [$FeatureFlag]}"},
    {.method = "PUT",
     .pattern = "/admin/features/{name}",
     .handler = admin_feature_put,
     .access = ACCESS_ADMIN,
     .body = &feature_schema,
     .tag = "operations",
     .summary = "Turn a feature on or off and set its rollout percentage; audited",
     .response_doc = "the flag",
     .perm = "ops.manage",
     .response = "$FeatureFlag"},
    {.method = "GET",
     .pattern = "/admin/plans",
     .handler = admin_plans_get,
     .access = ACCESS_ADMIN,
     .tag = "operations",
     .summary = "Every plan as in force now, edits included",
     .response_doc = "{plans: [{plan_type, name, limits, daily_limits, features, pricing}]}",
     .perm = "plans.manage",
     .response = "{plans: [$Plan]}"},
    {.method = "PUT",
     .pattern = "/admin/plans/{name}",
     .handler = admin_plan_put,
     .access = ACCESS_ADMIN,
     .body = &plan_schema,
     .tag = "operations",
     .summary = "Edit a plan's limits, daily limits, features or prices, or add a plan (then "
                "name, every monthly limit and pricing.monthly are required); on every node "
                "within a second; audited",
     .ok_status = 200,
     .response_doc = "the plan (201 when added)",
     .perm = "plans.manage",
     .response = "$Plan; 201 $Plan"},
    {NULL},
};

/* ---- test mode ---- */

static void availability_set(struct req *r)
{
    json_t *b = req_json(r);
    maint_feature_availability(jv_str(b, "feature", ""), jv_bool(b, "usable", 1));
    struct maint_state m;
    maint_get(&m);
    http_json(r, 200, maint_admin(&m));
}

static const struct jv_field availability_fields[] = {
    {"feature", JV_STRING, 1, 1, 31, 0, NULL, "chat, mcq, flashcard, ... or a flag's name"},
    {"usable", JV_BOOL, 1, 0, 0, 0, NULL, NULL},
    {NULL},
};
static const struct jv_schema availability_schema = {availability_fields, 0};

const struct route ops_test_routes[] = {
    {.method = "POST",
     .pattern = "/admin/test/feature-availability",
     .handler = availability_set,
     .access = ACCESS_ADMIN,
     .body = &availability_schema,
     .tag = "test",
     .summary = "Report a feature usable or not, as the provider router does (test mode)",
     .response_doc = "the admin maintenance view",
     .response = "$MaintenanceAdmin"},
    {NULL},
};
