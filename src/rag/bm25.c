/* bm25.c - inverted index with BM25 ranking, lazy deletion and checksummed persistence. */
#include "rag/bm25.h"

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "rag/idmap.h"
#include "rag/rfile.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define FILE_MAGIC "RAGDBM25"
#define FILE_VERSION 1
#define MAX_QUERY_TERMS 1024

/* ---- tokenizer ---- */

/* Sorted for bsearch. */
static const char *const stop_words[] = {
    "a",      "about",  "above", "after",  "again",    "against",    "all",  "am",
    "an",     "and",    "any",   "are",    "as",       "at",         "be",   "because",
    "been",   "before", "being", "below",  "between",  "both",       "but",  "by",
    "can",    "could",  "did",   "do",     "does",     "doing",      "down", "during",
    "each",   "few",    "for",   "from",   "further",  "had",        "has",  "have",
    "having", "he",     "her",   "here",   "hers",     "herself",    "him",  "himself",
    "his",    "how",    "i",     "if",     "in",       "into",       "is",   "it",
    "its",    "itself", "just",  "me",     "more",     "most",       "my",   "myself",
    "no",     "nor",    "not",   "now",    "of",       "off",        "on",   "once",
    "only",   "or",     "other", "our",    "ours",     "ourselves",  "out",  "over",
    "own",    "same",   "she",   "should", "so",       "some",       "such", "than",
    "that",   "the",    "their", "theirs", "them",     "themselves", "then", "there",
    "these",  "they",   "this",  "those",  "through",  "to",         "too",  "under",
    "until",  "up",     "very",  "was",    "we",       "were",       "what", "when",
    "where",  "which",  "while", "who",    "whom",     "why",        "will", "with",
    "would",  "you",    "your",  "yours",  "yourself", "yourselves",
};

static bool is_stop_word(const char *w, size_t n)
{
    if (n > 10) return false;
    size_t lo = 0, hi = sizeof stop_words / sizeof *stop_words;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *s = stop_words[mid];
        size_t sl = strlen(s);
        int c = memcmp(w, s, n < sl ? n : sl);
        if (c == 0) c = n < sl ? -1 : (n > sl ? 1 : 0);
        if (c == 0) return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

static bool is_cjk(int32_t c)
{
    return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x3134F);
}

static bool is_word_cp(int32_t c)
{
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    utf8proc_category_t cat = utf8proc_category(c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);
}

static bool is_connector(int32_t c)
{
    return c == '-' || c == '.' || c == '_' || c == '/' || c == ':' || c == '\'' || c == 0x2019 ||
           c == '@';
}

struct tok {
    char word[BM25_MAX_TOKEN + 4];
    size_t wl;
    char comp[BM25_MAX_TOKEN + 4];
    size_t cl;
    int parts;
    bool comp_over;
    int32_t conn;
    bool stopwords;
    void (*emit)(const char *, size_t, void *);
    void *ud;
};

static void tok_flush_word(struct tok *t)
{
    if (t->wl == 0) return;
    if (!t->stopwords || !is_stop_word(t->word, t->wl)) t->emit(t->word, t->wl, t->ud);
    t->parts++;
    t->wl = 0;
}

static void tok_end_compound(struct tok *t)
{
    tok_flush_word(t);
    if (t->parts >= 2 && !t->comp_over && t->cl > 0) t->emit(t->comp, t->cl, t->ud);
    t->cl = 0;
    t->parts = 0;
    t->comp_over = false;
    t->conn = 0;
}

static void tok_append(char *buf, size_t *len, const unsigned char *b, size_t n, bool *over)
{
    if (*len + n <= BM25_MAX_TOKEN) {
        memcpy(buf + *len, b, n);
        *len += n;
    } else if (over) {
        *over = true;
    }
}

