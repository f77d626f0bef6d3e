/* quant_x86.c - AVX2 and AVX-512 (VNNI) dot-product kernels, compiled with per-function target
 * attributes so the rest of the binary stays baseline x86-64; quant.c picks them at run time. */
#include "engine/quant_int.h"

#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

AVX2 static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static inline float h2f(ggml_half h) { return _cvtsh_ss(h); }

/* ---- float weights ---- */

AVX2 static float dot_f32_avx2(const void *w, const void *a, size_t n)
{
    const float *x = w, *y = a;
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

AVX2 static float dot_f16_avx2(const void *w, const void *a, size_t n)
{
    const ggml_half *x = w;
    const float *y = a;
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wf = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        acc = _mm256_fmadd_ps(wf, _mm256_loadu_ps(y + i), acc);
    }
    float s = hsum_ps(acc);
    for (; i < n; i++)
        s += h2f(x[i]) * y[i];
    return s;
}

AVX2 static float dot_bf16_avx2(const void *w, const void *a, size_t n)
{
    const uint16_t *x = w;
    const float *y = a;
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i wi = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 wf = _mm256_castsi256_ps(_mm256_slli_epi32(wi, 16));
        acc = _mm256_fmadd_ps(wf, _mm256_loadu_ps(y + i), acc);
    }
    float s = hsum_ps(acc);
    for (; i < n; i++)
        s += quant_bf16_to_f32(x[i]) * y[i];
    return s;
}

/* ---- 32-weight blocks ---- */

/* signed x signed int8 dot of 32 lanes into 8 int32 lanes (AVX2: maddubs needs unsigned x). */
AVX2 static inline __m256i dot_i8_avx2(__m256i x, __m256i y)
{
    __m256i ax = _mm256_sign_epi8(x, x), sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

AVX512 static inline __m256i dot_i8_vnni(__m256i x, __m256i y)
{
    __m256i ax = _mm256_sign_epi8(x, x), sy = _mm256_sign_epi8(y, x);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy);
}

AVX2 static float dot_q8_0_avx2(const void *w, const void *a, size_t n)
{
    const struct block_q8_0 *x = w;
    const struct block_qa8 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK; i++) {
        __m256i p = dot_i8_avx2(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum_ps(acc);
}

AVX512 static float dot_q8_0_vnni(const void *w, const void *a, size_t n)
{
    const struct block_q8_0 *x = w;
    const struct block_qa8 *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t nb = n / QK, i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_i8_vnni(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                 _mm256_loadu_si256((const __m256i *)y[i].qs));
        __m256i p1 = dot_i8_vnni(_mm256_loadu_si256((const __m256i *)x[i + 1].qs),
                                 _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i + 1].d) * y[i + 1].d),
                               _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p = dot_i8_vnni(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

AVX2 static inline __m256i unpack_q4_0(const uint8_t *qs)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

AVX2 static float dot_q4_0_avx2(const void *w, const void *a, size_t n)
{
    const struct block_q4_0 *x = w;
    const struct block_qa8 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (size_t i = 0; i < n / QK; i++) {
        __m256i q = unpack_q4_0(x[i].qs);
        __m256i p = _mm256_madd_epi16(
            _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y[i].qs)),
            _mm256_set1_epi16(1));
        float d = h2f(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc);
        corr += d * (float)(8 * y[i].sum);
    }
    return hsum_ps(acc) - corr;
}

AVX512 static float dot_q4_0_vnni(const void *w, const void *a, size_t n)
{
    const struct block_q4_0 *x = w;
    const struct block_qa8 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (size_t i = 0; i < n / QK; i++) {
        __m256i q = unpack_q4_0(x[i].qs);
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q,
                                        _mm256_loadu_si256((const __m256i *)y[i].qs));
        float d = h2f(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc);
        corr += d * (float)(8 * y[i].sum);
    }
    return hsum_ps(acc) - corr;
}

/* ---- 256-weight K blocks ---- */

/* Decodes a K block's eight 6-bit scales into sc[] and returns the eight mins as int16,
 * working on the 12 bytes as three 32-bit words. */
AVX2 static inline __m128i k_unpack_scales(const uint8_t *scales, uint8_t sc[8])
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

