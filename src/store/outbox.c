/* outbox.c (store) - notification_outbox, notification_channels, notification_deliveries
 * (store/outbox.h). */
#include "store/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"

static const struct store_migration migrations[] = {
    {360, "operations: notification outbox",
     "CREATE TABLE notification_outbox ("
     " id TEXT PRIMARY KEY, event TEXT NOT NULL,"
     " urgency TEXT NOT NULL CHECK (urgency IN ('low', 'medium', 'high')),"
     " payload TEXT NOT NULL, created_at TEXT NOT NULL, created_ms INTEGER NOT NULL);"
     "CREATE INDEX notification_outbox_created ON notification_outbox(created_ms);"},
    /* The seed's table: key failures (low) by e-mail; degradation, failover and everything
     * above by e-mail and webhook. */
    {361, "operations: notification channel settings",
     "CREATE TABLE notification_channels ("
     " channel TEXT PRIMARY KEY CHECK (channel IN ('email', 'webhook')),"
     " enabled INTEGER NOT NULL,"
     " min_urgency TEXT NOT NULL CHECK (min_urgency IN ('low', 'medium', 'high')),"
     " events TEXT, targets TEXT NOT NULL, updated_by TEXT, updated_at TEXT);"
     "INSERT INTO notification_channels (channel, enabled, min_urgency, targets)"
     " VALUES ('email', 1, 'low', '[]');"
     "INSERT INTO notification_channels (channel, enabled, min_urgency, targets)"
     " VALUES ('webhook', 1, 'medium', '[]');"},
    {362, "operations: notification deliveries",
     "ALTER TABLE notification_outbox ADD COLUMN routed_ms INTEGER;"
     "CREATE INDEX notification_outbox_routed ON notification_outbox(routed_ms, created_ms);"
     "CREATE TABLE notification_deliveries ("
     " id TEXT PRIMARY KEY, outbox_id TEXT NOT NULL, channel TEXT NOT NULL,"
     " target TEXT NOT NULL,"
     " status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'abandoned')),"
     " attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, last_error TEXT,"
     " delivered_at TEXT, done_ms INTEGER, claimed_by TEXT,"
     " claim_until_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
     " UNIQUE (outbox_id, channel, target));"
     "CREATE INDEX notification_deliveries_due"
     " ON notification_deliveries(status, next_attempt_ms);"
     "CREATE INDEX notification_deliveries_done ON notification_deliveries(status, done_ms);"},
    {363, "operations: repeated notifications",
     "ALTER TABLE notification_outbox ADD COLUMN duplicate_of TEXT;"
     "CREATE INDEX notification_outbox_event ON notification_outbox(event, routed_ms);"},
};

void store_outbox_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

int store_outbox_add(db_conn_t *c, const char *event, const char *urgency, const char *payload,
                     char id_out[37])
{
    if (!c) c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char id[37], ts[32];
    uuid4(id);
    int64_t now = time_now_ms();
    int rc = db_exec(c, NULL,
                     "INSERT INTO notification_outbox (id, event, urgency, payload, created_at,"
                     " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                     "sssssi", id, event, urgency, payload, time_iso(now, ts), now);
    if (!rc && id_out) snprintf(id_out, 37, "%s", id);
    return rc;
}

/* ---- channel settings ---- */

int store_outbox_channels_get(struct outbox_channel out[OUTBOX_CHANNELS])
{
    memset(out, 0, OUTBOX_CHANNELS * sizeof *out);
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT channel, enabled, min_urgency, events, targets, updated_by,"
                      " updated_at FROM notification_channels ORDER BY channel",
                      "");
    if (rc) return rc;
    int n = 0;
    while (n < OUTBOX_CHANNELS && (rc = db_rows_next(r)) == 1) {
        struct outbox_channel *ch = &out[n++];
        copy(ch->name, sizeof ch->name, db_col_text(r, 0));
        ch->enabled = db_col_int(r, 1) != 0;
        copy(ch->min_urgency, sizeof ch->min_urgency, db_col_text(r, 2));
        ch->events = dup_or_null(db_col_text(r, 3));
        ch->targets = xstrdup(db_col_text(r, 4) ? db_col_text(r, 4) : "[]");
        copy(ch->updated_by, sizeof ch->updated_by, db_col_text(r, 5));
        copy(ch->updated_at, sizeof ch->updated_at, db_col_text(r, 6));
    }
    db_rows_free(r);
    if (rc < 0 || n != OUTBOX_CHANNELS) {
        store_outbox_channels_clear(out);
        return rc < 0 ? rc : RAGD_EDB; /* the migration inserts both rows */
    }
    return 0;
}

void store_outbox_channels_clear(struct outbox_channel ch[OUTBOX_CHANNELS])
{
    for (int i = 0; i < OUTBOX_CHANNELS; i++) {
        free(ch[i].events);
        free(ch[i].targets);
        ch[i].events = ch[i].targets = NULL;
    }
}

