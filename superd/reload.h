/* SPDX-License-Identifier: MIT */
/* The reload (SIGHUP, superctl reload): load the configuration again and apply it without refusing a connection. */
#pragma once

struct server;

/*
 * Load every file again. On any error, log each (FILE:LINE, one line each),
 * keep the running set untouched, and return -EINVAL (or -ENOMEM) with the
 * error lines in *ret_errors (malloc'd, may be NULL; ret_errors may be
 * NULL). Otherwise switch to the new set as reload_plan_listeners() plans
 * it: listeners whose identity is unchanged keep their sockets and queued
 * connections, the others close, new ones open (or are retried); services
 * that keep their names keep their counters and running handlers; running
 * handlers are never killed. Returns 0. Tells the service manager
 * RELOADING=1, then READY=1, either way.
 */
int reload(struct server *srv, char **ret_errors);
