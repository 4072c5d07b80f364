/* SPDX-License-Identifier: MIT */
/* The inetd internal services (echo, discard, chargen, daytime, time), served in the event loop without fork. */
#include "builtin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

#define STREAM_BUDGET     (64 * 1024) /* bytes moved per wakeup and direction: one client cannot hog the loop */
#define ECHO_BUFFER       BUILTIN_ECHO_HELD_MAX /* what an echo connection holds for a client that does not read */
#define DGRAM_BATCH       32          /* datagrams per wakeup */
#define DGRAM_BUFFER      65536       /* the largest UDP payload fits */
#define CHARGEN_DGRAM_MAX 512         /* RFC 864: a datagram of 0 to 512 characters */
#define SEND_FLAGS        (MSG_DONTWAIT | MSG_NOSIGNAL)

/* ---- stream connections ---- */

struct conn {
        struct conn *prev, *next; /* in `conns` */
        sd_event_source *io;
        int fd;
        enum builtin type;
        uint32_t events; /* what io waits for now */
        bool eof;        /* echo: the peer sent EOF */
        bool answered;   /* daytime, time: answer sent, draining */
        size_t pos;      /* chargen: position in the stream; echo: start of the held bytes */
        size_t len;      /* echo: bytes held */
        void (*done)(void *userdata);
        void *userdata;
        char buf[]; /* echo: ECHO_BUFFER bytes; nothing for the others */
};

static struct conn *conns;
static size_t n_conns;
static char scratch[16 * 1024]; /* input that is dropped lands here: superd is single-threaded */

size_t builtin_stream_count(void)
{
        return n_conns;
}

/* Unlink, close and free c, then tell its owner. */
static void conn_end(struct conn *c)
{
        void (*done)(void *) = c->done;
        void *userdata = c->userdata;

        if (c->prev)
                c->prev->next = c->next;
        else
                conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        n_conns--;
        /* Safe from within c's own callback: sd-event defers freeing a dispatching source. */
        sd_event_source_disable_unref(c->io);
        close(c->fd);
        free(c);
        if (done)
                done(userdata);
}

void builtin_stream_close_all(void)
{
        while (conns)
                conn_end(conns);
}

static int conn_set_events(struct conn *c, uint32_t events)
{
        int r;

        if (events == c->events)
                return 1;
        r = sd_event_source_set_io_events(c->io, events);
        if (r < 0)
                return r;
        c->events = events;
        return 1;
}

/*
 * Each step below returns 1 to keep the connection, 0 when it is over, or
 * -errno when it failed; it never blocks and moves at most STREAM_BUDGET
 * bytes per direction, leaving the rest to the next wakeup (the io source
 * is level-triggered, so nothing is lost).
 */

/* Read and drop input. */
static int drain(struct conn *c)
{
        for (size_t total = 0; total < STREAM_BUDGET;) {
                ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
                if (n > 0)
                        total += (size_t)n;
                else if (n == 0)
                        return 0;
                else if (errno == EAGAIN || errno == EINTR)
                        return 1;
                else
                        return -errno;
        }
        return 1;
}

static int echo_step(struct conn *c)
{
        size_t moved = 0;

        while (moved < STREAM_BUDGET) {
                bool progress = false;
                ssize_t n;

                if (c->len > 0) {
                        n = send(c->fd, c->buf + c->pos, c->len, SEND_FLAGS);
                        if (n > 0) {
                                c->pos += (size_t)n;
                                c->len -= (size_t)n;
                                moved += (size_t)n;
                                progress = true;
                        } else if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                }
                if (c->len == 0)
                        c->pos = 0;
                if (!c->eof && c->len < ECHO_BUFFER) {
                        if (c->pos > 0) {
                                memmove(c->buf, c->buf + c->pos, c->len);
                                c->pos = 0;
                        }
                        n = recv(c->fd, c->buf + c->len, ECHO_BUFFER - c->len, MSG_DONTWAIT);
                        if (n > 0) {
                                c->len += (size_t)n;
                                moved += (size_t)n;
                                progress = true;
                        } else if (n == 0)
                                c->eof = true;
                        else if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                }
                if (c->eof && c->len == 0)
                        return 0;
                if (!progress)
                        break;
        }
        /* Back-pressure: a full buffer (or EOF) stops reading; held bytes wait for the socket to drain. */
        return conn_set_events(c, (c->eof || c->len == ECHO_BUFFER ? 0 : EPOLLIN) | (c->len > 0 ? EPOLLOUT : 0));
}

