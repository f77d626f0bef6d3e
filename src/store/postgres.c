/* postgres.c - the PostgreSQL backend of db.h (libpq).
 *
 * The SQL that store/ writes is SQLite-flavoured; this backend translates it once per
 * statement and caches the prepared statement per connection:
 *   '?' placeholders -> $1..$n, typed from the call's type string (so "? IS NULL" works);
 *   LIKE -> ILIKE (SQLite's LIKE ignores ASCII case);  INSERT OR IGNORE -> ON CONFLICT DO NOTHING;
 *   DDL: INTEGER -> BIGINT (ms timestamps and counters outgrow 32 bits),
 *        INTEGER PRIMARY KEY AUTOINCREMENT -> BIGSERIAL PRIMARY KEY, BLOB -> BYTEA,
 *        REAL -> DOUBLE PRECISION;
 *   write transactions (db_begin / db_begin_for) -> BEGIN + a transaction-scoped advisory
 *        lock on a key, which gives what SQLite's one-writer-at-a-time BEGIN IMMEDIATE gives
 *        a read-check-write sequence (quota reservations), per key instead of globally.
 * Each thread has its own connection (the pool); a connection that dropped (server restart)
 * is reset and, outside a transaction, the statement is retried once. While the server is
 * down calls fail with RAGD_EUNAVAIL, which the API turns into 503. */
#include <ctype.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/roundtrips.h"
#include "core/util.h"
#include "store/db_int.h"

enum { STMT_CACHE = 256, MAX_PARAMS = 64, WRITE_LOCK_KEY = 727200 };

struct pg_stmt {
    const char *key; /* the caller's SQL pointer */
    char name[16];
};

/* A statement of a batch transaction, held back until its COMMIT. */
struct pg_held {
    const char *name; /* prepared statement */
    const char *sql;  /* the caller's text: the statement cache's key */
    char *types;
    int n;
    char **vals; /* owned copies; an entry is NULL for SQL NULL */
};

struct pg_conn {
    PGconn *pg;
    char *url;
    struct pg_stmt stmts[STMT_CACHE];
    int nstmts;
    int in_tx; /* between a successful BEGIN and the COMMIT/ROLLBACK that ends it */
    /* A batch transaction (pg_begin_batch): its lock key and the statements held back;
     * batch_open once a query has sent BEGIN and the lock (the transaction is then open). */
    int batch, batch_open;
    char *batch_key;
    struct pg_held *held;
    int nheld, capheld;
    int batch_rc; /* the first failure while holding statements back (a prepare) */
};

/* ---- counted libpq calls: each sends one message and waits for its answer ---- */

static PGresult *pq_exec(PGconn *pg, const char *text)
{
    roundtrips_add(ROUNDTRIPS_PG);
    return PQexec(pg, text);
}

static PGresult *pq_prepare(PGconn *pg, const char *name, const char *text, int n, const Oid *types)
{
    roundtrips_add(ROUNDTRIPS_PG);
    return PQprepare(pg, name, text, n, types);
}

static PGresult *pq_exec_prepared(PGconn *pg, const char *name, int n, const char *const *vals)
{
    roundtrips_add(ROUNDTRIPS_PG);
    return PQexecPrepared(pg, name, n, vals, NULL, NULL, 0);
}

/* ---- SQL translation ---- */

