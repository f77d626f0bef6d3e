/* openai.c (api) - the OpenAI-compatible API: /v1/models, /v1/chat/completions,
 * /v1/completions (legacy text completions), /v1/responses (the Responses API, text only) and
 * /v1/embeddings. Completions stream as Server-Sent Events ending in "data: [DONE]"; the
 * Responses API streams its named events (response.created ... response.completed).
 *
 * Callers authenticate like every other route (bearer access token or API key) and pass the
 * same guards: the chat rate limit and the messages quota for generations (their daily tokens
 * held before generating, usage recorded with tokens_used), the api rate limit and the
 * api_calls quota for embeddings.
 *
 * Models: the generator's and the embedder's ids, MODEL_ALIASES (client names mapped to
 * ragd's: "name=local" or "name=<a model id>"), and the knowledge-grounded models ragd-rag
 * (retrieves from every document the caller may see) and ragd-rag/<organization id> (the
 * caller must be a member of it), which answer through the chat service with numbered
 * citations and a "ragd": {"sources": [...]} extension field.
 *
 * Request fields, by what ragd does with them (STRICT_OPENAI=true refuses every field the
 * chat completion schema of old did not know, with 422, as before):
 *   honoured  the schema's fields (sampling: temperature, top_p, top_k, min_p,
 *             presence_penalty, frequency_penalty, repetition_penalty, logit_bias, seed, stop,
 *             n, logprobs / top_logprobs, stream_options.include_usage / include_obfuscation;
 *             on chat completions also tools / tool_choice, rendered through the model's chat
 *             template and parsed back into tool_calls, and response_format json_object /
 *             json_schema by constrained decoding; an upstream provider receives those three
 *             as sent)
 *   ignored   fields that describe the client (metadata, store, user, service_tier,
 *             prompt_cache_key, safety_identifier, parallel_tool_calls, reasoning_effort,
 *             verbosity) and unknown fields, which the X-Ragd-Ignored-Fields header names
 *   refused   fields ragd cannot honour that change the answer's meaning (among them the
 *             legacy functions / function_call, and tools or response_format on the text
 *             completions and the Responses API): 400 with OpenAI's shape {error: {type:
 *             invalid_request_error, code: unsupported_parameter, param}}; so is a schema or
 *             tool_choice the local engine cannot honour (unsupported_request) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "billing/billing.h"
#include "chat/chat.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "llm/provider.h"
#include "llm/router.h"

enum {
    MAX_MESSAGES = 256,
    MAX_STOP = 4,
    MAX_INPUTS = 2048,
    MAX_INPUT_CHARS = 65536,
    MAX_CHOICES = 8,
    MAX_PROMPTS = 16,
    MAX_BIAS = 300,
    MAX_ALIASES = 64,
    MODEL_NAME_MAX = 256
};

static time_t started_at;

/* ---- configuration: STRICT_OPENAI, MODEL_ALIASES ---- */

static int strict_openai;

struct alias {
    char name[MODEL_NAME_MAX + 1], target[MODEL_NAME_MAX + 1];
};
static struct alias aliases[MAX_ALIASES];
static size_t n_aliases;

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* Parses "name=target,name=target" into aliases; 0, or RAGD_EINVAL with the reason in err. */
static int aliases_parse(const char *spec, char *err, size_t errcap)
{
    n_aliases = 0;
    const char *p = spec;
    while (p && *p) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *ns = p, *ne = eq ? eq : end, *ts = eq ? eq + 1 : end, *te = end;
        trim(&ns, &ne);
        trim(&ts, &te);
        if (!eq || ne == ns || te == ts || memchr(ts, '=', (size_t)(te - ts)))
            return ragd_errf(err, errcap, RAGD_EINVAL,
                             "MODEL_ALIASES: '%.*s' is not name=target (a comma list such as "
                             "gpt-4o-mini=local,text-embedding-3-small=local)",
                             (int)(end - p > 80 ? 80 : end - p), p);
        if (ne - ns > MODEL_NAME_MAX || te - ts > MODEL_NAME_MAX)
            return ragd_errf(err, errcap, RAGD_EINVAL,
                             "MODEL_ALIASES: names are at most %d characters", MODEL_NAME_MAX);
        if (n_aliases == MAX_ALIASES)
            return ragd_errf(err, errcap, RAGD_EINVAL, "MODEL_ALIASES: at most %d aliases",
                             MAX_ALIASES);
        struct alias *a = &aliases[n_aliases];
        snprintf(a->name, sizeof a->name, "%.*s", (int)(ne - ns), ns);
        snprintf(a->target, sizeof a->target, "%.*s", (int)(te - ts), ts);
        if (!strcmp(a->name, "local") || !strncmp(a->name, "ragd-rag", 8))
            return ragd_errf(err, errcap, RAGD_EINVAL,
                             "MODEL_ALIASES: '%s' is one of ragd's own model names", a->name);
        for (size_t i = 0; i < n_aliases; i++)
            if (!strcmp(aliases[i].name, a->name))
                return ragd_errf(err, errcap, RAGD_EINVAL, "MODEL_ALIASES: '%s' is given twice",
                                 a->name);
        n_aliases++;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static const char *alias_target(const char *name)
{
    for (size_t i = 0; i < n_aliases; i++)
        if (!strcmp(aliases[i].name, name)) return aliases[i].target;
    return NULL;
}

int openai_api_init(char *err, size_t errcap)
{
    started_at = time(NULL);
    strict_openai = config_bool("STRICT_OPENAI", 0);
    return aliases_parse(config_str("MODEL_ALIASES", ""), err, errcap);
}

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

static const char RAG_MODEL[] = "ragd-rag";

/* The org id of "ragd-rag/<org>", or NULL when name is not of that form. */
static const char *rag_org(const char *name)
{
    size_t n = sizeof RAG_MODEL - 1;
    return !strncmp(name, RAG_MODEL, n) && name[n] == '/' && name[n + 1] ? name + n + 1 : NULL;
}

/* Whether the caller may use ragd-rag/<org>: it is their organization. */
static int org_model_allowed(const struct req *r, const char *org)
{
    const struct user *u = api_user((struct req *)r);
    return u && u->organization_id[0] && !strcmp(u->organization_id, org);
}

/* What an id from GET /v1/models stands for: "chat", "embedding", "rag", or NULL. */
static const char *model_kind(struct req *r, const char *id)
{
    const char *t = alias_target(id);
    if (t) {
        if (!strcmp(t, "local")) return generator_id() || embedder_id() ? "alias" : NULL;
        return model_kind(r, t) ? "alias" : NULL; /* targets are never aliases themselves */
    }
    if (generator_id() && !strcmp(id, generator_id())) return "chat";
    if (embedder_id() && !strcmp(id, embedder_id())) return "embedding";
    if (!strcmp(id, RAG_MODEL)) return "rag";
    if (rag_org(id) && org_model_allowed(r, rag_org(id))) return "rag";
    return NULL;
}

static void models_list(struct req *r)
{
    json_t *data = json_array();
    if (generator_id()) json_array_append_new(data, model_obj(generator_id(), "chat"));
    if (embedder_id()) json_array_append_new(data, model_obj(embedder_id(), "embedding"));
    /* the knowledge-grounded models: listed where models are (a server without any lists
     * none, though its extractive answerer would serve them) */
    int any = generator_id() || embedder_id();
    if (any) json_array_append_new(data, model_obj(RAG_MODEL, "rag"));
    const struct user *u = api_user(r);
    if (any && u->organization_id[0]) {
        char id[sizeof RAG_MODEL + 40];
        snprintf(id, sizeof id, "%s/%s", RAG_MODEL, u->organization_id);
        json_array_append_new(data, model_obj(id, "rag"));
    }
    for (size_t i = 0; i < n_aliases; i++) {
        if (!model_kind(r, aliases[i].name)) continue; /* its target is not running */
        json_t *m = model_obj(aliases[i].name, "alias");
        json_object_set_new(m, "alias_of", json_string(aliases[i].target));
        json_array_append_new(data, m);
    }
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
    const char *kind = model_kind(r, id);
    if (!kind) {
        model_not_found(r, id);
        return;
    }
    json_t *m = model_obj(id, kind);
    if (alias_target(id)) json_object_set_new(m, "alias_of", json_string(alias_target(id)));
    http_json(r, 200, m);
}

/* GET /v1/models/ragd-rag/{org}: the organization's model, for its members. */
static void org_model_get(struct req *r)
{
    char id[sizeof RAG_MODEL + 64];
    snprintf(id, sizeof id, "%s/%.60s", RAG_MODEL, req_param(r, "org"));
    if (!model_kind(r, id)) {
        model_not_found(r, id);
        return;
    }
    http_json(r, 200, model_obj(id, "rag"));
}

static void no_generator(struct req *r)
{
    http_error(r, 503, "MODEL_NOT_CONFIGURED",
               "No generation model is configured: set GENERATION_MODEL (a local .gguf "
               "file) or OPENAI_API_BASE");
}

/* Resolves the model a generation asks for (aliases, then ragd's ids): *rag and *org for the
 * knowledge-grounded models. Returns 0, or answers (404 / 503) and returns -1. */
static int resolve_generator(struct req *r, const char *asked, int *rag, const char **org)
{
    const char *name = alias_target(asked) ? alias_target(asked) : asked;
    *rag = 0;
    *org = NULL;
    if (!strcmp(name, RAG_MODEL)) {
        *rag = 1;
        return 0;
    }
    if (rag_org(name)) {
        if (!org_model_allowed(r, rag_org(name))) {
            model_not_found(r, asked);
            return -1;
        }
        *rag = 1;
        *org = rag_org(name);
        return 0;
    }
    if (!generator_id()) {
        no_generator(r);
        return -1;
    }
    if (strcmp(name, "local") && strcmp(name, generator_id())) {
        model_not_found(r, asked);
        return -1;
    }
    return 0;
}

/* ---- request fields: honoured, ignored, refused ---- */

/* Fields that only describe the client or its account with OpenAI. */
/* clang-format off */
#define IGNORED_FIELDS(desc)                                  \
    {"metadata", JV_ANY, 0, 0, 0, 1, NULL, desc},             \
    {"store", JV_ANY, 0, 0, 0, 1, NULL, desc},                \
    {"user", JV_ANY, 0, 0, 0, 1, NULL, desc},                 \
    {"service_tier", JV_ANY, 0, 0, 0, 1, NULL, desc},         \
    {"prompt_cache_key", JV_ANY, 0, 0, 0, 1, NULL, desc},     \
    {"safety_identifier", JV_ANY, 0, 0, 0, 1, NULL, desc},    \
    {"parallel_tool_calls", JV_ANY, 0, 0, 0, 1, NULL, desc},  \
    {"reasoning_effort", JV_ANY, 0, 0, 0, 1, NULL, desc},     \
    {"verbosity", JV_ANY, 0, 0, 0, 1, NULL, desc}
/* clang-format on */

#define IGNORED "Accepted and ignored: it describes the client, not the answer"

/* Fields that would change what the answer means and that ragd cannot honour. */
static const char *const refused_fields[] = {
    "audio",        "prediction", "web_search_options", "previous_response_id", "background",
    "conversation", "prompt",     "functions",          "function_call",        NULL};
/* Tool calling and structured output: honoured on chat completions (their schema has them),
 * refused like the fields above where an endpoint's schema does not. */
static const char *const chat_only_fields[] = {"tools", "tool_choice", "response_format", NULL};

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], s)) return 1;
    return 0;
}

