/* notify.c - event names and urgencies, writing events to the outbox, the channel settings
 * and the helpers of delivery (ops/notify.h). The worker is in notify_worker.c. */
#include "ops/notify.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "ops/notify_int.h"
#include "store/outbox.h"

static const struct {
    const char *event, *urgency, *title;
} events[] = {
    {NOTIFY_KEY_FAILED, "low", "Provider key failed"},
    {NOTIFY_KEY_DEGRADED, "medium", "Provider key degraded"},
    {NOTIFY_KEY_DISABLED, "high", "Provider key disabled"},
    {NOTIFY_KEY_RECOVERED, "low", "Provider key recovered"},
    {NOTIFY_FAILOVER, "medium", "Failover to another provider key"},
    {NOTIFY_ALL_KEYS_FAILED, "high", "All provider keys failed"},
    {NOTIFY_KEY_ADDED, "low", "Provider key added"},
    {NOTIFY_KEY_DELETED, "medium", "Provider key deleted"},
    {NOTIFY_MAINTENANCE_ENTERED, "high", "Maintenance mode entered"},
    {NOTIFY_MAINTENANCE_EXITED, "medium", "Maintenance mode exited"},
    {NOTIFY_MAINTENANCE_OVERRIDDEN, "high", "Maintenance mode overridden by an admin"},
    {NOTIFY_SECURITY, "high", "Security event"},
    {NOTIFY_PAYMENT_RECEIPT, "low", "Payment received"},
    {NOTIFY_PAYMENT_FAILED, "medium", "Payment failed"},
    {NOTIFY_PAYMENT_MISMATCH, "high", "Payment refused: amount or currency mismatch"},
    {NOTIFY_TICKET_CREATED, "medium", "Support ticket created"},
    {NOTIFY_TICKET_ESCALATED, "medium", "Support ticket priority raised"},
    {NOTIFY_TEST, "low", "Test notification"},
};
enum { N_EVENTS = sizeof events / sizeof events[0] };

static const char *const level_names[] = {"low", "medium", "high"};
static const char *const channel_names[] = {"email", "webhook"};

const char *notify_urgency(const char *event)
{
    for (size_t i = 0; event && i < N_EVENTS; i++)
        if (!strcmp(events[i].event, event)) return events[i].urgency;
    return NULL;
}

const char *notify_title(const char *event)
{
    for (size_t i = 0; event && i < N_EVENTS; i++)
        if (!strcmp(events[i].event, event)) return events[i].title;
    return NULL;
}

const char *notify_event_at(int i)
{
    return i >= 0 && i < N_EVENTS ? events[i].event : NULL;
}

int notify_level_parse(const char *s, int *out)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(level_names[i], s)) {
            *out = i;
            return 0;
        }
    return RAGD_EINVAL;
}

const char *notify_level_name(int level)
{
    RAGD_ASSERT(level >= NOTIFY_LOW && level <= NOTIFY_HIGH);
    return level_names[level];
}

const char *notify_channel_name(int channel)
{
    RAGD_ASSERT(channel >= 0 && channel < NOTIFY_CHANNELS);
    return channel_names[channel];
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
    else
        notify_kick();
    free(payload);
    return rc;
}

int notify_send_test(const char *requested_by, char id_out[37], int *targets)
{
    struct notify_conf conf;
    int rc = notify_conf_get(&conf);
    if (rc) return rc;
    int n = 0;
    for (int i = 0; i < NOTIFY_CHANNELS; i++)
        if (conf.ch[i].enabled) n += conf.ch[i].n_targets;
    notify_conf_free(&conf);
    if (targets) *targets = n;
    if (!n) return RAGD_ENOTFOUND;
    json_t *details =
        json_pack("{s:s, s:s}", "requested_by", requested_by ? requested_by : "", "message",
                  "This is a test notification from ragd: this channel works.");
    char *payload = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(details);
    rc = store_outbox_add(NULL, NOTIFY_TEST, notify_urgency(NOTIFY_TEST), payload, id_out);
    free(payload);
    if (!rc) notify_kick();
    return rc;
}

/* ---- settings ---- */

static void push(char ***v, int *n, const char *s)
{
    *v = xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrdup(s);
}

void notify_conf_add_target(struct notify_channel_conf *ch, const char *s)
{
    push(&ch->targets, &ch->n_targets, s);
}

void notify_conf_add_event(struct notify_channel_conf *ch, const char *s)
{
    push(&ch->events, &ch->n_events, s);
}

/* Appends the strings of the JSON array text to v (a value that is not a string is skipped:
 * the store only holds what notify_conf_put wrote). */
