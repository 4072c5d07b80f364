/* SPDX-License-Identifier: MIT */
/* The daemon: run(), the state its modules share, signals, start, stop, sd_notify. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "activation.h"
#include "children.h"
#include "env.h"
#include "limited-log.h"

/* Exit statuses of superd (superd(8), EXIT STATUS). */
enum {
        EXIT_CLEAN = 0,      /* clean stop */
        EXIT_CONFIG = 1,     /* configuration error */
        EXIT_USAGE = 2,      /* command line error */
        EXIT_LISTENER = 3,   /* a listener could not be opened at start */
};

/* What the command line asks for. */
struct run_options {
        const char *config_file;  /* NULL: the default file, which may be missing */
        const char *services_dir; /* NULL: services-dir from the main file */
        int log_level;            /* syslog priority, or -1 to take log-level from the main file */
        bool check;               /* -t: validate, print the effective services, exit */
        bool daemon;              /* --daemon: detach once the configuration is valid */
        const char *pidfile;      /* --pidfile: written once ready, removed at stop; NULL for none */
        bool fd_store;            /* --fd-store: listeners go to systemd's fd store (fdstore.h) */
        const char *self;         /* the binary, resolved at start (upgrade_resolve_self()); NULL: unknown */
        char *const *argv;        /* the command line, executed again by an upgrade (upgrade.h) */
};

/*
 * Load the configuration, open every listener and serve until SIGTERM or
 * SIGINT. Returns an exit status from the enum above. Errors are logged
 * (configuration errors as FILE:LINE on stderr) before returning.
 */
int run(const struct run_options *o);

/* ---- the running server: state shared by the modules of the daemon (DESIGN.md §1) ---- */

struct listener;
struct service_state;
struct status_socket;
struct proxy_slot;

/*
 * The daemon's state. One per process, owned by run(); every callback
 * reaches it through its userdata: a listener through its service
 * (service_state.server), the others directly.
 */
struct server {
        sd_event *event;
        int listen_set;                  /* epoll fd: the listeners watched now (listener.h), -1 before */
        sd_event_source *listen_set_io;  /* sd-event's watch on listen_set */
        struct service_state **services; /* the current configuration's services, one reference each */
        size_t n_services;
        struct child_table children;     /* running handlers by pid, each holding its service */
        unsigned max_children;           /* all services together, 0 = no limit */
        struct listener *paused_global;  /* listeners paused because max-children was reached */
        struct limited_log limit_log;    /* max-children reached */
        bool limit_reached;              /* max-children: this episode was logged */
        bool stopping;
        const struct run_options *opts;  /* to load the configuration again on SIGHUP */
        int devnull;                     /* fd 2 for stderr = null */
        struct handler_env_conn conn_env; /* the environment of the handler being started (env.h) */
        uint16_t *builtin_ports;         /* ports of the dgram builtins: never answer datagrams from them */
        size_t n_builtin_ports;
        struct activation activation;    /* sockets passed at start, until matched */
        struct status_socket *status;    /* superctl's socket, NULL when not configured */
        struct proxy_slot *proxy_slots;  /* PROXY_WAIT_MAX slots, allocated at the first wait (proxy-wait.h) */
        size_t proxy_waiting;            /* slots in use */
        char *status_path;
        struct upgrade_state *upgrade;   /* while starting after an upgrade (upgrade.h), else NULL */
};

/* The loop's time, CLOCK_MONOTONIC µs (sd_event_now()). */
uint64_t server_now(const struct server *srv);

/*
 * Arm the one-shot CLOCK_MONOTONIC timer *s (created at its first use,
 * then reused) for the absolute time `usec` (µs). Returns 0 or -errno.
 */
int server_arm_timer(struct server *srv, sd_event_source **s, uint64_t usec, sd_event_time_handler_t callback,
                     void *userdata);

/* True when max-children handlers run. */
bool server_at_global_limit(const struct server *srv);

/*
 * max-children was reached: pause l (PAUSE_GLOBAL_LIMIT) until a handler of
 * any service exits; logged at notice once per episode, rate-limited.
 */
void server_pause_global(struct server *srv, struct listener *l);

/* A handler exited: below max-children, watch again what the global limit paused. */
void server_resume_global(struct server *srv);

/*
 * Tell the service manager our state (sd_notify): `state` ("READY=1", or
 * NULL for a STATUS= update alone) and STATUS= with the counts of services,
 * handlers and listeners that could not be opened, naming the first.
 */
void server_notify_status(struct server *srv, const char *state);

/* Stopping and no handler left: leave the event loop. */
void server_stop_done_if_idle(struct server *srv);

/*
 * Remember the ports of the dgram builtins among `services`: a datagram
 * from one of them is never answered, so two builtins (here or on another
 * inetd) cannot bounce datagrams at each other for ever.
 */
void server_collect_builtin_ports(struct server *srv, struct service_state **services, size_t n);

/* Open, move or close the status socket so that it is at `path` (NULL: none). Failures are logged. */
void server_status_socket_update(struct server *srv, const char *path);
