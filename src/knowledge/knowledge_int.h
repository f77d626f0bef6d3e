/* knowledge_int.h - what the files of knowledge/ share; nothing outside knowledge/ includes
 * it (the unit tests aside).
 *
 * The service is split by concern, one file each:
 *   knowledge.c   state, start and stop, health
 *   visibility.c  who may see and delete a document (the only place the rule lives in C)
 *   docmeta.c     the in-memory mirror of document metadata that search filters read
 *   index.c       the index manager: BM25 + HNSW, persistence (with a manifest naming the
 *                 store), reconcile with the store
 *   lexstats.c    BM25 statistics per visibility partition, for scores over what a caller
 *                 may see
 *   intake.c      uploads, deletions, the demo corpus
 *   ingest.c      the ingestion worker: extract -> chunk -> embed -> index, in a time budget
 *   queue.c       the job queue: local workers taking uploaders in turn, the shared Redis
 *                 list, the sweeper
 *   sync.c        the change log between nodes sharing one database
 *   backfill.c    embedding chunks stored without a vector
 *   search.c      routes, filters and ranking
 *   embcache.c    the query-embedding cache (in process, and shared through Redis)
 *
 * All state lives in one struct kn_state reached through kn(); knowledge_init fills it and
 * knowledge_shutdown empties it. */
#ifndef RAGD_KNOWLEDGE_INT_H
#define RAGD_KNOWLEDGE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ttlcache.h"
#include "core/workq.h"
#include "knowledge/knowledge.h"
#include "rag/bm25.h"
#include "rag/chunk.h"
#include "rag/hnsw.h"
#include "rag/idmap.h"
#include "store/knowledge.h"

/* ---- visibility ---- */

/* Who owns a document, as far as visibility goes. org: "" or NULL when none. */
struct kn_doc_access {
    const char *owner_id, *org_id;
    int shared;
};

/* 1 when caller c may see document d: d is shared, c owns it, or both belong to the same
 * organization. Being an administrator does not widen what one sees. The SQL twin of this
 * rule is the VISIBLE clause of store/knowledge.c; tests/unit/knowledge_visibility.c proves
 * they agree. Cannot fail. */
int kn_visible(const struct kn_caller *c, const struct kn_doc_access *d);
/* 1 when c may delete (or change) a document it can see: its owner or an administrator. */
int kn_may_modify(const struct kn_caller *c, const struct kn_doc_access *d);

/* ---- the document-metadata mirror ---- */

/* What search filters need about one document, kept in memory by chunk. */
struct kn_dmeta {
    char id[37], org[37], owner[37];
    int shared, live;
    char *category, *source;
    char **tags;
    int ntags;
};

/* Records document doc (creating or refreshing its slot) and maps ids[0..n) to it. */
void kn_meta_add_doc(const struct kdoc *doc, const int64_t *ids, size_t n);
/* Records document m without chunks (index load). */
void kn_meta_put(const struct kdoc_meta *m);
/* Maps chunk id to document doc_id if that document is known (index load). */
void kn_meta_map_chunk(int64_t id, const char *doc_id);
void kn_meta_drop_chunks(const int64_t *ids, size_t n);
void kn_meta_drop_doc(const char *doc_id);
/* Calls fn(d, ud) with the read lock held on the document that chunk id belongs to; returns
 * fn's value, or 0 when the chunk is unknown. fn must not call back into the mirror. */
int kn_meta_with_chunk(uint64_t id, int (*fn)(const struct kn_dmeta *d, void *ud), void *ud);
/* Frees every entry (shutdown). */
void kn_meta_clear_all(void);

/* ---- index manager ---- */

/* The text indexed for a chunk: the document title, a blank line, the chunk. Caller frees. */
char *kn_index_text(const char *title, const char *text, size_t len);
/* Removes chunks ids[0..n) from both indexes (compacting HNSW when it is mostly deleted). */
void kn_index_remove(const int64_t *ids, size_t n);
/* Loads the saved indexes and reconciles them with the store. 0 or an error with err set. */
int kn_index_load(char *err, size_t errcap);
/* Saves both indexes now. */
int kn_index_save(void);
/* Starts / stops the thread that saves dirty indexes every INDEX_SAVE_INTERVAL_SECONDS. */
void kn_saver_start(void);
void kn_saver_stop(void);
/* Marks the indexes changed: saved later, cached results forgotten. */
void kn_index_changed(void);
/* Forgets every cached search result (a generation bump) after a document change. */
void kn_results_invalidate(void);

/* ---- ingestion ---- */

/* Claims and ingests one document (see ingest.c). Safe to call twice for one id. */
void kn_ingest_doc(const char *id);

/* The upload a queued document came from, kept in memory from knowledge_submit until its
 * ingestion on this node begins (at most KN_ORIGINS_MAX documents; the oldest is forgotten
 * first). kn_origin_note copies request_id and filename (either may be NULL).
 * kn_origin_take fills request_id and filename ("" when unknown: another node took the
 * upload, or this one restarted since) and forgets the document. Thread-safe. */
enum { KN_ORIGINS_MAX = 1024 };
void kn_origin_note(const char *doc_id, const char *request_id, const char *filename);
void kn_origin_take(const char *doc_id, char request_id[65], char filename[256]);
/* Embeds texts[0..n) in batches into vecs (n * dim floats). 0, or the embedder's error with
 * its reason in err. */
