/* apikeys.c - the api_keys table (store/apikeys.h). */
#include "store/apikeys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/db.h"
#include "store/store.h"
#include "store/store_int.h"

static const struct store_migration apikey_migrations[] = {
    {20, "core: personal API keys",
     "CREATE TABLE api_keys ("
     " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " name TEXT NOT NULL, prefix TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,"
     " created_at TEXT NOT NULL, last_used_at TEXT, revoked_at TEXT);"
     "CREATE INDEX api_keys_user ON api_keys(user_id);"},
};

void store_apikeys_register(void)
{
    store_register_migrations(apikey_migrations,
                              (int)(sizeof apikey_migrations / sizeof apikey_migrations[0]));
}

int store_apikey_create(const char *user_id, const char *name, const char *prefix,
                        const char *hash_hex, int max, char id_out[37])
{
    db_conn_t *c = db_conn();
    char ts[32];
    time_iso(time_now_ms(), ts);
    uuid4(id_out);
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    int64_t n = 0;
    rc = db_query_int(c, &n,
                      "SELECT count(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL", "s",
                      user_id);
    if (!rc && n >= max) rc = RAGD_ELIMIT;
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at)"
                     " VALUES (?,?,?,?,?,?)",
                     "ssssss", id_out, user_id, name, prefix, hash_hex, ts);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    return db_commit(c);
}

/* Records a use of key id now unless *noted_ms (the last recorded use) is less than a minute
 * old; best effort: a failed note does not refuse the request. */
static void note_use(const char *id, int64_t *noted_ms)
{
    char now[32];
    int64_t now_ms = time_now_ms();
    if (*noted_ms && now_ms - *noted_ms <= 60000) return;
    db_exec(db_conn(), NULL, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", "ss",
            time_iso(now_ms, now), id);
    *noted_ms = now_ms;
}

/* The live key whose hash is hash_hex: 0 with its owner and id, RAGD_ENOTFOUND, or a store
 * error. Records the use unless one was recorded in the last minute; *noted_ms: when the last
 * recorded use was, after this. */
static int key_find(const char *hash_hex, char user_out[37], char id_out[37], int64_t *noted_ms)
{
    db_conn_t *c = db_conn();
    db_rows_t *rows;
    int rc = db_query(c, &rows,
                      "SELECT user_id, id, last_used_at FROM api_keys"
                      " WHERE key_hash = ? AND revoked_at IS NULL",
                      "s", hash_hex);
    if (rc) return rc;
    int more = db_rows_next(rows);
    if (more <= 0) {
        db_rows_free(rows);
        return more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
    }
    snprintf(user_out, 37, "%s", db_col_text(rows, 0));
    snprintf(id_out, 37, "%s", db_col_text(rows, 1));
    const char *last = db_col_text(rows, 2);
    int64_t last_ms = 0;
    if (!last || time_parse_iso(last, &last_ms)) last_ms = 0;
    db_rows_free(rows);
    *noted_ms = last_ms;
    note_use(id_out, noted_ms);
    return 0;
}

/* ---- keys this node looked up (store_apikey_user) ---- */

enum { KEYS_SEEN = 1024 };
static struct store_vouch keys_seen[KEYS_SEEN]; /* id: the key's hash */

int store_apikey_user(const char *hash_hex, char user_out[37], struct user *out, int *user_rc)
{
    struct store_vouch k;
    if (strlen(hash_hex) >= sizeof k.id) return RAGD_ENOTFOUND;
    uint64_t ticket = store_epoch_start();
    char *epoch = NULL;
    if (ticket && store_vouch_get(keys_seen, KEYS_SEEN, hash_hex, &k)) {
        *user_rc = store_user_get(k.user_id, out); /* the epoch's read rides on this one's */
        epoch = store_epoch_finish(ticket);
        ticket = 0;
        if (epoch && !strcmp(epoch, k.epoch)) {
            free(epoch);
            snprintf(user_out, 37, "%s", k.user_id);
            int64_t was = k.noted_ms;
            note_use(k.key_id, &k.noted_ms);
            if (k.noted_ms != was) store_vouch_put(keys_seen, KEYS_SEEN, &k);
            return 0;
        }
        if (!*user_rc) store_user_clear(out);
    } else {
        /* the epoch read before the database is asked: a round trip of its own */
        epoch = store_epoch_finish(ticket);
    }
    /* either way the epoch was read before the lookup below, which may be remembered under it */
    memset(&k, 0, sizeof k);
    int rc = key_find(hash_hex, user_out, k.key_id, &k.noted_ms);
    if (!rc && epoch) {
        snprintf(k.id, sizeof k.id, "%s", hash_hex);
        snprintf(k.user_id, sizeof k.user_id, "%s", user_out);
        snprintf(k.epoch, sizeof k.epoch, "%s", epoch);
        store_vouch_put(keys_seen, KEYS_SEEN, &k);
    } else if (!rc) {
        store_epoch_renew();
    }
    free(epoch);
    if (rc) return rc;
    *user_rc = store_user_get(user_out, out);
    return 0;
}

static void apikey_row(db_rows_t *r, void *p)
{
    struct store_apikey *e = p;
    cp(e->id, sizeof e->id, db_col_text(r, 0));
    cp(e->name, sizeof e->name, db_col_text(r, 1));
    cp(e->prefix, sizeof e->prefix, db_col_text(r, 2));
    cp(e->created_at, sizeof e->created_at, db_col_text(r, 3));
    cp(e->last_used_at, sizeof e->last_used_at, db_col_text(r, 4));
}

int store_apikey_list(const char *user_id, struct store_apikey **out, size_t *n)
{
    db_rows_t *rows;
    int rc = db_query(db_conn(), &rows,
                      "SELECT id, name, prefix, created_at, last_used_at FROM api_keys"
                      " WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id",
                      "s", user_id);
    if (rc) return rc;
    void *arr;
    rc = store_rows_collect(rows, sizeof **out, apikey_row, NULL, &arr, n);
    *out = arr;
    return rc;
}

int store_apikey_revoke(const char *user_id, const char *id)
{
    char ts[32];
    int64_t n = 0;
    int rc = db_exec(db_conn(), &n,
                     "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ?"
                     " AND revoked_at IS NULL",
                     "sss", time_iso(time_now_ms(), ts), id, user_id);
    if (!rc && n) store_epoch_end(); /* no node vouches for the key any longer */
    return rc ? rc : n ? 0 : RAGD_ENOTFOUND;
}
