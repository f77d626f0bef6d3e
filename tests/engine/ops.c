/* Tiled (online-softmax) attention against the full-softmax reference: the kernel alone on
 * random data at lengths around the key-block boundaries and at 1-2k keys, and a tiny model's
 * logits for a 1,200-token prompt with the tiled path on and off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/engine/model.c"
#include "tools/mktiny.h"
#include "engine/ops.h"

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

static void check_kernel(int n, int hd, int nq, enum quant_isa isa)
{
    uint64_t seed = (uint64_t)n * 31 + (uint64_t)nq;
    size_t stride = (size_t)hd * 2; /* rows interleaved with another head's, as in the cache */
    float *k = malloc((size_t)n * stride * sizeof(float));
    float *v = malloc((size_t)n * stride * sizeof(float));
    float *qs = malloc((size_t)nq * hd * sizeof(float));
    float *o1 = malloc((size_t)nq * hd * sizeof(float)),
          *o2 = malloc((size_t)nq * hd * sizeof(float));
    float *scratch = malloc(((size_t)n * nq + OPS_ATT_SCRATCH(nq)) * sizeof(float));
    for (size_t i = 0; i < (size_t)n * stride; i++) {
        k[i] = 3 * frand(&seed); /* large enough scores that the running max moves */
        v[i] = frand(&seed);
    }
    for (size_t i = 0; i < (size_t)nq * hd; i++)
        qs[i] = frand(&seed);
    const float *q[16];
    float *a[16], *b[16];
    int npos[16];
    for (int i = 0; i < nq; i++) {
        q[i] = qs + (size_t)i * hd;
        a[i] = o1 + (size_t)i * hd;
        b[i] = o2 + (size_t)i * hd;
        npos[i] = n - (nq - 1 - i); /* causal: the queries of consecutive tokens */
        if (npos[i] < 1) npos[i] = 1;
    }
    quant_dot_fn dot = quant_dot_kernel(GGML_TYPE_F32, isa);
    quant_axpy_fn axpy = quant_axpy_kernel(isa);
    float scale = 1.0f / sqrtf((float)hd);
    ops_attention_tiled(q, a, npos, nq, k, v, stride, hd, scale, dot, axpy, scratch);
    ops_attention_ref(q, b, npos, nq, k, v, stride, hd, scale, dot, axpy, scratch);
    double worst = 0;
    for (size_t i = 0; i < (size_t)nq * hd; i++)
        worst = fmax(worst, fabs((double)o1[i] - o2[i]));
    if (worst > 2e-6) fail_msg("n %d nq %d: tiled vs reference differ by %g", n, nq, worst);
    free(scratch);
    free(o2);
    free(o1);
    free(qs);
    free(v);
    free(k);
}

static void test_kernel(void **state)
{
    (void)state;
    static const int lens[] = {1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 193, 1000, 1024, 2048};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
        for (int nq = 1; nq <= 8; nq *= 2) {
            check_kernel(lens[i], 64, nq, quant_best_isa());
            check_kernel(lens[i], 128, nq, QUANT_ISA_PORTABLE);
        }
}

/* A tiny qwen3 model (f32 weights) over a 1,200-token prompt: logits of every position with
 * tiled attention equal those with the full-softmax path up to rounding, and so do the greedy
 * tokens. */
static void test_model_long_prompt(void **state)
{
    (void)state;
    char dir[] = "/tmp/ragd-ops-XXXXXX", path[128], err[256] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/qwen3.gguf", dir);
    struct mktiny_opts mo = {
        .arch = "qwen3", .out = path, .type = GGML_TYPE_F32, .seed = 5, .shape = "tiny"};
    if (mktiny_write(&mo, err, sizeof err)) fail_msg("mktiny: %s", err);
    model_t *m;
    if (model_load(path, 0, &m, err, sizeof err)) fail_msg("load: %s", err);
    const struct model_config *c = model_config(m);
    enum { N = 1200, CTX = 1280 };
    int32_t *toks = malloc(N * sizeof *toks);
    uint64_t seed = 11;
    for (int i = 0; i < N; i++)
        toks[i] = (int32_t)((frand(&seed) + 1) * 0.5f * (c->n_vocab - 1));
    size_t V = (size_t)c->n_vocab;
    float *lg[2];
    pool_t *pool;
    assert_int_equal(pool_create(2, &pool), 0);
    for (int pass = 0; pass < 2; pass++) {
        att_tiled_min = pass ? INT_MAX : ATT_TILED_MIN;
        model_state_t *s;
        assert_int_equal(model_state_create(m, CTX, 64, pool, quant_best_isa(), &s), 0);
        lg[pass] = malloc((size_t)N * V * sizeof(float));
        assert_int_equal(model_forward(s, toks, N, lg[pass], 1), 0);
        model_state_free(s);
    }
    att_tiled_min = ATT_TILED_MIN;
    double scale = 0, worst = 0;
    int argmax_differ = 0;
    for (size_t i = 0; i < (size_t)N * V; i++) {
        scale = fmax(scale, fabs(lg[0][i]));
        worst = fmax(worst, fabs((double)lg[0][i] - lg[1][i]));
    }
    for (int t = 0; t < N; t++) {
        int a = 0, b = 0;
        for (size_t i = 1; i < V; i++) {
            a = lg[0][t * V + i] > lg[0][t * V + a] ? (int)i : a;
            b = lg[1][t * V + i] > lg[1][t * V + b] ? (int)i : b;
        }
        argmax_differ += a != b;
    }
    assert_true(scale > 0.1);
    if (worst > 1e-4 * scale) fail_msg("tiled vs full attention: %g (scale %g)", worst, scale);
    assert_true(argmax_differ <= 2); /* near-ties only */
    free(lg[1]);
    free(lg[0]);
    free(toks);
    pool_free(pool);
    model_free(m);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel),
        cmocka_unit_test(test_model_long_prompt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
