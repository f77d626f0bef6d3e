/* docmeta.c - the in-memory mirror of document metadata (owner, organization, sharing,
 * category, source, tags) that search reads for every candidate chunk, so that filtering
 * never touches the store. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "knowledge/knowledge_int.h"

static void dmeta_clear(struct kn_dmeta *d)
{
    free(d->category);
    free(d->source);
    for (int i = 0; i < d->ntags; i++)
        free(d->tags[i]);
    free(d->tags);
    memset(d, 0, sizeof *d);
}

/* Finds or creates the slot of document id and clears it for new fields. Caller holds the
 * write lock. */
static size_t slot_locked(struct kn_state *K, const char *id)
{
    size_t i;
    for (i = 0; i < K->ndocs; i++)
        if (K->docs[i].live && !strcmp(K->docs[i].id, id)) break;
    if (i == K->ndocs) {
        for (i = 0; i < K->ndocs && K->docs[i].live; i++)
            ;
        if (i == K->ndocs) {
            if (K->ndocs == K->capdocs) {
                K->capdocs = K->capdocs ? 2 * K->capdocs : 64;
                K->docs = xrealloc(K->docs, K->capdocs * sizeof *K->docs);
            }
            memset(&K->docs[K->ndocs], 0, sizeof K->docs[0]);
            i = K->ndocs++;
        }
    }
    struct kn_dmeta *d = &K->docs[i];
    dmeta_clear(d);
    d->live = 1;
    snprintf(d->id, sizeof d->id, "%s", id);
    return i;
}

static void fill(struct kn_dmeta *d, const char *org, const char *owner, int shared,
                 const char *category, const char *source)
{
    snprintf(d->org, sizeof d->org, "%s", org ? org : "");
    snprintf(d->owner, sizeof d->owner, "%s", owner ? owner : "");
    d->shared = shared;
    d->category = category ? xstrdup(category) : NULL;
    d->source = source ? xstrdup(source) : NULL;
}

/* From the index-load form, whose tags are JSON text. */
static size_t put_locked(struct kn_state *K, const struct kdoc_meta *m)
{
    size_t i = slot_locked(K, m->id);
    struct kn_dmeta *d = &K->docs[i];
    fill(d, m->organization_id, m->owner_id, m->shared, m->category, m->source);
    json_error_t je;
    json_t *tags = m->tags ? json_loads(m->tags, 0, &je) : NULL;
    if (json_is_array(tags) && json_array_size(tags)) {
        d->tags = xcalloc(json_array_size(tags), sizeof *d->tags);
        size_t k;
        json_t *t;
        json_array_foreach(tags, k, t)
        {
            if (json_is_string(t)) d->tags[d->ntags++] = xstrdup(json_string_value(t));
        }
    }
    json_decref(tags);
    return i;
}

void kn_meta_add_doc(const struct kdoc *doc, const int64_t *ids, size_t n)
{
    struct kn_state *K = kn();
    pthread_rwlock_wrlock(&K->meta_lock);
    size_t slot = slot_locked(K, doc->id);
    struct kn_dmeta *d = &K->docs[slot];
    fill(d, doc->organization_id, doc->owner_id, doc->shared, doc->category, doc->source);
    if (doc->ntags) {
        d->tags = xcalloc(doc->ntags, sizeof *d->tags);
        for (size_t t = 0; t < doc->ntags; t++)
            d->tags[d->ntags++] = xstrdup(doc->tags[t]);
    }
    for (size_t i = 0; i < n; i++)
        idmap_put(&K->chunk_doc, (uint64_t)ids[i], (uint32_t)slot);
    pthread_rwlock_unlock(&K->meta_lock);
}

void kn_meta_put(const struct kdoc_meta *m)
{
    struct kn_state *K = kn();
    pthread_rwlock_wrlock(&K->meta_lock);
    put_locked(K, m);
    pthread_rwlock_unlock(&K->meta_lock);
}

void kn_meta_map_chunk(int64_t id, const char *doc_id)
{
    struct kn_state *K = kn();
    pthread_rwlock_wrlock(&K->meta_lock);
    for (size_t i = 0; i < K->ndocs; i++)
        if (K->docs[i].live && !strcmp(K->docs[i].id, doc_id)) {
            idmap_put(&K->chunk_doc, (uint64_t)id, (uint32_t)i);
            break;
        }
    pthread_rwlock_unlock(&K->meta_lock);
}

void kn_meta_drop_chunks(const int64_t *ids, size_t n)
{
    struct kn_state *K = kn();
    pthread_rwlock_wrlock(&K->meta_lock);
    for (size_t i = 0; i < n; i++)
        idmap_del(&K->chunk_doc, (uint64_t)ids[i]);
    pthread_rwlock_unlock(&K->meta_lock);
}

void kn_meta_drop_doc(const char *doc_id)
{
    struct kn_state *K = kn();
    pthread_rwlock_wrlock(&K->meta_lock);
    for (size_t i = 0; i < K->ndocs; i++)
        if (K->docs[i].live && !strcmp(K->docs[i].id, doc_id)) dmeta_clear(&K->docs[i]);
    pthread_rwlock_unlock(&K->meta_lock);
}

int kn_meta_with_chunk(uint64_t id, int (*fn)(const struct kn_dmeta *d, void *ud), void *ud)
{
    struct kn_state *K = kn();
    int rc = 0;
    pthread_rwlock_rdlock(&K->meta_lock);
    uint32_t slot;
    if (idmap_get(&K->chunk_doc, id, &slot) && slot < K->ndocs && K->docs[slot].live)
        rc = fn(&K->docs[slot], ud);
    pthread_rwlock_unlock(&K->meta_lock);
    return rc;
}

void kn_meta_clear_all(void)
{
    struct kn_state *K = kn();
    pthread_rwlock_wrlock(&K->meta_lock);
    for (size_t i = 0; i < K->ndocs; i++)
        dmeta_clear(&K->docs[i]);
    free(K->docs);
    K->docs = NULL;
    K->ndocs = K->capdocs = 0;
    idmap_free(&K->chunk_doc);
    pthread_rwlock_unlock(&K->meta_lock);
}
