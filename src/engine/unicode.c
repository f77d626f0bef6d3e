#include "engine/unicode.h"

#include <pthread.h>
#include <utf8proc.h>

size_t unicode_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2, c = b0 & 0x1F, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3, c = b0 & 0x0F, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4, c = b0 & 0x07, min = 0x10000;
    } else {
        goto invalid;
    }
    if (n < len) goto invalid;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) goto invalid;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) goto invalid;
    *cp = c;
    return len;
invalid:
    *cp = UNICODE_INVALID;
    return 1;
}

size_t unicode_encode(uint32_t cp, char *out)
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

/* ---- character classes ---- */

static int is_white_space(uint32_t cp)
{
    /* The White_Space property; fixed since Unicode 6.3. */
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static int is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static unsigned compute_flags(uint32_t cp)
{
    unsigned f = 0;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        f |= UNI_LETTER;
        break;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        f |= UNI_NUMBER;
        break;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        f |= UNI_PUNCT;
        break;
    case UTF8PROC_CATEGORY_MN:
        f |= UNI_MARK_NS;
        break;
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
        if (cp != '\t' && cp != '\n' && cp != '\r') f |= UNI_CONTROL;
        break;
    default:
        break;
    }
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        f |= UNI_PUNCT;
    if (is_white_space(cp)) f |= UNI_SPACE;
    if (is_cjk(cp)) f |= UNI_CJK;
    return f;
}

/* The Basic Multilingual Plane's classes, computed once: the pre-tokenizers ask for every
 * character of every text. */
static uint8_t bmp_flags[0x10000];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static void bmp_init(void)
{
    for (uint32_t cp = 0; cp < 0x10000; cp++)
        bmp_flags[cp] = (uint8_t)compute_flags(cp);
}

unsigned unicode_flags(uint32_t cp)
{
    if (cp < 0x10000) {
        pthread_once(&bmp_once, bmp_init);
        return bmp_flags[cp];
    }
    if (cp > 0x10FFFF) return 0;
    return compute_flags(cp);
}

uint32_t unicode_tolower(uint32_t cp)
{
    if (cp > 0x10FFFF) return cp;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

size_t unicode_nfd_char(uint32_t cp, uint32_t *out, size_t cap)
{
    if (cap == 0) return 0;
    if (cp > 0x10FFFF) {
        out[0] = cp;
        return 1;
    }
    utf8proc_int32_t buf[8];
    int last = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 8, UTF8PROC_DECOMPOSE, &last);
    if (n <= 0 || n > 8) { /* defensive: utf8proc never fails on a scalar value */
        out[0] = cp;
        return 1;
    }
    if ((size_t)n > cap) return 0;
    for (utf8proc_ssize_t i = 0; i < n; i++)
        out[i] = (uint32_t)buf[i];
    return (size_t)n;
}

int unicode_ccc(uint32_t cp)
{
    if (cp > 0x10FFFF) return 0;
    return utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
}

size_t unicode_incomplete_tail(const uint8_t *s, size_t n)
{
    /* Walk back over at most three continuation bytes to the lead byte. */
    size_t k = 0;
    while (k < 3 && k < n && (s[n - 1 - k] & 0xC0) == 0x80)
        k++;
    if (k == n) return 0;
    size_t p = n - 1 - k; /* candidate lead byte */
    uint8_t b0 = s[p];
    size_t need;
    if (b0 >= 0xC2 && b0 <= 0xDF)
        need = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF)
        need = 3;
    else if (b0 >= 0xF0 && b0 <= 0xF4)
        need = 4;
    else
        return 0;
    size_t have = k + 1;
    if (have >= need) return 0; /* complete (or overlong run): nothing to hold */
    if (have >= 2) {            /* the second byte's range depends on the lead byte */
        uint8_t b1 = s[p + 1];
        if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 > 0x9F) || (b0 == 0xF0 && b1 < 0x90) ||
            (b0 == 0xF4 && b1 > 0x8F))
            return 0;
    }
    return have;
}
