/* SPDX-License-Identifier: MIT */
/* The internal services (echo, discard, chargen, daytime, time): in-process, bounded, never a fork, no UDP loops. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

TestSuite(builtins, .init = h_setup, .fini = h_teardown, .timeout = 120);

enum kind { ECHO, DISCARD, CHARGEN, DAYTIME, TIME, N_KINDS };

static const char *const kind_name[N_KINDS] = {"echo", "discard", "chargen", "daytime", "time"};

#define LINE          74          /* one chargen line: 72 characters and CRLF */
#define PERIOD        (95 * LINE) /* the chargen stream repeats after 95 lines */
#define PROMPT_MS     1000        /* one echo exchange beside a misbehaving client, at most */
#define RSS_GROWTH_KB 2048        /* what misbehaving clients may cost superd */

/* No handler process, ever: builtins are served by superd itself. */
#define expect_no_fork(when)                                                                                           \
        h_assert(h_children(H.pid, NULL, 0) == 0, "superd has %d child(ren) %s", h_children(H.pid, NULL, 0), (when))

/*
 * Write one drop-in with a TCP service KIND-tcp on 127.0.0.1:tcp[KIND] and a
 * UDP service KIND-udp on 127.0.0.1:udp[KIND] for each non-zero port.
 */
static void builtin_config(const uint16_t tcp[N_KINDS], const uint16_t udp[N_KINDS])
{
        char text[4096];
        size_t len = 0;

        for (int k = 0; k < N_KINDS; k++) {
                if (tcp && tcp[k])
                        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                                "service %s-tcp {\n"
                                                "    listen  = { \"127.0.0.1:%u\" }\n"
                                                "    builtin = %s\n"
                                                "}\n",
                                                kind_name[k], tcp[k], kind_name[k]);
                if (udp && udp[k])
                        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                                "service %s-udp {\n"
                                                "    listen      = { \"127.0.0.1:%u\" }\n"
                                                "    socket-type = dgram\n"
                                                "    builtin     = %s\n"
                                                "}\n",
                                                kind_name[k], udp[k], kind_name[k]);
        }
        cr_assert(len < sizeof(text));
        h_main_conf(NULL);
        h_dropin("builtins.conf", "%s", text);
}

/* ---- clients ---- */

/* The chargen stream from its start, written out the slow way. */
static char pattern_at(size_t pos)
{
        size_t line = pos % PERIOD / LINE, col = pos % LINE;

        return col < 72 ? (char)(' ' + (line + col) % 95) : col == 72 ? '\r' : '\n';
}

/* Read exactly LEN bytes from FD within TIMEOUT_MS. Returns bytes read (less on EOF, error or timeout). */
static size_t read_n(int fd, char *buf, size_t len, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;
        size_t got = 0;

        while (got < len) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int64_t left = deadline - h_now_ms();
                ssize_t n;

                if (left <= 0 || poll(&p, 1, (int)left) <= 0)
                        break;
                n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        break;
                if (n > 0)
                        got += (size_t)n;
        }
        return got;
}

/* Connect to chargen on PORT, read LEN bytes, check they are the pattern from its start, close. */
static void expect_chargen_tcp(uint16_t port, size_t len)
{
        char *buf = malloc(len);
        int fd = h_connect(AF_INET, port);
        size_t got;

        cr_assert(buf != NULL);
        h_assert(fd >= 0, "connect to chargen: %s", strerror(-fd));
        got = read_n(fd, buf, len, H_IO_MS);
        h_assert(got == len, "chargen sent %zu of %zu bytes", got, len);
        for (size_t i = 0; i < len; i++)
                h_assert(buf[i] == pattern_at(i), "chargen byte %zu is 0x%02x, expected 0x%02x", i,
                         (unsigned char)buf[i], (unsigned char)pattern_at(i));
        close(fd);
        free(buf);
}

/* TEXT (26 bytes) is ctime(3) of a second between BEFORE and AFTER in the local zone, with CRLF. */
static void expect_daytime_text(const char *text, size_t len, time_t before, time_t after)
{
        h_assert(len == 26, "daytime answer of %zu bytes: \"%s\"", len, text);
        h_assert(text[24] == '\r' && text[25] == '\n', "daytime answer does not end in CRLF: \"%s\"", text);
        for (time_t t = before - 1; t <= after + 1; t++) {
                char want[26];
                if (ctime_r(&t, want) && memcmp(want, text, 24) == 0)
                        return;
        }
        h_assert(false, "daytime answer \"%.24s\" is not the local time now", text);
}