void bm25_tokenize(const char *text, size_t len, bool stopwords,
                   void (*emit)(const char *tok, size_t tok_len, void *ud), void *ud)
{
    struct tok t = {.stopwords = stopwords, .emit = emit, .ud = ud};
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        size_t avail = len - i > 4 ? 4 : len - i;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)avail, &c);
        if (l <= 0) {
            tok_end_compound(&t);
            i++;
            continue;
        }
        i += (size_t)l;
        if (is_cjk(c)) {
            tok_end_compound(&t);
            unsigned char b[4];
            utf8proc_ssize_t n = utf8proc_encode_char(c, b);
            emit((const char *)b, (size_t)n, ud);
        } else if (is_word_cp(c)) {
            unsigned char b[4];
            utf8proc_ssize_t n = utf8proc_encode_char(utf8proc_tolower(c), b);
            if (t.conn) {
                unsigned char cb[4];
                utf8proc_ssize_t cn = utf8proc_encode_char(t.conn == 0x2019 ? '\'' : t.conn, cb);
                tok_append(t.comp, &t.cl, cb, (size_t)cn, &t.comp_over);
                t.conn = 0;
            }
            tok_append(t.word, &t.wl, b, (size_t)n, NULL);
            tok_append(t.comp, &t.cl, b, (size_t)n, &t.comp_over);
        } else if (is_connector(c) && t.wl > 0 && !t.conn) {
            tok_flush_word(&t);
            t.conn = c;
        } else {
            tok_end_compound(&t);
        }
    }
    tok_end_compound(&t);
}

/* ---- index structures ---- */

struct posting {
    uint32_t doc, tf;
};

struct term {
    char *s;
    uint32_t len;
    uint32_t df; /* live chunks containing the term */
    uint64_t hash;
    struct posting *p; /* sorted by doc; may include dead docs until compaction */
    uint32_t np, cap;
};

struct tf_pair {
    uint32_t tid, tf;
};

struct doc {
    uint64_t id;
    uint32_t len; /* tokens */
    uint32_t nt;
    struct tf_pair *t;
    bool alive;
};

struct bm25 {
    pthread_rwlock_t lock;
    bm25_opts_t o;
    struct term *terms;
    uint32_t nterms, cap_terms;
    uint32_t *tab; /* term hash table: tid + 1, 0 = empty */
    size_t tab_cap;
    size_t live_terms;
    struct doc *docs;
    uint32_t ndocs, cap_docs;
    uint32_t n_alive, n_dead;
    uint64_t total_len;
    idmap_t ids; /* chunk id -> live doc slot */
};

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = fnv1a(FNV1A_START, s, n);
    return h ^ (h >> 29);
}

static bool term_find(const bm25_t *x, const char *s, size_t n, uint64_t h, uint32_t *tid)
{
    if (!x->tab_cap) return false;
    size_t mask = x->tab_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = x->tab[i];
        if (v == 0) return false;
        const struct term *t = &x->terms[v - 1];
        if (t->hash == h && t->len == n && memcmp(t->s, s, n) == 0) {
            *tid = v - 1;
            return true;
        }
    }
}

static void tab_insert(bm25_t *x, uint32_t tid)
{
    size_t mask = x->tab_cap - 1;
    for (size_t i = x->terms[tid].hash & mask;; i = (i + 1) & mask) {
        if (x->tab[i] == 0) {
            x->tab[i] = tid + 1;
            return;
        }
    }
}

static void tab_rebuild(bm25_t *x, size_t cap)
{
    free(x->tab);
    x->tab_cap = cap;
    x->tab = xcalloc(cap, sizeof *x->tab);
    for (uint32_t t = 0; t < x->nterms; t++)
        tab_insert(x, t);
}

/* Find or create a term. */
static uint32_t term_get(bm25_t *x, const char *s, size_t n)
{
    uint64_t h = hash_str(s, n);
    uint32_t tid;
    if (term_find(x, s, n, h, &tid)) return tid;
    if (x->nterms == x->cap_terms) {
        x->cap_terms = x->cap_terms ? x->cap_terms * 2 : 1024;
        x->terms = xrealloc(x->terms, x->cap_terms * sizeof *x->terms);
    }
    tid = x->nterms++;
    struct term *t = &x->terms[tid];
    memset(t, 0, sizeof *t);
    t->s = xstrndup(s, n);
    t->len = (uint32_t)n;
    t->hash = h;
    if ((size_t)x->nterms * 2 > x->tab_cap)
        tab_rebuild(x, x->tab_cap ? x->tab_cap * 2 : 2048);
    else
        tab_insert(x, tid);
    return tid;
}

static void posting_push(struct term *t, uint32_t doc, uint32_t tf)
{
    if (t->np == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4;
        t->p = xrealloc(t->p, t->cap * sizeof *t->p);
    }
    t->p[t->np++] = (struct posting){doc, tf};
}

