/* orgs.c (store) - the support desk's tables (store/orgs.h). */
#include "store/orgs.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/analytics.h"
#include "store/db.h"
#include "store/store.h"
#include "store/store_int.h"

static const struct store_migration migrations[] = {
    {400, "support: organization plans, member roles, invitations",
     "ALTER TABLE organizations ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';"
     "CREATE TABLE org_members ("
     " user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
     " org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
     " role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'member')),"
     " created_at TEXT NOT NULL);"
     "CREATE INDEX org_members_org ON org_members(org_id, role);"
     "CREATE INDEX users_org ON users(organization_id);"
     "CREATE TABLE org_invitations ("
     " id TEXT PRIMARY KEY,"
     " org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
     " email TEXT NOT NULL, role TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,"
     " invited_by TEXT REFERENCES users(id) ON DELETE SET NULL,"
     " created_at TEXT NOT NULL, expires_at TEXT NOT NULL,"
     " accepted_at TEXT, revoked_at TEXT);"
     "CREATE INDEX org_invitations_org ON org_invitations(org_id, email);"},
    {401, "support: widget keys and sessions",
     "CREATE TABLE widget_keys ("
     " id TEXT PRIMARY KEY,"
     " org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
     " kind TEXT NOT NULL CHECK (kind IN ('publishable', 'secret')), name TEXT NOT NULL,"
     " prefix TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, origins TEXT NOT NULL DEFAULT '[]',"
     " created_at TEXT NOT NULL, last_used_at TEXT, revoked_at TEXT);"
     "CREATE INDEX widget_keys_org ON widget_keys(org_id);"
     "CREATE TABLE widget_key_origins ("
     " key_id TEXT NOT NULL REFERENCES widget_keys(id) ON DELETE CASCADE,"
     " origin TEXT NOT NULL, PRIMARY KEY (key_id, origin));"
     "CREATE INDEX widget_key_origins_origin ON widget_key_origins(origin);"
     "CREATE TABLE widget_conversations ("
     " id TEXT PRIMARY KEY,"
     " org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
     " visitor_id TEXT NOT NULL, origin TEXT,"
     " status TEXT NOT NULL DEFAULT 'open'"
     "  CHECK (status IN ('open', 'handoff_requested', 'escalated', 'closed')),"
     " priority TEXT, contact_email TEXT, handoff_requested_at TEXT,"
     " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
     "CREATE INDEX widget_conversations_org ON widget_conversations(org_id, updated_at);"
     "CREATE INDEX widget_conversations_status ON widget_conversations(org_id, status);"
     "CREATE TABLE widget_messages ("
     " id TEXT PRIMARY KEY,"
     " conversation_id TEXT NOT NULL REFERENCES widget_conversations(id) ON DELETE CASCADE,"
     " org_id TEXT NOT NULL,"
     " role TEXT NOT NULL CHECK (role IN ('visitor', 'assistant', 'agent', 'system')),"
     " body TEXT NOT NULL, sources TEXT, confidence REAL, feedback INTEGER,"
     " feedback_at TEXT, author_id TEXT REFERENCES users(id) ON DELETE SET NULL,"
     " internal INTEGER NOT NULL DEFAULT 0,"
     " created_at TEXT NOT NULL, seq INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX widget_messages_conv ON widget_messages(conversation_id, seq);"
     "CREATE INDEX widget_messages_org ON widget_messages(org_id, created_at);"
     "CREATE TABLE widget_sessions ("
     " id TEXT PRIMARY KEY,"
     " org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
     " key_id TEXT NOT NULL REFERENCES widget_keys(id) ON DELETE CASCADE,"
     " origin TEXT NOT NULL, visitor_id TEXT NOT NULL, ip TEXT,"
     " conversation_id TEXT NOT NULL REFERENCES widget_conversations(id) ON DELETE CASCADE,"
     " token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);"
     "CREATE INDEX widget_sessions_conv ON widget_sessions(conversation_id);"},
    {402, "support: per-organization daily usage",
     "CREATE TABLE org_usage ("
     " org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
     " day TEXT NOT NULL, resource TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '',"
     " user_id TEXT REFERENCES users(id) ON DELETE CASCADE,"
     " count INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (org_id, day, resource, subject));"},
};

void store_orgs_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

/* ---- organizations ---- */

void store_org_clear(struct store_org *o)
{
    free(o->settings);
    o->settings = NULL;
}

/* Reads organization id into out with sql, which selects ORG_COLS and, when members, the
 * member count after them. */
#define ORG_COLS "id, name, domain, plan, settings, created_at, updated_at"
static int org_read(const char *sql, const char *id, int members, struct store_org *out)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r, sql, "s", id);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) {
        cp(out->id, sizeof out->id, db_col_text(r, 0));
        cp(out->name, sizeof out->name, db_col_text(r, 1));
        cp(out->domain, sizeof out->domain, db_col_text(r, 2));
        cp(out->plan, sizeof out->plan, db_col_text(r, 3));
        out->settings = xstrdup(db_col_text(r, 4) ? db_col_text(r, 4) : "{}");
        cp(out->created_at, sizeof out->created_at, db_col_text(r, 5));
        cp(out->updated_at, sizeof out->updated_at, db_col_text(r, 6));
        out->members = members ? db_col_int(r, 7) : -1;
    }
    db_rows_free(r);
    return more == 1 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
}

