/* SPDX-License-Identifier: MIT */
/* Limits and switches: max-instances holds connections in the backlog, disable parses but does not listen. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(limits, .init = h_setup, .fini = h_teardown, .timeout = 60);

/* How long a count must stay put to count as "not changing" (a negative can only be sampled). */
#define SETTLE_MS 300

/* Send LINE on the open connection FD, half-close, and expect it back. */
static void expect_echo_on(int fd, const char *line)
{
        char *out;
        ssize_t n = h_exchange(fd, line, strlen(line), &out, H_IO_MS);

        h_assert(n >= 0 && strcmp(out, line) == 0, "sent \"%s\", got \"%s\" (%zd)", line, out, n);
        free(out);
}

Test(limits, max_instances_waits_in_backlog)
{
        uint16_t port = h_free_port();
        int fd[3], live;
        pid_t pid;

        h_main_conf(NULL);
        h_dropin("limits.conf",
                 "service limited {\n"
                 "    listen        = { \"127.0.0.1:%u\" }\n"
                 "    exec          = { \"/bin/cat\" }\n"
                 "    user          = \"%s\"\n"
                 "    max-instances = 2\n"
                 "}\n",
                 port, H.user);
        pid = h_start(NULL, AF_INET, port, 0);

        for (int i = 0; i < 3; i++) {
                fd[i] = h_connect(AF_INET, port);
                h_assert(fd[i] >= 0, "connection %d: %s (the third should wait in the backlog, not fail)", i,
                         strerror(-fd[i]));
        }
        live = h_wait_children(pid, 2, 5000);
        h_assert(live == 2, "%d handlers for 3 connections, expected 2 running", live);
        usleep(SETTLE_MS * 1000);
        live = h_wait_children(pid, 3, 0);
        h_assert(live == 2, "%d handlers run with max-instances = 2", live);

        /* One handler ends: the waiting connection gets the freed slot. */
        expect_echo_on(fd[0], "first\n");
        close(fd[0]);
        expect_echo_on(fd[2], "third, after waiting\n");
        close(fd[2]);
        expect_echo_on(fd[1], "second\n");
        close(fd[1]);
        h_assert(h_wait_no_children(pid, H_REAP_MS) == 0, "handlers left after every client finished");
}

Test(limits, disabled_service_is_not_listened_on)
{
        uint16_t on = h_free_port(), off = h_free_port();
        char *out;
        ssize_t n;

        h_main_conf(NULL);
        h_dropin("switch.conf",
                 "service on {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n"
                 "service off {\n"
                 "    listen  = { \"127.0.0.1:%u\" }\n"
                 "    exec    = { \"/bin/cat\" }\n"
                 "    user    = \"%s\"\n"
                 "    disable = true\n"
                 "}\n",
                 on, H.user, off, H.user);
        h_start(NULL, AF_INET, on, 0);
        h_assert(!h_listening(AF_INET, off), "disabled service listens on %u", off);
        n = h_request(AF_INET, on, "on\n", &out);
        h_assert(n >= 0 && strcmp(out, "on\n") == 0, "enabled service returned \"%s\" (%zd)", out, n);
        free(out);
        h_assert(!h_listening(AF_INET, off), "disabled service listens on %u", off);
}

Test(limits, disabled_service_is_still_validated)
{
        const char *argv[] = { h_superd(), "-t", "-c", H.conf, NULL };
        char *out, *err;
        int status;

        h_main_conf(NULL);
        h_dropin("switch.conf",
                 "service off {\n"
                 "    listen  = { \"127.0.0.1:%u\" }\n"
                 "    exec    = { \"relative/handler\" }\n"
                 "    user    = \"%s\"\n"
                 "    disable = true\n"
                 "}\n",
                 h_free_port(), H.user);
        status = h_run(argv, NULL, NULL, &out, &err, 10000);
        cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
                  "superd -t with a disabled but invalid service: %s, expected exit status 1\n-- stderr:\n%s",
                  h_status_str(status), err);
        cr_assert(strstr(err, "services.d/switch.conf:3:") != NULL,
                  "error not reported at services.d/switch.conf:3:\n-- stderr:\n%s", err);
}