static void strings_from_json(const char *text, char ***v, int *n)
{
    json_error_t je;
    json_t *a = text ? json_loads(text, 0, &je) : NULL;
    size_t i;
    json_t *it;
    json_array_foreach(a, i, it) if (json_is_string(it)) push(v, n, json_string_value(it));
    json_decref(a);
}

static char *strings_to_json(char *const *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    RAGD_ASSERT(s);
    return s;
}

int notify_conf_get(struct notify_conf *out)
{
    memset(out, 0, sizeof *out);
    struct outbox_channel rows[OUTBOX_CHANNELS];
    int rc = store_outbox_channels_get(rows);
    if (rc) return rc;
    for (int i = 0; i < OUTBOX_CHANNELS; i++) {
        int c = !strcmp(rows[i].name, "email") ? NOTIFY_EMAIL : NOTIFY_WEBHOOK;
        struct notify_channel_conf *ch = &out->ch[c];
        ch->enabled = rows[i].enabled;
        if (notify_level_parse(rows[i].min_urgency, &ch->min_urgency))
            ch->min_urgency = NOTIFY_LOW; /* defensive: the table's CHECK allows no other */
        ch->all_events = rows[i].events == NULL;
        strings_from_json(rows[i].events, &ch->events, &ch->n_events);
        strings_from_json(rows[i].targets, &ch->targets, &ch->n_targets);
        if (rows[i].updated_at[0] &&
            (!out->updated_at[0] || strcmp(rows[i].updated_at, out->updated_at) > 0)) {
            snprintf(out->updated_at, sizeof out->updated_at, "%s", rows[i].updated_at);
            snprintf(out->updated_by, sizeof out->updated_by, "%s", rows[i].updated_by);
        }
    }
    store_outbox_channels_clear(rows);
    return 0;
}

void notify_conf_free(struct notify_conf *c)
{
    for (int i = 0; i < NOTIFY_CHANNELS; i++) {
        struct notify_channel_conf *ch = &c->ch[i];
        for (int k = 0; k < ch->n_events; k++)
            free(ch->events[k]);
        for (int k = 0; k < ch->n_targets; k++)
            free(ch->targets[k]);
        free(ch->events);
        free(ch->targets);
        ch->events = ch->targets = NULL;
        ch->n_events = ch->n_targets = 0;
    }
}

static int address_check(const char *s, char *err, size_t errcap)
{
    if (strlen(s) > NOTIFY_ADDRESS_MAX || !email_valid(s))
        return ragd_errf(err, errcap, RAGD_EINVAL, "not a valid e-mail address");
    return 0;
}

int notify_conf_check(const struct notify_conf *c, char *field, size_t fieldcap, char *err,
                      size_t errcap)
{
    static const char *const target_key[] = {"recipients", "urls"};
    static const int max_targets[] = {NOTIFY_MAX_RECIPIENTS, NOTIFY_MAX_WEBHOOKS};
    for (int i = 0; i < NOTIFY_CHANNELS; i++) {
        const struct notify_channel_conf *ch = &c->ch[i];
        const char *name = channel_names[i];
        if (ch->min_urgency < NOTIFY_LOW || ch->min_urgency > NOTIFY_HIGH) {
            snprintf(field, fieldcap, "%s.min_urgency", name);
            return ragd_errf(err, errcap, RAGD_EINVAL, "must be low, medium or high");
        }
        for (int k = 0; !ch->all_events && k < ch->n_events; k++) {
            snprintf(field, fieldcap, "%s.events[%d]", name, k);
            if (!strcmp(ch->events[k], NOTIFY_TEST))
                return ragd_errf(err, errcap, RAGD_EINVAL,
                                 "the test event goes to every enabled channel: leave it out");
            if (!notify_urgency(ch->events[k]))
                return ragd_errf(err, errcap, RAGD_EINVAL, "unknown event name");
            for (int j = 0; j < k; j++)
                if (!strcmp(ch->events[j], ch->events[k]))
                    return ragd_errf(err, errcap, RAGD_EINVAL, "listed twice");
        }
        if (ch->n_targets > max_targets[i]) {
            snprintf(field, fieldcap, "%s.%s", name, target_key[i]);
            return ragd_errf(err, errcap, RAGD_EINVAL, "at most %d entries", max_targets[i]);
        }
        for (int k = 0; k < ch->n_targets; k++) {
            snprintf(field, fieldcap, "%s.%s[%d]", name, target_key[i], k);
            int rc = i == NOTIFY_EMAIL ? address_check(ch->targets[k], err, errcap)
                                       : notify_url_check(ch->targets[k], err, errcap);
            if (rc) return rc;
            for (int j = 0; j < k; j++)
                if (!strcmp(ch->targets[j], ch->targets[k]))
                    return ragd_errf(err, errcap, RAGD_EINVAL, "listed twice");
        }
    }
    return 0;
}

