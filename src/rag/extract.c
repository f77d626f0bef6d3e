/* extract.c - sniffing and text extraction for text, Markdown, HTML and PDF. */
#include "rag/extract.h"

#include "core/error.h"
#include "core/mem.h"

#include <mupdf/fitz.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_INPUT ((size_t)64 << 20)
#define DEFAULT_MAX_TEXT ((size_t)32 << 20)
#define DEFAULT_MAX_PAGES 5000
#define TITLE_MAX 200
#define PDF_MEM_BUDGET ((size_t)256 << 20)

/* MuPDF keeps its document handlers private; the PDF one is exported from the library. */
extern fz_document_handler pdf_document_handler;

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). Stores the code point. */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Encode a code point; returns the byte count (0 for values that are not scalar values). */
static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

/* ---- output builder ----
 * Text goes in through out_text(); separators are requested with out_break() and only
 * written when more text follows, so the result never has leading/trailing or doubled
 * separators. Levels: 1 space, 2 line break, 3 paragraph break. */

struct out {
    char *buf;
    size_t len, cap, max;
    int pending;
    bool pre;      /* keep spaces and line breaks (code blocks, <pre>) */
    bool overflow; /* max reached: further text is dropped */
};

static void out_break(struct out *o, int level)
{
    if (level > o->pending) o->pending = level;
}

static void out_raw(struct out *o, const char *s, size_t n)
{
    if (o->overflow) return;
    if (o->len + n + 1 > o->max) {
        o->overflow = true;
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        o->buf = xrealloc(o->buf, cap);
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_flush_pending(struct out *o)
{
    if (o->len > 0) {
        if (o->pending == 1)
            out_raw(o, " ", 1);
        else if (o->pending == 2)
            out_raw(o, "\n", 1);
        else if (o->pending == 3)
            out_raw(o, "\n\n", 2);
    }
    o->pending = 0;
}

/* Append UTF-8 text (already validated); whitespace and control characters become
 * separators, except that in pre mode spaces and tabs are kept as they are. */
static void out_text(struct out *o, const char *s, size_t n)
{
    size_t run = 0; /* start of the pending run of ordinary bytes */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ws = c < 0x20 || c == 0x7F || c == ' ';
        size_t w = 1;
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] < 0xA0)
            ws = true, w = 2; /* C1 control characters */
        if (!ws) continue;
        if (i > run) {
            out_flush_pending(o);
            out_raw(o, s + run, i - run);
        }
        run = i + w;
        i += w - 1;
        if (o->pre && (c == ' ' || c == '\t')) {
            if (o->len > 0) { /* indentation and spacing inside code is kept */
                out_flush_pending(o);
                out_raw(o, (const char *)&s[i], 1);
            }
        } else if (o->pre && c == '\r') {
            continue;
        } else {
            out_break(o, o->pre && c == '\n' ? 2 : 1);
        }
    }
    if (n > run) {
        out_flush_pending(o);
        out_raw(o, s + run, n - run);
    }
}

static void out_cp(struct out *o, uint32_t cp)
{
    char b[4];
    size_t n = utf8_encode(cp, b);
    if (cp == 0xA0 || cp == 0x2028 || cp == 0x2029)
        out_break(o, cp == 0x2029 ? 3 : 1);
    else if (n > 0 && cp != 0xFFFD)
        out_text(o, b, n);
}

/* ---- titles ---- */

/* A one-line copy of s[0..n): whitespace collapsed, trimmed, at most TITLE_MAX bytes cut
 * on a character boundary. s must be valid UTF-8. */
static char *make_title(const char *s, size_t n)
{
    char *t = xmalloc(TITLE_MAX + 1);
    size_t len = 0;
    bool space = false;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7F) {
            space = len > 0;
            i++;
            continue;
        }
        size_t cl = c < 0x80 ? 1 : (c >= 0xF0 ? 4 : (c >= 0xE0 ? 3 : 2));
        if (i + cl > n || len + (space ? 1 : 0) + cl > TITLE_MAX) break;
        if (space) t[len++] = ' ';
        space = false;
        memcpy(t + len, s + i, cl);
        len += cl;
        i += cl;
    }
    t[len] = '\0';
    return t;
}

static char *first_line_title(const char *text, size_t len)
{
    const char *nl = memchr(text, '\n', len);
    return make_title(text, nl ? (size_t)(nl - text) : len);
}

/* ---- sniffing ---- */

static bool starts_with_ci(const char *s, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (n < pl) return false;
    for (size_t i = 0; i < pl; i++)
        if (tolower((unsigned char)s[i]) != prefix[i]) return false;
    return true;
}

static size_t skip_bom(const uint8_t *p, size_t n)
{
    return (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) ? 3 : 0;
}

/* A PDF header is "%PDF-<digit>" at the start of a line within the first KiB (readers
 * tolerate leading junk). Requiring the line start and the version digit keeps text that
 * merely mentions the header from being taken for a PDF. */
static bool is_pdf(const uint8_t *p, size_t n)
{
    size_t lim = n < 1024 ? n : 1024;
    for (size_t i = 0; i + 6 <= lim; i++)
        if (p[i] == '%' && memcmp(p + i, "%PDF-", 5) == 0 && p[i + 5] >= '0' && p[i + 5] <= '9' &&
            (i == 0 || p[i - 1] == '\n' || p[i - 1] == '\r'))
            return true;
    return false;
}

