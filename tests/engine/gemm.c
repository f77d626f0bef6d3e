/* The tiled prompt kernels (quant_gemm_kernel) against the single-row dot kernel on random
 * data: panel edges (row counts that are not multiples of 16 or 64, activation row counts that
 * are not multiples of 4 or 8), column counts that end inside a 512-column panel, rows of many
 * panel column chunks, and no write outside the n_w x n_act outputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#define SENTINEL -12345.0f

/* n_w weight rows x n_act activation rows of n columns; K types must match bit for bit (a
 * prompt's logits equal those of feeding it token by token), Q8_0 up to float rounding. */
static void check(uint32_t type, int n_w, int n_act, size_t n)
{
    enum quant_isa isa = quant_best_isa();
    quant_gemm_fn g = quant_gemm_kernel(type, isa);
    if (!g) {
        print_message("no tiled %s kernel on %s: skipped\n", quant_type_info(type)->name,
                      quant_isa_name(isa));
        return;
    }
    quant_dot_fn dot = quant_dot_kernel(type, isa);
    enum act_kind kind = quant_act_kind(type);
    size_t wb = quant_row_bytes(type, n), ab = quant_act_row_bytes(kind, n) + 8;
    size_t ostride = (size_t)n_w + 3;
    uint8_t *w = malloc(wb * (size_t)n_w), *a = malloc(ab * (size_t)n_act);
    float *x = malloc(n * sizeof *x), *out = malloc(ostride * ((size_t)n_act + 1) * sizeof *out);
    for (int r = 0; r < n_w; r++) {
        float scale = 0.1f + (float)(r % 7);
        for (size_t i = 0; i < n; i++)
            x[i] = frand() * scale;
        assert_int_equal(quant_quantize_row(type, x, w + (size_t)r * wb, n), 0);
    }
    for (int t = 0; t < n_act; t++) {
        float scale = 0.5f + (float)(t % 5);
        for (size_t i = 0; i < n; i++)
            x[i] = frand() * scale;
        quant_act_quantize(kind, x, a + (size_t)t * ab, n);
    }
    for (size_t i = 0; i < ostride * ((size_t)n_act + 1); i++)
        out[i] = SENTINEL;
    g(w, wb, n_w, a, ab, n_act, out, ostride, n);
    int exact = type != GGML_TYPE_Q8_0;
    for (int t = 0; t <= n_act; t++) {
        for (size_t r = 0; r < ostride; r++) {
            float o = out[(size_t)t * ostride + r];
            if (t == n_act || r >= (size_t)n_w) {
                if (o != SENTINEL)
                    fail_msg("%s %d x %d x %zu: wrote outside at [%d][%zu]",
                             quant_type_info(type)->name, n_w, n_act, n, t, r);
                continue;
            }
            float ref = dot(w + r * wb, a + (size_t)t * ab, n);
            int bad = exact ? memcmp(&o, &ref, sizeof o) != 0
                            : !(fabsf(o - ref) <= 1e-4f * (fabsf(ref) + 1.0f));
            if (bad)
                fail_msg("%s %d x %d x %zu: [%zu][%d] %.9g vs dot %.9g",
                         quant_type_info(type)->name, n_w, n_act, n, r, t, o, ref);
        }
    }
    free(w);
    free(a);
    free(x);
    free(out);
}

static void test_q8_0(void **state)
{
    (void)state;
    static const int rows[] = {1, 5, 16, 17, 31, 64, 70};
    static const int acts[] = {1, 3, 4, 6, 9};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        for (size_t j = 0; j < sizeof acts / sizeof acts[0]; j++)
            check(GGML_TYPE_Q8_0, rows[i], acts[j], 32 * 21); /* one panel and a 160 tail */
    check(GGML_TYPE_Q8_0, 33, 13, 32);
    check(GGML_TYPE_Q8_0, 64, 8, 2048);
}

static void test_k_types(void **state)
{
    (void)state;
    static const uint32_t types[] = {GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    static const int rows[] = {1, 5, 17};
    static const int acts[] = {1, 2, 7, 8, 9, 15};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
            for (size_t j = 0; j < sizeof acts / sizeof acts[0]; j++)
                check(types[k], rows[i], acts[j], 768);
        check(types[k], 64, 16, 2048);
        check(types[k], 3, 5, 256 * 33); /* 17 column chunks, the last one half full */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_k_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
