/* notifications.c - /admin/notifications: the channel settings of operational notifications,
 * a test event, and the outbox's deliveries (ops/notify.h).
 *
 * Webhook URLs are credentials (a Slack URL is one), so no response shows one in full: each
 * appears as {id, url: "scheme://host[:port]/..."}, and a PUT keeps a configured URL by
 * giving {"id": ...} in place of the URL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"
#include "ops/mail.h"
#include "ops/notify.h"
#include "store/outbox.h"

enum { EVENTS_MAX = 64 };

static const char *const target_key[NOTIFY_CHANNELS] = {"recipients", "urls"};

/* ---- views ---- */

static json_t *webhook_json(const char *url)
{
    char id[17], shown[300];
    notify_target_id(url, id);
    notify_url_redact(url, shown, sizeof shown);
    return json_pack("{s:s, s:s}", "id", id, "url", shown);
}

static json_t *channel_json(const struct notify_conf *conf, int c)
{
    const struct notify_channel_conf *ch = &conf->ch[c];
    json_t *events = json_null();
    if (!ch->all_events) {
        events = json_array();
        for (int i = 0; i < ch->n_events; i++)
            json_array_append_new(events, json_string(ch->events[i]));
    }
    json_t *targets = json_array();
    for (int i = 0; i < ch->n_targets; i++)
        json_array_append_new(targets, c == NOTIFY_WEBHOOK ? webhook_json(ch->targets[i])
                                                           : json_string(ch->targets[i]));
    return json_pack("{s:b, s:s, s:o, s:o}", "enabled", ch->enabled, "min_urgency",
                     notify_level_name(ch->min_urgency), "events", events, target_key[c], targets);
}

static json_t *settings_json(const struct notify_conf *conf)
{
    json_t *email = channel_json(conf, NOTIFY_EMAIL);
    json_object_set_new(email, "smtp_configured", json_boolean(mail_enabled()));
    json_t *webhook = channel_json(conf, NOTIFY_WEBHOOK);
    json_object_set_new(webhook, "signed", json_boolean(notify_webhooks_signed()));
    json_t *events = json_array();
    for (int i = 0; notify_event_at(i); i++) {
        const char *e = notify_event_at(i);
        json_array_append_new(events, json_pack("{s:s, s:s, s:s}", "name", e, "urgency",
                                                notify_urgency(e), "title", notify_title(e)));
    }
    json_t *out =
        json_pack("{s:o, s:o, s:o, s:o, s:o}", "email", email, "webhook", webhook, "events", events,
                  "updated_by", conf->updated_by[0] ? json_string(conf->updated_by) : json_null(),
                  "updated_at", conf->updated_at[0] ? json_string(conf->updated_at) : json_null());
    struct outbox_counts oc;
    if (!store_outbox_counts(&oc))
        json_object_set_new(
            out, "outbox",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "unrouted", (json_int_t)oc.unrouted,
                      "suppressed_repeats", (json_int_t)oc.suppressed, "pending",
                      (json_int_t)oc.pending, "retrying", (json_int_t)oc.retrying, "delivered",
                      (json_int_t)oc.delivered, "abandoned", (json_int_t)oc.abandoned,
                      "oldest_pending_at",
                      oc.oldest_pending_at[0] ? json_string(oc.oldest_pending_at) : json_null()));
    return out;
}

static void settings_get(struct req *r)
{
    struct notify_conf conf;
    int rc = notify_conf_get(&conf);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, settings_json(&conf));
    notify_conf_free(&conf);
}

/* ---- PUT ---- */

/* The configured webhook URL whose id is id, or NULL. Borrowed from cur. */
static const char *webhook_by_id(const struct notify_conf *cur, const char *id)
{
    const struct notify_channel_conf *ch = &cur->ch[NOTIFY_WEBHOOK];
    for (int i = 0; i < ch->n_targets; i++) {
        char tid[17];
        notify_target_id(ch->targets[i], tid);
        if (!strcmp(tid, id)) return ch->targets[i];
    }
    return NULL;
}

/* Applies the body's object for channel c (obj, may be NULL: unchanged) to out, which holds
 * a copy of the current settings. 0, or answers 422 and returns non-zero. */
