#include "engine/llm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/tok_gguf.h"

/* Forward passes of a model's sessions share its thread pool, so they run one at a time,
 * through a queue of jobs served in arrival order. Whichever waiting thread finds the model
 * idle runs the next job for everyone (a combining scheduler: no extra thread). A decoding
 * step (one token, last logits only) is run together with every other decoding step waiting
 * behind it, up to LLM_EVAL_SLICE of them, as one model_forward_multi: the weights are read
 * once for all of them, so concurrent answers decode at nearly the speed of one each. A prompt
 * slice runs alone, and so does a copy of K/V rows between a session and the prefix cache
 * (rows_copy). Every pass runs in the model's one scratch context (its activation buffers), so
 * a session holds only its KV cache. */
struct job {
    struct job *next;
    llm_session_t *s;
    const int32_t *tokens;
    int n;
    float *logits; /* all positions' logits (n x n_vocab), or NULL: the last into s->logits */
    /* or, with nblocks > 0 (and n 0), a copy of K/V rows between s and blocks on the pool */
    const struct model_kv_block *blocks;
    int nblocks, write;
    int rc, done;
};

struct sched {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    int busy;
    int decoding;            /* sessions inside a generation's decoding loop */
    int max_ctx;             /* the largest n_ctx of the model's sessions so far */
    uint64_t steps, batched; /* decoding passes, and tokens they carried (for llm_model_stats) */
};

/* How long a decoding step waits for the steps of the other decoding sessions (which are
 * sampling their next token) before it runs with what has arrived. */
enum { LLM_BATCH_WAIT_NS = 3000000 };

/* ---- prefix cache: see llm.h ----
 * An entry's rows are held in chunks of LLM_PREFIX_ALIGN positions (the K and V rows of every
 * layer and kv head for those positions, as model_state_kv_read gives them), so entries whose
 * tokens agree on a prefix share its chunks: a conversation's next turn adds only the chunks
 * after its previous turn's, and conversations that start with one system prompt hold its
 * chunks once. A chunk counts its holders (entries, and copies into a session in progress).
 * One that nothing holds stays on a spare list, within the budget, and is taken before any
 * new memory: memory fresh from the system costs a page fault for each 4 KiB on its first
 * write, which made a turn's save of a 1,000-token conversation of the 1.7B shape take 0.6-0.9
 * s on the 2-vCPU machine of bench/ (a virtual machine), against 13 ms for the copy itself.
 * Entries hold whole aligned slices only (n is a multiple of LLM_PREFIX_ALIGN). An entry that
 * is a prefix of a new one is dropped when the new one goes in (the new one serves every
 * lookup it served), and a new one that is a prefix of an entry is not stored. */
struct pchunk {
    struct pchunk *next; /* on the spare list */
    float *k, *v;        /* one allocation: v follows k */
    int refs;
};

struct pentry {
    struct pentry *next;
    int32_t *toks;          /* [n] */
    struct pchunk **chunks; /* [n / LLM_PREFIX_ALIGN] */
    int n;
    uint64_t used; /* pcache clock at the last use: least recently used goes first */
};

struct pcache {
    pthread_mutex_t mu;
    struct pentry *head;
    struct pchunk *spares;
    size_t budget;
    size_t bytes;       /* held chunks and the entries' tokens */
    size_t spare_bytes; /* chunks on the spare list; bytes + spare_bytes <= budget */
    size_t chunk_bytes;
    int entries;
    uint64_t clock, lookups, hits, reused, saved, evictions;
};

struct llm_model {
    model_t *model;
    tokenizer_t *tok;
    pool_t *pool;
    struct sched sched; /* forward passes on the shared pool */
    /* The passes' activation buffers, for LLM_EVAL_SLICE tokens and sched.max_ctx positions:
     * used only by the thread running a pass (sched.busy), created or grown by it. */
    model_scratch_t *scratch;
    struct pcache pc;
    enum quant_isa isa;
    int32_t eos_id, im_end_id, eot_id, think_open_id, think_close_id;
    grammar_vocab_t *gvocab; /* token bytes for constrained decoding, built on first use */
    pthread_mutex_t gvocab_mu;
};

struct llm_session {
    llm_model_t *m;
    model_state_t *st;
    float *logits; /* [n_vocab] */
    int have_logits;
    int32_t *toks; /* [n_ctx] the tokens at positions 0 .. n_past - 1 */
    /* Positions [0, n_exact) were evaluated in whole slices of LLM_EVAL_SLICE tokens starting
     * at multiples of it: they are what a fresh evaluation of the same tokens gives, bit for
     * bit, and may be cached. A multiple of LLM_EVAL_SLICE, <= n_past. */
    int n_exact;
};

/* Prompt slice, also the state's batch size; cached prefixes are whole slices. */
#define LLM_EVAL_SLICE ((int)LLM_PREFIX_ALIGN)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int32_t find_piece(const tokenizer_t *t, const char *piece)
{
    return t ? tokenizer_find(t, piece, strlen(piece)) : -1;
}