/* sum_j min_j * (activation sum over sub-block j) from the sixteen 16-element sums */
AVX2 static inline int k_min_dot(__m128i mins, const int16_t *bsums)
{
    __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    __m128i prod = _mm_madd_epi16(mins, _mm_hadd_epi16(b0, b1));
    prod = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, 0x4e));
    prod = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, 0xb1));
    return _mm_cvtsi128_si32(prod);
}

AVX2 static inline int k_scales_mins(const uint8_t *scales, const int16_t *bsums, uint8_t sc[8])
{
    return k_min_dot(k_unpack_scales(scales, sc), bsums);
}

/* The eight sub-block scales as int16 in both 128-bit lanes; pick(j) broadcasts scale j. */
AVX2 static inline __m256i k_scale_vec(const uint8_t sc[8])
{
    return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
}
#define K_PICK(v, j) \
    _mm256_shuffle_epi8((v), _mm256_set1_epi16((short)(((2 * (j) + 1) << 8) | (2 * (j)))))

/* sum += (16-bit products) . (16-bit scales) pairwise into 32-bit lanes */
#define ACC_AVX2(sum, p, s) _mm256_add_epi32((sum), _mm256_madd_epi16((p), (s)))
#define ACC_VNNI(sum, p, s) _mm256_dpwssd_epi32((sum), (p), (s))

#define DEF_Q4_K(NAME, ATTR, ACC)                                                              \
    ATTR static float NAME(const void *w, const void *a, size_t n)                             \
    {                                                                                          \
        const struct block_q4_k *x = w;                                                        \
        const struct block_qa8k *y = a;                                                        \
        const __m256i m4 = _mm256_set1_epi8(0x0F);                                             \
        __m256 acc = _mm256_setzero_ps();                                                      \
        float corr = 0;                                                                        \
        for (size_t i = 0; i < n / QKK; i++) {                                                 \
            uint8_t sc[8];                                                                     \
            int msum = k_scales_mins(x[i].scales, y[i].bsums, sc);                             \
            __m256i sv = k_scale_vec(sc), sumi = _mm256_setzero_si256();                       \
            for (int c = 0; c < 4; c++) {                                                      \
                __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));           \
                __m256i lo = _mm256_and_si256(q, m4);                                          \
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);                    \
                __m256i a0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));          \
                __m256i a1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));     \
                sumi = ACC(sumi, _mm256_maddubs_epi16(lo, a0), K_PICK(sv, 2 * c));             \
                sumi = ACC(sumi, _mm256_maddubs_epi16(hi, a1), K_PICK(sv, 2 * c + 1));         \
            }                                                                                  \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d),                        \
                                  _mm256_cvtepi32_ps(sumi), acc);                              \
            corr += h2f(x[i].dmin) * y[i].d * (float)msum;                                     \
        }                                                                                      \
        return hsum_ps(acc) - corr;                                                            \
    }

DEF_Q4_K(dot_q4_k_avx2, AVX2, ACC_AVX2)
DEF_Q4_K(dot_q4_k_vnni, AVX512, ACC_VNNI)

AVX2 static float dot_q5_k_avx2(const void *w, const void *a, size_t n)
{
    const struct block_q5_k *x = w;
    const struct block_qa8k *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (size_t i = 0; i < n / QKK; i++) {
        uint8_t sc[8];
        int msum = k_scales_mins(x[i].scales, y[i].bsums, sc);
        __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sv = k_scale_vec(sc), sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hb, one), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4);
            hb = _mm256_srli_epi16(hb, 2);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
            __m256i a0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));
            __m256i a1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));
            sumi = ACC_AVX2(sumi, _mm256_maddubs_epi16(lo, a0), K_PICK(sv, 2 * c));
            sumi = ACC_AVX2(sumi, _mm256_maddubs_epi16(hi, a1), K_PICK(sv, 2 * c + 1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
        corr += h2f(x[i].dmin) * y[i].d * (float)msum;
    }
    return hsum_ps(acc) - corr;
}

/* The 6-bit values of one 128-weight half of a Q6_K block, 32 per vector. */
AVX2 static inline void q6_unpack(const uint8_t *ql, const uint8_t *qh, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                           _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4));
}

