#include "cache/redis.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <sys/time.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/roundtrips.h"
#include "core/util.h"

/* A command that rides on the thread's next exchange: queued by redis_queue (sent with that
 * exchange, its answer kept for redis_collect) or sent by redis_send_nowait (its answer read
 * with that exchange and only checked). */
struct pending {
    uint64_t ticket; /* 0: a redis_send_nowait command, dropped once answered */
    char *cmd;       /* formatted; owned until sent */
    size_t len;
    int sent, answered;
    redisReply *reply; /* when answered: the answer, NULL when the connection was lost */
    void (*on_fail)(void *arg);
    void *arg;
};

enum { PENDING_MAX = 16 };

struct rconn {
    redisContext *ctx;
    int64_t retry_after_ms; /* no reconnect attempt before this time */
    struct rconn *next;
    /* In the order they go out: the sent ones are always a prefix. */
    struct pending pend[PENDING_MAX];
    int npend;
};

static char host[256], password[256];
static int port, dbnum, fallback;
static atomic_int healthy = 1;
static atomic_uint_fast64_t next_ticket = 1;
static pthread_key_t key;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rconn *registry;

int redis_fallback_allowed(void)
{
    return fallback;
}

int redis_init(const char *url, int fallback_to_memory, char *err, size_t errcap)
{
    if (strncmp(url, "redis://", 8)) {
        snprintf(err, errcap, "REDIS_URL must start with redis://");
        return RAGD_EINVAL;
    }
    const char *p = url + 8, *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        snprintf(password, sizeof password, "%.*s", (int)(at - pw), pw);
        p = at + 1;
    }
    const char *colon = strchr(p, ':'), *slash = strchr(p, '/');
    size_t hl = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    snprintf(host, sizeof host, "%.*s", (int)hl, p);
    port = colon ? atoi(colon + 1) : 6379;
    dbnum = slash ? atoi(slash + 1) : 0;
    if (!host[0] || port <= 0 || port > 65535 || dbnum < 0) {
        snprintf(err, errcap, "malformed REDIS_URL");
        return RAGD_EINVAL;
    }
    fallback = fallback_to_memory;
    static int key_made;
    if (!key_made) {
        pthread_key_create(&key, NULL);
        key_made = 1;
    }
    return 0;
}

static redisContext *connect_now(void)
{
    struct timeval tv = {0, 300000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) goto fail;
    struct timeval cmd_tv = {1, 0};
    redisSetTimeout(c, cmd_tv);
    redisReply *r;
    if (password[0]) {
        roundtrips_add(ROUNDTRIPS_REDIS);
        r = redisCommand(c, "AUTH %s", password);
        int bad = !r || r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (bad) goto fail;
    }
    if (dbnum) {
        roundtrips_add(ROUNDTRIPS_REDIS);
        r = redisCommand(c, "SELECT %d", dbnum);
        int bad = !r || r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (bad) goto fail;
    }
    return c;
fail:
    if (c) redisFree(c);
    return NULL;
}

/* ---- commands riding on the next exchange ---- */

static struct rconn *this_conn(void)
{
    struct rconn *rc = pthread_getspecific(key);
    if (!rc) {
        rc = xcalloc(1, sizeof *rc);
        pthread_mutex_lock(&reg_lock);
        rc->next = registry;
        registry = rc;
        pthread_mutex_unlock(&reg_lock);
        pthread_setspecific(key, rc);
    }
    return rc;
}

static void pending_remove(struct rconn *rc, int i)
{
    redisFreeCommand(rc->pend[i].cmd);
    memmove(&rc->pend[i], &rc->pend[i + 1], (size_t)(rc->npend - i - 1) * sizeof rc->pend[0]);
    rc->npend--;
}

/* Records the answer r (NULL: lost with the connection) of the sent pending command i. A
 * nowait command is checked and dropped; a queued one keeps r for redis_collect. */
static void pending_answer(struct rconn *rc, int i, redisReply *r)
{
    struct pending *p = &rc->pend[i];
    if (p->ticket) {
        p->answered = 1;
        p->reply = r;
        return;
    }
    int failed = !r || r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    void (*fn)(void *) = p->on_fail;
    void *arg = p->arg;
    pending_remove(rc, i);
    if (failed && fn) fn(arg);
}

