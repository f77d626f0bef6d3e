/* provider.c - picks the configured generator and embedder at start, and the wrappers. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/util.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "llm/provider.h"
#include "llm/router.h"

static prov_provider_t *generator, *extractive;
static int generator_in_router; /* the OPENAI_* generator was handed to the router */
static prov_embedder_t *embedder;
static int max_tokens = 512, context_length = 4096;
static double temperature = 0.7;
static int curl_ready;

void prov_result_free(struct prov_result *r)
{
    if (!r) return;
    free(r->text);
    r->text = NULL;
    json_decref(r->logprobs);
    r->logprobs = NULL;
    for (size_t i = 0; i < r->n_tool_calls; i++) {
        free(r->tool_calls[i].name);
        free(r->tool_calls[i].arguments);
    }
    free(r->tool_calls);
    r->tool_calls = NULL;
    r->n_tool_calls = 0;
}

int prov_estimate_tokens(const char *text, size_t len)
{
    (void)text;
    return (int)((len + 3) / 4);
}

int prov_max_tokens(void)
{
    return max_tokens;
}

int prov_worker_demand(void)
{
    return generator && generator->ops->worker_demand
               ? generator->ops->worker_demand(generator->self)
               : 0;
}

int prov_context_length(void)
{
    return context_length;
}

static void provider_free(prov_provider_t *p)
{
    if (!p) return;
    p->ops->free(p->self);
    free(p);
}

/* Finds a model named name: the path itself, else dir/name, else dir/name + suffix.
 * 0 with *out (caller frees), or RAGD_ENOTFOUND with the places tried in err. */
static int model_path(const char *var, const char *name, const char *dir, const char *suffix,
                      char **out, char *err, size_t errcap)
{
    char *tries[3] = {xstrdup(name), dir ? xasprintf("%s/%s", dir, name) : NULL,
                      dir && suffix ? xasprintf("%s/%s%s", dir, name, suffix) : NULL};
    *out = NULL;
    for (int i = 0; i < 3 && !*out; i++)
        if (tries[i] && access(tries[i], R_OK) == 0) *out = xstrdup(tries[i]);
    int rc = *out ? 0
                  : ragd_errf(err, errcap, RAGD_ENOTFOUND,
                              "%s=%s: no such file or folder (looked at %s%s%s%s%s); put the "
                              "model files there or set %s to their path - ragd downloads "
                              "nothing",
                              var, name, tries[0], tries[1] ? ", " : "", tries[1] ? tries[1] : "",
                              tries[2] ? ", " : "", tries[2] ? tries[2] : "", var);
    for (int i = 0; i < 3; i++)
        free(tries[i]);
    return rc;
}

