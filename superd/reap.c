/* SPDX-License-Identifier: MIT */
/* Reaping: SIGCHLD, the end of each handler (logged, rate-limited), handler timeouts, releasing wait listeners. */
#include "reap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "listener.h"
#include "log.h"
#include "server.h"
#include "service.h"
#include "spawn.h"
#include "workers.h"

#define TIMEOUT_KILL_USEC (5 * 1000000ULL) /* timeout: SIGTERM to SIGKILL */

/*
 * What a handler's timeout timer needs: the record may move in the child
 * table (children.h), so the timer finds it again by pid. Freed with the
 * timer (its destroy callback).
 */
struct timeout {
        struct server *server;
        pid_t pid;
};

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        const struct timeout *t = userdata;
        struct child *c = children_find(&t->server->children, t->pid);
        uint64_t n;

        if (!c)
                return 0;
        if (service_exit_log_pass(c->service, &n))
                log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = c->service->conf->name, .pid = t->pid },
                            "handler %d ran longer than %u s: sending SIG%s (%llu more in the last %llu s)",
                            (int)t->pid, c->service->conf->timeout, c->term_sent ? "KILL" : "TERM",
                            (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
        if (kill(-t->pid, c->term_sent ? SIGKILL : SIGTERM) < 0)
                (void)kill(t->pid, c->term_sent ? SIGKILL : SIGTERM);
        if (!c->term_sent) {
                c->term_sent = true;
                if (sd_event_source_set_time(s, usec + TIMEOUT_KILL_USEC) < 0 ||
                    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                        (void)kill(-t->pid, SIGKILL); /* no second chance without a timer */
        }
        return 0;
}

int reap_arm_timeout(struct server *srv, struct child *c, unsigned timeout)
{
        struct timeout *t = malloc(sizeof(*t));
        int r;

        if (!t)
                return -ENOMEM;
        *t = (struct timeout){ srv, c->pid };
        r = sd_event_add_time_relative(srv->event, &c->timeout, CLOCK_MONOTONIC, timeout * 1000000ULL, 0, on_timeout, t);
        if (r >= 0)
                r = sd_event_source_set_destroy_callback(c->timeout, free);
        if (r < 0) {
                /* Here the destroy callback was not set: t is still ours. */
                c->timeout = sd_event_source_disable_unref(c->timeout);
                free(t);
                return r;
        }
        return 0;
}

/*
 * The end of c's handler. A failed start (`err` and `step` from
 * spawn_failed(), err 0 when it started), an exit status other than 0 or a
 * signal is logged at error or warning, rate-limited per service, since a
 * client can cause them at will; a clean end only at debug. With
 * log-connections every end is logged, a clean one at info, none
 * rate-limited: each pairs with its accept line (xinetd's log_on_success
 * and log_on_failure), and the admin asked for a line per connection.
 */
static void log_exit(struct server *srv, struct child *c, const siginfo_t *si, int err, const char *step)
{
        struct service_state *st = c->service;
        bool clean = si->si_code == CLD_EXITED && si->si_status == 0;
        bool every = st->conf->log_connections;
        int level = err ? LOG_ERR : !clean ? LOG_WARNING : every ? LOG_INFO : LOG_DEBUG;
        bool limited = level <= LOG_WARNING && !every;
        char status[32], addr[ADDR_STRLEN], more[64] = "";
        struct log_ctx ctx = { .service = st->conf->name, .pid = c->pid, .exit_status = status };
        uint64_t n = 0;

        if (err)
                st->count.failed++;
        if (!log_enabled(level) || (limited && !service_exit_log_pass(st, &n)))
                return;
        if (n)
                snprintf(more, sizeof(more), " (%llu more in the last %llu s)", (unsigned long long)n,
                         LOG_LIMIT_USEC / 1000000ULL);
        ctx.remote = addr_format_peer(&c->remote, addr, sizeof(addr));
        if (si->si_code == CLD_EXITED)
                snprintf(status, sizeof(status), "%d", si->si_status);
        else
                snprintf(status, sizeof(status), "SIG%s", sigabbrev_np(si->si_status) ?: "?");
        if (err) {
                errno = err;
                log_ctx_msg(level, &ctx, "handler %s failed: %s: %m%s", st->conf->argv[0], step, more);
                return;
        }
        log_ctx_msg(level, &ctx, "end pid %d %s %s after %llu ms (client %s)%s", (int)c->pid,
                    si->si_code == CLD_EXITED ? "exitcode" : "signal", status,
                    (unsigned long long)((server_now(srv) - c->start_usec) / 1000), addr, more);
}

/* The wait = yes handler holding l exited: watch the socket again. */
static void wait_handler_done(struct listener *l, bool start_failed)
{
        int flags;

        if (l->fd < 0)
                return; /* closed meanwhile (stop, reload) */
        if (l->workers) { /* a reload made it a pool's socket (workers.h): it stays blocking */
                listener_resume(l, PAUSE_WAIT);
                return;
        }
        flags = fcntl(l->fd, F_GETFL);
        if (flags >= 0)
                (void)fcntl(l->fd, F_SETFL, flags | O_NONBLOCK);
        listener_resume(l, PAUSE_WAIT);
        /* A handler that cannot even start would be restarted at once for the same datagram, for ever. */
        if (start_failed)
                listener_back_off(l, "the handler failed to start");
        else
                listener_back_off_reset(l);
}

/* A child of superd was reaped: if it is a handler, account for its end. */
static void handler_reaped(struct server *srv, const siginfo_t *si)
{
        struct service_state *st;
        struct listener *wait_listener;
        struct worker_pool *pool;
        unsigned worker_slot;
        const char *step;
        struct child *c;
        int err;

        if (!spawn_failed(si->si_pid, &err, &step))
                err = 0;
        c = children_find(&srv->children, si->si_pid);
        if (!c)
                return;
        log_exit(srv, c, si, err, step);
        st = c->service;
        wait_listener = c->wait_listener;
        pool = c->pool;
        worker_slot = c->worker_slot;
        if (c->counted_source)
                source_release(&st->sources, &c->source);
        sd_event_source_disable_unref(c->timeout);
        /* A handler killed for its timeout: what is left of its process group goes too. */
        if (c->term_sent)
                (void)kill(-c->pid, SIGKILL);
        children_remove(&srv->children, c);
        if (wait_listener && !srv->stopping)
                wait_handler_done(wait_listener, err != 0);
        if (pool) /* a worker: its pool restarts it (workers.h), while the service still holds the pool */
                workers_reaped(pool, si->si_pid, worker_slot, err != 0);
        service_handler_ended(st);
}

/* Reap one exited child matching waitid(2)'s `type` and `id`. Returns false when there was none. */
static bool reap_one(struct server *srv, idtype_t type, id_t id)
{
        siginfo_t si = { 0 };

        while (waitid(type, id, &si, WEXITED | WNOHANG) < 0) {
                if (errno != EINTR) {
                        if (errno != ECHILD)
                                log_err("waitid: %m");
                        return false;
                }
        }
        if (si.si_pid == 0)
                return false;
        handler_reaped(srv, &si);
        return true;
}

int reap_on_sigchld(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        struct server *srv = userdata;

        /*
         * The signal names the child whose exit raised it: reaping that one
         * by pid is O(1), while each waitid(P_ALL) walks the kernel's list of
         * all superd's children. Then drain the exits this SIGCHLD also
         * stands for (a pending SIGCHLD is not raised again).
         */
        if (ssi->ssi_code > 0 && ssi->ssi_pid > 0) /* CLD_*: from the kernel, not kill(2) */
                reap_one(srv, P_PID, ssi->ssi_pid);
        while (reap_one(srv, P_ALL, 0))
                ;
        server_stop_done_if_idle(srv);
        return 0;
}

void reap_signal_all(struct server *srv, int sig)
{
        for (size_t i = 0; i < srv->children.cap; i++) {
                pid_t pid = srv->children.slots[i].pid;
                /* The handler leads its own session and group: reach its children too. */
                if (pid > 0 && kill(-pid, sig) < 0)
                        (void)kill(pid, sig);
        }
}
