/* knowledge.c - intake, ingestion queue, index manager, search and caches. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/redis.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "core/workq.h"
#include "knowledge/knowledge.h"
#include "llm/provider.h"
#include "rag/bm25.h"
#include "rag/chunk.h"
#include "rag/extract.h"
#include "rag/hnsw.h"
#include "rag/hybrid.h"
#include "rag/idmap.h"
#include "store/knowledge.h"

/* ---- state ---- */

struct dmeta {
    char id[37], org[37], owner[37];
    int shared, live;
    char *category, *source;
    char **tags;
    int ntags;
};

static struct {
    char *dir, *index_dir;
    bm25_t *bm25;
    hnsw_t *hnsw;   /* NULL without an embedder */
    uint32_t dim;
    pthread_rwlock_t meta_lock; /* docs, ndocs, chunk_doc */
    struct dmeta *docs;
    size_t ndocs, capdocs;
    idmap_t chunk_doc; /* chunk id -> index in docs */
    workq_t *ingest, *touch;
    atomic_long queued;
    atomic_long generation; /* bumped on every document change: invalidates cached results */
    atomic_int dirty;
    pthread_t saver;
    int saver_running;
    pthread_mutex_t saver_lock;
    pthread_cond_t saver_cond;
    int stopping;
    size_t max_bytes;
    chunk_opts_t chunk;
    int64_t search_ttl_ms, embed_ttl_ms;
    int ready;
    char node[37];       /* this node (kept in the data dir), in claims and the change log */
    int64_t claim_timeout_ms; /* a claim older than this belongs to a dead node */
    int redis_queue;     /* jobs go through the Redis list QUEUE_KEY */
    pthread_t *consumers;
    int nconsumers;
    int64_t sync_seq;    /* last change-log entry applied */
    pthread_t syncer;
    int syncer_running;
    atomic_int sync_stop;
} K;

/* ---- small TTL caches (direct-mapped: a colliding insert replaces the older entry) ---- */

enum { SEARCH_SLOTS = 1024, EMBED_SLOTS = 4096 };

struct centry {
    char key[65];
    int64_t expires_ms;
    long generation;
    void *value; /* json_t* (search) or float* (embedding) */
};

struct cache {
    pthread_mutex_t lock;
    struct centry *slots;
    size_t n;
    int json;
    atomic_long hits, misses;
};

static struct cache search_cache = {.lock = PTHREAD_MUTEX_INITIALIZER, .json = 1};
static struct cache embed_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void centry_drop(struct cache *c, struct centry *e)
{
    if (c->json)
        json_decref(e->value);
    else
        free(e->value);
    e->value = NULL;
    e->key[0] = '\0';
}

static struct centry *slot_of(struct cache *c, const char *key)
{
    uint64_t h = 0;
    for (int i = 0; i < 16; i++)
        h = h * 16 + (uint64_t)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
    return &c->slots[h % c->n];
}

