/* quant_x86.c - AVX2 and AVX-512 (VNNI) dot-product kernels, compiled with per-function target
 * attributes so the rest of the binary stays baseline x86-64; quant.c picks them at run time. */
#include "engine/quant_int.h"

#include "engine/gemm_x86.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#include "engine/kern_x86.h"

AVX2 static inline float h2f(ggml_half h)
{
    return _cvtsh_ss(h);
}

/* ---- float weights ---- */

AVX2 static float dot_f32_avx2(const void *w, const void *a, size_t n)
{
    return dot_f32_256(w, a, n);
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
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i + 1].d) * y[i + 1].d), _mm256_cvtepi32_ps(p1),
                               acc1);
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
        __m256i p =
            _mm256_madd_epi16(_mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y[i].qs)),
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
/* The heads of two Q4_K blocks (f16 d and dmin, then the 12 scale bytes), one in each 128-bit
 * lane of v, decoded in vector registers: in each lane, bytes 0-7 the eight 6-bit scales, bytes
 * 8-15 the eight mins. The same values as k_unpack_scales, without a round trip through
 * memory. */
AVX2 static ALWAYS_INLINE __m256i k4_head2(__m256i v)
{
    __m256i a = _mm256_shuffle_epi32(v, _MM_SHUFFLE(3, 2, 3, 1)); /* u0, u2, u1, u2 */
    __m256i c = _mm256_shuffle_epi32(v, _MM_SHUFFLE(2, 2, 1, 1)); /* u0, u0, u1, u1 */
    /* low bits: u0 & 3f, u2 & 0f, u1 & 3f, (u2 >> 4) & 0f; top bits 6-7 of u0 and u1 to 4-5 */
    __m256i lo =
        _mm256_and_si256(_mm256_srlv_epi32(a, _mm256_setr_epi32(0, 0, 0, 4, 0, 0, 0, 4)),
                         _mm256_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f,
                                           0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    __m256i hi =
        _mm256_and_si256(_mm256_srli_epi32(c, 2), _mm256_setr_epi32(0, 0x30303030, 0, 0x30303030, 0,
                                                                    0x30303030, 0, 0x30303030));
    return _mm256_or_si256(lo, hi);
}

/* k4_head2 for one block; *dd gets d in lane 0 and dmin in lane 1. */
AVX2 static inline __m128i k4_head(const struct block_q4_k *b, __m128 *dd)
{
    __m128i v = _mm_loadu_si128((const __m128i *)b); /* d, dmin | u0 | u1 | u2 */
    *dd = _mm_cvtph_ps(v);
    return _mm256_castsi256_si128(k4_head2(_mm256_castsi128_si256(v)));
}

/* min j as int16 for both 16-element sums of sub-block j, from k4_head's bytes */
AVX2 static inline __m256i k4_min_pairs(__m128i head)
{
    return _mm256_cvtepu8_epi16(_mm_shuffle_epi8(
        head, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15)));
}

#define K_PICK(v, j)                                                                               \
    _mm256_shuffle_epi8((v), _mm256_set1_epi16((short)(((2 * (j) + 1) << 8) | (2 * (j)))))

/* sum += (16-bit products) . (16-bit scales) pairwise into 32-bit lanes */
#define ACC_AVX2(sum, p, s) _mm256_add_epi32((sum), _mm256_madd_epi16((p), (s)))

#define DEF_Q4_K(NAME, ATTR, ACC)                                                                  \
    ATTR static float NAME(const void *w, const void *a, size_t n)                                 \
    {                                                                                              \
        const struct block_q4_k *x = w;                                                            \
        const struct block_qa8k *y = a;                                                            \
        const __m256i m4 = _mm256_set1_epi8(0x0F);                                                 \
        __m256 acc = _mm256_setzero_ps();                                                          \
        float corr = 0;                                                                            \
        for (size_t i = 0; i < n / QKK; i++) {                                                     \
            uint8_t sc[8];                                                                         \
            int msum = k_scales_mins(x[i].scales, y[i].bsums, sc);                                 \
            __m256i sv = k_scale_vec(sc), sumi = _mm256_setzero_si256();                           \
            for (int c = 0; c < 4; c++) {                                                          \
                __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));               \
                __m256i lo = _mm256_and_si256(q, m4);                                              \
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);                        \
                __m256i a0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c));              \
                __m256i a1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32));         \
                sumi = ACC(sumi, _mm256_maddubs_epi16(lo, a0), K_PICK(sv, 2 * c));                 \
                sumi = ACC(sumi, _mm256_maddubs_epi16(hi, a1), K_PICK(sv, 2 * c + 1));             \
            }                                                                                      \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi),  \
                                  acc);                                                            \
            corr += h2f(x[i].dmin) * y[i].d * (float)msum;                                         \
        }                                                                                          \
        return hsum_ps(acc) - corr;                                                                \
    }

DEF_Q4_K(dot_q4_k_avx2, AVX2, ACC_AVX2)

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

/* Scales of a 32-weight group k (0..3) of a half: low lane scale 2k, high lane 2k+1, from the
 * half's eight scales broadcast as int16 to both lanes. */
#define Q6_PICK(v, k)                                                                              \
    _mm256_shuffle_epi8(                                                                           \
        (v), _mm256_set_m128i(_mm_set1_epi16((short)(((4 * (k) + 3) << 8) | (4 * (k) + 2))),       \
                              _mm_set1_epi16((short)(((4 * (k) + 1) << 8) | (4 * (k))))))

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

#define DEF_Q6_K(NAME, ATTR, ACC)                                                                  \
    ATTR static float NAME(const void *w, const void *a, size_t n)                                 \
    {                                                                                              \
        const struct block_q6_k *x = w;                                                            \
        const struct block_qa8k *y = a;                                                            \
        __m256 acc = _mm256_setzero_ps();                                                          \
        for (size_t i = 0; i < n / QKK; i++) {                                                     \
            __m256i sumi = _mm256_setzero_si256();                                                 \
            for (int h = 0; h < 2; h++) {                                                          \
                __m256i q[4];                                                                      \
                q6_unpack(x[i].ql + 64 * h, x[i].qh + 32 * h, q);                                  \
                __m256i sv = _mm256_broadcastsi128_si256(                                          \
                    _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h))));   \
                const int8_t *ay = y[i].qs + 128 * h;                                              \
                for (int k = 0; k < 4; k++) {                                                      \
                    __m256i av = _mm256_loadu_si256((const __m256i *)(ay + 32 * k));               \
                    sumi = ACC(sumi, _mm256_maddubs_epi16(q[k], av), Q6_PICK(sv, k));              \
                }                                                                                  \
            }                                                                                      \
            int corr = q6_corr(x[i].scales, y[i].bsums);                                           \
            __m256 f = _mm256_cvtepi32_ps(                                                         \
                _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0)));        \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), f, acc);                   \
        }                                                                                          \
        return hsum_ps(acc);                                                                       \
    }

DEF_Q6_K(dot_q6_k_avx2, AVX2, ACC_AVX2)

/* ---- one weight row against several activation rows (batched prompts) ----
 * Each weight block is loaded and unpacked once for four activation rows. */

#define ACT_ROW(act, stride, t) ((const uint8_t *)(act) + (size_t)(t) * (stride))

