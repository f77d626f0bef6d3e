#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "cache/cache.h"
#include "core/config.h"
#include "store/audit.h"
#include "store/store_billing.h"
#include "store/store_int.h"

/* ---- migrations ---- */

static const struct store_migration core_migrations[] = {
    {1, "core: organizations, users, tokens, audit, kv",
     "CREATE TABLE organizations ("
     " id TEXT PRIMARY KEY, name TEXT NOT NULL, domain TEXT UNIQUE,"
     " settings TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT);"
     "CREATE TABLE users ("
     " id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, username TEXT UNIQUE,"
     " hashed_password TEXT NOT NULL, is_active INTEGER NOT NULL DEFAULT 1,"
     " is_verified INTEGER NOT NULL DEFAULT 0, is_superuser INTEGER NOT NULL DEFAULT 0,"
     " subscription_plan TEXT NOT NULL DEFAULT 'free',"
     " organization_id TEXT REFERENCES organizations(id) ON DELETE SET NULL,"
     " preferences TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT,"
     " last_login_at TEXT, failed_login_count INTEGER NOT NULL DEFAULT 0, locked_until TEXT);"
     "CREATE INDEX users_plan ON users(subscription_plan);"
     "CREATE TABLE refresh_tokens ("
     " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " family_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,"
     " expires_at TEXT NOT NULL, revoked_at TEXT);"
     "CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);"
     "CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);"
     "CREATE TABLE revoked_access_tokens (jti TEXT PRIMARY KEY, expires_at TEXT NOT NULL);"
     "CREATE TABLE audit_log ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, actor_id TEXT,"
     " actor_email TEXT, action TEXT NOT NULL, target_type TEXT, target_id TEXT,"
     " details TEXT NOT NULL DEFAULT '{}', request_id TEXT, ip TEXT);"
     "CREATE INDEX audit_log_action ON audit_log(action, id);"
     "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);"},
    {2, "core: session watermark, lockout backoff, registration origin, usernames ignore case",
     "ALTER TABLE users ADD COLUMN tokens_valid_after INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE users ADD COLUMN lockout_level INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE users ADD COLUMN lock_bypass_until INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE users ADD COLUMN created_from TEXT;"
     "CREATE INDEX users_created_from ON users(created_from, created_at);"
     "CREATE UNIQUE INDEX users_username_ci ON users(lower(username));"},
    /* Roles (auth/roles.h): the accounts that were superusers become admins; nobody is a
     * super_admin until SUPER_ADMIN_EMAIL, an emergency token or another super_admin says so. */
    {350, "roles: users.role",
     "ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user'"
     " CHECK (role IN ('user', 'viewer', 'support', 'ops', 'admin', 'super_admin'));"
     "UPDATE users SET role = 'admin' WHERE is_superuser = 1;"
     "CREATE INDEX users_role ON users(role);"},
};

enum { MAX_MIGRATIONS = 64 };
static const struct store_migration *migrations[MAX_MIGRATIONS];
static int n_migrations;

void store_register_migrations(const struct store_migration *m, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n_migrations; j++)
            if (migrations[j]->version == m[i].version) {
                if (migrations[j] == &m[i]) goto next;
                panic("migration version %d registered twice", m[i].version);
            }
        if (n_migrations == MAX_MIGRATIONS) panic("too many migrations");
        migrations[n_migrations++] = &m[i];
    next:;
    }
}

static int by_version(const void *a, const void *b)
{
    const struct store_migration *x = *(const struct store_migration *const *)a;
    const struct store_migration *y = *(const struct store_migration *const *)b;
    return x->version - y->version;
}

int store_migrate(void)
{
    store_register_migrations(core_migrations,
                              (int)(sizeof core_migrations / sizeof core_migrations[0]));
    store_audit_register(); /* the audit log's columns and append-only triggers */
    qsort(migrations, (size_t)n_migrations, sizeof migrations[0], by_version);
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_script(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                          " applied_at TEXT NOT NULL)");
    if (rc) return rc;
    for (int i = 0; i < n_migrations; i++) {
        const struct store_migration *m = migrations[i];
        if ((rc = db_begin(c))) return rc;
        int64_t have = 0;
        rc = db_query_int(c, &have, "SELECT count(*) FROM schema_migrations WHERE version = ?", "i",
                          (int64_t)m->version);
        if (!rc && !have) {
            char ts[32];
            rc = db_script(c, m->sql);
            if (!rc)
                rc = db_exec(c, NULL,
                             "INSERT INTO schema_migrations(version, name, applied_at)"
                             " VALUES (?, ?, ?)",
                             "iss", (int64_t)m->version, m->name, time_iso(time_now_ms(), ts));
            if (!rc)
                log_json(LOG_INFO, "migration applied",
                         json_pack("{s:i, s:s}", "version", m->version, "name", m->name));
        }
        if (rc) {
            db_rollback(c);
            log_json(LOG_ERROR, "migration failed", json_pack("{s:i}", "version", m->version));
            return rc;
        }
        if ((rc = db_commit(c))) return rc;
    }
    return 0;
}

