/* intake.c - uploads, deletions and the demo corpus. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "knowledge/knowledge_int.h"
#include "rag/extract.h"

/* ---- where queued documents came from (for the ingestion's log lines) ---- */

struct origin {
    char doc_id[37], request_id[65], filename[256];
};
static struct origin origins[KN_ORIGINS_MAX]; /* a ring: the oldest is overwritten */
static size_t origins_next;
static pthread_mutex_t origins_lock = PTHREAD_MUTEX_INITIALIZER;

void kn_origin_note(const char *doc_id, const char *request_id, const char *filename)
{
    pthread_mutex_lock(&origins_lock);
    struct origin *o = &origins[origins_next++ % KN_ORIGINS_MAX];
    snprintf(o->doc_id, sizeof o->doc_id, "%s", doc_id);
    snprintf(o->request_id, sizeof o->request_id, "%s", request_id ? request_id : "");
    snprintf(o->filename, sizeof o->filename, "%s", filename ? filename : "");
    pthread_mutex_unlock(&origins_lock);
}

void kn_origin_take(const char *doc_id, char request_id[65], char filename[256])
{
    request_id[0] = filename[0] = '\0';
    pthread_mutex_lock(&origins_lock);
    for (size_t i = 0; i < KN_ORIGINS_MAX; i++) {
        struct origin *o = &origins[i];
        if (strcmp(o->doc_id, doc_id)) continue;
        memcpy(request_id, o->request_id, sizeof o->request_id);
        memcpy(filename, o->filename, sizeof o->filename);
        o->doc_id[0] = '\0';
        break;
    }
    pthread_mutex_unlock(&origins_lock);
}

/* ---- intake and deletion ---- */

static int depth_of(json_t *v)
{
    int d = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            int c = depth_of(x);
            if (c > d) d = c;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            int c = depth_of(x);
            if (c > d) d = c;
        }
        return d + 1;
    }
    return 0;
}

int knowledge_metadata_check(json_t *metadata, size_t *bytes, char *err, size_t errcap)
{
    struct kn_state *K = kn();
    *bytes = 0;
    if (!metadata) return 0;
    int depth = depth_of(metadata);
    if (depth > K->meta_max_depth) {
        snprintf(err, errcap, "metadata is nested %d levels deep; the limit is %d", depth,
                 K->meta_max_depth);
        return RAGD_EINVAL;
    }
    size_t n = json_dumpb(metadata, NULL, 0, JSON_COMPACT);
    if (n > K->meta_max_bytes) {
        snprintf(err, errcap, "metadata is %zu bytes as JSON; the limit is %zu bytes", n,
                 K->meta_max_bytes);
        return RAGD_ERANGE;
    }
    *bytes = n;
    return 0;
}

int knowledge_submit(const struct kn_caller *c, const struct kn_upload *u, struct kdoc *doc,
                     char *err, size_t errcap)
{
    memset(doc, 0, sizeof *doc);
    if (u->len > kn()->max_bytes) {
        snprintf(err, errcap, "document is %zu bytes; the limit is %zu bytes", u->len,
                 kn()->max_bytes);
        return RAGD_ERANGE;
    }
    extract_type_t type;
    extract_reason_t why = EXTRACT_OK;
    if (extract_sniff(u->data, u->len, &type, &why)) {
        snprintf(err, errcap, "%s", extract_reason_str(why));
        return RAGD_EINVAL;
    }
    size_t meta_bytes;
    int mrc = knowledge_metadata_check(u->metadata, &meta_bytes, err, errcap);
    if (mrc) return mrc == RAGD_ERANGE ? RAGD_ERANGE : RAGD_EINVAL;
    char sha[65];
    sha256_hex(u->data, u->len, sha);
    struct kdoc_new d = {
        .organization_id = c->org_id,
        .owner_id = c->user_id,
        .shared = u->shared,
        .title = u->title,
        .category = u->category,
        .source = u->source,
        .tags = u->tags,
        .ntags = u->ntags,
        .metadata = u->metadata,
        .importance = u->importance > 0 ? u->importance : 1.0,
        .mime_type = extract_type_name(type),
        .size_bytes = (int64_t)u->len,
        .sha256 = sha,
        .status = "pending",
    };
    uuid4(d.id);
    int rc = store_doc_insert(&d);
    if (!rc) {
        rc = store_upload_put(d.id, u->data, u->len);
        if (rc) {
            int64_t *gone = NULL;
            size_t ngone = 0;
            store_doc_delete(d.id, &gone, &ngone);
            free(gone);
        }
    }
    if (!rc) rc = store_doc_get(d.id, 0, doc); /* the 202 body, before a worker changes it */
    if (rc) {
        snprintf(err, errcap, "%s", ragd_strerror(rc));
        return rc;
    }
    kn_origin_note(d.id, u->request_id, u->filename);
    if (u->request_id) { /* an upload over HTTP (the CLI reports its own progress) */
        json_t *f = json_pack("{s:s, s:s, s:s, s:I}", "document_id", d.id, "request_id",
                              u->request_id, "type", d.mime_type, "bytes", (json_int_t)u->len);
        if (u->filename) json_object_set_new(f, "file", json_string(u->filename));
        log_json(LOG_INFO, "document queued for ingestion", f);
    }
    kn_queue_dispatch(d.id, c->user_id);
    return 0;
}

