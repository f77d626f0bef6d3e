/* search.c - search routes (exact: BM25, vector: HNSW, hybrid: weighted fusion, auto),
 * metadata filters, visibility of each candidate chunk, and the search-result cache. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge_int.h"
#include "llm/provider.h"
#include "rag/hybrid.h"

/* ---- search ---- */

static const char *const route_names[] = {"auto", "vector", "exact", "hybrid"};

const char *knowledge_route_name(enum kn_route r)
{
    return r <= KN_HYBRID ? route_names[r] : "auto";
}

int knowledge_route_parse(const char *s, enum kn_route *out)
{
    if (!s || !strcmp(s, "auto"))
        *out = KN_AUTO;
    else if (!strcmp(s, "vector") || !strcmp(s, "semantic"))
        *out = KN_VECTOR;
    else if (!strcmp(s, "exact") || !strcmp(s, "keyword") || !strcmp(s, "text"))
        *out = KN_EXACT;
    else if (!strcmp(s, "hybrid"))
        *out = KN_HYBRID;
    else
        return RAGD_EINVAL;
    return 0;
}

int knowledge_vector_available(void)
{
    struct kn_state *K = kn();
    return K->hnsw != NULL && prov_embedder() != NULL;
}

struct fctx {
    const struct kn_caller *c;
    const struct kn_filters *filters;
};

/* 1 when set does not constrain, or s is one of its values. */
static int str_in(const struct kn_strset *set, const char *s)
{
    if (!set->set) return 1;
    if (!s) return 0;
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->v[i], s)) return 1;
    return 0;
}

/* Whether document d passes caller f->c's visibility and f->filters. */
static int accept_doc(const struct kn_dmeta *d, void *ud)
{
    struct fctx *f = ud;
    struct kn_doc_access a = {d->owner, d->org, d->shared};
    if (!kn_visible(f->c, &a)) return 0;
    const struct kn_filters *fl = f->filters;
    if (!fl) return 1;
    int ok = str_in(&fl->category, d->category) && str_in(&fl->source, d->source) &&
             str_in(&fl->document_id, d->id);
    if (ok && fl->shared >= 0) ok = fl->shared == (d->shared != 0);
    if (ok && fl->tags.set) {
        ok = 0;
        for (int t = 0; t < d->ntags && !ok; t++)
            ok = str_in(&fl->tags, d->tags[t]);
    }
    return ok;
}

static bool accept_chunk(uint64_t id, void *ud)
{
    return kn_meta_with_chunk(id, accept_doc, ud) != 0;
}

/* ---- usage statistics (best effort, off the request path) ---- */

struct touch {
    size_t n;
    int64_t ids[];
};

static void touch_job(void *arg)
{
    struct touch *t = arg;
    store_chunks_touch(t->ids, t->n);
    free(t);
}

static void touch_later(const struct kn_result *res)
{
    struct kn_state *K = kn();
    if (!res->nhits || !K->touch) return;
    struct touch *t = xmalloc(sizeof *t + res->nhits * sizeof(int64_t));
    t->n = res->nhits;
    for (size_t i = 0; i < res->nhits; i++)
        t->ids[i] = res->hits[i].chunk.id;
    if (workq_submit(K->touch, touch_job, t))
        free(t); /* statistics are best effort under overload */
}

/* ---- hits ---- */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void hits_free(struct kn_hit *hits, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_kchunk_clear(&hits[i].chunk);
    free(hits);
}

/* The hits of a result as the search cache keeps them. */
struct cached_hits {
    struct kn_hit *hits;
    size_t n;
};

