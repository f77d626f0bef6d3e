#include "engine/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/ops.h"

/* Upper bound on attention heads accepted from a file. */
#define MAX_HEADS 1024
/* Queries (heads of a kv group x tokens) that share one walk over the K/V rows. */
#define ATT_QMAX 8
/* Above this many keys a query block's attention is tiled over key blocks with an online
 * softmax (ops_attention_tiled); shorter ones keep one score row per query. */
#define ATT_TILED_MIN 256
static int att_tiled_min = ATT_TILED_MIN; /* a variable so that a test can compare both paths */
/* Weight rows a matmul worker computes before writing their outputs: the outputs of a token
 * are then one contiguous run (rows of a token's output are 4 * n_embd bytes apart, which maps
 * every token's output to the same L1 set). A multiple of the tiled kernels' 4 rows. */
#define MATMUL_GROUP 64
/* The group of a one-token step (generation), whose outputs are contiguous anyway. */
#define MATMUL_GROUP_1 256
/* Threads of a pool up to which one-token products hand rows out by ranges (matmul_range) */
#define MATMUL_RANGES 16
/* floats of one tile of products for nt tokens (a thread's scratch): [MATMUL_GROUP + 1][nt], at
 * least MATMUL_GROUP_1 + 1 for one token */
#define MATMUL_TILE(nt) ((MATMUL_GROUP + 1) * (size_t)((nt) < 4 ? 4 : (nt)))
_Static_assert(MATMUL_TILE(1) >= MATMUL_GROUP_1 + 1, "a one-token tile holds a group");

struct model {
    gguf_t *gguf;
    struct model_config cfg;
    struct model_weights w;
};

/* ---- loading ---- */

static int meta_int(const gguf_t *g, const char *arch, const char *suffix, int def, int lo, int hi,
                    int *out, char *err, size_t err_len)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint64_t v;
    int rc = gguf_get_u64(g, key, &v);
    if (rc == RAGD_ENOTFOUND && def >= 0) {
        *out = def;
        return 0;
    }
    if (rc == RAGD_ENOTFOUND)
        return ragd_errf(err, err_len, RAGD_EFORMAT, "model: missing metadata %s", key);
    if (rc || v < (uint64_t)lo || v > (uint64_t)hi)
        return ragd_errf(err, err_len, RAGD_EFORMAT,
                         "model: metadata %s is invalid or out of range", key);
    *out = (int)v;
    return 0;
}

static int meta_float(const gguf_t *g, const char *arch, const char *suffix, float def, float *out,
                      char *err, size_t err_len)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_f32(g, key, out);
    if (rc == RAGD_ENOTFOUND) {
        *out = def;
        return 0;
    }
    if (rc || !isfinite(*out))
        return ragd_errf(err, err_len, RAGD_EFORMAT, "model: metadata %s is invalid", key);
    return 0;
}

static int get_tensor(const gguf_t *g, const char *name, int64_t rows, int64_t cols, int optional,
                      struct model_tensor *t, char *err, size_t err_len)
{
    const struct gguf_tensor *gt = gguf_find_tensor(g, name);
    memset(t, 0, sizeof *t);
    if (!gt)
        return optional
                   ? 0
                   : ragd_errf(err, err_len, RAGD_EFORMAT, "model: tensor %s is missing", name);
    int64_t r = gt->ne[1] * gt->ne[2] * gt->ne[3];
    if (gt->ne[0] != cols || r != rows || (rows > 1 && gt->n_dims != 2) ||
        (rows == 1 && gt->n_dims != 1))
        return ragd_errf(err, err_len, RAGD_EFORMAT,
                         "model: tensor %s has shape [%lld, %lld], expected [%lld, %lld]", name,
                         (long long)gt->ne[0], (long long)r, (long long)cols, (long long)rows);
    const struct quant_type_info *ti = quant_type_info(gt->type);
    if (!ti || !ti->supported)
        return ragd_errf(err, err_len, RAGD_ENOTSUP, "model: tensor %s has unsupported type %s",
                         name, ti ? ti->name : "?");
    t->data = gt->data;
    t->type = gt->type;
    t->rows = rows;
    t->cols = cols;
    t->row_bytes = quant_row_bytes(gt->type, (size_t)cols);
    return 0;
}

static int get_vec(const gguf_t *g, const char *name, int64_t n, int optional, const float **out,
                   char *err, size_t err_len)
{
    struct model_tensor t;
    int rc = get_tensor(g, name, 1, n, optional, &t, err, err_len);
    if (rc) return rc;
    if (t.data && t.type != GGML_TYPE_F32)
        return ragd_errf(err, err_len, RAGD_ENOTSUP, "model: tensor %s must be f32", name);
    *out = t.data;
    return 0;
}

