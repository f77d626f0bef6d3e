/* engine_cli.c - the engine's command-line verbs: tokenize, detokenize, eval, generate, model. */
#include "tools/engine_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "engine/chatml.h"
#include "tools/encoder_cli.h"
#include "engine/gguf.h"
#include "engine/llm.h"
#include "tools/mktiny.h"
#include "tools/mktiny_encoder.h"
#include "engine/model.h"
#include "engine/pool.h"
#include "engine/quant.h"
#include "engine/tok_gguf.h"
#include "engine/tokenizer.h"

#define EXIT_USAGE 2

void engine_cli_usage(void *file)
{
    FILE *f = file;
    fputs("  tokenize --model F [--add-special] [--no-parse-special|--plain] TEXT|-\n"
          "                      print the token ids of TEXT (--plain: as message contents,\n"
          "                      no special or user-defined token matched)\n"
          "  detokenize --model F IDS...\n"
          "                      print the text of token ids\n"
          "  eval --model F (--prompt TEXT | --tokens \"ID ...\") --out FILE [--threads N]\n"
          "       [--batch N]    write every position's logits (float32, n_tokens x n_vocab)\n"
          "  generate --model F (--prompt TEXT | --tokens \"ID ...\") [--chat] [--think]\n"
          "       [--system S] [--n-predict N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
          "       [--repeat-penalty R] [--seed S] [--greedy] [--stop S] [--threads N] [--ctx N]\n"
          "                      generate text; timings on stderr\n"
          "  model info F        describe a GGUF model as JSON\n"
          "  model mktiny --arch qwen3|qwen2|llama --out F [--type T] [--seed N]\n"
          "       [--shape tiny|0.6b|1.7b] [--vocab-from G]\n"
          "                      write a model with random weights (for tests and benchmarks)\n",
          f);
    encoder_cli_usage(f); /* sentence encoders: embed, mktiny --arch bert|mpnet */
}

/* ---- argument helpers ---- */

/* RAGD_WEIGHTS_MMAP: map the decoder's file instead of reading it into huge pages */
static int weights_mapped(void)
{
    return config_bool("RAGD_WEIGHTS_MMAP", 0);
}

static int usage_err(const char *verb, const char *msg)
{
    fprintf(stderr, "ragd %s: %s (see ragd --help)\n", verb, msg);
    return EXIT_USAGE;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

/* Parses "1 2 3" (spaces, commas or tabs) into ids. */
static int parse_ids(const char *s, int32_t **ids, size_t *n)
{
    size_t cap = 16, k = 0;
    int32_t *v = xmalloc(cap * sizeof *v);
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
            p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < 0 || x > INT32_MAX) {
            free(v);
            return -1;
        }
        if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[k++] = (int32_t)x;
        p = end;
    }
    *ids = v;
    *n = k;
    return 0;
}

static char *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (cap - n - 1 == 0) buf = xrealloc(buf, cap *= 2);
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Loads only the tokenizer of a GGUF (no weights needed). */
static int load_tokenizer(const char *verb, const char *path, gguf_t **g, tokenizer_t **tok)
{
    char err[256] = "";
    int rc = gguf_open(path, g, err, sizeof err);
    if (!rc) {
        rc = tok_gguf_load(*g, tok, err, sizeof err);
        if (rc) gguf_close(*g);
    }
    if (rc) fprintf(stderr, "ragd %s: %s\n", verb, err[0] ? err : ragd_strerror(rc));
    return rc;
}

/* ---- tokenize / detokenize ---- */

