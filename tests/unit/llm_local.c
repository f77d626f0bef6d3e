/* Unit tests for llm/local's session pool without a model: the per-user cap (a user's second
 * request waits although a session is free), round robin by user when a session frees,
 * displacement of the heaviest user's newest waiter in a full queue, anonymous callers,
 * queue timeouts, and that no user entry outlives its requests. Each request is a thread
 * that takes a session with slot_get and holds it until the test releases it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "llm/local.c"

static atomic_int grants; /* order in which requests got a session */

struct request {
    struct local *l;
    const char *user;
    pthread_t th;
    pthread_mutex_t m;
    pthread_cond_t cv;
    int release, done, rc, order, slot;
    struct user_slot *who;
};

static void *run(void *arg)
{
    struct request *q = arg;
    int rc = slot_get(q->l, q->user, &q->slot, &q->who);
    pthread_mutex_lock(&q->m);
    q->rc = rc;
    if (!rc) q->order = atomic_fetch_add(&grants, 1) + 1;
    pthread_cond_broadcast(&q->cv);
    while (!rc && !q->release)
        pthread_cond_wait(&q->cv, &q->m);
    pthread_mutex_unlock(&q->m);
    if (!rc) slot_put(q->l, q->slot, q->who);
    pthread_mutex_lock(&q->m);
    q->done = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->m);
    return NULL;
}

static struct local *queue_new(int n_slots, int per_user, int max_queue, int timeout_s)
{
    struct local *l = xcalloc(1, sizeof *l);
    l->n_slots = n_slots;
    l->per_user = per_user;
    l->max_queue = max_queue;
    l->queue_timeout_s = timeout_s;
    l->busy = xcalloc((size_t)n_slots, 1);
    pthread_mutex_init(&l->lock, NULL);
    atomic_store(&grants, 0);
    return l;
}

static void queue_free(struct local *l)
{
    assert_null(l->users); /* every entry went with its last request */
    assert_int_equal(l->active, 0);
    assert_int_equal(l->waiting, 0);
    pthread_mutex_destroy(&l->lock);
    free(l->busy);
    free(l);
}

static struct request *start(struct local *l, const char *user)
{
    struct request *q = xcalloc(1, sizeof *q);
    q->l = l;
    q->user = user;
    q->rc = 1; /* not answered yet */
    pthread_mutex_init(&q->m, NULL);
    pthread_cond_init(&q->cv, NULL);
    assert_int_equal(pthread_create(&q->th, NULL, run, q), 0);
    return q;
}

/* Waits until the pool shows active running and waiting queued requests. */
static void settle(struct local *l, int active, int waiting)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&l->lock);
        int a = l->active, w = l->waiting;
        pthread_mutex_unlock(&l->lock);
        if (a == active && w == waiting) return;
        usleep(1000);
    }
    fail_msg("the pool never showed %d active and %d waiting", active, waiting);
}

/* Waits for q's answer from slot_get; returns its rc. */
static int answered(struct request *q)
{
    pthread_mutex_lock(&q->m);
    while (q->rc == 1)
        pthread_cond_wait(&q->cv, &q->m);
    int rc = q->rc;
    pthread_mutex_unlock(&q->m);
    return rc;
}

/* Lets q give its session back and waits for it to end. */
static void finish(struct request *q)
{
    pthread_mutex_lock(&q->m);
    q->release = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->m);
    pthread_join(q->th, NULL);
    pthread_mutex_destroy(&q->m);
    pthread_cond_destroy(&q->cv);
    free(q);
}

/* One session: a freed session goes to the user served longest ago, not to the next request
 * in arrival order; within a user, oldest first. */
static void test_round_robin_by_user(void **state)
{
    (void)state;
    struct local *l = queue_new(1, 1, 8, 60);
    struct request *a1 = start(l, "a");
    assert_int_equal(answered(a1), 0);
    struct request *a2 = start(l, "a");
    settle(l, 1, 1);
    struct request *a3 = start(l, "a");
    settle(l, 1, 2);
    struct request *b1 = start(l, "b");
    settle(l, 1, 3);
    struct request *c1 = start(l, "c");
    settle(l, 1, 4);
    struct request *b2 = start(l, "b");
    settle(l, 1, 5);
    /* arrival order a2 a3 b1 c1 b2; turns: b1 c1 (never served), a2, b2, a3 */
    struct request *turns[] = {b1, c1, a2, b2, a3};
    struct request *holder = a1;
    for (int i = 0; i < 5; i++) {
        finish(holder);
        assert_int_equal(answered(turns[i]), 0);
        assert_int_equal(turns[i]->order, i + 2);
        holder = turns[i];
    }
    finish(holder);
    queue_free(l);
}

/* Two sessions, one generation per user: the user's second request waits while another
 * user takes the free session at once; anonymous callers are not capped. */
