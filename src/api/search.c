/* search.c - /search/semantic, /search/hybrid and /search (any route). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/kb_routes.h"
#include "core/error.h"
#include "knowledge/knowledge.h"
#include "store/chat.h"

static const char *const routes[] = {"auto",     "vector",  "exact", "hybrid",
                                     "semantic", "keyword", NULL};

static const struct jv_field semantic_fields[] = {
    {"query", JV_STRING, 1, 1, 10000, 0, NULL, "Search text"},
    {"top_k", JV_INT, 0, 1, 100, 1, NULL, "Results wanted (default 5)"},
    {"filters", JV_OBJECT, 0, 0, 0, 1, NULL,
     "Metadata filters: category, source, tags, document_id (string or array), shared (bool)"},
    {"route", JV_STRING, 0, 0, 0, 1, routes,
     "vector (default; falls back to exact without an embedder), exact, hybrid or auto"},
    {NULL},
};
static const struct jv_schema semantic_schema = {semantic_fields, 0};

static const struct jv_field hybrid_fields[] = {
    {"query", JV_STRING, 1, 1, 10000, 0, NULL, "Search text"},
    {"top_k", JV_INT, 0, 1, 100, 1, NULL, "Results wanted (default 5)"},
    {"weights", JV_OBJECT, 0, 0, 0, 1, NULL,
     "Fusion weights {vector, keyword}, each >= 0 (default 0.5 / 0.5)"},
    {"filters", JV_OBJECT, 0, 0, 0, 1, NULL, "Metadata filters as for /search/semantic"},
    {NULL},
};
static const struct jv_schema hybrid_schema = {hybrid_fields, 0};

static const struct jv_field search_fields[] = {
    {"query", JV_STRING, 1, 1, 10000, 0, NULL, "Search text"},
    {"top_k", JV_INT, 0, 1, 100, 1, NULL, "Results wanted (default 5)"},
    {"route", JV_STRING, 0, 0, 0, 1, routes, "auto (default), vector, exact or hybrid"},
    {"weights", JV_OBJECT, 0, 0, 0, 1, NULL, "Hybrid fusion weights {vector, keyword}"},
    {"filters", JV_OBJECT, 0, 0, 0, 1, NULL, "Metadata filters as for /search/semantic"},
    {NULL},
};
static const struct jv_schema search_schema = {search_fields, 0};

enum kind { SEMANTIC, HYBRID, ANY };

/* ---- filters ---- */

static const char *const filter_keys[] = {"category", "source", "tags", "document_id", NULL};
static const char *const filter_fields[] = {"filters.category", "filters.source", "filters.tags",
                                            "filters.document_id"};

int kb_filters_parse(json_t *filters, struct kb_filters *out, const struct kn_filters **use,
                     const char **field, char *err, size_t errcap)
{
    memset(&out->f, 0, sizeof out->f);
    out->f.shared = -1;
    *use = NULL;
    *field = "filters";
    if (!filters || json_is_null(filters)) return 0;
    if (!json_is_object(filters)) {
        snprintf(err, errcap, "field 'filters' must be an object");
        return RAGD_EINVAL;
    }
    struct kn_strset *sets[] = {&out->f.category, &out->f.source, &out->f.tags,
                                &out->f.document_id};
    const char *k;
    json_t *v;
    json_object_foreach(filters, k, v)
    {
        if (!strcmp(k, "shared")) {
            if (!json_is_boolean(v)) {
                *field = "filters.shared";
                snprintf(err, errcap, "filter 'shared' must be true or false");
                return RAGD_EINVAL;
            }
            out->f.shared = json_is_true(v);
            continue;
        }
        int i = 0;
        while (filter_keys[i] && strcmp(filter_keys[i], k))
            i++;
        if (!filter_keys[i]) {
            snprintf(err, errcap,
                     "unknown filter '%.64s' (allowed: category, source, tags, document_id, "
                     "shared)",
                     k);
            return RAGD_EINVAL;
        }
        *field = filter_fields[i];
        int ok = json_is_string(v) || (json_is_array(v) && json_array_size(v) <= 100);
        size_t j;
        json_t *x;
        if (json_is_array(v)) json_array_foreach(v, j, x) ok &= json_is_string(x);
        if (!ok) {
            snprintf(err, errcap, "filter '%s' must be a string or an array of up to 100 strings",
                     k);
            return RAGD_EINVAL;
        }
        struct kn_strset *set = sets[i];
        set->set = 1;
        set->v = out->v[i];
        set->n = 0;
        if (json_is_string(v))
            out->v[i][set->n++] = json_string_value(v);
        else
            json_array_foreach(v, j, x) out->v[i][set->n++] = json_string_value(x);
    }
    *field = NULL;
    *use = &out->f;
    return 0;
}

