/* gemm_kernels - the tiled prompt kernels (quant_gemm_kernel) against the multi-row kernels
 * (quant_dot_multi_kernel, four activation rows per weight-row pass) they replace for prompts,
 * on the same data in the same run: one thread, 64 activation rows (a prompt slice), weight
 * rows taken 64 at a time as model.c's matmul does, the two kernels alternating over passes and
 * the best pass of each kept. Prints GMAC/s (multiply-adds of weights by activations) and the
 * tiled/multi ratio for q8_0, q4_k and q6_k at the 1.7B shape's two widths.
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/gemm_kernels.c build/release/libragd.a \
 *      -lm -pthread -o build/release/bench/gemm_kernels
 *   build/release/bench/gemm_kernels [passes]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/quant.h"

enum { N_ACT = 64, GROUP = 64 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

/* one pass of every weight row against every activation row; tiled or multi-row */
static void pass(int tiled, quant_gemm_fn g, quant_dot_multi_fn m, const uint8_t *w, size_t wb,
                 int rows, const uint8_t *a, size_t ab, float *out, size_t n)
{
    for (int r0 = 0; r0 < rows; r0 += GROUP) {
        const uint8_t *wr = w + (size_t)r0 * wb;
        if (tiled) {
            g(wr, wb, GROUP, a, ab, N_ACT, out, GROUP, n);
            continue;
        }
        for (int t0 = 0; t0 < N_ACT; t0 += 4)
            for (int k = 0; k < GROUP; k++)
                m(wr + (size_t)k * wb, a + (size_t)t0 * ab, ab, 4, out + (size_t)t0 * GROUP + k, n);
    }
}

int main(int argc, char **argv)
{
    int passes = argc > 1 ? atoi(argv[1]) : 7;
    enum quant_isa isa = quant_best_isa();
    const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
    const int shapes[][2] = {{2048, 2048}, {2048, 6144}}; /* rows, columns */
    printf("%s, one thread, %d activation rows, weight rows %d at a time, best of %d passes\n",
           quant_isa_name(isa), N_ACT, GROUP, passes);
    printf("type  rows x cols   tiled GMAC/s  multi-row GMAC/s  tiled/multi\n");
    unsigned seed = 1;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t type = types[ti];
        quant_gemm_fn g = quant_gemm_kernel(type, isa);
        quant_dot_multi_fn m = quant_dot_multi_kernel(type, isa);
        if (!g || !m) {
            printf("%-5s no tiled or multi-row kernel on %s\n", quant_type_info(type)->name,
                   quant_isa_name(isa));
            continue;
        }
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int rows = shapes[si][0];
            size_t n = (size_t)shapes[si][1];
            enum act_kind kind = quant_act_kind(type);
            size_t wb = quant_row_bytes(type, n), ab = quant_act_row_bytes(kind, n);
            uint8_t *w = malloc(wb * (size_t)rows), *a = malloc(ab * N_ACT);
            float *x = malloc(n * sizeof *x), *out = malloc((size_t)N_ACT * GROUP * sizeof *out);
            for (int r = 0; r < rows; r++) {
                for (size_t i = 0; i < n; i++)
                    x[i] = frand(&seed);
                quant_quantize_row(type, x, w + (size_t)r * wb, n);
            }
            for (int t = 0; t < N_ACT; t++) {
                for (size_t i = 0; i < n; i++)
                    x[i] = frand(&seed);
                quant_act_quantize(kind, x, a + (size_t)t * ab, n);
            }
            double best[2] = {1e30, 1e30};
            for (int p = 0; p < passes; p++)
                for (int k = 0; k < 2; k++) {
                    int tiled = (p + k) % 2; /* the kernel going first alternates */
                    double t0 = now();
                    pass(tiled, g, m, w, wb, rows, a, ab, out, n);
                    double dt = now() - t0;
                    if (dt < best[tiled]) best[tiled] = dt;
                }
            double macs = (double)rows * (double)n * N_ACT;
            printf("%-5s %4d x %-5zu %12.1f %17.1f %12.2f\n", quant_type_info(type)->name, rows, n,
                   macs / best[1] / 1e9, macs / best[0] / 1e9, best[0] / best[1]);
            free(w);
            free(a);
            free(x);
            free(out);
        }
    }
    return 0;
}
