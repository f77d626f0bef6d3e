/* gemm_x86.c - 512-bit VNNI tiled matrix products for prompts; see gemm_x86.h.
 *
 * Layout of a repacked panel (PANEL_ROWS weight rows x KC columns): rows in groups of 16
 * (one per 32-bit lane), columns in spans of 32; a span of a group is eight vectors, vector s
 * holding weights 4s..4s+3 of the span for each of the 16 rows, as unsigned bytes:
 *   Q8_0  q + 128 (the extra 128 * sum(a) is taken off by starting the block's int32 sum at
 *         -128 * sum(a), which the activation block records)
 *   Q4_K  the 4-bit value; the sub-block's d * scale and dmin * min are kept as floats
 *   Q6_K  the 6-bit value; the -32 offset is taken off by starting each 16-weight group's sum
 *         at -32 * (its activation sum)
 * Every vpdpbusd then multiplies 16 rows by one broadcast group of four activation bytes. A
 * tile of 2 row groups x 4 activation rows keeps its 8 int32 sums, 8 float partial sums and 8
 * float totals in registers; all integer sums are exact, so a result differs from the
 * single-row kernel only by float rounding order. */
#include "engine/gemm_x86.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/quant_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define V512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE __attribute__((always_inline)) inline

enum { PANEL_ROWS = 64, LANES = 16, KC = 512, SPAN = 32, GROUPS = PANEL_ROWS / LANES };
enum { KIND_Q8_0, KIND_Q4_K, KIND_Q6_K };

/* A panel: weights and per-row scales of up to PANEL_ROWS rows x KC columns. */
struct panel {
    _Alignas(64) uint8_t q[GROUPS][KC / SPAN][8 * LANES * 4];
    _Alignas(64) float sc[GROUPS][KC / 16][LANES];  /* per sub-block (32 or 16 weights) */
    _Alignas(64) float off[GROUPS][KC / 32][LANES]; /* Q4_K: dmin * min per sub-block */
};

/* Per activation row of a tile, for one panel's columns. */
struct tok_side {
    const uint8_t *qs[4];     /* the row's 8-bit values at the panel's first column */
    float da[4][KC / 32];     /* activation scale per activation block */
    int32_t ioff[4][KC / 16]; /* Q8_0, Q6_K: the start of each sub-block's int32 sum */
    float fsum[4][KC / 32];   /* Q4_K: activation sum of each 32-weight sub-block */
};

/* 32 unsigned weight bytes of a row at column k (a multiple of 32) */
V512 static INLINE __m256i span_q8_0(const uint8_t *row, size_t k)
{
    const struct block_q8_0 *b = (const struct block_q8_0 *)row + k / QK;
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs),
                            _mm256_set1_epi8((char)0x80));
}

V512 static INLINE __m256i span_q4_k(const uint8_t *row, size_t k)
{
    const struct block_q4_k *b = (const struct block_q4_k *)row + k / QKK;
    int j = (int)(k % QKK) / 32;
    __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * (j / 2)));
    if (j & 1) q = _mm256_srli_epi16(q, 4);
    return _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
}

V512 static INLINE __m256i span_q6_k(const uint8_t *row, size_t k)
{
    const struct block_q6_k *b = (const struct block_q6_k *)row + k / QKK;
    int j = (int)(k % QKK) / 32, h = j / 4, m = j % 4;
    __m256i l = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (m & 1)));
    __m256i hh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
    if (m >= 2) l = _mm256_srli_epi16(l, 4);
    l = _mm256_and_si256(l, _mm256_set1_epi8(0x0F));
    hh = _mm256_and_si256(_mm256_srl_epi16(hh, _mm_cvtsi32_si128(2 * m)), _mm256_set1_epi8(3));
    return _mm256_or_si256(l, _mm256_slli_epi16(hh, 4));
}

/* z[i] holds row i (low half) and row i + 8 (high half) of a group, 8 dwords each; stores
 * the eight vectors "dword s of rows 0..15" for s = 0..7. */
V512 static INLINE void transpose_store(const __m512i z[8], uint8_t *dst)
{
    __m512i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) {
        u[4 * h] = _mm512_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 1] = _mm512_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 2] = _mm512_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
        u[4 * h + 3] = _mm512_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
    }
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    for (int s = 0; s < 4; s++) {
        _mm512_store_si512((__m512i *)(dst + 64 * s),
                           _mm512_permutex2var_epi64(u[s], lo, u[s + 4]));
        _mm512_store_si512((__m512i *)(dst + 64 * (s + 4)),
                           _mm512_permutex2var_epi64(u[s], hi, u[s + 4]));
    }
}