static int apply_channel(struct req *r, json_t *obj, int c, const struct notify_conf *cur,
                         struct notify_channel_conf *out)
{
    const char *name = notify_channel_name(c);
    if (!obj) return 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (strcmp(key, "enabled") && strcmp(key, "min_urgency") && strcmp(key, "events") &&
            strcmp(key, target_key[c])) {
            char field[96];
            snprintf(field, sizeof field, "%s.%.64s", name, key);
            api_invalid(r, field, "unknown field (allowed: enabled, min_urgency, events, %s)",
                        target_key[c]);
            return -1;
        }
    }
    char field[96];
    if ((v = json_object_get(obj, "enabled"))) {
        snprintf(field, sizeof field, "%s.enabled", name);
        if (!json_is_boolean(v)) {
            api_invalid(r, field, "must be true or false");
            return -1;
        }
        out->enabled = json_is_true(v);
    }
    if ((v = json_object_get(obj, "min_urgency"))) {
        snprintf(field, sizeof field, "%s.min_urgency", name);
        if (!json_is_string(v) || notify_level_parse(json_string_value(v), &out->min_urgency)) {
            api_invalid(r, field, "must be low, medium or high");
            return -1;
        }
    }
    if ((v = json_object_get(obj, "events"))) {
        snprintf(field, sizeof field, "%s.events", name);
        if (!json_is_null(v) && (!json_is_array(v) || json_array_size(v) > EVENTS_MAX)) {
            api_invalid(r, field, "must be null (every event) or a list of at most %d names",
                        EVENTS_MAX);
            return -1;
        }
        struct notify_channel_conf fresh = {0};
        fresh.all_events = json_is_null(v);
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it)
        {
            if (!json_is_string(it)) {
                snprintf(field, sizeof field, "%s.events[%zu]", name, i);
                api_invalid(r, field, "must be an event name");
                for (int k = 0; k < fresh.n_events; k++)
                    free(fresh.events[k]);
                free(fresh.events);
                return -1;
            }
            notify_conf_add_event(&fresh, json_string_value(it));
        }
        for (int k = 0; k < out->n_events; k++)
            free(out->events[k]);
        free(out->events);
        out->events = fresh.events;
        out->n_events = fresh.n_events;
        out->all_events = fresh.all_events;
    }
    if ((v = json_object_get(obj, target_key[c]))) {
        int max = c == NOTIFY_EMAIL ? NOTIFY_MAX_RECIPIENTS : NOTIFY_MAX_WEBHOOKS;
        snprintf(field, sizeof field, "%s.%s", name, target_key[c]);
        if (!json_is_array(v) || json_array_size(v) > (size_t)max) {
            api_invalid(r, field, "must be a list of at most %d entries", max);
            return -1;
        }
        struct notify_channel_conf fresh = {0};
        size_t i;
        json_t *it;
        int bad = 0;
        json_array_foreach(v, i, it)
        {
            snprintf(field, sizeof field, "%s.%s[%zu]", name, target_key[c], i);
            const char *s = NULL;
            if (json_is_string(it)) {
                s = json_string_value(it);
            } else if (c == NOTIFY_WEBHOOK && json_is_object(it) && json_object_size(it) == 1 &&
                       json_is_string(json_object_get(it, "id"))) {
                s = webhook_by_id(cur, json_string_value(json_object_get(it, "id")));
                if (!s) {
                    api_invalid(r, field, "no configured webhook has this id");
                    bad = 1;
                    break;
                }
            } else {
                api_invalid(r, field,
                            c == NOTIFY_WEBHOOK
                                ? "must be a URL, or {\"id\": ...} to keep a configured one"
                                : "must be an e-mail address");
                bad = 1;
                break;
            }
            notify_conf_add_target(&fresh, s);
        }
        if (bad) {
            for (int k = 0; k < fresh.n_targets; k++)
                free(fresh.targets[k]);
            free(fresh.targets);
            return -1;
        }
        for (int k = 0; k < out->n_targets; k++)
            free(out->targets[k]);
        free(out->targets);
        out->targets = fresh.targets;
        out->n_targets = fresh.n_targets;
    }
    return 0;
}

