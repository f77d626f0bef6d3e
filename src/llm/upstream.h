/* upstream.h - for the HTTP model backends (openai.c, gemini.c) only: one JSON POST over
 * libcurl with a streaming sink, and upstream error handling. An upstream's own error text
 * never reaches a caller: err gets ragd's words for the status, the log a redacted excerpt. */
#ifndef RAGD_LLM_UPSTREAM_H
#define RAGD_LLM_UPSTREAM_H

#include <stddef.h>

#include "core/util.h"

struct up_sink {
    size_t (*fn)(struct up_sink *s, const char *p, size_t n); /* returns n to go on */
    struct sbuf body;
    int too_big;
};
/* A sink fn that collects the whole reply into body (up to 64 MiB). */
size_t up_collect(struct up_sink *s, const char *p, size_t n);

struct up_reply {
    long status;       /* HTTP status (0 when none came) */
    int retry_after_s; /* the Retry-After header in seconds (0: none) */
    int aborted;       /* the sink stopped the transfer */
};

/* POSTs json to url with the extra header auth (may be NULL; e.g. "Authorization: Bearer
 * ..."), path naming the call in messages. 0 with *rep (any status), RAGD_EUNAVAIL /
 * RAGD_ETIMEOUT with a reason in err. */
int up_post(const char *url, const char *path, const char *auth, const char *json, int timeout_s,
            struct up_sink *s, struct up_reply *rep, char *err, size_t errcap);

/* Copy of text with secret (when given) and every credential-like word replaced by
 * "[redacted]". Caller frees. Cannot fail. */
char *up_redact(const char *text, const char *secret);

/* Answers an HTTP error of the provider's upstream: ragd's reason in err, the redacted
 * excerpt of body in a warning log line. Returns RAGD_EUNAVAIL. */
int up_error(const char *provider, const char *what, const char *model, const char *key,
             long status, const struct sbuf *body, char *err, size_t errcap);

#endif
