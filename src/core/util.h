/* util.h - small shared helpers: clock, random ids, encodings, hashing, string builder. */
#ifndef RAGD_UTIL_H
#define RAGD_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* ---- clock ---- */
/* Wall-clock time in milliseconds since the epoch, plus the injectable offset. Cannot fail. */
int64_t time_now_ms(void);
/* Monotonic nanoseconds, for durations. Cannot fail. */
int64_t time_mono_ns(void);
/* Shifts time_now_ms() by offset_ms (tests move the clock across month ends). */
void time_set_offset_ms(int64_t offset_ms);
int64_t time_offset_ms(void);
/* Formats ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 32 bytes). Returns buf. */
char *time_iso(int64_t ms, char *buf);
/* Parses the format above (also without millis, and with "+00:00"). 0 or RAGD_EINVAL. */
int time_parse_iso(const char *s, int64_t *ms);

/* ---- randomness and ids ---- */
/* Fills buf with n cryptographically random bytes; panics if the kernel cannot. */
void rand_bytes(void *buf, size_t n);
/* Writes a random RFC 4122 version-4 UUID, 36 chars + NUL, into out[37]. */
void uuid4(char out[37]);
/* True if s is a canonical lower- or upper-case UUID string. */
int uuid_valid(const char *s);

/* ---- encodings ---- */
/* base64url without padding. Encode: out must hold 4*ceil(n/3)+1 bytes; returns length. */
size_t b64url_encode(const void *in, size_t n, char *out);
/* Standard base64 (RFC 4648 section 4) with '=' padding; out must hold 4*ceil(n/3)+1
 * bytes; returns the length. */
size_t b64_encode(const void *in, size_t n, char *out);
/* Decode: out must hold 3*n/4+3 bytes. Returns 0 and *out_len, or RAGD_EFORMAT. */
int b64url_decode(const char *in, size_t n, void *out, size_t *out_len);
/* Lower-case hex; out must hold 2n+1 bytes. */
void hex_encode(const void *in, size_t n, char *out);

/* ---- hashing ---- */
/* 64-bit FNV-1a of data[0..n), continuing from h (FNV1A_START to begin): for hash tables and
 * buckets, never where an attacker must not be able to steer the value. */
#define FNV1A_START 1469598103934665603ull
static inline uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
void sha256(const void *data, size_t n, unsigned char out[32]);
/* sha256 as 64 hex chars + NUL. */
void sha256_hex(const void *data, size_t n, char out[65]);
int hmac_sha256(const void *key, size_t klen, const void *data, size_t n, unsigned char out[32]);
/* Constant-time comparison of n bytes: 0 when equal. */
int ct_memcmp(const void *a, const void *b, size_t n);

/* ---- UTF-8 ---- */
/* True if s[0..n) is valid UTF-8 without NUL bytes. */
int utf8_valid(const char *s, size_t n);
/* A copy of s[0..n) in which every byte that does not start a well-formed UTF-8 sequence (and
 * every NUL) is replaced by U+FFFD. Caller frees; *out_len (may be NULL) gets the length.
 * Cannot fail. */
char *utf8_sanitize(const char *s, size_t n, size_t *out_len);
/* Number of code points in valid UTF-8 s[0..n). */
size_t utf8_len(const char *s, size_t n);

/* ---- string builder ---- */
struct sbuf {
    char *s;
    size_t len, cap;
};
void sb_init(struct sbuf *b);
void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_adds(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the NUL-terminated string, which the caller now owns (free()). */
char *sb_take(struct sbuf *b);
void sb_free(struct sbuf *b);

/* Case-insensitive ASCII e-mail syntax check (local@domain.tld, no spaces). */
int email_valid(const char *s);

#endif