/* Four bytes: RFC 868 time between BEFORE and AFTER. */
static void expect_time_value(const char *bytes, size_t len, time_t before, time_t after)
{
        uint32_t v, lo = (uint32_t)((uint64_t)before + 2208988800u), hi = (uint32_t)((uint64_t)after + 2208988800u);

        h_assert(len == 4, "time answer of %zu bytes", len);
        memcpy(&v, bytes, 4);
        v = ntohl(v);
        h_assert(v - lo <= hi - lo + 1, "time answer %u, expected %u to %u", v, lo, hi);
}

/* A UDP socket bound to IP:PORT (0: any port). Returns the fd or -errno. */
static int udp_client(const char *ip, uint16_t port)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

        cr_assert(fd >= 0, "socket: %s", strerror(errno));
        cr_assert(inet_pton(AF_INET, ip, &a.sin_addr) == 1);
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void udp_send(int fd, uint16_t port, const void *buf, size_t len)
{
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

        h_assert(sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a)) == (ssize_t)len, "sendto port %u: %s", port,
                 strerror(errno));
}

/* Wait up to TIMEOUT_MS for one datagram on FD. Returns its length, or -1. */
static ssize_t udp_recv(int fd, char *buf, size_t size, int timeout_ms)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, timeout_ms) != 1)
                return -1;
        return recv(fd, buf, size, MSG_DONTWAIT);
}

/* Send "ready?" to the UDP echo on PORT every 50 ms until it answers, at most H_START_MS. */
static void udp_wait_ready(uint16_t port)
{
        int fd = udp_client("127.0.0.1", 0);
        int64_t deadline = h_now_ms() + H_START_MS;
        char buf[64];

        cr_assert(fd >= 0);
        for (;;) {
                udp_send(fd, port, "ready?", 6);
                if (udp_recv(fd, buf, sizeof(buf), 50) == 6)
                        break;
                h_assert(h_now_ms() < deadline, "the UDP echo on port %u did not answer within %d ms", port,
                         H_START_MS);
        }
        close(fd);
}

/* One line through a connected echo socket; fails unless it comes back within PROMPT_MS. Returns the ms taken. */
static int64_t echo_round_trip(int fd, int i)
{
        char line[32], back[32];
        int len = snprintf(line, sizeof(line), "ping %d\n", i);
        int64_t t0 = h_now_ms();
        size_t got;

        h_assert(h_write_all(fd, line, (size_t)len, PROMPT_MS) == 0, "echo: cannot send exchange %d", i);
        got = read_n(fd, back, (size_t)len, PROMPT_MS);
        h_assert(got == (size_t)len && memcmp(line, back, (size_t)len) == 0,
                 "echo exchange %d: got %zu of %d bytes within %d ms", i, got, len, PROMPT_MS);
        return h_now_ms() - t0;
}

/* superd's resident set in KiB. */
static long rss_kb(void)
{
        char buf[64];

        h_assert(h_proc_status(H.pid, "VmRSS", buf, sizeof(buf)), "no VmRSS for %d", (int)H.pid);
        return atol(buf);
}

static void free_ports(uint16_t ports[N_KINDS])
{
        for (int k = 0; k < N_KINDS; k++)
                ports[k] = h_free_port();
}

/* A port of h_free_port() (which checks TCP only) that is also free for UDP on 127.0.0.1 and 127.0.0.2. */
static uint16_t udp_free_port(void)
{
        for (int i = 0; i < 20; i++) {
                uint16_t port = h_free_port();
                int a = udp_client("127.0.0.1", port), b = udp_client("127.0.0.2", port);

                if (a >= 0)
                        close(a);
                if (b >= 0)
                        close(b);
                if (a >= 0 && b >= 0)
                        return port;
        }
        cr_assert_fail("no port free for both TCP and UDP");
        return 0;
}

static pid_t start_tcp(const uint16_t tcp[N_KINDS])
{
        return h_start(NULL, AF_INET, (int)tcp[ECHO], AF_INET, (int)tcp[DISCARD], AF_INET, (int)tcp[CHARGEN], AF_INET,
                       (int)tcp[DAYTIME], AF_INET, (int)tcp[TIME], 0);
}

/* ---- tests ---- */