static int load_config(const gguf_t *g, struct model_config *c, char *err, size_t err_len)
{
    char *arch = NULL;
    int rc = gguf_get_str(g, "general.architecture", &arch);
    if (rc)
        return ragd_errf(err, err_len, RAGD_EFORMAT,
                         "model: general.architecture missing or invalid");
    if (!strcmp(arch, "llama")) {
        c->arch = MODEL_ARCH_LLAMA;
        c->arch_name = "llama";
    } else if (!strcmp(arch, "qwen2")) {
        c->arch = MODEL_ARCH_QWEN2;
        c->arch_name = "qwen2";
    } else if (!strcmp(arch, "qwen3")) {
        c->arch = MODEL_ARCH_QWEN3;
        c->arch_name = "qwen3";
    } else {
        rc = ragd_errf(err, err_len, RAGD_ENOTSUP,
                       "model: architecture '%s' is not supported "
                       "(llama, qwen2, qwen3)",
                       arch);
        free(arch);
        return rc;
    }
    free(arch);
    const char *a = c->arch_name;
    if ((rc = meta_int(g, a, "embedding_length", -1, 1, 65536, &c->n_embd, err, err_len)) ||
        (rc = meta_int(g, a, "block_count", -1, 1, 1024, &c->n_layer, err, err_len)) ||
        (rc = meta_int(g, a, "feed_forward_length", -1, 1, 1 << 20, &c->n_ff, err, err_len)) ||
        (rc = meta_int(g, a, "attention.head_count", -1, 1, MAX_HEADS, &c->n_head, err, err_len)) ||
        (rc = meta_int(g, a, "attention.head_count_kv", c->n_head, 1, MAX_HEADS, &c->n_head_kv, err,
                       err_len)) ||
        (rc = meta_int(g, a, "context_length", 2048, 1, 1 << 24, &c->n_ctx_train, err, err_len)))
        return rc;
    int hd_default = c->n_embd % c->n_head ? -1 : c->n_embd / c->n_head, vlen = 0;
    if ((rc = meta_int(g, a, "attention.key_length", hd_default, 2, 4096, &c->head_dim, err,
                       err_len)) ||
        (rc =
             meta_int(g, a, "attention.value_length", c->head_dim, 2, 4096, &vlen, err, err_len)) ||
        (rc = meta_int(g, a, "rope.dimension_count", c->head_dim, 2, 4096, &c->rope_dim, err,
                       err_len)))
        return rc;
    if (vlen != c->head_dim || c->head_dim % 2 || c->rope_dim % 2 || c->rope_dim > c->head_dim ||
        c->n_head % c->n_head_kv)
        return ragd_errf(
            err, err_len, RAGD_EFORMAT,
            "model: inconsistent attention shape (heads %d, kv heads %d, key length %d, "
            "value length %d, rope dims %d)",
            c->n_head, c->n_head_kv, c->head_dim, vlen, c->rope_dim);
    if ((rc = meta_float(g, a, "attention.layer_norm_rms_epsilon", 1e-6f, &c->rms_eps, err,
                         err_len)) ||
        (rc = meta_float(g, a, "rope.freq_base", 10000.0f, &c->rope_base, err, err_len)))
        return rc;
    if (c->rms_eps <= 0 || c->rope_base <= 1)
        return ragd_errf(err, err_len, RAGD_EFORMAT, "model: invalid rms epsilon or rope base");
    c->rope_scale = 1.0f;
    char key[128], *stype = NULL;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_get_str(g, key, &stype) == 0) {
        int ok = !strcmp(stype, "none") || !strcmp(stype, "linear");
        int linear = !strcmp(stype, "linear");
        if (!ok) {
            rc = ragd_errf(err, err_len, RAGD_ENOTSUP, "model: rope scaling '%s' is not supported",
                           stype);
            free(stype);
            return rc;
        }
        free(stype);
        if (linear &&
            (rc = meta_float(g, a, "rope.scaling.factor", 1.0f, &c->rope_scale, err, err_len)))
            return rc;
    } else if ((rc = meta_float(g, a, "rope.scale_linear", 1.0f, &c->rope_scale, err, err_len))) {
        return rc;
    }
    if (!(c->rope_scale > 0))
        return ragd_errf(err, err_len, RAGD_EFORMAT, "model: invalid rope scaling factor");
    c->rope_neox = c->arch != MODEL_ARCH_LLAMA;
    c->qk_norm = c->arch == MODEL_ARCH_QWEN3;
    c->qkv_bias = c->arch == MODEL_ARCH_QWEN2;
    const struct gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] > (1 << 24))
        return ragd_errf(err, err_len, RAGD_EFORMAT,
                         "model: token_embd.weight missing or malformed");
    c->n_vocab = (int)emb->ne[1];
    return 0;
}

int model_load_gguf(gguf_t *g, model_t **out, char *err, size_t err_len)
{
    model_t *m = xcalloc(1, sizeof *m);
    m->gguf = g;
    struct model_config *c = &m->cfg;
    struct model_weights *w = &m->w;
    int rc = load_config(g, c, err, err_len);
    if (rc) goto fail;
    int64_t qd = (int64_t)c->n_head * c->head_dim, kvd = (int64_t)c->n_head_kv * c->head_dim;
    if ((rc = get_tensor(g, "token_embd.weight", c->n_vocab, c->n_embd, 0, &w->tok_embd, err,
                         err_len)) ||
        (rc = get_vec(g, "output_norm.weight", c->n_embd, 0, &w->output_norm, err, err_len)) ||
        (rc = get_tensor(g, "output.weight", c->n_vocab, c->n_embd, 1, &w->output, err, err_len)) ||
        (rc = get_vec(g, "rope_freqs.weight", c->rope_dim / 2, 1, &w->rope_freqs, err, err_len)))
        goto fail;
    if (!w->output.data) {
        c->tied_output = 1;
        w->output = w->tok_embd;
    }
    w->layers = xcalloc((size_t)c->n_layer, sizeof *w->layers);
    for (int i = 0; i < c->n_layer; i++) {
        struct model_layer *l = &w->layers[i];
        char n[14][64];
        static const char *names[] = {"attn_norm.weight",   "attn_q.weight",      "attn_k.weight",
                                      "attn_v.weight",      "attn_output.weight", "ffn_norm.weight",
                                      "ffn_gate.weight",    "ffn_up.weight",      "ffn_down.weight",
                                      "attn_q.bias",        "attn_k.bias",        "attn_v.bias",
                                      "attn_q_norm.weight", "attn_k_norm.weight"};
        for (int k = 0; k < 14; k++)
            snprintf(n[k], sizeof n[k], "blk.%d.%s", i, names[k]);
        if ((rc = get_vec(g, n[0], c->n_embd, 0, &l->attn_norm, err, err_len)) ||
            (rc = get_tensor(g, n[1], qd, c->n_embd, 0, &l->wq, err, err_len)) ||
            (rc = get_tensor(g, n[2], kvd, c->n_embd, 0, &l->wk, err, err_len)) ||
            (rc = get_tensor(g, n[3], kvd, c->n_embd, 0, &l->wv, err, err_len)) ||
            (rc = get_tensor(g, n[4], c->n_embd, qd, 0, &l->wo, err, err_len)) ||
            (rc = get_vec(g, n[5], c->n_embd, 0, &l->ffn_norm, err, err_len)) ||
            (rc = get_tensor(g, n[6], c->n_ff, c->n_embd, 0, &l->w_gate, err, err_len)) ||
            (rc = get_tensor(g, n[7], c->n_ff, c->n_embd, 0, &l->w_up, err, err_len)) ||
            (rc = get_tensor(g, n[8], c->n_embd, c->n_ff, 0, &l->w_down, err, err_len)) ||
            (rc = get_vec(g, n[9], qd, !c->qkv_bias, &l->bq, err, err_len)) ||
            (rc = get_vec(g, n[10], kvd, !c->qkv_bias, &l->bk, err, err_len)) ||
            (rc = get_vec(g, n[11], kvd, !c->qkv_bias, &l->bv, err, err_len)) ||
            (rc = get_vec(g, n[12], c->head_dim, !c->qk_norm, &l->q_norm, err, err_len)) ||
            (rc = get_vec(g, n[13], c->head_dim, !c->qk_norm, &l->k_norm, err, err_len)))
            goto fail;
    }
    *out = m;
    return 0;
fail:
    model_free(m);
    return rc;
}

int model_load(const char *path, int mapped, model_t **out, char *err, size_t err_len)
{
    gguf_t *g;
    /* weights are read by every token: in huge pages, or at least mapped once, at load */
    int rc =
        mapped ? gguf_open(path, &g, err, err_len) : gguf_open_resident(path, &g, err, err_len);
    if (rc) return rc;
    if (mapped) gguf_prefault(g);
    return model_load_gguf(g, out, err, err_len);
}

void model_free(model_t *m)
{
    if (!m) return;
    free(m->w.layers);
    gguf_close(m->gguf);
    free(m);
}

