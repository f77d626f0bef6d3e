/* knowledge.c (store) - documents, chunks and embeddings in SQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/knowledge.h"
#include "store/store.h"

static const struct store_migration migrations[] = {
    {200, "knowledge: documents, chunks, embeddings",
     "CREATE TABLE documents ("
     " id TEXT PRIMARY KEY, organization_id TEXT, owner_id TEXT,"
     " shared INTEGER NOT NULL DEFAULT 0, title TEXT NOT NULL DEFAULT '', content TEXT,"
     " category TEXT, tags TEXT NOT NULL DEFAULT '[]', source TEXT, mime_type TEXT,"
     " size_bytes INTEGER NOT NULL DEFAULT 0, sha256 TEXT, status TEXT NOT NULL,"
     " error TEXT, chunk_count INTEGER NOT NULL DEFAULT 0, pages INTEGER NOT NULL DEFAULT 0,"
     " importance REAL NOT NULL DEFAULT 1.0, metadata TEXT NOT NULL DEFAULT '{}',"
     " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, processed_at TEXT);"
     "CREATE INDEX documents_org ON documents(organization_id, created_at);"
     "CREATE INDEX documents_owner ON documents(owner_id, created_at);"
     "CREATE INDEX documents_sha ON documents(sha256);"
     "CREATE INDEX documents_status ON documents(status);"
     "CREATE TABLE chunks ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
     " position INTEGER NOT NULL, content TEXT NOT NULL, start_offset INTEGER NOT NULL,"
     " end_offset INTEGER NOT NULL, tokens INTEGER NOT NULL DEFAULT 0,"
     " retrieval_count INTEGER NOT NULL DEFAULT 0, last_accessed TEXT,"
     " created_at TEXT NOT NULL);"
     "CREATE INDEX chunks_doc ON chunks(document_id, position);"
     "CREATE TABLE embeddings ("
     " chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
     " model TEXT, dim INTEGER NOT NULL, vector TEXT NOT NULL, created_at TEXT NOT NULL);"},
    {211, "knowledge: uploads in the database and ingestion claims, for a shared task queue",
     "ALTER TABLE documents ADD COLUMN claimed_by TEXT;"
     "ALTER TABLE documents ADD COLUMN claimed_at TEXT;"
     "CREATE TABLE document_uploads ("
     " document_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,"
     " data TEXT NOT NULL);"},
    {210, "knowledge: change log for nodes sharing the database",
     "CREATE TABLE kb_changes ("
     " seq INTEGER PRIMARY KEY AUTOINCREMENT, document_id TEXT NOT NULL, op TEXT NOT NULL,"
     " node TEXT NOT NULL, chunk_ids TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);"},
};

void store_knowledge_register(void)
{
    store_register_migrations(migrations, (int)(sizeof migrations / sizeof migrations[0]));
}

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

/* ---- documents ---- */

static char *dump_or(json_t *v, const char *def)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    return s ? s : xstrdup(def);
}

