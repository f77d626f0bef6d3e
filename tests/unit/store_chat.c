/* Chat sessions in the store against a real SQLite file: an exchange is appended to the
 * user's own session only, whether the session is new, named by the client, or continued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "store/chat.h"
#include "store/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_chat_register();
    return store_migrate();
}

static void make_user(struct user *u, const char *email)
{
    assert_int_equal(fixture_user(u, email), 0);
}

/* A question and its answer, appended to sid for uid. */
static int exchange(const char *sid, const char *uid, const char *question)
{
    struct chat_row rows[2] = {
        {.session_id = sid, .user_id = uid, .actor = "user", .message = question, .confidence = -1},
        {.session_id = sid,
         .user_id = uid,
         .actor = "assistant",
         .message = "an answer",
         .model_used = "extractive",
         .confidence = 0.9},
    };
    return store_chat_append(sid, uid, question, "free", rows, 2);
}

/* How many turns uid reads from sid (-1: refused as another user's). */
static int turns(const char *sid, const char *uid)
{
    struct chat_turn *t = NULL;
    size_t n = 0, before = 0;
    int rc = store_chat_recent(sid, uid, 10, &t, &n, &before);
    store_chat_turns_free(t, n);
    return rc == RAGD_ENOTFOUND ? -1 : rc ? -2 : (int)n;
}

/* uid's message_count of sid (-1: uid has no such session). */
static int64_t count_of(const char *sid, const char *uid)
{
    struct chat_session *s = NULL;
    size_t n = 0;
    int64_t total = 0, found = -1;
    assert_int_equal(store_chat_sessions(uid, 100, 0, &s, &n, &total), 0);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s[i].session_id, sid)) found = s[i].message_count;
    store_chat_sessions_free(s, n);
    return found;
}

static void test_append_to_own_sessions_only(void **state)
{
    (void)state;
    struct user a, b;
    make_user(&a, "owner@example.com");
    make_user(&b, "other@example.com");
    char sid[37], named[37];
    uuid4(sid);
    uuid4(named);
    /* a new session made for the answer */
    assert_int_equal(exchange(sid, a.id, "first"), 0);
    assert_int_equal(turns(sid, a.id), 2);
    assert_int_equal(count_of(sid, a.id), 2);
    /* another user cannot read it or write into it, and nothing of theirs is stored */
    assert_int_equal(turns(sid, b.id), -1);
    assert_int_equal(exchange(sid, b.id, "mine now"), RAGD_EPERM);
    assert_int_equal(turns(sid, a.id), 2);
    assert_int_equal(count_of(sid, a.id), 2);
    assert_int_equal(count_of(sid, b.id), -1);
    /* continued by its owner */
    assert_int_equal(exchange(sid, a.id, "second"), 0);
    assert_int_equal(turns(sid, a.id), 4);
    assert_int_equal(count_of(sid, a.id), 4);
    /* an id the client named starts a session; deleted, the next exchange starts it again */
    assert_int_equal(turns(named, a.id), 0);
    assert_int_equal(exchange(named, a.id, "named"), 0);
    assert_int_equal(count_of(named, a.id), 2);
    int64_t deleted = 0;
    assert_int_equal(store_chat_session_delete(named, a.id, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(exchange(named, a.id, "again"), 0);
    assert_int_equal(turns(named, a.id), 2);
    assert_int_equal(count_of(named, a.id), 2);
    store_user_clear(&a);
    store_user_clear(&b);
}

/* A long session: the last 10 messages in order, the number before them from the session's
 * count; the session list pages with its total, also past the end. */
static void test_window_of_a_long_session(void **state)
{
    (void)state;
    struct user u;
    make_user(&u, "long@example.com");
    char sid[37], q[32];
    uuid4(sid);
    for (int i = 0; i < 7; i++) {
        snprintf(q, sizeof q, "question %d", i);
        assert_int_equal(exchange(sid, u.id, q), 0);
    }
    struct chat_turn *t = NULL;
    size_t n = 0, before = 0;
    assert_int_equal(store_chat_recent(sid, u.id, 10, &t, &n, &before), 0);
    assert_int_equal(n, 10);
    assert_int_equal(before, 4);
    assert_false(t[0].assistant);
    assert_string_equal(t[0].message, "question 2");
    assert_true(t[9].assistant);
    store_chat_turns_free(t, n);
    char other[37];
    uuid4(other);
    assert_int_equal(exchange(other, u.id, "another"), 0);
    struct chat_session *s = NULL;
    int64_t total = 0;
    assert_int_equal(store_chat_sessions(u.id, 1, 1, &s, &n, &total), 0);
    assert_int_equal(n, 1);
    assert_int_equal(total, 2);
    store_chat_sessions_free(s, n);
    assert_int_equal(store_chat_sessions(u.id, 10, 5, &s, &n, &total), 0);
    assert_int_equal(n, 0);
    assert_int_equal(total, 2);
    store_chat_sessions_free(s, n);
    store_user_clear(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_to_own_sessions_only),
        cmocka_unit_test(test_window_of_a_long_session),
    };
    return cmocka_run_group_tests(tests, setup, fixture_teardown);
}