static int in_schema(const struct jv_schema *s, const char *name)
{
    for (const struct jv_field *f = s->fields; f->name; f++)
        if (!strcmp(f->name, name)) return 1;
    return 0;
}

/* Answers 400 in OpenAI's shape for a field (or value) ragd cannot honour; param may be NULL
 * (the request as a whole). */
static void unsupported(struct req *r, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void unsupported(struct req *r, const char *code, const char *param, const char *fmt, ...)
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

/* Sorts the body's fields (the route's schema, lax, has already checked the known ones):
 * with STRICT_OPENAI, strict (NULL: lax without unknown fields) decides alone as before;
 * otherwise refused fields (and tools / tool_choice / response_format where lax lacks them)
 * get 400, and unknown ones are named in X-Ragd-Ignored-Fields. Returns 0, or -1 after
 * answering. */
static int sort_fields(struct req *r, json_t *b, const struct jv_schema *lax,
                       const struct jv_schema *strict)
{
    const char *key, *field;
    json_t *v;
    char err[512];
    if (strict_openai) {
        struct jv_schema closed = {lax->fields, 0};
        if (jv_validate(b, strict ? strict : &closed, &field, err, sizeof err)) {
            api_invalid(r, field, "%s", err);
            return -1;
        }
        return 0;
    }
    struct sbuf ignored;
    sb_init(&ignored);
    json_object_foreach(b, key, v)
    {
        if (in_schema(lax, key)) continue;
        if (in_list(chat_only_fields, key) && !json_is_null(v)) {
            unsupported(r, "unsupported_parameter", key,
                        "'%s' is supported on /v1/chat/completions only", key);
            sb_free(&ignored);
            return -1;
        }
        if (in_list(refused_fields, key) && !json_is_null(v) && !json_is_false(v)) {
            unsupported(r, "unsupported_parameter", key,
                        "'%s' is not supported by this server: it would change the answer "
                        "in a way ragd cannot honour",
                        key);
            sb_free(&ignored);
            return -1;
        }
        if (!in_list(refused_fields, key) && ignored.len < 1024) {
            /* the client's own text in a header: only name characters pass, and the header
             * stays short whatever the body holds */
            if (ignored.len) sb_adds(&ignored, ", ");
            for (size_t i = 0; key[i] && i < 64; i++) {
                char c = key[i];
                int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                sb_add(&ignored, ok ? &c : "?", 1);
            }
        }
    }
    json_t *mod = json_object_get(b, "modalities");
    if (json_is_array(mod)) {
        size_t i;
        json_array_foreach(mod, i, v)
        {
            if (!json_is_string(v) || strcmp(json_string_value(v), "text")) {
                unsupported(r, "unsupported_value", "modalities",
                            "modalities may only hold \"text\": ragd generates text");
                sb_free(&ignored);
                return -1;
            }
        }
    }
    if (ignored.len) http_header(r, "X-Ragd-Ignored-Fields", ignored.s);
    sb_free(&ignored);
    return 0;
}

/* ---- the generation job shared by the three endpoints ---- */

enum endpoint { EP_CHAT, EP_COMPLETIONS, EP_RESPONSES };

struct job {
    enum endpoint ep;
    struct req *r;
    struct prov_message msgs[MAX_MESSAGES + 1]; /* + the responses' instructions */
    size_t n_msgs;
    char *texts[MAX_MESSAGES + 1]; /* message contents made here, owned */
    size_t n_texts;
    const char *prompts[MAX_PROMPTS]; /* /v1/completions: each is a conversation of its own */
    size_t n_prompts;
    int n; /* choices per prompt */
    const char *stop[MAX_STOP];
    size_t n_stop;
    struct prov_bias bias[MAX_BIAS];
    json_t *passthrough; /* owned */
    struct prov_request preq;
    int stream, include_usage, obfuscate;
    int rag;
    const char *org; /* ragd-rag/<org>: the organization (in the body) */
    char model[MODEL_NAME_MAX + 1];
    char id[64], item_id[64];
    time_t created;
    /* while streaming */
    int open, gone, choice, seq;
    unsigned role_sent; /* chat: choices whose first chunk (the role) went out */
    struct sbuf text;   /* the responses' text so far */
};

static json_t *nonnull(json_t *v)
{
    return json_is_null(v) ? NULL : v;
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
            unsupported(r, "invalid_value", "tools",
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
        unsupported(r, "invalid_value", "tool_choice",
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
        unsupported(r, "invalid_value", "response_format",
                    "response_format must be {type: text | json_object} or {type: "
                    "json_schema, json_schema: {name, schema: object, strict}}");
        return -1;
    }
    return 0;
}

static void job_free(void *p)
{
    struct job *j = p;
    for (size_t i = 0; i < j->n_texts; i++)
        free(j->texts[i]);
    json_decref(j->passthrough);
    sb_free(&j->text);
    free(j);
}

static struct job *job_new(struct req *r, enum endpoint ep, const char *prefix)
{
    struct job *j = xcalloc(1, sizeof *j);
    req_set_slot(r, SLOT_APP, j, job_free);
    j->ep = ep;
    j->r = r;
    j->n = 1;
    sb_init(&j->text);
    char uuid[37];
    uuid4(uuid);
    snprintf(j->id, sizeof j->id, "%s%.8s%.4s%.4s%.4s%.12s", prefix, uuid, uuid + 9, uuid + 14,
             uuid + 19, uuid + 24);
    uuid4(uuid);
    snprintf(j->item_id, sizeof j->item_id, "msg_%.8s%.4s%.4s%.4s%.12s", uuid, uuid + 9, uuid + 14,
             uuid + 19, uuid + 24);
    j->created = time(NULL);
    return j;
}

static char *keep(struct job *j, char *s)
{
    RAGD_ASSERT(j->n_texts < sizeof j->texts / sizeof *j->texts);
    j->texts[j->n_texts++] = s;
    return s;
}

static void add_message(struct job *j, const char *role, const char *content)
{
    RAGD_ASSERT(j->n_msgs < sizeof j->msgs / sizeof *j->msgs);
    j->msgs[j->n_msgs++] = (struct prov_message){role, content, NULL, NULL};
}

/* A message's content: a string, or an array of text parts (part_types: the accepted type
 * names) joined. Returns a new string, or NULL after answering 422. */
static char *content_text(struct req *r, json_t *content, const char *field, size_t i,
                          const char *const *part_types)
{
    if (json_is_string(content)) return xstrdup(json_string_value(content));
    if (!json_is_array(content) || !json_array_size(content)) {
        api_invalid(r, field,
                    "%s[%zu].content must be a string or an array of "
                    "text parts",
                    field, i);
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
        if (!type || !in_list(part_types, type) || !json_is_string(text)) {
            api_invalid(r, field,
                        "%s[%zu].content[%zu] must be {type: \"%s\", text: string}; other "
                        "part types are not supported",
                        field, i, k, part_types[0]);
            sb_free(&b);
            return NULL;
        }
        sb_adds(&b, json_string_value(text));
    }
    char *s = xstrdup(b.s ? b.s : "");
    sb_free(&b);
    return s;
}

/* Checks an assistant turn's tool_calls: [{id, type: function, function: {name, arguments:
 * JSON text}}]. Returns 0, or -1 after answering 422 naming the message (i) and the call. */
static int check_tool_calls(struct req *r, json_t *calls, size_t i)
{
    if (!json_is_array(calls) || !json_array_size(calls)) {
        api_invalid(r, "messages",
                    "messages[%zu].tool_calls must be a non-empty array of {id, type: function, "
                    "function: {name, arguments: JSON text}}",
                    i);
        return -1;
    }
    size_t k;
    json_t *c;
    json_array_foreach(calls, k, c)
    {
        json_t *fn = json_object_get(c, "function");
        if (!json_is_object(c) || !json_is_object(fn) ||
            !json_is_string(json_object_get(fn, "name")) ||
            !json_is_string(json_object_get(fn, "arguments"))) {
            api_invalid(r, "messages",
                        "messages[%zu].tool_calls[%zu] must be {id, type: function, function: "
                        "{name, arguments: JSON text}}",
                        i, k);
            return -1;
        }
    }
    return 0;
}

static const char *const chat_roles[] = {"system", "developer", "user", "assistant", "tool", NULL};
static const char *const chat_parts[] = {"text", NULL};

/* The chat messages as SDKs build them. Returns 0, or -1 after answering 422. */
static int chat_messages(struct req *r, json_t *list, struct job *j)
{
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role || !in_list(chat_roles, role)) {
            api_invalid(r, "messages",
                        "messages[%zu] must be an object whose role is system, "
                        "developer, user, assistant or tool",
                        i);
            return -1;
        }
        int assistant = !strcmp(role, "assistant"), tool = !strcmp(role, "tool");
        const char *key;
        json_t *v;
        json_object_foreach(m, key, v)
        {
            int ok = !strcmp(key, "role") || !strcmp(key, "content") || !strcmp(key, "name") ||
                     (assistant && (!strcmp(key, "tool_calls") || !strcmp(key, "refusal") ||
                                    !strcmp(key, "function_call") || !strcmp(key, "audio"))) ||
                     (tool && !strcmp(key, "tool_call_id"));
            if (!ok) {
                api_invalid(r, "messages", "messages[%zu].%s is not supported", i, key);
                return -1;
            }
        }
        json_t *calls = json_object_get(m, "tool_calls");
        if (assistant && calls && !json_is_null(calls) && check_tool_calls(r, calls, i)) return -1;
        const char *call_id = json_string_value(json_object_get(m, "tool_call_id"));
        if (tool && !call_id) {
            api_invalid(r, "messages", "messages[%zu].tool_call_id (a string) is required", i);
            return -1;
        }
        json_t *content = json_object_get(m, "content");
        char *text;
        if (assistant && (!content || json_is_null(content))) {
            /* content: null with tool_calls, or a refusal */
            const char *refusal = json_string_value(json_object_get(m, "refusal"));
            if (!refusal && !json_is_array(calls)) {
                api_invalid(r, "messages",
                            "messages[%zu] (assistant) needs content, tool_calls or refusal", i);
                return -1;
            }
            text = xstrdup(refusal ? refusal : "");
        } else if (!(text = content_text(r, content, "messages", i, chat_parts))) {
            return -1;
        }
        add_message(j, !strcmp(role, "developer") ? "system" : role, keep(j, text));
        j->msgs[j->n_msgs - 1].tool_calls = json_is_array(calls) ? calls : NULL;
        j->msgs[j->n_msgs - 1].tool_call_id = call_id;
    }
    return 0;
}

