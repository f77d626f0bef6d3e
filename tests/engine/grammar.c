/* Constrained decoding: the schema compiler's refusals, the automaton on hand-written strings
 * it must accept or reject, the token mask against a byte-by-byte walk, and 100 generations
 * with random sampling on a tiny random model under a JSON schema, every one of which must
 * parse and validate against the schema. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/grammar.c"
#include "engine/llm.h"
#include "tools/mktiny.h"
#include "tiny_fixture.h"

static grammar_t *compile_text(const char *schema)
{
    json_error_t je;
    json_t *s = schema ? json_loads(schema, 0, &je) : NULL;
    if (schema && !s) fail_msg("bad test schema: %s", je.text);
    grammar_t *g;
    char err[256] = "";
    if (grammar_compile(s, &g, err, sizeof err)) fail_msg("compile: %s", err);
    json_decref(s);
    return g;
}

/* 1 when text is a complete value of g. */
static int accepts(const grammar_t *g, const char *text)
{
    grammar_state_t *s;
    grammar_state_create(g, &s);
    int ok = grammar_accept_bytes(s, text, strlen(text)) == 0 && grammar_can_end(s);
    grammar_state_free(s);
    return ok;
}

/* 1 when text is a prefix the automaton takes (complete or not). */
static int prefix_ok(const grammar_t *g, const char *text)
{
    grammar_state_t *s;
    grammar_state_create(g, &s);
    int ok = grammar_accept_bytes(s, text, strlen(text)) == 0;
    grammar_state_free(s);
    return ok;
}

