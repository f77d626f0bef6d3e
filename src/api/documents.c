/* documents.c - /documents: upload (JSON or multipart), list, get, delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/multipart.h"
#include "billing/billing.h"
#include "core/error.h"
#include "core/jsonv.h"
#include "core/util.h"
#include "erasure/erasure.h"
#include "knowledge/knowledge.h"
#include "rag/extract.h"
#include "store/knowledge.h"

/* Fields shared by the JSON body and the multipart form. */
static const struct jv_field upload_fields[] = {
    {"title", JV_STRING, 0, 0, 500, 1, NULL, "Document title (default: taken from the content)"},
    {"content", JV_STRING, 1, 1, 1e9, 0, NULL,
     "Document text: plain text, Markdown or HTML (type sniffed from the content)"},
    {"category", JV_STRING, 0, 0, 100, 1, NULL, "Category, usable as a search filter"},
    {"tags", JV_ARRAY, 0, 0, 50, 1, NULL, "Tags (strings), usable as a search filter"},
    {"source", JV_STRING, 0, 0, 500, 1, NULL, "Where the document comes from"},
    {"metadata", JV_OBJECT, 0, 0, 0, 1, NULL, "Free-form metadata kept with the document"},
    {"importance", JV_NUMBER, 0, 0.01, 100, 1, NULL, "Relative importance (default 1.0)"},
    {"shared", JV_BOOL, 0, 0, 0, 1, NULL, "Visible to every user (administrators only)"},
    {NULL},
};
static const struct jv_schema upload_schema = {upload_fields, 0};

static void caller_of(struct req *r, struct kn_caller *c)
{
    const struct user *u = api_user(r);
    c->user_id = u->id;
    c->org_id = u->organization_id[0] ? u->organization_id : NULL;
    c->is_admin = u->is_superuser;
}

static int tags_ok(struct req *r, json_t *tags)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (!json_is_string(t) || !json_string_length(t) || json_string_length(t) > 100) {
            api_invalid(r, "tags", "field 'tags' must be an array of 1..100 character strings");
            return 0;
        }
    }
    return 1;
}

/* ---- rendering ---- */

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A document as the API shows it: id, title, category, tags, source, organization_id,
 * owner_id, shared, status, error, sha256, size_bytes, mime_type, chunk_count, pages,
 * importance, metadata, created_at, updated_at, processed_at, and content when with_content. */
static json_t *doc_json(const struct kdoc *d, int with_content)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < d->ntags; i++)
        json_array_append_new(tags, json_string(d->tags[i]));
    json_error_t je;
    json_t *meta = d->metadata ? json_loads(d->metadata, JSON_DECODE_ANY, &je) : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(d->id));
    json_object_set_new(o, "title", json_string(d->title ? d->title : ""));
    json_object_set_new(o, "category", text_or_null(d->category));
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "source", text_or_null(d->source));
    json_object_set_new(o, "organization_id", text_or_null(d->organization_id));
    json_object_set_new(o, "owner_id", text_or_null(d->owner_id));
    json_object_set_new(o, "shared", json_boolean(d->shared));
    json_object_set_new(o, "status", json_string(d->status ? d->status : ""));
    json_object_set_new(o, "error", text_or_null(d->error));
    json_object_set_new(o, "sha256", text_or_null(d->sha256));
    json_object_set_new(o, "size_bytes", json_integer(d->size_bytes));
    json_object_set_new(o, "mime_type", text_or_null(d->mime_type));
    json_object_set_new(o, "chunk_count", json_integer(d->chunk_count));
    json_object_set_new(o, "pages", json_integer(d->pages));
    json_object_set_new(o, "importance", json_real(d->importance));
    json_object_set_new(o, "metadata", meta ? meta : json_object());
    json_object_set_new(o, "created_at", json_string(d->created_at ? d->created_at : ""));
    json_object_set_new(o, "updated_at", json_string(d->updated_at ? d->updated_at : ""));
    json_object_set_new(o, "processed_at", text_or_null(d->processed_at));
    if (with_content) json_object_set_new(o, "content", text_or_null(d->content));
    return o;
}

