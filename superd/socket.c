/* SPDX-License-Identifier: MIT */
/* Listening sockets: the one module that creates and binds sockets. */
#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
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
        return a->family == AF_UNIX && a->un.path[0] == '/' ? a->un.path : NULL;
}

/* The file of an AF_UNIX address (absolute or relative), or NULL for abstract, unnamed and IP addresses. */
static const char *file_path(const struct sockaddr *sa)
{
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;

        return sa->sa_family == AF_UNIX && un->sun_path[0] ? un->sun_path : NULL;
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
 * Open the folder of the socket file PATH, following symlinks as bind(2)
 * does, and set *ret_name to the last component of PATH (a PATH without '/'
 * is in the current folder). The steps before and after bind(2) work
 * relative to this fd, so that a folder of the path swapped in the meantime
 * cannot redirect them elsewhere. Returns an O_PATH fd, or -errno: -EISDIR
 * if PATH ends in '/', open(2)'s (-ENOENT: no such folder).
 */
static int open_folder(const char *path, const char **ret_name)
{
        char folder[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
        const char *slash = strrchr(path, '/');
        size_t n;
        int dir_fd;

        if (!slash) {
                strcpy(folder, ".");
                *ret_name = path;
        } else {
                if (!slash[1])
                        return -EISDIR;
                n = slash == path ? 1 : (size_t)(slash - path);
                if (n >= sizeof(folder))
                        return -ENAMETOOLONG;
                memcpy(folder, path, n);
                folder[n] = '\0';
                *ret_name = slash + 1;
        }
        dir_fd = open(folder, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return dir_fd < 0 ? -errno : dir_fd;
}

/*
 * Open NAME in folder DIR_FD (or AT_FDCWD) with O_PATH, without following a
 * symlink, and check that it is the socket file this process has just
 * bound: a socket, one link, owned by our effective uid. Someone who can
 * write the folder cannot make such a file (nor hard-link one in: it would
 * have two links); the one thing they can swap in is another socket of ours
 * from the same folder (DIR_FD pins the folder; a NAME with several
 * components can also be redirected by whoever can write a folder on its
 * way). Changes made through the returned fd (fchownat(2) with
 * AT_EMPTY_PATH) reach exactly the checked inode, whatever happens to the
 * name afterwards.
 *
 * Returns the fd (O_CLOEXEC; the caller closes it) and fills *ret_st (may
 * be NULL) with its fstat(2), or -ENOTSOCK if NAME is gone or is not that
 * file, or another -errno from openat(2) or fstat(2).
 */
static int socket_file_open_ours(int dir_fd, const char *name, struct stat *ret_st)
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
 * Remove NAME from folder DIR_FD if it is the socket file F. The entry can
 * be swapped between the check and unlinkat(2), but that only removes a
 * name from a folder that whoever swapped it can write anyway; it never
 * follows a symlink.
 */
static void unlink_ours(int dir_fd, const char *name, const struct socket_file *f)
{
        struct stat st;

        if (f->ino && fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
            st.st_dev == f->dev && st.st_ino == f->ino)
                unlinkat(dir_fd, name, 0);
}

void socket_file_unlink(const char *path, const struct socket_file *f)
{
        const char *name = NULL;
        int dir_fd;

        if (!path || !f || !f->ino)
                return;
        dir_fd = open_folder(path, &name);
        if (dir_fd < 0)
                return;
        unlink_ours(dir_fd, name, f);
        close(dir_fd);
}

/*
 * Does a live socket answer at SA (a socket file)? Returns 0 if not: the
 * connection is refused, or the file is gone (it is stale); -EADDRINUSE if
 * so: accepted, backlog full (EAGAIN), or a live socket of another type
 * (EPROTOTYPE); another -errno if we cannot tell (then nothing is removed).
 * The probe goes through the path, which may have been swapped since it was
 * checked: its answer only decides whether a name is unlinked from a folder
 * whoever swapped it can write, so it gives them nothing.
 */
static int probe_live(const struct sockaddr *sa, socklen_t len, int type)
{
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (connect(fd, sa, len) == 0 || errno == EAGAIN || errno == EINPROGRESS || errno == EPROTOTYPE)
                r = -EADDRINUSE;
        else if (errno != ECONNREFUSED && errno != ENOENT)
                r = -errno;
        close(fd);
        return r;
}

/*
 * Make room for bind(2) at NAME in DIR_FD (SA is its full address): nothing
 * there, or a stale socket file, which is removed. A live socket is not
 * stolen (-EADDRINUSE); any other kind of file is left alone (-EEXIST).
 */
static int remove_stale(int dir_fd, const char *name, const struct sockaddr *sa, socklen_t len, int type)
{
        struct stat st, now;
        int r;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        r = probe_live(sa, len, type);
        if (r < 0)
                return r;
        /* Remove exactly the socket found dead: a file put there since is someone else's. */
        if (fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (now.st_dev != st.st_dev || now.st_ino != st.st_ino)
                return S_ISSOCK(now.st_mode) ? -EADDRINUSE : -EEXIST;
        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/*
 * bind(2) FD to the socket file NAME in DIR_FD (SA its full address): make
 * room, create the file with its mode, record it in *RET_FILE, give it its
 * owner. Never changes a file through its path: whoever can write the
 * folder can replace our new socket by a symlink at any moment. On failure
 * *RET_FILE is still set if the file was created and checked, so that the
 * caller removes it.
 */
static int bind_file(int fd, int dir_fd, const char *name, const struct sockaddr *sa, socklen_t len, int type,
                     const struct socket_options *o, struct socket_file *ret_file)
{
        struct stat st = { 0 }; /* set when socket_file_open_ours() succeeds; GCC cannot tell */
        mode_t old_mask;
        int file, r;

        r = remove_stale(dir_fd, name, sa, len, type);
        if (r < 0)
                return r;
        /*
         * The mode comes from the umask alone: bind(2) creates the file with
         * 0777 & ~umask, so it is born with exactly socket_mode and never
         * wider. Nothing changes the mode later through the path, which
         * may be a symlink by then. superd is single-threaded: nothing else
         * runs under this umask.
         */
        old_mask = umask(~o->socket_mode & 0777);
        r = bind(fd, sa, len) < 0 ? -errno : 0;
        umask(old_mask);
        if (r < 0)
                return r; /* a failed bind(2) created nothing: there is nothing to remove */
        /*
         * Remember which file is ours, so that we never remove another: the
         * checked inode, or nothing if the name was swapped since bind(2)
         * (then we give up, changing and removing nothing).
         */
        file = socket_file_open_ours(dir_fd, name, &st);
        if (file < 0)
                return file;
        *ret_file = (struct socket_file){ .dev = st.st_dev, .ino = st.st_ino };
        /*
         * The owner through an fd on exactly the checked inode: by path, the
         * change would follow a symlink swapped in since bind(2), or
         * (without following) change a hard link swapped in.
         */
        if (o->set_owner && fchownat(file, "", o->socket_uid, o->socket_gid, AT_EMPTY_PATH) < 0)
                r = -errno;
        close(file);
        return r;
}

static int open_one(const struct sockaddr *sa, socklen_t len, int type, const struct socket_options *o,
                    struct socket_file *ret_file)
{
        const char *path = file_path(sa), *name = NULL;
        struct socket_file file = { 0 };
        int fd, dir_fd = -1, r;

        fd = socket(sa->sa_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = apply_options(fd, sa->sa_family, type, o);
        if (r == 0 && path) {
                dir_fd = open_folder(path, &name);
                r = dir_fd < 0 ? dir_fd : bind_file(fd, dir_fd, name, sa, len, type, o, &file);
        } else if (r == 0 && bind(fd, sa, len) < 0) {
                r = -errno;
        }
        if (r == 0 && type != SOCK_DGRAM && listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) < 0)
                r = -errno;
        if (r < 0) {
                /* No socket, no file: remove ours if we made one (no owner, listen(2) failed). */
                if (dir_fd >= 0)
                        unlink_ours(dir_fd, name, &file);
                close(fd);
                fd = r;
        } else if (ret_file) {
                *ret_file = file;
        }
        if (dir_fd >= 0)
                close(dir_fd);
        return fd;
}

/* The socket type without SOCK_NONBLOCK and SOCK_CLOEXEC, which open_one() always sets. */
static int base_type(int type)
{
        return type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int socket_listen(const struct listen_addr *a, int type, const struct socket_options *o, struct socket_file *ret_file)
{
        union listen_sockaddr sa;
        int fd;

        if (ret_file)
                *ret_file = (struct socket_file){ 0 };
        type = base_type(type);
        fd = open_one(addr_sockaddr(a, &sa), a->len, type, o, ret_file);
        if (fd == -EAFNOSUPPORT && a->dual_stack) {
                struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = a->in6.sin6_port,
                                          .sin_addr.s_addr = htonl(INADDR_ANY) };
                fd = open_one((const struct sockaddr *)&s4, sizeof(s4), type, o, ret_file);
        }
        return fd;
}

int socket_listen_unix(const char *path, int type, const struct socket_options *o, struct socket_file *ret_file)
{
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        size_t n = path ? strlen(path) : 0;

        if (ret_file)
                *ret_file = (struct socket_file){ 0 };
        if (n == 0 || !o)
                return -EINVAL;
        if (n >= sizeof(un.sun_path))
                return -ENAMETOOLONG;
        memcpy(un.sun_path, path, n + 1);
        return open_one((const struct sockaddr *)&un, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1),
                        base_type(type), o, ret_file);
}

void socket_unlink(const struct listen_addr *a, const struct socket_file *f)
{
        socket_file_unlink(unix_path(a), f);
}