/* Scales of a 32-weight group k (0..3) of a half: low lane scale 2k, high lane 2k+1, from the
 * half's eight scales broadcast as int16 to both lanes. */
#define Q6_PICK(v, k)                                                                          \
    _mm256_shuffle_epi8((v), _mm256_set_m128i(_mm_set1_epi16((short)(((4 * (k) + 3) << 8) |     \
                                                                     (4 * (k) + 2))),          \
                                              _mm_set1_epi16((short)(((4 * (k) + 1) << 8) |     \
                                                                     (4 * (k))))))

/* sum_g scale_g * bsum_g over the 16 groups of a Q6_K block */
AVX2 static inline int q6_corr(const int8_t *scales, const int16_t *bsums)
{
    __m256i p = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales)),
                                  _mm256_loadu_si256((const __m256i *)bsums));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

#define DEF_Q6_K(NAME, ATTR, ACC)                                                              \
    ATTR static float NAME(const void *w, const void *a, size_t n)                             \
    {                                                                                          \
        const struct block_q6_k *x = w;                                                        \
        const struct block_qa8k *y = a;                                                        \
        __m256 acc = _mm256_setzero_ps();                                                      \
        for (size_t i = 0; i < n / QKK; i++) {                                                 \
            __m256i sumi = _mm256_setzero_si256();                                             \
            for (int h = 0; h < 2; h++) {                                                      \
                __m256i q[4];                                                                  \
                q6_unpack(x[i].ql + 64 * h, x[i].qh + 32 * h, q);                              \
                __m256i sv = _mm256_broadcastsi128_si256(                                      \
                    _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h)))); \
                const int8_t *ay = y[i].qs + 128 * h;                                          \
                for (int k = 0; k < 4; k++) {                                                  \
                    __m256i av = _mm256_loadu_si256((const __m256i *)(ay + 32 * k));           \
                    sumi = ACC(sumi, _mm256_maddubs_epi16(q[k], av), Q6_PICK(sv, k));          \
                }                                                                              \
            }                                                                                  \
            int corr = q6_corr(x[i].scales, y[i].bsums);                                       \
            __m256 f = _mm256_cvtepi32_ps(                                                     \
                _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0)));    \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), f, acc);               \
        }                                                                                      \
        return hsum_ps(acc);                                                                   \
    }

DEF_Q6_K(dot_q6_k_avx2, AVX2, ACC_AVX2)
DEF_Q6_K(dot_q6_k_vnni, AVX512, ACC_VNNI)

/* ---- one weight row against several activation rows (batched prompts) ----
 * Each weight block is loaded and unpacked once for four activation rows. */

#define ACT_ROW(act, stride, t) ((const uint8_t *)(act) + (size_t)(t) * (stride))

#define DEF_Q8_0_MULTI(NAME, ATTR, DOTI8)                                                       \
    ATTR static void NAME(const void *w, const void *act, size_t stride, int n_act, float *out, \
                          size_t n)                                                            \
    {                                                                                          \
        const struct block_q8_0 *x = w;                                                        \
        for (int t0 = 0; t0 < n_act; t0 += 4) {                                                \
            int nt = n_act - t0 < 4 ? n_act - t0 : 4;                                          \
            const struct block_qa8 *y[4];                                                      \
            __m256 acc[4];                                                                     \
            for (int t = 0; t < 4; t++) {                                                      \
                y[t] = (const void *)ACT_ROW(act, stride, t0 + (t < nt ? t : 0));              \
                acc[t] = _mm256_setzero_ps();                                                  \
            }                                                                                  \
            for (size_t i = 0; i < n / QK; i++) {                                              \
                __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);                     \
                float dx = h2f(x[i].d);                                                        \
                for (int t = 0; t < 4; t++) {                                                  \
                    __m256i p = DOTI8(qx, _mm256_loadu_si256((const __m256i *)y[t][i].qs));    \
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d),                   \
                                             _mm256_cvtepi32_ps(p), acc[t]);                   \
                }                                                                              \
            }                                                                                  \
            for (int t = 0; t < nt; t++)                                                       \
                out[t0 + t] = hsum_ps(acc[t]);                                                 \
        }                                                                                      \
    }

