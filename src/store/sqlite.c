/* sqlite.c - the SQLite backend of db.h: WAL, foreign keys on, a busy timeout, and a
 * per-connection cache of prepared statements keyed by the SQL text's address. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/datadir.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/db_int.h"

enum { STMT_CACHE = 256 };

struct sqlite_conn {
    sqlite3 *db;
    int holds_writer; /* this connection holds write_lock (an open write transaction) */
    int64_t busy_timeout_ns;
    const char *keys[STMT_CACHE];
    sqlite3_stmt *stmts[STMT_CACHE];
};

/* Write transactions of this process queue on a mutex before BEGIN IMMEDIATE: waiting
 * threads are woken in turn instead of polling SQLite's lock with sleeps that grow to
 * 100 ms, which made for long latency tails under load. Other processes on the same file
 * are still excluded by SQLite itself. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* Busy handler for locks held by other connections: short sleeps up to the timeout. */
static int on_busy(void *arg, int count)
{
    struct sqlite_conn *c = arg;
    int64_t waited = (int64_t)count * 200000;
    if (waited >= c->busy_timeout_ns) return 0;
    struct timespec ts = {0, count < 50 ? 100000 : 1000000};
    nanosleep(&ts, NULL);
    return 1;
}

static const char *url_path(const char *url)
{
    if (!strncmp(url, "sqlite:///", 10))
        return url + 9; /* keep the leading '/' of an absolute path */
    if (!strncmp(url, "sqlite://", 9)) return url + 9;
    if (!strncmp(url, "sqlite:", 7)) return url + 7;
    return url;
}

/* 1 when the connection overwrites deleted content (a SQLite built without it says 0). */
static int secure_delete_on(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int on = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA secure_delete", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        on = sqlite3_column_int(st, 0) == 1;
    sqlite3_finalize(st);
    return on;
}

static int sq_connect(const char *url, void **handle, char *err, size_t errcap)
{
    struct sqlite_conn *c = xcalloc(1, sizeof *c);
    const char *path = url_path(url);
    int rc = sqlite3_open_v2(
        path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errcap, "cannot open %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        free(c);
        return RAGD_EDB;
    }
    /* The database holds password and token hashes and private documents: owner only, also
     * for a file (or its WAL, SHM, journal) created by an older ragd or outside the data dir. */
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *f = xasprintf("%s%s", path, suffixes[i]);
        int t = datadir_tighten_file(f);
        if (t < 0)
            log_json(LOG_WARN, "cannot make a database file private",
                     json_pack("{s:s, s:s}", "path", f, "error", strerror(errno)));
        free(f);
    }
    c->busy_timeout_ns = config_int("SQLITE_BUSY_TIMEOUT_MS", 10000, 0, 600000) * 1000000;
    sqlite3_busy_handler(c->db, on_busy, c);
    /* FULL syncs the WAL on every commit: an acknowledged write survives a power cut, not
     * only a process crash. Operators may trade that for speed with NORMAL. */
    const char *sync = config_str("SQLITE_SYNCHRONOUS", "FULL");
    char pragmas[256];
    /* secure_delete: deleted content is overwritten with zeros in the file, not only
     * unlinked, so an erased user's data does not linger in free space (erasure.h). */
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;"
             " PRAGMA secure_delete=ON;",
             !strcmp(sync, "NORMAL") || !strcmp(sync, "OFF") ? sync : "FULL");
    char *msg = NULL;
    if (sqlite3_exec(c->db, pragmas, NULL, NULL, &msg) != SQLITE_OK || !secure_delete_on(c->db)) {
        snprintf(err, errcap, "cannot configure %s: %s", path,
                 msg ? msg : "secure_delete is not available in this SQLite");
        sqlite3_free(msg);
        sqlite3_close(c->db);
        free(c);
        return RAGD_EDB;
    }
    *handle = c;
    return 0;
}

static void sq_disconnect(void *handle)
{
    struct sqlite_conn *c = handle;
    if (c->holds_writer) pthread_mutex_unlock(&write_lock);
    for (int i = 0; i < STMT_CACHE; i++)
        sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db);
    free(c);
}

/* 1 when the last failure on c was the disk (or the database size limit) being full. */
static int out_of_space(struct sqlite_conn *c, int rc)
{
    return rc == SQLITE_FULL ||
           ((rc & 0xff) == SQLITE_IOERR && sqlite3_system_errno(c->db) == ENOSPC);
}

static int map_error(struct sqlite_conn *c, int rc, const char *sql)
{
    int ext = sqlite3_extended_errcode(c->db);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) return RAGD_EEXIST;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return RAGD_EUNAVAIL;
    if (out_of_space(c, rc)) {
        log_json(LOG_ERROR, "sqlite: no space left", json_pack("{s:i}", "code", ext));
        return RAGD_ENOSPC;
    }
    log_json(LOG_ERROR, "sqlite error",
             json_pack("{s:s, s:i, s:s}", "error", sqlite3_errmsg(c->db), "code", ext, "sql", sql));
    return RAGD_EDB;
}

static int prepare(struct sqlite_conn *c, const char *sql, sqlite3_stmt **out)
{
    size_t h = ((size_t)sql >> 4) % STMT_CACHE;
    for (size_t i = 0; i < STMT_CACHE; i++) {
        size_t k = (h + i) % STMT_CACHE;
        if (c->keys[k] == sql) {
            *out = c->stmts[k];
            return 0;
        }
        if (!c->keys[k]) {
            int rc =
                sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[k], NULL);
            if (rc != SQLITE_OK) return map_error(c, rc, sql);
            c->keys[k] = sql;
            *out = c->stmts[k];
            return 0;
        }
    }
    /* Cache full (more distinct statements than expected): prepare uncached. */
    return sqlite3_prepare_v2(c->db, sql, -1, out, NULL) == SQLITE_OK ? 1 : map_error(c, 1, sql);
}

