/* server.c - libmicrohttpd glue: request lifecycle, routing, the guard chain, responses,
 * deferred work on the worker pool (suspend/resume), streamed responses, access log. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/cidr.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/roundtrips.h"
#include "core/workq.h"
#include "core/util.h"
#include "http/conntrack.h"
#include "http/http.h"

/* MAX_HEADERS is above the number of distinct header names the code sets (a name set again
 * replaces its value), so the panic below cannot be reached by a combination of them. */
enum { MAX_PARAMS = 8, MAX_HEADERS = 32, MAX_HOOKS = 4, MAX_TABLES = 32 };

struct hook {
    void (*fn)(struct req *r, int status, void *arg);
    void *arg;
};

struct stream {
    pthread_mutex_t lock;
    struct sbuf buf; /* bytes not yet taken by MHD */
    size_t taken;    /* bytes of buf already handed out */
    int ended, gone, reader_suspended;
};

struct req {
    atomic_int refs;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    char *log_path, *log_method; /* path and method with invalid UTF-8 bytes escaped, for
                                    logs and messages (valid JSON strings) */
    char request_id[65];
    char ip[CIDR_ADDR_MAX];   /* the client (req_ip) */
    char peer[CIDR_ADDR_MAX]; /* the connection's other end */
    char user_id[64];         /* for the access log; "" until req_set_user */
    int64_t start_ns;

    char *body;
    size_t body_len, body_cap, max_body;
    int body_too_large;
    json_t *json;

    const struct route *route;
    const char *pnames[MAX_PARAMS];
    char *pvalues[MAX_PARAMS];
    int nparams;

    void *slots[SLOT_COUNT];
    void (*slot_free[SLOT_COUNT])(void *);
    struct hook hooks[MAX_HOOKS];
    int nhooks;

    /* response under construction */
    char *hnames[MAX_HEADERS], *hvalues[MAX_HEADERS];
    int nheaders;
    int status;
    struct MHD_Response *response; /* ready to queue */
    int replied, queued;
    int suspended; /* connection suspended waiting for a worker */
    pthread_mutex_t lock;
    void (*deferred)(struct req *r);
    struct stream *stream;
};

/* ---- globals ---- */

static const struct route *tables[MAX_TABLES];
static int ntables;
static guard_fn guards[GUARD_STAGES];
static struct MHD_Daemon *daemon_;
static workq_t *workers;
static struct http_config cfg;
static atomic_int inflight;
/* Set by http_stop: new connections are closed as they are accepted. (MHD_quiesce_daemon
 * would stop listening instead, but with the epoll thread pool it races a worker that removes
 * the listening socket itself, and the loser aborts the process.) */
static atomic_int draining;
/* The CORS origins in force. A reload publishes a new set; old ones are kept (retired) until
 * the server stops, since a request may still be reading one. */
struct cors_set {
    char **list;
    int n, any;
    struct cors_set *retired;
};
static struct cors_set *_Atomic cors;
static cidr_set_t *trusted; /* TRUSTED_PROXIES; read-only while serving */
static int bound_port;
static conntrack_t *conns;
static pthread_t reaper;
static int reaper_running;
static pthread_mutex_t reaper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cond = PTHREAD_COND_INITIALIZER;
static int reaper_stop;

void http_add_routes(const struct route *routes)
{
    if (ntables == MAX_TABLES) panic("too many route tables");
    tables[ntables++] = routes;
}

void http_foreach_route(void (*fn)(const struct route *rt, void *arg), void *arg)
{
    for (int t = 0; t < ntables; t++)
        for (const struct route *rt = tables[t]; rt->method; rt++)
            fn(rt, arg);
}

void http_set_guard(enum guard_stage stage, guard_fn fn)
{
    guards[stage] = fn;
}

int http_inflight(void)
{
    return atomic_load(&inflight);
}

int http_port(void)
{
    return bound_port;
}

/* ---- request accessors ---- */

const char *req_path(struct req *r)
{
    return r->path;
}
const char *req_id(struct req *r)
{
    return r->request_id;
}
const char *req_ip(struct req *r)
{
    return r->ip;
}
const char *req_peer(struct req *r)
{
    return r->peer;
}
void req_set_user(struct req *r, const char *user_id)
{
    snprintf(r->user_id, sizeof r->user_id, "%s", user_id ? user_id : "");
}
json_t *req_json(struct req *r)
{
    return r->json;
}