static int chargen_step(struct conn *c, uint32_t revents)
{
        const char *stream = builtin_chargen_stream();
        int r;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                r = drain(c);
                if (r <= 0)
                        return r;
        }
        if (!(revents & EPOLLOUT))
                return 1;
        for (size_t total = 0; total < STREAM_BUDGET;) {
                ssize_t n = send(c->fd, stream + c->pos, BUILTIN_CHARGEN_PERIOD, SEND_FLAGS);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 1 : -errno;
                c->pos = (c->pos + (size_t)n) % BUILTIN_CHARGEN_PERIOD;
                total += (size_t)n;
        }
        return 1;
}

/* daytime and time: answer once, half-close, then drop input until the client closes. */
static int answer_step(struct conn *c)
{
        char text[BUILTIN_DAYTIME_SIZE];
        uint32_t be;
        const void *answer;
        size_t len;
        ssize_t n;

        if (c->answered)
                return drain(c);
        if (c->type == BUILTIN_TIME) {
                be = htonl(builtin_time_value(time(NULL)));
                answer = &be;
                len = sizeof(be);
        } else {
                len = builtin_daytime_format(time(NULL), text, sizeof(text));
                answer = text;
        }
        n = send(c->fd, answer, len, SEND_FLAGS);
        if (n < 0)
                return -errno;
        if ((size_t)n != len)
                return 0; /* 26 bytes did not fit into an empty socket buffer: not worth a state of its own */
        /*
         * Closing now would reset the connection if the client sent anything
         * (unread input), and a reset may destroy the answer before the client
         * reads it. So: FIN now, close when the client closes.
         */
        shutdown(c->fd, SHUT_WR);
        c->answered = true;
        n = conn_set_events(c, EPOLLIN);
        return n < 0 ? (int)n : drain(c);
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct conn *c = userdata;
        int r;

        switch (c->type) {
        case BUILTIN_ECHO:
                r = echo_step(c);
                break;
        case BUILTIN_DISCARD:
                r = drain(c);
                break;
        case BUILTIN_CHARGEN:
                r = chargen_step(c, revents);
                break;
        default:
                r = answer_step(c);
                break;
        }
        if (r < 0 && log_enabled(LOG_DEBUG)) {
                errno = -r;
                log_debug("builtin %s: connection failed: %m", builtin_name(c->type));
        }
        if (r <= 0)
                conn_end(c);
        return 0; /* a connection can fail, the daemon cannot */
}

/*
 * Bound what the kernel keeps for this connection (builtin.h states the
 * bound). Autotuning would grant a peer that never reads megabytes of send
 * queue (and an echo client that never reads as much receive queue); fixed
 * values also lock the buffers against it. Before anything is read or
 * written. Returns 0 or -1 with errno set.
 */
static int stream_bound(int fd)
{
        const int size = BUILTIN_SOCKET_BUFFER, one = 1;

        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
                return -1;
        /*
         * The send buffer is smaller than one loopback segment (64 KiB MSS):
         * with Nagle every segment would be a small one, held until the
         * peer's delayed ACK, and a bulk echo on loopback would crawl at
         * one buffer per 40 ms. Fails on a unix socket, which has no Nagle:
         * ignored.
         */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return 0;
}

int builtin_stream_start(sd_event *e, enum builtin b, int fd, void (*done)(void *userdata), void *userdata)
{
        struct conn *c;
        uint32_t events;
        int flags, r;

        switch (b) {
        case BUILTIN_ECHO:
        case BUILTIN_DISCARD:
                events = EPOLLIN;
                break;
        case BUILTIN_CHARGEN:
                events = EPOLLIN | EPOLLOUT;
                break;
        case BUILTIN_DAYTIME:
        case BUILTIN_TIME:
                events = EPOLLOUT;
                break;
        default:
                close(fd);
                return -EINVAL;
        }
        if (!e) {
                close(fd);
                return -EINVAL;
        }
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || stream_bound(fd) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        c = calloc(1, sizeof(*c) + (b == BUILTIN_ECHO ? ECHO_BUFFER : 0));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        *c = (struct conn){.fd = fd, .type = b, .events = events, .done = done, .userdata = userdata};
        r = sd_event_add_io(e, &c->io, fd, events, on_conn_io, c);
        if (r < 0) {
                close(fd);
                free(c);
                return r;
        }
        c->next = conns;
        if (conns)
                conns->prev = c;
        conns = c;
        n_conns++;
        return 0;
}

void builtin_stream_each(void (*fn)(const struct builtin_stream_saved *s, void *ctx), void *ctx)
{
        for (struct conn *c = conns; c; c = c->next)
                fn(&(struct builtin_stream_saved){ .fd = c->fd,
                                                    .type = c->type,
                                                    .eof = c->eof,
                                                    .answered = c->answered,
                                                    .pos = c->pos,
                                                    .held = c->type == BUILTIN_ECHO ? c->buf + c->pos : NULL,
                                                    .len = c->type == BUILTIN_ECHO ? c->len : 0,
                                                    .userdata = c->userdata },
                   ctx);
}

