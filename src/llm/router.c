/* router.c - the provider key pool in memory, routing with failover, the health monitor
 * (llm/router.h). */
#include "llm/router.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/seal.h"
#include "core/util.h"
#include "ops/notify.h"
#include "store/provider_keys.h"

static const char *const features[] = {"chat",    "flashcard", "mcq",        "highyield",
                                       "explain", "map",       "embeddings", NULL};
enum { NFEAT = 7 };

/* One key as the router holds it. Immutable once in a snapshot except last_used_ms. */
struct rkey {
    char id[48], provider[16], feature[16], label[64], last4[8], status[12];
    char *model, *base_url;
    int priority, pooled, broken;
    int64_t cooldown_until_ms, failure_count, success_total, failure_total, created_ms;
    _Atomic int64_t last_used_ms;
    prov_provider_t *p; /* generation; NULL when broken or an embeddings key */
    prov_embedder_t *e; /* an embeddings key's embedder; NULL otherwise */
};

/* The pool as loaded at one version; requests hold a reference while they use its keys. */
struct snap {
    atomic_int refs;
    struct rkey *k;
    size_t n;
    int64_t version, user_keys;
};

static struct {
    pthread_mutex_t mu; /* cur, env cooldown, usable[] */
    struct snap *cur;
    struct rkey env; /* the OPENAI_* entry (has_env) */
    int has_env;
    prov_provider_t *local;
    prov_provider_t self;
    int started;
    int max_attempts, threshold, backoff_ms, cooldown_s, retry_after_max_s, timeout_s;
    int64_t sync_ms, interval_ms, idle_ms;
    uint32_t emb_dim;          /* the index's dimension: embeddings keys must produce it */
    prov_embedder_t *emb_base; /* the configured embedder (borrowed), the last resort */
    prov_embedder_t emb_self;
    int usable[NFEAT];
    /* A request found every candidate of the feature failing (keys still active): the feature
     * counts as unusable until an attempt or a health check of one of its keys succeeds. */
    int failing[NFEAT];
    int64_t last_all_failed_ms[NFEAT];
    void (*hook)(const char *feature, int usable);
    char node[37];
    pthread_t thread;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stopping;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .stop_mu = PTHREAD_MUTEX_INITIALIZER,
       .stop_cv = PTHREAD_COND_INITIALIZER};

static void provider_free(prov_provider_t *p)
{
    if (!p) return;
    p->ops->free(p->self);
    free(p);
}

static void embedder_free(prov_embedder_t *e)
{
    if (!e) return;
    e->ops->free(e->self);
    free(e);
}

static prov_provider_t *make_provider(const char *provider, const char *base, const char *key,
                                      const char *model)
{
    if (!strcmp(provider, "gemini")) return prov_gemini_create(base, key, model, R.timeout_s);
    return prov_openai_create(base, key, model, R.timeout_s);
}

/* ---- snapshots ---- */

static void snap_release(struct snap *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (size_t i = 0; i < s->n; i++) {
        provider_free(s->k[i].p);
        embedder_free(s->k[i].e);
        free(s->k[i].model);
        free(s->k[i].base_url);
    }
    free(s->k);
    free(s);
}

static struct snap *snap_get(void)
{
    pthread_mutex_lock(&R.mu);
    struct snap *s = R.cur;
    if (s) atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&R.mu);
    return s;
}

/* Whether f names the embeddings feature. Not inlined: callers pass generation features the
 * compiler can see, and a folded comparison is a warning. */
__attribute__((noinline)) static int is_emb(const char *f)
{
    return !strcmp(f, "embeddings");
}

/* Whether k serves feature: its own feature, or "*" (every generation feature; embeddings
 * keys are named as such, since an embedding model is not a chat model). */
static int covers(const struct rkey *k, const char *feature)
{
    if (!strcmp(k->feature, feature)) return 1;
    return !strcmp(k->feature, "*") && !is_emb(feature);
}

/* Whether the router would try k for feature now. */
static int tryable(const struct rkey *k, const char *feature, int64_t now)
{
    return (k->p || k->e) && !k->broken && covers(k, feature) && strcmp(k->status, "disabled") &&
           k->cooldown_until_ms <= now;
}

static int usable_in(const struct snap *s, const char *feature, int64_t now)
{
    if (R.local || (R.has_env && R.env.cooldown_until_ms <= now && !is_emb(feature))) return 1;
    for (size_t i = 0; s && i < s->n; i++)
        if (tryable(&s->k[i], feature, now)) return 1;
    return 0;
}

/* Sets or clears the failing mark of feature (NULL: every feature k serves). Returns
 * whether a mark changed. */
static int mark_failing(const struct rkey *k, const char *feature, int failing)
{
    int changed = 0;
    pthread_mutex_lock(&R.mu);
    for (int f = 0; f < NFEAT; f++)
        if (feature ? !strcmp(features[f], feature) : covers(k, features[f])) {
            changed |= R.failing[f] != failing;
            R.failing[f] = failing;
        }
    pthread_mutex_unlock(&R.mu);
    return changed;
}

static void check_availability(void);

/* Fires the availability hook (and all_keys_failed) for every feature whose usability
 * changed. Only features the pool serves are watched. */
static void check_availability(void)
{
    struct snap *s = snap_get();
    int64_t now = time_now_ms();
    for (int f = 0; f < NFEAT; f++) {
        int served = 0;
        for (size_t i = 0; s && i < s->n; i++)
            served |= covers(&s->k[i], features[f]);
        pthread_mutex_lock(&R.mu);
        int u = served ? usable_in(s, features[f], now) && !R.failing[f] : 1;
        int was = R.usable[f];
        R.usable[f] = u;
        void (*hook)(const char *, int) = R.hook;
        pthread_mutex_unlock(&R.mu);
        if (was == u) continue;
        if (!u)
            store_pkey_notify(NOTIFY_ALL_KEYS_FAILED,
                              json_pack("{s:s, s:s}", "feature", features[f], "message",
                                        router_unavailable_message(features[f])));
        log_json(u ? LOG_INFO : LOG_WARN,
                 u ? "provider feature usable again"
                   : "feature has no "
                     "usable provider key",
                 json_pack("{s:s}", "feature", features[f]));
        if (hook) hook(features[f], u);
    }
    snap_release(s);
}

