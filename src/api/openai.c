/* openai.c (api) - the OpenAI-compatible API: /v1/models, /v1/chat/completions (JSON or
 * Server-Sent Events with "data: [DONE]"), /v1/embeddings (float or base64).
 *
 * Callers authenticate like every other route (bearer access token or API key) and pass the
 * same guards: the chat rate limit and the messages quota for completions (their daily tokens
 * held before generating, usage recorded with tokens_used), the api rate limit and the
 * api_calls quota for embeddings. The model named in a request must be one that /v1/models
 * lists. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "billing/billing.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "llm/provider.h"
#include "llm/router.h"

enum { MAX_MESSAGES = 256, MAX_STOP = 4, MAX_INPUTS = 2048, MAX_INPUT_CHARS = 65536 };

static time_t started_at;

/* ---- models ---- */

/* The generator's model name, or NULL when only the extractive answerer is configured (it
 * answers from retrieved passages and cannot hold a free conversation). */
static const char *generator_id(void)
{
    prov_provider_t *g = prov_generator();
    return g == prov_extractive() ? NULL : g->ops->model(g->self);
}

static const char *embedder_id(void)
{
    prov_embedder_t *e = prov_embedder();
    return e ? e->ops->model(e->self) : NULL;
}

static json_t *model_obj(const char *id, const char *kind)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", id, "object", "model", "created",
                     (json_int_t)started_at, "owned_by", "ragd", "kind", kind);
}

static void models_list(struct req *r)
{
    json_t *data = json_array();
    if (generator_id()) json_array_append_new(data, model_obj(generator_id(), "chat"));
    if (embedder_id()) json_array_append_new(data, model_obj(embedder_id(), "embedding"));
    http_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void model_not_found(struct req *r, const char *id)
{
    http_error(r, 404, "MODEL_NOT_FOUND",
               "The model '%s' does not exist; GET /v1/models lists "
               "the models this server runs",
               id);
}

static void model_get(struct req *r)
{
    const char *id = req_param(r, "model");
    if (generator_id() && !strcmp(id, generator_id()))
        http_json(r, 200, model_obj(id, "chat"));
    else if (embedder_id() && !strcmp(id, embedder_id()))
        http_json(r, 200, model_obj(id, "embedding"));
    else
        model_not_found(r, id);
}

/* ---- chat completions ---- */

static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", NULL};

static const struct jv_field completion_fields[] = {
    {"model", JV_STRING, 1, 1, 256, 0, NULL, "A chat model id from GET /v1/models"},
    {"messages", JV_ARRAY, 1, 1, MAX_MESSAGES, 0, NULL,
     "[{role: system|developer|user|assistant|tool, content: string or [{type: text, text}], "
     "tool_calls, tool_call_id}]"},
    {"temperature", JV_NUMBER, 0, 0, 2, 1, NULL, "Sampling temperature (0 = greedy)"},
    {"top_p", JV_NUMBER, 0, 0.000001, 1, 1, NULL, "Nucleus sampling mass"},
    {"max_tokens", JV_INT, 0, 1, 32768, 1, NULL, "Most tokens to generate"},
    {"max_completion_tokens", JV_INT, 0, 1, 32768, 1, NULL, "Same as max_tokens"},
    {"stop", JV_ANY, 0, 0, 0, 1, NULL, "A stop string or up to 4 of them"},
    {"seed", JV_INT, 0, -9.2e18, 9.2e18, 1, NULL, "Sampling seed (same seed, same text)"},
    {"stream", JV_BOOL, 0, 0, 0, 1, NULL, "Answer as Server-Sent Events ending in [DONE]"},
    {"stream_options", JV_OBJECT, 0, 0, 0, 1, NULL, "{include_usage: bool}"},
    {"n", JV_INT, 0, 1, 1, 1, NULL, "Choices wanted (only 1)"},
    {"user", JV_STRING, 0, 0, 256, 1, NULL, "The end user's id (logged)"},
    {"tools", JV_ARRAY, 0, 0, 128, 1, NULL,
     "Functions the model may call: [{type: function, function: {name, description, "
     "parameters}}]"},
    {"tool_choice", JV_ANY, 0, 0, 0, 1, NULL,
     "auto (default with tools) | none | required | {type: function, function: {name}}"},
    {"parallel_tool_calls", JV_BOOL, 0, 0, 0, 1, NULL,
     "Accepted; calls come as the model makes them"},
    {"response_format", JV_OBJECT, 0, 0, 0, 1, NULL,
     "{type: text | json_object | json_schema, json_schema: {name, schema, strict}}: JSON "
     "output by constrained decoding on the local model"},
    {NULL},
};
static const struct jv_schema completion_schema = {completion_fields, 0};

struct completion {
    struct prov_message msgs[MAX_MESSAGES];
    char *texts[MAX_MESSAGES]; /* content joined from parts, owned */
    size_t n;
    const char *stop[MAX_STOP];
    size_t n_stop;
    struct prov_request preq;
    int stream, include_usage, open, gone;
    struct req *r;
    char id[48];
    time_t created;
    const char *model;
};

/* A 400 for a request the model cannot honour, with the parameter named (the /v1 error hook
 * adds OpenAI's error object: type invalid_request_error, this code and param). */
static void invalid_request(struct req *r, const char *param, const char *code, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));
static void invalid_request(struct req *r, const char *param, const char *code, const char *fmt,
                            ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_json(r, 400,
              json_pack("{s:s, s:s, s:s?, s:s}", "detail", msg, "code", code, "field", param,
                        "request_id", req_id(r)));
}

