/* SPDX-License-Identifier: MIT */
/* The status socket: a local AF_UNIX stream socket that answers one-line requests (superctl) with JSON. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

/*
 * Protocol (one request per connection, see superctl(1)):
 *
 *   client: one request line, at most STATUS_REQUEST_MAX bytes including
 *           the '\n' (a trailing "\r" is ignored): "status", "reload" or "upgrade".
 *   server: one JSON object and a '\n', then it closes the connection. The
 *           handler (server.c) answers, with status_write_status() and
 *           status_write_reload() for the first two:
 *
 *   status  {"pid":N,"services":[{"name":"x","listeners":["127.0.0.1:7"],
 *            "not_listening":[{"listen":"[::]:7","error":"Address in use"}],
 *            "running":0,"accepted":0,"failed":0,
 *            "refused":{"acl":0,"per_source":0,"rate":0,"proxy":0},"paused":false,
 *            "pause":[]},
 *            ...],"running":N,"max_children":N}
 *           A service with a worker pool (workers = N) also has, after
 *           "pause", "workers":[{"listen":"127.0.0.1:7","index":0,"pid":N,
 *           "uptime":S,"restarts":N,"backing_off":false},...] (one per slot
 *           of each listener; pid 0 when not running) and "queue":N, what
 *           waits on its sockets: TCP connections not accepted yet (the
 *           accept queue), plus 1 for each dgram or unix socket with
 *           something waiting.
 *           not_listening: listeners that could not be opened and are
 *           being retried (usually empty); the counters are kept across
 *           reloads while the service keeps its name. pause: why listeners
 *           of the service are not watched, each reason once, in the order
 *           of the listeners: "max-instances", "max-children", "wait",
 *           "rate", "back-off", "workers"; paused is true iff pause is not empty.
 *   reload  {"ok":true,"services":N}
 *           {"ok":false,"errors":["FILE:LINE: message", ...]}
 *   upgrade {"ok":true,"upgraded":"superd X.Y.Z","services":N,"handlers":M}
 *           sent by the new image once it serves ("config":"kept" added when
 *           it refused the files and kept the previous services), or
 *           {"ok":false,"errors":["..."]} by the old one, which goes on
 *           (upgrade.h).
 *   other   {"error":"unknown command"}
 *
 * Keys appear in the order shown; clients must ignore keys they do not
 * know. Strings are UTF-8: bytes that are not valid UTF-8 (file names,
 * mostly) are sent as U+FFFD, control characters are escaped; '/' is not.
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
 * Writing a reply builds it as a json-c tree first: O(services + listeners)
 * allocations per "status", only when a client asks.
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
 * Bound by socket_listen_unix() (socket.h), the binder listeners use too:
 * the parent folder must exist; a socket file already at PATH is replaced
 * if nothing accepts connections on it (left behind by a superd that
 * died); a live one is not stolen. The mode comes from the umask around
 * bind(2) alone; nothing is ever changed through PATH, which whoever can
 * write its folder could swap for a symlink.
 *
 * Returns 0 and sets *RET (free with status_socket_close()), or -errno with
 * *RET untouched: -EINVAL (an argument is NULL or PATH is empty),
 * -ENAMETOOLONG (PATH too long for sun_path), -EISDIR (PATH ends in '/'),
 * -EEXIST (PATH exists and is not a socket: a symlink is not followed),
 * -EADDRINUSE (another process serves PATH), -ENOENT (no parent folder),
 * -ENOTSOCK (the file was replaced right after bind(2): nothing is removed
 * then), -EACCES, -ENOMEM, or what socket(2), bind(2), listen(2) or
 * sd_event_add_io() returned. Does not log.
 */
int status_socket_open(sd_event *e, const char *path, status_handler_fn fn, void *userdata, struct status_socket **ret);

/*
 * Stop listening, close every client (replies not yet sent are lost, except
 * the one whose handler is running, see status_handler_fn), and remove the
 * socket file if it is still the one we created. Accepts NULL; returns NULL.
 */
struct status_socket *status_socket_close(struct status_socket *s);

/*
 * The connection of the client whose request is being answered right now
 * (from within the status_handler_fn), or -1. Still owned by the module:
 * an upgrade (upgrade.h) hands it to the next image, which answers on it.
 */
int status_serving_fd(const struct status_socket *s);

/*
 * The state the "status" reply and SIGUSR1 report: plain data that the
 * server fills and owns (every pointer is borrowed for the call; strings
 * never NULL, any bytes: they are made valid UTF-8 for JSON).
 */
/* One slot of a worker pool (workers.h). */
struct status_worker {
        unsigned index;    /* SUPERD_WORKER */
        pid_t pid;         /* 0: not running (not started yet, or backing off) */
        uint64_t uptime;   /* seconds since its last start; 0 when not running */
        unsigned restarts; /* starts after the first */
        bool backing_off;  /* waiting out a back-off after quick exits */
};

struct status_listener {
        const char *listen;           /* as written in the drop-in */
        int open_error;               /* 0: open; -errno of the last failed attempt to open it (being retried) */
        const char *pause_reasons[8]; /* NULL-terminated names of why it is not watched ("max-instances",
                                         "max-children", "wait", "rate", "back-off", "workers"); empty: watched */
        bool pool;                    /* a worker pool serves it (workers = N): the two fields below count */
        const struct status_worker *workers; /* its slots, n_workers of them */
        size_t n_workers;
        int queue;                    /* waiting on the socket (workers_queue_length()): TCP connections, else 0/1;
                                         -1 when not known (not open) */
};

struct status_service {
        const char *name;
        const struct status_listener *listeners;
        size_t n_listeners;
        unsigned running;
        uint64_t accepted, failed, refused_acl, refused_per_source, refused_rate, refused_proxy;
};

struct status_snapshot {
        pid_t pid;
        const struct status_service *services;
        size_t n_services;
        size_t running; /* handlers of all services */
        unsigned max_children;
};

/*
 * Write the reply to "status" as one JSON object and a '\n' (grammar
 * above) to OUT. Returns 0 or -ENOMEM (json-c could not allocate; nothing
 * is written then). Errors of OUT itself show at its fclose(3).
 */
int status_write_status(FILE *out, const struct status_snapshot *s);

/*
 * Write the reply to "reload" and a '\n' to OUT: {"ok":true,"services":N}
 * when R is 0 (ERROR_LINES is ignored then), else {"ok":false,"errors":[...]}
 * with one entry per non-empty '\n'-separated line of ERROR_LINES (may be
 * NULL), or, if it has none (out of memory, stopping), the text of
 * strerror(-R). Returns 0 or -ENOMEM, as status_write_status().
 */
int status_write_reload(FILE *out, size_t n_services, const char *error_lines, int r);

/* Room for any line status_format_service() writes, with its NUL. */
#define STATUS_SERVICE_LINE_MAX 320

/*
 * One line of text for SIGUSR1 from the same snapshot, into BUF of SIZE
 * bytes (STATUS_SERVICE_LINE_MAX is always enough; less truncates):
 * "listeners 2 (paused 0), running 0, accepted 3, failed 0, refused acl 0
 * per-source 0 rate 0 proxy 0", where paused counts the listeners with a pause
 * reason. The service's name is not in it (the log context carries it).
 * Returns the length of what is in BUF, NUL excluded.
 */
size_t status_format_service(char *buf, size_t size, const struct status_service *s);
