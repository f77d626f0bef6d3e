/* erasure.c (store) - erasure_jobs and the SQL of a user's and an organization's erasure
 * (store/erasure.h). */
#include "store/erasure.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/db.h"
#include "store/orgs.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/audit.h"

static const struct store_migration migrations[] = {
    {320, "operations: erasure jobs",
     "CREATE TABLE erasure_jobs ("
     " id TEXT PRIMARY KEY,"
     " kind TEXT NOT NULL CHECK (kind IN ('user', 'document', 'organization')),"
     " target_id TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
     " step INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,"
     " updated_ms INTEGER NOT NULL, finished_at TEXT);"
     "CREATE UNIQUE INDEX erasure_jobs_open ON erasure_jobs(kind, target_id)"
     " WHERE state = 'pending';"
     "CREATE INDEX erasure_jobs_state ON erasure_jobs(state, updated_ms);"},
};

void store_erasure_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void job_from_row(db_rows_t *r, struct erasure_job *j)
{
    memset(j, 0, sizeof *j);
    copy(j->id, sizeof j->id, db_col_text(r, 0));
    copy(j->kind, sizeof j->kind, db_col_text(r, 1));
    copy(j->target_id, sizeof j->target_id, db_col_text(r, 2));
    j->step = (int)db_col_int(r, 3);
    j->updated_ms = db_col_int(r, 4);
}

#define JOB_COLS "id, kind, target_id, step, updated_ms"

/* The unfinished job for (kind, target): 0, RAGD_ENOTFOUND or an error. */
static int find_open(db_conn_t *c, const char *kind, const char *target_id, struct erasure_job *job)
{
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT " JOB_COLS " FROM erasure_jobs"
                      " WHERE kind = ? AND target_id = ? AND state = 'pending'",
                      "ss", kind, target_id);
    if (rc) return rc;
    rc = db_rows_next(r);
    if (rc == 1) job_from_row(r, job);
    db_rows_free(r);
    return rc == 1 ? 0 : rc == 0 ? RAGD_ENOTFOUND : rc;
}

static int target_exists(db_conn_t *c, const char *kind, const char *id)
{
    int64_t n = 0;
    int rc;
    if (!strcmp(kind, "user"))
        rc = db_query_int(c, &n, "SELECT count(*) FROM users WHERE id = ?", "s", id);
    else if (!strcmp(kind, "document"))
        rc = db_query_int(c, &n, "SELECT count(*) FROM documents WHERE id = ?", "s", id);
    else
        rc = db_query_int(c, &n, "SELECT count(*) FROM organizations WHERE id = ?", "s", id);
    return rc ? rc : n ? 0 : RAGD_ENOTFOUND;
}

/* Makes user id unusable: inactive, tokens issued until now refused, refresh tokens and
 * API keys revoked. Inside the caller's transaction. */
