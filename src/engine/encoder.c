#include "engine/encoder.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/enc_kernels.h"
#include "engine/ops.h"
#include "engine/gguf.h"
#include "engine/pool.h"
#include "engine/quant.h"
#include "engine/safetensors.h"
#include "engine/tok_gguf.h"

/* ---- config / weights / state ---- */

enum arch { ARCH_BERT, ARCH_MPNET };
enum act { ACT_GELU_ERF, ACT_GELU_TANH };

#define MPNET_PADDING_IDX 1 /* fixed in the reference implementation, not read from config */
#define MPNET_BUCKETS 32    /* compute_position_bias's num_buckets */
#define MPNET_MAX_DISTANCE 128

/* out[m][r] = a[m] . w[r] over k floats, for MR rows a and NR rows w (engine/enc_kernels.h) */
#define MR ENC_MR
#define NR ENC_NR
typedef enc_kernel_fn kernel_fn;

struct config {
    enum arch arch;
    int n_vocab, n_embd, n_layer, n_head, head_dim, n_ff;
    int n_pos;    /* rows of the position embedding */
    int n_types;  /* rows of the token-type embedding (BERT) */
    int pos_base; /* position of the first token: 0 (BERT) or padding_idx + 1 (MPNet) */
    int max_seq;  /* effective tokens per text */
    float eps;
    enum act act;
    int pool_cls;
};

/* A 2-D weight: rows x cols of type, row-major (cols contiguous). */
struct mat {
    const void *data;
    uint32_t type;
    int64_t rows, cols;
    size_t row_bytes;
    const uint16_t *bf16; /* the rows as bfloat16 when the bf16 path is on, else NULL */
    const uint8_t *q8;    /* the rows in q8_0 when the int8 path is on, else NULL */
    size_t q8_row_bytes;
};

struct layer {
    struct mat wq, wk, wv, wo;              /* [n_embd, n_embd] */
    const float *bq, *bk, *bv, *bo;         /* [n_embd] */
    const float *attn_norm_w, *attn_norm_b; /* [n_embd] */
    struct mat w_up;                        /* [n_ff, n_embd] */
    const float *b_up;                      /* [n_ff] */
    struct mat w_down;                      /* [n_embd, n_ff] */
    const float *b_down;                    /* [n_embd] */
    const float *out_norm_w, *out_norm_b;   /* [n_embd] */
};

struct weights {
    struct mat tok;                       /* [n_vocab, n_embd] */
    struct mat pos;                       /* [n_pos, n_embd] */
    const float *type0;                   /* [n_embd] token type 0 (BERT), or NULL */
    const float *emb_norm_w, *emb_norm_b; /* [n_embd] */
    struct layer *layers;                 /* [n_layer] */
    const float *rel_bias;                /* MPNet: [n_buckets, n_head] */
    int n_buckets;
    /* sequence classification head (n_labels > 0): tanh(pool_w h + pool_b) of the first
     * token's last hidden state h, then cls_w . + cls_b -> logits */
    int n_labels;
    const float *pool_w, *pool_b; /* [n_embd, n_embd], [n_embd] */
    const float *cls_w, *cls_b;   /* [n_labels, n_embd], [n_labels] */
    char **labels;                /* [n_labels] names (owned) */
};

/* Activations for B sequences padded to S tokens (T = B * S rows). Grown on demand. */
struct state {
    size_t cap_tok; /* rows the buffers below hold */
    int cap_seq;
    float *x;         /* [T, n_embd] hidden states */
    float *q, *k, *v; /* [T, n_embd] */
    float *ctx;       /* [T, n_embd] attention output */
    float *tmp;       /* [T, n_embd] */
    float *ffn;       /* [T, n_ff] */
    float *scores;    /* [n_threads, MR * S] */
    float *vt;        /* [n_threads, head_dim * S]: one head's values transposed */
    float *bias_tab;  /* MPNet: [n_head, 2S - 1] bias by relative offset */
    int32_t *ids;     /* [T] */
    int *lens;        /* [B] */
};

struct encoder {
    struct config cfg;
    struct weights w;
    tokenizer_t *tok;
    int32_t cls_id, sep_id, pad_id;
    gguf_t *gguf;
    safetensors_t *st;
    void **owned; /* converted vectors and realigned matrices */
    size_t n_owned;
    pool_t *pool;
    int n_threads;
    enum quant_isa isa;
    kernel_fn kernel;
    enc_kernel_bf16_fn kernel_bf16; /* non-NULL: the layers' matrices carry bf16 copies */
    uint16_t *abf;                  /* activations as bf16, abf_cap values (under lock) */
    size_t abf_cap;
    quant_gemm_fn gemm_q8; /* non-NULL: the layers' matrices carry q8_0 rows (int8 path) */
    quant_act_fn act_q8;   /* the int8 path's activation quantizer */
    quant_axpy_fn axpy;    /* y += a x, for attention's weighted values */
    uint8_t *aq;           /* activations quantized for gemm_q8, aq_cap bytes (under lock) */
    size_t aq_cap;
    int prep_kind; /* what abf or aq holds: 0 nothing, PREP_BF16 or PREP_INT8 ... */
    size_t prep_n; /* ... of this many values */
    float **panel; /* [n_threads] scratch: PANEL_ROWS dequantized weight rows */
    struct state s;
    pthread_mutex_t lock;
};

static void *own(encoder_t *e, void *p)
{
    e->owned = xrealloc(e->owned, (e->n_owned + 1) * sizeof *e->owned);
    e->owned[e->n_owned++] = p;
    return p;
}

/* ---- tensors from either file format ---- */

struct raw {
    const void *data;
    uint32_t type; /* ggml type */
    int n_dims;
    int64_t rows, cols; /* 1-D: rows 1 */
};

static int find_raw(const encoder_t *e, const char *prefix, const char *name, struct raw *r)
{
    char full[256];
    if (e->gguf) {
        const struct gguf_tensor *t = gguf_find_tensor(e->gguf, name);
        if (!t || t->n_dims > 2) return t ? RAGD_EFORMAT : RAGD_ENOTFOUND;
        *r =
            (struct raw){t->data, t->type, (int)t->n_dims, t->n_dims == 2 ? t->ne[1] : 1, t->ne[0]};
        return 0;
    }
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const struct safetensors_tensor *t = safetensors_find(e->st, full);
    if (!t) {
        /* old checkpoints name LayerNorm parameters gamma / beta */
        size_t n = strlen(full);
        if (n > 16 && !strcmp(full + n - 16, "LayerNorm.weight"))
            strcpy(full + n - 6, "gamma");
        else if (n > 14 && !strcmp(full + n - 14, "LayerNorm.bias"))
            strcpy(full + n - 4, "beta");
        else
            return RAGD_ENOTFOUND;
        if (!(t = safetensors_find(e->st, full))) return RAGD_ENOTFOUND;
    }
    if (t->n_dims < 1 || t->n_dims > 2) return RAGD_EFORMAT;
    uint32_t type;
    switch (t->dtype) {
    case ST_F32:
        type = GGML_TYPE_F32;
        break;
    case ST_F16:
        type = GGML_TYPE_F16;
        break;
    case ST_BF16:
        type = GGML_TYPE_BF16;
        break;
    default:
        return RAGD_ENOTSUP;
    }
    *r = (struct raw){t->data, type, (int)t->n_dims, t->n_dims == 2 ? t->shape[0] : 1,
                      t->shape[t->n_dims - 1]};
    return 0;
}

struct loader {
    encoder_t *e;
    const char *prefix; /* safetensors name prefix */
    char *err;
    size_t err_len;
};

static int get_mat(struct loader *ld, const char *name, int64_t rows, int64_t cols, struct mat *m)
{
    struct raw r = {0};
    int rc = find_raw(ld->e, ld->prefix, name, &r);
    if (rc == RAGD_ENOTFOUND)
        return ragd_errf(ld->err, ld->err_len, RAGD_EFORMAT, "tensor %s%s is missing", ld->prefix,
                         name);
    if (rc == RAGD_ENOTSUP)
        return ragd_errf(ld->err, ld->err_len, rc,
                         "tensor %s%s: dtype not supported (F32, F16, "
                         "BF16)",
                         ld->prefix, name);
    if (rc || r.n_dims != 2 || r.rows != rows || r.cols != cols)
        return ragd_errf(ld->err, ld->err_len, RAGD_EFORMAT,
                         "tensor %s%s has shape [%lld, %lld], expected [%lld, %lld]", ld->prefix,
                         name, (long long)r.rows, (long long)r.cols, (long long)rows,
                         (long long)cols);
    const struct quant_type_info *ti = quant_type_info(r.type);
    if (!ti || !ti->supported || cols % (int64_t)ti->block)
        return ragd_errf(ld->err, ld->err_len, RAGD_ENOTSUP, "tensor %s has unsupported type %s",
                         name, ti ? ti->name : "?");
    m->type = r.type;
    m->rows = rows;
    m->cols = cols;
    m->row_bytes = quant_row_bytes(r.type, (size_t)cols);
    m->data = r.data;
    /* f32 rows are read in place by 32-byte loads, which cost twice as much when they
     * straddle cache lines: a matrix that is not 32-byte aligned (safetensors only promises
     * 8) is copied once (5-10% faster products; the mapped pages are then never touched
     * again, so the kernel can drop them). Other types are
     * converted row by row and need only whole elements. */
    size_t align = r.type == GGML_TYPE_F32 ? 32 : 2;
    if ((uintptr_t)r.data % align) {
        size_t n = m->row_bytes * (size_t)rows;
        void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
        if (!p) panic("encoder: out of memory");
        m->data = memcpy(own(ld->e, p), r.data, n);
    }
    return 0;
}