/* tools, tool_choice and response_format as OpenAI shapes them; answers 400 otherwise. */
static int tools_check(struct req *r, json_t *b)
{
    json_t *tools = json_object_get(b, "tools"), *t;
    size_t i;
    json_array_foreach(tools, i, t)
    {
        json_t *fn = json_object_get(t, "function");
        const char *type = json_string_value(json_object_get(t, "type"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *params = json_object_get(fn, "parameters");
        int ok = type && !strcmp(type, "function") && name && name[0] && strlen(name) <= 64 &&
                 (!params || json_is_object(params));
        for (const char *p = name; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '-';
        if (!ok) {
            invalid_request(r, "tools", "invalid_value",
                            "tools[%zu] must be {type: \"function\", function: {name (1-64 of "
                            "a-z A-Z 0-9 _ -), description, parameters: object}}",
                            i);
            return -1;
        }
    }
    json_t *tc = json_object_get(b, "tool_choice");
    const char *choice = json_string_value(tc);
    int ok = !tc || json_is_null(tc) ||
             (choice && (!strcmp(choice, "auto") || !strcmp(choice, "none") ||
                         !strcmp(choice, "required"))) ||
             (json_is_object(tc) &&
              !strcmp(json_string_value(json_object_get(tc, "type")) ?: "", "function") &&
              json_is_string(json_object_get(json_object_get(tc, "function"), "name")));
    if (!ok) {
        invalid_request(r, "tool_choice", "invalid_value",
                        "tool_choice must be auto, none, required or {type: \"function\", "
                        "function: {name}}");
        return -1;
    }
    json_t *rf = json_object_get(b, "response_format");
    const char *rt = json_string_value(json_object_get(rf, "type"));
    json_t *js = json_object_get(rf, "json_schema");
    ok = !rf || json_is_null(rf) ||
         (rt &&
          (!strcmp(rt, "text") || !strcmp(rt, "json_object") ||
           (!strcmp(rt, "json_schema") && json_is_object(js) &&
            (!json_object_get(js, "schema") || json_is_object(json_object_get(js, "schema"))))));
    if (!ok) {
        invalid_request(r, "response_format", "invalid_value",
                        "response_format must be {type: text | json_object} or {type: "
                        "json_schema, json_schema: {name, schema: object, strict}}");
        return -1;
    }
    return 0;
}

static void completion_free(void *p)
{
    struct completion *c = p;
    for (size_t i = 0; i < c->n; i++)
        free(c->texts[i]);
    free(c);
}

/* A message's content: a string, or an array of {type: "text", text} parts joined. Returns a
 * new string, or NULL after answering 422. */
static char *content_text(struct req *r, json_t *content, size_t i)
{
    if (json_is_string(content)) return xstrdup(json_string_value(content));
    if (!json_is_array(content) || !json_array_size(content)) {
        api_invalid(r, "messages",
                    "messages[%zu].content must be a string or an array of "
                    "text parts",
                    i);
        return NULL;
    }
    struct sbuf b;
    sb_init(&b);
    size_t k;
    json_t *part;
    json_array_foreach(content, k, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *text = json_object_get(part, "text");
        if (!type || strcmp(type, "text") || !json_is_string(text)) {
            api_invalid(r, "messages",
                        "messages[%zu].content[%zu] must be {type: \"text\", "
                        "text: string}; other part types are not supported",
                        i, k);
            sb_free(&b);
            return NULL;
        }
        sb_adds(&b, json_string_value(text));
    }
    char *s = xstrdup(b.s ? b.s : "");
    sb_free(&b);
    return s;
}

/* Fills c from the body; answers 422 and returns non-zero when something is wrong. */
static int completion_parse(struct req *r, json_t *b, struct completion *c)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(b, "messages"), i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        int known = 0;
        for (int k = 0; role && roles[k]; k++)
            known |= !strcmp(role, roles[k]);
        if (!json_is_object(m) || !known) {
            api_invalid(r, "messages",
                        "messages[%zu] must be an object whose role is system, "
                        "developer, user, assistant or tool",
                        i);
            return -1;
        }
        const char *key;
        json_t *v;
        json_object_foreach(m, key, v)
        {
            if (strcmp(key, "role") && strcmp(key, "content") && strcmp(key, "name") &&
                strcmp(key, "tool_calls") && strcmp(key, "tool_call_id") &&
                strcmp(key, "refusal")) {
                api_invalid(r, "messages", "messages[%zu].%s is not supported", i, key);
                return -1;
            }
        }
        /* an assistant's tool calls come with content null or absent */
        json_t *calls = json_object_get(m, "tool_calls");
        json_t *content = json_object_get(m, "content");
        if (calls && !json_is_null(calls) && (!json_is_array(calls) || strcmp(role, "assistant"))) {
            api_invalid(r, "messages",
                        "messages[%zu].tool_calls belongs to an assistant message "
                        "and must be an array",
                        i);
            return -1;
        }
        size_t k;
        json_t *call;
        json_array_foreach(calls, k, call)
        {
            json_t *fn = json_object_get(call, "function");
            if (!json_is_string(json_object_get(fn, "name")) ||
                !json_is_string(json_object_get(fn, "arguments"))) {
                api_invalid(r, "messages",
                            "messages[%zu].tool_calls[%zu] must be {id, type: function, "
                            "function: {name, arguments: JSON text}}",
                            i, k);
                return -1;
            }
        }
        char *text = json_array_size(calls) && (!content || json_is_null(content))
                         ? xstrdup("")
                         : content_text(r, content, i);
        if (!text) return -1;
        c->texts[c->n] = text;
        c->msgs[c->n] = (struct prov_message){
            .role = strcmp(role, "developer") ? role : "system",
            .content = text,
            .tool_calls = json_array_size(calls) ? calls : NULL,
            .tool_call_id = json_string_value(json_object_get(m, "tool_call_id"))};
        c->n++;
    }
    json_t *stop = json_object_get(b, "stop");
    if (json_is_string(stop)) {
        c->stop[c->n_stop++] = json_string_value(stop);
    } else if (json_is_array(stop) && json_array_size(stop) <= MAX_STOP) {
        json_t *s;
        json_array_foreach(stop, i, s)
        {
            if (!json_is_string(s) || !json_string_length(s)) {
                api_invalid(r, "stop",
                            "stop must be a string or an array of up to 4 non-empty "
                            "strings");
                return -1;
            }
            c->stop[c->n_stop++] = json_string_value(s);
        }
    } else if (stop && !json_is_null(stop)) {
        api_invalid(r, "stop", "stop must be a string or an array of up to 4 non-empty strings");
        return -1;
    }
    json_t *so = json_object_get(b, "stream_options");
    if (so && json_is_object(so)) {
        const char *key;
        json_t *v;
        json_object_foreach(so, key, v)
        {
            if (strcmp(key, "include_usage") || !json_is_boolean(v)) {
                api_invalid(r, "stream_options",
                            "stream_options may only hold "
                            "include_usage (bool)");
                return -1;
            }
            c->include_usage = json_is_true(v);
        }
    }
    if (tools_check(r, b)) return -1;
    c->stream = jv_bool(b, "stream", 0);
    c->preq = (struct prov_request){
        .messages = c->msgs,
        .n_messages = c->n,
        .question = c->n ? c->msgs[c->n - 1].content : "",
        .task = PROV_TASK_ANSWER,
        .max_tokens = (int)jv_int(b, "max_tokens", jv_int(b, "max_completion_tokens", 0)),
        .temperature = jv_num(b, "temperature", -1),
        .top_p = jv_num(b, "top_p", 0),
        .seed = (uint64_t)jv_int(b, "seed", 0),
        .has_seed = json_is_integer(json_object_get(b, "seed")),
        .stop = c->n_stop ? c->stop : NULL,
        .n_stop = c->n_stop,
        .user_id = api_user(r)->id,
        .tools = json_object_get(b, "tools"),
        .tool_choice = json_object_get(b, "tool_choice"),
        .response_format = json_object_get(b, "response_format"),
    };
    return 0;
}

static json_t *chunk(const struct completion *c, json_t *delta, const char *finish)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s?}]}", "id", c->id, "object",
                     "chat.completion.chunk", "created", (json_int_t)c->created, "model", c->model,
                     "choices", "index", 0, "delta", delta, "finish_reason", finish);
}