int builtin_stream_resume(sd_event *e, const struct builtin_stream_saved *s, void (*done)(void *userdata),
                          void *userdata)
{
        struct conn *c;
        int r;

        if (s->len > ECHO_BUFFER || (s->len && s->type != BUILTIN_ECHO) || (s->answered && s->type != BUILTIN_DAYTIME &&
                                                                              s->type != BUILTIN_TIME)) {
                close(s->fd);
                return -EINVAL;
        }
        r = builtin_stream_start(e, s->type, s->fd, done, userdata);
        if (r < 0)
                return r;
        c = conns; /* builtin_stream_start() put it first */
        c->eof = s->eof;
        c->answered = s->answered;
        c->pos = s->type == BUILTIN_CHARGEN ? s->pos % BUILTIN_CHARGEN_PERIOD : 0;
        if (s->type == BUILTIN_ECHO) {
                if (s->len)
                        memcpy(c->buf, s->held, s->len);
                c->len = s->len;
                r = conn_set_events(c, (c->eof || c->len == ECHO_BUFFER ? 0 : EPOLLIN) | (c->len > 0 ? EPOLLOUT : 0));
        } else if (c->answered)
                r = conn_set_events(c, EPOLLIN);
        if (r < 0 || (s->type == BUILTIN_ECHO && c->eof && c->len == 0)) {
                conn_end(c);
                return r < 0 ? r : 0;
        }
        return 0;
}

/* ---- datagrams ---- */

int builtin_listener_prepare(int fd)
{
        const int one = 1, size = BUILTIN_SOCKET_BUFFER;
        int family, type;
        socklen_t len;

        len = sizeof(family);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0)
                return -errno;
        len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
                return -errno;
        if (family != AF_INET && family != AF_INET6)
                return 0;
        if (type == SOCK_STREAM) {
                /*
                 * Inherited by accepted connections, and in effect before the
                 * handshake: a client sizes its segments to half the largest
                 * window it was ever offered, so a window offered before a later
                 * shrink (builtin_stream_start()) would leave it waiting for the
                 * persist timer, for seconds, on loopback's 64 KiB MSS.
                 */
                if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) < 0 ||
                    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
                        return -errno;
                return 0;
        }
        if (type != SOCK_DGRAM)
                return 0;
        if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
                return -errno;
        /* On AF_INET6 too: an IPv4 datagram on a dual-stack socket then also carries ipi_spec_dst. */
        if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
                return -errno;
        return 0;
}

/* Control data of one datagram: both pktinfos, and a few fds that a unix sender may pass (closed at once). */
union control {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) +
                 CMSG_SPACE(8 * sizeof(int))];
};

/* The local address a datagram was sent to, as the source of its answer; from recvmsg()'s control data. */
struct dest {
        bool seen;             /* some pktinfo came: the socket is prepared */
        bool v4, v6;           /* which of the two below is set */
        struct in_addr v4addr; /* ipi_spec_dst, or the header's destination */
        struct in6_pktinfo v6info;
};

/*
 * Read the pktinfo of a received datagram into *ret (only those that can be
 * the source address of an answer), and close every fd it passed.
 */
static void dest_parse(struct msghdr *m, struct dest *ret)
{
        *ret = (struct dest){0};
        for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
                if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO &&
                    h->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
                        struct in_pktinfo info;
                        memcpy(&info, CMSG_DATA(h), sizeof(info));
                        ret->seen = true;
                        /*
                         * ipi_spec_dst is the local address the kernel would answer
                         * from: the header's destination for unicast, the interface's
                         * address for a broadcast. 0 for a datagram queued before
                         * IP_PKTINFO was set: then the destination, if unicast.
                         */
                        ret->v4addr = info.ipi_spec_dst;
                        if (ret->v4addr.s_addr == INADDR_ANY && !builtin_v4_not_unicast(ntohl(info.ipi_addr.s_addr)))
                                ret->v4addr = info.ipi_addr;
                        ret->v4 = ret->v4addr.s_addr != INADDR_ANY;
                } else if (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_PKTINFO &&
                           h->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
                        struct in6_pktinfo info;
                        uint32_t a;
                        memcpy(&info, CMSG_DATA(h), sizeof(info));
                        ret->seen = true;
                        memcpy(&a, &info.ipi6_addr.s6_addr[12], sizeof(a));
                        if (IN6_IS_ADDR_UNSPECIFIED(&info.ipi6_addr) || IN6_IS_ADDR_MULTICAST(&info.ipi6_addr) ||
                            (IN6_IS_ADDR_V4MAPPED(&info.ipi6_addr) && builtin_v4_not_unicast(ntohl(a))))
                                continue; /* not a source: let the kernel choose */
                        /* The interface only where the address needs it; elsewhere routing decides. */
                        if (!IN6_IS_ADDR_LINKLOCAL(&info.ipi6_addr))
                                info.ipi6_ifindex = 0;
                        ret->v6info = info;
                        ret->v6 = true;
                } else if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
                        size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < n; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
                                close(fd);
                        }
                }
        }
}