/* Fills p with rows [0, np) of w (np <= PANEL_ROWS; the last group is padded with copies of
 * row np - 1) for columns [k0, k0 + kc). */
V512 static INLINE void repack(const int kind, struct panel *p, const uint8_t *w, size_t w_stride,
                               int np, size_t k0, int kc)
{
    int ng = (np + LANES - 1) / LANES;
    for (int g = 0; g < ng; g++) {
        const uint8_t *row[LANES];
        for (int l = 0; l < LANES; l++) {
            int r = g * LANES + l;
            row[l] = w + (size_t)(r < np ? r : np - 1) * w_stride;
        }
        for (int s = 0; s < kc / SPAN; s++) {
            size_t k = k0 + (size_t)SPAN * s;
            __m512i z[8];
            for (int i = 0; i < 8; i++) {
                __m256i a, b;
                if (kind == KIND_Q8_0) {
                    a = span_q8_0(row[i], k);
                    b = span_q8_0(row[i + 8], k);
                } else if (kind == KIND_Q4_K) {
                    a = span_q4_k(row[i], k);
                    b = span_q4_k(row[i + 8], k);
                } else {
                    a = span_q6_k(row[i], k);
                    b = span_q6_k(row[i + 8], k);
                }
                z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
            }
            transpose_store(z, p->q[g][s]);
        }
        for (int l = 0; l < LANES; l++) {
            if (kind == KIND_Q8_0) {
                const struct block_q8_0 *b = (const struct block_q8_0 *)row[l] + k0 / QK;
                for (int i = 0; i < kc / QK; i++)
                    p->sc[g][i][l] = _cvtsh_ss(b[i].d);
            } else if (kind == KIND_Q4_K) {
                const struct block_q4_k *b = (const struct block_q4_k *)row[l] + k0 / QKK;
                for (int i = 0; i < kc / QKK; i++) {
                    float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
                    for (int j = 0; j < 8; j++) {
                        uint8_t sc, m;
                        quant_k4_scale_min(j, b[i].scales, &sc, &m);
                        p->sc[g][8 * i + j][l] = d * (float)sc;
                        p->off[g][8 * i + j][l] = dmin * (float)m;
                    }
                }
            } else {
                const struct block_q6_k *b = (const struct block_q6_k *)row[l] + k0 / QKK;
                for (int i = 0; i < kc / QKK; i++) {
                    float d = _cvtsh_ss(b[i].d);
                    for (int j = 0; j < 16; j++)
                        p->sc[g][16 * i + j][l] = d * (float)b[i].scales[j];
                }
            }
        }
    }
}