static void test_json_object(void **state)
{
    (void)state;
    grammar_t *g = compile_text(NULL);
    const char *good[] = {
        "{}",
        "{\"a\":1}",
        "{ \"a\" : \"x\" }",
        "{\"a\":[1,-2.5e+3,0,\"x\",true,false,null,{\"b\":{}}],\"c\":[]}",
        "{\"\\u00e9\\n\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}",
        "{\n  \"k\": 0.25\n}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!accepts(g, good[i])) fail_msg("should accept: %s", good[i]);
    const char *bad[] = {
        "[]",
        "\"x\"",
        "1",
        "{\"a\":01}",
        "{\"a\":tru}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{} ",
        "{}x",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{'a':1}",
        " {}",
        "{\"a\":\"\\x\"}",
        "{\"a\":1234567890123456}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (accepts(g, bad[i])) fail_msg("should reject: %s", bad[i]);
    /* whitespace is bounded: one space, or a newline and some indentation */
    char ws[64] = "{\n";
    memset(ws + 2, ' ', GRAMMAR_MAX_WS);
    assert_true(prefix_ok(g, ws));
    ws[GRAMMAR_MAX_WS + 2] = '\t';
    assert_false(prefix_ok(g, ws));
    assert_true(prefix_ok(g, "{ \"a\": [\n\t\t1,\n 2\n]"));
    assert_false(prefix_ok(g, "{  "));
    assert_false(prefix_ok(g, "{\n\n"));
    assert_false(prefix_ok(g, "{ \n"));
    assert_false(prefix_ok(g, "{\r\n"));
    /* complete: nothing follows */
    grammar_state_t *s;
    grammar_state_create(g, &s);
    assert_int_equal(grammar_accept_bytes(s, "{\"a\":[1]", 8), 0);
    assert_false(grammar_can_end(s));
    assert_false(grammar_done(s));
    assert_int_equal(grammar_accept_bytes(s, "}", 1), 0);
    assert_true(grammar_can_end(s));
    assert_true(grammar_done(s));
    assert_int_equal(grammar_accept_bytes(s, " ", 1), RAGD_EINVAL);
    grammar_state_free(s);
    grammar_free(g);
}

static const char *schema_text =
    "{\"type\": \"object\", \"properties\": {"
    " \"name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 12},"
    " \"age\": {\"type\": \"integer\"},"
    " \"color\": {\"enum\": [\"red\", \"green\", \"blue\"]},"
    " \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"maxLength\": 6},"
    "          \"minItems\": 1, \"maxItems\": 3},"
    " \"address\": {\"type\": \"object\", \"properties\": {"
    "    \"city\": {\"type\": \"string\", \"maxLength\": 10},"
    "    \"zip\": {\"type\": \"integer\"}, \"verified\": {\"type\": \"boolean\"}},"
    "    \"required\": [\"city\"], \"additionalProperties\": false},"
    " \"score\": {\"type\": \"number\"},"
    " \"note\": {\"anyOf\": [{\"type\": \"string\", \"maxLength\": 5}, {\"type\": \"null\"}]},"
    " \"kind\": {\"const\": \"person\"}"
    "}, \"required\": [\"name\", \"age\", \"color\", \"tags\", \"address\", \"kind\"],"
    " \"additionalProperties\": false}";

static void test_schema(void **state)
{
    (void)state;
    grammar_t *g = compile_text(schema_text);
    const char *good[] = {
        "{\"name\":\"Ann\",\"age\":41,\"color\":\"red\",\"tags\":[\"a\"],"
        "\"address\":{\"city\":\"Oslo\"},\"kind\":\"person\"}",
        "{\"name\": \"Bo\", \"age\": -3, \"color\": \"blue\", \"tags\": [\"x\", \"yy\", \"\"],\n"
        " \"address\": {\"city\": \"\", \"zip\": 1234, \"verified\": true}, \"score\": 1.5e-3,"
        " \"note\": null, \"kind\": \"person\"}",
        "{\"name\":\"C\",\"age\":0,\"color\":\"green\",\"tags\":[\"t\"],"
        "\"address\":{\"city\":\"x\",\"verified\":false},\"note\":\"hi\",\"kind\":\"person\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!accepts(g, good[i])) fail_msg("should accept: %s", good[i]);
    const char *bad[] = {
        /* a required property missing */
        "{\"name\":\"Ann\",\"color\":\"red\",\"tags\":[\"a\"],\"address\":{\"city\":\"O\"},"
        "\"kind\":\"person\"}",
        /* integer with a fraction */
        "{\"name\":\"Ann\",\"age\":4.5,",
        /* not in the enum */
        "{\"name\":\"Ann\",\"age\":4,\"color\":\"pink\"",
        /* too long */
        "{\"name\":\"abcdefghijklm\"",
        /* empty name (minLength 1) */
        "{\"name\":\"\",",
        /* no items (minItems 1), too many items */
        "{\"name\":\"A\",\"age\":1,\"color\":\"red\",\"tags\":[]",
        "{\"name\":\"A\",\"age\":1,\"color\":\"red\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]",
        /* an unknown property (additionalProperties false) */
        "{\"name\":\"A\",\"nick\":\"b\"",
        "{\"name\":\"A\",\"age\":1,\"color\":\"red\",\"tags\":[\"a\"],\"address\":{\"city\":"
        "\"x\",\"state\":1}",
        /* out of order */
        "{\"age\":1,\"name\":\"A\"",
        /* const */
        "{\"name\":\"A\",\"age\":1,\"color\":\"red\",\"tags\":[\"a\"],\"address\":{\"city\":"
        "\"x\"},\"kind\":\"robot\"}",
        /* anyOf: neither a short string nor null */
        "{\"name\":\"A\",\"age\":1,\"color\":\"red\",\"tags\":[\"a\"],\"address\":{\"city\":"
        "\"x\"},\"note\":5",
        /* a bare array */
        "[1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (prefix_ok(g, bad[i])) fail_msg("should reject the prefix: %s", bad[i]);
    grammar_free(g);

    /* type lists, top-level scalars, enums that are prefixes of each other */
    g = compile_text("{\"$defs\": {\"pt\": {\"type\": \"object\", \"properties\": {\"x\": "
                     "{\"type\": \"integer\"}}, \"required\": [\"x\"]}}, \"type\": \"array\", "
                     "\"items\": {\"$ref\": \"#/$defs/pt\"}}");
    assert_true(accepts(g, "[{\"x\":1},{\"x\":2}]"));
    assert_false(accepts(g, "[{\"y\":1}]"));
    grammar_free(g);
    g = compile_text("{\"type\": [\"integer\", \"null\"]}");
    assert_true(accepts(g, "12"));
    assert_true(accepts(g, "null"));
    assert_false(accepts(g, "1.5"));
    assert_false(accepts(g, "\"1\""));
    grammar_free(g);
    g = compile_text("{\"enum\": [1, 12, \"a\", \"ab\", {\"x\": [true]}]}");
    assert_true(accepts(g, "1"));
    assert_true(accepts(g, "12"));
    assert_true(accepts(g, "\"ab\""));
    assert_true(accepts(g, "{\"x\":[true]}"));
    assert_false(accepts(g, "123"));
    assert_false(accepts(g, "\"abc\""));
    grammar_free(g);
    g = compile_text("{\"type\": \"array\", \"items\": {\"anyOf\": [{\"type\": \"object\", "
                     "\"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"]}, "
                     "{\"type\": \"object\", \"properties\": {\"ab\": {\"type\": \"string\"}}, "
                     "\"required\": [\"ab\"]}]}, \"maxItems\": 2}");
    assert_true(accepts(g, "[{\"a\":1},{\"ab\":\"x\"}]"));
    assert_true(accepts(g, "[]"));
    assert_false(accepts(g, "[{\"a\":\"x\"}]"));
    assert_false(accepts(g, "[{\"a\":1},{\"a\":1},{\"a\":1}]"));
    grammar_free(g);
}

static void test_refusals(void **state)
{
    (void)state;
    struct {
        const char *schema, *needle;
    } cases[] = {
        {"{\"type\": \"string\", \"pattern\": \"^a\"}", "'pattern'"},
        {"{\"type\": \"string\", \"format\": \"date-time\"}", "'format'"},
        {"{\"$ref\": \"#/$defs/x\"}", "$ref at $"},
        {"{\"$ref\": \"http://example.com/s.json\"}", "#/$defs/NAME"},
        {"{\"$defs\": {\"n\": {\"$ref\": \"#/$defs/n\"}}, \"$ref\": \"#/$defs/n\"}", "recursive"},
        {"{\"oneOf\": [{\"type\": \"string\"}]}", "'oneOf'"},
        {"{\"type\": \"integer\", \"minimum\": 3}", "'minimum'"},
        {"{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"object\", \"properties\": "
         "{\"b\": {\"type\": \"string\", \"maxLength\": \"x\"}}}}}",
         "$.a.b"},
        {"{\"type\": \"object\", \"properties\": {}, \"required\": [\"x\"]}", "'x'"},
        {"{\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}}",
         "additionalProperties"},
        {"{\"type\": \"thing\"}", "'thing'"},
        {"{\"enum\": []}", "enum"},
        {"{\"anyOf\": [], \"type\": \"string\"}", "anyOf"},
        {"[]", "must be an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *s = json_loads(cases[i].schema, 0, NULL);
        assert_non_null(s);
        grammar_t *g = NULL;
        char err[256] = "";
        assert_int_equal(grammar_compile(s, &g, err, sizeof err), RAGD_EINVAL);
        assert_null(g);
        if (!strstr(err, cases[i].needle)) fail_msg("'%s' lacks '%s'", err, cases[i].needle);
        json_decref(s);
    }
    /* nesting is bounded */
    json_t *deep = json_pack("{s:s}", "type", "string");
    for (int i = 0; i < 20; i++)
        deep = json_pack("{s:s, s:o}", "type", "array", "items", deep);
    grammar_t *g = NULL;
    char err[256];
    assert_int_equal(grammar_compile(deep, &g, err, sizeof err), RAGD_EINVAL);
    json_decref(deep);
}

/* ---- a validator for the schema subset, independent of the automaton ---- */

static int validate(const json_t *v, const json_t *s);

static int validate_type(const json_t *v, const char *t, const json_t *s)
{
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "integer")) return json_is_integer(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "string")) {
        if (!json_is_string(v)) return 0;
        const char *p = json_string_value(v);
        long chars = 0;
        for (size_t i = 0; i < json_string_length(v); i++)
            chars += ((unsigned char)p[i] & 0xc0) != 0x80;
        const json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
        return (!mn || chars >= json_integer_value(mn)) && (!mx || chars <= json_integer_value(mx));
    }
    if (!strcmp(t, "array")) {
        if (!json_is_array(v)) return 0;
        const json_t *mn = json_object_get(s, "minItems"), *mx = json_object_get(s, "maxItems");
        size_t n = json_array_size(v);
        if ((mn && (json_int_t)n < json_integer_value(mn)) ||
            (mx && (json_int_t)n > json_integer_value(mx)))
            return 0;
        size_t i;
        json_t *x;
        json_array_foreach((json_t *)v, i,
                           x) if (!validate(x, json_object_get(s, "items"))) return 0;
        return 1;
    }
    if (!strcmp(t, "object")) {
        if (!json_is_object(v)) return 0;
        const json_t *props = json_object_get(s, "properties");
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(s, "required"), i,
                           r) if (!json_object_get(v, json_string_value(r))) return 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            const json_t *ps = json_object_get(props, k);
            if (!ps && json_is_false(json_object_get(s, "additionalProperties"))) return 0;
            if (ps && !validate(x, ps)) return 0;
        }
        return 1;
    }
    return 0;
}

