/* orgs.c (api) - /organizations: organizations, members, invitations and widget keys.
 *
 * Access: every route needs a signed-in user. A caller who is not a member of the
 * organization in the path gets 404 ORGANIZATION_NOT_FOUND (its existence is not
 * revealed); a member whose organization role lacks the permission (support/orgs.h) gets 403
 * ORG_PERMISSION_DENIED. A platform admin with users.manage acts as an owner everywhere.
 * GET /admin/organizations lists every organization for the console (users.read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/roles.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "support/orgs.h"
#include "support/widget.h"

static const char *const org_roles[] = {"owner", "admin", "agent", "member", NULL};
static const char *const key_kinds[] = {"publishable", "secret", NULL};

/* ---- access ---- */

/* The organization of the path and the caller's role in it, or an answer (404 / 403). */
struct org_ctx {
    struct store_org o;
    char role[16];
};

static void ctx_free(void *p)
{
    struct org_ctx *c = p;
    store_org_clear(&c->o);
    free(c);
}

static struct org_ctx *org_access(struct req *r, const char *perm)
{
    const struct user *u = api_user(r);
    const char *id = req_param(r, "id");
    struct org_ctx *c = xcalloc(1, sizeof *c);
    req_set_slot(r, SLOT_APP, c, ctx_free);
    int rc = uuid_valid(id) ? store_org_member_role(id, u->id, c->role) : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND && uuid_valid(id) && roles_allows(u->role, "users.manage")) {
        snprintf(c->role, sizeof c->role, "owner"); /* platform admin */
        rc = 0;
    }
    if (!rc) rc = store_org_get(id, &c->o);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "ORGANIZATION_NOT_FOUND", "No such organization of yours");
        return NULL;
    }
    if (rc) {
        http_store_error(r, rc);
        return NULL;
    }
    if (perm && !orgs_role_allows(c->role, perm)) {
        http_error_json(r, 403, "ORG_PERMISSION_DENIED",
                        json_pack("{s:s, s:s, s:s}", "message",
                                  "Your organization role does not allow this", "required", perm,
                                  "role", c->role));
        return NULL;
    }
    return c;
}

static json_t *org_json(const struct store_org *o, const char *role)
{
    json_error_t je;
    json_t *s = json_loads(o->settings ? o->settings : "{}", 0, &je);
    const struct orgs_plan *p = orgs_plan(o->plan);
    int64_t widget = 0, messages = 0;
    store_org_usage_get(o->id, "widget_messages", "", &widget);
    store_org_usage_get(o->id, "messages", "", &messages);
    json_t *usage = json_pack(
        "{s:I, s:i, s:I, s:o}", "widget_messages", (json_int_t)widget, "widget_messages_limit",
        p ? p->widget_messages_per_day : 0, "messages", (json_int_t)messages, "messages_limit",
        orgs_limit(o, "messages_per_day") ? json_integer(orgs_limit(o, "messages_per_day"))
                                          : json_null());
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:I, s:i, s:s, s:o, s:s, s:o}", "id", o->id, "name",
                     o->name, "domain", o->domain[0] ? json_string(o->domain) : json_null(), "plan",
                     o->plan, "settings", s ? s : json_object(), "member_count",
                     (json_int_t)o->members, "max_users", orgs_max_users(o), "created_at",
                     o->created_at, "updated_at",
                     o->updated_at[0] ? json_string(o->updated_at) : json_null(), "your_role", role,
                     "usage_today", usage);
}

/* ---- organizations ---- */

static const struct jv_field create_fields[] = {
    {"name", JV_STRING, 1, 1, 100, 0, NULL, "The organization's name"},
    {"domain", JV_STRING, 0, 3, 253, 1, NULL, "Its web domain (unique), e.g. example.com"},
    {NULL},
};
static const struct jv_schema create_schema = {create_fields, 0};

static void create(struct req *r)
{
    json_t *b = req_json(r);
    const struct user *u = api_user(r);
    char id[37];
    int rc = orgs_create(u, jv_str(b, "name", ""), jv_str(b, "domain", NULL), id);
    if (rc == RAGD_ECONFLICT) {
        http_error(r, 409, "ALREADY_IN_ORGANIZATION",
                   "You already belong to an organization; leave it first");
        return;
    }
    if (rc == RAGD_EEXIST) {
        http_error(r, 409, "DOMAIN_TAKEN", "Another organization has that domain");
        return;
    }
    struct store_org o;
    if (!rc) rc = store_org_get(id, &o);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s}", "name", o.name);
    api_audit(r, "org.create", "organization", id, d);
    json_decref(d);
    http_json(r, 201, org_json(&o, "owner"));
    store_org_clear(&o);
}

