/* ops.h - transformer operations shared by the decoder (model.c) and the encoder (encoder.c):
 * norms, rotary embedding, activations, softmax and attention. Matrix products run through the
 * kernel table (quant.h: quant_gemm_kernel, quant_dot_kernel; the encoder's f32/bf16 blocks in
 * enc_kernels.h). Attention's vector passes (quant_att_kernel) are passed in, so these ops carry
 * no instruction-set code of their own. */
#ifndef RAGD_OPS_H
#define RAGD_OPS_H

#include <math.h>
#include <stddef.h>

#include "engine/quant.h"

/* o[i] = x[i] / rms(x) * w[i] over n values, rms(x) = sqrt(mean(x^2) + eps); o may be x. */
void ops_rmsnorm(float *o, const float *x, const float *w, int n, float eps);

/* o[i] = (x[i] - mean(x)) / sqrt(var(x) + eps) * g[i] + b[i] over n values; o may be x. */
void ops_layernorm(float *o, const float *x, const float *g, const float *b, int n, float eps);

/* Rotary position embedding of one head's rope_dim leading values in place, angle i given as
 * cs[i] = cos, sn[i] = sin: pairs (i, i + rope_dim / 2) when neox, else (2i, 2i + 1). */
void ops_rope(float *v, const float *cs, const float *sn, int rope_dim, int neox);

/* x / (1 + e^-x) */
static inline float ops_silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* p[i] = e^(p[i] - max p) / sum over n >= 1 values, in place. */
void ops_softmax(float *p, int n);

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
                         const struct quant_att *kern, float *scratch);

/* The same with a full score row per query: one pass over the keys for the scores, an
 * ops_softmax per query, one pass over the values; each key and value row is read once for
 * all nq queries. scratch holds nq * max(npos) floats. */
void ops_attention_ref(const float *const *q, float *const *o, const int *npos, int nq,
                       const float *k, const float *v, size_t stride, int hd, float scale,
                       const struct quant_att *kern, float *scratch);

/* ops_attention_tiled when a query sees more than tiled_min keys, else ops_attention_ref;
 * scratch holds the larger of the two's needs. */
void ops_attention(const float *const *q, float *const *o, const int *npos, int nq, const float *k,
                   const float *v, size_t stride, int hd, float scale, const struct quant_att *kern,
                   int tiled_min, float *scratch);

#endif