/* Copies the value out under the lock: a JSON deep copy or the dim floats. */
static int cache_get(struct cache *c, const char *key, long gen, void *out, size_t floats)
{
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    if (c->slots) {
        struct centry *e = slot_of(c, key);
        if (e->value && !strcmp(e->key, key)) {
            if (e->expires_ms < time_now_ms() || (c->json && e->generation != gen)) {
                centry_drop(c, e);
            } else {
                hit = 1;
                if (c->json)
                    *(json_t **)out = json_deep_copy(e->value);
                else
                    memcpy(out, e->value, floats * sizeof(float));
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
    return hit;
}

/* Takes ownership of value. */
static void cache_put(struct cache *c, const char *key, long gen, int64_t ttl_ms, void *value)
{
    pthread_mutex_lock(&c->lock);
    if (c->slots && ttl_ms > 0) {
        struct centry *e = slot_of(c, key);
        if (e->value)
            centry_drop(c, e);
        snprintf(e->key, sizeof e->key, "%s", key);
        e->expires_ms = time_now_ms() + ttl_ms;
        e->generation = gen;
        e->value = value;
        value = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (value) {
        if (c->json)
            json_decref(value);
        else
            free(value);
    }
}

static void cache_init(struct cache *c, size_t n)
{
    pthread_mutex_lock(&c->lock);
    c->slots = xcalloc(n, sizeof *c->slots);
    c->n = n;
    pthread_mutex_unlock(&c->lock);
}

static void cache_destroy(struct cache *c)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; c->slots && i < c->n; i++)
        if (c->slots[i].value)
            centry_drop(c, &c->slots[i]);
    free(c->slots);
    c->slots = NULL;
    c->n = 0;
    pthread_mutex_unlock(&c->lock);
}

/* Forgets every cached search result (generation bump) after a document change. */
static void invalidate(void)
{
    atomic_fetch_add(&K.generation, 1);
}

/* ---- document metadata for filters ---- */

static void dmeta_clear(struct dmeta *d)
{
    free(d->category);
    free(d->source);
    for (int i = 0; i < d->ntags; i++)
        free(d->tags[i]);
    free(d->tags);
    memset(d, 0, sizeof *d);
}

/* Finds or creates the slot of document m->id and refreshes its fields. Caller holds the
 * write lock. */
static size_t meta_put_locked(const struct kdoc_meta *m)
{
    size_t i;
    for (i = 0; i < K.ndocs; i++)
        if (K.docs[i].live && !strcmp(K.docs[i].id, m->id))
            break;
    if (i == K.ndocs) {
        for (i = 0; i < K.ndocs && K.docs[i].live; i++)
            ;
        if (i == K.ndocs) {
            if (K.ndocs == K.capdocs) {
                K.capdocs = K.capdocs ? 2 * K.capdocs : 64;
                K.docs = xrealloc(K.docs, K.capdocs * sizeof *K.docs);
            }
            memset(&K.docs[K.ndocs], 0, sizeof K.docs[0]);
            i = K.ndocs++;
        }
    }
    struct dmeta *d = &K.docs[i];
    dmeta_clear(d);
    d->live = 1;
    snprintf(d->id, sizeof d->id, "%s", m->id);
    snprintf(d->org, sizeof d->org, "%s", m->organization_id ? m->organization_id : "");
    snprintf(d->owner, sizeof d->owner, "%s", m->owner_id ? m->owner_id : "");
    d->shared = m->shared;
    d->category = m->category ? xstrdup(m->category) : NULL;
    d->source = m->source ? xstrdup(m->source) : NULL;
    json_error_t je;
    json_t *tags = m->tags ? json_loads(m->tags, 0, &je) : NULL;
    if (json_is_array(tags) && json_array_size(tags)) {
        d->tags = xcalloc(json_array_size(tags), sizeof *d->tags);
        size_t k;
        json_t *t;
        json_array_foreach(tags, k, t) if (json_is_string(t)) d->tags[d->ntags++] =
            xstrdup(json_string_value(t));
    }
    json_decref(tags);
    return i;
}

static void meta_add_chunks(const struct kdoc_meta *m, const int64_t *ids, size_t n)
{
    pthread_rwlock_wrlock(&K.meta_lock);
    size_t slot = meta_put_locked(m);
    for (size_t i = 0; i < n; i++)
        idmap_put(&K.chunk_doc, (uint64_t)ids[i], (uint32_t)slot);
    pthread_rwlock_unlock(&K.meta_lock);
}

static void meta_drop_chunks(const int64_t *ids, size_t n)
{
    pthread_rwlock_wrlock(&K.meta_lock);
    for (size_t i = 0; i < n; i++)
        idmap_del(&K.chunk_doc, (uint64_t)ids[i]);
    pthread_rwlock_unlock(&K.meta_lock);
}

static void meta_drop_doc(const char *doc_id)
{
    pthread_rwlock_wrlock(&K.meta_lock);
    for (size_t i = 0; i < K.ndocs; i++)
        if (K.docs[i].live && !strcmp(K.docs[i].id, doc_id))
            dmeta_clear(&K.docs[i]);
    pthread_rwlock_unlock(&K.meta_lock);
}

/* ---- index maintenance ---- */

static void index_remove(const int64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bm25_remove(K.bm25, (uint64_t)ids[i]);
        if (K.hnsw)
            hnsw_delete(K.hnsw, (uint64_t)ids[i]);
    }
    if (K.hnsw && hnsw_deleted(K.hnsw) > 1000 && hnsw_deleted(K.hnsw) > hnsw_count(K.hnsw))
        hnsw_compact(K.hnsw);
    if (n)
        atomic_store(&K.dirty, 1);
}

static char *index_text(const char *title, const char *text, size_t len)
{
    return xasprintf("%s\n\n%.*s", title ? title : "", (int)len, text);
}

static int save_indexes(void)
{
    char *p = xasprintf("%s/bm25.idx", K.index_dir);
    int rc = bm25_save(K.bm25, p);
    free(p);
    if (!rc && K.hnsw) {
        p = xasprintf("%s/hnsw-%u.idx", K.index_dir, K.dim);
        rc = hnsw_save(K.hnsw, p);
        free(p);
    }
    if (rc)
        log_json(LOG_ERROR, "index save failed", json_pack("{s:s}", "error", ragd_strerror(rc)));
    return rc;
}

static void *saver_main(void *arg)
{
    (void)arg;
    int64_t interval = config_int("INDEX_SAVE_INTERVAL_SECONDS", 5, 1, 86400);
    pthread_mutex_lock(&K.saver_lock);
    while (!K.stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += interval;
        pthread_cond_timedwait(&K.saver_cond, &K.saver_lock, &ts);
        if (atomic_exchange(&K.dirty, 0)) {
            pthread_mutex_unlock(&K.saver_lock);
            if (save_indexes())
                atomic_store(&K.dirty, 1);
            pthread_mutex_lock(&K.saver_lock);
        }
    }
    pthread_mutex_unlock(&K.saver_lock);
    return NULL;
}

/* Titles by document, for rebuilding the lexical index (it indexes title + text). */
struct rebuild {
    json_t *titles; /* doc id -> title */
    size_t added;
    int only_missing;
};

static int add_doc_meta(const struct kdoc_meta *m, void *ud)
{
    (void)ud;
    pthread_rwlock_wrlock(&K.meta_lock);
    meta_put_locked(m);
    pthread_rwlock_unlock(&K.meta_lock);
    return 0;
}

static int add_chunk_meta(int64_t id, const char *doc_id, const char *text, void *ud)
{
    struct rebuild *rb = ud;
    pthread_rwlock_wrlock(&K.meta_lock);
    for (size_t i = 0; i < K.ndocs; i++)
        if (K.docs[i].live && !strcmp(K.docs[i].id, doc_id)) {
            idmap_put(&K.chunk_doc, (uint64_t)id, (uint32_t)i);
            break;
        }
    pthread_rwlock_unlock(&K.meta_lock);
    if (!rb->only_missing || !bm25_contains(K.bm25, (uint64_t)id)) {
        json_t *t = json_object_get(rb->titles, doc_id);
        char *it = index_text(json_string_value(t), text, strlen(text));
        if (!bm25_add(K.bm25, (uint64_t)id, it, strlen(it)))
            rb->added++;
        free(it);
    }
    return 0;
}

static int add_vector(int64_t id, const float *vec, void *ud)
{
    struct rebuild *rb = ud;
    if (!rb->only_missing || !hnsw_contains(K.hnsw, (uint64_t)id))
        if (!hnsw_insert(K.hnsw, (uint64_t)id, vec))
            rb->added++;
    return 0;
}

/* Loads the saved indexes and makes them agree with the store: missing chunks are added,
 * and an index holding more than the store (deletes lost in a crash) is rebuilt. */
static int load_indexes(char *err, size_t errcap)
{
    bm25_opts_t bo;
    bm25_opts_default(&bo);
    bo.k1 = (float)config_double("BM25_K1", 1.2, 0.01, 10);
    bo.b = (float)config_double("BM25_B", 0.75, 0, 1);
    hnsw_opts_t ho;
    hnsw_opts_default(&ho);
    ho.dim = K.dim;
    ho.M = (uint32_t)config_int("HNSW_M", 16, 2, 128);
    ho.ef_construction = (uint32_t)config_int("HNSW_EF_CONSTRUCTION", 200, 2, 4096);
    ho.ef_search = (uint32_t)config_int("HNSW_EF_SEARCH", 64, 1, 4096);
    if (ho.ef_construction < ho.M)
        ho.ef_construction = ho.M;

    int64_t nchunks = 0, nvec = 0;
    int rc = store_chunk_count(&nchunks, K.dim, &nvec);
    if (rc) {
        snprintf(err, errcap, "knowledge store: %s", ragd_strerror(rc));
        return rc;
    }
    /* Titles for the lexical index text. */
    struct rebuild rb = {0};
    if ((rc = store_doc_titles(&rb.titles)))
        goto fail;
    if ((rc = store_doc_meta_foreach(add_doc_meta, NULL)))
        goto fail;

    char *p = xasprintf("%s/bm25.idx", K.index_dir);
    int lrc = bm25_load(p, &K.bm25);
    free(p);
    if (lrc) {
        if (lrc != RAGD_ENOTFOUND)
            log_json(LOG_WARN, "lexical index unreadable; rebuilding",
                     json_pack("{s:s}", "error", ragd_strerror(lrc)));
        if ((rc = bm25_create(&bo, &K.bm25))) {
            snprintf(err, errcap, "BM25 parameters: %s", ragd_strerror(rc));
            goto fail;
        }
    }
    rb.only_missing = 1;
    if ((rc = store_chunk_foreach(add_chunk_meta, &rb)))
        goto fail;
    if ((int64_t)bm25_count(K.bm25) > nchunks) {
        bm25_free(K.bm25);
        bm25_create(&bo, &K.bm25);
        rb.only_missing = 0;
        rb.added = 0;
        if ((rc = store_chunk_foreach(add_chunk_meta, &rb)))
            goto fail;
    }
    if (rb.added)
        atomic_store(&K.dirty, 1);
    size_t lex_added = rb.added;

    if (prov_embedder()) {
        p = xasprintf("%s/hnsw-%u.idx", K.index_dir, K.dim);
        lrc = hnsw_load(p, &K.hnsw);
        free(p);
        if (!lrc && hnsw_dim(K.hnsw) != K.dim) {
            hnsw_free(K.hnsw);
            K.hnsw = NULL;
            lrc = RAGD_EFORMAT;
        }
        if (lrc) {
            if (lrc != RAGD_ENOTFOUND)
                log_json(LOG_WARN, "vector index unreadable; rebuilding",
                         json_pack("{s:s}", "error", ragd_strerror(lrc)));
            if ((rc = hnsw_create(&ho, &K.hnsw))) {
                snprintf(err, errcap, "HNSW parameters: %s", ragd_strerror(rc));
                goto fail;
            }
        }
        hnsw_set_ef_search(K.hnsw, ho.ef_search);
        rb.only_missing = 1;
        rb.added = 0;
        if ((rc = store_embedding_foreach(K.dim, add_vector, &rb)))
            goto fail;
        if ((int64_t)hnsw_count(K.hnsw) > nvec) {
            hnsw_free(K.hnsw);
            hnsw_create(&ho, &K.hnsw);
            rb.only_missing = 0;
            rb.added = 0;
            if ((rc = store_embedding_foreach(K.dim, add_vector, &rb)))
                goto fail;
        }
        if (rb.added)
            atomic_store(&K.dirty, 1);
    }
    log_json(LOG_INFO, "indexes ready",
             json_pack("{s:I, s:I, s:I, s:I}", "chunks", (json_int_t)bm25_count(K.bm25),
                       "vectors", (json_int_t)(K.hnsw ? hnsw_count(K.hnsw) : 0), "lexical_added",
                       (json_int_t)lex_added, "vectors_added", (json_int_t)rb.added));
    json_decref(rb.titles);
    return 0;
fail:
    if (!err[0])
        snprintf(err, errcap, "loading the indexes: %s", ragd_strerror(rc));
    json_decref(rb.titles);
    return rc;
}

/* ---- ingestion ---- */

static void log_change(const char *doc_id, const char *op, const int64_t *ids, size_t n);

/* The index metadata of a document from its store JSON; *tags (caller frees) backs m.tags. */
static struct kdoc_meta doc_meta(const char *id, json_t *doc, char **tags)
{
    *tags = json_dumps(json_object_get(doc, "tags"), JSON_COMPACT);
    return (struct kdoc_meta){id,
                              json_string_value(json_object_get(doc, "organization_id")),
                              json_string_value(json_object_get(doc, "owner_id")),
                              json_string_value(json_object_get(doc, "category")),
                              json_string_value(json_object_get(doc, "source")),
                              *tags,
                              json_is_true(json_object_get(doc, "shared"))};
}

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? RAGD_ENOTFOUND : RAGD_EIO;
    struct sbuf b;
    sb_init(&b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sb_add(&b, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        sb_free(&b);
        return RAGD_EIO;
    }
    *len = b.len;
    *data = b.s ? sb_take(&b) : xstrdup("");
    return 0;
}

static void fail_doc(const char *id, const char *why)
{
    store_doc_set_status(id, "failed", why);
    store_upload_delete(id);
    log_json(LOG_WARN, "document ingestion failed",
             json_pack("{s:s, s:s}", "document_id", id, "error", why));
}

/* Embeds texts in batches into vecs (n * dim). 0 or the embedder's error (reason in err). */
static int embed_all(char **texts, size_t n, float *vecs, char *err, size_t errcap)
{
    prov_embedder_t *e = prov_embedder();
    size_t batch = (size_t)config_int("EMBEDDING_BATCH_SIZE", 32, 1, 4096);
    for (size_t i = 0; i < n; i += batch) {
        size_t m = n - i < batch ? n - i : batch;
        int rc = prov_embed(e, (const char *const *)texts + i, m, vecs + i * K.dim, err, errcap);
        if (rc)
            return rc;
    }
    return 0;
}

static void ingest_doc(const char *id)
{
    json_t *doc = NULL;
    char *raw = NULL;
    extract_result_t *ex = NULL;
    chunk_t *chunks = NULL;
    size_t nchunks = 0;
    struct kchunk_new *kc = NULL;
    int64_t *ids = NULL, *old = NULL;
    size_t nold = 0;
    char **texts = NULL;
    float *vecs = NULL;
    char err[512] = "";

    /* Claim it first: with several nodes (or a duplicate queue entry) exactly one ingests. */
    char stale[32];
    time_iso(time_now_ms() - K.claim_timeout_ms, stale);
    if (store_doc_claim(id, K.node, stale) || store_doc_get(id, 0, &doc))
        goto done; /* someone else has it, it is finished, or it was deleted */
    size_t len = 0;
    int rc = store_upload_get(id, &raw, &len);
    if (rc) {
        if (rc != RAGD_EUNAVAIL)
            fail_doc(id, "the uploaded bytes are missing");
        goto done;
    }
    extract_opts_t eo = {.max_input = K.max_bytes + 1};
    extract_reason_t why = EXTRACT_OK;
    rc = extract_document(raw, len, &eo, &ex, &why);
    if (rc) {
        snprintf(err, sizeof err, "%s", extract_reason_str(why));
        fail_doc(id, err);
        goto done;
    }
    const char *title = json_string_value(json_object_get(doc, "title"));
    if (store_doc_set_content(id, ex->text, extract_type_name(ex->type), ex->title, ex->pages))
        goto done;
    if (!title || !*title)
        title = ex->title && *ex->title ? ex->title : "Untitled document";
    rc = chunk_split(ex->text, ex->text_len, &K.chunk, &chunks, &nchunks);
    if (rc || !nchunks) {
        fail_doc(id, rc ? "chunking failed" : "the document has no text");
        goto done;
    }
    kc = xcalloc(nchunks, sizeof *kc);
    ids = xcalloc(nchunks, sizeof *ids);
    for (size_t i = 0; i < nchunks; i++)
        kc[i] = (struct kchunk_new){(int)chunks[i].position,   ex->text + chunks[i].start,
                                    chunks[i].end - chunks[i].start, (int64_t)chunks[i].start,
                                    (int64_t)chunks[i].end,      (int64_t)chunks[i].tokens,
                                    NULL};
    const char *embed_error = NULL;
    if (prov_embedder() && K.hnsw) {
        texts = xcalloc(nchunks, sizeof *texts);
        for (size_t i = 0; i < nchunks; i++)
            texts[i] = index_text(title, kc[i].text, kc[i].len);
        vecs = xmalloc(nchunks * K.dim * sizeof *vecs);
        if (embed_all(texts, nchunks, vecs, err, sizeof err)) {
            embed_error = err;
            free(vecs);
            vecs = NULL;
        } else {
            for (size_t i = 0; i < nchunks; i++)
                kc[i].vec = vecs + i * K.dim;
        }
    }
    prov_embedder_t *e = prov_embedder();
    /* The note goes in with the ready status: a reader never sees one without the other. */
    char *note = embed_error
                     ? xasprintf("embeddings unavailable (%s); lexical search only", embed_error)
                     : NULL;
    rc = store_chunks_replace(id, kc, nchunks, e ? e->ops->model(e->self) : NULL,
                              vecs ? K.dim : 0, note, ids, &old, &nold);
    free(note);
    if (rc)
        goto done; /* deleted meanwhile, or the store failed (stays processing: re-queued) */
    /* Make the old chunks invisible, index the new ones, then make them visible. */
    meta_drop_chunks(old, nold);
    index_remove(old, nold);
    for (size_t i = 0; i < nchunks; i++) {
        char *it = index_text(title, kc[i].text, kc[i].len);
        bm25_add(K.bm25, (uint64_t)ids[i], it, strlen(it));
        free(it);
        if (vecs)
            hnsw_insert(K.hnsw, (uint64_t)ids[i], vecs + i * K.dim);
    }
    char *tags;
    struct kdoc_meta m = doc_meta(id, doc, &tags);
    meta_add_chunks(&m, ids, nchunks);
    free(tags);
    /* A delete may have raced with us after store_chunks_replace: re-check. */
    int vis = 0;
    json_t *again = NULL;
    if (store_doc_get(id, 0, &again) == RAGD_ENOTFOUND) {
        meta_drop_chunks(ids, nchunks);
        meta_drop_doc(id);
        index_remove(ids, nchunks);
    } else {
        vis = 1;
    }
    json_decref(again);
    if (vis)
        log_change(id, "index", old, nold);
    atomic_store(&K.dirty, 1);
    invalidate();
    store_upload_delete(id);
    log_json(LOG_INFO, "document ingested",
             json_pack("{s:s, s:s, s:I, s:b, s:b}", "document_id", id, "type",
                       extract_type_name(ex->type), "chunks", (json_int_t)nchunks, "vectors",
                       vecs != NULL, "visible", vis));
done:
    if (texts)
        for (size_t i = 0; i < nchunks; i++)
            free(texts[i]);
    free(texts);
    free(vecs);
    free(old);
    free(ids);
    free(kc);
    free(chunks);
    extract_result_free(ex);
    free(raw);
    json_decref(doc);
}

static void ingest_job(void *arg)
{
    char *id = arg;
    ingest_doc(id);
    free(id);
    atomic_fetch_sub(&K.queued, 1);
}

static int queue_doc(const char *id);
static int queue_doc(const char *id)
{
    if (!K.ingest)
        return RAGD_ELIMIT; /* an API-only node (INGEST_WORKERS=0): others ingest */
    atomic_fetch_add(&K.queued, 1);
    char *copy = xstrdup(id);
    if (workq_submit(K.ingest, ingest_job, copy)) {
        free(copy);
        atomic_fetch_sub(&K.queued, 1);
        return RAGD_ELIMIT;
    }
    return 0;
}

/* ---- the shared ingestion queue ----
 * With REDIS_URL (and INGEST_QUEUE=redis, the default then) a job is a document id pushed to
 * one Redis list that every node's consumers pop, so work spreads over the nodes; the
 * upload's bytes are in the database, and store_doc_claim makes sure one node ingests each
 * document. While Redis is down jobs run on the local queue. Whatever a list lost (Redis
 * restarted without persistence, a node died mid-job) is found by the sweeper: every idle
 * node looks for pending documents older than a few seconds and claims them. */

#define QUEUE_KEY "task_queue:ingest" /* the seed's task_queue:{priority} */

static void dispatch(const char *id)
{
    if (K.redis_queue) {
        redisReply *r = redis_cmd("LPUSH " QUEUE_KEY " %s", id);
        int ok = r && r->type == REDIS_REPLY_INTEGER;
        freeReplyObject(r);
        if (ok)
            return;
    }
    if (queue_doc(id) == RAGD_ELIMIT && K.ingest)
        log_json(LOG_WARN, "ingestion queue full; a sweeper will pick the document up",
                 json_pack("{s:s}", "document_id", id));
}

static void *consumer_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&K.sync_stop)) {
        redisReply *r = redis_cmd("BRPOP " QUEUE_KEY " 0.5");
        if (!r) {
            struct timespec ts = {0, 500000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_STRING) {
            atomic_fetch_add(&K.queued, 1);
            ingest_doc(r->element[1]->str);
            atomic_fetch_sub(&K.queued, 1);
        }
        freeReplyObject(r);
    }
    return NULL;
}

