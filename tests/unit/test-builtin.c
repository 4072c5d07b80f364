/* SPDX-License-Identifier: MIT */
/* Unit tests of builtin.c: the stream state machines and UDP serving (the answers themselves: test-builtin-proto.c). */
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "builtin.h"

/* ---- stream state machines ---- */

static sd_event *loop;
static unsigned done_calls[8];

static void on_done(void *userdata)
{
        done_calls[(size_t)userdata]++;
}

static void stream_setup(void)
{
        cr_assert_geq(sd_event_new(&loop), 0);
        memset(done_calls, 0, sizeof(done_calls));
}

static void stream_teardown(void)
{
        builtin_stream_close_all();
        loop = sd_event_unref(loop);
}

TestSuite(builtin_stream, .init = stream_setup, .fini = stream_teardown, .timeout = 30);

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start builtin b on one end of a socketpair; returns the other end (the client, non-blocking). */
static int start(enum builtin b, size_t slot)
{
        int sv[2];

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0, "socketpair: %s", strerror(errno));
        cr_assert_eq(builtin_stream_start(loop, b, sv[0], on_done, (void *)slot), 0);
        cr_assert_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
        return sv[1];
}

/* One bounded turn of the loop; a callback that never returns would fail the test by its timeout. */
static void turn(void)
{
        int64_t t0 = now_ms();

        cr_assert_geq(sd_event_run(loop, 5000 /* usec */), 0);
        cr_assert_lt(now_ms() - t0, 500, "one loop iteration took %lld ms", (long long)(now_ms() - t0));
}

/* Run the loop until done() was called for slot, at most 5 s. */
static void run_until_done(size_t slot)
{
        int64_t deadline = now_ms() + 5000;

        while (!done_calls[slot]) {
                cr_assert_lt(now_ms(), deadline, "connection %zu did not end", slot);
                turn();
        }
}

/* Read what is there without blocking; returns bytes read, 0 at EOF, -1 if nothing is there now. */
static ssize_t read_some(int fd, char *buf, size_t size)
{
        ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);

        if (n < 0) {
                cr_assert(errno == EAGAIN, "recv: %s", strerror(errno));
                return -1;
        }
        return n;
}

/* Run the loop and read until EOF on fd, at most 5 s; returns the bytes in a malloc'd buffer. */
static char *read_to_eof(int fd, size_t *ret_len)
{
        size_t len = 0, cap = 65536;
        char *out = malloc(cap);
        int64_t deadline = now_ms() + 5000;

        cr_assert_not_null(out);
        for (;;) {
                ssize_t n;
                cr_assert_lt(now_ms(), deadline, "no EOF after %zu bytes", len);
                if (len == cap) {
                        out = realloc(out, cap *= 2);
                        cr_assert_not_null(out);
                }
                n = read_some(fd, out + len, cap - len);
                if (n == 0)
                        break;
                if (n > 0)
                        len += (size_t)n;
                else
                        turn();
        }
        *ret_len = len;
        return out;
}

/* Turn the loop until fd has something to read, at most 20 turns (each at most a few ms). */
static ssize_t reply_within(int fd, char *buf, size_t size)
{
        ssize_t n = -1;

        for (int i = 0; i < 20 && n < 0; i++) {
                turn();
                n = read_some(fd, buf, size);
        }
        return n;
}

static void fill_payload(char *buf, size_t len)
{
        uint32_t x = 2463534242u;

        for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = (char)(x >> 24);
        }
}

Test(builtin_stream, start_rejects_none)
{
        int sv[2];

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        cr_assert_eq(builtin_stream_start(loop, BUILTIN_NONE, sv[0], on_done, NULL), -EINVAL);
        cr_assert(fcntl(sv[0], F_GETFD) < 0 && errno == EBADF, "fd must be closed on failure");
        cr_assert_eq(builtin_stream_count(), 0);
        cr_assert_eq(done_calls[0], 0, "done is not called when start fails");
        close(sv[1]);
}