Test(builtins, tcp_answers)
{
        uint16_t tcp[N_KINDS];
        time_t before, after;
        char *out, *big;
        ssize_t n;
        int fd;

        free_ports(tcp);
        builtin_config(tcp, NULL);
        start_tcp(tcp);

        n = h_request(AF_INET, tcp[ECHO], "hello, echo\r\n", &out);
        h_assert(n == 13 && strcmp(out, "hello, echo\r\n") == 0, "echo: %zd bytes \"%s\"", n, out);
        free(out);

        /* 1 MiB: far more than the echo buffer, so back-pressure and flushing at EOF both run. */
        big = malloc(1024 * 1024);
        cr_assert(big != NULL);
        for (size_t i = 0; i < 1024 * 1024; i++)
                big[i] = (char)(i * 7 + i / 4096);
        fd = h_connect(AF_INET, tcp[ECHO]);
        h_assert(fd >= 0, "connect to echo: %s", strerror(-fd));
        n = h_exchange(fd, big, 1024 * 1024, &out, 30000);
        close(fd);
        h_assert(n == 1024 * 1024 && memcmp(out, big, 1024 * 1024) == 0, "echo of 1 MiB: %zd bytes back", n);
        free(out);
        free(big);
        expect_no_fork("after echo");

        n = h_request(AF_INET, tcp[DISCARD], "into the void\n", &out);
        h_assert(n == 0, "discard answered %zd bytes (%s)", n, n < 0 ? strerror((int)-n) : out);
        free(out);

        expect_chargen_tcp(tcp[CHARGEN], 3 * PERIOD + 100);
        expect_no_fork("during chargen");

        fd = h_connect(AF_INET, tcp[DAYTIME]);
        h_assert(fd >= 0, "connect to daytime: %s", strerror(-fd));
        before = time(NULL);
        n = h_read_all(fd, &out, H_IO_MS);
        after = time(NULL);
        close(fd);
        h_assert(n >= 0, "daytime: %s", strerror((int)-n));
        expect_daytime_text(out, (size_t)n, before, after);
        free(out);

        before = time(NULL);
        n = h_request(AF_INET, tcp[TIME], "", &out);
        after = time(NULL);
        h_assert(n >= 0, "time: %s", strerror((int)-n));
        expect_time_value(out, (size_t)n, before, after);
        free(out);

        /* A client that talks first (telnet sends a line) still gets the whole answer, and no reset. */
        before = time(NULL);
        n = h_request(AF_INET, tcp[DAYTIME], "what day is it?\r\n", &out);
        after = time(NULL);
        h_assert(n >= 0, "daytime after client input: %s", strerror((int)-n));
        expect_daytime_text(out, (size_t)n, before, after);
        free(out);
        before = time(NULL);
        n = h_request(AF_INET, tcp[TIME], "what time is it?\r\n", &out);
        after = time(NULL);
        h_assert(n >= 0, "time after client input: %s", strerror((int)-n));
        expect_time_value(out, (size_t)n, before, after);
        free(out);
        expect_no_fork("after every builtin");
}

Test(builtins, udp_answers)
{
        uint16_t udp[N_KINDS], tcp[N_KINDS] = {[ECHO] = h_free_port()};
        time_t before, after;
        char buf[1024];
        ssize_t n;
        int fd;

        for (int k = 0; k < N_KINDS; k++)
                udp[k] = udp_free_port();
        builtin_config(tcp, udp);
        h_start(NULL, AF_INET, (int)tcp[ECHO], 0);
        udp_wait_ready(udp[ECHO]);
        fd = udp_client("127.0.0.1", 0);
        cr_assert(fd >= 0);

        udp_send(fd, udp[ECHO], "hello, udp echo", 15);
        n = udp_recv(fd, buf, sizeof(buf), H_IO_MS);
        h_assert(n == 15 && memcmp(buf, "hello, udp echo", 15) == 0, "udp echo: %zd bytes", n);

        for (int i = 0; i < 10; i++) {
                udp_send(fd, udp[CHARGEN], "", 0);
                n = udp_recv(fd, buf, sizeof(buf), H_IO_MS);
                h_assert(n >= 0 && n <= 512, "udp chargen: datagram of %zd bytes", n);
                for (ssize_t j = 0; j < n; j++)
                        h_assert((buf[j] >= ' ' && buf[j] <= '~') || buf[j] == '\r' || buf[j] == '\n',
                                 "udp chargen: byte %zd is 0x%02x", j, (unsigned char)buf[j]);
        }

        before = time(NULL);
        udp_send(fd, udp[DAYTIME], "", 0);
        n = udp_recv(fd, buf, sizeof(buf) - 1, H_IO_MS);
        after = time(NULL);
        h_assert(n >= 0, "udp daytime: no answer");
        buf[n] = '\0';
        expect_daytime_text(buf, (size_t)n, before, after);

        before = time(NULL);
        udp_send(fd, udp[TIME], "", 0);
        n = udp_recv(fd, buf, sizeof(buf), H_IO_MS);
        after = time(NULL);
        h_assert(n >= 0, "udp time: no answer");
        expect_time_value(buf, (size_t)n, before, after);

        /* discard answers nothing; the echo answer after it shows the discard datagram was handled. */
        udp_send(fd, udp[DISCARD], "x", 1);
        udp_send(fd, udp[ECHO], "after", 5);
        n = udp_recv(fd, buf, sizeof(buf), H_IO_MS);
        h_assert(n == 5 && memcmp(buf, "after", 5) == 0, "udp discard answered, or echo did not: %zd bytes", n);
        h_assert(udp_recv(fd, buf, sizeof(buf), 200) == -1, "a second datagram arrived (from discard?)");
        expect_no_fork("after the UDP builtins");
        close(fd);
}