/* ---- rendering ---- */

static json_t *score_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *strings_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* A hit's metadata: its document's fields, the chunk's place and usage, and the document's
 * own metadata under "document". */
static json_t *hit_metadata(const struct kchunk *c)
{
    json_error_t je;
    json_t *doc = c->doc_metadata ? json_loads(c->doc_metadata, JSON_DECODE_ANY, &je) : NULL;
    return json_pack("{s:o, s:o, s:o, s:f, s:I, s:I, s:I, s:o, s:o, s:{s:I, s:o}}", "source",
                     text_or_null(c->source), "category", text_or_null(c->category), "tags",
                     strings_json(c->tags, c->ntags), "importance", c->importance, "position",
                     (json_int_t)c->position, "start_offset", (json_int_t)c->start, "end_offset",
                     (json_int_t)c->end, "mime_type", text_or_null(c->mime_type), "document",
                     doc ? doc : json_object(), "usage_stats", "retrieval_count",
                     (json_int_t)c->retrieval_count, "last_accessed",
                     text_or_null(c->last_accessed));
}

/* {document_id, chunk_id, title, content, score, source, metadata[, scores]} */
static json_t *hit_json(const struct kn_hit *h)
{
    const struct kchunk *c = &h->chunk;
    json_t *o =
        json_pack("{s:s, s:I, s:s, s:s, s:f, s:o, s:o}", "document_id", c->document_id, "chunk_id",
                  (json_int_t)c->id, "title", c->title, "content", c->content, "score", h->score,
                  "source", text_or_null(c->source), "metadata", hit_metadata(c));
    if (h->has_parts)
        json_object_set_new(o, "scores",
                            json_pack("{s:o, s:o}", "vector", score_or_null(h->score_vector),
                                      "keyword", score_or_null(h->score_keyword)));
    return o;
}

static json_t *methods_json(unsigned methods)
{
    json_t *a = json_array();
    if (methods & KN_METHOD_VECTOR) json_array_append_new(a, json_string("vector"));
    if (methods & KN_METHOD_KEYWORD) json_array_append_new(a, json_string("keyword"));
    return a;
}

/* Reads weights; answers 422 and returns non-zero when they are invalid. */
static int weights(struct req *r, json_t *w, double *wv, double *wk)
{
    *wv = 0.5;
    *wk = 0.5;
    if (!w || json_is_null(w)) return 0;
    const char *k;
    json_t *v;
    json_object_foreach(w, k, v)
    {
        int vec = !strcmp(k, "vector") || !strcmp(k, "semantic");
        int kw = !strcmp(k, "keyword") || !strcmp(k, "exact") || !strcmp(k, "lexical");
        if (!vec && !kw) {
            api_invalid(r, "weights", "weights may only have 'vector' and 'keyword'");
            return -1;
        }
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1000) {
            api_invalid(r, "weights", "weight '%s' must be a number from 0 to 1000", k);
            return -1;
        }
        *(vec ? wv : wk) = json_number_value(v);
    }
    if (*wv + *wk <= 0) {
        api_invalid(r, "weights", "at least one weight must be positive");
        return -1;
    }
    return 0;
}

