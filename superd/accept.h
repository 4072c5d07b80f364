/* SPDX-License-Identifier: MIT */
/* The accept path: a listener is readable; admit, then start a handler, a builtin, or a wait = yes handler. */
#pragma once

#include <stdint.h>

#include <systemd/sd-event.h>

struct listener;

/*
 * Listener l is readable (the listener set, listener.h, picked it). Stream, wait = no: accept up to ACCEPT_BATCH connections (one busy port
 * cannot starve the others), each checked by admission_check() and served
 * by a handler (spawn.h) or a builtin. wait = yes: hand the listening socket
 * itself to one handler and pause the listener until it exits; with a
 * worker pool (workers.h), workers_on_ready() decides instead. Dgram
 * builtins: answer the queued datagrams. Limits reached pause the listener
 * (listener.h); a connection that fails is closed and logged, never the
 * daemon.
 */
void accept_on_ready(struct listener *l);

struct sockaddr_in6;
struct handler_env_proxy;

/*
 * Serve an accepted connection `fd` (owned from now on) of l's service from
 * `client`: admit it (admission_check()), then start a builtin or a handler.
 * For a connection that came with a PROXY header (proxy-wait.h), `client`
 * and `local` are the header's addresses and `proxy` the rest; otherwise
 * `local` and `proxy` are NULL. `client` AF_UNIX stands for a unix socket
 * peer. Returns 0, or -EAGAIN/-ENOMEM when no process could be created
 * (the caller backs off); other failures are logged.
 */
int accept_serve(struct listener *l, int fd, struct sockaddr_in6 *client, const struct sockaddr_in6 *local,
                 const struct handler_env_proxy *proxy);

/*
 * Start worker `index` of l's pool (workers.h): a wait = yes handler with
 * the listening socket on fds 0, 1 and 3 and SUPERD_WORKER=<index>, recorded
 * in the child table like any handler (then workers.c marks the record).
 * The socket is left as it is (a pool keeps it blocking). Returns the pid,
 * or -errno as start_handler() (logged except -EAGAIN and -ENOMEM).
 */
int accept_start_worker(struct listener *l, unsigned index);
