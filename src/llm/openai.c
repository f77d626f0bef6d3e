/* openai.c - OpenAI-compatible HTTP backends over libcurl: chat completions (streamed as
 * server-sent events) and embeddings. Errors name the status in ragd's words; what an
 * upstream said goes only to the log, with credentials redacted. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "llm/provider.h"
#include "llm/upstream.h"

enum { MAX_REPLY = 64 << 20, MAX_LINE = 1 << 20 };

struct oa {
    char *base, *key, *model;
    int timeout_s;
    uint32_t dim;
};

static struct oa *oa_new(const char *base, const char *key, const char *model, int timeout_s)
{
    struct oa *o = xcalloc(1, sizeof *o);
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    o->base = xstrndup(base, n);
    o->key = key && *key ? xstrdup(key) : NULL;
    o->model = xstrdup(model);
    o->timeout_s = timeout_s > 0 ? timeout_s : 60;
    return o;
}

static void oa_free(void *self)
{
    struct oa *o = self;
    if (!o) return;
    free(o->base);
    free(o->key);
    free(o->model);
    free(o);
}

static const char *oa_model(void *self)
{
    return ((struct oa *)self)->model;
}

/* ---- one POST ---- */

#define sink up_sink
#define collect up_collect

static char *redact(const char *text, const char *secret)
{
    return up_redact(text, secret);
}

/* POSTs json to base+path with the key as a bearer token. */
static int post(struct oa *o, const char *path, const char *json, struct sink *s,
                struct up_reply *rep, char *err, size_t errcap)
{
    char *url = xasprintf("%s%s", o->base, path);
    char *auth = o->key ? xasprintf("Authorization: Bearer %s", o->key) : NULL;
    int rc = up_post(url, path, auth, json, o->timeout_s, s, rep, err, errcap);
    if (auth) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    free(url);
    return rc;
}

static int upstream_error(const struct oa *o, const char *what, long status,
                          const struct sbuf *body, char *err, size_t errcap)
{
    return up_error("openai", what, o->model, o->key, status, body, err, errcap);
}

/* ---- chat completions ---- */

struct stream_ctx {
    struct sink sink;
    struct sbuf line;
    prov_token_fn on_token;
    void *ud;
    struct sbuf text;
    int sse, decided, stopped, done, truncated;
    int events;       /* data lines that parsed as JSON (or [DONE]) */
    int finished;     /* a finish_reason was seen */
    size_t max_bytes; /* the answer's most bytes: max_tokens at 4 bytes a token */
    int capped;       /* the upstream went past max_tokens and was stopped */
    int prompt_tokens, completion_tokens;
    char model[128];
    json_t *logprobs; /* the choice's logprobs.content entries, when the upstream sends them */
    json_t *calls;    /* tool calls: [{id, name, arguments}] by index, pieced from the deltas */
};

static void take_logprobs(struct stream_ctx *x, json_t *choice)
{
    json_t *c = json_object_get(json_object_get(choice, "logprobs"), "content");
    if (!json_is_array(c)) return;
    if (!x->logprobs) x->logprobs = json_array();
    json_array_extend(x->logprobs, c);
}

/* Adds a tool call or a streamed piece of one (OpenAI sends the id and name first, then the
 * arguments in pieces, all under the call's index). */
static void take_call(struct stream_ctx *x, const json_t *tc, size_t fallback_index)
{
    if (!x->calls) x->calls = json_array();
    const json_t *ix = json_object_get(tc, "index");
    size_t i = json_is_integer(ix) ? (size_t)json_integer_value(ix) : fallback_index;
    if (i > 127) return; /* defensive: no answer makes that many calls */
    while (json_array_size(x->calls) <= i)
        json_array_append_new(x->calls,
                              json_pack("{s:s, s:s, s:s}", "id", "", "name", "", "arguments", ""));
    json_t *c = json_array_get(x->calls, i);
    const json_t *fn = json_object_get(tc, "function");
    const char *id = json_string_value(json_object_get(tc, "id"));
    const char *name = json_string_value(json_object_get(fn, "name"));
    const json_t *args = json_object_get(fn, "arguments");
    if (id) json_object_set_new(c, "id", json_string(id));
    if (name) json_object_set_new(c, "name", json_string(name));
    if (json_is_string(args)) {
        char *joined = xasprintf("%s%s", json_string_value(json_object_get(c, "arguments")),
                                 json_string_value(args));
        json_object_set_new(c, "arguments", json_string(joined));
        free(joined);
    }
}

static void take_calls(struct stream_ctx *x, const json_t *tool_calls)
{
    size_t i;
    const json_t *tc;
    json_array_foreach((json_t *)tool_calls, i, tc) take_call(x, tc, i);
}