int store_outbox_channels_put(const struct outbox_channel ch[OUTBOX_CHANNELS],
                              const char *updated_by)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    time_iso(time_now_ms(), ts);
    int rc = db_begin(c);
    if (rc) return rc;
    for (int i = 0; i < OUTBOX_CHANNELS && !rc; i++) {
        int64_t changes = 0;
        rc = db_exec(c, &changes,
                     "UPDATE notification_channels SET enabled = ?, min_urgency = ?, events = ?,"
                     " targets = ?, updated_by = ?, updated_at = ? WHERE channel = ?",
                     "bssssss", ch[i].enabled, ch[i].min_urgency, ch[i].events, ch[i].targets,
                     updated_by, ts, ch[i].name);
        if (!rc && changes != 1) rc = RAGD_ENOTFOUND;
    }
    if (rc) {
        db_rollback(c);
        return rc;
    }
    return db_commit(c);
}

/* ---- routing ---- */

int store_outbox_unrouted(int limit, struct outbox_event **out, int *n)
{
    *out = NULL;
    *n = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT id, event, urgency, created_at, payload FROM notification_outbox"
                      " WHERE routed_ms IS NULL ORDER BY created_ms, id LIMIT ?",
                      "i", (int64_t)limit);
    if (rc) return rc;
    struct outbox_event *e = xcalloc((size_t)(limit > 0 ? limit : 1), sizeof *e);
    int k = 0;
    while (k < limit && (rc = db_rows_next(r)) == 1) {
        copy(e[k].id, sizeof e[k].id, db_col_text(r, 0));
        copy(e[k].event, sizeof e[k].event, db_col_text(r, 1));
        copy(e[k].urgency, sizeof e[k].urgency, db_col_text(r, 2));
        copy(e[k].created_at, sizeof e[k].created_at, db_col_text(r, 3));
        e[k].payload = xstrdup(db_col_text(r, 4) ? db_col_text(r, 4) : "{}");
        k++;
    }
    db_rows_free(r);
    if (rc < 0) {
        store_outbox_events_free(e, k);
        return rc;
    }
    *out = e;
    *n = k;
    return 0;
}

void store_outbox_events_free(struct outbox_event *e, int n)
{
    for (int i = 0; e && i < n; i++)
        free(e[i].payload);
    free(e);
}

int store_outbox_twin(const char *event_id, const char *event, const char *payload,
                      int64_t since_ms, char twin_id[37])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char *id = NULL;
    int rc = db_query_text(c, &id,
                           "SELECT id FROM notification_outbox WHERE event = ? AND routed_ms >= ?"
                           " AND duplicate_of IS NULL AND payload = ? AND id <> ?"
                           " ORDER BY routed_ms LIMIT 1",
                           "siss", event, since_ms, payload, event_id);
    if (!rc) snprintf(twin_id, 37, "%s", id ? id : "");
    free(id);
    return rc;
}

int store_outbox_suppress(const char *event_id, const char *twin_id, int64_t now_ms)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    return db_exec(c, NULL,
                   "UPDATE notification_outbox SET routed_ms = ?, duplicate_of = ? WHERE id = ?"
                   " AND routed_ms IS NULL",
                   "iss", now_ms, twin_id, event_id);
}

int store_outbox_route(const char *event_id, const struct outbox_target *t, int n, int64_t now_ms)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin(c);
    if (rc) return rc;
    for (int i = 0; i < n && !rc; i++) {
        char id[37];
        uuid4(id);
        rc = db_exec(c, NULL,
                     "INSERT OR IGNORE INTO notification_deliveries (id, outbox_id, channel,"
                     " target, status, attempts, next_attempt_ms, claim_until_ms, created_ms)"
                     " VALUES (?, ?, ?, ?, 'pending', 0, ?, 0, ?)",
                     "ssssii", id, event_id, t[i].channel, t[i].target, now_ms, now_ms);
    }
    if (!rc)
        rc = db_exec(c, NULL,
                     "UPDATE notification_outbox SET routed_ms = ? WHERE id = ?"
                     " AND routed_ms IS NULL",
                     "is", now_ms, event_id);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    return db_commit(c);
}

/* ---- delivery ---- */