int store_org_get(const char *id, struct store_org *out)
{
    memset(out, 0, sizeof *out);
    return org_read("SELECT " ORG_COLS ", (SELECT count(*) FROM users WHERE organization_id = o.id)"
                    " FROM organizations o WHERE id = ?",
                    id, 1, out);
}

/* ---- the organization as its members' requests read it (orgs.h) ---- */

enum { ORG_HINTS = 2048 };
static struct {
    char user_id[37], org_id[37];
} org_hints[ORG_HINTS];
static pthread_mutex_t hint_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t hint_slot(const char *user_id)
{
    return fnv1a(FNV1A_START, user_id, strlen(user_id)) % ORG_HINTS;
}

static void org_key(const char *org_id, char key[48])
{
    snprintf(key, 48, "org:%.36s", org_id);
}

void store_org_forget(const char *org_id)
{
    char key[48];
    org_key(org_id, key);
    cache_del(key);
}

void store_org_fetch_start(const char *user_id, struct store_org_fetch *f)
{
    memset(f, 0, sizeof *f);
    char org[37] = "";
    size_t i = hint_slot(user_id);
    pthread_mutex_lock(&hint_mu);
    if (!strcmp(org_hints[i].user_id, user_id)) cp(org, sizeof org, org_hints[i].org_id);
    pthread_mutex_unlock(&hint_mu);
    if (org[0]) store_org_fetch_org(org, f);
}

void store_org_fetch_org(const char *org_id, struct store_org_fetch *f)
{
    memset(f, 0, sizeof *f);
    char key[48];
    org_key(org_id, key);
    cp(f->org_id, sizeof f->org_id, org_id);
    f->ticket = cache_get_start(key);
}

void store_org_fetch_cancel(struct store_org_fetch *f)
{
    cache_get_cancel(f->ticket);
    f->ticket = 0;
}

/* A cached entry of org_id (NULL: not one) into out. */
static int org_from_json(json_t *j, const char *org_id, struct store_org *out)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *settings = json_string_value(json_object_get(j, "settings"));
    if (!id || strcmp(id, org_id) || !settings) return RAGD_ENOTFOUND;
#define S(f) cp(out->f, sizeof out->f, json_string_value(json_object_get(j, #f)))
    S(id);
    S(name);
    S(domain);
    S(plan);
    S(created_at);
    S(updated_at);
#undef S
    out->settings = xstrdup(settings);
    out->members = -1;
    return 0;
}

/* org_id from its cached entry j (taken; NULL: none) into out; else from the database, then
 * cached. */
static int org_cached(const char *org_id, json_t *j, struct store_org *out)
{
    memset(out, 0, sizeof *out);
    int rc = org_from_json(j, org_id, out);
    json_decref(j);
    if (!rc) return 0;
    char key[48];
    org_key(org_id, key);
    rc = org_read("SELECT " ORG_COLS " FROM organizations WHERE id = ?", org_id, 0, out);
    if (rc) return rc;
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", out->id, "name", out->name,
                          "domain", out->domain, "plan", out->plan, "settings", out->settings,
                          "created_at", out->created_at, "updated_at", out->updated_at);
    cache_set_json(key, e, STORE_ORG_TTL_S);
    json_decref(e);
    return 0;
}

int store_org_read(const char *id, struct store_org *out)
{
    char key[48];
    org_key(id, key);
    return org_cached(id, cache_get_json(key), out);
}

int store_org_fetch_finish(struct store_org_fetch *f, const char *user_id, const char *org_id,
                           struct store_org *out)
{
    int rc;
    if (f->ticket && !strcmp(f->org_id, org_id)) {
        size_t len = 0;
        char *v = cache_get_finish(f->ticket, &len);
        f->ticket = 0;
        rc = org_cached(org_id, v ? json_loadb(v, len, 0, NULL) : NULL, out);
        free(v);
    } else {
        store_org_fetch_cancel(f);
        rc = store_org_read(org_id, out);
    }
    if (rc || !user_id) return rc;
    size_t i = hint_slot(user_id);
    pthread_mutex_lock(&hint_mu);
    cp(org_hints[i].user_id, sizeof org_hints[i].user_id, user_id);
    cp(org_hints[i].org_id, sizeof org_hints[i].org_id, org_id);
    pthread_mutex_unlock(&hint_mu);
    return 0;
}

/* Makes user_id a member with role inside the caller's transaction: RAGD_ECONFLICT when
 * the user belongs to an organization already. */
static int join_locked(db_conn_t *c, const char *org_id, const char *user_id, const char *role,
                       const char *ts)
{
    int64_t changes = 0;
    int rc = db_exec(c, &changes,
                     "UPDATE users SET organization_id = ?, updated_at = ?"
                     " WHERE id = ? AND organization_id IS NULL",
                     "sss", org_id, ts, user_id);
    if (rc) return rc;
    if (changes != 1) return RAGD_ECONFLICT;
    rc = db_exec(c, NULL, "DELETE FROM org_members WHERE user_id = ?", "s", user_id);
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO org_members (user_id, org_id, role, created_at)"
                     " VALUES (?, ?, ?, ?)",
                     "ssss", user_id, org_id, role, ts);
    return rc;
}

int store_org_create_owned(const char *name, const char *domain, const char *plan,
                           const char *settings_json, const char *user_id, char id_out[37])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    now_iso(ts);
    uuid4(id_out);
    int rc = db_begin_for(c, user_id);
    if (rc) return rc;
    rc = db_exec(c, NULL,
                 "INSERT INTO organizations (id, name, domain, plan, settings, created_at,"
                 " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 "sssssss", id_out, name, nz(domain), plan, settings_json, ts, ts);
    if (!rc) rc = join_locked(c, id_out, user_id, "owner", ts);
    rc = finish(c, rc);
    store_user_forget(user_id);
    return rc;
}

