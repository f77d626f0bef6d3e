/* extract.h - document type sniffing and plain-text extraction.
 *
 * The type of an uploaded document is decided from its bytes, never from its name:
 *   PDF       "%PDF-" within the first 1024 bytes (text through MuPDF, PDF handler only)
 *   HTML      a doctype / <html> opening, or several well-known tags
 *   Markdown  enough Markdown line syntax (ATX headings, fences, lists, links, emphasis)
 *   text      anything else that is valid UTF-8 and not binary
 * Everything except PDF must be valid UTF-8 (an optional BOM is skipped) or UTF-16 with a
 * byte order mark (converted to UTF-8 first); NUL bytes or a high share of control
 * characters mean binary data, which is rejected.
 *
 * The extracted text keeps the document's structure in a simple form that the chunker
 * understands: blocks (headings, paragraphs, list items groups, code blocks, PDF text
 * blocks) are separated by one blank line ("\n\n"); a single "\n" is a line break inside
 * a block (list items, code lines). The text is valid UTF-8 without NULs or other control
 * characters except '\n' and '\t', without leading or trailing whitespace.
 *
 * Thread safety: every function may be called from several threads at once (each PDF
 * extraction uses its own MuPDF context). */
#ifndef RAGD_RAG_EXTRACT_H
#define RAGD_RAG_EXTRACT_H

#include <stddef.h>

typedef enum extract_type {
    EXTRACT_TEXT = 0,
    EXTRACT_MARKDOWN,
    EXTRACT_HTML,
    EXTRACT_PDF,
} extract_type_t;

/* Why an input was rejected: the detail behind a RAGD_E* status, for error messages. */
typedef enum extract_reason {
    EXTRACT_OK = 0,
    EXTRACT_EMPTY,         /* no bytes, or no text after extraction */
    EXTRACT_BINARY,        /* NUL bytes / control characters: not a text document */
    EXTRACT_BAD_UTF8,      /* text that is not valid UTF-8 */
    EXTRACT_TOO_LARGE,     /* input or extracted text over the configured limit */
    EXTRACT_PDF_ENCRYPTED, /* PDF needs a password */
    EXTRACT_PDF_MALFORMED, /* MuPDF could not open or read it */
    EXTRACT_PDF_NO_TEXT,   /* a readable PDF without extractable text (scans) */
} extract_reason_t;

typedef struct extract_opts {
    size_t max_input; /* bytes; 0 = 64 MiB */
    size_t max_text;  /* bytes of extracted text; 0 = 32 MiB */
    int max_pages;    /* PDF pages read at most; 0 = 5000 */
} extract_opts_t;

typedef struct extract_result {
    extract_type_t type;
    char *text;      /* NUL-terminated UTF-8 as described above; owned by the result */
    size_t text_len; /* strlen(text) */
    char *title;     /* best title guess, one line, may be "" (never NULL); owned */
    int pages;       /* PDF page count; 0 for other types */
} extract_result_t;

/* Decide the type of data[0..len). On success stores it in *type and returns 0. Returns
 * RAGD_EINVAL with *why = EXTRACT_EMPTY / EXTRACT_BINARY / EXTRACT_BAD_UTF8 when the bytes
 * are not a document we accept. why may be NULL. Cannot fail otherwise. */
int extract_sniff(const void *data, size_t len, extract_type_t *type, extract_reason_t *why);

/* Sniff and extract. opts may be NULL for the defaults. On success *out is a new result
 * (caller frees with extract_result_free) and 0 is returned; on error *out is NULL, *why
 * (if why is not NULL) says why and the status is:
 *   RAGD_EINVAL   empty / binary / invalid UTF-8 / PDF without text
 *   RAGD_ERANGE   too large
 *   RAGD_EFORMAT  malformed PDF
 *   RAGD_EPERM    encrypted PDF
 *   RAGD_ENOMEM   MuPDF ran out of its memory budget */
int extract_document(const void *data, size_t len, const extract_opts_t *opts,
                     extract_result_t **out, extract_reason_t *why);

/* Free a result; NULL is a no-op. */
void extract_result_free(extract_result_t *r);

/* Static names: "text", "markdown", "html", "pdf"; and a message for a reason. */
const char *extract_type_name(extract_type_t type);
const char *extract_reason_str(extract_reason_t why);

#endif
