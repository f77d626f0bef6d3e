/* knowledge.h (store) - persistent data of the knowledge base: documents (the seed's MongoDB
 * document shape), their chunks with usage statistics, and chunk embeddings.
 *
 * Documents belong to an organization (organization_id, may be NULL for users without one),
 * have an owner, and may be shared with everybody (the demo corpus). A caller sees a
 * document when it is shared, when the caller owns it, or when both belong to the same
 * organization; every query that takes a `struct kscope` applies that rule in SQL.
 *
 * Chunks are numbered by an integer id that is also their id in the in-memory indexes.
 * Vectors are stored as base64url of little-endian float32 (the SQL layer binds text only).
 *
 * Functions use the calling thread's connection and return 0 or a negative RAGD_E* code
 * (RAGD_ENOTFOUND, RAGD_EUNAVAIL, RAGD_EDB). */
#ifndef RAGD_STORE_KNOWLEDGE_H
#define RAGD_STORE_KNOWLEDGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Registers the knowledge tables' migrations (200-219). Call before store_migrate(). */
void store_knowledge_register(void);

/* Who is looking: documents visible to this caller. */
struct kscope {
    const char *user_id;
    const char *org_id; /* NULL or "" when the user has no organization */
};

struct kdoc_new {
    char id[37]; /* filled in when empty */
    const char *organization_id, *owner_id;
    int shared;
    const char *title, *category, *source;
    const char *const *tags; /* ntags strings, borrowed */
    size_t ntags;
    json_t *metadata; /* the user's metadata object (user data), borrowed; NULL = {} */
    double importance;
    const char *mime_type; /* sniffed type name ("text", "markdown", "html", "pdf") */
    int64_t size_bytes;
    const char *sha256;
    const char *status; /* "pending" */
};

int store_doc_insert(struct kdoc_new *d);

/* A document record. Strings are owned by the record (store_kdoc_clear frees them); those
 * marked "or NULL" are NULL when the column is. */
struct kdoc {
    char id[37];
    char *title;             /* never NULL ("" when none) */
    char *category, *source; /* or NULL */
    char **tags;             /* ntags strings */
    size_t ntags;
    char *organization_id, *owner_id; /* or NULL */
    int shared;
    char *status;
    char *error;  /* or NULL */
    char *sha256; /* or NULL */
    int64_t size_bytes;
    char *mime_type; /* or NULL */
    int64_t chunk_count, pages;
    double importance;
    char *metadata; /* the user's metadata object as JSON text (user data; never NULL) */
    char *created_at, *updated_at;
    char *processed_at; /* or NULL */
    char *content;      /* NULL unless asked for (and NULL before extraction) */
};
void store_kdoc_clear(struct kdoc *d);
/* Frees items[0..n) and the array. */
void store_kdocs_free(struct kdoc *items, size_t n);

/* Fetches the document into *out (clear with store_kdoc_clear); with_content also reads its
 * extracted text. RAGD_ENOTFOUND when there is none. */
int store_doc_get(const char *id, int with_content, struct kdoc *out);
/* The user metadata of n documents as JSON text, in one query: json[i] (caller frees) for
 * ids[i], NULL for a document that is gone. */
int store_docs_metadata(const char *const *ids, size_t n, char **json);
/* 1 if the document exists and s may see it, 0 if not, negative on error. */
int store_doc_visible(const char *id, const struct kscope *s);

/* Status changes. error may be NULL. */
int store_doc_set_status(const char *id, const char *status, const char *error);
/* The document's text after extraction, its type, a title guess (used only when the stored
 * title is empty) and page count. */
int store_doc_set_content(const char *id, const char *content, const char *mime_type,
                          const char *title_guess, int pages);

struct kdoc_filter {
    const char *status, *category, *source; /* NULL = any */
};
/* A page of visible documents, newest first, without content: *items (free with
 * store_kdocs_free), *n of them, and *total matching documents. */
int store_doc_list(const struct kscope *s, const struct kdoc_filter *f, int64_t limit,
                   int64_t offset, struct kdoc **items, size_t *n, int64_t *total);

/* An identical visible document (same sha256, same organization or shared), for
 * de-duplication; RAGD_ENOTFOUND if none. */
int store_doc_find_sha(const char *sha, const char *org_id, int shared, char id_out[37]);

/* Deletes the document with its chunks and embeddings. *chunk_ids (caller frees) receives
 * the ids of the removed chunks so the caller can drop them from the indexes. */
int store_doc_delete(const char *id, int64_t **chunk_ids, size_t *n);
/* The same, also removing its stored upload, and appending the change-log entry (op
 * "delete", written by node) in the same transaction: a delete that committed is known to
 * every node. RAGD_ENOTFOUND when the document is gone already. */
int store_doc_erase(const char *id, const char *node, int64_t **chunk_ids, size_t *n);

/* ---- chunks ---- */

struct kchunk_new {
    int position;
    const char *text;
    size_t len;
    int64_t start, end, tokens;
    const float *vec; /* dim floats, or NULL without an embedding */
};

/* Replaces the document's chunks with chunks[0..n) (and their embeddings, model and dim),
 * sets chunk_count, status "ready" and error = note (NULL: none), all in one transaction. ids[0..n)
 * receive the new chunk ids; *old_ids (caller frees) the ids of chunks that were replaced. */