int store_org_update(const char *id, const char *name, const char *plan, const char *settings_json)
{
    char ts[32];
    int64_t changes = 0;
    int rc = db_exec(db_conn(), &changes,
                     "UPDATE organizations SET name = coalesce(?, name), plan = coalesce(?, plan),"
                     " settings = coalesce(?, settings), updated_at = ? WHERE id = ?",
                     "sssss", name, plan, settings_json, now_iso(ts), id);
    if (!rc && changes == 0) rc = RAGD_ENOTFOUND;
    if (!rc) store_org_forget(id);
    return rc;
}

#define ORG_LIST_WHERE                                                                             \
    " WHERE (? IS NULL OR lower(o.name) LIKE lower(?) ESCAPE '\\'"                                 \
    " OR lower(coalesce(o.domain, '')) LIKE lower(?) ESCAPE '\\')"

static void org_list_row(db_rows_t *r, void *p)
{
    struct store_org_brief *o = p;
    cp(o->id, sizeof o->id, db_col_text(r, 0));
    cp(o->name, sizeof o->name, db_col_text(r, 1));
    cp(o->domain, sizeof o->domain, db_col_text(r, 2));
    cp(o->plan, sizeof o->plan, db_col_text(r, 3));
    cp(o->created_at, sizeof o->created_at, db_col_text(r, 4));
    o->members = db_col_int(r, 5);
}

int store_org_list(const char *q, int64_t limit, int64_t offset, struct store_org_brief **out,
                   size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char *like = q && *q ? store_like_pattern(q, "%", "%") : NULL;
    /* the page and, with each row, the count of all (column 6, a subquery evaluated once) */
    db_rows_t *r = NULL;
    int rc = db_query(c, &r,
                      "SELECT o.id, o.name, o.domain, o.plan, o.created_at,"
                      " (SELECT count(*) FROM users WHERE organization_id = o.id),"
                      " (SELECT count(*) FROM organizations o" ORG_LIST_WHERE ")"
                      " FROM organizations o" ORG_LIST_WHERE
                      " ORDER BY o.created_at DESC, o.id LIMIT ? OFFSET ?",
                      "ssssssii", like, like, like, like, like, like, limit, offset);
    void *arr = NULL;
    if (!rc) rc = store_page_collect(r, sizeof **out, org_list_row, NULL, 6, total, &arr, n);
    *out = arr;
    if (!rc && *n == 0 && offset > 0) /* a page past the end: the count alone */
        rc = db_query_int(c, total, "SELECT count(*) FROM organizations o" ORG_LIST_WHERE, "sss",
                          like, like, like);
    free(like);
    return rc;
}

/* ---- members ---- */

int store_org_member_role(const char *org_id, const char *user_id, char role[16])
{
    char *v = NULL;
    int rc = db_query_text(db_conn(), &v,
                           "SELECT coalesce(m.role, 'member') FROM users u"
                           " LEFT JOIN org_members m ON m.user_id = u.id AND m.org_id = ?"
                           " WHERE u.id = ? AND u.organization_id = ?",
                           "sss", org_id, user_id, org_id);
    if (!rc) {
        cp(role, 16, v);
        free(v);
    }
    return rc;
}

static void org_members_row(db_rows_t *r, void *p)
{
    struct store_org_member *m = p;
    cp(m->user_id, sizeof m->user_id, db_col_text(r, 0));
    cp(m->email, sizeof m->email, db_col_text(r, 1));
    cp(m->username, sizeof m->username, db_col_text(r, 2));
    cp(m->role, sizeof m->role, db_col_text(r, 3));
    cp(m->joined_at, sizeof m->joined_at, db_col_text(r, 4));
}

int store_org_members(const char *org_id, struct store_org_member **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT u.id, u.email, u.username, coalesce(m.role, 'member'),"
                      " coalesce(m.created_at, u.created_at) FROM users u"
                      " LEFT JOIN org_members m ON m.user_id = u.id AND m.org_id = ?"
                      " WHERE u.organization_id = ?"
                      " ORDER BY CASE coalesce(m.role, 'member') WHEN 'owner' THEN 0"
                      " WHEN 'admin' THEN 1 WHEN 'agent' THEN 2 ELSE 3 END, 5, 1",
                      "ss", org_id, org_id);
    if (rc) return rc;
    void *arr;
    rc = store_rows_collect(r, sizeof **out, org_members_row, NULL, &arr, n);
    *out = arr;
    return rc;
}

static int count_members(db_conn_t *c, const char *org_id, int64_t *n)
{
    return db_query_int(c, n, "SELECT count(*) FROM users WHERE organization_id = ?", "s", org_id);
}

int store_org_member_add(const char *org_id, const char *user_id, const char *role, int max_users)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    now_iso(ts);
    int rc = db_begin_for(c, org_id);
    if (rc) return rc;
    int64_t n = 0;
    rc = count_members(c, org_id, &n);
    if (!rc && max_users > 0 && n >= max_users) rc = RAGD_ELIMIT;
    if (!rc) rc = join_locked(c, org_id, user_id, role, ts);
    rc = finish(c, rc);
    store_user_forget(user_id);
    return rc;
}

