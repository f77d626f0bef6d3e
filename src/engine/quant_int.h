/* quant_int.h - private to the quant module: what the kernel files give the kernel table, the
 * start-up choice of decode kernels, and shared helpers. */
#ifndef RAGD_QUANT_INT_H
#define RAGD_QUANT_INT_H

#include "engine/quant.h"

/* One ISA's kernels for one weight type, as a kernel file lists them. */
struct quant_isa_kernels {
    uint32_t type;
    quant_dot_fn dot;                 /* 256-bit (or narrower) single-row kernel */
    quant_dot_multi_fn dot_multi;     /* NULL: none */
    quant_gemm_fn gemm;               /* NULL: none */
    quant_dot_fn dot_512;             /* 512-bit single-row kernel with dot's results bit for bit */
    quant_dot_multi_fn dot_multi_512; /* 512-bit multi-row kernel, the same results; NULL: none */
};

/* The kernels of isa (AVX2 or AVX512), a list ending with a row whose dot is NULL; an empty list
 * for the portable ISA and off x86-64. */
const struct quant_isa_kernels *quant_x86_kernels(enum quant_isa isa);
/* Whether the CPU has GFNI and AVX512-VBMI, which the 512-bit K kernels need besides AVX-512
 * VNNI (without them quant_x86_kernels lists those types without 512-bit kernels); 0 off x86-64. */
int quant_x86_has_gfni_vbmi(void);
/* Writes the groups (struct qa8k_group) of a QA8K row of n activations from its blocks, and
 * zeroes the padding before them; every QA8K quantizer ends with it. */
void quant_qa8k_fill_groups(void *row, size_t n);
quant_axpy_fn quant_axpy_avx2(void);          /* NULL off x86-64 */
quant_act_fn quant_act_avx2(enum act_kind k); /* NULL for ACT_F32 and off x86-64 */
/* isa's attention kernels from att_x86.c: {NULL, NULL} for the portable ISA and off x86-64. */
struct quant_att quant_att_x86(enum quant_isa isa);
/* ---- attention passes, one dot or axpy call per query and row ----
 * The portable and AVX2 kernels are these loops instantiated with their own dot and axpy (a
 * constant there, so the calls inline); the AVX-512 kernels share the read-ahead. */

/* Key rows an attention pass reads ahead. A cache row of one head is hd floats at a stride of
 * the whole kv_dim (4 KiB apart for 1024), so every position is on another page, which the
 * hardware prefetchers do not follow: without these hints a decoding step waits on memory for
 * each position in turn. */
#define QUANT_ATT_AHEAD 8

/* Asks for the n floats at r (a K or V row of one head) to be brought into the caches. */
static inline void quant_prefetch_floats(const float *r, int n)
{
    for (int d = 0; d < n; d += 16) /* 64-byte lines */
        __builtin_prefetch(r + d, 0, 3);
}

/* The last row (exclusive) of [p0, p1) one of the nq queries sees; the first QUANT_ATT_AHEAD
 * rows from p0 asked for. */
static inline int quant_att_start(const float *k, size_t stride, int p0, int p1, const int *npos,
                                  int nq, int hd)
{
    int e = 0;
    for (int i = 0; i < nq; i++)
        e = npos[i] > e ? npos[i] : e;
    e = e < p1 ? e : p1;
    for (int p = p0; p < e && p < p0 + QUANT_ATT_AHEAD; p++)
        quant_prefetch_floats(k + (size_t)p * stride, hd);
    return e;
}

/* The hints at row p of a score pass ending at e: the key row QUANT_ATT_AHEAD ahead, and the
 * value row the weighted sum reads after the scores. */
static inline void quant_att_ahead(const float *k, const float *v, size_t stride, int p, int e,
                                   int hd)
{
    if (p + QUANT_ATT_AHEAD < e)
        quant_prefetch_floats(k + (size_t)(p + QUANT_ATT_AHEAD) * stride, hd);
    if (v) quant_prefetch_floats(v + (size_t)p * stride, hd);
}

/* quant_att_scores_fn with dot. */
static inline void quant_att_scores_calls(quant_dot_fn dot, const float *k, const float *v,
                                          size_t stride, int p0, int p1, const float *const *q,
                                          const int *npos, int nq, int hd, float scale, float *sc,
                                          size_t ld)
{
    int e = quant_att_start(k, stride, p0, p1, npos, nq, hd);
    for (int p = p0; p < e; p++) {
        const float *kr = k + (size_t)p * stride;
        quant_att_ahead(k, v, stride, p, e, hd);
        for (int i = 0; i < nq; i++)
            if (p < npos[i])
                sc[(size_t)i * ld + (size_t)(p - p0)] = dot(kr, q[i], (size_t)hd) * scale;
    }
}

/* quant_att_wsum_fn with axpy. */
static inline void quant_att_wsum_calls(quant_axpy_fn axpy, const float *v, size_t stride, int p0,
                                        int p1, float *const *o, const int *npos, int nq, int hd,
                                        const float *sc, size_t ld)
{
    for (int p = p0; p < p1; p++)
        for (int i = 0; i < nq; i++)
            if (p < npos[i])
                axpy(o[i], sc[(size_t)i * ld + (size_t)(p - p0)], v + (size_t)p * stride,
                     (size_t)hd);
}

/* What the CPU supports (without the RAGD_ISA cap). */
enum quant_isa quant_cpu_isa(void);

/* The CPU's vendor, family and model (extended fields folded in, as the vendors document them);
 * all zero off x86-64. */
struct quant_cpu {
    int amd, intel;
    unsigned family, model;
};
void quant_cpu_ident(struct quant_cpu *out);

/* The decode width the CPU model calls for: 512 (runs 512-bit vectors at full width), 256
 * (splits them) or 0 (not known: measure). */
int quant_width_for_cpu(const struct quant_cpu *cpu);

/* The start-up choice from its inputs: env is RAGD_VECTOR_BITS (NULL when unset), has_512 whether
 * the AVX-512 slots are in use, time (may be NULL: then an unknown model keeps 256) measures one
 * width and returns nanoseconds per pass. Fills every field of *out but the CPU's. */
void quant_choose_width(const struct quant_cpu *cpu, const char *env, int has_512,
                        double (*time)(int bits), struct quant_decode_choice *out);

/* One pass of the decode kernels of a width (256 or 512) over in-cache rows, in nanoseconds: the
 * start-up timing's measure. Needs AVX-512 VNNI. */
double quant_time_width(int bits);

/* Decodes the 6-bit scale d and min m of sub-block j (0..7) from a K block's 12 bytes. */
void quant_k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m);

#endif
