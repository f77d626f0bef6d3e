#include "tools/mktiny.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/gguf.h"
#include "engine/quant.h"

/* ---- deterministic random numbers ---- */

uint64_t mktiny_rand(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float mktiny_uniform(uint64_t *s)
{
    return (float)((double)(mktiny_rand(s) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

/* ---- vocabulary ---- */

static const char corpus[] =
    "The quick brown fox jumps over the lazy dog. A retrieval augmented assistant answers "
    "questions from the documents of its users, and it cites the sources it used. "
    "When the answer is not in the knowledge base, the assistant says that it does not know. "
    "Tokens are pieces of words; the model reads tokens and predicts the next token. "
    "In the beginning there were bytes, and then there were merges of the most frequent pairs. "
    "Hello world! How are you today? I am fine, thank you. What is the time? It is 10:45. "
    "The numbers 1, 2, 3, 42, 100 and 2024 appear in the text, as do words like the, and, of, "
    "to, in, is, it, that, this, with, for, on, as, are, was, be, by, not, or, from, at, an. "
    "int main(void) { return 0; } for (int i = 0; i < n; i++) sum += x[i]; "
    "Please summarise the following document in three sentences and list its main topics. "
    "The weather is nice and the students are reading their notes about biology and history.";

/* GPT-2's byte-to-unicode map: printable bytes map to themselves, the rest to 256 + k. */
static int byte_to_cp(int b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int k = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) k++;
    return 256 + k;
}

static size_t put_utf8(char *o, int cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2; /* the map never exceeds U+07FF */
}

struct vocab {
    char **tok;
    size_t *len;
    int32_t *type;
    size_t n, cap;
    char **merge;
    size_t *merge_len;
    size_t n_merge;
};

static void vocab_add(struct vocab *v, const char *s, size_t len, int32_t type)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        v->tok = xrealloc(v->tok, v->cap * sizeof *v->tok);
        v->len = xrealloc(v->len, v->cap * sizeof *v->len);
        v->type = xrealloc(v->type, v->cap * sizeof *v->type);
    }
    v->tok[v->n] = xstrndup(s, len);
    v->len[v->n] = len;
    v->type[v->n] = type;
    v->n++;
}

static void vocab_free(struct vocab *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->tok[i]);
    for (size_t i = 0; i < v->n_merge; i++)
        free(v->merge[i]);
    free(v->tok);
    free(v->len);
    free(v->type);
    free(v->merge);
    free(v->merge_len);
}

/* Learns n_merges BPE merges from the corpus: words are split GPT-2 style (a space attaches
 * to the following word), symbols start as the byte tokens, the most frequent adjacent pair
 * (ties broken by the smaller token ids) is merged repeatedly. */
static void build_bpe(struct vocab *v, int n_merges)
{
    for (int b = 0; b < 256; b++) {
        char buf[4];
        size_t n = put_utf8(buf, byte_to_cp(b));
        vocab_add(v, buf, n, 1);
    }
    size_t clen = strlen(corpus);
    int *sym = xmalloc(clen * sizeof *sym);       /* token id per symbol */
    int *wstart = xmalloc(clen * sizeof *wstart); /* 1 where a word starts */
    size_t ns = clen;
    for (size_t i = 0; i < clen; i++) {
        unsigned char ch = (unsigned char)corpus[i];
        sym[i] = ch;
        int alnum = (ch | 32) >= 'a' && (ch | 32) <= 'z';
        int prev_alnum = i && (((unsigned char)corpus[i - 1] | 32) >= 'a' &&
                               ((unsigned char)corpus[i - 1] | 32) <= 'z');
        wstart[i] = i == 0 || ch == ' ' || !alnum || (!prev_alnum && corpus[i - 1] != ' ');
    }
    v->merge = xcalloc((size_t)n_merges, sizeof *v->merge);
    v->merge_len = xcalloc((size_t)n_merges, sizeof *v->merge_len);
    for (int m = 0; m < n_merges; m++) {
        /* O(n^2) over the pairs is fine for a corpus of a kilobyte or two */
        int best_a = -1, best_b = -1, best_c = 0;
        for (size_t i = 0; i + 1 < ns; i++) {
            if (wstart[i + 1]) continue;
            int a = sym[i], b = sym[i + 1], c = 0;
            if (a == best_a && b == best_b) continue;
            for (size_t j = 0; j + 1 < ns; j++)
                if (!wstart[j + 1] && sym[j] == a && sym[j + 1] == b) c++;
            if (c > best_c || (c == best_c && (a < best_a || (a == best_a && b < best_b)))) {
                best_a = a;
                best_b = b;
                best_c = c;
            }
        }
        if (best_c < 2) break;
        char buf[256];
        size_t la = v->len[best_a], lb = v->len[best_b];
        if (la + lb + 2 > sizeof buf) break;
        memcpy(buf, v->tok[best_a], la);
        buf[la] = ' ';
        memcpy(buf + la + 1, v->tok[best_b], lb);
        v->merge[v->n_merge] = xstrndup(buf, la + 1 + lb);
        v->merge_len[v->n_merge++] = la + 1 + lb;
        memcpy(buf + la, v->tok[best_b], lb);
        int id = (int)v->n;
        vocab_add(v, buf, la + lb, 1);
        size_t o = 0;
        for (size_t i = 0; i < ns; i++) {
            if (i + 1 < ns && !wstart[i + 1] && sym[i] == best_a && sym[i + 1] == best_b) {
                sym[o] = id;
                wstart[o++] = wstart[i];
                i++;
            } else {
                sym[o] = sym[i];
                wstart[o++] = wstart[i];
            }
        }
        ns = o;
    }
    free(wstart);
    free(sym);
}

