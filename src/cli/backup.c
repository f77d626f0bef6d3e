/* backup.c - `ragd backup FILE` and `ragd restore FILE` for the SQLite store.
 *
 * backup copies the live database with SQLite's online backup API, page batch by page batch,
 * so a serving ragd goes on reading and writing meanwhile (WAL); the copy is checked and then
 * renamed into place, so FILE is never a half-written database. restore checks FILE, refuses a
 * database that a running ragd holds open, and copies FILE over the data directory's database
 * in one transaction; the indexes are rebuilt from it at the next start (knowledge.h). With
 * PostgreSQL both print what pg_dump / pg_restore command does the job and exit 1. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/error.h"
#include "core/mem.h"
#include "store/db.h"
#include "store/store.h"

static void pg_guidance(const char *verb, const char *file)
{
    fprintf(stderr,
            "ragd %s: the database is PostgreSQL: use its own tools, which copy a live database\n"
            "consistently:\n"
            "  backup:  pg_dump --format=custom --file=%s \"$DATABASE_URL\"\n"
            "  restore: pg_restore --clean --if-exists --no-owner --dbname=\"$DATABASE_URL\" %s\n"
            "(restore with every ragd node stopped; they rebuild their indexes at start)\n",
            verb, file, file);
}

/* The main database file of the open SQLite store (caller frees). */
static int store_file(char **path)
{
    *path = NULL;
    int rc = db_query_text(db_conn(), path,
                           "SELECT file FROM pragma_database_list WHERE name = 'main'", "");
    if (!rc && (!*path || !**path)) rc = RAGD_ENOTFOUND;
    return rc;
}

/* Copies src into dst with the online backup API, 256 pages a step, waiting on busy. */
static int copy_db(sqlite3 *src, sqlite3 *dst, int *pages, char *err, size_t errcap)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        snprintf(err, errcap, "%s", sqlite3_errmsg(dst));
        return -1;
    }
    int rc;
    do {
        rc = sqlite3_backup_step(b, 256);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(20);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    *pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errcap, "%s", sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}

/* PRAGMA quick_check says ok, and the file holds ragd's tables. */
static int check_db(sqlite3 *db, char *err, size_t errcap)
{
    sqlite3_stmt *st = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ok = !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    if (!ok) {
        snprintf(err, errcap, "not a sound SQLite database");
        return -1;
    }
    int tables = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                           " ('users', 'documents')",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        tables = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (tables != 2) {
        snprintf(err, errcap, "not a ragd database (no users and documents tables)");
        return -1;
    }
    return 0;
}

static int backup_run(int argc, char **argv)
{
    struct cli_opts o = {.want_args = 1};
    int rc = cli_parse_opts(argc, argv, &o, &cli_backup_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.nargs != 1) return cli_usage(&cli_backup_verb, 0);
    const char *file = o.args[0];
    if ((rc = cli_start(&o))) return rc;
    if (strcmp(db_backend(), "sqlite")) {
        pg_guidance("backup", file);
        db_close();
        return 1;
    }
    char *live = NULL, err[256] = "";
    char *tmp = xasprintf("%s.partial", file);
    sqlite3 *src = NULL, *dst = NULL;
    int pages = 0;
    rc = store_file(&live);
    if (rc) snprintf(err, sizeof err, "%s", ragd_strerror(rc));
    db_close();
    unlink(tmp);
    if (!rc && sqlite3_open_v2(live, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, sizeof err, "%s: %s", live, sqlite3_errmsg(src));
        rc = -1;
    }
    if (!rc &&
        sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, sizeof err, "%s: %s", file, sqlite3_errmsg(dst));
        rc = -1;
    }
    if (!rc) {
        sqlite3_busy_timeout(src, 10000);
        rc = copy_db(src, dst, &pages, err, sizeof err);
    }
    if (!rc) rc = check_db(dst, err, sizeof err);
    sqlite3_close(src);
    sqlite3_close(dst);
    if (!rc && rename(tmp, file)) {
        snprintf(err, sizeof err, "%s: %s", file, strerror(errno));
        rc = -1;
    }
    if (rc) {
        unlink(tmp);
        fprintf(stderr, "ragd backup: %s\n", err);
    } else {
        struct stat st;
        stat(file, &st);
        printf("{\"file\":\"%s\",\"bytes\":%lld,\"pages\":%d}\n", file, (long long)st.st_size,
               pages);
        fprintf(stderr, "ragd backup: the database is copied; keep DATA/jwt_secret and any key\n"
                        "files of the data directory with it (they are not in the database)\n");
    }
    free(tmp);
    free(live);
    return rc ? 1 : 0;
}

