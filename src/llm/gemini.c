/* gemini.c - the Gemini REST API (generativelanguage.googleapis.com): generation through
 * models/{model}:streamGenerateContent?alt=sse (server-sent events, each a
 * GenerateContentResponse), the key in the x-goog-api-key header. A reply that is one JSON
 * object or an array of them (the endpoint without alt=sse) is read as well. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "llm/provider.h"
#include "llm/upstream.h"

enum { MAX_LINE = 1 << 20 };

struct gm {
    char *base, *key, *model;
    int timeout_s;
};

static void gm_free(void *self)
{
    struct gm *g = self;
    if (!g) return;
    free(g->base);
    if (g->key) {
        memset(g->key, 0, strlen(g->key));
        free(g->key);
    }
    free(g->model);
    free(g);
}

static const char *gm_model(void *self)
{
    return ((struct gm *)self)->model;
}

/* ---- reading replies ---- */

struct gctx {
    struct up_sink sink; /* first: the sink callback casts back */
    struct sbuf line, text;
    prov_token_fn on_token;
    void *ud;
    int sse, decided, stopped, truncated, events, blocked, finished;
    size_t max_bytes;
    int prompt_tokens, completion_tokens;
    char model[128];
};

static int emit(struct gctx *x, const char *t, size_t n)
{
    if (!n) return 0;
    if (x->text.len + n > x->max_bytes) {
        n = x->max_bytes - x->text.len;
        while (n && ((unsigned char)t[n] & 0xC0) == 0x80)
            n--;
        x->truncated = 1;
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

/* One GenerateContentResponse. Returns -1 to stop reading. */
static int take_response(struct gctx *x, json_t *j)
{
    if (!json_is_object(j)) return 0;
    x->events++;
    json_t *u = json_object_get(j, "usageMetadata");
    if (json_is_object(u)) {
        x->prompt_tokens = (int)json_integer_value(json_object_get(u, "promptTokenCount"));
        x->completion_tokens = (int)json_integer_value(json_object_get(u, "candidatesTokenCount"));
    }
    const char *m = json_string_value(json_object_get(j, "modelVersion"));
    if (m) snprintf(x->model, sizeof x->model, "%s", m);
    json_t *cand = json_array_get(json_object_get(j, "candidates"), 0);
    const char *fr = json_string_value(json_object_get(cand, "finishReason"));
    if (fr && !strcmp(fr, "MAX_TOKENS")) x->truncated = 1;
    if (fr) x->finished = 1;
    if (fr && (!strcmp(fr, "SAFETY") || !strcmp(fr, "PROHIBITED_CONTENT"))) x->blocked = 1;
    json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");
    for (size_t i = 0; i < json_array_size(parts); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(parts, i), "text"));
        if (t && emit(x, t, strlen(t))) return -1;
    }
    return 0;
}

static int sse_line(struct gctx *x, const char *l, size_t n)
{
    if (n < 5 || strncmp(l, "data:", 5)) return 0;
    l += 5;
    n -= 5;
    while (n && *l == ' ')
        l++, n--;
    json_error_t je;
    json_t *j = json_loadb(l, n, 0, &je);
    if (!j) return 0;
    int rc = take_response(x, j);
    json_decref(j);
    return rc;
}