int store_schema_version(int *version)
{
    int64_t v = 0;
    int rc =
        db_query_int(db_conn(), &v, "SELECT coalesce(max(version), 0) FROM schema_migrations", "");
    *version = (int)v;
    return rc;
}

/* ---- users ---- */

static int session_ttl_s = 3600;

void store_cache_init(void)
{
    session_ttl_s = (int)config_int("CACHE_SESSION_TTL_SECONDS", 3600, 0, 86400 * 7);
}

#define USER_COLS                                                                                  \
    "id, email, username, hashed_password, is_active, is_verified, is_superuser,"                  \
    " subscription_plan, organization_id, preferences, created_at, updated_at, last_login_at,"     \
    " failed_login_count, locked_until, tokens_valid_after, lockout_level, role"

static void user_from_row(db_rows_t *r, struct user *u)
{
    memset(u, 0, sizeof *u);
    cp(u->id, sizeof u->id, db_col_text(r, 0));
    cp(u->email, sizeof u->email, db_col_text(r, 1));
    cp(u->username, sizeof u->username, db_col_text(r, 2));
    cp(u->hashed_password, sizeof u->hashed_password, db_col_text(r, 3));
    u->is_active = (int)db_col_int(r, 4);
    u->is_verified = (int)db_col_int(r, 5);
    u->is_superuser = (int)db_col_int(r, 6);
    cp(u->subscription_plan, sizeof u->subscription_plan, db_col_text(r, 7));
    cp(u->organization_id, sizeof u->organization_id, db_col_text(r, 8));
    u->preferences = xstrdup(db_col_text(r, 9) ? db_col_text(r, 9) : "{}");
    cp(u->created_at, sizeof u->created_at, db_col_text(r, 10));
    cp(u->updated_at, sizeof u->updated_at, db_col_text(r, 11));
    cp(u->last_login_at, sizeof u->last_login_at, db_col_text(r, 12));
    u->failed_login_count = (int)db_col_int(r, 13);
    cp(u->locked_until, sizeof u->locked_until, db_col_text(r, 14));
    u->tokens_valid_after = db_col_int(r, 15);
    u->lockout_level = (int)db_col_int(r, 16);
    cp(u->role, sizeof u->role, db_col_text(r, 17));
}

static int superuser_role(const char *role)
{
    return !strcmp(role, "admin") || !strcmp(role, "super_admin");
}

void store_user_clear(struct user *u)
{
    free(u->preferences);
    u->preferences = NULL;
}

int store_user_create(struct user *u)
{
    char ts[32];
    if (!u->id[0]) uuid4(u->id);
    time_iso(time_now_ms(), ts);
    cp(u->created_at, sizeof u->created_at, ts);
    if (!u->subscription_plan[0]) cp(u->subscription_plan, sizeof u->subscription_plan, "free");
    if (!u->role[0]) cp(u->role, sizeof u->role, u->is_superuser ? "admin" : "user");
    u->is_superuser = superuser_role(u->role);
    return db_exec(db_conn(), NULL,
                   "INSERT INTO users(id, email, username, hashed_password, is_active,"
                   " is_verified, is_superuser, subscription_plan, organization_id, preferences,"
                   " created_at, updated_at, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssssbbbssssss", u->id, u->email, nz(u->username), u->hashed_password,
                   u->is_active, u->is_verified, u->is_superuser, u->subscription_plan,
                   nz(u->organization_id), u->preferences ? u->preferences : "{}", ts, ts, u->role);
}

int store_user_create_capped(struct user *u, const char *origin, int64_t since_ms, int max)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    char key[96], since[32];
    snprintf(key, sizeof key, "register:%.80s", origin);
    int rc = db_begin_for(c, key);
    if (rc) return rc;
    int64_t n = 0;
    if (max > 0) {
        rc = db_query_int(c, &n,
                          "SELECT count(*) FROM users WHERE created_from = ? AND created_at >= ?",
                          "ss", origin, time_iso(since_ms, since));
        if (!rc && n >= max) rc = RAGD_ELIMIT;
    }
    if (!rc) rc = store_user_create(u);
    if (!rc)
        rc =
            db_exec(c, NULL, "UPDATE users SET created_from = ? WHERE id = ?", "ss", origin, u->id);
    if (!rc) rc = db_commit(c);
    if (rc) db_rollback(c);
    return rc;
}