DEF_Q8_0_MULTI(dot_q8_0_multi_avx2, AVX2, dot_i8_avx2)
DEF_Q8_0_MULTI(dot_q8_0_multi_vnni, AVX512, dot_i8_vnni)

#define DEF_Q4_K_MULTI(NAME, ATTR, ACC)                                                        \
    ATTR static void NAME(const void *w, const void *act, size_t stride, int n_act, float *out, \
                          size_t n)                                                            \
    {                                                                                          \
        const struct block_q4_k *x = w;                                                        \
        const __m256i m4 = _mm256_set1_epi8(0x0F);                                             \
        for (int t0 = 0; t0 < n_act; t0 += 4) {                                                \
            int nt = n_act - t0 < 4 ? n_act - t0 : 4;                                          \
            const struct block_qa8k *y[4];                                                     \
            __m256 acc[4];                                                                     \
            float corr[4] = {0};                                                               \
            for (int t = 0; t < 4; t++) {                                                      \
                y[t] = (const void *)ACT_ROW(act, stride, t0 + (t < nt ? t : 0));              \
                acc[t] = _mm256_setzero_ps();                                                  \
            }                                                                                  \
            for (size_t i = 0; i < n / QKK; i++) {                                             \
                uint8_t sc[8];                                                                 \
                __m128i mins = k_unpack_scales(x[i].scales, sc);                               \
                __m256i sv = k_scale_vec(sc), lo[4], hi[4];                                    \
                for (int c = 0; c < 4; c++) {                                                  \
                    __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));       \
                    lo[c] = _mm256_and_si256(q, m4);                                           \
                    hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);                     \
                }                                                                              \
                float d = h2f(x[i].d), dmin = h2f(x[i].dmin);                                  \
                for (int t = 0; t < 4; t++) {                                                  \
                    const int8_t *a = y[t][i].qs;                                              \
                    __m256i sumi = _mm256_setzero_si256();                                     \
                    for (int c = 0; c < 4; c++) {                                              \
                        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + 64 * c));        \
                        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + 64 * c + 32));   \
                        sumi = ACC(sumi, _mm256_maddubs_epi16(lo[c], a0), K_PICK(sv, 2 * c));  \
                        sumi = ACC(sumi, _mm256_maddubs_epi16(hi[c], a1),                      \
                                   K_PICK(sv, 2 * c + 1));                                     \
                    }                                                                          \
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[t][i].d),                    \
                                             _mm256_cvtepi32_ps(sumi), acc[t]);                \
                    corr[t] += dmin * y[t][i].d * (float)k_min_dot(mins, y[t][i].bsums);       \
                }                                                                              \
            }                                                                                  \
            for (int t = 0; t < nt; t++)                                                       \
                out[t0 + t] = hsum_ps(acc[t]) - corr[t];                                       \
        }                                                                                      \
    }

DEF_Q4_K_MULTI(dot_q4_k_multi_avx2, AVX2, ACC_AVX2)
DEF_Q4_K_MULTI(dot_q4_k_multi_vnni, AVX512, ACC_VNNI)