static struct kn_hit *hits_copy(const struct kn_hit *src, size_t n)
{
    struct kn_hit *h = xcalloc(n ? n : 1, sizeof *h);
    for (size_t i = 0; i < n; i++) {
        h[i] = src[i];
        struct kchunk *c = &h[i].chunk;
        const struct kchunk *o = &src[i].chunk;
        c->title = dup_or_null(o->title);
        c->content = dup_or_null(o->content);
        c->source = dup_or_null(o->source);
        c->category = dup_or_null(o->category);
        c->mime_type = dup_or_null(o->mime_type);
        c->last_accessed = dup_or_null(o->last_accessed);
        c->doc_metadata = dup_or_null(o->doc_metadata);
        c->tags = o->ntags ? xcalloc(o->ntags, sizeof *c->tags) : NULL;
        for (size_t t = 0; t < o->ntags; t++)
            c->tags[t] = xstrdup(o->tags[t]);
    }
    return h;
}

void kn_search_cache_free(void *v)
{
    struct cached_hits *c = v;
    hits_free(c->hits, c->n);
    free(c);
}

static void copy_cached(const void *value, void *ud)
{
    const struct cached_hits *c = value;
    struct kn_result *res = ud;
    res->hits = hits_copy(c->hits, c->n);
    res->nhits = c->n;
}

/* A hit to be read from the store: its chunk id, score and (hybrid) score parts. */
struct pick {
    uint64_t id;
    double score, vector, keyword;
    int has_parts;
};

/* Reads the picked chunks from the store in one query and appends them to res in order,
 * skipping a chunk deleted meanwhile; with_meta also reads their documents' metadata. */
static int add_hits(struct kn_result *res, const struct pick *p, size_t n, int with_meta)
{
    if (!n) return 0;
    int64_t *ids = xmalloc(n * sizeof *ids);
    struct kchunk *chunks = xmalloc(n * sizeof *chunks);
    int *found = xmalloc(n * sizeof *found);
    for (size_t i = 0; i < n; i++)
        ids[i] = (int64_t)p[i].id;
    int rc = store_chunks_get(ids, n, with_meta, chunks, found);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!found[i]) continue;
        struct kn_hit *h = &res->hits[res->nhits++];
        memset(h, 0, sizeof *h);
        h->chunk = chunks[i];
        h->score = p[i].score;
        h->has_parts = p[i].has_parts;
        h->score_vector = p[i].vector;
        h->score_keyword = p[i].keyword;
    }
    free(ids);
    free(chunks);
    free(found);
    return rc;
}

/* The lexical hits: candidates from the index (visible to c and passing the filters), ranked
 * again with statistics over what c may see (lexstats.c), best want of them into out. */
static int lexical(const struct kn_caller *c, const char *text, size_t want, struct fctx *f,
                   rag_hit_t *out, size_t *n)
{
    size_t wide = want * 4 > 100 ? want * 4 : 100;
    rag_hit_t *cand = xcalloc(wide, sizeof *cand);
    size_t nc = 0;
    int rc = bm25_search(kn()->bm25, text, strlen(text), wide, accept_chunk, f, cand, &nc);
    if (!rc) {
        kn_lex_rescore(c, text, cand, nc);
        *n = nc < want ? nc : want;
        memcpy(out, cand, *n * sizeof *out);
    }
    free(cand);
    return rc;
}

/* The automatic route by query shape and availability (rag/hybrid.h's rules). */
static enum kn_route auto_route(const char *q)
{
    switch (hybrid_choose_route(q, strlen(q), knowledge_vector_available(), NULL)) {
    case HYBRID_VECTOR:
        return KN_VECTOR;
    case HYBRID_HYBRID:
        return KN_HYBRID;
    default:
        return KN_EXACT;
    }
}

/* Gives each hit that lacks it its document's user metadata, every document read in one
 * query. The search cache never holds it: a response that needs it pays for it, nothing else
 * does. */
