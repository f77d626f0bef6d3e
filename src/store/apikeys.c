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

int store_apikey_lookup(const char *hash_hex, char user_out[37])
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
    char id[37], now[32];
    snprintf(id, sizeof id, "%s", db_col_text(rows, 1));
    const char *last = db_col_text(rows, 2);
    int64_t last_ms = 0, now_ms = time_now_ms();
    int stale = !last || time_parse_iso(last, &last_ms) || now_ms - last_ms > 60000;
    db_rows_free(rows);
    if (stale) /* best effort: a failed note of the use does not refuse the request */
        db_exec(c, NULL, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", "ss",
                time_iso(now_ms, now), id);
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
    return rc ? rc : n ? 0 : RAGD_ENOTFOUND;
}