const char *req_header(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_query(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *req_param(struct req *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (!strcmp(r->pnames[i], name)) return r->pvalues[i];
    return NULL;
}

const char *req_body(struct req *r, size_t *len)
{
    if (len) *len = r->body_len;
    return r->body ? r->body : "";
}

int req_query_int(struct req *r, const char *name, long long def, long long min, long long max,
                  long long *out)
{
    const char *v = req_query(r, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < min || x > max) {
        json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "detail", "", "code", "VALIDATION_ERROR",
                              "field", name, "request_id", r->request_id);
        char msg[160];
        snprintf(msg, sizeof msg, "query parameter '%s' must be an integer from %lld to %lld", name,
                 min, max);
        json_object_set_new(d, "detail", json_string(msg));
        http_json(r, 422, d);
        return -1;
    }
    *out = x;
    return 0;
}

void req_set_slot(struct req *r, enum req_slot slot, void *ptr, void (*free_fn)(void *))
{
    if (r->slots[slot] && r->slot_free[slot]) r->slot_free[slot](r->slots[slot]);
    r->slots[slot] = ptr;
    r->slot_free[slot] = free_fn;
}

void *req_slot(struct req *r, enum req_slot slot)
{
    return r->slots[slot];
}

void req_on_reply(struct req *r, void (*fn)(struct req *r, int status, void *arg), void *arg)
{
    if (r->nhooks == MAX_HOOKS) panic("too many reply hooks");
    r->hooks[r->nhooks++] = (struct hook){fn, arg};
}

/* ---- responses ---- */

void http_header(struct req *r, const char *name, const char *value)
{
    for (int i = 0; i < r->nheaders; i++) {
        if (!strcasecmp(r->hnames[i], name)) {
            free(r->hvalues[i]);
            r->hvalues[i] = xstrdup(value);
            return;
        }
    }
    if (r->nheaders == MAX_HEADERS) panic("too many response headers");
    r->hnames[r->nheaders] = xstrdup(name);
    r->hvalues[r->nheaders++] = xstrdup(value);
}

static const char *cors_match(const char *origin)
{
    const struct cors_set *c = atomic_load(&cors);
    if (!origin || !c) return NULL;
    if (c->any) return origin;
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->list[i], origin)) return origin;
    return NULL;
}

static void add_common_headers(struct req *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-ID", r->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "strict-origin-when-cross-origin");
    int own_cache = 0; /* a handler that sets Cache-Control (static files) replaces no-store */
    int own_cors = 0;  /* a handler that grants an origin itself (the widget) replaces the list */
    for (int i = 0; i < r->nheaders; i++) {
        own_cache |= !strcasecmp(r->hnames[i], "Cache-Control");
        own_cors |= !strcasecmp(r->hnames[i], "Access-Control-Allow-Origin");
    }
    if (!own_cache) MHD_add_response_header(resp, "Cache-Control", "no-store");
    const char *origin = own_cors ? NULL : cors_match(req_header(r, "Origin"));
    if (origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining,"
                                " X-RateLimit-Reset, Retry-After, X-Maintenance");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->hnames[i], r->hvalues[i]);
}

/* Wakes the network side after a worker produced the response. */
static void wake(struct req *r)
{
    pthread_mutex_lock(&r->lock);
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
    pthread_mutex_unlock(&r->lock);
}

static http_header_hook_fn header_hook;
static http_preflight_fn preflight_hook;

void http_set_preflight_hook(http_preflight_fn fn)
{
    preflight_hook = fn;
}

void http_set_header_hook(http_header_hook_fn fn)
{
    header_hook = fn;
}

static void finish(struct req *r, int status, struct MHD_Response *resp)
{
    if (r->replied) {
        /* A second answer is a bug in a handler; keep the first. */
        log_json(LOG_ERROR, "response given twice",
                 json_pack("{s:s, s:s}", "request_id", r->request_id, "path", r->log_path));
        MHD_destroy_response(resp);
        return;
    }
    r->replied = 1;
    r->status = status;
    if (header_hook) header_hook(r);
    add_common_headers(r, resp);
    for (int i = 0; i < r->nhooks; i++)
        r->hooks[i].fn(r, status, r->hooks[i].arg);
    r->response = resp;
    wake(r);
}

void http_raw(struct req *r, int status, const char *content_type, const char *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", content_type);
    finish(r, status, resp);
}

static http_json_filter_fn json_filter;

void http_set_json_filter(http_json_filter_fn fn)
{
    json_filter = fn;
}

