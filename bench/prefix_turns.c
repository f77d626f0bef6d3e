/* prefix_turns - the turns of one conversation on a model with its prefix cache on, as the
 * server runs them: each turn resets a session (the server's slots take requests in turn) and
 * generates from the whole conversation so far, so it adopts the cached rows of the earlier
 * turns, evaluates the rest, and at its end saves its rows into the cache. Prints each turn's
 * prompt time (the rows adopted and the rest evaluated: the time to the first token, but for
 * one sampling), its whole time (with the answer and the save) and the cache's counters. The
 * first turn's prompt has FIRST random tokens, each later turn adds the previous answer and NEW
 * more; SLOTS sessions take the turns in turn (with 2, every turn but the first copies the
 * cached rows into the other session).
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/prefix_turns.c build/release/libragd.a \
 *      $(pkg-config --libs jansson libutf8proc libcrypto) -lm -pthread \
 *      -o build/release/bench/prefix_turns
 *   build/release/bench/prefix_turns MODEL.gguf [turns [slots [first [new [answer]]]]]
 *
 * Run two builds of it in turn (bench/prefix_turns.sh) to compare them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "engine/llm.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prefix_turns MODEL.gguf [turns [slots [first [new [answer]]]]]\n");
        return 2;
    }
    int turns = argc > 2 ? atoi(argv[2]) : 4, slots = argc > 3 ? atoi(argv[3]) : 1;
    int first = argc > 4 ? atoi(argv[4]) : 700, add = argc > 5 ? atoi(argv[5]) : 150;
    int answer = argc > 6 ? atoi(argv[6]) : 8, n_ctx = 4096;
    if (turns < 1 || slots < 1 || slots > 4 || first < 1 || add < 1 || answer < 1 ||
        first + (turns - 1) * (add + answer) + answer > n_ctx) {
        fprintf(stderr,
                "prefix_turns: turns >= 1, slots 1-4, and the conversation within %d "
                "tokens\n",
                n_ctx);
        return 2;
    }
    llm_model_t *m;
    char err[256];
    if (llm_model_load(argv[1], 2, 0, &m, err, sizeof err)) {
        fprintf(stderr, "prefix_turns: %s\n", err);
        return 1;
    }
    llm_model_prefix_cache(m, (size_t)1024 << 20); /* PREFIX_CACHE_MB's default */
    llm_session_t *s[4];
    for (int i = 0; i < slots; i++)
        if (llm_session_create(m, n_ctx, &s[i])) return 1;
    int32_t *conv = malloc((size_t)n_ctx * sizeof *conv);
    size_t n = 0;
    srand(3);
    for (int t = 0; t < turns; t++) {
        for (int i = 0; i < (t ? add : first); i++)
            conv[n++] = 100 + rand() % 30000;
        struct llm_gen_params gp;
        llm_gen_params_default(&gp);
        gp.n_predict = answer;
        gp.sampling.greedy = 1;
        struct llm_gen_result r;
        memset(&r, 0, sizeof r);
        llm_session_t *ss = s[t % slots];
        llm_session_reset(ss);
        struct llm_prefix_stats a, b;
        llm_model_prefix_stats(m, &a);
        int64_t t0 = time_mono_ns();
        int rc = llm_generate(ss, conv, n, &gp, NULL, NULL, &r);
        double dt = (double)(time_mono_ns() - t0) * 1e-9;
        llm_model_prefix_stats(m, &b);
        if (rc) {
            fprintf(stderr, "prefix_turns: generate: %d\n", rc);
            return 1;
        }
        printf(
            "turn %d: %zu prompt tokens, %llu reused, %llu saved: prompt %.0f ms, turn %.0f ms\n",
            t + 1, n, (unsigned long long)(b.reused - a.reused),
            (unsigned long long)(b.saved - a.saved), r.prompt_s * 1e3, dt * 1e3);
        llm_gen_result_free(&r);
        for (int i = 0; i < answer; i++) /* the answer, as the next turn's prompt carries it */
            conv[n++] = 200 + i;
    }
    struct llm_prefix_stats st;
    llm_model_prefix_stats(m, &st);
    printf("cache: %d entries, %.1f MB held, %.1f MB spare\n", st.entries, (double)st.bytes / 1e6,
           (double)st.spare_bytes / 1e6);
    for (int i = 0; i < slots; i++)
        llm_session_free(s[i]);
    free(conv);
    llm_model_free(m);
    return 0;
}
