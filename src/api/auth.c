/* auth.c - /auth: register, login, refresh, logout, me. The account rules live in
 * auth/auth.h; this file decodes the request, runs the bcrypt work on a worker thread and
 * renders the answer. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "auth/password.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "support/orgs.h"

/* {access_token, refresh_token, token_type, expires_in, refresh_expires_in}; new reference. */
static json_t *tokens_json(const struct auth_tokens *t)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I}", "access_token", t->access_token, "refresh_token",
                     t->refresh_token, "token_type", "bearer", "expires_in",
                     (json_int_t)t->expires_in, "refresh_expires_in",
                     (json_int_t)t->refresh_expires_in);
}

/* ---- browser sessions (cookie mode) ----
 *
 * A client that sends "X-Ragd-Session: cookie" with login, register or refresh (the web UI
 * does) gets its refresh token as a cookie instead of in the JSON: ragd_refresh, HttpOnly,
 * SameSite=Strict, Path=/auth, so only the /auth routes ever see it and no script can read
 * it. The JSON carries csrf_token instead: the SHA-256 of the refresh token, so it reveals
 * nothing and needs no state. A refresh or logout that presents the cookie must send that
 * value back in X-CSRF-Token, or it is refused with 403 CSRF_FAILED before anything changes.
 * A page that lost its memory (a reload) asks GET /auth/csrf, which reads the cookie and
 * answers the token: SameSite=Strict keeps the cookie off other sites' requests, and the
 * same-origin policy keeps them from reading the answer. Nothing readable by a script is
 * stored in the browser. The cookie is Secure when SESSION_COOKIE_SECURE is true, or, when
 * it is auto (the default), when the request came through a proxy that says
 * X-Forwarded-Proto: https or PUBLIC_BASE_URL is https (a client that sends the header only
 * makes its own cookie stricter). API clients that send refresh_token in the body are
 * answered as before. */

#define REFRESH_COOKIE "ragd_refresh"

static int cookie_mode(struct req *r)
{
    const char *v = req_header(r, "X-Ragd-Session");
    return v && !strcasecmp(v, "cookie");
}

static int cookie_secure(struct req *r)
{
    const char *m = config_str("SESSION_COOKIE_SECURE", "auto");
    if (strcasecmp(m, "auto")) return config_bool("SESSION_COOKIE_SECURE", 0);
    const char *proto = req_header(r, "X-Forwarded-Proto");
    if (proto && !strncasecmp(proto, "https", 5)) return 1;
    return !strncasecmp(config_str("PUBLIC_BASE_URL", ""), "https://", 8);
}

/* Copies the value of cookie name from the request's Cookie header into out. 1 when found
 * (non-empty and fitting), else 0. */