int prov_init(const char *data_dir, char *err, size_t errcap)
{
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    max_tokens = (int)config_int("GENERATION_MAX_TOKENS", 512, 1, 32768);
    context_length = (int)config_int("GENERATION_CONTEXT_LENGTH", 4096, 256, 1 << 20);
    temperature = config_double("GENERATION_TEMPERATURE", 0.7, 0, 2);
    int timeout = (int)config_int("OPENAI_TIMEOUT_SECONDS", 60, 1, 3600);
    const char *device = config_str("MODEL_DEVICE", "cpu");
    if (strcmp(device, "cpu"))
        log_json(LOG_WARN, "MODEL_DEVICE is not cpu: the in-process engine runs on the CPU",
                 json_pack("{s:s}", "MODEL_DEVICE", device));
    char *def_dir = data_dir ? xasprintf("%s/models", data_dir) : NULL;
    const char *dir = config_str("MODELS_DIR", def_dir);
    extractive = prov_extractive_create();

    const char *which = config_str("LLM_PROVIDER", "auto");
    const char *base = config_str("OPENAI_API_BASE", config_str("OPENAI_BASE_URL", NULL));
    const char *key = config_str("OPENAI_API_KEY", NULL);
    const char *model = config_str("OPENAI_MODEL", "gpt-4o-mini");
    const char *gguf = config_str("GENERATION_MODEL", NULL);
    int rc = 0;

    if (!strcmp(which, "auto")) which = gguf ? "local" : (base || key) ? "openai" : "extractive";
    if (!strcmp(which, "extractive")) {
        generator = extractive;
    } else if (!strcmp(which, "openai")) {
        generator =
            prov_openai_create(base ? base : "https://api.openai.com/v1", key, model, timeout);
    } else if (!strcmp(which, "local")) {
        char *path = NULL, why[400] = "";
        if (!gguf)
            rc = ragd_errf(err, errcap, RAGD_EINVAL,
                           "LLM_PROVIDER=local needs GENERATION_MODEL (a .gguf file)");
        else if (model_path("GENERATION_MODEL", gguf, dir, ".gguf", &path, err, errcap))
            rc = RAGD_EINVAL;
        else if (prov_local_create(path, context_length, &generator, why, sizeof why))
            rc = ragd_errf(err, errcap, RAGD_EINVAL, "GENERATION_MODEL %s: %s", path, why);
        free(path);
    } else {
        rc = ragd_errf(err, errcap, RAGD_EINVAL,
                       "LLM_PROVIDER must be auto, extractive, openai or local");
    }

    const char *ebase = config_str("EMBEDDING_API_BASE", NULL);
    const char *emodel = config_str("EMBEDDING_MODEL", NULL);
    int ebatch = (int)config_int("EMBEDDING_BATCH_SIZE", 32, 1, 4096);
    if (!rc && ebase) {
        uint32_t dim = (uint32_t)config_int("EMBEDDING_DIMENSION", 768, 1, 65536);
        embedder = prov_openai_embedder_create(
            ebase, config_str("EMBEDDING_API_KEY", key),
            emodel ? emodel : "sentence-transformers/all-mpnet-base-v2", dim,
            (int)config_int("EMBEDDING_TIMEOUT_SECONDS", 60, 1, 3600));
    } else if (!rc && emodel) {
        char *path = NULL, why[400] = "";
        if (model_path("EMBEDDING_MODEL", emodel, dir, NULL, &path, err, errcap))
            rc = RAGD_EINVAL;
        else if (prov_local_embedder_create(path, ebatch, &embedder, why, sizeof why))
            rc = ragd_errf(err, errcap, RAGD_EINVAL, "EMBEDDING_MODEL %s: %s", path, why);
        free(path);
    }
    free(def_dir);
    if (rc) return rc;
    /* The OPENAI_* generator becomes the pool's read-only entry; the local engine its last
     * resort. */
    int is_openai = !strcmp(generator->ops->name, "openai");
    if ((rc = router_start(is_openai ? generator : NULL, key,
                           !strcmp(generator->ops->name, "local") ? generator : NULL, embedder, err,
                           errcap)))
        return rc;
    generator_in_router = is_openai;
    log_json(LOG_INFO, "models",
             json_pack("{s:s, s:s, s:s, s:s}", "generator", generator->ops->name, "model",
                       generator->ops->model(generator->self), "embedder",
                       embedder ? embedder->ops->name : "none", "embedding_model",
                       embedder ? embedder->ops->model(embedder->self) : ""));
    return 0;
}

void prov_shutdown(void)
{
    router_stop(); /* frees the OPENAI_* generator it was given */
    if (generator != extractive && !generator_in_router) provider_free(generator);
    generator_in_router = 0;
    provider_free(extractive);
    generator = extractive = NULL;
    if (embedder) {
        embedder->ops->free(embedder->self);
        free(embedder);
        embedder = NULL;
    }
    if (curl_ready) {
        curl_global_cleanup();
        curl_ready = 0;
    }
}

prov_provider_t *prov_generator(void)
{
    if (!generator) {
        /* Used before prov_init (CLI verbs, tests): extractive only. */
        if (!extractive) extractive = prov_extractive_create();
        return extractive;
    }
    return router_in_use() ? router_provider() : generator;
}

prov_provider_t *prov_extractive(void)
{
    if (!extractive) extractive = prov_extractive_create();
    return extractive;
}

prov_embedder_t *prov_embedder(void)
{
    return router_embedder();
}

/* Text from a model is not always valid UTF-8 (a random or confused model can stop inside a
 * multi-byte character): callers get it with such bytes replaced by U+FFFD. */
struct clean_relay {
    prov_token_fn fn;
    void *ud;
    int64_t first_ns; /* when the first piece came (0: none yet) */
};

static int clean_piece(void *ud, const char *text, size_t len)
{
    struct clean_relay *c = ud;
    if (!c->first_ns && len) c->first_ns = time_mono_ns();
    if (utf8_valid(text, len)) return c->fn(c->ud, text, len);
    size_t n;
    char *t = utf8_sanitize(text, len, &n);
    int rc = c->fn(c->ud, t, n);
    free(t);
    return rc;
}

