/* provider_keys.c (store) - the provider key pool tables (store/provider_keys.h). */
#include "store/provider_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "ops/notify.h"
#include "store/db.h"
#include "store/store.h"

static const struct store_migration migrations[] = {
    {330, "operations: provider key pool",
     "CREATE TABLE provider_keys ("
     " id TEXT PRIMARY KEY,"
     " provider TEXT NOT NULL CHECK (provider IN ('openai', 'gemini')),"
     " base_url TEXT NOT NULL, model TEXT NOT NULL, feature TEXT NOT NULL,"
     " label TEXT NOT NULL DEFAULT '', priority INTEGER NOT NULL DEFAULT 50,"
     " status TEXT NOT NULL DEFAULT 'active'"
     "  CHECK (status IN ('active', 'degraded', 'disabled')),"
     " failure_count INTEGER NOT NULL DEFAULT 0, success_total INTEGER NOT NULL DEFAULT 0,"
     " failure_total INTEGER NOT NULL DEFAULT 0, last_used_at TEXT,"
     " last_used_ms INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
     " cooldown_until_ms INTEGER NOT NULL DEFAULT 0,"
     " key_ciphertext TEXT NOT NULL, key_nonce TEXT NOT NULL, key_tag TEXT NOT NULL,"
     " key_last4 TEXT NOT NULL, key_fingerprint TEXT NOT NULL UNIQUE,"
     " created_by TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
     "CREATE TABLE provider_pool_state ("
     " id INTEGER PRIMARY KEY, version INTEGER NOT NULL,"
     " lease_holder TEXT, lease_until_ms INTEGER NOT NULL DEFAULT 0);"
     "INSERT INTO provider_pool_state (id, version, lease_until_ms) VALUES (1, 1, 0);"},
    {331, "operations: provider attempts",
     "CREATE TABLE provider_health ("
     " id TEXT PRIMARY KEY, key_id TEXT NOT NULL, provider TEXT NOT NULL,"
     " feature TEXT NOT NULL, outcome TEXT NOT NULL, latency_ms INTEGER NOT NULL,"
     " error TEXT, at TEXT NOT NULL, at_ms INTEGER NOT NULL);"
     "CREATE INDEX provider_health_at ON provider_health(at_ms);"
     "CREATE INDEX provider_health_key ON provider_health(key_id, at_ms);"},
    {332, "operations: personal provider keys",
     "CREATE TABLE user_provider_keys ("
     " user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
     " provider TEXT NOT NULL CHECK (provider IN ('openai', 'gemini')),"
     " base_url TEXT NOT NULL, model TEXT NOT NULL,"
     " key_ciphertext TEXT NOT NULL, key_nonce TEXT NOT NULL, key_tag TEXT NOT NULL,"
     " key_last4 TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"},
};

void store_pkeys_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

void store_pkey_clear(struct store_pkey *k)
{
    if (!k) return;
    free(k->base_url);
    free(k->model);
    free(k->label);
    free(k->last_error);
    free(k->created_by);
    free(k->ciphertext);
    memset(k, 0, sizeof *k);
}