static int disable_user(db_conn_t *c, const char *id)
{
    char ts[32];
    int64_t now = time_now_ms();
    time_iso(now, ts);
    int rc = db_exec(c, NULL,
                     "UPDATE users SET is_active = 0, updated_at = ?,"
                     " tokens_valid_after = CASE WHEN tokens_valid_after > ?"
                     " THEN tokens_valid_after ELSE ? END WHERE id = ?",
                     "siis", ts, now, now, id);
    if (!rc)
        rc = db_exec(c, NULL,
                     "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ?"
                     " AND revoked_at IS NULL",
                     "ss", ts, id);
    if (!rc)
        rc = db_exec(c, NULL,
                     "UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                     "ss", ts, id);
    return rc;
}

/* Writes audit with the job's id added to its details, in the caller's transaction. */
static int audit_job(const struct audit_entry *audit, const struct erasure_job *job)
{
    struct audit_entry e = *audit;
    json_t *d = audit->details ? json_deep_copy(audit->details) : json_object();
    if (!json_is_object(d)) {
        json_decref(d);
        d = json_object();
    }
    json_object_set_new(d, "erasure_job_id", json_string(job->id));
    e.details = d;
    int rc = store_audit_add(&e);
    json_decref(d);
    return rc;
}

int store_erasure_begin(const char *kind, const char *target_id, const struct audit_entry *audit,
                        struct erasure_job *job)
{
    RAGD_ASSERT(!strcmp(kind, "user") || !strcmp(kind, "document") ||
                !strcmp(kind, "organization"));
    db_conn_t *c = db_conn();
    int rc = db_begin_for(c, target_id);
    if (rc) return rc;
    rc = find_open(c, kind, target_id, job);
    if (rc == RAGD_ENOTFOUND) {
        rc = target_exists(c, kind, target_id);
        if (!rc) {
            char ts[32];
            int64_t now = time_now_ms();
            memset(job, 0, sizeof *job);
            uuid4(job->id);
            copy(job->kind, sizeof job->kind, kind);
            copy(job->target_id, sizeof job->target_id, target_id);
            job->updated_ms = now;
            rc = db_exec(c, NULL,
                         "INSERT INTO erasure_jobs (id, kind, target_id, state, step, created_at,"
                         " updated_ms) VALUES (?, ?, ?, 'pending', 0, ?, ?)",
                         "ssssi", job->id, kind, target_id, time_iso(now, ts), now);
        }
    }
    if (!rc && !strcmp(kind, "user")) rc = disable_user(c, target_id);
    if (!rc && audit) rc = audit_job(audit, job);
    if (!rc) rc = db_commit(c);
    if (rc)
        db_rollback(c);
    else if (!strcmp(kind, "user"))
        store_epoch_end(); /* its API keys are revoked */
    return rc;
}

int store_erasure_open(int64_t before_ms, int max, struct erasure_job **jobs, int *n)
{
    *jobs = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT " JOB_COLS " FROM erasure_jobs WHERE state = 'pending'"
                      " AND (? = 0 OR updated_ms < ?) ORDER BY created_at, id LIMIT ?",
                      "iii", before_ms, before_ms, (int64_t)max);
    if (rc) return rc;
    *jobs = xcalloc((size_t)(max > 0 ? max : 1), sizeof **jobs);
    while (*n < max && (rc = db_rows_next(r)) == 1)
        job_from_row(r, &(*jobs)[(*n)++]);
    db_rows_free(r);
    if (rc < 0) {
        free(*jobs);
        *jobs = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

int store_erasure_step_done(const char *job_id, int step)
{
    return db_exec(db_conn(), NULL,
                   "UPDATE erasure_jobs SET step = CASE WHEN step > ? THEN step ELSE ? END,"
                   " updated_ms = ? WHERE id = ?",
                   "iiis", (int64_t)step, (int64_t)step, time_now_ms(), job_id);
}

int store_erasure_finish(const char *job_id)
{
    char ts[32];
    int64_t now = time_now_ms();
    return db_exec(db_conn(), NULL,
                   "UPDATE erasure_jobs SET state = 'done', updated_ms = ?, finished_at = ?"
                   " WHERE id = ? AND state = 'pending'",
                   "iss", now, time_iso(now, ts), job_id);
}

int store_erasure_state(const char *job_id, char state[16])
{
    char *s = NULL;
    int rc =
        db_query_text(db_conn(), &s, "SELECT state FROM erasure_jobs WHERE id = ?", "s", job_id);
    if (!rc) copy(state, 16, s);
    free(s);
    return rc;
}

int store_erasure_doc_ids(const char *column, const char *id, int max, char (*ids)[37], int *n)
{
    *n = 0;
    db_rows_t *r;
    int rc;
    if (!strcmp(column, "owner"))
        rc = db_query(db_conn(), &r, "SELECT id FROM documents WHERE owner_id = ? LIMIT ?", "si",
                      id, (int64_t)max);
    else
        rc = db_query(db_conn(), &r, "SELECT id FROM documents WHERE organization_id = ? LIMIT ?",
                      "si", id, (int64_t)max);
    if (rc) return rc;
    while (*n < max && (rc = db_rows_next(r)) == 1)
        copy(ids[(*n)++], 37, db_col_text(r, 0));
    db_rows_free(r);
    return rc < 0 ? rc : 0;
}

/* ---- a user's rows ---- */

int store_erasure_user_rows(const char *user_id, enum erasure_user_rows group)
{
    static const char *const chat[] = {
        "DELETE FROM conversation_history WHERE user_id = ?",
        "DELETE FROM chat_sessions WHERE user_id = ?",
        "DELETE FROM usage_analytics WHERE user_id = ?",
        NULL,
    };
    static const char *const credentials[] = {
        "DELETE FROM api_keys WHERE user_id = ?",
        "DELETE FROM refresh_tokens WHERE user_id = ?",
        NULL,
    };
    static const char *const billing[] = {
        "DELETE FROM quota_holds WHERE user_id = ?",
        "DELETE FROM usage_counters WHERE user_id = ?",
        "DELETE FROM usage_records WHERE user_id = ?",
        "DELETE FROM billing_history WHERE user_id = ?",
        "DELETE FROM subscriptions WHERE user_id = ?",
        NULL,
    };
    const char *const *sql = group == ERASE_USER_CHAT          ? chat
                             : group == ERASE_USER_CREDENTIALS ? credentials
                                                               : billing;
    db_conn_t *c = db_conn();
    for (; *sql; sql++) {
        int rc = db_exec(c, NULL, *sql, "s", user_id);
        if (rc) return rc;
    }
    return 0;
}

/* ---- the audit log keeps ids, not what they named ---- */

/* Replaces, in place, every string of v that contains one of needles[0..n) (ignoring case;
 * empty needles are skipped) by repl. *changed is set when something was replaced. */
static void scrub_json(json_t *v, const char *const *needles, int n, const char *repl, int *changed)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (json_is_string(x)) {
                for (int i = 0; i < n; i++)
                    if (needles[i] && *needles[i] && strcasestr(json_string_value(x), needles[i])) {
                        json_object_set_new(v, k, json_string(repl));
                        *changed = 1;
                        break;
                    }
            } else {
                scrub_json(x, needles, n, repl, changed);
            }
        }
    } else if (json_is_array(v)) {
        for (size_t j = 0; j < json_array_size(v); j++) {
            json_t *x = json_array_get(v, j);
            if (json_is_string(x)) {
                for (int i = 0; i < n; i++)
                    if (needles[i] && *needles[i] && strcasestr(json_string_value(x), needles[i])) {
                        json_array_set_new(v, j, json_string(repl));
                        *changed = 1;
                        break;
                    }
            } else {
                scrub_json(x, needles, n, repl, changed);
            }
        }
    }
}

