/* seq_memory.c - memory of idle decoder sequences, the two ways the engine can hold them:
 *
 *   own     every sequence with a scratch context of its own (model_state_create): how every
 *           session was held before the KV cache and the scratch were split
 *   shared  KV-only sequences (model_state_create_kv) and one scratch for all of them, which
 *           is how llm.c holds its sessions
 *
 * Each mode runs in a child process: it loads the model, then gives N_SEQ sequences of N_CTX
 * positions a PROMPT-token prompt (in slices of BATCH tokens, as llm.c does) and STEPS decoding
 * steps, and leaves them idle. Prints the bytes allocated per sequence and the resident memory
 * the sequences added (RSS after the first sequence, then per further sequence).
 *
 *   seq_memory MODEL.gguf [N_CTX=4096] [N_SEQ=4] [PROMPT=64] [STEPS=4] [THREADS=2]
 * Built by bench/seq_memory.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/model.h"

enum { BATCH = 64 }; /* llm.c's prompt slice and scratch batch */

static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
        if (f) fclose(f);
        return 0;
    }
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

static double mib(size_t b)
{
    return (double)b / (1 << 20);
}

static int run(const char *path, int shared, int n_ctx, int n_seq, int prompt, int steps,
               int threads)
{
    char err[256] = "";
    model_t *m;
    pool_t *pool;
    if (model_load(path, 0, &m, err, sizeof err) || pool_create(threads, &pool)) {
        fprintf(stderr, "seq_memory: %s\n", err);
        return 1;
    }
    int V = model_config(m)->n_vocab;
    int32_t *toks = malloc((size_t)(prompt + steps) * sizeof *toks);
    for (int i = 0; i < prompt + steps; i++)
        toks[i] = (int32_t)((i * 7919 + 11) % V);
    model_state_t **seq = calloc((size_t)n_seq, sizeof *seq);
    model_scratch_t *ws = NULL;
    double rss0 = rss_mib(), rss1 = 0;
    if (shared && model_scratch_create(m, n_ctx, BATCH, pool, quant_best_isa(), &ws)) return 1;
    for (int i = 0; i < n_seq; i++) {
        int rc = shared ? model_state_create_kv(m, n_ctx, &seq[i])
                        : model_state_create(m, n_ctx, BATCH, pool, quant_best_isa(), &seq[i]);
        for (int off = 0; !rc && off < prompt; off += BATCH) {
            int k = prompt - off < BATCH ? prompt - off : BATCH;
            rc = shared ? model_forward_in(ws, seq[i], toks + off, k, NULL, 0)
                        : model_forward(seq[i], toks + off, k, NULL, 0);
        }
        if (rc) {
            fprintf(stderr, "seq_memory: sequence %d: error %d\n", i, rc);
            return 1;
        }
        if (i == 0) rss1 = rss_mib();
    }
    for (int s = 0; s < steps; s++) {
        int32_t next[BATCH];
        for (int i = 0; i < n_seq && i < BATCH; i++)
            next[i] = toks[prompt + s];
        int rc = 0;
        if (shared) /* one batched step for all, as llm.c runs concurrent answers */
            rc = model_forward_multi(ws, seq, next, n_seq < BATCH ? n_seq : BATCH, NULL);
        else
            for (int i = 0; i < n_seq && !rc; i++)
                rc = model_forward(seq[i], &next[i], 1, NULL, 0);
        if (rc) {
            fprintf(stderr, "seq_memory: step %d: error %d\n", s, rc);
            return 1;
        }
    }
    double rssn = rss_mib();
    size_t per = model_state_bytes(seq[0]), scratch = ws ? model_scratch_bytes(ws) : 0;
    printf("%-7s allocated: %9.1f MiB per sequence (KV %8.1f MiB) + shared scratch %6.1f MiB | "
           "resident: first sequence%s %7.1f MiB, each further one %7.1f MiB\n",
           shared ? "shared" : "own", mib(per),
           mib(2 * (size_t)n_ctx * model_kv_floats_per_pos(m) * sizeof(float)), mib(scratch),
           shared ? " + scratch" : "", rss1 - rss0, n_seq > 1 ? (rssn - rss1) / (n_seq - 1) : 0.0);
    for (int i = 0; i < n_seq; i++)
        model_state_free(seq[i]);
    model_scratch_free(ws);
    free(seq);
    free(toks);
    pool_free(pool);
    model_free(m);
    fflush(stdout); /* the child leaves with _exit */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [N_CTX] [N_SEQ] [PROMPT] [STEPS] [THREADS]\n",
                argv[0]);
        return 2;
    }
    int n_ctx = argc > 2 ? atoi(argv[2]) : 4096, n_seq = argc > 3 ? atoi(argv[3]) : 4;
    int prompt = argc > 4 ? atoi(argv[4]) : 64, steps = argc > 5 ? atoi(argv[5]) : 4;
    int threads = argc > 6 ? atoi(argv[6]) : 2;
    if (n_ctx < prompt + steps || n_seq < 1 || n_seq > BATCH || prompt < 1 || steps < 0) {
        fprintf(stderr, "seq_memory: need N_CTX >= PROMPT + STEPS, 1 <= N_SEQ <= %d\n", BATCH);
        return 2;
    }
    printf("%s: %d sequences of %d positions, %d prompt tokens and %d steps each\n", argv[1], n_seq,
           n_ctx, prompt, steps);
    fflush(stdout);
    for (int shared = 0; shared < 2; shared++) {
        pid_t pid = fork();
        if (pid == 0) _exit(run(argv[1], shared, n_ctx, n_seq, prompt, steps, threads));
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) return 1;
    }
    return 0;
}