int notify_conf_put(const struct notify_conf *c, const char *actor, char *field, size_t fieldcap,
                    char *err, size_t errcap)
{
    int rc = notify_conf_check(c, field, fieldcap, err, errcap);
    if (rc) return rc;
    struct outbox_channel rows[OUTBOX_CHANNELS];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < NOTIFY_CHANNELS; i++) {
        const struct notify_channel_conf *ch = &c->ch[i];
        snprintf(rows[i].name, sizeof rows[i].name, "%s", channel_names[i]);
        rows[i].enabled = ch->enabled != 0;
        snprintf(rows[i].min_urgency, sizeof rows[i].min_urgency, "%s",
                 level_names[ch->min_urgency]);
        rows[i].events = ch->all_events ? NULL : strings_to_json(ch->events, ch->n_events);
        rows[i].targets = strings_to_json(ch->targets, ch->n_targets);
    }
    rc = store_outbox_channels_put(rows, actor);
    store_outbox_channels_clear(rows);
    return rc;
}

int notify_wants(const struct notify_channel_conf *ch, const char *event)
{
    if (!ch->enabled) return 0;
    if (!strcmp(event, NOTIFY_TEST)) return 1;
    int level;
    if (notify_level_parse(notify_urgency(event), &level) || level < ch->min_urgency) return 0;
    if (ch->all_events) return 1;
    for (int i = 0; i < ch->n_events; i++)
        if (!strcmp(ch->events[i], event)) return 1;
    return 0;
}

/* ---- URLs ---- */

int notify_url_check(const char *url, char *err, size_t errcap)
{
    size_t n = strlen(url);
    if (n == 0 || n > NOTIFY_URL_MAX)
        return ragd_errf(err, errcap, RAGD_EINVAL, "must be 1 to %d characters", NOTIFY_URL_MAX);
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return ragd_errf(err, errcap, RAGD_EINVAL,
                             "spaces and control characters are not "
                             "allowed (percent-encode them)");
    if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
        return ragd_errf(err, errcap, RAGD_EINVAL, "must be an http:// or https:// URL");
    if (strstr(url, "://")[3] == '/') /* libcurl would read "https:///x" as host "x" */
        return ragd_errf(err, errcap, RAGD_EINVAL, "the URL names no host");
    CURLU *u = curl_url();
    if (!u) return ragd_errf(err, errcap, RAGD_EINVAL, "cannot parse the URL");
    int rc = 0;
    char *host = NULL, *frag = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        rc = ragd_errf(err, errcap, RAGD_EINVAL, "not a valid URL");
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host)
        rc = ragd_errf(err, errcap, RAGD_EINVAL, "the URL names no host");
    else if (curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK && frag)
        rc = ragd_errf(err, errcap, RAGD_EINVAL, "a webhook URL has no #fragment");
    curl_free(host);
    curl_free(frag);
    curl_url_cleanup(u);
    return rc;
}

void notify_url_redact(const char *url, char *out, size_t cap)
{
    snprintf(out, cap, "(invalid URL)");
    CURLU *u = curl_url();
    if (!u) return;
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port)
            snprintf(out, cap, "%s://%s:%s/...", scheme, host, port);
        else
            snprintf(out, cap, "%s://%s/...", scheme, host);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

void notify_target_id(const char *target, char out[17])
{
    char hex[65];
    sha256_hex(target, strlen(target), hex);
    memcpy(out, hex, 16);
    out[16] = 0;
}

/* ---- delivery helpers ---- */

int notify_webhook_sign(const char *secret, const char *timestamp, const char *body, size_t len,
                        char out[72])
{
    if (!secret || !*secret) return RAGD_EINVAL;
    size_t tn = strlen(timestamp);
    char *msg = xmalloc(tn + 1 + len + 1);
    memcpy(msg, timestamp, tn);
    msg[tn] = '.';
    memcpy(msg + tn + 1, body, len);
    unsigned char mac[32];
    int rc = hmac_sha256(secret, strlen(secret), msg, tn + 1 + len, mac);
    free(msg);
    if (rc) return rc;
    memcpy(out, "sha256=", 7);
    hex_encode(mac, sizeof mac, out + 7);
    return 0;
}

int64_t notify_backoff_ms(int64_t failures, int64_t base_ms, int64_t cap_ms)
{
    if (failures < 1) failures = 1;
    int64_t d = base_ms;
    for (int64_t i = 1; i < failures && d < cap_ms; i++)
        d *= 2;
    return d < cap_ms ? d : cap_ms;
}
