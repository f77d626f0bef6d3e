/* Fuzz target: the parser of an OpenAI-compatible upstream's streamed reply (llm/openai.c):
 * "data: {...}" Server-Sent Event lines, or one JSON object when the upstream ignores
 * stream: true, fed in chunks of arbitrary sizes as libcurl would deliver them. The input's
 * first byte picks the chunk size. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "llm/openai.c"

static int count_piece(void *ud, const char *text, size_t len)
{
    size_t *total = ud;
    *total += len;
    return text[0] == '!' ? 1 : 0; /* a caller that stops early */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = (size_t)data[0] % 64 + 1, total = 0;
    struct stream_ctx x = {.sink = {.fn = stream_sink}, .on_token = count_piece, .ud = &total};
    sb_init(&x.sink.body);
    sb_init(&x.line);
    sb_init(&x.text);
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        if (stream_sink(&x.sink, p + off, k) != k) break;
    }
    if (x.sse && x.line.len) sse_line(&x, x.line.s, x.line.len);
    /* What was passed on is what was collected. */
    if (total != x.text.len) __builtin_trap();
    sb_free(&x.text);
    sb_free(&x.line);
    sb_free(&x.sink.body);
    return 0;
}
