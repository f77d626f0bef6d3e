/* Tensor types: conversions, dequantization against hand-computed references, quantization
 * round trips, and every SIMD dot kernel against the portable one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void test_half(void **state)
{
    (void)state;
    assert_true(quant_f16_to_f32(0x3C00) == 1.0f);
    assert_true(quant_f16_to_f32(0xC000) == -2.0f);
    assert_true(quant_f16_to_f32(0x3555) == 0.333251953125f);
    assert_true(quant_f16_to_f32(0x0001) == 5.9604644775390625e-8f); /* smallest subnormal */
    assert_true(quant_f16_to_f32(0x7BFF) == 65504.0f);
    assert_true(isinf(quant_f16_to_f32(0x7C00)));
    assert_int_equal(quant_f32_to_f16(1.0f), 0x3C00);
    assert_int_equal(quant_f32_to_f16(65504.0f), 0x7BFF);
    assert_int_equal(quant_f32_to_f16(1e6f), 0x7C00);
    assert_int_equal(quant_f32_to_f16(5.9604644775390625e-8f), 0x0001);
    /* 1 + 2^-11 is halfway between 1 and the next half: ties to even (1.0) */
    assert_int_equal(quant_f32_to_f16(1.0f + 1.0f / 2048), 0x3C00);
    assert_int_equal(quant_f32_to_f16(1.0f + 3.0f / 2048), 0x3C02);
    for (uint32_t h = 0; h < 0x7C00; h++) /* every finite positive half round-trips */
        assert_int_equal(quant_f32_to_f16(quant_f16_to_f32((ggml_half)h)), h);
    assert_true(quant_bf16_to_f32(0x3F80) == 1.0f);
    assert_int_equal(quant_f32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(quant_f32_to_bf16(-2.5f), 0xC020);
}

static void test_type_table(void **state)
{
    (void)state;
    assert_int_equal(quant_type_info(GGML_TYPE_Q8_0)->block_bytes, 34);
    assert_int_equal(quant_type_info(GGML_TYPE_Q4_0)->block_bytes, 18);
    assert_int_equal(quant_type_info(GGML_TYPE_Q4_K)->block_bytes, 144);
    assert_int_equal(quant_type_info(GGML_TYPE_Q5_K)->block_bytes, 176);
    assert_int_equal(quant_type_info(GGML_TYPE_Q6_K)->block_bytes, 210);
    assert_int_equal(quant_type_info(GGML_TYPE_BF16)->block_bytes, 2);
    assert_null(quant_type_info(99));
    assert_int_equal(quant_type_from_name("Q4_K"), GGML_TYPE_Q4_K);
    assert_int_equal(quant_type_from_name("nope"), -1);
    assert_int_equal(quant_row_bytes(GGML_TYPE_Q6_K, 512), 420);
}

static void test_dequant_q8_0_q4_0(void **state)
{
    (void)state;
    struct block_q8_0 b8 = {.d = 0x3800}; /* 0.5 */
    for (int j = 0; j < 32; j++)
        b8.qs[j] = (int8_t)(j - 16);
    float y[256];
    assert_int_equal(quant_dequantize_row(GGML_TYPE_Q8_0, &b8, y, 32), 0);
    assert_true(y[0] == -8.0f && y[16] == 0.0f && y[31] == 7.5f);

    struct block_q4_0 b4 = {.d = 0x4000}; /* 2.0 */
    for (int j = 0; j < 16; j++)
        b4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    assert_int_equal(quant_dequantize_row(GGML_TYPE_Q4_0, &b4, y, 32), 0);
    /* weight j (<16) is the low nibble j, weight 16+j the high nibble 15-j, both minus 8 */
    assert_true(y[0] == -16.0f && y[8] == 0.0f && y[15] == 14.0f);
    assert_true(y[16] == 14.0f && y[31] == -16.0f);
}

static const uint8_t k_ls[8] = {1, 2, 3, 4, 20, 6, 7, 8};
static const uint8_t k_lm[8] = {0, 1, 2, 3, 4, 33, 6, 7};
/* The 12 scale bytes packed by hand from k_ls / k_lm (6-bit values, high bits of the last four
 * in the top bits of the first eight bytes). */
