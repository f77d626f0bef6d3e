#include "engine/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "engine/quant_int.h"

/* ---- type table ---- */

static const struct {
    uint32_t id;
    struct quant_type_info info;
} types[] = {
    {GGML_TYPE_F32, {"f32", 1, 4, 1}},
    {GGML_TYPE_F16, {"f16", 1, 2, 1}},
    {GGML_TYPE_Q4_0, {"q4_0", QK, sizeof(struct block_q4_0), 1}},
    {GGML_TYPE_Q4_1, {"q4_1", QK, 20, 0}},
    {GGML_TYPE_Q5_0, {"q5_0", QK, 22, 0}},
    {GGML_TYPE_Q5_1, {"q5_1", QK, 24, 0}},
    {GGML_TYPE_Q8_0, {"q8_0", QK, sizeof(struct block_q8_0), 1}},
    {GGML_TYPE_Q8_1, {"q8_1", QK, 36, 0}},
    {GGML_TYPE_Q2_K, {"q2_k", QKK, 84, 0}},
    {GGML_TYPE_Q3_K, {"q3_k", QKK, 110, 0}},
    {GGML_TYPE_Q4_K, {"q4_k", QKK, sizeof(struct block_q4_k), 1}},
    {GGML_TYPE_Q5_K, {"q5_k", QKK, sizeof(struct block_q5_k), 1}},
    {GGML_TYPE_Q6_K, {"q6_k", QKK, sizeof(struct block_q6_k), 1}},
    {GGML_TYPE_Q8_K, {"q8_k", QKK, 292, 0}},
    {GGML_TYPE_I8, {"i8", 1, 1, 0}},
    {GGML_TYPE_I16, {"i16", 1, 2, 0}},
    {GGML_TYPE_I32, {"i32", 1, 4, 0}},
    {GGML_TYPE_I64, {"i64", 1, 8, 0}},
    {GGML_TYPE_F64, {"f64", 1, 8, 0}},
    {GGML_TYPE_BF16, {"bf16", 1, 2, 1}},
};

_Static_assert(sizeof(struct block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(struct block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(struct block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(struct block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(struct block_q6_k) == 210, "q6_k layout");

const struct quant_type_info *quant_type_info(uint32_t type)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].id == type) return &types[i].info;
    return NULL;
}

int quant_type_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcasecmp(types[i].info.name, name)) return (int)types[i].id;
    return -1;
}

size_t quant_row_bytes(uint32_t type, size_t n)
{
    const struct quant_type_info *ti = quant_type_info(type);
    return ti ? n / ti->block * ti->block_bytes : 0;
}

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

static void deq_q8_0(const struct block_q8_0 *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        float d = quant_f16_to_f32(x[i].d);
        for (int j = 0; j < QK; j++)
            y[i * QK + j] = d * x[i].qs[j];
    }
}

static void deq_q4_0(const struct block_q4_0 *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        float d = quant_f16_to_f32(x[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[i * QK + j] = d * ((x[i].qs[j] & 0xF) - 8);
            y[i * QK + j + QK / 2] = d * ((x[i].qs[j] >> 4) - 8);
        }
    }
}

