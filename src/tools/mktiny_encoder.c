#include "tools/mktiny.h"
#include "tools/mktiny_encoder.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/gguf.h"
#include "engine/quant.h"
#include "engine/safetensors.h"
#include "engine/tokenizer.h"

/* ---- deterministic random numbers ---- */

/* ---- vocabulary ---- */

static const char words[] =
    "the of and to in is it that this with for on as are was be by not or from at an a i you "
    "he she we they what which who when where how why can will would should could do does did "
    "have has had there their them then than these those some any all each every more most "
    "document documents question questions answer answers source sources search knowledge "
    "model models token tokens word words text vector vectors embedding embeddings sentence "
    "retrieval augmented chat user users team data file files page pages search index time "
    "quick brown fox jumps over lazy dog hello world good bad new old first last long short "
    "biology history science medicine heart blood cell cells student students notes read "
    "cafe resume naive city cities run running play played happy unhappy un able";

static const char *const pieces[] = {"##s",   "##es",   "##ed", "##ing",  "##ly",   "##er",
                                     "##est", "##tion", "##al", "##ness", "##able", "##un"};
static const char *const cjk[] = {"中", "文", "日", "本", "語"};

struct vocab {
    char **tok;
    int32_t *type;
    size_t n, cap;
};

static void vpush(struct vocab *v, const char *s, int32_t type)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->tok = xrealloc(v->tok, v->cap * sizeof *v->tok);
        v->type = xrealloc(v->type, v->cap * sizeof *v->type);
    }
    v->tok[v->n] = xstrdup(s);
    v->type[v->n++] = type;
}

static void vadd(struct vocab *v, const char *s, int32_t type) /* unless present */
{
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->tok[i], s)) return;
    vpush(v, s, type);
}

static void vfree(struct vocab *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->tok[i]);
    free(v->tok);
    free(v->type);
}

/* BERT order: [PAD] [UNK] [CLS] [SEP] [MASK]; MPNet: <s> <pad> </s> <unk> first and <mask>
 * last, as in all-mpnet-base-v2's vocabulary (padding must be id 1). */
static void build_vocab(struct vocab *v, int mpnet, size_t pad_to)
{
    if (mpnet) {
        vadd(v, "<s>", TOK_TYPE_CONTROL);
        vadd(v, "<pad>", TOK_TYPE_CONTROL);
        vadd(v, "</s>", TOK_TYPE_CONTROL);
        vadd(v, "<unk>", TOK_TYPE_UNKNOWN);
    }
    vadd(v, "[PAD]", TOK_TYPE_CONTROL);
    vadd(v, "[UNK]", TOK_TYPE_UNKNOWN);
    vadd(v, "[CLS]", TOK_TYPE_CONTROL);
    vadd(v, "[SEP]", TOK_TYPE_CONTROL);
    vadd(v, "[MASK]", TOK_TYPE_CONTROL);
    char buf[8];
    for (int c = 33; c < 127; c++) { /* every printable ASCII character as a word start */
        if (c >= 'A' && c <= 'Z') continue;
        snprintf(buf, sizeof buf, "%c", c);
        vadd(v, buf, TOK_TYPE_NORMAL);
    }
    for (int c = 0; c < 36; c++) { /* continuations of letters and digits */
        snprintf(buf, sizeof buf, "##%c", c < 26 ? 'a' + c : '0' + c - 26);
        vadd(v, buf, TOK_TYPE_NORMAL);
    }
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++)
        vadd(v, pieces[i], TOK_TYPE_NORMAL);
    for (size_t i = 0; i < sizeof cjk / sizeof *cjk; i++)
        vadd(v, cjk[i], TOK_TYPE_NORMAL);
    const char *p = words;
    while (*p) {
        size_t n = strcspn(p, " ");
        char w[32];
        snprintf(w, sizeof w, "%.*s", (int)n, p);
        vadd(v, w, TOK_TYPE_NORMAL);
        p += n;
        p += strspn(p, " ");
    }
    size_t fill = mpnet ? 1 : 0; /* room for <mask> */
    for (size_t i = 0; v->n + fill < pad_to; i++) {
        char name[32];
        snprintf(name, sizeof name, "[unused%zu]", i);
        vpush(v, name, TOK_TYPE_UNUSED);
    }
    if (mpnet) vadd(v, "<mask>", TOK_TYPE_CONTROL);
}

/* ---- shapes ---- */

struct shape {
    int D, L, H, F, n_pos, n_vocab_pad;
};