Test(builtin_stream, echo_small)
{
        int fd = start(BUILTIN_ECHO, 1);
        size_t len;
        char *out;

        cr_assert_eq(builtin_stream_count(), 1);
        cr_assert_eq(send(fd, "hello\r\n", 7, MSG_NOSIGNAL), 7);
        cr_assert_eq(shutdown(fd, SHUT_WR), 0);
        out = read_to_eof(fd, &len);
        cr_assert_eq(len, 7);
        cr_assert(memcmp(out, "hello\r\n", 7) == 0);
        run_until_done(1);
        cr_assert_eq(done_calls[1], 1);
        cr_assert_eq(builtin_stream_count(), 0);
        for (int i = 0; i < 5; i++)
                sd_event_run(loop, 0);
        cr_assert_eq(done_calls[1], 1, "done() exactly once");
        free(out);
        close(fd);
}

/* 1 MiB through echo, the client writing and reading at the same time. */
Test(builtin_stream, echo_large_concurrent)
{
        const size_t total = 1024 * 1024;
        char *in = malloc(total), *out = malloc(total);
        size_t sent = 0, got = 0;
        int64_t deadline = now_ms() + 10000;
        int fd = start(BUILTIN_ECHO, 1);

        cr_assert(in && out);
        fill_payload(in, total);
        for (;;) {
                ssize_t n;
                cr_assert_lt(now_ms(), deadline, "stuck after sending %zu and receiving %zu", sent, got);
                if (sent < total) {
                        n = send(fd, in + sent, total - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (n > 0)
                                sent += (size_t)n;
                        else
                                cr_assert(errno == EAGAIN, "send: %s", strerror(errno));
                        if (sent == total)
                                cr_assert_eq(shutdown(fd, SHUT_WR), 0);
                }
                if (got < total)
                        n = read_some(fd, out + got, total - got);
                else
                        n = read_some(fd, out, 1); /* only EOF may follow */
                if (n == 0)
                        break;
                if (n > 0) {
                        cr_assert_lt(got, total, "echo sent more than it got");
                        got += (size_t)n;
                }
                turn();
        }
        cr_assert_eq(got, total);
        cr_assert(memcmp(in, out, total) == 0, "echoed bytes differ");
        run_until_done(1);
        cr_assert_eq(builtin_stream_count(), 0);
        free(in);
        free(out);
        close(fd);
}

/* A client that sends and never reads: superd stops reading; memory stays bounded; the loop stays free. */
Test(builtin_stream, echo_back_pressure)
{
        static char chunk[65536];
        size_t sent = 0, stalled = 0;
        int fd = start(BUILTIN_ECHO, 1), other = start(BUILTIN_ECHO, 2);
        char reply[16];

        for (int i = 0; i < 2000 && stalled < 50; i++) {
                ssize_t n = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) {
                        sent += (size_t)n;
                        stalled = 0;
                } else {
                        cr_assert(errno == EAGAIN, "send: %s", strerror(errno));
                        stalled++;
                }
                sd_event_run(loop, 0);
        }
        cr_assert_geq(stalled, 50, "the client could send %zu bytes without reading: echo is not bounded", sent);
        /* Two socket buffers and the 4 KiB echo buffer, far below what a reader-less loop would take. */
        cr_assert_lt(sent, 16 * 1024 * 1024, "sent %zu", sent);
        cr_assert_eq(builtin_stream_count(), 2);
        /* Stalled means asleep: nothing wakes the loop while the client neither reads nor the buffer drains. */
        cr_assert_eq(sd_event_run(loop, 20000 /* usec */), 0, "a stalled echo connection keeps waking the loop");

        /* Another connection on the same loop is served meanwhile. */
        cr_assert_eq(send(other, "ping", 4, MSG_NOSIGNAL), 4);
        cr_assert_eq(reply_within(other, reply, sizeof(reply)), 4, "the other echo connection was not answered");
        cr_assert_eq(done_calls[1] + done_calls[2], 0);
        close(other);
        close(fd);
        run_until_done(1);
        run_until_done(2);
}

