/* SPDX-License-Identifier: MIT */
/* Accepted connections of proxy-protocol services: read their PROXY header without blocking, in a bounded set. */
#include "proxy-wait.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accept.h"
#include "acl.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"
#include "server.h"
#include "service.h"

/*
 * A connection waiting for the rest of its header. The slots are allocated
 * once, at the first wait; a slot's io and time sources are created at its
 * first use and then reused (sd_event_source_set_io_fd()), so waiting
 * allocates nothing per connection.
 */
struct proxy_slot {
        struct server *server;
        int fd;                    /* -1: free */
        struct listener *listener; /* its service holds a reference while the connection waits */
        struct sockaddr_in6 peer;  /* the balancer: the connection's real peer */
        sd_event_source *io;       /* EPOLLIN | EPOLLET: new bytes arrived (peeked ones stay queued) */
        sd_event_source *timer;    /* proxy-timeout */
};

enum read_result {
        HEADER_COMPLETE,
        HEADER_INCOMPLETE,
        HEADER_BAD,     /* malformed, too long, or the peer closed or failed first */
};

/* Peek at what arrived; when a whole header is there, consume exactly its bytes. */
static enum read_result read_header(int fd, unsigned versions, struct proxy_header *ret, const char **ret_why)
{
        char buf[PROXY_HEADER_MAX];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        int r;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return HEADER_INCOMPLETE;
        if (n <= 0) {
                *ret_why = n == 0 ? "closed before its PROXY header" : "failed before its PROXY header";
                return HEADER_BAD;
        }
        r = proxy_parse(buf, (size_t)n, versions, ret);
        if (r == 0 && (size_t)n < sizeof(buf))
                return HEADER_INCOMPLETE;
        if (r <= 0) {
                *ret_why = r == -EMSGSIZE || r == 0 ? "PROXY header too long" : "malformed PROXY header";
                return HEADER_BAD;
        }
        /* The bytes were peeked and are queued: this reads exactly them, and nothing of the stream after. */
        if (recv(fd, buf, (size_t)r, MSG_DONTWAIT) != r) {
                *ret_why = "PROXY header unreadable";
                return HEADER_BAD;
        }
        return HEADER_COMPLETE;
}

static void refuse(struct listener *l, int fd, const struct sockaddr_in6 *peer, const char *why)
{
        l->service->count.refused_proxy++;
        service_log_refusal(l->service, peer, why);
        close(fd);
}

/* The header is complete: serve the connection as coming from the client it names. */
static void finish(struct listener *l, int fd, const struct sockaddr_in6 *peer, const struct proxy_header *h)
{
        const struct service *conf = l->service->conf;
        struct sockaddr_in6 client = *peer, local;
        char peer_text[ADDR_STRLEN] = "unix";
        struct handler_env_proxy env = { peer_text, h->authority, h->unique_id };
        int r;

        if (h->command == PROXY_CMD_LOCAL && conf->proxy_health_close) {
                log_ctx_msg(LOG_DEBUG, &(struct log_ctx){ .service = conf->name }, "PROXY LOCAL (health check): closed");
                close(fd);
                return;
        }
        if (peer->sin6_family != AF_UNIX)
                (void)addr_ip_port((const struct sockaddr *)peer, peer_text, sizeof(peer_text), NULL, 0);
        if (h->command == PROXY_CMD_PROXY) {
                /* sockaddr_storage holds AF_INET or AF_INET6 here: both fit a sockaddr_in6. */
                memcpy(&client, &h->source, sizeof(client));
                memcpy(&local, &h->destination, sizeof(local));
                r = accept_serve(l, fd, &client, &local, &env);
        } else {
                /* LOCAL, UNKNOWN, a family superd does not use: the balancer's own addresses. */
                r = accept_serve(l, fd, &client, NULL, peer->sin6_family == AF_UNIX ? NULL : &env);
        }
        if ((r == -EAGAIN || r == -ENOMEM) && l->fd >= 0)
                listener_back_off(l, strerror(-r));
}

static void slot_release(struct proxy_slot *s)
{
        struct service_state *st = s->listener->service;

        (void)sd_event_source_set_enabled(s->io, SD_EVENT_OFF);
        (void)sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        s->fd = -1;
        s->listener = NULL;
        st->proxy_waiting--;
        s->server->proxy_waiting--;
        service_state_unref(st);
}

static int on_readable(sd_event_source *e, int fd, uint32_t revents, void *userdata)
{
        struct proxy_slot *s = userdata;
        struct listener *l = s->listener;
        struct sockaddr_in6 peer = s->peer;
        struct proxy_header h;
        const char *why = NULL;
        enum read_result r = read_header(fd, l->service->conf->proxy_protocol, &h, &why);

        if (r == HEADER_INCOMPLETE)
                return 0;
        /* Keep the service alive across the release: finish() may start a handler of it. */
        service_state_ref(l->service);
        slot_release(s);
        if (r == HEADER_COMPLETE)
                finish(l, fd, &peer, &h);
        else
                refuse(l, fd, &peer, why);
        service_state_unref(l->service);
        return 0;
}

