/* SPDX-License-Identifier: MIT */
/* Listening sockets: the one module that creates and binds sockets. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "addr.h"

/*
 * Per-service socket settings (DESIGN.md §4). Together with the address and the
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

/* Identity of a socket file superd created, so that only that file is ever removed. ino 0: none. */
struct socket_file {
        dev_t dev;
        ino_t ino;
};

/*
 * Open a listening socket of `type` (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET)
 * on `a`, O_CLOEXEC and O_NONBLOCK, with `o` applied:
 *  - IP: SO_REUSEADDR on stream sockets only (a restart finds the port
 *    free despite TIME_WAIT); never on datagram sockets, where it would let
 *    any local user bind the same port with SO_REUSEADDR and take superd's
 *    datagrams. IPV6_V6ONLY off unless ipv6-only (so "[::]:PORT" and
 *    "*:PORT" are dual-stack); a dual-stack address falls back to 0.0.0.0
 *    where the kernel has no IPv6.
 *  - unix:/path: bound by socket_listen_unix(), with its policy for a file
 *    already at the path, its mode and owner handling and its errors.
 *    unix:@name has no file.
 *  - stream and seqpacket sockets listen(2) with the backlog.
 *
 * Returns the fd or -errno. RET_FILE (may be NULL) gets the identity of the
 * socket file created for unix:/path, for socket_unlink(); it is zeroed for
 * other addresses and on failure.
 */
int socket_listen(const struct listen_addr *a, int type, const struct socket_options *o, struct socket_file *ret_file);

/*
 * Remove the socket file of a unix:/path listener that superd bound and now
 * closes for good (stop, reload), as systemd does with RemoveOnStop: see
 * socket_file_unlink(). A no-op for other addresses, and for F == NULL or
 * F->ino == 0 (an adopted socket: not ours to remove). Call it before
 * closing the listener's fd: the bound socket keeps its inode alive, so its
 * number cannot have been reused for another file meanwhile.
 */
void socket_unlink(const struct listen_addr *a, const struct socket_file *f);

/*
 * The one binder of socket files, for listeners (socket_listen()) and the
 * status socket: open a socket of `type` (flags such as SOCK_NONBLOCK are
 * ignored: it is always O_CLOEXEC and O_NONBLOCK), bind it to the file PATH
 * (absolute, or relative to the current folder; shorter than sun_path),
 * apply `o` as socket_listen() does and listen(2) with o->backlog unless
 * `type` is SOCK_DGRAM.
 *
 * A file already at PATH: a socket file is replaced only if nothing accepts
 * connections on it (left behind by a process that died): a connect(2) of
 * `type` is refused. A live one is not stolen (-EADDRINUSE); note that the
 * probe is a real connection, which a live stream server accepts and sees
 * closed at once. Any other kind of file, a symlink included, is left alone
 * (-EEXIST). What is unlinked is checked to be the socket probed (same
 * dev/inode) right before; unlinkat(2) removes a name, never what a symlink
 * points to.
 *
 * The file is born with o->socket_mode from the umask set around bind(2)
 * alone; with o->set_owner it is given to socket_uid/socket_gid through an
 * fd on the checked inode: a socket of one link owned by superd's euid. No mode or owner is
 * ever changed through the path, which whoever can write the folder can
 * swap for a symlink; every step after opening the folder works relative to
 * an fd on it. A failed bind(2) removes nothing; a failure after it removes
 * the file only if it is still the one created.
 *
 * Returns the fd and fills *RET_FILE (may be NULL) with the identity of the
 * created file, or -errno with *RET_FILE zeroed: -ENAMETOOLONG, -EISDIR
 * (PATH ends in '/'), -ENOENT (no such folder), -EEXIST, -EADDRINUSE,
 * -ENOTSOCK (PATH was swapped right after bind(2): nothing is changed or
 * removed then), -EPERM (set_owner, and superd may not give files away),
 * or what socket(2), bind(2), listen(2), setsockopt(2) or connect(2) said.
 * Does not log.
 */
int socket_listen_unix(const char *path, int type, const struct socket_options *o, struct socket_file *ret_file);

/*
 * Remove PATH if it is still the socket file recorded in F: a socket (never
 * another kind of file) with F's dev and inode, found without following a
 * symlink in the last component. A no-op for F == NULL or F->ino == 0. The
 * name can still be swapped between that check and unlinkat(2), but that
 * only removes a name from a folder that whoever swapped it can write
 * anyway. Call it while the socket bound to the file is still open (see
 * socket_unlink()). Never fails: there is nothing a caller could do about it.
 */
void socket_file_unlink(const char *path, const struct socket_file *f);
