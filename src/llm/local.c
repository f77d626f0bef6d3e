/* local.c - the in-process engine as providers: a GGUF language model for generation
 * (engine/llm.h) and a sentence encoder for embeddings (engine/encoder.h).
 *
 * Generation: one model shared by GENERATION_PARALLEL sessions (KV caches). A request takes a
 * free session or waits in a queue of at most GENERATION_QUEUE_SIZE requests (full:
 * RAGD_ELIMIT, which the API answers with 503 and Retry-After; a wait longer than
 * GENERATION_QUEUE_TIMEOUT_SECONDS: RAGD_ETIMEOUT). One user runs at most GENERATION_PER_USER
 * generations at once (default 1; the others wait in the queue) and sessions go round robin
 * by user, so one user's burst cannot hold every session or the whole queue; answers are
 * capped at GENERATION_MAX_TOKENS. Sessions generating at the same time
 * have their decoding steps batched into one forward pass by the engine (prompt slices take
 * turns with them), so one long answer does not hold up the others and concurrent answers
 * cost little more than one; a client that goes away stops its generation at the next
 * token. The model's prefix cache (PREFIX_CACHE_MB, engine/llm.h) keeps recent prompts' KV
 * rows, so a conversation's next turn, or another request with the same system prompt,
 * evaluates only the tokens after the prefix it shares with one of them. */
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
#include "llm/toolfmt.h"

/* ---- the session pool and its queue ----
 *
 * Fairness: a user runs at most per_user generations at once (GENERATION_PER_USER); more of
 * theirs wait in the queue even while a session is free. A session that frees goes to the
 * waiting user with the fewest running generations, then to the one served longest ago
 * (round robin by user), oldest request first within a user. When the queue is full, a
 * newcomer takes the place of the newest waiter of the user holding the most places if that
 * user would still hold at least as many as the newcomer; the displaced request is refused
 * like a full queue. Requests without a user id are each their own user. */

struct user_slot {
    struct user_slot *next;
    char id[64];
    int active, waiting;
    uint64_t last_grant; /* grant sequence of this user's latest session; 0 = never */
};

struct waiter {
    struct waiter *next;
    pthread_cond_t cv;
    struct user_slot *user;
    int slot;    /* handed over by dispatch; -1 while waiting */
    int evicted; /* displaced by another user's request: refused */
};

