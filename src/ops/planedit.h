/* planedit.h - administrators' plan edits at run time (PUT /admin/plans/{name}): stored in
 * the database (store/ops_state.h), applied on top of the plans billing loaded at start
 * (billing/plans.h plan_apply_edits), and seen by every node through ops_sync.
 *
 * Successive edits of one plan accumulate: the stored edit is the earlier one with the new
 * one merged in (limits, daily_limits and pricing key by key; name and features replaced). */
#ifndef RAGD_OPS_PLANEDIT_H
#define RAGD_OPS_PLANEDIT_H

#include <jansson.h>

#include "billing/plans.h"
#include "store/store.h"

/* Applies every stored edit to this node's plan table. Returns 0 or a store error (the
 * table stays). An edit that no longer applies (the plans file changed under it) is skipped
 * and logged. */
int planedit_reload(void);

/* Edits (or adds) the plan called name with def (borrowed; the plans-file shape, see
 * plan_edit_check); the audit entry commits with it. Returns 0 with *created (the plan is
 * new), RAGD_EINVAL with the offending field and a message in err (nothing changed), or a
 * store error. */
int planedit_put(const char *name, json_t *def, const struct audit_entry *audit, int *created,
                 char field[PLAN_FIELD_MAX], char *err, size_t errcap);

#endif
