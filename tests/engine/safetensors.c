/* safetensors reader and writer: round trip, and clear errors for every kind of bad file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "engine/safetensors.h"

/* Builds a file image: 8-byte length, header text, then data_len bytes of data. */
static uint8_t *image(const char *hdr, size_t data_len, size_t *len)
{
    size_t h = strlen(hdr);
    *len = 8 + h + data_len;
    uint8_t *b = calloc(1, *len + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, hdr, h);
    for (size_t i = 0; i < data_len; i++)
        b[8 + h + i] = (uint8_t)i;
    return b;
}

static int open_hdr(const char *hdr, size_t data_len, char *err, size_t err_len)
{
    size_t len;
    uint8_t *b = image(hdr, data_len, &len);
    safetensors_t *st = NULL;
    int rc = safetensors_open_mem(b, len, &st, err, err_len);
    safetensors_close(st);
    free(b);
    return rc;
}

static void test_valid(void **state)
{
    (void)state;
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[30,38]},"
                      "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,4],\"data_offsets\":[38,38]}}   ";
    size_t len;
    uint8_t *b = image(hdr, 38, &len);
    safetensors_t *st;
    char err[256] = "";
    assert_int_equal(safetensors_open_mem(b, len, &st, err, sizeof err), 0);
    assert_int_equal(safetensors_n_tensors(st), 4);
    const struct safetensors_tensor *a = safetensors_find(st, "a");
    assert_non_null(a);
    assert_int_equal(a->dtype, ST_F32);
    assert_int_equal(a->n_dims, 2);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->shape[1], 3);
    assert_int_equal(a->n_elems, 6);
    assert_int_equal(a->nbytes, 24);
    size_t hlen = strlen(hdr);
    assert_ptr_equal(a->data, b + 8 + hlen);
    const struct safetensors_tensor *s = safetensors_find(st, "s");
    assert_int_equal(s->n_dims, 0);
    assert_int_equal(s->n_elems, 1);
    assert_ptr_equal(s->data, b + 8 + hlen + 30);
    assert_int_equal(safetensors_find(st, "z")->n_elems, 0);
    assert_null(safetensors_find(st, "nope"));
    assert_string_equal(safetensors_metadata(st, "format"), "pt");
    assert_null(safetensors_metadata(st, "other"));
    /* offset order */
    assert_string_equal(safetensors_tensor(st, 0)->name, "a");
    assert_string_equal(safetensors_tensor(st, 1)->name, "b");
    safetensors_close(st);
    free(b);
}

static void expect_error(const char *hdr, size_t data_len, const char *needle)
{
    char err[256] = "";
    assert_int_equal(open_hdr(hdr, data_len, err, sizeof err), RAGD_EFORMAT);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
    assert_true(!strncmp(err, "safetensors: ", 13));
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("[1,2]", 0, "does not start with");
    expect_error("{\"a\":1", 0, "header JSON");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                 8, "header JSON");
    expect_error("{\"a\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "unknown dtype");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                 "invalid shape");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                 "invalid shape");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
                 "invalid data_offsets");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                 "invalid data_offsets");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "lacks");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
                 "unknown fields");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2,
                 "truncated");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                 8, "overlaps");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6,
                 "not indexed");
    expect_error("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                 "\"data_offsets\":[0,4]}}",
                 4, "dimensions");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                 "\"data_offsets\":[0,4]}}",
                 4, "too many elements");
    expect_error("{\"a\":[]}", 0, "not an object");

    /* header length: beyond the file, beyond the limit, too short */
    uint8_t b[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    safetensors_t *st;
    char err[256];
    assert_int_equal(safetensors_open_mem(b, 10, &st, err, sizeof err), RAGD_EFORMAT);
    assert_non_null(strstr(err, "truncated"));
    b[0] = 0, b[1] = 0, b[4] = 1;
    assert_int_equal(safetensors_open_mem(b, 10, &st, err, sizeof err), RAGD_EFORMAT);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(safetensors_open_mem(b, 5, &st, err, sizeof err), RAGD_EFORMAT);
    assert_non_null(strstr(err, "too short"));
    b[4] = 0, b[0] = 2;
    assert_int_equal(safetensors_open_mem(b, 10, &st, NULL, 0), 0); /* "{}": no tensors */
    assert_int_equal(safetensors_n_tensors(st), 0);
    safetensors_close(st);
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    char path[] = "/tmp/ragd-st-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    safetensors_writer_t *w = safetensors_writer_create();
    int64_t s1[2] = {2, 3}, s2[1] = {5};
    assert_int_equal(safetensors_writer_add(w, "w", ST_F32, 2, s1), 0);
    assert_int_equal(safetensors_writer_add(w, "v", ST_F16, 1, s2), 0);
    assert_int_equal(safetensors_writer_add(w, "w", ST_F16, 1, s2), RAGD_EINVAL);
    safetensors_writer_meta(w, "format", "pt");
    assert_int_equal(safetensors_writer_begin(w, path), 0);
    float fw[6] = {1, 2, 3, 4, 5, 6};
    uint16_t hv[5] = {1, 2, 3, 4, 5};
    assert_int_equal(safetensors_writer_write(w, fw, 12), 0);
    assert_int_equal(safetensors_writer_finish(w), RAGD_EINVAL); /* incomplete */
    assert_int_equal(safetensors_writer_write(w, fw + 3, 12), 0);
    assert_int_equal(safetensors_writer_write(w, hv, 10), 0);
    assert_int_equal(safetensors_writer_write(w, hv, 1), RAGD_EINVAL);
    assert_int_equal(safetensors_writer_finish(w), 0);
    safetensors_writer_free(w);

    safetensors_t *st;
    char err[256] = "";
    assert_int_equal(safetensors_open(path, &st, err, sizeof err), 0);
    const struct safetensors_tensor *t = safetensors_find(st, "w");
    assert_non_null(t);
    assert_int_equal((uintptr_t)t->data % 8, 0);
    assert_memory_equal(t->data, fw, sizeof fw);
    t = safetensors_find(st, "v");
    assert_int_equal(t->dtype, ST_F16);
    assert_memory_equal(t->data, hv, sizeof hv);
    assert_string_equal(safetensors_metadata(st, "format"), "pt");
    safetensors_close(st);

    /* every truncation of the file fails cleanly */
    FILE *f = fopen(path, "rb");
    uint8_t buf[512];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        assert_int_not_equal(safetensors_open_mem(copy, cut, &st, err, sizeof err), 0);
        free(copy);
    }
    assert_int_equal(safetensors_open("/nonexistent/x.safetensors", &st, err, sizeof err),
                     RAGD_EIO);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_writer_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