/* A vector (or a small matrix read as rows * cols floats), converted to f32. */
static int get_floats(struct loader *ld, const char *name, int64_t rows, int64_t cols, int optional,
                      const float **out)
{
    struct raw r = {0};
    *out = NULL;
    int rc = find_raw(ld->e, ld->prefix, name, &r);
    if (rc == RAGD_ENOTFOUND && optional) return 0;
    if (rc == RAGD_ENOTFOUND)
        return ragd_errf(ld->err, ld->err_len, RAGD_EFORMAT, "tensor %s%s is missing", ld->prefix,
                         name);
    if (rc == RAGD_ENOTSUP)
        return ragd_errf(ld->err, ld->err_len, rc, "tensor %s%s: dtype not supported", ld->prefix,
                         name);
    if (rc || r.rows != rows || r.cols != cols)
        return ragd_errf(ld->err, ld->err_len, RAGD_EFORMAT,
                         "tensor %s%s has shape [%lld, %lld], expected [%lld, %lld]", ld->prefix,
                         name, (long long)r.rows, (long long)r.cols, (long long)rows,
                         (long long)cols);
    const struct quant_type_info *ti = quant_type_info(r.type);
    if (!ti || !ti->supported || cols % (int64_t)ti->block)
        return ragd_errf(ld->err, ld->err_len, RAGD_ENOTSUP, "tensor %s has unsupported type %s",
                         name, ti ? ti->name : "?");
    float *f = own(ld->e, xmalloc((size_t)(rows * cols) * sizeof *f));
    size_t rb = quant_row_bytes(r.type, (size_t)cols);
    for (int64_t i = 0; i < rows; i++) {
        const uint8_t *src = (const uint8_t *)r.data + (size_t)i * rb;
        if (r.type == GGML_TYPE_F32) /* may be unaligned */
            memcpy(f + i * cols, src, (size_t)cols * sizeof *f);
        else if (r.type == GGML_TYPE_F16 || r.type == GGML_TYPE_BF16)
            for (int64_t j = 0; j < cols; j++) {
                uint16_t h;
                memcpy(&h, src + 2 * j, 2);
                f[i * cols + j] =
                    r.type == GGML_TYPE_F16 ? quant_f16_to_f32(h) : quant_bf16_to_f32(h);
            }
        else
            quant_dequantize_row(r.type, src, f + i * cols, (size_t)cols);
    }
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(f[i]))
            return ragd_errf(ld->err, ld->err_len, RAGD_EFORMAT,
                             "tensor %s%s has non-finite values", ld->prefix, name);
    *out = f;
    return 0;
}

/* Tensor names per source: GGUF (llama.cpp's BERT converter), HF BERT, HF MPNet. */
enum { SRC_GGUF, SRC_HF_BERT, SRC_HF_MPNET };

/* Layer tensor names are <head>N<tail>. */
static const char *const layer_head[3] = {"blk.", "encoder.layer.", "encoder.layer."};
static const char *const layer_tail[3][8] = {
    {".attn_q", ".attn_k", ".attn_v", ".attn_output", ".attn_output_norm", ".ffn_up", ".ffn_down",
     ".layer_output_norm"},
    {".attention.self.query", ".attention.self.key", ".attention.self.value",
     ".attention.output.dense", ".attention.output.LayerNorm", ".intermediate.dense",
     ".output.dense", ".output.LayerNorm"},
    {".attention.attn.q", ".attention.attn.k", ".attention.attn.v", ".attention.attn.o",
     ".attention.LayerNorm", ".intermediate.dense", ".output.dense", ".output.LayerNorm"},
};

static int load_weights(struct loader *ld, int src)
{
    encoder_t *e = ld->e;
    struct config *c = &e->cfg;
    struct weights *w = &e->w;
    int D = c->n_embd, F = c->n_ff, rc;
    int gg = src == SRC_GGUF;
    const char *tok = gg ? "token_embd.weight" : "embeddings.word_embeddings.weight";
    const char *pos = gg ? "position_embd.weight" : "embeddings.position_embeddings.weight";
    const char *typ = gg ? "token_types.weight" : "embeddings.token_type_embeddings.weight";
    const char *nw = gg ? "token_embd_norm.weight" : "embeddings.LayerNorm.weight";
    const char *nb = gg ? "token_embd_norm.bias" : "embeddings.LayerNorm.bias";
    if ((rc = get_mat(ld, tok, c->n_vocab, D, &w->tok)) ||
        (rc = get_mat(ld, pos, c->n_pos, D, &w->pos)) ||
        (rc = get_floats(ld, nw, 1, D, 0, &w->emb_norm_w)) ||
        (rc = get_floats(ld, nb, 1, D, 0, &w->emb_norm_b)))
        return rc;
    if (c->arch == ARCH_BERT) {
        const float *types;
        if ((rc = get_floats(ld, typ, c->n_types, D, c->n_types == 0, &types))) return rc;
        w->type0 = types; /* row 0: every token has type 0 */
    } else {
        struct raw r = {0};
        rc = find_raw(e, ld->prefix, "encoder.relative_attention_bias.weight", &r);
        if (rc || r.n_dims != 2 || r.cols != c->n_head || r.rows < MPNET_BUCKETS || r.rows > 4096)
            return ragd_errf(ld->err, ld->err_len, RAGD_EFORMAT,
                             "tensor encoder.relative_attention_bias.weight is missing or is not "
                             "[>= %d, %d]",
                             MPNET_BUCKETS, c->n_head);
        w->n_buckets = (int)r.rows;
        if ((rc = get_floats(ld, "encoder.relative_attention_bias.weight", r.rows, c->n_head, 0,
                             &w->rel_bias)))
            return rc;
    }
    w->layers = own(e, xcalloc((size_t)c->n_layer, sizeof *w->layers));
    for (int i = 0; i < c->n_layer; i++) {
        struct layer *l = &w->layers[i];
        char n[8][2][160];
        for (int k = 0; k < 8; k++) {
            snprintf(n[k][0], sizeof n[k][0], "%s%d%s.weight", layer_head[src], i,
                     layer_tail[src][k]);
            snprintf(n[k][1], sizeof n[k][1], "%s%d%s.bias", layer_head[src], i,
                     layer_tail[src][k]);
        }
        if ((rc = get_mat(ld, n[0][0], D, D, &l->wq)) ||
            (rc = get_floats(ld, n[0][1], 1, D, 0, &l->bq)) ||
            (rc = get_mat(ld, n[1][0], D, D, &l->wk)) ||
            (rc = get_floats(ld, n[1][1], 1, D, 0, &l->bk)) ||
            (rc = get_mat(ld, n[2][0], D, D, &l->wv)) ||
            (rc = get_floats(ld, n[2][1], 1, D, 0, &l->bv)) ||
            (rc = get_mat(ld, n[3][0], D, D, &l->wo)) ||
            (rc = get_floats(ld, n[3][1], 1, D, 0, &l->bo)) ||
            (rc = get_floats(ld, n[4][0], 1, D, 0, &l->attn_norm_w)) ||
            (rc = get_floats(ld, n[4][1], 1, D, 0, &l->attn_norm_b)) ||
            (rc = get_mat(ld, n[5][0], F, D, &l->w_up)) ||
            (rc = get_floats(ld, n[5][1], 1, F, 0, &l->b_up)) ||
            (rc = get_mat(ld, n[6][0], D, F, &l->w_down)) ||
            (rc = get_floats(ld, n[6][1], 1, D, 0, &l->b_down)) ||
            (rc = get_floats(ld, n[7][0], 1, D, 0, &l->out_norm_w)) ||
            (rc = get_floats(ld, n[7][1], 1, D, 0, &l->out_norm_b)))
            return rc;
    }
    return 0;
}

