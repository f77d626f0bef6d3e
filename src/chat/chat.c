/* chat.c - RAG answers, slash commands, conversation history. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "chat/chat.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/chat.h"

const char *const chat_system_prompt =
    "You are a helpful AI assistant. Answer questions based on the provided context. "
    "If the context doesn't contain relevant information, say so clearly. Cite the context "
    "you use by its number, like [1].";

/* ---- slash commands ---- */

/* Each command has an hourly analytics counter (seed 003's "<feature>_generated") and a
 * billing daily limit. Seed 003's plans limit mcqs_per_day and flashcards_per_day; the other
 * three are counted and unlimited unless the plans file sets them. */
static const struct {
    const char *name, *feature, *daily;
    enum prov_task task;
    const char *instructions;
} commands[] = {
    {"flashcard", "flashcards_generated", "flashcards_per_day", PROV_TASK_FLASHCARD,
     "Create up to 5 flashcards for spaced repetition about the topic, using the context. "
     "Reply with JSON only: {\"flashcards\": [{\"front\": \"question\", \"back\": "
     "\"answer\"}]}"},
    {"mcq", "mcqs_generated", "mcqs_per_day", PROV_TASK_MCQ,
     "Write one multiple-choice question about the topic, using the context. Reply with JSON "
     "only: {\"question\": \"...\", \"options\": {\"A\": \"...\", \"B\": \"...\", \"C\": "
     "\"...\", \"D\": \"...\"}, \"answer\": \"A\", \"explanation\": \"...\"}"},
    {"highyield", "highyield_generated", "highyield_per_day", PROV_TASK_HIGHYIELD,
     "List the high-yield points about the topic as short bullet points (\"- \"), each "
     "citing the context like [1]."},
    {"explain", "explanations_generated", "explanations_per_day", PROV_TASK_EXPLAIN,
     "Explain the topic in detail: a comprehensive breakdown with examples, citing the "
     "context like [1]."},
    {"map", "concept_maps_generated", "concept_maps_per_day", PROV_TASK_MAP,
     "Build a concept map of the topic from the context. Reply with JSON only: {\"nodes\": "
     "[{\"id\": \"concept\"}], \"edges\": [{\"from\": \"concept\", \"to\": \"concept\", "
     "\"label\": \"relation\"}]}"},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

int chat_parse_command(const char *message, struct chat_command *cmd, char *err, size_t errcap)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->task = PROV_TASK_ANSWER;
    const char *p = message;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    if (*p != '/' || !isalpha((unsigned char)p[1])) return 0;
    p++;
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '-')
        n++;
    for (int i = 0; i < NCOMMANDS; i++) {
        if (strlen(commands[i].name) != n || strncasecmp(p, commands[i].name, n)) continue;
        const char *t = p + n;
        while (*t && isspace((unsigned char)*t))
            t++;
        size_t tl = strlen(t);
        while (tl && isspace((unsigned char)t[tl - 1]))
            tl--;
        if (!tl) {
            snprintf(err, errcap, "/%s needs a topic, e.g. /%s vector search", commands[i].name,
                     commands[i].name);
            return RAGD_EINVAL;
        }
        if (tl >= sizeof cmd->topic) {
            /* Cut on a UTF-8 boundary. */
            tl = sizeof cmd->topic - 1;
            while (tl && ((unsigned char)t[tl] & 0xC0) == 0x80)
                tl--;
        }
        memcpy(cmd->topic, t, tl);
        cmd->topic[tl] = '\0';
        cmd->task = commands[i].task;
        cmd->name = commands[i].name;
        cmd->feature = commands[i].feature;
        cmd->daily = commands[i].daily;
        return 0;
    }
    snprintf(err, errcap,
             "unknown command /%.*s; available: /flashcard, /mcq, /highyield, /explain, /map",
             (int)(n > 40 ? 40 : n), p);
    return RAGD_EINVAL;
}

static const char *instructions_for(enum prov_task t)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (commands[i].task == t) return commands[i].instructions;
    return NULL;
}