void store_pkeys_free(struct store_pkey *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++)
        store_pkey_clear(&k[i]);
    free(k);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void cpy(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

static int bump(db_conn_t *c)
{
    return db_exec(c, NULL, "UPDATE provider_pool_state SET version = version + 1 WHERE id = 1",
                   "");
}

/* Emits event unless rc is already an error; returns the combined status. */
static int emit(db_conn_t *c, int rc, const char *event, json_t *details)
{
    if (rc || !event) {
        json_decref(details);
        return rc;
    }
    return notify_emit(c, event, details);
}

static int finish(db_conn_t *c, int rc)
{
    if (rc) {
        db_rollback(c);
        return rc;
    }
    return db_commit(c);
}

int store_pkey_insert(const struct store_pkey *k, const char *fingerprint, json_t *details)
{
    db_conn_t *c = db_conn();
    if (!c) {
        json_decref(details);
        return RAGD_EUNAVAIL;
    }
    char ts[32];
    time_iso(time_now_ms(), ts);
    int rc = db_begin(c);
    if (rc) {
        json_decref(details);
        return rc;
    }
    rc =
        db_exec(c, NULL,
                "INSERT INTO provider_keys (id, provider, base_url, model, feature, label,"
                " priority, status, key_ciphertext, key_nonce, key_tag, key_last4,"
                " key_fingerprint, created_by, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                "ssssssisssssssss", k->id, k->provider, k->base_url, k->model, k->feature,
                k->label ? k->label : "", (int64_t)k->priority, k->status[0] ? k->status : "active",
                k->ciphertext, k->nonce, k->tag, k->last4, fingerprint, k->created_by, ts, ts);
    if (!rc) rc = bump(c);
    rc = emit(c, rc, NOTIFY_KEY_ADDED, details);
    return finish(c, rc);
}

#define KEY_COLS                                                                                   \
    "id, provider, base_url, model, feature, label, priority, status, failure_count,"              \
    " success_total, failure_total, last_used_ms, cooldown_until_ms, last_error, created_by,"      \
    " created_at, key_ciphertext, key_nonce, key_tag, key_last4"

static void read_key(db_rows_t *r, struct store_pkey *k)
{
    memset(k, 0, sizeof *k);
    cpy(k->id, sizeof k->id, db_col_text(r, 0));
    cpy(k->provider, sizeof k->provider, db_col_text(r, 1));
    k->base_url = xstrdup(db_col_text(r, 2) ? db_col_text(r, 2) : "");
    k->model = xstrdup(db_col_text(r, 3) ? db_col_text(r, 3) : "");
    cpy(k->feature, sizeof k->feature, db_col_text(r, 4));
    k->label = xstrdup(db_col_text(r, 5) ? db_col_text(r, 5) : "");
    k->priority = (int)db_col_int(r, 6);
    cpy(k->status, sizeof k->status, db_col_text(r, 7));
    k->failure_count = db_col_int(r, 8);
    k->success_total = db_col_int(r, 9);
    k->failure_total = db_col_int(r, 10);
    k->last_used_ms = db_col_int(r, 11);
    k->cooldown_until_ms = db_col_int(r, 12);
    k->last_error = dup_or_null(db_col_text(r, 13));
    k->created_by = dup_or_null(db_col_text(r, 14));
    cpy(k->created_at, sizeof k->created_at, db_col_text(r, 15));
    k->ciphertext = xstrdup(db_col_text(r, 16) ? db_col_text(r, 16) : "");
    cpy(k->nonce, sizeof k->nonce, db_col_text(r, 17));
    cpy(k->tag, sizeof k->tag, db_col_text(r, 18));
    cpy(k->last4, sizeof k->last4, db_col_text(r, 19));
}

int store_pkey_fingerprint_exists(const char *fingerprint, int *exists)
{
    *exists = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int64_t n = 0;
    int rc = db_query_int(c, &n, "SELECT count(*) FROM provider_keys WHERE key_fingerprint = ?",
                          "s", fingerprint);
    if (!rc) *exists = n > 0;
    return rc;
}

int store_pkey_list(struct store_pkey **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT " KEY_COLS " FROM provider_keys"
                      " ORDER BY priority DESC, last_used_ms ASC, created_at ASC",
                      "");
    if (rc) return rc;
    size_t cap = 0;
    int more;
    while ((more = db_rows_next(r)) > 0) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        read_key(r, &(*out)[(*n)++]);
    }
    db_rows_free(r);
    if (more < 0) {
        store_pkeys_free(*out, *n);
        *out = NULL;
        *n = 0;
        return RAGD_EDB;
    }
    return 0;
}

int store_pkey_get(const char *id, struct store_pkey *out)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    db_rows_t *r;
    int rc = db_query(c, &r, "SELECT " KEY_COLS " FROM provider_keys WHERE id = ?", "s", id);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more > 0) read_key(r, out);
    db_rows_free(r);
    return more > 0 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
}

