/* Unit tests for llm/gemini's wire format: the request body (contents with user/model roles,
 * one systemInstruction, generationConfig) and reading GenerateContentResponse events,
 * a whole JSON reply, an array of them, and streams that end early. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "llm/gemini.c"

static void test_request_body(void **state)
{
    (void)state;
    const struct prov_message msgs[] = {{"system", "Be brief."},
                                        {"user", "What is the heart?"},
                                        {"assistant", "An organ."},
                                        {"system", "Cite sources."},
                                        {"user", "More?"}};
    const char *const stop[] = {"END"};
    struct prov_request req = {.messages = msgs,
                               .n_messages = 5,
                               .max_tokens = 64,
                               .temperature = 0.2,
                               .top_p = 0.9,
                               .stop = stop,
                               .n_stop = 1};
    json_t *b = request_json(&req);
    json_t *contents = json_object_get(b, "contents");
    assert_int_equal(json_array_size(contents), 3);
    const char *roles[] = {"user", "model", "user"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(contents, i), "role")),
                            roles[i]);
    json_t *sys = json_object_get(json_object_get(b, "systemInstruction"), "parts");
    assert_int_equal(json_array_size(sys), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sys, 1), "text")),
                        "Cite sources.");
    json_t *cfg = json_object_get(b, "generationConfig");
    assert_int_equal(json_integer_value(json_object_get(cfg, "maxOutputTokens")), 64);
    assert_true(json_real_value(json_object_get(cfg, "topP")) > 0.89);
    assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "stopSequences"), 0)),
                        "END");
    json_decref(b);
}

static int collect_piece(void *ud, const char *t, size_t n)
{
    sb_add(ud, t, n);
    return 0;
}

static void feed(struct gctx *x, const char *s)
{
    assert_int_equal(stream_sink(&x->sink, s, strlen(s)), strlen(s));
}

static void test_event_stream(void **state)
{
    (void)state;
    struct sbuf got;
    sb_init(&got);
    struct gctx x = {
        .sink = {.fn = stream_sink}, .on_token = collect_piece, .ud = &got, .max_bytes = 1000};
    sb_init(&x.sink.body);
    sb_init(&x.line);
    sb_init(&x.text);
    feed(&x, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":"
             "\"Four \"}]}}]}\r\n\r\n");
    feed(&x, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"chambers.\"}]},"
             "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":7,"
             "\"candidatesTokenCount\":3},\"modelVersion\":\"gemini-x\"}\n\n");
    assert_true(x.sse);
    assert_int_equal(x.events, 2);
    assert_true(x.finished);
    assert_int_equal(x.prompt_tokens, 7);
    assert_int_equal(x.completion_tokens, 3);
    assert_string_equal(x.model, "gemini-x");
    assert_int_equal(got.len, strlen("Four chambers."));
    assert_memory_equal(got.s, "Four chambers.", got.len);
    sb_free(&x.text);
    sb_free(&x.line);
    sb_free(&x.sink.body);
    sb_free(&got);
}

static void test_whole_reply_and_array(void **state)
{
    (void)state;
    struct gctx x = {.sink = {.fn = stream_sink}, .max_bytes = 1000};
    sb_init(&x.sink.body);
    sb_init(&x.line);
    sb_init(&x.text);
    feed(&x, "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}]}}]},"
             "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"B\"}]},"
             "\"finishReason\":\"MAX_TOKENS\"}]}]");
    assert_false(x.sse);
    json_error_t je;
    json_t *j = json_loadb(x.sink.body.s, x.sink.body.len, 0, &je);
    assert_true(json_is_array(j));
    for (size_t i = 0; i < json_array_size(j); i++)
        take_response(&x, json_array_get(j, i));
    json_decref(j);
    assert_int_equal(x.text.len, 2);
    assert_memory_equal(x.text.s, "AB", 2);
    assert_true(x.truncated && x.finished);
    sb_free(&x.text);
    sb_free(&x.line);
    sb_free(&x.sink.body);
}

static void test_unreachable_is_unavailable(void **state)
{
    (void)state;
    prov_provider_t *p =
        prov_gemini_create("http://127.0.0.1:9/v1beta", "AIzaTestKey00000000", "gemini-x", 2);
    struct prov_message m = {"user", "hi"};
    struct prov_request req = {.messages = &m, .n_messages = 1, .max_tokens = 4};
    struct prov_result res;
    char err[256];
    assert_int_equal(p->ops->generate(p->self, &req, NULL, NULL, &res, err, sizeof err),
                     RAGD_EUNAVAIL);
    assert_null(strstr(err, "AIza"));
    assert_string_equal(p->ops->model(p->self), "gemini-x");
    p->ops->free(p->self);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_body),
        cmocka_unit_test(test_event_stream),
        cmocka_unit_test(test_whole_reply_and_array),
        cmocka_unit_test(test_unreachable_is_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