/* The first chunk carries the role; it goes out with the first text so that a request the
 * generator refuses still gets a plain HTTP error. */
static void stream_open(struct completion *c)
{
    if (c->open) return;
    c->open = 1;
    http_stream_begin(c->r, "text/event-stream");
    if (http_stream_event(
            c->r, chunk(c, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL)))
        c->gone = 1;
}

static int on_piece(void *ud, const char *text, size_t len)
{
    struct completion *c = ud;
    if (c->gone) return -1;
    stream_open(c);
    if (!c->gone &&
        http_stream_event(c->r, chunk(c, json_pack("{s:s%}", "content", text, len), NULL)))
        c->gone = 1;
    return c->gone ? -1 : 0;
}

/* The answer's tool calls as OpenAI lists them; in a stream each carries its index. */
static json_t *tool_calls_json(const struct prov_result *res, int indexed)
{
    json_t *a = json_array();
    for (size_t i = 0; i < res->n_tool_calls; i++) {
        const struct prov_tool_call *t = &res->tool_calls[i];
        json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", t->id, "type", "function",
                              "function", "name", t->name, "arguments", t->arguments);
        if (indexed) json_object_set_new(o, "index", json_integer((json_int_t)i));
        json_array_append_new(a, o);
    }
    return a;
}

static const char *finish_reason(const struct prov_result *res)
{
    return res->n_tool_calls ? "tool_calls" : res->truncated ? "length" : "stop";
}