static void deq_q4_k(const struct block_q4_k *x, float *y, size_t nb)
{
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

static void deq_q5_k(const struct block_q5_k *x, float *y, size_t nb)
{
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

static void deq_q6_k(const struct block_q6_k *x, float *y, size_t nb)
{
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

int quant_dequantize_row(uint32_t type, const void *x, float *y, size_t n)
{
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(y, x, n * 4);
        return 0;
    case GGML_TYPE_F16:
        for (size_t i = 0; i < n; i++)
            y[i] = quant_f16_to_f32(((const ggml_half *)x)[i]);
        return 0;
    case GGML_TYPE_BF16:
        for (size_t i = 0; i < n; i++)
            y[i] = quant_bf16_to_f32(((const uint16_t *)x)[i]);
        return 0;
    case GGML_TYPE_Q8_0:
        deq_q8_0(x, y, n / QK);
        return 0;
    case GGML_TYPE_Q4_0:
        deq_q4_0(x, y, n / QK);
        return 0;
    case GGML_TYPE_Q4_K:
        deq_q4_k(x, y, n / QKK);
        return 0;
    case GGML_TYPE_Q5_K:
        deq_q5_k(x, y, n / QKK);
        return 0;
    case GGML_TYPE_Q6_K:
        deq_q6_k(x, y, n / QKK);
        return 0;
    }
    return RAGD_ENOTSUP;
}

/* ---- quantization (for files ragd writes; simple round-to-nearest with per-block scales) ---- */

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void q_q8_0(const float *x, struct block_q8_0 *y, size_t nb)
{
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

static void q_q4_0(const float *x, struct block_q4_0 *y, size_t nb)
{
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

static void q_q4_k(const float *x, struct block_q4_k *y, size_t nb)
{
    uint8_t q[QKK];
    for (size_t i = 0; i < nb; i++, x += QKK) {
        q_k_affine(x, 15, &y[i].d, &y[i].dmin, y[i].scales, q);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

static void q_q5_k(const float *x, struct block_q5_k *y, size_t nb)
{
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

static void q_q6_k(const float *x, struct block_q6_k *y, size_t nb)
{
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

int quant_quantize_row(uint32_t type, const float *x, void *y, size_t n)
{
    switch (type) {
    case GGML_TYPE_F32:
        memcpy(y, x, n * 4);
        return 0;
    case GGML_TYPE_F16:
        for (size_t i = 0; i < n; i++)
            ((ggml_half *)y)[i] = quant_f32_to_f16(x[i]);
        return 0;
    case GGML_TYPE_BF16:
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)y)[i] = quant_f32_to_bf16(x[i]);
        return 0;
    case GGML_TYPE_Q8_0:
        q_q8_0(x, y, n / QK);
        return 0;
    case GGML_TYPE_Q4_0:
        q_q4_0(x, y, n / QK);
        return 0;
    case GGML_TYPE_Q4_K:
        q_q4_k(x, y, n / QKK);
        return 0;
    case GGML_TYPE_Q5_K:
        q_q5_k(x, y, n / QKK);
        return 0;
    case GGML_TYPE_Q6_K:
        q_q6_k(x, y, n / QKK);
        return 0;
    }
    return RAGD_ENOTSUP;
}

/* ---- activations ---- */

enum act_kind quant_act_kind(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_Q8_0:
    case GGML_TYPE_Q4_0:
        return ACT_QA8;
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K:
    case GGML_TYPE_Q6_K:
        return ACT_QA8K;
    default:
        return ACT_F32;
    }
}

size_t quant_act_row_bytes(enum act_kind k, size_t n)
{
    switch (k) {
    case ACT_QA8:
        return n / QK * sizeof(struct block_qa8);
    case ACT_QA8K:
        return n / QKK * sizeof(struct block_qa8k);
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

quant_dot_fn quant_dot_portable(uint32_t type)
{
    switch (type) {
    case GGML_TYPE_F32:
        return dot_f32;
    case GGML_TYPE_F16:
        return dot_f16;
    case GGML_TYPE_BF16:
        return dot_bf16;
    case GGML_TYPE_Q8_0:
        return dot_q8_0;
    case GGML_TYPE_Q4_0:
        return dot_q4_0;
    case GGML_TYPE_Q4_K:
        return dot_q4_k;
    case GGML_TYPE_Q5_K:
        return dot_q5_k;
    case GGML_TYPE_Q6_K:
        return dot_q6_k;
    }
    return NULL;
}

quant_dot_fn quant_dot_kernel(uint32_t type, enum quant_isa isa)
{
    quant_dot_fn f = NULL;
    if (isa >= QUANT_ISA_AVX512) f = quant_dot_avx512(type);
    if (!f && isa >= QUANT_ISA_AVX2) f = quant_dot_avx2(type);
    return f ? f : quant_dot_portable(type);
}

quant_dot_multi_fn quant_dot_multi_kernel(uint32_t type, enum quant_isa isa)
{
    quant_dot_multi_fn f = NULL;
    if (isa >= QUANT_ISA_AVX512) f = quant_dot_multi_avx512(type);
    if (!f && isa >= QUANT_ISA_AVX2) f = quant_dot_multi_avx2(type);
    return f;
}

quant_gemm_fn quant_gemm_kernel(uint32_t type, enum quant_isa isa)
{
    return isa >= QUANT_ISA_AVX512 ? quant_gemm_avx512(type) : NULL;
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

enum quant_isa quant_best_isa(void)
{
    enum quant_isa best = quant_cpu_isa();
    const char *cap = getenv("RAGD_ISA");
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