void http_json(struct req *r, int status, json_t *body)
{
    if (json_filter && body) json_filter(r, status, body);
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    if (!s) {
        /* A handler built no body (json_pack refused a value: a bug, not the client's fault).
         * The request fails; the server stays up. */
        log_json(LOG_ERROR, "response body could not be built",
                 json_pack("{s:s, s:s}", "request_id", req_id(r), "path", r->log_path));
        static const char fallback[] = "{\"detail\":\"Internal server error\","
                                       "\"code\":\"INTERNAL_ERROR\"}";
        http_raw(r, 500, "application/json", fallback, sizeof fallback - 1);
        return;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    finish(r, status, resp);
}

void http_error_json(struct req *r, int status, const char *code, json_t *detail)
{
    http_json(
        r, status,
        json_pack("{s:o, s:s, s:s}", "detail", detail, "code", code, "request_id", r->request_id));
}

void http_error(struct req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_error_json(r, status, code, json_string(msg));
}

void http_store_error(struct req *r, int rc)
{
    switch (rc) {
    case RAGD_ENOTFOUND:
        http_error(r, 404, "NOT_FOUND", "Not found");
        break;
    case RAGD_EEXIST:
        http_error(r, 409, "CONFLICT", "Already exists");
        break;
    case RAGD_EUNAVAIL:
        http_header(r, "Retry-After", "1");
        http_error(r, 503, "SERVICE_UNAVAILABLE", "A backend is unavailable; try again");
        break;
    case RAGD_EINVAL:
        http_error(r, 422, "VALIDATION_ERROR", "Invalid value");
        break;
    case RAGD_ENOSPC:
        http_header(r, "Retry-After", "60");
        http_error(r, 507, "INSUFFICIENT_STORAGE",
                   "The server has no space left to store this; nothing was changed");
        break;
    default:
        http_error(r, 500, "INTERNAL_ERROR", "Internal server error");
    }
}

/* ---- deferred work ---- */

static void req_unref(struct req *r);

static void run_deferred(void *arg)
{
    struct req *r = arg;
    /* The worker's round trips count on the request's route, as the handler's did. */
    struct roundtrips_mark rt_mark;
    roundtrips_mark(&rt_mark);
    r->deferred(r);
    if (!r->replied) http_error(r, 500, "INTERNAL_ERROR", "Internal server error");
    roundtrips_record(r->route ? r->route->pattern : "unmatched", &rt_mark);
    req_unref(r);
}

int http_defer(struct req *r, void (*fn)(struct req *r))
{
    r->deferred = fn;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_lock(&r->lock);
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&r->lock);
    if (workq_submit(workers, run_deferred, r)) {
        atomic_fetch_sub(&r->refs, 1);
        metrics_reject("overloaded");
        http_header(r, "Retry-After", "1");
        http_error(r, 503, "OVERLOADED", "Server is busy; try again shortly");
        return -1;
    }
    return 0;
}

/* ---- streams ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct req *r = cls;
    struct stream *s = r->stream;
    (void)pos;
    pthread_mutex_lock(&s->lock);
    size_t avail = s->buf.len - s->taken;
    ssize_t n;
    if (avail) {
        n = (ssize_t)(avail < max ? avail : max);
        memcpy(buf, s->buf.s + s->taken, (size_t)n);
        s->taken += (size_t)n;
        if (s->taken == s->buf.len) {
            s->buf.len = 0;
            s->taken = 0;
        }
    } else if (s->ended) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing yet: park the connection until the producer writes. */
        s->reader_suspended = 1;
        MHD_suspend_connection(r->conn);
        n = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void stream_free(void *cls)
{
    struct req *r = cls;
    pthread_mutex_lock(&r->stream->lock);
    if (!r->stream->ended) r->stream->gone = 1;
    pthread_mutex_unlock(&r->stream->lock);
    req_unref(r);
}

int http_stream_begin(struct req *r, const char *content_type)
{
    struct stream *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    sb_init(&s->buf);
    r->stream = s;
    atomic_fetch_add(&r->refs, 1); /* held by the MHD response until stream_free */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, r, stream_free);
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    finish(r, 200, resp);
    return 0;
}

static int stream_push(struct req *r, const char *data, size_t len, int end)
{
    struct stream *s = r->stream;
    pthread_mutex_lock(&s->lock);
    int gone = s->gone;
    if (!gone) {
        if (len) sb_add(&s->buf, data, len);
        if (end) s->ended = 1;
        if (s->reader_suspended) {
            s->reader_suspended = 0;
            MHD_resume_connection(r->conn);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return gone ? -1 : 0;
}

int http_stream_write(struct req *r, const char *data, size_t len)
{
    return stream_push(r, data, len, 0);
}

int http_stream_event(struct req *r, json_t *event)
{
    char *s = event ? json_dumps(event, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(event);
    struct sbuf b;
    sb_init(&b);
    sb_adds(&b, "data: ");
    sb_adds(&b, s ? s : "{}");
    sb_adds(&b, "\n\n");
    free(s);
    int rc = http_stream_write(r, b.s, b.len);
    sb_free(&b);
    return rc;
}

void http_stream_end(struct req *r)
{
    stream_push(r, NULL, 0, 1);
}

/* ---- request lifecycle ---- */

static void req_free(struct req *r)
{
    for (int i = 0; i < SLOT_COUNT; i++)
        if (r->slots[i] && r->slot_free[i]) r->slot_free[i](r->slots[i]);
    for (int i = 0; i < r->nparams; i++)
        free(r->pvalues[i]);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->hnames[i]);
        free(r->hvalues[i]);
    }
    if (r->stream) {
        sb_free(&r->stream->buf);
        pthread_mutex_destroy(&r->stream->lock);
        free(r->stream);
    }
    if (r->response) MHD_destroy_response(r->response);
    json_decref(r->json);
    pthread_mutex_destroy(&r->lock);
    free(r->body);
    free(r->path);
    free(r->log_path);
    free(r->log_method);
    free(r);
}

static void req_unref(struct req *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) req_free(r);
}

