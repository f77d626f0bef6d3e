/* notify_worker.c - the delivery worker of ops/notify.h: routes new events to their
 * targets, delivers due deliveries by webhook and e-mail, retries with backoff, prunes. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/util.h"
#include "core/version.h"
#include "ops/mail.h"
#include "ops/notify.h"
#include "ops/notify_int.h"
#include "store/outbox.h"

enum {
    CLAIM_MS = 120 * 1000,         /* a claim outlives the longest delivery (SMTP: 10 + 30 s) */
    ROUTE_BATCH = 100,             /* events routed per query */
    DELIVER_PER_PASS = 200,        /* deliveries per pass, so pruning and the gauge keep up */
    PRUNE_EVERY_MS = 3600 * 1000,  /* pruning runs hourly (and on the first pass) */
    KICK_SETTLE_MS = 100,          /* after a kick, time for the emitting transaction to end */
    WEBHOOK_CONNECT_TIMEOUT_S = 5, /* connecting to a webhook */
    WEBHOOK_TIMEOUT_S = 15,        /* a whole webhook request */
    FAILED_MAX = 32,               /* targets remembered as failing within one pass */
    TEXT_MAX = 600,                /* bytes of the webhook's one-line text */
};

static struct {
    int64_t poll_ms, base_ms, cap_ms, retention_ms, repeat_ms;
    char *secret; /* NOTIFY_WEBHOOK_SECRET; NULL: webhooks go unsigned */
} cfg;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_t worker;
static int running, stopping, kicked; /* under lock */

int notify_init(char *err, size_t errcap)
{
    double poll_s = config_double("NOTIFY_POLL_SECONDS", 2, 0.05, 3600);
    double base_s = config_double("NOTIFY_RETRY_BASE_SECONDS", 30, 0.1, 86400);
    double cap_s = config_double("NOTIFY_RETRY_MAX_SECONDS", 3600, 0.1, 7 * 86400);
    int64_t days = config_int("NOTIFY_RETENTION_DAYS", 30, 1, 3650);
    int64_t repeat_s = config_int("NOTIFY_REPEAT_WINDOW_SECONDS", 300, 0, 7 * 86400);
    const char *secret = config_str("NOTIFY_WEBHOOK_SECRET", "");
    if (config_errors())
        return ragd_errf(err, errcap, RAGD_EINVAL, "invalid configuration: %s", config_errors());
    if (cap_s < base_s)
        return ragd_errf(err, errcap, RAGD_EINVAL,
                         "NOTIFY_RETRY_MAX_SECONDS must not be below NOTIFY_RETRY_BASE_SECONDS");
    cfg.poll_ms = (int64_t)(poll_s * 1000);
    cfg.base_ms = (int64_t)(base_s * 1000);
    cfg.cap_ms = (int64_t)(cap_s * 1000);
    cfg.retention_ms = days * 86400 * 1000;
    cfg.repeat_ms = repeat_s * 1000;
    free(cfg.secret);
    cfg.secret = secret && *secret ? xstrdup(secret) : NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* reference-counted by libcurl */
    return 0;
}

int notify_webhooks_signed(void)
{
    return cfg.secret != NULL;
}

void notify_kick(void)
{
    pthread_mutex_lock(&lock);
    if (running) {
        kicked = 1;
        pthread_cond_signal(&cond);
    }
    pthread_mutex_unlock(&lock);
}

/* ---- composing ---- */

/* "key: value" of details' scalar members, ", "-separated, appended to b. */
static void details_line(struct sbuf *b, json_t *details)
{
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(details, k, v)
    {
        char num[64];
        const char *s = NULL;
        if (json_is_string(v)) {
            s = json_string_value(v);
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            s = num;
        } else if (json_is_real(v)) {
            snprintf(num, sizeof num, "%g", json_real_value(v));
            s = num;
        } else if (json_is_boolean(v)) {
            s = json_is_true(v) ? "true" : "false";
        }
        if (!s) continue;
        sb_printf(b, "%s%s: %s", first ? " (" : ", ", k, s);
        first = 0;
    }
    if (!first) sb_adds(b, ")");
}