/* Owners of org_id other than user_id, inside the caller's transaction. */
static int other_owners(db_conn_t *c, const char *org_id, const char *user_id, int64_t *n)
{
    return db_query_int(c, n,
                        "SELECT count(*) FROM org_members m JOIN users u ON u.id = m.user_id"
                        " WHERE m.org_id = ? AND u.organization_id = ? AND m.role = 'owner'"
                        " AND m.user_id <> ?",
                        "sss", org_id, org_id, user_id);
}

/* Locks org_id and reads user_id's role in it. */
static int begin_member(db_conn_t *c, const char *org_id, const char *user_id, char role[16])
{
    int rc = db_begin_for(c, org_id);
    if (rc) return rc;
    char *v = NULL;
    rc = db_query_text(c, &v,
                       "SELECT coalesce(m.role, 'member') FROM users u"
                       " LEFT JOIN org_members m ON m.user_id = u.id AND m.org_id = ?"
                       " WHERE u.id = ? AND u.organization_id = ?",
                       "sss", org_id, user_id, org_id);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    cp(role, 16, v);
    free(v);
    return 0;
}

int store_org_member_set_role(const char *org_id, const char *user_id, const char *role)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char cur[16], ts[32];
    int rc = begin_member(c, org_id, user_id, cur);
    if (rc) return rc;
    int64_t others = 0;
    if (!strcmp(cur, "owner") && strcmp(role, "owner")) {
        rc = other_owners(c, org_id, user_id, &others);
        if (!rc && others == 0) rc = RAGD_ECONFLICT;
    }
    if (!rc) rc = db_exec(c, NULL, "DELETE FROM org_members WHERE user_id = ?", "s", user_id);
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO org_members (user_id, org_id, role, created_at)"
                     " VALUES (?, ?, ?, ?)",
                     "ssss", user_id, org_id, role, now_iso(ts));
    return finish(c, rc);
}

int store_org_member_remove(const char *org_id, const char *user_id)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char cur[16], ts[32];
    int rc = begin_member(c, org_id, user_id, cur);
    if (rc) return rc;
    int64_t others = 0;
    if (!strcmp(cur, "owner")) {
        rc = other_owners(c, org_id, user_id, &others);
        if (!rc && others == 0) rc = RAGD_ECONFLICT;
    }
    if (!rc)
        rc =
            db_exec(c, NULL, "UPDATE users SET organization_id = NULL, updated_at = ? WHERE id = ?",
                    "ss", now_iso(ts), user_id);
    if (!rc) rc = db_exec(c, NULL, "DELETE FROM org_members WHERE user_id = ?", "s", user_id);
    rc = finish(c, rc);
    store_user_forget(user_id);
    return rc;
}

/* ---- invitations ---- */

int store_org_invite_create(const char *org_id, const char *email, const char *role,
                            const char *token_hash, const char *invited_by, int64_t expires_ms,
                            int max_users, char id_out[37])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32], exp[32];
    now_iso(ts);
    time_iso(expires_ms, exp);
    uuid4(id_out);
    int rc = db_begin_for(c, org_id);
    if (rc) return rc;
    rc = db_exec(c, NULL,
                 "UPDATE org_invitations SET revoked_at = ? WHERE org_id = ? AND email = ?"
                 " AND accepted_at IS NULL AND revoked_at IS NULL",
                 "sss", ts, org_id, email);
    int64_t members = 0, pending = 0;
    if (!rc) rc = count_members(c, org_id, &members);
    if (!rc)
        rc = db_query_int(c, &pending,
                          "SELECT count(*) FROM org_invitations WHERE org_id = ?"
                          " AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
                          "ss", org_id, ts);
    if (!rc && max_users > 0 && members + pending >= max_users) rc = RAGD_ELIMIT;
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO org_invitations (id, org_id, email, role, token_hash, invited_by,"
                     " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     "ssssssss", id_out, org_id, email, role, token_hash, invited_by, ts, exp);
    return finish(c, rc);
}

static void org_invites_row(db_rows_t *r, void *p)
{
    struct store_org_invite *v = p;
    cp(v->id, sizeof v->id, db_col_text(r, 0));
    cp(v->email, sizeof v->email, db_col_text(r, 1));
    cp(v->role, sizeof v->role, db_col_text(r, 2));
    cp(v->created_at, sizeof v->created_at, db_col_text(r, 3));
    cp(v->expires_at, sizeof v->expires_at, db_col_text(r, 4));
}

int store_org_invites(const char *org_id, struct store_org_invite **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char ts[32];
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT id, email, role, created_at, expires_at FROM org_invitations"
                      " WHERE org_id = ? AND accepted_at IS NULL AND revoked_at IS NULL"
                      " AND expires_at > ? ORDER BY created_at DESC LIMIT 500",
                      "ss", org_id, now_iso(ts));
    if (rc) return rc;
    void *arr;
    rc = store_rows_collect(r, sizeof **out, org_invites_row, NULL, &arr, n);
    *out = arr;
    return rc;
}

