/* bw_probe.c - memory read bandwidth for the engine benchmarks: THREADS threads summing a
 * 1 GiB buffer (best of 5 passes), then memcpy of half of it (best of 3). Prints
 * "READ_GBPS COPY_GBPS". Built by bench/lib.sh.
 *
 * The buffer sits on 2 MiB pages where the kernel gives them (madvise), as the engine's
 * resident weights do (engine/gguf.c): on 4 KiB pages the same loop read 10-35% less on
 * the Zen 5 machine of bench/engine_compare.md, a bound the engine could beat. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
static uint64_t *buf;
static size_t n;
static int nth;
static void *rd(void *a)
{
    size_t i0 = (size_t)(intptr_t)a * n / nth, i1 = ((size_t)(intptr_t)a + 1) * n / nth;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = i0; i + 4 <= i1; i += 4) {
        s0 += buf[i];
        s1 += buf[i + 1];
        s2 += buf[i + 2];
        s3 += buf[i + 3];
    }
    return (void *)(intptr_t)(s0 + s1 + s2 + s3);
}
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(int argc, char **argv)
{
    nth = argc > 1 ? atoi(argv[1]) : 1;
    n = (1u << 30) / 8;
    buf = aligned_alloc((size_t)2 << 20, n * 8);
    if (!buf) return 1;
#ifdef MADV_HUGEPAGE
    (void)madvise(buf, n * 8, MADV_HUGEPAGE);
#endif
    memset(buf, 1, n * 8);
    double best = 1e9, bestc = 1e9;
    pthread_t t[256];
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < nth; i++)
            pthread_create(&t[i], 0, rd, (void *)(intptr_t)i);
        for (int i = 0; i < nth; i++)
            pthread_join(t[i], 0);
        double dt = now() - t0;
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