const struct model_config *model_config(const model_t *m)
{
    return &m->cfg;
}
const struct model_weights *model_weights(const model_t *m)
{
    return &m->w;
}
const gguf_t *model_gguf(const model_t *m)
{
    return m->gguf;
}

static size_t tbytes(const struct model_tensor *t)
{
    return (size_t)t->rows * t->row_bytes;
}

size_t model_weight_bytes(const model_t *m)
{
    size_t n = tbytes(&m->w.output);
    for (int i = 0; i < m->cfg.n_layer; i++) {
        const struct model_layer *l = &m->w.layers[i];
        n += tbytes(&l->wq) + tbytes(&l->wk) + tbytes(&l->wv) + tbytes(&l->wo) +
             tbytes(&l->w_gate) + tbytes(&l->w_up) + tbytes(&l->w_down);
    }
    return n;
}

/* ---- scratch context and sequences ---- */

struct model_scratch {
    const model_t *m;
    pool_t *pool;
    enum quant_isa isa;
    struct quant_att att_kern;
    int n_ctx, n_batch;
    size_t bytes; /* of the buffers below */
    /* activations, one row per token of the batch */
    float *x;          /* [n_batch, n_embd] residual stream */
    float *xb;         /* [n_batch, max(n_embd, q_dim)] */
    float *xb2;        /* [n_batch, q_dim] attention output */
    float *q;          /* [n_batch, q_dim] */
    float *k, *v;      /* [n_batch, kv_dim] */
    float *hb;         /* [n_batch, n_ff] */
    float *hb2;        /* [n_batch, n_ff] */
    float *logits;     /* [n_batch, n_vocab] */
    void *act;         /* quantized activations: [n_batch] rows of the widest act format */
    float *mm_scratch; /* [n_threads, MATMUL_TILE(n_batch)] products of a row group */
    size_t act_stride;
    float *att; /* [n_threads, group * att_tb, n_ctx] attention weights per thread */
    size_t att_per_thread;
    int att_tb;                 /* query tokens per attention work item */
    float *rope_cos, *rope_sin; /* [n_batch, rope_dim/2] */
    /* per token of a multi-sequence step (model_forward_multi): its sequence and position */
    model_state_t **tok_seq; /* [n_batch] */
    int *tok_pos;            /* [n_batch] */
    float *inv_freq;         /* [rope_dim/2] */
};

struct model_state {
    const model_t *m;
    int n_ctx, n_past;
    int populated;        /* positions whose cache pages kv_populate has faulted in */
    float *key_cache;     /* [n_layer, n_head_kv, n_ctx, head_dim] (kv_slab) */
    float *value_cache;   /* the same */
    model_scratch_t *own; /* model_state_create's scratch, or NULL */
};

/* A zeroed buffer of ws, counted in its bytes. */
static void *ws_alloc(model_scratch_t *ws, size_t n, size_t size)
{
    ws->bytes += n * size;
    return xcalloc(n, size);
}

int model_scratch_create(const model_t *m, int n_ctx, int n_batch, pool_t *pool, enum quant_isa isa,
                         model_scratch_t **out)
{
    const struct model_config *c = &m->cfg;
    if (n_ctx <= 0 || n_batch <= 0 || n_ctx > (1 << 24) || n_batch > 4096) return RAGD_EINVAL;
    size_t kvd = (size_t)c->n_head_kv * c->head_dim, qd = (size_t)c->n_head * c->head_dim;
    model_scratch_t *ws = xcalloc(1, sizeof *ws);
    ws->m = m;
    ws->pool = pool;
    ws->isa = isa;
    ws->att_kern = quant_att_kernel(isa);
    ws->n_ctx = n_ctx;
    ws->n_batch = n_batch;
    size_t B = (size_t)n_batch, wide = qd > (size_t)c->n_embd ? qd : (size_t)c->n_embd;
    ws->x = ws_alloc(ws, B * c->n_embd, sizeof(float));
    ws->xb = ws_alloc(ws, B * wide, sizeof(float));
    ws->xb2 = ws_alloc(ws, B * qd, sizeof(float));
    ws->q = ws_alloc(ws, B * qd, sizeof(float));
    ws->k = ws_alloc(ws, B * kvd, sizeof(float));
    ws->v = ws_alloc(ws, B * kvd, sizeof(float));
    ws->hb = ws_alloc(ws, B * c->n_ff, sizeof(float));
    ws->hb2 = ws_alloc(ws, B * c->n_ff, sizeof(float));
    ws->logits = ws_alloc(ws, B * c->n_vocab, sizeof(float));
    size_t widest = (size_t)(c->n_ff > (int)wide ? c->n_ff : (int)wide);
    ws->act_stride = quant_act_row_bytes(ACT_F32, widest); /* f32 is the widest format */
    ws->act = ws_alloc(ws, B, ws->act_stride);
    ws->mm_scratch = ws_alloc(ws, (size_t)pool_size(pool) * MATMUL_TILE(B), sizeof(float));
    int group = c->n_head / c->n_head_kv;
    ws->att_tb = group >= ATT_QMAX ? 1 : ATT_QMAX / group;
    ws->att_per_thread = (size_t)group * ws->att_tb * n_ctx;
    ws->att = ws_alloc(ws, (size_t)pool_size(pool) * ws->att_per_thread, sizeof(float));
    int half = c->rope_dim / 2;
    ws->rope_cos = ws_alloc(ws, B * half, sizeof(float));
    ws->rope_sin = ws_alloc(ws, B * half, sizeof(float));
    ws->tok_seq = ws_alloc(ws, B, sizeof *ws->tok_seq);
    ws->tok_pos = ws_alloc(ws, B, sizeof *ws->tok_pos);
    ws->inv_freq = ws_alloc(ws, (size_t)half, sizeof(float));
    for (int i = 0; i < half; i++) {
        double f = pow((double)c->rope_base, -2.0 * i / c->rope_dim);
        if (m->w.rope_freqs) f /= m->w.rope_freqs[i];
        ws->inv_freq[i] = (float)f;
    }
    *out = ws;
    return 0;
}

void model_scratch_free(model_scratch_t *ws)
{
    if (!ws) return;
    free(ws->inv_freq);
    free(ws->tok_pos);
    free(ws->tok_seq);
    free(ws->rope_sin);
    free(ws->rope_cos);
    free(ws->att);
    free(ws->act);
    free(ws->mm_scratch);
    free(ws->logits);
    free(ws->hb2);
    free(ws->hb);
    free(ws->v);
    free(ws->k);
    free(ws->q);
    free(ws->xb2);
    free(ws->xb);
    free(ws->x);
    free(ws);
}

int model_scratch_n_ctx(const model_scratch_t *ws)
{
    return ws->n_ctx;
}
int model_scratch_n_batch(const model_scratch_t *ws)
{
    return ws->n_batch;
}
size_t model_scratch_bytes(const model_scratch_t *ws)
{
    return ws->bytes;
}

