/* opsync.h - keeping this node's copy of the shared operations state (maintenance level,
 * feature flags and outages, plan edits) in step with the database.
 *
 * A change made on any node bumps its part's version (store/ops_state.h). ops_sync_tick,
 * called on every request by the gate guard, reads the versions at most every
 * OPS_SYNC_INTERVAL_MS (500) and reloads the parts that changed, so every node applies a
 * change within about half a second of its commit. One caller polls at a time; the others
 * go on with the copy they have. When the database cannot be read the copy stays and the
 * next poll waits a few seconds. */
#ifndef RAGD_OPS_OPSYNC_H
#define RAGD_OPS_OPSYNC_H

#include <stddef.h>

/* Loads every part once (at start, after the migrations). Returns 0, or a store error with
 * a message in err. */
int ops_sync_init(char *err, size_t errcap);
/* Polls when due (see above). Cheap otherwise; cannot fail. */
void ops_sync_tick(void);

#endif
