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
 * Q4_K and Q6_K: the same panels, with exact integer block sums; see the comment above
 * panel_k. */
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

/* The rows of group g of a panel of np rows of w: the last group is padded with copies of
 * row np - 1. */
static inline void group_rows(const uint8_t *row[LANES], const uint8_t *w, size_t w_stride, int g,
                              int np)
{
    for (int l = 0; l < LANES; l++) {
        int r = g * LANES + l;
        row[l] = w + (size_t)(r < np ? r : np - 1) * w_stride;
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
        group_rows(row, w, w_stride, g, np);
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

/* A tile's float totals: zero on the first column chunk, else what earlier chunks left in out
 * (rows of the group pair in lanes, masked past the panel's last row). */
AVX512 static ALWAYS_INLINE void tile_acc_load(const int R, const int T, __m512 acc[2][4],
                                               int first, const float *out, size_t out_stride,
                                               const __mmask16 *mask)
{
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = first ? _mm512_setzero_ps()
                              : _mm512_maskz_loadu_ps(mask[r], out + (size_t)t * out_stride +
                                                                   (size_t)LANES * r);
}

AVX512 static ALWAYS_INLINE void tile_acc_store(const int R, const int T, __m512 acc[2][4],
                                                float *out, size_t out_stride,
                                                const __mmask16 *mask)
{
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            _mm512_mask_storeu_ps(out + (size_t)t * out_stride + (size_t)LANES * r, mask[r],
                                  acc[r][t]);
}

/* R row groups (g, g + 1) x T activation rows over the panel's nb blocks; out points at the
 * first row of group g for the tile's first activation row. first: start from zero, else add
 * to out. */
AVX512 static ALWAYS_INLINE void tile(const int R, const int T, const struct panel *p, int g,
                                      const struct tok_side *ts, int nb, int first, float *out,
                                      size_t out_stride, const __mmask16 *mask)
{
    __m512 acc[2][4];
    tile_acc_load(R, T, acc, first, out, out_stride, mask);
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
    tile_acc_store(R, T, acc, out, out_stride, mask);
}

/* ---- K types: 16-row interleaved panels, exact integer block sums ----
 * As Q8_0, weight rows are interleaved by 16, the 4- or 6-bit values as unsigned bytes, one
 * vpdpbusd multiplying 16 rows by four broadcast activation bytes. Each scale group's exact sum
 * (32 weights in Q4_K, 16 in Q6_K) is multiplied by its scale (vpmulld) into the block's exact
 * sum S, and the block's second integer term M (Q4_K: the mins against the activation sums of
 * the sub-blocks; Q6_K: the scales against the 16-element activation sums, for the -32 offset)
 * comes from one vpdpwssd per two scale groups. Each lane then finishes the block with the
 * float steps of k4_block_end or k6_block_end (kern_x86.h), which the single-row kernels run
 * on the same exact sums: the results are theirs bit for bit, which a prompt's logits need to
 * equal those of feeding it token by token. */

enum { KIND_Q8_0, KIND_Q4_K, KIND_Q6_K };
enum { K_SB = KC / QKK }; /* superblocks per panel column chunk */

struct panel_k {
    _Alignas(64) uint8_t q[GROUPS][K_SB][64][LANES * 4]; /* vector 4 weights apart, as panel */
    _Alignas(64) int32_t sc[GROUPS][K_SB][16][LANES];    /* scale of each scale group */
    _Alignas(64) int32_t mn[GROUPS][K_SB][8][LANES];     /* the M factors of two groups, int16 */
    _Alignas(64) float d[GROUPS][K_SB][LANES];
    _Alignas(64) float dmin[GROUPS][K_SB][LANES];
};

struct tok_k {
    const int8_t *qs[4][K_SB];
    int32_t bs[4][K_SB][8]; /* activation sums matching mn's factors, two int16 */
    float d[4][K_SB];
};

static inline int32_t pack16(int lo, int hi)
{
    return (int32_t)((uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16));
}

/* 32 weights of row i (low half) and row i + 8 (high half) of a group */
AVX512 static ALWAYS_INLINE __m512i load_rows(const uint8_t *lo, const uint8_t *hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo)),
                              _mm256_loadu_si256((const __m256i *)hi), 1);
}

