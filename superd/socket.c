/* SPDX-License-Identifier: MIT */
/* Listening sockets: the one module that creates and binds sockets. */
#include "socket.h"

#include <errno.h>
#include <fcntl.h>
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

        /*
         * SO_REUSEADDR lets a restarted superd bind a TCP port that still has
         * connections in TIME_WAIT. Never on datagram sockets: there it lets
         * any local user bind the same port with SO_REUSEADDR too and receive
         * the datagrams meant for superd, and UDP has no TIME_WAIT to skip.
         */
        if (ip && type != SOCK_DGRAM && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
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

/*
 * Open the folder of the unix:/path address PATH, following symlinks as
 * bind(2) does, and set *ret_name to the last component of PATH. The steps
 * before and after bind(2) work relative to this fd, so that a folder of the
 * path swapped in the meantime cannot redirect them elsewhere. Returns an
 * O_PATH fd, or -errno: -EISDIR if PATH ends in '/', open(2)'s (-ENOENT: no
 * such folder).
 */
static int open_folder(const char *path, const char **ret_name)
{
        char folder[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
        const char *slash = strrchr(path, '/');
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        int dir_fd;

        if (!slash[1])
                return -EISDIR;
        if (n >= sizeof(folder))
                return -ENAMETOOLONG;
        memcpy(folder, path, n);
        folder[n] = '\0';
        dir_fd = open(folder, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;
        *ret_name = slash + 1;
        return dir_fd;
}

int socket_file_open_ours(int dir_fd, const char *name, struct stat *ret_st)
{
        struct stat st;
        int fd;

        /* O_PATH|O_NOFOLLOW opens a symlink itself, not its target: fstat() then says S_IFLNK. */
        fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ENOTSOCK : -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISSOCK(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid()) {
                close(fd);
                return -ENOTSOCK;
        }
        if (ret_st)
                *ret_st = st;
        return fd;
}

/*
 * Give NAME in folder DIR_FD, the socket file bind(2) has just created, to
 * uid:gid, through an fd on exactly the inode socket_file_open_ours()
 * checked. By path, the change of owner would follow a symlink swapped in
 * since bind(2), or (without following) change a hard link swapped in.
 * Returns 0, -ENOTSOCK when NAME is no longer that file (nothing changed,
 * nothing removed), or the -errno of fchownat(2) (-EPERM: superd is not
 * root); then our file is removed.
 */
static int set_file_owner(int dir_fd, const char *name, uid_t uid, gid_t gid)
{
        struct stat st, now;
        int fd, r = 0;

        fd = socket_file_open_ours(dir_fd, name, &st);
        if (fd < 0)
                return fd;
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
                r = -errno;
        close(fd);
        /*
         * No owner, no socket: remove the file if NAME is still that inode.
         * Between the check and unlinkat() the entry can be swapped again,
         * but unlinking only removes a name from a folder that whoever
         * swapped it can write anyway; it never follows a symlink.
         */
        if (r < 0 && fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
            now.st_ino == st.st_ino)
                unlinkat(dir_fd, name, 0);
        return r;
}

/*
 * bind(2) a unix:/path socket: replace a stale socket file, create the file
 * with its mode, give it its owner. Never changes a file through its path:
 * whoever can write the folder can replace our new socket by a symlink at
 * any moment.
 */
static int bind_unix(int fd, const struct listen_addr *a, const struct socket_options *o)
{
        const char *path = unix_path(a), *name = NULL;
        struct stat st;
        mode_t old_mask;
        int dir_fd, r = 0;

        dir_fd = open_folder(path, &name);
        if (dir_fd < 0)
                return dir_fd;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                /*
                 * A socket file left by a crash, or by a listener closed a
                 * moment ago. It may have been swapped since fstatat(), but
                 * unlinkat() only removes the name (which whoever swapped it
                 * could remove as well) and never follows a symlink.
                 */
                if (!S_ISSOCK(st.st_mode))
                        r = -EEXIST;
                else if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                        r = -errno;
        } else if (errno != ENOENT) {
                r = -errno;
        }
        if (r < 0)
                goto out;
        /*
         * The mode comes from the umask alone: bind(2) creates the file with
         * 0777 & ~umask, so it is born with exactly socket_mode and never
         * wider. Nothing changes the mode later through the path, which
         * may be a symlink by then. superd is single-threaded: nothing else
         * runs under this umask.
         */
        old_mask = umask(~o->socket_mode & 0777);
        if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0)
                r = -errno;
        umask(old_mask);
        /* A failed bind(2) created nothing: there is nothing to remove. */
        if (r == 0 && o->set_owner)
                r = set_file_owner(dir_fd, name, o->socket_uid, o->socket_gid);
out:
        close(dir_fd);
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

int socket_listen(const struct listen_addr *a, int type, const struct socket_options *o)
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

void socket_unlink(const struct listen_addr *a)
{
        const char *path = unix_path(a);
        struct stat st;

        /*
         * The entry can be swapped between lstat() and unlink(): unlink(2)
         * then removes whatever name is there, never what a symlink points
         * to, and whoever can swap it can remove it too.
         */
        if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                unlink(path);
}