static void upper(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    out[i] = 0;
}

/* The webhook body of ev (caller frees). */
static char *webhook_body(const struct outbox_event *ev, json_t *details)
{
    char urg[8];
    upper(ev->urgency, urg, sizeof urg);
    struct sbuf t;
    sb_init(&t);
    sb_printf(&t, "[ragd] %s: %s", urg,
              notify_title(ev->event) ? notify_title(ev->event) : ev->event);
    details_line(&t, details);
    char *text = sb_take(&t);
    if (strlen(text) > TEXT_MAX) {
        size_t n = TEXT_MAX - 3;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) /* keep UTF-8 whole */
            n--;
        strcpy(text + n, "...");
    }
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "text", text, "id", ev->id, "event", ev->event,
                  "urgency", ev->urgency, "details", details, "created_at", ev->created_at);
    free(text);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    RAGD_ASSERT(s);
    return s;
}

static void mail_text(const struct outbox_event *ev, json_t *details, char *subject, size_t cap,
                      char **body)
{
    char urg[8];
    upper(ev->urgency, urg, sizeof urg);
    const char *title = notify_title(ev->event) ? notify_title(ev->event) : ev->event;
    snprintf(subject, cap, "[ragd] %s: %s", urg, title);
    char *pretty = json_dumps(details, JSON_INDENT(2) | JSON_SORT_KEYS);
    struct sbuf b;
    sb_init(&b);
    sb_printf(&b,
              "%s\n\nEvent:    %s\nUrgency:  %s\nTime:     %s\nEvent id: %s\n\nDetails:\n%s\n\n"
              "-- \nSent by ragd. The channels and events are set under /admin/notifications.\n",
              title, ev->event, ev->urgency, ev->created_at, ev->id, pretty ? pretty : "{}");
    free(pretty);
    *body = sb_take(&b);
}