int kn_embed_all(char **texts, size_t n, float *vecs, char *err, size_t errcap);

/* ---- job queue ---- */

/* Starts the local workers (INGEST_WORKERS) and, with the shared queue, its consumers. */
void kn_queue_start(int workers);
/* Stops consumers and workers after the jobs in hand. */
void kn_queue_stop(void);
/* Hands document id (uploaded by owner, may be NULL) to a worker: the shared list when in
 * use, else this node's queue. */
void kn_queue_dispatch(const char *id, const char *owner);
/* Queues id on this node in owner's lane (NULL: the lane of documents found by the
 * sweeper); workers take the lanes in turn. RAGD_ELIMIT when full or when this node has no
 * workers. */
int kn_queue_local(const char *id, const char *owner);
/* Runs fn(arg) on an ingestion worker (backfill). 0 or RAGD_ELIMIT. */
int kn_queue_submit(void (*fn)(void *), void *arg);
/* Queues documents nobody is working on; own: also this node's claims from before. */
void kn_queue_sweep(int own);

/* ---- lexical statistics per visibility partition (lexstats.c) ---- */

/* Creates the (empty) statistics; knowledge_init calls it before the indexes load. */
void kn_lex_init(void);
/* Records (or replaces) chunk id, whose document has visibility a, with its indexed text. */
void kn_lex_add(int64_t id, const struct kn_doc_access *a, const char *text, size_t len);
void kn_lex_remove(const int64_t *ids, size_t n);
/* Rescores hits[0..n) of query with BM25 statistics over the documents c may see, and sorts
 * them best first. */
void kn_lex_rescore(const struct kn_caller *c, const char *query, rag_hit_t *hits, size_t n);
/* Forgets everything (shutdown, rebuild). */
void kn_lex_clear(void);

/* ---- change log ---- */

void kn_sync_log(const char *doc_id, const char *op, const int64_t *ids, size_t n);
void kn_sync_start(void);
void kn_sync_stop(void);

/* ---- backfill ---- */

/* A worker job that embeds chunks stored without a vector of the configured embedder. */
void kn_backfill_job(void *arg);

/* ---- search ---- */

/* Frees one search-cache entry (the search cache's free function). */
void kn_search_cache_free(void *entry);

/* ---- query embeddings ---- */

/* The embedding of a search query (dim floats into out), from a cache when possible. */
int kn_embed_query(const char *text, float *out, char *err, size_t errcap);

/* ---- state ---- */

struct kn_lane; /* one uploader's queued documents (queue.c) */
struct kn_lex;  /* lexical statistics (lexstats.c) */

struct kn_state {
    char *dir, *index_dir;
    bm25_t *bm25;
    hnsw_t *hnsw; /* NULL without an embedder */
    uint32_t dim;

    pthread_rwlock_t meta_lock; /* docs, ndocs, chunk_doc */
    struct kn_dmeta *docs;
    size_t ndocs, capdocs;
    idmap_t chunk_doc; /* chunk id -> index in docs */

    workq_t *ingest, *touch;
    pthread_mutex_t lane_lock; /* the fair queue's lanes (queue.c) */
    struct kn_lane *lanes;
    struct kn_lex *lex; /* created on first use */
    size_t nlanes, caplanes, next_lane;
    atomic_long queued;
    atomic_long generation; /* bumped on every document change: invalidates cached results */
    atomic_int dirty;

    pthread_t saver;
    int saver_running;
    pthread_mutex_t saver_lock;
    pthread_cond_t saver_cond;
    int stopping;

    size_t max_bytes;
    int64_t doc_budget_ms;      /* INGEST_DOCUMENT_TIMEOUT_MS: processing time per document */
    pthread_mutex_t stray_lock; /* extractions left running past their budget */
    pthread_cond_t stray_cond;
    int stray, max_stray;
    size_t meta_max_bytes; /* DOCUMENT_METADATA_MAX_BYTES */
    int meta_max_depth;    /* DOCUMENT_METADATA_MAX_DEPTH */
    chunk_opts_t chunk;
    int64_t search_ttl_ms, embed_ttl_ms;
    ttlcache_t *search_cache, *embed_cache;
    int ready;

    char node[37];            /* this node (kept in the data dir), in claims and the change log */
    int64_t claim_timeout_ms; /* a claim older than this belongs to a dead node */
    int shared_queue;         /* jobs go through the shared cache queues (INGEST_QUEUE) */
    char queue_key[96];       /* that list: task_queue:ingest:<store id> */
    pthread_t *consumers;
    int nconsumers;

    int64_t sync_seq;  /* last change-log entry applied */
    char store_id[64]; /* the store's identity (kv "store_id"), written into index manifests */
    int64_t store_seq; /* the store's last change-log entry at start */
    /* How each index came to be at start: "loaded", or why it was rebuilt ("missing",
     * "other_store", "checksum_mismatch", "ahead_of_store", "corrupt", ...). Static. */
    const char *lexical_origin, *vector_origin;
    pthread_t syncer;
    int syncer_running;
    atomic_int sync_stop;
};

/* The service's state. Valid for the process's life; filled between knowledge_init and
 * knowledge_shutdown. */
struct kn_state *kn(void);

#endif
