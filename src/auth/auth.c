#include "auth/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "auth/password.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/util.h"
#include "limits/limiter.h"
#include "store/apikeys.h"

static unsigned char secret[128];
static size_t secret_len;
static int64_t access_ttl_s, refresh_ttl_s;
static int bcrypt_rounds;
static int64_t login_ip_limit, login_ip_window_ms, lock_after, lock_ms;

/* ---- configuration ---- */

/* With a shared database (several nodes) the generated secret lives in the database, so
 * that a token issued by one node is valid on every other. */
static int load_shared_secret(char *err, size_t errcap)
{
    unsigned char fresh[64];
    char hex[129], *stored = NULL;
    rand_bytes(fresh, sizeof fresh);
    hex_encode(fresh, sizeof fresh, hex);
    int rc = store_kv_add("auth.jwt_secret", hex);
    if (rc && rc != RAGD_EEXIST) {
        snprintf(err, errcap, "cannot store the generated JWT secret: %s", ragd_strerror(rc));
        return rc;
    }
    if ((rc = store_kv_get("auth.jwt_secret", &stored)) || strlen(stored) != 128) {
        snprintf(err, errcap, "cannot read the JWT secret from the database");
        free(stored);
        return rc ? rc : RAGD_EFORMAT;
    }
    memcpy(secret, stored, 128); /* the hex text itself is the key: 128 bytes */
    secret_len = 128;
    free(stored);
    return 0;
}

static int load_secret(const char *data_dir, char *err, size_t errcap)
{
    const char *s = config_str("JWT_SECRET_KEY", NULL);
    if (s) {
        if (strlen(s) < 16) {
            snprintf(err, errcap, "JWT_SECRET_KEY must be at least 16 characters");
            return RAGD_EINVAL;
        }
        secret_len = strlen(s) < sizeof secret ? strlen(s) : sizeof secret;
        memcpy(secret, s, secret_len);
        return 0;
    }
    if (strcmp(db_backend(), "sqlite")) return load_shared_secret(err, errcap);
    /* No configured secret: one random secret per data dir, created once and kept. */
    char *path = xasprintf("%s/jwt_secret", data_dir);
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, secret, sizeof secret);
        close(fd);
        if (n < 32) {
            snprintf(err, errcap, "%s is shorter than 32 bytes; delete it to regenerate", path);
            free(path);
            return RAGD_EINVAL;
        }
        secret_len = (size_t)n;
        free(path);
        return 0;
    }
    rand_bytes(secret, 64);
    secret_len = 64;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, secret, secret_len) != (ssize_t)secret_len || fsync(fd)) {
        snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        free(path);
        return RAGD_EIO;
    }
    close(fd);
    free(path);
    return 0;
}

int auth_init(const char *data_dir, char *err, size_t errcap)
{
    const char *alg = config_str("JWT_ALGORITHM", "HS256");
    if (strcmp(alg, "HS256")) {
        snprintf(err, errcap, "JWT_ALGORITHM=%s is not supported (only HS256)", alg);
        return RAGD_EINVAL;
    }
    access_ttl_s = config_int("JWT_EXPIRATION_MINUTES", 30, 1, 60 * 24 * 30) * 60;
    refresh_ttl_s = config_int("REFRESH_TOKEN_EXPIRATION_DAYS", 7, 1, 365) * 86400;
    bcrypt_rounds = (int)config_int("BCRYPT_ROUNDS", 12, 4, 31);
    login_ip_limit = config_int("LOGIN_MAX_ATTEMPTS_PER_IP", 5, 1, 1000000);
    login_ip_window_ms = config_int("LOGIN_ATTEMPT_WINDOW_MINUTES", 15, 1, 1440) * 60000;
    lock_after = config_int("ACCOUNT_LOCKOUT_THRESHOLD", 10, 1, 1000000);
    lock_ms = config_int("ACCOUNT_LOCKOUT_MINUTES", 15, 1, 10080) * 60000;
    return load_secret(data_dir, err, errcap);
}

int auth_bcrypt_rounds(void)
{
    return bcrypt_rounds;
}

/* ---- tokens ---- */