static void settings_put(struct req *r)
{
    json_t *body = req_json(r);
    struct notify_conf cur, next;
    int rc = notify_conf_get(&cur);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    memset(&next, 0, sizeof next);
    for (int c = 0; c < NOTIFY_CHANNELS; c++) {
        struct notify_channel_conf *d = &next.ch[c];
        const struct notify_channel_conf *s = &cur.ch[c];
        d->enabled = s->enabled;
        d->min_urgency = s->min_urgency;
        d->all_events = s->all_events;
        for (int i = 0; i < s->n_events; i++)
            notify_conf_add_event(d, s->events[i]);
        for (int i = 0; i < s->n_targets; i++)
            notify_conf_add_target(d, s->targets[i]);
    }
    const char *names[NOTIFY_CHANNELS] = {"email", "webhook"};
    for (int c = 0; c < NOTIFY_CHANNELS; c++)
        if (apply_channel(r, json_object_get(body, names[c]), c, &cur, &next.ch[c])) goto done;
    char field[96] = "body", err[256] = "";
    const struct user *u = api_user(r);
    rc = notify_conf_put(&next, u ? u->id : NULL, field, sizeof field, err, sizeof err);
    if (rc == RAGD_EINVAL) {
        api_invalid(r, field, "%s", err);
        goto done;
    }
    if (rc) {
        http_store_error(r, rc);
        goto done;
    }
    json_t *details = json_pack(
        "{s:b, s:s, s:i, s:b, s:s, s:i}", "email_enabled", next.ch[NOTIFY_EMAIL].enabled,
        "email_min_urgency", notify_level_name(next.ch[NOTIFY_EMAIL].min_urgency), "recipients",
        next.ch[NOTIFY_EMAIL].n_targets, "webhook_enabled", next.ch[NOTIFY_WEBHOOK].enabled,
        "webhook_min_urgency", notify_level_name(next.ch[NOTIFY_WEBHOOK].min_urgency), "webhooks",
        next.ch[NOTIFY_WEBHOOK].n_targets);
    api_audit(r, "notifications.update", "notifications", NULL, details);
    json_decref(details);
    struct notify_conf now;
    if ((rc = notify_conf_get(&now))) {
        http_store_error(r, rc);
        goto done;
    }
    http_json(r, 200, settings_json(&now));
    notify_conf_free(&now);
done:
    notify_conf_free(&cur);
    notify_conf_free(&next);
}

/* ---- test and outbox ---- */

static void send_test(struct req *r)
{
    const struct user *u = api_user(r);
    char id[37];
    int targets = 0;
    int rc = notify_send_test(u ? u->email : NULL, id, &targets);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 409, "NO_NOTIFICATION_TARGETS",
                   "No enabled channel has a recipient or URL: set them with PUT "
                   "/admin/notifications first");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *details = json_pack("{s:s, s:i}", "event_id", id, "targets", targets);
    api_audit(r, "notifications.test", "notifications", NULL, details);
    json_decref(details);
    http_json(r, 202,
              json_pack("{s:s, s:s, s:i, s:s}", "id", id, "event", NOTIFY_TEST, "targets", targets,
                        "detail",
                        "The test event is in the outbox; GET /admin/notifications/outbox "
                        "shows its deliveries"));
}

static void outbox_list(struct req *r)
{
    static const char *const statuses[] = {"pending", "delivered", "abandoned", NULL};
    long long limit, offset;
    if (req_query_int(r, "limit", 50, 1, 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    const char *status = req_query(r, "status");
    if (status) {
        int ok = 0;
        for (int i = 0; statuses[i]; i++)
            ok |= !strcmp(statuses[i], status);
        if (!ok) {
            api_invalid(r, "status", "must be pending, delivered or abandoned");
            return;
        }
    }
    struct outbox_row *rows;
    int n;
    int64_t total;
    int rc = store_outbox_list(status, limit, offset, &rows, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++) {
        const struct outbox_row *w = &rows[i];
        json_t *target;
        if (!strcmp(w->channel, "webhook")) {
            target = webhook_json(w->target);
        } else {
            target = json_pack("{s:s}", "address", w->target);
        }
        json_array_append_new(
            items,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:o, s:o, s:o, s:s}", "id", w->id,
                      "event_id", w->event_id, "event", w->event, "urgency", w->urgency, "channel",
                      w->channel, "target", target, "status", w->status, "attempts",
                      (json_int_t)w->attempts, "next_attempt_at",
                      !strcmp(w->status, "pending") ? json_string(w->next_attempt_at) : json_null(),
                      "last_error", w->last_error ? json_string(w->last_error) : json_null(),
                      "delivered_at",
                      w->delivered_at[0] ? json_string(w->delivered_at) : json_null(), "created_at",
                      w->created_at));
    }
    store_outbox_rows_free(rows, n);
    http_json(r, 200, json_pack("{s:I, s:o}", "total", (json_int_t)total, "items", items));
}