/* ---- prompt ---- */

void chat_prompt_free(char **arena)
{
    if (!arena) return;
    for (char **a = arena; *a; a++)
        free(*a);
    free(arena);
}

/* A chat session's prompt replays its earlier turns as they were sent, each user turn with
 * the passages it was answered from (chat_row.prompt), so that the previous turn's prompt is
 * a prefix of the next and a local model's prefix cache evaluates only the new tokens. The
 * history kept is at most HISTORY_MAX messages starting at a message number of the session
 * that is a multiple of HISTORY_STEP: when old turns must go, whole turns go, three at a time,
 * so the next two turns start at the same message again and keep the prefix. */
enum { HISTORY_MAX = 10, HISTORY_STEP = 6 };

/* The first history index >= h (capped at nhist) whose message number base + h is a multiple
 * of step. */
static size_t history_start(size_t h, size_t base, size_t step, size_t nhist)
{
    while (h < nhist && (base + h) % step)
        h++;
    return h < nhist ? h : nhist;
}

/* 1 if the passage text after "] " (its title and content, as user_block writes it) is in one
 * of the user turns history[0..nh). */
static int passage_given(const char *text, const struct chat_turn *history, size_t nh)
{
    for (size_t i = 0; i < nh; i++)
        if (!history[i].assistant && history[i].message && strstr(history[i].message, text))
            return 1;
    return 0;
}

/* c cut to at most max bytes on a UTF-8 boundary: its length. */
static size_t utf8_cut(const char *c, size_t max)
{
    size_t n = strlen(c);
    if (n > max)
        for (n = max; n && ((unsigned char)c[n] & 0xC0) == 0x80; n--)
            ;
    return n;
}

/* The context block of seed 000's _build_rag_prompt: up to 5 passages, 500 characters
 * each (cut on a UTF-8 boundary), with their scores. A passage that a user turn of history
 * already carries in full is named by its title (or its first 40 bytes) instead of repeated. */
static char *user_block(const char *question, const struct prov_passage *p, size_t np, size_t qcut,
                        const struct chat_turn *history, size_t nh)
{
    struct sbuf b;
    sb_init(&b);
    if (np) {
        sb_adds(&b, "Relevant Context:");
        for (size_t i = 0; i < np; i++) {
            const char *c = p[i].content ? p[i].content : "";
            struct sbuf t; /* what follows the score */
            sb_init(&t);
            sb_adds(&t, "] ");
            if (p[i].title && *p[i].title) sb_printf(&t, "(%s) ", p[i].title);
            sb_add(&t, c, utf8_cut(c, 500));
            char *text = sb_take(&t);
            sb_printf(&b, "\n%zu. [Score: %.3f", i + 1, p[i].score);
            if (*c && nh && passage_given(text, history, nh)) {
                if (p[i].title && *p[i].title) {
                    sb_printf(&b, "] (%s) (in full above)", p[i].title);
                } else {
                    sb_adds(&b, "] ");
                    sb_add(&b, c, utf8_cut(c, 40));
                    sb_adds(&b, "... (in full above)");
                }
            } else {
                sb_adds(&b, text);
            }
            free(text);
        }
        sb_adds(&b, "\n\n");
    }
    size_t ql = strlen(question);
    if (qcut < ql) {
        ql = qcut;
        while (ql && ((unsigned char)question[ql] & 0xC0) == 0x80)
            ql--;
    }
    sb_adds(&b, "User Question: ");
    sb_add(&b, question, ql);
    sb_adds(&b, "\n\nAssistant Response:");
    return sb_take(&b);
}

/* chat_build_prompt with the history's window: history[i] is message base + i of its
 * conversation, and the kept part starts at a multiple of step (history_start). */
