/* SPDX-License-Identifier: MIT */
/* Unit tests of workers.c's pure parts: back-off steps, the start-another decision, `auto`, the queue length. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "workers.h"

Test(workers, back_off_doubles_from_1_s_to_60_s)
{
        static const uint64_t steps[] = { 1, 2, 4, 8, 16, 32, 60, 60, 60 };
        uint64_t b = 0;

        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                b = workers_back_off_next(b);
                cr_assert_eq(b, steps[i] * 1000000ULL, "step %zu: %llu µs", i, (unsigned long long)b);
        }
        /* Whatever the current value, the next one stays within the bounds. */
        cr_assert_eq(workers_back_off_next(1), WORKERS_BACK_OFF_MIN_USEC);
        cr_assert_eq(workers_back_off_next(45 * 1000000ULL), WORKERS_BACK_OFF_MAX_USEC);
        cr_assert_eq(workers_back_off_next(UINT64_MAX), WORKERS_BACK_OFF_MAX_USEC);
}

Test(workers, start_another_decision)
{
        /* The first readiness starts one, pending or not. */
        cr_assert(workers_want_another(0, 4, false));
        cr_assert(workers_want_another(0, 4, true));
        /* With one running, only while connections still wait. */
        cr_assert_not(workers_want_another(1, 3, false));
        cr_assert(workers_want_another(1, 3, true));
        /* No slot that may start (all run or back off): never. */
        cr_assert_not(workers_want_another(4, 0, true));
        cr_assert_not(workers_want_another(0, 0, true));
}

Test(workers, configured_only_for_pools)
{
        struct service s = { .wait = true };

        cr_assert_not(workers_configured(&s), "workers not given: today's wait mode");
        s.workers = 1;
        cr_assert_not(workers_configured(&s), "workers = 1: today's wait mode");
        s.workers = 2;
        cr_assert(workers_configured(&s));
        s.workers = WORKERS_AUTO;
        cr_assert(workers_configured(&s));
        s.workers = 1;
        s.workers_eager = true;
        cr_assert(workers_configured(&s), "workers = 1, eager: a supervised pool of one");
        s.wait = false;
        cr_assert_not(workers_configured(&s));
}

Test(workers, resolve_auto_is_the_affinity_cpu_count)
{
        struct service s = { .wait = true, .workers = WORKERS_AUTO };
        cpu_set_t set;

        cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
        cr_assert_eq(workers_resolve(&s), (unsigned)CPU_COUNT(&set));
        s.workers = 0;
        cr_assert_eq(workers_resolve(&s), 1);
        s.workers = 7;
        cr_assert_eq(workers_resolve(&s), 7);
}

/* A loopback TCP listener on an ephemeral port; *ret_addr gets its address. */
static int tcp_listener(struct sockaddr_in *ret_addr)
{
        socklen_t len = sizeof(*ret_addr);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        *ret_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        cr_assert_geq(fd, 0);
        cr_assert_eq(bind(fd, (struct sockaddr *)ret_addr, sizeof(*ret_addr)), 0);
        cr_assert_eq(listen(fd, 16), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *)ret_addr, &len), 0);
        return fd;
}

Test(workers, queue_length_counts_the_accept_queue)
{
        struct sockaddr_in a;
        int l = tcp_listener(&a), c[3];

        cr_assert_eq(workers_queue_length(l, SOCK_STREAM), 0);
        for (int i = 0; i < 3; i++) {
                c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                cr_assert_eq(connect(c[i], (struct sockaddr *)&a, sizeof(a)), 0);
        }
        cr_assert_eq(workers_queue_length(l, SOCK_STREAM), 3);
        close(accept(l, NULL, NULL));
        cr_assert_eq(workers_queue_length(l, SOCK_STREAM), 2);
        for (int i = 0; i < 3; i++)
                close(c[i]);
        close(l);
}

Test(workers, queue_length_of_a_dgram_socket_is_0_or_1)
{
        int sv[2];

        cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
        cr_assert_eq(workers_queue_length(sv[0], SOCK_DGRAM), 0);
        cr_assert_eq(send(sv[1], "a", 1, 0), 1);
        cr_assert_eq(send(sv[1], "b", 1, 0), 1);
        cr_assert_eq(workers_queue_length(sv[0], SOCK_DGRAM), 1);
        close(sv[0]);
        close(sv[1]);
}
