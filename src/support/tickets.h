/* tickets.h - escalation of widget conversations into tickets, the tickets' life cycle and
 * their SLA. No HTTP here: api/tickets.c renders results, api/widget.c reports escalations.
 *
 * Escalation rules (per organization, settings.escalation; README "Escalation and tickets"
 * gives the defaults). Only the messages since the conversation's last escalation count:
 *   sentiment       the latest `consecutive` visitor messages all have a polarity at or
 *                   below `threshold` (-1..+1)
 *   human_request   the visitor asks for a person in a message, or POST /widget/handoff
 *   low_confidence  the latest `consecutive` answers all have a confidence below `threshold`
 *   not_helpful     `count` answers marked not helpful
 *   keyword:<word>  a visitor message contains one of `words` (whole words, any case)
 * An escalation creates a ticket (category: the rule) whose priority is the higher of the
 * rule's `priority` and the highest sentiment priority of the visitor messages that led to
 * it; with an open or pending ticket on the conversation, a later trigger only raises that
 * ticket's priority. */
#ifndef RAGD_SUPPORT_TICKETS_H
#define RAGD_SUPPORT_TICKETS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sentiment/sentiment.h"
#include "store/orgs.h"
#include "store/tickets.h"

enum { TICKETS_KEYWORDS_MAX = 50 };

/* An organization's escalation rules: settings.escalation over ragd's defaults. */
struct tickets_rules {
    int enabled;
    int round_robin; /* assignment "round_robin" (else "unassigned") */
    struct {
        int on;
        double threshold;
        int consecutive;
        enum sentiment_priority priority;
    } sentiment, low_confidence;
    struct {
        int on;
        enum sentiment_priority priority;
    } human_request;
    struct {
        int on, count;
        enum sentiment_priority priority;
    } not_helpful;
    struct {
        int on;
        enum sentiment_priority priority;
        char words[TICKETS_KEYWORDS_MAX][64]; /* lower case */
        int n;
    } keywords;
    /* SLA targets in minutes, by priority (LOW..URGENT). */
    int64_t first_response_min[4], resolution_min[4];
};

/* The settings a new organization's escalation and sla keys start from (new references):
 * ragd's defaults, as documented. */
json_t *tickets_default_escalation(void);
json_t *tickets_default_sla(void);
/* Checks settings.escalation (esc, may be NULL) and settings.sla (sla, may be NULL) from a
 * PATCH: known keys only, types and ranges as documented. 0, or RAGD_EINVAL with the field
 * (static or thread-local: valid until the thread's next call) and a message in err. */
int tickets_settings_check(json_t *esc, json_t *sla, const char **field, char *err, size_t errcap);
/* The organization's rules (its settings over the defaults). Cannot fail: a malformed
 * setting falls back to its default. */
void tickets_rules_of(const struct store_org *o, struct tickets_rules *out);

/* ---- escalation ---- */

/* What an escalation check did. */
struct tickets_escalation {
    int escalated;            /* a rule fired */
    char category[80];        /* of the rule that fired */
    struct store_escalated t; /* the ticket (t.found) */
};

/* 1 when text asks for a person ("talk to a human", "a real person", "an agent please"). */
int tickets_human_request(const char *text);

/* After a visitor message (text, scored s, or NULL when it could not be scored) and its
 * answer, both stored (the answer's confidence is read back with the other signals; no
 * answer when none could be made) in conversation conv_id of organization o, whose rules
 * (tickets_rules_of) the caller has read: checks them in the order sentiment, human_request,
 * keyword, low_confidence, not_helpful and records the first that fires. 0 with *out
 * (out->escalated 0 when nothing fired), or a store error. */
int tickets_after_message(const struct store_org *o, const struct tickets_rules *r,
                          const char *conv_id, const char *text, const struct sentiment *s,
                          struct tickets_escalation *out);
/* After an answer was marked not helpful. As above. */
int tickets_after_feedback(const char *org_id, const char *conv_id, struct tickets_escalation *out);
/* After POST /widget/handoff (note: what the visitor wrote, may be NULL): the human_request
 * rule (when enabled), leaving the conversation's status handoff_requested. */
int tickets_after_handoff(const char *org_id, const char *conv_id, const char *note,
                          struct tickets_escalation *out);

/* ---- the life cycle ---- */

/* 1 when a ticket may go from status `from` to `to`: open -> pending | resolved | closed,
 * pending -> open | resolved | closed, resolved -> open (reopen) | closed, closed -> open
 * (reopen); the same status is no change. */
int tickets_transition_ok(const char *from, const char *to);

/* The SLA of ticket t under rules r at now_ms. */
struct tickets_sla {
    int64_t first_response_due_ms, resolution_due_ms;
    int first_response_breached, resolution_breached;
};
void tickets_sla_of(const struct store_ticket *t, const struct tickets_rules *r, int64_t now_ms,
                    struct tickets_sla *out);

#endif
