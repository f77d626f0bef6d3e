/* http.h - the HTTP server as handlers see it: routes, requests, responses, guards.
 *
 * A route is a row in a table (struct route): method, path pattern with {params}, handler,
 * access level, rate-limit and quota resources, body schema and OpenAPI text. A new endpoint
 * is one function and one row. Every request passes, in order: routing (404/405), the auth
 * guard, the gate guard (maintenance, feature toggles), the rate guard, body parsing and
 * validation (400/422), the quota guard, then the handler. Any step may answer and stop the
 * chain.
 *
 * struct req is opaque; everything a handler needs is reached through the functions below.
 * Strings returned by req_* are owned by the request and valid until it ends. */
#ifndef RAGD_HTTP_H
#define RAGD_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jsonv.h"

struct req;

enum route_access {
    ACCESS_PUBLIC, /* anyone; a valid bearer token is still recognised */
    ACCESS_USER,   /* any active authenticated user */
    ACCESS_ADMIN,  /* is_superuser */
};

struct route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/users/{id}" */
    void (*handler)(struct req *r);
    enum route_access access;
    const char *rate;  /* rate-limit resource ("chat", "search", "api", "billing") or NULL */
    const char *quota; /* quota resource ("messages", "api_calls", ...) or NULL */
    const struct jv_schema *body; /* JSON body schema; NULL = no JSON body is parsed */
    const char *tag, *summary;
    int ok_status;            /* success status for the OpenAPI document (200 if 0) */
    const char *response_doc; /* one-line description of the success body */
    int upload; /* bodies up to the server's max_upload instead of max_body (file uploads) */
    /* The permission an ACCESS_ADMIN route needs ("providers.manage", "users.read", ...: the
     * table in auth/roles.c names them; ragd refuses to start on an unknown one); NULL: full
     * admin. */
    const char *perm;
    /* The feature toggle that gates the route ("chat", "document_upload", ...), or several
     * separated by spaces ("chat v1_api": each must be on); NULL: none. */
    const char *feature;
    int heavy; /* paused in soft maintenance (uploads, ingestion, bulk operations) */
    /* What the route answers, in core/shape.h's notation, for the OpenAPI document (and the
     * test that validates every response of the HTTP suite against it): entries separated by
     * ';', each "[status] [media-type] [shape]". The status defaults to ok_status, the media
     * type to application/json when a shape is given; a status alone means an empty body.
     * Examples: "{id: int, name: string|null}", "[$User]", "text/html",
     * "{...}; 200 text/event-stream", "204". NULL fails test_openapi.py, which names the
     * route. docs/ARCHITECTURE.md ("Declaring a route's API document") has the details. */
    const char *response;
    /* Request bodies other than the JSON of `body`: "media-type [shape]" entries separated by
     * ';' ("multipart/form-data {file: binary, ...}"); a media type without a shape takes the
     * fields of `body` (an HTML or OAuth2 form posting the same fields). NULL: none. */
    const char *request;
};

/* Registers a table of routes (terminated by a row with method == NULL). The table must
 * outlive the server. Call before http_start. */
void http_add_routes(const struct route *routes);
/* Iterates every registered route (for the OpenAPI document). */
void http_foreach_route(void (*fn)(const struct route *rt, void *arg), void *arg);

/* ---- guards ---- */
/* auth: who calls; gate: maintenance and feature toggles; rate; quota. */
enum guard_stage { GUARD_AUTH, GUARD_GATE, GUARD_RATE, GUARD_QUOTA, GUARD_STAGES };
/* A guard returns 0 to let the request go on, or non-zero after answering it. */
typedef int (*guard_fn)(struct req *r, const struct route *rt);
void http_set_guard(enum guard_stage stage, guard_fn fn);

/* ---- server ---- */
/* CORS_ORIGINS when unset. */
#define HTTP_CORS_DEFAULT "[\"http://localhost:3000\"]"

struct http_config {
    const char *host;
    int port;
    int threads;                /* network threads */
    int workers;                /* worker threads for http_defer */
    size_t max_body;            /* bytes; larger bodies get 413 */
    size_t max_upload;          /* bytes, for routes marked upload */
    size_t max_header;          /* bytes of request line + headers */
    int idle_timeout_s;         /* a connection idle this long is closed */
    int header_timeout_s;       /* request line + headers must be complete this long after the
                                   connection opens (or its previous request ends); 0 = 10 */
    int max_connections;        /* open connections; at the limit the oldest one still waiting
                                   for its headers is dropped to make room; 0 = 4096 */
    int max_connections_per_ip; /* open connections from one address; 0 = 256 */
    int request_timeout_s;      /* a request whose body takes longer is dropped */
    const char *cors_origins;   /* JSON list, comma list or "*"; NULL = no CORS */
    /* TRUSTED_PROXIES: networks (core/cidr.h syntax) whose connections may say who the
     * client is (X-Forwarded-For, Forwarded); NULL or "" = none, the peer is the client. */
    const char *trusted_proxies;
};
/* Starts listening. Returns 0 or RAGD_EIO with a message in err. */
int http_start(const struct http_config *cfg, char *err, size_t errcap);
/* The port actually bound (useful with port 0). */
int http_port(void);
/* Stops accepting, waits up to drain_s for in-flight requests, then stops. */
void http_stop(int drain_s);
/* Number of requests in flight. */
int http_inflight(void);
/* Replaces the CORS origins (same syntax as cors_origins) while serving: requests that start
 * after the call see the new list. Cannot fail. */