/* Checks that the text is valid UTF-8 and not binary. */
static int check_text(const uint8_t *p, size_t n, extract_reason_t *why)
{
    size_t invalid = 0, controls = 0, chars = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        if (p[i] == 0) {
            *why = EXTRACT_BINARY;
            return RAGD_EINVAL;
        }
        size_t l = utf8_decode(p + i, n - i, &cp);
        if (l == 0) {
            invalid++;
            i++;
            continue;
        }
        if ((cp < 0x20 && cp != '\n' && cp != '\r' && cp != '\t' && cp != '\f') || cp == 0x7F ||
            (cp >= 0x80 && cp < 0xA0))
            controls++;
        chars++;
        i += l;
    }
    size_t total = chars + invalid;
    if ((invalid + controls) * 10 > total || controls * 100 > total) {
        *why = EXTRACT_BINARY;
        return RAGD_EINVAL;
    }
    if (invalid > 0) {
        *why = EXTRACT_BAD_UTF8;
        return RAGD_EINVAL;
    }
    return 0;
}

static const char *const html_tags[] = {
    "<html", "<head", "<body", "<title",  "<meta",  "<div",     "<p>",      "<p ",  "</p>",
    "<br",   "<span", "<a ",   "<ul",     "<ol",    "<li",      "<table",   "<h1",  "<h2",
    "<h3",   "<img",  "<link", "<script", "<style", "<section", "<article", "<nav", NULL,
};

static int html_score(const char *s, size_t n)
{
    int score = 0;
    for (size_t i = 0; i < n && score < 100; i++) {
        if (s[i] != '<') continue;
        for (int t = 0; html_tags[t]; t++) {
            if (starts_with_ci(s + i, n - i, html_tags[t])) {
                score++;
                break;
            }
        }
    }
    return score;
}

static bool md_is_list_marker(const char *s, size_t n, size_t *skip);
static bool md_is_atx(const char *s, size_t n, int *level, size_t *skip);
static bool md_is_fence(const char *s, size_t n, char *ch, size_t *len);
static bool md_is_table_sep(const char *s, size_t n);

static int markdown_score(const char *s, size_t n)
{
    int score = 0, lines = 0;
    for (size_t i = 0; i < n && lines < 2000 && score < 100; lines++) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        const char *l = s + i;
        size_t ll = e - i;
        size_t ind = 0;
        while (ind < ll && ind < 4 && l[ind] == ' ')
            ind++;
        int level;
        size_t skip;
        char fc;
        if (ind < 4 && md_is_atx(l + ind, ll - ind, &level, &skip))
            score += lines == 0 ? 3 : 2;
        else if (ind < 4 && md_is_fence(l + ind, ll - ind, &fc, &skip))
            score += 2;
        else if (md_is_table_sep(l, ll))
            score += 2;
        else if (md_is_list_marker(l + ind, ll - ind, &skip))
            score += 1;
        else if (ll >= 2 && l[0] == '>' && l[1] == ' ')
            score += 1;
        /* inline syntax: links and strong emphasis */
        for (size_t k = 0; k + 3 < ll; k++) {
            if (l[k] == ']' && l[k + 1] == '(') {
                score++;
                break;
            }
            if (l[k] == '*' && l[k + 1] == '*' && l[k + 2] != ' ' && l[k + 2] != '*' &&
                memmem(l + k + 2, ll - k - 2, "**", 2)) {
                score++;
                break;
            }
        }
        i = e + 1;
    }
    return score;
}

static int sniff_bytes(const void *data, size_t len, extract_type_t *type, extract_reason_t *why)
{
    extract_reason_t dummy;
    if (!why) why = &dummy;
    *why = EXTRACT_OK;
    const uint8_t *p = data;
    if (!data || len == 0) {
        *why = EXTRACT_EMPTY;
        return RAGD_EINVAL;
    }
    if (is_pdf(p, len)) {
        *type = EXTRACT_PDF;
        return 0;
    }
    size_t bom = skip_bom(p, len);
    p += bom, len -= bom;
    int rc = check_text(p, len, why);
    if (rc) return rc;
    const char *s = (const char *)p;
    size_t i = 0;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i == len) {
        *why = EXTRACT_EMPTY;
        return RAGD_EINVAL;
    }
    size_t head = len - i < 65536 ? len - i : 65536;
    if (starts_with_ci(s + i, len - i, "<!doctype html") ||
        starts_with_ci(s + i, len - i, "<html")) {
        *type = EXTRACT_HTML;
        return 0;
    }
    int hs = html_score(s + i, head);
    int ms = markdown_score(s + i, head);
    if ((s[i] == '<' && hs >= 2) || (hs >= 8 && ms < 3))
        *type = EXTRACT_HTML;
    else if (ms >= 3)
        *type = EXTRACT_MARKDOWN;
    else
        *type = EXTRACT_TEXT;
    return 0;
}

/* ---- plain text ---- */

static void extract_plain(const char *s, size_t n, struct out *o)
{
    /* Keep line structure: blank lines separate paragraphs, single newlines are
     * soft-wrapped lines that become spaces. */
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        size_t a = i, b = e;
        while (a < b && isspace((unsigned char)s[a]))
            a++;
        while (b > a && isspace((unsigned char)s[b - 1]))
            b--;
        if (a == b) {
            out_break(o, 3);
        } else {
            out_break(o, 1);
            out_text(o, s + a, b - a);
        }
        i = e + 1;
    }
}

/* ---- Markdown ---- */

static bool md_is_atx(const char *s, size_t n, int *level, size_t *skip)
{
    int h = 0;
    while ((size_t)h < n && s[h] == '#')
        h++;
    if (h < 1 || h > 6) return false;
    if ((size_t)h < n && s[h] != ' ' && s[h] != '\t') return false;
    *level = h;
    *skip = (size_t)h;
    return true;
}

