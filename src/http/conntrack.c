/* conntrack.c - header deadlines and room for new clients; see conntrack.h. */
#include "http/conntrack.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/mem.h"

struct conntrack_conn {
    int fd;
    /* waiting and deadline_ns change on every request, without the lock: a request's end
     * stores the deadline before it sets waiting, and the reaper reads waiting first. */
    atomic_int waiting;                 /* 1 while the request line and headers are not complete */
    int dropped;                        /* shut down by us; no longer counted (under the lock) */
    _Atomic int64_t deadline_ns;        /* for the headers, while waiting */
    struct conntrack_conn *prev, *next; /* in accept order, oldest first */
};

struct conntrack {
    pthread_mutex_t lock;
    struct conntrack_conn *head, *tail;
    int live; /* records not dropped */
    int max_conns;
    int64_t header_ns, keepalive_ns;
};

conntrack_t *conntrack_create(int max_conns, int64_t header_timeout_ms, int64_t keepalive_ms)
{
    RAGD_ASSERT(max_conns >= 1 && header_timeout_ms > 0 && keepalive_ms >= 0);
    conntrack_t *ct = xcalloc(1, sizeof *ct);
    pthread_mutex_init(&ct->lock, NULL);
    ct->max_conns = max_conns;
    ct->header_ns = header_timeout_ms * 1000000;
    ct->keepalive_ns = keepalive_ms * 1000000;
    return ct;
}

void conntrack_free(conntrack_t *ct)
{
    if (!ct) return;
    while (ct->head) { /* defensive: the server closes every connection first */
        struct conntrack_conn *c = ct->head;
        ct->head = c->next;
        free(c);
    }
    pthread_mutex_destroy(&ct->lock);
    free(ct);
}

/* Called with the lock held. */
static void drop(conntrack_t *ct, struct conntrack_conn *c)
{
    if (c->dropped) return;
    c->dropped = 1;
    ct->live--;
    shutdown(c->fd, SHUT_RDWR);
}

conntrack_conn_t *conntrack_open(conntrack_t *ct, int fd, int64_t now_ns, enum conntrack_admit *how)
{
    struct conntrack_conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    atomic_init(&c->deadline_ns, now_ns + ct->header_ns);
    atomic_init(&c->waiting, 1);
    *how = CONNTRACK_ADMITTED;
    pthread_mutex_lock(&ct->lock);
    if (ct->live >= ct->max_conns) {
        struct conntrack_conn *old = ct->head;
        while (old && (old->dropped || !atomic_load(&old->waiting)))
            old = old->next;
        if (old) {
            drop(ct, old);
            *how = CONNTRACK_MADE_ROOM;
        } else {
            *how = CONNTRACK_REFUSED;
        }
    }
    c->prev = ct->tail;
    if (ct->tail)
        ct->tail->next = c;
    else
        ct->head = c;
    ct->tail = c;
    ct->live++;
    if (*how == CONNTRACK_REFUSED) drop(ct, c);
    pthread_mutex_unlock(&ct->lock);
    return c;
}

void conntrack_close(conntrack_t *ct, conntrack_conn_t *c)
{
    if (!c) return;
    pthread_mutex_lock(&ct->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        ct->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        ct->tail = c->prev;
    if (!c->dropped) ct->live--;
    pthread_mutex_unlock(&ct->lock);
    free(c);
}

void conntrack_headers_done(conntrack_t *ct, conntrack_conn_t *c)
{
    (void)ct;
    if (c) atomic_store(&c->waiting, 0);
}

void conntrack_request_done(conntrack_t *ct, conntrack_conn_t *c, int64_t now_ns)
{
    if (!c) return;
    atomic_store(&c->deadline_ns, now_ns + ct->keepalive_ns + ct->header_ns);
    atomic_store(&c->waiting, 1);
}

int conntrack_reap(conntrack_t *ct, int64_t now_ns)
{
    int n = 0;
    pthread_mutex_lock(&ct->lock);
    for (struct conntrack_conn *c = ct->head; c; c = c->next)
        if (!c->dropped && atomic_load(&c->waiting) && now_ns >= atomic_load(&c->deadline_ns)) {
            drop(ct, c);
            n++;
        }
    pthread_mutex_unlock(&ct->lock);
    return n;
}

int conntrack_count(conntrack_t *ct)
{
    pthread_mutex_lock(&ct->lock);
    int n = ct->live;
    pthread_mutex_unlock(&ct->lock);
    return n;
}
