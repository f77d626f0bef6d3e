/* seal.h - sealing secrets at rest (provider keys) with AES-256-GCM under ENCRYPTION_KEY.
 *
 * ENCRYPTION_KEY is 64 hexadecimal characters (32 bytes). When it is unset and the database
 * is a local SQLite file, a random key is generated once into <data_dir>/encryption_key
 * (mode 0600) and kept; with a shared database (PostgreSQL) every node must hold the same
 * key, so start-up refuses without it.
 *
 * A sealed secret is three hex strings: the ciphertext, a fresh 96-bit nonce and the 128-bit
 * tag; the caller's associated data (the row id) is bound into the tag, so a ciphertext
 * copied to another row, or altered in any byte, does not open. Duplicates are found by an
 * HMAC-SHA256 fingerprint under a key derived from the master key, never by decrypting.
 *
 * Thread-safe after seal_init. Plaintext buffers returned here are the caller's to wipe
 * (seal_wipe) and free. */
#ifndef RAGD_CORE_SEAL_H
#define RAGD_CORE_SEAL_H

#include <stddef.h>

enum { SEAL_NONCE_HEX = 25, SEAL_TAG_HEX = 33, SEAL_FP_HEX = 65 };

/* Loads or creates the master key as described above. shared_db: the database is shared by
 * several nodes. Returns 0, or RAGD_EINVAL (malformed or missing ENCRYPTION_KEY) /
 * RAGD_EIO (the key file cannot be read or written) with a message in err. */
int seal_init(const char *data_dir, int shared_db, char *err, size_t errcap);
/* Sets the master key directly (tests, CLI). key32 is 32 bytes. Cannot fail. */
void seal_set_key(const unsigned char key32[32]);
/* Whether a master key is loaded. */
int seal_ready(void);

/* Seals plain (NUL-terminated) with aad (NUL-terminated, may be empty). 0 with *ct_hex
 * (caller frees), nonce_hex and tag_hex filled; RAGD_EINVAL without a master key,
 * RAGD_EIO when the cipher fails. */
int seal_encrypt(const char *plain, const char *aad, char **ct_hex, char nonce_hex[SEAL_NONCE_HEX],
                 char tag_hex[SEAL_TAG_HEX]);
/* Opens what seal_encrypt produced. 0 with *plain (caller wipes and frees), or
 * RAGD_EFORMAT when anything was altered (ciphertext, nonce, tag, aad, wrong key) or is not
 * hex; never a partial plaintext. */
int seal_decrypt(const char *ct_hex, const char *nonce_hex, const char *tag_hex, const char *aad,
                 char **plain);
/* HMAC-SHA256 of plain under the fingerprint key, as 64 hex characters. RAGD_EINVAL without
 * a master key. */
int seal_fingerprint(const char *plain, char out[SEAL_FP_HEX]);
/* Zeroes s (NUL-terminated) and frees it; NULL is a no-op. */
void seal_wipe(char *s);

#endif
