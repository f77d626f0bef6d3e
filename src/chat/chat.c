/* chat.c - RAG answers, slash commands, conversation history. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (*p != '/' || !isalpha((unsigned char)p[1]))
        return 0;
    p++;
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '-')
        n++;
    for (int i = 0; i < NCOMMANDS; i++) {
        if (strlen(commands[i].name) != n || strncasecmp(p, commands[i].name, n))
            continue;
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
        if (commands[i].task == t)
            return commands[i].instructions;
    return NULL;
}

int chat_check_session(const char *session_id, const char *user_id)
{
    char owner[37];
    int rc = store_chat_session_owner(session_id, owner);
    if (rc == RAGD_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    return strcmp(owner, user_id) ? RAGD_ENOTFOUND : 0;
}

/* ---- prompt ---- */

void chat_prompt_free(char **arena)
{
    if (!arena)
        return;
    for (char **a = arena; *a; a++)
        free(*a);
    free(arena);
}

/* The context block of seed 000's _build_rag_prompt: up to 5 passages, 500 characters
 * each (cut on a UTF-8 boundary), with their scores. */
static char *user_block(const char *question, const struct prov_passage *p, size_t np,
                        size_t qcut)
{
    struct sbuf b;
    sb_init(&b);
    if (np) {
        sb_adds(&b, "Relevant Context:");
        for (size_t i = 0; i < np; i++) {
            const char *c = p[i].content ? p[i].content : "";
            size_t n = strlen(c);
            if (n > 500) {
                n = 500;
                while (n && ((unsigned char)c[n] & 0xC0) == 0x80)
                    n--;
            }
            sb_printf(&b, "\n%zu. [Score: %.3f] ", i + 1, p[i].score);
            if (p[i].title && *p[i].title)
                sb_printf(&b, "(%s) ", p[i].title);
            sb_add(&b, c, n);
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

size_t chat_build_prompt(prov_provider_t *p, const char *system, const char *question,
                         const struct prov_passage *passages, size_t np, json_t *history,
                         int budget, struct prov_message *msgs, char ***arena, size_t *np_used)
{
    if (np > 5)
        np = 5;
    size_t nh = json_array_size(history);
    if (nh > 10)
        nh = 10;
    size_t h0 = json_array_size(history) - nh; /* first history item used */
    size_t qcut = (size_t)-1;
    char *block = NULL;
    for (;;) {
        free(block);
        block = user_block(question, passages, np, qcut);
        int total = prov_count_tokens(p, system, strlen(system)) +
                    prov_count_tokens(p, block, strlen(block)) + 8;
        for (size_t i = h0; i < h0 + nh; i++) {
            const char *m = json_string_value(json_object_get(json_array_get(history, i),
                                                              "message"));
            total += prov_count_tokens(p, m ? m : "", m ? strlen(m) : 0) + 4;
        }
        if (total <= budget)
            break;
        if (nh) { /* drop the oldest turn (a user message and its answer) */
            size_t d = nh >= 2 ? 2 : 1;
            h0 += d;
            nh -= d;
        } else if (np) {
            np--;
        } else {
            size_t ql = strlen(question);
            size_t cur = qcut < ql ? qcut : ql;
            if (cur <= 16)
                break; /* nothing left to cut */
            qcut = cur - (size_t)(total - budget) * 4 - 16;
            if (qcut > cur)
                qcut = 16;
        }
    }
    char **a = xcalloc(nh + 3, sizeof *a);
    size_t k = 0, na = 0;
    a[na++] = xstrdup(system);
    msgs[k++] = (struct prov_message){"system", a[0]};
    for (size_t i = h0; i < h0 + nh; i++) {
        json_t *h = json_array_get(history, i);
        const char *actor = json_string_value(json_object_get(h, "actor"));
        const char *m = json_string_value(json_object_get(h, "message"));
        a[na] = xstrdup(m ? m : "");
        msgs[k++] = (struct prov_message){actor && !strcmp(actor, "assistant") ? "assistant"
                                                                              : "user",
                                          a[na++]};
    }
    a[na++] = block;
    msgs[k++] = (struct prov_message){"user", block};
    *arena = a;
    *np_used = np;
    return k;
}

/* ---- structured output ---- */

/* The JSON object inside a model's reply (between the first '{' and the last '}'). */
static json_t *json_in(const char *text)
{
    const char *a = strchr(text, '{'), *b = strrchr(text, '}');
    if (!a || !b || b < a)
        return NULL;
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
        json_array_foreach(json_object_get(o, "flashcards"), i, c) {
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
        sb_printf(&b, "Concept map: %s",
                  json_string_value(json_object_get(o, "topic")) ?: "topic");
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(o, "edges"), i, e)
            sb_printf(&b, "\n- %s -> %s: %s", json_string_value(json_object_get(e, "from")) ?: "",
                      json_string_value(json_object_get(e, "to")) ?: "",
                      json_string_value(json_object_get(e, "label")) ?: "");
    }
    const char *note = json_string_value(json_object_get(o, "note"));
    if (note)
        sb_printf(&b, "\n\n%s", note);
    char *s = sb_take(&b);
    return s ? s : xstrdup("");
}

/* ---- answer ---- */

int chat_answer(const struct user *u, const struct chat_opts *o, prov_token_fn on_token,
                void *ud, json_t **response, char *err, size_t errcap)
{
    int64_t t0 = time_mono_ns();
    *response = NULL;
    char session[37], message_id[37];
    if (o->session_id)
        snprintf(session, sizeof session, "%s", o->session_id);
    else
        uuid4(session);
    int rc = chat_check_session(session, u->id);
    if (rc)
        return rc;
    const struct chat_command *cmd = o->command;
    enum prov_task task = cmd && cmd->name ? cmd->task : PROV_TASK_ANSWER;
    const char *question = task != PROV_TASK_ANSWER ? cmd->topic : o->message;

    /* Retrieval. */
    struct kn_result kr = {0};
    struct prov_passage *pass = NULL;
    size_t np = 0;
    int retrieved = 0;
    const char *route_used = NULL;
    if (o->enable_rag) {
        struct kn_caller c = {u->id, u->organization_id[0] ? u->organization_id : NULL,
                              u->is_superuser};
        struct kn_query q = {.text = question,
                             .top_k = o->top_k ? o->top_k : 5,
                             .route = o->route,
                             .filters = o->filters,
                             .w_vector = 0.5,
                             .w_keyword = 0.5,
                             .vector_fallback = 1};
        char serr[256] = "";
        if (!knowledge_search(&c, &q, &kr, serr, sizeof serr)) {
            retrieved = 1;
            route_used = knowledge_route_name(kr.used);
            np = json_array_size(kr.results);
            pass = xcalloc(np ? np : 1, sizeof *pass);
            for (size_t i = 0; i < np; i++) {
                json_t *h = json_array_get(kr.results, i);
                pass[i] = (struct prov_passage){
                    json_string_value(json_object_get(h, "document_id")),
                    json_string_value(json_object_get(h, "title")),
                    json_string_value(json_object_get(h, "content")),
                    json_number_value(json_object_get(h, "score"))};
            }
        } else {
            log_json(LOG_WARN, "chat retrieval failed", json_pack("{s:s}", "error", serr));
        }
    }

    /* Prompt: system (+ command instructions), last 5 turns, context and question. */
    json_t *history = NULL;
    if (store_chat_recent(session, 10, &history))
        history = json_array();
    prov_provider_t *gen = prov_generator();
    const char *instr = instructions_for(task);
    char *system = instr ? xasprintf("%s\n\nTopic: %s\n%s", chat_system_prompt, question, instr)
                         : xstrdup(chat_system_prompt);
    int budget = prov_context_length() - prov_max_tokens();
    if (budget < 128)
        budget = 128;
    struct prov_message msgs[16];
    char **arena = NULL;
    size_t np_used = 0;
    size_t nm = chat_build_prompt(gen, system, question, pass, np, history, budget, msgs, &arena,
                                  &np_used);
    struct prov_request preq = {msgs, nm, pass, np_used, question, task, 0, -1.0};
    preq.user_id = u->id; /* per-user generation cap and fair queueing */
    struct prov_result pres = {0};
    char gerr[512] = "";
    int fallback = 0;
    rc = prov_generate(gen, &preq, on_token, ud, &pres, gerr, sizeof gerr);
    if (rc == RAGD_ELIMIT || rc == RAGD_ETIMEOUT) {
        /* The local generator is saturated: the caller answers 503 and the client retries;
         * answering extractively instead would hide an overload behind worse answers. */
        snprintf(err, errcap, "%s", gerr);
        rc = RAGD_ELIMIT;
        goto out;
    }
    if (rc && gen != prov_extractive()) {
        log_json(LOG_WARN, "generation failed; extractive fallback",
                 json_pack("{s:s, s:s}", "provider", gen->ops->name, "error", gerr));
        fallback = 1;
        rc = prov_generate(prov_extractive(), &preq, on_token, ud, &pres, gerr, sizeof gerr);
    }
    if (rc) {
        snprintf(err, errcap, "generation failed: %s", gerr);
        goto out;
    }
    if (pres.stopped) {
        /* The client went away before the answer was complete: nothing to store or charge. */
        snprintf(err, errcap, "the client went away during generation");
        rc = RAGD_EIO;
        goto out;
    }

    /* Structured commands: parse the JSON and render a readable answer. */
    json_t *command_output = NULL;
    char *answer = xstrdup(pres.text ? pres.text : "");
    if (task == PROV_TASK_FLASHCARD || task == PROV_TASK_MCQ || task == PROV_TASK_MAP) {
        command_output = json_in(answer);
        if (command_output) {
            if (!json_object_get(command_output, "topic"))
                json_object_set_new(command_output, "topic", json_string(question));
            free(answer);
            answer = render(task, command_output);
        }
    }
    if (!command_output && task != PROV_TASK_ANSWER)
        command_output = json_pack("{s:s, s:s}", "topic", question, "text", answer);

    /* Sources: the top 3 passages (seed 000's SourceDocument). */
    json_t *sources = json_array();
    for (size_t i = 0; i < np_used && i < 3; i++) {
        json_t *h = json_array_get(kr.results, i);
        const char *title = json_string_value(json_object_get(h, "title"));
        const char *content = json_string_value(json_object_get(h, "content"));
        size_t tl = title ? strlen(title) : 0, cl = content ? strlen(content) : 0;
        if (tl > 100)
            for (tl = 100; tl && ((unsigned char)title[tl] & 0xC0) == 0x80; tl--)
                ;
        if (cl > 200)
            for (cl = 200; cl && ((unsigned char)content[cl] & 0xC0) == 0x80; cl--)
                ;
        const char *src = json_string_value(json_object_get(h, "source"));
        json_array_append_new(
            sources, json_pack("{s:O, s:O, s:s%, s:s%, s:O, s:s}", "document_id",
                               json_object_get(h, "document_id"), "chunk_id",
                               json_object_get(h, "chunk_id"), "title", title ? title : "", tl,
                               "excerpt", content ? content : "", cl, "relevance_score",
                               json_object_get(h, "score"), "source_type",
                               src ? src : "unknown"));
    }
    int have_sources = json_array_size(sources) > 0;
    double confidence = have_sources ? 0.9 : 0.7;
    int tokens = pres.prompt_tokens + pres.completion_tokens;
    int64_t ms = (time_mono_ns() - t0) / 1000000;
    const char *model = pres.model[0] ? pres.model : gen->ops->model(gen->self);

    /* History: the question and the answer. */
    char title[81];
    size_t tl = strlen(o->message);
    if (tl > 80)
        for (tl = 80; tl && ((unsigned char)o->message[tl] & 0xC0) == 0x80; tl--)
            ;
    memcpy(title, o->message, tl);
    title[tl] = '\0';
    json_t *meta = json_pack("{s:s, s:s}", "response_type",
                             have_sources ? "rag_enhanced" : "generation_only", "retrieval_route",
                             route_used ? route_used : "none");
    if (cmd && cmd->name)
        json_object_set_new(meta, "command", json_string(cmd->name));
    if (fallback)
        json_object_set_new(meta, "fallback_applied", json_string("true"));
    struct chat_row rows[2] = {
        {.session_id = session, .user_id = u->id, .actor = "user", .message = o->message,
         .embedding_used = 0, .tokens_used = pres.prompt_tokens, .confidence = -1},
        {.session_id = session, .user_id = u->id, .actor = "assistant", .message = answer,
         .embedding_used = retrieved && kr.used != KN_EXACT, .tokens_used =
         pres.completion_tokens, .response_time_ms = ms, .model_used = model,
         .confidence = confidence, .metadata = meta},
    };
    rc = store_chat_append(session, u->id, title, u->subscription_plan, rows, 2);
    json_decref(meta);
    if (rc) {
        snprintf(err, errcap, "cannot store the conversation: %s", ragd_strerror(rc));
        free(answer);
        json_decref(sources);
        json_decref(command_output);
        if (rc == RAGD_EPERM)
            rc = RAGD_ENOTFOUND; /* the session was taken by another user meanwhile */
        goto out;
    }
    snprintf(message_id, sizeof message_id, "%s", rows[1].message_id);
    store_usage_hit(u->id, "messages", 1);
    store_usage_hit(u->id, "tokens", tokens);
    if (cmd && cmd->feature)
        store_usage_hit(u->id, cmd->feature, 1);

    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:f, s:s, s:b, s:o, s:o, s:f, s:i, s:s, s:n}", "session_id",
        session, "message_id", message_id, "answer", answer, "confidence", confidence,
        "response_type", have_sources ? "rag_enhanced" : "generation_only", "context_used",
        have_sources, "sources", sources, "retrieval_route",
        route_used ? json_string(route_used) : json_null(), "response_time_ms",
        (double)(time_mono_ns() - t0) / 1e6, "tokens_used", tokens, "subscription_plan",
        u->subscription_plan, "usage_info");
    if (cmd && cmd->name) {
        json_object_set_new(r, "command", json_string(cmd->name));
        json_object_set_new(r, "command_output", command_output);
    } else {
        json_decref(command_output);
    }
    json_object_set_new(r, "model_used", json_string(model));
    if (o->debug) {
        json_t *prompt = json_array();
        for (size_t i = 0; i < nm; i++)
            json_array_append_new(prompt, json_pack("{s:s, s:s}", "role", msgs[i].role,
                                                    "content", msgs[i].content));
        json_object_set_new(
            r, "debug_info",
            json_pack("{s:s, s:s, s:s, s:b, s:i, s:i, s:I, s:b, s:o, s:o, s:s}", "user_id",
                      u->id, "model_used", model, "provider",
                      fallback ? "extractive" : gen->ops->name, "fallback_applied", fallback,
                      "prompt_tokens", pres.prompt_tokens, "completion_tokens",
                      pres.completion_tokens, "passages_retrieved", (json_int_t)np,
                      "search_cached", kr.cached, "methods_used",
                      kr.methods_used ? json_incref(kr.methods_used) : json_array(), "prompt",
                      prompt, "generation_error", fallback ? gerr : ""));
    } else {
        json_object_set_new(r, "debug_info", json_null());
    }
    free(answer);
    *response = r;
    rc = 0;
out:
    prov_result_free(&pres);
    chat_prompt_free(arena);
    free(system);
    json_decref(history);
    free(pass);
    knowledge_result_free(&kr);
    return rc;
}
