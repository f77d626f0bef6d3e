/* decode_batch - decoding steps of 1, 2 and 4 sequences at once (model_forward_multi, as the
 * server batches concurrent answers): milliseconds per pass and aggregate tokens/s, the first
 * two passes of each count not timed. The vector width of the kernels is chosen at start
 * (RAGD_VECTOR_BITS), so compare widths by alternating runs:
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/decode_batch.c build/release/libragd.a \
 *      -lm -pthread -o build/release/bench/decode_batch
 *   for i in 1 2 3; do for b in 256 512; do
 *       RAGD_VECTOR_BITS=$b build/release/bench/decode_batch MODEL.gguf [passes [threads]]; done;
 * done
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/model.h"
#include "engine/pool.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: decode_batch MODEL.gguf [passes [threads]]\n");
        return 2;
    }
    int passes = argc > 2 ? atoi(argv[2]) : 16, nth = argc > 3 ? atoi(argv[3]) : 2;
    if (passes < 3) passes = 3;
    model_t *m;
    char err[256];
    if (model_load(argv[1], 0, &m, err, sizeof err)) {
        fprintf(stderr, "decode_batch: %s\n", err);
        return 1;
    }
    pool_t *pool;
    model_scratch_t *sc;
    model_state_t *s[4];
    if (pool_create(nth, &pool) || model_scratch_create(m, 512, 64, pool, quant_best_isa(), &sc))
        return 1;
    for (int i = 0; i < 4; i++)
        if (model_state_create_kv(m, 512, &s[i])) return 1;
    size_t V = (size_t)model_config(m)->n_vocab;
    float *out[4];
    for (int i = 0; i < 4; i++)
        out[i] = malloc(V * sizeof(float));
    printf("%d threads, %s\n", nth, quant_isa_name(quant_best_isa()));
    for (int nb = 1; nb <= 4; nb *= 2) {
        for (int i = 0; i < 4; i++)
            model_state_truncate(s[i], 0);
        int32_t tok[4] = {11, 42, 77, 300};
        double t0 = 0;
        for (int k = 0; k < passes; k++) {
            if (k == 2) t0 = now();
            if (model_forward_multi(sc, s, tok, nb, out)) return 1;
            for (int i = 0; i < nb; i++) /* the next tokens: any valid ids will do */
                tok[i] = (int32_t)(((int64_t)tok[i] * 31 + k) % (int64_t)V);
        }
        double dt = (now() - t0) / (passes - 2);
        printf("%d sequences: %6.1f ms per pass, %6.1f tok/s aggregate\n", nb, 1e3 * dt, nb / dt);
    }
    return 0;
}