/* The start and end of the K row bodies (1-4 activation rows): row t's activation blocks and
 * its accumulator, zeroed; then each accumulator's lane 0 out. */
AVX2 static ALWAYS_INLINE void k_rows_start(const uint8_t *act, size_t stride, int nt,
                                            const struct block_qa8k *y[4], __m128 acc[4])
{
    for (int t = 0; t < nt; t++) {
        y[t] = (const void *)ACT_ROW(act, stride, t);
        acc[t] = _mm_setzero_ps();
    }
}

AVX2 static ALWAYS_INLINE void k_rows_end(const __m128 acc[4], int nt, float *out)
{
    for (int t = 0; t < nt; t++)
        out[t] = _mm_cvtss_f32(acc[t]);
}

#define DEF_Q8_0_MULTI(NAME, ATTR, DOTI8)                                                          \
    ATTR static void NAME(const void *w, const void *act, size_t stride, int n_act, float *out,    \
                          size_t n)                                                                \
    {                                                                                              \
        const struct block_q8_0 *x = w;                                                            \
        for (int t0 = 0; t0 < n_act; t0 += 4) {                                                    \
            int nt = n_act - t0 < 4 ? n_act - t0 : 4;                                              \
            const struct block_qa8 *y[4];                                                          \
            __m256 acc[4];                                                                         \
            for (int t = 0; t < 4; t++) {                                                          \
                y[t] = (const void *)ACT_ROW(act, stride, t0 + (t < nt ? t : 0));                  \
                acc[t] = _mm256_setzero_ps();                                                      \
            }                                                                                      \
            for (size_t i = 0; i < n / QK; i++) {                                                  \
                __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);                         \
                float dx = h2f(x[i].d);                                                            \
                for (int t = 0; t < 4; t++) {                                                      \
                    __m256i p = DOTI8(qx, _mm256_loadu_si256((const __m256i *)y[t][i].qs));        \
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d),                       \
                                             _mm256_cvtepi32_ps(p), acc[t]);                       \
                }                                                                                  \
            }                                                                                      \
            for (int t = 0; t < nt; t++)                                                           \
                out[t0 + t] = hsum_ps(acc[t]);                                                     \
        }                                                                                          \
    }

DEF_Q8_0_MULTI(dot_q8_0_multi_avx2, AVX2, dot_i8_avx2)

#define DEF_Q4_K_MULTI(NAME, ATTR, ACC)                                                            \
    ATTR static void NAME(const void *w, const void *act, size_t stride, int n_act, float *out,    \
                          size_t n)                                                                \
    {                                                                                              \
        const struct block_q4_k *x = w;                                                            \
        const __m256i m4 = _mm256_set1_epi8(0x0F);                                                 \
        for (int t0 = 0; t0 < n_act; t0 += 4) {                                                    \
            int nt = n_act - t0 < 4 ? n_act - t0 : 4;                                              \
            const struct block_qa8k *y[4];                                                         \
            __m256 acc[4];                                                                         \
            float corr[4] = {0};                                                                   \
            for (int t = 0; t < 4; t++) {                                                          \
                y[t] = (const void *)ACT_ROW(act, stride, t0 + (t < nt ? t : 0));                  \
                acc[t] = _mm256_setzero_ps();                                                      \
            }                                                                                      \
            for (size_t i = 0; i < n / QKK; i++) {                                                 \
                uint8_t sc[8];                                                                     \
                __m128i mins = k_unpack_scales(x[i].scales, sc);                                   \
                __m256i sv = k_scale_vec(sc), lo[4], hi[4];                                        \
                for (int c = 0; c < 4; c++) {                                                      \
                    __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));           \
                    lo[c] = _mm256_and_si256(q, m4);                                               \
                    hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);                         \
                }                                                                                  \
                float d = h2f(x[i].d), dmin = h2f(x[i].dmin);                                      \
                for (int t = 0; t < 4; t++) {                                                      \
                    const int8_t *a = y[t][i].qs;                                                  \
                    __m256i sumi = _mm256_setzero_si256();                                         \
                    for (int c = 0; c < 4; c++) {                                                  \
                        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + 64 * c));            \
                        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + 64 * c + 32));       \
                        sumi = ACC(sumi, _mm256_maddubs_epi16(lo[c], a0), K_PICK(sv, 2 * c));      \
                        sumi = ACC(sumi, _mm256_maddubs_epi16(hi[c], a1), K_PICK(sv, 2 * c + 1));  \
                    }                                                                              \
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[t][i].d),                        \
                                             _mm256_cvtepi32_ps(sumi), acc[t]);                    \
                    corr[t] += dmin * y[t][i].d * (float)k_min_dot(mins, y[t][i].bsums);           \
                }                                                                                  \
            }                                                                                      \
            for (int t = 0; t < nt; t++)                                                           \
                out[t0 + t] = hsum_ps(acc[t]) - corr[t];                                           \
        }                                                                                          \
    }

DEF_Q4_K_MULTI(dot_q4_k_multi_avx2, AVX2, ACC_AVX2)

#define DEF_Q6_K_MULTI(NAME, ATTR, ACC)                                                            \
    ATTR static void NAME(const void *w, const void *act, size_t stride, int n_act, float *out,    \
                          size_t n)                                                                \
    {                                                                                              \
        const struct block_q6_k *x = w;                                                            \
        for (int t0 = 0; t0 < n_act; t0 += 4) {                                                    \
            int nt = n_act - t0 < 4 ? n_act - t0 : 4;                                              \
            const struct block_qa8k *y[4];                                                         \
            __m256 acc[4];                                                                         \
            for (int t = 0; t < 4; t++) {                                                          \
                y[t] = (const void *)ACT_ROW(act, stride, t0 + (t < nt ? t : 0));                  \
                acc[t] = _mm256_setzero_ps();                                                      \
            }                                                                                      \
            for (size_t i = 0; i < n / QKK; i++) {                                                 \
                __m256i q[8], s[8];                                                                \
                for (int h = 0; h < 2; h++) {                                                      \
                    q6_unpack(x[i].ql + 64 * h, x[i].qh + 32 * h, q + 4 * h);                      \
                    __m256i sv = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(                    \
                        _mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h))));                 \
                    s[4 * h] = Q6_PICK(sv, 0);                                                     \
                    s[4 * h + 1] = Q6_PICK(sv, 1);                                                 \
                    s[4 * h + 2] = Q6_PICK(sv, 2);                                                 \
                    s[4 * h + 3] = Q6_PICK(sv, 3);                                                 \
                }                                                                                  \
                float d = h2f(x[i].d);                                                             \
                for (int t = 0; t < 4; t++) {                                                      \
                    const int8_t *a = y[t][i].qs;                                                  \
                    __m256i sumi = _mm256_setzero_si256();                                         \
                    for (int k = 0; k < 8; k++) {                                                  \
                        __m256i av = _mm256_loadu_si256((const __m256i *)(a + 32 * k));            \
                        sumi = ACC(sumi, _mm256_maddubs_epi16(q[k], av), s[k]);                    \
                    }                                                                              \
                    int corr = q6_corr(x[i].scales, y[t][i].bsums);                                \
                    __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(                                \
                        sumi, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0)));                 \
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[t][i].d), f, acc[t]);            \
                }                                                                                  \
            }                                                                                      \
            for (int t = 0; t < nt; t++)                                                           \
                out[t0 + t] = hsum_ps(acc[t]);                                                     \
        }                                                                                          \
    }

