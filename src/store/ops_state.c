/* ops_state.c (store) - maintenance, feature flags, outages, plan edits (store/ops_state.h). */
#include "store/ops_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"

static const struct store_migration migrations[] = {
    {340, "operations: shared state versions",
     "CREATE TABLE ops_versions (part TEXT PRIMARY KEY, version INTEGER NOT NULL);"
     "INSERT INTO ops_versions (part, version) VALUES ('maintenance', 1), ('features', 1),"
     " ('plans', 1);"},
    {341, "operations: maintenance mode",
     "CREATE TABLE maintenance_state ("
     " id INTEGER PRIMARY KEY CHECK (id = 1),"
     " level TEXT NOT NULL CHECK (level IN ('none', 'soft', 'hard')),"
     " reason TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',"
     " estimated_restoration TEXT, set_by TEXT, since TEXT NOT NULL,"
     " automatic INTEGER NOT NULL DEFAULT 0, prev_level TEXT NOT NULL DEFAULT '',"
     " prev_reason TEXT NOT NULL DEFAULT '', prev_message TEXT NOT NULL DEFAULT '',"
     " prev_set_by TEXT NOT NULL DEFAULT '');"
     "INSERT INTO maintenance_state (id, level, since) VALUES (1, 'none',"
     " '1970-01-01T00:00:00Z');"},
    {342, "operations: feature flags and outages",
     "CREATE TABLE feature_flags ("
     " name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '',"
     " is_enabled INTEGER NOT NULL DEFAULT 1,"
     " rollout_percentage INTEGER NOT NULL DEFAULT 100"
     " CHECK (rollout_percentage BETWEEN 0 AND 100),"
     " updated_by TEXT, updated_at TEXT);"
     "INSERT INTO feature_flags (name, description) VALUES"
     " ('chat', 'Chat answers (POST /chat/message)'),"
     " ('flashcards', 'The /flashcard slash command'),"
     " ('mcqs', 'The /mcq slash command'),"
     " ('highyield', 'The /highyield slash command'),"
     " ('explanations', 'The /explain slash command'),"
     " ('concept_maps', 'The /map slash command'),"
     " ('document_upload', 'Uploading documents (POST /documents)'),"
     " ('pdf_upload', 'Uploading PDF files'),"
     " ('search', 'Search (POST /search, /search/semantic, /search/hybrid)'),"
     " ('v1_api', 'The OpenAI-compatible /v1 API'),"
     " ('registration', 'Creating accounts (POST /auth/register)');"
     "CREATE TABLE feature_outages (feature TEXT PRIMARY KEY, since TEXT NOT NULL);"},
    {343, "operations: plan edits",
     "CREATE TABLE plan_edits ("
     " name TEXT PRIMARY KEY, definition TEXT NOT NULL, updated_by TEXT,"
     " updated_at TEXT NOT NULL, created_ms INTEGER NOT NULL);"},
};

static const char *const part_names[OPS_PARTS] = {"maintenance", "features", "plans"};

void store_ops_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

