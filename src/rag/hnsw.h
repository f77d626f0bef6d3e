/* hnsw.h - approximate nearest-neighbour index (Hierarchical Navigable Small World graphs,
 * Malkov & Yashunin) over float32 vectors with cosine similarity.
 *
 * Vectors are normalised to unit length on insert (a zero or non-finite vector is refused),
 * so cosine similarity is a dot product; a result's score is the cosine similarity with the
 * query, in [-1, 1]. The dimension is fixed when the index is created (768 by default, as
 * all-mpnet-base-v2 gives).
 *
 * Graph: each node links to at most M others on the upper layers and 2*M on layer 0;
 * neighbours are chosen with the paper's heuristic (keep a candidate only if it is closer to
 * the new node than to every neighbour already kept). Deletion marks a node as a tombstone:
 * it is never returned and never reaches the filter, but still routes searches, so recall
 * does not drop after deletes. hnsw_compact() rebuilds the graph without tombstones; the
 * caller decides when (for example when hnsw_deleted() exceeds hnsw_count()).
 *
 * Thread safety: any number of concurrent searches / saves / read-only calls; insert,
 * delete and compact take an exclusive lock (one writer at a time, writers preferred).
 * Determinism: levels come from a seeded generator, so the same inserts in the same order
 * build the same graph. */
#ifndef RAGD_RAG_HNSW_H
#define RAGD_RAG_HNSW_H

#include "rag/rag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hnsw hnsw_t;

typedef struct hnsw_opts {
    uint32_t dim; /* vector dimension; default 768 (1..65536) */
    uint32_t M;   /* links per node on upper layers (2*M on layer 0); default 16 (2..128) */
    uint32_t ef_construction; /* candidate list size while inserting; default 200 (>= M) */
    uint32_t ef_search;       /* candidate list size while searching; default 64 (>= 1) */
    uint64_t seed;            /* level generator seed; default 42 */
} hnsw_opts_t;

/* Defaults as documented above. Cannot fail. */
void hnsw_opts_default(hnsw_opts_t *opts);

/* Create an empty index; opts may be NULL for the defaults. RAGD_EINVAL if a parameter is
 * out of range. Free *out with hnsw_free. */
int hnsw_create(const hnsw_opts_t *opts, hnsw_t **out);
/* Free the index; NULL is a no-op. No other thread may be using it. */
void hnsw_free(hnsw_t *h);

/* Insert vec[0..dim) as chunk id. RAGD_EEXIST if id is live already (delete it first to
 * replace it; a deleted id may be inserted again), RAGD_EINVAL for a zero or non-finite
 * vector, RAGD_ELIMIT past 2^31 nodes. */
int hnsw_insert(hnsw_t *h, uint64_t id, const float *vec);
/* Delete chunk id (tombstone; its vector is zeroed at once, so neither memory nor a file
 * saved afterwards keeps it). RAGD_ENOTFOUND if it is not live. */
int hnsw_delete(hnsw_t *h, uint64_t id);
/* Rebuild the graph from the live vectors, dropping tombstones. Cannot fail (aborts only on
 * out-of-memory). Blocks writers and searches for the duration of a full rebuild. */
void hnsw_compact(hnsw_t *h);

bool hnsw_contains(hnsw_t *h, uint64_t id);
size_t hnsw_count(hnsw_t *h);   /* live vectors */
size_t hnsw_deleted(hnsw_t *h); /* tombstones */
uint32_t hnsw_dim(const hnsw_t *h);
/* Change ef_search for later searches (>= 1). */
void hnsw_set_ef_search(hnsw_t *h, uint32_t ef);

/* The k vectors most similar to query[0..dim): hits to out[0..*n) by descending cosine
 * similarity (ties by ascending id); out must hold k hits. ef = 0 uses the index's
 * ef_search; the search list is max(ef, k) long. filter (may be NULL) is asked about live
 * candidates only; with a selective filter the search visits more of the graph (it keeps
 * going until it has k accepted hits or has exhausted what it can reach). RAGD_EINVAL for
 * k == 0 or a zero / non-finite query. */
int hnsw_search(hnsw_t *h, const float *query, size_t k, uint32_t ef, rag_filter_fn filter,
                void *ud, rag_hit_t *out, size_t *n);

/* Exact search by scanning every live vector (reference for tests and tiny indexes); same
 * contract as hnsw_search. */
int hnsw_search_exact(hnsw_t *h, const float *query, size_t k, rag_filter_fn filter, void *ud,
                      rag_hit_t *out, size_t *n);

/* Save to path atomically (rfile.h format "RAGDHNSW" version 1): parameters, vectors, graph
 * and tombstones, so a loaded index answers exactly as the saved one. 0 or RAGD_EIO. */
int hnsw_save(hnsw_t *h, const char *path);
/* Load a saved index. RAGD_ENOTFOUND if missing, RAGD_EIO if unreadable, RAGD_EFORMAT if
 * corrupt (bad checksum, inconsistent graph, other version): rebuild from stored vectors. */
int hnsw_load(const char *path, hnsw_t **out);
int hnsw_load_mem(const void *data, size_t len, hnsw_t **out);

#endif
