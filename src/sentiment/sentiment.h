/* sentiment.h - how a customer's message feels and how soon someone should look at it.
 *
 * Every scorer answers the same struct: a label (POSITIVE, NEUTRAL, NEGATIVE), a confidence
 * in that label, a signed polarity, and a priority (LOW, MEDIUM, HIGH, URGENT). The priority
 * always comes from ragd's rules (sentiment_priority below), whichever scorer chose the label,
 * so that escalation behaves the same with or without a model.
 *
 * Scorers, chosen once by SENTIMENT_SCORER:
 *   lexicon (default) - a lexicon of customer-support English with rules for negation,
 *                       intensifiers and downtoners, contrast ("but"), capitals, punctuation,
 *                       emoji and emoticons. Needs nothing; about a microsecond a message.
 *   model             - a BERT-family sequence-classification checkpoint (SENTIMENT_MODEL: a
 *                       Hugging Face folder or a GGUF file) run by ragd's encoder; its labels
 *                       are mapped to the three classes by name (see sentiment_label_parse).
 *   llm               - the configured generator asked for a JSON verdict, parsed strictly.
 * The model and llm scorers fall back to the lexicon scorer for a message they cannot score
 * (the result's scorer field then says "lexicon").
 *
 * Decisions (documented for organizations; the numbers are ragd's defaults):
 *   - score is the confidence in the label, 0..1 (the seed's {NEUTRAL, 0.65, MEDIUM});
 *     polarity is the signed strength, -1 (most negative) .. +1 (most positive).
 *   - priority: URGENT for a negative message with a legal threat, a security incident, an
 *     outage or lost data, or a strongly negative one (polarity <= -0.6) that also threatens
 *     to leave or demands action now, or a negative one with three of the pressure cues
 *     (cancel, refund, now, shouting, asking for a person); HIGH for a strongly negative
 *     message, a negative one with one pressure cue, or a neutral one about a legal, security,
 *     outage or data-loss matter; MEDIUM for another negative message, or a neutral one that
 *     asks or requests something (or is about billing, cancelling, refunds, a person); LOW for
 *     positive messages and neutral ones that ask nothing (acknowledgements, order numbers).
 */
#ifndef RAGD_SENTIMENT_H
#define RAGD_SENTIMENT_H

#include <stddef.h>

enum sentiment_label { SENTIMENT_NEGATIVE, SENTIMENT_NEUTRAL, SENTIMENT_POSITIVE };
enum sentiment_priority { SENTIMENT_LOW, SENTIMENT_MEDIUM, SENTIMENT_HIGH, SENTIMENT_URGENT };

/* Cues the rules found in the text (a bit set; the reasons behind the priority). */
enum sentiment_cue {
    SENTIMENT_CUE_LEGAL = 1 << 0,    /* lawyer, lawsuit, sue, court, ombudsman, regulator */
    SENTIMENT_CUE_SECURITY = 1 << 1, /* hacked, breach, fraud, stolen, unauthorized */
    SENTIMENT_CUE_OUTAGE = 1 << 2,   /* outage, down for everyone, production is down */
    SENTIMENT_CUE_DATA_LOSS = 1 << 3,
    SENTIMENT_CUE_CANCEL = 1 << 4,   /* cancel, leave, switch to a competitor, close account */
    SENTIMENT_CUE_REFUND = 1 << 5,   /* refund, money back, chargeback, dispute */
    SENTIMENT_CUE_NOW = 1 << 6,      /* immediately, asap, urgent, right now */
    SENTIMENT_CUE_HUMAN = 1 << 7,    /* asks for a person, an agent, a manager */
    SENTIMENT_CUE_SHOUT = 1 << 8,    /* mostly capitals, or !!! */
    SENTIMENT_CUE_ASK = 1 << 9,      /* a question or a request */
    SENTIMENT_CUE_BILLING = 1 << 10, /* charged, invoice, billing, payment */
};

