/* Notifications: the webhook signature against a vector computed by another tool, backoff,
 * routing filters, URL checks and redaction, settings validation, and the outbox's routing,
 * claims (one node per delivery), retries and pruning on a real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "ops/notify.h"
#include "store/outbox.h"
#include "store/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_outbox_register();
    return store_migrate();
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

/* printf '1700000000.{"id":"e1","text":"hi"}' | openssl dgst -sha256 -hmac whsec_test */
static void test_signature(void **state)
{
    (void)state;
    const char *body = "{\"id\":\"e1\",\"text\":\"hi\"}";
    char sig[72];
    assert_int_equal(notify_webhook_sign("whsec_test", "1700000000", body, strlen(body), sig), 0);
    assert_string_equal(sig,
                        "sha256=b4707ed14ef52dc5a3dcb6ee45ac371e6b5e326aa17f267bb1806530b80ecf72");
    /* The timestamp is part of what is signed: a replay with a new timestamp fails. */
    char other[72];
    assert_int_equal(notify_webhook_sign("whsec_test", "1700000001", body, strlen(body), other), 0);
    assert_string_not_equal(sig, other);
    assert_int_equal(notify_webhook_sign("", "1700000000", body, strlen(body), sig), RAGD_EINVAL);
    assert_int_equal(notify_webhook_sign(NULL, "1700000000", body, strlen(body), sig), RAGD_EINVAL);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(notify_backoff_ms(1, 30000, 3600000), 30000);
    assert_int_equal(notify_backoff_ms(2, 30000, 3600000), 60000);
    assert_int_equal(notify_backoff_ms(3, 30000, 3600000), 120000);
    assert_int_equal(notify_backoff_ms(8, 30000, 3600000), 3600000);
    assert_int_equal(notify_backoff_ms(1000000, 30000, 3600000), 3600000); /* no overflow */
    assert_int_equal(notify_backoff_ms(0, 500, 1000), 500);
}

static void test_event_table(void **state)
{
    (void)state;
    assert_string_equal(notify_urgency(NOTIFY_KEY_FAILED), "low");
    assert_string_equal(notify_urgency(NOTIFY_FAILOVER), "medium");
    assert_string_equal(notify_urgency(NOTIFY_ALL_KEYS_FAILED), "high");
    assert_null(notify_urgency("nope"));
    assert_null(notify_urgency(NULL));
    int n = 0;
    while (notify_event_at(n))
        assert_non_null(notify_title(notify_event_at(n++)));
    assert_true(n >= 13);
    assert_int_equal(notify_emit(NULL, "nope", json_object()), RAGD_EINVAL);
}

static void test_wants(void **state)
{
    (void)state;
    struct notify_channel_conf ch = {.enabled = 1, .min_urgency = NOTIFY_MEDIUM, .all_events = 1};
    assert_false(notify_wants(&ch, NOTIFY_KEY_FAILED));
    assert_true(notify_wants(&ch, NOTIFY_FAILOVER));
    assert_true(notify_wants(&ch, NOTIFY_MAINTENANCE_ENTERED));
    assert_true(notify_wants(&ch, NOTIFY_TEST)); /* the test reaches every enabled channel */
    ch.all_events = 0;
    notify_conf_add_event(&ch, NOTIFY_KEY_DELETED);
    notify_conf_add_event(&ch, NOTIFY_KEY_FAILED);
    assert_true(notify_wants(&ch, NOTIFY_KEY_DELETED));
    assert_false(notify_wants(&ch, NOTIFY_KEY_FAILED));      /* listed, but below min_urgency */
    assert_false(notify_wants(&ch, NOTIFY_ALL_KEYS_FAILED)); /* not listed */
    ch.enabled = 0;
    assert_false(notify_wants(&ch, NOTIFY_KEY_DELETED));
    assert_false(notify_wants(&ch, NOTIFY_TEST));
    struct notify_conf c = {0};
    c.ch[0] = ch;
    notify_conf_free(&c);
}

