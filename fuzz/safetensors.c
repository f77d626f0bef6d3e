/* libFuzzer target for the safetensors reader: any input must parse or fail cleanly, and
 * whatever parses must describe only bytes inside the input.
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -D_GNU_SOURCE fuzz/safetensors.c \
 *   src/engine/safetensors.c src/core/mem.c src/core/error.c -ljansson */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so that any read past the end is caught */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    safetensors_t *st;
    char err[256];
    if (safetensors_open_mem(copy, size, &st, err, sizeof err) == 0) {
        volatile uint64_t sink = 0;
        for (size_t i = 0; i < safetensors_n_tensors(st); i++) {
            const struct safetensors_tensor *t = safetensors_tensor(st, i);
            if (t->nbytes)
                sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
            if (safetensors_find(st, t->name) != t) abort();
        }
        (void)sink;
        (void)safetensors_metadata(st, "format");
        safetensors_close(st);
    }
    free(copy);
    return 0;
}