/* Queues, on this node, documents that nobody is working on. At start (own = 1) that
 * includes what this node claimed before it stopped. */
static void sweep(int own)
{
    if (!K.ingest)
        return;
    char pend[32], stale[32];
    int64_t now = time_now_ms();
    time_iso(own ? now : now - 5000, pend);
    time_iso(now - K.claim_timeout_ms, stale);
    char **ids = NULL;
    size_t n = 0;
    if (store_doc_claimable(own ? K.node : "-", pend, stale, 1000, &ids, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        queue_doc(ids[i]);
        free(ids[i]);
    }
    free(ids);
    if (n)
        log_json(LOG_INFO, "queued unclaimed documents", json_pack("{s:I}", "documents",
                                                                   (json_int_t)n));
}

size_t knowledge_queue_length(void)
{
    long q = atomic_load(&K.queued);
    return q > 0 ? (size_t)q : 0;
}

int knowledge_wait_idle(int64_t timeout_ms)
{
    int64_t end = time_mono_ns() + timeout_ms * 1000000;
    while (atomic_load(&K.queued) > 0) {
        if (time_mono_ns() > end)
            return RAGD_ETIMEOUT;
        usleep(5000);
    }
    return 0;
}

size_t knowledge_max_bytes(void)
{
    return K.max_bytes;
}

/* ---- touch (usage_stats) ---- */

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

static void touch_later(json_t *results)
{
    size_t n = json_array_size(results);
    if (!n || !K.touch)
        return;
    struct touch *t = xmalloc(sizeof *t + n * sizeof(int64_t));
    t->n = n;
    for (size_t i = 0; i < n; i++)
        t->ids[i] = json_integer_value(json_object_get(json_array_get(results, i), "chunk_id"));
    if (workq_submit(K.touch, touch_job, t))
        free(t); /* statistics are best effort under overload */
}

/* ---- init / shutdown ---- */

static int mkdir_p(const char *p)
{
    return mkdir(p, 0700) && errno != EEXIST ? RAGD_EIO : 0;
}

/* ---- nodes sharing one database ----
 * Each node keeps its own indexes. Every change is appended to the store's change log, and
 * a poller applies the other nodes' entries within KB_SYNC_INTERVAL_MS (250 ms). A node
 * that was down catches up from the log (kept for a day) or, at start, from the store. */

static void log_change(const char *doc_id, const char *op, const int64_t *ids, size_t n)
{
    int rc = store_kb_change_add(doc_id, op, K.node, ids, n);
    if (rc)
        log_json(LOG_WARN, "change log write failed; other nodes catch up at restart",
                 json_pack("{s:s, s:s, s:s}", "document_id", doc_id, "op", op, "error",
                           ragd_strerror(rc)));
}

struct synced {
    int64_t *ids;
    size_t n, cap;
    const char *title;
};

static int sync_chunk(int64_t id, const char *text, const float *vec, void *ud)
{
    struct synced *sc = ud;
    if (!bm25_contains(K.bm25, (uint64_t)id)) {
        char *it = index_text(sc->title, text, strlen(text));
        bm25_add(K.bm25, (uint64_t)id, it, strlen(it));
        free(it);
    }
    if (vec && K.hnsw && !hnsw_contains(K.hnsw, (uint64_t)id))
        hnsw_insert(K.hnsw, (uint64_t)id, vec);
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? 2 * sc->cap : 64;
        sc->ids = xrealloc(sc->ids, sc->cap * sizeof *sc->ids);
    }
    sc->ids[sc->n++] = id;
    return 0;
}

