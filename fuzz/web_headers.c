/* Fuzz target for the web UI's request-header parsers: Accept-Encoding, If-None-Match and the
 * path-segment rule take any bytes without reading past them, and a segment they accept never
 * names a parent or hidden entry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/web.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)accepts_gzip(s);
    (void)etag_matches(s, "\"0123456789abcdef\"");
    (void)etag_matches("\"0123456789abcdef\"", s);
    if (segment_ok(s) && (s[0] == '.' || strchr(s, '/') || strstr(s, "..") == s)) abort();
    (void)mime_for(s, NULL);
    free(s);
    return 0;
}
