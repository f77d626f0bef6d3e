/* model.h - decoder-only transformer language models from GGUF files: Config / Weights /
 * Scratch / State.
 *
 * Architectures (GGUF general.architecture): "llama", "qwen2" (q/k/v biases) and "qwen3"
 * (per-head RMSNorm on q and k). Grouped-query attention, RoPE (NEOX-style rotation for the
 * qwen family, GPT-J-style pairs for llama, base and linear scaling from the metadata, llama3
 * rope_freqs factors when present), SwiGLU feed-forward, RMSNorm with the file's epsilon and an
 * output projection tied to the token embedding when output.weight is absent.
 *
 * Weights are views into the mmap'd file. A forward pass needs two things: a sequence
 * (model_state_t: its KV cache and length, nothing else) and a scratch context
 * (model_scratch_t: every activation buffer for a batch of tokens, the threads' work space and
 * the kernels), both allocated once at creation: the forward pass allocates nothing. A scratch
 * serves any number of sequences of its model, one pass at a time, so an idle sequence costs
 * only its KV cache. */
#ifndef RAGD_MODEL_H
#define RAGD_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "engine/pool.h"
#include "engine/quant.h"

enum model_arch { MODEL_ARCH_LLAMA, MODEL_ARCH_QWEN2, MODEL_ARCH_QWEN3 };

struct model_config {
    enum model_arch arch;
    const char *arch_name; /* static string */
    int n_embd;            /* hidden size */
    int n_layer;
    int n_head, n_head_kv;
    int head_dim; /* attention.key_length (== value_length) */
    int n_ff;     /* feed-forward hidden size */
    int n_vocab;  /* rows of the token embedding */
    int n_ctx_train;
    float rms_eps;
    float rope_base;
    float rope_scale; /* linear position scaling factor (1 = none) */
    int rope_dim;     /* rotated dimensions per head (<= head_dim, even) */
    int rope_neox;    /* rotate (i, i + rope_dim/2) pairs instead of (2i, 2i+1) */
    int qk_norm, qkv_bias, tied_output;
};

/* A 2-D weight matrix: rows x cols elements of type, row-major, cols contiguous (GGUF ne[0]). */
struct model_tensor {
    const void *data;
    uint32_t type;
    int64_t rows, cols;
    size_t row_bytes;
};

struct model_layer {
    const float *attn_norm;           /* [n_embd] */
    struct model_tensor wq;           /* [n_head*head_dim, n_embd] */
    struct model_tensor wk, wv;       /* [n_head_kv*head_dim, n_embd] */
    const float *bq, *bk, *bv;        /* qwen2: [n_head*head_dim], [kv_dim], [kv_dim] */
    const float *q_norm, *k_norm;     /* qwen3: [head_dim] */
    struct model_tensor wo;           /* [n_embd, n_head*head_dim] */
    const float *ffn_norm;            /* [n_embd] */
    struct model_tensor w_gate, w_up; /* [n_ff, n_embd] */
    struct model_tensor w_down;       /* [n_embd, n_ff] */
};

struct model_weights {
    struct model_tensor tok_embd; /* [n_vocab, n_embd] */
    struct model_layer *layers;   /* [n_layer] */
    const float *output_norm;     /* [n_embd] */
    struct model_tensor output;   /* [n_vocab, n_embd]; == tok_embd when tied */
    const float *rope_freqs;      /* [rope_dim/2] divisors of the frequencies, or NULL */
};

typedef struct model model_t;

/* Loads path and checks that every tensor the architecture needs is present with the right
 * shape and a supported type. The weights are read into private huge-page memory
 * (gguf_open_resident), or, with mapped, mapped from the file and faulted in (gguf_open; the
 * RAGD_WEIGHTS_MMAP setting, which callers read). Returns 0 with *out (free with model_free),
 * RAGD_EIO, RAGD_EFORMAT (malformed or inconsistent file) or RAGD_ENOTSUP (architecture or
 * tensor type ragd cannot run); err receives a one-line reason. */
int model_load(const char *path, int mapped, model_t **out, char *err, size_t err_len);
/* The same from an opened file; takes ownership of g (closed on failure too). */
int model_load_gguf(gguf_t *g, model_t **out, char *err, size_t err_len);
void model_free(model_t *m); /* NULL is a no-op */

const struct model_config *model_config(const model_t *m);
const struct model_weights *model_weights(const model_t *m);
const gguf_t *model_gguf(const model_t *m); /* owned by m */
/* Bytes of weights read to compute one token's logits (every matrix once). */
size_t model_weight_bytes(const model_t *m);

/* ---- scratch context ---- */

typedef struct model_scratch model_scratch_t;

/* Allocates the activation buffers for up to n_batch tokens per pass over sequences of up to
 * n_ctx positions, and the work space of pool's threads. isa selects the kernels
 * (quant_best_isa() normally). pool is borrowed (must outlive the scratch). The scratch holds
 * nothing between passes: it serves any sequence of m with n_ctx <= its n_ctx, but one pass at
 * a time (the caller serialises passes that share it). Returns 0 with *out (free with
 * model_scratch_free) or RAGD_EINVAL for bad sizes. */
