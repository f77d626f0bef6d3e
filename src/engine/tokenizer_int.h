/* tokenizer_int.h - private parts shared by tokenizer.c (vocabulary, byte-level BPE,
 * decoding), tokenizer_pre.c (pre-tokenizers) and tokenizer_wordpiece.c. Not for callers. */
#ifndef RAGD_TOKENIZER_INT_H
#define RAGD_TOKENIZER_INT_H

#include "engine/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

enum tok_kind { TOK_KIND_BPE = 1, TOK_KIND_WORDPIECE = 2 };

/* Pre-tokenizers, each one a published split regex (see tokenizer_pre.c). */
enum tok_pre {
    TOK_PRE_GPT2 =
        1, /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    TOK_PRE_LLAMA3 = 2, /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
                           |\s*[\r\n]+|\s+(?!\S)|\s+ */
    TOK_PRE_QWEN2 = 3,  /* as LLAMA3 with \p{N} (one digit per piece) */
};

/* Maps a tokenizer.ggml.pre name to a TOK_PRE_* value; 0 if unknown. NULL means "default". */
int tok_pre_from_name(const char *name);

/* Returns the end offset (> pos) of the pre-token that starts at pos in s[0..n), pos < n.
 * Invalid UTF-8 bytes are single characters of no class (like punctuation). Cannot fail. */
size_t tok_pre_next(int pre, const uint8_t *s, size_t n, size_t pos);

struct merge_slot {
    uint64_t key; /* (left id << 32) | right id; MERGE_EMPTY when free */
    int32_t rank;
    int32_t result;
};
#define MERGE_EMPTY UINT64_MAX

/* GPT-2's byte <-> unicode map of byte-level BPE. */
struct byte_map {
    char utf8[256][2]; /* every mapped code point is below 0x800: two bytes at most */
    uint8_t len[256];
    int16_t inv[324]; /* code point -> byte, -1 where none */
};

struct tokenizer {
    int kind;
    int pre;
    int ignore_merges; /* Llama 3: a pre-token that is itself a vocabulary entry is kept */
    size_t n_vocab;
    char *text;        /* every token's vocabulary text, back to back */
    size_t *text_off;  /* [n_vocab + 1] */
    char *bytes;       /* every token's decoded bytes (what it stands for) */
    size_t *bytes_off; /* [n_vocab + 1] */
    int32_t *types;    /* [n_vocab] */
    size_t max_token_bytes;

    int32_t *tok_hash; /* open addressing over text -> id, -1 empty */
    size_t tok_hash_mask;

    struct merge_slot *merges; /* open addressing over (left, right) -> rank, result */
    size_t merges_mask;
    size_t n_merges;

    struct byte_map bmap;
    int32_t byte_id[256]; /* BPE: the token of each single byte, -1 if the vocabulary lacks it */

    /* Tokens matched as whole pieces before pre-tokenization (control, unknown and
     * user-defined), grouped by first byte and longest first within a group. */
    int32_t *special;
    size_t n_special;
    uint32_t special_start[257];

    int32_t bos_id, eos_id, unk_id, pad_id, sep_id, cls_id, mask_id;
    int add_bos, add_eos;
    int lowercase;
    int max_chars_per_word;
};

/* Growable id array used while encoding. */
struct id_vec {
    int32_t *v;
    size_t n, cap;
};
int id_vec_push(struct id_vec *a, int32_t id);

static inline const char *tok_text(const struct tokenizer *t, int32_t id, size_t *len)
{
    *len = t->text_off[id + 1] - t->text_off[id];
    return t->text + t->text_off[id];
}

/* Looks up an exact vocabulary text; -1 if absent. */
int32_t tok_lookup(const struct tokenizer *t, const char *s, size_t len);

/* Encodes s[0..n) (no special tokens inside) with the WordPiece model, appending to out. */
int wordpiece_encode_segment(const struct tokenizer *t, const char *s, size_t n,
                             struct id_vec *out);

#endif