/* stop: a string or up to 4 non-empty strings. Returns 0, or -1 after answering 422. */
static int parse_stop(struct req *r, json_t *b, struct job *j)
{
    json_t *stop = json_object_get(b, "stop");
    if (!stop || json_is_null(stop)) return 0;
    if (json_is_string(stop)) {
        j->stop[j->n_stop++] = json_string_value(stop);
        return 0;
    }
    if (json_is_array(stop) && json_array_size(stop) <= MAX_STOP) {
        size_t i;
        json_t *s;
        int ok = 1;
        json_array_foreach(stop, i, s)
        {
            if (!json_is_string(s) || !json_string_length(s))
                ok = 0;
            else
                j->stop[j->n_stop++] = json_string_value(s);
        }
        if (ok) return 0;
    }
    j->n_stop = 0;
    api_invalid(r, "stop", "stop must be a string or an array of up to 4 non-empty strings");
    return -1;
}

/* The sampling fields of every endpoint into j->preq. Returns 0, or -1 after answering. */
static int parse_sampling(struct req *r, json_t *b, struct job *j, const char *max_field)
{
    if (parse_stop(r, b, j)) return -1;
    json_t *bias = json_object_get(b, "logit_bias");
    size_t nb = 0;
    if (json_is_object(bias)) {
        const char *key;
        json_t *v;
        json_object_foreach(bias, key, v)
        {
            char *end;
            long id = strtol(key, &end, 10);
            if (!*key || *end || id < 0 || id > INT32_MAX || !json_is_number(v) ||
                json_number_value(v) < -100 || json_number_value(v) > 100 || nb == MAX_BIAS) {
                api_invalid(r, "logit_bias",
                            "logit_bias maps token ids (strings of digits) to numbers from -100 "
                            "to 100, at most %d of them",
                            MAX_BIAS);
                return -1;
            }
            j->bias[nb++] = (struct prov_bias){(int32_t)id, (float)json_number_value(v)};
        }
    }
    /* the fields an upstream receives as the client sent them */
    static const char *const pass[] = {"presence_penalty",
                                       "frequency_penalty",
                                       "repetition_penalty",
                                       "logit_bias",
                                       "top_k",
                                       "min_p",
                                       NULL};
    j->passthrough = json_object();
    for (size_t i = 0; pass[i]; i++) {
        json_t *v = json_object_get(b, pass[i]);
        if (v && !json_is_null(v)) json_object_set(j->passthrough, pass[i], v);
    }
    long long top_k = jv_int(b, "top_k", -1);
    j->preq = (struct prov_request){
        .task = PROV_TASK_ANSWER,
        .max_tokens = (int)jv_int(b, max_field, 0),
        .temperature = jv_num(b, "temperature", -1),
        .top_p = jv_num(b, "top_p", 0),
        .seed = (uint64_t)jv_int(b, "seed", 0),
        .has_seed = json_is_integer(json_object_get(b, "seed")),
        .stop = j->n_stop ? j->stop : NULL,
        .n_stop = j->n_stop,
        .presence_penalty = jv_num(b, "presence_penalty", 0),
        .frequency_penalty = jv_num(b, "frequency_penalty", 0),
        .repetition_penalty = jv_num(b, "repetition_penalty", 0),
        .top_k = top_k < 0    ? 0
                 : top_k == 0 ? PROV_TOP_K_OFF
                              : (int)top_k,
        .min_p = jv_num(b, "min_p", 0),
        .logit_bias = nb ? j->bias : NULL,
        .n_logit_bias = nb,
        .passthrough = j->passthrough,
        .user_id = api_user(r)->id,
    };
    return 0;
}

