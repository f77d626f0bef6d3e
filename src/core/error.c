#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *ragd_strerror(int code)
{
    switch (code) {
    case RAGD_OK:
        return "success";
    case RAGD_ENOMEM:
        return "out of memory";
    case RAGD_EINVAL:
        return "invalid argument";
    case RAGD_EIO:
        return "input/output error";
    case RAGD_ENOTFOUND:
        return "not found";
    case RAGD_EEXIST:
        return "already exists";
    case RAGD_EFORMAT:
        return "malformed data";
    case RAGD_ERANGE:
        return "out of range";
    case RAGD_EDB:
        return "database error";
    case RAGD_EPERM:
        return "not permitted";
    case RAGD_EUNAVAIL:
        return "unavailable";
    case RAGD_ELIMIT:
        return "limit reached";
    case RAGD_ENOTSUP:
        return "not supported";
    case RAGD_ECONFLICT:
        return "conflict";
    case RAGD_ETIMEOUT:
        return "timed out";
    case RAGD_ENOSPC:
        return "no space left to store the write";
    case RAGD_ENOPROVIDER:
        return "no provider could answer";
    }
    return "unknown error";
}

int ragd_errf(char *err, size_t errcap, int rc, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return rc;
}