/* The activation side of tokens t0..t0+nt-1 for columns [k0, k0 + kc). */
static void tok_prep(const int kind, struct tok_side *ts, const uint8_t *act, size_t act_stride,
                     int t0, int nt, size_t k0, int kc)
{
    for (int t = 0; t < nt; t++) {
        const uint8_t *a = act + (size_t)(t0 + t) * act_stride;
        if (kind == KIND_Q8_0) {
            const struct block_qa8 *y = (const struct block_qa8 *)a + k0 / QK;
            ts->qs[t] = (const uint8_t *)y->qs;
            for (int i = 0; i < kc / QK; i++) {
                ts->da[t][i] = y[i].d;
                ts->ioff[t][i] = -128 * y[i].sum;
            }
            continue;
        }
        const struct block_qa8k *y = (const struct block_qa8k *)a + k0 / QKK;
        ts->qs[t] = (const uint8_t *)y->qs;
        for (int i = 0; i < kc / QKK; i++) {
            ts->da[t][i] = y[i].d;
            for (int j = 0; j < 8; j++)
                ts->fsum[t][8 * i + j] = (float)(y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
            for (int j = 0; j < 16; j++)
                ts->ioff[t][16 * i + j] = -32 * y[i].bsums[j];
        }
    }
}

/* Four activation bytes of token t at column kk of the panel (kk a multiple of 4). */
static INLINE int32_t act4(const int kind, const struct tok_side *ts, int t, int kk)
{
    int32_t v;
    size_t at = kind == KIND_Q8_0 ? (size_t)(kk / QK) * sizeof(struct block_qa8) + kk % QK
                                  : (size_t)(kk / QKK) * sizeof(struct block_qa8k) + kk % QKK;
    memcpy(&v, ts->qs[t] + at, 4);
    return v;
}

/* R row groups (g, g + 1) x T activation rows over the panel's kc columns; out points at the
 * first row of group g for the tile's first token. first: start from zero, else add to out. */
V512 static INLINE void tile(const int kind, const int R, const int T, const struct panel *p, int g,
                             const struct tok_side *ts, int kc, int first, float *out,
                             size_t out_stride, const __mmask16 *mask)
{
    const int SB = kind == KIND_Q6_K ? 16 : 32;  /* weights per scale */
    const int AB = kind == KIND_Q8_0 ? 32 : 256; /* weights per activation scale */
    __m512 acc[2][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = first ? _mm512_setzero_ps()
                              : _mm512_maskz_loadu_ps(mask[r], out + (size_t)t * out_stride +
                                                                   (size_t)LANES * r);
    for (int ab = 0; ab < kc / AB; ab++) {
        __m512 fs[2][4];
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                fs[r][t] = _mm512_setzero_ps();
        for (int j = 0; j < AB / SB; j++) {
            int sub = ab * (AB / SB) + j, kk = sub * SB;
            __m512i ia[2][4];
            for (int r = 0; r < R; r++)
                for (int t = 0; t < T; t++)
                    ia[r][t] = kind == KIND_Q4_K ? _mm512_setzero_si512()
                                                 : _mm512_set1_epi32(ts->ioff[t][sub]);
            const uint8_t *wq[2];
            for (int r = 0; r < R; r++)
                wq[r] = p->q[g + r][kk / SPAN] + 64 * ((kk % SPAN) / 4);
            for (int st = 0; st < SB / 4; st++) {
                __m512i wv[2];
                for (int r = 0; r < R; r++)
                    wv[r] = _mm512_load_si512((const __m512i *)(wq[r] + 64 * st));
                for (int t = 0; t < T; t++) {
                    __m512i a = _mm512_set1_epi32(act4(kind, ts, t, kk + 4 * st));
                    for (int r = 0; r < R; r++)
                        ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], wv[r], a);
                }
            }
            for (int r = 0; r < R; r++) {
                __m512 sc = _mm512_load_ps(p->sc[g + r][sub]);
                for (int t = 0; t < T; t++)
                    fs[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[r][t]), sc, fs[r][t]);
                if (kind == KIND_Q4_K) {
                    __m512 mn = _mm512_load_ps(p->off[g + r][sub]);
                    for (int t = 0; t < T; t++)
                        fs[r][t] = _mm512_fnmadd_ps(mn, _mm512_set1_ps(ts->fsum[t][sub]), fs[r][t]);
                }
            }
        }
        for (int t = 0; t < T; t++) {
            __m512 da = _mm512_set1_ps(ts->da[t][ab]);
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm512_fmadd_ps(fs[r][t], da, acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            _mm512_mask_storeu_ps(out + (size_t)t * out_stride + (size_t)LANES * r, mask[r],
                                  acc[r][t]);
}

V512 static INLINE void gemm_body(const int kind, const void *w, size_t w_stride, int n_w,
                                  const void *act, size_t act_stride, int n_act, float *out,
                                  size_t out_stride, size_t n)
{
    struct panel p;
    struct tok_side ts;
    for (int r0 = 0; r0 < n_w; r0 += PANEL_ROWS) {
        int np = n_w - r0 < PANEL_ROWS ? n_w - r0 : PANEL_ROWS, ng = (np + LANES - 1) / LANES;
        __mmask16 mask[GROUPS + 1];
        for (int g = 0; g <= GROUPS; g++) {
            int left = np - LANES * g;
            mask[g] = left >= LANES ? 0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        }
        for (size_t k0 = 0; k0 < n; k0 += KC) {
            int kc = n - k0 < KC ? (int)(n - k0) : KC, first = k0 == 0;
            repack(kind, &p, (const uint8_t *)w + (size_t)r0 * w_stride, w_stride, np, k0, kc);
            for (int t0 = 0; t0 < n_act; t0 += 4) {
                int nt = n_act - t0 < 4 ? n_act - t0 : 4;
                tok_prep(kind, &ts, act, act_stride, t0, nt, k0, kc);
                float *o = out + (size_t)t0 * out_stride + r0;
                for (int g = 0; g < ng; g += 2) {
                    int two = ng - g >= 2;
                    float *og = o + (size_t)LANES * g;
#define TILE(R, T) tile(kind, R, T, &p, g, &ts, kc, first, og, out_stride, mask + g)
                    switch (nt * 2 + two) {
                    case 2:
                        TILE(1, 1);
                        break;
                    case 3:
                        TILE(2, 1);
                        break;
                    case 4:
                        TILE(1, 2);
                        break;
                    case 5:
                        TILE(2, 2);
                        break;
                    case 6:
                        TILE(1, 3);
                        break;
                    case 7:
                        TILE(2, 3);
                        break;
                    case 8:
                        TILE(1, 4);
                        break;
                    default:
                        TILE(2, 4);
                        break;
                    }
#undef TILE
                }
            }
        }
    }
}

/* ---- Q4_K and Q6_K: two activation rows per 512-bit vector ----
 * A prompt's logits must equal those of feeding it token by token, and a difference in the
 * last bit of a product can move a quantized activation downstream by a whole step. So these
 * kernels run the single-row kernels' arithmetic (quant_x86.c: q4_k_rows_vnni,
 * q6_k_rows_vnni) lane for lane, with one activation row in each 256-bit half and the decoded
 * weight block broadcast to both halves, and sum each half in the single kernel's order: the
 * results are bit for bit those of the single-row kernels. Eight activation rows share each
 * decoded weight block. */

#define TPAIRS 4 /* activation row pairs per pass over a weight row */

V512 static INLINE float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Two activation rows' QA8K block interleaved by 32 bytes, so one 512-bit load takes the same
 * 32 bytes of both rows. */
struct pair_blk {
    __m512i qs[QKK / 32]; /* chunk c: row a's qs[32c..32c+31], then row b's */
    __m512i bsums;        /* row a's sixteen sums, then row b's */
    __m512 d;             /* row a's scale in the low half, row b's in the high half */
};
/* Columns the interleaved activations of one pass may span (stack scratch of
 * TPAIRS * MAX_PAIR_SB * 640 bytes); longer rows use the multi-row kernel. */
#define MAX_PAIR_SB 32

V512 static INLINE __m512i pair_load(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

V512 static INLINE __m512 pair_set(float a, float b)
{
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(a)),
                                               _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

/* the single kernels' per-row results: each 256-bit half summed as hsum_ps does */
V512 static INLINE void pair_out(__m512 acc, float *o0, float *o1)
{
    *o0 = hsum256(_mm512_castps512_ps256(acc));
    *o1 = hsum256(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
}

/* A K block's eight 6-bit scales into sc[] and its eight mins as int16 (quant_x86.c's
 * k_unpack_scales). */
V512 static INLINE __m128i k4_scales(const uint8_t *scales, uint8_t sc[8])
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

#define B512(v256) _mm512_broadcast_i64x4(v256)

V512 static INLINE void q4_k_pairs(const struct block_q4_k *x,
                                   const struct pair_blk (*y)[MAX_PAIR_SB], const int np, float *o,
                                   size_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m512 acc[TPAIRS];
    for (int p = 0; p < np; p++)
        acc[p] = _mm512_setzero_ps();
    for (size_t i = 0; i < n / QKK; i++) {
        uint8_t sc[8];
        __m128i mins = k4_scales(x[i].scales, sc);
        __m512i mv =
            B512(_mm256_set_m128i(_mm_unpackhi_epi16(mins, mins), _mm_unpacklo_epi16(mins, mins)));
        __m256i sv =
            _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        __m512i lo[4], hi[4], ps[4];
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            lo[c] = B512(_mm256_and_si256(q, m4));
            hi[c] = B512(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            ps[c] = B512(_mm256_shuffle_epi8(
                sv, _mm256_broadcastsi128_si256(
                        _mm_setr_epi8(4 * c, 4 * c + 1, 4 * c, 4 * c + 1, 4 * c, 4 * c + 1, 4 * c,
                                      4 * c + 1, 4 * c + 2, 4 * c + 3, 4 * c + 2, 4 * c + 3,
                                      4 * c + 2, 4 * c + 3, 4 * c + 2, 4 * c + 3))));
        }
        __m512 d = _mm512_set1_ps(_cvtsh_ss(x[i].d)), dmin = _mm512_set1_ps(_cvtsh_ss(x[i].dmin));
        for (int p = 0; p < np; p++) {
            const struct pair_blk *yp = &y[p][i];
            __m512i s = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) {
                __m512i a0 = _mm512_load_si512(&yp->qs[2 * c]);
                __m512i a1 = _mm512_load_si512(&yp->qs[2 * c + 1]);
                __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[c], a0);
                __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[c], a1);
                s = _mm512_dpwssd_epi32(s, _mm512_packs_epi32(p0, p1), ps[c]);
            }
            __m512i m = _mm512_madd_epi16(mv, _mm512_load_si512(&yp->bsums));
            __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(s), d,
                                       _mm512_mul_ps(_mm512_cvtepi32_ps(m), dmin));
            acc[p] = _mm512_fmadd_ps(f, _mm512_load_ps(&yp->d), acc[p]);
        }
    }
    for (int p = 0; p < np; p++)
        pair_out(acc[p], &o[2 * p], &o[2 * p + 1]);
}

