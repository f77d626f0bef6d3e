#include "auth/auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
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
#include "core/util.h"
#include "limits/limiter.h"
#include "limits/limits.h"
#include "ops/mail.h"
#include "store/apikeys.h"
#include "store/emailverify.h"

static unsigned char secret[128];
static size_t secret_len;
static int64_t access_ttl_s, refresh_ttl_s;
static int bcrypt_rounds;
static int64_t login_ip_limit, login_ip_window_ms;
static struct login_policy lockout;
static int accounts_per_ip_day;

/* A calls-per-period budget read from the environment. */
struct budget {
    int64_t calls, period_s;
};
static struct budget register_ip, register_all, refresh_ip, refresh_all, resend_user;
static int verification_required;
static char public_base_url[512];

static atomic_int work_busy;
static int work_slots = 1;

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

static int load_secret(const char *data_dir, int secret_in_db, char *err, size_t errcap)
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
    if (secret_in_db) return load_shared_secret(err, errcap);
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

int auth_init(const char *data_dir, int secret_in_db, char *err, size_t errcap)
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
    lockout.lock_after = (int)config_int("ACCOUNT_LOCKOUT_THRESHOLD", 10, 1, 1000000);
    lockout.lock_ms = config_int("ACCOUNT_LOCKOUT_MINUTES", 15, 1, 10080) * 60000;
    lockout.lock_max_ms = config_int("ACCOUNT_LOCKOUT_MAX_MINUTES", 1440, 1, 525600) * 60000;
    if (lockout.lock_max_ms < lockout.lock_ms) lockout.lock_max_ms = lockout.lock_ms;
    lockout.bypass_ms = 30000;
    accounts_per_ip_day = (int)config_int("REGISTRATIONS_PER_IP_PER_DAY", 20, 0, 1000000);
    static const struct {
        const char *var, *def;
        struct budget *b;
    } budgets[] = {
        {CONFIG_NAME("REGISTER_RATE_LIMIT_PER_IP"), "10/3600", &register_ip},
        {CONFIG_NAME("REGISTER_RATE_LIMIT_GLOBAL"), "100/60", &register_all},
        {CONFIG_NAME("REFRESH_RATE_LIMIT_PER_IP"), "60/60", &refresh_ip},
        {CONFIG_NAME("REFRESH_RATE_LIMIT_GLOBAL"), "1200/60", &refresh_all},
        {CONFIG_NAME("VERIFICATION_RESEND_RATE_LIMIT"), "3/3600", &resend_user},
    };
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        const char *v = config_str(budgets[i].var, budgets[i].def);
        if (limits_parse(v, &budgets[i].b->calls, &budgets[i].b->period_s)) {
            snprintf(err, errcap, "%s must be CALLS/SECONDS (e.g. 10/3600), got '%s'",
                     budgets[i].var, v);
            return RAGD_EINVAL;
        }
    }
    verification_required = config_bool("REQUIRE_EMAIL_VERIFICATION", 0);
    if (verification_required && !mail_enabled()) {
        snprintf(err, errcap,
                 "REQUIRE_EMAIL_VERIFICATION=true needs SMTP_HOST: the verification mail cannot "
                 "be sent without a mail server");
        return RAGD_EINVAL;
    }
    snprintf(public_base_url, sizeof public_base_url, "%s", config_str("PUBLIC_BASE_URL", ""));
    size_t n = strlen(public_base_url);
    while (n && public_base_url[n - 1] == '/')
        public_base_url[--n] = '\0';
    return load_secret(data_dir, secret_in_db, err, errcap);
}

int auth_bcrypt_rounds(void)
{
    return bcrypt_rounds;
}

/* ---- tokens ---- */

static void refuse(struct auth_refusal *ref, enum auth_failure why, int64_t retry_ms)
{
    ref->why = why;
    ref->retry_after_ms = retry_ms;
}

/* refuse, naming the account a login was refused for. */
static void refuse_login(struct auth_refusal *ref, enum auth_failure why, int64_t retry_ms,
                         const char *user_id, int64_t locked_ms)
{
    refuse(ref, why, retry_ms);
    snprintf(ref->user_id, sizeof ref->user_id, "%s", user_id ? user_id : "");
    ref->locked_ms = locked_ms;
}

void auth_tokens_clear(struct auth_tokens *t)
{
    free(t->access_token);
    t->access_token = NULL;
}

void auth_identity_clear(struct auth_identity *id)
{
    store_user_clear(&id->user);
}

