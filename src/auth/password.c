#include "auth/password.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

int password_hash(const char *password, int rounds, char *out, size_t outcap)
{
    size_t n = strlen(password);
    if (n < PASSWORD_MIN || n > PASSWORD_MAX || rounds < 4 || rounds > 31) return RAGD_EINVAL;
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", (unsigned long)rounds, NULL, 0, salt, sizeof salt))
        return RAGD_EIO;
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *h = crypt_r(password, salt, cd);
    int rc = 0;
    if (!h || h[0] != '$' || strlen(h) + 1 > outcap)
        rc = RAGD_EIO;
    else
        memcpy(out, h, strlen(h) + 1);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return rc;
}

int password_verify(const char *password, const char *hash)
{
    if (strncmp(hash, "$2b$", 4) && strncmp(hash, "$2a$", 4) && strncmp(hash, "$2y$", 4)) return 0;
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *h = crypt_r(password, hash, cd);
    int ok = h && h[0] == '$' && strlen(h) == strlen(hash) && !ct_memcmp(h, hash, strlen(hash));
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

void password_dummy_verify(int rounds)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (rounds < 4 || rounds > 31) rounds = 12;
    /* A fixed 16-byte salt: deterministic, and the cost is what matters here. */
    static const char rbytes[16] = "ragd-dummy-salt";
    if (!crypt_gensalt_rn("$2b$", (unsigned long)rounds, rbytes, sizeof rbytes, salt, sizeof salt))
        return;
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    (void)crypt_r("dummy-password", salt, cd);
    free(cd);
}
