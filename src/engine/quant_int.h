/* quant_int.h - private to the quant module: what the kernel files give the kernel table, the
 * start-up choice of decode kernels, and shared helpers. */
#ifndef RAGD_QUANT_INT_H
#define RAGD_QUANT_INT_H

#include "engine/quant.h"

/* One ISA's kernels for one weight type, as a kernel file lists them. */
struct quant_isa_kernels {
    uint32_t type;
    quant_dot_fn dot;             /* 256-bit (or narrower) single-row kernel */
    quant_dot_multi_fn dot_multi; /* NULL: none */
    quant_gemm_fn gemm;           /* NULL: none */
    quant_dot_fn dot_512;         /* 512-bit single-row kernel with dot's results bit for bit */
};

/* The kernels of isa (AVX2 or AVX512), a list ending with a row whose dot is NULL; an empty list
 * for the portable ISA and off x86-64. */
const struct quant_isa_kernels *quant_x86_kernels(enum quant_isa isa);
quant_axpy_fn quant_axpy_avx2(void);          /* NULL off x86-64 */
quant_act_fn quant_act_avx2(enum act_kind k); /* NULL for ACT_F32 and off x86-64 */
/* isa's attention kernels from att_x86.c: {NULL, NULL} for the portable ISA and off x86-64. */
struct quant_att quant_att_x86(enum quant_isa isa);
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