/* ---- billing ---- */

enum { MIB = 1024 * 1024 };

/* Reserves what accepting u costs, on top of the background task the route reserves: its
 * size in storage_mb (whole MiB, rounded up, at least 1) and, for a PDF, one of the day's
 * pdf_uploads (seed 003; the free plan allows none). Input that knowledge_submit will refuse
 * anyway (too large, not a document) reserves nothing here: its 4xx releases the route's
 * hold. Returns 0, or non-zero after answering (429, 503). */
static int reserve_upload(struct req *r, const struct kn_upload *u)
{
    extract_type_t type;
    if (u->len > knowledge_max_bytes() || extract_sniff(u->data, u->len, &type, NULL)) return 0;
    if (type == EXTRACT_PDF && api_gate_feature(r, "pdf_upload")) return -1; /* its toggle */
    if (type == EXTRACT_PDF && api_quota_daily(r, "pdf_uploads", 1)) return -1;
    /* The metadata is stored with the document: it counts as storage too (checked already). */
    size_t meta = 0;
    char err[256];
    knowledge_metadata_check(u->metadata, &meta, err, sizeof err);
    int64_t mb = (int64_t)((u->len + meta + MIB - 1) / MIB);
    return api_quota_reserve(r, "storage_mb", mb < 1 ? 1 : mb);
}

/* The extra_data of the usage records this upload commits. */
static void upload_usage_extra(struct req *r, const struct kdoc *doc)
{
    api_quota_extra(r, json_pack("{s:s, s:I, s:o}", "document_id", doc->id, "size_bytes",
                                 (json_int_t)doc->size_bytes, "mime_type",
                                 text_or_null(doc->mime_type)));
}

/* Answers knowledge_submit's outcome; filename (may be NULL) is added to the 202 body. */
static void answer_submit(struct req *r, int rc, const char *err, const struct kdoc *doc,
                          const char *filename)
{
    switch (rc) {
    case 0: {
        upload_usage_extra(r, doc);
        json_t *body = doc_json(doc, 0);
        if (filename) json_object_set_new(body, "filename", json_string(filename));
        http_json(r, 202, body);
        return;
    }
    case RAGD_ERANGE:
        http_error(r, 413, "PAYLOAD_TOO_LARGE", "%s", err);
        break;
    case RAGD_EINVAL:
        http_error(r, 415, "UNSUPPORTED_DOCUMENT", "%s", err);
        break;
    case RAGD_ELIMIT:
        http_header(r, "Retry-After", "5");
        http_error(r, 503, "QUEUE_FULL", "%s", err);
        break;
    default:
        http_store_error(r, rc);
    }
}

enum { MAX_TAGS = 50 }; /* the schema's bound on 'tags' */

/* Builds the upload from a validated JSON object of fields (strings from a form are
 * converted before validation); tagv (MAX_TAGS entries) holds the tags, which point into b.
 * Returns 0 or answers. */
static int fill_upload(struct req *r, json_t *b, struct kn_upload *u, const char **tagv)
{
    if (json_is_true(json_object_get(b, "shared")) && !api_user(r)->is_superuser) {
        http_error(r, 403, "ADMIN_REQUIRED", "Only administrators may share documents");
        return -1;
    }
    json_t *tags = json_object_get(b, "tags");
    if (json_is_array(tags) && !tags_ok(r, tags)) return -1;
    u->title = jv_str(b, "title", NULL);
    u->category = jv_str(b, "category", NULL);
    u->source = jv_str(b, "source", NULL);
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (u->ntags < MAX_TAGS) tagv[u->ntags++] = json_string_value(t);
    }
    u->tags = tagv;
    u->metadata =
        json_is_object(json_object_get(b, "metadata")) ? json_object_get(b, "metadata") : NULL;
    size_t meta_bytes;
    char err[256];
    int rc = knowledge_metadata_check(u->metadata, &meta_bytes, err, sizeof err);
    if (rc) {
        http_json(r, 422,
                  json_pack("{s:s, s:s, s:s, s:s}", "detail", err, "code",
                            rc == RAGD_ERANGE ? "METADATA_TOO_LARGE" : "METADATA_TOO_DEEP", "field",
                            "metadata", "request_id", req_id(r)));
        return -1;
    }
    u->importance = jv_num(b, "importance", 1.0);
    u->shared = jv_bool(b, "shared", 0);
    return 0;
}

