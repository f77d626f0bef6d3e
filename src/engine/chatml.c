#include "engine/chatml.h"

#include <string.h>

#include "core/mem.h"

struct sbuf {
    char *p;
    size_t len, cap;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n) /* s may be NULL when n is 0 */
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(struct sbuf *b, const char *s) { put(b, s, strlen(s)); }

char *chatml_format(const struct chatml_msg *msgs, size_t n, int add_assistant, int thinking)
{
    struct sbuf b = {0};
    put(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        puts_(&b, "<|im_start|>");
        puts_(&b, msgs[i].role);
        puts_(&b, "\n");
        puts_(&b, msgs[i].content);
        puts_(&b, "<|im_end|>\n");
    }
    if (add_assistant) {
        puts_(&b, "<|im_start|>assistant\n");
        if (!thinking)
            puts_(&b, "<think>\n\n</think>\n\n");
    }
    return b.p;
}

static const char *find(const char *h, size_t hlen, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hlen; i++)
        if (!memcmp(h + i, needle, n))
            return h + i;
    return NULL;
}

char *chatml_strip_thinking(const char *text, size_t len, size_t *out_len)
{
    struct sbuf b = {0};
    put(&b, "", 0);
    const char *p = text, *end = text + len;
    int skip_ws = 0;
    while (p < end) {
        const char *open = find(p, (size_t)(end - p), "<think>");
        const char *seg_end = open ? open : end;
        if (skip_ws)
            while (p < seg_end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
                p++;
        put(&b, p, (size_t)(seg_end - p));
        if (!open)
            break;
        const char *close = find(open, (size_t)(end - open), "</think>");
        if (!close)
            break;
        p = close + strlen("</think>");
        skip_ws = 1;
    }
    if (out_len)
        *out_len = b.len;
    return b.p;
}