static int id_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.')) return 0;
    return 1;
}

/* A copy of s in which every byte that is not part of well-formed UTF-8 is written as \xHH,
 * so that it can go into a JSON log line or message without losing the rest. */
static char *log_escape(const char *s)
{
    struct sbuf b;
    sb_init(&b);
    while (*s) {
        unsigned char c = (unsigned char)*s;
        size_t n = c < 0x80                 ? 1
                   : c >= 0xc2 && c <= 0xdf ? 2
                   : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4
                                            : 0;
        if (n && strnlen(s, n) == n && utf8_valid(s, n)) {
            sb_add(&b, s, n);
            s += n;
        } else {
            sb_printf(&b, "\\x%02X", c);
            s++;
        }
    }
    return sb_take(&b);
}

/* MHD_KeyValueIterator: joins every value of the header named in j->name with commas (a
 * header sent several times is one list). */
struct joined {
    const char *name;
    struct sbuf b;
};

static enum MHD_Result join_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct joined *j = cls;
    if (value && !strcasecmp(key, j->name) && j->b.len < 8192) {
        if (j->b.len) sb_adds(&j->b, ",");
        sb_adds(&j->b, value);
    }
    return MHD_YES;
}

/* Sets r->peer from the connection and r->ip, the client, from it and TRUSTED_PROXIES: the
 * one place ragd decides who the client is. The forwarding headers are read only when the
 * peer is a trusted proxy. */
static void client_address(struct req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->peer,
                      sizeof r->peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->peer,
                      sizeof r->peer);
    }
    if (!cidr_set_contains(trusted, r->peer)) {
        memcpy(r->ip, r->peer, sizeof r->ip);
        return;
    }
    struct joined xff = {"X-Forwarded-For", {0}}, fwd = {"Forwarded", {0}};
    sb_init(&xff.b);
    sb_init(&fwd.b);
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_header, &xff);
    if (!xff.b.len) MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_header, &fwd);
    cidr_client_address(trusted, r->peer, xff.b.len ? xff.b.s : NULL, fwd.b.len ? fwd.b.s : NULL,
                        r->ip);
    sb_free(&xff.b);
    sb_free(&fwd.b);
}

static struct req *req_new(struct MHD_Connection *conn, const char *url, const char *method)
{
    struct req *r = xcalloc(1, sizeof *r);
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->lock, NULL);
    r->conn = conn;
    r->start_ns = time_mono_ns();
    snprintf(r->method, sizeof r->method, "%s", method);
    size_t n = strlen(url);
    if (n > 1 && url[n - 1] == '/') n--;
    r->path = xstrndup(url, n);
    r->log_path = log_escape(r->path);
    r->log_method = log_escape(r->method);
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-ID");
    if (rid && id_ok(rid))
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    else
        uuid4(r->request_id);
    client_address(r);
    atomic_fetch_add(&inflight, 1);
    return r;
}

/* ---- routing ---- */

/* Matches path against pattern, capturing {params}. */
static int match(const char *pattern, const char *path, struct req *r)
{
    int np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            if (!se) se = s + strlen(s);
            if (se == s || np == MAX_PARAMS) goto fail;
            if (r) {
                r->pnames[np] = NULL; /* name is resolved lazily below */
                r->pvalues[np] = xstrndup(s, (size_t)(se - s));
            }
            np++;
            p = pe + 1;
            s = se;
        } else if (*p == *s) {
            p++;
            s++;
        } else {
            goto fail;
        }
    }
    if (*p || *s) goto fail;
    if (r) {
        /* Record parameter names (pointers into a static table of names). */
        static __thread char names[MAX_PARAMS][32];
        int i = 0;
        for (p = pattern; (p = strchr(p, '{')); p++) {
            const char *pe = strchr(p, '}');
            snprintf(names[i], sizeof names[i], "%.*s", (int)(pe - p - 1), p + 1);
            r->pnames[i] = names[i];
            i++;
        }
        r->nparams = np;
    }
    return 1;
fail:
    if (r)
        for (int i = 0; i < np; i++) {
            free(r->pvalues[i]);
            r->pvalues[i] = NULL;
        }
    return 0;
}

/* 1 if pattern a is more specific than b, both matching the same path: at the first segment
 * where one has a literal and the other a {parameter}, the literal wins ("/users/me" over
 * "/users/{id}"). */
static int more_specific(const char *a, const char *b)
{
    while (*a && *b) {
        int pa = *a == '{', pb = *b == '{';
        if (pa != pb) return !pa;
        const char *ea = strchr(a, '/'), *eb = strchr(b, '/');
        if (!ea || !eb) break;
        a = ea + 1;
        b = eb + 1;
    }
    return 0;
}

