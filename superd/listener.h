/* SPDX-License-Identifier: MIT */
/* Listening sockets: the one module that creates and binds sockets. */
#pragma once

#include "addr.h"

/*
 * Open a listening stream socket on `a`: O_CLOEXEC and O_NONBLOCK,
 * SO_REUSEADDR, IPV6_V6ONLY off (so "[::]:PORT" and "*:PORT" are dual-stack),
 * listen(2) with `backlog` (SOMAXCONN when 0). A dual-stack address falls
 * back to 0.0.0.0 where the kernel has no IPv6. Returns the fd or -errno.
 */
int listener_open(const struct listen_addr *a, int backlog);
