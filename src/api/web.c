/* web.c (api) - the browser UI served from the same binary: "/" (the user app), "/admin" (the
 * console), "/docs" (the API reference), "/static/..." (the app's modules, styles and icons from
 * WEB_DIR/static) and
 * "/vendor/<name>" (Chart.js, marked and DOMPurify as the system's packages install them).
 *
 * Files are read on first request and kept in memory with their strong ETag (SHA-256 of the
 * content) and, for text types, a gzip copy made once; a file whose size or mtime changed on
 * disk is read again, so editing web/ needs no restart. Every answer carries its ETag and
 * "Cache-Control: no-cache" (the names are not hashed: the browser revalidates and gets 304);
 * HTML pages carry a Content-Security-Policy that allows scripts and styles from this origin
 * only. Paths are built from route segments that must match [A-Za-z0-9_-][A-Za-z0-9._-]*,
 * and the resolved real path must stay under the static folder, so no request can read
 * outside it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "api/api.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"

enum { WEB_MAX_FILE = 8 << 20, WEB_MIN_GZIP = 256 };

/* The policy of every HTML page: nothing inline, nothing from elsewhere. */
static const char web_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

/* ---- file cache ---- */

/* One file as served. Immutable once built; replaced (not changed) when the file changes. */
struct web_file {
    atomic_int refs;
    char *path; /* absolute path on disk */
    off_t size;
    struct timespec mtime;
    const char *type;
    char *data, *gz; /* gz is NULL when gzip would not help */
    size_t len, gzlen;
    char etag[24], etag_gz[28]; /* "<16 hex>" and "<16 hex>-gz", quotes included */
    struct web_file *next;      /* in the cache list */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct web_file *cache_head;
static char web_root[PATH_MAX];    /* real path of the web folder; "" when none was found */
static char static_root[PATH_MAX]; /* real path of web_root/static */

static void file_unref(struct web_file *f)
{
    if (f && atomic_fetch_sub(&f->refs, 1) == 1) {
        free(f->path);
        free(f->data);
        free(f->gz);
        free(f);
    }
}

static const struct {
    const char *ext, *type;
    int text;
} mime_types[] = {
    {".html", "text/html; charset=utf-8", 1},
    {".js", "text/javascript; charset=utf-8", 1},
    {".mjs", "text/javascript; charset=utf-8", 1},
    {".css", "text/css; charset=utf-8", 1},
    {".json", "application/json", 1},
    {".map", "application/json", 1},
    {".svg", "image/svg+xml", 1},
    {".txt", "text/plain; charset=utf-8", 1},
    {".md", "text/markdown; charset=utf-8", 1},
    {".png", "image/png", 0},
    {".ico", "image/x-icon", 0},
    {".webp", "image/webp", 0},
    {".woff2", "font/woff2", 0},
};

/* The Content-Type for name, and whether it is worth compressing. Cannot fail. */
static const char *mime_for(const char *name, int *text)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++) {
        size_t e = strlen(mime_types[i].ext);
        if (n > e && !strcasecmp(name + n - e, mime_types[i].ext)) {
            if (text) *text = mime_types[i].text;
            return mime_types[i].type;
        }
    }
    if (text) *text = 0;
    return "application/octet-stream";
}

