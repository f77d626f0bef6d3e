/* maintenance.h - maintenance modes (seed 003): none, soft (a banner; heavy work paused) and
 * hard (every non-admin request refused), set by an administrator or entered automatically
 * when chat has no usable provider left.
 *
 * The level lives in the database (store/ops_state.h) so that every node applies the same
 * one; each node keeps a copy that ops_sync refreshes within a second of a change made
 * elsewhere. Reads are lock-free for the level and take a short lock for the texts.
 *
 * Rules for automatic changes (maint_feature_availability):
 * - chat becomes unusable and no local engine is configured (GENERATION_MODEL unset):
 *   hard, marked automatic; the level it replaced is saved;
 * - chat becomes usable again: an automatic level returns to the saved one; a level an
 *   administrator set by hand is never left automatically;
 * - any other feature: recorded as switched off by the outage (features_*), no level change.
 * Only transitions count: while an outage lasts, an administrator's override stands. */
#ifndef RAGD_OPS_MAINTENANCE_H
#define RAGD_OPS_MAINTENANCE_H

#include <stdint.h>

#include "store/store.h"

enum maint_level { MAINT_NONE, MAINT_SOFT, MAINT_HARD };

struct maint_state {
    enum maint_level level;
    char reason[256], message[512];
    char estimated_restoration[32]; /* ISO-8601 UTC, "" when unset */
    int64_t restoration_ms;         /* the same in ms; 0 when unset */
    char set_by[37];                /* the admin's user id; "" when automatic */
    char since[32];
    int automatic;
};

/* "none", "soft", "hard". */
const char *maint_level_name(enum maint_level l);
/* 0 and *out, or RAGD_EINVAL for another string. */
int maint_level_parse(const char *s, enum maint_level *out);

/* Loads the state from the database (at start, and when ops_sync sees a change). Returns 0
 * or a store error (the previous copy stays). */
int maint_reload(void);

/* The level in force on this node. Lock-free; cannot fail. */
enum maint_level maint_level_now(void);
/* A copy of the whole state. Cannot fail. */
void maint_get(struct maint_state *out);
/* Seconds a refused client should wait: until the estimated restoration when it lies
 * ahead, else MAINTENANCE_RETRY_AFTER_SECONDS (300). At least 1. */
int maint_retry_after_s(void);

/* An administrator's change. */
struct maint_change {
    enum maint_level level;
    const char *reason;                /* required */
    const char *message;               /* NULL: the level's standard message */
    const char *estimated_restoration; /* ISO-8601 UTC or NULL */
};
/* Sets the level by hand: the row, the notification (MAINTENANCE_ENTERED / EXITED, or
 * OVERRIDDEN when an automatic level was in force) and the audit entry *audit (actor_id is
 * recorded as set_by) commit together. *overridden (may be NULL) says whether an automatic
 * level was overridden. Returns 0, RAGD_EINVAL for an unparsable estimated_restoration, or
 * a store error (nothing changed). */
int maint_set(const struct maint_change *ch, const struct audit_entry *audit, int *overridden);

/* Called by the provider router when a feature ("chat", "flashcard", "mcq", "highyield",
 * "explain", "map", "embeddings", or a feature flag's name) becomes usable or unusable.
 * Cheap when nothing changes (no database access); safe from any thread. Failures to record
 * a change are logged and retried on the next call. */
void maint_feature_availability(const char *feature, int usable);

#endif