static json_t *usage_obj(const struct prov_result *res)
{
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", res->prompt_tokens, "completion_tokens",
                     res->completion_tokens, "total_tokens",
                     res->prompt_tokens + res->completion_tokens);
}

/* Records the message's usage (tokens_used settles the daily tokens held for it). */
static void charge(struct req *r, const struct completion *c, const struct prov_result *res,
                   int64_t t0)
{
    api_quota_extra(r,
                    json_pack("{s:s, s:s, s:I, s:I, s:b, s:s}", "message_id", c->id, "endpoint",
                              "/v1/chat/completions", "tokens_used",
                              (json_int_t)(res->prompt_tokens + res->completion_tokens),
                              "processing_time_ms", (json_int_t)((time_mono_ns() - t0) / 1000000),
                              "rag_enabled", 0, "model", c->model));
    int rc = api_quota_commit(r);
    if (rc)
        log_json(LOG_ERROR, "completion usage not recorded",
                 json_pack("{s:s, s:s}", "error", ragd_strerror(rc), "request_id", req_id(r)));
}

static void generation_error(struct req *r, int rc, const char *why)
{
    if (rc == RAGD_ENOTSUP) {
        invalid_request(r, NULL, "unsupported_request", "%s", why);
    } else if (rc == RAGD_ELIMIT || rc == RAGD_ETIMEOUT) {
        api_generation_busy(r);
    } else if (rc == RAGD_EINVAL) {
        http_error(r, 400, "CONTEXT_LENGTH_EXCEEDED", "%s", why);
    } else if (rc == RAGD_ENOPROVIDER) {
        http_header(r, "Retry-After", "30");
        http_error(r, 503, "FEATURE_UNAVAILABLE", "%s", router_unavailable_message("chat"));
    } else {
        http_error(r, 502, "GENERATION_FAILED", "The model failed to answer: %s", why);
    }
}

