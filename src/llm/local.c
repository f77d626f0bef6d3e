/* local.c - the in-process engine as providers: a GGUF language model for generation
 * (engine/llm.h) and a sentence encoder for embeddings (engine/encoder.h).
 *
 * Generation: one model shared by GENERATION_PARALLEL sessions (KV caches). A request takes a
 * free session or waits in a first-come-first-served queue of at most GENERATION_QUEUE_SIZE
 * requests (full: RAGD_ELIMIT, which the API answers with 503 and Retry-After; a wait longer
 * than GENERATION_QUEUE_TIMEOUT_SECONDS: RAGD_ETIMEOUT). Sessions generating at the same time
 * have their decoding steps batched into one forward pass by the engine (prompt slices take
 * turns with them), so one long answer does not hold up the others and concurrent answers
 * cost little more than one; a client that goes away stops its generation at the next
 * token. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/util.h"
#include "engine/encoder.h"
#include "engine/llm.h"
#include "llm/provider.h"

/* ---- the session pool and its queue ---- */

struct waiter {
    struct waiter *next;
    pthread_cond_t cv;
    int slot; /* handed over by slot_put; -1 while waiting */
};

struct local {
    llm_model_t *model;
    llm_session_t **sessions; /* [n_slots] */
    unsigned char *busy;      /* [n_slots] */
    int n_slots, max_queue, queue_timeout_s;
    pthread_mutex_t lock;
    struct waiter *head, *tail; /* FIFO of requests waiting for a session */
    int waiting, active;
    /* figures for /health/detailed and /metrics (under lock) */
    uint64_t requests, rejected, timeouts, prompt_tokens, gen_tokens;
    double prompt_s, gen_s, ttft_sum_s, last_ttft_s, last_tps;
    uint64_t ttft_n;
    struct sampler_params defaults;
    char name[128];
};

static double mono_s(void)
{
    return (double)time_mono_ns() * 1e-9;
}

/* Unlocks l after a change of its queue, and publishes the queue's gauges. */
static void unlock_publish(struct local *l)
{
    int waiting = l->waiting, active = l->active;
    pthread_mutex_unlock(&l->lock);
    metrics_gauge("ragd_generation_queue_depth", "Generation requests waiting for a session",
                  waiting);
    metrics_gauge("ragd_generation_active", "Generations running now", active);
}

/* Takes a free session, or queues for one. 0 with *slot, RAGD_ELIMIT (queue full) or
 * RAGD_ETIMEOUT. */
static int slot_get(struct local *l, int *slot)
{
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->n_slots; i++) {
        if (!l->busy[i]) {
            l->busy[i] = 1;
            l->active++;
            *slot = i;
            unlock_publish(l);
            return 0;
        }
    }
    if (l->waiting >= l->max_queue) {
        l->rejected++;
        pthread_mutex_unlock(&l->lock);
        metrics_count("ragd_generation_rejected_total",
                      "Generation requests refused because the queue was full", 1);
        return RAGD_ELIMIT;
    }
    struct waiter w = {.slot = -1};
    pthread_cond_init(&w.cv, NULL);
    if (l->tail)
        l->tail->next = &w;
    else
        l->head = &w;
    l->tail = &w;
    l->waiting++;
    metrics_gauge("ragd_generation_queue_depth", "Generation requests waiting for a session",
                  l->waiting);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += l->queue_timeout_s;
    int rc = 0;
    while (w.slot < 0 && rc == 0)
        rc = pthread_cond_timedwait(&w.cv, &l->lock, &dl);
    if (w.slot < 0) { /* timed out: leave the queue */
        struct waiter **pp = &l->head, *prev = NULL;
        while (*pp != &w) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = w.next;
        if (l->tail == &w) l->tail = prev;
        l->waiting--;
        l->timeouts++;
        unlock_publish(l);
        pthread_cond_destroy(&w.cv);
        return RAGD_ETIMEOUT;
    }
    *slot = w.slot; /* slot_put dequeued us and counted us active */
    unlock_publish(l);
    pthread_cond_destroy(&w.cv);
    return 0;
}

