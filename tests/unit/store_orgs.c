/* The support desk's tables against a real SQLite file: ownership kept, max_users counted in
 * the same transaction, invitations used once, widget keys and sessions by hash, messages in
 * order with agents' internal notes hidden, usage counters capped. */
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
#include "store/analytics.h"
#include "store/chat.h"
#include "store/knowledge.h"
#include "store/orgs.h"
#include "store/store.h"
#include "store/store_billing.h"
#include "store/tickets.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_orgs_register();
    store_tickets_register(); /* widget writes carry sentiment and cost (410-411) */
    /* and mark their day for the analytics summaries (430-432, whose indexes span the
     * knowledge, chat and billing tables too) */
    store_knowledge_register();
    store_chat_register();
    store_billing_register();
    store_analytics_register();
    return store_migrate() ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

static void new_user(const char *email, char id[37])
{
    struct user u = {0};
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.hashed_password, sizeof u.hashed_password, "x");
    snprintf(u.subscription_plan, sizeof u.subscription_plan, "free");
    assert_int_equal(store_user_create(&u), 0);
    memcpy(id, u.id, 37);
    store_user_clear(&u);
}

static void members_and_owners(void **state)
{
    (void)state;
    char owner[37], bob[37], carol[37], org[37], org2[37], role[16];
    new_user("owner@a.test", owner);
    new_user("bob@a.test", bob);
    new_user("carol@a.test", carol);
    assert_int_equal(store_org_create_owned("A", NULL, "free", "{}", owner, org), 0);
    assert_int_equal(store_org_create_owned("A2", NULL, "free", "{}", owner, org2), RAGD_ECONFLICT);
    assert_int_equal(store_org_member_role(org, owner, role), 0);
    assert_string_equal(role, "owner");
    assert_int_equal(store_org_member_add(org, bob, "agent", 2), 0);
    assert_int_equal(store_org_member_add(org, carol, "member", 2), RAGD_ELIMIT);
    assert_int_equal(store_org_member_add(org, bob, "agent", 0), RAGD_ECONFLICT);
    assert_int_equal(store_org_member_remove(org, owner), RAGD_ECONFLICT);
    assert_int_equal(store_org_member_set_role(org, owner, "admin"), RAGD_ECONFLICT);
    assert_int_equal(store_org_member_set_role(org, bob, "owner"), 0);
    assert_int_equal(store_org_member_remove(org, owner), 0);
    assert_int_equal(store_org_member_role(org, owner, role), RAGD_ENOTFOUND);
    assert_int_equal(store_org_member_remove(org, bob), RAGD_ECONFLICT);
    struct store_org_member *ms;
    size_t n;
    assert_int_equal(store_org_members(org, &ms, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0].user_id, bob);
    free(ms);
}

/* The organization as the guards read it: without the member count, and a change to its row
 * seen at once although the first read was cached (the in-process cache here). */
static void fetched_as_members_read_it(void **state)
{
    (void)state;
    char owner[37], org[37];
    new_user("owner@f.test", owner);
    assert_int_equal(store_org_create_owned("F", NULL, "pro", "{\"max_users\": 4}", owner, org), 0);
    struct store_org_fetch f;
    struct store_org o;
    store_org_fetch_start(owner, &f);
    assert_int_equal(store_org_fetch_finish(&f, owner, "no-such-org", &o), RAGD_ENOTFOUND);
    for (int i = 0; i < 2; i++) {
        store_org_fetch_start(owner, &f);
        assert_int_equal(store_org_fetch_finish(&f, owner, org, &o), 0);
        assert_string_equal(o.id, org);
        assert_string_equal(o.plan, "pro");
        assert_string_equal(o.settings, "{\"max_users\": 4}");
        assert_int_equal(o.members, -1);
        store_org_clear(&o);
    }
    assert_int_equal(store_org_update(org, NULL, "free", "{\"max_users\": 2}"), 0);
    store_org_fetch_start(owner, &f);
    assert_int_equal(store_org_fetch_finish(&f, owner, org, &o), 0);
    assert_string_equal(o.plan, "free");
    assert_string_equal(o.settings, "{\"max_users\": 2}");
    store_org_clear(&o);
    store_org_fetch_start(owner, &f);
    store_org_fetch_cancel(&f);
    assert_int_equal(store_org_get(org, &o), 0);
    assert_int_equal(o.members, 1);
    store_org_clear(&o);
}