/* ---- sending ---- */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* POSTs body to url. 0 on a 2xx answer; otherwise RAGD_EIO with the reason in err. */
static int webhook_post(const char *url, const struct outbox_event *ev, const char *body, char *err,
                        size_t errcap)
{
    char h_event[96], h_id[64], h_ts[48], h_sig[96], ts[24], sig[72];
    snprintf(h_event, sizeof h_event, "X-Ragd-Event: %s", ev->event);
    snprintf(h_id, sizeof h_id, "X-Ragd-Event-Id: %s", ev->id);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "User-Agent: ragd/" RAGD_VERSION);
    hdr = curl_slist_append(hdr, h_event);
    hdr = curl_slist_append(hdr, h_id);
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    if (cfg.secret) {
        snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
        int rc = notify_webhook_sign(cfg.secret, ts, body, strlen(body), sig);
        RAGD_ASSERT(rc == 0);
        snprintf(h_ts, sizeof h_ts, "X-Ragd-Timestamp: %s", ts);
        snprintf(h_sig, sizeof h_sig, "X-Ragd-Signature: %s", sig);
        hdr = curl_slist_append(hdr, h_ts);
        hdr = curl_slist_append(hdr, h_sig);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = curl_easy_init();
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    long status = 0;
    if (h && hdr) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)WEBHOOK_CONNECT_TIMEOUT_S);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)WEBHOOK_TIMEOUT_S);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        cc = curl_easy_perform(h);
        if (cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    if (h) curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    if (cc != CURLE_OK)
        return ragd_errf(err, errcap, RAGD_EIO, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    if (status < 200 || status > 299)
        return ragd_errf(err, errcap, RAGD_EIO, "HTTP %ld from the webhook", status);
    return 0;
}

/* Sends d by its channel. 0, or an error with the reason in err. */
static int send_one(const struct outbox_delivery *d, char *err, size_t errcap)
{
    json_error_t je;
    json_t *details = json_loads(d->ev.payload, 0, &je);
    if (!json_is_object(details)) {
        json_decref(details);
        details = json_object(); /* defensive: notify_emit writes objects */
    }
    int rc;
    if (!strcmp(d->channel, "webhook")) {
        char *body = webhook_body(&d->ev, details);
        rc = webhook_post(d->target, &d->ev, body, err, errcap);
        free(body);
    } else {
        char subject[160], *body;
        mail_text(&d->ev, details, subject, sizeof subject, &body);
        rc = mail_send_sync(d->target, subject, body, err, errcap);
        free(body);
    }
    json_decref(details);
    return rc;
}

/* ---- one pass ---- */

static void count(const char *channel, const char *outcome)
{
    char labels[64];
    snprintf(labels, sizeof labels, "channel=\"%s\",outcome=\"%s\"", channel, outcome);
    metrics_count_labeled("ragd_notifications_total", labels,
                          "Notification deliveries by channel and outcome", 1);
}

/* The target as it may be logged. */
static void shown(const char *channel, const char *target, char *out, size_t cap)
{
    if (!strcmp(channel, "webhook"))
        notify_url_redact(target, out, cap);
    else
        snprintf(out, cap, "%s", target);
}

/* An event identical (name and details) to one sent within NOTIFY_REPEAT_WINDOW_SECONDS is
 * recorded as its repeat and sent to nobody: a key failing on every request must not mail
 * the operators on every request. The test event always goes out. 1 when ev was such a
 * repeat (and is now routed), else 0. */
static int is_repeat(const struct outbox_event *ev)
{
    char twin[37];
    if (!cfg.repeat_ms || !strcmp(ev->event, NOTIFY_TEST)) return 0;
    int64_t now = time_now_ms();
    if (store_outbox_twin(ev->id, ev->event, ev->payload, now - cfg.repeat_ms, twin)) return 0;
    if (store_outbox_suppress(ev->id, twin, now)) return 0; /* then it is simply sent */
    metrics_count("ragd_notifications_suppressed_total",
                  "Notification events not sent: a repeat of one sent shortly before", 1);
    log_json(LOG_INFO, "notification not sent: a repeat",
             json_pack("{s:s, s:s, s:s}", "event", ev->event, "id", ev->id, "repeat_of", twin));
    return 1;
}

static void route_new(const struct notify_conf *conf)
{
    for (;;) {
        struct outbox_event *ev;
        int n;
        if (store_outbox_unrouted(ROUTE_BATCH, &ev, &n)) return; /* next pass */
        int failed = 0;
        for (int i = 0; i < n && !failed; i++) {
            if (is_repeat(&ev[i])) continue;
            struct outbox_target t[NOTIFY_MAX_RECIPIENTS + NOTIFY_MAX_WEBHOOKS];
            int k = 0;
            for (int c = 0; c < NOTIFY_CHANNELS; c++) {
                const struct notify_channel_conf *ch = &conf->ch[c];
                if (!notify_wants(ch, ev[i].event)) continue;
                for (int j = 0; j < ch->n_targets && k < (int)(sizeof t / sizeof t[0]); j++)
                    t[k++] = (struct outbox_target){notify_channel_name(c), ch->targets[j]};
            }
            int rc = store_outbox_route(ev[i].id, t, k, time_now_ms());
            if (rc) {
                log_json(LOG_WARN, "notification not routed (retried next pass)",
                         json_pack("{s:s, s:s, s:s}", "event", ev[i].event, "id", ev[i].id, "error",
                                   ragd_strerror(rc)));
                failed = 1;
            }
        }
        store_outbox_events_free(ev, n);
        if (failed || n < ROUTE_BATCH) return;
    }
}

static int channel_of(const char *name)
{
    return !strcmp(name, "webhook") ? NOTIFY_WEBHOOK : NOTIFY_EMAIL;
}

static int configured(const struct notify_conf *conf, const struct outbox_delivery *d)
{
    const struct notify_channel_conf *ch = &conf->ch[channel_of(d->channel)];
    for (int i = 0; i < ch->n_targets; i++)
        if (!strcmp(ch->targets[i], d->target)) return 1;
    return 0;
}

static int stop_asked(void)
{
    pthread_mutex_lock(&lock);
    int s = stopping;
    pthread_mutex_unlock(&lock);
    return s;
}

/* Targets that failed in this pass: their other deliveries wait for the same retry time
 * instead of each paying a timeout. */
struct failed {
    char channel[16];
    char *target;
    int64_t next_ms;
};

static void deliver_due(const struct notify_conf *conf)
{
    struct failed failed[FAILED_MAX];
    int nfailed = 0;
    for (int done = 0; done < DELIVER_PER_PASS && !stop_asked(); done++) {
        struct outbox_delivery d;
        char claim[37];
        uuid4(claim);
        int64_t now = time_now_ms();
        int rc = store_outbox_claim(claim, now, now + CLAIM_MS, &d);
        if (rc == RAGD_ENOTFOUND) /* or another node took the same row first: look again */
            rc = store_outbox_claim(claim, now, now + CLAIM_MS, &d);
        if (rc == RAGD_ENOTFOUND) break;
        if (rc) {
            log_json(LOG_WARN, "notification deliveries not claimed (retried next pass)",
                     json_pack("{s:s}", "error", ragd_strerror(rc)));
            break;
        }
        char target[300];
        shown(d.channel, d.target, target, sizeof target);
        const struct notify_channel_conf *ch = &conf->ch[channel_of(d.channel)];
        if (!ch->enabled || !configured(conf, &d)) {
            const char *why = !ch->enabled ? "channel disabled in the settings"
                                           : "target removed from the settings";
            store_outbox_abandoned(d.id, claim, why, now);
            count(d.channel, "abandoned");
            log_json(LOG_INFO, "notification given up",
                     json_pack("{s:s, s:s, s:s, s:s}", "event", d.ev.event, "channel", d.channel,
                               "target", target, "reason", why));
            store_outbox_delivery_clear(&d);
            continue;
        }
        int postponed = 0;
        for (int i = 0; i < nfailed && !postponed; i++)
            if (!strcmp(failed[i].channel, d.channel) && !strcmp(failed[i].target, d.target)) {
                store_outbox_postponed(d.id, claim,
                                       "waiting: an earlier delivery to this target failed",
                                       failed[i].next_ms);
                postponed = 1;
            }
        if (postponed) {
            store_outbox_delivery_clear(&d);
            continue;
        }
        char err[CURL_ERROR_SIZE + 64] = "";
        rc = send_one(&d, err, sizeof err);
        now = time_now_ms();
        if (!rc) {
            /* Marked at once: a repeat happens only if this node dies right here. */
            int mrc = store_outbox_delivered(d.id, claim, now);
            for (int tries = 0; mrc && tries < 3; tries++) {
                struct timespec ts = {0, 200 * 1000 * 1000};
                nanosleep(&ts, NULL);
                mrc = store_outbox_delivered(d.id, claim, time_now_ms());
            }
            count(d.channel, "delivered");
            log_json(LOG_INFO, "notification delivered",
                     json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", d.ev.event, "id", d.ev.id,
                               "channel", d.channel, "target", target, "attempts",
                               (json_int_t)(d.attempts + 1)));
            if (mrc)
                log_json(LOG_ERROR, "delivered notification not marked (it may be sent again)",
                         json_pack("{s:s, s:s}", "id", d.id, "error", ragd_strerror(mrc)));
        } else {
            int64_t next = now + notify_backoff_ms(d.attempts + 1, cfg.base_ms, cfg.cap_ms);
            store_outbox_failed(d.id, claim, err, next);
            count(d.channel, "failed");
            char at[32];
            log_json(LOG_WARN, "notification not delivered (will retry)",
                     json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "event", d.ev.event, "id",
                               d.ev.id, "channel", d.channel, "target", target, "attempts",
                               (json_int_t)(d.attempts + 1), "error", err, "next_attempt_at",
                               time_iso(next, at)));
            if (nfailed < FAILED_MAX) {
                snprintf(failed[nfailed].channel, sizeof failed[nfailed].channel, "%s", d.channel);
                failed[nfailed].target = xstrdup(d.target);
                failed[nfailed++].next_ms = next;
            }
        }
        store_outbox_delivery_clear(&d);
    }
    for (int i = 0; i < nfailed; i++)
        free(failed[i].target);
}