/* Append a live doc with its (tid, tf) pairs (owned by the doc from now on). */
static void doc_append(bm25_t *x, uint64_t id, struct tf_pair *pairs, uint32_t nt, uint32_t len)
{
    if (x->ndocs == x->cap_docs) {
        x->cap_docs = x->cap_docs ? x->cap_docs * 2 : 1024;
        x->docs = xrealloc(x->docs, x->cap_docs * sizeof *x->docs);
    }
    uint32_t slot = x->ndocs++;
    x->docs[slot] = (struct doc){.id = id, .len = len, .nt = nt, .t = pairs, .alive = true};
    for (uint32_t i = 0; i < nt; i++) {
        struct term *t = &x->terms[pairs[i].tid];
        if (t->df++ == 0) x->live_terms++;
        posting_push(t, slot, pairs[i].tf);
    }
    x->n_alive++;
    x->total_len += len;
    idmap_put(&x->ids, id, slot);
}

/* Drop dead docs from the postings, renumber docs and drop unused terms. */
static void compact(bm25_t *x)
{
    uint32_t *newdoc = xmalloc((x->ndocs + 1) * sizeof *newdoc);
    uint32_t nd = 0;
    for (uint32_t d = 0; d < x->ndocs; d++) {
        if (x->docs[d].alive) {
            newdoc[d] = nd;
            x->docs[nd++] = x->docs[d];
        } else {
            newdoc[d] = UINT32_MAX;
            free(x->docs[d].t);
        }
    }
    uint32_t *newtid = xmalloc((x->nterms + 1) * sizeof *newtid);
    uint32_t ntm = 0;
    for (uint32_t t = 0; t < x->nterms; t++) {
        struct term *tm = &x->terms[t];
        if (tm->df == 0) {
            newtid[t] = UINT32_MAX;
            free(tm->s);
            free(tm->p);
            continue;
        }
        uint32_t np = 0;
        for (uint32_t i = 0; i < tm->np; i++) {
            uint32_t nd2 = newdoc[tm->p[i].doc];
            if (nd2 != UINT32_MAX) tm->p[np++] = (struct posting){nd2, tm->p[i].tf};
        }
        tm->np = np;
        newtid[t] = ntm;
        x->terms[ntm++] = *tm;
    }
    x->nterms = ntm;
    x->ndocs = nd;
    x->n_dead = 0;
    idmap_free(&x->ids);
    for (uint32_t d = 0; d < nd; d++) {
        for (uint32_t i = 0; i < x->docs[d].nt; i++)
            x->docs[d].t[i].tid = newtid[x->docs[d].t[i].tid];
        idmap_put(&x->ids, x->docs[d].id, d);
    }
    size_t cap = 2048;
    while (cap < (size_t)ntm * 2)
        cap *= 2;
    tab_rebuild(x, cap);
    free(newtid);
    free(newdoc);
}

/* ---- public API ---- */

void bm25_opts_default(bm25_opts_t *o)
{
    o->k1 = 1.2f;
    o->b = 0.75f;
    o->stopwords = false;
}

static bool opts_valid(const bm25_opts_t *o)
{
    return isfinite(o->k1) && isfinite(o->b) && o->k1 > 0 && o->k1 <= 10 && o->b >= 0 && o->b <= 1;
}

int bm25_create(const bm25_opts_t *opts, bm25_t **out)
{
    *out = NULL;
    bm25_opts_t o;
    if (opts)
        o = *opts;
    else
        bm25_opts_default(&o);
    if (!opts_valid(&o)) return RAGD_EINVAL;
    bm25_t *x = xcalloc(1, sizeof *x);
    x->o = o;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&x->lock, &a);
    pthread_rwlockattr_destroy(&a);
    *out = x;
    return 0;
}

void bm25_free(bm25_t *x)
{
    if (!x) return;
    for (uint32_t t = 0; t < x->nterms; t++) {
        free(x->terms[t].s);
        free(x->terms[t].p);
    }
    for (uint32_t d = 0; d < x->ndocs; d++)
        free(x->docs[d].t);
    free(x->terms);
    free(x->tab);
    free(x->docs);
    idmap_free(&x->ids);
    pthread_rwlock_destroy(&x->lock);
    free(x);
}

