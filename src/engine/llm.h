/* llm.h - the engine's public text-generation API: load a GGUF language model once, open
 * sessions (a KV cache each), feed prompts and generate with streaming callbacks.
 *
 *   llm_model_t *m;  llm_model_load("qwen3-1.7b.gguf", 0, 0, &m, err, sizeof err);
 *   llm_session_t *s; llm_session_create(m, 4096, &s);
 *   struct llm_gen_params gp; llm_gen_params_default(&gp);
 *   struct chatml_msg msgs[] = {{"user", "Hello"}};
 *   struct llm_gen_result r;
 *   llm_chat(s, msgs, 1, &gp, on_text, ctx, &r);   ... llm_gen_result_free(&r);
 *
 * A model is immutable and shared by its sessions; sessions of one model may be used from
 * different threads. Their forward passes share the model's thread pool and run one at a time
 * in arrival order, except that decoding steps of different sessions that wait at the same
 * time run together as one batched pass. One session must not be used by two threads at
 * once. */
#ifndef RAGD_LLM_H
#define RAGD_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/chatml.h"
#include "engine/grammar.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"

typedef struct llm_model llm_model_t;
typedef struct llm_session llm_session_t;

/* Loads path (model_load, mapped as there) with n_threads worker threads (0 = one per CPU). The
 * tokenizer is built from the file's metadata when present. Returns 0 with *out
 * (llm_model_free) or the error of model_load / tok_gguf_load / pool_create; err receives a
 * one-line reason. */
int llm_model_load(const char *path, int n_threads, int mapped, llm_model_t **out, char *err,
                   size_t err_len);
void llm_model_free(llm_model_t *m); /* all sessions must be freed first; NULL is a no-op */

const model_t *llm_model_raw(const llm_model_t *m);
/* The tokenizer, or NULL when the file has none (then text functions return RAGD_ENOTSUP). */
const tokenizer_t *llm_model_tokenizer(const llm_model_t *m);
int llm_model_n_threads(const llm_model_t *m);

/* Tokenizes text (flags as tokenizer_encode). *ids: caller frees with free(). */
int llm_tokenize(const llm_model_t *m, const char *text, size_t len, int flags, int32_t **ids,
                 size_t *n_ids);

/* A sequence with its own KV cache of n_ctx positions (0: the training context, capped at
 * 4096). Its forward passes run in activation buffers the model holds once for all its
 * sessions (sized for the largest n_ctx). Returns 0, RAGD_EINVAL, or RAGD_ENOMEM when the
 * cache does not fit in memory. */
int llm_session_create(llm_model_t *m, int n_ctx, llm_session_t **out);
void llm_session_free(llm_session_t *s); /* NULL is a no-op */
int llm_session_n_past(const llm_session_t *s);
int llm_session_n_ctx(const llm_session_t *s);
void llm_session_reset(llm_session_t *s); /* forgets the sequence; cannot fail */
/* Bytes s allocated: its KV cache (model_state_bytes), its token record and its last logits;
 * no activation buffers. Cannot fail. */
size_t llm_session_bytes(const llm_session_t *s);
/* Bytes of the activation buffers the model's sessions share (model_scratch_bytes); 0 before
 * the first forward pass. Waits for a pass in progress. Cannot fail. */
size_t llm_model_scratch_bytes(llm_model_t *m);

/* Appends tokens; logits_all (n x n_vocab floats) may be NULL. The last token's logits are
 * kept for llm_session_logits. Errors as model_forward (RAGD_ERANGE: context full). */
int llm_session_eval(llm_session_t *s, const int32_t *tokens, size_t n, float *logits_all);
/* Decoding passes run so far and the tokens they carried: tokens / steps is the average
 * number of sessions decoded together. Cannot fail. */
void llm_model_stats(llm_model_t *m, uint64_t *steps, uint64_t *tokens);
/* n_vocab logits after the last evaluated token (owned by s, valid until the next call). */
const float *llm_session_logits(const llm_session_t *s);

/* ---- prefix cache ----
 *
 * A model can keep the KV rows of the prompts its sessions evaluated, keyed by their tokens,
 * within a memory budget (the least recently used go first). A generation that starts a
 * sequence (llm_chat, or llm_generate on an empty session) adopts the rows of the longest
 * cached prefix of its prompt - a shared system prompt, earlier turns of a conversation - and
 * evaluates only the rest; afterwards its own prompt's rows are kept. A session's own rows
 * from its previous request count as cached too (no copy). Rows depend on their positions, so
 * only a prefix starting at position 0 is reused.
 *
 * Reuse is exact: prompts are evaluated in slices of LLM_PREFIX_ALIGN tokens starting at
 * position 0, and only whole slices are kept and adopted, so every prompt token goes through
 * the same slice, positions and kernels as without the cache and the logits are
 * bit-identical. At least one prompt token is always evaluated, for the logits to sample
 * from. Safe to use from the threads of different sessions. */
