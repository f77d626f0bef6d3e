/* local.c - the in-process engine (engine/llm.h) as a generation provider.
 *
 * One model and one session (KV cache) shared by all requests: the engine runs one forward
 * pass at a time anyway, so requests take turns on a mutex. Each request resets the session
 * (llm_chat formats the whole conversation as ChatML). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "engine/llm.h"
#include "llm/provider.h"

struct local {
    llm_model_t *model;
    llm_session_t *session;
    pthread_mutex_t lock;
    char name[128];
};

struct relay {
    prov_token_fn fn;
    void *ud;
    int stopped;
};

static int on_text(void *ud, const char *text, size_t len)
{
    struct relay *r = ud;
    if (r->fn && r->fn(r->ud, text, len)) {
        r->stopped = 1;
        return 1;
    }
    return 0;
}

static int lo_generate(void *self, const struct prov_request *req, prov_token_fn on_token,
                       void *ud, struct prov_result *res, char *err, size_t errcap)
{
    struct local *l = self;
    memset(res, 0, sizeof *res);
    struct chat_msg *msgs = xcalloc(req->n_messages ? req->n_messages : 1, sizeof *msgs);
    for (size_t i = 0; i < req->n_messages; i++)
        msgs[i] = (struct chat_msg){req->messages[i].role, req->messages[i].content};
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    gp.n_predict = req->max_tokens > 0 ? req->max_tokens : prov_max_tokens();
    if (req->temperature >= 0)
        gp.sampling.temperature = (float)req->temperature;
    if (gp.sampling.temperature == 0)
        gp.sampling.greedy = 1;
    struct relay rl = {on_token, ud, 0};
    struct llm_gen_result gr = {0};
    pthread_mutex_lock(&l->lock);
    int rc = llm_chat(l->session, msgs, req->n_messages, 0, &gp, on_text, &rl, &gr);
    pthread_mutex_unlock(&l->lock);
    free(msgs);
    if (rc) {
        snprintf(err, errcap, "local generation failed: %s",
                 rc == RAGD_ERANGE ? "prompt does not fit the context" : ragd_strerror(rc));
        llm_gen_result_free(&gr);
        return rc == RAGD_ERANGE ? RAGD_EINVAL : RAGD_EUNAVAIL;
    }
    res->text = gr.text ? gr.text : xstrdup("");
    gr.text = NULL;
    res->prompt_tokens = gr.n_prompt;
    res->completion_tokens = gr.n_gen;
    res->stopped = rl.stopped;
    snprintf(res->model, sizeof res->model, "%s", l->name);
    llm_gen_result_free(&gr);
    return 0;
}

static int lo_count(void *self, const char *text, size_t len)
{
    struct local *l = self;
    int32_t *ids = NULL;
    size_t n = 0;
    if (llm_tokenize(l->model, text, len, 0, &ids, &n))
        return prov_estimate_tokens(text, len);
    free(ids);
    return (int)n;
}

static const char *lo_model(void *self)
{
    return ((struct local *)self)->name;
}

static json_t *lo_health(void *self)
{
    struct local *l = self;
    return json_pack("{s:s, s:s, s:s, s:i}", "status", "healthy", "provider", "local", "model",
                     l->name, "context_length", llm_session_n_ctx(l->session));
}

static void lo_free(void *self)
{
    struct local *l = self;
    if (!l)
        return;
    llm_session_free(l->session);
    llm_model_free(l->model);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static const struct prov_provider_ops local_ops = {
    .name = "local",
    .generate = lo_generate,
    .count_tokens = lo_count,
    .model = lo_model,
    .health = lo_health,
    .free = lo_free,
};

int prov_local_create(const char *path, int n_ctx, prov_provider_t **out, char *err,
                     size_t errcap)
{
    struct local *l = xcalloc(1, sizeof *l);
    int threads = (int)config_int("GENERATION_THREADS", 0, 0, 1024);
    int rc = llm_model_load(path, threads, &l->model, err, errcap);
    if (!rc && !llm_model_tokenizer(l->model)) {
        snprintf(err, errcap, "the model file has no tokenizer");
        rc = RAGD_ENOTSUP;
    }
    if (!rc && (rc = llm_session_create(l->model, n_ctx, &l->session)))
        snprintf(err, errcap, "cannot allocate a %d-token context: %s", n_ctx,
                 ragd_strerror(rc));
    if (rc) {
        llm_model_free(l->model);
        free(l);
        return rc;
    }
    pthread_mutex_init(&l->lock, NULL);
    const char *base = strrchr(path, '/');
    snprintf(l->name, sizeof l->name, "%s", base ? base + 1 : path);
    prov_provider_t *p = xcalloc(1, sizeof *p);
    p->ops = &local_ops;
    p->self = l;
    *out = p;
    return 0;
}
