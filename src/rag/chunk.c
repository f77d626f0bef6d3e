/* chunk.c - paragraph/sentence-aware chunking with overlap. */
#include "rag/chunk.h"

#include "core/error.h"
#include "core/mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Bytes in the character at s[i]; invalid or truncated sequences count as one byte. */
static size_t char_len(const char *s, size_t i, size_t n)
{
    unsigned char c = (unsigned char)s[i];
    size_t l = c < 0x80 ? 1 : c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + l > n) return 1;
    for (size_t k = 1; k < l; k++)
        if (((unsigned char)s[i + k] & 0xC0) != 0x80) return 1;
    return l;
}

static size_t count_chars(const char *s, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t i = a; i < b;) {
        i += char_len(s, i, b);
        n++;
    }
    return n;
}

/* True when the text before the whitespace at s[i] ends a sentence. */
static bool sentence_end_before(const char *s, size_t start, size_t i)
{
    size_t k = i;
    /* closing quotes and brackets after the full stop */
    while (k > start && (s[k - 1] == '"' || s[k - 1] == '\'' || s[k - 1] == ')' || s[k - 1] == ']'))
        k--;
    if (k >= start + 3 && (unsigned char)s[k - 3] == 0xE2 && (unsigned char)s[k - 2] == 0x80 &&
        ((unsigned char)s[k - 1] == 0x9D || (unsigned char)s[k - 1] == 0x99)) /* ” ’ */
        k -= 3;
    if (k <= start) return false;
    char c = s[k - 1];
    if (c == '.' || c == '!' || c == '?') return true;
    return k >= start + 3 && (unsigned char)s[k - 3] == 0xE2 && (unsigned char)s[k - 2] == 0x80 &&
           (unsigned char)s[k - 1] == 0xA6; /* … */
}

/* CJK full stops end a sentence without a following space: 。 ！ ？ */
static bool cjk_stop(const char *s, size_t i, size_t n)
{
    if (i + 3 > n) return false;
    const unsigned char *u = (const unsigned char *)s + i;
    return (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
           (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x81 || u[2] == 0x9F));
}

void chunk_opts_default(chunk_opts_t *opts)
{
    opts->unit = CHUNK_TOKENS;
    opts->size = CHUNK_DEFAULT_SIZE;
    opts->overlap = CHUNK_DEFAULT_OVERLAP;
}

/* Where the chunk starting at s should end (exclusive, before trimming): never at or before
 * min_end (the previous chunk's end), so an overlapping chunk always reaches further. */
static size_t find_end(const char *t, size_t len, size_t s, size_t min_end, size_t max)
{
    size_t para = 0, sent = 0, word = 0;
    size_t i = s, chars = 0;
    bool past_min = false; /* a non-space character at or after min_end was seen */
    while (i < len) {
        unsigned char c = (unsigned char)t[i];
        if (!is_ws(c) && i >= min_end) past_min = true;
        if (is_ws(c) && i > s && past_min) {
            if (c == '\n' && i + 1 < len && t[i + 1] == '\n') {
                if (chars * 2 >= max) para = i;
                if (chars * 4 >= max) sent = i;
            } else if (c == '\n' || sentence_end_before(t, s, i)) {
                if (chars * 4 >= max) sent = i;
            }
            word = i;
        }
        if (chars == max) break;
        size_t l = char_len(t, i, len);
        if (cjk_stop(t, i, len) && chars * 4 >= max && past_min) sent = i + l;
        i += l;
        chars++;
    }
    if (i >= len) return len;
    if (para) return para;
    if (sent) return sent;
    if (word) return word;
    return i; /* hard cut on a character boundary */
}

/* Where the chunk after one ending at e should start, reaching back about ov characters. */
static size_t find_next_start(const char *t, size_t s, size_t e, size_t ov)
{
    if (ov == 0) return e;
    size_t target = e, back = 0;
    while (target > s && back < ov) {
        target--;
        while (target > s && ((unsigned char)t[target] & 0xC0) == 0x80)
            target--;
        back++;
    }
    if (target <= s) return e;
    /* first sentence start at or after target */
    bool boundary = false;
    size_t word_start = 0;
    for (size_t p = target; p < e; p++) {
        unsigned char c = (unsigned char)t[p];
        if (is_ws(c)) {
            if (c == '\n' || sentence_end_before(t, s, p)) boundary = true;
            continue;
        }
        bool after_ws = is_ws((unsigned char)t[p - 1]);
        if (after_ws && (boundary || t[p - 1] == '\n')) return p;
        if (after_ws && !word_start) word_start = p;
        if (p >= 3 && cjk_stop(t, p - 3, e)) return p;
        boundary = false;
    }
    return word_start ? word_start : e;
}

int chunk_split(const char *text, size_t len, const chunk_opts_t *opts, chunk_t **out, size_t *n)
{
    chunk_opts_t o;
    if (opts)
        o = *opts;
    else
        chunk_opts_default(&o);
    if (o.size == 0) {
        o.size =
            o.unit == CHUNK_CHARS ? CHUNK_DEFAULT_SIZE * CHUNK_CHARS_PER_TOKEN : CHUNK_DEFAULT_SIZE;
    }
    size_t mult = o.unit == CHUNK_CHARS ? 1 : CHUNK_CHARS_PER_TOKEN;
    size_t max = o.size * mult, ov = o.overlap * mult;
    *out = NULL;
    *n = 0;
    if (max < 16 || o.size > SIZE_MAX / mult || o.overlap > SIZE_MAX / mult) return RAGD_EINVAL;
    if (ov >= max / 2) ov = max / 2 - 1;

    chunk_t *v = NULL;
    size_t cnt = 0, cap = 0;
    while (len > 0 && is_ws((unsigned char)text[len - 1]))
        len--;
    size_t s = 0, prev_end = 0;
    while (s < len && is_ws((unsigned char)text[s]))
        s++;
    while (s < len) {
        size_t e = find_end(text, len, s, prev_end, max);
        size_t et = e;
        while (et > s && is_ws((unsigned char)text[et - 1]))
            et--;
        if (cnt > 0 && et <= prev_end) {
            /* the overlap window plus the whitespace after it fill a whole chunk: start
             * again without overlap at the next text */
            s = prev_end;
            while (s < len && is_ws((unsigned char)text[s]))
                s++;
            continue;
        }
        if (et > s) {
            if (cnt == cap) {
                cap = cap ? cap * 2 : 16;
                v = xrealloc(v, cap * sizeof *v);
            }
            chunk_t *c = &v[cnt];
            c->position = cnt;
            c->start = s;
            c->end = et;
            c->chars = count_chars(text, s, et);
            c->tokens = (c->chars + CHUNK_CHARS_PER_TOKEN - 1) / CHUNK_CHARS_PER_TOKEN;
            cnt++;
        }
        if (e >= len) break;
        prev_end = et;
        /* overlap at most half the chunk, so every chunk moves forward by half its size */
        size_t chunk_chars = cnt ? v[cnt - 1].chars : 0;
        size_t ns = find_next_start(text, s, et, ov < chunk_chars / 2 ? ov : chunk_chars / 2);
        if (ns <= s || ns >= e) ns = e;
        while (ns < len && is_ws((unsigned char)text[ns]))
            ns++;
        s = ns;
    }
    *out = v;
    *n = cnt;
    return 0;
}