/* Hands the session to the first waiter, or frees it. */
static void slot_put(struct local *l, int slot)
{
    pthread_mutex_lock(&l->lock);
    struct waiter *w = l->head;
    if (w) {
        l->head = w->next;
        if (!l->head) l->tail = NULL;
        l->waiting--;
        w->slot = slot;
        pthread_cond_signal(&w->cv);
    } else {
        l->busy[slot] = 0;
        l->active--;
    }
    unlock_publish(l);
}

/* ---- generation ---- */

struct relay {
    prov_token_fn fn;
    void *ud;
    int stopped;
    double t0, first; /* call start, first text (0 until then) */
};

static int on_text(void *ud, const char *text, size_t len)
{
    struct relay *r = ud;
    if (!r->first && len) r->first = mono_s();
    if (r->fn && r->fn(r->ud, text, len)) {
        r->stopped = 1;
        return 1;
    }
    return 0;
}

static int lo_generate(void *self, const struct prov_request *req, prov_token_fn on_token, void *ud,
                       struct prov_result *res, char *err, size_t errcap)
{
    struct local *l = self;
    memset(res, 0, sizeof *res);
    struct relay rl = {on_token, ud, 0, mono_s(), 0};
    int slot;
    int rc = slot_get(l, &slot);
    if (rc == RAGD_ELIMIT)
        return ragd_errf(err, errcap, rc, "the generation queue is full (%d waiting)",
                         l->max_queue);
    if (rc)
        return ragd_errf(err, errcap, rc, "no generation slot became free within %d s",
                         l->queue_timeout_s);
    struct chatml_msg *msgs = xcalloc(req->n_messages ? req->n_messages : 1, sizeof *msgs);
    for (size_t i = 0; i < req->n_messages; i++)
        msgs[i] = (struct chatml_msg){req->messages[i].role, req->messages[i].content};
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    gp.sampling = l->defaults;
    gp.n_predict = req->max_tokens > 0 ? req->max_tokens : prov_max_tokens();
    if (req->temperature >= 0) gp.sampling.temperature = (float)req->temperature;
    if (req->top_p > 0) gp.sampling.top_p = (float)req->top_p;
    gp.sampling.greedy = gp.sampling.temperature == 0;
    if (req->has_seed) {
        gp.sampling.seed = req->seed;
    } else {
        rand_bytes(&gp.sampling.seed, sizeof gp.sampling.seed);
    }
    gp.stop = req->stop;
    gp.n_stop = req->stop ? req->n_stop : 0;
    struct llm_gen_result gr = {0};
    rc = llm_chat(l->sessions[slot], msgs, req->n_messages, 0, &gp, on_text, &rl, &gr);
    slot_put(l, slot);
    free(msgs);
    if (rc) {
        llm_gen_result_free(&gr);
        if (rc == RAGD_ERANGE)
            return ragd_errf(err, errcap, RAGD_EINVAL, "the prompt does not fit the context");
        return ragd_errf(err, errcap, RAGD_EUNAVAIL, "local generation failed: %s",
                         ragd_strerror(rc));
    }
    res->text = gr.text ? gr.text : xstrdup("");
    gr.text = NULL;
    res->prompt_tokens = gr.n_prompt;
    res->completion_tokens = gr.n_gen;
    res->stopped = rl.stopped;
    res->truncated = gr.stop == LLM_STOP_LENGTH || gr.stop == LLM_STOP_CONTEXT;
    res->ttft_s = rl.first ? rl.first - rl.t0 : 0;
    snprintf(res->model, sizeof res->model, "%s", l->name);
    pthread_mutex_lock(&l->lock);
    l->requests++;
    l->prompt_tokens += (uint64_t)gr.n_prompt;
    l->gen_tokens += (uint64_t)gr.n_gen;
    l->prompt_s += gr.prompt_s;
    l->gen_s += gr.gen_s;
    if (res->ttft_s > 0) {
        l->ttft_sum_s += res->ttft_s;
        l->ttft_n++;
        l->last_ttft_s = res->ttft_s;
    }
    if (gr.gen_s > 0) l->last_tps = gr.n_gen / gr.gen_s;
    pthread_mutex_unlock(&l->lock);
    metrics_count("ragd_generation_tokens_total", "Tokens generated by the local model", gr.n_gen);
    metrics_count("ragd_generation_prompt_tokens_total",
                  "Prompt tokens evaluated by the local model", gr.n_prompt);
    if (res->ttft_s > 0) {
        metrics_count("ragd_generation_ttft_seconds_sum",
                      "Sum of the local generations' times to first token", res->ttft_s);
        metrics_count("ragd_generation_ttft_seconds_count",
                      "Local generations that produced a first token", 1);
    }
    if (res->ttft_s > 0)
        metrics_gauge("ragd_generation_last_ttft_seconds",
                      "Time to first token of the last local generation", res->ttft_s);
    if (gr.gen_s > 0)
        metrics_gauge("ragd_generation_last_tokens_per_second",
                      "Decoding speed of the last local generation", gr.n_gen / gr.gen_s);
    llm_gen_result_free(&gr);
    return 0;
}