/* Rewrites the audit entries that concern id (as actor or target) or mention one of
 * needles: strings holding a needle become id; the actor e-mail is cleared where it is a
 * needle or id acted. Inside the caller's transaction. */
static int scrub_audit(db_conn_t *c, const char *id, const char *const *needles, int n)
{
    /* Candidates: the entries about id, and those whose text holds the first needle (the
     * e-mail or the name), found with LIKE and checked exactly below. */
    char *like = xasprintf("%%%s%%", needles[0] ? needles[0] : id);
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT id, actor_id, actor_email, details, ip, user_agent FROM audit_log"
                      " WHERE actor_id = ? OR target_id = ? OR lower(actor_email) = lower(?)"
                      " OR lower(details) LIKE lower(?)",
                      "ssss", id, id, needles[0] ? needles[0] : id, like);
    free(like);
    if (rc) return rc;
    while (!rc && (rc = db_rows_next(r)) == 1) {
        int64_t rid = db_col_int(r, 0);
        const char *actor = db_col_text(r, 1), *email = db_col_text(r, 2);
        int changed = 0;
        json_t *d = json_loads(db_col_text(r, 3) ? db_col_text(r, 3) : "{}", 0, NULL);
        if (!d) { /* not JSON (never written by ragd): keep nothing of it */
            d = json_object();
            changed = 1;
        }
        scrub_json(d, needles, n, id, &changed);
        int acted = actor && !strcmp(actor, id);
        int mail = email && needles[0] && !strcasecmp(email, needles[0]);
        rc = 0;
        if (changed || acted || mail) {
            /* The log is append-only: one recorded redaction, one UPDATE (store/audit.h). */
            char *txt = json_dumps(d, JSON_COMPACT);
            int forget = acted || mail;
            rc = store_audit_permit_redaction(c, rid);
            if (!rc)
                rc = db_exec(c, NULL,
                             "UPDATE audit_log SET details = ?, actor_email = ?, ip = ?,"
                             " user_agent = ? WHERE id = ?",
                             "ssssi", txt, forget ? NULL : email, forget ? NULL : db_col_text(r, 4),
                             forget ? NULL : db_col_text(r, 5), rid);
            free(txt);
        }
        json_decref(d);
    }
    db_rows_free(r);
    return rc < 0 ? rc : 0;
}