struct local {
    llm_model_t *model;
    llm_session_t **sessions; /* [n_slots] */
    unsigned char *busy;      /* [n_slots] */
    int n_slots, max_queue, queue_timeout_s, per_user;
    pthread_mutex_t lock;
    struct waiter *head, *tail; /* requests waiting for a session, in arrival order */
    struct user_slot *users;    /* users with running or waiting generations */
    uint64_t grants;            /* sessions handed out so far: the round robin's clock */
    int waiting, active;
    /* figures for /health/detailed and /metrics (under lock) */
    uint64_t requests, rejected, timeouts, prompt_tokens, gen_tokens;
    uint64_t prompt_evaluated; /* prompt tokens not taken from the prefix cache */
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

/* The user's entry, created when absent (under lock). A NULL or empty id gets an entry of its
 * own that no other request finds. Cannot fail. */
static struct user_slot *user_get(struct local *l, const char *id)
{
    int anonymous = !id || !id[0];
    for (struct user_slot *u = l->users; u && !anonymous; u = u->next)
        if (!strcmp(u->id, id)) return u;
    struct user_slot *u = xcalloc(1, sizeof *u);
    if (!anonymous) snprintf(u->id, sizeof u->id, "%s", id);
    u->next = l->users;
    l->users = u;
    return u;
}

/* Forgets u once it has nothing running or waiting (under lock). */
static void user_release(struct local *l, struct user_slot *u)
{
    if (u->active || u->waiting) return;
    struct user_slot **pp = &l->users;
    while (*pp != u)
        pp = &(*pp)->next;
    *pp = u->next;
    free(u);
}

static int may_start(const struct local *l, const struct user_slot *u)
{
    return u->active < l->per_user || !u->id[0];
}

static void grant(struct local *l, struct user_slot *u, int slot)
{
    l->busy[slot] = 1;
    l->active++;
    u->active++;
    u->last_grant = ++l->grants;
}

static void unlink_waiter(struct local *l, struct waiter *w)
{
    struct waiter **pp = &l->head, *prev = NULL;
    while (*pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = w->next;
    if (l->tail == w) l->tail = prev;
    w->next = NULL;
    l->waiting--;
    w->user->waiting--;
}

/* Gives free session slot to the waiter whose turn it is; returns 0 when none may start. */
static int dispatch(struct local *l, int slot)
{
    struct waiter *best = NULL;
    for (struct waiter *w = l->head; w; w = w->next) {
        const struct user_slot *u = w->user;
        if (!may_start(l, u)) continue;
        if (!best || u->active < best->user->active ||
            (u->active == best->user->active && u->last_grant < best->user->last_grant))
            best = w; /* list order: the oldest of each user is met first */
    }
    if (!best) return 0;
    unlink_waiter(l, best);
    grant(l, best->user, slot);
    best->slot = slot;
    pthread_cond_signal(&best->cv);
    return 1;
}

/* Makes room in a full queue for u by displacing the newest waiter of the user with the most
 * waiting requests, if that user keeps at least as many as u will have. 1 if room was made. */
static int displace_for(struct local *l, const struct user_slot *u)
{
    struct user_slot *heavy = NULL;
    for (struct user_slot *v = l->users; v; v = v->next)
        if (v != u && (!heavy || v->waiting > heavy->waiting)) heavy = v;
    if (!heavy || heavy->waiting < u->waiting + 2) return 0;
    struct waiter *newest = NULL;
    for (struct waiter *w = l->head; w; w = w->next)
        if (w->user == heavy) newest = w;
    unlink_waiter(l, newest);
    newest->evicted = 1;
    pthread_cond_signal(&newest->cv);
    return 1;
}

/* How long a request that got a session waited for it (0 when one was free). */
static void observe_queue_wait(double seconds)
{
    metrics_observe_scaled("ragd_generation_queue_wait_seconds", NULL,
                           "Time generation requests waited for a session of the local model",
                           seconds, METRICS_SLOW);
}

static void count_rejected(struct local *l)
{
    l->rejected++;
    metrics_count("ragd_generation_rejected_total",
                  "Generation requests refused because the queue was full", 1);
}

/* Takes a session for user (may be NULL), or queues for one. 0 with *slot and *who (pass
 * both to slot_put), RAGD_ELIMIT (queue full, or displaced by another user) or
 * RAGD_ETIMEOUT. */
static int slot_get(struct local *l, const char *user, int *slot, struct user_slot **who)
{
    pthread_mutex_lock(&l->lock);
    struct user_slot *u = user_get(l, user);
    if (may_start(l, u)) {
        for (int i = 0; i < l->n_slots; i++) {
            if (!l->busy[i]) { /* a free session: nobody who may start is waiting */
                grant(l, u, i);
                *slot = i;
                *who = u;
                unlock_publish(l);
                observe_queue_wait(0);
                return 0;
            }
        }
    }
    if (l->waiting >= l->max_queue && !displace_for(l, u)) {
        count_rejected(l);
        user_release(l, u);
        pthread_mutex_unlock(&l->lock);
        return RAGD_ELIMIT;
    }
    struct waiter w = {.slot = -1, .user = u};
    double queued_at = mono_s();
    pthread_cond_init(&w.cv, NULL);
    if (l->tail)
        l->tail->next = &w;
    else
        l->head = &w;
    l->tail = &w;
    l->waiting++;
    u->waiting++;
    metrics_gauge("ragd_generation_queue_depth", "Generation requests waiting for a session",
                  l->waiting);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += l->queue_timeout_s;
    int rc = 0;
    while (w.slot < 0 && !w.evicted && rc == 0)
        rc = pthread_cond_timedwait(&w.cv, &l->lock, &dl);
    if (w.slot < 0) {
        if (w.evicted) { /* displace_for took us out of the queue */
            count_rejected(l);
            rc = RAGD_ELIMIT;
        } else { /* timed out: leave the queue */
            unlink_waiter(l, &w);
            l->timeouts++;
            rc = RAGD_ETIMEOUT;
        }
        user_release(l, u);
        unlock_publish(l);
        pthread_cond_destroy(&w.cv);
        return rc;
    }
    *slot = w.slot; /* dispatch dequeued us and counted us active */
    *who = u;
    unlock_publish(l);
    pthread_cond_destroy(&w.cv);
    observe_queue_wait(mono_s() - queued_at);
    return 0;
}

/* Hands the session to the waiter whose turn it is, or frees it. */
static void slot_put(struct local *l, int slot, struct user_slot *u)
{
    pthread_mutex_lock(&l->lock);
    u->active--;
    l->active--;
    l->busy[slot] = 0;
    dispatch(l, slot);
    user_release(l, u);
    unlock_publish(l);
}

/* ---- generation ---- */

struct relay {
    prov_token_fn fn;
    void *ud;
    int stopped;
    double t0, first; /* call start, first text (0 until then) */
    enum toolfmt_mode mode;
    struct sbuf all; /* the text so far, when tool calls may be held back from the stream */
    size_t shown;    /* bytes of it passed to fn */
};

static int relay_out(struct relay *r, const char *text, size_t len)
{
    if (len && r->fn && r->fn(r->ud, text, len)) {
        r->stopped = 1;
        return 1;
    }
    return 0;
}

static int on_text(void *ud, const char *text, size_t len)
{
    struct relay *r = ud;
    if (!r->first && len) r->first = mono_s();
    if (r->mode == TOOLFMT_TEXT || r->mode == TOOLFMT_JSON) return relay_out(r, text, len);
    /* A tool call is not text: what may be one is held back until it is known. */
    sb_add(&r->all, text, len);
    size_t vis = toolfmt_visible(r->mode, r->all.s, r->all.len);
    if (vis <= r->shown) return 0;
    size_t from = r->shown;
    r->shown = vis;
    return relay_out(r, r->all.s + from, vis - from);
}

/* A token's text for logprobs: its bytes, with invalid UTF-8 replaced by U+FFFD. */
static json_t *token_json(const tokenizer_t *t, int32_t id, float lp, int with_top)
{
    const char *b = "";
    size_t n = 0;
    if (tokenizer_token_bytes(t, id, &b, &n)) n = 0;
    json_t *bytes = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(bytes, json_integer((unsigned char)b[i]));
    json_t *text = json_stringn(b, n);
    if (!text) {
        struct sbuf s;
        sb_init(&s);
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)b[i] < 0x80)
                sb_add(&s, b + i, 1);
            else
                sb_adds(&s, "\xef\xbf\xbd");
        }
        text = json_string(s.s ? s.s : "");
        sb_free(&s);
    }
    json_t *o = json_pack("{s:o, s:f, s:o}", "token", text, "logprob", (double)lp, "bytes", bytes);
    if (with_top) json_object_set_new(o, "top_logprobs", json_array());
    return o;
}

