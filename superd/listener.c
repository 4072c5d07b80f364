/* SPDX-License-Identifier: MIT */
/* The runtime listener: one listening socket of a service, watched, paused for a set of reasons, retried. */
#include "listener.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "accept.h"
#include "builtin.h"
#include "fdstore.h"
#include "log.h"
#include "ratelimit.h"
#include "server.h"
#include "service.h"
#include "workers.h"

#define BACK_OFF_MIN_USEC (10 * 1000ULL)       /* first pause after EMFILE and friends */
#define BACK_OFF_MAX_USEC (1000 * 1000ULL)
#define OPEN_RETRY_MIN_USEC (1000 * 1000ULL)   /* a listener that cannot be opened: first retry */
#define OPEN_RETRY_MAX_USEC (60 * 1000000ULL)  /* ... doubling up to this */

const char *pause_reason_name(enum pause_reason r)
{
        switch (r) {
        case PAUSE_SERVICE_LIMIT:
                return "max-instances";
        case PAUSE_GLOBAL_LIMIT:
                return "max-children";
        case PAUSE_WAIT:
                return "wait";
        case PAUSE_RATE:
                return "rate";
        case PAUSE_BACK_OFF:
                return "back-off";
        case PAUSE_WORKERS:
                return "workers";
        }
        return "?";
}

size_t listener_index(const struct listener *l)
{
        return (size_t)(l - l->service->listeners);
}

const struct listen_addr *listener_addr(const struct listener *l)
{
        return &l->service->conf->listen[listener_index(l)];
}

static const char *listen_text(const struct listener *l)
{
        return l->service->conf->listen_text[listener_index(l)];
}

static int on_listener_set(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct epoll_event ev;

        /* One listener per dispatch, like sd-event's own: its accept batch may pause others. */
        if (epoll_wait(fd, &ev, 1, 0) == 1)
                accept_on_ready(ev.data.ptr);
        return 0;
}

int listener_set_open(struct server *srv)
{
        srv->listen_set = epoll_create1(EPOLL_CLOEXEC);
        if (srv->listen_set < 0)
                return -errno;
        return sd_event_add_io(srv->event, &srv->listen_set_io, srv->listen_set, EPOLLIN, on_listener_set, srv);
}

void listener_set_close(struct server *srv)
{
        srv->listen_set_io = sd_event_source_disable_unref(srv->listen_set_io);
        if (srv->listen_set >= 0)
                close(srv->listen_set);
        srv->listen_set = -1;
}

/*
 * The one place that adds l to the listener set or takes it out: in it
 * exactly when open and no reason is left. Also after a reload moved l's
 * socket to a new struct listener (`data.ptr` changes). Returns 0 or -errno.
 */
static int update_watch(struct listener *l)
{
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
        const int set = l->service->server->listen_set;
        const bool want = l->open && !l->paused;
        int op = want ? (l->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD) : EPOLL_CTL_DEL;

        if (!want && !l->watched)
                return 0;
        if (epoll_ctl(set, op, l->fd, &ev) < 0) {
                int r = -errno;
                /* Never leave an event pointing at the struct a reload moved the socket from. */
                if (op == EPOLL_CTL_MOD && epoll_ctl(set, EPOLL_CTL_DEL, l->fd, NULL) == 0)
                        l->watched = false;
                return r;
        }
        l->watched = want;
        return 0;
}

/* Pausing or resuming: an error leaves l as it was (watched or not), logged at most once per 10 s. */
static void update_io(struct listener *l)
{
        static struct log_limit limit;
        uint64_t suppressed;
        int r = update_watch(l);

        if (r < 0 && log_limit_pass(&limit, server_now(l->service->server), 10 * 1000000ULL, &suppressed)) {
                errno = -r;
                log_ctx_msg(LOG_ERR, &(struct log_ctx){ .service = l->service->conf->name },
                            "cannot %s the listener for %s: %m (%llu more such errors before)",
                            l->watched ? "pause" : "watch", listen_text(l), (unsigned long long)suppressed);
        }
}

void listener_pause(struct listener *l, enum pause_reason why)
{
        l->paused |= why;
        update_io(l);
}

void listener_resume(struct listener *l, enum pause_reason why)
{
        if (!(l->paused & why))
                return;
        l->paused &= ~(unsigned)why;
        update_io(l);
}

static int on_back_off_end(sd_event_source *s, uint64_t usec, void *userdata)
{
        listener_resume(userdata, PAUSE_BACK_OFF);
        return 0;
}

void listener_back_off(struct listener *l, const char *why)
{
        struct server *srv = l->service->server;

        l->retry_usec = l->retry_usec ? l->retry_usec * 2 : BACK_OFF_MIN_USEC;
        if (l->retry_usec > BACK_OFF_MAX_USEC)
                l->retry_usec = BACK_OFF_MAX_USEC;
        log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = l->service->conf->name },
                    "%s; pausing the listener for %llu ms", why, (unsigned long long)(l->retry_usec / 1000));
        if (server_arm_timer(srv, &l->retry, server_now(srv) + l->retry_usec, on_back_off_end, l) < 0)
                return; /* better to spin than to go deaf */
        listener_pause(l, PAUSE_BACK_OFF);
}

