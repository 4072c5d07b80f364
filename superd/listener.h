/* SPDX-License-Identifier: MIT */
/* Listening sockets: the one module that creates and binds sockets. */
#pragma once

#include <stdbool.h>
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
        bool set_owner;       /* unix socket files: chown to socket_uid/socket_gid */
        uid_t socket_uid;
        gid_t socket_gid;
        mode_t socket_mode;   /* unix socket files: permission bits, 0666 by default */
};

/* True if both would open the same socket (every field equal). */
bool socket_options_equal(const struct socket_options *a, const struct socket_options *b);

/*
 * Open a listening socket of `type` (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET)
 * on `a`, O_CLOEXEC and O_NONBLOCK, with `o` applied:
 *  - IP: SO_REUSEADDR always; IPV6_V6ONLY off unless ipv6-only (so "[::]:PORT"
 *    and "*:PORT" are dual-stack); a dual-stack address falls back to 0.0.0.0
 *    where the kernel has no IPv6.
 *  - unix:/path: a stale socket file at the path is replaced (a file that is
 *    not a socket is left alone: -EEXIST); the folder must exist (-ENOENT);
 *    the file gets socket_mode (umask is set around bind(2), so it is never
 *    wider) and, with set_owner, socket_uid/socket_gid. unix:@name has no file.
 *  - stream and seqpacket sockets listen(2) with the backlog.
 * Returns the fd or -errno.
 */
int listener_open(const struct listen_addr *a, int type, const struct socket_options *o);

/*
 * Remove the socket file of a unix:/path listener that superd bound and now
 * closes for good (stop, reload), as systemd does with RemoveOnStop. Only a
 * socket is removed, never another kind of file. A no-op for other addresses.
 */
void listener_unlink(const struct listen_addr *a);
