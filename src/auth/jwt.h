/* jwt.h - HS256 JSON Web Tokens (RFC 7519). Only HS256 is accepted: any other "alg",
 * "none" included, is rejected before the signature is looked at. */
#ifndef RAGD_JWT_H
#define RAGD_JWT_H

#include <jansson.h>
#include <stddef.h>

/* Signs claims (borrowed) with key. Returns the token (caller frees) or NULL on failure. */
char *jwt_sign(json_t *claims, const void *key, size_t keylen);

enum jwt_status {
    JWT_OK = 0,
    JWT_MALFORMED = -1,
    JWT_BAD_ALG = -2,
    JWT_BAD_SIGNATURE = -3,
    JWT_EXPIRED = -4,
    JWT_NOT_YET_VALID = -5, /* "nbf" or "iat" later than now (beyond JWT_LEEWAY_S) */
};

/* Clock skew between nodes tolerated for "nbf" and "iat", in seconds. */
enum { JWT_LEEWAY_S = 30 };

/* Verifies token and checks "exp" (required) against now_s (seconds), and "nbf" and "iat"
 * when present (numbers, not later than now_s + JWT_LEEWAY_S). On JWT_OK *claims is a new
 * reference to the payload object. Cannot crash on any input. */
enum jwt_status jwt_verify(const char *token, const void *key, size_t keylen, long long now_s,
                           json_t **claims);

#endif
