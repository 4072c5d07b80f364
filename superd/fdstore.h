/* SPDX-License-Identifier: MIT */
/* systemd's file descriptor store: listening sockets kept by the service manager across a restart. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

struct listener;

/* Room for any name fdstore_name() writes, NUL included (systemd allows 255 characters). */
#define FDSTORE_NAME_MAX 256

/* Prefix of every name superd gives a socket in the store; other passed sockets are matched by address alone. */
#define FDSTORE_NAME_PREFIX "superd-"

/*
 * Decide once, at start, whether listeners go to the fd store: only under
 * a service manager (NOTIFY_SOCKET is set) that has a store for us, which
 * the unit says with FileDescriptorStoreMax=: systemd >= 254 passes that as
 * $FDSTORE (> 0); older ones (Debian 12 has 252) do not, so `superd
 * --fd-store` (`requested`) says it instead (superd(8)). Logs the decision
 * at info. Returns whether the store is used.
 */
bool fdstore_setup(bool requested);

/* Whether fdstore_setup() enabled the store. */
bool fdstore_enabled(void);

/*
 * The stable name of a listener in the store, from its identity: socket
 * type and address, "superd-tcp-127.0.0.1_7", "superd-udp-[__1]_7",
 * "superd-unix-_run_x.sock" ("stream", "dgram", "seqpacket" for unix
 * sockets); characters systemd refuses in a name (':', controls, non-ASCII)
 * and '/' become '_', and a name that would be longer than the limit, or
 * was changed that way, ends in "-" and 16 hex digits of a hash of the
 * whole address, so that two addresses never share a name. Pure. Returns
 * buf (at least FDSTORE_NAME_MAX bytes).
 */
char *fdstore_name(const struct listen_addr *a, int type, char *buf, size_t size);

/*
 * l was opened (or adopted): send its fd to the store (FDSTORE=1,
 * FDNAME=fdstore_name()). systemd ignores an fd it holds already. No-op
 * when the store is not enabled; a failure is logged at warning (the
 * listener serves anyway, only a restart would refuse connections).
 */
void fdstore_add(const struct listener *l);

/*
 * l is closed for good by a reload (not at stop, when the store must keep
 * it for the next start): FDSTOREREMOVE=1 with its name. No-op when the
 * store is not enabled.
 */
void fdstore_remove(const struct listener *l);

/* A passed socket named NAME matched no listener and is closed: drop it from the store too. */
void fdstore_remove_name(const char *name);
