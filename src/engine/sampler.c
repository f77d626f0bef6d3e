#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

struct cand {
    int32_t id;
    float v;
};

struct sampler {
    struct sampler_params p;
    int n_vocab;
    uint64_t rng;
    int32_t *hist; /* ring of recent tokens */
    size_t hist_cap, hist_len, hist_pos;
    struct cand *cands; /* [n_vocab] */
    uint32_t *count;    /* [n_vocab] scratch for the penalties: occurrences in the history */
};

void sampler_params_default(struct sampler_params *p)
{
    *p = (struct sampler_params){.temperature = 0.7f,
                                 .top_p = 0.9f,
                                 .min_p = 0.0f,
                                 .repeat_penalty = 1.05f,
                                 .top_k = 40,
                                 .repeat_last_n = 64,
                                 .seed = 0,
                                 .greedy = 0};
}

static uint64_t seed_state(uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return z ? z : 0x2545f4914f6cdd1dull;
}

static double next_uniform(uint64_t *s) /* [0, 1) */
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
}

int sampler_create(const struct sampler_params *p, int n_vocab, sampler_t **out)
{
    if (n_vocab <= 0 || !(p->temperature >= 0) || !(p->top_p > 0 && p->top_p <= 1) ||
        !(p->min_p >= 0 && p->min_p < 1) || !(p->repeat_penalty > 0) || p->top_k < 0 ||
        p->repeat_last_n < -1 || !(p->presence_penalty >= -2 && p->presence_penalty <= 2) ||
        !(p->frequency_penalty >= -2 && p->frequency_penalty <= 2) || (p->n_bias && !p->bias))
        return RAGD_EINVAL;
    /* finite biases only: a logit masked to -inf (constrained decoding) stays -inf */
    for (size_t i = 0; i < p->n_bias; i++)
        if (!isfinite(p->bias[i].bias)) return RAGD_EINVAL;
    sampler_t *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->n_vocab = n_vocab;
    s->hist_cap = p->repeat_last_n < 0 ? 1024 : (size_t)p->repeat_last_n;
    s->hist = xcalloc(s->hist_cap ? s->hist_cap : 1, sizeof *s->hist);
    s->cands = xmalloc((size_t)n_vocab * sizeof *s->cands);
    s->count = xcalloc((size_t)n_vocab, sizeof *s->count);
    sampler_reset(s);
    *out = s;
    return 0;
}

void sampler_free(sampler_t *s)
{
    if (!s) return;
    free(s->count);
    free(s->cands);
    free(s->hist);
    free(s);
}

void sampler_reset(sampler_t *s)
{
    s->hist_len = s->hist_pos = 0;
    s->rng = seed_state(s->p.seed);
}

void sampler_accept(sampler_t *s, int32_t token)
{
    if (s->p.repeat_last_n < 0 && s->hist_len == s->hist_cap) { /* unbounded: grow */
        s->hist_cap *= 2;
        s->hist = xrealloc(s->hist, s->hist_cap * sizeof *s->hist);
    }
    if (!s->hist_cap) return;
    if (s->p.repeat_last_n < 0) {
        s->hist[s->hist_len++] = token;
        return;
    }
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_len < s->hist_cap) s->hist_len++;
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return x->id - y->id;
}

/* Moves the k best candidates (largest value, then smallest id) to the front, sorted: a
 * min-heap of size k over all n, then a sort of the k. */
