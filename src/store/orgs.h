/* orgs.h (store) - the support desk's tables: organizations' plans and settings, member
 * roles, invitations, widget keys, widget sessions, widget conversations and their messages,
 * and per-organization daily usage counters.
 *
 * Membership itself is users.organization_id (a user belongs to one organization at a time);
 * org_members holds the role of each member. A member without an org_members row (accounts
 * placed in an organization before roles existed, or by `ragd seed`) has the role "member".
 *
 * Secrets (invitation tokens, widget keys, widget session tokens) are stored as SHA-256 hex
 * hashes; the store never sees them in clear.
 *
 * Every function returns 0 or a negative RAGD_E* code (store.h); strings in structs are
 * copies owned by the struct unless said otherwise. */
#ifndef RAGD_STORE_ORGS_H
#define RAGD_STORE_ORGS_H

#include <stddef.h>
#include <stdint.h>

/* Registers the migrations (400-409; call before store_migrate). */
void store_orgs_register(void);

/* ---- organizations ---- */

struct store_org {
    char id[37];
    char name[404];
    char domain[256]; /* "" when NULL */
    char plan[32];
    char *settings; /* JSON object text, owned: store_org_clear frees it */
    char created_at[32], updated_at[32];
    int64_t members;
};
void store_org_clear(struct store_org *o);

/* The organization id: 0 with *out, RAGD_ENOTFOUND. */
int store_org_get(const char *id, struct store_org *out);

/* ---- the organization as requests read it ----
 *
 * The guards read a member's organization on every request to a gated or metered route (its
 * plan, features and limits), and the widget on every message. store_org_read and
 * store_org_fetch_* read it from the cache (org:{id}, kept STORE_ORG_TTL_S and deleted by
 * every change to the organization's row) without the member count, which changes with every
 * join and which costs a count over the organization's members. A node remembers the
 * organization of each member it served (a per-node hint, checked against the user's
 * organization_id on use), so that the guards' read is queued to go with the request's
 * session read: one round trip to the cache for both. */
enum { STORE_ORG_TTL_S = 300 };

/* The organization id as store_org_get gives it but with members -1, from the cache, else
 * from the database (then cached). 0, RAGD_ENOTFOUND or another store error. */
int store_org_read(const char *id, struct store_org *out);

struct store_org_fetch {
    uint64_t ticket; /* the queued cache read; 0: none */
    char org_id[37]; /* the organization it reads */
};

/* Queues the read of the organization this node last saw user_id in (nothing when it has
 * not seen the user in one, or without a shared cache), to go with the next round trip to
 * the cache. f is zeroed first. */
void store_org_fetch_start(const char *user_id, struct store_org_fetch *f);
/* The same for organization org_id. */
void store_org_fetch_org(const char *org_id, struct store_org_fetch *f);

/* org_id, user_id's organization (user_id NULL: no user's), as store_org_read gives it: from
 * f's queued read when that is org_id's. Takes f's read back. 0, RAGD_ENOTFOUND or another
 * store error. */
int store_org_fetch_finish(struct store_org_fetch *f, const char *user_id, const char *org_id,
                           struct store_org *out);

/* Takes back a queued read that was not used (nothing when none is). */
void store_org_fetch_cancel(struct store_org_fetch *f);

/* Deletes org_id's cached entry: after a change to its row has been committed. */
void store_org_forget(const char *org_id);

/* Creates an organization and makes user_id its owner, in one transaction. RAGD_ECONFLICT
 * when the user already belongs to an organization, RAGD_EEXIST when domain is taken. */
int store_org_create_owned(const char *name, const char *domain, const char *plan,
                           const char *settings_json, const char *user_id, char id_out[37]);

/* Changes the given fields (NULL: unchanged) and updated_at. RAGD_ENOTFOUND. */
int store_org_update(const char *id, const char *name, const char *plan, const char *settings_json);

/* One row of the platform's organization list. */
struct store_org_brief {
    char id[37];
    char name[404];
    char domain[256]; /* "" when NULL */
    char plan[32];
    char created_at[32];
    int64_t members;
};

/* Every organization, newest first: those whose name or domain contains q (case-insensitive;
 * NULL or "": all), rows [offset, offset + limit) in *out (caller frees; NULL when *n is 0)
 * and the number matching in *total. */
int store_org_list(const char *q, int64_t limit, int64_t offset, struct store_org_brief **out,
                   size_t *n, int64_t *total);

