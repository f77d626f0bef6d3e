/* att_x86.c - attention's score and weighted-sum passes (quant.h: quant_att_scores_fn,
 * quant_att_wsum_fn) for AVX2 and AVX-512, bit for bit the F32 dot and axpy kernels called once
 * per query and cache row. The AVX-512 pair reads each key row once for up to four queries and
 * keeps two queries' outputs in registers across all value rows, where one call per query and
 * row loaded and stored the output row every time. */
#include "engine/quant_int.h"

#include <stddef.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "engine/kern_x86.h"

/* ---- AVX2: one dot or axpy per query and row, the kernels' own loops inlined ---- */

AVX2 static float dot_f32(const void *w, const void *a, size_t n)
{
    return dot_f32_256(w, a, n);
}

AVX2 static void axpy_f32(float *y, float a, const float *x, size_t n)
{
    axpy_f32_256(y, a, x, n);
}

AVX2 static void scores_avx2(const float *k, const float *v, size_t stride, int p0, int p1,
                             const float *const *q, const int *npos, int nq, int hd, float scale,
                             float *sc, size_t ld)
{
    quant_att_scores_calls(dot_f32, k, v, stride, p0, p1, q, npos, nq, hd, scale, sc, ld);
}

AVX2 static void wsum_avx2(const float *v, size_t stride, int p0, int p1, float *const *o,
                           const int *npos, int nq, int hd, const float *sc, size_t ld)
{
    quant_att_wsum_calls(axpy_f32, v, stride, p0, p1, o, npos, nq, hd, sc, ld);
}

/* ---- AVX-512 ---- */

/* The sum of a 512-bit accumulator whose lanes 0-7 and 8-15 are dot_f32_256's two: their sum,
 * then hsum_ps. */
AVX512 static ALWAYS_INLINE float hsum_pair(__m512 a)
{
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
    return hsum_ps(_mm256_add_ps(_mm512_castps512_ps256(a), hi));
}

/* Scores of rows [pa, pb) against n (1-4, a constant where inlined) queries: every row's 16-float
 * steps loaded once for all of them. out[i] is query i's score row, indexed by p - p0. */
