#include "sentiment/sentiment.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/error.h"
#include "sentiment/sentiment_int.h"

static const struct sentiment_ops *const scorers[] = {&sentiment_lexicon_ops, &sentiment_model_ops,
                                                      &sentiment_llm_ops};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static const struct sentiment_ops *live = &sentiment_lexicon_ops;
static void *live_state;

int sentiment_init(char *err, size_t errcap)
{
    const char *name = config_str("SENTIMENT_SCORER", "lexicon");
    const struct sentiment_ops *ops = NULL;
    for (size_t i = 0; i < sizeof scorers / sizeof *scorers; i++)
        if (!strcasecmp(name, scorers[i]->name)) ops = scorers[i];
    if (!ops)
        return ragd_errf(err, errcap, RAGD_EINVAL,
                         "SENTIMENT_SCORER '%.32s' is not lexicon, model or llm", name);
    void *state = NULL;
    int rc = ops->open(&state, err, errcap);
    if (rc) return rc;
    pthread_rwlock_wrlock(&lock);
    const struct sentiment_ops *old = live;
    void *old_state = live_state;
    live = ops;
    live_state = state;
    pthread_rwlock_unlock(&lock);
    old->close(old_state);
    return 0;
}

void sentiment_shutdown(void)
{
    pthread_rwlock_wrlock(&lock);
    const struct sentiment_ops *old = live;
    void *old_state = live_state;
    live = &sentiment_lexicon_ops;
    live_state = NULL;
    pthread_rwlock_unlock(&lock);
    old->close(old_state);
}

const char *sentiment_scorer_name(void)
{
    pthread_rwlock_rdlock(&lock);
    const char *n = live->name;
    pthread_rwlock_unlock(&lock);
    return n;
}

int sentiment_score(const char *text, size_t len, struct sentiment *out)
{
    if (!text || !out) return RAGD_EINVAL;
    pthread_rwlock_rdlock(&lock);
    const struct sentiment_ops *ops = live;
    int rc = ops == &sentiment_lexicon_ops ? -1 : ops->score(live_state, text, len, out);
    pthread_rwlock_unlock(&lock);
    if (rc) return sentiment_lexicon_score(text, len, out);
    double lex_pol;
    unsigned cues = sentiment_lexicon_scan(text, len, &lex_pol);
    out->cues = cues;
    out->scorer = ops->name;
    out->priority = sentiment_priority(out->label, out->polarity, cues);
    return 0;
}

unsigned sentiment_cues(const char *text, size_t len)
{
    double p;
    return text ? sentiment_lexicon_scan(text, len, &p) : 0;
}

double sentiment_polarity_of(double p_neg, double p_neu, double p_pos)
{
    (void)p_neu;
    double p = p_pos - p_neg;
    return p < -1 ? -1 : p > 1 ? 1 : p;
}

/* ---- rules ---- */

#define SEVERE                                                                                     \
    (SENTIMENT_CUE_LEGAL | SENTIMENT_CUE_SECURITY | SENTIMENT_CUE_OUTAGE | SENTIMENT_CUE_DATA_LOSS)
#define STRONG_NEGATIVE (-0.6)

enum sentiment_priority sentiment_priority(enum sentiment_label label, double polarity,
                                           unsigned cues)
{
    int neg = label == SENTIMENT_NEGATIVE;
    if (neg && (cues & SEVERE)) return SENTIMENT_URGENT;
    if (neg && polarity <= STRONG_NEGATIVE && (cues & (SENTIMENT_CUE_CANCEL | SENTIMENT_CUE_NOW)))
        return SENTIMENT_URGENT;
    unsigned pressure = cues & (SENTIMENT_CUE_CANCEL | SENTIMENT_CUE_REFUND | SENTIMENT_CUE_NOW |
                                SENTIMENT_CUE_SHOUT | SENTIMENT_CUE_HUMAN);
    if (neg && __builtin_popcount(pressure) >= 3) return SENTIMENT_URGENT;
    if (label == SENTIMENT_NEUTRAL && (cues & SEVERE)) return SENTIMENT_HIGH;
    if (neg && (polarity <= STRONG_NEGATIVE ||
                (cues & (SENTIMENT_CUE_CANCEL | SENTIMENT_CUE_REFUND | SENTIMENT_CUE_NOW |
                         SENTIMENT_CUE_SHOUT | SENTIMENT_CUE_HUMAN))))
        return SENTIMENT_HIGH;
    if (neg) return SENTIMENT_MEDIUM;
    if (label == SENTIMENT_NEUTRAL &&
        (cues & (SENTIMENT_CUE_ASK | SENTIMENT_CUE_NOW | SENTIMENT_CUE_HUMAN |
                 SENTIMENT_CUE_BILLING | SENTIMENT_CUE_CANCEL | SENTIMENT_CUE_REFUND)))
        return SENTIMENT_MEDIUM;
    return SENTIMENT_LOW;
}