static const uint8_t k_scales[12] = {0x41, 2, 3, 4, 0, 0x81, 2, 3, 0x44, 0x16, 0x67, 0x78};

static void test_dequant_q4_k(void **state)
{
    (void)state;
    struct block_q4_k b = {.d = 0x3C00, .dmin = 0x3800}; /* 1.0, 0.5 */
    memcpy(b.scales, k_scales, 12);
    for (int i = 0; i < 128; i++)
        b.qs[i] = (uint8_t)i;
    float y[256];
    assert_int_equal(quant_dequantize_row(GGML_TYPE_Q4_K, &b, y, 256), 0);
    for (int e = 0; e < 256; e++) {
        int c = e / 64, l = e % 64, sb = 2 * c + (l >= 32);
        int q = l < 32 ? (b.qs[32 * c + l] & 0xF) : (b.qs[32 * c + l - 32] >> 4);
        float want = 1.0f * k_ls[sb] * q - 0.5f * k_lm[sb];
        assert_true(y[e] == want);
    }
    /* spot checks computed by hand */
    assert_true(y[1] == 1.0f);           /* sub-block 0: 1*1*1 - 0 */
    assert_true(y[64 * 2 + 5] == 98.0f); /* sub-block 4: qs[69] & 15 = 5; 20*5 - 0.5*4 */
}

static void test_dequant_q5_k_q6_k(void **state)
{
    (void)state;
    struct block_q5_k b5 = {.d = 0x3C00, .dmin = 0x3800};
    memcpy(b5.scales, k_scales, 12);
    for (int i = 0; i < 128; i++)
        b5.qs[i] = (uint8_t)(i * 3);
    for (int i = 0; i < 32; i++)
        b5.qh[i] = (uint8_t)(i * 37);
    float y[256];
    assert_int_equal(quant_dequantize_row(GGML_TYPE_Q5_K, &b5, y, 256), 0);
    for (int e = 0; e < 256; e++) {
        int c = e / 64, l = e % 64, hi = l >= 32, sb = 2 * c + hi, ll = l % 32;
        int nib = hi ? b5.qs[32 * c + ll] >> 4 : b5.qs[32 * c + ll] & 0xF;
        int bit = (b5.qh[ll] >> (2 * c + hi)) & 1;
        float want = 1.0f * k_ls[sb] * (nib + 16 * bit) - 0.5f * k_lm[sb];
        assert_true(y[e] == want);
    }

    struct block_q6_k b6 = {.d = 0x3400}; /* 0.25 */
    for (int i = 0; i < 128; i++)
        b6.ql[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 64; i++)
        b6.qh[i] = (uint8_t)(i * 13);
    for (int g = 0; g < 16; g++)
        b6.scales[g] = (int8_t)(g - 8);
    assert_int_equal(quant_dequantize_row(GGML_TYPE_Q6_K, &b6, y, 256), 0);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
        uint8_t lo = b6.ql[64 * h + l + (k & 1) * 32], hb = b6.qh[32 * h + l];
        int q = ((k < 2 ? lo & 0xF : lo >> 4) | (((hb >> (2 * k)) & 3) << 4)) - 32;
        float want = 0.25f * b6.scales[e / 16] * q;
        assert_true(y[e] == want);
    }
    /* element 0: ql[0]=0, qh[0]=0 -> q=-32, scale -8 -> 0.25*-8*-32 = 64 */
    assert_true(y[0] == 64.0f);
}

static const uint32_t all_types[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16,
                                     GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
                                     GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};