/* ---- shapes ---- */

struct shape {
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx, pad_vocab;
};

static int get_shape(const char *name, struct shape *s)
{
    if (!strcmp(name, "tiny"))
        *s = (struct shape){256, 2, 8, 4, 32, 512, 512, 0};
    else if (!strcmp(name, "0.6b"))
        *s = (struct shape){1024, 28, 16, 8, 128, 3072, 40960, 151936};
    else if (!strcmp(name, "1.7b"))
        *s = (struct shape){2048, 28, 16, 8, 128, 6144, 40960, 151936};
    else
        return RAGD_EINVAL;
    return 0;
}

static const char chat_template[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is "
    "false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}";

static uint32_t file_type_of(uint32_t t)
{
    switch (t) {
    case GGML_TYPE_F32:
        return 0;
    case GGML_TYPE_F16:
        return 1;
    case GGML_TYPE_Q4_0:
        return 2;
    case GGML_TYPE_Q8_0:
        return 7;
    case GGML_TYPE_Q4_K:
        return 15; /* Q4_K_M */
    case GGML_TYPE_Q5_K:
        return 17; /* Q5_K_M */
    case GGML_TYPE_Q6_K:
        return 18;
    case GGML_TYPE_BF16:
        return 32;
    }
    return 0;
}

struct tdesc {
    char name[64];
    uint32_t type;
    int64_t cols, rows; /* rows == 0: 1-D */
    int kind;           /* 0 matrix, 1 norm, 2 bias, 3 embedding */
};

/* The Q4_K_M / Q5_K_M recipe gives attn_v and ffn_down of some layers six bits. */
static int more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

int mktiny_write(const struct mktiny_opts *o, char *err, size_t err_len)
{
    struct shape sh;
    int rc = 0;
    if (get_shape(o->shape ? o->shape : "tiny", &sh))
        return ragd_errf(err, err_len, RAGD_EINVAL, "mktiny: unknown shape '%s' (tiny, 0.6b, 1.7b)",
                         o->shape);
    int qwen3 = !strcmp(o->arch, "qwen3"), qwen2 = !strcmp(o->arch, "qwen2"),
        llama = !strcmp(o->arch, "llama");
    if (!qwen3 && !qwen2 && !llama)
        return ragd_errf(err, err_len, RAGD_EINVAL,
                         "mktiny: unknown arch '%s' (qwen3, qwen2, llama)", o->arch);
    const struct quant_type_info *ti = quant_type_info(o->type);
    if (!ti || !ti->supported)
        return ragd_errf(err, err_len, RAGD_EINVAL, "mktiny: unsupported type");
    int ktype = ti->block == QKK;

    gguf_writer_t *w = gguf_writer_create();
    struct vocab v = {0};
    gguf_t *src = NULL;
    struct tdesc *td = NULL;
    float *buf = NULL;
    int n_vocab;
    const char *A = o->arch;
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", A, suffix), key)

    gguf_writer_set_str(w, "general.architecture", A);
    gguf_writer_set_str(w, "general.name", "ragd random test model");
    gguf_writer_set_u32(w, "general.file_type", file_type_of(o->type));
    if (ti->block > 1) gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, K("context_length"), (uint32_t)sh.n_ctx);
    gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)sh.n_embd);
    gguf_writer_set_u32(w, K("block_count"), (uint32_t)sh.n_layer);
    gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)sh.n_ff);
    gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)sh.n_head);
    gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)sh.n_head_kv);
    gguf_writer_set_f32(w, K("rope.freq_base"), llama ? 500000.0f : 1000000.0f);
    gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), llama ? 1e-5f : 1e-6f);
    if (qwen3 || sh.head_dim * sh.n_head != sh.n_embd) {
        gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)sh.head_dim);
        gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)sh.head_dim);
    }
    if (llama) {
        gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)sh.head_dim);
        gguf_writer_set_u32(w, K("vocab_size"), 0); /* rewritten below */
    }