/* A datagram from port 7, or from the port of one of superd's UDP builtins, must not start a loop. */
Test(builtins, udp_reflection_sources_dropped)
{
        uint16_t udp[N_KINDS] = {[ECHO] = udp_free_port(), [DISCARD] = udp_free_port()};
        uint16_t tcp[N_KINDS] = {[ECHO] = h_free_port()};
        char buf[64];
        int low, mirror, high;

        builtin_config(tcp, udp);
        h_start(NULL, AF_INET, (int)tcp[ECHO], 0);
        udp_wait_ready(udp[ECHO]);

        /* The tests run as root: binding port 7 must work; a failure is a broken test setup, not a skip. */
        low = udp_client("127.0.0.1", 7);
        h_assert(low >= 0, "bind 127.0.0.1:7 (UDP): %s; this test must run as root", strerror(-low));
        /* superd's discard listens on 127.0.0.1 only: the same port on 127.0.0.2 is free for a client. */
        mirror = udp_client("127.0.0.2", udp[DISCARD]);
        h_assert(mirror >= 0, "bind 127.0.0.2:%u: %s", udp[DISCARD], strerror(-mirror));
        high = udp_client("127.0.0.1", 0);
        cr_assert(high >= 0);

        udp_send(low, udp[ECHO], "from 7", 6);
        udp_send(mirror, udp[ECHO], "from a builtin port", 19);
        udp_send(high, udp[ECHO], "from high", 9);
        /* One socket, one queue: once the last datagram is answered, the first two were handled. */
        h_assert(udp_recv(high, buf, sizeof(buf), H_IO_MS) == 9, "no answer to a datagram from a high port");
        h_assert(udp_recv(low, buf, sizeof(buf), 300) == -1, "superd answered a datagram from source port 7");
        h_assert(udp_recv(mirror, buf, sizeof(buf), 300) == -1,
                 "superd answered a datagram from port %u, the port of its own UDP discard", udp[DISCARD]);
        expect_no_fork("after UDP");
        close(low);
        close(mirror);
        close(high);
}

/* CPU time superd used so far (user and system), in ms, from /proc/PID/stat. */
static long cpu_ms(void)
{
        char path[64], text[1024], *p;
        unsigned long utime, stime;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)H.pid);
        f = fopen(path, "re");
        h_assert(f != NULL, "open %s: %s", path, strerror(errno));
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        /* After "pid (comm) ": state is field 3, utime 14, stime 15. */
        p = strrchr(text, ')');
        h_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2,
                 "cannot parse %s", path);
        return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

/*
 * Ten chargen clients that never read, and an echo client that sends and
 * never reads: echo keeps answering others at once, superd's memory stays
 * flat, and it sleeps instead of spinning on the blocked connections.
 */
