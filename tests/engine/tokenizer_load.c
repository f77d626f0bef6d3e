/* Tests of the vocab.txt and tokenizer.json loaders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "engine/tokenizer.h"

static int32_t id_of(const tokenizer_t *t, const char *s)
{
    return tokenizer_find(t, s, strlen(s));
}

static void expect_ids(const tokenizer_t *t, const char *text, int flags, const int32_t *want,
                       size_t n_want)
{
    int32_t *ids;
    size_t n;
    assert_int_equal(tokenizer_encode(t, text, strlen(text), flags, &ids, &n), 0);
    assert_int_equal(n, n_want);
    assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
}

static void test_vocab_txt_bert(void **state)
{
    (void)state;
    static const char vocab[] = "[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nquick\n"
                                "##er\nfox\n.\n";
    struct tokenizer_spec *spec;
    assert_int_equal(tokenizer_spec_from_vocab_txt(vocab, sizeof vocab - 1, &spec), 0);
    assert_int_equal(spec->n_vocab, 11);
    assert_int_equal(spec->pad_id, 0);
    assert_int_equal(spec->unk_id, 2);
    assert_int_equal(spec->cls_id, 3);
    assert_int_equal(spec->sep_id, 4);
    assert_int_equal(spec->mask_id, 5);
    assert_int_equal(spec->types[3], TOK_TYPE_CONTROL);
    assert_int_equal(spec->types[1], TOK_TYPE_NORMAL);
    assert_true(spec->lowercase);
    assert_false(tokenizer_spec_is_bpe(spec));
    tokenizer_t *t;
    assert_int_equal(tokenizer_create_wordpiece(spec, &t), 0);
    tokenizer_spec_free(spec);
    const int32_t want[] = {3, 6, 7, 8, 9, 10, 2, 4};
    expect_ids(t, "The QUICKER fox. Jumps", TOKENIZE_ADD_SPECIAL, want, 8);
    tokenizer_free(t);
}

static void test_vocab_txt_mpnet(void **state)
{
    (void)state;
    /* CRLF lines, no final newline, MPNet's <s></s> next to BERT's names */
    static const char vocab[] =
        "<s>\r\n<pad>\r\n</s>\r\n<unk>\r\n[PAD]\r\n[UNK]\r\nhello\r\n<mask>";
    struct tokenizer_spec *spec;
    assert_int_equal(tokenizer_spec_from_vocab_txt(vocab, sizeof vocab - 1, &spec), 0);
    assert_int_equal(spec->n_vocab, 8);
    assert_int_equal(spec->cls_id, 0);
    assert_int_equal(spec->sep_id, 2);
    assert_int_equal(spec->pad_id, 1);
    assert_int_equal(spec->unk_id, 5);
    assert_int_equal(spec->mask_id, 7);
    tokenizer_t *t;
    assert_int_equal(tokenizer_create_wordpiece(spec, &t), 0);
    tokenizer_spec_free(spec);
    assert_int_equal(id_of(t, "<mask>"), 7);
    const int32_t want[] = {0, 6, 5, 2};
    expect_ids(t, "Hello there", TOKENIZE_ADD_SPECIAL, want, 4);
    tokenizer_free(t);

    assert_int_equal(tokenizer_spec_from_vocab_txt("", 0, &spec), RAGD_EFORMAT);
    tokenizer_spec_free(NULL);
}

static const char wp_json[] =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":0,\"content\":\"<s>\",\"special\":true},"
    "{\"id\":2,\"content\":\"</s>\",\"special\":true},"
    "{\"id\":7,\"content\":\"<mask>\",\"special\":true}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,"
    "\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true},"
    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],"
    "\"cls\":[\"<s>\",0],\"trim_offsets\":true,\"add_prefix_space\":false},"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
    "\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,"
    "\"vocab\":{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"[UNK]\":3,\"caf\":4,\"##e\":5,"
    "\"!\":6,\"<mask>\":7}}}";

