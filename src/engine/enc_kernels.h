#ifndef RAGD_ENGINE_ENC_KERNELS_H
#define RAGD_ENGINE_ENC_KERNELS_H

/* The encoder's f32 matrix-product kernels: every SIMD intrinsic of the encoder lives here;
 * encoder.c holds only the portable blocking, threading and epilogue around them. */

#include <stddef.h>
#include <stdint.h>

#include "engine/quant.h"

#define ENC_MR 3 /* activation rows per kernel call */
#define ENC_NR 4 /* weight rows per kernel call */

/* o[m][r] = a[m] . w[r] over k floats, for ENC_MR rows a and ENC_NR rows w (any alignment).
 * Each output's sum runs in a fixed order that does not depend on the other rows in the
 * block, so results do not depend on batching. */
typedef void (*enc_kernel_fn)(const float *const *a, const float *const *w, size_t k,
                              float o[ENC_MR][ENC_NR]);

/* The fastest kernel the instruction set allows (a portable one when none). */
enc_kernel_fn enc_kernel_pick(enum quant_isa isa);

/* ---- bf16 products (AVX-512 BF16) ---- */

#define ENC_BF16_K 32 /* k of a bf16 kernel call must be a multiple of this */

/* o[m][r] = a[m] . w[r] over k bfloat16 values (k a multiple of ENC_BF16_K), summed in f32 in
 * an order fixed by k alone. */
typedef void (*enc_kernel_bf16_fn)(const uint16_t *const *a, const uint16_t *const *w, size_t k,
                                   float o[ENC_MR][ENC_NR]);

/* The bf16 kernel when this CPU has AVX-512 BF16, else NULL. */
enc_kernel_bf16_fn enc_kernel_bf16_pick(void);

/* x[i] = GELU(x[i]) in place: the tanh approximation when tanh_form, else the erf form. Vector
 * code where the CPU has AVX-512 (erf and tanh within about 2e-7 of the C library's). */
void enc_gelu(float *x, size_t n, int tanh_form);

/* y[i] = x[i] rounded to the nearest bfloat16 (ties to even; NaN stays NaN). */
void enc_to_bf16(const float *x, uint16_t *y, size_t n);

#endif
