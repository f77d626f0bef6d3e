/* hnsw.c - HNSW graph index with tombstone deletion and checksummed persistence. */
#include "rag/hnsw.h"

#include "core/error.h"
#include "core/mem.h"
#include "rag/idmap.h"
#include "rag/rfile.h"
#include "rag/vec_kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAGIC "RAGDHNSW"
#define FILE_VERSION 1
#define MAX_LEVEL 31
#define MAX_NODES 0x7FFFFFFFu
#define MAX_M 128 /* links per node on upper layers; 2 * MAX_M on layer 0 */

/* ---- vectors ---- */

/* Normalise src into dst; false for zero or non-finite input. */
static bool normalise(float *dst, const float *src, uint32_t n)
{
    double ss = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(src[i])) return false;
        ss += (double)src[i] * src[i];
    }
    if (!(ss > 0) || !isfinite(ss)) return false;
    float inv = (float)(1.0 / sqrt(ss));
    for (uint32_t i = 0; i < n; i++)
        dst[i] = src[i] * inv;
    return true;
}

/* ---- heaps of (distance, slot) ---- */

struct cand {
    float d;
    uint32_t s;
};

struct heap {
    struct cand *a;
    size_t n, cap;
    bool max; /* max-heap: largest distance on top */
};

static bool before(const struct heap *h, const struct cand *x, const struct cand *y)
{
    return h->max ? x->d > y->d : x->d < y->d;
}

static void heap_push(struct heap *h, float d, uint32_t s)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->a = xrealloc(h->a, h->cap * sizeof *h->a);
    }
    size_t i = h->n++;
    h->a[i] = (struct cand){d, s};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(h, &h->a[i], &h->a[p])) break;
        struct cand t = h->a[i];
        h->a[i] = h->a[p];
        h->a[p] = t;
        i = p;
    }
}

static struct cand heap_pop(struct heap *h)
{
    struct cand top = h->a[0];
    h->a[0] = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && before(h, &h->a[l], &h->a[m])) m = l;
        if (r < h->n && before(h, &h->a[r], &h->a[m])) m = r;
        if (m == i) break;
        struct cand t = h->a[i];
        h->a[i] = h->a[m];
        h->a[m] = t;
        i = m;
    }
    return top;
}

/* ---- index ---- */

/* Per-search scratch, pooled so a search allocates nothing once the pool is warm: the
 * visited set (a slot is visited when tag[slot] == epoch, so starting a new search is one
 * increment) and the candidate heap's array. */
struct visited {
    uint32_t *tag;
    size_t cap;
    uint32_t epoch;
    struct cand *cand; /* candidate heap storage, reused across searches */
    size_t cand_cap;
    struct visited *next;
};

struct hnsw {
    pthread_rwlock_t lock;
    hnsw_opts_t o;
    uint32_t M0;
    double mult;
    uint32_t n, cap; /* slots in use / allocated */
    float *vecs;     /* [cap][dim] unit vectors */
    uint64_t *ids;   /* [cap] */
    uint8_t *level;  /* [cap] top layer of each node */
    uint8_t *dead;   /* [cap] tombstones */
    uint32_t *l0;    /* [cap][M0 + 1]: count, then neighbour slots (layer 0) */
    uint32_t **up;   /* [cap] -> [level][M + 1] for layers 1..level, or NULL */
    int64_t entry;   /* entry slot, -1 when empty */
    int max_level;
    uint32_t n_dead;
    idmap_t map; /* live id -> slot */
    uint64_t rng;
    rag_dot_fn dot;      /* dot product for this CPU */
    pthread_mutex_t vmu; /* guards the pool of visited sets used by concurrent searches */
    struct visited *vpool;
};

static uint32_t *links(const hnsw_t *h, uint32_t s, int level)
{
    if (level == 0) return h->l0 + (size_t)s * (h->M0 + 1);
    return h->up[s] + (size_t)(level - 1) * (h->o.M + 1);
}

static const float *vec(const hnsw_t *h, uint32_t s)
{
    return h->vecs + (size_t)s * h->o.dim;
}