static void get_org(struct req *r)
{
    struct org_ctx *c = org_access(r, "org.read");
    if (c) http_json(r, 200, org_json(&c->o, c->role));
}

static const struct jv_field patch_fields[] = {
    {"name", JV_STRING, 0, 1, 100, 1, NULL, "New name"},
    {"settings", JV_OBJECT, 0, 0, 0, 1, NULL,
     "Settings to change, merged into the current ones: max_users, features_enabled, widget "
     "{title, greeting, primary_color, text_color, position, sessions_per_minute}, limits "
     "{requests_per_minute, messages_per_day}"},
    {"plan", JV_STRING, 0, 0, 0, 1, (const char *const[]){"free", "pro", "enterprise", NULL},
     "The organization's plan (platform admins only)"},
    {NULL},
};
static const struct jv_schema patch_schema = {patch_fields, 0};

static void patch_org(struct req *r)
{
    struct org_ctx *c = org_access(r, "org.settings");
    if (!c) return;
    json_t *b = req_json(r);
    const char *plan = jv_str(b, "plan", NULL);
    if (plan && !roles_allows(api_user(r)->role, "plans.manage")) {
        http_error(r, 403, "ORG_PERMISSION_DENIED", "Only a platform admin changes the plan");
        return;
    }
    const struct orgs_plan *p = orgs_plan(plan ? plan : c->o.plan);
    if (!p) p = orgs_plan("free");
    json_error_t je;
    json_t *cur = json_loads(c->o.settings ? c->o.settings : "{}", 0, &je);
    if (!json_is_object(cur)) {
        json_decref(cur);
        cur = json_object();
    }
    json_t *in = json_object_get(b, "settings");
    if (json_is_object(in)) {
        /* widget and limits are merged key by key, the rest replaced per key */
        const char *k;
        json_t *v;
        json_object_foreach(in, k, v)
        {
            json_t *old = json_object_get(cur, k);
            if ((!strcmp(k, "widget") || !strcmp(k, "limits")) && json_is_object(v) &&
                json_is_object(old))
                json_object_update(old, v);
            else
                json_object_set(cur, k, v);
        }
    }
    const char *field;
    char err[256];
    if (orgs_settings_check(cur, p, &field, err, sizeof err)) {
        json_decref(cur);
        api_invalid(r, field, "%s", err);
        return;
    }
    char *txt = in ? json_dumps(cur, JSON_COMPACT) : NULL;
    json_decref(cur);
    int rc = store_org_update(c->o.id, jv_str(b, "name", NULL), plan, txt);
    free(txt);
    struct store_org o;
    if (!rc) rc = store_org_get(c->o.id, &o);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    api_audit(r, "org.update", "organization", o.id, b);
    http_json(r, 200, org_json(&o, c->role));
    store_org_clear(&o);
}

/* ---- members ---- */

static json_t *member_json(const struct store_org_member *m)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:s}", "user_id", m->user_id, "email", m->email,
                     "username", m->username[0] ? json_string(m->username) : json_null(), "role",
                     m->role, "joined_at", m->joined_at);
}

static void list_members(struct req *r)
{
    struct org_ctx *c = org_access(r, "org.read");
    if (!c) return;
    struct store_org_member *ms;
    size_t n;
    int rc = store_org_members(c->o.id, &ms, &n);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    int managers = orgs_role_allows(c->role, "members.invite");
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *m = member_json(&ms[i]);
        int64_t used = 0;
        if (managers && !store_org_usage_get(c->o.id, "messages", ms[i].user_id, &used))
            json_object_set_new(m, "messages_today", json_integer(used));
        json_array_append_new(a, m);
    }
    free(ms);
    json_t *out = json_pack("{s:o, s:I, s:i}", "members", a, "total", (json_int_t)n, "max_users",
                            orgs_max_users(&c->o));
    if (managers) {
        struct store_org_invite *iv;
        size_t ni;
        if (!store_org_invites(c->o.id, &iv, &ni)) {
            json_t *ia = json_array();
            for (size_t i = 0; i < ni; i++)
                json_array_append_new(ia, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", iv[i].id,
                                                    "email", iv[i].email, "role", iv[i].role,
                                                    "created_at", iv[i].created_at, "expires_at",
                                                    iv[i].expires_at));
            free(iv);
            json_object_set_new(out, "invitations", ia);
        }
    }
    http_json(r, 200, out);
}

