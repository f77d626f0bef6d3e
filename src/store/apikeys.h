/* apikeys.h - the api_keys table: personal API keys, stored as SHA-256 hashes.
 *
 * A key is shown to its owner once, when it is created; the store keeps its hash, a short
 * prefix to recognise it by, and when it was last used. */
#ifndef RAGD_STORE_APIKEYS_H
#define RAGD_STORE_APIKEYS_H

#include <stddef.h>
#include <stdint.h>

/* Registers the table's migration (call before store_migrate). */
void store_apikeys_register(void);

/* Adds a key for user_id unless the user already has max live keys. Returns 0 with id_out,
 * RAGD_ELIMIT (too many keys) or a store error. */
int store_apikey_create(const char *user_id, const char *name, const char *prefix,
                        const char *hash_hex, int max, char id_out[37]);
struct user;
/* The owner of the live key whose hash is hash_hex: 0 with user_out, the owner as
 * store_user_get reads it in *out and store_user_get's answer in *user_rc; RAGD_ENOTFOUND (no
 * such live key) or a store error, *out untouched. Records the use (at most once a minute per
 * key and node). With a shared cache a node remembers the keys it looked up, each under the
 * revocation epoch (store_int.h) read before the lookup; a request that reads the same epoch,
 * in its session read's round trip, does not look the key up again. */
int store_apikey_user(const char *hash_hex, char user_out[37], struct user *out, int *user_rc);
/* One live key as its owner may see it (never the key or its hash). */
struct store_apikey {
    char id[37];
    char name[404]; /* up to 100 characters of UTF-8 */
    char prefix[16];
    char created_at[32];
    char last_used_at[32]; /* "" when never used */
};
/* The user's live keys, newest first: *out (caller frees with free(); NULL when *n is 0) and
 * their number in *n. */
int store_apikey_list(const char *user_id, struct store_apikey **out, size_t *n);
/* Revokes one of the user's keys: 0, RAGD_ENOTFOUND (no such live key of theirs). */
int store_apikey_revoke(const char *user_id, const char *id);

#endif