DEF_Q6_K_MULTI(dot_q6_k_multi_avx2, AVX2, ACC_AVX2)

/* ---- VNNI multi-row kernels (decoding steps of a few sequences at once) ----
 * Generation runs these with 2..4 activation rows, where the per-row work decides the cost:
 * each body is instantiated for a constant count of rows (1..4) so no work is spent on padding
 * rows, and everything that depends only on the weight block (nibbles, 6-bit values, scale
 * shuffles) is decoded once per block. Each row's arithmetic is the single-row kernel's, lane
 * for lane and in the same order (the Q4_K and Q6_K single-row kernels are these bodies for one
 * row; Q8_0 follows dot_q8_0_vnni), so the results are bit for bit those of the single kernel:
 * a decoding step batched with others gives the logits it would give alone (a difference in
 * the last bit can move a quantized activation downstream by a whole step). */

/* block i of every row into accumulator set e (as dot_q8_0_vnni: even blocks into one, odd
 * ones into the other) */
#define Q8_ROWS_BLOCK(i, e)                                                                        \
    do {                                                                                           \
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);                                 \
        __m256i ax = _mm256_sign_epi8(qx, qx);                                                     \
        float dx = h2f(x[i].d);                                                                    \
        for (int t = 0; t < nt; t++) {                                                             \
            __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y[t][i].qs), qx);    \
            __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy);                       \
            acc##e[t] =                                                                            \
                _mm256_fmadd_ps(_mm256_set1_ps(dx * y[t][i].d), _mm256_cvtepi32_ps(p), acc##e[t]); \
        }                                                                                          \
    } while (0)

AVX512 static ALWAYS_INLINE void q8_0_rows_vnni(const struct block_q8_0 *x, const uint8_t *act,
                                                size_t stride, const int nt, float *out, size_t n)
{
    const struct block_qa8 *y[4];
    __m256 acc0[4], acc1[4];
    for (int t = 0; t < nt; t++) {
        y[t] = (const void *)ACT_ROW(act, stride, t);
        acc0[t] = acc1[t] = _mm256_setzero_ps();
    }
    size_t nb = n / QK, i = 0;
    for (; i + 2 <= nb; i += 2) {
        Q8_ROWS_BLOCK(i, 0);
        Q8_ROWS_BLOCK(i + 1, 1);
    }
    for (; i < nb; i++)
        Q8_ROWS_BLOCK(i, 0);
    for (int t = 0; t < nt; t++)
        out[t] = hsum_ps(_mm256_add_ps(acc0[t], acc1[t]));
}

#undef Q8_ROWS_BLOCK

/* Q4_K: vpdpbusd sums of four nibbles times activations (at most 15 * 127 * 4 in magnitude)
 * for two sub-blocks packed into one int16 vector and scaled with one vpdpwssd, the mins against
 * the activation sums with one vpmaddwd; each block's integer sums are then added up exactly and
 * finished by k4_block_end, the step the tiled kernel (gemm_x86.c) shares. */
AVX512 static ALWAYS_INLINE void q4_k_rows_vnni(const struct block_q4_k *x, const uint8_t *act,
                                                size_t stride, const int nt, float *out, size_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const struct block_qa8k *y[4];
    __m128 acc[4];
    k_rows_start(act, stride, nt, y, acc);
    __m256i hs = _mm256_setzero_si256(), hm = hs; /* one row: the block held for pairing */
    __m128 hdd = _mm_setzero_ps();
    int held = 0;
    for (size_t i = 0; i < n / QKK; i++) {
        __m128 dd;
        __m128i head = k4_head(&x[i], &dd);
        /* min j for the two 16-element sums of sub-block j */
        __m256i mv = k4_min_pairs(head);
        __m256i sv = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(head)), lo[4], hi[4], ps[4];
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            lo[c] = _mm256_and_si256(q, m4);
            hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        }
        /* scales of sub-blocks 2c (lanes 0-3 of each half) and 2c + 1 (lanes 4-7) */
        for (int c = 0; c < 4; c++)
            ps[c] = _mm256_shuffle_epi8(
                sv, _mm256_broadcastsi128_si256(
                        _mm_setr_epi8(4 * c, 4 * c + 1, 4 * c, 4 * c + 1, 4 * c, 4 * c + 1, 4 * c,
                                      4 * c + 1, 4 * c + 2, 4 * c + 3, 4 * c + 2, 4 * c + 3,
                                      4 * c + 2, 4 * c + 3, 4 * c + 2, 4 * c + 3)));
        __m256i s[4], m[4];
        for (int t = 0; t < nt; t++) {
            const int8_t *a = y[t][i].qs;
            s[t] = _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                /* nibble . activation sums of four weights are at most 15 * 127 * 4 in
                 * magnitude, so two sub-blocks pack into one int16 vector without saturating */
                __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + 64 * c));
                __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + 64 * c + 32));
                __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo[c], a0);
                __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi[c], a1);
                s[t] = _mm256_dpwssd_epi32(s[t], _mm256_packs_epi32(p0, p1), ps[c]);
            }
            m[t] = _mm256_madd_epi16(mv, _mm256_loadu_si256((const __m256i *)y[t][i].bsums));
        }
        if (nt == 1) { /* one row: blocks two at a time, their sums reduced together */
            if (!held) {
                hs = s[0], hm = m[0], hdd = dd, held = 1;
                continue;
            }
            __m128 f = k4_pair_f(hs, hm, s[0], m[0], _mm_movelh_ps(hdd, dd));
            acc[0] = _mm_fmadd_ss(f, _mm_set_ss(y[0][i - 1].d), acc[0]);
            acc[0] = _mm_fmadd_ss(_mm_movehl_ps(f, f), _mm_set_ss(y[0][i].d), acc[0]);
            held = 0;
            continue;
        }
        /* rows two at a time, their sums reduced together */
        int t = 0;
        for (; t + 2 <= nt; t += 2) {
            __m128 f = k4_pair_f(s[t], m[t], s[t + 1], m[t + 1], _mm_movelh_ps(dd, dd));
            acc[t] = _mm_fmadd_ss(f, _mm_set_ss(y[t][i].d), acc[t]);
            acc[t + 1] = _mm_fmadd_ss(_mm_movehl_ps(f, f), _mm_set_ss(y[t + 1][i].d), acc[t + 1]);
        }
        if (t < nt) acc[t] = k4_block_end(s[t], m[t], dd, y[t][i].d, acc[t]);
    }
    if (held) acc[0] = k4_block_end(hs, hm, hdd, y[0][n / QKK - 1].d, acc[0]);
    k_rows_end(acc, nt, out);
}

/* Q6_K: as Q4_K, the sums of four 6-bit values times activations being at most 63 * 127 * 4;
 * the -32 offset against the group sums is one vpmaddwd into the accumulator, and each block's
 * exact sum is finished by k6_block_end. */
