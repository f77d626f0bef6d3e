/* knowledge/queue.c: the local ingestion queue takes uploaders in turn. The test includes
 * the file to reach its lanes directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/queue.c"

static int setup(void **state)
{
    (void)state;
    pthread_mutex_init(&kn()->lane_lock, NULL);
    return 0;
}

static void expect_pop(const char *want)
{
    char *id = fair_pop();
    if (!want) {
        assert_null(id);
        return;
    }
    assert_non_null(id);
    assert_string_equal(id, want);
    free(id);
}

static void test_round_robin(void **state)
{
    (void)state;
    /* A queues five documents before B and C queue one each. */
    for (int i = 1; i <= 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "a%d", i);
        fair_push("A", id);
    }
    fair_push("B", "b1");
    fair_push("C", "c1");
    expect_pop("a1");
    expect_pop("b1");
    expect_pop("c1");
    expect_pop("a2");
    fair_push("B", "b2"); /* B comes back right after A's turn */
    expect_pop("b2");
    expect_pop("a3");
    expect_pop("a4");
    expect_pop("a5");
    expect_pop(NULL);
    assert_int_equal(kn()->nlanes, 0);
}

static void test_one_lane_is_fifo_and_clear_frees(void **state)
{
    (void)state;
    fair_push("", "s1");
    fair_push("", "s2");
    fair_push("U", "u1");
    expect_pop("s1");
    expect_pop("u1");
    expect_pop("s2");
    fair_push("X", "x1");
    fair_push("Y", "y1");
    fair_clear(); /* frees what is queued (the sanitizer build checks for leaks) */
    expect_pop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_one_lane_is_fifo_and_clear_frees),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
