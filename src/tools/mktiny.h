/* mktiny.h - writes GGUF decoder models with random weights in the exact layout real files use
 * (tensor names, metadata keys, tokenizer metadata), so tests and benchmarks need no downloads.
 *
 * The vocabulary is a small byte-level BPE made here: the 256 byte tokens, merges learnt from a
 * built-in English sample, the ChatML control tokens <|endoftext|> <|im_start|> <|im_end|> and
 * <think> </think>; the 0.6b/1.7b shapes pad it to Qwen3's 151936 entries. With vocab_from the
 * tokenizer metadata of another GGUF is copied instead. */
#ifndef RAGD_MKTINY_H
#define RAGD_MKTINY_H

#include <stddef.h>
#include <stdint.h>

struct mktiny_opts {
    const char *arch; /* "qwen3", "qwen2" or "llama" */
    const char *out;  /* path to write */
    uint32_t type;    /* ggml type of the 2-D weights (q4_k writes the Q4_K_M mix) */
    uint64_t seed;
    const char *shape;      /* "tiny", "0.6b" or "1.7b" */
    const char *vocab_from; /* NULL or a GGUF to copy tokenizer.* metadata from */
};

/* Writes the file. Returns 0, RAGD_EINVAL (bad options: err says which), RAGD_EIO, or the
 * error of opening vocab_from. */
int mktiny_write(const struct mktiny_opts *o, char *err, size_t err_len);

/* Deterministic random numbers shared by the model writers: the next 64-bit value of the
 * generator whose state is *s, and a float uniform in [-1, 1). Cannot fail. */
uint64_t mktiny_rand(uint64_t *s);
float mktiny_uniform(uint64_t *s);

#endif