void http_set_cors(const char *cors_origins);

/* ---- request ---- */
const char *req_path(struct req *r);
const char *req_id(struct req *r);
/* The client's address: the peer's, or with TRUSTED_PROXIES the one the trusted proxies
 * forwarded (core/cidr.h cidr_client_address). Logs, login throttling and per-address limits
 * all use this one. */
const char *req_ip(struct req *r);
/* The address of the connection's other end (the proxy, behind one). */
const char *req_peer(struct req *r);
/* Names the user the request acts for in its access-log line (the auth guard calls it). */
void req_set_user(struct req *r, const char *user_id);
const char *req_header(struct req *r, const char *name); /* NULL if absent */
const char *req_param(struct req *r, const char *name);  /* path parameter */
const char *req_query(struct req *r, const char *name);  /* query-string argument */
const char *req_body(struct req *r, size_t *len);        /* raw body (NUL-terminated) */
json_t *req_json(struct req *r); /* parsed body when the route has a schema; borrowed */

/* Reads an integer query argument within [min, max]; answers 422 and returns non-zero if it
 * is malformed or out of range; *out = def when absent. */
int req_query_int(struct req *r, const char *name, long long def, long long min, long long max,
                  long long *out);

/* Per-request slots for other modules (auth context, quota reservation ...). The free
 * function runs when the request ends. */
enum req_slot { SLOT_AUTH, SLOT_QUOTA, SLOT_RATE, SLOT_ORG, SLOT_APP, SLOT_COUNT };
void req_set_slot(struct req *r, enum req_slot slot, void *ptr, void (*free_fn)(void *));
void *req_slot(struct req *r, enum req_slot slot);

/* Runs fn(r, status) when the response has been decided (status is the HTTP status), in the
 * order registered. Used to commit or release reservations. */
void req_on_reply(struct req *r, void (*fn)(struct req *r, int status, void *arg), void *arg);

/* ---- response ---- */
/* Adds a response header (copied). */
void http_header(struct req *r, const char *name, const char *value);
/* Answers with JSON (reference stolen). */
void http_json(struct req *r, int status, json_t *body);
/* A filter every JSON body passes through before it is sent; it may change body in place
 * (main.c installs api's /v1 error shape). One filter; NULL removes it. */
typedef void (*http_json_filter_fn)(struct req *r, int status, json_t *body);
void http_set_json_filter(http_json_filter_fn fn);
/* A hook that may add headers (http_header) to every response, run once when the response
 * is decided, whatever answered it (main.c installs the maintenance banner). One hook; NULL
 * removes it. */
typedef void (*http_header_hook_fn)(struct req *r);
void http_set_header_hook(http_header_hook_fn fn);
/* A hook asked about a CORS preflight (OPTIONS) whose Origin is not on the server's
 * CORS_ORIGINS list: non-zero grants that origin for this path (main.c installs the
 * widget's, for the origins of its keys). A handler that sets Access-Control-Allow-Origin
 * itself replaces the list's answer. One hook; NULL removes it. */
typedef int (*http_preflight_fn)(struct req *r, const char *origin);
void http_set_preflight_hook(http_preflight_fn fn);
/* Answers {"detail": <printf text>, "code": code, "request_id": ...}. */
void http_error(struct req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same with a structured detail (reference stolen). */
void http_error_json(struct req *r, int status, const char *code, json_t *detail);
/* Answers with raw bytes (copied) and a content type. */
void http_raw(struct req *r, int status, const char *content_type, const char *data, size_t len);
/* Maps a RAGD_E* status to a response: 404 not found, 409 exists, 503 unavailable, 500. */
void http_store_error(struct req *r, int rc);

/* Moves the rest of the work to a worker thread: fn(r) runs there and must answer. Returns
 * 0, or answers 503 itself and returns non-zero when the worker queue is full. */
int http_defer(struct req *r, void (*fn)(struct req *r));

/* ---- server-sent events / streamed bodies ---- */
/* Starts a streamed 200 response with content_type; only from a deferred (worker) handler.
 * Then http_stream_write any number of times and http_stream_end once. Writes return
 * non-zero once the client has gone away (the caller should stop its work). */
int http_stream_begin(struct req *r, const char *content_type);
int http_stream_write(struct req *r, const char *data, size_t len);
/* Writes one Server-Sent Event "data: <event as compact JSON>\n\n" (reference stolen); same
 * return as http_stream_write. */
int http_stream_event(struct req *r, json_t *event);
void http_stream_end(struct req *r);

#endif
