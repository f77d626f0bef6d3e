/* emailverify.h - the email_verifications table: one pending e-mail verification token per
 * user, stored as its SHA-256 hash with an expiry. The token itself exists only in the mail
 * sent to the user. */
#ifndef RAGD_STORE_EMAILVERIFY_H
#define RAGD_STORE_EMAILVERIFY_H

#include <stdint.h>

/* Registers the table's migration (call before store_migrate). */
void store_emailverify_register(void);

/* Makes hash_hex, valid until expires_ms, the user's pending token, replacing any earlier
 * one. Returns 0 or a store error. */
int store_emailverify_set(const char *user_id, const char *hash_hex, int64_t expires_ms);

/* Uses the token whose hash is hash_hex, once: the row is deleted and, unless it expired
 * before now_ms, the user is marked verified (and forgotten by the user cache), in one
 * transaction. Returns 0 with user_out, RAGD_ENOTFOUND (unknown, used or expired), or a
 * store error. */
int store_emailverify_use(const char *hash_hex, int64_t now_ms, char user_out[37]);

#endif
