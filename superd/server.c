/* SPDX-License-Identifier: MIT */
/* The daemon: listeners, the sd-event loop, spawning and reaping handlers, stopping. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>

#include "acl.h"
#include "builtin.h"
#include "children.h"
#include "daemon.h"
#include "config.h"
#include "env.h"
#include "socket.h"
#include "log.h"
#include "ratelimit.h"
#include "source.h"
#include "spawn.h"
#include "status.h"

#define ACCEPT_BATCH 32          /* connections accepted per wakeup, so one port cannot starve others */
#define STOP_TIMEOUT_USEC (5 * 1000000ULL) /* SIGTERM to SIGKILL at stop */
#define RESOURCE_PAUSE_MIN_USEC (10 * 1000ULL)  /* first pause after EMFILE and friends */
#define RESOURCE_PAUSE_MAX_USEC (1000 * 1000ULL)
#define TIMEOUT_KILL_USEC (5 * 1000000ULL)     /* timeout: SIGTERM to SIGKILL */
#define LOG_LIMIT_USEC (10 * 1000000ULL)       /* one line per limited_log in this time, then a summary */
#define OPEN_RETRY_MIN_USEC (1000 * 1000ULL)   /* a listener that cannot be opened: first retry */
#define OPEN_RETRY_MAX_USEC (60 * 1000000ULL)  /* ... doubling up to this */

struct service_state;

/*
 * A log limiter with its summary timer: the first line passes, later ones
 * within LOG_LIMIT_USEC are counted, and `summary` writes the count ("N
 * more ...") from a one-shot timer that exists only while a summary is
 * pending, or the next line that passes carries it. Client-caused lines
 * (refusals, handler failures, limits reached) all go through one.
 */
struct limited_log {
        struct log_limit limit;
        sd_event_source *flush;
        void (*summary)(struct limited_log *ll, uint64_t n); /* n > 0 lines were not written */
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* One listening socket of a service. */
struct listener {
        struct service_state *svc; /* owner */
        int fd;
        sd_event_source *io;
        /*
         * One-shot timer, lazily created. While the listener is open: the
         * end of a back-off after a resource error. While it cannot be
         * opened (fd < 0, open_error set): the next attempt; it exists only
         * then, and is freed once the listener opens.
         */
        sd_event_source *retry;
        uint64_t retry_usec;       /* current back-off */
        int open_error;            /* -errno of the last failed attempt to open it, 0 when open or closed */
        struct sockaddr_in6 local; /* bound address; AF_INET fits; AF_UNIX: family only */
        bool wildcard;             /* bound to any: read the local address per connection */
        bool adopted;              /* passed in by the service manager (sd_listen_fds): never unlinked */
        enum pause_reason {
                RUNNING,
                PAUSED_SERVICE, /* max-instances reached */
                PAUSED_GLOBAL,  /* max-children reached */
                PAUSED_WAIT,    /* wait = yes: a handler holds the socket */
                PAUSED_RATE,    /* max-rate exceeded: rate-pause seconds */
        } paused;                  /* io off, and why */
        struct listener *next_paused; /* in server.paused_global while PAUSED_GLOBAL */
        struct listener *moved_to; /* during a reload: the new listener that took the socket over */
};

/*
 * Runtime state of a service: its configuration (owned), handler
 * environment, listeners and counters. Reference counted: the server holds
 * one reference and every running child another, so a child always finds
 * its service, whatever happens to the configuration meanwhile.
 */
struct service_state {
        struct service *svc;
        unsigned refs;
        unsigned running;
        struct handler_env env;
        int stderr_fd;             /* fd 2 for stderr = log: a journal stream, or superd's stderr */
        bool set_creds;            /* handlers need other credentials than superd's own */
        struct listener *listeners;
        size_t n_listeners;
        struct service_counters {
                uint64_t accepted, failed;
                uint64_t refused_acl, refused_per_source, refused_rate; /* closed before any spawn, by reason */
        } count;                      /* kept across reloads while the name stays */
        struct source_table sources;  /* running handlers per remote address (max-per-source) */
        struct rate_limit rate;       /* max-rate */
        bool rate_paused;
        sd_event_source *rate_timer;  /* ends a rate pause; lazily created */
        struct limited_log refusal_log; /* connections refused before any spawn */
        struct limited_log exit_log;    /* handlers that failed to start, exited non-zero, were killed or timed out */
        struct limited_log limit_log;   /* max-instances reached */
        bool limit_reached;             /* max-instances: this episode was logged */
};

struct server {
        sd_event *event;
        struct service_state **services;
        size_t n_services;
        struct child_table children;
        unsigned max_children;
        struct listener *paused_global; /* paused because max-children was reached */
        struct limited_log limit_log;   /* max-children reached */
        bool limit_reached;             /* max-children: this episode was logged */
        bool stopping;
        const struct run_options *opts; /* to load the configuration again on SIGHUP */
        int devnull;
        char conn_env[HANDLER_ENV_CONN_SIZE];
        uint16_t *builtin_ports;        /* ports of the dgram builtins: never answer datagrams from them */
        size_t n_builtin_ports;
        struct adopted_fd *adopted;     /* sockets passed at start (sd_listen_fds), until matched */
        size_t n_adopted;
        struct status_socket *status;   /* superctl's socket, NULL when not configured */
        char *status_path;
};

/* A socket passed to superd by its service manager, waiting to be matched to a listen entry. */
struct adopted_fd {
        int fd;                         /* -1 once taken by a listener or closed */
        int type;                       /* SO_TYPE */
        struct sockaddr_storage sa;     /* getsockname() */
        socklen_t len;
};

static struct server *the_server; /* listeners and timers reach the server through it; there is one */

static uint64_t now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- rate-limited log lines ---- */

static int on_log_summary(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct limited_log *ll = userdata;
        uint64_t now, n;

        sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC, &now);
        n = log_limit_take_summary(&ll->limit, now);
        ll->flush = sd_event_source_unref(ll->flush); /* freed once this callback returns */
        if (n)
                ll->summary(ll, n);
        return 0;
}

/*
 * May a line of ll be written now? True: write it, with *ret_suppressed
 * (the lines not written since the last one) in it. False: it was counted,
 * and its summary is scheduled.
 */
static bool limited_log_pass(struct server *srv, struct limited_log *ll, uint64_t *ret_suppressed)
{
        uint64_t now;

        sd_event_now(srv->event, CLOCK_MONOTONIC, &now);
        if (log_limit_pass(&ll->limit, now, LOG_LIMIT_USEC, ret_suppressed)) {
                ll->flush = sd_event_source_disable_unref(ll->flush);
                return true;
        }
        if (!ll->flush && sd_event_add_time(srv->event, &ll->flush, CLOCK_MONOTONIC,
                                            log_limit_summary_due(&ll->limit, LOG_LIMIT_USEC), 0, on_log_summary,
                                            ll) < 0)
                ll->flush = NULL; /* no timer: the count comes with the next line that passes */
        return false;
}

/* ll's owner goes away: write its pending summary now and drop its timer. */
static void limited_log_done(struct limited_log *ll)
{
        uint64_t n = log_limit_take_summary(&ll->limit, now_usec());

        ll->flush = sd_event_source_disable_unref(ll->flush);
        if (n)
                ll->summary(ll, n);
}

static void refusal_summary(struct limited_log *ll, uint64_t n)
{
        const struct service_state *st = container_of(ll, struct service_state, refusal_log);

        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->svc->name },
                    "%llu more refused in the last %llu s (totals: acl %llu, per-source %llu, rate %llu)",
                    (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL, (unsigned long long)st->count.refused_acl,
                    (unsigned long long)st->count.refused_per_source, (unsigned long long)st->count.refused_rate);
}

static void exit_summary(struct limited_log *ll, uint64_t n)
{
        const struct service_state *st = container_of(ll, struct service_state, exit_log);

        log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = st->svc->name },
                    "%llu more handler(s) failed, exited non-zero, were killed or timed out in the last %llu s "
                    "(total failed to start: %llu)",
                    (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL, (unsigned long long)st->count.failed);
}

static void limit_summary(struct limited_log *ll, uint64_t n)
{
        const struct service_state *st = container_of(ll, struct service_state, limit_log);

        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->svc->name },
                    "max-instances (%u) reached %llu more time(s) in the last %llu s", st->svc->max_instances,
                    (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
}