Test(builtin_stream, discard_swallows_a_mebibyte)
{
        static char chunk[32768];
        const size_t total = 1024 * 1024;
        size_t sent = 0;
        int64_t deadline = now_ms() + 10000;
        int fd = start(BUILTIN_DISCARD, 1);
        char c;

        memset(chunk, 'x', sizeof(chunk));
        while (sent < total) {
                ssize_t n;
                cr_assert_lt(now_ms(), deadline, "stuck after %zu bytes", sent);
                n = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0)
                        sent += (size_t)n;
                else
                        cr_assert(errno == EAGAIN, "send: %s", strerror(errno));
                turn();
        }
        cr_assert_eq(read_some(fd, &c, 1), -1, "discard answers nothing");
        cr_assert_eq(builtin_stream_count(), 1);
        cr_assert_eq(shutdown(fd, SHUT_WR), 0);
        run_until_done(1);
        cr_assert_eq(read_some(fd, &c, 1), 0, "EOF after discard ends");
        cr_assert_eq(builtin_stream_count(), 0);
        close(fd);
}

/* A chargen client that never reads: the connection lives, costs nothing more, and the loop stays free. */
Test(builtin_stream, chargen_never_read)
{
        int fd = start(BUILTIN_CHARGEN, 1), echo = start(BUILTIN_ECHO, 2);
        char buf[8192], want[8192], reply[8];
        size_t off = 0, heap;
        int64_t until;

        for (int i = 0; i < 20; i++)
                turn();
        heap = mallinfo2().uordblks;
        until = now_ms() + 300;
        while (now_ms() < until)
                turn();
        cr_assert_eq(builtin_stream_count(), 2);
        cr_assert_eq(done_calls[1], 0);
        cr_assert_eq(sd_event_run(loop, 20000 /* usec */), 0, "a blocked chargen connection keeps waking the loop");
        cr_assert_leq(mallinfo2().uordblks, heap + 1024, "heap grew from %zu to %zu while chargen was blocked", heap,
                      mallinfo2().uordblks);

        /* The other connection is answered at once. */
        cr_assert_eq(send(echo, "x", 1, MSG_NOSIGNAL), 1);
        cr_assert_eq(reply_within(echo, reply, sizeof(reply)), 1, "echo beside a blocked chargen was not answered");

        /* What was queued is the pattern from its start. */
        for (size_t got = 0; got < sizeof(buf);) {
                ssize_t n = read_some(fd, buf + got, sizeof(buf) - got);
                cr_assert_neq(n, 0, "unexpected EOF");
                if (n > 0)
                        got += (size_t)n;
                else
                        turn();
        }
        builtin_chargen_fill(want, sizeof(want), &off);
        cr_assert(memcmp(buf, want, sizeof(buf)) == 0, "chargen bytes differ from the pattern");

        close(fd);
        run_until_done(1);
        cr_assert_eq(done_calls[1], 1);
        cr_assert_eq(builtin_stream_count(), 1);
        close(echo);
        run_until_done(2);
}

Test(builtin_stream, chargen_ends_on_peer_eof)
{
        int fd = start(BUILTIN_CHARGEN, 1);

        for (int i = 0; i < 5; i++)
                turn();
        cr_assert_eq(send(fd, "ignored input\n", 14, MSG_NOSIGNAL), 14);
        turn();
        cr_assert_eq(builtin_stream_count(), 1);
        cr_assert_eq(shutdown(fd, SHUT_WR), 0);
        run_until_done(1);
        cr_assert_eq(builtin_stream_count(), 0);
        close(fd);
}

Test(builtin_stream, daytime_answers_then_eof)
{
        int fd = start(BUILTIN_DAYTIME, 1);
        char want[BUILTIN_DAYTIME_SIZE];
        time_t before = time(NULL), after;
        size_t len;
        char *out = read_to_eof(fd, &len);

        after = time(NULL);
        cr_assert_eq(len, 26, "got %zu bytes: %.*s", len, (int)len, out);
        cr_assert(memcmp(out + 24, "\r\n", 2) == 0);
        builtin_daytime_format(before, want, sizeof(want));
        if (memcmp(out, want, 26) != 0)
                builtin_daytime_format(after, want, sizeof(want));
        cr_assert(memcmp(out, want, 26) == 0, "got %.26s", out);
        cr_assert_eq(done_calls[1], 0, "waits for the client to close");
        close(fd);
        run_until_done(1);
        cr_assert_eq(builtin_stream_count(), 0);
        free(out);
}

