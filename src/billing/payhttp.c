/* payhttp.c - what both payment providers share: hex decoding for signatures, form encoding
 * and one HTTP call through libcurl. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/payprov.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "core/version.h"

enum { CONNECT_TIMEOUT_S = 5, TIMEOUT_S = 20, REPLY_MAX = 1 << 20 };

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int payprov_hex32(const char *s, size_t n, unsigned char out[32])
{
    if (n != 64) return RAGD_EFORMAT;
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return RAGD_EFORMAT;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static void pct(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            sb_add(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sb_add(b, e, 3);
        }
    }
}

void payprov_form_add(struct sbuf *form, const char *key, const char *value)
{
    if (form->len) sb_adds(form, "&");
    pct(form, key);
    sb_adds(form, "=");
    pct(form, value ? value : "");
}

struct sink {
    struct sbuf b;
    int over;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (s->b.len + len > REPLY_MAX) {
        s->over = 1;
        return 0;
    }
    sb_add(&s->b, data, len);
    return len;
}

int payprov_http(const char *method, const char *base, const char *path, const char *auth,
                 const char *content_type, const char *body, struct payprov_reply *out, char *err,
                 size_t errcap)
{
    memset(out, 0, sizeof *out);
    char *url = xasprintf("%s%s", base, path);
    char *hauth = xasprintf("Authorization: %s", auth);
    char *htype = content_type ? xasprintf("Content-Type: %s", content_type) : NULL;
    struct curl_slist *hdr = curl_slist_append(NULL, hauth);
    if (htype) hdr = curl_slist_append(hdr, htype);
    hdr = curl_slist_append(hdr, "User-Agent: ragd/" RAGD_VERSION);
    hdr = curl_slist_append(hdr, "Expect:");
    struct sink s = {0};
    sb_init(&s.b);
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = curl_easy_init();
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    if (h && hdr) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        }
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)TIMEOUT_S);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        cc = curl_easy_perform(h);
        if (cc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    }
    if (h) curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    /* the Authorization header held a secret: do not leave it in freed memory */
    explicit_bzero(hauth, strlen(hauth));
    free(hauth);
    free(htype);
    free(url);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = ragd_errf(err, errcap, RAGD_EUNAVAIL, "payment provider unreachable: %s",
                       s.over      ? "answer too large"
                       : errbuf[0] ? errbuf
                                   : curl_easy_strerror(cc));
    } else {
        json_error_t je;
        out->body = s.b.len ? json_loadb(s.b.s, s.b.len, 0, &je) : NULL;
    }
    sb_free(&s.b);
    return rc;
}