/* Moves the pieced calls into res. */
static void calls_result(struct stream_ctx *x, struct prov_result *res)
{
    size_t n = json_array_size(x->calls);
    if (!n) return;
    res->tool_calls = xcalloc(n, sizeof *res->tool_calls);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(x->calls, i);
        struct prov_tool_call *t = &res->tool_calls[res->n_tool_calls++];
        snprintf(t->id, sizeof t->id, "%s", json_string_value(json_object_get(c, "id")));
        t->name = xstrdup(json_string_value(json_object_get(c, "name")));
        t->arguments = xstrdup(json_string_value(json_object_get(c, "arguments")));
    }
}

static int emit(struct stream_ctx *x, const char *t, size_t n)
{
    if (!n) return 0;
    if (x->text.len + n > x->max_bytes) {
        /* An upstream that ignores max_tokens is stopped where the answer's estimate reaches
         * it (cut on a UTF-8 boundary): its tokens were held for that many and no more. */
        n = x->max_bytes - x->text.len;
        while (n && ((unsigned char)t[n] & 0xC0) == 0x80)
            n--;
        x->capped = x->truncated = 1;
        if (n) {
            sb_add(&x->text, t, n);
            if (x->on_token && x->on_token(x->ud, t, n)) x->stopped = 1;
        }
        return -1;
    }
    sb_add(&x->text, t, n);
    if (x->on_token && x->on_token(x->ud, t, n)) {
        x->stopped = 1;
        return -1;
    }
    return 0;
}

static void take_usage(struct stream_ctx *x, json_t *j)
{
    json_t *u = json_object_get(j, "usage");
    if (json_is_object(u)) {
        x->prompt_tokens = (int)json_integer_value(json_object_get(u, "prompt_tokens"));
        x->completion_tokens = (int)json_integer_value(json_object_get(u, "completion_tokens"));
    }
    const char *m = json_string_value(json_object_get(j, "model"));
    if (m) snprintf(x->model, sizeof x->model, "%s", m);
}

/* One "data: {...}" line of the event stream. Returns -1 to abort. */
static int sse_line(struct stream_ctx *x, const char *l, size_t n)
{
    if (n < 5 || strncmp(l, "data:", 5)) return 0; /* comments, event names, blank separators */
    l += 5;
    n -= 5;
    while (n && *l == ' ')
        l++, n--;
    if (n == 6 && !strncmp(l, "[DONE]", 6)) {
        x->done = 1;
        x->events++;
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb(l, n, 0, &je);
    if (!j) return 0;
    x->events++;
    take_usage(x, j);
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    const char *fr = json_string_value(json_object_get(ch, "finish_reason"));
    if (fr && !strcmp(fr, "length")) x->truncated = 1;
    if (fr) x->finished = 1;
    take_logprobs(x, ch);
    json_t *delta = json_object_get(ch, "delta");
    if (json_is_array(json_object_get(delta, "tool_calls")))
        take_calls(x, json_object_get(delta, "tool_calls"));
    const char *t = json_string_value(json_object_get(delta, "content"));
    int rc = t ? emit(x, t, strlen(t)) : 0;
    json_decref(j);
    return rc;
}

static size_t stream_sink(struct sink *s, const char *p, size_t n)
{
    struct stream_ctx *x = (struct stream_ctx *)s;
    if (!x->decided) {
        /* An upstream may ignore stream:true and answer with one JSON object. */
        size_t i = 0;
        while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r'))
            i++;
        if (i == n) return n;
        x->decided = 1;
        x->sse = p[i] != '{';
    }
    if (!x->sse) return collect(s, p, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            size_t len = x->line.len;
            if (len && x->line.s[len - 1] == '\r') len--;
            int rc = sse_line(x, x->line.s ? x->line.s : "", len);
            x->line.len = 0;
            if (rc) return 0;
        } else {
            if (x->line.len >= MAX_LINE) {
                s->too_big = 1;
                return 0;
            }
            sb_add(&x->line, p + i, 1);
        }
    }
    return n;
}

static json_t *messages_json(const struct prov_request *req)
{
    json_t *a = json_array();
    for (size_t i = 0; i < req->n_messages; i++) {
        const struct prov_message *m = &req->messages[i];
        json_t *o = json_pack("{s:s, s:s}", "role", m->role, "content", m->content);
        if (m->tool_calls) {
            json_object_set(o, "tool_calls", (json_t *)m->tool_calls);
            if (!m->content[0]) json_object_set_new(o, "content", json_null());
        }
        if (m->tool_call_id) json_object_set_new(o, "tool_call_id", json_string(m->tool_call_id));
        json_array_append_new(a, o);
    }
    return a;
}

/* The upstream's tokenizer is unknown: two bytes a token (about half of what English text
 * takes, and above the usual count for other scripts), and the template's few tokens for
 * each message and for the reply's opener. */