static bool md_is_fence(const char *s, size_t n, char *ch, size_t *len)
{
    if (n < 3 || (s[0] != '`' && s[0] != '~')) return false;
    size_t k = 0;
    while (k < n && s[k] == s[0])
        k++;
    if (k < 3) return false;
    if (s[0] == '`' && memchr(s + k, '`', n - k)) return false; /* inline code span, not a fence */
    *ch = s[0];
    *len = k;
    return true;
}

static bool md_is_list_marker(const char *s, size_t n, size_t *skip)
{
    if (n >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && (s[1] == ' ' || s[1] == '\t')) {
        *skip = 2;
        return true;
    }
    size_t d = 0;
    while (d < n && d < 9 && isdigit((unsigned char)s[d]))
        d++;
    if (d > 0 && d + 1 < n && (s[d] == '.' || s[d] == ')') &&
        (s[d + 1] == ' ' || s[d + 1] == '\t')) {
        *skip = d + 2;
        return true;
    }
    return false;
}

static bool md_is_rule(const char *s, size_t n, char *ch)
{
    size_t count = 0;
    char c = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') continue;
        if (s[i] != '-' && s[i] != '*' && s[i] != '_' && s[i] != '=') return false;
        if (c && s[i] != c) return false;
        c = s[i];
        count++;
    }
    *ch = c;
    return count >= 1;
}

static bool md_is_table_sep(const char *s, size_t n)
{
    bool dash = false, pipe = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            dash = true;
        else if (c == '|')
            pipe = true;
        else if (c != ':' && c != ' ' && c != '\t' && c != '\r')
            return false;
    }
    return dash && pipe;
}

static bool is_alnum_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

/* Find the byte closing a bracket pair starting at s[0] (= open), within lim bytes and the
 * remaining scan budget (*budget bytes, decremented; NULL = unlimited). The budget keeps
 * inline parsing linear on hostile input such as a long line of unmatched brackets. */
static size_t md_match(const char *s, size_t n, char open, char close, size_t lim, size_t *budget)
{
    int depth = 0;
    if (budget) {
        if (*budget < lim) lim = *budget;
        *budget -= lim < n ? lim : n;
    }
    for (size_t i = 0; i < n && i < lim; i++) {
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == open)
            depth++;
        else if (s[i] == close && --depth == 0)
            return i;
    }
    return 0;
}

/* Inline Markdown: emphasis markers, code spans, links, images, autolinks, inline HTML tags
 * and escapes are reduced to their text. */
static void md_inline_b(struct out *o, const char *s, size_t n, int depth, size_t *budget)
{
    size_t i = 0, run = 0;
#define FLUSH()                                                                                    \
    do {                                                                                           \
        if (i > run) out_text(o, s + run, i - run);                                                \
    } while (0)
    while (i < n) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && ispunct((unsigned char)s[i + 1])) {
            FLUSH();
            out_text(o, s + i + 1, 1);
            i += 2;
            run = i;
        } else if (c == '`') {
            size_t r = 0;
            while (i + r < n && s[i + r] == '`')
                r++;
            size_t j = i + r, end = 0;
            size_t lim = *budget < 4096 ? *budget : 4096;
            *budget -= lim < n - j ? lim : n - j;
            for (size_t k = j; k < n && k < j + lim; k++) {
                if (s[k] != '`') continue;
                size_t rr = 0;
                while (k + rr < n && s[k + rr] == '`')
                    rr++;
                if (rr == r) {
                    end = k;
                    break;
                }
                k += rr - 1;
            }
            FLUSH();
            if (end) {
                out_text(o, s + j, end - j);
                i = end + r;
            } else {
                out_text(o, s + i, r);
                i += r;
            }
            run = i;
        } else if ((c == '[' || (c == '!' && i + 1 < n && s[i + 1] == '[')) && depth < 4) {
            size_t b = c == '!' ? i + 1 : i;
            size_t close = md_match(s + b, n - b, '[', ']', 1024, budget);
            if (!close) {
                i++;
                continue;
            }
            FLUSH();
            const char *label = s + b + 1;
            size_t label_len = close - 1;
            size_t after = b + close + 1;
            if (after < n && s[after] == '(') {
                size_t pc = md_match(s + after, n - after, '(', ')', 2048, budget);
                after = pc ? after + pc + 1 : after;
            } else if (after < n && s[after] == '[') {
                size_t rc = md_match(s + after, n - after, '[', ']', 256, budget);
                after = rc ? after + rc + 1 : after;
            }
            md_inline_b(o, label, label_len, depth + 1, budget);
            i = after;
            run = i;
        } else if (c == '<' && i + 1 < n && (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '/')) {
            size_t lim = n - i < 512 ? n - i : 512;
            lim = lim < *budget ? lim : *budget;
            *budget -= lim;
            const char *gt = memchr(s + i, '>', lim);
            if (!gt) {
                i++;
                continue;
            }
            size_t len = (size_t)(gt - (s + i));
            FLUSH();
            if (memmem(s + i, len, "://", 3) || starts_with_ci(s + i + 1, len - 1, "mailto:"))
                out_text(o, s + i + 1, len - 1); /* autolink */
            else
                out_break(o, 1); /* inline HTML tag */
            i += len + 1;
            run = i;
        } else if (c == '*' || c == '~' || c == '_') {
            size_t r = 0;
            while (i + r < n && s[i + r] == c)
                r++;
            bool before_ws = i == 0 || isspace((unsigned char)s[i - 1]);
            bool after_ws = i + r >= n || isspace((unsigned char)s[i + r]);
            bool marker = !(before_ws && after_ws);
            if (c == '_') /* intra-word underscores (snake_case) are text */
                marker = marker && (i == 0 || !is_alnum_byte((unsigned char)s[i - 1]) ||
                                    i + r >= n || !is_alnum_byte((unsigned char)s[i + r]));
            if (c == '~' && r < 2) marker = false;
            if (marker) {
                FLUSH();
                i += r;
                run = i;
            } else {
                i += r;
            }
        } else {
            i++;
        }
    }
    FLUSH();
