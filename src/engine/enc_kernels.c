#include "engine/enc_kernels.h"

#include <string.h>

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

void enc_to_bf16(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
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