/* Drops the thread's connection: what was sent on it and not answered is lost. */
static void drop_conn(struct rconn *rc)
{
    if (rc->ctx) redisFree(rc->ctx);
    rc->ctx = NULL;
    for (int i = 0; i < rc->npend;) {
        int removes = !rc->pend[i].ticket && rc->pend[i].sent;
        if (rc->pend[i].sent && !rc->pend[i].answered) pending_answer(rc, i, NULL);
        if (!removes) i++;
    }
}

/* Appends every pending command not yet sent to c's output buffer. */
static void append_unsent(struct rconn *rc, redisContext *c)
{
    for (int i = 0; i < rc->npend; i++) {
        struct pending *p = &rc->pend[i];
        if (p->sent) continue;
        redisAppendFormattedCommand(c, p->cmd, p->len);
        redisFreeCommand(p->cmd);
        p->cmd = NULL;
        p->sent = 1;
    }
}

/* Reads the answers of the sent pending commands, in order. 0, or -1 when the link broke. */
static int read_pending(struct rconn *rc, redisContext *c)
{
    for (int i = 0; i < rc->npend;) {
        struct pending *p = &rc->pend[i];
        if (!p->sent || p->answered) {
            i++;
            continue;
        }
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK || c->err) {
            freeReplyObject(r);
            return -1;
        }
        int removes = !p->ticket;
        pending_answer(rc, i, r);
        if (!removes) i++;
    }
    return 0;
}

/* ---- connection and exchanges ---- */

/* The calling thread's live context, or NULL while Redis is down. */
static redisContext *ctx(void)
{
    struct rconn *rc = this_conn();
    if (rc->ctx && !rc->ctx->err) return rc->ctx;
    if (rc->ctx) drop_conn(rc);
    int64_t now = time_mono_ns() / 1000000;
    if (now < rc->retry_after_ms) return NULL;
    rc->ctx = connect_now();
    if (!rc->ctx) {
        rc->retry_after_ms = now + 1000;
        if (atomic_exchange(&healthy, 0))
            log_json(
                LOG_WARN, "redis unreachable",
                json_pack("{s:s, s:i, s:b}", "host", host, "port", port, "fallback", fallback));
        return NULL;
    }
    if (!atomic_exchange(&healthy, 1))
        log_json(LOG_INFO, "redis reachable again",
                 json_pack("{s:s, s:i}", "host", host, "port", port));
    return rc->ctx;
}

/* One round trip: what is pending goes out first, then the command append() adds (none when
 * append is NULL); every answer is read. Returns the command's reply, or NULL (and drops the
 * connection) when the link broke. */
static redisReply *exchange(struct rconn *rc, redisContext *c,
                            int (*append)(redisContext *c, void *arg), void *arg)
{
    roundtrips_add(ROUNDTRIPS_REDIS);
    append_unsent(rc, c);
    void *r = NULL;
    if (append && append(c, arg) != REDIS_OK) goto lost;
    if (read_pending(rc, c)) goto lost;
    if (!append) return NULL;
    if (redisGetReply(c, &r) != REDIS_OK || c->err) goto lost;
    return r;
lost:
    freeReplyObject(r);
    drop_conn(rc);
    atomic_store(&healthy, 0);
    return NULL;
}

/* A connection Redis closed (a restart) fails its next command: reconnect at once and
 * retry that command once before declaring Redis down. */
static redisReply *with_retry(int (*append)(redisContext *c, void *arg), void *arg)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        struct rconn *rc = this_conn();
        int had_conn = rc->ctx && !rc->ctx->err;
        redisContext *c = ctx();
        if (!c) return NULL;
        redisReply *r = exchange(rc, c, append, arg);
        if (r || !had_conn) return r;
        rc->retry_after_ms = 0;
    }
    return NULL;
}

struct argv_call {
    int argc;
    const char **argv;
    const size_t *lens;
};

static int append_argv(redisContext *c, void *arg)
{
    struct argv_call *a = arg;
    return redisAppendCommandArgv(c, a->argc, a->argv, a->lens);
}

redisReply *redis_argv(int argc, const char **argv, const size_t *lens)
{
    struct argv_call a = {argc, argv, lens};
    return with_retry(append_argv, &a);
}

struct fmt_call {
    const char *fmt;
    va_list *ap;
};

static int append_fmt(redisContext *c, void *arg)
{
    struct fmt_call *f = arg;
    va_list ap;
    va_copy(ap, *f->ap);
    int rc = redisvAppendCommand(c, f->fmt, ap);
    va_end(ap);
    return rc;
}