static void children_limit_summary(struct limited_log *ll, uint64_t n)
{
        const struct server *srv = container_of(ll, struct server, limit_log);

        log_notice("max-children (%u) reached %llu more time(s) in the last %llu s", srv->max_children,
                   (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
}

/* ---- services ---- */

/* Stop watching and close every listener of st (at stop, at reload, when st goes away). */
static void service_state_close_listeners(struct service_state *st)
{
        for (size_t i = 0; i < st->n_listeners; i++) {
                struct listener *l = &st->listeners[i];
                l->io = sd_event_source_disable_unref(l->io);
                l->retry = sd_event_source_disable_unref(l->retry);
                if (l->fd >= 0) {
                        if (!l->adopted)
                                socket_unlink(&st->svc->listen[i]);
                        close(l->fd);
                }
                l->fd = -1;
        }
}

static struct service_state *service_state_unref(struct service_state *st)
{
        if (!st || --st->refs > 0)
                return NULL;
        service_state_close_listeners(st);
        sd_event_source_disable_unref(st->rate_timer);
        limited_log_done(&st->refusal_log);
        limited_log_done(&st->exit_log);
        limited_log_done(&st->limit_log);
        source_table_free(&st->sources);
        free(st->listeners);
        if (st->stderr_fd > STDERR_FILENO)
                close(st->stderr_fd);
        handler_env_done(&st->env);
        service_free(st->svc);
        free(st);
        return NULL;
}

/* Would the handler get exactly superd's credentials? Then the child skips three system calls. */
static bool same_creds(const struct service *svc)
{
        gid_t groups[64];
        int n;

        if (svc->uid != geteuid() || svc->gid != getegid())
                return false;
        n = getgroups(64, groups);
        if (n < 0 || (size_t)n != svc->n_groups)
                return false;
        for (size_t i = 0; i < svc->n_groups; i++) {
                bool found = false;
                for (int j = 0; j < n && !found; j++)
                        found = groups[j] == svc->groups[i];
                if (!found)
                        return false;
        }
        return true;
}

static struct service_state *service_state_new(struct service *svc)
{
        struct service_state *st = calloc(1, sizeof(*st));

        if (!st)
                return NULL;
        st->refs = 1;
        st->svc = svc;
        st->refusal_log.summary = refusal_summary;
        st->exit_log.summary = exit_summary;
        st->limit_log.summary = limit_summary;
        st->stderr_fd = STDERR_FILENO;
        st->listeners = calloc(svc->n_listen ? svc->n_listen : 1, sizeof(*st->listeners));
        if (!st->listeners || source_table_init(&st->sources) < 0 || handler_env_init(&st->env, svc, environ) < 0) {
                st->svc = NULL; /* the caller still owns svc */
                service_state_unref(st);
                return NULL;
        }
        st->set_creds = geteuid() == 0 && !same_creds(svc);
        st->n_listeners = svc->n_listen;
        for (size_t i = 0; i < svc->n_listen; i++)
                st->listeners[i] = (struct listener){ .svc = st, .fd = -1 };
        if (svc->stderr_mode == STDERR_LOG && !svc->builtin && log_uses_journal()) {
                /* One journal stream per service, shared by its handlers: no connect per spawn. */
                int fd = sd_journal_stream_fd(svc->name, LOG_INFO, 0);
                if (fd >= 0)
                        st->stderr_fd = fd;
        }
        return st;
}

/* ---- listeners and limits ---- */

static int on_listener_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static void listener_set_enabled(struct listener *l, bool on)
{
        if (l->io)
                sd_event_source_set_enabled(l->io, on ? SD_EVENT_ON : SD_EVENT_OFF);
}

static bool at_global_limit(const struct server *srv)
{
        return srv->max_children && srv->children.n >= srv->max_children;
}

static bool at_service_limit(const struct service_state *st)
{
        return st->svc->max_instances && st->running >= st->svc->max_instances;
}

/*
 * Stop watching `l` until a handler exits: connections wait in the kernel's
 * backlog meanwhile. The first pause of an episode at the limit (until
 * handlers end and listeners resume) is logged, rate-limited.
 */
static void listener_pause(struct server *srv, struct listener *l, bool global)
{
        bool *episode = global ? &srv->limit_reached : &l->svc->limit_reached;
        uint64_t n;

        if (l->paused)
                return;
        if (!*episode) {
                *episode = true;
                if (global && limited_log_pass(srv, &srv->limit_log, &n))
                        log_notice("max-children (%u) reached: no service accepts until a handler exits (%llu more "
                                   "time(s) in the last %llu s)",
                                   srv->max_children, (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
                else if (!global && limited_log_pass(srv, &l->svc->limit_log, &n))
                        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = l->svc->svc->name },
                                    "max-instances (%u) reached: not accepting until a handler exits (%llu more "
                                    "time(s) in the last %llu s)",
                                    l->svc->svc->max_instances, (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
        }
        listener_set_enabled(l, false);
        l->paused = global ? PAUSED_GLOBAL : PAUSED_SERVICE;
        if (global) {
                l->next_paused = srv->paused_global;
                srv->paused_global = l;
        }
}

/* Watch again every listener of st that was paused for reason `why`. */
static void resume_listeners(struct service_state *st, enum pause_reason why)
{
        for (size_t i = 0; i < st->n_listeners; i++)
                if (st->listeners[i].paused == why) {
                        st->listeners[i].paused = RUNNING;
                        listener_set_enabled(&st->listeners[i], true);
                }
}

/*
 * Arm the one-shot CLOCK_MONOTONIC timer *s (created at its first use,
 * then reused) for the absolute time `usec`. Returns 0 or -errno.
 */
static int arm_timer(struct server *srv, sd_event_source **s, uint64_t usec, sd_event_time_handler_t callback,
                     void *userdata)
{
        int r;

        if (!*s)
                return sd_event_add_time(srv->event, s, CLOCK_MONOTONIC, usec, 0, callback, userdata);
        r = sd_event_source_set_time(*s, usec);
        return r < 0 ? r : sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
}

/* A handler of `st` ended: resume what its service limit or the global limit paused. */
static void resume_after_exit(struct server *srv, struct service_state *st)
{
        if (!at_service_limit(st)) {
                st->limit_reached = false;
                resume_listeners(st, PAUSED_SERVICE);
        }
        if (!at_global_limit(srv)) {
                srv->limit_reached = false;
                while (srv->paused_global) {
                        struct listener *l = srv->paused_global;
                        srv->paused_global = l->next_paused;
                        l->next_paused = NULL;
                        if (l->paused != PAUSED_GLOBAL)
                                continue;
                        l->paused = RUNNING;
                        listener_set_enabled(l, true);
                }
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct listener *l = userdata;

        if (l->paused == RUNNING)
                listener_set_enabled(l, true);
        return 0;
}

/*
 * accept(2) or spawn failed for lack of fds or memory, or a wait = yes
 * handler could not start: stop watching the listener for a growing
 * interval instead of spinning on a socket that stays readable (OpenBSD
 * inetd does the same with a fixed second). `why` starts the log line.
 */
static void listener_back_off(struct server *srv, struct listener *l, const char *why)
{
        uint64_t now;

        l->retry_usec = l->retry_usec ? l->retry_usec * 2 : RESOURCE_PAUSE_MIN_USEC;
        if (l->retry_usec > RESOURCE_PAUSE_MAX_USEC)
                l->retry_usec = RESOURCE_PAUSE_MAX_USEC;
        log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = l->svc->svc->name }, "%s; pausing the listener for %llu ms",
                    why, (unsigned long long)(l->retry_usec / 1000));
        listener_set_enabled(l, false);
        sd_event_now(srv->event, CLOCK_MONOTONIC, &now);
        if (arm_timer(srv, &l->retry, now + l->retry_usec, on_retry, l) < 0)
                listener_set_enabled(l, true); /* better to spin than to go deaf */
}

/*
 * Does the passed socket `a` serve listen entry `want` of a service of
 * socket type `type`? Same type and address; "*:PORT" also matches
 * 0.0.0.0:PORT, which is what a service manager without IPv6 opens.
 */
static bool adopted_matches(const struct adopted_fd *a, int type, const struct listen_addr *want)
{
        const struct sockaddr_in6 *w6 = (const struct sockaddr_in6 *)&want->sa;
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->sa;
        const struct sockaddr_in *w4 = (const struct sockaddr_in *)&want->sa;
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->sa;

        if (a->type != type)
                return false;
        if (want->dual_stack && a->sa.ss_family == AF_INET)
                return a4->sin_port == w6->sin6_port && a4->sin_addr.s_addr == htonl(INADDR_ANY);
        if (a->sa.ss_family != want->sa.ss_family)
                return false;
        switch (want->sa.ss_family) {
        case AF_INET:
                return a4->sin_port == w4->sin_port && a4->sin_addr.s_addr == w4->sin_addr.s_addr;
        case AF_INET6:
                return a6->sin6_port == w6->sin6_port && IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &w6->sin6_addr) &&
                       a6->sin6_scope_id == w6->sin6_scope_id;
        default: /* AF_UNIX: the path, or the abstract name, byte for byte */
                return a->len == want->len && memcmp(&a->sa, &want->sa, want->len) == 0;
        }
}

/* Take the passed socket matching listen entry i of st, if any. Returns its fd or -1. */
static int adopt(struct server *srv, const struct service_state *st, size_t i)
{
        for (size_t j = 0; j < srv->n_adopted; j++) {
                struct adopted_fd *a = &srv->adopted[j];
                int fd = a->fd;
                if (fd < 0 || !adopted_matches(a, st->svc->socket_type, &st->svc->listen[i]))
                        continue;
                a->fd = -1;
                /* Passed sockets may be blocking and are not CLOEXEC (DESIGN §8). */
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                fcntl(fd, F_SETFD, FD_CLOEXEC);
                log_info("service %s: adopted the passed socket for %s", st->svc->name, st->svc->listen_text[i]);
                return fd;
        }
        return -1;
}

/*
 * Open (or adopt) listener i of st and watch it. Returns 0, or -errno with
 * nothing left open; not logged: the caller decides what happens next.
 */
static int listener_open_one(struct server *srv, struct service_state *st, size_t i)
{
        const struct service *svc = st->svc;
        struct listener *l = &st->listeners[i];
        socklen_t len = sizeof(l->local);
        int r = 0;

        l->fd = adopt(srv, st, i);
        l->adopted = l->fd >= 0;
        if (!l->adopted)
                l->fd = socket_listen(&svc->listen[i], svc->socket_type, &svc->sockopt);
        if (l->fd < 0)
                return l->fd;
        /* Truncated for AF_UNIX, which only needs the family. */
        if (getsockname(l->fd, (struct sockaddr *)&l->local, &len) < 0)
                r = -errno;
        if (r == 0 && svc->builtin)
                r = builtin_listener_prepare(l->fd);
        if (r == 0)
                r = sd_event_add_io(srv->event, &l->io, l->fd, EPOLLIN, on_listener_ready, l);
        if (r < 0) {
                if (!l->adopted)
                        socket_unlink(&svc->listen[i]);
                close(l->fd);
                l->fd = -1;
                return r;
        }
        l->wildcard = l->local.sin6_family == AF_INET6
                              ? IN6_IS_ADDR_UNSPECIFIED(&l->local.sin6_addr)
                              : l->local.sin6_family == AF_INET &&
                                        ((struct sockaddr_in *)&l->local)->sin_addr.s_addr == htonl(INADDR_ANY);
        log_debug("service %s: listening on %s", svc->name, svc->listen_text[i]);
        return 0;
}

static void notify_status(struct server *srv, const char *state);

static int on_open_retry(sd_event_source *s, uint64_t usec, void *userdata);

/*
 * Open listener i of st. When it cannot be opened (a port held by another
 * process, a missing folder), log it and try again after OPEN_RETRY_MIN_USEC,
 * doubling up to OPEN_RETRY_MAX_USEC, as long as the listener exists: the
 * other listeners serve meanwhile (xinetd does the same, without the retry).
 * Returns 0 or the -errno of this attempt.
 */
static int listener_start(struct server *srv, struct service_state *st, size_t i)
{
        const struct service *svc = st->svc;
        struct listener *l = &st->listeners[i];
        uint64_t now;
        int r = listener_open_one(srv, st, i);

        if (r == 0) {
                if (l->open_error)
                        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = svc->name }, "listening on %s now",
                                    svc->listen_text[i]);
                l->open_error = 0;
                l->retry = sd_event_source_disable_unref(l->retry);
                l->retry_usec = 0;
                return 0;
        }
        l->retry_usec = l->open_error ? l->retry_usec * 2 : OPEN_RETRY_MIN_USEC;
        if (l->retry_usec > OPEN_RETRY_MAX_USEC)
                l->retry_usec = OPEN_RETRY_MAX_USEC;
        /* The first failure at error, each retry that fails again only at debug: one line per listener. */
        errno = -r;
        log_ctx_msg(l->open_error ? LOG_DEBUG : LOG_ERR, &(struct log_ctx){ .service = svc->name },
                    "cannot listen on %s (%s:%u): %m%s; retrying in %llu s", svc->listen_text[i], svc->file,
                    svc->line, r == -EEXIST ? " (a file that is not a socket is in the way)" : "",
                    (unsigned long long)(l->retry_usec / 1000000ULL));
        l->open_error = r;
        sd_event_now(srv->event, CLOCK_MONOTONIC, &now);
        if (arm_timer(srv, &l->retry, now + l->retry_usec, on_open_retry, l) < 0)
                log_ctx_msg(LOG_ERR, &(struct log_ctx){ .service = svc->name },
                            "cannot arm the retry timer: %s stays closed until the next reload", svc->listen_text[i]);
        return r;
}

