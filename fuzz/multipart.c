/* Fuzz target: multipart/form-data parsing (boundary header and body).
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/multipart.c \
 *        src/api/multipart.c */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* First line: the Content-Type header value; the rest: the body. */
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
    if (!nl) return 0;
    char ct[201];
    size_t cl = (size_t)(nl - data);
    memcpy(ct, data, cl);
    ct[cl] = '\0';
    char boundary[80];
    if (multipart_boundary(ct, boundary)) return 0;
    struct multipart_part parts[MULTIPART_MAX_PARTS];
    size_t n = 0;
    char err[256];
    const char *body = (const char *)nl + 1;
    size_t blen = size - cl - 1;
    if (!multipart_parse(body, blen, boundary, parts, &n, err, sizeof err)) {
        for (size_t i = 0; i < n; i++) {
            /* Every part must lie inside the body. */
            if (parts[i].data < body || parts[i].data + parts[i].len > body + blen)
                __builtin_trap();
            if (!parts[i].name[0]) __builtin_trap();
        }
        multipart_find(parts, n, "file");
    }
    return 0;
}