static int get_shape(const char *name, int mpnet, struct shape *s)
{
    if (!name || !strcmp(name, "tiny")) {
        *s = (struct shape){64, 2, 4, 128, 128, 0};
    } else if (!strcmp(name, "base")) {
        *s = (struct shape){768, 12, 12, 3072, 512, mpnet ? 30527 : 30522};
    } else {
        return -1;
    }
    if (mpnet) s->n_pos += 2; /* positions start at padding_idx + 1 */
    return 0;
}

/* ---- tensors ---- */

enum fill { FILL_WEIGHT, FILL_EMBED, FILL_NORM, FILL_BIAS, FILL_RELBIAS, FILL_HEAD };

struct tdesc {
    char name[96];
    int64_t rows, cols; /* rows 0: a vector of cols */
    enum fill fill;
};

struct tlist {
    struct tdesc *t;
    size_t n, cap;
};

static void tadd(struct tlist *l, const char *name, int64_t rows, int64_t cols, enum fill f)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->t = xrealloc(l->t, l->cap * sizeof *l->t);
    }
    struct tdesc *d = &l->t[l->n++];
    snprintf(d->name, sizeof d->name, "%s", name);
    d->rows = rows;
    d->cols = cols;
    d->fill = f;
}

static void linear(struct tlist *l, const char *base, int64_t out, int64_t in)
{
    char n[96];
    snprintf(n, sizeof n, "%s.weight", base);
    tadd(l, n, out, in, FILL_WEIGHT);
    snprintf(n, sizeof n, "%s.bias", base);
    tadd(l, n, 0, out, FILL_BIAS);
}

static void norm(struct tlist *l, const char *base, int64_t n_embd)
{
    char n[96];
    snprintf(n, sizeof n, "%s.weight", base);
    tadd(l, n, 0, n_embd, FILL_NORM);
    snprintf(n, sizeof n, "%s.bias", base);
    tadd(l, n, 0, n_embd, FILL_BIAS);
}

static void bert_tensors(struct tlist *l, const struct shape *s, int64_t n_vocab)
{
    tadd(l, "token_embd.weight", n_vocab, s->D, FILL_EMBED);
    tadd(l, "token_types.weight", 2, s->D, FILL_EMBED);
    tadd(l, "position_embd.weight", s->n_pos, s->D, FILL_EMBED);
    norm(l, "token_embd_norm", s->D);
    for (int i = 0; i < s->L; i++) {
        char b[64];
#define BLK(suffix) (snprintf(b, sizeof b, "blk.%d.%s", i, suffix), b)
        linear(l, BLK("attn_q"), s->D, s->D);
        linear(l, BLK("attn_k"), s->D, s->D);
        linear(l, BLK("attn_v"), s->D, s->D);
        linear(l, BLK("attn_output"), s->D, s->D);
        norm(l, BLK("attn_output_norm"), s->D);
        linear(l, BLK("ffn_up"), s->F, s->D);
        linear(l, BLK("ffn_down"), s->D, s->F);
        norm(l, BLK("layer_output_norm"), s->D);
#undef BLK
    }
}

static void mpnet_tensors(struct tlist *l, const struct shape *s, int64_t n_vocab)
{
    tadd(l, "embeddings.word_embeddings.weight", n_vocab, s->D, FILL_EMBED);
    tadd(l, "embeddings.position_embeddings.weight", s->n_pos, s->D, FILL_EMBED);
    norm(l, "embeddings.LayerNorm", s->D);
    for (int i = 0; i < s->L; i++) {
        char b[80];
#define LAY(suffix) (snprintf(b, sizeof b, "encoder.layer.%d.%s", i, suffix), b)
        linear(l, LAY("attention.attn.q"), s->D, s->D);
        linear(l, LAY("attention.attn.k"), s->D, s->D);
        linear(l, LAY("attention.attn.v"), s->D, s->D);
        linear(l, LAY("attention.attn.o"), s->D, s->D);
        norm(l, LAY("attention.LayerNorm"), s->D);
        linear(l, LAY("intermediate.dense"), s->F, s->D);
        linear(l, LAY("output.dense"), s->D, s->F);
        norm(l, LAY("output.LayerNorm"), s->D);
#undef LAY
    }
    tadd(l, "encoder.relative_attention_bias.weight", 32, s->H, FILL_RELBIAS);
}