int store_outbox_claim(const char *claim, int64_t now_ms, int64_t until_ms,
                       struct outbox_delivery *out)
{
    memset(out, 0, sizeof *out);
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    /* The outer conditions repeat the inner ones: on PostgreSQL a row another node claimed
     * meanwhile is re-checked against them after its lock is released, and left alone (this
     * claim then finds nothing; the next pass takes what is still due). */
    int64_t changes = 0;
    int rc = db_exec(c, &changes,
                     "UPDATE notification_deliveries SET claimed_by = ?, claim_until_ms = ?"
                     " WHERE id = (SELECT id FROM notification_deliveries WHERE status = 'pending'"
                     " AND next_attempt_ms <= ? AND claim_until_ms < ?"
                     " ORDER BY next_attempt_ms, created_ms LIMIT 1)"
                     " AND status = 'pending' AND claim_until_ms < ?",
                     "siiii", claim, until_ms, now_ms, now_ms, now_ms);
    if (rc) return rc;
    if (changes == 0) return RAGD_ENOTFOUND;
    db_rows_t *r;
    rc = db_query(c, &r,
                  "SELECT d.id, d.channel, d.target, d.attempts, d.created_ms, o.id, o.event,"
                  " o.urgency, o.created_at, o.payload FROM notification_deliveries d"
                  " JOIN notification_outbox o ON o.id = d.outbox_id"
                  " WHERE d.claimed_by = ? AND d.status = 'pending'",
                  "s", claim);
    if (rc) return rc;
    rc = db_rows_next(r);
    if (rc == 1) {
        copy(out->id, sizeof out->id, db_col_text(r, 0));
        copy(out->channel, sizeof out->channel, db_col_text(r, 1));
        out->target = xstrdup(db_col_text(r, 2) ? db_col_text(r, 2) : "");
        out->attempts = db_col_int(r, 3);
        out->created_ms = db_col_int(r, 4);
        copy(out->ev.id, sizeof out->ev.id, db_col_text(r, 5));
        copy(out->ev.event, sizeof out->ev.event, db_col_text(r, 6));
        copy(out->ev.urgency, sizeof out->ev.urgency, db_col_text(r, 7));
        copy(out->ev.created_at, sizeof out->ev.created_at, db_col_text(r, 8));
        out->ev.payload = xstrdup(db_col_text(r, 9) ? db_col_text(r, 9) : "{}");
        rc = 0;
    } else if (rc == 0) {
        rc = RAGD_ENOTFOUND; /* its event was pruned under it: defensive */
    }
    db_rows_free(r);
    return rc;
}

void store_outbox_delivery_clear(struct outbox_delivery *d)
{
    free(d->target);
    free(d->ev.payload);
    d->target = d->ev.payload = NULL;
}

int store_outbox_delivered(const char *id, const char *claim, int64_t now_ms)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    return db_exec(c, NULL,
                   "UPDATE notification_deliveries SET status = 'delivered',"
                   " attempts = attempts + 1, delivered_at = ?, done_ms = ?, last_error = NULL,"
                   " claimed_by = NULL, claim_until_ms = 0 WHERE id = ? AND claimed_by = ?",
                   "siss", time_iso(now_ms, ts), now_ms, id, claim);
}

int store_outbox_failed(const char *id, const char *claim, const char *error, int64_t next_ms)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    return db_exec(c, NULL,
                   "UPDATE notification_deliveries SET attempts = attempts + 1, last_error = ?,"
                   " next_attempt_ms = ?, claimed_by = NULL, claim_until_ms = 0"
                   " WHERE id = ? AND claimed_by = ?",
                   "siss", error, next_ms, id, claim);
}

int store_outbox_postponed(const char *id, const char *claim, const char *why, int64_t next_ms)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    return db_exec(c, NULL,
                   "UPDATE notification_deliveries SET next_attempt_ms = ?,"
                   " last_error = COALESCE(last_error, ?), claimed_by = NULL,"
                   " claim_until_ms = 0 WHERE id = ? AND claimed_by = ?",
                   "isss", next_ms, why, id, claim);
}

int store_outbox_abandoned(const char *id, const char *claim, const char *error, int64_t now_ms)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    return db_exec(c, NULL,
                   "UPDATE notification_deliveries SET status = 'abandoned', last_error = ?,"
                   " done_ms = ?, claimed_by = NULL, claim_until_ms = 0"
                   " WHERE id = ? AND claimed_by = ?",
                   "siss", error, now_ms, id, claim);
}

/* ---- upkeep and views ---- */

int store_outbox_give_up(const char *channel, int64_t cutoff_ms, int64_t now_ms, int64_t *n)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    return db_exec(c, n,
                   "UPDATE notification_deliveries SET status = 'abandoned', done_ms = ?,"
                   " last_error = COALESCE(last_error, 'never attempted') || ' (given up)'"
                   " WHERE status = 'pending' AND channel = ? AND created_ms < ?"
                   " AND claim_until_ms < ?",
                   "isii", now_ms, channel, cutoff_ms, now_ms);
}