AVX512 static ALWAYS_INLINE void q6_k_rows_vnni(const struct block_q6_k *x, const uint8_t *act,
                                                size_t stride, const int nt, float *out, size_t n)
{
    const struct block_qa8k *y[4];
    __m128 acc[4];
    k_rows_start(act, stride, nt, y, acc);
    for (size_t i = 0; i < n / QKK; i++) {
        __m256i q[8], ps[4];
        for (int h = 0; h < 2; h++) {
            q6_unpack(x[i].ql + 64 * h, x[i].qh + 32 * h, q + 4 * h);
            __m256i sv = _mm256_broadcastsi128_si256(
                _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h))));
            /* vectors 2m and 2m + 1 of the half packed together: the low 128 bits hold groups
             * 4m (lanes 0-3) and 4m + 2 (lanes 4-7), the high 128 bits 4m + 1 and 4m + 3 */
            for (int m = 0; m < 2; m++) {
                char g0 = (char)(8 * m), g1 = (char)(8 * m + 2), g2 = (char)(8 * m + 4);
                char g3 = (char)(8 * m + 6);
                ps[2 * h + m] = _mm256_shuffle_epi8(
                    sv, _mm256_setr_epi8(g0, g0 + 1, g0, g0 + 1, g0, g0 + 1, g0, g0 + 1, g2, g2 + 1,
                                         g2, g2 + 1, g2, g2 + 1, g2, g2 + 1, g1, g1 + 1, g1, g1 + 1,
                                         g1, g1 + 1, g1, g1 + 1, g3, g3 + 1, g3, g3 + 1, g3, g3 + 1,
                                         g3, g3 + 1));
            }
        }
        /* -32 * scale of each 16-element group: the offset of q - 32 against the group sums */
        __m256i off = _mm256_slli_epi16(
            _mm256_sub_epi16(_mm256_setzero_si256(),
                             _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales))),
            5);
        float d = h2f(x[i].d);
        for (int t = 0; t < nt; t++) {
            const int8_t *a = y[t][i].qs;
            __m256i sumi =
                _mm256_madd_epi16(off, _mm256_loadu_si256((const __m256i *)y[t][i].bsums));
            for (int k = 0; k < 8; k += 2) {
                /* sums of four 6-bit weights times activations are at most 63 * 127 * 4 in
                 * magnitude: two vectors pack into int16 without saturating */
                __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + 32 * k));
                __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + 32 * k + 32));
                __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[k], a0);
                __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[k + 1], a1);
                sumi = _mm256_dpwssd_epi32(sumi, _mm256_packs_epi32(p0, p1), ps[k / 2]);
            }
            acc[t] = k6_block_end(sumi, d, y[t][i].d, acc[t]);
        }
    }
    k_rows_end(acc, nt, out);
}

/* The single-row K kernels are the row bodies for one row, so the single, multi-row and tiled
 * kernels agree bit for bit. */
#define DEF_SINGLE(ATTR, NAME, BODY)                                                               \
    ATTR static float NAME(const void *w, const void *a, size_t n)                                 \
    {                                                                                              \
        float o;                                                                                   \
        BODY(w, a, 0, 1, &o, n);                                                                   \
        return o;                                                                                  \
    }

DEF_SINGLE(AVX512, dot_q4_k_vnni, q4_k_rows_vnni)
DEF_SINGLE(AVX512, dot_q6_k_vnni, q6_k_rows_vnni)

/* The multi-row entry points: groups of four rows, the rest with a kernel for their count. */
#define DEF_MULTI(ATTR, NAME, BODY, BLOCK)                                                         \
    ATTR static void NAME(const void *w, const void *act, size_t stride, int n_act, float *out,    \
                          size_t n)                                                                \
    {                                                                                              \
        const BLOCK *x = w;                                                                        \
        for (int t0 = 0; t0 < n_act; t0 += 4) {                                                    \
            const uint8_t *a = ACT_ROW(act, stride, t0);                                           \
            switch (n_act - t0) {                                                                  \
            case 1:                                                                                \
                BODY(x, a, stride, 1, out + t0, n);                                                \
                break;                                                                             \
            case 2:                                                                                \
                BODY(x, a, stride, 2, out + t0, n);                                                \
                break;                                                                             \
            case 3:                                                                                \
                BODY(x, a, stride, 3, out + t0, n);                                                \
                break;                                                                             \
            default:                                                                               \
                BODY(x, a, stride, 4, out + t0, n);                                                \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    }

DEF_MULTI(AVX512, dot_q8_0_multi_vnni, q8_0_rows_vnni, struct block_q8_0)
DEF_MULTI(AVX512, dot_q4_k_multi_vnni, q4_k_rows_vnni, struct block_q4_k)
DEF_MULTI(AVX512, dot_q6_k_multi_vnni, q6_k_rows_vnni, struct block_q6_k)

/* ---- 512-bit single-row kernels (decoding on cores with full-width 512-bit datapaths) ----
 * Each computes the 256-bit VNNI kernel's float lanes with the same operations in the same
 * order, doing the integer work (where nearly all the instructions are) 512 bits at a time; the
 * integer sums are exact, so the results are those of the 256-bit kernels bit for bit and the
 * start-up choice between the two sets is a matter of speed only. */

AVX512 static inline __m512i load_2x256(const void *lo, const void *hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo)),
                              _mm256_loadu_si256((const __m256i *)hi), 1);
}

