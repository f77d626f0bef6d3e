/* embcache.c - the query-embedding cache.
 *
 * Query embeddings are cached in process and, with REDIS_URL, in Redis under the seed's key
 * "embedding:<hash>" for EMBEDDING_CACHE_TTL_SECONDS, shared by every node. The hash covers
 * the model and dimension, so a model change never serves stale vectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge_int.h"
#include "llm/provider.h"

/* ---- the shared copy (cache.h, when it is shared by every node) ---- */

/* 1 and bytes into out when key holds exactly that many bytes, else 0. */
static int shared_get(const char *key, void *out, size_t bytes)
{
    if (!cache_shared()) return 0;
    size_t len = 0;
    char *v = cache_get(key, &len);
    int hit = v && len == bytes;
    if (hit) memcpy(out, v, bytes);
    free(v);
    return hit;
}

/* Stores bytes under key for ttl_s seconds; best effort. */
static void shared_set(const char *key, const void *data, size_t bytes, int64_t ttl_s)
{
    if (cache_shared() && ttl_s >= 1)
        cache_set(key, data, bytes, ttl_s > 86400 * 30 ? 86400 * 30 : (int)ttl_s);
}

/* ---- lookups ---- */

struct vec_out {
    float *out;
    size_t bytes;
};

static void copy_vec(const void *value, void *ud)
{
    struct vec_out *v = ud;
    memcpy(v->out, value, v->bytes);
}

int kn_embed_query(const char *text, float *out, char *err, size_t errcap)
{
    struct kn_state *K = kn();
    char key[65], rkey[96];
    prov_embedder_t *e = prov_embedder();
    char *material = xasprintf("%s\x1f%u\x1f%s", e->ops->model(e->self), K->dim, text);
    sha256_hex(material, strlen(material), key);
    free(material);
    size_t bytes = K->dim * sizeof *out;
    struct vec_out vo = {out, bytes};
    if (ttlcache_get(K->embed_cache, key, 0, copy_vec, &vo)) return 0;
    snprintf(rkey, sizeof rkey, "embedding:%s", key);
    if (!shared_get(rkey, out, bytes)) {
        int rc = prov_embed(e, &text, 1, out, err, errcap);
        if (rc) return rc;
        shared_set(rkey, out, bytes, K->embed_ttl_ms / 1000);
    }
    float *copy = xmalloc(bytes);
    memcpy(copy, out, bytes);
    ttlcache_put(K->embed_cache, key, 0, K->embed_ttl_ms, copy);
    return 0;
}