const struct cli_verb cli_backup_verb = {
    .name = "backup",
    .args = "FILE [--data DIR]",
    .summary = "Copy the SQLite database to FILE, safely while ragd serves.",
    .help = "Uses SQLite's online backup: requests go on being served meanwhile. FILE is written\n"
            "whole or not at all. With PostgreSQL it prints the pg_dump command to use instead\n"
            "and exits 1.",
    .run = backup_run,
};

static int restore_run(int argc, char **argv)
{
    struct cli_opts o = {.want_args = 1};
    int rc = cli_parse_opts(argc, argv, &o, &cli_restore_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.nargs != 1) return cli_usage(&cli_restore_verb, 0);
    const char *file = o.args[0];
    char err[256] = "";
    sqlite3 *src = NULL, *dst = NULL;
    if (access(file, R_OK)) {
        fprintf(stderr, "ragd restore: %s: %s\n", file, strerror(errno));
        return 2;
    }
    if (sqlite3_open_v2(file, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        check_db(src, err, sizeof err)) {
        if (!err[0]) snprintf(err, sizeof err, "%s", sqlite3_errmsg(src));
        fprintf(stderr, "ragd restore: %s: %s\n", file, err);
        sqlite3_close(src);
        return 2;
    }
    /* The store is opened (and the data directory made) as for serving; it is closed again
     * before the copy, which goes through a connection of its own. */
    if ((rc = cli_start(&o))) {
        sqlite3_close(src);
        return rc;
    }
    if (strcmp(db_backend(), "sqlite")) {
        pg_guidance("restore", file);
        db_close();
        sqlite3_close(src);
        return 1;
    }
    char *live = NULL;
    rc = store_file(&live);
    db_close();
    if (rc) snprintf(err, sizeof err, "%s", ragd_strerror(rc));
    if (!rc && sqlite3_open_v2(live, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, sizeof err, "%s: %s", live, sqlite3_errmsg(dst));
        rc = -1;
    }
    /* Leaving WAL needs the only connection: a serving ragd holds one open. */
    if (!rc) {
        sqlite3_stmt *st = NULL;
        int alone = 0;
        if (sqlite3_prepare_v2(dst, "PRAGMA journal_mode = DELETE", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            alone = !strcmp((const char *)sqlite3_column_text(st, 0), "delete");
        sqlite3_finalize(st);
        if (!alone) {
            snprintf(err, sizeof err,
                     "%s is in use (is ragd serving this data directory?): stop it first", live);
            rc = -1;
        }
    }
    int pages = 0;
    if (!rc) rc = copy_db(src, dst, &pages, err, sizeof err);
    if (!rc) sqlite3_exec(dst, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    sqlite3_close(dst);
    sqlite3_close(src);
    if (rc) {
        fprintf(stderr, "ragd restore: %s\n", err);
        free(live);
        return 1;
    }
    /* The index files describe the database that was there: without their manifest they are
     * rebuilt from the restored one at the next start (knowledge/index.c). */
    char *manifest = xasprintf("%s/index/manifest", o.data);
    unlink(manifest);
    free(manifest);
    printf("{\"restored\":\"%s\",\"database\":\"%s\",\"pages\":%d}\n", file, live, pages);
    free(live);
    return 0;
}

const struct cli_verb cli_restore_verb = {
    .name = "restore",
    .args = "FILE [--data DIR]",
    .summary = "Replace the SQLite database of the data directory with a backup.",
    .help = "FILE must be a sound ragd database (from ragd backup). ragd must not be serving the\n"
            "data directory: restore refuses while it is. The restored database is migrated to\n"
            "this version's schema at the next start, and the indexes are rebuilt from it at the "
            "next start. With\n"
            "PostgreSQL it prints the pg_restore command to use instead and exits 1.",
    .run = restore_run,
};