/* The 6-bit values of one 128-weight half of a Q6_K block (quant_x86.c's q6_unpack). */
V512 static INLINE void q6_half(const uint8_t *ql, const uint8_t *qh, __m256i q[4])
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

V512 static INLINE void q6_k_pairs(const struct block_q6_k *x,
                                   const struct pair_blk (*y)[MAX_PAIR_SB], const int np, float *o,
                                   size_t n)
{
    __m512 acc[TPAIRS];
    for (int p = 0; p < np; p++)
        acc[p] = _mm512_setzero_ps();
    for (size_t i = 0; i < n / QKK; i++) {
        __m512i q[8], ps[4];
        for (int h = 0; h < 2; h++) {
            __m256i qq[4];
            q6_half(x[i].ql + 64 * h, x[i].qh + 32 * h, qq);
            for (int k = 0; k < 4; k++)
                q[4 * h + k] = B512(qq[k]);
            __m256i sv = _mm256_broadcastsi128_si256(
                _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h))));
            for (int m = 0; m < 2; m++) {
                char g0 = (char)(8 * m), g1 = (char)(8 * m + 2), g2 = (char)(8 * m + 4);
                char g3 = (char)(8 * m + 6);
                ps[2 * h + m] = B512(_mm256_shuffle_epi8(
                    sv, _mm256_setr_epi8(g0, g0 + 1, g0, g0 + 1, g0, g0 + 1, g0, g0 + 1, g2, g2 + 1,
                                         g2, g2 + 1, g2, g2 + 1, g2, g2 + 1, g1, g1 + 1, g1, g1 + 1,
                                         g1, g1 + 1, g1, g1 + 1, g3, g3 + 1, g3, g3 + 1, g3, g3 + 1,
                                         g3, g3 + 1)));
            }
        }
        __m512i off = B512(_mm256_slli_epi16(
            _mm256_sub_epi16(_mm256_setzero_si256(),
                             _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales))),
            5));
        __m512 d = _mm512_set1_ps(_cvtsh_ss(x[i].d));
        for (int p = 0; p < np; p++) {
            const struct pair_blk *yp = &y[p][i];
            __m512i sumi = _mm512_madd_epi16(off, _mm512_load_si512(&yp->bsums));
            for (int k = 0; k < 8; k += 2) {
                __m512i a0 = _mm512_load_si512(&yp->qs[k]);
                __m512i a1 = _mm512_load_si512(&yp->qs[k + 1]);
                __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[k], a0);
                __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[k + 1], a1);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_packs_epi32(p0, p1), ps[k / 2]);
            }
            acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_load_ps(&yp->d)),
                                     _mm512_cvtepi32_ps(sumi), acc[p]);
        }
    }
    for (int p = 0; p < np; p++)
        pair_out(acc[p], &o[2 * p], &o[2 * p + 1]);
}

