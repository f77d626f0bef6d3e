#include "engine/enc_kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Register-blocked kernels over MR tokens x NR weight rows: twelve accumulators stay in
 * registers while both operands stream along k. Each output's sum runs in the same order
 * whichever tokens share the block, so results do not depend on batching. */
static void kernel_base(const float *const *a, const float *const *w, size_t k,
                        float o[ENC_MR][ENC_NR])
{
    for (int m = 0; m < ENC_MR; m++)
        for (int r = 0; r < ENC_NR; r++) {
            float s = 0;
            for (size_t i = 0; i < k; i++)
                s += a[m][i] * w[r][i];
            o[m][r] = s;
        }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET_AVX2 __attribute__((target("avx2,fma")))

TARGET_AVX2 static inline float hsum8(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* the tail of k (not a multiple of the vector width) in scalar code */
static void kernel_tail(const float *const *a, const float *const *w, size_t i0, size_t k,
                        float o[ENC_MR][ENC_NR])
{
    for (int m = 0; m < ENC_MR; m++)
        for (int r = 0; r < ENC_NR; r++)
            for (size_t i = i0; i < k; i++)
                o[m][r] += a[m][i] * w[r][i];
}

#define FMA_ROW(VEC, LOAD, FMADD, r)                                                               \
    do {                                                                                           \
        VEC y = LOAD(w##r + i);                                                                    \
        c0##r = FMADD(x0, y, c0##r);                                                               \
        c1##r = FMADD(x1, y, c1##r);                                                               \
        c2##r = FMADD(x2, y, c2##r);                                                               \
    } while (0)

#define DEF_KERNEL(NAME, ATTR, VEC, W, ZERO, LOAD, FMADD, HSUM)                                    \
    ATTR static void NAME(const float *const *a, const float *const *w, size_t k,                  \
                          float o[ENC_MR][ENC_NR])                                                 \
    {                                                                                              \
        const float *a0 = a[0], *a1 = a[1], *a2 = a[2];                                            \
        const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];                                \
        VEC c00 = ZERO(), c01 = ZERO(), c02 = ZERO(), c03 = ZERO();                                \
        VEC c10 = ZERO(), c11 = ZERO(), c12 = ZERO(), c13 = ZERO();                                \
        VEC c20 = ZERO(), c21 = ZERO(), c22 = ZERO(), c23 = ZERO();                                \
        size_t i = 0;                                                                              \
        for (; i + W <= k; i += W) {                                                               \
            VEC x0 = LOAD(a0 + i), x1 = LOAD(a1 + i), x2 = LOAD(a2 + i);                           \
            FMA_ROW(VEC, LOAD, FMADD, 0);                                                          \
            FMA_ROW(VEC, LOAD, FMADD, 1);                                                          \
            FMA_ROW(VEC, LOAD, FMADD, 2);                                                          \
            FMA_ROW(VEC, LOAD, FMADD, 3);                                                          \
        }                                                                                          \
        o[0][0] = HSUM(c00), o[0][1] = HSUM(c01), o[0][2] = HSUM(c02), o[0][3] = HSUM(c03);        \
        o[1][0] = HSUM(c10), o[1][1] = HSUM(c11), o[1][2] = HSUM(c12), o[1][3] = HSUM(c13);        \
        o[2][0] = HSUM(c20), o[2][1] = HSUM(c21), o[2][2] = HSUM(c22), o[2][3] = HSUM(c23);        \
        if (i < k) kernel_tail(a, w, i, k, o);                                                     \
    }

DEF_KERNEL(kernel_avx2, TARGET_AVX2, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_fmadd_ps,
           hsum8)
/* No AVX-512 variant: with rows not aligned to 64 bytes (safetensors data is 8-byte
 * aligned) its loads straddle cache lines, and on the CPUs measured it ran at about half the
 * AVX2 kernel's rate. */
#endif

enc_kernel_fn enc_kernel_pick(enum quant_isa isa)
{
#if defined(__x86_64__)
    if (isa >= QUANT_ISA_AVX2) return kernel_avx2;
#endif
    (void)isa;
    return kernel_base;
}

#if defined(__x86_64__)
#define TARGET_AVX512F __attribute__((target("avx512f")))

/* enc_to_bf16's integer steps on 16 floats at a time (bit for bit the scalar loop's) */
TARGET_AVX512F static size_t to_bf16_avx512(const float *x, uint16_t *y, size_t n)
{
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i half = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_loadu_si512((const void *)(x + i));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
        __m512i hi = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_srli_epi32(
            _mm512_add_epi32(u, _mm512_add_epi32(half, _mm512_and_si512(hi, one))), 16);
        r = _mm512_mask_or_epi32(r, nan, hi, quiet);
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtepi32_epi16(r));
    }
    return i;
}

/* e^x for x in [-87, 88], about 1 ulp: x = k ln 2 + r, |r| <= ln 2 / 2, a degree-6 polynomial
 * for e^r, scaled by 2^k. */
TARGET_AVX512F static inline __m512 exp_avx512(__m512 x)
{
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-87.0f));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504089f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, k);
}