/* Records what happened with a key: health row, counters, status (store), metrics. */
/* ---- the success writer ----
 *
 * A success of an active key changes no status: its health row and counters are written by
 * this thread in batches, off the request's path. Failures and transitions are written at
 * once (their status must be in force before the next request). */

enum { WRITER_MAX = 20000 };

struct pending {
    struct store_pkey_attempt a;
    char key_id[48], provider[16], feature[16];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pending *q;
    size_t n, cap;
    int stop, running;
    pthread_t thread;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *writer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&W.mu);
    for (;;) {
        while (!W.n && !W.stop)
            pthread_cond_wait(&W.cv, &W.mu);
        if (!W.n && W.stop) break;
        struct pending *q = W.q;
        size_t n = W.n;
        W.q = NULL;
        W.n = W.cap = 0;
        pthread_mutex_unlock(&W.mu);
        struct store_pkey_attempt *a = xmalloc(n * sizeof *a);
        for (size_t i = 0; i < n; i++) {
            a[i] = q[i].a;
            a[i].key_id = q[i].key_id;
            a[i].provider = q[i].provider;
            a[i].feature = q[i].feature;
        }
        int rc = store_pkey_record_successes(a, n);
        if (rc)
            log_json(
                LOG_WARN, "provider successes not recorded",
                json_pack("{s:I, s:s}", "attempts", (json_int_t)n, "error", ragd_strerror(rc)));
        free(a);
        free(q);
        pthread_mutex_lock(&W.mu);
    }
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

static int enqueue_success(const struct store_pkey_attempt *a)
{
    pthread_mutex_lock(&W.mu);
    int ok = W.running && W.n < WRITER_MAX;
    if (ok) {
        if (W.n == W.cap) {
            W.cap = W.cap ? W.cap * 2 : 64;
            W.q = xrealloc(W.q, W.cap * sizeof *W.q);
        }
        struct pending *p = &W.q[W.n++];
        p->a = *a;
        p->a.at_ms = time_now_ms();
        snprintf(p->key_id, sizeof p->key_id, "%s", a->key_id);
        snprintf(p->provider, sizeof p->provider, "%s", a->provider);
        snprintf(p->feature, sizeof p->feature, "%s", a->feature);
        pthread_cond_signal(&W.cv);
    }
    pthread_mutex_unlock(&W.mu);
    return ok;
}

static void writer_start(void)
{
    W.stop = 0;
    W.running = !pthread_create(&W.thread, NULL, writer, NULL);
}

/* Writes what is queued and stops. */
static void writer_stop(void)
{
    if (!W.running) return;
    pthread_mutex_lock(&W.mu);
    W.stop = 1;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.thread, NULL);
    W.running = 0;
}

static void record(const struct rkey *k, const char *feature, enum store_pkey_outcome o,
                   const char *kind, int64_t latency_ns, int64_t cooldown_until, int *changed)
{
    int64_t latency_ms = latency_ns / 1000000;
    struct store_pkey_attempt a = {.key_id = k->id,
                                   .provider = k->provider,
                                   .feature = feature,
                                   .label = k->label,
                                   .outcome = o,
                                   .error_kind = kind,
                                   .latency_ms = latency_ms,
                                   .cooldown_until_ms = cooldown_until,
                                   .threshold = R.threshold,
                                   .pooled = k->pooled};
    if (changed) *changed = 0;
    int rc = o == PKEY_OK && !strcmp(k->status, "active") && enqueue_success(&a)
                 ? 0
                 : store_pkey_record(&a, NULL, changed);
    if (rc && rc != RAGD_ENOTFOUND)
        log_json(LOG_WARN, "provider attempt not recorded",
                 json_pack("{s:s, s:s}", "key_id", k->id, "error", ragd_strerror(rc)));
    char labels[160];
    snprintf(labels, sizeof labels, "provider=\"%s\",feature=\"%s\",outcome=\"%s\"", k->provider,
             feature, store_pkey_outcome_name(o));
    metrics_count_labeled("ragd_provider_requests_total", labels,
                          "Attempts with provider keys by provider, feature and outcome", 1);
    snprintf(labels, sizeof labels, "provider=\"%s\",feature=\"%s\"", k->provider, feature);
    metrics_observe("ragd_provider_request_duration_seconds", labels,
                    "Time of one attempt with a provider key", (double)latency_ns / 1e9);
}

/* Loads the pool at the current version (keys that do not open are marked broken and
 * disabled). */
static void reload(void)
{
    int64_t version = 0, users = 0;
    struct store_pkey *keys = NULL;
    size_t n = 0;
    if (store_pkey_version(&version) || store_pkey_list(&keys, &n)) {
        log_msg(LOG_WARN, "provider pool not reloaded: the database is unreachable");
        return;
    }
    store_pkey_user_count(&users);
    struct snap *s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->version = version;
    s->user_keys = users;
    s->n = n;
    s->k = xcalloc(n ? n : 1, sizeof *s->k);
    for (size_t i = 0; i < n; i++) {
        struct rkey *k = &s->k[i];
        struct store_pkey *src = &keys[i];
        snprintf(k->id, sizeof k->id, "%s", src->id);
        snprintf(k->provider, sizeof k->provider, "%s", src->provider);
        snprintf(k->feature, sizeof k->feature, "%s", src->feature);
        snprintf(k->label, sizeof k->label, "%s", src->label ? src->label : "");
        snprintf(k->last4, sizeof k->last4, "%s", src->last4);
        snprintf(k->status, sizeof k->status, "%s", src->status);
        k->model = xstrdup(src->model);
        k->base_url = xstrdup(src->base_url);
        k->priority = src->priority;
        k->pooled = 1;
        k->cooldown_until_ms = src->cooldown_until_ms;
        k->failure_count = src->failure_count;
        k->success_total = src->success_total;
        k->failure_total = src->failure_total;
        atomic_init(&k->last_used_ms, src->last_used_ms);
        if (time_parse_iso(src->created_at, &k->created_ms)) k->created_ms = 0;
        char *plain = NULL;
        if (seal_decrypt(src->ciphertext, src->nonce, src->tag, src->id, &plain)) {
            k->broken = 1;
        } else {
            if (!strcmp(k->feature, "embeddings"))
                k->e = prov_openai_embedder_create(k->base_url, plain, k->model, R.emb_dim,
                                                   R.timeout_s);
            else
                k->p = make_provider(k->provider, k->base_url, plain, k->model);
            seal_wipe(plain);
        }
    }
    store_pkeys_free(keys, n);
    pthread_mutex_lock(&R.mu);
    struct snap *old = R.cur;
    R.cur = s;
    pthread_mutex_unlock(&R.mu);
    snap_release(old);
    /* A key whose ciphertext does not open is disabled (once) and reported. */
    for (size_t i = 0; i < s->n; i++) {
        struct rkey *k = &s->k[i];
        if (!k->broken || !strcmp(k->status, "disabled")) continue;
        log_json(LOG_ERROR, "provider key cannot be decrypted: disabled",
                 json_pack("{s:s, s:s}", "key_id", k->id, "label", k->label));
        record(k, k->feature, PKEY_TAMPERED, "undecryptable", 0, 0, NULL);
    }
    check_availability();
}