/* Routing: the most specific pattern that matches path decides; its rows' methods are the
 * ones allowed. Returns the row for method, or NULL with *allow listing the pattern's
 * methods (405) or empty (no pattern matches: 404). */
static const struct route *route_lookup(const char *path, const char *method, char *allow,
                                        size_t allowcap)
{
    const char *best = NULL;
    allow[0] = '\0';
    for (int t = 0; t < ntables; t++)
        for (const struct route *rt = tables[t]; rt->method; rt++)
            if (match(rt->pattern, path, NULL) && (!best || more_specific(rt->pattern, best)))
                best = rt->pattern; /* match first: it fails at the first differing byte */
    if (!best) return NULL;
    const struct route *hit = NULL;
    for (int t = 0; t < ntables; t++) {
        for (const struct route *rt = tables[t]; rt->method; rt++) {
            if (rt->pattern != best && strcmp(rt->pattern, best)) continue;
            if (!hit && !strcmp(rt->method, method)) hit = rt;
            if (!strstr(allow, rt->method)) {
                size_t l = strlen(allow);
                snprintf(allow + l, allowcap - l, "%s%s", l ? ", " : "", rt->method);
            }
        }
    }
    return hit;
}

/* Finds the route for r and captures its path parameters; see route_lookup. */
static const struct route *route_find(struct req *r, const char *method, char *allow,
                                      size_t allowcap)
{
    const struct route *rt = route_lookup(r->path, method, allow, allowcap);
    if (rt) match(rt->pattern, r->path, r);
    return rt;
}

/* The pattern's parameter names live in thread-local storage during matching; copy them
 * into the request so they survive a move to a worker thread. */
static void pin_param_names(struct req *r)
{
    static const char *interned[64];
    static pthread_mutex_t il = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&il);
    for (int i = 0; i < r->nparams; i++) {
        int k = 0;
        while (k < 64 && interned[k] && strcmp(interned[k], r->pnames[i]))
            k++;
        if (k == 64) panic("too many distinct path parameter names");
        if (!interned[k]) interned[k] = xstrdup(r->pnames[i]);
        r->pnames[i] = interned[k];
    }
    pthread_mutex_unlock(&il);
}

/* Turns an application/x-www-form-urlencoded body into a JSON object of strings. */
static json_t *form_to_json(const char *body, size_t len)
{
    json_t *o = json_object();
    char *copy = xstrndup(body, len), *save = NULL;
    for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        char *val = eq ? eq + 1 : pair + strlen(pair);
        if (eq) *eq = '\0';
        for (char *x = pair; *x; x++)
            if (*x == '+') *x = ' ';
        for (char *x = val; *x; x++)
            if (*x == '+') *x = ' ';
        MHD_http_unescape(pair);
        MHD_http_unescape(val);
        if (!utf8_valid(pair, strlen(pair)) || !utf8_valid(val, strlen(val))) {
            json_decref(o);
            o = NULL;
            break;
        }
        json_object_set_new(o, pair, json_string(val));
    }
    free(copy);
    return o;
}

/* 1 if the Content-Type value ct names exactly the media type type (case-insensitive);
 * parameters after ';' ("; charset=utf-8") are allowed, "application/jsonx" is not JSON. */
static int media_type_is(const char *ct, const char *type)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n)) return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

