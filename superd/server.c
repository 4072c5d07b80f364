/* SPDX-License-Identifier: MIT */
/* The daemon: listeners, the sd-event loop, spawning and reaping handlers, stopping. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>

#include "children.h"
#include "daemon.h"
#include "config.h"
#include "env.h"
#include "listener.h"
#include "log.h"
#include "spawn.h"

#define ACCEPT_BATCH 32          /* connections accepted per wakeup, so one port cannot starve others */
#define STOP_TIMEOUT_USEC (5 * 1000000ULL) /* SIGTERM to SIGKILL at stop */
#define RESOURCE_PAUSE_MIN_USEC (10 * 1000ULL)  /* first pause after EMFILE and friends */
#define RESOURCE_PAUSE_MAX_USEC (1000 * 1000ULL)

struct service_state;

/* One listening socket of a service. */
struct listener {
        struct service_state *svc; /* owner */
        int fd;
        sd_event_source *io;
        sd_event_source *retry;    /* one-shot timer after a resource error, lazily created */
        uint64_t retry_usec;       /* current back-off */
        struct sockaddr_in6 local; /* bound address; AF_INET fits */
        bool wildcard;             /* bound to any: read the local address per connection */
        enum { RUNNING, PAUSED_SERVICE, PAUSED_GLOBAL } paused; /* io off: which limit was reached */
        struct listener *next_paused; /* in server.paused_global while PAUSED_GLOBAL */
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
        uint64_t accepted, failed;
};

struct server {
        sd_event *event;
        struct service_state **services;
        size_t n_services;
        struct child_table children;
        unsigned max_children;
        struct listener *paused_global; /* paused because max-children was reached */
        bool stopping;
        const struct run_options *opts; /* to load the configuration again on SIGHUP */
        int devnull;
        char conn_env[HANDLER_ENV_CONN_SIZE];
};

static uint64_t now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- services ---- */

/* Stop watching and close every listener of st (at stop, at reload, when st goes away). */
static void service_state_close_listeners(struct service_state *st)
{
        for (size_t i = 0; i < st->n_listeners; i++) {
                struct listener *l = &st->listeners[i];
                l->io = sd_event_source_disable_unref(l->io);
                l->retry = sd_event_source_disable_unref(l->retry);
                if (l->fd >= 0)
                        close(l->fd);
                l->fd = -1;
        }
}

