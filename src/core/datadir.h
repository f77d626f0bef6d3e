/* datadir.h - the data directory and the modes of what ragd keeps in it.
 *
 * Everything ragd writes (the SQLite database and its WAL/SHM files, index files, the JWT
 * secret, the node id) holds secrets or private documents: the directory is 0700 and every
 * file in it 0600, whatever the process umask was and however an older ragd or an operator
 * left an existing directory. */
#ifndef RAGD_CORE_DATADIR_H
#define RAGD_CORE_DATADIR_H

#include <stddef.h>

/* Sets the process umask to 077 (so files and directories created from now on are private
 * to the owner), creates path with mode 0700 if it does not exist, and otherwise removes the
 * group and other permission bits from it and from everything under it (symbolic links are
 * left alone and not followed). *tightened (may be NULL) gets how many entries were changed;
 * the caller logs it. Returns 0, or RAGD_EIO with a message in err. */
int datadir_prepare(const char *path, int *tightened, char *err, size_t errcap);

/* Removes the group and other permission bits from an existing file (a missing one is not an
 * error). Returns 1 if the mode was changed, 0 if not, RAGD_EIO if it could not be. */
int datadir_tighten_file(const char *path);

#endif
