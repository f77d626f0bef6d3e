/* GGUF reader and writer: every value type round-trips, nested arrays, tensor data placement,
 * and truncated / corrupted / lying files give errors instead of crashes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "engine/gguf.h"
#include "engine/quant.h"

static char path[64];

static uint8_t *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* Writes a file with every metadata type and two tensors. */
static void write_sample(const char *p)
{
    gguf_writer_t *w = gguf_writer_create();
    gguf_writer_set_str(w, "general.architecture", "test");
    gguf_writer_set_u32(w, "u32", 4000000000u);
    gguf_writer_set_i32(w, "i32", -5);
    gguf_writer_set_f32(w, "f32", 1.5f);
    gguf_writer_set_bool(w, "bool", 1);
    const char *strs[] = {"a", "", "hello\nworld"};
    size_t lens[] = {1, 0, 11};
    gguf_writer_set_arr_str(w, "strs", strs, lens, 3);
    int16_t i16[] = {-1, 2, -3};
    gguf_writer_set_arr(w, "i16s", GGUF_TYPE_INT16, i16, 3);
    double f64[] = {0.25, -8};
    gguf_writer_set_arr(w, "f64s", GGUF_TYPE_FLOAT64, f64, 2);
    /* an empty array has no data (memcpy from NULL, even of 0 bytes, is undefined) */
    gguf_writer_set_arr(w, "empty", GGUF_TYPE_INT32, NULL, 0);
    gguf_writer_set_u32(w, "u32", 7); /* replaces */
    int64_t ne1[1] = {64};
    int64_t ne2[2] = {32, 3};
    assert_int_equal(gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 1, ne1), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "b", GGML_TYPE_Q8_0, 2, ne2), 0);
    int64_t bad[2] = {30, 1};
    assert_int_equal(gguf_writer_add_tensor(w, "c", GGML_TYPE_Q8_0, 2, bad), RAGD_EINVAL);
    assert_int_equal(gguf_writer_begin(w, p), 0);
    float a[64];
    for (int i = 0; i < 64; i++)
        a[i] = (float)i;
    assert_int_equal(gguf_writer_write_tensor(w, a, 100), 0); /* in two parts */
    assert_int_equal(gguf_writer_write_tensor(w, (uint8_t *)a + 100, 156), 0);
    uint8_t q[3 * 34];
    for (int i = 0; i < 3 * 34; i++)
        q[i] = (uint8_t)i;
    assert_int_equal(gguf_writer_write_tensor(w, q, sizeof q + 1), RAGD_EINVAL);
    assert_int_equal(gguf_writer_write_tensor(w, q, sizeof q), 0);
    assert_int_equal(gguf_writer_finish(w), 0);
    gguf_writer_free(w);
}