/* BERT in Hugging Face names, as BertForSequenceClassification stores it ("bert." prefix). */
static void bert_hf_tensors(struct tlist *l, const struct shape *s, int64_t n_vocab)
{
    tadd(l, "bert.embeddings.word_embeddings.weight", n_vocab, s->D, FILL_EMBED);
    tadd(l, "bert.embeddings.position_embeddings.weight", s->n_pos, s->D, FILL_EMBED);
    tadd(l, "bert.embeddings.token_type_embeddings.weight", 2, s->D, FILL_EMBED);
    norm(l, "bert.embeddings.LayerNorm", s->D);
    for (int i = 0; i < s->L; i++) {
        char b[96];
#define LAY(suffix) (snprintf(b, sizeof b, "bert.encoder.layer.%d.%s", i, suffix), b)
        linear(l, LAY("attention.self.query"), s->D, s->D);
        linear(l, LAY("attention.self.key"), s->D, s->D);
        linear(l, LAY("attention.self.value"), s->D, s->D);
        linear(l, LAY("attention.output.dense"), s->D, s->D);
        norm(l, LAY("attention.output.LayerNorm"), s->D);
        linear(l, LAY("intermediate.dense"), s->F, s->D);
        linear(l, LAY("output.dense"), s->D, s->F);
        norm(l, LAY("output.LayerNorm"), s->D);
#undef LAY
    }
}

#define CLS_LABELS 3 /* NEGATIVE, NEUTRAL, POSITIVE */

/* The sequence-classification head: BERT's pooler + classifier, MPNet's classifier.dense +
 * classifier.out_proj. */
static void head_tensors(struct tlist *l, const struct shape *s, int mpnet)
{
    const char *names[4] = {"bert.pooler.dense.weight", "bert.pooler.dense.bias",
                            "classifier.weight", "classifier.bias"};
    if (mpnet) {
        names[0] = "classifier.dense.weight";
        names[1] = "classifier.dense.bias";
        names[2] = "classifier.out_proj.weight";
        names[3] = "classifier.out_proj.bias";
    }
    tadd(l, names[0], s->D, s->D, FILL_HEAD);
    tadd(l, names[1], 0, s->D, FILL_BIAS);
    tadd(l, names[2], CLS_LABELS, s->D, FILL_HEAD);
    tadd(l, names[3], 0, CLS_LABELS, FILL_BIAS);
}

static void fill_row(float *x, int64_t n, enum fill f, uint64_t *rng)
{
    for (int64_t i = 0; i < n; i++) {
        float u = mktiny_uniform(rng);
        switch (f) {
        case FILL_WEIGHT:
            x[i] = 0.06f * u;
            break;
        case FILL_EMBED:
            x[i] = 0.5f * u;
            break;
        case FILL_NORM:
            x[i] = 1.0f + 0.1f * u;
            break;
        case FILL_BIAS:
            x[i] = 0.02f * u;
            break;
        case FILL_RELBIAS:
            x[i] = 1.0f * u;
            break;
        case FILL_HEAD: /* large enough that the labels' probabilities differ */
            x[i] = 0.3f * u;
            break;
        }
    }
}

/* ---- writers ---- */

/* With cls, the classification head as llama.cpp names it (cls, cls.output), three label
 * names in bert.classifier.output_labels and rank pooling (type 4: the first token). */
