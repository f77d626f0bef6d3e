/* index.c - the index manager: the BM25 and HNSW indexes, saved under <data>/index by a
 * background thread and reconciled with the store at start. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "knowledge/knowledge_int.h"
#include "llm/provider.h"

char *kn_index_text(const char *title, const char *text, size_t len)
{
    return xasprintf("%s\n\n%.*s", title ? title : "", (int)len, text);
}

void kn_results_invalidate(void)
{
    atomic_fetch_add(&kn()->generation, 1);
}

void kn_index_changed(void)
{
    atomic_store(&kn()->dirty, 1);
    kn_results_invalidate();
}

void kn_index_remove(const int64_t *ids, size_t n)
{
    struct kn_state *K = kn();
    kn_lex_remove(ids, n);
    for (size_t i = 0; i < n; i++) {
        bm25_remove(K->bm25, (uint64_t)ids[i]);
        if (K->hnsw) hnsw_delete(K->hnsw, (uint64_t)ids[i]);
    }
    if (K->hnsw && hnsw_deleted(K->hnsw) > 1000 && hnsw_deleted(K->hnsw) > hnsw_count(K->hnsw))
        hnsw_compact(K->hnsw);
    if (n) atomic_store(&K->dirty, 1);
}

/* ---- persistence ----
 * Next to the index files, index/manifest says which store they were built from (the store
 * id kept in the store's kv table), the last change-log entry they reflect, and each file's
 * SHA-256. At start an index file is used only when the manifest vouches for it: written
 * for this store, not ahead of the store's change log, and unchanged since; otherwise the
 * index is rebuilt from the store and health says why. */

#define MANIFEST_MAGIC "ragd-index-manifest 1"

static char *bm25_path(struct kn_state *K)
{
    return xasprintf("%s/bm25.idx", K->index_dir);
}

static char *hnsw_path(struct kn_state *K)
{
    return xasprintf("%s/hnsw-%u.idx", K->index_dir, K->dim);
}

/* SHA-256 of a file's bytes in hex. 0, RAGD_ENOTFOUND or RAGD_EIO. */
static int file_sha256(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? RAGD_ENOTFOUND : RAGD_EIO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) panic("out of memory");
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    int bad = ferror(f);
    fclose(f);
    unsigned char d[32];
    unsigned int dl = 32;
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    if (bad) return RAGD_EIO;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    return 0;
}

struct manifest {
    char store[64];
    int64_t seq;
    char bm25[65], hnsw[65]; /* "" when absent */
    uint32_t dim;
};

static int manifest_read(struct kn_state *K, struct manifest *m)
{
    memset(m, 0, sizeof *m);
    char *p = xasprintf("%s/manifest", K->index_dir);
    FILE *f = fopen(p, "r");
    free(p);
    if (!f) return RAGD_ENOTFOUND;
    char line[256];
    int ok = fgets(line, sizeof line, f) && !strncmp(line, MANIFEST_MAGIC, strlen(MANIFEST_MAGIC));
    while (ok && fgets(line, sizeof line, f)) {
        long long v;
        unsigned dim;
        if (sscanf(line, "store %63s", m->store) == 1) continue;
        if (sscanf(line, "seq %lld", &v) == 1) {
            m->seq = v;
            continue;
        }
        if (sscanf(line, "bm25 %64s", m->bm25) == 1) continue;
        if (sscanf(line, "hnsw %u %64s", &dim, m->hnsw) == 2) m->dim = dim;
    }
    fclose(f);
    return ok && m->store[0] ? 0 : RAGD_EFORMAT;
}

/* Writes the manifest for the files just saved, atomically (temporary file, fsync, rename). */
static int manifest_write(struct kn_state *K, int64_t seq)
{
    char bsha[65] = "", hsha[65] = "";
    char *bp = bm25_path(K), *hp = hnsw_path(K);
    int rc = file_sha256(bp, bsha);
    if (!rc && K->hnsw) rc = file_sha256(hp, hsha);
    free(bp);
    free(hp);
    if (rc) return rc;
    char *tmp = xasprintf("%s/manifest.tmp", K->index_dir);
    char *dst = xasprintf("%s/manifest", K->index_dir);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fprintf(f, MANIFEST_MAGIC "\nstore %s\nseq %lld\nbm25 %s\n", K->store_id, (long long)seq,
                bsha);
        if (K->hnsw) fprintf(f, "hnsw %u %s\n", K->dim, hsha);
    }
    if (!f || fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, dst)) rc = RAGD_EIO;
    free(tmp);
    free(dst);
    return rc;
}