static int parse_body(struct req *r, const struct route *rt)
{
    const char *ct = req_header(r, "Content-Type");
    if (r->body_len == 0) {
        /* No body: fine when nothing is required. */
        for (const struct jv_field *f = rt->body->fields; f->name; f++)
            if (f->required) {
                http_error(r, 422, "VALIDATION_ERROR", "request body is required (JSON object)");
                return -1;
            }
        r->json = json_object();
        return 0;
    }
    if (ct && media_type_is(ct, "application/x-www-form-urlencoded")) {
        r->json = form_to_json(r->body, r->body_len);
        if (!r->json) {
            http_error(r, 400, "INVALID_BODY", "form body is not valid UTF-8");
            return -1;
        }
        return 0;
    }
    if (ct && !media_type_is(ct, "application/json")) {
        http_error(r, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json");
        return -1;
    }
    char err[256];
    if (jv_parse_object(r->body, r->body_len, &r->json, err, sizeof err)) {
        metrics_reject("invalid_json");
        http_error(r, 400, "INVALID_JSON", "%s", err);
        return -1;
    }
    return 0;
}

/* MHD_KeyValueIterator: stops at the first query argument that is not valid UTF-8. */
static enum MHD_Result arg_utf8(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    if (utf8_valid(key, strlen(key)) && (!value || utf8_valid(value, strlen(value))))
        return MHD_YES;
    *(int *)cls = 1;
    return MHD_NO;
}

static void dispatch(struct req *r)
{
    /* Paths and query arguments reach handlers, JSON bodies and logs as text: bytes that are
     * not UTF-8 (say "%ff") are the client's error, answered before anything else. */
    int bad_query = 0;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, arg_utf8, &bad_query);
    if (!utf8_valid(r->path, strlen(r->path)) || !utf8_valid(r->method, strlen(r->method)) ||
        bad_query) {
        metrics_reject("invalid_utf8");
        http_error(r, 400, "INVALID_REQUEST", "The path and query must be valid UTF-8");
        return;
    }
    const char *method = r->method;
    if (!strcmp(method, "HEAD")) method = "GET";
    if (!strcmp(method, "OPTIONS")) {
        const char *origin = cors_match(req_header(r, "Origin"));
        char allow[128];
        route_find(r, "\x01", allow, sizeof allow); /* collect the methods for this path */
        if (!origin && allow[0] && preflight_hook && preflight_hook(r, req_header(r, "Origin"))) {
            origin = req_header(r, "Origin");
            http_header(r, "Access-Control-Allow-Origin", origin);
            http_header(r, "Vary", "Origin");
        }
        if (origin) {
            http_header(r, "Access-Control-Allow-Methods",
                        allow[0] ? allow : "GET, POST, PUT, PATCH, DELETE");
            const char *rh = req_header(r, "Access-Control-Request-Headers");
            http_header(r, "Access-Control-Allow-Headers",
                        rh && strlen(rh) < 512 ? rh
                                               : "Authorization, Content-Type, X-Request-ID, "
                                                 "X-API-Key");
            http_header(r, "Access-Control-Max-Age", "600");
        }
        if (allow[0]) http_header(r, "Allow", allow);
        http_raw(r, allow[0] ? 204 : 404, "text/plain", "", 0);
        return;
    }
    char allow[128];
    const struct route *rt = route_find(r, method, allow, sizeof allow);
    if (!rt) {
        if (allow[0]) {
            http_header(r, "Allow", allow);
            http_error(r, 405, "METHOD_NOT_ALLOWED", "Method %s not allowed on %s", r->log_method,
                       r->log_path);
        } else {
            http_error(r, 404, "NOT_FOUND", "No route for %s", r->log_path);
        }
        return;
    }
    r->route = rt;
    pin_param_names(r);
    if (r->body_too_large) {
        metrics_reject("body_too_large");
        http_error(r, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds %zu bytes", r->max_body);
        return;
    }
    if (guards[GUARD_AUTH] && guards[GUARD_AUTH](r, rt)) return;
    if (guards[GUARD_GATE] && guards[GUARD_GATE](r, rt)) return;
    if (guards[GUARD_RATE] && guards[GUARD_RATE](r, rt)) return;
    if (rt->body) {
        if (parse_body(r, rt)) return;
        const char *field;
        char err[512];
        if (jv_validate(r->json, rt->body, &field, err, sizeof err)) {
            metrics_reject("validation");
            http_json(r, 422,
                      json_pack("{s:s, s:s, s:s, s:s}", "detail", err, "code", "VALIDATION_ERROR",
                                "field", field, "request_id", r->request_id));
            return;
        }
    }
    if (guards[GUARD_QUOTA] && guards[GUARD_QUOTA](r, rt)) return;
    rt->handler(r);
}

/* The body limit for r's route (its own max_body, else the server's), decided from the
 * headers alone so that an oversized upload is refused before it is read. */
static size_t body_limit(struct req *r)
{
    const char *method = !strcmp(r->method, "HEAD") ? "GET" : r->method;
    char allow[128];
    const struct route *rt = route_lookup(r->path, method, allow, sizeof allow);
    return rt && rt->upload && cfg.max_upload > cfg.max_body ? cfg.max_upload : cfg.max_body;
}

/* ---- connections: header deadline, room for new clients ---- */

static conntrack_conn_t *conn_record(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)cls;
    (void)addr;
    (void)len;
    return atomic_load(&draining) ? MHD_NO : MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* MHD closes the socket after this returns: forget it first (see conntrack.h). */
        conntrack_close(conns, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return;
    enum conntrack_admit how;
    *socket_context = conntrack_open(conns, ci->connect_fd, time_mono_ns(), &how);
    if (how == CONNTRACK_REFUSED)
        metrics_reject("connection_limit");
    else if (how == CONNTRACK_MADE_ROOM)
        metrics_reject("waiting_connection_dropped");
}

static void *reaper_main(void *arg)
{
    (void)arg;
    int64_t tick_ns = (int64_t)cfg.header_timeout_s * 1000000000 / 8;
    if (tick_ns > 250000000) tick_ns = 250000000;
    pthread_mutex_lock(&reaper_lock);
    while (!reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t t = (int64_t)ts.tv_nsec + tick_ns;
        ts.tv_sec += (time_t)(t / 1000000000);
        ts.tv_nsec = (long)(t % 1000000000);
        pthread_cond_timedwait(&reaper_cond, &reaper_lock, &ts);
        if (reaper_stop) break;
        pthread_mutex_unlock(&reaper_lock);
        int n = conntrack_reap(conns, time_mono_ns());
        for (int i = 0; i < n; i++)
            metrics_reject("header_timeout");
        pthread_mutex_lock(&reaper_lock);
    }
    pthread_mutex_unlock(&reaper_lock);
    return NULL;
}

static void reaper_join(void)
{
    if (!reaper_running) return;
    pthread_mutex_lock(&reaper_lock);
    reaper_stop = 1;
    pthread_cond_signal(&reaper_cond);
    pthread_mutex_unlock(&reaper_lock);
    pthread_join(reaper, NULL);
    reaper_running = 0;
}

static enum MHD_Result queue(struct req *r)
{
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, r->response);
    r->queued = 1;
    /* MHD holds its own reference now. Dropping ours matters for streams: their response
     * holds a reference to the request, which would otherwise never be freed. */
    MHD_destroy_response(r->response);
    r->response = NULL;
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct req *r = *con_cls;
    if (!r) {
        conntrack_headers_done(conns, conn_record(conn));
        r = req_new(conn, url, method);
        *con_cls = r;
        r->max_body = body_limit(r);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > r->max_body) {
            metrics_reject("body_too_large");
            http_error(r, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds %zu bytes", r->max_body);
            return queue(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (time_mono_ns() - r->start_ns > (int64_t)cfg.request_timeout_s * 1000000000) {
            metrics_reject("request_timeout");
            return MHD_NO; /* a body trickling in too slowly: drop the connection */
        }
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->body_too_large || r->body_len + n > r->max_body) {
            r->body_too_large = 1;
            return MHD_YES;
        }
        if (r->body_len + n + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + n + 1)
                cap *= 2;
            char *nb = try_realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }
    if (r->queued) return MHD_YES;
    if (!r->replied && !r->deferred) {
        struct roundtrips_mark rt_mark;
        roundtrips_mark(&rt_mark);
        dispatch(r);
        roundtrips_record(r->route ? r->route->pattern : "unmatched", &rt_mark);
        /* Deferred work answers from a worker, which resumes the connection; MHD then calls
         * us again and the response is queued below. Never queue on a suspended one. */
        if (r->deferred) return MHD_YES;
    }
    pthread_mutex_lock(&r->lock);
    int ready = r->replied && !r->suspended;
    pthread_mutex_unlock(&r->lock);
    return ready ? queue(r) : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    struct req *r = *con_cls;
    if (!r) return;
    int64_t dur = time_mono_ns() - r->start_ns;
    int status = r->replied ? r->status : 0;
    const char *route = r->route ? r->route->pattern : "unmatched";
    metrics_request(r->method, route, status, dur);
    json_t *f = json_pack("{s:s, s:s, s:s, s:i, s:f, s:s, s:s}", "request_id", r->request_id,
                          "method", r->log_method, "path", r->log_path, "status", status,
                          "duration_ms", (double)dur / 1e6, "ip", r->ip, "route", route);
    if (strcmp(r->peer, r->ip)) json_object_set_new(f, "peer", json_string(r->peer));
    if (r->user_id[0]) json_object_set_new(f, "user_id", json_string(r->user_id));
    const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    if (ua && *ua) {
        char cut[257];
        snprintf(cut, sizeof cut, "%s", ua); /* a long agent string is not worth the bytes */
        char *esc = log_escape(cut);
        json_object_set_new(f, "user_agent", json_string(esc));
        free(esc);
    }
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        json_object_set_new(f, "terminated", json_integer(toe));
    log_json(LOG_INFO, "request", f);
    conntrack_request_done(conns, conn_record(conn), time_mono_ns());
    atomic_fetch_sub(&inflight, 1);
    *con_cls = NULL;
    req_unref(r);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_json(LOG_DEBUG, "http", json_pack("{s:s}", "detail", buf));
}

static struct cors_set *parse_cors(const char *spec)
{
    struct cors_set *c = xcalloc(1, sizeof *c);
    if (!spec || !*spec) return c;
    json_error_t je;
    json_t *arr = json_loads(spec, 0, &je);
    if (json_is_array(arr)) {
        size_t i;
        json_t *v;
        c->list = xcalloc(json_array_size(arr) + 1, sizeof *c->list);
        json_array_foreach(arr, i, v) if (json_is_string(v))
        {
            if (!strcmp(json_string_value(v), "*")) c->any = 1;
            c->list[c->n++] = xstrdup(json_string_value(v));
        }
    } else {
        char *copy = xstrdup(spec), *save = NULL;
        c->list = xcalloc(strlen(spec) + 1, sizeof *c->list);
        for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            if (!strcmp(t, "*")) c->any = 1;
            c->list[c->n++] = xstrdup(t);
        }
        free(copy);
    }
    json_decref(arr);
    return c;
}