int knowledge_delete_check(const struct kn_caller *c, const char *doc_id)
{
    struct kscope s = {c->user_id, c->org_id};
    int vis = store_doc_visible(doc_id, &s);
    if (vis < 0) return vis;
    if (!vis) return RAGD_ENOTFOUND;
    struct kdoc doc;
    int rc = store_doc_get(doc_id, 0, &doc);
    if (rc) return rc;
    struct kn_doc_access a = {doc.owner_id, doc.organization_id, doc.shared};
    int may = kn_may_modify(c, &a);
    store_kdoc_clear(&doc);
    return may ? 0 : RAGD_EPERM;
}

int knowledge_erase(const char *doc_id)
{
    struct kn_state *K = kn();
    int64_t *ids = NULL;
    size_t n = 0;
    /* Without a started service (the CLI) there is no index here: the running nodes drop
     * the chunks when they apply the change-log entry, written under a tag no node has. */
    int rc = store_doc_erase(doc_id, K->ready ? K->node : "offline", &ids, &n);
    if (rc) return rc;
    if (K->ready) {
        kn_meta_drop_chunks(ids, n);
        kn_meta_drop_doc(doc_id);
        kn_index_remove(ids, n);
        kn_results_invalidate();
        /* Cached results of earlier generations are unreachable already; dropping them now
         * keeps no copy of the document's passages in memory until they expire. */
        if (K->search_cache) ttlcache_clear(K->search_cache);
    }
    free(ids);
    return 0;
}

int knowledge_delete(const struct kn_caller *c, const char *doc_id)
{
    int rc = knowledge_delete_check(c, doc_id);
    return rc ? rc : knowledge_erase(doc_id);
}

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? RAGD_ENOTFOUND : RAGD_EIO;
    struct sbuf b;
    sb_init(&b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sb_add(&b, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        sb_free(&b);
        return RAGD_EIO;
    }
    *len = b.len;
    *data = b.s ? sb_take(&b) : xstrdup("");
    return 0;
}

/* ---- demo corpus ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_md(const char *root, const char *rel, char ***out, size_t *n, size_t *cap,
                    int depth)
{
    if (depth > 8) return;
    char *dir = rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *d = opendir(dir);
    free(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *r = rel[0] ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
        char *full = xasprintf("%s/%s", root, r);
        struct stat st;
        if (!stat(full, &st) && S_ISDIR(st.st_mode)) {
            list_md(root, r, out, n, cap, depth + 1);
            free(r);
        } else if (strlen(r) > 3 && !strcmp(r + strlen(r) - 3, ".md") && S_ISREG(st.st_mode)) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 32;
                *out = xrealloc(*out, *cap * sizeof **out);
            }
            (*out)[(*n)++] = r;
        } else {
            free(r);
        }
        free(full);
    }
    closedir(d);
}

int knowledge_seed_dir(const char *dir, const char *owner_id, struct kn_seed_summary *summary)
{
    char **files = NULL;
    size_t n = 0, cap = 0;
    list_md(dir, "", &files, &n, &cap, 0);
    if (n) qsort(files, n, sizeof *files, cmp_str);
    memset(summary, 0, sizeof *summary);
    summary->files = n;
    summary->docs = n ? xcalloc(n, sizeof *summary->docs) : NULL;
    struct kn_caller c = {owner_id, NULL, 1};
    for (size_t i = 0; i < n; i++) {
        struct kn_seeded *e = &summary->docs[i];
        char *path = xasprintf("%s/%s", dir, files[i]);
        char *data = NULL;
        size_t len = 0;
        e->source = xasprintf("docs/%s", files[i]);
        if (read_file(path, &data, &len)) {
            summary->failed++;
            e->status = "unreadable";
        } else {
            char sha[65];
            sha256_hex(data, len, sha);
            if (!store_doc_find_sha(sha, NULL, 1, e->document_id)) {
                summary->skipped++;
                e->status = "exists";
            } else {
                struct kn_upload u = {.data = data,
                                      .len = len,
                                      .category = "ragd-docs",
                                      .source = e->source,
                                      .shared = 1,
                                      .importance = 1.0};
                struct kdoc doc;
                char why[256];
                e->document_id[0] = 0;
                if (knowledge_submit(&c, &u, &doc, why, sizeof why)) {
                    summary->failed++;
                    e->status = "failed";
                    e->error = xstrdup(why);
                } else {
                    summary->ingested++;
                    e->status = "queued";
                    snprintf(e->document_id, sizeof e->document_id, "%s", doc.id);
                }
                store_kdoc_clear(&doc);
            }
        }
        free(data);
        free(path);
        free(files[i]);
    }
    free(files);
    return 0;
}

void knowledge_seed_summary_free(struct kn_seed_summary *s)
{
    for (size_t i = 0; s && i < s->files; i++) {
        free(s->docs[i].source);
        free(s->docs[i].error);
    }
    if (s) free(s->docs);
}

const char *knowledge_docs_dir(void)
{
    static char found[PATH_MAX];
    static pthread_mutex_t l = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&l);
    const char *env = config_str("KNOWLEDGE_DOCS_DIR", NULL);
    struct stat st;
    const char *res = NULL;
    if (env) {
        if (!stat(env, &st) && S_ISDIR(st.st_mode)) {
            snprintf(found, sizeof found, "%s", env);
            res = found;
        }
    } else if (!stat("docs", &st) && S_ISDIR(st.st_mode)) {
        snprintf(found, sizeof found, "docs");
        res = found;
    } else {
        char exe[PATH_MAX - 16];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            for (int up = 1; up <= 3 && !res; up++) {
                char *slash = strrchr(exe, '/');
                if (!slash) break;
                *slash = '\0';
                snprintf(found, sizeof found, "%s/docs", exe);
                if (!stat(found, &st) && S_ISDIR(st.st_mode)) res = found;
            }
        }
    }
    pthread_mutex_unlock(&l);
    return res;
}
