#include "engine/ops.h"

#include <math.h>
#include <string.h>

void ops_attention_tiled(const float *const *q, float *const *o, const int *npos, int nq,
                         const float *k, const float *v, size_t stride, int hd, float scale,
                         const struct quant_att *kern, float *scratch)
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
        kern->scores(k, v, stride, p0, p1, q, npos, nq, hd, scale, sc, OPS_ATT_KEY_BLOCK);
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
        kern->wsum(v, stride, p0, p1, o, npos, nq, hd, sc, OPS_ATT_KEY_BLOCK);
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / sum[i], *oi = o[i];
        for (int d = 0; d < hd; d++)
            oi[d] *= inv;
    }
}

void ops_attention_ref(const float *const *q, float *const *o, const int *npos, int nq,
                       const float *k, const float *v, size_t stride, int hd, float scale,
                       const struct quant_att *kern, float *scratch)
{
    int nmax = 0;
    for (int i = 0; i < nq; i++)
        nmax = npos[i] > nmax ? npos[i] : nmax;
    kern->scores(k, v, stride, 0, nmax, q, npos, nq, hd, scale, scratch, (size_t)nmax);
    for (int i = 0; i < nq; i++) {
        ops_softmax(scratch + (size_t)i * nmax, npos[i]);
        memset(o[i], 0, (size_t)hd * sizeof(float));
    }
    kern->wsum(v, stride, 0, nmax, o, npos, nq, hd, scratch, (size_t)nmax);
}

void ops_attention(const float *const *q, float *const *o, const int *npos, int nq, const float *k,
                   const float *v, size_t stride, int hd, float scale, const struct quant_att *kern,
                   int tiled_min, float *scratch)
{
    int nmax = 0;
    for (int i = 0; i < nq; i++)
        nmax = npos[i] > nmax ? npos[i] : nmax;
    if (nmax > tiled_min)
        ops_attention_tiled(q, o, npos, nq, k, v, stride, hd, scale, kern, scratch);
    else
        ops_attention_ref(q, o, npos, nq, k, v, stride, hd, scale, kern, scratch);
}

void ops_rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
    float ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / n + eps);
    for (int i = 0; i < n; i++)
        o[i] = x[i] * scale * w[i];
}

void ops_layernorm(float *o, const float *x, const float *g, const float *b, int n, float eps)
{
    float mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= (float)n;
    for (int i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    float inv = 1.0f / sqrtf(var / (float)n + eps);
    for (int i = 0; i < n; i++)
        o[i] = (x[i] - mean) * inv * g[i] + b[i];
}

void ops_rope(float *v, const float *cs, const float *sn, int rope_dim, int neox)
{
    int half = rope_dim / 2;
    for (int i = 0; i < half; i++) {
        int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * sn[i];
        v[b] = x0 * sn[i] + x1 * cs[i];
    }
}

void ops_softmax(float *p, int n)
{
    float max = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        max = p[i] > max ? p[i] : max;
    for (int i = 0; i < n; i++) {
        p[i] = expf(p[i] - max);
        sum += p[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++)
        p[i] *= inv;
}