/* dot_q8_0_vnni with its even-block and odd-block accumulators as the halves of one vector */
AVX512 static float dot_q8_0_zmm(const void *w, const void *a, size_t n)
{
    const struct block_q8_0 *x = w;
    const struct block_qa8 *y = a;
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc = _mm512_setzero_ps();
    size_t nb = n / QK, i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i qx = load_2x256(x[i].qs, x[i + 1].qs);
        __m512i qy = load_2x256(y[i].qs, y[i + 1].qs);
        /* vpsignb's operands: |x|, and y negated where x < 0 (where x is 0 the product is 0) */
        __m512i ax = _mm512_abs_epi8(qx);
        __m512i sy = _mm512_mask_sub_epi8(qy, _mm512_movepi8_mask(qx), zero, qy);
        __m512i p = _mm512_dpbusd_epi32(zero, ax, sy);
        __m512 d = _mm512_mask_mov_ps(_mm512_set1_ps(h2f(x[i].d) * y[i].d), 0xff00,
                                      _mm512_set1_ps(h2f(x[i + 1].d) * y[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    __m256 acc0 = _mm512_castps512_ps256(acc);
    __m256 acc1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
    for (; i < nb; i++) {
        __m256i p = dot_i8_vnni(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* 256-bit VNNI K kernels pack each pair of vpdpbusd results to int16 and scale the pairs with
 * one vpdpwssd; the sums of pairs of int32 lanes that gives are taken here at the end of a
 * block with one vphaddd instead: each vpdpbusd result (at most 63 * 127 * 4 in magnitude, an
 * int16 in the low half of each int32 lane and its sign in the high half) is scaled by
 * vpdpwssd against a scale in the low half and 0 in the high half of each lane. */

/* The sums of r[0..3]'s sixteen lanes each. sums4_lanes: block b's partials gathered by in-lane
 * unpacks into element b of every 128-bit lane; sums4: those lanes added, the four sums as
 * elements 0-3. */
AVX512 static ALWAYS_INLINE __m512i sums4_lanes(const __m512i r[4])
{
    __m512i t0 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(r[0], r[1]), _mm512_unpackhi_epi32(r[0], r[1]));
    __m512i t1 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(r[2], r[3]), _mm512_unpackhi_epi32(r[2], r[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
}

AVX512 static ALWAYS_INLINE __m128i sums4(const __m512i r[4])
{
    __m512i u = sums4_lanes(r);
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(u), _mm512_extracti64x4_epi64(u, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* vpermb indexes (odd bytes zeroed by the mask) into one block's decoded head (k4_head) for
 * the blocks dot_q4_k_zmm takes one at a time. k4_ctl[k]: the int16 scales of packs(chunk c,
 * chunk c + 1) for c = 2k: in 128-bit lanes 0-1 (low nibbles) elements 0-3 take scale c and
 * 4-7 scale c + 2; in lanes 2-3 (high nibbles) c + 1 and c + 3. k4_mins: the min of sub-block
 * l / 2 (head byte 8 + l / 2) as int16 l in the low 256 bits, as k4_min_pairs. */
#define K4_LANE(v) v, 0, v, 0, v, 0, v, 0, (v) + 2, 0, (v) + 2, 0, (v) + 2, 0, (v) + 2, 0
#define K4_CTL(k)                                                                                  \
    {                                                                                              \
        K4_LANE(4 * (k)), K4_LANE(4 * (k)), K4_LANE(4 * (k) + 1), K4_LANE(4 * (k) + 1)             \
    }
#define K4_MIN2(v) v, 0, v, 0
static const _Alignas(64) uint8_t k4_ctl[2][64] = {K4_CTL(0), K4_CTL(1)};
static const _Alignas(64) uint8_t k4_mins[64] = {K4_MIN2(8),  K4_MIN2(9),  K4_MIN2(10),
                                                 K4_MIN2(11), K4_MIN2(12), K4_MIN2(13),
                                                 K4_MIN2(14), K4_MIN2(15)};
#undef K4_LANE
#undef K4_CTL
#undef K4_MIN2

/* k4_head2 for four heads, one in each 128-bit lane (the same steps, the last two merged into
 * one vpternlogd). */
AVX512 static ALWAYS_INLINE __m512i k4_head4(__m512i v)
{
    __m512i a = _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)_MM_SHUFFLE(3, 2, 3, 1));
    __m512i c = _mm512_shuffle_epi32(v, (_MM_PERM_ENUM)_MM_SHUFFLE(2, 2, 1, 1));
    __m512i lo =
        _mm512_and_si512(_mm512_srlv_epi32(a, _mm512_set4_epi32(4, 0, 0, 0)),
                         _mm512_set4_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f));
    /* lo | (c >> 2 & the top bits' mask) */
    return _mm512_ternarylogic_epi32(lo, _mm512_srli_epi32(c, 2),
                                     _mm512_set4_epi32(0x30303030, 0, 0x30303030, 0), 0xF8);
}

/* vpermb indexes (odd bytes zeroed by the mask) into k4_head4's decoded heads for the grouped
 * activations (struct qa8k_group). k4z_ctl[b][k]: the int16 scales of packs(low nibbles, high
 * nibbles) of block b's weight bytes 64k..64k + 63, whose 128-bit lanes 0-1 hold sub-blocks 4k
 * (elements 0-3) and 4k + 1 (4-7), lanes 2-3 sub-blocks 4k + 2 and 4k + 3. k4z_mins: the min of
 * block b's sub-block j as int16 8b + j, against the group's sub-block sums. */
#define K4Z_LANE(v) v, 0, v, 0, v, 0, v, 0, (v) + 1, 0, (v) + 1, 0, (v) + 1, 0, (v) + 1, 0
#define K4Z_CTL(b, k)                                                                              \
    {                                                                                              \
        K4Z_LANE(16 * (b) + 4 * (k)), K4Z_LANE(16 * (b) + 4 * (k)),                                \
            K4Z_LANE(16 * (b) + 4 * (k) + 2), K4Z_LANE(16 * (b) + 4 * (k) + 2)                     \
    }
#define K4Z_MINS(b)                                                                                \
    16 * (b) + 8, 0, 16 * (b) + 9, 0, 16 * (b) + 10, 0, 16 * (b) + 11, 0, 16 * (b) + 12, 0,        \
        16 * (b) + 13, 0, 16 * (b) + 14, 0, 16 * (b) + 15, 0
static const _Alignas(64) uint8_t k4z_ctl[4][2][64] = {{K4Z_CTL(0, 0), K4Z_CTL(0, 1)},
                                                       {K4Z_CTL(1, 0), K4Z_CTL(1, 1)},
                                                       {K4Z_CTL(2, 0), K4Z_CTL(2, 1)},
                                                       {K4Z_CTL(3, 0), K4Z_CTL(3, 1)}};
static const _Alignas(64) uint8_t k4z_mins[64] = {K4Z_MINS(0), K4Z_MINS(1), K4Z_MINS(2),
                                                  K4Z_MINS(3)};
#undef K4Z_LANE
#undef K4Z_CTL
#undef K4Z_MINS

/* q4_k_rows_vnni for 1-4 activation rows (the weights decoded once for all), reading whole
 * groups of four blocks from each row's grouped activations (struct qa8k_group), the rest from
 * its blocks. In a group, 64 weight bytes are one load: their low nibbles (one vpand) are the
 * weights of two sub-blocks and their high nibbles (one GF(2) affine byte transform) the two in
 * between, each against a contiguous 64-byte vector of the group. Two such vpdpbusd results are
 * packed to int16 and scaled by one vpdpwssd, its int16 scales picked from the four decoded heads
 * (one per 128-bit lane) by one vpermb; the mins of all four blocks go against the group's
 * sub-block sums in one vpmaddwd, which leaves block b's in 128-bit lane b. The four blocks' exact
 * S are gathered by in-lane unpacks and M by one vpermd, both then summed across lanes, and the
 * four float steps (k4_block_end's) are done together; each block's term is still added to the
 * accumulator in block order, so every row's result is q4_k_rows_vnni's bit for bit. Blocks outside
 * whole groups go one at a time: a 32-byte chunk's low nibbles in the low half of a vector and its
 * high nibbles in the high half (one GF(2) affine byte transform). Needs GFNI and AVX512-VBMI
 * besides the AVX-512 set (quant_x86_kernels lists it only then). */
AVX512_GV static ALWAYS_INLINE void q4_k_zmm_rows(const struct block_q4_k *x, const uint8_t *act,
                                                  size_t stride, const int nt, float *out, size_t n)
{
    const struct block_qa8k *y[4];
    const struct qa8k_group *g[4];
    __m128 acc[4];
    k_rows_start(act, stride, nt, y, acc);
    for (int t = 0; t < nt; t++)
        g[t] = quant_qa8k_groups(y[t], n);
    const __m512i zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(0x0F);
    const __mmask64 even = 0x5555555555555555ULL;
    /* GF(2) affine bit matrices (byte 7 - i picks output bit i): a byte's low nibble to its high
     * nibble, and its high nibble to its low nibble, the other bits zero */
    const long long lo_bits = 0x0102040800000000LL, hi_bits = 0x1020408000000000LL;
    const __m512i hi_nib = _mm512_set1_epi64(hi_bits);
    size_t nb = n / QKK, i = 0;
    if (g[0]) {
        /* 4x4 transpose of int32: element 4l + b from 4b + l */
        const __m512i tr = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        /* int16 indexes of the four blocks' d (elements 0, 8, 16, 24 of the heads) then dmin */
        const __m512i dsel = _mm512_setr_epi32(0x80000, 0x180010, 0x90001, 0x190011, 0, 0, 0, 0, 0,
                                               0, 0, 0, 0, 0, 0, 0);
        for (; i + 4 <= nb; i += 4) {
            /* the four heads, block b's in 128-bit lane b, decoded together */
            __m512i raw = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)&x[i]));
            raw = _mm512_mask_broadcast_i32x4(raw, 0x00F0,
                                              _mm_loadu_si128((const __m128i *)&x[i + 1]));
            raw = _mm512_mask_broadcast_i32x4(raw, 0x0F00,
                                              _mm_loadu_si128((const __m128i *)&x[i + 2]));
            raw = _mm512_mask_broadcast_i32x4(raw, 0xF000,
                                              _mm_loadu_si128((const __m128i *)&x[i + 3]));
            __m512i hv = k4_head4(raw), r[4][4];
            for (int b = 0; b < 4; b++) {
                for (int t = 0; t < nt; t++)
                    r[t][b] = zero;
                for (int k = 0; k < 2; k++) {
                    __m512i q = _mm512_loadu_si512(x[i + b].qs + 64 * k);
                    __m512i lo = _mm512_and_si512(q, m4);
                    __m512i hi = _mm512_gf2p8affine_epi64_epi8(q, hi_nib, 0);
                    __m512i sc =
                        _mm512_maskz_permutexvar_epi8(even, _mm512_load_si512(k4z_ctl[b][k]), hv);
                    for (int t = 0; t < nt; t++) {
                        const int8_t *a = g[t]->qs[b] + 128 * k;
                        __m512i pl = _mm512_dpbusd_epi32(zero, lo, _mm512_loadu_si512(a));
                        __m512i ph = _mm512_dpbusd_epi32(zero, hi, _mm512_loadu_si512(a + 64));
                        r[t][b] = _mm512_dpwssd_epi32(r[t][b], _mm512_packs_epi32(pl, ph), sc);
                    }
                }
            }
            __m512i mins = _mm512_maskz_permutexvar_epi8(even, _mm512_load_si512(k4z_mins), hv);
            __m256 dm =
                _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(dsel, raw)));
            for (int t = 0; t < nt; t++) {
                __m512i mv = _mm512_madd_epi16(mins, _mm512_loadu_si512(g[t]->sums));
                /* partials of block b's S in element b of every 128-bit lane (u), of M likewise
                 * (mt); summed across lanes: the four S in lane 0, the four M in lane 2 */
                __m512i u = sums4_lanes(r[t]), mt = _mm512_permutexvar_epi32(tr, mv);
                __m512i sm = _mm512_add_epi32(_mm512_shuffle_i64x2(u, mt, 0x44),
                                              _mm512_shuffle_i64x2(u, mt, 0xEE));
                sm = _mm512_add_epi32(sm, _mm512_shuffle_i64x2(sm, sm, 0xB1));
                __m128 S = _mm_cvtepi32_ps(_mm512_castsi512_si128(sm));
                __m128 M = _mm_cvtepi32_ps(_mm512_extracti32x4_epi32(sm, 2));
                /* S * d - M * dmin of each block, as k4_block_end */
                __m128 f = _mm_fmsub_ps(S, _mm256_castps256_ps128(dm),
                                        _mm_mul_ps(M, _mm256_extractf128_ps(dm, 1)));
                __m128 yd = _mm_loadu_ps(g[t]->d);
                __m128 a = _mm_fmadd_ss(f, yd, acc[t]);
                a = _mm_fmadd_ss(_mm_movehdup_ps(f), _mm_movehdup_ps(yd), a);
                a = _mm_fmadd_ss(_mm_movehl_ps(f, f), _mm_movehl_ps(yd, yd), a);
                acc[t] = _mm_fmadd_ss(_mm_shuffle_ps(f, f, 3), _mm_shuffle_ps(yd, yd, 3), a);
                g[t]++;
            }
        }
    }
    const __m512i nib =
        _mm512_setr_epi64(lo_bits, lo_bits, lo_bits, lo_bits, hi_bits, hi_bits, hi_bits, hi_bits);
    for (; i < nb; i++) {
        __m128 dd;
        __m512i hv = _mm512_castsi128_si512(k4_head(&x[i], &dd)), q[4], sc[2];
        for (int c = 0; c < 4; c++)
            q[c] = _mm512_gf2p8affine_epi64_epi8(
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c))),
                nib, 0);
        for (int k = 0; k < 2; k++)
            sc[k] = _mm512_maskz_permutexvar_epi8(even, _mm512_load_si512(k4_ctl[k]), hv);
        __m256i mins = _mm512_castsi512_si256(
            _mm512_maskz_permutexvar_epi8(even, _mm512_load_si512(k4_mins), hv));
        for (int t = 0; t < nt; t++) {
            __m512i r = zero;
            for (int k = 0; k < 2; k++) {
                __m512i p[2];
                for (int j = 0; j < 2; j++) {
                    int c = 2 * k + j;
                    p[j] = _mm512_dpbusd_epi32(zero, q[c], _mm512_loadu_si512(y[t][i].qs + 64 * c));
                }
                r = _mm512_dpwssd_epi32(r, _mm512_packs_epi32(p[0], p[1]), sc[k]);
            }
            __m256i s =
                _mm256_add_epi32(_mm512_castsi512_si256(r), _mm512_extracti64x4_epi64(r, 1));
            __m256i m = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[t][i].bsums));
            acc[t] = k4_block_end(s, m, dd, y[t][i].d, acc[t]);
        }
    }
    k_rows_end(acc, nt, out);
}