static int user_get(const char *sql, const char *key, struct user *out)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r, sql, "s", key);
    if (rc) return rc;
    if (db_rows_next(r) == 1)
        user_from_row(r, out);
    else
        rc = RAGD_ENOTFOUND;
    db_rows_free(r);
    return rc;
}

/* ---- the session cache: seed 001's session:{user_id}, without the password hash (login
 * reads it from the table by e-mail) ---- */

static void session_key(const char *id, char key[64])
{
    snprintf(key, 64, "session:%.36s", id);
}

void store_user_forget(const char *id)
{
    char key[64];
    session_key(id, key);
    cache_del(key);
}

static int session_get(const char *id, struct user *u)
{
    char key[64];
    session_key(id, key);
    json_t *j = cache_get_json(key);
    const char *uid = json_string_value(json_object_get(j, "user_id"));
    if (!uid || strcmp(uid, id)) {
        json_decref(j);
        return RAGD_ENOTFOUND;
    }
    memset(u, 0, sizeof *u);
#define S(f) cp(u->f, sizeof u->f, json_string_value(json_object_get(j, #f)))
    S(id);
    S(email);
    S(username);
    S(subscription_plan);
    S(organization_id);
    S(created_at);
    S(updated_at);
    S(last_login_at);
    S(locked_until);
    S(role);
#undef S
    u->failed_login_count = (int)json_integer_value(json_object_get(j, "failed_login_count"));
    u->tokens_valid_after = json_integer_value(json_object_get(j, "tokens_valid_after"));
    u->lockout_level = (int)json_integer_value(json_object_get(j, "lockout_level"));
    u->is_active = json_is_true(json_object_get(j, "is_active"));
    u->is_verified = json_is_true(json_object_get(j, "is_verified"));
    u->is_superuser = json_is_true(json_object_get(j, "is_superuser"));
    if (!u->role[0]) { /* written before roles existed: read afresh */
        json_decref(j);
        return RAGD_ENOTFOUND;
    }
    const char *prefs = json_string_value(json_object_get(j, "preferences"));
    u->preferences = xstrdup(prefs ? prefs : "{}");
    json_decref(j);
    return 0;
}

static void session_put(const struct user *u)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:s, s:s, s:i, s:I, s:i, "
        "s:s}",
        "user_id", u->id, "id", u->id, "email", u->email, "username", u->username,
        "subscription_plan", u->subscription_plan, "organization_id", u->organization_id,
        "created_at", u->created_at, "updated_at", u->updated_at, "last_login_at", u->last_login_at,
        "is_active", u->is_active, "is_verified", u->is_verified, "is_superuser", u->is_superuser,
        "preferences", u->preferences ? u->preferences : "{}", "locked_until", u->locked_until,
        "failed_login_count", u->failed_login_count, "tokens_valid_after",
        (json_int_t)u->tokens_valid_after, "lockout_level", u->lockout_level, "role", u->role);
    char key[64];
    session_key(u->id, key);
    cache_set_json(key, j, session_ttl_s);
    json_decref(j);
}

int store_user_get(const char *id, struct user *out)
{
    if (!session_get(id, out)) return 0;
    int rc = user_get("SELECT " USER_COLS " FROM users WHERE id = ?", id, out);
    if (!rc) {
        out->hashed_password[0] = 0; /* the same answer with or without the cache */
        session_put(out);
    }
    return rc;
}

int store_user_load(const char *id, struct user *out)
{
    return user_get("SELECT " USER_COLS " FROM users WHERE id = ?", id, out);
}

int store_user_get_by_email(const char *email, struct user *out)
{
    return user_get("SELECT " USER_COLS " FROM users WHERE email = lower(?)", email, out);
}

int store_user_revoke_sessions(const char *id, int64_t valid_after_ms)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin_for(c, id);
    if (rc) return rc;
    char ts[32];
    int64_t changed = 0;
    rc = db_exec(c, &changed,
                 "UPDATE users SET tokens_valid_after = ? WHERE id = ? AND tokens_valid_after < ?",
                 "isi", valid_after_ms, id, valid_after_ms);
    if (!rc)
        rc = db_exec(c, NULL,
                     "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ?"
                     " AND revoked_at IS NULL",
                     "ss", time_iso(time_now_ms(), ts), id);
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    store_user_forget(id);
    return 0;
}

