/* widget.h - the embeddable support widget: widget keys, widget sessions and answers from an
 * organization's own documents. No HTTP here: api/widget.c renders results.
 *
 * Keys. A publishable key ("pk_" + 32 base64url characters) is meant for web pages: it works
 * only from the origins on its list (scheme://host[:port], exact match) and only with an
 * Origin. A secret key ("sk_" + 32) is for the organization's own servers: it is refused
 * when the request carries an Origin (a browser). Keys are shown once and stored as SHA-256
 * hashes; rotating one revokes it and makes its successor with the same kind, name and
 * origins; revoking a key ends its sessions at once.
 *
 * Sessions. POST /widget/session trades a key for a session token ("wst_" + 32) bound to the
 * organization, the origin (publishable keys) and a visitor id, valid WIDGET_SESSION_MINUTES
 * (15); every use of a live session moves its expiry to WIDGET_SESSION_MINUTES from then,
 * for at most WIDGET_SESSION_MAX_HOURS (24) after it began. Each session has one
 * conversation (widget_conversations), which tickets can later point at. New sessions are
 * limited per client address (WIDGET_SESSIONS_PER_IP_PER_MINUTE, 20) and per organization
 * (settings.widget.sessions_per_minute, at most the plan's); answers per organization and
 * day by the plan (widget_messages_per_day) and per session
 * (WIDGET_MESSAGES_PER_SESSION_PER_MINUTE, 20).
 *
 * Reach. A session token reaches only its own conversation and the organization's own
 * documents (not shared ones, not other organizations'): retrieval runs as a caller with no
 * user and the organization's id, with shared documents filtered out. */
#ifndef RAGD_SUPPORT_WIDGET_H
#define RAGD_SUPPORT_WIDGET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "llm/provider.h"
#include "sentiment/sentiment.h"
#include "store/orgs.h"
#include "support/tickets.h"

#define WIDGET_PK_PREFIX "pk_"
#define WIDGET_SK_PREFIX "sk_"
#define WIDGET_TOKEN_PREFIX "wst_"

/* Reads the WIDGET_* settings above. Cannot fail (bad values are config errors). */
void widget_init(void);

/* 1 when credential looks like a widget key or session token (the auth guard refuses them on
 * every route that is not a widget route). */
int widget_credential(const char *credential);

/* 1 when s is an origin: http or https, a host, an optional port, nothing else. */
int widget_origin_valid(const char *s);

/* A new key as shown once. */
struct widget_newkey {
    char id[37];
    char key[64];
    char prefix[16];
};

/* Creates a key of kind "publishable" (origins[0..n), 1..STORE_WKEY_ORIGINS_MAX, checked with
 * widget_origin_valid) or "secret" (no origins) for org o. RAGD_ELIMIT when the plan's
 * widget_keys are live already. */
int widget_key_create(const struct store_org *o, const char *kind, const char *name,
                      const char *const *origins, size_t n, struct widget_newkey *out);
/* Rotates key_id of org_id: RAGD_ENOTFOUND. */
int widget_key_rotate(const char *org_id, const char *key_id, struct widget_newkey *out);

/* Why a widget request was refused: an HTTP status and a code for api/widget.c. */
struct widget_refusal {
    int status;
    const char *code;   /* static */
    const char *detail; /* static */
    int64_t retry_after_s;
};

/* A live session as a request sees it. */
struct widget_session {
    struct store_wsession s;
    char token[64]; /* only when just created */
    char kind[16];  /* of its key */
    /* Only when just created: the widget's theme and texts from the organization's settings,
     * {title, greeting, primary_color, text_color, position, organization_name} (the
     * caller's reference). */
    json_t *theme;
};

/* Starts a session for key (from the request body), origin (the Origin header or NULL),
 * visitor_id (client-chosen, 8..64 of [A-Za-z0-9_-], or NULL: one is made) from client ip.
 * 0 with *out; RAGD_EPERM with *ref; or a store error. */
int widget_session_start(const char *key, const char *origin, const char *visitor_id,
                         const char *ip, struct widget_session *out, struct widget_refusal *ref);
/* Checks a session token used from origin (may be NULL) and extends the session. 0 with
 * *out; RAGD_EPERM with *ref (no widget session token at all, e.g. a user's access token: 400
 * WIDGET_SESSION_REQUIRED, as a public route answers no 401 to a caller without one; unknown
 * or revoked: 401 INVALID_WIDGET_SESSION, expired: 401 WIDGET_SESSION_EXPIRED, another
 * origin: 403 ORIGIN_MISMATCH); or a store error. */
int widget_session_check(const char *token, const char *origin, struct widget_session *out,
                         struct widget_refusal *ref);
/* 1 when origin may receive CORS headers for this session or key: it is the session's
 * origin. */
int widget_cors_ok(const struct widget_session *s, const char *origin);

/* A passage an answer drew on. */
struct widget_source {
    char document_id[37];
    char *title, *excerpt;
    double score;
};

enum { WIDGET_ACTIONS_MAX = 16 };

/* An answer, owned: widget_reply_free. */
struct widget_reply {
    char visitor_message_id[37], message_id[37];
    char *answer;
    double confidence;
    struct widget_source *sources;
    size_t nsources;
    char *sources_json; /* as stored with the message */
    /* The visitor message's sentiment (stored on it and folded into the conversation). */
    struct sentiment sentiment;
    int has_sentiment;
    /* Suggested next steps (static names): the sentiment's (sentiment_actions), and for the
     * widget "offer_human" (the conversation was escalated, the message asks for a person or
     * its priority is HIGH or more) and "ask_clarifying_question" (the answer's confidence is
     * below the organization's low-confidence threshold). */
    const char *actions[WIDGET_ACTIONS_MAX];
    size_t nactions;
    struct tickets_escalation escalation; /* escalation.escalated: a rule fired */
    int64_t tokens, latency_ms;           /* stored with the answer */
};
void widget_reply_free(struct widget_reply *r);

/* Answers message in the session's conversation from the organization's documents only:
 * stores the visitor's message with its sentiment (the live scorer), retrieves, generates
 * (on_token receives the text as it is produced and may return non-zero to stop), stores the
 * answer with its sources, tokens and answer time, then runs the escalation rules
 * (support/tickets.h; a failure there is logged, the answer stands). 0 with
 * *out; RAGD_EPERM with *ref (the organization's daily answers are used up: 429
 * WIDGET_QUOTA_EXCEEDED; per-session rate: 429 WIDGET_RATE_LIMITED); RAGD_ELIMIT (the
 * generator is busy); RAGD_EIO (the client went away; the answer is not stored); store
 * errors. */
int widget_answer(const struct widget_session *s, const char *message, prov_token_fn on_token,
                  void *ud, struct widget_reply *out, struct widget_refusal *ref);

#endif