static void run(struct req *r, enum kind kind)
{
    json_t *b = req_json(r);
    const struct user *u = api_user(r);
    struct kn_caller c = {u->id, u->organization_id[0] ? u->organization_id : NULL,
                          u->is_superuser};
    struct kn_query q = {.text = jv_str(b, "query", ""),
                         .top_k = (size_t)jv_int(b, "top_k", 5),
                         .with_doc_metadata = 1};
    struct kb_filters fb;
    const char *field;
    char err[512] = "";
    if (kb_filters_parse(json_object_get(b, "filters"), &fb, &q.filters, &field, err, sizeof err)) {
        api_invalid(r, field, "%s", err);
        return;
    }
    if (weights(r, json_object_get(b, "weights"), &q.w_vector, &q.w_keyword)) return;
    const char *route = jv_str(b, "route", NULL);
    if (kind == HYBRID) {
        q.route = KN_HYBRID;
        q.vector_fallback = 1;
    } else if (kind == SEMANTIC && !route) {
        q.route = KN_VECTOR;
        q.vector_fallback = 1;
    } else {
        knowledge_route_parse(route, &q.route); /* validated by the schema */
    }
    struct kn_result res;
    int rc = knowledge_search(&c, &q, &res, err, sizeof err);
    if (rc == RAGD_EUNAVAIL) {
        http_header(r, "Retry-After", "30");
        http_error(r, 503, "VECTOR_SEARCH_UNAVAILABLE", "%s", err);
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *results = json_array();
    for (size_t i = 0; i < res.nhits; i++)
        json_array_append_new(results, hit_json(&res.hits[i]));
    json_t *out =
        json_pack("{s:o, s:I, s:s, s:s, s:f, s:o, s:b, s:b}", "results", results, "total",
                  (json_int_t)res.nhits, "search_type", knowledge_route_name(res.used), "route",
                  knowledge_route_name(res.used), "processing_time_ms", res.ms, "methods_used",
                  methods_json(res.methods), "cached", res.cached, "fallback", res.fallback);
    if (res.fallback)
        json_object_set_new(out, "detail",
                            json_string("vector search is unavailable (no embedder configured "
                                        "or it failed); lexical results are shown"));
    knowledge_result_free(&res);
    api_quota_count(r, "searches", 1); /* the admin dashboard's searches per day */
    http_json(r, 200, out);
}

static void semantic_work(struct req *r)
{
    run(r, SEMANTIC);
}
static void hybrid_work(struct req *r)
{
    run(r, HYBRID);
}
static void any_work(struct req *r)
{
    run(r, ANY);
}

/* Queries that may call the embedder over HTTP run on a worker thread. */
static void dispatch(struct req *r, void (*fn)(struct req *r))
{
    if (knowledge_vector_available())
        http_defer(r, fn);
    else
        fn(r);
}

static void semantic(struct req *r)
{
    dispatch(r, semantic_work);
}
static void hybrid(struct req *r)
{
    dispatch(r, hybrid_work);
}
static void any(struct req *r)
{
    dispatch(r, any_work);
}

const struct route search_routes[] = {
    {"POST", "/search/semantic", semantic, ACCESS_USER, "search", "api_calls", &semantic_schema,
     "search",
     "Semantic search over the caller's knowledge base (vector route; lexical fallback "
     "without an embedder)",
     200, "{results, search_type, processing_time_ms, methods_used, total}", 0, NULL, "search",
     .response = "$SearchResults"},
    {"POST", "/search/hybrid", hybrid, ACCESS_USER, "search", "api_calls", &hybrid_schema, "search",
     "Hybrid search: weighted fusion of vector and keyword scores", 200,
     "{results, methods_used, search_type, processing_time_ms}", 0, NULL, "search",
     .response = "$SearchResults"},
    {"POST", "/search", any, ACCESS_USER, "search", "api_calls", &search_schema, "search",
     "Search by route: auto (chosen by query shape and availability), vector, exact, hybrid", 200,
     "{results, search_type, route, methods_used, processing_time_ms}", 0, NULL, "search",
     .response = "$SearchResults"},
    {NULL},
};
