/* The prefix cache (engine/llm.h) on a tiny random model: with the cache a follow-up turn, a
 * conversation sharing a system prompt and a partly edited conversation evaluate only the
 * tokens after the reused prefix, and give bit-identical prompt logits and the same greedy
 * generations as a model without the cache; a tiny budget evicts the least recently used
 * entries; sessions of several threads use one cache at once with the same results. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/llm.c"
#include "tools/mktiny.h"
#include "tiny_fixture.h"

static const char *sys_a =
    "You are a helpful assistant for a library of documents about the natural world. Answer "
    "from the passages you are given, cite them by number, and say clearly when they do not "
    "hold the answer. Keep answers short and plain; prefer lists for steps and tables for "
    "figures. Never invent a source, and never repeat the question back.";
static const char *sys_b =
    "You answer questions about the weather, the seasons and the sky for a school. Use simple "
    "words that a child of ten understands, one idea per sentence, and give an example from "
    "daily life whenever you can. If you are not sure, say so and suggest where to look.";

static llm_model_t *load(size_t budget)
{
    llm_model_t *m;
    char err[256] = "";
    if (llm_model_load(path, 2, 0, &m, err, sizeof err)) fail_msg("%s", err);
    llm_model_prefix_cache(m, budget);
    return m;
}

/* Prompt tokens of msgs as llm_chat feeds them. */
static size_t prompt_len(llm_model_t *m, const struct chatml_msg *msgs, size_t n, int32_t **ids)
{
    size_t k;
    assert_int_equal(chatml_encode(llm_model_tokenizer(m), msgs, n, 1, 0, ids, &k), 0);
    return k;
}

/* Runs msgs on s: the logits after the prompt (n_predict 0) into logits, then a greedy
 * generation of up to 12 tokens into *res. Returns the tokens reused by the first call. */
static int run_turn(llm_session_t *s, const struct chatml_msg *msgs, size_t n, float *logits,
                    struct llm_gen_result *res)
{
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    gp.sampling.greedy = 1;
    gp.n_predict = 0;
    struct llm_gen_result r0;
    assert_int_equal(llm_chat(s, msgs, n, 0, &gp, NULL, NULL, &r0), 0);
    size_t V = (size_t)model_config(s->m->model)->n_vocab;
    memcpy(logits, llm_session_logits(s), V * sizeof(float));
    int cached = r0.n_cached;
    llm_gen_result_free(&r0);
    gp.n_predict = 12;
    assert_int_equal(llm_chat(s, msgs, n, 0, &gp, NULL, NULL, res), 0);
    return cached;
}

/* Runs the same turn on a session without the cache (ref) and one with it (s): prompt logits
 * bit-identical, greedy text identical. Returns the tokens s reused for the prompt. */
static int same_turn(llm_session_t *ref, llm_session_t *s, const struct chatml_msg *msgs, size_t n)
{
    size_t V = (size_t)model_config(s->m->model)->n_vocab;
    float *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b);
    struct llm_gen_result ra, rb;
    assert_int_equal(run_turn(ref, msgs, n, a, &ra), 0);
    int cached = run_turn(s, msgs, n, b, &rb);
    assert_memory_equal(a, b, V * sizeof *a);
    assert_int_equal(ra.n_gen, rb.n_gen);
    assert_int_equal(ra.len, rb.len);
    assert_memory_equal(ra.text, rb.text, ra.len);
    assert_int_equal(rb.n_prompt, ra.n_prompt);
    assert_true(cached % LLM_PREFIX_ALIGN == 0 && cached < rb.n_prompt);
    /* the second call finds the first one's whole slices in the session */
    int own = s->m->pc.budget ? (int)align_down((size_t)rb.n_prompt - 1) : 0;
    assert_int_equal(rb.n_cached, own);
    llm_gen_result_free(&ra);
    llm_gen_result_free(&rb);
    free(a);
    free(b);
    return cached;
}

