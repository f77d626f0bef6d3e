/* ops_state.h (store) - the operations state every node shares: the maintenance level, the
 * feature flags, the features a provider outage has switched off, and the administrators'
 * plan edits.
 *
 * Each of the three parts has a version number in ops_versions; a change bumps its part's
 * version in the change's own transaction, so a node that polls the versions (one small
 * query) knows what to reload. Every function takes the connection to run on (NULL: the
 * calling thread's) so that a service can group several calls in one transaction. */
#ifndef RAGD_STORE_OPS_STATE_H
#define RAGD_STORE_OPS_STATE_H

#include <stdint.h>

#include "store/db.h"

enum ops_part { OPS_PART_MAINTENANCE, OPS_PART_FEATURES, OPS_PART_PLANS, OPS_PARTS };

/* Registers the migrations (340-343). */
void store_ops_register(void);

/* The version of every part. Returns 0 or a store error. */
int store_ops_versions(db_conn_t *c, int64_t v[OPS_PARTS]);
/* Bumps one part's version (inside the change's transaction). */
int store_ops_bump(db_conn_t *c, enum ops_part part);

/* ---- maintenance (one row) ---- */

struct store_maint {
    char level[8];                  /* "none", "soft", "hard" */
    char reason[256], message[512]; /* "" when unset */
    char estimated_restoration[32]; /* ISO-8601 UTC, "" when unset */
    char set_by[37];                /* the admin's user id; "" when set automatically */
    char since[32];                 /* when this level was entered */
    int automatic;                  /* entered by maint_feature_availability */
    /* The level an automatic entry replaced ("none" or "soft" with its texts), to return to
     * on the automatic exit; "" when none was saved. */
    char prev_level[8], prev_reason[256], prev_message[512], prev_set_by[37];
};
int store_maint_get(db_conn_t *c, struct store_maint *out);
int store_maint_put(db_conn_t *c, const struct store_maint *m);

/* ---- feature flags ---- */

struct store_flag {
    char name[32];
    char description[160];
    int enabled;
    int rollout;                         /* 0-100 */
    char updated_by[37], updated_at[32]; /* "" when never changed */
};
/* Every flag by name. *out is freed by the caller with free(). */
int store_flags_list(db_conn_t *c, struct store_flag **out, int *n);
/* Changes one flag. RAGD_ENOTFOUND when there is no flag called name. */
int store_flag_set(db_conn_t *c, const char *name, int enabled, int rollout, const char *by);

/* ---- feature outages (a provider outage switched the feature off) ---- */

struct store_outage {
    char feature[32];
    char since[32];
};
int store_outages_list(db_conn_t *c, struct store_outage **out, int *n); /* free() */
/* Records (down = 1) or clears (down = 0) an outage; *changed = 1 when the row was added or
 * removed, 0 when it already was as asked. */
int store_outage_set(db_conn_t *c, const char *feature, int down, int *changed);

/* ---- plan edits ---- */

struct store_plan_edit {
    char name[16];
    char *definition; /* JSON text in the plans-file shape; owned */
    char updated_by[37], updated_at[32];
};
/* Every edit, oldest first. Free with store_plan_edits_free. */
int store_plan_edits(db_conn_t *c, struct store_plan_edit **out, int *n);
void store_plan_edits_free(struct store_plan_edit *e, int n);
/* Inserts or replaces the edit of plan name. */
int store_plan_edit_put(db_conn_t *c, const char *name, const char *definition, const char *by);

#endif
