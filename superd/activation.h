/* SPDX-License-Identifier: MIT */
/* Sockets passed by a service manager (sd_listen_fds), matched to `listen` entries as listeners open. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "addr.h"

/* One passed socket, waiting to be taken by a listener. */
struct adopted_fd {
        int fd;                     /* -1 once taken by a listener or closed */
        int type;                   /* SO_TYPE; -1 when the fd is not a socket (matches nothing) */
        struct sockaddr_storage sa; /* getsockname() */
        socklen_t len;
        char *name;                 /* LISTEN_FDNAMES entry (owned), NULL when none was given */
};

/* The sockets passed at start; empty when superd was not socket-activated. Zero-initialise. */
struct activation {
        struct adopted_fd *fds;
        size_t n;
};

/*
 * Take the sockets passed by a service manager (systemd, systemd-socket-
 * activate: LISTEN_FDS, LISTEN_PID, sd_listen_fds(3)) into *a, and remove
 * LISTEN_* from the environment so that handlers never see it. Returns 0
 * (also when nothing was passed) or -errno, logged.
 */
int activation_collect(struct activation *a);

/*
 * Does the passed socket `p` serve a `listen` entry `want` of socket type
 * `type`? Same type and address; "*:PORT" (dual stack) also matches
 * 0.0.0.0:PORT, which is what a service manager without IPv6 opens; unix
 * addresses match byte for byte. Pure.
 */
bool activation_matches(const struct adopted_fd *p, int type, const struct listen_addr *want);

/*
 * Take the first passed socket that matches (activation_matches()), made
 * O_NONBLOCK and FD_CLOEXEC (passed sockets may be neither, DESIGN.md §8).
 * Returns its fd, now owned by the caller, or -1.
 */
int activation_take(struct activation *a, int type, const struct listen_addr *want);

/*
 * Close, with a warning each, the passed sockets no listener took (those
 * named by superd's fd store are removed from it too, fdstore.h), and free *a.
 */
void activation_done(struct activation *a);