size_t sentiment_actions(const struct sentiment *s, const char **out, size_t cap)
{
    size_t n = 0;
#define ADD(name)                                                                                  \
    do {                                                                                           \
        if (n < cap) out[n++] = name;                                                              \
    } while (0)
    unsigned c = s->cues;
    int neg = s->label == SENTIMENT_NEGATIVE;
    if (s->priority >= SENTIMENT_HIGH || (c & SENTIMENT_CUE_HUMAN)) ADD("escalate_to_human");
    if (c & SENTIMENT_CUE_LEGAL) ADD("notify_legal_team");
    if (c & SENTIMENT_CUE_SECURITY) ADD("secure_account");
    if (c & SENTIMENT_CUE_OUTAGE) ADD("check_service_status");
    if (c & SENTIMENT_CUE_DATA_LOSS) ADD("check_backups");
    if (c & SENTIMENT_CUE_REFUND) ADD("share_refund_policy");
    if (c & SENTIMENT_CUE_CANCEL) ADD(neg ? "offer_retention" : "explain_cancellation");
    if (c & SENTIMENT_CUE_BILLING) ADD("review_billing_history");
    if (neg) ADD("acknowledge_and_apologize");
    if (s->label == SENTIMENT_POSITIVE) ADD("thank_customer");
    if (s->label == SENTIMENT_NEUTRAL && (c & SENTIMENT_CUE_ASK)) ADD("answer_from_knowledge_base");
#undef ADD
    return n;
}

/* ---- a conversation's summary ---- */

void sentiment_summary_init(struct sentiment_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    sum->max_priority = SENTIMENT_LOW;
    sum->label = SENTIMENT_NEUTRAL;
}

void sentiment_summary_add(struct sentiment_summary *sum, const struct sentiment *s,
                           double threshold)
{
    int n = sum->messages;
    double before = sum->mean_polarity;
    sum->messages = n + 1;
    if ((unsigned)s->label <= SENTIMENT_POSITIVE) sum->counts[s->label]++;
    sum->mean_polarity = (before * n + s->polarity) / (n + 1);
    sum->min_polarity = n == 0 || s->polarity < sum->min_polarity ? s->polarity : sum->min_polarity;
    sum->last_polarity = s->polarity;
    sum->trend = n == 0 ? 0 : s->polarity - before;
    if (s->priority > sum->max_priority) sum->max_priority = s->priority;
    sum->cues |= s->cues;
    sum->run_below = s->polarity <= threshold ? sum->run_below + 1 : 0;
    sum->label = sum->mean_polarity >= 0.12    ? SENTIMENT_POSITIVE
                 : sum->mean_polarity <= -0.12 ? SENTIMENT_NEGATIVE
                                               : SENTIMENT_NEUTRAL;
}

/* ---- names ---- */

static const char *const label_names[] = {"NEGATIVE", "NEUTRAL", "POSITIVE"};
static const char *const priority_names[] = {"LOW", "MEDIUM", "HIGH", "URGENT"};

const char *sentiment_label_name(enum sentiment_label l)
{
    return (unsigned)l < 3 ? label_names[l] : "NEUTRAL";
}

const char *sentiment_priority_name(enum sentiment_priority p)
{
    return (unsigned)p < 4 ? priority_names[p] : "MEDIUM";
}

int sentiment_label_parse(const char *name, enum sentiment_label *out)
{
    static const struct {
        const char *name;
        enum sentiment_label l;
    } forms[] = {
        {"positive", SENTIMENT_POSITIVE},      {"pos", SENTIMENT_POSITIVE},
        {"very positive", SENTIMENT_POSITIVE}, {"4 stars", SENTIMENT_POSITIVE},
        {"5 stars", SENTIMENT_POSITIVE},       {"negative", SENTIMENT_NEGATIVE},
        {"neg", SENTIMENT_NEGATIVE},           {"very negative", SENTIMENT_NEGATIVE},
        {"1 star", SENTIMENT_NEGATIVE},        {"2 stars", SENTIMENT_NEGATIVE},
        {"neutral", SENTIMENT_NEUTRAL},        {"neu", SENTIMENT_NEUTRAL},
        {"3 stars", SENTIMENT_NEUTRAL},
    };
    if (!name) return RAGD_ENOTFOUND;
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++)
        if (!strcasecmp(name, forms[i].name)) {
            *out = forms[i].l;
            return 0;
        }
    return RAGD_ENOTFOUND;
}

int sentiment_priority_parse(const char *name, enum sentiment_priority *out)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcasecmp(name, priority_names[i])) {
            *out = (enum sentiment_priority)i;
            return 0;
        }
    return RAGD_ENOTFOUND;
}
