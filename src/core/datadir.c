/* datadir.c - a private data directory; see datadir.h. */
#include "core/datadir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

enum { PRIVATE_BITS = S_IRWXG | S_IRWXO };

static int changed, failed_errno;
static char failed_path[256];

static int tighten_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_SL || type == FTW_SLN || !(st->st_mode & PRIVATE_BITS)) return 0;
    if (chmod(path, st->st_mode & 07777 & ~(mode_t)PRIVATE_BITS)) {
        failed_errno = errno;
        snprintf(failed_path, sizeof failed_path, "%s", path);
        return 1;
    }
    changed++;
    return 0;
}

int datadir_prepare(const char *path, int *tightened, char *err, size_t errcap)
{
    umask(077);
    if (tightened) *tightened = 0;
    if (!mkdir(path, 0700)) return 0;
    if (errno != EEXIST) {
        snprintf(err, errcap, "cannot create data dir %s: %s", path, strerror(errno));
        return RAGD_EIO;
    }
    /* One caller at start-up, before any thread: the walk's statics are not shared. */
    changed = 0;
    failed_errno = 0;
    if (nftw(path, tighten_entry, 16, FTW_PHYS) && failed_errno) {
        snprintf(err, errcap, "cannot make %s private (chmod): %s", failed_path,
                 strerror(failed_errno));
        return RAGD_EIO;
    }
    if (tightened) *tightened = changed;
    return 0;
}

int datadir_tighten_file(const char *path)
{
    struct stat st;
    if (stat(path, &st)) return 0;
    if (!S_ISREG(st.st_mode) || !(st.st_mode & PRIVATE_BITS)) return 0;
    return chmod(path, st.st_mode & 07777 & ~(mode_t)PRIVATE_BITS) ? RAGD_EIO : 1;
}
