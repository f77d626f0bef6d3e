/* analytics.h - an organization's support-desk analytics over a range of days: what
 * GET /analytics shows its owners and admins. No HTTP here: api/analytics.c renders the
 * report.
 *
 * Definitions (ragd's decisions):
 * - A range is whole UTC days, from and to inclusive, at most ANALYTICS_MAX_DAYS. A
 *   conversation belongs to the day it started; a message, a ticket to the day it was made.
 * - messages: the visitor's messages, the assistant's answers and agents' replies the
 *   visitor sees (internal notes and system notices are not messages).
 * - escalation rate: conversations started in the range on which a ticket was opened /
 *   conversations started in the range.
 * - resolution rate: tickets opened in the range that are resolved or closed / tickets
 *   opened in the range.
 * - deflection rate: conversations started in the range that got an answer and neither a
 *   ticket nor a request for a person / conversations started in the range.
 * - sentiment: the visitor messages' labels (POSITIVE, NEUTRAL, NEGATIVE; unscored ones
 *   apart) and mean score, over the range and per day.
 * - top questions: the visitor messages grouped by similarity. A message is normalised
 *   (lower case, split on anything but letters and digits, common function words and
 *   one-letter words dropped) to a set of words; messages with the same set form a group, and
 *   groups are merged, largest first, into the first cluster whose first group's set has a
 *   token-set Jaccard similarity of at least 0.6 with theirs. Only the
 *   ANALYTICS_CANDIDATES largest groups are clustered (the long tail of one-off phrasings
 *   is left out of the counts). Each cluster shows its count and the first message of its
 *   largest group as the example.
 * - documentation gaps: answers whose confidence is below the organization's threshold
 *   (settings.escalation.low_confidence.threshold, 0..1, the escalation rule's own, read by
 *   tickets_rules_of; ANALYTICS_LOW_CONFIDENCE when unset), with
 *   the visitor question each answered, clustered the same way.
 * - helpful rate: answers marked helpful / answers marked helpful or not helpful.
 * - response time: p50 and p95 of the answers' latency_ms by the nearest-rank method (the
 *   value at rank ceil(p/100 * n) of the n answers that carry one, in ascending order).
 * - tokens: the sum of the answers' tokens, and its mean over the answers that carry one.
 *
 * Cost: each day's figures (its sums, its latencies value by value, its question and
 * low-confidence groups) are summed from the rows once and kept as that day's summary
 * (store/analytics.h); a report merges one summary per day, and sums from the rows again
 * only the days that a store write touched since (today, as a rule) or whose summary was
 * made for another low-confidence threshold. The figures stay exact: percentiles come from
 * the merged per-value counts, and the grouping from the per-day groups of equal word sets
 * (merged in the order of first appearance, as the rows would be). */
#ifndef RAGD_SUPPORT_ANALYTICS_H
#define RAGD_SUPPORT_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>

#include "store/orgs.h"

#define ANALYTICS_LOW_CONFIDENCE 0.5
enum {
    ANALYTICS_MAX_DAYS = 366,
    ANALYTICS_DEFAULT_DAYS = 30,
    ANALYTICS_CANDIDATES = 1000, /* groups of identical word sets that are clustered */
    ANALYTICS_TOP = 10,          /* clusters shown as top questions */
    ANALYTICS_GAPS = 20,         /* clusters shown as documentation gaps */
};

/* A validated range of whole days. */
struct analytics_range {
    char from[11], to[11]; /* YYYY-MM-DD, inclusive */
    char end[11];          /* the day after to: the exclusive bound of created_at */
    int days;
};

/* Why a range was refused: code (static) for the 422 and a message. */
struct analytics_refusal {
    const char *code;
    char message[160];
};

/* Reads from and to (YYYY-MM-DD; NULL or "" for the defaults: to = today (UTC, from now_ms),
 * from = ANALYTICS_DEFAULT_DAYS days back to it). 0 with *out; RAGD_EINVAL with *ref:
 * INVALID_DATE (not a real day in that form), INVALID_RANGE (from after to),
 * RANGE_TOO_LONG (more than ANALYTICS_MAX_DAYS days). Cannot fail otherwise. */
int analytics_range_parse(const char *from, const char *to, int64_t now_ms,
                          struct analytics_range *out, struct analytics_refusal *ref);

/* The organization's low-confidence threshold (see above). Cannot fail. */
double analytics_threshold(const struct store_org *o);

enum { ANALYTICS_POSITIVE, ANALYTICS_NEUTRAL, ANALYTICS_NEGATIVE, ANALYTICS_LABELS };

/* One day of the range. */
struct analytics_day {
    char date[11];
    int64_t conversations;
    int64_t visitor_messages, answers, agent_messages; /* messages = their sum */
    int64_t sentiment[ANALYTICS_LABELS];
    int64_t scored;
    double score_sum; /* over the scored visitor messages */
    int64_t helpful, not_helpful, low_confidence, tokens;
};

/* A cluster of similar questions. */
struct analytics_cluster {
    char *example; /* owned */
    int64_t count;
    /* documentation gaps only: */
    double lowest_confidence;
    char last_at[32];
    char conversation_id[37]; /* of the latest such answer */
};

struct analytics_report {
    struct analytics_range range;
    double threshold;
    struct analytics_day *days; /* range.days of them, owned */
    /* conversations started in the range */
    int64_t conversations, answered, escalated, handoffs, deflected;
    /* tickets opened in the range */
    int64_t tickets_open, tickets_pending, tickets_resolved, tickets_closed;
    /* messages of the range */
    int64_t visitor_messages, answers, agent_messages;
    int64_t sentiment[ANALYTICS_LABELS], scored, unscored;
    double score_sum;
    int64_t helpful, not_helpful;
    int64_t timed_answers, p50_ms, p95_ms; /* p50_ms, p95_ms: 0 when timed_answers is 0 */
    int64_t tokens, tokened_answers;
    int64_t low_confidence;               /* answers below threshold */
    int64_t questions;                    /* visitor messages that took part in the grouping */
    struct analytics_cluster *top, *gaps; /* owned, largest first */
    size_t ntop, ngaps;
};
void analytics_report_free(struct analytics_report *r);

/* Computes the report of organization org_id over range with the given low-confidence
 * threshold: 0 with *out (free with analytics_report_free), or a store error (nothing to
 * free). */
int analytics_report(const char *org_id, const struct analytics_range *range, double threshold,
                     struct analytics_report *out);

#endif
