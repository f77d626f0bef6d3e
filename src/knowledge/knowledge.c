/* knowledge.c - the knowledge service's state, start, stop and health. The work itself is
 * spread over the files listed in knowledge_int.h. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"
#include "knowledge/knowledge_int.h"
#include "llm/provider.h"

enum { SEARCH_SLOTS = 1024, EMBED_SLOTS = 4096 };

static struct kn_state state;

struct kn_state *kn(void)
{
    return &state;
}

static int mkdir_p(const char *p)
{
    return mkdir(p, 0700) && errno != EEXIST ? RAGD_EIO : 0;
}

/* This node's id, created once and kept in the data dir, so that after a restart it
 * recognises (and resumes) the ingestion claims it made before. */
static int node_identity(struct kn_state *K, const char *data_dir, char *err, size_t errcap)
{
    char *path = xasprintf("%s/node_id", data_dir);
    char buf[64] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
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
    memcpy(K->node, buf, sizeof K->node); /* a valid UUID: 36 characters and the NUL */
    free(path);
    return 0;
}

/* The store's identity: a UUID written into the store's kv table by the first node that
 * starts on it (and kept by every later one), so that index files can tell their store. */
static int store_identity(struct kn_state *K)
{
    char *id = NULL;
    int rc = store_kv_get("store_id", &id);
    if ((rc == RAGD_ENOTFOUND || (!rc && !id))) {
        char fresh[37];
        uuid4(fresh);
        rc = store_kv_add("store_id", fresh);
        if (rc && rc != RAGD_EEXIST) return rc;
        free(id);
        id = NULL;
        rc = store_kv_get("store_id", &id);
    }
    if (!rc && (!id || strlen(id) >= sizeof K->store_id)) rc = RAGD_EFORMAT;
    if (!rc) snprintf(K->store_id, sizeof K->store_id, "%s", id);
    free(id);
    return rc;
}

int knowledge_init(const char *data_dir, char *err, size_t errcap)
{
    struct kn_state *K = kn();
    err[0] = '\0';
    memset(K, 0, sizeof *K);
    pthread_rwlock_init(&K->meta_lock, NULL);
    pthread_mutex_init(&K->saver_lock, NULL);
    pthread_mutex_init(&K->lane_lock, NULL);
    pthread_mutex_init(&K->stray_lock, NULL);
    pthread_cond_init(&K->stray_cond, NULL);
    pthread_cond_init(&K->saver_cond, NULL);
    K->dir = xstrdup(data_dir);
    K->index_dir = xasprintf("%s/index", data_dir);
    if (mkdir_p(K->index_dir)) {
        snprintf(err, errcap, "cannot create %s: %s", K->index_dir, strerror(errno));
        return RAGD_EIO;
    }
    if (node_identity(K, data_dir, err, errcap)) return RAGD_EIO;
    K->claim_timeout_ms = config_int("INGEST_CLAIM_TIMEOUT_SECONDS", 600, 10, 86400) * 1000;
    K->max_bytes = (size_t)config_int("DOCUMENT_MAX_BYTES", 10 << 20, 1024, 1LL << 31);
    K->meta_max_bytes = (size_t)config_int("DOCUMENT_METADATA_MAX_BYTES", 16384, 2, 1 << 24);
    K->meta_max_depth = (int)config_int("DOCUMENT_METADATA_MAX_DEPTH", 8, 1, 32);
    chunk_opts_default(&K->chunk);
    K->chunk.size = (size_t)config_int("CHUNK_SIZE", CHUNK_DEFAULT_SIZE, 16, 8192);
    K->chunk.overlap = (size_t)config_int("CHUNK_OVERLAP", CHUNK_DEFAULT_OVERLAP, 0, 4096);
    K->search_ttl_ms = config_int("SEARCH_CACHE_TTL_SECONDS", 1800, 0, 86400 * 7) * 1000;
    K->embed_ttl_ms = config_int("EMBEDDING_CACHE_TTL_SECONDS", 86400, 0, 86400 * 30) * 1000;
    prov_embedder_t *e = prov_embedder();
    K->dim = e ? e->dim : 0;
    /* Changes logged from here on are applied by the poller; earlier ones are already in the
     * store, which kn_index_load reconciles with. */
    int rc = store_kb_change_max(&K->sync_seq);
    K->store_seq = K->sync_seq;
    if (!rc) rc = store_identity(K);
    if (!rc) {
        kn_lex_init();
        rc = kn_index_load(err, errcap);
    }
    if (rc) {
        if (!err[0]) snprintf(err, errcap, "knowledge store: %s", ragd_strerror(rc));
        return rc;
    }
    K->search_cache = ttlcache_create(SEARCH_SLOTS, kn_search_cache_free);
    K->embed_cache = ttlcache_create(EMBED_SLOTS, free);
    int workers = (int)config_int("INGEST_WORKERS", 2, 0, 64);
    K->doc_budget_ms = config_int("INGEST_DOCUMENT_TIMEOUT_MS", 120000, 1, 86400000);
    K->max_stray = workers ? workers : 1;
    kn_queue_start(workers);
    kn_saver_start();
    kn_sync_start();
    kn_queue_sweep(1); /* what this node left unfinished, and what nobody holds */
    if (K->hnsw && prov_embedder()) kn_queue_submit(kn_backfill_job, NULL);
    K->ready = 1;
    return 0;
}

void knowledge_shutdown(void)
{
    struct kn_state *K = kn();
    if (!K->ready) return;
    kn_sync_stop(); /* also tells the queue's consumers to stop */
    kn_queue_stop();
    /* Extractions left running past their budget end on their own; give them a few
     * seconds, so that a clean stop normally leaves nothing running. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&K->stray_lock);
    while (K->stray > 0)
        if (pthread_cond_timedwait(&K->stray_cond, &K->stray_lock, &until)) break;
    pthread_mutex_unlock(&K->stray_lock);
    kn_saver_stop();
    bm25_free(K->bm25);
    hnsw_free(K->hnsw);
    kn_meta_clear_all();
    kn_lex_clear();
    ttlcache_free(K->search_cache);
    ttlcache_free(K->embed_cache);
    K->search_cache = K->embed_cache = NULL;
    free(K->dir);
    free(K->index_dir);
    pthread_rwlock_destroy(&K->meta_lock);
    K->ready = 0;
}

size_t knowledge_max_bytes(void)
{
    return kn()->max_bytes;
}

void knowledge_stats(struct kn_stats *st)
{
    struct kn_state *K = kn();
    memset(st, 0, sizeof *st);
    if (!K->ready) return;
    st->ready = 1;
    st->lexical_origin = K->lexical_origin;
    st->vector_origin = K->vector_origin;
    store_chunk_count(&st->chunks_stored, 0, NULL);
    st->chunks = (int64_t)bm25_count(K->bm25);
    st->bm25_terms = (int64_t)bm25_term_count(K->bm25);
    st->vectors = (int64_t)(K->hnsw ? hnsw_count(K->hnsw) : 0);
    st->vector_search = knowledge_vector_available();
    st->documents_queued = (int64_t)knowledge_queue_length();
    ttlcache_stats(K->search_cache, &st->search_cache_hits, &st->search_cache_misses);
    ttlcache_stats(K->embed_cache, &st->embedding_cache_hits, &st->embedding_cache_misses);
}
