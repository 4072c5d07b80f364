/* SPDX-License-Identifier: MIT */
/* The accept path: a listener is readable; admit, then start a handler, a builtin, or a wait = yes handler. */
#pragma once

#include <stdint.h>

#include <systemd/sd-event.h>

/*
 * The io callback of every listener (userdata: the struct listener).
 * Stream, wait = no: accept up to ACCEPT_BATCH connections (one busy port
 * cannot starve the others), each checked by admission_check() and served
 * by a handler (spawn.h) or a builtin. wait = yes: hand the listening socket
 * itself to one handler and pause the listener until it exits. Dgram
 * builtins: answer the queued datagrams. Limits reached pause the listener
 * (listener.h); a connection that fails is closed and logged, never the
 * daemon. Returns 0.
 */
int accept_on_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata);
