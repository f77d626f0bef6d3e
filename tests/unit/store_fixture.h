/* store_fixture.h - a fresh SQLite store in a temporary directory for unit tests that need
 * the database: fixture_db_open() before registering migrations and store_migrate(),
 * fixture_db_close() to close it and remove the directory. Header-only: each test binary is
 * one translation unit. */
#ifndef RAGD_TEST_STORE_FIXTURE_H
#define RAGD_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/store.h"

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

/* Creates an active user with email and a throwaway password hash in *u: 0 or a store
 * error. */
static inline int fixture_user(struct user *u, const char *email)
{
    memset(u, 0, sizeof *u);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->hashed_password, sizeof u->hashed_password, "$2b$04$x");
    u->is_active = 1;
    return store_user_create(u);
}

/* cmocka's teardown for a test group on the fixture's store. */
static inline int fixture_teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

#endif
