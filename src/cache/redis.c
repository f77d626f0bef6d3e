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

struct rconn {
    redisContext *ctx;
    int64_t retry_after_ms; /* no reconnect attempt before this time */
    struct rconn *next;
};

static char host[256], password[256];
static int port, dbnum, fallback;
static atomic_int healthy = 1;
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

/* The calling thread's live context, or NULL while Redis is down. */
static redisContext *ctx(void)
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
    if (rc->ctx && !rc->ctx->err) return rc->ctx;
    if (rc->ctx) {
        redisFree(rc->ctx);
        rc->ctx = NULL;
    }
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

static redisReply *checked(redisContext *c, redisReply *r)
{
    if (!r || c->err) {
        freeReplyObject(r);
        struct rconn *rc = pthread_getspecific(key);
        if (rc && rc->ctx) {
            redisFree(rc->ctx);
            rc->ctx = NULL;
        }
        atomic_store(&healthy, 0);
        return NULL;
    }
    return r;
}

/* A connection Redis closed (a restart) fails its next command: reconnect at once and
 * retry that command once before declaring Redis down. */
static redisReply *with_retry(redisReply *(*send)(redisContext *c, void *arg), void *arg)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        struct rconn *rc = pthread_getspecific(key);
        int had_conn = rc && rc->ctx && !rc->ctx->err;
        redisContext *c = ctx();
        if (!c) return NULL;
        roundtrips_add(ROUNDTRIPS_REDIS);
        redisReply *r = checked(c, send(c, arg));
        if (r || !had_conn) return r;
        rc = pthread_getspecific(key);
        rc->retry_after_ms = 0;
    }
    return NULL;
}

struct argv_call {
    int argc;
    const char **argv;
    const size_t *lens;
};

static redisReply *send_argv(redisContext *c, void *arg)
{
    struct argv_call *a = arg;
    return redisCommandArgv(c, a->argc, a->argv, a->lens);
}

redisReply *redis_argv(int argc, const char **argv, const size_t *lens)
{
    struct argv_call a = {argc, argv, lens};
    return with_retry(send_argv, &a);
}

struct fmt_call {
    const char *fmt;
    va_list *ap;
};

static redisReply *send_fmt(redisContext *c, void *arg)
{
    struct fmt_call *f = arg;
    va_list ap;
    va_copy(ap, *f->ap);
    redisReply *r = redisvCommand(c, f->fmt, ap);
    va_end(ap);
    return r;
}

redisReply *redis_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct fmt_call f = {fmt, &ap};
    redisReply *r = with_retry(send_fmt, &f);
    va_end(ap);
    return r;
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
