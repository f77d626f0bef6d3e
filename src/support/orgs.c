/* orgs.c - organizations, their roles, plans, settings, members and invitations. */
#include "support/orgs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "limits/limiter.h"
#include "ops/mail.h"
#include "support/tickets.h"

/* ---- roles ---- */

static const char *const role_names[] = {"owner", "admin", "agent", "member", NULL};

/* Bits per role: owner, admin, agent, member (the table in orgs.h). */
static const struct {
    const char *perm;
    unsigned roles;
} perms[] = {
    {"org.read", 0xf},       {"org.settings", 0x3},   {"members.invite", 0x3},
    {"members.remove", 0x3}, {"members.roles", 0x3},  {"widget_keys.manage", 0x3},
    {"tickets.read", 0x7},   {"analytics.read", 0x3},
};

static int role_bit(const char *role)
{
    for (int i = 0; role && role_names[i]; i++)
        if (!strcmp(role, role_names[i])) return 1 << i;
    return 0;
}

int orgs_role_valid(const char *role)
{
    return role_bit(role) != 0;
}

int orgs_role_allows(const char *role, const char *perm)
{
    unsigned bit = (unsigned)role_bit(role);
    for (size_t i = 0; bit && i < sizeof perms / sizeof perms[0]; i++)
        if (!strcmp(perms[i].perm, perm)) return (perms[i].roles & bit) != 0;
    return 0;
}

int orgs_may_assign(const char *actor, const char *current_role, const char *target_role)
{
    if (actor && !strcmp(actor, "owner")) return 1;
    if (!actor || strcmp(actor, "admin")) return 0;
    int cur_ok = !current_role || !strcmp(current_role, "agent") || !strcmp(current_role, "member");
    int tgt_ok = !target_role || !strcmp(target_role, "agent") || !strcmp(target_role, "member");
    return cur_ok && tgt_ok;
}

/* ---- plans ---- */

static const struct orgs_plan plans[] = {
    {"free", 5, 3, 30, 200, 1000, 120},
    {"pro", 50, 20, 300, 10000, 50000, 1200},
    {"enterprise", 1000, 100, 3000, 200000, 0, 12000},
};

const struct orgs_plan *orgs_plan(const char *name)
{
    for (size_t i = 0; name && i < sizeof plans / sizeof plans[0]; i++)
        if (!strcmp(plans[i].name, name)) return &plans[i];
    return NULL;
}

/* ---- settings ---- */

static const char *const features[] = {"chat", "search", "analytics", "widget", "tickets", NULL};

json_t *orgs_default_settings(const struct orgs_plan *p)
{
    json_t *s = json_pack(
        "{s:i, s:[sssss], s:{s:s, s:s, s:s, s:s, s:s, s:i}, s:{s:i}}", "max_users", p->max_users,
        "features_enabled", "chat", "search", "analytics", "widget", "tickets", "widget", "title",
        "Support", "greeting", "Hi! Ask me anything about our products.", "primary_color",
        "#2563eb", "text_color", "#ffffff", "position", "bottom-right", "sessions_per_minute",
        p->widget_sessions_per_minute, "limits", "requests_per_minute", p->requests_per_minute);
    if (p->messages_per_day > 0)
        json_object_set_new(json_object_get(s, "limits"), "messages_per_day",
                            json_integer(p->messages_per_day));
    return s;
}

