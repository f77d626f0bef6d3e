/* The provider key pool's attempt records on a real SQLite file: a failure streak, the
 * threshold that degrades a key, and successes written after the fact (the router queues
 * them and writes them in batches) that must not end a streak recorded after them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/outbox.h"
#include "store/provider_keys.h"
#include "store/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_outbox_register();
    store_pkeys_register();
    return store_migrate();
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

static void add_key(const char *id, const char *fingerprint)
{
    struct store_pkey k;
    memset(&k, 0, sizeof k);
    snprintf(k.id, sizeof k.id, "%s", id);
    snprintf(k.provider, sizeof k.provider, "openai");
    snprintf(k.feature, sizeof k.feature, "*");
    snprintf(k.status, sizeof k.status, "active");
    snprintf(k.nonce, sizeof k.nonce, "n");
    snprintf(k.tag, sizeof k.tag, "t");
    snprintf(k.last4, sizeof k.last4, "abcd");
    k.base_url = "http://127.0.0.1:1";
    k.model = "m";
    k.label = "";
    k.ciphertext = "c";
    k.created_by = "admin";
    k.priority = 1;
    assert_int_equal(store_pkey_insert(&k, fingerprint, NULL), 0);
}

static struct store_pkey_attempt attempt(const char *id, enum store_pkey_outcome o, int64_t at)
{
    return (struct store_pkey_attempt){.key_id = id,
                                       .provider = "openai",
                                       .feature = "chat",
                                       .label = "",
                                       .outcome = o,
                                       .error_kind = o == PKEY_OK ? NULL : "http_500",
                                       .latency_ms = 5,
                                       .threshold = 3,
                                       .pooled = 1,
                                       .at_ms = at};
}

static struct store_pkey get(const char *id)
{
    struct store_pkey k;
    assert_int_equal(store_pkey_get(id, &k), 0);
    return k;
}

static void test_late_success_keeps_a_later_streak(void **state)
{
    (void)state;
    add_key("k1", "fp1");
    int64_t before = time_now_ms() - 1000;
    struct store_pkey_attempt ok = attempt("k1", PKEY_OK, before);
    struct store_pkey_attempt fail = attempt("k1", PKEY_ERROR, 0);
    char status[12];

    /* Two failures (written at once), then a success from before them reaches the store. */
    assert_int_equal(store_pkey_record(&fail, status, NULL), 0);
    assert_int_equal(store_pkey_record(&fail, status, NULL), 0);
    assert_string_equal(status, "active");
    assert_int_equal(store_pkey_record_successes(&ok, 1), 0);
    struct store_pkey k = get("k1");
    assert_int_equal(k.failure_count, 2);
    assert_int_equal(k.success_total, 1);
    assert_int_equal(k.failure_total, 2);
    int64_t last = k.last_used_ms;
    assert_true(last > before);
    store_pkey_clear(&k);

    /* The third failure reaches the threshold: the streak was kept, so the key degrades. */
    assert_int_equal(store_pkey_record(&fail, status, NULL), 0);
    assert_string_equal(status, "degraded");
    k = get("k1");
    assert_int_equal(k.failure_count, 3);
    store_pkey_clear(&k);
}

static void test_newer_success_ends_the_streak(void **state)
{
    (void)state;
    add_key("k2", "fp2");
    struct store_pkey_attempt fail = attempt("k2", PKEY_ERROR, 0);
    assert_int_equal(store_pkey_record(&fail, NULL, NULL), 0);
    struct store_pkey k = get("k2");
    int64_t failed_at = k.last_used_ms;
    assert_int_equal(k.failure_count, 1);
    store_pkey_clear(&k);

    struct store_pkey_attempt ok[2] = {attempt("k2", PKEY_OK, failed_at + 5),
                                       attempt("k2", PKEY_OK, failed_at + 9)};
    assert_int_equal(store_pkey_record_successes(ok, 2), 0);
    k = get("k2");
    assert_int_equal(k.failure_count, 0);
    assert_int_equal(k.success_total, 2);
    assert_int_equal(k.last_used_ms, failed_at + 9);
    store_pkey_clear(&k);

    /* A success older than the last one moves nothing back. */
    struct store_pkey_attempt old = attempt("k2", PKEY_OK, failed_at + 1);
    assert_int_equal(store_pkey_record_successes(&old, 1), 0);
    k = get("k2");
    assert_int_equal(k.success_total, 3);
    assert_int_equal(k.last_used_ms, failed_at + 9);
    store_pkey_clear(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_late_success_keeps_a_later_streak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_success_ends_the_streak, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
