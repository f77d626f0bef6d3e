/* hybrid.c - route choice and score fusion for lexical + vector retrieval. */
#include "rag/hybrid.h"

#include "core/error.h"
#include "core/mem.h"
#include "rag/idmap.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void hybrid_opts_default(hybrid_opts_t *o)
{
    o->fusion = HYBRID_FUSE_WEIGHTED;
    o->w_lexical = 0.4f;
    o->w_vector = 0.6f;
    o->rrf_k = 60.0f;
    o->candidates = 0;
}

const char *hybrid_route_name(hybrid_route_t r)
{
    switch (r) {
    case HYBRID_AUTO:
        return "auto";
    case HYBRID_EXACT:
        return "exact";
    case HYBRID_VECTOR:
        return "vector";
    case HYBRID_HYBRID:
        return "hybrid";
    }
    return "unknown";
}

int hybrid_route_parse(const char *s, hybrid_route_t *out)
{
    static const struct {
        const char *name;
        hybrid_route_t r;
    } names[] = {
        {"auto", HYBRID_AUTO},     {"exact", HYBRID_EXACT},   {"lexical", HYBRID_EXACT},
        {"text", HYBRID_EXACT},    {"vector", HYBRID_VECTOR}, {"semantic", HYBRID_VECTOR},
        {"hybrid", HYBRID_HYBRID},
    };
    if (!s) return RAGD_EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].r;
            return 0;
        }
    }
    return RAGD_EINVAL;
}

/* ---- route choice ---- */

static const char *const question_words[] = {
    "what",      "why",    "how",  "when", "where",   "who",      "whom", "whose",   "which",
    "is",        "are",    "was",  "were", "can",     "could",    "does", "do",      "did",
    "should",    "would",  "will", "may",  "explain", "describe", "tell", "compare", "summarize",
    "summarise", "define", "give", "show", "list",    "help",     NULL,
};