void router_reload(void)
{
    if (!R.started) return;
    /* An admin changed the pool: whether its features work is for the next attempts to say. */
    pthread_mutex_lock(&R.mu);
    memset(R.failing, 0, sizeof R.failing);
    pthread_mutex_unlock(&R.mu);
    reload();
}

/* ---- routing ---- */

const char *router_task_feature(enum prov_task t)
{
    switch (t) {
    case PROV_TASK_FLASHCARD:
        return "flashcard";
    case PROV_TASK_MCQ:
        return "mcq";
    case PROV_TASK_HIGHYIELD:
        return "highyield";
    case PROV_TASK_EXPLAIN:
        return "explain";
    case PROV_TASK_MAP:
        return "map";
    case PROV_TASK_ANSWER:
        break;
    }
    return "chat";
}

const char *router_unavailable_message(const char *f)
{
    return !strcmp(f, "mcq")          ? "MCQ generation temporarily unavailable"
           : !strcmp(f, "flashcard")  ? "Flashcard generation temporarily unavailable"
           : !strcmp(f, "highyield")  ? "High-yield summary generation temporarily unavailable"
           : !strcmp(f, "explain")    ? "Explanation generation temporarily unavailable"
           : !strcmp(f, "map")        ? "Concept map generation temporarily unavailable"
           : !strcmp(f, "embeddings") ? "Embeddings temporarily unavailable"
                                      : "Chat temporarily unavailable";
}

struct cand {
    struct rkey *k;
    int transient; /* a personal key built for this request: freed after it */
};

static int cand_cmp(const void *a, const void *b)
{
    const struct rkey *x = ((const struct cand *)a)->k, *y = ((const struct cand *)b)->k;
    if (x->priority != y->priority) return x->priority > y->priority ? -1 : 1;
    int64_t lx = atomic_load(&x->last_used_ms), ly = atomic_load(&y->last_used_ms);
    return lx < ly ? -1 : lx > ly;
}

