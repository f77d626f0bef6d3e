/* quant.h - tensor element types and their kernels.
 *
 * Weight types use ggml's numbering and block layouts byte for byte, so that GGUF files from
 * the common converters and quantizers load unchanged:
 *   F32, F16 (IEEE half), BF16 (upper half of an f32),
 *   Q8_0  32 weights: f16 d, int8 q[32];                      x = d*q
 *   Q4_0  32 weights: f16 d, uint8 qs[16] (low nibbles are weights 0..15, high 16..31);
 *                     x = d*(q-8)
 *   Q4_K 256 weights: f16 d, f16 dmin, 12 bytes of eight 6-bit scales and mins, qs[128];
 *                     x = d*sc*q - dmin*m per 32-weight sub-block
 *   Q5_K 256 weights: as Q4_K plus qh[32] holding the fifth bit
 *   Q6_K 256 weights: ql[128], qh[64], int8 scales[16], f16 d; x = d*sc*(q-32) per 16 weights
 *
 * Matrix products quantize the activations once per row into 8-bit blocks (QA8 for 32-weight
 * types, QA8K for 256-weight types) and run integer dot products; float weight types use f32
 * activations. Every kernel has a portable C version; AVX2 and AVX-512 VNNI versions are picked
 * at run time when the CPU has them. */
#ifndef RAGD_QUANT_H
#define RAGD_QUANT_H

#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_BF16 = 30,
};

#define QK 32   /* weights per block of the 32-weight types */
#define QKK 256 /* weights per super-block of the K types */

typedef uint16_t ggml_half;

struct block_q8_0 {
    ggml_half d;
    int8_t qs[QK];
};
struct block_q4_0 {
    ggml_half d;
    uint8_t qs[QK / 2];
};
struct block_q4_k {
    ggml_half d, dmin;
    uint8_t scales[12];
    uint8_t qs[QKK / 2];
};
struct block_q5_k {
    ggml_half d, dmin;
    uint8_t scales[12];
    uint8_t qh[QKK / 8];
    uint8_t qs[QKK / 2];
};
struct block_q6_k {
    uint8_t ql[QKK / 2];
    uint8_t qh[QKK / 4];
    int8_t scales[QKK / 16];
    ggml_half d;
};

/* Activation blocks (internal to ragd, never stored in files). */
struct block_qa8 {
    float d;
    int32_t sum; /* sum of qs */
    int8_t qs[QK];
};
struct block_qa8k {
    float d;
    int16_t bsums[QKK / 16]; /* sums of qs over each 16 */
    int8_t qs[QKK];
};
/* A QA8K row of n activations is its n / 256 blocks and, when there are at least four, the
 * same activations once more for each whole group of four blocks (a qa8k_group each, from the
 * first multiple of 64 bytes after the blocks), arranged for the 512-bit Q4_K decoding kernels:
 * a Q4_K block's weight bytes 64k..64k + 63 hold the low nibbles of sub-blocks 4k and 4k + 2
 * and the high nibbles of 4k + 1 and 4k + 3, so each nibble vector meets one contiguous 64-byte
 * vector here. quant_act_row_bytes counts the groups; the quantizers write them. */
struct qa8k_group {
    int16_t sums[32]; /* block b's sums over sub-block j (its activations 32j..32j+31) at 8b + j */
    /* block b's activations, vector v of qs[b] holding the sub-blocks 4(v/2) + (v%2) and
     * 4(v/2) + (v%2) + 2, 32 each */
    int8_t qs[4][QKK];
    float d[4];     /* block b's scale (its d), so the kernel reads nothing else of the row */
    int8_t pad[48]; /* zero: a group is 18 cache lines */
};
/* Where a QA8K row of n activations keeps its groups: the byte offset, 0 when it has none
 * (fewer than four blocks). */
static inline size_t quant_qa8k_groups_at(size_t n)
{
    return n / QKK < 4 ? 0 : (n / QKK * sizeof(struct block_qa8k) + 63) & ~(size_t)63;
}
/* The groups of the QA8K row at row (n activations), or NULL when it has none. */
static inline const struct qa8k_group *quant_qa8k_groups(const void *row, size_t n)
{
    size_t at = quant_qa8k_groups_at(n);
    return at ? (const void *)((const uint8_t *)row + at) : NULL;
}

struct quant_type_info {
    const char *name;
    size_t block;       /* elements per block */
    size_t block_bytes; /* bytes per block */
    int supported;      /* ragd has kernels for it */
};

