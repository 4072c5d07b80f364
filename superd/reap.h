/* SPDX-License-Identifier: MIT */
/* Reaping: SIGCHLD, the end of each handler (logged, rate-limited), handler timeouts, releasing wait listeners. */
#pragma once

#include <signal.h>

#include <systemd/sd-event.h>

#include "children.h"

struct server;

/*
 * The SIGCHLD signal source's callback (userdata: the server), the one
 * reaper: reap the child the signal names by pid (O(1)), then drain every
 * other exit with waitid(P_ALL, WEXITED|WNOHANG); no fd per child. Each
 * handler's end is accounted for (its service, per-source count, wait
 * listener, limits) and logged. Returns 0.
 */
int reap_on_sigchld(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata);

/*
 * Arm c's `timeout` (seconds, > 0): SIGTERM to the handler's process group
 * when it runs longer, SIGKILL 5 s later. The timer belongs to the record
 * (children.h). Returns 0 or -errno (then the handler may run for ever,
 * which the caller logs).
 */
int reap_arm_timeout(struct server *srv, struct child *c, unsigned timeout);

/* Send `sig` to every handler's process group (the handler leads its own session). */
void reap_signal_all(struct server *srv, int sig);
