/* store.h - persistent data: migrations, users, organizations, refresh tokens, revoked
 * access tokens, audit log, and a small key/value table.
 *
 * All functions use the calling thread's connection (db.h) and return 0 or a negative
 * RAGD_E* code: RAGD_ENOTFOUND, RAGD_EEXIST (unique key), RAGD_EUNAVAIL (database down),
 * RAGD_EDB. Timestamps are ISO-8601 UTC strings; ids are UUID strings. */
#ifndef RAGD_STORE_H
#define RAGD_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "store/db.h"

/* Applies every migration not yet recorded in schema_migrations, each in its own
 * transaction. Safe to run on every start and from several processes. */
int store_migrate(void);
/* Highest applied migration version. */
int store_schema_version(int *version);

/* Modules add their tables by registering migrations before store_migrate() runs (from
 * main.c at start). Versions are global and unique: 1-99 core, 100-199 billing, 200-299
 * knowledge and chat, 300-399 operations (320 erasure, 330s provider keys, 340s maintenance
 * and features, 350s roles and audit, 360s notifications, 370s web sessions). */
struct store_migration {
    int version;
    const char *name;
    const char *sql; /* SQLite dialect */
};
void store_register_migrations(const struct store_migration *m, int n);

/* ---- users ---- */

struct user {
    char id[37];
    char email[256];
    char username[101]; /* "" when NULL */
    char hashed_password[128];
    int is_active, is_verified, is_superuser;
    char subscription_plan[32];
    char organization_id[37]; /* "" when NULL */
    char *preferences;        /* JSON text, owned; freed by store_user_clear */
    char created_at[32], updated_at[32], last_login_at[32]; /* "" when NULL */
    int failed_login_count;
    char locked_until[32];      /* "" when not locked */
    int64_t tokens_valid_after; /* ms; access tokens issued before are refused */
    int lockout_level;          /* locks since the last good login (backoff exponent) */
    /* user | viewer | support | ops | admin | super_admin (auth/roles.h); is_superuser is
     * true exactly for admin and super_admin, and the store keeps the two in step. */
    char role[16];
};

void store_user_clear(struct user *u); /* frees owned fields; the struct may be reused */

/* Creates a user; u->id is filled in if empty, timestamps are set. An empty u->role becomes
 * "admin" when u->is_superuser, else "user"; is_superuser then follows the role. RAGD_EEXIST
 * if the e-mail or username is taken. */
int store_user_create(struct user *u);
/* The same, refused with RAGD_ELIMIT when max (> 0) accounts were already created from
 * origin (an opaque client tag, e.g. a hash of its address) since since_ms. The count and
 * the insert are one transaction, serialised per origin across nodes. */
int store_user_create_capped(struct user *u, const char *origin, int64_t since_ms, int max);
/* The user by id, through the session cache (cache.h; CACHE_SESSION_TTL_SECONDS, 3600).
 * hashed_password is always left empty (the hash is never cached; code that verifies a
 * password reads by e-mail). Every store function that changes a user forgets its cache
 * entry. */
int store_user_get(const char *id, struct user *out);
/* Drops the user's session cache entry (after changing the users row outside this file).
 * Other modules' caches of the user are theirs to drop (billing_forget). */
void store_user_forget(const char *id);
/* Reads the cache TTL settings; call once at start. */
void store_cache_init(void);
int store_user_get_by_email(const char *email, struct user *out);
/* The user by id straight from the table, password hash included (inside a transaction:
 * what the transaction sees). */
int store_user_load(const char *id, struct user *out);

/* Changes the columns present in patch (keys: username, preferences (object), is_active,
 * is_verified, is_superuser, role, subscription_plan, organization_id, hashed_password) and
 * updated_at. role sets is_superuser to match; is_superuser true makes a user without it an
 * admin, false makes an admin or super_admin a user. Unknown keys are RAGD_EINVAL (callers
 * validate first; the store does not check role names). */
int store_user_update(const char *id, json_t *patch);
/* The same inside the caller's transaction (no BEGIN/COMMIT of its own; the caller rolls
 * back on error). */
int store_user_update_locked(const char *id, json_t *patch);
int store_user_delete(const char *id);

struct user_filter {
    const char *email_like; /* substring, case-insensitive; NULL = any */
    const char *plan;       /* exact; NULL = any */
    int is_active;          /* -1 = any */
};
/* A page of users (*n of them, password hashes left empty) and the total count matching
 * the filter, in one query. The caller frees *items with store_user_list_free. */
int store_user_list(const struct user_filter *f, int64_t limit, int64_t offset, struct user **items,
                    int *n, int64_t *total);
void store_user_list_free(struct user *items, int n);
/* A listed user's usage counters (struct store_counter, store/store_billing.h). */
struct store_counter;
struct user_counters {
    struct store_counter *c;
    size_t n;
};
/* store_user_list, and with the page in the same query each user's counters of the periods
 * month and day (keys, as store_counters): (*counters)[i] for (*items)[i], freed with
 * store_user_counters_free. */
int store_user_list_usage(const struct user_filter *f, int64_t limit, int64_t offset,
                          const char *month, const char *day, struct user **items,
                          struct user_counters **counters, int *n, int64_t *total);
void store_user_counters_free(struct user_counters *c, int n);

/* Active super_admins other than except_id (NULL: all), as the caller's transaction sees
 * them. */
int store_user_count_super_admins(const char *except_id, int64_t *n);
/* Takes, inside the caller's write transaction, the lock that serialises role changes (a
 * transaction-scoped advisory lock on PostgreSQL; SQLite has a single writer already). */
int store_user_roles_lock(void);

/* Sets the user's token watermark to valid_after_ms (access tokens issued before it are
 * refused; it never moves back) and revokes every refresh token, in one transaction. */