static int max_two(const char *org_id)
{
    (void)org_id;
    return 2;
}

static void invitations(void **state)
{
    (void)state;
    char owner[37], dan[37], org[37], inv[37], got[37], role[16];
    new_user("owner@b.test", owner);
    new_user("dan@b.test", dan);
    assert_int_equal(store_org_create_owned("B", NULL, "free", "{}", owner, org), 0);
    int64_t exp = time_now_ms() + 60000;
    assert_int_equal(store_org_invite_create(org, "eve@b.test", "member", "h1", owner, exp, 2, inv),
                     0);
    /* one member and one pending invitation fill max_users 2 */
    assert_int_equal(store_org_invite_create(org, "dan@b.test", "agent", "h2", owner, exp, 2, inv),
                     RAGD_ELIMIT);
    /* a new invitation of the same address replaces the old one */
    assert_int_equal(store_org_invite_create(org, "dan@b.test", "agent", "h2", owner, exp, 3, inv),
                     0);
    assert_int_equal(store_org_invite_create(org, "dan@b.test", "admin", "h3", owner, exp, 3, inv),
                     0);
    assert_int_equal(store_org_invite_accept("h2", dan, "dan@b.test", max_two, got, role),
                     RAGD_ENOTFOUND);
    assert_int_equal(store_org_invite_accept("h3", dan, "DAN@b.test", max_two, got, role), 0);
    assert_string_equal(got, org);
    assert_string_equal(role, "admin");
    assert_int_equal(store_org_invite_accept("h3", dan, "dan@b.test", max_two, got, role),
                     RAGD_ENOTFOUND);
    assert_int_equal(store_org_member_role(org, dan, role), 0);
    assert_string_equal(role, "admin");
}

