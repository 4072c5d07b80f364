/* SPDX-License-Identifier: MIT */
/*
 * proxy-load: a small load client for a superd service, with or without a
 * PROXY protocol v2 header in front of each request, to compare what
 * proxy-protocol = v2 costs superd per connection.
 *
 * Each connection goes to 127.0.0.1:PORT, sends (with -2) a v2 header that
 * says the client is 127.0.0.5, then "GET / HTTP/1.0\r\n\r\n", and reads
 * the reply to EOF; a reply that does not start with "HTTP/1.x 2" counts as
 * an error. -c connections are kept in flight. The run stops after -n
 * connections or -t seconds, whichever comes first. With -p PID it also
 * reads utime + stime of that process (superd) from /proc/PID/stat before
 * and after, and prints its CPU time per connection (and the finer
 * /proc/PID/schedstat figure of its main thread: superd has one).
 *
 * Not built by meson (tests/bench has no meson.build). Build and run:
 *
 *     cc -O2 -std=gnu11 -Wall -Wextra -o build/proxy-load tests/bench/proxy-load.c
 *     build/proxy-load -n 20000 -t 20 -c 8 -p $(pidof superd) 8080      # plain
 *     build/proxy-load -n 20000 -t 20 -c 8 -p $(pidof superd) -2 8081   # v2 header
 *
 * against two services running build/helpers/http-hello, one plain and one
 * with `proxy-protocol = v2` and `proxy-from = { "127.0.0.1/32" }`.
 * Output: one line "MODE N ok, E errors in S s: R conn/s[, superd C ms CPU,
 * U us/conn (schedstat V us/conn)]". Exit status 0 if every connection got a 2xx reply, 1 if
 * some failed, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT 256

static const char request[] = "GET / HTTP/1.0\r\n\r\n";

/* One connection in flight. */
struct conn {
        int fd;          /* -1: slot free */
        size_t sent;     /* bytes of the message written */
        char head[16];   /* first bytes of the reply */
        size_t got;      /* bytes of the reply read so far */
        bool connecting; /* connect(2) in progress */
};

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of PID in clock ticks, or -1. */
static long long cpu_ticks(pid_t pid)
{
        char path[64], buf[1024], *p;
        unsigned long long ut, st;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
        fclose(f);
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return -1;
        return (long long)(ut + st);
}

/* Nanoseconds PID's main thread has run, from /proc/PID/schedstat (finer than clock ticks), or -1. */
static long long cpu_ns(pid_t pid)
{
        char path[64];
        long long ns = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        if (fscanf(f, "%lld", &ns) != 1)
                ns = -1;
        fclose(f);
        return ns;
}

/* The message each connection sends: a v2 header for 127.0.0.5:40000 -> 127.0.0.1:PORT (if V2), then request. */
static size_t build_message(unsigned char *buf, bool v2, unsigned port)
{
        static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
        size_t n = 0;

        if (v2) {
                memcpy(buf, sig, sizeof(sig));
                buf[12] = 0x21; /* version 2, PROXY */
                buf[13] = 0x11; /* TCP over IPv4 */
                buf[14] = 0;
                buf[15] = 12;
                inet_pton(AF_INET, "127.0.0.5", buf + 16);
                inet_pton(AF_INET, "127.0.0.1", buf + 20);
                buf[24] = 40000 >> 8, buf[25] = 40000 & 0xff;
                buf[26] = (unsigned char)(port >> 8), buf[27] = (unsigned char)port;
                n = 28;
        }
        memcpy(buf + n, request, sizeof(request) - 1);
        return n + sizeof(request) - 1;
}

/* Start a non-blocking connect in C. Returns 0 or -errno. */
static int start(struct conn *c, const struct sockaddr_in *to)
{
        *c = (struct conn){.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
        if (c->fd < 0)
                return -errno;
        if (connect(c->fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
                if (errno != EINPROGRESS) {
                        int r = -errno;
                        close(c->fd);
                        c->fd = -1;
                        return r;
                }
                c->connecting = true;
        }
        return 0;
}

/* Advance C on REVENTS. Returns 1 when done well, -1 when failed, 0 while in progress. */
static int step(struct conn *c, short revents, const unsigned char *msg, size_t len)
{
        if (c->connecting && (revents & (POLLOUT | POLLERR | POLLHUP))) {
                int err = 0;
                socklen_t elen = sizeof(err);

                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err)
                        return -1;
                c->connecting = false;
        }
        if (c->connecting)
                return 0;
        while (c->sent < len) {
                ssize_t w = send(c->fd, msg + c->sent, len - c->sent, MSG_NOSIGNAL);
                if (w < 0)
                        return errno == EAGAIN ? 0 : -1;
                c->sent += (size_t)w;
        }
        for (;;) {
                char buf[4096];
                ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

                if (r < 0)
                        return errno == EAGAIN ? 0 : -1;
                if (r == 0)
                        return c->got >= 10 && strncmp(c->head, "HTTP/1.", 7) == 0 && c->head[9] == '2' ? 1 : -1;
                for (ssize_t i = 0; i < r && c->got + (size_t)i < sizeof(c->head); i++)
                        c->head[c->got + (size_t)i] = buf[i];
                c->got += (size_t)r;
        }
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: proxy-load [-n COUNT] [-t SECONDS] [-c INFLIGHT] [-2] [-p PID] PORT\n"
                "  -n COUNT    connections in all (default 10000)\n"
                "  -t SECONDS  stop after this long at most (default 20)\n"
                "  -c N        connections in flight, 1-%d (default 4)\n"
                "  -2          send a PROXY v2 header (client 127.0.0.5) before the request\n"
                "  -p PID      report this process's (superd's) CPU time per connection\n",
                MAX_INFLIGHT);
}