static void prune(void)
{
    int64_t now = time_now_ms(), cutoff = now - cfg.retention_ms, deleted = 0;
    for (int c = 0; c < NOTIFY_CHANNELS; c++) {
        int64_t n = 0;
        if (store_outbox_give_up(notify_channel_name(c), cutoff, now, &n) || !n) continue;
        char labels[64];
        snprintf(labels, sizeof labels, "channel=\"%s\",outcome=\"abandoned\"",
                 notify_channel_name(c));
        metrics_count_labeled("ragd_notifications_total", labels,
                              "Notification deliveries by channel and outcome", (double)n);
        log_json(LOG_WARN, "notifications given up after the retention period",
                 json_pack("{s:s, s:I}", "channel", notify_channel_name(c), "deliveries",
                           (json_int_t)n));
    }
    int rc = store_outbox_prune(cutoff, &deleted);
    if (rc)
        log_json(LOG_WARN, "notification outbox not pruned",
                 json_pack("{s:s}", "error", ragd_strerror(rc)));
    else if (deleted)
        log_json(LOG_INFO, "notification outbox pruned",
                 json_pack("{s:I}", "deliveries", (json_int_t)deleted));
}

static void backlog_gauge(void)
{
    struct outbox_counts c;
    if (store_outbox_counts(&c)) return;
    metrics_gauge("ragd_notification_outbox_backlog",
                  "Notification events not yet routed plus deliveries waiting",
                  (double)(c.unrouted + c.pending));
}