enum { LLM_PREFIX_ALIGN = 64 };

/* Sets the budget in bytes; 0 (the default) turns the cache off and frees what it holds. A
 * smaller budget evicts at once. Cannot fail. */
void llm_model_prefix_cache(llm_model_t *m, size_t budget);

struct llm_prefix_stats {
    uint64_t lookups;   /* generations that looked for a cached prefix */
    uint64_t hits;      /* ... and found one */
    uint64_t reused;    /* prompt tokens taken from the cache instead of evaluated */
    uint64_t saved;     /* positions whose rows were copied into the cache (shared ones are not) */
    uint64_t evictions; /* entries dropped to stay within the budget */
    size_t bytes;       /* the entries' rows (each chunk once) and tokens */
    size_t spare_bytes; /* rows no entry holds, kept for new entries: bytes + this <= budget */
    size_t budget;
    int entries;
};

void llm_model_prefix_stats(llm_model_t *m, struct llm_prefix_stats *out); /* cannot fail */

struct llm_gen_params {
    struct sampler_params sampling;
    int n_predict;           /* max new tokens; default 256; -1 until the context is full */
    const char *const *stop; /* stop strings (not included in the output) */
    size_t n_stop;
    int keep_thinking; /* keep <think>...</think> text in the output; default 0 */
    /* Log-probabilities of each generated token (sampler_logprobs) with this many most likely
     * alternatives (0..LLM_MAX_TOP_LOGPROBS); -1 (default): none recorded. */
    int n_logprobs;
    /* Constrained decoding: when set, every step samples only among the tokens whose bytes
     * continue a value of this grammar, and once the value is complete only the end of the
     * sequence (engine/grammar.h). Borrowed; NULL: free text. */
    const grammar_t *grammar;
};

enum { LLM_MAX_TOP_LOGPROBS = 20 };

/* One generated token with its log-probability and the most likely alternatives. */
struct llm_token_logprob {
    int32_t token;
    float logprob;
    int n_top;
    int32_t top_ids[LLM_MAX_TOP_LOGPROBS];
    float top_logprobs[LLM_MAX_TOP_LOGPROBS];
};

void llm_gen_params_default(struct llm_gen_params *p); /* cannot fail */

/* Receives each new piece of output text (valid UTF-8 except at a stop). Returning non-zero
 * stops generation (reason LLM_STOP_CALLER). */
typedef int (*llm_text_cb)(void *ud, const char *text, size_t len);

enum llm_stop { LLM_STOP_EOS, LLM_STOP_LENGTH, LLM_STOP_STRING, LLM_STOP_CONTEXT, LLM_STOP_CALLER };

struct llm_gen_result {
    char *text; /* the whole output, NUL-terminated; free with llm_gen_result_free */
    size_t len;
    int n_prompt, n_gen;
    int n_cached;           /* of n_prompt, tokens whose KV rows came from the prefix cache */
    double prompt_s, gen_s; /* seconds spent evaluating the prompt and generating */
    enum llm_stop stop;
    /* With n_logprobs >= 0: every sampled token but the end of the sequence, in order (owned,
     * freed by llm_gen_result_free); else NULL. */
    struct llm_token_logprob *logprobs;
    size_t n_logprobs;
};

void llm_gen_result_free(struct llm_gen_result *r); /* NULL-safe on r->text */

/* Evaluates prompt (appended to what the session holds; on an empty session it may start
 * from a cached prefix) and samples up to n_predict tokens,
 * stopping at the end-of-sequence token, <|im_end|>, <|endoftext|> or a stop string. cb may be
 * NULL. Returns 0 and fills *res, or RAGD_ERANGE (prompt does not fit the context),
 * RAGD_EINVAL (bad parameters or token ids), RAGD_ENOTSUP (no tokenizer). */
int llm_generate(llm_session_t *s, const int32_t *prompt, size_t n_prompt,
                 const struct llm_gen_params *p, llm_text_cb cb, void *ud,
                 struct llm_gen_result *res);

/* Tokenizes msgs as a ChatML prompt with chatml_encode (contents are plain text: only the
 * template's markers are control tokens; thinking as there) and generates it as a new
 * sequence (what the session held is replaced; a cached prefix of it may be kept). Same returns as
 * llm_generate, and RAGD_EINVAL for a message without role or content. */
int llm_chat(llm_session_t *s, const struct chatml_msg *msgs, size_t n_msgs, int thinking,
             const struct llm_gen_params *p, llm_text_cb cb, void *ud, struct llm_gen_result *res);

#endif