static int word_at(const char *s, size_t i, const char *w, const char *start)
{
    size_t n = strlen(w);
    if (strncmp(s + i, w, n)) return 0;
    if (s + i > start && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_')) return 0;
    return !(isalnum((unsigned char)s[i + n]) || s[i + n] == '_');
}

/* Translates one SQL text; *nparams gets the number of placeholders. Caller frees. */
char *db_pg_translate(const char *sql, int *nparams);
char *db_pg_translate(const char *sql, int *nparams)
{
    static const struct {
        const char *from, *to;
    } words[] = {
        {"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
        {"INTEGER", "BIGINT"},
        {"BLOB", "BYTEA"},
        {"REAL", "DOUBLE PRECISION"},
        {"LIKE", "ILIKE"},
        {"BEGIN IMMEDIATE", "BEGIN; SELECT pg_advisory_xact_lock(727200)"},
    };
    struct sbuf b;
    sb_init(&b);
    int n = 0, in_str = 0, ignore = 0;
    for (size_t i = 0; sql[i];) {
        char c = sql[i];
        if (in_str) {
            sb_add(&b, &c, 1);
            if (c == '\'') in_str = 0;
            i++;
            continue;
        }
        if (c == '\'') {
            in_str = 1;
            sb_add(&b, &c, 1);
            i++;
            continue;
        }
        if (c == '?') {
            sb_printf(&b, "$%d", ++n);
            i++;
            continue;
        }
        if (word_at(sql, i, "INSERT OR IGNORE", sql)) {
            sb_adds(&b, "INSERT");
            ignore = 1;
            i += strlen("INSERT OR IGNORE");
            continue;
        }
        int matched = 0;
        for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
            if (word_at(sql, i, words[w].from, sql)) {
                sb_adds(&b, words[w].to);
                i += strlen(words[w].from);
                matched = 1;
                break;
            }
        }
        if (!matched) {
            sb_add(&b, &c, 1);
            i++;
        }
    }
    if (ignore) {
        while (b.len && (isspace((unsigned char)b.s[b.len - 1]) || b.s[b.len - 1] == ';'))
            b.s[--b.len] = '\0';
        sb_adds(&b, " ON CONFLICT DO NOTHING");
    }
    *nparams = n;
    return sb_take(&b);
}

/* ---- connections ---- */

static int open_conn(struct pg_conn *c, char *err, size_t errcap)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {c->url, "5", "ragd", NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        snprintf(err, errcap, "%s", PQerrorMessage(c->pg));
        size_t l = strlen(err);
        while (l && err[l - 1] == '\n')
            err[--l] = '\0';
        return RAGD_EUNAVAIL;
    }
    PGresult *r = pq_exec(c->pg, "SET TIME ZONE 'UTC'; SET client_min_messages = warning");
    PQclear(r);
    c->nstmts = 0;
    return 0;
}

/* Accepts postgresql://, postgres:// and the seeds' postgresql+asyncpg:// forms. */
static char *normalise_url(const char *url)
{
    const char *plus = strstr(url, "+");
    const char *scheme_end = strstr(url, "://");
    if (plus && scheme_end && plus < scheme_end) return xasprintf("postgresql%s", scheme_end);
    return xstrdup(url);
}

static int pg_connect(const char *url, void **handle, char *err, size_t errcap)
{
    struct pg_conn *c = xcalloc(1, sizeof *c);
    c->url = normalise_url(url);
    int rc = open_conn(c, err, errcap);
    if (rc) {
        PQfinish(c->pg);
        free(c->url);
        free(c);
        return rc;
    }
    *handle = c;
    return 0;
}

static void batch_clear(struct pg_conn *c);

static void pg_disconnect(void *handle)
{
    struct pg_conn *c = handle;
    batch_clear(c);
    free(c->held);
    PQfinish(c->pg);
    free(c->url);
    free(c);
}

/* True inside a transaction block: a statement that fails there must not be retried on a
 * new connection, since the transaction's earlier work died with the old one. */
static int in_transaction(struct pg_conn *c)
{
    return c->in_tx;
}

/* An idle connection the server has dropped (a restart sends a FATAL message and closes):
 * libpq still reports it OK until a command fails on it, so look at the socket without
 * waiting. ragd listens for no notifications, so anything that arrived on an idle connection
 * is the server saying goodbye. */
static int idle_dropped(struct pg_conn *c)
{
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
    if (p.fd < 0) return 1;
    return poll(&p, 1, 0) > 0;
}

/* Makes sure the connection is up; resets it after a server restart, whether seen already or
 * only waiting on the idle socket. */
static int ensure(struct pg_conn *c)
{
    if (PQstatus(c->pg) == CONNECTION_OK && !idle_dropped(c)) return 0;
    PQreset(c->pg);
    c->nstmts = 0; /* prepared statements died with the old session */
    if (PQstatus(c->pg) != CONNECTION_OK) return RAGD_EUNAVAIL;
    PGresult *r = pq_exec(c->pg, "SET TIME ZONE 'UTC'; SET client_min_messages = warning");
    PQclear(r);
    log_msg(LOG_WARN, "postgresql connection re-established");
    return 0;
}