AVX512 static ALWAYS_INLINE void scores_rows(int n, const float *k, const float *v, size_t stride,
                                             int p0, int pa, int pb, int e, const float *const *q,
                                             int hd, float scale, float *const *out)
{
    for (int p = pa; p < pb; p++) {
        const float *kr = k + (size_t)p * stride;
        quant_att_ahead(k, v, stride, p, e, hd);
        __m512 a[4];
#pragma GCC unroll 4
        for (int i = 0; i < n; i++)
            a[i] = _mm512_setzero_ps();
        for (int d = 0; d < hd; d += 16) {
            __m512 x = _mm512_loadu_ps(kr + d);
#pragma GCC unroll 4
            for (int i = 0; i < n; i++)
                a[i] = _mm512_fmadd_ps(x, _mm512_loadu_ps(q[i] + d), a[i]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < n; i++)
            out[i][p - p0] = hsum_pair(a[i]) * scale;
    }
}

AVX512 static void scores_avx512(const float *k, const float *v, size_t stride, int p0, int p1,
                                 const float *const *q, const int *npos, int nq, int hd,
                                 float scale, float *sc, size_t ld)
{
    if (hd % 16) {
        scores_avx2(k, v, stride, p0, p1, q, npos, nq, hd, scale, sc, ld);
        return;
    }
    int e = quant_att_start(k, stride, p0, p1, npos, nq, hd);
    /* up to four queries per pass over the rows; a query's rows end at its own npos, so the
     * rows of the pass are split where the set of queries that see them shrinks */
    for (int i0 = 0; i0 < nq; i0 += 4) {
        int n = nq - i0 < 4 ? nq - i0 : 4, pa = p0;
        const float *qq[4];
        float *out[4];
        int end[4];
        for (int i = 0; i < n; i++) {
            qq[i] = q[i0 + i];
            out[i] = sc + (size_t)(i0 + i) * ld;
            end[i] = npos[i0 + i] < p1 ? npos[i0 + i] : p1;
        }
        while (n > 0) {
            /* the queries still seeing rows at pa, and the first row one of them does not */
            int m = 0, pb = p1;
            for (int i = 0; i < n; i++)
                if (end[i] > pa) {
                    qq[m] = qq[i];
                    out[m] = out[i];
                    end[m] = end[i];
                    pb = end[m] < pb ? end[m] : pb;
                    m++;
                }
            n = m;
            switch (n) {
            case 4:
                scores_rows(4, k, v, stride, p0, pa, pb, e, qq, hd, scale, out);
                break;
            case 3:
                scores_rows(3, k, v, stride, p0, pa, pb, e, qq, hd, scale, out);
                break;
            case 2:
                scores_rows(2, k, v, stride, p0, pa, pb, e, qq, hd, scale, out);
                break;
            case 1:
                scores_rows(1, k, v, stride, p0, pa, pb, e, qq, hd, scale, out);
                break;
            }
            pa = pb;
        }
    }
}

/* o[i][0, 16 nd) += w[i][p - p0] * V_p[0, 16 nd) for rows [pa, pb) and n (1 or 2) queries, with
 * the outputs in registers (n * nd <= 16 vectors) for the whole pass; n and nd are constants
 * where inlined. */
AVX512 static ALWAYS_INLINE void wsum_rows(int n, int nd, const float *v, size_t stride, int p0,
                                           int pa, int pb, float *const *o, const float *const *w)
{
    __m512 acc[2][8];
#pragma GCC unroll 2
    for (int i = 0; i < n; i++)
#pragma GCC unroll 8
        for (int j = 0; j < nd; j++)
            acc[i][j] = _mm512_loadu_ps(o[i] + 16 * j);
    for (int p = pa; p < pb; p++) {
        const float *vr = v + (size_t)p * stride;
        __m512 s[2];
#pragma GCC unroll 2
        for (int i = 0; i < n; i++)
            s[i] = _mm512_set1_ps(w[i][p - p0]);
#pragma GCC unroll 8
        for (int j = 0; j < nd; j++) {
            __m512 x = _mm512_loadu_ps(vr + 16 * j);
#pragma GCC unroll 2
            for (int i = 0; i < n; i++)
                acc[i][j] = _mm512_fmadd_ps(s[i], x, acc[i][j]);
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < n; i++)
#pragma GCC unroll 8
        for (int j = 0; j < nd; j++)
            _mm512_storeu_ps(o[i] + 16 * j, acc[i][j]);
}

/* wsum_rows over all hd columns with nd a constant: blocks of 128 floats, then one of 64, 32 and
 * 16 where hd's remainder has it (columns are independent, so any split gives the same sums). */
AVX512 static ALWAYS_INLINE void wsum_cols(int n, const float *v, size_t stride, int p0, int pa,
                                           int pb, float *const *o, const float *const *w, int hd)
{
    for (int d = 0; d < hd;) {
        int left = hd - d, nd = left >= 128 ? 8 : left >= 64 ? 4 : left >= 32 ? 2 : 1;
        float *od[2] = {o[0] + d, n > 1 ? o[1] + d : NULL};
        if (nd == 8)
            wsum_rows(n, 8, v + d, stride, p0, pa, pb, od, w);
        else if (nd == 4)
            wsum_rows(n, 4, v + d, stride, p0, pa, pb, od, w);
        else if (nd == 2)
            wsum_rows(n, 2, v + d, stride, p0, pa, pb, od, w);
        else
            wsum_rows(n, 1, v + d, stride, p0, pa, pb, od, w);
        d += 16 * nd;
    }
}

AVX512 static void wsum_avx512(const float *v, size_t stride, int p0, int p1, float *const *o,
                               const int *npos, int nq, int hd, const float *sc, size_t ld)
{
    if (hd % 16) {
        wsum_avx2(v, stride, p0, p1, o, npos, nq, hd, sc, ld);
        return;
    }
    /* queries in pairs; where one of a pair sees fewer rows, the other goes on alone */
    for (int i0 = 0; i0 < nq; i0 += 2) {
        int two = i0 + 1 < nq;
        int e0 = npos[i0] < p1 ? npos[i0] : p1;
        int e1 = two ? (npos[i0 + 1] < p1 ? npos[i0 + 1] : p1) : p0;
        const float *w[2] = {sc + (size_t)i0 * ld, two ? sc + (size_t)(i0 + 1) * ld : NULL};
        float *oo[2] = {o[i0], two ? o[i0 + 1] : NULL};
        int both = two ? (e0 < e1 ? e0 : e1) : p0;
        if (both > p0) wsum_cols(2, v, stride, p0, p0, both, oo, w, hd);
        int from = both > p0 ? both : p0;
        if (e0 > from) wsum_cols(1, v, stride, p0, from, e0, oo, w, hd);
        if (e1 > from) {
            const float *w1[1] = {w[1]};
            float *o1[1] = {oo[1]};
            wsum_cols(1, v, stride, p0, from, e1, o1, w1, hd);
        }
    }
}

struct quant_att quant_att_x86(enum quant_isa isa)
{
    if (isa == QUANT_ISA_AVX512) return (struct quant_att){scores_avx512, wsum_avx512};
    if (isa == QUANT_ISA_AVX2) return (struct quant_att){scores_avx2, wsum_avx2};
    return (struct quant_att){NULL, NULL};
}

#else /* not x86-64 */

struct quant_att quant_att_x86(enum quant_isa isa)
{
    (void)isa;
    return (struct quant_att){NULL, NULL};
}

#endif
