/* audit.c (store) - audit log schema, filtered listing, pruning and redaction permits
 * (store/audit.h). */
#include "store/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_int.h"

/* ---- migrations ---- */

#define AUDIT_COMMON_351                                                                           \
    "ALTER TABLE audit_log ADD COLUMN user_agent TEXT;"                                            \
    "CREATE INDEX audit_log_created ON audit_log(created_at);"                                     \
    "CREATE INDEX audit_log_actor ON audit_log(actor_id, id);"                                     \
    "CREATE INDEX audit_log_target ON audit_log(target_id, id);"                                   \
    "CREATE TABLE audit_redactions ("                                                              \
    " id INTEGER PRIMARY KEY AUTOINCREMENT, audit_id INTEGER NOT NULL,"                            \
    " used INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);"                                 \
    "CREATE INDEX audit_redactions_entry ON audit_redactions(audit_id, used);"

/* The columns a redaction may not change. */
#define SQ_SAME_IDS                                                                                \
    "NEW.id = OLD.id AND NEW.created_at = OLD.created_at AND NEW.action = OLD.action"              \
    " AND NEW.actor_id IS OLD.actor_id AND NEW.target_type IS OLD.target_type"                     \
    " AND NEW.target_id IS OLD.target_id AND NEW.request_id IS OLD.request_id"
#define SQ_FLOOR "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-89 days')"

static const struct store_migration sqlite_migrations[] = {
    {351, "audit: user agent, indexes, append-only triggers",
     AUDIT_COMMON_351
     "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
     " WHEN NOT (" SQ_SAME_IDS " AND EXISTS (SELECT 1 FROM audit_redactions"
     " WHERE audit_id = OLD.id AND used = 0))"
     " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
     "CREATE TRIGGER audit_log_redacted AFTER UPDATE ON audit_log"
     " BEGIN UPDATE audit_redactions SET used = 1 WHERE audit_id = OLD.id AND used = 0; END;"
     "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
     " WHEN OLD.created_at >= " SQ_FLOOR
     " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: only entries past retention may"
     " be pruned'); END;"
     "CREATE TRIGGER audit_redactions_no_update BEFORE UPDATE ON audit_redactions"
     " WHEN NOT (NEW.id = OLD.id AND NEW.audit_id = OLD.audit_id"
     " AND NEW.created_at = OLD.created_at AND OLD.used = 0 AND NEW.used = 1)"
     " BEGIN SELECT RAISE(ABORT, 'audit_redactions is append-only'); END;"
     "CREATE TRIGGER audit_redactions_no_delete BEFORE DELETE ON audit_redactions"
     " WHEN OLD.created_at >= " SQ_FLOOR
     " BEGIN SELECT RAISE(ABORT, 'audit_redactions is append-only'); END;"},
};

/* PostgreSQL: the same rules as plpgsql trigger functions. (This text goes through the
 * backend's translation, so it holds no '?' and no LIKE.) */
#define PG_FLOOR                                                                                   \
    "to_char(now() AT TIME ZONE 'UTC' - interval '89 days', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define PG_SAME_IDS                                                                                \
    "NEW.id = OLD.id AND NEW.created_at = OLD.created_at AND NEW.action = OLD.action"              \
    " AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id"                                          \
    " AND NEW.target_type IS NOT DISTINCT FROM OLD.target_type"                                    \
    " AND NEW.target_id IS NOT DISTINCT FROM OLD.target_id"                                        \
    " AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id"

