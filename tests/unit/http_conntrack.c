/* Connection tracking: header deadlines and making room at the connection limit. Sockets are
 * socketpairs; a connection "shut down" by conntrack shows as end-of-file on its peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/conntrack.h"

#define MS 1000000LL

struct pair {
    int server, client;
};

static struct pair pair_new(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    return (struct pair){sv[0], sv[1]};
}

/* 1 when the server side was shut down (the client reads end-of-file). */
static int is_shut(struct pair p)
{
    char c;
    return read(p.client, &c, 1) == 0;
}

static void pair_close(struct pair p)
{
    close(p.server);
    close(p.client);
}

static void test_header_deadline(void **state)
{
    (void)state;
    conntrack_t *ct = conntrack_create(100, 2000, 30000);
    struct pair slow = pair_new(), fast = pair_new();
    enum conntrack_admit how;
    conntrack_conn_t *cs = conntrack_open(ct, slow.server, 0, &how);
    assert_int_equal(how, CONNTRACK_ADMITTED);
    conntrack_conn_t *cf = conntrack_open(ct, fast.server, 0, &how);
    conntrack_headers_done(ct, cf);
    assert_int_equal(conntrack_reap(ct, 1999 * MS), 0);
    assert_false(is_shut(slow));
    /* At the deadline only the one still waiting for headers goes; a connection busy with
     * its request is never timed out here. */
    assert_int_equal(conntrack_reap(ct, 2000 * MS), 1);
    assert_true(is_shut(slow));
    assert_false(is_shut(fast));
    assert_int_equal(conntrack_count(ct), 1);
    /* Kept alive after its request: idle allowance plus the header deadline. */
    conntrack_request_done(ct, cf, 5000 * MS);
    assert_int_equal(conntrack_reap(ct, (5000 + 31999) * MS), 0);
    assert_int_equal(conntrack_reap(ct, (5000 + 32000) * MS), 1);
    assert_true(is_shut(fast));
    assert_int_equal(conntrack_reap(ct, 99999 * MS), 0); /* never twice */
    conntrack_close(ct, cs);
    conntrack_close(ct, cf);
    assert_int_equal(conntrack_count(ct), 0);
    conntrack_free(ct);
    pair_close(slow);
    pair_close(fast);
}

static void test_limit_drops_oldest_waiting(void **state)
{
    (void)state;
    conntrack_t *ct = conntrack_create(3, 10000, 30000);
    struct pair p[5];
    conntrack_conn_t *c[5];
    enum conntrack_admit how;
    for (int i = 0; i < 5; i++)
        p[i] = pair_new();
    c[0] = conntrack_open(ct, p[0].server, 0, &how); /* busy: headers complete */
    conntrack_headers_done(ct, c[0]);
    c[1] = conntrack_open(ct, p[1].server, 1, &how); /* oldest waiting */
    c[2] = conntrack_open(ct, p[2].server, 2, &how);
    assert_int_equal(how, CONNTRACK_ADMITTED);
    c[3] = conntrack_open(ct, p[3].server, 3, &how);
    assert_int_equal(how, CONNTRACK_MADE_ROOM);
    assert_false(is_shut(p[0]));
    assert_true(is_shut(p[1]));
    assert_false(is_shut(p[2]));
    assert_int_equal(conntrack_count(ct), 3);
    /* Every other connection busy: the newcomer is refused, nothing else is touched. */
    conntrack_headers_done(ct, c[2]);
    conntrack_headers_done(ct, c[3]);
    c[4] = conntrack_open(ct, p[4].server, 4, &how);
    assert_int_equal(how, CONNTRACK_REFUSED);
    assert_true(is_shut(p[4]));
    assert_false(is_shut(p[0]) || is_shut(p[2]) || is_shut(p[3]));
    assert_int_equal(conntrack_count(ct), 3);
    /* Closing a dropped record does not count it twice. */
    conntrack_close(ct, c[1]);
    conntrack_close(ct, c[4]);
    assert_int_equal(conntrack_count(ct), 3);
    conntrack_close(ct, c[0]);
    assert_int_equal(conntrack_count(ct), 2);
    conntrack_close(ct, c[2]);
    conntrack_close(ct, c[3]);
    conntrack_close(ct, NULL);
    conntrack_free(ct);
    for (int i = 0; i < 5; i++)
        pair_close(p[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_deadline),
        cmocka_unit_test(test_limit_drops_oldest_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
