/* chat.h (store) - conversation history with the seed's ScyllaDB fields, chat sessions (the
 * seed's conversations_metadata) and hourly usage analytics (usage_analytics).
 *
 * Functions use the calling thread's connection and return 0 or a negative RAGD_E* code. */
#ifndef RAGD_STORE_CHAT_H
#define RAGD_STORE_CHAT_H

#include <stddef.h>
#include <stdint.h>

/* Registers the chat tables' migrations (220-239). Call before store_migrate(). */
void store_chat_register(void);

struct chat_row {
    char message_id[37]; /* filled in when empty */
    const char *session_id, *user_id;
    const char *actor; /* "user" or "assistant" */
    const char *message;
    int embedding_used;
    int64_t tokens_used, response_time_ms;
    const char *model_used; /* may be NULL */
    double confidence;      /* < 0 = NULL */
    /* The seed's metadata MAP<TEXT,TEXT>, stored as a JSON object of the fields set:
     * response_type, retrieval_route, command (NULL: absent), fallback_applied ("true"). */
    const char *response_type, *retrieval_route, *command;
    int fallback_applied;
    const char *sources; /* the answer's sources as JSON array text, kept as "sources"; or NULL */
    /* A user message's text as the prompt carried it (its passages, the question), replayed
     * as it is in the session's later prompts; or NULL. */
    const char *prompt;
};

/* Appends messages rows[0..n) to session_id in one transaction, creating the session (with
 * title and plan) when new and updating last_activity and message_count; on PostgreSQL one
 * round trip. RAGD_EPERM if the session belongs to another user (nothing is written). */
int store_chat_append(const char *session_id, const char *user_id, const char *title,
                      const char *plan, struct chat_row *rows, int n);

/* One message of a conversation, as a prompt needs it. */
struct chat_turn {
    int assistant; /* 1: the assistant's answer, 0: the user's message */
    char *message;
};
/* The last n messages of user_id's session in chronological order: *turns (free with
 * store_chat_turns_free), their number *nturns, and in *before how many of the session's
 * messages come before them; none for a session not started yet. RAGD_ENOTFOUND if the
 * session is another user's (one query reads its owner with its messages). A message stored
 * with a prompt text (chat_row.prompt) comes as that text, so that a later prompt replays it
 * as the earlier prompt carried it. */
int store_chat_recent(const char *session_id, const char *user_id, int n, struct chat_turn **turns,
                      size_t *nturns, size_t *before);
void store_chat_turns_free(struct chat_turn *turns, size_t n);

/* One stored message with every column. Strings owned by the record. */
struct chat_msg {
    char message_id[37], session_id[37], user_id[37];
    char *timestamp, *actor, *message;
    int embedding_used;
    int64_t tokens_used, response_time_ms;
    char *model_used; /* or NULL */
    int has_confidence, has_feedback;
    double confidence;
    int64_t feedback_score;
    char *metadata; /* the stored metadata map as JSON text (never NULL) */
};
void store_chat_msgs_free(struct chat_msg *m, size_t n);

/* A page of user_id's messages, newest first (the seed's clustering order); session_id may
 * be NULL for all sessions: *items (free with store_chat_msgs_free), *n of them, and the
 * *total that match. */
int store_chat_history(const char *user_id, const char *session_id, int64_t limit, int64_t offset,
                       struct chat_msg **items, size_t *n, int64_t *total);

/* One conversation session. Strings owned by the record. */
struct chat_session {
    char session_id[37];
    char *title; /* or NULL */
    char *started_at, *last_activity;
    int64_t message_count;
    char *subscription_plan; /* or NULL */
};
void store_chat_sessions_free(struct chat_session *s, size_t n);

/* A page of user_id's sessions, most recent activity first: *items (free with
 * store_chat_sessions_free), *n of them, and the *total. */
int store_chat_sessions(const char *user_id, int64_t limit, int64_t offset,
                        struct chat_session **items, size_t *n, int64_t *total);

/* Renames a session of user_id. RAGD_ENOTFOUND if user_id has no such session. */
int store_chat_session_rename(const char *session_id, const char *user_id, const char *title);

/* Deletes a session of user_id with its messages; *deleted gets the message count.
 * RAGD_ENOTFOUND if user_id has no such session. */
int store_chat_session_delete(const char *session_id, const char *user_id, int64_t *deleted);

/* Sets feedback_score on an assistant message of user_id. RAGD_ENOTFOUND if there is none. */
int store_chat_feedback(const char *message_id, const char *user_id, int score);

/* Adds n to the hourly usage_analytics counter of (user, now's date and hour, resource). */
int store_usage_hit(const char *user_id, const char *resource, int64_t n);
/* One hourly usage counter. */
struct usage_count {
    char date[11]; /* YYYY-MM-DD */
    int hour;
    char resource_type[64];
    int64_t count;
};
/* The user's counters for the last `days` days, newest first: *items (caller frees) and *n. */
int store_usage_analytics(const char *user_id, int days, struct usage_count **items, size_t *n);

#endif
