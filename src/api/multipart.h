/* multipart.h - a strict parser for multipart/form-data request bodies (RFC 7578).
 *
 * The body is parsed in place: parts point into it, nothing is copied. Limits: at most
 * MULTIPART_MAX_PARTS parts, header lines of at most 1024 bytes, no nested multiparts. */
#ifndef RAGD_MULTIPART_H
#define RAGD_MULTIPART_H

#include <stddef.h>

enum { MULTIPART_MAX_PARTS = 32 };

struct multipart_part {
    char name[128];     /* form field name */
    char filename[256]; /* "" when the part is not a file */
    char content_type[128];
    const char *data; /* points into the body */
    size_t len;
};

/* Extracts the boundary from a Content-Type header value ("multipart/form-data;
 * boundary=..."). Returns 0, or RAGD_EINVAL when it is not multipart/form-data or the
 * boundary is missing or longer than 70 characters. */
int multipart_boundary(const char *content_type, char out[80]);

/* Parses body[0..len) delimited by boundary into parts[0..*n). Returns 0 or RAGD_EFORMAT
 * (with a reason in err) for anything malformed: missing delimiters, a part without a
 * Content-Disposition name, too many parts, an unterminated body. */
int multipart_parse(const char *body, size_t len, const char *boundary,
                    struct multipart_part *parts, size_t *n, char *err, size_t errcap);

/* The first part named name, or NULL. */
const struct multipart_part *multipart_find(const struct multipart_part *parts, size_t n,
                                            const char *name);

#endif
