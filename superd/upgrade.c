/* SPDX-License-Identifier: MIT */
/* Upgrade in place (superctl upgrade, SIGUSR2): serialize, re-execute superd in the same process, adopt. */
#include "upgrade.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "builtin.h"
#include "config-keys.h"
#include "config-print.h"
#include "config.h"
#include "fdstore.h"
#include "listener.h"
#include "log.h"
#include "proxy-wait.h"
#include "reap.h"
#include "reload-plan.h"
#include "server.h"
#include "service.h"
#include "spawn.h"
#include "workers.h"

#ifndef VERSION
#define VERSION "unknown"
#endif

extern char **environ;

/* Listeners of the new image that took each inherited socket (index as in upgrade_state.listeners), during start. */
static struct listener **taken_by;

static uint64_t now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

const char *upgrade_resolve_self(const char *argv0, char buf[static PATH_MAX])
{
        char cwd[PATH_MAX];
        const char *path;

        if (!argv0 || !*argv0)
                return NULL;
        if (argv0[0] == '/')
                return (size_t)snprintf(buf, PATH_MAX, "%s", argv0) < PATH_MAX ? buf : NULL;
        if (strchr(argv0, '/'))
                return getcwd(cwd, sizeof(cwd)) && (size_t)snprintf(buf, PATH_MAX, "%s/%s", cwd, argv0) < PATH_MAX
                           ? buf
                           : NULL;
        path = getenv("PATH");
        for (const char *p = path; p && *p;) {
                const char *end = strchrnul(p, ':');
                if (end > p && p[0] == '/' &&
                    (size_t)snprintf(buf, PATH_MAX, "%.*s/%s", (int)(end - p), p, argv0) < PATH_MAX &&
                    access(buf, X_OK) == 0)
                        return buf;
                p = *end ? end + 1 : end;
        }
        return NULL;
}

const char *upgrade_binary(const char *self)
{
        return self && access(self, X_OK) == 0 ? self : "/proc/self/exe";
}

/* ---- the old image: collect, serialize, exec ---- */

static int compare_ptr(const void *a, const void *b)
{
        uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

        return (x > y) - (x < y);
}

static int compare_name(const void *a, const void *b)
{
        return strcmp((*(struct service_state *const *)a)->conf->name, (*(struct service_state *const *)b)->conf->name);
}

/*
 * The services a reload removed that running handlers still hold (service.h),
 * one section per name: the new image rebuilds them for those handlers.
 * O((handlers + services) log) with no handler of a removed service it is
 * just the sort.
 */
static int print_retired(struct server *srv, struct upgrade_state *up)
{
        struct service_state **held = calloc(srv->children.n + 1, sizeof(*held));
        struct service_state **current = calloc(srv->n_services + 1, sizeof(*current));
        size_t n = 0, k = 0, len;
        FILE *out = held && current ? open_memstream(&up->config_retired, &len) : NULL;

        for (size_t i = 0; out && i < srv->children.cap; i++)
                if (srv->children.slots[i].pid)
                        held[n++] = srv->children.slots[i].service;
        if (out) {
                memcpy(current, srv->services, srv->n_services * sizeof(*current));
                qsort(held, n, sizeof(*held), compare_ptr);
                qsort(current, srv->n_services, sizeof(*current), compare_ptr);
        }
        /* Keep the held services that are not current, each once. */
        for (size_t i = 0, j = 0; out && i < n; i++) {
                if (i > 0 && held[i] == held[i - 1])
                        continue;
                while (j < srv->n_services && (uintptr_t)current[j] < (uintptr_t)held[i])
                        j++;
                if (j < srv->n_services && current[j] == held[i])
                        continue;
                held[k++] = held[i];
        }
        if (out)
                qsort(held, k, sizeof(*held), compare_name);
        for (size_t i = 0; out && i < k; i++) {
                if (i > 0 && strcmp(held[i]->conf->name, held[i - 1]->conf->name) == 0)
                        continue; /* two generations of one name: the handlers of both go to the first */
                fprintf(out, "service %s {\n", held[i]->conf->name);
                keys_print(out, held[i]->conf);
                fputs("}\n", out);
        }
        free(held);
        free(current);
        return out && fclose(out) == 0 ? 0 : -ENOMEM;
}