static int on_open_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct listener *l = userdata;
        struct service_state *st = l->svc;

        if (listener_start(the_server, st, (size_t)(l - st->listeners)) == 0)
                notify_status(the_server, NULL);
        return 0;
}

/* ---- connections ---- */

/* "[::1]:4242"; "unix" for a unix socket peer (mostly unnamed); "-" for none (wait = yes). */
static char *remote_text(const struct sockaddr_in6 *remote, char *buf, size_t size)
{
        if (remote->sin6_family == AF_UNIX || remote->sin6_family == AF_UNSPEC) {
                snprintf(buf, size, "%s", remote->sin6_family == AF_UNIX ? "unix" : "-");
                return buf;
        }
        return addr_format((const struct sockaddr *)remote, buf, size);
}

/* A refused connection: one log line per LOG_LIMIT_USEC and service at most, with the count of the others. */
static void log_refusal(struct server *srv, struct service_state *st, const struct sockaddr_in6 *remote,
                        const char *why)
{
        uint64_t suppressed;
        char addr[ADDR_STRLEN];

        if (!limited_log_pass(srv, &st->refusal_log, &suppressed))
                return;
        remote_text(remote, addr, sizeof(addr));
        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->svc->name, .remote = addr },
                    "refused %s: %s (%llu more refused in the last %llu s; totals: acl %llu, per-source %llu, rate %llu)",
                    addr, why, (unsigned long long)suppressed, LOG_LIMIT_USEC / 1000000ULL,
                    (unsigned long long)st->count.refused_acl, (unsigned long long)st->count.refused_per_source,
                    (unsigned long long)st->count.refused_rate);
}

static int on_rate_pause_end(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct service_state *st = userdata;

        st->rate_paused = false;
        resume_listeners(st, PAUSED_RATE);
        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->svc->name }, "rate pause over: accepting again");
        return 0;
}

/*
 * max-rate exceeded: stop accepting (wait = yes: stop starting handlers)
 * for rate-pause seconds, then resume. Connections and datagrams wait in the
 * kernel's queues meanwhile. Logged once per pause.
 */
static void rate_pause(struct server *srv, struct service_state *st)
{
        uint64_t now;

        sd_event_now(srv->event, CLOCK_MONOTONIC, &now);
        if (arm_timer(srv, &st->rate_timer, now + st->svc->rate_pause * 1000000ULL, on_rate_pause_end, st) < 0)
                return; /* no timer, no pause: never stop a service for good */
        st->rate_paused = true;
        for (size_t i = 0; i < st->n_listeners; i++)
                if (st->listeners[i].paused == RUNNING) {
                        st->listeners[i].paused = PAUSED_RATE;
                        listener_set_enabled(&st->listeners[i], false);
                }
        log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = st->svc->name },
                    st->svc->wait ? "more than %u handler starts in a second: not starting another for %u s"
                                  : "more than %u connections in a second: not accepting for %u s",
                    st->svc->max_rate, st->svc->rate_pause);
}

/*
 * Count one event against st's max-rate: an accepted connection, or for
 * wait = yes a handler start (xinetd's cps, systemd's TriggerLimitBurst=;
 * a handler that exits without taking its datagram would otherwise be
 * started again at once, for ever). True when the rate is exceeded.
 */
