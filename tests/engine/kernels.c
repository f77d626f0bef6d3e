/* The kernel table and the start-up choice of decode kernels: the 512-bit single-row kernels
 * give the 256-bit ones' results bit for bit (random rows, odd block counts) and stay close to
 * the portable ones; the CPU model picks the width (Zen 4 256, Zen 5 512, RAGD_VECTOR_BITS
 * first, timing for an unknown model); every table slot agrees with the lookups. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/quant.h"
#include "engine/quant_int.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static const struct quant_isa_kernels *avx512_row(uint32_t type)
{
    for (const struct quant_isa_kernels *k = quant_x86_kernels(QUANT_ISA_AVX512); k->dot; k++)
        if (k->type == type) return k;
    return NULL;
}

static void require_avx512(void)
{
    if (quant_cpu_isa() < QUANT_ISA_AVX512) {
        print_message("no AVX-512 VNNI here: 512-bit kernels not run\n");
        skip();
    }
}

/* Every 512-bit kernel against its 256-bit twin (bit for bit) and the portable kernel (to
 * rounding), for block counts from 1 up, odd ones included, with some extreme rows: weights at
 * the int8 limits, all-zero activation blocks. */
static void test_wide_kernels(void **state)
{
    (void)state;
    require_avx512();
    const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    const size_t max_n = 256 * 9;
    float *w = malloc(max_n * sizeof(float)), *x = malloc(max_n * sizeof(float));
    uint8_t *wq = malloc(max_n * 2), *act = malloc(quant_act_row_bytes(ACT_QA8K, max_n));
    int checked = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t type = types[ti];
        const struct quant_isa_kernels *k = avx512_row(type);
        assert_non_null(k);
        if (!k->dot_512) { /* the K types keep 256 bits without GFNI and AVX512-VBMI */
            assert_true(type != GGML_TYPE_Q8_0 && !quant_x86_has_gfni_vbmi());
            continue;
        }
        size_t blk = quant_type_info(type)->block;
        quant_dot_fn portable = quant_dot_kernel(type, QUANT_ISA_PORTABLE);
        for (size_t nb = 1; nb * blk <= max_n; nb += (blk == 32 ? 3 : 1)) {
            size_t n = nb * blk;
            for (int rep = 0; rep < 6; rep++) {
                for (size_t i = 0; i < n; i++) {
                    w[i] = frand() * (float)(rep + 1);
                    x[i] = frand() * (float)(1 + 7 * rep);
                }
                if (rep == 4) /* large weights: q8_0 reaches -127 and 127, K types 15 and 63 */
                    for (size_t i = 0; i < n; i += 2)
                        w[i] = i % 4 ? 100.0f : -100.0f;
                if (rep == 5) /* an all-zero activation block and one of ties */
                    for (size_t i = 0; i < blk && i < n; i++)
                        x[i] = 0, x[n - 1 - i] = (float)(i % 7) - 3.5f;
                assert_int_equal(quant_quantize_row(type, w, wq, n), 0);
                quant_act_quantize(quant_act_kind(type), x, act, n);
                float narrow = k->dot(wq, act, n), wide = k->dot_512(wq, act, n);
                float ref = portable(wq, act, n);
                if (memcmp(&narrow, &wide, sizeof wide))
                    fail_msg("%s n=%zu rep %d: 512-bit %.9g vs 256-bit %.9g",
                             quant_type_info(type)->name, n, rep, wide, narrow);
                if (fabsf(wide - ref) > 1e-5f * (fabsf(ref) + 1.0f) * 10)
                    fail_msg("%s n=%zu rep %d: 512-bit %.9g vs portable %.9g",
                             quant_type_info(type)->name, n, rep, wide, ref);
                checked++;
            }
        }
    }
    assert_true(checked > 100);
    free(w);
    free(x);
    free(wq);
    free(act);
}

/* Every 512-bit multi-row kernel against its 256-bit twin and against the 512-bit single-row
 * kernel, bit for bit: one to seven activation rows, block counts from 1 up (whole groups of
 * four blocks and the blocks after them). */