/* tags[0..n) as a JSON array text (caller frees). */
static char *tags_dump(const char *const *tags, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(tags[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* A stored JSON array of strings as strings (non-strings skipped). */
static void tags_parse(const char *text, char ***tags, size_t *n)
{
    *tags = NULL;
    *n = 0;
    json_error_t je;
    json_t *a = text ? json_loads(text, JSON_DECODE_ANY, &je) : NULL;
    if (json_is_array(a) && json_array_size(a)) {
        *tags = xcalloc(json_array_size(a), sizeof **tags);
        size_t i;
        json_t *t;
        json_array_foreach(a, i, t)
        {
            if (json_is_string(t)) (*tags)[(*n)++] = xstrdup(json_string_value(t));
        }
    }
    json_decref(a);
}

static void tags_free(char **tags, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(tags[i]);
    free(tags);
}

int store_doc_insert(struct kdoc_new *d)
{
    if (!d->id[0]) uuid4(d->id);
    char ts[32];
    time_iso(time_now_ms(), ts);
    char *tags = tags_dump(d->tags, d->ntags);
    char *meta = dump_or(d->metadata, "{}");
    int rc = db_exec(db_conn(), NULL,
                     "INSERT INTO documents (id, organization_id, owner_id, shared, title,"
                     " category, tags, source, mime_type, size_bytes, sha256, status,"
                     " importance, metadata, created_at, updated_at)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     "sssbsssssissdsss", d->id, nz(d->organization_id), nz(d->owner_id), d->shared,
                     d->title ? d->title : "", nz(d->category), tags, nz(d->source),
                     nz(d->mime_type), d->size_bytes, nz(d->sha256),
                     d->status ? d->status : "pending", d->importance, meta, ts, ts);
    free(tags);
    free(meta);
    return rc;
}

/* A document's columns as doc_from_row reads them: DOC_META_COLS, then its content (column
 * 20) only where it is wanted (a list never reads the texts). */
#define DOC_META_COLS                                                                              \
    "id, title, category, tags, source, organization_id, owner_id, shared, status, error,"         \
    " sha256, size_bytes, mime_type, chunk_count, pages, importance, metadata, created_at,"        \
    " updated_at, processed_at"

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void store_kdoc_clear(struct kdoc *d)
{
    free(d->title);
    free(d->category);
    free(d->source);
    tags_free(d->tags, d->ntags);
    free(d->organization_id);
    free(d->owner_id);
    free(d->status);
    free(d->error);
    free(d->sha256);
    free(d->mime_type);
    free(d->metadata);
    free(d->created_at);
    free(d->updated_at);
    free(d->processed_at);
    free(d->content);
    memset(d, 0, sizeof *d);
}

void store_kdocs_free(struct kdoc *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_kdoc_clear(&items[i]);
    free(items);
}

static void doc_from_row(db_rows_t *r, int with_content, struct kdoc *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", db_col_text(r, 0));
    d->title = xstrdup(db_col_text(r, 1) ? db_col_text(r, 1) : "");
    d->category = dup_or_null(db_col_text(r, 2));
    tags_parse(db_col_text(r, 3), &d->tags, &d->ntags);
    d->source = dup_or_null(db_col_text(r, 4));
    d->organization_id = dup_or_null(db_col_text(r, 5));
    d->owner_id = dup_or_null(db_col_text(r, 6));
    d->shared = db_col_int(r, 7) != 0;
    d->status = xstrdup(db_col_text(r, 8) ? db_col_text(r, 8) : "");
    d->error = dup_or_null(db_col_text(r, 9));
    d->sha256 = dup_or_null(db_col_text(r, 10));
    d->size_bytes = db_col_int(r, 11);
    d->mime_type = dup_or_null(db_col_text(r, 12));
    d->chunk_count = db_col_int(r, 13);
    d->pages = db_col_int(r, 14);
    d->importance = db_col_double(r, 15);
    d->metadata = xstrdup(db_col_text(r, 16) ? db_col_text(r, 16) : "{}");
    d->created_at = xstrdup(db_col_text(r, 17) ? db_col_text(r, 17) : "");
    d->updated_at = xstrdup(db_col_text(r, 18) ? db_col_text(r, 18) : "");
    d->processed_at = dup_or_null(db_col_text(r, 19));
    if (with_content) d->content = dup_or_null(db_col_text(r, 20));
}

int store_doc_get(const char *id, int with_content, struct kdoc *out)
{
    memset(out, 0, sizeof *out);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      with_content ? "SELECT " DOC_META_COLS ", content FROM documents WHERE id = ?"
                                   : "SELECT " DOC_META_COLS " FROM documents WHERE id = ?",
                      "s", id);
    if (rc) return rc;
    if (db_rows_next(r) == 1)
        doc_from_row(r, with_content, out);
    else
        rc = RAGD_ENOTFOUND;
    db_rows_free(r);
    return rc;
}

#define VISIBLE                                                                                    \
    "(shared = 1 OR owner_id = ? OR (organization_id IS NOT NULL AND organization_id = ?))"

int store_doc_visible(const char *id, const struct kscope *s)
{
    int64_t n = 0;
    int rc = db_query_int(db_conn(), &n, "SELECT count(*) FROM documents WHERE id = ? AND " VISIBLE,
                          "sss", id, s->user_id, nz(s->org_id));
    return rc ? rc : n > 0;
}

int store_doc_set_status(const char *id, const char *status, const char *error)
{
    char ts[32];
    time_iso(time_now_ms(), ts);
    int64_t ch = 0;
    int rc = db_exec(db_conn(), &ch,
                     "UPDATE documents SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                     "ssss", status, error, ts, id);
    return rc ? rc : ch ? 0 : RAGD_ENOTFOUND;
}

int store_doc_set_content(const char *id, const char *content, const char *mime_type,
                          const char *title_guess, int pages)
{
    char ts[32];
    time_iso(time_now_ms(), ts);
    int64_t ch = 0;
    int rc = db_exec(db_conn(), &ch,
                     "UPDATE documents SET content = ?, mime_type = ?, pages = ?, updated_at = ?,"
                     " title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                     "ssisss", content, mime_type, (int64_t)pages, ts,
                     title_guess ? title_guess : "", id);
    return rc ? rc : ch ? 0 : RAGD_ENOTFOUND;
}

int store_doc_list(const struct kscope *s, const struct kdoc_filter *f, int64_t limit,
                   int64_t offset, struct kdoc **items, size_t *n, int64_t *total)
{
#define DOC_LIST_WHERE                                                                             \
    " FROM documents WHERE " VISIBLE " AND (? IS NULL OR status = ?)"                              \
    " AND (? IS NULL OR category = ?) AND (? IS NULL OR source = ?)"
    db_conn_t *c = db_conn();
    db_rows_t *r = NULL;
    *items = NULL;
    *n = 0;
    *total = 0;
    /* the page and, with each row, the count of all (column 20) in one query */
    int rc = db_query(c, &r,
                      "SELECT " DOC_META_COLS ", count(*) OVER ()" DOC_LIST_WHERE
                      " ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                      "ssssssssii", s->user_id, nz(s->org_id), f->status, f->status, f->category,
                      f->category, f->source, f->source, limit, offset);
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = db_rows_next(r)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *items = xrealloc(*items, cap * sizeof **items);
        }
        doc_from_row(r, 0, &(*items)[(*n)++]);
        *total = db_col_int(r, 20);
    }
    db_rows_free(r);
    if (rc == 0 && *n == 0 && offset > 0) /* a page past the end: the count alone */
        rc = db_query_int(c, total, "SELECT count(*)" DOC_LIST_WHERE, "ssssssss", s->user_id,
                          nz(s->org_id), f->status, f->status, f->category, f->category, f->source,
                          f->source);
#undef DOC_LIST_WHERE
    if (rc < 0) {
        store_kdocs_free(*items, *n);
        *items = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

int store_doc_find_sha(const char *sha, const char *org_id, int shared, char id_out[37])
{
    char *id = NULL;
    int rc = db_query_text(db_conn(), &id,
                           "SELECT id FROM documents WHERE sha256 = ? AND status != 'failed' AND"
                           " ((? = 1 AND shared = 1) OR (? = 0 AND shared = 0 AND"
                           " ((? IS NULL AND organization_id IS NULL) OR organization_id = ?)))"
                           " ORDER BY created_at LIMIT 1",
                           "sbbss", sha, shared, shared, nz(org_id), nz(org_id));
    if (!rc && id) snprintf(id_out, 37, "%s", id);
    free(id);
    return rc;
}

static int collect_ids(db_conn_t *c, const char *doc_id, int64_t **ids, size_t *n)
{
    db_rows_t *r;
    int rc = db_query(c, &r, "SELECT id FROM chunks WHERE document_id = ?", "s", doc_id);
    if (rc) return rc;
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    while ((rc = db_rows_next(r)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *ids = xrealloc(*ids, cap * sizeof **ids);
        }
        (*ids)[(*n)++] = db_col_int(r, 0);
    }
    db_rows_free(r);
    if (rc < 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

/* Deletes document id and what hangs off it; with node, appends the change-log entry in the
 * same transaction, so that other nodes learn of the delete even if this one dies at once. */
static int doc_delete(const char *id, const char *node, int64_t **chunk_ids, size_t *n)
{
    db_conn_t *c = db_conn();
    *chunk_ids = NULL;
    *n = 0;
    int rc = db_begin(c);
    if (rc) return rc;
    rc = collect_ids(c, id, chunk_ids, n);
    int64_t ch = 0;
    if (!rc)
        rc = db_exec(c, NULL,
                     "DELETE FROM embeddings WHERE chunk_id IN"
                     " (SELECT id FROM chunks WHERE document_id = ?)",
                     "s", id);
    if (!rc) rc = db_exec(c, NULL, "DELETE FROM chunks WHERE document_id = ?", "s", id);
    if (!rc) rc = db_exec(c, NULL, "DELETE FROM document_uploads WHERE document_id = ?", "s", id);
    if (!rc) rc = db_exec(c, &ch, "DELETE FROM documents WHERE id = ?", "s", id);
    if (!rc && !ch) rc = RAGD_ENOTFOUND;
    if (!rc && node) rc = store_kb_change_add(id, "delete", node, *chunk_ids, *n);
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        free(*chunk_ids);
        *chunk_ids = NULL;
        *n = 0;
    }
    return rc;
}

int store_doc_delete(const char *id, int64_t **chunk_ids, size_t *n)
{
    return doc_delete(id, NULL, chunk_ids, n);
}

int store_doc_erase(const char *id, const char *node, int64_t **chunk_ids, size_t *n)
{
    return doc_delete(id, node, chunk_ids, n);
}

/* ---- chunks ---- */

int store_chunks_replace(const char *doc_id, const struct kchunk_new *chunks, size_t n,
                         const char *model, uint32_t dim, const char *note, int64_t *ids,
                         int64_t **old_ids, size_t *n_old)
{
    db_conn_t *c = db_conn();
    char ts[32];
    time_iso(time_now_ms(), ts);
    *old_ids = NULL;
    *n_old = 0;
    int rc = db_begin(c);
    if (rc) return rc;
    rc = collect_ids(c, doc_id, old_ids, n_old);
    if (!rc)
        rc = db_exec(c, NULL,
                     "DELETE FROM embeddings WHERE chunk_id IN"
                     " (SELECT id FROM chunks WHERE document_id = ?)",
                     "s", doc_id);
    if (!rc) rc = db_exec(c, NULL, "DELETE FROM chunks WHERE document_id = ?", "s", doc_id);
    char *b64 = NULL;
    if (dim) b64 = xmalloc(4 * ((size_t)dim * 4 / 3 + 3) + 1);
    for (size_t i = 0; !rc && i < n; i++) {
        const struct kchunk_new *k = &chunks[i];
        char *text = xstrndup(k->text, k->len);
        rc = db_query_int(c, &ids[i],
                          "INSERT INTO chunks (document_id, position, content, start_offset,"
                          " end_offset, tokens, created_at) VALUES (?,?,?,?,?,?,?) RETURNING id",
                          "sisiiis", doc_id, (int64_t)k->position, text, k->start, k->end,
                          k->tokens, ts);
        free(text);
        if (!rc && k->vec && dim) {
            b64url_encode(k->vec, (size_t)dim * sizeof(float), b64);
            rc = db_exec(c, NULL,
                         "INSERT INTO embeddings (chunk_id, model, dim, vector, created_at)"
                         " VALUES (?,?,?,?,?)",
                         "isiss", ids[i], model, (int64_t)dim, b64, ts);
        }
    }
    free(b64);
    int64_t ch = 0;
    if (!rc)
        rc = db_exec(c, &ch,
                     "UPDATE documents SET chunk_count = ?, status = 'ready', error = ?,"
                     " processed_at = ?, updated_at = ? WHERE id = ?",
                     "issss", (int64_t)n, note, ts, ts, doc_id);
    if (!rc && !ch) rc = RAGD_ENOTFOUND; /* deleted while it was being processed */
    if (!rc) rc = db_commit(c);
    if (rc) {
        db_rollback(c);
        free(*old_ids);
        *old_ids = NULL;
        *n_old = 0;
    }
    return rc;
}

void store_kchunk_clear(struct kchunk *c)
{
    free(c->title);
    free(c->content);
    free(c->source);
    free(c->category);
    free(c->mime_type);
    tags_free(c->tags, c->ntags);
    free(c->last_accessed);
    free(c->doc_metadata);
    memset(c, 0, sizeof *c);
}

#define CHUNK_COLUMNS                                                                              \
    "SELECT c.id, c.document_id, c.position, d.title, c.content, d.source,"                        \
    " d.category, d.tags, d.importance, c.retrieval_count, c.last_accessed,"                       \
    " c.start_offset, c.end_offset, d.mime_type,"                                                  \
    " CASE WHEN ? = 1 THEN d.metadata END"                                                         \
    " FROM chunks c JOIN documents d ON d.id = c.document_id"

/* The current row of a CHUNK_COLUMNS query into *out. */
static void chunk_of_row(db_rows_t *r, int with_doc_metadata, struct kchunk *out)
{
    memset(out, 0, sizeof *out);
    out->id = db_col_int(r, 0);
    snprintf(out->document_id, sizeof out->document_id, "%s", db_col_text(r, 1));
    out->position = (int)db_col_int(r, 2);
    out->title = xstrdup(db_col_text(r, 3) ? db_col_text(r, 3) : "");
    out->content = xstrdup(db_col_text(r, 4) ? db_col_text(r, 4) : "");
    out->source = dup_or_null(db_col_text(r, 5));
    out->category = dup_or_null(db_col_text(r, 6));
    tags_parse(db_col_text(r, 7), &out->tags, &out->ntags);
    out->importance = db_col_double(r, 8);
    out->retrieval_count = db_col_int(r, 9);
    out->last_accessed = dup_or_null(db_col_text(r, 10));
    out->start = db_col_int(r, 11);
    out->end = db_col_int(r, 12);
    out->mime_type = dup_or_null(db_col_text(r, 13));
    if (with_doc_metadata)
        out->doc_metadata = xstrdup(db_col_text(r, 14) ? db_col_text(r, 14) : "{}");
}

/* ---- reads of a list of keys in one query ----
 * The keys travel as one JSON array parameter, unpacked by each backend's own function (the
 * statement stays one prepared statement whatever the number of keys). */

static int is_sqlite(void)
{
    return !strcmp(db_backend(), "sqlite");
}

/* ids[0..n) as the JSON array text those statements take (caller frees). */
static char *ids_json(const int64_t *ids, size_t n)
{
    struct sbuf b;
    sb_init(&b);
    sb_adds(&b, "[");
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "%s%lld", i ? "," : "", (long long)ids[i]);
    sb_adds(&b, "]");
    return sb_take(&b);
}

int store_chunks_get(const int64_t *ids, size_t n, int with_doc_metadata, struct kchunk *out,
                     int *found)
{
    static const char lite[] = CHUNK_COLUMNS " WHERE c.id IN (SELECT value FROM json_each(?))";
    static const char pg[] = CHUNK_COLUMNS
        " WHERE c.id IN (SELECT value::bigint FROM json_array_elements_text(?::json))";
    memset(out, 0, n * sizeof *out);
    memset(found, 0, n * sizeof *found);
    if (!n) return 0;
    char *list = ids_json(ids, n);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r, is_sqlite() ? lite : pg, "bs", with_doc_metadata, list);
    free(list);
    if (rc) return rc;
    while ((rc = db_rows_next(r)) == 1) {
        int64_t id = db_col_int(r, 0);
        for (size_t i = 0; i < n; i++)
            if (ids[i] == id && !found[i]) {
                chunk_of_row(r, with_doc_metadata, &out[i]);
                found[i] = 1;
                break;
            }
    }
    db_rows_free(r);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            if (found[i]) store_kchunk_clear(&out[i]);
        memset(found, 0, n * sizeof *found);
        return rc;
    }
    return 0;
}

int store_docs_metadata(const char *const *ids, size_t n, char **json)
{
    static const char lite[] =
        "SELECT id, metadata FROM documents WHERE id IN (SELECT value FROM json_each(?))";
    static const char pg[] = "SELECT id, metadata FROM documents"
                             " WHERE id IN (SELECT value FROM json_array_elements_text(?::json))";
    memset(json, 0, n * sizeof *json);
    if (!n) return 0;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(ids[i]));
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    db_rows_t *r;
    int rc = db_query(db_conn(), &r, is_sqlite() ? lite : pg, "s", text);
    free(text);
    if (rc) return rc;
    while ((rc = db_rows_next(r)) == 1) {
        const char *id = db_col_text(r, 0), *m = db_col_text(r, 1);
        for (size_t i = 0; i < n; i++)
            if (!json[i] && id && !strcmp(ids[i], id)) json[i] = xstrdup(m ? m : "{}");
    }
    db_rows_free(r);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++) {
            free(json[i]);
            json[i] = NULL;
        }
        return rc;
    }
    return 0;
}

