/* provider.h - text generation and embeddings behind one interface each.
 *
 * Generation backends (a table of function pointers each):
 *   extractive  answers from the retrieved passages with citations; no model (always there)
 *   openai      an OpenAI-compatible /v1/chat/completions endpoint over libcurl, streaming
 *   local       the in-process engine (engine/llm.h) with a GGUF model
 * Embedding backends:
 *   openai      an OpenAI-compatible /v1/embeddings endpoint
 *
 * prov_init() reads the configuration once at start:
 *   LLM_PROVIDER        auto (default) | extractive | openai | local
 *   OPENAI_API_BASE     e.g. https://api.openai.com/v1   (OPENAI_BASE_URL is also read)
 *   OPENAI_API_KEY, OPENAI_MODEL (default gpt-4o-mini), OPENAI_TIMEOUT_SECONDS (60)
 *   GENERATION_MODEL    path of a .gguf file for the local engine
 *   GENERATION_MAX_TOKENS (512), GENERATION_CONTEXT_LENGTH (4096), GENERATION_TEMPERATURE (0.7)
 *   GENERATION_PARALLEL (2 sessions), GENERATION_QUEUE_SIZE (8), GENERATION_PER_USER (1),
 *   GENERATION_TOP_P (0.9),
 *   GENERATION_TOP_K (40), GENERATION_REPETITION_PENALTY (1.05), GENERATION_THREADS (cores)
 *   EMBEDDING_API_BASE, EMBEDDING_API_KEY (default OPENAI_API_KEY), EMBEDDING_MODEL,
 *   EMBEDDING_DIMENSION (768), EMBEDDING_BATCH_SIZE (32)
 *   MODEL_DEVICE        cpu (the engine runs on the CPU; cuda/mps are accepted with a warning)
 * Generation: auto picks local when GENERATION_MODEL is set, else openai when OPENAI_API_BASE
 * or OPENAI_API_KEY is set, else extractive. Embeddings: EMBEDDING_API_BASE selects the
 * OpenAI-compatible endpoint (EMBEDDING_MODEL is then the remote model's name); otherwise a
 * set EMBEDDING_MODEL names a local BERT/MPNet encoder; unset: no embedder.
 *
 * Everything here is thread-safe: providers are created once and called from any thread. */
#ifndef RAGD_LLM_PROVIDER_H
#define RAGD_LLM_PROVIDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- generation ---- */

struct prov_message {
    const char *role; /* "system", "user", "assistant", "tool" */
    const char *content;
    /* Tool calling (OpenAI shapes, borrowed; NULL when absent): an assistant message's
     * tool_calls array [{id, type: function, function: {name, arguments}}], and the id of the
     * call a tool message answers. */
    const json_t *tool_calls;
    const char *tool_call_id;
};

/* A logit bias for one token id of the generator's vocabulary. */
struct prov_bias {
    int32_t token;
    float bias;
};

enum { PROV_TOP_K_OFF = -1, PROV_MAX_TOP_LOGPROBS = 20 };

/* A retrieved passage, for providers that answer from passages (extractive) and citations. */
struct prov_passage {
    const char *document_id, *title, *content;
    double score;
};

/* What kind of answer is wanted; the extractive provider shapes its output by it. */
enum prov_task {
    PROV_TASK_ANSWER,
    PROV_TASK_FLASHCARD,
    PROV_TASK_MCQ,
    PROV_TASK_HIGHYIELD,
    PROV_TASK_EXPLAIN,
    PROV_TASK_MAP
};

struct prov_request {
    const struct prov_message *messages; /* the full prompt as chat messages */
    size_t n_messages;
    const struct prov_passage *passages; /* retrieved context, best first (may be empty) */
    size_t n_passages;
    const char *question; /* the user's question (or slash-command topic) */
    enum prov_task task;
    int max_tokens;          /* 0 or above GENERATION_MAX_TOKENS: GENERATION_MAX_TOKENS */
    double temperature;      /* < 0 = configured default */
    double top_p;            /* 0 = configured default (GENERATION_TOP_P); else (0, 1] */
    uint64_t seed;           /* sampling seed; 0 = a fresh random one */
    int has_seed;            /* seed was given by the caller (0 is then a seed like any other) */
    const char *const *stop; /* stop strings (not part of the answer); may be NULL */
    size_t n_stop;
    /* Further sampling (the /v1 API's fields); zero values keep the configured behaviour. */
    double presence_penalty, frequency_penalty; /* OpenAI's, [-2, 2]; 0 = none */
    double repetition_penalty;                  /* 0 = GENERATION_REPETITION_PENALTY */
    int top_k;                                  /* 0 = GENERATION_TOP_K; PROV_TOP_K_OFF = none */
    double min_p;                               /* 0 = GENERATION_MIN_P; else (0, 1) */
    const struct prov_bias *logit_bias;         /* borrowed; n_logit_bias entries */
    size_t n_logit_bias;
    /* Per-token log-probabilities wanted in prov_result.logprobs, with top_logprobs
     * (0..PROV_MAX_TOP_LOGPROBS) alternatives each. */
    int logprobs, top_logprobs;
    /* An OpenAI-compatible upstream receives these fields of the client's request as given
     * (borrowed JSON object; may be NULL): the sampling fields above in the upstream's own
     * terms (its token ids for logit_bias). */
    json_t *passthrough;
    /* Who asks, for per-user caps and fair scheduling of the local generator
     * (GENERATION_PER_USER); NULL: a caller of its own. Borrowed for the call. */
    const char *user_id;
    /* Tool calling and structured output, as the OpenAI request carried them (borrowed; NULL
     * when absent). Upstream providers pass them through unchanged; the local engine renders
     * tools through the model's chat template, forces a call (tool_choice required or a
     * named function) and response_format json_object / json_schema by constrained decoding,
     * and refuses what it cannot honour with RAGD_ENOTSUP and a reason. */
    const json_t *tools;       /* [{type: function, function: {name, description, parameters}}] */
    const json_t *tool_choice; /* "auto" | "none" | "required" | {type, function: {name}} */
    const json_t *response_format; /* {type: text | json_object | json_schema, json_schema} */
};