static void attach_metadata(struct kn_result *res)
{
    const char **docs = xmalloc((res->nhits ? res->nhits : 1) * sizeof *docs);
    size_t nd = 0;
    for (size_t i = 0; i < res->nhits; i++) {
        const struct kchunk *c = &res->hits[i].chunk;
        size_t j = 0;
        while (j < nd && strcmp(docs[j], c->document_id))
            j++;
        if (!c->doc_metadata && j == nd) docs[nd++] = c->document_id;
    }
    char **meta = xcalloc(nd ? nd : 1, sizeof *meta);
    if (nd && store_docs_metadata(docs, nd, meta)) memset(meta, 0, nd * sizeof *meta);
    for (size_t i = 0; i < res->nhits; i++) {
        struct kchunk *c = &res->hits[i].chunk;
        for (size_t j = 0; j < nd && !c->doc_metadata; j++)
            if (!strcmp(docs[j], c->document_id))
                c->doc_metadata = xstrdup(meta[j] ? meta[j] : "{}"); /* "{}": deleted meanwhile */
    }
    for (size_t j = 0; j < nd; j++)
        free(meta[j]);
    free(meta);
    free(docs);
}

static void set_key(struct sbuf *b, const char *name, const struct kn_strset *set)
{
    if (!set->set) return;
    sb_printf(b, "%s[%zu]", name, set->n);
    for (size_t i = 0; i < set->n; i++)
        sb_printf(b, "%zu:%s", strlen(set->v[i]), set->v[i]);
}

/* The filters in a canonical text form for the cache key (caller frees; NULL: none). */
static char *filters_key(const struct kn_filters *f)
{
    if (!f) return NULL;
    struct sbuf b;
    sb_init(&b);
    set_key(&b, "c", &f->category);
    set_key(&b, "s", &f->source);
    set_key(&b, "t", &f->tags);
    set_key(&b, "d", &f->document_id);
    sb_printf(&b, "h%d", f->shared);
    return sb_take(&b);
}

static void search_key(const struct kn_caller *c, const struct kn_query *q, enum kn_route route,
                       char key[65])
{
    char *f = filters_key(q->filters);
    char *s = xasprintf("%s|%s|%d|%d|%zu|%.4f|%.4f|%s|%s", c->user_id, c->org_id ? c->org_id : "",
                        (int)route, q->with_doc_metadata, q->top_k, q->w_vector, q->w_keyword,
                        f ? f : "", q->text);
    sha256_hex(s, strlen(s), key);
    free(s);
    free(f);
}