static int user_update(db_conn_t *c, const char *id, json_t *patch)
{
    char ts[32];
    time_iso(time_now_ms(), ts);
    const char *key;
    json_t *v;
    int64_t changed = 0;
    int rc = db_exec(c, &changed, "UPDATE users SET updated_at = ? WHERE id = ?", "ss", ts, id);
    if (!rc && !changed) rc = RAGD_ENOTFOUND;
    json_object_foreach(patch, key, v)
    {
        if (rc) break;
        const char *s = json_string_value(v);
        int b = json_is_true(v);
        if (!strcmp(key, "username"))
            rc = db_exec(c, NULL, "UPDATE users SET username = ? WHERE id = ?", "ss", s, id);
        else if (!strcmp(key, "subscription_plan"))
            rc = db_exec(c, NULL, "UPDATE users SET subscription_plan = ? WHERE id = ?", "ss", s,
                         id);
        else if (!strcmp(key, "organization_id"))
            rc = db_exec(c, NULL, "UPDATE users SET organization_id = ? WHERE id = ?", "ss", s, id);
        else if (!strcmp(key, "hashed_password"))
            rc = db_exec(c, NULL, "UPDATE users SET hashed_password = ? WHERE id = ?", "ss", s, id);
        else if (!strcmp(key, "is_active"))
            rc = db_exec(c, NULL, "UPDATE users SET is_active = ? WHERE id = ?", "bs", b, id);
        else if (!strcmp(key, "is_verified"))
            rc = db_exec(c, NULL, "UPDATE users SET is_verified = ? WHERE id = ?", "bs", b, id);
        else if (!strcmp(key, "is_superuser") && b)
            rc = db_exec(c, NULL,
                         "UPDATE users SET is_superuser = 1, role = 'admin' WHERE id = ?"
                         " AND role NOT IN ('admin', 'super_admin')",
                         "s", id);
        else if (!strcmp(key, "is_superuser"))
            rc = db_exec(c, NULL,
                         "UPDATE users SET is_superuser = 0, role = 'user' WHERE id = ?"
                         " AND role IN ('admin', 'super_admin')",
                         "s", id);
        else if (!strcmp(key, "role") && s)
            rc = db_exec(c, NULL, "UPDATE users SET role = ?, is_superuser = ? WHERE id = ?", "sbs",
                         s, superuser_role(s), id);
        else if (!strcmp(key, "preferences")) {
            char *js = json_dumps(v, JSON_COMPACT);
            rc = db_exec(c, NULL, "UPDATE users SET preferences = ? WHERE id = ?", "ss", js, id);
            free(js);
        } else
            rc = RAGD_EINVAL;
    }
    return rc;
}

int store_user_update_locked(const char *id, json_t *patch)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    store_user_forget(id);
    return user_update(c, id, patch);
}

int store_user_update(const char *id, json_t *patch)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int rc = db_begin(c);
    if (rc) return rc;
    if ((rc = user_update(c, id, patch))) {
        db_rollback(c);
        return rc;
    }
    store_user_forget(id);
    return db_commit(c);
}

int store_user_delete(const char *id)
{
    int64_t changed = 0;
    store_user_forget(id);
    int rc = db_exec(db_conn(), &changed, "DELETE FROM users WHERE id = ?", "s", id);
    return rc ? rc : changed ? 0 : RAGD_ENOTFOUND;
}

int store_user_count_super_admins(const char *except_id, int64_t *n)
{
    return db_query_int(db_conn(), n,
                        "SELECT count(*) FROM users WHERE role = 'super_admin' AND is_active = 1"
                        " AND (? IS NULL OR id <> ?)",
                        "ss", except_id, except_id);
}

int store_user_roles_lock(void)
{
    if (!strcmp(db_backend(), "sqlite")) return 0; /* one writer: BEGIN IMMEDIATE is the lock */
    int64_t one = 0;
    return db_query_int(db_conn(), &one,
                        "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(727350)) AS roles_lock",
                        "");
}

void store_user_list_free(struct user *items, int n)
{
    for (int i = 0; i < n; i++)
        store_user_clear(&items[i]);
    free(items);
}

/* The filter's users, a page of them in creation order with the count of all (column 18).
 * The count is a subquery of its own, evaluated once: a window count over the page's query
 * would read every matching row in full. */