int store_chunks_touch(const int64_t *ids, size_t n)
{
    /* One statement for all of a search's chunks, atomic on its own: no lock but its rows'. */
#define TOUCH                                                                                      \
    "UPDATE chunks SET retrieval_count = retrieval_count + 1, last_accessed = ? WHERE id IN"
    static const char lite[] = TOUCH " (SELECT value FROM json_each(?))";
    static const char pg[] = TOUCH " (SELECT value::bigint FROM json_array_elements_text(?::json))";
#undef TOUCH
    if (!n) return 0;
    char ts[32], *list = ids_json(ids, n);
    time_iso(time_now_ms(), ts);
    int rc = db_exec(db_conn(), NULL, is_sqlite() ? lite : pg, "ss", ts, list);
    free(list);
    return rc;
}

int store_doc_meta_foreach(int (*fn)(const struct kdoc_meta *m, void *ud), void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT id, organization_id, owner_id, category, source, tags, shared"
                      " FROM documents WHERE status = 'ready'",
                      "");
    if (rc) return rc;
    while ((rc = db_rows_next(r)) == 1) {
        struct kdoc_meta m = {db_col_text(r, 0),    db_col_text(r, 1), db_col_text(r, 2),
                              db_col_text(r, 3),    db_col_text(r, 4), db_col_text(r, 5),
                              (int)db_col_int(r, 6)};
        if ((rc = fn(&m, ud))) break;
    }
    db_rows_free(r);
    return rc;
}