/* A tool call the model made: id "call_...", the function's name and its arguments as JSON
 * text. Owned by the prov_result that holds it. */
struct prov_tool_call {
    char id[40];
    char *name;
    char *arguments;
};

/* Receives output text as it is produced. Return non-zero to stop (client gone). */
typedef int (*prov_token_fn)(void *ud, const char *text, size_t len);

struct prov_result {
    char *text; /* whole answer, NUL-terminated; free with prov_result_free */
    int prompt_tokens, completion_tokens;
    char model[128];
    int stopped;   /* the token callback asked to stop */
    int truncated; /* the answer ended at max_tokens or the context, not by itself */
    double ttft_s; /* seconds from the call to the first output text (0 when none) */
    /* Set by the backends also when generate fails, for the router (llm/router.h): */
    int http_status;   /* the upstream's HTTP status (0: none, or not an HTTP backend) */
    int retry_after_s; /* its Retry-After header in seconds (0: none) */
    int invalid_reply; /* the upstream answered 200 with a body that is not a valid reply */
    /* Set by the router: */
    char provider[16]; /* the backend that answered ("openai", "gemini", "local") */
    int partial;       /* generation failed after output had been passed to on_token: the
                          caller must not answer again (no fallback), only end the stream */
    /* With req->logprobs: OpenAI's logprobs.content array ([{token, logprob, bytes,
     * top_logprobs: [{token, logprob, bytes}]}]), one entry per generated token; NULL when
     * not asked for or the provider cannot tell. Owned, freed by prov_result_free. */
    json_t *logprobs;
    /* The answer's tool calls (finish_reason "tool_calls"); text is then what came before
     * them (often empty). Freed by prov_result_free. */
    struct prov_tool_call *tool_calls;
    size_t n_tool_calls;
};
void prov_result_free(struct prov_result *r);

struct prov_provider_ops {
    const char *name;
    /* Generates for req, calling on_token (may be NULL) for each piece. 0 and *res filled, or
     * RAGD_EUNAVAIL (upstream unreachable / failed), RAGD_ETIMEOUT, RAGD_EINVAL (prompt too
     * long), RAGD_ELIMIT (the local generation queue is full: answer 503 with Retry-After,
     * do not fall back), RAGD_ENOPROVIDER (the router: every key of the feature failed), with
     * a one-line reason in err. */
    int (*generate)(void *self, const struct prov_request *req, prov_token_fn on_token, void *ud,
                    struct prov_result *res, char *err, size_t errcap);
    /* Tokens in text by the provider's tokenizer or an estimate. Cannot fail. */
    int (*count_tokens)(void *self, const char *text, size_t len);
    /* Tokens of the whole prompt msgs[0..n) (contents and the chat template around them) as
     * generate reports them in prompt_tokens: exact where the provider tokenizes the prompt
     * itself, else an estimate that errs high. NULL: the sum of count_tokens over the
     * contents. Cannot fail. */
    int (*count_prompt)(void *self, const struct prov_message *msgs, size_t n);
    /* The model's name for responses and logs. */
    const char *(*model)(void *self);
    json_t *(*health)(void *self); /* new reference: {status, ...} */
    /* Requests that may be running or queued inside the provider at once; NULL: none. */
    int (*worker_demand)(void *self);
    void (*free)(void *self);
};

typedef struct prov_provider {
    const struct prov_provider_ops *ops;
    void *self;
} prov_provider_t;

/* ---- embeddings ---- */

