/* encoder_cli.c - `ragd embed` and `ragd model mktiny --arch bert|mpnet`. */
#include "tools/encoder_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/mem.h"
#include "engine/encoder.h"
#include "tools/mktiny_encoder.h"

#define EXIT_USAGE 2
#define STDIN_CHUNK 1024 /* texts read from stdin per call of encoder_embed */

void encoder_cli_usage(void *file)
{
    fputs("  embed --model F [--batch N] [--threads N] [--max-seq N] [--bf16|--int8]\n"
          "        [--classify]\n"
          "        TEXT...|-\n"
          "                      print one JSON array (unit-length embedding) per text;\n"
          "                      F is a BERT GGUF or a BERT/MPNet Hugging Face folder;\n"
          "                      --classify prints {label, probs, logits, ids} per text from\n"
          "                      a sequence-classification checkpoint; --bf16 runs the layers'\n"
          "                      products in bfloat16 where the CPU has AVX-512 BF16; --int8\n"
          "                      on q8_0 weights and int8 activations where it has AVX-512\n"
          "                      VNNI\n"
          "  model mktiny --arch bert|mpnet|bert-cls|mpnet-cls --out F [--type T] [--seed N]\n"
          "               [--shape tiny|base]\n"
          "                      write a random sentence encoder or classifier (GGUF / Hugging\n"
          "                      Face folder)\n",
          (FILE *)file);
}

