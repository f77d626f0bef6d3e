/* unicode.h - the few Unicode facts the tokenizers need: lenient UTF-8 decoding, character
 * classes as the pre-tokenizer regexes and BERT's basic tokenizer define them, lower-casing
 * and canonical decomposition. Backed by utf8proc; every function is thread-safe and
 * cannot fail. */
#ifndef RAGD_UNICODE_H
#define RAGD_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Code point reported for a byte that does not start a valid UTF-8 sequence. */
#define UNICODE_INVALID 0xFFFFFFFFu

/* Decodes the character at s[0..n) (n >= 1). Returns its length in bytes (1..4) and stores
 * the code point in *cp. An invalid, overlong, surrogate or truncated sequence yields length
 * 1 and *cp = UNICODE_INVALID, so a caller can always make progress byte by byte. */
size_t unicode_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* Writes the UTF-8 form of cp into out (4 bytes room). Returns 1..4, or 0 if cp is not a
 * Unicode scalar value (nothing written). */
size_t unicode_encode(uint32_t cp, char *out);

/* Character classes (bit flags). UNICODE_INVALID has none of them. */
enum {
    UNI_LETTER = 1 << 0,  /* \p{L}: Lu Ll Lt Lm Lo */
    UNI_NUMBER = 1 << 1,  /* \p{N}: Nd Nl No */
    UNI_SPACE = 1 << 2,   /* \s: the Unicode White_Space property */
    UNI_PUNCT = 1 << 3,   /* BERT punctuation: \p{P} or ASCII 33-47, 58-64, 91-96, 123-126 */
    UNI_MARK_NS = 1 << 4, /* Mn, the marks BERT's accent stripping removes */
    UNI_CONTROL = 1 << 5, /* BERT control: category C* except \t \n \r */
    UNI_CJK = 1 << 6,     /* CJK Unified Ideographs blocks as BERT lists them */
};
unsigned unicode_flags(uint32_t cp);

/* Simple lower-case mapping (cp itself when there is none). */
uint32_t unicode_tolower(uint32_t cp);

/* Canonical decomposition (NFD, recursive, Hangul included) of one code point into out
 * (cap entries). Returns the number of code points; 1 with out[0] = cp when cp has none.
 * Returns 0 only if cap is too small (4 is always enough for canonical forms). */
size_t unicode_nfd_char(uint32_t cp, uint32_t *out, size_t cap);

/* Canonical combining class of cp (0 for starters). */
int unicode_ccc(uint32_t cp);

/* Number of bytes at the end of s[0..n) that form an incomplete but still possibly valid
 * UTF-8 sequence (0..3): a streaming decoder holds them until the next bytes arrive. */
size_t unicode_incomplete_tail(const uint8_t *s, size_t n);

#endif
