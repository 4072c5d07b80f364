/* SPDX-License-Identifier: MIT */
/* The accept path: a listener is readable; admit, then start a handler, a builtin, or a wait = yes handler. */
#include "accept.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admission.h"
#include "builtin.h"
#include "listener.h"
#include "proxy-wait.h"
#include "log.h"
#include "reap.h"
#include "server.h"
#include "service.h"
#include "spawn.h"
#include "workers.h"

#define ACCEPT_BATCH 32 /* connections accepted per wakeup, so one port cannot starve others */

/*
 * The accept line: at info with log-connections (xinetd's log_on_success),
 * else at debug. `pid` is 0 for a connection a builtin serves.
 */
static void log_accept(const struct service_state *st, const struct sockaddr_in6 *remote, pid_t pid)
{
        int level = st->conf->log_connections ? LOG_INFO : LOG_DEBUG;
        char addr[ADDR_STRLEN];

        if (!log_enabled(level))
                return;
        addr_format_peer(remote, addr, sizeof(addr));
        if (pid)
                log_ctx_msg(level, &(struct log_ctx){ .service = st->conf->name, .pid = pid, .remote = addr },
                            "accept %s pid %d", addr, (int)pid);
        else
                log_ctx_msg(level, &(struct log_ctx){ .service = st->conf->name, .remote = addr },
                            "accept %s builtin %s", addr, builtin_name(st->conf->builtin));
}

/*
 * Start a handler of l's service on `fd` (a connection, or the listening
 * socket itself in wait mode: then listen_pid is the LISTEN_PID slot) with
 * the per-connection environment already in srv->conn_env, and record it.
 * `source` (NULL when not counted) was acquired in the service's per-source
 * table: the record releases it at exit, or this does at once on failure.
 * Returns the pid, or -errno when no process was created: logged, except
 * -EAGAIN and -ENOMEM, which the caller answers by backing off. A handler
 * whose execve fails shows when it is reaped (reap.c).
 */
static int start_handler(struct listener *l, int fd, const struct sockaddr_in6 *remote, char *listen_pid,
                         const struct source_key *source)
{
        struct service_state *st = l->service;
        struct server *srv = st->server;
        const struct service *conf = st->conf;
        struct child *c;
        pid_t pid;
        int r;

        struct spawn_plan plan = {
                .argv = conf->argv,
                .envp = srv->conn_env.envp,
                .env_text = srv->conn_env.text,
                .env_text_size = sizeof(srv->conn_env.text),
                .conn_fd = fd,
                .stderr_fd = conf->stderr_mode == STDERR_SOCKET ? fd
                             : conf->stderr_mode == STDERR_NULL ? srv->devnull
                                                                : st->stderr_fd,
                .set_creds = st->set_creds,
                .uid = conf->uid,
                .gid = conf->gid,
                .groups = conf->groups,
                .n_groups = conf->n_groups,
                .listen_pid = listen_pid,
                .process = &conf->process,
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
                        log_error_errno(r, "service %s: cannot start a handler: %m", conf->name);
                return r;
        }
        c = children_add(&srv->children, pid);
        c->service = st;
        c->start_usec = server_now(srv);
        c->remote = *remote;
        c->wait_listener = listen_pid ? l : NULL;
        c->counted_source = source != NULL;
        if (source)
                c->source = *source;
        if (conf->timeout && reap_arm_timeout(srv, c, conf->timeout) < 0)
                log_ctx_msg(LOG_ERR, &(struct log_ctx){ .service = conf->name, .pid = pid },
                            "cannot set the timeout of handler %d: it may run for ever", (int)pid);
        service_handler_started(st);
        log_accept(st, remote, pid);
        return pid;
}

/* Count a refusal by reason and log it (rate-limited); max-rate also pauses the service. */
static void refuse(struct service_state *st, enum admission verdict, const struct sockaddr_in6 *remote)
{
        switch (verdict) {
        case REFUSE_ACL:
                st->count.refused_acl++;
                service_log_refusal(st, remote, "not allowed (allow/deny)");
                break;
        case REFUSE_RATE:
                st->count.refused_rate++;
                service_log_refusal(st, remote, "max-rate exceeded");
                service_rate_pause(st);
                break;
        case REFUSE_PER_SOURCE:
                st->count.refused_per_source++;
                service_log_refusal(st, remote, "max-per-source reached");
                break;
        case ADMIT:
                break;
        }
}

/* A builtin stream connection ended. */
static void builtin_done(void *userdata)
{
        service_handler_ended(userdata);
}

