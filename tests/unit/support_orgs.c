/* Organization roles and what each may do, who may give which role, settings validation, and
 * widget origins and credentials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "support/orgs.h"
#include "support/widget.h"

static void role_table(void **state)
{
    (void)state;
    static const char *const all[] = {"owner", "admin", "agent", "member"};
    for (int i = 0; i < 4; i++) {
        assert_true(orgs_role_valid(all[i]));
        assert_true(orgs_role_allows(all[i], "org.read"));
    }
    assert_false(orgs_role_valid("super_admin"));
    assert_false(orgs_role_valid(NULL));
    static const char *const managed[] = {"org.settings", "members.invite", "members.remove",
                                          "members.roles", "widget_keys.manage"};
    for (size_t p = 0; p < sizeof managed / sizeof managed[0]; p++) {
        assert_true(orgs_role_allows("owner", managed[p]));
        assert_true(orgs_role_allows("admin", managed[p]));
        assert_false(orgs_role_allows("agent", managed[p]));
        assert_false(orgs_role_allows("member", managed[p]));
    }
    assert_true(orgs_role_allows("agent", "tickets.read"));
    assert_false(orgs_role_allows("member", "tickets.read"));
    assert_false(orgs_role_allows("owner", "no.such.permission"));
    assert_false(orgs_role_allows("guest", "org.read"));
}

static void assignment(void **state)
{
    (void)state;
    assert_true(orgs_may_assign("owner", "owner", "member"));
    assert_true(orgs_may_assign("owner", NULL, "owner"));
    assert_true(orgs_may_assign("admin", NULL, "agent"));
    assert_true(orgs_may_assign("admin", "member", "agent"));
    assert_true(orgs_may_assign("admin", "agent", NULL)); /* removal */
    assert_false(orgs_may_assign("admin", NULL, "admin"));
    assert_false(orgs_may_assign("admin", NULL, "owner"));
    assert_false(orgs_may_assign("admin", "owner", NULL));
    assert_false(orgs_may_assign("admin", "admin", "member"));
    assert_false(orgs_may_assign("agent", "member", "member"));
    assert_false(orgs_may_assign("member", NULL, "member"));
}

static int check(const char *json, const char **field)
{
    json_error_t je;
    json_t *s = json_loads(json, 0, &je);
    assert_non_null(s);
    char err[256];
    *field = NULL;
    int rc = orgs_settings_check(s, orgs_plan("free"), field, err, sizeof err);
    json_decref(s);
    return rc;
}

static void settings(void **state)
{
    (void)state;
    const char *f;
    json_t *def = orgs_default_settings(orgs_plan("free"));
    char err[256];
    assert_int_equal(orgs_settings_check(def, orgs_plan("free"), &f, err, sizeof err), 0);
    json_decref(def);
    assert_int_equal(check("{\"max_users\": 5, \"features_enabled\": [\"chat\"]}", &f), 0);
    assert_int_not_equal(check("{\"max_users\": 6}", &f), 0); /* the free plan's cap */
    assert_string_equal(f, "settings.max_users");
    assert_int_not_equal(check("{\"max_users\": 0}", &f), 0);
    assert_int_not_equal(check("{\"features_enabled\": [\"teleport\"]}", &f), 0);
    assert_int_not_equal(check("{\"features_enabled\": \"chat\"}", &f), 0);
    assert_int_equal(check("{\"widget\": {\"primary_color\": \"#abc\", \"text_color\": "
                           "\"#A0B1C2\", \"position\": \"bottom-left\"}}",
                           &f),
                     0);
    assert_int_not_equal(check("{\"widget\": {\"primary_color\": \"red\"}}", &f), 0);
    assert_int_not_equal(check("{\"widget\": {\"primary_color\": \"#12345g\"}}", &f), 0);
    assert_int_not_equal(check("{\"widget\": {\"position\": \"top\"}}", &f), 0);
    assert_int_not_equal(check("{\"widget\": {\"html\": \"<b>\"}}", &f), 0);
    assert_int_not_equal(check("{\"widget\": {\"sessions_per_minute\": 31}}", &f), 0);
    assert_int_not_equal(check("{\"colour\": 1}", &f), 0);
    assert_string_equal(f, "settings");
}

static void plans(void **state)
{
    (void)state;
    assert_non_null(orgs_plan("free"));
    assert_non_null(orgs_plan("pro"));
    assert_non_null(orgs_plan("enterprise"));
    assert_null(orgs_plan("platinum"));
    assert_true(orgs_plan("pro")->max_users > orgs_plan("free")->max_users);
    assert_true(orgs_plan("enterprise")->widget_messages_per_day >
                orgs_plan("pro")->widget_messages_per_day);
}

static void origins_and_credentials(void **state)
{
    (void)state;
    assert_true(widget_origin_valid("https://shop.example.com"));
    assert_true(widget_origin_valid("http://127.0.0.1:8080"));
    assert_false(widget_origin_valid("https://shop.example.com/"));
    assert_false(widget_origin_valid("https://Shop.example.com"));
    assert_false(widget_origin_valid("ftp://example.com"));
    assert_false(widget_origin_valid("https://"));
    assert_false(widget_origin_valid("https://a.com:"));
    assert_false(widget_origin_valid("https://a.com:80:81"));
    assert_false(widget_origin_valid("https://a.com:8x"));
    assert_false(widget_origin_valid("https://a b.com"));
    assert_false(widget_origin_valid("*"));
    assert_true(widget_credential("pk_abc"));
    assert_true(widget_credential("sk_abc"));
    assert_true(widget_credential("wst_abc"));
    assert_false(widget_credential("rgd_abc"));
    assert_false(widget_credential("eyJhbGciOi"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(role_table),
        cmocka_unit_test(assignment),
        cmocka_unit_test(settings),
        cmocka_unit_test(plans),
        cmocka_unit_test(origins_and_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