/* ---- metrics of generations and embeddings ---- */

/* A generation ended with rc after total seconds; ttft: seconds to its first text (the
 * provider's figure, else the first streamed piece's; 0 when unknown). */
static void observe_generation(int rc, double ttft, double total)
{
    if (!rc && ttft > 0)
        metrics_observe_scaled("ragd_generation_ttft_seconds", NULL,
                               "Time from the start of a generation to its first output text", ttft,
                               METRICS_SLOW);
    metrics_observe_scaled("ragd_generation_duration_seconds",
                           rc ? "outcome=\"error\"" : "outcome=\"success\"",
                           "Time generations took, by outcome (any provider)", total, METRICS_SLOW);
}

static void observe_embedding(int rc, double seconds)
{
    metrics_observe("ragd_embedding_duration_seconds",
                    rc ? "outcome=\"error\"" : "outcome=\"success\"",
                    "Time embedding calls took (a batch of texts each), by outcome", seconds);
}

int prov_generate(prov_provider_t *p, const struct prov_request *req, prov_token_fn on_token,
                  void *ud, struct prov_result *res, char *err, size_t errcap)
{
    struct prov_request r = *req;
    if (r.temperature < 0) r.temperature = temperature;
    if (r.max_tokens <= 0 || r.max_tokens > max_tokens) r.max_tokens = max_tokens;
    struct clean_relay c = {on_token, ud, 0};
    int64_t t0 = time_mono_ns();
    int rc = p->ops->generate(p->self, &r, on_token ? clean_piece : NULL, &c, res, err, errcap);
    double ttft = res->ttft_s;
    if (ttft <= 0 && c.first_ns) ttft = (double)(c.first_ns - t0) / 1e9;
    observe_generation(rc, ttft, (double)(time_mono_ns() - t0) / 1e9);
    if (!rc && res->text && !utf8_valid(res->text, strlen(res->text))) {
        char *t = utf8_sanitize(res->text, strlen(res->text), NULL);
        free(res->text);
        res->text = t;
    }
    return rc;
}

int prov_count_tokens(prov_provider_t *p, const char *text, size_t len)
{
    return p->ops->count_tokens(p->self, text, len);
}

int prov_count_prompt(prov_provider_t *p, const struct prov_message *msgs, size_t n)
{
    if (p->ops->count_prompt) return p->ops->count_prompt(p->self, msgs, n);
    int total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = msgs[i].content ? msgs[i].content : "";
        total += p->ops->count_tokens(p->self, c, strlen(c));
    }
    return total;
}

int prov_embed(prov_embedder_t *e, const char *const *texts, size_t n, float *out, char *err,
               size_t errcap)
{
    if (!e) {
        snprintf(err, errcap, "no embedder is configured");
        return RAGD_EUNAVAIL;
    }
    int64_t t0 = time_mono_ns();
    int rc = e->ops->embed(e->self, texts, n, out, err, errcap);
    observe_embedding(rc, (double)(time_mono_ns() - t0) / 1e9);
    return rc;
}

int prov_fallback_allowed(void)
{
    return config_bool("FALLBACK_TO_EXTRACTIVE", !router_pool_exists());
}

int prov_embed_count_tokens(prov_embedder_t *e, const char *text, size_t len)
{
    if (e && e->ops->count_tokens) return e->ops->count_tokens(e->self, text, len);
    return prov_estimate_tokens(text, len);
}

json_t *prov_health(void)
{
    prov_provider_t *g = prov_generator();
    json_t *gh = g->ops->health(g->self);
    json_t *eh = embedder
                     ? json_pack("{s:s, s:s, s:s, s:i}", "status", "healthy", "provider",
                                 embedder->ops->name, "model", embedder->ops->model(embedder->self),
                                 "dimension", (int)embedder->dim)
                     : json_pack("{s:s, s:s}", "status", "not_configured", "detail",
                                 "no embedder: vector search is unavailable, auto search "
                                 "uses the lexical index");
    const char *gs = json_string_value(json_object_get(gh, "status"));
    return json_pack("{s:s, s:o, s:o}", "status", gs ? gs : "healthy", "generator", gh, "embedder",
                     eh);
}
