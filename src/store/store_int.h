/* store_int.h - small helpers shared by the store's own modules (not for callers outside
 * src/store/). */
#ifndef RAGD_STORE_INT_H
#define RAGD_STORE_INT_H

#include <stddef.h>
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

/* s with LIKE's wildcards and the escape character escaped ('\' is the ESCAPE character),
 * between pre and post ("%" or ""); the caller frees it. */
char *store_like_pattern(const char *s, const char *pre, const char *post);

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

/* Ends the transaction on c: rolls back and returns rc when rc is an error, else commits. */
static inline int finish(db_conn_t *c, int rc)
{
    if (rc) {
        db_rollback(c);
        return rc;
    }
    return db_commit(c);
}

#endif
