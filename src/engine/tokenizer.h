/* tokenizer.h - text <-> token ids for the engine's models.
 *
 * Two families: byte-level BPE (GGUF tokenizer.ggml.model = "gpt2"; Qwen2/Qwen3, Llama 3,
 * GPT-2) with a named pre-tokenizer, and WordPiece (BERT / MPNet encoders). A tokenizer is
 * built from plain arrays, so it does not depend on the file format the vocabulary came
 * from; the GGUF and Hugging Face loaders fill the arrays.
 *
 * A tokenizer is immutable after creation and safe to use from several threads at once. */
#ifndef RAGD_TOKENIZER_H
#define RAGD_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer_t;

/* Token types, numbered as in GGUF's tokenizer.ggml.token_type array. */
enum tok_type {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
};

/* What to build. tokens[i] is the vocabulary entry for id i (tokens_len[i] bytes, not
 * necessarily NUL-terminated; tokens_len may be NULL for NUL-terminated entries; for
 * byte-level BPE in the GPT-2 byte-to-unicode form, except control and user-defined tokens,
 * which are stored as plain text); types may be NULL (all normal). merges[i] is
 * "left right" in rank order (BPE only; merges_len may be NULL like tokens_len; a merge
 * whose parts or result are not in the vocabulary is ignored, one without a space is an
 * error). pre names the pre-tokenizer (BPE: "qwen2", "deepseek-r1-qwen", "llama-bpe",
 * "llama3", "llama-v3", "smaug-bpe", "gpt-2", "gpt2", "phi-2", "default" = gpt-2; NULL means
 * "default"; unknown names are an error). Special ids are -1 when absent; WordPiece requires
 * unk_id. The arrays are copied. */
struct tokenizer_spec {
    const char *const *tokens;
    const size_t *tokens_len;
    const int32_t *types;
    size_t n_vocab;
    const char *const *merges;
    const size_t *merges_len;
    size_t n_merges;
    const char *pre;
    int32_t bos_id, eos_id, unk_id, pad_id, sep_id, cls_id, mask_id;
    int add_bos, add_eos; /* what TOKENIZE_ADD_SPECIAL adds */
    int lowercase;        /* WordPiece: BERT basic tokenizer lower-cases and strips accents */
    int max_input_chars_per_word; /* WordPiece: longer words become [UNK]; 0 means 100 */
};

/* Builds a byte-level BPE tokenizer. Returns 0 and *out (caller frees with
 * tokenizer_free), or RAGD_EINVAL for an inconsistent spec / unknown pre-tokenizer. */
int tokenizer_create_bpe(const struct tokenizer_spec *spec, tokenizer_t **out);

/* Builds a WordPiece tokenizer ("##" continuation prefix). Same contract as above. A
 * vocabulary in the form llama.cpp's BERT GGUF converter writes (word starts prefixed with
 * U+2581, continuations without "##"; recognised by having no "##" entry) is converted back:
 * token texts (tokenizer_token_bytes, tokenizer_find) are then in the "##" form. */
int tokenizer_create_wordpiece(const struct tokenizer_spec *spec, tokenizer_t **out);

void tokenizer_free(tokenizer_t *t); /* NULL is a no-op */

enum {
    TOKENIZE_ADD_SPECIAL = 1,   /* add BOS/EOS (BPE) or [CLS]/[SEP] (WordPiece) as specced */
    TOKENIZE_PARSE_SPECIAL = 2, /* match control tokens in the text as whole tokens */
    TOKENIZE_PLAIN = 4,         /* text only: match no special or user-defined token */
};
/* User-defined tokens (TOK_TYPE_USER_DEFINED, e.g. Qwen3's "<think>") are matched as whole
 * tokens, with or without TOKENIZE_PARSE_SPECIAL, as Hugging Face and llama.cpp do; control
 * and unknown tokens only with it. Where several match, the longest wins.
 * TOKENIZE_PLAIN is for content that did not come from the prompt template (user messages,
 * system fields a user sets, retrieved passages, tool results): every byte is ordinary text,
 * so "<|im_end|>" or "<think>" in it become the tokens that spell those characters, never the
 * control or user-defined token, and cannot forge a turn. It excludes PARSE_SPECIAL. */

/* Encodes len bytes of text (need not be valid UTF-8; byte-level BPE spells any byte with
 * its byte token, falling back to unk_id, and fails with RAGD_EINVAL only when the
 * vocabulary has neither; RAGD_EINVAL also for TOKENIZE_PLAIN with TOKENIZE_PARSE_SPECIAL).
 * Ordinary BPE merges never produce a control, unknown or user-defined token. Returns 0
 * with *ids (caller frees with free()) and *n_ids, or a negative RAGD_E* code. */
int tokenizer_encode(const tokenizer_t *t, const char *text, size_t len, int flags, int32_t **ids,
                     size_t *n_ids);

/* The raw bytes that token id stands for (byte-level BPE: after undoing the byte-to-unicode
 * map; control tokens: their text). *bytes is owned by the tokenizer, valid until it is
 * freed. Returns RAGD_ERANGE for an id outside the vocabulary. */