/* The user's personal key as a transient candidate, or NULL. */
static struct rkey *personal_key(const char *user_id)
{
    struct store_pkey k;
    if (!user_id || store_pkey_user_get(user_id, &k)) return NULL;
    char *plain = NULL;
    struct rkey *r = xcalloc(1, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", k.id);
    snprintf(r->provider, sizeof r->provider, "%s", k.provider);
    snprintf(r->feature, sizeof r->feature, "*");
    snprintf(r->label, sizeof r->label, "personal");
    snprintf(r->status, sizeof r->status, "active");
    snprintf(r->last4, sizeof r->last4, "%s", k.last4);
    r->model = xstrdup(k.model);
    r->base_url = xstrdup(k.base_url);
    if (seal_decrypt(k.ciphertext, k.nonce, k.tag, k.id, &plain)) {
        r->broken = 1;
    } else {
        r->p = make_provider(r->provider, r->base_url, plain, r->model);
        seal_wipe(plain);
    }
    store_pkey_clear(&k);
    return r;
}

static void rkey_free(struct rkey *k)
{
    if (!k) return;
    provider_free(k->p);
    free(k->model);
    free(k->base_url);
    free(k);
}

/* Candidates for feature in order (see router.h); at most cap. */
static size_t candidates(struct snap *s, const char *feature, int emb, const char *user_id,
                         struct cand *out, size_t cap)
{
    size_t n = 0;
    int64_t now = time_now_ms();
    if (s && s->user_keys > 0 && user_id && !emb) {
        struct rkey *pk = personal_key(user_id);
        if (pk && pk->p && n < cap)
            out[n++] = (struct cand){pk, 1};
        else
            rkey_free(pk);
    }
    size_t first = n;
    for (size_t i = 0; s && i < s->n && n < cap; i++)
        if (tryable(&s->k[i], feature, now) && !strcmp(s->k[i].status, "active"))
            out[n++] = (struct cand){&s->k[i], 0};
    pthread_mutex_lock(&R.mu);
    int env_ok = R.has_env && R.env.cooldown_until_ms <= now && !emb;
    pthread_mutex_unlock(&R.mu);
    if (env_ok && n < cap) out[n++] = (struct cand){&R.env, 0};
    qsort(out + first, n - first, sizeof *out, cand_cmp);
    first = n;
    for (size_t i = 0; s && i < s->n && n < cap; i++)
        if (tryable(&s->k[i], feature, now) && !strcmp(s->k[i].status, "degraded"))
            out[n++] = (struct cand){&s->k[i], 0};
    qsort(out + first, n - first, sizeof *out, cand_cmp);
    return n;
}

/* The soonest cooldown end among feature's keys that is at most bound_ms away (0: none). */
static int64_t short_cooldown(struct snap *s, const char *feature, int64_t bound_ms,
                              struct rkey **which)
{
    int64_t now = time_now_ms(), best = 0;
    *which = NULL;
    for (size_t i = 0; s && i < s->n; i++) {
        struct rkey *k = &s->k[i];
        if (!k->p || !covers(k, feature) || strcmp(k->status, "active") ||
            k->cooldown_until_ms <= now || k->cooldown_until_ms - now > bound_ms)
            continue;
        if (!best || k->cooldown_until_ms < best) {
            best = k->cooldown_until_ms;
            *which = k;
        }
    }
    return best;
}

struct relay {
    prov_token_fn fn;
    void *ud;
    int started;
};

static int relay_piece(void *ud, const char *text, size_t len)
{
    struct relay *r = ud;
    r->started = 1;
    return r->fn ? r->fn(r->ud, text, len) : 0;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Classifies a failed attempt. */
static enum store_pkey_outcome classify(int rc, const struct prov_result *res, char *kind,
                                        size_t cap)
{
    if (res->http_status == 429) {
        snprintf(kind, cap, "http_429");
        return PKEY_RATE_LIMITED;
    }
    if (res->http_status == 401 || res->http_status == 403) {
        snprintf(kind, cap, "http_%d", res->http_status);
        return PKEY_AUTH;
    }
    if (rc == RAGD_ETIMEOUT)
        snprintf(kind, cap, "timeout");
    else if (res->invalid_reply)
        snprintf(kind, cap, "invalid_reply");
    else if (res->http_status)
        snprintf(kind, cap, "http_%d", res->http_status);
    else
        snprintf(kind, cap, "unreachable");
    return PKEY_ERROR;
}

/* Classifies a failed call whose backend reports only a message (embedders): the status is
 * read from ragd's own "(HTTP n)" wording in it. */
static enum store_pkey_outcome classify_text(int rc, const char *err, char *kind, size_t cap)
{
    struct prov_result res = {0};
    const char *h = strstr(err, "(HTTP ");
    if (h) res.http_status = (int)strtol(h + 6, NULL, 10);
    res.invalid_reply = rc == RAGD_EFORMAT;
    return classify(rc, &res, kind, cap);
}

/* One attempt with k. Returns the backend's status; *outcome what it was. */
static int attempt(struct rkey *k, const char *feature, const struct prov_request *req,
                   struct relay *relay, struct prov_result *res, enum store_pkey_outcome *outcome,
                   char *err, size_t errcap)
{
    int64_t t0 = time_mono_ns();
    int rc = k->p->ops->generate(k->p->self, req, relay_piece, relay, res, err, errcap);
    int64_t ns = time_mono_ns() - t0;
    char kind[32] = "";
    *outcome = rc ? classify(rc, res, kind, sizeof kind) : PKEY_OK;
    int64_t until = 0;
    if (*outcome == PKEY_RATE_LIMITED) {
        int wait = res->retry_after_s > 0 ? res->retry_after_s : R.cooldown_s;
        until = time_now_ms() + (int64_t)wait * 1000;
    }
    atomic_store(&k->last_used_ms, time_now_ms());
    if (k == &R.env) {
        if (until) {
            pthread_mutex_lock(&R.mu);
            R.env.cooldown_until_ms = until;
            pthread_mutex_unlock(&R.mu);
        }
        record(k, feature, *outcome, rc ? kind : NULL, ns, until, NULL);
        if (!rc && mark_failing(k, feature, 0)) check_availability();
        return rc;
    }
    int changed = 0;
    record(k, feature, *outcome, rc ? kind : NULL, ns, until, &changed);
    if (changed) reload(); /* this node sees its own status changes at once */
    if (!rc && mark_failing(k, feature, 0)) check_availability();
    return rc;
}

static void note_failover(const struct rkey *from, const char *feature)
{
    char labels[96];
    snprintf(labels, sizeof labels, "feature=\"%s\"", feature);
    metrics_count_labeled("ragd_provider_failovers_total", labels,
                          "Requests moved on to another provider key after a failure", 1);
    /* One failover notification per key and minute: a burst of requests is one event. */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char last_id[48];
    static int64_t last_ms;
    int64_t now = time_now_ms();
    pthread_mutex_lock(&mu);
    int emit = strcmp(last_id, from->id) || now - last_ms > 60000;
    if (emit) {
        snprintf(last_id, sizeof last_id, "%s", from->id);
        last_ms = now;
    }
    pthread_mutex_unlock(&mu);
    if (emit)
        store_pkey_notify(NOTIFY_FAILOVER,
                          json_pack("{s:s, s:s, s:s, s:s}", "from_key", from->id, "label",
                                    from->label, "provider", from->provider, "feature", feature));
}

static int rt_generate(void *self, const struct prov_request *req, prov_token_fn on_token, void *ud,
                       struct prov_result *res, char *err, size_t errcap)
{
    (void)self;
    const char *feature = router_task_feature(req->task);
    struct snap *s = snap_get();
    struct cand c[64];
    size_t n = candidates(s, feature, 0, req->user_id, c, 64);
    struct relay relay = {on_token, ud, 0};
    int rc = RAGD_ENOPROVIDER, attempts = 0, done = 0, pooled_tried = 0;
    char last[256] = "";
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < n && !done; i++) {
        if (attempts >= R.max_attempts) break;
        if (attempts) {
            note_failover(c[i - 1].k, feature);
            int64_t b = (int64_t)R.backoff_ms << (attempts - 1);
            sleep_ms(b > 1000 ? 1000 : b);
        }
        attempts++;
        pooled_tried |= c[i].k->pooled;
        enum store_pkey_outcome o;
        rc = attempt(c[i].k, feature, req, &relay, res, &o, last, sizeof last);
        if (!rc) {
            snprintf(res->provider, sizeof res->provider, "%s", c[i].k->provider);
            done = 1;
        } else if (relay.started) {
            res->partial = 1;
            done = 1;
        }
    }
    /* Nothing else left: a 429 that asked for a short wait is waited out (looked up in the
     * pool as the attempts above left it). */
    while (!done && attempts < R.max_attempts) {
        struct snap *fresh = snap_get();
        struct rkey *cool = NULL;
        int64_t until = short_cooldown(fresh, feature, (int64_t)R.retry_after_max_s * 1000, &cool);
        if (!until) {
            snap_release(fresh);
            break;
        }
        sleep_ms(until - time_now_ms());
        attempts++;
        pooled_tried = 1;
        enum store_pkey_outcome o;
        rc = attempt(cool, feature, req, &relay, res, &o, last, sizeof last);
        if (!rc) {
            snprintf(res->provider, sizeof res->provider, "%s", cool->provider);
            done = 1;
        } else if (relay.started) {
            res->partial = 1;
            done = 1;
        }
        snap_release(fresh);
    }
    for (size_t i = 0; i < n; i++)
        if (c[i].transient) rkey_free(c[i].k);
    snap_release(s);
    if (!done && R.local) {
        /* The local engine is the last resort; its own refusals (busy) are passed on. */
        rc = R.local->ops->generate(R.local->self, req, relay_piece, &relay, res, err, errcap);
        if (!rc) snprintf(res->provider, sizeof res->provider, "local");
        if (rc && relay.started) res->partial = 1;
        return rc;
    }
    if (done) {
        if (rc) snprintf(err, errcap, "%s", last);
        return rc;
    }
    if (attempts && pooled_tried && (size_t)attempts >= n) mark_failing(NULL, feature, 1);
    check_availability();
    if (!attempts) {
        snprintf(err, errcap, "no usable provider key for %s", feature);
        return RAGD_ENOPROVIDER;
    }
    snprintf(err, errcap, "%s", last);
    /* With shared keys in play the feature is unavailable; with only the OPENAI_* entry the
     * backend's own status is kept (the pre-pool behaviour). */
    return pooled_tried || router_pool_exists() ? RAGD_ENOPROVIDER : rc;
}

/* ---- embeddings ---- */

static int re_embed(void *self, const char *const *texts, size_t n, float *out, char *err,
                    size_t errcap)
{
    (void)self;
    static const char *const feature = "embeddings";
    struct snap *s = snap_get();
    struct cand c[64];
    size_t nc = candidates(s, feature, 1, NULL, c, 64);
    int rc = RAGD_ENOPROVIDER, attempts = 0, done = 0;
    char last[256] = "";
    for (size_t i = 0; i < nc && !done && attempts < R.max_attempts; i++) {
        struct rkey *k = c[i].k;
        if (!k->e || k->e->dim != R.emb_dim) continue;
        if (attempts) note_failover(c[i - 1].k, feature);
        attempts++;
        int64_t t0 = time_mono_ns();
        rc = k->e->ops->embed(k->e->self, texts, n, out, last, sizeof last);
        int64_t ns = time_mono_ns() - t0;
        char kind[32] = "";
        enum store_pkey_outcome o = rc ? classify_text(rc, last, kind, sizeof kind) : PKEY_OK;
        int64_t until = o == PKEY_RATE_LIMITED ? time_now_ms() + (int64_t)R.cooldown_s * 1000 : 0;
        atomic_store(&k->last_used_ms, time_now_ms());
        int changed = 0;
        record(k, feature, o, rc ? kind : NULL, ns, until, &changed);
        if (changed) reload();
        done = !rc;
    }
    snap_release(s);
    if (done) return 0;
    if (R.emb_base) return R.emb_base->ops->embed(R.emb_base->self, texts, n, out, err, errcap);
    if (attempts) check_availability();
    snprintf(err, errcap, "%s", attempts ? last : "no usable embeddings key");
    return attempts ? rc : RAGD_ENOPROVIDER;
}

static const char *re_model(void *self)
{
    (void)self;
    if (R.emb_base) return R.emb_base->ops->model(R.emb_base->self);
    return "pool";
}

static int re_count(void *self, const char *text, size_t len)
{
    (void)self;
    if (R.emb_base && R.emb_base->ops->count_tokens)
        return R.emb_base->ops->count_tokens(R.emb_base->self, text, len);
    return prov_estimate_tokens(text, len);
}

static void re_free(void *self)
{
    (void)self;
}

static const struct prov_embedder_ops router_embed_ops = {
    .name = "router",
    .embed = re_embed,
    .model = re_model,
    .count_tokens = re_count,
    .free = re_free,
};

prov_embedder_t *router_embedder(void)
{
    if (!R.started) return R.emb_base;
    if (!R.emb_base) {
        /* Without a configured embedder the index exists only if keys were there at start. */
        return R.emb_self.ops ? &R.emb_self : NULL;
    }
    struct snap *s = snap_get();
    int any = 0;
    for (size_t i = 0; s && i < s->n && !any; i++)
        any = s->k[i].e != NULL;
    snap_release(s);
    return any ? &R.emb_self : R.emb_base;
}

static int rt_count(void *self, const char *text, size_t len)
{
    (void)self;
    if (R.local) return R.local->ops->count_tokens(R.local->self, text, len);
    return prov_estimate_tokens(text, len);
}

/* The highest of the backends' estimates: the answer may come from any of them. */
static int rt_count_prompt(void *self, const struct prov_message *msgs, size_t n)
{
    (void)self;
    int best = 3;
    for (size_t i = 0; i < n; i++)
        best +=
            (int)((strlen(msgs[i].content) + 1) / 2) + 4 + (int)((strlen(msgs[i].role) + 1) / 2);
    if (R.local) {
        int l =
            R.local->ops->count_prompt ? R.local->ops->count_prompt(R.local->self, msgs, n) : best;
        if (l > best) best = l;
    }
    return best;
}

static const char *rt_model(void *self)
{
    (void)self;
    if (R.has_env) return R.env.p->ops->model(R.env.p->self);
    if (R.local) return R.local->ops->model(R.local->self);
    struct snap *s = snap_get();
    static _Thread_local char name[128];
    snprintf(name, sizeof name, "%s", s && s->n ? s->k[0].model : "pool");
    snap_release(s);
    return name;
}

static json_t *rt_health(void *self)
{
    (void)self;
    json_t *h;
    if (R.has_env)
        h = R.env.p->ops->health(R.env.p->self);
    else if (R.local)
        h = R.local->ops->health(R.local->self);
    else
        h = json_pack("{s:s, s:s}", "status", "healthy", "provider", "pool");
    json_t *pool = router_health_json(0);
    const char *ps = json_string_value(json_object_get(pool, "status"));
    if (ps && strcmp(ps, "healthy")) json_object_set_new(h, "status", json_string(ps));
    json_object_set_new(h, "pool", pool);
    return h;
}

static int rt_demand(void *self)
{
    (void)self;
    return R.local && R.local->ops->worker_demand ? R.local->ops->worker_demand(R.local->self) : 0;
}

static void rt_free(void *self)
{
    (void)self;
}

static const struct prov_provider_ops router_ops = {
    .name = "router",
    .generate = rt_generate,
    .count_tokens = rt_count,
    .count_prompt = rt_count_prompt,
    .model = rt_model,
    .health = rt_health,
    .worker_demand = rt_demand,
    .free = rt_free,
};

prov_provider_t *router_provider(void)
{
    return &R.self;
}

int router_pool_exists(void)
{
    struct snap *s = snap_get();
    int yes = s && s->n > 0;
    snap_release(s);
    return yes;
}

int router_in_use(void)
{
    if (!R.started) return 0;
    struct snap *s = snap_get();
    int yes = R.has_env || (s && (s->n > 0 || s->user_keys > 0));
    snap_release(s);
    return yes;
}

int router_feature_usable(const char *feature)
{
    struct snap *s = snap_get();
    int u = usable_in(s, feature, time_now_ms());
    snap_release(s);
    return u;
}

void prov_set_availability_hook(void (*fn)(const char *feature, int usable))
{
    pthread_mutex_lock(&R.mu);
    R.hook = fn;
    pthread_mutex_unlock(&R.mu);
}

/* ---- testing keys ---- */

/* A one-message generation of a few tokens. Returns 0, or the negated Retry-After seconds
 * of a failure (RAGD_EUNAVAIL without one); *o classifies it. */
static int minimal_call(prov_provider_t *p, char *err, size_t errcap, enum store_pkey_outcome *o,
                        char *kind, size_t kcap, int64_t *ms)
{
    struct prov_message m = {"user", "Reply with OK."};
    struct prov_request req = {
        .messages = &m, .n_messages = 1, .question = "ping", .max_tokens = 4, .temperature = 0};
    struct prov_result res;
    int64_t t0 = time_mono_ns();
    int rc = p->ops->generate(p->self, &req, NULL, NULL, &res, err, errcap);
    *ms = (time_mono_ns() - t0) / 1000000;
    *o = rc ? classify(rc, &res, kind, kcap) : PKEY_OK;
    int ra = res.retry_after_s;
    prov_result_free(&res);
    return rc ? (ra > 0 ? -ra : RAGD_EUNAVAIL) : 0;
}

static int outcome_status(enum store_pkey_outcome o)
{
    return o == PKEY_OK             ? 0
           : o == PKEY_AUTH         ? RAGD_EPERM
           : o == PKEY_RATE_LIMITED ? RAGD_ELIMIT
                                    : RAGD_EUNAVAIL;
}

/* A one-text embedding; as minimal_call. */
static int minimal_embed(prov_embedder_t *e, char *err, size_t errcap, enum store_pkey_outcome *o,
                         char *kind, size_t kcap, int64_t *ms)
{
    const char *text = "ping";
    float *v = xcalloc(e->dim ? e->dim : 1, sizeof *v);
    int64_t t0 = time_mono_ns();
    int rc = e->ops->embed(e->self, &text, 1, v, err, errcap);
    *ms = (time_mono_ns() - t0) / 1000000;
    free(v);
    *o = rc ? classify_text(rc, err, kind, kcap) : PKEY_OK;
    return rc ? RAGD_EUNAVAIL : 0;
}

int router_test_key(const char *provider, const char *feature, const char *base_url,
                    const char *model, const char *key, char *err, size_t errcap)
{
    enum store_pkey_outcome o;
    char kind[32];
    int64_t ms;
    if (feature && is_emb(feature)) {
        prov_embedder_t *e =
            prov_openai_embedder_create(base_url, key, model, R.emb_dim, R.timeout_s);
        minimal_embed(e, err, errcap, &o, kind, sizeof kind, &ms);
        embedder_free(e);
    } else {
        prov_provider_t *p = make_provider(provider, base_url, key, model);
        minimal_call(p, err, errcap, &o, kind, sizeof kind, &ms);
        provider_free(p);
    }
    return outcome_status(o);
}

/* Tests k, records the outcome. 0 passed. */
static int test_rkey(struct rkey *k, char *err, size_t errcap, int *changed)
{
    enum store_pkey_outcome o;
    char kind[32] = "";
    int64_t ms;
    int ra = k->e ? minimal_embed(k->e, err, errcap, &o, kind, sizeof kind, &ms)
                  : minimal_call(k->p, err, errcap, &o, kind, sizeof kind, &ms);
    int64_t until = 0;
    if (o == PKEY_RATE_LIMITED)
        until = time_now_ms() + (int64_t)(ra < 0 ? -ra : R.cooldown_s) * 1000;
    if (o == PKEY_OK && mark_failing(k, NULL, 0)) check_availability();
    record(k, strcmp(k->feature, "*") ? k->feature : "chat", o, o == PKEY_OK ? NULL : kind,
           ms * 1000000, until, changed);
    return outcome_status(o);
}

int router_test_pooled(const char *id, int *passed, char *err, size_t errcap)
{
    *passed = 0;
    struct snap *s = snap_get();
    struct rkey *k = NULL;
    for (size_t i = 0; s && i < s->n; i++)
        if (!strcmp(s->k[i].id, id)) k = &s->k[i];
    int rc = 0;
    if (!k) {
        rc = RAGD_ENOTFOUND;
    } else if (!k->p) {
        snprintf(err, errcap,
                 "the stored key cannot be decrypted (ENCRYPTION_KEY changed, or the "
                 "row was altered): add it again");
    } else {
        int changed = 0;
        *passed = test_rkey(k, err, errcap, &changed) == 0;
    }
    snap_release(s);
    if (!rc) reload();
    return rc;
}

void router_health_round(void)
{
    struct snap *s = snap_get();
    int64_t now = time_now_ms();
    int any = 0;
    for (size_t i = 0; s && i < s->n; i++) {
        struct rkey *k = &s->k[i];
        if ((!k->p && !k->e) || !strcmp(k->status, "disabled") || k->cooldown_until_ms > now)
            continue;
        int64_t used = atomic_load(&k->last_used_ms);
        int idle = now - (used ? used : k->created_ms) >= R.idle_ms;
        if (strcmp(k->status, "degraded") && !idle) continue;
        char err[256];
        int changed = 0;
        test_rkey(k, err, sizeof err, &changed);
        any |= changed;
    }
    snap_release(s);
    store_pkey_health_prune(
        now - (int64_t)config_int("PROVIDER_HEALTH_RETENTION_DAYS", 7, 1, 3650) * 86400000LL);
    if (any) reload();
    check_availability();
}

/* ---- the sync / monitor thread ---- */

static void *monitor(void *arg)
{
    (void)arg;
    int64_t next_round = time_now_ms() + R.interval_ms;
    pthread_mutex_lock(&R.stop_mu);
    while (!R.stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + R.sync_ms * 1000000LL;
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&R.stop_cv, &R.stop_mu, &ts);
        if (R.stopping) break;
        pthread_mutex_unlock(&R.stop_mu);
        int64_t v = 0;
        struct snap *s = snap_get();
        int64_t have = s ? s->version : -1;
        snap_release(s);
        if (!store_pkey_version(&v) && v != have) reload();
        int64_t now = time_now_ms();
        if (now >= next_round) {
            next_round = now + R.interval_ms;
            int held = 0;
            /* The lease outlives one round a little, so that one node keeps the checks. */
            if (!store_pkey_lease(R.node, now, R.interval_ms + 5000, &held) && held)
                router_health_round();
        } else {
            check_availability(); /* cooldowns end without a change in the database */
        }
        pthread_mutex_lock(&R.stop_mu);
    }
    pthread_mutex_unlock(&R.stop_mu);
    return NULL;
}