int store_org_invite_accept(const char *token_hash, const char *user_id, const char *email,
                            int (*max_of)(const char *org_id), char org_out[37], char role_out[16])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32], id[37];
    now_iso(ts);
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT id, org_id, role FROM org_invitations WHERE token_hash = ?"
                      " AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?"
                      " AND lower(email) = lower(?)",
                      "sss", token_hash, ts, email);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) {
        cp(id, sizeof id, db_col_text(r, 0));
        cp(org_out, 37, db_col_text(r, 1));
        cp(role_out, 16, db_col_text(r, 2));
    }
    db_rows_free(r);
    if (more != 1) return more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
    int max = max_of ? max_of(org_out) : 0;
    rc = db_begin_for(c, org_out);
    if (rc) return rc;
    int64_t changes = 0, members = 0;
    rc = db_exec(c, &changes,
                 "UPDATE org_invitations SET accepted_at = ? WHERE id = ? AND accepted_at IS NULL"
                 " AND revoked_at IS NULL",
                 "ss", ts, id);
    if (!rc && changes != 1) rc = RAGD_ENOTFOUND; /* used meanwhile */
    if (!rc) rc = count_members(c, org_out, &members);
    if (!rc && max > 0 && members >= max) rc = RAGD_ELIMIT;
    if (!rc) rc = join_locked(c, org_out, user_id, role_out, ts);
    rc = finish(c, rc);
    store_user_forget(user_id);
    return rc;
}

/* ---- widget keys ---- */

void store_wkey_clear(struct store_wkey *k)
{
    free(k->origins);
    k->origins = NULL;
}

void store_wkeys_free(struct store_wkey *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_wkey_clear(&k[i]);
    free(k);
}

static void wkeys_free_v(void *arr, size_t n)
{
    store_wkeys_free(arr, n);
}

#define WKEY_COLS "id, org_id, kind, name, prefix, origins, created_at, last_used_at, revoked_at"

static void wkey_row(db_rows_t *r, void *p)
{
    struct store_wkey *k = p;
    memset(k, 0, sizeof *k);
    cp(k->id, sizeof k->id, db_col_text(r, 0));
    cp(k->org_id, sizeof k->org_id, db_col_text(r, 1));
    cp(k->kind, sizeof k->kind, db_col_text(r, 2));
    cp(k->name, sizeof k->name, db_col_text(r, 3));
    cp(k->prefix, sizeof k->prefix, db_col_text(r, 4));
    k->origins = xstrdup(db_col_text(r, 5) ? db_col_text(r, 5) : "[]");
    cp(k->created_at, sizeof k->created_at, db_col_text(r, 6));
    cp(k->last_used_at, sizeof k->last_used_at, db_col_text(r, 7));
    cp(k->revoked_at, sizeof k->revoked_at, db_col_text(r, 8));
}

/* origins[0..n) as a JSON array of strings (they are validated origins: no escaping needed
 * beyond what json_dumps would do, so it is built with an sbuf of quoted names). */
static char *origins_json(const char *const *origins, size_t n)
{
    struct sbuf b;
    sb_init(&b);
    sb_adds(&b, "[");
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "%s\"%s\"", i ? "," : "", origins[i]);
    sb_adds(&b, "]");
    return sb_take(&b);
}

static int insert_key(db_conn_t *c, const char *id, const char *org_id, const char *kind,
                      const char *name, const char *prefix, const char *hash, const char *origins,
                      const char *ts)
{
    return db_exec(c, NULL,
                   "INSERT INTO widget_keys (id, org_id, kind, name, prefix, key_hash, origins,"
                   " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssssssss", id, org_id, kind, name, prefix, hash, origins, ts);
}

int store_wkey_create(const char *org_id, const char *kind, const char *name, const char *prefix,
                      const char *hash, const char *const *origins, size_t norigins, int max,
                      char id_out[37])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    now_iso(ts);
    uuid4(id_out);
    char *oj = origins_json(origins, norigins);
    int rc = db_begin_for(c, org_id);
    if (rc) {
        free(oj);
        return rc;
    }
    int64_t live = 0;
    rc = db_query_int(c, &live,
                      "SELECT count(*) FROM widget_keys WHERE org_id = ? AND revoked_at IS NULL",
                      "s", org_id);
    if (!rc && max > 0 && live >= max) rc = RAGD_ELIMIT;
    if (!rc) rc = insert_key(c, id_out, org_id, kind, name, prefix, hash, oj, ts);
    for (size_t i = 0; !rc && i < norigins; i++)
        rc = db_exec(c, NULL,
                     "INSERT INTO widget_key_origins (key_id, origin) VALUES (?, ?)"
                     " ON CONFLICT (key_id, origin) DO NOTHING",
                     "ss", id_out, origins[i]);
    free(oj);
    return finish(c, rc);
}

int store_wkeys(const char *org_id, struct store_wkey **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT " WKEY_COLS " FROM widget_keys WHERE org_id = ?"
                      " ORDER BY revoked_at IS NOT NULL, created_at DESC LIMIT 500",
                      "s", org_id);
    if (rc) return rc;
    void *arr;
    rc = store_rows_collect(r, sizeof **out, wkey_row, wkeys_free_v, &arr, n);
    *out = arr;
    return rc;
}

int store_wkey_revoke(const char *org_id, const char *key_id)
{
    char ts[32];
    int64_t changes = 0;
    int rc = db_exec(db_conn(), &changes,
                     "UPDATE widget_keys SET revoked_at = ? WHERE id = ? AND org_id = ?"
                     " AND revoked_at IS NULL",
                     "sss", now_iso(ts), key_id, org_id);
    return rc ? rc : changes == 1 ? 0 : RAGD_ENOTFOUND;
}

