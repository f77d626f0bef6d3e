/* hybrid.h - search routes over the lexical (bm25.h) and vector (hnsw.h) indexes: exact,
 * vector, hybrid fusion and an automatic route chosen from the query's shape.
 *
 * Fusion (weights from the caller):
 *   HYBRID_FUSE_WEIGHTED  each list's scores are min-max normalised to [0, 1] over its
 *                         candidates (one candidate, or all equal: 1.0), then
 *                         score = w_lexical * lex + w_vector * vec (0 where a chunk is
 *                         missing from a list). Scores are comparable between queries.
 *   HYBRID_FUSE_RRF       reciprocal rank fusion: score = sum of w / (rrf_k + rank),
 *                         rank counted from 1 in each list. Robust to score scales.
 *
 * Automatic routing (hybrid_choose_route), first rule that matches:
 *   1. vector search unavailable (no embedder, empty vector index)     -> exact
 *   2. a quoted phrase ("..." or “...”)                                 -> exact
 *   3. a code or identifier: a token mixing letters and digits (E11.9, A1C, v2), or with
 *      '_', '-', '.', '/', ':' or '#' between letters/digits (ABC-123, snake_case, a/b)  -> exact
 *   4. one or two words and no question mark (keyword lookup)          -> exact
 *   5. a question (ends with '?' or starts with what/how/why/... or an instruction such
 *      as explain/describe/compare)                                    -> hybrid
 *   6. eight or more words (a description or pasted passage)           -> vector
 *   7. otherwise (three to seven keywords)                              -> hybrid
 *
 * Thread safety: stateless; hybrid_search is as concurrent as the indexes it reads. */
#ifndef RAGD_RAG_HYBRID_H
#define RAGD_RAG_HYBRID_H

#include "rag/bm25.h"
#include "rag/hnsw.h"
#include "rag/rag.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum hybrid_route {
    HYBRID_AUTO = 0,
    HYBRID_EXACT,  /* lexical (BM25) only */
    HYBRID_VECTOR, /* vector (HNSW) only */
    HYBRID_HYBRID, /* both, fused */
} hybrid_route_t;

typedef enum hybrid_fusion {
    HYBRID_FUSE_WEIGHTED = 0,
    HYBRID_FUSE_RRF,
} hybrid_fusion_t;

typedef struct hybrid_opts {
    hybrid_fusion_t fusion; /* default weighted */
    float w_lexical;        /* default 0.4 (>= 0) */
    float w_vector;         /* default 0.6 (>= 0); both 0 is invalid */
    float rrf_k;            /* default 60 (> 0) */
    size_t candidates;      /* per-list candidates fetched for fusion; 0 = max(4k, 50) */
} hybrid_opts_t;

/* One fused result. lexical/vector are the raw scores from each index (BM25 score, cosine
 * similarity), NAN where the chunk was not among that list's candidates. */
typedef struct hybrid_hit {
    uint64_t id;
    float score;
    float lexical;
    float vector;
} hybrid_hit_t;

/* Defaults as above. Cannot fail. */
void hybrid_opts_default(hybrid_opts_t *o);

/* Static names "auto", "exact", "vector", "hybrid". */
const char *hybrid_route_name(hybrid_route_t r);
/* Parse a route name (also "lexical"/"text" for exact and "semantic" for vector);
 * case-insensitive. RAGD_EINVAL for anything else. */
int hybrid_route_parse(const char *s, hybrid_route_t *out);

/* Pick exact / vector / hybrid for query[0..len) by the rules above. *reason (if not NULL)
 * receives a static, human-readable explanation. Never returns HYBRID_AUTO. Cannot fail. */
hybrid_route_t hybrid_choose_route(const char *query, size_t len, bool vector_available,
                                   const char **reason);

/* Fuse two ranked lists (each best first, ids unique within a list) into the top k; out
 * must hold k hits; *n receives the count. Weighted fusion ignores a list whose weight is
 * 0. RAGD_EINVAL for k == 0 or invalid options. */
int hybrid_fuse(const rag_hit_t *lex, size_t nl, const rag_hit_t *vec, size_t nv,
                const hybrid_opts_t *opts, size_t k, hybrid_hit_t *out, size_t *n);

/* Run a search by route. lex is required; vec and qvec may be NULL (then vector search is
 * unavailable, and vector / hybrid / auto fall back to exact). opts may be NULL for the
 * defaults. filter applies to both indexes. For the exact and vector routes the hit's
 * score is the index's own score. *used receives the route actually run (never AUTO).
 * qvec must hold hnsw_dim(vec) floats (not checkable here). Returns 0, or RAGD_EINVAL for
 * k == 0, lex == NULL, invalid options or a zero / non-finite qvec on a vector route. */
int hybrid_search(bm25_t *lex, hnsw_t *vec, const char *query, size_t qlen, const float *qvec,
                  size_t k, hybrid_route_t route, const hybrid_opts_t *opts, rag_filter_fn filter,
                  void *ud, hybrid_hit_t *out, size_t *n, hybrid_route_t *used);

#endif