static void test_wide_multi_kernels(void **state)
{
    (void)state;
    require_avx512();
    const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    const size_t max_n = 256 * 9;
    enum { ROWS = 7 };
    float *w = malloc(max_n * sizeof(float)), *x = malloc(max_n * sizeof(float));
    size_t stride = quant_act_row_bytes(ACT_QA8K, max_n) + 64;
    uint8_t *wq = malloc(max_n * 2), *act = malloc(stride * ROWS);
    int checked = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const struct quant_isa_kernels *k = avx512_row(types[ti]);
        assert_non_null(k);
        if (!k->dot_multi_512) { /* none for q8_0; the K types need GFNI and AVX512-VBMI */
            assert_true(types[ti] == GGML_TYPE_Q8_0 || !quant_x86_has_gfni_vbmi());
            continue;
        }
        assert_non_null(k->dot_multi);
        size_t blk = quant_type_info(types[ti])->block;
        for (size_t nb = 1; nb * blk <= max_n; nb++) {
            size_t n = nb * blk;
            for (size_t i = 0; i < n; i++)
                w[i] = frand() * (float)(nb % 3 + 1);
            if (nb % 4 == 0) /* large weights: the ends of the nibble range */
                for (size_t i = 0; i < n; i += 2)
                    w[i] = i % 4 ? 100.0f : -100.0f;
            assert_int_equal(quant_quantize_row(types[ti], w, wq, n), 0);
            for (int t = 0; t < ROWS; t++) {
                for (size_t i = 0; i < n; i++)
                    x[i] = frand() * (float)(1 + 5 * t);
                quant_act_quantize(quant_act_kind(types[ti]), x, act + (size_t)t * stride, n);
            }
            for (int na = 1; na <= ROWS; na++) {
                float narrow[ROWS], wide[ROWS];
                k->dot_multi(wq, act, stride, na, narrow, n);
                k->dot_multi_512(wq, act, stride, na, wide, n);
                for (int t = 0; t < na; t++) {
                    float one = k->dot_512(wq, act + (size_t)t * stride, n);
                    if (memcmp(&narrow[t], &wide[t], sizeof wide[t]) ||
                        memcmp(&one, &wide[t], sizeof one))
                        fail_msg("%s n=%zu rows %d row %d: 512-bit multi %.9g, 256-bit multi "
                                 "%.9g, 512-bit single %.9g",
                                 quant_type_info(types[ti])->name, n, na, t, wide[t], narrow[t],
                                 one);
                    checked++;
                }
            }
        }
    }
    if (!quant_x86_has_gfni_vbmi())
        print_message("no GFNI and AVX512-VBMI here: no 512-bit multi-row kernels\n");
    else
        assert_true(checked > 200);
    free(w);
    free(x);
    free(wq);
    free(act);
}

static double fake_ns[2]; /* what the fake timer reports for 256 and 512 bits */
static int fake_calls;
static double fake_time(int bits)
{
    fake_calls++;
    return fake_ns[bits == 512];
}