static int on_timeout(sd_event_source *e, uint64_t usec, void *userdata)
{
        struct proxy_slot *s = userdata;
        struct listener *l = s->listener;
        struct sockaddr_in6 peer = s->peer;
        int fd = s->fd;

        service_state_ref(l->service);
        slot_release(s);
        refuse(l, fd, &peer, "no PROXY header within proxy-timeout");
        service_state_unref(l->service);
        return 0;
}

/* service_state.proxy_waiting is a uint8_t. */
_Static_assert(PROXY_WAIT_PER_SERVICE <= UINT8_MAX, "PROXY_WAIT_PER_SERVICE does not fit service_state.proxy_waiting");

/* A free slot for l's service, or NULL when a bound is reached (or no memory). */
static struct proxy_slot *slot_get(struct server *srv, struct service_state *st)
{
        if (st->proxy_waiting >= PROXY_WAIT_PER_SERVICE || srv->proxy_waiting >= PROXY_WAIT_MAX)
                return NULL;
        if (!srv->proxy_slots) {
                srv->proxy_slots = calloc(PROXY_WAIT_MAX, sizeof(*srv->proxy_slots));
                if (!srv->proxy_slots)
                        return NULL;
                for (size_t i = 0; i < PROXY_WAIT_MAX; i++)
                        srv->proxy_slots[i] = (struct proxy_slot){ .server = srv, .fd = -1 };
        }
        for (size_t i = 0; i < PROXY_WAIT_MAX; i++)
                if (srv->proxy_slots[i].fd < 0)
                        return &srv->proxy_slots[i];
        return NULL;
}

/* Watch fd in slot s until its header is complete or the deadline passes. Returns 0 or -errno. */
static int slot_wait(struct proxy_slot *s, struct listener *l, int fd, const struct sockaddr_in6 *peer)
{
        struct server *srv = l->service->server;
        uint64_t deadline = server_now(srv) + l->service->conf->proxy_timeout * 1000000ULL;
        int r;

        if (!s->io)
                r = sd_event_add_io(srv->event, &s->io, fd, EPOLLIN | EPOLLET, on_readable, s);
        else if ((r = sd_event_source_set_io_fd(s->io, fd)) >= 0)
                r = sd_event_source_set_enabled(s->io, SD_EVENT_ON);
        if (r >= 0)
                r = server_arm_timer(srv, &s->timer, deadline, on_timeout, s);
        if (r < 0) {
                (void)sd_event_source_set_enabled(s->io, SD_EVENT_OFF);
                return r;
        }
        s->fd = fd;
        s->listener = l;
        s->peer = *peer;
        service_state_ref(l->service);
        l->service->proxy_waiting++;
        srv->proxy_waiting++;
        return 0;
}

void proxy_wait_start(struct listener *l, int fd, const struct sockaddr_in6 *peer)
{
        const struct service *conf = l->service->conf;
        struct proxy_header h;
        struct proxy_slot *s;
        const char *why = NULL;

        /* Only the balancers may speak for a client (a unix socket's file mode says who may connect). */
        if (peer->sin6_family != AF_UNIX &&
            !acl_permits(conf->proxy_from, conf->n_proxy_from, NULL, 0, (const struct sockaddr *)peer)) {
                refuse(l, fd, peer, "not a proxy-from balancer");
                return;
        }
        switch (read_header(fd, conf->proxy_protocol, &h, &why)) {
        case HEADER_COMPLETE: /* the usual case: the header came with the connection */
                finish(l, fd, peer, &h);
                return;
        case HEADER_BAD:
                refuse(l, fd, peer, why);
                return;
        case HEADER_INCOMPLETE:
                break;
        }
        s = slot_get(l->service->server, l->service);
        if (!s || slot_wait(s, l, fd, peer) < 0)
                refuse(l, fd, peer, "too many connections waiting for their PROXY header");
}

void proxy_wait_each(struct server *srv,
                     void (*fn)(int fd, const struct listener *l, const struct sockaddr_in6 *peer, void *ctx), void *ctx)
{
        for (size_t i = 0; srv->proxy_slots && i < PROXY_WAIT_MAX; i++)
                if (srv->proxy_slots[i].fd >= 0)
                        fn(srv->proxy_slots[i].fd, srv->proxy_slots[i].listener, &srv->proxy_slots[i].peer, ctx);
}

void proxy_wait_done(struct server *srv)
{
        for (size_t i = 0; srv->proxy_slots && i < PROXY_WAIT_MAX; i++) {
                struct proxy_slot *s = &srv->proxy_slots[i];
                if (s->fd >= 0) {
                        int fd = s->fd;
                        slot_release(s);
                        close(fd);
                }
                s->io = sd_event_source_disable_unref(s->io);
                s->timer = sd_event_source_disable_unref(s->timer);
        }
        free(srv->proxy_slots);
        srv->proxy_slots = NULL;
}