static int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL;
    int flags = TOKENIZE_PARSE_SPECIAL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--add-special"))
            flags |= TOKENIZE_ADD_SPECIAL;
        else if (!strcmp(argv[i], "--no-parse-special"))
            flags &= ~TOKENIZE_PARSE_SPECIAL;
        else if (!strcmp(argv[i], "--plain")) /* as message contents are tokenized */
            flags = (flags & ~TOKENIZE_PARSE_SPECIAL) | TOKENIZE_PLAIN;
        else if (!text && (argv[i][0] != '-' || !strcmp(argv[i], "-") || !argv[i][0]))
            text = argv[i];
        else
            return usage_err("tokenize", "unexpected argument");
    }
    if (!model || !text) return usage_err("tokenize", "--model and TEXT are required");
    gguf_t *g;
    tokenizer_t *tok;
    if (load_tokenizer("tokenize", model, &g, &tok)) return 1;
    size_t len;
    char *owned = NULL;
    if (!strcmp(text, "-"))
        text = owned = read_stdin(&len);
    else
        len = strlen(text);
    int32_t *ids;
    size_t n;
    int rc = tokenizer_encode(tok, text, len, flags, &ids, &n);
    if (rc) {
        fprintf(stderr, "ragd tokenize: %s\n", ragd_strerror(rc));
    } else {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        free(ids);
    }
    free(owned);
    tokenizer_free(tok);
    gguf_close(g);
    return rc ? 1 : 0;
}

static int cmd_detokenize(int argc, char **argv)
{
    const char *model = NULL;
    size_t cap = 16, n = 0;
    int32_t *ids = xmalloc(cap * sizeof *ids);
    int ret = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model = argv[++i];
            continue;
        }
        int32_t *part;
        size_t k;
        if (parse_ids(argv[i], &part, &k)) {
            free(ids);
            return usage_err("detokenize", "token ids must be non-negative integers");
        }
        for (size_t j = 0; j < k; j++) {
            if (n == cap) ids = xrealloc(ids, (cap *= 2) * sizeof *ids);
            ids[n++] = part[j];
        }
        free(part);
    }
    if (!model) {
        free(ids);
        return usage_err("detokenize", "--model is required");
    }
    gguf_t *g;
    tokenizer_t *tok;
    if (load_tokenizer("detokenize", model, &g, &tok)) {
        free(ids);
        return 1;
    }
    char *text;
    size_t len;
    int rc = tokenizer_decode(tok, ids, n, 0, &text, &len);
    if (rc) {
        fprintf(stderr, "ragd detokenize: %s\n", ragd_strerror(rc));
        ret = 1;
    } else {
        fwrite(text, 1, len, stdout);
        putchar('\n');
        free(text);
    }
    free(ids);
    tokenizer_free(tok);
    gguf_close(g);
    return ret;
}

/* ---- eval ---- */

static int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *tokens = NULL, *out = NULL;
    long threads = 0, batch = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc)
            prompt = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            tokens = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (parse_long(argv[++i], 0, 1024, &threads))
                return usage_err("eval", "--threads must be 0..1024");
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            if (parse_long(argv[++i], 1, 4096, &batch))
                return usage_err("eval", "--batch must be 1..4096");
        } else {
            return usage_err("eval", "unexpected argument");
        }
    }
    if (!model || !out || !!prompt == !!tokens)
        return usage_err("eval", "--model, --out and one of --prompt / --tokens are required");
    char err[256] = "";
    model_t *m = NULL;
    pool_t *pool = NULL;
    model_state_t *st = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    float *logits = NULL;
    FILE *f = NULL;
    int ret = 1, rc = model_load(model, weights_mapped(), &m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ragd eval: %s\n", err);
        return 1;
    }
    if (tokens) {
        if (parse_ids(tokens, &ids, &n) || n == 0) {
            fprintf(stderr, "ragd eval: --tokens needs a list of token ids\n");
            goto done;
        }
    } else {
        tokenizer_t *tok;
        if ((rc = tok_gguf_load(model_gguf(m), &tok, err, sizeof err))) {
            fprintf(stderr, "ragd eval: %s\n", err);
            goto done;
        }
        rc = tokenizer_encode(tok, prompt, strlen(prompt),
                              TOKENIZE_ADD_SPECIAL | TOKENIZE_PARSE_SPECIAL, &ids, &n);
        tokenizer_free(tok);
        if (rc || n == 0) {
            fprintf(stderr, "ragd eval: cannot tokenize the prompt\n");
            goto done;
        }
    }
    const struct model_config *c = model_config(m);
    if (n > (size_t)c->n_ctx_train) {
        fprintf(stderr, "ragd eval: %zu tokens exceed the model's context of %d\n", n,
                c->n_ctx_train);
        goto done;
    }
    if ((rc = pool_create((int)threads, &pool)) ||
        (rc = model_state_create(m, (int)n, (int)batch, pool, quant_best_isa(), &st))) {
        fprintf(stderr, "ragd eval: %s\n", ragd_strerror(rc));
        goto done;
    }
    logits = try_malloc(n * (size_t)c->n_vocab * sizeof(float));
    if (!logits) {
        fprintf(stderr, "ragd eval: out of memory for %zu x %d logits\n", n, c->n_vocab);
        goto done;
    }
    if ((rc = model_forward(st, ids, (int)n, logits, 1))) {
        fprintf(stderr, "ragd eval: %s\n",
                rc == RAGD_EINVAL ? "token id outside the vocabulary" : ragd_strerror(rc));
        goto done;
    }
    f = fopen(out, "wb");
    size_t total = n * (size_t)c->n_vocab;
    if (!f || fwrite(logits, sizeof(float), total, f) != total) {
        fprintf(stderr, "ragd eval: cannot write %s: %s\n", out, strerror(errno));
        goto done;
    }
    ret = 0;