int main(int argc, char **argv)
{
        long count = 10000, inflight = 4, started = 0, ok = 0, failed = 0;
        double seconds = 20, t0, elapsed;
        pid_t pid = 0;
        bool v2 = false;
        unsigned port;
        unsigned char msg[64];
        size_t len;
        struct conn conns[MAX_INFLIGHT];
        struct pollfd pfd[MAX_INFLIGHT];
        struct sockaddr_in to = {.sin_family = AF_INET};
        long long cpu0 = -1, cpu1, ns0 = -1, ns1;
        int opt;

        while ((opt = getopt(argc, argv, "n:t:c:2p:h")) != -1) {
                switch (opt) {
                case 'n':
                        count = strtol(optarg, NULL, 10);
                        break;
                case 't':
                        seconds = strtod(optarg, NULL);
                        break;
                case 'c':
                        inflight = strtol(optarg, NULL, 10);
                        break;
                case '2':
                        v2 = true;
                        break;
                case 'p':
                        pid = (pid_t)strtol(optarg, NULL, 10);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind + 1 != argc || count < 1 || seconds <= 0 || inflight < 1 || inflight > MAX_INFLIGHT) {
                usage(stderr);
                return 2;
        }
        port = (unsigned)strtoul(argv[optind], NULL, 10);
        if (port < 1 || port > 65535) {
                usage(stderr);
                return 2;
        }
        to.sin_port = htons((uint16_t)port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = build_message(msg, v2, port);
        if (pid > 0 && (cpu0 = cpu_ticks(pid)) < 0) {
                fprintf(stderr, "proxy-load: cannot read /proc/%d/stat\n", (int)pid);
                return 2;
        }
        if (pid > 0)
                ns0 = cpu_ns(pid);

        for (long i = 0; i < inflight; i++)
                conns[i].fd = -1;
        t0 = now();
        for (;;) {
                int n = 0, active = 0;
                bool late = now() - t0 >= seconds;

                for (long i = 0; i < inflight; i++) {
                        if (conns[i].fd < 0 && !late && started < count) {
                                started++;
                                if (start(&conns[i], &to) < 0)
                                        failed++;
                        }
                        pfd[i] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN | POLLOUT};
                        if (conns[i].fd >= 0) {
                                if (!conns[i].connecting && conns[i].sent == len)
                                        pfd[i].events = POLLIN;
                                active++;
                        }
                }
                if (active == 0)
                        break;
                /* Connections still open after the time is up get 2 s more, then count as failed. */
                if (now() - t0 >= seconds + 2) {
                        for (long i = 0; i < inflight; i++)
                                if (conns[i].fd >= 0) {
                                        close(conns[i].fd);
                                        conns[i].fd = -1;
                                        failed++;
                                }
                        break;
                }
                n = poll(pfd, (nfds_t)inflight, 100);
                if (n < 0 && errno != EINTR) {
                        perror("proxy-load: poll");
                        return 1;
                }
                for (long i = 0; n > 0 && i < inflight; i++) {
                        int r;

                        if (conns[i].fd < 0 || !pfd[i].revents)
                                continue;
                        r = step(&conns[i], pfd[i].revents, msg, len);
                        if (r == 0)
                                continue;
                        close(conns[i].fd);
                        conns[i].fd = -1;
                        if (r > 0)
                                ok++;
                        else
                                failed++;
                }
        }
        elapsed = now() - t0;
        printf("%s %ld ok, %ld errors in %.2f s: %.0f conn/s", v2 ? "proxy-v2" : "plain", ok, failed, elapsed,
               (double)ok / elapsed);
        if (pid > 0 && (cpu1 = cpu_ticks(pid)) >= 0) {
                double ms = (double)(cpu1 - cpu0) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
                printf(", superd %.0f ms CPU, %.1f us/conn", ms, ok + failed ? ms * 1000.0 / (double)(ok + failed) : 0);
                if (ns0 >= 0 && (ns1 = cpu_ns(pid)) >= 0 && ok + failed)
                        printf(" (schedstat %.1f us/conn)", (double)(ns1 - ns0) / 1000.0 / (double)(ok + failed));
        }
        printf("\n");
        return failed ? 1 : 0;
}