/* ---- wait = yes start limit (max-rate counts handler starts) ---- */

/* Lines in DIR/REL (0 if it does not exist). */
static int count_lines(const char *rel)
{
        char *path = h_path(rel);
        FILE *f = fopen(path, "r");
        int n = 0, c;

        free(path);
        if (!f)
                return 0;
        while ((c = fgetc(f)) != EOF)
                n += c == '\n';
        fclose(f);
        return n;
}

/* Send one datagram to 127.0.0.1:PORT. */
static void send_datagram(uint16_t port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        h_assert(fd >= 0 && sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) == 1, "sendto 127.0.0.1:%u: %s",
                 port, strerror(errno));
        close(fd);
}

/*
 * A wait = yes service whose handler exits without taking the datagram or
 * the connection (in.tftpd with a missing folder, /bin/true) is started
 * again at once. MAX_RATE ("" for none) is its max-rate line. Each start
 * appends a line to DIR/starts-dgram or DIR/starts-stream; returns after
 * WATCH_MS with both counts.
 */
static void run_restarting_wait_services(const char *max_rate, int watch_ms, int *ret_dgram, int *ret_stream)
{
        uint16_t udp = h_free_port(), tcp = h_free_port();
        int fd;

        h_main_conf(NULL);
        h_dropin("restart.conf",
                 "service dgram {\n"
                 "    listen      = { \"127.0.0.1:%u\" }\n"
                 "    socket-type = dgram\n"
                 "    exec        = { \"/bin/sh\", \"-c\", \"echo >>%s/starts-dgram\" }\n"
                 "    user        = \"%s\"\n"
                 "    %s\n"
                 "}\n"
                 "service stream {\n"
                 "    listen      = { \"127.0.0.1:%u\" }\n"
                 "    wait        = yes\n"
                 "    exec        = { \"/bin/sh\", \"-c\", \"echo >>%s/starts-stream\" }\n"
                 "    user        = \"%s\"\n"
                 "    %s\n"
                 "}\n",
                 udp, H.dir, H.user, max_rate, tcp, H.dir, H.user, max_rate);
        h_start(NULL, AF_INET, tcp, 0);
        send_datagram(udp);
        fd = h_connect(AF_INET, tcp);
        h_assert(fd >= 0, "connect: %s", strerror(-fd));
        usleep(watch_ms * 1000);
        *ret_dgram = count_lines("starts-dgram");
        *ret_stream = count_lines("starts-stream");
        close(fd);
}

Test(limits, wait_service_restart_loop_is_limited_without_configuration)
{
        int dgram, stream;

        run_restarting_wait_services("", 2500, &dgram, &stream);
        /* 10 starts in the first second, then a pause of rate-pause (10 s): never thousands. */
        h_assert(dgram >= 1 && dgram <= 11, "the dgram wait handler started %d times in 2.5 s, expected 1..11", dgram);
        h_assert(stream >= 1 && stream <= 11, "the stream wait handler started %d times in 2.5 s, expected 1..11",
                 stream);
        h_assert(h_log_count("more than 10 handler starts in a second: not starting another for 10 s") == 2,
                 "expected one pause line per service");
        h_assert(h_alive(H.pid), "superd died");
}

Test(limits, max_rate_counts_wait_service_starts)
{
        int dgram, stream;

        run_restarting_wait_services("max-rate = 3/s\n    rate-pause = 30", 1500, &dgram, &stream);
        h_assert(dgram >= 1 && dgram <= 4, "max-rate 3/s: the dgram wait handler started %d times", dgram);
        h_assert(stream >= 1 && stream <= 4, "max-rate 3/s: the stream wait handler started %d times", stream);
        h_assert(h_log_count("more than 3 handler starts in a second: not starting another for 30 s") == 2,
                 "expected one pause line per service");
}

/* ---- log floods: one line, then a summary ---- */