done:
    if (f && fclose(f) && ret == 0) {
        fprintf(stderr, "ragd eval: cannot write %s\n", out);
        ret = 1;
    }
    free(logits);
    free(ids);
    model_state_free(st);
    pool_free(pool);
    model_free(m);
    return ret;
}

/* ---- generate ---- */

static int print_cb(void *ud, const char *text, size_t len)
{
    (void)ud;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *tokens = NULL, *system = NULL;
    int chat = 0, think = 0;
    long threads = 0, ctx = 0, v;
    struct llm_gen_params gp;
    llm_gen_params_default(&gp);
    const char **stops = xcalloc((size_t)argc, sizeof *stops);
    size_t n_stop = 0;
    int ret = EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if (!strcmp(a, "--think")) {
            think = 1;
        } else if (!strcmp(a, "--keep-thinking")) {
            gp.keep_thinking = 1;
        } else if (!strcmp(a, "--greedy")) {
            gp.sampling.greedy = 1;
        } else if (!next) {
            bad = 1;
        } else {
            i++;
            if (!strcmp(a, "--model"))
                model = next;
            else if (!strcmp(a, "--prompt"))
                prompt = next;
            else if (!strcmp(a, "--tokens"))
                tokens = next;
            else if (!strcmp(a, "--system"))
                system = next;
            else if (!strcmp(a, "--stop"))
                stops[n_stop++] = next;
            else if (!strcmp(a, "--n-predict"))
                bad = parse_long(next, -1, 1 << 24, &v) || (gp.n_predict = (int)v, 0);
            else if (!strcmp(a, "--threads"))
                bad = parse_long(next, 0, 1024, &threads);
            else if (!strcmp(a, "--ctx"))
                bad = parse_long(next, 1, 1 << 24, &ctx);
            else if (!strcmp(a, "--seed"))
                bad = parse_long(next, 0, INT32_MAX, &v) || (gp.sampling.seed = (uint64_t)v, 0);
            else if (!strcmp(a, "--top-k"))
                bad = parse_long(next, 0, 1 << 24, &v) || (gp.sampling.top_k = (int)v, 0);
            else if (!strcmp(a, "--temp"))
                bad = parse_float(next, &gp.sampling.temperature);
            else if (!strcmp(a, "--top-p"))
                bad = parse_float(next, &gp.sampling.top_p);
            else if (!strcmp(a, "--min-p"))
                bad = parse_float(next, &gp.sampling.min_p);
            else if (!strcmp(a, "--repeat-penalty"))
                bad = parse_float(next, &gp.sampling.repeat_penalty);
            else
                bad = 1;
        }
        if (bad) {
            fprintf(stderr, "ragd generate: bad or unknown argument '%s' (see ragd --help)\n", a);
            free(stops);
            return EXIT_USAGE;
        }
    }
    gp.stop = stops;
    gp.n_stop = n_stop;
    if (!model || !!prompt == !!tokens || (chat && !prompt)) {
        free(stops);
        return usage_err("generate", "--model and one of --prompt / --tokens are required "
                                     "(--chat needs --prompt)");
    }
    char err[256] = "";
    llm_model_t *m = NULL;
    llm_session_t *s = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    struct llm_gen_result r = {0};
    ret = 1;
    int rc = llm_model_load(model, (int)threads, weights_mapped(), &m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ragd generate: %s\n", err[0] ? err : ragd_strerror(rc));
        free(stops);
        return 1;
    }
    if (!llm_model_tokenizer(m)) {
        fprintf(stderr, "ragd generate: the model has no usable tokenizer\n");
        goto done;
    }
    if (tokens) {
        if (parse_ids(tokens, &ids, &n) || n == 0) {
            fprintf(stderr, "ragd generate: --tokens needs a list of token ids\n");
            goto done;
        }
    } else {
        if (chat) {
            struct chatml_msg msgs[2];
            size_t k = 0;
            if (system) msgs[k++] = (struct chatml_msg){"system", system};
            msgs[k++] = (struct chatml_msg){"user", prompt};
            rc = chatml_encode(llm_model_tokenizer(m), msgs, k, 1, think, &ids, &n);
        } else { /* a raw prompt is the operator's own: its control tokens count */
            rc = llm_tokenize(m, prompt, strlen(prompt),
                              TOKENIZE_PARSE_SPECIAL | TOKENIZE_ADD_SPECIAL, &ids, &n);
        }
        if (rc || n == 0) {
            fprintf(stderr, "ragd generate: cannot tokenize the prompt\n");
            goto done;
        }
    }
    if (!ctx) {
        const struct model_config *c = model_config(llm_model_raw(m));
        /* without a limit on new tokens, a 4096-token window (the KV cache is f32) */
        long want = (long)n + (gp.n_predict < 0 ? 4096 : gp.n_predict) + 1;
        ctx = want < c->n_ctx_train ? want : c->n_ctx_train;
    }
    if ((rc = llm_session_create(m, (int)ctx, &s))) {
        fprintf(stderr, "ragd generate: cannot create a context of %ld tokens: %s\n", ctx,
                ragd_strerror(rc));
        goto done;
    }
    rc = llm_generate(s, ids, n, &gp, print_cb, NULL, &r);
    if (rc) {
        fprintf(stderr, "ragd generate: %s\n",
                rc == RAGD_ERANGE ? "the prompt does not fit the context" : ragd_strerror(rc));
        goto done;
    }
    putchar('\n');
    fflush(stdout);
    fprintf(stderr, "prompt: %d tokens %.2f tok/s; generation: %d tokens %.2f tok/s; threads %d\n",
            r.n_prompt, r.prompt_s > 0 ? r.n_prompt / r.prompt_s : 0.0, r.n_gen,
            r.gen_s > 0 ? r.n_gen / r.gen_s : 0.0, llm_model_n_threads(m));
    char kl[200];
    fprintf(stderr, "kernels: %s\n", quant_kernels_describe(kl, sizeof kl));
    ret = 0;