/* RAGD_TEST_MODE only: emits any event of the table, as the services that own them would. */
static void test_emit(struct req *r)
{
    json_t *b = req_json(r);
    const char *event = jv_str(b, "event", NULL);
    json_t *details = json_object_get(b, "details");
    if (!notify_urgency(event)) {
        api_invalid(r, "event", "unknown event name");
        return;
    }
    if (details && !json_is_object(details)) {
        api_invalid(r, "details", "must be an object");
        return;
    }
    int rc = notify_emit(NULL, event, details ? json_incref(details) : NULL);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 202, json_pack("{s:s}", "event", event));
}

static const struct jv_field emit_fields[] = {
    {"event", JV_STRING, 1, 1, 64, 0, NULL, "an event name of the table"},
    {"details", JV_OBJECT, 0, 0, 0, 0, NULL, "the event's details"},
    {NULL},
};
static const struct jv_schema emit_schema = {emit_fields, 0};

const struct route notifications_test_routes[] = {
    {.method = "POST",
     .pattern = "/admin/test/notify",
     .handler = test_emit,
     .access = ACCESS_ADMIN,
     .body = &emit_schema,
     .tag = "test",
     .summary = "Emit a notification event (RAGD_TEST_MODE only)",
     .ok_status = 202,
     .response_doc = "{event}",
     .perm = "ops.manage",
     .response = "{event: string}"},
    {NULL},
};

static const struct jv_field put_fields[] = {
    {"email", JV_OBJECT, 0, 0, 0, 0, NULL,
     "{enabled, min_urgency: low|medium|high, events: [names] | null, recipients: [addresses]}"},
    {"webhook", JV_OBJECT, 0, 0, 0, 0, NULL,
     "{enabled, min_urgency, events, urls: [URL | {id} of a configured one]}"},
    {NULL},
};
static const struct jv_schema put_schema = {put_fields, 0};

const struct route notifications_routes[] = {
    {.method = "GET",
     .pattern = "/admin/notifications",
     .handler = settings_get,
     .access = ACCESS_ADMIN,
     .tag = "admin",
     .summary = "Notification channels (e-mail recipients, webhooks), their filters, the event "
                "table and the outbox's counts",
     .response_doc = "{email, webhook, events, outbox, updated_by, updated_at}",
     .perm = "ops.read",
     .response = "$NotificationSettings"},
    {.method = "PUT",
     .pattern = "/admin/notifications",
     .handler = settings_put,
     .access = ACCESS_ADMIN,
     .body = &put_schema,
     .tag = "admin",
     .summary = "Change the notification channels; fields left out stay as they are",
     .response_doc = "the settings, as GET returns them",
     .perm = "ops.manage",
     .response = "$NotificationSettings"},
    {.method = "POST",
     .pattern = "/admin/notifications/test",
     .handler = send_test,
     .access = ACCESS_ADMIN,
     .tag = "admin",
     .summary = "Send a test event to every target of every enabled channel",
     .ok_status = 202,
     .response_doc = "{id, event, targets, detail}",
     .perm = "ops.manage",
     .response = "{id: string, event: string, targets: int, detail: string}"},
    {.method = "GET",
     .pattern = "/admin/notifications/outbox",
     .handler = outbox_list,
     .access = ACCESS_ADMIN,
     .tag = "admin",
     .summary = "Notification deliveries, newest event first; query: status (pending, "
                "delivered, abandoned), limit, offset",
     .response_doc = "{total, items: [{id, event_id, event, urgency, channel, target, status, "
                     "attempts, next_attempt_at, last_error, delivered_at, created_at}]}",
     .perm = "ops.read",
     .response = "{total: int, items: [{id: string, event_id: string, event: string, urgency: "
                 "string, channel: string, target: object, status: string, attempts: int, "
                 "next_attempt_at: string|null, last_error: string|null, delivered_at: "
                 "string|null, created_at: string}]}"},
    {NULL},
};