static int bind(struct sqlite_conn *c, sqlite3_stmt *st, const char *types, va_list ap)
{
    int n = 0;
    for (const char *t = types ? types : ""; *t; t++) {
        int rc, i = ++n;
        switch (*t) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
            break;
        case 'd':
            rc = sqlite3_bind_double(st, i, va_arg(ap, double));
            break;
        case 'b':
            rc = sqlite3_bind_int(st, i, va_arg(ap, int) ? 1 : 0);
            break;
        default:
            panic("db: bad parameter type '%c'", *t);
        }
        if (rc != SQLITE_OK) return map_error(c, rc, sqlite3_sql(st));
    }
    if (n != sqlite3_bind_parameter_count(st))
        panic("db: %d parameters given for: %s", n, sqlite3_sql(st));
    return 0;
}

static void release(sqlite3_stmt *st, int uncached)
{
    if (uncached)
        sqlite3_finalize(st);
    else {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

static int sq_exec(void *handle, const char *sql, const char *types, va_list ap, int64_t *changes)
{
    struct sqlite_conn *c = handle;
    sqlite3_stmt *st;
    int uncached = prepare(c, sql, &st);
    if (uncached < 0) return uncached;
    int rc = bind(c, st, types, ap);
    if (!rc) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW)
            ;
        rc = s == SQLITE_DONE ? 0 : map_error(c, s, sql);
        *changes = sqlite3_changes64(c->db);
    }
    release(st, uncached);
    return rc;
}

static int sq_query(void *handle, const char *sql, const char *types, va_list ap, db_rows_t **out)
{
    struct sqlite_conn *c = handle;
    sqlite3_stmt *st;
    int uncached = prepare(c, sql, &st);
    if (uncached < 0) return uncached;
    int rc = bind(c, st, types, ap);
    if (!rc) {
        int ncols = sqlite3_column_count(st), s;
        db_rows_t *r = db_rows_new(ncols);
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            db_rows_add_row(r);
            for (int i = 0; i < ncols; i++) {
                const unsigned char *t = sqlite3_column_text(st, i);
                db_rows_set(r, i, (const char *)t, t ? (size_t)sqlite3_column_bytes(st, i) : 0);
            }
        }
        if (s == SQLITE_DONE) {
            *out = r;
        } else {
            rc = map_error(c, s, sql);
            db_rows_free(r);
        }
    }
    release(st, uncached);
    return rc;
}

static void release_writer(struct sqlite_conn *c)
{
    if (c->holds_writer && sqlite3_get_autocommit(c->db)) {
        c->holds_writer = 0;
        pthread_mutex_unlock(&write_lock);
    }
}

static int sq_script(void *handle, const char *sql)
{
    struct sqlite_conn *c = handle;
    char *msg = NULL;
    /* SQLite rolls a transaction back by itself after some errors (a full disk among them):
     * there is nothing left to roll back then. */
    if (!strcmp(sql, "ROLLBACK") && sqlite3_get_autocommit(c->db)) {
        release_writer(c);
        return 0;
    }
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    release_writer(c); /* after COMMIT / ROLLBACK the transaction is over */
    if (rc != SQLITE_OK) {
        int ext = sqlite3_extended_errcode(c->db);
        if (out_of_space(c, rc)) {
            sqlite3_free(msg);
            log_json(LOG_ERROR, "sqlite: no space left", json_pack("{s:i}", "code", ext));
            return RAGD_ENOSPC;
        }
        log_json(LOG_ERROR, "sqlite script error",
                 json_pack("{s:s, s:i}", "error", msg ? msg : "?", "code", ext));
        sqlite3_free(msg);
        return rc == SQLITE_BUSY ? RAGD_EUNAVAIL : RAGD_EDB;
    }
    return 0;
}

static int sq_ping(void *handle)
{
    struct sqlite_conn *c = handle;
    return sqlite3_exec(c->db, "SELECT 1", NULL, NULL, NULL) == SQLITE_OK ? 0 : RAGD_EDB;
}

static int sq_begin(void *handle, const char *key)
{
    struct sqlite_conn *c = handle;
    (void)key; /* SQLite has one writer at a time: every write transaction excludes all */
    if (!c->holds_writer) {
        /* Bounded like SQLite's own wait, so a transaction left open by a bug stalls
         * writers for the busy timeout, not forever. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)(c->busy_timeout_ns / 1000000000);
        until.tv_nsec += (long)(c->busy_timeout_ns % 1000000000);
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        if (pthread_mutex_timedlock(&write_lock, &until)) return RAGD_EUNAVAIL;
        c->holds_writer = 1;
    }
    int rc = sq_script(handle, "BEGIN IMMEDIATE");
    if (rc && sqlite3_get_autocommit(c->db)) {
        c->holds_writer = 0;
        pthread_mutex_unlock(&write_lock);
    }
    return rc;
}

const struct db_ops db_sqlite_ops = {
    .name = "sqlite",
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .exec = sq_exec,
    .query = sq_query,
    .script = sq_script,
    .begin = sq_begin,
    .ping = sq_ping,
};