static bool rate_exceeded(struct server *srv, struct service_state *st)
{
        uint64_t now;

        if (!st->svc->max_rate)
                return false;
        sd_event_now(srv->event, CLOCK_MONOTONIC, &now);
        return rate_limit_exceeded(&st->rate, now, st->svc->max_rate);
}

/*
 * Access control and rate (DESIGN §2), checked before anything is spawned.
 * Returns false if the connection is refused: the caller closes it.
 */
static bool admit(struct server *srv, struct listener *l, const struct sockaddr_in6 *remote)
{
        struct service_state *st = l->svc;
        const struct service *svc = st->svc;

        if ((svc->n_allow || svc->n_deny) &&
            !acl_permits(svc->allow, svc->n_allow, svc->deny, svc->n_deny, (const struct sockaddr *)remote)) {
                st->count.refused_acl++;
                log_refusal(srv, st, remote, "not allowed (allow/deny)");
                return false;
        }
        if (rate_exceeded(srv, st)) {
                st->count.refused_rate++;
                log_refusal(srv, st, remote, "max-rate exceeded");
                rate_pause(srv, st);
                return false;
        }
        return true;
}

/* timeout: SIGTERM to the handler's process group, SIGKILL TIMEOUT_KILL_USEC later. */
static int on_handler_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        pid_t pid = (pid_t)(intptr_t)userdata;
        struct child *c = children_find(&the_server->children, pid);

        uint64_t n;

        if (!c)
                return 0;
        if (limited_log_pass(the_server, &c->svc->exit_log, &n))
                log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = c->svc->svc->name, .pid = pid },
                            "handler %d ran longer than %u s: sending SIG%s (%llu more in the last %llu s)", (int)pid,
                            c->svc->svc->timeout, c->term_sent ? "KILL" : "TERM", (unsigned long long)n,
                            LOG_LIMIT_USEC / 1000000ULL);
        if (kill(-pid, c->term_sent ? SIGKILL : SIGTERM) < 0)
                kill(pid, c->term_sent ? SIGKILL : SIGTERM);
        if (!c->term_sent) {
                c->term_sent = true;
                sd_event_source_set_time(s, usec + TIMEOUT_KILL_USEC);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

/*
 * Start a handler of l's service on `fd` (a connection, or the listening
 * socket itself in wait mode: then listen_pid is the LISTEN_PID slot) with
 * the per-connection environment already in srv->conn_env, and record it.
 * `source` (NULL when not counted) was acquired in the service's per-source
 * table: the record releases it at exit, or this does at once on failure.
 * Returns the pid, or -errno when no process was created: logged, except
 * -EAGAIN and -ENOMEM, which the caller answers by backing off. A handler
 * whose execve fails shows when it is reaped (on_sigchld).
 */
static int start_handler(struct server *srv, struct listener *l, int fd, const struct sockaddr_in6 *remote,
                         char *listen_pid, const struct source_key *source)
{
        struct service_state *st = l->svc;
        const struct service *svc = st->svc;
        struct child *c;
        pid_t pid;
        int r;

        struct spawn_plan plan = {
                .argv = svc->argv,
                .envp = st->env.envp,
                .env_text = srv->conn_env,
                .env_text_size = sizeof(srv->conn_env),
                .conn_fd = fd,
                .stderr_fd = svc->stderr_mode == STDERR_SOCKET ? fd
                             : svc->stderr_mode == STDERR_NULL ? srv->devnull
                                                               : st->stderr_fd,
                .set_creds = st->set_creds,
                .uid = svc->uid,
                .gid = svc->gid,
                .groups = svc->groups,
                .n_groups = svc->n_groups,
                .listen_pid = listen_pid,
                .process = &svc->process,
        };
        st->count.accepted++;
        /* Room for the record first: every child started is tracked, and holds its service. */
        r = children_reserve(&srv->children);
        if (r >= 0)
                r = spawn_handler(&plan, &pid);
        if (r < 0) {
                st->count.failed++;
                if (source)
                        source_release(&st->sources, source);
                if (r != -EAGAIN && r != -ENOMEM)
                        log_error_errno(r, "service %s: cannot start a handler: %m", svc->name);
                return r;
        }
        c = children_add(&srv->children, pid);
        c->svc = st;
        c->start_usec = now_usec();
        c->remote = *remote;
        c->wait_listener = listen_pid ? l : NULL;
        c->counted_source = source != NULL;
        if (source)
                c->source = *source;
        if (svc->timeout &&
            sd_event_add_time_relative(srv->event, &c->timeout, CLOCK_MONOTONIC, svc->timeout * 1000000ULL, 0,
                                       on_handler_timeout, (void *)(intptr_t)pid) < 0)
                log_ctx_msg(LOG_ERR, &(struct log_ctx){ .service = svc->name, .pid = pid },
                            "cannot set the timeout of handler %d: it may run for ever", (int)pid);
        st->refs++;
        st->running++;
        if (log_enabled(LOG_DEBUG)) {
                char addr[ADDR_STRLEN];
                log_ctx_msg(LOG_DEBUG,
                            &(struct log_ctx){ .service = svc->name,
                                               .pid = pid,
                                               .remote = remote_text(remote, addr, sizeof(addr)) },
                            "accept %s pid %d", addr, (int)pid);
        }
        return pid;
}

/*
 * wait = no: a handler for the accepted connection fd (closed by the caller).
 * Returns what start_handler() returns, or 0 for a refused connection.
 */
static int handle_connection(struct server *srv, struct listener *l, int fd, struct sockaddr_in6 *remote)
{
        struct service_state *st = l->svc;
        const struct service *svc = st->svc;
        struct sockaddr_in6 local_buf;
        const struct sockaddr *local = (const struct sockaddr *)&l->local;
        struct source_key key;
        bool counted = false;
        int r;

        if (l->local.sin6_family == AF_UNIX) {
                struct ucred cred;
                socklen_t len = sizeof(cred);
                bool known = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
                handler_env_unix(&st->env, srv->conn_env, known ? &cred : NULL);
                *remote = (struct sockaddr_in6){ .sin6_family = AF_UNIX };
        } else {
                if (l->wildcard) {
                        socklen_t len = sizeof(local_buf);
                        if (getsockname(fd, (struct sockaddr *)&local_buf, &len) == 0)
                                local = (const struct sockaddr *)&local_buf;
                }
                handler_env_connect(&st->env, srv->conn_env, (const struct sockaddr *)remote, local);
                if (svc->max_per_source) {
                        source_key_from((const struct sockaddr *)remote, svc->per_source_prefix6, &key);
                        r = source_acquire(&st->sources, &key, svc->max_per_source);
                        if (r == -EUSERS) {
                                st->count.refused_per_source++;
                                log_refusal(srv, st, remote, "max-per-source reached");
                                return 0;
                        }
                        counted = r == 0; /* -ENOMEM: serve it uncounted rather than refuse */
                }
        }
        return start_handler(srv, l, fd, remote, NULL, counted ? &key : NULL);
}

/*
 * wait = yes: hand the listening socket itself to one handler (inetd wait,
 * systemd Accept=no) and stop watching it until that handler exits. The
 * handler gets it blocking, as a daemon started by systemd would.
 */
static void handle_wait(struct server *srv, struct listener *l)
{
        const struct service *svc = l->svc->svc;
        const char *proto = l->local.sin6_family == AF_UNIX ? "UNIX" : svc->socket_type == SOCK_DGRAM ? "UDP" : "TCP";
        struct sockaddr_in6 none = { .sin6_family = l->local.sin6_family == AF_UNIX ? AF_UNIX : AF_UNSPEC };
        char *listen_pid;
        int flags = fcntl(l->fd, F_GETFL), r;

        listener_set_enabled(l, false);
        l->paused = PAUSED_WAIT;
        fcntl(l->fd, F_SETFL, flags & ~O_NONBLOCK);
        listen_pid = handler_env_listen(&l->svc->env, srv->conn_env, proto, svc->name);
        r = start_handler(srv, l, l->fd, &none, listen_pid, NULL);
        if (r < 0) {
                /* The socket stays readable: retry later rather than at once. */
                fcntl(l->fd, F_SETFL, flags | O_NONBLOCK);
                l->paused = RUNNING;
                listener_back_off(srv, l, strerror(-r));
        }
}

/* The wait = yes handler holding l exited: watch the socket again. */
static void wait_handler_done(struct server *srv, struct listener *l, bool exec_failed)
{
        if (l->fd < 0)
                return; /* closed meanwhile (stop) */
        fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
        l->paused = RUNNING;
        /* A handler that cannot even start would be restarted at once for the same datagram, forever. */
        if (exec_failed)
                listener_back_off(srv, l, "the handler failed to start");
        else {
                l->retry_usec = 0;
                listener_set_enabled(l, true);
        }
}

/* A builtin stream connection of st ended. */
static void builtin_done(void *userdata)
{
        struct service_state *st = userdata;

        st->running--;
        if (!the_server->stopping)
                resume_after_exit(the_server, st);
        service_state_unref(st);
}

static int on_listener_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct listener *l = userdata;
        struct server *srv = the_server;
        const struct service *svc = l->svc->svc;

        if (svc->builtin && svc->socket_type == SOCK_DGRAM) {
                builtin_dgram_serve(svc->builtin, fd, srv->builtin_ports, srv->n_builtin_ports);
                return 0;
        }
        for (int i = 0; i < ACCEPT_BATCH; i++) {
                struct sockaddr_in6 remote;
                socklen_t len = sizeof(remote);
                int c, r;

                if (at_service_limit(l->svc)) {
                        listener_pause(srv, l, false);
                        return 0;
                }
                if (!svc->builtin && at_global_limit(srv)) {
                        listener_pause(srv, l, true);
                        return 0;
                }
                if (l->svc->rate_paused) {
                        l->paused = PAUSED_RATE;
                        listener_set_enabled(l, false);
                        return 0;
                }
                if (svc->wait) {
                        if (rate_exceeded(srv, l->svc))
                                rate_pause(srv, l->svc);
                        else
                                handle_wait(srv, l);
                        return 0;
                }
                /* Blocking socket for a handler (inetd semantics); builtins need it non-blocking. */
                c = accept4(fd, (struct sockaddr *)&remote, &len, SOCK_CLOEXEC | (svc->builtin ? SOCK_NONBLOCK : 0));
                if (c < 0) {
                        switch (errno) {
                        case EAGAIN:
                                l->retry_usec = 0;
                                return 0;
                        case EINTR:
                        case ECONNABORTED:
                        case EPROTO:
                        case EPERM: /* firewall verdicts */
                                continue;
                        default:
                                /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse: never spin on it. */
                                listener_back_off(srv, l, strerror(errno));
                                return 0;
                        }
                }
                if (l->local.sin6_family != AF_UNIX && !admit(srv, l, &remote)) {
                        close(c);
                        continue;
                }
                if (svc->builtin) {
                        l->svc->count.accepted++;
                        if (builtin_stream_start(srv->event, svc->builtin, c, builtin_done, l->svc) < 0) {
                                l->svc->count.failed++;
                                continue;
                        }
                        l->svc->refs++;
                        l->svc->running++;
                        continue;
                }
                r = handle_connection(srv, l, c, &remote);
                close(c);
                if (r == -EAGAIN || r == -ENOMEM) {
                        /* No process could be created: stop accepting for a while. */
                        listener_back_off(srv, l, strerror(-r));
                        return 0;
                }
        }
        return 0;
}

