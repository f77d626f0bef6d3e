/* db_int.h - the backend side of db.h: the table each SQL backend implements and the row-set
 * builder they fill. For store/db.c, sqlite.c and postgres.c only; callers use db.h. */
#ifndef RAGD_DB_INT_H
#define RAGD_DB_INT_H

#include <stdarg.h>

#include "store/db.h"

struct db_ops {
    const char *name;
    int (*connect)(const char *url, void **handle, char *err, size_t errcap);
    void (*disconnect)(void *handle);
    /* Runs sql with params; *changes gets the affected row count. */
    int (*exec)(void *handle, const char *sql, const char *types, va_list ap, int64_t *changes);
    /* Runs a query; rows are read with the db_rows functions. */
    int (*query)(void *handle, const char *sql, const char *types, va_list ap, db_rows_t **rows);
    /* Runs a query after everything the open transaction did, then commits it (see
     * db_commit_query). NULL: query, then COMMIT by script. */
    int (*query_commit)(void *handle, const char *sql, const char *types, va_list ap,
                        db_rows_t **rows);
    int (*script)(void *handle, const char *sql); /* several statements, no params */
    /* Starts a write transaction serialised with every other one holding the same key
     * (NULL: one key for all). */
    int (*begin)(void *handle, const char *key);
    /* As begin, for a transaction of writes only whose statements may be held back and sent
     * with the COMMIT (see db_begin_batch). NULL: begin is used. */
    int (*begin_batch)(void *handle, const char *key);
    int (*ping)(void *handle);
};

/* Backend implementations. */
extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_postgres_ops;

/* Row sets are built by backends through this small API. */
db_rows_t *db_rows_new(int ncols);
void db_rows_add_row(db_rows_t *r);
void db_rows_set(db_rows_t *r, int col, const char *text, size_t len); /* text NULL = NULL */

#endif