/* Bytes of one of a sequence's two caches (K or V). */
static size_t cache_bytes(const model_t *m, int n_ctx)
{
    return model_kv_floats_per_pos(m) * (size_t)n_ctx * sizeof(float);
}

int model_state_create_kv(const model_t *m, int n_ctx, model_state_t **out)
{
    if (n_ctx <= 0 || n_ctx > (1 << 24)) return RAGD_EINVAL;
    size_t kv_bytes = cache_bytes(m, n_ctx);
    float *kc = try_malloc(kv_bytes), *vc = kc ? try_malloc(kv_bytes) : NULL;
    if (!vc) {
        free(kc);
        return RAGD_ENOMEM;
    }
    model_state_t *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->n_ctx = n_ctx;
    s->key_cache = kc;
    s->value_cache = vc;
    *out = s;
    return 0;
}

int model_state_create(const model_t *m, int n_ctx, int n_batch, pool_t *pool, enum quant_isa isa,
                       model_state_t **out)
{
    model_scratch_t *ws;
    int rc = model_scratch_create(m, n_ctx, n_batch, pool, isa, &ws);
    if (rc) return rc;
    if ((rc = model_state_create_kv(m, n_ctx, out))) {
        model_scratch_free(ws);
        return rc;
    }
    (*out)->own = ws;
    return 0;
}

void model_state_free(model_state_t *s)
{
    if (!s) return;
    model_scratch_free(s->own);
    free(s->value_cache);
    free(s->key_cache);
    free(s);
}

size_t model_state_bytes(const model_state_t *s)
{
    return 2 * cache_bytes(s->m, s->n_ctx) + (s->own ? s->own->bytes : 0);
}

int model_state_n_past(const model_state_t *s)
{
    return s->n_past;
}
int model_state_n_ctx(const model_state_t *s)
{
    return s->n_ctx;
}

int model_state_truncate(model_state_t *s, int n_past)
{
    if (n_past < 0 || n_past > s->n_past) return RAGD_ERANGE;
    s->n_past = n_past;
    return 0;
}

size_t model_kv_floats_per_pos(const model_t *m)
{
    return (size_t)m->cfg.n_layer * (size_t)m->cfg.n_head_kv * (size_t)m->cfg.head_dim;
}

/* Offset of the first row of layer L's kv head h in a cache of n_ctx positions: a kv head's
 * rows of a layer are one contiguous slab, so that attention streams them. */
static size_t kv_slab(const struct model_config *c, int n_ctx, int L, int h)
{
    return ((size_t)L * c->n_head_kv + (size_t)h) * (size_t)n_ctx * (size_t)c->head_dim;
}

/* Work item k (0 <= k < 2 * n_layer * n_head_kv) of a pass over s's caches: its slab (one kv
 * head of one layer), in K for k < n_layer * n_head_kv, in V after; *slab gets the slab's
 * index within its cache. */
static float *kv_item_slab(const model_state_t *s, int k, int *slab)
{
    const struct model_config *c = &s->m->cfg;
    int slabs = c->n_layer * c->n_head_kv;
    *slab = k % slabs;
    return (k < slabs ? s->key_cache : s->value_cache) +
           (size_t)*slab * (size_t)s->n_ctx * (size_t)c->head_dim; /* = kv_slab */
}

/* A copy between a state's caches and blocks: items are (block, slab, K or V), taken in turn
 * by the pool's threads. */
struct kv_copy_job {
    const model_state_t *s;
    const struct model_kv_block *b;
    int nb, write;
    atomic_int next;
};

static void kv_copy_worker(void *arg, int ith, int nth)
{
    struct kv_copy_job *j = arg;
    const struct model_config *c = &j->s->m->cfg;
    (void)ith;
    (void)nth;
    int slabs = c->n_layer * c->n_head_kv, per_block = 2 * slabs;
    size_t hd = (size_t)c->head_dim;
    for (;;) {
        int item = atomic_fetch_add(&j->next, 1);
        if (item >= j->nb * per_block) return;
        const struct model_kv_block *b = &j->b[item / per_block];
        int k = item % per_block, slab;
        float *at = kv_item_slab(j->s, k, &slab) + (size_t)b->from * hd;
        /* the block holds its n positions of each slab in the caches' slab order */
        float *in = (k < slabs ? b->k : b->v) + (size_t)slab * (size_t)b->n * hd;
        size_t run = (size_t)b->n * hd * sizeof(float);
        if (j->write)
            memcpy(at, in, run);
        else
            memcpy(in, at, run);
    }
}

static void kv_copy(const model_state_t *s, pool_t *pool, const struct model_kv_block *b, int nb,
                    int write)
{
    struct kv_copy_job j = {.s = s, .b = b, .nb = nb, .write = write};
    atomic_init(&j.next, 0);
    if (pool)
        pool_run(pool, kv_copy_worker, &j);
    else
        kv_copy_worker(&j, 0, 1);
}

int model_state_kv_read(const model_state_t *s, pool_t *pool, const struct model_kv_block *b,
                        int nb)
{
    for (int i = 0; i < nb; i++)
        if (b[i].from < 0 || b[i].n < 0 || b[i].n > s->n_past - b[i].from) return RAGD_ERANGE;
    kv_copy(s, pool, b, nb, 0);
    return 0;
}

int model_state_kv_write(model_state_t *s, pool_t *pool, const struct model_kv_block *b, int nb)
{
    if (nb < 1 || b[0].from < 0 || b[0].from > s->n_past) return RAGD_ERANGE;
    int end = b[0].from;
    for (int i = 0; i < nb; i++) {
        if (b[i].from != end || b[i].n < 0 || b[i].n > s->n_ctx - end) return RAGD_ERANGE;
        end += b[i].n;
    }
    kv_copy(s, pool, b, nb, 1);
    s->n_past = end;
    if (end > s->populated) s->populated = end; /* the copy wrote every page up to there */
    return 0;
}

/* ---- matrix products ---- */

#define MAX_MATS 3
/* Below this many tokens the tiled kernels cost more than the multi-row ones (decoding steps
 * of a few sessions at once). */
#define GEMM_MIN_TOKENS 8

/* out_j[t, r] = W_j[r, :] . act[t, :] for several matrices sharing one input, rows of all of
 * them handed out in chunks to the pool's threads. */
struct matmul_job {
    int n_mats;
    const struct model_tensor *w[MAX_MATS];
    float *out[MAX_MATS];
    quant_dot_fn dot[MAX_MATS];
    quant_dot_multi_fn multi[MAX_MATS]; /* NULL: no multi-row kernel */
    quant_gemm_fn gemm[MAX_MATS];       /* NULL: no tiled kernel */
    int64_t row_end[MAX_MATS];          /* cumulative row counts */
    int64_t total; /* rows handed out: row_end[0] for a fused gate and up product, else all */
    const uint8_t *act;
    size_t act_stride;
    int n_tok;
    int accumulate; /* out += product (residual connections) instead of out = product */
    int64_t chunk;  /* smallest chunk of rows a thread takes (a multiple of 4) */
    float *scratch; /* [n_threads][MATMUL_TILE(n_tok)] */
    atomic_long next;
    int n_ranges; /* 0: guided chunks from next; else one range per thread (below) */
    struct matmul_range {
        _Alignas(64) _Atomic uint64_t v; /* RANGE(first, end), a cache line each */
    } range[MATMUL_RANGES];
};