/* The configuration as it runs, printed so that config_load_files() reads it back (config_print()). */
static int print_config(struct server *srv, struct upgrade_state *up)
{
        size_t len;
        FILE *out = open_memstream(&up->config_main, &len);

        if (!out)
                return -ENOMEM;
        fprintf(out, "log-level = %s\nmax-children = %u\nstatus-socket = ", log_level_to_string(log_max_level),
                srv->max_children);
        config_print_text(out, srv->status_path ? srv->status_path : "", true);
        fputc('\n', out);
        if (fclose(out) != 0)
                return -ENOMEM;
        out = open_memstream(&up->config_services, &len);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < srv->n_services; i++) {
                fprintf(out, "service %s {\n", srv->services[i]->conf->name);
                keys_print(out, srv->services[i]->conf);
                fputs("}\n", out);
        }
        if (fclose(out) != 0)
                return -ENOMEM;
        return print_retired(srv, up);
}

/* Where collecting connections stands: the first error is kept. */
struct conn_collect {
        struct upgrade_state *up;
        size_t cap;
        int r;
};

static struct upgrade_conn *conn_add(struct conn_collect *cc, int fd, const char *service)
{
        struct upgrade_conn *c;

        if (cc->r < 0)
                return NULL;
        if (cc->up->n_conns == cc->cap) {
                size_t cap = cc->cap ? cc->cap * 2 : 16;
                struct upgrade_conn *grown = realloc(cc->up->conns, cap * sizeof(*grown));
                if (!grown) {
                        cc->r = -ENOMEM;
                        return NULL;
                }
                cc->up->conns = grown;
                cc->cap = cap;
        }
        c = &cc->up->conns[cc->up->n_conns++];
        *c = (struct upgrade_conn){.fd = fd, .listener = -1, .service = strdup(service)};
        if (!c->service)
                cc->r = -ENOMEM;
        return c;
}

static void collect_builtin(const struct builtin_stream_saved *s, void *ctx)
{
        const struct service_state *st = s->userdata;
        struct upgrade_conn *c = conn_add(ctx, s->fd, st ? st->conf->name : "-");

        if (!c)
                return;
        c->kind = UPGRADE_CONN_BUILTIN;
        c->builtin = s->type;
        c->eof = s->eof;
        c->answered = s->answered;
        c->pos = s->pos;
        c->len = s->len;
        if (s->len && !(c->held = malloc(s->len)))
                ((struct conn_collect *)ctx)->r = -ENOMEM;
        else if (s->len)
                memcpy(c->held, s->held, s->len);
}

static void collect_proxy(int fd, const struct listener *l, const struct sockaddr_in6 *peer, void *ctx)
{
        struct conn_collect *cc = ctx;
        struct upgrade_conn *c = conn_add(cc, fd, l->service->conf->name);

        if (!c)
                return;
        c->kind = UPGRADE_CONN_PROXY;
        c->peer = *peer;
        for (size_t j = 0; j < cc->up->n_listeners; j++)
                if (cc->up->listeners[j].fd == l->fd)
                        c->listener = (ssize_t)j;
        if (c->listener < 0) /* its listener was closed by a reload: it cannot be served by anyone */
                cc->up->n_conns--, free(c->service);
}