/* ---- children ---- */

/*
 * The end of c's handler. A failed start (`err` and `step` from
 * spawn_failed(), err 0 when it started), an exit status other than 0 or a
 * signal is logged at error or warning, rate-limited per service, since a
 * client can cause them at will; a clean end only at debug.
 */
static void log_exit(struct server *srv, struct child *c, const siginfo_t *si, int err, const char *step)
{
        struct service_state *st = c->svc;
        bool clean = si->si_code == CLD_EXITED && si->si_status == 0;
        int level = err ? LOG_ERR : clean ? LOG_DEBUG : LOG_WARNING;
        char status[32], addr[ADDR_STRLEN], more[64] = "";
        struct log_ctx ctx = { .service = st->svc->name, .pid = c->pid, .exit_status = status };
        uint64_t n;

        if (err)
                st->count.failed++;
        if (!log_enabled(level) || (level != LOG_DEBUG && !limited_log_pass(srv, &st->exit_log, &n)))
                return;
        if (level != LOG_DEBUG && n)
                snprintf(more, sizeof(more), " (%llu more in the last %llu s)", (unsigned long long)n,
                         LOG_LIMIT_USEC / 1000000ULL);
        ctx.remote = remote_text(&c->remote, addr, sizeof(addr));
        if (si->si_code == CLD_EXITED)
                snprintf(status, sizeof(status), "%d", si->si_status);
        else
                snprintf(status, sizeof(status), "SIG%s", sigabbrev_np(si->si_status) ?: "?");
        if (err) {
                errno = err;
                log_ctx_msg(level, &ctx, "handler %s failed: %s: %m%s", st->svc->argv[0], step, more);
                return;
        }
        log_ctx_msg(level, &ctx, "end pid %d %s %s after %llu ms (client %s)%s", (int)c->pid,
                    si->si_code == CLD_EXITED ? "exitcode" : "signal", status,
                    (unsigned long long)((now_usec() - c->start_usec) / 1000), addr, more);
}

static void stop_done_if_idle(struct server *srv)
{
        if (srv->stopping && srv->children.n == 0)
                sd_event_exit(srv->event, EXIT_CLEAN);
}

/* A child of superd was reaped: if it is a handler, account for its end. */
static void handler_reaped(struct server *srv, const siginfo_t *si)
{
        struct service_state *st;
        struct listener *wait_listener;
        const char *step;
        struct child *c;
        int err;

        if (!spawn_failed(si->si_pid, &err, &step))
                err = 0;
        c = children_find(&srv->children, si->si_pid);
        if (!c)
                return;
        log_exit(srv, c, si, err, step);
        st = c->svc;
        wait_listener = c->wait_listener;
        if (c->counted_source)
                source_release(&st->sources, &c->source);
        sd_event_source_disable_unref(c->timeout);
        /* A handler killed for its timeout: what is left of its process group goes too. */
        if (c->term_sent)
                kill(-c->pid, SIGKILL);
        children_remove(&srv->children, c);
        st->running--;
        if (wait_listener && !srv->stopping)
                wait_handler_done(srv, wait_listener, err != 0);
        if (!srv->stopping)
                resume_after_exit(srv, st);
        service_state_unref(st);
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

static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
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
        stop_done_if_idle(srv);
        return 0;
}

/* ---- stopping ---- */

static void signal_children(struct server *srv, int sig)
{
        for (size_t i = 0; i < srv->children.cap; i++) {
                pid_t pid = srv->children.slots[i].pid;
                /* The handler leads its own session and group: reach its children too. */
                if (pid > 0 && kill(-pid, sig) < 0)
                        kill(pid, sig);
        }
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct server *srv = userdata;

        log_warning("%zu handler(s) still running after %llu s: sending SIGKILL", srv->children.n,
                    STOP_TIMEOUT_USEC / 1000000ULL);
        signal_children(srv, SIGKILL);
        return 0;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        struct server *srv = userdata;

        if (srv->stopping)
                return 0;
        srv->stopping = true;
        sd_notify(0, "STOPPING=1");
        log_info("received SIG%s, stopping (%zu handler(s) running)", sigabbrev_np((int)ssi->ssi_signo),
                 srv->children.n);
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_close_listeners(srv->services[i]);
        srv->paused_global = NULL;
        builtin_stream_close_all();
        srv->status = status_socket_close(srv->status);
        signal_children(srv, SIGTERM);
        if (srv->children.n > 0)
                sd_event_add_time_relative(srv->event, NULL, CLOCK_MONOTONIC, STOP_TIMEOUT_USEC, 0, on_stop_timeout,
                                           srv);
        stop_done_if_idle(srv);
        return 0;
}

/*
 * Remember the ports of every dgram builtin: a datagram from one of them is
 * never answered, so two builtins (here or on another inetd) cannot be made
 * to bounce datagrams at each other forever.
 */
static void collect_builtin_ports(struct server *srv, struct service_state **services, size_t n)
{
        size_t count = 0;
        uint16_t *ports;

        for (size_t i = 0; i < n; i++)
                if (services[i]->svc->builtin && services[i]->svc->socket_type == SOCK_DGRAM)
                        count += services[i]->svc->n_listen;
        ports = count ? calloc(count, sizeof(*ports)) : NULL;
        if (count && !ports)
                return; /* keep the old list: ports < 1024 are refused anyway */
        count = 0;
        for (size_t i = 0; ports && i < n; i++) {
                const struct service *svc = services[i]->svc;
                if (!svc->builtin || svc->socket_type != SOCK_DGRAM)
                        continue;
                for (size_t j = 0; j < svc->n_listen; j++) {
                        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&svc->listen[j].sa;
                        /* sin_port and sin6_port share their offset. */
                        ports[count++] = ntohs(a->sin6_port);
                }
        }
        free(srv->builtin_ports);
        srv->builtin_ports = ports;
        srv->n_builtin_ports = count;
}