int model_scratch_create(const model_t *m, int n_ctx, int n_batch, pool_t *pool, enum quant_isa isa,
                         model_scratch_t **out);
void model_scratch_free(model_scratch_t *sc); /* NULL is a no-op */
int model_scratch_n_ctx(const model_scratch_t *sc);
int model_scratch_n_batch(const model_scratch_t *sc);
/* Bytes of the buffers it allocated. */
size_t model_scratch_bytes(const model_scratch_t *sc);

/* ---- sequences ---- */

typedef struct model_state model_state_t;

/* A sequence: a KV cache of n_ctx positions and its length, nothing more. It is evaluated
 * with a scratch passed to model_forward_in or model_forward_multi. Returns 0 with *out (free
 * with model_state_free), RAGD_EINVAL for a bad size, or RAGD_ENOMEM if the KV cache cannot be
 * allocated. */
int model_state_create_kv(const model_t *m, int n_ctx, model_state_t **out);
/* The same with a scratch of its own for n_ctx positions and n_batch tokens per pass (see
 * model_scratch_create), owned and freed by the state: for a caller that evaluates one
 * sequence (model_forward). */
int model_state_create(const model_t *m, int n_ctx, int n_batch, pool_t *pool, enum quant_isa isa,
                       model_state_t **out);
void model_state_free(model_state_t *s); /* NULL is a no-op; frees its own scratch */

int model_state_n_past(const model_state_t *s);
int model_state_n_ctx(const model_state_t *s);
/* Bytes s allocated: its KV cache (2 * n_ctx * model_kv_floats_per_pos floats), plus its own
 * scratch when model_state_create made one. */
size_t model_state_bytes(const model_state_t *s);
/* Forgets positions >= n_past (0 clears the sequence). RAGD_ERANGE if n_past > current. */
int model_state_truncate(model_state_t *s, int n_past);

/* Floats one position occupies in the K cache over all layers (n_layer * kv_dim; the same
 * again for V): the size of a saved row block is 2 * n * this * sizeof(float). */
size_t model_kv_floats_per_pos(const model_t *m);
/* A block of the K and V rows of positions [from, from + n) of every layer, in k and v (each
 * n_layer * n * kv_dim floats, laid out [layer][kv head][position][head_dim], as the cache
 * holds them). */
struct model_kv_block {
    int from, n;
    float *k, *v;
};
/* Copies the rows of each of the nb blocks out of s. RAGD_ERANGE (nothing copied) unless
 * every block has 0 <= from, 0 <= n and from + n <= n_past. pool: the copies are shared among
 * its threads (one item per block, kv head slab and K or V); NULL: the caller copies. */
int model_state_kv_read(const model_state_t *s, pool_t *pool, const struct model_kv_block *b,
                        int nb);
/* Writes nb blocks read by model_state_kv_read (from a state of the same model) into s, whose
 * sequence then ends with the last: afterwards n_past == its from + n. The blocks follow each
 * other (each from the end of the one before), the first from a position <= n_past. The rows
 * are position-dependent (RoPE), so they continue only a sequence that held the same tokens
 * before them, read from the same positions. RAGD_ERANGE (s unchanged) unless so and the last
 * ends at or before n_ctx. pool as for model_state_kv_read. */
int model_state_kv_write(model_state_t *s, pool_t *pool, const struct model_kv_block *b, int nb);

/* ---- forward passes ---- */

/* Appends n tokens to s, evaluating them in batches of sc's batch size with sc's buffers.
 * logits receives n_vocab floats for the last token, or n * n_vocab floats (row per token)
 * when all is set; it may be NULL. Returns RAGD_ERANGE if the context would overflow (nothing
 * is evaluated), RAGD_EINVAL for a token id outside the vocabulary, n <= 0, or a scratch of
 * another model or with a smaller n_ctx than s's. */
int model_forward_in(model_scratch_t *sc, model_state_t *s, const int32_t *tokens, int n,
                     float *logits, int all);
/* model_forward_in with s's own scratch; RAGD_EINVAL if s has none (model_state_create_kv). */
int model_forward(model_state_t *s, const int32_t *tokens, int n, float *logits, int all);

/* One decoding step for n different sequences of the same model at once, with sc's buffers:
 * tokens[t] is appended to seqs[t] and its n_vocab logits are written to logits[t] (NULL: not
 * wanted). The weights are read once for all n, so a step for several requests costs about
 * what one costs. n <= sc's batch size and every sequence's n_ctx <= sc's. Gives the same
 * logits as model_forward on each sequence alone (up to rounding). Returns RAGD_EINVAL (a
 * sequence twice, another model, a bad token or size) or RAGD_ERANGE (a sequence is full)
 * before evaluating anything. */
int model_forward_multi(model_scratch_t *sc, model_state_t *const *seqs, const int32_t *tokens,
                        int n, float *const *logits);

#endif
