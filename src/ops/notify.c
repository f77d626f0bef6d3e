/* notify.c - event names and urgencies, and writing events to the outbox (ops/notify.h). */
#include "ops/notify.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "store/outbox.h"

static const struct {
    const char *event, *urgency;
} events[] = {
    {NOTIFY_KEY_FAILED, "low"},
    {NOTIFY_KEY_DEGRADED, "medium"},
    {NOTIFY_KEY_DISABLED, "high"},
    {NOTIFY_KEY_RECOVERED, "low"},
    {NOTIFY_FAILOVER, "medium"},
    {NOTIFY_ALL_KEYS_FAILED, "high"},
    {NOTIFY_KEY_ADDED, "low"},
    {NOTIFY_KEY_DELETED, "medium"},
    {NOTIFY_MAINTENANCE_ENTERED, "high"},
    {NOTIFY_MAINTENANCE_EXITED, "medium"},
    {NOTIFY_MAINTENANCE_OVERRIDDEN, "high"},
    {NOTIFY_SECURITY, "high"},
};

const char *notify_urgency(const char *event)
{
    for (size_t i = 0; event && i < sizeof events / sizeof events[0]; i++)
        if (!strcmp(events[i].event, event)) return events[i].urgency;
    return NULL;
}

int notify_emit(db_conn_t *c, const char *event, json_t *details)
{
    const char *urgency = notify_urgency(event);
    if (!urgency) {
        json_decref(details);
        return RAGD_EINVAL;
    }
    if (!details) details = json_object();
    char *payload = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(details);
    if (!payload) return RAGD_ENOMEM;
    int rc = store_outbox_add(c, event, urgency, payload, NULL);
    if (rc)
        log_json(LOG_ERROR, "notification not recorded",
                 json_pack("{s:s, s:s}", "event", event, "error", ragd_strerror(rc)));
    free(payload);
    return rc;
}