/* ---- members ---- */

struct store_org_member {
    char user_id[37];
    char email[256];
    char username[101];
    char role[16];
    char joined_at[32];
};

/* The role of user_id in org_id: 0 with role, RAGD_ENOTFOUND when not a member. */
int store_org_member_role(const char *org_id, const char *user_id, char role[16]);
/* The members, owners first then by join time: *out (caller frees; NULL when *n is 0). */
int store_org_members(const char *org_id, struct store_org_member **out, size_t *n);
/* Adds user_id (who must belong to no organization: else RAGD_ECONFLICT) with role, unless
 * the organization already has max_users members (max_users > 0: RAGD_ELIMIT). */
int store_org_member_add(const char *org_id, const char *user_id, const char *role, int max_users);
/* Changes a member's role. RAGD_ENOTFOUND (not a member), RAGD_ECONFLICT when it would
 * leave the organization without an owner. */
int store_org_member_set_role(const char *org_id, const char *user_id, const char *role);
/* Removes a member (users.organization_id becomes NULL). RAGD_ENOTFOUND, RAGD_ECONFLICT
 * when user_id is the last owner. */
int store_org_member_remove(const char *org_id, const char *user_id);

/* ---- invitations ---- */

struct store_org_invite {
    char id[37];
    char email[256];
    char role[16];
    char created_at[32], expires_at[32];
};

/* Records an invitation of email (lower-cased by the caller) with role, replacing a pending
 * one for the same address and organization. RAGD_ELIMIT when members plus other pending
 * invitations already reach max_users (> 0). */
int store_org_invite_create(const char *org_id, const char *email, const char *role,
                            const char *token_hash, const char *invited_by, int64_t expires_ms,
                            int max_users, char id_out[37]);
/* Pending (not accepted, revoked or expired) invitations, newest first. */
int store_org_invites(const char *org_id, struct store_org_invite **out, size_t *n);
/* Accepts the pending invitation whose token hashes to token_hash for user_id, whose e-mail
 * must be the invited one: the user joins with the invited role, in one transaction.
 * RAGD_ENOTFOUND (unknown, used, revoked, expired or for another address), RAGD_ECONFLICT
 * (already in an organization), RAGD_ELIMIT (the organization is full: max_users from
 * the caller's reading of its settings, via max_of). */
int store_org_invite_accept(const char *token_hash, const char *user_id, const char *email,
                            int (*max_of)(const char *org_id), char org_out[37], char role_out[16]);

/* ---- widget keys ---- */

enum { STORE_WKEY_ORIGINS_MAX = 20 };

struct store_wkey {
    char id[37];
    char org_id[37];
    char kind[16]; /* "publishable" | "secret" */
    char name[404];
    char prefix[16];
    char *origins; /* JSON array text, owned: store_wkeys_free / store_wkey_clear */
    char created_at[32], last_used_at[32], revoked_at[32]; /* "" when NULL */
    int origin_ok; /* store_wkey_lookup: 1 when its origin is on the key's list */
};
void store_wkey_clear(struct store_wkey *k);
void store_wkeys_free(struct store_wkey *k, size_t n);

/* Adds a key; origins[0..norigins) are kept for exact matching. RAGD_ELIMIT when the
 * organization holds max live keys already. */
int store_wkey_create(const char *org_id, const char *kind, const char *name, const char *prefix,
                      const char *hash, const char *const *origins, size_t norigins, int max,
                      char id_out[37]);
/* Every key of the organization (live ones first, newest first). */
int store_wkeys(const char *org_id, struct store_wkey **out, size_t *n);
/* Revokes a live key of org_id (its sessions end with it). RAGD_ENOTFOUND. */
int store_wkey_revoke(const char *org_id, const char *key_id);
/* Revokes a live key and creates its successor with the same kind, name and origins, in
 * one transaction. RAGD_ENOTFOUND. */
int store_wkey_rotate(const char *org_id, const char *key_id, const char *prefix, const char *hash,
                      char new_id[37]);
/* The live key whose hash is hash: 0 with *out, RAGD_ENOTFOUND. Records the use (at most
 * once a minute). origin (or NULL) is checked against its list in the same query
 * (out->origin_ok). */
int store_wkey_lookup(const char *hash, const char *origin, struct store_wkey *out);
/* 1 when origin is on the list of some live publishable key (CORS preflights). */
int store_wkey_origin_known(const char *origin);

/* ---- widget sessions ---- */