#undef K

    if (o->vocab_from) {
        if ((rc = gguf_open(o->vocab_from, &src, err, err_len))) goto done;
        const struct gguf_value *toks;
        if (gguf_get_arr(src, "tokenizer.ggml.tokens", &toks) ||
            toks->v.arr.elem_type != GGUF_TYPE_STRING || toks->v.arr.n == 0 ||
            toks->v.arr.n > (1u << 24)) {
            rc = ragd_errf(err, err_len, RAGD_EINVAL, "mktiny: %s has no tokenizer.ggml.tokens",
                           o->vocab_from);
            goto done;
        }
        n_vocab = (int)toks->v.arr.n;
        for (size_t i = 0; i < gguf_n_kv(src); i++)
            if (!strncmp(gguf_kv_key(src, i), "tokenizer.", 10))
                gguf_writer_set_value(w, gguf_kv_key(src, i), gguf_kv_value(src, i));
    } else {
        build_bpe(&v, 300);
        size_t first_special = v.n;
        if (llama) {
            vocab_add(&v, "<|begin_of_text|>", 17, 3);
            vocab_add(&v, "<|end_of_text|>", 15, 3);
        }
        vocab_add(&v, "<|endoftext|>", 13, 3);
        vocab_add(&v, "<|im_start|>", 12, 3);
        vocab_add(&v, "<|im_end|>", 10, 3);
        vocab_add(&v, "<think>", 7, 4);
        vocab_add(&v, "</think>", 8, 4);
        char pad[32];
        while ((int)v.n < sh.pad_vocab) {
            int n = snprintf(pad, sizeof pad, "[PAD%zu]", v.n);
            vocab_add(&v, pad, (size_t)n, 5);
        }
        n_vocab = (int)v.n;
        int32_t bos = (int32_t)first_special, eos = (int32_t)first_special + (llama ? 1 : 2);
        gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
        gguf_writer_set_str(w, "tokenizer.ggml.pre", llama ? "llama-bpe" : "qwen2");
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tok, v.len, v.n);
        gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.type, v.n);
        gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v.merge,
                                v.merge_len, v.n_merge);
        gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
        gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
        gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)(llama ? eos : bos));
        gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", llama);
        gguf_writer_set_str(w, "tokenizer.chat_template", chat_template);
    }
    if (llama) {
        snprintf(key, sizeof key, "%s.vocab_size", A);
        gguf_writer_set_u32(w, key, (uint32_t)n_vocab);
    }

    /* Tensor table in the order the converters write it. */
    int L = sh.n_layer, D = sh.n_embd, qd = sh.n_head * sh.head_dim,
        kvd = sh.n_head_kv * sh.head_dim;
    int tied = !llama; /* Qwen3 0.6B/1.7B tie the output to the embedding; so do ours */
    size_t max_t = 3 + (size_t)L * 14, nt = 0;
    td = xcalloc(max_t, sizeof *td);
    uint32_t six = ktype ? GGML_TYPE_Q6_K : o->type;