/* The single-row kernel is the body for one row; the multi-row one decodes the weights'
 * nibbles, heads and scales once per block for all rows, each row's arithmetic that of the
 * single row. */
DEF_SINGLE(AVX512_GV, dot_q4_k_zmm, q4_k_zmm_rows)
DEF_MULTI(AVX512_GV, dot_q4_k_multi_zmm, q4_k_zmm_rows, struct block_q4_k)

/* q6_k_rows_vnni for 1-4 activation rows (the weights unpacked once for all): per 128-weight
 * half, one 512-bit vector holds the 6-bit values of the first two 32-weight groups, another
 * those of the last two (high nibbles by a shift), their two high bits moved into place by
 * GF(2) affine byte transforms of the broadcast qh bytes (bits 0-1 / 4-5 of each byte
 * for the low four qwords, 2-3 / 6-7 for the high four); their vpdpbusd results are packed and
 * scaled together as in dot_q4_k_zmm, the int16 scales picked by one vpermw from the block's
 * sixteen sign-extended scales. Blocks go four at a time, their exact sums reduced together
 * and k6_block_end's float steps done for the four in one vector, each block's term still added
 * in block order, so every row's result is q6_k_rows_vnni's bit for bit. Needs GFNI (and is
 * listed with dot_q4_k_zmm). */