int router_start(prov_provider_t *env, const char *env_key, prov_provider_t *local,
                 prov_embedder_t *emb, char *err, size_t errcap)
{
    R.emb_base = emb;
    R.emb_dim = emb ? emb->dim : (uint32_t)config_int("EMBEDDING_DIMENSION", 768, 1, 65536);
    R.emb_self.ops = NULL;
    R.max_attempts = (int)config_int("PROVIDER_MAX_ATTEMPTS", 3, 1, 20);
    R.threshold = (int)config_int("PROVIDER_FAILURE_THRESHOLD", 5, 1, 1000);
    R.backoff_ms = (int)config_int("PROVIDER_BACKOFF_MS", 50, 0, 10000);
    R.cooldown_s = (int)config_int("PROVIDER_COOLDOWN_SECONDS", 60, 1, 86400);
    R.retry_after_max_s = (int)config_int("PROVIDER_RETRY_AFTER_MAX_SECONDS", 2, 0, 60);
    R.timeout_s = (int)config_int("PROVIDER_TIMEOUT_SECONDS",
                                  config_int("OPENAI_TIMEOUT_SECONDS", 60, 1, 3600), 1, 3600);
    R.sync_ms = config_int("PROVIDER_SYNC_MS", 500, 50, 1000);
    R.interval_ms = config_int("PROVIDER_HEALTH_INTERVAL_SECONDS", 300, 1, 86400) * 1000;
    R.idle_ms =
        config_int("PROVIDER_HEALTH_IDLE_SECONDS", R.interval_ms / 1000, 1, 86400 * 30) * 1000;
    int env_priority = (int)config_int("PROVIDER_ENV_PRIORITY", 0, -1000000, 1000000);
    R.self.ops = &router_ops;
    R.self.self = NULL;
    R.local = local;
    for (int f = 0; f < NFEAT; f++)
        R.usable[f] = 1;
    uuid4(R.node);
    if (env) {
        memset(&R.env, 0, sizeof R.env);
        snprintf(R.env.id, sizeof R.env.id, "env");
        snprintf(R.env.provider, sizeof R.env.provider, "openai");
        snprintf(R.env.feature, sizeof R.env.feature, "*");
        snprintf(R.env.label, sizeof R.env.label, "OPENAI_* environment");
        snprintf(R.env.status, sizeof R.env.status, "active");
        size_t kl = env_key ? strlen(env_key) : 0;
        snprintf(R.env.last4, sizeof R.env.last4, "%s", kl >= 8 ? env_key + kl - 4 : "");
        R.env.model = xstrdup(env->ops->model(env->self));
        R.env.priority = env_priority;
        R.env.p = env;
        R.has_env = 1;
    }
    R.started = 1;
    writer_start();
    reload();
    if (!R.cur) {
        snprintf(err, errcap, "cannot load the provider key pool");
        writer_stop();
        R.started = 0;
        return RAGD_EUNAVAIL;
    }
    /* Embeddings keys in the pool at start make an index possible without a configured
     * embedder (EMBEDDING_DIMENSION gives its size). */
    int emb_keys = 0;
    for (size_t i = 0; i < R.cur->n; i++)
        emb_keys |= R.cur->k[i].e != NULL;
    if (emb || emb_keys) {
        R.emb_self.ops = &router_embed_ops;
        R.emb_self.self = NULL;
        R.emb_self.dim = R.emb_dim;
    }
    R.stopping = 0;
    if (pthread_create(&R.thread, NULL, monitor, NULL)) {
        snprintf(err, errcap, "cannot start the provider monitor");
        writer_stop();
        R.started = 0;
        return RAGD_EIO;
    }
    return 0;
}