int tokenizer_token_bytes(const tokenizer_t *t, int32_t id, const char **bytes, size_t *len);

/* Decodes ids to bytes (caller frees *text with free(); it is NUL-terminated, *len excludes
 * the NUL). skip_special drops control tokens. Byte-level BPE concatenates the tokens'
 * bytes exactly; WordPiece joins words with one space and glues "##" continuations.
 * RAGD_ERANGE for an id outside the vocabulary. */
int tokenizer_decode(const tokenizer_t *t, const int32_t *ids, size_t n_ids, int skip_special,
                     char **text, size_t *len);

size_t tokenizer_n_vocab(const tokenizer_t *t);
int32_t tokenizer_special_id(const tokenizer_t *t, const char *which); /* "bos","eos",... or -1 */
/* Looks up the id of an exact vocabulary entry (e.g. "<|im_end|>"); -1 if absent. */
int32_t tokenizer_find(const tokenizer_t *t, const char *piece, size_t len);
int tokenizer_token_type(const tokenizer_t *t, int32_t id); /* TOK_TYPE_* or RAGD_ERANGE */
/* The longest byte string tokenizer_stream_push can add for one token besides what it
 * holds back; size stream buffers as 8 + this. Cannot fail. */
size_t tokenizer_max_token_bytes(const tokenizer_t *t);
int tokenizer_is_wordpiece(const tokenizer_t *t); /* 1 for WordPiece, 0 for BPE */

/* Streaming detokenizer: feed ids one at a time while generating, get back only complete
 * UTF-8 text; bytes of a character split across tokens are held until it completes (or
 * emitted as-is once they can no longer form a valid character). Start from a zeroed
 * struct (struct tok_stream s = {0}). The concatenated output equals tokenizer_decode's. */
struct tok_stream {
    char pending[8];
    size_t n_pending;
    size_t n_tokens; /* tokens emitted so far (WordPiece puts spaces between words) */
};
/* Writes the text ready after id to out (out must hold 64 + longest-token bytes; see
 * tokenizer_max_token_bytes); returns the number of bytes written, or RAGD_ERANGE for an
 * id outside the vocabulary or too small a buffer (the stream is then unchanged). */
int tokenizer_stream_push(const tokenizer_t *t, struct tok_stream *s, int32_t id, int skip_special,
                          char *out, size_t out_cap);
/* Flushes whatever is pending at the end of generation (at most 3 bytes: an incomplete
 * character, emitted as-is); returns the number of bytes written. */
int tokenizer_stream_flush(struct tok_stream *s, char *out, size_t out_cap);

/* ---- loaders that build a spec from files a model is published with ---- */

/* Builds a WordPiece spec from a BERT vocab.txt buffer: one token per line, id = line number
 * (a trailing '\r' is dropped). The special ids come from the usual names, typed control:
 * MPNet/RoBERTa style when "<s>" and "</s>" exist (cls <s>, sep </s>, pad <pad>, mask <mask>),
 * else BERT style ([CLS], [SEP], [PAD], [MASK]); unk is [UNK], else <unk>. lowercase is set
 * (uncased models, the common case: clear it for cased ones before creating). Returns 0 and
 * *out (caller frees with tokenizer_spec_free; it owns every array it points to), or
 * RAGD_EFORMAT for an empty vocabulary. */
int tokenizer_spec_from_vocab_txt(const char *buf, size_t len, struct tokenizer_spec **out);

/* Builds a spec from a Hugging Face tokenizer.json buffer. WordPiece models (BERT, MPNet):
 * vocab, unk_token, max_input_chars_per_word, BertNormalizer's lowercase, cls/sep from the
 * post-processor (Bert/Roberta/TemplateProcessing; by name when absent), added tokens typed
 * control (special) or user-defined. Byte-level BPE models: vocab, merges (either "a b" or
 * ["a","b"] form), added tokens, the pre-tokenizer recognised from its split regex
 * (Llama 3's \p{N}{1,3}, Qwen2's single \p{N}, or GPT-2's ByteLevel regex), bos from a
 * TemplateProcessing prefix (eos likewise from a suffix; otherwise -1: tokenizer.json does
 * not name the end-of-generation token, the caller sets it). Returns 0 and *out
 * (free with tokenizer_spec_free), RAGD_EFORMAT for malformed JSON or an inconsistent
 * vocabulary (ids with holes, missing unk), RAGD_ENOTSUP for other models, continuation
 * prefixes or pre-tokenizers. */
int tokenizer_spec_from_hf_json(const char *buf, size_t len, struct tokenizer_spec **out);

/* 1 if a spec from the loaders above describes byte-level BPE (create it with
 * tokenizer_create_bpe), 0 for WordPiece. */
int tokenizer_spec_is_bpe(const struct tokenizer_spec *spec);

/* Frees a spec returned by a loader above; NULL is a no-op. Never pass a caller-built spec. */
void tokenizer_spec_free(struct tokenizer_spec *spec);

#endif