/* Worst relative (to the row's RMS) error of quantize -> dequantize. */
static void test_roundtrip(void **state)
{
    (void)state;
    const size_t n = 1024;
    float x[1024], y[1024];
    uint8_t buf[1024 * 4];
    const float tol[] = {0, 2e-3f, 1.5e-2f, 0.02f, 0.4f, 0.3f, 0.15f, 0.08f};
    for (size_t t = 0; t < sizeof all_types / sizeof all_types[0]; t++) {
        for (size_t i = 0; i < n; i++)
            x[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
        assert_int_equal(quant_quantize_row(all_types[t], x, buf, n), 0);
        assert_int_equal(quant_dequantize_row(all_types[t], buf, y, n), 0);
        double err = 0, rms = 0;
        for (size_t i = 0; i < n; i++) {
            err = fmax(err, fabs(x[i] - y[i]));
            rms += x[i] * x[i];
        }
        rms = sqrt(rms / n);
        if (getenv("QUANT_VERBOSE"))
            print_message("%s: %g\n", quant_type_info(all_types[t])->name, err / rms);
        if (err / rms > tol[t] + 1e-7)
            fail_msg("type %s: max error %g of rms %g", quant_type_info(all_types[t])->name, err,
                     rms);
    }
}

/* SIMD kernels equal the portable ones; both approximate the float dot product. */
static void test_kernels(void **state)
{
    (void)state;
    const size_t n = 2048;
    static float w[2048], x[2048], wd[2048];
    static uint8_t wq[2048 * 4], act[2048 * 4];
    enum quant_isa best = quant_best_isa();
    for (size_t t = 0; t < sizeof all_types / sizeof all_types[0]; t++) {
        uint32_t type = all_types[t];
        for (int rep = 0; rep < 5; rep++) {
            for (size_t i = 0; i < n; i++) {
                w[i] = frand();
                x[i] = frand() * (rep + 1);
            }
            quant_quantize_row(type, w, wq, n);
            quant_dequantize_row(type, wq, wd, n);
            enum act_kind k = quant_act_kind(type);
            quant_act_quantize(k, x, act, n);
            float ref = quant_dot_kernel(type, QUANT_ISA_PORTABLE)(wq, act, n);
            double exact = 0, mag = 0;
            for (size_t i = 0; i < n; i++) {
                exact += (double)wd[i] * x[i];
                mag += fabs((double)wd[i] * x[i]);
            }
            /* activations are quantized to 8 bits: error well under 1% of sum |w x| */
            if (fabs(ref - exact) > 0.01 * mag)
                fail_msg("%s portable %g vs exact %g", quant_type_info(type)->name, ref, exact);
            for (int isa = QUANT_ISA_AVX2; isa <= (int)best; isa++) {
                float got = quant_dot_kernel(type, (enum quant_isa)isa)(wq, act, n);
                if (fabs(got - ref) > 1e-5 * mag + 1e-6)
                    fail_msg("%s %s %.9g vs portable %.9g", quant_type_info(type)->name,
                             quant_isa_name((enum quant_isa)isa), got, ref);
            }
        }
    }
}

/* Multi-row kernels equal the single-row ones for every count of activation rows, bit for bit:
 * a decoding step batched with other sequences must give the logits it gives alone. */
static void test_multi_kernels(void **state)
{
    (void)state;
    const size_t n = 1024;
    static float w[1024], x[7][1024];
    static uint8_t wq[1024 * 4], act[7][1024 * 4];
    const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_Q4_0};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t type = types[ti];
        for (size_t i = 0; i < n; i++)
            w[i] = frand();
        quant_quantize_row(type, w, wq, n);
        for (int t = 0; t < 7; t++) {
            for (size_t i = 0; i < n; i++)
                x[t][i] = frand() * (float)(t + 1);
            quant_act_quantize(quant_act_kind(type), x[t], act[t], n);
        }
        for (int isa = 0; isa <= (int)quant_best_isa(); isa++) {
            quant_dot_multi_fn mf = quant_dot_multi_kernel(type, (enum quant_isa)isa);
            if (!mf) continue;
            quant_dot_fn f = quant_dot_kernel(type, (enum quant_isa)isa);
            for (int na = 1; na <= 7; na++) {
                float out[7];
                mf(wq, act, sizeof act[0], na, out, n);
                for (int t = 0; t < na; t++) {
                    float ref = f(wq, act[t], n);
                    if (out[t] != ref)
                        fail_msg("%s multi[%d of %d] %.9g vs %.9g", quant_type_info(type)->name, t,
                                 na, out[t], ref);
                }
            }
        }
    }
}