static void test_roundtrip(void **state)
{
    (void)state;
    write_sample(path);
    gguf_t *g;
    char err[256];
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_version(g), 3);
    uint32_t u;
    int64_t i;
    float f;
    int b;
    char *s;
    assert_int_equal(gguf_get_u32(g, "u32", &u), 0);
    assert_int_equal(u, 7);
    assert_int_equal(gguf_get_i64(g, "i32", &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(gguf_get_u32(g, "i32", &u), RAGD_EFORMAT); /* negative */
    assert_int_equal(gguf_get_f32(g, "f32", &f), 0);
    assert_true(f == 1.5f);
    assert_int_equal(gguf_get_bool(g, "bool", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(gguf_get_str(g, "general.architecture", &s), 0);
    assert_string_equal(s, "test");
    free(s);
    assert_int_equal(gguf_get_str(g, "missing", &s), RAGD_ENOTFOUND);
    assert_int_equal(gguf_get_str(g, "u32", &s), RAGD_EFORMAT);
    const struct gguf_value *arr;
    assert_int_equal(gguf_get_arr(g, "strs", &arr), 0);
    assert_int_equal(arr->v.arr.n, 3);
    assert_int_equal(arr->v.arr.items[2].v.str.len, 11);
    assert_memory_equal(arr->v.arr.items[2].v.str.ptr, "hello\nworld", 11);
    assert_int_equal(gguf_get_arr(g, "i16s", &arr), 0);
    assert_int_equal(gguf_arr_i64(arr, 2), -3);
    assert_int_equal(gguf_get_arr(g, "f64s", &arr), 0);
    assert_true(gguf_arr_f64(arr, 1) == -8.0);
    assert_int_equal(gguf_get_arr(g, "empty", &arr), 0);
    assert_int_equal(arr->v.arr.n, 0);
    /* copying the empty array through the writer (its raw pointer may be anything) */
    gguf_writer_t *w = gguf_writer_create();
    gguf_writer_set_value(w, "copy", arr);
    gguf_writer_free(w);
    assert_int_equal(gguf_n_tensors(g), 2);
    const struct gguf_tensor *t = gguf_find_tensor(g, "a");
    assert_non_null(t);
    assert_int_equal(t->nbytes, 256);
    assert_true(((const float *)t->data)[63] == 63.0f);
    assert_int_equal((uintptr_t)t->data % 32, 0);
    t = gguf_find_tensor(g, "b");
    assert_int_equal(t->ne[1], 3);
    assert_int_equal(t->nbytes, 102);
    assert_int_equal(((const uint8_t *)t->data)[101], 101);
    gguf_close(g);
}

/* Copying values (nested arrays included) through the writer gives identical bytes back. */
static void test_nested_copy(void **state)
{
    (void)state;
    /* hand-made file: one key whose value is an array of two arrays of u8 */
    uint8_t buf[256];
    size_t n = 0;
#define PUT(p, k) (memcpy(buf + n, (p), (k)), n += (k))
    uint32_t u32;
    uint64_t u64;
    PUT("GGUF", 4);
    u32 = 3;
    PUT(&u32, 4);
    u64 = 0;
    PUT(&u64, 8); /* tensors */
    u64 = 1;
    PUT(&u64, 8); /* kvs */
    u64 = 6;
    PUT(&u64, 8);
    PUT("nested", 6);
    u32 = GGUF_TYPE_ARRAY;
    PUT(&u32, 4);
    u32 = GGUF_TYPE_ARRAY;
    PUT(&u32, 4);
    u64 = 2;
    PUT(&u64, 8);
    for (int k = 0; k < 2; k++) {
        u32 = GGUF_TYPE_UINT8;
        PUT(&u32, 4);
        u64 = 3;
        PUT(&u64, 8);
        uint8_t v[3] = {(uint8_t)k, 2, 3};
        PUT(v, 3);
    }
#undef PUT
    gguf_t *g;
    assert_int_equal(gguf_open_mem(buf, n, &g, NULL, 0), 0);
    const struct gguf_value *v = gguf_get(g, "nested");
    assert_non_null(v);
    assert_int_equal(v->v.arr.n, 2);
    assert_int_equal(gguf_arr_i64(&v->v.arr.items[1], 0), 1);
    gguf_writer_t *w = gguf_writer_create();
    gguf_writer_set_value(w, "nested", v);
    assert_int_equal(gguf_writer_begin(w, path), 0);
    assert_int_equal(gguf_writer_finish(w), 0);
    gguf_writer_free(w);
    size_t len;
    uint8_t *again = slurp(path, &len);
    assert_true(len >= n);
    assert_memory_equal(again, buf, n);
    free(again);
    gguf_close(g);
}

/* Every truncation of a valid file is rejected; random corruption never crashes. */
static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    write_sample(path);
    size_t len;
    uint8_t *b = slurp(path, &len);
    char err[256];
    gguf_t *g;
    for (size_t k = 0; k < len; k++) {
        uint8_t *copy = malloc(k ? k : 1); /* exact size so ASan sees any overread */
        memcpy(copy, b, k);
        int rc = gguf_open_mem(copy, k, &g, err, sizeof err);
        if (rc == 0) {
            /* only possible once the whole header is there and tensors fit: not before EOF */
            gguf_close(g);
            free(copy);
            fail_msg("truncation to %zu of %zu bytes accepted", k, len);
        }
        assert_int_equal(rc, RAGD_EFORMAT);
        free(copy);
    }
    uint64_t r = 12345;
    for (int it = 0; it < 3000; it++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, b, len);
        for (int j = 0; j < 1 + it % 4; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            copy[(r >> 33) % len] = (uint8_t)(r >> 20);
        }
        if (gguf_open_mem(copy, len, &g, err, sizeof err) == 0) {
            for (size_t t = 0; t < gguf_n_tensors(g); t++) {
                const struct gguf_tensor *tt = gguf_tensor(g, t);
                assert_true((const uint8_t *)tt->data + tt->nbytes <= copy + len);
            }
            gguf_close(g);
        }
        free(copy);
    }
    free(b);
}

static void test_lies(void **state)
{
    (void)state;
    char err[256];
    gguf_t *g;
    uint8_t hdr[64] = "GGUF";
    uint32_t v = 3;
    memcpy(hdr + 4, &v, 4);
    uint64_t big = (uint64_t)1 << 60, zero = 0;
    /* absurd key/value count */
    memcpy(hdr + 8, &zero, 8);
    memcpy(hdr + 16, &big, 8);
    assert_int_equal(gguf_open_mem(hdr, 24, &g, err, sizeof err), RAGD_EFORMAT);
    assert_non_null(strstr(err, "key/values"));
    /* wrong magic and version */
    assert_int_equal(gguf_open_mem("GGUX\3\0\0\0", 8, &g, err, sizeof err), RAGD_EFORMAT);
    v = 9;
    memcpy(hdr + 4, &v, 4);
    assert_int_equal(gguf_open_mem(hdr, 24, &g, err, sizeof err), RAGD_EFORMAT);
    assert_non_null(strstr(err, "version"));
    /* a string claiming 2^60 bytes */
    uint8_t s[64] = "GGUF";
    v = 3;
    memcpy(s + 4, &v, 4);
    uint64_t one = 1;
    memcpy(s + 8, &zero, 8);
    memcpy(s + 16, &one, 8);
    memcpy(s + 24, &big, 8);
    assert_int_equal(gguf_open_mem(s, 40, &g, err, sizeof err), RAGD_EFORMAT);
    /* a tensor whose data lies past the end */
    write_sample(path);
    size_t len;
    uint8_t *b = slurp(path, &len);
    assert_int_equal(gguf_open_mem(b, len - 1, &g, err, sizeof err), RAGD_EFORMAT);
    assert_non_null(strstr(err, "beyond the end"));
    free(b);
    assert_int_equal(gguf_open("/nonexistent/x.gguf", &g, err, sizeof err), RAGD_EIO);
}

/* The resident copy (gguf_open_resident) reads the same file the mapping does: same tensors,
 * same bytes, 2 MiB-aligned; a file that cannot be opened fails as gguf_open does. */
static void test_resident(void **state)
{
    (void)state;
    write_sample(path);
    gguf_t *g, *r;
    char err[256];
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_open_resident(path, &r, err, sizeof err), 0);
    assert_int_equal(gguf_n_tensors(r), gguf_n_tensors(g));
    const char *names[] = {"a", "b"};
    for (int k = 0; k < 2; k++) {
        const struct gguf_tensor *a = gguf_find_tensor(g, names[k]),
                                 *b = gguf_find_tensor(r, names[k]);
        assert_non_null(b);
        assert_int_equal(a->nbytes, b->nbytes);
        assert_memory_equal(a->data, b->data, a->nbytes);
        assert_true(a->data != b->data);
    }
    uint32_t u;
    assert_int_equal(gguf_get_u32(r, "u32", &u), 0);
    assert_int_equal(u, 7);
    gguf_close(g);
    gguf_close(r);
    assert_int_equal(gguf_open_resident("/nonexistent/x.gguf", &r, err, sizeof err), RAGD_EIO);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/ragd-gguf-test-%d.gguf", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_nested_copy),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_lies),
        cmocka_unit_test(test_resident),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    return rc;
}