static int oa_count_prompt(void *self, const struct prov_message *msgs, size_t n)
{
    (void)self;
    int total = 3;
    for (size_t i = 0; i < n; i++)
        total +=
            (int)((strlen(msgs[i].content) + 1) / 2) + 4 + (int)((strlen(msgs[i].role) + 1) / 2);
    return total;
}

static int oa_generate(void *self, const struct prov_request *req, prov_token_fn on_token, void *ud,
                       struct prov_result *res, char *err, size_t errcap)
{
    struct oa *o = self;
    memset(res, 0, sizeof *res);
    json_t *body = json_pack("{s:s, s:o, s:b, s:i}", "model", o->model, "messages",
                             messages_json(req), "stream", 1, "max_tokens",
                             req->max_tokens > 0 ? req->max_tokens : prov_max_tokens());
    if (req->temperature >= 0)
        json_object_set_new(body, "temperature", json_real(req->temperature));
    if (req->top_p > 0) json_object_set_new(body, "top_p", json_real(req->top_p));
    if (req->has_seed) json_object_set_new(body, "seed", json_integer((json_int_t)req->seed));
    if (req->passthrough) json_object_update_missing(body, req->passthrough);
    if (req->logprobs) {
        json_object_set_new(body, "logprobs", json_true());
        json_object_set_new(body, "top_logprobs", json_integer(req->top_logprobs));
    }
    /* tool calling and structured output go to the upstream as the client sent them */
    if (req->tools) json_object_set(body, "tools", (json_t *)req->tools);
    if (req->tool_choice) json_object_set(body, "tool_choice", (json_t *)req->tool_choice);
    if (req->response_format)
        json_object_set(body, "response_format", (json_t *)req->response_format);
    if (req->n_stop) {
        json_t *st = json_array();
        for (size_t i = 0; i < req->n_stop; i++)
            json_array_append_new(st, json_string(req->stop[i]));
        json_object_set_new(body, "stop", st);
    }
    char *js = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct stream_ctx x = {.sink = {.fn = stream_sink}, .on_token = on_token, .ud = ud};
    x.max_bytes = (size_t)(req->max_tokens > 0 ? req->max_tokens : prov_max_tokens()) * 4;
    sb_init(&x.sink.body);
    sb_init(&x.line);
    sb_init(&x.text);
    struct up_reply rep;
    int rc = post(o, "/chat/completions", js, &x.sink, &rep, err, errcap);
    long status = rep.status;
    int aborted = rep.aborted;
    res->http_status = (int)status;
    res->retry_after_s = rep.retry_after_s;
    free(js);
    if (!rc && !aborted && status != 200)
        rc = upstream_error(o, "chat", status, x.sink.body.len ? &x.sink.body : &x.line, err,
                            errcap);
    if (!rc && !aborted && !x.sse) {
        json_error_t je;
        json_t *j = json_loadb(x.sink.body.s ? x.sink.body.s : "", x.sink.body.len, 0, &je);
        json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
        const char *t = json_string_value(json_object_get(msg, "content"));
        const char *fr = json_string_value(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "finish_reason"));
        x.truncated = fr && !strcmp(fr, "length");
        if (json_is_array(json_object_get(msg, "tool_calls"))) {
            take_calls(&x, json_object_get(msg, "tool_calls"));
            if (!t) t = "";
        }
        if (!t) {
            snprintf(err, errcap, "upstream reply has no choices[0].message.content");
            res->invalid_reply = 1;
            rc = RAGD_EUNAVAIL;
        } else {
            take_usage(&x, j);
            take_logprobs(&x, json_array_get(json_object_get(j, "choices"), 0));
            emit(&x, t, strlen(t));
        }
        json_decref(j);
    }
    if (!rc && x.sse && x.line.len && !aborted)
        sse_line(&x, x.line.s, x.line.len); /* a last line without its newline */
    if (!rc && !aborted && x.sse && x.events && !x.done && !x.finished) {
        /* The connection closed in the middle of the answer. */
        snprintf(err, errcap, "the chat upstream's stream ended before the answer did");
        rc = RAGD_EUNAVAIL;
    }
    if (!rc && !aborted && x.sse && !x.events) {
        /* 200 with neither a JSON body nor one event: not an answer, however short. */
        snprintf(err, errcap, "upstream reply is neither JSON nor an event stream");
        res->invalid_reply = 1;
        rc = RAGD_EUNAVAIL;
    }
    if (!rc) {
        res->stopped = x.stopped;
        res->truncated = x.truncated;
        res->text = sb_take(&x.text);
        if (!res->text) res->text = xstrdup("");
        /* An upstream that reports no usage is charged the estimate reserved for it. */
        res->prompt_tokens = x.prompt_tokens
                                 ? x.prompt_tokens
                                 : oa_count_prompt(NULL, req->messages, req->n_messages);
        res->completion_tokens = x.completion_tokens && !x.capped
                                     ? x.completion_tokens
                                     : prov_estimate_tokens(res->text, strlen(res->text));
        snprintf(res->model, sizeof res->model, "%s", x.model[0] ? x.model : o->model);
        if (req->logprobs) {
            res->logprobs = x.logprobs;
            x.logprobs = NULL;
        }
        calls_result(&x, res);
    }
    json_decref(x.logprobs);
    json_decref(x.calls);
    sb_free(&x.text);
    sb_free(&x.line);
    sb_free(&x.sink.body);
    return rc;
}