int llm_model_load(const char *path, int n_threads, int mapped, llm_model_t **out, char *err,
                   size_t err_len)
{
    model_t *model;
    int rc = model_load(path, mapped, &model, err, err_len);
    if (rc) return rc;
    llm_model_t *m = xcalloc(1, sizeof *m);
    m->model = model;
    m->eos_id = m->im_end_id = m->eot_id = m->think_open_id = m->think_close_id = -1;
    rc = tok_gguf_load(model_gguf(model), &m->tok, err, err_len);
    if (rc == RAGD_ENOTFOUND || rc == RAGD_ENOTSUP) {
        m->tok = NULL; /* token-id interfaces still work */
        if (err && err_len) err[0] = 0;
    } else if (rc) {
        goto fail;
    }
    if ((rc = pool_create(n_threads, &m->pool))) {
        if (err && err_len) snprintf(err, err_len, "llm: cannot start %d threads", n_threads);
        goto fail;
    }
    pthread_mutex_init(&m->sched.mu, NULL);
    pthread_cond_init(&m->sched.cv, NULL);
    pthread_mutex_init(&m->gvocab_mu, NULL);
    pthread_mutex_init(&m->pc.mu, NULL);
    m->pc.chunk_bytes = 2 * LLM_PREFIX_ALIGN * model_kv_floats_per_pos(model) * sizeof(float);
    m->isa = quant_best_isa();
    if (m->tok) {
        m->eos_id = tokenizer_special_id(m->tok, "eos");
        m->im_end_id = find_piece(m->tok, "<|im_end|>");
        m->eot_id = find_piece(m->tok, "<|endoftext|>");
        m->think_open_id = find_piece(m->tok, "<think>");
        m->think_close_id = find_piece(m->tok, "</think>");
    }
    *out = m;
    return 0;
fail:
    tokenizer_free(m->tok);
    model_free(m->model);
    free(m);
    return rc;
}

static void pchunk_free(struct pchunk *c)
{
    free(c->k); /* v lies in the same allocation */
    free(c);
}

/* Drops one hold on c (under pc->mu): a chunk nothing holds goes to the spare list while
 * the budget has room for it, else back to the system. */
static void pchunk_put(struct pcache *pc, struct pchunk *c)
{
    if (--c->refs) return;
    pc->bytes -= pc->chunk_bytes;
    if (pc->bytes + pc->spare_bytes + pc->chunk_bytes <= pc->budget) {
        c->next = pc->spares;
        pc->spares = c;
        pc->spare_bytes += pc->chunk_bytes;
    } else {
        pchunk_free(c);
    }
}

/* Unlinks e and drops its holds (under pc->mu). */
static void pcache_remove(struct pcache *pc, struct pentry *e)
{
    struct pentry **pp = &pc->head;
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    pc->bytes -= (size_t)e->n * sizeof(int32_t);
    for (int i = 0; i < e->n / LLM_PREFIX_ALIGN; i++)
        pchunk_put(pc, e->chunks[i]);
    pc->entries--;
    free(e->chunks);
    free(e->toks);
    free(e);
}

/* Evicts the least recently used entry (under pc->mu); 0 when there is none. */
static int pcache_evict_one(struct pcache *pc)
{
    struct pentry *lru = pc->head;
    if (!lru) return 0;
    for (struct pentry *e = pc->head; e; e = e->next)
        if (e->used < lru->used) lru = e;
    pcache_remove(pc, lru);
    pc->evictions++;
    return 1;
}

/* Takes the first spare chunk off the spare list (under pc->mu); NULL when there is none. */
static struct pchunk *spare_take(struct pcache *pc)
{
    struct pchunk *c = pc->spares;
    if (c) {
        pc->spares = c->next;
        pc->spare_bytes -= pc->chunk_bytes;
    }
    return c;
}

/* Evicts entries until the held bytes fit the budget, then frees spare chunks until the spare
 * list fits beside them (under pc->mu). */
static void pcache_trim(struct pcache *pc)
{
    while (pc->bytes > pc->budget && pcache_evict_one(pc)) {
    }
    while (pc->spares && pc->bytes + pc->spare_bytes > pc->budget)
        pchunk_free(spare_take(pc));
}

/* A chunk for new rows, held once (under pc->mu): a spare one, else new memory within the
 * budget, evicting least recently used entries for room. NULL when the budget cannot make room
 * or memory runs out (the cache is an optimisation: the caller stores nothing). */
