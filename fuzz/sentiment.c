/* Fuzz target for the sentiment scorer: any bytes through the lexicon scorer, the cue scan and
 * the llm verdict parser. Must never crash, read out of bounds or leak, and must always give a
 * label, a confidence in 0..1 and a polarity in -1..1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sentiment/sentiment.h"
#include "sentiment/sentiment_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sentiment s;
    if (sentiment_lexicon_score((const char *)data, size, &s)) abort();
    if (!(s.score >= 0 && s.score <= 1) || !(s.polarity >= -1 && s.polarity <= 1) ||
        (unsigned)s.label > SENTIMENT_POSITIVE || (unsigned)s.priority > SENTIMENT_URGENT)
        abort();
    const char *acts[16];
    if (sentiment_actions(&s, acts, 16) > 16) abort();
    (void)sentiment_cues((const char *)data, size);
    char *text = xstrndup((const char *)data, size); /* the parser reads a C string */
    if (!sentiment_llm_parse(text, &s) && !(s.score >= 0 && s.score <= 1)) abort();
    free(text);
    return 0;
}