json_t *auth_issue_tokens(const struct user *u, const char *family_id, int *rc)
{
    char jti[37], fam[37], hash[65];
    unsigned char raw[32];
    char refresh[48];
    int64_t now = time_now_ms();
    uuid4(jti);
    if (family_id)
        snprintf(fam, sizeof fam, "%s", family_id);
    else
        uuid4(fam);
    rand_bytes(raw, sizeof raw);
    b64url_encode(raw, sizeof raw, refresh);
    sha256_hex(refresh, strlen(refresh), hash);

    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "sub", u->id, "user_id",
                               u->id, "type", "access", "iat", (json_int_t)(now / 1000), "exp",
                               (json_int_t)(now / 1000 + access_ttl_s), "jti", jti, "fam", fam);
    char *access = jwt_sign(claims, secret, secret_len);
    json_decref(claims);
    if (!access) {
        *rc = RAGD_EIO;
        return NULL;
    }
    *rc = 0;
    return json_pack("{s:s%, s:s, s:s, s:I, s:I, s:s}", "access_token", access, strlen(access),
                     "refresh_token", refresh, "token_type", "bearer", "expires_in",
                     (json_int_t)access_ttl_s, "refresh_expires_in", (json_int_t)refresh_ttl_s,
                     "_family", fam);
}

/* The refresh-token row that goes with a just-issued pair (split out so that rotation can
 * insert it inside its own transaction). */
static int store_new_refresh(const struct user *u, json_t *tokens)
{
    char hash[65], id[37];
    const char *refresh = json_string_value(json_object_get(tokens, "refresh_token"));
    sha256_hex(refresh, strlen(refresh), hash);
    return store_refresh_insert(u->id, json_string_value(json_object_get(tokens, "_family")), hash,
                                time_now_ms() + refresh_ttl_s * 1000, id);
}

/* ---- the guard ---- */

struct auth_ctx {
    struct user user;
    json_t *claims;
};

static void ctx_free(void *p)
{
    struct auth_ctx *a = p;
    store_user_clear(&a->user);
    json_decref(a->claims);
    free(a);
}

static void unauthorized(struct req *r, const char *code, const char *detail)
{
    metrics_reject("auth");
    http_header(r, "WWW-Authenticate", "Bearer");
    http_error(r, 401, code, "%s", detail);
}

/* An API key (API_KEY_PREFIX...) in place of an access token: 0 with uid, RAGD_ENOTFOUND for
 * an unknown or revoked key, or a store error. */
static int key_user(const char *key, char uid[37])
{
    char hash[65];
    sha256_hex(key, strlen(key), hash);
    return store_apikey_lookup(hash, uid);
}

