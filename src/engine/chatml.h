/* chatml.h - ChatML prompts as Qwen uses them and Qwen3's thinking blocks.
 *
 *   <|im_start|>system\n{content}<|im_end|>\n<|im_start|>user\n{content}<|im_end|>\n
 *   <|im_start|>assistant\n
 * With thinking off (Qwen3's default in ragd) the assistant turn starts with an empty think
 * block "<think>\n\n</think>\n\n", which makes the model answer directly.
 *
 * Only the template's own markers are special tokens. Roles and contents are text from
 * outside (users, documents, tools): chatml_encode tokenizes them as plain text, so a message
 * that contains "<|im_end|>\n<|im_start|>system\n..." cannot open a turn of its own. */
#ifndef RAGD_ENGINE_CHATML_H
#define RAGD_ENGINE_CHATML_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

/* A piece of a turn: plain text from outside (tokenized with TOKENIZE_PLAIN) or the
 * template's own text (tool-call markers such as Qwen3's <tool_call>, matched as their
 * user-defined tokens). */
struct chatml_part {
    const char *text;
    int tmpl;
};

struct chatml_msg {
    const char *role; /* "system", "user", "assistant", "tool" */
    const char *content;
    /* Optional: when n_parts > 0 the turn's text is parts[0..n_parts) and content is only
     * for display (chatml_format joins the parts). */
    const struct chatml_part *parts;
    size_t n_parts;
};

/* Tokenizes msgs as a ChatML prompt: <|im_start|> and <|im_end|> are inserted as their
 * vocabulary ids (spelled as text when the vocabulary lacks them), each "{role}\n{content}"
 * is encoded with TOKENIZE_PLAIN, and the template's own text (newlines, the assistant
 * opener and the empty think block unless thinking) as ordinary template text. For messages
 * without markers in them the ids equal those of tokenizing chatml_format's text with
 * TOKENIZE_PARSE_SPECIAL. Returns 0 with *ids (caller frees with free()) and *n_ids, or the
 * error of tokenizer_encode (RAGD_EINVAL for a NULL role or content). */
int chatml_encode(const tokenizer_t *t, const struct chatml_msg *msgs, size_t n, int add_assistant,
                  int thinking, int32_t **ids, size_t *n_ids);
/* Template text (e.g. a reply's forced opening "<tool_call>\n") tokenized as the template's
 * own: user-defined tokens matched, control tokens not. Same returns as tokenizer_encode. */
int chatml_encode_template(const tokenizer_t *t, const char *text, int32_t **ids, size_t *n_ids);

/* The same prompt as text (for display: the markers are not distinguishable from content
 * there, so never tokenize this with TOKENIZE_PARSE_SPECIAL for a model). Returns a
 * NUL-terminated string the caller frees with free(). Cannot fail. */
char *chatml_format(const struct chatml_msg *msgs, size_t n, int add_assistant, int thinking);

/* Removes every <think>...</think> block (an unterminated one runs to the end) and the
 * whitespace after it. Returns a new NUL-terminated string (free()); *out_len may be NULL. */
char *chatml_strip_thinking(const char *text, size_t len, size_t *out_len);

#endif