static void test_hf_json_wordpiece(void **state)
{
    (void)state;
    struct tokenizer_spec *spec;
    assert_int_equal(tokenizer_spec_from_hf_json(wp_json, sizeof wp_json - 1, &spec), 0);
    assert_false(tokenizer_spec_is_bpe(spec));
    assert_int_equal(spec->n_vocab, 8);
    assert_int_equal(spec->cls_id, 0);
    assert_int_equal(spec->sep_id, 2);
    assert_int_equal(spec->unk_id, 3);
    assert_int_equal(spec->pad_id, 1);
    assert_int_equal(spec->mask_id, 7);
    assert_true(spec->lowercase);
    tokenizer_t *t;
    assert_int_equal(tokenizer_create_wordpiece(spec, &t), 0);
    tokenizer_spec_free(spec);
    const int32_t want[] = {0, 4, 5, 6, 3, 2};
    expect_ids(t, "CAF\xc3\x89! x", TOKENIZE_ADD_SPECIAL, want, 6);
    const int32_t want2[] = {7, 4, 5};
    expect_ids(t, "<mask>cafe", TOKENIZE_PARSE_SPECIAL, want2, 3);
    tokenizer_free(t);
}

static const char bpe_json[] =
    "{\"added_tokens\":[{\"id\":7,\"content\":\"<|endoftext|>\",\"special\":true},"
    "{\"id\":8,\"content\":\"<think>\",\"special\":false}],"
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
    "\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+"
    "|\\\\p{N}| "
    "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
    "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
    "\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]},"
    "\"post_processor\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\xc4\xa0\":3,"
    "\"\xc4\xa0"
    "ab\":4,\"1\":5,\"2\":6},\"merges\":[\"a b\",[\"\xc4\xa0\",\"ab\"]]}}";

static void test_hf_json_bpe(void **state)
{
    (void)state;
    struct tokenizer_spec *spec;
    assert_int_equal(tokenizer_spec_from_hf_json(bpe_json, sizeof bpe_json - 1, &spec), 0);
    assert_true(tokenizer_spec_is_bpe(spec));
    assert_string_equal(spec->pre, "qwen2");
    assert_int_equal(spec->n_merges, 2);
    assert_int_equal(spec->types[7], TOK_TYPE_CONTROL);
    assert_int_equal(spec->types[8], TOK_TYPE_USER_DEFINED);
    tokenizer_t *t;
    assert_int_equal(tokenizer_create_bpe(spec, &t), 0);
    tokenizer_spec_free(spec);
    const int32_t want[] = {2, 4, 5, 6, 8, 7};
    expect_ids(t, "ab ab12<think><|endoftext|>", TOKENIZE_PARSE_SPECIAL, want, 6);
    tokenizer_free(t);
}

static void test_hf_json_errors(void **state)
{
    (void)state;
    struct tokenizer_spec *spec;
    const char *bad[] = {
        "{",
        "[]",
        "{\"model\":{}}",
        /* a hole at id 1 */
        "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"a\":2}"
        "}}",
        /* a huge id must not allocate */
        "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,"
        "\"a\":2000000000}}}",
        /* no unk */
        "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"<nope>\",\"vocab\":{\"a\":0}}}",
        /* an added token disagreeing with the vocabulary */
        "{\"added_tokens\":[{\"id\":0,\"content\":\"b\"}],\"model\":{\"type\":\"WordPiece\","
        "\"unk_token\":\"a\",\"vocab\":{\"a\":0}}}",
        "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"a\",\"vocab\":{\"a\":-1}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tokenizer_spec_from_hf_json(bad[i], strlen(bad[i]), &spec), RAGD_EFORMAT);
    const char *unsup[] = {
        "{\"model\":{\"type\":\"Unigram\",\"vocab\":{\"a\":0}}}",
        "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"a\",\"continuing_subword_prefix\":"
        "\"@@\",\"vocab\":{\"a\":0}}}",
        "{\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"model\":{\"type\":\"BPE\",\"vocab\":"
        "{\"a\":0},\"merges\":[]}}",
    };
    for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++)
        assert_int_equal(tokenizer_spec_from_hf_json(unsup[i], strlen(unsup[i]), &spec),
                         RAGD_ENOTSUP);
    /* a minimal valid WordPiece file */
    const char *ok = "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":"
                     "{\"[UNK]\":0,\"a\":1}}}";
    assert_int_equal(tokenizer_spec_from_hf_json(ok, strlen(ok), &spec), 0);
    assert_false(spec->lowercase);
    tokenizer_spec_free(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_txt_bert),    cmocka_unit_test(test_vocab_txt_mpnet),
        cmocka_unit_test(test_hf_json_wordpiece), cmocka_unit_test(test_hf_json_bpe),
        cmocka_unit_test(test_hf_json_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