static void sift_down(struct cand *h, size_t k, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        /* the heap's root is the worst candidate: cmp_cand > 0 means "worse" */
        if (l < k && cmp_cand(&h[l], &h[m]) > 0) m = l;
        if (r < k && cmp_cand(&h[r], &h[m]) > 0) m = r;
        if (m == i) return;
        struct cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void top_k_select(struct cand *c, size_t n, size_t k)
{
    if (k < n) {
        for (size_t i = k / 2; i-- > 0;)
            sift_down(c, k, i);
        for (size_t i = k; i < n; i++) {
            if (cmp_cand(&c[i], &c[0]) < 0) {
                c[0] = c[i];
                sift_down(c, k, 0);
            }
        }
    }
    qsort(c, k, sizeof *c, cmp_cand);
}

/* The penalties over the history: each distinct token once, by how often it occurs. */
static void penalise(sampler_t *s, float *logits)
{
    const struct sampler_params *p = &s->p;
    int V = s->n_vocab;
    for (size_t i = 0; i < s->hist_len; i++)
        if (s->hist[i] >= 0 && s->hist[i] < V) s->count[s->hist[i]]++;
    for (size_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        if (t < 0 || t >= V || !s->count[t]) continue;
        float l = logits[t];
        if (p->repeat_penalty != 1.0f) l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)s->count[t] * p->frequency_penalty + p->presence_penalty;
        logits[t] = l;
        s->count[t] = 0;
    }
}

int32_t sampler_sample(sampler_t *s, float *logits)
{
    const struct sampler_params *p = &s->p;
    int V = s->n_vocab;
    for (size_t i = 0; i < p->n_bias; i++)
        if (p->bias[i].token >= 0 && p->bias[i].token < V)
            logits[p->bias[i].token] += p->bias[i].bias;
    if (s->hist_len &&
        (p->repeat_penalty != 1.0f || p->presence_penalty != 0 || p->frequency_penalty != 0))
        penalise(s, logits);
    if (p->greedy || p->temperature <= 0) {
        int32_t best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    for (int i = 0; i < V; i++)
        s->cands[i] = (struct cand){i, logits[i] / p->temperature};
    size_t n = (size_t)V;
    if (p->top_k > 0 && (size_t)p->top_k < n) n = (size_t)p->top_k;
    top_k_select(s->cands, (size_t)V, n);
    double max = s->cands[0].v, sum = 0;
    for (size_t i = 0; i < n; i++) {
        s->cands[i].v = (float)exp(s->cands[i].v - max);
        sum += s->cands[i].v;
    }
    /* top-p: the smallest prefix whose mass reaches p (at least one token) */
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; i++) {
        cum += s->cands[i].v / sum;
        if (cum >= p->top_p) {
            keep = i + 1;
            break;
        }
    }
    /* min-p: drop tokens less likely than min_p times the most likely one */
    if (p->min_p > 0) {
        float floor_v = s->cands[0].v * p->min_p;
        size_t k = 1;
        while (k < keep && s->cands[k].v >= floor_v)
            k++;
        keep = k;
    }
    double total = 0;
    for (size_t i = 0; i < keep; i++)
        total += s->cands[i].v;
    double r = next_uniform(&s->rng) * total, acc = 0;
    for (size_t i = 0; i < keep; i++) {
        acc += s->cands[i].v;
        if (r < acc) return s->cands[i].id;
    }
    return s->cands[keep - 1].id;
}

void sampler_logprobs(sampler_t *s, const float *logits, int32_t token, float *lp, int n_top,
                      int32_t *top_ids, float *top_lps)
{
    int V = s->n_vocab;
    RAGD_ASSERT(token >= 0 && token < V && n_top >= 0 && n_top <= V);
    double max = logits[0];
    for (int i = 1; i < V; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0;
    for (int i = 0; i < V; i++)
        sum += exp((double)logits[i] - max);
    double lse = max + log(sum);
    *lp = (float)(logits[token] - lse);
    if (!n_top) return;
    /* the candidate buffer is free between draws */
    for (int i = 0; i < V; i++)
        s->cands[i] = (struct cand){i, logits[i]};
    top_k_select(s->cands, (size_t)V, (size_t)n_top);
    for (int i = 0; i < n_top; i++) {
        top_ids[i] = s->cands[i].id;
        top_lps[i] = (float)(s->cands[i].v - lse);
    }
}
