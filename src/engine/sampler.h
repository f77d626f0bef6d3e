/* sampler.h - picks the next token from logits.
 *
 * Order of operations (as in Hugging Face generate): repetition penalty over the recent tokens,
 * temperature, top-k, softmax, top-p, min-p, then a draw from a seeded xorshift generator, so a
 * fixed seed reproduces the same tokens. temperature <= 0 or greedy means argmax. */
#ifndef RAGD_SAMPLER_H
#define RAGD_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct sampler_params {
    float temperature;    /* default 0.7 */
    float top_p;          /* default 0.9; 1 disables */
    float min_p;          /* default 0 (off) */
    float repeat_penalty; /* default 1.05; 1 disables */
    int top_k;            /* default 40; 0 disables */
    int repeat_last_n;    /* tokens the penalty looks back over; default 64, -1 = all */
    uint64_t seed;        /* default 0 */
    int greedy;           /* argmax regardless of the other settings */
};

void sampler_params_default(struct sampler_params *p); /* cannot fail */

typedef struct sampler sampler_t;

/* Returns RAGD_EINVAL for out-of-range parameters (negative temperature, top_p outside
 * (0, 1], min_p outside [0, 1), penalty <= 0, n_vocab <= 0) or 0 with *out (sampler_free). */
int sampler_create(const struct sampler_params *p, int n_vocab, sampler_t **out);
void sampler_free(sampler_t *s); /* NULL is a no-op */

/* Records a token of the sequence (prompt or generated) for the repetition penalty. */
void sampler_accept(sampler_t *s, int32_t token);
/* Forgets the history and reseeds. Cannot fail. */
void sampler_reset(sampler_t *s);
/* Chooses a token; logits (n_vocab floats) are modified in place. Cannot fail. */
int32_t sampler_sample(sampler_t *s, float *logits);

#endif