static int map_result(struct pg_conn *c, PGresult *r, const char *sql)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return 0;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(c->pg) != CONNECTION_OK || (state && !strncmp(state, "08", 2)) ||
        (state && !strncmp(state, "57P", 3)))
        return RAGD_EUNAVAIL;
    if (state && !strcmp(state, "23505")) return RAGD_EEXIST;
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01"))) return RAGD_ECONFLICT;
    if (state && (!strcmp(state, "53100") || !strcmp(state, "53200"))) { /* disk full, OOM */
        log_json(LOG_ERROR, "postgresql: no space left", json_pack("{s:s}", "sqlstate", state));
        return RAGD_ENOSPC;
    }
    log_json(LOG_ERROR, "postgresql error",
             json_pack("{s:s, s:s, s:s}", "error", PQerrorMessage(c->pg), "sqlstate",
                       state ? state : "", "sql", sql));
    return RAGD_EDB;
}

static const char *stmt_name(struct pg_conn *c, const char *sql, const char *types, int *rc)
{
    for (int i = 0; i < c->nstmts; i++)
        if (c->stmts[i].key == sql) return c->stmts[i].name;
    if (c->nstmts == STMT_CACHE) {
        /* Forget the whole cache rather than track usage: rare, and correct. */
        PGresult *r = pq_exec(c->pg, "DEALLOCATE ALL");
        PQclear(r);
        c->nstmts = 0;
    }
    int n = 0;
    char *text = db_pg_translate(sql, &n);
    Oid oids[MAX_PARAMS];
    int nt = (int)strlen(types ? types : "");
    if (nt != n || n > MAX_PARAMS)
        panic("db: %d parameters given for %d placeholders: %s", nt, n, sql);
    for (int i = 0; i < n; i++)
        oids[i] = types[i] == 's' ? 25 : types[i] == 'd' ? 701 : 20; /* text, float8, int8 */
    struct pg_stmt *s = &c->stmts[c->nstmts];
    snprintf(s->name, sizeof s->name, "r%d", c->nstmts);
    PGresult *r = pq_prepare(c->pg, s->name, text, n, oids);
    *rc = map_result(c, r, text);
    PQclear(r);
    free(text);
    if (*rc) return NULL;
    s->key = sql;
    c->nstmts++;
    return s->name;
}

/* Runs a cached statement; retries once after a reconnect when not inside a transaction. */
/* The text of each parameter, as types says; bufs holds the numbers' texts. Returns how many. */
static int params(const char *types, va_list ap, char bufs[][32], const char **vals)
{
    int n = 0;
    for (const char *t = types ? types : ""; *t; t++, n++) {
        if (n == MAX_PARAMS) panic("db: too many parameters");
        switch (*t) {
        case 's':
            vals[n] = va_arg(ap, const char *);
            break;
        case 'i':
            snprintf(bufs[n], sizeof bufs[n], "%lld", (long long)va_arg(ap, int64_t));
            vals[n] = bufs[n];
            break;
        case 'd':
            snprintf(bufs[n], sizeof bufs[n], "%.17g", va_arg(ap, double));
            vals[n] = bufs[n];
            break;
        case 'b':
            vals[n] = va_arg(ap, int) ? "1" : "0";
            break;
        default:
            panic("db: bad parameter type '%c'", *t);
        }
    }
    return n;
}

static PGresult *run(struct pg_conn *c, const char *sql, const char *types, va_list ap, int *rc)
{
    char bufs[MAX_PARAMS][32];
    const char *vals[MAX_PARAMS];
    int n = params(types, ap, bufs, vals);
    int in_tx = in_transaction(c);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!in_tx && (*rc = ensure(c))) return NULL;
        const char *name = stmt_name(c, sql, types, rc);
        PGresult *r = NULL;
        if (name) {
            r = pq_exec_prepared(c->pg, name, n, vals);
            *rc = map_result(c, r, sql);
        }
        if (*rc != RAGD_EUNAVAIL || in_tx || attempt) return r;
        PQclear(r); /* the connection dropped mid-call: reconnect and retry once */
    }
    return NULL;
}