int store_user_revoke_sessions(const char *id, int64_t valid_after_ms);

/* ---- login bookkeeping ---- */

struct login_policy {
    int lock_after;      /* failures that lock the account */
    int64_t lock_ms;     /* the first lock; each further lock before a good login doubles */
    int64_t lock_max_ms; /* the longest lock */
    int64_t bypass_ms;   /* how long a clean client's attempt during a lock may take */
};

enum login_verdict {
    LOGIN_GO,     /* check the password; the attempt is already counted */
    LOGIN_BYPASS, /* locked, but this client has no failure: check, then login_bypass_end */
    LOGIN_LOCKED, /* refuse without checking */
};

struct login_attempt {
    enum login_verdict verdict;
    int failures;           /* the count after this attempt (0 when it started a lock) */
    int64_t locked_ms;      /* > 0: this attempt started a lock of that length */
    int64_t retry_after_ms; /* LOGIN_LOCKED, LOGIN_BYPASS: until the lock ends */
};

/* Takes a login attempt on the account before its password is checked, atomically across
 * threads and nodes: while the account is locked, a client that has failed against it
 * (ip_failed) is refused, and a clean one may try with no other clean attempt in flight;
 * otherwise the attempt is counted and the lock_after-th starts a lock of lock_ms * 2^level.
 * Returns 0 with *out, RAGD_ENOTFOUND, or a store error. */
int store_user_login_attempt(const char *id, const struct login_policy *pol, int ip_failed,
                             struct login_attempt *out);
/* Ends a LOGIN_BYPASS attempt that failed. */
int store_user_login_bypass_end(const char *id);
/* A good login: resets the failure count, the lock and its backoff; sets last_login_at. */
int store_user_login_ok(const char *id);

/* ---- organizations ---- */

int store_org_create(const char *name, const char *domain, const char *settings_json,
                     char id_out[37]);
/* Finds an organization by exact name. */
int store_org_find(const char *name, char id_out[37]);

/* ---- refresh tokens ---- */

struct refresh_token {
    char id[37], user_id[37], family_id[37];
    char expires_at[32], revoked_at[32]; /* revoked_at "" when live */
};

/* Stores a new refresh token (by hash) in family family_id. */
int store_refresh_insert(const char *user_id, const char *family_id, const char *token_hash,
                         int64_t expires_ms, char id_out[37]);
int store_refresh_get(const char *token_hash, struct refresh_token *out);
/* Atomically revokes old_id if still live and inserts the successor. RAGD_ECONFLICT if old_id
 * was already revoked (a replay: the caller then revokes the family). */
int store_refresh_rotate(const char *old_id, const char *user_id, const char *family_id,
                         const char *new_hash, int64_t expires_ms);
int store_refresh_revoke_family(const char *family_id);
int store_refresh_revoke_user(const char *user_id);

/* ---- revoked access tokens (logout) ---- */

int store_jti_revoke(const char *jti, int64_t expires_ms);
/* Records jti as used unless it already is: 0, or RAGD_EEXIST when it was (single-use
 * tokens: of two concurrent uses, on any nodes, exactly one gets 0). */
int store_jti_claim(const char *jti, int64_t expires_ms);
/* 1 if revoked, 0 if not, negative on error. */
int store_jti_revoked(const char *jti);
/* store_user_get(id, out) and store_jti_revoked(jti) into *revoked, for a request's
 * authentication: with a shared cache the revocation epoch (store.c) is read in the session
 * read's round trip, and a token this node already found not revoked under the same epoch is
 * not looked up again. Returns store_user_get's answer. */
int store_user_get_checked(const char *id, const char *jti, struct user *out, int *revoked);

/* ---- audit log ---- */

/* The log is append-only (store/audit.h): the database refuses UPDATE and DELETE on it,
 * except the erasure's recorded redactions and the pruning of entries past retention. */
struct audit_entry {
    const char *actor_id, *actor_email, *action, *target_type, *target_id;
    json_t *details; /* borrowed; may be NULL */
    const char *request_id, *ip;
    const char *user_agent; /* may be NULL */
};
/* Appends e (created_at now). Strings longer than the column limits are cut. */
int store_audit_add(const struct audit_entry *e);
/* One audit entry as stored. Strings are owned (NULL when the column is NULL). */
struct audit_row {
    int64_t id;
    char created_at[32];
    char *actor_id, *actor_email, *action, *target_type, *target_id, *request_id, *ip;
    char *user_agent;
    json_t *details; /* owned reference: the entry's free-form details (JSON data); or NULL */
};
/* Which entries store_audit_list returns; NULL fields match anything. */
struct audit_filter {
    const char *actor;  /* actor id, or actor e-mail (exact, any case) */
    const char *action; /* exact, or a prefix when it ends in '.' or '*' ("role." "auth.*") */
    const char *target; /* target id, exact */
    const char *target_type;
    const char *from, *to; /* created_at bounds, ISO-8601 UTC; from inclusive, to exclusive */
    const char *q;         /* text in action, actor e-mail, target, details, ip or agent */
};
/* A page of matching entries, newest first, and the total count of matches. The caller
 * frees *rows with store_audit_rows_free. */
int store_audit_list(const struct audit_filter *f, int64_t limit, int64_t offset,
                     struct audit_row **rows, int *n, int64_t *total);
void store_audit_rows_free(struct audit_row *rows, int n);

/* ---- key/value ---- */

int store_kv_get(const char *key, char **value); /* caller frees *value */
int store_kv_set(const char *key, const char *value);
/* Sets key only if it has no value yet (first writer wins, across nodes). 0 or RAGD_EEXIST. */
int store_kv_add(const char *key, const char *value);

#endif