#define USER_WHERE                                                                                 \
    " WHERE (? IS NULL OR email LIKE lower(?)) AND (? IS NULL OR subscription_plan = ?)"           \
    " AND (? < 0 OR is_active = ?)"
#define USER_PAGE                                                                                  \
    "SELECT " USER_COLS ", (SELECT count(*) FROM users" USER_WHERE                                 \
    ") AS matching FROM users" USER_WHERE " ORDER BY created_at, id LIMIT ? OFFSET ?"
#define USER_PAGE_TYPES "ssssiissssiiii"
#define USER_PAGE_ARGS(like, f, active, limit, offset)                                             \
    like, like, (f)->plan, (f)->plan, active, active, like, like, (f)->plan, (f)->plan, active,    \
        active, limit, offset

int store_user_list_usage(const struct user_filter *f, int64_t limit, int64_t offset,
                          const char *month, const char *day, struct user **items,
                          struct user_counters **counters, int *n, int64_t *total)
{
    db_conn_t *c = db_conn();
    char *like = f->email_like ? xasprintf("%%%s%%", f->email_like) : NULL;
    int64_t active = f->is_active;
    db_rows_t *r = NULL;
    int rc;
    /* With counters, the page's rows each come with one of the user's counters of the two
     * periods (or none, NULLs): one query in all, however many users the page lists. */
    if (counters)
        rc = db_query(c, &r,
                      "WITH page AS (" USER_PAGE ") SELECT page.*, u.name, u.period, u.quantity"
                      " FROM page LEFT JOIN usage_counters u ON u.user_id = page.id"
                      " AND u.period IN (?, ?) ORDER BY page.created_at, page.id",
                      USER_PAGE_TYPES "ss", USER_PAGE_ARGS(like, f, active, limit, offset), month,
                      day);
    else
        rc = db_query(c, &r, USER_PAGE, USER_PAGE_TYPES,
                      USER_PAGE_ARGS(like, f, active, limit, offset));
    if (rc) {
        free(like);
        return rc;
    }
    int cap = 0, more;
    *items = NULL;
    *n = 0;
    *total = 0;
    if (counters) *counters = NULL;
    while ((more = db_rows_next(r)) == 1) {
        if (!*n || strcmp((*items)[*n - 1].id, db_col_text(r, 0))) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                *items = xrealloc(*items, (size_t)cap * sizeof **items);
                if (counters) *counters = xrealloc(*counters, (size_t)cap * sizeof **counters);
            }
            user_from_row(r, &(*items)[(*n)++]);
            (*items)[*n - 1].hashed_password[0] = 0;
            if (counters) (*counters)[*n - 1] = (struct user_counters){0};
            *total = db_col_int(r, 18);
        }
        if (counters && !db_col_null(r, 19)) {
            struct user_counters *uc = &(*counters)[*n - 1];
            uc->c = xrealloc(uc->c, (uc->n + 1) * sizeof *uc->c);
            struct store_counter *k = &uc->c[uc->n++];
            snprintf(k->name, sizeof k->name, "%s", db_col_text(r, 19));
            snprintf(k->period, sizeof k->period, "%s", db_col_text(r, 20));
            k->quantity = db_col_int(r, 21);
        }
    }
    db_rows_free(r);
    if (more == 0 && *n == 0 && offset > 0) /* a page past the end: the count alone */
        more = db_query_int(c, total, "SELECT count(*) FROM users" USER_WHERE, "ssssii", like, like,
                            f->plan, f->plan, active, active);
    free(like);
    if (more < 0) {
        if (counters) store_user_counters_free(*counters, *n);
        store_user_list_free(*items, *n);
        *items = NULL;
        *n = 0;
        return more;
    }
    return 0;
}

int store_user_list(const struct user_filter *f, int64_t limit, int64_t offset, struct user **items,
                    int *n, int64_t *total)
{
    return store_user_list_usage(f, limit, offset, NULL, NULL, items, NULL, n, total);
}

void store_user_counters_free(struct user_counters *c, int n)
{
    for (int i = 0; c && i < n; i++)
        free(c[i].c);
    free(c);
}

int store_user_login_ok(const char *id)
{
    char ts[32];
    store_user_forget(id);
    return db_exec(db_conn(), NULL,
                   "UPDATE users SET failed_login_count = 0, locked_until = NULL,"
                   " lockout_level = 0, lock_bypass_until = 0, last_login_at = ? WHERE id = ?",
                   "ss", time_iso(time_now_ms(), ts), id);
}