int store_wkey_rotate(const char *org_id, const char *key_id, const char *prefix, const char *hash,
                      char new_id[37])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    now_iso(ts);
    uuid4(new_id);
    int rc = db_begin_for(c, org_id);
    if (rc) return rc;
    db_rows_t *r;
    rc = db_query(c, &r,
                  "SELECT " WKEY_COLS " FROM widget_keys WHERE id = ? AND org_id = ?"
                  " AND revoked_at IS NULL",
                  "ss", key_id, org_id);
    if (rc) return finish(c, rc);
    struct store_wkey k;
    int more = db_rows_next(r);
    if (more == 1) wkey_row(r, &k);
    db_rows_free(r);
    if (more != 1) return finish(c, more < 0 ? RAGD_EDB : RAGD_ENOTFOUND);
    rc = db_exec(c, NULL, "UPDATE widget_keys SET revoked_at = ? WHERE id = ?", "ss", ts, key_id);
    if (!rc) rc = insert_key(c, new_id, org_id, k.kind, k.name, prefix, hash, k.origins, ts);
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO widget_key_origins (key_id, origin)"
                     " SELECT ?, origin FROM widget_key_origins WHERE key_id = ?",
                     "ss", new_id, key_id);
    store_wkey_clear(&k);
    return finish(c, rc);
}

int store_wkey_lookup(const char *hash, const char *origin, struct store_wkey *out)
{
    db_conn_t *c = db_conn();
    db_rows_t *r;
    int rc = db_query(c, &r,
                      "SELECT " WKEY_COLS ", (SELECT count(*) FROM widget_key_origins o"
                      " WHERE o.key_id = widget_keys.id AND o.origin = ?) FROM widget_keys"
                      " WHERE key_hash = ? AND revoked_at IS NULL",
                      "ss", origin, hash);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) {
        wkey_row(r, out);
        out->origin_ok = db_col_int(r, 9) > 0;
    }
    db_rows_free(r);
    if (more != 1) return more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
    int64_t last = 0, now = time_now_ms();
    if (!out->last_used_at[0] || time_parse_iso(out->last_used_at, &last) || now - last > 60000) {
        char ts[32]; /* best effort, at most once a minute */
        db_exec(c, NULL, "UPDATE widget_keys SET last_used_at = ? WHERE id = ?", "ss",
                time_iso(now, ts), out->id);
    }
    return 0;
}

int store_wkey_origin_known(const char *origin)
{
    int64_t n = 0;
    int rc = db_query_int(db_conn(), &n,
                          "SELECT count(*) FROM widget_key_origins o"
                          " JOIN widget_keys k ON k.id = o.key_id"
                          " WHERE o.origin = ? AND k.revoked_at IS NULL",
                          "s", origin);
    return !rc && n > 0;
}

/* ---- widget sessions ---- */

int store_wsession_create(const char *org_id, const char *key_id, const char *origin,
                          const char *visitor_id, const char *ip, const char *token_hash,
                          int64_t expires_ms, char id_out[37], char conv_out[37])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    int64_t now = time_now_ms();
    time_iso(now, ts);
    uuid4(id_out);
    uuid4(conv_out);
    /* New rows only: keyed by the new conversation, so that no session waits for another,
     * and one round trip on PostgreSQL. */
    int rc = db_begin_batch(c, conv_out);
    if (rc) return rc;
    rc = db_exec(c, NULL,
                 "INSERT INTO widget_conversations (id, org_id, visitor_id, origin, status,"
                 " created_at, updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?)",
                 "ssssss", conv_out, org_id, visitor_id, origin, ts, ts);
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO widget_sessions (id, org_id, key_id, origin, visitor_id, ip,"
                     " conversation_id, token_hash, created_at, created_ms, expires_ms)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     "sssssssssii", id_out, org_id, key_id, origin, visitor_id, ip, conv_out,
                     token_hash, ts, now, expires_ms);
    if (!rc) rc = store_analytics_touch(c, org_id, ts); /* analytics: a conversation */
    return finish(c, rc);
}

int store_wsession_lookup(const char *hash, struct store_wsession *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT s.id, s.org_id, s.key_id, s.origin, s.visitor_id, s.conversation_id,"
                      " s.expires_ms, s.created_ms FROM widget_sessions s"
                      " JOIN widget_keys k ON k.id = s.key_id"
                      " WHERE s.token_hash = ? AND k.revoked_at IS NULL",
                      "s", hash);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) {
        cp(out->id, sizeof out->id, db_col_text(r, 0));
        cp(out->org_id, sizeof out->org_id, db_col_text(r, 1));
        cp(out->key_id, sizeof out->key_id, db_col_text(r, 2));
        cp(out->origin, sizeof out->origin, db_col_text(r, 3));
        cp(out->visitor_id, sizeof out->visitor_id, db_col_text(r, 4));
        cp(out->conversation_id, sizeof out->conversation_id, db_col_text(r, 5));
        out->expires_ms = db_col_int(r, 6);
        out->created_ms = db_col_int(r, 7);
    }
    db_rows_free(r);
    return more == 1 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
}

int store_wsession_touch(const char *id, int64_t expires_ms)
{
    return db_exec(db_conn(), NULL,
                   "UPDATE widget_sessions SET expires_ms = ? WHERE id = ? AND expires_ms < ?",
                   "isi", expires_ms, id, expires_ms);
}

/* ---- conversations and messages ---- */

