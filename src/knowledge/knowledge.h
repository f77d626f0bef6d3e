/* knowledge.h - the knowledge service: document intake, the background ingestion queue
 * (extract -> chunk -> embed -> index), the index manager (BM25 + HNSW, persisted under the
 * data directory and reconciled with the store at start), search with routes and filters,
 * and the caches of seed 001 (query embeddings 24 h, search results 30 min, dropped whenever
 * a document changes).
 *
 * Visibility: a caller sees shared documents, its own, and those of its organization; the
 * rule lives once in SQL (store/knowledge.c) and once in C (kn_visible, knowledge_int.h), and
 * a unit test holds the two together. Searches only ever return chunks of visible documents.
 *
 * Index files are loaded only when index/manifest names this store (its id in the store's
 * kv table), a change-log position the store has reached and the files' checksums; else
 * they are rebuilt from the store (knowledge_stats says why).
 *
 * Configuration: DOCUMENT_MAX_BYTES (10 MiB), DOCUMENT_METADATA_MAX_BYTES (16384),
 * DOCUMENT_METADATA_MAX_DEPTH (8), CHUNK_SIZE (512 tokens), CHUNK_OVERLAP (50),
 * INGEST_WORKERS (2), INGEST_DOCUMENT_TIMEOUT_MS (120000: a document that takes longer fails),
 * INDEX_SAVE_INTERVAL_SECONDS (5), HNSW_M (16), HNSW_EF_CONSTRUCTION (200), HNSW_EF_SEARCH (64),
 * BM25_K1 (1.2), BM25_B (0.75), SEARCH_CACHE_TTL_SECONDS (1800), EMBEDDING_CACHE_TTL_SECONDS
 * (86400), and the embedder of llm/provider.h.
 *
 * All functions are thread-safe after knowledge_init. */
#ifndef RAGD_KNOWLEDGE_H
#define RAGD_KNOWLEDGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/knowledge.h"

/* Loads or rebuilds the indexes, starts the ingestion workers and re-queues documents left
 * unfinished by a previous run. Returns 0 or RAGD_EIO / RAGD_EDB with a message in err. */
int knowledge_init(const char *data_dir, char *err, size_t errcap);
/* Finishes queued ingestion, stops the workers and saves the indexes. */
void knowledge_shutdown(void);
/* While paused() returns non-zero, the ingestion workers start no new document (maintenance
 * pauses heavy work); queued documents wait and go on when it returns 0. NULL: never paused.
 * paused is called often from worker threads: it must be quick and thread-safe. */
void knowledge_set_pause_check(int (*paused)(void));

struct kn_caller {
    const char *user_id;
    const char *org_id; /* NULL or "" */
    int is_admin;
};

struct kn_upload {
    const void *data; /* the document's bytes (copied) */
    size_t len;
    const char *title, *category, *source; /* may be NULL */
    const char *const *tags;               /* ntags strings (borrowed) */
    size_t ntags;
    json_t *metadata;  /* the user's metadata object or NULL (user data, borrowed) */
    double importance; /* 0 = 1.0 */
    int shared;        /* visible to everybody (admins only; the caller checks) */
    /* Where it came from, for the ingestion's log lines (may be NULL): the upload's request
     * id and the uploaded file's name. */
    const char *request_id, *filename;
};

/* Checks the bytes (type sniffed from content), stores them, creates the document with
 * status "pending" and queues its ingestion. On success *doc is the document as stored
 * (clear with store_kdoc_clear). Errors, with a message in err:
 *   RAGD_ERANGE   larger than DOCUMENT_MAX_BYTES
 *   RAGD_EINVAL   empty, binary or not UTF-8 (PDFs are checked by the worker)
 *   RAGD_ELIMIT   the ingestion queue is full
 *   RAGD_EIO / RAGD_EDB / RAGD_EUNAVAIL */
int knowledge_submit(const struct kn_caller *c, const struct kn_upload *u, struct kdoc *doc,
                     char *err, size_t errcap);

/* Deletes a document visible to c with its chunks, vectors, index entries and cached
 * results. RAGD_ENOTFOUND if not visible, RAGD_EPERM if visible but neither c's own nor c an
 * admin. */
int knowledge_delete(const struct kn_caller *c, const char *doc_id);
/* The check of knowledge_delete alone: 0 when c may delete doc_id, else RAGD_ENOTFOUND,
 * RAGD_EPERM or a store error. */
int knowledge_delete_check(const struct kn_caller *c, const char *doc_id);
/* Erases document doc_id whoever owns it (the caller has decided it may): its row, upload,
 * chunks and vectors in one transaction with the change-log entry that makes every other
 * node drop it from its indexes; then this node's index entries, metadata and cached
 * results. Index files written after this hold none of its terms or vectors. Usable
 * before knowledge_init (store only). RAGD_ENOTFOUND when it is gone already. */
int knowledge_erase(const char *doc_id);

/* Effective upload limit in bytes. */
size_t knowledge_max_bytes(void);

/* Checks a document's user metadata (an object or NULL) against DOCUMENT_METADATA_MAX_BYTES
 * (16384, its compact JSON size) and DOCUMENT_METADATA_MAX_DEPTH (8 levels of nesting, the
 * object itself being the first). 0 with *bytes its stored size (0 for NULL), RAGD_ERANGE
 * when too large or RAGD_EINVAL when too deep, with a message in err. The metadata is stored
 * with the document and counts towards the uploader's storage. */