static void test_per_user_cap(void **state)
{
    (void)state;
    struct local *l = queue_new(2, 1, 8, 60);
    struct request *a1 = start(l, "a");
    assert_int_equal(answered(a1), 0);
    struct request *a2 = start(l, "a");
    settle(l, 1, 1);
    struct request *b1 = start(l, "b");
    assert_int_equal(answered(b1), 0);
    settle(l, 2, 1);
    finish(b1); /* b's session is free, but a may run only one */
    settle(l, 1, 1);
    finish(a1);
    assert_int_equal(answered(a2), 0);
    finish(a2);
    struct request *x = start(l, NULL), *y = start(l, "");
    assert_int_equal(answered(x), 0);
    assert_int_equal(answered(y), 0);
    settle(l, 2, 0);
    finish(x);
    finish(y);
    queue_free(l);
}

/* A full queue: a newcomer displaces the newest waiter of the user holding the most places
 * when that user keeps at least as many; otherwise the newcomer is refused. */
static void test_full_queue_displacement(void **state)
{
    (void)state;
    struct local *l = queue_new(1, 1, 2, 60);
    struct request *a1 = start(l, "a");
    assert_int_equal(answered(a1), 0);
    struct request *a2 = start(l, "a");
    settle(l, 1, 1);
    struct request *a3 = start(l, "a");
    settle(l, 1, 2);
    struct request *a4 = start(l, "a"); /* a's own: no room */
    assert_int_equal(answered(a4), RAGD_ELIMIT);
    struct request *b1 = start(l, "b"); /* takes a3's place */
    assert_int_equal(answered(a3), RAGD_ELIMIT);
    settle(l, 1, 2);
    struct request *c1 = start(l, "c"); /* a and b hold one place each: refused */
    assert_int_equal(answered(c1), RAGD_ELIMIT);
    assert_int_equal(l->rejected, 3);
    finish(a1);
    assert_int_equal(answered(b1), 0);
    finish(b1);
    assert_int_equal(answered(a2), 0);
    finish(a2);
    finish(a3);
    finish(a4);
    finish(c1);
    queue_free(l);
}

/* A wait longer than the queue timeout ends with RAGD_ETIMEOUT and leaves the queue. */
static void test_queue_timeout(void **state)
{
    (void)state;
    struct local *l = queue_new(1, 1, 4, 1);
    struct request *a1 = start(l, "a");
    assert_int_equal(answered(a1), 0);
    struct request *b1 = start(l, "b");
    assert_int_equal(answered(b1), RAGD_ETIMEOUT);
    settle(l, 1, 0);
    assert_int_equal(l->timeouts, 1);
    finish(b1);
    finish(a1);
    queue_free(l);
}

/* The whole turn's text: its parts joined when it has them (as the model receives it). */
static char *turn_text(const struct chatml_msg *m)
{
    if (!m->n_parts) return xstrdup(m->content);
    struct sbuf b;
    sb_init(&b);
    for (size_t i = 0; i < m->n_parts; i++)
        sb_adds(&b, m->parts[i].text);
    char *s = xstrdup(b.s ? b.s : "");
    sb_free(&b);
    return s;
}

/* Tool turns as the model's template has them (the one rendering lo_generate and
 * lo_count_prompt use): a run of tool results is one user turn with each result between
 * <tool_response> lines; an assistant's calls follow its text, each a JSON object {name,
 * arguments} between <tool_call> lines with the arguments as the client sent them, as Qwen3's
 * template writes them. */
static void test_template_messages(void **state)
{
    (void)state;
    json_t *calls = json_loads("[{\"id\": \"c1\", \"type\": \"function\", \"function\": "
                               "{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}}]",
                               0, NULL);
    assert_non_null(calls);
    struct prov_message in[] = {{"user", "q", NULL, NULL},
                                {"assistant", "", calls, NULL},
                                {"tool", "r1", NULL, "c1"},
                                {"tool", "r2", NULL, "c2"},
                                {"user", "ok", NULL, NULL}};
    struct prov_request req = {.messages = in, .n_messages = 5};
    struct toolfmt tf;
    char err[256];
    assert_int_equal(toolfmt_prepare(&req, &tf, err, sizeof err), 0);
    assert_int_equal(tf.n_msgs, 4);
    assert_null(tf.grammar);
    const char *want[4][2] = {
        {"user", "q"},
        {"assistant", "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>"},
        {"user", "<tool_response>\nr1\n</tool_response>\n<tool_response>\nr2\n</tool_response>"},
        {"user", "ok"}};
    for (size_t i = 0; i < 4; i++) {
        char *text = turn_text(&tf.msgs[i]);
        assert_string_equal(tf.msgs[i].role, want[i][0]);
        assert_string_equal(text, want[i][1]);
        free(text);
    }
    /* the client's text is plain text: only the template's markers are template parts */
    assert_int_equal(tf.msgs[2].n_parts, 6);
    assert_int_equal(tf.msgs[2].parts[0].tmpl, 1);
    assert_string_equal(tf.msgs[2].parts[1].text, "r1");
    assert_int_equal(tf.msgs[2].parts[1].tmpl, 0);
    assert_string_equal(tf.msgs[2].parts[4].text, "r2");
    assert_int_equal(tf.msgs[2].parts[4].tmpl, 0);
    toolfmt_free(&tf);
    json_decref(calls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_messages), cmocka_unit_test(test_round_robin_by_user),
        cmocka_unit_test(test_per_user_cap),      cmocka_unit_test(test_full_queue_displacement),
        cmocka_unit_test(test_queue_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
