/* quant_kernels - the single-row (generation) kernels of each width against each other: GB/s of
 * weights streamed by the 256-bit and the 512-bit AVX-512 kernels of q8_0, q4_k and q6_k over an
 * in-cache buffer (the kernels' own speed) and a buffer much larger than the caches (what
 * generation sees), the two widths alternating and the best pass of each kept.
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/quant_kernels.c build/release/libragd.a \
 *      -lm -pthread -o build/release/bench/quant_kernels
 *   build/release/bench/quant_kernels [passes]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/quant.h"
#include "engine/quant_int.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int passes = argc > 1 ? atoi(argv[1]) : 20;
    if (quant_cpu_isa() < QUANT_ISA_AVX512) {
        printf("no AVX-512 VNNI: one width only\n");
        return 0;
    }
    char line[200];
    printf("%s\n", quant_kernels_describe(line, sizeof line));
    const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    const size_t n = 2048, sizes_kb[] = {256, 512 * 1024};
    static float x[2048];
    static _Alignas(64) uint8_t act[4096];
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    printf("%-5s %9s %12s %12s %9s\n", "type", "buffer", "256-bit GB/s", "512-bit GB/s", "512/256");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const struct quant_isa_kernels *k = quant_x86_kernels(QUANT_ISA_AVX512);
        while (k->dot && k->type != types[ti])
            k++;
        if (!k->dot || !k->dot_512) continue;
        size_t rb = quant_row_bytes(types[ti], n);
        quant_act_quantize(quant_act_kind(types[ti]), x, act, n);
        for (size_t si = 0; si < 2; si++) {
            size_t rows = sizes_kb[si] * 1024 / rb;
            uint8_t *w = malloc(rows * rb);
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
            double bytes = (double)(rows * rb);
            printf("%-5s %6zu KiB %12.2f %12.2f %9.3f\n", quant_type_info(types[ti])->name,
                   sizes_kb[si], bytes / best[0] / 1e9, bytes / best[1] / 1e9, best[0] / best[1]);
            free(w);
        }
    }
    return 0;
}
