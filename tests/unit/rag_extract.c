/* Unit tests for rag/extract: sniffing, Markdown/HTML/text extraction, PDFs built by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "rag/extract.h"

/* ---- a tiny PDF writer: objects in order, with a correct xref table ---- */

struct pdfbuf {
    char *p;
    size_t len, cap;
};

static void pb_add(struct pdfbuf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void pb_str(struct pdfbuf *b, const char *s)
{
    pb_add(b, s, strlen(s));
}

/* objs[i] is the body of object i+1. trailer_extra goes into the trailer dictionary. */
static struct pdfbuf make_pdf(const char *const *objs, int n, const char *trailer_extra)
{
    struct pdfbuf b = {0};
    size_t offs[16];
    pb_str(&b, "%PDF-1.4\n");
    for (int i = 0; i < n; i++) {
        char hdr[32];
        offs[i] = b.len;
        snprintf(hdr, sizeof hdr, "%d 0 obj\n", i + 1);
        pb_str(&b, hdr);
        pb_str(&b, objs[i]);
        pb_str(&b, "\nendobj\n");
    }
    size_t xref = b.len;
    char line[64];
    snprintf(line, sizeof line, "xref\n0 %d\n0000000000 65535 f \n", n + 1);
    pb_str(&b, line);
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, "%010zu 00000 n \n", offs[i]);
        pb_str(&b, line);
    }
    snprintf(line, sizeof line, "trailer\n<< /Size %d /Root 1 0 R ", n + 1);
    pb_str(&b, line);
    pb_str(&b, trailer_extra ? trailer_extra : "");
    snprintf(line, sizeof line, ">>\nstartxref\n%zu\n%%%%EOF\n", xref);
    pb_str(&b, line);
    return b;
}

#define CONTENT                                                                                    \
    "BT /F1 24 Tf 72 700 Td (Hello PDF World) Tj ET\nBT /F1 12 Tf 72 600 Td (Second block of "     \
    "text.) Tj ET"

static char stream_obj[256];

static const char *const *one_page_objs(void)
{
    static const char *objs[6];
    snprintf(stream_obj, sizeof stream_obj, "<< /Length %zu >>\nstream\n%s\nendstream",
             strlen(CONTENT), CONTENT);
    objs[0] = "<< /Type /Catalog /Pages 2 0 R >>";
    objs[1] = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>";
    objs[2] = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
              "/Resources << /Font << /F1 5 0 R >> >> >>";
    objs[3] = stream_obj;
    objs[4] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
    objs[5] = "<< /Title (Tiny Test Document) >>";
    return objs;
}

/* Regression: text that mentions the PDF header is text, a real header is a PDF. */
static void test_pdf_header_mentioned_in_text(void **state)
{
    (void)state;
    extract_type_t t;
    const char *txt = "Uploads are sniffed: a file starting with %PDF- is a PDF.\n";
    assert_int_equal(extract_sniff(txt, strlen(txt), &t, NULL), 0);
    assert_int_not_equal(t, EXTRACT_PDF);
    const char *md = "# Formats\n\nThe `%PDF-1.7` header marks a PDF.\n";
    assert_int_equal(extract_sniff(md, strlen(md), &t, NULL), 0);
    assert_int_not_equal(t, EXTRACT_PDF);
    const char *junk_then_pdf = "garbage line\n%PDF-1.4\n";
    assert_int_equal(extract_sniff(junk_then_pdf, strlen(junk_then_pdf), &t, NULL), 0);
    assert_int_equal(t, EXTRACT_PDF);
}

static void test_pdf_valid(void **state)
{
    (void)state;
    struct pdfbuf b = make_pdf(one_page_objs(), 6, "/Info 6 0 R ");
    extract_type_t type;
    assert_int_equal(extract_sniff(b.p, b.len, &type, NULL), 0);
    assert_int_equal(type, EXTRACT_PDF);
    extract_result_t *r = NULL;
    extract_reason_t why;
    int rc = extract_document(b.p, b.len, NULL, &r, &why);
    assert_int_equal(rc, 0);
    assert_non_null(r);
    assert_int_equal(r->type, EXTRACT_PDF);
    assert_int_equal(r->pages, 1);
    assert_non_null(strstr(r->text, "Hello PDF World"));
    assert_non_null(strstr(r->text, "Second block of text."));
    assert_string_equal(r->title, "Tiny Test Document");
    extract_result_free(r);
    free(b.p);
}