#define T(nm, ty, c, r, k)                                                                         \
    do {                                                                                           \
        snprintf(td[nt].name, sizeof td[nt].name, "%s", nm);                                       \
        td[nt].type = (ty);                                                                        \
        td[nt].cols = (c);                                                                         \
        td[nt].rows = (r);                                                                         \
        td[nt].kind = (k);                                                                         \
        nt++;                                                                                      \
    } while (0)
    T("token_embd.weight", tied ? six : o->type, D, n_vocab, 3);
    T("output_norm.weight", GGML_TYPE_F32, D, 0, 1);
    if (!tied) T("output.weight", six, D, n_vocab, 3);
    for (int i = 0; i < L; i++) {
        char n[64];
        uint32_t vt = o->type == GGML_TYPE_Q4_K && more_bits(i, L) ? GGML_TYPE_Q6_K : o->type;
#define B(suffix) (snprintf(n, sizeof n, "blk.%d.%s", i, suffix), n)
        T(B("attn_norm.weight"), GGML_TYPE_F32, D, 0, 1);
        T(B("attn_q.weight"), o->type, D, qd, 0);
        T(B("attn_k.weight"), o->type, D, kvd, 0);
        T(B("attn_v.weight"), vt, D, kvd, 0);
        if (qwen2) {
            T(B("attn_q.bias"), GGML_TYPE_F32, qd, 0, 2);
            T(B("attn_k.bias"), GGML_TYPE_F32, kvd, 0, 2);
            T(B("attn_v.bias"), GGML_TYPE_F32, kvd, 0, 2);
        }
        if (qwen3) {
            T(B("attn_q_norm.weight"), GGML_TYPE_F32, sh.head_dim, 0, 1);
            T(B("attn_k_norm.weight"), GGML_TYPE_F32, sh.head_dim, 0, 1);
        }
        T(B("attn_output.weight"), o->type, qd, D, 0);
        T(B("ffn_norm.weight"), GGML_TYPE_F32, D, 0, 1);
        T(B("ffn_gate.weight"), o->type, D, sh.n_ff, 0);
        T(B("ffn_up.weight"), o->type, D, sh.n_ff, 0);
        T(B("ffn_down.weight"), vt, sh.n_ff, D, 0);
#undef B
    }
#undef T
    for (size_t i = 0; i < nt; i++) {
        int64_t ne[2] = {td[i].cols, td[i].rows};
        if ((rc = gguf_writer_add_tensor(w, td[i].name, td[i].type, td[i].rows ? 2 : 1, ne))) {
            rc = ragd_errf(err, err_len, RAGD_EINVAL,
                           "mktiny: tensor %s: shape not compatible with "
                           "type %s",
                           td[i].name, quant_type_info(td[i].type)->name);
            goto done;
        }
    }
    if ((rc = gguf_writer_begin(w, o->out))) {
        rc = ragd_errf(err, err_len, rc, "mktiny: cannot write %s", o->out);
        goto done;
    }
    uint64_t rng = o->seed * 0x2545f4914f6cdd1dull + 1;
    int64_t max_cols = sh.n_ff > D ? sh.n_ff : D;
    if (qd > max_cols) max_cols = qd;
    buf = xmalloc((size_t)max_cols * sizeof(float));
    for (size_t i = 0; i < nt; i++) {
        int64_t rows = td[i].rows ? td[i].rows : 1, cols = td[i].cols;
        size_t rb = quant_row_bytes(td[i].type, (size_t)cols);
        size_t chunk_rows = (size_t)(4 << 20) / rb + 1;
        if (chunk_rows > (size_t)rows) chunk_rows = (size_t)rows;
        uint8_t *out = xmalloc(chunk_rows * rb);
        float a = td[i].kind == 3 ? 2.0f * sqrtf(3.0f / (float)D) : sqrtf(3.0f / (float)cols);
        for (int64_t r = 0; r < rows;) {
            size_t k = 0;
            for (; k < chunk_rows && r < rows; k++, r++) {
                for (int64_t c = 0; c < cols; c++) {
                    float u = mktiny_uniform(&rng);
                    buf[c] = td[i].kind == 1 ? 1.0f + 0.1f * u : td[i].kind == 2 ? 0.1f * u : a * u;
                }
                quant_quantize_row(td[i].type, buf, out + k * rb, (size_t)cols);
            }
            if ((rc = gguf_writer_write_tensor(w, out, k * rb))) break;
        }
        free(out);
        if (rc) {
            rc = ragd_errf(err, err_len, rc, "mktiny: writing %s failed", td[i].name);
            goto done;
        }
    }
    if ((rc = gguf_writer_finish(w)))
        rc = ragd_errf(err, err_len, rc, "mktiny: cannot finish %s", o->out);
done:
    free(buf);
    free(td);
    gguf_close(src);
    vocab_free(&v);
    gguf_writer_free(w);
    return rc;
}
