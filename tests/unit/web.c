/* The web UI's file serving, below HTTP: Accept-Encoding and If-None-Match parsing, the path
 * segment rule that keeps requests inside the static folder, content types, gzip copies that
 * inflate back to the file, strong ETags from the content, and reloading a changed file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "api/web.c"

static void test_accepts_gzip(void **state)
{
    (void)state;
    assert_true(accepts_gzip("gzip"));
    assert_true(accepts_gzip("gzip, deflate, br"));
    assert_true(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    assert_true(accepts_gzip("x-gzip"));
    assert_true(accepts_gzip("*"));
    assert_false(accepts_gzip(NULL));
    assert_false(accepts_gzip(""));
    assert_false(accepts_gzip("identity"));
    assert_false(accepts_gzip("br, deflate"));
    assert_false(accepts_gzip("gzip;q=0"));
    assert_false(accepts_gzip("gzip; q=0.0, br"));
    assert_false(accepts_gzip("*, gzip;q=0")); /* named refusal wins over the wildcard */
    assert_false(accepts_gzip("*;q=0"));
    assert_false(accepts_gzip("gzipx, xgzip"));
}

static void test_etag_matches(void **state)
{
    (void)state;
    const char *e = "\"0123456789abcdef\"";
    assert_true(etag_matches(e, e));
    assert_true(etag_matches("W/\"0123456789abcdef\"", e));
    assert_true(etag_matches("\"x\", \"0123456789abcdef\"", e));
    assert_true(etag_matches("*", e));
    assert_false(etag_matches(NULL, e));
    assert_false(etag_matches("", e));
    assert_false(etag_matches("\"0123456789abcdef-gz\"", e));
    assert_false(etag_matches("\"0123456789abcde\"", e));
    assert_false(etag_matches("0123456789abcdef", e));
    assert_false(etag_matches("\"0123456789abcdef", e)); /* unterminated */
}

static void test_segments(void **state)
{
    (void)state;
    assert_true(segment_ok("app.js"));
    assert_true(segment_ok("views"));
    assert_true(segment_ok("a_b-c.1.css"));
    assert_false(segment_ok(NULL));
    assert_false(segment_ok(""));
    assert_false(segment_ok(".."));
    assert_false(segment_ok("."));
    assert_false(segment_ok(".env"));
    assert_false(segment_ok("a/b"));
    assert_false(segment_ok("..%2f"));
    assert_false(segment_ok("a\\b"));
    assert_false(segment_ok("a b"));
    assert_false(segment_ok("caf\xc3\xa9"));
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(segment_ok(longname));
    assert_true(under("/srv/web/static/x.js", "/srv/web/static"));
    assert_true(under("/srv/web/static", "/srv/web/static"));
    assert_false(under("/srv/web/static2/x.js", "/srv/web/static"));
    assert_false(under("/srv/web/x.js", "/srv/web/static"));
    assert_false(under("/srv/web/x.js", ""));
    assert_true(under("/usr/share/javascript/marked/marked.min.js", "/"));
    assert_true(under("/srv/web/static/x.js", "/srv/web/static/"));
}

static void test_mime(void **state)
{
    (void)state;
    int text;
    assert_string_equal(mime_for("a/index.html", &text), "text/html; charset=utf-8");
    assert_true(text);
    assert_string_equal(mime_for("app.JS", &text), "text/javascript; charset=utf-8");
    assert_string_equal(mime_for("app.css", NULL), "text/css; charset=utf-8");
    assert_string_equal(mime_for("icon.svg", NULL), "image/svg+xml");
    assert_string_equal(mime_for("p.png", &text), "image/png");
    assert_false(text);
    assert_string_equal(mime_for("noext", &text), "application/octet-stream");
    assert_false(text);
    assert_string_equal(mime_for(".js", NULL), "application/octet-stream");
}

static char dir[64];

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void test_file_cache(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ragd-web-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/app.js", dir);
    struct sbuf body;
    sb_init(&body);
    for (int i = 0; i < 200; i++)
        sb_printf(&body, "export const line%d = 'the same words again and again';\n", i);
    write_file(path, body.s);

    struct web_file *f, *g;
    assert_int_equal(file_get(path, &f), 0);
    assert_int_equal(f->len, body.len);
    assert_string_equal(f->type, "text/javascript; charset=utf-8");
    char hex[65];
    sha256_hex(body.s, body.len, hex);
    char want[32];
    snprintf(want, sizeof want, "\"%.16s\"", hex);
    assert_string_equal(f->etag, want);
    assert_string_not_equal(f->etag, f->etag_gz);
    /* The gzip copy is smaller and inflates back to the file. */
    assert_non_null(f->gz);
    assert_true(f->gzlen < f->len / 4);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    char *out = malloc(f->len + 16);
    z.next_in = (Bytef *)f->gz;
    z.avail_in = (uInt)f->gzlen;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)f->len + 16;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, f->len);
    assert_memory_equal(out, body.s, f->len);
    inflateEnd(&z);
    free(out);

    /* Unchanged: the same entry. */
    assert_int_equal(file_get(path, &g), 0);
    assert_ptr_equal(f, g);
    file_unref(g);

    /* Changed on disk: a new entry with a new ETag; the old reference stays valid. */
    write_file(path, "export const x = 1;\n");
    struct timespec ts[2] = {{0, UTIME_NOW}, {time(NULL) + 5, 0}};
    utimensat(AT_FDCWD, path, ts, 0);
    assert_int_equal(file_get(path, &g), 0);
    assert_ptr_not_equal(f, g);
    assert_string_equal(g->data, "export const x = 1;\n");
    assert_null(g->gz); /* too small to be worth compressing */
    assert_string_not_equal(f->etag, g->etag);
    assert_int_equal(f->len, body.len);
    file_unref(f);
    file_unref(g);

    /* Not a regular file, or missing. */
    assert_int_equal(file_get(dir, &f), RAGD_ENOTFOUND);
    snprintf(path, sizeof path, "%s/missing.js", dir);
    assert_int_equal(file_get(path, &f), RAGD_ENOTFOUND);
    sb_free(&body);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_find_web_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ragd-web-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128];
    setenv("WEB_DIR", dir, 1);
    assert_int_equal(find_web_dir(), RAGD_ENOTFOUND); /* no index.html */
    assert_string_equal(web_root, "");
    snprintf(path, sizeof path, "%s/index.html", dir);
    write_file(path, "<!doctype html>");
    snprintf(path, sizeof path, "%s/static", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(find_web_dir(), 0);
    assert_string_equal(web_root, dir);
    assert_string_equal(static_root, path);
    unsetenv("WEB_DIR");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_gzip), cmocka_unit_test(test_etag_matches),
        cmocka_unit_test(test_segments),     cmocka_unit_test(test_mime),
        cmocka_unit_test(test_file_cache),   cmocka_unit_test(test_find_web_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
