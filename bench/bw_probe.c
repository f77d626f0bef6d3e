/* bw_probe.c - memory read bandwidth for the engine benchmarks: THREADS threads summing a
 * 1 GiB buffer (best of 5 passes), then memcpy of half of it (best of 3). Prints
 * "READ_GBPS COPY_GBPS". Built by bench/lib.sh.
 *
 * The buffer sits on 2 MiB pages where the kernel gives them (madvise), as the engine's
 * resident weights do (engine/gguf.c): on 4 KiB pages the same loop read 10-35% less on
 * the Zen 5 machine of bench/engine_compare.md, a bound the engine could beat. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "read_probe.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(int argc, char **argv)
{
    int nth = argc > 1 ? atoi(argv[1]) : 1;
    if (nth < 1 || nth > 256) nth = 1;
    size_t n = (1u << 30) / 8;
    uint64_t *buf = aligned_alloc((size_t)2 << 20, n * 8);
    if (!buf) return 1;
#ifdef MADV_HUGEPAGE
    (void)madvise(buf, n * 8, MADV_HUGEPAGE);
#endif
    memset(buf, 1, n * 8);
    double best = 1e9, bestc = 1e9;
    for (int r = 0; r < 5; r++) {
        double dt = read_probe_pass(buf, n, nth);
        if (dt < best) best = dt;
    }
    char *dst = malloc(n * 8 / 2);
    memset(dst, 0, n * 8 / 2);
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        memcpy(dst, buf, n * 8 / 2);
        double dt = now() - t0;
        if (dt < bestc) bestc = dt;
    }
    printf("%.2f %.2f\n", n * 8 / best / 1e9,
           n * 8 / bestc / 1e9); /* read GB/s, memcpy GB/s (read+write) */
    return 0;
}
