/* SPDX-License-Identifier: MIT */
/*
 * Limits, access control and hardening with real clients from several
 * loopback addresses: max-instances, max-per-source, allow/deny, max-rate,
 * timeout, the process settings, and EMFILE under a low fd limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(access, .init = h_setup, .fini = h_teardown, .timeout = 90);

/* Connect from SRC (an address of 127.0.0.0/8) to 127.0.0.1:PORT. Returns a blocking socket. */
static int connect_from(const char *src, uint16_t port)
{
        struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert(fd >= 0);
        inet_pton(AF_INET, src, &from.sin_addr);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0, "bind %s: %s", src, strerror(errno));
        cr_assert(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0, "connect from %s: %s", src, strerror(errno));
        return fd;
}

/* Send LINE, half-close, expect it echoed back by cat. */
static void expect_echo(int fd, const char *line)
{
        char *out;
        ssize_t n = h_exchange(fd, line, strlen(line), &out, H_IO_MS);

        h_assert(n >= 0 && strcmp(out, line) == 0, "sent \"%s\", got \"%s\" (%zd)", line, out, n);
        free(out);
}

/* True if the peer closes FD without sending anything within TIMEOUT_MS (a refused connection). */
static bool closed_at_once(int fd, int timeout_ms)
{
        char *out;
        ssize_t n = h_read_all(fd, &out, timeout_ms);
        bool closed = n == 0;

        free(out);
        return closed;
}

/* Start superd with one /bin/cat service plus EXTRA keys; returns its port on 127.0.0.1. */
static uint16_t cat_service(const char *extra)
{
        uint16_t port = h_free_port();

        h_main_conf(NULL);
        h_dropin("s.conf",
                 "service guarded {\n    listen = { \"127.0.0.1:%u\" }\n    exec = { \"/bin/cat\" }\n"
                 "    user = \"%s\"\n%s}\n",
                 port, H.user, extra);
        h_start(NULL, AF_INET, (int)port, 0);
        return port;
}