static void submit_json(struct req *r)
{
    size_t len;
    const char *body = req_body(r, &len);
    json_t *b = NULL;
    char err[512];
    if (jv_parse_object(body, len, &b, err, sizeof err)) {
        http_error(r, 400, "INVALID_JSON", "%s", err);
        return;
    }
    const char *field;
    if (jv_validate(b, &upload_schema, &field, err, sizeof err)) {
        api_invalid(r, field, "%s", err);
        json_decref(b);
        return;
    }
    struct kn_upload u = {0};
    const char *tagv[MAX_TAGS];
    if (fill_upload(r, b, &u, tagv)) {
        json_decref(b);
        return;
    }
    u.data = json_string_value(json_object_get(b, "content"));
    u.len = json_string_length(json_object_get(b, "content"));
    u.request_id = req_id(r);
    if (reserve_upload(r, &u)) {
        json_decref(b);
        return;
    }
    struct kn_caller c;
    caller_of(r, &c);
    struct kdoc doc;
    int rc = knowledge_submit(&c, &u, &doc, err, sizeof err);
    answer_submit(r, rc, err, &doc, NULL);
    store_kdoc_clear(&doc);
    json_decref(b);
}

/* A form field's text as a JSON value of the field's type. */
static json_t *form_value(const struct jv_field *f, const struct multipart_part *p)
{
    char *s = strndup(p->data, p->len);
    if (!s || !utf8_valid(s, p->len)) {
        free(s);
        return NULL;
    }
    json_t *v = NULL;
    json_error_t je;
    switch (f->type) {
    case JV_BOOL:
        if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "on"))
            v = json_true();
        else if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "off"))
            v = json_false();
        else
            v = json_string(s); /* fails validation with a clear message */
        break;
    case JV_NUMBER: {
        char *end;
        double d = strtod(s, &end);
        v = *s && !*end ? json_real(d) : json_string(s);
        break;
    }
    case JV_ARRAY:
        /* A JSON array, or a comma-separated list. */
        v = s[0] == '[' ? json_loads(s, 0, &je) : NULL;
        if (!v) {
            v = json_array();
            char *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                while (*t == ' ')
                    t++;
                size_t n = strlen(t);
                while (n && t[n - 1] == ' ')
                    t[--n] = '\0';
                if (n) json_array_append_new(v, json_string(t));
            }
        }
        break;
    case JV_OBJECT:
        v = json_loads(s, 0, &je);
        if (!v) v = json_string(s);
        break;
    default:
        v = json_string(s);
    }
    free(s);
    return v;
}

