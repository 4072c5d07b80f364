/* SPDX-License-Identifier: MIT */
/* A handler that cannot be exec'd: the connection is closed, superd logs why and keeps serving. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

TestSuite(exec_failure, .init = h_setup, .fini = h_teardown, .timeout = 60);

/*
 * Two services on their own ports: NAME running DIR/REL (a file that passes
 * `superd -t`, executable, but fails execve) and a working /bin/cat.
 */
static void start_pair(const char *name, const char *rel, uint16_t bad, uint16_t good)
{
        char *path = h_path(rel);

        h_main_conf(NULL);
        h_dropin("exec.conf",
                 "service %s {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"%s\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n"
                 "service fine {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 name, bad, path, H.user, good, H.user);
        h_start(NULL, AF_INET, bad, AF_INET, good, 0);
        free(path);
}

/* Connect to the broken service: the connection must end (EOF or reset) without data, well within the I/O bound. */
static void expect_closed(uint16_t port, int round)
{
        int fd = h_connect(AF_INET, port);
        char *out;
        ssize_t n;

        h_assert(fd >= 0, "connect %d to the broken service: %s", round, strerror(-fd));
        n = h_read_all(fd, &out, H_IO_MS);
        close(fd);
        h_assert(n != -ETIMEDOUT, "connection %d to the broken service stayed open %d ms", round, H_IO_MS);
        h_assert(n <= 0, "connection %d to the broken service returned %zd bytes: \"%s\"", round, n, out);
        free(out);
}

/* The good service still echoes. */
static void expect_serving(uint16_t port)
{
        char *out;
        ssize_t n = h_request(AF_INET, port, "still here\n", &out);

        h_assert(n >= 0 && strcmp(out, "still here\n") == 0, "after a failed exec the good service returned \"%s\" (%zd)",
                 out, n);
        free(out);
}

/* superd's log has a line naming SERVICE and the handler PATH that shows the failure (the exec error or exit 127). */
static void expect_logged(const char *service, const char *path)
{
        int64_t deadline = h_now_ms() + 2000;
        bool found = false;

        if (access("/run/systemd/journal/socket", W_OK) == 0) {
                cr_log_warn("journald present: superd logs to the journal, superd.log not checked");
                return;
        }
        while (!found && h_now_ms() < deadline) {
                char *log = h_log();

                for (char *p = log; p && *p && !found;) {
                        char *nl = strchr(p, '\n');

                        if (nl)
                                *nl = '\0';
                        found = strstr(p, service) && strstr(p, path) &&
                                (strstr(p, "127") || strstr(p, "exec") || strstr(p, "Exec") || strstr(p, "No such") ||
                                 strstr(p, "format error"));
                        p = nl ? nl + 1 : NULL;
                }
                free(log);
                if (!found)
                        usleep(20000);
        }
        h_assert(found, "superd's log has no line naming service %s and %s with the reason the exec failed", service,
                 path);
}

static void run_case(const char *name, const char *rel)
{
        uint16_t bad = h_free_port(), good = h_free_port();
        char *path = h_path(rel);

        start_pair(name, rel, bad, good);
        expect_closed(bad, 1);
        expect_serving(good);
        expect_closed(bad, 2);
        expect_serving(good);
        h_assert(h_alive(H.pid), "superd died after a failed exec");
        h_assert(h_wait_no_zombies(H.pid, H_REAP_MS) == 0, "failed handlers left zombies");
        expect_logged(name, path);
        free(path);
}

Test(exec_failure, missing_interpreter)
{
        h_write_file("no-interpreter", 0755, "#!/nonexistent/interpreter\necho never\n");
        run_case("no-interp", "no-interpreter");
}

Test(exec_failure, not_an_executable_format)
{
        h_write_file("garbage", 0755, "\x7f\x01\x02 this is not an executable format\n");
        run_case("garbage", "garbage");
}

#define BURST 64

/*
 * BURST connections at once to a handler whose execve fails: superd starts
 * them back to back, many still starting while the next is cloned. Each
 * failure must be reported once, none lost and none twice, every client
 * closed, no child left, and the service beside it unaffected.
 */
Test(exec_failure, burst_failures_all_counted_and_logged_once)
{
        uint16_t bad = h_free_port(), good = h_free_port();
        char *path = h_path("no-interpreter"), *needle = h_format("handler %s failed: execve:", path);
        int fds[BURST], logged;

        h_write_file("no-interpreter", 0755, "#!/nonexistent/interpreter\necho never\n");
        start_pair("burst", "no-interpreter", bad, good);
        for (int i = 0; i < BURST; i++) {
                fds[i] = h_connect(AF_INET, bad);
                h_assert(fds[i] >= 0, "connect %d: %s", i, strerror(-fds[i]));
        }
        for (int i = 0; i < BURST; i++) {
                char *out;
                ssize_t n = h_read_all(fds[i], &out, H_IO_MS);

                close(fds[i]);
                h_assert(n != -ETIMEDOUT, "connection %d to the broken service stayed open %d ms", i, H_IO_MS);
                h_assert(n <= 0, "connection %d to the broken service returned %zd bytes", i, n);
                free(out);
        }
        expect_serving(good);
        h_assert(h_wait_no_zombies(H.pid, H_REAP_MS) == 0, "failed handlers left zombies");
        h_assert(h_wait_no_children(H.pid, H_REAP_MS) == 0, "failed handlers still run");

        /*
         * All are reaped. A client can cause failures at will, so the log
         * has the first one and counts the rest (a summary 10 s later, see
         * limits::exit_and_refusal_floods_give_one_line_then_a_summary);
         * the counters below have every one.
         */
        h_assert(h_wait_log(needle, 1, 2000), "no line \"%s\"", needle);
        logged = h_wait_log(needle, 2, 0) ? 2 : 1;
        h_assert(logged == 1, "more than one failure line within 10 s for %d connections", BURST);
        h_assert(kill(H.pid, SIGUSR1) == 0, "kill: %s", strerror(errno));
        h_assert(h_wait_log("burst: listeners 1 (paused 0), running 0, accepted 64, failed 64,", 1, 2000),
                 "SIGUSR1 does not count 64 accepted and 64 failed:\n%s", h_log_tail(5));
        h_assert(h_alive(H.pid), "superd died");
        free(needle);
        free(path);
}