static void completion_work(struct req *r)
{
    struct completion *c = req_slot(r, SLOT_APP);
    prov_provider_t *g = prov_generator();
    int64_t t0 = time_mono_ns();
    struct prov_result res = {0};
    char err[512] = "";
    /* The prompt and the longest answer are held from the daily token allowance before
     * generating; the answer is cut to what is left of it. */
    int want = c->preq.max_tokens > 0 && c->preq.max_tokens < prov_max_tokens() ? c->preq.max_tokens
                                                                                : prov_max_tokens();
    int least = want < PROV_MIN_ANSWER_TOKENS ? want : PROV_MIN_ANSWER_TOKENS;
    int prompt = prov_count_prompt(g, c->msgs, c->n);
    if (c->preq.tools) { /* the tools' signatures and the template's words about them */
        char *t = json_dumps(c->preq.tools, JSON_COMPACT);
        prompt += prov_count_tokens(g, t, strlen(t)) + 2 * (int)json_array_size(c->preq.tools) + 80;
        free(t);
    }
    if (api_quota_tokens(r, prompt, least, want, &c->preq.max_tokens)) return;
    if (c->stream) api_quota_manual(r);
    int rc = prov_generate(g, &c->preq, c->stream ? on_piece : NULL, c, &res, err, sizeof err);
    if (!c->stream) {
        if (rc) {
            generation_error(r, rc, err);
        } else {
            charge(r, c, &res, t0);
            json_t *msg =
                json_pack("{s:s, s:s}", "role", "assistant", "content", res.text ? res.text : "");
            if (res.n_tool_calls) {
                if (!res.text || !res.text[0]) json_object_set_new(msg, "content", json_null());
                json_object_set_new(msg, "tool_calls", tool_calls_json(&res, 0));
            }
            http_json(r, 200,
                      json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s}], s:o}", "id", c->id,
                                "object", "chat.completion", "created", (json_int_t)c->created,
                                "model", c->model, "choices", "index", 0, "message", msg,
                                "finish_reason", finish_reason(&res), "usage", usage_obj(&res)));
        }
        prov_result_free(&res);
        return;
    }
    if (rc && !c->open) {
        api_quota_release(r);
        generation_error(r, rc, err);
        prov_result_free(&res);
        return;
    }
    if (rc || res.stopped || c->gone) {
        /* Failed mid-stream or the client went away: nothing is charged. */
        api_quota_release(r);
        if (rc && !c->gone)
            http_stream_event(r, json_pack("{s:{s:s, s:s, s:s}}", "error", "message", err, "type",
                                           "server_error", "code", "GENERATION_FAILED"));
    } else {
        stream_open(c);
        charge(r, c, &res, t0);
        if (res.n_tool_calls)
            http_stream_event(
                r, chunk(c, json_pack("{s:o}", "tool_calls", tool_calls_json(&res, 1)), NULL));
        http_stream_event(r, chunk(c, json_object(), finish_reason(&res)));
        if (c->include_usage)
            http_stream_event(r,
                              json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", c->id, "object",
                                        "chat.completion.chunk", "created", (json_int_t)c->created,
                                        "model", c->model, "choices", "usage", usage_obj(&res)));
        http_stream_write(r, "data: [DONE]\n\n", 14);
    }
    prov_result_free(&res);
    http_stream_end(r);
}