static int sync_apply(int64_t seq, const char *doc_id, const char *op, const char *node,
                      const char *chunk_ids, void *ud)
{
    (void)ud;
    K.sync_seq = seq;
    if (!strcmp(node, K.node))
        return 0; /* our own change: applied when it was made */
    size_t n = 0, cap = 0;
    int64_t *ids = NULL;
    for (const char *p = chunk_ids; p && *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            ids = xrealloc(ids, cap * sizeof *ids);
        }
        ids[n++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    meta_drop_chunks(ids, n);
    index_remove(ids, n);
    free(ids);
    json_t *doc = NULL;
    if (!strcmp(op, "delete") || store_doc_get(doc_id, 0, &doc)) {
        meta_drop_doc(doc_id);
    } else {
        struct synced sc = {.title = json_string_value(json_object_get(doc, "title"))};
        store_doc_chunks_foreach(doc_id, K.dim, sync_chunk, &sc);
        char *tags;
        struct kdoc_meta m = doc_meta(doc_id, doc, &tags);
        meta_add_chunks(&m, sc.ids, sc.n);
        free(tags);
        free(sc.ids);
    }
    json_decref(doc);
    atomic_store(&K.dirty, 1);
    invalidate();
    return 0;
}

/* ---- embedding backfill ---- */

/* Chunks stored without a vector of the configured embedder (ingested before it was
 * configured, or embedded by another model) are embedded after start, in batches, on the
 * ingestion worker; other nodes follow through the change log. Stops at the first failure
 * (logged): those chunks stay lexical-only until the next start. */
static void backfill_job(void *arg)
{
    (void)arg;
    prov_embedder_t *e = prov_embedder();
    const char *model = e->ops->model(e->self);
    int64_t after = 0, done = 0;
    char err[256] = "";
    int rc = 0;
    for (;;) {
        json_t *rows = NULL;
        if ((rc = store_chunks_unembedded(K.dim, model, after, 256, &rows)))
            break;
        size_t n = json_array_size(rows);
        if (!n) {
            json_decref(rows);
            break;
        }
        char **texts = xcalloc(n, sizeof *texts);
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_array_get(rows, i);
            const char *t = json_string_value(json_object_get(c, "content"));
            texts[i] = index_text(json_string_value(json_object_get(c, "title")), t, strlen(t));
        }
        float *vecs = xmalloc(n * K.dim * sizeof *vecs);
        rc = embed_all(texts, n, vecs, err, sizeof err);
        for (size_t i = 0; !rc && i < n;) {
            /* One document's run of chunks at a time, so that the change names its chunks. */
            json_t *first = json_array_get(rows, i);
            const char *doc = json_string_value(json_object_get(first, "document_id"));
            int64_t ids[256];
            size_t k = 0;
            for (; i < n; i++) {
                json_t *c = json_array_get(rows, i);
                if (strcmp(json_string_value(json_object_get(c, "document_id")), doc))
                    break;
                int64_t id = (int64_t)json_integer_value(json_object_get(c, "id"));
                int prc = store_embedding_put(id, model, K.dim, vecs + i * K.dim);
                if (prc && prc != RAGD_ENOTFOUND) {
                    rc = prc;
                    break;
                }
                if (prc)
                    continue; /* deleted meanwhile */
                if (hnsw_contains(K.hnsw, (uint64_t)id))
                    hnsw_delete(K.hnsw, (uint64_t)id);
                hnsw_insert(K.hnsw, (uint64_t)id, vecs + i * K.dim);
                ids[k++] = id;
            }
            if (k)
                log_change(doc, "index", ids, k);
            done += (int64_t)k;
        }
        after = (int64_t)json_integer_value(json_object_get(json_array_get(rows, n - 1), "id"));
        for (size_t i = 0; i < n; i++)
            free(texts[i]);
        free(texts);
        free(vecs);
        json_decref(rows);
        atomic_store(&K.dirty, 1);
        invalidate();
        if (rc)
            break;
    }
    if (rc)
        log_json(LOG_WARN, "embedding backfill stopped",
                 json_pack("{s:s, s:s, s:I}", "error", err[0] ? err : ragd_strerror(rc),
                           "model", model, "embedded", (json_int_t)done));
    else if (done)
        log_json(LOG_INFO, "embedding backfill done",
                 json_pack("{s:s, s:I}", "model", model, "embedded", (json_int_t)done));
}