struct collect {
    bm25_t *x;
    uint32_t *tids;
    size_t n, cap;
    bool create; /* false: look terms up only (queries) */
};

static void collect_token(const char *tok, size_t n, void *ud)
{
    struct collect *c = ud;
    uint32_t tid;
    if (c->create) {
        tid = term_get(c->x, tok, n);
    } else if (!term_find(c->x, tok, n, hash_str(tok, n), &tid)) {
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->tids = xrealloc(c->tids, c->cap * sizeof *c->tids);
    }
    c->tids[c->n++] = tid;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted tids -> (tid, count) pairs; returns the pair count. */
static uint32_t runs(const uint32_t *tids, size_t n, struct tf_pair *out)
{
    uint32_t np = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && tids[j] == tids[i])
            j++;
        out[np++] = (struct tf_pair){tids[i], (uint32_t)(j - i)};
        i = j;
    }
    return np;
}

int bm25_add(bm25_t *x, uint64_t id, const char *text, size_t len)
{
    pthread_rwlock_wrlock(&x->lock);
    uint32_t slot;
    if (idmap_get(&x->ids, id, &slot)) {
        pthread_rwlock_unlock(&x->lock);
        return RAGD_EEXIST;
    }
    if (x->n_alive >= UINT32_MAX - 1) {
        pthread_rwlock_unlock(&x->lock);
        return RAGD_ELIMIT;
    }
    struct collect c = {.x = x, .create = true};
    bm25_tokenize(text, len, x->o.stopwords, collect_token, &c);
    if (c.n > UINT32_MAX) c.n = UINT32_MAX;
    if (c.n > 1) /* a text without terms leaves c.tids NULL: qsort needs a valid pointer */
        qsort(c.tids, c.n, sizeof *c.tids, cmp_u32);
    struct tf_pair *pairs = xmalloc((c.n ? c.n : 1) * sizeof *pairs);
    uint32_t np = runs(c.tids, c.n, pairs);
    pairs = xrealloc(pairs, (np ? np : 1) * sizeof *pairs);
    doc_append(x, id, pairs, np, (uint32_t)c.n);
    free(c.tids);
    pthread_rwlock_unlock(&x->lock);
    return 0;
}

int bm25_remove(bm25_t *x, uint64_t id)
{
    pthread_rwlock_wrlock(&x->lock);
    uint32_t slot;
    if (!idmap_get(&x->ids, id, &slot)) {
        pthread_rwlock_unlock(&x->lock);
        return RAGD_ENOTFOUND;
    }
    struct doc *d = &x->docs[slot];
    for (uint32_t i = 0; i < d->nt; i++)
        if (--x->terms[d->t[i].tid].df == 0) x->live_terms--;
    free(d->t);
    d->t = NULL;
    d->nt = 0;
    d->alive = false;
    x->total_len -= d->len;
    x->n_alive--;
    x->n_dead++;
    idmap_del(&x->ids, id);
    if (x->n_dead >= 64 && x->n_dead > x->n_alive) compact(x);
    pthread_rwlock_unlock(&x->lock);
    return 0;
}

bool bm25_contains(bm25_t *x, uint64_t id)
{
    uint32_t slot;
    pthread_rwlock_rdlock(&x->lock);
    bool r = idmap_get(&x->ids, id, &slot);
    pthread_rwlock_unlock(&x->lock);
    return r;
}

size_t bm25_count(bm25_t *x)
{
    pthread_rwlock_rdlock(&x->lock);
    size_t n = x->n_alive;
    pthread_rwlock_unlock(&x->lock);
    return n;
}

size_t bm25_term_count(bm25_t *x)
{
    pthread_rwlock_rdlock(&x->lock);
    size_t n = x->live_terms;
    pthread_rwlock_unlock(&x->lock);
    return n;
}

/* ---- search ---- */