static void completions(struct req *r)
{
    json_t *b = req_json(r);
    const char *model = jv_str(b, "model", "");
    if (!generator_id()) {
        http_error(r, 503, "MODEL_NOT_CONFIGURED",
                   "No generation model is configured: set GENERATION_MODEL (a local .gguf "
                   "file) or OPENAI_API_BASE");
        return;
    }
    if (strcmp(model, generator_id())) {
        model_not_found(r, model);
        return;
    }
    struct completion *c = xcalloc(1, sizeof *c);
    req_set_slot(r, SLOT_APP, c, completion_free);
    if (completion_parse(r, b, c)) return;
    char uuid[37];
    uuid4(uuid);
    snprintf(c->id, sizeof c->id, "chatcmpl-%.8s%.4s%.4s%.4s%.12s", uuid, uuid + 9, uuid + 14,
             uuid + 19, uuid + 24);
    c->created = time(NULL);
    c->model = generator_id();
    c->r = r;
    http_defer(r, completion_work);
}

/* ---- embeddings ---- */

static const char *const encodings[] = {"float", "base64", NULL};

static const struct jv_field embedding_fields[] = {
    {"model", JV_STRING, 1, 1, 256, 0, NULL, "An embedding model id from GET /v1/models"},
    {"input", JV_ANY, 1, 0, 0, 0, NULL, "A string or an array of up to 2048 strings"},
    {"encoding_format", JV_STRING, 0, 0, 0, 1, encodings,
     "float (default) or base64 (little-endian float32)"},
    {"dimensions", JV_INT, 0, 1, 65536, 1, NULL, "Must equal the model's dimension"},
    {"user", JV_STRING, 0, 0, 256, 1, NULL, "The end user's id (logged)"},
    {NULL},
};
static const struct jv_schema embedding_schema = {embedding_fields, 0};

struct embedding_job {
    const char **texts; /* borrowed from the request body */
    size_t n;
    int base64;
};

static void embedding_job_free(void *p)
{
    struct embedding_job *j = p;
    free(j->texts);
    free(j);
}

static void embeddings_work(struct req *r)
{
    struct embedding_job *j = req_slot(r, SLOT_APP);
    prov_embedder_t *e = prov_embedder();
    float *vecs = xmalloc(j->n * e->dim * sizeof *vecs);
    char err[512] = "";
    int rc = prov_embed(e, j->texts, j->n, vecs, err, sizeof err);
    if (rc) {
        free(vecs);
        http_error(r, rc == RAGD_EINVAL ? 400 : 502, "EMBEDDING_FAILED", "%s", err);
        return;
    }
    json_t *data = json_array();
    char *b64 = j->base64 ? xmalloc(4 * ((e->dim * sizeof(float) + 2) / 3) + 1) : NULL;
    int tokens = 0;
    for (size_t i = 0; i < j->n; i++) {
        const float *v = vecs + i * e->dim;
        json_t *emb;
        if (j->base64) {
            b64_encode(v, e->dim * sizeof(float), b64); /* x86-64: little-endian already */
            emb = json_string(b64);
        } else {
            emb = json_array();
            for (uint32_t k = 0; k < e->dim; k++)
                json_array_append_new(emb, json_real(v[k]));
        }
        json_array_append_new(data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                                              (json_int_t)i, "embedding", emb));
        tokens += prov_embed_count_tokens(e, j->texts[i], strlen(j->texts[i]));
    }
    free(b64);
    free(vecs);
    http_json(r, 200,
              json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data, "model",
                        embedder_id(), "usage", "prompt_tokens", tokens, "total_tokens", tokens));
}