static int write_bert(const struct mktiny_encoder_opts *o, const struct shape *s, int cls,
                      char *err, size_t err_len)
{
    struct vocab v = {0};
    build_vocab(&v, 0, (size_t)s->n_vocab_pad);
    struct tlist tl = {0};
    bert_tensors(&tl, s, (int64_t)v.n);
    if (cls) {
        tadd(&tl, "cls.weight", s->D, s->D, FILL_HEAD);
        tadd(&tl, "cls.bias", 0, s->D, FILL_BIAS);
        tadd(&tl, "cls.output.weight", CLS_LABELS, s->D, FILL_HEAD);
        tadd(&tl, "cls.output.bias", 0, CLS_LABELS, FILL_BIAS);
    }
    gguf_writer_t *w = gguf_writer_create();
    if (cls) {
        const char *labels[CLS_LABELS] = {"NEGATIVE", "NEUTRAL", "POSITIVE"};
        size_t lens[CLS_LABELS] = {8, 7, 8};
        gguf_writer_set_arr_str(w, "bert.classifier.output_labels", labels, lens, CLS_LABELS);
    }
    gguf_writer_set_str(w, "general.architecture", "bert");
    gguf_writer_set_str(w, "general.name", "ragd tiny bert");
    gguf_writer_set_u32(w, "bert.context_length", (uint32_t)s->n_pos);
    gguf_writer_set_u32(w, "bert.embedding_length", (uint32_t)s->D);
    gguf_writer_set_u32(w, "bert.feed_forward_length", (uint32_t)s->F);
    gguf_writer_set_u32(w, "bert.attention.head_count", (uint32_t)s->H);
    gguf_writer_set_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f);
    gguf_writer_set_u32(w, "bert.block_count", (uint32_t)s->L);
    gguf_writer_set_bool(w, "bert.attention.causal", 0);
    gguf_writer_set_u32(w, "bert.pooling_type", cls ? 4 : 1); /* rank or mean */
    gguf_writer_set_u32(w, "general.file_type", o->type == GGML_TYPE_F32 ? 0 : 1);
    /* the converter's vocabulary form: word starts get U+2581, "##" is dropped */
    char **forms = xmalloc(v.n * sizeof *forms);
    size_t *lens = xmalloc(v.n * sizeof *lens);
    for (size_t i = 0; i < v.n; i++) {
        const char *t = v.tok[i];
        if (v.type[i] != TOK_TYPE_NORMAL)
            forms[i] = xstrdup(t);
        else if (!strncmp(t, "##", 2))
            forms[i] = xstrdup(t + 2);
        else
            forms[i] = xasprintf("\xe2\x96\x81%s", t);
        lens[i] = strlen(forms[i]);
    }
    gguf_writer_set_str(w, "tokenizer.ggml.model", "bert");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)forms, lens, v.n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.type, v.n);
    gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.cls_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", 3);
    gguf_writer_set_u32(w, "tokenizer.ggml.mask_token_id", 4);
    for (size_t i = 0; i < v.n; i++)
        free(forms[i]);
    free(forms);
    free(lens);

    int rc = 0;
    for (size_t i = 0; i < tl.n && !rc; i++) {
        const struct tdesc *d = &tl.t[i];
        int mat = d->rows > 0 && d->fill == FILL_WEIGHT;
        int64_t ne[2] = {d->cols, d->rows};
        rc = gguf_writer_add_tensor(w, d->name, mat ? o->type : GGML_TYPE_F32, d->rows ? 2 : 1, ne);
    }
    if (rc) {
        rc = ragd_errf(err, err_len, RAGD_EINVAL, "model mktiny: --type %s cannot hold rows of %d",
                       quant_type_info(o->type)->name, s->D);
        goto out;
    }
    if ((rc = gguf_writer_begin(w, o->out))) {
        rc = ragd_errf(err, err_len, RAGD_EIO, "model mktiny: cannot write %s: %s", o->out,
                       strerror(errno));
        goto out;
    }
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    float *row = xmalloc((size_t)(s->F > s->D ? s->F : s->D) * sizeof *row);
    void *q = xmalloc(quant_row_bytes(GGML_TYPE_F32, (size_t)(s->F > s->D ? s->F : s->D)));
    for (size_t i = 0; i < tl.n && !rc; i++) {
        const struct tdesc *d = &tl.t[i];
        uint32_t type = d->rows > 0 && d->fill == FILL_WEIGHT ? o->type : GGML_TYPE_F32;
        for (int64_t r = 0; r < (d->rows ? d->rows : 1) && !rc; r++) {
            fill_row(row, d->cols, d->fill, &rng);
            quant_quantize_row(type, row, q, (size_t)d->cols);
            rc = gguf_writer_write_tensor(w, q, quant_row_bytes(type, (size_t)d->cols));
        }
    }
    free(row);
    free(q);
    if (!rc) rc = gguf_writer_finish(w);
    if (rc) rc = ragd_errf(err, err_len, RAGD_EIO, "model mktiny: writing %s failed", o->out);
out:
    gguf_writer_free(w);
    free(tl.t);
    vfree(&v);
    return rc;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    free(path);
    if (!f) return RAGD_EIO;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : RAGD_EIO;
}

/* A Hugging Face folder: MPNet (sentence-transformers layout) or, with cls, a
 * sequence-classification checkpoint (BERT or MPNet) with id2label NEGATIVE, NEUTRAL,
 * POSITIVE. */
