/* quant_int.h - private to the quant module: per-ISA kernel tables and shared helpers. */
#ifndef RAGD_QUANT_INT_H
#define RAGD_QUANT_INT_H

#include "engine/quant.h"

/* Kernels per ISA; NULL where that ISA has none for the type. */
quant_dot_fn quant_dot_portable(uint32_t type);
quant_dot_fn quant_dot_avx2(uint32_t type);
quant_dot_fn quant_dot_avx512(uint32_t type);
quant_dot_multi_fn quant_dot_multi_avx2(uint32_t type);
quant_dot_multi_fn quant_dot_multi_avx512(uint32_t type);
quant_gemm_fn quant_gemm_avx512(uint32_t type);
quant_axpy_fn quant_axpy_avx2(void);          /* NULL off x86-64 */
quant_act_fn quant_act_avx2(enum act_kind k); /* NULL for ACT_F32 and off x86-64 */
/* What the CPU supports (without the RAGD_ISA cap). */
enum quant_isa quant_cpu_isa(void);

/* Decodes the 6-bit scale d and min m of sub-block j (0..7) from a K block's 12 bytes. */
void quant_k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m);

#endif