static struct service_state *service_state_unref(struct service_state *st)
{
        if (!st || --st->refs > 0)
                return NULL;
        service_state_close_listeners(st);
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
        st->stderr_fd = STDERR_FILENO;
        st->listeners = calloc(svc->n_listen ? svc->n_listen : 1, sizeof(*st->listeners));
        if (!st->listeners || handler_env_init(&st->env, svc, environ) < 0) {
                st->svc = NULL; /* the caller still owns svc */
                service_state_unref(st);
                return NULL;
        }
        st->set_creds = geteuid() == 0 && !same_creds(svc);
        st->n_listeners = svc->n_listen;
        for (size_t i = 0; i < svc->n_listen; i++)
                st->listeners[i] = (struct listener){ .svc = st, .fd = -1 };
        if (svc->stderr_mode == STDERR_LOG && log_uses_journal()) {
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

/* Stop watching `l` until a handler exits: connections wait in the kernel's backlog meanwhile. */
static void listener_pause(struct server *srv, struct listener *l, bool global)
{
        if (l->paused)
                return;
        listener_set_enabled(l, false);
        l->paused = global ? PAUSED_GLOBAL : PAUSED_SERVICE;
        if (global) {
                l->next_paused = srv->paused_global;
                srv->paused_global = l;
        }
}

/* A handler of `st` ended: resume what its service limit or the global limit paused. */
static void resume_after_exit(struct server *srv, struct service_state *st)
{
        if (!at_service_limit(st))
                for (size_t i = 0; i < st->n_listeners; i++)
                        if (st->listeners[i].paused == PAUSED_SERVICE) {
                                st->listeners[i].paused = RUNNING;
                                listener_set_enabled(&st->listeners[i], true);
                        }
        if (!at_global_limit(srv))
                while (srv->paused_global) {
                        struct listener *l = srv->paused_global;
                        srv->paused_global = l->next_paused;
                        l->next_paused = NULL;
                        l->paused = RUNNING;
                        listener_set_enabled(l, true);
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
 * accept(2) or spawn failed for lack of fds or memory: stop watching the
 * listener for a growing interval instead of spinning on a socket that
 * stays readable (OpenBSD inetd does the same with a fixed second).
 */
static void listener_back_off(struct server *srv, struct listener *l, int error)
{
        uint64_t now;
        int r;

        l->retry_usec = l->retry_usec ? l->retry_usec * 2 : RESOURCE_PAUSE_MIN_USEC;
        if (l->retry_usec > RESOURCE_PAUSE_MAX_USEC)
                l->retry_usec = RESOURCE_PAUSE_MAX_USEC;
        log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = l->svc->svc->name },
                    "%s; pausing the listener for %llu ms", strerror(error),
                    (unsigned long long)(l->retry_usec / 1000));
        listener_set_enabled(l, false);
        sd_event_now(srv->event, CLOCK_MONOTONIC, &now);
        if (l->retry)
                r = sd_event_source_set_time(l->retry, now + l->retry_usec) < 0 ||
                    sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT) < 0 ? -1 : 0;
        else
                r = sd_event_add_time(srv->event, &l->retry, CLOCK_MONOTONIC, now + l->retry_usec, 0, on_retry, l);
        if (r < 0)
                listener_set_enabled(l, true); /* better to spin than to go deaf */
}

/* Open listener i of st and watch it. Logs and returns -errno on failure. */
static int listener_open_one(struct server *srv, struct service_state *st, size_t i)
{
        const struct service *svc = st->svc;
        struct listener *l = &st->listeners[i];
        socklen_t len = sizeof(l->local);
        int r;

        l->fd = listener_open(&svc->listen[i], 0);
        if (l->fd < 0)
                return log_error_errno(l->fd, "service %s: cannot listen on %s (%s:%u): %m", svc->name,
                                       svc->listen_text[i], svc->file, svc->line);
        if (getsockname(l->fd, (struct sockaddr *)&l->local, &len) < 0)
                return log_error_errno(-errno, "service %s: getsockname: %m", svc->name);
        l->wildcard = l->local.sin6_family == AF_INET6
                              ? IN6_IS_ADDR_UNSPECIFIED(&l->local.sin6_addr)
                              : ((struct sockaddr_in *)&l->local)->sin_addr.s_addr == htonl(INADDR_ANY);
        r = sd_event_add_io(srv->event, &l->io, l->fd, EPOLLIN, on_listener_ready, l);
        if (r < 0)
                return log_error_errno(r, "service %s: cannot watch %s: %m", svc->name, svc->listen_text[i]);
        log_debug("service %s: listening on %s", svc->name, svc->listen_text[i]);
        return 0;
}

/* ---- connections ---- */

static struct server *the_server; /* listeners reach the server through it; there is one */

static void handle_connection(struct server *srv, struct listener *l, int fd, const struct sockaddr_in6 *remote)
{
        struct service_state *st = l->svc;
        const struct service *svc = st->svc;
        struct sockaddr_in6 local_buf;
        const struct sockaddr *local = (const struct sockaddr *)&l->local;
        const char *step;
        struct child *c;
        pid_t pid;
        int r;

        if (l->wildcard) {
                socklen_t len = sizeof(local_buf);
                if (getsockname(fd, (struct sockaddr *)&local_buf, &len) == 0)
                        local = (const struct sockaddr *)&local_buf;
        }
        handler_env_connect(&st->env, srv->conn_env, (const struct sockaddr *)remote, local);

        struct spawn_plan plan = {
                .argv = svc->argv,
                .envp = st->env.envp,
                .conn_fd = fd,
                .stderr_fd = svc->stderr_mode == STDERR_SOCKET ? fd
                             : svc->stderr_mode == STDERR_NULL ? srv->devnull
                                                               : st->stderr_fd,
                .set_creds = st->set_creds,
                .uid = svc->uid,
                .gid = svc->gid,
                .groups = svc->groups,
                .n_groups = svc->n_groups,
        };
        r = spawn_handler(&plan, &pid, &step);
        st->accepted++;
        if (pid <= 0) {
                st->failed++;
                if (r == -EAGAIN || r == -ENOMEM)
                        listener_back_off(srv, l, -r);
                else
                        log_error_errno(r, "service %s: cannot start a handler: %s: %m", svc->name, step);
                return;
        }
        c = children_add(&srv->children, pid);
        if (!c) {
                /* Cannot track it: let it run, it is reaped anyway (unknown pids are ignored). */
                log_err("service %s: out of memory tracking handler %d", svc->name, (int)pid);
                return;
        }
        c->svc = st;
        c->start_usec = now_usec();
        c->remote = *remote;
        c->exec_failed = r < 0;
        st->refs++;
        st->running++;
        if (r < 0 || log_enabled(LOG_DEBUG)) {
                char addr[ADDR_STRLEN];
                const struct log_ctx ctx = {
                        .service = svc->name,
                        .pid = pid,
                        .remote = addr_format((const struct sockaddr *)remote, addr, sizeof(addr)),
                };
                if (r < 0) {
                        st->failed++;
                        errno = -r;
                        log_ctx_msg(LOG_ERR, &ctx, "handler %s failed: %s: %m", svc->argv[0], step);
                } else
                        log_ctx_msg(LOG_DEBUG, &ctx, "accept %s pid %d", addr, (int)pid);
        }
}

static int on_listener_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct listener *l = userdata;
        struct server *srv = the_server;

