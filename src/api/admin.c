/* admin.c - /admin: demo-knowledge seeding and the audit log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "knowledge/knowledge.h"
#include "store/store.h"

static char *data_dir;

void api_set_data_dir(const char *dir)
{
    free(data_dir);
    data_dir = strdup(dir);
}

const char *api_data_dir(void)
{
    return data_dir ? data_dir : ".";
}

/* ---- demo knowledge base ---- */

static void seed_status(struct req *r)
{
    char *last = NULL;
    int rc = store_kv_get("seed.last_run", &last);
    json_t *last_run = json_null();
    if (!rc && last) {
        json_error_t je;
        json_t *v = json_loads(last, 0, &je);
        if (v) last_run = v;
    }
    free(last);
    const char *dir = knowledge_docs_dir();
    http_json(r, 200,
              json_pack("{s:s, s:b, s:o, s:{s:o, s:b, s:I}}", "status", "available",
                        "knowledge_base_available", 1, "last_run", last_run, "knowledge_base",
                        "docs_dir", dir ? json_string(dir) : json_null(), "vector_search",
                        knowledge_vector_available(), "documents_queued",
                        (json_int_t)knowledge_queue_length()));
}

static json_t *seed_summary_json(const char *dir, const struct kn_seed_summary *s)
{
    json_t *docs = json_array();
    for (size_t i = 0; i < s->files; i++) {
        const struct kn_seeded *e = &s->docs[i];
        json_t *d = json_pack("{s:s, s:s}", "source", e->source, "status", e->status);
        if (e->document_id[0]) json_object_set_new(d, "document_id", json_string(e->document_id));
        if (e->error) json_object_set_new(d, "error", json_string(e->error));
        json_array_append_new(docs, d);
    }
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "directory", dir, "files",
                     (json_int_t)s->files, "ingested", (json_int_t)s->ingested, "skipped",
                     (json_int_t)s->skipped, "failed", (json_int_t)s->failed, "documents", docs);
}

/* Ingests the demo corpus (KNOWLEDGE_DOCS_DIR, else docs/) as the calling admin. */
static void seed_run(struct req *r)
{
    const struct user *u = api_user(r);
    const char *dir = knowledge_docs_dir();
    json_t *result = NULL;
    int rc = 0;
    if (!dir) {
        result = json_pack("{s:n, s:i, s:i, s:s}", "directory", "files", 0, "ingested", 0, "detail",
                           "no docs/ directory found (set KNOWLEDGE_DOCS_DIR)");
    } else {
        struct kn_seed_summary s;
        rc = knowledge_seed_dir(dir, u->id, &s);
        if (!rc) result = seed_summary_json(dir, &s);
        knowledge_seed_summary_free(&s);
    }
    json_t *details = json_pack("{s:b, s:b}", "knowledge_base_available", 1, "succeeded", !rc);
    api_audit(r, "admin.seed_enhanced", "system", NULL, details);
    json_decref(details);
    if (rc) {
        json_decref(result);
        http_store_error(r, rc);
        return;
    }
    char *summary = json_dumps(result, JSON_COMPACT);
    store_kv_set("seed.last_run", summary ? summary : "{}");
    free(summary);
    http_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:o}", "status", "success", "message",
                        "Enhanced seeding completed successfully", "triggered_by", u->email,
                        "details", result));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *audit_json(const struct audit_row *e)
{
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:O, s:o, s:o}", "id", (json_int_t)e->id,
                     "created_at", e->created_at, "actor_id", str_or_null(e->actor_id),
                     "actor_email", str_or_null(e->actor_email), "action", str_or_null(e->action),
                     "target_type", str_or_null(e->target_type), "target_id",
                     str_or_null(e->target_id), "details", e->details ? e->details : json_null(),
                     "request_id", str_or_null(e->request_id), "ip", str_or_null(e->ip));
}

static void audit_list(struct req *r)
{
    long long limit, offset;
    if (req_query_int(r, "limit", 50, 1, 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    struct audit_row *rows;
    int n;
    int64_t total;
    int rc = store_audit_list(req_query(r, "action"), limit, offset, &rows, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, audit_json(&rows[i]));
    store_audit_rows_free(rows, n);
    http_json(r, 200, json_pack("{s:I, s:o}", "total", (json_int_t)total, "items", items));
}

const struct route admin_routes[] = {
    {"GET", "/admin/seed-status", seed_status, ACCESS_ADMIN, NULL, NULL, NULL, "admin",
     "Status of the demo knowledge-base seeding", 200, "{status, last_run, knowledge_base}"},
    {"POST", "/admin/seed-enhanced", seed_run, ACCESS_ADMIN, NULL, NULL, NULL, "admin",
     "Seed the demo knowledge base from docs/", 200, "{status, message, triggered_by, details}", 0,
     NULL, NULL, 1},
    {"GET", "/admin/audit-log", audit_list, ACCESS_ADMIN, NULL, NULL, NULL, "admin",
     "Audit log, newest first; query: limit, offset, action", 200, "{total, items}"},
    {NULL},
};
