/* SPDX-License-Identifier: MIT */
/* Load: many connections in a row and at once all echo correctly, and superd leaks no child and no fd. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

TestSuite(load, .init = h_setup, .fini = h_teardown, .timeout = 120);

#define SEQUENTIAL 300
#define PARALLEL 30

/* Start a /bin/cat service on 127.0.0.1 and [::1] PORT; returns superd's pid. */
static pid_t start_cat(uint16_t port)
{
        h_main_conf(NULL);
        h_dropin("load.conf",
                 "service load {\n"
                 "    listen = { \"127.0.0.1:%u\", \"[::1]:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, port, H.user);
        return h_start(NULL, AF_INET, port, AF_INET6, port, 0);
}

/* One line through the service, compared; LABEL for messages. */
static void echo_once(int family, uint16_t port, int i)
{
        char line[64], *out;
        ssize_t n;

        snprintf(line, sizeof(line), "line %d of the load test\n", i);
        n = h_request(family, port, line, &out);
        h_assert(n >= 0, "connection %d: %s", i, strerror((int)-n));
        h_assert(strcmp(out, line) == 0, "connection %d: sent \"%s\", got \"%s\"", i, line, out);
        free(out);
}

/* superd's fd count settles back to BASELINE within H_REAP_MS (the handlers are gone by then). */
static void expect_fd_count(pid_t pid, int baseline)
{
        int64_t deadline = h_now_ms() + H_REAP_MS;
        int n;

        while ((n = h_fd_count(pid)) != baseline && h_now_ms() < deadline)
                usleep(10000);
        h_assert(n == baseline, "superd has %d fds after the load, %d before: fd leak", n, baseline);
}

/* No zombie and, once every client got EOF, no handler left under superd. */
static void expect_no_children(pid_t pid)
{
        int z = h_wait_no_zombies(pid, H_REAP_MS), left;

        h_assert(z == 0, "superd left %d zombie children after %d ms", z, H_REAP_MS);
        left = h_wait_no_children(pid, H_REAP_MS);
        h_assert(left == 0, "%d handlers still run under superd %d ms after their clients finished", left,
                 H_REAP_MS);
}

Test(load, sequential_300)
{
        uint16_t port = h_free_port();
        pid_t pid = start_cat(port);
        int baseline;

        /* Warm up once so that anything opened lazily on the first connection is in the baseline. */
        echo_once(AF_INET, port, -1);
        h_assert(h_wait_no_children(pid, H_REAP_MS) == 0, "warm-up handler not reaped");
        baseline = h_fd_count(pid);
        cr_assert(baseline > 0, "cannot count superd's fds: %s", strerror(-baseline));

        for (int i = 0; i < SEQUENTIAL; i++)
                echo_once(i % 2 ? AF_INET6 : AF_INET, port, i);

        expect_no_children(pid);
        expect_fd_count(pid, baseline);
        h_assert(h_alive(pid), "superd died during the load");
}

Test(load, parallel_30)
{
        uint16_t port = h_free_port();
        pid_t pid = start_cat(port);
        int fds[PARALLEL], baseline, live, during;

        echo_once(AF_INET, port, -1);
        h_assert(h_wait_no_children(pid, H_REAP_MS) == 0, "warm-up handler not reaped");
        baseline = h_fd_count(pid);
        cr_assert(baseline > 0, "cannot count superd's fds: %s", strerror(-baseline));

        for (int i = 0; i < PARALLEL; i++) {
                fds[i] = h_connect(i % 2 ? AF_INET6 : AF_INET, port);
                h_assert(fds[i] >= 0, "connection %d: %s", i, strerror(-fds[i]));
        }
        /* All 30 handlers run at the same time, each holding its connection open. */
        live = h_wait_children(pid, PARALLEL, 5000);
        h_assert(live == PARALLEL, "%d handlers run for %d open connections", live, PARALLEL);
        /* superd hands each accepted socket to its handler and closes its own copy (right after the fork that
         * the child count already shows, so allow it a moment). */
        {
                int64_t deadline = h_now_ms() + H_REAP_MS;

                while ((during = h_fd_count(pid)) != baseline && h_now_ms() < deadline)
                        usleep(5000);
        }
        h_assert(during == baseline, "superd holds %d fds with %d handlers running, %d when idle", during, PARALLEL,
                 baseline);

        /* Send on every socket before reading any, so all exchanges overlap. */
        for (int i = 0; i < PARALLEL; i++) {
                char line[64];
                int r;

                snprintf(line, sizeof(line), "parallel line %d\n", i);
                r = h_write_all(fds[i], line, strlen(line), H_IO_MS);
                h_assert(r == 0, "write on connection %d: %s", i, strerror(-r));
        }
        for (int i = PARALLEL - 1; i >= 0; i--) {
                char line[64], *out;
                ssize_t n;

                snprintf(line, sizeof(line), "parallel line %d\n", i);
                n = h_exchange(fds[i], NULL, 0, &out, H_IO_MS);
                close(fds[i]);
                h_assert(n >= 0, "connection %d: %s", i, strerror((int)-n));
                h_assert(strcmp(out, line) == 0, "connection %d: sent \"%s\", got \"%s\"", i, line, out);
                free(out);
        }

        expect_no_children(pid);
        expect_fd_count(pid, baseline);
        h_assert(h_alive(pid), "superd died during the load");
}

#define BURST 48
#define BURST_ROUNDS 4

/* The value of "ENV NAME=" in connection-info's output, or NULL. */
static char *info_env(const char *out, const char *name)
{
        char *key = h_format("\nENV %s=", name), *p = strstr(out, key), *value = NULL;

        if (p) {
                p += strlen(key);
                value = strndup(p, strcspn(p, "\n"));
        }
        free(key);
        return value;
}

/*
 * BURST clients connect at once, so superd starts their handlers back to
 * back while earlier ones are still starting: each handler must get the
 * environment of its own connection (the client's port) and the service's
 * fixed part intact. Over BURST_ROUNDS rounds.
 */
Test(load, burst_each_handler_gets_its_own_environment)
{
        uint16_t port = h_free_port();
        pid_t pid;

        h_main_conf(NULL);
        h_dropin("burst.conf",
                 "service burst {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"%s\" }\n"
                 "    env    = { \"MARK=fixed part of the environment\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, getenv("CONNECTION_INFO"), H.user);
        pid = h_start(NULL, AF_INET, port, 0);
        for (int round = 0; round < BURST_ROUNDS; round++) {
                int fds[BURST];

                for (int i = 0; i < BURST; i++) {
                        fds[i] = h_connect(AF_INET, port);
                        h_assert(fds[i] >= 0, "round %d, connection %d: %s", round, i, strerror(-fds[i]));
                }
                for (int i = 0; i < BURST; i++) {
                        struct sockaddr_in me;
                        socklen_t len = sizeof(me);
                        char *out, *remote_port, *mark, *service, want[8];
                        ssize_t n;

                        h_assert(getsockname(fds[i], (struct sockaddr *)&me, &len) == 0, "getsockname: %s",
                                 strerror(errno));
                        snprintf(want, sizeof(want), "%u", ntohs(me.sin_port));
                        n = h_exchange(fds[i], NULL, 0, &out, H_IO_MS);
                        close(fds[i]);
                        h_assert(n > 0, "round %d, connection %d: no output (%zd)", round, i, n);
                        remote_port = info_env(out, "TCPREMOTEPORT");
                        mark = info_env(out, "MARK");
                        service = info_env(out, "SUPERD_SERVICE");
                        h_assert(remote_port && strcmp(remote_port, want) == 0,
                                 "round %d, connection %d from port %s: handler saw TCPREMOTEPORT=%s", round, i, want,
                                 remote_port ? remote_port : "(unset)");
                        h_assert(mark && strcmp(mark, "fixed part of the environment") == 0,
                                 "round %d, connection %d: MARK=%s", round, i, mark ? mark : "(unset)");
                        h_assert(service && strcmp(service, "burst") == 0, "round %d, connection %d: SUPERD_SERVICE=%s",
                                 round, i, service ? service : "(unset)");
                        free(remote_port);
                        free(mark);
                        free(service);
                        free(out);
                }
        }
        expect_no_children(pid);
        h_assert(h_alive(pid), "superd died during the bursts");
}
