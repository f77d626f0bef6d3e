/* backfill.c - embedding backfill.
 *
 * Chunks stored without a vector of the configured embedder (ingested before it was
 * configured, or embedded by another model) are embedded after start, in batches, on the
 * ingestion worker; other nodes follow through the change log. Stops at the first failure
 * (logged): those chunks stay lexical-only until the next start. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "knowledge/knowledge_int.h"
#include "llm/provider.h"

void kn_backfill_job(void *arg)
{
    (void)arg;
    struct kn_state *K = kn();
    prov_embedder_t *e = prov_embedder();
    const char *model = e->ops->model(e->self);
    int64_t after = 0, done = 0;
    char err[256] = "";
    int rc = 0;
    for (;;) {
        struct ktext *rows = NULL;
        size_t n = 0;
        if ((rc = store_chunks_unembedded(K->dim, model, after, 256, &rows, &n))) break;
        if (!n) {
            store_ktexts_free(rows, n);
            break;
        }
        char **texts = xcalloc(n, sizeof *texts);
        for (size_t i = 0; i < n; i++)
            texts[i] = kn_index_text(rows[i].title, rows[i].content, strlen(rows[i].content));
        float *vecs = xmalloc(n * K->dim * sizeof *vecs);
        rc = kn_embed_all(texts, n, vecs, err, sizeof err);
        for (size_t i = 0; !rc && i < n;) {
            /* One document's run of chunks at a time, so that the change names its chunks. */
            const char *doc = rows[i].document_id;
            int64_t ids[256];
            size_t k = 0;
            for (; i < n; i++) {
                if (strcmp(rows[i].document_id, doc)) break;
                int64_t id = rows[i].id;
                int prc = store_embedding_put(id, model, K->dim, vecs + i * K->dim);
                if (prc && prc != RAGD_ENOTFOUND) {
                    rc = prc;
                    break;
                }
                if (prc) continue; /* deleted meanwhile */
                if (hnsw_contains(K->hnsw, (uint64_t)id)) hnsw_delete(K->hnsw, (uint64_t)id);
                hnsw_insert(K->hnsw, (uint64_t)id, vecs + i * K->dim);
                ids[k++] = id;
            }
            if (k) kn_sync_log(doc, "index", ids, k);
            done += (int64_t)k;
        }
        after = rows[n - 1].id;
        for (size_t i = 0; i < n; i++)
            free(texts[i]);
        free(texts);
        free(vecs);
        store_ktexts_free(rows, n);
        kn_index_changed();
        if (rc) break;
    }
    if (rc)
        log_json(LOG_WARN, "embedding backfill stopped",
                 json_pack("{s:s, s:s, s:I}", "error", err[0] ? err : ragd_strerror(rc), "model",
                           model, "embedded", (json_int_t)done));
    else if (done)
        log_json(LOG_INFO, "embedding backfill done",
                 json_pack("{s:s, s:I}", "model", model, "embedded", (json_int_t)done));
}
