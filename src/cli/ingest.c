/* ingest.c - `ragd ingest PATH... [--org ID] [--user EMAIL]`: files and folders into the
 * knowledge base, through the same service an upload goes through (knowledge/knowledge.h).
 *
 * Each file is submitted and waited for, so its outcome (ready or failed, with the reason) is
 * known before the next; progress goes to a terminal as a bar (files N/M, bytes, ETA) and
 * anywhere else as one JSON object per file, then a summary.
 *
 * The process is a node of its own (knowledge/sync.c): its node identity and indexes live in a
 * scratch folder, removed at the end, and every document it ingests reaches the indexes of the
 * data directory through the change log, at once when a ragd serves it, else at its next
 * start. So ingesting while ragd serves neither clobbers its index files nor goes unseen. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge.h"
#include "llm/provider.h"
#include "store/store.h"

/* The kinds extraction reads (rag/extract.h sniffs the content; these name the files a folder
 * walk picks up). A file named on the command line is tried whatever its name. */
static const char *const exts[] = {".txt", ".text",  ".md",  ".markdown", ".mdown", ".rst", ".html",
                                   ".htm", ".xhtml", ".pdf", ".csv",      ".log",   NULL};

struct file {
    char *path;
    int64_t size;
};

struct files {
    struct file *v;
    size_t n, cap;
    int64_t bytes;
};

static void add_file(struct files *fs, const char *path, int64_t size)
{
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? 2 * fs->cap : 64;
        fs->v = xrealloc(fs->v, fs->cap * sizeof *fs->v);
    }
    fs->v[fs->n].path = xstrdup(path);
    fs->v[fs->n++].size = size;
    fs->bytes += size;
}

static int ext_ok(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && exts[i]; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the supported files under dir, recursively, in name order; dot files are skipped. */
static void walk(struct files *fs, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d || depth > 64) {
        if (d) closedir(d);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, names[i]);
        struct stat st;
        if (!stat(path, &st)) {
            if (S_ISDIR(st.st_mode))
                walk(fs, path, depth + 1);
            else if (S_ISREG(st.st_mode) && ext_ok(names[i]))
                add_file(fs, path, (int64_t)st.st_size);
        }
        free(path);
        free(names[i]);
    }
    free(names);
}

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    struct sbuf b = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sb_add(&b, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        sb_free(&b);
        return -1;
    }
    *len = b.len;
    *out = b.s ? b.s : xstrdup("");
    return 0;
}