/* Holds a statement of a batch transaction back: its statement is prepared now (once per
 * connection, outside any transaction), its parameters copied. */
static int hold_back(struct pg_conn *c, const char *sql, const char *types, va_list ap)
{
    if (c->batch_rc) return 0; /* the commit reports the first failure */
    if (!c->batch_open && !c->nheld && (c->batch_rc = ensure(c))) return 0; /* before preparing */
    char bufs[MAX_PARAMS][32];
    const char *vals[MAX_PARAMS];
    int n = params(types, ap, bufs, vals), rc = 0, before = c->nstmts;
    const char *name = stmt_name(c, sql, types, &rc);
    /* A full cache is forgotten (DEALLOCATE ALL) to prepare a new statement: those already
     * held back are prepared again. */
    for (int i = 0; name && c->nstmts < before && i < c->nheld; i++)
        if (!(c->held[i].name = stmt_name(c, c->held[i].sql, c->held[i].types, &rc))) name = NULL;
    if (!name) {
        c->batch_rc = rc;
        return 0;
    }
    if (c->nheld == c->capheld) {
        c->capheld = c->capheld ? 2 * c->capheld : 8;
        c->held = xrealloc(c->held, (size_t)c->capheld * sizeof *c->held);
    }
    struct pg_held *h = &c->held[c->nheld++];
    h->name = name;
    h->sql = sql;
    h->types = xstrdup(types ? types : "");
    h->n = n;
    h->vals = xcalloc((size_t)(n ? n : 1), sizeof *h->vals);
    for (int i = 0; i < n; i++)
        h->vals[i] = vals[i] ? xstrdup(vals[i]) : NULL;
    return 0;
}

static void batch_clear(struct pg_conn *c)
{
    for (int i = 0; i < c->nheld; i++) {
        for (int j = 0; j < c->held[i].n; j++)
            free(c->held[i].vals[j]);
        free(c->held[i].vals);
        free(c->held[i].types);
    }
    c->nheld = 0;
    free(c->batch_key);
    c->batch_key = NULL;
    c->batch = 0;
    c->batch_open = 0;
    c->batch_rc = 0;
}

static int batch_send(struct pg_conn *c, const char *qname, int qn, const char *const *qvals,
                      const char *qsql, PGresult **qres, int commit);
static int pg_script(void *handle, const char *sql);

static int pg_exec(void *handle, const char *sql, const char *types, va_list ap, int64_t *changes)
{
    struct pg_conn *c = handle;
    int rc;
    if (c->batch) {
        *changes = 0;
        return hold_back(c, sql, types, ap);
    }
    PGresult *r = run(c, sql, types, ap, &rc);
    if (!rc) *changes = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return rc;
}

/* A query; with commit, the transaction's COMMIT follows it (pg_query_commit). */
static int query(struct pg_conn *c, const char *sql, const char *types, va_list ap, db_rows_t **out,
                 int commit)
{
    int rc;
    PGresult *r = NULL;
    if (c->batch) {
        /* What is held back goes out with the query (and the COMMIT): one round trip. */
        char bufs[MAX_PARAMS][32];
        const char *vals[MAX_PARAMS];
        int n = params(types, ap, bufs, vals);
        rc = c->batch_rc;
        const char *name = rc ? NULL : stmt_name(c, sql, types, &rc);
        if (name) rc = batch_send(c, name, n, vals, sql, &r, commit);
    } else {
        r = run(c, sql, types, ap, &rc);
        if (!rc && commit) rc = pg_script(c, "COMMIT");
    }
    if (!rc) {
        int ncols = PQnfields(r), nrows = PQntuples(r);
        db_rows_t *rows = db_rows_new(ncols);
        for (int i = 0; i < nrows; i++) {
            db_rows_add_row(rows);
            for (int j = 0; j < ncols; j++)
                db_rows_set(rows, j, PQgetisnull(r, i, j) ? NULL : PQgetvalue(r, i, j),
                            (size_t)PQgetlength(r, i, j));
        }
        *out = rows;
    }
    PQclear(r);
    return rc;
}