static const struct jv_field add_fields[] = {
    {"email", JV_STRING, 1, 3, 254, 0, NULL, "The person's e-mail address"},
    {"role", JV_STRING, 0, 0, 0, 1, org_roles, "owner, admin, agent or member (default)"},
    {NULL},
};
static const struct jv_schema add_schema = {add_fields, 0};

static void add_member(struct req *r)
{
    struct org_ctx *c = org_access(r, "members.invite");
    if (!c) return;
    json_t *b = req_json(r);
    const char *email_in = jv_str(b, "email", ""), *role = jv_str(b, "role", "member");
    if (!email_valid(email_in)) {
        api_invalid(r, "email", "field 'email' must be an e-mail address");
        return;
    }
    if (!orgs_may_assign(c->role, NULL, role)) {
        http_error(r, 403, "ORG_PERMISSION_DENIED",
                   "Your organization role cannot give the role %s", role);
        return;
    }
    char email[256];
    size_t i = 0;
    for (; email_in[i] && i + 1 < sizeof email; i++)
        email[i] =
            (char)(email_in[i] >= 'A' && email_in[i] <= 'Z' ? email_in[i] + 32 : email_in[i]);
    email[i] = '\0';
    struct orgs_added a;
    int rc = orgs_add_member(&c->o, api_user(r), email, role, &a);
    if (rc == RAGD_ECONFLICT) {
        http_error(r, 409, "ALREADY_IN_ORGANIZATION", "That account belongs to an organization");
        return;
    }
    if (rc == RAGD_ELIMIT) {
        http_error_json(r, 409, "MAX_USERS_REACHED",
                        json_pack("{s:s, s:i}", "message",
                                  "The organization has reached its max_users", "max_users",
                                  orgs_max_users(&c->o)));
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s, s:s, s:b}", "email", email, "role", role, "invited", a.invited);
    api_audit(r, a.invited ? "org.member.invite" : "org.member.add", "organization", c->o.id, d);
    json_decref(d);
    if (!a.invited) {
        struct store_org_member m = {0};
        snprintf(m.user_id, sizeof m.user_id, "%s", a.user_id);
        snprintf(m.email, sizeof m.email, "%s", email);
        snprintf(m.role, sizeof m.role, "%s", role);
        time_iso(time_now_ms(), m.joined_at);
        http_json(r, 201, json_pack("{s:s, s:o}", "status", "added", "member", member_json(&m)));
        return;
    }
    json_t *out = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "status", "invited", "invitation",
                            "id", a.invitation_id, "email", email, "role", role, "expires_at",
                            a.expires_at, "delivery", a.mailed ? "email" : "manual");
    if (a.token[0]) json_object_set_new(out, "invite_token", json_string(a.token));
    http_json(r, 201, out);
}

static const struct jv_field role_fields[] = {
    {"role", JV_STRING, 1, 0, 0, 0, org_roles, "owner, admin, agent or member"},
    {NULL},
};
static const struct jv_schema role_schema = {role_fields, 0};

/* The target member's current role, or an answer. */
static int target_role(struct req *r, struct org_ctx *c, const char *uid, char role[16])
{
    int rc = uuid_valid(uid) ? store_org_member_role(c->o.id, uid, role) : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND)
        http_error(r, 404, "MEMBER_NOT_FOUND", "No such member of this organization");
    else if (rc)
        http_store_error(r, rc);
    return rc;
}

static void set_role(struct req *r)
{
    struct org_ctx *c = org_access(r, "members.roles");
    if (!c) return;
    const char *uid = req_param(r, "user_id"), *role = jv_str(req_json(r), "role", "");
    char cur[16];
    if (target_role(r, c, uid, cur)) return;
    if (!orgs_may_assign(c->role, cur, role)) {
        http_error(r, 403, "ORG_PERMISSION_DENIED",
                   "Your organization role cannot change a %s into a %s", cur, role);
        return;
    }
    int rc = store_org_member_set_role(c->o.id, uid, role);
    if (rc == RAGD_ECONFLICT) {
        http_error(r, 409, "LAST_OWNER",
                   "The organization needs an owner: make someone else owner first");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s, s:s, s:s}", "user_id", uid, "from", cur, "to", role);
    api_audit(r, "org.member.role", "organization", c->o.id, d);
    json_decref(d);
    http_json(r, 200, json_pack("{s:s, s:s}", "user_id", uid, "role", role));
}

