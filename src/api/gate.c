/* gate.c - the gate guard (GUARD_GATE): maintenance modes and feature toggles, decided from
 * the route's row (its feature and heavy fields) after auth and before the rate limit, and
 * the maintenance banner header on every response. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/metrics.h"
#include "ops/features.h"
#include "ops/maintenance.h"
#include "ops/opsync.h"

/* Routes that answer even in hard maintenance: liveness, readiness, metrics, the
 * maintenance status, the features list, signing in and out (an administrator must be able
 * to), and the web UI's own files, so that a page can show the lock screen. */
static int open_in_hard(const struct route *rt)
{
    static const char *const open[] = {
        "/health",      "/health/detailed", "/ready",      "/metrics",
        "/maintenance", "/features",        "/auth/login", "/auth/refresh",
        "/auth/csrf",   "/auth/logout",     NULL};
    for (int i = 0; open[i]; i++)
        if (!strcmp(rt->pattern, open[i])) return 1;
    return rt->tag && !strcmp(rt->tag, "web");
}

static void refuse_maintenance(struct req *r, const struct maint_state *m)
{
    char retry[16];
    snprintf(retry, sizeof retry, "%d", maint_retry_after_s());
    http_header(r, "Retry-After", retry);
    metrics_reject("maintenance");
    const char *detail = m->level == MAINT_SOFT
                             ? "This operation is paused during maintenance; please retry later"
                             : m->message;
    http_json(r, 503,
              json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s?, s:s}, s:s}", "detail", detail, "code",
                        "MAINTENANCE", "maintenance", "level", maint_level_name(m->level),
                        "message", m->message, "reason", m->reason, "estimated_restoration",
                        m->estimated_restoration[0] ? m->estimated_restoration : NULL, "since",
                        m->since, "request_id", req_id(r)));
}

static void api_feature_refused(struct req *r, const char *feature, enum features_why why)
{
    metrics_reject("feature_disabled");
    http_json(r, 503,
              json_pack("{s:s, s:s, s:s, s:s, s:s}", "detail",
                        why == FEATURE_NOT_IN_ROLLOUT
                            ? "This feature is not yet available to your account"
                            : "This feature is currently disabled",
                        "code", "FEATURE_DISABLED", "feature", feature, "reason",
                        why == FEATURE_NOT_IN_ROLLOUT ? "rollout" : "disabled", "request_id",
                        req_id(r)));
}

int api_gate_feature(struct req *r, const char *feature)
{
    const struct user *u = api_user(r);
    enum features_why why = features_check(feature, u ? u->id : NULL);
    if (why == FEATURE_OK) return 0;
    api_feature_refused(r, feature, why);
    return 1;
}

int api_gate_command(struct req *r, const char *command)
{
    const char *feature = features_of_command(command);
    return feature ? api_gate_feature(r, feature) : 0;
}

int api_gate_guard(struct req *r, const struct route *rt)
{
    ops_sync_tick();
    enum maint_level level = maint_level_now();
    if (level != MAINT_NONE) {
        const struct user *u = api_user(r);
        int staff = rt->access == ACCESS_ADMIN || (u && u->is_superuser);
        /* Soft pauses heavy work for everyone (bulk admin operations included); hard shuts
         * out everyone but the administrators. */
        if ((level == MAINT_SOFT && rt->heavy) ||
            (level == MAINT_HARD && !staff && !open_in_hard(rt))) {
            struct maint_state m;
            maint_get(&m);
            if (m.level != MAINT_NONE) {
                refuse_maintenance(r, &m);
                return 1;
            }
        }
    }
    /* One name, or several separated by spaces: each must be on. */
    for (const char *f = rt->feature; f && *f;) {
        size_t n = strcspn(f, " ");
        char name[32];
        if (n && n < sizeof name) {
            memcpy(name, f, n);
            name[n] = '\0';
            if (api_gate_feature(r, name)) return 1;
        }
        f += n;
        while (*f == ' ')
            f++;
    }
    return 0;
}

void api_gate_headers(struct req *r)
{
    enum maint_level level = maint_level_now();
    if (level != MAINT_NONE) http_header(r, "X-Maintenance", maint_level_name(level));
}
