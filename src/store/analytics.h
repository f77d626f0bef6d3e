/* analytics.h (store) - the reads behind an organization's support-desk analytics: its widget
 * conversations, the messages of both sides, the answers' cost and feedback, tickets, and the
 * questions answered with low confidence. Read-only, apart from the indexes it registers.
 *
 * A range is two ISO-8601 UTC texts [from, to): rows whose created_at sorts at or after from
 * and before to ("2026-01-01" and "2026-02-01" take January whole). Each reader walks one
 * index range (the indexes of versions 430-449 and the tickets schema's, see analytics.c) and
 * hands every row to a callback; the texts in a row are valid only during the call. A callback
 * returns 0 to go on or a non-zero value to stop: the reader then returns that value.
 *
 * Same conventions as store.h: the calling thread's connection, 0 or a negative RAGD_E*. */
#ifndef RAGD_STORE_ANALYTICS_H
#define RAGD_STORE_ANALYTICS_H

#include <stdint.h>

/* Registers the analytics indexes (versions 430-449). Call before store_migrate(). */
void store_analytics_register(void);

/* A visitor's message. */
struct store_avisit {
    const char *created_at;
    const char *body;
    const char *label; /* POSITIVE | NEUTRAL | NEGATIVE, or NULL when not scored */
    double score;      /* when label */
};
typedef int (*store_avisit_fn)(void *ud, const struct store_avisit *m);
/* Every visitor message of org_id in [from, to), oldest first. */
int store_analytics_visits(const char *org_id, const char *from, const char *to, store_avisit_fn fn,
                           void *ud);

/* An assistant's answer. */
struct store_aanswer {
    const char *created_at;
    int has_confidence, has_tokens, has_latency;
    double confidence;
    int feedback; /* 1 helpful, -1 not helpful, 0 none */
    int64_t tokens, latency_ms;
};
typedef int (*store_aanswer_fn)(void *ud, const struct store_aanswer *m);
/* Every answer of org_id in [from, to), oldest first (read from one covering index). */
int store_analytics_answers(const char *org_id, const char *from, const char *to,
                            store_aanswer_fn fn, void *ud);

/* Agents' replies the visitor sees (internal notes left out), per day. */
typedef int (*store_aday_fn)(void *ud, const char *day, int64_t count);
/* The days of [from, to) with agent replies of org_id: day "YYYY-MM-DD" and the count,
 * oldest first. */
int store_analytics_agent_days(const char *org_id, const char *from, const char *to,
                               store_aday_fn fn, void *ud);

/* A conversation and what became of it. */
struct store_aconv {
    const char *created_at;
    int answered; /* it has at least one assistant answer */
    int ticket;   /* at least one ticket was opened on it */
    int handoff;  /* the visitor asked for a person */
};
typedef int (*store_aconv_fn)(void *ud, const struct store_aconv *c);
/* Every conversation of org_id started in [from, to), oldest first. */
int store_analytics_conversations(const char *org_id, const char *from, const char *to,
                                  store_aconv_fn fn, void *ud);

/* Tickets opened in a range, by status. */
struct store_atickets {
    int64_t open, pending, resolved, closed;
};
/* The tickets of org_id created in [from, to), counted by status: *out. */
int store_analytics_tickets(const char *org_id, const char *from, const char *to,
                            struct store_atickets *out);

/* An answer given with low confidence, and the question it answered. */
struct store_agap {
    const char *created_at;
    const char *conversation_id;
    const char *question; /* the visitor's message before the answer; NULL when none */
    double confidence;
};
typedef int (*store_agap_fn)(void *ud, const struct store_agap *g);
/* Every answer of org_id in [from, to) whose confidence is below threshold, oldest first. */
int store_analytics_gaps(const char *org_id, const char *from, const char *to, double threshold,
                         store_agap_fn fn, void *ud);

#endif
