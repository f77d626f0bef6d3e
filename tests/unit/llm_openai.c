/* Unit tests for llm/openai's handling of upstream errors: what the log may keep of an
 * upstream's reply (the key and anything credential-like redacted, ordinary words kept), the
 * message callers get (ragd's words for the status, never the reply), and the base URL that
 * health shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "llm/openai.c"

static void check(const char *in, const char *secret, const char *want)
{
    char *out = redact(in, secret);
    assert_string_equal(out, want);
    free(out);
}

static void test_redact(void **state)
{
    (void)state;
    const char *key = "sk-live-Zx81hQ2mTT0p4Rk9Lw3eVb7N";
    check("Incorrect API key provided: sk-live-Zx81hQ2mTT0p4Rk9Lw3eVb7N.", key,
          "Incorrect API key provided: [redacted].");
    /* the key glued to other word characters; a partly masked one (a short tail is what
     * upstreams show anyway) */
    check("key=xsk-live-Zx81hQ2mTT0p4Rk9Lw3eVb7N_", key, "key=x[redacted]_");
    check("You passed sk-live-Zx81****eVb7N", key, "You passed [redacted]****eVb7N");
    /* other keys: prefixes, long letter-digit words, the word after Bearer */
    check("also sk-proj-abcd and AIzaSyA1b2 and ghp_0123456789", NULL,
          "also [redacted] and [redacted] and [redacted]");
    check("token 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 seen", NULL,
          "token [redacted] seen");
    check("Authorization: Bearer abc.def", NULL, "Authorization: Bearer [redacted].def");
    check("authorization: bearer short", NULL, "authorization: bearer [redacted]");
    /* ordinary words stay readable */
    check("{\"type\": \"invalid_request_error\", \"code\": \"invalid_api_key\", \"status\": 401}",
          key,
          "{\"type\": \"invalid_request_error\", \"code\": \"invalid_api_key\", \"status\": 401}");
    check("model gpt-4o-mini does not exist; rate limit 10000 tokens", NULL,
          "model gpt-4o-mini does not exist; rate limit 10000 tokens");
    check("", key, "");
    /* a secret too short to search for is not searched for (it would blank ordinary text) */
    check("abc abc", "abc", "abc abc");
}

static void test_upstream_error_message(void **state)
{
    (void)state;
    struct oa *o = oa_new("http://127.0.0.1:9/v1", "sk-live-Zx81hQ2mTT0p4Rk9Lw3eVb7N", "m", 5);
    struct sbuf body;
    sb_init(&body);
    sb_adds(&body, "{\"error\": \"Incorrect API key provided: sk-live-Zx81hQ2mTT0p4Rk9Lw3eVb7N\"}");
    const long statuses[] = {401, 403, 429, 404, 500, 503, 400};
    const char *want[] = {"rejected ragd's credentials",
                          "rejected ragd's credentials",
                          "rate limiting",
                          "does not know",
                          "failed",
                          "failed",
                          "refused"};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        char err[256];
        assert_int_equal(upstream_error(o, "chat", statuses[i], &body, err, sizeof err),
                         RAGD_EUNAVAIL);
        assert_non_null(strstr(err, want[i]));
        char code[32];
        snprintf(code, sizeof code, "HTTP %ld", statuses[i]);
        assert_non_null(strstr(err, code));
        assert_null(strstr(err, "sk-live"));
        assert_null(strstr(err, "Incorrect"));
    }
    sb_free(&body);
    oa_free(o);
}

static void test_health_base_url(void **state)
{
    (void)state;
    struct oa *o = oa_new("https://user:sk-live-Zx81hQ2mTT0p4Rk9Lw3eVb7N@api.example.com/v1/",
                          "sk-live-Zx81hQ2mTT0p4Rk9Lw3eVb7N", "m", 5);
    char *b = display_base(o);
    assert_string_equal(b, "https://api.example.com/v1");
    free(b);
    oa_free(o);
    o = oa_new("http://10.0.0.5:8080/openai/v1", NULL, "m", 5);
    b = display_base(o);
    assert_string_equal(b, "http://10.0.0.5:8080/openai/v1");
    free(b);
    oa_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_upstream_error_message),
        cmocka_unit_test(test_health_base_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