/* The classification head, when the checkpoint has one: BERT's pooler + classifier, MPNet's
 * (RoBERTa-style) classifier.dense + classifier.out_proj, or GGUF's cls + cls.output. The
 * head's tensors carry no model prefix in Hugging Face checkpoints, except BERT's pooler. */
static int load_head(struct loader *ld, int src)
{
    encoder_t *e = ld->e;
    struct weights *w = &e->w;
    int D = e->cfg.n_embd, rc;
    static const char *const names[3][4] = {
        {"cls.weight", "cls.bias", "cls.output.weight", "cls.output.bias"},
        {"pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias"},
        {"classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight",
         "classifier.out_proj.bias"},
    };
    struct loader head = {e, "", ld->err, ld->err_len};
    struct loader *pool = src == SRC_HF_BERT ? ld : &head;
    struct raw r = {0};
    if (find_raw(e, "", names[src][2], &r)) return 0; /* no head: an embedding model */
    if (r.n_dims != 2 || r.cols != D || r.rows < 1 || r.rows > 4096)
        return ragd_errf(ld->err, ld->err_len, RAGD_EFORMAT,
                         "tensor %s has shape [%lld, %lld], expected [labels, %d]", names[src][2],
                         (long long)r.rows, (long long)r.cols, D);
    w->n_labels = (int)r.rows;
    if ((rc = get_floats(pool, names[src][0], D, D, 0, &w->pool_w)) ||
        (rc = get_floats(pool, names[src][1], 1, D, 0, &w->pool_b)) ||
        (rc = get_floats(&head, names[src][2], w->n_labels, D, 0, &w->cls_w)) ||
        (rc = get_floats(&head, names[src][3], 1, w->n_labels, 0, &w->cls_b)))
        return rc;
    w->labels = own(e, xcalloc((size_t)w->n_labels, sizeof *w->labels));
    return 0;
}

/* Label i's name: from names when given there (owned copies), else LABEL_i. */
static void set_label(encoder_t *e, int i, const char *name, size_t len)
{
    if (e->w.labels[i]) return;
    e->w.labels[i] = name ? own(e, xstrndup(name, len)) : own(e, xasprintf("LABEL_%d", i));
}

static int check_shape(const struct config *c, char *err, size_t err_len)
{
    if (c->n_embd < 1 || c->n_layer < 1 || c->n_head < 1 || c->n_ff < 1 || c->n_vocab < 1 ||
        c->n_embd > 65536 || c->n_ff > (1 << 20) || c->n_layer > 1024 || c->n_head > 1024 ||
        c->n_embd % c->n_head || c->n_pos < 1 || c->n_pos > (1 << 20) || !(c->eps > 0) ||
        !isfinite(c->eps))
        return ragd_errf(
            err, err_len, RAGD_EFORMAT,
            "inconsistent shape (hidden %d, layers %d, heads %d, ffn %d, positions %d, "
            "epsilon %g)",
            c->n_embd, c->n_layer, c->n_head, c->n_ff, c->n_pos, (double)c->eps);
    return 0;
}

/* ---- GGUF ---- */

static int gguf_int(const gguf_t *g, const char *key, int def, int *out, char *err, size_t err_len)
{
    uint64_t v;
    int rc = gguf_get_u64(g, key, &v);
    if (rc == RAGD_ENOTFOUND && def >= 0) {
        *out = def;
        return 0;
    }
    if (rc || v > (1u << 30))
        return ragd_errf(err, err_len, RAGD_EFORMAT, "metadata %s is missing or invalid", key);
    *out = (int)v;
    return 0;
}

static int load_gguf(encoder_t *e, const char *path, char *err, size_t err_len)
{
    int rc = gguf_open(path, &e->gguf, err, err_len);
    if (rc) return rc;
    const gguf_t *g = e->gguf;
    struct config *c = &e->cfg;
    char *arch = NULL;
    if (gguf_get_str(g, "general.architecture", &arch))
        return ragd_errf(err, err_len, RAGD_EFORMAT, "general.architecture missing or invalid");
    int bert = !strcmp(arch, "bert");
    if (!bert) {
        rc = ragd_errf(err, err_len, RAGD_ENOTSUP,
                       "GGUF architecture '%s' is not an encoder ragd "
                       "runs (bert; MPNet loads from a Hugging Face folder)",
                       arch);
        free(arch);
        return rc;
    }
    free(arch);
    c->arch = ARCH_BERT;
    c->act = ACT_GELU_ERF;
    int pooling = 1;
    if ((rc = gguf_int(g, "bert.embedding_length", -1, &c->n_embd, err, err_len)) ||
        (rc = gguf_int(g, "bert.block_count", -1, &c->n_layer, err, err_len)) ||
        (rc = gguf_int(g, "bert.feed_forward_length", -1, &c->n_ff, err, err_len)) ||
        (rc = gguf_int(g, "bert.attention.head_count", -1, &c->n_head, err, err_len)) ||
        (rc = gguf_int(g, "bert.context_length", 512, &c->max_seq, err, err_len)) ||
        (rc = gguf_int(g, "bert.pooling_type", 1, &pooling, err, err_len)))
        return rc;
    if (pooling > 2 && pooling != 4)
        return ragd_errf(err, err_len, RAGD_ENOTSUP,
                         "bert.pooling_type %d is not supported "
                         "(mean, cls or rank)",
                         pooling);
    c->pool_cls = pooling == 2 || pooling == 4; /* rank: a classifier on the first token */
    rc = gguf_get_f32(g, "bert.attention.layer_norm_epsilon", &c->eps);
    if (rc == RAGD_ENOTFOUND)
        c->eps = 1e-12f;
    else if (rc)
        return ragd_errf(err, err_len, RAGD_EFORMAT,
                         "bert.attention.layer_norm_epsilon is invalid");
    const struct gguf_tensor *t;
    if (!(t = gguf_find_tensor(g, "token_embd.weight")) || t->n_dims != 2)
        return ragd_errf(err, err_len, RAGD_EFORMAT, "token_embd.weight missing or malformed");
    c->n_vocab = (int)(t->ne[1] > (1 << 24) ? 0 : t->ne[1]);
    if (!(t = gguf_find_tensor(g, "position_embd.weight")) || t->n_dims != 2)
        return ragd_errf(err, err_len, RAGD_EFORMAT, "position_embd.weight missing or malformed");
    c->n_pos = (int)(t->ne[1] > (1 << 20) ? 0 : t->ne[1]);
    t = gguf_find_tensor(g, "token_types.weight");
    c->n_types = t ? (int)(t->ne[1] > 1024 ? 0 : t->ne[1]) : 0;
    if (t && c->n_types < 1)
        return ragd_errf(err, err_len, RAGD_EFORMAT, "token_types.weight is malformed");
    if ((rc = check_shape(c, err, err_len))) return rc;
    c->head_dim = c->n_embd / c->n_head;
    struct loader ld = {e, "", err, err_len};
    if ((rc = load_weights(&ld, SRC_GGUF)) || (rc = load_head(&ld, SRC_GGUF))) return rc;
    if (e->w.n_labels) {
        const struct gguf_value *lv = NULL;
        if (!gguf_get_arr(g, "bert.classifier.output_labels", &lv) &&
            lv->v.arr.elem_type == GGUF_TYPE_STRING)
            for (uint64_t i = 0; i < lv->v.arr.n && i < (uint64_t)e->w.n_labels; i++)
                set_label(e, (int)i, lv->v.arr.items[i].v.str.ptr, lv->v.arr.items[i].v.str.len);
        for (int i = 0; i < e->w.n_labels; i++)
            set_label(e, i, NULL, 0);
    }
    if ((rc = tok_gguf_load(g, &e->tok, err, err_len)))
        return rc == RAGD_ENOTFOUND ? ragd_errf(err, err_len, RAGD_EFORMAT, "no tokenizer metadata")
                                    : rc;
    return 0;
}

/* ---- Hugging Face folder ---- */

static int read_file(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? RAGD_ENOTFOUND : RAGD_EIO;
    size_t cap = 1 << 16, n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n == cap) b = xrealloc(b, cap *= 2);
        size_t k = fread(b + n, 1, cap - n, f);
        if (k == 0) break;
        n += k;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return RAGD_EIO;
    }
    *buf = b;
    *len = n;
    return 0;
}

static json_t *load_json(const char *dir, const char *name, int *rc, char *err, size_t err_len)
{
    char *path = xasprintf("%s/%s", dir, name);
    json_error_t je;
    json_t *j = NULL;
    struct stat sb;
    *rc = 0;
    if (stat(path, &sb) == 0) {
        j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!j || !json_is_object(j))
            *rc = ragd_errf(err, err_len, RAGD_EFORMAT, "%s: %s", name,
                            j ? "not a JSON object" : je.text);
        if (*rc) {
            json_decref(j);
            j = NULL;
        }
    }
    free(path);
    return j;
}