/* One-token jobs (generation) hand rows out from per-thread ranges. Thread i starts with the
 * i-th of nth equal slices of the rows and takes chunks from its front (range_front), so it
 * streams one contiguous run of weights: every jump elsewhere restarts the hardware prefetchers,
 * and the guided chunks' jumps cost 3-4% of a decoding step. A thread whose range is empty takes
 * the back half of another's (all of it when less than a chunk would be left) as its new range,
 * which also covers the slice of a worker that never joins the job. A range packs its first and
 * end rows into one word, so that both ends move by compare-and-swap. */
#define RANGE(first, end) ((uint64_t)(uint32_t)(first) | (uint64_t)(uint32_t)(end) << 32)
#define RANGE_FIRST(v) ((int64_t)(uint32_t)(v))
#define RANGE_END(v) ((int64_t)((v) >> 32))

/* Takes an eighth of r (a multiple of 4 rows, at least c) from its front into [*r0, *r1); 0
 * when r is empty. Chunks shrink as the range does, so a thief finds most of it unclaimed, and a
 * thread passes few compare-and-swaps: each is a full fence, which waits for the loads in
 * flight (16-row chunks throughout cost 1% of a decoding step). */
static int range_front(struct matmul_range *r, int64_t c, int64_t *r0, int64_t *r1)
{
    uint64_t v = atomic_load_explicit(&r->v, memory_order_relaxed);
    do {
        int64_t first = RANGE_FIRST(v), end = RANGE_END(v), take = (end - first) / 8 / 4 * 4;
        if (first >= end) return 0;
        if (take < c) take = c;
        *r0 = first;
        *r1 = end - first > take ? first + take : end;
    } while (!atomic_compare_exchange_weak(&r->v, &v, RANGE(*r1, RANGE_END(v))));
    return 1;
}

/* Takes the back half of r (a multiple of 4 rows; all of it below c rows) into [*r0, *r1). */
static int range_steal(struct matmul_range *r, int64_t c, int64_t *r0, int64_t *r1)
{
    uint64_t v = atomic_load_explicit(&r->v, memory_order_relaxed);
    do {
        int64_t first = RANGE_FIRST(v), end = RANGE_END(v), take = (end - first) / 2 / 4 * 4;
        if (first >= end) return 0;
        if (take < c) take = end - first;
        *r0 = end - take;
        *r1 = end;
    } while (!atomic_compare_exchange_weak(&r->v, &v, RANGE(RANGE_FIRST(v), *r0)));
    return 1;
}

/* Rows row..row+g-1 of matrix mi against the n_tok activation rows:
 * tmp[t * g + k] = W[row + k] . act[t]. */
static void row_products(const struct matmul_job *j, int mi, int64_t row, int g, float *tmp)
{
    const struct model_tensor *w = j->w[mi];
    const uint8_t *wr = (const uint8_t *)w->data + (size_t)row * w->row_bytes;
    size_t n = (size_t)w->cols, nt = (size_t)j->n_tok;
    if (j->n_tok == 1) {
        for (int k = 0; k < g; k++, wr += w->row_bytes)
            tmp[k] = j->dot[mi](wr, j->act, n);
        return;
    }
    if (j->gemm[mi] && j->n_tok >= GEMM_MIN_TOKENS) {
        j->gemm[mi](wr, w->row_bytes, g, j->act, j->act_stride, j->n_tok, tmp, (size_t)g, n);
        return;
    }
    if (j->multi[mi]) {
        /* Four activation rows (a few KiB, kept in L1) against every row of the group (kept
         * in L2), rather than all activation rows against one weight row: a K-quant weight
         * row is smaller than four activation rows, so this moves less through the caches. */
        for (size_t t0 = 0; t0 < nt; t0 += 4) {
            int n4 = nt - t0 < 4 ? (int)(nt - t0) : 4;
            const uint8_t *a = j->act + t0 * j->act_stride, *wk = wr;
            for (int k = 0; k < g; k++, wk += w->row_bytes) {
                float o[4];
                j->multi[mi](wk, a, j->act_stride, n4, o, n);
                for (int t = 0; t < n4; t++)
                    tmp[(t0 + t) * (size_t)g + k] = o[t];
            }
        }
        return;
    }
    for (int k = 0; k < g; k++, wr += w->row_bytes)
        for (size_t t = 0; t < nt; t++)
            tmp[t * (size_t)g + k] = j->dot[mi](wr, j->act + t * j->act_stride, n);
}

/* Rows r0..r1-1 of the job (of all its matrices in turn), tmp the thread's scratch. */
static void matmul_rows(const struct matmul_job *j, float *tmp, int64_t r0, int64_t r1)
{
    size_t nt = (size_t)j->n_tok;
    int64_t group = nt == 1 ? MATMUL_GROUP_1 : MATMUL_GROUP;
    for (int64_t r = r0; r < r1;) {
        int mi = 0;
        while (r >= j->row_end[mi])
            mi++;
        int64_t base = mi ? j->row_end[mi - 1] : 0, row = r - base, rows = j->w[mi]->rows;
        int64_t g = r1 - r < group ? r1 - r : group;
        if (g > rows - row) g = rows - row; /* a group stays within one matrix */
        /* products as [token][row of the group], written out one contiguous run per token */
        row_products(j, mi, row, (int)g, tmp);
        for (size_t t = 0; t < nt; t++) {
            float *o = j->out[mi] + t * rows + row;
            const float *v = tmp + t * g;
            if (j->accumulate)
                for (int64_t k = 0; k < g; k++)
                    o[k] += v[k];
            else
                for (int64_t k = 0; k < g; k++)
                    o[k] = v[k];
        }
        r += g;
    }
}