static size_t build_prompt(prov_provider_t *p, const char *system, const char *question,
                           const struct prov_passage *passages, size_t np,
                           const struct chat_turn *history, size_t nhist, size_t base, size_t step,
                           int budget, struct prov_message *msgs, char ***arena, size_t *np_used)
{
    if (np > 5) np = 5;
    size_t h0 = history_start(nhist > HISTORY_MAX ? nhist - HISTORY_MAX : 0, base, step, nhist);
    size_t qcut = (size_t)-1;
    char *block = NULL;
    for (;;) {
        free(block);
        block = user_block(question, passages, np, qcut, history + h0, nhist - h0);
        int total = prov_count_tokens(p, system, strlen(system)) +
                    prov_count_tokens(p, block, strlen(block)) + 8;
        for (size_t i = h0; i < nhist; i++) {
            const char *m = history[i].message;
            total += prov_count_tokens(p, m ? m : "", m ? strlen(m) : 0) + 4;
        }
        if (total <= budget) break;
        if (h0 < nhist) { /* drop the oldest turns up to the next start */
            h0 = history_start(h0 + 1, base, step, nhist);
        } else if (np) {
            np--;
        } else {
            size_t ql = strlen(question);
            size_t cur = qcut < ql ? qcut : ql;
            if (cur <= 16) break; /* nothing left to cut */
            qcut = cur - (size_t)(total - budget) * 4 - 16;
            if (qcut > cur) qcut = 16;
        }
    }
    size_t nh = nhist - h0;
    char **a = xcalloc(nh + 3, sizeof *a);
    size_t k = 0, na = 0;
    a[na++] = xstrdup(system);
    msgs[k++] = (struct prov_message){"system", a[0]};
    for (size_t i = h0; i < nhist; i++) {
        const char *m = history[i].message;
        a[na] = xstrdup(m ? m : "");
        msgs[k++] = (struct prov_message){history[i].assistant ? "assistant" : "user", a[na++]};
    }
    a[na++] = block;
    msgs[k++] = (struct prov_message){"user", block};
    *arena = a;
    *np_used = np;
    return k;
}

size_t chat_build_prompt(prov_provider_t *p, const char *system, const char *question,
                         const struct prov_passage *passages, size_t np,
                         const struct chat_turn *history, size_t nhist, int budget,
                         struct prov_message *msgs, char ***arena, size_t *np_used)
{
    /* The oldest turn (two messages) at a time, from the last HISTORY_MAX messages. */
    size_t first = nhist > HISTORY_MAX ? nhist - HISTORY_MAX : 0;
    return build_prompt(p, system, question, passages, np, history, nhist, first % 2, 2, budget,
                        msgs, arena, np_used);
}

/* ---- structured output ---- */

/* The JSON object inside a model's reply (between the first '{' and the last '}'). */
static json_t *json_in(const char *text)
{
    const char *a = strchr(text, '{'), *b = strrchr(text, '}');
    if (!a || !b || b < a) return NULL;
    json_error_t je;
    json_t *v = json_loadb(a, (size_t)(b - a + 1), 0, &je);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* A readable answer for structured command output. */
static char *render(enum prov_task t, json_t *o)
{
    struct sbuf b;
    sb_init(&b);
    if (t == PROV_TASK_FLASHCARD) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(o, "flashcards"), i, c)
        {
            sb_printf(&b, "%sFlashcard %zu\nQ: %s\nA: %s", i ? "\n\n" : "", i + 1,
                      json_string_value(json_object_get(c, "front")) ?: "",
                      json_string_value(json_object_get(c, "back")) ?: "");
        }
    } else if (t == PROV_TASK_MCQ) {
        const char *q = json_string_value(json_object_get(o, "question"));
        if (!q) {
            const char *e = json_string_value(json_object_get(o, "error"));
            sb_adds(&b, e ? e : "No question could be made.");
        } else {
            sb_adds(&b, q);
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(o, "options"), k, v)
                sb_printf(&b, "\n%s) %s", k, json_string_value(v) ?: "");
            sb_printf(&b, "\nAnswer: %s\nExplanation: %s",
                      json_string_value(json_object_get(o, "answer")) ?: "?",
                      json_string_value(json_object_get(o, "explanation")) ?: "");
        }
    } else if (t == PROV_TASK_MAP) {
        sb_printf(&b, "Concept map: %s", json_string_value(json_object_get(o, "topic")) ?: "topic");
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(o, "edges"), i, e)
            sb_printf(&b, "\n- %s -> %s: %s", json_string_value(json_object_get(e, "from")) ?: "",
                      json_string_value(json_object_get(e, "to")) ?: "",
                      json_string_value(json_object_get(e, "label")) ?: "");
    }
    const char *note = json_string_value(json_object_get(o, "note"));
    if (note) sb_printf(&b, "\n\n%s", note);
    char *s = sb_take(&b);
    return s ? s : xstrdup("");
}

