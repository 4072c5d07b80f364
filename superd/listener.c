/* SPDX-License-Identifier: MIT */
/* Listening sockets: the one module that creates and binds sockets. */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int open_one(const struct sockaddr *sa, socklen_t len, int backlog)
{
        int fd, one = 1, zero = 0;

        fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) ||
            bind(fd, sa, len) < 0 || listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int listener_open(const struct listen_addr *a, int backlog)
{
        int fd = open_one((const struct sockaddr *)&a->sa, a->len, backlog);

        if (fd == -EAFNOSUPPORT && a->dual_stack) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
                struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = s6->sin6_port,
                                          .sin_addr.s_addr = htonl(INADDR_ANY) };
                fd = open_one((const struct sockaddr *)&s4, sizeof(s4), backlog);
        }
        return fd;
}