int auth_guard(struct req *r, const struct route *rt)
{
    const char *h = req_header(r, "Authorization");
    const char *token = NULL;
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        token = h + 7;
        while (*token == ' ')
            token++;
    }
    if ((!token || !*token) && (h = req_header(r, "X-API-Key")) && *h) token = h;
    if (!token || !*token) {
        if (rt->access == ACCESS_PUBLIC) return 0;
        unauthorized(r, "NOT_AUTHENTICATED", "Not authenticated");
        return 1;
    }
    json_t *claims = NULL;
    char key_uid[37];
    const char *uid = NULL;
    int revoked = 0;
    if (!strncmp(token, API_KEY_PREFIX, strlen(API_KEY_PREFIX))) {
        int krc = key_user(token, key_uid);
        if (krc && krc != RAGD_ENOTFOUND) {
            http_store_error(r, krc);
            return 1;
        }
        if (krc) {
            if (rt->access == ACCESS_PUBLIC) return 0;
            unauthorized(r, "INVALID_API_KEY", "Invalid or revoked API key");
            return 1;
        }
        uid = key_uid;
    } else {
        enum jwt_status st = jwt_verify(token, secret, secret_len, time_now_ms() / 1000, &claims);
        const char *type = st == JWT_OK ? json_string_value(json_object_get(claims, "type")) : NULL;
        uid = st == JWT_OK ? json_string_value(json_object_get(claims, "user_id")) : NULL;
        const char *jti = st == JWT_OK ? json_string_value(json_object_get(claims, "jti")) : NULL;
        if (st != JWT_OK || !type || strcmp(type, "access") || !uid || !uuid_valid(uid) || !jti) {
            json_decref(claims);
            if (rt->access == ACCESS_PUBLIC)
                return 0; /* a bad token on a public route is ignored, not trusted */
            unauthorized(r, st == JWT_EXPIRED ? "TOKEN_EXPIRED" : "INVALID_TOKEN",
                         st == JWT_EXPIRED ? "Token has expired" : "Invalid authentication token");
            return 1;
        }
        revoked = store_jti_revoked(jti);
    }
    struct auth_ctx *a = xcalloc(1, sizeof *a);
    int rc = revoked < 0 ? revoked : revoked ? RAGD_ENOTFOUND : store_user_get(uid, &a->user);
    if (rc) {
        json_decref(claims);
        free(a);
        if (rt->access == ACCESS_PUBLIC && rc == RAGD_ENOTFOUND) return 0;
        if (rc == RAGD_ENOTFOUND)
            unauthorized(r, "INVALID_TOKEN",
                         revoked > 0 ? "Token has been revoked" : "User no longer exists");
        else
            http_store_error(r, rc);
        return 1;
    }
    a->claims = claims;
    req_set_slot(r, SLOT_AUTH, a, ctx_free);
    if (!a->user.is_active && rt->access != ACCESS_PUBLIC) {
        metrics_reject("auth");
        http_error(r, 403, "USER_INACTIVE", "User account is deactivated");
        return 1;
    }
    if (rt->access == ACCESS_ADMIN && !a->user.is_superuser) {
        metrics_reject("forbidden");
        log_json(LOG_WARN, "admin access denied",
                 json_pack("{s:s, s:s, s:s}", "user_id", a->user.id, "path", req_path(r),
                           "request_id", req_id(r)));
        http_error(r, 403, "ADMIN_REQUIRED", "Admin access required");
        return 1;
    }
    return 0;
}

const struct user *auth_user(struct req *r)
{
    struct auth_ctx *a = req_slot(r, SLOT_AUTH);
    return a ? &a->user : NULL;
}

json_t *auth_claims(struct req *r)
{
    struct auth_ctx *a = req_slot(r, SLOT_AUTH);
    return a ? a->claims : NULL;
}

void auth_audit(struct req *r, const char *action, const char *target_type, const char *target_id,
                json_t *details)
{
    const struct user *u = auth_user(r);
    struct audit_entry e = {
        .actor_id = u ? u->id : NULL,
        .actor_email = u ? u->email : NULL,
        .action = action,
        .target_type = target_type,
        .target_id = target_id,
        .details = details,
        .request_id = req_id(r),
        .ip = req_ip(r),
    };
    int rc = store_audit_add(&e);
    if (rc)
        log_json(LOG_ERROR, "audit write failed",
                 json_pack("{s:s, s:s, s:i}", "action", action, "request_id", req_id(r), "rc", rc));
}

/* ---- /auth handlers ---- */

static void reply_tokens(struct req *r, int status, const struct user *u, json_t *tokens,
                         int with_user)
{
    json_object_del(tokens, "_family");
    if (with_user) json_object_set_new(tokens, "user", store_user_json(u));
    http_json(r, status, tokens);
}

static void do_register(struct req *r)
{
    json_t *b = req_json(r);
    struct user u = {0};
    char email[256];
    snprintf(email, sizeof email, "%s", jv_str(b, "email", ""));
    for (char *p = email; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.username, sizeof u.username, "%s", jv_str(b, "username", ""));
    u.is_active = 1;
    snprintf(u.subscription_plan, sizeof u.subscription_plan, "free");
    int rc = password_hash(jv_str(b, "password", ""), bcrypt_rounds, u.hashed_password,
                           sizeof u.hashed_password);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    rc = store_user_create(&u);
    if (rc == RAGD_EEXIST) {
        struct user other;
        int taken_email = store_user_get_by_email(u.email, &other) == 0;
        if (taken_email) store_user_clear(&other);
        http_error(r, 409, taken_email ? "EMAIL_TAKEN" : "USERNAME_TAKEN",
                   taken_email ? "Email already registered" : "Username already taken");
        return;
    }
    json_t *tokens = rc ? NULL : auth_issue_tokens(&u, NULL, &rc);
    if (!rc) rc = store_new_refresh(&u, tokens);
    if (rc) {
        json_decref(tokens);
        http_store_error(r, rc);
        return;
    }
    log_json(LOG_INFO, "user registered",
             json_pack("{s:s, s:s}", "user_id", u.id, "request_id", req_id(r)));
    json_object_set_new(tokens, "user_id", json_string(u.id));
    json_object_set_new(tokens, "email", json_string(u.email));
    json_object_set_new(tokens, "subscription_plan", json_string(u.subscription_plan));
    reply_tokens(r, 201, &u, tokens, 0);
}