static void test_pdf_title_falls_back_to_first_line(void **state)
{
    (void)state;
    struct pdfbuf b = make_pdf(one_page_objs(), 5, NULL);
    extract_result_t *r = NULL;
    assert_int_equal(extract_document(b.p, b.len, NULL, &r, NULL), 0);
    assert_string_equal(r->title, "Hello PDF World");
    extract_result_free(r);
    free(b.p);
}

static void expect_pdf_error(const void *data, size_t len, int want_rc, extract_reason_t want_why)
{
    extract_result_t *r = (extract_result_t *)1;
    extract_reason_t why = EXTRACT_OK;
    int rc = extract_document(data, len, NULL, &r, &why);
    assert_int_equal(rc, want_rc);
    assert_null(r);
    assert_int_equal(why, want_why);
}

static void test_pdf_malformed(void **state)
{
    (void)state;
    struct pdfbuf b = make_pdf(one_page_objs(), 6, "/Info 6 0 R ");
    /* header only */
    expect_pdf_error("%PDF-1.7\n", 9, RAGD_EFORMAT, EXTRACT_PDF_MALFORMED);
    /* garbage after the header */
    const char junk[] = "%PDF-1.4\n\x01\x02garbage garbage <<<< >> ]] obj endobj";
    expect_pdf_error(junk, sizeof junk - 1, RAGD_EFORMAT, EXTRACT_PDF_MALFORMED);
    /* truncated at every length: never a crash, never success without text */
    for (size_t cut = 5; cut < b.len; cut += 7) {
        extract_result_t *r = NULL;
        extract_reason_t why;
        int rc = extract_document(b.p, cut, NULL, &r, &why);
        if (rc == 0) {
            assert_non_null(r);
            assert_true(r->text_len > 0);
            extract_result_free(r);
        } else {
            assert_null(r);
            assert_true(why == EXTRACT_PDF_MALFORMED || why == EXTRACT_PDF_NO_TEXT);
        }
    }
    /* catalog pointing at missing objects */
    const char *bad[] = {"<< /Type /Catalog /Pages 7 0 R >>"};
    struct pdfbuf c = make_pdf(bad, 1, NULL);
    expect_pdf_error(c.p, c.len, RAGD_EFORMAT, EXTRACT_PDF_MALFORMED);
    /* corrupted content stream length and bytes flipped in the middle */
    for (size_t k = 9; k < b.len; k += 13) {
        char *m = malloc(b.len);
        memcpy(m, b.p, b.len);
        m[k] ^= 0x5A;
        extract_result_t *r = NULL;
        if (extract_document(m, b.len, NULL, &r, NULL) == 0) extract_result_free(r);
        free(m);
    }
    free(c.p);
    free(b.p);
}

static void test_pdf_no_text(void **state)
{
    (void)state;
    const char *objs[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    };
    struct pdfbuf b = make_pdf(objs, 3, NULL);
    expect_pdf_error(b.p, b.len, RAGD_EINVAL, EXTRACT_PDF_NO_TEXT);
    free(b.p);
}

static void test_pdf_encrypted(void **state)
{
    (void)state;
    const char **objs = malloc(7 * sizeof *objs);
    memcpy(objs, one_page_objs(), 6 * sizeof *objs);
    /* Standard security handler, RC4 40-bit, with an owner/user entry that the empty
     * password cannot satisfy. */
    objs[6] = "<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44 "
              "/O <0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef> "
              "/U <fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210> >>";
    struct pdfbuf b = make_pdf(objs, 7,
                               "/Encrypt 7 0 R /ID [<00112233445566778899aabbccddeeff> "
                               "<00112233445566778899aabbccddeeff>] ");
    expect_pdf_error(b.p, b.len, RAGD_EPERM, EXTRACT_PDF_ENCRYPTED);
    free(b.p);
    free(objs);
}

