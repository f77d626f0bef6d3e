/* tickets.h - the support desk's tickets and the sentiment trail of widget conversations.
 *
 * Same conventions as store.h: the calling thread's connection, 0 or a negative RAGD_E*
 * code; times named *_at are ISO-8601 UTC text, as in every other support table.
 *
 * Columns (versions 410 and 411) and what they hold:
 *   widget_messages.sentiment_label / sentiment_score / sentiment_priority / sentiment_polarity
 *       a visitor message's sentiment: label POSITIVE | NEUTRAL | NEGATIVE, score (the
 *       confidence in the label, 0..1), priority LOW..URGENT, polarity (-1..+1, signed)
 *   widget_messages.tokens / latency_ms
 *       an assistant message's tokens (prompt + completion) and answer time
 *   widget_conversations.sentiment_label / sentiment_score / sentiment_polarity /
 *   visitor_messages
 *       the latest visitor label, the mean score and the mean polarity of the scored visitor
 *       messages, and how many there are
 *   widget_conversations.escalated_seq
 *       the last message seq an escalation has seen: the rules look only at what came after
 *   ticket_events
 *       each ticket's history: created, trigger, priority, status, assigned, reply, note
 *   ticket_assignment
 *       the round-robin cursor of each organization (the member who got the last ticket) */
#ifndef RAGD_STORE_TICKETS_H
#define RAGD_STORE_TICKETS_H

#include <stddef.h>
#include <stdint.h>

/* Registers the tickets tables (versions 410-429). Call before store_migrate(). */
void store_tickets_register(void);

/* A visitor message's sentiment and an answer's cost are written with the message
 * (store/orgs.h store_wmsg_add). */

/* ---- escalation ---- */

enum { STORE_ESC_RECENT = 16 };

/* What the escalation rules read about a conversation: only messages after its
 * escalated_seq count. Arrays are latest first. */
struct store_esc_signals {
    int nvisitor;
    double polarity[STORE_ESC_RECENT]; /* visitor messages; NAN where not scored */
    char priority[STORE_ESC_RECENT][8];
    int nanswer;
    double confidence[STORE_ESC_RECENT]; /* assistant messages; -1 where none */
    int64_t not_helpful;                 /* answers since then marked not helpful */
};
/* Reads the signals of conv_id. 0 or a store error. */
int store_esc_signals(const char *conv_id, struct store_esc_signals *out);

/* One escalation to record. */
struct store_escalation {
    const char *org_id, *conv_id;
    const char *category;    /* sentiment, human_request, low_confidence, ... */
    const char *priority;    /* LOW | MEDIUM | HIGH | URGENT */
    const char *subject;     /* for a new ticket */
    const char *reason;      /* one line: why */
    const char *conv_status; /* the conversation's status afterwards ("escalated") */
    int round_robin;         /* assign a new ticket round-robin (else unassigned) */
    int create;              /* 0: only raise an open ticket, never create one */
};
/* What it did. */
struct store_escalated {
    int created;          /* a new ticket */
    int raised;           /* an open ticket's priority went up */
    int found;            /* there is an open ticket (created or not) */
    char ticket_id[37];   /* when found */
    char priority[8];     /* the ticket's priority afterwards */
    char category[80];    /* the ticket's category */
    char assigned_to[37]; /* "" when unassigned */
    char assignee_email[256];
};
/* In one transaction keyed on the organization: when the conversation has an open or
 * pending ticket, raises its priority to e->priority if that is higher; otherwise (and
 * e->create) creates a ticket assigned round-robin among the organization's active agents,
 * or among its admins and owners when it has no agent (or left unassigned). Records the
 * event, sets the conversation's status, priority and escalated_seq. 0 with *out, or a
 * store error (RAGD_ENOTFOUND: no such conversation in the organization). */
int store_ticket_escalate(const struct store_escalation *e, struct store_escalated *out);

/* ---- tickets ---- */

struct store_ticket {
    char id[37], conversation_id[37], organization_id[37];
    char category[80], status[12], priority[8];
    char assigned_to[37];     /* "" when unassigned */
    char assignee_email[256]; /* "" when unassigned */
    char *subject, *reason;   /* owned */
    char created_at[32], updated_at[32];
    char first_response_at[32], resolved_at[32], closed_at[32]; /* "" when NULL */
    char conv_status[24], contact_email[256], visitor_id[65];
    char sentiment_label[12]; /* "" before the first scored message */
    double sentiment_score, sentiment_polarity;
    int64_t visitor_messages;
};
void store_ticket_clear(struct store_ticket *t);
void store_tickets_free(struct store_ticket *t, size_t n);

/* Filters of a list; NULL fields do not filter. */
struct store_ticket_filter {
    const char *org_id;   /* NULL: every organization */
    const char *status;   /* one status */
    const char *priority; /* one priority */
    const char *assignee; /* a user id */
    int unassigned;       /* only tickets with no assignee */
    const char *category; /* exact; "keyword" matches every keyword:<word> */
    const char *q;        /* text in the subject, the reason or the transcript */
    int64_t limit, offset;
};
/* Tickets newest first: *out (free with store_tickets_free; NULL when *n is 0), *total
 * matching. */
int store_tickets_list(const struct store_ticket_filter *f, struct store_ticket **out, size_t *n,
                       int64_t *total);
/* The ticket id: 0 with *out, RAGD_ENOTFOUND. */
int store_ticket_get(const char *id, struct store_ticket *out);

/* A change to a ticket: NULL fields stay. assigned_to "" unassigns. status sets the
 * timestamps: resolved sets resolved_at, closed sets closed_at (and resolved_at when it
 * was not resolved first), open or pending clears both. The event is recorded with actor_id.
 * RAGD_ENOTFOUND; RAGD_ECONFLICT when the ticket's status is no longer expect_status (a
 * concurrent change: the caller checked the transition against it). */
int store_ticket_update(const char *id, const char *expect_status, const char *status,
                        const char *priority, const char *assigned_to, const char *actor_id);
/* 1 when user_id is an active member of org_id with role owner, admin or agent. */
int store_ticket_assignable(const char *org_id, const char *user_id);

/* Adds an agent's message to the ticket's conversation (internal: a note the visitor never
 * sees); a visible one sets first_response_at when unset. Records the event. id_out gets
 * the message id. RAGD_ENOTFOUND. */
int store_ticket_reply(const char *ticket_id, const char *author_id, const char *body, int internal,
                       char id_out[37]);

/* ---- a ticket's transcript and history ---- */

struct store_tmsg {
    char id[37], role[16];
    char *body; /* owned */
    int internal;
    char author_id[37];                              /* "" when none */
    char sentiment_label[12], sentiment_priority[8]; /* "" when not scored */
    double sentiment_score, sentiment_polarity;
    double confidence; /* -1 when none */
    int feedback;
    int64_t tokens, latency_ms; /* -1 when none */
    char created_at[32];
};
void store_tmsgs_free(struct store_tmsg *m, size_t n);
/* Every message of the conversation in order, internal notes included (at most 1000). */
int store_ticket_transcript(const char *conv_id, struct store_tmsg **out, size_t *n);

struct store_tevent {
    char kind[16]; /* created, trigger, priority, status, assigned, reply, note */
    char actor_id[37];
    char *from_value, *to_value, *detail; /* owned, "" when none */
    char created_at[32];
};
void store_tevents_free(struct store_tevent *e, size_t n);
/* The ticket's history, oldest first. */
int store_ticket_events(const char *ticket_id, struct store_tevent **out, size_t *n);

#endif
