/* ingest.c - the ingestion worker: claim a document, extract its text, chunk it, embed the
 * chunks when an embedder is configured, store them and add them to the indexes. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/util.h"
#include "knowledge/knowledge_int.h"
#include "llm/provider.h"
#include "rag/extract.h"

static void fail_doc(const char *id, const char *why)
{
    store_doc_set_status(id, "failed", why);
    store_upload_delete(id);
    log_json(LOG_WARN, "document ingestion failed",
             json_pack("{s:s, s:s}", "document_id", id, "error", why));
}

static void over_budget(const char *id, int64_t budget_ms)
{
    char why[160];
    snprintf(why, sizeof why,
             "processing took longer than the time budget of %lld ms per document"
             " (INGEST_DOCUMENT_TIMEOUT_MS)",
             (long long)budget_ms);
    fail_doc(id, why);
}

int kn_embed_all(char **texts, size_t n, float *vecs, char *err, size_t errcap)
{
    struct kn_state *K = kn();
    prov_embedder_t *e = prov_embedder();
    size_t batch = (size_t)config_int("EMBEDDING_BATCH_SIZE", 32, 1, 4096);
    for (size_t i = 0; i < n; i += batch) {
        size_t m = n - i < batch ? n - i : batch;
        int rc = prov_embed(e, (const char *const *)texts + i, m, vecs + i * K->dim, err, errcap);
        if (rc) return rc;
    }
    return 0;
}

/* ---- extraction under a time budget ----
 * Extraction (MuPDF for PDFs) cannot be interrupted, so it runs on a thread of its own while
 * the worker waits at most the document's time budget. A document over budget fails with a
 * clear reason and the worker moves on; the extraction finishes in the background and
 * cleans up after itself. At most INGEST_WORKERS such stray extractions run at once: past
 * that a worker waits for one to end before starting another, so slow documents cannot
 * take every core. */

struct extraction {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, abandoned;
    char *raw; /* the upload's bytes, owned */
    size_t len;
    extract_opts_t eo;
    extract_result_t *ex;
    extract_reason_t why;
    int rc;
};

static void extraction_free(struct extraction *x)
{
    extract_result_free(x->ex);
    free(x->raw);
    pthread_mutex_destroy(&x->lock);
    pthread_cond_destroy(&x->cond);
    free(x);
}

static void *extract_main(void *arg)
{
    struct extraction *x = arg;
    x->rc = extract_document(x->raw, x->len, &x->eo, &x->ex, &x->why);
    pthread_mutex_lock(&x->lock);
    x->done = 1;
    int abandoned = x->abandoned;
    pthread_cond_signal(&x->cond);
    pthread_mutex_unlock(&x->lock);
    if (abandoned) {
        struct kn_state *K = kn();
        extraction_free(x);
        pthread_mutex_lock(&K->stray_lock);
        K->stray--;
        pthread_cond_broadcast(&K->stray_cond);
        pthread_mutex_unlock(&K->stray_lock);
    }
    return NULL;
}

/* Extracts raw[0..len) (taking ownership of raw) within budget_ms. 0 with *ex, RAGD_EINVAL
 * (or another extract error) with *why, or RAGD_ETIMEOUT when the budget ran out. */
static int extract_within(char *raw, size_t len, int64_t budget_ms, extract_result_t **ex,
                          extract_reason_t *why)
{
    struct kn_state *K = kn();
    pthread_mutex_lock(&K->stray_lock);
    while (K->stray >= K->max_stray)
        pthread_cond_wait(&K->stray_cond, &K->stray_lock);
    pthread_mutex_unlock(&K->stray_lock);

    struct extraction *x = xcalloc(1, sizeof *x);
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->cond, NULL);
    x->raw = raw;
    x->len = len;
    x->eo = (extract_opts_t){.max_input = K->max_bytes + 1};
    x->why = EXTRACT_OK;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, extract_main, x)) {
        pthread_attr_destroy(&attr);
        extract_main(x); /* no thread to spare: extract here, without a budget */
    } else {
        pthread_attr_destroy(&attr);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(budget_ms / 1000);
    until.tv_nsec += (long)(budget_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&x->lock);
    while (!x->done)
        if (pthread_cond_timedwait(&x->cond, &x->lock, &until) == ETIMEDOUT) break;
    if (!x->done) {
        x->abandoned = 1; /* extract_main frees it when it ends */
        pthread_mutex_lock(&K->stray_lock);
        K->stray++;
        pthread_mutex_unlock(&K->stray_lock);
        pthread_mutex_unlock(&x->lock);
        return RAGD_ETIMEOUT;
    }
    pthread_mutex_unlock(&x->lock);
    int rc = x->rc;
    *ex = x->ex;
    *why = x->why;
    x->ex = NULL;
    extraction_free(x);
    return rc;
}

