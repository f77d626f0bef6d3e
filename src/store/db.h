/* db.h - the SQL connection interface that store/ is written against.
 *
 * One SQL dialect for all backends: '?' placeholders, TEXT timestamps in ISO-8601 UTC
 * (core/util.h time_iso), TEXT UUIDs, TEXT JSON. The backend (sqlite.c now, postgres.c later)
 * is chosen once from DATABASE_URL by db_open(); nothing outside store/ sees which is live.
 * Backends implement struct db_ops (db_int.h).
 *
 * Parameters are given by a type string, one letter each:
 *   's' const char *  (NULL binds SQL NULL)     'i' int64_t
 *   'd' double                                   'b' int, bound as 0/1
 *
 * Connections are per thread: db_conn() returns the calling thread's connection, opening it
 * on first use. Statements are prepared once per connection and cached by SQL text address,
 * so pass string literals. */
#ifndef RAGD_DB_H
#define RAGD_DB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db_conn db_conn_t;
typedef struct db_rows db_rows_t;

/* Opens the database named by url ("sqlite:///abs/path.db", "sqlite://rel/path.db", a bare
 * path, or later "postgresql://..."). Must be called once before db_conn(). Returns 0 or
 * RAGD_EDB / RAGD_EINVAL with a message in err. */
int db_open(const char *url, char *err, size_t errcap);
/* Closes every thread's connection. */
void db_close(void);
/* The backend's name ("sqlite", "postgresql"). */
const char *db_backend(void);

/* The calling thread's connection, or NULL if it cannot connect (logged). */
db_conn_t *db_conn(void);

/* Executes one statement. Returns 0, RAGD_EEXIST on a unique-constraint violation,
 * RAGD_EUNAVAIL when the database is unreachable, or RAGD_EDB. *changes may be NULL. */
int db_exec(db_conn_t *c, int64_t *changes, const char *sql, const char *types, ...);

/* Runs a query. On success *rows is positioned before the first row; the caller must call
 * db_rows_free. */
int db_query(db_conn_t *c, db_rows_t **rows, const char *sql, const char *types, ...);
/* Advances: 1 when a row is available, 0 at the end, negative on error. */
int db_rows_next(db_rows_t *r);
/* Column values of the current row. Text is owned by the row set, valid until the next
 * db_rows_next or db_rows_free; NULL for SQL NULL. */
const char *db_col_text(db_rows_t *r, int col);
int64_t db_col_int(db_rows_t *r, int col);
double db_col_double(db_rows_t *r, int col);
int db_col_null(db_rows_t *r, int col);
void db_rows_free(db_rows_t *r);

/* Single-value helpers: the first column of the first row. RAGD_ENOTFOUND if no row.
 * db_query_text returns a copy the caller frees. */
int db_query_int(db_conn_t *c, int64_t *out, const char *sql, const char *types, ...);
int db_query_text(db_conn_t *c, char **out, const char *sql, const char *types, ...);

/* Transactions. db_begin takes the write lock up front (SQLite BEGIN IMMEDIATE), so a
 * read-check-write inside it is atomic across threads and processes. */
int db_begin(db_conn_t *c);
/* Like db_begin, but only transactions with the same key exclude each other (PostgreSQL:
 * a transaction-scoped advisory lock on the key; SQLite has one writer anyway). For
 * read-check-write sequences that concern one user, key = the user id. */
int db_begin_for(db_conn_t *c, const char *key);
/* Like db_begin_for, for a transaction whose db_exec calls need no answer before db_commit:
 * a backend may hold BEGIN, the lock and every statement back and send them with the next
 * db_query or the COMMIT, in one round trip (PostgreSQL's pipeline). Inside it db_exec
 * returns 0 with 0 changes for a statement it holds back; the first failure of any of them
 * is what the db_query that sent it (or db_commit) returns, the transaction then rolled back
 * (later statements are dropped, db_commit returns that failure, db_rollback is still
 * called as usual). So a read-check-write costs two round trips: the read with everything
 * before it, the writes with the COMMIT. */
int db_begin_batch(db_conn_t *c, const char *key);
int db_commit(db_conn_t *c);
/* Runs a query as the transaction's last statement, then commits: a read of what the
 * transaction wrote, as of its commit. In a batch transaction on PostgreSQL the query and the
 * COMMIT go out with everything held back, in one round trip. Returns 0 with *rows (free
 * with db_rows_free) once both succeeded; on a failure no rows, and the caller calls
 * db_rollback as after a failed db_commit. */
int db_commit_query(db_conn_t *c, db_rows_t **rows, const char *sql, const char *types, ...);
int db_rollback(db_conn_t *c);

/* Runs several statements (migrations). */
int db_script(db_conn_t *c, const char *sql);
int db_ping(db_conn_t *c);

#endif