static void widget_tables(void **state)
{
    (void)state;
    char owner[37], org[37], kid[37], kid2[37], sid[37], conv[37], m1[37], m2[37], m3[37];
    new_user("owner@c.test", owner);
    assert_int_equal(store_org_create_owned("C", NULL, "free", "{}", owner, org), 0);
    const char *origins[] = {"https://c.test", "http://127.0.0.1:9"};
    assert_int_equal(
        store_wkey_create(org, "publishable", "site", "pk_abc", "kh1", origins, 2, 1, kid), 0);
    assert_int_equal(store_wkey_create(org, "secret", "srv", "sk_abc", "kh2", NULL, 0, 1, kid2),
                     RAGD_ELIMIT);
    assert_true(store_wkey_origin_known("http://127.0.0.1:9"));
    struct store_wkey k;
    assert_int_equal(store_wkey_lookup("kh1", "https://c.test", &k), 0);
    assert_string_equal(k.org_id, org);
    assert_true(k.origin_ok);
    store_wkey_clear(&k);
    assert_int_equal(store_wkey_lookup("kh1", "https://c.test/", &k), 0);
    assert_false(k.origin_ok);
    store_wkey_clear(&k);
    int64_t exp = time_now_ms() + 900000;
    assert_int_equal(store_wsession_create(org, kid, "https://c.test", "visitor-1", "127.0.0.1",
                                           "th1", exp, sid, conv),
                     0);
    struct store_wsession ws;
    assert_int_equal(store_wsession_lookup("th1", &ws), 0);
    assert_string_equal(ws.conversation_id, conv);
    /* a visitor message with its sentiment, an answer with its cost: each one transaction */
    struct store_wmsg_new vm = {.role = "visitor",
                                .body = "hi",
                                .confidence = -1,
                                .sentiment_label = "negative",
                                .sentiment_priority = "HIGH",
                                .sentiment_score = 0.75,
                                .sentiment_polarity = -0.5,
                                .tokens = -1,
                                .latency_ms = -1};
    struct store_wmsg_new am = {.role = "assistant",
                                .body = "hello",
                                .sources_json = "[]",
                                .confidence = 0.875,
                                .tokens = 12,
                                .latency_ms = 34};
    assert_int_equal(store_wmsg_add(conv, org, &vm, m1), 0);
    assert_int_equal(store_wmsg_add(conv, org, &am, m2), 0);
    assert_int_equal(store_wmsg_add_agent(conv, org, owner, "note to self", 1, m3), 0);
    assert_int_equal(store_wmsg_add_agent(conv, org, owner, "Hi, I am Ann", 0, m3), 0);
    struct store_esc_signals g;
    assert_int_equal(store_esc_signals(conv, &g), 0);
    assert_int_equal(g.nvisitor, 1);
    assert_true(g.polarity[0] == -0.5);
    assert_string_equal(g.priority[0], "HIGH");
    assert_int_equal(g.nanswer, 1);
    assert_true(g.confidence[0] == 0.875);
    assert_int_equal(g.not_helpful, 0);
    assert_int_equal(store_esc_signals("no-such-conversation", &g), RAGD_ENOTFOUND);
    assert_int_equal(store_wmsg_feedback(conv, m1, 1), RAGD_ENOTFOUND); /* not an answer */
    assert_int_equal(store_wmsg_feedback(conv, m2, -1), 0);
    assert_int_equal(store_esc_signals(conv, &g), 0);
    assert_int_equal(g.not_helpful, 1);
    struct store_wmsg *ms;
    size_t n;
    assert_int_equal(store_wmsgs(conv, 100, &ms, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(ms[0].body, "hi");
    assert_int_equal(ms[1].feedback, -1);
    assert_string_equal(ms[2].body, "Hi, I am Ann");
    store_wmsgs_free(ms, n);
    assert_int_equal(store_wconv_set_status(org, conv, "escalated", "HIGH"), 0);
    assert_int_equal(store_wconv_set_status(org, conv, "lost", NULL), RAGD_EINVAL);
    assert_int_equal(store_wconv_handoff(conv, "x@y.test", "wants a person"), 0);
    struct store_wconv c;
    assert_int_equal(store_wconv_get(org, conv, &c), 0);
    assert_string_equal(c.status, "escalated"); /* a hand-off does not undo an escalation */
    assert_string_equal(c.contact_email, "x@y.test");
    /* rotating keeps the origins; revoking the key ends its sessions */
    assert_int_equal(store_wkey_rotate(org, kid, "pk_def", "kh3", kid2), 0);
    assert_int_equal(store_wkey_lookup("kh3", "https://c.test", &k), 0);
    assert_true(k.origin_ok);
    store_wkey_clear(&k);
    assert_int_equal(store_wkey_lookup("kh1", NULL, &k), RAGD_ENOTFOUND);
    assert_int_equal(store_wsession_lookup("th1", &ws), RAGD_ENOTFOUND);
}

static void usage(void **state)
{
    (void)state;
    char owner[37], org[37];
    new_user("owner@d.test", owner);
    assert_int_equal(store_org_create_owned("D", NULL, "free", "{}", owner, org), 0);
    int64_t used = 0;
    assert_int_equal(store_org_usage_take(org, "messages", "", 2, 3, &used), 0);
    assert_int_equal(used, 2);
    assert_int_equal(store_org_usage_take(org, "messages", "", 2, 3, &used), RAGD_ELIMIT);
    assert_int_equal(used, 2);
    assert_int_equal(store_org_usage_take(org, "messages", owner, 1, 0, NULL), 0);
    assert_int_equal(store_org_usage_get(org, "messages", "", &used), 0);
    assert_int_equal(used, 2);
    assert_int_equal(store_org_usage_get(org, "messages", owner, &used), 0);
    assert_int_equal(used, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(members_and_owners),
        cmocka_unit_test(fetched_as_members_read_it),
        cmocka_unit_test(invitations),
        cmocka_unit_test(widget_tables),
        cmocka_unit_test(usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