int store_chunk_foreach(int (*fn)(int64_t id, const char *doc_id, const char *title,
                                  const char *text, void *ud),
                        void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT c.id, c.document_id, d.title, c.content FROM chunks c JOIN"
                      " documents d ON d.id = c.document_id WHERE d.status = 'ready'"
                      " ORDER BY c.id",
                      "");
    if (rc) return rc;
    while ((rc = db_rows_next(r)) == 1)
        if ((rc = fn(db_col_int(r, 0), db_col_text(r, 1),
                     db_col_text(r, 2) ? db_col_text(r, 2) : "", db_col_text(r, 3), ud)))
            break;
    db_rows_free(r);
    return rc;
}

int store_embedding_foreach(uint32_t dim, int (*fn)(int64_t id, const float *vec, void *ud),
                            void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT e.chunk_id, e.vector FROM embeddings e JOIN chunks c ON"
                      " c.id = e.chunk_id JOIN documents d ON d.id = c.document_id"
                      " WHERE e.dim = ? AND d.status = 'ready' ORDER BY e.chunk_id",
                      "i", (int64_t)dim);
    if (rc) return rc;
    size_t want = ((size_t)dim * sizeof(float) * 4 + 2) / 3; /* base64url length, no padding */
    float *vec = xmalloc((size_t)dim * sizeof(float) + 8);
    while ((rc = db_rows_next(r)) == 1) {
        const char *t = db_col_text(r, 1);
        size_t got = 0;
        if (!t || strlen(t) != want || b64url_decode(t, want, vec, &got) ||
            got != dim * sizeof(float))
            continue; /* a damaged row: the chunk stays lexical-only */
        if ((rc = fn(db_col_int(r, 0), vec, ud))) break;
    }
    free(vec);
    db_rows_free(r);
    return rc;
}

