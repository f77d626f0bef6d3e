/* error.h - project-wide status codes. Functions return 0 or a negative RAGD_E* code. */
#ifndef RAGD_ERROR_H
#define RAGD_ERROR_H

#include <stddef.h>

enum {
    RAGD_OK = 0,
    RAGD_ENOMEM = -1,       /* allocation failed (try_ paths only) */
    RAGD_EINVAL = -2,       /* invalid argument or input */
    RAGD_EIO = -3,          /* read/write/system call failed */
    RAGD_ENOTFOUND = -4,    /* no such object */
    RAGD_EEXIST = -5,       /* object already exists (unique key) */
    RAGD_EFORMAT = -6,      /* malformed file or data */
    RAGD_ERANGE = -7,       /* value or size out of range */
    RAGD_EDB = -8,          /* database error */
    RAGD_EPERM = -9,        /* not allowed */
    RAGD_EUNAVAIL = -10,    /* backend or resource unavailable */
    RAGD_ELIMIT = -11,      /* a limit or quota was reached */
    RAGD_ENOTSUP = -12,     /* not supported / not implemented */
    RAGD_ECONFLICT = -13,   /* concurrent modification or state conflict */
    RAGD_ETIMEOUT = -14,    /* timed out */
    RAGD_ENOSPC = -15,      /* no space left to store a write (disk or database full) */
    RAGD_ENOPROVIDER = -16, /* every provider key of a feature failed or is unusable */
};

/* A static, human-readable message for a status code. Cannot fail. */
const char *ragd_strerror(int code);

/* Writes a printf message into err (when err and errcap are non-zero) and returns rc, for
 * "return ragd_errf(err, errcap, RAGD_EFORMAT, "bad %s", what);". */
int ragd_errf(char *err, size_t errcap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