static void remove_member(struct req *r)
{
    const char *uid = req_param(r, "user_id");
    const struct user *u = api_user(r);
    int self = uuid_valid(uid) && !strcmp(uid, u->id);
    struct org_ctx *c = org_access(r, self ? "org.read" : "members.remove");
    if (!c) return;
    char cur[16];
    if (target_role(r, c, uid, cur)) return;
    if (!self && !orgs_may_assign(c->role, cur, NULL)) {
        http_error(r, 403, "ORG_PERMISSION_DENIED", "Your organization role cannot remove a %s",
                   cur);
        return;
    }
    int rc = store_org_member_remove(c->o.id, uid);
    if (rc == RAGD_ECONFLICT) {
        http_error(r, 409, "LAST_OWNER",
                   "The organization needs an owner: make someone else owner first");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s, s:s}", "user_id", uid, "role", cur);
    api_audit(r, "org.member.remove", "organization", c->o.id, d);
    json_decref(d);
    http_json(r, 200, json_pack("{s:s, s:s}", "status", "removed", "user_id", uid));
}

static const struct jv_field join_fields[] = {
    {"token", JV_STRING, 1, 8, 100, 0, NULL, "The invitation code from the e-mail"},
    {NULL},
};
static const struct jv_schema join_schema = {join_fields, 0};

static void join(struct req *r)
{
    const struct user *u = api_user(r);
    char org[37], role[16];
    int rc = orgs_accept(u, jv_str(req_json(r), "token", ""), org, role);
    if (rc == RAGD_ECONFLICT) {
        http_error(r, 409, "ALREADY_IN_ORGANIZATION", "You already belong to an organization");
        return;
    }
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "INVITATION_NOT_FOUND",
                   "No pending invitation for your address has that code (used, expired or "
                   "replaced?)");
        return;
    }
    if (rc == RAGD_ELIMIT) {
        http_error(r, 409, "MAX_USERS_REACHED", "The organization has reached its max_users");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s}", "role", role);
    api_audit(r, "org.member.join", "organization", org, d);
    json_decref(d);
    http_json(
        r, 200,
        json_pack("{s:s, s:s, s:s}", "status", "joined", "organization_id", org, "role", role));
}

/* ---- widget keys ---- */

static json_t *key_json(const struct store_wkey *k)
{
    json_error_t je;
    json_t *origins = json_loads(k->origins ? k->origins : "[]", 0, &je);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:b}", "id", k->id, "kind", k->kind,
                     "name", k->name, "prefix", k->prefix, "allowed_origins",
                     origins ? origins : json_array(), "created_at", k->created_at, "last_used_at",
                     k->last_used_at[0] ? json_string(k->last_used_at) : json_null(), "revoked_at",
                     k->revoked_at[0] ? json_string(k->revoked_at) : json_null(), "active",
                     !k->revoked_at[0]);
}

static void list_keys(struct req *r)
{
    struct org_ctx *c = org_access(r, "widget_keys.manage");
    if (!c) return;
    struct store_wkey *ks;
    size_t n;
    int rc = store_wkeys(c->o.id, &ks, &n);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, key_json(&ks[i]));
    store_wkeys_free(ks, n);
    http_json(r, 200, json_pack("{s:o}", "keys", a));
}

static const struct jv_field key_fields[] = {
    {"kind", JV_STRING, 0, 0, 0, 1, key_kinds, "publishable (default; web pages) or secret"},
    {"name", JV_STRING, 0, 1, 100, 1, NULL, "A label"},
    {"allowed_origins", JV_ARRAY, 0, 0, STORE_WKEY_ORIGINS_MAX, 1, NULL,
     "Publishable keys: the sites that may use it, as origins (https://shop.example.com)"},
    {NULL},
};
static const struct jv_schema key_schema = {key_fields, 0};

static json_t *newkey_json(const struct widget_newkey *k, const char *kind)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", k->id, "key", k->key, "prefix", k->prefix,
                     "kind", kind, "note", "Store this key now: it is not shown again");
}