/* The type's facts, or NULL for an unknown type id. Cannot fail. */
const struct quant_type_info *quant_type_info(uint32_t type);
/* Type id for a name such as "q8_0" or "Q4_K"; -1 if unknown. */
int quant_type_from_name(const char *name);
/* Bytes of a row of n elements (n a multiple of the block size). */
size_t quant_row_bytes(uint32_t type, size_t n);

float quant_f16_to_f32(ggml_half h);
ggml_half quant_f32_to_f16(float f); /* round to nearest even */
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f); /* round to nearest even */

/* Dequantizes n elements (a multiple of the block size) of a row of type into y.
 * Returns RAGD_ENOTSUP for a type without kernels. */
int quant_dequantize_row(uint32_t type, const void *x, float *y, size_t n);
/* Quantizes n floats into a row of type (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K).
 * Returns RAGD_ENOTSUP for other types. */
int quant_quantize_row(uint32_t type, const float *x, void *y, size_t n);

/* ---- matrix-product kernels ---- */

enum act_kind { ACT_F32, ACT_QA8, ACT_QA8K };

/* Activation format used with weights of type. */
enum act_kind quant_act_kind(uint32_t type);
/* Bytes of one activation row of n elements for kind. */
size_t quant_act_row_bytes(enum act_kind k, size_t n);
/* Quantizes an activation row (n a multiple of the block size) into kind's layout. */
void quant_act_quantize(enum act_kind k, const float *x, void *y, size_t n);

/* Dot product of n elements of a weight row w (of the kernel's type) with an activation row. */
typedef float (*quant_dot_fn)(const void *w, const void *act, size_t n);

/* Dot products of one weight row with n_act activation rows act_stride bytes apart, into
 * out[0..n_act-1]: the same results as n_act calls of the single kernel (up to rounding), with
 * the weight row unpacked once. */
typedef void (*quant_dot_multi_fn)(const void *w, const void *act, size_t act_stride, int n_act,
                                   float *out, size_t n);

/* Dot products of n_w weight rows w_stride bytes apart with n_act activation rows act_stride
 * bytes apart: out[t * out_stride + r] = row r . activation t, the same results as the single
 * kernel up to rounding. */
typedef void (*quant_gemm_fn)(const void *w, size_t w_stride, int n_w, const void *act,
                              size_t act_stride, int n_act, float *out, size_t out_stride,
                              size_t n);

enum quant_isa { QUANT_ISA_PORTABLE = 0, QUANT_ISA_AVX2 = 1, QUANT_ISA_AVX512 = 2 };

/* The dot kernel for type on isa (falling back to a narrower ISA if that one has none for the
 * type), or NULL for a type without kernels. */
quant_dot_fn quant_dot_kernel(uint32_t type, enum quant_isa isa);
/* The multi-row kernel for type on isa, or NULL where there is none (use the single one). */
quant_dot_multi_fn quant_dot_multi_kernel(uint32_t type, enum quant_isa isa);
/* The tiled kernel for type on isa, or NULL where there is none. */
quant_gemm_fn quant_gemm_kernel(uint32_t type, enum quant_isa isa);
/* y[i] += a * x[i] for n floats (attention's weighted sum of values). */
typedef void (*quant_axpy_fn)(float *y, float a, const float *x, size_t n);
quant_axpy_fn quant_axpy_kernel(enum quant_isa isa); /* never NULL */

/* Attention's two vector passes over one head's cache rows (row p of K or V at base + p * stride,
 * hd floats) for nq queries, query i seeing rows [0, npos[i]). For each query, p runs over
 * [p0, min(p1, npos[i])):
 * scores: sc[i * ld + p - p0] = (K_p . q[i]) * scale, each dot in the F32 dot kernel's arithmetic
 *   (quant_dot_kernel(GGML_TYPE_F32, isa)); v, when not NULL, holds the value rows the weighted
 *   sum will read, which the kernel starts bringing into the caches.
 * wsum: o[i] += sc[i * ld + p - p0] * V_p with p ascending, in the axpy kernel's arithmetic.
 * So the results are bit for bit those of one dot or axpy call per query and row, whatever
 * the ISA's kernels do to read each row once for several queries. */
typedef void (*quant_att_scores_fn)(const float *k, const float *v, size_t stride, int p0, int p1,
                                    const float *const *q, const int *npos, int nq, int hd,
                                    float scale, float *sc, size_t ld);