int store_pkey_update(const char *id, const struct store_pkey_patch *p, const char *event,
                      json_t *details)
{
    db_conn_t *c = db_conn();
    if (!c) {
        json_decref(details);
        return RAGD_EUNAVAIL;
    }
    char ts[32];
    time_iso(time_now_ms(), ts);
    int rc = db_begin(c);
    if (rc) {
        json_decref(details);
        return rc;
    }
    int64_t changes = 0;
    rc = db_exec(c, &changes,
                 "UPDATE provider_keys SET"
                 " priority = CASE WHEN ? = 1 THEN ? ELSE priority END,"
                 " status = COALESCE(?, status), feature = COALESCE(?, feature),"
                 " label = COALESCE(?, label),"
                 " failure_count = CASE WHEN ? = 'active' THEN 0 ELSE failure_count END,"
                 " cooldown_until_ms = CASE WHEN ? = 'active' THEN 0 ELSE cooldown_until_ms END,"
                 " updated_at = ? WHERE id = ?",
                 "iisssssss", (int64_t)p->has_priority, (int64_t)p->priority, p->status, p->feature,
                 p->label, p->status ? p->status : "", p->status ? p->status : "", ts, id);
    if (!rc && !changes) rc = RAGD_ENOTFOUND;
    if (!rc) rc = bump(c);
    rc = emit(c, rc, event, details);
    return finish(c, rc);
}

int store_pkey_delete(const char *id, json_t *details)
{
    db_conn_t *c = db_conn();
    if (!c) {
        json_decref(details);
        return RAGD_EUNAVAIL;
    }
    int rc = db_begin(c);
    if (rc) {
        json_decref(details);
        return rc;
    }
    int64_t changes = 0;
    rc = db_exec(c, &changes, "DELETE FROM provider_keys WHERE id = ?", "s", id);
    if (!rc && !changes) rc = RAGD_ENOTFOUND;
    if (!rc) rc = bump(c);
    rc = emit(c, rc, NOTIFY_KEY_DELETED, details);
    return finish(c, rc);
}

const char *store_pkey_outcome_name(enum store_pkey_outcome o)
{
    switch (o) {
    case PKEY_OK:
        return "success";
    case PKEY_RATE_LIMITED:
        return "rate_limited";
    case PKEY_AUTH:
        return "auth_failed";
    case PKEY_ERROR:
        return "error";
    case PKEY_TAMPERED:
        return "undecryptable";
    }
    return "error";
}

static json_t *key_details(const struct store_pkey_attempt *a, const char *why)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "key_id", a->key_id, "provider", a->provider,
                     "feature", a->feature, "label", a->label ? a->label : "", "reason",
                     why ? why : "");
}

int store_pkey_record(const struct store_pkey_attempt *a, char status_out[12], int *changed)
{
    if (status_out) status_out[0] = '\0';
    if (changed) *changed = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int64_t now = time_now_ms();
    char ts[32], hid[37];
    time_iso(now, ts);
    uuid4(hid);
    int rc = a->pooled ? db_begin_for(c, a->key_id) : 0;
    if (rc) return rc;
    rc = db_exec(c, NULL,
                 "INSERT INTO provider_health (id, key_id, provider, feature, outcome, latency_ms,"
                 " error, at, at_ms) VALUES (?,?,?,?,?,?,?,?,?)",
                 "sssssissi", hid, a->key_id, a->provider, a->feature,
                 store_pkey_outcome_name(a->outcome), a->latency_ms, a->error_kind, ts, now);
    if (!a->pooled) return rc;
    char status[12] = "";
    int64_t failures = 0;
    db_rows_t *r = NULL;
    if (!rc)
        rc = db_query(c, &r, "SELECT status, failure_count FROM provider_keys WHERE id = ?", "s",
                      a->key_id);
    if (!rc) {
        int more = db_rows_next(r);
        if (more > 0) {
            cpy(status, sizeof status, db_col_text(r, 0));
            failures = db_col_int(r, 1);
        } else {
            rc = more < 0 ? RAGD_EDB : RAGD_ENOTFOUND; /* deleted meanwhile */
        }
        db_rows_free(r);
    }
    const char *next = status, *event = NULL;
    int bumped = 0;
    switch (a->outcome) {
    case PKEY_OK:
        if (!rc)
            rc = db_exec(c, NULL,
                         "UPDATE provider_keys SET failure_count = 0,"
                         " success_total = success_total + 1, last_used_ms = ?, last_used_at = ?,"
                         " status = CASE WHEN status = 'degraded' THEN 'active' ELSE status END"
                         " WHERE id = ?",
                         "iss", now, ts, a->key_id);
        if (!strcmp(status, "degraded")) {
            next = "active";
            event = NOTIFY_KEY_RECOVERED;
            bumped = 1;
        }
        break;
    case PKEY_RATE_LIMITED:
        if (!rc)
            rc = db_exec(c, NULL,
                         "UPDATE provider_keys SET cooldown_until_ms = ?, last_error = ?,"
                         " last_used_ms = ?, last_used_at = ? WHERE id = ?",
                         "isiss", a->cooldown_until_ms, a->error_kind, now, ts, a->key_id);
        bumped = 1;
        break;
    case PKEY_AUTH:
    case PKEY_TAMPERED:
        if (!rc)
            rc = db_exec(c, NULL,
                         "UPDATE provider_keys SET status = 'disabled',"
                         " failure_total = failure_total + 1, failure_count = failure_count + 1,"
                         " last_error = ?, last_used_ms = ?, last_used_at = ? WHERE id = ?",
                         "siss", a->error_kind, now, ts, a->key_id);
        if (strcmp(status, "disabled")) {
            next = "disabled";
            event = NOTIFY_KEY_DISABLED;
            bumped = 1;
        }
        break;
    case PKEY_ERROR:
        failures++;
        if (!strcmp(status, "active") && failures >= a->threshold) {
            next = "degraded";
            event = NOTIFY_KEY_DEGRADED;
            bumped = 1;
        } else if (failures == 1) {
            event = NOTIFY_KEY_FAILED;
        }
        if (!rc)
            rc = db_exec(c, NULL,
                         "UPDATE provider_keys SET failure_count = ?, failure_total = failure_total"
                         " + 1, last_error = ?, last_used_ms = ?, last_used_at = ?, status = ?"
                         " WHERE id = ?",
                         "isisss", failures, a->error_kind, now, ts, next, a->key_id);
        break;
    }
    if (!rc && bumped) rc = bump(c);
    if (event) {
        json_t *d = key_details(a, a->error_kind);
        json_object_set_new(d, "status", json_string(next));
        json_object_set_new(d, "consecutive_failures", json_integer(failures));
        rc = emit(c, rc, event, d);
    }
    rc = finish(c, rc);
    if (!rc) {
        if (status_out) cpy(status_out, 12, next);
        if (changed) *changed = bumped;
    }
    return rc;
}