int store_chunks_replace(const char *doc_id, const struct kchunk_new *chunks, size_t n,
                         const char *model, uint32_t dim, const char *note, int64_t *ids,
                         int64_t **old_ids, size_t *n_old);

/* One chunk with what search results show. Strings owned by the struct. */
struct kchunk {
    int64_t id;
    char document_id[37];
    int position;
    char *title, *content;
    char *source, *category, *mime_type; /* the document's, or NULL */
    char **tags;                         /* the document's tags */
    size_t ntags;
    double importance;
    int64_t start, end;
    int64_t retrieval_count;
    char *last_accessed; /* or NULL */
    char *doc_metadata;  /* the document's user metadata as JSON text; NULL unless asked for */
};
void store_kchunk_clear(struct kchunk *c);
/* Fetches n chunks in one query: out[i] gets chunk ids[i] (clear it with store_kchunk_clear)
 * and found[i] says whether it exists (out[i] is zeroed when not); with_doc_metadata also
 * reads their documents' user metadata. */
int store_chunks_get(const int64_t *ids, size_t n, int with_doc_metadata, struct kchunk *out,
                     int *found);

/* Counts a retrieval of each chunk (usage_stats.retrieval_count, last_accessed). */
int store_chunks_touch(const int64_t *ids, size_t n);

/* What the index manager needs about every document that has chunks. */
struct kdoc_meta {
    const char *id, *organization_id, *owner_id, *category, *source, *tags; /* tags: JSON */
    int shared;
};
/* Calls fn for every ready document. Stops and returns fn's non-zero value. */
int store_doc_meta_foreach(int (*fn)(const struct kdoc_meta *m, void *ud), void *ud);
/* Calls fn(chunk id, document id, document title, text) for every chunk of ready documents. */
int store_chunk_foreach(int (*fn)(int64_t id, const char *doc_id, const char *title,
                                  const char *text, void *ud),
                        void *ud);
/* Calls fn(chunk id, vector) for every stored embedding of dimension dim. */
int store_embedding_foreach(uint32_t dim, int (*fn)(int64_t id, const float *vec, void *ud),
                            void *ud);
/* A chunk's text for embedding. Strings owned by the array (store_ktexts_free). */
struct ktext {
    int64_t id;
    char document_id[37];
    char *title, *content;
};
void store_ktexts_free(struct ktext *t, size_t n);
/* Up to limit chunks of ready documents that have no embedding by model with dimension dim
 * (stored before an embedder was configured, or by another one), lowest id first, after
 * after_id: *out (free with store_ktexts_free) and their number *n. */
int store_chunks_unembedded(uint32_t dim, const char *model, int64_t after_id, size_t limit,
                            struct ktext **out, size_t *n);
/* Stores (or replaces) the embedding of chunk id. RAGD_ENOTFOUND if the chunk is gone. */
int store_embedding_put(int64_t id, const char *model, uint32_t dim, const float *vec);
/* Number of chunks of ready documents, and of embeddings of dimension dim. */
int store_chunk_count(int64_t *chunks, uint32_t dim, int64_t *embeddings);

/* ---- uploads and ingestion claims: the shared ingestion queue ----
 * An upload's bytes are kept in the database until its ingestion ends, so any node can
 * ingest it. store_doc_claim atomically moves a document to "processing" for node when it is
 * pending, already claimed by node (a restart), or claimed before stale_before (a node that
 * died): 0 when claimed, RAGD_ECONFLICT when someone else holds it or it is finished. */
int store_upload_put(const char *doc_id, const void *data, size_t len);
/* *data (caller frees) is NUL-terminated after *len bytes. */
int store_upload_get(const char *doc_id, char **data, size_t *len);
int store_upload_delete(const char *doc_id);
int store_doc_claim(const char *doc_id, const char *node, const char *stale_before);
/* Documents node may claim: pending since before pending_before, or processing under node's
 * own or a stale claim. *ids (caller frees each and the array). */
int store_doc_claimable(const char *node, const char *pending_before, const char *stale_before,
                        size_t limit, char ***ids, size_t *n);

/* ---- change log: how nodes sharing one database keep their in-process indexes alike ----
 * Every index change (op "index": a document's chunks were (re)written, chunk_ids are the
 * chunks it replaced; op "delete": chunk_ids are the chunks removed) is appended with the
 * writing node's id; the other nodes poll for entries after the last one they applied. */
int store_kb_change_add(const char *doc_id, const char *op, const char *node, const int64_t *ids,
                        size_t n);
int store_kb_change_max(int64_t *seq);
/* Calls fn for up to limit entries after seq, oldest first. */
int store_kb_changes_since(int64_t seq, size_t limit,
                           int (*fn)(int64_t seq, const char *doc_id, const char *op,
                                     const char *node, const char *chunk_ids, void *ud),
                           void *ud);
/* Calls fn for every chunk of one document with its text and, if stored with dimension dim,
 * its vector (else NULL). */
int store_doc_chunks_foreach(const char *doc_id, uint32_t dim,
                             int (*fn)(int64_t id, const char *text, const float *vec, void *ud),
                             void *ud);

#endif