/* Tiled kernels equal the single-row ones for every count of weight and activation rows. */
static void test_gemm_kernels(void **state)
{
    (void)state;
    const size_t n = 1024;
    static float w[1024], x[1024];
    static uint8_t wq[6][1024 * 4], act[7][1024 * 4];
    const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_Q4_0};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t type = types[ti];
        for (int r = 0; r < 6; r++) {
            for (size_t i = 0; i < n; i++)
                w[i] = frand() * (float)(r + 1);
            quant_quantize_row(type, w, wq[r], n);
        }
        for (int t = 0; t < 7; t++) {
            for (size_t i = 0; i < n; i++)
                x[i] = frand() * (float)(t + 1);
            quant_act_quantize(quant_act_kind(type), x, act[t], n);
        }
        for (int isa = 0; isa <= (int)quant_best_isa(); isa++) {
            quant_gemm_fn g = quant_gemm_kernel(type, (enum quant_isa)isa);
            if (!g) continue;
            quant_dot_fn f = quant_dot_kernel(type, (enum quant_isa)isa);
            for (int nw = 1; nw <= 6; nw++) {
                for (int na = 1; na <= 7; na++) {
                    float out[6 * 8];
                    for (int i = 0; i < 6 * 8; i++)
                        out[i] = -12345.0f;
                    g(wq, sizeof wq[0], nw, act, sizeof act[0], na, out, 6, n);
                    for (int r = 0; r < 6; r++) {
                        for (int t = 0; t < 8; t++) {
                            float o = out[t * 6 + r];
                            if (r >= nw || t >= na) {
                                if (o != -12345.0f)
                                    fail_msg("%s gemm wrote outside %d x %d",
                                             quant_type_info(type)->name, nw, na);
                                continue;
                            }
                            float ref = f(wq[r], act[t], n);
                            if (fabsf(o - ref) > 1e-5f * (fabsf(ref) + 1.0f) * 10)
                                fail_msg("%s gemm[%d][%d] of %d x %d: %g vs %g",
                                         quant_type_info(type)->name, r, t, nw, na, o, ref);
                        }
                    }
                }
            }
        }
    }
}

/* The activation formats record exact block sums. */
static void test_act_sums(void **state)
{
    (void)state;
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = frand();
    struct block_qa8k b;
    quant_act_quantize(ACT_QA8K, x, &b, 256);
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += b.qs[16 * g + j];
        assert_int_equal(s, b.bsums[g]);
    }
    struct block_qa8 a[8];
    quant_act_quantize(ACT_QA8, x, a, 256);
    for (int i = 0; i < 8; i++) {
        int s = 0;
        for (int j = 0; j < 32; j++)
            s += a[i].qs[j];
        assert_int_equal(s, a[i].sum);
    }
}

/* Every ISA's activation quantizer writes the same bytes as the portable one: random rows, an
 * all-zero block, halfway cases for the rounding and values that reach +-127. */
static void test_act_kernels(void **state)
{
    (void)state;
    const size_t n = 1024;
    static float x[1024];
    static uint8_t ref[1024 * 4], got[1024 * 4];
    const enum act_kind kinds[] = {ACT_QA8, ACT_QA8K, ACT_F32};
    for (int rep = 0; rep < 4; rep++) {
        for (size_t i = 0; i < n; i++)
            x[i] = frand() * (float)(1 + rep * 10);
        if (rep == 1)
            for (size_t i = 0; i < 256; i++)
                x[i] = 0;
        if (rep == 2)
            for (size_t i = 0; i < n; i++)
                x[i] = (float)((int)(i % 255) - 127) + 0.5f * (float)(i & 1); /* ties */
        for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++) {
            size_t bytes = quant_act_row_bytes(kinds[ki], n);
            memset(ref, 0xa5, sizeof ref);
            memset(got, 0x5a, sizeof got);
            quant_act_quantize(kinds[ki], x, ref, n);
            for (int isa = 0; isa <= (int)quant_best_isa(); isa++) {
                quant_act_kernel(kinds[ki], (enum quant_isa)isa)(x, got, n);
                if (memcmp(ref, got, bytes))
                    fail_msg("act kind %d on %s differs from the portable row (rep %d)",
                             (int)kinds[ki], quant_isa_name((enum quant_isa)isa), rep);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half),
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_dequant_q8_0_q4_0),
        cmocka_unit_test(test_dequant_q4_k),
        cmocka_unit_test(test_dequant_q5_k_q6_k),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_multi_kernels),
        cmocka_unit_test(test_gemm_kernels),
        cmocka_unit_test(test_act_sums),
        cmocka_unit_test(test_act_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