Test(builtin_stream, time_answers_then_eof)
{
        int fd = start(BUILTIN_TIME, 1);
        uint32_t before = builtin_time_value(time(NULL)), value;
        size_t len;
        char *out;

        /* Input from the client is dropped, never answered. */
        cr_assert_eq(send(fd, "\n", 1, MSG_NOSIGNAL), 1);
        out = read_to_eof(fd, &len);
        cr_assert_eq(len, 4);
        memcpy(&value, out, 4);
        value = ntohl(value);
        cr_assert(value >= before && value <= builtin_time_value(time(NULL)), "time %u, expected about %u", value,
                  before);
        close(fd);
        run_until_done(1);
        cr_assert_eq(done_calls[1], 1);
        free(out);
}

Test(builtin_stream, close_all_calls_done)
{
        int fds[4];
        char c;

        fds[0] = start(BUILTIN_ECHO, 1);
        fds[1] = start(BUILTIN_DISCARD, 2);
        fds[2] = start(BUILTIN_CHARGEN, 3);
        fds[3] = start(BUILTIN_DAYTIME, 4);
        for (int i = 0; i < 5; i++)
                turn();
        cr_assert_eq(builtin_stream_count(), 4);
        builtin_stream_close_all();
        cr_assert_eq(builtin_stream_count(), 0);
        for (size_t slot = 1; slot <= 4; slot++)
                cr_assert_eq(done_calls[slot], 1, "slot %zu: done called %u times", slot, done_calls[slot]);
        /* The echo client sees EOF at once: its socket is closed, not just forgotten. */
        cr_assert_eq(recv(fds[0], &c, 1, MSG_DONTWAIT), 0);
        for (int i = 0; i < 5; i++)
                sd_event_run(loop, 0);
        for (size_t slot = 1; slot <= 4; slot++)
                cr_assert_eq(done_calls[slot], 1, "slot %zu: done called again", slot);
        for (int i = 0; i < 4; i++)
                close(fds[i]);
}

/* No fd stays behind after many connections. */
Test(builtin_stream, no_fd_leak)
{
        int before, after;

        turn();
        before = fcntl(0, F_DUPFD_CLOEXEC, 0);
        close(before);
        for (size_t i = 0; i < 200; i++) {
                int fd = start((enum builtin)(BUILTIN_ECHO + i % 5), 0);
                close(fd);
        }
        for (int i = 0; i < 5000 && builtin_stream_count() > 0; i++)
                turn();
        cr_assert_eq(builtin_stream_count(), 0);
        cr_assert_eq(done_calls[0], 200);
        after = fcntl(0, F_DUPFD_CLOEXEC, 0);
        close(after);
        cr_assert_eq(after, before, "lowest free fd moved from %d to %d", before, after);
}

/*
 * A TCP connection accepted on a prepared listener: superd's kernel buffers
 * are BUILTIN_SOCKET_BUFFER (the kernel reports it doubled), and a chargen
 * client that never reads fills superd's send queue only that far (plus one
 * packet of at most 64 KiB), not the megabytes autotuning would grant.
 */
