/* chat.h - the chat service: slash commands, retrieval, the RAG prompt (seed 000's
 * _build_rag_prompt plus the session's last turns, truncated to the model's context),
 * generation with fallback to the extractive provider, conversation history and analytics.
 *
 * The HTTP layer (api/chat.c) validates the request, checks the session and the per-feature
 * limits, then calls chat_answer from a worker thread. */
#ifndef RAGD_CHAT_H
#define RAGD_CHAT_H

#include <jansson.h>
#include <stddef.h>

#include "knowledge/knowledge.h"
#include "llm/provider.h"
#include "store/chat.h"
#include "store/store.h"

/* Slash commands of seed 003. */
struct chat_command {
    enum prov_task task; /* PROV_TASK_ANSWER when the message is not a command */
    const char *name;    /* "mcq" ... (static) */
    const char *feature; /* hourly analytics counter: "mcqs_generated" ... (static) */
    const char *daily;   /* billing daily limit: "mcqs_per_day" ... (static) */
    char topic[512];
};

/* Parses message. Returns 0 (not a command, or a command with cmd filled), or RAGD_EINVAL
 * with a message in err for an unknown command or a command without a topic. */
int chat_parse_command(const char *message, struct chat_command *cmd, char *err, size_t errcap);

struct billing_hold;
struct billing_refusal;

struct chat_opts {
    const char *message;
    const char *session_id; /* a UUID, or NULL for a new session */
    int enable_rag;
    size_t top_k;
    enum kn_route route;
    const struct kn_filters *filters; /* may be NULL */
    int debug;
    const struct chat_command *command;
    /* The request's reservations (billing.h), or NULL when nothing is billed. Once the prompt
     * is built, the answer's daily tokens are held there (billing_tokens_reserve: the prompt
     * plus GENERATION_MAX_TOKENS, at least the prompt plus PROV_MIN_ANSWER_TOKENS) and the
     * answer is cut to what was granted; the caller commits the hold with tokens_used or
     * releases it. */
    struct billing_hold *hold;
    struct billing_refusal *refusal; /* receives a refusal of those tokens; may be NULL */
};

/* A passage the answer drew on (seed 000's SourceDocument). Strings owned by the reply. */
struct chat_source {
    char document_id[37];
    int64_t chunk_id;
    char *title;   /* at most 100 bytes, cut on a UTF-8 boundary */
    char *excerpt; /* the passage's first 200 bytes, cut on a UTF-8 boundary */
    double relevance_score;
    char *source_type; /* the document's source, or "unknown" */
};

/* What chat_answer produced; api/chat.c renders it as seed 000's ChatResponse. Everything
 * is owned by the reply: free with chat_reply_free. */
struct chat_reply {
    char session_id[37], message_id[37];
    char *answer;
    double confidence;
    int context_used;            /* sources were found: response_type "rag_enhanced" */
    struct chat_source *sources; /* every passage the prompt numbered, [1] first (the API's
                                    sources are the first 3, more_sources the rest) */
    size_t nsources;
    const char *retrieval_route; /* static route name, or NULL without retrieval */
    double response_time_ms;
    int prompt_tokens, completion_tokens;
    char model[128];
    const char *command;    /* the slash command's name (static), or NULL */
    json_t *command_output; /* a command's structured output (model-made JSON), or NULL */
    /* For debug_info. */
    const char *provider; /* the provider that answered (static) */
    int fallback;         /* the extractive provider answered after the generator failed */
    size_t passages_retrieved;
    int search_cached;
    unsigned search_methods;     /* KN_METHOD_* */
    struct prov_message *prompt; /* the prompt messages sent, strings owned by the reply */
    size_t nprompt;
    char **prompt_arena;
    char *generation_error; /* the generator's error when fallback, else "" */
};
void chat_reply_free(struct chat_reply *r);

/* Answers for user u: read the session's history (its owner with it), retrieve, build the
 * prompt, hold its tokens (o->hold), generate (on_token receives the text as it is produced
 * and may return non-zero to stop), record both messages, and count the hourly activity
 * (messages, tokens, a command's feature: with o->hold they are written in its commit). On
 * success fills *reply. Errors: RAGD_ENOTFOUND (another user's session),
 * RAGD_EPERM when the daily token allowance cannot cover the prompt and the shortest answer
 * (*o->refusal filled; nothing generated or stored), RAGD_EIO when on_token asked to stop
 * before the answer was complete (the client went away: nothing is stored), RAGD_ELIMIT
 * when the local generator's queue is full (nothing is stored; answer 503), store errors. A
 * failed generator falls back to the extractive provider (reply->fallback). */
int chat_answer(const struct user *u, const struct chat_opts *o, prov_token_fn on_token, void *ud,
                struct chat_reply *reply, char *err, size_t errcap);

/* The system prompt used for answers (seed 000's default). */
extern const char *const chat_system_prompt;

/* Builds the prompt messages for a question with passages[0..np) and the conversation's last
 * turns history[0..nh) (at most 10 are used), keeping the total within budget tokens as
 * counted by p: the oldest turns go first (a user message and its answer at a time), then the
 * lowest-ranked passages, then the question is cut. A passage that a kept user turn already
 * carries in full is named by its title instead of repeated (its number stays). Returns the
 * number of messages written to msgs (at most 2 + 10); their strings are owned by *arena
 * (free each then the array: chat_prompt_free). *np_used gets the passages kept. The last
 * message is the new user turn as sent: chat sessions store it with the message, replay it
 * in later prompts, and keep their history's start fixed for longer (chat_answer). */
size_t chat_build_prompt(prov_provider_t *p, const char *system, const char *question,
                         const struct prov_passage *passages, size_t np,
                         const struct chat_turn *history, size_t nh, int budget,
                         struct prov_message *msgs, char ***arena, size_t *np_used);
void chat_prompt_free(char **arena);

#endif