/* gzip of in[0..n) at the best level; 0 with a malloc'ed *out, or -1. */
static int gzip_bytes(const char *in, size_t n, char **out, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t cap = deflateBound(&z, (uLong)n);
    char *buf = xmalloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Reads path (whose stat is st) into a new entry with one reference. 0 or RAGD_EIO. */
static int file_load(const char *path, const struct stat *st, struct web_file **out)
{
    if (st->st_size > WEB_MAX_FILE) return RAGD_EIO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return RAGD_EIO;
    size_t n = (size_t)st->st_size;
    char *data = xmalloc(n + 1);
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, data + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    if (got != n) {
        free(data);
        return RAGD_EIO;
    }
    data[n] = '\0';
    struct web_file *f = xcalloc(1, sizeof *f);
    atomic_init(&f->refs, 1);
    f->path = xstrdup(path);
    f->size = st->st_size;
    f->mtime = st->st_mtim;
    f->data = data;
    f->len = n;
    int text;
    f->type = mime_for(path, &text);
    char hex[65];
    sha256_hex(data, n, hex);
    snprintf(f->etag, sizeof f->etag, "\"%.16s\"", hex);
    snprintf(f->etag_gz, sizeof f->etag_gz, "\"%.16s-gz\"", hex);
    if (text && n >= WEB_MIN_GZIP && !gzip_bytes(data, n, &f->gz, &f->gzlen) && f->gzlen >= n) {
        free(f->gz); /* no smaller: serve the file as it is */
        f->gz = NULL;
    }
    *out = f;
    return 0;
}

/* The cached entry for the real path path, loaded or reloaded as needed; the caller owns one
 * reference (file_unref). RAGD_ENOTFOUND when it is not a regular file, RAGD_EIO when it
 * cannot be read. */
static int file_get(const char *path, struct web_file **out)
{
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) return RAGD_ENOTFOUND;
    pthread_mutex_lock(&cache_lock);
    struct web_file **pp = &cache_head, *f = NULL;
    for (; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->path, path)) break;
    if (*pp && (*pp)->size == st.st_size && (*pp)->mtime.tv_sec == st.st_mtim.tv_sec &&
        (*pp)->mtime.tv_nsec == st.st_mtim.tv_nsec) {
        f = *pp;
        atomic_fetch_add(&f->refs, 1);
        pthread_mutex_unlock(&cache_lock);
        *out = f;
        return 0;
    }
    /* Loading under the lock keeps one copy per file; files are few and small. */
    int rc = file_load(path, &st, &f);
    if (rc) {
        pthread_mutex_unlock(&cache_lock);
        return rc;
    }
    if (*pp) { /* replace the stale entry; requests holding it keep their reference */
        struct web_file *old = *pp;
        f->next = old->next;
        *pp = f;
        file_unref(old);
    } else {
        f->next = cache_head;
        cache_head = f;
    }
    atomic_fetch_add(&f->refs, 1);
    pthread_mutex_unlock(&cache_lock);
    *out = f;
    return 0;
}

/* ---- request headers ---- */

/* True if an Accept-Encoding value accepts gzip (by name or "*", with q > 0). */
static int accepts_gzip(const char *ae)
{
    if (!ae) return 0;
    int star = 0, named = -1; /* named: -1 not listed, 0 refused (q=0), 1 accepted */
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t tl = (size_t)(p - tok);
        double q = 1.0;
        while (*p && *p != ',') {
            if (*p == ';') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if ((*p == 'q' || *p == 'Q') && p[1] == '=') q = strtod(p + 2, NULL);
            } else {
                p++;
            }
        }
        if (!tl) continue;
        if ((tl == 4 && !strncasecmp(tok, "gzip", 4)) ||
            (tl == 6 && !strncasecmp(tok, "x-gzip", 6)))
            named = q > 0;
        else if (tl == 1 && *tok == '*')
            star = q > 0;
    }
    return named >= 0 ? named : star;
}