/* ---- answer: retrieve -> prompt -> generate -> record ---- */

/* s cut to at most max bytes on a UTF-8 boundary (caller frees). */
static char *utf8_prefix(const char *s, size_t max)
{
    return xstrndup(s ? s : "", s ? utf8_cut(s, max) : 0);
}

void chat_reply_free(struct chat_reply *r)
{
    free(r->answer);
    for (size_t i = 0; i < r->nsources; i++) {
        free(r->sources[i].title);
        free(r->sources[i].excerpt);
        free(r->sources[i].source_type);
    }
    free(r->sources);
    json_decref(r->command_output);
    free(r->prompt);
    chat_prompt_free(r->prompt_arena);
    free(r->generation_error);
    memset(r, 0, sizeof *r);
}

/* Everything one answer carries from step to step. */
struct answer {
    const struct user *u;
    const struct chat_opts *o;
    enum prov_task task;
    const char *question;
    struct kn_result kr;
    int retrieved;
    struct prov_passage *pass;
    size_t np, np_used;
    char *system;
    struct prov_message msgs[16];
    size_t nm;
    char **arena;
    prov_provider_t *gen;
    struct chat_turn *turns; /* the session's last turns (none for a new session) */
    size_t nturns, before;
    int max_tokens; /* the answer's most tokens: what the token hold allows */
    struct prov_result pres;
    int fallback;
    char gerr[512];
};

/* Retrieval: the passages for the question through knowledge search (a failure is logged
 * and the answer goes on without context). */
static void retrieve(struct answer *a, struct chat_reply *reply)
{
    a->pass = xcalloc(1, sizeof *a->pass);
    if (!a->o->enable_rag) return;
    const struct user *u = a->u;
    struct kn_caller c = {u->id, u->organization_id[0] ? u->organization_id : NULL,
                          u->is_superuser};
    struct kn_query q = {.text = a->question,
                         .top_k = a->o->top_k ? a->o->top_k : 5,
                         .route = a->o->route,
                         .filters = a->o->filters,
                         .w_vector = 0.5,
                         .w_keyword = 0.5,
                         .vector_fallback = 1};
    char serr[256] = "";
    if (knowledge_search(&c, &q, &a->kr, serr, sizeof serr)) {
        log_json(LOG_WARN, "chat retrieval failed", json_pack("{s:s}", "error", serr));
        return;
    }
    a->retrieved = 1;
    reply->retrieval_route = knowledge_route_name(a->kr.used);
    reply->search_cached = a->kr.cached;
    reply->search_methods = a->kr.methods;
    a->np = a->kr.nhits;
    free(a->pass);
    a->pass = xcalloc(a->np ? a->np : 1, sizeof *a->pass);
    for (size_t i = 0; i < a->np; i++) {
        const struct kn_hit *h = &a->kr.hits[i];
        a->pass[i] =
            (struct prov_passage){h->chunk.document_id, h->chunk.title, h->chunk.content, h->score};
    }
}

/* History: the session's last turns, read with its owner (RAGD_ENOTFOUND: another user's
 * session). */
static int history(struct answer *a, const char *session)
{
    return store_chat_recent(session, a->u->id, HISTORY_MAX, &a->turns, &a->nturns, &a->before);
}

/* Prompt: system (+ command instructions), the session's last turns as they were sent,
 * context, question. */
