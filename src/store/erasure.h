/* erasure.h (store) - the durable record of erasures (table erasure_jobs) and the SQL that
 * removes a user's or an organization's rows.
 *
 * A job names what is erased (kind "user", "document" or "organization" and the target's
 * id), the last step done, and its state ("pending" until every step is done, then "done").
 * Only ids are kept: a finished job says that something was erased, not what it held. At
 * most one unfinished job exists per target.
 *
 * Every step function is idempotent: running it again after it succeeded, or after a crash
 * in the middle (each statement is atomic), changes nothing more. All functions return 0 or
 * a negative RAGD_E* code of store.h. */
#ifndef RAGD_STORE_ERASURE_H
#define RAGD_STORE_ERASURE_H

#include <stdint.h>

/* Registers the erasure_jobs migration (call before store_migrate). */
void store_erasure_register(void);

struct erasure_job {
    char id[37];
    char kind[16];      /* "user", "document", "organization" */
    char target_id[37]; /* the erased thing's id */
    int step;           /* the last step done (0: only recorded) */
    int64_t updated_ms; /* when the job last moved */
};

/* Records the erasure of target (kind as above), or finds the unfinished one already
 * recorded for it; *job receives it. For a user, the same transaction makes the account
 * unusable: inactive, every access token issued until now refused (the watermark), refresh
 * tokens and API keys revoked. RAGD_ENOTFOUND when the target does not exist and no
 * erasure of it is under way. The caller drops the user's caches afterwards. */
struct audit_entry;
/* audit (may be NULL) is written in the same transaction, its details (borrowed, may be
 * NULL) extended with the job's id: the request is on record exactly when the job is. */
int store_erasure_begin(const char *kind, const char *target_id, const struct audit_entry *audit,
                        struct erasure_job *job);
/* Unfinished jobs (oldest first), at most max; only those not moved since before_ms when
 * before_ms > 0. The caller frees *jobs. */
int store_erasure_open(int64_t before_ms, int max, struct erasure_job **jobs, int *n);
/* Records that step is done (a step never moves back) and that the job moved now. */
int store_erasure_step_done(const char *job_id, int step);
/* Marks the job finished. */
int store_erasure_finish(const char *job_id);
/* The state of a job ("pending" or "done") into state (16 bytes). RAGD_ENOTFOUND. */
int store_erasure_state(const char *job_id, char state[16]);

/* Up to max ids of documents owned by user (column "owner") or uploaded within an
 * organization (column "org"), into ids (max * 37 bytes); *n how many. */
int store_erasure_doc_ids(const char *column, const char *id, int max, char (*ids)[37], int *n);

/* ---- a user's rows, one group per call ---- */

enum erasure_user_rows {
    ERASE_USER_CHAT,        /* conversation history, chat sessions, usage analytics */
    ERASE_USER_CREDENTIALS, /* API keys, refresh tokens */
    ERASE_USER_BILLING,     /* holds, counters, usage records, billing history, subscriptions */
};
int store_erasure_user_rows(const char *user_id, enum erasure_user_rows group);
/* One transaction: rewrites the audit log so that no entry holds the user's e-mail or
 * username (strings holding them become the user's id; the entries' actor e-mail and
 * address are cleared where the user acted), then deletes the users row. 0 also when the
 * row is already gone. */
int store_erasure_user_final(const char *user_id);

/* Organization: clears every member's organization_id; *members (caller frees, may be
 * NULL) receives their ids so that their caches can be dropped. */
int store_erasure_org_detach(const char *org_id, char (**members)[37], int *n);
/* One transaction: the audit log's strings holding the organization's name or domain
 * become its id, then the organizations row is deleted. 0 also when already gone. */
int store_erasure_org_final(const char *org_id);

/* What store_erasure_reclaim covers. */
enum {
    ERASURE_RECLAIM_DOCUMENTS = 1, /* documents, uploads, chunks, embeddings */
    ERASURE_RECLAIM_ACCOUNTS = 2,  /* users, organizations and everything keyed by a user */
};
/* Reclaims the space of deleted rows after an erasure, best effort, outside any
 * transaction: SQLite (whose connections run with secure_delete on, so deleted content is
 * zeroed in place) checkpoints and truncates its write-ahead log, so no earlier page image
 * survives there; PostgreSQL runs VACUUM on the tables of what (ERASURE_RECLAIM_* bits), so
 * that dead tuples are reclaimed. Failures are logged, never returned. May wait for
 * readers up to the busy timeout: call it off the request path. */
void store_erasure_reclaim(unsigned what);

#endif
