/* cache: the policy in cache.c over the in-process backend (get/set/NX, tombstones, the TTL
 * cap, prefix flush) and the backend's queues (FIFO order, timeouts, waking a waiter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/config.h"
#include "core/error.h"
#include "core/util.h"

static int setup(void **state)
{
    (void)state;
    char err[128];
    config_set("CACHE_MEMORY_TTL_SECONDS", "2");
    assert_int_equal(cache_open(NULL, 1, err, sizeof err), 0);
    cache_flush();
    return 0;
}

static char *get(const char *key)
{
    size_t len = 0;
    char *v = cache_get(key, &len);
    if (v) assert_int_equal(len, strlen(v));
    return v;
}

static void test_set_get_nx(void **state)
{
    (void)state;
    assert_int_equal(cache_shared(), 0);
    assert_null(get("session:a"));
    cache_set("session:a", "one", 3, 60);
    char *v = get("session:a");
    assert_string_equal(v, "one");
    free(v);
    /* A live key is never replaced: the first value stays. */
    cache_set("session:a", "two", 3, 60);
    v = get("session:a");
    assert_string_equal(v, "one");
    free(v);
}

static void test_two_step_read_needs_a_shared_backend(void **state)
{
    (void)state;
    /* The in-process backend has no exchange to ride on: nothing is queued, nothing read. */
    cache_set("session:q", "one", 3, 60);
    assert_int_equal(cache_get_start("session:q"), 0);
    size_t len = 7;
    assert_null(cache_get_finish(0, &len));
    assert_int_equal(len, 7);
    char *v = get("session:q");
    assert_string_equal(v, "one");
    free(v);
}

static void test_delete_leaves_tombstone(void **state)
{
    (void)state;
    cache_set("quota:u:messages", "5", 1, 60);
    cache_del("quota:u:messages");
    assert_null(get("quota:u:messages"));
    /* A reader that fetched the old value before the change cannot put it back. */
    cache_set("quota:u:messages", "5", 1, 60);
    assert_null(get("quota:u:messages"));
}

static void test_memory_ttl_cap(void **state)
{
    (void)state;
    cache_set("subscription:x", "pro", 3, 3600); /* capped to 2 s in process */
    char *v = get("subscription:x");
    assert_non_null(v);
    free(v);
    struct timespec ts = {2, 100000000};
    nanosleep(&ts, NULL);
    assert_null(get("subscription:x"));
}

static void test_flush_by_prefix(void **state)
{
    (void)state;
    cache_set("session:f", "1", 1, 60);
    cache_memory_ops.set("other:f", "1", 1, 60, 0);
    cache_flush();
    assert_null(get("session:f"));
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(cache_memory_ops.get("other:f", &v, &len), 0); /* not ours: kept */
    free(v);
}

static void test_queue_fifo_and_timeout(void **state)
{
    (void)state;
    char *v = NULL;
    assert_int_equal(cache_queue_push("task_queue:t", "a", NULL), 0);
    int64_t len = 0;
    assert_int_equal(cache_queue_push("task_queue:t", "b", &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(cache_queue_len("task_queue:t", &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(cache_queue_push("task_queue:other", "z", NULL), 0);
    assert_int_equal(cache_queue_pop("task_queue:t", 100, &v), 0);
    assert_string_equal(v, "a");
    free(v);
    assert_int_equal(cache_queue_pop("task_queue:t", 100, &v), 0);
    assert_string_equal(v, "b");
    free(v);
    int64_t t0 = time_mono_ns();
    assert_int_equal(cache_queue_pop("task_queue:t", 150, &v), RAGD_ENOTFOUND);
    assert_true(time_mono_ns() - t0 >= 140000000LL);
    assert_int_equal(cache_queue_pop("task_queue:other", 0, &v), 0); /* no wait */
    assert_string_equal(v, "z");
    free(v);
    t0 = time_mono_ns();
    assert_int_equal(cache_queue_pop("task_queue:other", 0, &v), RAGD_ENOTFOUND);
    assert_true(time_mono_ns() - t0 < 100000000LL);
    assert_int_equal(cache_queue_len("task_queue:other", &len), 0);
    assert_int_equal(len, 0);
}

static void *pusher(void *arg)
{
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    cache_queue_push("task_queue:w", (const char *)arg, NULL);
    return NULL;
}

static void test_queue_wakes_waiter(void **state)
{
    (void)state;
    pthread_t t;
    pthread_create(&t, NULL, pusher, "job-1");
    char *v = NULL;
    int64_t t0 = time_mono_ns();
    assert_int_equal(cache_queue_pop("task_queue:w", 5000, &v), 0);
    assert_true(time_mono_ns() - t0 < 4000000000LL); /* woken by the push, not the timeout */
    assert_string_equal(v, "job-1");
    free(v);
    pthread_join(t, NULL);
}

static void test_status(void **state)
{
    (void)state;
    struct cache_status st;
    cache_status(&st);
    assert_string_equal(st.backend, "memory");
    assert_int_equal(st.up, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_set_get_nx, setup),
        cmocka_unit_test_setup(test_two_step_read_needs_a_shared_backend, setup),
        cmocka_unit_test_setup(test_delete_leaves_tombstone, setup),
        cmocka_unit_test_setup(test_memory_ttl_cap, setup),
        cmocka_unit_test_setup(test_flush_by_prefix, setup),
        cmocka_unit_test_setup(test_queue_fifo_and_timeout, setup),
        cmocka_unit_test_setup(test_queue_wakes_waiter, setup),
        cmocka_unit_test_setup(test_status, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