void store_ktexts_free(struct ktext *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].title);
        free(t[i].content);
    }
    free(t);
}

int store_chunks_unembedded(uint32_t dim, const char *model, int64_t after_id, size_t limit,
                            struct ktext **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT c.id, c.document_id, d.title, c.content FROM chunks c"
                      " JOIN documents d ON d.id = c.document_id"
                      " LEFT JOIN embeddings e ON e.chunk_id = c.id"
                      " WHERE d.status = 'ready' AND c.id > ? AND (e.chunk_id IS NULL"
                      " OR e.dim <> ? OR e.model IS NULL OR e.model <> ?)"
                      " ORDER BY c.id LIMIT ?",
                      "iisi", after_id, (int64_t)dim, model, (int64_t)limit);
    if (rc) return rc;
    struct ktext *a = xcalloc(limit ? limit : 1, sizeof *a);
    size_t k = 0;
    while (k < limit && (rc = db_rows_next(r)) == 1) {
        a[k].id = db_col_int(r, 0);
        snprintf(a[k].document_id, sizeof a[k].document_id, "%s", db_col_text(r, 1));
        a[k].title = xstrdup(db_col_text(r, 2) ? db_col_text(r, 2) : "");
        a[k].content = xstrdup(db_col_text(r, 3) ? db_col_text(r, 3) : "");
        k++;
    }
    db_rows_free(r);
    if (rc < 0) {
        store_ktexts_free(a, k);
        return RAGD_EDB;
    }
    *out = a;
    *n = k;
    return 0;
}