int store_wconv_get(const char *org_id, const char *id, struct store_wconv *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT id, status, contact_email, created_at, updated_at"
                      " FROM widget_conversations WHERE id = ? AND org_id = ?",
                      "ss", id, org_id);
    if (rc) return rc;
    int more = db_rows_next(r);
    if (more == 1) {
        cp(out->id, sizeof out->id, db_col_text(r, 0));
        cp(out->status, sizeof out->status, db_col_text(r, 1));
        cp(out->contact_email, sizeof out->contact_email, db_col_text(r, 2));
        cp(out->created_at, sizeof out->created_at, db_col_text(r, 3));
        cp(out->updated_at, sizeof out->updated_at, db_col_text(r, 4));
    }
    db_rows_free(r);
    return more == 1 ? 0 : more < 0 ? RAGD_EDB : RAGD_ENOTFOUND;
}

void store_wmsgs_free(struct store_wmsg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].body);
        free(m[i].sources);
    }
    free(m);
}

static void wmsgs_free_v(void *arr, size_t n)
{
    store_wmsgs_free(arr, n);
}

int store_wmsg_add(const char *conv_id, const char *org_id, const struct store_wmsg_new *m,
                   char id_out[37])
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32];
    now_iso(ts);
    uuid4(id_out);
    /* Keyed by the conversation; nothing needs an answer before the COMMIT, so on PostgreSQL
     * the whole append is one round trip. The message takes the conversation's next seq in its
     * own INSERT. */
    int rc = db_begin_batch(c, conv_id);
    if (rc) return rc;
    int scored = m->sentiment_label != NULL;
    rc =
        db_exec(c, NULL,
                "INSERT INTO widget_messages (id, conversation_id, org_id, role, body, sources,"
                " confidence, author_id, created_at, internal, sentiment_label, sentiment_score,"
                " sentiment_polarity, sentiment_priority, tokens, latency_ms, seq)"
                " SELECT ?, ?, ?, ?, ?, ?, CASE WHEN ? >= 0 THEN ? END, ?, ?, ?, ?,"
                " CASE WHEN ? = 1 THEN ? END, CASE WHEN ? = 1 THEN ? END, ?,"
                " CASE WHEN ? >= 0 THEN ? END, CASE WHEN ? >= 0 THEN ? END,"
                " coalesce(max(seq), 0) + 1 FROM widget_messages WHERE conversation_id = ?",
                "ssssssddssbsbdbdsiiiis", id_out, conv_id, org_id, m->role, m->body,
                m->sources_json, m->confidence, m->confidence, m->author_id, ts, m->internal,
                m->sentiment_label, scored, m->sentiment_score, scored, m->sentiment_polarity,
                m->sentiment_priority, m->tokens, m->tokens, m->latency_ms, m->latency_ms, conv_id);
    if (!rc)
        rc = db_exec(c, NULL, "UPDATE widget_conversations SET updated_at = ? WHERE id = ?", "ss",
                     ts, conv_id);
    /* A visitor message's sentiment goes into the conversation's running means:
     * mean' = (mean * n + x) / (n + 1). */
    if (!rc && scored)
        rc =
            db_exec(c, NULL,
                    "UPDATE widget_conversations SET sentiment_label = ?,"
                    " sentiment_score = (coalesce(sentiment_score, 0) * visitor_messages + ?)"
                    "  / (visitor_messages + 1),"
                    " sentiment_polarity = (coalesce(sentiment_polarity, 0) * visitor_messages"
                    "  + ?) / (visitor_messages + 1),"
                    " visitor_messages = visitor_messages + 1 WHERE id = ?",
                    "sdds", m->sentiment_label, m->sentiment_score, m->sentiment_polarity, conv_id);
    if (!rc) rc = store_analytics_touch_msg(c, id_out); /* analytics: a message */
    return finish(c, rc);
}

int store_wmsg_add_agent(const char *conv_id, const char *org_id, const char *author_id,
                         const char *body, int internal, char id_out[37])
{
    struct store_wmsg_new m = {.role = "agent",
                               .body = body,
                               .confidence = -1,
                               .author_id = author_id,
                               .internal = internal,
                               .tokens = -1,
                               .latency_ms = -1};
    return store_wmsg_add(conv_id, org_id, &m, id_out);
}

int store_wconv_set_status(const char *org_id, const char *conv_id, const char *status,
                           const char *priority)
{
    static const char *const ok[] = {"open", "handoff_requested", "escalated", "closed"};
    int known = 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        known |= !strcmp(status, ok[i]);
    if (!known) return RAGD_EINVAL;
    char ts[32];
    int64_t changes = 0;
    int rc = db_exec(db_conn(), &changes,
                     "UPDATE widget_conversations SET status = ?, priority = coalesce(?, priority),"
                     " updated_at = ? WHERE id = ? AND org_id = ?",
                     "sssss", status, priority, now_iso(ts), conv_id, org_id);
    return rc ? rc : changes == 1 ? 0 : RAGD_ENOTFOUND;
}

static void wmsgs_row(db_rows_t *r, void *p)
{
    struct store_wmsg *m = p;
    cp(m->id, sizeof m->id, db_col_text(r, 0));
    cp(m->role, sizeof m->role, db_col_text(r, 1));
    m->body = xstrdup(db_col_text(r, 2) ? db_col_text(r, 2) : "");
    m->sources = db_col_text(r, 3) ? xstrdup(db_col_text(r, 3)) : NULL;
    m->has_confidence = !db_col_null(r, 4);
    m->confidence = m->has_confidence ? db_col_double(r, 4) : 0;
    m->feedback = db_col_null(r, 5) ? 0 : (int)db_col_int(r, 5);
    cp(m->created_at, sizeof m->created_at, db_col_text(r, 6));
}