int store_pkey_record_successes(const struct store_pkey_attempt *a, size_t n)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin(c);
    if (rc) return rc;
    for (size_t i = 0; !rc && i < n; i++) {
        char ts[32], hid[37];
        int64_t at = a[i].at_ms ? a[i].at_ms : time_now_ms();
        time_iso(at, ts);
        uuid4(hid);
        rc = db_exec(c, NULL,
                     "INSERT INTO provider_health (id, key_id, provider, feature, outcome,"
                     " latency_ms, error, at, at_ms) VALUES (?,?,?,?,?,?,?,?,?)",
                     "sssssissi", hid, a[i].key_id, a[i].provider, a[i].feature,
                     store_pkey_outcome_name(PKEY_OK), a[i].latency_ms, NULL, ts, at);
        /* A success is written after the fact: one that came before an attempt recorded
         * since (a failure written at once) must not end that failure's streak. */
        if (!rc && a[i].pooled)
            rc = db_exec(c, NULL,
                         "UPDATE provider_keys SET success_total = success_total + 1,"
                         " failure_count = CASE WHEN last_used_ms < ? THEN 0"
                         " ELSE failure_count END,"
                         " last_used_at = CASE WHEN last_used_ms < ? THEN ?"
                         " ELSE last_used_at END,"
                         " last_used_ms = CASE WHEN last_used_ms < ? THEN ?"
                         " ELSE last_used_ms END WHERE id = ? AND status = 'active'",
                         "iisiis", at, at, ts, at, at, a[i].key_id);
    }
    return finish(c, rc);
}

int store_pkey_notify(const char *event, json_t *details)
{
    db_conn_t *c = db_conn();
    if (!c) {
        json_decref(details);
        return RAGD_EUNAVAIL;
    }
    return notify_emit(c, event, details);
}

int store_pkey_version(int64_t *out)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    return db_query_int(c, out, "SELECT version FROM provider_pool_state WHERE id = 1", "");
}

