/* apikey.c - personal API keys for programs (the OpenAI-compatible API, scripts), which do
 * not expire like access tokens. A key is "rgd_" + 32 base64url characters (192 random
 * bits); it is shown once, when created, and stored as its SHA-256 hash. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/apikeys.h"

enum { KEY_BYTES = 24 };

int auth_apikey_create(const char *user_id, const char *name, struct auth_apikey *out)
{
    unsigned char raw[KEY_BYTES];
    char hash[65];
    size_t p = strlen(API_KEY_PREFIX);
    RAGD_ASSERT(p + 4 * KEY_BYTES / 3 + 1 <= sizeof out->key);
    memset(out, 0, sizeof *out);
    rand_bytes(raw, sizeof raw);
    memcpy(out->key, API_KEY_PREFIX, p);
    b64url_encode(raw, sizeof raw, out->key + p);
    sha256_hex(out->key, strlen(out->key), hash);
    memcpy(out->prefix, out->key, sizeof out->prefix - 1);
    return store_apikey_create(user_id, name, out->prefix, hash, AUTH_APIKEYS_MAX, out->id);
}

int auth_apikey_revoke(const char *user_id, const char *key_id)
{
    return uuid_valid(key_id) ? store_apikey_revoke(user_id, key_id) : RAGD_ENOTFOUND;
}
