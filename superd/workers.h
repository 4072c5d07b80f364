/* SPDX-License-Identifier: MIT */
/* Worker pools (`workers = N`): long-lived handlers sharing one listening socket, started on demand, supervised. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "config.h"

struct listener;
struct status_worker;
struct child;

/*
 * Semantics (DESIGN.md §2 "Worker pools", superd.conf(5) WORKERS): the
 * pre-forked design of Apache's prefork MPM and of gunicorn, with the
 * socket handed over by the sd_listen_fds(3) protocol as in wait mode, plus
 * SUPERD_WORKER=<slot>. Each listener of a pool service has its own pool of
 * N slots; slot i always runs worker i. The kernel gives each connection (or
 * datagram) to exactly one worker blocked in accept(2) (recvfrom(2)).
 *
 * Costs: no process while idle (lazy); no timer unless a start is settling
 * (WORKERS_SETTLE_USEC after a readiness) or a slot backs off; no wake-up at
 * all while every slot runs or backs off (the listener is paused,
 * PAUSE_WORKERS). O(N) per start, exit and timer (N <= WORKERS_MAX).
 */

/* A worker that exits (or fails to start) within this many µs of its start is restarted only after a back-off. */
#define WORKERS_QUICK_EXIT_USEC (3 * 1000000ULL)

/* µs a replaced worker (or one beyond N) has between SIGTERM and SIGKILL, as at superd's stop. */
#define WORKERS_RETIRE_KILL_USEC (5 * 1000000ULL)

/* First back-off step, µs; each quick exit doubles it up to WORKERS_BACK_OFF_MAX_USEC. */
#define WORKERS_BACK_OFF_MIN_USEC (1000000ULL)
#define WORKERS_BACK_OFF_MAX_USEC (60 * 1000000ULL)

/*
 * µs between a readiness of the socket and the look at its queue that
 * decides on starting one more worker: the running ones get that long to
 * take what is waiting. At most 1 s / this many wake-ups per second while a
 * lazy pool is not full.
 */
#define WORKERS_SETTLE_USEC (50 * 1000ULL)

/*
 * ... but at least this many µs after the newest start: a worker just
 * started is still exec'ing, and what waits meanwhile is no sign that one
 * more is needed. So a lazy pool grows by at most one worker per 250 ms.
 */
#define WORKERS_START_SETTLE_USEC (250 * 1000ULL)

/* One slot of a pool: the worker with SUPERD_WORKER=<its index>. */
struct worker_slot {
        pid_t pid;              /* the running worker, 0 when none */
        uint64_t start_usec;    /* CLOCK_MONOTONIC of its last start */
        uint64_t back_off_usec; /* current back-off step, 0 when the last run was not quick */
        uint64_t until_usec;    /* backing off until then (CLOCK_MONOTONIC); 0 when not backing off */
        unsigned restarts;      /* starts after the first */
        bool started;           /* started at least once */
        bool stale;             /* runs an older exec, user or environment: replaced one at a time */
};

/*
 * The pool of one listener. Owned by its listener (listener.workers),
 * created by workers_open() and freed by workers_close(); a reload moves it
 * to the new listener (workers_take_over()). Child records of its workers
 * point to it (child.pool) and are cleared when it is freed. Owns its
 * timers and its kick.
 */
struct worker_pool {
        struct listener *listener;   /* whose socket the workers share */
        unsigned target;             /* N: workers wanted, `auto` resolved */
        bool eager;                  /* workers-start = eager */
        unsigned running;            /* slots with a worker */
        unsigned retiring;           /* workers sent SIGTERM (replaced, beyond N) and not reaped yet */
        bool settling;               /* a readiness is being looked at after WORKERS_SETTLE_USEC */
        uint64_t last_start_usec;    /* CLOCK_MONOTONIC of the newest start */
        struct worker_slot *slots;   /* `cap` entries, cap >= target */
        unsigned cap;
        sd_event_source *back_off;   /* ends the earliest back-off; armed only while a slot backs off */
        sd_event_source *settle;     /* the look at the queue; armed only while settling */
        sd_event_source *kick;       /* one-shot defer: eager starts, replacements, resizing after a change */
        sd_event_source *retire_kill; /* SIGKILL to retiring workers WORKERS_RETIRE_KILL_USEC after a SIGTERM;
                                         armed only while some are retiring */
};