static void prompt(struct answer *a)
{
    a->gen = prov_generator();
    const char *instr = instructions_for(a->task);
    a->system = instr ? xasprintf("%s\n\nTopic: %s\n%s", chat_system_prompt, a->question, instr)
                      : xstrdup(chat_system_prompt);
    int budget = prov_context_length() - prov_max_tokens();
    if (budget < 128) budget = 128;
    a->nm = build_prompt(a->gen, a->system, a->question, a->pass, a->np, a->turns, a->nturns,
                         a->before, HISTORY_STEP, budget, a->msgs, &a->arena, &a->np_used);
}

/* Tokens: the prompt as the generator counts it (or as the extractive fallback would, when
 * that is more) plus the longest answer are held before generating, and the answer is cut
 * to what the hold allows. */
static int reserve_tokens(struct answer *a, char *err, size_t errcap)
{
    int prompt = prov_count_prompt(a->gen, a->msgs, a->nm);
    if (a->gen != prov_extractive()) {
        int fallback = prov_count_prompt(prov_extractive(), a->msgs, a->nm);
        if (fallback > prompt) prompt = fallback;
    }
    int answer = prov_max_tokens();
    a->max_tokens = answer;
    if (!a->o->hold) return 0;
    int least = answer < PROV_MIN_ANSWER_TOKENS ? answer : PROV_MIN_ANSWER_TOKENS;
    struct billing_refusal own, *ref = a->o->refusal ? a->o->refusal : &own;
    int64_t granted = 0;
    int rc = billing_tokens_reserve(a->o->hold, a->u, (int64_t)prompt + least,
                                    (int64_t)prompt + answer, &granted, ref);
    if (rc == RAGD_ELIMIT) {
        snprintf(err, errcap, "the daily token allowance cannot cover the prompt (%d tokens)",
                 prompt);
        return RAGD_EPERM;
    }
    if (rc) {
        snprintf(err, errcap, "tokens not reserved: %s", ragd_strerror(rc));
        return rc;
    }
    RAGD_ASSERT(granted - prompt >= least && granted - prompt <= answer);
    a->max_tokens = (int)(granted - prompt);
    return 0;
}

/* Generation, with the extractive provider as the fallback of a failed generator. */
static int generate(struct answer *a, prov_token_fn on_token, void *ud, char *err, size_t errcap)
{
    struct prov_request preq = {.messages = a->msgs,
                                .n_messages = a->nm,
                                .passages = a->pass,
                                .n_passages = a->np_used,
                                .question = a->question,
                                .task = a->task,
                                .max_tokens = a->max_tokens,
                                .temperature = -1.0,
                                .user_id = a->u->id};
    int rc = prov_generate(a->gen, &preq, on_token, ud, &a->pres, a->gerr, sizeof a->gerr);
    if (rc == RAGD_ELIMIT || rc == RAGD_ETIMEOUT) {
        /* The local generator is saturated: the caller answers 503 and the client retries;
         * answering extractively instead would hide an overload behind worse answers. */
        snprintf(err, errcap, "%s", a->gerr);
        return RAGD_ELIMIT;
    }
    if (rc && a->pres.partial) {
        /* The answer had started streaming when its provider failed: no second answer. */
        snprintf(err, errcap, "generation failed mid-answer: %s", a->gerr);
        return rc;
    }
    if (rc == RAGD_ENOPROVIDER && !prov_fallback_allowed()) {
        snprintf(err, errcap, "%s", a->gerr);
        return rc; /* the caller answers 503 FEATURE_UNAVAILABLE */
    }
    if (rc && a->gen != prov_extractive()) {
        log_json(LOG_WARN, "generation failed; extractive fallback",
                 json_pack("{s:s, s:s}", "provider", a->gen->ops->name, "error", a->gerr));
        a->fallback = 1;
        rc = prov_generate(prov_extractive(), &preq, on_token, ud, &a->pres, a->gerr,
                           sizeof a->gerr);
    }
    if (rc) {
        snprintf(err, errcap, "generation failed: %s", a->gerr);
        return rc;
    }
    if (a->pres.stopped) {
        /* The client went away before the answer was complete: nothing to store or charge. */
        snprintf(err, errcap, "the client went away during generation");
        return RAGD_EIO;
    }
    return 0;
}

