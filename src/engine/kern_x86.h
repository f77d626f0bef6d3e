/* kern_x86.h - what the x86-64 kernel files (quant_x86.c, gemm_x86.c, att_x86.c) share: the
 * per-function target attributes, the small unpacking steps both sets of matrix kernels run and
 * the float vector steps whose arithmetic the attention kernels keep. Include only inside
 * `#if defined(__x86_64__)`, after <immintrin.h>. */
#ifndef RAGD_KERN_X86_H
#define RAGD_KERN_X86_H

#include <stdint.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
/* AVX-512 with GFNI and AVX512-VBMI (Ice Lake and later, Zen 4 and later) */
#define AVX512_GV                                                                                  \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,gfni,avx512vbmi")))
#define ALWAYS_INLINE __attribute__((always_inline)) inline

/* The sum of the eight floats of v. */
AVX2 static ALWAYS_INLINE float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* x . y over n floats, the F32 dot kernel's arithmetic: two 8-float accumulators over steps of
 * 16 floats, added and summed across by hsum_ps, then the n % 16 tail one by one. */
AVX2 static ALWAYS_INLINE float dot_f32_256(const float *x, const float *y, size_t n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    }
    float s = hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        s += x[i] * y[i];
    return s;
}

/* y[i] += a * x[i] over n floats, the axpy kernel's arithmetic: one fused multiply-add per
 * element in steps of 16, then the tail one by one. */
AVX2 static ALWAYS_INLINE void axpy_f32_256(float *y, float a, const float *x, size_t n)
{
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(
            y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* The end of a Q4_K block for one activation row, in the arithmetic every AVX-512-column Q4_K
 * kernel (single-row, multi-row, tiled) shares so they agree bit for bit whatever their layout:
 * s and m hold partial sums, in any lanes, of the block's exact integers S = sum over sub-blocks
 * of scale * (nibbles . activations) and M = sum of min * (activation sums); dd holds d in lane 0
 * and dmin in lane 1. Returns acc + (S * d - M * dmin) * yd in lane 0, computed as
 * fma(fmsub(float(S), d, float(M) * dmin), yd, acc); the tiled kernel does the same per lane. */
AVX2 static ALWAYS_INLINE __m128 k4_block_end(__m256i s, __m256i m, __m128 dd, float yd, __m128 acc)
{
    __m256i h = _mm256_hadd_epi32(s, m);
    __m128i q = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    __m128 v = _mm_cvtepi32_ps(_mm_hadd_epi32(q, q)); /* S, M, S, M */
    __m128 t = _mm_mul_ps(v, dd);                     /* lane 1: M * dmin */
    __m128 f = _mm_fmsub_ss(v, dd, _mm_movehdup_ps(t));
    return _mm_fmadd_ss(f, _mm_set_ss(yd), acc);
}

/* k4_block_end's f = S * d - M * dmin for two (block, activation row) pairs at once, their sums
 * reduced together: f of the first in lane 0, of the second in lane 2; dd01 holds the first's
 * d and dmin in lanes 0-1 and the second's in lanes 2-3. The caller adds f * yd to each
 * accumulator with _mm_fmadd_ss, as k4_block_end does. */
AVX2 static ALWAYS_INLINE __m128 k4_pair_f(__m256i s0, __m256i m0, __m256i s1, __m256i m1,
                                           __m128 dd01)
{
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, m0), _mm256_hadd_epi32(s1, m1));
    __m128 v =
        _mm_cvtepi32_ps(_mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
    return _mm_fmsub_ps(v, dd01, _mm_movehdup_ps(_mm_mul_ps(v, dd01)));
}

/* The end of a Q6_K block for one activation row, as k4_block_end: s holds partial sums of the
 * block's exact integer sum S (scales times (6-bit values - 32) . activations); returns
 * acc + d * yd * S in lane 0, computed as fma(d * yd, float(S), acc). */
AVX2 static ALWAYS_INLINE __m128 k6_block_end(__m256i s, float d, float yd, __m128 acc)
{
    __m128i q = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    q = _mm_hadd_epi32(q, q);
    q = _mm_hadd_epi32(q, q);
    return _mm_fmadd_ss(_mm_mul_ss(_mm_set_ss(d), _mm_set_ss(yd)), _mm_cvtepi32_ps(q), acc);
}

/* Decodes a K block's eight 6-bit scales into sc[] and returns the eight mins as int16,
 * working on the 12 bytes as three 32-bit words. */
AVX2 static ALWAYS_INLINE __m128i k_unpack_scales(const uint8_t *scales, uint8_t sc[8])
{
    uint32_t u0, u1, u2;
    memcpy(&u0, scales, 4);
    memcpy(&u1, scales + 4, 4);
    memcpy(&u2, scales + 8, 4);
    uint32_t s_lo = u0 & 0x3f3f3f3fu, m_lo = u1 & 0x3f3f3f3fu;
    uint32_t s_hi = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    memcpy(sc, &s_lo, 4);
    memcpy(sc + 4, &s_hi, 4);
    return _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)m_hi, (int)m_lo));
}

/* The 6-bit values of one 128-weight half of a Q6_K block (ql: its 64 low-nibble bytes, qh:
 * its 32 high-bit bytes), 32 per vector: q[k] holds weights 32k..32k+31 of the half. */
AVX2 static ALWAYS_INLINE void q6_unpack(const uint8_t *ql, const uint8_t *qh, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
    q[0] =
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4));
}

#endif
