/* ops: maintenance levels by hand and automatically, feature flags and their rollout, and the
 * version rows that tell other nodes to reload, on a fresh SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "ops/features.h"
#include "ops/maintenance.h"
#include "ops/opsync.h"
#include "store/ops_state.h"
#include "store/outbox.h"
#include "store/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_outbox_register();
    store_ops_register();
    char err[256];
    return store_migrate() || ops_sync_init(err, sizeof err) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

static int64_t outbox_count(const char *event)
{
    int64_t n = -1;
    assert_int_equal(db_query_int(db_conn(), &n,
                                  "SELECT COUNT(*) FROM notification_outbox WHERE event = ?", "s",
                                  event),
                     0);
    return n;
}

static void test_manual_levels(void **state)
{
    (void)state;
    int64_t v0[OPS_PARTS], v1[OPS_PARTS];
    assert_int_equal(store_ops_versions(NULL, v0), 0);
    assert_int_equal(maint_level_now(), MAINT_NONE);
    struct maint_change ch = {.level = MAINT_SOFT, .reason = "upgrade"};
    int over = -1;
    assert_int_equal(maint_set(&ch, NULL, &over), 0);
    assert_int_equal(over, 0);
    assert_int_equal(maint_level_now(), MAINT_SOFT);
    struct maint_state m;
    maint_get(&m);
    assert_string_equal(m.reason, "upgrade");
    assert_true(m.message[0] != '\0'); /* the level's standard text */
    assert_int_equal(store_ops_versions(NULL, v1), 0);
    assert_int_equal(v1[OPS_PART_MAINTENANCE], v0[OPS_PART_MAINTENANCE] + 1);
    assert_int_equal(v1[OPS_PART_FEATURES], v0[OPS_PART_FEATURES]);
    assert_int_equal(outbox_count("maintenance_entered"), 1);
    ch = (struct maint_change){.level = MAINT_HARD, .reason = "x", .estimated_restoration = "soon"};
    assert_int_equal(maint_set(&ch, NULL, NULL), RAGD_EINVAL);
    assert_int_equal(maint_level_now(), MAINT_SOFT); /* refused: nothing changed */
    ch = (struct maint_change){.level = MAINT_NONE, .reason = "done"};
    assert_int_equal(maint_set(&ch, NULL, NULL), 0);
    assert_int_equal(maint_level_now(), MAINT_NONE);
    assert_int_equal(outbox_count("maintenance_exited"), 1);
}

static void test_automatic(void **state)
{
    (void)state;
    config_set("GENERATION_MODEL", "");
    maint_feature_availability("chat", 0);
    assert_int_equal(maint_level_now(), MAINT_HARD);
    assert_true(features_outage("chat"));
    struct maint_state m;
    maint_get(&m);
    assert_int_equal(m.automatic, 1);
    maint_feature_availability("chat", 1);
    assert_int_equal(maint_level_now(), MAINT_NONE);
    assert_false(features_outage("chat"));
    /* A non-critical feature: only the outage, under its flag's name. */
    maint_feature_availability("explain", 0);
    assert_int_equal(maint_level_now(), MAINT_NONE);
    assert_true(features_outage("explanations"));
    maint_feature_availability("explain", 1);
    assert_false(features_outage("explanations"));
    /* With a local engine configured, chat failing upstream is no reason for hard. */
    config_set("GENERATION_MODEL", "/models/tiny.gguf");
    maint_feature_availability("chat", 0);
    assert_int_equal(maint_level_now(), MAINT_NONE);
    maint_feature_availability("chat", 1);
    config_set("GENERATION_MODEL", "");
}

static void test_flags_and_rollout(void **state)
{
    (void)state;
    assert_int_equal(features_check("search", "u1"), FEATURE_OK);
    assert_int_equal(features_check("no_such_flag", NULL), FEATURE_OK);
    assert_int_equal(features_set("search", 0, 100, NULL, NULL), 0);
    assert_int_equal(features_check("search", "u1"), FEATURE_OFF);
    assert_int_equal(features_set("nope", 1, 100, NULL, NULL), RAGD_ENOTFOUND);
    assert_int_equal(features_set("search", 1, 101, NULL, NULL), RAGD_EINVAL);
    assert_int_equal(features_set("search", 1, 30, NULL, NULL), 0);
    int in = 0;
    char id[24];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "user-%d", i);
        int b = features_bucket("search", id);
        assert_true(b >= 0 && b < 100);
        assert_int_equal(b, features_bucket("search", id)); /* stable */
        enum features_why w = features_check("search", id);
        assert_int_equal(w, b < 30 ? FEATURE_OK : FEATURE_NOT_IN_ROLLOUT);
        in += w == FEATURE_OK;
    }
    assert_true(in > 220 && in < 380); /* about 30 % */
    assert_int_equal(features_check("search", NULL), FEATURE_NOT_IN_ROLLOUT);
    assert_string_equal(features_of_command("map"), "concept_maps");
    assert_null(features_of_command("search"));
    assert_int_equal(features_set("search", 1, 100, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manual_levels),
        cmocka_unit_test(test_automatic),
        cmocka_unit_test(test_flags_and_rollout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
