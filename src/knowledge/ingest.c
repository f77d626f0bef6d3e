/* ingest.c - the ingestion worker: claim a document, extract its text, chunk it, embed the
 * chunks when an embedder is configured, store them and add them to the indexes. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
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
    size_t len = 0;
    int rc = store_upload_get(id, &raw, &len);
    if (rc) {
        if (rc != RAGD_EUNAVAIL) fail_doc(id, "the uploaded bytes are missing");
        goto done;
    }
    extract_opts_t eo = {.max_input = K->max_bytes + 1};
    extract_reason_t why = EXTRACT_OK;
    rc = extract_document(raw, len, &eo, &ex, &why);
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
    store_kdoc_clear(&doc);
}
