/* upstream.c - one JSON POST to an HTTP model API over libcurl, and what the llm backends
 * share about upstream errors (llm/upstream.h). */
#include "llm/upstream.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"

enum { MAX_REPLY = 64 << 20 };

/* ---- one POST ---- */

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct up_sink *s = ud;
    return s->fn(s, p, size * nmemb);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct up_reply *rep = ud;
    size_t n = size * nmemb;
    if (n > 12 && !strncasecmp(p, "retry-after:", 12)) {
        long v = strtol(p + 12, NULL, 10);
        rep->retry_after_s = v > 0 ? (int)(v > 86400 ? 86400 : v) : 0;
    }
    return n;
}

int up_post(const char *url, const char *path, const char *auth, const char *json, int timeout_s,
            struct up_sink *s, struct up_reply *rep, char *err, size_t errcap)
{
    memset(rep, 0, sizeof *rep);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errcap, "cannot create an HTTP client");
        return RAGD_EUNAVAIL;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    if (auth) h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rep);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc == CURLE_WRITE_ERROR && !s->too_big) {
        rep->aborted = 1;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, errcap, "%s: timed out after %d s", path, timeout_s);
        rc = RAGD_ETIMEOUT;
    } else if (cc != CURLE_OK) {
        snprintf(err, errcap, "%s: %s", path,
                 s->too_big ? "reply too large" : curl_easy_strerror(cc));
        rc = RAGD_EUNAVAIL;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rep->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

size_t up_collect(struct up_sink *s, const char *p, size_t n)
{
    if (s->body.len + n > MAX_REPLY) {
        s->too_big = 1;
        return 0;
    }
    sb_add(&s->body, p, n);
    return n;
}

/* ---- upstream errors ----
 *
 * An upstream's error text never leaves this file: callers (and through them responses,
 * chat debug_info and document notes) get ragd's own message for the status, and the log
 * gets an excerpt with the key blanked out, as well as anything else that looks like a
 * credential (upstreams quote the key they were given, in full or partly masked). */

/* A short, printable excerpt of an error reply. */
static void excerpt(const struct sbuf *b, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; b->s && i < b->len && j + 1 < cap && i < 300; i++)
        out[j++] = (b->s[i] >= 0x20 && b->s[i] < 0x7f) ? b->s[i] : ' ';
    out[j] = '\0';
}

static int word_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_';
}

static int has_prefix(const char *w, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && !strncasecmp(w, prefix, k);
}

/* A word that looks like a credential: one with a key prefix, or a long one that mixes
 * letters and digits (hashes, tokens, keys without a prefix). */
static int credential_like(const char *w, size_t n)
{
    static const char *const prefixes[] = {"sk-",  "sk_",  "pk-",  "pk_",  "rk-",  "rk_", "key-",
                                           "api-", "AIza", "ghp_", "gsk_", "xai-", NULL};
    for (int i = 0; prefixes[i]; i++)
        if (n >= strlen(prefixes[i]) + 4 && has_prefix(w, n, prefixes[i])) return 1;
    int alpha = 0, digit = 0;
    for (size_t i = 0; i < n; i++) {
        alpha |= isalpha((unsigned char)w[i]) != 0;
        digit |= isdigit((unsigned char)w[i]) != 0;
    }
    return n >= 20 && alpha && digit;
}

/* Copy of text with every occurrence of secret (when given) and every credential-like word
 * replaced by "[redacted]", as is the word after "Bearer". Caller frees. Cannot fail. */
char *up_redact(const char *text, const char *secret)
{
    struct sbuf b;
    sb_init(&b);
    size_t sl = secret ? strlen(secret) : 0, n = strlen(text);
    int after_bearer = 0;
    for (size_t i = 0; i < n;) {
        if (sl >= 4 && !strncmp(text + i, secret, sl)) {
            sb_adds(&b, "[redacted]");
            i += sl;
            after_bearer = 0;
            continue;
        }
        if (!word_char((unsigned char)text[i])) {
            sb_add(&b, text + i, 1);
            i++;
            continue;
        }
        size_t w = i;
        while (w < n && word_char((unsigned char)text[w]) &&
               !(sl >= 4 && !strncmp(text + w, secret, sl)))
            w++;
        if (after_bearer || credential_like(text + i, w - i))
            sb_adds(&b, "[redacted]");
        else
            sb_add(&b, text + i, w - i);
        after_bearer = w - i == 6 && has_prefix(text + i, 6, "bearer");
        i = w;
    }
    char *out = sb_take(&b);
    return out ? out : xstrdup("");
}

int up_error(const char *provider, const char *what, const char *model, const char *key,
             long status, const struct sbuf *body, char *err, size_t errcap)
{
    const char *why = status == 401 || status == 403 ? "rejected ragd's credentials"
                      : status == 429                ? "is rate limiting ragd or out of quota"
                      : status == 404                ? "does not know the endpoint or model"
                      : status >= 500                ? "failed"
                                                     : "refused the request";
    snprintf(err, errcap, "the %s upstream %s (HTTP %ld)", what, why, status);
    char ex[512];
    excerpt(body, ex, sizeof ex);
    char *clean = up_redact(ex, key);
    log_json(LOG_WARN, "upstream error",
             json_pack("{s:s, s:s, s:s, s:I, s:s}", "provider", provider, "upstream", what, "model",
                       model, "status", (json_int_t)status, "reply", clean));
    free(clean);
    return RAGD_EUNAVAIL;
}
