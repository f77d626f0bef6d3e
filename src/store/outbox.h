/* outbox.h - the notification tables: the outbox of events waiting to be delivered
 * (notification_outbox), the operators' channel settings (notification_channels) and one
 * delivery per event and target (notification_deliveries).
 *
 * An event is written in the same transaction as the change that causes it (pass that
 * transaction's connection), so a change is never committed without its event, nor an event
 * without its change. ops/notify routes each event once to the targets that want it (one
 * delivery row each) and delivers the rows; a node claims a row before it delivers it, so on
 * several nodes each row is sent by one of them.
 *
 * Times are milliseconds since the epoch (core/util.h time_now_ms). */
#ifndef RAGD_STORE_OUTBOX_H
#define RAGD_STORE_OUTBOX_H

#include <stdint.h>

#include "store/db.h"

/* Registers the tables' migrations (call before store_migrate). */
void store_outbox_register(void);

/* Adds one event (event name, urgency "low" | "medium" | "high", payload a JSON object as
 * text) on c, inside the caller's transaction when it has one; c NULL: the shared
 * connection, a transaction of its own. Writes the new row's id into id_out when not NULL.
 * Returns 0 or a store error. */
int store_outbox_add(db_conn_t *c, const char *event, const char *urgency, const char *payload,
                     char id_out[37]);

/* ---- channel settings ---- */

enum { OUTBOX_CHANNELS = 2 }; /* "email", "webhook" */

struct outbox_channel {
    char name[16];       /* "email" | "webhook" */
    int enabled;         /* 0 or 1 */
    char min_urgency[8]; /* "low" | "medium" | "high" */
    char *events;        /* JSON array of event names as text; NULL: every event */
    char *targets;       /* JSON array of strings as text (addresses or URLs) */
    char updated_by[64]; /* "" when never changed */
    char updated_at[32]; /* "" when never changed */
};

/* Reads the settings of both channels into out[0] (email) and out[1] (webhook). The strings
 * are the caller's; free them with store_outbox_channels_clear. Returns 0 or a store error. */
int store_outbox_channels_get(struct outbox_channel out[OUTBOX_CHANNELS]);
void store_outbox_channels_clear(struct outbox_channel ch[OUTBOX_CHANNELS]);
/* Replaces the settings of both channels in one transaction (updated_by / updated_at are
 * taken from the arguments, not from ch). Returns 0 or a store error. */
int store_outbox_channels_put(const struct outbox_channel ch[OUTBOX_CHANNELS],
                              const char *updated_by);

/* ---- routing ---- */

struct outbox_event {
    char id[37];
    char event[48];
    char urgency[8];
    char created_at[32];
    char *payload; /* JSON object as text, owned */
};

/* The oldest events not yet routed, at most limit, into *out (caller frees with
 * store_outbox_events_free), their number in *n. Returns 0 or a store error. */
int store_outbox_unrouted(int limit, struct outbox_event **out, int *n);
void store_outbox_events_free(struct outbox_event *e, int n);

struct outbox_target {
    const char *channel, *target;
};
/* Records a pending delivery of event_id to each of t[0..n) (one already recorded is kept
 * as it is) and marks the event routed, in one transaction. Returns 0 or a store error. */
int store_outbox_route(const char *event_id, const struct outbox_target *t, int n, int64_t now_ms);

/* The id of an event other than event_id with the same name and payload, routed at or after
 * since_ms and not itself a repeat, into twin_id: 0, RAGD_ENOTFOUND when there is none, or a
 * store error. */
int store_outbox_twin(const char *event_id, const char *event, const char *payload,
                      int64_t since_ms, char twin_id[37]);
/* Marks event_id routed to nobody, as a repeat of twin_id. Returns 0 or a store error. */
int store_outbox_suppress(const char *event_id, const char *twin_id, int64_t now_ms);

/* ---- delivery ---- */

struct outbox_delivery {
    char id[37];
    char channel[16];
    char *target; /* owned */
    int64_t attempts, created_ms;
    struct outbox_event ev;
};

/* Claims under claim (a token unique to this claim: a fresh UUID) the due pending delivery
 * (next attempt at or before now_ms, no live claim) that is due first, until until_ms. Returns 0
 * with *out filled (clear it with store_outbox_delivery_clear), RAGD_ENOTFOUND when nothing is due,
 * or a store error. On several nodes a delivery is claimed by one of them at a time. */
int store_outbox_claim(const char *claim, int64_t now_ms, int64_t until_ms,
                       struct outbox_delivery *out);
void store_outbox_delivery_clear(struct outbox_delivery *d);

/* Settle a delivery claimed under claim (nothing happens when that claim has been lost):
 * delivered: done; failed: one more attempt counted, error kept, due again at next_ms;
 * postponed: due again at next_ms without counting an attempt (why is kept as the error when
 * it has none yet); abandoned: given up with error.
 * Each returns 0 or a store error. */
int store_outbox_delivered(const char *id, const char *claim, int64_t now_ms);
int store_outbox_failed(const char *id, const char *claim, const char *error, int64_t next_ms);
int store_outbox_postponed(const char *id, const char *claim, const char *why, int64_t next_ms);
int store_outbox_abandoned(const char *id, const char *claim, const char *error, int64_t now_ms);

/* ---- upkeep and views ---- */

/* Gives up the pending deliveries to channel of events created before cutoff_ms (unless
 * claimed now); *n (may be NULL) counts them. Returns 0 or a store error. */
int store_outbox_give_up(const char *channel, int64_t cutoff_ms, int64_t now_ms, int64_t *n);
/* Deletes the settled deliveries settled before cutoff_ms and the routed events created
 * before cutoff_ms that have no delivery left; *deleted (may be NULL) counts the
 * deliveries. Returns 0 or a store error. */
int store_outbox_prune(int64_t cutoff_ms, int64_t *deleted);

struct outbox_counts {
    int64_t unrouted;           /* events not yet routed */
    int64_t suppressed;         /* events not sent as repeats (until pruned) */
    int64_t pending;            /* deliveries waiting */
    int64_t retrying;           /* of those, with at least one failed attempt */
    int64_t delivered;          /* deliveries done (until pruned) */
    int64_t abandoned;          /* deliveries given up (until pruned) */
    char oldest_pending_at[32]; /* creation time of the oldest waiting event; "" if none */
};
int store_outbox_counts(struct outbox_counts *out);

struct outbox_row {
    char id[37], event_id[37], event[48], urgency[8], channel[16], status[12];
    char created_at[32];   /* the event's */
    char delivered_at[32]; /* "" unless delivered */
    char next_attempt_at[32];
    int64_t attempts;
    char *target;     /* owned */
    char *last_error; /* owned; NULL if none */
};
/* Deliveries newest event first, those with status (NULL: any) only; *total counts them all.
 * Free with store_outbox_rows_free. Returns 0 or a store error. */
int store_outbox_list(const char *status, int64_t limit, int64_t offset, struct outbox_row **out,
                      int *n, int64_t *total);
void store_outbox_rows_free(struct outbox_row *r, int n);

#endif