static int json_int(json_t *o, const char *key, int def, int *out, char *err, size_t err_len)
{
    json_t *v = json_object_get(o, key);
    if (!v && def >= 0) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1 << 30))
        return ragd_errf(err, err_len, RAGD_EFORMAT, "config.json: %s is missing or invalid", key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int hf_tokenizer(encoder_t *e, const char *dir, char *err, size_t err_len)
{
    char *path = xasprintf("%s/tokenizer.json", dir), *buf = NULL;
    size_t len;
    struct tokenizer_spec *spec = NULL;
    int rc = read_file(path, &buf, &len), json = 1;
    if (rc == RAGD_ENOTFOUND) {
        free(path);
        path = xasprintf("%s/vocab.txt", dir);
        json = 0;
        rc = read_file(path, &buf, &len);
    }
    if (rc) {
        rc = ragd_errf(err, err_len, RAGD_EIO, "%s: cannot read tokenizer.json or vocab.txt", dir);
        goto out;
    }
    rc = json ? tokenizer_spec_from_hf_json(buf, len, &spec)
              : tokenizer_spec_from_vocab_txt(buf, len, &spec);
    if (rc) {
        rc = ragd_errf(err, err_len, rc, "%s: unusable tokenizer (%s)", path, ragd_strerror(rc));
        goto out;
    }
    if (tokenizer_spec_is_bpe(spec)) {
        rc = ragd_errf(err, err_len, RAGD_ENOTSUP, "%s: encoders need a WordPiece tokenizer", path);
        goto out;
    }
    if (!json) {
        int jrc;
        json_t *tc = load_json(dir, "tokenizer_config.json", &jrc, err, err_len);
        json_t *lc = tc ? json_object_get(tc, "do_lower_case") : NULL;
        if (json_is_boolean(lc)) spec->lowercase = json_is_true(lc);
        json_decref(tc);
    }
    rc = tokenizer_create_wordpiece(spec, &e->tok);
    if (rc) rc = ragd_errf(err, err_len, rc, "%s: cannot build the tokenizer", path);
out:
    tokenizer_spec_free(spec);
    free(buf);
    free(path);
    return rc;
}

static int load_hf(encoder_t *e, const char *dir, char *err, size_t err_len)
{
    struct config *c = &e->cfg;
    int rc;
    json_t *cfg = load_json(dir, "config.json", &rc, err, err_len), *sb = NULL, *pl = NULL;
    char *st_path = NULL;
    if (rc) return rc;
    if (!cfg)
        return ragd_errf(err, err_len, RAGD_EIO,
                         "%s has no config.json (expected a GGUF file or a "
                         "Hugging Face model folder)",
                         dir);
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    if (!mt || (strcmp(mt, "bert") && strcmp(mt, "mpnet"))) {
        rc = ragd_errf(err, err_len, RAGD_ENOTSUP,
                       "config.json: model_type '%s' is not supported "
                       "(bert, mpnet)",
                       mt ? mt : "?");
        goto out;
    }
    c->arch = !strcmp(mt, "bert") ? ARCH_BERT : ARCH_MPNET;
    int mp = c->arch == ARCH_MPNET;
    if ((rc = json_int(cfg, "hidden_size", -1, &c->n_embd, err, err_len)) ||
        (rc = json_int(cfg, "num_hidden_layers", -1, &c->n_layer, err, err_len)) ||
        (rc = json_int(cfg, "num_attention_heads", -1, &c->n_head, err, err_len)) ||
        (rc = json_int(cfg, "intermediate_size", -1, &c->n_ff, err, err_len)) ||
        (rc = json_int(cfg, "max_position_embeddings", 512, &c->n_pos, err, err_len)) ||
        (rc = json_int(cfg, "vocab_size", -1, &c->n_vocab, err, err_len)) ||
        (rc = json_int(cfg, "type_vocab_size", mp ? 0 : 2, &c->n_types, err, err_len)))
        goto out;
    json_t *eps = json_object_get(cfg, "layer_norm_eps");
    c->eps = eps ? (float)json_number_value(eps) : mp ? 1e-5f : 1e-12f;
    const char *act = json_string_value(json_object_get(cfg, "hidden_act"));
    if (!act || !strcmp(act, "gelu")) {
        c->act = ACT_GELU_ERF;
    } else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh")) {
        c->act = ACT_GELU_TANH;
    } else {
        rc = ragd_errf(err, err_len, RAGD_ENOTSUP, "config.json: hidden_act '%s' is not supported",
                       act);
        goto out;
    }
    const char *pet = json_string_value(json_object_get(cfg, "position_embedding_type"));
    if (pet && strcmp(pet, "absolute")) {
        rc = ragd_errf(err, err_len, RAGD_ENOTSUP,
                       "config.json: position_embedding_type '%s' is "
                       "not supported",
                       pet);
        goto out;
    }
    if ((rc = check_shape(c, err, err_len))) goto out;
    c->head_dim = c->n_embd / c->n_head;
    c->pos_base = mp ? MPNET_PADDING_IDX + 1 : 0;
    c->max_seq = c->n_pos - c->pos_base;
    /* sentence-transformers settings */
    if (!(sb = load_json(dir, "sentence_bert_config.json", &rc, err, err_len)) && rc) goto out;
    json_t *msl = sb ? json_object_get(sb, "max_seq_length") : NULL;
    if (json_is_integer(msl) && json_integer_value(msl) >= 2 &&
        json_integer_value(msl) < c->max_seq)
        c->max_seq = (int)json_integer_value(msl);
    if (!(pl = load_json(dir, "1_Pooling/config.json", &rc, err, err_len)) && rc) goto out;
    if (pl && json_is_true(json_object_get(pl, "pooling_mode_cls_token"))) c->pool_cls = 1;
    if (pl && !c->pool_cls && !json_is_true(json_object_get(pl, "pooling_mode_mean_tokens"))) {
        rc = ragd_errf(err, err_len, RAGD_ENOTSUP,
                       "1_Pooling/config.json: only mean or CLS "
                       "pooling is supported");
        goto out;
    }

    st_path = xasprintf("%s/model.safetensors", dir);
    struct stat sbuf;
    if (stat(st_path, &sbuf)) {
        char *idx = xasprintf("%s/model.safetensors.index.json", dir);
        int sharded = stat(idx, &sbuf) == 0;
        free(idx);
        rc = ragd_errf(err, err_len, sharded ? RAGD_ENOTSUP : RAGD_EIO,
                       sharded ? "%s: sharded safetensors are not supported"
                               : "%s: model.safetensors is missing (convert pytorch_model.bin)",
                       dir);
        goto out;
    }
    if ((rc = safetensors_open(st_path, &e->st, err, err_len))) goto out;
    static const char *const prefixes[] = {"", "bert.", "mpnet."};
    const char *prefix = NULL;
    for (int i = 0; i < 3 && !prefix; i++) {
        char name[64];
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", prefixes[i]);
        if (safetensors_find(e->st, name)) prefix = prefixes[i];
    }
    if (!prefix) {
        rc = ragd_errf(err, err_len, RAGD_EFORMAT, "%s: no embeddings.word_embeddings.weight",
                       st_path);
        goto out;
    }
    struct loader ld = {e, prefix, err, err_len};
    if ((rc = load_weights(&ld, mp ? SRC_HF_MPNET : SRC_HF_BERT)) ||
        (rc = load_head(&ld, mp ? SRC_HF_MPNET : SRC_HF_BERT)))
        goto out;
    if (e->w.n_labels) { /* id2label: {"0": "NEGATIVE", ...} */
        json_t *id2 = json_object_get(cfg, "id2label");
        for (int i = 0; i < e->w.n_labels; i++) {
            char key[16];
            snprintf(key, sizeof key, "%d", i);
            const char *name = json_string_value(json_object_get(id2, key));
            set_label(e, i, name, name ? strlen(name) : 0);
        }
    }
    rc = hf_tokenizer(e, dir, err, err_len);
out:
    free(st_path);
    json_decref(pl);
    json_decref(sb);
    json_decref(cfg);
    return rc;
}

/* ---- load / free ---- */

#define PANEL_ROWS 16    /* weight rows per matmul work item */
#define CHUNK_TOK 96     /* tokens per matmul work item (a multiple of the kernel's 3) */
#define Q8_PANEL_ROWS 64 /* the same on the int8 path: one panel of the tiled q8_0 GEMM */
#define Q8_CHUNK_TOK 256

/* Gives each layer matrix whose width suits the bf16 kernel a bfloat16 copy of its rows
 * (dequantized first when stored quantized). */