int kn_index_save(void)
{
    struct kn_state *K = kn();
    int64_t seq = K->sync_seq;
    char *p = bm25_path(K);
    int rc = bm25_save(K->bm25, p);
    free(p);
    if (!rc && K->hnsw) {
        p = hnsw_path(K);
        rc = hnsw_save(K->hnsw, p);
        free(p);
    }
    if (!rc) rc = manifest_write(K, seq);
    if (rc)
        log_json(LOG_ERROR, "index save failed", json_pack("{s:s}", "error", ragd_strerror(rc)));
    return rc;
}

/* Whether the saved file at path may be loaded: the manifest *m (mrc its read status) must be
 * this store's, not ahead of the store's change log, and name this file's checksum (want).
 * Returns NULL when it may, else the reason the index is rebuilt (static). */
static const char *vouch(struct kn_state *K, const struct manifest *m, int mrc, const char *path,
                         const char *want)
{
    char sha[65];
    int frc = file_sha256(path, sha);
    if (frc == RAGD_ENOTFOUND) return "missing";
    if (frc) return "unreadable";
    if (mrc == RAGD_ENOTFOUND) return "no_manifest";
    if (mrc) return "unreadable_manifest";
    if (strcmp(m->store, K->store_id)) return "other_store";
    if (m->seq > K->store_seq) return "ahead_of_store";
    if (!want[0] || strcmp(want, sha)) return "checksum_mismatch";
    return NULL;
}

static void *saver_main(void *arg)
{
    struct kn_state *K = arg;
    int64_t interval = config_int("INDEX_SAVE_INTERVAL_SECONDS", 5, 1, 86400);
    pthread_mutex_lock(&K->saver_lock);
    while (!K->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += interval;
        pthread_cond_timedwait(&K->saver_cond, &K->saver_lock, &ts);
        if (atomic_exchange(&K->dirty, 0)) {
            pthread_mutex_unlock(&K->saver_lock);
            if (kn_index_save()) atomic_store(&K->dirty, 1);
            pthread_mutex_lock(&K->saver_lock);
        }
    }
    pthread_mutex_unlock(&K->saver_lock);
    return NULL;
}

void kn_saver_start(void)
{
    struct kn_state *K = kn();
    if (pthread_create(&K->saver, NULL, saver_main, K) == 0) K->saver_running = 1;
}

void kn_saver_stop(void)
{
    struct kn_state *K = kn();
    if (K->saver_running) {
        pthread_mutex_lock(&K->saver_lock);
        K->stopping = 1;
        pthread_cond_signal(&K->saver_cond);
        pthread_mutex_unlock(&K->saver_lock);
        pthread_join(K->saver, NULL);
        K->saver_running = 0;
    }
    if (atomic_load(&K->dirty)) kn_index_save();
}

/* ---- reconcile with the store ---- */

struct rebuild {
    size_t added;
    int only_missing;
};

static int add_doc_meta(const struct kdoc_meta *m, void *ud)
{
    (void)ud;
    kn_meta_put(m);
    return 0;
}

struct access_copy {
    char owner[37], org[37];
    int shared;
};

static int copy_access(const struct kn_dmeta *d, void *ud)
{
    struct access_copy *ac = ud;
    memcpy(ac->owner, d->owner, sizeof ac->owner);
    memcpy(ac->org, d->org, sizeof ac->org);
    ac->shared = d->shared;
    return 1;
}

static int add_chunk(int64_t id, const char *doc_id, const char *title, const char *text, void *ud)
{
    struct kn_state *K = kn();
    struct rebuild *rb = ud;
    kn_meta_map_chunk(id, doc_id);
    char *it = kn_index_text(title, text, strlen(text));
    if (!rb->only_missing || !bm25_contains(K->bm25, (uint64_t)id))
        if (!bm25_add(K->bm25, (uint64_t)id, it, strlen(it))) rb->added++;
    struct access_copy ac = {0};
    if (kn_meta_with_chunk((uint64_t)id, copy_access, &ac)) {
        struct kn_doc_access a = {ac.owner, ac.org, ac.shared};
        kn_lex_add(id, &a, it, strlen(it));
    }
    free(it);
    return 0;
}

static int add_vector(int64_t id, const float *vec, void *ud)
{
    struct kn_state *K = kn();
    struct rebuild *rb = ud;
    if (!rb->only_missing || !hnsw_contains(K->hnsw, (uint64_t)id))
        if (!hnsw_insert(K->hnsw, (uint64_t)id, vec)) rb->added++;
    return 0;
}

/* Loads the saved indexes and makes them agree with the store: missing chunks are added,
 * and an index holding more than the store (deletes lost in a crash) is rebuilt. */