/* The reply from the generated text: structured command output, sources, figures. */
static void shape(struct answer *a, struct chat_reply *reply)
{
    const struct chat_command *cmd = a->o->command;
    reply->answer = xstrdup(a->pres.text ? a->pres.text : "");
    enum prov_task t = a->task;
    if (t == PROV_TASK_FLASHCARD || t == PROV_TASK_MCQ || t == PROV_TASK_MAP) {
        reply->command_output = json_in(reply->answer);
        if (reply->command_output) {
            if (!json_object_get(reply->command_output, "topic"))
                json_object_set_new(reply->command_output, "topic", json_string(a->question));
            free(reply->answer);
            reply->answer = render(t, reply->command_output);
        }
    }
    if (!reply->command_output && t != PROV_TASK_ANSWER)
        reply->command_output =
            json_pack("{s:s, s:s}", "topic", a->question, "text", reply->answer);
    if (cmd && cmd->name)
        reply->command = cmd->name;
    else {
        json_decref(reply->command_output);
        reply->command_output = NULL;
    }

    /* Sources: every passage the prompt numbered, so each [n] the answer cites has one (the
     * API shows the top 3 as seed 000's SourceDocument list and the rest beside them). */
    size_t ns = a->np_used;
    reply->sources = xcalloc(ns ? ns : 1, sizeof *reply->sources);
    for (size_t i = 0; i < ns; i++) {
        const struct kn_hit *h = &a->kr.hits[i];
        struct chat_source *s = &reply->sources[reply->nsources++];
        memcpy(s->document_id, h->chunk.document_id, sizeof s->document_id);
        s->chunk_id = h->chunk.id;
        s->title = utf8_prefix(h->chunk.title, 100);
        s->excerpt = utf8_prefix(h->chunk.content, 200);
        s->relevance_score = h->score;
        s->source_type = xstrdup(h->chunk.source ? h->chunk.source : "unknown");
    }
    reply->context_used = reply->nsources > 0;
    reply->confidence = reply->context_used ? 0.9 : 0.7;
    reply->prompt_tokens = a->pres.prompt_tokens;
    reply->completion_tokens = a->pres.completion_tokens;
    snprintf(reply->model, sizeof reply->model, "%s",
             a->pres.model[0] ? a->pres.model : a->gen->ops->model(a->gen->self));
    /* The backend that answered (the router names it); static strings only. */
    const char *by = a->pres.provider;
    reply->provider = a->fallback             ? "extractive"
                      : !strcmp(by, "openai") ? "openai"
                      : !strcmp(by, "gemini") ? "gemini"
                      : !strcmp(by, "local")  ? "local"
                                              : a->gen->ops->name;
    reply->fallback = a->fallback;
    reply->passages_retrieved = a->np;
    reply->generation_error = xstrdup(a->fallback ? a->gerr : "");
    /* The prompt moves into the reply (debug_info). */
    reply->prompt = xcalloc(a->nm, sizeof *reply->prompt);
    memcpy(reply->prompt, a->msgs, a->nm * sizeof *reply->prompt);
    reply->nprompt = a->nm;
    reply->prompt_arena = a->arena;
    a->arena = NULL;
}

/* The reply's sources as a compact JSON array (caller frees), NULL when there are none. */
static char *sources_text(const struct chat_reply *reply)
{
    if (!reply->nsources) return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < reply->nsources; i++) {
        const struct chat_source *s = &reply->sources[i];
        json_array_append_new(arr,
                              json_pack("{s:s, s:I, s:s, s:s, s:f, s:s}", "document_id",
                                        s->document_id, "chunk_id", (json_int_t)s->chunk_id,
                                        "title", s->title, "excerpt", s->excerpt, "relevance_score",
                                        s->relevance_score, "source_type", s->source_type));
    }
    char *out = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return out;
}

/* An hourly activity count: with the request's usage when it is billed (written in the
 * commit's transaction), at once otherwise. */