int accept_serve(struct listener *l, int fd, struct sockaddr_in6 *client, const struct sockaddr_in6 *local,
                 const struct handler_env_proxy *proxy)
{
        struct service_state *st = l->service;
        struct server *srv = st->server;
        const struct sockaddr *peer = client->sin6_family == AF_UNIX ? NULL : (const struct sockaddr *)client;
        struct sockaddr_in6 local_buf;
        struct source_key key;
        enum admission verdict;
        bool counted;
        int r;

        verdict = admission_check(st->conf, &st->rate, &st->sources, peer, server_now(srv), &key, &counted);
        if (verdict != ADMIT) {
                refuse(st, verdict, client);
                close(fd);
                return 0;
        }
        if (st->conf->builtin) {
                /* superd -t refuses max-per-source on builtins: nothing was counted. */
                st->count.accepted++;
                if (builtin_stream_start(srv->event, st->conf->builtin, fd, builtin_done, st) < 0) {
                        st->count.failed++; /* fd closed by builtin_stream_start() */
                        return 0;
                }
                service_handler_started(st);
                log_accept(st, client, 0);
                return 0;
        }
        if (!peer) {
                struct ucred cred;
                socklen_t len = sizeof(cred);
                bool known = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
                handler_env_unix(&st->env, &srv->conn_env, known ? &cred : NULL);
        } else {
                if (!local) {
                        local = (const struct sockaddr_in6 *)&listener_addr(l)->in6; /* AF_INET or AF_INET6 */
                        if (l->wildcard) {
                                socklen_t len = sizeof(local_buf);
                                if (getsockname(fd, (struct sockaddr *)&local_buf, &len) == 0)
                                        local = &local_buf;
                        }
                }
                handler_env_connect_proxy(&st->env, &srv->conn_env, peer, (const struct sockaddr *)local, proxy);
        }
        r = start_handler(l, fd, client, NULL, counted ? &key : NULL);
        close(fd);
        return r < 0 ? r : 0;
}

/*
 * wait = no: serve the accepted connection fd (owned from now on), after
 * its PROXY header when the service expects one. Returns what
 * accept_serve() returns (0 while the header is awaited).
 */
static int handle_connection(struct listener *l, int fd, struct sockaddr_in6 *remote)
{
        if (listener_addr(l)->family == AF_UNIX)
                *remote = (struct sockaddr_in6){ .sin6_family = AF_UNIX };
        if (l->service->conf->proxy_protocol) {
                proxy_wait_start(l, fd, remote);
                return 0;
        }
        return accept_serve(l, fd, remote, NULL, NULL);
}

/* PROTO for a handler that gets the listening socket itself (wait = yes, a worker). */
static const char *listen_proto(const struct listener *l)
{
        return listener_addr(l)->family == AF_UNIX                  ? "UNIX"
               : l->service->conf->socket_type == SOCK_DGRAM ? "UDP"
                                                               : "TCP";
}

/*
 * wait = yes on a datagram socket with allow, deny or max-per-source: the
 * source of the first queued datagram decides, as xinetd does for its udp
 * services (it peeks too). A refused datagram is read and dropped, nothing
 * starts; up to ACCEPT_BATCH of them per wakeup. Returns ADMIT with *peer
 * set (and, when counted, the source acquired in *key), REFUSE_RATE with
 * the datagram left queued, or -1 when no admitted datagram is queued.
 */
static int admit_datagram(struct listener *l, struct sockaddr_in6 *peer, struct source_key *key, bool *counted)
{
        struct service_state *st = l->service;

        for (int i = 0; i < ACCEPT_BATCH; i++) {
                socklen_t len = sizeof(*peer);
                enum admission verdict;

                /* A zero-length peek reads the sender and leaves the datagram queued. */
                if (recvfrom(l->fd, NULL, 0, MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)peer, &len) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1; /* EAGAIN: nothing queued; else the handler would fail on it too */
                }
                verdict = admission_check(st->conf, &st->rate, &st->sources, (const struct sockaddr *)peer,
                                          server_now(st->server), key, counted);
                if (verdict == ADMIT || verdict == REFUSE_RATE)
                        return verdict;
                (void)recv(l->fd, NULL, 0, MSG_DONTWAIT); /* a zero-length read drops the whole datagram */
                refuse(st, verdict, peer);
        }
        return -1;
}

/*
 * wait = yes: hand the listening socket itself to one handler (inetd wait,
 * systemd Accept=no) and stop watching it until that handler exits. The
 * handler gets it blocking, as a daemon started by systemd would. max-rate
 * counts the starts: a handler that leaves its datagram is not restarted
 * at once for ever (xinetd's cps, systemd's TriggerLimitBurst=).
 */