static int usage_err(const char *verb, const char *msg)
{
    fprintf(stderr, "ragd %s: %s (see ragd --help)\n", verb, msg);
    return EXIT_USAGE;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void print_vec(const float *v, int dim)
{
    putchar('[');
    for (int k = 0; k < dim; k++)
        printf(k ? ",%.9g" : "%.9g", (double)v[k]);
    puts("]");
}

/* Classifies and prints n texts, one JSON object per line: {"label", "probs", "logits", "ids"}. */
static int classify_some(encoder_t *enc, const char *const *texts, size_t n, double *secs)
{
    int nl = encoder_n_labels(enc);
    float *logits = xmalloc((n ? n : 1) * (size_t)nl * sizeof *logits);
    float *probs = xmalloc((n ? n : 1) * (size_t)nl * sizeof *probs);
    double t0 = now();
    int rc = encoder_classify(enc, texts, n, logits, probs);
    *secs += now() - t0;
    for (size_t i = 0; !rc && i < n; i++) {
        const float *p = probs + i * (size_t)nl, *l = logits + i * (size_t)nl;
        int best = 0;
        for (int c = 1; c < nl; c++)
            if (p[c] > p[best]) best = c;
        int32_t *ids;
        size_t n_ids;
        if ((rc = encoder_tokenize(enc, texts[i], strlen(texts[i]), &ids, &n_ids))) break;
        printf("{\"label\":\"%s\",\"probs\":[", encoder_label(enc, best));
        for (int c = 0; c < nl; c++)
            printf(c ? ",%.9g" : "%.9g", (double)p[c]);
        printf("],\"logits\":[");
        for (int c = 0; c < nl; c++)
            printf(c ? ",%.9g" : "%.9g", (double)l[c]);
        printf("],\"ids\":[");
        for (size_t k = 0; k < n_ids; k++)
            printf(k ? ",%d" : "%d", ids[k]);
        printf("]}\n");
        free(ids);
    }
    if (rc) fprintf(stderr, "ragd embed: %s\n", ragd_strerror(rc));
    free(logits);
    free(probs);
    return rc;
}

/* Embeds (or classifies) and prints n texts; adds the time spent to *secs. */
static int embed_some(encoder_t *enc, const char *const *texts, size_t n, int batch, double *secs,
                      int classify)
{
    if (classify) return classify_some(enc, texts, n, secs);
    int dim = encoder_dim(enc);
    float *out = xmalloc((n ? n : 1) * (size_t)dim * sizeof *out);
    double t0 = now();
    int rc = encoder_embed(enc, texts, n, batch, out);
    *secs += now() - t0;
    if (rc) {
        fprintf(stderr, "ragd embed: %s\n", ragd_strerror(rc));
    } else {
        for (size_t i = 0; i < n; i++)
            print_vec(out + i * (size_t)dim, dim);
    }
    free(out);
    return rc;
}

int encoder_cli_embed(int argc, char **argv)
{
    const char *model = NULL;
    int batch = 32, first_text = -1, from_stdin = 0, classify = 0;
    struct encoder_opts opts = {0};
    const char *env = getenv("EMBEDDING_MAX_SEQ");
    if (env && *env && parse_int(env, 2, 1 << 20, &opts.max_seq))
        return usage_err("embed", "EMBEDDING_MAX_SEQ must be an integer >= 2");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && next) {
            model = next;
            i++;
        } else if (!strcmp(a, "--batch") && next) {
            if (parse_int(next, 1, 4096, &batch))
                return usage_err("embed", "--batch must be 1..4096");
            i++;
        } else if (!strcmp(a, "--threads") && next) {
            if (parse_int(next, 0, 1024, &opts.n_threads))
                return usage_err("embed", "--threads must be 0..1024");
            i++;
        } else if (!strcmp(a, "--max-seq") && next) {
            if (parse_int(next, 2, 1 << 20, &opts.max_seq))
                return usage_err("embed", "--max-seq must be an integer >= 2");
            i++;
        } else if (!strcmp(a, "--bf16")) {
            opts.bf16 = 1;
        } else if (!strcmp(a, "--int8")) {
            opts.int8 = 1;
        } else if (!strcmp(a, "--classify")) {
            classify = 1;
        } else if (!strcmp(a, "-") && i == argc - 1 && first_text < 0) {
            from_stdin = 1;
        } else if (!strcmp(a, "--")) {
            first_text = i + 1 < argc ? i + 1 : -1;
            break;
        } else if (a[0] == '-' && a[1] == '-') {
            return usage_err("embed", "unknown option or missing value");
        } else {
            first_text = i;
            break;
        }
    }
    if (!model || (first_text < 0 && !from_stdin))
        return usage_err("embed", "--model and TEXT... (or - for stdin) are required");
    char err[256] = "";
    encoder_t *enc;
    int rc = encoder_load(model, &opts, &enc, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ragd embed: %s\n", err[0] ? err : ragd_strerror(rc));
        return rc == RAGD_EINVAL ? EXIT_USAGE : 1;
    }
    if (classify && !encoder_n_labels(enc)) {
        fprintf(stderr, "ragd embed: --classify: %s has no classification head\n", model);
        encoder_free(enc);
        return 1;
    }
    double secs = 0;
    size_t total = 0;
    if (!from_stdin) {
        total = (size_t)(argc - first_text);
        rc = embed_some(enc, (const char *const *)argv + first_text, total, batch, &secs, classify);
    } else {
        char **lines = xcalloc(STDIN_CHUNK, sizeof *lines);
        size_t n = 0, cap = 0;
        char *line = NULL;
        ssize_t len;
        while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            lines[n++] = xstrdup(line);
            if (n == STDIN_CHUNK) {
                rc = embed_some(enc, (const char *const *)lines, n, batch, &secs, classify);
                total += n;
                while (n)
                    free(lines[--n]);
            }
        }
        if (!rc && n) {
            rc = embed_some(enc, (const char *const *)lines, n, batch, &secs, classify);
            total += n;
        }
        while (n)
            free(lines[--n]);
        free(line);
        free(lines);
    }
    if (!rc)
        fprintf(stderr,
                "embed: %zu texts in %.3f s (%.2f texts/s), batch %d, %s %s pooling, "
                "dim %d, max_seq %d\n",
                total, secs, secs > 0 ? (double)total / secs : 0.0, batch, encoder_arch(enc),
                encoder_pooling(enc), encoder_dim(enc), encoder_max_seq(enc));
    encoder_free(enc);
    if (fflush(stdout)) rc = RAGD_EIO;
    return rc ? 1 : 0;
}

int encoder_cli_mktiny(const char *arch, const char *out, uint32_t type, uint64_t seed,
                       const char *shape, const char *vocab_from)
{
    if (vocab_from) return usage_err("model mktiny", "--vocab-from is for decoder models");
    struct mktiny_encoder_opts o = {arch, out, type, seed, shape};
    char err[256] = "";
    int rc = mktiny_encoder_write(&o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ragd model mktiny: %s\n", err[0] ? err : ragd_strerror(rc));
        return rc == RAGD_EINVAL ? EXIT_USAGE : 1;
    }
    return 0;
}