typedef void (*quant_att_wsum_fn)(const float *v, size_t stride, int p0, int p1, float *const *o,
                                  const int *npos, int nq, int hd, const float *sc, size_t ld);
struct quant_att {
    quant_att_scores_fn scores;
    quant_att_wsum_fn wsum;
};
/* isa's attention kernels (falling back to a narrower ISA's); never NULL. */
struct quant_att quant_att_kernel(enum quant_isa isa);

/* An activation quantizer: quant_act_quantize for one kind, bit for bit the same rows. */
typedef void (*quant_act_fn)(const float *x, void *y, size_t n);
/* The quantizer for kind on isa (falling back to a narrower ISA). Never NULL. */
quant_act_fn quant_act_kernel(enum act_kind k, enum quant_isa isa);

/* The best ISA this CPU supports, capped by RAGD_ISA=portable|avx2|avx512 (quant_configure's
 * value, else the environment's). */
enum quant_isa quant_best_isa(void);

/* The caller's settings for RAGD_ISA and RAGD_VECTOR_BITS (its configuration, .env included),
 * in force over the process environment, which the engine reads otherwise; NULL or "" leaves
 * the environment's value. Call it before the kernel table is built (before loading a model):
 * the vector width is chosen once, when it is. Not thread-safe. */
void quant_configure(const char *isa_cap, const char *vector_bits);
const char *quant_isa_name(enum quant_isa isa);

/* ---- the kernel table ----
 * One row per weight type: its facts, its activation format, its row quantizer and
 * dequantizer, and per ISA its dot, multi-row dot and tiled kernels. A slot an ISA has no kernel
 * for holds the next narrower ISA's (dot and multi-row dot) so callers index by the ISA they
 * run on; gemm slots hold only the ISA's own tiled kernel. Every function above that takes a
 * type reads this table. */

#define QUANT_ISA_COUNT 3

struct quant_kernels {
    quant_dot_fn dot;             /* never NULL for a supported type */
    quant_dot_multi_fn dot_multi; /* NULL: none (call dot per activation row) */
    quant_gemm_fn gemm;           /* NULL: none */
    int dot_bits; /* vector width of dot (and of dot_multi where the ISA has both widths): 0
                   * (scalar), 256 or 512 */
};

struct quant_traits {
    uint32_t type;
    struct quant_type_info info;
    enum act_kind act;
    void (*quantize)(const float *x, void *y, size_t n);   /* NULL: unsupported */
    void (*dequantize)(const void *x, float *y, size_t n); /* NULL: unsupported */
    struct quant_kernels isa[QUANT_ISA_COUNT];
};

/* The table's row for type, or NULL for an unknown type id. The first call builds the table
 * (choosing the decode kernels, quant_decode_choice); thread-safe, cannot fail. */
const struct quant_traits *quant_traits(uint32_t type);

/* How the single-row (decode) kernels of the AVX-512 slots were chosen at start. AVX-512 has
 * two sets with bit-identical results: 256-bit vectors (best where the core splits 512-bit
 * operations, AMD family 0x19) and 512-bit ones (cores that run them at full width: AMD family
 * 0x1A, Intel server and recent client cores). The CPU model decides; a model not known either
 * way is decided by timing both sets for about a millisecond on an in-cache buffer.
 * RAGD_VECTOR_BITS=256|512 overrides both. */
enum quant_width_why {
    QUANT_WHY_NO_AVX512, /* the CPU (or RAGD_ISA) gives no AVX-512: the question does not arise */
    QUANT_WHY_ENV,       /* RAGD_VECTOR_BITS */
    QUANT_WHY_MODEL,     /* the CPU model is known */
    QUANT_WHY_TIMING,    /* an unknown model: the faster set on a short timing */
};
struct quant_decode_choice {
    int bits; /* 256 or 512 */
    enum quant_width_why why;
    unsigned vendor_amd, vendor_intel, family, model; /* CPUID, family and model extended */
    double ns_256, ns_512;                            /* the timing's figures, 0 when none ran */
};
const struct quant_decode_choice *quant_decode_choice(void);
/* One line describing the choice ("avx512, 512-bit decode kernels (cpu model: AMD family 0x1a
 * model 0x2)") into buf; returns buf. */
const char *quant_kernels_describe(char *buf, size_t size);

#endif
