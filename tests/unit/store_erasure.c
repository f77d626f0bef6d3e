/* The erasure store against a real SQLite file: the job record, the account refused in the
 * same transaction, idempotent steps, the audit log rewritten to ids, organizations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/apikeys.h"
#include "store/chat.h"
#include "store/erasure.h"
#include "store/knowledge.h"
#include "store/store.h"
#include "store/store_billing.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_billing_register();
    store_knowledge_register();
    store_chat_register();
    store_apikeys_register();
    store_erasure_register();
    return store_migrate();
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

static void make_user(struct user *u, const char *email, const char *username)
{
    memset(u, 0, sizeof *u);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->username, sizeof u->username, "%s", username);
    snprintf(u->hashed_password, sizeof u->hashed_password, "$2b$04$x");
    u->is_active = 1;
    assert_int_equal(store_user_create(u), 0);
}

static int64_t count(const char *sql, const char *arg)
{
    int64_t n = -1;
    assert_int_equal(db_query_int(db_conn(), &n, sql, "s", arg), 0);
    return n;
}

static void test_user_erasure_steps(void **state)
{
    (void)state;
    struct user v, other;
    make_user(&v, "Victim@Example.com", "victor");
    make_user(&other, "other@example.com", "otto");
    char rt[37];
    assert_int_equal(store_refresh_insert(v.id, v.id, "hash-v", 9999999999999, rt), 0);
    char key[37];
    assert_int_equal(store_apikey_create(v.id, "k", "rgd_abcdefgh", "keyhash-v", 10, key), 0);
    /* the key's owner and the owner's record, and its use recorded */
    char owner[37];
    struct user got;
    int user_rc = -1;
    assert_int_equal(store_apikey_user("keyhash-v", owner, &got, &user_rc), 0);
    assert_int_equal(user_rc, 0);
    assert_string_equal(owner, v.id);
    assert_string_equal(got.id, v.id);
    store_user_clear(&got);
    assert_int_equal(count("SELECT count(*) FROM api_keys WHERE user_id = ?"
                           " AND last_used_at IS NOT NULL",
                           v.id),
                     1);
    assert_int_equal(store_apikey_user("keyhash-none", owner, &got, &user_rc), RAGD_ENOTFOUND);

    /* Audit entries: the victim acting, an admin acting on the victim (details naming the
     * e-mail and username, nested), and an unrelated entry that must stay as it was. */
    json_t *d1 = json_pack("{s:s}", "note", "login by victim@example.com");
    struct audit_entry a1 = {.actor_id = v.id,
                             .actor_email = v.email,
                             .action = "x.login",
                             .details = d1,
                             .ip = "10.1.2.3"};
    assert_int_equal(store_audit_add(&a1), 0);
    json_t *d2 = json_pack("{s:{s:[s, i]}}", "patch", "names", "victor", 3);
    struct audit_entry a2 = {.actor_id = other.id,
                             .actor_email = other.email,
                             .action = "user.update",
                             .target_type = "user",
                             .target_id = v.id,
                             .details = d2,
                             .ip = "10.9.9.9"};
    assert_int_equal(store_audit_add(&a2), 0);
    json_t *d3 = json_pack("{s:s}", "note", "victory lap");
    struct audit_entry a3 = {.actor_id = other.id,
                             .actor_email = other.email,
                             .action = "x.other",
                             .details = d3,
                             .ip = "10.9.9.9"};
    assert_int_equal(store_audit_add(&a3), 0);
    json_decref(d1);
    json_decref(d2);
    json_decref(d3);

    /* Recording the job refuses the account in the same transaction. */
    struct erasure_job job, again;
    struct audit_entry req = {.actor_id = other.id,
                              .actor_email = other.email,
                              .action = "user.delete",
                              .target_type = "user",
                              .target_id = v.id};
    assert_int_equal(store_erasure_begin("user", v.id, &req, &job), 0);
    assert_int_equal(job.step, 0);
    assert_int_equal(count("SELECT is_active FROM users WHERE id = ?", v.id), 0);
    assert_true(count("SELECT tokens_valid_after FROM users WHERE id = ?", v.id) > 0);
    assert_int_equal(store_apikey_user("keyhash-v", owner, &got, &user_rc), RAGD_ENOTFOUND);
    assert_int_equal(count("SELECT count(*) FROM refresh_tokens WHERE user_id = ?"
                           " AND revoked_at IS NULL",
                           v.id),
                     0);
    assert_int_equal(count("SELECT count(*) FROM api_keys WHERE user_id = ?"
                           " AND revoked_at IS NULL",
                           v.id),
                     0);
    assert_int_equal(count("SELECT count(*) FROM audit_log WHERE action = 'user.delete'"
                           " AND details LIKE '%' || ? || '%'",
                           job.id),
                     1);
    /* A second request finds the same job. */
    assert_int_equal(store_erasure_begin("user", v.id, NULL, &again), 0);
    assert_string_equal(again.id, job.id);

    struct erasure_job *open = NULL;
    int n = 0;
    assert_int_equal(store_erasure_open(0, 10, &open, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(open[0].target_id, v.id);
    free(open);

    /* The steps, each twice: idempotent. */
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(store_erasure_user_rows(v.id, ERASE_USER_CHAT), 0);
        assert_int_equal(store_erasure_user_rows(v.id, ERASE_USER_CREDENTIALS), 0);
        assert_int_equal(store_erasure_user_rows(v.id, ERASE_USER_BILLING), 0);
        assert_int_equal(store_erasure_step_done(job.id, 4), 0);
        assert_int_equal(store_erasure_user_final(v.id), 0);
    }
    assert_int_equal(store_erasure_step_done(job.id, 2), 0); /* never moves back */
    assert_int_equal(count("SELECT step FROM erasure_jobs WHERE id = ?", job.id), 4);
    assert_int_equal(count("SELECT count(*) FROM users WHERE id = ?", v.id), 0);
    assert_int_equal(count("SELECT count(*) FROM refresh_tokens WHERE user_id = ?", v.id), 0);
    assert_int_equal(count("SELECT count(*) FROM api_keys WHERE user_id = ?", v.id), 0);

    /* The audit log keeps the entries, with ids only. */
    assert_int_equal(count("SELECT count(*) FROM audit_log WHERE actor_id = ?", v.id), 1);
    assert_int_equal(count("SELECT count(*) FROM audit_log WHERE lower(details) LIKE"
                           " '%' || ? || '%'",
                           "victim@example.com"),
                     0);
    assert_int_equal(count("SELECT count(*) FROM audit_log WHERE"
                           " lower(coalesce(actor_email, '')) = ?",
                           "victim@example.com"),
                     0);
    assert_int_equal(
        count("SELECT count(*) FROM audit_log WHERE details LIKE '%' || ? || '%'", "\"victor\""),
        0);
    assert_int_equal(count("SELECT count(*) FROM audit_log WHERE actor_id = ?"
                           " AND (actor_email IS NOT NULL OR ip IS NOT NULL)",
                           v.id),
                     0);
    assert_int_equal(count("SELECT count(*) FROM audit_log WHERE target_id = ?"
                           " AND details LIKE '%' || target_id || '%'",
                           v.id),
                     1); /* the admin's update: "victor" became the id */
    /* Others' entries are untouched (the admin's address stays; "victory" is no name). */
    assert_int_equal(count("SELECT count(*) FROM audit_log WHERE action = 'x.other'"
                           " AND details = '{\"note\":\"victory lap\"}' AND ip = ?",
                           "10.9.9.9"),
                     1);

    assert_int_equal(store_erasure_finish(job.id), 0);
    char st[16];
    assert_int_equal(store_erasure_state(job.id, st), 0);
    assert_string_equal(st, "done");
    assert_int_equal(store_erasure_begin("user", v.id, NULL, &again), RAGD_ENOTFOUND);
    assert_int_equal(store_erasure_open(0, 10, &open, &n), 0);
    assert_int_equal(n, 0);
    free(open);
    store_user_clear(&v);
    store_user_clear(&other);
}

