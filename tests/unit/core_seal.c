/* Sealing provider keys: round trip, associated data bound, tampering refused cleanly,
 * fingerprints stable and keyed, the generated key file private and reused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/seal.h"

static const unsigned char K1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void test_round_trip(void **state)
{
    (void)state;
    seal_set_key(K1);
    char *ct, nonce[SEAL_NONCE_HEX], tag[SEAL_TAG_HEX], *plain;
    assert_int_equal(seal_encrypt("sk-secret-value-1234", "row-1", &ct, nonce, tag), 0);
    assert_null(strstr(ct, "secret"));
    assert_int_equal(strlen(nonce), 24);
    assert_int_equal(strlen(tag), 32);
    assert_int_equal(seal_decrypt(ct, nonce, tag, "row-1", &plain), 0);
    assert_string_equal(plain, "sk-secret-value-1234");
    seal_wipe(plain);
    /* Two seals of one secret differ (fresh nonce). */
    char *ct2, nonce2[SEAL_NONCE_HEX], tag2[SEAL_TAG_HEX];
    assert_int_equal(seal_encrypt("sk-secret-value-1234", "row-1", &ct2, nonce2, tag2), 0);
    assert_string_not_equal(nonce, nonce2);
    free(ct2);
    free(ct);
}

static void test_tampering_fails_cleanly(void **state)
{
    (void)state;
    seal_set_key(K1);
    char *ct, nonce[SEAL_NONCE_HEX], tag[SEAL_TAG_HEX], *plain = (char *)"x";
    assert_int_equal(seal_encrypt("AIzaSyExampleGeminiKey0000", "row-2", &ct, nonce, tag), 0);
    /* Another row's id as associated data. */
    assert_int_equal(seal_decrypt(ct, nonce, tag, "row-3", &plain), RAGD_EFORMAT);
    assert_null(plain);
    /* One flipped ciphertext nibble. */
    char orig = ct[3];
    ct[3] = ct[3] == '0' ? '1' : '0';
    assert_int_equal(seal_decrypt(ct, nonce, tag, "row-2", &plain), RAGD_EFORMAT);
    assert_null(plain);
    ct[3] = orig;
    /* Altered tag and nonce; not hex at all; truncated. */
    char bad[SEAL_TAG_HEX];
    memcpy(bad, tag, sizeof bad);
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    assert_int_equal(seal_decrypt(ct, nonce, bad, "row-2", &plain), RAGD_EFORMAT);
    char badn[SEAL_NONCE_HEX];
    memcpy(badn, nonce, sizeof badn);
    badn[5] = badn[5] == 'f' ? 'e' : 'f';
    assert_int_equal(seal_decrypt(ct, badn, tag, "row-2", &plain), RAGD_EFORMAT);
    assert_int_equal(seal_decrypt("zz-not-hex", nonce, tag, "row-2", &plain), RAGD_EFORMAT);
    assert_int_equal(seal_decrypt(ct, "00", tag, "row-2", &plain), RAGD_EFORMAT);
    assert_int_equal(seal_decrypt("", nonce, tag, "row-2", &plain), RAGD_EFORMAT);
    /* Another master key. */
    unsigned char k2[32];
    memcpy(k2, K1, 32);
    k2[0] ^= 1;
    seal_set_key(k2);
    assert_int_equal(seal_decrypt(ct, nonce, tag, "row-2", &plain), RAGD_EFORMAT);
    seal_set_key(K1);
    assert_int_equal(seal_decrypt(ct, nonce, tag, "row-2", &plain), 0);
    assert_string_equal(plain, "AIzaSyExampleGeminiKey0000");
    seal_wipe(plain);
    free(ct);
}

static void test_fingerprint(void **state)
{
    (void)state;
    seal_set_key(K1);
    char a[SEAL_FP_HEX], b[SEAL_FP_HEX], c[SEAL_FP_HEX];
    assert_int_equal(seal_fingerprint("sk-one", a), 0);
    assert_int_equal(seal_fingerprint("sk-one", b), 0);
    assert_int_equal(seal_fingerprint("sk-two", c), 0);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    unsigned char k2[32] = {9};
    seal_set_key(k2);
    assert_int_equal(seal_fingerprint("sk-one", b), 0);
    assert_string_not_equal(a, b); /* keyed: not a plain hash of the secret */
}

static void test_init_file_and_env(void **state)
{
    (void)state;
    char dir[] = "/tmp/ragd-seal-XXXXXX", path[300], err[256];
    assert_non_null(mkdtemp(dir));
    config_reset();
    /* A shared database refuses to start without the key. */
    assert_int_equal(seal_init(dir, 1, err, sizeof err), RAGD_EINVAL);
    assert_non_null(strstr(err, "ENCRYPTION_KEY"));
    /* SQLite: generated once, 0600, reused. */
    assert_int_equal(seal_init(dir, 0, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/encryption_key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char fp1[SEAL_FP_HEX], fp2[SEAL_FP_HEX];
    seal_fingerprint("k", fp1);
    assert_int_equal(seal_init(dir, 0, err, sizeof err), 0);
    seal_fingerprint("k", fp2);
    assert_string_equal(fp1, fp2);
    /* ENCRYPTION_KEY wins and must be 64 hex. */
    config_set("ENCRYPTION_KEY", "abc");
    assert_int_equal(seal_init(dir, 1, err, sizeof err), RAGD_EINVAL);
    config_set("ENCRYPTION_KEY",
               "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    assert_int_equal(seal_init(dir, 1, err, sizeof err), 0);
    unsigned char raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    seal_fingerprint("k", fp1);
    seal_set_key(raw);
    seal_fingerprint("k", fp2);
    assert_string_equal(fp1, fp2);
    config_reset();
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tampering_fails_cleanly),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_init_file_and_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
