/* gemm_x86.c - 512-bit VNNI tiled matrix products for prompts; see gemm_x86.h.
 *
 * Q8_0: panels of PANEL_ROWS weight rows x KC columns are repacked on the stack, rows in
 * groups of 16 (one per 32-bit lane), each 32-weight block of a group as eight vectors, vector
 * s holding weights 4s..4s+3 of the block for each of the 16 rows as unsigned bytes (q + 128;
 * the extra 128 * sum(a) is taken off by starting the block's int32 sum at -128 * sum(a),
 * which the activation block records). Every vpdpbusd then multiplies 16 rows by one
 * broadcast group of four activation bytes, and a tile of 2 row groups x 4 activation rows
 * keeps its 8 int32 sums and 8 float totals in registers. The integer sums are exact, so a
 * result differs from the single-row kernel only by float rounding order, and it depends only
 * on its weight row and activation row.
 *
 * Q4_K: the same panels, with exact integer block sums; see the comment above panel_k4.
 * Q6_K: see the comment above q6_k_pairs. */
#include "engine/gemm_x86.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/quant_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "engine/kern_x86.h"

/* ---- Q8_0: 16-row interleaved panels ---- */

enum { PANEL_ROWS = 64, LANES = 16, KC = 512, GROUPS = PANEL_ROWS / LANES, NBK = KC / QK };

/* A panel: weights and scales of up to PANEL_ROWS rows x KC columns. */
struct panel {
    _Alignas(64) uint8_t q[GROUPS][NBK][8 * LANES * 4];
    _Alignas(64) float d[GROUPS][NBK][LANES];
};

/* Per activation row of a tile, for one panel's columns. */
struct tok_side {
    const struct block_qa8 *y[4]; /* the row's block at the panel's first column */
    float da[4][NBK];             /* block scales */
    int32_t start[4][NBK];        /* -128 * the block's sum */
};

/* 32 weight bytes of block b of a row, plus 128 */
AVX512 static ALWAYS_INLINE __m256i span_q8_0(const uint8_t *row, size_t b)
{
    const struct block_q8_0 *x = (const struct block_q8_0 *)row + b;
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x->qs),
                            _mm256_set1_epi8((char)0x80));
}

/* z[i] holds row i (low half) and row i + 8 (high half) of a group, 8 dwords each; stores
 * the eight vectors "dword s of rows 0..15" for s = 0..7. */
AVX512 static ALWAYS_INLINE void transpose_store(const __m512i z[8], uint8_t *dst)
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
 * row np - 1), blocks [b0, b0 + nb). */
AVX512 static ALWAYS_INLINE void repack(struct panel *p, const uint8_t *w, size_t w_stride, int np,
                                        size_t b0, int nb)
{
    int ng = (np + LANES - 1) / LANES;
    for (int g = 0; g < ng; g++) {
        const uint8_t *row[LANES];
        for (int l = 0; l < LANES; l++) {
            int r = g * LANES + l;
            row[l] = w + (size_t)(r < np ? r : np - 1) * w_stride;
        }
        for (int b = 0; b < nb; b++) {
            __m512i z[8];
            for (int i = 0; i < 8; i++)
                z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(span_q8_0(row[i], b0 + b)),
                                          span_q8_0(row[i + 8], b0 + b), 1);
            transpose_store(z, p->q[g][b]);
        }
        for (int l = 0; l < LANES; l++) {
            const struct block_q8_0 *x = (const struct block_q8_0 *)row[l] + b0;
            for (int b = 0; b < nb; b++)
                p->d[g][b][l] = _cvtsh_ss(x[b].d);
        }
    }
}

/* The activation side of rows t0..t0+nt-1 for blocks [b0, b0 + nb). */
static void tok_prep(struct tok_side *ts, const uint8_t *act, size_t act_stride, int t0, int nt,
                     size_t b0, int nb)
{
    for (int t = 0; t < nt; t++) {
        const struct block_qa8 *y =
            (const struct block_qa8 *)(act + (size_t)(t0 + t) * act_stride) + b0;
        ts->y[t] = y;
        for (int b = 0; b < nb; b++) {
            ts->da[t][b] = y[b].d;
            ts->start[t][b] = -128 * y[b].sum;
        }
    }
}

