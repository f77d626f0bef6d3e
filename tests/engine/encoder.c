/* Sentence encoders on tiny random models: a 1-layer model checked against a double-precision
 * forward pass written here, batch == one-by-one, padding does not change a vector, unit
 * length, MPNet's relative position buckets, tokenizer cases through the model path, loader
 * errors, and concurrent callers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/encoder.c" /* statics: rel_bucket */
#include "engine/enc_kernels.h"
#include "tools/mktiny_encoder.h"

static char tmpdir[64];

static char *tpath(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ragd-enc-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    struct mktiny_encoder_opts b = {"bert", tpath("bert.gguf"), GGML_TYPE_F32, 7, "tiny"};
    struct mktiny_encoder_opts m = {"mpnet", tpath("mpnet"), GGML_TYPE_F32, 7, "tiny"};
    struct mktiny_encoder_opts h = {"mpnet", tpath("mpnet16"), GGML_TYPE_F16, 7, "tiny"};
    char err[256];
    if (mktiny_encoder_write(&b, err, sizeof err) || mktiny_encoder_write(&m, err, sizeof err) ||
        mktiny_encoder_write(&h, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static encoder_t *load(const char *path, int max_seq)
{
    struct encoder_opts o = {.max_seq = max_seq, .n_threads = 2};
    encoder_t *e = NULL;
    char err[256] = "";
    int rc = encoder_load(path, &o, &e, err, sizeof err);
    if (rc) fail_msg("load %s: %s", path, err);
    return e;
}

static const char *const texts[] = {
    "Hello world!",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "",
    "Retrieval augmented chat answers questions from documents, and cites its sources.",
    "Café, naïve résumé: unhappy cities 中文 ж",
    "students read notes about biology and history; the heart pumps blood to every cell",
};
#define N_TEXTS (sizeof texts / sizeof *texts)

static double dist(const float *a, const float *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* ---- batching, padding, unit length ---- */

static void check_batching(const char *path)
{
    encoder_t *e = load(path, 0);
    int D = encoder_dim(e);
    float *all = malloc(N_TEXTS * D * sizeof *all), *one = malloc(N_TEXTS * D * sizeof *one);
    assert_int_equal(encoder_embed(e, texts, N_TEXTS, 32, all), 0);
    for (size_t i = 0; i < N_TEXTS; i++)
        assert_int_equal(encoder_embed(e, &texts[i], 1, 1, one + i * D), 0);
    for (size_t i = 0; i < N_TEXTS; i++) {
        double d = dist(all + i * D, one + i * D, D);
        if (d > 1e-5)
            fail_msg("%s: text %zu differs by %g between batch and one-by-one", path, i, d);
        double ss = 0;
        for (int k = 0; k < D; k++)
            ss += (double)all[i * D + k] * all[i * D + k];
        assert_true(fabs(ss - 1.0) < 1e-5);
    }
    /* batches of 3 (different padding in each) agree too */
    float *three = malloc(N_TEXTS * D * sizeof *three);
    assert_int_equal(encoder_embed(e, texts, N_TEXTS, 3, three), 0);
    assert_true(dist(all, three, (int)N_TEXTS * D) <= 1e-5);
    /* different texts give different vectors */
    assert_true(dist(all, all + D, D) > 1e-3);
    free(three);
    free(all);
    free(one);
    encoder_free(e);
}

static void test_batch_equals_single(void **state)
{
    (void)state;
    check_batching(tpath("bert.gguf"));
    check_batching(tpath("mpnet"));
    check_batching(tpath("mpnet16"));
}

static void check_padding(const char *path)
{
    encoder_t *e = load(path, 0);
    int D = encoder_dim(e);
    int32_t *a, *b;
    size_t na, nb;
    assert_int_equal(encoder_tokenize(e, "short text", 10, &a, &na), 0);
    const char *lng = "a much longer text that forces the short one to be padded with many "
                      "padding tokens in the same batch";
    assert_int_equal(encoder_tokenize(e, lng, strlen(lng), &b, &nb), 0);
    assert_true(nb > na + 10);
    const int32_t *ids[2] = {a, b};
    size_t lens[2] = {na, nb};
    float alone[256], both[512];
    assert_true(D <= 256);
    assert_int_equal(encoder_embed_ids(e, ids, lens, 1, 1, alone), 0);
    assert_int_equal(encoder_embed_ids(e, ids, lens, 2, 2, both), 0);
    assert_true(dist(alone, both, D) <= 1e-6);
    /* the padded slots hold the pad id: a different id there must not matter either */
    e->pad_id = 5;
    assert_int_equal(encoder_embed_ids(e, ids, lens, 2, 2, both), 0);
    assert_true(dist(alone, both, D) <= 1e-6);
    /* but the tokens themselves do */
    lens[0] = na - 1;
    assert_int_equal(encoder_embed_ids(e, ids, lens, 1, 1, both), 0);
    assert_true(dist(alone, both, D) > 1e-4);
    free(a);
    free(b);
    encoder_free(e);
}

static void test_padding(void **state)
{
    (void)state;
    check_padding(tpath("bert.gguf"));
    check_padding(tpath("mpnet"));
}

/* ---- a 1-layer model against a forward pass in double precision ---- */

#define HD 8  /* hidden */
#define HH 2  /* heads */
#define HF 12 /* ffn */
#define HV 12 /* vocabulary */
#define HP 16 /* positions */

struct hand {
    float tok[HV][HD], pos[HP][HD], type[2][HD], en_w[HD], en_b[HD];
    float wq[HD][HD], bq[HD], wk[HD][HD], bk[HD], wv[HD][HD], bv[HD], wo[HD][HD], bo[HD];
    float an_w[HD], an_b[HD], wu[HF][HD], bu[HF], wd[HD][HF], bd[HD], on_w[HD], on_b[HD];
    float rel[32][HH];
    float pw[HD][HD], pb[HD], cw[3][HD], cb[3]; /* classification head */
};

static void rnd(float *x, size_t n, uint64_t *s, float scale, float base)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = base + scale * ((float)(*s >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
    }
}

static void hand_init(struct hand *h)
{
    uint64_t s = 42;
    rnd(&h->tok[0][0], sizeof h->tok / 4, &s, 1.0f, 0);
    rnd(&h->pos[0][0], sizeof h->pos / 4, &s, 0.5f, 0);
    rnd(&h->type[0][0], sizeof h->type / 4, &s, 0.5f, 0);
    rnd(h->en_w, HD, &s, 0.2f, 1);
    rnd(h->en_b, HD, &s, 0.2f, 0);
    rnd(&h->wq[0][0], HD * HD, &s, 0.8f, 0);
    rnd(h->bq, HD, &s, 0.1f, 0);
    rnd(&h->wk[0][0], HD * HD, &s, 0.8f, 0);
    rnd(h->bk, HD, &s, 0.1f, 0);
    rnd(&h->wv[0][0], HD * HD, &s, 0.5f, 0);
    rnd(h->bv, HD, &s, 0.1f, 0);
    rnd(&h->wo[0][0], HD * HD, &s, 0.5f, 0);
    rnd(h->bo, HD, &s, 0.1f, 0);
    rnd(h->an_w, HD, &s, 0.2f, 1);
    rnd(h->an_b, HD, &s, 0.2f, 0);
    rnd(&h->wu[0][0], HF * HD, &s, 0.5f, 0);
    rnd(h->bu, HF, &s, 0.3f, 0);
    rnd(&h->wd[0][0], HD * HF, &s, 0.5f, 0);
    rnd(h->bd, HD, &s, 0.1f, 0);
    rnd(h->on_w, HD, &s, 0.2f, 1);
    rnd(h->on_b, HD, &s, 0.2f, 0);
    rnd(&h->rel[0][0], 32 * HH, &s, 2.0f, 0);
    rnd(&h->pw[0][0], HD * HD, &s, 0.8f, 0);
    rnd(h->pb, HD, &s, 0.2f, 0);
    rnd(&h->cw[0][0], 3 * HD, &s, 1.0f, 0);
    rnd(h->cb, 3, &s, 0.2f, 0);
}

static void put(safetensors_writer_t *w, const char *name, const float *x, int64_t rows,
                int64_t cols, int pass)
{
    int64_t shape[2] = {rows, cols};
    if (pass == 0)
        assert_int_equal(
            safetensors_writer_add(w, name, ST_F32, rows ? 2 : 1, rows ? shape : shape + 1), 0);
    else
        assert_int_equal(safetensors_writer_write(w, x, (size_t)(rows ? rows : 1) * cols * 4), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Writes the hand model as a Hugging Face folder (bert or mpnet names). */
static void hand_write_head(const struct hand *h, const char *dir, int mpnet, int head)
{
    mkdir(dir, 0755);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\":\"%s\",\"hidden_size\":%d,\"num_hidden_layers\":1,"
             "\"num_attention_heads\":%d,\"intermediate_size\":%d,"
             "\"max_position_embeddings\":%d,\"vocab_size\":%d,\"layer_norm_eps\":1e-5,"
             "\"hidden_act\":\"gelu\",\"type_vocab_size\":2}",
             mpnet ? "mpnet" : "bert", HD, HH, HF, HP, HV);
    write_file(p, cfg);
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    write_file(p, mpnet ? "<s>\n<pad>\n</s>\n<unk>\n[UNK]\na\nb\nc\nd\ne\n##x\n<mask>\n"
                        : "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\n##x\n##y\n");
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    safetensors_writer_t *w = safetensors_writer_create();
    const char *pre = mpnet ? "mpnet." : ""; /* a prefixed checkpoint */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) assert_int_equal(safetensors_writer_begin(w, p), 0);
        char n[192];
#define PUT(name, x, r, c) (snprintf(n, sizeof n, "%s%s", pre, name), put(w, n, x, r, c, pass))
        PUT("embeddings.word_embeddings.weight", &h->tok[0][0], HV, HD);
        PUT("embeddings.position_embeddings.weight", &h->pos[0][0], HP, HD);
        if (!mpnet) PUT("embeddings.token_type_embeddings.weight", &h->type[0][0], 2, HD);
        PUT(mpnet ? "embeddings.LayerNorm.weight" : "embeddings.LayerNorm.gamma", h->en_w, 0, HD);
        PUT(mpnet ? "embeddings.LayerNorm.bias" : "embeddings.LayerNorm.beta", h->en_b, 0, HD);
        const char *q =
            mpnet ? "encoder.layer.0.attention.attn.q" : "encoder.layer.0.attention.self.query";
        const char *k =
            mpnet ? "encoder.layer.0.attention.attn.k" : "encoder.layer.0.attention.self.key";
        const char *v =
            mpnet ? "encoder.layer.0.attention.attn.v" : "encoder.layer.0.attention.self.value";
        const char *o =
            mpnet ? "encoder.layer.0.attention.attn.o" : "encoder.layer.0.attention.output.dense";
        const char *an = mpnet ? "encoder.layer.0.attention.LayerNorm"
                               : "encoder.layer.0.attention.output.LayerNorm";
        char b[128];
#define LIN(base, wt, bs, r, c)                                                                    \
    (snprintf(b, sizeof b, "%s.weight", base), PUT(b, wt, r, c),                                   \
     snprintf(b, sizeof b, "%s.bias", base), PUT(b, bs, 0, r))
        LIN(q, &h->wq[0][0], h->bq, HD, HD);
        LIN(k, &h->wk[0][0], h->bk, HD, HD);
        LIN(v, &h->wv[0][0], h->bv, HD, HD);
        LIN(o, &h->wo[0][0], h->bo, HD, HD);
        snprintf(b, sizeof b, "%s.weight", an);
        PUT(b, h->an_w, 0, HD);
        snprintf(b, sizeof b, "%s.bias", an);
        PUT(b, h->an_b, 0, HD);
        LIN("encoder.layer.0.intermediate.dense", &h->wu[0][0], h->bu, HF, HD);
        LIN("encoder.layer.0.output.dense", &h->wd[0][0], h->bd, HD, HF);
        PUT("encoder.layer.0.output.LayerNorm.weight", h->on_w, 0, HD);
        PUT("encoder.layer.0.output.LayerNorm.bias", h->on_b, 0, HD);
        if (mpnet) PUT("encoder.relative_attention_bias.weight", &h->rel[0][0], 32, HH);
        if (head && !mpnet) { /* BertForSequenceClassification without the "bert." prefix */
            put(w, "pooler.dense.weight", &h->pw[0][0], HD, HD, pass);
            put(w, "pooler.dense.bias", h->pb, 0, HD, pass);
            put(w, "classifier.weight", &h->cw[0][0], 3, HD, pass);
            put(w, "classifier.bias", h->cb, 0, 3, pass);
        }
#undef LIN
#undef PUT
    }
    assert_int_equal(safetensors_writer_finish(w), 0);
    safetensors_writer_free(w);
}

static void hand_write(const struct hand *h, const char *dir, int mpnet)
{
    hand_write_head(h, dir, mpnet, 0);
}

/* The same BERT as a GGUF file in llama.cpp's converter layout; pooling 1 mean, 2 CLS; with
 * head, the classification head as cls / cls.output and three label names. */
static void hand_write_gguf_head(const struct hand *h, const char *path, int pooling, int head)
{
    gguf_writer_t *w = gguf_writer_create();
    gguf_writer_set_str(w, "general.architecture", "bert");
    gguf_writer_set_u32(w, "bert.context_length", HP);
    gguf_writer_set_u32(w, "bert.embedding_length", HD);
    gguf_writer_set_u32(w, "bert.feed_forward_length", HF);
    gguf_writer_set_u32(w, "bert.attention.head_count", HH);
    gguf_writer_set_f32(w, "bert.attention.layer_norm_epsilon", 1e-5f);
    gguf_writer_set_u32(w, "bert.block_count", 1);
    gguf_writer_set_u32(w, "bert.pooling_type", (uint32_t)pooling);
    const char *toks[HV] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a",
                            "b",     "c",     "d",     "e",     "##x",    "##y"};
    int32_t types[HV] = {3, 2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    size_t lens[HV];
    for (int i = 0; i < HV; i++)
        lens[i] = strlen(toks[i]);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "bert");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, lens, HV);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, HV);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.cls_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", 3);
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    struct {
        const char *name;
        const float *x;
        int64_t rows, cols;
    } t[] = {
        {"token_embd.weight", &h->tok[0][0], HV, HD},
        {"token_types.weight", &h->type[0][0], 2, HD},
        {"position_embd.weight", &h->pos[0][0], HP, HD},
        {"token_embd_norm.weight", h->en_w, 0, HD},
        {"token_embd_norm.bias", h->en_b, 0, HD},
        {"blk.0.attn_q.weight", &h->wq[0][0], HD, HD},
        {"blk.0.attn_q.bias", h->bq, 0, HD},
        {"blk.0.attn_k.weight", &h->wk[0][0], HD, HD},
        {"blk.0.attn_k.bias", h->bk, 0, HD},
        {"blk.0.attn_v.weight", &h->wv[0][0], HD, HD},
        {"blk.0.attn_v.bias", h->bv, 0, HD},
        {"blk.0.attn_output.weight", &h->wo[0][0], HD, HD},
        {"blk.0.attn_output.bias", h->bo, 0, HD},
        {"blk.0.attn_output_norm.weight", h->an_w, 0, HD},
        {"blk.0.attn_output_norm.bias", h->an_b, 0, HD},
        {"blk.0.ffn_up.weight", &h->wu[0][0], HF, HD},
        {"blk.0.ffn_up.bias", h->bu, 0, HF},
        {"blk.0.ffn_down.weight", &h->wd[0][0], HD, HF},
        {"blk.0.ffn_down.bias", h->bd, 0, HD},
        {"blk.0.layer_output_norm.weight", h->on_w, 0, HD},
        {"blk.0.layer_output_norm.bias", h->on_b, 0, HD},
        {"cls.weight", &h->pw[0][0], HD, HD},
        {"cls.bias", h->pb, 0, HD},
        {"cls.output.weight", &h->cw[0][0], 3, HD},
        {"cls.output.bias", h->cb, 0, 3},
    };
    size_t n = sizeof t / sizeof *t - (head ? 0 : 4);
    if (head) {
        const char *labels[3] = {"negative", "neutral", "positive"};
        size_t llens[3] = {8, 7, 8};
        gguf_writer_set_arr_str(w, "bert.classifier.output_labels", labels, llens, 3);
    }
    for (size_t i = 0; i < n; i++) {
        int64_t ne[2] = {t[i].cols, t[i].rows};
        assert_int_equal(gguf_writer_add_tensor(w, t[i].name, GGML_TYPE_F32, t[i].rows ? 2 : 1, ne),
                         0);
    }
    assert_int_equal(gguf_writer_begin(w, path), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(gguf_writer_write_tensor(
                             w, t[i].x, (size_t)(t[i].rows ? t[i].rows : 1) * t[i].cols * 4),
                         0);
    assert_int_equal(gguf_writer_finish(w), 0);
    gguf_writer_free(w);
}

static void hand_write_gguf(const struct hand *h, const char *path, int pooling)
{
    hand_write_gguf_head(h, path, pooling, 0);
}

static double ref_cls_state[HD]; /* ref_forward's last hidden state of the first token */

static void ref_ln(double *x, const float *g, const float *b)
{
    double m = 0, v = 0;
    for (int i = 0; i < HD; i++)
        m += x[i] / HD;
    for (int i = 0; i < HD; i++)
        v += (x[i] - m) * (x[i] - m) / HD;
    for (int i = 0; i < HD; i++)
        x[i] = (x[i] - m) / sqrt(v + 1e-5) * g[i] + b[i];
}

/* The forward pass of the hand model in double precision, straight from the definitions. */
static void ref_forward(const struct hand *h, int mpnet, int cls, const int32_t *ids, int n,
                        double *out)
{
    double x[16][HD], q[16][HD], k[16][HD], v[16][HD], c[16][HD];
    assert_true(n <= 8);
    for (int i = 0; i < n; i++) {
        int p = mpnet ? i + 2 : i; /* MPNet numbers positions from padding_idx + 1 = 2 */
        for (int d = 0; d < HD; d++)
            x[i][d] = h->tok[ids[i]][d] + h->pos[p][d] + (mpnet ? 0 : h->type[0][d]);
        ref_ln(x[i], h->en_w, h->en_b);
    }
    for (int i = 0; i < n; i++)
        for (int r = 0; r < HD; r++) {
            q[i][r] = h->bq[r], k[i][r] = h->bk[r], v[i][r] = h->bv[r];
            for (int d = 0; d < HD; d++) {
                q[i][r] += h->wq[r][d] * x[i][d];
                k[i][r] += h->wk[r][d] * x[i][d];
                v[i][r] += h->wv[r][d] * x[i][d];
            }
        }
    int hd = HD / HH;
    for (int hh = 0; hh < HH; hh++)
        for (int i = 0; i < n; i++) {
            double s[16], mx = -1e300, sum = 0;
            for (int j = 0; j < n; j++) {
                s[j] = 0;
                for (int d = 0; d < hd; d++)
                    s[j] += q[i][hh * hd + d] * k[j][hh * hd + d];
                s[j] /= sqrt((double)hd);
                if (mpnet) { /* short range: bucket = |j - i|, +16 when j > i */
                    int rel = j - i, bucket = rel > 0 ? 16 + rel : -rel;
                    s[j] += h->rel[bucket][hh];
                }
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < n; j++)
                sum += (s[j] = exp(s[j] - mx));
            for (int d = 0; d < hd; d++) {
                c[i][hh * hd + d] = 0;
                for (int j = 0; j < n; j++)
                    c[i][hh * hd + d] += s[j] / sum * v[j][hh * hd + d];
            }
        }
    for (int d = 0; d < HD; d++)
        out[d] = 0;
    for (int i = 0; i < n; i++) {
        double a[HD], f[HF];
        for (int r = 0; r < HD; r++) {
            a[r] = h->bo[r];
            for (int d = 0; d < HD; d++)
                a[r] += h->wo[r][d] * c[i][d];
            x[i][r] += a[r];
        }
        ref_ln(x[i], h->an_w, h->an_b);
        for (int r = 0; r < HF; r++) {
            double z = h->bu[r];
            for (int d = 0; d < HD; d++)
                z += h->wu[r][d] * x[i][d];
            f[r] = 0.5 * z * (1 + erf(z / sqrt(2.0)));
        }
        for (int r = 0; r < HD; r++) {
            double y = h->bd[r];
            for (int d = 0; d < HF; d++)
                y += h->wd[r][d] * f[d];
            x[i][r] += y;
        }
        ref_ln(x[i], h->on_w, h->on_b);
        for (int d = 0; d < HD; d++)
            out[d] += cls ? (i == 0) * x[i][d] : x[i][d] / n;
    }
    for (int d = 0; d < HD; d++)
        ref_cls_state[d] = x[0][d];
    double ss = 0;
    for (int d = 0; d < HD; d++)
        ss += out[d] * out[d];
    for (int d = 0; d < HD; d++)
        out[d] /= sqrt(ss);
}

static void check_model(const struct hand *h, const char *path, int mpnet, int cls)
{
    encoder_t *e = load(path, 0);
    assert_int_equal(encoder_dim(e), HD);
    assert_int_equal(encoder_max_seq(e), mpnet ? HP - 2 : HP);
    assert_string_equal(encoder_arch(e), mpnet ? "mpnet" : "bert");
    assert_string_equal(encoder_pooling(e), cls ? "cls" : "mean");
    const char *t[3] = {"a b", "c dx e", "ebx"};
    float got[3 * HD];
    assert_int_equal(encoder_embed(e, t, 3, 3, got), 0);
    for (int i = 0; i < 3; i++) {
        int32_t *ids;
        size_t n;
        assert_int_equal(encoder_tokenize(e, t[i], strlen(t[i]), &ids, &n), 0);
        double want[HD];
        ref_forward(h, mpnet, cls, ids, (int)n, want);
        for (int d = 0; d < HD; d++)
            if (fabs(want[d] - got[i * HD + d]) > 1e-5)
                fail_msg("%s text %d dim %d: %g, expected %g", path, i, d, (double)got[i * HD + d],
                         want[d]);
        free(ids);
    }
    /* the ids themselves: <s>/[CLS] a b </s>/[SEP] */
    int32_t *ids;
    size_t n;
    assert_int_equal(encoder_tokenize(e, "a b", 3, &ids, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], mpnet ? 0 : 2);
    assert_int_equal(ids[1], 5);
    assert_int_equal(ids[2], 6);
    assert_int_equal(ids[3], mpnet ? 2 : 3);
    free(ids);
    encoder_free(e);
}

static void test_hand_checked(void **state)
{
    (void)state;
    struct hand h;
    hand_init(&h);
    hand_write(&h, tpath("hand-bert"), 0);
    check_model(&h, tpath("hand-bert"), 0, 0);
    hand_write(&h, tpath("hand-mpnet"), 1);
    check_model(&h, tpath("hand-mpnet"), 1, 0);
    hand_write_gguf(&h, tpath("hand-bert.gguf"), 1);
    check_model(&h, tpath("hand-bert.gguf"), 0, 0);
    hand_write_gguf(&h, tpath("hand-bert-cls.gguf"), 2);
    check_model(&h, tpath("hand-bert-cls.gguf"), 0, 1);
}

/* The classification head against tanh(W_pool h + b_pool) -> W_cls . + b_cls -> softmax. */
static void check_head(const struct hand *h, const char *path, const char *label0)
{
    encoder_t *e = load(path, 0);
    assert_int_equal(encoder_n_labels(e), 3);
    assert_string_equal(encoder_label(e, 0), label0);
    assert_null(encoder_label(e, 3));
    const char *t[3] = {"a b", "c dx e", "ebx"};
    float lg[9], pr[9], vec[3 * HD];
    assert_int_equal(encoder_classify(e, t, 3, lg, pr), 0);
    assert_int_equal(encoder_embed(e, t, 3, 3, vec), 0); /* still an encoder */
    for (int i = 0; i < 3; i++) {
        int32_t *ids;
        size_t n;
        assert_int_equal(encoder_tokenize(e, t[i], strlen(t[i]), &ids, &n), 0);
        double v[HD], pooled[HD], logit[3], mx = -1e300, sum = 0;
        ref_forward(h, 0, 0, ids, (int)n, v);
        free(ids);
        for (int r = 0; r < HD; r++) {
            pooled[r] = h->pb[r];
            for (int d = 0; d < HD; d++)
                pooled[r] += h->pw[r][d] * ref_cls_state[d];
            pooled[r] = tanh(pooled[r]);
        }
        for (int c = 0; c < 3; c++) {
            logit[c] = h->cb[c];
            for (int d = 0; d < HD; d++)
                logit[c] += h->cw[c][d] * pooled[d];
            mx = fmax(mx, logit[c]);
        }
        for (int c = 0; c < 3; c++)
            sum += exp(logit[c] - mx);
        for (int c = 0; c < 3; c++) {
            if (fabs(logit[c] - lg[i * 3 + c]) > 1e-4)
                fail_msg("%s text %d logit %d: %g, expected %g", path, i, c, (double)lg[i * 3 + c],
                         logit[c]);
            assert_true(fabs(exp(logit[c] - mx) / sum - pr[i * 3 + c]) < 1e-5);
        }
    }
    /* ids, one by one, give the same logits */
    int32_t *ids;
    size_t n;
    float one[3];
    assert_int_equal(encoder_tokenize(e, t[1], strlen(t[1]), &ids, &n), 0);
    const int32_t *idp[1] = {ids};
    assert_int_equal(encoder_classify_ids(e, idp, &n, 1, 1, one, NULL), 0);
    for (int c = 0; c < 3; c++)
        assert_true(fabs(one[c] - lg[3 + c]) < 1e-5);
    free(ids);
    encoder_free(e);
}

static void test_classification_head(void **state)
{
    (void)state;
    struct hand h;
    hand_init(&h);
    hand_write_head(&h, tpath("hand-bert-cls"), 0, 1);
    check_head(&h, tpath("hand-bert-cls"), "LABEL_0"); /* no id2label in config.json */
    hand_write_gguf_head(&h, tpath("hand-bert-cls.gguf"), 1, 1);
    check_head(&h, tpath("hand-bert-cls.gguf"), "negative");
    /* a model without a head does not classify */
    encoder_t *e = load(tpath("bert.gguf"), 0);
    float x[3];
    const char *t[1] = {"a"};
    assert_int_equal(encoder_n_labels(e), 0);
    assert_int_equal(encoder_classify(e, t, 1, x, x), RAGD_ENOTSUP);
    encoder_free(e);
}

/* ---- MPNet relative position buckets (values worked out from the T5 formula) ---- */

static void test_rel_bucket(void **state)
{
    (void)state;
    assert_int_equal(rel_bucket(0), 0);
    assert_int_equal(rel_bucket(-1), 1); /* key before the query */
    assert_int_equal(rel_bucket(1), 17); /* key after the query: upper half */
    assert_int_equal(rel_bucket(-7), 7);
    assert_int_equal(rel_bucket(-8), 8);  /* 8 + floor(8 * log(1) / log(16)) */
    assert_int_equal(rel_bucket(-12), 9); /* 8 + floor(8 * log(1.5) / log(16)) = 8 + 1 */
    assert_int_equal(rel_bucket(-16), 10);
    assert_int_equal(rel_bucket(-32), 12);
    assert_int_equal(rel_bucket(-64), 14);
    assert_int_equal(rel_bucket(-127), 15);
    assert_int_equal(rel_bucket(-128), 15); /* capped at 15 */
    assert_int_equal(rel_bucket(-500), 15);
    assert_int_equal(rel_bucket(16), 26);
    assert_int_equal(rel_bucket(500), 31);
}

/* ---- tokenizer cases through the model path ---- */

static void expect_ids(encoder_t *e, const char *text, const char *const *pieces, size_t n)
{
    int32_t *ids;
    size_t got;
    assert_int_equal(encoder_tokenize(e, text, strlen(text), &ids, &got), 0);
    if (got != n) fail_msg("'%s': %zu tokens, expected %zu", text, got, n);
    const tokenizer_t *t = encoder_tokenizer(e);
    for (size_t i = 0; i < n; i++) {
        int32_t want = tokenizer_find(t, pieces[i], strlen(pieces[i]));
        assert_true(want >= 0);
        if (ids[i] != want)
            fail_msg("'%s' token %zu: id %d, expected '%s' (%d)", text, i, ids[i], pieces[i], want);
    }
    free(ids);
}

static void test_tokenizer_cases(void **state)
{
    (void)state;
    encoder_t *b = load(tpath("bert.gguf"), 0), *m = load(tpath("mpnet"), 0);
    /* lower-casing and accent stripping (NFD, drop combining marks) */
    const char *p1[] = {"[CLS]", "cafe", "resume", "naive", "[SEP]"};
    expect_ids(b, "Café RÉSUMÉ naïve", p1, 5);
    const char *p1m[] = {"<s>", "cafe", "resume", "naive", "</s>"};
    expect_ids(m, "Café RÉSUMÉ naïve", p1m, 5);
    /* punctuation splits into its own tokens */
    const char *p2[] = {"[CLS]", "hello", ",", "world", "!", "?", "[SEP]"};
    expect_ids(b, "Hello,world!?", p2, 7);
    /* CJK characters become separate words */
    const char *p3[] = {"[CLS]", "中", "文", "text", "[SEP]"};
    expect_ids(b, "中文text", p3, 5);
    /* subwords, and [UNK] for a word with no segmentation (Cyrillic is not in the vocab) */
    const char *p5[] = {"<s>", "play", "##s", "un", "##able", "[UNK]", "</s>"};
    expect_ids(m, "plays unable жук", p5, 7);
    const char *p6[] = {"[CLS]", "running", "cities", "[SEP]"};
    expect_ids(b, "  running\tcities\n", p6, 4);
    encoder_free(b);
    encoder_free(m);

    /* truncation keeps [CLS] ... [SEP] within max_seq */
    encoder_t *t = load(tpath("bert.gguf"), 6);
    assert_int_equal(encoder_max_seq(t), 6);
    const char *p7[] = {"[CLS]", "a", "b", "c", "d", "[SEP]"};
    expect_ids(t, "a b c d e f g h", p7, 6);
    /* a longer sequence than max_seq is refused by the ids entry point */
    int32_t ids[8] = {2, 5, 6, 7, 8, 9, 10, 3};
    const int32_t *pi[1] = {ids};
    size_t len = 8;
    float v[64];
    assert_int_equal(encoder_embed_ids(t, pi, &len, 1, 1, v), RAGD_EINVAL);
    ids[1] = 1 << 20; /* outside the vocabulary */
    len = 3;
    assert_int_equal(encoder_embed_ids(t, pi, &len, 1, 1, v), RAGD_EINVAL);
    encoder_free(t);
}

/* A folder with tokenizer.json (preferred over vocab.txt) gives the same ids and vectors. */
static void test_tokenizer_json(void **state)
{
    (void)state;
    struct hand h;
    hand_init(&h);
    const char *dir = tpath("hand-mpnet-json");
    hand_write(&h, dir, 1);
    encoder_t *a = load(dir, 0);
    char p[512];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    /* a different vocabulary order than vocab.txt: the ids must come from tokenizer.json */
    write_file(p, "{\"version\":\"1.0\",\"added_tokens\":[],"
                  "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true,"
                  "\"strip_accents\":null,\"clean_text\":true,\"handle_chinese_chars\":true},"
                  "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                  "\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],"
                  "\"cls\":[\"<s>\",0]},"
                  "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
                  "\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,"
                  "\"vocab\":{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"[UNK]\":4,"
                  "\"b\":5,\"a\":6,\"c\":7,\"d\":8,\"e\":9,\"##x\":10,\"<mask>\":11}}}");
    encoder_t *b = load(dir, 0);
    int32_t *ids;
    size_t n;
    assert_int_equal(encoder_tokenize(b, "A b", 3, &ids, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 6); /* "a" is 6 in tokenizer.json, 5 in vocab.txt */
    assert_int_equal(ids[2], 5);
    assert_int_equal(ids[3], 2);
    free(ids);
    const char *t[1] = {"c dx e"}; /* same ids in both vocabularies */
    float va[HD], vb[HD];
    assert_int_equal(encoder_embed(a, t, 1, 1, va), 0);
    assert_int_equal(encoder_embed(b, t, 1, 1, vb), 0);
    assert_true(dist(va, vb, HD) == 0);
    encoder_free(a);
    encoder_free(b);
}

/* ---- loader errors ---- */

static void expect_load_error(const char *path, int rc, const char *needle)
{
    encoder_t *e = NULL;
    char err[256] = "";
    assert_int_equal(encoder_load(path, NULL, &e, err, sizeof err), rc);
    assert_null(e);
    if (!strstr(err, needle))
        fail_msg("error for %s: '%s' does not mention '%s'", path, err, needle);
}

static void test_errors(void **state)
{
    (void)state;
    expect_load_error(tpath("nope"), RAGD_EIO, "cannot open");
    const char *empty = tpath("empty");
    mkdir(empty, 0755);
    expect_load_error(empty, RAGD_EIO, "no config.json");
    /* truncated safetensors */
    char cmd[1024];
    const char *bad = tpath("trunc");
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && truncate -s 100000 '%s/model.safetensors'",
             tpath("mpnet"), bad, bad);
    assert_int_equal(system(cmd), 0);
    expect_load_error(bad, RAGD_EFORMAT, "truncated");
    /* an unknown model type */
    snprintf(cmd, sizeof cmd, "%s/config.json", bad);
    write_file(cmd, "{\"model_type\": \"t5\"}");
    expect_load_error(bad, RAGD_ENOTSUP, "model_type 't5'");
    write_file(cmd, "{\"model_type\": ");
    expect_load_error(bad, RAGD_EFORMAT, "config.json");
    /* a missing tensor */
    struct hand h;
    hand_init(&h);
    const char *dir = tpath("hand-missing");
    hand_write(&h, dir, 0);
    snprintf(cmd, sizeof cmd, "%s/config.json", dir);
    write_file(cmd, "{\"model_type\":\"bert\",\"hidden_size\":8,\"num_hidden_layers\":2,"
                    "\"num_attention_heads\":2,\"intermediate_size\":12,"
                    "\"max_position_embeddings\":16,\"vocab_size\":12}");
    expect_load_error(dir, RAGD_EFORMAT, "encoder.layer.1.attention.self.query.weight");
    /* a decoder GGUF is not an encoder */
    const char *g = tpath("dec.gguf");
    gguf_writer_t *w = gguf_writer_create();
    gguf_writer_set_str(w, "general.architecture", "qwen3");
    assert_int_equal(gguf_writer_begin(w, g), 0);
    assert_int_equal(gguf_writer_finish(w), 0);
    gguf_writer_free(w);
    expect_load_error(g, RAGD_ENOTSUP, "not an encoder");
}