/* Issues a pair for user_id in family fam (filled with a new id when empty). The refresh
 * token's row is the caller's to write (rotation writes it in its own transaction). */
static int issue(const char *user_id, char fam[37], struct auth_tokens *t)
{
    char jti[37];
    unsigned char raw[32];
    int64_t now = time_now_ms();
    memset(t, 0, sizeof *t);
    uuid4(jti);
    if (!fam[0]) uuid4(fam);
    rand_bytes(raw, sizeof raw);
    b64url_encode(raw, sizeof raw, t->refresh_token);
    /* iat_ms: the issue time to the millisecond, for the not-before watermark of a logout
     * from every session (a token issued in the same second after it stays valid). */
    json_t *claims =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "sub", user_id, "user_id", user_id,
                  "type", "access", "iat", (json_int_t)(now / 1000), "iat_ms", (json_int_t)now,
                  "exp", (json_int_t)(now / 1000 + access_ttl_s), "jti", jti, "fam", fam);
    t->access_token = jwt_sign(claims, secret, secret_len);
    json_decref(claims);
    if (!t->access_token) return RAGD_EIO;
    t->expires_in = access_ttl_s;
    t->refresh_expires_in = refresh_ttl_s;
    return 0;
}

/* Issues a new pair in a new family and stores its refresh token. */
static int issue_new(const char *user_id, struct auth_tokens *t)
{
    char fam[37] = "", hash[65], id[37];
    int rc = issue(user_id, fam, t);
    if (!rc) {
        sha256_hex(t->refresh_token, strlen(t->refresh_token), hash);
        rc = store_refresh_insert(user_id, fam, hash, time_now_ms() + refresh_ttl_s * 1000, id);
    }
    if (rc) auth_tokens_clear(t);
    return rc;
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
    snprintf(dst, cap, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* Verifies an access token into *c: JWT_OK or why not. */
static enum jwt_status access_claims(const char *token, struct auth_claims *c)
{
    json_t *j = NULL;
    enum jwt_status st = jwt_verify(token, secret, secret_len, time_now_ms() / 1000, &j);
    if (st != JWT_OK) return st;
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *uid = json_string_value(json_object_get(j, "user_id"));
    const char *jti = json_string_value(json_object_get(j, "jti"));
    if (!type || strcmp(type, "access") || !uid || !uuid_valid(uid) || !jti ||
        strlen(jti) >= sizeof c->jti) {
        json_decref(j);
        return JWT_MALFORMED;
    }
    memset(c, 0, sizeof *c);
    copy_str(c->user_id, sizeof c->user_id, json_object_get(j, "user_id"));
    copy_str(c->jti, sizeof c->jti, json_object_get(j, "jti"));
    copy_str(c->family_id, sizeof c->family_id, json_object_get(j, "fam"));
    c->iat = (int64_t)json_number_value(json_object_get(j, "iat"));
    json_t *ms = json_object_get(j, "iat_ms");
    c->issued_ms = json_is_integer(ms) ? json_integer_value(ms) : c->iat * 1000;
    c->exp = (int64_t)json_number_value(json_object_get(j, "exp"));
    c->emergency = json_is_true(json_object_get(j, "emg"));
    json_decref(j);
    return JWT_OK;
}

int auth_emergency_token(const char *user_id, char **token, char jti[37], int64_t *expires_ms)
{
    struct user u;
    int rc = store_user_get(user_id, &u);
    if (rc) return rc;
    store_user_clear(&u);
    int64_t now = time_now_ms();
    *expires_ms = (now / 1000 + AUTH_EMERGENCY_MINUTES * 60) * 1000;
    uuid4(jti);
    json_t *claims =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:b}", "sub", user_id, "user_id", user_id,
                  "type", "access", "iat", (json_int_t)(now / 1000), "iat_ms", (json_int_t)now,
                  "exp", (json_int_t)(*expires_ms / 1000), "jti", jti, "emg", 1);
    *token = jwt_sign(claims, secret, secret_len);
    json_decref(claims);
    return *token ? 0 : RAGD_EIO;
}