static void test_multi_turn_identical(void **state)
{
    (void)state;
    llm_model_t *plain = load(0), *cached = load((size_t)64 << 20);
    llm_session_t *ref, *s, *t;
    assert_int_equal(llm_session_create(plain, 512, &ref), 0);
    assert_int_equal(llm_session_create(cached, 512, &s), 0);
    assert_int_equal(llm_session_create(cached, 512, &t), 0);
    struct chatml_msg conv[] = {
        {"system", sys_a},
        {"user", "How do glaciers move, and how fast do they go in a year?"},
        {"assistant", "Glaciers flow under their own weight, from a few metres to kilometres a "
                      "year [1]."},
        {"user", "And what do people measure to follow them?"},
        {"assistant", "Their speed, their thickness and where their front is [2]."},
        {"user", "Which of those is the hardest to measure, and why?"},
    };
    int32_t *ids;
    size_t n1 = prompt_len(cached, conv, 2, &ids);
    free(ids);
    assert_true(n1 > LLM_PREFIX_ALIGN); /* the system prompt alone fills a slice */

    /* turn 1: nothing cached yet */
    assert_int_equal(same_turn(ref, s, conv, 2), 0);
    /* turns 2 and 3 of the same conversation on the same session: its own rows */
    int c2 = same_turn(ref, s, conv, 4), c3 = same_turn(ref, s, conv, 6);
    assert_true(c2 >= LLM_PREFIX_ALIGN && c3 >= c2);
    /* the conversation moved to another session: the cache entry of turn 3, all of it but
     * the last partial slice */
    int c3b = same_turn(ref, t, conv, 6);
    size_t n3 = prompt_len(cached, conv, 6, &ids);
    free(ids);
    assert_int_equal(c3b, (int)align_down(n3 - 1));
    assert_true(c3b > c3);
    struct llm_prefix_stats st;
    llm_model_prefix_stats(cached, &st);
    assert_true(st.entries >= 1 && st.hits >= 3 && st.reused >= (uint64_t)(c2 + c3 + c3b));
    assert_true(st.bytes <= st.budget);

    /* another conversation sharing the system prompt on a new session */
    llm_session_t *u;
    assert_int_equal(llm_session_create(cached, 512, &u), 0);
    struct chatml_msg other[] = {{"system", sys_a}, {"user", "What is a volcano made of?"}};
    int32_t *a, *b;
    size_t na = prompt_len(cached, other, 2, &a), nb = prompt_len(cached, conv, 2, &b);
    size_t common = common_prefix(a, na, b, nb);
    int co = same_turn(ref, u, other, 2);
    assert_int_equal(co, (int)align_down(common < na - 1 ? common : na - 1));
    assert_true(co >= LLM_PREFIX_ALIGN);
    free(a);
    free(b);

    /* a partial match: the first question edited, later turns the same */
    struct chatml_msg edited[6];
    memcpy(edited, conv, sizeof conv);
    edited[1].content = "How do glaciers move, and how far do they go in a century?";
    size_t ne = prompt_len(cached, edited, 6, &a), n6 = prompt_len(cached, conv, 6, &b);
    common = common_prefix(a, ne, b, n6);
    assert_true(common < n6 && common > LLM_PREFIX_ALIGN);
    int ce = same_turn(ref, u, edited, 6);
    assert_int_equal(ce, (int)align_down(common));
    free(a);
    free(b);

    /* a different system prompt: nothing to reuse */
    struct chatml_msg fresh[] = {{"system", sys_b}, {"user", "Why is the sky blue?"}};
    assert_int_equal(same_turn(ref, u, fresh, 2), 0);

    /* a session with a smaller context adopts rows cached by a larger one */
    llm_session_t *small;
    assert_int_equal(llm_session_create(cached, 300, &small), 0);
    assert_true(same_turn(ref, small, conv, 2) >= LLM_PREFIX_ALIGN);
    /* a prompt beyond the context is an error before anything is evaluated */
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    struct llm_gen_result r;
    assert_int_equal(llm_chat(small, conv, 6, 0, &gp, NULL, NULL, &r), RAGD_ERANGE);
    assert_int_equal(llm_session_n_past(small), 0);

    /* budget 0 turns the cache off and frees it */
    llm_model_prefix_cache(cached, 0);
    llm_model_prefix_stats(cached, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(same_turn(ref, t, conv, 6), 0);

    llm_session_free(small);
    llm_session_free(u);
    llm_session_free(t);
    llm_session_free(s);
    llm_session_free(ref);
    llm_model_free(cached);
    llm_model_free(plain);
}

static void test_eviction(void **state)
{
    (void)state;
    llm_model_t *plain = load(0);
    struct chatml_msg x[] = {{"system", sys_a}, {"user", "Tell me about tides."}};
    struct chatml_msg y[] = {{"system", sys_b}, {"user", "Tell me about clouds."}};
    int32_t *ids;
    size_t nx = prompt_len(plain, x, 2, &ids);
    free(ids);
    size_t ny = prompt_len(plain, y, 2, &ids);
    free(ids);
    /* room for either prompt's whole slices, not for both */
    size_t fpp = model_kv_floats_per_pos(plain->model), rx = align_down(nx), ry = align_down(ny);
    assert_true(rx >= LLM_PREFIX_ALIGN && ry >= LLM_PREFIX_ALIGN);
    size_t bx = 2 * rx * fpp * sizeof(float) + rx * sizeof(int32_t);
    size_t by = 2 * ry * fpp * sizeof(float) + ry * sizeof(int32_t);
    size_t big = bx > by ? bx : by, small = bx > by ? by : bx;
    llm_model_t *m = load(big + small / 2);
    llm_session_t *ref, *s;
    assert_int_equal(llm_session_create(plain, 256, &ref), 0);
    assert_int_equal(llm_session_create(m, 256, &s), 0);
    assert_int_equal(same_turn(ref, s, x, 2), 0);
    struct llm_prefix_stats st;
    llm_model_prefix_stats(m, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(same_turn(ref, s, y, 2), 0); /* y evicts x */
    llm_model_prefix_stats(m, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.evictions, 1);
    assert_true(st.bytes <= st.budget);
    /* x again: the session holds y's rows and the cache holds y: evaluated from scratch */
    assert_int_equal(same_turn(ref, s, x, 2), 0);
    /* and now y is the one evicted, x's rows are back */
    llm_model_prefix_stats(m, &st);
    assert_int_equal(st.evictions, 2);
    llm_session_t *t;
    assert_int_equal(llm_session_create(m, 256, &t), 0);
    assert_true(same_turn(ref, t, x, 2) > 0);
    assert_int_equal(same_turn(ref, t, y, 2), 0);
    /* a budget smaller than one entry keeps nothing */
    llm_model_prefix_cache(m, small / 2);
    llm_model_prefix_stats(m, &st);
    assert_int_equal(st.entries, 0);
    llm_session_reset(t);
    assert_int_equal(same_turn(ref, t, x, 2), 0);
    llm_model_prefix_stats(m, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    llm_session_free(t);
    llm_session_free(s);
    llm_session_free(ref);
    llm_model_free(m);
    llm_model_free(plain);
}

/* Rows held in shared 64-position chunks: a conversation's next turn copies only the chunks
 * after its previous turn's, a second conversation with the same system prompt shares its
 * chunks, and chunks no entry holds are kept as spares within the budget and taken before new
 * memory. */
static void test_chunks_shared_and_spare(void **state)
{
    (void)state;
    llm_model_t *plain = load(0), *m = load((size_t)64 << 20);
    llm_session_t *ref, *s, *t;
    assert_int_equal(llm_session_create(plain, 512, &ref), 0);
    assert_int_equal(llm_session_create(m, 512, &s), 0);
    assert_int_equal(llm_session_create(m, 512, &t), 0);
    size_t cb = m->pc.chunk_bytes;
    assert_int_equal(cb, 2 * LLM_PREFIX_ALIGN * model_kv_floats_per_pos(m->model) * sizeof(float));
    struct chatml_msg conv[] = {
        {"system", sys_a},
        {"user", "How do glaciers move, and how fast do they go in a year?"},
        {"assistant", "Glaciers flow under their own weight, from a few metres to kilometres a "
                      "year, faster where they are thick and steep and slower where they are "
                      "frozen to their beds [1]."},
        {"user", "And what do people measure to follow them, year after year, on the ice?"},
    };
    struct llm_prefix_stats st;
    same_turn(ref, s, conv, 2);
    llm_model_prefix_stats(m, &st);
    int n1 = m->pc.head->n;
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.saved, (uint64_t)n1);
    assert_int_equal(st.bytes, (size_t)(n1 / LLM_PREFIX_ALIGN) * cb + (size_t)n1 * sizeof(int32_t));

    /* the next turn: one entry, holding the first turn's chunks and the new ones only */
    same_turn(ref, s, conv, 4);
    llm_model_prefix_stats(m, &st);
    int n2 = m->pc.head->n;
    assert_true(n2 > n1);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.saved, (uint64_t)n2); /* n1 + (n2 - n1) */
    assert_int_equal(st.bytes, (size_t)(n2 / LLM_PREFIX_ALIGN) * cb + (size_t)n2 * sizeof(int32_t));

    /* another conversation with the same system prompt shares its chunks */
    struct chatml_msg other[] = {{"system", sys_a},
                                 {"user", "What is a volcano made of, deep down and at the top, "
                                          "and why do some of them explode?"}};
    same_turn(ref, t, other, 2);
    llm_model_prefix_stats(m, &st);
    assert_int_equal(st.entries, 2);
    struct pentry *e3 = m->pc.head, *e2 = e3->next;
    int shared = (int)align_down(common_prefix(e3->toks, (size_t)e3->n, e2->toks, (size_t)e2->n));
    assert_true(shared >= LLM_PREFIX_ALIGN);
    assert_ptr_equal(e3->chunks[0], e2->chunks[0]);
    assert_int_equal(e3->chunks[0]->refs, 2);
    assert_int_equal(st.saved, (uint64_t)(n2 + e3->n - shared));
    size_t held = (size_t)(n2 + e3->n - shared) / LLM_PREFIX_ALIGN * cb;
    assert_int_equal(st.bytes, held + (size_t)(n2 + e3->n) * sizeof(int32_t));

    /* a budget that holds only the newer entry: the older one's own chunks become spares */
    size_t keep = (size_t)e3->n / LLM_PREFIX_ALIGN * cb + (size_t)e3->n * sizeof(int32_t);
    int spare = (n2 - shared) / LLM_PREFIX_ALIGN;
    assert_true(spare >= 1);
    llm_model_prefix_cache(m, keep + (size_t)spare * cb);
    llm_model_prefix_stats(m, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.bytes, keep);
    assert_int_equal(st.spare_bytes, (size_t)spare * cb);
    assert_int_equal(m->pc.head->chunks[0]->refs, 1);

    /* a conversation with another system prompt takes the spares before new memory, and
     * evicts for the rest */
    struct pchunk *sp = m->pc.spares;
    struct chatml_msg fresh[] = {{"system", sys_b}, {"user", "Why is the sky blue?"}};
    same_turn(ref, s, fresh, 2);
    llm_model_prefix_stats(m, &st);
    assert_true(st.spare_bytes + st.bytes <= st.budget);
    int found = 0;
    for (struct pentry *e = m->pc.head; e; e = e->next)
        for (int i = 0; i < e->n / LLM_PREFIX_ALIGN; i++)
            found += e->chunks[i] == sp;
    assert_int_equal(found, 1);

    /* budget 0 frees the spares too */
    llm_model_prefix_cache(m, 0);
    llm_model_prefix_stats(m, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.spare_bytes, 0);
    assert_null(m->pc.spares);
    llm_session_free(t);
    llm_session_free(s);
    llm_session_free(ref);
    llm_model_free(m);
    llm_model_free(plain);
}

/* ---- sessions of several threads on one cache ---- */

enum { N_THREADS = 4, N_TURNS = 3 };

static const char *questions[N_THREADS][N_TURNS] = {
    {"What are auroras?", "Where can I see them?", "When is the best season?"},
    {"How do rivers carve valleys?", "How long does it take?", "Can it be measured?"},
    {"What makes a desert?", "Do deserts grow?", "What lives there?"},
    {"Why do forests burn?", "Is fire ever good for them?", "How do they regrow?"},
};

struct worker {
    llm_session_t *s;
    int idx;
    float *want[N_TURNS]; /* prompt logits without the cache */
    int mismatches, failures, reused;
};

/* Turn k of conversation idx: the shared system prompt and k earlier exchanges. */
static size_t conversation(int idx, int k, struct chatml_msg *msgs)
{
    size_t n = 0;
    msgs[n++] = (struct chatml_msg){"system", sys_a};
    for (int i = 0; i <= k; i++) {
        msgs[n++] = (struct chatml_msg){"user", questions[idx][i]};
        if (i < k) msgs[n++] = (struct chatml_msg){"assistant", "It depends on the place [1]."};
    }
    return n;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    size_t V = (size_t)model_config(w->s->m->model)->n_vocab;
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    gp.sampling.greedy = 1;
    for (int k = 0; k < N_TURNS; k++) {
        struct chatml_msg msgs[2 * N_TURNS + 1];
        size_t n = conversation(w->idx, k, msgs);
        struct llm_gen_result r;
        gp.n_predict = 0;
        if (llm_chat(w->s, msgs, n, 0, &gp, NULL, NULL, &r)) {
            w->failures++;
            continue;
        }
        w->reused += r.n_cached;
        llm_gen_result_free(&r);
        if (memcmp(llm_session_logits(w->s), w->want[k], V * sizeof(float))) w->mismatches++;
        gp.n_predict = 10; /* decoding steps batched with the other threads' */
        if (llm_chat(w->s, msgs, n, 0, &gp, NULL, NULL, &r))
            w->failures++;
        else
            llm_gen_result_free(&r);
    }
    return NULL;
}

static void test_concurrent_sessions(void **state)
{
    (void)state;
    llm_model_t *plain = load(0), *m = load((size_t)64 << 20);
    size_t V = (size_t)model_config(plain->model)->n_vocab;
    struct worker w[N_THREADS];
    llm_session_t *ref;
    assert_int_equal(llm_session_create(plain, 512, &ref), 0);
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    gp.n_predict = 0;
    for (int i = 0; i < N_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].idx = i;
        assert_int_equal(llm_session_create(m, 512, &w[i].s), 0);
        for (int k = 0; k < N_TURNS; k++) {
            struct chatml_msg msgs[2 * N_TURNS + 1];
            size_t n = conversation(i, k, msgs);
            struct llm_gen_result r;
            assert_int_equal(llm_chat(ref, msgs, n, 0, &gp, NULL, NULL, &r), 0);
            assert_int_equal(r.n_cached, 0);
            llm_gen_result_free(&r);
            w[i].want[k] = malloc(V * sizeof(float));
            memcpy(w[i].want[k], llm_session_logits(ref), V * sizeof(float));
        }
    }
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    int reused = 0;
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(w[i].failures, 0);
        assert_int_equal(w[i].mismatches, 0);
        reused += w[i].reused;
        for (int k = 0; k < N_TURNS; k++)
            free(w[i].want[k]);
        llm_session_free(w[i].s);
    }
    /* every thread's later turns, and the first turns that found the shared system prompt */
    assert_true(reused >= N_THREADS * (N_TURNS - 1) * LLM_PREFIX_ALIGN);
    struct llm_prefix_stats st;
    llm_model_prefix_stats(m, &st);
    assert_true(st.hits >= (uint64_t)(N_THREADS * (N_TURNS - 1)));
    assert_true(st.bytes <= st.budget);
    llm_session_free(ref);
    llm_model_free(m);
    llm_model_free(plain);
}

static int setup(void **state)
{
    (void)state;
    return tiny_fixture_write("prefix-test", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_turn_identical),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_chunks_shared_and_spare),
        cmocka_unit_test(test_concurrent_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