static json_t *logprobs_json(const tokenizer_t *t, const struct llm_gen_result *gr)
{
    json_t *a = json_array();
    for (size_t i = 0; i < gr->n_logprobs; i++) {
        const struct llm_token_logprob *e = &gr->logprobs[i];
        json_t *o = token_json(t, e->token, e->logprob, 1);
        json_t *top = json_object_get(o, "top_logprobs");
        for (int k = 0; k < e->n_top; k++)
            json_array_append_new(top, token_json(t, e->top_ids[k], e->top_logprobs[k], 0));
        json_array_append_new(a, o);
    }
    return a;
}

static int lo_generate(void *self, const struct prov_request *req, prov_token_fn on_token, void *ud,
                       struct prov_result *res, char *err, size_t errcap)
{
    struct local *l = self;
    memset(res, 0, sizeof *res);
    struct toolfmt tf;
    int rc = toolfmt_prepare(req, &tf, err, errcap);
    if (rc) return rc;
    struct relay rl = {on_token, ud, 0, mono_s(), 0, tf.mode};
    sb_init(&rl.all);
    int slot;
    struct user_slot *who;
    rc = slot_get(l, req->user_id, &slot, &who);
    if (rc) {
        toolfmt_free(&tf);
        sb_free(&rl.all);
    }
    if (rc == RAGD_ELIMIT)
        return ragd_errf(err, errcap, rc, "the generation queue is full (%d waiting)",
                         l->max_queue);
    if (rc)
        return ragd_errf(err, errcap, rc, "no generation slot became free within %d s",
                         l->queue_timeout_s);
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    gp.sampling = l->defaults;
    gp.n_predict = req->max_tokens > 0 && req->max_tokens < prov_max_tokens() ? req->max_tokens
                                                                              : prov_max_tokens();
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
    gp.sampling.presence_penalty = (float)req->presence_penalty;
    gp.sampling.frequency_penalty = (float)req->frequency_penalty;
    if (req->repetition_penalty > 0) gp.sampling.repeat_penalty = (float)req->repetition_penalty;
    if (req->top_k) gp.sampling.top_k = req->top_k == PROV_TOP_K_OFF ? 0 : req->top_k;
    if (req->min_p > 0) gp.sampling.min_p = (float)req->min_p;
    /* struct prov_bias and struct sampler_bias are the same pair */
    struct sampler_bias *bias = xcalloc(req->n_logit_bias + 1, sizeof *bias);
    for (size_t i = 0; i < req->n_logit_bias; i++)
        bias[i] = (struct sampler_bias){req->logit_bias[i].token, req->logit_bias[i].bias};
    gp.sampling.bias = bias;
    gp.sampling.n_bias = req->n_logit_bias;
    if (req->logprobs) gp.n_logprobs = req->top_logprobs;
    gp.grammar = tf.grammar;
    struct llm_gen_result gr = {0};
    const tokenizer_t *tok = llm_model_tokenizer(l->model);
    int32_t *ids = NULL, *pre = NULL;
    size_t n_ids = 0, n_pre = 0;
    rc = chatml_encode(tok, tf.msgs, tf.n_msgs, 1, 0, &ids, &n_ids);
    if (!rc && tf.prefill && !(rc = chatml_encode_template(tok, tf.prefill, &pre, &n_pre))) {
        ids = xrealloc(ids, (n_ids + n_pre) * sizeof *ids);
        memcpy(ids + n_ids, pre, n_pre * sizeof *ids);
        n_ids += n_pre;
    }
    free(pre);
    if (!rc) {
        llm_session_reset(l->sessions[slot]);
        rc = llm_generate(l->sessions[slot], ids, n_ids, &gp, on_text, &rl, &gr);
    }
    free(ids);
    slot_put(l, slot, who);
    free(bias);
    if (rc) {
        toolfmt_free(&tf);
        sb_free(&rl.all);
        llm_gen_result_free(&gr);
        if (rc == RAGD_ERANGE)
            return ragd_errf(err, errcap, RAGD_EINVAL, "the prompt does not fit the context");
        return ragd_errf(err, errcap, RAGD_EUNAVAIL, "local generation failed: %s",
                         ragd_strerror(rc));
    }
    res->text = gr.text ? gr.text : xstrdup("");
    gr.text = NULL;
    toolfmt_finish(&tf, res);
    if (tf.mode == TOOLFMT_AUTO && !res->n_tool_calls && rl.shown < rl.all.len && !rl.stopped)
        relay_out(&rl, rl.all.s + rl.shown, rl.all.len - rl.shown); /* held back, not a call */
    toolfmt_free(&tf);
    sb_free(&rl.all);
    res->prompt_tokens = gr.n_prompt;
    res->completion_tokens = gr.n_gen;
    if (gr.logprobs || req->logprobs)
        res->logprobs = logprobs_json(llm_model_tokenizer(l->model), &gr);
    res->stopped = rl.stopped;
    res->truncated = gr.stop == LLM_STOP_LENGTH || gr.stop == LLM_STOP_CONTEXT;
    res->ttft_s = rl.first ? rl.first - rl.t0 : 0;
    snprintf(res->model, sizeof res->model, "%s", l->name);
    pthread_mutex_lock(&l->lock);
    l->requests++;
    l->prompt_tokens += (uint64_t)gr.n_prompt;
    l->prompt_evaluated += (uint64_t)(gr.n_prompt - gr.n_cached);
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
                  "Prompt tokens of the local model's generations (cached ones included)",
                  gr.n_prompt);
    metrics_count("ragd_generation_prompt_cached_tokens_total",
                  "Prompt tokens whose KV rows came from the prefix cache", gr.n_cached);
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

