/* libFuzzer target for the GGUF reader: any input must parse or fail cleanly, and whatever
 * parses must describe only bytes inside the input. Also exercises the model loader's checks.
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/gguf.c src/engine/gguf.c \
 *   src/engine/quant.c src/engine/quant_x86.c src/engine/model.c src/engine/pool.c \
 *   src/core/mem.c src/core/error.c -D_GNU_SOURCE -lm */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so that any read past the end is caught */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    gguf_t *g;
    char err[256];
    if (gguf_open_mem(copy, size, &g, err, sizeof err) == 0) {
        volatile uint64_t sink = 0;
        for (size_t i = 0; i < gguf_n_kv(g); i++) {
            const struct gguf_value *v = gguf_kv_value(g, i);
            if (v->type == GGUF_TYPE_ARRAY && v->v.arr.raw && v->v.arr.n)
                sink += (uint64_t)gguf_arr_i64(v, v->v.arr.n - 1);
        }
        for (size_t i = 0; i < gguf_n_tensors(g); i++) {
            const struct gguf_tensor *t = gguf_tensor(g, i);
            if (t->nbytes) sink += ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        (void)sink;
        model_t *m;
        if (model_load_gguf(g, &m, err, sizeof err) == 0) /* takes g */
            model_free(m);
    }
    free(copy);
    return 0;
}
