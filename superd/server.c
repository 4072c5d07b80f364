/* SPDX-License-Identifier: MIT */
/* The daemon: run(), the state its modules share, signals, start, stop, sd_notify, superctl requests. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "builtin.h"
#include "config.h"
#include "daemon.h"
#include "fdstore.h"
#include "listener.h"
#include "log.h"
#include "proxy-wait.h"
#include "reap.h"
#include "reload.h"
#include "service.h"
#include "spawn.h"
#include "status.h"
#include "upgrade.h"

#define STOP_TIMEOUT_USEC (5 * 1000000ULL) /* SIGTERM to SIGKILL at stop */

uint64_t server_now(const struct server *srv)
{
        uint64_t now = 0;

        (void)sd_event_now(srv->event, CLOCK_MONOTONIC, &now);
        return now;
}

int server_arm_timer(struct server *srv, sd_event_source **s, uint64_t usec, sd_event_time_handler_t callback,
                     void *userdata)
{
        int r;

        if (!*s)
                return sd_event_add_time(srv->event, s, CLOCK_MONOTONIC, usec, 0, callback, userdata);
        r = sd_event_source_set_time(*s, usec);
        return r < 0 ? r : sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
}

/* ---- max-children ---- */

bool server_at_global_limit(const struct server *srv)
{
        return srv->max_children && srv->children.n >= srv->max_children;
}

