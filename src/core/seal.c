/* seal.c - AES-256-GCM sealing and HMAC fingerprints (core/seal.h). */
#include "core/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/util.h"

static unsigned char master[32], fp_key[32];
static int have_key;

static int unhex(const char *s, unsigned char *out, size_t cap, size_t *n)
{
    size_t len = strlen(s);
    if (len % 2 || len / 2 > cap) return RAGD_EFORMAT;
    for (size_t i = 0; i < len / 2; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0) return RAGD_EFORMAT;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    *n = len / 2;
    return 0;
}

void seal_set_key(const unsigned char key32[32])
{
    memcpy(master, key32, 32);
    /* The fingerprint key is derived, so that a fingerprint says nothing usable about the
     * encryption key and vice versa. */
    unsigned int n = 0;
    HMAC(EVP_sha256(), master, 32, (const unsigned char *)"ragd provider key fingerprint", 29,
         fp_key, &n);
    have_key = 1;
}

int seal_ready(void)
{
    return have_key;
}

static int key_from_hex(const char *hex, const char *what, char *err, size_t errcap)
{
    unsigned char k[32];
    size_t n = 0;
    if (strlen(hex) != 64 || unhex(hex, k, sizeof k, &n) || n != 32)
        return ragd_errf(err, errcap, RAGD_EINVAL, "%s must be 64 hexadecimal characters", what);
    seal_set_key(k);
    OPENSSL_cleanse(k, sizeof k);
    return 0;
}

int seal_init(const char *data_dir, int shared_db, char *err, size_t errcap)
{
    const char *env = config_str("ENCRYPTION_KEY", NULL);
    if (env) return key_from_hex(env, "ENCRYPTION_KEY", err, errcap);
    if (shared_db)
        return ragd_errf(err, errcap, RAGD_EINVAL,
                         "ENCRYPTION_KEY (64 hex characters) is required with a shared database: "
                         "every node must seal and open provider keys with the same key");
    char *path = xasprintf("%s/encryption_key", data_dir);
    char hex[65] = "";
    int rc = 0, fd = open(path, O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, hex, 64);
        close(fd);
        hex[n > 0 ? n : 0] = '\0';
        rc = key_from_hex(hex, path, err, errcap);
    } else {
        unsigned char k[32];
        rand_bytes(k, sizeof k);
        hex_encode(k, sizeof k, hex);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || write(fd, hex, 64) != 64 || fsync(fd)) {
            rc = ragd_errf(err, errcap, RAGD_EIO, "cannot write %s: %s", path, strerror(errno));
        } else {
            seal_set_key(k);
        }
        if (fd >= 0) close(fd);
        OPENSSL_cleanse(k, sizeof k);
    }
    OPENSSL_cleanse(hex, sizeof hex);
    free(path);
    return rc;
}

int seal_encrypt(const char *plain, const char *aad, char **ct_hex, char nonce_hex[SEAL_NONCE_HEX],
                 char tag_hex[SEAL_TAG_HEX])
{
    *ct_hex = NULL;
    if (!have_key) return RAGD_EINVAL;
    unsigned char nonce[12], tag[16];
    rand_bytes(nonce, sizeof nonce);
    size_t n = strlen(plain);
    unsigned char *ct = xmalloc(n + 16);
    int len = 0, fin = 0, ok = 0;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (x && EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
        EVP_EncryptInit_ex(x, NULL, NULL, master, nonce) == 1 &&
        EVP_EncryptUpdate(x, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_EncryptUpdate(x, ct, &len, (const unsigned char *)plain, (int)n) == 1 &&
        EVP_EncryptFinal_ex(x, ct + len, &fin) == 1 &&
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(x);
    if (!ok) {
        free(ct);
        return RAGD_EIO;
    }
    *ct_hex = xmalloc(2 * (size_t)(len + fin) + 1);
    hex_encode(ct, (size_t)(len + fin), *ct_hex);
    hex_encode(nonce, sizeof nonce, nonce_hex);
    hex_encode(tag, sizeof tag, tag_hex);
    free(ct);
    return 0;
}

int seal_decrypt(const char *ct_hex, const char *nonce_hex, const char *tag_hex, const char *aad,
                 char **plain)
{
    *plain = NULL;
    if (!have_key) return RAGD_EINVAL;
    if (!ct_hex || !nonce_hex || !tag_hex) return RAGD_EFORMAT;
    size_t cap = strlen(ct_hex) / 2 + 1, n = 0, nn = 0, tn = 0;
    unsigned char nonce[12], tag[16], *ct = xmalloc(cap);
    if (unhex(ct_hex, ct, cap, &n) || unhex(nonce_hex, nonce, sizeof nonce, &nn) || nn != 12 ||
        unhex(tag_hex, tag, sizeof tag, &tn) || tn != 16) {
        free(ct);
        return RAGD_EFORMAT;
    }
    unsigned char *out = xmalloc(n + 16);
    int len = 0, fin = 0, ok = 0;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (x && EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
        EVP_DecryptInit_ex(x, NULL, NULL, master, nonce) == 1 &&
        EVP_DecryptUpdate(x, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_DecryptUpdate(x, out, &len, ct, (int)n) == 1 &&
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
        EVP_DecryptFinal_ex(x, out + len, &fin) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(x);
    free(ct);
    if (!ok || memchr(out, 0, (size_t)(len + fin))) {
        OPENSSL_cleanse(out, n + 16);
        free(out);
        return RAGD_EFORMAT;
    }
    out[len + fin] = '\0';
    *plain = (char *)out;
    return 0;
}

int seal_fingerprint(const char *plain, char out[SEAL_FP_HEX])
{
    if (!have_key) return RAGD_EINVAL;
    unsigned char mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), fp_key, 32, (const unsigned char *)plain, strlen(plain), mac, &n);
    hex_encode(mac, sizeof mac, out);
    return 0;
}

void seal_wipe(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}
