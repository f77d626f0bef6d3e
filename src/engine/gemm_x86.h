/* gemm_x86.h - 512-bit VNNI tiled matrix products for prompts (many activation rows).
 *
 * Q8_0: a panel of up to 64 weight rows x 512 columns at a time is repacked into unsigned
 * 8-bit values interleaved by 16 rows (four consecutive weights of a row per 32-bit lane), so
 * one vpdpbusd multiplies 16 rows by four broadcast activation bytes. The panel is stack
 * scratch refilled for every call: nothing is added to the model's memory. Results equal the
 * single-row kernel up to float rounding, and each depends only on its weight row and
 * activation row (not on the tile it fell in or the number of rows).
 * Q4_K, Q6_K: the single-row kernels' arithmetic with two activation rows per 512-bit vector;
 * results are bit for bit those of the single-row kernels.
 */
#ifndef RAGD_GEMM_X86_H
#define RAGD_GEMM_X86_H

#include "engine/quant.h"

/* The tiled kernel for weights of type (Q8_0, Q4_K, Q6_K) with the quant_gemm_fn contract of
 * quant.h, or NULL for other types or a CPU without AVX-512 VNNI. */
quant_gemm_fn gemm_x86_vnni512(uint32_t type);

/* The kernels themselves (x86-64 only; callers must have checked for AVX-512 VNNI), for the
 * AVX-512 column of the kernel table in quant_x86.c. */
void gemm_x86_q8_0(const void *w, size_t w_stride, int n_w, const void *act, size_t act_stride,
                   int n_act, float *out, size_t out_stride, size_t n);
void gemm_x86_q4_k(const void *w, size_t w_stride, int n_w, const void *act, size_t act_stride,
                   int n_act, float *out, size_t out_stride, size_t n);
void gemm_x86_q6_k(const void *w, size_t w_stride, int n_w, const void *act, size_t act_stride,
                   int n_act, float *out, size_t out_stride, size_t n);

#endif