static void *syncer_main(void *arg)
{
    (void)arg;
    int64_t interval = config_int("KB_SYNC_INTERVAL_MS", 250, 10, 60000);
    int64_t next_sweep = time_mono_ns() + 5000000000LL;
    while (!atomic_load(&K.sync_stop)) {
        struct timespec ts = {(time_t)(interval / 1000), (long)(interval % 1000) * 1000000};
        nanosleep(&ts, NULL);
        if (time_mono_ns() > next_sweep) {
            next_sweep = time_mono_ns() + 5000000000LL;
            if (atomic_load(&K.queued) == 0)
                sweep(0);
        }
        while (!atomic_load(&K.sync_stop)) {
            int64_t before = K.sync_seq;
            if (store_kb_changes_since(K.sync_seq, 256, sync_apply, NULL) || K.sync_seq == before)
                break;
        }
    }
    return NULL;
}

/* This node's id, created once and kept in the data dir, so that after a restart it
 * recognises (and resumes) the ingestion claims it made before. */
static int node_identity(const char *data_dir, char *err, size_t errcap)
{
    char *path = xasprintf("%s/node_id", data_dir);
    char buf[64] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    if (!uuid_valid(buf)) {
        uuid4(buf);
        f = fopen(path, "w");
        if (!f || fprintf(f, "%s\n", buf) < 0 || fclose(f)) {
            snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
            free(path);
            return RAGD_EIO;
        }
    }
    memcpy(K.node, buf, sizeof K.node); /* a valid UUID: 36 characters and the NUL */
    free(path);
    return 0;
}