/* True if an If-None-Match value matches etag (weak comparison, as RFC 9110 asks). */
static int etag_matches(const char *inm, const char *etag)
{
    if (!inm) return 0;
    size_t el = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*') return 1;
        if (!strncmp(p, "W/", 2)) p += 2;
        const char *s = p;
        if (*p == '"') {
            const char *e = strchr(p + 1, '"');
            if (!e) return 0;
            p = e + 1;
        } else {
            while (*p && *p != ',')
                p++;
        }
        if ((size_t)(p - s) == el && !strncmp(s, etag, el)) return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

/* True if s can be one segment of a served path: no "..", no hidden files, no separators. */
static int segment_ok(const char *s)
{
    if (!s || !*s || *s == '.' || strlen(s) > 128) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* True if real is root itself or below it. */
static int under(const char *real, const char *root)
{
    size_t n = strlen(root);
    if (n && root[n - 1] == '/') n--; /* "/" itself, or a root given with a trailing slash */
    return root[0] && !strncmp(real, root, n) && (real[n] == '/' || real[n] == '\0');
}

/* ---- answering ---- */

static void not_found(struct req *r)
{
    http_error(r, 404, "NOT_FOUND", "No route for %s", req_path(r));
}

/* Answers with f: 304 when the client's copy is current, else the bytes (gzip when the
 * client takes it). html adds the page headers. */
static void send_file(struct req *r, struct web_file *f, int html)
{
    int gz = f->gz && accepts_gzip(req_header(r, "Accept-Encoding"));
    const char *etag = gz ? f->etag_gz : f->etag;
    http_header(r, "ETag", etag);
    http_header(r, "Cache-Control", "no-cache");
    if (f->gz) http_header(r, "Vary", "Accept-Encoding");
    if (html) {
        http_header(r, "Content-Security-Policy", web_csp);
        http_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    }
    if (etag_matches(req_header(r, "If-None-Match"), etag)) {
        http_raw(r, 304, f->type, "", 0);
        return;
    }
    if (gz) http_header(r, "Content-Encoding", "gzip");
    http_raw(r, 200, f->type, gz ? f->gz : f->data, gz ? f->gzlen : f->len);
}

/* Serves the file at the real path of path if it lies under root. */
static void serve_path(struct req *r, const char *path, const char *root, int html)
{
    char real[PATH_MAX];
    if (!root[0] || !realpath(path, real) || !under(real, root)) {
        not_found(r);
        return;
    }
    struct web_file *f;
    int rc = file_get(real, &f);
    if (rc == RAGD_ENOTFOUND) {
        not_found(r);
        return;
    }
    if (rc) {
        http_error(r, 500, "WEB_FILE_UNREADABLE", "The file could not be read");
        return;
    }
    send_file(r, f, html);
    file_unref(f);
}

static void page(struct req *r, const char *name)
{
    if (!web_root[0]) {
        http_error(r, 404, "WEB_UI_NOT_INSTALLED",
                   "The web UI is not installed: put the web/ folder next to ragd or set WEB_DIR");
        return;
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", web_root, name);
    serve_path(r, path, web_root, 1);
}

static void user_app(struct req *r)
{
    page(r, "index.html");
}

static void admin_app(struct req *r)
{
    page(r, "admin.html");
}

static void docs_page(struct req *r)
{
    page(r, "docs.html");
}

/* /widget.js: the embeddable widget, loaded by other sites' pages (any origin may load it). */
static void widget_js(struct req *r)
{
    if (!web_root[0]) {
        not_found(r);
        return;
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/widget.js", web_root);
    http_header(r, "Cross-Origin-Resource-Policy", "cross-origin");
    serve_path(r, path, web_root, 0);
}

/* /static/{a}, /static/{a}/{b}, /static/{a}/{b}/{c}: folders under WEB_DIR/static. */
static void static_file(struct req *r)
{
    static const char *const names[] = {"a", "b", "c"};
    char path[PATH_MAX + 512];
    size_t n = (size_t)snprintf(path, sizeof path, "%s", static_root);
    for (size_t i = 0; i < 3; i++) {
        const char *seg = req_param(r, names[i]);
        if (!seg) break;
        if (!segment_ok(seg)) {
            not_found(r);
            return;
        }
        n += (size_t)snprintf(path + n, sizeof path - n, "/%s", seg);
    }
    serve_path(r, path, static_root, 0);
}

/* The vendor libraries: the name served and where Debian's packages put the file. */
static const struct {
    const char *name;
    const char *paths[3];
} vendor_files[] = {
    {"chart.js",
     {"/usr/share/javascript/chart.js/chart.min.js", "/usr/share/javascript/chart.js/chart.js",
      NULL}},
    {"marked.js",
     {"/usr/share/javascript/marked/marked.umd.min.js",
      "/usr/share/javascript/marked/marked.min.js", NULL}},
    {"purify.js",
     {"/usr/share/nodejs/dompurify/dist/purify.min.js",
      "/usr/share/javascript/purify/purify.min.js", NULL}},
};

static void vendor_file(struct req *r)
{
    const char *name = req_param(r, "name");
    for (size_t i = 0; i < sizeof vendor_files / sizeof vendor_files[0]; i++) {
        if (strcmp(name, vendor_files[i].name)) continue;
        /* WEB_VENDOR_DIR holds the same names for systems without these packages. */
        const char *dir = config_str("WEB_VENDOR_DIR", NULL);
        char path[PATH_MAX + 64], real[PATH_MAX];
        if (dir) {
            snprintf(path, sizeof path, "%s/%s", dir, name);
            if (realpath(path, real)) {
                serve_path(r, real, "/", 0);
                return;
            }
        }
        for (size_t k = 0; vendor_files[i].paths[k]; k++)
            if (realpath(vendor_files[i].paths[k], real)) {
                serve_path(r, real, "/", 0);
                return;
            }
        http_error(r, 404, "VENDOR_FILE_MISSING",
                   "%s is not installed on this server (scripts/deps.sh installs it)", name);
        return;
    }
    not_found(r);
}

/* ---- finding the web folder ---- */

static int has_index(const char *dir)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/index.html", dir);
    return !access(p, R_OK);
}

/* Sets web_root and static_root from dir when it holds index.html. */
static int use_dir(const char *dir)
{
    char real[PATH_MAX];
    if (!realpath(dir, real) || !has_index(real)) return 0;
    snprintf(web_root, sizeof web_root, "%s", real);
    char st[PATH_MAX + 8];
    snprintf(st, sizeof st, "%s/static", real);
    if (!realpath(st, static_root)) static_root[0] = '\0';
    return 1;
}

/* WEB_DIR when set; else web/ next to the executable or up to two folders above it (the
 * repository root for build/<flavour>/ragd), or share/ragd/web beside its bin/ folder (the
 * installed layout); else ./web. 0, or RAGD_ENOTFOUND. */
static int find_web_dir(void)
{
    web_root[0] = static_root[0] = '\0';
    const char *env = config_str("WEB_DIR", NULL);
    if (env) return use_dir(env) ? 0 : RAGD_ENOTFOUND;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = '\0';
            char cand[PATH_MAX + 24];
            snprintf(cand, sizeof cand, "%s/web", exe);
            if (use_dir(cand)) return 0;
            /* `make install`: PREFIX/bin/ragd with PREFIX/share/ragd/web */
            snprintf(cand, sizeof cand, "%s/share/ragd/web", exe);
            if (use_dir(cand)) return 0;
        }
    }
    return use_dir("web") ? 0 : RAGD_ENOTFOUND;
}

/* ---- routes ---- */

const struct route web_routes[] = {
    {.method = "GET",
     .pattern = "/",
     .handler = user_app,
     .access = ACCESS_PUBLIC,
     .tag = "web",
     .summary = "The web app (HTML)",
     .response_doc = "HTML page",
     .response = "text/html; 304"},
    {.method = "GET",
     .pattern = "/verify",
     .handler = user_app,
     .access = ACCESS_PUBLIC,
     .tag = "web",
     .summary = "The web app at the e-mail verification link (/verify?token=...)",
     .response_doc = "HTML page",
     .response = "text/html; 304"},
    {.method = "GET",
     .pattern = "/admin",
     .handler = admin_app,
     .access = ACCESS_PUBLIC,
     .tag = "web",
     .summary = "The admin console (HTML; its API calls need an admin)",
     .response_doc = "HTML page",
     .response = "text/html; 304"},
    {.method = "GET",
     .pattern = "/docs",
     .handler = docs_page,
     .access = ACCESS_PUBLIC,
     .tag = "web",
     .summary = "The API reference: this document, rendered (HTML)",
     .response_doc = "HTML page",
     .response = "text/html; 304"},
    {.method = "GET",
     .pattern = "/static/{a}",
     .handler = static_file,
     .access = ACCESS_PUBLIC,
     .tag = "web",
     .summary = "A file of the web app (ETag, gzip)",
     .response_doc = "the file",
     .response = "text/css; text/javascript; text/html; image/svg+xml; image/png; image/x-icon; "
                 "image/webp; application/json; text/plain; text/markdown; "
                 "application/octet-stream; 304"},
    {.method = "GET",
     .pattern = "/static/{a}/{b}",
     .handler = static_file,
     .access = ACCESS_PUBLIC,
     .tag = "web",
     .summary = "A file of the web app (ETag, gzip)",
     .response_doc = "the file",
     .response = "text/css; text/javascript; text/html; image/svg+xml; image/png; image/x-icon; "
                 "image/webp; application/json; text/plain; text/markdown; "
                 "application/octet-stream; 304"},
    {.method = "GET",
     .pattern = "/static/{a}/{b}/{c}",
     .handler = static_file,
     .access = ACCESS_PUBLIC,
     .tag = "web",
     .summary = "A file of the web app (ETag, gzip)",
     .response_doc = "the file",
     .response = "text/css; text/javascript; text/html; image/svg+xml; image/png; image/x-icon; "
                 "image/webp; application/json; text/plain; text/markdown; "
                 "application/octet-stream; 304"},
    {.method = "GET",
     .pattern = "/widget.js",
     .handler = widget_js,
     .access = ACCESS_PUBLIC,
     .tag = "widget",
     .summary = "The embeddable support widget: <script src=\".../widget.js\" "
                "data-key=\"pk_...\" async></script>",
     .response_doc = "JavaScript",
     .response = "text/javascript; 304"},
    {.method = "GET",
     .pattern = "/vendor/{name}",
     .handler = vendor_file,
     .access = ACCESS_PUBLIC,
     .tag = "web",
     .summary = "chart.js, marked.js or purify.js from the system's packages",
     .response_doc = "JavaScript",
     .response = "text/javascript; 304"},
    {NULL},
};

void web_api_init(void)
{
    if (find_web_dir())
        log_msg(LOG_WARN, "web UI not found (no index.html in WEB_DIR, next to the binary or in "
                          "./web): / and /admin answer 404");
}