static int lo_count(void *self, const char *text, size_t len)
{
    struct local *l = self;
    int32_t *ids = NULL;
    size_t n = 0;
    if (llm_tokenize(l->model, text, len, TOKENIZE_PLAIN, &ids, &n))
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
    pthread_mutex_lock(&l->lock);
    json_t *h = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:f, s:f, "
        "s:f, s:f}",
        "status", "healthy", "provider", "local", "model", l->name, "device", "cpu",
        "context_length", llm_session_n_ctx(l->sessions[0]), "parallel", l->n_slots, "active",
        l->active, "queue_depth", l->waiting, "queue_capacity", l->max_queue, "requests",
        (json_int_t)l->requests, "rejected", (json_int_t)l->rejected, "timeouts",
        (json_int_t)l->timeouts, "prompt_tokens", (json_int_t)l->prompt_tokens, "generated_tokens",
        (json_int_t)l->gen_tokens, "tokens_per_second",
        l->gen_s > 0 ? l->gen_tokens / l->gen_s : 0.0, "prompt_tokens_per_second",
        l->prompt_s > 0 ? l->prompt_tokens / l->prompt_s : 0.0, "avg_ttft_ms",
        l->ttft_n ? 1000 * l->ttft_sum_s / (double)l->ttft_n : 0.0, "last_ttft_ms",
        1000 * l->last_ttft_s);
    pthread_mutex_unlock(&l->lock);
    uint64_t steps = 0, toks = 0;
    llm_model_stats(l->model, &steps, &toks);
    json_object_set_new(h, "decode_steps", json_integer((json_int_t)steps));
    json_object_set_new(h, "decode_batch_avg", json_real(steps ? (double)toks / steps : 0));
    return h;
}

static int lo_demand(void *self)
{
    struct local *l = self;
    return l->n_slots + l->max_queue;
}

static void lo_free(void *self)
{
    struct local *l = self;
    if (!l) return;
    for (int i = 0; i < l->n_slots; i++)
        llm_session_free(l->sessions[i]);
    free(l->sessions);
    free(l->busy);
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
    .worker_demand = lo_demand,
    .free = lo_free,
};

static void model_name(const char *path, char *out, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    snprintf(out, cap, "%.*s", (int)(n - b), path + b);
}