int store_outbox_prune(int64_t cutoff_ms, int64_t *deleted)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_exec(c, deleted,
                     "DELETE FROM notification_deliveries WHERE status <> 'pending'"
                     " AND done_ms < ?",
                     "i", cutoff_ms);
    if (!rc)
        rc = db_exec(c, NULL,
                     "DELETE FROM notification_outbox WHERE routed_ms IS NOT NULL"
                     " AND created_ms < ? AND NOT EXISTS (SELECT 1 FROM notification_deliveries"
                     " d WHERE d.outbox_id = notification_outbox.id)",
                     "i", cutoff_ms);
    return rc;
}

int store_outbox_counts(struct outbox_counts *out)
{
    memset(out, 0, sizeof *out);
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_query_int(c, &out->unrouted,
                          "SELECT COUNT(*) FROM notification_outbox WHERE routed_ms IS NULL", "");
    if (!rc)
        rc = db_query_int(c, &out->suppressed,
                          "SELECT COUNT(*) FROM notification_outbox WHERE duplicate_of IS NOT NULL",
                          "");
    db_rows_t *r;
    if (!rc)
        rc = db_query(c, &r,
                      "SELECT d.status, COUNT(*), SUM(CASE WHEN d.attempts > 0 THEN 1 ELSE 0 END),"
                      " MIN(o.created_ms) FROM notification_deliveries d"
                      " JOIN notification_outbox o ON o.id = d.outbox_id GROUP BY d.status",
                      "");
    if (rc) return rc;
    int64_t oldest = 0;
    while ((rc = db_rows_next(r)) == 1) {
        const char *st = db_col_text(r, 0);
        int64_t n = db_col_int(r, 1);
        if (!st) continue;
        if (!strcmp(st, "pending")) {
            out->pending = n;
            out->retrying = db_col_int(r, 2);
            oldest = db_col_int(r, 3);
        } else if (!strcmp(st, "delivered")) {
            out->delivered = n;
        } else if (!strcmp(st, "abandoned")) {
            out->abandoned = n;
        }
    }
    db_rows_free(r);
    if (rc < 0) return rc;
    int64_t oldest_unrouted = 0;
    if (out->unrouted &&
        !db_query_int(c, &oldest_unrouted,
                      "SELECT MIN(created_ms) FROM notification_outbox WHERE routed_ms IS NULL",
                      "") &&
        (!oldest || oldest_unrouted < oldest))
        oldest = oldest_unrouted;
    if (oldest) time_iso(oldest, out->oldest_pending_at);
    return 0;
}

int store_outbox_list(const char *status, int64_t limit, int64_t offset, struct outbox_row **out,
                      int *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_query_int(c, total,
                          "SELECT COUNT(*) FROM notification_deliveries WHERE ? IS NULL OR"
                          " status = ?",
                          "ss", status, status);
    if (rc) return rc;
    db_rows_t *r;
    rc = db_query(c, &r,
                  "SELECT d.id, o.id, o.event, o.urgency, d.channel, d.status, o.created_at,"
                  " d.delivered_at, d.next_attempt_ms, d.attempts, d.target, d.last_error"
                  " FROM notification_deliveries d JOIN notification_outbox o"
                  " ON o.id = d.outbox_id WHERE ? IS NULL OR d.status = ?"
                  " ORDER BY o.created_ms DESC, d.channel, d.target LIMIT ? OFFSET ?",
                  "ssii", status, status, limit, offset);
    if (rc) return rc;
    struct outbox_row *rows = xcalloc((size_t)(limit > 0 ? limit : 1), sizeof *rows);
    int k = 0;
    while (k < limit && (rc = db_rows_next(r)) == 1) {
        struct outbox_row *w = &rows[k++];
        copy(w->id, sizeof w->id, db_col_text(r, 0));
        copy(w->event_id, sizeof w->event_id, db_col_text(r, 1));
        copy(w->event, sizeof w->event, db_col_text(r, 2));
        copy(w->urgency, sizeof w->urgency, db_col_text(r, 3));
        copy(w->channel, sizeof w->channel, db_col_text(r, 4));
        copy(w->status, sizeof w->status, db_col_text(r, 5));
        copy(w->created_at, sizeof w->created_at, db_col_text(r, 6));
        copy(w->delivered_at, sizeof w->delivered_at, db_col_text(r, 7));
        time_iso(db_col_int(r, 8), w->next_attempt_at);
        w->attempts = db_col_int(r, 9);
        w->target = xstrdup(db_col_text(r, 10) ? db_col_text(r, 10) : "");
        w->last_error = dup_or_null(db_col_text(r, 11));
    }
    db_rows_free(r);
    if (rc < 0) {
        store_outbox_rows_free(rows, k);
        return rc;
    }
    *out = rows;
    *n = k;
    return 0;
}

void store_outbox_rows_free(struct outbox_row *r, int n)
{
    for (int i = 0; r && i < n; i++) {
        free(r[i].target);
        free(r[i].last_error);
    }
    free(r);
}