/* stream_options: include_usage and include_obfuscation. 0, or -1 after answering 422. */
static int parse_stream_options(struct req *r, json_t *b, struct job *j)
{
    json_t *so = json_object_get(b, "stream_options");
    if (!json_is_object(so)) return 0;
    const char *key;
    json_t *v;
    json_object_foreach(so, key, v)
    {
        int usage = !strcmp(key, "include_usage"), obf = !strcmp(key, "include_obfuscation");
        if ((!usage && !obf) || !json_is_boolean(v)) {
            api_invalid(r, "stream_options",
                        "stream_options may only hold include_usage (bool) and "
                        "include_obfuscation (bool)");
            return -1;
        }
        if (usage) j->include_usage = json_is_true(v);
        if (obf) j->obfuscate = json_is_true(v);
    }
    return 0;
}

/* ---- rendering ---- */

/* One choice's result. Strings, logprobs and tool calls borrowed. */
struct outcome {
    const char *text;
    int truncated;
    json_t *logprobs; /* OpenAI's logprobs.content array, or NULL */
    const struct prov_tool_call *tool_calls;
    size_t n_tool_calls;
};

static json_t *usage_obj(const struct job *j, int prompt, int completion)
{
    if (j->ep == EP_RESPONSES)
        return json_pack("{s:i, s:{s:i}, s:i, s:{s:i}, s:i}", "input_tokens", prompt,
                         "input_tokens_details", "cached_tokens", 0, "output_tokens", completion,
                         "output_tokens_details", "reasoning_tokens", 0, "total_tokens",
                         prompt + completion);
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", prompt, "completion_tokens", completion,
                     "total_tokens", prompt + completion);
}

/* The chat logprobs object, or null when not asked for. */
static json_t *chat_logprobs(const struct job *j, json_t *content)
{
    if (!j->preq.logprobs) return json_null();
    return json_pack("{s:O, s:n}", "content", content ? content : json_array(), "refusal");
}

/* The legacy completions' logprobs: {tokens, token_logprobs, top_logprobs, text_offset}. */
static json_t *text_logprobs(const struct job *j, json_t *content)
{
    if (!j->preq.logprobs) return json_null();
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    size_t i, k, off = 0;
    json_t *e, *t;
    json_array_foreach(content, i, e)
    {
        const char *tok = json_string_value(json_object_get(e, "token"));
        json_array_append_new(tokens, json_string(tok ? tok : ""));
        json_array_append(lps, json_object_get(e, "logprob"));
        json_t *top = json_object();
        json_array_foreach(json_object_get(e, "top_logprobs"), k, t) json_object_set(
            top, json_string_value(json_object_get(t, "token")), json_object_get(t, "logprob"));
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)off));
        off += tok ? strlen(tok) : 0;
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps,
                     "top_logprobs", tops, "text_offset", offs);
}

static const char *finish_reason(const struct outcome *o)
{
    return o->n_tool_calls ? "tool_calls" : o->truncated ? "length" : "stop";
}

/* A choice's tool calls as OpenAI lists them; in a stream each carries its index. */
static json_t *tool_calls_json(const struct outcome *o, int indexed)
{
    json_t *a = json_array();
    for (size_t i = 0; i < o->n_tool_calls; i++) {
        const struct prov_tool_call *t = &o->tool_calls[i];
        json_t *c = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", t->id, "type", "function",
                              "function", "name", t->name, "arguments", t->arguments);
        if (indexed) json_object_set_new(c, "index", json_integer((json_int_t)i));
        json_array_append_new(a, c);
    }
    return a;
}

/* A chat choice's message: with tool calls, content is null when there is no text. */
static json_t *chat_message(const struct outcome *o)
{
    json_t *m = json_pack("{s:s, s:s}", "role", "assistant", "content", o->text);
    if (o->n_tool_calls) {
        if (!o->text[0]) json_object_set_new(m, "content", json_null());
        json_object_set_new(m, "tool_calls", tool_calls_json(o, 0));
    }
    return m;
}

static json_t *sources_json(const struct chat_reply *a)
{
    json_t *out = json_array();
    for (size_t i = 0; i < a->nsources; i++) {
        const struct chat_source *s = &a->sources[i];
        json_array_append_new(out, json_pack("{s:i, s:s, s:I, s:s, s:s, s:f, s:s}", "index",
                                             (int)i + 1, "document_id", s->document_id, "chunk_id",
                                             (json_int_t)s->chunk_id, "title", s->title, "excerpt",
                                             s->excerpt, "relevance_score", s->relevance_score,
                                             "source_type", s->source_type));
    }
    return out;
}

/* The Responses API's message item. */
static json_t *response_item(const struct job *j, const char *status, const char *text)
{
    json_t *content = json_array();
    if (text)
        json_array_append_new(content, json_pack("{s:s, s:s, s:[]}", "type", "output_text", "text",
                                                 text, "annotations"));
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", j->item_id, "type", "message", "status",
                     status, "role", "assistant", "content", content);
}

/* The Responses API's response object; text NULL while in progress. */
static json_t *response_obj(const struct job *j, const char *status, const char *text,
                            int truncated, int prompt, int completion)
{
    json_t *b = req_json(j->r);
    json_t *output = json_array();
    if (text) json_array_append_new(output, response_item(j, "completed", text));
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:s, s:n, s:o, s:O?, s:o, s:s, s:o, s:b, s:f, s:f, s:s, s:[], "
        "s:{s:{s:s}}, "
        "s:s, s:O?}",
        "id", j->id, "object", "response", "created_at", (json_int_t)j->created, "status", status,
        "error", "incomplete_details",
        truncated ? json_pack("{s:s}", "reason", "max_output_tokens") : json_null(), "instructions",
        json_object_get(b, "instructions"), "max_output_tokens",
        json_object_get(b, "max_output_tokens") ? json_integer(j->preq.max_tokens) : json_null(),
        "model", j->model, "output", output, "parallel_tool_calls", 1, "temperature",
        j->preq.temperature >= 0 ? j->preq.temperature : 1.0, "top_p",
        j->preq.top_p > 0 ? j->preq.top_p : 1.0, "tool_choice", "auto", "tools", "text", "format",
        "type", "text", "truncation", "disabled", "metadata", json_object_get(b, "metadata"));
    json_object_set_new(o, "usage", text ? usage_obj(j, prompt, completion) : json_null());
    if (!json_object_get(o, "metadata")) json_object_set_new(o, "metadata", json_object());
    return o;
}

/* The whole answer (not streamed). sources: stolen, may be NULL. */
static json_t *render(struct job *j, const struct outcome *o, size_t n, int prompt, int completion,
                      json_t *sources)
{
    json_t *out;
    if (j->ep == EP_RESPONSES) {
        out = response_obj(j, o[0].truncated ? "incomplete" : "completed", o[0].text,
                           o[0].truncated, prompt, completion);
    } else {
        json_t *choices = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *c =
                j->ep == EP_CHAT
                    ? json_pack("{s:i, s:o, s:o, s:s}", "index", (int)i, "message",
                                chat_message(&o[i]), "logprobs", chat_logprobs(j, o[i].logprobs),
                                "finish_reason", finish_reason(&o[i]))
                    : json_pack("{s:s, s:i, s:o, s:s}", "text", o[i].text, "index", (int)i,
                                "logprobs", text_logprobs(j, o[i].logprobs), "finish_reason",
                                finish_reason(&o[i]));
            json_array_append_new(choices, c);
        }
        out = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o}", "id", j->id, "object",
                        j->ep == EP_CHAT ? "chat.completion" : "text_completion", "created",
                        (json_int_t)j->created, "model", j->model, "choices", choices, "usage",
                        usage_obj(j, prompt, completion));
    }
    if (sources) json_object_set_new(out, "ragd", json_pack("{s:o}", "sources", sources));
    return out;
}

/* ---- streaming ---- */

/* stream_options.include_obfuscation: random padding on each delta, so that the length of
 * the encrypted events does not give away the length of the text. */
static void obfuscate(const struct job *j, json_t *chunk)
{
    if (!j->obfuscate) return;
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[17];
    rand_bytes(rnd, sizeof rnd);
    char pad[17];
    size_t n = 1 + rnd[0] % 16;
    for (size_t i = 0; i < n; i++)
        pad[i] = abc[rnd[i + 1] % (sizeof abc - 1)];
    pad[n] = 0;
    json_object_set_new(chunk, "obfuscation", json_string(pad));
}

static json_t *chat_chunk(const struct job *j, int index, json_t *delta, const char *finish,
                          json_t *logprobs)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:o, s:s?}]}", "id", j->id, "object",
                          "chat.completion.chunk", "created", (json_int_t)j->created, "model",
                          j->model, "choices", "index", index, "delta", delta, "logprobs",
                          logprobs ? logprobs : json_null(), "finish_reason", finish);
    obfuscate(j, c);
    return c;
}

