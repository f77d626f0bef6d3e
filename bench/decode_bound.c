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
 * A third figure per round reads the model's own weights as a decoding step does, without the
 * arithmetic: per layer the q, k and v matrices as one pool job, then o, gate and up as one,
 * down, and at the end the output matrix, each job's bytes split evenly between the pool's
 * threads (the pool decoding runs on). Set against the plain read it shows what a step's job
 * boundaries cost before any kernel runs; decoding set against it shows what the kernels and
 * the rest of the step cost.
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

/* ---- the weights read in a decoding step's jobs ---- */

enum { MAX_SEGS = 4 };

struct step_job {
    const uint64_t *seg[MAX_SEGS]; /* the job's matrices, read one after another */
    size_t words[MAX_SEGS];
    int nseg;
    size_t total; /* words in all */
    uint64_t sum[64];
};

/* Thread ith's equal share of the job's words, across its matrices in turn. */
static void step_job_worker(void *arg, int ith, int nth)
{
    struct step_job *j = arg;
    size_t a = j->total * (size_t)ith / (size_t)nth, b = j->total * (size_t)(ith + 1) / (size_t)nth;
    size_t base = 0;
    uint64_t s = 0;
    for (int i = 0; i < j->nseg; base += j->words[i], i++) {
        size_t lo = a > base ? a - base : 0, hi = b - base < j->words[i] ? b - base : j->words[i];
        if (b > base && lo < hi) s += read_probe_sum(j->seg[i] + lo, hi - lo);
    }
    j->sum[ith] = s;
}

static void step_job_add(struct step_job *j, const struct model_tensor *t)
{
    j->seg[j->nseg] = t->data;
    j->words[j->nseg] = (size_t)t->rows * t->row_bytes / 8;
    j->total += j->words[j->nseg++];
}

/* One step's reads on pool: seconds, and the bytes read in *bytes. */
static double step_read_pass(pool_t *pool, const model_t *m, size_t *bytes)
{
    const struct model_weights *w = model_weights(m);
    int nl = model_config(m)->n_layer;
    volatile uint64_t sink = 0;
    *bytes = 0;
    double t0 = now();
    for (int l = 0; l <= nl; l++) {
        const struct model_layer *y = &w->layers[l < nl ? l : 0];
        const struct model_tensor *jobs[4][3] = {
            {&y->wq, &y->wk, &y->wv}, {&y->wo}, {&y->w_gate, &y->w_up}, {&y->w_down}};
        const struct model_tensor *last[4][3] = {{&w->output}};
        for (int k = 0; k < 4; k++) {
            struct step_job j = {.nseg = 0};
            for (int i = 0; i < 3 && (l < nl ? jobs : last)[k][i]; i++)
                step_job_add(&j, (l < nl ? jobs : last)[k][i]);
            if (!j.nseg) continue;
            pool_run(pool, step_job_worker, &j);
            sink += j.sum[0];
            *bytes += j.total * 8;
        }
    }
    (void)sink;
    return now() - t0;
}

/* step_read_pass repeated for at least secs seconds (one at least): GB/s */
static double step_read_for(pool_t *pool, const model_t *m, double secs)
{
    double t = 0, bytes = 0;
    do {
        size_t b;
        t += step_read_pass(pool, m, &b);
        bytes += (double)b;
    } while (t < secs);
    return bytes / t / 1e9;
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
    /* per round: decoding (tok/s), the plain read and the step's reads (GB/s), and decoding's
     * rate in bytes over each of them, and the step's reads over the plain read */
    double *col[6];
    for (int i = 0; i < 6; i++)
        if (!(col[i] = calloc((size_t)rounds, sizeof(double)))) return 1;
    double *dec = col[0], *bw = col[1], *sr = col[2], *r_bw = col[3], *r_sr = col[4],
           *sr_bw = col[5];
    printf("%d threads, %s, %.3f GB of weights per token, %d rounds of %d tokens\n", nth,
           quant_isa_name(quant_best_isa()), (double)wb / 1e9, rounds, ntok);
    double last = 0.5; /* the previous round's decoding time, for an odd round's probes */
    for (int r = 0; r < rounds; r++) {
        if (r % 2) {
            sr[r] = step_read_for(pool, m, last);
            bw[r] = probe_for(buf, words, nth, last);
        }
        double t0 = now();
        for (int k = 0; k < ntok; k++) {
            if (model_forward_in(sc, s, &next, 1, logits, 0)) return 1;
            next = argmax(logits, V);
        }
        last = now() - t0;
        dec[r] = (double)ntok / last;
        if (r % 2 == 0) {
            bw[r] = probe_for(buf, words, nth, last);
            sr[r] = step_read_for(pool, m, last);
        }
        double gbs = dec[r] * (double)wb / 1e9;
        r_bw[r] = gbs / bw[r];
        r_sr[r] = gbs / sr[r];
        sr_bw[r] = sr[r] / bw[r];
        printf("round %2d: %6.2f tok/s = %5.1f GB/s; probe %5.1f GB/s, step's reads %5.1f GB/s; "
               "decoding at %3.0f%% of the probe, %3.0f%% of the step's reads; step's reads at "
               "%3.0f%% of the probe\n",
               r + 1, dec[r], gbs, bw[r], sr[r], 100 * r_bw[r], 100 * r_sr[r], 100 * sr_bw[r]);
    }
    for (int i = 0; i < 6; i++)
        qsort(col[i], (size_t)rounds, sizeof(double), cmp_double);
    int h = rounds / 2, q1 = rounds / 4, q3 = 3 * rounds / 4;
    printf("median: %.2f tok/s, probe %.1f GB/s, step's reads %.1f GB/s\n", dec[h], bw[h], sr[h]);
    printf("decoding at %.0f%% of its round's probe (quartiles %.0f%%-%.0f%%), at %.0f%% of its "
           "round's step's reads (%.0f%%-%.0f%%); step's reads at %.0f%% of the probe "
           "(%.0f%%-%.0f%%)\n",
           100 * r_bw[h], 100 * r_bw[q1], 100 * r_bw[q3], 100 * r_sr[h], 100 * r_sr[q1],
           100 * r_sr[q3], 100 * sr_bw[h], 100 * sr_bw[q1], 100 * sr_bw[q3]);
    return 0;
}