int store_pkey_lease(const char *node, int64_t now_ms, int64_t ttl_ms, int *held)
{
    *held = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int64_t changes = 0;
    int rc = db_exec(c, &changes,
                     "UPDATE provider_pool_state SET lease_holder = ?, lease_until_ms = ?"
                     " WHERE id = 1 AND (lease_until_ms < ? OR lease_holder = ?)",
                     "siis", node, now_ms + ttl_ms, now_ms, node);
    if (!rc) *held = changes == 1;
    return rc;
}

int store_pkey_health_list(int64_t since_ms, int64_t limit, struct store_pkey_health **out,
                           size_t *n)
{
    *out = NULL;
    *n = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT key_id, provider, feature, outcome, latency_ms, at_ms, error"
                      " FROM provider_health WHERE at_ms >= ? ORDER BY at_ms DESC LIMIT ?",
                      "ii", since_ms, limit);
    if (rc) return rc;
    size_t cap = 0;
    int more;
    while ((more = db_rows_next(r)) > 0) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        struct store_pkey_health *h = &(*out)[(*n)++];
        memset(h, 0, sizeof *h);
        cpy(h->key_id, sizeof h->key_id, db_col_text(r, 0));
        cpy(h->provider, sizeof h->provider, db_col_text(r, 1));
        cpy(h->feature, sizeof h->feature, db_col_text(r, 2));
        cpy(h->outcome, sizeof h->outcome, db_col_text(r, 3));
        h->latency_ms = db_col_int(r, 4);
        h->at_ms = db_col_int(r, 5);
        h->error = dup_or_null(db_col_text(r, 6));
    }
    db_rows_free(r);
    if (more < 0) {
        store_pkey_health_free(*out, *n);
        *out = NULL;
        *n = 0;
        return RAGD_EDB;
    }
    return 0;
}

void store_pkey_health_free(struct store_pkey_health *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++)
        free(h[i].error);
    free(h);
}

int store_pkey_health_prune(int64_t before_ms)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    return db_exec(c, NULL, "DELETE FROM provider_health WHERE at_ms < ?", "i", before_ms);
}

/* ---- personal keys ---- */

int store_pkey_user_set(const char *user_id, const struct store_pkey *k)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    time_iso(time_now_ms(), ts);
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    rc = db_exec(c, NULL, "DELETE FROM user_provider_keys WHERE user_id = ?", "s", user_id);
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO user_provider_keys (user_id, provider, base_url, model,"
                     " key_ciphertext, key_nonce, key_tag, key_last4, created_at, updated_at)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?)",
                     "ssssssssss", user_id, k->provider, k->base_url, k->model, k->ciphertext,
                     k->nonce, k->tag, k->last4, ts, ts);
    if (!rc) rc = bump(c);
    return finish(c, rc);
}

int store_pkey_user_get(const char *user_id, struct store_pkey *out)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT provider, base_url, model, key_ciphertext, key_nonce, key_tag,"
                      " key_last4, created_at FROM user_provider_keys WHERE user_id = ?",
                      "s", user_id);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more > 0) {
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "user:%.40s", user_id);
        cpy(out->provider, sizeof out->provider, db_col_text(r, 0));
        out->base_url = xstrdup(db_col_text(r, 1) ? db_col_text(r, 1) : "");
        out->model = xstrdup(db_col_text(r, 2) ? db_col_text(r, 2) : "");
        out->ciphertext = xstrdup(db_col_text(r, 3) ? db_col_text(r, 3) : "");
        cpy(out->nonce, sizeof out->nonce, db_col_text(r, 4));
        cpy(out->tag, sizeof out->tag, db_col_text(r, 5));
        cpy(out->last4, sizeof out->last4, db_col_text(r, 6));
        cpy(out->created_at, sizeof out->created_at, db_col_text(r, 7));
        cpy(out->feature, sizeof out->feature, "*");
        cpy(out->status, sizeof out->status, "active");
        out->label = xstrdup("personal");
    }
    db_rows_free(r);
    return more > 0 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
}

int store_pkey_user_delete(const char *user_id)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    int64_t changes = 0;
    rc = db_exec(c, &changes, "DELETE FROM user_provider_keys WHERE user_id = ?", "s", user_id);
    if (!rc && !changes) rc = RAGD_ENOTFOUND;
    if (!rc) rc = bump(c);
    return finish(c, rc);
}

int store_pkey_user_count(int64_t *out)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    return db_query_int(c, out, "SELECT count(*) FROM user_provider_keys", "");
}
