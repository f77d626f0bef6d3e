/* notify.h - operational notifications (seed 003): events such as a provider key failing or
 * maintenance being entered, delivered to the operators' channels (webhook, e-mail).
 *
 * An event is a name from the table in notify.c (which fixes its urgency) and a JSON object
 * of details. notify_emit writes it to the durable outbox (store/outbox.h); pass the
 * connection of the transaction that makes the change, so that both commit or neither does.
 * Details never carry a secret (a provider key shows its last 4 characters at most).
 *
 * Channels and their settings (stored in the database, shared by every node):
 *   email    recipients (addresses); one message per event and recipient, over SMTP
 *            (ops/mail.h: SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_FROM).
 *   webhook  URLs (http or https); one JSON POST per event and URL.
 * Each channel has enabled, min_urgency and an optional list of event names: an event goes
 * to a channel when the channel is enabled, the event's urgency is at least min_urgency and,
 * when the list is set, the event is in it. Defaults (the seed's table): e-mail from "low",
 * webhook from "medium", every event. The test event goes to every enabled channel.
 *
 * Delivery (the worker, notify_start): each event is routed once to the targets that want it
 * (one delivery row per target); each delivery is claimed by one node, sent, and marked
 * delivered right after the channel accepted it (a 2xx answer; SMTP 250), or retried with
 * exponential backoff: NOTIFY_RETRY_BASE_SECONDS (30) doubled per failed attempt, capped at
 * NOTIFY_RETRY_MAX_SECONDS (3600). Delivery is at least once: a node that dies between the
 * channel's acceptance and the mark sends it again after its claim expires (2 minutes);
 * receivers can drop repeats by the event id. A delivery whose target left the settings is
 * given up; so is one still failing NOTIFY_RETENTION_DAYS (30) after its event. Settled
 * deliveries and their events are deleted NOTIFY_RETENTION_DAYS after they settled. The
 * worker polls every NOTIFY_POLL_SECONDS (2; sooner after a notify_emit on this node).
 * An event with the same name and details as one routed in the last
 * NOTIFY_REPEAT_WINDOW_SECONDS (300; 0: off) is recorded as a repeat and sent to nobody (the
 * test event excepted), so a key failing on every request does not mail on every request.
 *
 * The webhook request: POST, Content-Type: application/json, body
 *   {"text": "<one line for Slack and the like>", "id": "<event id>", "event": "<name>",
 *    "urgency": "low|medium|high", "details": {...}, "created_at": "<ISO-8601 UTC>"}
 * with headers X-Ragd-Event (the name), X-Ragd-Event-Id (the id), and, when
 * NOTIFY_WEBHOOK_SECRET is set, the signature:
 *   X-Ragd-Timestamp: <t, Unix seconds when the request was signed>
 *   X-Ragd-Signature: sha256=<hex of HMAC-SHA256(key = NOTIFY_WEBHOOK_SECRET,
 *                                                message = t + "." + body)>
 * where body is the exact request body. A receiver recomputes the HMAC over the timestamp
 * header, a dot and the raw body, compares in constant time, and refuses a timestamp more
 * than a few minutes away from its clock (a replayed request carries an old one). Only a 2xx
 * answer counts as delivered; redirects are not followed; 5 s to connect, 15 s in all.
 *
 * Metrics: ragd_notifications_total{channel, outcome = delivered | failed | abandoned},
 * ragd_notifications_suppressed_total (repeats not sent), ragd_notification_outbox_backlog
 * (events not yet routed plus deliveries waiting).
 * Neither the webhook secret, the SMTP password nor a webhook URL's path (a Slack URL is a
 * credential) is ever logged or shown: URLs appear as scheme://host[:port]/... */
#ifndef RAGD_OPS_NOTIFY_H
#define RAGD_OPS_NOTIFY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* Event names. */
#define NOTIFY_KEY_FAILED "key_failed"                         /* low */
#define NOTIFY_KEY_DEGRADED "key_degraded"                     /* medium */
#define NOTIFY_KEY_DISABLED "key_disabled"                     /* high: 401/403 from the provider */
#define NOTIFY_KEY_RECOVERED "key_recovered"                   /* low */
#define NOTIFY_FAILOVER "failover"                             /* medium */
#define NOTIFY_ALL_KEYS_FAILED "all_keys_failed"               /* high */
#define NOTIFY_KEY_ADDED "key_added"                           /* low */
#define NOTIFY_KEY_DELETED "key_deleted"                       /* medium */
#define NOTIFY_MAINTENANCE_ENTERED "maintenance_entered"       /* high */
#define NOTIFY_MAINTENANCE_EXITED "maintenance_exited"         /* medium */
#define NOTIFY_MAINTENANCE_OVERRIDDEN "maintenance_overridden" /* high */
#define NOTIFY_SECURITY "security_event"                       /* high */
#define NOTIFY_PAYMENT_RECEIPT "payment_receipt"               /* low: a payment was received */
#define NOTIFY_PAYMENT_FAILED "payment_failed"                 /* medium: grace period started */
#define NOTIFY_PAYMENT_MISMATCH "payment_mismatch" /* high: amount/currency not the plan's */
#define NOTIFY_TICKET_CREATED "ticket_created"     /* medium: a conversation escalated */
#define NOTIFY_TICKET_ESCALATED "ticket_escalated" /* medium: an open ticket's priority rose */
#define NOTIFY_TEST "test" /* low: POST /admin/notifications/test, to every enabled channel */

enum notify_level { NOTIFY_LOW, NOTIFY_MEDIUM, NOTIFY_HIGH };