/* ---- reload ---- */

/* A small open-addressing index, built per reload: O(1) lookups keep a reload linear in its size. */
struct index {
        void **slots;
        size_t mask;
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
        const unsigned char *b = p;

        /* FNV-1a: plenty for a few thousand keys that an administrator chose. */
        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 1099511628211ULL;
        return h;
}

#define FNV_OFFSET 14695981039346656037ULL

static uint64_t hash_listen_addr(const struct listen_addr *a)
{
        return hash_bytes(hash_bytes(FNV_OFFSET, &a->sa, a->len), &a->dual_stack, sizeof(a->dual_stack));
}

static uint64_t hash_name(const char *name)
{
        return hash_bytes(FNV_OFFSET, name, strlen(name));
}

static int index_init(struct index *ix, size_t n)
{
        size_t cap = 16;

        while (cap < 2 * n)
                cap *= 2;
        ix->slots = calloc(cap, sizeof(*ix->slots));
        ix->mask = cap - 1;
        return ix->slots ? 0 : -ENOMEM;
}

static void index_put(struct index *ix, uint64_t h, void *item)
{
        size_t i = (size_t)h & ix->mask;

        while (ix->slots[i])
                i = (i + 1) & ix->mask;
        ix->slots[i] = item;
}

/* The first item under hash h that `match` accepts, or NULL. */
static void *index_find(const struct index *ix, uint64_t h, bool (*match)(const void *item, const void *key),
                        const void *key)
{
        for (size_t i = (size_t)h & ix->mask; ix->slots[i]; i = (i + 1) & ix->mask)
                if (match(ix->slots[i], key))
                        return ix->slots[i];
        return NULL;
}

/* A listener's identity (DESIGN §2): what a reload compares to keep its socket. */
struct listener_identity {
        const struct listen_addr *addr;
        int socket_type;
        const struct socket_options *options;
        bool builtin; /* builtin_listener_prepare() set options an exec'd service must not inherit */
};

/* A listener of the old set that is still open, with the same identity. */
static bool listener_matches(const void *item, const void *key)
{
        const struct listener *l = item;
        const struct listener_identity *id = key;
        const struct service *svc = l->svc->svc;
        size_t i = (size_t)(l - l->svc->listeners);

        return l->fd >= 0 && svc->socket_type == id->socket_type && addr_equal(&svc->listen[i], id->addr) &&
               (svc->builtin != BUILTIN_NONE) == id->builtin &&
               (l->adopted || socket_options_equal(&svc->sockopt, id->options));
}

static bool service_named(const void *item, const void *key)
{
        const struct service_state *st = item;

        return strcmp(st->svc->name, key) == 0;
}

/*
 * Open or take over the listeners of the new services. A listener whose
 * address is unchanged keeps its socket (and its queued connections), even
 * when it moves to another service: nothing is refused during a reload.
 */
static void reload_listeners(struct server *srv, struct service_state **next, size_t n_next)
{
        struct index old;
        size_t n_old = 0;

        for (size_t i = 0; i < srv->n_services; i++)
                n_old += srv->services[i]->n_listeners;
        if (index_init(&old, n_old) < 0) {
                old.slots = NULL;
        } else {
                for (size_t i = 0; i < srv->n_services; i++)
                        for (size_t j = 0; j < srv->services[i]->n_listeners; j++) {
                                struct listener *l = &srv->services[i]->listeners[j];
                                if (l->fd >= 0)
                                        index_put(&old, hash_listen_addr(&srv->services[i]->svc->listen[j]), l);
                        }
        }

        for (size_t i = 0; i < n_next; i++) {
                struct service_state *st = next[i];
                const struct service *svc = st->svc;
                for (size_t j = 0; j < st->n_listeners; j++) {
                        const struct listener_identity id = { &svc->listen[j], svc->socket_type, &svc->sockopt,
                                                              svc->builtin != BUILTIN_NONE };
                        struct listener *l = &st->listeners[j], *prev = NULL;
                        if (old.slots)
                                prev = index_find(&old, hash_listen_addr(&svc->listen[j]), listener_matches, &id);
                        if (!prev)
                                continue;
                        l->fd = prev->fd;
                        l->io = prev->io;
                        l->local = prev->local;
                        l->wildcard = prev->wildcard;
                        l->adopted = prev->adopted;
                        prev->fd = -1;
                        prev->io = NULL;
                        prev->moved_to = l;
                        sd_event_source_set_userdata(l->io, l);
                        if (prev->paused == PAUSED_WAIT)
                                l->paused = PAUSED_WAIT; /* its handler still holds it */
                        else
                                listener_set_enabled(l, true);
                }
        }
        /*
         * Close what was not taken over before binding anything new: a
         * changed address on the same port ("127.0.0.1:80" to "*:80") must
         * not find its own old socket in the way. Old services that running
         * handlers keep alive must not keep their ports either.
         */
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_close_listeners(srv->services[i]);
        for (size_t i = 0; i < n_next; i++)
                for (size_t j = 0; j < next[i]->n_listeners; j++)
                        if (next[i]->listeners[j].fd < 0)
                                listener_start(srv, next[i], j); /* a failure is logged and retried */
        free(old.slots);
}

/*
 * A service that keeps its name across a reload keeps its counters (what
 * superctl status and SIGUSR1 show) and its max-rate window; its running
 * handlers count against the new service (limits carry over).
 */
static void reload_carry_over(struct server *srv, struct service_state **next, size_t n_next)
{
        struct index by_name;
        bool indexed = index_init(&by_name, n_next) == 0; /* without it (no memory), handlers stay where they are */

        for (size_t i = 0; indexed && i < n_next; i++)
                index_put(&by_name, hash_name(next[i]->svc->name), next[i]);
        for (size_t i = 0; indexed && i < srv->n_services; i++) {
                const struct service_state *old = srv->services[i];
                struct service_state *st = index_find(&by_name, hash_name(old->svc->name), service_named, old->svc->name);
                if (!st)
                        continue;
                st->count = old->count;
                st->rate = old->rate;
        }
        for (size_t i = 0; i < srv->children.cap; i++) {
                struct child *c = &srv->children.slots[i];
                const char *name;
                struct service_state *st;
                if (!c->pid)
                        continue;
                /* A wait handler's socket went to the new listener, or was closed. */
                if (c->wait_listener)
                        c->wait_listener = c->wait_listener->moved_to;
                name = c->svc->svc->name;
                st = indexed ? index_find(&by_name, hash_name(name), service_named, name) : NULL;
                if (!st || st == c->svc)
                        continue;
                if (c->counted_source)
                        source_release(&c->svc->sources, &c->source);
                c->svc->running--;
                service_state_unref(c->svc);
                c->svc = st;
                st->refs++;
                st->running++;
                /* Count it against the new limits, with the new prefix; it already runs, so no limit. */
                c->counted_source = false;
                if (st->svc->max_per_source && c->remote.sin6_family != AF_UNIX && c->remote.sin6_family != AF_UNSPEC) {
                        source_key_from((const struct sockaddr *)&c->remote, st->svc->per_source_prefix6, &c->source);
                        c->counted_source = source_acquire(&st->sources, &c->source, 0) == 0;
                }
        }
        if (indexed)
                free(by_name.slots);
}

/* ---- the service manager ---- */

/*
 * Tell the service manager our state: `state` ("READY=1", or NULL for a
 * STATUS= update alone) and a STATUS= line with the counts, naming the first
 * listener that cannot be opened, if any (systemctl status shows it).
 */
