#include "engine/ops.h"

#include <math.h>
#include <string.h>

void ops_attention_tiled(const float *const *q, float *const *o, const int *npos, int nq,
                         const float *k, const float *v, size_t stride, int hd, float scale,
                         quant_dot_fn dot, quant_axpy_fn axpy, float *scratch)
{
    float *sc = scratch; /* [nq][OPS_ATT_KEY_BLOCK] scores of the current block */
    float *mx = sc + (size_t)nq * OPS_ATT_KEY_BLOCK, *sum = mx + nq;
    int nmax = 0;
    for (int i = 0; i < nq; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0;
        memset(o[i], 0, (size_t)hd * sizeof(float));
        nmax = npos[i] > nmax ? npos[i] : nmax;
    }
    for (int p0 = 0; p0 < nmax; p0 += OPS_ATT_KEY_BLOCK) {
        int p1 = nmax - p0 < OPS_ATT_KEY_BLOCK ? nmax : p0 + OPS_ATT_KEY_BLOCK;
        /* scores of the block: each key row once for every query that sees it */
        for (int p = p0; p < p1; p++) {
            const float *kr = k + (size_t)p * stride;
            for (int i = 0; i < nq; i++)
                if (p < npos[i])
                    sc[(size_t)i * OPS_ATT_KEY_BLOCK + p - p0] = dot(kr, q[i], (size_t)hd) * scale;
        }
        /* online softmax: rescale what was accumulated when the running maximum grows */
        for (int i = 0; i < nq; i++) {
            int e = npos[i] < p1 ? npos[i] : p1;
            if (e <= p0) continue;
            float *s = sc + (size_t)i * OPS_ATT_KEY_BLOCK, m = mx[i];
            for (int p = 0; p < e - p0; p++)
                m = s[p] > m ? s[p] : m;
            if (m > mx[i]) {
                float a = expf(mx[i] - m); /* 0 on the first block */
                sum[i] *= a;
                float *oi = o[i];
                for (int d = 0; d < hd; d++)
                    oi[d] *= a;
                mx[i] = m;
            }
            for (int p = 0; p < e - p0; p++) {
                s[p] = expf(s[p] - m);
                sum[i] += s[p];
            }
        }
        for (int p = p0; p < p1; p++) {
            const float *vr = v + (size_t)p * stride;
            for (int i = 0; i < nq; i++)
                if (p < npos[i])
                    axpy(o[i], sc[(size_t)i * OPS_ATT_KEY_BLOCK + p - p0], vr, (size_t)hd);
        }
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / sum[i], *oi = o[i];
        for (int d = 0; d < hd; d++)
            oi[d] *= inv;
    }
}

void ops_attention_ref(const float *const *q, float *const *o, const int *npos, int nq,
                       const float *k, const float *v, size_t stride, int hd, float scale,
                       quant_dot_fn dot, quant_axpy_fn axpy, float *scratch)
{
    for (int i = 0; i < nq; i++) {
        float *s = scratch, max = -INFINITY, sum = 0;
        for (int p = 0; p < npos[i]; p++) {
            s[p] = dot(k + (size_t)p * stride, q[i], (size_t)hd) * scale;
            max = s[p] > max ? s[p] : max;
        }
        for (int p = 0; p < npos[i]; p++) {
            s[p] = expf(s[p] - max);
            sum += s[p];
        }
        float inv = 1.0f / sum;
        memset(o[i], 0, (size_t)hd * sizeof(float));
        for (int p = 0; p < npos[i]; p++)
            axpy(o[i], s[p] * inv, v + (size_t)p * stride, (size_t)hd);
    }
}
