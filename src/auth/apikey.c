/* apikey.c - /users/me/api-keys: personal API keys for programs (the OpenAI-compatible API,
 * scripts), which do not expire like access tokens. A key is "rgd_" + 32 base64url characters
 * (192 random bits); it is shown once, when created, and stored as its SHA-256 hash. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "core/error.h"
#include "core/util.h"
#include "store/apikeys.h"

enum { MAX_KEYS_PER_USER = 20, KEY_BYTES = 24, PREFIX_CHARS = 12 };

static const struct jv_field create_fields[] = {
    {"name", JV_STRING, 1, 1, 100, 0, NULL, "What the key is for (shown in the list)"},
    {NULL},
};
static const struct jv_schema create_schema = {create_fields, 0};

static void create(struct req *r)
{
    const struct user *u = auth_user(r);
    unsigned char raw[KEY_BYTES];
    char key[sizeof API_KEY_PREFIX + 4 * KEY_BYTES / 3 + 2], hash[65], prefix[PREFIX_CHARS + 1];
    rand_bytes(raw, sizeof raw);
    size_t p = strlen(API_KEY_PREFIX);
    memcpy(key, API_KEY_PREFIX, p);
    b64url_encode(raw, sizeof raw, key + p);
    sha256_hex(key, strlen(key), hash);
    memcpy(prefix, key, PREFIX_CHARS);
    prefix[PREFIX_CHARS] = 0;
    char id[37];
    int rc = store_apikey_create(u->id, jv_str(req_json(r), "name", ""), prefix, hash,
                                 MAX_KEYS_PER_USER, id);
    if (rc == RAGD_ELIMIT) {
        http_error(r, 409, "TOO_MANY_API_KEYS",
                   "A user may hold at most %d API keys; revoke one first", MAX_KEYS_PER_USER);
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 201,
              json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "name",
                        jv_str(req_json(r), "name", ""), "prefix", prefix, "key", key, "detail",
                        "Store the key now: it is not shown again"));
}

static void list(struct req *r)
{
    json_t *items;
    int rc = store_apikey_list(auth_user(r)->id, &items);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 200, json_pack("{s:o}", "api_keys", items));
}

static void revoke(struct req *r)
{
    const char *id = req_param(r, "key_id");
    int rc = uuid_valid(id) ? store_apikey_revoke(auth_user(r)->id, id) : RAGD_ENOTFOUND;
    if (rc == RAGD_ENOTFOUND)
        http_error(r, 404, "API_KEY_NOT_FOUND", "You have no live API key with that id");
    else if (rc)
        http_store_error(r, rc);
    else
        http_json(r, 200, json_pack("{s:s, s:s}", "status", "revoked", "id", id));
}

const struct route apikey_routes[] = {
    {"POST", "/users/me/api-keys", create, ACCESS_USER, "api", NULL, &create_schema, "users",
     "Create a personal API key (shown once); use it as a bearer token or in X-API-Key", 201,
     "{id, name, prefix, key}"},
    {"GET", "/users/me/api-keys", list, ACCESS_USER, "api", NULL, NULL, "users",
     "The caller's live API keys (without the keys themselves)", 200,
     "{api_keys: [{id, name, prefix, created_at, last_used_at}]}"},
    {"DELETE", "/users/me/api-keys/{key_id}", revoke, ACCESS_USER, "api", NULL, NULL, "users",
     "Revoke one of the caller's API keys", 200, "{status, id}"},
    {NULL},
};
