/* Public generation API on a tiny random model: greedy chat is deterministic, streamed pieces
 * add up to the result, n_predict and stop strings end generation, context limits are errors;
 * the stop-string holdback logic is tested directly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/llm.c"
#include "engine/mktiny.h"

static char path[64];

struct collect {
    char buf[8192];
    size_t len;
    int calls, stop_after;
};

static int collect_cb(void *ud, const char *text, size_t len)
{
    struct collect *c = ud;
    assert_true(c->len + len < sizeof c->buf);
    memcpy(c->buf + c->len, text, len);
    c->len += len;
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after;
}

static void test_generate(void **state)
{
    (void)state;
    llm_model_t *m;
    char err[256] = "";
    if (llm_model_load(path, 2, &m, err, sizeof err))
        fail_msg("%s", err);
    assert_non_null(llm_model_tokenizer(m));
    llm_session_t *s;
    assert_int_equal(llm_session_create(m, 256, &s), 0);
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    gp.sampling.greedy = 1;
    gp.n_predict = 24;
    struct chatml_msg msg = {"user", "Hello there"};
    struct collect c1 = {0}, c2 = {0};
    struct llm_gen_result r1, r2;
    assert_int_equal(llm_chat(s, &msg, 1, 0, &gp, collect_cb, &c1, &r1), 0);
    assert_int_equal(llm_chat(s, &msg, 1, 0, &gp, collect_cb, &c2, &r2), 0);
    assert_true(r1.n_gen >= 1 && r1.n_gen <= 24);
    assert_true(r1.n_prompt > 5);
    assert_int_equal(r1.len, r2.len);
    assert_memory_equal(r1.text, r2.text, r1.len);
    assert_int_equal(c1.len, r1.len);           /* streamed pieces add up to the text */
    assert_memory_equal(c1.buf, r1.text, r1.len);
    if (r1.stop == LLM_STOP_LENGTH)
        assert_int_equal(r1.n_gen, 24);
    /* a stop string taken from the middle of the greedy output cuts it there */
    if (r1.len > 6) {
        char stop[4];
        memcpy(stop, r1.text + r1.len / 2, 3);
        stop[3] = 0;
        const char *stops[] = {stop};
        gp.stop = stops;
        gp.n_stop = 1;
        struct collect c3 = {0};
        struct llm_gen_result r3;
        assert_int_equal(llm_chat(s, &msg, 1, 0, &gp, collect_cb, &c3, &r3), 0);
        assert_int_equal(r3.stop, LLM_STOP_STRING);
        assert_null(strstr(r3.text, stop));
        assert_true(r3.len <= r1.len / 2);
        assert_memory_equal(r3.text, r1.text, r3.len);
        assert_int_equal(c3.len, r3.len);
        llm_gen_result_free(&r3);
        gp.n_stop = 0;
    }
    /* the callback can stop generation */
    struct collect c4 = {.stop_after = 1};
    struct llm_gen_result r4;
    gp.n_predict = -1;
    assert_int_equal(llm_chat(s, &msg, 1, 0, &gp, collect_cb, &c4, &r4), 0);
    if (r4.stop != LLM_STOP_EOS)
        assert_int_equal(r4.stop, LLM_STOP_CALLER);
    llm_gen_result_free(&r4);
    /* a prompt longer than the context is an error, nothing is evaluated */
    llm_session_reset(s);
    int32_t *many = calloc(300, sizeof *many);
    struct llm_gen_result r5;
    assert_int_equal(llm_generate(s, many, 300, &gp, NULL, NULL, &r5), RAGD_ERANGE);
    assert_int_equal(llm_session_n_past(s), 0);
    free(many);
    /* n_predict -1 runs to the end of the context at worst */
    llm_session_free(s);
    assert_int_equal(llm_session_create(m, 40, &s), 0);
    struct llm_gen_result r6;
    gp.sampling.greedy = 0;
    gp.sampling.temperature = 1.5f;
    assert_int_equal(llm_chat(s, &msg, 1, 1, &gp, NULL, NULL, &r6), 0);
    assert_true(r6.stop == LLM_STOP_CONTEXT || r6.stop == LLM_STOP_EOS);
    assert_true(llm_session_n_past(s) <= 40);
    llm_gen_result_free(&r6);
    llm_gen_result_free(&r1);
    llm_gen_result_free(&r2);
    llm_session_free(s);
    llm_model_free(m);
}

/* Text that could still become a stop string is held back, then released or cut. */
static void test_stop_holdback(void **state)
{
    (void)state;
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    const char *stops[] = {"END!", "xyz"};
    gp.stop = stops;
    gp.n_stop = 2;
    struct collect c = {0};
    struct out o = {.cb = collect_cb, .ud = &c, .gp = &gp, .max_stop = 4};
    out_put(&o, "", 0);
    out_put(&o, "hello EN", 8);
    assert_int_equal(out_check(&o, 0), 0);
    assert_int_equal(c.len, 6); /* "EN" held back */
    out_put(&o, "D? no", 5);
    assert_int_equal(out_check(&o, 0), 0);
    assert_int_equal(c.len, 13);
    out_put(&o, " ok E", 5);
    assert_int_equal(out_check(&o, 0), 0);
    out_put(&o, "ND!tail", 7);
    assert_int_equal(out_check(&o, 0), 1);
    assert_string_equal(o.p, "hello END? no ok ");
    assert_int_equal(c.len, strlen(o.p));
    assert_memory_equal(c.buf, o.p, c.len);
    free(o.p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/ragd-llm-test-%d.gguf", (int)getpid());
    struct mktiny_opts o = {.arch = "qwen3", .out = path, .type = GGML_TYPE_Q8_0, .seed = 11,
                            .shape = "tiny"};
    char err[256];
    return mktiny_write(&o, err, sizeof err) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_stop_holdback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
