/* sync.c - nodes sharing one database.
 *
 * Each node keeps its own indexes. Every change is appended to the store's change log, and a
 * poller applies the other nodes' entries within KB_SYNC_INTERVAL_MS (250 ms). A node that
 * was down catches up from the log (kept for a day) or, at start, from the store. The same
 * thread runs the queue's sweeper every five seconds while this node is idle. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge_int.h"

void kn_sync_log(const char *doc_id, const char *op, const int64_t *ids, size_t n)
{
    int rc = store_kb_change_add(doc_id, op, kn()->node, ids, n);
    if (rc)
        log_json(LOG_WARN, "change log write failed; other nodes catch up at restart",
                 json_pack("{s:s, s:s, s:s}", "document_id", doc_id, "op", op, "error",
                           ragd_strerror(rc)));
}

struct synced {
    int64_t *ids;
    size_t n, cap;
    const char *title;
    struct kn_doc_access access;
};

static int sync_chunk(int64_t id, const char *text, const float *vec, void *ud)
{
    struct kn_state *K = kn();
    struct synced *sc = ud;
    char *it = kn_index_text(sc->title, text, strlen(text));
    if (!bm25_contains(K->bm25, (uint64_t)id)) bm25_add(K->bm25, (uint64_t)id, it, strlen(it));
    kn_lex_add(id, &sc->access, it, strlen(it));
    free(it);
    if (vec && K->hnsw && !hnsw_contains(K->hnsw, (uint64_t)id))
        hnsw_insert(K->hnsw, (uint64_t)id, vec);
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? 2 * sc->cap : 64;
        sc->ids = xrealloc(sc->ids, sc->cap * sizeof *sc->ids);
    }
    sc->ids[sc->n++] = id;
    return 0;
}

/* "12,13,14" -> ids (caller frees). */
static int64_t *parse_ids(const char *chunk_ids, size_t *n)
{
    size_t cap = 0;
    int64_t *ids = NULL;
    *n = 0;
    for (const char *p = chunk_ids; p && *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) break;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            ids = xrealloc(ids, cap * sizeof *ids);
        }
        ids[(*n)++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return ids;
}

static int sync_apply(int64_t seq, const char *doc_id, const char *op, const char *node,
                      const char *chunk_ids, void *ud)
{
    struct kn_state *K = ud;
    K->sync_seq = seq;
    if (!strcmp(node, K->node)) return 0; /* our own change: applied when it was made */
    size_t n = 0;
    int64_t *ids = parse_ids(chunk_ids, &n);
    kn_meta_drop_chunks(ids, n);
    kn_index_remove(ids, n);
    free(ids);
    struct kdoc doc = {0};
    if (!strcmp(op, "delete") || store_doc_get(doc_id, 0, &doc)) {
        kn_meta_drop_doc(doc_id);
        /* No cached passage of a deleted document stays in memory (knowledge_erase). */
        if (K->search_cache) ttlcache_clear(K->search_cache);
    } else {
        struct synced sc = {.title = doc.title,
                            .access = {doc.owner_id, doc.organization_id, doc.shared}};
        store_doc_chunks_foreach(doc_id, K->dim, sync_chunk, &sc);
        kn_meta_add_doc(&doc, sc.ids, sc.n);
        free(sc.ids);
    }
    store_kdoc_clear(&doc);
    kn_index_changed();
    return 0;
}

static void *syncer_main(void *arg)
{
    struct kn_state *K = arg;
    int64_t interval = config_int("KB_SYNC_INTERVAL_MS", 250, 10, 60000);
    int64_t next_sweep = time_mono_ns() + 5000000000LL;
    while (!atomic_load(&K->sync_stop)) {
        struct timespec ts = {(time_t)(interval / 1000), (long)(interval % 1000) * 1000000};
        nanosleep(&ts, NULL);
        if (time_mono_ns() > next_sweep) {
            next_sweep = time_mono_ns() + 5000000000LL;
            if (atomic_load(&K->queued) == 0) kn_queue_sweep(0);
        }
        while (!atomic_load(&K->sync_stop)) {
            int64_t before = K->sync_seq;
            if (store_kb_changes_since(K->sync_seq, 256, sync_apply, K) || K->sync_seq == before)
                break;
        }
    }
    return NULL;
}

void kn_sync_start(void)
{
    struct kn_state *K = kn();
    if (pthread_create(&K->syncer, NULL, syncer_main, K) == 0) K->syncer_running = 1;
}

void kn_sync_stop(void)
{
    struct kn_state *K = kn();
    atomic_store(&K->sync_stop, 1);
    if (K->syncer_running) {
        pthread_join(K->syncer, NULL);
        K->syncer_running = 0;
    }
}