static int validate(const json_t *v, const json_t *s)
{
    if (!s) return 1;
    const json_t *e = json_object_get(s, "enum"), *c = json_object_get(s, "const");
    if (c) return json_equal((json_t *)v, (json_t *)c);
    if (e) {
        size_t i;
        json_t *x;
        json_array_foreach((json_t *)e, i, x) if (json_equal((json_t *)v, x)) return 1;
        return 0;
    }
    const json_t *any = json_object_get(s, "anyOf");
    if (any) {
        size_t i;
        json_t *x;
        json_array_foreach((json_t *)any, i, x) if (validate(v, x)) return 1;
        return 0;
    }
    const json_t *t = json_object_get(s, "type");
    return !t || validate_type(v, json_string_value(t), s);
}

/* The mask keeps exactly the tokens a byte-by-byte walk accepts. */
static void test_mask(void **state)
{
    (void)state;
    llm_model_t *m;
    char err[256] = "";
    if (llm_model_load(path, 1, 0, &m, err, sizeof err)) fail_msg("%s", err);
    const tokenizer_t *t = llm_model_tokenizer(m);
    int32_t eos[] = {tokenizer_find(t, "<|im_end|>", 10)};
    grammar_vocab_t *v;
    assert_int_equal(grammar_vocab_create(t, eos, 1, &v), 0);
    grammar_t *g = compile_text(schema_text);
    const char *prefixes[] = {"",
                              "{",
                              "{\"name\":\"Ab",
                              "{\"name\":\"Abcdefghijkl",
                              "{\"name\":\"A\",\"age\":12",
                              "{\"name\":\"A\",\"age\":1,\"color\":"};
    size_t n = tokenizer_n_vocab(t);
    float *logits = malloc(n * sizeof *logits);
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
        grammar_state_t *s;
        grammar_state_create(g, &s);
        assert_int_equal(grammar_accept_bytes(s, prefixes[p], strlen(prefixes[p])), 0);
        for (size_t i = 0; i < n; i++)
            logits[i] = 0;
        size_t kept = grammar_mask(s, v, logits, n);
        size_t check = 0;
        for (size_t i = 0; i < n; i++) {
            const char *b;
            size_t l;
            int ok = 0;
            int type = tokenizer_token_type(t, (int32_t)i);
            if ((int32_t)i != eos[0] &&
                (type == TOK_TYPE_NORMAL || type == TOK_TYPE_BYTE || type == TOK_TYPE_UNDEFINED) &&
                !tokenizer_token_bytes(t, (int32_t)i, &b, &l) && l) {
                grammar_state_t *c;
                grammar_state_create(g, &c);
                grammar_accept_bytes(c, prefixes[p], strlen(prefixes[p]));
                ok = grammar_accept_bytes(c, b, l) == 0;
                grammar_state_free(c);
            }
            if ((int32_t)i == eos[0]) ok = 0; /* no prefix here is complete */
            if (ok != (logits[i] == 0))
                fail_msg("prefix %zu token %zu: mask %d walk %d", p, i, logits[i] == 0, ok);
            check += ok;
        }
        assert_int_equal(kept, check);
        assert_true(kept > 0);
        grammar_state_free(s);
    }
    /* what a mask costs (CPU time) per token, inside a string and between members */
    const char *timed[] = {"{\"name\":\"Ab", "{\"name\":\"A\",\"age\":12"};
    for (size_t p = 0; p < 2; p++) {
        grammar_state_t *s;
        grammar_state_create(g, &s);
        grammar_accept_bytes(s, timed[p], strlen(timed[p]));
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        for (int k = 0; k < 200; k++)
            grammar_mask(s, v, logits, n);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        printf("# mask over %zu tokens after '%s': %.1f us\n", n, timed[p],
               ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 200 / 1e3);
        grammar_state_free(s);
    }
    free(logits);
    grammar_free(g);
    grammar_vocab_free(v);
    llm_model_free(m);
}

