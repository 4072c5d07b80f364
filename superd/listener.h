/* SPDX-License-Identifier: MIT */
/* The runtime listener: one listening socket of a service, watched, paused for a set of reasons, retried. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "socket.h"

struct server;
struct service_state;

/*
 * The listener set: one epoll set of superd's own holding every listener
 * that is open and not paused, with one sd-event io source on it, instead
 * of an sd_event_source of ~300 bytes per listener. sd-event stays the one
 * loop: each time it dispatches the set, one ready listener is served
 * (epoll_wait() for one event, level-triggered, so a busy port cannot
 * starve the others: epoll hands out ready listeners in turn). Creates
 * srv->listen_set and srv->listen_set_io. Returns 0 or -errno.
 */
int listener_set_open(struct server *srv);

/* Drop the set's io source and close the epoll fd; listeners must be closed first. */
void listener_set_close(struct server *srv);

/*
 * Why a listener is not watched. A set: reasons overlap (a wait handler
 * runs while max-children is reached), and the listener is watched again
 * only when the last one ends (listener_resume()).
 */
enum pause_reason {
        PAUSE_SERVICE_LIMIT = 1 << 0, /* max-instances reached */
        PAUSE_GLOBAL_LIMIT = 1 << 1,  /* max-children reached; the listener is on server.paused_global */
        PAUSE_WAIT = 1 << 2,          /* wait = yes: a handler holds the socket */
        PAUSE_RATE = 1 << 3,          /* max-rate exceeded: rate-pause seconds */
        PAUSE_BACK_OFF = 1 << 4,      /* accept or spawn failed for lack of resources: a growing interval */
        PAUSE_WORKERS = 1 << 5,       /* a worker pool: every slot runs or backs off, or a start settles (workers.h) */
};

/* Number of pause reasons, for arrays indexed by bit number. */
#define PAUSE_REASONS 6

/* The name of one reason ("max-instances", "max-children", "wait", "rate", "back-off", "workers"), for status, logs. */
const char *pause_reason_name(enum pause_reason r);

/*
 * One listening socket of a service: listen entry i of its service is
 * listeners[i]. Owned by its service_state (service.h), whose allocation holds it.
 */
struct listener {
        struct service_state *service; /* owner */
        int fd;                        /* -1 while not open */
        int open_error;                /* -errno of the last failed attempt to open it, 0 when open or closed */
        struct socket_file file;       /* the socket file superd created (unix:/path), removed at close */
        /*
         * One-shot timer, lazily created. While the listener is open: the
         * end of a back-off. While it cannot be opened (fd < 0, open_error
         * set): the next attempt; it exists only then.
         */
        sd_event_source *retry;
        uint32_t retry_usec;           /* current back-off or retry interval, µs (at most 60 s) */
        unsigned paused;               /* enum pause_reason bits */
        bool wildcard;                 /* bound to any (listener_addr()): read the local address per connection */
        bool adopted;                  /* passed by the service manager: its file is never removed */
        bool open;                     /* opened by listener_start(): watched while `paused` is empty */
        bool watched;                  /* in the server's listener set now (EPOLLIN) */
        struct listener *next_paused;  /* on server.paused_global while PAUSE_GLOBAL_LIMIT is set */
        struct listener *moved_to;     /* during a reload: the new listener that took the socket over */
        struct worker_pool *workers;   /* workers = N: its pool (owned, workers.h), NULL otherwise */
};

/* Its index in its service's listeners, which is also the index of its `listen` entry. */
size_t listener_index(const struct listener *l);

/*
 * Its `listen` entry, which is the address its socket is bound to: a
 * passed or inherited socket is taken only by an entry of the same address
 * (activation.h, reload-plan.h). For a wildcard one (l->wildcard) the local
 * address of a connection is read from the connection.
 */
const struct listen_addr *listener_addr(const struct listener *l);

/*
 * Open listener l (or take the socket the service manager passed for it,
 * activation.h) and watch it. When it cannot be opened (a port held by
 * another process, a missing folder), log it once and retry after 1 s,
 * doubling up to 60 s, as long as the listener exists; the others serve
 * meanwhile (xinetd serves the rest too, without retrying). Returns 0, or
 * the -errno of this attempt.
 */
int listener_start(struct listener *l);

/* Add reason `why` to l's pause set: stop watching it. Connections wait in the kernel's backlog. */
void listener_pause(struct listener *l, enum pause_reason why);

/* Remove reason `why`: watch l again if no reason is left. */
void listener_resume(struct listener *l, enum pause_reason why);

/*
 * accept(2) or a start failed for lack of fds, memory or processes, or a
 * wait = yes handler could not start: pause l for a growing interval (10 ms
 * doubling to 1 s) instead of spinning on a socket that stays readable
 * (OpenBSD inetd pauses a fixed second). `why` starts the warning logged.
 */
void listener_back_off(struct listener *l, const char *why);

/* Accepting worked: the next back-off starts from the shortest interval again. */
void listener_back_off_reset(struct listener *l);

/*
 * Stop watching and close l, for good (stop, or a reload that did not keep
 * it): its socket file goes too, unless it was adopted. Drops its timers.
 */
void listener_close(struct listener *l);

/*
 * A reload keeps prev's socket for l (same identity): move the fd, its io
 * source and what was learnt about it; a wait handler still holding it
 * keeps it paused. prev is left closed, with moved_to set.
 */
void listener_take_over(struct listener *l, struct listener *prev);