Test(builtin_stream, tcp_buffers_are_small)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), client, conn, value, queued = 0, prev = -1;
        int64_t stable;

        cr_assert_geq(lfd, 0);
        cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
        cr_assert_eq(builtin_listener_prepare(lfd), 0);
        cr_assert_eq(builtin_listener_prepare(lfd), 0, "idempotent");
        cr_assert_eq(listen(lfd, 8), 0);
        len = sizeof(value);
        cr_assert_eq(getsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &value, &len), 0);
        cr_assert_eq(value, 2 * BUILTIN_SOCKET_BUFFER, "listener SO_RCVBUF %d", value);
        len = sizeof(a);
        cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
        client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_eq(connect(client, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
        conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        cr_assert_geq(conn, 0, "accept: %s", strerror(errno));
        cr_assert_eq(builtin_stream_start(loop, BUILTIN_CHARGEN, conn, on_done, (void *)1), 0);

        /* conn now belongs to the connection; looking at it is fine while it lives (done not called). */
        len = sizeof(value);
        cr_assert_eq(getsockopt(conn, SOL_SOCKET, SO_SNDBUF, &value, &len), 0);
        cr_assert_eq(value, 2 * BUILTIN_SOCKET_BUFFER, "connection SO_SNDBUF %d", value);
        cr_assert_eq(getsockopt(conn, SOL_SOCKET, SO_RCVBUF, &value, &len), 0);
        cr_assert_eq(value, 2 * BUILTIN_SOCKET_BUFFER, "connection SO_RCVBUF %d", value);

        /* Turn the loop until the send queue stops growing: unchanged for 200 ms (bounded by the suite timeout). */
        stable = now_ms();
        while (now_ms() - stable < 200) {
                turn();
                cr_assert_eq(ioctl(conn, SIOCOUTQ, &queued), 0);
                if (queued != prev) {
                        prev = queued;
                        stable = now_ms();
                }
        }
        cr_assert_eq(done_calls[1], 0);
        cr_assert(queued > 0 && queued <= 2 * BUILTIN_SOCKET_BUFFER + 64 * 1024,
                  "superd's send queue for a chargen client that never reads: %d bytes", queued);
        close(client);
        run_until_done(1);
        close(lfd);
}

/* ---- datagrams ---- */

/* A non-blocking UDP socket bound to 127.0.0.1:port (0: any); *ret_port gets the port. */
static int udp_socket(uint16_t port, uint16_t *ret_port)
{
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
        cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
        cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        if (ret_port)
                *ret_port = ntohs(a.sin_port);
        return fd;
}

static void send_to(int fd, uint16_t port, const void *buf, size_t len)
{
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

        cr_assert_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)len, "sendto: %s",
                     strerror(errno));
}

/* Wait up to timeout_ms for one datagram; returns its length or -1. */
static ssize_t recv_reply(int fd, void *buf, size_t size, int timeout_ms)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, timeout_ms) != 1)
                return -1;
        return recv(fd, buf, size, MSG_DONTWAIT);
}

struct udp_pair {
        int server, client;
        uint16_t server_port, client_port;
};

static struct udp_pair udp_pair(void)
{
        struct udp_pair p;

        p.server = udp_socket(0, &p.server_port);
        p.client = udp_socket(0, &p.client_port);
        cr_assert_geq(p.client_port, 1024, "ephemeral port %u", p.client_port);
        return p;
}

Test(builtin_dgram, echo)
{
        struct udp_pair p = udp_pair();
        uint16_t ports[] = {p.server_port};
        char buf[2000], big[1400];
        ssize_t n;

        send_to(p.client, p.server_port, "hello", 5);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_ECHO, p.server, ports, 1), 1);
        n = recv_reply(p.client, buf, sizeof(buf), 1000);
        cr_assert_eq(n, 5);
        cr_assert(memcmp(buf, "hello", 5) == 0);

        fill_payload(big, sizeof(big));
        send_to(p.client, p.server_port, big, sizeof(big));
        send_to(p.client, p.server_port, "", 0);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_ECHO, p.server, ports, 1), 2);
        cr_assert_eq(recv_reply(p.client, buf, sizeof(buf), 1000), (ssize_t)sizeof(big));
        cr_assert(memcmp(buf, big, sizeof(big)) == 0);
        cr_assert_eq(recv_reply(p.client, buf, sizeof(buf), 1000), 0, "an empty datagram is echoed empty");
        cr_assert_eq(builtin_dgram_serve(BUILTIN_ECHO, p.server, ports, 1), 0, "queue empty");
}