int auth_authenticate(const char *credential, struct auth_identity *out, struct auth_refusal *ref,
                      void (*on_subject)(const char *user_id, void *arg), void *arg)
{
    memset(out, 0, sizeof *out);
    char key_uid[37];
    int rc;
    if (!strncmp(credential, API_KEY_PREFIX, strlen(API_KEY_PREFIX))) {
        char hash[65];
        sha256_hex(credential, strlen(credential), hash);
        int user_rc;
        rc = store_apikey_user(hash, key_uid, &out->user, &user_rc);
        if (rc == RAGD_ENOTFOUND) refuse(ref, AUTH_FAIL_INVALID_API_KEY, 0);
        if (rc) return rc == RAGD_ENOTFOUND ? RAGD_EPERM : rc;
        out->via_api_key = 1;
        rc = user_rc;
    } else {
        enum jwt_status st = access_claims(credential, &out->claims);
        if (st != JWT_OK) {
            refuse(ref, st == JWT_EXPIRED ? AUTH_FAIL_TOKEN_EXPIRED : AUTH_FAIL_INVALID_TOKEN, 0);
            return RAGD_EPERM;
        }
        if (on_subject) on_subject(out->claims.user_id, arg);
        /* The user and the revocation are read together (one round trip to the cache); a
         * revoked token is refused as such whatever became of its user. */
        int revoked;
        rc = store_user_get_checked(out->claims.user_id, out->claims.jti, &out->user, &revoked);
        if (!revoked && out->claims.emergency) {
            /* Single use: whoever records the jti first has it; a second use is refused. */
            int crc = store_jti_claim(out->claims.jti, out->claims.exp * 1000);
            revoked = crc == RAGD_EEXIST ? 1 : crc;
        }
        if (revoked) {
            if (!rc) store_user_clear(&out->user);
            if (revoked < 0) return revoked;
            refuse(ref, AUTH_FAIL_TOKEN_REVOKED, 0);
            return RAGD_EPERM;
        }
    }
    if (rc == RAGD_ENOTFOUND) {
        refuse(ref, AUTH_FAIL_USER_GONE, 0);
        return RAGD_EPERM;
    }
    if (!rc && !out->via_api_key && out->claims.issued_ms < out->user.tokens_valid_after) {
        /* Issued before a logout from every session. */
        store_user_clear(&out->user);
        refuse(ref, AUTH_FAIL_TOKEN_REVOKED, 0);
        return RAGD_EPERM;
    }
    if (!rc && out->claims.emergency) { /* disaster recovery: full rights for this request */
        snprintf(out->user.role, sizeof out->user.role, "super_admin");
        out->user.is_superuser = 1;
    }
    return rc;
}

/* ---- account operations ---- */

int auth_email_registered(const char *email)
{
    struct user u;
    int rc = store_user_get_by_email(email, &u);
    if (!rc) store_user_clear(&u);
    return rc == RAGD_ENOTFOUND ? 0 : rc ? rc : 1;
}

/* The client tag accounts are counted by: a hash of the address, not the address. */
static void origin_of(const char *ip, char out[33])
{
    char h[65];
    sha256_hex(ip, strlen(ip), h);
    memcpy(out, h, 32);
    out[32] = 0;
}