static void register_handler(struct req *r)
{
    json_t *b = req_json(r);
    const char *email = jv_str(b, "email", "");
    const char *pw = jv_str(b, "password", "");
    const char *username = jv_str(b, "username", NULL);
    if (!email_valid(email)) {
        http_json(r, 422,
                  json_pack("{s:s, s:s, s:s, s:s}", "detail",
                            "field 'email' is not a valid e-mail"
                            " address",
                            "code", "VALIDATION_ERROR", "field", "email", "request_id", req_id(r)));
        return;
    }
    if (strlen(pw) < PASSWORD_MIN || strlen(pw) > PASSWORD_MAX) {
        http_json(r, 422,
                  json_pack("{s:s, s:s, s:s, s:s}", "detail",
                            "field 'password' must be 8 to 72 bytes long", "code",
                            "VALIDATION_ERROR", "field", "password", "request_id", req_id(r)));
        return;
    }
    if (username) {
        for (const char *p = username; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                http_json(r, 422,
                          json_pack("{s:s, s:s, s:s, s:s}", "detail",
                                    "field 'username' contains control characters", "code",
                                    "VALIDATION_ERROR", "field", "username", "request_id",
                                    req_id(r)));
                return;
            }
    }
    struct user existing;
    if (store_user_get_by_email(email, &existing) == 0) {
        store_user_clear(&existing);
        http_error(r, 409, "EMAIL_TAKEN", "Email already registered");
        return;
    }
    http_defer(r, do_register);
}

static void throttled(struct req *r, const char *code, int64_t retry_ms, const char *detail)
{
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", (long long)((retry_ms + 999) / 1000));
    http_header(r, "Retry-After", ra);
    metrics_reject("login_throttle");
    http_error(r, 429, code, "%s", detail);
}

static void do_login(struct req *r)
{
    json_t *b = req_json(r);
    const char *email = jv_str(b, "email", NULL);
    if (!email) email = jv_str(b, "username", "");
    const char *pw = jv_str(b, "password", "");
    char key[96];
    snprintf(key, sizeof key, "login:ip:%s", req_ip(r));

    struct user u;
    int rc = store_user_get_by_email(email, &u);
    if (rc && rc != RAGD_ENOTFOUND) {
        http_store_error(r, rc);
        return;
    }
    int found = rc == 0;
    if (found && u.locked_until[0]) {
        int64_t until = 0;
        time_parse_iso(u.locked_until, &until);
        if (until > time_now_ms()) {
            store_user_clear(&u);
            throttled(r, "ACCOUNT_LOCKED", until - time_now_ms(),
                      "Account temporarily locked after repeated failed logins");
            return;
        }
    }
    int ok = 0;
    if (found)
        ok = password_verify(pw, u.hashed_password);
    else
        password_dummy_verify(bcrypt_rounds); /* same cost as a real check: no user oracle */
    if (!ok) {
        struct limit_result lr;
        limiter_take(key, login_ip_limit, login_ip_window_ms, 1, 0, &lr);
        int failures = 0;
        if (found) store_user_login_failed(u.id, (int)lock_after, lock_ms, &failures);
        log_json(LOG_WARN, "login failed",
                 json_pack("{s:s, s:s, s:b}", "ip", req_ip(r), "request_id", req_id(r),
                           "known_user", found));
        if (found) store_user_clear(&u);
        http_header(r, "WWW-Authenticate", "Bearer");
        http_error(r, 401, "INVALID_CREDENTIALS", "Incorrect email or password");
        return;
    }
    if (!u.is_active) {
        store_user_clear(&u);
        http_error(r, 403, "USER_INACTIVE", "User account is deactivated");
        return;
    }
    json_t *tokens = auth_issue_tokens(&u, NULL, &rc);
    if (!rc) rc = store_new_refresh(&u, tokens);
    if (!rc) rc = store_user_login_ok(u.id);
    if (rc) {
        json_decref(tokens);
        store_user_clear(&u);
        http_store_error(r, rc);
        return;
    }
    /* Re-read so the response shows the new last_login_at. */
    char id[37];
    snprintf(id, sizeof id, "%s", u.id);
    store_user_clear(&u);
    rc = store_user_get(id, &u);
    if (rc) {
        json_decref(tokens);
        http_store_error(r, rc);
        return;
    }
    reply_tokens(r, 200, &u, tokens, 1);
    store_user_clear(&u);
}