static int children_limit_summary(sd_event_source *s, uint64_t usec, void *userdata)
{
        const struct server *srv = container_of(userdata, struct server, limit_log);
        uint64_t n = limited_log_take(userdata);

        if (n)
                log_notice("max-children (%u) reached %llu more time(s) in the last %llu s", srv->max_children,
                           (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
        return 0;
}

void server_pause_global(struct server *srv, struct listener *l)
{
        uint64_t n;

        if (l->paused & PAUSE_GLOBAL_LIMIT)
                return;
        if (!srv->limit_reached) {
                srv->limit_reached = true;
                if (limited_log_pass(srv->event, &srv->limit_log, children_limit_summary, &n))
                        log_notice("max-children (%u) reached: no service accepts until a handler exits (%llu more "
                                   "time(s) in the last %llu s)",
                                   srv->max_children, (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
        }
        listener_pause(l, PAUSE_GLOBAL_LIMIT);
        l->next_paused = srv->paused_global;
        srv->paused_global = l;
}

void server_resume_global(struct server *srv)
{
        if (server_at_global_limit(srv))
                return;
        srv->limit_reached = false;
        while (srv->paused_global) {
                struct listener *l = srv->paused_global;
                srv->paused_global = l->next_paused;
                l->next_paused = NULL;
                listener_resume(l, PAUSE_GLOBAL_LIMIT);
        }
}

/* ---- the service manager ---- */

void server_notify_status(struct server *srv, const char *state)
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
                (void)sd_notifyf(0, "%s%sSTATUS=%zu service(s), %zu handler(s) running", state ?: "",
                                 state ? "\n" : "", srv->n_services, srv->children.n);
        else
                (void)sd_notifyf(0,
                                 "%s%sSTATUS=%zu service(s), %zu handler(s) running, %zu listener(s) not open (%s %s: %s)",
                                 state ?: "", state ? "\n" : "", srv->n_services, srv->children.n, failing,
                                 first->conf->name, first->conf->listen_text[first_i],
                                 strerror(-first->listeners[first_i].open_error));
}

void server_collect_builtin_ports(struct server *srv, struct service_state **services, size_t n)
{
        size_t count = 0;
        uint16_t *ports;

        for (size_t i = 0; i < n; i++)
                if (services[i]->conf->builtin && services[i]->conf->socket_type == SOCK_DGRAM)
                        count += services[i]->conf->n_listen;
        ports = count ? calloc(count, sizeof(*ports)) : NULL;
        if (count && !ports)
                return; /* keep the old list: ports < 1024 are refused anyway */
        count = 0;
        for (size_t i = 0; ports && i < n; i++) {
                const struct service *svc = services[i]->conf;
                if (!svc->builtin || svc->socket_type != SOCK_DGRAM)
                        continue;
                for (size_t j = 0; j < svc->n_listen; j++) {
                        const struct listen_addr *a = &svc->listen[j];
                        ports[count++] = ntohs(a->family == AF_INET ? a->in.sin_port : a->in6.sin6_port);
                }
        }
        free(srv->builtin_ports);
        srv->builtin_ports = ports;
        srv->n_builtin_ports = count;
}


/* ---- the status socket (superctl) and SIGUSR1: one snapshot ---- */

/*
 * Call fn with a snapshot of every service (status.h). The listener arrays
 * come from one allocation; fn's strings point into the services.
 * Returns fn's result, or -ENOMEM.
 */
static int with_snapshot(struct server *srv, int (*fn)(const struct status_snapshot *snap, void *userdata),
                         void *userdata)
{
        size_t n_listeners = 0, used = 0, n_workers = 0, used_workers = 0;
        struct status_service *services;
        struct status_listener *listeners;
        struct status_worker *workers;
        int r;

        for (size_t i = 0; i < srv->n_services; i++) {
                n_listeners += srv->services[i]->n_listeners;
                n_workers += service_state_workers(srv->services[i]);
        }
        services = calloc(srv->n_services + 1, sizeof(*services));
        listeners = calloc(n_listeners + 1, sizeof(*listeners));
        workers = calloc(n_workers + 1, sizeof(*workers));
        if (!services || !listeners || !workers) {
                free(services);
                free(listeners);
                free(workers);
                return -ENOMEM;
        }
        for (size_t i = 0; i < srv->n_services; i++) {
                service_state_snapshot(srv->services[i], listeners + used, workers + used_workers, &services[i]);
                used += srv->services[i]->n_listeners;
                used_workers += service_state_workers(srv->services[i]);
        }
        r = fn(&(struct status_snapshot){ .pid = getpid(),
                                          .services = services,
                                          .n_services = srv->n_services,
                                          .running = srv->children.n,
                                          .max_children = srv->max_children },
               userdata);
        free(services);
        free(listeners);
        free(workers);
        return r;
}

static int write_status(const struct status_snapshot *snap, void *userdata)
{
        return status_write_status(userdata, snap);
}

/* Answer one superctl request (protocol in status.h). */
static int on_status_request(const char *command, FILE *out, void *userdata)
{
        struct server *srv = userdata;
        char *errors = NULL;
        int r;

        if (strcmp(command, "status") == 0)
                return with_snapshot(srv, write_status, out);
        if (strcmp(command, "upgrade") == 0) {
                /* Returns only on failure: on success the new image answers on this client's fd (upgrade.h). */
                r = upgrade_exec(srv, status_serving_fd(srv->status), &errors);
                r = upgrade_write_reply(out, NULL, 0, 0, false, errors ?: strerror(-r));
                free(errors);
                return r;
        }
        if (strcmp(command, "reload") != 0) {
                fputs("{\"error\":\"unknown command\"}\n", out);
                return 0;
        }
        r = srv->stopping ? -ESHUTDOWN : reload(srv, &errors);
        r = status_write_reload(out, srv->n_services, r < 0 ? errors ?: "" : NULL, r);
        free(errors);
        return r;
}

void server_status_socket_update(struct server *srv, const char *path)
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


static int log_counters(const struct status_snapshot *snap, void *userdata)
{
        char line[512];

        log_notice("%zu service(s), %zu handler(s) running", snap->n_services, snap->running);
        for (size_t i = 0; i < snap->n_services; i++) {
                status_format_service(line, sizeof(line), &snap->services[i]);
                log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = snap->services[i].name }, "%s", line);
        }
        return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        if (with_snapshot(userdata, log_counters, NULL) < 0)
                log_err("SIGUSR1: out of memory");
        return 0;
}

static int on_sigusr2(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        (void)upgrade_exec(userdata, -1, NULL); /* returns only on failure, logged */
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        struct server *srv = userdata;

        if (!srv->stopping)
                (void)reload(srv, NULL);
        return 0;
}

/* ---- stopping ---- */

void server_stop_done_if_idle(struct server *srv)
{
        if (srv->stopping && srv->children.n == 0)
                (void)sd_event_exit(srv->event, EXIT_CLEAN);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct server *srv = userdata;

        log_warning("%zu handler(s) still running after %llu s: sending SIGKILL", srv->children.n,
                    STOP_TIMEOUT_USEC / 1000000ULL);
        reap_signal_all(srv, SIGKILL);
        return 0;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata)
{
        struct server *srv = userdata;

        if (srv->stopping)
                return 0;
        srv->stopping = true;
        (void)sd_notify(0, "STOPPING=1");
        log_info("received SIG%s, stopping (%zu handler(s) running)", sigabbrev_np((int)ssi->ssi_signo),
                 srv->children.n);
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_close_listeners(srv->services[i]);
        srv->paused_global = NULL;
        builtin_stream_close_all();
        proxy_wait_done(srv);
        srv->status = status_socket_close(srv->status);
        reap_signal_all(srv, SIGTERM);
        if (srv->children.n > 0 &&
            sd_event_add_time_relative(srv->event, NULL, CLOCK_MONOTONIC, STOP_TIMEOUT_USEC, 0, on_stop_timeout, srv) < 0) {
                /* Without the timer a handler that ignores SIGTERM would keep superd alive for ever. */
                log_warning("cannot arm the stop timer: sending SIGKILL now");
                reap_signal_all(srv, SIGKILL);
        }
        server_stop_done_if_idle(srv);
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
static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata);
static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata);
static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata);
static int on_sigusr2(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata);

