/* mktiny_encoder.h - writes sentence encoders with random weights in the layouts real models
 * are published in, so tests and benchmarks need no downloads:
 *   bert  -> one GGUF file in the layout of llama.cpp's BERT converter (tensor names, bert.*
 *            metadata, tokenizer.ggml.* with model "bert" and the converter's U+2581 form of
 *            the WordPiece vocabulary);
 *   mpnet -> a Hugging Face folder like sentence-transformers/all-mpnet-base-v2: config.json,
 *            model.safetensors, vocab.txt, tokenizer_config.json, sentence_bert_config.json,
 *            modules.json and 1_Pooling/config.json (mean pooling);
 *   bert-cls, mpnet-cls -> a Hugging Face sequence-classification folder
 *            (BertForSequenceClassification: "bert."-prefixed encoder, bert.pooler.dense and
 *            classifier; MPNetForSequenceClassification: classifier.dense and
 *            classifier.out_proj) with three labels, id2label NEGATIVE, NEUTRAL, POSITIVE:
 *            config.json, model.safetensors, vocab.txt, tokenizer_config.json; bert-cls
 *            with an --out ending in ".gguf" writes the GGUF layout instead (cls, cls.output,
 *            bert.classifier.output_labels, rank pooling).
 * The vocabulary is a small uncased WordPiece one made here (specials, characters, "##"
 * continuations, common English words, a few CJK characters); the base shape pads it to the
 * real size with [unused] entries.
 *
 * Shapes: tiny (hidden 64, 2 layers, 4 heads, ffn 128, 128 positions) and base (the 110M
 * shape: hidden 768, 12 layers, 12 heads, ffn 3072, 512 positions, vocabulary 30522 for bert,
 * 30527 for mpnet). */
#ifndef RAGD_MKTINY_ENCODER_H
#define RAGD_MKTINY_ENCODER_H

#include <stddef.h>
#include <stdint.h>

struct mktiny_encoder_opts {
    const char *arch; /* "bert", "mpnet", "bert-cls" or "mpnet-cls" */
    const char *out;  /* file (bert) or folder (the others, created if missing) */
    uint32_t type;    /* ggml type of the 2-D weights: bert any writable type, mpnet f32/f16/bf16 */
    uint64_t seed;
    const char *shape; /* "tiny" or "base"; NULL means tiny */
};

/* 1 if arch names an encoder mktiny_encoder_write makes. Cannot fail. */
int mktiny_encoder_is_arch(const char *arch);

/* Writes the model. Returns 0, RAGD_EINVAL (bad options: err says which) or RAGD_EIO. */
int mktiny_encoder_write(const struct mktiny_encoder_opts *o, char *err, size_t err_len);

#endif