/* Parse the number N of the first "N <what>" in superd.log after NEEDLE's line start; -1 if none. */
static long long summary_count(const char *what)
{
        char *log = h_log(), *p = strstr(log, what);
        long long n = -1;

        if (p) {
                while (p > log && p[-1] == ' ')
                        p--;
                while (p > log && p[-1] >= '0' && p[-1] <= '9')
                        p--;
                n = strtoll(p, NULL, 10);
        }
        free(log);
        return n;
}

Test(limits, exit_and_refusal_floods_give_one_line_then_a_summary, .timeout = 90)
{
        uint16_t fails = h_free_port(), closed = h_free_port();
        const int n = 200;
        int64_t deadline;

        h_main_conf(NULL);
        h_dropin("flood.conf",
                 "service fails {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/sh\", \"-c\", \"exit 3\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n"
                 "service closed {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "    deny   = { \"127.0.0.0/8\" }\n"
                 "}\n",
                 fails, H.user, closed, H.user);
        h_start(NULL, AF_INET, fails, AF_INET, closed, 0);
        for (int i = 0; i < n; i++) {
                int a = h_connect(AF_INET, fails), b = h_connect(AF_INET, closed);
                h_assert(a >= 0 && b >= 0, "connection %d: %s", i, strerror(-(a < 0 ? a : b)));
                close(a);
                close(b);
                if (i % 20 == 19) /* bound the handlers running at once */
                        h_wait_no_children(H.pid, H_REAP_MS * 5);
        }
        h_assert(h_wait_no_children(H.pid, H_REAP_MS * 5) == 0, "handlers left running");
        h_assert(h_wait_log("refused 127.0.0.1", 1, 5000), "the first refusal is not logged");
        /* Within the 10 s window: exactly one line each, however many there were. */
        h_assert(h_log_count("exitcode 3") == 1, "%d exit lines for %d handlers that exited 3, expected 1",
                 h_log_count("exitcode 3"), n);
        h_assert(h_log_count("refused 127.0.0.1") == 1, "%d refusal lines, expected 1", h_log_count("refused 127.0.0.1"));

        /* No further event: the summaries come by themselves at the end of the window. */
        deadline = h_now_ms() + 15000;
        while ((summary_count("more handler(s) failed") < 0 || summary_count("more refused in the last 10 s (totals") < 0) &&
               h_now_ms() < deadline)
                usleep(50000);
        h_assert(summary_count("more handler(s) failed") == n - 1, "exit summary: %lld more, expected %d",
                 summary_count("more handler(s) failed"), n - 1);
        h_assert(summary_count("more refused in the last 10 s (totals") == n - 1, "refusal summary: %lld more, expected %d",
                 summary_count("more refused in the last 10 s (totals"), n - 1);
        h_assert(h_log_count("exitcode 3") == 1 && h_log_count("refused 127.0.0.1") == 1, "more lines after the summary");
}

Test(limits, max_instances_reached_is_logged_once)
{
        uint16_t port = h_free_port();
        int fd[3];

        h_main_conf(NULL);
        h_dropin("once.conf",
                 "service once {\n"
                 "    listen        = { \"127.0.0.1:%u\" }\n"
                 "    exec          = { \"/bin/cat\" }\n"
                 "    user          = \"%s\"\n"
                 "    max-instances = 1\n"
                 "}\n",
                 port, H.user);
        h_start(NULL, AF_INET, port, 0);
        for (int i = 0; i < 3; i++) {
                fd[i] = h_connect(AF_INET, port);
                h_assert(fd[i] >= 0, "connect: %s", strerror(-fd[i]));
        }
        h_assert(h_wait_log("max-instances (1) reached: not accepting until a handler exits", 1, 5000),
                 "reaching max-instances is not logged");
        /* Each handler that ends lets the next connection in, and the limit is reached again: counted, not logged. */
        expect_echo_on(fd[0], "a\n");
        close(fd[0]);
        expect_echo_on(fd[1], "b\n");
        close(fd[1]);
        expect_echo_on(fd[2], "c\n");
        close(fd[2]);
        h_assert(h_log_count("max-instances (1) reached") == 1, "%d max-instances lines, expected 1",
                 h_log_count("max-instances (1) reached"));
}
