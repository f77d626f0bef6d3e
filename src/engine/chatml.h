/* chatml.h - ChatML prompts as Qwen uses them and Qwen3's thinking blocks.
 *
 *   <|im_start|>system\n{content}<|im_end|>\n<|im_start|>user\n{content}<|im_end|>\n
 *   <|im_start|>assistant\n
 * With thinking off (Qwen3's default in ragd) the assistant turn starts with an empty think
 * block "<think>\n\n</think>\n\n", which makes the model answer directly. */
#ifndef RAGD_ENGINE_CHATML_H
#define RAGD_ENGINE_CHATML_H

#include <stddef.h>

struct chatml_msg {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
};

/* Formats msgs; add_assistant opens the assistant turn (with the empty think block unless
 * thinking). Returns a NUL-terminated string the caller frees with free(). Cannot fail. */
char *chatml_format(const struct chatml_msg *msgs, size_t n, int add_assistant, int thinking);

/* Removes every <think>...</think> block (an unterminated one runs to the end) and the
 * whitespace after it. Returns a new NUL-terminated string (free()); *out_len may be NULL. */
char *chatml_strip_thinking(const char *text, size_t len, size_t *out_len);

#endif
