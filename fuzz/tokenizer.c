/* Fuzz target for the tokenizers: random text through byte-level BPE (each pre-tokenizer,
 * with and without special-token parsing) must decode back to itself, whole and streamed;
 * WordPiece must encode and decode without faults; the vocab.txt and tokenizer.json loaders
 * must reject or accept any buffer cleanly.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc fuzz/tokenizer.c
 *        src/engine/tokenizer.c src/engine/tokenizer_pre.c src/engine/tokenizer_wordpiece.c
 *        src/engine/tokenizer_load.c src/engine/unicode.c src/core/mem.c src/core/error.c
 *        -lutf8proc -ljansson */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "engine/unicode.h"

static tokenizer_t *bpe[3], *wordpiece;

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz check failed: %s\n", what);
        abort();
    }
}

/* Byte tokens, a few merges over common text, chat specials and a user-defined token. */
static tokenizer_t *build_bpe(const char *pre)
{
    static char tok_store[512][8];
    const char *tokens[600];
    int32_t types[600];
    size_t n = 0;
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = b;
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
            unsigned k = 0;
            for (unsigned x = 0; x < b; x++)
                if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)))
                    k++;
            cp = 256 + k;
        }
        size_t l = unicode_encode(cp, tok_store[b]);
        tok_store[b][l] = '\0';
        tokens[n] = tok_store[b];
        types[n++] = TOK_TYPE_NORMAL;
    }
    static const char *const extra[] = {"th",
                                        "the",
                                        "\xc4\xa0t",
                                        "\xc4\xa0the",
                                        "in",
                                        "ing",
                                        "er",
                                        ("\xc4\xa0"
                                         "a"),
                                        "\xc3\xa9",
                                        "\xc4\x8a\xc4\x8a"};
    static const char *const merges[] = {
        "t h", "th e",       "\xc4\xa0 t", "\xc4\xa0t he",      "i n", "in g",
        "e r", "\xc4\xa0 a", "\xc3 \xa9",  "\xc4\x8a \xc4\x8a", "t h"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        tokens[n] = extra[i];
        types[n++] = TOK_TYPE_NORMAL;
    }
    static const char *const specials[] = {"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im"};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        tokens[n] = specials[i];
        types[n++] = TOK_TYPE_CONTROL;
    }
    tokens[n] = "<think>";
    types[n++] = TOK_TYPE_USER_DEFINED;
    struct tokenizer_spec s = {
        .tokens = tokens,
        .types = types,
        .n_vocab = n,
        .merges = merges,
        .n_merges = sizeof merges / sizeof merges[0],
        .pre = pre,
        .bos_id = -1,
        .eos_id = (int32_t)n - 3,
        .unk_id = -1,
        .pad_id = -1,
        .sep_id = -1,
        .cls_id = -1,
        .mask_id = -1,
        .add_eos = 1,
    };
    tokenizer_t *t = NULL;
    check(tokenizer_create_bpe(&s, &t) == 0, "create bpe");
    return t;
}

static tokenizer_t *build_wordpiece(void)
{
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\na\n##b\n##c\n"
                                "hello\nworld\n,\n.\n!\n\xe4\xb8\xad\n##\xc3\xa9\ncafe\n";
    struct tokenizer_spec *spec;
    check(tokenizer_spec_from_vocab_txt(vocab, sizeof vocab - 1, &spec) == 0, "vocab.txt");
    tokenizer_t *t = NULL;
    check(tokenizer_create_wordpiece(spec, &t) == 0, "create wordpiece");
    tokenizer_spec_free(spec);
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    bpe[0] = build_bpe("gpt-2");
    bpe[1] = build_bpe("llama-bpe");
    bpe[2] = build_bpe("qwen2");
    wordpiece = build_wordpiece();
    return 0;
}

static void roundtrip(const tokenizer_t *t, const char *text, size_t len, int flags)
{
    int32_t *ids;
    size_t n;
    check(tokenizer_encode(t, text, len, flags, &ids, &n) == 0, "encode");
    char *out;
    size_t olen;
    check(tokenizer_decode(t, ids, n, 0, &out, &olen) == 0, "decode");
    if (flags & TOKENIZE_ADD_SPECIAL) {
        check(olen == len + strlen("<|endoftext|>"), "decode length with eos");
    } else {
        check(olen == len && memcmp(out, text, len) == 0, "decode(encode(x)) == x");
    }
    /* streamed decode equals whole decode */
    char buf[256];
    struct tok_stream st = {0};
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        int m = tokenizer_stream_push(t, &st, ids[i], 0, buf, sizeof buf);
        check(m >= 0 && at + (size_t)m <= olen && memcmp(out + at, buf, (size_t)m) == 0,
              "stream chunk");
        at += (size_t)m;
    }
    int m = tokenizer_stream_flush(&st, buf, sizeof buf);
    check(m >= 0 && at + (size_t)m == olen && memcmp(out + at, buf, (size_t)m) == 0,
          "stream flush");
    free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    uint8_t mode = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (mode % 4) {
    case 0:
    case 1:
        for (int i = 0; i < 3; i++)
            roundtrip(bpe[i], text, len, (mode >> 2) & 3);
        break;
    case 2: {
        int32_t *ids;
        size_t n;
        check(tokenizer_encode(wordpiece, text, len, (mode >> 2) & 3, &ids, &n) == 0,
              "wordpiece encode");
        char *out;
        size_t olen;
        check(tokenizer_decode(wordpiece, ids, n, mode & 16, &out, &olen) == 0, "wordpiece decode");
        free(out);
        free(ids);
        break;
    }
    case 3: {
        struct tokenizer_spec *spec;
        tokenizer_t *t;
        int rc = (mode & 4) ? tokenizer_spec_from_hf_json(text, len, &spec)
                            : tokenizer_spec_from_vocab_txt(text, len, &spec);
        if (rc == 0) {
            int bpe_model = tokenizer_spec_is_bpe(spec);
            rc = bpe_model ? tokenizer_create_bpe(spec, &t) : tokenizer_create_wordpiece(spec, &t);
            if (rc == 0) {
                int32_t *ids;
                size_t n;
                static const char sample[] = "Hello, w\xc3\xb6rld! 123 \xe4\xb8\xad";
                if (tokenizer_encode(t, sample, sizeof sample - 1, 3, &ids, &n) == 0) free(ids);
                tokenizer_free(t);
            }
            tokenizer_spec_free(spec);
        }
        break;
    }
    }
    return 0;
}