Test(builtin_dgram, time_and_daytime)
{
        struct udp_pair p = udp_pair();
        uint32_t value, before = builtin_time_value(time(NULL));
        char buf[64];

        send_to(p.client, p.server_port, "", 0);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_TIME, p.server, NULL, 0), 1);
        cr_assert_eq(recv_reply(p.client, buf, sizeof(buf), 1000), 4);
        memcpy(&value, buf, 4);
        value = ntohl(value);
        cr_assert(value >= before && value <= builtin_time_value(time(NULL)), "time %u", value);

        send_to(p.client, p.server_port, "?", 1);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_DAYTIME, p.server, NULL, 0), 1);
        cr_assert_eq(recv_reply(p.client, buf, sizeof(buf), 1000), 26);
        cr_assert(memcmp(buf + 24, "\r\n", 2) == 0);
}

Test(builtin_dgram, chargen_and_discard)
{
        struct udp_pair p = udp_pair();
        char buf[1024];

        for (int i = 0; i < 20; i++) {
                ssize_t n;
                send_to(p.client, p.server_port, "x", 1);
                cr_assert_eq(builtin_dgram_serve(BUILTIN_CHARGEN, p.server, NULL, 0), 1);
                n = recv_reply(p.client, buf, sizeof(buf), 1000);
                cr_assert(n >= 0 && n <= 512, "chargen datagram of %zd bytes", n);
                for (ssize_t j = 0; j < n; j++)
                        cr_assert((buf[j] >= ' ' && buf[j] <= '~') || buf[j] == '\r' || buf[j] == '\n');
        }
        send_to(p.client, p.server_port, "x", 1);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_DISCARD, p.server, NULL, 0), 1);
        cr_assert_eq(recv_reply(p.client, buf, sizeof(buf), 200), -1, "discard answers nothing");
}

Test(builtin_dgram, listed_port_gets_no_reply)
{
        struct udp_pair p = udp_pair();
        uint16_t ports[] = {p.server_port, p.client_port};
        char buf[64];

        send_to(p.client, p.server_port, "loop?", 5);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_ECHO, p.server, ports, 2), 1, "read and dropped");
        cr_assert_eq(recv_reply(p.client, buf, sizeof(buf), 200), -1, "a listed source port got an answer");
        /* Not listed: answered. */
        send_to(p.client, p.server_port, "ok", 2);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_ECHO, p.server, ports, 1), 1);
        cr_assert_eq(recv_reply(p.client, buf, sizeof(buf), 1000), 2);
}

Test(builtin_dgram, batch_is_bounded)
{
        struct udp_pair p = udp_pair();

        for (int i = 0; i < 40; i++)
                send_to(p.client, p.server_port, "d", 1);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_DISCARD, p.server, NULL, 0), 32);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_DISCARD, p.server, NULL, 0), 8);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_DISCARD, p.server, NULL, 0), 0);
}

/* A UDP socket bound to the wildcard of FAMILY (AF_INET6: dual-stack), port 0; *ret_port gets the port. */
static int udp_wildcard(int family, uint16_t *ret_port)
{
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
        struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
        struct sockaddr_storage got;
        socklen_t len = sizeof(got);
        int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), off = 0;

        cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
        if (family == AF_INET6) {
                cr_assert_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
                cr_assert_eq(bind(fd, (struct sockaddr *)&a6, sizeof(a6)), 0, "bind: %s", strerror(errno));
        } else
                cr_assert_eq(bind(fd, (struct sockaddr *)&a4, sizeof(a4)), 0, "bind: %s", strerror(errno));
        cr_assert_eq(getsockname(fd, (struct sockaddr *)&got, &len), 0);
        *ret_port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                             : ((struct sockaddr_in *)&got)->sin_port);
        return fd;
}

/* A UDP socket connect()ed to IP (text, IPv4 or IPv6) PORT: it only takes datagrams from exactly there. */
static int udp_connected(const char *ip, uint16_t port)
{
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
        bool v6 = strchr(ip, ':') != NULL;
        int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

        cr_assert_geq(fd, 0);
        if (v6) {
                cr_assert_eq(inet_pton(AF_INET6, ip, &a6.sin6_addr), 1);
                r = connect(fd, (struct sockaddr *)&a6, sizeof(a6));
        } else {
                cr_assert_eq(inet_pton(AF_INET, ip, &a4.sin_addr), 1);
                r = connect(fd, (struct sockaddr *)&a4, sizeof(a4));
        }
        cr_assert_eq(r, 0, "connect %s: %s", ip, strerror(errno));
        return fd;
}