done:
    llm_gen_result_free(&r);
    free(ids);
    free(stops);
    llm_session_free(s);
    llm_model_free(m);
    return ret;
}

/* ---- model info / mktiny ---- */

static void json_str(FILE *f, const char *s, size_t n)
{
    const struct gguf_value v = {.type = GGUF_TYPE_STRING, .v.str = {s, n}};
    gguf_value_print(f, &v, 0);
}

static int cmd_model_info(const char *path)
{
    char err[256] = "";
    model_t *m;
    int rc = model_load(path, weights_mapped(), &m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ragd model info: %s\n", err);
        return 1;
    }
    const gguf_t *g = model_gguf(m);
    const struct model_config *c = model_config(m);
    FILE *f = stdout;
    fputs("{\"file\": ", f);
    json_str(f, path, strlen(path));
    fprintf(f, ", \"gguf_version\": %u, \"architecture\": \"%s\"", gguf_version(g), c->arch_name);
    const struct gguf_value *name = gguf_get(g, "general.name");
    if (name && name->type == GGUF_TYPE_STRING) {
        fputs(", \"name\": ", f);
        gguf_value_print(f, name, 0);
    }
    fprintf(f,
            ", \"n_embd\": %d, \"n_layer\": %d, \"n_head\": %d, \"n_head_kv\": %d, "
            "\"head_dim\": %d, \"n_ff\": %d, \"n_vocab\": %d, \"context_length\": %d, "
            "\"rope_freq_base\": %g, \"rope_scale\": %g, \"rms_eps\": %g, \"tied_output\": %s, "
            "\"qk_norm\": %s, \"qkv_bias\": %s",
            c->n_embd, c->n_layer, c->n_head, c->n_head_kv, c->head_dim, c->n_ff, c->n_vocab,
            c->n_ctx_train, c->rope_base, c->rope_scale, c->rms_eps,
            c->tied_output ? "true" : "false", c->qk_norm ? "true" : "false",
            c->qkv_bias ? "true" : "false");
    uint64_t params = 0;
    size_t counts[64] = {0};
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor(g, i);
        params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        if (t->type < 64) counts[t->type]++;
    }
    fprintf(f, ", \"n_tensors\": %zu, \"n_params\": %llu, \"weight_bytes_per_token\": %zu",
            gguf_n_tensors(g), (unsigned long long)params, model_weight_bytes(m));
    fputs(", \"tensor_types\": {", f);
    int first = 1;
    for (uint32_t t = 0; t < 64; t++) {
        if (!counts[t]) continue;
        fprintf(f, "%s\"%s\": %zu", first ? "" : ", ", quant_type_info(t)->name, counts[t]);
        first = 0;
    }
    fputs("}, \"tokenizer\": ", f);
    const struct gguf_value *tm = gguf_get(g, "tokenizer.ggml.model"), *arr;
    if (!tm) {
        fputs("null", f);
    } else {
        fputs("{\"model\": ", f);
        gguf_value_print(f, tm, 0);
        const struct gguf_value *pre = gguf_get(g, "tokenizer.ggml.pre");
        if (pre) {
            fputs(", \"pre\": ", f);
            gguf_value_print(f, pre, 0);
        }
        if (gguf_get_arr(g, "tokenizer.ggml.tokens", &arr) == 0)
            fprintf(f, ", \"n_tokens\": %llu", (unsigned long long)arr->v.arr.n);
        if (gguf_get_arr(g, "tokenizer.ggml.merges", &arr) == 0)
            fprintf(f, ", \"n_merges\": %llu", (unsigned long long)arr->v.arr.n);
        static const char *ids[][2] = {
            {"bos_token_id", "bos_id"}, {"eos_token_id", "eos_id"}, {"padding_token_id", "pad_id"}};
        for (int i = 0; i < 3; i++) {
            char key[64];
            uint32_t v;
            snprintf(key, sizeof key, "tokenizer.ggml.%s", ids[i][0]);
            if (gguf_get_u32(g, key, &v) == 0) fprintf(f, ", \"%s\": %u", ids[i][1], v);
        }
        int b;
        if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0)
            fprintf(f, ", \"add_bos\": %s", b ? "true" : "false");
        fputc('}', f);
    }
    fprintf(f, ", \"chat_template\": %s}\n",
            gguf_get(g, "tokenizer.chat_template") ? "true" : "false");
    model_free(m);
    return 0;
}