static void test_width_by_cpu(void **state)
{
    (void)state;
    struct quant_cpu zen4 = {.amd = 1, .family = 0x19, .model = 0x11};
    struct quant_cpu zen5 = {.amd = 1, .family = 0x1a, .model = 0x02};
    struct quant_cpu spr = {.intel = 1, .family = 6, .model = 0x8f};
    struct quant_cpu skx = {.intel = 1, .family = 6, .model = 0x55};
    struct quant_cpu zen3 = {.amd = 1, .family = 0x19 - 2, .model = 0};
    assert_int_equal(quant_width_for_cpu(&zen4), 256);
    assert_int_equal(quant_width_for_cpu(&zen5), 512);
    assert_int_equal(quant_width_for_cpu(&spr), 512);
    assert_int_equal(quant_width_for_cpu(&skx), 0); /* Skylake server: measured */
    assert_int_equal(quant_width_for_cpu(&zen3), 0);

    struct quant_decode_choice c;
    fake_calls = 0;
    quant_choose_width(&zen5, NULL, 1, fake_time, &c);
    assert_int_equal(c.bits, 512);
    assert_int_equal(c.why, QUANT_WHY_MODEL);
    quant_choose_width(&zen4, NULL, 1, fake_time, &c);
    assert_int_equal(c.bits, 256);
    assert_int_equal(c.why, QUANT_WHY_MODEL);
    assert_int_equal(fake_calls, 0); /* a known model is not timed */

    /* the environment wins over the model; nonsense values are ignored */
    quant_choose_width(&zen5, "256", 1, fake_time, &c);
    assert_int_equal(c.bits, 256);
    assert_int_equal(c.why, QUANT_WHY_ENV);
    quant_choose_width(&zen4, "512", 1, fake_time, &c);
    assert_int_equal(c.bits, 512);
    quant_choose_width(&zen4, "1024", 1, fake_time, &c);
    assert_int_equal(c.bits, 256);
    assert_int_equal(c.why, QUANT_WHY_MODEL);

    /* without AVX-512 there is nothing to choose, whatever is asked */
    quant_choose_width(&zen5, "512", 0, fake_time, &c);
    assert_int_equal(c.bits, 256);
    assert_int_equal(c.why, QUANT_WHY_NO_AVX512);

    /* an unknown model is timed: the faster width wins */
    fake_ns[0] = 1000, fake_ns[1] = 900;
    quant_choose_width(&skx, NULL, 1, fake_time, &c);
    assert_int_equal(c.bits, 512);
    assert_int_equal(c.why, QUANT_WHY_TIMING);
    assert_true(fake_calls > 0);
    assert_true(c.ns_256 == 1000 && c.ns_512 == 900);
    fake_ns[0] = 800;
    quant_choose_width(&skx, NULL, 1, fake_time, &c);
    assert_int_equal(c.bits, 256);
    /* the real timer measures both widths in well under a millisecond a pass */
    if (quant_cpu_isa() >= QUANT_ISA_AVX512) {
        double a = quant_time_width(256), b = quant_time_width(512);
        print_message("timing pass: 256-bit %.0f ns, 512-bit %.0f ns\n", a, b);
        assert_true(a > 0 && b > 0);
    }
    /* and without a timer it keeps 256 bits */
    quant_choose_width(&skx, NULL, 1, NULL, &c);
    assert_int_equal(c.bits, 256);
}

/* The table's AVX-512 dot slots hold the kernels of the width chosen at start, and every
 * public lookup reads the table. */
static void test_table(void **state)
{
    (void)state;
    const struct quant_decode_choice *c = quant_decode_choice();
    char line[200];
    print_message("kernels: %s\n", quant_kernels_describe(line, sizeof line));
    struct quant_cpu id;
    quant_cpu_ident(&id);
    if (quant_cpu_isa() >= QUANT_ISA_AVX512 && !getenv("RAGD_VECTOR_BITS") &&
        quant_width_for_cpu(&id))
        assert_int_equal(c->bits, quant_width_for_cpu(&id));
    const uint32_t all[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                            GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
    enum quant_isa best = quant_cpu_isa();
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const struct quant_traits *t = quant_traits(all[i]);
        assert_non_null(t);
        assert_int_equal(t->type, all[i]);
        assert_ptr_equal(&t->info, quant_type_info(all[i]));
        assert_non_null(t->quantize);
        assert_non_null(t->dequantize);
        assert_int_equal(t->act, quant_act_kind(all[i]));
        for (int isa = 0; isa <= (int)best; isa++) {
            const struct quant_kernels *k = &t->isa[isa];
            assert_non_null(k->dot);
            assert_ptr_equal(k->dot, quant_dot_kernel(all[i], (enum quant_isa)isa));
            assert_ptr_equal(k->dot_multi, quant_dot_multi_kernel(all[i], (enum quant_isa)isa));
            assert_ptr_equal(k->gemm, quant_gemm_kernel(all[i], (enum quant_isa)isa));
            if (isa == QUANT_ISA_AVX512) {
                const struct quant_isa_kernels *r = avx512_row(all[i]);
                int wide = r && r->dot_512 && c->bits == 512;
                assert_int_equal(k->dot_bits, wide ? 512 : 256);
                if (r) assert_ptr_equal(k->dot, wide ? r->dot_512 : r->dot);
            }
        }
    }
    /* types without kernels: facts but no functions */
    const struct quant_traits *q2 = quant_traits(GGML_TYPE_Q2_K);
    assert_non_null(q2);
    assert_false(q2->info.supported);
    assert_null(quant_dot_kernel(GGML_TYPE_Q2_K, best));
    assert_int_equal(quant_quantize_row(GGML_TYPE_Q2_K, NULL, NULL, 0), RAGD_ENOTSUP);
    assert_null(quant_traits(99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wide_kernels),
        cmocka_unit_test(test_wide_multi_kernels),
        cmocka_unit_test(test_width_by_cpu),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