int store_user_login_attempt(const char *id, const struct login_policy *pol, int ip_failed,
                             struct login_attempt *out)
{
    db_conn_t *c = db_conn();
    if (!c) return RAGD_EUNAVAIL;
    int64_t now = time_now_ms();
    memset(out, 0, sizeof *out);
    int rc = db_begin_for(c, id);
    if (rc) return rc;
    db_rows_t *r = NULL;
    rc = db_query(c, &r,
                  "SELECT failed_login_count, locked_until, lockout_level, lock_bypass_until"
                  " FROM users WHERE id = ?",
                  "s", id);
    int64_t count = 0, level = 0, bypass = 0, locked = 0;
    if (!rc) {
        if (db_rows_next(r) == 1) {
            count = db_col_int(r, 0);
            if (db_col_text(r, 1)) time_parse_iso(db_col_text(r, 1), &locked);
            level = db_col_int(r, 2);
            bypass = db_col_int(r, 3);
        } else {
            rc = RAGD_ENOTFOUND;
        }
        db_rows_free(r);
    }
    if (!rc && locked > now) {
        /* Locked. A client with no failure of its own may try, one at a time; the others
         * wait for the lock to end. */
        if (ip_failed || bypass > now) {
            out->verdict = LOGIN_LOCKED;
            out->retry_after_ms = locked - now;
        } else {
            out->verdict = LOGIN_BYPASS;
            out->retry_after_ms = locked - now;
            rc = db_exec(c, NULL, "UPDATE users SET lock_bypass_until = ? WHERE id = ?", "is",
                         now + pol->bypass_ms, id);
        }
    } else if (!rc) {
        /* The attempt counts before the password is checked; a success resets the count. */
        out->verdict = LOGIN_GO;
        count++;
        if (count >= pol->lock_after) {
            int64_t ms = pol->lock_ms;
            for (int64_t i = 0; i < level && ms < pol->lock_max_ms; i++)
                ms *= 2;
            if (ms > pol->lock_max_ms) ms = pol->lock_max_ms;
            char ts[32];
            rc = db_exec(c, NULL,
                         "UPDATE users SET locked_until = ?, failed_login_count = 0,"
                         " lockout_level = lockout_level + 1 WHERE id = ?",
                         "ss", time_iso(now + ms, ts), id);
            out->locked_ms = ms;
            count = 0;
        } else {
            rc = db_exec(c, NULL, "UPDATE users SET failed_login_count = ? WHERE id = ?", "is",
                         count, id);
        }
    }
    out->failures = (int)count;
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    store_user_forget(id);
    return 0;
}

int store_user_login_bypass_end(const char *id)
{
    store_user_forget(id);
    return db_exec(db_conn(), NULL, "UPDATE users SET lock_bypass_until = 0 WHERE id = ?", "s", id);
}

/* ---- organizations ---- */

int store_org_create(const char *name, const char *domain, const char *settings_json,
                     char id_out[37])
{
    char ts[32];
    uuid4(id_out);
    return db_exec(db_conn(), NULL,
                   "INSERT INTO organizations(id, name, domain, settings, created_at)"
                   " VALUES (?, ?, ?, ?, ?)",
                   "sssss", id_out, name, domain, settings_json ? settings_json : "{}",
                   time_iso(time_now_ms(), ts));
}

int store_org_find(const char *name, char id_out[37])
{
    char *id = NULL;
    int rc = db_query_text(db_conn(), &id,
                           "SELECT id FROM organizations WHERE name = ? ORDER BY created_at"
                           " LIMIT 1",
                           "s", name);
    if (!rc) {
        cp(id_out, 37, id);
        free(id);
    }
    return rc;
}

/* ---- refresh tokens ---- */

int store_refresh_insert(const char *user_id, const char *family_id, const char *token_hash,
                         int64_t expires_ms, char id_out[37])
{
    char now[32], exp[32];
    uuid4(id_out);
    return db_exec(db_conn(), NULL,
                   "INSERT INTO refresh_tokens(id, user_id, family_id, token_hash, created_at,"
                   " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                   "ssssss", id_out, user_id, family_id, token_hash, time_iso(time_now_ms(), now),
                   time_iso(expires_ms, exp));
}