static void matmul_worker(void *arg, int ith, int nth)
{
    struct matmul_job *j = arg;
    int64_t total = j->total, r0 = 0, r1 = 0;
    float *tmp = j->scratch + (size_t)ith * MATMUL_TILE((size_t)j->n_tok);
    if (j->n_ranges) {
        for (;;) {
            while (range_front(&j->range[ith], j->chunk, &r0, &r1))
                matmul_rows(j, tmp, r0, r1);
            /* this range is empty: the back half of the next non-empty one becomes it */
            int k = 1;
            while (k < j->n_ranges &&
                   !range_steal(&j->range[(ith + k) % j->n_ranges], j->chunk, &r0, &r1))
                k++;
            if (k == j->n_ranges) return;
            atomic_store_explicit(&j->range[ith].v, RANGE(r0, r1), memory_order_relaxed);
        }
    }
    for (;;) {
        /* Guided self-scheduling (several tokens): a thread takes 1/(2 nth) of what is left
         * (at least j->chunk rows, a multiple of 4), so chunks shrink towards the end and the
         * threads finish together; equal chunks of 1/(8 nth) of the rows left up to one chunk
         * on one thread at the end of every job. */
        int64_t c;
        r0 = atomic_load_explicit(&j->next, memory_order_relaxed);
        do {
            if (r0 >= total) return;
            c = (total - r0) / (2 * (int64_t)nth) / 4 * 4;
            c = c < j->chunk ? j->chunk : c;
        } while (!atomic_compare_exchange_weak(&j->next, &r0, r0 + c));
        matmul_rows(j, tmp, r0, r0 + c < total ? r0 + c : total);
    }
}

/* Runs n_mats products of x [n_tok, cols] (same cols and activation format for all). */
static void matmul_ex(model_scratch_t *ws, int n_mats, const struct model_tensor **w, float **out,
                      const float *x, int n_tok, int accumulate)
{
    struct matmul_job j = {.n_mats = n_mats, .n_tok = n_tok, .accumulate = accumulate};
    enum act_kind kind = quant_act_kind(w[0]->type);
    size_t cols = (size_t)w[0]->cols;
    int64_t rows = 0;
    for (int i = 0; i < n_mats; i++) {
        j.w[i] = w[i];
        j.out[i] = out[i];
        j.dot[i] = quant_dot_kernel(w[i]->type, ws->isa);
        j.multi[i] = quant_dot_multi_kernel(w[i]->type, ws->isa);
        j.gemm[i] = quant_gemm_kernel(w[i]->type, ws->isa);
        rows += w[i]->rows;
        j.row_end[i] = rows;
    }
    j.act_stride = quant_act_row_bytes(kind, cols);
    quant_act_fn quantize = quant_act_kernel(kind, ws->isa);
    for (int t = 0; t < n_tok; t++)
        quantize(x + (size_t)t * cols, (uint8_t *)ws->act + t * j.act_stride, cols);
    j.act = ws->act;
    j.chunk = n_tok > 1 ? 4 : 16; /* smallest chunk, in rows */
    j.scratch = ws->mm_scratch;
    atomic_init(&j.next, 0);
    j.total = j.row_end[n_mats - 1];
    int nth = pool_size(ws->pool);
    if (n_tok == 1 && nth <= MATMUL_RANGES) {
        int64_t t = j.total;
        j.n_ranges = nth;
        for (int i = 0; i < nth; i++)
            atomic_init(&j.range[i].v,
                        RANGE(t * i / nth / 4 * 4, i + 1 < nth ? t * (i + 1) / nth / 4 * 4 : t));
    }
    pool_run(ws->pool, matmul_worker, &j);
}

static void matmul(model_scratch_t *ws, int n_mats, const struct model_tensor **w, float **out,
                   const float *x, int n_tok)
{
    matmul_ex(ws, n_mats, w, out, x, n_tok, 0);
}

static int same_act(const struct model_tensor *a, const struct model_tensor *b)
{
    return quant_act_kind(a->type) == quant_act_kind(b->type);
}

/* Products of one input with up to three matrices, fused into one pool job when their
 * activation formats agree. */
static void matmul_multi(model_scratch_t *ws, int n, const struct model_tensor **w, float **out,
                         const float *x, int n_tok)
{
    int fused = 1;
    for (int i = 1; i < n; i++)
        fused &= same_act(w[0], w[i]);
    if (fused) {
        matmul(ws, n, w, out, x, n_tok);
    } else {
        for (int i = 0; i < n; i++)
            matmul(ws, 1, &w[i], &out[i], x, n_tok);
    }
}

/* h[i] = silu(h[i]) * u[i] over n values, in chunks the pool's threads take in turn. */
struct glu_job {
    float *h;
    const float *u;
    size_t n;
    atomic_size_t next;
};

#define GLU_CHUNK 1024

static void glu_worker(void *arg, int ith, int nth)
{
    struct glu_job *j = arg;
    (void)ith;
    (void)nth;
    for (;;) {
        size_t a = atomic_fetch_add(&j->next, GLU_CHUNK);
        if (a >= j->n) return;
        size_t b = j->n - a < GLU_CHUNK ? j->n : a + GLU_CHUNK;
        for (size_t i = a; i < b; i++)
            j->h[i] = ops_silu(j->h[i]) * j->u[i];
    }
}

static void glu(model_scratch_t *ws, float *h, const float *u, size_t n)
{
    struct glu_job j = {.h = h, .u = u, .n = n};
    atomic_init(&j.next, 0);
    pool_run(ws->pool, glu_worker, &j);
}

/* ---- attention ---- */

/* Attention is done per (kv head, block of query tokens): the group's query heads for up to
 * att_tb tokens (at most ATT_QMAX queries, or one token for groups larger than that) walk the K and
 * V rows together, so each row is read once per block. */

struct attn_job {
    model_scratch_t *ws;
    const model_state_t *s;
    int layer, pos0, n_tok, tb, n_tblocks;
    atomic_int next;
};

static void attn_worker(void *arg, int ith, int nth)
{
    struct attn_job *j = arg;
    model_scratch_t *ws = j->ws;
    const model_state_t *s = j->s;
    const struct model_config *c = &s->m->cfg;
    (void)nth;
    int hd = c->head_dim, qd = c->n_head * hd;
    int group = c->n_head / c->n_head_kv;
    float *att = ws->att + (size_t)ith * ws->att_per_thread;
    float scale = 1.0f / sqrtf((float)hd);
    int total = c->n_head_kv * j->n_tblocks;
    for (;;) {
        int item = atomic_fetch_add(&j->next, 1);
        if (item >= total) return;
        int kvh = item / j->n_tblocks, t0 = (item % j->n_tblocks) * j->tb;
        int tb = j->n_tok - t0 < j->tb ? j->n_tok - t0 : j->tb, nq = group * tb;
        size_t slab = kv_slab(c, s->n_ctx, j->layer, kvh);
        const float *kc = s->key_cache + slab, *vc = s->value_cache + slab;
        /* nq <= max(ATT_QMAX, group) <= MAX_HEADS */
        const float *q[MAX_HEADS];
        float *o[MAX_HEADS];
        int npos[MAX_HEADS];
        for (int g = 0; g < group; g++) {
            for (int tt = 0; tt < tb; tt++) {
                int qi = g * tb + tt, t = t0 + tt, h = kvh * group + g;
                q[qi] = ws->q + (size_t)t * qd + (size_t)h * hd;
                o[qi] = ws->xb2 + (size_t)t * qd + (size_t)h * hd;
                npos[qi] = j->pos0 + t + 1;
            }
        }
        /* att holds group * att_tb * n_ctx floats: nq * max(npos) and OPS_ATT_SCRATCH(nq) */
        ops_attention(q, o, npos, nq, kc, vc, (size_t)hd, hd, scale, &ws->att_kern, att_tiled_min,
                      att);
    }
}

