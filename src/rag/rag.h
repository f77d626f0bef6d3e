/* rag.h - types shared by the retrieval indexes (bm25.h, hnsw.h) and the fusion (hybrid.h).
 *
 * Items in every index are chunks named by a caller-chosen 64-bit chunk id. Searches take an
 * optional filter so the caller can restrict results to an organization or to metadata
 * without the indexes knowing about either. */
#ifndef RAGD_RAG_H
#define RAGD_RAG_H

#include <stdbool.h>
#include <stdint.h>

/* Return true to keep the chunk `id` in the results. Called from the searching thread while
 * the index holds its read lock: it must not call back into the same index's writers. */
typedef bool (*rag_filter_fn)(uint64_t id, void *ud);

/* One search result. Higher score is better; the scale depends on the index
 * (BM25: unbounded positive; HNSW: cosine similarity in [-1, 1]). */
typedef struct rag_hit {
    uint64_t id;
    float score;
} rag_hit_t;

#endif