redisReply *redis_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct fmt_call f = {fmt, &ap};
    redisReply *r = with_retry(append_fmt, &f);
    va_end(ap);
    return r;
}

/* ---- queued and nowait commands ---- */

static int find_ticket(struct rconn *rc, uint64_t ticket)
{
    for (int i = 0; ticket && i < rc->npend; i++)
        if (rc->pend[i].ticket == ticket) return i;
    return -1;
}

static struct pending *pending_add(struct rconn *rc, int argc, const char **argv,
                                   const size_t *lens)
{
    if (rc->npend == PENDING_MAX) return NULL;
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (len < 0) return NULL;
    struct pending *p = &rc->pend[rc->npend++];
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->len = (size_t)len;
    return p;
}

uint64_t redis_queue(int argc, const char **argv, const size_t *lens)
{
    struct rconn *rc = this_conn();
    int64_t now = time_mono_ns() / 1000000;
    if (!rc->ctx && now < rc->retry_after_ms) return 0; /* down: the caller runs it plainly */
    struct pending *p = pending_add(rc, argc, argv, lens);
    if (!p) return 0;
    p->ticket = atomic_fetch_add(&next_ticket, 1);
    return p->ticket;
}

static int append_formatted(redisContext *c, void *arg)
{
    struct pending *p = arg;
    return redisAppendFormattedCommand(c, p->cmd, p->len);
}

redisReply *redis_collect(uint64_t ticket)
{
    struct rconn *rc = this_conn();
    int i = find_ticket(rc, ticket);
    if (i < 0) return NULL;
    if (!rc->pend[i].sent) {
        /* Not gone out yet: it goes now, as the exchange's own command. */
        struct pending own = rc->pend[i];
        rc->pend[i].cmd = NULL;
        pending_remove(rc, i);
        redisReply *r = with_retry(append_formatted, &own);
        redisFreeCommand(own.cmd);
        return r;
    }
    if (!rc->pend[i].answered) {
        redisContext *c = ctx();
        if (c) exchange(rc, c, NULL, NULL);
        if ((i = find_ticket(rc, ticket)) < 0) return NULL;
    }
    redisReply *r = rc->pend[i].reply;
    rc->pend[i].reply = NULL;
    pending_remove(rc, i);
    return r;
}

redisReply *redis_withdraw(uint64_t ticket)
{
    struct rconn *rc = this_conn();
    int i = find_ticket(rc, ticket);
    if (i < 0) return NULL;
    if (rc->pend[i].sent && !rc->pend[i].answered) return redis_collect(ticket);
    redisReply *r = rc->pend[i].reply;
    rc->pend[i].reply = NULL;
    pending_remove(rc, i);
    return r;
}

int redis_send_nowait(int argc, const char **argv, const size_t *lens, void (*on_fail)(void *arg),
                      void *arg)
{
    struct rconn *rc = this_conn();
    redisContext *c = ctx();
    if (!c) return RAGD_EUNAVAIL;
    struct pending *p = pending_add(rc, argc, argv, lens);
    if (!p) { /* too much pending: wait for this one */
        redisReply *r = redis_argv(argc, argv, lens);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
        return ok ? 0 : RAGD_EUNAVAIL;
    }
    p->on_fail = on_fail;
    p->arg = arg;
    append_unsent(rc, c);
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            /* Not sent (as far as anyone can tell): the caller handles this one. */
            p = &rc->pend[rc->npend - 1];
            p->on_fail = NULL;
            drop_conn(rc);
            atomic_store(&healthy, 0);
            return RAGD_EUNAVAIL;
        }
    return 0;
}

redisReply *redis_eval(const char *script, int nkeys, int nargs, const char **args)
{
    char sha[65];
    unsigned char d[20];
    /* Redis names scripts by SHA-1 of their text. */
    EVP_Digest(script, strlen(script), d, NULL, EVP_sha1(), NULL);
    hex_encode(d, 20, sha);
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    const char *argv[32];
    if (nargs + 3 > 32) panic("redis_eval: too many arguments");
    argv[0] = "EVALSHA";
    argv[1] = sha;
    argv[2] = nk;
    for (int i = 0; i < nargs; i++)
        argv[3 + i] = args[i];
    redisReply *r = redis_argv(nargs + 3, argv, NULL);
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
        freeReplyObject(r);
        argv[0] = "EVAL";
        argv[1] = script;
        r = redis_argv(nargs + 3, argv, NULL);
    }
    return r;
}
