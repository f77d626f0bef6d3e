/* apikeys.h - the api_keys table: personal API keys, stored as SHA-256 hashes.
 *
 * A key is shown to its owner once, when it is created; the store keeps its hash, a short
 * prefix to recognise it by, and when it was last used. */
#ifndef RAGD_STORE_APIKEYS_H
#define RAGD_STORE_APIKEYS_H

#include <jansson.h>
#include <stdint.h>

/* Registers the table's migration (call before store_migrate). */
void store_apikeys_register(void);

/* Adds a key for user_id unless the user already has max live keys. Returns 0 with id_out,
 * RAGD_ELIMIT (too many keys) or a store error. */
int store_apikey_create(const char *user_id, const char *name, const char *prefix,
                        const char *hash_hex, int max, char id_out[37]);
/* The owner of the live key whose hash is hash_hex: 0 with user_out, RAGD_ENOTFOUND, or a
 * store error. Records the use (at most once a minute per key). */
int store_apikey_lookup(const char *hash_hex, char user_out[37]);
/* The user's live keys, newest first: [{id, name, prefix, created_at, last_used_at}] (new
 * reference in *out). */
int store_apikey_list(const char *user_id, json_t **out);
/* Revokes one of the user's keys: 0, RAGD_ENOTFOUND (no such live key of theirs). */
int store_apikey_revoke(const char *user_id, const char *id);

#endif
