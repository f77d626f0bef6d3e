/* sentiment_int.h - the scorer table behind sentiment.h (for the scorers' files only). */
#ifndef RAGD_SENTIMENT_INT_H
#define RAGD_SENTIMENT_INT_H

#include <stddef.h>

#include "sentiment/sentiment.h"

/* One scorer. open builds its state from the configuration (err gets a one-line reason on
 * failure); score fills label, score and polarity of out (the caller adds cues, priority and
 * the scorer's name) and returns 0, or non-zero to let the lexicon scorer answer instead;
 * close frees the state (NULL is a no-op). */
struct sentiment_ops {
    const char *name;
    int (*open)(void **state, char *err, size_t errcap);
    int (*score)(void *state, const char *text, size_t len, struct sentiment *out);
    void (*close)(void *state);
};

extern const struct sentiment_ops sentiment_lexicon_ops;
extern const struct sentiment_ops sentiment_model_ops;
extern const struct sentiment_ops sentiment_llm_ops;

/* The lexicon scorer's analysis: returns the cues, *polarity in -1..1. Cannot fail. */
unsigned sentiment_lexicon_scan(const char *text, size_t len, double *polarity);

/* The polarity a classifier's three probabilities stand for: p(pos) - p(neg). */
double sentiment_polarity_of(double p_neg, double p_neu, double p_pos);

/* Parses an llm verdict strictly (see llm.c): 0 with label, score and polarity set, or
 * RAGD_EFORMAT. */
int sentiment_llm_parse(const char *reply, struct sentiment *out);

#endif