static struct pchunk *pchunk_get(struct pcache *pc)
{
    struct pchunk *c;
    for (;;) {
        if ((c = spare_take(pc))) break;
        if (pc->bytes + pc->chunk_bytes <= pc->budget) {
            float *kv = try_malloc(pc->chunk_bytes);
            if (!kv || !(c = calloc(1, sizeof *c))) {
                free(kv);
                return NULL;
            }
            c->k = kv;
            c->v = kv + pc->chunk_bytes / 2 / sizeof(float);
            break;
        }
        if (!pcache_evict_one(pc)) return NULL;
    }
    c->refs = 1;
    pc->bytes += pc->chunk_bytes;
    return c;
}

void llm_model_prefix_cache(llm_model_t *m, size_t budget)
{
    pthread_mutex_lock(&m->pc.mu);
    m->pc.budget = budget;
    pcache_trim(&m->pc);
    pthread_mutex_unlock(&m->pc.mu);
}

void llm_model_prefix_stats(llm_model_t *m, struct llm_prefix_stats *out)
{
    struct pcache *pc = &m->pc;
    pthread_mutex_lock(&pc->mu);
    *out = (struct llm_prefix_stats){.lookups = pc->lookups,
                                     .hits = pc->hits,
                                     .reused = pc->reused,
                                     .saved = pc->saved,
                                     .evictions = pc->evictions,
                                     .bytes = pc->bytes,
                                     .spare_bytes = pc->spare_bytes,
                                     .budget = pc->budget,
                                     .entries = pc->entries};
    pthread_mutex_unlock(&pc->mu);
}

void llm_model_free(llm_model_t *m)
{
    if (!m) return;
    m->pc.budget = 0; /* every entry and spare chunk goes */
    pcache_trim(&m->pc);
    pthread_mutex_destroy(&m->pc.mu);
    model_scratch_free(m->scratch);
    pool_free(m->pool);
    pthread_mutex_destroy(&m->sched.mu);
    pthread_cond_destroy(&m->sched.cv);
    pthread_mutex_destroy(&m->gvocab_mu);
    grammar_vocab_free(m->gvocab);
    if (m->tok) tokenizer_free(m->tok);
    model_free(m->model);
    free(m);
}

const model_t *llm_model_raw(const llm_model_t *m)
{
    return m->model;
}
const tokenizer_t *llm_model_tokenizer(const llm_model_t *m)
{
    return m->tok;
}
int llm_model_n_threads(const llm_model_t *m)
{
    return pool_size(m->pool);
}

int llm_tokenize(const llm_model_t *m, const char *text, size_t len, int flags, int32_t **ids,
                 size_t *n_ids)
{
    if (!m->tok) return RAGD_ENOTSUP;
    return tokenizer_encode(m->tok, text, len, flags, ids, n_ids);
}

int llm_session_create(llm_model_t *m, int n_ctx, llm_session_t **out)
{
    const struct model_config *c = model_config(m->model);
    if (n_ctx < 0) return RAGD_EINVAL;
    if (n_ctx == 0) n_ctx = c->n_ctx_train < 4096 ? c->n_ctx_train : 4096;
    llm_session_t *s = xcalloc(1, sizeof *s);
    s->m = m;
    int rc = model_state_create_kv(m->model, n_ctx, &s->st);
    if (rc) {
        free(s);
        return rc;
    }
    pthread_mutex_lock(&m->sched.mu);
    if (n_ctx > m->sched.max_ctx) m->sched.max_ctx = n_ctx;
    pthread_mutex_unlock(&m->sched.mu);
    s->logits = xcalloc((size_t)c->n_vocab, sizeof(float));
    s->toks = xcalloc((size_t)n_ctx, sizeof *s->toks);
    *out = s;
    return 0;
}

void llm_session_free(llm_session_t *s)
{
    if (!s) return;
    model_state_free(s->st);
    free(s->toks);
    free(s->logits);
    free(s);
}

size_t llm_session_bytes(const llm_session_t *s)
{
    size_t n_ctx = (size_t)model_state_n_ctx(s->st);
    size_t V = (size_t)model_config(s->m->model)->n_vocab;
    return model_state_bytes(s->st) + n_ctx * sizeof *s->toks + V * sizeof *s->logits;
}

size_t llm_model_scratch_bytes(llm_model_t *m)
{
    pthread_mutex_lock(&m->sched.mu);
    while (m->sched.busy) /* a pass may be growing it */
        pthread_cond_wait(&m->sched.cv, &m->sched.mu);
    size_t n = m->scratch ? model_scratch_bytes(m->scratch) : 0;
    pthread_mutex_unlock(&m->sched.mu);
    return n;
}

int llm_session_n_past(const llm_session_t *s)
{
    return model_state_n_past(s->st);
}
int llm_session_n_ctx(const llm_session_t *s)
{
    return model_state_n_ctx(s->st);
}

void llm_session_reset(llm_session_t *s)
{
    model_state_truncate(s->st, 0);
    s->have_logits = 0;
    s->n_exact = 0;
}

static int is_step(const struct job *j)
{
    return j->n == 1 && !j->logits;
}

