/* apikeys.c - /users/me/api-keys: create (the key is shown once), list, revoke. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/error.h"
#include "store/apikeys.h"

static const struct jv_field create_fields[] = {
    {"name", JV_STRING, 1, 1, 100, 0, NULL, "What the key is for (shown in the list)"},
    {NULL},
};
static const struct jv_schema create_schema = {create_fields, 0};

static void create(struct req *r)
{
    const char *name = jv_str(req_json(r), "name", "");
    struct auth_apikey k;
    int rc = auth_apikey_create(api_user(r)->id, name, &k);
    if (rc == RAGD_ELIMIT) {
        http_error(r, 409, "TOO_MANY_API_KEYS",
                   "A user may hold at most %d API keys; revoke one first", AUTH_APIKEYS_MAX);
        return;
    }
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    http_json(r, 201,
              json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", k.id, "name", name, "prefix", k.prefix,
                        "key", k.key, "detail", "Store the key now: it is not shown again"));
}

static void list(struct req *r)
{
    struct store_apikey *keys;
    size_t n;
    int rc = store_apikey_list(api_user(r)->id, &keys, &n);
    if (rc) {
        http_store_error(r, rc);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            items,
            json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", keys[i].id, "name", keys[i].name, "prefix",
                      keys[i].prefix, "created_at", keys[i].created_at, "last_used_at",
                      keys[i].last_used_at[0] ? json_string(keys[i].last_used_at) : json_null()));
    free(keys);
    http_json(r, 200, json_pack("{s:o}", "api_keys", items));
}

static void revoke(struct req *r)
{
    const char *id = req_param(r, "key_id");
    int rc = auth_apikey_revoke(api_user(r)->id, id);
    if (rc == RAGD_ENOTFOUND)
        http_error(r, 404, "API_KEY_NOT_FOUND", "You have no live API key with that id");
    else if (rc)
        http_store_error(r, rc);
    else
        http_json(r, 200, json_pack("{s:s, s:s}", "status", "revoked", "id", id));
}

const struct route apikey_routes[] = {
    {.method = "POST",
     .pattern = "/users/me/api-keys",
     .handler = create,
     .access = ACCESS_USER,
     .rate = "api",
     .body = &create_schema,
     .tag = "users",
     .summary = "Create a personal API key (shown once); use it as a bearer token or in "
                "X-API-Key",
     .ok_status = 201,
     .response_doc = "{id, name, prefix, key}",
     .response = "{id: string, name: string, prefix: string, key: string, detail: string}"},
    {.method = "GET",
     .pattern = "/users/me/api-keys",
     .handler = list,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "users",
     .summary = "The caller's live API keys (without the keys themselves)",
     .response_doc = "{api_keys: [{id, name, prefix, created_at, last_used_at}]}",
     .response = "{api_keys: [{id: string, name: string, prefix: string, created_at: string, "
                 "last_used_at: string|null}]}"},
    {.method = "DELETE",
     .pattern = "/users/me/api-keys/{key_id}",
     .handler = revoke,
     .access = ACCESS_USER,
     .rate = "api",
     .tag = "users",
     .summary = "Revoke one of the caller's API keys",
     .response_doc = "{status, id}",
     .response = "$StatusId"},
    {NULL},
};
