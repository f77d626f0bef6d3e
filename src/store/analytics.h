/* analytics.h (store) - the reads behind an organization's support-desk analytics: its widget
 * conversations, the messages of both sides, the answers' cost and feedback, tickets, and the
 * questions answered with low confidence. Read-only, apart from the indexes it registers and
 * the per-day summaries below (version 432).
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

#include "store/db.h"

/* Registers the analytics indexes and tables (versions 430-449). Call before store_migrate(). */
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

/* ---- day summaries (version 432) ----
 * analytics_days holds one row per (organization, UTC day): a version that every write
 * counted in that day's figures raises, and the summary built from the raw rows at version
 * `built` (support/analytics.c owns its format) for the low-confidence threshold it used.
 * A day is current when built == version and the threshold is the same; the report
 * rebuilds the others, so days that no write touched since (or rows written before this
 * table existed) are rebuilt once, and a summary is never trusted past a write.
 *
 * The store's writers call the touch functions on their own connection c, inside their
 * transaction where they have one. A message counts on its own day and, for whether its
 * conversation was answered, on the conversation's day; a ticket on its own day and, for
 * escalation, on its conversation's day. Writes that bypass the store (SQL by hand) to a day
 * already built are not seen. */

/* Raises the version of org_id's day of at (an ISO-8601 time). */
int store_analytics_touch(db_conn_t *c, const char *org_id, const char *at);
/* Raises the version of the day conversation conv_id started on. */
int store_analytics_touch_conv(db_conn_t *c, const char *conv_id);
/* Raises the versions of message msg_id's day and of its conversation's day. */
int store_analytics_touch_msg(db_conn_t *c, const char *msg_id);
/* Raises the versions of ticket ticket_id's day and of its conversation's day. */
int store_analytics_touch_ticket(db_conn_t *c, const char *ticket_id);

struct store_aday_row {
    const char *day; /* YYYY-MM-DD */
    int64_t version, built;
    double threshold;    /* -1: none */
    const char *summary; /* NULL before the first build */
};
typedef int (*store_aday_row_fn)(void *ud, const struct store_aday_row *d);
/* The rows of org_id's days from..to (YYYY-MM-DD, inclusive), oldest first. */
int store_analytics_days(const char *org_id, const char *from, const char *to, store_aday_row_fn fn,
                         void *ud);
/* The current version of org_id's day (creating its row): *version. Read it before the raw
 * rows a build sums. */
int store_analytics_day_version(const char *org_id, const char *day, int64_t *version);
/* Stores the summary built at version; a no-op when a write raised the version since (the
 * day stays to be rebuilt). */
int store_analytics_day_save(const char *org_id, const char *day, int64_t version, double threshold,
                             const char *summary);

#endif