/* The last step for a user or an organization, in one transaction: the audit log forgets the
 * two identifying strings that select_sql reads (string literals: statements are cached by
 * address) and delete_sql removes the row. */
static int final_erase(const char *id, const char *select_sql, const char *delete_sql)
{
    db_conn_t *c = db_conn();
    int rc = db_begin_for(c, id);
    if (rc) return rc;
    db_rows_t *r;
    rc = db_query(c, &r, select_sql, "s", id);
    if (!rc) {
        int have = db_rows_next(r);
        if (have == 1) {
            char *a = xstrdup(db_col_text(r, 0) ? db_col_text(r, 0) : "");
            char *b = xstrdup(db_col_text(r, 1) ? db_col_text(r, 1) : "");
            const char *needles[2] = {a, b};
            rc = scrub_audit(c, id, needles, 2);
            if (!rc) rc = db_exec(c, NULL, delete_sql, "s", id);
            free(a);
            free(b);
        } else if (have < 0) {
            rc = have;
        }
        db_rows_free(r);
    }
    if (!rc) rc = db_commit(c);
    if (rc) db_rollback(c);
    return rc;
}

int store_erasure_user_final(const char *user_id)
{
    return final_erase(user_id, "SELECT email, username FROM users WHERE id = ?",
                       "DELETE FROM users WHERE id = ?");
}

/* ---- organizations ---- */

int store_erasure_org_detach(const char *org_id, char (**members)[37], int *n)
{
    db_conn_t *c = db_conn();
    if (members) *members = NULL;
    *n = 0;
    int rc = db_begin_for(c, org_id);
    if (rc) return rc;
    db_rows_t *r;
    rc = db_query(c, &r, "SELECT id FROM users WHERE organization_id = ?", "s", org_id);
    if (!rc) {
        int cap = 0;
        while ((rc = db_rows_next(r)) == 1) {
            if (!members) continue;
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                *members = xrealloc(*members, (size_t)cap * sizeof **members);
            }
            copy((*members)[(*n)++], 37, db_col_text(r, 0));
        }
        db_rows_free(r);
        rc = rc < 0 ? rc : 0;
    }
    char ts[32];
    if (!rc)
        rc = db_exec(c, NULL,
                     "UPDATE users SET organization_id = NULL, updated_at = ?"
                     " WHERE organization_id = ?",
                     "ss", time_iso(time_now_ms(), ts), org_id);
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        if (members) {
            free(*members);
            *members = NULL;
        }
        *n = 0;
    }
    return rc;
}

int store_erasure_org_final(const char *org_id)
{
    int rc = final_erase(org_id, "SELECT name, domain FROM organizations WHERE id = ?",
                         "DELETE FROM organizations WHERE id = ?");
    if (!rc) store_org_forget(org_id);
    return rc;
}

/* ---- reclaiming the bytes ---- */

void store_erasure_reclaim(unsigned what)
{
    db_conn_t *c = db_conn();
    int rc = 0;
    if (!strcmp(db_backend(), "sqlite")) {
        /* Deleted content is already zeroed in the pages (secure_delete); the log may still
         * hold the pages as they were, so it is copied back and truncated. */
        db_rows_t *r = NULL;
        rc = db_query(c, &r, "PRAGMA wal_checkpoint(TRUNCATE)", "");
        if (!rc && db_rows_next(r) == 1 && db_col_int(r, 0) != 0)
            rc = RAGD_ECONFLICT; /* readers kept it from finishing */
        db_rows_free(r);
    } else {
        /* One statement each: VACUUM cannot run inside a transaction, and several
         * statements in one simple query would form one. */
        if (what & ERASURE_RECLAIM_DOCUMENTS)
            rc = db_script(c, "VACUUM documents, chunks, embeddings, document_uploads");
        if (!rc && (what & ERASURE_RECLAIM_ACCOUNTS))
            rc = db_script(c, "VACUUM conversation_history, chat_sessions, usage_analytics,"
                              " api_keys, refresh_tokens, quota_holds, usage_counters,"
                              " usage_records, billing_history, subscriptions, users,"
                              " organizations, audit_log");
    }
    if (rc)
        log_json(LOG_WARN, "space of erased rows not reclaimed yet (done by the next erasure)",
                 json_pack("{s:s, s:s}", "backend", db_backend(), "error", ragd_strerror(rc)));
}
