/* sampler.h - picks the next token from logits.
 *
 * Order of operations (as in llama.cpp): logit bias, then the penalties over the recent tokens
 * (repetition penalty: a seen token's positive logit divided by it, a negative one multiplied;
 * OpenAI's frequency and presence penalties: logit -= count * frequency_penalty + (count > 0) *
 * presence_penalty), temperature, top-k, softmax, top-p, min-p, then a draw from a seeded
 * xorshift generator, so a fixed seed reproduces the same tokens. temperature <= 0 or greedy
 * means argmax of the biased and penalised logits. With the defaults (no bias, penalties 0)
 * the first two steps leave the logits untouched. */
#ifndef RAGD_SAMPLER_H
#define RAGD_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct sampler_params {
    float temperature;       /* default 0.7 */
    float top_p;             /* default 0.9; 1 disables */
    float min_p;             /* default 0 (off) */
    float repeat_penalty;    /* default 1.05; 1 disables */
    int top_k;               /* default 40; 0 disables */
    int repeat_last_n;       /* tokens the penalty looks back over; default 64, -1 = all */
    uint64_t seed;           /* default 0 */
    int greedy;              /* argmax regardless of the other settings */
    float presence_penalty;  /* default 0; [-2, 2] */
    float frequency_penalty; /* default 0; [-2, 2] */
    /* Added to the logits of the named tokens before anything else (-100 bans a token in
     * practice); ids outside the vocabulary are ignored. Borrowed: must outlive the sampler. */
    const struct sampler_bias *bias;
    size_t n_bias;
};

struct sampler_bias {
    int32_t token;
    float bias;
};

void sampler_params_default(struct sampler_params *p); /* cannot fail */

typedef struct sampler sampler_t;

/* Returns RAGD_EINVAL for out-of-range parameters (negative temperature, top_p outside
 * (0, 1], min_p outside [0, 1), penalty <= 0, presence or frequency penalty outside [-2, 2],
 * n_vocab <= 0) or 0 with *out (sampler_free). */
int sampler_create(const struct sampler_params *p, int n_vocab, sampler_t **out);
void sampler_free(sampler_t *s); /* NULL is a no-op */

/* Records a token of the sequence (prompt or generated) for the repetition penalty. */
void sampler_accept(sampler_t *s, int32_t token);
/* Forgets the history and reseeds. Cannot fail. */
void sampler_reset(sampler_t *s);
/* Chooses a token; logits (n_vocab floats) are modified in place. Cannot fail. */
int32_t sampler_sample(sampler_t *s, float *logits);

/* Log-probabilities from logits as sampler_sample left them (biased and penalised, before
 * temperature and truncation): *lp gets token's, and the n_top most likely tokens (largest
 * first, ties by smaller id) go to top_ids[0..n_top) / top_lps[0..n_top) (n_top <= n_vocab;
 * both may be NULL when n_top is 0). Cannot fail. */
void sampler_logprobs(sampler_t *s, const float *logits, int32_t token, float *lp, int n_top,
                      int32_t *top_ids, float *top_lps);

#endif