static void create_key(struct req *r)
{
    struct org_ctx *c = org_access(r, "widget_keys.manage");
    if (!c) return;
    json_t *b = req_json(r);
    const char *kind = jv_str(b, "kind", "publishable");
    json_t *arr = json_object_get(b, "allowed_origins");
    size_t n = json_array_size(arr);
    const char *origins[STORE_WKEY_ORIGINS_MAX];
    if (!strcmp(kind, "publishable") && n == 0) {
        api_invalid(r, "allowed_origins", "a publishable key needs at least one allowed origin");
        return;
    }
    if (!strcmp(kind, "secret") && n > 0) {
        api_invalid(r, "allowed_origins", "a secret key has no origins (servers only)");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        origins[i] = json_string_value(json_array_get(arr, i));
        if (!origins[i] || !widget_origin_valid(origins[i])) {
            api_invalid(r, "allowed_origins",
                        "each origin is scheme://host[:port] in lower case, http or https, "
                        "without a path");
            return;
        }
    }
    struct widget_newkey k;
    int rc = widget_key_create(&c->o, kind, jv_str(b, "name", "Widget"), origins, n, &k);
    if (rc == RAGD_ELIMIT) {
        http_error(r, 409, "WIDGET_KEY_LIMIT", "The organization's plan allows no more live keys");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s, s:s, s:O}", "kind", kind, "prefix", k.prefix, "allowed_origins",
                          arr ? arr : json_null());
    api_audit(r, "org.widget_key.create", "widget_key", k.id, d);
    json_decref(d);
    json_t *out = newkey_json(&k, kind);
    json_object_set_new(out, "allowed_origins", arr ? json_incref(arr) : json_array());
    memset(&k, 0, sizeof k);
    http_json(r, 201, out);
}

static void rotate_key(struct req *r)
{
    struct org_ctx *c = org_access(r, "widget_keys.manage");
    if (!c) return;
    const char *kid = req_param(r, "key_id");
    struct widget_newkey k;
    int rc = widget_key_rotate(c->o.id, kid, &k);
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "WIDGET_KEY_NOT_FOUND", "No live widget key of this organization");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *d = json_pack("{s:s, s:s}", "replaced", kid, "prefix", k.prefix);
    api_audit(r, "org.widget_key.rotate", "widget_key", k.id, d);
    json_decref(d);
    json_t *out = newkey_json(&k, k.key[0] == 's' ? "secret" : "publishable");
    json_object_set_new(out, "replaces", json_string(kid));
    memset(&k, 0, sizeof k);
    http_json(r, 201, out);
}

static void revoke_key(struct req *r)
{
    struct org_ctx *c = org_access(r, "widget_keys.manage");
    if (!c) return;
    const char *kid = req_param(r, "key_id");
    int rc = uuid_valid(kid) ? store_wkey_revoke(c->o.id, kid) : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "WIDGET_KEY_NOT_FOUND", "No live widget key of this organization");
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    api_audit(r, "org.widget_key.revoke", "widget_key", kid, NULL);
    http_json(r, 200, json_pack("{s:s, s:s}", "status", "revoked", "id", kid));
}

/* ---- the platform's list (console) ---- */