/* Makes m->scratch serve sequences of n_ctx positions (called by the thread running a pass). */
static int scratch_fit(llm_model_t *m, int n_ctx)
{
    if (m->scratch && model_scratch_n_ctx(m->scratch) >= n_ctx) return 0;
    model_scratch_free(m->scratch);
    m->scratch = NULL;
    return model_scratch_create(m->model, n_ctx, LLM_EVAL_SLICE, m->pool, m->isa, &m->scratch);
}

/* Runs the job at the head of the queue, with the decoding steps behind it when it is one.
 * Called with the lock held and the model marked busy; returns with both. */
static void run_head(struct sched *q)
{
    struct job *batch[LLM_EVAL_SLICE];
    int nb = 0;
    struct job *j = q->head;
    batch[nb++] = j;
    q->head = j->next;
    if (is_step(j)) {
        /* Every other waiting step of another session joins (a session has one at most). */
        struct job **pp = &q->head;
        while (*pp && nb < LLM_EVAL_SLICE) {
            if (is_step(*pp)) {
                batch[nb++] = *pp;
                *pp = (*pp)->next;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    q->tail = NULL;
    for (struct job *t = q->head; t; t = t->next)
        q->tail = t;
    int max_ctx = q->max_ctx;
    pthread_mutex_unlock(&q->mu);
    llm_model_t *m = j->s->m;
    int rc;
    if (j->nblocks) { /* a copy of rows runs alone (is_step is false for it) */
        rc = j->write ? model_state_kv_write(j->s->st, m->pool, j->blocks, j->nblocks)
                      : model_state_kv_read(j->s->st, m->pool, j->blocks, j->nblocks);
    } else if ((rc = scratch_fit(m, max_ctx))) {
        /* every job of the batch gets rc */
    } else if (nb == 1) {
        rc = model_forward_in(m->scratch, j->s->st, j->tokens, j->n,
                              j->logits ? j->logits : j->s->logits, j->logits != NULL);
    } else {
        model_state_t *seqs[LLM_EVAL_SLICE];
        int32_t toks[LLM_EVAL_SLICE];
        float *outs[LLM_EVAL_SLICE];
        for (int i = 0; i < nb; i++) {
            seqs[i] = batch[i]->s->st;
            toks[i] = batch[i]->tokens[0];
            outs[i] = batch[i]->s->logits;
        }
        rc = model_forward_multi(m->scratch, seqs, toks, nb, outs);
    }
    pthread_mutex_lock(&q->mu);
    if (is_step(j)) {
        q->steps++;
        q->batched += (uint64_t)nb;
    }
    for (int i = 0; i < nb; i++) {
        batch[i]->rc = rc;
        batch[i]->done = 1;
    }
}

static int queued_steps(const struct sched *q)
{
    int n = 0;
    for (const struct job *t = q->head; t; t = t->next)
        n += is_step(t);
    return n;
}

/* Queues j and returns when it has run (by this thread or another). */
static int run_job(struct sched *q, struct job *j)
{
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_cond_broadcast(&q->cv); /* a leader waiting for steps to join may go */
    struct timespec until = {0, 0};
    while (!j->done) {
        if (!q->busy && q->head) {
            if (is_step(q->head) && queued_steps(q) < q->decoding) {
                /* Other sessions are about to ask for their next step: give them a moment
                 * to join this one, so that the weights are read once for all. */
                struct timespec now;
                clock_gettime(CLOCK_REALTIME, &now);
                if (!until.tv_sec) {
                    until = now;
                    until.tv_nsec += LLM_BATCH_WAIT_NS;
                    if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                    }
                }
                if (now.tv_sec < until.tv_sec ||
                    (now.tv_sec == until.tv_sec && now.tv_nsec < until.tv_nsec)) {
                    pthread_cond_timedwait(&q->cv, &q->mu, &until);
                    continue;
                }
            }
            q->busy = 1;
            run_head(q);
            q->busy = 0;
            until.tv_sec = 0;
            pthread_cond_broadcast(&q->cv);
        } else {
            pthread_cond_wait(&q->cv, &q->mu);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return j->rc;
}

static void decoding(llm_model_t *m, int delta)
{
    pthread_mutex_lock(&m->sched.mu);
    m->sched.decoding += delta;
    pthread_cond_broadcast(&m->sched.cv);
    pthread_mutex_unlock(&m->sched.mu);
}

int llm_session_eval(llm_session_t *s, const int32_t *tokens, size_t n, float *logits_all)
{
    if (n == 0 || n > (size_t)1 << 30) return RAGD_EINVAL;
    if (n > (size_t)(model_state_n_ctx(s->st) - model_state_n_past(s->st)))
        return RAGD_ERANGE; /* checked up front so that nothing is evaluated */
    size_t V = (size_t)model_config(s->m->model)->n_vocab;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (size_t)tokens[i] >= V) return RAGD_EINVAL;
    /* A long prompt goes in slices of LLM_EVAL_SLICE tokens, one job each, so that other
     * sessions' decoding steps run between them. */
    int start = model_state_n_past(s->st), rc = 0;
    memcpy(s->toks + start, tokens, n * sizeof *tokens);
    for (size_t off = 0; off < n && !rc; off += LLM_EVAL_SLICE) {
        size_t k = n - off < LLM_EVAL_SLICE ? n - off : LLM_EVAL_SLICE;
        struct job j = {.s = s,
                        .tokens = tokens + off,
                        .n = (int)k,
                        .logits = logits_all ? logits_all + off * V : NULL};
        rc = run_job(&s->m->sched, &j);
    }
    if (rc) return rc;
    if (s->n_exact == start) /* aligned so far: the whole slices just evaluated are too */
        s->n_exact = start + (int)(n / LLM_EVAL_SLICE) * LLM_EVAL_SLICE;
    if (logits_all) memcpy(s->logits, logits_all + (n - 1) * V, V * sizeof(float));
    s->have_logits = 1;
    return 0;
}

/* ---- prefix cache ---- */

/* Length of the common prefix of a[0..na) and b[0..nb). */
static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static size_t align_down(size_t n)
{
    return n / LLM_PREFIX_ALIGN * LLM_PREFIX_ALIGN;
}

/* Copies the rows of n chunks, the first at chunk index first of the sequence, out of s's
 * cache (write 0) or into it (write 1: s then ends with the last), as one job on the model's
 * pool: both threads take part, and the copy waits its turn behind other sessions' passes. */
static int rows_copy(llm_session_t *s, struct pchunk *const *chunks, size_t first, size_t n,
                     int write)
{
    if (!n) return 0;
    struct model_kv_block *b = xmalloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++)
        b[i] = (struct model_kv_block){(int)((first + i) * LLM_PREFIX_ALIGN), LLM_PREFIX_ALIGN,
                                       chunks[i]->k, chunks[i]->v};
    struct job j = {.s = s, .blocks = b, .nblocks = (int)n, .write = write};
    int rc = run_job(&s->m->sched, &j);
    free(b);
    return rc;
}

/* Starts s on a new sequence whose prompt is ids[0..n): keeps or loads the KV rows of the
 * longest usable cached prefix (the session's own exact rows, or a cache entry) and returns
 * its length P (0: the session is reset). P is a multiple of LLM_PREFIX_ALIGN and < n. An
 * entry's chunks are held while they are copied, outside the lock, so other sessions look up
 * and save meanwhile; an entry evicted during the copy keeps its chunks until the copy ends. */
static int prefix_begin(llm_session_t *s, const int32_t *ids, size_t n)
{
    struct pcache *pc = &s->m->pc;
    size_t limit = n ? align_down(n - 1) : 0, own = 0, best = 0;
    int own_rows = s->n_exact;
    s->have_logits = 0;
    pthread_mutex_lock(&pc->mu);
    if (!pc->budget || !limit) {
        pthread_mutex_unlock(&pc->mu);
        llm_session_reset(s);
        return 0;
    }
    pc->lookups++;
    own = align_down(common_prefix(s->toks, (size_t)own_rows, ids, limit));
    struct pentry *hit = NULL;
    for (struct pentry *e = pc->head; e; e = e->next) {
        size_t k = align_down(common_prefix(e->toks, (size_t)e->n, ids, limit));
        if (k > best) {
            best = k;
            hit = e;
        }
    }
    /* a hit copies only the chunks after the session's own rows (the same rows bit for bit) */
    size_t p = own >= best ? own : best, first = own / LLM_PREFIX_ALIGN, nc = p / LLM_PREFIX_ALIGN;
    struct pchunk **held = NULL;
    if (p && own >= best) {
        model_state_truncate(s->st, (int)p); /* p <= n_exact <= n_past */
        s->n_exact = (int)p;
    } else if (p) {
        held = xmalloc(nc * sizeof *held);
        for (size_t i = first; i < nc; i++) {
            held[i] = hit->chunks[i];
            held[i]->refs++;
        }
        memcpy(s->toks, ids, p * sizeof *s->toks); /* = hit->toks[0..p) */
        hit->used = ++pc->clock;
    } else {
        llm_session_reset(s);
    }
    pc->hits += p > 0;
    pc->reused += p;
    pthread_mutex_unlock(&pc->mu);
    if (!held) return (int)p;
    /* own <= n_exact <= n_past: the first block continues the session's own rows */
    int rc = rows_copy(s, held + first, first, nc - first, 1);
    RAGD_ASSERT(rc == 0); /* p < n < n_ctx, checked by the caller */
    s->n_exact = (int)p;
    pthread_mutex_lock(&pc->mu);
    for (size_t i = first; i < nc; i++)
        pchunk_put(pc, held[i]);
    pthread_mutex_unlock(&pc->mu);
    free(held);
    return (int)p;
}

/* 1 if an entry already holds toks[0..n) (as it is or as its prefix); touches it (under
 * pc->mu). */
static int pcache_covers(struct pcache *pc, const int32_t *toks, int n)
{
    for (struct pentry *e = pc->head; e; e = e->next)
        if (e->n >= n && common_prefix(e->toks, (size_t)e->n, toks, (size_t)n) == (size_t)n) {
            e->used = ++pc->clock;
            return 1;
        }
    return 0;
}

/* Keeps the session's exact rows in the model's cache, when they fit its budget: the chunks
 * of the longest prefix an entry holds are shared, and only the rows after it are copied (into
 * chunks taken under the lock, filled outside it: the session is this thread's alone). */
static void prefix_save(llm_session_t *s)
{
    struct pcache *pc = &s->m->pc;
    int n = s->n_exact, nc = n / LLM_PREFIX_ALIGN;
    if (n <= 0) return;
    struct pentry *e = xcalloc(1, sizeof *e);
    e->chunks = xcalloc((size_t)nc, sizeof *e->chunks);
    int shared = 0, got = 0;
    pthread_mutex_lock(&pc->mu);
    if ((size_t)nc * pc->chunk_bytes + (size_t)n * sizeof(int32_t) > pc->budget ||
        pcache_covers(pc, s->toks, n)) {
        pthread_mutex_unlock(&pc->mu);
        goto drop;
    }
    struct pentry *from = NULL; /* the entry sharing the longest prefix */
    for (struct pentry *o = pc->head; o; o = o->next) {
        int k = (int)align_down(common_prefix(o->toks, (size_t)o->n, s->toks, (size_t)n));
        if (k / LLM_PREFIX_ALIGN > shared) {
            shared = k / LLM_PREFIX_ALIGN;
            from = o;
        }
    }
    for (int i = 0; i < shared; i++) { /* held before pchunk_get may evict their entry */
        e->chunks[i] = from->chunks[i];
        e->chunks[i]->refs++;
    }
    got = shared;
    while (got < nc && (e->chunks[got] = pchunk_get(pc)))
        got++;
    pthread_mutex_unlock(&pc->mu);
    if (got < nc) goto release; /* no room: the cache is an optimisation */
    int rc = rows_copy(s, e->chunks + shared, (size_t)shared, (size_t)(nc - shared), 0);
    RAGD_ASSERT(rc == 0); /* n_exact <= n_past */
    e->toks = xmalloc((size_t)n * sizeof *e->toks);
    memcpy(e->toks, s->toks, (size_t)n * sizeof *e->toks);
    e->n = n;
    pthread_mutex_lock(&pc->mu);
    if (pcache_covers(pc, e->toks, n)) { /* changed meanwhile */
        pthread_mutex_unlock(&pc->mu);
        goto release;
    }
    for (struct pentry *o = pc->head, *next; o; o = next) {
        next = o->next;
        if (common_prefix(o->toks, (size_t)o->n, e->toks, (size_t)n) == (size_t)o->n)
            pcache_remove(pc, o); /* the new entry serves every lookup this one served */
    }
    e->used = ++pc->clock;
    e->next = pc->head;
    pc->head = e;
    pc->bytes += (size_t)n * sizeof(int32_t);
    pc->saved += (uint64_t)(nc - shared) * LLM_PREFIX_ALIGN;
    pc->entries++;
    pcache_trim(pc);
    pthread_mutex_unlock(&pc->mu);
    return;
release:
    pthread_mutex_lock(&pc->mu);
    for (int i = 0; i < got; i++)
        pchunk_put(pc, e->chunks[i]);
    pthread_mutex_unlock(&pc->mu);
drop:
    free(e->toks);
    free(e->chunks);
    free(e);
}

void llm_model_stats(llm_model_t *m, uint64_t *steps, uint64_t *tokens)
{
    pthread_mutex_lock(&m->sched.mu);
    *steps = m->sched.steps;
    *tokens = m->sched.batched;
    pthread_mutex_unlock(&m->sched.mu);
}

const float *llm_session_logits(const llm_session_t *s)
{
    return s->logits;
}

void llm_gen_params_default(struct llm_gen_params *p)
{
    memset(p, 0, sizeof *p);
    sampler_params_default(&p->sampling);
    p->n_predict = 256;
    p->n_logprobs = -1;
}

void llm_gen_result_free(struct llm_gen_result *r)
{
    free(r->text);
    r->text = NULL;
    free(r->logprobs);
    r->logprobs = NULL;
    r->n_logprobs = 0;
}

/* ---- output assembly: thinking filter, stop strings, streaming ---- */

struct out {
    char *p;
    size_t len, cap, emitted;
    llm_text_cb cb;
    void *ud;
    const struct llm_gen_params *gp;
    size_t max_stop;
    int stopped_by_caller;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->p = xrealloc(o->p, o->cap);
    }
    if (n) /* s may be NULL when n is 0 */
        memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

static void out_emit(struct out *o, size_t upto)
{
    if (upto > o->emitted && o->cb && !o->stopped_by_caller &&
        o->cb(o->ud, o->p + o->emitted, upto - o->emitted))
        o->stopped_by_caller = 1;
    if (upto > o->emitted) o->emitted = upto;
}

/* After new text: returns 1 if a stop string completed (output cut before it), else emits what
 * cannot be the start of a stop string. */
static int out_check(struct out *o, int final)
{
    const struct llm_gen_params *gp = o->gp;
    size_t from = o->emitted > o->max_stop ? o->emitted - o->max_stop : 0;
    size_t cut = (size_t)-1;
    for (size_t i = 0; i < gp->n_stop; i++) {
        size_t n = strlen(gp->stop[i]);
        if (!n) continue;
        for (size_t j = from; j + n <= o->len; j++) {
            if (!memcmp(o->p + j, gp->stop[i], n)) {
                if (j < cut) cut = j;
                break;
            }
        }
    }
    if (cut != (size_t)-1) {
        o->len = cut;
        o->p[cut] = 0;
        if (o->emitted > cut) /* cannot happen: held back text is never emitted */
            o->emitted = cut;
        out_emit(o, cut);
        return 1;
    }
    size_t hold = 0;
    if (!final) {
        for (size_t i = 0; i < gp->n_stop; i++) {
            size_t n = strlen(gp->stop[i]);
            for (size_t k = n > 1 ? n - 1 : 0; k > hold; k--) {
                if (k <= o->len && !memcmp(o->p + o->len - k, gp->stop[i], k)) {
                    hold = k;
                    break;
                }
            }
        }
    }
    out_emit(o, o->len - hold);
    return 0;
}

/* The model's vocabulary as constrained decoding sees it (built once, then shared). */
static const grammar_vocab_t *gvocab(llm_model_t *m)
{
    pthread_mutex_lock(&m->gvocab_mu);
    if (!m->gvocab) {
        int32_t eos[3] = {m->eos_id, m->im_end_id, m->eot_id};
        if (grammar_vocab_create(m->tok, eos, 3, &m->gvocab)) m->gvocab = NULL;
    }
    pthread_mutex_unlock(&m->gvocab_mu);
    return m->gvocab;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* llm_generate; fresh: prompt is a whole new sequence replacing what s holds (a cached
 * prefix of it is adopted). */
static int generate(llm_session_t *s, const int32_t *prompt, size_t n_prompt, int fresh,
                    const struct llm_gen_params *p, llm_text_cb cb, void *ud,
                    struct llm_gen_result *res)
{
    llm_model_t *m = s->m;
    const struct model_config *c = model_config(m->model);
    memset(res, 0, sizeof *res);
    if (!m->tok) return RAGD_ENOTSUP;
    int past = fresh ? 0 : llm_session_n_past(s);
    if (fresh && !n_prompt) llm_session_reset(s);
    if (n_prompt == 0 && !s->have_logits) return RAGD_EINVAL;
    if (n_prompt >= (size_t)(llm_session_n_ctx(s) - past)) {
        if (fresh) llm_session_reset(s);
        return RAGD_ERANGE;
    }
    if (p->n_logprobs > LLM_MAX_TOP_LOGPROBS || p->n_logprobs > c->n_vocab) {
        if (fresh) llm_session_reset(s);
        return RAGD_EINVAL;
    }
    sampler_t *smp;
    int rc = sampler_create(&p->sampling, c->n_vocab, &smp);
    if (rc) {
        if (fresh) llm_session_reset(s);
        return rc;
    }
    struct llm_token_logprob *lps = NULL;
    size_t n_lps = 0, lps_cap = 0;
    const grammar_vocab_t *gv = NULL;
    grammar_state_t *gs = NULL;
    if (p->grammar) {
        if (!(gv = gvocab(m))) {
            sampler_free(smp);
            if (fresh) llm_session_reset(s);
            return RAGD_EINVAL;
        }
        grammar_state_create(p->grammar, &gs);
    }
    for (size_t i = 0; i < n_prompt; i++)
        sampler_accept(smp, prompt[i]);
    double t0 = now_s();
    size_t cached = fresh ? (size_t)prefix_begin(s, prompt, n_prompt) : 0;
    if (n_prompt && (rc = llm_session_eval(s, prompt + cached, n_prompt - cached, NULL))) {
        grammar_state_free(gs);
        sampler_free(smp);
        return rc;
    }
    double t1 = now_s();
    struct out o = {.cb = cb, .ud = ud, .gp = p};
    out_put(&o, "", 0);
    for (size_t i = 0; i < p->n_stop; i++)
        if (strlen(p->stop[i]) > o.max_stop) o.max_stop = strlen(p->stop[i]);
    struct tok_stream ts = {0};
    size_t piece_cap = 256;
    for (size_t i = 0; i < tokenizer_n_vocab(m->tok); i++) {
        const char *b;
        size_t l;
        if (tokenizer_token_bytes(m->tok, (int32_t)i, &b, &l) == 0 && l + 64 > piece_cap)
            piece_cap = l + 64;
    }
    char *piece = xmalloc(piece_cap);
    float *logits = xmalloc((size_t)c->n_vocab * sizeof(float));
    int in_think = 0, trim = 0, n_gen = 0;
    enum llm_stop why = LLM_STOP_LENGTH;
    decoding(m, 1);
    for (;;) {
        if (p->n_predict >= 0 && n_gen >= p->n_predict) {
            why = LLM_STOP_LENGTH;
            break;
        }
        memcpy(logits, s->logits, (size_t)c->n_vocab * sizeof(float));
        /* The mask goes in before sampler_sample adds the logit bias and the penalties: both
         * are finite, so a masked token stays at -inf through them and is never sampled. */
        if (gs) grammar_mask(gs, gv, logits, (size_t)c->n_vocab);
        int32_t tok = sampler_sample(smp, logits);
        sampler_accept(smp, tok);
        if (gs && grammar_accept_token(gs, gv, tok)) {
            rc = RAGD_EINVAL; /* defensive: the mask leaves only tokens the grammar accepts */
            break;
        }
        n_gen++;
        if (tok == m->eos_id || tok == m->im_end_id || tok == m->eot_id) {
            why = LLM_STOP_EOS;
            break;
        }
        if (p->n_logprobs >= 0) {
            if (n_lps == lps_cap) {
                lps_cap = lps_cap ? 2 * lps_cap : 64;
                lps = xrealloc(lps, lps_cap * sizeof *lps);
            }
            struct llm_token_logprob *e = &lps[n_lps++];
            e->token = tok;
            e->n_top = p->n_logprobs;
            sampler_logprobs(smp, logits, tok, &e->logprob, e->n_top, e->top_ids, e->top_logprobs);
        }
        if (!p->keep_thinking && tok == m->think_open_id) {
            in_think = 1;
        } else if (!p->keep_thinking && tok == m->think_close_id) {
            in_think = 0;
            trim = 1;
        } else if (!in_think) {
            int n = tokenizer_stream_push(m->tok, &ts, tok, 1, piece, piece_cap);
            if (n > 0) {
                const char *q = piece;
                size_t len = (size_t)n;
                if (trim && o.len == 0)
                    while (len && is_space(*q))
                        q++, len--;
                if (len) trim = 0;
                out_put(&o, q, len);
                if (out_check(&o, 0)) {
                    why = LLM_STOP_STRING;
                    break;
                }
            }
        }
        if (o.stopped_by_caller) {
            why = LLM_STOP_CALLER;
            break;
        }
        if (llm_session_n_past(s) >= llm_session_n_ctx(s)) {
            why = LLM_STOP_CONTEXT;
            break;
        }
        if ((rc = llm_session_eval(s, &tok, 1, NULL))) break;
    }
    if (!rc && why != LLM_STOP_STRING) {
        int n = tokenizer_stream_flush(&ts, piece, piece_cap);
        if (n > 0 && !in_think) out_put(&o, piece, (size_t)n);
        if (out_check(&o, 1)) why = LLM_STOP_STRING;
    }
    decoding(m, -1);
    double t2 = now_s();
    if (!rc) prefix_save(s);
    free(logits);
    free(piece);
    grammar_state_free(gs);
    sampler_free(smp);
    if (rc) {
        free(o.p);
        free(lps);
        return rc;
    }
    res->text = o.p;
    res->len = o.len;
    res->n_prompt = (int)n_prompt;
    res->n_gen = n_gen;
    res->n_cached = (int)cached;
    res->prompt_s = t1 - t0;
    res->gen_s = t2 - t1;
    res->stop = why;
    res->logprobs = lps;
    res->n_logprobs = n_lps;
    return 0;
}

int llm_generate(llm_session_t *s, const int32_t *prompt, size_t n_prompt,
                 const struct llm_gen_params *p, llm_text_cb cb, void *ud,
                 struct llm_gen_result *res)
{
    return generate(s, prompt, n_prompt, llm_session_n_past(s) == 0, p, cb, ud, res);
}

int llm_chat(llm_session_t *s, const struct chatml_msg *msgs, size_t n_msgs, int thinking,
             const struct llm_gen_params *p, llm_text_cb cb, void *ud, struct llm_gen_result *res)
{
    if (!s->m->tok) return RAGD_ENOTSUP;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = chatml_encode(s->m->tok, msgs, n_msgs, 1, thinking, &ids, &n);
    if (rc) return rc;
    rc = generate(s, ids, n, 1, p, cb, ud, res);
    free(ids);
    return rc;
}