static void submit_multipart(struct req *r, const char *ct)
{
    char boundary[80], err[512];
    if (multipart_boundary(ct, boundary)) {
        http_error(r, 400, "INVALID_MULTIPART",
                   "Content-Type multipart/form-data needs a boundary");
        return;
    }
    size_t len, n = 0;
    const char *body = req_body(r, &len);
    struct multipart_part parts[MULTIPART_MAX_PARTS];
    if (multipart_parse(body, len, boundary, parts, &n, err, sizeof err)) {
        http_error(r, 400, "INVALID_MULTIPART", "%s", err);
        return;
    }
    const struct multipart_part *file = multipart_find(parts, n, "file");
    if (!file) file = multipart_find(parts, n, "content");
    if (!file) {
        api_invalid(r, "file", "multipart upload needs a 'file' part");
        return;
    }
    json_t *b = json_object();
    for (const struct jv_field *f = upload_fields; f->name; f++) {
        if (!strcmp(f->name, "content")) continue;
        const struct multipart_part *p = multipart_find(parts, n, f->name);
        if (!p) continue;
        json_t *v = form_value(f, p);
        if (!v) {
            json_decref(b);
            api_invalid(r, f->name, "field '%s' is not valid UTF-8", f->name);
            return;
        }
        json_object_set_new(b, f->name, v);
    }
    /* Validate everything but the file with the shared schema. */
    json_object_set_new(b, "content", json_string("x"));
    const char *field;
    if (jv_validate(b, &upload_schema, &field, err, sizeof err)) {
        api_invalid(r, field, "%s", err);
        json_decref(b);
        return;
    }
    struct kn_upload u = {0};
    const char *tagv[MAX_TAGS];
    if (fill_upload(r, b, &u, tagv)) {
        json_decref(b);
        return;
    }
    /* Without a title, the file name (minus its extension) is a good one. */
    char title[256];
    if (!u.title && file->filename[0]) {
        const char *base = strrchr(file->filename, '/');
        base = base ? base + 1 : file->filename;
        snprintf(title, sizeof title, "%s", base);
        char *dot = strrchr(title, '.');
        if (dot && dot != title) *dot = '\0';
        if (utf8_valid(title, strlen(title))) u.title = title;
    }
    u.data = file->data;
    u.len = file->len;
    u.request_id = req_id(r);
    if (file->filename[0] && utf8_valid(file->filename, strlen(file->filename)))
        u.filename = file->filename;
    if (reserve_upload(r, &u)) {
        json_decref(b);
        return;
    }
    struct kn_caller c;
    caller_of(r, &c);
    struct kdoc doc;
    int rc = knowledge_submit(&c, &u, &doc, err, sizeof err);
    int named = file->filename[0] && utf8_valid(file->filename, strlen(file->filename));
    answer_submit(r, rc, err, &doc, named ? file->filename : NULL);
    store_kdoc_clear(&doc);
    json_decref(b);
}

static void submit_work(struct req *r)
{
    const char *ct = req_header(r, "Content-Type");
    if (ct && !strncasecmp(ct, "multipart/form-data", 19))
        submit_multipart(r, ct);
    else if (!ct || !strncasecmp(ct, "application/json", 16))
        submit_json(r);
    else
        http_error(r, 415, "UNSUPPORTED_MEDIA_TYPE",
                   "Content-Type must be application/json or multipart/form-data");
}

static void submit(struct req *r)
{
    size_t len;
    req_body(r, &len);
    if (len > knowledge_max_bytes() + 65536) {
        http_error(r, 413, "PAYLOAD_TOO_LARGE", "Documents may be at most %zu bytes",
                   knowledge_max_bytes());
        return;
    }
    http_defer(r, submit_work); /* writes the upload with fsync and touches the store */
}

static void list(struct req *r)
{
    long long limit, offset;
    if (req_query_int(r, "limit", 20, 1, 100, &limit) ||
        req_query_int(r, "offset", 0, 0, 1LL << 40, &offset))
        return;
    const char *status = req_query(r, "status");
    if (status && strcmp(status, "pending") && strcmp(status, "processing") &&
        strcmp(status, "ready") && strcmp(status, "failed")) {
        api_invalid(r, "status",
                    "query parameter 'status' must be pending, processing, ready "
                    "or failed");
        return;
    }
    struct kn_caller c;
    caller_of(r, &c);
    struct kscope s = {c.user_id, c.org_id};
    struct kdoc_filter f = {status, req_query(r, "category"), req_query(r, "source")};
    struct kdoc *docs;
    size_t n;
    int64_t total;
    int rc = store_doc_list(&s, &f, limit, offset, &docs, &n, &total);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, doc_json(&docs[i], 0));
    store_kdocs_free(docs, n);
    http_json(r, 200,
              json_pack("{s:o, s:I, s:I, s:I}", "documents", items, "total", (json_int_t)total,
                        "limit", (json_int_t)limit, "offset", (json_int_t)offset));
}

