/* erasure.h - erasing a user, a document or an organization with everything that hangs off
 * it, durably: the erasure is recorded first (store/erasure.h), then carried out step by
 * step, each step idempotent, so that a job interrupted by a crash is finished by the next
 * pass of the resumer (at start, then every ERASURE_RESUME_INTERVAL_SECONDS, 30) on any
 * node.
 *
 * What goes:
 *   user          the account is refused from the moment the job is recorded (inactive,
 *                 its access tokens refused by the watermark, refresh tokens and API keys
 *                 revoked); then every document it owns (as a document erasure), its chat
 *                 sessions, conversation history and usage analytics, API keys and refresh
 *                 tokens, quota holds, usage counters and records, billing history and
 *                 subscriptions, its cache entries (session, subscription, quotas), and
 *                 the users row. The audit log keeps its entries with the user's id only:
 *                 e-mail, username and the address it acted from are rewritten away.
 *   document      its row, stored upload, chunks and vectors, its BM25 and HNSW entries on
 *                 every node (through the change log) and the cached search results.
 *   organization  every document uploaded within it (as a document erasure); its members
 *                 stay, detached (organization_id cleared) with their own chats and
 *                 accounts (erase a member as a user to remove them); the organizations
 *                 row, its name and domain rewritten to its id in the audit log.
 * After each erasure the space of the deleted rows is reclaimed (store_erasure_reclaim:
 * SQLite zeroes deleted content, secure_delete, and truncates its log; PostgreSQL runs
 * VACUUM on the touched tables), and index files saved afterwards hold no deleted chunk.
 *
 * Test hook: with RAGD_TEST_MODE on, ERASURE_TEST_KILL_AFTER_STEP=N makes the process kill
 * itself (SIGKILL) right after a job's step N is recorded, to prove the resume.
 *
 * Thread-safe; two nodes running the same job at once only repeat idempotent work. */
#ifndef RAGD_ERASURE_H
#define RAGD_ERASURE_H

struct audit_entry;

/* Each records the erasure of id (or finds the one already recorded), with audit (may be
 * NULL; written in the same transaction, the job's id added to its details), and carries it
 * out now. job_id (37 bytes, may be NULL) receives the job's id. Returns 0 when the erasure
 * is complete; RAGD_ENOTFOUND when there is no such thing and no erasure of it under way;
 * another error when a step failed: the job stays recorded (the user already refused) and
 * the resumer, or a new call, finishes it. */
int erasure_user(const char *user_id, const struct audit_entry *audit, char *job_id);
int erasure_document(const char *doc_id, const struct audit_entry *audit, char *job_id);
int erasure_organization(const char *org_id, const struct audit_entry *audit, char *job_id);

/* Finishes every unfinished job now (oldest first); *finished (may be NULL) counts those
 * completed. 0, or the first error (the rest are still tried). */
int erasure_resume(int *finished);

/* Starts / stops the resumer thread (its first pass runs at once). Call erasure_start after
 * the knowledge service started, erasure_stop before it stops. */
void erasure_start(void);
void erasure_stop(void);

#endif