#undef FLUSH
}

static void md_inline(struct out *o, const char *s, size_t n, int depth)
{
    size_t budget = 16 * n + 8192;
    md_inline_b(o, s, n, depth, &budget);
}

static void extract_markdown(const char *s, size_t n, struct out *o, char **title)
{
    bool in_fence = false, in_list = false, prev_blank = true;
    char fence_ch = 0;
    size_t fence_len = 0;
    size_t para_start = (size_t)-1; /* output offset of the open paragraph */
    int para_lines = 0;

    for (size_t i = 0; i < n;) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) : n;
        const char *l = s + i;
        size_t ll = e - i;
        i = e + 1;
        if (ll && l[ll - 1] == '\r') ll--;
        size_t ind = 0;
        while (ind < ll && (l[ind] == ' ' || l[ind] == '\t'))
            ind++;

        if (in_fence) {
            char fc;
            size_t fl;
            if (ind < 4 && md_is_fence(l + ind, ll - ind, &fc, &fl) && fc == fence_ch &&
                fl >= fence_len) {
                bool rest_blank = true;
                for (size_t k = ind + fl; k < ll; k++)
                    rest_blank = rest_blank && isspace((unsigned char)l[k]);
                if (rest_blank) {
                    in_fence = false;
                    o->pre = false;
                    out_break(o, 3);
                    continue;
                }
            }
            out_text(o, l, ll);
            out_break(o, 2);
            continue;
        }
        if (ind == ll) {
            out_break(o, 3);
            prev_blank = true;
            in_list = false;
            para_start = (size_t)-1;
            para_lines = 0;
            continue;
        }
        /* block quotes: strip the markers and treat the rest as a line */
        while (ind < ll && l[ind] == '>') {
            ind++;
            if (ind < ll && l[ind] == ' ') ind++;
            while (ind < ll && (l[ind] == ' ' || l[ind] == '\t'))
                ind++;
        }
        if (ind == ll) {
            out_break(o, 3);
            para_start = (size_t)-1;
            para_lines = 0;
            continue;
        }
        const char *t = l + ind;
        size_t tl = ll - ind;
        int level;
        size_t skip;
        char ch;
        if (md_is_fence(t, tl, &ch, &skip)) {
            in_fence = true;
            fence_ch = ch;
            fence_len = skip;
            out_break(o, 3);
            o->pre = true;
            para_start = (size_t)-1;
            continue;
        }
        if (md_is_atx(t, tl, &level, &skip)) {
            size_t a = skip, b = tl;
            while (a < b && isspace((unsigned char)t[a]))
                a++;
            while (b > a && isspace((unsigned char)t[b - 1]))
                b--;
            size_t hb = b;
            while (hb > a && t[hb - 1] == '#')
                hb--;
            if (hb == a || t[hb - 1] == ' ' || t[hb - 1] == '\t') b = hb; /* closing hashes */
            out_break(o, 3);
            out_flush_pending(o);
            size_t start = o->len;
            md_inline(o, t + a, b - a, 0);
            if (!*title && o->len > start) *title = make_title(o->buf + start, o->len - start);
            out_break(o, 3);
            para_start = (size_t)-1;
            para_lines = 0;
            prev_blank = false;
            continue;
        }
        if (md_is_rule(t, tl, &ch)) {
            if ((ch == '=' || ch == '-') && para_lines == 1 && para_start != (size_t)-1) {
                /* setext heading underline */
                if (!*title && o->len > para_start)
                    *title = make_title(o->buf + para_start, o->len - para_start);
                out_break(o, 3);
                para_start = (size_t)-1;
                para_lines = 0;
                continue;
            }
            size_t count = 0;
            for (size_t k = 0; k < tl; k++)
                count += t[k] == ch;
            if (ch != '=' && count >= 3) {
                out_break(o, 3);
                para_start = (size_t)-1;
                para_lines = 0;
                continue;
            }
        }
        if (md_is_table_sep(t, tl)) continue;
        if (tl >= 4 && t[0] == '[') {
            size_t close = md_match(t, tl, '[', ']', 512, NULL);
            if (close && close + 1 < tl && t[close + 1] == ':')
                continue; /* link reference definition */
        }
        if (ind >= 4 && prev_blank && !in_list) {
            /* indented code block line */
            out_break(o, para_lines ? 2 : 3);
            bool was = o->pre;
            o->pre = true;
            out_text(o, l + 4, ll - 4);
            o->pre = was;
            out_break(o, 2);
            para_lines++;
            continue;
        }
        if (md_is_list_marker(t, tl, &skip)) {
            out_break(o, in_list ? 2 : 3);
            in_list = true;
            t += skip, tl -= skip;
            if (tl >= 3 && t[0] == '[' && (t[1] == ' ' || t[1] == 'x' || t[1] == 'X') &&
                t[2] == ']') {
                t += 3, tl -= 3;
            }
            md_inline(o, t, tl, 0);
            para_start = (size_t)-1;
            para_lines = 0;
            prev_blank = false;
            continue;
        }
        if (t[0] == '|') {
            /* table row: cells become words of one line */
            out_break(o, para_lines ? 2 : 3);
            size_t a = 0;
            for (size_t k = 0; k <= tl; k++) {
                if (k == tl || t[k] == '|') {
                    if (k > a) {
                        out_break(o, 1);
                        md_inline(o, t + a, k - a, 0);
                    }
                    a = k + 1;
                }
            }
            para_lines++;
            para_start = (size_t)-1;
            prev_blank = false;
            continue;
        }
        /* paragraph text (or a list item's continuation) */
        if (para_lines == 0 && !in_list) {
            out_break(o, 3);
            out_flush_pending(o);
            para_start = o->len;
        } else {
            out_break(o, 1);
        }
        md_inline(o, t, tl, 0);
        para_lines++;
        prev_blank = false;
    }
    o->pre = false;
}