int store_embedding_put(int64_t id, const char *model, uint32_t dim, const float *vec)
{
    char ts[32];
    char *b64 = xmalloc(4 * ((size_t)dim * 4 / 3 + 3) + 1);
    b64url_encode(vec, (size_t)dim * sizeof(float), b64);
    int64_t n = 0;
    int rc = db_exec(db_conn(), &n,
                     "INSERT INTO embeddings (chunk_id, model, dim, vector, created_at)"
                     " SELECT id, ?, ?, ?, ? FROM chunks WHERE id = ?"
                     " ON CONFLICT (chunk_id) DO UPDATE SET model = excluded.model,"
                     " dim = excluded.dim, vector = excluded.vector,"
                     " created_at = excluded.created_at",
                     "sissi", model, (int64_t)dim, b64, time_iso(time_now_ms(), ts), id);
    free(b64);
    return rc ? rc : n ? 0 : RAGD_ENOTFOUND;
}

int store_chunk_count(int64_t *chunks, uint32_t dim, int64_t *embeddings)
{
    db_conn_t *c = db_conn();
    int rc = db_query_int(c, chunks,
                          "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id"
                          " WHERE d.status = 'ready'",
                          "");
    if (!rc && embeddings)
        rc = db_query_int(c, embeddings,
                          "SELECT count(*) FROM embeddings e JOIN chunks c ON c.id = e.chunk_id"
                          " JOIN documents d ON d.id = c.document_id"
                          " WHERE e.dim = ? AND d.status = 'ready'",
                          "i", (int64_t)dim);
    return rc;
}

