/* Sampler and chat helpers: greedy, top-k/top-p/min-p truncation, repetition penalty, seeded
 * reproducibility, ChatML formatting with Qwen3's thinking switch, thinking removal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/chatml.h"
#include "engine/sampler.h"

#define V 100

static void fill(float *l)
{
    for (int i = 0; i < V; i++)
        l[i] = (float)(i % 10) * 0.1f;
    l[42] = 5.0f;
    l[7] = 4.5f;
    l[3] = 4.0f;
}

static sampler_t *mk(struct sampler_params *p)
{
    sampler_t *s;
    assert_int_equal(sampler_create(p, V, &s), 0);
    return s;
}

static void test_greedy_and_params(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_params_default(&p);
    assert_true(p.temperature == 0.7f && p.top_p == 0.9f && p.top_k == 40 &&
                p.repeat_penalty == 1.05f);
    p.greedy = 1;
    sampler_t *s = mk(&p);
    float l[V];
    fill(l);
    assert_int_equal(sampler_sample(s, l), 42);
    sampler_free(s);
    sampler_t *bad;
    p.top_p = 0;
    assert_int_equal(sampler_create(&p, V, &bad), RAGD_EINVAL);
    p.top_p = 1;
    p.temperature = -1;
    assert_int_equal(sampler_create(&p, V, &bad), RAGD_EINVAL);
}

static void test_truncation(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_params_default(&p);
    p.repeat_penalty = 1;
    p.temperature = 1;
    p.top_p = 1;
    p.top_k = 2; /* only 42 and 7 may come out */
    sampler_t *s = mk(&p);
    int seen[V] = {0};
    for (int i = 0; i < 2000; i++) {
        float l[V];
        fill(l);
        seen[sampler_sample(s, l)]++;
    }
    assert_int_equal(seen[42] + seen[7], 2000);
    /* p(42)/p(7) = e^0.5 = 1.65 */
    assert_true(seen[42] > seen[7] * 1.3 && seen[42] < seen[7] * 2.1);
    sampler_free(s);
    /* top-p 0.3 keeps only the most likely token (its mass is e^5 / ~443 = 0.33) */
    p.top_k = 0;
    p.top_p = 0.3f;
    s = mk(&p);
    for (int i = 0; i < 200; i++) {
        float l[V];
        fill(l);
        assert_int_equal(sampler_sample(s, l), 42);
    }
    sampler_free(s);
    /* min-p 0.5: tokens below half of the best one's probability are dropped: 42, 7 remain */
    p.top_p = 1;
    p.min_p = 0.5f;
    s = mk(&p);
    for (int i = 0; i < 500; i++) {
        float l[V];
        fill(l);
        int t = sampler_sample(s, l);
        assert_true(t == 42 || t == 7);
    }
    sampler_free(s);
}