static int cmd_mktiny(int argc, char **argv)
{
    struct mktiny_opts o = {.arch = NULL, .type = GGML_TYPE_F32, .shape = "tiny"};
    long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!next) return usage_err("model mktiny", "missing value");
        i++;
        if (!strcmp(a, "--arch")) {
            o.arch = next;
        } else if (!strcmp(a, "--out")) {
            o.out = next;
        } else if (!strcmp(a, "--type")) {
            int t = quant_type_from_name(next);
            if (t < 0 || !quant_type_info((uint32_t)t)->supported)
                return usage_err("model mktiny", "--type must be f32, f16, bf16, q8_0, q4_0, "
                                                 "q4_k, q5_k or q6_k");
            o.type = (uint32_t)t;
        } else if (!strcmp(a, "--seed")) {
            if (parse_long(next, 0, INT32_MAX, &seed))
                return usage_err("model mktiny", "--seed must be a non-negative integer");
        } else if (!strcmp(a, "--shape")) {
            o.shape = next;
        } else if (!strcmp(a, "--vocab-from")) {
            o.vocab_from = next;
        } else {
            return usage_err("model mktiny", "unknown argument");
        }
    }
    if (!o.arch || !o.out) return usage_err("model mktiny", "--arch and --out are required");
    if (mktiny_encoder_is_arch(o.arch)) /* sentence encoders: encoder_cli.c */
        return encoder_cli_mktiny(o.arch, o.out, o.type, (uint64_t)seed, o.shape, o.vocab_from);
    o.seed = (uint64_t)seed;
    char err[256] = "";
    int rc = mktiny_write(&o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ragd model mktiny: %s\n", err[0] ? err : ragd_strerror(rc));
        return rc == RAGD_EINVAL ? EXIT_USAGE : 1;
    }
    return 0;
}