/* a is worse than b: lower score, or equal score and larger id */
static bool worse(const rag_hit_t *a, const rag_hit_t *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

/* min-heap with the worst hit on top */
static void heap_down(rag_hit_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (r < n && worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        rag_hit_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(rag_hit_t *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(&h[i], &h[p])) return;
        rag_hit_t t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static int cmp_hit_desc(const void *a, const void *b)
{
    const rag_hit_t *x = a, *y = b;
    if (worse(x, y)) return 1;
    if (worse(y, x)) return -1;
    return 0;
}

struct qterm {
    uint32_t tid, qtf;
};

int bm25_search(bm25_t *x, const char *query, size_t qlen, size_t k, rag_filter_fn filter, void *ud,
                rag_hit_t *out, size_t *n)
{
    *n = 0;
    if (k == 0) return RAGD_EINVAL;
    pthread_rwlock_rdlock(&x->lock);
    struct collect c = {.x = x, .create = false};
    bm25_tokenize(query, qlen, x->o.stopwords, collect_token, &c);
    if (c.n == 0 || x->n_alive == 0) {
        free(c.tids);
        pthread_rwlock_unlock(&x->lock);
        return 0;
    }
    qsort(c.tids, c.n, sizeof *c.tids, cmp_u32);
    struct tf_pair *q = xmalloc(c.n * sizeof *q);
    uint32_t nq = runs(c.tids, c.n, q);
    if (nq > MAX_QUERY_TERMS) nq = MAX_QUERY_TERMS;
    free(c.tids);

    float *acc = xcalloc(x->ndocs, sizeof *acc);
    uint32_t *touched = NULL;
    size_t nt = 0, cap = 0;
    double N = x->n_alive;
    double avg = x->total_len ? (double)x->total_len / N : 1.0;
    float k1 = x->o.k1, b = x->o.b;
    for (uint32_t i = 0; i < nq; i++) {
        const struct term *t = &x->terms[q[i].tid];
        if (t->df == 0) continue;
        double idf = log(1.0 + (N - t->df + 0.5) / (t->df + 0.5));
        float w = (float)(idf * q[i].tf);
        for (uint32_t j = 0; j < t->np; j++) {
            const struct posting *p = &t->p[j];
            const struct doc *d = &x->docs[p->doc];
            if (!d->alive) continue;
            float tf = (float)p->tf;
            float norm = k1 * (1.0f - b + b * (float)(d->len / avg));
            if (acc[p->doc] == 0.0f) {
                if (nt == cap) {
                    cap = cap ? cap * 2 : 256;
                    touched = xrealloc(touched, cap * sizeof *touched);
                }
                touched[nt++] = p->doc;
            }
            acc[p->doc] += w * tf * (k1 + 1.0f) / (tf + norm);
        }
    }
    size_t hn = 0;
    for (size_t i = 0; i < nt; i++) {
        rag_hit_t h = {x->docs[touched[i]].id, acc[touched[i]]};
        if (hn == k && !worse(&out[0], &h)) continue;
        if (filter && !filter(h.id, ud)) continue;
        if (hn < k) {
            out[hn++] = h;
            heap_up(out, hn - 1);
        } else {
            out[0] = h;
            heap_down(out, hn, 0);
        }
    }
    if (hn > 1) qsort(out, hn, sizeof *out, cmp_hit_desc);
    *n = hn;
    free(touched);
    free(acc);
    free(q);
    pthread_rwlock_unlock(&x->lock);
    return 0;
}

/* ---- persistence ----
 * payload v1: f32 k1, f32 b, u32 flags (bit 0: stopwords), u32 nterms,
 *   nterms x (u32 len, bytes), u32 ndocs, ndocs x (u64 id, u32 len, u32 npairs,
 *   npairs x (u32 tid, u32 tf)). Only live docs and terms are written. */

int bm25_save(bm25_t *x, const char *path)
{
    pthread_rwlock_rdlock(&x->lock);
    rfile_writer_t *w;
    int rc = rfile_write_open(path, FILE_MAGIC, FILE_VERSION, &w);
    if (rc) {
        pthread_rwlock_unlock(&x->lock);
        return rc;
    }
    uint32_t *newtid = xmalloc((x->nterms + 1) * sizeof *newtid);
    uint32_t nlive = 0;
    for (uint32_t t = 0; t < x->nterms; t++)
        newtid[t] = x->terms[t].df ? nlive++ : UINT32_MAX;
    rfile_put_f32(w, x->o.k1);
    rfile_put_f32(w, x->o.b);
    rfile_put_u32(w, x->o.stopwords ? 1 : 0);
    rfile_put_u32(w, nlive);
    for (uint32_t t = 0; t < x->nterms; t++) {
        if (!x->terms[t].df) continue;
        rfile_put_u32(w, x->terms[t].len);
        rfile_put(w, x->terms[t].s, x->terms[t].len);
    }
    rfile_put_u32(w, x->n_alive);
    for (uint32_t d = 0; d < x->ndocs; d++) {
        const struct doc *dc = &x->docs[d];
        if (!dc->alive) continue;
        rfile_put_u64(w, dc->id);
        rfile_put_u32(w, dc->len);
        rfile_put_u32(w, dc->nt);
        for (uint32_t i = 0; i < dc->nt; i++) {
            rfile_put_u32(w, newtid[dc->t[i].tid]);
            rfile_put_u32(w, dc->t[i].tf);
        }
    }
    free(newtid);
    pthread_rwlock_unlock(&x->lock);
    return rfile_write_commit(w);
}

static int load_from(rfile_reader_t *r, bm25_t **out)
{
    bm25_t *x = NULL;
    uint32_t *seen = NULL;
    bm25_opts_t o;
    uint32_t flags, nterms, ndocs;
    int rc;
    if ((rc = rfile_get_f32(r, &o.k1)) || (rc = rfile_get_f32(r, &o.b)) ||
        (rc = rfile_get_u32(r, &flags)) || (rc = rfile_get_u32(r, &nterms)))
        goto fail;
    o.stopwords = flags & 1;
    rc = RAGD_EFORMAT;
    if ((flags & ~1u) || !opts_valid(&o) || nterms > rfile_remaining(r) / 5) goto fail;
    if ((rc = bm25_create(&o, &x))) goto fail;
    char buf[BM25_MAX_TOKEN];
    for (uint32_t t = 0; t < nterms; t++) {
        uint32_t len, tid;
        if ((rc = rfile_get_u32(r, &len))) goto fail;
        if (len == 0 || len > BM25_MAX_TOKEN) {
            rc = RAGD_EFORMAT;
            goto fail;
        }
        if ((rc = rfile_get(r, buf, len))) goto fail;
        if (term_find(x, buf, len, hash_str(buf, len), &tid)) {
            rc = RAGD_EFORMAT; /* duplicate term */
            goto fail;
        }
        term_get(x, buf, len);
    }
    if ((rc = rfile_get_u32(r, &ndocs))) goto fail;
    if (ndocs > rfile_remaining(r) / 16) {
        rc = RAGD_EFORMAT;
        goto fail;
    }
    seen = xcalloc(nterms + 1, sizeof *seen);
    for (uint32_t d = 0; d < ndocs; d++) {
        uint64_t id;
        uint32_t len, np, slot;
        if ((rc = rfile_get_u64(r, &id)) || (rc = rfile_get_u32(r, &len)) ||
            (rc = rfile_get_u32(r, &np)))
            goto fail;
        if (np > rfile_remaining(r) / 8 || idmap_get(&x->ids, id, &slot)) {
            rc = RAGD_EFORMAT;
            goto fail;
        }
        struct tf_pair *pairs = xmalloc((np ? np : 1) * sizeof *pairs);
        uint64_t sum = 0;
        for (uint32_t i = 0; i < np; i++) {
            if ((rc = rfile_get_u32(r, &pairs[i].tid)) || (rc = rfile_get_u32(r, &pairs[i].tf)))
                break;
            if (pairs[i].tid >= nterms || pairs[i].tf == 0 || seen[pairs[i].tid] == d + 1) {
                rc = RAGD_EFORMAT;
                break;
            }
            seen[pairs[i].tid] = d + 1;
            sum += pairs[i].tf;
        }
        if (!rc && sum != len) rc = RAGD_EFORMAT;
        if (rc) {
            free(pairs);
            goto fail;
        }
        doc_append(x, id, pairs, np, len);
    }
    /* every stored term must be used by some chunk (only live terms are written) */
    if (x->live_terms != nterms) {
        rc = RAGD_EFORMAT;
        goto fail;
    }
    if ((rc = rfile_read_finish(r))) goto fail;
    free(seen);
    *out = x;
    return 0;
fail:
    free(seen);
    bm25_free(x);
    return rc;
}

int bm25_load(const char *path, bm25_t **out)
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

int bm25_load_mem(const void *data, size_t len, bm25_t **out)
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