/* ---- concurrent callers ---- */

struct worker {
    encoder_t *e;
    float *out;
    int rc;
};

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 3 && !w->rc; i++)
        w->rc = encoder_embed(w->e, texts, N_TEXTS, 4, w->out);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    encoder_t *e = load(tpath("mpnet"), 0);
    int D = encoder_dim(e);
    float *ref = malloc(N_TEXTS * D * sizeof *ref);
    assert_int_equal(encoder_embed(e, texts, N_TEXTS, 32, ref), 0);
    struct worker ws[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        ws[i] = (struct worker){e, malloc(N_TEXTS * D * sizeof(float)), 0};
        assert_int_equal(pthread_create(&th[i], NULL, run_worker, &ws[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ws[i].rc, 0);
        assert_true(dist(ref, ws[i].out, (int)N_TEXTS * D) <= 1e-5);
        free(ws[i].out);
    }
    free(ref);
    encoder_free(e);
}

/* ---- quantised weights ---- */

/* A q8_0 BERT file (matrices in q8_0, the rest f32) loads, embeds every text within 1e-3
 * cosine of the f32 file made from the same seed, and is really a different file. */
static void test_q8_0_weights(void **state)
{
    (void)state;
    struct mktiny_encoder_opts q = {"bert", tpath("bert-q8.gguf"), GGML_TYPE_Q8_0, 7, "tiny"};
    char err[256] = "";
    if (mktiny_encoder_write(&q, err, sizeof err)) fail_msg("mktiny q8_0: %s", err);
    encoder_t *ef = load(tpath("bert.gguf"), 0), *eq = load(tpath("bert-q8.gguf"), 0);
    int D = encoder_dim(ef);
    assert_int_equal(encoder_dim(eq), D);
    float *vf = malloc(N_TEXTS * D * sizeof *vf), *vq = malloc(N_TEXTS * D * sizeof *vq);
    assert_int_equal(encoder_embed(ef, texts, N_TEXTS, 32, vf), 0);
    assert_int_equal(encoder_embed(eq, texts, N_TEXTS, 32, vq), 0);
    for (size_t i = 0; i < N_TEXTS; i++) {
        double dot = 0, nf = 0, nq = 0;
        for (int k = 0; k < D; k++) {
            dot += (double)vf[i * D + k] * vq[i * D + k];
            nf += (double)vf[i * D + k] * vf[i * D + k];
            nq += (double)vq[i * D + k] * vq[i * D + k];
        }
        double cos = dot / sqrt(nf * nq);
        if (cos < 1.0 - 1e-3) fail_msg("text %zu: q8_0 cosine to f32 %.6f", i, cos);
    }
    assert_true(dist(vf, vq, (int)N_TEXTS * D) > 0);
    free(vf);
    free(vq);
    encoder_free(ef);
    encoder_free(eq);
}

/* ---- the bf16 path ---- */

static double min_cosine(const float *x, const float *y, size_t n, int D)
{
    double worst = 1;
    for (size_t i = 0; i < n; i++) {
        double dot = 0, nx = 0, ny = 0;
        for (int k = 0; k < D; k++) {
            dot += (double)x[i * D + k] * y[i * D + k];
            nx += (double)x[i * D + k] * x[i * D + k];
            ny += (double)y[i * D + k] * y[i * D + k];
        }
        worst = fmin(worst, dot / sqrt(nx * ny));
    }
    return worst;
}

/* bf16 (or int8) products stay within 1e-3 cosine of the f32 path, batch or one by one, on
 * BERT (f32 and q8_0 weights) and MPNet; they really run where the CPU has AVX-512 BF16 (or
 * the tiled q8_0 GEMM). */
static void check_reduced(int int8)
{
    struct mktiny_encoder_opts q = {"bert", tpath("bert-q8b.gguf"), GGML_TYPE_Q8_0, 7, "tiny"};
    char err[256] = "";
    if (mktiny_encoder_write(&q, err, sizeof err)) fail_msg("mktiny q8_0: %s", err);
    const char *paths[] = {tpath("bert.gguf"), tpath("mpnet"), tpath("bert-q8b.gguf")};
    for (size_t p = 0; p < 3; p++) {
        encoder_t *ef = load(paths[p], 0), *eb = NULL;
        struct encoder_opts o = {.n_threads = 2, .bf16 = !int8, .int8 = int8};
        if (encoder_load(paths[p], &o, &eb, err, sizeof err)) fail_msg("load: %s", err);
        int D = encoder_dim(ef);
        float *vf = malloc(N_TEXTS * D * sizeof *vf), *vb = malloc(N_TEXTS * D * sizeof *vb);
        float *one = malloc(N_TEXTS * D * sizeof *one);
        assert_int_equal(encoder_embed(ef, texts, N_TEXTS, 32, vf), 0);
        assert_int_equal(encoder_embed(eb, texts, N_TEXTS, 32, vb), 0);
        for (size_t i = 0; i < N_TEXTS; i++)
            assert_int_equal(encoder_embed(eb, &texts[i], 1, 1, one + i * D), 0);
        double c = min_cosine(vf, vb, N_TEXTS, D);
        if (c < 1.0 - 1e-3)
            fail_msg("%s: %s cosine to f32 %.6f", paths[p], int8 ? "int8" : "bf16", c);
        assert_true(dist(vb, one, (int)N_TEXTS * D) <= 1e-5);
        if (int8 ? quant_gemm_kernel(GGML_TYPE_Q8_0, quant_best_isa()) != NULL
                 : enc_kernel_bf16_pick() != NULL)
            assert_true(dist(vf, vb, (int)N_TEXTS * D) > 0);
        free(vf);
        free(vb);
        free(one);
        encoder_free(ef);
        encoder_free(eb);
    }
}

static void test_bf16(void **state)
{
    (void)state;
    check_reduced(0);
}

static void test_int8(void **state)
{
    (void)state;
    check_reduced(1);
}

/* The vector GELU against the C library's erf and tanh forms, and the vector bf16 rounding
 * against the definition (nearest, ties to even, NaN quiet) bit for bit, odd lengths included
 * so both the vector body and the scalar tail run. */
static void test_gelu_and_bf16_rounding(void **state)
{
    (void)state;
    enum { N = 4099 };
    static float x[N], y[N];
    static uint16_t b[N];
    for (int form = 0; form < 2; form++) {
        for (int i = 0; i < N; i++)
            x[i] = y[i] = -12.0f + 24.0f * (float)i / (float)(N - 1);
        enc_gelu(y, N, form);
        for (int i = 0; i < N; i++) {
            double v = x[i],
                   want = form ? 0.5 * v * (1 + tanh(0.7978845608 * (v + 0.044715 * v * v * v)))
                               : 0.5 * v * (1 + erf(v / sqrt(2.0)));
            if (fabs(y[i] - want) > 3e-7 * (1 + fabs(v)))
                fail_msg("gelu form %d at %g: %.9g, want %.9g", form, v, (double)y[i], want);
        }
    }
    uint32_t special[] = {0x7f800000u, 0xff800000u, 0x7fc00001u, 0x7f800001u, 0x00000001u,
                          0x807fffffu, 0x3f808000u, 0x3f818000u, 0x7f7fffffu, 0};
    for (int i = 0; i < N; i++) {
        uint32_t u = i < 10 ? special[i] : (uint32_t)i * 2654435761u;
        memcpy(&x[i], &u, 4);
    }
    enc_to_bf16(x, b, N);
    for (int i = 0; i < N; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint16_t want = (u & 0x7fffffffu) > 0x7f800000u
                            ? (uint16_t)((u >> 16) | 0x40)
                            : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
        if (b[i] != want) fail_msg("bf16 of %08x: %04x, want %04x", u, b[i], want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rel_bucket),
        cmocka_unit_test(test_hand_checked),
        cmocka_unit_test(test_classification_head),
        cmocka_unit_test(test_batch_equals_single),
        cmocka_unit_test(test_padding),
        cmocka_unit_test(test_tokenizer_cases),
        cmocka_unit_test(test_tokenizer_json),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_q8_0_weights),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_gelu_and_bf16_rounding),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
