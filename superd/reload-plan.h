/* SPDX-License-Identifier: MIT */
/* The reload plan: which new listener takes over which open socket, which service inherits which. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "addr.h"
#include "socket.h"

/*
 * What a reload compares to keep a listener's socket (DESIGN.md §2):
 * address, socket type, socket options, and whether it serves a builtin
 * (builtin_listener_prepare() sets options an exec'd service must not
 * inherit). The options of an adopted socket (passed by the service
 * manager, not opened by superd) are not superd's to compare.
 */
struct listen_identity {
        const struct listen_addr *addr;
        int socket_type;
        const struct socket_options *options;
        bool builtin;
        bool adopted;
};

/*
 * Plan the listeners of a reload: ret_take[i] (n_new entries) is the index
 * j of the old open socket with the same identity that new listener i takes
 * over, with its queued connections, or -1 when it must open a socket of its
 * own. Each old socket goes to at most one new listener, even when it moves
 * to another service; the old ones nobody takes are closed (before the new
 * ones are opened, so a changed address on the same port finds its port
 * free). Sort and merge: O((n_old + n_new) log(n_old + n_new)).
 * Returns 0 or -ENOMEM.
 */
int reload_plan_listeners(const struct listen_identity *old, size_t n_old, const struct listen_identity *new,
                          size_t n_new, ssize_t *ret_take);

/*
 * Match by name across a reload: ret_match[i] (n_new entries) is the index
 * of new_names[i] in old_names, or -1. old_names are unique; new_names need
 * not be (the service names of running handlers). The new service inherits
 * the old one's counters, rate window and running handlers.
 * Returns 0 or -ENOMEM.
 */
int reload_plan_names(const char *const *old_names, size_t n_old, const char *const *new_names, size_t n_new,
                      ssize_t *ret_match);