int prov_local_create(const char *path, int n_ctx, prov_provider_t **out, char *err, size_t errcap)
{
    struct local *l = xcalloc(1, sizeof *l);
    int threads = (int)config_int("GENERATION_THREADS", 0, 0, 1024);
    l->n_slots = (int)config_int("GENERATION_PARALLEL", 2, 1, 64);
    l->max_queue = (int)config_int("GENERATION_QUEUE_SIZE", 8, 0, 4096);
    l->queue_timeout_s = (int)config_int("GENERATION_QUEUE_TIMEOUT_SECONDS", 120, 1, 3600);
    sampler_params_default(&l->defaults);
    l->defaults.top_p = (float)config_double("GENERATION_TOP_P", 0.9, 0.01, 1);
    l->defaults.top_k = (int)config_int("GENERATION_TOP_K", 40, 0, 1 << 20);
    l->defaults.min_p = (float)config_double("GENERATION_MIN_P", 0, 0, 0.99);
    l->defaults.repeat_penalty =
        (float)config_double("GENERATION_REPETITION_PENALTY", 1.05, 0.01, 10);
    int rc = llm_model_load(path, threads, &l->model, err, errcap);
    if (!rc && !llm_model_tokenizer(l->model))
        rc = ragd_errf(err, errcap, RAGD_ENOTSUP, "the model file has no tokenizer");
    l->sessions = xcalloc((size_t)l->n_slots, sizeof *l->sessions);
    l->busy = xcalloc((size_t)l->n_slots, 1);
    for (int i = 0; !rc && i < l->n_slots; i++)
        if ((rc = llm_session_create(l->model, n_ctx, &l->sessions[i])))
            snprintf(err, errcap, "cannot allocate %d contexts of %d tokens: %s", l->n_slots, n_ctx,
                     ragd_strerror(rc));
    pthread_mutex_init(&l->lock, NULL);
    if (rc) {
        lo_free(l);
        return rc;
    }
    model_name(path, l->name, sizeof l->name);
    prov_provider_t *p = xcalloc(1, sizeof *p);
    p->ops = &local_ops;
    p->self = l;
    *out = p;
    return 0;
}

/* ---- embeddings ---- */

struct local_embedder {
    encoder_t *enc;
    int batch;
    char name[128];
};

static int le_embed(void *self, const char *const *texts, size_t n, float *out, char *err,
                    size_t errcap)
{
    struct local_embedder *e = self;
    int rc = encoder_embed(e->enc, texts, n, e->batch, out);
    if (rc)
        return ragd_errf(err, errcap, rc == RAGD_EINVAL ? RAGD_EINVAL : RAGD_EUNAVAIL,
                         "local embedding failed: %s", ragd_strerror(rc));
    metrics_count("ragd_embedding_texts_total", "Texts embedded by the local encoder", (double)n);
    return 0;
}

static const char *le_model(void *self)
{
    return ((struct local_embedder *)self)->name;
}

static int le_count(void *self, const char *text, size_t len)
{
    struct local_embedder *e = self;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = encoder_tokenize(e->enc, text, len, &ids, &n);
    free(ids);
    return rc ? prov_estimate_tokens(text, len) : (int)n;
}

static void le_free(void *self)
{
    struct local_embedder *e = self;
    if (!e) return;
    encoder_free(e->enc);
    free(e);
}

static const struct prov_embedder_ops local_embedder_ops = {
    .name = "local",
    .embed = le_embed,
    .model = le_model,
    .count_tokens = le_count,
    .free = le_free,
};

int prov_local_embedder_create(const char *path, int batch, prov_embedder_t **out, char *err,
                               size_t errcap)
{
    struct encoder_opts eo = {
        .max_seq = (int)config_int("EMBEDDING_MAX_SEQ", 0, 0, 8192),
        .n_threads = (int)config_int("EMBEDDING_THREADS", 0, 0, 1024),
    };
    struct local_embedder *e = xcalloc(1, sizeof *e);
    int rc = encoder_load(path, &eo, &e->enc, err, errcap);
    if (rc) {
        free(e);
        return rc;
    }
    e->batch = batch;
    model_name(path, e->name, sizeof e->name);
    prov_embedder_t *p = xcalloc(1, sizeof *p);
    p->ops = &local_embedder_ops;
    p->self = e;
    p->dim = (uint32_t)encoder_dim(e->enc);
    *out = p;
    return 0;
}
