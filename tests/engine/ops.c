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
    struct quant_att kern = quant_att_kernel(isa);
    float scale = 1.0f / sqrtf((float)hd);
    ops_attention_tiled(q, a, npos, nq, k, v, stride, hd, scale, &kern, scratch);
    ops_attention_ref(q, b, npos, nq, k, v, stride, hd, scale, &kern, scratch);
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

/* One ISA's attention passes against one F32 dot or axpy call of that ISA per query and row,
 * bit for bit: query counts 1-8 with uneven, unsorted npos, head sizes that are and are not
 * multiples of a 512-bit vector, row ranges that start inside the rows; nothing outside a
 * query's rows is written. */
static void check_att_passes(enum quant_isa isa, int hd, int nq, int p0, int p1, uint64_t seed)
{
    enum { ROWS = 300, LD = 320 };
    size_t stride = (size_t)hd * 3 + 16;
    float *k = malloc(ROWS * stride * sizeof(float)), *v = malloc(ROWS * stride * sizeof(float));
    float *qs = malloc((size_t)nq * hd * sizeof(float));
    float *sc[2], *os[2];
    for (int x = 0; x < 2; x++) {
        sc[x] = malloc((size_t)nq * LD * sizeof(float));
        os[x] = malloc((size_t)nq * hd * sizeof(float));
    }
    for (size_t i = 0; i < ROWS * stride; i++) {
        k[i] = frand(&seed);
        v[i] = frand(&seed);
    }
    for (size_t i = 0; i < (size_t)nq * hd; i++)
        qs[i] = frand(&seed);
    const float *q[8];
    float *o[2][8];
    int npos[8];
    for (int i = 0; i < nq; i++) {
        q[i] = qs + (size_t)i * hd;
        o[0][i] = os[0] + (size_t)i * hd;
        o[1][i] = os[1] + (size_t)i * hd;
        /* some queries end before p0, some inside [p0, p1), some after */
        npos[i] = 1 + (int)((frand(&seed) + 1) * 0.5f * (ROWS - 1));
    }
    for (int x = 0; x < 2; x++) {
        for (size_t i = 0; i < (size_t)nq * LD; i++)
            sc[x][i] = 1e30f; /* untouched outside the rows */
        for (size_t i = 0; i < (size_t)nq * hd; i++)
            os[x][i] = 0.25f * (float)(i % 7);
    }
    float scale = 0.125f;
    struct quant_att kern = quant_att_kernel(isa);
    quant_dot_fn dot = quant_dot_kernel(GGML_TYPE_F32, isa);
    quant_axpy_fn axpy = quant_axpy_kernel(isa);
    kern.scores(k, v, stride, p0, p1, q, npos, nq, hd, scale, sc[0], LD);
    for (int i = 0; i < nq; i++)
        for (int p = p0; p < p1 && p < npos[i]; p++)
            sc[1][(size_t)i * LD + (size_t)(p - p0)] =
                dot(k + (size_t)p * stride, q[i], (size_t)hd) * scale;
    if (memcmp(sc[0], sc[1], (size_t)nq * LD * sizeof(float)))
        fail_msg("%s scores differ: hd %d nq %d rows [%d, %d)", quant_isa_name(isa), hd, nq, p0,
                 p1);
    /* weights of either sign from the scores, so cancellation would show an order change */
    kern.wsum(v, stride, p0, p1, o[0], npos, nq, hd, sc[1], LD);
    for (int p = p0; p < p1; p++)
        for (int i = 0; i < nq; i++)
            if (p < npos[i])
                axpy(o[1][i], sc[1][(size_t)i * LD + (size_t)(p - p0)], v + (size_t)p * stride,
                     (size_t)hd);
    if (memcmp(os[0], os[1], (size_t)nq * hd * sizeof(float)))
        fail_msg("%s weighted sums differ: hd %d nq %d rows [%d, %d)", quant_isa_name(isa), hd, nq,
                 p0, p1);
    for (int x = 0; x < 2; x++) {
        free(os[x]);
        free(sc[x]);
    }
    free(qs);
    free(v);
    free(k);
}

static void test_att_passes(void **state)
{
    (void)state;
    static const int hds[] = {16, 40, 64, 80, 128, 144, 256};
    static const int ranges[][2] = {{0, 300}, {0, 1}, {64, 128}, {100, 300}, {290, 300}};
    uint64_t seed = 3;
    for (int isa = QUANT_ISA_PORTABLE; isa <= (int)quant_best_isa(); isa++)
        for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
            for (int nq = 1; nq <= 8; nq++)
                for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++)
                    check_att_passes((enum quant_isa)isa, hds[h], nq, ranges[r][0], ranges[r][1],
                                     seed++);
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
        cmocka_unit_test(test_att_passes),
        cmocka_unit_test(test_model_long_prompt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
