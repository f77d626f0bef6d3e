/* router_bench.c - the provider router's own cost per generation: the same request against a
 * fast loopback upstream (an in-process HTTP server answering a fixed event stream), once
 * through the OpenAI backend directly and once through the router (candidate selection from
 * the pool, the attempt's provider_health row and key counters in SQLite, metrics), in
 * alternating rounds. Prints each path's median and p99 and the router's added latency.
 * usage: router_bench [ROUNDS=6] [REQUESTS_PER_ROUND=300] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/util.h"
#include "llm/provider.h"
#include "llm/router.h"
#include "store/db.h"
#include "store/outbox.h"
#include "store/provider_keys.h"
#include "store/store.h"

static int listen_fd;

static const char reply[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Four \"}}],\"model\":\"m\"}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"chambers.\"},"
    "\"finish_reason\":\"stop\"}],\"model\":\"m\"}\n\n"
    "data: [DONE]\n\n";

/* Reads one request (headers and Content-Length body), answers it, closes. */
static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(listen_fd, NULL, NULL);
        if (c < 0) continue;
        char buf[65536];
        size_t n = 0;
        long need = -1;
        while (n < sizeof buf - 1) {
            ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
            if (k <= 0) break;
            n += (size_t)k;
            buf[n] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (end && need < 0) {
                char *cl = strcasestr(buf, "content-length:");
                need = (long)(end + 4 - buf) + (cl ? strtol(cl + 15, NULL, 10) : 0);
            }
            if (need >= 0 && (long)n >= need) break;
        }
        if (write(c, reply, sizeof reply - 1) < 0) { /* the client went away */
        }
        close(c);
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_d);
    return v[(size_t)(p * (double)(n - 1))];
}

static double one(prov_provider_t *p, const struct prov_request *req)
{
    struct prov_result res;
    char err[256];
    int64_t t0 = time_mono_ns();
    int rc = prov_generate(p, req, NULL, NULL, &res, err, sizeof err);
    double ms = (double)(time_mono_ns() - t0) / 1e6;
    if (rc) {
        fprintf(stderr, "generation failed: %s\n", err);
        exit(1);
    }
    prov_result_free(&res);
    return ms;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 6, per = argc > 2 ? atoi(argv[2]) : 300;
    log_set_level(LOG_ERROR);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one_ = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one_, sizeof one_);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) || listen(listen_fd, 128) ||
        getsockname(listen_fd, (struct sockaddr *)&a, &al)) {
        perror("listen");
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, serve, NULL);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", ntohs(a.sin_port));

    char dir[] = "/tmp/ragd-router-bench-XXXXXX", url[300], err[512];
    if (!mkdtemp(dir)) return 1;
    snprintf(url, sizeof url, "sqlite://%s/ragd.db", dir);
    if (db_open(url, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    store_outbox_register();
    store_pkeys_register();
    if (store_migrate()) return 1;
    unsigned char key[32] = {7};
    seal_set_key(key);
    config_set("PROVIDER_HEALTH_INTERVAL_SECONDS", "3600");
    const char *secret = "sk-bench-key-0123456789abcdefghij";
    struct store_pkey k = {0};
    uuid4(k.id);
    snprintf(k.provider, sizeof k.provider, "openai");
    snprintf(k.feature, sizeof k.feature, "*");
    snprintf(k.status, sizeof k.status, "active");
    k.base_url = strdup(base);
    k.model = strdup("m");
    k.label = strdup("bench");
    k.priority = 50;
    char fp[SEAL_FP_HEX];
    seal_fingerprint(secret, fp);
    if (seal_encrypt(secret, k.id, &k.ciphertext, k.nonce, k.tag) ||
        store_pkey_insert(&k, fp, NULL)) {
        fprintf(stderr, "cannot add the key\n");
        return 1;
    }
    store_pkey_clear(&k);
    /* prov_init starts the router (no OPENAI_* entry, no local engine: the pool only). */
    if (prov_init(dir, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    prov_provider_t *direct = prov_openai_create(base, secret, "m", 10);
    prov_provider_t *routed = prov_generator();
    if (routed != router_provider()) {
        fprintf(stderr, "the router is not in use\n");
        return 1;
    }
    struct prov_message m = {"user", "How many chambers has the heart?"};
    struct prov_request req = {.messages = &m,
                               .n_messages = 1,
                               .max_tokens = 16,
                               .temperature = 0,
                               .user_id = "bench-user"};
    for (int i = 0; i < 50; i++) { /* warm-up: connections, statements, pages */
        one(direct, &req);
        one(routed, &req);
    }
    size_t total = (size_t)rounds * (size_t)per;
    double *d = calloc(total, sizeof *d), *r = calloc(total, sizeof *r);
    size_t nd = 0, nr = 0;
    for (int round = 0; round < rounds; round++) {
        /* Alternating order, so that neither path always runs second. */
        for (int pass = 0; pass < 2; pass++) {
            int routed_now = (round + pass) % 2;
            for (int i = 0; i < per; i++) {
                if (routed_now)
                    r[nr++] = one(routed, &req);
                else
                    d[nd++] = one(direct, &req);
            }
        }
    }
    double dm = pct(d, nd, 0.5), d99 = pct(d, nd, 0.99);
    double rm = pct(r, nr, 0.5), r99 = pct(r, nr, 0.99);
    printf("requests per path: %zu (%d rounds of %d, alternating)\n", nd, rounds, per);
    printf("direct upstream: median %.3f ms  p99 %.3f ms\n", dm, d99);
    printf("through router : median %.3f ms  p99 %.3f ms\n", rm, r99);
    printf("router added   : median %.3f ms  p99 %.3f ms\n", rm - dm, r99 - d99);
    direct->ops->free(direct->self);
    free(direct);
    prov_shutdown();
    db_close();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) { /* best effort */
    }
    return 0;
}