static int setup_signals(struct server *srv)
{
        static const int handled[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };
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

        r = sd_event_add_signal(srv->event, NULL, SIGCHLD, reap_on_sigchld, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGTERM, on_stop_signal, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGINT, on_stop_signal, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGHUP, on_sighup, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGUSR1, on_sigusr1, srv);
        if (r >= 0)
                r = sd_event_add_signal(srv->event, NULL, SIGUSR2, on_sigusr2, srv);
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
 * Open every listener of the configuration. A listener that cannot be opened
 * is logged and retried (listener_start()); start fails (-errno, logged)
 * only when there were listeners and not one of them could be opened.
 */
static int server_start(struct server *srv, struct config *cfg)
{
        size_t n_listeners = 0, n_open = 0;
        int r;

        r = activation_collect(&srv->activation);
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
                st = service_state_new(srv, cfg->services[i]);
                if (!st)
                        return log_error_errno(-ENOMEM, "out of memory");
                cfg->services[i] = NULL; /* now owned by st */
                srv->services[srv->n_services++] = st;
        }
        /* After an upgrade, listeners keep the inherited sockets of their identity (upgrade.h). */
        if (srv->upgrade)
                (void)upgrade_adopt_listeners(srv, srv->upgrade);
        for (size_t i = 0; i < srv->n_services; i++)
                for (size_t j = 0; j < srv->services[i]->n_listeners; j++) {
                        n_listeners++;
                        n_open += listener_start(&srv->services[i]->listeners[j]) == 0;
                }
        activation_done(&srv->activation);
        if (srv->upgrade)
                upgrade_adopt_rest(srv, srv->upgrade);
        server_collect_builtin_ports(srv, srv->services, srv->n_services);
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
        proxy_wait_done(srv);
        server_status_socket_update(srv, NULL);
        activation_done(&srv->activation);
        free(srv->builtin_ports);
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_unref(srv->services[i]);
        free(srv->services);
        /* Children left at exit (a failed start) keep their service references: drop them too. */
        for (size_t i = 0; i < srv->children.cap; i++)
                if (srv->children.slots[i].pid) {
                        sd_event_source_disable_unref(srv->children.slots[i].timeout);
                        service_state_unref(srv->children.slots[i].service);
                }
        children_free(&srv->children);
        listener_set_close(srv);
        limited_log_done(&srv->limit_log, children_limit_summary);
        if (srv->devnull >= 0)
                close(srv->devnull);
        sd_event_unref(srv->event);
}

int run(const struct run_options *o)
{
        struct server srv = { .devnull = -1, .listen_set = -1 };
        struct upgrade_state up = { .reply_fd = -1 };
        struct config *cfg = NULL;
        bool pidfile_written = false, upgrading, config_kept = false;
        int r, status, ready_fd = -1;

        log_open(o->daemon && getenv(UPGRADE_ENV));
        if (o->log_level >= 0)
                log_max_level = o->log_level;
        /* Re-executed by an upgrade: the state of the previous image (upgrade.h). */
        upgrading = !o->check && upgrade_take(&up, &srv) > 0;
        if (upgrading)
                r = upgrade_load_config(&up, o->config_file, o->services_dir, &cfg, &config_kept);
        else
                r = config_load(o->config_file, o->services_dir, stderr, &cfg);
        if (r < 0) {
                fprintf(stderr, "superd: configuration is invalid\n");
                upgrade_state_free(&up);
                activation_done(&srv.activation);
                return EXIT_CONFIG;
        }
        if (o->check) {
                config_print(cfg, stdout);
                config_free(cfg);
                return EXIT_CLEAN;
        }
        if (o->log_level < 0)
                log_max_level = cfg->log_level;
        if (o->daemon && !upgrading) {
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
        r = sd_event_new(&srv.event);
        if (r >= 0)
                r = setup_signals(&srv);
        if (r >= 0)
                r = listener_set_open(&srv);
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
        (void)fdstore_setup(o->fd_store);
        srv.upgrade = upgrading ? &up : NULL;
        r = server_start(&srv, cfg);
        srv.upgrade = NULL;
        if (r < 0) {
                status = EXIT_LISTENER;
                goto out;
        }
        server_status_socket_update(&srv, cfg->status_socket);
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
        if (upgrading)
                upgrade_done(&srv, &up, config_kept);
        server_notify_status(&srv, "READY=1");
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
        upgrade_state_free(&up);
        server_free(&srv);
        return status;
}