static json_t *text_chunk(const struct job *j, int index, const char *text, size_t len,
                          const char *finish, json_t *logprobs)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:s%, s:i, s:o, s:s?}]}", "id", j->id, "object",
                          "text_completion", "created", (json_int_t)j->created, "model", j->model,
                          "choices", "text", text, len, "index", index, "logprobs",
                          logprobs ? logprobs : json_null(), "finish_reason", finish);
    obfuscate(j, c);
    return c;
}

static void send_event(struct job *j, json_t *ev)
{
    if (j->gone)
        json_decref(ev);
    else if (http_stream_event(j->r, ev)) /* takes ev */
        j->gone = 1;
}

/* A Responses API event: "event: type" and its data with type and sequence_number. */
static void send_named(struct job *j, const char *type, json_t *ev)
{
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "sequence_number", json_integer(j->seq++));
    char *s = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(ev);
    struct sbuf b;
    sb_init(&b);
    sb_printf(&b, "event: %s\ndata: %s\n\n", type, s ? s : "{}");
    free(s);
    if (!j->gone && http_stream_write(j->r, b.s, b.len)) j->gone = 1;
    sb_free(&b);
}

static json_t *text_part(const char *text)
{
    return json_pack("{s:s, s:s, s:[]}", "type", "output_text", "text", text, "annotations");
}

/* The 200 goes out with the first piece of the answer, so that a request the generator
 * refuses still gets a plain HTTP error. */
static void stream_open(struct job *j)
{
    if (j->open) return;
    j->open = 1;
    http_stream_begin(j->r, "text/event-stream");
    if (j->ep != EP_RESPONSES) return;
    send_named(j, "response.created",
               json_pack("{s:o}", "response", response_obj(j, "in_progress", NULL, 0, 0, 0)));
    send_named(j, "response.in_progress",
               json_pack("{s:o}", "response", response_obj(j, "in_progress", NULL, 0, 0, 0)));
    send_named(
        j, "response.output_item.added",
        json_pack("{s:i, s:o}", "output_index", 0, "item", response_item(j, "in_progress", NULL)));
    send_named(j, "response.content_part.added",
               json_pack("{s:s, s:i, s:i, s:o}", "item_id", j->item_id, "output_index", 0,
                         "content_index", 0, "part", text_part("")));
}

/* Chat: the first chunk of a choice carries the role. */
static void choice_open(struct job *j, int index)
{
    stream_open(j);
    if (j->ep != EP_CHAT || (j->role_sent & (1u << index))) return;
    j->role_sent |= 1u << index;
    send_event(j, chat_chunk(j, index, json_pack("{s:s, s:s}", "role", "assistant", "content", ""),
                             NULL, NULL));
}

static int on_piece(void *ud, const char *text, size_t len)
{
    struct job *j = ud;
    if (j->gone) return -1;
    choice_open(j, j->choice);
    if (j->ep == EP_CHAT) {
        send_event(j,
                   chat_chunk(j, j->choice, json_pack("{s:s%}", "content", text, len), NULL, NULL));
    } else if (j->ep == EP_COMPLETIONS) {
        send_event(j, text_chunk(j, j->choice, text, len, NULL, NULL));
    } else {
        sb_add(&j->text, text, len);
        json_t *ev = json_pack("{s:s, s:i, s:i, s:s%, s:[]}", "item_id", j->item_id, "output_index",
                               0, "content_index", 0, "delta", text, len, "logprobs");
        obfuscate(j, ev);
        send_named(j, "response.output_text.delta", ev);
    }
    return j->gone ? -1 : 0;
}

/* The end of a complete streamed answer. sources: stolen, may be NULL. */
static void stream_finish(struct job *j, const struct outcome *o, size_t n, int prompt,
                          int completion, json_t *sources)
{
    stream_open(j);
    if (j->ep == EP_RESPONSES) {
        const char *text = j->text.s ? j->text.s : "";
        send_named(j, "response.output_text.done",
                   json_pack("{s:s, s:i, s:i, s:s, s:[]}", "item_id", j->item_id, "output_index", 0,
                             "content_index", 0, "text", text, "logprobs"));
        send_named(j, "response.content_part.done",
                   json_pack("{s:s, s:i, s:i, s:o}", "item_id", j->item_id, "output_index", 0,
                             "content_index", 0, "part", text_part(text)));
        send_named(j, "response.output_item.done",
                   json_pack("{s:i, s:o}", "output_index", 0, "item",
                             response_item(j, "completed", text)));
        json_t *resp = response_obj(j, o[0].truncated ? "incomplete" : "completed", text,
                                    o[0].truncated, prompt, completion);
        if (sources) json_object_set_new(resp, "ragd", json_pack("{s:o}", "sources", sources));
        send_named(j, o[0].truncated ? "response.incomplete" : "response.completed",
                   json_pack("{s:o}", "response", resp));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c;
        if (j->ep == EP_CHAT) {
            choice_open(j, (int)i);
            if (o[i].n_tool_calls) /* the calls come whole, with their index, before the end */
                send_event(j,
                           chat_chunk(j, (int)i,
                                      json_pack("{s:o}", "tool_calls", tool_calls_json(&o[i], 1)),
                                      NULL, NULL));
            c = chat_chunk(j, (int)i, json_object(), finish_reason(&o[i]),
                           j->preq.logprobs ? chat_logprobs(j, o[i].logprobs) : NULL);
        } else {
            c = text_chunk(j, (int)i, "", 0, finish_reason(&o[i]),
                           j->preq.logprobs ? text_logprobs(j, o[i].logprobs) : NULL);
        }
        if (sources && i + 1 == n) {
            json_object_set_new(c, "ragd", json_pack("{s:o}", "sources", sources));
            sources = NULL;
        }
        send_event(j, c);
    }
    json_decref(sources);
    if (j->include_usage) {
        json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", j->id, "object",
                              j->ep == EP_CHAT ? "chat.completion.chunk" : "text_completion",
                              "created", (json_int_t)j->created, "model", j->model, "choices",
                              "usage", usage_obj(j, prompt, completion));
        obfuscate(j, c);
        send_event(j, c);
    }
    if (!j->gone) http_stream_write(j->r, "data: [DONE]\n\n", 14);
}

/* A generation that failed after the stream began. */
static void stream_fail(struct job *j, const char *err)
{
    if (j->ep == EP_RESPONSES)
        send_named(
            j, "error",
            json_pack("{s:s, s:s, s:n}", "code", "GENERATION_FAILED", "message", err, "param"));
    else
        send_event(j, json_pack("{s:{s:s, s:s, s:s}}", "error", "message", err, "type",
                                "server_error", "code", "GENERATION_FAILED"));
}

/* ---- generation ---- */

/* Records the answer's usage (tokens_used settles the daily tokens held for it). */
static void charge(struct req *r, const struct job *j, int tokens, int64_t t0, const char *msg_id)
{
    static const char *const endpoints[] = {"/v1/chat/completions", "/v1/completions",
                                            "/v1/responses"};
    api_quota_extra(r,
                    json_pack("{s:s, s:s, s:I, s:I, s:b, s:s}", "message_id", msg_id, "endpoint",
                              endpoints[j->ep], "tokens_used", (json_int_t)tokens,
                              "processing_time_ms", (json_int_t)((time_mono_ns() - t0) / 1000000),
                              "rag_enabled", j->rag, "model", j->model));
    int rc = api_quota_commit(r);
    if (rc)
        log_json(LOG_ERROR, "completion usage not recorded",
                 json_pack("{s:s, s:s}", "error", ragd_strerror(rc), "request_id", req_id(r)));
}