static void test_pdf_two_pages(void **state)
{
    (void)state;
    const char *objs[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        "<< /Length 41 >>\nstream\nBT /F1 12 Tf 72 700 Td (Page one.) Tj ET\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 7 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        "<< /Length 41 >>\nstream\nBT /F1 12 Tf 72 700 Td (Page two.) Tj ET\nendstream",
    };
    struct pdfbuf b = make_pdf(objs, 7, NULL);
    extract_result_t *r = NULL;
    assert_int_equal(extract_document(b.p, b.len, NULL, &r, NULL), 0);
    assert_int_equal(r->pages, 2);
    assert_string_equal(r->text, "Page one.\n\nPage two.");
    extract_result_free(r);
    /* max_pages limits the pages read */
    extract_opts_t o = {.max_pages = 1};
    assert_int_equal(extract_document(b.p, b.len, &o, &r, NULL), 0);
    assert_string_equal(r->text, "Page one.");
    extract_result_free(r);
    free(b.p);
}

/* every extraction has its own MuPDF context: concurrent extractions are independent */
static void *pdf_worker(void *arg)
{
    struct pdfbuf *b = arg;
    intptr_t ok = 0;
    for (int i = 0; i < 20; i++) {
        extract_result_t *r = NULL;
        if (extract_document(b->p, b->len, NULL, &r, NULL) == 0 &&
            strstr(r->text, "Hello PDF World"))
            ok++;
        extract_result_free(r);
        /* and a broken one in between */
        if (extract_document(b->p, b->len / 2, NULL, &r, NULL) == 0) extract_result_free(r);
    }
    return (void *)ok;
}

static void test_pdf_threads(void **state)
{
    (void)state;
    struct pdfbuf b = make_pdf(one_page_objs(), 6, "/Info 6 0 R ");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, pdf_worker, &b);
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(th[i], &ok);
        assert_int_equal((intptr_t)ok, 20);
    }
    free(b.p);
}

/* ---- text formats ---- */

static extract_result_t *extract_ok(const char *s, extract_type_t want)
{
    extract_result_t *r = NULL;
    extract_reason_t why;
    int rc = extract_document(s, strlen(s), NULL, &r, &why);
    if (rc) fprintf(stderr, "extract failed: %d %s\n", rc, extract_reason_str(why));
    assert_int_equal(rc, 0);
    assert_int_equal(r->type, want);
    return r;
}

static void test_binary_junk(void **state)
{
    (void)state;
    unsigned char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    extract_result_t *r = (extract_result_t *)1;
    extract_reason_t why;
    assert_int_equal(extract_document(junk, sizeof junk, NULL, &r, &why), RAGD_EINVAL);
    assert_null(r);
    assert_int_equal(why, EXTRACT_BINARY);
    /* an ELF header: NUL bytes */
    const char elf[] = "\x7f"
                       "ELF\x02\x01\x01\x00\x00\x00";
    assert_int_equal(extract_document(elf, sizeof elf - 1, NULL, &r, &why), RAGD_EINVAL);
    assert_int_equal(why, EXTRACT_BINARY);
    /* Latin-1 text: mostly fine, but not UTF-8 */
    const char latin1[] = "Caf\xe9 au lait and cr\xe8me br\xfbl\xe9"
                          "e are French desserts.";
    assert_int_equal(extract_document(latin1, sizeof latin1 - 1, NULL, &r, &why), RAGD_EINVAL);
    assert_int_equal(why, EXTRACT_BAD_UTF8);
    /* overlong encoding and surrogates are invalid */
    const char overlong[] = "abc \xc0\xaf def and more plain text here to keep the ratio low";
    assert_int_equal(extract_document(overlong, sizeof overlong - 1, NULL, &r, &why), RAGD_EINVAL);
    assert_int_equal(why, EXTRACT_BAD_UTF8);
    const char surrogate[] = "abc \xed\xa0\x80 def and more plain text here to keep it low";
    assert_int_equal(extract_document(surrogate, sizeof surrogate - 1, NULL, &r, &why),
                     RAGD_EINVAL);
    /* empty and whitespace-only */
    assert_int_equal(extract_document("", 0, NULL, &r, &why), RAGD_EINVAL);
    assert_int_equal(why, EXTRACT_EMPTY);
    assert_int_equal(extract_document(" \n\t\n", 4, NULL, &r, &why), RAGD_EINVAL);
    assert_int_equal(why, EXTRACT_EMPTY);
    assert_string_not_equal(extract_reason_str(EXTRACT_BINARY), "unknown");
}

