/* admin.c - /admin: demo-knowledge seeding and the audit log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/util.h"
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
    return json_pack(
        "{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:O, s:o, s:o, s:o}", "id", (json_int_t)e->id,
        "created_at", e->created_at, "actor_id", str_or_null(e->actor_id), "actor_email",
        str_or_null(e->actor_email), "action", str_or_null(e->action), "target_type",
        str_or_null(e->target_type), "target_id", str_or_null(e->target_id), "details",
        e->details ? e->details : json_null(), "request_id", str_or_null(e->request_id), "ip",
        str_or_null(e->ip), "user_agent", str_or_null(e->user_agent));
}

/* ---- CSV ---- */

/* Appends one CSV cell (RFC 4180): quoted when it holds a comma, quote or line break, quotes
 * doubled. A cell that a spreadsheet would take for a formula (it starts with = + - @, a tab
 * or a carriage return) gets a leading apostrophe, so opening the export runs nothing. */
static void csv_cell(struct sbuf *b, const char *v, int last)
{
    if (!v) v = "";
    int formula = strchr("=+-@\t\r", v[0]) && v[0];
    int quote = formula || strpbrk(v, ",\"\r\n") != NULL;
    if (quote) sb_add(b, "\"", 1);
    if (formula) sb_add(b, "'", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"') sb_add(b, "\"", 1);
        sb_add(b, p, 1);
    }
    if (quote) sb_add(b, "\"", 1);
    sb_adds(b, last ? "\r\n" : ",");
}

static void audit_csv(struct req *r, const struct audit_row *rows, int n)
{
    static const char *const head[] = {"id",         "created_at",  "actor_id",  "actor_email",
                                       "action",     "target_type", "target_id", "ip",
                                       "user_agent", "request_id",  "details"};
    enum { NCOL = sizeof head / sizeof head[0] };
    struct sbuf b;
    sb_init(&b);
    for (int i = 0; i < NCOL; i++)
        csv_cell(&b, head[i], i == NCOL - 1);
    for (int i = 0; i < n; i++) {
        const struct audit_row *e = &rows[i];
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)e->id);
        char *details = e->details ? json_dumps(e->details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        const char *cells[NCOL] = {
            id,           e->created_at, e->actor_id,   e->actor_email, e->action, e->target_type,
            e->target_id, e->ip,         e->user_agent, e->request_id,  details};
        for (int c = 0; c < NCOL; c++)
            csv_cell(&b, cells[c], c == NCOL - 1);
        free(details);
    }
    http_header(r, "Content-Disposition", "attachment; filename=\"audit-log.csv\"");
    http_raw(r, 200, "text/csv; charset=utf-8", b.s ? b.s : "", b.len);
    sb_free(&b);
}

/* Reads a date-range bound: an ISO-8601 UTC time, or a bare date (YYYY-MM-DD: its start; for
 * an end bound, the start of the next day). Writes the stored form into out. Returns 0, or
 * answers 422 and returns non-zero. */
static int range_bound(struct req *r, const char *name, int end, char out[32], const char **v)
{
    const char *s = req_query(r, name);
    *v = NULL;
    if (!s) return 0;
    char buf[40];
    int date_only = strlen(s) == 10;
    snprintf(buf, sizeof buf, date_only ? "%sT00:00:00Z" : "%.39s", s);
    int64_t ms;
    /* timegm would take 2026-13-45 for a date in 2027: the time read must read back. */
    char back[32];
    if (strlen(s) >= 40 || time_parse_iso(buf, &ms) || strncmp(time_iso(ms, back), buf, 10) ||
        strncmp(back + 11, buf + 11, 8)) {
        api_invalid(r, name, "query parameter '%s' must be an ISO-8601 UTC time or a date", name);
        return 1;
    }
    if (end && date_only) ms += 86400000;
    time_iso(ms, out);
    *v = out;
    return 0;
}

/* A text query argument of at most max bytes, or NULL; answers 422 when longer. */
static int text_arg(struct req *r, const char *name, size_t max, const char **v)
{
    *v = req_query(r, name);
    if (*v && !**v) *v = NULL;
    if (*v && strlen(*v) > max) {
        api_invalid(r, name, "query parameter '%s' must be at most %zu bytes", name, max);
        return 1;
    }
    return 0;
}

static void audit_list(struct req *r)
{
    const char *format = req_query(r, "format");
    int csv = format && !strcmp(format, "csv");
    if (format && !csv && strcmp(format, "json")) {
        api_invalid(r, "format", "query parameter 'format' must be json or csv");
        return;
    }
    long long limit, offset;
    if (req_query_int(r, "limit", csv ? 1000 : 50, 1, csv ? 10000 : 500, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    struct audit_filter f = {0};
    char from[32], to[32];
    if (text_arg(r, "actor", 256, &f.actor) || text_arg(r, "action", 128, &f.action) ||
        text_arg(r, "target", 128, &f.target) || text_arg(r, "target_type", 64, &f.target_type) ||
        text_arg(r, "q", 256, &f.q) || range_bound(r, "from", 0, from, &f.from) ||
        range_bound(r, "to", 1, to, &f.to))
        return;
    struct audit_row *rows;
    int n;
    int64_t total;
    int rc = store_audit_list(&f, limit, offset, &rows, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    if (csv) {
        audit_csv(r, rows, n);
        store_audit_rows_free(rows, n);
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, audit_json(&rows[i]));
    store_audit_rows_free(rows, n);
    http_json(r, 200,
              json_pack("{s:I, s:o, s:I, s:I}", "total", (json_int_t)total, "items", items, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset));
}

const struct route admin_routes[] = {
    {.method = "GET",
     .pattern = "/admin/seed-status",
     .handler = seed_status,
     .access = ACCESS_ADMIN,
     .tag = "admin",
     .summary = "Status of the demo knowledge-base seeding",
     .response_doc = "{status, last_run, knowledge_base}",
     .perm = "knowledge.manage",
     .response = "{status: string, knowledge_base_available: bool, last_run: object|null, "
                 "knowledge_base: {docs_dir: string|null, vector_search: bool, documents_queued: "
                 "int}}"},
    {.method = "POST",
     .pattern = "/admin/seed-enhanced",
     .handler = seed_run,
     .access = ACCESS_ADMIN,
     .tag = "admin",
     .summary = "Seed the demo knowledge base from docs/",
     .response_doc = "{status, message, triggered_by, details}",
     .perm = "knowledge.manage",
     .heavy = 1,
     .response = "{status: string, message: string, triggered_by: string, details: {directory: "
                 "string|null, files: int, ingested: int, skipped?: int, failed?: int, detail?: "
                 "string, documents?: [{source: string, status: string, document_id?: string, "
                 "error?: string}]}}"},
    {.method = "GET",
     .pattern = "/admin/audit-log",
     .handler = audit_list,
     .access = ACCESS_ADMIN,
     .tag = "admin",
     .summary = "Audit log, newest first; query: limit, offset, actor (id or e-mail), action"
                " (exact, or a family: 'auth.*'), target, target_type, from, to (ISO-8601 UTC or"
                " YYYY-MM-DD), q (text search), format=csv (a CSV download)",
     .response_doc = "{total, items, limit, offset}",
     .perm = "audit.read",
     .response = "{total: int, items: [{id: int, created_at: string, actor_id: string|null, "
                 "actor_email: string|null, action: string|null, target_type: string|null, "
                 "target_id: string|null, details: object|null, request_id: string|null, ip: "
                 "string|null, user_agent: string|null}], limit: int, offset: int}; text/csv"},
    {NULL},
};
