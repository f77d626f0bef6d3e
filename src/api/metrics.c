/* metrics.c - GET /metrics: the Prometheus exposition of core/metrics, with the gauges that
 * are read at scrape time (database and Redis reachable, ingestion queue, requests in flight),
 * behind METRICS_TOKEN when one is set. */
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "cache/cache.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/util.h"
#include "knowledge/knowledge.h"
#include "store/db.h"

/* 1 when r carries "Authorization: Bearer <token>". Both sides are hashed first, so the
 * comparison takes the same time whatever the length or content of the guess. */
static int bearer_matches(struct req *r, const char *token)
{
    const char *h = req_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    while (*h == ' ')
        h++;
    unsigned char a[32], b[32];
    sha256(h, strlen(h), a);
    sha256(token, strlen(token), b);
    return ct_memcmp(a, b, sizeof a) == 0;
}

/* The gauges a scrape reads now: each probe has a short timeout of its own (db.h, redis.c). */
static void scrape_gauges(void)
{
    metrics_gauge("ragd_http_inflight_requests", "Requests being served", http_inflight());
    metrics_gauge("ragd_database_up", "1 when the database answered a ping at this scrape",
                  db_ping(db_conn()) == 0);
    if (cache_shared()) { /* Redis is configured */
        struct cache_status cs;
        cache_status(&cs);
        metrics_gauge("ragd_redis_up", "1 when Redis answered a ping at this scrape", cs.up);
    }
    metrics_gauge("ragd_ingestion_queue_depth", "Documents queued for ingestion on this node",
                  (double)knowledge_queue_length());
}

void api_metrics(struct req *r)
{
    const char *token = config_str("METRICS_TOKEN", NULL);
    if (token && *token && !bearer_matches(r, token)) {
        metrics_reject("auth");
        http_header(r, "WWW-Authenticate", "Bearer realm=\"metrics\"");
        http_error(r, 401, "METRICS_TOKEN_REQUIRED",
                   "/metrics needs Authorization: Bearer with the METRICS_TOKEN");
        return;
    }
    scrape_gauges();
    struct sbuf b;
    sb_init(&b);
    metrics_render(&b);
    http_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.s ? b.s : "", b.len);
    sb_free(&b);
}
