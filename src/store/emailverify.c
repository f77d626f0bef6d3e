/* emailverify.c - the email_verifications table (store/emailverify.h). */
#include "store/emailverify.h"

#include <stdio.h>

#include "core/error.h"
#include "core/util.h"
#include "store/db.h"
#include "store/store.h"

static const struct store_migration migrations[] = {
    {25, "core: pending e-mail verification tokens",
     "CREATE TABLE email_verifications ("
     " user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
     " token_hash TEXT NOT NULL UNIQUE, expires_ms INTEGER NOT NULL, created_at TEXT NOT NULL);"},
};

void store_emailverify_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

int store_emailverify_set(const char *user_id, const char *hash_hex, int64_t expires_ms)
{
    db_conn_t *c = db_conn();
    char ts[32];
    time_iso(time_now_ms(), ts);
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    rc = db_exec(c, NULL, "DELETE FROM email_verifications WHERE user_id = ?", "s", user_id);
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO email_verifications (user_id, token_hash, expires_ms, created_at)"
                     " VALUES (?,?,?,?)",
                     "ssis", user_id, hash_hex, expires_ms, ts);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    return db_commit(c);
}

int store_emailverify_use(const char *hash_hex, int64_t now_ms, char user_out[37])
{
    db_conn_t *c = db_conn();
    int rc = db_begin(c);
    if (rc) return rc;
    db_rows_t *rows;
    rc = db_query(c, &rows,
                  "SELECT user_id, expires_ms FROM email_verifications WHERE token_hash = ?", "s",
                  hash_hex);
    if (rc) goto fail;
    int more = db_rows_next(rows);
    int64_t expires_ms = 0;
    if (more > 0) {
        snprintf(user_out, 37, "%s", db_col_text(rows, 0));
        expires_ms = db_col_int(rows, 1);
    }
    db_rows_free(rows);
    if (more <= 0) {
        rc = more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
        goto fail;
    }
    /* A concurrent use of the same token deletes nothing here once the first commits. */
    int64_t changes = 0;
    rc =
        db_exec(c, &changes, "DELETE FROM email_verifications WHERE token_hash = ?", "s", hash_hex);
    if (!rc && changes != 1) rc = RAGD_ENOTFOUND;
    if (rc) goto fail;
    if (expires_ms <= now_ms) {
        rc = db_commit(c); /* an expired token is dropped, and refused */
        return rc ? rc : RAGD_ENOTFOUND;
    }
    char ts[32];
    rc = db_exec(c, NULL, "UPDATE users SET is_verified = ?, updated_at = ? WHERE id = ?", "bss", 1,
                 time_iso(now_ms, ts), user_out);
    if (rc) goto fail;
    if ((rc = db_commit(c))) return rc;
    store_user_forget(user_out);
    return 0;
fail:
    db_rollback(c);
    return rc;
}