/*
 * Put the source address of d into m's control buffer `control` (IPv4 in
 * preference: it is ipi_spec_dst), or leave m without control data.
 */
static void dest_put(const struct dest *d, struct msghdr *m, union control *control)
{
        struct cmsghdr *h;

        m->msg_control = NULL;
        m->msg_controllen = 0;
        if (!d->v4 && !d->v6)
                return;
        memset(control, 0, sizeof(*control));
        m->msg_control = control->buf;
        h = (struct cmsghdr *)control->buf;
        if (d->v4) {
                /* ifindex 0: the source address only; routing picks the interface. */
                struct in_pktinfo info = {.ipi_spec_dst = d->v4addr};
                m->msg_controllen = CMSG_SPACE(sizeof(info));
                h->cmsg_level = IPPROTO_IP;
                h->cmsg_type = IP_PKTINFO;
                h->cmsg_len = CMSG_LEN(sizeof(info));
                memcpy(CMSG_DATA(h), &info, sizeof(info));
        } else {
                m->msg_controllen = CMSG_SPACE(sizeof(d->v6info));
                h->cmsg_level = IPPROTO_IPV6;
                h->cmsg_type = IPV6_PKTINFO;
                h->cmsg_len = CMSG_LEN(sizeof(d->v6info));
                memcpy(CMSG_DATA(h), &d->v6info, sizeof(d->v6info));
        }
}

unsigned builtin_dgram_serve(enum builtin b, int fd, const uint16_t *ports, size_t n_ports)
{
        static char buf[DGRAM_BUFFER]; /* no allocation per datagram; superd is single-threaded */
        static size_t chargen_pos;     /* successive chargen answers continue the stream */
        bool prepared = false;
        unsigned n = 0;

        /* Each failed recvmsg() consumes a queued error (ICMP unreachable after an answer): bound them too. */
        for (unsigned tries = 0; n < DGRAM_BATCH && tries < 2 * DGRAM_BATCH; tries++) {
                struct sockaddr_storage from;
                union control control;
                struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
                struct msghdr m = {.msg_name = &from,
                                   .msg_namelen = sizeof(from),
                                   .msg_iov = &iov,
                                   .msg_iovlen = 1,
                                   .msg_control = control.buf,
                                   .msg_controllen = sizeof(control.buf)};
                struct dest dest;
                ssize_t len;
                uint32_t be;

                from.ss_family = AF_UNSPEC; /* an unnamed unix sender leaves it unset */
                len = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (len < 0) {
                        if (errno == EAGAIN)
                                break;
                        continue;
                }
                n++;
                dest_parse(&m, &dest);
                if (!dest.seen && !prepared && (from.ss_family == AF_INET || from.ss_family == AF_INET6)) {
                        /* A socket that builtin_listener_prepare() never saw (handed over by a reload): from now on. */
                        (void)builtin_listener_prepare(fd);
                        prepared = true;
                }
                if (b == BUILTIN_DISCARD || m.msg_namelen <= sizeof(sa_family_t) || m.msg_namelen > sizeof(from) ||
                    builtin_dgram_reflects((const struct sockaddr *)&from, ports, n_ports))
                        continue;
                switch (b) {
                case BUILTIN_ECHO:
                        break;
                case BUILTIN_CHARGEN:
                        len = (ssize_t)builtin_chargen_fill(buf, (size_t)random() % (CHARGEN_DGRAM_MAX + 1),
                                                            &chargen_pos);
                        break;
                case BUILTIN_DAYTIME:
                        len = (ssize_t)builtin_daytime_format(time(NULL), buf, sizeof(buf));
                        break;
                case BUILTIN_TIME:
                        be = htonl(builtin_time_value(time(NULL)));
                        iov.iov_base = &be;
                        len = sizeof(be);
                        break;
                default:
                        continue;
                }
                iov.iov_len = (size_t)len;
                m.msg_flags = 0;
                dest_put(&dest, &m, &control);
                (void)sendmsg(fd, &m, SEND_FLAGS);
        }
        return n;
}