/* Exactly what lo_generate feeds the model for these messages (tool turns rendered by
 * toolfmt as the model's template has them): the ChatML prompt with the assistant opener. */
static int lo_count_prompt(void *self, const struct prov_message *msgs, size_t n)
{
    struct local *l = self;
    const tokenizer_t *tok = llm_model_tokenizer(l->model);
    int total = 0;
    for (size_t i = 0; i < n; i++)
        total += prov_estimate_tokens(msgs[i].content, strlen(msgs[i].content)) + 8;
    struct prov_request req = {.messages = msgs, .n_messages = n};
    struct toolfmt tf;
    char err[256];
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (tok && !toolfmt_prepare(&req, &tf, err, sizeof err)) {
        if (!chatml_encode(tok, tf.msgs, tf.n_msgs, 1, 0, &ids, &n_ids)) total = (int)n_ids;
        toolfmt_free(&tf);
    }
    free(ids);
    return total;
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
        "{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:f, "
        "s:f, s:f, s:f}",
        "status", "healthy", "provider", "local", "model", l->name, "device", "cpu",
        "context_length", llm_session_n_ctx(l->sessions[0]), "parallel", l->n_slots, "per_user",
        l->per_user, "active", l->active, "queue_depth", l->waiting, "queue_capacity", l->max_queue,
        "requests", (json_int_t)l->requests, "rejected", (json_int_t)l->rejected, "timeouts",
        (json_int_t)l->timeouts, "prompt_tokens", (json_int_t)l->prompt_tokens, "generated_tokens",
        (json_int_t)l->gen_tokens, "tokens_per_second",
        l->gen_s > 0 ? l->gen_tokens / l->gen_s : 0.0, "prompt_tokens_per_second",
        l->prompt_s > 0 ? l->prompt_evaluated / l->prompt_s : 0.0, "avg_ttft_ms",
        l->ttft_n ? 1000 * l->ttft_sum_s / (double)l->ttft_n : 0.0, "last_ttft_ms",
        1000 * l->last_ttft_s);
    pthread_mutex_unlock(&l->lock);
    uint64_t steps = 0, toks = 0;
    llm_model_stats(l->model, &steps, &toks);
    json_object_set_new(h, "decode_steps", json_integer((json_int_t)steps));
    json_object_set_new(h, "decode_batch_avg", json_real(steps ? (double)toks / steps : 0));
    struct llm_prefix_stats ps;
    llm_model_prefix_stats(l->model, &ps);
    json_object_set_new(h, "prefix_cache",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:I, s:I}", "lookups",
                                  (json_int_t)ps.lookups, "hits", (json_int_t)ps.hits,
                                  "reused_tokens", (json_int_t)ps.reused, "saved_tokens",
                                  (json_int_t)ps.saved, "evictions", (json_int_t)ps.evictions,
                                  "entries", ps.entries, "bytes", (json_int_t)ps.bytes,
                                  "spare_bytes", (json_int_t)ps.spare_bytes, "budget_bytes",
                                  (json_int_t)ps.budget));
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
    while (l->users) { /* none after the last request; kept tidy for a failed start */
        struct user_slot *u = l->users;
        l->users = u->next;
        free(u);
    }
    llm_model_free(l->model);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static const struct prov_provider_ops local_ops = {
    .name = "local",
    .generate = lo_generate,
    .count_tokens = lo_count,
    .count_prompt = lo_count_prompt,
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
    l->per_user = (int)config_int("GENERATION_PER_USER", 1, 1, 64);
    sampler_params_default(&l->defaults);
    l->defaults.top_p = (float)config_double("GENERATION_TOP_P", 0.9, 0.01, 1);
    l->defaults.top_k = (int)config_int("GENERATION_TOP_K", 40, 0, 1 << 20);
    l->defaults.min_p = (float)config_double("GENERATION_MIN_P", 0, 0, 0.99);
    l->defaults.repeat_penalty =
        (float)config_double("GENERATION_REPETITION_PENALTY", 1.05, 0.01, 10);
    size_t prefix_mb = (size_t)config_int("PREFIX_CACHE_MB", 1024, 0, 1048576);
    int rc =
        llm_model_load(path, threads, config_bool("RAGD_WEIGHTS_MMAP", 0), &l->model, err, errcap);
    if (!rc) llm_model_prefix_cache(l->model, prefix_mb << 20);
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
        .bf16 = config_bool("EMBEDDING_BF16", 0),
        .int8 = config_bool("EMBEDDING_INT8", 0),
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