int knowledge_search(const struct kn_caller *c, const struct kn_query *q, struct kn_result *res,
                     char *err, size_t errcap)
{
    struct kn_state *K = kn();
    int64_t t0 = time_mono_ns();
    memset(res, 0, sizeof *res);
    enum kn_route route = q->route;
    if (route == KN_AUTO) route = auto_route(q->text);
    if ((route == KN_VECTOR || route == KN_HYBRID) && !knowledge_vector_available()) {
        if (route == KN_VECTOR && !q->vector_fallback) {
            snprintf(err, errcap,
                     "vector search is unavailable: no embedder is configured "
                     "(set EMBEDDING_API_BASE); use route 'exact' or 'auto'");
            return RAGD_EUNAVAIL;
        }
        res->fallback = 1;
        route = KN_EXACT;
    }
    res->used = route;
    res->methods =
        (route != KN_EXACT ? KN_METHOD_VECTOR : 0u) | (route != KN_VECTOR ? KN_METHOD_KEYWORD : 0u);

    long gen = atomic_load(&K->generation);
    char key[65];
    search_key(c, q, route, key);
    if (ttlcache_get(K->search_cache, key, gen, copy_cached, res)) {
        res->cached = 1;
        if (q->with_doc_metadata) attach_metadata(res);
        touch_later(res);
        res->ms = (double)(time_mono_ns() - t0) / 1e6;
        return 0;
    }

    size_t k = q->top_k ? q->top_k : 5;
    size_t wide = route == KN_HYBRID ? (k * 4 > 50 ? k * 4 : 50) : k;
    struct fctx f = {c, q->filters};
    rag_hit_t *lh = xcalloc(wide, sizeof *lh), *vh = xcalloc(wide, sizeof *vh);
    size_t nl = 0, nv = 0;
    int rc = 0;
    if (route == KN_EXACT || route == KN_HYBRID) rc = lexical(c, q->text, wide, &f, lh, &nl);
    if (!rc && (route == KN_VECTOR || route == KN_HYBRID)) {
        float *qv = xmalloc(K->dim * sizeof *qv);
        rc = kn_embed_query(q->text, qv, err, errcap);
        if (!rc) {
            uint32_t ef = (uint32_t)(wide * 2 > 64 ? wide * 2 : 64);
            rc = hnsw_search(K->hnsw, qv, wide, ef, accept_chunk, &f, vh, &nv);
            if (rc == RAGD_EINVAL) { /* a zero query vector: nothing is similar */
                rc = 0;
                nv = 0;
            }
        } else if (route == KN_HYBRID || q->vector_fallback) {
            /* The embedder failed: degrade to lexical rather than fail the search. */
            log_json(LOG_WARN, "query embedding failed; lexical only",
                     json_pack("{s:s}", "error", err));
            if (route == KN_VECTOR)
                rc = lexical(c, q->text, k, &f, lh, &nl);
            else
                rc = 0;
            route = res->used = KN_EXACT;
            res->fallback = 1;
            res->methods = KN_METHOD_KEYWORD;
        }
        free(qv);
    }
    if (rc) {
        free(lh);
        free(vh);
        if (!err[0]) snprintf(err, errcap, "search failed: %s", ragd_strerror(rc));
        return rc == RAGD_EINVAL ? RAGD_EINVAL : RAGD_EUNAVAIL;
    }
    res->hits = xcalloc(k, sizeof *res->hits);
    struct pick *picks = xcalloc(k, sizeof *picks);
    size_t np = 0;
    if (route == KN_HYBRID) {
        /* Weighted fusion of min-max normalised scores (rag/hybrid.h). */
        hybrid_opts_t ho;
        hybrid_opts_default(&ho);
        ho.w_vector = (float)q->w_vector;
        ho.w_lexical = (float)q->w_keyword;
        hybrid_hit_t *fu = xcalloc(k, sizeof *fu);
        size_t nf = 0;
        if (!hybrid_fuse(lh, nl, vh, nv, &ho, k, fu, &nf))
            for (size_t i = 0; i < nf && np < k; i++)
                picks[np++] = (struct pick){fu[i].id, fu[i].score, fu[i].vector, fu[i].lexical, 1};
        free(fu);
    } else {
        rag_hit_t *h = route == KN_VECTOR ? vh : lh;
        size_t n = route == KN_VECTOR ? nv : nl;
        for (size_t i = 0; i < n && np < k; i++)
            picks[np++] = (struct pick){h[i].id, h[i].score, 0, 0, 0};
    }
    free(lh);
    free(vh);
    rc = add_hits(res, picks, np, q->with_doc_metadata);
    free(picks);
    if (rc) { /* the store failed: nothing found, and nothing cached */
        log_json(LOG_WARN, "search hits not read", json_pack("{s:s}", "error", ragd_strerror(rc)));
    } else {
        struct cached_hits *ch = xmalloc(sizeof *ch);
        ch->hits = hits_copy(res->hits, res->nhits);
        ch->n = res->nhits;
        for (size_t i = 0; i < ch->n; i++) { /* metadata is read per response, never cached */
            free(ch->hits[i].chunk.doc_metadata);
            ch->hits[i].chunk.doc_metadata = NULL;
        }
        ttlcache_put(K->search_cache, key, gen, K->search_ttl_ms, ch);
    }
    if (q->with_doc_metadata) attach_metadata(res);
    touch_later(res);
    res->ms = (double)(time_mono_ns() - t0) / 1e6;
    return 0;
}

void knowledge_result_free(struct kn_result *res)
{
    hits_free(res->hits, res->nhits);
    res->hits = NULL;
    res->nhits = 0;
}