int knowledge_metadata_check(json_t *metadata, size_t *bytes, char *err, size_t errcap);

/* Documents waiting for or in ingestion. */
size_t knowledge_queue_length(void);
/* Waits until the queue is empty (CLI seeding, tests); up to timeout_ms. 0 or RAGD_ETIMEOUT. */
int knowledge_wait_idle(int64_t timeout_ms);

/* ---- search ---- */

enum kn_route { KN_AUTO, KN_VECTOR, KN_EXACT, KN_HYBRID };
const char *knowledge_route_name(enum kn_route r);
/* Parses "auto" / "vector" / "exact" / "hybrid" (also "semantic" = vector, "keyword" =
 * exact). 0 or RAGD_EINVAL. */
int knowledge_route_parse(const char *s, enum kn_route *out);

/* A set of accepted values for one filter key. set = 0: the key is not constrained; set = 1
 * with n = 0: nothing matches. Strings are borrowed. */
struct kn_strset {
    int set;
    const char *const *v;
    size_t n;
};

/* Metadata filters of a search: a chunk passes when its document matches every set key (for
 * tags: any of the document's tags is in the set). */
struct kn_filters {
    struct kn_strset category, source, tags, document_id;
    int shared; /* -1: any; 0 or 1: only unshared / shared documents */
};

struct kn_query {
    const char *text;
    size_t top_k; /* 1..100 */
    enum kn_route route;
    const struct kn_filters *filters; /* may be NULL (no filters) */
    double w_vector, w_keyword;       /* hybrid weights (>= 0, not both 0) */
    int vector_fallback;              /* route vector without an embedder falls back to exact */
    int with_doc_metadata; /* hits carry their document's user metadata (search responses) */
};

/* One search hit: the chunk with its document's fields, and its score. Owned by the result
 * it belongs to. */
struct kn_hit {
    struct kchunk chunk; /* chunk.doc_metadata only with kn_query.with_doc_metadata */
    double score;
    /* Hybrid route only (has_parts): the normalised parts of score; NAN where a chunk was
     * found by one method alone. */
    int has_parts;
    double score_vector, score_keyword;
};

enum { KN_METHOD_VECTOR = 1, KN_METHOD_KEYWORD = 2 };

struct kn_result {
    struct kn_hit *hits; /* best first */
    size_t nhits;
    enum kn_route used;   /* the route that ran */
    unsigned methods;     /* KN_METHOD_* that ran: vector is listed before keyword */
    int cached, fallback; /* served from the cache; vector was asked for but unavailable */
    double ms;
};

/* Runs a search for c. On success fills *res (free with knowledge_result_free). Errors:
 * RAGD_EUNAVAIL with a message when the vector route is asked for explicitly (without
 * vector_fallback) and no embedder is configured or it failed; store errors. */
int knowledge_search(const struct kn_caller *c, const struct kn_query *q, struct kn_result *res,
                     char *err, size_t errcap);
/* Frees the hits of res and empties it. Cannot fail. */
void knowledge_result_free(struct kn_result *res);

/* 1 when an embedder is configured (vector route available). */
int knowledge_vector_available(void);

/* Figures for /health/detailed. */
struct kn_stats {
    int ready;      /* knowledge_init succeeded */
    int64_t chunks; /* in the lexical index */
    int64_t chunks_stored;
    int64_t bm25_terms;
    int64_t vectors;
    int vector_search;
    int64_t documents_queued;
    int64_t search_cache_hits, search_cache_misses;
    int64_t embedding_cache_hits, embedding_cache_misses;
    /* How each index came to be at start: "loaded" from its file, or the reason it was
     * rebuilt from the store ("missing", "no_manifest", "other_store" (a file written for
     * another store), "checksum_mismatch", "ahead_of_store", "corrupt", ...). NULL for the
     * vector index without an embedder. Static strings. */
    const char *lexical_origin, *vector_origin;
};
/* Fills *st. Cannot fail (a store error leaves chunks_stored 0). */
void knowledge_stats(struct kn_stats *st);

/* ---- demo corpus ---- */

/* What seeding did to one file. */
struct kn_seeded {
    char *source;         /* "docs/<path>" */
    const char *status;   /* "queued", "exists", "failed", "unreadable" (static) */
    char document_id[37]; /* for queued and exists, else "" */
    char *error;          /* for failed, else NULL */
};
struct kn_seed_summary {
    size_t files, ingested, skipped, failed;
    struct kn_seeded *docs; /* files entries, in order */
};
/* Ingests every *.md file under dir (recursively, sorted) as shared documents with category
 * "ragd-docs" and source "docs/<path>", skipping files already present (same content).
 * Fills *summary (release with knowledge_seed_summary_free). Returns 0. */
int knowledge_seed_dir(const char *dir, const char *owner_id, struct kn_seed_summary *summary);
void knowledge_seed_summary_free(struct kn_seed_summary *s);
/* The demo corpus directory: KNOWLEDGE_DOCS_DIR, else the first existing of ./docs and
 * docs/ next to the executable or two levels up (build/<flavour>/ragd). NULL if none. */
const char *knowledge_docs_dir(void);

#endif
