/* bm25.h - in-memory lexical index with Okapi BM25 ranking.
 *
 * Items are chunks named by a 64-bit chunk id. Text is tokenised by bm25_tokenize():
 * Unicode-aware (utf8proc) word splitting, lower-cased; letters, digits and combining marks
 * make words; every CJK ideograph / kana is a word of its own; words joined by '-', '.',
 * '_', '/', ':' or an apostrophe without spaces (codes such as "E11.9", "ABC-123",
 * "snake_case") also give the joined form as one extra token, so exact codes rank first.
 * Tokens are cut to 64 bytes. English stop words are dropped when the index is created with
 * stopwords = true (never from the joined forms).
 *
 * Scoring: idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5));
 *   score(d, q) = sum over query tokens t of idf(t) * tf * (k1 + 1) /
 *                 (tf + k1 * (1 - b + b * len(d) / avglen)).
 *
 * Removal is lazy (the chunk disappears from results at once; its postings are dropped by
 * a compaction that runs inside a later write once dead entries outnumber live ones).
 *
 * Thread safety: any number of concurrent bm25_search / bm25_save / read-only calls; writes
 * (add, remove) take an exclusive lock and wait for searches in progress. Writers are
 * preferred so a stream of searches cannot starve ingestion. */
#ifndef RAGD_RAG_BM25_H
#define RAGD_RAG_BM25_H

#include "rag/rag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bm25 bm25_t;

typedef struct bm25_opts {
    float k1;       /* term-frequency saturation; default 1.2 (0 < k1 <= 10) */
    float b;        /* length normalisation; default 0.75 (0 <= b <= 1) */
    bool stopwords; /* drop English stop words; default false */
} bm25_opts_t;

#define BM25_MAX_TOKEN 64

/* Defaults: k1 = 1.2, b = 0.75, stopwords = false. Cannot fail. */
void bm25_opts_default(bm25_opts_t *opts);

/* Create an empty index; opts may be NULL for the defaults. RAGD_EINVAL for out-of-range
 * parameters. On success the caller frees *out with bm25_free. */
int bm25_create(const bm25_opts_t *opts, bm25_t **out);
/* Free the index; NULL is a no-op. No other thread may be using it. */
void bm25_free(bm25_t *idx);

/* Index text[0..len) (UTF-8; invalid bytes separate words) as chunk id. RAGD_EEXIST if id
 * is already present (remove it first to replace it). Text without any token is indexed
 * as an empty chunk (it can be removed, never found). */
int bm25_add(bm25_t *idx, uint64_t id, const char *text, size_t len);
/* Remove chunk id; RAGD_ENOTFOUND if absent. */
int bm25_remove(bm25_t *idx, uint64_t id);
bool bm25_contains(bm25_t *idx, uint64_t id);
/* Live chunks and distinct live terms. */
size_t bm25_count(bm25_t *idx);
size_t bm25_term_count(bm25_t *idx);

/* Top-k chunks for query[0..qlen): hits go to out[0..*n) in descending score order (ties by
 * ascending id); *n <= k. out must have room for k hits. filter (may be NULL) is called
 * only for chunks that would enter the current top k, with ud. A query without any indexed
 * token gives *n = 0. Returns 0, or RAGD_EINVAL for k == 0. */
int bm25_search(bm25_t *idx, const char *query, size_t qlen, size_t k, rag_filter_fn filter,
                void *ud, rag_hit_t *out, size_t *n);

/* Write the index to path atomically (rfile.h format "RAGDBM25" version 1): parameters,
 * terms and each chunk's term frequencies. 0 or RAGD_EIO. */
int bm25_save(bm25_t *idx, const char *path);
/* Load an index saved by bm25_save (parameters come from the file). RAGD_ENOTFOUND if the
 * file is missing, RAGD_EIO if unreadable, RAGD_EFORMAT if corrupt or of another version:
 * the caller then rebuilds the index from its chunks. On success free *out with bm25_free. */
int bm25_load(const char *path, bm25_t **out);
/* The same from an in-memory file image. */
int bm25_load_mem(const void *data, size_t len, bm25_t **out);

/* Tokenise as the index does, calling emit(tok, tok_len, ud) for each token (not
 * NUL-terminated, valid only during the call). Cannot fail. */
void bm25_tokenize(const char *text, size_t len, bool stopwords,
                   void (*emit)(const char *tok, size_t tok_len, void *ud), void *ud);

#endif
