/* encoder.h - sentence encoders (BERT, MPNet): text -> one unit-length vector per text.
 *
 * Sources:
 *  - a GGUF file with general.architecture "bert" in the layout of llama.cpp's converter
 *    (token_embd, token_types, position_embd, token_embd_norm, blk.N.attn_q/k/v/output,
 *    attn_output_norm, ffn_up/down, layer_output_norm; bert.* metadata; tokenizer.ggml.*
 *    with model "bert"); bert.pooling_type 2 (CLS) or 4 (rank, a
 *    classifier) selects first-token pooling, otherwise mean;
 *  - a Hugging Face folder: config.json (model_type "bert" or "mpnet"), model.safetensors
 *    (F32, F16 or BF16; an optional "bert." / "mpnet." name prefix is accepted), and
 *    tokenizer.json or vocab.txt. A sentence-transformers folder's sentence_bert_config.json
 *    (max_seq_length) and 1_Pooling/config.json (mean or CLS) are honoured when present.
 *
 * Both run a post-LayerNorm transformer: embeddings (+ absolute positions; BERT adds token
 * type 0; MPNet positions start at padding_idx + 1) -> LayerNorm -> per layer: self-attention
 * (MPNet adds a T5-style bucketed relative position bias shared across layers) -> LayerNorm of
 * the residual -> GELU feed-forward -> LayerNorm of the residual. The vector is the mean of the
 * last hidden states over the real tokens (or the first token's state), L2-normalised.
 *
 * Texts are tokenized with the model's WordPiece tokenizer, truncated to max_seq tokens
 * including [CLS]/[SEP] (or <s>/</s>), sorted by length and run in padded batches with an
 * attention mask; the vectors do not depend on how texts are batched (up to rounding).
 *
 * Weights are views into the mapped file, except f32 matrices that are not 32-byte aligned
 * (possible in safetensors), which are copied to aligned memory once at load. Activation buffers
 * belong to the encoder and grow to the largest batch seen. An encoder may be shared by threads:
 * encoder_embed calls are serialised by a mutex (each call already uses all the encoder's threads).
 */
#ifndef RAGD_ENCODER_H
#define RAGD_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

typedef struct encoder encoder_t;

struct encoder_opts {
    int max_seq;   /* tokens per text including specials; 0 = the model's (see above) */
    int n_threads; /* 0 = online CPUs */
    int bf16;      /* 1 = the layers' matrix products in bfloat16 (AVX-512 BF16) where the CPU
                    * has it: faster, within 1e-3 cosine of the exact f32 path; 0 = f32 */
    int int8;      /* 1 = the layers' matrix products on q8_0 weights (the file's, or quantized
                    * at load) and int8 activations with the tiled VNNI GEMM where the CPU has
                    * it (AVX-512 VNNI): fastest, half bf16's weight memory; wins over bf16 */
};

/* Loads path: a .gguf file or a Hugging Face folder. opts may be NULL (defaults). Returns 0
 * with *out (free with encoder_free), RAGD_EIO (missing/unreadable files), RAGD_EFORMAT
 * (malformed or inconsistent model), RAGD_ENOTSUP (architecture, activation or tensor type
 * ragd cannot run) or RAGD_EINVAL (bad opts); err receives a one-line reason. */
int encoder_load(const char *path, const struct encoder_opts *opts, encoder_t **out, char *err,
                 size_t err_len);
void encoder_free(encoder_t *enc); /* NULL is a no-op */

int encoder_dim(const encoder_t *enc);             /* length of each vector */
int encoder_max_seq(const encoder_t *enc);         /* effective token limit per text */
const char *encoder_arch(const encoder_t *enc);    /* "bert" or "mpnet" (static) */
const char *encoder_pooling(const encoder_t *enc); /* "mean" or "cls" (static) */
/* The tokenizer, owned by enc (valid until encoder_free). */
const tokenizer_t *encoder_tokenizer(const encoder_t *enc);

/* The token ids the encoder runs for text: [CLS] ids... [SEP], truncated to max_seq. Returns
 * 0 with *ids (caller frees with free()) and *n_ids, or the tokenizer's error. */
int encoder_tokenize(const encoder_t *enc, const char *text, size_t len, int32_t **ids,
                     size_t *n_ids);

/* Embeds n NUL-terminated texts, at most batch texts per forward pass (batch <= 0 means 32),
 * writing n * encoder_dim floats to out (row i for texts[i]). Returns 0, RAGD_EINVAL for
 * batch > 4096 or a NULL text, RAGD_ENOMEM if activation buffers cannot be allocated, or a
 * tokenizer error. */
int encoder_embed(encoder_t *enc, const char *const *texts, size_t n, int batch, float *out);

/* The same from token ids (each sequence as encoder_tokenize makes it; lens[i] in
 * 1..max_seq; ids inside the vocabulary, else RAGD_EINVAL). */
int encoder_embed_ids(encoder_t *enc, const int32_t *const *ids, const size_t *lens, size_t n,
                      int batch, float *out);

/* ---- sequence classification ----
 * A checkpoint with a classification head (BertForSequenceClassification: bert.pooler.dense
 * and classifier; MPNetForSequenceClassification: classifier.dense and classifier.out_proj;
 * GGUF: cls and cls.output, labels in bert.classifier.output_labels) also classifies: the
 * first token's last hidden state h goes through tanh(W_pool h + b_pool), then
 * W_cls . + b_cls gives one logit per label, and a softmax the probabilities. Label names come
 * from config.json's id2label (LABEL_i when absent). */

/* Labels of the head; 0 when the model has none (an embedding model). */
int encoder_n_labels(const encoder_t *enc);
/* Label i's name (owned by enc, valid until encoder_free), or NULL when i is out of range. */
const char *encoder_label(const encoder_t *enc, int i);

/* Classifies n NUL-terminated texts, writing n * encoder_n_labels floats of logits and/or of
 * probabilities (either may be NULL; row i for texts[i]). Returns 0, RAGD_ENOTSUP when the
 * model has no head, or encoder_embed's errors. */
int encoder_classify(encoder_t *enc, const char *const *texts, size_t n, float *logits,
                     float *probs);
/* The same from token ids, batch as for encoder_embed_ids. */
int encoder_classify_ids(encoder_t *enc, const int32_t *const *ids, const size_t *lens, size_t n,
                         int batch, float *logits, float *probs);

#endif
