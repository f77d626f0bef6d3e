/* Tool calling in Qwen3's format: the rendered prompt is the text Qwen3's chat template makes
 * for tools, a past call and its results; <tool_call> blocks in a reply become tool calls
 * (malformed ones stay text); a stream holds back what may open a call; a forced call's JSON
 * becomes one call; requests the engine cannot honour are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "llm/toolfmt.c"

static const char *tools_text =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": "
    "\"Weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": "
    "\"string\"}}, \"required\": [\"city\"]}}}]";

static void test_render(void **state)
{
    (void)state;
    json_t *tools = json_loads(tools_text, 0, NULL);
    json_t *calls = json_loads("[{\"id\": \"call_1\", \"type\": \"function\", \"function\": "
                               "{\"name\": \"get_weather\", \"arguments\": "
                               "\"{\\\"city\\\": \\\"Oslo\\\"}\"}}]",
                               0, NULL);
    assert_non_null(tools);
    assert_non_null(calls);
    struct prov_message msgs[] = {
        {"system", "Be brief."},
        {"user", "Weather in Oslo?"},
        {.role = "assistant", .content = "", .tool_calls = calls},
        {.role = "tool", .content = "22 C", .tool_call_id = "call_1"},
        {.role = "tool", .content = "sunny", .tool_call_id = "call_1"},
    };
    struct prov_request req = {.messages = msgs, .n_messages = 5, .tools = tools};
    struct toolfmt f;
    char err[256];
    assert_int_equal(toolfmt_prepare(&req, &f, err, sizeof err), 0);
    assert_int_equal(f.mode, TOOLFMT_AUTO);
    assert_null(f.grammar);
    char *text = chatml_format(f.msgs, f.n_msgs, 1, 0);
    const char *want =
        "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to "
        "assist with the user query.\n\nYou are provided with function signatures within "
        "<tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": "
        "\"get_weather\", \"description\": \"Weather\", \"parameters\": {\"type\": \"object\", "
        "\"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
        "</tools>\n\nFor each function call, return a json object with function name and "
        "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
        "<function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
        "<|im_start|>user\nWeather in Oslo?<|im_end|>\n"
        "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
        "{\"city\": \"Oslo\"}}\n</tool_call><|im_end|>\n"
        "<|im_start|>user\n<tool_response>\n22 C\n</tool_response>\n<tool_response>\nsunny\n"
        "</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n";
    assert_string_equal(text, want);
    free(text);
    /* the markers are template text, what came from the client is plain text */
    const struct chatml_msg *sys = &f.msgs[0];
    for (size_t i = 0; i < sys->n_parts; i++)
        if (strstr(sys->parts[i].text, "get_weather")) assert_false(sys->parts[i].tmpl);
    const struct chatml_msg *tr = &f.msgs[3];
    assert_string_equal(tr->role, "user");
    assert_int_equal(tr->n_parts, 6);
    assert_true(tr->parts[0].tmpl);
    assert_false(tr->parts[1].tmpl);
    toolfmt_free(&f);

    /* tool_choice none: no tools in the prompt, no parsing */
    json_t *none = json_string("none");
    req.tool_choice = none;
    assert_int_equal(toolfmt_prepare(&req, &f, err, sizeof err), 0);
    assert_int_equal(f.mode, TOOLFMT_TEXT);
    text = chatml_format(f.msgs, f.n_msgs, 1, 0);
    assert_null(strstr(text, "<tools>"));
    free(text);
    toolfmt_free(&f);

    /* required: a grammar and the reply opened with <tool_call> */
    json_t *req_choice = json_string("required");
    req.tool_choice = req_choice;
    assert_int_equal(toolfmt_prepare(&req, &f, err, sizeof err), 0);
    assert_int_equal(f.mode, TOOLFMT_FORCED);
    assert_non_null(f.grammar);
    assert_string_equal(f.prefill, "<tool_call>\n");
    grammar_state_t *gs;
    grammar_state_create(f.grammar, &gs);
    const char *call = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}";
    assert_int_equal(grammar_accept_bytes(gs, call, strlen(call)), 0);
    assert_true(grammar_can_end(gs));
    grammar_state_free(gs);
    grammar_state_create(f.grammar, &gs);
    const char *wrong = "{\"name\": \"get_time\"";
    assert_int_equal(grammar_accept_bytes(gs, wrong, strlen(wrong)), RAGD_EINVAL);
    grammar_state_free(gs);
    toolfmt_free(&f);

    /* refusals */
    json_t *named = json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name", "nope");
    req.tool_choice = named;
    assert_int_equal(toolfmt_prepare(&req, &f, err, sizeof err), RAGD_ENOTSUP);
    assert_non_null(strstr(err, "nope"));
    req.tools = NULL;
    req.tool_choice = req_choice;
    assert_int_equal(toolfmt_prepare(&req, &f, err, sizeof err), RAGD_ENOTSUP);
    req.tool_choice = NULL;
    json_t *rf = json_loads("{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", "
                            "\"schema\": {\"type\": \"string\", \"pattern\": \"a\"}}}",
                            0, NULL);
    req.response_format = rf;
    assert_int_equal(toolfmt_prepare(&req, &f, err, sizeof err), RAGD_ENOTSUP);
    assert_non_null(strstr(err, "'pattern'"));
    json_decref(rf);
    json_decref(named);
    json_decref(req_choice);
    json_decref(none);
    json_decref(calls);
    json_decref(tools);
}