static void test_utf16(void **state)
{
    (void)state;
    /* "# Hi\n\nCaf\u00e9 \U0001F600" in UTF-16LE and UTF-16BE with BOMs */
    const uint16_t units[] = {'#',    ' ',    'H',  'i', '\n', '\n', 'C',  'a', 'f', 0xE9, ' ',
                              0xD83D, 0xDE00, '\n', '-', ' ',  'x',  '\n', '-', ' ', 'y'};
    size_t nu = sizeof units / sizeof *units;
    unsigned char le[64], be[64];
    le[0] = 0xFF, le[1] = 0xFE, be[0] = 0xFE, be[1] = 0xFF;
    for (size_t i = 0; i < nu; i++) {
        le[2 + 2 * i] = (unsigned char)(units[i] & 0xFF);
        le[3 + 2 * i] = (unsigned char)(units[i] >> 8);
        be[2 + 2 * i] = (unsigned char)(units[i] >> 8);
        be[3 + 2 * i] = (unsigned char)(units[i] & 0xFF);
    }
    for (int k = 0; k < 2; k++) {
        extract_result_t *r = NULL;
        extract_type_t t;
        assert_int_equal(extract_sniff(k ? be : le, 2 + 2 * nu, &t, NULL), 0);
        assert_int_equal(t, EXTRACT_MARKDOWN);
        assert_int_equal(extract_document(k ? be : le, 2 + 2 * nu, NULL, &r, NULL), 0);
        assert_string_equal(r->title, "Hi");
        assert_string_equal(r->text, "Hi\n\nCaf\xc3\xa9 \xf0\x9f\x98\x80\n\nx\ny");
        extract_result_free(r);
    }
    /* an unpaired surrogate or an odd length is rejected */
    extract_result_t *r = NULL;
    extract_reason_t why;
    le[2 + 2 * 12] = 'A', le[3 + 2 * 12] = 0; /* low half of the pair replaced */
    assert_int_equal(extract_document(le, 2 + 2 * nu, NULL, &r, &why), RAGD_EINVAL);
    assert_int_equal(why, EXTRACT_BAD_UTF8);
    assert_int_equal(extract_document(be, 1 + 2 * nu, NULL, &r, &why), RAGD_EINVAL);
}

static void test_too_large(void **state)
{
    (void)state;
    extract_opts_t o = {.max_input = 10};
    extract_result_t *r;
    extract_reason_t why;
    assert_int_equal(extract_document("hello world, this is long", 25, &o, &r, &why), RAGD_ERANGE);
    assert_int_equal(why, EXTRACT_TOO_LARGE);
    extract_opts_t o2 = {.max_text = 8};
    assert_int_equal(extract_document("hello world, this is long", 25, &o2, &r, &why), RAGD_ERANGE);
}

static void test_plain_text(void **state)
{
    (void)state;
    extract_result_t *r = extract_ok("\xEF\xBB\xBF  First line of the note\nwrapped here.\n\n\n"
                                     "Second   paragraph.\r\n",
                                     EXTRACT_TEXT);
    assert_string_equal(r->text, "First line of the note wrapped here.\n\nSecond paragraph.");
    assert_string_equal(r->title, "First line of the note wrapped here.");
    extract_result_free(r);
}

static void test_markdown(void **state)
{
    (void)state;
    const char *md = "# Getting *Started*\n"
                     "\n"
                     "Install **ragd** with `make run` and read the [guide](https://x.org/g).\n"
                     "A snake_case name stays, and 2 * 3 = 6.\n"
                     "\n"
                     "## Steps\n"
                     "- first item\n"
                     "- second [link][ref]\n"
                     "1. numbered\n"
                     "\n"
                     "```c\n"
                     "int main(void)\n"
                     "{\n"
                     "    return 0;\n"
                     "}\n"
                     "```\n"
                     "> quoted text\n"
                     "\n"
                     "| a | b |\n"
                     "|---|---|\n"
                     "| 1 | 2 |\n"
                     "\n"
                     "[ref]: https://example.org\n"
                     "![diagram](img.png) \\*not emphasis\\*\n";
    extract_result_t *r = extract_ok(md, EXTRACT_MARKDOWN);
    const char *want = "Getting Started\n\n"
                       "Install ragd with make run and read the guide. A snake_case name "
                       "stays, and 2 * 3 = 6.\n\n"
                       "Steps\n\n"
                       "first item\nsecond link\nnumbered\n\n"
                       "int main(void)\n{\n    return 0;\n}\n\n"
                       "quoted text\n\n"
                       "a b\n1 2\n\n"
                       "diagram *not emphasis*";
    if (strcmp(r->text, want) != 0) fprintf(stderr, "got:\n[%s]\n", r->text);
    assert_string_equal(r->text, want);
    assert_string_equal(r->title, "Getting Started");
    extract_result_free(r);

    r = extract_ok("Setext Title\n============\n\nBody text with **bold** words.\n\n"
                   "- a\n- b\n",
                   EXTRACT_MARKDOWN);
    assert_string_equal(r->title, "Setext Title");
    assert_string_equal(r->text, "Setext Title\n\nBody text with bold words.\n\na\nb");
    extract_result_free(r);
}