static void cors_free(struct cors_set *c)
{
    while (c) {
        struct cors_set *next = c->retired;
        for (int i = 0; i < c->n; i++)
            free(c->list[i]);
        free(c->list);
        free(c);
        c = next;
    }
}

static pthread_mutex_t cors_lock = PTHREAD_MUTEX_INITIALIZER;

void http_set_cors(const char *spec)
{
    struct cors_set *c = parse_cors(spec);
    pthread_mutex_lock(&cors_lock);
    c->retired = atomic_exchange(&cors, c);
    pthread_mutex_unlock(&cors_lock);
}

/* Every connection holds a descriptor. If the open-file limit were reached before
 * max_connections, accept() would fail and nobody would get in (the oldest waiting connection
 * is only dropped at max_connections): raise the soft limit to the hard one, and lower
 * *max_connections to what fits beside the descriptors ragd needs for everything else. */
static void fit_open_file_limit(int *max_connections)
{
    enum { RESERVED_FDS = 256 };
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) || getrlimit(RLIMIT_NOFILE, &rl)) return;
    }
    if (rl.rlim_cur == RLIM_INFINITY) return;
    rlim_t fit = rl.rlim_cur > 2 * RESERVED_FDS ? rl.rlim_cur - RESERVED_FDS : rl.rlim_cur / 2;
    if ((rlim_t)*max_connections <= fit) return;
    log_json(LOG_WARN, "MAX_CONNECTIONS lowered to fit the open-file limit",
             json_pack("{s:i, s:i, s:I}", "configured", *max_connections, "used", (int)fit,
                       "open_file_limit", (json_int_t)rl.rlim_cur));
    *max_connections = (int)fit;
}

