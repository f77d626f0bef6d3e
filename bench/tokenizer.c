/* Tokenizer micro benchmark: encode throughput of byte-level BPE (each pre-tokenizer) and
 * WordPiece on synthetic text, with a vocabulary of byte tokens plus merge chains that spell
 * the frequent words (so most words end as one or two tokens, as with real vocabularies).
 * Prints MB/s and tokens/s. Built and run by bench/tokenizer.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define N_WORDS 4000

static char words[N_WORDS][12];

static size_t make_text(char *buf, size_t cap)
{
    static const char *const extra[] = {
        ", ", ". ", "\n\n", " 2024", " 3.14", " caf\xc3\xa9", " \xe4\xb8\xad\xe6\x96\x87",
        "'s", " (", ") ",   "!"};
    size_t o = 0;
    while (o + 64 < cap) {
        uint32_t r = rnd() % 100;
        const char *w;
        if (r < 88) { /* Zipf-like: small indices far more often */
            uint32_t k = rnd() % N_WORDS;
            k = (uint32_t)((uint64_t)k * k / N_WORDS);
            buf[o++] = ' ';
            w = words[k];
        } else {
            w = extra[rnd() % (sizeof extra / sizeof extra[0])];
        }
        size_t l = strlen(w);
        memcpy(buf + o, w, l);
        o += l;
    }
    return o;
}

static tokenizer_t *make_bpe(const char *pre)
{
    size_t cap = 256 + N_WORDS * 24;
    char **tok = xmalloc(cap * sizeof *tok);
    char **merges = xmalloc(cap * sizeof *merges);
    size_t n = 0, nm = 0;
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = b;
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
            unsigned k = 0;
            for (unsigned x = 0; x < b; x++)
                if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)))
                    k++;
            cp = 256 + k;
        }
        char u[5] = {0};
        unicode_encode(cp, u);
        tok[n++] = xstrdup(u);
    }
    /* " word" and "word" spelled by left-to-right merge chains, frequent words first */
    for (int w = 0; w < N_WORDS / 2; w++) {
        for (int sp = 0; sp < 2; sp++) {
            char cur[32];
            size_t cl = 0;
            if (sp) {
                memcpy(cur, "\xc4\xa0", 2);
                cl = 2;
            } else {
                cur[cl++] = words[w][0];
            }
            for (size_t i = sp ? 0 : 1; words[w][i]; i++) {
                cur[cl] = '\0';
                merges[nm++] = xasprintf("%s %c", cur, words[w][i]);
                cur[cl++] = words[w][i];
                cur[cl] = '\0';
                tok[n++] = xstrdup(cur);
            }
        }
    }
    struct tokenizer_spec s = {
        .tokens = (const char *const *)tok,
        .n_vocab = n,
        .merges = (const char *const *)merges,
        .n_merges = nm,
        .pre = pre,
        .bos_id = -1,
        .eos_id = -1,
        .unk_id = -1,
        .pad_id = -1,
        .sep_id = -1,
        .cls_id = -1,
        .mask_id = -1,
    };
    tokenizer_t *t;
    if (tokenizer_create_bpe(&s, &t) != 0) panic("create bpe");
    for (size_t i = 0; i < n; i++)
        free(tok[i]);
    for (size_t i = 0; i < nm; i++)
        free(merges[i]);
    free(tok);
    free(merges);
    return t;
}

static tokenizer_t *make_wordpiece(void)
{
    size_t cap = N_WORDS * 2 + 600;
    char *buf = xmalloc(cap * 16), *p = buf;
    p += sprintf(p, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
    for (int c = 33; c < 127; c++)
        p += sprintf(p, "%c\n##%c\n", c, c);
    for (int w = 0; w < N_WORDS / 2; w++)
        p += sprintf(p, "%s\n", words[w]);
    struct tokenizer_spec *spec;
    tokenizer_t *t;
    if (tokenizer_spec_from_vocab_txt(buf, (size_t)(p - buf), &spec) != 0 ||
        tokenizer_create_wordpiece(spec, &t) != 0)
        panic("create wordpiece");
    tokenizer_spec_free(spec);
    free(buf);
    return t;
}

static void run(const char *name, const tokenizer_t *t, const char *text, size_t len)
{
    double best = 1e9;
    size_t n = 0;
    for (int rep = 0; rep < 5; rep++) {
        int32_t *ids;
        double t0 = now();
        if (tokenizer_encode(t, text, len, 0, &ids, &n) != 0) panic("encode");
        double dt = now() - t0;
        free(ids);
        if (dt < best) best = dt;
    }
    printf("%-10s %8.1f MB/s %10.0f tokens/s  (%zu bytes -> %zu tokens, best of 5)\n", name,
           len / best / 1e6, n / best, len, n);
}

int main(void)
{
    for (int w = 0; w < N_WORDS; w++) {
        size_t l = 2 + rnd() % 9;
        for (size_t i = 0; i < l; i++)
            words[w][i] = (char)('a' + rnd() % 26);
        words[w][l] = '\0';
    }
    size_t cap = 8u << 20;
    char *text = xmalloc(cap);
    size_t len = make_text(text, cap);
    const char *pres[] = {"gpt-2", "llama-bpe", "qwen2"};
    for (int i = 0; i < 3; i++) {
        tokenizer_t *t = make_bpe(pres[i]);
        run(pres[i], t, text, len);
        tokenizer_free(t);
    }
    tokenizer_t *t = make_wordpiece();
    run("wordpiece", t, text, len);
    tokenizer_free(t);
    free(text);
    return 0;
}