int knowledge_init(const char *data_dir, char *err, size_t errcap)
{
    err[0] = '\0';
    memset(&K, 0, sizeof K);
    pthread_rwlock_init(&K.meta_lock, NULL);
    pthread_mutex_init(&K.saver_lock, NULL);
    pthread_cond_init(&K.saver_cond, NULL);
    K.dir = xstrdup(data_dir);
    K.index_dir = xasprintf("%s/index", data_dir);
    if (mkdir_p(K.index_dir)) {
        snprintf(err, errcap, "cannot create %s: %s", K.index_dir, strerror(errno));
        return RAGD_EIO;
    }
    if (node_identity(data_dir, err, errcap))
        return RAGD_EIO;
    K.claim_timeout_ms = config_int("INGEST_CLAIM_TIMEOUT_SECONDS", 600, 10, 86400) * 1000;
    const char *qmode = config_str("INGEST_QUEUE", redis_enabled() ? "redis" : "local");
    K.redis_queue = redis_enabled() && !strcmp(qmode, "redis");
    K.max_bytes = (size_t)config_int("DOCUMENT_MAX_BYTES", 10 << 20, 1024, 1LL << 31);
    chunk_opts_default(&K.chunk);
    K.chunk.size = (size_t)config_int("CHUNK_SIZE", CHUNK_DEFAULT_SIZE, 16, 8192);
    K.chunk.overlap = (size_t)config_int("CHUNK_OVERLAP", CHUNK_DEFAULT_OVERLAP, 0, 4096);
    K.search_ttl_ms = config_int("SEARCH_CACHE_TTL_SECONDS", 1800, 0, 86400 * 7) * 1000;
    K.embed_ttl_ms = config_int("EMBEDDING_CACHE_TTL_SECONDS", 86400, 0, 86400 * 30) * 1000;
    prov_embedder_t *e = prov_embedder();
    K.dim = e ? e->dim : 0;
    /* Changes logged from here on are applied by the poller; earlier ones are already in the
     * store, which load_indexes reconciles with. */
    int rc = store_kb_change_max(&K.sync_seq);
    if (!rc)
        rc = load_indexes(err, errcap);
    if (rc) {
        if (!err[0])
            snprintf(err, errcap, "knowledge store: %s", ragd_strerror(rc));
        return rc;
    }
    cache_init(&search_cache, SEARCH_SLOTS);
    cache_init(&embed_cache, EMBED_SLOTS);
    /* INGEST_WORKERS=0 makes an API-only node: it accepts uploads, other nodes ingest them
     * (through the Redis queue, or their sweepers). */
    int workers = (int)config_int("INGEST_WORKERS", 1, 0, 64);
    K.ingest = workers ? workq_create(workers, 100000, "ingest") : NULL;
    K.touch = workq_create(1, 10000, "touch");
    if (pthread_create(&K.saver, NULL, saver_main, NULL) == 0)
        K.saver_running = 1;
    if (pthread_create(&K.syncer, NULL, syncer_main, NULL) == 0)
        K.syncer_running = 1;
    sweep(1); /* what this node left unfinished, and what nobody holds */
    if (K.ingest && K.hnsw && prov_embedder())
        workq_submit(K.ingest, backfill_job, NULL);
    if (K.redis_queue) {
        K.nconsumers = workers;
        K.consumers = xcalloc((size_t)workers, sizeof *K.consumers);
        for (int i = 0; i < workers; i++)
            if (pthread_create(&K.consumers[i], NULL, consumer_main, NULL))
                panic("cannot start an ingestion consumer");
    }
    K.ready = 1;
    return 0;
}

void knowledge_shutdown(void)
{
    if (!K.ready)
        return;
    atomic_store(&K.sync_stop, 1);
    if (K.syncer_running) {
        pthread_join(K.syncer, NULL);
        K.syncer_running = 0;
    }
    for (int i = 0; i < K.nconsumers; i++)
        pthread_join(K.consumers[i], NULL);
    free(K.consumers);
    K.consumers = NULL;
    K.nconsumers = 0;
    workq_destroy(K.ingest);
    workq_destroy(K.touch);
    K.ingest = K.touch = NULL;
    if (K.saver_running) {
        pthread_mutex_lock(&K.saver_lock);
        K.stopping = 1;
        pthread_cond_signal(&K.saver_cond);
        pthread_mutex_unlock(&K.saver_lock);
        pthread_join(K.saver, NULL);
    }
    if (atomic_load(&K.dirty))
        save_indexes();
    bm25_free(K.bm25);
    hnsw_free(K.hnsw);
    for (size_t i = 0; i < K.ndocs; i++)
        dmeta_clear(&K.docs[i]);
    free(K.docs);
    idmap_free(&K.chunk_doc);
    cache_destroy(&search_cache);
    cache_destroy(&embed_cache);
    free(K.dir);
    free(K.index_dir);
    pthread_rwlock_destroy(&K.meta_lock);
    K.ready = 0;
}

/* ---- intake and deletion ---- */

int knowledge_submit(const struct kn_caller *c, const struct kn_upload *u, json_t **doc,
                     char *err, size_t errcap)
{
    *doc = NULL;
    if (u->len > K.max_bytes) {
        snprintf(err, errcap, "document is %zu bytes; the limit is %zu bytes", u->len,
                 K.max_bytes);
        return RAGD_ERANGE;
    }
    extract_type_t type;
    extract_reason_t why = EXTRACT_OK;
    if (extract_sniff(u->data, u->len, &type, &why)) {
        snprintf(err, errcap, "%s", extract_reason_str(why));
        return RAGD_EINVAL;
    }
    char sha[65];
    sha256_hex(u->data, u->len, sha);
    struct kdoc_new d = {
        .organization_id = c->org_id,
        .owner_id = c->user_id,
        .shared = u->shared,
        .title = u->title,
        .category = u->category,
        .source = u->source,
        .tags = u->tags,
        .metadata = u->metadata,
        .importance = u->importance > 0 ? u->importance : 1.0,
        .mime_type = extract_type_name(type),
        .size_bytes = (int64_t)u->len,
        .sha256 = sha,
        .status = "pending",
    };
    uuid4(d.id);
    int rc = store_doc_insert(&d);
    if (!rc) {
        rc = store_upload_put(d.id, u->data, u->len);
        if (rc) {
            int64_t *gone = NULL;
            size_t ngone = 0;
            store_doc_delete(d.id, &gone, &ngone);
            free(gone);
        }
    }
    if (!rc)
        rc = store_doc_get(d.id, 0, doc); /* the 202 body, before a worker changes it */
    if (rc) {
        snprintf(err, errcap, "%s", ragd_strerror(rc));
        return rc;
    }
    dispatch(d.id);
    return 0;
}

int knowledge_delete(const struct kn_caller *c, const char *doc_id)
{
    struct kscope s = {c->user_id, c->org_id};
    int vis = store_doc_visible(doc_id, &s);
    if (vis < 0)
        return vis;
    if (!vis)
        return RAGD_ENOTFOUND;
    json_t *doc = NULL;
    int rc = store_doc_get(doc_id, 0, &doc);
    if (rc)
        return rc;
    const char *owner = json_string_value(json_object_get(doc, "owner_id"));
    int mine = owner && !strcmp(owner, c->user_id);
    json_decref(doc);
    if (!mine && !c->is_admin)
        return RAGD_EPERM;
    int64_t *ids = NULL;
    size_t n = 0;
    if ((rc = store_doc_delete(doc_id, &ids, &n)))
        return rc;
    meta_drop_chunks(ids, n);
    meta_drop_doc(doc_id);
    index_remove(ids, n);
    log_change(doc_id, "delete", ids, n);
    free(ids);
    invalidate();
    return 0;
}

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
    return K.hnsw != NULL && prov_embedder() != NULL;
}

static const char *const filter_keys[] = {"category", "source", "tags", "document_id", NULL};
static const char *const filter_fields[] = {"filters.category", "filters.source", "filters.tags",
                                            "filters.document_id"};