static int write_hf(const struct mktiny_encoder_opts *o, const struct shape *s, int mpnet, int cls,
                    char *err, size_t err_len)
{
    enum st_dtype dt;
    switch (o->type) {
    case GGML_TYPE_F32:
        dt = ST_F32;
        break;
    case GGML_TYPE_F16:
        dt = ST_F16;
        break;
    case GGML_TYPE_BF16:
        dt = ST_BF16;
        break;
    default:
        return ragd_errf(err, err_len, RAGD_EINVAL,
                         "model mktiny: %s weights must be f32, f16 or bf16", o->arch);
    }
    if (mkdir(o->out, 0755) && errno != EEXIST)
        return ragd_errf(err, err_len, RAGD_EIO, "model mktiny: cannot create %s: %s", o->out,
                         strerror(errno));
    char *pool_dir = xasprintf("%s/1_Pooling", o->out);
    int bad = !cls && mkdir(pool_dir, 0755) && errno != EEXIST;
    free(pool_dir);
    if (bad)
        return ragd_errf(err, err_len, RAGD_EIO, "model mktiny: cannot create %s/1_Pooling",
                         o->out);

    struct vocab v = {0};
    build_vocab(&v, mpnet, (size_t)s->n_vocab_pad);
    struct tlist tl = {0};
    if (mpnet)
        mpnet_tensors(&tl, s, (int64_t)v.n);
    else
        bert_hf_tensors(&tl, s, (int64_t)v.n);
    if (cls) head_tensors(&tl, s, mpnet);
    safetensors_writer_t *w = safetensors_writer_create();
    safetensors_writer_meta(w, "format", "pt");
    char *path = xasprintf("%s/model.safetensors", o->out);
    int rc = 0;
    for (size_t i = 0; i < tl.n; i++) {
        const struct tdesc *d = &tl.t[i];
        int64_t shape[2] = {d->rows, d->cols};
        safetensors_writer_add(w, d->name, dt, d->rows ? 2 : 1, d->rows ? shape : shape + 1);
    }
    if ((rc = safetensors_writer_begin(w, path))) {
        rc = ragd_errf(err, err_len, RAGD_EIO, "model mktiny: cannot write %s", path);
        goto out;
    }
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    size_t widest = (size_t)(s->F > s->D ? s->F : s->D);
    float *row = xmalloc(widest * sizeof *row);
    void *q = xmalloc(widest * 4);
    for (size_t i = 0; i < tl.n && !rc; i++) {
        const struct tdesc *d = &tl.t[i];
        for (int64_t r = 0; r < (d->rows ? d->rows : 1) && !rc; r++) {
            fill_row(row, d->cols, d->fill, &rng);
            quant_quantize_row(o->type, row, q, (size_t)d->cols);
            rc = safetensors_writer_write(w, q, quant_row_bytes(o->type, (size_t)d->cols));
        }
    }
    free(row);
    free(q);
    if (!rc) rc = safetensors_writer_finish(w);
    if (rc) {
        rc = ragd_errf(err, err_len, RAGD_EIO, "model mktiny: writing %s failed", path);
        goto out;
    }

    /* vocab.txt and the JSON side files */
    char *vpath = xasprintf("%s/vocab.txt", o->out);
    FILE *f = fopen(vpath, "w");
    free(vpath);
    int ok = f != NULL;
    for (size_t i = 0; ok && i < v.n; i++)
        ok = fprintf(f, "%s\n", v.tok[i]) > 0;
    if (f && fclose(f)) ok = 0;
    const char *archname =
        cls ? (mpnet ? "MPNetForSequenceClassification" : "BertForSequenceClassification")
            : "MPNetModel";
    const char *labels = cls ? "  \"id2label\": {\"0\": \"NEGATIVE\", \"1\": \"NEUTRAL\", "
                               "\"2\": \"POSITIVE\"},\n  \"label2id\": {\"NEGATIVE\": 0, "
                               "\"NEUTRAL\": 1, \"POSITIVE\": 2},\n"
                             : "";
    char *config =
        xasprintf("{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n%s"
                  "  \"vocab_size\": %zu,\n  \"hidden_size\": %d,\n  \"num_hidden_layers\": %d,\n"
                  "  \"num_attention_heads\": %d,\n  \"intermediate_size\": %d,\n"
                  "  \"max_position_embeddings\": %d,\n  \"hidden_act\": \"gelu\",\n"
                  "  \"layer_norm_eps\": %s,\n  \"relative_attention_num_buckets\": 32,\n"
                  "  \"type_vocab_size\": %d,\n  \"pad_token_id\": %d,\n"
                  "  \"hidden_dropout_prob\": 0.1,\n  \"attention_probs_dropout_prob\": 0.1,\n"
                  "  \"initializer_range\": 0.02,\n  \"torch_dtype\": \"%s\"\n}\n",
                  archname, mpnet ? "mpnet" : "bert", labels, v.n, s->D, s->L, s->H, s->F, s->n_pos,
                  mpnet ? "1e-05" : "1e-12", mpnet ? 0 : 2, mpnet ? 1 : 0,
                  dt == ST_F32   ? "float32"
                  : dt == ST_F16 ? "float16"
                                 : "bfloat16");
    char *sbert = xasprintf("{\n  \"max_seq_length\": %d,\n  \"do_lower_case\": false\n}\n",
                            s->n_pos - 2 < 384 ? s->n_pos - 2 : 384);
    char *pooling = xasprintf("{\n  \"word_embedding_dimension\": %d,\n"
                              "  \"pooling_mode_cls_token\": false,\n"
                              "  \"pooling_mode_mean_tokens\": true,\n"
                              "  \"pooling_mode_max_tokens\": false,\n"
                              "  \"pooling_mode_mean_sqrt_len_tokens\": false\n}\n",
                              s->D);
    ok = ok && !write_text(o->out, "config.json", config) &&
         !write_text(o->out, "tokenizer_config.json",
                     mpnet ? "{\n  \"do_lower_case\": true,\n  \"tokenizer_class\": "
                             "\"MPNetTokenizer\",\n"
                             "  \"bos_token\": \"<s>\",\n  \"eos_token\": \"</s>\",\n"
                             "  \"cls_token\": \"<s>\",\n  \"sep_token\": \"</s>\",\n"
                             "  \"pad_token\": \"<pad>\",\n  \"unk_token\": \"[UNK]\",\n"
                             "  \"mask_token\": \"<mask>\"\n}\n"
                           : "{\n  \"do_lower_case\": true,\n  \"tokenizer_class\": "
                             "\"BertTokenizer\"\n}\n");
    /* a sentence-transformers folder; a classifier is a plain transformers one */
    ok = ok && (cls ||
                (!write_text(o->out, "sentence_bert_config.json", sbert) &&
                 !write_text(o->out, "1_Pooling/config.json", pooling) &&
                 !write_text(o->out, "modules.json",
                             "[\n  {\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": "
                             "\"sentence_transformers.models.Transformer\"},\n"
                             "  {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": "
                             "\"sentence_transformers.models.Pooling\"},\n"
                             "  {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", \"type\": "
                             "\"sentence_transformers.models.Normalize\"}\n]\n")));
    free(config);
    free(sbert);
    free(pooling);
    if (!ok)
        rc =
            ragd_errf(err, err_len, RAGD_EIO, "model mktiny: cannot write the files of %s", o->out);
out:
    free(path);
    safetensors_writer_free(w);
    free(tl.t);
    vfree(&v);
    return rc;
}