/* What a mask costs at Qwen3's vocabulary size (151936 tokens): a synthetic vocabulary shaped
 * like a byte-level BPE one (words with and without a leading space, digits, punctuation runs,
 * CJK text, stray UTF-8 bytes), masked in a string, at a value's start and between members. */
static void test_mask_cost(void **state)
{
    (void)state;
    enum { V = 151936 };
    grammar_vocab_t v = {.n = V, .first_eos = V - 1};
    v.bytes = calloc(V, sizeof *v.bytes);
    v.len = calloc(V, sizeof *v.len);
    v.kind = calloc(V, 1);
    v.b0 = calloc(V, 1);
    v.plain = calloc(V, sizeof *v.plain);
    char *pool = malloc((size_t)V * 16), *p = pool;
    uint64_t r = 7;
    static const char punct[] = "\",.:;{}[]()'-_/\n \\!?";
    for (size_t i = 0; i < V; i++) {
        size_t n = 0, kind = mktiny_rand(&r) % 20;
        if (kind < 12) { /* a word */
            if (mktiny_rand(&r) & 1) p[n++] = ' ';
            size_t w = 1 + mktiny_rand(&r) % 9;
            while (w--)
                p[n++] = (char)('a' + mktiny_rand(&r) % 26);
        } else if (kind < 14) {
            size_t w = 1 + mktiny_rand(&r) % 3;
            while (w--)
                p[n++] = (char)('0' + mktiny_rand(&r) % 10);
        } else if (kind < 16) {
            size_t w = 1 + mktiny_rand(&r) % 4;
            while (w--)
                p[n++] = punct[mktiny_rand(&r) % (sizeof punct - 1)];
        } else if (kind < 19) { /* CJK characters */
            size_t w = 1 + mktiny_rand(&r) % 3;
            while (w--) {
                unsigned cp = 0x4e00 + (unsigned)(mktiny_rand(&r) % 0x5000);
                p[n++] = (char)(0xe0 | cp >> 12);
                p[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
                p[n++] = (char)(0x80 | (cp & 0x3f));
            }
        } else {
            p[n++] = (char)(0x80 + mktiny_rand(&r) % 0x80);
        }
        v.bytes[i] = p;
        v.len[i] = n;
        v.kind[i] = i == V - 1 ? T_EOS : T_TEXT;
        v.b0[i] = (uint8_t)p[0];
        v.plain[i] = plain_chars((const unsigned char *)p, n);
        p += n;
    }
    grammar_t *g = compile_text(schema_text);
    float *logits = malloc(V * sizeof *logits);
    const char *at[] = {"{\"name\":\"Ab", "{\"name\":\"A\",\"age\":", "{\"name\":\"A\",\"age\":12"};
    for (size_t k = 0; k < 3; k++) {
        grammar_state_t *s;
        grammar_state_create(g, &s);
        assert_int_equal(grammar_accept_bytes(s, at[k], strlen(at[k])), 0);
        struct timespec t0, t1;
        size_t kept = 0;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        for (int i = 0; i < 10; i++)
            kept = grammar_mask(s, &v, logits, V);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        assert_true(kept > 0);
        printf("# mask over %d tokens after '%s': %.2f ms, %zu allowed\n", V, at[k],
               ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 10 / 1e6, kept);
        grammar_state_free(s);
    }
    free(logits);
    grammar_free(g);
    free(pool);
    free(v.bytes);
    free(v.len);
    free(v.kind);
    free(v.b0);
    free(v.plain);
}

/* 100 generations at temperature 1 with different seeds: each parses and validates. Four
 * sessions generate at once (25 each), so their decoding steps run as batched forward passes
 * while each keeps its own automaton. */
enum { N_GEN = 100, N_SEQ = 4 };

struct gen_job {
    llm_model_t *m;
    const struct llm_gen_params *gp;
    int first; /* seeds first, first + N_SEQ, ... */
    struct llm_gen_result r[N_GEN / N_SEQ];
    int rc;
};

static void *gen_thread(void *arg)
{
    struct gen_job *j = arg;
    llm_session_t *s;
    if ((j->rc = llm_session_create(j->m, 1024, &s))) return NULL;
    struct chatml_msg msg[] = {{"system", "Answer in JSON."}, {"user", "Describe a person."}};
    struct llm_gen_params gp = *j->gp;
    for (int i = 0; i < N_GEN / N_SEQ && !j->rc; i++) {
        gp.sampling.seed = 1000 + (uint64_t)(j->first + i * N_SEQ);
        j->rc = llm_chat(s, msg, 2, 0, &gp, NULL, NULL, &j->r[i]);
    }
    llm_session_free(s);
    return NULL;
}

static void test_generate_100(void **state)
{
    (void)state;
    llm_model_t *m;
    char err[256] = "";
    if (llm_model_load(path, 2, 0, &m, err, sizeof err)) fail_msg("%s", err);
    json_t *schema = json_loads(schema_text, 0, NULL);
    grammar_t *g;
    assert_int_equal(grammar_compile(schema, &g, err, sizeof err), 0);
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    gp.sampling.temperature = 1.0f;
    gp.sampling.top_k = 0;
    gp.sampling.top_p = 1.0f;
    gp.sampling.repeat_penalty = 1.0f;
    gp.n_predict = 900;
    gp.grammar = g;
    static struct gen_job jobs[N_SEQ];
    pthread_t th[N_SEQ];
    for (int k = 0; k < N_SEQ; k++) {
        jobs[k] = (struct gen_job){.m = m, .gp = &gp, .first = k};
        assert_int_equal(pthread_create(&th[k], NULL, gen_thread, &jobs[k]), 0);
    }
    for (int k = 0; k < N_SEQ; k++)
        pthread_join(th[k], NULL);
    int parsed = 0, valid = 0, tokens = 0;
    double secs = 0;
    for (int k = 0; k < N_SEQ; k++) {
        assert_int_equal(jobs[k].rc, 0);
        for (int i = 0; i < N_GEN / N_SEQ; i++) {
            struct llm_gen_result *r = &jobs[k].r[i];
            int seed = k + i * N_SEQ;
            if (r->stop != LLM_STOP_EOS) {
                json_t *q = json_stringn(r->text, r->len);
                char *shown = json_dumps(q, JSON_ENCODE_ANY);
                fail_msg("seed %d did not finish (stop %d after %d tokens): %s", seed, (int)r->stop,
                         r->n_gen, shown);
            }
            json_error_t je;
            json_t *v = json_loads(r->text, JSON_DECODE_ANY, &je);
            if (!v) fail_msg("seed %d does not parse (%s): %s", seed, je.text, r->text);
            parsed++;
            if (!validate(v, schema)) fail_msg("seed %d does not validate: %s", seed, r->text);
            valid++;
            tokens += r->n_gen;
            secs += r->gen_s;
            if (seed == 0) printf("# sample: %s\n", r->text);
            json_decref(v);
            llm_gen_result_free(r);
        }
    }
    uint64_t steps, batched;
    llm_model_stats(m, &steps, &batched);
    printf("# %d generations: %d parsed, %d valid, %d tokens, %.2f ms per token per sequence, "
           "%.2f sequences per decoding pass\n",
           N_GEN, parsed, valid, tokens, 1000 * secs / tokens,
           steps ? (double)batched / (double)steps : 0);
    assert_int_equal(parsed, N_GEN);
    assert_int_equal(valid, N_GEN);
    grammar_free(g);
    json_decref(schema);
    llm_model_free(m);
}

static int setup(void **state)
{
    (void)state;
    return tiny_fixture_write("grammar", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_object), cmocka_unit_test(test_schema),
        cmocka_unit_test(test_refusals),    cmocka_unit_test(test_mask),
        cmocka_unit_test(test_mask_cost),   cmocka_unit_test(test_generate_100),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
