/* features.h - feature toggles (seed 002's feature_flags; seed 003's toggles): chat,
 * flashcards, mcqs, highyield, explanations, concept_maps, document_upload, pdf_upload,
 * search, v1_api, registration.
 *
 * A flag is on or off, and when on it reaches rollout_percentage of the users: a user is in
 * when a stable hash of the flag's name and the user id (FNV-1a 64, modulo 100) is below the
 * percentage, so the same user always gets the same answer and different flags pick
 * different users. An anonymous caller is only in at 100.
 *
 * Flags and the features an outage switched off (maint_feature_availability) live in the
 * database; each node keeps a copy that ops_sync refreshes within a second of a change. */
#ifndef RAGD_OPS_FEATURES_H
#define RAGD_OPS_FEATURES_H

#include "store/store.h"

/* Why a feature is not usable. */
enum features_why { FEATURE_OK, FEATURE_OFF, FEATURE_NOT_IN_ROLLOUT };

struct feature_view {
    char name[32], description[160];
    int enabled, rollout;
    char updated_by[37], updated_at[32]; /* "" when never changed */
    int outage;                          /* switched off by a provider outage */
    char outage_since[32];
};

/* Loads flags and outages from the database. 0 or a store error (the copy stays). */
int features_reload(void);

/* Whether user_id (NULL: anonymous) may use the feature called name. A name that is not a
 * flag is always allowed. Returns FEATURE_OK or why not. Outages do not count here (the
 * router answers FEATURE_UNAVAILABLE for them). Cannot fail. */
enum features_why features_check(const char *name, const char *user_id);
/* The rollout bucket of user_id for flag name: 0-99. Cannot fail. */
int features_bucket(const char *name, const char *user_id);

/* The flag that gates a slash command ("mcq" -> "mcqs", "map" -> "concept_maps" ...), or
 * NULL for a name that is not a command. */
const char *features_of_command(const char *command);
/* The flag name a router feature stands for ("flashcard" -> "flashcards", "explain" ->
 * "explanations" ...); other names (a flag's own, "embeddings") map to themselves. Static. */
const char *features_outage_name(const char *feature);
/* Whether an outage is recorded for name (a flag name or as features_outage_name gives). */
int features_outage(const char *name);

/* Every flag (by name), with its outage. *out is freed by the caller with free(). Outages of
 * names that are no flag ("embeddings") come last with enabled = 1 and rollout = 100. */
void features_list(struct feature_view **out, int *n);
/* One flag; RAGD_ENOTFOUND when there is none called name. */
int features_get(const char *name, struct feature_view *out);

/* Changes a flag (enabled and rollout 0-100); the audit entry commits with the change.
 * Returns 0 (and *out, may be NULL), RAGD_ENOTFOUND, RAGD_EINVAL (rollout out of range) or a
 * store error. */
int features_set(const char *name, int enabled, int rollout, const struct audit_entry *audit,
                 struct feature_view *out);

#endif