static int collect(struct server *srv, int reply_fd, struct upgrade_state *up)
{
        struct conn_collect cc = {.up = up};
        size_t n_listeners = 0, k = 0;

        *up = (struct upgrade_state){.reply_fd = reply_fd, .requested_usec = now_usec()};
        up->from = strdup("superd " VERSION);
        for (size_t i = 0; i < srv->n_services; i++)
                n_listeners += srv->services[i]->n_listeners;
        up->listeners = calloc(n_listeners + 1, sizeof(*up->listeners));
        up->handlers = calloc(srv->children.n + 1, sizeof(*up->handlers));
        up->services = calloc(srv->n_services + 1, sizeof(*up->services));
        if (!up->from || !up->listeners || !up->handlers || !up->services || print_config(srv, up) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < srv->n_services; i++) {
                struct service_state *st = srv->services[i];
                const struct service *conf = st->conf;
                struct upgrade_service *us = &up->services[up->n_services++];
                *us = (struct upgrade_service){.accepted = st->count.accepted,
                                               .failed = st->count.failed,
                                               .refused_acl = st->count.refused_acl,
                                               .refused_per_source = st->count.refused_per_source,
                                               .refused_rate = st->count.refused_rate,
                                               .refused_proxy = st->count.refused_proxy,
                                               .rate = st->rate};
                if (!(us->name = strdup(conf->name)))
                        return -ENOMEM;
                if (st->rate_paused && st->rate_timer)
                        (void)sd_event_source_get_time(st->rate_timer, &us->rate_pause_end_usec);
                for (size_t j = 0; j < st->n_listeners; j++) {
                        const struct listener *l = &st->listeners[j];
                        struct upgrade_listener *ul;
                        if (l->fd < 0)
                                continue;
                        ul = &up->listeners[up->n_listeners++];
                        *ul = (struct upgrade_listener){.fd = l->fd,
                                                        .addr = conf->listen[j],
                                                        .socket_type = conf->socket_type,
                                                        .options = conf->sockopt,
                                                        .builtin = conf->builtin != BUILTIN_NONE,
                                                        .adopted = l->adopted,
                                                        .file = l->file};
                        if (!(ul->service = strdup(conf->name)))
                                return -ENOMEM;
                }
        }
        for (size_t i = 0; i < srv->children.cap; i++) {
                const struct child *c = &srv->children.slots[i];
                struct upgrade_handler *h;
                if (!c->pid)
                        continue;
                h = &up->handlers[k++];
                *h = (struct upgrade_handler){.pid = c->pid,
                                              .remote = c->remote,
                                              .start_usec = c->start_usec,
                                              .term_sent = c->term_sent,
                                              .counted_source = c->counted_source,
                                              .wait_listener = -1,
                                              .worker_slot = c->pool ? (int)c->worker_slot : -1};
                const struct listener *held = c->pool ? c->pool->listener : c->wait_listener;
                up->n_handlers = k;
                if (!(h->service = strdup(c->service->conf->name)))
                        return -ENOMEM;
                if (c->timeout)
                        (void)sd_event_source_get_time(c->timeout, &h->deadline_usec);
                /* A wait handler's socket may have been closed by a reload meanwhile (fd < 0): nothing to hold. */
                for (size_t j = 0; held && held->fd >= 0 && j < up->n_listeners; j++)
                        if (up->listeners[j].fd == held->fd)
                                h->wait_listener = (ssize_t)j;
                if (h->wait_listener < 0)
                        h->worker_slot = -1;
        }
        /* Accepted connections superd serves or holds itself go along too: none is lost. */
        builtin_stream_each(collect_builtin, &cc);
        proxy_wait_each(srv, collect_proxy, &cc);
        return cc.r;
}

static int set_cloexec(int fd, bool on)
{
        int flags = fcntl(fd, F_GETFD);

        if (flags < 0)
                return -errno;
        return fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC) < 0 ? -errno : 0;
}

/* Our environment without UPGRADE_ENV, plus UPGRADE_ENV=fd, for execve(2). NULL on ENOMEM. */
static char **exec_env(int fd)
{
        size_t n = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(*env));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], UPGRADE_ENV "=", strlen(UPGRADE_ENV) + 1) != 0)
                        env[k++] = environ[i];
        if (asprintf(&env[k], UPGRADE_ENV "=%d", fd) < 0) {
                free(env);
                return NULL;
        }
        return env;
}

static void crossing(const struct upgrade_state *up, int memfd, bool cross)
{
        for (size_t i = 0; i < up->n_listeners; i++)
                (void)set_cloexec(up->listeners[i].fd, !cross);
        for (size_t i = 0; i < up->n_conns; i++)
                (void)set_cloexec(up->conns[i].fd, !cross);
        if (up->reply_fd >= 0)
                (void)set_cloexec(up->reply_fd, !cross);
        if (memfd >= 0)
                (void)set_cloexec(memfd, !cross);
}