/* ---- HTML ---- */

struct entity {
    const char *name;
    uint32_t cp;
};

static const struct entity entities[] = {
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},        {"quot", '"'},     {"apos", '\''},
    {"nbsp", 0xA0},    {"copy", 0xA9},    {"reg", 0xAE},      {"trade", 0x2122}, {"hellip", 0x2026},
    {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018},  {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"laquo", 0xAB},   {"raquo", 0xBB},    {"bull", 0x2022},  {"middot", 0xB7},
    {"euro", 0x20AC},  {"pound", 0xA3},   {"yen", 0xA5},      {"cent", 0xA2},    {"sect", 0xA7},
    {"deg", 0xB0},     {"plusmn", 0xB1},  {"times", 0xD7},    {"divide", 0xF7},  {"micro", 0xB5},
    {"para", 0xB6},    {"shy", 0xAD},     {"iexcl", 0xA1},    {"iquest", 0xBF},  {"frac12", 0xBD},
    {"frac14", 0xBC},  {"frac34", 0xBE},  {"sup2", 0xB2},     {"sup3", 0xB3},    {"agrave", 0xE0},
    {"aacute", 0xE1},  {"acirc", 0xE2},   {"auml", 0xE4},     {"aring", 0xE5},   {"ccedil", 0xE7},
    {"egrave", 0xE8},  {"eacute", 0xE9},  {"ecirc", 0xEA},    {"euml", 0xEB},    {"iacute", 0xED},
    {"icirc", 0xEE},   {"iuml", 0xEF},    {"ntilde", 0xF1},   {"oacute", 0xF3},  {"ocirc", 0xF4},
    {"ouml", 0xF6},    {"oslash", 0xF8},  {"uacute", 0xFA},   {"ucirc", 0xFB},   {"uuml", 0xFC},
    {"szlig", 0xDF},   {"Agrave", 0xC0},  {"Aacute", 0xC1},   {"Auml", 0xC4},    {"Ccedil", 0xC7},
    {"Eacute", 0xC9},  {"Ntilde", 0xD1},  {"Ouml", 0xD6},     {"Uuml", 0xDC},    {"alpha", 0x3B1},
    {"beta", 0x3B2},   {"gamma", 0x3B3},  {"delta", 0x3B4},   {"mu", 0x3BC},     {"pi", 0x3C0},
    {"sigma", 0x3C3},  {"larr", 0x2190},  {"rarr", 0x2192},   {"uarr", 0x2191},  {"darr", 0x2193},
    {"le", 0x2264},    {"ge", 0x2265},    {"ne", 0x2260},     {"infin", 0x221E}, {"minus", 0x2212},
    {"ensp", 0x2002},  {"emsp", 0x2003},  {"thinsp", 0x2009}, {"zwj", 0x200D},   {"zwnj", 0x200C},
    {NULL, 0},
};

/* Decode the entity at s[0] == '&'. Returns the bytes consumed (0 if it is not one). */
static size_t html_entity(const char *s, size_t n, uint32_t *cp)
{
    if (n < 3) return 0;
    if (s[1] == '#') {
        size_t i = 2;
        int base = 10;
        if (i < n && (s[i] == 'x' || s[i] == 'X')) base = 16, i++;
        uint32_t v = 0;
        size_t digits = 0;
        while (i < n && digits < 8 &&
               (base == 16 ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i]))) {
            int d =
                isdigit((unsigned char)s[i]) ? s[i] - '0' : tolower((unsigned char)s[i]) - 'a' + 10;
            v = v * (uint32_t)base + (uint32_t)d;
            i++, digits++;
        }
        if (digits == 0) return 0;
        if (i < n && s[i] == ';') i++;
        if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) v = 0xFFFD;
        *cp = v;
        return i;
    }
    size_t i = 1;
    while (i < n && i < 10 && isalnum((unsigned char)s[i]))
        i++;
    if (i >= n || s[i] != ';' || i == 1) return 0;
    for (const struct entity *e = entities; e->name; e++) {
        if (strlen(e->name) == i - 1 && memcmp(e->name, s + 1, i - 1) == 0) {
            *cp = e->cp;
            return i + 1;
        }
    }
    return 0;
}

/* Text with entities decoded. */
static void html_text(struct out *o, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k;
        if (s[i] == '&' && (k = html_entity(s + i, n - i, &cp)) > 0) {
            if (i > run) out_text(o, s + run, i - run);
            out_cp(o, cp);
            i += k;
            run = i;
        } else {
            i++;
        }
    }
    if (n > run) out_text(o, s + run, n - run);
}