static bool is_alnum_u(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

hybrid_route_t hybrid_choose_route(const char *q, size_t len, bool vector_available,
                                   const char **reason)
{
    const char *dummy;
    if (!reason) reason = &dummy;
    if (!vector_available) {
        *reason = "vector search unavailable";
        return HYBRID_EXACT;
    }
    /* quoted phrase: two straight double quotes, or a curly pair */
    size_t quotes = 0;
    bool curly_open = false, curly_pair = false;
    for (size_t i = 0; i < len; i++) {
        if (q[i] == '"') quotes++;
        if (i + 3 <= len && (unsigned char)q[i] == 0xE2 && (unsigned char)q[i + 1] == 0x80) {
            if ((unsigned char)q[i + 2] == 0x9C)
                curly_open = true;
            else if ((unsigned char)q[i + 2] == 0x9D && curly_open)
                curly_pair = true;
        }
    }
    if (quotes >= 2 || curly_pair) {
        *reason = "quoted phrase";
        return HYBRID_EXACT;
    }
    /* words, codes and the first word */
    size_t words = 0;
    bool code = false;
    char first[16] = "";
    for (size_t i = 0; i < len;) {
        while (i < len && !is_alnum_u((unsigned char)q[i]))
            i++;
        if (i >= len) break;
        size_t a = i;
        bool alpha = false, digit = false, joined = false;
        while (i < len) {
            unsigned char c = (unsigned char)q[i];
            if (isdigit(c)) {
                digit = true;
            } else if (isalpha(c) || c >= 0x80) {
                alpha = true;
            } else if ((c == '_' || c == '-' || c == '.' || c == '/' || c == ':' || c == '#') &&
                       i + 1 < len && is_alnum_u((unsigned char)q[i + 1])) {
                joined = true;
            } else {
                break;
            }
            i++;
        }
        if (words == 0) {
            size_t fl = i - a < sizeof first - 1 ? i - a : sizeof first - 1;
            for (size_t k = 0; k < fl; k++)
                first[k] = (char)tolower((unsigned char)q[a + k]);
            first[fl] = '\0';
        }
        words++;
        if ((alpha && digit) || joined) code = true;
    }
    if (code) {
        *reason = "code or identifier";
        return HYBRID_EXACT;
    }
    size_t e = len;
    while (e > 0 && isspace((unsigned char)q[e - 1]))
        e--;
    bool qmark = e > 0 && q[e - 1] == '?';
    if (words <= 2 && !qmark) {
        *reason = "short keyword query";
        return HYBRID_EXACT;
    }
    bool qword = false;
    for (int i = 0; question_words[i]; i++)
        if (strcmp(first, question_words[i]) == 0) qword = true;
    if (qmark || qword) {
        *reason = "natural-language question";
        return HYBRID_HYBRID;
    }
    if (words >= 8) {
        *reason = "long descriptive query";
        return HYBRID_VECTOR;
    }
    *reason = "keyword query";
    return HYBRID_HYBRID;
}

/* ---- fusion ---- */

static bool opts_valid(const hybrid_opts_t *o)
{
    return isfinite(o->w_lexical) && isfinite(o->w_vector) && o->w_lexical >= 0 &&
           o->w_vector >= 0 && (o->w_lexical > 0 || o->w_vector > 0) && isfinite(o->rrf_k) &&
           o->rrf_k > 0 && (o->fusion == HYBRID_FUSE_WEIGHTED || o->fusion == HYBRID_FUSE_RRF);
}

static int cmp_hit(const void *a, const void *b)
{
    const hybrid_hit_t *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void minmax(const rag_hit_t *h, size_t n, float *lo, float *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (h[i].score < *lo) *lo = h[i].score;
        if (h[i].score > *hi) *hi = h[i].score;
    }
}

int hybrid_fuse(const rag_hit_t *lex, size_t nl, const rag_hit_t *vec, size_t nv,
                const hybrid_opts_t *opts, size_t k, hybrid_hit_t *out, size_t *n)
{
    *n = 0;
    hybrid_opts_t o;
    if (opts)
        o = *opts;
    else
        hybrid_opts_default(&o);
    if (k == 0 || !opts_valid(&o)) return RAGD_EINVAL;
    if (o.fusion == HYBRID_FUSE_WEIGHTED) {
        if (o.w_lexical == 0) nl = 0;
        if (o.w_vector == 0) nv = 0;
    }
    hybrid_hit_t *all = xmalloc((nl + nv + 1) * sizeof *all);
    size_t na = 0;
    float llo, lhi, vlo, vhi;
    minmax(lex, nl, &llo, &lhi);
    minmax(vec, nv, &vlo, &vhi);
    for (size_t i = 0; i < nl; i++) {
        float s = o.fusion == HYBRID_FUSE_RRF
                      ? o.w_lexical / (o.rrf_k + (float)(i + 1))
                      : o.w_lexical * (lhi > llo ? (lex[i].score - llo) / (lhi - llo) : 1.0f);
        all[na++] = (hybrid_hit_t){lex[i].id, s, lex[i].score, NAN};
    }
    idmap_t pos = {0}; /* lexical id -> index in all */
    for (size_t i = 0; i < na; i++)
        idmap_put(&pos, all[i].id, (uint32_t)i);
    for (size_t i = 0; i < nv; i++) {
        float s = o.fusion == HYBRID_FUSE_RRF
                      ? o.w_vector / (o.rrf_k + (float)(i + 1))
                      : o.w_vector * (vhi > vlo ? (vec[i].score - vlo) / (vhi - vlo) : 1.0f);
        uint32_t j;
        if (idmap_get(&pos, vec[i].id, &j)) {
            all[j].score += s;
            all[j].vector = vec[i].score;
        } else {
            all[na++] = (hybrid_hit_t){vec[i].id, s, NAN, vec[i].score};
        }
    }
    idmap_free(&pos);
    qsort(all, na, sizeof *all, cmp_hit);
    *n = na < k ? na : k;
    memcpy(out, all, *n * sizeof *out);
    free(all);
    return 0;
}

/* ---- search ---- */

int hybrid_search(bm25_t *lex, hnsw_t *vec, const char *query, size_t qlen, const float *qvec,
                  size_t k, hybrid_route_t route, const hybrid_opts_t *opts, rag_filter_fn filter,
                  void *ud, hybrid_hit_t *out, size_t *n, hybrid_route_t *used)
{
    *n = 0;
    hybrid_opts_t o;
    if (opts)
        o = *opts;
    else
        hybrid_opts_default(&o);
    if (!lex || k == 0 || !opts_valid(&o)) return RAGD_EINVAL;
    bool vec_ok = vec && qvec && hnsw_count(vec) > 0;
    if (route == HYBRID_AUTO) route = hybrid_choose_route(query, qlen, vec_ok, NULL);
    if (!vec_ok) route = HYBRID_EXACT;
    *used = route;

    size_t cand =
        route == HYBRID_HYBRID ? (o.candidates ? o.candidates : (k * 4 > 50 ? k * 4 : 50)) : k;
    if (cand < k) cand = k;
    rag_hit_t *lh = NULL, *vh = NULL;
    size_t nl = 0, nv = 0;
    int rc = 0;
    if (route == HYBRID_EXACT || route == HYBRID_HYBRID) {
        lh = xmalloc(cand * sizeof *lh);
        if ((rc = bm25_search(lex, query, qlen, cand, filter, ud, lh, &nl))) goto out;
    }
    if (route == HYBRID_VECTOR || route == HYBRID_HYBRID) {
        vh = xmalloc(cand * sizeof *vh);
        if ((rc = hnsw_search(vec, qvec, cand, 0, filter, ud, vh, &nv))) goto out;
    }
    if (route == HYBRID_HYBRID) {
        rc = hybrid_fuse(lh, nl, vh, nv, &o, k, out, n);
    } else {
        const rag_hit_t *src = route == HYBRID_EXACT ? lh : vh;
        size_t ns = route == HYBRID_EXACT ? nl : nv;
        for (size_t i = 0; i < ns && i < k; i++) {
            out[i].id = src[i].id;
            out[i].score = src[i].score;
            out[i].lexical = route == HYBRID_EXACT ? src[i].score : NAN;
            out[i].vector = route == HYBRID_VECTOR ? src[i].score : NAN;
        }
        *n = ns < k ? ns : k;
    }
out:
    free(lh);
    free(vh);
    return rc;
}