void listener_back_off_reset(struct listener *l)
{
        l->retry_usec = 0;
}

/* Open (or adopt) l and watch it. Returns 0, or -errno with nothing left open; not logged. */
static int open_one(struct listener *l)
{
        struct service_state *st = l->service;
        const struct service *conf = st->conf;
        const struct listen_addr *a = listener_addr(l);
        int r = 0;

        if (l->fd < 0) { /* else kept across an upgrade: fd, file and adopted come from upgrade.c */
                l->fd = activation_take(&st->server->activation, conf->socket_type, a);
                l->adopted = l->fd >= 0;
                l->file = (struct socket_file){ 0 };
                if (l->adopted)
                        log_info("service %s: adopted the passed socket for %s", conf->name, listen_text(l));
                else
                        l->fd = socket_listen(a, conf->socket_type, &conf->sockopt, &l->file);
        }
        if (l->fd < 0)
                return l->fd;
        if (conf->builtin)
                r = builtin_listener_prepare(l->fd);
        if (r == 0) {
                l->open = true;
                r = update_watch(l);
        }
        if (r == 0 && workers_configured(conf))
                r = workers_open(l);
        if (r < 0) {
                l->open = false;
                (void)update_watch(l);
                if (!l->adopted)
                        socket_unlink(a, &l->file);
                close(l->fd);
                l->fd = -1;
                return r;
        }
        /* A dual-stack "*:P" that fell back to 0.0.0.0 (no IPv6) is a wildcard too. */
        l->wildcard = a->family == AF_INET6 ? IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr)
                                            : a->family == AF_INET && a->in.sin_addr.s_addr == htonl(INADDR_ANY);
        if (st->rate_paused)
                listener_pause(l, PAUSE_RATE);
        fdstore_add(l);
        log_debug("service %s: listening on %s", conf->name, listen_text(l));
        return 0;
}

static int on_open_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct listener *l = userdata;

        if (listener_start(l) == 0)
                server_notify_status(l->service->server, NULL);
        return 0;
}

int listener_start(struct listener *l)
{
        struct server *srv = l->service->server;
        const struct service *conf = l->service->conf;
        int r = open_one(l);

        if (r == 0) {
                if (l->open_error)
                        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = conf->name }, "listening on %s now",
                                    listen_text(l));
                l->open_error = 0;
                l->retry = sd_event_source_disable_unref(l->retry); /* may be the timer running this: freed after it */
                l->retry_usec = 0;
                return 0;
        }
        l->retry_usec = l->open_error ? l->retry_usec * 2 : OPEN_RETRY_MIN_USEC;
        if (l->retry_usec > OPEN_RETRY_MAX_USEC)
                l->retry_usec = OPEN_RETRY_MAX_USEC;
        /* The first failure at error, each retry that fails again only at debug: one line per listener. */
        errno = -r;
        log_ctx_msg(l->open_error ? LOG_DEBUG : LOG_ERR, &(struct log_ctx){ .service = conf->name },
                    "cannot listen on %s (%s:%u): %m%s; retrying in %llu s", listen_text(l), conf->file, conf->line,
                    r == -EEXIST ? " (a file that is not a socket is in the way)" : "",
                    (unsigned long long)(l->retry_usec / 1000000ULL));
        l->open_error = r;
        if (server_arm_timer(srv, &l->retry, server_now(srv) + l->retry_usec, on_open_retry, l) < 0)
                log_ctx_msg(LOG_ERR, &(struct log_ctx){ .service = conf->name },
                            "cannot arm the retry timer: %s stays closed until the next reload", listen_text(l));
        return r;
}

void listener_close(struct listener *l)
{
        workers_close(l);
        l->open = false;
        (void)update_watch(l); /* before close: a child holding the socket would keep it in the set */
        l->retry = sd_event_source_disable_unref(l->retry);
        if (l->fd >= 0) {
                fdstore_remove(l);
                /* At stop the fd store keeps the socket for the next start: its file must stay too. */
                if (!l->adopted && !(fdstore_enabled() && l->service->server->stopping))
                        socket_unlink(&l->service->conf->listen[listener_index(l)], &l->file);
                close(l->fd);
        }
        l->fd = -1;
}

void listener_take_over(struct listener *l, struct listener *prev)
{
        l->fd = prev->fd;
        l->open = prev->open;
        l->watched = prev->watched;
        l->file = prev->file;
        l->wildcard = prev->wildcard;
        l->adopted = prev->adopted;
        prev->fd = -1;
        prev->open = prev->watched = false;
        prev->moved_to = l;
        /* Only a wait handler carries over: it still holds the socket. Limits are the new service's. */
        l->paused = prev->paused & PAUSE_WAIT;
        update_io(l);
        (void)workers_take_over(l, prev); /* logged */
}