/* GELU of 16 values: the erf form with erf from Abramowitz and Stegun 7.1.26 (absolute error
 * at most 1.5e-7), or the tanh form with tanh(u) = 1 - 2 / (e^(2u) + 1). */
TARGET_AVX512F static size_t gelu_avx512(float *x, size_t n, int tanh_form)
{
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), e;
        if (tanh_form) {
            __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608f),
                                     _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v),
                                                     _mm512_mul_ps(v, v), v));
            __m512 t = exp_avx512(_mm512_add_ps(u, u));
            e = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(t, one)));
        } else {
            __m512 z = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f));
            __m512 a = _mm512_abs_ps(z);
            __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), a, one));
            __m512 p = _mm512_set1_ps(1.061405429f);
            p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
            p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
            p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
            p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
            p = _mm512_mul_ps(p, t);
            __m512 y = _mm512_fnmadd_ps(
                p, exp_avx512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a)), one);
            /* erf is odd: take the sign of z */
            e = _mm512_castsi512_ps(_mm512_or_si512(
                _mm512_castps_si512(y),
                _mm512_and_si512(_mm512_castps_si512(z), _mm512_set1_epi32((int)0x80000000u))));
        }
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, e)));
    }
    return i;
}
#endif

void enc_gelu(float *x, size_t n, int tanh_form)
{
    size_t i = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) i = gelu_avx512(x, n, tanh_form);
#endif
    for (; i < n; i++)
        x[i] = tanh_form
                   ? 0.5f * x[i] *
                         (1.0f + tanhf(0.7978845608f * (x[i] + 0.044715f * x[i] * x[i] * x[i])))
                   : 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

void enc_to_bf16(const float *x, uint16_t *y, size_t n)
{
    size_t i = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) i = to_bf16_avx512(x, y, n);
#endif
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            y[i] = (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
            continue;
        }
        u += 0x7fffu + ((u >> 16) & 1);
        y[i] = (uint16_t)(u >> 16);
    }
}

#if defined(__x86_64__)

#define TARGET_BF16 __attribute__((target("avx512f,avx512bf16")))

/* Twelve 16-lane accumulators; each vdpbf16ps adds 32 products (pairs of bf16) per row pair. */
TARGET_BF16 static void kernel_bf16(const uint16_t *const *a, const uint16_t *const *w, size_t k,
                                    float o[ENC_MR][ENC_NR])
{
    const uint16_t *a0 = a[0], *a1 = a[1], *a2 = a[2];
    const uint16_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    for (size_t i = 0; i < k; i += ENC_BF16_K) {
        __m512bh x0 = (__m512bh)_mm512_loadu_si512(a0 + i);
        __m512bh x1 = (__m512bh)_mm512_loadu_si512(a1 + i);
        __m512bh x2 = (__m512bh)_mm512_loadu_si512(a2 + i);
        __m512bh y = (__m512bh)_mm512_loadu_si512(w0 + i);
        c00 = _mm512_dpbf16_ps(c00, x0, y), c10 = _mm512_dpbf16_ps(c10, x1, y);
        c20 = _mm512_dpbf16_ps(c20, x2, y);
        y = (__m512bh)_mm512_loadu_si512(w1 + i);
        c01 = _mm512_dpbf16_ps(c01, x0, y), c11 = _mm512_dpbf16_ps(c11, x1, y);
        c21 = _mm512_dpbf16_ps(c21, x2, y);
        y = (__m512bh)_mm512_loadu_si512(w2 + i);
        c02 = _mm512_dpbf16_ps(c02, x0, y), c12 = _mm512_dpbf16_ps(c12, x1, y);
        c22 = _mm512_dpbf16_ps(c22, x2, y);
        y = (__m512bh)_mm512_loadu_si512(w3 + i);
        c03 = _mm512_dpbf16_ps(c03, x0, y), c13 = _mm512_dpbf16_ps(c13, x1, y);
        c23 = _mm512_dpbf16_ps(c23, x2, y);
    }
    o[0][0] = _mm512_reduce_add_ps(c00), o[0][1] = _mm512_reduce_add_ps(c01);
    o[0][2] = _mm512_reduce_add_ps(c02), o[0][3] = _mm512_reduce_add_ps(c03);
    o[1][0] = _mm512_reduce_add_ps(c10), o[1][1] = _mm512_reduce_add_ps(c11);
    o[1][2] = _mm512_reduce_add_ps(c12), o[1][3] = _mm512_reduce_add_ps(c13);
    o[2][0] = _mm512_reduce_add_ps(c20), o[2][1] = _mm512_reduce_add_ps(c21);
    o[2][2] = _mm512_reduce_add_ps(c22), o[2][3] = _mm512_reduce_add_ps(c23);
}

enc_kernel_bf16_fn enc_kernel_bf16_pick(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16"))
        return kernel_bf16;
    return NULL;
}

#else

enc_kernel_bf16_fn enc_kernel_bf16_pick(void)
{
    return NULL;
}

#endif