static const char *const html_blocks[] = {
    "p",       "div",   "h1",         "h2",      "h3",      "h4",     "h5",         "h6",
    "ul",      "ol",    "table",      "section", "article", "header", "footer",     "nav",
    "aside",   "main",  "blockquote", "pre",     "hr",      "figure", "figcaption", "form",
    "address", "dl",    "fieldset",   "details", "summary", "body",   "html",       "caption",
    "center",  "thead", "tbody",      NULL,
};
static const char *const html_lines[] = {"br", "li", "dt", "dd", "tr", "option", NULL};
static const char *const html_cells[] = {"td", "th", NULL};
static const char *const html_raw[] = {"script", "style",  "noscript", "template", "svg",
                                       "iframe", "object", "math",     NULL};

static bool name_in(const char *const *list, const char *name)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0) return true;
    return false;
}

/* Find "</name" case-insensitively in s[0..n); returns its offset or n. */
static size_t html_find_close(const char *s, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + 2 + nl <= n; i++) {
        if (s[i] == '<' && s[i + 1] == '/' && starts_with_ci(s + i + 2, n - i - 2, name)) {
            char c = i + 2 + nl < n ? s[i + 2 + nl] : '>';
            if (!isalnum((unsigned char)c)) return i;
        }
    }
    return n;
}

static void extract_html(const char *s, size_t n, struct out *o, char **title)
{
    char *doc_title = NULL, *heading = NULL;
    size_t heading_start = (size_t)-1;
    int pre_depth = 0;
    size_t i = 0, run = 0;
    while (i < n) {
        if (s[i] != '<') {
            i++;
            continue;
        }
        bool closing = i + 1 < n && s[i + 1] == '/';
        size_t ns = i + 1 + (closing ? 1 : 0);
        bool markup = (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?')) ||
                      (ns < n && isalpha((unsigned char)s[ns]));
        if (!markup) {
            i++; /* a literal '<' stays in the text run */
            continue;
        }
        if (i > run) html_text(o, s + run, i - run);
        if (i + 4 <= n && memcmp(s + i, "<!--", 4) == 0) {
            const char *end = memmem(s + i + 4, n - i - 4, "-->", 3);
            i = end ? (size_t)(end - s) + 3 : n;
            run = i;
            continue;
        }
        if (s[i + 1] == '!' || s[i + 1] == '?') {
            const char *gt = memchr(s + i, '>', n - i);
            i = gt ? (size_t)(gt - s) + 1 : n;
            run = i;
            continue;
        }
        char name[16];
        size_t nl = 0, k = ns;
        while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '-' || s[k] == ':')) {
            if (nl < sizeof name - 1) name[nl++] = (char)tolower((unsigned char)s[k]);
            k++;
        }
        name[nl] = '\0';
        /* skip attributes up to the closing '>' outside quotes */
        char q = 0;
        bool self_closing = false;
        while (k < n) {
            char c = s[k];
            if (q) {
                if (c == q) q = 0;
            } else if (c == '"' || c == '\'') {
                q = c;
            } else if (c == '>') {
                self_closing = k > 0 && s[k - 1] == '/';
                break;
            }
            k++;
        }
        i = k < n ? k + 1 : n;
        run = i;

        if (!closing && !self_closing && name_in(html_raw, name)) {
            i += html_find_close(s + i, n - i, name);
            run = i;
            out_break(o, 1);
            continue;
        }
        if (!closing && strcmp(name, "title") == 0 && !self_closing) {
            size_t end = i + html_find_close(s + i, n - i, "title");
            if (!doc_title) {
                struct out t = {.max = 4096};
                html_text(&t, s + i, end - i);
                if (t.len) doc_title = make_title(t.buf, t.len);
                free(t.buf);
            }
            i = end;
            run = i;
            continue;
        }
        bool is_heading = nl == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6';
        if (name_in(html_blocks, name)) {
            if (is_heading && closing && heading_start != (size_t)-1 && !heading) {
                if (o->len > heading_start)
                    heading = make_title(o->buf + heading_start, o->len - heading_start);
                heading_start = (size_t)-1;
            }
            out_break(o, 3);
            if (is_heading && !closing && !heading) {
                out_flush_pending(o);
                heading_start = o->len;
            }
            if (strcmp(name, "pre") == 0) {
                pre_depth += closing ? -1 : 1;
                if (pre_depth < 0) pre_depth = 0;
                o->pre = pre_depth > 0;
            }
        } else if (name_in(html_lines, name)) {
            out_break(o, 2);
        } else if (name_in(html_cells, name)) {
            out_break(o, 1);
        }
    }
    if (n > run) html_text(o, s + run, n - run);
    o->pre = false;
    if (doc_title && *doc_title) {
        *title = doc_title;
        free(heading);
    } else {
        free(doc_title);
        *title = heading;
    }
}

/* ---- PDF ---- */

/* MuPDF allocations are counted against a budget so a hostile file cannot take all memory. */
struct pdf_budget {
    size_t used, cap;
};

#define HDR 16

static void *pdf_malloc(void *user, size_t size)
{
    struct pdf_budget *b = user;
    if (size > b->cap - b->used || size > SIZE_MAX - HDR) return NULL;
    unsigned char *p = malloc(size + HDR);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    b->used += size;
    return p + HDR;
}

static void pdf_free(void *user, void *ptr)
{
    struct pdf_budget *b = user;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    b->used -= size;
    free(p);
}

static void *pdf_realloc(void *user, void *old, size_t size)
{
    struct pdf_budget *b = user;
    if (!old) return pdf_malloc(user, size);
    if (size == 0) {
        pdf_free(user, old);
        return NULL;
    }
    unsigned char *p = (unsigned char *)old - HDR;
    size_t osize;
    memcpy(&osize, p, sizeof osize);
    if (size > osize && size - osize > b->cap - b->used) return NULL;
    if (size > SIZE_MAX - HDR) return NULL;
    unsigned char *q = realloc(p, size + HDR);
    if (!q) return NULL;
    memcpy(q, &size, sizeof size);
    b->used = b->used - osize + size;
    return q + HDR;
}