static void test_parse(void **state)
{
    (void)state;
    struct toolfmt f = {.mode = TOOLFMT_AUTO};
    struct prov_result res = {0};
    res.text = strdup("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                      "{\"city\": \"Oslo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
                      "\"arguments\": {\"tz\": \"CET\"}}\n</tool_call>");
    toolfmt_finish(&f, &res);
    assert_string_equal(res.text, "Let me check.");
    assert_int_equal(res.n_tool_calls, 2);
    assert_string_equal(res.tool_calls[0].name, "get_weather");
    assert_string_equal(res.tool_calls[0].arguments, "{\"city\":\"Oslo\"}");
    assert_string_equal(res.tool_calls[1].name, "get_time");
    assert_memory_equal(res.tool_calls[0].id, "call_", 5);
    assert_int_equal(strlen(res.tool_calls[0].id), 29);
    assert_string_not_equal(res.tool_calls[0].id, res.tool_calls[1].id);
    prov_result_free(&res);

    /* a block that is not a call stays text */
    res = (struct prov_result){0};
    res.text = strdup("Hmm <tool_call> not json </tool_call>");
    toolfmt_finish(&f, &res);
    assert_int_equal(res.n_tool_calls, 0);
    assert_string_equal(res.text, "Hmm <tool_call> not json </tool_call>");
    prov_result_free(&res);

    /* a forced call: the reply is the call's JSON */
    f.mode = TOOLFMT_FORCED;
    res = (struct prov_result){0};
    res.text = strdup("{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}");
    toolfmt_finish(&f, &res);
    assert_int_equal(res.n_tool_calls, 1);
    assert_string_equal(res.text, "");
    assert_string_equal(res.tool_calls[0].arguments, "{\"tz\":\"UTC\"}");
    prov_result_free(&res);

    /* plain text and structured output are left alone */
    f.mode = TOOLFMT_JSON;
    res = (struct prov_result){0};
    res.text = strdup("{\"name\": \"x\"}");
    toolfmt_finish(&f, &res);
    assert_int_equal(res.n_tool_calls, 0);
    prov_result_free(&res);
}

static void test_visible(void **state)
{
    (void)state;
    const char *t = "Sure <tool_call>\n{";
    assert_int_equal(toolfmt_visible(TOOLFMT_AUTO, t, strlen(t)), 5);
    assert_int_equal(toolfmt_visible(TOOLFMT_AUTO, "Sure <tool", 10), 5);
    assert_int_equal(toolfmt_visible(TOOLFMT_AUTO, "Sure <", 6), 5);
    assert_int_equal(toolfmt_visible(TOOLFMT_AUTO, "a < b", 5), 5);
    assert_int_equal(toolfmt_visible(TOOLFMT_FORCED, "{\"a\"", 4), 0);
    assert_int_equal(toolfmt_visible(TOOLFMT_TEXT, "Sure <tool", 10), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_visible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