static int pg_query(void *handle, const char *sql, const char *types, va_list ap, db_rows_t **out)
{
    return query(handle, sql, types, ap, out, 0);
}

static int pg_query_commit(void *handle, const char *sql, const char *types, va_list ap,
                           db_rows_t **out)
{
    struct pg_conn *c = handle;
    int rc = query(c, sql, types, ap, out, 1);
    if (c->batch && !rc) batch_clear(c); /* committed; after a failure db_rollback clears it */
    return rc;
}

/* Runs text with PQexec; outside a transaction a dropped connection is reset and the text
 * retried once (the first use of a connection after a server restart fails otherwise). */
static int exec_simple(struct pg_conn *c, const char *text)
{
    int rc = 0, in_tx = in_transaction(c);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!in_tx && (rc = ensure(c))) return rc;
        PGresult *r = pq_exec(c->pg, text);
        rc = map_result(c, r, text);
        PQclear(r);
        if (rc != RAGD_EUNAVAIL || in_tx) break;
    }
    return rc;
}

/* Reads one pipelined statement's results up to its end; the first failure goes to *rc.
 * keep (may be NULL) gets its result when it succeeded (the caller clears it). */
static void pipeline_read(struct pg_conn *c, const char *sql, int *rc, PGresult **keep)
{
    PGresult *r;
    int first = 1;
    while ((r = PQgetResult(c->pg))) {
        ExecStatusType st = PQresultStatus(r);
        if (!*rc && st != PGRES_PIPELINE_ABORTED) *rc = map_result(c, r, sql);
        if (keep && first && !*rc && st == PGRES_TUPLES_OK)
            *keep = r;
        else
            PQclear(r);
        first = 0;
    }
    if (first && !*rc) *rc = map_result(c, NULL, sql); /* no result at all: the link broke */
}

/* Sends one pipeline of the batch transaction: BEGIN and its lock unless it is open already,
 * what it held back, then the prepared query qname (its result to *qres; may be NULL), then
 * with commit the COMMIT. One round trip. A failure aborts the rest and rolls the transaction
 * back; the batch then only reports it (batch_rc). */
static int batch_send(struct pg_conn *c, const char *qname, int qn, const char *const *qvals,
                      const char *qsql, PGresult **qres, int commit)
{
    static const char lock_sql[] = "SELECT pg_advisory_xact_lock(hashtext($1))";
    int rc = c->batch_open ? 0 : ensure(c), began = !c->batch_open;
    if (!rc && !PQenterPipelineMode(c->pg)) rc = RAGD_EUNAVAIL;
    if (rc) {
        c->batch_rc = rc;
        return rc;
    }
    const char *key = c->batch_key;
    int sent = !began || (PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
                          PQsendQueryParams(c->pg, lock_sql, 1, NULL, &key, NULL, NULL, 0));
    for (int i = 0; sent && i < c->nheld; i++)
        sent = PQsendQueryPrepared(c->pg, c->held[i].name, c->held[i].n,
                                   (const char *const *)c->held[i].vals, NULL, NULL, 0);
    if (sent && qname) sent = PQsendQueryPrepared(c->pg, qname, qn, qvals, NULL, NULL, 0);
    if (sent && commit) sent = PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    sent = sent && PQpipelineSync(c->pg);
    roundtrips_add(ROUNDTRIPS_PG);
    if (!sent) {
        rc = map_result(c, NULL, "batch transaction");
    } else {
        if (began) {
            pipeline_read(c, "BEGIN", &rc, NULL);
            pipeline_read(c, lock_sql, &rc, NULL);
        }
        for (int i = 0; i < c->nheld; i++)
            pipeline_read(c, c->held[i].sql, &rc, NULL);
        if (qname) pipeline_read(c, qsql, &rc, qres);
        if (commit) pipeline_read(c, "COMMIT", &rc, NULL);
        PGresult *r = PQgetResult(c->pg); /* the sync point */
        if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
            if (!rc) rc = map_result(c, r, "batch transaction");
        PQclear(r);
    }
    if (!PQexitPipelineMode(c->pg)) rc = rc ? rc : RAGD_EUNAVAIL;
    if (rc && qres && *qres) {
        PQclear(*qres);
        *qres = NULL;
    }
    for (int i = 0; i < c->nheld; i++) { /* sent: no longer held */
        for (int j = 0; j < c->held[i].n; j++)
            free(c->held[i].vals[j]);
        free(c->held[i].vals);
        free(c->held[i].types);
    }
    c->nheld = 0;
    if (rc || commit) {
        if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            PGresult *rb = pq_exec(c->pg, "ROLLBACK"); /* a failure left the transaction open */
            PQclear(rb);
        }
        c->batch_open = 0;
        c->in_tx = 0;
        c->batch_rc = rc;
    } else {
        c->batch_open = 1;
        c->in_tx = 1;
    }
    return rc;
}