AVX512_GV static ALWAYS_INLINE void q6_k_zmm_rows(const struct block_q6_k *x, const uint8_t *act,
                                                  size_t stride, const int nt, float *out, size_t n)
{
    const struct block_qa8k *y[4];
    __m128 acc[4];
    k_rows_start(act, stride, nt, y, acc);
    const __m512i m4 = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
    /* byte 7 - i of a qword's matrix: the source bits that make result bit i */
    const long long lo01 = 0x01020000LL, hi01 = 0x04080000LL; /* bits 0-1 / 2-3 to 4-5 */
    const long long lo23 = 0x10200000LL, hi23 = 0x40800000LL; /* bits 4-5 / 6-7 to 4-5 */
    const __m512i h01 = _mm512_setr_epi64(lo01, lo01, lo01, lo01, hi01, hi01, hi01, hi01);
    const __m512i h23 = _mm512_setr_epi64(lo23, lo23, lo23, lo23, hi23, hi23, hi23, hi23);
    /* vpermw indexes of the int16 scales of packs(first two groups, last two) for half h: in
     * 128-bit lane j elements 0-3 take the half's scale j and 4-7 its scale 4 + j */
    __m512i ctl[2];
    for (int h = 0; h < 2; h++) {
        _Alignas(64) short b[32];
        for (int j = 0; j < 4; j++)
            for (int e = 0; e < 8; e++)
                b[8 * j + e] = (short)(8 * h + (e < 4 ? 0 : 4) + j);
        ctl[h] = _mm512_load_si512(b);
    }
    size_t nb = n / QKK, i = 0;
    /* partial sums r[t][b] of block i's exact sum against row t, the -32 offset's term
     * included; the block's 6-bit values and scales unpacked once for all rows */
#define Q6_K_ZMM_S(i, b)                                                                           \
    do {                                                                                           \
        __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));          \
        __m256i off = _mm256_slli_epi16(_mm256_sub_epi16(_mm256_setzero_si256(), sc), 5);          \
        for (int t = 0; t < nt; t++)                                                               \
            r[t][b] = _mm512_zextsi256_si512(                                                      \
                _mm256_madd_epi16(off, _mm256_loadu_si256((const __m256i *)y[t][i].bsums)));       \
        __m512i sv = _mm512_castsi256_si512(sc);                                                   \
        for (int h = 0; h < 2; h++) {                                                              \
            __m512i l = _mm512_loadu_si512((const void *)(x[i].ql + 64 * h));                      \
            __m512i hh =                                                                           \
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h)));   \
            /* (l & m4) | high bits */                                                             \
            __m512i q01 =                                                                          \
                _mm512_ternarylogic_epi64(l, m4, _mm512_gf2p8affine_epi64_epi8(hh, h01, 0), 0xEA); \
            __m512i q23 = _mm512_ternarylogic_epi64(                                               \
                _mm512_srli_epi16(l, 4), m4, _mm512_gf2p8affine_epi64_epi8(hh, h23, 0), 0xEA);     \
            __m512i s = _mm512_permutexvar_epi16(ctl[h], sv);                                      \
            for (int t = 0; t < nt; t++) {                                                         \
                const int8_t *a = y[t][i].qs + 128 * h;                                            \
                __m512i p01 = _mm512_dpbusd_epi32(zero, q01, _mm512_loadu_si512(a));               \
                __m512i p23 = _mm512_dpbusd_epi32(zero, q23, _mm512_loadu_si512(a + 64));          \
                r[t][b] = _mm512_dpwssd_epi32(r[t][b], _mm512_packs_epi32(p01, p23), s);           \
            }                                                                                      \
        }                                                                                          \
    } while (0)
    /* four blocks at a time: their exact sums reduced together (into element b for block b,
     * sums4), d * yd of the four in one vector, each block's term then added to the
     * accumulator in block order as k6_block_end does */
    for (; i + 4 <= nb; i += 4) {
        __m512i r[4][4];
        for (int b = 0; b < 4; b++)
            Q6_K_ZMM_S(i + b, b);
        __m128i dh = _mm_cvtsi32_si128(x[i].d);
        dh = _mm_insert_epi16(dh, x[i + 1].d, 1);
        dh = _mm_insert_epi16(dh, x[i + 2].d, 2);
        dh = _mm_insert_epi16(dh, x[i + 3].d, 3);
        __m128 d4 = _mm_cvtph_ps(dh);
        for (int t = 0; t < nt; t++) {
            __m128 s4 = _mm_cvtepi32_ps(sums4(r[t]));
            const struct block_qa8k *yt = y[t];
            __m128 dy = _mm_mul_ps(d4, _mm_setr_ps(yt[i].d, yt[i + 1].d, yt[i + 2].d, yt[i + 3].d));
            __m128 a = _mm_fmadd_ss(dy, s4, acc[t]);
            a = _mm_fmadd_ss(_mm_movehdup_ps(dy), _mm_movehdup_ps(s4), a);
            a = _mm_fmadd_ss(_mm_movehl_ps(dy, dy), _mm_movehl_ps(s4, s4), a);
            acc[t] = _mm_fmadd_ss(_mm_shuffle_ps(dy, dy, 3), _mm_shuffle_ps(s4, s4, 3), a);
        }
    }
    for (; i < nb; i++) {
        __m512i r[4][1];
        Q6_K_ZMM_S(i, 0);
        for (int t = 0; t < nt; t++)
            acc[t] = k6_block_end(_mm256_add_epi32(_mm512_castsi512_si256(r[t][0]),
                                                   _mm512_extracti64x4_epi64(r[t][0], 1)),
                                  h2f(x[i].d), y[t][i].d, acc[t]);
    }
#undef Q6_K_ZMM_S
    k_rows_end(acc, nt, out);
}

/* As for Q4_K: each block's values and scales unpacked once for all rows. */
DEF_SINGLE(AVX512_GV, dot_q6_k_zmm, q6_k_zmm_rows)
DEF_MULTI(AVX512_GV, dot_q6_k_multi_zmm, q6_k_zmm_rows, struct block_q6_k)

#undef DEF_SINGLE
#undef DEF_MULTI

/* ---- activation quantization ----
 * The same arithmetic as the portable loops (max |x|, d = max / 127, x * (1 / d) rounded to
 * nearest even by vcvtps2dq under the default rounding mode), so the rows are bit for bit equal;
 * a forward pass quantizes every matrix input, and lrintf per element was a visible serial cost
 * of generation. */

/* max |x| over n floats (n a multiple of 32) */
AVX2 static inline float absmax_avx2(const float *x, size_t n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        m0 = _mm256_max_ps(m0, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        m1 = _mm256_max_ps(m1, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j + 8)));
    }
    __m256 m = _mm256_max_ps(m0, m1);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 32 floats times id, rounded, as 32 int8 in order; *sum32 += their int32 sum lanes */
AVX2 static inline __m256i round32_avx2(const float *x, __m256 id, __m256i *sum32)
{
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    *sum32 =
        _mm256_add_epi32(*sum32, _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d)));
    __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

