#include "auth/jwt.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/util.h"

enum { JWT_MAX = 8192 };

static char *b64_json(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *out = xmalloc(4 * (n / 3 + 1) + 1);
    b64url_encode(s, n, out);
    free(s);
    return out;
}

char *jwt_sign(json_t *claims, const void *key, size_t keylen)
{
    json_t *hdr = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
    char *h = b64_json(hdr), *p = b64_json(claims);
    json_decref(hdr);
    char *tok = NULL;
    if (h && p) {
        char *signing = xasprintf("%s.%s", h, p);
        unsigned char mac[32];
        char sig[48];
        if (!hmac_sha256(key, keylen, signing, strlen(signing), mac)) {
            b64url_encode(mac, sizeof mac, sig);
            tok = xasprintf("%s.%s", signing, sig);
        }
        free(signing);
    }
    free(h);
    free(p);
    return tok;
}

static json_t *decode_part(const char *s, size_t n)
{
    unsigned char *buf = xmalloc(n * 3 / 4 + 4);
    size_t len;
    json_t *v = NULL;
    if (!b64url_decode(s, n, buf, &len)) {
        json_error_t je;
        v = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
        if (v && !json_is_object(v)) {
            json_decref(v);
            v = NULL;
        }
    }
    free(buf);
    return v;
}

enum jwt_status jwt_verify(const char *token, const void *key, size_t keylen, long long now_s,
                           json_t **claims)
{
    size_t n = strnlen(token, JWT_MAX + 1);
    if (n > JWT_MAX) return JWT_MALFORMED;
    const char *d1 = memchr(token, '.', n);
    if (!d1) return JWT_MALFORMED;
    const char *d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token));
    if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token))) return JWT_MALFORMED;

    json_t *hdr = decode_part(token, (size_t)(d1 - token));
    if (!hdr) return JWT_MALFORMED;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    int alg_ok = alg && !strcmp(alg, "HS256");
    json_decref(hdr);
    if (!alg_ok) return JWT_BAD_ALG;

    unsigned char mac[32], sig[64];
    size_t siglen = 0, sig_b64 = n - (size_t)(d2 + 1 - token);
    if (sig_b64 > 64 || b64url_decode(d2 + 1, sig_b64, sig, &siglen) || siglen != 32)
        return JWT_BAD_SIGNATURE;
    if (hmac_sha256(key, keylen, token, (size_t)(d2 - token), mac) || ct_memcmp(mac, sig, 32))
        return JWT_BAD_SIGNATURE;

    json_t *c = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!c) return JWT_MALFORMED;
    json_t *exp = json_object_get(c, "exp");
    if (!json_is_integer(exp) && !json_is_real(exp)) {
        json_decref(c);
        return JWT_MALFORMED;
    }
    if (json_number_value(exp) <= (double)now_s) {
        json_decref(c);
        return JWT_EXPIRED;
    }
    static const char *const not_after_now[] = {"nbf", "iat"};
    for (int i = 0; i < 2; i++) {
        json_t *t = json_object_get(c, not_after_now[i]);
        if (!t) continue;
        if (!json_is_integer(t) && !json_is_real(t)) {
            json_decref(c);
            return JWT_MALFORMED;
        }
        if (json_number_value(t) > (double)(now_s + JWT_LEEWAY_S)) {
            json_decref(c);
            return JWT_NOT_YET_VALID;
        }
    }
    *claims = c;
    return JWT_OK;
}
