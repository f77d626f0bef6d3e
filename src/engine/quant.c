/* quant.c - the element types: conversions, portable row quantizers, dequantizers and dot
 * kernels, and the kernel table that joins them with the SIMD kernels of quant_x86.c. */
#include "engine/quant.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/quant_int.h"

_Static_assert(sizeof(struct block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(struct block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(struct block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(struct block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(struct block_q6_k) == 210, "q6_k layout");

/* ---- half and bfloat16 ---- */

float quant_f16_to_f32(ggml_half h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        float f = (float)man * (1.0f / 16777216.0f); /* subnormal: man * 2^-24 */
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

ggml_half quant_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (ggml_half)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return (ggml_half)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below 2^-14: subnormal half */
        float v;
        memcpy(&v, &ax, 4);
        return (ggml_half)(sign | (uint32_t)lrintf(v * 16777216.0f));
    }
    uint32_t h = ((ax >> 23) - 112) << 10 | ((ax & 0x7fffff) >> 13);
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (ggml_half)(sign | h);
}

float quant_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t quant_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* ---- dequantization ---- */

void quant_k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void pack_k4_scales(const uint8_t ls[8], const uint8_t lm[8], uint8_t out[12])
{
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)((ls[j] & 63) | ((ls[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)((lm[j] & 63) | ((lm[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
}

static void deq_q8_0(const void *xv, float *y, size_t n)
{
    const struct block_q8_0 *x = xv;
    size_t nb = n / QK;
    for (size_t i = 0; i < nb; i++) {
        float d = quant_f16_to_f32(x[i].d);
        for (int j = 0; j < QK; j++)
            y[i * QK + j] = d * x[i].qs[j];
    }
}

static void deq_q4_0(const void *xv, float *y, size_t n)
{
    const struct block_q4_0 *x = xv;
    size_t nb = n / QK;
    for (size_t i = 0; i < nb; i++) {
        float d = quant_f16_to_f32(x[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[i * QK + j] = d * ((x[i].qs[j] & 0xF) - 8);
            y[i * QK + j + QK / 2] = d * ((x[i].qs[j] >> 4) - 8);
        }
    }
}

static void deq_q4_k(const void *xv, float *y, size_t n)
{
    const struct block_q4_k *x = xv;
    size_t nb = n / QKK;
    for (size_t i = 0; i < nb; i++) {
        float d = quant_f16_to_f32(x[i].d), dmin = quant_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++) {
            uint8_t s0, m0, s1, m1;
            quant_k4_scale_min(2 * c, x[i].scales, &s0, &m0);
            quant_k4_scale_min(2 * c + 1, x[i].scales, &s1, &m1);
            for (int l = 0; l < 32; l++) {
                *y++ = d * s0 * (q[l] & 0xF) - dmin * m0;
            }
            for (int l = 0; l < 32; l++)
                *y++ = d * s1 * (q[l] >> 4) - dmin * m1;
            q += 32;
        }
    }
}

static void deq_q5_k(const void *xv, float *y, size_t n)
{
    const struct block_q5_k *x = xv;
    size_t nb = n / QKK;
    for (size_t i = 0; i < nb; i++) {
        float d = quant_f16_to_f32(x[i].d), dmin = quant_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++) {
            uint8_t s0, m0, s1, m1;
            quant_k4_scale_min(2 * c, x[i].scales, &s0, &m0);
            quant_k4_scale_min(2 * c + 1, x[i].scales, &s1, &m1);
            int u0 = 1 << (2 * c), u1 = 2 << (2 * c);
            for (int l = 0; l < 32; l++)
                *y++ = d * s0 * ((q[l] & 0xF) + (x[i].qh[l] & u0 ? 16 : 0)) - dmin * m0;
            for (int l = 0; l < 32; l++)
                *y++ = d * s1 * ((q[l] >> 4) + (x[i].qh[l] & u1 ? 16 : 0)) - dmin * m1;
            q += 32;
        }
    }
}

static void deq_q6_k(const void *xv, float *y, size_t n)
{
    const struct block_q6_k *x = xv;
    size_t nb = n / QKK;
    for (size_t i = 0; i < nb; i++) {
        float d = quant_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

static void deq_f32(const void *x, float *y, size_t n)
{
    memcpy(y, x, n * 4);
}

static void deq_f16(const void *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = quant_f16_to_f32(((const ggml_half *)x)[i]);
}

static void deq_bf16(const void *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = quant_bf16_to_f32(((const uint16_t *)x)[i]);
}

/* ---- quantization (for files ragd writes; simple round-to-nearest with per-block scales) ---- */

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void q_q8_0(const float *x, void *yv, size_t n)
{
    struct block_q8_0 *y = yv;
    size_t nb = n / QK;
    for (size_t i = 0; i < nb; i++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0;
        y[i].d = quant_f32_to_f16(d);
        for (int j = 0; j < QK; j++)
            y[i].qs[j] = (int8_t)clampi((int)lrintf(x[j] * id), -127, 127);
    }
}

static void q_q4_0(const float *x, void *yv, size_t n)
{
    struct block_q4_0 *y = yv;
    size_t nb = n / QK;
    for (size_t i = 0; i < nb; i++, x += QK) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        float d = max / -8.0f, id = d ? 1.0f / d : 0;
        y[i].d = quant_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            int a = clampi((int)floorf(x[j] * id + 8.5f), 0, 15);
            int b = clampi((int)floorf(x[j + QK / 2] * id + 8.5f), 0, 15);
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-weight sub-block an affine scale/min,
 * both quantized to 6 bits against the super-block's f16 d and dmin. q receives 0..nmax. */
static void q_k_affine(const float *x, int nmax, ggml_half *dh, ggml_half *dminh,
                       uint8_t scales[12], uint8_t q[QKK])
{
    float sc[8], mn[8], maxsc = 0, maxmn = 0;
    for (int j = 0; j < 8; j++) {
        float lo = x[32 * j], hi = x[32 * j];
        for (int l = 1; l < 32; l++) {
            lo = fminf(lo, x[32 * j + l]);
            hi = fmaxf(hi, x[32 * j + l]);
        }
        if (lo > 0) lo = 0;
        sc[j] = (hi - lo) / nmax;
        mn[j] = -lo;
        maxsc = fmaxf(maxsc, sc[j]);
        maxmn = fmaxf(maxmn, mn[j]);
    }
    *dh = quant_f32_to_f16(maxsc / 63.0f);
    *dminh = quant_f32_to_f16(maxmn / 63.0f);
    float d = quant_f16_to_f32(*dh), dmin = quant_f16_to_f32(*dminh);
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)(d ? clampi((int)lrintf(sc[j] / d), 0, 63) : 0);
        lm[j] = (uint8_t)(dmin ? clampi((int)lrintf(mn[j] / dmin), 0, 63) : 0);
        float s = d * ls[j], m = dmin * lm[j];
        for (int l = 0; l < 32; l++)
            q[32 * j + l] =
                (uint8_t)(s ? clampi((int)lrintf((x[32 * j + l] + m) / s), 0, nmax) : 0);
    }
    pack_k4_scales(ls, lm, scales);
}

static void q_q4_k(const float *x, void *yv, size_t n)
{
    struct block_q4_k *y = yv;
    size_t nb = n / QKK;
    uint8_t q[QKK];
    for (size_t i = 0; i < nb; i++, x += QKK) {
        q_k_affine(x, 15, &y[i].d, &y[i].dmin, y[i].scales, q);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

static void q_q5_k(const float *x, void *yv, size_t n)
{
    struct block_q5_k *y = yv;
    size_t nb = n / QKK;
    uint8_t q[QKK];
    for (size_t i = 0; i < nb; i++, x += QKK) {
        q_k_affine(x, 31, &y[i].d, &y[i].dmin, y[i].scales, q);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int a = q[64 * c + l], b = q[64 * c + 32 + l];
                y[i].qs[32 * c + l] = (uint8_t)((a & 0xF) | ((b & 0xF) << 4));
                y[i].qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1)));
            }
        }
    }
}

static void q_q6_k(const float *x, void *yv, size_t n)
{
    struct block_q6_k *y = yv;
    size_t nb = n / QKK;
    uint8_t q[QKK];
    for (size_t i = 0; i < nb; i++, x += QKK) {
        float gs[16], maxabs = 0;
        for (int g = 0; g < 16; g++) {
            float amax = 0, max = 0;
            for (int l = 0; l < 16; l++) {
                if (fabsf(x[16 * g + l]) > amax) {
                    amax = fabsf(x[16 * g + l]);
                    max = x[16 * g + l];
                }
            }
            gs[g] = max / -32.0f;
            maxabs = fmaxf(maxabs, fabsf(gs[g]));
        }
        y[i].d = quant_f32_to_f16(maxabs / 127.0f);
        float d = quant_f16_to_f32(y[i].d);
        for (int g = 0; g < 16; g++) {
            int ls = d ? clampi((int)lrintf(gs[g] / d), -127, 127) : 0;
            y[i].scales[g] = (int8_t)ls;
            float s = d * ls;
            for (int l = 0; l < 16; l++)
                q[16 * g + l] =
                    (uint8_t)(s ? clampi((int)lrintf(x[16 * g + l] / s), -32, 31) + 32 : 32);
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *Q = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = Q[l], q2 = Q[l + 32], q3 = Q[l + 64], q4 = Q[l + 96];
                y[i].ql[64 * h + l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                y[i].ql[64 * h + l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                y[i].qh[32 * h + l] =
                    (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

static void q_f32(const float *x, void *y, size_t n)
{
    memcpy(y, x, n * 4);
}

static void q_f16(const float *x, void *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ((ggml_half *)y)[i] = quant_f32_to_f16(x[i]);
}

static void q_bf16(const float *x, void *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ((uint16_t *)y)[i] = quant_f32_to_bf16(x[i]);
}

/* ---- activations ---- */

size_t quant_act_row_bytes(enum act_kind k, size_t n)
{
    switch (k) {
    case ACT_QA8:
        return n / QK * sizeof(struct block_qa8);
    case ACT_QA8K: {
        size_t at = quant_qa8k_groups_at(n);
        return at ? at + n / QKK / 4 * sizeof(struct qa8k_group)
                  : n / QKK * sizeof(struct block_qa8k);
    }
    default:
        return n * sizeof(float);
    }
}

/* max(m, |v|) without libm's NaN rules, so that the loops vectorise */
static inline float absmax(float m, float v)
{
    float a = v < 0 ? -v : v;
    return a > m ? a : m;
}

void quant_act_quantize(enum act_kind k, const float *x, void *y, size_t n)
{
    if (k == ACT_F32) {
        memcpy(y, x, n * sizeof(float));
    } else if (k == ACT_QA8) {
        struct block_qa8 *b = y;
        for (size_t i = 0; i < n / QK; i++, x += QK) {
            float amax = 0;
            for (int j = 0; j < QK; j++)
                amax = absmax(amax, x[j]);
            float d = amax / 127.0f, id = d ? 1.0f / d : 0;
            int sum = 0;
            for (int j = 0; j < QK; j++) {
                int v = (int)lrintf(x[j] * id);
                b[i].qs[j] = (int8_t)v;
                sum += v;
            }
            b[i].d = d;
            b[i].sum = sum;
        }
    } else {
        struct block_qa8k *b = y;
        for (size_t i = 0; i < n / QKK; i++, x += QKK) {
            float amax = 0;
            for (int j = 0; j < QKK; j++)
                amax = absmax(amax, x[j]);
            float d = amax / 127.0f, id = d ? 1.0f / d : 0;
            for (int g = 0; g < QKK / 16; g++) {
                int sum = 0;
                for (int j = 0; j < 16; j++) {
                    int v = (int)lrintf(x[16 * g + j] * id);
                    b[i].qs[16 * g + j] = (int8_t)v;
                    sum += v;
                }
                b[i].bsums[g] = (int16_t)sum;
            }
            b[i].d = d;
        }
        quant_qa8k_fill_groups(y, n);
    }
}

void quant_qa8k_fill_groups(void *row, size_t n)
{
    size_t at = quant_qa8k_groups_at(n), blocks = n / QKK * sizeof(struct block_qa8k);
    if (!at) return;
    const struct block_qa8k *b = row;
    struct qa8k_group *g = (void *)((uint8_t *)row + at);
    memset((uint8_t *)row + blocks, 0, at - blocks);
    for (size_t i = 0; i + 4 <= n / QKK; i += 4, g++) {
        memset(g->pad, 0, sizeof g->pad);
        for (int k = 0; k < 4; k++) {
            const struct block_qa8k *a = &b[i + k];
            g->d[k] = a->d;
            for (int j = 0; j < 8; j++)
                g->sums[8 * k + j] = (int16_t)(a->bsums[2 * j] + a->bsums[2 * j + 1]);
            for (int v = 0; v < 4; v++) {
                int s0 = 4 * (v / 2) + v % 2; /* the vector's first sub-block; then s0 + 2 */
                memcpy(g->qs[k] + 64 * v, a->qs + 32 * s0, 32);
                memcpy(g->qs[k] + 64 * v + 32, a->qs + 32 * (s0 + 2), 32);
            }
        }
    }
}

static void act_qa8_portable(const float *x, void *y, size_t n)
{
    quant_act_quantize(ACT_QA8, x, y, n);
}

static void act_qa8k_portable(const float *x, void *y, size_t n)
{
    quant_act_quantize(ACT_QA8K, x, y, n);
}

static void act_f32(const float *x, void *y, size_t n)
{
    memcpy(y, x, n * sizeof(float));
}

quant_act_fn quant_act_kernel(enum act_kind k, enum quant_isa isa)
{
    quant_act_fn f = isa >= QUANT_ISA_AVX2 ? quant_act_avx2(k) : NULL;
    if (f) return f;
    return k == ACT_QA8 ? act_qa8_portable : k == ACT_QA8K ? act_qa8k_portable : act_f32;
}

/* ---- portable dot products ---- */

static float dot_f32(const void *w, const void *a, size_t n)
{
    const float *x = w, *y = a;
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

static float dot_f16(const void *w, const void *a, size_t n)
{
    const ggml_half *x = w;
    const float *y = a;
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += quant_f16_to_f32(x[i]) * y[i];
    return s;
}

static float dot_bf16(const void *w, const void *a, size_t n)
{
    const uint16_t *x = w;
    const float *y = a;
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += quant_bf16_to_f32(x[i]) * y[i];
    return s;
}

static float dot_q8_0(const void *w, const void *a, size_t n)
{
    const struct block_q8_0 *x = w;
    const struct block_qa8 *y = a;
    float s = 0;
    for (size_t i = 0; i < n / QK; i++) {
        int sum = 0;
        for (int j = 0; j < QK; j++)
            sum += x[i].qs[j] * y[i].qs[j];
        s += quant_f16_to_f32(x[i].d) * y[i].d * (float)sum;
    }
    return s;
}

static float dot_q4_0(const void *w, const void *a, size_t n)
{
    const struct block_q4_0 *x = w;
    const struct block_qa8 *y = a;
    float s = 0;
    for (size_t i = 0; i < n / QK; i++) {
        int sum = 0;
        for (int j = 0; j < QK / 2; j++)
            sum += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + QK / 2];
        s += quant_f16_to_f32(x[i].d) * y[i].d * (float)(sum - 8 * y[i].sum);
    }
    return s;
}

static float dot_q4_k(const void *w, const void *a, size_t n)
{
    const struct block_q4_k *x = w;
    const struct block_qa8k *y = a;
    float s = 0;
    for (size_t i = 0; i < n / QKK; i++) {
        int isum = 0, msum = 0;
        const uint8_t *q = x[i].qs;
        const int8_t *ay = y[i].qs;
        for (int c = 0; c < 4; c++) {
            uint8_t s0, m0, s1, m1;
            quant_k4_scale_min(2 * c, x[i].scales, &s0, &m0);
            quant_k4_scale_min(2 * c + 1, x[i].scales, &s1, &m1);
            int d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                d0 += (q[32 * c + l] & 0xF) * ay[64 * c + l];
                d1 += (q[32 * c + l] >> 4) * ay[64 * c + 32 + l];
            }
            isum += s0 * d0 + s1 * d1;
            msum += m0 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) +
                    m1 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        s += quant_f16_to_f32(x[i].d) * y[i].d * (float)isum -
             quant_f16_to_f32(x[i].dmin) * y[i].d * (float)msum;
    }
    return s;
}

static float dot_q5_k(const void *w, const void *a, size_t n)
{
    const struct block_q5_k *x = w;
    const struct block_qa8k *y = a;
    float s = 0;
    for (size_t i = 0; i < n / QKK; i++) {
        int isum = 0, msum = 0;
        const uint8_t *q = x[i].qs;
        const int8_t *ay = y[i].qs;
        for (int c = 0; c < 4; c++) {
            uint8_t s0, m0, s1, m1;
            quant_k4_scale_min(2 * c, x[i].scales, &s0, &m0);
            quant_k4_scale_min(2 * c + 1, x[i].scales, &s1, &m1);
            int d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                int h0 = (x[i].qh[l] >> (2 * c)) & 1, h1 = (x[i].qh[l] >> (2 * c + 1)) & 1;
                d0 += ((q[32 * c + l] & 0xF) | (h0 << 4)) * ay[64 * c + l];
                d1 += ((q[32 * c + l] >> 4) | (h1 << 4)) * ay[64 * c + 32 + l];
            }
            isum += s0 * d0 + s1 * d1;
            msum += m0 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) +
                    m1 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        s += quant_f16_to_f32(x[i].d) * y[i].d * (float)isum -
             quant_f16_to_f32(x[i].dmin) * y[i].d * (float)msum;
    }
    return s;
}

static float dot_q6_k(const void *w, const void *a, size_t n)
{
    const struct block_q6_k *x = w;
    const struct block_qa8k *y = a;
    float s = 0;
    for (size_t i = 0; i < n / QKK; i++) {
        int isum = 0, corr = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h, *ay = y[i].qs + 128 * h;
            int g[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
                int q2 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
                int q3 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                int q4 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                g[is] += q1 * ay[l];
                g[is + 2] += q2 * ay[l + 32];
                g[is + 4] += q3 * ay[l + 64];
                g[is + 6] += q4 * ay[l + 96];
            }
            for (int k = 0; k < 8; k++)
                isum += sc[k] * g[k];
        }
        for (int k = 0; k < 16; k++)
            corr += x[i].scales[k] * y[i].bsums[k];
        s += quant_f16_to_f32(x[i].d) * y[i].d * (float)(isum - 32 * corr);
    }
    return s;
}

static void axpy_portable(float *y, float a, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

quant_axpy_fn quant_axpy_kernel(enum quant_isa isa)
{
    quant_axpy_fn f = isa >= QUANT_ISA_AVX2 ? quant_axpy_avx2() : NULL;
    return f ? f : axpy_portable;
}

static void att_scores_portable(const float *k, const float *v, size_t stride, int p0, int p1,
                                const float *const *q, const int *npos, int nq, int hd, float scale,
                                float *sc, size_t ld)
{
    quant_att_scores_calls(dot_f32, k, v, stride, p0, p1, q, npos, nq, hd, scale, sc, ld);
}

static void att_wsum_portable(const float *v, size_t stride, int p0, int p1, float *const *o,
                              const int *npos, int nq, int hd, const float *sc, size_t ld)
{
    quant_att_wsum_calls(axpy_portable, v, stride, p0, p1, o, npos, nq, hd, sc, ld);
}

struct quant_att quant_att_kernel(enum quant_isa isa)
{
    struct quant_att k = quant_att_x86(isa);
    return k.scores ? k : (struct quant_att){att_scores_portable, att_wsum_portable};
}

/* quant_configure's values; "" when not given */
static char set_isa[16], set_bits[8];

void quant_configure(const char *isa_cap, const char *vector_bits)
{
    snprintf(set_isa, sizeof set_isa, "%s", isa_cap ? isa_cap : "");
    snprintf(set_bits, sizeof set_bits, "%s", vector_bits ? vector_bits : "");
}

/* A setting: quant_configure's value, else the environment's (NULL when neither) */
static const char *setting(const char *set, const char *name)
{
    return *set ? set : getenv(name);
}

enum quant_isa quant_best_isa(void)
{
    enum quant_isa best = quant_cpu_isa();
    const char *cap = setting(set_isa, "RAGD_ISA");
    if (cap) {
        enum quant_isa c = !strcmp(cap, "portable") ? QUANT_ISA_PORTABLE
                           : !strcmp(cap, "avx2")   ? QUANT_ISA_AVX2
                                                    : QUANT_ISA_AVX512;
        if (c < best) best = c;
    }
    return best;
}

const char *quant_isa_name(enum quant_isa isa)
{
    return isa == QUANT_ISA_AVX512 ? "avx512" : isa == QUANT_ISA_AVX2 ? "avx2" : "portable";
}

/* ---- the kernel table ---- */

#define ROW(T, NAME, BLOCK, BYTES, ACT, Q, DQ, DOT)                                                \
    {                                                                                              \
        .type = (T), .info = {NAME, BLOCK, BYTES, (DOT) != NULL}, .act = (ACT), .quantize = (Q),   \
        .dequantize = (DQ), .isa = {                                                               \
            {.dot = (DOT)}                                                                         \
        }                                                                                          \
    }
#define NOKERNELS(T, NAME, BLOCK, BYTES) ROW(T, NAME, BLOCK, BYTES, ACT_F32, NULL, NULL, NULL)

/* The portable column; quant_table_build adds the other ISAs' kernels. */
static struct quant_traits table[] = {
    ROW(GGML_TYPE_F32, "f32", 1, 4, ACT_F32, q_f32, deq_f32, dot_f32),
    ROW(GGML_TYPE_F16, "f16", 1, 2, ACT_F32, q_f16, deq_f16, dot_f16),
    ROW(GGML_TYPE_Q4_0, "q4_0", QK, sizeof(struct block_q4_0), ACT_QA8, q_q4_0, deq_q4_0, dot_q4_0),
    NOKERNELS(GGML_TYPE_Q4_1, "q4_1", QK, 20),
    NOKERNELS(GGML_TYPE_Q5_0, "q5_0", QK, 22),
    NOKERNELS(GGML_TYPE_Q5_1, "q5_1", QK, 24),
    ROW(GGML_TYPE_Q8_0, "q8_0", QK, sizeof(struct block_q8_0), ACT_QA8, q_q8_0, deq_q8_0, dot_q8_0),
    NOKERNELS(GGML_TYPE_Q8_1, "q8_1", QK, 36),
    NOKERNELS(GGML_TYPE_Q2_K, "q2_k", QKK, 84),
    NOKERNELS(GGML_TYPE_Q3_K, "q3_k", QKK, 110),
    ROW(GGML_TYPE_Q4_K, "q4_k", QKK, sizeof(struct block_q4_k), ACT_QA8K, q_q4_k, deq_q4_k,
        dot_q4_k),
    ROW(GGML_TYPE_Q5_K, "q5_k", QKK, sizeof(struct block_q5_k), ACT_QA8K, q_q5_k, deq_q5_k,
        dot_q5_k),
    ROW(GGML_TYPE_Q6_K, "q6_k", QKK, sizeof(struct block_q6_k), ACT_QA8K, q_q6_k, deq_q6_k,
        dot_q6_k),
    NOKERNELS(GGML_TYPE_Q8_K, "q8_k", QKK, 292),
    NOKERNELS(GGML_TYPE_I8, "i8", 1, 1),
    NOKERNELS(GGML_TYPE_I16, "i16", 1, 2),
    NOKERNELS(GGML_TYPE_I32, "i32", 1, 4),
    NOKERNELS(GGML_TYPE_I64, "i64", 1, 8),
    NOKERNELS(GGML_TYPE_F64, "f64", 1, 8),
    ROW(GGML_TYPE_BF16, "bf16", 1, 2, ACT_F32, q_bf16, deq_bf16, dot_bf16),
};

#undef NOKERNELS
#undef ROW

#define N_TYPES (sizeof table / sizeof table[0])

static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static struct quant_decode_choice choice;

static struct quant_traits *find(uint32_t type)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (table[i].type == type) return &table[i];
    return NULL;
}

/* Puts isa's kernels into the table, wide (512-bit) single-row kernels where asked for; slots
 * the ISA has no kernel for take the narrower ISA's. */
static void fill_isa(enum quant_isa isa, int wide)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        table[i].isa[isa] = table[i].isa[isa - 1];
        table[i].isa[isa].gemm = NULL;
    }
    for (const struct quant_isa_kernels *k = quant_x86_kernels(isa); k->dot; k++) {
        struct quant_traits *t = find(k->type);
        RAGD_ASSERT(t && t->info.supported);
        struct quant_kernels *s = &t->isa[isa];
        s->dot = wide && k->dot_512 ? k->dot_512 : k->dot;
        s->dot_bits = wide && k->dot_512 ? 512 : 256;
        if (k->dot_multi) s->dot_multi = wide && k->dot_multi_512 ? k->dot_multi_512 : k->dot_multi;
        s->gemm = k->gemm;
    }
}

/* ---- start-up choice of the decode kernels ---- */

int quant_width_for_cpu(const struct quant_cpu *cpu)
{
    if (cpu->amd) {
        if (cpu->family == 0x19) return 256; /* Zen 4: 512-bit operations take two passes */
        if (cpu->family >= 0x1a) return 512; /* Zen 5 and later: full-width datapaths */
        return 0;
    }
    if (cpu->intel && cpu->family == 6) {
        switch (cpu->model) {
        case 0x6a: /* Ice Lake server */
        case 0x6c:
        case 0x7d: /* Ice Lake client */
        case 0x7e:
        case 0x8c: /* Tiger Lake */
        case 0x8d:
        case 0x8f: /* Sapphire Rapids */
        case 0xa7: /* Rocket Lake */
        case 0xad: /* Granite Rapids */
        case 0xae:
        case 0xcf: /* Emerald Rapids */
            return 512;
        }
    }
    return 0;
}

void quant_choose_width(const struct quant_cpu *cpu, const char *env, int has_512,
                        double (*time)(int bits), struct quant_decode_choice *out)
{
    out->bits = 256;
    out->ns_256 = out->ns_512 = 0;
    if (!has_512) {
        out->why = QUANT_WHY_NO_AVX512;
        return;
    }
    if (env && (!strcmp(env, "256") || !strcmp(env, "512"))) {
        out->bits = atoi(env);
        out->why = QUANT_WHY_ENV;
        return;
    }
    int w = quant_width_for_cpu(cpu);
    if (w || !time) {
        out->bits = w ? w : 256;
        out->why = QUANT_WHY_MODEL;
        return;
    }
    /* best of three alternating passes each, so a burst of other load hits both */
    double t256 = 0, t512 = 0;
    for (int r = 0; r < 3; r++) {
        double a = time(256), b = time(512);
        t256 = r == 0 || a < t256 ? a : t256;
        t512 = r == 0 || b < t512 ? b : t512;
    }
    out->ns_256 = t256;
    out->ns_512 = t512;
    out->bits = t512 < t256 ? 512 : 256;
    out->why = QUANT_WHY_TIMING;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A pass of one width's decode kernels over in-cache rows of every type that has two widths:
 * 8 rows of 2048 weights each, 16 times (at most 68 KiB of weights, within L2; tens of
 * microseconds a pass, so the start-up timing's six passes take well under a millisecond). */
#define TIME_ROWS 8
#define TIME_N 2048
static uint8_t *time_w[3], *time_a[3]; /* made once, kept for the process */
static const uint32_t time_types[3] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};

static double time_width(int bits)
{
    volatile float sink = 0;
    double t0 = now_ns();
    for (int k = 0; k < 3; k++) {
        const struct quant_isa_kernels *r = quant_x86_kernels(QUANT_ISA_AVX512);
        while (r->dot && r->type != time_types[k])
            r++;
        if (!r->dot) continue;
        quant_dot_fn f = bits == 512 && r->dot_512 ? r->dot_512 : r->dot;
        size_t rb = quant_row_bytes(time_types[k], TIME_N);
        for (int rep = 0; rep < 16; rep++)
            for (int i = 0; i < TIME_ROWS; i++)
                sink += f(time_w[k] + (size_t)i * rb, time_a[k], TIME_N);
    }
    (void)sink;
    return now_ns() - t0;
}

static void time_setup(void)
{
    float *x = xmalloc(TIME_N * sizeof(float));
    uint32_t seed = 12345;
    for (int k = 0; k < 3; k++) {
        const struct quant_traits *t = find(time_types[k]);
        size_t rb = quant_row_bytes(time_types[k], TIME_N);
        time_w[k] = xmalloc(rb * TIME_ROWS);
        time_a[k] = xmalloc(quant_act_row_bytes(t->act, TIME_N));
        for (int i = 0; i <= TIME_ROWS; i++) {
            for (int j = 0; j < TIME_N; j++) {
                seed = seed * 1664525u + 1013904223u;
                x[j] = (float)(seed >> 8) / 16777216.0f - 0.5f;
            }
            if (i < TIME_ROWS)
                t->quantize(x, time_w[k] + (size_t)i * rb, TIME_N);
            else
                quant_act_quantize(t->act, x, time_a[k], TIME_N);
        }
    }
    free(x);
}

double quant_time_width(int bits)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, time_setup);
    return time_width(bits);
}

static void quant_table_build(void)
{
    enum quant_isa cpu = quant_cpu_isa();
    struct quant_cpu id;
    quant_cpu_ident(&id);
    int has_512 = cpu >= QUANT_ISA_AVX512;
    /* the timer runs (and makes its buffers) only for an AVX-512 model not known either way */
    quant_choose_width(&id, setting(set_bits, "RAGD_VECTOR_BITS"), has_512, quant_time_width,
                       &choice);
    choice.vendor_amd = (unsigned)id.amd;
    choice.vendor_intel = (unsigned)id.intel;
    choice.family = id.family;
    choice.model = id.model;
    for (size_t i = 0; i < N_TYPES; i++)
        table[i].isa[QUANT_ISA_PORTABLE].dot_bits = 0;
    if (cpu >= QUANT_ISA_AVX2)
        fill_isa(QUANT_ISA_AVX2, 0);
    else
        for (size_t i = 0; i < N_TYPES; i++)
            table[i].isa[QUANT_ISA_AVX2] = table[i].isa[QUANT_ISA_PORTABLE];
    if (has_512)
        fill_isa(QUANT_ISA_AVX512, choice.bits == 512);
    else
        for (size_t i = 0; i < N_TYPES; i++) {
            table[i].isa[QUANT_ISA_AVX512] = table[i].isa[QUANT_ISA_AVX2];
            table[i].isa[QUANT_ISA_AVX512].gemm = NULL;
        }
}

const struct quant_traits *quant_traits(uint32_t type)
{
    pthread_once(&table_once, quant_table_build);
    return find(type);
}

const struct quant_decode_choice *quant_decode_choice(void)
{
    pthread_once(&table_once, quant_table_build);
    return &choice;
}

const char *quant_kernels_describe(char *buf, size_t size)
{
    const struct quant_decode_choice *c = quant_decode_choice();
    static const char *const why[] = {"no avx512", "RAGD_VECTOR_BITS", "cpu model", "timing"};
    char extra[64] = "";
    if (c->why == QUANT_WHY_TIMING)
        snprintf(extra, sizeof extra, ", %.0f vs %.0f ns", c->ns_256, c->ns_512);
    snprintf(buf, size, "%s, %d-bit decode kernels (%s: %s family 0x%x model 0x%x%s)",
             quant_isa_name(quant_best_isa()), c->bits, why[c->why],
             c->vendor_amd     ? "AMD"
             : c->vendor_intel ? "Intel"
                               : "other",
             c->family, c->model, extra);
    return buf;
}

/* ---- the public lookups, all through the table ---- */

const struct quant_type_info *quant_type_info(uint32_t type)
{
    const struct quant_traits *t = find(type); /* static facts: no need to build the table */
    return t ? &t->info : NULL;
}

int quant_type_from_name(const char *name)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (!strcasecmp(table[i].info.name, name)) return (int)table[i].type;
    return -1;
}

size_t quant_row_bytes(uint32_t type, size_t n)
{
    const struct quant_type_info *ti = quant_type_info(type);
    return ti ? n / ti->block * ti->block_bytes : 0;
}

enum act_kind quant_act_kind(uint32_t type)
{
    const struct quant_traits *t = find(type);
    return t ? t->act : ACT_F32;
}

int quant_dequantize_row(uint32_t type, const void *x, float *y, size_t n)
{
    const struct quant_traits *t = find(type);
    if (!t || !t->dequantize) return RAGD_ENOTSUP;
    t->dequantize(x, y, n);
    return 0;
}

int quant_quantize_row(uint32_t type, const float *x, void *y, size_t n)
{
    const struct quant_traits *t = find(type);
    if (!t || !t->quantize) return RAGD_ENOTSUP;
    t->quantize(x, y, n);
    return 0;
}

static const struct quant_kernels *kernels(uint32_t type, enum quant_isa isa)
{
    const struct quant_traits *t = quant_traits(type);
    if (!t || !t->info.supported) return NULL;
    return &t->isa[isa < QUANT_ISA_COUNT ? isa : QUANT_ISA_COUNT - 1];
}

quant_dot_fn quant_dot_kernel(uint32_t type, enum quant_isa isa)
{
    const struct quant_kernels *k = kernels(type, isa);
    return k ? k->dot : NULL;
}

quant_dot_multi_fn quant_dot_multi_kernel(uint32_t type, enum quant_isa isa)
{
    const struct quant_kernels *k = kernels(type, isa);
    return k ? k->dot_multi : NULL;
}

quant_gemm_fn quant_gemm_kernel(uint32_t type, enum quant_isa isa)
{
    const struct quant_kernels *k = kernels(type, isa);
    return k ? k->gemm : NULL;
}