enum {
    NOTIFY_MAX_RECIPIENTS = 50,
    NOTIFY_MAX_WEBHOOKS = 20,
    NOTIFY_ADDRESS_MAX = 254, /* characters of an e-mail address */
    NOTIFY_URL_MAX = 2048,    /* characters of a webhook URL */
};

/* The urgency of an event name ("low", "medium", "high"); NULL for an unknown name. */
const char *notify_urgency(const char *event);
/* A short human title of an event name ("Provider key failed"); NULL for an unknown name. */
const char *notify_title(const char *event);
/* The i-th event name of the table (0 <= i), NULL past its end: for listing them all. */
const char *notify_event_at(int i);
/* "low" | "medium" | "high" as enum notify_level in *out: 0, or RAGD_EINVAL. */
int notify_level_parse(const char *s, int *out);
const char *notify_level_name(int level);

/* Records event with details (a JSON object, stolen; NULL: {}) in the outbox on c (NULL:
 * the shared connection). Returns 0, RAGD_EINVAL for an unknown event name, or a store
 * error. Wakes this node's worker. */
int notify_emit(db_conn_t *c, const char *event, json_t *details);

/* ---- settings ---- */

enum notify_channel { NOTIFY_EMAIL, NOTIFY_WEBHOOK, NOTIFY_CHANNELS };
/* "email" | "webhook". */
const char *notify_channel_name(int channel);

struct notify_channel_conf {
    int enabled;
    int min_urgency; /* enum notify_level */
    int all_events;  /* 1: no list of event names (events / n_events unused) */
    char **events;   /* event names, owned */
    int n_events;
    char **targets; /* e-mail addresses or webhook URLs, owned */
    int n_targets;
};

struct notify_conf {
    struct notify_channel_conf ch[NOTIFY_CHANNELS];
    char updated_by[64]; /* the user id that last changed them; "" for the defaults */
    char updated_at[32];
};

/* Reads the settings into *out (free with notify_conf_free). 0 or a store error. */
int notify_conf_get(struct notify_conf *out);
void notify_conf_free(struct notify_conf *c);
/* Appends a copy of s to the channel's targets or events (for building a conf). */
void notify_conf_add_target(struct notify_channel_conf *ch, const char *s);
void notify_conf_add_event(struct notify_channel_conf *ch, const char *s);

/* Checks every value of c: event names known, no duplicates, at most NOTIFY_MAX_RECIPIENTS
 * valid e-mail addresses, at most NOTIFY_MAX_WEBHOOKS URLs passing notify_url_check. On a
 * bad value returns RAGD_EINVAL with the field written into field ("webhook.urls[2]") and
 * a message into err; 0 when all is well. */
int notify_conf_check(const struct notify_conf *c, char *field, size_t fieldcap, char *err,
                      size_t errcap);
/* notify_conf_check, then stores c as changed by actor (a user id). 0, RAGD_EINVAL (as
 * above; nothing stored) or a store error. */
int notify_conf_put(const struct notify_conf *c, const char *actor, char *field, size_t fieldcap,
                    char *err, size_t errcap);

/* 1 when the channel's settings want event (enabled, urgency, list), else 0. */
int notify_wants(const struct notify_channel_conf *ch, const char *event);

/* A webhook URL is acceptable: http or https, a host, no more than NOTIFY_URL_MAX
 * characters, no spaces or control characters, no fragment. 0, or RAGD_EINVAL with the
 * reason in err. */
int notify_url_check(const char *url, char *err, size_t errcap);
/* url reduced to what may be shown or logged: "scheme://host[:port]/..." (no user, path or
 * query). Cannot fail; a URL that does not parse gives "(invalid URL)". */
void notify_url_redact(const char *url, char *out, size_t cap);
/* A stable short id of a target (first 16 hex digits of its SHA-256), by which the API
 * names a webhook URL without showing it. Cannot fail. */
void notify_target_id(const char *target, char out[17]);

/* ---- delivery ---- */

/* The signature header's value, "sha256=" + 64 hex digits + NUL, into out: HMAC-SHA256 with
 * key secret over timestamp "." body[0..len). Returns 0, or RAGD_EINVAL for an empty
 * secret. */
int notify_webhook_sign(const char *secret, const char *timestamp, const char *body, size_t len,
                        char out[72]);
/* The delay before the next attempt after `failures` failed attempts (1, 2, ...):
 * base_ms * 2^(failures-1), at most cap_ms. Cannot fail. */
int64_t notify_backoff_ms(int64_t failures, int64_t base_ms, int64_t cap_ms);

/* Reads the NOTIFY_* settings above. 0, or RAGD_EINVAL with a message in err. Call once at
 * start, before notify_start. */
int notify_init(char *err, size_t errcap);
/* 1 when NOTIFY_WEBHOOK_SECRET is set (webhooks carry the signature), else 0. */
int notify_webhooks_signed(void);
/* Starts / stops the delivery worker thread. notify_stop lets the delivery in progress end
 * (it is bounded by the channel timeouts) and returns; what waits stays in the outbox for
 * the next start or another node. Safe when never started. */
void notify_start(void);
void notify_stop(void);

/* Emits the test event (details: requested_by, message) in a transaction of its own;
 * id_out (may be NULL) receives the event id. *targets (may be NULL) gets the number of
 * targets of the enabled channels it will reach. 0, RAGD_ENOTFOUND when there is none (no
 * event is written), or a store error. */
int notify_send_test(const char *requested_by, char id_out[37], int *targets);

#endif