int knowledge_filters_check(json_t *filters, const char **field, char *err, size_t errcap)
{
    *field = "filters";
    if (!filters || json_is_null(filters))
        return 0;
    if (!json_is_object(filters)) {
        snprintf(err, errcap, "field 'filters' must be an object");
        return RAGD_EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(filters, k, v) {
        if (!strcmp(k, "shared")) {
            if (!json_is_boolean(v)) {
                *field = "filters.shared";
                snprintf(err, errcap, "filter 'shared' must be true or false");
                return RAGD_EINVAL;
            }
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
        if (json_is_array(v))
            json_array_foreach(v, j, x) ok &= json_is_string(x);
        if (!ok) {
            snprintf(err, errcap, "filter '%s' must be a string or an array of up to 100 strings",
                     k);
            return RAGD_EINVAL;
        }
    }
    *field = NULL;
    return 0;
}

struct fctx {
    const struct kn_caller *c;
    json_t *filters;
};

static int str_in(json_t *v, const char *s)
{
    if (!v)
        return 1;
    if (!s)
        return 0;
    if (json_is_string(v))
        return !strcmp(json_string_value(v), s);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (!strcmp(json_string_value(x), s)) return 1;
    return 0;
}

static bool accept_chunk(uint64_t id, void *ud)
{
    struct fctx *f = ud;
    bool ok = false;
    pthread_rwlock_rdlock(&K.meta_lock);
    uint32_t slot;
    if (idmap_get(&K.chunk_doc, id, &slot) && slot < K.ndocs && K.docs[slot].live) {
        const struct dmeta *d = &K.docs[slot];
        const char *org = f->c->org_id;
        ok = d->shared || !strcmp(d->owner, f->c->user_id) || (org && *org && !strcmp(d->org, org));
        if (ok && f->filters) {
            json_t *v;
            ok = str_in(json_object_get(f->filters, "category"), d->category) &&
                 str_in(json_object_get(f->filters, "source"), d->source) &&
                 str_in(json_object_get(f->filters, "document_id"), d->id);
            if (ok && (v = json_object_get(f->filters, "shared")))
                ok = json_is_true(v) == (d->shared != 0);
            if (ok && (v = json_object_get(f->filters, "tags"))) {
                ok = false;
                for (int t = 0; t < d->ntags && !ok; t++)
                    ok = str_in(v, d->tags[t]);
            }
        }
    }
    pthread_rwlock_unlock(&K.meta_lock);
    return ok;
}

/* The query's embedding, from the cache when possible. */
/* Query embeddings are cached in process and, with REDIS_URL, in Redis under the seed's
 * key "embedding:<hash>" for EMBEDDING_CACHE_TTL_SECONDS, shared by every node. The hash
 * covers the model and dimension, so a model change never serves stale vectors. */
static int embed_query(const char *text, float *out, char *err, size_t errcap)
{
    char key[65], rkey[96];
    prov_embedder_t *e = prov_embedder();
    char *material = xasprintf("%s\x1f%u\x1f%s", e->ops->model(e->self), K.dim, text);
    sha256_hex(material, strlen(material), key);
    free(material);
    if (cache_get(&embed_cache, key, 0, out, K.dim))
        return 0;
    snprintf(rkey, sizeof rkey, "embedding:%s", key);
    size_t bytes = K.dim * sizeof *out;
    if (redis_enabled()) {
        redisReply *r = redis_cmd("GET %s", rkey);
        int hit = r && r->type == REDIS_REPLY_STRING && r->len == bytes;
        if (hit)
            memcpy(out, r->str, bytes);
        freeReplyObject(r);
        if (hit)
            goto keep;
    }
    int rc = prov_embed(e, &text, 1, out, err, errcap);
    if (rc)
        return rc;
    if (redis_enabled() && K.embed_ttl_ms >= 1000)
        freeReplyObject(redis_cmd("SET %s %b EX %lld", rkey, (const char *)out, bytes,
                                  (long long)(K.embed_ttl_ms / 1000)));
keep:;
    float *copy = xmalloc(bytes);
    memcpy(copy, out, bytes);
    cache_put(&embed_cache, key, 0, K.embed_ttl_ms, copy);
    return 0;
}

/* The automatic route by query shape and availability (rag/hybrid.h's rules). */
static enum kn_route auto_route(const char *q)
{
    switch (hybrid_choose_route(q, strlen(q), knowledge_vector_available(), NULL)) {
    case HYBRID_VECTOR: return KN_VECTOR;
    case HYBRID_HYBRID: return KN_HYBRID;
    default: return KN_EXACT;
    }
}

static json_t *result_json(const rag_hit_t *h, double score)
{
    struct kchunk c;
    if (store_chunk_get((int64_t)h->id, &c))
        return NULL;
    json_error_t je;
    json_t *meta = json_loads(c.metadata ? c.metadata : "{}", 0, &je);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:f, s:o, s:o}", "document_id", c.document_id,
                          "chunk_id", (json_int_t)c.id, "title", c.title, "content", c.content,
                          "score", score, "source", c.source ? json_string(c.source) : json_null(),
                          "metadata", meta ? meta : json_object());
    store_kchunk_clear(&c);
    return o;
}

