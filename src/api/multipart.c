/* multipart.c - multipart/form-data parsing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/multipart.h"
#include "core/error.h"

int multipart_boundary(const char *ct, char out[80])
{
    if (!ct || strncasecmp(ct, "multipart/form-data", 19)) return RAGD_EINVAL;
    const char *p = ct + 19;
    while (*p) {
        while (*p == ';' || *p == ' ' || *p == '\t')
            p++;
        if (!strncasecmp(p, "boundary=", 9)) {
            p += 9;
            size_t n = 0;
            if (*p == '"') {
                p++;
                while (p[n] && p[n] != '"')
                    n++;
                if (p[n] != '"') return RAGD_EINVAL;
            } else {
                while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t')
                    n++;
            }
            if (n == 0 || n > 70) return RAGD_EINVAL;
            memcpy(out, p, n);
            out[n] = '\0';
            return 0;
        }
        while (*p && *p != ';')
            p++;
    }
    return RAGD_EINVAL;
}

/* Reads a parameter value (quoted or token) at p into out; returns the end or NULL. */
static const char *param_value(const char *p, const char *end, char *out, size_t cap)
{
    size_t k = 0;
    if (p < end && *p == '"') {
        p++;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end) p++;
            if (k + 1 >= cap) return NULL;
            out[k++] = *p++;
        }
        if (p >= end) return NULL;
        p++;
    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
            if (k + 1 >= cap) return NULL;
            out[k++] = *p++;
        }
    }
    out[k] = '\0';
    return p;
}

static int disposition(const char *v, const char *end, struct multipart_part *part)
{
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    if ((size_t)(end - v) < 9 || strncasecmp(v, "form-data", 9)) return -1;
    v += 9;
    int have_name = 0;
    while (v < end) {
        while (v < end && (*v == ';' || *v == ' ' || *v == '\t'))
            v++;
        if (v >= end) break;
        if ((size_t)(end - v) >= 5 && !strncasecmp(v, "name=", 5)) {
            v = param_value(v + 5, end, part->name, sizeof part->name);
            have_name = 1;
        } else if ((size_t)(end - v) >= 9 && !strncasecmp(v, "filename=", 9)) {
            v = param_value(v + 9, end, part->filename, sizeof part->filename);
        } else {
            char skip[256];
            while (v < end && *v != '=' && *v != ';')
                v++;
            if (v < end && *v == '=') v = param_value(v + 1, end, skip, sizeof skip);
        }
        if (!v) return -1;
    }
    return have_name && part->name[0] ? 0 : -1;
}

int multipart_parse(const char *body, size_t len, const char *boundary,
                    struct multipart_part *parts, size_t *n, char *err, size_t errcap)
{
    char delim[84];
    int dl = snprintf(delim, sizeof delim, "--%s", boundary);
    *n = 0;
    if (dl <= 2 || (size_t)dl >= sizeof delim) {
        snprintf(err, errcap, "invalid multipart boundary");
        return RAGD_EFORMAT;
    }
    const char *end = body + len;
    /* The first delimiter: at the very start or after a line break (a preamble). */
    const char *p = NULL;
    if (len >= (size_t)dl && !memcmp(body, delim, (size_t)dl)) {
        p = body;
    } else {
        const char *s = body;
        while (s < end) {
            const char *f = memmem(s, (size_t)(end - s), delim, (size_t)dl);
            if (!f) break;
            if (f > body && f[-1] == '\n') {
                p = f;
                break;
            }
            s = f + 1;
        }
    }
    if (!p) {
        snprintf(err, errcap, "multipart body has no boundary line");
        return RAGD_EFORMAT;
    }
    for (;;) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* close delimiter; an epilogue is ignored */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
            p += 2;
        else if (p < end && *p == '\n')
            p++;
        else {
            snprintf(err, errcap, "multipart body ends without a closing boundary");
            return RAGD_EFORMAT;
        }
        if (*n == MULTIPART_MAX_PARTS) {
            snprintf(err, errcap, "more than %d multipart parts", MULTIPART_MAX_PARTS);
            return RAGD_EFORMAT;
        }
        struct multipart_part *part = &parts[*n];
        memset(part, 0, sizeof *part);
        int have_disp = 0;
        /* Headers up to an empty line. */
        for (;;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl || nl - p > 1024) {
                snprintf(err, errcap, "multipart part headers are malformed");
                return RAGD_EFORMAT;
            }
            const char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
            if (le == p) {
                p = nl + 1;
                break;
            }
            const char *colon = memchr(p, ':', (size_t)(le - p));
            if (!colon) {
                snprintf(err, errcap, "multipart part header without ':'");
                return RAGD_EFORMAT;
            }
            size_t hn = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            if (hn == 19 && !strncasecmp(p, "Content-Disposition", 19)) {
                if (disposition(v, le, part)) {
                    snprintf(err, errcap, "multipart part has an invalid Content-Disposition");
                    return RAGD_EFORMAT;
                }
                have_disp = 1;
            } else if (hn == 12 && !strncasecmp(p, "Content-Type", 12)) {
                size_t vl = (size_t)(le - v);
                if (vl >= sizeof part->content_type) vl = sizeof part->content_type - 1;
                memcpy(part->content_type, v, vl);
                part->content_type[vl] = '\0';
            }
            p = nl + 1;
        }
        if (!have_disp) {
            snprintf(err, errcap, "multipart part without Content-Disposition");
            return RAGD_EFORMAT;
        }
        /* Data up to CRLF (or LF) + delimiter. */
        const char *s = p, *next = NULL;
        while (s < end) {
            const char *f = memmem(s, (size_t)(end - s), delim, (size_t)dl);
            if (!f) break;
            if (f > p && f[-1] == '\n') {
                next = f;
                break;
            }
            s = f + 1;
        }
        if (!next) {
            snprintf(err, errcap, "multipart part is not terminated by a boundary");
            return RAGD_EFORMAT;
        }
        const char *de = next - 1;
        if (de > p && de[-1] == '\r') de--;
        part->data = p;
        part->len = (size_t)(de - p);
        (*n)++;
        p = next;
    }
}

const struct multipart_part *multipart_find(const struct multipart_part *parts, size_t n,
                                            const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(parts[i].name, name)) return &parts[i];
    return NULL;
}