Test(builtins, non_readers_are_bounded)
{
        static char chunk[64 * 1024];
        uint16_t tcp[N_KINDS] = {[ECHO] = h_free_port(), [CHARGEN] = h_free_port()};
        int readers[10], echo, hog, stalls = 0;
        int64_t t0, worst = 0;
        long rss0, rss1, cpu0, cpu1;
        size_t hogged = 0;

        builtin_config(tcp, NULL);
        h_start(NULL, AF_INET, (int)tcp[ECHO], AF_INET, (int)tcp[CHARGEN], 0);
        echo = h_connect(AF_INET, tcp[ECHO]);
        h_assert(echo >= 0, "connect to echo: %s", strerror(-echo));
        for (int i = 0; i < 5; i++)
                echo_round_trip(echo, i);
        rss0 = rss_kb();
        cpu0 = cpu_ms();

        t0 = h_now_ms();
        for (int i = 0; i < 10; i++) {
                readers[i] = h_connect(AF_INET, tcp[CHARGEN]);
                h_assert(readers[i] >= 0, "connect to chargen: %s", strerror(-readers[i]));
        }
        /* Fill the echo hog's path until superd stops reading it (bounded: 64 MiB or 20 stalls in a row). */
        hog = h_connect(AF_INET, tcp[ECHO]);
        h_assert(hog >= 0, "connect to echo: %s", strerror(-hog));
        while (stalls < 20 && hogged < 64 * 1024 * 1024) {
                ssize_t n = send(hog, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
                h_assert(n > 0 || errno == EAGAIN, "send to echo: %s", strerror(errno));
                if (n > 0) {
                        hogged += (size_t)n;
                        stalls = 0;
                } else {
                        stalls++;
                        usleep(5000);
                }
        }
        h_assert(stalls == 20, "echo took %zu bytes from a client that never reads", hogged);

        for (int i = 0; i < 50; i++) {
                int64_t ms = echo_round_trip(echo, i);
                worst = ms > worst ? ms : worst;
                usleep(10000);
        }
        expect_no_fork("with blocked clients");
        while (h_now_ms() - t0 < 1000)
                usleep(10000);
        rss1 = rss_kb();
        cpu1 = cpu_ms();
        h_assert(rss1 - rss0 < RSS_GROWTH_KB, "superd's RSS grew from %ld to %ld KiB with 11 non-readers", rss0, rss1);
        h_assert(cpu1 - cpu0 < 500, "superd used %ld ms of CPU in %lld ms beside blocked clients (spinning?)",
                 cpu1 - cpu0, (long long)(h_now_ms() - t0));

        /* The chargen connections are alive and still at the start of the pattern. */
        for (int i = 0; i < 10; i++) {
                char buf[LINE];
                h_assert(read_n(readers[i], buf, LINE, H_IO_MS) == LINE, "chargen connection %d is gone", i);
                for (size_t j = 0; j < LINE; j++)
                        h_assert(buf[j] == pattern_at(j), "chargen connection %d: wrong byte %zu", i, j);
                close(readers[i]);
        }
        close(hog);
        echo_round_trip(echo, 99);
        close(echo);
        h_assert(worst < PROMPT_MS, "slowest echo exchange took %lld ms", (long long)worst);
}

/* 8 MiB into discard, interleaved with echo exchanges: each answered at once, nothing kept. */
Test(builtins, discard_flood_does_not_delay_echo)
{
        static char chunk[64 * 1024];
        const size_t total = 8 * 1024 * 1024;
        uint16_t tcp[N_KINDS] = {[ECHO] = h_free_port(), [DISCARD] = h_free_port()};
        int64_t deadline;
        size_t sent = 0;
        long rss0, rss1;
        char *out;
        int flood, echo, i = 0;
        ssize_t n;

        builtin_config(tcp, NULL);
        h_start(NULL, AF_INET, (int)tcp[ECHO], AF_INET, (int)tcp[DISCARD], 0);
        echo = h_connect(AF_INET, tcp[ECHO]);
        flood = h_connect(AF_INET, tcp[DISCARD]);
        h_assert(echo >= 0 && flood >= 0, "connect: %s", strerror(-(echo < 0 ? echo : flood)));
        echo_round_trip(echo, i++);
        rss0 = rss_kb();
        memset(chunk, 'D', sizeof(chunk));

        deadline = h_now_ms() + 60000;
        while (sent < total) {
                h_assert(h_now_ms() < deadline, "discard took only %zu of %zu bytes in 60 s", sent, total);
                n = send(flood, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
                h_assert(n > 0 || errno == EAGAIN, "send to discard: %s", strerror(errno));
                if (n > 0)
                        sent += (size_t)n;
                else
                        usleep(1000);
                /* The discard socket holds unread data whenever echo is asked. */
                if (i % 4 == 0 || n <= 0)
                        echo_round_trip(echo, i);
                i++;
        }
        expect_no_fork("during the flood");
        /* EOF after all of it: discard read everything, then closed. */
        n = h_exchange(flood, NULL, 0, &out, H_IO_MS);
        h_assert(n == 0, "discard after 8 MiB: %zd (%s)", n, n < 0 ? strerror((int)-n) : "bytes answered");
        free(out);
        close(flood);
        rss1 = rss_kb();
        h_assert(rss1 - rss0 < RSS_GROWTH_KB, "superd's RSS grew from %ld to %ld KiB swallowing 8 MiB", rss0, rss1);
        echo_round_trip(echo, i);
        close(echo);
}

/* Hundreds of connections to every builtin leave superd with the fds it started with. */
Test(builtins, no_fd_leak)
{
        uint16_t tcp[N_KINDS];
        int base, now = -1;
        int64_t deadline;

        free_ports(tcp);
        builtin_config(tcp, NULL);
        start_tcp(tcp);
        base = h_fd_count(H.pid);
        h_assert(base > 0, "fd count of superd: %s", strerror(-base));

        for (int i = 0; i < 250; i++) {
                enum kind k = (enum kind)(i % N_KINDS);
                char *out;
                ssize_t n;

                if (k == CHARGEN) {
                        expect_chargen_tcp(tcp[CHARGEN], 1000);
                        continue;
                }
                n = h_request(AF_INET, tcp[k], k == ECHO || k == DISCARD ? "some text\n" : "", &out);
                h_assert(n >= 0, "%s request %d: %s", kind_name[k], i, strerror((int)-n));
                free(out);
        }
        expect_no_fork("after 250 connections");
        /* superd closes each connection when it sees the client's close: give it a moment, bounded. */
        deadline = h_now_ms() + 2000;
        while (h_now_ms() < deadline && (now = h_fd_count(H.pid)) != base)
                usleep(10000);
        h_assert(now == base, "superd had %d fds before 250 connections and %d after", base, now);
}

/* ---- kernel memory: what a client that never reads can make the kernel hold for superd ---- */

/*
 * One direction of one builtin TCP connection in superd's kernel, payload
 * bytes: 32 KiB of buffer (BUILTIN_SOCKET_BUFFER doubled) and the one packet
 * that may pass it (64 KiB), with margin. Autotuning gave about 2.6 MiB.
 */
#define KERNEL_QUEUE_MAX (128 * 1024)
/*
 * What an echo client with 4 KiB buffers can send before everything stops,
 * in bytes: its own queues, superd's two queues and the 4 KiB echo buffer,
 * with margin. Autotuning let such a client send about 2 MiB.
 */
#define ECHO_TAKEN_MAX (512 * 1024)

/*
 * tx_queue and rx_queue (bytes queued to send, and received but not read) of
 * superd's established socket 127.0.0.1:LOCAL with peer port REMOTE, from
 * /proc/net/tcp. Returns false if there is no such socket.
 */
static bool tcp_queues(uint16_t local, uint16_t remote, unsigned long *ret_tx, unsigned long *ret_rx)
{
        char line[512];
        bool found = false;
        FILE *f = fopen("/proc/net/tcp", "re");

        h_assert(f != NULL, "open /proc/net/tcp: %s", strerror(errno));
        while (!found && fgets(line, sizeof(line), f)) {
                unsigned laddr, lport, raddr, rport, state;

                /* "  0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 ..." (the header line does not match) */
                found = sscanf(line, " %*u: %x:%x %x:%x %x %lx:%lx", &laddr, &lport, &raddr, &rport, &state, ret_tx,
                               ret_rx) == 7 &&
                        lport == local && rport == remote && state == 1 /* TCP_ESTABLISHED */;
        }
        fclose(f);
        return found;
}

/* The local port of socket FD. */
static uint16_t local_port(int fd)
{
        struct sockaddr_storage a;
        socklen_t len = sizeof(a);

        h_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname: %s", strerror(errno));
        return ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                             : ((struct sockaddr_in *)&a)->sin_port);
}

/* A non-blocking TCP client of 127.0.0.1:PORT with 4 KiB asked for SO_SNDBUF and SO_RCVBUF (set before connecting). */
static int small_client(uint16_t port)
{
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), size = 4096;

        h_assert(fd >= 0, "socket: %s", strerror(errno));
        h_assert(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) == 0 &&
                     setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0,
                 "setsockopt: %s", strerror(errno));
        /* superd listens (h_start saw it): a loopback connect completes at once. */
        h_assert(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect to port %u: %s", port, strerror(errno));
        h_assert(fcntl(fd, F_SETFL, O_NONBLOCK) == 0, "fcntl: %s", strerror(errno));
        return fd;
}