static size_t stream_sink(struct up_sink *s, const char *p, size_t n)
{
    struct gctx *x = (struct gctx *)s;
    if (!x->decided) {
        size_t i = 0;
        while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r'))
            i++;
        if (i == n) return n;
        x->decided = 1;
        x->sse = p[i] != '{' && p[i] != '[';
    }
    if (!x->sse) return up_collect(s, p, n);
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

/* ---- the request ---- */

static json_t *text_parts(const char *t)
{
    return json_pack("[{s:s}]", "text", t ? t : "");
}

static json_t *request_json(const struct prov_request *req)
{
    json_t *contents = json_array(), *system = NULL;
    for (size_t i = 0; i < req->n_messages; i++) {
        const struct prov_message *m = &req->messages[i];
        if (!strcmp(m->role, "system")) {
            /* Gemini takes one system instruction: several are joined. */
            if (!system) {
                system = json_pack("{s:o}", "parts", text_parts(m->content));
            } else {
                json_array_append_new(json_object_get(system, "parts"),
                                      json_pack("{s:s}", "text", m->content));
            }
            continue;
        }
        const char *role = !strcmp(m->role, "assistant") ? "model" : "user";
        json_array_append_new(
            contents, json_pack("{s:s, s:o}", "role", role, "parts", text_parts(m->content)));
    }
    json_t *cfg = json_pack("{s:i}", "maxOutputTokens",
                            req->max_tokens > 0 ? req->max_tokens : prov_max_tokens());
    if (req->temperature >= 0) json_object_set_new(cfg, "temperature", json_real(req->temperature));
    if (req->top_p > 0) json_object_set_new(cfg, "topP", json_real(req->top_p));
    if (req->has_seed) json_object_set_new(cfg, "seed", json_integer((json_int_t)(req->seed >> 1)));
    if (req->n_stop) {
        json_t *st = json_array();
        for (size_t i = 0; i < req->n_stop && i < 5; i++)
            json_array_append_new(st, json_string(req->stop[i]));
        json_object_set_new(cfg, "stopSequences", st);
    }
    json_t *body = json_pack("{s:o, s:o}", "contents", contents, "generationConfig", cfg);
    if (system) json_object_set_new(body, "systemInstruction", system);
    return body;
}

static int gm_count_prompt(void *self, const struct prov_message *msgs, size_t n)
{
    (void)self;
    int total = 3;
    for (size_t i = 0; i < n; i++)
        total += (int)((strlen(msgs[i].content) + 1) / 2) + 4;
    return total;
}

static int gm_count(void *self, const char *text, size_t len)
{
    (void)self;
    return prov_estimate_tokens(text, len);
}

static int gm_generate(void *self, const struct prov_request *req, prov_token_fn on_token, void *ud,
                       struct prov_result *res, char *err, size_t errcap)
{
    struct gm *g = self;
    memset(res, 0, sizeof *res);
    json_t *body = request_json(req);
    char *js = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct gctx x = {.sink = {.fn = stream_sink}, .on_token = on_token, .ud = ud};
    x.max_bytes = (size_t)(req->max_tokens > 0 ? req->max_tokens : prov_max_tokens()) * 4;
    sb_init(&x.sink.body);
    sb_init(&x.line);
    sb_init(&x.text);
    char *url = xasprintf("%s/models/%s:streamGenerateContent?alt=sse", g->base, g->model);
    char *auth = g->key ? xasprintf("x-goog-api-key: %s", g->key) : NULL;
    struct up_reply rep;
    int rc =
        up_post(url, ":streamGenerateContent", auth, js, g->timeout_s, &x.sink, &rep, err, errcap);
    if (auth) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    free(url);
    free(js);
    res->http_status = (int)rep.status;
    res->retry_after_s = rep.retry_after_s;
    if (!rc && !rep.aborted && rep.status != 200)
        rc = up_error("gemini", "generation", g->model, g->key, rep.status,
                      x.sink.body.len ? &x.sink.body : &x.line, err, errcap);
    if (!rc && !rep.aborted && !x.sse) {
        json_error_t je;
        json_t *j = json_loadb(x.sink.body.s ? x.sink.body.s : "", x.sink.body.len, 0, &je);
        if (json_is_array(j)) {
            for (size_t i = 0; i < json_array_size(j); i++)
                if (take_response(&x, json_array_get(j, i))) break;
        } else {
            take_response(&x, j);
        }
        json_decref(j);
    }
    if (!rc && x.sse && x.line.len && !rep.aborted) sse_line(&x, x.line.s, x.line.len);
    if (!rc && !rep.aborted && x.sse && x.events && !x.finished) {
        /* The connection closed in the middle of the answer: a stream ends with finishReason. */
        snprintf(err, errcap, "the generation upstream's stream ended before the answer did");
        rc = RAGD_EUNAVAIL;
    }
    if (!rc && !rep.aborted && !x.events) {
        snprintf(err, errcap, "the generation upstream's reply is not a GenerateContentResponse");
        res->invalid_reply = 1;
        rc = RAGD_EUNAVAIL;
    }
    if (!rc) {
        res->stopped = x.stopped;
        res->truncated = x.truncated;
        res->text = sb_take(&x.text);
        if (!res->text) res->text = xstrdup("");
        res->prompt_tokens = x.prompt_tokens
                                 ? x.prompt_tokens
                                 : gm_count_prompt(NULL, req->messages, req->n_messages);
        res->completion_tokens = x.completion_tokens && !x.truncated
                                     ? x.completion_tokens
                                     : prov_estimate_tokens(res->text, strlen(res->text));
        snprintf(res->model, sizeof res->model, "%s", x.model[0] ? x.model : g->model);
        snprintf(res->provider, sizeof res->provider, "gemini");
    }
    sb_free(&x.text);
    sb_free(&x.line);
    sb_free(&x.sink.body);
    return rc;
}

static json_t *gm_health(void *self)
{
    struct gm *g = self;
    char *base = up_redact(g->base, g->key);
    json_t *h = json_pack("{s:s, s:s, s:s, s:s}", "status", "healthy", "provider", "gemini",
                          "model", g->model, "base_url", base);
    free(base);
    return h;
}

static const struct prov_provider_ops gemini_ops = {
    .name = "gemini",
    .generate = gm_generate,
    .count_tokens = gm_count,
    .count_prompt = gm_count_prompt,
    .model = gm_model,
    .health = gm_health,
    .free = gm_free,
};

prov_provider_t *prov_gemini_create(const char *base, const char *key, const char *model,
                                    int timeout_s)
{
    struct gm *g = xcalloc(1, sizeof *g);
    if (!base || !*base) base = "https://generativelanguage.googleapis.com/v1beta";
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    g->base = xstrndup(base, n);
    g->key = key && *key ? xstrdup(key) : NULL;
    g->model = xstrdup(model && *model ? model : "gemini-2.0-flash");
    g->timeout_s = timeout_s > 0 ? timeout_s : 60;
    prov_provider_t *p = xcalloc(1, sizeof *p);
    p->ops = &gemini_ops;
    p->self = g;
    return p;
}