static void test_urls(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(notify_url_check("https://hooks.slack.com/services/T/B/X", err, sizeof err),
                     0);
    assert_int_equal(notify_url_check("http://127.0.0.1:8080/hook?x=1", err, sizeof err), 0);
    const char *bad[] = {"ftp://h/x",    "javascript:alert(1)", "http://", "https:///path",
                         "https://a b/", "https://h/x#frag",    "//h/x",   "",
                         "https://h/\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(notify_url_check(bad[i], err, sizeof err), RAGD_EINVAL);
    char longurl[NOTIFY_URL_MAX + 32];
    snprintf(longurl, sizeof longurl, "https://h.example/%0*d", NOTIFY_URL_MAX, 0);
    assert_int_equal(notify_url_check(longurl, err, sizeof err), RAGD_EINVAL);

    char shown[300];
    notify_url_redact("https://user:pw@hooks.slack.com/services/T/B/SECRET?x=1", shown,
                      sizeof shown);
    assert_string_equal(shown, "https://hooks.slack.com/...");
    notify_url_redact("http://127.0.0.1:9000/p/SECRET", shown, sizeof shown);
    assert_string_equal(shown, "http://127.0.0.1:9000/...");
    notify_url_redact("not a url", shown, sizeof shown);
    assert_string_equal(shown, "(invalid URL)");

    char a[17], b[17];
    notify_target_id("https://a.example/1", a);
    notify_target_id("https://a.example/2", b);
    assert_int_equal(strlen(a), 16);
    assert_string_not_equal(a, b);
}

static void test_conf_check(void **state)
{
    (void)state;
    struct notify_conf c = {0};
    c.ch[NOTIFY_EMAIL] = (struct notify_channel_conf){.enabled = 1, .all_events = 1};
    c.ch[NOTIFY_WEBHOOK] = (struct notify_channel_conf){.enabled = 1, .all_events = 1};
    char field[96], err[256];
    notify_conf_add_target(&c.ch[NOTIFY_EMAIL], "ops@example.com");
    notify_conf_add_target(&c.ch[NOTIFY_WEBHOOK], "https://hooks.example.com/x");
    assert_int_equal(notify_conf_check(&c, field, sizeof field, err, sizeof err), 0);
    notify_conf_add_target(&c.ch[NOTIFY_WEBHOOK], "gopher://h/");
    assert_int_equal(notify_conf_check(&c, field, sizeof field, err, sizeof err), RAGD_EINVAL);
    assert_string_equal(field, "webhook.urls[1]");
    notify_conf_free(&c);
    c.ch[NOTIFY_EMAIL] = (struct notify_channel_conf){.enabled = 1, .all_events = 0};
    notify_conf_add_event(&c.ch[NOTIFY_EMAIL], NOTIFY_KEY_FAILED);
    notify_conf_add_event(&c.ch[NOTIFY_EMAIL], "bogus");
    assert_int_equal(notify_conf_check(&c, field, sizeof field, err, sizeof err), RAGD_EINVAL);
    assert_string_equal(field, "email.events[1]");
    notify_conf_free(&c);
    notify_conf_add_target(&c.ch[NOTIFY_EMAIL], "a@example.com");
    notify_conf_add_target(&c.ch[NOTIFY_EMAIL], "a@example.com");
    c.ch[NOTIFY_EMAIL].all_events = 1;
    assert_int_equal(notify_conf_check(&c, field, sizeof field, err, sizeof err), RAGD_EINVAL);
    assert_string_equal(field, "email.recipients[1]");
    notify_conf_free(&c);
}

/* Settings round trip, then one event through routing, two nodes claiming, a failure, a
 * retry, the mark and the pruning. */
static void test_outbox_flow(void **state)
{
    (void)state;
    struct notify_conf c;
    assert_int_equal(notify_conf_get(&c), 0);
    assert_int_equal(c.ch[NOTIFY_EMAIL].min_urgency, NOTIFY_LOW); /* the seed's defaults */
    assert_int_equal(c.ch[NOTIFY_WEBHOOK].min_urgency, NOTIFY_MEDIUM);
    assert_int_equal(c.ch[NOTIFY_EMAIL].n_targets, 0);
    notify_conf_add_target(&c.ch[NOTIFY_EMAIL], "ops@example.com");
    notify_conf_add_target(&c.ch[NOTIFY_WEBHOOK], "https://hooks.example.com/x");
    char field[96], err[256];
    assert_int_equal(notify_conf_put(&c, "u1", field, sizeof field, err, sizeof err), 0);
    notify_conf_free(&c);
    assert_int_equal(notify_conf_get(&c), 0);
    assert_string_equal(c.ch[NOTIFY_WEBHOOK].targets[0], "https://hooks.example.com/x");
    assert_string_equal(c.updated_by, "u1");

    /* key_failed is low: e-mail only; failover: both. */
    assert_int_equal(notify_emit(NULL, NOTIFY_KEY_FAILED, json_pack("{s:s}", "key", "...abcd")), 0);
    assert_int_equal(notify_emit(NULL, NOTIFY_FAILOVER, NULL), 0);
    struct outbox_event *ev;
    int n;
    assert_int_equal(store_outbox_unrouted(10, &ev, &n), 0);
    assert_int_equal(n, 2);
    int64_t now = time_now_ms();
    for (int i = 0; i < n; i++) {
        struct outbox_target t[4];
        int k = 0;
        for (int ch = 0; ch < NOTIFY_CHANNELS; ch++)
            if (notify_wants(&c.ch[ch], ev[i].event))
                t[k++] = (struct outbox_target){notify_channel_name(ch), c.ch[ch].targets[0]};
        assert_int_equal(store_outbox_route(ev[i].id, t, k, now), 0);
        assert_int_equal(store_outbox_route(ev[i].id, t, k, now), 0); /* twice: no repeat */
    }
    store_outbox_events_free(ev, n);
    notify_conf_free(&c);
    assert_int_equal(store_outbox_unrouted(10, &ev, &n), 0);
    assert_int_equal(n, 0);
    store_outbox_events_free(ev, n);
    struct outbox_counts oc;
    assert_int_equal(store_outbox_counts(&oc), 0);
    assert_int_equal(oc.pending, 3);

    /* Node A and node B claim (each claim under a token of its own): each gets a different
     * delivery, the fourth claim nothing. */
    struct outbox_delivery d[3], none;
    assert_int_equal(store_outbox_claim("A1", now, now + 60000, &d[0]), 0);
    assert_int_equal(store_outbox_claim("B1", now, now + 60000, &d[1]), 0);
    assert_int_equal(store_outbox_claim("B2", now, now + 60000, &d[2]), 0);
    assert_int_equal(store_outbox_claim("A2", now, now + 60000, &none), RAGD_ENOTFOUND);
    assert_string_not_equal(d[0].id, d[1].id);
    assert_string_not_equal(d[1].id, d[2].id);
    assert_string_not_equal(d[0].id, d[2].id);
    /* A delivery is settled only under its own claim. */
    assert_int_equal(store_outbox_delivered(d[1].id, "A1", now), 0);
    assert_int_equal(store_outbox_counts(&oc), 0);
    assert_int_equal(oc.delivered, 0);
    assert_int_equal(store_outbox_delivered(d[1].id, "B1", now), 0);
    assert_int_equal(store_outbox_delivered(d[2].id, "B2", now), 0);
    /* A's delivery fails: due again later, claimable then, not before. */
    assert_int_equal(store_outbox_failed(d[0].id, "A1", "HTTP 500", now + 5000), 0);
    assert_int_equal(store_outbox_claim("B3", now + 4999, now + 70000, &none), RAGD_ENOTFOUND);
    struct outbox_delivery again;
    assert_int_equal(store_outbox_claim("B4", now + 5000, now + 70000, &again), 0);
    assert_string_equal(again.id, d[0].id);
    assert_int_equal(again.attempts, 1);
    /* An expired claim can be taken over by another node; the first one has lost it. */
    struct outbox_delivery taken;
    assert_int_equal(store_outbox_claim("A3", now + 70001, now + 140000, &taken), 0);
    assert_string_equal(taken.id, d[0].id);
    assert_int_equal(store_outbox_delivered(taken.id, "B4", now), 0); /* lost: no effect */
    assert_int_equal(store_outbox_counts(&oc), 0);
    assert_int_equal(oc.delivered, 2);
    assert_int_equal(store_outbox_delivered(taken.id, "A3", now + 70002), 0);
    assert_int_equal(store_outbox_counts(&oc), 0);
    assert_int_equal(oc.pending, 0);
    assert_int_equal(oc.delivered, 3);
    for (int i = 0; i < 3; i++)
        store_outbox_delivery_clear(&d[i]);
    store_outbox_delivery_clear(&again);
    store_outbox_delivery_clear(&taken);

    /* A repeat: same name and details as an event routed since then; not for another. */
    char a[37], b[37], twin[37];
    assert_int_equal(store_outbox_add(NULL, "key_failed", "low", "{\"key\":\"x\"}", a), 0);
    assert_int_equal(store_outbox_add(NULL, "key_failed", "low", "{\"key\":\"x\"}", b), 0);
    assert_int_equal(store_outbox_twin(a, "key_failed", "{\"key\":\"x\"}", now - 1000, twin),
                     RAGD_ENOTFOUND); /* b is not routed yet */
    assert_int_equal(store_outbox_route(a, NULL, 0, now), 0);
    assert_int_equal(store_outbox_twin(b, "key_failed", "{\"key\":\"x\"}", now - 1000, twin), 0);
    assert_string_equal(twin, a);
    assert_int_equal(store_outbox_twin(b, "key_failed", "{\"key\":\"y\"}", now - 1000, twin),
                     RAGD_ENOTFOUND);
    assert_int_equal(store_outbox_twin(b, "key_failed", "{\"key\":\"x\"}", now + 1, twin),
                     RAGD_ENOTFOUND); /* outside the window */
    assert_int_equal(store_outbox_suppress(b, a, now), 0);
    assert_int_equal(store_outbox_counts(&oc), 0);
    assert_int_equal(oc.suppressed, 1);
    assert_int_equal(oc.unrouted, 0);

    /* Pruning: nothing before the retention, everything after it. */
    int64_t deleted = -1;
    assert_int_equal(store_outbox_prune(now - 1, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(store_outbox_prune(now + 80000, &deleted), 0);
    assert_int_equal(deleted, 3);
    int64_t events = -1;
    assert_int_equal(
        db_query_int(db_conn(), &events, "SELECT COUNT(*) FROM notification_outbox", ""), 0);
    assert_int_equal(events, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature),   cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_event_table), cmocka_unit_test(test_wants),
        cmocka_unit_test(test_urls),        cmocka_unit_test(test_conf_check),
        cmocka_unit_test(test_outbox_flow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