static int color_ok(const char *s)
{
    size_t n = strlen(s);
    if (s[0] != '#' || (n != 4 && n != 7)) return 0;
    for (size_t i = 1; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

static int bad(const char **field, const char *f, char *err, size_t cap, const char *msg)
{
    *field = f;
    snprintf(err, cap, "%s", msg);
    return RAGD_EINVAL;
}

static int int_in(json_t *v, long long lo, long long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* A string of at most max characters (UTF-8 code points). */
static int text_ok(json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    return s && utf8_len(s, strlen(s)) <= max;
}

int orgs_settings_check(json_t *s, const struct orgs_plan *p, const char **field, char *err,
                        size_t cap)
{
    if (!json_is_object(s)) return bad(field, "settings", err, cap, "settings must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v)
    {
        if (!strcmp(key, "max_users")) {
            if (!int_in(v, 1, p->max_users)) {
                *field = "settings.max_users";
                snprintf(err, cap, "max_users must be an integer from 1 to %d (the %s plan's)",
                         p->max_users, p->name);
                return RAGD_EINVAL;
            }
        } else if (!strcmp(key, "features_enabled")) {
            size_t i;
            json_t *f;
            if (!json_is_array(v))
                return bad(field, "settings.features_enabled", err, cap,
                           "features_enabled must be an array of feature names");
            json_array_foreach(v, i, f)
            {
                if (!json_is_string(f) || !in_list(json_string_value(f), features))
                    return bad(field, "settings.features_enabled", err, cap,
                               "features_enabled takes chat, search, analytics, widget, tickets");
            }
        } else if (!strcmp(key, "widget")) {
            if (!json_is_object(v))
                return bad(field, "settings.widget", err, cap, "widget must be an object");
            const char *wk;
            json_t *w;
            json_object_foreach(v, wk, w)
            {
                if (!strcmp(wk, "title")) {
                    if (!text_ok(w, 60))
                        return bad(field, "settings.widget.title", err, cap,
                                   "title must be a string of at most 60 characters");
                } else if (!strcmp(wk, "greeting")) {
                    if (!text_ok(w, 280))
                        return bad(field, "settings.widget.greeting", err, cap,
                                   "greeting must be a string of at most 280 characters");
                } else if (!strcmp(wk, "primary_color") || !strcmp(wk, "text_color")) {
                    if (!json_is_string(w) || !color_ok(json_string_value(w)))
                        return bad(field, "settings.widget.color", err, cap,
                                   "colours are \"#rgb\" or \"#rrggbb\"");
                } else if (!strcmp(wk, "position")) {
                    const char *pos = json_string_value(w);
                    if (!pos || (strcmp(pos, "bottom-right") && strcmp(pos, "bottom-left")))
                        return bad(field, "settings.widget.position", err, cap,
                                   "position is bottom-right or bottom-left");
                } else if (!strcmp(wk, "sessions_per_minute")) {
                    if (!int_in(w, 1, p->widget_sessions_per_minute)) {
                        *field = "settings.widget.sessions_per_minute";
                        snprintf(err, cap, "sessions_per_minute must be from 1 to %d",
                                 p->widget_sessions_per_minute);
                        return RAGD_EINVAL;
                    }
                } else {
                    *field = "settings.widget";
                    snprintf(err, cap, "unknown widget setting '%.64s'", wk);
                    return RAGD_EINVAL;
                }
            }
        } else if (!strcmp(key, "limits")) {
            if (!json_is_object(v))
                return bad(field, "settings.limits", err, cap, "limits must be an object");
            const char *lk;
            json_t *l;
            json_object_foreach(v, lk, l)
            {
                long long hi = !strcmp(lk, "requests_per_minute") ? p->requests_per_minute
                               : !strcmp(lk, "messages_per_day")
                                   ? (p->messages_per_day > 0 ? p->messages_per_day : 1000000000)
                                   : -1;
                if (hi < 0) {
                    *field = "settings.limits";
                    snprintf(err, cap, "unknown limit '%.64s'", lk);
                    return RAGD_EINVAL;
                }
                if (!int_in(l, 1, hi)) {
                    *field = "settings.limits";
                    snprintf(err, cap, "%s must be an integer from 1 to %lld (the %s plan's)", lk,
                             hi, p->name);
                    return RAGD_EINVAL;
                }
            }
        } else if (!strcmp(key, "escalation") || !strcmp(key, "sla")) {
            int rc = tickets_settings_check(!strcmp(key, "escalation") ? v : NULL,
                                            !strcmp(key, "sla") ? v : NULL, field, err, cap);
            if (rc) return rc;
        } else {
            *field = "settings";
            snprintf(err, cap, "unknown setting '%.64s'", key);
            return RAGD_EINVAL;
        }
    }
    return 0;
}

static json_t *settings_of(const struct store_org *o)
{
    json_error_t je;
    json_t *s = json_loads(o->settings ? o->settings : "{}", 0, &je);
    return json_is_object(s) ? s : (json_decref(s), json_object());
}

int orgs_max_users(const struct store_org *o)
{
    const struct orgs_plan *p = orgs_plan(o->plan);
    int cap = p ? p->max_users : plans[0].max_users;
    json_t *s = settings_of(o);
    json_t *v = json_object_get(s, "max_users");
    int n = json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < cap
                ? (int)json_integer_value(v)
                : cap;
    json_decref(s);
    return n;
}

int orgs_feature_on(const struct store_org *o, const char *feature)
{
    json_t *s = settings_of(o);
    json_t *list = json_object_get(s, "features_enabled");
    int on = !json_is_array(list);
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        if (json_is_string(f) && !strcmp(json_string_value(f), feature)) on = 1;
    }
    json_decref(s);
    return on;
}

/* ---- quotas of members' requests ---- */

static int64_t limit_of(const struct store_org *o, const char *name, int64_t cap);

int64_t orgs_limit(const struct store_org *o, const char *name)
{
    const struct orgs_plan *p = orgs_plan(o->plan);
    if (!p) p = &plans[0];
    int64_t cap = !strcmp(name, "requests_per_minute") ? p->requests_per_minute
                  : !strcmp(name, "messages_per_day")  ? p->messages_per_day
                                                       : 0;
    return limit_of(o, name, cap);
}

/* settings.limits.<name> of o capped by cap (> 0), or 0 when o sets none. */
static int64_t limit_of(const struct store_org *o, const char *name, int64_t cap)
{
    json_t *s = settings_of(o);
    json_t *v = json_object_get(json_object_get(s, "limits"), name);
    int64_t n = json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
    json_decref(s);
    return cap > 0 && n > cap ? cap : n;
}

int orgs_quota_check(const struct store_org *o, const char *resource, struct orgs_refusal *ref)
{
    const char *org_id = o->id;
    const struct orgs_plan *p = orgs_plan(o->plan);
    if (!p) p = &plans[0];
    int64_t rpm = limit_of(o, "requests_per_minute", p->requests_per_minute);
    int64_t mpd = limit_of(o, "messages_per_day", p->messages_per_day);
    char key[96];
    snprintf(key, sizeof key, "org:req:%s", org_id);
    struct limit_result lr;
    if (rpm > 0 && !limiter_take(key, rpm, 60000, 1, 0, &lr) && !lr.allowed) {
        int64_t s = (lr.retry_after_ms + 999) / 1000;
        *ref = (struct orgs_refusal){"ORG_RATE_LIMITED",
                                     "Your organization's requests per minute are used up",
                                     s > 0 ? s : 1};
        return RAGD_ELIMIT;
    }
    if (strcmp(resource, "messages") || mpd <= 0) return 0;
    int64_t used = 0;
    if (store_org_usage_get(org_id, "messages", "", &used)) return 0;
    if (used < mpd) return 0;
    int64_t now = time_now_ms();
    *ref = (struct orgs_refusal){"ORG_QUOTA_EXCEEDED",
                                 "Your organization's messages for today are used up",
                                 (86400000 - now % 86400000 + 999) / 1000};
    return RAGD_ELIMIT;
}

void orgs_quota_record(const char *org_id, const char *user_id, const char *resource)
{
    int rc = store_org_usage_add_both(org_id, resource, user_id, 1);
    if (rc)
        log_json(LOG_WARN, "organization usage not counted",
                 json_pack("{s:s, s:s, s:s}", "org_id", org_id, "resource", resource, "error",
                           ragd_strerror(rc)));
}

/* ---- operations ---- */

int orgs_create(const struct user *u, const char *name, const char *domain, char id_out[37])
{
    if (u->organization_id[0]) return RAGD_ECONFLICT;
    const struct orgs_plan *p = orgs_plan("free");
    json_t *s = orgs_default_settings(p);
    char *txt = json_dumps(s, JSON_COMPACT);
    json_decref(s);
    int rc = store_org_create_owned(name, domain, p->name, txt, u->id, id_out);
    free(txt);
    return rc;
}

static int max_of(const char *org_id)
{
    struct store_org o;
    if (store_org_read(org_id, &o)) return 0;
    int n = orgs_max_users(&o);
    store_org_clear(&o);
    return n;
}

int orgs_add_member(const struct store_org *o, const struct user *actor, const char *email,
                    const char *role, struct orgs_added *out)
{
    memset(out, 0, sizeof *out);
    struct user u = {0};
    int rc = store_user_get_by_email(email, &u);
    if (!rc) {
        snprintf(out->user_id, sizeof out->user_id, "%s", u.id);
        store_user_clear(&u);
        return store_org_member_add(o->id, out->user_id, role, orgs_max_users(o));
    }
    if (rc != RAGD_ENOTFOUND) return rc;

    /* No account: an invitation, its token kept as a hash. */
    unsigned char raw[24];
    char hash[65];
    rand_bytes(raw, sizeof raw);
    memcpy(out->token, "inv_", 4);
    b64url_encode(raw, sizeof raw, out->token + 4);
    sha256_hex(out->token, strlen(out->token), hash);
    int64_t exp = time_now_ms() + (int64_t)ORGS_INVITE_DAYS * 86400000;
    time_iso(exp, out->expires_at);
    out->invited = 1;
    rc = store_org_invite_create(o->id, email, role, hash, actor->id, exp, orgs_max_users(o),
                                 out->invitation_id);
    if (rc) {
        memset(out->token, 0, sizeof out->token);
        return rc;
    }
    if (!mail_enabled()) return 0; /* the inviter passes the token on */
    const char *base = config_str("PUBLIC_BASE_URL", "");
    char subject[512];
    snprintf(subject, sizeof subject, "You are invited to join %.400s", o->name);
    char *body = xasprintf("%s invited you to join the organization \"%s\" as %s.\n\n"
                           "Create an account with this address, then accept with this code "
                           "(POST /organizations/join {\"token\": ...}):\n\n    %s\n\n%s%s%s"
                           "The invitation expires at %s.\n",
                           actor->email, o->name, role, out->token, base[0] ? "Or open " : "", base,
                           base[0] ? "/?invite=<the code>\n\n" : "", out->expires_at);
    rc = mail_send(email, subject, body);
    free(body);
    if (!rc) {
        out->mailed = 1;
        memset(out->token, 0, sizeof out->token); /* sent: not shown to the inviter */
    }
    return 0;
}

int orgs_accept(const struct user *u, const char *token, char org_out[37], char role_out[16])
{
    if (u->organization_id[0]) return RAGD_ECONFLICT;
    char hash[65];
    sha256_hex(token, strlen(token), hash);
    return store_org_invite_accept(hash, u->id, u->email, max_of, org_out, role_out);
}