/* Echo one datagram from a client connected to IP PORT through server; true if the answer reached it. */
static bool echo_reaches(int server, const char *ip, uint16_t port)
{
        int client = udp_connected(ip, port);
        char buf[64];
        ssize_t n;

        cr_assert_eq(send(client, ip, strlen(ip), 0), (ssize_t)strlen(ip), "send: %s", strerror(errno));
        cr_assert_eq(builtin_dgram_serve(BUILTIN_ECHO, server, NULL, 0), 1);
        n = recv_reply(client, buf, sizeof(buf), 300);
        close(client);
        return n == (ssize_t)strlen(ip) && memcmp(buf, ip, (size_t)n) == 0;
}

/* On a wildcard socket, the answer leaves from the address the client sent to (127.0.0.3, not 127.0.0.1). */
Test(builtin_dgram, answers_from_the_address_asked)
{
        uint16_t port4, port6;
        int s4 = udp_wildcard(AF_INET, &port4), s6 = udp_wildcard(AF_INET6, &port6);

        cr_assert_eq(builtin_listener_prepare(s4), 0);
        cr_assert_eq(builtin_listener_prepare(s6), 0);
        cr_assert(echo_reaches(s4, "127.0.0.3", port4), "IPv4 socket: no answer from 127.0.0.3");
        cr_assert(echo_reaches(s4, "127.0.0.1", port4), "IPv4 socket: no answer from 127.0.0.1");
        cr_assert(echo_reaches(s6, "127.0.0.3", port6), "dual-stack socket: no answer from 127.0.0.3");
        cr_assert(echo_reaches(s6, "::ffff:127.0.0.3", port6), "dual-stack socket: no answer from ::ffff:127.0.0.3");
        cr_assert(echo_reaches(s6, "::1", port6), "dual-stack socket: no answer from ::1");
        close(s4);
        close(s6);
}

/*
 * A socket that builtin_listener_prepare() never saw (a reload handed it
 * over): the first datagram prepares it, so from the second on the answers
 * leave from the right address.
 */
Test(builtin_dgram, unprepared_socket_is_prepared)
{
        uint16_t port;
        int s = udp_wildcard(AF_INET6, &port);

        (void)echo_reaches(s, "127.0.0.3", port); /* answered from the kernel's default source */
        cr_assert(echo_reaches(s, "127.0.0.3", port), "still no answer from 127.0.0.3 after a first datagram");
        close(s);
}

/* Preparing is for IP sockets; others are left alone, a non-socket is an error. */
Test(builtin_dgram, prepare_other_sockets)
{
        int sv[2], fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
        cr_assert_eq(builtin_listener_prepare(sv[0]), 0);
        cr_assert_eq(builtin_listener_prepare(fd), -ENOTSOCK);
        close(sv[0]);
        close(sv[1]);
        close(fd);
}

/* fds that a unix sender passes with a datagram are closed, not kept. */
Test(builtin_dgram, passed_fds_are_closed)
{
        int sv[2], passed[3], before, after;
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(passed))];
        } control;
        struct iovec iov = {.iov_base = "fd", .iov_len = 2};
        struct msghdr m = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);

        cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        for (int i = 0; i < 3; i++)
                passed[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(passed));
        memcpy(CMSG_DATA(h), passed, sizeof(passed));
        cr_assert_eq(sendmsg(sv[1], &m, 0), 2, "sendmsg: %s", strerror(errno));
        cr_assert_eq(sendmsg(sv[1], &m, 0), 2, "sendmsg: %s", strerror(errno));
        for (int i = 0; i < 3; i++)
                close(passed[i]);
        before = fcntl(0, F_DUPFD_CLOEXEC, 0);
        close(before);
        cr_assert_eq(builtin_dgram_serve(BUILTIN_ECHO, sv[0], NULL, 0), 2);
        after = fcntl(0, F_DUPFD_CLOEXEC, 0);
        close(after);
        cr_assert_eq(after, before, "lowest free fd moved from %d to %d: passed fds kept", before, after);
        close(sv[0]);
        close(sv[1]);
}
