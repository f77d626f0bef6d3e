/* store_int.h - small helpers shared by the store's own modules (not for callers outside
 * src/store/). */
#ifndef RAGD_STORE_INT_H
#define RAGD_STORE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/mem.h"
#include "core/util.h"
#include "store/db.h"

/* Fills one zeroed array element from the current row of r. */
typedef void (*store_row_fn)(db_rows_t *r, void *elem);
/* Frees an array of n elements and what they own. */
typedef void (*store_rows_free_fn)(void *arr, size_t n);

/* Reads every remaining row of r into a growing array of elem_size-byte elements, each
 * zeroed and then filled by row, and frees r. On success *out (owned by the caller; NULL
 * when there were no rows) and *n are set and 0 is returned. On a read error the elements
 * read so far are released with free_arr (plain free() when NULL), *out is NULL, *n is 0
 * and RAGD_EDB is returned. */
int store_rows_collect(db_rows_t *r, size_t elem_size, store_row_fn row,
                       store_rows_free_fn free_arr, void **out, size_t *n);
/* store_rows_collect for a page whose rows each carry the count of all in column total_col:
 * *total gets it (0 when the page has no row: the caller counts a page past the end). */
int store_page_collect(db_rows_t *r, size_t elem_size, store_row_fn row,
                       store_rows_free_fn free_arr, int total_col, int64_t *total, void **out,
                       size_t *n);

/* s with LIKE's wildcards and the escape character escaped ('\' is the ESCAPE character),
 * between pre and post ("%" or ""); the caller frees it. */
char *store_like_pattern(const char *s, const char *pre, const char *post);

/* The revocation epoch (store.c): a random value in the shared cache that every revocation of
 * a credential deletes once it is committed, so that a node may keep what it read about a
 * credential for as long as the epoch it read before reading it stays the same.
 * store_epoch_start queues the epoch's read to ride on the thread's next exchange with the
 * cache (0: no shared cache, or it is down); store_epoch_finish gives it (caller frees; NULL:
 * none, or ticket 0); store_epoch_renew sets a new one unless one is held (after a read found
 * none); store_epoch_end deletes it (after a revocation). */
enum { STORE_EPOCH_LEN = 32 };
uint64_t store_epoch_start(void);
char *store_epoch_finish(uint64_t ticket);
void store_epoch_renew(void);
void store_epoch_end(void);

/* What a node remembers about a credential under the epoch it read before reading it: tables
 * of n slots, a credential in the slot its id hashes to (the last one stored there wins).
 * store_vouch_get copies id's entry into *out: 1, or 0 when its slot holds another; the caller
 * then compares out->epoch with the epoch it read. store_vouch_put stores *v in its id's slot.
 * Thread-safe. */
struct store_vouch {
    char id[65], epoch[STORE_EPOCH_LEN + 1];
    char user_id[37], key_id[37]; /* an API key's owner and row */
    int64_t noted_ms;             /* an API key's last recorded use */
};
int store_vouch_get(struct store_vouch *table, size_t n, const char *id, struct store_vouch *out);
void store_vouch_put(struct store_vouch *table, size_t n, const struct store_vouch *v);

/* Copies src (NULL reads as "") into dst, truncating to cap. */
static inline void cp(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* NULL for NULL or "". */
static inline const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

/* An owned copy of s, "" for NULL. */
static inline char *dup0(const char *s)
{
    return xstrdup(s ? s : "");
}

/* The current time as ISO-8601 UTC in ts; returns ts. */
static inline char *now_iso(char ts[32])
{
    return time_iso(time_now_ms(), ts);
}

/* Ends the transaction on c: commits unless rc is an error, and rolls back when rc or the
 * COMMIT failed (a batch transaction's failures show at its COMMIT; a failed COMMIT on SQLite
 * leaves the transaction open). Returns the first error, or 0. */
static inline int finish(db_conn_t *c, int rc)
{
    if (!rc) rc = db_commit(c);
    if (rc) db_rollback(c);
    return rc;
}

#endif