Test(access, six_clients_three_instances_all_served)
{
        int fd[6];

        uint16_t port = cat_service("    max-instances = 3\n");
        for (int i = 0; i < 6; i++) {
                char src[16];
                snprintf(src, sizeof(src), "127.0.0.%d", 10 + i);
                fd[i] = connect_from(src, port);
        }
        h_assert(h_wait_children(H.pid, 3, 5000) == 3, "3 handlers should run");
        usleep(300 * 1000);
        h_assert(h_children(H.pid, NULL, 0) == 3, "%d handlers run, max-instances is 3", h_children(H.pid, NULL, 0));
        for (int i = 0; i < 6; i++) {
                char line[32];
                snprintf(line, sizeof(line), "client %d\n", i);
                expect_echo(fd[i], line);
                close(fd[i]);
        }
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "handlers left");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(access, max_per_source_refuses_the_third_from_one_address)
{
        int a1, a2, a3, b1;
        char *log;

        uint16_t port = cat_service("    max-per-source = 2\n");
        a1 = connect_from("127.0.0.2", port);
        a2 = connect_from("127.0.0.2", port);
        h_assert(h_wait_children(H.pid, 2, 5000) == 2, "two handlers for 127.0.0.2 should run");
        a3 = connect_from("127.0.0.2", port);
        h_assert(closed_at_once(a3, 5000), "the third connection from 127.0.0.2 was not closed at once");
        h_assert(h_children(H.pid, NULL, 0) == 2, "a handler was spawned for the refused connection");
        b1 = connect_from("127.0.0.3", port);
        expect_echo(b1, "other source\n");
        expect_echo(a1, "one\n");
        expect_echo(a2, "two\n");
        log = h_log();
        h_assert(strstr(log, "refused 127.0.0.2:") && strstr(log, "max-per-source"), "no refusal in the log");
        free(log);
        /* A slot freed by an exit is usable again. */
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "handlers left");
        a3 = connect_from("127.0.0.2", port);
        expect_echo(a3, "again\n");
        close(a1), close(a2), close(a3), close(b1);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(access, deny_wins_and_refuses_without_spawning)
{
        int fd;
        char *log;

        uint16_t port = cat_service("    allow = { \"127.0.0.0/24\" }\n    deny = { \"127.0.0.5\" }\n");
        fd = connect_from("127.0.0.5", port);
        h_assert(closed_at_once(fd, 5000), "a denied client was served");
        close(fd);
        h_assert(h_children(H.pid, NULL, 0) == 0, "a handler was spawned for a denied client");
        fd = connect_from("127.0.1.9", port);
        h_assert(closed_at_once(fd, 5000), "a client outside allow was served");
        close(fd);
        fd = connect_from("127.0.0.6", port);
        expect_echo(fd, "allowed\n");
        close(fd);
        log = h_log();
        h_assert(strstr(log, "refused 127.0.0.5:") && strstr(log, "allow/deny"), "no refusal in the log");
        free(log);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/* log-connections = yes: an info line per accepted connection and per handler end; without it, neither. */
Test(access, log_connections_logs_accept_and_end)
{
        uint16_t quiet = h_free_port(), logged = h_free_port();
        char needle[64];
        int fd;

        h_main_conf(NULL);
        h_dropin("s.conf",
                 "service quiet {\n    listen = { \"127.0.0.1:%u\" }\n    exec = { \"/bin/cat\" }\n"
                 "    user = \"%s\"\n}\n"
                 "service logged {\n    listen = { \"127.0.0.1:%u\" }\n    exec = { \"/bin/cat\" }\n"
                 "    user = \"%s\"\n    log-connections = yes\n}\n",
                 quiet, H.user, logged, H.user);
        h_start(NULL, AF_INET, (int)quiet, AF_INET, (int)logged, 0);

        fd = connect_from("127.0.0.7", quiet);
        expect_echo(fd, "quiet\n");
        close(fd);
        fd = connect_from("127.0.0.8", logged);
        expect_echo(fd, "logged\n");
        close(fd);
        h_assert(h_wait_no_children(H.pid, H_IO_MS) == 0, "a handler did not exit");
        h_assert(h_wait_log("logged: accept 127.0.0.8:", 1, H_IO_MS), "no accept line for the logged service");
        h_assert(h_wait_log("exitcode 0 after", 1, H_IO_MS), "no end line for the logged service");
        snprintf(needle, sizeof(needle), "(client 127.0.0.8:");
        h_assert(h_wait_log(needle, 1, H_IO_MS), "the end line does not name the client");
        h_assert(!h_wait_log("127.0.0.7", 1, 0), "the quiet service logged its connection");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(access, refusal_flood_logs_a_handful_of_lines)
{
        char *log;
        int lines = 0;

        uint16_t port = cat_service("    deny = { \"127.0.0.0/8\" }\n");
        for (int i = 0; i < 200; i++) {
                int fd = connect_from("127.0.0.8", port);
                h_assert(closed_at_once(fd, 5000), "connection %d was served", i);
                close(fd);
        }
        log = h_log();
        for (const char *p = log; (p = strstr(p, "refused 127.0.0.8:")); p++)
                lines++;
        h_assert(lines >= 1 && lines <= 3, "%d refusal lines for 200 refused connections", lines);
        free(log);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(access, max_rate_pauses_and_resumes)
{
        int fd[5];
        int64_t t0;

        uint16_t port = cat_service("    max-rate = \"3/s\"\n    rate-pause = 1\n");
        t0 = h_now_ms();
        for (int i = 0; i < 4; i++)
                fd[i] = connect_from("127.0.0.4", port);
        for (int i = 0; i < 3; i++)
                expect_echo(fd[i], "within the rate\n");
        h_assert(closed_at_once(fd[3], 5000), "the 4th connection in a second was served");
        h_assert(h_wait_log("not accepting for 1 s", 1, 2000), "no rate pause in the log");
        /* During the pause connections wait in the backlog; afterwards they are served. */
        fd[4] = connect_from("127.0.0.4", port);
        expect_echo(fd[4], "after the pause\n");
        h_assert(h_now_ms() - t0 >= 900, "served after %lld ms: the pause did not hold",
                 (long long)(h_now_ms() - t0));
        h_assert(h_wait_log("accepting again", 1, 3000), "the pause did not end by itself");
        for (int i = 0; i < 5; i++)
                close(fd[i]);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(access, timeout_kills_the_handler_and_its_children)
{
        uint16_t port = h_free_port();
        char *out = NULL;
        pid_t grandchild;
        int fd;

        h_main_conf(NULL);
        h_dropin("t.conf",
                 "service slow {\n    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec = { \"/bin/sh\", \"-c\", \"sleep 60 & echo $!; wait\" }\n"
                 "    user = \"%s\"\n    timeout = 1\n}\n",
                 port, H.user);
        h_start(NULL, AF_INET, (int)port, 0);
        fd = h_connect(AF_INET, port);
        h_assert(fd >= 0, "connect");
        /* The handler prints its background child's pid, then waits for it; the timeout ends both. */
        h_assert(h_read_all(fd, &out, 10000) >= 0, "the handler was not ended by its timeout");
        grandchild = (pid_t)atoi(out);
        h_assert(grandchild > 0, "no pid from the handler: \"%s\"", out);
        h_assert(h_wait_no_children(H.pid, 8000) == 0, "the handler still runs after its timeout");
        for (int i = 0; i < 100 && h_alive(grandchild); i++)
                usleep(50 * 1000);
        h_assert(!h_alive(grandchild), "the handler's child %d survived the timeout", (int)grandchild);
        h_assert(h_wait_log("ran longer than 1 s: sending SIGTERM", 1, 1000), "no timeout in the log");
        free(out);
        close(fd);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(access, process_settings_are_applied)
{
        uint16_t port = h_free_port();
        char *out, *dir = h_path("");

        h_main_conf(NULL);
        h_dropin("p.conf",
                 "service settings {\n    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec = { \"/bin/sh\", \"-c\", \"echo nice=$(nice) umask=$(umask) cwd=$(pwd) nofile=$(ulimit -n) "
                 "cpu=$(ulimit -t) as=$(ulimit -v); grep NoNewPrivs /proc/self/status; grep processes /proc/self/limits\" }\n"
                 "    user = \"%s\"\n    nice = 7\n    umask = 027\n    working-directory = \"%s\"\n"
                 "    rlimit-nofile = 77\n    rlimit-cpu = 33\n    rlimit-as = 1073741824\n    rlimit-nproc = 4321\n"
                 "    no-new-privileges = yes\n}\n",
                 port, H.user, dir);
        h_start(NULL, AF_INET, (int)port, 0);
        h_assert(h_request(AF_INET, port, "", &out) > 0, "no answer");
        h_assert(strstr(out, "nice=7 "), "nice: %s", out);
        h_assert(strstr(out, "umask=0027 "), "umask: %s", out);
        h_assert(strstr(out, h_format("cwd=%s ", H.dir)), "working-directory: %s", out);
        h_assert(strstr(out, "nofile=77 "), "rlimit-nofile: %s", out);
        h_assert(strstr(out, "cpu=33 "), "rlimit-cpu: %s", out);
        h_assert(strstr(out, "as=1048576"), "rlimit-as (KiB): %s", out);
        h_assert(strstr(out, "NoNewPrivs:\t1"), "no-new-privileges: %s", out);
        h_assert(strstr(out, "Max processes             4321                 4321"), "rlimit-nproc: %s", out);
        free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/* utime + stime of PID in clock ticks, from /proc/PID/stat. */
static long long cpu_ticks(pid_t pid)
{
        char path[64], buf[1024], *p;
        unsigned long long ut, st;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        cr_assert(f);
        cr_assert(fgets(buf, sizeof(buf), f));
        fclose(f);
        p = strrchr(buf, ')');
        cr_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2);
        return (long long)(ut + st);
}

Test(access, emfile_under_a_low_fd_limit_pauses_instead_of_spinning)
{
        enum { CLIENTS = 150 };
        uint16_t port = h_free_port();
        const char *argv[] = { "/usr/bin/prlimit", "--nofile=64:64", h_superd(), "-f", "-c", H.conf, NULL };
        static int fd[CLIENTS];
        long long before, used;
        long ticks = sysconf(_SC_CLK_TCK);

        /* Builtin connections stay open in superd: 150 of them need more than 64 fds. */
        h_main_conf(NULL);
        h_dropin("e.conf", "service echo {\n    listen = { \"127.0.0.1:%u\" }\n    builtin = echo\n}\n", port);
        h_spawn_as_superd(argv, NULL);
        h_assert(h_wait_log("superd: ready:", 1, H_START_MS), "superd did not start under prlimit");
        for (int i = 0; i < CLIENTS; i++) {
                char src[16];
                snprintf(src, sizeof(src), "127.0.%d.%d", 20 + i / 200, 1 + i % 200);
                fd[i] = connect_from(src, port);
        }
        h_assert(h_wait_log("Too many open files; pausing the listener", 1, 5000), "no EMFILE back-off in the log");
        /* Blocked: superd must sleep between retries, not spin. */
        before = cpu_ticks(H.pid);
        usleep(1500 * 1000);
        used = cpu_ticks(H.pid) - before;
        h_assert(used * 1000 / ticks < 300, "superd used %lld ms of CPU in 1.5 s while out of fds",
                 used * 1000 / ticks);
        /* Every client is served in the end, as others finish. */
        for (int i = 0; i < CLIENTS; i++) {
                char line[32];
                snprintf(line, sizeof(line), "client %d\n", i);
                expect_echo(fd[i], line);
                close(fd[i]);
        }
        h_assert(h_alive(H.pid), "superd died");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}
