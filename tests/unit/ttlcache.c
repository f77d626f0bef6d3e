/* core/ttlcache: hits, misses, expiry, generations, replacement, ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ttlcache.h"
#include "core/util.h"

static int freed;

static void count_free(void *v)
{
    freed++;
    free(v);
}

static int *boxed(int v)
{
    int *p = malloc(sizeof *p);
    *p = v;
    return p;
}

static void copy_int(const void *value, void *ud)
{
    *(int *)ud = *(const int *)value;
}

static void test_hit_and_miss(void **state)
{
    (void)state;
    ttlcache_t *c = ttlcache_create(64, count_free);
    int out = 0;
    assert_int_equal(ttlcache_get(c, "a", 0, copy_int, &out), 0);
    ttlcache_put(c, "a", 0, 60000, boxed(7));
    assert_int_equal(ttlcache_get(c, "a", 0, copy_int, &out), 1);
    assert_int_equal(out, 7);
    assert_int_equal(ttlcache_get(c, "b", 0, copy_int, &out), 0);
    int64_t hits, misses;
    ttlcache_stats(c, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 2);
    ttlcache_free(c);
}

static void test_expiry(void **state)
{
    (void)state;
    freed = 0;
    ttlcache_t *c = ttlcache_create(8, count_free);
    int out = 0;
    ttlcache_put(c, "k", 0, 1, boxed(1));
    usleep(5000);
    assert_int_equal(ttlcache_get(c, "k", 0, copy_int, &out), 0);
    assert_int_equal(freed, 1); /* the expired entry was dropped on lookup */
    /* The clock offset that tests use moves expiry too. */
    ttlcache_put(c, "k", 0, 60000, boxed(2));
    time_set_offset_ms(time_offset_ms() + 120000);
    assert_int_equal(ttlcache_get(c, "k", 0, copy_int, &out), 0);
    time_set_offset_ms(time_offset_ms() - 120000);
    ttlcache_free(c);
}

static void test_generation(void **state)
{
    (void)state;
    ttlcache_t *c = ttlcache_create(8, count_free);
    int out = 0;
    ttlcache_put(c, "k", 3, 60000, boxed(3));
    assert_int_equal(ttlcache_get(c, "k", 3, copy_int, &out), 1);
    assert_int_equal(ttlcache_get(c, "k", 4, copy_int, &out), 0);
    /* A stale entry is gone even for its own generation afterwards. */
    assert_int_equal(ttlcache_get(c, "k", 3, copy_int, &out), 0);
    ttlcache_free(c);
}

static void test_replacement_and_ownership(void **state)
{
    (void)state;
    freed = 0;
    /* One slot: every key collides, so a put replaces (and frees) the previous value. */
    ttlcache_t *c = ttlcache_create(1, count_free);
    int out = 0;
    ttlcache_put(c, "x", 0, 60000, boxed(1));
    ttlcache_put(c, "y", 0, 60000, boxed(2));
    assert_int_equal(freed, 1);
    assert_int_equal(ttlcache_get(c, "x", 0, copy_int, &out), 0);
    assert_int_equal(ttlcache_get(c, "y", 0, copy_int, &out), 1);
    assert_int_equal(out, 2);
    ttlcache_put(c, "y", 0, 60000, boxed(5)); /* same key: replaced */
    assert_int_equal(freed, 2);
    assert_int_equal(ttlcache_get(c, "y", 0, copy_int, &out), 1);
    assert_int_equal(out, 5);
    ttlcache_put(c, "z", 0, 0, boxed(9)); /* no TTL: released at once, slot untouched */
    assert_int_equal(freed, 3);
    assert_int_equal(ttlcache_get(c, "y", 0, copy_int, &out), 1);
    ttlcache_clear(c);
    assert_int_equal(freed, 4);
    assert_int_equal(ttlcache_get(c, "y", 0, copy_int, &out), 0);
    ttlcache_free(c);
    assert_int_equal(freed, 4);
}

static void test_long_keys(void **state)
{
    (void)state;
    ttlcache_t *c = ttlcache_create(4096, count_free);
    char key[TTLCACHE_KEY_MAX + 1];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "%064d", i);
        ttlcache_put(c, key, 0, 60000, boxed(i));
    }
    int found = 0, out = -1;
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "%064d", i);
        if (ttlcache_get(c, key, 0, copy_int, &out)) {
            assert_int_equal(out, i);
            found++;
        }
    }
    assert_true(found >= 150); /* direct-mapped: a few collide, most survive */
    ttlcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_miss), cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_generation),   cmocka_unit_test(test_replacement_and_ownership),
        cmocka_unit_test(test_long_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