#define DEF_Q6_K_MULTI(NAME, ATTR, ACC)                                                        \
    ATTR static void NAME(const void *w, const void *act, size_t stride, int n_act, float *out, \
                          size_t n)                                                            \
    {                                                                                          \
        const struct block_q6_k *x = w;                                                        \
        for (int t0 = 0; t0 < n_act; t0 += 4) {                                                \
            int nt = n_act - t0 < 4 ? n_act - t0 : 4;                                          \
            const struct block_qa8k *y[4];                                                     \
            __m256 acc[4];                                                                     \
            for (int t = 0; t < 4; t++) {                                                      \
                y[t] = (const void *)ACT_ROW(act, stride, t0 + (t < nt ? t : 0));              \
                acc[t] = _mm256_setzero_ps();                                                  \
            }                                                                                  \
            for (size_t i = 0; i < n / QKK; i++) {                                             \
                __m256i q[8], s[8];                                                            \
                for (int h = 0; h < 2; h++) {                                                  \
                    q6_unpack(x[i].ql + 64 * h, x[i].qh + 32 * h, q + 4 * h);                  \
                    __m256i sv = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(                \
                        _mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h))));             \
                    s[4 * h] = Q6_PICK(sv, 0);                                                 \
                    s[4 * h + 1] = Q6_PICK(sv, 1);                                             \
                    s[4 * h + 2] = Q6_PICK(sv, 2);                                             \
                    s[4 * h + 3] = Q6_PICK(sv, 3);                                             \
                }                                                                              \
                float d = h2f(x[i].d);                                                         \
                for (int t = 0; t < 4; t++) {                                                  \
                    const int8_t *a = y[t][i].qs;                                              \
                    __m256i sumi = _mm256_setzero_si256();                                     \
                    for (int k = 0; k < 8; k++) {                                              \
                        __m256i av = _mm256_loadu_si256((const __m256i *)(a + 32 * k));        \
                        sumi = ACC(sumi, _mm256_maddubs_epi16(q[k], av), s[k]);                \
                    }                                                                          \
                    int corr = q6_corr(x[i].scales, y[t][i].bsums);                            \
                    __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(                            \
                        sumi, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0)));             \
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[t][i].d), f, acc[t]);        \
                }                                                                              \
            }                                                                                  \
            for (int t = 0; t < nt; t++)                                                       \
                out[t0 + t] = hsum_ps(acc[t]);                                                 \
        }                                                                                      \
    }

DEF_Q6_K_MULTI(dot_q6_k_multi_avx2, AVX2, ACC_AVX2)
DEF_Q6_K_MULTI(dot_q6_k_multi_vnni, AVX512, ACC_VNNI)

AVX2 static void axpy_avx2(float *y, float a, const float *x, size_t n)
{
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
                                                _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8),
                                                    _mm256_loadu_ps(y + i + 8)));
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

quant_axpy_fn quant_axpy_avx2(void) { return axpy_avx2; }

quant_dot_multi_fn quant_dot_multi_avx2(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_Q8_0: return dot_q8_0_multi_avx2;
    case GGML_TYPE_Q4_K: return dot_q4_k_multi_avx2;
    case GGML_TYPE_Q6_K: return dot_q6_k_multi_avx2;
    }
    return NULL;
}

quant_dot_multi_fn quant_dot_multi_avx512(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_Q8_0: return dot_q8_0_multi_vnni;
    case GGML_TYPE_Q4_K: return dot_q4_k_multi_vnni;
    case GGML_TYPE_Q6_K: return dot_q6_k_multi_vnni;
    }
    return NULL;
}

quant_dot_fn quant_dot_avx2(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_F32: return dot_f32_avx2;
    case GGML_TYPE_F16: return dot_f16_avx2;
    case GGML_TYPE_BF16: return dot_bf16_avx2;
    case GGML_TYPE_Q8_0: return dot_q8_0_avx2;
    case GGML_TYPE_Q4_0: return dot_q4_0_avx2;
    case GGML_TYPE_Q4_K: return dot_q4_k_avx2;
    case GGML_TYPE_Q5_K: return dot_q5_k_avx2;
    case GGML_TYPE_Q6_K: return dot_q6_k_avx2;
    }
    return NULL;
}

quant_dot_fn quant_dot_avx512(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_Q4_K: return dot_q4_k_vnni;
    case GGML_TYPE_Q6_K: return dot_q6_k_vnni;
    case GGML_TYPE_Q8_0: return dot_q8_0_vnni;
    case GGML_TYPE_Q4_0: return dot_q4_0_vnni;
    }
    return NULL;
}

enum quant_isa quant_cpu_isa(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return QUANT_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return QUANT_ISA_AVX2;
    return QUANT_ISA_PORTABLE;
}

#else /* not x86-64: portable kernels only */

quant_dot_fn quant_dot_avx2(uint32_t type) { (void)type; return NULL; }
quant_axpy_fn quant_axpy_avx2(void) { return NULL; }
quant_dot_multi_fn quant_dot_multi_avx2(uint32_t type) { (void)type; return NULL; }
quant_dot_multi_fn quant_dot_multi_avx512(uint32_t type) { (void)type; return NULL; }
quant_dot_fn quant_dot_avx512(uint32_t type) { (void)type; return NULL; }
enum quant_isa quant_cpu_isa(void) { return QUANT_ISA_PORTABLE; }

#endif
