/* read_probe.h - the benchmarks' plain read of memory: a loop summing 64-bit words with four
 * accumulators, no other arithmetic, the bound a kernel streaming weights is held against
 * (bench/bw_probe.c, bench/decode_bound.c, bench/quant_kernels.c). Header-only: each benchmark
 * is one file built by hand. */
#ifndef RAGD_BENCH_READ_PROBE_H
#define RAGD_BENCH_READ_PROBE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* the sum of words p[0..n-1] (n rounded down to a multiple of 4) */
static inline uint64_t read_probe_sum(const uint64_t *p, size_t n)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

struct read_probe_slice {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
    pthread_t th;
};

static inline void *read_probe_thread(void *arg)
{
    struct read_probe_slice *s = arg;
    s->sum = read_probe_sum(s->p, s->n);
    return NULL;
}

/* One pass over words buf[0..n-1] on nth threads (at most 256), each summing its contiguous
 * slice: seconds. */
static inline double read_probe_pass(const uint64_t *buf, size_t n, int nth)
{
    struct read_probe_slice s[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < nth; i++) {
        size_t i0 = n * (size_t)i / (size_t)nth, i1 = n * (size_t)(i + 1) / (size_t)nth;
        s[i] = (struct read_probe_slice){.p = buf + i0, .n = i1 - i0};
        pthread_create(&s[i].th, NULL, read_probe_thread, &s[i]);
    }
    volatile uint64_t sink = 0; /* the sums are used, so the reads are kept */
    for (int i = 0; i < nth; i++) {
        pthread_join(s[i].th, NULL);
        sink += s[i].sum;
    }
    (void)sink;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
}

#endif
