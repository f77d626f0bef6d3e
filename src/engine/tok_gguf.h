/* tok_gguf.h - builds a tokenizer from a GGUF file's tokenizer.ggml.* metadata.
 *
 * Reads tokenizer.ggml.model ("gpt2": byte-level BPE; "bert": WordPiece), tokens, token_type,
 * merges, pre, the special ids (bos, eos, unknown, padding, seperator [sic, the GGUF key],
 * cls, mask) and add_bos_token / add_eos_token into a tokenizer_spec. */
#ifndef RAGD_TOK_GGUF_H
#define RAGD_TOK_GGUF_H

#include <stddef.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"

/* Returns 0 with *out (tokenizer_free), RAGD_ENOTFOUND if the file has no tokenizer,
 * RAGD_EFORMAT for malformed metadata, RAGD_ENOTSUP for a tokenizer model ragd lacks, or the
 * tokenizer's own error; err receives a one-line reason. */
int tok_gguf_load(const gguf_t *g, tokenizer_t **out, char *err, size_t err_len);

#endif