void router_stop(void)
{
    if (!R.started) return;
    pthread_mutex_lock(&R.stop_mu);
    R.stopping = 1;
    pthread_cond_signal(&R.stop_cv);
    pthread_mutex_unlock(&R.stop_mu);
    pthread_join(R.thread, NULL);
    writer_stop();
    R.started = 0;
    pthread_mutex_lock(&R.mu);
    struct snap *s = R.cur;
    R.cur = NULL;
    pthread_mutex_unlock(&R.mu);
    snap_release(s);
    if (R.has_env) {
        provider_free(R.env.p);
        free(R.env.model);
        R.has_env = 0;
        R.env.p = NULL;
    }
    R.local = NULL;
    R.emb_base = NULL;
    R.emb_self.ops = NULL;
}

/* ---- health views ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static json_t *key_brief(const struct rkey *k)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "id", k->id, "label", k->label, "last4",
                     k->last4[0] ? k->last4 : "", "provider", k->provider);
}

json_t *router_health_json(int detail)
{
    struct snap *s = snap_get();
    int64_t now = time_now_ms();
    json_t *feats = json_object(), *broken = json_array();
    int degraded = 0;
    for (size_t i = 0; s && i < s->n; i++)
        if (s->k[i].broken) json_array_append_new(broken, key_brief(&s->k[i]));
    for (int f = 0; f < NFEAT; f++) {
        int active = 0, deg = 0, dis = 0, cooling = 0, bad = 0, served = 0;
        for (size_t i = 0; s && i < s->n; i++) {
            const struct rkey *k = &s->k[i];
            if (!covers(k, features[f])) continue;
            served = 1;
            if (k->broken)
                bad++;
            else if (!strcmp(k->status, "disabled"))
                dis++;
            else if (k->cooldown_until_ms > now)
                cooling++;
            else if (!strcmp(k->status, "degraded"))
                deg++;
            else
                active++;
        }
        if (!served) continue;
        const char *st = active ? "healthy" : deg ? "degraded" : "unavailable";
        if (!active) degraded = 1;
        json_object_set_new(feats, features[f],
                            json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "status", st, "active",
                                      active, "degraded", deg, "disabled", dis, "cooling_down",
                                      cooling, "undecryptable", bad));
    }
    json_t *out =
        json_pack("{s:s, s:I, s:o, s:o, s:b, s:b}", "status", degraded ? "degraded" : "healthy",
                  "keys", (json_int_t)(s ? s->n : 0), "features", feats, "undecryptable", broken,
                  "environment_key", R.has_env, "local_engine", R.local != NULL);
    if (!detail) {
        snap_release(s);
        return out;
    }
    /* Per provider x feature, from the last hour of attempts. */
    struct store_pkey_health *h = NULL;
    size_t nh = 0;
    store_pkey_health_list(now - 3600000, 20000, &h, &nh);
    json_t *groups = json_array();
    static const char *const provs[] = {"openai", "gemini"};
    for (int pi = 0; pi < 2; pi++) {
        for (int f = 0; f < NFEAT; f++) {
            const char *feat = features[f];
            json_t *by = json_object();
            int nkeys = 0;
            const struct rkey *in_use = NULL;
            struct cand c[64];
            size_t nc = 0;
            for (size_t i = 0; s && i < s->n; i++) {
                const struct rkey *k = &s->k[i];
                if (strcmp(k->provider, provs[pi]) || !covers(k, feat)) continue;
                nkeys++;
                const char *st = k->broken ? "undecryptable"
                                 : strcmp(k->status, "disabled") && k->cooldown_until_ms > now
                                     ? "cooling_down"
                                     : k->status;
                json_object_set_new(by, st,
                                    json_integer(json_integer_value(json_object_get(by, st)) + 1));
                if (tryable(k, feat, now) && nc < 64) c[nc++] = (struct cand){(struct rkey *)k, 0};
            }
            if (R.has_env && pi == 0 && !is_emb(feat)) {
                nkeys++;
                json_object_set_new(by, "environment", json_integer(1));
            }
            if (!nkeys) {
                json_decref(by);
                continue;
            }
            /* The key the next request would use: active before degraded, then priority. */
            for (int pass = 0; pass < 2 && !in_use; pass++) {
                for (size_t i = 0; i < nc; i++) {
                    if (strcmp(c[i].k->status, pass ? "degraded" : "active")) continue;
                    if (!in_use || cand_cmp(&c[i], &(struct cand){(struct rkey *)in_use, 0}) < 0)
                        in_use = c[i].k;
                }
            }
            int64_t *lat = xmalloc((nh ? nh : 1) * sizeof *lat);
            size_t nl = 0, total = 0, ok = 0;
            json_t *fails = json_array();
            for (size_t i = 0; i < nh; i++) {
                if (strcmp(h[i].provider, provs[pi]) || strcmp(h[i].feature, feat)) continue;
                total++;
                if (!strcmp(h[i].outcome, "success")) {
                    ok++;
                    lat[nl++] = h[i].latency_ms;
                } else if (json_array_size(fails) < 10) {
                    char at[32];
                    json_array_append_new(fails,
                                          json_pack("{s:s, s:s, s:s?, s:s}", "key_id", h[i].key_id,
                                                    "outcome", h[i].outcome, "error", h[i].error,
                                                    "at", time_iso(h[i].at_ms, at)));
                }
            }
            qsort(lat, nl, sizeof *lat, cmp_i64);
            int active = (int)json_integer_value(json_object_get(by, "active")) +
                         (int)json_integer_value(json_object_get(by, "environment"));
            int deg = (int)json_integer_value(json_object_get(by, "degraded"));
            json_array_append_new(
                groups, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:o, s:o}", "provider",
                                  provs[pi], "feature", feat, "status",
                                  active ? "healthy"
                                  : deg  ? "degraded"
                                         : "unavailable",
                                  "keys_by_status", by, "key_in_use",
                                  in_use                                  ? key_brief(in_use)
                                  : R.has_env && pi == 0 && !is_emb(feat) ? key_brief(&R.env)
                                                                          : json_null(),
                                  "recent_failures", fails, "attempts_last_hour", (json_int_t)total,
                                  "success_rate",
                                  total ? json_real((double)ok / (double)total) : json_null(),
                                  "p50_latency_ms",
                                  nl ? json_integer((json_int_t)lat[(nl - 1) / 2]) : json_null()));
            free(lat);
        }
    }
    store_pkey_health_free(h, nh);
    snap_release(s);
    json_object_set_new(out, "providers", groups);
    return out;
}

json_t *router_health_summary(void)
{
    return router_health_json(0);
}

json_t *router_env_entry_json(void)
{
    if (!R.has_env) return NULL;
    pthread_mutex_lock(&R.mu);
    int64_t cool = R.env.cooldown_until_ms;
    pthread_mutex_unlock(&R.mu);
    char ts[32] = "";
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:b, s:o}", "id", "env", "provider",
                     "openai", "model", R.env.model, "feature", "*", "label", R.env.label,
                     "priority", R.env.priority, "status", "active", "key_last4", R.env.last4,
                     "read_only", 1, "cooldown_until",
                     cool > time_now_ms() ? json_string(time_iso(cool, ts)) : json_null());
}