int mktiny_encoder_is_arch(const char *arch)
{
    return arch && (!strcmp(arch, "bert") || !strcmp(arch, "mpnet") || !strcmp(arch, "bert-cls") ||
                    !strcmp(arch, "mpnet-cls"));
}

int mktiny_encoder_write(const struct mktiny_encoder_opts *o, char *err, size_t err_len)
{
    if (!o->out || !mktiny_encoder_is_arch(o->arch))
        return ragd_errf(err, err_len, RAGD_EINVAL,
                         "model mktiny: --arch must be bert, mpnet, bert-cls or mpnet-cls "
                         "and --out is required");
    int mpnet = !strncmp(o->arch, "mpnet", 5), cls = strstr(o->arch, "-cls") != NULL;
    struct shape s;
    if (get_shape(o->shape, mpnet, &s))
        return ragd_errf(err, err_len, RAGD_EINVAL,
                         "model mktiny: --shape must be tiny or base "
                         "for encoders");
    const struct quant_type_info *ti = quant_type_info(o->type);
    if (!ti || !ti->supported)
        return ragd_errf(err, err_len, RAGD_EINVAL, "model mktiny: unsupported --type");
    size_t ol = strlen(o->out);
    int gguf = ol > 5 && !strcmp(o->out + ol - 5, ".gguf");
    if (cls && mpnet && gguf)
        return ragd_errf(err, err_len, RAGD_EINVAL,
                         "model mktiny: mpnet-cls is a Hugging Face folder, not a .gguf file");
    return mpnet || (cls && !gguf) ? write_hf(o, &s, mpnet, cls, err, err_len)
                                   : write_bert(o, &s, cls, err, err_len);
}