static db_conn_t *conn(db_conn_t *c)
{
    return c ? c : db_conn();
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- versions ---- */

int store_ops_versions(db_conn_t *c, int64_t v[OPS_PARTS])
{
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    db_rows_t *rows;
    int rc = db_query(c, &rows, "SELECT part, version FROM ops_versions", "");
    if (rc) return rc;
    for (int i = 0; i < OPS_PARTS; i++)
        v[i] = 0;
    while ((rc = db_rows_next(rows)) == 1) {
        const char *p = db_col_text(rows, 0);
        for (int i = 0; p && i < OPS_PARTS; i++)
            if (!strcmp(p, part_names[i])) v[i] = db_col_int(rows, 1);
    }
    db_rows_free(rows);
    return rc < 0 ? rc : 0;
}

int store_ops_bump(db_conn_t *c, enum ops_part part)
{
    RAGD_ASSERT((unsigned)part < OPS_PARTS);
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    return db_exec(c, NULL, "UPDATE ops_versions SET version = version + 1 WHERE part = ?", "s",
                   part_names[part]);
}

/* ---- maintenance ---- */

int store_maint_get(db_conn_t *c, struct store_maint *out)
{
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    db_rows_t *rows;
    int rc = db_query(c, &rows,
                      "SELECT level, reason, message, estimated_restoration, set_by, since,"
                      " automatic, prev_level, prev_reason, prev_message, prev_set_by"
                      " FROM maintenance_state WHERE id = 1",
                      "");
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    rc = db_rows_next(rows);
    if (rc == 1) {
        copy(out->level, sizeof out->level, db_col_text(rows, 0));
        copy(out->reason, sizeof out->reason, db_col_text(rows, 1));
        copy(out->message, sizeof out->message, db_col_text(rows, 2));
        copy(out->estimated_restoration, sizeof out->estimated_restoration, db_col_text(rows, 3));
        copy(out->set_by, sizeof out->set_by, db_col_text(rows, 4));
        copy(out->since, sizeof out->since, db_col_text(rows, 5));
        out->automatic = (int)db_col_int(rows, 6);
        copy(out->prev_level, sizeof out->prev_level, db_col_text(rows, 7));
        copy(out->prev_reason, sizeof out->prev_reason, db_col_text(rows, 8));
        copy(out->prev_message, sizeof out->prev_message, db_col_text(rows, 9));
        copy(out->prev_set_by, sizeof out->prev_set_by, db_col_text(rows, 10));
        rc = 0;
    } else if (rc == 0) {
        rc = RAGD_ENOTFOUND;
    }
    db_rows_free(rows);
    return rc;
}

int store_maint_put(db_conn_t *c, const struct store_maint *m)
{
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    return db_exec(c, NULL,
                   "UPDATE maintenance_state SET level = ?, reason = ?, message = ?,"
                   " estimated_restoration = ?, set_by = ?, since = ?, automatic = ?,"
                   " prev_level = ?, prev_reason = ?, prev_message = ?, prev_set_by = ?"
                   " WHERE id = 1",
                   "ssssssbssss", m->level, m->reason, m->message,
                   m->estimated_restoration[0] ? m->estimated_restoration : NULL,
                   m->set_by[0] ? m->set_by : NULL, m->since, m->automatic, m->prev_level,
                   m->prev_reason, m->prev_message, m->prev_set_by);
}

/* ---- feature flags ---- */

int store_flags_list(db_conn_t *c, struct store_flag **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    db_rows_t *rows;
    int rc = db_query(c, &rows,
                      "SELECT name, description, is_enabled, rollout_percentage, updated_by,"
                      " updated_at FROM feature_flags ORDER BY name",
                      "");
    if (rc) return rc;
    int cap = 0;
    while ((rc = db_rows_next(rows)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, (size_t)cap * sizeof **out);
        }
        struct store_flag *f = &(*out)[(*n)++];
        memset(f, 0, sizeof *f);
        copy(f->name, sizeof f->name, db_col_text(rows, 0));
        copy(f->description, sizeof f->description, db_col_text(rows, 1));
        f->enabled = db_col_int(rows, 2) != 0;
        f->rollout = (int)db_col_int(rows, 3);
        copy(f->updated_by, sizeof f->updated_by, db_col_text(rows, 4));
        copy(f->updated_at, sizeof f->updated_at, db_col_text(rows, 5));
    }
    db_rows_free(rows);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

int store_flag_set(db_conn_t *c, const char *name, int enabled, int rollout, const char *by)
{
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    char ts[32];
    int64_t changes = 0;
    int rc = db_exec(c, &changes,
                     "UPDATE feature_flags SET is_enabled = ?, rollout_percentage = ?,"
                     " updated_by = ?, updated_at = ? WHERE name = ?",
                     "bisss", enabled, (int64_t)rollout, by, time_iso(time_now_ms(), ts), name);
    if (!rc && !changes) rc = RAGD_ENOTFOUND;
    return rc;
}

/* ---- outages ---- */

int store_outages_list(db_conn_t *c, struct store_outage **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    db_rows_t *rows;
    int rc = db_query(c, &rows, "SELECT feature, since FROM feature_outages ORDER BY feature", "");
    if (rc) return rc;
    int cap = 0;
    while ((rc = db_rows_next(rows)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *out = xrealloc(*out, (size_t)cap * sizeof **out);
        }
        struct store_outage *o = &(*out)[(*n)++];
        copy(o->feature, sizeof o->feature, db_col_text(rows, 0));
        copy(o->since, sizeof o->since, db_col_text(rows, 1));
    }
    db_rows_free(rows);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

int store_outage_set(db_conn_t *c, const char *feature, int down, int *changed)
{
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    int64_t changes = 0;
    char ts[32];
    int rc =
        down ? db_exec(c, &changes,
                       "INSERT OR IGNORE INTO feature_outages (feature, since) VALUES (?, ?)", "ss",
                       feature, time_iso(time_now_ms(), ts))
             : db_exec(c, &changes, "DELETE FROM feature_outages WHERE feature = ?", "s", feature);
    *changed = !rc && changes > 0;
    return rc;
}

/* ---- plan edits ---- */

int store_plan_edits(db_conn_t *c, struct store_plan_edit **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    db_rows_t *rows;
    int rc = db_query(c, &rows,
                      "SELECT name, definition, updated_by, updated_at FROM plan_edits"
                      " ORDER BY created_ms, name",
                      "");
    if (rc) return rc;
    int cap = 0;
    while ((rc = db_rows_next(rows)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *out = xrealloc(*out, (size_t)cap * sizeof **out);
        }
        struct store_plan_edit *e = &(*out)[(*n)++];
        memset(e, 0, sizeof *e);
        copy(e->name, sizeof e->name, db_col_text(rows, 0));
        e->definition = xstrdup(db_col_text(rows, 1) ? db_col_text(rows, 1) : "{}");
        copy(e->updated_by, sizeof e->updated_by, db_col_text(rows, 2));
        copy(e->updated_at, sizeof e->updated_at, db_col_text(rows, 3));
    }
    db_rows_free(rows);
    if (rc < 0) {
        store_plan_edits_free(*out, *n);
        *out = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

void store_plan_edits_free(struct store_plan_edit *e, int n)
{
    for (int i = 0; e && i < n; i++)
        free(e[i].definition);
    free(e);
}

int store_plan_edit_put(db_conn_t *c, const char *name, const char *definition, const char *by)
{
    if (!(c = conn(c))) return RAGD_EUNAVAIL;
    char ts[32];
    int64_t now = time_now_ms();
    return db_exec(c, NULL,
                   "INSERT INTO plan_edits (name, definition, updated_by, updated_at, created_ms)"
                   " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                   " definition = excluded.definition, updated_by = excluded.updated_by,"
                   " updated_at = excluded.updated_at",
                   "ssssi", name, definition, by, time_iso(now, ts), now);
}