int auth_register(const char *email, const char *password, const char *username, const char *ip,
                  struct user *u, struct auth_tokens *t, struct auth_refusal *ref)
{
    memset(u, 0, sizeof *u);
    memset(t, 0, sizeof *t);
    snprintf(u->email, sizeof u->email, "%s", email);
    for (char *p = u->email; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(u->username, sizeof u->username, "%s", username ? username : "");
    u->is_active = 1;
    snprintf(u->subscription_plan, sizeof u->subscription_plan, "free");
    int rc = password_hash(password, bcrypt_rounds, u->hashed_password, sizeof u->hashed_password);
    if (rc) return rc;
    char origin[33];
    origin_of(ip, origin);
    rc = store_user_create_capped(u, origin, time_now_ms() - 86400000, accounts_per_ip_day);
    u->hashed_password[0] = 0;
    if (rc == RAGD_ELIMIT) {
        log_json(LOG_WARN, "registration refused: accounts per client per day",
                 json_pack("{s:s, s:i}", "ip", ip, "max", accounts_per_ip_day));
        refuse(ref, AUTH_FAIL_ACCOUNT_CAP, 0);
        return RAGD_EPERM;
    }
    if (rc == RAGD_EEXIST) {
        int taken = auth_email_registered(u->email);
        refuse(ref, taken == 1 ? AUTH_FAIL_EMAIL_TAKEN : AUTH_FAIL_USERNAME_TAKEN, 0);
        return RAGD_EPERM;
    }
    if (!rc) rc = issue_new(u->id, t);
    if (!rc) log_json(LOG_INFO, "user registered", json_pack("{s:s}", "user_id", u->id));
    return rc;
}

static void login_ip_key(const char *ip, char key[96])
{
    snprintf(key, 96, "login:ip:%.64s", ip);
}

/* Takes cost of b for key; 1 if allowed. The budget is part of the stored key, so a changed
 * budget starts afresh instead of inheriting a state measured against another rate. A
 * limiter that fails lets the request through (the other guards still hold), like the route
 * rate limits. */
static int take(const char *key, const struct budget *b, int64_t cost, int64_t *retry_ms)
{
    char k[192];
    struct limit_result lr;
    snprintf(k, sizeof k, "%s:%lld/%lld", key, (long long)b->calls, (long long)b->period_s);
    if (limiter_take(k, b->calls, b->period_s * 1000, cost, 0, &lr)) return 1;
    if (!lr.allowed && retry_ms) *retry_ms = lr.retry_after_ms;
    return lr.allowed;
}

/* The per-client and global budgets of a registration or a refresh. */
static void action_budgets(enum auth_action a, const char *ip, char kip[96], char kall[32],
                           const struct budget **bip, const struct budget **ball)
{
    const char *name = a == AUTH_ACT_REGISTER ? "register" : "refresh";
    snprintf(kip, 96, "auth:%s:ip:%.64s", name, ip);
    snprintf(kall, 32, "auth:%s:all", name);
    *bip = a == AUTH_ACT_REGISTER ? &register_ip : &refresh_ip;
    *ball = a == AUTH_ACT_REGISTER ? &register_all : &refresh_all;
}

int auth_admit(enum auth_action a, const char *ip, struct auth_refusal *ref)
{
    int64_t retry = 0;
    if (a == AUTH_ACT_LOGIN) {
        char key[96];
        struct budget b = {login_ip_limit, login_ip_window_ms / 1000};
        login_ip_key(ip, key);
        if (take(key, &b, 1, &retry)) return 0;
        refuse(ref, AUTH_FAIL_THROTTLED, retry);
        return RAGD_EPERM;
    }
    char kip[96], kall[32];
    const struct budget *bip, *ball;
    action_budgets(a, ip, kip, kall, &bip, &ball);
    if (!take(kip, bip, 1, &retry)) {
        refuse(ref, AUTH_FAIL_THROTTLED, retry);
        return RAGD_EPERM;
    }
    if (!take(kall, ball, 1, &retry)) {
        take(kip, bip, -1, NULL); /* not this client's doing */
        refuse(ref, AUTH_FAIL_THROTTLED, retry);
        return RAGD_EPERM;
    }
    return 0;
}

void auth_admit_undo(enum auth_action a, const char *ip)
{
    if (a == AUTH_ACT_LOGIN) {
        char key[96];
        struct budget b = {login_ip_limit, login_ip_window_ms / 1000};
        login_ip_key(ip, key);
        take(key, &b, -1, NULL);
        return;
    }
    char kip[96], kall[32];
    const struct budget *bip, *ball;
    action_budgets(a, ip, kip, kall, &bip, &ball);
    take(kip, bip, -1, NULL);
    take(kall, ball, -1, NULL);
}

void auth_set_work_slots(int n)
{
    work_slots = n < 1 ? 1 : n;
}

int auth_work_begin(void)
{
    int busy = atomic_fetch_add(&work_busy, 1);
    if (busy < work_slots) return 0;
    atomic_fetch_sub(&work_busy, 1);
    return RAGD_ELIMIT;
}

void auth_work_end(void)
{
    int was = atomic_fetch_sub(&work_busy, 1);
    RAGD_ASSERT(was > 0);
}

/* The key that marks a client as having failed against an account. */
static void failed_key(const char *uid, const char *ip, char key[128])
{
    snprintf(key, 128, "login:failed:%.36s:%.64s:%lld", uid, ip, (long long)login_ip_window_ms);
}

int auth_login(const char *email, const char *password, const char *ip, struct user *u,
               struct auth_tokens *t, struct auth_refusal *ref)
{
    memset(t, 0, sizeof *t);
    memset(ref, 0, sizeof *ref);
    int rc = store_user_get_by_email(email, u);
    if (rc && rc != RAGD_ENOTFOUND) return rc;
    int found = rc == 0;
    struct login_attempt att = {LOGIN_GO, 0, 0, 0};
    char fkey[128] = "";
    if (found) {
        /* Take the account's attempt before the password is checked. */
        struct limit_result lr;
        failed_key(u->id, ip, fkey);
        int ip_failed = !limiter_take(fkey, 1, login_ip_window_ms, 1, 1, &lr) && !lr.allowed;
        rc = store_user_login_attempt(u->id, &lockout, ip_failed, &att);
        if (!rc && att.verdict == LOGIN_LOCKED) {
            refuse_login(ref, AUTH_FAIL_LOCKED, att.retry_after_ms, u->id, 0);
            store_user_clear(u);
            return RAGD_EPERM;
        }
        if (rc) {
            store_user_clear(u);
            return rc;
        }
        if (!rc && att.verdict == LOGIN_BYPASS) {
            /* One try per client under a lock: the mark is taken now, not after the check,
             * so a parallel request of the same client cannot take the next bypass. */
            if (!limiter_take(fkey, 1, login_ip_window_ms, 1, 0, &lr) && !lr.allowed) {
                store_user_login_bypass_end(u->id);
                refuse_login(ref, AUTH_FAIL_LOCKED, att.retry_after_ms, u->id, 0);
                store_user_clear(u);
                return RAGD_EPERM;
            }
        }
        if (att.locked_ms)
            log_json(
                LOG_WARN, "account locked after failed logins",
                json_pack("{s:s, s:I}", "user_id", u->id, "lock_ms", (json_int_t)att.locked_ms));
    }
    int ok = 0;
    if (found)
        ok = password_verify(password, u->hashed_password);
    else
        password_dummy_verify(bcrypt_rounds); /* same cost as a real check: no user oracle */
    if (!ok) {
        if (found) {
            struct limit_result lr;
            if (att.verdict == LOGIN_BYPASS)
                store_user_login_bypass_end(u->id); /* marked when the bypass was taken */
            else
                limiter_take(fkey, 1, login_ip_window_ms, 1, 0, &lr); /* this client failed */
        }
        log_json(
            LOG_WARN, "login failed",
            json_pack("{s:s, s:b, s:i}", "ip", ip, "known_user", found, "failures", att.failures));
        refuse_login(ref, AUTH_FAIL_BAD_CREDENTIALS, 0, found ? u->id : NULL, att.locked_ms);
        if (found) store_user_clear(u);
        return RAGD_EPERM;
    }
    auth_admit_undo(AUTH_ACT_LOGIN, ip); /* the ip's allowance counts failures only */
    if (found && att.verdict == LOGIN_BYPASS) {
        struct limit_result lr;
        limiter_take(fkey, 1, login_ip_window_ms, -1, 0, &lr); /* the owner keeps a clean mark */
    }
    if (!u->is_active) {
        refuse_login(ref, AUTH_FAIL_INACTIVE, 0, u->id, 0);
        store_user_clear(u);
        return RAGD_EPERM;
    }
    char id[37];
    snprintf(id, sizeof id, "%s", u->id);
    store_user_clear(u);
    rc = issue_new(id, t);
    if (!rc) rc = store_user_login_ok(id);
    if (!rc) rc = store_user_get(id, u); /* so the caller shows the new last_login_at */
    if (rc) auth_tokens_clear(t);
    return rc;
}

int auth_refresh(const char *refresh_token, struct auth_tokens *t, struct auth_refusal *ref)
{
    memset(t, 0, sizeof *t);
    char hash[65];
    sha256_hex(refresh_token, strlen(refresh_token), hash);
    struct refresh_token rt;
    int rc = store_refresh_get(hash, &rt);
    if (rc == RAGD_ENOTFOUND) {
        refuse(ref, AUTH_FAIL_INVALID_TOKEN, 0);
        return RAGD_EPERM;
    }
    if (rc) return rc;
    if (rt.revoked_at[0]) {
        /* A revoked token presented again: it was stolen or replayed. Kill the family. */
        store_refresh_revoke_family(rt.family_id);
        log_json(LOG_WARN, "refresh token reuse; family revoked",
                 json_pack("{s:s, s:s}", "user_id", rt.user_id, "family_id", rt.family_id));
        refuse(ref, AUTH_FAIL_TOKEN_REUSED, 0);
        return RAGD_EPERM;
    }
    int64_t exp = 0;
    time_parse_iso(rt.expires_at, &exp);
    if (exp <= time_now_ms()) {
        refuse(ref, AUTH_FAIL_TOKEN_EXPIRED, 0);
        return RAGD_EPERM;
    }
    struct user u;
    rc = store_user_get(rt.user_id, &u);
    if (rc == RAGD_ENOTFOUND) {
        refuse(ref, AUTH_FAIL_USER_GONE, 0);
        return RAGD_EPERM;
    }
    if (rc) return rc;
    int active = u.is_active;
    store_user_clear(&u);
    if (!active) {
        refuse(ref, AUTH_FAIL_INACTIVE, 0);
        return RAGD_EPERM;
    }
    char fam[37];
    snprintf(fam, sizeof fam, "%s", rt.family_id);
    rc = issue(rt.user_id, fam, t);
    if (!rc) {
        char nh[65];
        sha256_hex(t->refresh_token, strlen(t->refresh_token), nh);
        rc = store_refresh_rotate(rt.id, rt.user_id, rt.family_id, nh,
                                  time_now_ms() + refresh_ttl_s * 1000);
    }
    if (rc == RAGD_ECONFLICT) {
        /* Lost a race with another use of the same token: treat as reuse. */
        store_refresh_revoke_family(rt.family_id);
        refuse(ref, AUTH_FAIL_TOKEN_REUSED, 0);
        rc = RAGD_EPERM;
    }
    if (rc) auth_tokens_clear(t);
    return rc;
}

int auth_logout(const struct auth_identity *id, int all_sessions, const char *refresh_token)
{
    RAGD_ASSERT(!id->via_api_key);
    int rc = store_jti_revoke(id->claims.jti, id->claims.exp * 1000);
    if (!rc && all_sessions)
        rc = store_user_revoke_sessions(id->user.id, time_now_ms());
    else if (!rc && id->claims.family_id[0])
        rc = store_refresh_revoke_family(id->claims.family_id);
    if (!rc && refresh_token) {
        char hash[65];
        struct refresh_token rt;
        sha256_hex(refresh_token, strlen(refresh_token), hash);
        if (!store_refresh_get(hash, &rt) && !strcmp(rt.user_id, id->user.id))
            rc = store_refresh_revoke_family(rt.family_id);
    }
    return rc;
}

/* ---- e-mail verification ---- */

enum { VERIFY_TOKEN_TTL_MS = 24 * 3600 * 1000 };

int auth_verification_required(void)
{
    return verification_required;
}

int auth_verification_send(const struct user *u)
{
    unsigned char raw[32];
    char token[65], hash[65];
    rand_bytes(raw, sizeof raw);
    hex_encode(raw, sizeof raw, token);
    sha256_hex(token, strlen(token), hash);
    int rc = store_emailverify_set(u->id, hash, time_now_ms() + VERIFY_TOKEN_TTL_MS);
    if (rc) return rc;
    struct sbuf b;
    sb_init(&b);
    sb_printf(&b,
              "Please confirm that this address belongs to your ragd account.\n\n"
              "Your verification code:\n\n    %s\n\n",
              token);
    if (public_base_url[0])
        sb_printf(&b, "Or open this link:\n\n    %s/verify?token=%s\n\n", public_base_url, token);
    sb_adds(&b, "To verify through the API: POST /auth/verify-email with {\"token\": \"<code>\"}.\n"
                "The code can be used once and expires in 24 hours. If you did not create this "
                "account, ignore this message.\n");
    char *body = sb_take(&b);
    rc = mail_send(u->email, "Verify your e-mail address", body);
    explicit_bzero(body, strlen(body));
    free(body);
    explicit_bzero(token, sizeof token);
    return rc;
}

int auth_verification_resend(const struct user *u, struct auth_refusal *ref)
{
    if (u->is_verified) {
        refuse(ref, AUTH_FAIL_ALREADY_VERIFIED, 0);
        return RAGD_EPERM;
    }
    char key[96];
    int64_t retry_ms = 0;
    snprintf(key, sizeof key, "verify:resend:%s", u->id);
    if (!take(key, &resend_user, 1, &retry_ms)) {
        refuse(ref, AUTH_FAIL_THROTTLED, retry_ms);
        return RAGD_EPERM;
    }
    return auth_verification_send(u);
}

int auth_verify_email(const char *token, char user_out[37], struct auth_refusal *ref)
{
    char hash[65];
    sha256_hex(token, strlen(token), hash);
    int rc = store_emailverify_use(hash, time_now_ms(), user_out);
    if (rc == RAGD_ENOTFOUND) {
        refuse(ref, AUTH_FAIL_INVALID_TOKEN, 0);
        return RAGD_EPERM;
    }
    if (!rc) log_json(LOG_INFO, "e-mail verified", json_pack("{s:s}", "user_id", user_out));
    return rc;
}