/* Attention for a step whose tokens belong to different sequences: one work item per
 * (token, kv head), over that token's own KV cache (ws->tok_seq[t]) up to its position. */
struct attn_multi_job {
    model_scratch_t *ws;
    int layer, n_tok;
    atomic_int next;
};

static void attn_multi_worker(void *arg, int ith, int nth)
{
    struct attn_multi_job *j = arg;
    model_scratch_t *ws = j->ws;
    const struct model_config *c = &ws->m->cfg;
    (void)nth;
    int hd = c->head_dim, qd = c->n_head * hd;
    int group = c->n_head / c->n_head_kv;
    float *att = ws->att + (size_t)ith * ws->att_per_thread; /* >= group * n_ctx floats */
    float scale = 1.0f / sqrtf((float)hd);
    int total = j->n_tok * c->n_head_kv;
    for (;;) {
        int item = atomic_fetch_add(&j->next, 1);
        if (item >= total) return;
        int t = item / c->n_head_kv, kvh = item % c->n_head_kv;
        const model_state_t *kv = ws->tok_seq[t];
        int npos = ws->tok_pos[t] + 1;
        size_t slab = kv_slab(c, kv->n_ctx, j->layer, kvh);
        const float *kc = kv->key_cache + slab, *vc = kv->value_cache + slab;
        const float *q[MAX_HEADS];
        float *o[MAX_HEADS];
        int np[MAX_HEADS];
        for (int g = 0; g < group; g++) {
            int h = kvh * group + g;
            q[g] = ws->q + (size_t)t * qd + (size_t)h * hd;
            o[g] = ws->xb2 + (size_t)t * qd + (size_t)h * hd;
            np[g] = npos;
        }
        /* the choice and arithmetic of attn_worker for the same token alone */
        ops_attention(q, o, np, group, kc, vc, (size_t)hd, hd, scale, &ws->att_kern, att_tiled_min,
                      att);
    }
}

/* ---- forward ---- */

/* Positions of the caches made resident ahead at a time: the first writes of a position would
 * otherwise fault pages in one by one inside the step (a page of every kv head's slab in
 * each layer, for K and for V, once per 8 positions at a 128-float head_dim). */
#define KV_POPULATE 64

/* Making a range of the caches resident, one slab (K or V of one kv head in one layer) per
 * work item. MADV_POPULATE_WRITE maps the pages; one atomic write to each page then makes it
 * resident. On virtual machines whose host backs a guest's memory only when the guest writes
 * it, a page the madvise has mapped still costs a trap to the hypervisor on its first write
 * (about 9,000 cycles against 21 for a later write, on the 2-vCPU machine of bench/): left to
 * the step, that trap fell in its serial part, in the copy of the new K and V rows (1.5 ms in
 * every fourth decoding step of the 1.7B shape), while the pool's other threads waited. */
struct kv_touch_job {
    model_state_t *s;
    int from, to; /* positions */
    atomic_int next;
};

static void kv_touch_worker(void *arg, int ith, int nth)
{
    struct kv_touch_job *j = arg;
    const model_state_t *s = j->s;
    const struct model_config *c = &s->m->cfg;
    (void)ith;
    (void)nth;
    int slabs = c->n_layer * c->n_head_kv;
    size_t hd = (size_t)c->head_dim, page = (size_t)sysconf(_SC_PAGESIZE);
    for (;;) {
        int item = atomic_fetch_add(&j->next, 1);
        if (item >= 2 * slabs) return;
        int index;
        float *slab = kv_item_slab(s, item, &index);
        uintptr_t a = (uintptr_t)(slab + (size_t)j->from * hd);
        uintptr_t e = (uintptr_t)(slab + (size_t)j->to * hd);
        uintptr_t a0 = a & ~(uintptr_t)(page - 1);
#ifdef MADV_POPULATE_WRITE
        (void)madvise((void *)a0, e - a0, MADV_POPULATE_WRITE);
#endif
        /* a word of each page inside the range (a slab's first page may hold the end of the
         * slab before it, whose item may run at the same time: hence the atomic or of 0) */
        for (uintptr_t p = a0; p < e; p += page)
            (void)__atomic_fetch_or((uint64_t *)(p < a ? a : p), 0, __ATOMIC_RELAXED);
    }
}

/* Makes s's K and V rows resident up to position upto (exclusive), KV_POPULATE positions at a
 * time, on ws's pool. */
static void kv_populate(model_scratch_t *ws, model_state_t *s, int upto)
{
    if (upto <= s->populated) return;
    int to = s->populated + KV_POPULATE;
    to = to < upto ? upto : to;
    to = to > s->n_ctx ? s->n_ctx : to;
    struct kv_touch_job j = {.s = s, .from = s->populated, .to = to};
    atomic_init(&j.next, 0);
    pool_run(ws->pool, kv_touch_worker, &j);
    s->populated = to;
}

/* Evaluates n tokens with ws's buffers. s != NULL: the tokens continue s's sequence at
 * s->n_past. s == NULL: token t belongs to the sequence ws->tok_seq[t] at position
 * ws->tok_pos[t] (one token per sequence), and its K/V go to that sequence's cache. */
