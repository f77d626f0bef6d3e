/* auth.h - who is calling: passwords, access and refresh tokens, personal API keys, and the
 * account operations behind /auth (register, login, refresh, logout) and the admin user
 * update. No HTTP here: api/auth.c, api/apikeys.c and api/guards.c render the results.
 *
 * Functions return 0 or a negative RAGD_E* code. A refusal (bad credentials, an expired
 * token, a lockout ...) is RAGD_EPERM with a struct auth_refusal saying why; any other
 * negative code is a store failure. */
#ifndef RAGD_AUTH_H
#define RAGD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Reads JWT_SECRET_KEY, JWT_ALGORITHM (HS256 only), JWT_EXPIRATION_MINUTES,
 * REFRESH_TOKEN_EXPIRATION_DAYS, BCRYPT_ROUNDS, the login throttle and lockout settings
 * (LOGIN_MAX_ATTEMPTS_PER_IP, LOGIN_ATTEMPT_WINDOW_MINUTES, ACCOUNT_LOCKOUT_THRESHOLD,
 * ACCOUNT_LOCKOUT_MINUTES, ACCOUNT_LOCKOUT_MAX_MINUTES), the registration and refresh rate
 * limits (REGISTER_RATE_LIMIT_PER_IP, REGISTER_RATE_LIMIT_GLOBAL, REFRESH_RATE_LIMIT_PER_IP,
 * REFRESH_RATE_LIMIT_GLOBAL: "calls/seconds"), REGISTRATIONS_PER_IP_PER_DAY and the e-mail
 * verification settings (REQUIRE_EMAIL_VERIFICATION, refused without mail: call mail_init
 * first; PUBLIC_BASE_URL; VERIFICATION_RESEND_RATE_LIMIT, per user). Without
 * JWT_SECRET_KEY a random secret is made once and kept: in the database's kv table when
 * secret_in_db (several nodes share one database and must accept each other's tokens),
 * else in data_dir/jwt_secret (mode 0600). Returns 0 or RAGD_EINVAL / RAGD_EIO with a
 * message in err. */
int auth_init(const char *data_dir, int secret_in_db, char *err, size_t errcap);

int auth_bcrypt_rounds(void);

/* Personal API keys start with this; they are taken in place of an access token. */
#define API_KEY_PREFIX "rgd_"

/* ---- refusals ---- */

enum auth_failure {
    AUTH_FAIL_NONE,
    AUTH_FAIL_INVALID_TOKEN,   /* malformed, forged, wrong type */
    AUTH_FAIL_TOKEN_EXPIRED,   /* access or refresh token past its expiry */
    AUTH_FAIL_TOKEN_REVOKED,   /* logged out */
    AUTH_FAIL_USER_GONE,       /* the token's user no longer exists */
    AUTH_FAIL_INVALID_API_KEY, /* unknown or revoked API key */
    AUTH_FAIL_TOKEN_REUSED,    /* a rotated refresh token presented again */
    AUTH_FAIL_INACTIVE,        /* the account is deactivated */
    AUTH_FAIL_BAD_CREDENTIALS, /* wrong e-mail or password */
    AUTH_FAIL_LOCKED,          /* the account is locked after failed logins */
    AUTH_FAIL_THROTTLED,       /* too many attempts from this client, or from everyone */
    AUTH_FAIL_ACCOUNT_CAP,     /* too many accounts created from this client today */
    AUTH_FAIL_EMAIL_TAKEN,
    AUTH_FAIL_USERNAME_TAKEN,
    AUTH_FAIL_ALREADY_VERIFIED, /* the e-mail address is verified already */
};

struct auth_refusal {
    enum auth_failure why;
    int64_t retry_after_ms; /* AUTH_FAIL_LOCKED, AUTH_FAIL_THROTTLED: when to try again */
    /* A login refused for an existing account (BAD_CREDENTIALS, LOCKED, INACTIVE): its id
     * ("" otherwise), and the length of the lock this very attempt started (0: none). */
    char user_id[37];
    int64_t locked_ms;
};

/* ---- tokens ---- */

/* A freshly issued token pair. */
struct auth_tokens {
    char *access_token;         /* owned; auth_tokens_clear frees it */
    char refresh_token[48];     /* shown once; the store keeps its hash */
    int64_t expires_in;         /* seconds the access token lives */
    int64_t refresh_expires_in; /* seconds the refresh token lives */
};
void auth_tokens_clear(struct auth_tokens *t); /* may be called on a zeroed struct */

/* The verified claims of an access token. */
struct auth_claims {
    char user_id[37], jti[37], family_id[37];
    int64_t iat, exp;  /* seconds */
    int64_t issued_ms; /* iat_ms when the token has it, else iat * 1000 */
    int emergency;     /* an emergency token (auth_emergency_token), now used up */
};

/* Who a credential belongs to. */
struct auth_identity {
    struct user user; /* owned fields: store_user_clear (auth_identity_clear) */
    int via_api_key;  /* 1: an API key; claims are then empty */
    struct auth_claims claims;
};
void auth_identity_clear(struct auth_identity *id);

/* Checks a bearer credential: an API key (API_KEY_PREFIX...) or an access token. An
 * emergency token is accepted once: its jti is recorded as it is accepted (atomically, on
 * every node), and its user acts as a super_admin for that request whatever their stored
 * role (claims.emergency is set). Returns 0
 * with *out filled (the user may be inactive: the caller decides what that allows),
 * RAGD_EPERM with ref->why one of INVALID_TOKEN, TOKEN_EXPIRED, TOKEN_REVOKED, USER_GONE,
 * INVALID_API_KEY, or a store error. on_subject (may be NULL) is called with the user id of
 * an access token as soon as its signature and expiry are checked, before the user is read:
 * the caller may queue work for that user to go with the store's first exchange (the token
 * may still turn out revoked, or the user gone). */
int auth_authenticate(const char *credential, struct auth_identity *out, struct auth_refusal *ref,
                      void (*on_subject)(const char *user_id, void *arg), void *arg);

/* Minutes an emergency token lives. */
enum { AUTH_EMERGENCY_MINUTES = 15 };

/* Issues an emergency access token for user_id (disaster recovery from the host: `ragd admin
 * emergency-token`): valid AUTH_EMERGENCY_MINUTES, good for one request, with super_admin
 * rights for it. *token (caller frees) and jti (the token's id, for the audit log) are
 * filled; *expires_ms gets its expiry. Returns 0, RAGD_ENOTFOUND for an unknown user, or
 * RAGD_EIO. The caller records the issue in the audit log. */
int auth_emergency_token(const char *user_id, char **token, char jti[37], int64_t *expires_ms);

/* ---- account operations (slow ones hash with bcrypt: call from worker threads) ---- */

/* 1 if an account uses email (any case), 0 if not, or a store error. */
int auth_email_registered(const char *email);

/* Creates an active, unverified free account (email lower-cased; username may be NULL, unique
 * without regard to case) for a client at ip, and its first token pair. Returns 0 with *u and *t
 * filled, RAGD_EPERM with EMAIL_TAKEN, USERNAME_TAKEN or ACCOUNT_CAP (ip created
 * REGISTRATIONS_PER_IP_PER_DAY accounts in the last 24 hours), RAGD_EINVAL for a password of
 * the wrong length, or a store error. */
int auth_register(const char *email, const char *password, const char *username, const char *ip,
                  struct user *u, struct auth_tokens *t, struct auth_refusal *ref);

/* ---- e-mail verification (REQUIRE_EMAIL_VERIFICATION) ---- */

/* 1 when accounts must verify their e-mail address before they may consume quota. */
int auth_verification_required(void);

/* Issues u a new verification token (replacing any earlier one; valid 24 hours, stored as
 * its SHA-256 hash) and queues the mail that carries it (ops/mail.h), with a link to
 * PUBLIC_BASE_URL/verify?token=... when that is set. The token appears nowhere else.
 * Returns 0, a store error, or mail_send's error. */
int auth_verification_send(const struct user *u);

/* auth_verification_send for a user asking again, at most VERIFICATION_RESEND_RATE_LIMIT
 * times per user. Returns 0, RAGD_EPERM with ALREADY_VERIFIED or THROTTLED (and the retry
 * time), or auth_verification_send's error. */
int auth_verification_resend(const struct user *u, struct auth_refusal *ref);

/* Uses a verification token once: its user is marked verified. Returns 0 with user_out,
 * RAGD_EPERM with INVALID_TOKEN (unknown, used, replaced or expired), or a store error. */
int auth_verify_email(const char *token, char user_out[37], struct auth_refusal *ref);

/* ---- admission: what a request must pass before any slow work is queued ---- */

enum auth_action { AUTH_ACT_LOGIN, AUTH_ACT_REGISTER, AUTH_ACT_REFRESH };

/* Takes one unit of the action's budgets for a client at ip, atomically (across nodes with
 * the Redis limiter): a login takes one of the ip's failed-login allowance (given back when
 * the password turns out right), a registration or refresh one of the per-ip and one of the
 * global rate. Returns 0, or RAGD_EPERM with THROTTLED and the retry time. */
int auth_admit(enum auth_action a, const char *ip, struct auth_refusal *ref);
/* Gives back what auth_admit took when the work was not done after all. Cannot fail. */
void auth_admit_undo(enum auth_action a, const char *ip);

/* Password hashing jobs (register, login) may hold at most n worker threads at once, so a
 * flood cannot take every worker. Call once at start (main.c: BCRYPT_MAX_CONCURRENT, default
 * a quarter of the workers). */
void auth_set_work_slots(int n);
/* Takes a slot for one hashing job: 0, or RAGD_ELIMIT when every slot is busy (the caller
 * refuses the request instead of queueing it). auth_work_end gives it back. */
int auth_work_begin(void);
void auth_work_end(void);

/* Checks email and password for a login from ip (after auth_admit) and issues a token
 * pair. The account's attempt is taken before the password is checked (store.h
 * store_user_login_attempt): ACCOUNT_LOCKOUT_THRESHOLD failures lock it for
 * ACCOUNT_LOCKOUT_MINUTES, doubling with each further lock up to ACCOUNT_LOCKOUT_MAX_MINUTES
 * until a good login; during a lock only clients with no failure against the account may
 * try, one at a time, so others' failures cannot keep the owner out. Returns 0 with *u
 * (re-read, with last_login_at) and *t, RAGD_EPERM with BAD_CREDENTIALS, LOCKED or INACTIVE,
 * or a store error. An unknown e-mail costs the same bcrypt time as a known one. */
int auth_login(const char *email, const char *password, const char *ip, struct user *u,
               struct auth_tokens *t, struct auth_refusal *ref);

/* Rotates a refresh token: the old one is revoked and a new pair of the same family issued.
 * A revoked token presented again revokes its whole family (TOKEN_REUSED). Returns 0 with
 * *t, RAGD_EPERM with INVALID_TOKEN, TOKEN_REUSED, TOKEN_EXPIRED, USER_GONE or INACTIVE, or a
 * store error. */
int auth_refresh(const char *refresh_token, struct auth_tokens *t, struct auth_refusal *ref);

/* Logs out the session of an access token: revokes its jti and its refresh family, or, when
 * all_sessions, every refresh token of the user and (through the user's not-before
 * watermark) every access token issued until now; refresh_token (may be NULL) also revokes
 * that token's family when it is the user's. Returns 0 or a store error. */
int auth_logout(const struct auth_identity *id, int all_sessions, const char *refresh_token);

/* ---- personal API keys ---- */

enum { AUTH_APIKEYS_MAX = 20 };

struct auth_apikey {
    char id[37];
    char key[64];    /* the key itself: shown once */
    char prefix[13]; /* its first characters, kept to recognise it */
};

/* Creates a key for user_id. Returns 0 with *out, RAGD_ELIMIT when the user already holds
 * AUTH_APIKEYS_MAX live keys, or a store error. */
int auth_apikey_create(const char *user_id, const char *name, struct auth_apikey *out);
/* Revokes one of the user's keys: 0, RAGD_ENOTFOUND (no such live key of theirs). */
int auth_apikey_revoke(const char *user_id, const char *key_id);

/* ---- admin user update ---- */

/* What an admin may change on a user; NULL / -1 leaves a field as it is. role and
 * is_superuser change the role (auth/roles.h): is_superuser true makes a user without it an
 * admin, false makes an admin or super_admin a user; role wins when both are given. */
struct auth_user_patch {
    const char *username;
    const char *plan;
    int is_active, is_superuser, is_verified;
    const char *role;
};

/* Changes a user's plan inside the update's transaction (which holds the user's write
 * lock); billing installs billing_plan_change_locked from main.c. Without a hook the plan
 * is a plain column. Returns 0 or a RAGD_E* code. */
typedef int (*auth_plan_fn)(const char *user_id, const char *plan, const char *actor_id);
void auth_set_plan_hook(auth_plan_fn fn);

/* Applies p to user_id on behalf of admin actor_id, in one transaction: the plan (through
 * the hook), the role, the columns, and, when the user is deactivated, the revocation of
 * every session. Admins cannot deactivate themselves or lower their own role. The last
 * active super_admin can be neither demoted nor deactivated. Returns 0, RAGD_EPERM (that
 * self-modification), RAGD_ECONFLICT (the last super_admin), RAGD_ENOTFOUND, RAGD_EEXIST
 * (username taken), RAGD_EINVAL (unknown plan or role), or a store error; nothing is
 * changed unless 0. */
int auth_user_admin_update(const char *actor_id, const char *user_id,
                           const struct auth_user_patch *p);

#endif