static void notify_status(struct server *srv, const char *state)
{
        const struct service_state *first = NULL;
        size_t failing = 0, first_i = 0;

        for (size_t i = 0; i < srv->n_services; i++)
                for (size_t j = 0; j < srv->services[i]->n_listeners; j++)
                        if (srv->services[i]->listeners[j].open_error && !failing++) {
                                first = srv->services[i];
                                first_i = j;
                        }
        if (!failing)
                sd_notifyf(0, "%s%sSTATUS=%zu service(s), %zu handler(s) running", state ?: "", state ? "\n" : "",
                           srv->n_services, srv->children.n);
        else
                sd_notifyf(0, "%s%sSTATUS=%zu service(s), %zu handler(s) running, %zu listener(s) not open (%s %s: %s)",
                           state ?: "", state ? "\n" : "", srv->n_services, srv->children.n, failing,
                           first->svc->name, first->svc->listen_text[first_i], strerror(-first->listeners[first_i].open_error));
}

/* ---- the status socket (superctl) ---- */

static int server_reload(struct server *srv, char **ret_errors);

static void status_write_service(FILE *out, const struct service_state *st)
{
        bool paused = false;

        fputs("{\"name\":", out);
        status_json_string(out, st->svc->name);
        fputs(",\"listeners\":[", out);
        for (size_t i = 0; i < st->n_listeners; i++) {
                fputs(i ? "," : "", out);
                status_json_string(out, st->svc->listen_text[i]);
                paused |= st->listeners[i].paused != RUNNING;
        }
        fputs("],\"not_listening\":[", out);
        for (size_t i = 0, n = 0; i < st->n_listeners; i++) {
                if (!st->listeners[i].open_error)
                        continue;
                fputs(n++ ? ",{\"listen\":" : "{\"listen\":", out);
                status_json_string(out, st->svc->listen_text[i]);
                fputs(",\"error\":", out);
                status_json_string(out, strerror(-st->listeners[i].open_error));
                fputc('}', out);
        }
        fprintf(out,
                "],\"running\":%u,\"accepted\":%llu,\"failed\":%llu,"
                "\"refused\":{\"acl\":%llu,\"per_source\":%llu,\"rate\":%llu},\"paused\":%s}",
                st->running, (unsigned long long)st->count.accepted, (unsigned long long)st->count.failed,
                (unsigned long long)st->count.refused_acl, (unsigned long long)st->count.refused_per_source,
                (unsigned long long)st->count.refused_rate, paused ? "true" : "false");
}

/* Answer one superctl request (protocol in status.h). */
static int on_status_request(const char *command, FILE *out, void *userdata)
{
        struct server *srv = userdata;

        if (strcmp(command, "status") == 0) {
                fprintf(out, "{\"pid\":%d,\"services\":[", (int)getpid());
                for (size_t i = 0; i < srv->n_services; i++) {
                        fputs(i ? "," : "", out);
                        status_write_service(out, srv->services[i]);
                }
                fprintf(out, "],\"running\":%zu,\"max_children\":%u}\n", srv->children.n, srv->max_children);
        } else if (strcmp(command, "reload") == 0) {
                char *errors = NULL;
                int r = srv->stopping ? -ESHUTDOWN : server_reload(srv, &errors);
                if (r == 0)
                        fprintf(out, "{\"ok\":true,\"services\":%zu}\n", srv->n_services);
                else {
                        char *save = NULL;
                        bool first = true;
                        fputs("{\"ok\":false,\"errors\":[", out);
                        for (char *line = errors ? strtok_r(errors, "\n", &save) : NULL; line;
                             line = strtok_r(NULL, "\n", &save)) {
                                fputs(first ? "" : ",", out);
                                status_json_string(out, line);
                                first = false;
                        }
                        if (first) /* out of memory, or stopping */
                                status_json_string(out, strerror(-r));
                        fputs("]}\n", out);
                }
                free(errors);
        } else
                fputs("{\"error\":\"unknown command\"}\n", out);
        return 0;
}

/* Open, move or close the status socket so that it is at `path` (NULL: none). Failures are logged. */
static void status_socket_update(struct server *srv, const char *path)
{
        int r;

        if (path && srv->status_path && strcmp(path, srv->status_path) == 0 && srv->status)
                return;
        srv->status = status_socket_close(srv->status);
        free(srv->status_path);
        srv->status_path = NULL;
        if (!path)
                return;
        srv->status_path = strdup(path);
        r = srv->status_path ? status_socket_open(srv->event, path, on_status_request, srv, &srv->status) : -ENOMEM;
        if (r < 0)
                log_error_errno(r, "cannot open the status socket %s: %m", path);
}

/*
 * SIGHUP: load every file again. Any error: log them all and keep the
 * running set untouched. Otherwise switch to the new set, keeping the sockets
 * of unchanged listeners; running handlers are never killed.
 */
static int server_reload(struct server *srv, char **ret_errors)
{
        struct service_state **next;
        struct config *cfg = NULL;
        char *errors = NULL;
        size_t errors_len = 0, n_next = 0;
        FILE *err;
        int r;

        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now_usec());
        err = open_memstream(&errors, &errors_len);
        r = err ? config_load(srv->opts->config_file, srv->opts->services_dir, err, &cfg) : -ENOMEM;
        if (err)
                fclose(err);
        if (r < 0) {
                /* One log line per FILE:LINE error, so each is found in the journal on its own. */
                for (char *line = errors, *end; line && *line; line = end + 1) {
                        end = strchrnul(line, '\n');
                        log_err("reload: %.*s", (int)(end - line), line);
                        if (!*end)
                                break;
                }
                log_err("reload failed: configuration is invalid; the running services are unchanged");
                if (ret_errors) {
                        *ret_errors = errors;
                        errors = NULL;
                }
                free(errors);
                goto done;
        }
        free(errors);

        r = -ENOMEM;
        next = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*next));
        if (!next) {
                log_err("reload failed: out of memory; the running services are unchanged");
                goto done;
        }
        for (size_t i = 0; i < cfg->n_services; i++) {
                struct service_state *st;
                if (cfg->services[i]->disable)
                        continue;
                st = service_state_new(cfg->services[i]);
                if (!st) {
                        for (size_t j = 0; j < n_next; j++)
                                service_state_unref(next[j]);
                        free(next);
                        log_err("reload failed: out of memory; the running services are unchanged");
                        goto done;
                }
                cfg->services[i] = NULL;
                next[n_next++] = st;
        }

        /* Handlers still starting read their old service's memory, which the swap below may free. */
        spawn_wait_all();
        reload_listeners(srv, next, n_next);
        reload_carry_over(srv, next, n_next);
        collect_builtin_ports(srv, next, n_next);
        /* Old listeners not taken over close now; old services live on while their handlers run. */
        srv->paused_global = NULL;
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_unref(srv->services[i]);
        free(srv->services);
        srv->services = next;
        srv->n_services = n_next;
        srv->max_children = cfg->max_children;
        if (srv->opts->log_level < 0)
                log_max_level = cfg->log_level;
        status_socket_update(srv, cfg->status_socket);
        log_info("reloaded: %zu service(s)", n_next);
        r = 0;
done:
        config_free(cfg);
        /* Old and new configuration were both in memory: give the pages of the old one back (once per reload). */
        malloc_trim(0);
        notify_status(srv, "READY=1");
        return r;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        struct server *srv = userdata;

        if (!srv->stopping)
                server_reload(srv, NULL);
        return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        struct server *srv = userdata;

        log_notice("%zu service(s), %zu handler(s) running", srv->n_services, srv->children.n);
        for (size_t i = 0; i < srv->n_services; i++) {
                const struct service_state *st = srv->services[i];
                size_t paused = 0;
                for (size_t j = 0; j < st->n_listeners; j++)
                        paused += st->listeners[j].paused != RUNNING;
                log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->svc->name },
                            "listeners %zu (paused %zu), running %u, accepted %llu, failed %llu, refused acl %llu "
                            "per-source %llu rate %llu",
                            st->n_listeners, paused, st->running, (unsigned long long)st->count.accepted,
                            (unsigned long long)st->count.failed, (unsigned long long)st->count.refused_acl,
                            (unsigned long long)st->count.refused_per_source, (unsigned long long)st->count.refused_rate);
        }
        return 0;
}

/* ---- start-up ---- */

/* Make sure fds 0-2 are open, so no socket of ours ever lands there. */
static int ensure_std_fds(void)
{
        for (int fd = 0; fd <= 2; fd++)
                if (fcntl(fd, F_GETFD) < 0) {
                        int n = open("/dev/null", O_RDWR);
                        if (n < 0)
                                return -errno;
                        if (n != fd) {
                                dup2(n, fd);
                                close(n);
                        }
                }
        return 0;
}

/*
 * Handlers inherit dispositions: reset all to default (an inherited SIG_IGN
 * for SIGCHLD would also break reaping), then block what sd-event handles.
 * SIGPIPE is blocked, not ignored: writes to a gone peer return EPIPE, and
 * the child's empty mask gives handlers the default action back.
 */