static int cookie_get(struct req *r, const char *name, char *out, size_t cap)
{
    const char *p = req_header(r, "Cookie");
    size_t nl = strlen(name);
    while (p && *p) {
        while (*p == ' ' || *p == ';' || *p == '\t')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t vl = len - nl - 1;
            while (vl && (p[nl + 1 + vl - 1] == ' ' || p[nl + 1 + vl - 1] == '\t'))
                vl--;
            if (!vl || vl >= cap) return 0;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

/* The CSRF token that goes with a refresh token: 64 hex characters. */
static void csrf_for(const char *refresh_token, char out[65])
{
    char buf[160];
    int n = snprintf(buf, sizeof buf, "ragd-csrf:%s", refresh_token);
    sha256_hex(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, out);
}

/* 0 when the request's X-CSRF-Token matches refresh_token's (compared in constant time);
 * otherwise answers 403 CSRF_FAILED and returns non-zero. */
static int csrf_check(struct req *r, const char *refresh_token)
{
    char want[65];
    csrf_for(refresh_token, want);
    const char *got = req_header(r, "X-CSRF-Token");
    if (got && strlen(got) == 64 && !ct_memcmp(got, want, 64)) return 0;
    http_error(r, 403, "CSRF_FAILED",
               "The session cookie must come with its CSRF token in the X-CSRF-Token header");
    return 1;
}

/* Sets the cookie for t's refresh token, or clears it when t is NULL. */
static void session_cookies(struct req *r, const struct auth_tokens *t)
{
    char c[256];
    snprintf(c, sizeof c, "%s=%s; Path=/auth; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
             REFRESH_COOKIE, t ? t->refresh_token : "", (long long)(t ? t->refresh_expires_in : 0),
             cookie_secure(r) ? "; Secure" : "");
    http_header(r, "Set-Cookie", c);
}

/* The token answer: tokens_json, or in cookie mode the cookie and the same JSON with
 * csrf_token in place of refresh_token. New reference. */
static json_t *session_json(struct req *r, const struct auth_tokens *t, int cookies)
{
    json_t *body = tokens_json(t);
    if (!cookies) return body;
    char csrf[65];
    csrf_for(t->refresh_token, csrf);
    json_object_del(body, "refresh_token");
    json_object_set_new(body, "csrf_token", json_string(csrf));
    session_cookies(r, t);
    return body;
}

static void throttled(struct req *r, const char *code, int64_t retry_ms, const char *detail)
{
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", (long long)((retry_ms + 999) / 1000));
    http_header(r, "Retry-After", ra);
    metrics_reject("login_throttle");
    http_error(r, 429, code, "%s", detail);
}

/* Answers an auth refusal (RAGD_EPERM) or a store error. */
static void refused(struct req *r, int rc, const struct auth_refusal *ref)
{
    if (rc != RAGD_EPERM) {
        http_store_error(r, rc);
        return;
    }
    switch (ref->why) {
    case AUTH_FAIL_BAD_CREDENTIALS:
        api_unauthorized(r, "INVALID_CREDENTIALS", "Incorrect email or password");
        break;
    case AUTH_FAIL_LOCKED:
        throttled(r, "ACCOUNT_LOCKED", ref->retry_after_ms,
                  "Account temporarily locked after repeated failed logins");
        break;
    case AUTH_FAIL_ACCOUNT_CAP:
        metrics_reject("registration_cap");
        http_error(r, 429, "TOO_MANY_ACCOUNTS",
                   "Too many accounts were created from your network today; try again "
                   "tomorrow");
        break;
    case AUTH_FAIL_INACTIVE:
        http_error(r, 403, "USER_INACTIVE", "User account is deactivated");
        break;
    case AUTH_FAIL_EMAIL_TAKEN:
        http_error(r, 409, "EMAIL_TAKEN", "Email already registered");
        break;
    case AUTH_FAIL_USERNAME_TAKEN:
        http_error(r, 409, "USERNAME_TAKEN", "Username already taken");
        break;
    case AUTH_FAIL_TOKEN_REUSED:
        api_unauthorized(r, "TOKEN_REUSED", "Refresh token was already used; session revoked");
        break;
    case AUTH_FAIL_TOKEN_EXPIRED:
        api_unauthorized(r, "TOKEN_EXPIRED", "Refresh token has expired");
        break;
    case AUTH_FAIL_USER_GONE:
        api_unauthorized(r, "INVALID_TOKEN", "User no longer exists");
        break;
    case AUTH_FAIL_ALREADY_VERIFIED:
        http_error(r, 400, "ALREADY_VERIFIED", "Your e-mail address is already verified");
        break;
    case AUTH_FAIL_THROTTLED:
        throttled(r, "TOO_MANY_VERIFICATION_MAILS", ref->retry_after_ms,
                  "Too many verification mails requested; try again later");
        break;
    default:
        api_unauthorized(r, "INVALID_TOKEN", "Invalid refresh token");
        break;
    }
}

/* Admits one request of action a (auth_admit) and, for the hashing actions, takes a
 * hashing slot. Returns 0, or answers (429 with Retry-After, 503 AUTH_BUSY) and returns
 * non-zero. */
static int admit(struct req *r, enum auth_action a)
{
    struct auth_refusal ref;
    if (auth_admit(a, req_ip(r), &ref)) {
        static const char *const codes[] = {"TOO_MANY_LOGIN_ATTEMPTS", "TOO_MANY_REGISTRATIONS",
                                            "TOO_MANY_REFRESHES"};
        static const char *const details[] = {
            "Too many failed login attempts; try again later",
            "Too many registrations; try again later",
            "Too many token refreshes; try again later",
        };
        throttled(r, codes[a], ref.retry_after_ms, details[a]);
        return 1;
    }
    if (a == AUTH_ACT_REFRESH) return 0;
    if (auth_work_begin()) {
        /* Every hashing slot is busy: refuse now rather than queue behind the flood. */
        auth_admit_undo(a, req_ip(r));
        metrics_reject("auth_busy");
        http_header(r, "Retry-After", "1");
        http_error(r, 503, "AUTH_BUSY", "Too many logins and registrations in progress; retry");
        return 1;
    }
    return 0;
}

/* Queues fn for a request admitted with a hashing slot; gives the slot back if the worker
 * queue refused it (http_defer answered 503). */
static void defer_hashing(struct req *r, enum auth_action a, void (*fn)(struct req *r))
{
    if (http_defer(r, fn)) {
        auth_admit_undo(a, req_ip(r));
        auth_work_end();
    }
}

/* ---- register ---- */

static void do_register(struct req *r)
{
    json_t *b = req_json(r);
    struct user u;
    struct auth_tokens t;
    struct auth_refusal ref;
    int rc = auth_register(jv_str(b, "email", ""), jv_str(b, "password", ""),
                           jv_str(b, "username", NULL), req_ip(r), &u, &t, &ref);
    auth_work_end();
    if (rc) {
        store_user_clear(&u);
        refused(r, rc, &ref);
        return;
    }
    json_t *body = session_json(r, &t, cookie_mode(r));
    json_object_set_new(body, "user_id", json_string(u.id));
    json_object_set_new(body, "email", json_string(u.email));
    json_object_set_new(body, "subscription_plan", json_string(u.subscription_plan));
    if (auth_verification_required()) {
        /* The account exists either way: a mail that cannot go now is sent again on
         * POST /auth/resend-verification. */
        int mrc = auth_verification_send(&u);
        if (mrc)
            log_json(LOG_WARN, "verification mail not sent",
                     json_pack("{s:s, s:s}", "user_id", u.id, "error", ragd_strerror(mrc)));
        json_object_set_new(body, "email_verification_required", json_true());
    }
    const char *invite = jv_str(b, "invite_token", NULL);
    if (invite) { /* an organization's invitation for this address (support/orgs.h) */
        char org[37], role[16];
        int irc = orgs_accept(&u, invite, org, role);
        json_object_set_new(body, "organization",
                            irc ? json_pack("{s:s}", "error",
                                            irc == RAGD_ENOTFOUND ? "INVITATION_NOT_FOUND"
                                            : irc == RAGD_ELIMIT  ? "MAX_USERS_REACHED"
                                                                  : "INVITATION_NOT_ACCEPTED")
                                : json_pack("{s:s, s:s}", "id", org, "role", role));
    }
    auth_tokens_clear(&t);
    store_user_clear(&u);
    http_json(r, 201, body);
}

static void register_handler(struct req *r)
{
    json_t *b = req_json(r);
    const char *email = jv_str(b, "email", "");
    const char *pw = jv_str(b, "password", "");
    const char *username = jv_str(b, "username", NULL);
    if (!email_valid(email)) {
        api_invalid(r, "email", "field 'email' is not a valid e-mail address");
        return;
    }
    if (strlen(pw) < PASSWORD_MIN || strlen(pw) > PASSWORD_MAX) {
        api_invalid(r, "password", "field 'password' must be 8 to 72 bytes long");
        return;
    }
    for (const char *p = username ? username : ""; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            api_invalid(r, "username", "field 'username' contains control characters");
            return;
        }
    /* Admission first: answering EMAIL_TAKEN is paid for like a registration, so the
     * registration rate limits also bound how fast addresses can be probed. */
    if (admit(r, AUTH_ACT_REGISTER)) return;
    int taken = auth_email_registered(email);
    if (taken) {
        auth_work_end();
        if (taken < 0)
            http_store_error(r, taken);
        else
            http_error(r, 409, "EMAIL_TAKEN", "Email already registered");
        return;
    }
    defer_hashing(r, AUTH_ACT_REGISTER, do_register);
}

/* ---- login ---- */

static const char *login_email(json_t *b)
{
    const char *email = jv_str(b, "email", NULL);
    return email ? email : jv_str(b, "username", "");
}

static void do_login(struct req *r)
{
    json_t *b = req_json(r);
    struct user u;
    struct auth_tokens t;
    struct auth_refusal ref;
    int rc = auth_login(login_email(b), jv_str(b, "password", ""), req_ip(r), &u, &t, &ref);
    auth_work_end();
    api_audit_login(r, rc, &ref, login_email(b), &u);
    if (rc) {
        refused(r, rc, &ref);
        return;
    }
    json_t *body = session_json(r, &t, cookie_mode(r));
    json_object_set_new(body, "user", api_user_json(&u));
    auth_tokens_clear(&t);
    store_user_clear(&u);
    http_json(r, 200, body);
}

static void login_handler(struct req *r)
{
    json_t *b = req_json(r);
    if (!jv_str(b, "email", NULL) && !jv_str(b, "username", NULL)) {
        api_invalid(r, "email", "field 'email' is required");
        return;
    }
    /* The attempt is taken before the work is queued: a flood is refused here. */
    if (admit(r, AUTH_ACT_LOGIN)) return;
    defer_hashing(r, AUTH_ACT_LOGIN, do_login);
}

/* ---- refresh, logout, me ---- */

/* Rotates the refresh token of the body, else the ragd_refresh cookie (with its CSRF token). */
static void refresh_handler(struct req *r)
{
    const char *token = jv_str(req_json(r), "refresh_token", NULL);
    char cookie[128];
    int from_cookie = !token && cookie_get(r, REFRESH_COOKIE, cookie, sizeof cookie);
    if (!token && !from_cookie) {
        api_invalid(r, "refresh_token", "field 'refresh_token' is required");
        return;
    }
    if (admit(r, AUTH_ACT_REFRESH)) return;
    if (from_cookie && csrf_check(r, cookie)) return;
    int cookies = from_cookie || cookie_mode(r);
    struct auth_tokens t;
    struct auth_refusal ref;
    int rc = auth_refresh(from_cookie ? cookie : token, &t, &ref);
    if (rc) {
        if (cookies && rc == RAGD_EPERM) session_cookies(r, NULL); /* it will never work again */
        refused(r, rc, &ref);
        return;
    }
    json_t *body = session_json(r, &t, cookies);
    auth_tokens_clear(&t);
    http_json(r, 200, body);
}

static void logout_handler(struct req *r)
{
    const struct auth_identity *id = api_identity(r);
    if (id->via_api_key) {
        http_error(r, 400, "API_KEY_LOGOUT",
                   "An API key has no session to log out of; revoke it with "
                   "DELETE /users/me/api-keys/{key_id}");
        return;
    }
    /* A browser's session cookie is revoked with the access token's session, once its CSRF
     * token proves the request comes from the page that holds it. */
    char cookie[128];
    int has_cookie = cookie_get(r, REFRESH_COOKIE, cookie, sizeof cookie);
    if (has_cookie && csrf_check(r, cookie)) return;
    const char *token = jv_str(req_json(r), "refresh_token", NULL);
    int rc = auth_logout(id, jv_bool(req_json(r), "all_sessions", 0),
                         token        ? token
                         : has_cookie ? cookie
                                      : NULL);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    if (has_cookie || cookie_mode(r)) session_cookies(r, NULL);
    http_json(r, 200, json_pack("{s:s}", "message", "Successfully logged out"));
}

/* GET /auth/csrf: {csrf_token} of the session cookie the request carries, null without one. */
static void csrf_handler(struct req *r)
{
    char cookie[128], csrf[65];
    json_t *v = json_null();
    if (cookie_get(r, REFRESH_COOKIE, cookie, sizeof cookie)) {
        csrf_for(cookie, csrf);
        v = json_string(csrf);
    }
    http_json(r, 200, json_pack("{s:o}", "csrf_token", v));
}

static void me_handler(struct req *r)
{
    http_json(r, 200, api_user_json(api_user(r)));
}

/* ---- e-mail verification ---- */

static void verify_email_handler(struct req *r)
{
    char user_id[37];
    struct auth_refusal ref;
    int rc = auth_verify_email(jv_str(req_json(r), "token", ""), user_id, &ref);
    if (rc == RAGD_EPERM) {
        http_error(r, 400, "INVALID_TOKEN", "Invalid or expired verification token");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200,
              json_pack("{s:s, s:s, s:b}", "message", "E-mail address verified", "user_id", user_id,
                        "is_verified", 1));
}

static void resend_handler(struct req *r)
{
    if (!auth_verification_required()) {
        http_error(r, 400, "VERIFICATION_NOT_REQUIRED",
                   "E-mail verification is not enabled on this server");
        return;
    }
    struct auth_refusal ref;
    int rc = auth_verification_resend(api_user(r), &ref);
    if (rc == RAGD_EPERM) {
        refused(r, rc, &ref);
        return;
    }
    if (rc == RAGD_ELIMIT || rc == RAGD_EINVAL) {
        http_header(r, "Retry-After", "60");
        http_error(r, 503, "MAIL_UNAVAILABLE", "The verification mail cannot be sent now; retry");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 202, json_pack("{s:s}", "message", "Verification mail sent"));
}

/* ---- routes ---- */

static const struct jv_field register_fields[] = {
    {"email", JV_STRING, 1, 3, 254, 0, NULL, "E-mail address (unique, case-insensitive)"},
    {"password", JV_STRING, 1, 1, 1000, 0, NULL, "8 to 72 bytes"},
    {"username", JV_STRING, 0, 1, 100, 1, NULL, "Optional unique display name"},
    {"invite_token", JV_STRING, 0, 8, 100, 1, NULL,
     "An organization's invitation code for this address: the new account joins it"},
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
    {"refresh_token", JV_STRING, 0, 1, 512, 0, NULL,
     "Required unless the ragd_refresh cookie is sent (with X-CSRF-Token)"},
    {NULL},
};
static const struct jv_schema refresh_schema = {refresh_fields, 0};

static const struct jv_field logout_fields[] = {
    {"refresh_token", JV_STRING, 0, 1, 512, 0, NULL, "Also revoke this refresh token's session"},
    {"all_sessions", JV_BOOL, 0, 0, 0, 0, NULL, "Revoke every session of the user"},
    {NULL},
};
static const struct jv_schema logout_schema = {logout_fields, 0};

static const struct jv_field verify_fields[] = {
    {"token", JV_STRING, 1, 1, 128, 0, NULL, "The code from the verification mail"},
    {NULL},
};
static const struct jv_schema verify_schema = {verify_fields, 0};

const struct route auth_routes[] = {
    {.method = "POST",
     .pattern = "/auth/register",
     .handler = register_handler,
     .access = ACCESS_PUBLIC,
     .body = &register_schema,
     .tag = "auth",
     .summary = "Register a new user",
     .feature = "registration",
     .ok_status = 201,
     .response_doc = "{user_id, email, access_token, refresh_token, token_type, expires_in,"
                     " subscription_plan}",
     .response = "{access_token: string, refresh_token?: string, csrf_token?: string, "
                 "token_type: 'bearer', expires_in: int, refresh_expires_in: int, user_id: "
                 "string, email: string, subscription_plan: string, "
                 "email_verification_required?: bool, organization?: {id: string, role: "
                 "string}|{error: string}}"},
    {.method = "POST",
     .pattern = "/auth/login",
     .handler = login_handler,
     .access = ACCESS_PUBLIC,
     .body = &login_schema,
     .tag = "auth",
     .summary = "Log in with e-mail and password (JSON or OAuth2 form)",
     .response_doc = "{access_token, refresh_token, token_type, expires_in, user}",
     .response = "{access_token: string, refresh_token?: string, csrf_token?: string, "
                 "token_type: 'bearer', expires_in: int, refresh_expires_in: int, user: $User}",
     .request = "application/x-www-form-urlencoded"},
    {.method = "POST",
     .pattern = "/auth/refresh",
     .handler = refresh_handler,
     .access = ACCESS_PUBLIC,
     .body = &refresh_schema,
     .tag = "auth",
     .summary = "Exchange a refresh token (body, or the ragd_refresh cookie with X-CSRF-Token)"
                " for a new pair (rotation)",
     .response_doc = "{access_token, refresh_token, token_type, expires_in}; in cookie mode"
                     " csrf_token instead of refresh_token",
     .response = "{access_token: string, refresh_token?: string, csrf_token?: string, "
                 "token_type: 'bearer', expires_in: int, refresh_expires_in: int}"},
    {.method = "POST",
     .pattern = "/auth/logout",
     .handler = logout_handler,
     .access = ACCESS_USER,
     .body = &logout_schema,
     .tag = "auth",
     .summary = "Revoke the current access token and its session",
     .response_doc = "{message}",
     .response = "$Message"},
    {.method = "GET",
     .pattern = "/auth/csrf",
     .handler = csrf_handler,
     .access = ACCESS_PUBLIC,
     .tag = "auth",
     .summary = "The CSRF token of the browser's session cookie (null without one), for a page "
                "that reloaded",
     .response_doc = "{csrf_token}",
     .response = "{csrf_token: string|null}"},
    {.method = "GET",
     .pattern = "/auth/me",
     .handler = me_handler,
     .access = ACCESS_USER,
     .tag = "auth",
     .summary = "The current user",
     .response_doc = "user object",
     .response = "$User"},
    {.method = "POST",
     .pattern = "/auth/verify-email",
     .handler = verify_email_handler,
     .access = ACCESS_PUBLIC,
     .body = &verify_schema,
     .tag = "auth",
     .summary = "Verify the e-mail address with the code from the verification mail (once)",
     .response_doc = "{message, user_id, is_verified}",
     .response = "{message: string, user_id: string, is_verified: bool}"},
    {.method = "POST",
     .pattern = "/auth/resend-verification",
     .handler = resend_handler,
     .access = ACCESS_USER,
     .tag = "auth",
     .summary = "Send a new verification mail; the previous code stops working",
     .ok_status = 202,
     .response_doc = "{message}",
     .response = "$Message"},
    {NULL},
};
