/* llm.c - the llm scorer: the configured generator asked for a JSON verdict.
 *
 * The message (its first LLM_MAX_TEXT bytes) goes to prov_generator() with a fixed
 * instruction, temperature 0 and a fixed seed; the reply must be exactly one JSON object
 * {"label": "POSITIVE" | "NEUTRAL" | "NEGATIVE", "score": 0..1} with an optional
 * "polarity" (-1..1) and nothing else (whitespace and one ```json fence are tolerated). Any
 * failure - no generator, an error, a reply that does not parse - lets the lexicon scorer
 * answer. A customer can word a message to sway the verdict; the priority rules still see the
 * text itself. */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "llm/provider.h"
#include "sentiment/sentiment_int.h"

#define LLM_MAX_TEXT 4000

static const char instruction[] =
    "You rate the sentiment of one message a customer sent to a support chat. Answer with only "
    "a JSON object and no other text: {\"label\": \"POSITIVE\" or \"NEUTRAL\" or \"NEGATIVE\", "
    "\"score\": your confidence in the label from 0 to 1, \"polarity\": from -1 (very "
    "negative) to 1 (very positive)}. Questions and requests without feelings are NEUTRAL; "
    "complaints and reports of something broken are NEGATIVE; thanks and praise are POSITIVE.";

int sentiment_llm_parse(const char *reply, struct sentiment *out)
{
    if (!reply) return RAGD_EINVAL;
    const char *b = reply, *e = reply + strlen(reply);
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    if (e - b >= 6 && !strncmp(b, "```", 3)) { /* one fenced block */
        b += 3;
        if (!strncmp(b, "json", 4)) b += 4;
        if (e - b < 3 || strncmp(e - 3, "```", 3)) return RAGD_EFORMAT;
        e -= 3;
    }
    json_error_t je;
    json_t *j = json_loadb(b, (size_t)(e - b), JSON_REJECT_DUPLICATES, &je);
    int rc = RAGD_EFORMAT;
    if (!json_is_object(j)) goto out;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "label") && strcmp(k, "score") && strcmp(k, "polarity")) goto out;
    }
    const char *label = json_string_value(json_object_get(j, "label"));
    json_t *score = json_object_get(j, "score"), *pol = json_object_get(j, "polarity");
    enum sentiment_label l;
    if (!label ||
        (strcmp(label, "POSITIVE") && strcmp(label, "NEUTRAL") && strcmp(label, "NEGATIVE")))
        goto out;
    sentiment_label_parse(label, &l);
    if (!json_is_number(score) || !(json_number_value(score) >= 0) ||
        !(json_number_value(score) <= 1))
        goto out;
    if (pol &&
        (!json_is_number(pol) || !(json_number_value(pol) >= -1) || !(json_number_value(pol) <= 1)))
        goto out;
    double s = json_number_value(score);
    out->label = l;
    out->score = s;
    out->polarity = pol                       ? json_number_value(pol)
                    : l == SENTIMENT_POSITIVE ? s
                    : l == SENTIMENT_NEGATIVE ? -s
                                              : 0;
    rc = 0;
out:
    json_decref(j);
    return rc;
}

static int llm_open(void **state, char *err, size_t errcap)
{
    prov_provider_t *g = prov_generator();
    if (!g || g == prov_extractive())
        return ragd_errf(err, errcap, RAGD_EINVAL,
                         "SENTIMENT_SCORER=llm needs a generator (LLM_PROVIDER / "
                         "GENERATION_MODEL); the extractive fallback cannot judge sentiment");
    *state = g;
    return 0;
}

static int llm_score(void *state, const char *text, size_t len, struct sentiment *out)
{
    prov_provider_t *g = state;
    char *t = xstrndup(text, len < LLM_MAX_TEXT ? len : LLM_MAX_TEXT);
    struct prov_message msgs[2] = {{"system", instruction}, {"user", t}};
    struct prov_request req = {.messages = msgs,
                               .n_messages = 2,
                               .question = t,
                               .task = PROV_TASK_ANSWER,
                               .max_tokens = 80,
                               .temperature = 0,
                               .seed = 1,
                               .has_seed = 1};
    struct prov_result res = {0};
    char err[256];
    int rc = prov_generate(g, &req, NULL, NULL, &res, err, sizeof err);
    if (!rc) rc = sentiment_llm_parse(res.text, out);
    prov_result_free(&res);
    free(t);
    return rc;
}

static void llm_close(void *state)
{
    (void)state; /* the generator belongs to llm/ */
}

const struct sentiment_ops sentiment_llm_ops = {"llm", llm_open, llm_score, llm_close};
