/* libFuzzer target: document sniffing and extraction for every type, then chunking.
 *
 * Input: raw document bytes. A first byte of 0xFF means "the rest is a PDF body": it is
 * prefixed with a PDF header so the fuzzer reaches MuPDF's parser without having to find
 * the magic itself. Invariants checked: extraction either fails with a reason or yields
 * valid, NUL-free UTF-8 text; chunks lie inside the text on character boundaries.
 *
 * Build: clang -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/rag_extract.c \
 *   src/rag/extract.c src/rag/chunk.c src/core/mem.c src/core/error.c \
 *   $(pkg-config --libs --static mupdf) -lharfbuzz -lfreetype -lm */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rag/chunk.h"
#include "rag/extract.h"

static void check_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (l == 0 || i + l > n || c == 0) abort();
        for (size_t k = 1; k < l; k++)
            if ((s[i + k] & 0xC0) != 0x80) abort();
        i += l;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = NULL;
    const void *doc = data;
    size_t len = size;
    if (size > 0 && data[0] == 0xFF) {
        static const char hdr[] = "%PDF-1.4\n";
        buf = malloc(size - 1 + sizeof hdr);
        memcpy(buf, hdr, sizeof hdr - 1);
        memcpy(buf + sizeof hdr - 1, data + 1, size - 1);
        doc = buf;
        len = size - 1 + sizeof hdr - 1;
    }
    extract_opts_t o = {.max_input = 1 << 20, .max_text = 1 << 20, .max_pages = 50};
    extract_result_t *r = NULL;
    extract_reason_t why;
    int rc = extract_document(doc, len, &o, &r, &why);
    if (rc == 0) {
        if (!r || !r->title || r->text_len != strlen(r->text) || r->text_len == 0) abort();
        check_utf8((const unsigned char *)r->text, r->text_len);
        check_utf8((const unsigned char *)r->title, strlen(r->title));
        chunk_opts_t co = {.unit = CHUNK_CHARS, .size = 16 + size % 200, .overlap = size % 50};
        chunk_t *c;
        size_t n;
        if (chunk_split(r->text, r->text_len, &co, &c, &n) != 0) abort();
        for (size_t i = 0; i < n; i++) {
            if (c[i].start >= c[i].end || c[i].end > r->text_len || c[i].chars > co.size) abort();
            if ((r->text[c[i].start] & 0xC0) == 0x80) abort();
        }
        free(c);
        extract_result_free(r);
    } else if (r != NULL || why == EXTRACT_OK) {
        abort();
    }
    free(buf);
    return 0;
}
