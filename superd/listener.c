/* SPDX-License-Identifier: MIT */
/* Listening sockets: the one module that creates and binds sockets. */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

bool socket_options_equal(const struct socket_options *a, const struct socket_options *b)
{
        return a->backlog == b->backlog && a->receive_buffer == b->receive_buffer &&
               a->send_buffer == b->send_buffer && a->reuse_port == b->reuse_port && a->keepalive == b->keepalive &&
               a->nodelay == b->nodelay && a->ipv6_only == b->ipv6_only && a->free_bind == b->free_bind &&
               a->set_owner == b->set_owner && a->socket_uid == b->socket_uid && a->socket_gid == b->socket_gid &&
               a->socket_mode == b->socket_mode;
}

/* The path of a unix:/path address, or NULL for abstract and IP addresses. */
static const char *unix_path(const struct listen_addr *a)
{
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;

        return un->sun_family == AF_UNIX && un->sun_path[0] == '/' ? un->sun_path : NULL;
}

static int set_int(int fd, int level, int name, int value)
{
        return setsockopt(fd, level, name, &value, sizeof(value));
}

static int apply_options(int fd, int family, int type, const struct socket_options *o)
{
        bool ip = family == AF_INET || family == AF_INET6;

        if (ip && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
                return -errno;
        if (family == AF_INET6 && set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, o->ipv6_only) < 0)
                return -errno;
        if ((o->reuse_port && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0) ||
            (o->keepalive && set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1) < 0) ||
            (o->nodelay && set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) < 0) ||
            (o->free_bind && set_int(fd, family == AF_INET6 ? SOL_IPV6 : SOL_IP,
                                     family == AF_INET6 ? IPV6_FREEBIND : IP_FREEBIND, 1) < 0) ||
            (o->receive_buffer && set_int(fd, SOL_SOCKET, SO_RCVBUF, o->receive_buffer) < 0) ||
            (o->send_buffer && set_int(fd, SOL_SOCKET, SO_SNDBUF, o->send_buffer) < 0))
                return -errno;
        return 0;
}

/* bind(2) a unix:/path socket: replace a stale socket file, give the file its mode and owner. */
static int bind_unix(int fd, const struct listen_addr *a, const struct socket_options *o)
{
        const char *path = unix_path(a);
        struct stat st;
        mode_t old_mask;
        int r = 0;

        if (lstat(path, &st) == 0) {
                /* A socket file left by a crash, or by a listener closed a moment ago. */
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (unlink(path) < 0 && errno != ENOENT)
                        return -errno;
        }
        /* umask, not chmod after bind: the file never exists with wider permissions. */
        old_mask = umask(~o->socket_mode & 0777);
        if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0)
                r = -errno;
        umask(old_mask);
        if (r == 0 && chmod(path, o->socket_mode) < 0)
                r = -errno;
        if (r == 0 && o->set_owner && lchown(path, o->socket_uid, o->socket_gid) < 0)
                r = -errno;
        if (r < 0 && r != -EADDRINUSE)
                unlink(path);
        return r;
}

static int open_one(const struct listen_addr *a, const struct sockaddr *sa, socklen_t len, int type,
                    const struct socket_options *o)
{
        int fd, r;

        fd = socket(sa->sa_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = apply_options(fd, sa->sa_family, type, o);
        if (r == 0) {
                if (unix_path(a))
                        r = bind_unix(fd, a, o);
                else if (bind(fd, sa, len) < 0)
                        r = -errno;
        }
        if (r == 0 && type != SOCK_DGRAM && listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

int listener_open(const struct listen_addr *a, int type, const struct socket_options *o)
{
        int fd = open_one(a, (const struct sockaddr *)&a->sa, a->len, type, o);

        if (fd == -EAFNOSUPPORT && a->dual_stack) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
                struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = s6->sin6_port,
                                          .sin_addr.s_addr = htonl(INADDR_ANY) };
                fd = open_one(a, (const struct sockaddr *)&s4, sizeof(s4), type, o);
        }
        return fd;
}

void listener_unlink(const struct listen_addr *a)
{
        const char *path = unix_path(a);
        struct stat st;

        if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                unlink(path);
}