static void embeddings(struct req *r)
{
    json_t *b = req_json(r);
    const char *model = jv_str(b, "model", "");
    prov_embedder_t *e = prov_embedder();
    if (!e) {
        http_error(r, 503, "MODEL_NOT_CONFIGURED",
                   "No embedding model is configured: set EMBEDDING_MODEL (a local encoder) or "
                   "EMBEDDING_API_BASE");
        return;
    }
    if (strcmp(model, embedder_id())) {
        model_not_found(r, model);
        return;
    }
    long long dims = jv_int(b, "dimensions", e->dim);
    if (dims != (long long)e->dim) {
        api_invalid(r, "dimensions", "this model's vectors have %u dimensions", e->dim);
        return;
    }
    json_t *in = json_object_get(b, "input");
    struct embedding_job *j = xcalloc(1, sizeof *j);
    req_set_slot(r, SLOT_APP, j, embedding_job_free);
    j->base64 = !strcmp(jv_str(b, "encoding_format", "float"), "base64");
    size_t n = json_is_array(in) ? json_array_size(in) : 1;
    if ((!json_is_array(in) && !json_is_string(in)) || n == 0 || n > MAX_INPUTS) {
        api_invalid(r, "input",
                    "input must be a string or an array of 1 to %d strings "
                    "(token-id input is not supported)",
                    MAX_INPUTS);
        return;
    }
    j->texts = xcalloc(n, sizeof *j->texts);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(in) ? json_array_get(in, i) : in;
        if (!json_is_string(s) || !json_string_length(s) ||
            json_string_length(s) > MAX_INPUT_CHARS) {
            api_invalid(r, "input",
                        "input[%zu] must be a non-empty string of at most %d bytes "
                        "(token-id input is not supported)",
                        i, MAX_INPUT_CHARS);
            return;
        }
        j->texts[i] = json_string_value(s);
    }
    j->n = n;
    http_defer(r, embeddings_work);
}

const struct route openai_routes[] = {
    {"GET", "/v1/models", models_list, ACCESS_USER, "api", NULL, NULL, "openai",
     "The models this server runs (OpenAI-compatible)", 200, "{object: list, data: [model]}", 0,
     NULL, "v1_api"},
    {"GET", "/v1/models/{model}", model_get, ACCESS_USER, "api", NULL, NULL, "openai", "One model",
     200, "{id, object: model, created, owned_by}", 0, NULL, "v1_api"},
    {"POST", "/v1/chat/completions", completions, ACCESS_USER, "chat", "messages",
     &completion_schema, "openai",
     "OpenAI-compatible chat completion; stream: true answers as Server-Sent Events", 200,
     "{id, object: chat.completion, created, model, choices: [{index, message, finish_reason}],"
     " usage}",
     0, NULL, "v1_api chat"},
    {"POST", "/v1/embeddings", embeddings, ACCESS_USER, "api", "api_calls", &embedding_schema,
     "openai", "OpenAI-compatible embeddings", 200,
     "{object: list, data: [{object: embedding, index, embedding}], model, usage}", 0, NULL,
     "v1_api"},
    {NULL},
};

void openai_api_init(void)
{
    started_at = time(NULL);
}
