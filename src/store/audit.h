/* audit.h (store) - the audit log's schema beyond its first table, its queries (store.h
 * declares the entry and row structs), and the rules that keep it append-only.
 *
 * Append-only is the database's rule, not only ragd's: triggers (SQLite and PostgreSQL)
 * refuse every UPDATE and DELETE of audit_log except
 *   - a DELETE of an entry older than AUDIT_FLOOR_DAYS (the pruning of entries past
 *     AUDIT_RETENTION_DAYS, which is never below AUDIT_MIN_RETENTION_DAYS; the floor is a
 *     day shorter so that clocks a little apart cannot refuse a legitimate prune), and
 *   - an erasure's redaction of one entry (its details, actor e-mail, address and agent; the
 *     ids, action and time stay): the entry is first named in audit_redactions, and that
 *     permit is used up by the one UPDATE it allows.
 * audit_redactions is append-only in the same way: the record of what was redacted when.
 * PostgreSQL also refuses TRUNCATE of both tables. */
#ifndef RAGD_STORE_AUDIT_H
#define RAGD_STORE_AUDIT_H

#include <stdint.h>

#include "store/db.h"

enum {
    AUDIT_MIN_RETENTION_DAYS = 90,
    AUDIT_FLOOR_DAYS = 89,
    AUDIT_AGENT_MAX = 256, /* bytes of User-Agent kept */
};

/* Registers migrations 351-352 (the user_agent column, indexes, audit_redactions and the
 * triggers, in the dialect of the open backend). store_migrate calls it: db_open first. */
void store_audit_register(void);

/* Deletes the entries (and used redaction permits) created before before_iso. *deleted
 * (may be NULL) gets how many entries went. Returns 0 or a store error (RAGD_EDB when the
 * triggers refuse: before_iso is within the floor). */
int store_audit_prune(const char *before_iso, int64_t *deleted);

/* Allows the next UPDATE of audit entry audit_id (an erasure's redaction), inside the
 * caller's transaction on c. Returns 0 or a store error. */
int store_audit_permit_redaction(db_conn_t *c, int64_t audit_id);

#endif