static void generation_error(struct req *r, int rc, const char *why)
{
    if (rc == RAGD_ENOTSUP) {
        unsupported(r, "unsupported_request", NULL, "%s", why);
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

/* /v1/completions: each prompt is a user turn of its own. */
static void set_conversation(struct job *j, size_t k)
{
    if (j->ep == EP_COMPLETIONS) {
        j->n_msgs = 0;
        add_message(j, "user", j->prompts[k]);
    }
    j->preq.messages = j->msgs;
    j->preq.n_messages = j->n_msgs;
    j->preq.question = j->n_msgs ? j->msgs[j->n_msgs - 1].content : "";
}

static void rag_work(struct req *r, struct job *j);

static void gen_work(struct req *r)
{
    struct job *j = req_slot(r, SLOT_APP);
    if (j->rag) {
        rag_work(r, j);
        return;
    }
    prov_provider_t *g = prov_generator();
    int64_t t0 = time_mono_ns();
    size_t convs = j->ep == EP_COMPLETIONS ? j->n_prompts : 1, total = convs * (size_t)j->n;
    int prompt_tokens = 0;
    for (size_t k = 0; k < convs; k++) {
        set_conversation(j, k);
        prompt_tokens += prov_count_prompt(g, j->msgs, j->n_msgs) * j->n;
    }
    if (json_array_size(j->preq.tools)) {
        /* the tools' signatures and the template's words about them, in every prompt */
        char *t = json_dumps(j->preq.tools, JSON_COMPACT);
        prompt_tokens +=
            (prov_count_tokens(g, t, strlen(t)) + 2 * (int)json_array_size(j->preq.tools) + 80) *
            (int)total;
        free(t);
    }
    /* The prompts and the longest answers are held from the daily token allowance before
     * generating; the answers are cut to what is left of it. */
    int want = j->preq.max_tokens > 0 && j->preq.max_tokens < prov_max_tokens() ? j->preq.max_tokens
                                                                                : prov_max_tokens();
    int least = want < PROV_MIN_ANSWER_TOKENS ? want : PROV_MIN_ANSWER_TOKENS, cap;
    if (api_quota_tokens(r, prompt_tokens, least * (int)total, want * (int)total, &cap)) return;
    j->preq.max_tokens = cap / (int)total > 0 ? cap / (int)total : 1;
    if (j->stream) api_quota_manual(r);
    struct prov_result *res = xcalloc(total, sizeof *res);
    struct outcome *o = xcalloc(total, sizeof *o);
    char err[512] = "";
    int rc = 0, stopped = 0, completion = 0;
    prompt_tokens = 0;
    uint64_t seed0 = j->preq.seed;
    for (size_t i = 0; i < total && !rc && !stopped; i++) {
        set_conversation(j, i / (size_t)j->n);
        j->preq.seed = seed0 + i; /* choice 0 is what n = 1 gives */
        j->choice = (int)i;
        rc = prov_generate(g, &j->preq, j->stream ? on_piece : NULL, j, &res[i], err, sizeof err);
        if (rc) break;
        stopped = res[i].stopped || j->gone;
        prompt_tokens += res[i].prompt_tokens;
        completion += res[i].completion_tokens;
        o[i] = (struct outcome){res[i].text ? res[i].text : "", res[i].truncated, res[i].logprobs,
                                res[i].tool_calls, res[i].n_tool_calls};
    }
    if (!j->stream) {
        if (rc) {
            generation_error(r, rc, err);
        } else {
            charge(r, j, prompt_tokens + completion, t0, j->id);
            http_json(r, 200, render(j, o, total, prompt_tokens, completion, NULL));
        }
    } else if (rc && !j->open) {
        api_quota_release(r);
        generation_error(r, rc, err);
    } else {
        if (rc || stopped) {
            /* Failed mid-stream or the client went away: nothing is charged. */
            api_quota_release(r);
            if (rc && !j->gone) stream_fail(j, err);
        } else {
            charge(r, j, prompt_tokens + completion, t0, j->id);
            stream_finish(j, o, total, prompt_tokens, completion, NULL);
        }
        http_stream_end(r);
    }
    for (size_t i = 0; i < total; i++)
        prov_result_free(&res[i]);
    free(res);
    free(o);
}

/* ---- ragd-rag: answers through the chat service ---- */

static void rag_error(struct req *r, int rc, const struct billing_refusal *ref, const char *err)
{
    if (rc == RAGD_EPERM) {
        api_quota_refused(r, RAGD_ELIMIT, ref); /* 429 TOKEN_LIMIT_EXCEEDED */
    } else if (rc == RAGD_EUNAVAIL || rc == RAGD_ENOSPC) {
        http_store_error(r, rc);
    } else {
        generation_error(r, rc, err);
    }
}

static void rag_work(struct req *r, struct job *j)
{
    const struct user *u = api_user(r);
    int64_t t0 = time_mono_ns();
    struct chat_command cmd = {.task = PROV_TASK_ANSWER};
    struct billing_refusal ref;
    memset(&ref, 0, sizeof ref);
    /* the question is the last user turn (the conversation's earlier turns are not part of
     * a retrieval-grounded answer) */
    const char *question = "";
    for (size_t i = j->n_msgs; i-- > 0;)
        if (!strcmp(j->msgs[i].role, "user")) {
            question = j->msgs[i].content;
            break;
        }
    struct chat_opts opts = {.message = question,
                             .enable_rag = 1,
                             .top_k = 5,
                             .route = KN_AUTO,
                             .command = &cmd,
                             .hold = api_quota_hold(r),
                             .refusal = &ref};
    if (j->stream) api_quota_manual(r);
    struct chat_reply a;
    char err[512] = "";
    j->choice = 0;
    int rc = chat_answer(u, &opts, j->stream ? on_piece : NULL, j, &a, err, sizeof err);
    if (rc && (!j->stream || !j->open)) {
        if (j->stream) api_quota_release(r);
        rag_error(r, rc, &ref, err);
        return;
    }
    if (rc) {
        api_quota_release(r);
        if (!j->gone) stream_fail(j, "Failed to answer");
        http_stream_end(r);
        return;
    }
    charge(r, j, a.prompt_tokens + a.completion_tokens, t0, a.message_id);
    struct outcome o = {a.answer ? a.answer : "", 0, NULL, NULL, 0};
    if (j->stream) {
        stream_finish(j, &o, 1, a.prompt_tokens, a.completion_tokens, sources_json(&a));
        http_stream_end(r);
    } else {
        http_json(r, 200, render(j, &o, 1, a.prompt_tokens, a.completion_tokens, sources_json(&a)));
    }
    chat_reply_free(&a);
}

/* ---- chat completions ---- */

/* clang-format off */
#define SAMPLING_FIELDS                                                                   \
    {"temperature", JV_NUMBER, 0, 0, 2, 1, NULL, "Sampling temperature (0 = greedy)"},    \
    {"top_p", JV_NUMBER, 0, 0.000001, 1, 1, NULL, "Nucleus sampling mass"},               \
    {"top_k", JV_INT, 0, 0, 1 << 20, 1, NULL, "Keep the k most likely tokens (0 = all)"}, \
    {"min_p", JV_NUMBER, 0, 0, 0.99, 1, NULL,                                             \
     "Drop tokens less likely than min_p times the most likely one"},                    \
    {"presence_penalty", JV_NUMBER, 0, -2, 2, 1, NULL,                                    \
     "Subtracted once from the logit of every token already in the text"},               \
    {"frequency_penalty", JV_NUMBER, 0, -2, 2, 1, NULL,                                   \
     "Subtracted from a token's logit once per occurrence in the text"},                 \
    {"repetition_penalty", JV_NUMBER, 0, 0.01, 10, 1, NULL,                               \
     "Divides a seen token's positive logit (multiplies a negative one)"},               \
    {"logit_bias", JV_OBJECT, 0, 0, 0, 1, NULL,                                           \
     "{token id: bias from -100 to 100} added to the logits"},                           \
    {"seed", JV_INT, 0, -9.2e18, 9.2e18, 1, NULL, "Sampling seed (same seed, same text)"},\
    {"stop", JV_ANY, 0, 0, 0, 1, NULL, "A stop string or up to 4 of them"},               \
    {"stream", JV_BOOL, 0, 0, 0, 1, NULL, "Answer as Server-Sent Events"}
/* clang-format on */

/* Tool calling and structured output (chat completions only). */
/* clang-format off */
#define TOOL_FIELDS                                                                          \
    {"tools", JV_ARRAY, 0, 0, 128, 1, NULL,                                                  \
     "Functions the model may call: [{type: function, function: {name, description, "        \
     "parameters}}]"},                                                                       \
    {"tool_choice", JV_ANY, 0, 0, 0, 1, NULL,                                                \
     "auto (default with tools) | none | required | {type: function, function: {name}}"},    \
    {"response_format", JV_OBJECT, 0, 0, 0, 1, NULL,                                         \
     "{type: text | json_object | json_schema, json_schema: {name, schema, strict}}: JSON "  \
     "output by constrained decoding on the local model"}
/* clang-format on */

static const struct jv_field completion_fields[] = {
    {"model", JV_STRING, 1, 1, 256, 0, NULL, "A model id from GET /v1/models"},
    {"messages", JV_ARRAY, 1, 1, MAX_MESSAGES, 0, NULL,
     "[{role: system|developer|user|assistant|tool, content: string or [{type: text, text}] "
     "(null for an assistant turn with tool_calls), name, tool_calls, tool_call_id, refusal}]"},
    SAMPLING_FIELDS,
    {"max_tokens", JV_INT, 0, 1, 32768, 1, NULL, "Most tokens to generate"},
    {"max_completion_tokens", JV_INT, 0, 1, 32768, 1, NULL, "Same as max_tokens"},
    {"stream_options", JV_OBJECT, 0, 0, 0, 1, NULL,
     "{include_usage: bool, include_obfuscation: bool}"},
    {"n", JV_INT, 0, 1, MAX_CHOICES, 1, NULL, "Choices wanted (1 to 8)"},
    {"logprobs", JV_BOOL, 0, 0, 0, 1, NULL, "Return each token's log-probability"},
    {"top_logprobs", JV_INT, 0, 0, PROV_MAX_TOP_LOGPROBS, 1, NULL,
     "With logprobs: the most likely alternatives per token (0 to 20)"},
    {"modalities", JV_ARRAY, 0, 0, 4, 1, NULL, "Only [\"text\"]"},
    TOOL_FIELDS,
    IGNORED_FIELDS(IGNORED),
    {NULL},
};
static const struct jv_schema completion_schema = {completion_fields, 1};

/* The request as STRICT_OPENAI knows it: the fields of old, nothing else. */
static const struct jv_field strict_fields[] = {
    {"model", JV_STRING, 1, 1, 256, 0, NULL, NULL},
    {"messages", JV_ARRAY, 1, 1, MAX_MESSAGES, 0, NULL, NULL},
    {"temperature", JV_NUMBER, 0, 0, 2, 1, NULL, NULL},
    {"top_p", JV_NUMBER, 0, 0.000001, 1, 1, NULL, NULL},
    {"max_tokens", JV_INT, 0, 1, 32768, 1, NULL, NULL},
    {"max_completion_tokens", JV_INT, 0, 1, 32768, 1, NULL, NULL},
    {"stop", JV_ANY, 0, 0, 0, 1, NULL, NULL},
    {"seed", JV_INT, 0, -9.2e18, 9.2e18, 1, NULL, NULL},
    {"stream", JV_BOOL, 0, 0, 0, 1, NULL, NULL},
    {"stream_options", JV_OBJECT, 0, 0, 0, 1, NULL, NULL},
    {"n", JV_INT, 0, 1, 1, 1, NULL, NULL},
    {"user", JV_STRING, 0, 0, 256, 1, NULL, NULL},
    {"parallel_tool_calls", JV_BOOL, 0, 0, 0, 1, NULL, NULL},
    TOOL_FIELDS,
    {NULL},
};
static const struct jv_schema strict_schema = {strict_fields, 0};

static void chat_completions(struct req *r)
{
    json_t *b = req_json(r);
    const char *model = jv_str(b, "model", "");
    int rag;
    const char *org;
    if (resolve_generator(r, model, &rag, &org)) return;
    if (sort_fields(r, b, &completion_schema, &strict_schema)) return;
    struct job *j = job_new(r, EP_CHAT, "chatcmpl-");
    snprintf(j->model, sizeof j->model, "%s", rag || alias_target(model) ? model : generator_id());
    j->rag = rag;
    j->org = org;
    if (chat_messages(r, json_object_get(b, "messages"), j)) return;
    if (parse_stream_options(r, b, j)) return;
    if (parse_sampling(r, b, j,
                       json_object_get(b, "max_tokens") ? "max_tokens" : "max_completion_tokens"))
        return;
    j->stream = jv_bool(b, "stream", 0);
    j->n = (int)jv_int(b, "n", 1);
    j->preq.logprobs = jv_bool(b, "logprobs", 0);
    j->preq.top_logprobs = j->preq.logprobs ? (int)jv_int(b, "top_logprobs", 0) : 0;
    if (json_object_get(b, "top_logprobs") && !j->preq.logprobs &&
        !json_is_null(json_object_get(b, "top_logprobs"))) {
        api_invalid(r, "top_logprobs", "top_logprobs needs logprobs: true");
        return;
    }
    if (rag && j->n > 1) {
        unsupported(r, "unsupported_value", "n", "%s answers with one choice (n = 1)", model);
        return;
    }
    if (tools_check(r, b)) return;
    j->preq.tools = nonnull(json_object_get(b, "tools"));
    j->preq.tool_choice = nonnull(json_object_get(b, "tool_choice"));
    j->preq.response_format = nonnull(json_object_get(b, "response_format"));
    const char *format = json_string_value(json_object_get(j->preq.response_format, "type"));
    if (rag && (json_array_size(j->preq.tools) || (format && strcmp(format, "text")))) {
        unsupported(r, "unsupported_parameter",
                    json_array_size(j->preq.tools) ? "tools" : "response_format",
                    "%s answers from the knowledge base with citations: no tools or "
                    "response_format",
                    model);
        return;
    }
    set_conversation(j, 0);
    http_defer(r, gen_work);
}

/* ---- legacy completions ---- */

static const struct jv_field text_fields[] = {
    {"model", JV_STRING, 1, 1, 256, 0, NULL, "A chat model id from GET /v1/models"},
    {"prompt", JV_ANY, 1, 0, 0, 0, NULL,
     "A string or an array of up to 16 strings (each answered as a user turn)"},
    SAMPLING_FIELDS,
    {"max_tokens", JV_INT, 0, 1, 32768, 1, NULL, "Most tokens to generate (default 16)"},
    {"stream_options", JV_OBJECT, 0, 0, 0, 1, NULL,
     "{include_usage: bool, include_obfuscation: bool}"},
    {"n", JV_INT, 0, 1, MAX_CHOICES, 1, NULL, "Choices per prompt (1 to 8)"},
    {"best_of", JV_INT, 0, 1, MAX_CHOICES, 1, NULL, "Only n (candidates are not ranked)"},
    {"logprobs", JV_INT, 0, 0, 5, 1, NULL,
     "Return each token's log-probability with this many alternatives"},
    {"echo", JV_BOOL, 0, 0, 0, 1, NULL, "Only false"},
    {"suffix", JV_STRING, 0, 0, 0, 1, NULL, "Not supported (insertion): null or absent"},
    IGNORED_FIELDS(IGNORED),
    {NULL},
};
static const struct jv_schema text_schema = {text_fields, 1};

static void completions(struct req *r)
{
    json_t *b = req_json(r);
    const char *model = jv_str(b, "model", "");
    int rag;
    const char *org;
    if (resolve_generator(r, model, &rag, &org)) return;
    if (rag) {
        unsupported(r, "unsupported_value", "model",
                    "%s answers through /v1/chat/completions and /v1/responses", model);
        return;
    }
    if (sort_fields(r, b, &text_schema, NULL)) return;
    if (jv_bool(b, "echo", 0)) {
        unsupported(r, "unsupported_value", "echo", "echo: true is not supported");
        return;
    }
    if (json_is_string(json_object_get(b, "suffix")) &&
        json_string_length(json_object_get(b, "suffix"))) {
        unsupported(r, "unsupported_parameter", "suffix",
                    "suffix (insertion) is not supported by the chat models ragd runs");
        return;
    }
    int n = (int)jv_int(b, "n", 1);
    if (jv_int(b, "best_of", n) != n) {
        unsupported(r, "unsupported_value", "best_of",
                    "best_of must equal n: ragd does not rank candidates");
        return;
    }
    struct job *j = job_new(r, EP_COMPLETIONS, "cmpl-");
    snprintf(j->model, sizeof j->model, "%s", alias_target(model) ? model : generator_id());
    json_t *p = json_object_get(b, "prompt");
    size_t np = json_is_array(p) ? json_array_size(p) : 1;
    if ((!json_is_string(p) && !json_is_array(p)) || np == 0 || np > MAX_PROMPTS) {
        api_invalid(r, "prompt",
                    "prompt must be a string or an array of 1 to %d strings (token-id prompts "
                    "are not supported)",
                    MAX_PROMPTS);
        return;
    }
    for (size_t i = 0; i < np; i++) {
        json_t *s = json_is_array(p) ? json_array_get(p, i) : p;
        if (!json_is_string(s)) {
            api_invalid(r, "prompt", "prompt[%zu] must be a string", i);
            return;
        }
        j->prompts[j->n_prompts++] = json_string_value(s);
    }
    if (parse_stream_options(r, b, j)) return;
    if (parse_sampling(r, b, j, "max_tokens")) return;
    if (!json_object_get(b, "max_tokens")) j->preq.max_tokens = 16; /* OpenAI's default */
    j->stream = jv_bool(b, "stream", 0);
    j->n = n;
    json_t *lp = json_object_get(b, "logprobs");
    j->preq.logprobs = json_is_integer(lp);
    j->preq.top_logprobs = j->preq.logprobs ? (int)json_integer_value(lp) : 0;
    set_conversation(j, 0);
    http_defer(r, gen_work);
}

/* ---- responses ---- */

static const struct jv_field response_fields[] = {
    {"model", JV_STRING, 1, 1, 256, 0, NULL, "A model id from GET /v1/models"},
    {"input", JV_ANY, 1, 0, 0, 0, NULL,
     "A string, or a list of messages {role: system|developer|user|assistant, content: string "
     "or [{type: input_text|output_text, text}]}"},
    {"instructions", JV_STRING, 0, 0, 0, 1, NULL, "A system message put first"},
    {"max_output_tokens", JV_INT, 0, 1, 32768, 1, NULL, "Most tokens to generate"},
    SAMPLING_FIELDS,
    {"stream_options", JV_OBJECT, 0, 0, 0, 1, NULL, "{include_obfuscation: bool}"},
    {"text", JV_OBJECT, 0, 0, 0, 1, NULL, "Only {format: {type: text}}"},
    {"truncation", JV_STRING, 0, 0, 0, 1, NULL, "Accepted and ignored (the prompt is never cut)"},
    {"reasoning", JV_ANY, 0, 0, 0, 1, NULL, IGNORED},
    {"include", JV_ANY, 0, 0, 0, 1, NULL, IGNORED},
    IGNORED_FIELDS(IGNORED),
    {NULL},
};
static const struct jv_schema response_schema = {response_fields, 1};

static const char *const response_roles[] = {"system", "developer", "user", "assistant", NULL};
static const char *const response_parts[] = {"input_text", "output_text", "text", NULL};

/* input: a string or a list of message items. 0, or -1 after answering 422. */
static int response_input(struct req *r, json_t *b, struct job *j)
{
    const char *instructions = jv_str(b, "instructions", NULL);
    if (instructions) add_message(j, "system", instructions);
    json_t *in = json_object_get(b, "input");
    if (json_is_string(in)) {
        add_message(j, "user", json_string_value(in));
        return 0;
    }
    if (!json_is_array(in) || !json_array_size(in) || json_array_size(in) > MAX_MESSAGES) {
        api_invalid(r, "input", "input must be a string or a list of 1 to %d messages",
                    MAX_MESSAGES);
        return -1;
    }
    size_t i;
    json_t *m;
    json_array_foreach(in, i, m)
    {
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || (type && strcmp(type, "message")) || !role ||
            !in_list(response_roles, role)) {
            api_invalid(r, "input",
                        "input[%zu] must be a message {role: system|developer|user|assistant, "
                        "content}; other item types are not supported",
                        i);
            return -1;
        }
        char *text = content_text(r, json_object_get(m, "content"), "input", i, response_parts);
        if (!text) return -1;
        add_message(j, !strcmp(role, "developer") ? "system" : role, keep(j, text));
    }
    return 0;
}

static void responses(struct req *r)
{
    json_t *b = req_json(r);
    const char *model = jv_str(b, "model", "");
    int rag;
    const char *org;
    if (resolve_generator(r, model, &rag, &org)) return;
    if (sort_fields(r, b, &response_schema, NULL)) return;
    json_t *fmt = json_object_get(json_object_get(b, "text"), "format");
    const char *ftype = json_string_value(json_object_get(fmt, "type"));
    if (fmt && (!ftype || strcmp(ftype, "text"))) {
        api_invalid(r, "body", "unknown field 'text.format' of type '%.32s'", ftype ? ftype : "?");
        return;
    }
    struct job *j = job_new(r, EP_RESPONSES, "resp_");
    snprintf(j->model, sizeof j->model, "%s", rag || alias_target(model) ? model : generator_id());
    j->rag = rag;
    j->org = org;
    if (response_input(r, b, j)) return;
    if (parse_stream_options(r, b, j)) return;
    if (parse_sampling(r, b, j, "max_output_tokens")) return;
    j->stream = jv_bool(b, "stream", 0);
    set_conversation(j, 0);
    http_defer(r, gen_work);
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
static const struct jv_schema embedding_schema = {embedding_fields, 1};

struct embedding_job {
    char model[MODEL_NAME_MAX + 1]; /* as the client named it */
    const char **texts;             /* borrowed from the request body */
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
                        j->model, "usage", "prompt_tokens", tokens, "total_tokens", tokens));
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
    const char *name = alias_target(model) ? alias_target(model) : model;
    if (strcmp(name, "local") && strcmp(name, embedder_id())) {
        model_not_found(r, model);
        return;
    }
    if (sort_fields(r, b, &embedding_schema, NULL)) return;
    long long dims = jv_int(b, "dimensions", e->dim);
    if (dims != (long long)e->dim) {
        api_invalid(r, "dimensions", "this model's vectors have %u dimensions", e->dim);
        return;
    }
    json_t *in = json_object_get(b, "input");
    struct embedding_job *j = xcalloc(1, sizeof *j);
    req_set_slot(r, SLOT_APP, j, embedding_job_free);
    snprintf(j->model, sizeof j->model, "%s", alias_target(model) ? model : embedder_id());
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
     "The models this server runs (OpenAI-compatible): the generator, the embedder, ragd-rag "
     "(and ragd-rag/<organization id> for the caller's organization) and MODEL_ALIASES",
     200, "{object: list, data: [model]}", 0, NULL, "v1_api",
     .response = "{object: 'list', data: [$Model]}"},
    {"GET", "/v1/models/{model}", model_get, ACCESS_USER, "api", NULL, NULL, "openai", "One model",
     200, "{id, object: model, created, owned_by}", 0, NULL, "v1_api", .response = "$Model"},
    {"GET", "/v1/models/ragd-rag/{org}", org_model_get, ACCESS_USER, "api", NULL, NULL, "openai",
     "An organization's knowledge-grounded model (members only)", 200,
     "{id, object: model, created, owned_by}", 0, NULL, "v1_api", .response = "$Model"},
    {"POST", "/v1/chat/completions", chat_completions, ACCESS_USER, "chat", "messages",
     &completion_schema, "openai",
     "OpenAI-compatible chat completion; stream: true answers as Server-Sent Events. The "
     "ragd-rag models answer from the knowledge base with [n] citations and ragd.sources",
     200,
     "{id, object: chat.completion, created, model, choices: [{index, message, logprobs, "
     "finish_reason}], usage, ragd?: {sources}}",
     0, NULL, "v1_api chat",
     .response = "{id: string, object: 'chat.completion', created: int, model: string, choices: "
                 "[{index: int, message: {role: 'assistant', content: string|null, ...}, "
                 "finish_reason: string|null, ...}], usage: {prompt_tokens: int, "
                 "completion_tokens: int, total_tokens: int, ...}, ...}; text/event-stream"},
    {"POST", "/v1/completions", completions, ACCESS_USER, "chat", "messages", &text_schema,
     "openai",
     "OpenAI-compatible (legacy) text completion: each prompt is answered as a user turn; "
     "stream: true answers as Server-Sent Events",
     200,
     "{id, object: text_completion, created, model, choices: [{text, index, logprobs, "
     "finish_reason}], usage}",
     0, NULL, "v1_api chat",
     .response = "{id: string, object: 'text_completion', created: int, model: string, choices: "
                 "[{text: string, index: int, finish_reason: string|null, ...}], usage: "
                 "{prompt_tokens: int, completion_tokens: int, total_tokens: int, ...}, ...}; "
                 "text/event-stream"},
    {"POST", "/v1/responses", responses, ACCESS_USER, "chat", "messages", &response_schema,
     "openai",
     "OpenAI Responses API (text): stream: true sends response.created, "
     "response.output_text.delta ... response.completed events",
     200,
     "{id, object: response, created_at, status, model, output: [{type: message, role, "
     "content: [{type: output_text, text, annotations}]}], usage}",
     0, NULL, "v1_api chat",
     .response = "{id: string, object: 'response', created_at: int, status: string, model: string, "
                 "output: [{type: 'message', content: [{type: 'output_text', text: string, "
                 "...}], ...}], usage: {...}, ...}; text/event-stream"},
    {"POST", "/v1/embeddings", embeddings, ACCESS_USER, "api", "api_calls", &embedding_schema,
     "openai", "OpenAI-compatible embeddings", 200,
     "{object: list, data: [{object: embedding, index, embedding}], model, usage}", 0, NULL,
     "v1_api",
     .response = "{object: 'list', data: [{object: 'embedding', index: int, embedding: "
                 "[number]|string}], model: string, usage: {prompt_tokens: int, total_tokens: "
                 "int}}"},
    {NULL},
};
