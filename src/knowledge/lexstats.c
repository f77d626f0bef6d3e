/* lexstats.c - BM25 statistics per visibility partition.
 *
 * The lexical index ranks with corpus-wide statistics (chunk count, average length, document
 * frequency of each term), so a score would move when another tenant uploads private text
 * with the same words. This file keeps those statistics per partition of documents that
 * share one visibility (owner, organization, shared) and rescores the index's candidates
 * with the sums over the partitions the caller may see: a caller's scores then depend only
 * on what the caller can see. Chunks are tokenised exactly as the index does
 * (bm25_tokenize), and the formula is bm25.h's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/mem.h"
#include "knowledge/knowledge_int.h"

/* ---- term dictionary: token -> id (1-based) ---- */

struct lx_dict {
    char **keys; /* cap slots, NULL when empty */
    uint32_t *ids;
    size_t cap, n;
};

static uint64_t hash_tok(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* The id of s[0..n), 0 when unknown (intern = 0) or a new id (intern = 1). */
static uint32_t dict_id(struct lx_dict *d, const char *s, size_t n, int intern)
{
    if (intern && (d->n + 1) * 2 > d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 1024;
        char **keys = xcalloc(cap, sizeof *keys);
        uint32_t *ids = xcalloc(cap, sizeof *ids);
        for (size_t i = 0; i < d->cap; i++)
            if (d->keys[i]) {
                size_t j = hash_tok(d->keys[i], strlen(d->keys[i])) & (cap - 1);
                while (keys[j])
                    j = (j + 1) & (cap - 1);
                keys[j] = d->keys[i];
                ids[j] = d->ids[i];
            }
        free(d->keys);
        free(d->ids);
        d->keys = keys;
        d->ids = ids;
        d->cap = cap;
    }
    if (!d->cap) return 0;
    size_t j = hash_tok(s, n) & (d->cap - 1);
    while (d->keys[j]) {
        if (strlen(d->keys[j]) == n && !memcmp(d->keys[j], s, n)) return d->ids[j];
        j = (j + 1) & (d->cap - 1);
    }
    if (!intern) return 0;
    d->keys[j] = xstrndup(s, n);
    d->ids[j] = (uint32_t)++d->n;
    return d->ids[j];
}

static void dict_free(struct lx_dict *d)
{
    for (size_t i = 0; i < d->cap; i++)
        free(d->keys[i]);
    free(d->keys);
    free(d->ids);
    memset(d, 0, sizeof *d);
}

/* ---- partitions and chunks ---- */

struct lx_part {
    char owner[37], org[37];
    int shared;
    int64_t nchunks, total_len;
    idmap_t df; /* term id -> chunks of this partition containing it */
};

struct lx_chunk {
    uint32_t part, len, n; /* n distinct terms */
    uint32_t *term, *tf;   /* sorted by term */
};

struct kn_lex {
    pthread_rwlock_t lock;
    struct lx_dict dict;
    struct lx_part *parts;
    size_t nparts, capparts;
    struct lx_chunk *chunks; /* slots */
    size_t nchunks, capchunks;
    uint32_t *free_slots;
    size_t nfree, capfree;
    idmap_t slot_of; /* chunk id -> slot */
    float k1, b;
};

void kn_lex_init(void)
{
    struct kn_state *K = kn();
    RAGD_ASSERT(!K->lex);
    K->lex = xcalloc(1, sizeof *K->lex);
    pthread_rwlock_init(&K->lex->lock, NULL);
    K->lex->k1 = (float)config_double("BM25_K1", 1.2, 0.01, 10);
    K->lex->b = (float)config_double("BM25_B", 0.75, 0, 1);
}

static struct kn_lex *lex(void)
{
    struct kn_lex *L = kn()->lex;
    RAGD_ASSERT(L);
    return L;
}

static uint32_t part_of(struct kn_lex *L, const struct kn_doc_access *a)
{
    const char *owner = a->owner_id ? a->owner_id : "", *org = a->org_id ? a->org_id : "";
    for (size_t i = 0; i < L->nparts; i++)
        if (L->parts[i].shared == (a->shared != 0) && !strcmp(L->parts[i].owner, owner) &&
            !strcmp(L->parts[i].org, org))
            return (uint32_t)i;
    if (L->nparts == L->capparts) {
        L->capparts = L->capparts ? 2 * L->capparts : 16;
        L->parts = xrealloc(L->parts, L->capparts * sizeof *L->parts);
    }
    struct lx_part *p = &L->parts[L->nparts];
    memset(p, 0, sizeof *p);
    snprintf(p->owner, sizeof p->owner, "%s", owner);
    snprintf(p->org, sizeof p->org, "%s", org);
    p->shared = a->shared != 0;
    return (uint32_t)L->nparts++;
}

struct toks {
    struct kn_lex *L;
    uint32_t *ids;
    size_t n, cap;
    int intern;
};

static void collect(const char *tok, size_t len, void *ud)
{
    struct toks *t = ud;
    uint32_t id = dict_id(&t->L->dict, tok, len, t->intern);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->ids = xrealloc(t->ids, t->cap * sizeof *t->ids);
    }
    t->ids[t->n++] = id; /* 0 for a query token no chunk has */
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void remove_locked(struct kn_lex *L, uint64_t id)
{
    uint32_t slot;
    if (!idmap_get(&L->slot_of, id, &slot)) return;
    idmap_del(&L->slot_of, id);
    struct lx_chunk *c = &L->chunks[slot];
    struct lx_part *p = &L->parts[c->part];
    p->nchunks--;
    p->total_len -= c->len;
    for (uint32_t i = 0; i < c->n; i++) {
        uint32_t df = 0;
        if (idmap_get(&p->df, c->term[i], &df) && df > 1)
            idmap_put(&p->df, c->term[i], df - 1);
        else
            idmap_del(&p->df, c->term[i]);
    }
    free(c->term);
    free(c->tf);
    memset(c, 0, sizeof *c);
    if (L->nfree == L->capfree) {
        L->capfree = L->capfree ? 2 * L->capfree : 64;
        L->free_slots = xrealloc(L->free_slots, L->capfree * sizeof *L->free_slots);
    }
    L->free_slots[L->nfree++] = slot;
}

void kn_lex_add(int64_t id, const struct kn_doc_access *a, const char *text, size_t len)
{
    struct kn_lex *L = lex();
    struct toks t = {.L = L, .intern = 1};
    pthread_rwlock_wrlock(&L->lock);
    remove_locked(L, (uint64_t)id);
    bm25_tokenize(text, len, false, collect, &t);
    uint32_t slot;
    if (L->nfree) {
        slot = L->free_slots[--L->nfree];
    } else {
        if (L->nchunks == L->capchunks) {
            L->capchunks = L->capchunks ? 2 * L->capchunks : 256;
            L->chunks = xrealloc(L->chunks, L->capchunks * sizeof *L->chunks);
        }
        slot = (uint32_t)L->nchunks++;
    }
    struct lx_chunk *c = &L->chunks[slot];
    memset(c, 0, sizeof *c);
    c->part = part_of(L, a);
    c->len = (uint32_t)t.n;
    if (t.n) qsort(t.ids, t.n, sizeof *t.ids, cmp_u32);
    c->term = xcalloc(t.n ? t.n : 1, sizeof *c->term);
    c->tf = xcalloc(t.n ? t.n : 1, sizeof *c->tf);
    for (size_t i = 0; i < t.n;) {
        size_t j = i;
        while (j < t.n && t.ids[j] == t.ids[i])
            j++;
        c->term[c->n] = t.ids[i];
        c->tf[c->n++] = (uint32_t)(j - i);
        i = j;
    }
    struct lx_part *p = &L->parts[c->part];
    p->nchunks++;
    p->total_len += c->len;
    for (uint32_t i = 0; i < c->n; i++) {
        uint32_t df = 0;
        idmap_get(&p->df, c->term[i], &df);
        idmap_put(&p->df, c->term[i], df + 1);
    }
    idmap_put(&L->slot_of, (uint64_t)id, slot);
    pthread_rwlock_unlock(&L->lock);
    free(t.ids);
}

void kn_lex_remove(const int64_t *ids, size_t n)
{
    struct kn_lex *L = lex();
    pthread_rwlock_wrlock(&L->lock);
    for (size_t i = 0; i < n; i++)
        remove_locked(L, (uint64_t)ids[i]);
    pthread_rwlock_unlock(&L->lock);
}

static int cmp_hit(const void *a, const void *b)
{
    const rag_hit_t *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void kn_lex_rescore(const struct kn_caller *c, const char *query, rag_hit_t *hits, size_t n)
{
    struct kn_lex *L = lex();
    struct toks q = {.L = L, .intern = 0};
    pthread_rwlock_rdlock(&L->lock);
    bm25_tokenize(query, strlen(query), false, collect, &q);
    /* Statistics over the partitions c may see. */
    double N = 0, total = 0;
    double *df = xcalloc(q.n ? q.n : 1, sizeof *df);
    for (size_t i = 0; i < L->nparts; i++) {
        const struct lx_part *p = &L->parts[i];
        struct kn_doc_access a = {p->owner, p->org, p->shared};
        if (!p->nchunks || !kn_visible(c, &a)) continue;
        N += (double)p->nchunks;
        total += (double)p->total_len;
        for (size_t t = 0; t < q.n; t++) {
            uint32_t d = 0;
            if (q.ids[t] && idmap_get(&p->df, q.ids[t], &d)) df[t] += d;
        }
    }
    double avg = N > 0 ? total / N : 1;
    if (avg <= 0) avg = 1;
    for (size_t h = 0; h < n; h++) {
        uint32_t slot;
        double s = 0;
        if (idmap_get(&L->slot_of, hits[h].id, &slot)) {
            const struct lx_chunk *ch = &L->chunks[slot];
            for (size_t t = 0; t < q.n; t++) {
                if (!q.ids[t]) continue;
                uint32_t lo = 0, hi = ch->n, tf = 0;
                while (lo < hi) {
                    uint32_t mid = (lo + hi) / 2;
                    if (ch->term[mid] < q.ids[t])
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                if (lo < ch->n && ch->term[lo] == q.ids[t]) tf = ch->tf[lo];
                if (!tf) continue;
                double idf = log(1 + (N - df[t] + 0.5) / (df[t] + 0.5));
                s += idf * tf * (L->k1 + 1) /
                     (tf + L->k1 * (1 - L->b + L->b * (double)ch->len / avg));
            }
        }
        hits[h].score = (float)s;
    }
    pthread_rwlock_unlock(&L->lock);
    free(df);
    free(q.ids);
    if (n) qsort(hits, n, sizeof *hits, cmp_hit);
}

void kn_lex_clear(void)
{
    struct kn_state *K = kn();
    struct kn_lex *L = K->lex;
    if (!L) return;
    for (size_t i = 0; i < L->nchunks; i++) {
        free(L->chunks[i].term);
        free(L->chunks[i].tf);
    }
    for (size_t i = 0; i < L->nparts; i++)
        idmap_free(&L->parts[i].df);
    free(L->chunks);
    free(L->parts);
    free(L->free_slots);
    idmap_free(&L->slot_of);
    dict_free(&L->dict);
    pthread_rwlock_destroy(&L->lock);
    free(L);
    K->lex = NULL;
}