AVX512 static ALWAYS_INLINE void repack_k(const int kind, struct panel_k *p, const uint8_t *w,
                                          size_t w_stride, int np, size_t b0, int nb)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    int ng = (np + LANES - 1) / LANES;
    for (int g = 0; g < ng; g++) {
        const uint8_t *row[LANES];
        group_rows(row, w, w_stride, g, np);
        for (int b = 0; b < nb; b++) {
            size_t bi = b0 + (size_t)b;
            if (kind == KIND_Q4_K) {
                for (int c = 0; c < 4; c++) {
                    __m512i lo[8], hi[8];
                    for (int i = 0; i < 8; i++) {
                        __m512i v =
                            load_rows(((const struct block_q4_k *)row[i])[bi].qs + 32 * c,
                                      ((const struct block_q4_k *)row[i + 8])[bi].qs + 32 * c);
                        lo[i] = _mm512_and_si512(v, m4);
                        hi[i] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                    }
                    transpose_store(lo, p->q[g][b][16 * c]);
                    transpose_store(hi, p->q[g][b][16 * c + 8]);
                }
                for (int l = 0; l < LANES; l++) {
                    const struct block_q4_k *x = (const struct block_q4_k *)row[l] + bi;
                    uint8_t sc[8];
                    uint16_t mins[8];
                    _mm_storeu_si128((__m128i *)mins, k_unpack_scales(x->scales, sc));
                    for (int j = 0; j < 8; j++)
                        p->sc[g][b][j][l] = sc[j];
                    for (int k = 0; k < 4; k++)
                        p->mn[g][b][k][l] = pack16(mins[2 * k], mins[2 * k + 1]);
                    p->d[g][b][l] = _cvtsh_ss(x->d);
                    p->dmin[g][b][l] = _cvtsh_ss(x->dmin);
                }
            } else {
                /* the 32-weight spans 4h..4h + 3 of each row, rows i and i + 8 side by side */
                for (int h = 0; h < 2; h++) {
                    __m512i z[4][8];
                    for (int i = 0; i < 8; i++) {
                        const struct block_q6_k *xa = (const struct block_q6_k *)row[i] + bi;
                        const struct block_q6_k *xb = (const struct block_q6_k *)row[i + 8] + bi;
                        __m256i qa[4], qb[4];
                        q6_unpack(xa->ql + 64 * h, xa->qh + 32 * h, qa);
                        q6_unpack(xb->ql + 64 * h, xb->qh + 32 * h, qb);
                        for (int k = 0; k < 4; k++)
                            z[k][i] = _mm512_inserti64x4(_mm512_castsi256_si512(qa[k]), qb[k], 1);
                    }
                    for (int k = 0; k < 4; k++)
                        transpose_store(z[k], p->q[g][b][8 * (4 * h + k)]);
                }
                for (int l = 0; l < LANES; l++) {
                    const struct block_q6_k *x = (const struct block_q6_k *)row[l] + bi;
                    for (int j = 0; j < 16; j++)
                        p->sc[g][b][j][l] = x->scales[j];
                    for (int k = 0; k < 8; k++)
                        p->mn[g][b][k][l] = pack16(x->scales[2 * k], x->scales[2 * k + 1]);
                    p->d[g][b][l] = _cvtsh_ss(x->d);
                }
            }
        }
    }
}

static void tok_prep_k(const int kind, struct tok_k *ts, const uint8_t *act, size_t act_stride,
                       int t0, int nt, size_t b0, int nb)
{
    for (int t = 0; t < nt; t++) {
        const struct block_qa8k *y =
            (const struct block_qa8k *)(act + (size_t)(t0 + t) * act_stride) + b0;
        for (int b = 0; b < nb; b++) {
            const int16_t *s = y[b].bsums;
            ts->qs[t][b] = y[b].qs;
            ts->d[t][b] = y[b].d;
            for (int k = 0; k < (kind == KIND_Q4_K ? 4 : 8); k++)
                ts->bs[t][b][k] = kind == KIND_Q4_K
                                      ? pack16(s[4 * k] + s[4 * k + 1], s[4 * k + 2] + s[4 * k + 3])
                                      : pack16(s[2 * k], s[2 * k + 1]);
        }
    }
}