#undef B512

/* Every weight row against the activation rows 2 * TPAIRS at a time (an odd last row is
 * paired with itself). */
V512 static INLINE void gemm_pairs(const int kind, const void *w, size_t w_stride, int n_w,
                                   const void *act, size_t act_stride, int n_act, float *out,
                                   size_t out_stride, size_t n)
{
    size_t nsb = n / QKK;
    if (nsb > MAX_PAIR_SB) {
        quant_dot_multi_fn f = quant_dot_multi_kernel(
            kind == KIND_Q4_K ? GGML_TYPE_Q4_K : GGML_TYPE_Q6_K, QUANT_ISA_AVX512);
        for (int r = 0; r < n_w; r++)
            for (int t0 = 0; t0 < n_act; t0 += 4) {
                float o[4];
                int nt = n_act - t0 < 4 ? n_act - t0 : 4;
                f((const uint8_t *)w + (size_t)r * w_stride,
                  (const uint8_t *)act + (size_t)t0 * act_stride, act_stride, nt, o, n);
                for (int t = 0; t < nt; t++)
                    out[(size_t)(t0 + t) * out_stride + r] = o[t];
            }
        return;
    }
    _Alignas(64) struct pair_blk y[TPAIRS][MAX_PAIR_SB];
    for (int t0 = 0; t0 < n_act; t0 += 2 * TPAIRS) {
        int nt = n_act - t0 < 2 * TPAIRS ? n_act - t0 : 2 * TPAIRS, np = (nt + 1) / 2;
        for (int p = 0; p < np; p++) {
            int ta = t0 + 2 * p, tb = 2 * p + 1 < nt ? ta + 1 : ta;
            const struct block_qa8k *ya =
                (const void *)((const uint8_t *)act + (size_t)ta * act_stride);
            const struct block_qa8k *yb =
                (const void *)((const uint8_t *)act + (size_t)tb * act_stride);
            for (size_t i = 0; i < nsb; i++) {
                for (int c = 0; c < QKK / 32; c++)
                    y[p][i].qs[c] = pair_load(ya[i].qs + 32 * c, yb[i].qs + 32 * c);
                y[p][i].bsums = pair_load((const int8_t *)ya[i].bsums, (const int8_t *)yb[i].bsums);
                y[p][i].d = pair_set(ya[i].d, yb[i].d);
            }
        }
        for (int r = 0; r < n_w; r++) {
            const void *x = (const uint8_t *)w + (size_t)r * w_stride;
            float o[2 * TPAIRS];
#define PAIRS(NP) (kind == KIND_Q4_K ? q4_k_pairs(x, y, NP, o, n) : q6_k_pairs(x, y, NP, o, n))
            switch (np) {
            case 1:
                PAIRS(1);
                break;
            case 2:
                PAIRS(2);
                break;
            case 3:
                PAIRS(3);
                break;
            default:
                PAIRS(4);
                break;
            }
#undef PAIRS
            for (int t = 0; t < nt; t++)
                out[(size_t)(t0 + t) * out_stride + r] = o[t];
        }
    }
}