static void admin_list(struct req *r)
{
    long long limit, offset;
    if (req_query_int(r, "limit", 50, 1, 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    const char *q = req_query(r, "q");
    if (q && strlen(q) > 100) {
        api_invalid(r, "q", "query parameter 'q' must be at most 100 bytes");
        return;
    }
    struct store_org_brief *rows;
    size_t n;
    int64_t total;
    int rc = store_org_list(q, limit, offset, &rows, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            items,
            json_pack("{s:s, s:s, s:o, s:s, s:I, s:s}", "id", rows[i].id, "name", rows[i].name,
                      "domain", rows[i].domain[0] ? json_string(rows[i].domain) : json_null(),
                      "plan", rows[i].plan, "members", (json_int_t)rows[i].members, "created_at",
                      rows[i].created_at));
    free(rows);
    http_json(r, 200,
              json_pack("{s:I, s:o, s:I, s:I}", "total", (json_int_t)total, "items", items, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset));
}

const struct route orgs_routes[] = {
    {.method = "POST",
     .pattern = "/organizations",
     .handler = create,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &create_schema,
     .tag = "organizations",
     .summary = "Create an organization; the caller becomes its owner (409 "
                "ALREADY_IN_ORGANIZATION when they belong to one)",
     .ok_status = 201,
     .response_doc = "Organization",
     .response = "$Organization"},
    {.method = "GET",
     .pattern = "/admin/organizations",
     .handler = admin_list,
     .access = ACCESS_ADMIN,
     .tag = "admin",
     .summary = "Every organization, newest first; query: q (part of the name or domain), "
                "limit (1-500), offset",
     .response_doc = "{total, items: [{id, name, domain, plan, members, created_at}], limit, "
                     "offset}",
     .response = "{total: int, items: [{id: string, name: string, domain: string|null, plan: "
                 "string, members: int, created_at: string}], limit: int, offset: int}",
     .perm = "users.read"},
    {.method = "POST",
     .pattern = "/organizations/join",
     .handler = join,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &join_schema,
     .tag = "organizations",
     .summary = "Accept an invitation (the code mailed to the caller's address)",
     .response_doc = "{status, organization_id, role}",
     .response = "{status: string, organization_id: string, role: string}"},
    {.method = "GET",
     .pattern = "/organizations/{id}",
     .handler = get_org,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "organizations",
     .summary = "An organization of the caller",
     .response_doc = "Organization {id, name, plan, settings, member_count, your_role, ...}",
     .response = "$Organization"},
    {.method = "PATCH",
     .pattern = "/organizations/{id}",
     .handler = patch_org,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &patch_schema,
     .tag = "organizations",
     .summary = "Change the name or settings (owner, admin); the plan (platform admin)",
     .response_doc = "Organization",
     .response = "$Organization"},
    {.method = "GET",
     .pattern = "/organizations/{id}/members",
     .handler = list_members,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "organizations",
     .summary = "Members with their roles; pending invitations for owners and admins",
     .response_doc = "{members, total, max_users, invitations}",
     .response = "{members: [{user_id: string, email: string, username: string|null, role: "
                 "string, joined_at: string, messages_today?: int}], total: int, max_users: int, "
                 "invitations?: [{id: string, email: string, role: string, created_at?: string, "
                 "expires_at: string, delivery?: string}]}"},
    {.method = "POST",
     .pattern = "/organizations/{id}/members",
     .handler = add_member,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &add_schema,
     .tag = "organizations",
     .summary = "Add an account by e-mail, or invite an address without one",
     .ok_status = 201,
     .response_doc = "{status: added | invited, member | invitation}",
     .response = "{status: 'added'|'invited', member?: {user_id: string, email: string, "
                 "username: string|null, role: string, joined_at: string, messages_today?: int}, "
                 "invitation?: {id: string, email: string, role: string, created_at?: string, "
                 "expires_at: string, delivery?: string}, invite_token?: string}"},
    {.method = "PATCH",
     .pattern = "/organizations/{id}/members/{user_id}",
     .handler = set_role,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &role_schema,
     .tag = "organizations",
     .summary = "Change a member's role",
     .response_doc = "{user_id, role}",
     .response = "{user_id: string, role: string}"},
    {.method = "DELETE",
     .pattern = "/organizations/{id}/members/{user_id}",
     .handler = remove_member,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "organizations",
     .summary = "Remove a member, or leave (the last owner cannot)",
     .response_doc = "{status, user_id}",
     .response = "{status: string, user_id: string}"},
    {.method = "GET",
     .pattern = "/organizations/{id}/widget-keys",
     .handler = list_keys,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "widget",
     .summary = "The organization's widget keys (never the keys themselves)",
     .response_doc = "{keys}",
     .response = "{keys: [{id: string, kind: 'publishable'|'secret', name: string|null, prefix: "
                 "string, allowed_origins: [string], created_at: string, last_used_at: "
                 "string|null, revoked_at: string|null, active: bool}]}"},
    {.method = "POST",
     .pattern = "/organizations/{id}/widget-keys",
     .handler = create_key,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &key_schema,
     .tag = "widget",
     .summary = "Create a publishable (pk_, with allowed origins) or secret (sk_) widget key; "
                "the key is shown once",
     .ok_status = 201,
     .response_doc = "{id, key, prefix, kind, allowed_origins}",
     .response = "{id: string, key: string, prefix: string, kind: 'publishable'|'secret', note: "
                 "string, allowed_origins: [string]}"},
    {.method = "POST",
     .pattern = "/organizations/{id}/widget-keys/{key_id}/rotate",
     .handler = rotate_key,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "widget",
     .summary = "Replace a key by a new one (the old one stops working)",
     .ok_status = 201,
     .response_doc = "{id, key, prefix, kind, replaces}",
     .response = "{id: string, key: string, prefix: string, kind: 'publishable'|'secret', note: "
                 "string, replaces: string}"},
    {.method = "DELETE",
     .pattern = "/organizations/{id}/widget-keys/{key_id}",
     .handler = revoke_key,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "widget",
     .summary = "Revoke a key; its widget sessions end",
     .response_doc = "{status, id}",
     .response = "$StatusId"},
    {NULL},
};