static void test_organization_erasure(void **state)
{
    (void)state;
    char org[37];
    assert_int_equal(store_org_create("Acme Widgets", "acme.test", "{}", org), 0);
    struct user m;
    make_user(&m, "member@acme.test", "mem");
    json_t *patch = json_pack("{s:s}", "organization_id", org);
    assert_int_equal(store_user_update(m.id, patch), 0);
    json_decref(patch);
    json_t *d = json_pack("{s:s}", "org", "Acme Widgets");
    struct audit_entry a = {
        .action = "org.create", .target_type = "organization", .target_id = org, .details = d};
    assert_int_equal(store_audit_add(&a), 0);
    json_decref(d);

    struct erasure_job job;
    assert_int_equal(store_erasure_begin("organization", org, NULL, &job), 0);
    char(*members)[37] = NULL;
    int n = 0;
    assert_int_equal(store_erasure_org_detach(org, &members, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(members[0], m.id);
    free(members);
    assert_int_equal(store_erasure_org_final(org), 0);
    assert_int_equal(store_erasure_org_final(org), 0);
    assert_int_equal(count("SELECT count(*) FROM organizations WHERE id = ?", org), 0);
    assert_int_equal(
        count("SELECT count(*) FROM users WHERE id = ? AND organization_id IS NULL", m.id), 1);
    assert_int_equal(
        count("SELECT count(*) FROM audit_log WHERE details LIKE '%' || ? || '%'", "Acme"), 0);
    assert_int_equal(store_erasure_begin("organization", "nope", NULL, &job), RAGD_ENOTFOUND);
    store_user_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_erasure_steps),
        cmocka_unit_test(test_organization_erasure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