/*
 * An echo client that sends and never reads: superd stops reading it after
 * a few tens of KiB, and its kernel queues for the connection stay small
 * (they grew to megabytes with autotuned buffers).
 */
Test(builtins, echo_non_reader_pins_little_kernel_memory)
{
        static char chunk[64 * 1024];
        uint16_t tcp[N_KINDS] = {[ECHO] = h_free_port()};
        unsigned long tx, rx;
        size_t taken = 0;
        int64_t last, deadline;
        char back[1000];
        int fd;

        builtin_config(tcp, NULL);
        h_start(NULL, AF_INET, (int)tcp[ECHO], 0);
        fd = small_client(tcp[ECHO]);
        memset(chunk, 'e', sizeof(chunk));

        /* Send until sending stalls for 300 ms (bounded: 64 MiB, 20 s). */
        last = h_now_ms();
        deadline = last + 20000;
        while (h_now_ms() - last < 300 && taken < 64 * 1024 * 1024) {
                ssize_t n = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);

                h_assert(h_now_ms() < deadline, "echo still takes data after 20 s (%zu bytes)", taken);
                h_assert(n > 0 || errno == EAGAIN, "send to echo: %s", strerror(errno));
                if (n > 0) {
                        taken += (size_t)n;
                        last = h_now_ms();
                } else
                        usleep(5000);
        }
        h_assert(taken < ECHO_TAKEN_MAX, "a client that never reads could send %zu bytes to echo (bound %d)", taken,
                 ECHO_TAKEN_MAX);
        h_assert(tcp_queues(tcp[ECHO], local_port(fd), &tx, &rx), "superd's side of the echo connection not found");
        h_assert(tx <= KERNEL_QUEUE_MAX && rx <= KERNEL_QUEUE_MAX,
                 "superd's kernel queues for one echo client: %lu bytes to send, %lu received (bound %d each)", tx, rx,
                 KERNEL_QUEUE_MAX);

        /* Nothing was lost: what comes back is what was sent. */
        h_assert(read_n(fd, back, sizeof(back), H_IO_MS) == sizeof(back), "echo connection stalled");
        for (size_t i = 0; i < sizeof(back); i++)
                h_assert(back[i] == 'e', "echo byte %zu is 0x%02x", i, (unsigned char)back[i]);
        expect_no_fork("after the echo non-reader");
        close(fd);
}