AVX2 static inline int hsum_i32_avx2(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

AVX2 static void act_qa8_avx2(const float *x, void *out, size_t n)
{
    struct block_qa8 *b = out;
    for (size_t i = 0; i < n / QK; i++, x += QK) {
        float d = absmax_avx2(x, QK) / 127.0f, id = d ? 1.0f / d : 0;
        __m256i sum = _mm256_setzero_si256();
        _mm256_storeu_si256((__m256i *)b[i].qs, round32_avx2(x, _mm256_set1_ps(id), &sum));
        b[i].d = d;
        b[i].sum = hsum_i32_avx2(sum);
    }
}

AVX2 static void act_qa8k_avx2(const float *x, void *out, size_t n)
{
    struct block_qa8k *b = out;
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (size_t i = 0; i < n / QKK; i++, x += QKK) {
        float d = absmax_avx2(x, QKK) / 127.0f, id = d ? 1.0f / d : 0;
        __m256 vid = _mm256_set1_ps(id);
        __m256i unused = _mm256_setzero_si256();
        for (int c = 0; c < QKK / 32; c++) {
            __m256i q = round32_avx2(x + 32 * c, vid, &unused);
            _mm256_storeu_si256((__m256i *)(b[i].qs + 32 * c), q);
            /* sums of the two 16-byte groups: bytes + 128 summed by vpsadbw, minus 16 * 128 */
            __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, bias), _mm256_setzero_si256());
            __m128i g = _mm256_castsi256_si128(sad);
            int lo = _mm_cvtsi128_si32(g) + _mm_extract_epi32(g, 2);
            __m128i h = _mm256_extracti128_si256(sad, 1);
            int hi = _mm_cvtsi128_si32(h) + _mm_extract_epi32(h, 2);
            b[i].bsums[2 * c] = (int16_t)(lo - 16 * 128);
            b[i].bsums[2 * c + 1] = (int16_t)(hi - 16 * 128);
        }
        b[i].d = d;
    }
    quant_qa8k_fill_groups(out, n);
}

quant_act_fn quant_act_avx2(enum act_kind k)
{
    switch (k) {
    case ACT_QA8:
        return act_qa8_avx2;
    case ACT_QA8K:
        return act_qa8k_avx2;
    default:
        return NULL;
    }
}

AVX2 static void axpy_avx2(float *y, float a, const float *x, size_t n)
{
    axpy_f32_256(y, a, x, n);
}

quant_axpy_fn quant_axpy_avx2(void)
{
    return axpy_avx2;
}

/* ---- the kernel lists the kernel table reads ---- */

static const struct quant_isa_kernels avx2_kernels[] = {
    {GGML_TYPE_F32, dot_f32_avx2, NULL, NULL, NULL, NULL},
    {GGML_TYPE_F16, dot_f16_avx2, NULL, NULL, NULL, NULL},
    {GGML_TYPE_BF16, dot_bf16_avx2, NULL, NULL, NULL, NULL},
    {GGML_TYPE_Q8_0, dot_q8_0_avx2, dot_q8_0_multi_avx2, NULL, NULL, NULL},
    {GGML_TYPE_Q4_0, dot_q4_0_avx2, NULL, NULL, NULL, NULL},
    {GGML_TYPE_Q4_K, dot_q4_k_avx2, dot_q4_k_multi_avx2, NULL, NULL, NULL},
    {GGML_TYPE_Q5_K, dot_q5_k_avx2, NULL, NULL, NULL, NULL},
    {GGML_TYPE_Q6_K, dot_q6_k_avx2, dot_q6_k_multi_avx2, NULL, NULL, NULL},
    {0, NULL, NULL, NULL, NULL, NULL},
};

/* AVX-512 VNNI; types not listed keep their AVX2 kernels. The K types' 512-bit single-row
 * kernels also need GFNI and AVX512-VBMI: without them (Skylake, Cascade Lake) the list is
 * copied without those (needs_gv). */
static const struct quant_isa_kernels avx512_kernels[] = {
    {GGML_TYPE_Q8_0, dot_q8_0_vnni, dot_q8_0_multi_vnni, gemm_x86_q8_0, dot_q8_0_zmm, NULL},
    {GGML_TYPE_Q4_0, dot_q4_0_vnni, NULL, NULL, NULL, NULL},
    {GGML_TYPE_Q4_K, dot_q4_k_vnni, dot_q4_k_multi_vnni, gemm_x86_q4_k, dot_q4_k_zmm,
     dot_q4_k_multi_zmm},
    {GGML_TYPE_Q6_K, dot_q6_k_vnni, dot_q6_k_multi_vnni, gemm_x86_q6_k, dot_q6_k_zmm,
     dot_q6_k_multi_zmm},
    {0, NULL, NULL, NULL, NULL, NULL},
};
#define N_AVX512 (sizeof avx512_kernels / sizeof avx512_kernels[0])
static struct quant_isa_kernels avx512_kernels_no_gv[N_AVX512];

static int needs_gv(uint32_t type)
{
    return type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K;
}

static void strip_gv(void)
{
    memcpy(avx512_kernels_no_gv, avx512_kernels, sizeof avx512_kernels);
    for (size_t i = 0; i < N_AVX512; i++)
        if (needs_gv(avx512_kernels_no_gv[i].type)) {
            avx512_kernels_no_gv[i].dot_512 = NULL;
            avx512_kernels_no_gv[i].dot_multi_512 = NULL;
        }
}

int quant_x86_has_gfni_vbmi(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("gfni") && __builtin_cpu_supports("avx512vbmi");
}

static const struct quant_isa_kernels no_kernels[] = {{0, NULL, NULL, NULL, NULL, NULL}};

const struct quant_isa_kernels *quant_x86_kernels(enum quant_isa isa)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (isa == QUANT_ISA_AVX512) {
        if (quant_x86_has_gfni_vbmi()) return avx512_kernels;
        pthread_once(&once, strip_gv);
        return avx512_kernels_no_gv;
    }
    return isa == QUANT_ISA_AVX2 ? avx2_kernels : no_kernels;
}

void quant_cpu_ident(struct quant_cpu *out)
{
    unsigned a, b, c, d;
    *out = (struct quant_cpu){0};
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    out->intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
    out->amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;   /* AuthenticAMD */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    unsigned fam = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
    if (fam == 0xf) fam += (a >> 20) & 0xff;
    if (fam == 0x6 || fam >= 0xf) model |= ((a >> 16) & 0xf) << 4;
    out->family = fam;
    out->model = model;
}

enum quant_isa quant_cpu_isa(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return QUANT_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return QUANT_ISA_AVX2;
    return QUANT_ISA_PORTABLE;
}

#else /* not x86-64: portable kernels only */

static const struct quant_isa_kernels no_kernels[] = {{0, NULL, NULL, NULL, NULL, NULL}};

const struct quant_isa_kernels *quant_x86_kernels(enum quant_isa isa)
{
    (void)isa;
    return no_kernels;
}
void quant_cpu_ident(struct quant_cpu *out)
{
    *out = (struct quant_cpu){0};
}
int quant_x86_has_gfni_vbmi(void)
{
    return 0;
}
quant_act_fn quant_act_avx2(enum act_kind k)
{
    (void)k;
    return NULL;
}
quant_axpy_fn quant_axpy_avx2(void)
{
    return NULL;
}
enum quant_isa quant_cpu_isa(void)
{
    return QUANT_ISA_PORTABLE;
}

#endif
