/* mail.c - SMTP delivery through libcurl on a one-thread work queue (ops/mail.h). */
#include "ops/mail.h"

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
#include "core/util.h"
#include "core/workq.h"

enum { MAIL_QUEUE_MAX = 256, CONNECT_TIMEOUT_S = 10, SEND_TIMEOUT_S = 30 };

static struct {
    char url[300];
    char user[256], password[256], from[256];
    int enabled;
} cfg;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static workq_t *pool;

int mail_init(char *err, size_t errcap)
{
    const char *host = config_str("SMTP_HOST", "");
    int port = (int)config_int("SMTP_PORT", 587, 1, 65535);
    if (config_errors()) {
        snprintf(err, errcap, "invalid configuration: %s", config_errors());
        return RAGD_EINVAL;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.enabled = host && *host;
    if (!cfg.enabled) return 0;
    snprintf(cfg.url, sizeof cfg.url, "%s://%s:%d", port == 465 ? "smtps" : "smtp", host, port);
    snprintf(cfg.user, sizeof cfg.user, "%s", config_str("SMTP_USER", ""));
    snprintf(cfg.password, sizeof cfg.password, "%s", config_str("SMTP_PASSWORD", ""));
    snprintf(cfg.from, sizeof cfg.from, "%s", config_str("SMTP_FROM", "ragd@localhost"));
    curl_global_init(CURL_GLOBAL_DEFAULT); /* reference-counted by libcurl */
    return 0;
}

int mail_enabled(void)
{
    return cfg.enabled;
}

/* ---- one message ---- */

struct message {
    char *to, *subject;
    char *data; /* headers and body, CRLF line ends */
    size_t len, pos;
};

static void message_free(struct message *m)
{
    free(m->to);
    free(m->subject);
    free(m->data);
    free(m);
}

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct message *m = arg;
    size_t n = m->len - m->pos, cap = size * nmemb;
    if (n > cap) n = cap;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return n;
}

/* Header and body of m, every line ending in CRLF (libcurl escapes leading dots). */
static void compose(struct message *m, const char *body)
{
    char date[64], id[37];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    uuid4(id);
    const char *at = strchr(cfg.from, '@');
    struct sbuf sb;
    sb_init(&sb);
    sb_printf(&sb,
              "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@%s>\r\n"
              "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: 8bit\r\n\r\n",
              date, cfg.from, m->to, m->subject, id, at ? at + 1 : "localhost");
    for (const char *p = body; *p; p++) {
        if (*p == '\r') continue;
        if (*p == '\n')
            sb_add(&sb, "\r\n", 2);
        else
            sb_add(&sb, p, 1);
    }
    sb_add(&sb, "\r\n", 2);
    m->len = sb.len;
    m->data = sb_take(&sb);
}

/* Sends m now; the libcurl status, with detail in errbuf (CURL_ERROR_SIZE bytes). */
static CURLcode perform(struct message *m, char *errbuf)
{
    char rcpt[300], from[300];
    snprintf(rcpt, sizeof rcpt, "<%s>", m->to);
    snprintf(from, sizeof from, "<%s>", cfg.from);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    CURL *h = curl_easy_init();
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if (h && rcpts) {
        curl_easy_setopt(h, CURLOPT_URL, cfg.url);
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
        if (cfg.user[0]) {
            curl_easy_setopt(h, CURLOPT_USERNAME, cfg.user);
            curl_easy_setopt(h, CURLOPT_PASSWORD, cfg.password);
        }
        curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, m);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->len);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)SEND_TIMEOUT_S);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        rc = curl_easy_perform(h);
    }
    if (h) curl_easy_cleanup(h);
    curl_slist_free_all(rcpts);
    return rc;
}

static void deliver(void *arg)
{
    struct message *m = arg;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc = perform(m, errbuf);
    if (rc == CURLE_OK)
        log_json(LOG_INFO, "mail sent",
                 json_pack("{s:s, s:s}", "to", m->to, "subject", m->subject));
    else
        log_json(LOG_WARN, "mail not sent",
                 json_pack("{s:s, s:s, s:s}", "to", m->to, "subject", m->subject, "error",
                           errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    message_free(m);
}

/* ---- queue ---- */

static int header_safe(const char *s)
{
    return s && *s && !strpbrk(s, "\r\n<>");
}

int mail_send(const char *to, const char *subject, const char *body)
{
    if (!cfg.enabled || !header_safe(to) || !header_safe(subject) || !body) return RAGD_EINVAL;
    struct message *m = xcalloc(1, sizeof *m);
    m->to = xstrdup(to);
    m->subject = xstrdup(subject);
    compose(m, body);
    pthread_mutex_lock(&pool_lock);
    if (!pool) pool = workq_create(1, MAIL_QUEUE_MAX, "mail");
    int rc = workq_submit(pool, deliver, m);
    pthread_mutex_unlock(&pool_lock);
    if (rc) {
        log_json(LOG_WARN, "mail not queued: too many messages waiting",
                 json_pack("{s:s, s:s}", "to", to, "subject", subject));
        message_free(m);
    }
    return rc;
}

int mail_send_sync(const char *to, const char *subject, const char *body, char *err, size_t errcap)
{
    if (!cfg.enabled) return ragd_errf(err, errcap, RAGD_EINVAL, "SMTP_HOST is not set");
    if (!header_safe(to) || !header_safe(subject) || !body)
        return ragd_errf(err, errcap, RAGD_EINVAL, "invalid recipient or subject");
    struct message m = {.to = xstrdup(to), .subject = xstrdup(subject)};
    compose(&m, body);
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc = perform(&m, errbuf);
    free(m.to);
    free(m.subject);
    free(m.data);
    if (rc == CURLE_OK) return 0;
    return ragd_errf(err, errcap, RAGD_EIO, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

void mail_stop(void)
{
    pthread_mutex_lock(&pool_lock);
    workq_t *p = pool;
    pool = NULL;
    pthread_mutex_unlock(&pool_lock);
    workq_destroy(p);
}
