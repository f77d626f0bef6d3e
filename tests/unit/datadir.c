/* The data directory: created private, an existing loose one tightened, links left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/datadir.h"

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void touch(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    close(fd);
    chmod(path, mode);
}

static void test_new_and_loose_dirs(void **state)
{
    (void)state;
    char root[] = "/tmp/ragd-datadir-XXXXXX", p[512], outside[512];
    assert_non_null(mkdtemp(root));
    umask(022);
    int n = -1;
    char err[256];

    snprintf(p, sizeof p, "%s/fresh", root);
    assert_int_equal(datadir_prepare(p, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(mode_of(p), 0700);
    snprintf(p, sizeof p, "%s/fresh/file", root);
    int fd = open(p, O_WRONLY | O_CREAT, 0666); /* umask 077 from datadir_prepare */
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(mode_of(p) & 077, 0);

    /* An old directory left 0755 with 0644 files, a 0755 subfolder and a link to a file
     * outside it. */
    snprintf(p, sizeof p, "%s/old", root);
    mkdir(p, 0755);
    chmod(p, 0755);
    snprintf(p, sizeof p, "%s/old/ragd.db", root);
    touch(p, 0644);
    snprintf(p, sizeof p, "%s/old/index", root);
    mkdir(p, 0755);
    chmod(p, 0755);
    snprintf(p, sizeof p, "%s/old/index/bm25.idx", root);
    touch(p, 0664);
    snprintf(outside, sizeof outside, "%s/outside", root);
    touch(outside, 0644);
    snprintf(p, sizeof p, "%s/old/link", root);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof p, "%s/old", root);
    assert_int_equal(datadir_prepare(p, &n, err, sizeof err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(mode_of(p), 0700);
    snprintf(p, sizeof p, "%s/old/ragd.db", root);
    assert_int_equal(mode_of(p), 0600);
    snprintf(p, sizeof p, "%s/old/index", root);
    assert_int_equal(mode_of(p), 0700);
    snprintf(p, sizeof p, "%s/old/index/bm25.idx", root);
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(mode_of(outside), 0644); /* not followed */
    /* Idempotent. */
    snprintf(p, sizeof p, "%s/old", root);
    assert_int_equal(datadir_prepare(p, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);

    /* Single files (the database outside the data dir). */
    assert_int_equal(datadir_tighten_file(outside), 1);
    assert_int_equal(mode_of(outside), 0600);
    assert_int_equal(datadir_tighten_file(outside), 0);
    snprintf(p, sizeof p, "%s/missing", root);
    assert_int_equal(datadir_tighten_file(p), 0);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_uncreatable(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_not_equal(datadir_prepare("/proc/ragd-cannot-be-here", NULL, err, sizeof err), 0);
    assert_non_null(strstr(err, "cannot create data dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_loose_dirs),
        cmocka_unit_test(test_uncreatable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