int upgrade_exec(struct server *srv, int reply_fd, char **ret_error)
{
        struct upgrade_state up;
        const char *bin = upgrade_binary(srv->opts->self);
        char **env = NULL;
        int memfd = -1, r;

        if (srv->stopping) {
                r = -ESHUTDOWN;
                goto fail;
        }
        /* Checked before anything changes; execve(2) below may still refuse a file that is not a program. */
        if (access(bin, X_OK) < 0) {
                r = -errno;
                goto fail;
        }
        r = collect(srv, reply_fd, &up);
        if (r == 0)
                r = memfd = upgrade_write_memfd(&up);
        if (r >= 0 && !(env = exec_env(memfd)))
                r = -ENOMEM;
        if (r < 0) {
                upgrade_state_free(&up);
                goto fail;
        }
        log_info("upgrading: executing %s (%zu listener(s), %zu handler(s))", bin, up.n_listeners, up.n_handlers);
        (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=upgrading", (unsigned long long)now_usec());
        /* Handlers still being set up share our memory (CLONE_VM): let them reach their execve first. */
        spawn_wait_all();
        crossing(&up, memfd, true);
        execve(bin, (char *const *)srv->opts->argv, env);
        r = -errno;
        crossing(&up, memfd, false);
        close(memfd);
        for (size_t i = 0; env[i]; i++)
                if (strncmp(env[i], UPGRADE_ENV "=", strlen(UPGRADE_ENV) + 1) == 0)
                        free(env[i]);
        free(env);
        upgrade_state_free(&up);
        server_notify_status(srv, "READY=1");
fail:
        errno = -r;
        log_err("upgrade failed: cannot execute %s: %m; this superd keeps running", bin);
        if (ret_error &&
            asprintf(ret_error, "cannot execute %s: %s; the running superd is unchanged", bin, strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

/* ---- the new image ---- */

/* The blob was unusable: adopt the inherited listening sockets by address, close the other inherited sockets. */
static void salvage(struct server *srv)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;

        if (!d) {
                log_err("cannot list /proc/self/fd: the inherited sockets stay open, unused: %m");
                return;
        }
        while ((e = readdir(d))) {
                int fd = atoi(e->d_name), type, listening = 0, flags;
                socklen_t len = sizeof(type), len2 = sizeof(listening);
                struct adopted_fd *p, *grown;
                if (fd < 3 || fd == dirfd(d) || (flags = fcntl(fd, F_GETFD)) < 0 || (flags & FD_CLOEXEC))
                        continue;
                if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
                        continue; /* not a socket: not ours to judge */
                (void)getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len2);
                (void)set_cloexec(fd, true);
                if (!listening && type != SOCK_DGRAM) {
                        close(fd); /* a connection (superctl waiting for its reply) */
                        continue;
                }
                grown = realloc(srv->activation.fds, (srv->activation.n + 1) * sizeof(*grown));
                if (!grown) {
                        close(fd);
                        continue;
                }
                srv->activation.fds = grown;
                p = &grown[srv->activation.n++];
                *p = (struct adopted_fd){.fd = fd, .type = type, .len = sizeof(p->sa)};
                if (getsockname(fd, (struct sockaddr *)&p->sa, &p->len) < 0)
                        p->type = -1;
        }
        closedir(d);
}

/* Every fd the blob names is open and what it says; they are CLOEXEC again from now on. */
static int check_fds(const struct upgrade_state *up)
{
        for (size_t i = 0; i < up->n_listeners; i++) {
                int type;
                socklen_t len = sizeof(type);
                if (set_cloexec(up->listeners[i].fd, true) < 0 ||
                    getsockopt(up->listeners[i].fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
                    type != up->listeners[i].socket_type)
                        return -EBADMSG;
        }
        for (size_t i = 0; i < up->n_conns; i++)
                if (set_cloexec(up->conns[i].fd, true) < 0)
                        return -EBADMSG;
        if (up->reply_fd >= 0 && set_cloexec(up->reply_fd, true) < 0)
                return -EBADMSG;
        return 0;
}

int upgrade_take(struct upgrade_state *ret, struct server *srv)
{
        const char *v = getenv(UPGRADE_ENV);
        char *end;
        long fd;
        int r;

        *ret = (struct upgrade_state){.reply_fd = -1};
        if (!v)
                return 0;
        errno = 0;
        fd = strtol(v, &end, 10);
        (void)unsetenv(UPGRADE_ENV);
        r = errno || *end || fd < 3 || fd > UPGRADE_FD_MAX ? -EBADMSG : upgrade_read_fd((int)fd, ret);
        if (fd >= 3 && fd <= UPGRADE_FD_MAX)
                (void)close((int)fd);
        if (r == 0)
                r = check_fds(ret);
        if (r < 0) {
                upgrade_state_free(ret);
                log_error_errno(r, "upgrade: the state passed by the previous image is unusable (%m): adopting the "
                                   "inherited listening sockets by address; running handlers are reaped but not "
                                   "tracked");
                salvage(srv);
                return -EBADMSG;
        }
        return 1;
}

/* Write TEXT into a new memfd and return "/proc/self/fd/N" in buf, or NULL. *ret_fd must be closed. */
static const char *text_file(const char *text, int *ret_fd, char *buf, size_t size)
{
        size_t len = strlen(text), done = 0;
        int fd = memfd_create("superd-config", MFD_CLOEXEC);

        *ret_fd = fd;
        if (fd < 0)
                return NULL;
        while (done < len) {
                ssize_t n = write(fd, text + done, len - done);
                if (n <= 0)
                        return NULL;
                done += (size_t)n;
        }
        snprintf(buf, size, "/proc/self/fd/%d", fd);
        return buf;
}

/* Load the configuration the old image printed into the blob: its services, or (retired) those handlers held. */
static int load_serialized(const struct upgrade_state *up, bool retired, FILE *err, struct config **ret)
{
        char main_path[64], services_path[64];
        int main_fd = -1, services_fd = -1, r;
        const char *text = retired ? up->config_retired : up->config_services;
        const char *m = text_file(up->config_main ? up->config_main : "", &main_fd, main_path, sizeof(main_path));
        const char *s = text_file(text ? text : "", &services_fd, services_path, sizeof(services_path));

        r = m && s ? config_load_files(m, &s, 1, err, ret) : -errno;
        if (main_fd >= 0)
                close(main_fd);
        if (services_fd >= 0)
                close(services_fd);
        return r;
}

int upgrade_load_config(const struct upgrade_state *up, const char *main_file, const char *services_dir,
                        struct config **ret, bool *ret_kept)
{
        char *errors = NULL;
        size_t len = 0;
        FILE *err = open_memstream(&errors, &len);
        int r = err ? config_load(main_file, services_dir, err, ret) : -ENOMEM;

        if (err)
                fclose(err);
        *ret_kept = r < 0;
        if (r == 0) {
                free(errors);
                return 0;
        }
        for (const char *line = errors, *end; line && *line; line = end + 1) {
                end = strchrnul(line, '\n');
                log_err("upgrade: %.*s", (int)(end - line), line);
                if (!*end)
                        break;
        }
        free(errors);
        log_err("upgrade: configuration is invalid; continuing with the services of the previous image");
        r = load_serialized(up, false, stderr, ret);
        if (r < 0)
                log_error_errno(r, "upgrade: the configuration of the previous image cannot be loaded either: %m");
        return r;
}

int upgrade_adopt_listeners(struct server *srv, struct upgrade_state *up)
{
        struct listen_identity *old_ids = calloc(up->n_listeners + 1, sizeof(*old_ids)), *new_ids;
        struct listener **new_ls;
        ssize_t *take;
        size_t n_new = 0, k = 0;
        int r;

        for (size_t i = 0; i < srv->n_services; i++)
                n_new += srv->services[i]->n_listeners;
        new_ids = calloc(n_new + 1, sizeof(*new_ids));
        new_ls = calloc(n_new + 1, sizeof(*new_ls));
        take = calloc(n_new + 1, sizeof(*take));
        taken_by = calloc(up->n_listeners + 1, sizeof(*taken_by));
        r = old_ids && new_ids && new_ls && take && taken_by ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < up->n_listeners; i++) {
                const struct upgrade_listener *ul = &up->listeners[i];
                old_ids[i] =
                    (struct listen_identity){&ul->addr, ul->socket_type, &ul->options, ul->builtin, ul->adopted};
        }
        for (size_t i = 0; r == 0 && i < srv->n_services; i++) {
                struct service_state *st = srv->services[i];
                for (size_t j = 0; j < st->n_listeners; j++, k++) {
                        new_ids[k] =
                            (struct listen_identity){&st->conf->listen[j], st->conf->socket_type, &st->conf->sockopt,
                                                     st->conf->builtin != BUILTIN_NONE, false};
                        new_ls[k] = &st->listeners[j];
                }
        }
        if (r == 0)
                r = reload_plan_listeners(old_ids, up->n_listeners, new_ids, n_new, take);
        for (size_t i = 0; r == 0 && i < n_new; i++)
                if (take[i] >= 0) {
                        const struct upgrade_listener *ul = &up->listeners[take[i]];
                        new_ls[i]->fd = ul->fd;
                        new_ls[i]->file = ul->file;
                        new_ls[i]->adopted = ul->adopted;
                        taken_by[take[i]] = new_ls[i];
                }
        /* The sockets nobody takes close before any listener binds (same rule as a reload, DESIGN.md §2). */
        for (size_t i = 0; i < up->n_listeners; i++) {
                const struct upgrade_listener *ul = &up->listeners[i];
                char name[FDSTORE_NAME_MAX];
                if (taken_by && taken_by[i])
                        continue;
                log_info("upgrade: the new configuration has no listener for an inherited socket of service %s: "
                         "closing it",
                         ul->service);
                if (!ul->adopted)
                        socket_unlink(&ul->addr, &ul->file);
                close(ul->fd);
                fdstore_remove_name(fdstore_name(&ul->addr, ul->socket_type, name, sizeof(name)));
        }
        free(old_ids);
        free(new_ids);
        free(new_ls);
        free(take);
        if (r < 0) {
                free(taken_by);
                taken_by = NULL;
                log_error_errno(r, "upgrade: out of memory: every listener opens afresh");
        }
        return r;
}

/* The services of a dropped name, from the old image's configuration: they live while their handlers run. */
static struct service_state *retired_service(struct server *srv, const struct upgrade_state *up, const char *name,
                                             struct config *old_cfg[2], bool *tried)
{
        if (!*tried) {
                *tried = true;
                /* Two loads: a service a reload removed may share an address with a current one. */
                if (load_serialized(up, false, stderr, &old_cfg[0]) < 0 ||
                    load_serialized(up, true, stderr, &old_cfg[1]) < 0)
                        log_err("upgrade: the configuration of the previous image cannot be loaded: handlers of "
                                "removed services may be reaped but not tracked");
        }
        for (size_t c = 0; c < 2; c++)
                for (size_t i = 0; old_cfg[c] && i < old_cfg[c]->n_services; i++) {
                        struct service *conf = old_cfg[c]->services[i];
                        struct service_state *st;
                        if (!conf || strcmp(conf->name, name) != 0)
                                continue;
                        st = service_state_new(srv, conf);
                        if (st)
                                old_cfg[c]->services[i] = NULL;
                        return st;
                }
        log_warning("upgrade: no configuration for service %s of a running handler: it is reaped but not tracked",
                    name);
        return NULL;
}

static void adopt_handler(struct server *srv, const struct upgrade_handler *h, struct service_state *st)
{
        siginfo_t si = {0};
        struct child *c;

        /* Only a child of ours: a pid from the blob is never signalled unless it is one. */
        if (waitid(P_PID, (id_t)h->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || children_find(&srv->children, h->pid))
                return;
        c = children_add(&srv->children, h->pid);
        if (!c)
                return;
        c->service = st;
        c->start_usec = h->start_usec;
        c->remote = h->remote;
        c->wait_listener = h->wait_listener >= 0 && taken_by ? taken_by[h->wait_listener] : NULL;
        if (h->worker_slot >= 0) {
                /* A worker goes back to its slot; one whose socket is no pool's any more would go on accepting. */
                if (!c->wait_listener || workers_adopt(c->wait_listener, c, (unsigned)h->worker_slot) < 0)
                        (void)(kill(-c->pid, SIGTERM) < 0 && kill(c->pid, SIGTERM));
                c->wait_listener = NULL;
        }
        /* Counted by the new service's rules, as a reload moves a handler (reload.c). */
        if (st->conf->max_per_source && (c->remote.sin6_family == AF_INET || c->remote.sin6_family == AF_INET6)) {
                source_key_from((const struct sockaddr *)&c->remote, st->conf->per_source_prefix6, &c->source);
                c->counted_source = source_acquire(&st->sources, &c->source, 0) == 0;
        }
        if (h->deadline_usec) {
                pid_t pid = c->pid;
                if (reap_arm_timeout(srv, c, 1) < 0 ||
                    sd_event_source_set_time((c = children_find(&srv->children, pid))->timeout, h->deadline_usec) < 0)
                        log_ctx_msg(LOG_ERR, &(struct log_ctx){.service = st->conf->name, .pid = pid},
                                    "cannot set the timeout of handler %d: it may run for ever", (int)pid);
                c->term_sent = h->term_sent;
        }
        if (c->wait_listener)
                listener_pause(c->wait_listener, PAUSE_WAIT);
        service_handler_started(st);
}

static void builtin_done(void *userdata)
{
        if (userdata)
                service_handler_ended(userdata);
}

/* The connections of the old image: builtins go on where they stood, PROXY waits start again. */
static void adopt_conns(struct server *srv, struct upgrade_state *up, const char *const *new_names, ssize_t *match)
{
        const char **names = calloc(up->n_conns + 1, sizeof(*names));

        for (size_t i = 0; names && i < up->n_conns; i++)
                names[i] = up->conns[i].service;
        if (!names || reload_plan_names(new_names, srv->n_services, names, up->n_conns, match) < 0) {
                log_err("upgrade: out of memory: closing %zu connection(s) of builtins and PROXY waits", up->n_conns);
                free(names);
                return; /* upgrade_adopt_rest() closes them */
        }
        for (size_t i = 0; i < up->n_conns; i++) {
                struct upgrade_conn *c = &up->conns[i];
                struct service_state *st = match[i] >= 0 ? srv->services[match[i]] : NULL;
                struct listener *l = c->listener >= 0 && taken_by ? taken_by[c->listener] : NULL;
                if (c->kind == UPGRADE_CONN_PROXY) {
                        if (l && l->service->conf->proxy_protocol)
                                proxy_wait_start(l, c->fd, &c->peer);
                        else
                                close(c->fd);
                        c->fd = -1; /* in the loop's hands now, or closed */
                        continue;
                }
                /* A builtin connection is finished as it began, even if its service is gone or changed. */
                if (st && st->conf->builtin != (enum builtin)c->builtin)
                        st = NULL;
                if (builtin_stream_resume(srv->event,
                                          &(struct builtin_stream_saved){.fd = c->fd,
                                                                         .type = (enum builtin)c->builtin,
                                                                         .eof = c->eof,
                                                                         .answered = c->answered,
                                                                         .pos = (size_t)c->pos,
                                                                         .held = c->held,
                                                                         .len = c->len},
                                          builtin_done, st) == 0 &&
                    st)
                        service_handler_started(st);
                c->fd = -1; /* builtin_stream_resume() took it, or closed it */
        }
        free(names);
}

void upgrade_adopt_rest(struct server *srv, struct upgrade_state *up)
{
        const char **old_names = calloc(up->n_services + 1, sizeof(*old_names));
        const char **new_names = calloc(srv->n_services + 1, sizeof(*new_names));
        const char **handler_names = calloc(up->n_handlers + 1, sizeof(*handler_names));
        ssize_t *match = calloc(srv->n_services + up->n_handlers + up->n_conns + 1, sizeof(*match));
        struct service_state **retired = calloc(up->n_handlers + 1, sizeof(*retired));
        struct config *old_cfg[2] = {NULL, NULL};
        size_t n_retired = 0;
        bool tried = false;
        uint64_t now = server_now(srv);

        if (!old_names || !new_names || !handler_names || !match || !retired) {
                log_err("upgrade: out of memory: running handlers are reaped but not tracked");
                goto out;
        }
        for (size_t i = 0; i < up->n_services; i++)
                old_names[i] = up->services[i].name;
        for (size_t i = 0; i < srv->n_services; i++)
                new_names[i] = srv->services[i]->conf->name;
        for (size_t i = 0; i < up->n_handlers; i++)
                handler_names[i] = up->handlers[i].service;

        /* Counters, the max-rate window and a rate pause stay with the name, as across a reload. */
        if (reload_plan_names(old_names, up->n_services, new_names, srv->n_services, match) == 0)
                for (size_t i = 0; i < srv->n_services; i++) {
                        struct service_state *st = srv->services[i];
                        const struct upgrade_service *us;
                        if (match[i] < 0)
                                continue;
                        us = &up->services[match[i]];
                        st->count =
                            (struct service_counters){us->accepted,           us->failed,       us->refused_acl,
                                                      us->refused_per_source, us->refused_rate, us->refused_proxy};
                        st->rate = us->rate;
                        if (us->rate_pause_end_usec > now && st->conf->rate_pause) {
                                service_rate_pause(st);
                                if (st->rate_timer)
                                        (void)sd_event_source_set_time(st->rate_timer, us->rate_pause_end_usec);
                        }
                }

        if (children_reserve(&srv->children) < 0 ||
            reload_plan_names(new_names, srv->n_services, handler_names, up->n_handlers, match) < 0) {
                log_err("upgrade: out of memory: running handlers are reaped but not tracked");
                goto out;
        }
        for (size_t i = 0; i < up->n_handlers; i++) {
                struct service_state *st = match[i] >= 0 ? srv->services[match[i]] : NULL;
                for (size_t j = 0; !st && j < n_retired; j++)
                        if (strcmp(retired[j]->conf->name, up->handlers[i].service) == 0)
                                st = retired[j];
                if (!st && (st = retired_service(srv, up, up->handlers[i].service, old_cfg, &tried)))
                        retired[n_retired++] = st;
                if (st)
                        adopt_handler(srv, &up->handlers[i], st);
        }
        adopt_conns(srv, up, new_names, match);
out:
        for (size_t i = 0; i < up->n_conns; i++) /* not adopted (out of memory): not leaked either */
                if (up->conns[i].fd >= 0) {
                        close(up->conns[i].fd);
                        up->conns[i].fd = -1;
                }
        /* A retired service lives on through its handlers' references only. */
        for (size_t i = 0; i < n_retired; i++)
                service_state_unref(retired[i]);
        config_free(old_cfg[0]);
        config_free(old_cfg[1]);
        free(old_names);
        free(new_names);
        free(handler_names);
        free(match);
        free(retired);
        free(taken_by);
        taken_by = NULL;
        /* Handlers that exited during the exec left a pending SIGCHLD, but reap now anyway: no zombie waits. */
        (void)reap_on_sigchld(NULL, &(struct signalfd_siginfo){0}, srv);
}

int upgrade_write_reply(FILE *out, const char *version, size_t n_services, size_t n_handlers, bool config_kept,
                        const char *error)
{
        json_object *o = json_object_new_object(), *errors;
        const char *text;
        int r = 0;

        if (!o)
                return -ENOMEM;
        if (error) {
                errors = json_object_new_array();
                if (json_object_object_add(o, "ok", json_object_new_boolean(false)) < 0 || !errors ||
                    json_object_array_add(errors, json_object_new_string(error)) < 0 ||
                    json_object_object_add(o, "errors", errors) < 0)
                        r = -ENOMEM;
        } else if (json_object_object_add(o, "ok", json_object_new_boolean(true)) < 0 ||
                   json_object_object_add(o, "upgraded", json_object_new_string(version)) < 0 ||
                   json_object_object_add(o, "services", json_object_new_uint64(n_services)) < 0 ||
                   json_object_object_add(o, "handlers", json_object_new_uint64(n_handlers)) < 0 ||
                   (config_kept && json_object_object_add(o, "config", json_object_new_string("kept")) < 0))
                r = -ENOMEM;
        text =
            r == 0 ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
        if (text)
                fprintf(out, "%s\n", text);
        json_object_put(o);
        return text ? 0 : -ENOMEM;
}

void upgrade_done(struct server *srv, struct upgrade_state *up, bool config_fallback)
{
        uint64_t elapsed = now_usec() - up->requested_usec;
        char *reply = NULL;
        size_t len = 0, sent = 0;
        FILE *out;

        log_notice("upgraded: superd %s, %zu services, %zu handlers adopted (from %s, %llu.%03llu ms after the "
                   "request)%s",
                   VERSION, srv->n_services, srv->children.n, up->from ? up->from : "?",
                   (unsigned long long)(elapsed / 1000), (unsigned long long)(elapsed % 1000),
                   config_fallback ? "; the configuration on disk was refused: kept the previous services" : "");
        if (up->reply_fd >= 0 && (out = open_memstream(&reply, &len))) {
                (void)upgrade_write_reply(out, "superd " VERSION, srv->n_services, srv->children.n, config_fallback,
                                          NULL);
                if (fclose(out) == 0)
                        while (sent < len) {
                                ssize_t n = send(up->reply_fd, reply + sent, len - sent, MSG_NOSIGNAL);
                                if (n < 0 && errno == EINTR)
                                        continue;
                                if (n <= 0)
                                        break;
                                sent += (size_t)n;
                        }
                free(reply);
        }
        if (up->reply_fd >= 0)
                close(up->reply_fd);
        upgrade_state_free(up);
}