static void pdf_quiet(void *user, const char *message)
{
    (void)user;
    (void)message;
}

struct pdf_state {
    int pages, pages_ok, pages_failed;
    bool encrypted, oom;
    char meta_title[512];
};

static void pdf_page_text(fz_context *ctx, fz_stext_page *tp, struct out *o)
{
    for (fz_stext_block *b = tp->first_block; b; b = b->next) {
        if (b->type != FZ_STEXT_BLOCK_TEXT) continue;
        for (fz_stext_line *l = b->u.t.first_line; l; l = l->next) {
            for (fz_stext_char *c = l->first_char; c; c = c->next)
                if (c->c > 0) out_cp(o, (uint32_t)c->c);
            out_break(o, 1);
        }
        out_break(o, 3);
    }
    out_break(o, 3);
}

/* Reads each page in its own fz_try so one broken page does not lose the others; an
 * out-of-memory error is passed on. */
static void pdf_read_page(fz_context *ctx, fz_document *doc, int p, struct out *o,
                          struct pdf_state *st)
{
    fz_stext_options opts = {.flags = FZ_STEXT_DEHYPHENATE};
    fz_page *volatile page = NULL;
    fz_stext_page *volatile tp = NULL;
    fz_try(ctx)
    {
        page = fz_load_page(ctx, doc, p);
        tp = fz_new_stext_page_from_page(ctx, page, &opts);
        pdf_page_text(ctx, tp, o);
        st->pages_ok++;
    }
    fz_always(ctx)
    {
        fz_drop_stext_page(ctx, tp);
        fz_drop_page(ctx, page);
    }
    fz_catch(ctx)
    {
        if (fz_caught(ctx) == FZ_ERROR_MEMORY) fz_rethrow(ctx);
        st->pages_failed++;
    }
}

static void pdf_read_pages(fz_context *ctx, fz_document *doc, int max_pages, struct out *o,
                           struct pdf_state *st)
{
    for (int p = 0; p < st->pages && p < max_pages && !o->overflow; p++)
        pdf_read_page(ctx, doc, p, o, st);
}

static int extract_pdf(const void *data, size_t len, int max_pages, struct out *o,
                       struct pdf_state *st)
{
    struct pdf_budget budget = {0, PDF_MEM_BUDGET};
    fz_alloc_context alloc = {&budget, pdf_malloc, pdf_realloc, pdf_free};
    fz_context *ctx = fz_new_context(&alloc, NULL, 16 << 20);
    if (!ctx) return RAGD_ENOMEM;
    fz_set_warning_callback(ctx, pdf_quiet, NULL);
    fz_set_error_callback(ctx, pdf_quiet, NULL);

    fz_stream *volatile stm = NULL;
    fz_document *volatile doc = NULL;
    volatile int rc = 0;
    fz_try(ctx)
    {
        fz_register_document_handler(ctx, &pdf_document_handler);
        stm = fz_open_memory(ctx, data, len);
        doc = fz_open_document_with_stream(ctx, "application/pdf", stm);
        if (fz_needs_password(ctx, doc)) {
            st->encrypted = true;
        } else {
            if (fz_lookup_metadata(ctx, doc, FZ_META_INFO_TITLE, st->meta_title,
                                   sizeof st->meta_title) < 0)
                st->meta_title[0] = '\0';
            st->pages = fz_count_pages(ctx, doc);
            pdf_read_pages(ctx, doc, max_pages, o, st);
        }
    }
    fz_always(ctx)
    {
        fz_drop_document(ctx, doc);
        fz_drop_stream(ctx, stm);
    }
    fz_catch(ctx)
    {
        if (fz_caught(ctx) == FZ_ERROR_MEMORY) st->oom = true;
        rc = RAGD_EFORMAT;
    }
    fz_drop_context(ctx);
    return rc;
}

/* ---- entry points ---- */