static int setup_signals(struct server *srv)
{
        static const int handled[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
        sigset_t mask;
        int r;

        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        sigemptyset(&mask);
        for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
                sigaddset(&mask, handled[i]);
        sigaddset(&mask, SIGPIPE);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        r = sd_event_add_signal(srv->event, NULL, SIGCHLD, on_sigchld, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGTERM, on_stop_signal, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGINT, on_stop_signal, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGHUP, on_sighup, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGUSR1, on_sigusr1, srv);
        return r < 0 ? r : 0;
}

/*
 * sd-event opens one timerfd per clock at the first timer of that clock, and
 * keeps it. The first timer superd needs may be the back-off after EMFILE,
 * when no fd is left to open it: open it now with a timer that is dropped
 * at once (it is never armed, so an idle superd still never wakes up).
 */
static int reserve_timer_fd(sd_event *e)
{
        sd_event_source *s = NULL;
        int r = sd_event_add_time(e, &s, CLOCK_MONOTONIC, UINT64_MAX, 0, NULL, NULL);

        sd_event_source_disable_unref(s);
        return r < 0 ? r : 0;
}

/* Many handlers mean many fds during accept and spawn: use the whole hard limit. */
static void raise_nofile(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/*
 * Sockets passed by a service manager (systemd, systemd-socket-activate):
 * remember them, to be matched by address and type as listeners open.
 * LISTEN_* is removed from the environment: handlers must not see it.
 */
static int collect_passed_sockets(struct server *srv)
{
        int n = sd_listen_fds(true);

        if (n <= 0)
                return n < 0 ? log_error_errno(n, "LISTEN_FDS: %m") : 0;
        srv->adopted = calloc((size_t)n, sizeof(*srv->adopted));
        if (!srv->adopted)
                return log_error_errno(-ENOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
                struct adopted_fd *a = &srv->adopted[srv->n_adopted++];
                socklen_t len = sizeof(a->type);
                a->fd = SD_LISTEN_FDS_START + i;
                a->len = sizeof(a->sa);
                if (getsockopt(a->fd, SOL_SOCKET, SO_TYPE, &a->type, &len) < 0 ||
                    getsockname(a->fd, (struct sockaddr *)&a->sa, &a->len) < 0)
                        a->type = -1; /* not a socket: matches nothing, closed below */
        }
        return 0;
}

/* Close the passed sockets that no listen entry wanted. */
static void close_unmatched_passed_sockets(struct server *srv)
{
        for (size_t i = 0; i < srv->n_adopted; i++) {
                struct adopted_fd *a = &srv->adopted[i];
                char text[ADDR_STRLEN];
                if (a->fd < 0)
                        continue;
                log_warning("passed fd %d (%s) matches no listen entry: closing it", a->fd,
                            a->type < 0 ? "not a socket" : addr_format((const struct sockaddr *)&a->sa, text, sizeof(text)));
                close(a->fd);
                a->fd = -1;
        }
        free(srv->adopted);
        srv->adopted = NULL;
        srv->n_adopted = 0;
}

/*
 * Open every listener of the configuration. A listener that cannot be opened
 * is logged and retried (listener_start()); start fails (-errno, logged)
 * only when there were listeners and not one of them could be opened.
 */
static int server_start(struct server *srv, struct config *cfg)
{
        size_t n_listeners = 0, n_open = 0;
        int r;

        r = collect_passed_sockets(srv);
        if (r < 0)
                return r;
        srv->max_children = cfg->max_children;
        srv->services = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*srv->services));
        if (!srv->services)
                return log_error_errno(-ENOMEM, "out of memory");
        for (size_t i = 0; i < cfg->n_services; i++) {
                struct service_state *st;
                if (cfg->services[i]->disable)
                        continue;
                st = service_state_new(cfg->services[i]);
                if (!st)
                        return log_error_errno(-ENOMEM, "out of memory");
                cfg->services[i] = NULL; /* now owned by st */
                srv->services[srv->n_services++] = st;
                for (size_t j = 0; j < st->n_listeners; j++) {
                        n_listeners++;
                        n_open += listener_start(srv, st, j) == 0;
                }
        }
        close_unmatched_passed_sockets(srv);
        collect_builtin_ports(srv, srv->services, srv->n_services);
        /* Serve what can be served; give up only when nothing can. */
        if (n_listeners > 0 && n_open == 0)
                return log_error_errno(-EADDRNOTAVAIL, "not a single listener could be opened: exiting");
        if (n_open < n_listeners)
                log_warning("%zu of %zu listener(s) could not be opened: serving the others, retrying those",
                            n_listeners - n_open, n_listeners);
        return 0;
}

static void server_free(struct server *srv)
{
        spawn_wait_all(); /* before anything a starting handler reads is freed */
        builtin_stream_close_all();
        status_socket_update(srv, NULL);
        close_unmatched_passed_sockets(srv);
        free(srv->builtin_ports);
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_unref(srv->services[i]);
        free(srv->services);
        /* Children left at exit (a failed start) keep their service references: drop them too. */
        for (size_t i = 0; i < srv->children.cap; i++)
                if (srv->children.slots[i].pid) {
                        sd_event_source_disable_unref(srv->children.slots[i].timeout);
                        service_state_unref(srv->children.slots[i].svc);
                }
        children_free(&srv->children);
        limited_log_done(&srv->limit_log);
        if (srv->devnull >= 0)
                close(srv->devnull);
        sd_event_unref(srv->event);
}

int run(const struct run_options *o)
{
        struct server srv = { .devnull = -1, .limit_log.summary = children_limit_summary };
        struct config *cfg = NULL;
        bool pidfile_written = false;
        int r, status, ready_fd = -1;

        log_open(false);
        if (o->log_level >= 0)
                log_max_level = o->log_level;
        r = config_load(o->config_file, o->services_dir, stderr, &cfg);
        if (r < 0) {
                fprintf(stderr, "superd: configuration is invalid\n");
                return EXIT_CONFIG;
        }
        if (o->check) {
                config_print(cfg, stdout);
                config_free(cfg);
                return EXIT_CLEAN;
        }
        if (o->log_level < 0)
                log_max_level = cfg->log_level;
        if (o->daemon) {
                /* Before any sd-event object exists: those do not survive a fork. */
                ready_fd = daemon_detach();
                if (ready_fd < 0) {
                        log_error_errno(ready_fd, "cannot detach: %m");
                        config_free(cfg);
                        return EXIT_LISTENER;
                }
        }

        r = ensure_std_fds();
        if (r < 0) {
                log_error_errno(r, "cannot open /dev/null: %m");
                config_free(cfg);
                return EXIT_LISTENER;
        }
        raise_nofile();
        srv.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        srv.opts = o;
        the_server = &srv;
        r = sd_event_new(&srv.event);
        if (r >= 0)
                r = setup_signals(&srv);
        /* Pets the service manager's watchdog when WATCHDOG_USEC is set; no timer otherwise. */
        if (r >= 0)
                r = sd_event_set_watchdog(srv.event, true);
        if (r >= 0)
                r = reserve_timer_fd(srv.event);
        if (r < 0) {
                log_error_errno(r, "cannot set up the event loop: %m");
                status = EXIT_LISTENER;
                goto out;
        }
        r = server_start(&srv, cfg);
        if (r < 0) {
                status = EXIT_LISTENER;
                goto out;
        }
        status_socket_update(&srv, cfg->status_socket);
        config_free(cfg);
        cfg = NULL;

        if (o->pidfile) {
                r = daemon_write_pidfile(o->pidfile);
                if (r < 0) {
                        log_error_errno(r, "cannot write %s: %m", o->pidfile);
                        status = EXIT_LISTENER;
                        goto out;
                }
                pidfile_written = true;
        }
        log_info("ready: %zu service(s)", srv.n_services);
        notify_status(&srv, "READY=1");
        if (ready_fd >= 0) {
                daemon_ready(ready_fd, EXIT_CLEAN);
                ready_fd = -1;
                log_open(true);
        }
        r = sd_event_loop(srv.event);
        status = r < 0 ? EXIT_LISTENER : r;
        log_info("stopped");
out:
        daemon_ready(ready_fd, status);
        if (pidfile_written)
                unlink(o->pidfile);
        config_free(cfg);
        server_free(&srv);
        the_server = NULL;
        return status;
}
