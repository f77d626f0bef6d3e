/* The guards' rendering of billing refusals: the error codes and labels of daily limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/guards.c"

static void test_feature_codes(void **state)
{
    (void)state;
    char code[64], label[64];
    static const char *const cases[][3] = {
        {"mcqs_per_day", "MCQ", "MCQ"},
        {"flashcards_per_day", "FLASHCARD", "flashcard"},
        {"pdf_uploads", "PDF_UPLOAD", "PDF upload"},
        {"daily_tokens", "TOKEN", "token"},
        {"daily_requests", "REQUEST", "request"},
        {"images_per_day", "IMAGE", "image"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        feature_code(cases[i][0], code, sizeof code);
        feature_label(code, label, sizeof label);
        assert_string_equal(code, cases[i][1]);
        assert_string_equal(label, cases[i][2]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
