/* tokenizer_pre.c - the pre-tokenizers of byte-level BPE models, written as scanners that
 * follow their published split regexes alternative by alternative (leftmost alternative
 * wins, greedy quantifiers with the backtracking the regex engine would do). The unit tests
 * compare them with the regexes themselves run by PCRE2. */
#include "engine/tokenizer_int.h"

#include <string.h>

#include "engine/unicode.h"

static const struct {
    const char *name;
    int pre;
} pre_names[] = {
    {"default", TOK_PRE_GPT2},     {"gpt-2", TOK_PRE_GPT2},
    {"gpt2", TOK_PRE_GPT2},        {"phi-2", TOK_PRE_GPT2},
    {"llama-bpe", TOK_PRE_LLAMA3}, {"llama3", TOK_PRE_LLAMA3},
    {"llama-v3", TOK_PRE_LLAMA3},  {"smaug-bpe", TOK_PRE_LLAMA3},
    {"qwen2", TOK_PRE_QWEN2},      {"deepseek-r1-qwen", TOK_PRE_QWEN2},
};

int tok_pre_from_name(const char *name)
{
    if (!name) return TOK_PRE_GPT2;
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
        if (strcmp(name, pre_names[i].name) == 0) return pre_names[i].pre;
    return 0;
}

/* One decoded character with its class. */
struct ch {
    uint32_t cp;
    unsigned len;
    unsigned fl;
};

#define C_L UNI_LETTER
#define C_N UNI_NUMBER
#define C_S UNI_SPACE

static inline struct ch ch_at(const uint8_t *s, size_t n, size_t pos)
{
    struct ch c;
    if (s[pos] < 0x80) { /* fast path: ASCII */
        c.cp = s[pos];
        c.len = 1;
    } else {
        c.len = (unsigned)unicode_decode(s + pos, n - pos, &c.cp);
    }
    c.fl = unicode_flags(c.cp) & (C_L | C_N | C_S);
    return c;
}

static inline int is_crlf(uint32_t cp)
{
    return cp == '\r' || cp == '\n';
}

/* End of the run of characters having any of the flags in want, starting at pos. */
static size_t scan_class(const uint8_t *s, size_t n, size_t pos, unsigned want)
{
    while (pos < n) {
        struct ch c = ch_at(s, n, pos);
        if (!(c.fl & want)) break;
        pos += c.len;
    }
    return pos;
}

/* End of the run of "other" characters: [^\s\p{L}\p{N}]+ */
static size_t scan_other(const uint8_t *s, size_t n, size_t pos)
{
    while (pos < n) {
        struct ch c = ch_at(s, n, pos);
        if (c.fl & (C_L | C_N | C_S)) break;
        pos += c.len;
    }
    return pos;
}

static inline int lower_ascii(uint8_t b)
{
    return (b >= 'A' && b <= 'Z') ? b + 32 : b;
}

/* 's|'t|'re|'ve|'m|'ll|'d at pos (s[pos] == '\''), optionally ignoring ASCII case.
 * Returns the length matched or 0. */
static size_t contraction(const uint8_t *s, size_t n, size_t pos, int nocase)
{
    if (pos + 1 >= n) return 0;
    int a = nocase ? lower_ascii(s[pos + 1]) : s[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= n) return 0;
    int b = nocase ? lower_ascii(s[pos + 2]) : s[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* The two whitespace alternatives \s+(?!\S)|\s+ at pos (a whitespace character):
 * a run followed by more text gives back its last character, unless that is all it has. */
static size_t space_tail(const uint8_t *s, size_t n, size_t pos, size_t *last_nl_end)
{
    size_t end = pos, last_start = pos, nchars = 0;
    *last_nl_end = 0;
    while (end < n) {
        struct ch c = ch_at(s, n, end);
        if (!(c.fl & C_S)) break;
        last_start = end;
        end += c.len;
        nchars++;
        if (is_crlf(c.cp)) *last_nl_end = end;
    }
    if (end == n || nchars < 2) return end;
    return last_start;
}

static size_t pre_gpt2(const uint8_t *s, size_t n, size_t pos)
{
    struct ch c0 = ch_at(s, n, pos);
    size_t k;
    /* 's|'t|'re|'ve|'m|'ll|'d */
    if (c0.cp == '\'' && (k = contraction(s, n, pos, 0))) return pos + k;
    /*  ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+  */
    size_t p = pos;
    struct ch c = c0;
    if (c0.cp == ' ' && pos + 1 < n) {
        struct ch c1 = ch_at(s, n, pos + 1);
        if (!(c1.fl & C_S)) {
            p = pos + 1;
            c = c1;
        }
    }
    if (c.fl & C_L) return scan_class(s, n, p, C_L);
    if (c.fl & C_N) return scan_class(s, n, p, C_N);
    if (!(c.fl & C_S)) return scan_other(s, n, p);
    /* \s+(?!\S) | \s+ */
    size_t nl;
    return space_tail(s, n, pos, &nl);
}

static size_t pre_llama3(const uint8_t *s, size_t n, size_t pos, size_t max_digits)
{
    struct ch c0 = ch_at(s, n, pos);
    size_t k;
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (c0.cp == '\'' && (k = contraction(s, n, pos, 1))) return pos + k;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c0.fl & C_L) return scan_class(s, n, pos, C_L);
    if (!(c0.fl & (C_L | C_N)) && !is_crlf(c0.cp) && pos + c0.len < n) {
        struct ch c1 = ch_at(s, n, pos + c0.len);
        if (c1.fl & C_L) return scan_class(s, n, pos + c0.len, C_L);
    }
    /* \p{N}{1,max_digits} */
    if (c0.fl & C_N) {
        size_t p = pos;
        for (size_t d = 0; d < max_digits && p < n; d++) {
            struct ch c = ch_at(s, n, p);
            if (!(c.fl & C_N)) break;
            p += c.len;
        }
        return p;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]*  */
    size_t p = pos;
    if (c0.cp == ' ' && pos + 1 < n) {
        struct ch c1 = ch_at(s, n, pos + 1);
        if (!(c1.fl & (C_S | C_L | C_N))) p = pos + 1;
    }
    if (p != pos || !(c0.fl & C_S)) {
        p = scan_other(s, n, p);
        while (p < n && is_crlf(s[p]))
            p++;
        return p;
    }
    /* \s*[\r\n]+ : the whitespace run up to and including its last line break */
    size_t nl_end, end = space_tail(s, n, pos, &nl_end);
    if (nl_end) return nl_end;
    /* \s+(?!\S) | \s+ */
    return end;
}

size_t tok_pre_next(int pre, const uint8_t *s, size_t n, size_t pos)
{
    size_t end;
    switch (pre) {
    case TOK_PRE_LLAMA3:
        end = pre_llama3(s, n, pos, 3);
        break;
    case TOK_PRE_QWEN2:
        end = pre_llama3(s, n, pos, 1);
        break;
    default:
        end = pre_gpt2(s, n, pos);
        break;
    }
    if (end <= pos) /* defensive: every alternative consumes at least one character */
        end = pos + 1;
    return end;
}