struct sentiment {
    enum sentiment_label label;
    double score;    /* confidence in label, 0..1 */
    double polarity; /* -1 .. +1 */
    enum sentiment_priority priority;
    unsigned cues;      /* enum sentiment_cue bits */
    const char *scorer; /* "lexicon", "model" or "llm" (static) */
};

/* Chooses the scorer from SENTIMENT_SCORER (lexicon | model | llm; default lexicon) and
 * loads SENTIMENT_MODEL for "model". Call once before serving; later calls replace the
 * scorer. Returns 0, or RAGD_EINVAL (unknown scorer, model scorer without SENTIMENT_MODEL)
 * or the encoder's load error, with a one-line reason in err. */
int sentiment_init(char *err, size_t errcap);
/* Frees the scorer (the lexicon scorer remains usable). Cannot fail. */
void sentiment_shutdown(void);
/* The live scorer's name (static). */
const char *sentiment_scorer_name(void);

/* Scores len bytes of text (any bytes: invalid UTF-8 is skipped, not an error) with the live
 * scorer, falling back to the lexicon scorer. Thread-safe. Returns 0, or RAGD_EINVAL for a
 * NULL text. */
int sentiment_score(const char *text, size_t len, struct sentiment *out);

/* The lexicon-and-rules scorer directly. Thread-safe; one scratch buffer per call (xmalloc:
 * aborts on out-of-memory); cannot fail for a non-NULL text (RAGD_EINVAL otherwise). */
int sentiment_lexicon_score(const char *text, size_t len, struct sentiment *out);

/* The rules' cues in text (enum sentiment_cue bits). Cannot fail. */
unsigned sentiment_cues(const char *text, size_t len);
/* The priority of a message with this label, polarity and cues (the rules above). */
enum sentiment_priority sentiment_priority(enum sentiment_label label, double polarity,
                                           unsigned cues);

/* Suggested next steps for an agent or the bot, as static snake_case names ("escalate_to_human",
 * "offer_refund_policy", ...), at most cap of them into out. Returns how many. Cannot fail. */
size_t sentiment_actions(const struct sentiment *s, const char **out, size_t cap);

/* Names: "POSITIVE"/"NEUTRAL"/"NEGATIVE", "LOW"/"MEDIUM"/"HIGH"/"URGENT" (static). */
const char *sentiment_label_name(enum sentiment_label l);
const char *sentiment_priority_name(enum sentiment_priority p);
/* Maps a label name to a class, case-insensitively: positive / pos / very positive / 4 stars,
 * 5 stars; the same for negative (1 star, 2 stars) and neutral (3 stars): the names sentiment
 * checkpoints publish. Returns 0 or RAGD_ENOTFOUND. */
int sentiment_label_parse(const char *name, enum sentiment_label *out);
int sentiment_priority_parse(const char *name, enum sentiment_priority *out);

/* ---- a conversation's summary ----
 * Folded message by message (customer messages only), in order. The escalation rules read it:
 * "sentiment at or below a threshold for N consecutive messages" is run_below >= N. */
struct sentiment_summary {
    int messages;
    int counts[3];                      /* by label */
    double mean_polarity, min_polarity; /* 0 and 0 before the first message */
    double last_polarity;
    double trend;                         /* last polarity minus the mean of those before it */
    enum sentiment_priority max_priority; /* LOW before the first message */
    unsigned cues;                        /* every cue seen */
    int run_below;              /* consecutive latest messages with polarity <= threshold */
    enum sentiment_label label; /* of the whole: from mean_polarity, as the lexicon */
};

/* Starts an empty summary. Cannot fail. */
void sentiment_summary_init(struct sentiment_summary *sum);
/* Adds the next message's sentiment; threshold is the polarity at or below which a message
 * counts towards run_below (e.g. -0.3). Cannot fail. */
void sentiment_summary_add(struct sentiment_summary *sum, const struct sentiment *s,
                           double threshold);

/* `ragd sentiment score|eval ...` (argv[0] is "sentiment"). Returns the exit status. */
int sentiment_cli(int argc, char **argv);

#endif
