/* The mail module without a server: disabled without SMTP_HOST, header fields that could
 * inject lines refused, messages composed with CRLF line ends and the configured sender. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "ops/mail.c"

static void test_disabled_without_host(void **state)
{
    (void)state;
    char err[128];
    config_reset();
    unsetenv("SMTP_HOST");
    assert_int_equal(mail_init(err, sizeof err), 0);
    assert_int_equal(mail_enabled(), 0);
    assert_int_equal(mail_send("a@example.com", "Hi", "body"), RAGD_EINVAL);
}

static void test_bad_port(void **state)
{
    (void)state;
    char err[128] = "";
    config_reset();
    setenv("SMTP_HOST", "127.0.0.1", 1);
    setenv("SMTP_PORT", "70000", 1);
    assert_int_equal(mail_init(err, sizeof err), RAGD_EINVAL);
    assert_non_null(strstr(err, "SMTP_PORT"));
    unsetenv("SMTP_PORT");
}

static void test_header_injection_refused(void **state)
{
    (void)state;
    char err[128];
    config_reset();
    setenv("SMTP_HOST", "127.0.0.1", 1);
    setenv("SMTP_PORT", "465", 1);
    setenv("SMTP_FROM", "bot@ragd.test", 1);
    assert_int_equal(mail_init(err, sizeof err), 0);
    assert_int_equal(mail_enabled(), 1);
    assert_string_equal(cfg.url, "smtps://127.0.0.1:465");
    assert_int_equal(mail_send("a@example.com\r\nBcc: b@example.com", "Hi", "x"), RAGD_EINVAL);
    assert_int_equal(mail_send("a@example.com", "Hi\nBcc: b@example.com", "x"), RAGD_EINVAL);
    assert_int_equal(mail_send("a@example.com>", "Hi", "x"), RAGD_EINVAL);
    assert_int_equal(mail_send("", "Hi", "x"), RAGD_EINVAL);
    assert_int_equal(mail_send("a@example.com", "Hi", NULL), RAGD_EINVAL);
    unsetenv("SMTP_PORT");
    unsetenv("SMTP_FROM");
}

static void test_compose_crlf(void **state)
{
    (void)state;
    struct message *m = xcalloc(1, sizeof *m);
    m->to = xstrdup("a@example.com");
    m->subject = xstrdup("Code");
    compose(m, "line one\nline two\r\n.dot\n");
    assert_int_equal(m->len, strlen(m->data));
    assert_non_null(strstr(m->data, "From: <bot@ragd.test>\r\n"));
    assert_non_null(strstr(m->data, "To: <a@example.com>\r\nSubject: Code\r\n"));
    assert_non_null(strstr(m->data, "\r\n\r\nline one\r\nline two\r\n.dot\r\n"));
    for (const char *p = m->data; (p = strchr(p, '\n')); p++)
        assert_true(p > m->data && p[-1] == '\r');
    message_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_without_host),
        cmocka_unit_test(test_bad_port),
        cmocka_unit_test(test_header_injection_refused),
        cmocka_unit_test(test_compose_crlf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