struct prov_embedder_ops {
    const char *name;
    /* Embeds texts[0..n) into out[n * dim] (not necessarily normalised). 0 or RAGD_EUNAVAIL /
     * RAGD_ETIMEOUT / RAGD_EFORMAT (wrong dimension or malformed reply), reason in err. */
    int (*embed)(void *self, const char *const *texts, size_t n, float *out, char *err,
                 size_t errcap);
    const char *(*model)(void *self);
    /* Tokens the embedder runs for text (after truncation); NULL: estimated. Cannot fail. */
    int (*count_tokens)(void *self, const char *text, size_t len);
    void (*free)(void *self);
};

typedef struct prov_embedder {
    const struct prov_embedder_ops *ops;
    void *self;
    uint32_t dim;
} prov_embedder_t;

/* ---- configuration ---- */

/* Creates the configured providers. Model names (GENERATION_MODEL, EMBEDDING_MODEL for the
 * local encoder) are paths: as given, else under MODELS_DIR (default data_dir/models), for
 * generation also with ".gguf" appended; the seed's hub names work once the files are put
 * there. Nothing is downloaded. Returns 0, or RAGD_EINVAL with a message in err for a
 * configuration that names a provider it cannot build (LLM_PROVIDER=openai without a base,
 * a model that is not found or does not load: the message says where it was looked for). */
int prov_init(const char *data_dir, char *err, size_t errcap);
void prov_shutdown(void);

/* The generator in use (never NULL after prov_init) and the extractive one, used as the
 * fallback when the configured generator fails. Owned by this module. */
prov_provider_t *prov_generator(void);
prov_provider_t *prov_extractive(void);
/* The embedder, or NULL when none is configured. Owned by this module. */
prov_embedder_t *prov_embedder(void);

/* Whether a generation that every provider key failed (RAGD_ENOPROVIDER) may be answered
 * by the extractive provider instead: FALLBACK_TO_EXTRACTIVE, by default true while no
 * shared provider key exists and false once one does. Such an answer is always labelled. */
int prov_fallback_allowed(void);

/* Convenience wrappers. */
int prov_generate(prov_provider_t *p, const struct prov_request *req, prov_token_fn on_token,
                  void *ud, struct prov_result *res, char *err, size_t errcap);
int prov_count_tokens(prov_provider_t *p, const char *text, size_t len);
/* The prompt tokens p will report for generating from msgs[0..n) (count_prompt). Together
 * with the max_tokens of the request this bounds what a generation uses: prompt_tokens +
 * completion_tokens <= prov_count_prompt + max_tokens. Cannot fail. */
int prov_count_prompt(prov_provider_t *p, const struct prov_message *msgs, size_t n);

/* The fewest answer tokens worth generating: a request whose token allowance cannot cover
 * its prompt and this many is refused rather than answered with a stub. */
enum { PROV_MIN_ANSWER_TOKENS = 16 };
int prov_embed(prov_embedder_t *e, const char *const *texts, size_t n, float *out, char *err,
               size_t errcap);
/* Tokens of text as e counts them (see count_tokens). Cannot fail. */
int prov_embed_count_tokens(prov_embedder_t *e, const char *text, size_t len);

/* Configured generation limits. */
int prov_max_tokens(void);
/* Worker threads that generation requests may hold while they run or wait for a session
 * (the local generator's GENERATION_PARALLEL + GENERATION_QUEUE_SIZE; 0 for the others), so
 * that the server can size its worker pool and keep logins and uploads moving. */
int prov_worker_demand(void);
int prov_context_length(void);

/* {generator: {...health}, embedder: {...}} for /health/detailed "models". New reference. */
json_t *prov_health(void);

/* ---- backends (constructors) ---- */
/* Extractive: cannot fail. */
prov_provider_t *prov_extractive_create(void);
/* OpenAI-compatible chat completions at base (".../v1"), with key (may be NULL) and model. */
prov_provider_t *prov_openai_create(const char *base, const char *key, const char *model,
                                    int timeout_s);
/* Gemini generateContent / streamGenerateContent at base (default
 * https://generativelanguage.googleapis.com/v1beta) with key (x-goog-api-key) and model. */
prov_provider_t *prov_gemini_create(const char *base, const char *key, const char *model,
                                    int timeout_s);
/* OpenAI-compatible embeddings. */
prov_embedder_t *prov_openai_embedder_create(const char *base, const char *key, const char *model,
                                             uint32_t dim, int timeout_s);
/* Local engine; RAGD_E* of llm_model_load with a reason in err. */
int prov_local_create(const char *path, int n_ctx, prov_provider_t **out, char *err, size_t errcap);
/* Local sentence encoder (a BERT GGUF or a BERT/MPNet Hugging Face folder) embedding batch
 * texts per forward pass; RAGD_E* of encoder_load with a reason in err. */
int prov_local_embedder_create(const char *path, int batch, prov_embedder_t **out, char *err,
                               size_t errcap);

/* Approximate token count for providers without a tokenizer: about 4 bytes per token.
 * Cannot fail. */
int prov_estimate_tokens(const char *text, size_t len);

#endif
