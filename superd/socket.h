/* SPDX-License-Identifier: MIT */
/* Listening sockets: the one module that creates and binds sockets. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "addr.h"

/*
 * Per-service socket settings (DESIGN §4). Together with the address and the
 * socket type they are a listener's identity: a reload keeps a socket only
 * when all three are unchanged. Compare with socket_options_equal().
 */
struct socket_options {
        int backlog;          /* listen(2) backlog; 0 = SOMAXCONN */
        int receive_buffer;   /* SO_RCVBUF in bytes; 0 = the kernel's default */
        int send_buffer;      /* SO_SNDBUF in bytes; 0 = the kernel's default */
        bool reuse_port;      /* SO_REUSEPORT: share the port with other sockets that set it */
        bool keepalive;       /* SO_KEEPALIVE on accepted TCP connections (inherited from the listener) */
        bool nodelay;         /* TCP_NODELAY, likewise inherited */
        bool ipv6_only;       /* IPV6_V6ONLY on: an IPv6 socket does not take IPv4 (no "*:PORT" fallback) */
        bool free_bind;       /* IP_FREEBIND: bind an address the machine does not have (yet) */
        bool set_owner;       /* unix socket files: give them to socket_uid/socket_gid (-1: unchanged) */
        uid_t socket_uid;
        gid_t socket_gid;
        mode_t socket_mode;   /* unix socket files: permission bits, 0666 by default */
};

/* True if both would open the same socket (every field equal). */
bool socket_options_equal(const struct socket_options *a, const struct socket_options *b);

/*
 * Open a listening socket of `type` (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET)
 * on `a`, O_CLOEXEC and O_NONBLOCK, with `o` applied:
 *  - IP: SO_REUSEADDR on stream sockets only (a restart finds the port
 *    free despite TIME_WAIT); never on datagram sockets, where it would let
 *    any local user bind the same port with SO_REUSEADDR and take superd's
 *    datagrams. IPV6_V6ONLY off unless ipv6-only (so "[::]:PORT" and
 *    "*:PORT" are dual-stack); a dual-stack address falls back to 0.0.0.0
 *    where the kernel has no IPv6.
 *  - unix:/path: a stale socket file at the path is replaced (a file that is
 *    not a socket is left alone: -EEXIST); the folder must exist (-ENOENT).
 *    The file gets socket_mode from the umask set around bind(2) alone, so
 *    it is born with exactly those bits; with set_owner it is given to
 *    socket_uid/socket_gid through an fd, and only if it is still the socket
 *    just created (socket_file_open_ours()). No mode or owner is ever
 *    changed through the path, which whoever can write the folder can swap
 *    for a symlink. -ENOTSOCK: the file was replaced between bind(2) and the
 *    change of owner (nothing is changed or removed then); -EPERM: superd may
 *    not give it away (not root). unix:@name has no file.
 *  - stream and seqpacket sockets listen(2) with the backlog.
 * Returns the fd or -errno.
 */
int socket_listen(const struct listen_addr *a, int type, const struct socket_options *o);

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
int socket_file_open_ours(int dir_fd, const char *name, struct stat *ret_st);

/*
 * Remove the socket file of a unix:/path listener that superd bound and now
 * closes for good (stop, reload), as systemd does with RemoveOnStop. Only a
 * socket is removed, never another kind of file (unlink(2) removes the name,
 * never what a symlink points to). A no-op for other addresses.
 */
void socket_unlink(const struct listen_addr *a);
