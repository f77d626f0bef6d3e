/* The log: LOG_FILE and its reopen after a rename, the level, a thread's context fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_file_reopen_level_context(void **state)
{
    (void)state;
    char path[96], rotated[112], err[256];
    snprintf(path, sizeof path, "/tmp/ragd-log-test-%d.log", (int)getpid());
    snprintf(rotated, sizeof rotated, "%s.1", path);
    unlink(path);
    unlink(rotated);
    assert_int_equal(log_reopen(err, sizeof err), 0); /* on stderr: nothing to do */
    assert_int_equal(log_open(path, err, sizeof err), 0);
    log_set_level(LOG_INFO);
    log_msg(LOG_INFO, "first line");
    log_msg(LOG_DEBUG, "below the level");
    assert_int_equal(rename(path, rotated), 0);
    log_msg(LOG_INFO, "still the old file");
    assert_int_equal(log_reopen(err, sizeof err), 0);
    log_context(json_pack("{s:s, s:s}", "request_id", "rq-1", "file", "a.md"));
    log_json(LOG_WARN, "second line", json_pack("{s:s}", "file", "own-wins.md"));
    log_context(NULL);
    log_msg(LOG_ERROR, "no context");
    char *old = strdup(slurp(rotated));
    assert_non_null(strstr(old, "\"msg\":\"first line\""));
    assert_non_null(strstr(old, "still the old file"));
    assert_null(strstr(old, "below the level"));
    assert_null(strstr(old, "second line"));
    char *now = slurp(path);
    assert_non_null(now);
    assert_non_null(strstr(now, "\"msg\":\"second line\""));
    assert_non_null(strstr(now, "\"request_id\":\"rq-1\""));
    assert_non_null(strstr(now, "\"file\":\"own-wins.md\""));
    assert_null(strstr(now, "a.md"));
    const char *last = strstr(now, "no context");
    assert_non_null(last);
    assert_null(strstr(last, "rq-1"));
    /* a path that cannot be opened: the old file stays in use */
    assert_int_equal(log_open("/nonexistent-dir/x.log", err, sizeof err) < 0, 1);
    assert_non_null(strstr(err, "LOG_FILE"));
    free(old);
    unlink(path);
    unlink(rotated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_reopen_level_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