/* ---- change log ---- */

int store_kb_change_add(const char *doc_id, const char *op, const char *node, const int64_t *ids,
                        size_t n)
{
    struct sbuf b;
    sb_init(&b);
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "%s%lld", i ? "," : "", (long long)ids[i]);
    char ts[32];
    db_conn_t *c = db_conn();
    int rc = db_exec(c, NULL,
                     "INSERT INTO kb_changes (document_id, op, node, chunk_ids, created_at)"
                     " VALUES (?, ?, ?, ?, ?)",
                     "sssss", doc_id, op, node, b.s ? b.s : "", time_iso(time_now_ms(), ts));
    sb_free(&b);
    /* Entries older than a day have been seen by every live node. */
    if (!rc)
        db_exec(c, NULL, "DELETE FROM kb_changes WHERE created_at < ?", "s",
                time_iso(time_now_ms() - 86400000, ts));
    return rc;
}

int store_kb_change_max(int64_t *seq)
{
    return db_query_int(db_conn(), seq, "SELECT coalesce(max(seq), 0) FROM kb_changes", "");
}

int store_kb_changes_since(int64_t seq, size_t limit,
                           int (*fn)(int64_t seq, const char *doc_id, const char *op,
                                     const char *node, const char *chunk_ids, void *ud),
                           void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT seq, document_id, op, node, chunk_ids FROM kb_changes"
                      " WHERE seq > ? ORDER BY seq LIMIT ?",
                      "ii", seq, (int64_t)limit);
    if (rc) return rc;
    while ((rc = db_rows_next(r)) == 1)
        if ((rc = fn(db_col_int(r, 0), db_col_text(r, 1), db_col_text(r, 2), db_col_text(r, 3),
                     db_col_text(r, 4), ud)))
            break;
    db_rows_free(r);
    return rc;
}

