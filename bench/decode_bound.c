/* decode_bound - greedy decoding of one sequence against the read bandwidth, measured in the
 * same process and alternating: each round decodes TOKENS tokens, then reads a 1 GiB buffer on
 * as many threads (bench/read_probe.h, as bench/bw_probe.c) for as long as the decoding took, the
 * two going first in turn. A round's figure is its decoding rate in bytes (tokens/s x the weights
 * one token reads) over its probe's rate; medians over the rounds. bench/engine_compare.sh takes
 * its bound from the best of five 1 GiB passes (some 25 ms each) just before and after a run of
 * several seconds; on a machine whose bandwidth moves from one second to the next, the best of
 * short passes sits above what any stretch of seconds gets. Here each stretch of decoding is set
 * against a stretch of plain reading as long, right next to it.
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/decode_bound.c build/release/libragd.a \
 *      -lm -pthread -o build/release/bench/decode_bound
 *   build/release/bench/decode_bound MODEL.gguf [rounds [tokens [threads]]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "engine/model.h"
#include "engine/pool.h"
#include "read_probe.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* read passes over n words on nth threads for at least secs seconds (one at least): GB/s */
static double probe_for(const uint64_t *buf, size_t n, int nth, double secs)
{
    double t = 0;
    int k = 0;
    do {
        t += read_probe_pass(buf, n, nth);
        k++;
    } while (t < secs);
    return (double)k * (double)n * 8 / t / 1e9;
}

static int argmax(const float *v, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return (int)b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: decode_bound MODEL.gguf [rounds [tokens [threads]]]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 15, ntok = argc > 3 ? atoi(argv[3]) : 16;
    int nth = argc > 4 ? atoi(argv[4]) : 2;
    /* the sequence's KV cache holds every round's tokens */
    if (rounds < 1 || rounds > 200 || ntok < 1 || ntok > 256 || rounds * ntok > 4096 || nth < 1 ||
        nth > 64) {
        fprintf(stderr, "decode_bound: rounds 1-200, tokens 1-256, rounds x tokens at most 4096, "
                        "threads 1-64\n");
        return 2;
    }
    model_t *m;
    char err[256];
    if (model_load(argv[1], 0, &m, err, sizeof err)) {
        fprintf(stderr, "decode_bound: %s\n", err);
        return 1;
    }
    int n_ctx = 4 + rounds * ntok + 1;
    pool_t *pool;
    model_scratch_t *sc;
    model_state_t *s;
    if (pool_create(nth, &pool) || model_scratch_create(m, n_ctx, 8, pool, quant_best_isa(), &sc) ||
        model_state_create_kv(m, n_ctx, &s))
        return 1;
    size_t V = (size_t)model_config(m)->n_vocab, wb = model_weight_bytes(m);
    size_t words = ((size_t)1 << 30) / 8;
    uint64_t *buf = aligned_alloc((size_t)2 << 20, words * 8);
    float *logits = malloc(V * sizeof(float));
    if (!buf || !logits) return 1;
    (void)madvise(buf, words * 8, MADV_HUGEPAGE);
    memset(buf, 1, words * 8);

    int32_t tok[4] = {11, 42, 77, 300};
    if (model_forward_in(sc, s, tok, 4, logits, 0)) return 1;
    int32_t next = argmax(logits, V);
    double *dec = calloc((size_t)rounds, sizeof(double)),
           *bw = calloc((size_t)rounds, sizeof(double));
    double *ratio = calloc((size_t)rounds, sizeof(double));
    if (!dec || !bw || !ratio) return 1;
    printf("%d threads, %s, %.3f GB of weights per token, %d rounds of %d tokens\n", nth,
           quant_isa_name(quant_best_isa()), (double)wb / 1e9, rounds, ntok);
    double last = 0.5; /* the previous round's decoding time, for an odd round's probe */
    for (int r = 0; r < rounds; r++) {
        if (r % 2) bw[r] = probe_for(buf, words, nth, last);
        double t0 = now();
        for (int k = 0; k < ntok; k++) {
            if (model_forward_in(sc, s, &next, 1, logits, 0)) return 1;
            next = argmax(logits, V);
        }
        last = now() - t0;
        dec[r] = (double)ntok / last;
        if (r % 2 == 0) bw[r] = probe_for(buf, words, nth, last);
        ratio[r] = dec[r] * (double)wb / 1e9 / bw[r];
        printf("round %2d: %6.2f tok/s = %5.1f GB/s, probe %5.1f GB/s: %3.0f%%\n", r + 1, dec[r],
               dec[r] * (double)wb / 1e9, bw[r], 100 * ratio[r]);
    }
    qsort(dec, (size_t)rounds, sizeof(double), cmp_double);
    qsort(bw, (size_t)rounds, sizeof(double), cmp_double);
    qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
    printf("median: %.2f tok/s, probe %.1f GB/s; decoding at %.0f%% of its round's probe "
           "(quartiles %.0f%%-%.0f%%); median tok/s at %.0f%% of the median probe's bound\n",
           dec[rounds / 2], bw[rounds / 2], 100 * ratio[rounds / 2], 100 * ratio[rounds / 4],
           100 * ratio[3 * rounds / 4], 100 * dec[rounds / 2] * (double)wb / 1e9 / bw[rounds / 2]);
    return 0;
}