/*
 * Chargen clients that never read: superd's send queue for each stops at a
 * few tens of KiB (it grew to about 2.6 MiB each with autotuned buffers).
 */
Test(builtins, chargen_non_readers_pin_little_kernel_memory)
{
        uint16_t tcp[N_KINDS] = {[CHARGEN] = h_free_port()};
        unsigned long tx[8], rx, total = 0, before = 1;
        int fds[8];
        int64_t stable, deadline;
        char buf[LINE];

        builtin_config(tcp, NULL);
        h_start(NULL, AF_INET, (int)tcp[CHARGEN], 0);
        for (int i = 0; i < 8; i++) {
                fds[i] = h_connect(AF_INET, tcp[CHARGEN]);
                h_assert(fds[i] >= 0, "connect to chargen: %s", strerror(-fds[i]));
        }

        /* Wait until superd's queues stop growing: unchanged for 300 ms (bounded: 5 s). */
        stable = h_now_ms();
        deadline = stable + 5000;
        while (h_now_ms() - stable < 300) {
                h_assert(h_now_ms() < deadline, "superd's chargen queues still grow after 5 s (%lu bytes)", total);
                usleep(50000);
                total = 0;
                for (int i = 0; i < 8; i++) {
                        h_assert(tcp_queues(tcp[CHARGEN], local_port(fds[i]), &tx[i], &rx),
                                 "superd's side of chargen connection %d not found", i);
                        total += tx[i];
                }
                if (total != before) {
                        before = total;
                        stable = h_now_ms();
                }
        }
        for (int i = 0; i < 8; i++)
                h_assert(tx[i] > 0 && tx[i] <= KERNEL_QUEUE_MAX,
                         "superd's send queue for chargen client %d that never reads: %lu bytes (bound %d)", i, tx[i],
                         KERNEL_QUEUE_MAX);

        /* Alive, and still at the start of the pattern. */
        for (int i = 0; i < 8; i++) {
                h_assert(read_n(fds[i], buf, LINE, H_IO_MS) == LINE, "chargen connection %d is gone", i);
                for (size_t j = 0; j < LINE; j++)
                        h_assert(buf[j] == pattern_at(j), "chargen connection %d: wrong byte %zu", i, j);
                close(fds[i]);
        }
        expect_no_fork("after the chargen non-readers");
}

/* ---- UDP answers from the address the client asked ---- */