static void login_handler(struct req *r)
{
    json_t *b = req_json(r);
    if (!jv_str(b, "email", NULL) && !jv_str(b, "username", NULL)) {
        http_json(r, 422,
                  json_pack("{s:s, s:s, s:s, s:s}", "detail", "field 'email' is required", "code",
                            "VALIDATION_ERROR", "field", "email", "request_id", req_id(r)));
        return;
    }
    char key[96];
    snprintf(key, sizeof key, "login:ip:%s", req_ip(r));
    struct limit_result lr;
    if (!limiter_take(key, login_ip_limit, login_ip_window_ms, 1, 1, &lr) && !lr.allowed) {
        throttled(r, "TOO_MANY_LOGIN_ATTEMPTS", lr.retry_after_ms,
                  "Too many failed login attempts; try again later");
        return;
    }
    http_defer(r, do_login);
}

static void refresh_handler(struct req *r)
{
    const char *tok = jv_str(req_json(r), "refresh_token", "");
    char hash[65];
    sha256_hex(tok, strlen(tok), hash);
    struct refresh_token rt;
    int rc = store_refresh_get(hash, &rt);
    if (rc == RAGD_ENOTFOUND) {
        unauthorized(r, "INVALID_TOKEN", "Invalid refresh token");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    if (rt.revoked_at[0]) {
        /* A revoked token presented again: it was stolen or replayed. Kill the family. */
        store_refresh_revoke_family(rt.family_id);
        log_json(LOG_WARN, "refresh token reuse; family revoked",
                 json_pack("{s:s, s:s, s:s}", "user_id", rt.user_id, "family_id", rt.family_id,
                           "request_id", req_id(r)));
        unauthorized(r, "TOKEN_REUSED", "Refresh token was already used; session revoked");
        return;
    }
    int64_t exp = 0;
    time_parse_iso(rt.expires_at, &exp);
    if (exp <= time_now_ms()) {
        unauthorized(r, "TOKEN_EXPIRED", "Refresh token has expired");
        return;
    }
    struct user u;
    rc = store_user_get(rt.user_id, &u);
    if (rc) {
        if (rc == RAGD_ENOTFOUND)
            unauthorized(r, "INVALID_TOKEN", "User no longer exists");
        else
            http_store_error(r, rc);
        return;
    }
    if (!u.is_active) {
        store_user_clear(&u);
        http_error(r, 403, "USER_INACTIVE", "User account is deactivated");
        return;
    }
    json_t *tokens = auth_issue_tokens(&u, rt.family_id, &rc);
    if (!rc) {
        const char *nt = json_string_value(json_object_get(tokens, "refresh_token"));
        char nh[65];
        sha256_hex(nt, strlen(nt), nh);
        rc = store_refresh_rotate(rt.id, u.id, rt.family_id, nh,
                                  time_now_ms() + refresh_ttl_s * 1000);
    }
    store_user_clear(&u);
    if (rc == RAGD_ECONFLICT) {
        /* Lost a race with another use of the same token: treat as reuse. */
        json_decref(tokens);
        store_refresh_revoke_family(rt.family_id);
        unauthorized(r, "TOKEN_REUSED", "Refresh token was already used; session revoked");
        return;
    }
    if (rc) {
        json_decref(tokens);
        http_store_error(r, rc);
        return;
    }
    reply_tokens(r, 200, NULL, tokens, 0);
}

static void logout_handler(struct req *r)
{
    json_t *claims = auth_claims(r);
    if (!claims) {
        http_error(r, 400, "API_KEY_LOGOUT",
                   "An API key has no session to log out of; revoke it with "
                   "DELETE /users/me/api-keys/{key_id}");
        return;
    }
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    const char *fam = json_string_value(json_object_get(claims, "fam"));
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    int rc = store_jti_revoke(jti, (int64_t)exp * 1000);
    if (!rc && jv_bool(req_json(r), "all_sessions", 0))
        rc = store_refresh_revoke_user(auth_user(r)->id);
    else if (!rc && fam)
        rc = store_refresh_revoke_family(fam);
    const char *tok = jv_str(req_json(r), "refresh_token", NULL);
    if (!rc && tok) {
        char hash[65];
        struct refresh_token rt;
        sha256_hex(tok, strlen(tok), hash);
        if (!store_refresh_get(hash, &rt) && !strcmp(rt.user_id, auth_user(r)->id))
            rc = store_refresh_revoke_family(rt.family_id);
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, json_pack("{s:s}", "message", "Successfully logged out"));
}

static void me_handler(struct req *r)
{
    http_json(r, 200, store_user_json(auth_user(r)));
}

static const struct jv_field register_fields[] = {
    {"email", JV_STRING, 1, 3, 254, 0, NULL, "E-mail address (unique, case-insensitive)"},
    {"password", JV_STRING, 1, 1, 1000, 0, NULL, "8 to 72 bytes"},
    {"username", JV_STRING, 0, 1, 100, 1, NULL, "Optional unique display name"},
    {NULL},
};
static const struct jv_schema register_schema = {register_fields, 0};

static const struct jv_field login_fields[] = {
    {"email", JV_STRING, 0, 1, 254, 0, NULL, "E-mail address"},
    {"username", JV_STRING, 0, 1, 254, 0, NULL, "OAuth2 password form: the e-mail address"},
    {"password", JV_STRING, 1, 1, 1000, 0, NULL, NULL},
    {"grant_type", JV_STRING, 0, 0, 0, 0, NULL, "OAuth2 form field (ignored)"},
    {"scope", JV_STRING, 0, 0, 0, 0, NULL, "OAuth2 form field (ignored)"},
    {"client_id", JV_STRING, 0, 0, 0, 0, NULL, "OAuth2 form field (ignored)"},
    {"client_secret", JV_STRING, 0, 0, 0, 0, NULL, "OAuth2 form field (ignored)"},
    {NULL},
};
static const struct jv_schema login_schema = {login_fields, 0};

static const struct jv_field refresh_fields[] = {
    {"refresh_token", JV_STRING, 1, 1, 512, 0, NULL, NULL},
    {NULL},
};
static const struct jv_schema refresh_schema = {refresh_fields, 0};

static const struct jv_field logout_fields[] = {
    {"refresh_token", JV_STRING, 0, 1, 512, 0, NULL, "Also revoke this refresh token's session"},
    {"all_sessions", JV_BOOL, 0, 0, 0, 0, NULL, "Revoke every refresh token of the user"},
    {NULL},
};
static const struct jv_schema logout_schema = {logout_fields, 0};

const struct route auth_routes[] = {
    {"POST", "/auth/register", register_handler, ACCESS_PUBLIC, NULL, NULL, &register_schema,
     "auth", "Register a new user", 201,
     "{user_id, email, access_token, refresh_token, token_type, expires_in, subscription_plan}"},
    {"POST", "/auth/login", login_handler, ACCESS_PUBLIC, NULL, NULL, &login_schema, "auth",
     "Log in with e-mail and password (JSON or OAuth2 form)", 200,
     "{access_token, refresh_token, token_type, expires_in, user}"},
    {"POST", "/auth/refresh", refresh_handler, ACCESS_PUBLIC, NULL, NULL, &refresh_schema, "auth",
     "Exchange a refresh token for a new pair (rotation)", 200,
     "{access_token, refresh_token, token_type, expires_in}"},
    {"POST", "/auth/logout", logout_handler, ACCESS_USER, NULL, NULL, &logout_schema, "auth",
     "Revoke the current access token and its session", 200, "{message}"},
    {"GET", "/auth/me", me_handler, ACCESS_USER, NULL, NULL, NULL, "auth", "The current user", 200,
     "user object"},
    {NULL},
};