static int cmd_model(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "info"))
        return argc == 3 ? cmd_model_info(argv[2]) : usage_err("model info", "one file");
    if (argc >= 2 && !strcmp(argv[1], "mktiny")) return cmd_mktiny(argc - 1, argv + 1);
    return usage_err("model", "expected 'info F' or 'mktiny ...'");
}

/* Details `ragd VERB --help` adds under the synopsis of ragd --help. */
static const struct {
    const char *verb, *text;
} details[] = {
    {"tokenize", "With - the text is read from standard input. Prints the ids on one line,\n"
                 "separated by spaces. --add-special adds the special tokens the model's\n"
                 "tokenizer puts around a text."},
    {"detokenize", "Prints the text the ids decode to (bytes of partial UTF-8 as they are)."},
    {"eval", "Runs one forward pass over the prompt and writes the logits of every position,\n"
             "for comparisons with a reference implementation."},
    {"generate", "--chat wraps the prompt (and --system) in the model's chat template; --think\n"
                 "lets Qwen3 think first (off by default). --greedy always takes the most likely\n"
                 "token. The text goes to standard output as it is made; timings to stderr."},
    {"model", "info prints a GGUF file's metadata and tensor types; mktiny writes a model with\n"
              "random weights for tests and benchmarks (--vocab-from G takes G's tokenizer)."},
    {"embed", "With -, one text per line of standard input. EMBEDDING_MAX_SEQ is the default\n"
              "of --max-seq."},
};

/* Prints the synopsis blocks of verb from the usage text (a block starts with a line "  verb"),
 * then its details. Returns 0. */
static int verb_help(const char *verb)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) return 1;
    engine_cli_usage(m);
    fclose(m);
    printf("usage:\n");
    int in = 0;
    size_t vl = strlen(verb);
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n > 2 && line[2] != ' ')
            in = !strncmp(line + 2, verb, vl) && (line[2 + vl] == ' ' || line[2 + vl] == '\n');
        if (in && line[2] != ' ')
            printf("  ragd %.*s\n", (int)n - 2, line + 2);
        else if (in)
            printf("       %.*s\n", (int)n, line);
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    for (size_t i = 0; i < sizeof details / sizeof details[0]; i++)
        if (!strcmp(details[i].verb, verb)) printf("\n%s\n", details[i].text);
    return 0;
}

int engine_cli_main(int argc, char **argv)
{
    if (argc < 1) return -1;
    static const char *const verbs[] = {"tokenize", "detokenize", "eval", "generate",
                                        "model",    "embed",      NULL};
    for (int v = 0; verbs[v]; v++) {
        if (strcmp(argv[0], verbs[v])) continue;
        for (int i = 1; i < argc; i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return verb_help(verbs[v]);
    }
    if (!strcmp(argv[0], "tokenize")) return cmd_tokenize(argc, argv);
    if (!strcmp(argv[0], "detokenize")) return cmd_detokenize(argc, argv);
    if (!strcmp(argv[0], "eval")) return cmd_eval(argc, argv);
    if (!strcmp(argv[0], "generate")) return cmd_generate(argc, argv);
    if (!strcmp(argv[0], "model")) return cmd_model(argc, argv);
    if (!strcmp(argv[0], "embed")) /* sentence encoders: encoder_cli.c */
        return encoder_cli_embed(argc, argv);
    return -1;
}
