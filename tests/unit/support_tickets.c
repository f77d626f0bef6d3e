/* Escalation settings (defaults, validation, reading), requests for a person, keyword
 * matching, the status transitions and the SLA figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "support/tickets.c"

static int check(const char *esc, const char *sla, const char **field)
{
    json_error_t je;
    json_t *e = esc ? json_loads(esc, 0, &je) : NULL, *s = sla ? json_loads(sla, 0, &je) : NULL;
    char err[256] = "";
    *field = NULL;
    int rc = tickets_settings_check(e, s, field, err, sizeof err);
    if (rc) assert_true(err[0] != '\0');
    json_decref(e);
    json_decref(s);
    return rc;
}

static void settings_validation(void **state)
{
    (void)state;
    const char *f;
    /* The defaults pass their own check. */
    json_t *e = tickets_default_escalation(), *s = tickets_default_sla();
    char err[256];
    assert_int_equal(tickets_settings_check(e, s, &f, err, sizeof err), 0);
    json_decref(e);
    json_decref(s);
    assert_int_equal(check("{}", "{}", &f), 0);
    assert_int_equal(check("{\"sentiment\": {\"threshold\": -1, \"consecutive\": 10}}", NULL, &f),
                     0);
    assert_int_not_equal(check("{\"sentiment\": {\"threshold\": -1.5}}", NULL, &f), 0);
    assert_string_equal(f, "settings.escalation.sentiment.threshold");
    assert_int_not_equal(check("{\"low_confidence\": {\"threshold\": -0.1}}", NULL, &f), 0);
    assert_int_not_equal(check("{\"not_helpful\": {\"count\": 11}}", NULL, &f), 0);
    assert_string_equal(f, "settings.escalation.not_helpful.count");
    assert_int_not_equal(check("{\"human_request\": {\"threshold\": 0.5}}", NULL, &f), 0);
    assert_int_not_equal(check("{\"keywords\": {\"words\": [\" refund\"]}}", NULL, &f), 0);
    assert_int_not_equal(check("{\"keywords\": {\"words\": [\"a%b\"]}}", NULL, &f), 0);
    assert_int_equal(check("{\"keywords\": {\"words\": [\"money back\", \"o'brien\"]}}", NULL, &f),
                     0);
    assert_int_not_equal(check("{\"enabled\": 1}", NULL, &f), 0);
    assert_int_not_equal(check(NULL, "{\"resolution_minutes\": {\"LOW\": 525601}}", &f), 0);
    assert_int_not_equal(check(NULL, "{\"first_response_minutes\": []}", &f), 0);
    assert_string_equal(f, "settings.sla.first_response_minutes");
}

static void rules_from_settings(void **state)
{
    (void)state;
    struct tickets_rules r;
    tickets_rules_of(NULL, &r);
    assert_true(r.enabled && r.round_robin && r.sentiment.on);
    assert_int_equal(r.sentiment.consecutive, 2);
    assert_int_equal(r.sentiment.priority, SENTIMENT_HIGH);
    assert_int_equal(r.first_response_min[SENTIMENT_URGENT], 30);
    assert_int_equal(r.resolution_min[SENTIMENT_LOW], 10080);
    struct store_org o = {0};
    o.settings = "{\"escalation\": {\"assignment\": \"unassigned\", \"sentiment\": {\"enabled\":"
                 " false, \"consecutive\": 3}, \"keywords\": {\"words\": [\"Money Back\"]}},"
                 " \"sla\": {\"first_response_minutes\": {\"HIGH\": 7}}}";
    tickets_rules_of(&o, &r);
    assert_false(r.round_robin);
    assert_false(r.sentiment.on);
    assert_int_equal(r.sentiment.consecutive, 3);
    assert_int_equal(r.keywords.n, 1);
    assert_string_equal(r.keywords.words[0], "money back");
    assert_int_equal(r.first_response_min[SENTIMENT_HIGH], 7);
    assert_int_equal(r.first_response_min[SENTIMENT_LOW], 1440);
}

static void text_rules(void **state)
{
    (void)state;
    assert_true(tickets_human_request("I want to talk to a human"));
    assert_true(tickets_human_request("Can I speak with a real person please?"));
    assert_true(tickets_human_request("please connect me to an agent"));
    assert_false(tickets_human_request("How do I reset the blender?"));
    assert_false(tickets_human_request("The person who delivered it was nice"));
    struct tickets_rules r;
    tickets_rules_of(NULL, &r);
    assert_string_equal(keyword_in(&r, "I want a REFUND now"), "refund");
    assert_null(keyword_in(&r, "Do you do refunds?"));
    assert_null(keyword_in(&r, "cancellation policy"));
    snprintf(r.keywords.words[0], 64, "money back");
    r.keywords.n = 1;
    assert_string_equal(keyword_in(&r, "I want my money-back guarantee"), "money back");
    assert_null(keyword_in(&r, "moneyback"));
}

static void transitions(void **state)
{
    (void)state;
    assert_true(tickets_transition_ok("open", "pending"));
    assert_true(tickets_transition_ok("pending", "resolved"));
    assert_true(tickets_transition_ok("resolved", "closed"));
    assert_true(tickets_transition_ok("closed", "open"));
    assert_true(tickets_transition_ok("open", "open"));
    assert_false(tickets_transition_ok("resolved", "pending"));
    assert_false(tickets_transition_ok("closed", "resolved"));
    assert_false(tickets_transition_ok("closed", "pending"));
    assert_false(tickets_transition_ok("open", "archived"));
}

static void sla(void **state)
{
    (void)state;
    struct tickets_rules r;
    tickets_rules_of(NULL, &r);
    struct store_ticket t = {0};
    snprintf(t.priority, sizeof t.priority, "URGENT");
    int64_t created = 1767225600000; /* 2026-01-01T00:00:00Z */
    time_iso(created, t.created_at);
    struct tickets_sla s;
    tickets_sla_of(&t, &r, created + 29 * 60000, &s);
    assert_int_equal(s.first_response_due_ms, created + 30 * 60000);
    assert_int_equal(s.resolution_due_ms, created + 240 * 60000);
    assert_false(s.first_response_breached);
    tickets_sla_of(&t, &r, created + 31 * 60000, &s);
    assert_true(s.first_response_breached);
    assert_false(s.resolution_breached);
    time_iso(created + 10 * 60000, t.first_response_at); /* answered in time */
    time_iso(created + 300 * 60000, t.resolved_at);      /* resolved late */
    tickets_sla_of(&t, &r, created + 1000 * 60000, &s);
    assert_false(s.first_response_breached);
    assert_true(s.resolution_breached);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settings_validation),
        cmocka_unit_test(rules_from_settings),
        cmocka_unit_test(text_rules),
        cmocka_unit_test(transitions),
        cmocka_unit_test(sla),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