/* Why sa cannot be listened on, for the start-up message (libmicrohttpd only says no). */
static const char *bind_error(const struct sockaddr *sa)
{
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0) return strerror(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int e = bind(fd, sa, len) || listen(fd, 1) ? errno : 0;
    close(fd);
    if (e == EADDRINUSE) return "the address is already in use (is another ragd running?)";
    return e ? strerror(e) : "the server could not start";
}

int http_start(const struct http_config *c, char *err, size_t errcap)
{
    cfg = *c;
    if (cfg.header_timeout_s <= 0) cfg.header_timeout_s = 10;
    if (cfg.max_connections <= 0) cfg.max_connections = 4096;
    if (cfg.max_connections_per_ip <= 0) cfg.max_connections_per_ip = 256;
    fit_open_file_limit(&cfg.max_connections);
    cidr_set_free(trusted);
    trusted = NULL;
    if (cidr_set_parse(c->trusted_proxies, &trusted, err, errcap)) {
        char why[256];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errcap, "TRUSTED_PROXIES: %s", why);
        return RAGD_EINVAL;
    }
    http_set_cors(c->cors_origins);
    workers = workq_create(c->workers, 4096, "worker");
    conns = conntrack_create(cfg.max_connections, (int64_t)cfg.header_timeout_s * 1000,
                             (int64_t)cfg.idle_timeout_s * 1000);
    struct sockaddr_in6 a6 = {0};
    struct sockaddr_in a4 = {0};
    struct sockaddr *sa;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, c->host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)c->port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, c->host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)c->port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errcap, "API_HOST '%s' is not an IP address", c->host);
        conntrack_free(conns);
        conns = NULL;
        return RAGD_EINVAL;
    }
    daemon_ = MHD_start_daemon(
        flags, (uint16_t)c->port, accept_policy, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)c->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)c->max_header + 16384,
        /* MHD splits its limit between the network threads; ragd's own limit (conntrack)
         * is the one that binds, this one only has to stay out of its way. */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.max_connections * (unsigned)(c->threads + 1),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg.max_connections_per_ip,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it sets SO_REUSEPORT, and a second ragd on a
         * taken port would start and silently share it. The default (SO_REUSEADDR) still
         * lets a restart bind through TIME_WAIT. */
        MHD_OPTION_END);
    if (!daemon_) {
        snprintf(err, errcap, "cannot listen on %s:%d: %s", c->host, c->port, bind_error(sa));
        workq_destroy(workers);
        workers = NULL;
        conntrack_free(conns);
        conns = NULL;
        return RAGD_EIO;
    }
    reaper_stop = 0;
    if (pthread_create(&reaper, NULL, reaper_main, NULL)) panic("cannot start a thread");
    reaper_running = 1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = di ? di->port : c->port;
    return 0;
}

void http_stop(int drain_s)
{
    if (!daemon_) return;
    atomic_store(&draining, 1);
    int64_t deadline = time_mono_ns() + (int64_t)drain_s * 1000000000;
    while (atomic_load(&inflight) > 0 && time_mono_ns() < deadline)
        usleep(10000);
    reaper_join();
    MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    atomic_store(&draining, 0);
    conntrack_free(conns);
    conns = NULL;
    workq_destroy(workers);
    workers = NULL;
    cors_free(atomic_exchange(&cors, NULL));
    cidr_set_free(trusted);
    trusted = NULL;
}