int store_doc_chunks_foreach(const char *doc_id, uint32_t dim,
                             int (*fn)(int64_t id, const char *text, const float *vec, void *ud),
                             void *ud)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT c.id, c.content, e.vector FROM chunks c"
                      " LEFT JOIN embeddings e ON e.chunk_id = c.id AND e.dim = ?"
                      " WHERE c.document_id = ? ORDER BY c.id",
                      "is", (int64_t)dim, doc_id);
    if (rc) return rc;
    size_t want = ((size_t)dim * sizeof(float) * 4 + 2) / 3;
    float *vec = xmalloc((size_t)dim * sizeof(float) + 8);
    while ((rc = db_rows_next(r)) == 1) {
        const char *t = db_col_text(r, 2);
        size_t got = 0;
        int ok = dim && t && strlen(t) == want && !b64url_decode(t, want, vec, &got) &&
                 got == dim * sizeof(float);
        if ((rc = fn(db_col_int(r, 0), db_col_text(r, 1), ok ? vec : NULL, ud))) break;
    }
    free(vec);
    db_rows_free(r);
    return rc;
}

/* ---- uploads and ingestion claims ---- */

int store_upload_put(const char *doc_id, const void *data, size_t len)
{
    char *b = xmalloc(4 * (len / 3 + 1) + 1);
    b64url_encode(data, len, b);
    int rc =
        db_exec(db_conn(), NULL, "INSERT INTO document_uploads (document_id, data) VALUES (?, ?)",
                "ss", doc_id, b);
    free(b);
    return rc;
}

int store_upload_get(const char *doc_id, char **data, size_t *len)
{
    char *b = NULL;
    int rc = db_query_text(db_conn(), &b, "SELECT data FROM document_uploads WHERE document_id = ?",
                           "s", doc_id);
    if (rc) return rc;
    size_t n = b ? strlen(b) : 0;
    *data = xmalloc(n * 3 / 4 + 4);
    rc = b64url_decode(b ? b : "", n, *data, len);
    free(b);
    if (rc) {
        free(*data);
        *data = NULL;
        return RAGD_EFORMAT;
    }
    (*data)[*len] = '\0';
    return 0;
}

int store_upload_delete(const char *doc_id)
{
    return db_exec(db_conn(), NULL, "DELETE FROM document_uploads WHERE document_id = ?", "s",
                   doc_id);
}

int store_doc_claim(const char *doc_id, const char *node, const char *stale_before)
{
    char ts[32];
    int64_t ch = 0;
    int rc = db_exec(db_conn(), &ch,
                     "UPDATE documents SET status = 'processing', claimed_by = ?, claimed_at = ?,"
                     " updated_at = ? WHERE id = ? AND (status = 'pending' OR"
                     " (status = 'processing' AND (claimed_by IS NULL OR claimed_by = ? OR"
                     " claimed_at < ?)))",
                     "ssssss", node, time_iso(time_now_ms(), ts), ts, doc_id, node, stale_before);
    return rc ? rc : ch ? 0 : RAGD_ECONFLICT;
}

int store_doc_claimable(const char *node, const char *pending_before, const char *stale_before,
                        size_t limit, char ***ids, size_t *n)
{
    db_rows_t *r;
    int rc = db_query(db_conn(), &r,
                      "SELECT id FROM documents WHERE (status = 'pending' AND created_at < ?) OR"
                      " (status = 'processing' AND (claimed_by IS NULL OR claimed_by = ? OR"
                      " claimed_at < ?)) ORDER BY created_at LIMIT ?",
                      "sssi", pending_before, node, stale_before, (int64_t)limit);
    if (rc) return rc;
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    while (db_rows_next(r) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *ids = xrealloc(*ids, cap * sizeof **ids);
        }
        (*ids)[(*n)++] = xstrdup(db_col_text(r, 0));
    }
    db_rows_free(r);
    return 0;
}
