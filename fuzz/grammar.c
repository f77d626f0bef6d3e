/* Fuzz target for constrained decoding: the bytes before the first NUL are a JSON schema (none:
 * response_format json_object) compiled by grammar_compile; the bytes after it are fed to the
 * automaton in pieces of 1 to 8 bytes, as tokens would be. A refused piece must leave the
 * state as it was (the same piece is refused again, byte by byte it stops at the same place).
 * Must never crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t schema_len = nul ? (size_t)(nul - data) : size;
    json_t *schema = NULL;
    if (schema_len) {
        schema = json_loadb((const char *)data, schema_len, 0, NULL);
        if (!schema) return 0;
    }
    grammar_t *g;
    char err[256];
    if (grammar_compile(schema, &g, err, sizeof err)) {
        json_decref(schema);
        return 0;
    }
    grammar_state_t *s;
    grammar_state_create(g, &s);
    const char *text = nul ? (const char *)nul + 1 : "";
    size_t n = nul ? size - schema_len - 1 : 0;
    for (size_t i = 0; i < n;) {
        size_t k = 1 + (size_t)((unsigned char)text[i] % 8);
        if (k > n - i) k = n - i;
        if (grammar_accept_bytes(s, text + i, k)) {
            if (!grammar_accept_bytes(s, text + i, k)) abort(); /* the state changed */
            break;
        }
        i += k;
    }
    (void)grammar_can_end(s);
    (void)grammar_done(s);
    grammar_state_free(s);
    grammar_free(g);
    json_decref(schema);
    return 0;
}
