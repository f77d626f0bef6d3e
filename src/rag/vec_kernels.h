/* vec_kernels.h - float32 dot-product kernels for the vector index (hnsw.c), the only place
 * in rag/ with SIMD intrinsics. The kernel is chosen once per process by CPU features:
 * AVX-512F, else AVX2 + FMA, else a portable version (4-lane vector extensions, SSE2 on
 * x86-64). Kernels differ only in summation order, so results agree to float rounding. */
#ifndef RAGD_RAG_VEC_KERNELS_H
#define RAGD_RAG_VEC_KERNELS_H

#include <stdint.h>

/* Returns sum(a[i] * b[i]) for i < n; a and b need no particular alignment. */
typedef float (*rag_dot_fn)(const float *a, const float *b, uint32_t n);

/* The fastest dot kernel for this CPU. Cannot fail; never NULL. Thread-safe. */
rag_dot_fn rag_dot_kernel(void);
/* Name of the kernel rag_dot_kernel returns ("avx512", "avx2" or "portable"). */
const char *rag_dot_kernel_name(void);

#endif
