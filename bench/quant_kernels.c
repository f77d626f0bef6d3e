/* quant_kernels - the single-row (generation) kernels of each width against each other: GB/s of
 * weights streamed by the 256-bit and the 512-bit AVX-512 kernels of q8_0, q4_k and q6_k over an
 * in-cache buffer (the kernels' own speed) and a buffer much larger than the caches (what
 * generation sees), the two widths alternating and the best pass of each kept. Then the
 * 512-bit kernels streaming that buffer on THREADS threads (each its own slice, as a decoding
 * step splits a matrix), alternating with a read probe of the same buffer on as many threads:
 * how near the bandwidth bound the kernels alone come. The large buffer sits on 2 MiB pages,
 * as the engine's weights do.
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -O3 -march=native -Isrc bench/quant_kernels.c \
 *      build/release/libragd.a -lm -pthread -o build/release/bench/quant_kernels
 *   build/release/bench/quant_kernels [passes [threads]]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "engine/quant.h"
#include "engine/quant_int.h"
#include "read_probe.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* one thread's slice of a streaming pass: the kernel over its rows, or (f NULL) the plain read
 * of bench/read_probe.h */
struct slice {
    quant_dot_fn f;
    const uint8_t *w, *act;
    size_t r0, r1, rb, n;
    pthread_t th;
};

static void *stream(void *arg)
{
    struct slice *s = arg;
    if (!s->f) {
        volatile uint64_t sink =
            read_probe_sum((const void *)(s->w + s->r0 * s->rb), (s->r1 - s->r0) * s->rb / 8);
        (void)sink;
        return NULL;
    }
    volatile float sink = 0;
    for (size_t r = s->r0; r < s->r1; r++)
        sink += s->f(s->w + r * s->rb, s->act, s->n);
    (void)sink;
    return NULL;
}

static double stream_pass(quant_dot_fn f, const uint8_t *w, const uint8_t *act, size_t rows,
                          size_t rb, size_t n, int nth)
{
    struct slice s[16];
    double t0 = now();
    for (int i = 0; i < nth; i++) {
        s[i] = (struct slice){f, w, act, rows * i / nth, rows * (i + 1) / nth, rb, n, 0};
        pthread_create(&s[i].th, NULL, stream, &s[i]);
    }
    for (int i = 0; i < nth; i++)
        pthread_join(s[i].th, NULL);
    return now() - t0;
}

int main(int argc, char **argv)
{
    int passes = argc > 1 ? atoi(argv[1]) : 20;
    int nth = argc > 2 ? atoi(argv[2]) : 2;
    if (nth < 1 || nth > 16) nth = 2;
    if (quant_cpu_isa() < QUANT_ISA_AVX512) {
        printf("no AVX-512 VNNI: one width only\n");
        return 0;
    }
    char line[200];
    printf("%s\n", quant_kernels_describe(line, sizeof line));
    const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    const size_t n = 2048, sizes_kb[] = {256, 512 * 1024};
    static float x[2048];
    static _Alignas(64) uint8_t act[8192]; /* a QA8K row of 2048 with its groups: 4544 bytes */
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    printf("%-5s %9s %12s %12s %9s\n", "type", "buffer", "256-bit GB/s", "512-bit GB/s", "512/256");
    double probe[3] = {0}, kern[3] = {0};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const struct quant_isa_kernels *k = quant_x86_kernels(QUANT_ISA_AVX512);
        while (k->dot && k->type != types[ti])
            k++;
        if (!k->dot || !k->dot_512) continue;
        size_t rb = quant_row_bytes(types[ti], n);
        quant_act_quantize(quant_act_kind(types[ti]), x, act, n);
        for (size_t si = 0; si < 2; si++) {
            size_t rows = sizes_kb[si] * 1024 / rb, bytes = rows * rb;
            uint8_t *w = aligned_alloc((size_t)2 << 20,
                                       (bytes + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1));
            if (!w) return 1;
            (void)madvise(w, bytes, MADV_HUGEPAGE);
            for (size_t r = 0; r < rows; r++) {
                for (size_t i = 0; i < n; i++)
                    x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
                quant_quantize_row(types[ti], x, w + r * rb, n);
            }
            int reps = si == 0 ? 200 : 1;
            double best[2] = {1e30, 1e30};
            volatile float sink = 0;
            for (int p = 0; p < passes; p++) {
                for (int v = 0; v < 2; v++) {
                    quant_dot_fn f = v ? k->dot_512 : k->dot;
                    double t0 = now();
                    for (int rep = 0; rep < reps; rep++)
                        for (size_t r = 0; r < rows; r++)
                            sink += f(w + r * rb, act, n);
                    double dt = (now() - t0) / reps;
                    if (dt < best[v]) best[v] = dt;
                }
            }
            (void)sink;
            printf("%-5s %6zu KiB %12.2f %12.2f %9.3f\n", quant_type_info(types[ti])->name,
                   sizes_kb[si], (double)bytes / best[0] / 1e9, (double)bytes / best[1] / 1e9,
                   best[0] / best[1]);
            if (si == 1) { /* the probe and the 512-bit kernel on nth threads, alternating */
                double bp = 1e30, bk = 1e30;
                for (int p = 0; p < passes; p++) {
                    double a = stream_pass(NULL, w, act, rows, rb, n, nth);
                    double b = stream_pass(k->dot_512, w, act, rows, rb, n, nth);
                    bp = a < bp ? a : bp;
                    bk = b < bk ? b : bk;
                }
                probe[ti] = (double)bytes / bp / 1e9;
                kern[ti] = (double)bytes / bk / 1e9;
            }
            free(w);
        }
    }
    printf("\nfrom memory on %d threads, alternating with a read probe of the same buffer:\n", nth);
    printf("%-5s %12s %12s %9s\n", "type", "probe GB/s", "512-bit GB/s", "of probe");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        if (probe[ti] > 0)
            printf("%-5s %12.2f %12.2f %8.0f%%\n", quant_type_info(types[ti])->name, probe[ti],
                   kern[ti], 100 * kern[ti] / probe[ti]);
    return 0;
}