static void test_penalty_and_seed(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_params_default(&p);
    p.greedy = 1;
    p.repeat_penalty = 2.0f;
    sampler_t *s = mk(&p);
    float l[V];
    fill(l);
    sampler_accept(s, 42); /* 5.0 / 2 = 2.5 < 4.5 */
    assert_int_equal(sampler_sample(s, l), 7);
    assert_true(l[42] == 2.5f);
    sampler_reset(s);
    fill(l);
    assert_int_equal(sampler_sample(s, l), 42);
    sampler_free(s);

    sampler_params_default(&p);
    p.top_k = 0;
    p.top_p = 1;
    p.temperature = 3;
    p.seed = 9;
    int a[64], b[64], c[64];
    for (int run = 0; run < 3; run++) {
        if (run == 2) p.seed = 10;
        s = mk(&p);
        for (int i = 0; i < 64; i++) {
            fill(l);
            (run == 0 ? a : run == 1 ? b : c)[i] = sampler_sample(s, l);
        }
        sampler_free(s);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

/* Logit bias, presence and frequency penalties change the logits exactly as OpenAI defines
 * them; the defaults leave them (and so greedy output) untouched. */
static void test_bias_and_openai_penalties(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_params_default(&p);
    p.greedy = 1;
    p.repeat_penalty = 1;
    /* defaults: bit-identical logits and the argmax */
    sampler_t *s = mk(&p);
    float l[V], ref[V];
    fill(l);
    fill(ref);
    sampler_accept(s, 42);
    sampler_accept(s, 42);
    assert_int_equal(sampler_sample(s, l), 42);
    assert_memory_equal(l, ref, sizeof l);
    sampler_free(s);
    /* logit_bias: +2 on token 3 makes it win (4 + 2 > 5); -100 bans 42 */
    struct sampler_bias b[] = {{3, 2.0f}, {42, -100.0f}, {V + 5, 50.0f}};
    p.bias = b;
    p.n_bias = 1;
    s = mk(&p);
    fill(l);
    assert_int_equal(sampler_sample(s, l), 3);
    assert_true(l[3] == ref[3] + 2.0f && l[42] == ref[42]);
    sampler_free(s);
    p.bias = b + 1;
    p.n_bias = 2; /* an id outside the vocabulary is ignored */
    s = mk(&p);
    fill(l);
    assert_int_equal(sampler_sample(s, l), 7);
    assert_true(l[42] == ref[42] - 100.0f);
    sampler_free(s);
    p.bias = NULL;
    p.n_bias = 0;
    /* frequency: logit -= count * f; presence: logit -= p once */
    p.frequency_penalty = 0.3f;
    p.presence_penalty = 0.25f;
    s = mk(&p);
    sampler_accept(s, 42);
    sampler_accept(s, 42);
    sampler_accept(s, 7);
    fill(l);
    assert_int_equal(sampler_sample(s, l), 42); /* 5 - 0.85 = 4.15 > 4.5 - 0.55 = 3.95 */
    assert_true(l[42] == ref[42] - (2 * 0.3f + 0.25f));
    assert_true(l[7] == ref[7] - (1 * 0.3f + 0.25f));
    assert_true(l[3] == ref[3]);
    sampler_accept(s, 42); /* a third 42: 5 - 1.15 = 3.85; 7 at 3.95: the untouched 3 wins */
    fill(l);
    assert_int_equal(sampler_sample(s, l), 3);
    sampler_free(s);
    /* negative penalties encourage repetition */
    p.frequency_penalty = -1.5f;
    p.presence_penalty = 0;
    s = mk(&p);
    sampler_accept(s, 3);
    fill(l);
    assert_int_equal(sampler_sample(s, l), 3); /* 4 + 1.5 > 5 */
    sampler_free(s);
    p.frequency_penalty = 3; /* out of range */
    sampler_t *bad;
    assert_int_equal(sampler_create(&p, V, &bad), RAGD_EINVAL);
}

/* A logit masked to -inf (constrained decoding masks before sampling) stays -inf through the
 * logit bias and every penalty, so the token is never sampled; a bias that is not finite is
 * refused. */
static void test_masked_logits_stay_masked(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_params_default(&p);
    p.temperature = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.repeat_penalty = 1.3f;
    p.frequency_penalty = -2;
    p.presence_penalty = -2;
    struct sampler_bias b[] = {{42, 100.0f}, {7, 100.0f}};
    p.bias = b;
    p.n_bias = 2;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        p.seed = seed;
        sampler_t *s = mk(&p);
        sampler_accept(s, 42);
        sampler_accept(s, 42);
        sampler_accept(s, 7);
        float l[V];
        fill(l);
        for (int i = 0; i < V; i++)
            if (i != 3 && i != 11) l[i] = -INFINITY; /* only 3 and 11 may follow */
        int32_t t = sampler_sample(s, l);
        assert_true(t == 3 || t == 11);
        assert_true(isinf(l[42]) && l[42] < 0 && isinf(l[7]) && l[7] < 0);
        sampler_free(s);
    }
    p.greedy = 1;
    sampler_t *s = mk(&p);
    sampler_accept(s, 42);
    float l[V];
    fill(l);
    for (int i = 0; i < V; i++)
        if (i != 11) l[i] = -INFINITY;
    assert_int_equal(sampler_sample(s, l), 11);
    sampler_free(s);
    sampler_t *bad;
    b[1].bias = INFINITY;
    assert_int_equal(sampler_create(&p, V, &bad), RAGD_EINVAL);
    b[1].bias = NAN;
    assert_int_equal(sampler_create(&p, V, &bad), RAGD_EINVAL);
}

/* min-p and top-k cut the distribution as llama.cpp does; logprobs are a log-softmax. */
static void test_min_p_top_k_and_logprobs(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_params_default(&p);
    p.repeat_penalty = 1;
    p.temperature = 1;
    p.top_p = 1;
    p.top_k = 0;
    /* min_p 0.5: p(7)/p(42) = e^-0.5 = 0.61 stays, p(3)/p(42) = e^-1 = 0.37 goes */
    p.min_p = 0.5f;
    sampler_t *s = mk(&p);
    int seen[V] = {0};
    for (int i = 0; i < 1000; i++) {
        float l[V];
        fill(l);
        seen[sampler_sample(s, l)]++;
    }
    assert_int_equal(seen[42] + seen[7], 1000);
    assert_true(seen[7] > 200);
    sampler_free(s);
    /* top_k 1 is greedy */
    p.min_p = 0;
    p.top_k = 1;
    s = mk(&p);
    for (int i = 0; i < 100; i++) {
        float l[V];
        fill(l);
        assert_int_equal(sampler_sample(s, l), 42);
    }
    float l[V], lp, top_lp[3];
    int32_t top[3];
    fill(l);
    double z = 0;
    for (int i = 0; i < V; i++)
        z += exp(l[i]);
    sampler_logprobs(s, l, 7, &lp, 3, top, top_lp);
    assert_true(fabs(lp - (4.5 - log(z))) < 1e-4);
    assert_int_equal(top[0], 42);
    assert_int_equal(top[1], 7);
    assert_int_equal(top[2], 3);
    assert_true(fabs(top_lp[0] - (5.0 - log(z))) < 1e-4 && top_lp[1] == lp);
    sampler_free(s);
}

static void test_chat(void **state)
{
    (void)state;
    struct chatml_msg m[] = {{"system", "Be brief."}, {"user", "Hi"}};
    char *s = chatml_format(m, 2, 1, 0);
    assert_string_equal(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi"
                           "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    free(s);
    s = chatml_format(m + 1, 1, 1, 1);
    assert_string_equal(s, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    free(s);
    const char *t = "<think>\nLet me see.\n</think>\n\nThe answer is 4.";
    size_t n;
    s = chatml_strip_thinking(t, strlen(t), &n);
    assert_string_equal(s, "The answer is 4.");
    assert_int_equal(n, 16);
    free(s);
    t = "No thinking here.";
    s = chatml_strip_thinking(t, strlen(t), NULL);
    assert_string_equal(s, t);
    free(s);
    t = "A<think>unterminated";
    s = chatml_strip_thinking(t, strlen(t), NULL);
    assert_string_equal(s, "A");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_params),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_penalty_and_seed),
        cmocka_unit_test(test_bias_and_openai_penalties),
        cmocka_unit_test(test_masked_logits_stay_masked),
        cmocka_unit_test(test_min_p_top_k_and_logprobs),
        cmocka_unit_test(test_chat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