static void count(const struct answer *a, const char *resource, int64_t n)
{
    if (a->o->hold)
        billing_hold_count(a->o->hold, resource, n);
    else
        store_usage_hit(a->u->id, resource, n);
}

/* History: the question and the answer, then the activity counts. */
static int record(struct answer *a, struct chat_reply *reply, int64_t ms, char *err, size_t errcap)
{
    const struct user *u = a->u;
    const struct chat_opts *o = a->o;
    char *title = utf8_prefix(o->message, 80);
    char *sources = sources_text(reply);
    struct chat_row rows[2] = {
        {.session_id = reply->session_id,
         .user_id = u->id,
         .actor = "user",
         .message = o->message,
         .embedding_used = 0,
         .tokens_used = reply->prompt_tokens,
         .confidence = -1},
        {.session_id = reply->session_id,
         .user_id = u->id,
         .actor = "assistant",
         .message = reply->answer,
         .embedding_used = a->retrieved && a->kr.used != KN_EXACT,
         .tokens_used = reply->completion_tokens,
         .response_time_ms = ms,
         .model_used = reply->model,
         .confidence = reply->confidence,
         .response_type = reply->context_used ? "rag_enhanced" : "generation_only",
         .retrieval_route = reply->retrieval_route ? reply->retrieval_route : "none",
         .command = reply->command,
         .fallback_applied = a->fallback,
         .sources = sources},
    };
    /* The user turn as this prompt carried it, for the session's later prompts. */
    rows[0].prompt = reply->nprompt ? reply->prompt[reply->nprompt - 1].content : NULL;
    int rc = store_chat_append(reply->session_id, u->id, title, u->subscription_plan, rows, 2);
    free(title);
    free(sources);
    if (rc) {
        snprintf(err, errcap, "cannot store the conversation: %s", ragd_strerror(rc));
        return rc == RAGD_EPERM ? RAGD_ENOTFOUND : rc; /* the session was taken meanwhile */
    }
    snprintf(reply->message_id, sizeof reply->message_id, "%s", rows[1].message_id);
    count(a, "messages", 1);
    count(a, "tokens", reply->prompt_tokens + reply->completion_tokens);
    if (o->command && o->command->feature) count(a, o->command->feature, 1);
    return 0;
}

int chat_answer(const struct user *u, const struct chat_opts *o, prov_token_fn on_token, void *ud,
                struct chat_reply *reply, char *err, size_t errcap)
{
    int64_t t0 = time_mono_ns();
    memset(reply, 0, sizeof *reply);
    if (o->session_id)
        snprintf(reply->session_id, sizeof reply->session_id, "%s", o->session_id);
    else
        uuid4(reply->session_id);
    const struct chat_command *cmd = o->command;
    struct answer a = {.u = u, .o = o};
    a.task = cmd && cmd->name ? cmd->task : PROV_TASK_ANSWER;
    a.question = a.task != PROV_TASK_ANSWER ? cmd->topic : o->message;

    /* A session named by the caller may be new (it starts with this answer) or the caller's;
     * a new one made here has nothing to read. */
    int rc = o->session_id ? history(&a, reply->session_id) : 0;
    if (rc) {
        snprintf(err, errcap, "%s", rc == RAGD_ENOTFOUND ? "session not found" : ragd_strerror(rc));
        return rc;
    }
    retrieve(&a, reply);
    prompt(&a);
    rc = reserve_tokens(&a, err, errcap);
    if (!rc) rc = generate(&a, on_token, ud, err, errcap);
    if (!rc) {
        shape(&a, reply);
        rc = record(&a, reply, (time_mono_ns() - t0) / 1000000, err, errcap);
    }
    reply->response_time_ms = (double)(time_mono_ns() - t0) / 1e6;
    if (rc) chat_reply_free(reply);
    prov_result_free(&a.pres);
    chat_prompt_free(a.arena);
    free(a.system);
    free(a.pass);
    knowledge_result_free(&a.kr);
    store_chat_turns_free(a.turns, a.nturns);
    return rc;
}