/* R row groups (g, g + 1) x T activation rows over the panel's nb blocks; out points at the
 * first row of group g for the tile's first activation row. first: start from zero, else add
 * to out. */
AVX512 static ALWAYS_INLINE void tile(const int R, const int T, const struct panel *p, int g,
                                      const struct tok_side *ts, int nb, int first, float *out,
                                      size_t out_stride, const __mmask16 *mask)
{
    __m512 acc[2][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = first ? _mm512_setzero_ps()
                              : _mm512_maskz_loadu_ps(mask[r], out + (size_t)t * out_stride +
                                                                   (size_t)LANES * r);
    for (int b = 0; b < nb; b++) {
        __m512i ia[2][4];
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                ia[r][t] = _mm512_set1_epi32(ts->start[t][b]);
        for (int st = 0; st < 8; st++) {
            __m512i wv[2];
            for (int r = 0; r < R; r++)
                wv[r] = _mm512_load_si512((const __m512i *)(p->q[g + r][b] + 64 * st));
            for (int t = 0; t < T; t++) {
                int32_t a4;
                memcpy(&a4, ts->y[t][b].qs + 4 * st, 4);
                __m512i a = _mm512_set1_epi32(a4);
                for (int r = 0; r < R; r++)
                    ia[r][t] = _mm512_dpbusd_epi32(ia[r][t], wv[r], a);
            }
        }
        for (int r = 0; r < R; r++) {
            __m512 dw = _mm512_load_ps(p->d[g + r][b]);
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(ia[r][t]), dw),
                                            _mm512_set1_ps(ts->da[t][b]), acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            _mm512_mask_storeu_ps(out + (size_t)t * out_stride + (size_t)LANES * r, mask[r],
                                  acc[r][t]);
}

/* ---- Q4_K: 16-row interleaved panels, exact integer block sums (panel_k4) ----
 * As Q8_0, weight rows are interleaved by 16 (the nibbles as unsigned bytes, so no offset is
 * needed), one vpdpbusd multiplying 16 rows by four broadcast activation bytes. Each 32-weight
 * sub-block's exact sum is multiplied by its 6-bit scale (vpmulld) into the block's exact sum
 * S, the mins against the activation sums (one vpdpwssd per two sub-blocks) into M, and each
 * lane finishes the block with k4_block_end's float steps: the results are those of the
 * single-row kernels bit for bit, which a prompt's logits need to equal those of feeding it
 * token by token. */

enum { K4_SB = KC / QKK }; /* superblocks per panel column chunk */

struct panel_k4 {
    _Alignas(64) uint8_t q[GROUPS][K4_SB][8][8 * LANES * 4]; /* per sub-block, as struct panel */
    _Alignas(64) int32_t sc[GROUPS][K4_SB][8][LANES];        /* sub-block scales */
    _Alignas(64) int32_t mn[GROUPS][K4_SB][4][LANES];        /* mins of sub-blocks 2k, 2k + 1 */
    _Alignas(64) float d[GROUPS][K4_SB][LANES];
    _Alignas(64) float dmin[GROUPS][K4_SB][LANES];
};

struct tok_k4 {
    const int8_t *qs[4][K4_SB];
    int32_t bs[4][K4_SB][4]; /* activation sums of sub-blocks 2k and 2k + 1, as two int16 */
    float d[4][K4_SB];
};

AVX512 static ALWAYS_INLINE void repack_k4(struct panel_k4 *p, const uint8_t *w, size_t w_stride,
                                           int np, size_t b0, int nb)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    int ng = (np + LANES - 1) / LANES;
    for (int g = 0; g < ng; g++) {
        const struct block_q4_k *row[LANES];
        for (int l = 0; l < LANES; l++) {
            int r = g * LANES + l;
            row[l] = (const struct block_q4_k *)(w + (size_t)(r < np ? r : np - 1) * w_stride) + b0;
        }
        for (int b = 0; b < nb; b++) {
            for (int c = 0; c < 4; c++) {
                __m512i lo[8], hi[8];
                for (int i = 0; i < 8; i++) {
                    __m512i v = _mm512_inserti64x4(
                        _mm512_castsi256_si512(
                            _mm256_loadu_si256((const __m256i *)(row[i][b].qs + 32 * c))),
                        _mm256_loadu_si256((const __m256i *)(row[i + 8][b].qs + 32 * c)), 1);
                    lo[i] = _mm512_and_si512(v, m4);
                    hi[i] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                }
                transpose_store(lo, p->q[g][b][2 * c]);
                transpose_store(hi, p->q[g][b][2 * c + 1]);
            }
            for (int l = 0; l < LANES; l++) {
                uint8_t sc[8];
                uint16_t mins[8];
                _mm_storeu_si128((__m128i *)mins, k_unpack_scales(row[l][b].scales, sc));
                for (int j = 0; j < 8; j++)
                    p->sc[g][b][j][l] = sc[j];
                for (int k = 0; k < 4; k++)
                    p->mn[g][b][k][l] =
                        (int32_t)((uint32_t)mins[2 * k] | ((uint32_t)mins[2 * k + 1] << 16));
                p->d[g][b][l] = _cvtsh_ss(row[l][b].d);
                p->dmin[g][b][l] = _cvtsh_ss(row[l][b].dmin);
            }
        }
    }
}

static void tok_prep_k4(struct tok_k4 *ts, const uint8_t *act, size_t act_stride, int t0, int nt,
                        size_t b0, int nb)
{
    for (int t = 0; t < nt; t++) {
        const struct block_qa8k *y =
            (const struct block_qa8k *)(act + (size_t)(t0 + t) * act_stride) + b0;
        for (int b = 0; b < nb; b++) {
            ts->qs[t][b] = y[b].qs;
            ts->d[t][b] = y[b].d;
            for (int k = 0; k < 4; k++) {
                int s0 = y[b].bsums[4 * k] + y[b].bsums[4 * k + 1];
                int s1 = y[b].bsums[4 * k + 2] + y[b].bsums[4 * k + 3];
                ts->bs[t][b][k] =
                    (int32_t)((uint32_t)(uint16_t)s0 | ((uint32_t)(uint16_t)s1 << 16));
            }
        }
    }
}

AVX512 static ALWAYS_INLINE void tile_k4(const int R, const int T, const struct panel_k4 *p, int g,
                                         const struct tok_k4 *ts, int nb, int first, float *out,
                                         size_t out_stride, const __mmask16 *mask)
{
    __m512 acc[2][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = first ? _mm512_setzero_ps()
                              : _mm512_maskz_loadu_ps(mask[r], out + (size_t)t * out_stride +
                                                                   (size_t)LANES * r);
    for (int b = 0; b < nb; b++) {
        __m512i S[2][4], M[2][4];
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                S[r][t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            __m512i D[2][4];
            for (int r = 0; r < R; r++)
                for (int t = 0; t < T; t++)
                    D[r][t] = _mm512_setzero_si512();
            for (int st = 0; st < 8; st++) {
                __m512i wv[2];
                for (int r = 0; r < R; r++)
                    wv[r] = _mm512_load_si512((const __m512i *)(p->q[g + r][b][j] + 64 * st));
                for (int t = 0; t < T; t++) {
                    int32_t a4;
                    memcpy(&a4, ts->qs[t][b] + 32 * j + 4 * st, 4);
                    __m512i a = _mm512_set1_epi32(a4);
                    for (int r = 0; r < R; r++)
                        D[r][t] = _mm512_dpbusd_epi32(D[r][t], wv[r], a);
                }
            }
            for (int r = 0; r < R; r++) {
                __m512i sc = _mm512_load_si512(p->sc[g + r][b][j]);
                for (int t = 0; t < T; t++)
                    S[r][t] = _mm512_add_epi32(S[r][t], _mm512_mullo_epi32(D[r][t], sc));
            }
        }
        for (int r = 0; r < R; r++) {
            for (int t = 0; t < T; t++) {
                M[r][t] = _mm512_setzero_si512();
                for (int k = 0; k < 4; k++)
                    M[r][t] = _mm512_dpwssd_epi32(M[r][t], _mm512_load_si512(p->mn[g + r][b][k]),
                                                  _mm512_set1_epi32(ts->bs[t][b][k]));
            }
            __m512 d = _mm512_load_ps(p->d[g + r][b]), dmin = _mm512_load_ps(p->dmin[g + r][b]);
            for (int t = 0; t < T; t++) {
                __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(S[r][t]), d,
                                           _mm512_mul_ps(_mm512_cvtepi32_ps(M[r][t]), dmin));
                acc[r][t] = _mm512_fmadd_ps(f, _mm512_set1_ps(ts->d[t][b]), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            _mm512_mask_storeu_ps(out + (size_t)t * out_stride + (size_t)LANES * r, mask[r],
                                  acc[r][t]);
}

/* ---- the panel loop both interleaved kinds share ---- */

enum { KIND_Q8_0, KIND_Q4_K };

AVX512 static ALWAYS_INLINE void gemm_panels(const int kind, const void *w, size_t w_stride,
                                             int n_w, const void *act, size_t act_stride, int n_act,
                                             float *out, size_t out_stride, size_t n)
{
    struct panel p;
    struct panel_k4 pk;
    struct tok_side ts;
    struct tok_k4 tk;
    const size_t bsz = kind == KIND_Q8_0 ? QK : QKK, nbk = KC / bsz;
    size_t nblk = n / bsz;
    for (int r0 = 0; r0 < n_w; r0 += PANEL_ROWS) {
        int np = n_w - r0 < PANEL_ROWS ? n_w - r0 : PANEL_ROWS, ng = (np + LANES - 1) / LANES;
        __mmask16 mask[GROUPS + 1];
        for (int g = 0; g <= GROUPS; g++) {
            int left = np - LANES * g;
            mask[g] = left >= LANES ? 0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
        }
        for (size_t b0 = 0; b0 < nblk; b0 += nbk) {
            int nb = nblk - b0 < nbk ? (int)(nblk - b0) : (int)nbk, first = b0 == 0;
            const uint8_t *wp = (const uint8_t *)w + (size_t)r0 * w_stride;
            if (kind == KIND_Q8_0)
                repack(&p, wp, w_stride, np, b0, nb);
            else
                repack_k4(&pk, wp, w_stride, np, b0, nb);
            for (int t0 = 0; t0 < n_act; t0 += 4) {
                int nt = n_act - t0 < 4 ? n_act - t0 : 4;
                if (kind == KIND_Q8_0)
                    tok_prep(&ts, act, act_stride, t0, nt, b0, nb);
                else
                    tok_prep_k4(&tk, act, act_stride, t0, nt, b0, nb);
                float *o = out + (size_t)t0 * out_stride + r0;
                for (int g = 0; g < ng; g += 2) {
                    int two = ng - g >= 2;
                    float *og = o + (size_t)LANES * g;
#define TILE(R, T)                                                                                 \
    (kind == KIND_Q8_0 ? tile(R, T, &p, g, &ts, nb, first, og, out_stride, mask + g)               \
                       : tile_k4(R, T, &pk, g, &tk, nb, first, og, out_stride, mask + g))
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

AVX512 void gemm_x86_q8_0(const void *w, size_t w_stride, int n_w, const void *act,
                          size_t act_stride, int n_act, float *out, size_t out_stride, size_t n)
{
    gemm_panels(KIND_Q8_0, w, w_stride, n_w, act, act_stride, n_act, out, out_stride, n);
}

/* ---- Q6_K: two activation rows per 512-bit vector ----
 * A prompt's logits must equal those of feeding it token by token, and a difference in the
 * last bit of a product can move a quantized activation downstream by a whole step. So this
 * kernel runs the single-row kernel's arithmetic (quant_x86.c: q6_k_rows_vnni) lane for lane, with
 * one activation row in each 256-bit half and the decoded weight block broadcast to both halves,
 * and sum each half in the single kernel's order: the results are bit for bit those of the
 * single-row kernels. Eight activation rows share each decoded weight block. */

#define TPAIRS 8 /* activation row pairs per pass over a weight row */

/* Two activation rows' QA8K block interleaved by 32 bytes, so one 512-bit load takes the same
 * 32 bytes of both rows. */
struct pair_blk {
    __m512i qs[QKK / 32]; /* chunk c: row a's qs[32c..32c+31], then row b's */
    __m512i bsums;        /* row a's sixteen sums, then row b's */
    __m512 d;             /* row a's scale in the low half, row b's in the high half */
};
/* Columns the interleaved activations of one pass may span (stack scratch of
 * TPAIRS * MAX_PAIR_SB * 640 bytes); longer rows use the multi-row kernel. */
#define MAX_PAIR_SB 24

AVX512 static ALWAYS_INLINE __m512i pair_load(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

AVX512 static ALWAYS_INLINE __m512 pair_set(float a, float b)
{
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(a)),
                                               _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

/* the single kernels' per-row results: each 256-bit half summed as hsum_ps does */
AVX512 static ALWAYS_INLINE void pair_out(__m512 acc, float *o0, float *o1)
{
    *o0 = hsum_ps(_mm512_castps512_ps256(acc));
    *o1 = hsum_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
}

#define B512(v256) _mm512_broadcast_i64x4(v256)

AVX512 static ALWAYS_INLINE void q6_k_pairs(const struct block_q6_k *x,
                                            const struct pair_blk (*y)[MAX_PAIR_SB], const int np,
                                            float *o, size_t n)
{
    __m512 acc[TPAIRS];
    for (int p = 0; p < np; p++)
        acc[p] = _mm512_setzero_ps();
    for (size_t i = 0; i < n / QKK; i++) {
        __m512i q[8], ps[4];
        for (int h = 0; h < 2; h++) {
            __m256i qq[4];
            q6_unpack(x[i].ql + 64 * h, x[i].qh + 32 * h, qq);
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
AVX512 static ALWAYS_INLINE void gemm_pairs(const void *w, size_t w_stride, int n_w,
                                            const void *act, size_t act_stride, int n_act,
                                            float *out, size_t out_stride, size_t n)
{
    size_t nsb = n / QKK;
    if (nsb > MAX_PAIR_SB) {
        quant_dot_multi_fn f = quant_dot_multi_kernel(GGML_TYPE_Q6_K, QUANT_ISA_AVX512);
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
            float o[2 * TPAIRS] = {0};
#define PAIRS(NP) q6_k_pairs(x, y, NP, o, n)
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
            case 4:
                PAIRS(4);
                break;
            case 5:
                PAIRS(5);
                break;
            case 6:
                PAIRS(6);
                break;
            case 7:
                PAIRS(7);
                break;
            default:
                PAIRS(8);
                break;
            }
#undef PAIRS
            for (int t = 0; t < nt; t++)
                out[(size_t)(t0 + t) * out_stride + r] = o[t];
        }
    }
}

AVX512 void gemm_x86_q4_k(const void *w, size_t w_stride, int n_w, const void *act,
                          size_t act_stride, int n_act, float *out, size_t out_stride, size_t n)
{
    gemm_panels(KIND_Q4_K, w, w_stride, n_w, act, act_stride, n_act, out, out_stride, n);
}

AVX512 void gemm_x86_q6_k(const void *w, size_t w_stride, int n_w, const void *act,
                          size_t act_stride, int n_act, float *out, size_t out_stride, size_t n)
{
    gemm_pairs(w, w_stride, n_w, act, act_stride, n_act, out, out_stride, n);
}

quant_gemm_fn gemm_x86_vnni512(uint32_t type)
{
    if (quant_cpu_isa() < QUANT_ISA_AVX512) return NULL;
    switch (type) {
    case GGML_TYPE_Q8_0:
        return gemm_x86_q8_0;
    case GGML_TYPE_Q4_K:
        return gemm_x86_q4_k;
    case GGML_TYPE_Q6_K:
        return gemm_x86_q6_k;
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
