/* SPDX-License-Identifier: MIT */
/* Unit tests of activation.c: which passed socket serves which listen entry (pure matching). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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
        union listen_sockaddr built;

        cr_assert(activation_matches(&p, SOCK_STREAM, &w));
        ((struct sockaddr_in6 *)&p.sa)->sin6_scope_id = 2;
        cr_assert_not(activation_matches(&p, SOCK_STREAM, &w), "another scope");
        memcpy(&up.sa, addr_sockaddr(&u, &built), u.len);
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

/* A socket of TYPE bound to the unix address TEXT ("unix:/path" or "unix:@name"), as activation_collect() sees it. */
static struct adopted_fd passed_unix(const char *text, int type)
{
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        const char *path = text + strlen("unix:");
        size_t n = strlen(path);
        socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
        struct adopted_fd p = {.fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0), .type = type};

        cr_assert_geq(p.fd, 0);
        memcpy(un.sun_path, path, n);
        if (path[0] == '@')
                un.sun_path[0] = '\0';
        cr_assert_eq(bind(p.fd, (struct sockaddr *)&un, len), 0, "bind %s: %s", text, strerror(errno));
        p.len = sizeof(p.sa);
        cr_assert_eq(getsockname(p.fd, (struct sockaddr *)&p.sa, &p.len), 0);
        return p;
}

Test(activation, bound_unix_sockets_match_their_entries)
{
        char dir[] = "/tmp/superd-activation-XXXXXX", file[64], abstract[64], other[64];
        struct listen_addr wf, wa, wo, ip = want("127.0.0.1:7");
        struct adopted_fd f, a;

        cr_assert_not_null(mkdtemp(dir));
        snprintf(file, sizeof(file), "unix:%s/s.sock", dir);
        snprintf(other, sizeof(other), "unix:%s/t.sock", dir);
        snprintf(abstract, sizeof(abstract), "unix:@superd-activation-%d", (int)getpid());
        f = passed_unix(file, SOCK_STREAM);
        a = passed_unix(abstract, SOCK_DGRAM);
        wf = want(file);
        wa = want(abstract);
        wo = want(other);

        cr_assert(activation_matches(&f, SOCK_STREAM, &wf));
        cr_assert(activation_matches(&a, SOCK_DGRAM, &wa));
        cr_assert_not(activation_matches(&f, SOCK_STREAM, &wo), "another path");
        cr_assert_not(activation_matches(&f, SOCK_STREAM, &wa), "a file is not an abstract name");
        cr_assert_not(activation_matches(&a, SOCK_DGRAM, &wf));
        cr_assert_not(activation_matches(&a, SOCK_STREAM, &wa), "another type");
        cr_assert_not(activation_matches(&f, SOCK_STREAM, &ip));
        close(f.fd);
        close(a.fd);
        unlink(file + strlen("unix:"));
        rmdir(dir);
}
