/* audit.h (ops) - the audit log's retention: entries older than AUDIT_RETENTION_DAYS (default
 * 365, never below 90: a lower value is a configuration error) are pruned at start and then
 * at most once a day, by whichever request writes an entry first after the day has passed.
 * Nothing else ever deletes an entry (store/audit.h: the database refuses it). */
#ifndef RAGD_OPS_AUDIT_H
#define RAGD_OPS_AUDIT_H

#include <stdint.h>

/* Reads AUDIT_RETENTION_DAYS (errors go to config_errors) and prunes once. Returns 0 or a
 * store error from the prune (logged; not a reason to refuse to start). */
int audit_init(void);
/* The retention in days. */
int audit_retention_days(void);
/* Deletes the entries older than the retention, by the wall clock (never the test clock).
 * *deleted (may be NULL) gets how many. Returns 0 or a store error. */
int audit_prune(int64_t *deleted);
/* audit_prune when the last one ran more than a day ago (cheap otherwise). Cannot fail: a
 * failed prune is logged and tried again the next day. */
void audit_maybe_prune(void);

#endif
