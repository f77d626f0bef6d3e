#include "store/db_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"

struct db_conn {
    void *handle;
    struct db_conn *next; /* registry of all connections, for db_close */
};

/* Row sets are materialised: backends copy values in, callers read them out. This keeps the
 * cursor lifetime trivial and lets backends release statements at once. */
struct db_rows {
    int ncols;
    size_t nrows, cap, cur; /* cur is 1-based after the first next() */
    char **cells;           /* nrows * ncols, NULL for SQL NULL */
};

static const struct db_ops *ops;
static char *db_url;
static pthread_key_t conn_key;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct db_conn *registry;

int db_open(const char *url, char *err, size_t errcap)
{
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13) ||
        !strncmp(url, "postgresql+", 11))
        ops = &db_postgres_ops;
    else
        ops = &db_sqlite_ops;
    free(db_url);
    db_url = xstrdup(url);
    static int key_made;
    if (!key_made) {
        pthread_key_create(&conn_key, NULL);
        key_made = 1;
    }
    /* Open one connection now so a bad URL fails at start, not at the first request. */
    void *h;
    int rc = ops->connect(db_url, &h, err, errcap);
    if (rc) return rc;
    ops->disconnect(h);
    return 0;
}

const char *db_backend(void)
{
    return ops ? ops->name : "none";
}

db_conn_t *db_conn(void)
{
    db_conn_t *c = pthread_getspecific(conn_key);
    if (c) return c;
    char err[256];
    void *h;
    if (ops->connect(db_url, &h, err, sizeof err)) {
        log_msg(LOG_ERROR, "database connect failed: %s", err);
        return NULL;
    }
    c = xcalloc(1, sizeof *c);
    c->handle = h;
    pthread_mutex_lock(&reg_lock);
    c->next = registry;
    registry = c;
    pthread_mutex_unlock(&reg_lock);
    pthread_setspecific(conn_key, c);
    return c;
}

void db_close(void)
{
    pthread_mutex_lock(&reg_lock);
    while (registry) {
        db_conn_t *c = registry;
        registry = c->next;
        ops->disconnect(c->handle);
        free(c);
    }
    pthread_mutex_unlock(&reg_lock);
    if (ops) pthread_setspecific(conn_key, NULL);
}

int db_exec(db_conn_t *c, int64_t *changes, const char *sql, const char *types, ...)
{
    int64_t ch = 0;
    if (!c) return RAGD_EUNAVAIL;
    va_list ap;
    va_start(ap, types);
    int rc = ops->exec(c->handle, sql, types, ap, &ch);
    va_end(ap);
    if (changes) *changes = ch;
    return rc;
}

int db_query(db_conn_t *c, db_rows_t **rows, const char *sql, const char *types, ...)
{
    if (!c) return RAGD_EUNAVAIL;
    va_list ap;
    va_start(ap, types);
    int rc = ops->query(c->handle, sql, types, ap, rows);
    va_end(ap);
    return rc;
}

static int query_first(db_conn_t *c, db_rows_t **rows, const char *sql, const char *types,
                       va_list ap)
{
    if (!c) return RAGD_EUNAVAIL;
    int rc = ops->query(c->handle, sql, types, ap, rows);
    if (rc) return rc;
    if (db_rows_next(*rows) != 1) {
        db_rows_free(*rows);
        return RAGD_ENOTFOUND;
    }
    return 0;
}

int db_query_int(db_conn_t *c, int64_t *out, const char *sql, const char *types, ...)
{
    db_rows_t *r;
    va_list ap;
    va_start(ap, types);
    int rc = query_first(c, &r, sql, types, ap);
    va_end(ap);
    if (rc) return rc;
    *out = db_col_int(r, 0);
    db_rows_free(r);
    return 0;
}

int db_query_text(db_conn_t *c, char **out, const char *sql, const char *types, ...)
{
    db_rows_t *r;
    va_list ap;
    va_start(ap, types);
    int rc = query_first(c, &r, sql, types, ap);
    va_end(ap);
    if (rc) return rc;
    const char *t = db_col_text(r, 0);
    *out = t ? xstrdup(t) : NULL;
    db_rows_free(r);
    return 0;
}

int db_begin(db_conn_t *c)
{
    return c ? ops->begin(c->handle, NULL) : RAGD_EUNAVAIL;
}

int db_begin_for(db_conn_t *c, const char *key)
{
    return c ? ops->begin(c->handle, key) : RAGD_EUNAVAIL;
}

int db_begin_batch(db_conn_t *c, const char *key)
{
    if (!c) return RAGD_EUNAVAIL;
    return ops->begin_batch ? ops->begin_batch(c->handle, key) : ops->begin(c->handle, key);
}

int db_commit(db_conn_t *c)
{
    return c ? ops->script(c->handle, "COMMIT") : RAGD_EUNAVAIL;
}

int db_commit_query(db_conn_t *c, db_rows_t **rows, const char *sql, const char *types, ...)
{
    if (!c) return RAGD_EUNAVAIL;
    va_list ap;
    va_start(ap, types);
    int rc = ops->query_commit ? ops->query_commit(c->handle, sql, types, ap, rows)
                               : ops->query(c->handle, sql, types, ap, rows);
    va_end(ap);
    if (!rc && !ops->query_commit && (rc = db_commit(c))) db_rows_free(*rows);
    return rc;
}

int db_rollback(db_conn_t *c)
{
    return c ? ops->script(c->handle, "ROLLBACK") : RAGD_EUNAVAIL;
}

int db_script(db_conn_t *c, const char *sql)
{
    return c ? ops->script(c->handle, sql) : RAGD_EUNAVAIL;
}

int db_ping(db_conn_t *c)
{
    return c ? ops->ping(c->handle) : RAGD_EUNAVAIL;
}

/* ---- row sets ---- */

db_rows_t *db_rows_new(int ncols)
{
    db_rows_t *r = xcalloc(1, sizeof *r);
    r->ncols = ncols;
    return r;
}

void db_rows_add_row(db_rows_t *r)
{
    if (r->nrows == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->cells = xrealloc(r->cells, r->cap * (size_t)r->ncols * sizeof *r->cells);
    }
    memset(r->cells + r->nrows * (size_t)r->ncols, 0, (size_t)r->ncols * sizeof *r->cells);
    r->nrows++;
}

void db_rows_set(db_rows_t *r, int col, const char *text, size_t len)
{
    r->cells[(r->nrows - 1) * (size_t)r->ncols + (size_t)col] = text ? xstrndup(text, len) : NULL;
}

int db_rows_next(db_rows_t *r)
{
    if (r->cur >= r->nrows) return 0;
    r->cur++;
    return 1;
}

static const char *cell(db_rows_t *r, int col)
{
    if (!r->cur || col < 0 || col >= r->ncols) return NULL;
    return r->cells[(r->cur - 1) * (size_t)r->ncols + (size_t)col];
}

const char *db_col_text(db_rows_t *r, int col)
{
    return cell(r, col);
}

int64_t db_col_int(db_rows_t *r, int col)
{
    const char *s = cell(r, col);
    return s ? strtoll(s, NULL, 10) : 0;
}

double db_col_double(db_rows_t *r, int col)
{
    const char *s = cell(r, col);
    return s ? strtod(s, NULL) : 0.0;
}

int db_col_null(db_rows_t *r, int col)
{
    return cell(r, col) == NULL;
}

void db_rows_free(db_rows_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nrows * (size_t)r->ncols; i++)
        free(r->cells[i]);
    free(r->cells);
    free(r);
}