/* The COMMIT of a batch transaction: what is left goes with it. */
static int batch_commit(struct pg_conn *c)
{
    int rc = c->batch_rc;
    if (!rc && (c->nheld || c->batch_open)) rc = batch_send(c, NULL, 0, NULL, NULL, NULL, 1);
    batch_clear(c);
    return rc;
}

/* The ROLLBACK of a batch transaction: only one a query opened has anything to undo. */
static int batch_rollback(struct pg_conn *c)
{
    int rc = 0;
    if (c->batch_open) {
        rc = exec_simple(c, "ROLLBACK");
        c->in_tx = 0;
    }
    batch_clear(c);
    return rc;
}

static int pg_script(void *handle, const char *sql)
{
    struct pg_conn *c = handle;
    if (c->batch) {
        if (!strcmp(sql, "COMMIT")) return batch_commit(c);
        if (!strcmp(sql, "ROLLBACK")) return batch_rollback(c);
        panic("db: a script inside a batch transaction: %s", sql);
    }
    int n, begin = !strncmp(sql, "BEGIN", 5);
    int end = !strcmp(sql, "COMMIT") || !strcmp(sql, "ROLLBACK");
    char *text = db_pg_translate(sql, &n);
    int rc = exec_simple(c, text);
    free(text);
    if (begin && !rc) c->in_tx = 1;
    if (end) c->in_tx = 0; /* ended, or lost with its connection; either way no longer open */
    return rc;
}

static int pg_ping(void *handle)
{
    return exec_simple(handle, "SELECT 1");
}

/* BEGIN and the advisory lock go out as one simple-query message: one round trip. The key
 * is quoted by libpq for this connection's encoding. */
static int pg_begin(void *handle, const char *key)
{
    struct pg_conn *c = handle;
    int rc = in_transaction(c) ? 0 : ensure(c);
    if (rc) return rc;
    char *lit =
        PQescapeLiteral(c->pg, key ? key : "ragd:global", strlen(key ? key : "ragd:global"));
    if (!lit) return RAGD_EUNAVAIL;
    char *text = xasprintf("BEGIN; SELECT pg_advisory_xact_lock(hashtext(%s))", lit);
    PQfreemem(lit);
    rc = exec_simple(c, text);
    free(text);
    if (!rc) {
        c->in_tx = 1;
        return 0;
    }
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) { /* BEGIN ran, the lock did not */
        PGresult *rb = pq_exec(c->pg, "ROLLBACK");
        PQclear(rb);
    }
    return rc;
}

/* Nothing is sent until the COMMIT (batch_commit). */
static int pg_begin_batch(void *handle, const char *key)
{
    struct pg_conn *c = handle;
    if (c->in_tx || c->batch) panic("db: a batch transaction inside a transaction");
    c->batch = 1;
    c->batch_rc = 0;
    c->batch_key = xstrdup(key ? key : "ragd:global");
    return 0;
}

const struct db_ops db_postgres_ops = {
    .name = "postgresql",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .query = pg_query,
    .query_commit = pg_query_commit,
    .script = pg_script,
    .begin = pg_begin,
    .begin_batch = pg_begin_batch,
    .ping = pg_ping,
};