static float dist(const hnsw_t *h, const float *q, uint32_t s)
{
    return 1.0f - h->dot(q, vec(h, s), h->o.dim);
}

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int random_level(hnsw_t *h)
{
    double u = ((rng_next(&h->rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    int l = (int)(-log(u) * h->mult);
    return l > MAX_LEVEL ? MAX_LEVEL : l;
}

static struct visited *visited_get(hnsw_t *h)
{
    pthread_mutex_lock(&h->vmu);
    struct visited *v = h->vpool;
    if (v) h->vpool = v->next;
    pthread_mutex_unlock(&h->vmu);
    if (!v) v = xcalloc(1, sizeof *v);
    if (v->cap < h->n) {
        size_t cap = h->cap > h->n ? h->cap : h->n;
        free(v->tag);
        v->tag = xcalloc(cap, sizeof *v->tag);
        v->cap = cap;
        v->epoch = 0;
    }
    if (++v->epoch == 0) {
        memset(v->tag, 0, v->cap * sizeof *v->tag);
        v->epoch = 1;
    }
    return v;
}

static void visited_put(hnsw_t *h, struct visited *v)
{
    pthread_mutex_lock(&h->vmu);
    v->next = h->vpool;
    h->vpool = v;
    pthread_mutex_unlock(&h->vmu);
}

void hnsw_opts_default(hnsw_opts_t *o)
{
    o->dim = 768;
    o->M = 16;
    o->ef_construction = 200;
    o->ef_search = 64;
    o->seed = 42;
}

static bool opts_valid(const hnsw_opts_t *o)
{
    return o->dim >= 1 && o->dim <= 65536 && o->M >= 2 && o->M <= MAX_M &&
           o->ef_construction >= o->M && o->ef_construction <= 100000 && o->ef_search >= 1 &&
           o->ef_search <= 100000;
}

int hnsw_create(const hnsw_opts_t *opts, hnsw_t **out)
{
    *out = NULL;
    hnsw_opts_t o;
    if (opts)
        o = *opts;
    else
        hnsw_opts_default(&o);
    if (!opts_valid(&o)) return RAGD_EINVAL;
    hnsw_t *h = xcalloc(1, sizeof *h);
    h->o = o;
    h->M0 = 2 * o.M;
    h->mult = 1.0 / log((double)o.M);
    h->entry = -1;
    h->rng = o.seed;
    h->dot = rag_dot_kernel();
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->lock, &a);
    pthread_rwlockattr_destroy(&a);
    pthread_mutex_init(&h->vmu, NULL);
    *out = h;
    return 0;
}

/* Free everything but the lock, mutex and the struct itself. */
static void release_storage(hnsw_t *h)
{
    for (uint32_t s = 0; s < h->n; s++)
        free(h->up[s]);
    free(h->up);
    free(h->vecs);
    free(h->ids);
    free(h->level);
    free(h->dead);
    free(h->l0);
    idmap_free(&h->map);
    h->up = NULL;
    h->vecs = NULL;
    h->ids = NULL;
    h->level = h->dead = NULL;
    h->l0 = NULL;
    h->n = h->cap = h->n_dead = 0;
    h->entry = -1;
    h->max_level = 0;
}

void hnsw_free(hnsw_t *h)
{
    if (!h) return;
    release_storage(h);
    while (h->vpool) {
        struct visited *v = h->vpool;
        h->vpool = v->next;
        free(v->tag);
        free(v->cand);
        free(v);
    }
    pthread_mutex_destroy(&h->vmu);
    pthread_rwlock_destroy(&h->lock);
    free(h);
}

static void reserve(hnsw_t *h, uint32_t need)
{
    if (need <= h->cap) return;
    uint32_t cap = h->cap ? h->cap : 256;
    while (cap < need)
        cap = cap > MAX_NODES / 2 ? MAX_NODES : cap * 2;
    h->vecs = xrealloc(h->vecs, (size_t)cap * h->o.dim * sizeof *h->vecs);
    h->ids = xrealloc(h->ids, cap * sizeof *h->ids);
    h->level = xrealloc(h->level, cap);
    h->dead = xrealloc(h->dead, cap);
    h->l0 = xrealloc(h->l0, (size_t)cap * (h->M0 + 1) * sizeof *h->l0);
    h->up = xrealloc(h->up, cap * sizeof *h->up);
    h->cap = cap;
}

/* ---- search primitives ---- */

/* Greedy walk on one layer towards q. */
static uint32_t greedy(const hnsw_t *h, const float *q, uint32_t ep, int level)
{
    float best = dist(h, q, ep);
    bool changed = true;
    while (changed) {
        changed = false;
        const uint32_t *l = links(h, ep, level);
        for (uint32_t i = 1; i <= l[0]; i++) {
            float d = dist(h, q, l[i]);
            if (d < best) {
                best = d;
                ep = l[i];
                changed = true;
            }
        }
    }
    return ep;
}

struct accept {
    bool live_only;
    rag_filter_fn filter;
    void *ud;
};

static bool acceptable(const hnsw_t *h, uint32_t s, const struct accept *a)
{
    if (!a || !a->live_only) return true;
    if (h->dead[s]) return false;
    return !a->filter || a->filter(h->ids[s], a->ud);
}

/* Beam search on one layer from ep. On return res (a max-heap) holds up to ef accepted
 * nodes; a == NULL accepts every node. */
/* Prefetch the first cache lines of slot s's vector (the hardware prefetcher follows the
 * rest once the dot product streams through it). */
static inline void prefetch_vec(const hnsw_t *h, uint32_t s)
{
    const char *p = (const char *)vec(h, s);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    __builtin_prefetch(p + 192);
}

/* Best-first search of one layer from ep: the ef nearest acceptable nodes found go to res
 * (a max-heap on distance). Neighbours not yet visited are collected first and their
 * vectors prefetched one ahead of the dot product that reads them. */
static void search_layer(const hnsw_t *h, const float *q, uint32_t ep, uint32_t ef, int level,
                         const struct accept *a, struct visited *v, struct heap *res)
{
    struct heap cand = {.a = v->cand, .cap = v->cand_cap, .max = false};
    uint32_t todo[2 * MAX_M];
    res->n = 0;
    res->max = true;
    float d = dist(h, q, ep);
    v->tag[ep] = v->epoch;
    heap_push(&cand, d, ep);
    if (acceptable(h, ep, a)) heap_push(res, d, ep);
    float bound = res->n ? res->a[0].d : INFINITY;
    while (cand.n) {
        struct cand c = heap_pop(&cand);
        if (c.d > bound && res->n >= ef) break;
        const uint32_t *l = links(h, c.s, level);
        uint32_t nt = 0;
        for (uint32_t i = 1; i <= l[0]; i++)
            __builtin_prefetch(&v->tag[l[i]]);
        for (uint32_t i = 1; i <= l[0]; i++) {
            uint32_t e = l[i];
            if (v->tag[e] == v->epoch) continue;
            v->tag[e] = v->epoch;
            todo[nt++] = e;
        }
        if (nt) prefetch_vec(h, todo[0]);
        for (uint32_t i = 0; i < nt; i++) {
            uint32_t e = todo[i];
            if (i + 1 < nt) prefetch_vec(h, todo[i + 1]);
            float de = dist(h, q, e);
            if (res->n < ef || de < bound) {
                heap_push(&cand, de, e);
                if (acceptable(h, e, a)) {
                    heap_push(res, de, e);
                    if (res->n > ef) heap_pop(res);
                }
                if (res->n) bound = res->a[0].d;
            }
        }
    }
    v->cand = cand.a;
    v->cand_cap = cand.cap;
}

static int cmp_cand(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    return a->d < b->d ? -1 : a->d > b->d ? 1 : (a->s > b->s) - (a->s < b->s);
}

/* Sorts candidates by distance, then slot. An empty result heap has no array at all
 * (c == NULL), and qsort's pointer must be valid even for zero elements. */
static void sort_cands(struct cand *c, size_t nc)
{
    if (nc > 1) qsort(c, nc, sizeof *c, cmp_cand);
}

/* The paper's neighbour-selection heuristic: from candidates sorted by distance to the
 * base node, keep those closer to the base than to any already kept, up to m. Writes the
 * kept slots to out and returns their count. */
static uint32_t select_neighbours(const hnsw_t *h, struct cand *c, size_t nc, uint32_t m,
                                  uint32_t *out)
{
    sort_cands(c, nc);
    uint32_t k = 0;
    for (size_t i = 0; i < nc && k < m; i++) {
        bool good = true;
        for (uint32_t j = 0; j < k && good; j++)
            if (1.0f - h->dot(vec(h, c[i].s), vec(h, out[j]), h->o.dim) < c[i].d) good = false;
        if (good) out[k++] = c[i].s;
    }
    return k;
}

/* Add link s -> to on layer level, pruning with the heuristic when the list is full. */
static void add_link(hnsw_t *h, uint32_t s, uint32_t to, int level)
{
    uint32_t max = level == 0 ? h->M0 : h->o.M;
    uint32_t *l = links(h, s, level);
    for (uint32_t i = 1; i <= l[0]; i++)
        if (l[i] == to) return;
    if (l[0] < max) {
        l[++l[0]] = to;
        return;
    }
    struct cand *c = xmalloc((max + 1) * sizeof *c);
    const float *base = vec(h, s);
    for (uint32_t i = 0; i < max; i++)
        c[i] = (struct cand){dist(h, base, l[i + 1]), l[i + 1]};
    c[max] = (struct cand){dist(h, base, to), to};
    l[0] = select_neighbours(h, c, max + 1, max, l + 1);
    free(c);
}

/* Insert a unit vector already copied into slot s (caller holds the write lock). */
static void insert_slot(hnsw_t *h, uint32_t s, int level)
{
    h->level[s] = (uint8_t)level;
    h->l0[(size_t)s * (h->M0 + 1)] = 0;
    h->up[s] = NULL;
    if (level > 0) {
        h->up[s] = xmalloc((size_t)level * (h->o.M + 1) * sizeof **h->up);
        for (int l = 1; l <= level; l++)
            links(h, s, l)[0] = 0;
    }
    if (h->entry < 0) {
        h->entry = s;
        h->max_level = level;
        return;
    }
    const float *q = vec(h, s);
    uint32_t ep = (uint32_t)h->entry;
    for (int l = h->max_level; l > level; l--)
        ep = greedy(h, q, ep, l);
    struct visited *v = visited_get(h);
    struct heap res = {0};
    uint32_t *sel = xmalloc((h->M0 + 1) * sizeof *sel);
    for (int l = level < h->max_level ? level : h->max_level; l >= 0; l--) {
        if (l != (level < h->max_level ? level : h->max_level)) {
            if (++v->epoch == 0) {
                memset(v->tag, 0, v->cap * sizeof *v->tag);
                v->epoch = 1;
            }
        }
        search_layer(h, q, ep, h->o.ef_construction, l, NULL, v, &res);
        /* the nearest result is the entry for the next layer down */
        uint32_t nearest = res.a[0].s;
        float nd = res.a[0].d;
        for (size_t i = 1; i < res.n; i++)
            if (res.a[i].d < nd) nd = res.a[i].d, nearest = res.a[i].s;
        uint32_t k = select_neighbours(h, res.a, res.n, h->o.M, sel);
        uint32_t *mine = links(h, s, l);
        mine[0] = k;
        memcpy(mine + 1, sel, k * sizeof *sel);
        for (uint32_t i = 0; i < k; i++)
            add_link(h, sel[i], s, l);
        ep = nearest;
    }
    free(sel);
    free(res.a);
    visited_put(h, v);
    if (level > h->max_level) {
        h->max_level = level;
        h->entry = s;
    }
}

int hnsw_insert(hnsw_t *h, uint64_t id, const float *vector)
{
    float *tmp = xmalloc(h->o.dim * sizeof *tmp);
    if (!normalise(tmp, vector, h->o.dim)) {
        free(tmp);
        return RAGD_EINVAL;
    }
    pthread_rwlock_wrlock(&h->lock);
    uint32_t s;
    int rc = 0;
    if (idmap_get(&h->map, id, &s)) {
        rc = RAGD_EEXIST;
        goto out;
    }
    if (h->n >= MAX_NODES) {
        rc = RAGD_ELIMIT;
        goto out;
    }
    reserve(h, h->n + 1);
    s = h->n++;
    memcpy(h->vecs + (size_t)s * h->o.dim, tmp, h->o.dim * sizeof *tmp);
    h->ids[s] = id;
    h->dead[s] = 0;
    insert_slot(h, s, random_level(h));
    idmap_put(&h->map, id, s);
out:
    pthread_rwlock_unlock(&h->lock);
    free(tmp);
    return rc;
}

int hnsw_delete(hnsw_t *h, uint64_t id)
{
    pthread_rwlock_wrlock(&h->lock);
    uint32_t s;
    int rc = RAGD_ENOTFOUND;
    if (idmap_get(&h->map, id, &s)) {
        /* The tombstone stays in the graph for routing, but its vector is forgotten: a
         * deleted chunk's embedding must not survive in memory or in a saved index. A zero
         * vector is at distance 1 from every query, so routing through it still works. */
        memset(h->vecs + (size_t)s * h->o.dim, 0, h->o.dim * sizeof(float));
        h->dead[s] = 1;
        h->n_dead++;
        idmap_del(&h->map, id);
        rc = 0;
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

void hnsw_compact(hnsw_t *h)
{
    pthread_rwlock_wrlock(&h->lock);
    if (h->n_dead == 0) {
        pthread_rwlock_unlock(&h->lock);
        return;
    }
    uint32_t live = h->n - h->n_dead;
    float *vecs = xmalloc(((size_t)live + 1) * h->o.dim * sizeof *vecs);
    uint64_t *ids = xmalloc(((size_t)live + 1) * sizeof *ids);
    uint32_t k = 0;
    for (uint32_t s = 0; s < h->n; s++) {
        if (h->dead[s]) continue;
        memcpy(vecs + (size_t)k * h->o.dim, vec(h, s), h->o.dim * sizeof *vecs);
        ids[k++] = h->ids[s];
    }
    release_storage(h);
    /* forget pooled visited sets: they are sized for the old slot count, which is fine, but
     * the new graph is smaller, so keep them */
    reserve(h, k);
    for (uint32_t s = 0; s < k; s++) {
        memcpy(h->vecs + (size_t)s * h->o.dim, vecs + (size_t)s * h->o.dim,
               h->o.dim * sizeof *vecs);
        h->ids[s] = ids[s];
        h->dead[s] = 0;
        h->n = s + 1;
        insert_slot(h, s, random_level(h));
        idmap_put(&h->map, ids[s], s);
    }
    free(vecs);
    free(ids);
    pthread_rwlock_unlock(&h->lock);
}

bool hnsw_contains(hnsw_t *h, uint64_t id)
{
    uint32_t s;
    pthread_rwlock_rdlock(&h->lock);
    bool r = idmap_get(&h->map, id, &s);
    pthread_rwlock_unlock(&h->lock);
    return r;
}

size_t hnsw_count(hnsw_t *h)
{
    pthread_rwlock_rdlock(&h->lock);
    size_t n = h->n - h->n_dead;
    pthread_rwlock_unlock(&h->lock);
    return n;
}

size_t hnsw_deleted(hnsw_t *h)
{
    pthread_rwlock_rdlock(&h->lock);
    size_t n = h->n_dead;
    pthread_rwlock_unlock(&h->lock);
    return n;
}

uint32_t hnsw_dim(const hnsw_t *h)
{
    return h->o.dim;
}

void hnsw_set_ef_search(hnsw_t *h, uint32_t ef)
{
    pthread_rwlock_wrlock(&h->lock);
    h->o.ef_search = ef ? ef : 1;
    pthread_rwlock_unlock(&h->lock);
}

/* Sort candidates best first (distance, then id) and write k hits. */
static size_t emit_hits(const hnsw_t *h, struct cand *c, size_t nc, size_t k, rag_hit_t *out)
{
    sort_cands(c, nc);
    /* ties: order equal distances by id rather than slot */
    size_t n = nc < k ? nc : k;
    for (size_t i = 0; i < n; i++)
        out[i] = (rag_hit_t){h->ids[c[i].s], 1.0f - c[i].d};
    for (size_t i = 1; i < n; i++) {
        rag_hit_t x = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1].score == x.score && out[j - 1].id > x.id) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = x;
    }
    return n;
}

int hnsw_search(hnsw_t *h, const float *query, size_t k, uint32_t ef, rag_filter_fn filter,
                void *ud, rag_hit_t *out, size_t *n)
{
    *n = 0;
    if (k == 0) return RAGD_EINVAL;
    float *q = xmalloc(h->o.dim * sizeof *q);
    if (!normalise(q, query, h->o.dim)) {
        free(q);
        return RAGD_EINVAL;
    }
    pthread_rwlock_rdlock(&h->lock);
    if (h->entry >= 0 && h->n > h->n_dead) {
        uint32_t ef2 = ef ? ef : h->o.ef_search;
        if (ef2 < k) ef2 = k > UINT32_MAX ? UINT32_MAX : (uint32_t)k;
        uint32_t ep = (uint32_t)h->entry;
        for (int l = h->max_level; l > 0; l--)
            ep = greedy(h, q, ep, l);
        struct accept a = {true, filter, ud};
        struct visited *v = visited_get(h);
        struct heap res = {0};
        search_layer(h, q, ep, ef2, 0, &a, v, &res);
        visited_put(h, v);
        *n = emit_hits(h, res.a, res.n, k, out);
        free(res.a);
    }
    pthread_rwlock_unlock(&h->lock);
    free(q);
    return 0;
}

int hnsw_search_exact(hnsw_t *h, const float *query, size_t k, rag_filter_fn filter, void *ud,
                      rag_hit_t *out, size_t *n)
{
    *n = 0;
    if (k == 0) return RAGD_EINVAL;
    float *q = xmalloc(h->o.dim * sizeof *q);
    if (!normalise(q, query, h->o.dim)) {
        free(q);
        return RAGD_EINVAL;
    }
    pthread_rwlock_rdlock(&h->lock);
    struct heap res = {.max = true};
    for (uint32_t s = 0; s < h->n; s++) {
        if (h->dead[s] || (filter && !filter(h->ids[s], ud))) continue;
        float d = dist(h, q, s);
        if (res.n < k || d < res.a[0].d) {
            heap_push(&res, d, s);
            if (res.n > k) heap_pop(&res);
        }
    }
    *n = emit_hits(h, res.a, res.n, k, out);
    free(res.a);
    pthread_rwlock_unlock(&h->lock);
    free(q);
    return 0;
}

/* ---- persistence ----
 * payload v1: u32 dim, M, ef_construction, ef_search; u64 rng state; u32 n, n_dead;
 *   u32 entry (UINT32_MAX when empty); u32 max_level;
 *   n x (u64 id, u8 level, u8 dead, u16 0, dim x f32, then for layers 0..level:
 *        u32 count, count x u32 slot). */

int hnsw_save(hnsw_t *h, const char *path)
{
    pthread_rwlock_rdlock(&h->lock);
    rfile_writer_t *w;
    int rc = rfile_write_open(path, FILE_MAGIC, FILE_VERSION, &w);
    if (rc) {
        pthread_rwlock_unlock(&h->lock);
        return rc;
    }
    rfile_put_u32(w, h->o.dim);
    rfile_put_u32(w, h->o.M);
    rfile_put_u32(w, h->o.ef_construction);
    rfile_put_u32(w, h->o.ef_search);
    rfile_put_u64(w, h->rng);
    rfile_put_u32(w, h->n);
    rfile_put_u32(w, h->n_dead);
    rfile_put_u32(w, h->entry < 0 ? UINT32_MAX : (uint32_t)h->entry);
    rfile_put_u32(w, (uint32_t)h->max_level);
    for (uint32_t s = 0; s < h->n; s++) {
        unsigned char meta[4] = {h->level[s], h->dead[s], 0, 0};
        rfile_put_u64(w, h->ids[s]);
        rfile_put(w, meta, 4);
        rfile_put(w, vec(h, s), h->o.dim * sizeof(float));
        for (int l = 0; l <= h->level[s]; l++) {
            const uint32_t *lk = links(h, s, l);
            rfile_put(w, lk, (lk[0] + 1) * sizeof *lk);
        }
    }
    pthread_rwlock_unlock(&h->lock);
    return rfile_write_commit(w);
}

static int load_from(rfile_reader_t *r, hnsw_t **out)
{
    hnsw_opts_t o;
    hnsw_t *h = NULL;
    uint32_t n, n_dead, entry, max_level;
    uint64_t rng;
    int rc;
    if ((rc = rfile_get_u32(r, &o.dim)) || (rc = rfile_get_u32(r, &o.M)) ||
        (rc = rfile_get_u32(r, &o.ef_construction)) || (rc = rfile_get_u32(r, &o.ef_search)) ||
        (rc = rfile_get_u64(r, &rng)) || (rc = rfile_get_u32(r, &n)) ||
        (rc = rfile_get_u32(r, &n_dead)) || (rc = rfile_get_u32(r, &entry)) ||
        (rc = rfile_get_u32(r, &max_level)))
        return rc;
    o.seed = 0;
    if (!opts_valid(&o) || n_dead > n || max_level > MAX_LEVEL || n > MAX_NODES ||
        (uint64_t)n > rfile_remaining(r) / (12 + 4 * (uint64_t)o.dim + 4) ||
        (n == 0) != (entry == UINT32_MAX) || (n && entry >= n))
        return RAGD_EFORMAT;
    if ((rc = hnsw_create(&o, &h))) return RAGD_EFORMAT;
    h->rng = rng;
    reserve(h, n ? n : 1);
    uint32_t dead_count = 0;
    for (uint32_t s = 0; s < n; s++) {
        unsigned char meta[4];
        if ((rc = rfile_get_u64(r, &h->ids[s])) || (rc = rfile_get(r, meta, 4))) goto fail;
        if (meta[0] > MAX_LEVEL || meta[1] > 1 || meta[2] || meta[3]) {
            rc = RAGD_EFORMAT;
            goto fail;
        }
        h->level[s] = meta[0];
        h->dead[s] = meta[1];
        h->up[s] = NULL;
        h->n = s + 1; /* from here on release_storage frees this slot's layers */
        float *v = h->vecs + (size_t)s * o.dim;
        if ((rc = rfile_get(r, v, o.dim * sizeof *v))) goto fail;
        double ss = 0;
        for (uint32_t i = 0; i < o.dim; i++)
            ss += (double)v[i] * v[i];
        if (!(fabs(ss - 1.0) < 1e-3) && !(h->dead[s] && ss == 0.0)) { /* tombstones: zero */
            rc = RAGD_EFORMAT;
            goto fail;
        }
        if (h->level[s]) h->up[s] = xmalloc((size_t)h->level[s] * (o.M + 1) * sizeof **h->up);
        for (int l = 0; l <= h->level[s]; l++) {
            uint32_t *lk = links(h, s, l);
            uint32_t max = l == 0 ? h->M0 : o.M;
            if ((rc = rfile_get_u32(r, &lk[0]))) goto fail;
            if (lk[0] > max) {
                rc = RAGD_EFORMAT;
                goto fail;
            }
            if ((rc = rfile_get(r, lk + 1, lk[0] * sizeof *lk))) goto fail;
        }
        if (h->dead[s]) {
            dead_count++;
        } else {
            uint32_t other;
            if (idmap_get(&h->map, h->ids[s], &other)) {
                rc = RAGD_EFORMAT; /* duplicate live id */
                goto fail;
            }
            idmap_put(&h->map, h->ids[s], s);
        }
    }
    /* graph consistency: every link names an existing node that lives on that layer */
    rc = RAGD_EFORMAT;
    if (dead_count != n_dead || (n && h->level[entry] != max_level)) goto fail;
    for (uint32_t s = 0; s < n; s++) {
        for (int l = 0; l <= h->level[s]; l++) {
            const uint32_t *lk = links(h, s, l);
            for (uint32_t i = 1; i <= lk[0]; i++)
                if (lk[i] >= n || h->level[lk[i]] < l) goto fail;
        }
    }
    if ((rc = rfile_read_finish(r))) goto fail;
    h->n_dead = n_dead;
    h->entry = n ? (int64_t)entry : -1;
    h->max_level = (int)max_level;
    *out = h;
    return 0;
fail:
    hnsw_free(h);
    return rc;
}

int hnsw_load(const char *path, hnsw_t **out)
{
    *out = NULL;
    rfile_reader_t *r;
    uint32_t version;
    int rc = rfile_read_open(path, FILE_MAGIC, &version, &r);
    if (rc) return rc;
    rc = version == FILE_VERSION ? load_from(r, out) : RAGD_EFORMAT;
    rfile_read_close(r);
    return rc;
}

int hnsw_load_mem(const void *data, size_t len, hnsw_t **out)
{
    *out = NULL;
    rfile_reader_t *r;
    uint32_t version;
    int rc = rfile_read_open_mem(data, len, FILE_MAGIC, &version, &r);
    if (rc) return rc;
    rc = version == FILE_VERSION ? load_from(r, out) : RAGD_EFORMAT;
    rfile_read_close(r);
    return rc;
}