        for (int i = 0; i < ACCEPT_BATCH; i++) {
                struct sockaddr_in6 remote;
                socklen_t len = sizeof(remote);
                int c;

                if (at_service_limit(l->svc)) {
                        listener_pause(srv, l, false);
                        return 0;
                }
                if (at_global_limit(srv)) {
                        listener_pause(srv, l, true);
                        return 0;
                }
                /* Blocking socket for the handler (inetd semantics): no SOCK_NONBLOCK here. */
                c = accept4(fd, (struct sockaddr *)&remote, &len, SOCK_CLOEXEC);
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
                                listener_back_off(srv, l, errno);
                                return 0;
                        }
                }
                handle_connection(srv, l, c, &remote);
                close(c);
        }
        return 0;
}

/* ---- children ---- */

static void log_exit(const struct child *c, const siginfo_t *si)
{
        const struct service *svc = c->svc->svc;
        bool clean = si->si_code == CLD_EXITED && si->si_status == 0;
        int level = clean || c->exec_failed ? LOG_DEBUG : LOG_WARNING;
        char status[32], addr[ADDR_STRLEN];
        uint64_t ms;

        if (!log_enabled(level))
                return;
        ms = (now_usec() - c->start_usec) / 1000;
        if (si->si_code == CLD_EXITED)
                snprintf(status, sizeof(status), "%d", si->si_status);
        else
                snprintf(status, sizeof(status), "SIG%s", sigabbrev_np(si->si_status) ?: "?");
        log_ctx_msg(level,
                    &(struct log_ctx){ .service = svc->name, .pid = c->pid, .exit_status = status,
                                       .remote = addr_format((const struct sockaddr *)&c->remote, addr, sizeof(addr)) },
                    "end pid %d %s %s after %llu ms (client %s)", (int)c->pid,
                    si->si_code == CLD_EXITED ? "exitcode" : "signal", status, (unsigned long long)ms, addr);
}

static void stop_done_if_idle(struct server *srv)
{
        if (srv->stopping && srv->children.n == 0)
                sd_event_exit(srv->event, EXIT_CLEAN);
}

static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        struct server *srv = userdata;

        /* One SIGCHLD may stand for many exits: drain them all. */
        for (;;) {
                siginfo_t si = { 0 };
                struct service_state *st;
                struct child *c;

                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != ECHILD)
                                log_err("waitid: %m");
                        break;
                }
                if (si.si_pid == 0)
                        break;
                c = children_find(&srv->children, si.si_pid);
                if (!c)
                        continue;
                log_exit(c, &si);
                st = c->svc;
                children_remove(&srv->children, c);
                st->running--;
                if (!srv->stopping)
                        resume_after_exit(srv, st);
                service_state_unref(st);
        }
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
        signal_children(srv, SIGTERM);
        if (srv->children.n > 0)
                sd_event_add_time_relative(srv->event, NULL, CLOCK_MONOTONIC, STOP_TIMEOUT_USEC, 0, on_stop_timeout,
                                           srv);
        stop_done_if_idle(srv);
        return 0;
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