static void forward_batch(model_scratch_t *ws, model_state_t *s, const int32_t *tokens, int n,
                          int want_all)
{
    const model_t *m = ws->m;
    const struct model_config *c = &m->cfg;
    const struct model_weights *w = &m->w;
    int D = c->n_embd, hd = c->head_dim, qd = c->n_head * hd, kvd = c->n_head_kv * hd;
    int F = c->n_ff, half = c->rope_dim / 2, multi = !s, pos0 = multi ? 0 : s->n_past;

    if (multi)
        for (int t = 0; t < n; t++)
            kv_populate(ws, ws->tok_seq[t], ws->tok_pos[t] + 1);
    else
        kv_populate(ws, s, pos0 + n);
    for (int t = 0; t < n; t++) {
        const uint8_t *row =
            (const uint8_t *)w->tok_embd.data + (size_t)tokens[t] * w->tok_embd.row_bytes;
        quant_dequantize_row(w->tok_embd.type, row, ws->x + (size_t)t * D, (size_t)D);
        float pos = (float)(multi ? ws->tok_pos[t] : pos0 + t) / c->rope_scale;
        for (int i = 0; i < half; i++) {
            float th = pos * ws->inv_freq[i];
            ws->rope_cos[t * half + i] = cosf(th);
            ws->rope_sin[t * half + i] = sinf(th);
        }
    }

    for (int L = 0; L < c->n_layer; L++) {
        const struct model_layer *l = &w->layers[L];
        for (int t = 0; t < n; t++)
            ops_rmsnorm(ws->xb + (size_t)t * D, ws->x + (size_t)t * D, l->attn_norm, D, c->rms_eps);
        const struct model_tensor *qkv[3] = {&l->wq, &l->wk, &l->wv};
        float *qkv_out[3] = {ws->q, ws->k, ws->v};
        matmul_multi(ws, 3, qkv, qkv_out, ws->xb, n);
        for (int t = 0; t < n; t++) {
            float *q = ws->q + (size_t)t * qd, *k = ws->k + (size_t)t * kvd,
                  *v = ws->v + (size_t)t * kvd;
            if (l->bq) {
                for (int i = 0; i < qd; i++)
                    q[i] += l->bq[i];
                for (int i = 0; i < kvd; i++) {
                    k[i] += l->bk[i];
                    v[i] += l->bv[i];
                }
            }
            const float *cs = ws->rope_cos + t * half, *sn = ws->rope_sin + t * half;
            for (int h = 0; h < c->n_head; h++) {
                if (l->q_norm) ops_rmsnorm(q + h * hd, q + h * hd, l->q_norm, hd, c->rms_eps);
                ops_rope(q + h * hd, cs, sn, c->rope_dim, c->rope_neox);
            }
            for (int h = 0; h < c->n_head_kv; h++) {
                if (l->k_norm) ops_rmsnorm(k + h * hd, k + h * hd, l->k_norm, hd, c->rms_eps);
                ops_rope(k + h * hd, cs, sn, c->rope_dim, c->rope_neox);
            }
            model_state_t *kv = multi ? ws->tok_seq[t] : s;
            size_t at = (size_t)(multi ? ws->tok_pos[t] : pos0 + t) * hd;
            for (int h = 0; h < c->n_head_kv; h++) {
                size_t off = kv_slab(c, kv->n_ctx, L, h) + at;
                memcpy(kv->key_cache + off, k + h * hd, (size_t)hd * sizeof(float));
                memcpy(kv->value_cache + off, v + h * hd, (size_t)hd * sizeof(float));
            }
        }
        if (multi) {
            struct attn_multi_job mj = {.ws = ws, .layer = L, .n_tok = n};
            atomic_init(&mj.next, 0);
            pool_run(ws->pool, attn_multi_worker, &mj);
        } else {
            struct attn_job aj = {
                .ws = ws, .s = s, .layer = L, .pos0 = pos0, .n_tok = n, .tb = ws->att_tb};
            aj.n_tblocks = (n + aj.tb - 1) / aj.tb;
            atomic_init(&aj.next, 0);
            pool_run(ws->pool, attn_worker, &aj);
        }

        const struct model_tensor *wo = &l->wo;
        matmul_ex(ws, 1, &wo, &ws->x, ws->xb2, n, 1); /* x += Wo . attention */

        for (int t = 0; t < n; t++)
            ops_rmsnorm(ws->xb + (size_t)t * D, ws->x + (size_t)t * D, l->ffn_norm, D, c->rms_eps);
        const struct model_tensor *gu[2] = {&l->w_gate, &l->w_up};
        float *gu_out[2] = {ws->hb, ws->hb2};
        /* The gate and up products as one job (when their activation formats agree) over
         * both matrices' rows, then hb = silu(gate) * up as a job of its own. In a one-token
         * step each thread's range then covers one matrix (nth = 2: one each). Products that
         * took a row (or a group of rows) of both matrices at a time had every thread read two
         * streams of weights: on Zen 5 one thread reading two streams a row apart gets 0.75x
         * the bandwidth of one, and one-token gate and up jobs ran 5-10% slower that way. */
        matmul_multi(ws, 2, gu, gu_out, ws->xb, n);
        glu(ws, ws->hb, ws->hb2, (size_t)n * F);
        const struct model_tensor *wd = &l->w_down;
        matmul_ex(ws, 1, &wd, &ws->x, ws->hb, n, 1); /* x += Wdown . hb */
    }

    /* Final norm and logits: for every token, or only the last one. */
    int first = want_all ? 0 : n - 1;
    for (int t = first; t < n; t++)
        ops_rmsnorm(ws->xb + (size_t)(t - first) * D, ws->x + (size_t)t * D, w->output_norm, D,
                    c->rms_eps);
    const struct model_tensor *wout = &w->output;
    float *lg = ws->logits;
    matmul(ws, 1, &wout, &lg, ws->xb, n - first);
    if (multi)
        for (int t = 0; t < n; t++)
            ws->tok_seq[t]->n_past++;
    else
        s->n_past += n;
}

int model_forward_in(model_scratch_t *ws, model_state_t *s, const int32_t *tokens, int n,
                     float *logits, int all)
{
    const struct model_config *c = &s->m->cfg;
    if (n <= 0 || ws->m != s->m || s->n_ctx > ws->n_ctx) return RAGD_EINVAL;
    if (n > s->n_ctx - s->n_past) return RAGD_ERANGE;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->n_vocab) return RAGD_EINVAL;
    size_t V = (size_t)c->n_vocab;
    for (int done = 0; done < n;) {
        int b = n - done < ws->n_batch ? n - done : ws->n_batch;
        int last_chunk = done + b == n;
        forward_batch(ws, s, tokens + done, b, all);
        if (logits && all)
            memcpy(logits + (size_t)done * V, ws->logits, (size_t)b * V * sizeof(float));
        else if (logits && last_chunk)
            memcpy(logits, ws->logits, V * sizeof(float));
        done += b;
    }
    return 0;
}

int model_forward(model_state_t *s, const int32_t *tokens, int n, float *logits, int all)
{
    return s->own ? model_forward_in(s->own, s, tokens, n, logits, all) : RAGD_EINVAL;
}

int model_forward_multi(model_scratch_t *ws, model_state_t *const *seqs, const int32_t *tokens,
                        int n, float *const *logits)
{
    if (n <= 0 || n > ws->n_batch) return RAGD_EINVAL;
    const struct model_config *c = &ws->m->cfg;
    for (int t = 0; t < n; t++) {
        model_state_t *q = seqs[t];
        if (!q || q->m != ws->m || q->n_ctx > ws->n_ctx || tokens[t] < 0 || tokens[t] >= c->n_vocab)
            return RAGD_EINVAL;
        if (q->n_past >= q->n_ctx) return RAGD_ERANGE;
        for (int u = 0; u < t; u++)
            if (seqs[u] == q) return RAGD_EINVAL; /* one token per sequence */
    }
    for (int t = 0; t < n; t++) {
        ws->tok_seq[t] = seqs[t];
        ws->tok_pos[t] = seqs[t]->n_past;
    }
    forward_batch(ws, NULL, tokens, n, 1);
    size_t V = (size_t)c->n_vocab;
    for (int t = 0; t < n; t++)
        if (logits && logits[t]) memcpy(logits[t], ws->logits + (size_t)t * V, V * sizeof(float));
    return 0;
}