static int oa_count(void *self, const char *text, size_t len)
{
    (void)self;
    return prov_estimate_tokens(text, len);
}

/* The base URL as health shows it: without user:password@ and with credential-like words
 * redacted. Caller frees. */
static char *display_base(const struct oa *o)
{
    const char *host = strstr(o->base, "://");
    host = host ? host + 3 : o->base;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    char *plain = at && (!slash || at < slash)
                      ? xasprintf("%.*s%s", (int)(host - o->base), o->base, at + 1)
                      : xstrdup(o->base);
    char *out = redact(plain, o->key);
    free(plain);
    return out;
}

static json_t *oa_health(void *self)
{
    struct oa *o = self;
    char *base = display_base(o);
    json_t *h = json_pack("{s:s, s:s, s:s, s:s}", "status", "healthy", "provider", "openai",
                          "model", o->model, "base_url", base);
    free(base);
    return h;
}

static const struct prov_provider_ops openai_ops = {
    .name = "openai",
    .generate = oa_generate,
    .count_tokens = oa_count,
    .count_prompt = oa_count_prompt,
    .model = oa_model,
    .health = oa_health,
    .free = oa_free,
};

prov_provider_t *prov_openai_create(const char *base, const char *key, const char *model,
                                    int timeout_s)
{
    prov_provider_t *p = xcalloc(1, sizeof *p);
    p->ops = &openai_ops;
    p->self = oa_new(base, key, model, timeout_s);
    return p;
}

/* ---- embeddings ---- */

static int oa_embed(void *self, const char *const *texts, size_t n, float *out, char *err,
                    size_t errcap)
{
    struct oa *o = self;
    json_t *input = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(input, json_string(texts[i]));
    json_t *body = json_pack("{s:s, s:o}", "model", o->model, "input", input);
    char *js = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct sink s = {.fn = collect};
    sb_init(&s.body);
    struct up_reply rep;
    int rc = post(o, "/embeddings", js, &s, &rep, err, errcap);
    long status = rep.status;
    free(js);
    json_t *j = NULL;
    if (!rc && status != 200) rc = upstream_error(o, "embeddings", status, &s.body, err, errcap);
    if (!rc) {
        json_error_t je;
        j = json_loadb(s.body.s ? s.body.s : "", s.body.len, 0, &je);
        json_t *data = json_object_get(j, "data");
        if (!json_is_array(data) || json_array_size(data) != n) {
            snprintf(err, errcap, "embeddings reply: expected %zu items in data", n);
            rc = RAGD_EFORMAT;
        }
        char *seen = xcalloc(n ? n : 1, 1);
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *item = json_array_get(data, i);
            json_t *idx = json_object_get(item, "index");
            size_t k = json_is_integer(idx) ? (size_t)json_integer_value(idx) : i;
            json_t *vec = json_object_get(item, "embedding");
            if (k >= n || seen[k] || !json_is_array(vec) || json_array_size(vec) != o->dim) {
                snprintf(err, errcap,
                         "embeddings reply: item %zu is not a %u-dimensional vector with a "
                         "unique index",
                         i, o->dim);
                rc = RAGD_EFORMAT;
                break;
            }
            seen[k] = 1;
            for (uint32_t d = 0; d < o->dim; d++) {
                json_t *x = json_array_get(vec, d);
                if (!json_is_number(x)) {
                    snprintf(err, errcap, "embeddings reply: non-numeric component");
                    rc = RAGD_EFORMAT;
                    break;
                }
                out[k * o->dim + d] = (float)json_number_value(x);
            }
        }
        free(seen);
    }
    json_decref(j);
    sb_free(&s.body);
    return rc;
}

static const struct prov_embedder_ops openai_embed_ops = {
    .name = "openai",
    .embed = oa_embed,
    .model = oa_model,
    .free = oa_free,
};

prov_embedder_t *prov_openai_embedder_create(const char *base, const char *key, const char *model,
                                             uint32_t dim, int timeout_s)
{
    prov_embedder_t *e = xcalloc(1, sizeof *e);
    struct oa *o = oa_new(base, key, model, timeout_s);
    o->dim = dim;
    e->ops = &openai_embed_ops;
    e->self = o;
    e->dim = dim;
    return e;
}