/* A listener of the old set that is still open, on the same address (its identity: address, type, options). */
static bool listener_matches(const void *item, const void *key)
{
        const struct listener *l = item;
        size_t i = (size_t)(l - l->svc->listeners);

        return l->fd >= 0 && addr_equal(&l->svc->svc->listen[i], key);
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
                        struct listener *l = &st->listeners[j], *prev = NULL;
                        if (old.slots)
                                prev = index_find(&old, hash_listen_addr(&svc->listen[j]), listener_matches,
                                                  &svc->listen[j]);
                        if (!prev)
                                continue;
                        l->fd = prev->fd;
                        l->io = prev->io;
                        l->local = prev->local;
                        l->wildcard = prev->wildcard;
                        prev->fd = -1;
                        prev->io = NULL;
                        sd_event_source_set_userdata(l->io, l);
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
                                listener_open_one(srv, next[i], j); /* a failure is logged; the rest applies */
        free(old.slots);
}

/* Running handlers count against the new service of the same name (limits carry over). */
static void reload_children(struct server *srv, struct service_state **next, size_t n_next)
{
        struct index by_name;

        if (index_init(&by_name, n_next) < 0)
                return;
        for (size_t i = 0; i < n_next; i++)
                index_put(&by_name, hash_name(next[i]->svc->name), next[i]);
        for (size_t i = 0; i < srv->children.cap; i++) {
                struct child *c = &srv->children.slots[i];
                const char *name;
                struct service_state *st;
                if (!c->pid)
                        continue;
                name = c->svc->svc->name;
                st = index_find(&by_name, hash_name(name), service_named, name);
                if (!st || st == c->svc)
                        continue;
                c->svc->running--;
                service_state_unref(c->svc);
                c->svc = st;
                st->refs++;
                st->running++;
        }
        free(by_name.slots);
}

/*
 * SIGHUP: load every file again. Any error: log them all and keep the
 * running set untouched. Otherwise switch to the new set, keeping the sockets
 * of unchanged listeners; running handlers are never killed.
 */
static void server_reload(struct server *srv)
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
                for (char *line = errors ? strtok(errors, "\n") : NULL; line; line = strtok(NULL, "\n"))
                        log_err("reload: %s", line);
                log_err("reload failed: configuration is invalid; the running services are unchanged");
                free(errors);
                goto done;
        }
        free(errors);

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

        reload_listeners(srv, next, n_next);
        reload_children(srv, next, n_next);
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
        log_info("reloaded: %zu service(s)", n_next);
done:
        config_free(cfg);
        sd_notifyf(0, "READY=1\nSTATUS=%zu service(s), %zu handler(s) running", srv->n_services, srv->children.n);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        struct server *srv = userdata;

        if (!srv->stopping)
                server_reload(srv);
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
                            "listeners %zu (paused %zu), running %u, accepted %llu, failed %llu", st->n_listeners,
                            paused, st->running, (unsigned long long)st->accepted,
                            (unsigned long long)st->failed);
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

/* Many handlers mean many fds during accept and spawn: use the whole hard limit. */
static void raise_nofile(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static int server_start(struct server *srv, struct config *cfg)
{
        int r;

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
                        r = listener_open_one(srv, st, j);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static void server_free(struct server *srv)
{
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_unref(srv->services[i]);
        free(srv->services);
        /* Children left at exit (a failed start) keep their service references: drop them too. */
        for (size_t i = 0; i < srv->children.cap; i++)
                if (srv->children.slots[i].pid)
                        service_state_unref(srv->children.slots[i].svc);
        children_free(&srv->children);
        if (srv->devnull >= 0)
                close(srv->devnull);
        sd_event_unref(srv->event);
}

int run(const struct run_options *o)
{
        struct server srv = { .devnull = -1 };
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
        sd_notifyf(0, "READY=1\nSTATUS=%zu service(s)", srv.n_services);
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
