/* store_fixture.h - a fresh SQLite store in a temporary directory for unit tests that need
 * the database: fixture_db_open() before registering migrations and store_migrate(),
 * fixture_db_close() to close it and remove the directory. Header-only: each test binary is
 * one translation unit. */
#ifndef RAGD_TEST_STORE_FIXTURE_H
#define RAGD_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "store/db.h"

static char fixture_dir[64];

/* 0, or -1 when the directory or the database cannot be made. */
static inline int fixture_db_open(void)
{
    char url[128], err[256];
    snprintf(fixture_dir, sizeof fixture_dir, "/tmp/ragd-unit-XXXXXX");
    if (!mkdtemp(fixture_dir)) return -1;
    snprintf(url, sizeof url, "sqlite://%s/t.db", fixture_dir);
    return db_open(url, err, sizeof err) ? -1 : 0;
}

/* Closes the database and removes its directory; 0 on success. */
static inline int fixture_db_close(void)
{
    char cmd[128];
    db_close();
    snprintf(cmd, sizeof cmd, "rm -rf %s", fixture_dir);
    return system(cmd);
}

#endif
