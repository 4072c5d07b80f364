/* SPDX-License-Identifier: MIT */
/* Stopping: SIGTERM/SIGINT close the listeners, end the handlers (SIGKILL after 5 s) and exit 0. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(stop, .init = h_setup, .fini = h_teardown, .timeout = 60);

/* SIGTERM, then SIGKILL after this many seconds (DESIGN.md §6 stop-timeout, 5 s). */
#define STOP_TIMEOUT_S 5.0

/* Start one service NAME running ARGV (a confuse list body) on 127.0.0.1 and [::1] PORT. */
static pid_t start_service(const char *name, uint16_t port, const char *argv)
{
        h_main_conf(NULL);
        h_dropin("stop.conf",
                 "service %s {\n"
                 "    listen = { \"127.0.0.1:%u\", \"[::1]:%u\" }\n"
                 "    exec   = { %s }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 name, port, port, argv, H.user);
        return h_start(NULL, AF_INET, port, AF_INET6, port, 0);
}

/* After superd exited: nothing listens on PORT and handler HANDLER (0: none) is gone. */
static void expect_all_gone(uint16_t port, pid_t handler)
{
        int64_t deadline = h_now_ms() + H_REAP_MS;

        h_assert(!h_listening(AF_INET, port), "127.0.0.1:%u still listening after superd exited", port);
        h_assert(!h_listening(AF_INET6, port), "[::1]:%u still listening after superd exited", port);
        if (handler > 0) {
                /* Once superd is gone an orphan would be reaped by init; give that a moment. */
                while (h_alive(handler) && h_now_ms() < deadline)
                        usleep(10000);
                h_assert(!h_alive(handler), "handler %d outlived superd", (int)handler);
        }
}

/* Expect STATUS to be a clean exit 0. */
static void expect_exit_0(int status, const char *what)
{
        h_assert(status != -1, "%s: superd still runs %d ms after the signal", what, H_STOP_MS);
        h_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: superd ended with %s, expected exit status 0",
                 what, h_status_str(status));
}

Test(stop, idle_sigterm)
{
        uint16_t port = h_free_port();
        double secs;
        int status;

        start_service("idle", port, "\"/bin/cat\"");
        status = h_stop(&secs);
        expect_exit_0(status, "SIGTERM while idle");
        h_assert(secs < 2.0, "superd took %.2f s to stop with nothing running", secs);
        expect_all_gone(port, 0);
}

Test(stop, idle_sigint)
{
        uint16_t port = h_free_port();
        int status;

        start_service("idle", port, "\"/bin/cat\"");
        cr_assert(kill(H.pid, SIGINT) == 0);
        status = h_wait_exit(H_STOP_MS);
        expect_exit_0(status, "SIGINT while idle");
        expect_all_gone(port, 0);
}

Test(stop, running_handler_is_terminated)
{
        uint16_t port = h_free_port();
        pid_t pid = start_service("sleeper", port, "\"/bin/sleep\", \"60\"");
        pid_t handler;
        double secs;
        int fd, status;

        fd = h_connect(AF_INET, port);
        h_assert(fd >= 0, "connect: %s", strerror(-fd));
        handler = h_wait_child(pid, "sleep", 5000);
        h_assert(handler > 0, "no sleep handler appeared under superd");

        status = h_stop(&secs);
        close(fd);
        expect_exit_0(status, "SIGTERM with a handler running");
        h_assert(secs < STOP_TIMEOUT_S, "superd took %.2f s to stop a handler that dies on SIGTERM", secs);
        expect_all_gone(port, handler);
}

Test(stop, stubborn_handler_is_killed_after_timeout)
{
        uint16_t port = h_free_port();
        /* The shell ignores SIGTERM and execs sleep, which keeps the disposition: a direct child of superd
         * that SIGTERM cannot end. */
        pid_t pid = start_service("stubborn", port,
                                  "\"/bin/sh\", \"-c\", \"trap '' TERM; exec /bin/sleep 60\"");
        int64_t start, deadline;
        pid_t handler;
        char sigign[64];
        double secs;
        int fd, status;

        fd = h_connect(AF_INET, port);
        h_assert(fd >= 0, "connect: %s", strerror(-fd));
        handler = h_wait_child(pid, "sleep", 5000);
        h_assert(handler > 0, "no sleep handler appeared under superd");
        h_assert(h_proc_status(handler, "SigIgn", sigign, sizeof(sigign)), "cannot read handler status");
        h_assert(strtoull(sigign, NULL, 16) & (1ULL << (SIGTERM - 1)), "handler does not ignore SIGTERM (SigIgn=%s)",
                 sigign);

        start = h_now_ms();
        cr_assert(kill(pid, SIGTERM) == 0);

        /* Listeners close at once, even while a handler is still being waited for. */
        deadline = start + 1000;
        while ((h_listening(AF_INET, port) || h_listening(AF_INET6, port)) && h_now_ms() < deadline)
                usleep(10000);
        h_assert(!h_listening(AF_INET, port) && !h_listening(AF_INET6, port),
                 "port %u still listening 1 s after SIGTERM", port);
        h_assert(h_alive(pid), "superd exited before its stubborn handler was killed");

        status = h_wait_exit(H_STOP_MS);
        secs = (double)(h_now_ms() - start) / 1000.0;
        close(fd);
        expect_exit_0(status, "SIGTERM with a handler that ignores SIGTERM");
        h_assert(secs >= STOP_TIMEOUT_S - 0.5, "superd stopped after %.2f s: it did not give the handler %.0f s",
                 secs, STOP_TIMEOUT_S);
        h_assert(secs <= STOP_TIMEOUT_S + 2.5, "superd stopped only after %.2f s (stop timeout %.0f s)", secs,
                 STOP_TIMEOUT_S);
        expect_all_gone(port, handler);
}

Test(stop, no_new_connections_while_stopping)
{
        uint16_t port = h_free_port();
        pid_t pid = start_service("stubborn", port,
                                  "\"/bin/sh\", \"-c\", \"trap '' TERM; exec /bin/sleep 60\"");
        int fd, fd2, status;

        fd = h_connect(AF_INET, port);
        h_assert(fd >= 0, "connect: %s", strerror(-fd));
        h_assert(h_wait_child(pid, "sleep", 5000) > 0, "no sleep handler appeared under superd");
        cr_assert(kill(pid, SIGTERM) == 0);
        {
                int64_t deadline = h_now_ms() + 1000;

                while (h_listening(AF_INET, port) && h_now_ms() < deadline)
                        usleep(10000);
        }
        fd2 = h_connect(AF_INET, port);
        h_assert(fd2 == -ECONNREFUSED, "a connection during the stop got %s, expected ECONNREFUSED",
                 fd2 >= 0 ? "accepted" : strerror(-fd2));
        h_assert(h_children(pid, NULL, 0) <= 1, "superd spawned a handler while stopping");
        status = h_wait_exit(H_STOP_MS);
        close(fd);
        expect_exit_0(status, "SIGTERM with a handler that ignores SIGTERM");
}