int store_wmsgs(const char *conv_id, int64_t limit, struct store_wmsg **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT id, role, body, sources, confidence, feedback, created_at FROM ("
                      " SELECT * FROM widget_messages WHERE conversation_id = ? AND internal = 0"
                      " ORDER BY seq DESC LIMIT ?) t ORDER BY seq",
                      "si", conv_id, limit);
    if (rc) return rc;
    void *arr;
    rc = store_rows_collect(r, sizeof **out, wmsgs_row, wmsgs_free_v, &arr, n);
    *out = arr;
    return rc;
}

int store_wmsg_feedback(const char *conv_id, const char *msg_id, int value)
{
    char ts[32];
    int64_t changes = 0;
    int rc = db_exec(db_conn(), &changes,
                     "UPDATE widget_messages SET feedback = ?, feedback_at = ? WHERE id = ?"
                     " AND conversation_id = ? AND role = 'assistant'",
                     "isss", (int64_t)value, now_iso(ts), msg_id, conv_id);
    if (!rc && changes == 1) rc = store_analytics_touch_msg(db_conn(), msg_id); /* analytics */
    return rc ? rc : changes == 1 ? 0 : RAGD_ENOTFOUND;
}

int store_wconv_handoff(const char *conv_id, const char *email, const char *note)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char ts[32], mid[37];
    now_iso(ts);
    uuid4(mid);
    int rc = db_begin_for(c, conv_id);
    if (rc) return rc;
    rc = db_exec(c, NULL,
                 "UPDATE widget_conversations SET status = CASE WHEN status IN ('escalated',"
                 " 'closed') THEN status ELSE 'handoff_requested' END,"
                 " contact_email = coalesce(?, contact_email),"
                 " handoff_requested_at = coalesce(handoff_requested_at, ?), updated_at = ?"
                 " WHERE id = ?",
                 "ssss", nz(email), ts, ts, conv_id);
    int64_t seq = 0;
    if (!rc)
        rc = db_query_int(c, &seq,
                          "SELECT coalesce(max(seq), 0) + 1 FROM widget_messages"
                          " WHERE conversation_id = ?",
                          "s", conv_id);
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT INTO widget_messages (id, conversation_id, org_id, role, body,"
                     " created_at, seq) SELECT ?, id, org_id, 'system', ?, ?, ?"
                     " FROM widget_conversations WHERE id = ?",
                     "sssis", mid, note, ts, seq, conv_id);
    if (!rc) rc = store_analytics_touch_conv(c, conv_id); /* analytics: a handoff */
    return finish(c, rc);
}

/* ---- usage ---- */

static void today(char day[11])
{
    char ts[32];
    time_iso(time_now_ms(), ts);
    memcpy(day, ts, 10);
    day[10] = '\0';
}

int store_org_usage_take(const char *org_id, const char *resource, const char *subject, int64_t n,
                         int64_t limit, int64_t *used)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char day[11];
    today(day);
    if (limit <= 0 && !used) /* nothing to check or report: the upsert alone is atomic */
        return db_exec(c, NULL,
                       "INSERT INTO org_usage (org_id, day, resource, subject, user_id, count)"
                       " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, day, resource, subject)"
                       " DO UPDATE SET count = org_usage.count + excluded.count",
                       "sssssi", org_id, day, resource, subject, nz(subject), n);
    /* One statement: the row is added to, or started, only where the sum stays within the
     * limit (limit <= 0: none), and its count comes back; no row back is a refusal. */
    if (limit <= 0) limit = INT64_MAX;
    int64_t after = 0;
    int rc =
        db_query_int(c, &after,
                     "INSERT INTO org_usage (org_id, day, resource, subject, user_id, count)"
                     " SELECT ?, ?, ?, ?, ?, ? WHERE ? <= ?"
                     " ON CONFLICT (org_id, day, resource, subject)"
                     " DO UPDATE SET count = org_usage.count + excluded.count"
                     " WHERE org_usage.count + excluded.count <= ? RETURNING count",
                     "sssssiiii", org_id, day, resource, subject, nz(subject), n, n, limit, limit);
    if (!rc) {
        if (used) *used = after;
        return 0;
    }
    if (rc != RAGD_ENOTFOUND) return rc;
    if (used && store_org_usage_get(org_id, resource, subject, used)) *used = 0;
    return RAGD_ELIMIT;
}

int store_org_usage_add_both(const char *org_id, const char *resource, const char *user_id,
                             int64_t n)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char day[11];
    today(day);
    return db_exec(c, NULL,
                   "INSERT INTO org_usage (org_id, day, resource, subject, user_id, count)"
                   " VALUES (?, ?, ?, '', NULL, ?), (?, ?, ?, ?, ?, ?)"
                   " ON CONFLICT (org_id, day, resource, subject)"
                   " DO UPDATE SET count = org_usage.count + excluded.count",
                   "sssisssssi", org_id, day, resource, n, org_id, day, resource, user_id, user_id,
                   n);
}

int store_org_usage_get(const char *org_id, const char *resource, const char *subject,
                        int64_t *used)
{
    char day[11];
    today(day);
    *used = 0;
    int rc = db_query_int(db_conn(), used,
                          "SELECT count FROM org_usage WHERE org_id = ? AND day = ?"
                          " AND resource = ? AND subject = ?",
                          "ssss", org_id, day, resource, subject);
    return rc == RAGD_ENOTFOUND ? 0 : rc;
}