static void handle_wait(struct listener *l)
{
        struct service_state *st = l->service;
        const struct service *conf = st->conf;
        struct sockaddr_in6 peer = { .sin6_family = listener_addr(l)->family == AF_UNIX ? AF_UNIX : AF_UNSPEC };
        struct source_key key;
        bool counted = false;
        char *listen_pid;
        int flags, r;

        if (conf->socket_type == SOCK_DGRAM && (conf->n_allow || conf->n_deny || conf->max_per_source)) {
                r = admit_datagram(l, &peer, &key, &counted);
                if (r < 0)
                        return;
                if (r == REFUSE_RATE) {
                        service_rate_pause(st);
                        return;
                }
        } else if (rate_limit_exceeded(&st->rate, server_now(st->server), conf->max_rate)) {
                service_rate_pause(st);
                return;
        }
        flags = fcntl(l->fd, F_GETFL);
        listener_pause(l, PAUSE_WAIT);
        (void)fcntl(l->fd, F_SETFL, flags & ~O_NONBLOCK);
        listen_pid = handler_env_listen(&st->env, &st->server->conn_env, listen_proto(l));
        r = start_handler(l, l->fd, &peer, listen_pid, counted ? &key : NULL);
        if (r < 0) {
                /* The socket stays readable: retry later rather than at once. */
                (void)fcntl(l->fd, F_SETFL, flags | O_NONBLOCK);
                listener_resume(l, PAUSE_WAIT);
                listener_back_off(l, strerror(-r));
        }
}

int accept_start_worker(struct listener *l, unsigned index)
{
        struct service_state *st = l->service;
        struct sockaddr_in6 none = { .sin6_family = listener_addr(l)->family == AF_UNIX ? AF_UNIX : AF_UNSPEC };
        char *listen_pid = handler_env_listen_worker(&st->env, &st->server->conn_env, listen_proto(l), (int)index);

        return start_handler(l, l->fd, &none, listen_pid, NULL);
}

/* max-instances reached: pause l until a handler of its service exits; logged once per episode, rate-limited. */
static void pause_at_service_limit(struct listener *l)
{
        struct service_state *st = l->service;
        uint64_t n;

        if (!st->limit_reached) {
                st->limit_reached = true;
                if (service_limit_log_pass(st, &n))
                        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->conf->name },
                                    "max-instances (%u) reached: not accepting until a handler exits (%llu more "
                                    "time(s) in the last %llu s)",
                                    st->conf->max_instances, (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
        }
        listener_pause(l, PAUSE_SERVICE_LIMIT);
}

void accept_on_ready(struct listener *l)
{
        struct service_state *st = l->service;
        struct server *srv = st->server;
        const struct service *conf = st->conf;
        const int fd = l->fd;

        if (l->workers) { /* workers = N: a pool serves this socket (workers.h) */
                workers_on_ready(l);
                return;
        }
        if (conf->builtin && conf->socket_type == SOCK_DGRAM) {
                builtin_dgram_serve(conf->builtin, fd, srv->builtin_ports, srv->n_builtin_ports);
                return;
        }
        for (int i = 0; i < ACCEPT_BATCH && !l->paused; i++) {
                struct sockaddr_in6 remote;
                socklen_t len = sizeof(remote);
                int c, r;

                if (service_at_limit(st)) {
                        pause_at_service_limit(l);
                        return;
                }
                if (!conf->builtin && server_at_global_limit(srv)) {
                        server_pause_global(srv, l);
                        return;
                }
                if (conf->wait) {
                        handle_wait(l);
                        return;
                }
                /* Blocking socket for a handler (inetd semantics); builtins need it non-blocking. */
                c = accept4(fd, (struct sockaddr *)&remote, &len, SOCK_CLOEXEC | (conf->builtin ? SOCK_NONBLOCK : 0));
                if (c < 0) {
                        switch (errno) {
                        case EAGAIN:
                                listener_back_off_reset(l);
                                return;
                        case EINTR:
                        case ECONNABORTED:
                        case EPROTO:
                        case EPERM: /* firewall verdicts */
                                continue;
                        default:
                                /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse: never spin on it. */
                                listener_back_off(l, strerror(errno));
                                return;
                        }
                }
                r = handle_connection(l, c, &remote);
                if (r == -EAGAIN || r == -ENOMEM) {
                        /* No process could be created: stop accepting for a while. */
                        listener_back_off(l, strerror(-r));
                        return;
                }
        }
}