static void search_key(const struct kn_caller *c, const struct kn_query *q, enum kn_route route,
                       char key[65])
{
    char *f = q->filters ? json_dumps(q->filters, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *s = xasprintf("%s|%s|%d|%zu|%.4f|%.4f|%s|%s", c->user_id, c->org_id ? c->org_id : "",
                        (int)route, q->top_k, q->w_vector, q->w_keyword, f ? f : "", q->text);
    sha256_hex(s, strlen(s), key);
    free(s);
    free(f);
}

int knowledge_search(const struct kn_caller *c, const struct kn_query *q, struct kn_result *res,
                     char *err, size_t errcap)
{
    int64_t t0 = time_mono_ns();
    memset(res, 0, sizeof *res);
    enum kn_route route = q->route;
    if (route == KN_AUTO)
        route = auto_route(q->text);
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
    res->methods_used = json_array();
    if (route != KN_EXACT)
        json_array_append_new(res->methods_used, json_string("vector"));
    if (route != KN_VECTOR)
        json_array_append_new(res->methods_used, json_string("keyword"));

    long gen = atomic_load(&K.generation);
    char key[65];
    search_key(c, q, route, key);
    if (cache_get(&search_cache, key, gen, &res->results, 0)) {
        res->cached = 1;
        touch_later(res->results);
        res->ms = (double)(time_mono_ns() - t0) / 1e6;
        return 0;
    }

    size_t k = q->top_k ? q->top_k : 5;
    size_t wide = route == KN_HYBRID ? (k * 4 > 50 ? k * 4 : 50) : k;
    struct fctx f = {c, q->filters};
    rag_hit_t *lh = xcalloc(wide, sizeof *lh), *vh = xcalloc(wide, sizeof *vh);
    size_t nl = 0, nv = 0;
    int rc = 0;
    if (route == KN_EXACT || route == KN_HYBRID)
        rc = bm25_search(K.bm25, q->text, strlen(q->text), wide, accept_chunk, &f, lh, &nl);
    if (!rc && (route == KN_VECTOR || route == KN_HYBRID)) {
        float *qv = xmalloc(K.dim * sizeof *qv);
        rc = embed_query(q->text, qv, err, errcap);
        if (!rc) {
            uint32_t ef = (uint32_t)(wide * 2 > 64 ? wide * 2 : 64);
            rc = hnsw_search(K.hnsw, qv, wide, ef, accept_chunk, &f, vh, &nv);
            if (rc == RAGD_EINVAL) { /* a zero query vector: nothing is similar */
                rc = 0;
                nv = 0;
            }
        } else if (route == KN_HYBRID || q->vector_fallback) {
            /* The embedder failed: degrade to lexical rather than fail the search. */
            log_json(LOG_WARN, "query embedding failed; lexical only",
                     json_pack("{s:s}", "error", err));
            if (route == KN_VECTOR)
                rc = bm25_search(K.bm25, q->text, strlen(q->text), k, accept_chunk, &f, lh,
                                 &nl);
            else
                rc = 0;
            route = res->used = KN_EXACT;
            res->fallback = 1;
            json_decref(res->methods_used);
            res->methods_used = json_pack("[s]", "keyword");
        }
        free(qv);
    }
    if (rc) {
        free(lh);
        free(vh);
        json_decref(res->methods_used);
        res->methods_used = NULL;
        if (!err[0])
            snprintf(err, errcap, "search failed: %s", ragd_strerror(rc));
        return rc == RAGD_EINVAL ? RAGD_EINVAL : RAGD_EUNAVAIL;
    }
    res->results = json_array();
    if (route == KN_HYBRID) {
        /* Weighted fusion of min-max normalised scores (rag/hybrid.h). */
        hybrid_opts_t ho;
        hybrid_opts_default(&ho);
        ho.w_vector = (float)q->w_vector;
        ho.w_lexical = (float)q->w_keyword;
        hybrid_hit_t *fu = xcalloc(k, sizeof *fu);
        size_t nf = 0;
        if (!hybrid_fuse(lh, nl, vh, nv, &ho, k, fu, &nf)) {
            for (size_t i = 0; i < nf; i++) {
                rag_hit_t h = {fu[i].id, fu[i].score};
                json_t *o = result_json(&h, fu[i].score);
                if (!o)
                    continue;
                json_object_set_new(
                    o, "scores",
                    json_pack("{s:o, s:o}", "vector",
                              isnan(fu[i].vector) ? json_null() : json_real(fu[i].vector),
                              "keyword",
                              isnan(fu[i].lexical) ? json_null() : json_real(fu[i].lexical)));
                json_array_append_new(res->results, o);
            }
        }
        free(fu);
    } else {
        rag_hit_t *h = route == KN_VECTOR ? vh : lh;
        size_t n = route == KN_VECTOR ? nv : nl;
        for (size_t i = 0; i < n && i < k; i++) {
            json_t *o = result_json(&h[i], h[i].score);
            if (o)
                json_array_append_new(res->results, o);
        }
    }
    free(lh);
    free(vh);
    cache_put(&search_cache, key, gen, K.search_ttl_ms, json_deep_copy(res->results));
    touch_later(res->results);
    res->ms = (double)(time_mono_ns() - t0) / 1e6;
    return 0;
}

void knowledge_result_free(struct kn_result *res)
{
    json_decref(res->results);
    json_decref(res->methods_used);
    res->results = res->methods_used = NULL;
}

json_t *knowledge_health(void)
{
    if (!K.ready)
        return json_pack("{s:s}", "status", "not_configured");
    int64_t chunks = 0;
    store_chunk_count(&chunks, 0, NULL);
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:b, s:I, s:{s:I, s:I}, s:{s:I, s:I}}", "status", "healthy",
        "chunks", (json_int_t)bm25_count(K.bm25), "chunks_stored", (json_int_t)chunks,
        "bm25_terms", (json_int_t)bm25_term_count(K.bm25), "vectors",
        (json_int_t)(K.hnsw ? hnsw_count(K.hnsw) : 0), "vector_search",
        knowledge_vector_available(), "documents_queued", (json_int_t)knowledge_queue_length(),
        "search_cache", "hits", (json_int_t)atomic_load(&search_cache.hits), "misses",
        (json_int_t)atomic_load(&search_cache.misses), "embedding_cache", "hits",
        (json_int_t)atomic_load(&embed_cache.hits), "misses",
        (json_int_t)atomic_load(&embed_cache.misses));
}

/* ---- demo corpus ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_md(const char *root, const char *rel, char ***out, size_t *n, size_t *cap,
                    int depth)
{
    if (depth > 8)
        return;
    char *dir = rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *r = rel[0] ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
        char *full = xasprintf("%s/%s", root, r);
        struct stat st;
        if (!stat(full, &st) && S_ISDIR(st.st_mode)) {
            list_md(root, r, out, n, cap, depth + 1);
            free(r);
        } else if (strlen(r) > 3 && !strcmp(r + strlen(r) - 3, ".md") && S_ISREG(st.st_mode)) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 32;
                *out = xrealloc(*out, *cap * sizeof **out);
            }
            (*out)[(*n)++] = r;
        } else {
            free(r);
        }
        free(full);
    }
    closedir(d);
}

int knowledge_seed_dir(const char *dir, const char *owner_id, json_t **summary, char *err,
                       size_t errcap)
{
    char **files = NULL;
    size_t n = 0, cap = 0;
    list_md(dir, "", &files, &n, &cap, 0);
    if (n)
        qsort(files, n, sizeof *files, cmp_str);
    json_t *docs = json_array();
    int ingested = 0, skipped = 0, failed = 0;
    struct kn_caller c = {owner_id, NULL, 1};
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, files[i]);
        char *data = NULL;
        size_t len = 0;
        char *source = xasprintf("docs/%s", files[i]);
        if (read_file(path, &data, &len)) {
            failed++;
            json_array_append_new(docs, json_pack("{s:s, s:s}", "source", source, "status",
                                                  "unreadable"));
        } else {
            char sha[65], existing[37];
            sha256_hex(data, len, sha);
            if (!store_doc_find_sha(sha, NULL, 1, existing)) {
                skipped++;
                json_array_append_new(docs, json_pack("{s:s, s:s, s:s}", "source", source,
                                                      "status", "exists", "document_id",
                                                      existing));
            } else {
                struct kn_upload u = {.data = data, .len = len, .category = "ragd-docs",
                                      .source = source, .shared = 1, .importance = 1.0};
                json_t *doc = NULL;
                char why[256];
                if (knowledge_submit(&c, &u, &doc, why, sizeof why)) {
                    failed++;
                    json_array_append_new(docs, json_pack("{s:s, s:s, s:s}", "source", source,
                                                          "status", "failed", "error", why));
                } else {
                    ingested++;
                    json_array_append_new(
                        docs, json_pack("{s:s, s:s, s:O}", "source", source, "status", "queued",
                                        "document_id", json_object_get(doc, "id")));
                }
                json_decref(doc);
            }
        }
        free(source);
        free(data);
        free(path);
        free(files[i]);
    }
    free(files);
    (void)err;
    (void)errcap;
    *summary = json_pack("{s:s, s:I, s:i, s:i, s:i, s:o}", "directory", dir, "files",
                         (json_int_t)n, "ingested", ingested, "skipped", skipped, "failed",
                         failed, "documents", docs);
    return 0;
}

const char *knowledge_docs_dir(void)
{
    static char found[PATH_MAX];
    static pthread_mutex_t l = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&l);
    const char *env = config_str("KNOWLEDGE_DOCS_DIR", NULL);
    struct stat st;
    const char *res = NULL;
    if (env) {
        if (!stat(env, &st) && S_ISDIR(st.st_mode)) {
            snprintf(found, sizeof found, "%s", env);
            res = found;
        }
    } else if (!stat("docs", &st) && S_ISDIR(st.st_mode)) {
        snprintf(found, sizeof found, "docs");
        res = found;
    } else {
        char exe[PATH_MAX - 16];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            for (int up = 1; up <= 3 && !res; up++) {
                char *slash = strrchr(exe, '/');
                if (!slash)
                    break;
                *slash = '\0';
                snprintf(found, sizeof found, "%s/docs", exe);
                if (!stat(found, &st) && S_ISDIR(st.st_mode))
                    res = found;
            }
        }
    }
    pthread_mutex_unlock(&l);
    return res;
}
