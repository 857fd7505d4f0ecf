/* test_free_port.c: md_free_port (node/base/proc.c), which the tests and `medic demo` use to give
 * nodes their ports. A port inside the kernel's range for outgoing source ports could be taken by
 * some connection before the node binds it (it_cluster failed so, "Address in use", while other
 * tests made thousands of connections), so it must come from outside that range and be bindable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"

static void ephemeral(int *lo, int *hi)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d %d", lo, hi), 2);
    fclose(f);
}

static void test_ports_avoid_the_ephemeral_range(void **state)
{
    (void)state;
    int lo, hi;
    ephemeral(&lo, &hi);
    if (lo - 10000 < 1000 && 65535 - hi < 1000)
        skip(); /* no room outside the range on this machine: the kernel's choice is all there is */
    int distinct = 0, last = -1;
    for (int i = 0; i < 200; i++) {
        int p = md_free_port();
        assert_true(p > 0);
        assert_true(p < lo || p > hi);
        distinct += p != last;
        last = p;
    }
    assert_true(distinct > 100); /* random, so processes asking at once rarely collide */
}

static void test_port_can_be_bound(void **state)
{
    (void)state;
    int p = md_free_port();
    assert_true(p > 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)p) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    /* while it listens, the next answers are other ports */
    for (int i = 0; i < 50; i++)
        assert_int_not_equal(md_free_port(), p);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ports_avoid_the_ephemeral_range),
        cmocka_unit_test(test_port_can_be_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