static const struct store_migration pg_migrations[] = {
    {351, "audit: user agent, indexes, append-only triggers",
     AUDIT_COMMON_351
     "CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$"
     " BEGIN"
     "  IF TG_OP = 'DELETE' THEN"
     "   IF OLD.created_at >= " PG_FLOOR " THEN"
     "    RAISE EXCEPTION 'audit_log is append-only: only entries past retention may be"
     " pruned';"
     "   END IF;"
     "   RETURN OLD;"
     "  END IF;"
     "  IF " PG_SAME_IDS " AND EXISTS (SELECT 1 FROM audit_redactions"
     "     WHERE audit_id = OLD.id AND used = 0) THEN"
     "   UPDATE audit_redactions SET used = 1 WHERE audit_id = OLD.id AND used = 0;"
     "   RETURN NEW;"
     "  END IF;"
     "  RAISE EXCEPTION 'audit_log is append-only';"
     " END $$;"
     "CREATE FUNCTION audit_redactions_guard() RETURNS trigger LANGUAGE plpgsql AS $$"
     " BEGIN"
     "  IF TG_OP = 'DELETE' AND OLD.created_at < " PG_FLOOR " THEN RETURN OLD; END IF;"
     "  IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.audit_id = OLD.audit_id"
     "     AND NEW.created_at = OLD.created_at AND OLD.used = 0 AND NEW.used = 1 THEN"
     "   RETURN NEW;"
     "  END IF;"
     "  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;"
     " END $$;"
     "CREATE FUNCTION audit_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$"
     " BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;"
     "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
     " FOR EACH ROW EXECUTE PROCEDURE audit_log_guard();"
     "CREATE TRIGGER audit_redactions_append_only BEFORE UPDATE OR DELETE ON audit_redactions"
     " FOR EACH ROW EXECUTE PROCEDURE audit_redactions_guard();"
     "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
     " FOR EACH STATEMENT EXECUTE PROCEDURE audit_no_truncate();"
     "CREATE TRIGGER audit_redactions_no_truncate BEFORE TRUNCATE ON audit_redactions"
     " FOR EACH STATEMENT EXECUTE PROCEDURE audit_no_truncate();"},
};

void store_audit_register(void)
{
    if (!strcmp(db_backend(), "sqlite"))
        store_register_migrations(sqlite_migrations,
                                  (int)(sizeof sqlite_migrations / sizeof sqlite_migrations[0]));
    else
        store_register_migrations(pg_migrations,
                                  (int)(sizeof pg_migrations / sizeof pg_migrations[0]));
}

/* ---- listing ---- */

static char *dup_or_null(const char *t)
{
    return t ? xstrdup(t) : NULL;
}

void store_audit_rows_free(struct audit_row *rows, int n)
{
    for (int i = 0; i < n; i++) {
        struct audit_row *e = &rows[i];
        free(e->actor_id);
        free(e->actor_email);
        free(e->action);
        free(e->target_type);
        free(e->target_id);
        free(e->request_id);
        free(e->ip);
        free(e->user_agent);
        json_decref(e->details);
    }
    free(rows);
}

#define AUDIT_WHERE                                                                                \
    " WHERE (? IS NULL OR actor_id = ? OR lower(actor_email) = lower(?))"                          \
    " AND (? IS NULL OR action = ?) AND (? IS NULL OR action LIKE ? ESCAPE '\\')"                  \
    " AND (? IS NULL OR target_id = ?) AND (? IS NULL OR target_type = ?)"                         \
    " AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?)"                        \
    " AND (? IS NULL OR lower(action || ' ' || coalesce(actor_email, '') || ' '"                   \
    " || coalesce(actor_id, '') || ' ' || coalesce(target_type, '') || ' '"                        \
    " || coalesce(target_id, '') || ' ' || details || ' ' || coalesce(ip, '') || ' '"              \
    " || coalesce(user_agent, '')) LIKE lower(?) ESCAPE '\\')"
#define AUDIT_TYPES "sssssssssssssssss"
#define AUDIT_ARGS(f, exact, prefix, q)                                                            \
    f->actor, f->actor, f->actor, exact, exact, prefix, prefix, f->target, f->target,              \
        f->target_type, f->target_type, f->from, f->from, f->to, f->to, q, q