static int extract_bytes(const void *data, size_t len, const extract_opts_t *opts,
                         extract_result_t **out, extract_reason_t *why)
{
    extract_reason_t dummy;
    if (!why) why = &dummy;
    *out = NULL;
    *why = EXTRACT_OK;
    size_t max_input = opts && opts->max_input ? opts->max_input : DEFAULT_MAX_INPUT;
    size_t max_text = opts && opts->max_text ? opts->max_text : DEFAULT_MAX_TEXT;
    int max_pages = opts && opts->max_pages > 0 ? opts->max_pages : DEFAULT_MAX_PAGES;
    if (len > max_input) {
        *why = EXTRACT_TOO_LARGE;
        return RAGD_ERANGE;
    }
    extract_type_t type;
    int rc = sniff_bytes(data, len, &type, why);
    if (rc) return rc;

    struct out o = {.max = max_text + 1};
    char *title = NULL;
    int pages = 0;
    if (type == EXTRACT_PDF) {
        struct pdf_state st;
        memset(&st, 0, sizeof st);
        rc = extract_pdf(data, len, max_pages, &o, &st);
        if (st.oom) {
            *why = EXTRACT_PDF_MALFORMED;
            rc = RAGD_ENOMEM;
            goto fail;
        }
        if (st.encrypted) {
            *why = EXTRACT_PDF_ENCRYPTED;
            rc = RAGD_EPERM;
            goto fail;
        }
        if (rc || (st.pages_ok == 0 && st.pages > 0) || st.pages <= 0) {
            *why = EXTRACT_PDF_MALFORMED;
            rc = RAGD_EFORMAT;
            goto fail;
        }
        pages = st.pages;
        /* the metadata title is PDF text already converted to UTF-8 by MuPDF */
        size_t tl = strlen(st.meta_title);
        uint32_t cp;
        bool valid = true;
        for (size_t k = 0; k < tl && valid;) {
            size_t l = utf8_decode((const uint8_t *)st.meta_title + k, tl - k, &cp);
            valid = l > 0;
            k += l;
        }
        if (tl && valid) title = make_title(st.meta_title, tl);
        if (title && !*title) {
            free(title);
            title = NULL;
        }
    } else {
        const char *s = data;
        size_t bom = skip_bom(data, len);
        s += bom, len -= bom;
        if (type == EXTRACT_MARKDOWN)
            extract_markdown(s, len, &o, &title);
        else if (type == EXTRACT_HTML)
            extract_html(s, len, &o, &title);
        else
            extract_plain(s, len, &o);
    }
    if (o.overflow || o.len > max_text) {
        *why = EXTRACT_TOO_LARGE;
        rc = RAGD_ERANGE;
        goto fail;
    }
    if (o.len == 0) {
        *why = type == EXTRACT_PDF ? EXTRACT_PDF_NO_TEXT : EXTRACT_EMPTY;
        rc = RAGD_EINVAL;
        goto fail;
    }
    if (!title || !*title) {
        free(title);
        title = first_line_title(o.buf, o.len);
    }
    extract_result_t *r = xcalloc(1, sizeof *r);
    r->type = type;
    r->text = o.buf;
    r->text_len = o.len;
    r->title = title;
    r->pages = pages;
    *out = r;
    return 0;
fail:
    free(o.buf);
    free(title);
    return rc;
}

/* ---- UTF-16 input ----
 * Text saved as "Unicode" on Windows is UTF-16 with a byte order mark; it is converted to
 * UTF-8 first and then handled like any other text. */

static bool is_utf16(const uint8_t *p, size_t n)
{
    return n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF));
}

/* Returns a new UTF-8 buffer (caller frees) or NULL if the UTF-16 is malformed (odd length,
 * unpaired surrogates). */
static char *utf16_to_utf8(const uint8_t *p, size_t n, size_t *out_len)
{
    if (n % 2) return NULL;
    bool le = p[0] == 0xFF;
    char *o = xmalloc(n / 2 * 3 + 1);
    size_t ol = 0;
    for (size_t i = 2; i < n; i += 2) {
        uint32_t u = le ? (uint32_t)(p[i] | p[i + 1] << 8) : (uint32_t)(p[i] << 8 | p[i + 1]);
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (i + 3 >= n) goto bad;
            uint32_t l =
                le ? (uint32_t)(p[i + 2] | p[i + 3] << 8) : (uint32_t)(p[i + 2] << 8 | p[i + 3]);
            if (l < 0xDC00 || l > 0xDFFF) goto bad;
            u = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
            i += 2;
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            goto bad;
        }
        ol += utf8_encode(u, o + ol);
    }
    o[ol] = '\0';
    *out_len = ol;
    return o;
bad:
    free(o);
    return NULL;
}

int extract_sniff(const void *data, size_t len, extract_type_t *type, extract_reason_t *why)
{
    extract_reason_t dummy;
    if (!why) why = &dummy;
    if (!data || !is_utf16(data, len)) return sniff_bytes(data, len, type, why);
    size_t ul;
    char *u = utf16_to_utf8(data, len, &ul);
    if (!u) {
        *why = EXTRACT_BAD_UTF8;
        return RAGD_EINVAL;
    }
    int rc = sniff_bytes(u, ul, type, why);
    free(u);
    return rc;
}

int extract_document(const void *data, size_t len, const extract_opts_t *opts,
                     extract_result_t **out, extract_reason_t *why)
{
    extract_reason_t dummy;
    if (!why) why = &dummy;
    *out = NULL;
    size_t max_input = opts && opts->max_input ? opts->max_input : DEFAULT_MAX_INPUT;
    if (!data || !is_utf16(data, len) || len > max_input)
        return extract_bytes(data, len, opts, out, why);
    size_t ul;
    char *u = utf16_to_utf8(data, len, &ul);
    if (!u) {
        *why = EXTRACT_BAD_UTF8;
        return RAGD_EINVAL;
    }
    int rc = extract_bytes(u, ul, opts, out, why);
    free(u);
    return rc;
}

void extract_result_free(extract_result_t *r)
{
    if (!r) return;
    free(r->text);
    free(r->title);
    free(r);
}

const char *extract_type_name(extract_type_t type)
{
    switch (type) {
    case EXTRACT_TEXT:
        return "text";
    case EXTRACT_MARKDOWN:
        return "markdown";
    case EXTRACT_HTML:
        return "html";
    case EXTRACT_PDF:
        return "pdf";
    }
    return "unknown";
}

const char *extract_reason_str(extract_reason_t why)
{
    switch (why) {
    case EXTRACT_OK:
        return "ok";
    case EXTRACT_EMPTY:
        return "document is empty";
    case EXTRACT_BINARY:
        return "binary data is not a supported document type";
    case EXTRACT_BAD_UTF8:
        return "text is not valid UTF-8 (or UTF-16 with a byte order mark)";
    case EXTRACT_TOO_LARGE:
        return "document is too large";
    case EXTRACT_PDF_ENCRYPTED:
        return "PDF is encrypted";
    case EXTRACT_PDF_MALFORMED:
        return "PDF is malformed or unreadable";
    case EXTRACT_PDF_NO_TEXT:
        return "PDF has no extractable text";
    }
    return "unknown";
}