/* The document if r's user may see it; answers 404 otherwise. */
static json_t *visible_doc(struct req *r, int with_content)
{
    const char *id = req_param(r, "document_id");
    struct kn_caller c;
    caller_of(r, &c);
    struct kscope s = {c.user_id, c.org_id};
    int vis = uuid_valid(id) ? store_doc_visible(id, &s) : 0;
    if (vis < 0) {
        http_store_error(r, vis);
        return NULL;
    }
    struct kdoc doc;
    int rc = vis ? store_doc_get(id, with_content, &doc) : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND) {
        http_error(r, 404, "DOCUMENT_NOT_FOUND", "Document not found");
        return NULL;
    }
    if (rc) {
        http_store_error(r, rc);
        return NULL;
    }
    json_t *o = doc_json(&doc, with_content);
    store_kdoc_clear(&doc);
    return o;
}

static void get(struct req *r)
{
    const char *ic = req_query(r, "include_content");
    int with = ic && (!strcmp(ic, "true") || !strcmp(ic, "1"));
    json_t *doc = visible_doc(r, with);
    if (doc) http_json(r, 200, doc);
}

static void del(struct req *r)
{
    const char *id = req_param(r, "document_id");
    struct kn_caller c;
    caller_of(r, &c);
    int rc = uuid_valid(id) ? knowledge_delete_check(&c, id) : RAGD_ENOTFOUND;
    if (!rc) rc = erasure_document(id, NULL, NULL); /* recorded, so a crash cannot leave half */
    if (rc == RAGD_ENOTFOUND)
        http_error(r, 404, "DOCUMENT_NOT_FOUND", "Document not found");
    else if (rc == RAGD_EPERM)
        http_error(r, 403, "FORBIDDEN",
                   "Only the document's owner or an administrator may "
                   "delete it");
    else if (rc)
        http_store_error(r, rc);
    else
        http_json(r, 200, json_pack("{s:s, s:s}", "status", "deleted", "document_id", id));
}

const struct route documents_routes[] = {
    {"POST", "/documents", submit, ACCESS_USER, "api", "background_tasks", NULL, "documents",
     "Upload a document: JSON {title, content, category, tags, source, metadata, importance,"
     " shared} or multipart/form-data with a 'file' part (text, Markdown, HTML, PDF) and the"
     " same fields; processed in the background",
     202, "the document with status 'pending'", 1, NULL, "document_upload", 1,
     .response = "$Document",
     .request = "application/json {content: string, title?: string|null, category?: "
                "string|null, tags?: [string]|null, source?: string|null, metadata?: "
                "object|null, importance?: number|null, shared?: bool|null}; "
                "multipart/form-data {file: binary, title?: string, category?: string, tags?: "
                "string, source?: string, metadata?: string, importance?: string, shared?: "
                "string}"},
    {"GET", "/documents", list, ACCESS_USER, "api", NULL, NULL, "documents",
     "Documents visible to the caller, newest first; query: limit, offset, status, category,"
     " source",
     200, "{documents, total, limit, offset}",
     .response = "{documents: [$Document], total: int, limit: int, offset: int}"},
    {"GET", "/documents/{document_id}", get, ACCESS_USER, "api", NULL, NULL, "documents",
     "One document with its processing status and error; query: include_content", 200,
     "the document", .response = "$Document"},
    {"DELETE", "/documents/{document_id}", del, ACCESS_USER, "api", NULL, NULL, "documents",
     "Erase a document with its upload, chunks, vectors, index entries (on every node) and"
     " cached results",
     200, "{status, document_id}", .response = "{status: string, document_id: string}"},
    {NULL},
};
