#ifndef RAGD_ENGINE_ENC_KERNELS_H
#define RAGD_ENGINE_ENC_KERNELS_H

/* The encoder's f32 matrix-product kernels: every SIMD intrinsic of the encoder lives here;
 * encoder.c holds only the portable blocking, threading and epilogue around them. */

#include <stddef.h>

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

#endif
