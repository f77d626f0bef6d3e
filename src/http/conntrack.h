/* conntrack.h - the open connections of the HTTP server, for the limits libmicrohttpd lacks.
 *
 * Private to http/. Two rules live here:
 * - Header deadline: a connection must deliver a complete request line and headers within
 *   header_timeout of being accepted (or, on a kept-alive connection, within the idle
 *   allowance plus header_timeout after its previous request ended). The idle timeout alone
 *   cannot do this: every header line that trickles in resets it.
 * - Room for new clients: when max_conns connections are open, a new one makes room by
 *   shutting down the oldest connection that is still waiting for its headers; only when
 *   every open connection is busy with a request is the new one refused.
 *
 * A connection is "shut down" with shutdown(2) on its socket; the server's event loop then
 * reads end-of-file and closes it as usual. The socket is never closed here, so a record
 * must be removed (conntrack_close) before its socket is closed: then a shutdown can never
 * reach a reused descriptor. Every function is thread-safe and cannot fail. */
#ifndef RAGD_HTTP_CONNTRACK_H
#define RAGD_HTTP_CONNTRACK_H

#include <stdint.h>

typedef struct conntrack conntrack_t;
typedef struct conntrack_conn conntrack_conn_t;

/* max_conns: open connections before the oldest waiting one is dropped (>= 1);
 * header_timeout_ms: deadline for request line + headers; keepalive_ms: how long a kept-alive
 * connection may sit idle before its next request starts (added to its header deadline).
 * Caller frees with conntrack_free (after every record has been closed). */
conntrack_t *conntrack_create(int max_conns, int64_t header_timeout_ms, int64_t keepalive_ms);
void conntrack_free(conntrack_t *ct);

enum conntrack_admit {
    CONNTRACK_ADMITTED,  /* below the limit */
    CONNTRACK_MADE_ROOM, /* at the limit: the oldest connection waiting for headers was shut
                            down to make room for this one */
    CONNTRACK_REFUSED,   /* at the limit and every connection busy: this one was shut down */
};
/* A socket fd was accepted at now_ns. Returns its record (owned by ct until
 * conntrack_close) and how it was admitted in *how. */
conntrack_conn_t *conntrack_open(conntrack_t *ct, int fd, int64_t now_ns,
                                 enum conntrack_admit *how);
/* The socket is about to be closed: forgets and frees c (NULL is a no-op). */
void conntrack_close(conntrack_t *ct, conntrack_conn_t *c);
/* c's request line and headers are complete: no header deadline until the request ends. */
void conntrack_headers_done(conntrack_t *ct, conntrack_conn_t *c);
/* c's request ended at now_ns; the connection may carry another one (keep-alive). */
void conntrack_request_done(conntrack_t *ct, conntrack_conn_t *c, int64_t now_ns);
/* Shuts down every connection past its header deadline at now_ns. Returns how many. */
int conntrack_reap(conntrack_t *ct, int64_t now_ns);
/* Connections open and not yet shut down by ct. */
int conntrack_count(conntrack_t *ct);

#endif