static void mat_to_bf16(encoder_t *e, struct mat *m)
{
    size_t K = (size_t)m->cols;
    if (K % ENC_BF16_K) return;
    uint16_t *dst = own(e, xmalloc((size_t)m->rows * K * sizeof *dst));
    float *row = xmalloc(K * sizeof *row);
    for (int64_t r = 0; r < m->rows; r++) {
        const uint8_t *src = (const uint8_t *)m->data + (size_t)r * m->row_bytes;
        if (m->type == GGML_TYPE_F32)
            enc_to_bf16((const float *)(const void *)src, dst + (size_t)r * K, K);
        else {
            quant_dequantize_row(m->type, src, row, K);
            enc_to_bf16(row, dst + (size_t)r * K, K);
        }
    }
    free(row);
    m->bf16 = dst;
}

/* Gives each layer matrix whose width suits the q8_0 GEMM its rows in q8_0: the file's own
 * when stored so, else quantized from f32 (dequantized first when stored otherwise). */
static void mat_to_q8(encoder_t *e, struct mat *m)
{
    size_t K = (size_t)m->cols, rb = quant_row_bytes(GGML_TYPE_Q8_0, K);
    if (K % 32) return;
    m->q8_row_bytes = rb;
    if (m->type == GGML_TYPE_Q8_0) {
        m->q8 = m->data;
        return;
    }
    uint8_t *dst = own(e, xmalloc((size_t)m->rows * rb));
    float *row = xmalloc(K * sizeof *row);
    for (int64_t r = 0; r < m->rows; r++) {
        const uint8_t *src = (const uint8_t *)m->data + (size_t)r * m->row_bytes;
        const float *x = (const float *)(const void *)src;
        if (m->type != GGML_TYPE_F32) {
            quant_dequantize_row(m->type, src, row, K);
            x = row;
        }
        quant_quantize_row(GGML_TYPE_Q8_0, x, dst + (size_t)r * rb, K);
    }
    free(row);
    m->q8 = dst;
}

/* convert(e, m) on every layer matrix */
static void each_layer_mat(encoder_t *e, void (*convert)(encoder_t *, struct mat *))
{
    for (int i = 0; i < e->cfg.n_layer; i++) {
        struct layer *l = &e->w.layers[i];
        struct mat *ms[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_up, &l->w_down};
        for (size_t k = 0; k < sizeof ms / sizeof *ms; k++)
            convert(e, ms[k]);
    }
}

int encoder_load(const char *path, const struct encoder_opts *opts, encoder_t **out, char *err,
                 size_t err_len)
{
    struct encoder_opts o = opts ? *opts : (struct encoder_opts){0};
    if (o.max_seq < 0 || o.max_seq == 1 || o.n_threads < 0 || o.n_threads > 1024)
        return ragd_errf(err, err_len, RAGD_EINVAL, "invalid options (max_seq %d, threads %d)",
                         o.max_seq, o.n_threads);
    struct stat sb;
    if (stat(path, &sb))
        return ragd_errf(err, err_len, RAGD_EIO, "cannot open %s: %s", path, strerror(errno));
    encoder_t *e = xcalloc(1, sizeof *e);
    pthread_mutex_init(&e->lock, NULL);
    int rc =
        S_ISDIR(sb.st_mode) ? load_hf(e, path, err, err_len) : load_gguf(e, path, err, err_len);
    if (rc) goto fail;
    struct config *c = &e->cfg;
    if (tokenizer_n_vocab(e->tok) > (size_t)c->n_vocab) {
        rc = ragd_errf(err, err_len, RAGD_EFORMAT,
                       "the tokenizer has %zu tokens but the embedding "
                       "only %d rows",
                       tokenizer_n_vocab(e->tok), c->n_vocab);
        goto fail;
    }
    e->cls_id = tokenizer_special_id(e->tok, "cls");
    e->sep_id = tokenizer_special_id(e->tok, "sep");
    if (e->cls_id < 0) e->cls_id = tokenizer_special_id(e->tok, "bos");
    if (e->sep_id < 0) e->sep_id = tokenizer_special_id(e->tok, "eos");
    e->pad_id = tokenizer_special_id(e->tok, "pad");
    if (e->pad_id < 0) e->pad_id = 0;
    if (e->cls_id < 0 || e->sep_id < 0) {
        rc = ragd_errf(err, err_len, RAGD_EFORMAT, "the tokenizer has no [CLS]/<s> or [SEP]/</s>");
        goto fail;
    }
    int limit = c->arch == ARCH_MPNET ? c->n_pos - c->pos_base : c->n_pos;
    if (c->max_seq > limit) c->max_seq = limit;
    if (o.max_seq && o.max_seq < c->max_seq) c->max_seq = o.max_seq;
    if (c->max_seq < 2) {
        rc = ragd_errf(err, err_len, RAGD_EFORMAT, "the model has room for %d positions", limit);
        goto fail;
    }
    if ((rc = pool_create(o.n_threads, &e->pool))) {
        ragd_errf(err, err_len, rc, "cannot start threads");
        goto fail;
    }
    e->n_threads = pool_size(e->pool);
    e->isa = quant_best_isa();
    e->kernel = enc_kernel_pick(e->isa);
    e->axpy = quant_axpy_kernel(e->isa);
    e->act_q8 = quant_act_kernel(quant_act_kind(GGML_TYPE_Q8_0), e->isa);
    if (o.int8 && (e->gemm_q8 = quant_gemm_kernel(GGML_TYPE_Q8_0, e->isa)))
        each_layer_mat(e, mat_to_q8);
    else if (o.bf16 && (e->kernel_bf16 = enc_kernel_bf16_pick()))
        each_layer_mat(e, mat_to_bf16);
    size_t widest = (size_t)(c->n_ff > c->n_embd ? c->n_ff : c->n_embd);
    e->panel = xcalloc((size_t)e->n_threads, sizeof *e->panel);
    for (int i = 0; i < e->n_threads; i++)
        e->panel[i] = xmalloc(PANEL_ROWS * widest * sizeof(float));
    *out = e;
    return 0;
fail:
    encoder_free(e);
    return rc;
}

static void state_free(struct state *s)
{
    free(s->x);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->ctx);
    free(s->tmp);
    free(s->ffn);
    free(s->scores);
    free(s->vt);
    free(s->bias_tab);
    free(s->ids);
    free(s->lens);
    memset(s, 0, sizeof *s);
}

