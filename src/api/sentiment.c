/* sentiment.c - POST /sentiment: how a message feels and how urgent it is, for testing the
 * configured scorer and for agents. */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "api/sentiment_routes.h"
#include "core/jsonv.h"
#include "sentiment/sentiment.h"

static const struct jv_field fields[] = {
    {"text", JV_STRING, 1, 1, 10000, 0, NULL, "The customer's message (1 to 10000 characters)"},
    {NULL},
};
static const struct jv_schema schema = {fields, 0};

static const struct {
    unsigned bit;
    const char *name;
} cue_names[] = {
    {SENTIMENT_CUE_LEGAL, "legal"},     {SENTIMENT_CUE_SECURITY, "security"},
    {SENTIMENT_CUE_OUTAGE, "outage"},   {SENTIMENT_CUE_DATA_LOSS, "data_loss"},
    {SENTIMENT_CUE_CANCEL, "cancel"},   {SENTIMENT_CUE_REFUND, "refund"},
    {SENTIMENT_CUE_NOW, "urgent"},      {SENTIMENT_CUE_HUMAN, "human_requested"},
    {SENTIMENT_CUE_SHOUT, "shouting"},  {SENTIMENT_CUE_ASK, "question"},
    {SENTIMENT_CUE_BILLING, "billing"},
};

static void score_work(struct req *r)
{
    const char *text = jv_str(req_json(r), "text", "");
    struct sentiment s;
    if (sentiment_score(text, strlen(text), &s)) {
        api_invalid(r, "text", "text must be a string");
        return;
    }
    const char *acts[12];
    size_t na = sentiment_actions(&s, acts, sizeof acts / sizeof *acts);
    json_t *actions = json_array(), *cues = json_array();
    for (size_t i = 0; i < na; i++)
        json_array_append_new(actions, json_string(acts[i]));
    for (size_t i = 0; i < sizeof cue_names / sizeof *cue_names; i++)
        if (s.cues & cue_names[i].bit) json_array_append_new(cues, json_string(cue_names[i].name));
    http_json(r, 200,
              json_pack("{s:s, s:f, s:f, s:f, s:s, s:s, s:o, s:o}", "label",
                        sentiment_label_name(s.label), "score", s.score, "confidence", s.score,
                        "polarity", s.polarity, "priority", sentiment_priority_name(s.priority),
                        "scorer", s.scorer, "suggested_actions", actions, "cues", cues));
}

/* The model and llm scorers take milliseconds to seconds: they run on a worker thread. */
static void score(struct req *r)
{
    if (!strcmp(sentiment_scorer_name(), "lexicon"))
        score_work(r);
    else
        http_defer(r, score_work);
}

const struct route sentiment_routes[] = {
    {.method = "POST",
     .pattern = "/sentiment",
     .handler = score,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &schema,
     .tag = "sentiment",
     .summary = "Sentiment of a message: label (POSITIVE, NEUTRAL, NEGATIVE), score (confidence "
                "in the label, 0..1), polarity (-1..1), priority (LOW, MEDIUM, HIGH, URGENT), the "
                "scorer that answered (SENTIMENT_SCORER: lexicon, model or llm), suggested "
                "actions and the cues behind the priority",
     .ok_status = 200,
     .response_doc = "{label, score, confidence, polarity, priority, scorer, suggested_actions, "
                     "cues}",
     .response = "{label: string, score: number, confidence: number, polarity: number, priority: "
                 "string, scorer: string, suggested_actions: [string], cues: [string]}"},
    {NULL},
};
