/* SPDX-License-Identifier: MIT */
/* Unit tests of activation.c: which passed socket serves which listen entry (pure matching). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "activation.h"

static struct listen_addr want(const char *text)
{
        struct listen_addr a;
        const char *why = NULL;

        cr_assert_eq(addr_parse(text, &a, &why), 0, "addr_parse(%s): %s", text, why ? why : "?");
        return a;
}

/* A passed socket as getsockname() would describe it. */
static struct adopted_fd passed_ip(int family, const char *ip, unsigned short port, int type)
{
        struct adopted_fd p = { .fd = 3, .type = type };

        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&p.sa;
                a->sin_family = AF_INET;
                a->sin_port = htons(port);
                cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
                p.len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&p.sa;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons(port);
                cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
                p.len = sizeof(*a);
        }
        return p;
}

Test(activation, same_address_and_type_match)
{
        struct listen_addr w = want("127.0.0.1:7");
        struct adopted_fd p = passed_ip(AF_INET, "127.0.0.1", 7, SOCK_STREAM);

        cr_assert(activation_matches(&p, SOCK_STREAM, &w));
        cr_assert_not(activation_matches(&p, SOCK_DGRAM, &w), "a TCP socket does not serve a UDP entry");
        p = passed_ip(AF_INET, "127.0.0.1", 8, SOCK_STREAM);
        cr_assert_not(activation_matches(&p, SOCK_STREAM, &w), "another port");
        p = passed_ip(AF_INET, "127.0.0.2", 7, SOCK_STREAM);
        cr_assert_not(activation_matches(&p, SOCK_STREAM, &w), "another address");
}

Test(activation, dual_stack_entry_takes_ipv6_any_or_ipv4_any)
{
        struct listen_addr w = want("*:7");
        struct adopted_fd v6 = passed_ip(AF_INET6, "::", 7, SOCK_STREAM);
        struct adopted_fd v4 = passed_ip(AF_INET, "0.0.0.0", 7, SOCK_STREAM);
        struct adopted_fd lo = passed_ip(AF_INET, "127.0.0.1", 7, SOCK_STREAM);

        cr_assert(activation_matches(&v6, SOCK_STREAM, &w));
        cr_assert(activation_matches(&v4, SOCK_STREAM, &w), "a service manager without IPv6 opens 0.0.0.0");
        cr_assert_not(activation_matches(&lo, SOCK_STREAM, &w), "127.0.0.1 is not any");
}

Test(activation, ipv6_scope_and_unix_paths)
{
        struct listen_addr w = want("[::1]:7"), u = want("unix:/run/x.sock"), other = want("unix:/run/y.sock");
        struct adopted_fd p = passed_ip(AF_INET6, "::1", 7, SOCK_STREAM);
        struct adopted_fd up = { .fd = 3, .type = SOCK_STREAM };

        cr_assert(activation_matches(&p, SOCK_STREAM, &w));
        ((struct sockaddr_in6 *)&p.sa)->sin6_scope_id = 2;
        cr_assert_not(activation_matches(&p, SOCK_STREAM, &w), "another scope");
        memcpy(&up.sa, &u.sa, u.len);
        up.len = u.len;
        cr_assert(activation_matches(&up, SOCK_STREAM, &u));
        cr_assert_not(activation_matches(&up, SOCK_STREAM, &other));
        cr_assert_not(activation_matches(&up, SOCK_SEQPACKET, &u));
}

Test(activation, not_a_socket_matches_nothing)
{
        struct listen_addr w = want("127.0.0.1:7");
        struct adopted_fd p = passed_ip(AF_INET, "127.0.0.1", 7, SOCK_STREAM);

        p.type = -1;
        cr_assert_not(activation_matches(&p, SOCK_STREAM, &w));
}

Test(activation, take_hands_out_each_socket_once)
{
        struct listen_addr w = want("127.0.0.1:7");
        int fds[2];
        struct adopted_fd p[2];
        struct activation a = { .fds = p, .n = 2 };

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        p[0] = passed_ip(AF_INET, "127.0.0.1", 8, SOCK_STREAM);
        p[1] = passed_ip(AF_INET, "127.0.0.1", 7, SOCK_STREAM);
        p[0].fd = fds[0];
        p[1].fd = fds[1];
        cr_assert_eq(activation_take(&a, SOCK_STREAM, &w), fds[1]);
        cr_assert_eq(p[1].fd, -1, "taken: it belongs to the listener now");
        cr_assert_eq(activation_take(&a, SOCK_STREAM, &w), -1, "only once");
        close(fds[0]);
        close(fds[1]);
}