void encoder_free(encoder_t *e)
{
    if (!e) return;
    state_free(&e->s);
    if (e->panel)
        for (int i = 0; i < e->n_threads; i++)
            free(e->panel[i]);
    free(e->panel);
    free(e->abf);
    free(e->aq);
    pool_free(e->pool);
    tokenizer_free(e->tok);
    for (size_t i = 0; i < e->n_owned; i++)
        free(e->owned[i]);
    free(e->owned);
    safetensors_close(e->st);
    gguf_close(e->gguf);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

int encoder_dim(const encoder_t *e)
{
    return e->cfg.n_embd;
}
int encoder_max_seq(const encoder_t *e)
{
    return e->cfg.max_seq;
}
const char *encoder_arch(const encoder_t *e)
{
    return e->cfg.arch == ARCH_BERT ? "bert" : "mpnet";
}
const char *encoder_pooling(const encoder_t *e)
{
    return e->cfg.pool_cls ? "cls" : "mean";
}
const tokenizer_t *encoder_tokenizer(const encoder_t *e)
{
    return e->tok;
}

int encoder_tokenize(const encoder_t *e, const char *text, size_t len, int32_t **ids, size_t *n_ids)
{
    int32_t *raw;
    size_t n;
    int rc = tokenizer_encode(e->tok, text, len, 0, &raw, &n);
    if (rc) return rc;
    size_t keep = n < (size_t)e->cfg.max_seq - 2 ? n : (size_t)e->cfg.max_seq - 2;
    int32_t *o = xmalloc((keep + 2) * sizeof *o);
    o[0] = e->cls_id;
    memcpy(o + 1, raw, keep * sizeof *o);
    o[keep + 1] = e->sep_id;
    free(raw);
    *ids = o;
    *n_ids = keep + 2;
    return 0;
}

/* ---- matrix products: out[t, r] = act(W[r, :] . a[t, :] + bias[r]) ---- */

struct mm_job {
    encoder_t *e;
    const float *a; /* [n_tok, cols] */
    int n_tok;
    const struct mat *w;
    const float *bias;
    int gelu;   /* 0 none, else the config's GELU */
    float *out; /* [n_tok, rows] */
    kernel_fn kernel;
    enc_kernel_bf16_fn kernel_bf16; /* with abf: the bf16 path */
    const uint16_t *abf;            /* a as bf16, [n_tok, cols] */
    quant_gemm_fn gemm_q8;          /* with aq: the int8 path */
    const uint8_t *aq;              /* a quantized for gemm_q8, rows aq_stride bytes apart */
    size_t aq_stride;
    int n_panels, n_items;
    atomic_int next;
};

/* out[t, c0 + q] = o[m][q] + bias for the block's tokens t = t0 + m < t1 and its nc columns */
static void mm_store(const struct mm_job *j, int t, int t1, int64_t c0, int nc, float o[MR][NR])
{
    int64_t N = j->w->rows;
    for (int m = 0; m < MR && t + m < t1; m++) {
        float *dst = j->out + (size_t)(t + m) * N + c0;
        for (int q = 0; q < NR && q < nc; q++)
            dst[q] = o[m][q] + j->bias[c0 + q];
    }
}

/* The GELU of a finished work item's outputs, while they are in cache. */
static void mm_gelu(const struct mm_job *j, int64_t r0, int nr, int t0, int t1)
{
    if (!j->gelu) return;
    for (int t = t0; t < t1; t++)
        enc_gelu(j->out + (size_t)t * (size_t)j->w->rows + r0, (size_t)nr,
                 j->e->cfg.act == ACT_GELU_TANH);
}

/* One work item of the bf16 path: tokens [t0, t1) against weight rows [r0, r0 + nr). */
static void mm_bf16_item(const struct mm_job *j, int64_t r0, int nr, int t0, int t1)
{
    size_t K = (size_t)j->w->cols;
    for (int t = t0; t < t1; t += MR) {
        const uint16_t *a[MR];
        for (int m = 0; m < MR; m++)
            a[m] = j->abf + (size_t)(t + m < t1 ? t + m : t1 - 1) * K;
        for (int r = 0; r < nr; r += NR) {
            const uint16_t *wr[NR];
            for (int q = 0; q < NR; q++)
                wr[q] = j->w->bf16 + (size_t)(r0 + (r + q < nr ? r + q : nr - 1)) * K;
            float o[MR][NR];
            j->kernel_bf16(a, wr, K, o);
            mm_store(j, t, t1, r0 + r, nr - r, o);
        }
    }
}

/* One work item of the int8 path: the tiled q8_0 product of weight rows [r0, r0 + nr) and
 * tokens [t0, t1), written straight into out, then the bias. */
static void mm_q8_item(const struct mm_job *j, int64_t r0, int nr, int t0, int t1)
{
    size_t N = (size_t)j->w->rows;
    float *out = j->out + (size_t)t0 * N + (size_t)r0;
    j->gemm_q8(j->w->q8 + (size_t)r0 * j->w->q8_row_bytes, j->w->q8_row_bytes, nr,
               j->aq + (size_t)t0 * j->aq_stride, j->aq_stride, t1 - t0, out, N,
               (size_t)j->w->cols);
    for (int t = 0; t < t1 - t0; t++)
        for (int r = 0; r < nr; r++)
            out[(size_t)t * N + (size_t)r] += j->bias[r0 + r];
}

/* Activation rows quantized for the int8 path, in parallel. */
struct quant_job {
    quant_act_fn quantize;
    const float *a;
    uint8_t *aq;
    size_t cols, stride;
    int n_tok;
    atomic_int next;
};

static void quant_worker(void *arg, int ith, int nth)
{
    struct quant_job *j = arg;
    (void)ith, (void)nth;
    for (;;) {
        int t0 = atomic_fetch_add(&j->next, 16);
        if (t0 >= j->n_tok) return;
        for (int t = t0; t < t0 + 16 && t < j->n_tok; t++)
            j->quantize(j->a + (size_t)t * j->cols, j->aq + (size_t)t * j->stride, j->cols);
    }
}

static void mm_worker(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    (void)nth;
    const struct mat *w = j->w;
    size_t K = (size_t)w->cols;
    int64_t N = w->rows;
    for (;;) {
        int item = atomic_fetch_add(&j->next, 1);
        if (item >= j->n_items) return;
        int chunk = item / j->n_panels, panel = item % j->n_panels;
        int pr = j->aq ? Q8_PANEL_ROWS : PANEL_ROWS, ct = j->aq ? Q8_CHUNK_TOK : CHUNK_TOK;
        int64_t r0 = (int64_t)panel * pr;
        int nr = (int)(N - r0 < pr ? N - r0 : pr);
        int t0 = chunk * ct, t1 = t0 + ct < j->n_tok ? t0 + ct : j->n_tok;
        if (j->aq) {
            mm_q8_item(j, r0, nr, t0, t1);
            mm_gelu(j, r0, nr, t0, t1);
            continue;
        }
        if (j->abf) {
            mm_bf16_item(j, r0, nr, t0, t1);
            mm_gelu(j, r0, nr, t0, t1);
            continue;
        }
        const float *rows[PANEL_ROWS];
        for (int r = 0; r < nr; r++) {
            const uint8_t *src = (const uint8_t *)w->data + (size_t)(r0 + r) * w->row_bytes;
            if (w->type == GGML_TYPE_F32) {
                rows[r] = (const float *)(const void *)src;
            } else {
                float *dst = j->e->panel[ith] + (size_t)r * K;
                quant_dequantize_row(w->type, src, dst, K);
                rows[r] = dst;
            }
        }
        for (int t = t0; t < t1; t += MR) {
            const float *a[MR];
            for (int m = 0; m < MR; m++) /* past the end: repeat the last row, drop results */
                a[m] = j->a + (size_t)(t + m < t1 ? t + m : t1 - 1) * K;
            for (int r = 0; r < nr; r += NR) {
                const float *wr[NR];
                for (int q = 0; q < NR; q++)
                    wr[q] = rows[r + q < nr ? r + q : nr - 1];
                float o[MR][NR];
                j->kernel(a, wr, K, o);
                mm_store(j, t, t1, r0 + r, nr - r, o);
            }
        }
        mm_gelu(j, r0, nr, t0, t1);
    }
}

enum { PREP_BF16 = 1, PREP_INT8 };

/* out = act(a w^T + bias). same_input: a is the previous call's input, unchanged, so its
 * converted form (bf16 or int8) is reused. */
static void matmul(encoder_t *e, const struct mat *w, const float *bias, int gelu_act,
                   const float *a, int n_tok, float *out, int same_input)
{
    struct mm_job j = {.e = e,
                       .a = a,
                       .n_tok = n_tok,
                       .w = w,
                       .bias = bias,
                       .gelu = gelu_act,
                       .out = out,
                       .kernel = e->kernel};
    int pr = PANEL_ROWS, ct = CHUNK_TOK;
    if (w->q8 && e->gemm_q8) {
        size_t cols = (size_t)w->cols;
        size_t stride = quant_act_row_bytes(quant_act_kind(GGML_TYPE_Q8_0), cols);
        if ((size_t)n_tok * stride > e->aq_cap) {
            free(e->aq);
            e->aq = xmalloc((size_t)n_tok * stride);
            e->aq_cap = (size_t)n_tok * stride;
        }
        if (!same_input || e->prep_kind != PREP_INT8 || e->prep_n != (size_t)n_tok * cols) {
            e->prep_kind = PREP_INT8, e->prep_n = (size_t)n_tok * cols;
            struct quant_job qj = {.quantize = e->act_q8,
                                   .a = a,
                                   .aq = e->aq,
                                   .cols = cols,
                                   .stride = stride,
                                   .n_tok = n_tok};
            atomic_init(&qj.next, 0);
            pool_run(e->pool, quant_worker, &qj);
        }
        j.aq = e->aq;
        j.aq_stride = stride;
        j.gemm_q8 = e->gemm_q8;
        pr = Q8_PANEL_ROWS, ct = Q8_CHUNK_TOK;
    } else if (w->bf16 && e->kernel_bf16) {
        size_t n = (size_t)n_tok * (size_t)w->cols;
        if (n > e->abf_cap) {
            free(e->abf);
            e->abf = xmalloc(n * sizeof *e->abf);
            e->abf_cap = n;
        }
        if (!same_input || e->prep_kind != PREP_BF16 || e->prep_n != n) {
            e->prep_kind = PREP_BF16, e->prep_n = n;
            enc_to_bf16(a, e->abf, n);
        }
        j.abf = e->abf;
        j.kernel_bf16 = e->kernel_bf16;
    }
    j.n_panels = (int)((w->rows + pr - 1) / pr);
    j.n_items = j.n_panels * ((n_tok + ct - 1) / ct);
    atomic_init(&j.next, 0);
    pool_run(e->pool, mm_worker, &j);
}

/* ---- row-wise ops ---- */

enum row_op { ROW_EMBED, ROW_ADD_NORM };

struct row_job {
    encoder_t *e;
    enum row_op op;
    int S;            /* padded length (embedding positions) */
    const float *add; /* ROW_ADD_NORM: [T, D] added to x first */
    const float *norm_w, *norm_b;
    int n_rows;
    atomic_int next;
};

static void row_worker(void *arg, int ith, int nth)
{
    struct row_job *j = arg;
    encoder_t *e = j->e;
    const struct config *c = &e->cfg;
    const struct weights *w = &e->w;
    int D = c->n_embd;
    (void)nth;
    float *tmp = e->panel[ith];
    for (;;) {
        int t0 = atomic_fetch_add(&j->next, 16);
        if (t0 >= j->n_rows) return;
        int t1 = t0 + 16 < j->n_rows ? t0 + 16 : j->n_rows;
        for (int t = t0; t < t1; t++) {
            float *x = e->s.x + (size_t)t * D;
            if (j->op == ROW_EMBED) {
                int b = t / j->S, i = t % j->S, real = i < e->s.lens[b];
                /* MPNet numbers real tokens from padding_idx + 1 and gives padding the
                 * padding_idx position, as the reference does */
                int pos = c->arch == ARCH_MPNET ? (real ? c->pos_base + i : MPNET_PADDING_IDX) : i;
                quant_dequantize_row(w->tok.type,
                                     (const uint8_t *)w->tok.data +
                                         (size_t)e->s.ids[t] * w->tok.row_bytes,
                                     x, (size_t)D);
                quant_dequantize_row(w->pos.type,
                                     (const uint8_t *)w->pos.data + (size_t)pos * w->pos.row_bytes,
                                     tmp, (size_t)D);
                for (int k = 0; k < D; k++)
                    x[k] += tmp[k] + (w->type0 ? w->type0[k] : 0.0f);
            } else {
                const float *a = j->add + (size_t)t * D;
                for (int k = 0; k < D; k++)
                    x[k] += a[k];
            }
            ops_layernorm(x, x, j->norm_w, j->norm_b, D, c->eps);
        }
    }
}

static void rows_run(encoder_t *e, enum row_op op, int n_rows, int S, const float *add,
                     const float *nw, const float *nb)
{
    struct row_job j = {
        .e = e, .op = op, .S = S, .add = add, .norm_w = nw, .norm_b = nb, .n_rows = n_rows};
    atomic_init(&j.next, 0);
    pool_run(e->pool, row_worker, &j);
}

/* ---- attention ---- */

/* T5 / MPNet bucket of the relative position mem - ctx, bidirectional, in float32 like the
 * reference so that the boundaries between log-spaced buckets agree. */
static int rel_bucket(int rel)
{
    int half = MPNET_BUCKETS / 2, max_exact = half / 2;
    int n = -rel, ret = n < 0 ? half : 0;
    n = abs(n);
    if (n < max_exact) return ret + n;
    float f = logf((float)n / (float)max_exact) /
              (float)log((double)MPNET_MAX_DISTANCE / max_exact) * (float)(half - max_exact);
    int large = max_exact + (int)f;
    return ret + (large < half - 1 ? large : half - 1);
}

struct attn_job {
    encoder_t *e;
    int B, S;
    atomic_int next;
};

static void attn_worker(void *arg, int ith, int nth)
{
    struct attn_job *j = arg;
    encoder_t *e = j->e;
    const struct config *c = &e->cfg;
    int D = c->n_embd, hd = c->head_dim, H = c->n_head, S = j->S;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = e->s.scores + (size_t)ith * MR * S; /* [MR, S] scores of MR queries */
    float *vt = e->s.vt + (size_t)ith * hd * S;     /* [hd, S] the head's values, transposed */
    (void)nth;
    for (;;) {
        int item = atomic_fetch_add(&j->next, 1);
        if (item >= j->B * H) return;
        int b = item / H, h = item % H, len = e->s.lens[b];
        const float *bias =
            e->s.bias_tab ? e->s.bias_tab + (size_t)h * (2 * S - 1) + (S - 1) : NULL;
        const float *q0 = e->s.q + (size_t)b * S * D + (size_t)h * hd;
        const float *k0 = e->s.k + (size_t)b * S * D + (size_t)h * hd;
        const float *v0 = e->s.v + (size_t)b * S * D + (size_t)h * hd;
        float *o0 = e->s.ctx + (size_t)b * S * D + (size_t)h * hd;
        for (int i = len; i < S; i++) /* padding: attends to nothing, feeds nothing */
            memset(o0 + (size_t)i * D, 0, (size_t)hd * sizeof(float));
        /* the weighted values as products of score rows and value columns (the matrix
         * kernel, NR columns at a time) */
        for (int k = 0; k < len; k++)
            for (int d = 0; d < hd; d++)
                vt[(size_t)d * S + k] = v0[(size_t)k * D + d];
        /* masked keys (>= len) get weight 0: they are simply not visited */
        for (int i = 0; i < len; i += MR) {
            int ni = len - i < MR ? len - i : MR;
            const float *qs[MR];
            for (int m = 0; m < MR; m++) /* past the end: repeat the last row */
                qs[m] = q0 + (size_t)(i + (m < ni ? m : ni - 1)) * D;
            for (int k = 0; k < len; k += NR) {
                int nk = len - k < NR ? len - k : NR;
                const float *ks[NR];
                for (int r = 0; r < NR; r++)
                    ks[r] = k0 + (size_t)(k + (r < nk ? r : nk - 1)) * D;
                float o[MR][NR];
                e->kernel(qs, ks, (size_t)hd, o);
                for (int m = 0; m < ni; m++)
                    for (int r = 0; r < nk; r++)
                        sc[m * S + k + r] = o[m][r] * scale + (bias ? bias[k + r - i - m] : 0.0f);
            }
            const float *ps[MR];
            for (int m = 0; m < MR; m++) {
                if (m < ni) ops_softmax(sc + m * S, len);
                ps[m] = sc + (m < ni ? m : ni - 1) * S;
            }
            for (int d = 0; d < hd; d += NR) {
                const float *vs[NR];
                for (int r = 0; r < NR; r++)
                    vs[r] = vt + (size_t)(d + r < hd ? d + r : hd - 1) * S;
                float o[MR][NR];
                e->kernel(ps, vs, (size_t)len, o);
                for (int m = 0; m < ni; m++)
                    for (int r = 0; r < NR && d + r < hd; r++)
                        o0[(size_t)(i + m) * D + d + r] = o[m][r];
            }
        }
    }
}

/* ---- forward ---- */

/* 64-byte aligned (rows of a multiple of 16 floats then never straddle cache lines in the
 * kernels), or NULL. */
static float *alloc_acts(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n * sizeof(float) + 64) ? NULL : p;
}