AVX512 static ALWAYS_INLINE void tile_k(const int kind, const int R, const int T,
                                        const struct panel_k *p, int g, const struct tok_k *ts,
                                        int nb, int first, float *out, size_t out_stride,
                                        const __mmask16 *mask)
{
    /* scale groups per block, vectors per group, M factor pairs per block */
    const int ngr = kind == KIND_Q4_K ? 8 : 16, spg = 64 / ngr, nmn = ngr / 2;
    __m512 acc[2][4];
    tile_acc_load(R, T, acc, first, out, out_stride, mask);
    for (int b = 0; b < nb; b++) {
        __m512i S[2][4], M[2][4];
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                S[r][t] = _mm512_setzero_si512();
        for (int j = 0; j < ngr; j++) {
            __m512i D[2][4];
            for (int r = 0; r < R; r++)
                for (int t = 0; t < T; t++)
                    D[r][t] = _mm512_setzero_si512();
            for (int st = 0; st < spg; st++) {
                int v = spg * j + st;
                __m512i wv[2];
                for (int r = 0; r < R; r++)
                    wv[r] = _mm512_load_si512((const __m512i *)p->q[g + r][b][v]);
                for (int t = 0; t < T; t++) {
                    int32_t a4;
                    memcpy(&a4, ts->qs[t][b] + 4 * v, 4);
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
                for (int k = 0; k < nmn; k++)
                    M[r][t] = _mm512_dpwssd_epi32(M[r][t], _mm512_load_si512(p->mn[g + r][b][k]),
                                                  _mm512_set1_epi32(ts->bs[t][b][k]));
            }
            __m512 d = _mm512_load_ps(p->d[g + r][b]);
            if (kind == KIND_Q4_K) {
                __m512 dmin = _mm512_load_ps(p->dmin[g + r][b]);
                for (int t = 0; t < T; t++) {
                    __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(S[r][t]), d,
                                               _mm512_mul_ps(_mm512_cvtepi32_ps(M[r][t]), dmin));
                    acc[r][t] = _mm512_fmadd_ps(f, _mm512_set1_ps(ts->d[t][b]), acc[r][t]);
                }
            } else {
                for (int t = 0; t < T; t++) {
                    __m512i s6 = _mm512_sub_epi32(S[r][t], _mm512_slli_epi32(M[r][t], 5));
                    acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(ts->d[t][b])),
                                                _mm512_cvtepi32_ps(s6), acc[r][t]);
                }
            }
        }
    }
    tile_acc_store(R, T, acc, out, out_stride, mask);
}

/* ---- the panel loop all three kinds share ---- */

AVX512 static ALWAYS_INLINE void gemm_panels(const int kind, const void *w, size_t w_stride,
                                             int n_w, const void *act, size_t act_stride, int n_act,
                                             float *out, size_t out_stride, size_t n)
{
    struct panel p;
    struct panel_k pk;
    struct tok_side ts;
    struct tok_k tk;
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
                repack_k(kind, &pk, wp, w_stride, np, b0, nb);
            for (int t0 = 0; t0 < n_act; t0 += 4) {
                int nt = n_act - t0 < 4 ? n_act - t0 : 4;
                if (kind == KIND_Q8_0)
                    tok_prep(&ts, act, act_stride, t0, nt, b0, nb);
                else
                    tok_prep_k(kind, &tk, act, act_stride, t0, nt, b0, nb);
                float *o = out + (size_t)t0 * out_stride + r0;
                for (int g = 0; g < ng; g += 2) {
                    int two = ng - g >= 2;
                    float *og = o + (size_t)LANES * g;
#define TILE(R, T)                                                                                 \
    (kind == KIND_Q8_0 ? tile(R, T, &p, g, &ts, nb, first, og, out_stride, mask + g)               \
                       : tile_k(kind, R, T, &pk, g, &tk, nb, first, og, out_stride, mask + g))
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

AVX512 void gemm_x86_q4_k(const void *w, size_t w_stride, int n_w, const void *act,
                          size_t act_stride, int n_act, float *out, size_t out_stride, size_t n)
{
    gemm_panels(KIND_Q4_K, w, w_stride, n_w, act, act_stride, n_act, out, out_stride, n);
}

AVX512 void gemm_x86_q6_k(const void *w, size_t w_stride, int n_w, const void *act,
                          size_t act_stride, int n_act, float *out, size_t out_stride, size_t n)
{
    gemm_panels(KIND_Q6_K, w, w_stride, n_w, act, act_stride, n_act, out, out_stride, n);
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