int kn_index_load(char *err, size_t errcap)
{
    struct kn_state *K = kn();
    bm25_opts_t bo;
    bm25_opts_default(&bo);
    bo.k1 = (float)config_double("BM25_K1", 1.2, 0.01, 10);
    bo.b = (float)config_double("BM25_B", 0.75, 0, 1);
    hnsw_opts_t ho;
    hnsw_opts_default(&ho);
    ho.dim = K->dim;
    ho.M = (uint32_t)config_int("HNSW_M", 16, 2, 128);
    ho.ef_construction = (uint32_t)config_int("HNSW_EF_CONSTRUCTION", 200, 2, 4096);
    ho.ef_search = (uint32_t)config_int("HNSW_EF_SEARCH", 64, 1, 4096);
    if (ho.ef_construction < ho.M) ho.ef_construction = ho.M;

    int64_t nchunks = 0, nvec = 0;
    int rc = store_chunk_count(&nchunks, K->dim, &nvec);
    if (rc) {
        snprintf(err, errcap, "knowledge store: %s", ragd_strerror(rc));
        return rc;
    }
    struct rebuild rb = {0};
    if ((rc = store_doc_meta_foreach(add_doc_meta, NULL))) goto fail;

    struct manifest man;
    int mrc = manifest_read(K, &man);
    char *p = bm25_path(K);
    const char *why = vouch(K, &man, mrc, p, man.bm25);
    int lrc = why ? RAGD_ENOTFOUND : bm25_load(p, &K->bm25);
    free(p);
    K->lexical_origin = why ? why : lrc ? "corrupt" : "loaded";
    if (why && strcmp(why, "missing"))
        log_json(LOG_WARN, "lexical index file not trusted; rebuilding from the store",
                 json_pack("{s:s}", "reason", why));
    if (lrc) {
        if (lrc != RAGD_ENOTFOUND)
            log_json(LOG_WARN, "lexical index unreadable; rebuilding",
                     json_pack("{s:s}", "error", ragd_strerror(lrc)));
        if ((rc = bm25_create(&bo, &K->bm25))) {
            snprintf(err, errcap, "BM25 parameters: %s", ragd_strerror(rc));
            goto fail;
        }
    }
    rb.only_missing = 1;
    if ((rc = store_chunk_foreach(add_chunk, &rb))) goto fail;
    if ((int64_t)bm25_count(K->bm25) > nchunks) {
        bm25_free(K->bm25);
        bm25_create(&bo, &K->bm25);
        rb.only_missing = 0;
        rb.added = 0;
        if ((rc = store_chunk_foreach(add_chunk, &rb))) goto fail;
    }
    if (rb.added) atomic_store(&K->dirty, 1);
    size_t lex_added = rb.added;

    if (prov_embedder()) {
        p = hnsw_path(K);
        why = vouch(K, &man, mrc, p, man.dim == K->dim ? man.hnsw : "");
        lrc = why ? RAGD_ENOTFOUND : hnsw_load(p, &K->hnsw);
        free(p);
        K->vector_origin = why ? why : lrc ? "corrupt" : "loaded";
        if (why && strcmp(why, "missing"))
            log_json(LOG_WARN, "vector index file not trusted; rebuilding from the store",
                     json_pack("{s:s}", "reason", why));
        if (!lrc && hnsw_dim(K->hnsw) != K->dim) {
            hnsw_free(K->hnsw);
            K->hnsw = NULL;
            lrc = RAGD_EFORMAT;
        }
        if (lrc) {
            if (lrc != RAGD_ENOTFOUND)
                log_json(LOG_WARN, "vector index unreadable; rebuilding",
                         json_pack("{s:s}", "error", ragd_strerror(lrc)));
            if ((rc = hnsw_create(&ho, &K->hnsw))) {
                snprintf(err, errcap, "HNSW parameters: %s", ragd_strerror(rc));
                goto fail;
            }
        }
        hnsw_set_ef_search(K->hnsw, ho.ef_search);
        rb.only_missing = 1;
        rb.added = 0;
        if ((rc = store_embedding_foreach(K->dim, add_vector, &rb))) goto fail;
        if ((int64_t)hnsw_count(K->hnsw) > nvec) {
            hnsw_free(K->hnsw);
            hnsw_create(&ho, &K->hnsw);
            rb.only_missing = 0;
            rb.added = 0;
            if ((rc = store_embedding_foreach(K->dim, add_vector, &rb))) goto fail;
        }
        if (rb.added) atomic_store(&K->dirty, 1);
    }
    log_json(LOG_INFO, "indexes ready",
             json_pack("{s:I, s:I, s:I, s:I}", "chunks", (json_int_t)bm25_count(K->bm25), "vectors",
                       (json_int_t)(K->hnsw ? hnsw_count(K->hnsw) : 0), "lexical_added",
                       (json_int_t)lex_added, "vectors_added", (json_int_t)rb.added));
    return 0;
fail:
    if (!err[0]) snprintf(err, errcap, "loading the indexes: %s", ragd_strerror(rc));
    return rc;
}
