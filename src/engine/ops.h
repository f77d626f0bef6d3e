/* ops.h - transformer operations shared by the decoder and the encoder.
 *
 * The vector kernels come from quant.h (quant_dot_kernel(GGML_TYPE_F32, isa), quant_axpy_kernel)
 * and are passed in, so these ops carry no instruction-set code of their own. */
#ifndef RAGD_OPS_H
#define RAGD_OPS_H

#include <stddef.h>

#include "engine/quant.h"

/* Keys per block of the tiled attention. */
#define OPS_ATT_KEY_BLOCK 64

/* Floats of scratch ops_attention_tiled needs for nq queries. */
#define OPS_ATT_SCRATCH(nq) ((size_t)(nq) * (OPS_ATT_KEY_BLOCK + 2))

/* Scaled dot-product attention of nq queries over one head's keys and values, tiled
 * flash-attention style: the keys are walked in blocks of OPS_ATT_KEY_BLOCK rows, each block
 * read once for all nq queries, with a running (online) softmax per query, so no score row
 * longer than one block is ever held. Query i (q[i], hd floats) attends to key/value rows
 * [0, npos[i]) (npos[i] >= 1) of k and v, row p at k + p * stride; o[i] receives hd floats
 * (it may not alias q[i]). scale multiplies every score (1/sqrt(hd) normally). scratch holds
 * OPS_ATT_SCRATCH(nq) floats. Equal to the full softmax up to float rounding. */
void ops_attention_tiled(const float *const *q, float *const *o, const int *npos, int nq,
                         const float *k, const float *v, size_t stride, int hd, float scale,
                         quant_dot_fn dot, quant_axpy_fn axpy, float *scratch);

/* The same with a full score row per query (the reference: one pass for the scores, one for
 * the softmax, one for the values). scratch holds max(npos) floats. */
void ops_attention_ref(const float *const *q, float *const *o, const int *npos, int nq,
                       const float *k, const float *v, size_t stride, int hd, float scale,
                       quant_dot_fn dot, quant_axpy_fn axpy, float *scratch);

#endif
