/* password.h - bcrypt ($2b$) password hashing through libcrypt. Slow by design: call from
 * worker threads, never from network threads. */
#ifndef RAGD_PASSWORD_H
#define RAGD_PASSWORD_H

#include <stddef.h>

enum { PASSWORD_MIN = 8, PASSWORD_MAX = 72 }; /* bytes; bcrypt ignores bytes past 72 */

/* Hashes password with cost rounds (4..31) into out (at least 64 bytes). Returns 0,
 * RAGD_EINVAL for a bad length/cost, or RAGD_EIO if libcrypt fails. */
int password_hash(const char *password, int rounds, char *out, size_t outcap);

/* 1 if password matches hash, 0 if not (also for a malformed hash). Compares in constant
 * time. */
int password_verify(const char *password, const char *hash);

/* Burns the time of one verification against a fixed hash of the given cost, so that a
 * login for an unknown e-mail takes as long as one for a known e-mail. */
void password_dummy_verify(int rounds);

#endif
