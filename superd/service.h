/* SPDX-License-Identifier: MIT */
/* A service at run time: its configuration, listeners, limits, counters and log limiters, reference counted. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "env.h"
#include "limited-log.h"
#include "listener.h"
#include "ratelimit.h"
#include "source.h"
#include "status.h"

struct server;

/* What superctl status and SIGUSR1 count. Kept across a reload while the service keeps its name. */
struct service_counters {
        uint64_t accepted, failed;
        uint64_t refused_acl, refused_per_source, refused_rate; /* closed before any spawn, by reason */
        uint64_t refused_proxy;       /* not from proxy-from, a bad or missing PROXY header, too many waiting */
};

/*
 * A service at run time.
 *
 * Lifetime (reference counting): the server holds one reference while the
 * service is in its configuration, every running handler one (struct child)
 * and every builtin stream connection one. A reload drops the server's
 * reference of the old service and closes its listeners; the service_state
 * lives on, with its configuration, until its last handler is reaped, so a
 * child always finds its service's name, limits and counters. The last
 * service_state_unref() frees it.
 */
struct service_state {
        /*
         * One is allocated per service: fields are ordered so that the struct
         * has no holes, 8-byte ones first, then the 4-byte ones (rate_limit
         * is packed to 12), then the bytes (200 bytes on 64-bit Linux).
         */
        struct service *conf;           /* the configuration (owned) */
        struct server *server;          /* the server it belongs to */
        unsigned refs;
        unsigned running;               /* handlers and builtin connections */
        struct handler_env env;         /* environment of its handlers */
        struct service_counters count;
        struct source_table sources;    /* running handlers per remote address (max-per-source) */
        sd_event_source *rate_timer;    /* ends a rate pause; lazily created */
        struct limited_log refusal_log; /* connections refused before any spawn */
        struct limited_log exit_log;    /* handlers that failed to start, exited non-zero, were killed or timed out */
        struct limited_log limit_log;   /* max-instances reached */
        struct rate_limit rate;         /* max-rate */
        int stderr_fd;                  /* fd 2 for stderr = log: a journal stream, or superd's stderr */
        unsigned n_listeners;
        uint8_t proxy_waiting;          /* connections waiting for their PROXY header, <= PROXY_WAIT_PER_SERVICE */
        bool set_creds;                 /* handlers need other credentials than superd's own */
        bool rate_paused;
        bool limit_reached;             /* max-instances: this episode was logged */
        struct listener listeners[];    /* one per `listen` entry, same order; in the same allocation */
};

/*
 * The runtime state of `conf` for server srv, with one reference (the
 * server's); its listeners are not open yet (listener_start()). Takes
 * ownership of conf on success; returns NULL (ENOMEM) and leaves conf to the
 * caller on failure.
 */
struct service_state *service_state_new(struct server *srv, struct service *conf);

/* Take one more reference (a waiting connection, a callback that must outlive a release); returns st. */
static inline struct service_state *service_state_ref(struct service_state *st)
{
        st->refs++;
        return st;
}

/* Drop one reference; the last one closes the listeners and frees everything. Accepts NULL; returns NULL. */
struct service_state *service_state_unref(struct service_state *st);

/* Close every listener of st, for good (stop, reload). */
void service_state_close_listeners(struct service_state *st);

/* True when max-instances of st run. */
bool service_at_limit(const struct service_state *st);

/* A handler (or builtin connection) of st started: it holds a reference and counts as running. */
void service_handler_started(struct service_state *st);

/*
 * A handler (or builtin connection) of st ended: unless the server stops,
 * resume what max-instances and max-children paused; drop its reference.
 */
void service_handler_ended(struct service_state *st);

/*
 * max-rate exceeded: stop accepting (wait = yes: stop starting handlers)
 * for rate-pause seconds, then resume by itself; logged once per pause.
 */
void service_rate_pause(struct service_state *st);

/*
 * A connection from `peer` was refused for `why`: logged at notice at most
 * once per LOG_LIMIT_USEC per service, with the count of the others.
 */
void service_log_refusal(struct service_state *st, const struct sockaddr_in6 *peer, const char *why);

/*
 * May a line of st's exit_log (a handler failed to start, exited non-zero,
 * was killed or timed out) be written now? limited_log_pass() with the
 * log's summary; *ret_suppressed as there.
 */
bool service_exit_log_pass(struct service_state *st, uint64_t *ret_suppressed);

/* The same for st's limit_log (max-instances reached). */
bool service_limit_log_pass(struct service_state *st, uint64_t *ret_suppressed);

/* Worker slots of st's pools (workers.h), summed over its listeners: what service_state_snapshot() needs room for. */
size_t service_state_workers(const struct service_state *st);

/*
 * Fill *ret (and `listeners`, st->n_listeners entries, which *ret points
 * to, and `workers`, service_state_workers(st) entries, which the listeners
 * point to) with st's state for superctl status and SIGUSR1. Strings point
 * into st: valid until st changes.
 */
void service_state_snapshot(const struct service_state *st, struct status_listener *listeners,
                            struct status_worker *workers, struct status_service *ret);