/* A port of h_free_port() that is also free for UDP on every address, IPv4 and IPv6. */
static uint16_t udp_wildcard_free_port(void)
{
        for (int i = 0; i < 20; i++) {
                uint16_t port = h_free_port();
                struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
                int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), off = 0, r;

                cr_assert(fd >= 0, "socket: %s", strerror(errno));
                cr_assert(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0);
                r = bind(fd, (struct sockaddr *)&a, sizeof(a));
                close(fd);
                if (r == 0)
                        return port;
        }
        cr_assert_fail("no port free for UDP on [::]");
        return 0;
}

/*
 * A UDP socket connect()ed to IP (IPv4 or IPv6 text) PORT, as nc -u and socat
 * use: the kernel drops any datagram that does not come from exactly there.
 */
static int udp_connected(const char *ip, uint16_t port)
{
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
        bool v6 = strchr(ip, ':') != NULL;
        int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

        cr_assert(fd >= 0, "socket: %s", strerror(errno));
        if (v6) {
                cr_assert(inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1);
                r = connect(fd, (struct sockaddr *)&a6, sizeof(a6));
        } else {
                cr_assert(inet_pton(AF_INET, ip, &a4.sin_addr) == 1);
                r = connect(fd, (struct sockaddr *)&a4, sizeof(a4));
        }
        h_assert(r == 0, "connect to %s port %u: %s", ip, port, strerror(errno));
        return fd;
}

/* Send to the UDP echo at IP PORT on a connected socket; the answer must arrive on it (from IP:PORT). */
static void expect_echo_from(const char *ip, uint16_t port, const char *listen)
{
        char text[96], buf[128];
        int fd = udp_connected(ip, port);
        ssize_t n;
        int len = snprintf(text, sizeof(text), "to %s on a listener %s", ip, listen);

        h_assert(send(fd, text, (size_t)len, 0) == len, "send to %s port %u: %s", ip, port, strerror(errno));
        n = udp_recv(fd, buf, sizeof(buf), 2000);
        h_assert(n == len && memcmp(buf, text, (size_t)len) == 0,
                 "no echo from %s port %u on a connected socket (listener %s): %zd bytes; was it sent from another "
                 "address?",
                 ip, port, listen, n);
        close(fd);
}

/*
 * A datagram sent to 127.0.0.3 is answered from 127.0.0.3, not from the
 * kernel's default source 127.0.0.1, on a dual-stack `*:PORT` listener and on
 * an IPv4 `0.0.0.0:PORT` one; IPv6 answers work on both IPv6 listeners.
 */
Test(builtins, udp_answers_from_the_address_asked)
{
        uint16_t dual = udp_wildcard_free_port(), v4 = udp_wildcard_free_port(), v6 = udp_wildcard_free_port();
        uint16_t time_port = udp_wildcard_free_port();
        char buf[16];
        int fd;

        h_main_conf(NULL);
        h_dropin("wildcards.conf",
                 "service echo-dual {\n"
                 "    listen      = { \"*:%u\" }\n"
                 "    socket-type = dgram\n"
                 "    builtin     = echo\n"
                 "}\n"
                 "service echo-v4 {\n"
                 "    listen      = { \"0.0.0.0:%u\" }\n"
                 "    socket-type = dgram\n"
                 "    builtin     = echo\n"
                 "}\n"
                 "service echo-v6 {\n"
                 "    listen      = { \"[::]:%u\" }\n"
                 "    socket-type = dgram\n"
                 "    ipv6-only   = yes\n"
                 "    builtin     = echo\n"
                 "}\n"
                 "service time-dual {\n"
                 "    listen      = { \"*:%u\" }\n"
                 "    socket-type = dgram\n"
                 "    builtin     = time\n"
                 "}\n",
                 dual, v4, v6, time_port);
        h_start_ready(NULL);

        expect_echo_from("127.0.0.3", dual, "*:PORT");
        expect_echo_from("127.0.0.1", dual, "*:PORT");
        expect_echo_from("::1", dual, "*:PORT");
        expect_echo_from("::ffff:127.0.0.3", dual, "*:PORT");
        expect_echo_from("127.0.0.3", v4, "0.0.0.0:PORT");
        expect_echo_from("127.0.0.1", v4, "0.0.0.0:PORT");
        expect_echo_from("::1", v6, "[::]:PORT ipv6-only");
        /* Each builtin answers the same way: time, from 127.0.0.3 too. */
        fd = udp_connected("127.0.0.3", time_port);
        h_assert(send(fd, "", 0, 0) == 0, "send to time: %s", strerror(errno));
        h_assert(udp_recv(fd, buf, sizeof(buf), 2000) == 4, "no 4-byte time answer from 127.0.0.3");
        close(fd);
        expect_no_fork("after UDP");
}
