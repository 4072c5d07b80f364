/* SPDX-License-Identifier: MIT */
/* The status socket: a local AF_UNIX stream socket that answers one-line requests (superctl) with JSON. */
#pragma once

#include <stdio.h>

#include <systemd/sd-event.h>

/*
 * Protocol (one request per connection, see superctl(1)):
 *
 *   client: one request line, at most STATUS_REQUEST_MAX bytes including
 *           the '\n' (a trailing "\r" is ignored): "status" or "reload".
 *   server: one JSON object, then it closes the connection. The handler
 *           (server.c) writes it; the replies are:
 *
 *   status  {"pid":N,"services":[{"name":"x","listeners":["127.0.0.1:7"],
 *            "not_listening":[{"listen":"[::]:7","error":"Address in use"}],
 *            "running":0,"accepted":0,"failed":0,
 *            "refused":{"acl":0,"per_source":0,"rate":0},"paused":false},
 *            ...],"running":N,"max_children":N}
 *           not_listening: listeners that could not be opened and are
 *           being retried (usually empty); the counters are kept across
 *           reloads while the service keeps its name.
 *   reload  {"ok":true,"services":N}
 *           {"ok":false,"errors":["FILE:LINE: message", ...]}
 *   other   {"error":"unknown command"}
 *
 * A handler that fails (returns -errno) makes the module discard what it
 * wrote and send {"error":"<strerror text>"} instead.
 *
 * Access control is the file mode: the socket is created 0600, so only
 * superd's user (root, normally) and root can connect. There is no SO_PEERCRED
 * check on top of it; the folder it lives in (/run/superd) may restrict it
 * further but cannot widen it.
 *
 * Costs: nothing while no client is connected (one io source, no timer).
 * Each client holds one fd, one io source and one idle timer of
 * STATUS_CLIENT_TIMEOUT_USEC; at most STATUS_CLIENTS_MAX are served at once,
 * more are accepted and closed at once. superd never blocks on a client.
 */

/* Longest request line in bytes, '\n' included; longer ones get the connection closed. */
#define STATUS_REQUEST_MAX 256

/* Clients served at once; more are accepted and closed without a reply. */
#define STATUS_CLIENTS_MAX 16

/* A client that sends no full request, or does not read its reply, within this many µs is dropped. */
#define STATUS_CLIENT_TIMEOUT_USEC (5 * 1000000ULL)

/*
 * Answer one request. COMMAND is the request line without its "\n" (and
 * without a trailing "\r"), never NULL, possibly empty or unknown: the
 * handler answers unknown commands itself ({"error":"unknown command"}).
 * The reply (one JSON object, a trailing "\n" is customary) goes to OUT, an
 * in-memory stream: writing to it never blocks. USERDATA is what
 * status_socket_open() got. Returns 0, or -errno to have the reply replaced
 * by {"error":"..."} naming that errno.
 *
 * The handler runs inside superd's event loop and may do anything superd
 * does there, reload included. It may even call status_socket_close() on the
 * socket it is serving (e.g. a reload moved the status socket): the client
 * being served still gets its reply, sent without waiting, and everything
 * is freed when the handler returns.
 */
typedef int (*status_handler_fn)(const char *command, FILE *out, void *userdata);

/* A listening status socket and its clients. Opaque; owned by whoever opened it. */
struct status_socket;

/*
 * Create the AF_UNIX stream socket at PATH (absolute or relative to the
 * current directory, at most 107 bytes), with mode 0600, listen on it and
 * serve requests from event loop E with FN(command, out, USERDATA).
 *
 * The parent folder must exist. A socket file already at PATH is replaced
 * if nothing accepts connections on it (left behind by a superd that
 * died); a live one is not stolen. The mode comes from the umask around
 * bind(2) alone; nothing is ever changed through PATH, which whoever can
 * write its folder could swap for a symlink.
 *
 * Returns 0 and sets *RET (free with status_socket_close()), or -errno with
 * *RET untouched: -ENAMETOOLONG (PATH too long for sun_path), -EEXIST (PATH
 * exists and is not a socket: a symlink is not followed), -EADDRINUSE
 * (another process serves PATH), -ENOENT (no parent folder), -ENOTSOCK (the
 * file was replaced right after bind(2): nothing is removed then), -EACCES,
 * -ENOMEM, or what socket(2), bind(2), listen(2) or sd_event_add_io()
 * returned. Does not log.
 */
int status_socket_open(sd_event *e, const char *path, status_handler_fn fn, void *userdata, struct status_socket **ret);

/*
 * Stop listening, close every client (replies not yet sent are lost, except
 * the one whose handler is running, see status_handler_fn), and remove the
 * socket file if it is still the one we created. Accepts NULL; returns NULL.
 */
struct status_socket *status_socket_close(struct status_socket *s);

/*
 * Write S to OUT as a JSON string literal: quotes around it, '"', '\\' and
 * control characters escaped, bytes that are not valid UTF-8 replaced by
 * U+FFFD, so the output is always valid JSON. S == NULL writes `null`.
 */
void status_json_string(FILE *out, const char *s);