static int state_reserve(encoder_t *e, int B, int S)
{
    struct state *s = &e->s;
    size_t T = (size_t)B * S;
    const struct config *c = &e->cfg;
    if (T <= s->cap_tok && S <= s->cap_seq && (size_t)B <= s->cap_tok) return 0;
    size_t nt = T > s->cap_tok ? T : s->cap_tok;
    int ns = S > s->cap_seq ? S : s->cap_seq;
    state_free(s);
    size_t D = (size_t)c->n_embd;
    s->x = alloc_acts(nt * D);
    s->q = alloc_acts(nt * D);
    s->k = alloc_acts(nt * D);
    s->v = alloc_acts(nt * D);
    s->ctx = alloc_acts(nt * D);
    s->tmp = alloc_acts(nt * D);
    s->ffn = alloc_acts(nt * (size_t)c->n_ff);
    s->scores = try_malloc((size_t)e->n_threads * MR * ns * sizeof(float));
    s->vt = try_malloc((size_t)e->n_threads * (size_t)c->head_dim * ns * sizeof(float));
    s->bias_tab =
        c->arch == ARCH_MPNET ? try_malloc((size_t)c->n_head * (2 * ns - 1) * sizeof(float)) : NULL;
    s->ids = try_malloc(nt * sizeof(int32_t));
    s->lens = try_malloc(nt * sizeof(int));
    if (!s->x || !s->q || !s->k || !s->v || !s->ctx || !s->tmp || !s->ffn || !s->scores || !s->vt ||
        (c->arch == ARCH_MPNET && !s->bias_tab) || !s->ids || !s->lens) {
        state_free(s);
        return RAGD_ENOMEM;
    }
    s->cap_tok = nt;
    s->cap_seq = ns;
    return 0;
}

/* Runs B sequences already placed in s.ids / s.lens (padded to S): the last hidden states
 * are left in s.x. */