int store_refresh_get(const char *token_hash, struct refresh_token *out)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT id, user_id, family_id, expires_at, revoked_at FROM refresh_tokens"
                      " WHERE token_hash = ?",
                      "s", token_hash);
    if (rc) return rc;
    if (db_rows_next(r) == 1) {
        cp(out->id, sizeof out->id, db_col_text(r, 0));
        cp(out->user_id, sizeof out->user_id, db_col_text(r, 1));
        cp(out->family_id, sizeof out->family_id, db_col_text(r, 2));
        cp(out->expires_at, sizeof out->expires_at, db_col_text(r, 3));
        cp(out->revoked_at, sizeof out->revoked_at, db_col_text(r, 4));
    } else {
        rc = RAGD_ENOTFOUND;
    }
    db_rows_free(r);
    return rc;
}

int store_refresh_rotate(const char *old_id, const char *user_id, const char *family_id,
                         const char *new_hash, int64_t expires_ms)
{
    db_conn_t *c = db_conn();
    char ts[32], id[37];
    int rc = db_begin(c);
    if (rc) return rc;
    int64_t changed = 0;
    rc = db_exec(c, &changed,
                 "UPDATE refresh_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                 "ss", time_iso(time_now_ms(), ts), old_id);
    if (!rc && !changed) rc = RAGD_ECONFLICT;
    if (!rc) rc = store_refresh_insert(user_id, family_id, new_hash, expires_ms, id);
    if (rc) {
        db_rollback(c);
        return rc;
    }
    return db_commit(c);
}

int store_refresh_revoke_family(const char *family_id)
{
    char ts[32];
    return db_exec(db_conn(), NULL,
                   "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ?"
                   " AND revoked_at IS NULL",
                   "ss", time_iso(time_now_ms(), ts), family_id);
}

int store_refresh_revoke_user(const char *user_id)
{
    char ts[32];
    return db_exec(db_conn(), NULL,
                   "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ?"
                   " AND revoked_at IS NULL",
                   "ss", time_iso(time_now_ms(), ts), user_id);
}

/* ---- revoked access tokens ----
 *
 * Every request with an access token asks whether its jti was revoked. With a shared cache
 * (Redis) a node remembers the tokens it found not revoked, each under the revocation epoch it
 * read before asking: a random value at EPOCH_KEY that every revocation deletes once its row
 * is written. A request reads the epoch together with its session (one round trip to Redis);
 * while that epoch is the one a token was checked under, nothing was revoked since the check,
 * and the database is not asked again. A missing epoch (not yet set, expired, deleted by a
 * revocation, lost with Redis) or an unreadable one sends every check to the database, whose
 * reader then sets a new epoch; only a later read of it vouches for later checks. A
 * revocation whose delete cannot reach Redis has the cache flushed (the epoch with it) once
 * Redis is back, as for the session entries. Without a shared cache every check asks the
 * database. */

#define EPOCH_KEY "revocation:epoch"
enum { EPOCH_TTL_S = 86400, JTI_CLEAN_SLOTS = 4096 };

uint64_t store_epoch_start(void)
{
    return cache_get_start(EPOCH_KEY); /* 0 without a shared cache */
}

char *store_epoch_finish(uint64_t ticket)
{
    size_t len = 0;
    char *e = cache_get_finish(ticket, &len);
    if (e && (len != STORE_EPOCH_LEN || strlen(e) != len)) {
        free(e);
        e = NULL;
    }
    return e;
}

void store_epoch_renew(void)
{
    if (!cache_shared()) return;
    unsigned char b[STORE_EPOCH_LEN / 2];
    char e[STORE_EPOCH_LEN + 1];
    rand_bytes(b, sizeof b);
    hex_encode(b, sizeof b, e);
    cache_set(EPOCH_KEY, e, STORE_EPOCH_LEN, EPOCH_TTL_S); /* unless set or deleted just now */
}

void store_epoch_end(void)
{
    cache_del(EPOCH_KEY);
}

static pthread_mutex_t vouch_mu = PTHREAD_MUTEX_INITIALIZER;

static struct store_vouch *vouch_slot(struct store_vouch *table, size_t n, const char *id)
{
    return &table[fnv1a(FNV1A_START, id, strlen(id)) % n];
}

int store_vouch_get(struct store_vouch *table, size_t n, const char *id, struct store_vouch *out)
{
    struct store_vouch *v = vouch_slot(table, n, id);
    pthread_mutex_lock(&vouch_mu);
    int yes = id[0] && !strcmp(v->id, id);
    if (yes) *out = *v;
    pthread_mutex_unlock(&vouch_mu);
    return yes;
}

void store_vouch_put(struct store_vouch *table, size_t n, const struct store_vouch *v)
{
    struct store_vouch *to = vouch_slot(table, n, v->id);
    pthread_mutex_lock(&vouch_mu);
    *to = *v;
    pthread_mutex_unlock(&vouch_mu);
}

/* access tokens found not revoked */
static struct store_vouch jti_clean[JTI_CLEAN_SLOTS];

int store_jti_revoke(const char *jti, int64_t expires_ms)
{
    char ts[32];
    db_conn_t *c = db_conn();
    /* Expired entries are useless: drop them while here. */
    int rc = db_exec(c, NULL, "DELETE FROM revoked_access_tokens WHERE expires_at < ?", "s",
                     time_iso(time_now_ms(), ts));
    if (!rc)
        rc = db_exec(c, NULL,
                     "INSERT OR IGNORE INTO revoked_access_tokens(jti, expires_at) VALUES (?, ?)",
                     "ss", jti, time_iso(expires_ms, ts));
    if (!rc) store_epoch_end();
    return rc;
}

int store_jti_claim(const char *jti, int64_t expires_ms)
{
    char ts[32];
    int rc =
        db_exec(db_conn(), NULL, "INSERT INTO revoked_access_tokens(jti, expires_at) VALUES (?, ?)",
                "ss", jti, time_iso(expires_ms, ts));
    if (!rc) store_epoch_end();
    return rc;
}

/* store_jti_revoked, epoch (NULL: none read) as read before the database is asked. */
static int jti_revoked(const char *jti, const char *epoch)
{
    struct store_vouch v;
    int cacheable = epoch && strlen(jti) < sizeof v.id;
    if (cacheable && store_vouch_get(jti_clean, JTI_CLEAN_SLOTS, jti, &v) &&
        !strcmp(v.epoch, epoch))
        return 0;
    int64_t n = 0;
    int rc = db_query_int(db_conn(), &n, "SELECT count(*) FROM revoked_access_tokens WHERE jti = ?",
                          "s", jti);
    if (rc) return rc;
    if (n) return 1;
    if (cacheable) {
        memset(&v, 0, sizeof v);
        snprintf(v.id, sizeof v.id, "%s", jti);
        snprintf(v.epoch, sizeof v.epoch, "%s", epoch);
        store_vouch_put(jti_clean, JTI_CLEAN_SLOTS, &v);
    } else if (!epoch) {
        store_epoch_renew();
    }
    return 0;
}

int store_jti_revoked(const char *jti)
{
    return jti_revoked(jti, NULL);
}

int store_user_get_checked(const char *id, const char *jti, struct user *out, int *revoked)
{
    uint64_t ticket = store_epoch_start();
    int rc = store_user_get(id, out);
    char *epoch = store_epoch_finish(ticket);
    *revoked = jti_revoked(jti, epoch);
    free(epoch);
    return rc;
}

/* ---- audit log ---- */

int store_audit_add(const struct audit_entry *e)
{
    char ts[32];
    char *details = e->details ? json_dumps(e->details, JSON_COMPACT) : NULL;
    /* A client's agent string is its own to choose: keep a bounded prefix. */
    char agent[AUDIT_AGENT_MAX + 1];
    if (e->user_agent) snprintf(agent, sizeof agent, "%s", e->user_agent);
    int rc = db_exec(db_conn(), NULL,
                     "INSERT INTO audit_log(created_at, actor_id, actor_email, action,"
                     " target_type, target_id, details, request_id, ip, user_agent)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     "ssssssssss", time_iso(time_now_ms(), ts), e->actor_id, e->actor_email,
                     e->action, e->target_type, e->target_id, details ? details : "{}",
                     e->request_id, e->ip, e->user_agent ? agent : NULL);
    free(details);
    return rc;
}

/* ---- key/value ---- */

int store_kv_get(const char *key, char **value)
{
    return db_query_text(db_conn(), value, "SELECT value FROM kv WHERE key = ?", "s", key);
}

int store_kv_set(const char *key, const char *value)
{
    char ts[32];
    return db_exec(db_conn(), NULL,
                   "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?)"
                   " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                   " updated_at = excluded.updated_at",
                   "sss", key, value, time_iso(time_now_ms(), ts));
}

int store_kv_add(const char *key, const char *value)
{
    char ts[32];
    int64_t changed = 0;
    int rc = db_exec(db_conn(), &changed,
                     "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?)"
                     " ON CONFLICT(key) DO NOTHING",
                     "sss", key, value, time_iso(time_now_ms(), ts));
    return rc ? rc : changed ? 0 : RAGD_EEXIST;
}