int store_audit_list(const struct audit_filter *f, int64_t limit, int64_t offset,
                     struct audit_row **rows, int *n, int64_t *total)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    /* "auth.*" and "auth." select a family of actions. */
    char *exact = NULL, *prefix = NULL, *q = NULL;
    if (f->action) {
        size_t len = strlen(f->action);
        if (len && (f->action[len - 1] == '*' || f->action[len - 1] == '.')) {
            char *stem = xstrdup(f->action);
            if (stem[len - 1] == '*') stem[len - 1] = '\0';
            prefix = store_like_pattern(stem, "", "%");
            free(stem);
        } else {
            exact = xstrdup(f->action);
        }
    }
    if (f->q) q = store_like_pattern(f->q, "%", "%");
    /* the page and, with each row, the count of all (column 11, a subquery evaluated once) */
    db_rows_t *r = NULL;
    int rc = db_query(c, &r,
                      "SELECT id, created_at, actor_id, actor_email, action, target_type,"
                      " target_id, details, request_id, ip, user_agent,"
                      " (SELECT count(*) FROM audit_log" AUDIT_WHERE ") FROM audit_log" AUDIT_WHERE
                      " ORDER BY id DESC LIMIT ? OFFSET ?",
                      AUDIT_TYPES AUDIT_TYPES "ii", AUDIT_ARGS(f, exact, prefix, q),
                      AUDIT_ARGS(f, exact, prefix, q), limit, offset);
    if (rc) {
        free(exact);
        free(prefix);
        free(q);
        return rc;
    }
    int cap = 16;
    *rows = xcalloc((size_t)cap, sizeof **rows);
    *n = 0;
    *total = 0;
    while ((rc = db_rows_next(r)) == 1) {
        if (*n == cap) {
            cap *= 2;
            *rows = xrealloc(*rows, (size_t)cap * sizeof **rows);
        }
        struct audit_row *e = &(*rows)[(*n)++];
        memset(e, 0, sizeof *e);
        e->id = db_col_int(r, 0);
        snprintf(e->created_at, sizeof e->created_at, "%s",
                 db_col_text(r, 1) ? db_col_text(r, 1) : "");
        e->actor_id = dup_or_null(db_col_text(r, 2));
        e->actor_email = dup_or_null(db_col_text(r, 3));
        e->action = dup_or_null(db_col_text(r, 4));
        e->target_type = dup_or_null(db_col_text(r, 5));
        e->target_id = dup_or_null(db_col_text(r, 6));
        json_error_t je;
        e->details = db_col_text(r, 7) ? json_loads(db_col_text(r, 7), 0, &je) : NULL;
        e->request_id = dup_or_null(db_col_text(r, 8));
        e->ip = dup_or_null(db_col_text(r, 9));
        e->user_agent = dup_or_null(db_col_text(r, 10));
        *total = db_col_int(r, 11);
    }
    db_rows_free(r);
    if (rc == 0 && *n == 0 && offset > 0) /* a page past the end: the count alone */
        rc = db_query_int(c, total, "SELECT count(*) FROM audit_log" AUDIT_WHERE, AUDIT_TYPES,
                          AUDIT_ARGS(f, exact, prefix, q));
    free(exact);
    free(prefix);
    free(q);
    if (rc < 0) {
        store_audit_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

/* ---- pruning and redaction ---- */

int store_audit_prune(const char *before_iso, int64_t *deleted)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int64_t n = 0;
    int rc = db_begin(c);
    if (rc) return rc;
    rc = db_exec(c, &n, "DELETE FROM audit_log WHERE created_at < ?", "s", before_iso);
    if (!rc)
        rc = db_exec(c, NULL, "DELETE FROM audit_redactions WHERE created_at < ? AND used = 1", "s",
                     before_iso);
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    if (deleted) *deleted = n;
    return 0;
}

int store_audit_permit_redaction(db_conn_t *c, int64_t audit_id)
{
    char ts[32];
    return db_exec(c, NULL, "INSERT INTO audit_redactions (audit_id, created_at) VALUES (?, ?)",
                   "is", audit_id, time_iso(time_now_ms(), ts));
}