struct store_wsession {
    char id[37];
    char org_id[37];
    char key_id[37];
    char origin[256];
    char visitor_id[65];
    char conversation_id[37];
    int64_t expires_ms, created_ms;
};

/* Creates a session and its conversation (status "open"). */
int store_wsession_create(const char *org_id, const char *key_id, const char *origin,
                          const char *visitor_id, const char *ip, const char *token_hash,
                          int64_t expires_ms, char id_out[37], char conv_out[37]);
/* The session whose token hashes to hash while its key is live: 0 with *out (expired ones
 * too: the caller compares expires_ms), RAGD_ENOTFOUND. */
int store_wsession_lookup(const char *hash, struct store_wsession *out);
/* Moves the session's expiry to expires_ms. */
int store_wsession_touch(const char *id, int64_t expires_ms);

/* ---- widget conversations and messages ---- */

/* Conversation statuses: open, handoff_requested, escalated, closed (tickets later). */
struct store_wconv {
    char id[37];
    char status[24];
    char contact_email[256];
    char created_at[32], updated_at[32];
};
/* The conversation id of org org_id. RAGD_ENOTFOUND. */
int store_wconv_get(const char *org_id, const char *id, struct store_wconv *out);

struct store_wmsg {
    char id[37];
    char role[16]; /* visitor | assistant | agent | system */
    char *body;    /* owned */
    char *sources; /* JSON array text or NULL, owned */
    double confidence;
    int has_confidence;
    int feedback; /* 1 helpful, -1 not helpful, 0 none */
    char created_at[32];
};
void store_wmsgs_free(struct store_wmsg *m, size_t n);

/* A message to append. */
struct store_wmsg_new {
    const char *role; /* as above */
    const char *body;
    const char *sources_json; /* JSON text, or NULL */
    double confidence;        /* < 0: none */
    const char *author_id;    /* the agent, or NULL */
    int internal;             /* non-zero: a note agents see and the visitor never does */
    /* A visitor message's sentiment (label NULL: not scored), folded into the conversation's
     * summary as well (store/tickets.h). */
    const char *sentiment_label, *sentiment_priority;
    double sentiment_score, sentiment_polarity;
    int64_t tokens, latency_ms; /* an answer's cost; < 0: not recorded */
};

/* Appends m as the conversation's next message and moves its updated_at, in one transaction
 * (one round trip on PostgreSQL). */
int store_wmsg_add(const char *conv_id, const char *org_id, const struct store_wmsg_new *m,
                   char id_out[37]);
/* Appends an agent's message by author_id; internal (non-zero): a note agents see and the
 * visitor never does. For the ticket routes. */
int store_wmsg_add_agent(const char *conv_id, const char *org_id, const char *author_id,
                         const char *body, int internal, char id_out[37]);
/* Sets the conversation's status (open, handoff_requested, escalated, closed) and, when not
 * NULL, its priority. RAGD_ENOTFOUND; RAGD_EINVAL for an unknown status. */
int store_wconv_set_status(const char *org_id, const char *conv_id, const char *status,
                           const char *priority);
/* The conversation's messages in order (internal notes excluded), at most limit. */
int store_wmsgs(const char *conv_id, int64_t limit, struct store_wmsg **out, size_t *n);
/* Marks an assistant message of the conversation helpful (1) or not (-1). RAGD_ENOTFOUND. */
int store_wmsg_feedback(const char *conv_id, const char *msg_id, int value);
/* Records a hand-off request: status handoff_requested (unless escalated or closed),
 * contact_email when given, and a system message. */
int store_wconv_handoff(const char *conv_id, const char *email, const char *note);

/* ---- usage ---- */

/* Adds n to counter (org_id, today (UTC), resource, subject) unless that would pass limit
 * (> 0): RAGD_ELIMIT, nothing counted. subject "" counts for the whole organization, else it
 * is a member's user id (the member's rows go when the account is deleted). *used
 * (may be NULL) gets the count after the call (or at refusal). */
int store_org_usage_take(const char *org_id, const char *resource, const char *subject, int64_t n,
                         int64_t limit, int64_t *used);
/* Adds n to today's counters of resource for the whole organization (subject "") and for
 * member user_id, in one statement; no limit. */
int store_org_usage_add_both(const char *org_id, const char *resource, const char *user_id,
                             int64_t n);
/* Today's count. */
int store_org_usage_get(const char *org_id, const char *resource, const char *subject,
                        int64_t *used);

#endif