/* True when `conf` asks for a pool (workers > 1, auto or eager); false: today's wait mode (or wait = no). */
bool workers_configured(const struct service *conf);

/*
 * The number of workers `conf` asks for: its `workers` (0 counts as 1), or
 * for WORKERS_AUTO the CPUs this process may run on (sched_getaffinity(2),
 * at least 1, at most WORKERS_MAX).
 */
unsigned workers_resolve(const struct service *conf);

/*
 * The next back-off step after `current_usec` (0: none yet): 1 s, then
 * doubling to 60 s, where it stays. Pure.
 */
uint64_t workers_back_off_next(uint64_t current_usec);

/*
 * The start-another decision of a lazy pool (pure): with `running` workers
 * and `idle` slots that may start now (not running, not backing off), start
 * one when there is a slot and either no worker runs (the first readiness)
 * or connections still wait (`pending`) after the running ones had
 * WORKERS_SETTLE_USEC to take them.
 */
bool workers_want_another(unsigned running, unsigned idle, bool pending);

/*
 * What waits on listening socket `fd` of type `socket_type`: for TCP the
 * accept queue's length (TCP_INFO tcpi_unacked of a listening socket); for
 * dgram and unix sockets 1 when something waits (poll(2)) and 0 otherwise.
 * Returns that count, or -errno.
 */
int workers_queue_length(int fd, int socket_type);

/*
 * l was opened and is watched, and its service is a pool: create its pool,
 * make the socket blocking (what workers expect, as from systemd) and, for
 * eager, start the workers from the event loop (a kick, not from inside
 * this call, so a reload never spawns half-way). Returns 0 or -ENOMEM.
 */
int workers_open(struct listener *l);

/*
 * l closes for good (stop, or a reload that did not keep it), or its pool
 * goes: unless superd stops (then reap_signal_all() reaches them), SIGTERM
 * to every worker's process group; drop the timers and free the pool.
 * Their child records stay until reaped, pointing to no pool. Accepts a
 * listener without a pool.
 */
void workers_close(struct listener *l);

/*
 * A reload moved prev's socket to l (listener_take_over()). If l's service
 * is a pool, l takes prev's pool (or a new one, and a wait = yes handler
 * holding the socket gets SIGTERM): a change of N starts or
 * stops the difference; a change of exec, user, group, environment, stderr
 * or process settings replaces its workers one at a time (start the new
 * one, then SIGTERM the old one; the next when that one is reaped). If it
 * is not, prev's workers get SIGTERM and the socket is non-blocking again.
 * The work is done from a kick, after the reload. Returns 0 or -ENOMEM
 * (logged; the pool then keeps its old workers).
 */
int workers_take_over(struct listener *l, struct listener *prev);

/*
 * The socket of pool listener l is readable (accept_on_ready()): start a
 * worker when none runs, then look again after WORKERS_SETTLE_USEC (at
 * least WORKERS_START_SETTLE_USEC after the newest start) and start one
 * more when the decision says so. Pauses l at max-children. Returns 0.
 */
int workers_on_ready(struct listener *l);

/*
 * After an upgrade (upgrade.c): put c, a running worker of the old image,
 * back into slot `slot` of l's pool, counted and supervised as if started
 * here. A slot beyond N or taken already makes it a replaced worker
 * (SIGTERM, SIGKILL 5 s later). Returns 0, or -ENOENT when l has no pool
 * (the caller ends the worker: it would go on accepting).
 */
int workers_adopt(struct listener *l, struct child *c, unsigned slot);

/*
 * Worker `pid` of `pool` was reaped (reap.c), its child record already
 * removed: free its slot; a quick exit or a failed start (`start_failed`)
 * backs the slot off; an eager pool restarts it at once, a lazy one on the
 * next readiness. A replaced worker lets the next replacement go on.
 * Nothing restarts while superd stops.
 */
void workers_reaped(struct worker_pool *pool, pid_t pid, unsigned slot, bool start_failed);

/* Slots of l's pool to show in status (0 without a pool): the size of the array workers_snapshot() fills. */
size_t workers_count(const struct listener *l);

/*
 * Fill ret (workers_count(l) entries) with l's slots for status: index, pid
 * (0: none), uptime in s at `now_usec`, restarts. Returns the count filled.
 */
size_t workers_snapshot(const struct listener *l, uint64_t now_usec, struct status_worker *ret);