V512 static void gemm_q8_0_v512(const void *w, size_t w_stride, int n_w, const void *act,
                                size_t act_stride, int n_act, float *out, size_t out_stride,
                                size_t n)
{
    gemm_body(KIND_Q8_0, w, w_stride, n_w, act, act_stride, n_act, out, out_stride, n);
}

V512 static void gemm_q4_k_v512(const void *w, size_t w_stride, int n_w, const void *act,
                                size_t act_stride, int n_act, float *out, size_t out_stride,
                                size_t n)
{
    gemm_pairs(KIND_Q4_K, w, w_stride, n_w, act, act_stride, n_act, out, out_stride, n);
}

V512 static void gemm_q6_k_v512(const void *w, size_t w_stride, int n_w, const void *act,
                                size_t act_stride, int n_act, float *out, size_t out_stride,
                                size_t n)
{
    gemm_pairs(KIND_Q6_K, w, w_stride, n_w, act, act_stride, n_act, out, out_stride, n);
}

quant_gemm_fn gemm_x86_vnni512(uint32_t type)
{
    if (quant_cpu_isa() < QUANT_ISA_AVX512) return NULL;
    switch (type) {
    case GGML_TYPE_Q8_0:
        return gemm_q8_0_v512;
    case GGML_TYPE_Q4_K:
        return gemm_q4_k_v512;
    case GGML_TYPE_Q6_K:
        return gemm_q6_k_v512;
    }
    return NULL;
}

#else /* not x86-64 */

quant_gemm_fn gemm_x86_vnni512(uint32_t type)
{
    (void)type;
    return NULL;
}

#endif