/* ---- progress ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void human(int64_t b, char *out, size_t cap)
{
    if (b < 1024)
        snprintf(out, cap, "%lld B", (long long)b);
    else if (b < 1024 * 1024)
        snprintf(out, cap, "%.1f KiB", b / 1024.0);
    else
        snprintf(out, cap, "%.1f MiB", b / (1024.0 * 1024));
}

/* One redraw of the bar: "[#####.....] 3/10 files  1.2 KiB/4.5 KiB  ETA 0:12  name". */
static void bar(size_t done, size_t total, int64_t bdone, int64_t btotal, double t0,
                const char *name)
{
    enum { WIDTH = 24 };
    double frac = btotal > 0 ? (double)bdone / (double)btotal : total ? (double)done / total : 1;
    int fill = (int)(frac * WIDTH + 0.5);
    char cells[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        cells[i] = i < fill ? '#' : '.';
    cells[WIDTH] = '\0';
    char a[32], b[32], eta[32] = "--:--";
    human(bdone, a, sizeof a);
    human(btotal, b, sizeof b);
    double el = now_s() - t0;
    if (frac > 0 && frac < 1) {
        int left = (int)(el / frac * (1 - frac) + 0.5);
        snprintf(eta, sizeof eta, "%d:%02d", left / 60, left % 60);
    } else if (frac >= 1) {
        snprintf(eta, sizeof eta, "0:00");
    }
    const char *base = name ? strrchr(name, '/') : NULL;
    base = base ? base + 1 : name ? name : "";
    fprintf(stdout, "\r\033[K[%s] %zu/%zu files  %s/%s  ETA %s  %.40s", cells, done, total, a, b,
            eta, base);
    fflush(stdout);
}

static void json_line(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    puts(s);
    fflush(stdout);
    free(s);
    json_decref(j);
}

/* ---- the scratch node ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* SIGINT / SIGTERM: stop after the file in hand, clean up, say what was done. */
static volatile sig_atomic_t stop_asked;

static void on_stop(int sig)
{
    (void)sig;
    stop_asked = 1;
}

/* ---- the verb ---- */

/* The account that owns shared documents when no --user is given: the oldest active
 * super_admin, else the oldest admin. */
static int default_owner(struct user *out)
{
    int64_t offset = 0, total = 0;
    struct user best = {0};
    int rank = 0;
    for (;;) {
        struct user *items = NULL;
        int n = 0;
        struct user_filter f = {.is_active = 1};
        int rc = store_user_list(&f, 500, offset, &items, &n, &total);
        if (rc) return rc;
        for (int i = 0; i < n && rank < 2; i++) {
            int r = !strcmp(items[i].role, "super_admin") ? 2 : !strcmp(items[i].role, "admin");
            if (r > rank) {
                rank = r;
                best = items[i];
                best.preferences = NULL;
            }
        }
        store_user_list_free(items, n);
        offset += n;
        if (!n || offset >= total || rank == 2) break;
    }
    if (!rank) return RAGD_ENOTFOUND;
    *out = best;
    return 0;
}

static int run(int argc, char **argv)
{
    struct cli_opts o = {.want_args = 1};
    int rc = cli_parse_opts(argc, argv, &o, &cli_ingest_verb);
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.nargs) return cli_usage(&cli_ingest_verb, 0);
    struct files fs = {0};
    for (int i = 0; i < o.nargs; i++) {
        struct stat st;
        if (stat(o.args[i], &st)) {
            fprintf(stderr, "ragd ingest: %s: %s\n", o.args[i], strerror(errno));
            return 2;
        }
        if (S_ISDIR(st.st_mode))
            walk(&fs, o.args[i], 0);
        else
            add_file(&fs, o.args[i], (int64_t)st.st_size);
    }
    if ((rc = cli_start(&o))) return rc;
    struct user owner = {0};
    rc = o.user ? cli_find_user(o.user, &owner) : default_owner(&owner);
    if (rc) {
        fprintf(stderr, "ragd ingest: %s\n",
                rc != RAGD_ENOTFOUND ? ragd_strerror(rc)
                : o.user             ? "no such user"
                                     : "no admin account owns shared documents: give --user");
        db_close();
        return rc == RAGD_ENOTFOUND ? 3 : 1;
    }
    char org_id[37] = "";
    if (o.org && !uuid_valid(o.org)) { /* a name */
        if (store_org_find(o.org, org_id)) {
            fprintf(stderr, "ragd ingest: no organization named '%s'\n", o.org);
            store_user_clear(&owner);
            db_close();
            return 3;
        }
        o.org = org_id;
    }
    /* This process ingests the files itself and waits for each, as a node of its own. */
    config_set("INGEST_QUEUE", "local");
    if (!config_str("MODELS_DIR", NULL)) {
        char *models = xasprintf("%s/models", api_data_dir());
        config_set("MODELS_DIR", models);
        free(models);
    }
    const char *tmpdir = getenv("TMPDIR");
    char *scratch = xasprintf("%s/ragd-ingest-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "ragd ingest: %s: %s\n", scratch, strerror(errno));
        free(scratch);
        db_close();
        return 1;
    }
    if ((rc = cli_start_knowledge(scratch))) {
        rm_tree(scratch);
        free(scratch);
        db_close();
        return rc;
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int tty = !o.json && isatty(STDOUT_FILENO);
    /* Without --user and --org the documents are shared, as the demo corpus is. */
    int shared = !o.user && !o.org;
    struct kn_caller c = {owner.id, o.org, 1};
    size_t ok = 0, skipped = 0, failed = 0;
    int64_t bdone = 0;
    double t0 = now_s();
    if (tty) bar(0, fs.n, 0, fs.bytes, t0, NULL);
    size_t done_files = 0;
    for (size_t i = 0; i < fs.n && !stop_asked; i++, done_files++) {
        const char *path = fs.v[i].path;
        char *data = NULL, why[256] = "", id[37] = "";
        size_t len = 0;
        const char *status = "failed";
        if (read_all(path, &data, &len)) {
            snprintf(why, sizeof why, "unreadable: %s", strerror(errno));
        } else {
            char sha[65];
            sha256_hex(data, len, sha);
            if ((shared || o.org) && !store_doc_find_sha(sha, o.org, shared, id)) {
                status = "exists";
            } else {
                struct kn_upload u = {
                    .data = data, .len = len, .source = path, .shared = shared, .importance = 1.0};
                struct kdoc doc;
                if (!knowledge_submit(&c, &u, &doc, why, sizeof why)) {
                    snprintf(id, sizeof id, "%s", doc.id);
                    store_kdoc_clear(&doc);
                    int w = knowledge_wait_idle(
                        config_int("INGEST_DOCUMENT_TIMEOUT_MS", 120000, 1, 86400000) + 60000);
                    struct kdoc done;
                    if (w)
                        snprintf(why, sizeof why, "not ingested in time");
                    else if (store_doc_get(id, 0, &done))
                        snprintf(why, sizeof why, "the document is gone");
                    else {
                        if (!strcmp(done.status, "ready"))
                            status = "ingested";
                        else if (!strcmp(done.status, "failed"))
                            snprintf(why, sizeof why, "%s", done.error ? done.error : "failed");
                        else /* still pending: another node's queue took it */
                            snprintf(why, sizeof why, "left %s", done.status);
                        store_kdoc_clear(&done);
                    }
                }
            }
        }
        free(data);
        if (!strcmp(status, "exists"))
            skipped++;
        else if (!strcmp(status, "failed"))
            failed++;
        else
            ok++;
        bdone += fs.v[i].size;
        if (tty) {
            if (!strcmp(status, "failed")) fprintf(stdout, "\r\033[Kfailed: %s: %s\n", path, why);
            bar(i + 1, fs.n, bdone, fs.bytes, t0, path);
        } else {
            json_line(json_pack("{s:s, s:I, s:I, s:s, s:s, s:s?, s:I, s:s?}", "event", "file", "n",
                                (json_int_t)(i + 1), "total", (json_int_t)fs.n, "path", path,
                                "status", status, "document_id", id[0] ? id : NULL, "bytes",
                                (json_int_t)fs.v[i].size, "error",
                                !strcmp(status, "failed") ? why : NULL));
        }
    }
    double secs = now_s() - t0;
    if (tty) {
        char b[32];
        human(fs.bytes, b, sizeof b);
        printf("\n%zu files (%s) in %.1f s: %zu ingested, %zu already present, %zu failed%s\n",
               fs.n, b, secs, ok, skipped, failed,
               stop_asked && done_files < fs.n ? " (interrupted)" : "");
    } else {
        json_line(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:b}", "event", "summary", "files",
                            (json_int_t)fs.n, "ingested", (json_int_t)ok, "skipped",
                            (json_int_t)skipped, "failed", (json_int_t)failed, "bytes",
                            (json_int_t)fs.bytes, "seconds", secs, "interrupted",
                            stop_asked && done_files < fs.n));
    }
    for (size_t i = 0; i < fs.n; i++)
        free(fs.v[i].path);
    free(fs.v);
    store_user_clear(&owner);
    knowledge_shutdown();
    prov_shutdown();
    db_close();
    rm_tree(scratch);
    free(scratch);
    if (stop_asked && done_files < fs.n) return 130; /* as a shell reports an interrupted run */
    return failed ? 1 : 0;
}

const struct cli_verb cli_ingest_verb = {
    .name = "ingest",
    .args = "PATH... [--user EMAIL|ID] [--org ID|NAME] [--json] [--data DIR]",
    .summary = "Ingest files and folders into the knowledge base.",
    .help =
        "Folders are walked recursively for every supported type (text, Markdown, HTML, PDF:\n"
        ".txt .md .markdown .rst .html .htm .pdf .csv .log); a file named on the command line\n"
        "is tried whatever its name. With --user the documents are that user's, with --org\n"
        "the organization's (owned by --user or the oldest admin), else shared with everyone\n"
        "(owned by the oldest admin); shared and organization documents already present with\n"
        "the same content are skipped. On a terminal a progress bar shows files N/M, bytes and\n"
        "the time left; otherwise (or with --json) one JSON object per file, then a summary.\n"
        "Exit status 1 when any file failed, 3 when the user or organization does not exist;\n"
        "SIGINT or SIGTERM stops it after the file in hand (exit status 130).",
    .run = run,
};