static void forward_layers(encoder_t *e, int B, int S)
{
    const struct config *c = &e->cfg;
    const struct weights *w = &e->w;
    struct state *s = &e->s;
    int T = B * S;

    if (c->arch == ARCH_MPNET)
        for (int h = 0; h < c->n_head; h++)
            for (int r = -(S - 1); r <= S - 1; r++)
                s->bias_tab[(size_t)h * (2 * S - 1) + (size_t)(r + S - 1)] =
                    w->rel_bias[(size_t)rel_bucket(r) * c->n_head + h];

    rows_run(e, ROW_EMBED, T, S, NULL, w->emb_norm_w, w->emb_norm_b);
    for (int L = 0; L < c->n_layer; L++) {
        const struct layer *l = &w->layers[L];
        matmul(e, &l->wq, l->bq, 0, s->x, T, s->q, 0);
        matmul(e, &l->wk, l->bk, 0, s->x, T, s->k, 1);
        matmul(e, &l->wv, l->bv, 0, s->x, T, s->v, 1);
        struct attn_job aj = {.e = e, .B = B, .S = S};
        atomic_init(&aj.next, 0);
        pool_run(e->pool, attn_worker, &aj);
        matmul(e, &l->wo, l->bo, 0, s->ctx, T, s->tmp, 0);
        rows_run(e, ROW_ADD_NORM, T, S, s->tmp, l->attn_norm_w, l->attn_norm_b);
        matmul(e, &l->w_up, l->b_up, 1, s->x, T, s->ffn, 0);
        matmul(e, &l->w_down, l->b_down, 0, s->ffn, T, s->tmp, 0);
        rows_run(e, ROW_ADD_NORM, T, S, s->tmp, l->out_norm_w, l->out_norm_b);
    }
}

/* The classification head on each sequence's first token: logits [B, n_labels] into out. */
static void head(encoder_t *e, int B, int S, float *out)
{
    const struct weights *w = &e->w;
    int D = e->cfg.n_embd, NL = w->n_labels;
    float *pooled = e->s.tmp; /* [D] scratch: the hidden states are no longer needed */
    for (int b = 0; b < B; b++) {
        const float *h = e->s.x + (size_t)b * S * D;
        for (int r = 0; r < D; r++) {
            float acc = w->pool_b[r];
            const float *row = w->pool_w + (size_t)r * D;
            for (int k = 0; k < D; k++)
                acc += row[k] * h[k];
            pooled[r] = tanhf(acc);
        }
        for (int c = 0; c < NL; c++) {
            float acc = w->cls_b[c];
            const float *row = w->cls_w + (size_t)c * D;
            for (int k = 0; k < D; k++)
                acc += row[k] * pooled[k];
            out[(size_t)b * NL + c] = acc;
        }
    }
}

/* Runs the layers and pools each sequence into out ([B, n_embd], unit length), or, when
 * classify, writes the head's logits ([B, n_labels]). */
static void forward(encoder_t *e, int B, int S, float *out, int classify)
{
    const struct config *c = &e->cfg;
    struct state *s = &e->s;
    int D = c->n_embd;
    forward_layers(e, B, S);
    if (classify) {
        head(e, B, S, out);
        return;
    }
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * D;
        const float *x = s->x + (size_t)b * S * D;
        int len = s->lens[b];
        if (c->pool_cls) {
            memcpy(o, x, (size_t)D * sizeof *o);
        } else {
            memset(o, 0, (size_t)D * sizeof *o);
            for (int i = 0; i < len; i++)
                for (int k = 0; k < D; k++)
                    o[k] += x[(size_t)i * D + k];
            for (int k = 0; k < D; k++)
                o[k] /= (float)len;
        }
        double ss = 0;
        for (int k = 0; k < D; k++)
            ss += (double)o[k] * o[k];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (int k = 0; k < D; k++)
            o[k] *= inv;
    }
}

struct by_len {
    size_t len, idx;
};

static int cmp_len(const void *a, const void *b)
{
    const struct by_len *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Runs n sequences in batches: classify 0 writes n * n_embd vector floats, 1 writes
 * n * n_labels logits. */
static int run_ids(encoder_t *e, const int32_t *const *ids, const size_t *lens, size_t n, int batch,
                   float *out, int classify)
{
    const struct config *c = &e->cfg;
    if (batch <= 0) batch = 32;
    if (batch > 4096) return RAGD_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!ids[i] || lens[i] < 1 || lens[i] > (size_t)c->max_seq) return RAGD_EINVAL;
        for (size_t k = 0; k < lens[i]; k++)
            if (ids[i][k] < 0 || ids[i][k] >= c->n_vocab) return RAGD_EINVAL;
    }
    if (n == 0) return 0;
    /* longest first, so that each batch pads little and the first one sizes the buffers */
    struct by_len *order = xmalloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = (struct by_len){lens[i], i};
    qsort(order, n, sizeof *order, cmp_len);
    size_t D = classify ? (size_t)e->w.n_labels : (size_t)c->n_embd;
    float *vecs = xmalloc((size_t)(batch < (int)n ? batch : (int)n) * D * sizeof *vecs);
    int rc = 0;
    pthread_mutex_lock(&e->lock);
    for (size_t b0 = 0; b0 < n; b0 += (size_t)batch) {
        int B = (int)(n - b0 < (size_t)batch ? n - b0 : (size_t)batch);
        int S = (int)order[b0].len;
        if ((rc = state_reserve(e, B, S))) break;
        for (int b = 0; b < B; b++) {
            size_t idx = order[b0 + b].idx, len = lens[idx];
            int32_t *dst = e->s.ids + (size_t)b * S;
            memcpy(dst, ids[idx], len * sizeof *dst);
            for (int i = (int)len; i < S; i++)
                dst[i] = e->pad_id;
            e->s.lens[b] = (int)len;
        }
        forward(e, B, S, vecs, classify);
        for (int b = 0; b < B; b++)
            memcpy(out + order[b0 + b].idx * D, vecs + (size_t)b * D, D * sizeof *vecs);
    }
    pthread_mutex_unlock(&e->lock);
    free(vecs);
    free(order);
    return rc;
}

int encoder_embed_ids(encoder_t *e, const int32_t *const *ids, const size_t *lens, size_t n,
                      int batch, float *out)
{
    return run_ids(e, ids, lens, n, batch, out, 0);
}

int encoder_n_labels(const encoder_t *e)
{
    return e->w.n_labels;
}

const char *encoder_label(const encoder_t *e, int i)
{
    return i >= 0 && i < e->w.n_labels ? e->w.labels[i] : NULL;
}

int encoder_classify_ids(encoder_t *e, const int32_t *const *ids, const size_t *lens, size_t n,
                         int batch, float *logits, float *probs)
{
    int NL = e->w.n_labels;
    if (!NL) return RAGD_ENOTSUP;
    float *lg = logits ? logits : xmalloc((n ? n : 1) * (size_t)NL * sizeof *lg);
    int rc = run_ids(e, ids, lens, n, batch, lg, 1);
    for (size_t i = 0; !rc && probs && i < n; i++) { /* softmax, max-subtracted */
        const float *l = lg + i * (size_t)NL;
        float *p = probs + i * (size_t)NL, max = l[0], sum = 0;
        for (int c = 1; c < NL; c++)
            max = l[c] > max ? l[c] : max;
        for (int c = 0; c < NL; c++)
            sum += (p[c] = expf(l[c] - max));
        for (int c = 0; c < NL; c++)
            p[c] /= sum;
    }
    if (!logits) free(lg);
    return rc;
}

/* Tokenizes texts into ids[] / lens[] (caller frees each ids[i] and the arrays). */
static int tokenize_all(encoder_t *e, const char *const *texts, size_t n, int32_t ***ids,
                        size_t **lens)
{
    *ids = xcalloc(n ? n : 1, sizeof **ids);
    *lens = xcalloc(n ? n : 1, sizeof **lens);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = texts[i] ? encoder_tokenize(e, texts[i], strlen(texts[i]), &(*ids)[i], &(*lens)[i])
                      : RAGD_EINVAL;
    return rc;
}

static void free_ids(int32_t **ids, size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(lens);
}

int encoder_classify(encoder_t *e, const char *const *texts, size_t n, float *logits, float *probs)
{
    if (!e->w.n_labels) return RAGD_ENOTSUP;
    int32_t **ids;
    size_t *lens;
    int rc = tokenize_all(e, texts, n, &ids, &lens);
    if (!rc) rc = encoder_classify_ids(e, (const int32_t *const *)ids, lens, n, 0, logits, probs);
    free_ids(ids, lens, n);
    return rc;
}

int encoder_embed(encoder_t *e, const char *const *texts, size_t n, int batch, float *out)
{
    if (batch > 4096) return RAGD_EINVAL;
    int32_t **ids = xcalloc(n ? n : 1, sizeof *ids);
    size_t *lens = xcalloc(n ? n : 1, sizeof *lens);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = texts[i] ? encoder_tokenize(e, texts[i], strlen(texts[i]), &ids[i], &lens[i])
                      : RAGD_EINVAL;
    if (!rc) rc = encoder_embed_ids(e, (const int32_t *const *)ids, lens, n, batch, out);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(lens);
    return rc;
}
