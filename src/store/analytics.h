/* analytics.h (store) - the reads behind an organization's support-desk analytics: its widget
 * conversations, the messages of both sides, the answers' cost and feedback, tickets, and the
 * questions answered with low confidence. Read-only, apart from the indexes it registers.
 *
 * A range is two ISO-8601 UTC texts [from, to): rows whose created_at sorts at or after from
 * and before to ("2026-01-01" and "2026-02-01" take January whole). Sums are computed by the
 * database over one index range (the indexes of versions 430-449 and the tickets schema's,
 * see analytics.c), without sorting; the readers that list rows hand each to a callback
 * (texts valid only during the call; a non-zero return stops the walk and is returned).
 *
 * Same conventions as store.h: the calling thread's connection, 0 or a negative RAGD_E*. */
#ifndef RAGD_STORE_ANALYTICS_H
#define RAGD_STORE_ANALYTICS_H

#include <stdint.h>

/* Registers the analytics indexes (versions 430-449). Call before store_migrate(). */
void store_analytics_register(void);

/* The visitor messages of a range, summed. */
struct store_avisits {
    int64_t messages;
    int64_t positive, neutral, negative; /* by sentiment label; the rest are unscored */
    double score_sum;                    /* over the labelled ones */
};
/* The visitor messages of org_id in [from, to), from one covering index: *out. */
int store_analytics_visits(const char *org_id, const char *from, const char *to,
                           struct store_avisits *out);

/* The assistant's answers of a range, summed. */
struct store_aanswers {
    int64_t answers;
    int64_t helpful, not_helpful;
    int64_t low_confidence;  /* confidence below the threshold given */
    int64_t tokens, tokened; /* the tokens of the answers that carry a count, and those */
};
/* The answers of org_id in [from, to), from one covering index: *out. */
int store_analytics_answers(const char *org_id, const char *from, const char *to, double threshold,
                            struct store_aanswers *out);

/* The distribution of the answers' latency_ms in [from, to): fn gets each value present and
 * how many answers took it, in ascending order. */
typedef int (*store_alatency_fn)(void *ud, int64_t latency_ms, int64_t count);
int store_analytics_latencies(const char *org_id, const char *from, const char *to,
                              store_alatency_fn fn, void *ud);

/* The visitor messages of [from, to) by text: fn gets each distinct body, how many messages
 * had it and when it first came, in order of first appearance. */
typedef int (*store_atext_fn)(void *ud, const char *body, int64_t count, const char *first_at);
int store_analytics_questions(const char *org_id, const char *from, const char *to,
                              store_atext_fn fn, void *ud);

/* Agents' replies the visitor sees (internal notes left out), per day. */
typedef int (*store_aday_fn)(void *ud, const char *day, int64_t count);
/* The days of [from, to) with agent replies of org_id: day "YYYY-MM-DD" and the count,
 * oldest first. */
int store_analytics_agent_days(const char *org_id, const char *from, const char *to,
                               store_aday_fn fn, void *ud);

/* The conversations started in a range and what became of them. */
struct store_aconvs {
    int64_t conversations;
    int64_t answered;  /* with at least one assistant answer */
    int64_t escalated; /* with at least one ticket */
    int64_t handoffs;  /* the visitor asked for a person */
    int64_t deflected; /* answered, without a ticket or a request for a person */
};
/* The conversations of org_id started in [from, to): *out. */
int store_analytics_conversations(const char *org_id, const char *from, const char *to,
                                  struct store_aconvs *out);

/* Tickets opened in a range, by status. */
struct store_atickets {
    int64_t open, pending, resolved, closed;
};
/* The tickets of org_id created in [from, to), counted by status: *out. */
int store_analytics_tickets(const char *org_id, const char *from, const char *to,
                            struct store_atickets *out);

/* The answers of [from, to) whose confidence is below threshold, by the visitor question
 * each answered (the visitor's message before it; NULL when none): fn gets the question, how
 * many such answers, the lowest confidence, the latest answer's time and conversation, and
 * the first answer's time; in order of first appearance. */
struct store_agap {
    const char *question;
    int64_t count;
    double lowest;
    const char *last_at, *conversation_id; /* of the latest answer */
    const char *first_at;
};
typedef int (*store_agap_fn)(void *ud, const struct store_agap *g);
int store_analytics_gaps(const char *org_id, const char *from, const char *to, double threshold,
                         store_agap_fn fn, void *ud);

#endif