static void test_html(void **state)
{
    (void)state;
    const char *html =
        "<!DOCTYPE html><html><head><title>The &amp; Page</title>"
        "<style>body { color: red; }</style><script>var x = '<p>no</p>';</script></head>"
        "<body><h1>Main   heading</h1><p>Caf&eacute; &#233;&#xE9; &lt;tag&gt; &unknown; "
        "A&nbsp;B</p>"
        "<!-- a comment <p>hidden</p> -->"
        "<ul><li>one</li><li>two</li></ul><div>x<br>y</div>"
        "<table><tr><td>c1</td><td>c2</td></tr></table>"
        "<pre>  code\n  lines</pre><p>a < b and &#0; &#xD800; end</p></body></html>";
    extract_result_t *r = extract_ok(html, EXTRACT_HTML);
    const char *want = "Main heading\n\n"
                       "Caf\xc3\xa9 \xc3\xa9\xc3\xa9 <tag> &unknown; A B\n\n"
                       "one\ntwo\n\nx\ny\n\nc1 c2\n\n"
                       "  code\n  lines\n\n"
                       "a < b and end";
    if (strcmp(r->text, want) != 0) fprintf(stderr, "got:\n[%s]\n", r->text);
    assert_string_equal(r->text, want);
    assert_string_equal(r->title, "The & Page");
    extract_result_free(r);

    /* fragment without a doctype: sniffed by its tags; title from the first heading */
    r = extract_ok("<div><h2>Fragment</h2><p>text</p></div>", EXTRACT_HTML);
    assert_string_equal(r->title, "Fragment");
    assert_string_equal(r->text, "Fragment\n\ntext");
    extract_result_free(r);

    /* unterminated constructs do not crash or loop */
    const char *bad[] = {"<html><script>never closed",
                         "<html><!-- open comment",
                         "<html><p title=\"unterminated",
                         "<html><title>t",
                         "<html>&#x",
                         "<html><a href='x'>link",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        extract_result_t *x = NULL;
        if (extract_document(bad[i], strlen(bad[i]), NULL, &x, NULL) == 0) extract_result_free(x);
    }
}

static void test_sniff(void **state)
{
    (void)state;
    extract_type_t t;
    assert_int_equal(extract_sniff("hello there", 11, &t, NULL), 0);
    assert_int_equal(t, EXTRACT_TEXT);
    assert_int_equal(extract_sniff("# Title\n\ntext", 13, &t, NULL), 0);
    assert_int_equal(t, EXTRACT_MARKDOWN);
    assert_int_equal(extract_sniff("<p>a</p><p>b</p>", 16, &t, NULL), 0);
    assert_int_equal(t, EXTRACT_HTML);
    /* the name of a file means nothing: HTML is HTML, text stays text */
    assert_int_equal(extract_sniff("I think 3 < 4 and 5 > 2.", 24, &t, NULL), 0);
    assert_int_equal(t, EXTRACT_TEXT);
    assert_string_equal(extract_type_name(EXTRACT_PDF), "pdf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pdf_header_mentioned_in_text),
        cmocka_unit_test(test_pdf_valid),
        cmocka_unit_test(test_pdf_title_falls_back_to_first_line),
        cmocka_unit_test(test_pdf_malformed),
        cmocka_unit_test(test_pdf_no_text),
        cmocka_unit_test(test_pdf_encrypted),
        cmocka_unit_test(test_pdf_threads),
        cmocka_unit_test(test_pdf_two_pages),
        cmocka_unit_test(test_binary_junk),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_plain_text),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_sniff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