static void *worker_main(void *arg)
{
    (void)arg;
    int64_t last_prune = 0;
    int warned_unsigned = 0;
    for (;;) {
        struct notify_conf conf;
        if (!notify_conf_get(&conf)) {
            if (!cfg.secret && conf.ch[NOTIFY_WEBHOOK].n_targets && !warned_unsigned++)
                log_msg(LOG_WARN, "webhook notifications are sent unsigned: set "
                                  "NOTIFY_WEBHOOK_SECRET to sign them");
            route_new(&conf);
            deliver_due(&conf);
            notify_conf_free(&conf);
        }
        int64_t now = time_now_ms();
        if (!last_prune || now - last_prune >= PRUNE_EVERY_MS || now < last_prune) {
            prune();
            last_prune = now;
        }
        backlog_gauge();

        pthread_mutex_lock(&lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (cfg.poll_ms % 1000) * 1000000;
        until.tv_sec += (time_t)(cfg.poll_ms / 1000 + ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        while (!stopping && !kicked)
            if (pthread_cond_timedwait(&cond, &lock, &until)) break; /* timed out */
        if (kicked && !stopping) {
            kicked = 0;
            clock_gettime(CLOCK_REALTIME, &until);
            ns = until.tv_nsec + (int64_t)KICK_SETTLE_MS * 1000000;
            until.tv_sec += (time_t)(ns / 1000000000);
            until.tv_nsec = (long)(ns % 1000000000);
            while (!stopping && !pthread_cond_timedwait(&cond, &lock, &until))
                ;
        }
        int stop = stopping;
        pthread_mutex_unlock(&lock);
        if (stop) break;
    }
    return NULL;
}

void notify_start(void)
{
    backlog_gauge(); /* the series exists from the start, not from the worker's first pass */
    pthread_mutex_lock(&lock);
    if (!running) {
        stopping = kicked = 0;
        running = pthread_create(&worker, NULL, worker_main, NULL) == 0;
        if (!running) log_msg(LOG_ERROR, "notification worker not started");
    }
    pthread_mutex_unlock(&lock);
}

void notify_stop(void)
{
    pthread_mutex_lock(&lock);
    int was = running;
    stopping = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    if (!was) return;
    pthread_join(worker, NULL);
    pthread_mutex_lock(&lock);
    running = 0;
    pthread_mutex_unlock(&lock);
}