void kn_ingest_doc(const char *id)
{
    struct kn_state *K = kn();
    struct kdoc doc = {0};
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
    time_iso(time_now_ms() - K->claim_timeout_ms, stale);
    if (store_doc_claim(id, K->node, stale) || store_doc_get(id, 0, &doc))
        goto done; /* someone else has it, it is finished, or it was deleted */
    /* Every line logged from here on names the document, its upload's request and file. */
    char request_id[65], filename[256];
    kn_origin_take(id, request_id, filename);
    json_t *ctx = json_pack("{s:s, s:s}", "document_id", id, "title", doc.title);
    if (request_id[0]) json_object_set_new(ctx, "request_id", json_string(request_id));
    if (filename[0]) json_object_set_new(ctx, "file", json_string(filename));
    log_context(ctx);
    size_t len = 0;
    int rc = store_upload_get(id, &raw, &len);
    if (rc) {
        if (rc != RAGD_EUNAVAIL) fail_doc(id, "the uploaded bytes are missing");
        goto done;
    }
    int64_t t0 = time_mono_ns();
    extract_reason_t why = EXTRACT_OK;
    rc = extract_within(raw, len, K->doc_budget_ms, &ex, &why);
    raw = NULL; /* owned by the extraction now */
    if (rc == RAGD_ETIMEOUT) {
        over_budget(id, K->doc_budget_ms);
        goto done;
    }
    if (rc) {
        snprintf(err, sizeof err, "%s", extract_reason_str(why));
        fail_doc(id, err);
        goto done;
    }
    const char *title = doc.title;
    if (store_doc_set_content(id, ex->text, extract_type_name(ex->type), ex->title, ex->pages))
        goto done;
    if (!title || !*title) title = ex->title && *ex->title ? ex->title : "Untitled document";
    rc = chunk_split(ex->text, ex->text_len, &K->chunk, &chunks, &nchunks);
    if (rc || !nchunks) {
        fail_doc(id, rc ? "chunking failed" : "the document has no text");
        goto done;
    }
    kc = xcalloc(nchunks, sizeof *kc);
    ids = xcalloc(nchunks, sizeof *ids);
    for (size_t i = 0; i < nchunks; i++)
        kc[i] = (struct kchunk_new){
            .position = (int)chunks[i].position,
            .text = ex->text + chunks[i].start,
            .len = chunks[i].end - chunks[i].start,
            .start = (int64_t)chunks[i].start,
            .end = (int64_t)chunks[i].end,
            .tokens = (int64_t)chunks[i].tokens,
        };
    const char *embed_error = NULL;
    if (prov_embedder() && K->hnsw) {
        texts = xcalloc(nchunks, sizeof *texts);
        for (size_t i = 0; i < nchunks; i++)
            texts[i] = kn_index_text(title, kc[i].text, kc[i].len);
        vecs = xmalloc(nchunks * K->dim * sizeof *vecs);
        if (kn_embed_all(texts, nchunks, vecs, err, sizeof err)) {
            embed_error = err;
            free(vecs);
            vecs = NULL;
        } else {
            for (size_t i = 0; i < nchunks; i++)
                kc[i].vec = vecs + i * K->dim;
        }
    }
    if ((time_mono_ns() - t0) / 1000000 > K->doc_budget_ms) {
        over_budget(id, K->doc_budget_ms);
        goto done;
    }
    prov_embedder_t *e = prov_embedder();
    /* The note goes in with the ready status: a reader never sees one without the other. */
    char *note = embed_error
                     ? xasprintf("embeddings unavailable (%s); lexical search only", embed_error)
                     : NULL;
    rc = store_chunks_replace(id, kc, nchunks, e ? e->ops->model(e->self) : NULL, vecs ? K->dim : 0,
                              note, ids, &old, &nold);
    free(note);
    if (rc) goto done; /* deleted meanwhile, or the store failed (stays processing: re-queued) */
    /* Make the old chunks invisible, index the new ones, then make them visible. */
    kn_meta_drop_chunks(old, nold);
    kn_index_remove(old, nold);
    for (size_t i = 0; i < nchunks; i++) {
        char *it = kn_index_text(title, kc[i].text, kc[i].len);
        bm25_add(K->bm25, (uint64_t)ids[i], it, strlen(it));
        struct kn_doc_access a = {doc.owner_id, doc.organization_id, doc.shared};
        kn_lex_add(ids[i], &a, it, strlen(it));
        free(it);
        if (vecs) hnsw_insert(K->hnsw, (uint64_t)ids[i], vecs + i * K->dim);
    }
    kn_meta_add_doc(&doc, ids, nchunks);
    /* A delete may have raced with us after store_chunks_replace: re-check. */
    int vis = 0;
    struct kdoc again;
    if (store_doc_get(id, 0, &again) == RAGD_ENOTFOUND) {
        kn_meta_drop_chunks(ids, nchunks);
        kn_meta_drop_doc(id);
        kn_index_remove(ids, nchunks);
    } else {
        vis = 1;
    }
    store_kdoc_clear(&again);
    if (vis) kn_sync_log(id, "index", old, nold);
    kn_index_changed();
    store_upload_delete(id);
    log_json(LOG_INFO, "document ingested",
             json_pack("{s:s, s:s, s:I, s:b, s:b}", "document_id", id, "type",
                       extract_type_name(ex->type), "chunks", (json_int_t)nchunks, "vectors",
                       vecs != NULL, "visible", vis));
    metrics_observe_scaled("ragd_ingestion_duration_seconds", NULL,
                           "Time from extraction to searchable, per ingested document",
                           (double)(time_mono_ns() - t0) / 1e9, METRICS_SLOW);
done:
    log_context(NULL);
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
    store_kdoc_clear(&doc);
}
